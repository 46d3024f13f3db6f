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
            named_a.append((qualified, value, kind))
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


#: (keys, attribute names, kinds, capacity names) -> how to read a pruning key off a device of that shape
_PLANS: dict[tuple, tuple] = {}


def _plan(keys: frozenset[str], shape: tuple) -> tuple:
    names, kinds, cap_names = shape
    kinds_d = dict(kinds) if kinds else None
    named = []
    checks = []
    attr_domains = set()
    for qualified in names:
        kind = kinds_d.get(qualified) if kinds_d else None
        domain, ident = split(qualified)
        attr_domains.add(domain)
        if kind in ("version", "versions"):
            checks.append((qualified, kind == "versions"))
        if ident in keys:
            named.append((qualified, kind))
    named_c = []
    cap_domains = set()
    for qualified in cap_names:
        domain, ident = split(qualified)
        cap_domains.add(domain)
        if ident in keys:
            named_c.append(qualified)
    return tuple(named), tuple(checks), frozenset(attr_domains), tuple(named_c), frozenset(cap_domains)


def fast_key(device: Device, keys: frozenset[str]) -> tuple | None:
    """The pruning key :func:`build` gives ``device`` with ``keys``, without building the variable;
    None where this shortcut cannot tell (a version or quantity not yet seen to parse, an odd value):
    then :func:`build` decides (and raises BadDevice where Kubernetes would fail).

    Devices of one shape (the same attribute names and kinds, the same capacity names) share one plan:
    the per-device work is reading the named values and checking the versions and quantities against
    the ones already parsed."""
    attributes = device.attributes
    kinds = device.attribute_kinds
    capacity = device.capacity
    shape = (keys, tuple(attributes), tuple(kinds.items()) if kinds else None, tuple(capacity))
    plan = _PLANS.get(shape)
    if plan is None:
        if len(_PLANS) > 4096:
            _PLANS.clear()
        plan = _PLANS[shape] = _plan(keys, shape[1:])
    named, checks, attr_domains, named_c, cap_domains = plan
    good_v = library._V_TAGS
    for qualified, many in checks:
        value = attributes[qualified]
        if many:
            if type(value) is not tuple and type(value) is not list:
                return None
            for v in value:
                if type(v) is not str or v not in good_v:
                    return None
        elif type(value) is not str or value not in good_v:
            return None
    good_q = library._Q_TAGS
    for text in capacity.values():
        if type(text) is not str or text not in good_q:
            return None
    return (
        device.driver,
        bool(device.allow_multiple_allocations),
        tuple([(q, attributes[q], kind) for q, kind in named]),
        attr_domains,
        tuple([(q, capacity[q]) for q in named_c]),
        cap_domains,
    )


def activation_data(device: Device) -> dict[str, Any]:
    """The ``device`` variable exactly as Kubernetes builds it (without unknown-domain defaults)."""
    return build(device)[0]
