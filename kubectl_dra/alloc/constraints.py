"""Claim constraints: ``matchAttribute`` and ``distinctAttribute`` (dra-api.md §5.5).

A constraint applies to the devices of the requests it lists (``req`` covers all of its
subrequests, ``req/sub`` only that one; an empty list covers every request). A device without
the attribute never satisfies it. The attribute is looked up by its fully-qualified name; the
model already files a driver's bare attribute names under the driver's domain, which is the
upstream fallback (``lookupAttribute``).

``matchAttribute``: the first device fixes the value, later ones need the same kind and value
(versions compare as strings). ``distinctAttribute`` replicates the 1.36 incubating allocator
exactly, including its quirk: stored values are keyed by *request name*, so within one request
with count > 1 each new device is compared only with the last one added for that request (plus
those of other requests), and removing a device forgets its request's value altogether.

With ``list_type_attributes`` (DRAListTypeAttributes, experimental allocator) values are sets
(scalars one-element sets): ``matchAttribute`` needs a non-empty running intersection and
``distinctAttribute`` pairwise-disjoint sets. The simulator does not use that mode: kube-scheduler
v1.36.3 never passes the gate to its allocator (see ``search.NodeSearch``).
"""

from __future__ import annotations

from typing import Any

from kubectl_dra.model.claim import DeviceConstraint
from kubectl_dra.model.device import Device

SCALAR_KINDS = ("string", "int", "bool", "version")
_BASE = {"strings": "string", "ints": "int", "bools": "bool", "versions": "version"}


def lookup(device: Device, name: str) -> tuple[str, Any] | None:
    """(kind, value) of a fully-qualified attribute, or None when the device lacks it."""
    if "/" not in name or name not in device.attributes:
        return None
    return device.attr_kind(name) or "unknown", device.attributes[name]


def _as_set(attr: tuple[str, Any]) -> tuple[str, frozenset] | None:
    kind, value = attr
    if kind in SCALAR_KINDS:
        return kind, frozenset([value])
    if kind in _BASE and isinstance(value, (list, tuple)):
        return _BASE[kind], frozenset(value)
    return None


class ConstraintTracker:
    """Base: which requests a constraint covers."""

    kind = ""

    def __init__(self, spec_requests: list[str], attribute: str) -> None:
        self.requests = set(spec_requests)
        self.attribute = attribute

    def applies(self, base: str, sub: str | None) -> bool:
        if not self.requests:
            return True
        return base in self.requests or (sub is not None and f"{base}/{sub}" in self.requests)

    def add(self, base: str, sub: str | None, device: Device) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def remove(self, base: str, sub: str | None, device: Device) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class MatchAttribute(ConstraintTracker):
    kind = "matchAttribute"

    def __init__(self, spec_requests: list[str], attribute: str) -> None:
        super().__init__(spec_requests, attribute)
        self.value: tuple[str, Any] | None = None
        self.count = 0

    def add(self, base: str, sub: str | None, device: Device) -> bool:
        if not self.applies(base, sub):
            return True
        attr = lookup(device, self.attribute)
        if attr is None:
            return False
        if self.count == 0:
            self.value, self.count = attr, 1
            return True
        kind, value = attr
        if kind not in SCALAR_KINDS or self.value is None or self.value[0] != kind or self.value[1] != value:
            return False
        self.count += 1
        return True

    def remove(self, base: str, sub: str | None, device: Device) -> None:
        if self.applies(base, sub):
            self.count -= 1


class DistinctAttribute(ConstraintTracker):
    kind = "distinctAttribute"

    def __init__(self, spec_requests: list[str], attribute: str) -> None:
        super().__init__(spec_requests, attribute)
        self.values: dict[str, tuple[str, Any]] = {}
        self.count = 0

    def add(self, base: str, sub: str | None, device: Device) -> bool:
        if not self.applies(base, sub):
            return True
        attr = lookup(device, self.attribute)
        if attr is None:
            return False
        if self.count == 0:
            self.values[base] = attr
            self.count = 1
            return True
        kind, value = attr
        if kind not in SCALAR_KINDS:
            return False
        if any(k == kind and v == value for k, v in self.values.values()):
            return False
        self.values[base] = attr
        self.count += 1
        return True

    def remove(self, base: str, sub: str | None, device: Device) -> None:
        if self.applies(base, sub):
            self.values.pop(base, None)
            self.count -= 1


class MatchAttributeSets(ConstraintTracker):
    """``matchAttribute`` with list-type attributes: a non-empty running intersection."""

    kind = "matchAttribute"

    def __init__(self, spec_requests: list[str], attribute: str) -> None:
        super().__init__(spec_requests, attribute)
        self.stack: list[tuple[str, frozenset]] = []

    def add(self, base: str, sub: str | None, device: Device) -> bool:
        if not self.applies(base, sub):
            return True
        attr = lookup(device, self.attribute)
        values = _as_set(attr) if attr is not None else None
        if values is None:
            return False
        if self.stack:
            kind, have = self.stack[-1]
            if kind != values[0] or not (have & values[1]):
                return False
            values = (kind, have & values[1])
        self.stack.append(values)
        return True

    def remove(self, base: str, sub: str | None, device: Device) -> None:
        if self.applies(base, sub) and self.stack:
            self.stack.pop()


class DistinctAttributeSets(ConstraintTracker):
    """``distinctAttribute`` with list-type attributes: pairwise-disjoint value sets."""

    kind = "distinctAttribute"

    def __init__(self, spec_requests: list[str], attribute: str) -> None:
        super().__init__(spec_requests, attribute)
        self.stack: list[tuple[str, frozenset]] = []

    def add(self, base: str, sub: str | None, device: Device) -> bool:
        if not self.applies(base, sub):
            return True
        attr = lookup(device, self.attribute)
        values = _as_set(attr) if attr is not None else None
        if values is None:
            return False
        if any(kind == values[0] and have & values[1] for kind, have in self.stack):
            return False
        self.stack.append(values)
        return True

    def remove(self, base: str, sub: str | None, device: Device) -> None:
        if self.applies(base, sub) and self.stack:
            self.stack.pop()


def build(specs: list[DeviceConstraint], list_types: bool = False) -> list[ConstraintTracker]:
    """Fresh constraint trackers for one claim (specs are validated before)."""
    out: list[ConstraintTracker] = []
    for spec in specs:
        if spec.match_attribute:
            cls = MatchAttributeSets if list_types else MatchAttribute
            out.append(cls(spec.requests, spec.match_attribute))
        elif spec.distinct_attribute:
            cls2 = DistinctAttributeSets if list_types else DistinctAttribute
            out.append(cls2(spec.requests, spec.distinct_attribute))
    return out
