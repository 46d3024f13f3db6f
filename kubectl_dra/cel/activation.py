"""The ``device`` variable of a selector, built from a model Device exactly as Kubernetes builds it
(``cel.CompilationResult.DeviceMatches`` in k8s.io/dynamic-resource-allocation): attributes and
capacities grouped by domain, version attributes as semver values, capacities as quantity values
(tagged maps, see :mod:`kubectl_dra.cel.library`). Absent domains are not filled in here: the program
decides when it needs them (Kubernetes reads an unknown domain as an empty map).

This is the one place the variable is built; :func:`build` also builds the reduced variable of
evaluation pruning (only the named ids, every domain still present) and a key under which devices
that look alike to the expression share one evaluation.
"""

from __future__ import annotations

import itertools
from operator import is_
from typing import TYPE_CHECKING, Any

from . import library

if TYPE_CHECKING:
    from kubectl_dra.model.device import Device


class BadDevice(Exception):
    """A device value Kubernetes cannot turn into a CEL value (its text is the runtime error)."""


_SPLIT: dict[str, tuple[str, str]] = {}


def split(qualified: str) -> tuple[str, str]:
    """(domain, id) of a fully-qualified name, cached: names repeat across devices."""
    parts = _SPLIT.get(qualified)
    if parts is None:
        domain, _, ident = qualified.rpartition("/")
        parts = (domain, ident)
        if len(_SPLIT) > 65536:
            _SPLIT.clear()
        _SPLIT[qualified] = parts
    return parts


def version(qualified: str, text: Any) -> dict[str, str]:
    """The semver value of a version attribute; BadDevice with Kubernetes' message if it does not parse."""
    tag = library.version_value(text) if isinstance(text, str) else None
    if tag is None:
        raise BadDevice(f"attribute {qualified}: parse semantic version: invalid version {text!r}")
    return tag


def _attribute_value(qualified: str, value: Any, kind: str | None) -> Any:
    if kind == "version":
        return version(qualified, value)
    if kind == "versions":
        return [version(qualified, v) for v in value]
    if type(value) is tuple:
        return list(value)
    return value


def build(device: Device, keys: frozenset[str] | None = None) -> tuple[dict[str, Any], tuple | None]:
    """(the ``device`` variable, its pruning key).

    ``keys`` None: the whole variable, key None. With ``keys`` (:func:`kubectl_dra.cel.analysis.prunable_keys`):
    only the attributes and capacities whose id is in ``keys``, every domain the device has still present
    (as an empty map where no named id is in it), and a hashable key of exactly what the reduced variable
    holds — devices with equal keys give equal results. Every version and quantity is parsed either way
    (Kubernetes parses them all, named or not): BadDevice for the first that does not parse.
    """
    kinds = device.attribute_kinds
    attrs: dict[str, dict[str, Any]] = {}
    named_a: list | None = None if keys is None else []
    for qualified, value in device.attributes.items():
        kind = kinds.get(qualified) if kinds else None
        domain, ident = split(qualified)
        inner = attrs.get(domain)
        if inner is None:
            attrs[domain] = inner = {}
        if named_a is not None and ident not in keys:  # type: ignore[operator]
            if kind == "version":
                version(qualified, value)
            elif kind == "versions":
                for v in value:
                    version(qualified, v)
            continue
        if named_a is not None:
            named_a.append((qualified, value, kind, value.__class__))  # True == 1, but not as attributes
        inner[ident] = _attribute_value(qualified, value, kind)
    capacity: dict[str, dict[str, Any]] = {}
    named_c: list | None = None if keys is None else []
    quantity = library.quantity_value
    for qualified, text in device.capacity.items():
        try:
            tag = quantity(text)
        except (ValueError, TypeError) as e:
            raise BadDevice(f"capacity {qualified}: {e}") from None
        domain, ident = split(qualified)
        inner = capacity.get(domain)
        if inner is None:
            capacity[domain] = inner = {}
        if named_c is not None:
            if ident not in keys:  # type: ignore[operator]
                continue
            named_c.append((qualified, text))
        inner[ident] = tag
    multi = bool(device.allow_multiple_allocations)
    data = {
        "driver": device.driver,
        "attributes": attrs,
        "capacity": capacity,
        "allowMultipleAllocations": multi,
    }
    if keys is None:
        return data, None
    key = (device.driver, multi, tuple(named_a), frozenset(attrs), tuple(named_c), frozenset(capacity))  # type: ignore[arg-type]
    return data, key


#: (keys, attribute names, kinds, capacity names) -> how to read a quick key off a device of that shape
_PLANS: dict[tuple, "FastPlan"] = {}
_TOKENS = itertools.count()  # never reused, even after _PLANS is cleared


class FastPlan:
    """How to read the quick key of a device of one shape (attribute names and kinds, capacity names)
    for one set of ``keys``: what :func:`build`'s pruning key holds, without building the variable.

    ``versions``/``version_lists``: the version attributes, every one of which must already be known
    to parse (``library._V_TAGS``) for the quick key to stand; ``values``: reads the named attributes'
    values; ``capacities``: the named capacities' texts. ``token`` stands for the shape: two devices
    with the same token and equal values, value types, driver and multi-allocation flag give the same
    result (the domains present follow from the shape)."""

    __slots__ = ("token", "versions", "version_lists", "values", "capacities", "observed", "identical")

    def __init__(self, token: int, versions: tuple, version_lists: tuple, values: Any, capacities: Any,
                 observed: Any, identical: Any) -> None:
        self.token, self.versions, self.version_lists = token, versions, version_lists
        self.values, self.capacities = values, capacities
        #: reads every attribute value the quick key depends on (versions, version lists, named values)
        self.observed = observed
        #: whether two ``observed`` tuples of this plan hold the very same objects, item by item
        self.identical = identical

    def capacity_key(self, capacity: dict[str, str]) -> tuple | None:
        """The named capacities' part of the quick key of a device with ``capacity`` (decode shares one
        map between a slice's equal capacities: worked out once per map); None where a quantity was
        not yet seen to parse."""
        good_q = library._Q_TAGS
        for text in capacity.values():
            if text.__class__ is not str or text not in good_q:
                return None
        return self.capacities(capacity)

    def key(self, device: Device, capacities: tuple) -> tuple | None:
        """The quick key of ``device`` (a device of this plan's shape), given its
        :meth:`capacity_key`; None where it cannot stand (a version not yet seen to parse, an odd
        value): then :func:`build` decides, and raises BadDevice where Kubernetes would fail."""
        attributes = device.attributes
        good_v = library._V_TAGS
        for qualified in self.versions:
            value = attributes[qualified]
            if value.__class__ is not str or value not in good_v:
                return None
        for qualified in self.version_lists:
            value = attributes[qualified]
            if value.__class__ is not tuple and value.__class__ is not list:
                return None
            if not all(v.__class__ is str and v in good_v for v in value):
                return None
        values = self.values(attributes)
        quick = (self.token, device.driver, device.allow_multiple_allocations, values, capacities)
        if 1 in values or 0 in values:  # True == 1 and False == 0: tell bools from ints
            quick += (tuple(map(type, values)),)
        return quick


def _no_values(_: Any) -> tuple:
    return ()


def _same_items(a: tuple, b: tuple) -> bool:
    return all(map(is_, a, b))


#: by tuple length: whether two tuples hold the very same objects (a neighbour's observed values);
#: the usual few items compared inline, ~5x faster than all(map(is_, ...)) per device
_IDENTICAL: Any = (
    lambda a, b: True,
    lambda a, b: a[0] is b[0],
    lambda a, b: a[0] is b[0] and a[1] is b[1],
    lambda a, b: a[0] is b[0] and a[1] is b[1] and a[2] is b[2],
    lambda a, b: a[0] is b[0] and a[1] is b[1] and a[2] is b[2] and a[3] is b[3],
    lambda a, b: a[0] is b[0] and a[1] is b[1] and a[2] is b[2] and a[3] is b[3] and a[4] is b[4],
    lambda a, b: a[0] is b[0] and a[1] is b[1] and a[2] is b[2] and a[3] is b[3] and a[4] is b[4] and a[5] is b[5],
)


def _identical(n: int) -> Any:
    return _IDENTICAL[n] if n < len(_IDENTICAL) else _same_items


def _getter(names: list[str]) -> Any:
    """A function returning the tuple of ``names``' values (C speed: operator.itemgetter)."""
    from operator import itemgetter

    if not names:
        return _no_values
    if len(names) == 1:
        return itemgetter(names[0], names[0])  # itemgetter of one name returns the value, not a tuple
    return itemgetter(*names)


def _items_read(names: list[str]) -> int:
    """How many items :func:`_getter` of ``names`` returns (one name: a pair)."""
    return 2 if len(names) == 1 else len(names)


def fast_plan(keys: frozenset[str], names: tuple[str, ...], kinds: dict[str, str] | None,
              capacity_names: tuple[str, ...]) -> FastPlan:
    """The :class:`FastPlan` of a device shape (shared by every equal shape)."""
    shape = (keys, names, tuple(kinds.items()) if kinds else None, capacity_names)
    plan = _PLANS.get(shape)
    if plan is not None:
        return plan
    named, versions, version_lists = [], [], []
    for qualified in names:
        kind = kinds.get(qualified) if kinds else None
        if kind == "version":
            versions.append(qualified)
        elif kind == "versions":
            version_lists.append(qualified)
        if split(qualified)[1] in keys:
            named.append(qualified)
    named_c = [q for q in capacity_names if split(q)[1] in keys]
    if len(_PLANS) > 4096:
        _PLANS.clear()
    observed = [*versions, *version_lists, *named]
    plan = _PLANS[shape] = FastPlan(next(_TOKENS), tuple(versions), tuple(version_lists), _getter(named),
                                    _getter(named_c), _getter(observed), _identical(_items_read(observed)))
    return plan


def activation_data(device: Device) -> dict[str, Any]:
    """The ``device`` variable exactly as Kubernetes builds it (without unknown-domain defaults)."""
    return build(device)[0]
