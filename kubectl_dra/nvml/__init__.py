"""NVML side of kubectl-dra: what the node's GPUs really are, next to what DRA publishes.

* ``snapshot``      the NvmlSnapshot data model, its JSON form (the public interface), the one reader
                    of snapshot files (``read_snapshot``) and the one PCI bus-id normaliser
* ``backend``       the NVML calls the collector needs (``NvmlBackend``) and their errors
* ``real``          that interface over pynvml (package nvidia-ml-py, imported lazily)
* ``fake``          that interface over data: NVIDIA's nvml-mock profiles or a snapshot
* ``collect``       ``collect(backend, node) -> Snapshot``
* ``smi``           nvidia-smi as a source: the collector script (``collector.sh``) and the parsers of
                    its outputs (``parse_collected``, ``parse_outputs``), stdlib only
* ``resourceslice`` the ResourceSlice(s) the NVIDIA DRA driver would publish for a snapshot
* ``compare``       drift between those and the devices the cluster has published
* ``join``          NVML facts joined to a node's DRA devices (NVLink peer groups; ``topology`` renders them)

Importing this package imports neither pynvml nor the Kubernetes model.
"""

from __future__ import annotations

from importlib import resources

from kubectl_dra.nvml.backend import NvmlCallError, NvmlUnavailable
from kubectl_dra.nvml.snapshot import Snapshot, SnapshotError, dump_snapshot, load_snapshot, normalize_bus_id

__all__ = [
    "NvmlCallError",
    "NvmlUnavailable",
    "Snapshot",
    "SnapshotError",
    "demo_nodes",
    "demo_snapshot",
    "dump_snapshot",
    "load_snapshot",
    "normalize_bus_id",
]


def _demo_dir():
    return resources.files("kubectl_dra.demo").joinpath("nvml")


def demo_nodes() -> list[str]:
    """Nodes of the built-in demo cluster that have an NVML snapshot."""
    folder = _demo_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


def demo_snapshot(node: str) -> Snapshot | None:
    """The NVML snapshot of a demo-cluster node (``kubectl_dra/demo/nvml/<node>.json``), or
    None for a node without NVIDIA GPUs. Made by ``tools/gen_demo_nvml.py``; its UUIDs,
    bus ids, minors, memory and driver versions match ``demo/cluster.yaml``."""
    path = _demo_dir().joinpath(f"{node}.json")
    if "/" in node or not path.is_file():
        return None
    return load_snapshot(path.read_text(encoding="utf-8"))
