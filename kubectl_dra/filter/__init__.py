"""The device filter language of ``kubectl dra``: ``memory>=40Gi mig=false``, ``product~h100 arch=Hopper``.

    >>> f = compile("memory>=40Gi")
    >>> f.to_cel()
    '"memory" in device.capacity[device.driver] && device.capacity[device.driver].memory.compareTo(quantity("40Gi")) >= 0'

``compile(text, schema)`` parses and resolves at once, so every usage error (syntax, unknown name,
wrong type) is raised there as a ``FilterError`` (a ``UsageError``, exit code 2).
See ``to_cel.ALIASES`` for the aliases and ``docs`` in the module docstrings for the typing rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from dataclasses import dataclass, field

from . import ast
from .errors import FilterError, FilterNameError, FilterSyntaxError, FilterTypeError
from .evaluate import matcher as _matcher
from .parser import parse
from .schema import Schema
from .to_cel import ALIASES, MAX_CEL_LENGTH, Resolved, resolve, to_cel

def __getattr__(name: str) -> Any:
    """``ClassFacts`` and ``class_facts`` are imported when first used (only `claim` needs them)."""
    if name in ("ClassFacts", "class_facts"):
        from . import classfacts

        return getattr(classfacts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALIASES",
    "ClassFacts",
    "class_facts",
    "Filter",
    "FilterError",
    "FilterNameError",
    "FilterSyntaxError",
    "FilterTypeError",
    "Schema",
    "compile",
    "parse",
]


@dataclass(frozen=True)
class Filter:
    source: str
    ast: ast.Node
    schema: Schema | None = field(default=None, repr=False, compare=False)
    resolved: Resolved = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    cel: str = field(default="", repr=False, compare=False)
    _matcher: Any = field(default=None, repr=False, compare=False)

    def to_cel(self) -> str:
        """The CEL selector expression (at most 10 Ki characters; never a runtime error)."""
        return self.cel

    def matches(self, device) -> bool:
        """Whether ``device`` (a model Device) matches, with the same meaning as the CEL."""
        return self.predicate()(device)

    def predicate(self):
        """``matches`` as a plain function of a device (for a loop over many devices)."""
        if self._matcher is None:
            object.__setattr__(self, "_matcher", _matcher(self.resolved))  # built once per filter
        return self._matcher

    def to_cel_for(self, facts) -> str | None:
        """The selector for a claim whose DeviceClass guarantees ``facts`` (a ClassFacts, see
        ``class_facts``): other drivers' branches and what the class already tests are left out.
        "" when the class alone implies the filter (no selector needed); None when no device the
        class admits can match."""
        from .to_cel import specialize

        node = specialize(self.resolved, facts.drivers, facts.equal, facts.mig)
        if node is True:
            return ""
        if node is False:
            return None
        return to_cel(node)

    def select(self, devices: Iterable) -> list:
        return [d for d in devices if self.matches(d)]


def compile(text: str, schema: Schema | None = None) -> Filter:
    """Parse, resolve and translate ``text``; raise FilterError (a UsageError) if it cannot be used."""
    tree = parse(text)
    resolved = resolve(tree, text, schema)
    try:
        cel = to_cel(resolved)
    except FilterError as err:  # a value that CEL cannot hold
        raise FilterError(err.message, text, None) from None
    if len(cel) > MAX_CEL_LENGTH:
        raise FilterError(
            f"the filter compiles to {len(cel)} characters of CEL, over the API's limit of {MAX_CEL_LENGTH}",
            text, None, hint="shorten the filter, or qualify names (domain/name) so fewer drivers are tried")
    return Filter(text, tree, schema, resolved, cel)
