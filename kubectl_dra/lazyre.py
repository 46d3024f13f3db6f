"""Regular expressions compiled when first used, not when their module is imported.

Each new process compiles every module-level ``re.compile`` of every module it imports (~0.1-0.3 ms
each): a command that never uses a pattern should not pay for it. ``Pattern`` defers the compile to
the first call and then keeps the compiled pattern::

    _IDENT = Pattern(r"[A-Za-z_][A-Za-z0-9_]*\\Z")
    _IDENT.match(text)
"""

from __future__ import annotations

import re
from typing import Any


class Pattern:
    """``re.compile(pattern, flags)`` on first use; every attribute is the compiled pattern's."""

    __slots__ = ("_pattern", "_flags", "_compiled")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._pattern, self._flags = pattern, flags
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self._pattern, self._flags)
        return self._compiled

    def __getattr__(self, name: str) -> Any:  # match, search, finditer, sub, pattern, ...
        return getattr(self.compiled(), name)

    def __repr__(self) -> str:
        return f"Pattern({self._pattern!r})"
