"""Scanning expression text outside its string literals: one rule for CEL selectors and JSONPath templates."""

from __future__ import annotations

from collections.abc import Iterator


def unquoted(text: str, start: int = 0, opens: str = "([{", closes: str = ")]}") -> Iterator[tuple[int, str, int]]:
    """``(index, char, depth)`` for every character of ``text`` from ``start`` that is outside a
    '…' or "…" literal (backslash escapes inside); the quotes themselves are not yielded.
    ``depth`` counts the brackets of ``opens``/``closes`` open at that character: an opening one
    is yielded at the depth outside it, a closing one at the depth after it (so the bracket that
    balances the first one is the first closing character at depth 0)."""
    depth, quote, i, n = 0, "", start, len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        else:
            if c in closes:
                depth -= 1
            yield i, c, depth
            if c in opens:
                depth += 1
        i += 1


def closing(text: str, open_at: int) -> int:
    """Index of the bracket that closes the one at ``open_at`` (outside literals), -1 if none."""
    opener = text[open_at]
    closer = {"(": ")", "[": "]", "{": "}"}[opener]
    for i, c, depth in unquoted(text, open_at, opener, closer):
        if c == closer and depth == 0:
            return i
    return -1


def split_top(text: str, sep: str) -> list[str]:
    """``text`` split at every ``sep`` outside string literals (brackets are not counted)."""
    parts, start = [], 0
    for i, c, _ in unquoted(text, 0, "", ""):
        if c == sep:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts
