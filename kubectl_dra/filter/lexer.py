"""Tokens of the filter language, each with its start/end offsets into the text."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import FilterSyntaxError

WORD = "word"  # a name, a keyword (and/or/not/in) or an unquoted value
STRING = "string"  # a quoted value, unescaped
OP = "op"  # = == != > >= < <= ~
LPAREN = "("
RPAREN = ")"
COMMA = ","
EOF = "eof"

KEYWORDS = frozenset({"and", "or", "not", "in"})
_OPERATORS = ("==", "!=", ">=", "<=", "=", ">", "<", "~")
_SPECIAL = frozenset("()=!<>~,\"'&|")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: str
    start: int
    end: int

    def keyword(self) -> str | None:
        """``and``/``or``/``not``/``in`` (case-insensitive) for an unquoted word, else None."""
        if self.kind == WORD:
            low = self.value.lower()
            if low in KEYWORDS:
                return low
        return None

    def describe(self) -> str:
        if self.kind == EOF:
            return "the end of the filter"
        if self.kind == STRING:
            return "a quoted value"
        return repr(self.value)


def quote(value: str) -> str:
    """``value`` as one filter value that :func:`tokenize` reads back exactly: as is when it is one
    plain word, else double-quoted with ``\\`` and ``"`` escaped (any text, both quotes included)."""
    import re

    if value and re.fullmatch(r"[A-Za-z0-9_.:/+\-]+", value) and value.lower() not in KEYWORDS:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``eof`` token; raise FilterSyntaxError on bad input."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "(":
            tokens.append(Token(LPAREN, c, i, i + 1))
            i += 1
        elif c == ")":
            tokens.append(Token(RPAREN, c, i, i + 1))
            i += 1
        elif c == ",":
            tokens.append(Token(COMMA, c, i, i + 1))
            i += 1
        elif c in "\"'":
            j, chars = i + 1, []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                chars.append(text[j])
                j += 1
            if j >= n:
                raise FilterSyntaxError(f"unterminated quoted value (missing closing {c})", text, i)
            tokens.append(Token(STRING, "".join(chars), i, j + 1))
            i = j + 1
        elif c in "=!<>~":
            for op in _OPERATORS:
                if text.startswith(op, i):
                    tokens.append(Token(OP, "=" if op == "==" else op, i, i + len(op)))
                    i += len(op)
                    break
            else:  # a lone "!"
                raise FilterSyntaxError("unexpected '!' in filter", text, i, hint="use '!=' or 'not'")
        elif c in "&|":
            word = "and" if c == "&" else "or"
            raise FilterSyntaxError(f"unexpected {c!r} in filter", text, i, hint=f"use '{word}'")
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in _SPECIAL:
                j += 1
            tokens.append(Token(WORD, text[i:j], i, j))
            i = j
    tokens.append(Token(EOF, "", n, n))
    return tokens
