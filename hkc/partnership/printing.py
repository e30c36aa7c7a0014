"""How a pack prints: A4 landscape, the protective marking and page numbers on every page, condensed text.

Both packs' templates print through CSS paged media: ``@page { size: A4 landscape }`` and the page's
margin boxes (``@top-center``, ``@bottom-right`` …) carry the marking and "Page n of N" on every
page.  Browsers built on Chromium 131 or later (Chrome, Edge) print margin boxes, whatever their
"Headers and footers" option says; a browser without them prints the pages without the running
marking, so the first page's heading carries it too.  Text that goes into a margin box is a CSS
string: :func:`css_string` writes every character outside a safe set as a CSS escape, so no setting
can end the string or the style sheet.
"""

from __future__ import annotations

from hkc.definitions import OutputSettings

__all__ = ["css_string", "print_facts"]

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,:;()/")


def css_string(text: str) -> str:
    """``text`` as a double-quoted CSS string, every character outside letters, digits and plain
    punctuation escaped (``\\2014 `` for an em dash), so it can neither end the string nor the sheet."""
    return '"' + "".join(ch if ch in _SAFE else f"\\{ord(ch):x} " for ch in str(text)) + '"'


def print_facts(outputs: OutputSettings | None, *, footer: str) -> dict:
    """What the templates need to print: the marking (as text and as a CSS string), the footer's
    words, and how much of the long columns and lists a printed page shows.

    ``outputs``: the ``[outputs]`` settings (None: the defaults).
    """
    outputs = outputs or OutputSettings()
    return {"marking": outputs.protective_marking, "marking_css": css_string(outputs.protective_marking),
            "footer_css": css_string(footer), "print_drivers": outputs.print_drivers,
            "print_cap": outputs.print_periphery}
