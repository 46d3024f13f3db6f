"""A kubectl-style column printer: fast enough for 40,000 rows (rich tables cost ~1 ms a row)."""

from __future__ import annotations

from typing import Callable, Sequence

ANSI = {
    "green": "\x1b[32m",
    "yellow": "\x1b[33m",
    "cyan": "\x1b[36m",
    "red": "\x1b[31m",
    "magenta": "\x1b[35m",
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
}
RESET = "\x1b[0m"


def strip_controls(text: str) -> str:
    """Remove control characters (ANSI escapes included) from data before it reaches a terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def width(text: str) -> int:
    """Terminal columns ``text`` takes: CJK and most emoji take two, combining marks and zero-width
    characters none (``len`` would misalign every column after such a cell)."""
    if text.isascii():
        return len(text)
    import unicodedata

    n = 0
    for ch in text:
        if unicodedata.combining(ch) or ch in _ZERO_WIDTH:
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\ufe0e\ufe0f")


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    color: bool = False,
    style: Callable[[int, str], str | None] | None = None,
    no_headers: bool = False,
) -> str:
    """Columns separated by three spaces, like ``kubectl get``; the last column is not padded.

    ``style(column, cell)`` may name an ANSI style for a cell; it is applied only with ``color``.
    """
    all_rows = rows if no_headers else [list(headers), *rows]
    if not all_rows:
        return ""
    ncols = len(headers)
    widths = [0] * ncols
    wide = False  # a cell whose width is not its length (CJK, emoji, combining marks)
    for row in all_rows:
        for i, cell in enumerate(row):
            if cell.isascii():
                n = len(cell)
            else:
                n = width(cell)
                wide = wide or n != len(cell)
            if n > widths[i]:
                widths[i] = n
    last = ncols - 1
    lines = []
    if (color and style is not None) or wide:
        for r, row in enumerate(all_rows):
            parts = []
            for i, cell in enumerate(row):
                pad = "" if i == last else " " * (widths[i] - width(cell) + 3)
                name = (style(i, cell) if (r or no_headers) else "bold") if color and style is not None else None
                parts.append(f"{ANSI[name]}{cell}{RESET}{pad}" if name else cell + pad)
            lines.append("".join(parts).rstrip())
    else:
        fmt = "   ".join(f"{{:<{w}}}" for w in widths[:last]) + ("   {}" if ncols > 1 else "{}")
        for row in all_rows:
            lines.append(fmt.format(*row).rstrip())
    return "\n".join(lines) + "\n"
