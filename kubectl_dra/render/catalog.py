"""What there is to ask for: DeviceClasses with the devices they admit (``classes``), and every
attribute and capacity the devices publish with its values (``attributes``).

The counting lives here too, as plain functions of the cluster's objects, so that both the table
and the ``DeviceClassList``/``AttributeList`` data shapes come from one computation.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from kubectl_dra.model.claim import DeviceClass
from kubectl_dra.model.cluster import DeviceView, natural_key, natural_prefix
from kubectl_dra.model.device import kind_of_type
from kubectl_dra.render.columns import format_table, strip_controls
from kubectl_dra.render.devices import human_quantity

CLASS_COLUMNS = ("NAME", "SELECTOR", "EXTENDED RESOURCE", "DEVICES", "FREE", "ERRORS")
ATTRIBUTE_COLUMNS = ("DRIVER", "NAME", "KIND", "DEVICES", "VALUES")

#: table cells longer than this are cut with … (-o wide shows them whole)
SELECTOR_WIDTH = 60
VALUES_WIDTH = 60

ELLIPSIS = "…"


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + ELLIPSIS


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------------- classes


@dataclass(slots=True)
class ClassSummary:
    cls: DeviceClass
    devices: int = 0
    free: int = 0
    errors: int = 0
    #: (selector index, device id, message) of the first device a selector failed on
    first_error: tuple[int, str, str] | None = None
    #: set when a selector does not compile: nothing is counted then
    compile_error: str | None = None
    #: free devices usable at the same time: overlapping partitions (DynamicMIG placements sharing a
    #: GPU's counters) count as many as fit together (model.partitions); None: not computed
    usable: int | None = None


def summarize_classes(classes: Sequence[DeviceClass], views: Sequence[DeviceView], cluster: Any = None) -> list[ClassSummary]:
    """Per class (sorted by name): how many devices its selectors admit, how many of those are
    free, and on how many a selector fails.

    Selectors are evaluated in order as the scheduler does (``kubectl_dra.admission``): a device
    must match every one; a false selector ends the evaluation (later ones are not run), and so
    does a runtime error, which counts the device under ``errors`` instead of ``devices``.
    """
    from kubectl_dra.admission import admit

    summaries: list[ClassSummary] = []
    for dc in sorted(classes, key=lambda c: natural_key(c.name)):
        summary = ClassSummary(dc)
        summaries.append(summary)
        admission = admit(dc.selectors, views, device=_device_of)
        if admission.compile_error is not None:
            summary.compile_error = admission.compile_error.message
            continue
        errors = admission.errors
        summary.errors = len(errors)
        if errors:
            summary.first_error = (errors[0].selector, errors[0].item.device.id, errors[0].error)
        summary.devices = len(admission.admitted)
        summary.free = sum(1 for v in admission.admitted if v.state == "free")
        if cluster is not None:
            free = [v for v in admission.admitted if v.state == "free"]
            shared = {v.device.key for v in free if v.device.consumes_counters}
            if shared:
                from kubectl_dra.model.partitions import partition_capacity

                summary.usable = (len(free) - len(shared)
                                  + sum(c.at_once for c in partition_capacity(cluster, keys=shared)))
    return summaries


def _device_of(view: DeviceView):
    return view.device


def selector_text(dc: DeviceClass) -> str:
    """The class's selectors as one CEL expression (they are ANDed), on one line."""
    if not dc.selectors:
        return "<none>"
    parts = [_one_line(s) for s in dc.selectors]
    if len(parts) == 1:
        return parts[0]
    return " && ".join(f"({p})" for p in parts)


def classes_table(summaries: Sequence[ClassSummary], *, wide: bool = False, no_headers: bool = False) -> str:
    rows = []
    for s in summaries:
        selector = strip_controls(selector_text(s.cls))
        if not wide:
            selector = shorten(selector, SELECTOR_WIDTH)
        if s.compile_error is not None:
            counts = ["invalid", "-", "-"]
        else:
            free = str(s.free) if s.usable is None or s.usable == s.free else f"{s.free} ({s.usable} at once)"
            counts = [str(s.devices), free, str(s.errors)]
        rows.append([strip_controls(s.cls.name), selector, strip_controls(s.cls.extended_resource_name or "-"), *counts])
    return format_table(CLASS_COLUMNS, rows, no_headers=no_headers)


def class_item(s: ClassSummary) -> dict:
    item: dict[str, Any] = {
        "name": s.cls.name,
        "selectors": list(s.cls.selectors),
        "extendedResourceName": s.cls.extended_resource_name,
        "devices": s.devices,
        "free": s.free,
        "errors": s.errors,
    }
    if s.usable is not None:
        item["usableAtOnce"] = s.usable
    if s.compile_error is not None:
        item["devices"] = item["free"] = item["errors"] = None
        item["compileError"] = s.compile_error
    elif s.first_error is not None:
        index, device, message = s.first_error
        item["firstError"] = {"selector": index, "device": device, "message": message}
    return item


def class_list(summaries: Sequence[ClassSummary]) -> dict:
    return {"kind": "DeviceClassList", "items": [class_item(s) for s in summaries]}


def class_names(summaries: Sequence[ClassSummary]) -> str:
    return "".join(f"deviceclass.resource.k8s.io/{s.cls.name}\n" for s in summaries)


# ---------------------------------------------------------------------- attributes


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass(slots=True)
class AttributeSummary:
    driver: str
    name: str
    #: kinds seen with their device counts (normally exactly one)
    kinds: Counter = field(default_factory=Counter)
    devices: int = 0
    values: Counter = field(default_factory=Counter)
    capacity: bool = False

    @property
    def kind(self) -> str:
        if self.capacity:
            return "quantity"
        return ",".join(k for k, _ in sorted(self.kinds.items(), key=lambda kv: (-kv[1], kv[0])))

    def sorted_values(self) -> list[tuple[Any, int]]:
        """(value, count), most common first, then in natural order of the value's text."""
        if self.capacity:
            return sorted(self.values.items(), key=lambda kv: (-kv[1], *_quantity_key(kv[0])))
        return sorted(self.values.items(), key=lambda kv: (-kv[1], natural_key(_value_text(kv[0], False))))


def _quantity_key(text: str) -> tuple:
    """Quantities by size (``40Gi`` before ``40960Mi`` before ``80Gi``), unparsable ones last by text."""
    from kubectl_dra.model.quantity import Quantity, QuantityError

    try:
        return (0, Quantity.parse(text), natural_key(text))
    except QuantityError:
        return (1, natural_key(text), ())


def summarize_attributes(views: Sequence[DeviceView]) -> list[AttributeSummary]:
    """Every (driver, attribute) and (driver, capacity) the devices publish, sorted by driver then name.

    Worked out one name at a time over a driver's devices (their values counted by ``Counter`` in
    one call, kinds from the value types where no device records a kind): 480,000 attribute values
    at 40,000 devices, not one Python step each. Values are counted in the devices' order, as
    ties in the value lists keep it."""
    by_driver: dict[str, list] = {}
    for view in views:
        dev = view.device
        by_driver.setdefault(dev.driver, []).append(dev)
    found: list[AttributeSummary] = []
    for driver, devices in by_driver.items():
        found += _driver_attributes(driver, devices)
        found += _driver_capacities(driver, devices)
    return sorted(found, key=lambda s: (s.driver, s.name, s.capacity))


_ATTRIBUTES = attrgetter("attributes")
_KINDS = attrgetter("attribute_kinds")
_CAPACITY = attrgetter("capacity")


def _names(maps: list[dict]) -> list[str]:
    """The keys of ``maps``, each once (maps with the same keys in the same order are read once)."""
    return list(dict.fromkeys(name for keys in dict.fromkeys(map(tuple, maps)) for name in keys))


def _driver_attributes(driver: str, devices: list) -> list[AttributeSummary]:
    attributes = list(map(_ATTRIBUTES, devices))
    kinds_of = list(map(_KINDS, devices))
    recorded = {id(kinds): kinds for kinds in kinds_of if kinds}  # decode shares equal kind maps: a few
    out = []
    for name in _names(attributes):
        summary = AttributeSummary(driver, name)
        present = [a[name] for a in attributes if name in a]
        summary.devices = len(present)
        types = Counter(map(type, present))
        if any(name in kinds for kinds in recorded.values()):
            # a recorded kind (version, lists, future kinds) where the device's map has one, else the value's
            pairs = Counter(zip(map(id, [k for a, k in zip(attributes, kinds_of) if name in a]), map(type, present)))
            for (kinds_id, kind_type), count in pairs.items():
                kinds = recorded.get(kinds_id)
                summary.kinds[(kinds[name] if kinds and name in kinds else kind_of_type(kind_type)) or "unknown"] += count
        else:
            for kind_type, count in types.items():
                summary.kinds[kind_of_type(kind_type)] += count
        if any(issubclass(t, list) for t in types):
            present = list(map(_hashable, present))
        summary.values.update(present)
        out.append(summary)
    return out


def _driver_capacities(driver: str, devices: list) -> list[AttributeSummary]:
    capacities = list(map(_CAPACITY, devices))
    out = []
    for name in _names(capacities):
        summary = AttributeSummary(driver, name, capacity=True)
        present = [c[name] for c in capacities if name in c]
        summary.devices = len(present)
        summary.values.update(present if all(type(q) is str for q in present) else map(str, present))
        out.append(summary)
    return out


def _value_text(value: Any, capacity: bool) -> str:
    if capacity:
        return human_quantity(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ",".join(_value_text(v, False) for v in value) + "]"
    if value == "":
        return '""'
    return strip_controls(str(value))


def values_text(summary: AttributeSummary, width: int | None = None) -> str:
    """``Hopper (46), Ampere (5)``: values as the table shows them (quantities human-readable;
    values that read the same are counted together), most common first. With ``width``, only the
    first ``width`` characters are wanted (the table shortens the rest away): only as many values
    as can reach them are ordered (40,000 UUIDs are not all sorted to show two)."""
    merged: Counter = Counter()
    order: dict[str, tuple] = {}
    for value, count in summary.values.items():
        text = _value_text(value, summary.capacity)
        merged[text] += count
        if summary.capacity:
            key = _quantity_key(value)
            order[text] = min(order.get(text, key), key)
    if summary.capacity:
        ordered = sorted(merged.items(), key=lambda kv: (-kv[1], order[kv[0]]))
    else:
        ordered = _most_common_first(merged, None if width is None else width // 4 + 1)
    return ", ".join(f"{text} ({count})" for text, count in ordered)


def _most_common_first(merged: Counter, wanted: int | None) -> list[tuple[str, int]]:
    """``merged``'s (text, count) by count, then natural order of the text (ties in insertion order);
    with ``wanted``, at least that many of the first (all of them when there are fewer)."""
    if wanted is None or len(merged) <= max(wanted, 256):
        return sorted(merged.items(), key=lambda kv: (-kv[1], natural_key(kv[0])))
    # a coarse key that orders as the full one does where it differs (count, then natural_prefix):
    # values coarsely after the wanted-th smallest cannot be among the first
    items = list(merged.items())
    coarse = [(-count, natural_prefix(text)) for text, count in items]
    threshold = heapq.nsmallest(wanted, coarse)[-1]
    candidates = [item for item, key in zip(items, coarse) if key <= threshold]
    return sorted(candidates, key=lambda kv: (-kv[1], natural_key(kv[0])))[:wanted]


def attributes_table(summaries: Sequence[AttributeSummary], *, wide: bool = False, no_headers: bool = False) -> str:
    rows = []
    for s in summaries:
        values = values_text(s) if wide else shorten(values_text(s, VALUES_WIDTH), VALUES_WIDTH)
        rows.append([strip_controls(s.driver), strip_controls(s.name), s.kind, str(s.devices), values])
    return format_table(ATTRIBUTE_COLUMNS, rows, no_headers=no_headers)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def attribute_item(s: AttributeSummary) -> dict:
    return {
        "driver": s.driver,
        "name": s.name,
        "kind": s.kind,
        "devices": s.devices,
        "values": [{"value": _plain(v), "count": c} for v, c in s.sorted_values()],
    }


def attribute_list(summaries: Sequence[AttributeSummary]) -> dict:
    return {"kind": "AttributeList", "items": [attribute_item(s) for s in summaries]}


def attribute_names(summaries: Sequence[AttributeSummary]) -> str:
    return "".join(f"{name}\n" for name in dict.fromkeys(s.name for s in summaries))


def class_problems(summaries: Sequence[ClassSummary]) -> list[str]:
    """The warnings ``classes`` prints: selectors that do not compile or fail on some devices."""
    problems = []
    for s in summaries:
        if s.compile_error is not None:
            problems.append(f"deviceclass {s.cls.name}: selector does not compile: {s.compile_error}")
        elif s.first_error is not None:
            index, device, message = s.first_error
            problems.append(
                f"deviceclass {s.cls.name}: selector #{index}: CEL runtime error on {s.errors} "
                f"device{'s' if s.errors != 1 else ''} (first: {device}: {message}); "
                "the scheduler stops on these: guard with device.driver == \"...\" or has()"
            )
    return problems


def no_attributes(views: Sequence[DeviceView], shown: Sequence[DeviceView], drivers: set[str], source: str | None) -> str:
    """What ``attributes`` says on stderr when it has nothing to list: ``views`` every device read,
    ``shown`` those of the ``drivers`` asked for."""
    if not views:
        return f"no DRA devices found in {source or 'the input'}"
    if not shown:
        known = sorted({v.device.driver for v in views})
        return f"no devices of driver {', '.join(sorted(drivers))} (drivers: {', '.join(known)})"
    return "the devices publish no attributes or capacities"
