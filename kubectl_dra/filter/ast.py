"""The filter's syntax tree: frozen dataclasses with start/end offsets into the filter text."""

from __future__ import annotations

from dataclasses import dataclass

#: comparison operators as they are kept in the tree (``==`` is stored as ``=``)
OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "~", "in")


@dataclass(frozen=True, slots=True)
class Name:
    """An attribute name as written: bare (``memory``), an alias (``arch``) or qualified (``domain/id``)."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Value:
    """A literal as written, untyped; ``quoted`` if it came in quotes (then ``text`` is unescaped)."""

    text: str
    quoted: bool
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Compare:
    """``name op value`` or ``name in (v1, v2, …)`` (``values`` holds one value except for ``in``)."""

    name: Name
    op: str
    values: tuple[Value, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Flag:
    """A bare name used as a term (``mig``): the same as ``name=true``."""

    name: Name
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]
    start: int
    end: int


Node = Compare | Flag | Not | And | Or
