"""`topology`: one node as NUMA node → PCIe root → device → partitions, or the cluster by NVLink clique.

Data first, text second: ``node_topology`` (``tree.py``) and ``cluster_topology`` (``cluster.py``)
build plain dicts (what ``-o json|yaml`` prints) and ``node_tree`` / ``cluster_tree`` (``text.py``)
turn those dicts into a tree of aligned rows, printed as plain text (``plain_text``) or as a rich
``Tree`` (``rich_tree``) on a colour terminal. NVML facts are joined to the devices by
``kubectl_dra.nvml.join``; ComputeDomains are decoded by ``kubectl_dra.model.computedomain``. Device data is never read as rich markup: rows are ``Text`` objects and control
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

The cluster view counts states through ``Cluster.devices_not_free`` (the states of
``Cluster.device_views``, without a view or a sort key per device) and is written by
``cluster_text`` straight from the data (``cluster_tree`` + ``rich_tree`` with colour).
A node's clique is its ``nvidia.com/gpu.clique`` label, else the ``cliqueID`` a ComputeDomain's
status gives for it. ``free`` counts devices in state ``free`` (partitions of one GPU overlap:
their free counts are not all usable at once).

NVML facts (``nvml``: a ``kubectl_dra.nvml.Snapshot``, read by ``nvml.snapshot.read_snapshot``):
GPUs are matched to DRA devices by UUID, else by PCI bus id (one canonical form,
``nvml.snapshot.normalize_bus_id``); NVLink peer groups are the connected components of direct
GPU–GPU links, of GPUs linked to an NVSwitch (one fabric per node), and of ``NV*`` matrix
entries. The node view then has ``"nvml"`` (see ``kubectl_dra.nvml.join``) and each matched
device ``"nvml": {"index", "nvlinkGroup", "nvlinks", "fabricClique"}``.
"""


from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kubectl_dra.model.computedomain import CLIQUE_LABEL
from kubectl_dra.render.topology.cluster import cluster_topology
from kubectl_dra.render.topology.text import Row, cluster_text, cluster_tree, node_tree, nvml_text, plain_text, rich_tree
from kubectl_dra.render.topology.tree import (
    API_VERSION,
    PARENT_LINKS,
    PCIE_ROOT,
    iter_devices,
    merge_nvml,
    node_names,
    node_topology,
)

if TYPE_CHECKING:
    from kubectl_dra.model.cluster import Cluster
    from kubectl_dra.nvml.snapshot import Snapshot

__all__ = [
    "API_VERSION",
    "CLIQUE_LABEL",
    "PARENT_LINKS",
    "PCIE_ROOT",
    "Row",
    "cluster_text",
    "cluster_topology",
    "cluster_tree",
    "iter_devices",
    "merge_nvml",
    "node_names",
    "node_topology",
    "node_tree",
    "nvml_text",
    "plain_text",
    "rich_tree",
    "topology_data",
    "topology_text",
]


def topology_data(
    cluster: Cluster, node: str | None, *, nvml: Snapshot | None = None, compute_domains: Sequence[dict] = ()
) -> dict:
    """The node view of ``node`` (NotFoundError, with the near names, for a node the input does not
    know), or the cluster view without one."""
    if not node:
        return cluster_topology(cluster, compute_domains)
    known = node_names(cluster)
    if node not in known:
        import difflib

        from kubectl_dra.errors import NotFoundError

        close = difflib.get_close_matches(node, known, n=3, cutoff=0.5)
        if close:
            hint = "did you mean " + " or ".join(close) + "?"
        elif known:
            hint = "nodes: " + ", ".join(known[:8]) + (" …" if len(known) > 8 else "")
        else:
            hint = f"no nodes with DRA devices in {cluster.source or 'the input'}"
        raise NotFoundError(f'node "{node}" not found', hint=hint)
    return node_topology(cluster, node, nvml=nvml, compute_domains=compute_domains)


def topology_text(data: dict, *, wide: bool = False, color: bool = False) -> str:
    """The tree (and, for a node with NVML facts, the NVLink groups and matrix below it) as text:
    plain, or with ``color`` rich's rendering (wrapped under its branch on a terminal, else not wrapped)."""
    node = data["kind"] == "NodeTopology"
    if not node and not color:
        return cluster_text(data)
    tree = node_tree(data, wide=wide) if node else cluster_tree(data)
    extra = nvml_text(data) if node else ""
    plain = plain_text(tree)
    if not color:
        return plain + extra
    import io
    import sys

    from rich.console import Console

    width = None if sys.stdout.isatty() else max(len(line) for line in plain.splitlines()) + 1
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, no_color=False, highlight=False, markup=False, emoji=False, width=width)
    console.print(rich_tree(tree))
    if extra:
        console.print(extra, end="", highlight=False, markup=False, soft_wrap=True)
    return buffer.getvalue()
