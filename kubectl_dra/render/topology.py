"""`topology`: one node as NUMA node → PCIe root → device → partitions, or the cluster by NVLink clique.

Data first, text second: ``node_topology`` and ``cluster_topology`` build plain dicts (what
``-o json|yaml`` prints) and ``node_tree`` / ``cluster_tree`` turn those dicts into a tree of
aligned rows, printed as plain text (``plain_text``) or as a rich ``Tree`` (``rich_tree``) on a
colour terminal. Device data is never read as rich markup: rows are ``Text`` objects and control
characters are replaced before anything reaches a terminal.

Node view (``kubectl dra topology NODE -o json``)::

    {"kind": "NodeTopology", "apiVersion": "kubectl-dra/v1",
     "node": "dgx-h100-01",
     "clique": "<clusterUUID>.<cliqueID>" | null,      # node label nvidia.com/gpu.clique
     "computeDomains": ["ns/name", ...],               # ComputeDomains whose status lists the node
     "numa": [                                         # NUMA ids ascending, null (unknown) last
       {"id": 0 | null,
        "pcieRoots": [                                 # natural order, null (unknown) last
          {"id": "pci0000:15" | null,
           "devices": [DEVICE, ...]}]}],               # accelerators first, then NICs / CPUs
     "nvml": NVML}                                     # only with --nvml / --local

    DEVICE = {"name", "driver", "pool", "type", "product", "memory", "uuid", "pciBusID",
              "state",            # free | allocated | reserved | tainted | consumed-by-partition
                                  # | partitioned (a parent that is not itself published)
              "allocations": [{"claim": "ns/name", "request", "pods": [...]}],
              # only when they apply:
              "blockedBy": [device names whose allocation uses the counters this device needs],
              "pcieRoots": [...],               # a device on several roots (listed under unknown)
              "taints": [{"key", "value", "effect"}],
              "consumesCounters": [... as published ...],
              "published": false,                  # a parent known only from its partitions
              "parentKey": {"attribute", "value"},  # ... and what names it (e.g. gpu.nvidia.com/uuid)
              "partitioning": "static" | "sharedCounters",
              "counterSets": [{"name", "counters": {NAME: {"total", "left"}}}],
              "freePlacements": {"1g.10gb": 4, ...},   # free partitions by profile (they may overlap)
              "partitions": [DEVICE + "profile", ...],
              "nvml": {"index", "nvlinkGroup", "nvlinks", "fabricClique"}}

Which devices are partitions: a device naming a parent through ``parentUUID`` (NVIDIA MIG),
``parentDeviceID`` or ``parentPciAddr`` (AMD) goes under the device publishing that ``uuid`` /
``deviceID`` / ``pciAddr`` — or under a parent built from those references when the driver does
not publish the whole device (static MIG). Devices that consume a shared counter set
(KEP-4815: DynamicMIG, the example driver) without such a reference go under the device of their
set that consumes all of it (``gpu-0-full``), else under the set itself. States and blockers are
the model's (``Cluster.device_views``, ``counters_left``): the scheduler's own counter check.

Placement: ``resource.kubernetes.io/pcieRoot`` (a list with more than one root counts as
unknown) and the NUMA node from ``resource.kubernetes.io/numaNode``, ``numaNode``,
``dra.net/numaNode``… (a list's first entry: the physical node). A device that publishes a PCIe
root but no NUMA node goes to the NUMA node the other devices on that root publish.

Cluster view (``kubectl dra topology -o json``)::

    {"kind": "ClusterTopology", "apiVersion": "kubectl-dra/v1",
     "nodes": N, "devices": N, "free": N,
     "domains": [                                     # cliques sorted, the unlabelled rest last
       {"clique": "<clusterUUID>.<cliqueID>" | null,
        "computeDomains": ["ns/name", ...],
        "nodes": ["node", ...], "devices": N, "free": N,
        "products": [{"product", "driver", "type", "devices", "free",
                      "overlapping",                  # they consume shared counters (partitions)
                      "nodes": [{"node", "devices", "free"}]}]}],
     "computeDomains": [{"namespace", "name", "status", "nodes": [{"name", "cliqueID"}]}]}

A node's clique is its ``nvidia.com/gpu.clique`` label, else the ``cliqueID`` a ComputeDomain's
status gives for it. ``free`` counts devices in state ``free`` (partitions of one GPU overlap:
their free counts are not all usable at once).

NVML facts (``nvml`` parameter: the plain dict of a kubectl_dra.nvml snapshot)::

    {"node": "...",                                    # optional
     "gpus": [{"index": 0, "uuid": "GPU-…", "pciBusId": "00000000:1A:00.0",
               "nvlinks": [{"link": 0, "active": true,  # or "state": "active"/"up"
                            "remotePciBusId": "…",     # the peer GPU's bus id
                            "remoteType": "gpu" | "switch"}],
               "fabric": {"clusterUuid": "…", "cliqueId": 1, "state": "completed",
                          "status": "success"} | null}],      # a clique only when attached
     "topology": {"gpus": ["GPU0", ...],              # labels, indices or {"index"/"uuid"}
                  "matrix": [["X", "NV18", ...], ...]}}  # or {"GPU0": {"GPU1": "NV18"}}

GPUs are matched to DRA devices by UUID, else by PCI bus id (normalised to ``dddd:bb:dd.f``).
NVLink peer groups are the connected components of direct GPU–GPU links, of GPUs linked to an
NVSwitch (one fabric per node), and of ``NV*`` matrix entries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_dra.model.cluster import Cluster, DeviceView, counters_left, natural_key
from kubectl_dra.model.device import STANDARD_DOMAIN, Device
from kubectl_dra.model.quantity import Quantity, QuantityError
from kubectl_dra.render.columns import strip_controls
from kubectl_dra.render.devices import (
    NUMA_KEYS,
    PCI_KEYS,
    STATE_STYLE,
    device_type,
    first_attr,
    human_quantity,
    product,
    profile,
    short_driver,
)

API_VERSION = "kubectl-dra/v1"
CLIQUE_LABEL = "nvidia.com/gpu.clique"
PCIE_ROOT = f"{STANDARD_DOMAIN}/pcieRoot"

#: (attribute a partition publishes, attribute of the parent it names), per vendor (drivers.md §4.1 rule 5)
PARENT_LINKS = (("parentUUID", "uuid"), ("parentDeviceID", "deviceID"), ("parentPciAddr", "pciAddr"))
#: device types listed after the accelerators on a PCIe root
_TRAILING_TYPES = ("nic", "cpu")
_INDEXED = re.compile(r"^(.*?)-?(\d+)$")


# ============================================================================ node view: data


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


def _text_or_none(text: str) -> str | None:
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


def _quantity(text: Any) -> Quantity | None:
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
            want = _quantity(total)
            if want is None or want.is_zero():
                continue
            raw = counters.get(cname)
            have = _quantity(raw.get("value") if isinstance(raw, dict) else raw) if raw is not None else None
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
        "type": _text_or_none(device_type(dev)),
        "product": _text_or_none(product(dev)),
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
        entry["profile"] = _text_or_none(profile(dev))
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
    pool = next((p for p in cluster.pools if p.key == (group.driver, group.pool)), None)
    if pool is None:
        return []
    if pool.key not in cache:
        cache[pool.key] = counters_left(pool, cluster.device_index())[0]
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
            "product": _text_or_none(product(first)),
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
    return (entry.get("type") in _TRAILING_TYPES, entry["driver"], natural_key(name))


def node_names(cluster: Cluster) -> list[str]:
    """Nodes the input knows: from Node objects and from the devices' slices."""
    names = {n.name for n in cluster.nodes}
    names.update(v.device.node_name for v in cluster.device_views() if v.device.node_name)
    return sorted(names, key=natural_key)


def node_topology(
    cluster: Cluster, node: str, *, nvml: dict | None = None, compute_domains: Iterable[dict] = ()
) -> dict:
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
    labels = next((n.labels for n in cluster.nodes if n.name == node), {})
    data: dict[str, Any] = {
        "kind": "NodeTopology",
        "apiVersion": API_VERSION,
        "node": node,
        "clique": labels.get(CLIQUE_LABEL) or _cd_clique(compute_domains, node),
        "computeDomains": [cd["namespace"] + "/" + cd["name"] for cd in compute_domains if node in {n["name"] for n in cd["nodes"]}],
        "numa": numa_list,
    }
    if nvml is not None:
        data["nvml"] = merge_nvml(data, nvml)
    return data


def iter_devices(data: dict) -> Iterable[dict]:
    """Every top-level device entry of a node view (parents and single devices)."""
    for numa in data["numa"]:
        for root in numa["pcieRoots"]:
            yield from root["devices"]


# ============================================================================ NVML


def normalize_bus_id(value: Any) -> str | None:
    """``00000000:1A:00.0`` (NVML) and ``0000:1a:00.0`` (DRA) to ``0000:1a:00.0``."""
    if value is None:
        return None
    text = str(value).strip().lower()
    parts = text.split(":")
    if len(parts) == 3:
        parts[0] = parts[0][-4:].rjust(4, "0")
    elif len(parts) == 2:
        parts.insert(0, "0000")
    return ":".join(parts) or None


def _link_active(link: dict) -> bool:
    if "active" in link:
        return bool(link["active"])
    state = link.get("state", True)
    if isinstance(state, str):
        return state.lower() in ("active", "up", "enabled", "on", "1", "true")
    return bool(state)


def _link_remote(link: dict) -> tuple[str | None, bool]:
    """(remote bus id, remote is a switch)."""
    remote = next((link[k] for k in ("remotePciBusId", "remotePciBusID", "remoteBusId", "remote") if link.get(k)), None)
    kind = str(next((link[k] for k in ("remoteType", "remoteDeviceType", "type") if link.get(k) is not None), "")).lower()
    return normalize_bus_id(remote), "switch" in kind


def _fabric_clique(fabric: Any) -> str | None:
    """``<clusterUuid>.<cliqueId>`` of a GPU attached to an NVLink fabric (go-nvlib ``IsFabricAttached``)."""
    if isinstance(fabric, str):
        return fabric or None
    if not isinstance(fabric, dict):
        return None
    if fabric.get("clique"):
        return str(fabric["clique"])
    if fabric.get("state", "completed") != "completed" or fabric.get("status", "success") != "success":
        return None
    cluster_uuid, clique = fabric.get("clusterUuid") or fabric.get("clusterUUID"), fabric.get("cliqueId", fabric.get("cliqueID"))
    if not cluster_uuid or str(cluster_uuid).strip("0-") == "" or clique is None:
        return None
    return f"{cluster_uuid}.{clique}"


def merge_nvml(data: dict, nvml: dict) -> dict:
    """Join an NVML snapshot to a node view's devices; annotate them, and return the node-level facts."""
    raw_gpus = nvml.get("gpus") if isinstance(nvml, dict) else None
    gpus = [g for g in raw_gpus or [] if isinstance(g, dict)]
    entries = list(iter_devices(data))
    by_uuid = {e["uuid"]: e for e in entries if e.get("uuid")}
    by_bus = {normalize_bus_id(e["pciBusID"]): e for e in entries if e.get("pciBusID") and e.get("type") not in _TRAILING_TYPES}
    matched: list[dict | None] = []
    for gpu in gpus:
        entry = by_uuid.get(gpu.get("uuid")) or by_bus.get(normalize_bus_id(gpu.get("pciBusId") or gpu.get("pciBusID")))
        matched.append(entry)
    # connected components over NVLink
    parent = list(range(len(gpus)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    bus_index = {normalize_bus_id(g.get("pciBusId") or g.get("pciBusID")): i for i, g in enumerate(gpus)}
    linked = [False] * len(gpus)
    switched: list[int] = []
    active_links = [0] * len(gpus)
    for i, gpu in enumerate(gpus):
        on_switch = False
        for link in gpu.get("nvlinks") or []:
            if not isinstance(link, dict) or not _link_active(link):
                continue
            active_links[i] += 1
            remote, is_switch = _link_remote(link)
            if is_switch:
                on_switch = True
            elif remote in bus_index and bus_index[remote] != i:
                union(i, bus_index[remote])
                linked[i] = linked[bus_index[remote]] = True
        if on_switch:
            switched.append(i)
    for i in switched[1:]:
        union(switched[0], i)
    for i in switched:
        linked[i] = len(switched) > 1 or linked[i]
    matrix = _matrix(nvml, gpus)
    if matrix is not None:
        for a, row in enumerate(matrix["rows"]):
            for b, cell in enumerate(row):
                if a >= len(matrix["index"]) or b >= len(matrix["index"]):
                    continue
                ia, ib = matrix["index"][a], matrix["index"][b]
                if ia is not None and ib is not None and ia != ib and str(cell).upper().startswith("NV"):
                    union(ia, ib)
                    linked[ia] = linked[ib] = True
    members: dict[int, list[int]] = {}
    for i in range(len(gpus)):
        if linked[i]:
            members.setdefault(find(i), []).append(i)
    groups = []
    group_of: dict[int, int] = {}
    for number, root in enumerate(sorted(members, key=lambda r: min(members[r])), start=1):
        idx = members[root]
        for i in idx:
            group_of[i] = number
        groups.append(
            {
                "id": number,
                "gpus": [gpus[i].get("index", i) for i in idx],
                "devices": [matched[i]["name"] if matched[i] else None for i in idx],
                "via": "nvswitch" if any(i in switched for i in idx) else "nvlink",
            }
        )
    unmatched = []
    for i, gpu in enumerate(gpus):
        facts = {
            "index": gpu.get("index", i),
            "nvlinkGroup": group_of.get(i),
            "nvlinks": active_links[i],
            "fabricClique": _fabric_clique(gpu.get("fabric")),
        }
        if matched[i] is not None:
            matched[i]["nvml"] = facts
        else:
            unmatched.append({"index": facts["index"], "uuid": gpu.get("uuid"), "pciBusId": gpu.get("pciBusId") or gpu.get("pciBusID")})
    result: dict[str, Any] = {"groups": groups, "unmatched": unmatched}
    cliques = sorted({c for c in (_fabric_clique(g.get("fabric")) for g in gpus) if c})
    if cliques:
        result["fabricCliques"] = cliques
    if matrix is not None:
        result["matrix"] = {
            "gpus": matrix["labels"],
            "devices": [matched[i]["name"] if i is not None and matched[i] else None for i in matrix["index"]],
            "rows": matrix["rows"],
        }
    return result


def _matrix(nvml: dict, gpus: list[dict]) -> dict | None:
    """The topo -m matrix as labels, rows of strings, and each label's position in ``gpus``."""
    topo = nvml.get("topology") if isinstance(nvml, dict) else None
    if not isinstance(topo, dict):
        return None
    raw_labels, raw_matrix = topo.get("gpus"), topo.get("matrix")
    if isinstance(raw_matrix, dict):
        labels = [str(k) for k in raw_matrix] if not isinstance(raw_labels, list) else raw_labels
        def cell(a: Any, b: Any) -> str:
            row = raw_matrix.get(str(a)) or raw_matrix.get(str(_label(a))) or {}
            return str(row.get(str(b), row.get(str(_label(b)), ""))) if isinstance(row, dict) else ""

        rows = [[cell(a, b) for b in labels] for a in labels]
    elif isinstance(raw_matrix, list):
        rows = [[str(c) for c in row] if isinstance(row, list) else [] for row in raw_matrix]
        if not isinstance(raw_labels, list) or len(raw_labels) != len(rows):
            # no usable labels: rows follow the snapshot's GPUs
            raw_labels = [gpus[i].get("index", i) if i < len(gpus) else i for i in range(len(rows))]
        labels = raw_labels
    else:
        return None
    by_index = {g.get("index", i): i for i, g in enumerate(gpus)}
    by_uuid = {g.get("uuid"): i for i, g in enumerate(gpus) if g.get("uuid")}
    index: list[int | None] = []
    for pos, label in enumerate(labels):
        found: int | None = None
        if isinstance(label, dict):
            found = by_uuid.get(label.get("uuid"), by_index.get(label.get("index")))
        elif isinstance(label, int) and not isinstance(label, bool):
            found = by_index.get(label)
        else:
            text = str(label)
            digits = re.fullmatch(r"(?i)gpu\s*(\d+)", text)
            found = by_index.get(int(digits.group(1))) if digits else by_uuid.get(text)
        if found is None and len(labels) == len(gpus):
            found = pos
        index.append(found)
    return {"labels": [str(_label(x)) for x in labels], "rows": rows, "index": index}


def _label(label: Any) -> Any:
    """How a matrix label prints: ``GPU<index>`` for indices, as nvidia-smi topo -m does."""
    if isinstance(label, dict):
        return f"GPU{label['index']}" if "index" in label else label.get("uuid", "?")
    if isinstance(label, int) and not isinstance(label, bool):
        return f"GPU{label}"
    return label


# ============================================================================ cluster view: data


def compute_domain_entry(obj: dict) -> dict | None:
    """A ComputeDomain (resource.nvidia.com) as ``{"namespace", "name", "status", "nodes"}``."""
    if not isinstance(obj, dict) or obj.get("kind") != "ComputeDomain":
        return None
    if not str(obj.get("apiVersion", "")).startswith("resource.nvidia.com/"):
        return None
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    nodes = []
    for n in status.get("nodes") or []:
        if isinstance(n, dict) and n.get("name"):
            nodes.append({"name": str(n["name"]), "cliqueID": n.get("cliqueID")})
    return {
        "namespace": str(meta.get("namespace") or "default"),
        "name": str(meta.get("name") or ""),
        "status": status.get("status"),
        "nodes": nodes,
    }


def _cd_clique(compute_domains: Iterable[dict], node: str) -> str | None:
    for cd in compute_domains:
        for n in cd["nodes"]:
            if n["name"] == node and n.get("cliqueID"):
                return str(n["cliqueID"])
    return None


def cluster_topology(cluster: Cluster, compute_domains: Sequence[dict] = ()) -> dict:
    views = cluster.device_views()
    clique_of: dict[str, str | None] = {n.name: n.labels.get(CLIQUE_LABEL) or None for n in cluster.nodes}
    for cd in compute_domains:
        for n in cd["nodes"]:
            if not clique_of.get(n["name"]) and n.get("cliqueID"):
                clique_of[n["name"]] = str(n["cliqueID"])
    domains: dict[str | None, dict] = {}

    def domain(clique: str | None) -> dict:
        d = domains.get(clique)
        if d is None:
            d = domains[clique] = {"clique": clique, "computeDomains": [], "nodes": [], "devices": 0, "free": 0, "products": {}}
        return d

    for name in clique_of:
        domain(clique_of[name])["nodes"].append(name)
    for view in views:
        dev = view.device
        # a device without a node of its own (allNodes, a node selector) is listed under
        # `<all nodes>` / `<node selector>`, which are not nodes: they are not counted as such
        node = dev.node_name or dev.node_label
        if dev.node_name and node not in clique_of:
            clique_of[node] = None
            domain(None)["nodes"].append(node)
        d = domain(clique_of.get(node))
        free = view.state == "free"
        d["devices"] += 1
        d["free"] += free
        key = (product(dev), dev.driver, device_type(dev))
        prod = d["products"].get(key)
        if prod is None:
            prod = d["products"][key] = {
                "product": _text_or_none(key[0]),
                "driver": dev.driver,
                "type": _text_or_none(key[2]),
                "devices": 0,
                "free": 0,
                "overlapping": False,
                "nodes": {},
            }
        prod["devices"] += 1
        prod["free"] += free
        if dev.consumes_counters and not prod.get("overlapping"):
            prod["overlapping"] = True
        counts = prod["nodes"].setdefault(node, [0, 0])
        counts[0] += 1
        counts[1] += free
    for cd in compute_domains:
        ref = f"{cd['namespace']}/{cd['name']}"
        cliques = {clique_of.get(n["name"]) for n in cd["nodes"]} or {None}
        for clique in sorted(cliques, key=lambda c: (c is None, c or "")):
            domain(clique)["computeDomains"].append(ref)
    out = []
    for clique in sorted(domains, key=lambda c: (c is None, c or "")):
        d = domains[clique]
        d["nodes"] = sorted(d["nodes"], key=natural_key)
        products = sorted(
            d["products"].values(),
            key=lambda p: (p["type"] in _TRAILING_TYPES, p["product"] is None, p["product"] or "", p["driver"], p["type"] or ""),
        )
        for p in products:
            p["nodes"] = [
                {"node": n, "devices": c[0], "free": c[1]} for n, c in sorted(p["nodes"].items(), key=lambda kv: natural_key(kv[0]))
            ]
        d["products"] = products
        out.append(d)
    return {
        "kind": "ClusterTopology",
        "apiVersion": API_VERSION,
        "nodes": len(clique_of),
        "devices": len(views),
        "free": sum(v.state == "free" for v in views),
        "domains": out,
        "computeDomains": list(compute_domains),
    }


# ============================================================================ text


@dataclass
class Row:
    """One tree line: cells (text, style) aligned with sibling rows of the same kind."""

    cells: list[tuple[str, str | None]]
    kind: str = "info"
    children: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.children.append(row)
        return row


def _align(rows: list[Row]) -> None:
    """Pad the cells of every row of one kind, all through the tree, to common widths (the last
    cell is not padded). Rows of one kind sit at one depth, so their columns line up."""
    by_kind: dict[str, list[Row]] = {}

    def collect(row: Row) -> None:
        if len(row.cells) > 1 and row.kind != "title":
            by_kind.setdefault(row.kind, []).append(row)
        for child in row.children:
            collect(child)

    for row in rows:
        collect(row)
    for group in by_kind.values():
        ncols = max(len(r.cells) for r in group)
        widths = [0] * ncols
        for r in group:
            for i, (text, _) in enumerate(r.cells[:-1]):
                widths[i] = max(widths[i], len(text))
        for r in group:
            last = len(r.cells) - 1
            r.cells = [(text if i == last else text.ljust(widths[i]), style) for i, (text, style) in enumerate(r.cells)]


def _line(row: Row) -> str:
    return "  ".join(text for text, _ in row.cells).rstrip()


def plain_text(root: Row) -> str:
    lines = [_line(root)]

    def walk(row: Row, prefix: str) -> None:
        last_index = len(row.children) - 1
        for i, child in enumerate(row.children):
            last = i == last_index
            lines.append(prefix + ("└── " if last else "├── ") + _line(child))
            walk(child, prefix + ("    " if last else "│   "))

    walk(root, "")
    return "\n".join(lines) + "\n"


def rich_tree(root: Row):
    """The same tree as a rich ``Tree`` of ``Text`` labels (never parsed as markup)."""
    from rich.text import Text
    from rich.tree import Tree

    def label(row: Row) -> Text:
        text = Text(no_wrap=False)
        for i, (cell, style) in enumerate(row.cells):
            if i:
                text.append("  ")
            text.append(cell, style=style or "")
        text.rstrip()
        return text

    def build(row: Row, tree: Tree) -> None:
        for child in row.children:
            build(child, tree.add(label(child)))

    tree = Tree(label(root), guide_style="dim")
    build(root, tree)
    return tree


def _s(value: Any) -> str:
    """Data as display text: control characters replaced, empty as '-'."""
    if value is None or value == "":
        return "-"
    return strip_controls(str(value))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _holders_text(entry: dict) -> str:
    allocations = entry.get("allocations") or []
    if not allocations:
        return ""
    claims = ", ".join(dict.fromkeys(_s(a["claim"]) for a in allocations))
    pods = list(dict.fromkeys(p for a in allocations for p in a.get("pods") or []))
    if pods:
        return f"{claims} (pod{'s' if len(pods) > 1 else ''} {_s(', '.join(pods))})"
    return claims


def _state_cells(entry: dict, claims_by_name: dict[str, str]) -> list[tuple[str, str | None]]:
    state = entry["state"]
    if state == "consumed-by-partition":
        blockers = []
        for name in entry.get("blockedBy") or []:
            claim = claims_by_name.get(name)
            blockers.append(_s(name) + (f" ({claim})" if claim else ""))
        return [("blocked", STATE_STYLE[state]), ("by " + ", ".join(blockers) if blockers else "", None)]
    if state == "tainted":
        taints = [t for t in entry.get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")]
        detail = ", ".join(f"{_s(t['key'])}{'=' + _s(t['value']) if t.get('value') else ''}:{_s(t['effect'])}" for t in taints)
        return [("tainted", STATE_STYLE[state]), (detail, None)]
    if state == "partitioned":
        n = len(entry.get("partitions") or [])
        what = "not published itself" if entry.get("published") is False else ""
        return [("partitioned", "blue"), (f"{what}; {_plural(n, 'partition')}" if what else _plural(n, "partition"), "dim")]
    return [(_s(state), STATE_STYLE.get(state)), (_holders_text(entry), None)]


def _placement(entry: dict) -> str:
    """The indexed counters a partition takes (``memory-slice 4-7``), else its UUID."""
    families: dict[str, list[int]] = {}
    for consumption in entry.get("consumesCounters") or []:
        for cname in (consumption.get("counters") or {}) if isinstance(consumption, dict) else {}:
            m = _INDEXED.match(str(cname))
            if m and m.group(1):
                families.setdefault(m.group(1), []).append(int(m.group(2)))
    if families:
        return "; ".join(f"{_s(prefix)} {_ranges(idx)}" for prefix, idx in families.items())
    return _s(entry.get("uuid"))


def _ranges(indices: Iterable[int]) -> str:
    values = sorted(set(indices))
    if not values:
        return "none"
    parts, start, prev = [], values[0], values[0]
    for v in values[1:] + [None]:  # type: ignore[list-item]
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return ",".join(parts)


def _counters_text(counter_set: dict) -> str:
    """``memory-slice 0-3 free of 0-7; multiprocessors 72/132, memory 39.2Gi/79.2Gi`` (left/total)."""
    families: dict[str, dict[str, list[int]]] = {}
    plain: list[str] = []
    for cname, values in counter_set["counters"].items():
        total, left = _quantity(values["total"]), _quantity(values["left"]) if values["left"] is not None else None
        m = _INDEXED.match(cname)
        if m and m.group(1) and total is not None and total == Quantity.parse("1"):
            fam = families.setdefault(m.group(1), {"all": [], "free": []})
            fam["all"].append(int(m.group(2)))
            if left is not None and left.sign() > 0:
                fam["free"].append(int(m.group(2)))
            continue
        if total is None or total.is_zero():
            continue
        left_text = "?" if values["left"] is None else human_quantity(str(left) if left is not None and left.sign() >= 0 else "0")
        plain.append(f"{_s(cname)} {left_text}/{human_quantity(values['total'])}")
    parts = [
        f"{_s(prefix)} {_ranges(f['free']) if f['free'] else 'none'} free of {_ranges(f['all'])}" for prefix, f in families.items()
    ]
    text = "; ".join(parts)
    if plain:
        text += ("; " if text else "") + ", ".join(plain)
    return f"counters left in {_s(counter_set['name'])}: {text}"


def _device_cells(entry: dict, claims_by_name: dict[str, str], *, wide: bool, nvml: bool) -> list[tuple[str, str | None]]:
    name = entry["name"]
    cells: list[tuple[str, str | None]] = [
        (_s(name) if name is not None else "(whole device)", "bold" if name is not None else "dim"),
        (_s(short_driver(entry["driver"])), None),
        (_s(entry["type"]), None),
        (_s(entry["product"]), None),
        (human_quantity(entry["memory"]), None),
        (_s(entry["uuid"]), "dim"),
    ]
    if wide:
        cells.append((_s(entry["pciBusID"]), "dim"))
    if nvml:
        facts = entry.get("nvml")
        if facts is None:
            cells.append(("-", None))
        elif facts.get("nvlinkGroup"):
            cells.append((f"NVLink group {facts['nvlinkGroup']}", "cyan"))
        else:
            cells.append(("no NVLink peers", "dim"))
    return cells + _state_cells(entry, claims_by_name)


def _partition_cells(entry: dict, claims_by_name: dict[str, str], *, wide: bool) -> list[tuple[str, str | None]]:
    cells: list[tuple[str, str | None]] = [
        (_s(entry["name"]), None),
        (_s(entry.get("profile")), None),
        (human_quantity(entry["memory"]), None),
        (_placement(entry), "dim"),
    ]
    if wide:
        cells.append((_s(entry["pciBusID"]), "dim"))
    return cells + _state_cells(entry, claims_by_name)


def node_tree(data: dict, *, wide: bool = False) -> Row:
    has_nvml = "nvml" in data
    claims_by_name: dict[str, str] = {}
    for entry in iter_devices(data):
        for e in [entry, *(entry.get("partitions") or [])]:
            if e["name"] is not None and e.get("allocations"):
                claims_by_name[e["name"]] = ", ".join(dict.fromkeys(_s(a["claim"]) for a in e["allocations"]))
    title = [(_s(data["node"]), "bold")]
    if data.get("clique"):
        title.append((f"NVLink clique {_s(data['clique'])}", "cyan"))
    if data.get("computeDomains"):
        title.append(("ComputeDomain " + ", ".join(_s(c) for c in data["computeDomains"]), "cyan"))
    root = Row(title, kind="title")
    if not data["numa"]:
        root.add(Row([("no DRA devices on this node", "dim")]))
    for numa in data["numa"]:
        numa_row = root.add(Row([(f"NUMA {numa['id']}" if numa["id"] is not None else "NUMA unknown (not published)", "bold")]))
        for pcie in numa["pcieRoots"]:
            root_row = numa_row.add(
                Row([(f"PCIe root {_s(pcie['id'])}" if pcie["id"] is not None else "PCIe root unknown (none or several published)", "bold")])
            )
            for entry in pcie["devices"]:
                row = root_row.add(Row(_device_cells(entry, claims_by_name, wide=wide, nvml=has_nvml), kind="device"))
                for counter_set in entry.get("counterSets") or []:
                    row.add(Row([(_counters_text(counter_set), "dim")]))
                if "freePlacements" in entry:
                    free = entry["freePlacements"]
                    text = ", ".join(f"{_s(k)} ×{v}" for k, v in free.items()) if free else "none"
                    row.add(Row([(f"free placements: {text}", "dim")]))
                for part in entry.get("partitions") or []:
                    row.add(Row(_partition_cells(part, claims_by_name, wide=wide), kind="partition"))
    _align([root])
    return root


def nvml_text(data: dict) -> str:
    """NVLink peer groups and the topology matrix, printed below the tree."""
    facts = data.get("nvml")
    if not facts:
        return ""
    lines = ["", "NVLink peer groups (NVML):"]
    if not facts["groups"]:
        lines.append("  none: no active NVLink between these GPUs")
    for group in facts["groups"]:
        names = [_s(d) if d is not None else f"GPU{_s(i)}" for d, i in zip(group["devices"], group["gpus"])]
        via = "via NVSwitch" if group["via"] == "nvswitch" else "direct NVLink"
        lines.append(f"  group {group['id']}: {', '.join(names)} ({_plural(len(names), 'GPU')}, {via})")
    for clique in facts.get("fabricCliques") or []:
        lines.append(f"  fabric clique (NVML): {_s(clique)}")
    for gpu in facts["unmatched"]:
        lines.append(f"  GPU{_s(gpu['index'])} {_s(gpu['uuid'])} {_s(gpu['pciBusId'])}: no DRA device on this node publishes it")
    matrix = facts.get("matrix")
    if matrix:
        labels = [_s(x) for x in matrix["gpus"]]
        rows = [[_s(c) for c in row] for row in matrix["rows"]]
        width = max([len(x) for x in labels] + [len(c) for row in rows for c in row] + [1])
        lines.append("")
        lines.append("GPU topology (NVML, as nvidia-smi topo -m):")
        lines.append("  " + " " * width + "  " + "  ".join(x.ljust(width) for x in labels).rstrip())
        for label, row in zip(labels, rows):
            lines.append("  " + label.ljust(width) + "  " + "  ".join(c.ljust(width) for c in row).rstrip())
        legend = [f"{label}={_s(name)}" for label, name in zip(labels, matrix["devices"]) if name]
        if legend:
            lines.append("  " + ", ".join(legend))
    return "\n".join(lines) + "\n"


def cluster_tree(data: dict) -> Row:
    title = [("cluster", "bold"), (f"({_plural(data['nodes'], 'node')}, {_plural(data['devices'], 'device')}, {data['free']} free)", None)]
    root = Row(title, kind="title")
    if not data["domains"]:
        root.add(Row([("no nodes or DRA devices in the input", "dim")]))
    for d in data["domains"]:
        name = f"NVLink clique {_s(d['clique'])}" if d["clique"] else "no NVLink clique"
        counts = f"({_plural(len(d['nodes']), 'node')}, {_plural(d['devices'], 'device')}, {d['free']} free)"
        head = root.add(Row([(name, "bold cyan" if d["clique"] else "bold"), (counts, None)], kind="title"))
        if d["computeDomains"]:
            head.add(Row([("ComputeDomain " + ", ".join(_s(c) for c in d["computeDomains"]), "cyan")]))
        idle = [n for n in d["nodes"] if not any(n in {x["node"] for x in p["nodes"]} for p in d["products"])]
        for p in d["products"]:
            prow = head.add(
                Row(
                    [
                        (_s(p["product"]), None),
                        (_s(short_driver(p["driver"])), None),
                        (_s(p["type"]), None),
                        (_plural(p["devices"], "device"), None),
                        (f"{p['free']} free", "green" if p["free"] else "dim"),
                        ("(overlapping partitions: not all usable at once)" if p.get("overlapping") else "", "dim"),
                    ],
                    kind="product",
                )
            )
            for n in p["nodes"]:
                prow.add(
                    Row(
                        [(_s(n["node"]), None), (_plural(n["devices"], "device"), None), (f"{n['free']} free", "green" if n["free"] else "dim")],
                        kind="node",
                    )
                )
        if idle:
            head.add(Row([("no DRA devices: " + ", ".join(_s(n) for n in idle), "dim")]))
    _align([root])
    return root
