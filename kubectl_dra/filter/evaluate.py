"""A small pure-Python evaluator of a resolved filter against our Device model.

It follows the generated CEL exactly (guards included): a device lacking an attribute does not
match a comparison, ``not`` inverts, a value of another type is unequal (CEL's heterogeneous
equality) and fails an ordering or ``~`` test (the CEL ``type()`` guard).  It lets the case table
assert which demo devices match without a CEL engine.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

from kubectl_dra.model.device import Device
from kubectl_dra.model.quantity import Quantity, QuantityError
from kubectl_dra.model.semver import Version, VersionError

from .to_cel import (
    MIG_TYPES,
    PARTITION_ATTRIBUTE,
    AllOf,
    AnyOf,
    Mig,
    Negate,
    Resolved,
    Test,
    ascii_lower,
)


def matches(node: Resolved, device: Device) -> bool:
    if isinstance(node, AllOf):
        return all(matches(n, device) for n in node.items)
    if isinstance(node, AnyOf):
        return any(matches(n, device) for n in node.items)
    if isinstance(node, Negate):
        return not matches(node.item, device)
    if isinstance(node, Mig):
        return is_partition(device) == node.value
    return _test(node, device)


def is_partition(device: Device) -> bool:
    """What ``mig=true`` selects: a MIG/partition device."""
    if device.driver in MIG_TYPES:
        return device.attributes.get(f"{device.driver}/type") == MIG_TYPES[device.driver]
    return f"{device.driver}/{PARTITION_ATTRIBUTE}" in device.attributes


def _kind_of(value: Any, recorded: str | None) -> str:
    return recorded or ("bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "string")


def _cmp(a: Any, b: Any) -> int:
    if isinstance(a, (Quantity, Version)):
        return a.cmp(b)
    return (a > b) - (a < b)


def _compare(op: str, actual: Any, wanted: tuple[Any, ...]) -> bool:
    if op == "~":
        return ascii_lower(wanted[0]) in ascii_lower(actual)
    if op == "in":
        return any(_cmp(actual, w) == 0 for w in wanted)
    return _ORDERS[op](_cmp(actual, wanted[0]), 0)


_ORDERS = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_VERSIONS: dict[str, Version | None] = {}


def _version(text: str) -> Version | None:
    """Parsed once per distinct string: 40,000 devices publish a handful of driver versions."""
    try:
        return _VERSIONS[text]
    except KeyError:
        pass
    try:
        parsed: Version | None = Version.parse(text)
    except VersionError:
        parsed = None
    if len(_VERSIONS) < 65536:
        _VERSIONS[text] = parsed
    return parsed


def _test(t: Test, device: Device) -> bool:
    if t.place == "driver":
        return _compare(t.op, device.driver, t.values)
    if t.driver is not None and device.driver != t.driver:
        return False
    qualified = f"{t.domain or device.driver}/{t.ident}"
    if t.place == "capacity":
        raw = device.capacity.get(qualified)
        if raw is None:
            return False
        try:
            actual = Quantity.parse(raw)
        except QuantityError:
            return False
        return _compare(t.op, actual, tuple(q for _, q in t.values))
    if qualified not in device.attributes:
        return False
    raw = device.attributes[qualified]
    kind = _kind_of(raw, device.attr_kind(qualified))
    if kind != t.kind:
        # CEL: == / in between different types is false, != true; orderings and ~ are type-guarded
        return t.op == "!="
    if kind == "version":
        actual = _version(raw)
        return False if actual is None else _compare(t.op, actual, t.values)
    return _compare(t.op, raw, t.values)


# -- compiled form: the same meaning as matches(), decided once per filter instead of per device -----


def matcher(node: Resolved) -> Callable[[Device], bool]:
    """A function equivalent to ``lambda device: matches(node, device)``, but ~2x faster on big clusters."""
    if isinstance(node, (AllOf, AnyOf)):
        parts = tuple(matcher(n) for n in node.items)
        if isinstance(node, AllOf) and len(parts) == 2:
            first, second = parts
            return lambda device: first(device) and second(device)
        if isinstance(node, AllOf) and len(parts) == 3:
            first, second, third = parts
            return lambda device: first(device) and second(device) and third(device)
        if isinstance(node, AllOf):

            def all_of(device: Device) -> bool:
                for part in parts:
                    if not part(device):
                        return False
                return True

            return all_of

        def any_of(device: Device) -> bool:
            for part in parts:
                if part(device):
                    return True
            return False

        return any_of
    if isinstance(node, Negate):
        inner = matcher(node.item)
        return lambda device: not inner(device)
    if isinstance(node, Mig):
        value = node.value
        return lambda device: is_partition(device) == value
    return _test_matcher(node)


#: results remembered per test (a test's answer depends only on the value it reads and that
#: value's recorded kind: 40,000 devices publish a handful of distinct values per name)
_MEMO_LIMIT = 4096
_MISSING = object()


def _test_matcher(t: Test) -> Callable[[Device], bool]:
    op, values, guard, ident = t.op, t.values, t.driver, t.ident
    if t.place == "driver":
        return lambda device: _compare(op, device.driver, values)
    fixed = f"{t.domain}/{ident}" if t.domain is not None else None
    names: dict[str, str] = {}

    def name_of(device: Device) -> str:
        if fixed is not None:
            return fixed
        name = names.get(device.driver)
        if name is None:
            name = names[device.driver] = f"{device.driver}/{ident}"
        return name

    if t.place == "capacity":
        wanted = tuple(q for _, q in values)

        def decide_capacity(raw: Any) -> bool:
            try:
                actual = Quantity.parse(raw)
            except QuantityError:
                return False
            return _compare(op, actual, wanted)

        seen_q: dict[Any, bool] = {}  # by quantity text

        def capacity(device: Device) -> bool:
            if guard is not None and device.driver != guard:
                return False
            raw = device.capacity.get(fixed or name_of(device))
            if raw is None:
                return False
            try:
                result = seen_q.get(raw)
            except TypeError:  # not a string: decided each time
                return decide_capacity(raw)
            if result is None:
                result = decide_capacity(raw)
                if len(seen_q) < _MEMO_LIMIT:
                    seen_q[raw] = result
            return result

        return capacity
    kind = t.kind
    lowered = ascii_lower(values[0]) if op == "~" and values and isinstance(values[0], str) else None

    def decide(raw: Any, recorded: str | None) -> bool:
        if _kind_of(raw, recorded) != kind:
            return op == "!="
        if kind == "version":
            actual = _version(raw)
            return False if actual is None else _compare(op, actual, values)
        if lowered is not None:
            return lowered in ascii_lower(raw)
        return _compare(op, raw, values)

    seen: dict[Any, bool] = {}

    def attribute(device: Device) -> bool:
        if guard is not None and device.driver != guard:
            return False
        name = fixed or name_of(device)
        raw = device.attributes.get(name, _MISSING)
        if raw is _MISSING:
            return False
        kinds = device.attribute_kinds
        recorded = kinds.get(name) if kinds else None
        # a plain string is remembered by itself; anything else by (value, type, recorded kind):
        # True == 1 and both hash alike, but they differ in kind
        key = raw if recorded is None and raw.__class__ is str else (raw, raw.__class__, recorded)
        try:
            result = seen.get(key)
        except TypeError:  # a list value: decided each time
            return decide(raw, recorded)
        if result is None:
            result = decide(raw, recorded)
            if len(seen) < _MEMO_LIMIT:
                seen[key] = result
        return result

    return attribute
