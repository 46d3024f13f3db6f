"""Errors of the filter language: usage errors (exit 2) that can point at the filter text."""

from __future__ import annotations

from kubectl_dra.errors import UsageError


class FilterError(UsageError):
    """A filter that cannot be used; ``column`` (0-based offset into ``text``) marks where, if known."""

    def __init__(self, message: str, text: str = "", column: int | None = None, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.text = text
        self.column = column

    def caret_lines(self) -> list[str]:
        """The filter and a caret under ``column``, as the CLI prints them after ``error: <message>``::

            | memory>=
            |         ^
        """
        if self.column is None:
            return []
        # control characters (tabs, newlines) would move the caret: show each as one space
        shown = "".join(" " if (c < " " or c == "\x7f") else c for c in self.text)
        column = max(0, min(self.column, len(shown)))
        return [f"  | {shown}", f"  | {' ' * column}^"]

    def detail_lines(self) -> list[str]:
        return self.caret_lines()

    def render(self) -> str:
        """``error: …``, the caret lines and ``hint: …`` as one block of text."""
        lines = [f"error: {self.message}", *self.caret_lines()]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.text, self.column, self.hint))


def _rebuild(cls, message, text, column, hint):
    return cls(message, text, column, hint=hint)


class FilterSyntaxError(FilterError):
    """The filter does not parse."""


class FilterNameError(FilterError):
    """An attribute or capacity name that no device publishes, or that is not a valid name."""


class FilterTypeError(FilterError):
    """An operator or a value that does not fit the attribute's type (``memory>=fast``, ``mig>1``)."""
