"""NVML facts joined to DRA devices: which published device each GPU of a snapshot is, and its NVLink peers.

Input: a ``Snapshot`` (read by ``snapshot.read_snapshot``, the one reader) and the device entries
of a node (plain dicts with ``name``, ``uuid``, ``pciBusID`` and ``type``, as the topology node
view builds them). Output: each matched entry gets an ``"nvml"`` dict, and the node-level facts
are returned; ``render/topology`` prints both.

GPUs are matched to devices by UUID, else by PCI bus id (``snapshot.bus_id_key``: one canonical
form; a value that is not a bus id matches nothing). NVLink peer groups are the connected
components of direct GPU–GPU links, of GPUs linked to an NVSwitch (one fabric per node), and of
``NV*`` cells of the topology matrix::

    facts = {"groups": [{"id": 1, "gpus": [0, 1], "devices": ["gpu-0", "gpu-1"], "via": "nvlink" | "nvswitch"}],
             "unmatched": [{"index", "uuid", "pciBusId"}],        # GPUs no device publishes
             "fabricCliques": ["<clusterUuid>.<cliqueId>", ...],  # only when a GPU is attached to one
             "matrix": {"gpus": ["GPU0", ...], "devices": [name | None, ...], "rows": [[cell, ...], ...]}}
    entry["nvml"] = {"index", "nvlinkGroup", "nvlinks", "fabricClique"}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubectl_dra.nvml.snapshot import Fabric, Snapshot, bus_id_key

#: device types that are never GPUs (a NIC can sit at a GPU's bus id in odd slices: do not match it)
NOT_GPUS = ("nic", "cpu")


def fabric_clique(fabric: Fabric | dict | None) -> str | None:
    """``<clusterUuid>.<cliqueId>`` of a GPU attached to an NVLink fabric (go-nvlib ``IsFabricAttached``)."""
    if isinstance(fabric, dict):
        fabric = Fabric.from_dict(fabric)
    return fabric.clique if fabric is not None else None


class _Components:
    """Union-find over GPU positions; a component's root is its smallest member."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def join_nvml(entries: Iterable[dict], snapshot: Snapshot) -> dict:
    """Annotate the entries NVML knows with ``"nvml"`` facts; return the node-level facts."""
    gpus = snapshot.gpus
    entries = list(entries)
    by_uuid = {e["uuid"]: e for e in entries if e.get("uuid")}
    by_bus: dict[str, dict] = {}
    for e in entries:
        key = bus_id_key(e.get("pciBusID")) if e.get("type") not in NOT_GPUS else None
        if key is not None:
            by_bus[key] = e
    matched: list[dict | None] = [by_uuid.get(g.uuid) or by_bus.get(bus_id_key(g.pci_bus_id)) for g in gpus]

    components = _Components(len(gpus))
    bus_index = {key: i for i, g in enumerate(gpus) if (key := bus_id_key(g.pci_bus_id)) is not None}
    linked = [False] * len(gpus)
    switched: list[int] = []
    active_links = [0] * len(gpus)
    for i, gpu in enumerate(gpus):
        on_switch = False
        for link in gpu.active_nvlinks():
            active_links[i] += 1
            if link.remote_type == "switch":
                on_switch = True
                continue
            peer = bus_index.get(bus_id_key(link.remote_pci_bus_id))
            if peer is not None and peer != i:
                components.union(i, peer)
                linked[i] = linked[peer] = True
        if on_switch:
            switched.append(i)
    for i in switched[1:]:
        components.union(switched[0], i)
    for i in switched:
        linked[i] = len(switched) > 1 or linked[i]
    matrix = _matrix(snapshot)
    if matrix is not None:
        index = matrix["index"]
        for a, row in enumerate(matrix["rows"]):
            for b, cell in enumerate(row):
                if a >= len(index) or b >= len(index):
                    continue
                ia, ib = index[a], index[b]
                if ia is not None and ib is not None and ia != ib and cell.upper().startswith("NV"):
                    components.union(ia, ib)
                    linked[ia] = linked[ib] = True

    members: dict[int, list[int]] = {}
    for i in range(len(gpus)):
        if linked[i]:
            members.setdefault(components.find(i), []).append(i)
    on_switch_set = set(switched)
    groups = []
    group_of: dict[int, int] = {}
    for number, root in enumerate(sorted(members, key=lambda r: min(members[r])), start=1):
        idx = members[root]
        for i in idx:
            group_of[i] = number
        groups.append(
            {
                "id": number,
                "gpus": [gpus[i].index for i in idx],
                "devices": [matched[i]["name"] if matched[i] else None for i in idx],
                "via": "nvswitch" if any(i in on_switch_set for i in idx) else "nvlink",
            }
        )
    unmatched = []
    for i, gpu in enumerate(gpus):
        facts = {"index": gpu.index, "nvlinkGroup": group_of.get(i), "nvlinks": active_links[i], "fabricClique": fabric_clique(gpu.fabric)}
        entry = matched[i]
        if entry is not None:
            entry["nvml"] = facts
        else:
            unmatched.append({"index": gpu.index, "uuid": gpu.uuid, "pciBusId": gpu.pci_bus_id})
    result: dict[str, Any] = {"groups": groups, "unmatched": unmatched}
    cliques = sorted({c for c in (fabric_clique(g.fabric) for g in gpus) if c})
    if cliques:
        result["fabricCliques"] = cliques
    if matrix is not None:
        result["matrix"] = {
            "gpus": matrix["labels"],
            "devices": [matched[i]["name"] if i is not None and matched[i] else None for i in matrix["index"]],
            "rows": matrix["rows"],
        }
    return result


def _matrix(snapshot: Snapshot) -> dict | None:
    """The topo -m matrix as labels (``GPU<index>``), rows, and each row's position in ``snapshot.gpus``."""
    topo = snapshot.topology
    rows = topo.matrix
    if not rows:
        return None
    gpus = snapshot.gpus
    labels: list[int] = list(topo.gpus)
    if len(labels) != len(rows):
        # no usable labels: rows follow the snapshot's GPUs
        labels = [gpus[i].index if i < len(gpus) else i for i in range(len(rows))]
    by_index = {g.index: pos for pos, g in enumerate(gpus)}
    index: list[int | None] = []
    for pos, label in enumerate(labels):
        found = by_index.get(label)
        if found is None and len(labels) == len(gpus):
            found = pos
        index.append(found)
    return {"labels": [f"GPU{x}" for x in labels], "rows": rows, "index": index}
