"""Near misses: devices a threshold in a filter leaves out by a hair, and what the user probably meant.

MIG profile names are rounded decimal GB while drivers publish binary sizes just below them (a
``3g.40gb`` slice has 39.5Gi, a ``1g.10gb`` 9.5Gi), so ``memory>=40Gi`` silently drops every 40gb
slice.  This is the one engine every command asks (``list``, ``claim --check``, ``explain``,
``lint``)::

    misses = near_misses(flt, views)              # views: objects with .device and .state
    for miss in misses: print(miss.message())
    # 6 free devices (3g.40gb, 39.5Gi) are just below memory>=40Gi; did you mean memory>=39Gi?

A *threshold term* is a comparison with ``>``, ``>=``, ``<`` or ``<=`` on a quantity, an int or a
version, written as one of the top-level ANDed terms of the filter (``memory>=40Gi mig`` has one;
``not memory>=40Gi`` and ``memory>=40Gi or mig`` have none).  For each, the candidates are the devices
that pass every *other* term but fail this one.  A candidate is *near* when its value is within
``tolerance`` (5 %) of the threshold (quantities and ints) or has the threshold's major version
(versions: ``cuda>=12.8`` is near 12.6, ``cc>=9.0`` is not near 8.9, another architecture).  When
nothing matches the whole filter (``nothing_matched=True``), the closest candidates are reported
however far they are.  Pure: no printing, no cluster access.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from kubectl_dra.model.quantity import Quantity, QuantityError
from kubectl_dra.model.semver import Version

from . import Filter, ast
from .evaluate import _version, matcher
from .to_cel import AllOf, AnyOf, Resolved, Test

TOLERANCE = Fraction(5, 100)
_ORDER = (">", ">=", "<", "<=")
_UNIT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)([A-Za-z]*)\Z")


@dataclass(frozen=True)
class Group:
    """Devices of one kind among the near misses: a profile or product and the value they publish."""

    label: str  # "3g.40gb" or "NVIDIA A100 80GB PCIe"
    value: str  # "39.5Gi", "12.6.0", "7"
    count: int
    free: int
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class NearMiss:
    term: str  # the term as written: "memory>=40Gi"
    name: str  # its name as written: "memory"
    op: str
    threshold: str  # as written: "40Gi"
    suggestion: str | None  # "39Gi": the threshold that admits every near device; None if none is sensible
    near: bool  # False: nothing matched and these are merely the closest devices
    groups: tuple[Group, ...] = field(default_factory=tuple)
    devices: tuple[Any, ...] = field(default_factory=tuple, repr=False)  # the views, closest first

    @property
    def count(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def free(self) -> int:
        return sum(g.free for g in self.groups)

    @property
    def suggested_term(self) -> str | None:
        return None if self.suggestion is None else f"{self.name}{self.op}{self.suggestion}"

    def message(self, limit: int = 3) -> str:
        """e.g. ``6 free devices (3g.40gb, 39.5Gi) are just below memory>=40Gi; did you mean memory>=39Gi?``"""
        below = self.op in (">", ">=")
        where = ("just below" if below else "just above") if self.near else ("the closest below" if below
                                                                              else "the closest above")
        shown = "; ".join(f"{g.label}, {g.value}" for g in self.groups[:limit])
        if len(self.groups) > limit:
            shown += f"; {len(self.groups) - limit} more"
        n, free = self.count, self.free
        noun = "device" if n == 1 else "devices"
        if free == n:
            text = f"{n} free {noun} ({shown})"
        else:
            text = f"{n} {noun} ({shown}; {free or 'none'} free)"
        text += f" {'is' if n == 1 else 'are'} {where} {self.term}"
        if self.suggested_term:
            text += f"; did you mean {self.suggested_term}?"
        return text


def near_misses(flt: Filter, views: Iterable, *, nothing_matched: bool | None = None,
                tolerance: Fraction = TOLERANCE, keys: set | None = None, limit: int = 5) -> list[NearMiss]:
    """The near misses of every threshold term of ``flt`` among ``views`` (objects with ``.device`` and
    an optional ``.state``; plain Devices work too); ``keys`` limits them to those device keys (the
    chosen class's).  ``nothing_matched`` None: computed.  At most ``limit`` devices' groups per term."""
    items = [v for v in views if keys is None or _device(v).key in keys]
    devices = [_device(v) for v in items]
    if nothing_matched is None:
        nothing_matched = not any(flt.matches(d) for d in devices)
    out = []
    for written, term, rest in _threshold_terms(flt):
        # a candidate fails this term and passes the rest: test the term first (most devices pass it)
        term_matches = matcher(term)
        rest_matches = matcher(rest) if rest is not None else None
        candidates = [v for v, d in zip(items, devices)
                      if not term_matches(d) and (rest_matches is None or rest_matches(d))]
        if not candidates:
            continue
        name_text, op, threshold_text = written
        miss = threshold_miss(
            candidates, lambda d, term=term: _value(term, d),
            lambda d, term=term: _shown(term, d), name=name_text, op=op, threshold=threshold_text,
            kind=_tests(term)[0].kind, wanted=_threshold(term), nothing_matched=nothing_matched,
            tolerance=tolerance, limit=limit)
        if miss is not None:
            out.append(miss)
    return out


def threshold_miss(candidates: Sequence, value_of: Callable[[Any], Any], shown_of: Callable[[Any], str], *,
                   name: str, op: str, threshold: str, kind: str, wanted: Any, nothing_matched: bool,
                   tolerance: Fraction = TOLERANCE, limit: int = 5) -> NearMiss | None:
    """The engine: among ``candidates`` (views or devices that pass everything else), those failing
    ``name op threshold`` that are near it (or, when ``nothing_matched``, the closest).
    ``value_of(device)``: the comparable value (a Fraction for quantities, an int, a Version) or None;
    ``shown_of(device)``: the value as printed ("39.5Gi"); ``wanted``: the threshold's value.  Used for
    filter terms (near_misses) and for CEL selectors' thresholds (explain, lint)."""
    # devices publish a handful of distinct values: decide each value once (Fraction arithmetic is slow)
    # (keyed by the value object: value_of hands out one object per distinct published text, and a
    # Fraction's hash is computed anew on every lookup)
    facts: dict[int, tuple[Any, tuple[bool, bool, Any]]] = {}

    def facts_of(value: Any) -> tuple[bool, bool, Any]:
        """(passes the threshold, near it, distance to it)"""
        known = facts.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        passes = _passes(op, value, wanted)
        answer = (passes, False, None) if passes else (False, _near(value, wanted, tolerance), _distance(value, wanted))
        facts[id(value)] = (value, answer)  # the value is kept alive: its id is not reused meanwhile
        return answer

    scored = []
    for view in candidates:
        value = value_of(_device(view))
        if value is None:
            continue
        passes, near, distance = facts_of(value)
        if passes or (not nothing_matched and not near):
            continue
        scored.append((distance, value, view))
    if not scored:
        return None
    # sorted by distance, stable: rank the distinct distances once, then sort by rank
    # (by object: a value's distance is one object, see facts_of; equal distances share a rank)
    ranks: dict[int, int] = {}
    previous, rank = None, -1
    for d in sorted({id(s[0]): s[0] for s in scored}.values()):
        if rank < 0 or d != previous:
            previous, rank = d, rank + 1
        ranks[id(d)] = rank
    scored.sort(key=lambda s: ranks[id(s[0])])
    values = None
    if nothing_matched:
        if any(facts_of(s[1])[1] for s in scored):
            scored = [s for s in scored if facts_of(s[1])[1]]
        else:
            # nothing near: the three closest values (the suggestion admits the closest of them)
            closest = sorted({ranks[id(s[0])] for s in scored})[:3]
            values = [s[1] for s in scored if ranks[id(s[0])] == closest[0]]
            scored = [s for s in scored if ranks[id(s[0])] in closest]
    near = all(facts_of(s[1])[1] for s in scored)
    values = values if values is not None else [s[1] for s in scored]
    return NearMiss(
        term=f"{name}{op}{threshold}", name=name, op=op, threshold=threshold,
        suggestion=_suggest(kind, op, threshold, values), near=near,
        groups=_groups([s[2] for s in scored], shown_of, limit), devices=tuple(s[2] for s in scored))


# -- terms ---------------------------------------------------------------------------------------


def _threshold_terms(flt: Filter):
    """(written (name, op, value), the Test or AnyOf of Tests, the rest of the filter or None) per threshold term."""
    tree, resolved = flt.ast, flt.resolved
    if isinstance(tree, ast.And) and isinstance(resolved, AllOf) and len(tree.operands) == len(resolved.items):
        pairs = list(zip(tree.operands, resolved.items))
    else:
        pairs = [(tree, resolved)]
    for index, (node, item) in enumerate(pairs):
        if not isinstance(node, ast.Compare) or node.op not in _ORDER or len(node.values) != 1:
            continue
        tests = item.items if isinstance(item, AnyOf) else (item,)
        if not tests or not all(isinstance(t, Test) and t.op == node.op and t.kind in ("quantity", "int", "version")
                                for t in tests):
            continue
        others = [it for j, (_, it) in enumerate(pairs) if j != index]
        rest: Resolved | None = None if not others else others[0] if len(others) == 1 else AllOf(tuple(others))
        yield (node.name.text, node.op, node.values[0].text), item, rest


def _tests(term) -> tuple[Test, ...]:
    return term.items if isinstance(term, AnyOf) else (term,)


def _threshold(term) -> Any:
    t = _tests(term)[0]
    value = t.values[0]
    return value[1].value if t.kind == "quantity" else value


def _value(term, device) -> Any:
    """The device's value for the term (a Fraction for quantities), or None if it has none of the right kind."""
    for t in _tests(term):
        if t.driver is not None and device.driver != t.driver:
            continue
        qualified = f"{t.domain or device.driver}/{t.ident}"
        if t.place == "capacity":
            raw = device.capacity.get(qualified)
            if raw is None:
                continue
            try:
                return Quantity.parse(raw).value
            except QuantityError:
                continue
        raw = device.attributes.get(qualified)
        if raw is None:
            continue
        if t.kind == "version":
            parsed = _version(raw) if isinstance(raw, str) else None
            if parsed is not None:
                return parsed
        elif t.kind == "int" and isinstance(raw, int) and not isinstance(raw, bool):
            return raw
    return None


def _cmp(a: Any, b: Any) -> int:
    if isinstance(a, Version):
        return a.cmp(b)
    return (a > b) - (a < b)


def _passes(op: str, value: Any, wanted: Any) -> bool:
    c = _cmp(value, wanted)
    return {">": c > 0, ">=": c >= 0, "<": c < 0, "<=": c <= 0}[op]


def _near(value: Any, wanted: Any, tolerance: Fraction) -> bool:
    if isinstance(value, Version):
        return value.major == wanted.major
    if wanted == 0:
        return False
    return abs(Fraction(value) - Fraction(wanted)) <= tolerance * abs(Fraction(wanted))


def _distance(value: Any, wanted: Any) -> Any:
    if isinstance(value, Version):
        return (abs(value.major - wanted.major), abs(value.minor - wanted.minor), abs(value.patch - wanted.patch))
    return abs(Fraction(value) - Fraction(wanted))


_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60,
          "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "": 1}


def _suggest(kind: str, op: str, written: str, values: Sequence[Any]) -> str | None:
    """The threshold, in the written unit, that admits every value in ``values``."""
    below = op in (">", ">=")
    if kind == "version":
        edge = min(values) if below else max(values)
        if op not in (">=", "<="):
            return None
        if edge.prerelease or edge.build:
            return str(edge)
        parts = [edge.major, edge.minor, edge.patch]
        written_parts = len(written.lstrip("v").split("."))
        while len(parts) > max(written_parts, 1) and parts[-1] == 0:
            parts.pop()
        return ".".join(map(str, parts))
    edge = Fraction(min(values) if below else max(values))
    if kind == "int":
        return str(int(edge)) if op in (">=", "<=") else str(int(edge) - 1 if below else int(edge) + 1)
    m = _UNIT.match(written)
    unit = m.group(1) if m else ""
    from .to_cel import byte_units

    unit = _UNIT.match(byte_units(written)).group(1) if m and unit not in _UNITS else unit
    scale = _UNITS.get(unit)
    if scale is None:
        return None
    n = math.floor(edge / scale) if below else math.ceil(edge / scale)
    if below and op == ">" and n * scale == edge:
        n -= 1
    if not below and op == "<" and n * scale == edge:
        n += 1
    if n <= 0:
        return None
    return f"{n}{unit}"


# -- presentation data ---------------------------------------------------------------------------


def _device(view):
    return getattr(view, "device", view)


def _shown(term, device) -> str:
    from kubectl_dra.render.devices import human_quantity

    t = next((t for t in _tests(term) if t.driver in (None, device.driver)), _tests(term)[0])
    if t.place == "capacity":
        return human_quantity(device.capacity.get(f"{t.domain or device.driver}/{t.ident}"))
    return str(_value(term, device))


def _groups(views: Sequence, shown_of: Callable[[Any], str], limit: int) -> tuple[Group, ...]:
    from kubectl_dra.render.devices import product, profile

    groups: dict[tuple[str, str], list] = {}
    for view in views:
        device = _device(view)
        label = profile(device)
        if label in ("", "-"):
            label = product(device)
        groups.setdefault((label, shown_of(device)), []).append(view)
    out = []
    for (label, value), members in groups.items():
        free = sum(1 for v in members if getattr(v, "state", "free") == "free")
        nodes = tuple(dict.fromkeys(_device(v).node_label for v in members))
        out.append(Group(label, value, len(members), free, nodes))
    return tuple(out[:limit]) if limit else tuple(out)
