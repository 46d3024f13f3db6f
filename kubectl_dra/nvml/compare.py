"""Drift between what NVML says a node's GPUs are and what the cluster has published.

Both sides are compared as ``kubectl_dra.model.device.Device`` objects: the expected slices
(``resourceslice.as_resourceslice``) go through the same decoder as the published ones, so
attribute kinds, qualified names and quantities are read the same way. ``old`` is always
the published value (what the cluster says), ``new`` the value NVML implies now.

Typical causes: the driver inventories GPUs once at plugin start, so a MIG change made
with ``nvidia-smi`` after that leaves the published slice stale (drivers.md §1.3, §1.7);
an older driver release publishes other keys (``index``, ``pcieBusID``); a GPU fell off
the bus (missing device).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from kubectl_dra.model.decode import decode_slice, split_api_version
from kubectl_dra.model.device import Device
from kubectl_dra.model.quantity import Quantity, QuantityError
from kubectl_dra.nvml.resourceslice import DRIVER

_MIG_NAME = re.compile(r"^gpu-\d+-mig-(?:.+-)?\d+-(\d+)(?:-\d+)?$")


@dataclass
class Change:
    """One attribute or capacity whose value differs."""

    device: str
    key: str  # fully qualified
    old: Any  # published
    new: Any  # expected from NVML
    kind: str = "attribute"  # or "capacity"

    def to_dict(self) -> dict:
        return {"device": self.device, "kind": self.kind, "key": self.key, "old": self.old, "new": self.new}


@dataclass
class KeyChange:
    """A key only one side has: ``removedKeys`` (published only) or ``addedKeys`` (expected only)."""

    device: str
    key: str
    value: Any
    kind: str = "attribute"

    def to_dict(self) -> dict:
        return {"device": self.device, "kind": self.kind, "key": self.key, "value": self.value}


@dataclass
class StaleMig:
    """A GPU whose published MIG layout is not the one NVML reports (``profile@start``, or ``gpu``)."""

    gpu_uuid: str
    published: list[str]
    actual: list[str]

    def to_dict(self) -> dict:
        return {"gpuUUID": self.gpu_uuid, "published": self.published, "actual": self.actual}


@dataclass
class Drift:
    node: str | None
    missing: list[str] = field(default_factory=list)  # expected device names not published
    extra: list[str] = field(default_factory=list)  # published device names NVML does not explain
    changed: list[Change] = field(default_factory=list)
    removed_keys: list[KeyChange] = field(default_factory=list)
    added_keys: list[KeyChange] = field(default_factory=list)
    stale_mig: list[StaleMig] = field(default_factory=list)
    #: published keys the snapshot could not check (its source does not report them, e.g. nvidia-smi
    #: without the PCIe root); not drift. Written only when there are some.
    unverified: list[KeyChange] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not (self.missing or self.extra or self.changed or self.removed_keys or self.added_keys or self.stale_mig)

    def to_dict(self) -> dict:
        return {
            "node": self.node,
            "inSync": self.in_sync,
            "missing": list(self.missing),
            "extra": list(self.extra),
            "changed": [c.to_dict() for c in self.changed],
            "removedKeys": [k.to_dict() for k in self.removed_keys],
            "addedKeys": [k.to_dict() for k in self.added_keys],
            "staleMig": [s.to_dict() for s in self.stale_mig],
        } | ({"unverified": [k.to_dict() for k in self.unverified]} if self.unverified else {})


# ---------------------------------------------------------------------------- inputs


def expected_devices(expected: Any) -> list[Device]:
    """Devices from ``as_resourceslice`` output (a List, one slice, or a list of slices), or Devices as they are."""
    if isinstance(expected, dict):
        items = expected.get("items") if expected.get("kind") == "List" else [expected]
    else:
        items = list(expected)
    out: list[Device] = []
    for item in items or []:
        if isinstance(item, Device):
            out.append(item)
        elif isinstance(item, dict) and item.get("kind") == "ResourceSlice":
            out.extend(decode_slice(item, split_api_version(str(item.get("apiVersion", "")))[1]).devices)
    return out


def _on_node(d: Device, node: str | None) -> bool:
    return node is None or d.node_name == node or d.pool == node


# ---------------------------------------------------------------------------- comparing


def _quantity_equal(a: str, b: str) -> bool:
    try:
        return Quantity.parse(a) == Quantity.parse(b)
    except QuantityError:
        return a == b


def _raw(d: Device, key: str) -> Any:
    """A value with its kind when the kind is not implied (``{"version": "9.0.0"}``), else plain."""
    kind = d.attr_kind(key)
    value = d.attributes[key]
    return {kind: value} if kind not in ("string", "int", "bool") else value


def _compare_device(name: str, old: Device, new: Device, drift: Drift, unknown: frozenset[str] = frozenset()) -> None:
    for key in sorted(set(old.attributes) | set(new.attributes)):
        if key not in new.attributes and key in unknown:
            drift.unverified.append(KeyChange(name, key, _raw(old, key)))
        elif key not in new.attributes:
            drift.removed_keys.append(KeyChange(name, key, _raw(old, key)))
        elif key not in old.attributes:
            drift.added_keys.append(KeyChange(name, key, _raw(new, key)))
        elif old.attributes[key] != new.attributes[key] or old.attr_kind(key) != new.attr_kind(key):
            drift.changed.append(Change(name, key, _raw(old, key), _raw(new, key)))
    for key in sorted(set(old.capacity) | set(new.capacity)):
        if key not in new.capacity:
            drift.removed_keys.append(KeyChange(name, key, old.capacity[key], "capacity"))
        elif key not in old.capacity:
            drift.added_keys.append(KeyChange(name, key, new.capacity[key], "capacity"))
        elif not _quantity_equal(old.capacity[key], new.capacity[key]):
            drift.changed.append(Change(name, key, old.capacity[key], new.capacity[key], "capacity"))


def _placement_start(d: Device) -> int | None:
    starts = [int(k.rsplit("memorySlice", 1)[1]) for k in d.capacity if k.rsplit("/", 1)[-1].startswith("memorySlice")
              and k.rsplit("memorySlice", 1)[1].isdigit()]  # fmt: skip
    if starts:
        return min(starts)
    m = _MIG_NAME.match(d.name)  # names are a fallback only (drivers.md §1.4: do not parse names)
    return int(m.group(1)) if m else None


def mig_layouts(devices: Iterable[Device]) -> dict[str, list[str]]:
    """Physical GPU uuid -> sorted layout entries: ``gpu`` for a whole GPU, ``profile@start`` per MIG device."""
    layouts: dict[str, list[str]] = {}
    for d in devices:
        kind = d.attr("type")
        if kind == "gpu" and d.attr("uuid"):
            layouts.setdefault(d.attr("uuid"), []).append("gpu")
        elif kind == "mig" and d.attr("parentUUID"):
            start = _placement_start(d)
            layouts.setdefault(d.attr("parentUUID"), []).append(f"{d.attr('profile', '?')}@{'?' if start is None else start}")
    return {k: sorted(v) for k, v in layouts.items()}


def compare(expected_slice_devices: Any, published_devices: Iterable[Device], *, node: str | None = None,
            unknown: Callable[[Device], frozenset[str]] | None = None) -> Drift:  # fmt: skip
    """Compare the devices NVML implies with the published ``gpu.nvidia.com`` devices.

    ``expected_slice_devices`` is ``as_resourceslice`` output (or decoded Devices);
    ``published_devices`` any Devices, of which only ``gpu.nvidia.com`` ones on the node
    are considered (the node defaults to the expected slices' ``nodeName``). Devices are
    matched by name. The MIG layout check is skipped under DynamicMIG, where published
    MIG devices are possible placements, not existing instances. ``unknown(expected device)``
    names the attribute keys the snapshot could not tell for it: a published key among them is
    listed in ``unverified``, not as a removed key (``smi.unknown_keys``).
    """
    expected = [d for d in expected_devices(expected_slice_devices) if d.driver == DRIVER]
    if node is None:
        node = next((d.node_name for d in expected if d.node_name), None)
    published = node_devices(published_devices, node)
    drift = Drift(node=node)
    want = {d.name: d for d in expected}
    have = {d.name: d for d in published}
    drift.missing = sorted(n for n in want if n not in have)
    drift.extra = sorted(n for n in have if n not in want)
    for name in sorted(set(want) & set(have)):
        _compare_device(name, have[name], want[name], drift, unknown(want[name]) if unknown else frozenset())
    dynamic = any(d.consumes_counters for d in expected) or any(d.consumes_counters for d in published)
    if not dynamic:
        old, new = mig_layouts(published), mig_layouts(expected)
        for gpu in sorted(set(old) | set(new)):
            a, b = old.get(gpu, []), new.get(gpu, [])
            if a != b and any(e != "gpu" for e in a + b):
                drift.stale_mig.append(StaleMig(gpu, a, b))
    return drift


def node_devices(devices: Iterable[Device], node: str | None) -> list[Device]:
    """The ``gpu.nvidia.com`` devices a node has published (its ``nodeName``, or a pool named after it)."""
    return [d for d in devices if d.driver == DRIVER and _on_node(d, node)]


@dataclass
class DriftReport:
    """A comparison and what it assumed: the driver release, DynamicMIG, and how many devices each side has."""

    drift: Drift
    style: str
    dynamic_mig: bool
    expected: int  # gpu.nvidia.com devices NVML implies
    published: int  # gpu.nvidia.com devices the node has published


def drift_report(snapshot: Any, published_devices: Iterable[Device], *, style: str | None = None,
                 dynamic_mig: bool | None = None) -> DriftReport:  # fmt: skip
    """``compare`` with the driver release and DynamicMIG mode read off the published devices
    unless given (``resourceslice.detect_style`` / ``detect_dynamic_mig``); keys a snapshot built
    from nvidia-smi outputs could not tell are unverified, not removed (``smi.unknown_keys``)."""
    from kubectl_dra.nvml.resourceslice import as_resourceslice, detect_dynamic_mig, detect_style
    from kubectl_dra.nvml.smi import unknown_keys

    published = node_devices(published_devices, snapshot.node)
    style = style or detect_style(published)
    dynamic = detect_dynamic_mig(published) if dynamic_mig is None else dynamic_mig
    expected = as_resourceslice(snapshot, style, dynamic_mig=dynamic)
    drift = compare(expected, published, node=snapshot.node, unknown=unknown_keys(snapshot))
    count = len([d for d in expected_devices(expected) if d.driver == DRIVER])
    return DriftReport(drift, style, dynamic, count, len(published))


def compare_snapshot(snapshot: Any, published_devices: Iterable[Device], *, style: str | None = None,
                     dynamic_mig: bool | None = None) -> Drift:  # fmt: skip
    """``drift_report`` without the report: the drift alone."""
    return drift_report(snapshot, published_devices, style=style, dynamic_mig=dynamic_mig).drift
