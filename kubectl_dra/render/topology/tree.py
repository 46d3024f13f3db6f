"""`topology` node view, the data: NUMA node → PCIe root → device → partitions (shapes: render/topology/__init__.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubectl_dra.model.cluster import Cluster, DeviceView, counters_left, natural_key
from kubectl_dra.model.computedomain import cliques, node_domains
from kubectl_dra.model.device import STANDARD_DOMAIN, Device
from kubectl_dra.model.quantity import Quantity, QuantityError
from kubectl_dra.render.devices import NUMA_KEYS, PCI_KEYS, device_type, first_attr, product, profile

if TYPE_CHECKING:
    from kubectl_dra.nvml.snapshot import Snapshot

API_VERSION = "kubectl-dra/v1"
PCIE_ROOT = f"{STANDARD_DOMAIN}/pcieRoot"

#: (attribute a partition publishes, attribute of the parent it names), per vendor (drivers.md §4.1 rule 5)
PARENT_LINKS = (("parentUUID", "uuid"), ("parentDeviceID", "deviceID"), ("parentPciAddr", "pciAddr"))
#: device types listed after the accelerators on a PCIe root
TRAILING_TYPES = ("nic", "cpu")
INDEXED = re.compile(r"^(.*?)-?(\d+)$")


@dataclass
class _Group:
    """A parent device (or a stand-in for one) and its partitions."""

    parent: DeviceView | None
    children: list[DeviceView] = field(default_factory=list)
    #: for a stand-in: the driver and pool, and what names it
    driver: str = ""
    pool: str = ""
    key_attribute: str | None = None
    key_value: Any = None
    counter_set: str | None = None
    linked: bool = False  # children found through a parent reference (static MIG, AMD), not counters

    @property
    def anchor(self) -> DeviceView:
        return self.parent if self.parent is not None else self.children[0]


def text_or_none(text: str) -> str | None:
    return None if text == "-" else text


def _numa(dev: Device) -> int | None:
    value = first_attr(dev, NUMA_KEYS)
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return None


def _pcie_root(dev: Device) -> str | None:
    value = dev.attr(PCIE_ROOT)
    if isinstance(value, list):
        return str(value[0]) if len(value) == 1 else None
    return None if value is None or value == "" else str(value)


def quantity_or_none(text: Any) -> Quantity | None:
    try:
        return Quantity.parse(str(text))
    except QuantityError:
        return None


def _consumed_sets(dev: Device) -> list[str]:
    return [str(e.get("counterSet", "")) for e in dev.consumes_counters if isinstance(e, dict)]


def _is_whole(dev: Device, totals: dict[str, str], set_name: str) -> bool:
    """Consumes every counter of its set in full (``gpu-0-full``, a Hopper full GPU), or says ``full``."""
    if dev.attr("full") is True:
        return True
    for entry in dev.consumes_counters:
        if not isinstance(entry, dict) or entry.get("counterSet") != set_name:
            continue
        counters = entry.get("counters") or {}
        for cname, total in totals.items():
            want = quantity_or_none(total)
            if want is None or want.is_zero():
                continue
            raw = counters.get(cname)
            have = quantity_or_none(raw.get("value") if isinstance(raw, dict) else raw) if raw is not None else None
            if have is None or have < want:
                return False
        return bool(totals)
    return False


def _group_devices(views: Sequence[DeviceView], cluster: Cluster) -> tuple[list[_Group], list[DeviceView]]:
    """Parents with their partitions, and the devices that are neither."""
    pools = {p.key: p for p in cluster.pools}
    targets: dict[tuple[str, str, str], DeviceView] = {}
    for view in views:
        for _, parent_attr in PARENT_LINKS:
            value = view.device.attr(parent_attr)
            if value is not None:
                targets.setdefault((view.device.driver, parent_attr, str(value)), view)
    groups: dict[Any, _Group] = {}
    grouped: set[tuple[str, str, str]] = set()
    # 1. explicit references: parentUUID / parentDeviceID / parentPciAddr
    for view in views:
        dev = view.device
        for child_attr, parent_attr in PARENT_LINKS:
            value = dev.attr(child_attr)
            if value is None:
                continue
            parent = targets.get((dev.driver, parent_attr, str(value)))
            if parent is view:
                parent = None
            key: Any = parent.device.key if parent is not None else ("ref", dev.driver, dev.pool, parent_attr, str(value))
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(parent, driver=dev.driver, pool=dev.pool, linked=True)
                if parent is None:
                    group.key_attribute = f"{dev.driver}/{parent_attr}"
                    group.key_value = value
            group.children.append(view)
            grouped.add(dev.key)
            break
    for group in groups.values():
        if group.parent is not None:
            grouped.add(group.parent.device.key)
    # 2. shared counters without references: the set's whole device is the parent
    by_set: dict[tuple[str, str, str], _Group] = {}
    for group in groups.values():
        for member in ([group.parent] if group.parent else []) + group.children:
            for set_name in _consumed_sets(member.device):
                by_set.setdefault((member.device.driver, member.device.pool, set_name), group)
    loose: dict[tuple[str, str, str], list[DeviceView]] = {}
    for view in views:
        dev = view.device
        if dev.key in grouped or not dev.consumes_counters:
            continue
        sets = _consumed_sets(dev)
        if not sets:
            continue
        set_key = (dev.driver, dev.pool, sets[0])
        if set_key in by_set:
            by_set[set_key].children.append(view)
            grouped.add(dev.key)
        else:
            loose.setdefault(set_key, []).append(view)
    for set_key, members in loose.items():
        pool = pools.get(set_key[:2])
        totals = pool.counter_sets.get(set_key[2], {}) if pool else {}
        whole = [v for v in members if _is_whole(v.device, totals, set_key[2])]
        if len(members) == 1:
            continue  # a lone consumer is just a device
        parent = whole[0] if whole else None
        group = _Group(parent, driver=set_key[0], pool=set_key[1])
        if parent is None:
            group.counter_set = set_key[2]
        group.children = [v for v in members if v is not parent]
        groups[("set", *set_key)] = group
        grouped.update(v.device.key for v in members)
    for group in groups.values():
        group.children.sort(key=lambda v: natural_key(v.device.name))
    singles = [v for v in views if v.device.key not in grouped]
    return list(groups.values()), singles


def _allocations(view: DeviceView) -> list[dict]:
    return [{"claim": h.claim.ref, "request": h.result.request, "pods": list(h.pods)} for h in view.holders]


def _device_entry(view: DeviceView, *, partition: bool = False) -> dict:
    dev = view.device
    uuid = dev.attr("uuid")
    entry: dict[str, Any] = {
        "name": dev.name,
        "driver": dev.driver,
        "pool": dev.pool,
        "type": text_or_none(device_type(dev)),
        "product": text_or_none(product(dev)),
        "memory": dev.cap("memory"),
        "uuid": None if uuid is None else str(uuid),
        "pciBusID": first_attr(dev, PCI_KEYS),
        "state": view.state,
        "allocations": _allocations(view),
    }
    roots = dev.attr(PCIE_ROOT)
    if isinstance(roots, list) and len(roots) > 1:
        entry["pcieRoots"] = list(roots)
    if partition:
        entry["profile"] = text_or_none(profile(dev))
    if view.blocked_by:
        entry["blockedBy"] = list(view.blocked_by)
    if dev.taints:
        entry["taints"] = [
            {"key": t.get("key"), "value": t.get("value"), "effect": t.get("effect")} for t in dev.taints if isinstance(t, dict)
        ]
    if dev.consumes_counters:
        entry["consumesCounters"] = list(dev.consumes_counters)
    return entry


def _counter_sets(group: _Group, cluster: Cluster, cache: dict) -> list[dict]:
    members = ([group.parent] if group.parent else []) + group.children
    names = list(dict.fromkeys(s for m in members for s in _consumed_sets(m.device)))
    if not names:
        return []
    pools = cache.get("pools")
    if pools is None:
        pools = cache["pools"] = {p.key: p for p in cluster.pools}
    pool = pools.get((group.driver, group.pool))
    if pool is None:
        return []
    if pool.key not in cache:
        if "index" not in cache:
            cache["index"] = cluster.device_index()
        cache[pool.key] = counters_left(pool, cache["index"])[0]
    left = cache[pool.key]
    sets = []
    for name in names:
        totals = pool.counter_sets.get(name)
        if totals is None:
            continue
        counters = {}
        for cname, total in totals.items():
            remaining = left.get((name, cname))
            counters[cname] = {"total": total, "left": None if remaining is None else str(remaining)}
        sets.append({"name": name, "counters": counters})
    return sets


def _group_entry(group: _Group, cluster: Cluster, cache: dict) -> dict:
    children = [_device_entry(v, partition=True) for v in group.children]
    if group.parent is not None:
        entry = _device_entry(group.parent)
    else:
        first = group.children[0].device
        buses = {first_attr(v.device, PCI_KEYS) for v in group.children}
        is_uuid = bool(group.key_attribute and group.key_attribute.endswith("/uuid"))
        entry = {
            "name": None,
            "driver": group.driver,
            "pool": group.pool,
            "type": None,
            "product": text_or_none(product(first)),
            "memory": None,
            "uuid": str(group.key_value) if is_uuid else None,
            "pciBusID": buses.pop() if len(buses) == 1 else None,
            "state": "partitioned",
            "allocations": [],
            "published": False,
        }
        if group.key_attribute:
            entry["parentKey"] = {"attribute": group.key_attribute, "value": group.key_value}
        if group.counter_set:
            entry["counterSet"] = group.counter_set
    sets = _counter_sets(group, cluster, cache)
    entry["partitioning"] = "sharedCounters" if sets else "static"
    if sets:
        entry["counterSets"] = sets
        free: dict[str, int] = {}
        for child in children:
            if child["state"] == "free":
                key = child.get("profile") or child["name"]
                free[key] = free.get(key, 0) + 1
        entry["freePlacements"] = free
    entry["partitions"] = children
    return entry


def _sort_key(entry: dict) -> tuple:
    name = entry["name"] or (entry["partitions"][0]["name"] if entry.get("partitions") else "")
    return (entry.get("type") in TRAILING_TYPES, entry["driver"], natural_key(name))


def node_names(cluster: Cluster) -> list[str]:
    """Nodes the input knows: from Node objects and from the devices' slices."""
    names = {n.name for n in cluster.nodes}
    names.update(v.device.node_name for v in cluster.device_views() if v.device.node_name)
    return sorted(names, key=natural_key)


def node_topology(
    cluster: Cluster, node: str, *, nvml: Snapshot | dict | None = None, compute_domains: Iterable[dict] = ()
) -> dict:
    """The node view's data; with ``nvml`` (a snapshot, or its dict form) the NVML facts joined in."""
    views = [v for v in cluster.device_views() if v.device.node_name == node]
    groups, singles = _group_devices(views, cluster)
    cache: dict = {}
    placed: list[tuple[int | None, str | None, dict]] = []
    located = [(g.anchor.device, _group_entry(g, cluster, cache)) for g in groups]
    located += [(v.device, _device_entry(v)) for v in singles]
    # a root's NUMA node, from the devices on it that publish one
    root_numa: dict[str, set[int]] = {}
    for view in views:
        root, numa = _pcie_root(view.device), _numa(view.device)
        if root is not None and numa is not None:
            root_numa.setdefault(root, set()).add(numa)
    for dev, entry in located:
        root, numa = _pcie_root(dev), _numa(dev)
        if numa is None and root is not None and len(root_numa.get(root, ())) == 1:
            numa = next(iter(root_numa[root]))
        placed.append((numa, root, entry))
    numa_map: dict[int | None, dict[str | None, list[dict]]] = {}
    for numa, root, entry in placed:
        numa_map.setdefault(numa, {}).setdefault(root, []).append(entry)
    numa_list = []
    for numa in sorted(numa_map, key=lambda n: (n is None, n or 0)):
        roots = numa_map[numa]
        numa_list.append(
            {
                "id": numa,
                "pcieRoots": [
                    {"id": root, "devices": sorted(roots[root], key=_sort_key)}
                    for root in sorted(roots, key=lambda r: (r is None, natural_key(r or "")))
                ],
            }
        )
    data: dict[str, Any] = {
        "kind": "NodeTopology",
        "apiVersion": API_VERSION,
        "node": node,
        "clique": cliques([n for n in cluster.nodes if n.name == node], compute_domains).get(node),
        "computeDomains": node_domains(compute_domains, node),
        "numa": numa_list,
    }
    if nvml is not None:
        data["nvml"] = merge_nvml(data, nvml)
    return data


def merge_nvml(data: dict, nvml: Snapshot | dict) -> dict:
    """Join an NVML snapshot (or its dict form, read by ``Snapshot.from_dict``) to a node view's devices:
    annotate them, and return the node-level facts (``kubectl_dra.nvml.join``)."""
    from kubectl_dra.nvml.join import join_nvml
    from kubectl_dra.nvml.snapshot import Snapshot

    snapshot = nvml if isinstance(nvml, Snapshot) else Snapshot.from_dict(nvml)
    return join_nvml(iter_devices(data), snapshot)


def iter_devices(data: dict) -> Iterable[dict]:
    """Every top-level device entry of a node view (parents and single devices)."""
    for numa in data["numa"]:
        for root in numa["pcieRoots"]:
            yield from root["devices"]


