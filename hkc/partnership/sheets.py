"""Workbook sheets that read well on screen and on paper: widths that fit, wrapped headers, the marking on every page.

Both packs' workbooks (the police ``cohort.xlsx`` and every partner ``cohort.xlsx``) lay their sheets
out with these two functions, so a new column — an editable decision column, say — gets a width and
wrapping without any list of widths to update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

__all__ = ["fit_columns", "print_marking", "NARROW", "WIDE", "MAX_WIDTH"]

NARROW, WIDE, MAX_WIDTH = 6, 60, 36  # the narrowest column, a wrapped text column, the widest unwrapped one


def _width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, float):
        return len(f"{value:,.1f}")
    return max((len(line) for line in str(value).splitlines()), default=0)


def fit_columns(ws, headers: Sequence[str], rows: Sequence[Sequence[Any]], *, wide: set[int] = frozenset()) -> None:
    """Set each column's width to fit its content and its header's longest word (headers wrap), at most
    :data:`MAX_WIDTH`; the ``wide`` columns (1-based) wrap their text and are at most :data:`WIDE` wide."""
    for idx, header in enumerate(headers, start=1):
        longest_word = max((len(w) for w in str(header).split()), default=0)
        content = max((_width(row[idx - 1]) for row in rows if idx - 1 < len(row)), default=0)
        width = max(NARROW, longest_word, min(WIDE if idx in wide else MAX_WIDTH, content))
        ws.column_dimensions[get_column_letter(idx)].width = width + 2
        head = ws.cell(row=1, column=idx)
        head.alignment = Alignment(wrap_text=True, vertical="top")
        head.font = Font(bold=True)
        if idx in wide:
            for r in range(2, len(rows) + 2):
                ws.cell(row=r, column=idx).alignment = Alignment(wrap_text=True, vertical="top")


def print_marking(ws, marking: str) -> None:
    """A4 landscape, fit to the page's width, the header row on every page, and the protective marking
    at the top and bottom of every printed page with "Page n of N"."""
    text = marking.replace("&", "&&")  # '&' starts a header code in a spreadsheet's page header
    ws.oddHeader.center.text = text
    ws.oddHeader.center.size = 10
    ws.oddFooter.center.text = text
    ws.oddFooter.right.text = "Page &P of &N"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
