"""Fleet mode: collect NVML facts from many nodes at once and report drift against their ResourceSlices.

Per node: ``remote.collect_node`` (bounded concurrency, a per-node timeout), then the one
comparison ``compare.compare_snapshot`` (the same rule ``nvml --compare`` applies), then the
node's health problems read off the snapshot. A node that cannot be reached is listed with its
error, never fatal. The report shape (``FleetReport.to_dict``) is what ``-o json`` prints.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from kubectl_dra.errors import DraError

if TYPE_CHECKING:
    from kubectl_dra.kube.live import LiveCluster
    from kubectl_dra.model.device import Device
    from kubectl_dra.nvml.compare import Drift
    from kubectl_dra.nvml.remote import RemoteOptions
    from kubectl_dra.nvml.snapshot import Snapshot

KIND = "NvmlFleetReport"
DEFAULT_CONCURRENCY = 8


@dataclass
class NodeReport:
    node: str
    status: str = "failed"  # in-sync | drift | failed
    via: str = ""
    gpus: int = 0
    drift: Drift | None = None
    driver_release: str = ""
    dynamic_mig: bool = False
    partial: bool = False
    health: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""
    hint: str = ""
    exit_code: int = 0

    @property
    def drifts(self) -> bool:
        return self.status == "drift"

    def to_dict(self) -> dict:
        d: dict = {"node": self.node, "status": self.status, "via": self.via or None, "gpus": self.gpus}
        if self.status == "failed":
            d.update({"error": self.error, "hint": self.hint or None, "exitCode": self.exit_code})
            return d
        drift = self.drift.to_dict() if self.drift is not None else {}
        drift.pop("node", None)
        d.update({"driverRelease": self.driver_release, "dynamicMig": self.dynamic_mig, "partial": self.partial,
                  "drift": drift, "health": list(self.health), "notes": list(self.notes)})  # fmt: skip
        return d


@dataclass
class FleetReport:
    nodes: list[NodeReport] = field(default_factory=list)

    @property
    def drifted(self) -> list[NodeReport]:
        return [n for n in self.nodes if n.drifts]

    @property
    def failed(self) -> list[NodeReport]:
        return [n for n in self.nodes if n.status == "failed"]

    def to_dict(self) -> dict:
        return {
            "kind": KIND,
            "version": 1,
            "summary": {
                "nodes": len(self.nodes),
                "inSync": sum(1 for n in self.nodes if n.status == "in-sync"),
                "drift": len(self.drifted),
                "failed": len(self.failed),
            },
            "nodes": [n.to_dict() for n in self.nodes],
        }


def health_problems(snap: Snapshot) -> list[str]:
    """What in the snapshot says a GPU is unwell: lost GPUs, a fabric that did not register, NVML
    calls that failed with an error other than NOT_SUPPORTED, and the health block when the
    snapshot has one (nvidia-smi input: ECC, remapped rows, XID; ``smi.health_problems``)."""
    problems: list[str] = []
    for g in snap.gpus:
        label = f"GPU {g.index}" + (f" ({g.uuid})" if g.uuid else "")
        if g.lost:
            problems.append(f"{label}: lost (GPU_IS_LOST)")
        fabric = g.fabric
        if fabric is not None and fabric.state not in ("", "not_supported") and (
            fabric.state != "completed" or fabric.status != "success"):  # fmt: skip
            problems.append(f"{label}: NVLink fabric {fabric.state}, status {fabric.status}")
        if isinstance(g.health, dict):
            from kubectl_dra.nvml.smi import health_problems as smi_health

            problems.extend(f"{label}: {p}" for p in smi_health(g.health))
    failed = sorted({f"{e.call} {e.error}" for e in snap.errors if e.loses_data and e.error != "GPU_IS_LOST"})
    if failed:
        problems.append("NVML calls failed: " + ", ".join(failed[:5]) + (" …" if len(failed) > 5 else ""))
    return problems


def node_report(node: str, snap: Snapshot, via: str, published: list[Device], notes: list[str] | None = None) -> NodeReport:
    """Compare one node's snapshot with its published devices (``compare.compare_snapshot``)."""
    from kubectl_dra.nvml.compare import compare_snapshot
    from kubectl_dra.nvml.resourceslice import DEFAULT_STYLE, detect_dynamic_mig, detect_style

    style = detect_style(published) if published else DEFAULT_STYLE
    dynamic = detect_dynamic_mig(published) if published else False
    drift = compare_snapshot(snap, published, style=style, dynamic_mig=dynamic)
    report = NodeReport(node, via=via, gpus=len(snap.gpus), drift=drift, driver_release=style, dynamic_mig=dynamic,
                        partial=snap.partial, health=health_problems(snap), notes=list(notes or []))  # fmt: skip
    report.status = "in-sync" if drift.in_sync and not report.health else "drift"
    return report


def collect_fleet(
    live: LiveCluster,
    nodes: list[str],
    published: dict[str, list[Device]],
    opts: RemoteOptions,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_done: Callable[[NodeReport], None] | None = None,
    collect: Callable | None = None,
) -> FleetReport:
    """Every node's report, in node order; at most ``concurrency`` nodes at a time."""
    from kubectl_dra.nvml.remote import collect_node

    collect = collect or collect_node
    lock = threading.Lock()

    def one(node: str) -> NodeReport:
        try:
            snap, got = collect(live, node, opts, devices=published.get(node, []))
        except DraError as err:
            return NodeReport(node, error=err.message, hint=err.hint or "", exit_code=int(err.exit_code))
        except Exception as err:  # noqa: BLE001 - one node's surprise must not end the fleet run
            return NodeReport(node, error=f"internal error: {type(err).__name__}: {err}", exit_code=1)
        return node_report(node, snap, got.via, published.get(node, []), got.notes)

    results: dict[str, NodeReport] = {}
    if opts.cancel is None:
        opts.cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(nodes) or 1)), thread_name_prefix="nvml")
    try:
        futures = {pool.submit(one, n): n for n in nodes}
        for future in as_completed(futures):
            report = future.result()
            with lock:
                results[report.node] = report
            if on_done is not None:
                on_done(report)
    except BaseException:
        # Ctrl-C: nodes not started are dropped, running ones stop waiting and delete what they created
        opts.cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return FleetReport([results[n] for n in nodes])


def gpu_nodes(devices: list[Device]) -> list[str]:
    """Nodes that publish gpu.nvidia.com devices."""
    from kubectl_dra.nvml.remote import DRIVER

    return sorted({d.node_name for d in devices if d.driver == DRIVER and d.node_name})
