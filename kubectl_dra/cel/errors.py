"""CEL failures, and the engine's error messages in Kubernetes' (cel-go's) words."""

from __future__ import annotations

import re

from kubectl_dra.errors import DraError, UsageError
from kubectl_dra.lazyre import Pattern as _Pattern


class CelError(DraError):
    """Base of CEL failures."""


class CelCompileError(CelError, UsageError):
    """The expression does not compile (syntax, type, unknown field, too long)."""


class CelRuntimeError(CelError):
    """The expression failed for one device (missing key, no such overload, …)."""




_NOT_FOUND_RE = _Pattern(r'Key not found in map\s*:\s*"?(.*?)"?\s*$', re.DOTALL)
STATUS_RE = _Pattern(r"^[A-Z_]+: ")
_NO_OVERLOAD_RE = _Pattern(r"^No matching overloads found\s*:?\s*", re.IGNORECASE)


def error_text(message: str) -> str:
    """The engine's error message in Kubernetes (cel-go) words."""
    msg = STATUS_RE.sub("", str(message), count=1)
    m = _NOT_FOUND_RE.search(msg)
    if m:
        return f"no such key: {m.group(1)}"
    if _NO_OVERLOAD_RE.match(msg):
        detail = _NO_OVERLOAD_RE.sub("", msg)
        return f"no such overload: {detail}" if detail else "no such overload"
    return msg


def missing_key(message: str) -> str | None:
    """The key of a map-miss error message, else None."""
    m = _NOT_FOUND_RE.search(str(message))
    return m.group(1) if m else None


def cel_type_name(name: str) -> str:
    """cel-cpp type names (``MAP<STRING, INT>``) as cel-go prints them (``map(string, int)``)."""
    s = name.lower().replace("<", "(").replace(">", ")")
    return re.sub(r"\bnull\b", "null_type", s)
