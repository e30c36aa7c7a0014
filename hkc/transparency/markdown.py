"""Markdown for hkc's records: escaped text, tables, bullets, and numbers with their intervals."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from hkc.audit import format_percent, is_number

__all__ = ['markdown_text', 'table', 'bullets', 'paragraph', 'heading', 'yes_no', 'count_text', 'rate_text',
           'ratio_text']


# Always escaped; `_` only at a word's edge (CommonMark never reads `knife_violence` as emphasis).
_SPECIAL = re.compile(r"([\\`*\[\]{}|~$!#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_ENTITY = re.compile(r"&(?=#?\w+;)")  # an `&` that would start an entity such as &lt; or &#124;


def markdown_text(value: Any) -> str:
    """``value`` as inline Markdown that renders exactly as written, on one line.

    Line breaks become spaces and control characters are dropped; ``<`` and ``>`` (and an ``&`` that
    would start an entity) become entities, so no HTML, script or autolink gets through; Markdown
    punctuation is backslash-escaped, including ``|`` so a value cannot split a table cell and ``*``
    so ``Black*M`` stays as written; a leading ``-``, ``+`` or ``1.`` cannot start a list.

    >>> markdown_text("A|B <b>*x*</b>")
    'A\\\\|B &lt;b&gt;\\\\*x\\\\*&lt;/b&gt;'
    """
    text = _CONTROL.sub("", " ".join(str(value).split()))
    text = _ENTITY.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    text = _SPECIAL.sub(r"\\\1", text)
    text = re.sub(r"^([-+=])", r"\\\1", text)
    return re.sub(r"^(\d{1,9})([.)])(?=\s|$)", r"\1\\\2", text)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(markdown_text(h) for h in headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(markdown_text(c) for c in row) + " |" for row in rows]
    return lines + [""]


def bullets(items: Iterable[str]) -> list[str]:
    return [f"- {markdown_text(item)}" for item in items] + [""]


def paragraph(text: str) -> list[str]:
    return [markdown_text(text), ""]


def heading(level: int, text: str) -> list[str]:
    return ["#" * level + " " + markdown_text(text), ""]


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def count_text(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def rate_text(value: Any, ci: Any, confidence: float) -> str:
    if not is_number(value):
        return "undefined" if value is None else str(value)
    if isinstance(ci, list | tuple) and len(ci) == 2 and all(is_number(v) for v in ci):
        return f"{format_percent(value)} ({round(100 * confidence):g}% CI {format_percent(ci[0])}–{format_percent(ci[1])})"
    return format_percent(value)


def ratio_text(value: Any, ci: Any, confidence: float) -> str:
    if not is_number(value):
        return "undefined" if value is None else str(value)
    if isinstance(ci, list | tuple) and len(ci) == 2 and all(is_number(v) for v in ci):
        return f"{value:.2f} ({round(100 * confidence):g}% CI {ci[0]:.2f}–{ci[1]:.2f})"
    return f"{value:.2f}"
