"""Plain-text tables for the terminal, aligned by display width (CJK characters take two columns)."""

from __future__ import annotations

import unicodedata


def display_width(text: str) -> int:
    """Terminal columns of ``text``: wide (CJK) characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def format_table(rows: list[tuple[str, ...]] | list[list[str]], align: str | None = None) -> str:
    """``rows[0]`` as a header over a rule, then the other rows, columns two spaces apart.

    ``align``: one character per column, ``<`` (left, the default) or ``>`` (right, for numbers).
    """
    align = align or "<" * len(rows[0])
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]))]

    def cell(text: str, width: int, side: str) -> str:
        pad = " " * (width - display_width(text))
        return pad + text if side == ">" else text + pad

    lines = ["  ".join(cell(text, w, side) for text, w, side in zip(row, widths, align)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
