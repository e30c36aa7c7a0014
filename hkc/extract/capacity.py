"""Will a refresh fit in this machine's memory?  Checked before any work is done.

A refresh holds the extract and its scores in memory (Arrow strings, categorical codes, integer
person indexes), so its peak memory grows linearly with the rows it is given.  Measured with
``python -m benchmarks.refresh --sizes 100000,1000000,3000000`` (see the README's performance
section), the peak is close to ``BASE + PER_PERSON × people + PER_EVENT × events``; the check adds
a margin and compares that with the memory actually available (``MemAvailable``, or the
container's cgroup limit if lower).  A refresh that will not fit stops at once, saying how much
it needs — instead of being killed by the operating system half way through.

Row counts come from Parquet metadata (exact, instant) or, for CSV, from the file size divided by
the mean length of its first lines (an estimate; it errs on the generous side for long files).

``HKC_MEMORY_LIMIT`` (e.g. ``8G``, ``512M``) sets the memory the check assumes is available: use it
to keep hkc within a share of a shared server, or to test the check.

>>> need = memory_needed(people=1_000_000, events=10_000_000)
>>> 3 * GB < need < 8 * GB
True
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from hkc.errors import HkcError
from hkc.extract.readers import find_files

__all__ = ["CapacityError", "Capacity", "check_capacity", "memory_needed", "available_memory", "extract_rows",
           "GB"]

GB = 1024 ** 3
MB = 1024 ** 2
# Fitted to the peak RSS of ``python -m benchmarks.refresh --sizes 100000,1000000,3000000`` (model
# off; 8.55 events per person): 665 MB, 3,635 MB and 10,691 MB, i.e. about 320 MB plus 3.46 KB per
# person with their events.  The split between a person and an event is the loaded size of each
# (an event row and its share of the scored evidence is most of it).  The margin covers extracts
# with other shapes and the model stage.
BASE = 400 * MB
PER_PERSON = 600  # bytes
PER_EVENT = 330  # bytes
MARGIN = 1.2
SAMPLE_BYTES = 1 * MB

NOT_ENOUGH = ("not enough memory for this extract: {people:,} people and {events:,} events{estimated} need about "
              "{need:.1f} GB, and {where} has {available:.1f} GB available; run it on a machine with at least "
              "{need:.0f} GB free, or refresh each area's extract separately (README: 'Beyond one machine')")


class CapacityError(HkcError):
    """The refresh would not fit in memory; nothing was read or written."""

    exit_code = 3


@dataclass(frozen=True)
class Capacity:
    people: int
    events: int
    estimated: bool  # True when a CSV's rows were estimated from its size
    needed: int  # bytes
    available: int | None  # bytes; None when the platform does not say
    source: str  # where ``available`` came from

    def describe(self) -> str:
        have = "unknown" if self.available is None else f"{self.available / GB:.1f} GB available ({self.source})"
        return f"memory: about {self.needed / GB:.1f} GB needed for {self.people:,} people and " \
               f"{self.events:,} events; {have}"


def memory_needed(*, people: int, events: int) -> int:
    """Bytes a refresh of this many rows needs at its peak, with the safety margin."""
    return int(MARGIN * (BASE + PER_PERSON * people + PER_EVENT * events))


def _parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, flags=re.IGNORECASE)
    if not match:
        raise HkcError(f"HKC_MEMORY_LIMIT={text!r} is not a size; write e.g. 8G, 512M or a number of bytes")
    scale = {"": 1, "K": 1024, "M": MB, "G": GB, "T": 1024 * GB}[match.group(2).upper()]
    return int(float(match.group(1)) * scale)


def _cgroup_free() -> int | None:
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        return max(0, int(limit) - used)
    except (OSError, ValueError):
        return None


def available_memory() -> tuple[int | None, str]:
    """(bytes available, where that figure came from)."""
    override = os.environ.get("HKC_MEMORY_LIMIT")
    if override:
        return _parse_size(override), "HKC_MEMORY_LIMIT"
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    cgroup = _cgroup_free()
    if cgroup is not None and (free is None or cgroup < free):
        return cgroup, "container limit"
    return free, "MemAvailable"


def _rows(path: Path) -> tuple[int, bool]:
    if path.suffix == ".parquet":
        try:
            return pq.ParquetFile(path).metadata.num_rows, False
        except Exception:  # noqa: BLE001 - an unreadable file is reported by the loader, with its reason
            return 0, True
    size = path.stat().st_size
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    lines = sample.count(b"\n") or sample.count(b"\r")  # old Mac line ends: CR only
    if size <= len(sample) or lines < 2:
        return max(0, lines - 1), False
    return int(size / (len(sample) / lines)), True


def extract_rows(data_dir: str | Path) -> tuple[int, int, bool]:
    """(people rows, event rows, whether any count is an estimate) without reading the extract."""
    files = find_files(Path(data_dir))
    people, p_est = _rows(files["people"])
    events, e_est = _rows(files["events"])
    return people, events, p_est or e_est


def check_capacity(data_dir: str | Path) -> Capacity:
    """Raise :class:`CapacityError` if a refresh of ``data_dir`` would not fit in memory."""
    people, events, estimated = extract_rows(data_dir)
    needed = memory_needed(people=people, events=events)
    available, source = available_memory()
    capacity = Capacity(people=people, events=events, estimated=estimated, needed=needed, available=available,
                        source=source)
    if available is not None and needed > available:
        where = "HKC_MEMORY_LIMIT" if source == "HKC_MEMORY_LIMIT" else \
            "this container" if source == "container limit" else "this machine"
        raise CapacityError(NOT_ENOUGH.format(people=people, events=events, need=needed / GB, where=where,
                                              available=available / GB,
                                              estimated=" (estimated from the CSV sizes)" if estimated else ""))
    return capacity
