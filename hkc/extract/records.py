"""The file's own count of its records, from its bytes, independent of the CSV parser.

A CSV parser that meets a stray '"' at the start of a field reads everything up to the next '"'
as one value: hundreds of thousands of rows can vanish into one malformed line, and the parser's
count of what it read still "reconciles".  So the data (the bytes after the header) is counted a
second way, and the parser is held to it by :func:`reconcile`.

:func:`count_lines` is the cheap pass every CSV gets: it counts line ends (a CR LF is one) and
refuses a NUL byte anywhere (``nul_byte``: not text, and the parser can join rows around it).
When the parser returns as many records as there are lines, every record is one line and none
can hide another: that is the whole check for a file without values that span lines.

Otherwise some value spans lines, and :func:`scan_records`, the exact pass, follows the quoting as
the parser's reading rule does (a '"' opens a quoted value only at the start of a field; inside
one, '""' is a '"' and a lone '"' closes it; any other '"' is an ordinary character), vectorised
with numpy, and refuses, naming the file and the line (first found in this order):

- ``stray_quote``: a quoted value holds a line break and its closing '"' is followed by more text
  instead of a delimiter or a line end: the mark of a '"' that swallowed whole rows;
- ``unclosed_quote``: a '"' opens a value that is never closed (the rest of the file is one value);
- ``ambiguous_quotes``: a quoted value holds a line break, and somewhere in the file a '"' neither
  opens nor closes a value (``O"Brien`` unquoted, or text after a closing '"').  In a file written
  by the rules (RFC 4180) every '"' opens, closes or is doubled, so a single stray '"' always leaves
  one of these behind; without values that span lines no row can be swallowed, so such a '"' is
  then read as the character it is.

Then a malformed line that spans lines (``merged_lines``: rows inside it would be lost), or a count
of records that differs from the exact pass's (``uncounted_rows``, naming the first line where the
two part), refuses the file.  A quoted value that spans lines, opened and closed by the rules, is a
legitimate value and passes.

Cost at 1,000,000 people (629 MB of events): the cheap pass about 0.5 s; the exact pass, needed
only when values span lines, about 0.7 s without quotes and 5 s of CPU with every field quoted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from hkc.extract.raw import file_error

__all__ = ["Layout", "count_lines", "scan_records", "file_blocks", "reconcile", "SCAN_BLOCK"]

SCAN_BLOCK = 1 << 24  # bytes read at a time by the pass
_LF, _CR, _QUOTE, _COMMA = 10, 13, 34, 44
_AFTER_CLOSE = np.array([_COMMA, _LF, _CR], dtype=np.uint8)  # what may follow a closing '"'
_BESIDE_QUOTE = np.zeros(256, dtype=bool)  # what may come before an opening '"' or after a closing one
_BESIDE_QUOTE[[_COMMA, _LF, _CR, _QUOTE]] = True


class Layout(NamedTuple):
    """What the pass found: ``records`` in the data, whether it holds a '"' at all (``quoted``),
    and (when asked for) the line where each record starts (``starts``)."""

    records: int
    quoted: bool
    starts: np.ndarray | None = None


@dataclass
class _State:
    """Where the pass is: the state carried from one block to the next."""

    line: int  # line number at which the next block starts
    inside: bool = False  # inside a quoted value
    prev: int = _LF  # the byte before the next block (the data starts like a line)
    records: int = 0
    quoted: bool = False
    open_line: int = 0  # line of the '"' that opened the value still open
    open_multi: bool = False  # the open value already holds a line end
    starts: list[np.ndarray] | None = None
    seen: bool = False  # any data at all
    literal_line: int = 0  # line of the first '"' read as an ordinary character
    nul_line: int = 0  # line of the first NUL byte
    stray: tuple[int, int] | None = None  # first and last line of the first value closed with text after it
    multi_line: int = 0  # line where the first quoted value holding a line end opens


def file_blocks(path: Path, offset: int, *, size: int | None = None) -> Iterator[bytes]:
    """The bytes of ``path`` from ``offset`` on, in blocks of ``size`` (default :data:`SCAN_BLOCK`)."""
    size = size or SCAN_BLOCK
    with path.open("rb") as fh:
        fh.seek(offset)
        yield from iter(lambda: fh.read(size), b"")


def scan_records(blocks: Iterable[bytes], *, file: str, first_line: int, complete: bool = True,
                 starts: bool = False) -> Layout:
    """Count the records of CSV data by following its quoting, refusing quoting that can swallow lines.

    Parameters
    ----------
    blocks : the data after the header, in any number of pieces.
    file : the file name, for messages.
    first_line : the line number of the first data line (the header's lines + 1).
    complete : False for a sample cut at a line end: a value still open at its end is not refused.
    starts : also return the line where each record starts (for naming where a parser went wrong).

    Raises
    ------
    ExtractError
        ``nul_byte``, ``stray_quote``, ``unclosed_quote`` or ``ambiguous_quotes``, naming the line.
    """
    state = _State(line=first_line, starts=[] if starts else None)
    tail = b""
    for block in blocks:
        data = tail + block if tail else block
        cut = data.rfind(b"\n") + 1  # blocks end at a line end, so most start outside any value
        if not cut:
            cut = len(data)
            while cut and data[cut - 1] in (_QUOTE, _CR):  # never split a run of '"' or a CR LF
                cut -= 1
        _scan_block(data, cut, state)
        tail = data[cut:]
    _scan_block(tail, len(tail), state)
    _refuse(state, file, complete=complete)
    if complete and state.seen and state.prev not in (_LF, _CR):
        state.records += 1  # a last line without a line end
    found = None
    if state.starts is not None:
        after = np.concatenate([np.array([first_line], dtype=np.int64), *state.starts])
        found = after[:state.records]
    return Layout(state.records, state.quoted, found)


def _refuse(state: _State, file: str, *, complete: bool) -> None:
    """Raise for the first problem the pass found, in this order whatever the blocks were."""
    if state.nul_line:
        raise file_error("nul_byte", file=file, line=state.nul_line)
    if state.stray is not None:
        opened, closed = state.stray
        raise file_error("stray_quote", file=file, line=opened, end=closed, lines=f"{closed - opened + 1:,}")
    if complete and state.inside:
        last = state.line - (state.prev in (_LF, _CR))  # the file's last line
        raise file_error("unclosed_quote", file=file, line=state.open_line, last=last)
    if state.literal_line and state.multi_line:
        raise file_error("ambiguous_quotes", file=file, line=min(state.literal_line, state.multi_line),
                         literal=state.literal_line, multi=state.multi_line)


def _line_ends(a: np.ndarray, has_cr: bool) -> np.ndarray:
    """Positions of line ends: LF, and CR not followed by LF."""
    if not has_cr:
        return np.flatnonzero(a == _LF)
    end = (a == _LF) | (a == _CR)
    end[:-1] &= ~((a[:-1] == _CR) & (a[1:] == _LF))
    return np.flatnonzero(end)


def _scan_block(buf: bytes, n: int, state: _State) -> None:
    """Advance ``state`` over ``buf[:n]`` (which never ends inside a run of '"' or a CR LF)."""
    if not n:
        return
    state.seen = True
    nul = buf.find(b"\0", 0, n)
    has_cr = buf.find(b"\r", 0, n) >= 0
    quote = buf.find(b'"', 0, n) >= 0
    state.quoted |= quote
    a = np.frombuffer(buf, dtype=np.uint8, count=n)
    plain = nul < 0 and not state.inside and state.starts is None
    if plain and not quote:  # the fast path: no '"', so every line end counts
        ends = int(np.count_nonzero(a == _LF))
        if has_cr:
            ends += int(np.count_nonzero(a == _CR) - np.count_nonzero((a[:-1] == _CR) & (a[1:] == _LF)))
    else:
        line_ends = _line_ends(a, has_cr)
        ends = len(line_ends)
        if not (plain and _by_the_rules(a, line_ends, state.prev)):
            _follow_quotes(a, line_ends, state, nul)
            return
    state.records += ends
    state.line += ends
    state.prev = buf[n - 1]


def _by_the_rules(a: np.ndarray, ends: np.ndarray, prev: int) -> bool:
    """Whether every '"' in a block that starts outside a value opens a value at the start of a field
    or closes one before a delimiter or line end, the '"'s pair up, and no value holds a line end.

    Then the n-th '"' opens a value when n is even and closes it when n is odd, every line end is a
    record end, and the block needs nothing more: the common case of a file quoted by the rules,
    checked with a few vectorised steps over the '"'s alone.
    """
    q = np.flatnonzero(a == _QUOTE)
    if len(q) & 1:
        return False
    opens, closes = q[0::2], q[1::2]
    before = a[np.maximum(opens - 1, 0)]
    if opens[0] == 0:
        before[0] = prev
    after = a[np.minimum(closes + 1, len(a) - 1)]
    if closes[-1] == len(a) - 1:
        after[-1] = _LF  # the end of the data
    return bool(_BESIDE_QUOTE[before].all() and _BESIDE_QUOTE[after].all()
                and not (np.searchsorted(q, ends) & 1).any())


def _follow_quotes(a: np.ndarray, ends: np.ndarray, state: _State, nul: int) -> None:
    """The exact pass over a block: each run of '"' as the reading rule takes it."""
    runs = _quote_runs(a, state)
    _stray_quotes(ends, runs, state)
    if nul >= 0 and not state.nul_line:
        state.nul_line = state.line + int(np.searchsorted(ends, nul))
    if len(runs.start):
        last = np.searchsorted(runs.start, ends) - 1  # the last run of '"' before each line end
        outside = ~np.where(last >= 0, runs.inside_after[np.maximum(last, 0)], state.inside)
    else:
        outside = np.full(len(ends), not state.inside)
    state.records += int(outside.sum())
    if state.starts is not None:
        state.starts.append(state.line + 1 + np.flatnonzero(outside))
    literal = np.flatnonzero(runs.literal)
    if len(literal) and not state.literal_line:
        state.literal_line = state.line + int(np.searchsorted(ends, runs.start[literal[0]]))
    _carry_open_value(ends, runs, state)
    state.line += len(ends)
    state.prev = int(a[-1])


class _Runs(NamedTuple):
    """The runs of '"' in a block, in order, as the reading rule takes them."""

    start: np.ndarray  # position of each run's first '"'
    end: np.ndarray  # position after its last
    odd: np.ndarray  # an odd number of '"': opens or closes a value (an even run changes nothing)
    inside_before: np.ndarray  # inside a quoted value before the run
    inside_after: np.ndarray  # and after it
    literal: np.ndarray  # read as an ordinary character, or closing a value with text after it


def _quote_runs(a: np.ndarray, state: _State) -> _Runs:
    """Each run of '"' in the block, and what the reading rule makes of it.

    An odd run at the start of a field toggles the state; any other odd run closes a value that is
    open and is an ordinary character otherwise, so the state after an odd run is the parity of the
    field-start runs since the last other one (vectorised with a running count).  An even run is
    escaped '"'s inside a value, an empty quoted value at the start of a field, or ordinary
    characters elsewhere.
    """
    q = np.flatnonzero(a == _QUOTE)
    first = np.ones(len(q), dtype=bool)
    first[1:] = q[1:] != q[:-1] + 1
    begin = np.flatnonzero(first)
    length = np.diff(np.append(begin, len(q)))
    start = q[begin]
    end = start + length
    odd = (length & 1) == 1
    before = np.where(start > 0, a[np.maximum(start - 1, 0)], state.prev)
    field_start = np.isin(before, _AFTER_CLOSE)
    o = np.flatnonzero(odd)
    toggles = field_start[o]
    index = np.arange(len(o))
    last_other = np.maximum.accumulate(np.where(toggles, -1, index)) if len(o) else index
    opened = np.cumsum(toggles)
    base = np.where(last_other >= 0, opened[np.maximum(last_other, 0)] if len(o) else 0, -int(state.inside))
    odd_after = ((opened - base) & 1) == 1
    prior = np.searchsorted(o, np.arange(len(start))) - 1  # the last odd run before each run
    inside_before = np.where(prior >= 0, odd_after[np.maximum(prior, 0)] if len(o) else False, state.inside)
    inside_after = inside_before.copy()
    inside_after[o] = odd_after
    followed = np.where(end < len(a), a[np.minimum(end, len(a) - 1)], _LF)
    clean_end = np.isin(followed, _AFTER_CLOSE)
    literal = ~inside_before & ~field_start | (~inside_before & field_start & ~odd | inside_before & odd) & ~clean_end
    return _Runs(start, end, odd, inside_before.astype(bool), inside_after.astype(bool), literal)


def _stray_quotes(ends: np.ndarray, runs: _Runs, state: _State) -> None:
    """Note the first quoted value that holds a line end (``state.multi_line``), and the first such
    value whose closing '"' is followed by more text (``state.stray``: its first and last line)."""
    o = np.flatnonzero(runs.odd)
    start, end, after = runs.start[o], runs.end[o], runs.inside_after[o]
    opens = np.flatnonzero(after[:-1]) if len(o) else np.array([], dtype=np.int64)
    closes = opens + 1
    multi = np.searchsorted(ends, start[closes]) > np.searchsorted(ends, end[opens])
    if state.inside and len(o):  # a value open since an earlier block closes here
        multi = np.append(state.open_multi or np.searchsorted(ends, start[0]) > 0, multi)
        opens, closes = np.append(-1, opens), np.append(0, closes)

    def line_of(i: int) -> int:
        return state.open_line if opens[i] < 0 else state.line + int(np.searchsorted(ends, start[opens[i]]))

    if multi.any() and not state.multi_line:
        state.multi_line = line_of(int(np.flatnonzero(multi)[0]))
    bad = np.flatnonzero(multi & runs.literal[o[closes]]) if len(closes) else closes
    if len(bad) and state.stray is None:
        i = int(bad[0])
        state.stray = (line_of(i), state.line + int(np.searchsorted(ends, start[closes[i]])))


def _carry_open_value(ends: np.ndarray, runs: _Runs, state: _State) -> None:
    """Remember a quoted value still open at the end of the block: its line, and whether it holds a line end."""
    o = np.flatnonzero(runs.odd)
    if not len(o):
        state.open_multi |= state.inside and len(ends) > 0
    else:
        state.inside = bool(runs.inside_after[o[-1]])
        if state.inside:
            state.open_line = state.line + int(np.searchsorted(ends, runs.start[o[-1]]))
            state.open_multi = bool(len(ends) and ends[-1] > runs.start[o[-1]])
    if state.inside and state.open_multi and not state.multi_line:
        state.multi_line = state.open_line


def count_lines(blocks: Iterable[bytes], *, file: str, first_line: int, complete: bool = True) -> Layout:
    """The records the data holds if no value spans lines: its line ends, and a last line without
    one.  Refuses a NUL byte (``nul_byte``), naming its line.  Cheap: a few searches and one
    vectorised count per block, whatever the quoting."""
    lines, prev, quoted, seen = 0, _LF, False, False
    for block in blocks:
        if not block:
            continue
        seen = True
        nul = block.find(b"\0")
        if nul >= 0:
            raise file_error("nul_byte", file=file, line=first_line + lines + _count_ends(block, nul, prev))
        lines += _count_ends(block, len(block), prev)
        quoted |= block.find(b'"') >= 0
        prev = block[-1]
    if complete and seen and prev not in (_LF, _CR):
        lines += 1
    return Layout(lines, quoted)


def _count_ends(block: bytes, end: int, prev: int) -> int:
    """Line ends in ``block[:end]``: LFs, and CRs not followed by an LF (``prev`` is the byte before it)."""
    a = np.frombuffer(block, dtype=np.uint8, count=end)
    ends = int(np.count_nonzero(a == _LF))
    if block.find(b"\r", 0, end) >= 0:
        ends += int(np.count_nonzero(a == _CR) - np.count_nonzero((a[:-1] == _CR) & (a[1:] == _LF)))
    if prev == _CR and end and a[0] == _LF:
        ends -= 1  # a CR LF cut between two blocks
    return ends


def reconcile(file: str, physical: Layout, *, complete: bool, parsed: np.ndarray, malformed_rows: np.ndarray,
              malformed_breaks: np.ndarray, expected: int, scan: Callable[..., Layout]) -> None:
    """Hold the parser's records to the file's: refuse merged lines or a count that differs.

    When the parser read as many records as the file has lines, no record spans lines, so none can
    hide another: nothing more is needed.  Otherwise some value spans lines, and the exact pass
    (``scan``, :func:`scan_records` over the same data) decides whether its quoting is sound.

    Parameters
    ----------
    physical : what :func:`count_lines` found.
    complete : False for a sample cut short, whose last record the parser leaves out (its count is
        then not compared; merged lines still are).
    parsed : the start line of every record the parser read, malformed ones included.
    malformed_rows, malformed_breaks : each malformed record's start line and the line breaks inside it.
    expected : the header's number of fields.
    scan : the exact pass; ``scan(starts=True)`` also returns where each record starts.
    """
    merged = np.flatnonzero(malformed_breaks > 0)
    if not len(merged) and (not complete or len(parsed) == physical.records):
        return
    layout = scan()  # raises for a stray or unclosed '"', naming its line
    if len(merged):
        line, breaks = int(malformed_rows[merged[0]]), int(malformed_breaks[merged[0]])
        raise file_error("merged_lines", file=file, line=line, end=line + breaks, lines=f"{breaks + 1:,}",
                         expected=expected)
    if not complete or len(parsed) == layout.records:
        return
    starts = scan(starts=True).starts
    parsed = np.sort(parsed)
    n = min(len(parsed), len(starts))
    differ = np.flatnonzero(parsed[:n] != starts[:n])
    at = int(differ[0]) if len(differ) else n
    lines = [int(x[at]) for x in (parsed, starts) if at < len(x)]
    raise file_error("uncounted_rows", file=file, line=min(lines), parsed=f"{len(parsed):,}",
                     physical=f"{layout.records:,}")
