"""`kubectl dra topology [NODE]`: a node's NUMA → PCIe root → device → partition tree, or the cluster by NVLink clique.

flags -> source and the NVML facts -> ``render.topology.topology_data`` -> ``emit`` (``topology_text``).
The data shapes (``-o json|yaml``) and how partitions, placement and NVML facts are worked out are
documented in kubectl_dra/render/topology/__init__.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    CLUSTER_WIDE,
    Color,
    ColorOpt,
    Output,
    OutputOpt,
    check_source,
    emit,
    flush_warnings,
    keep_alive,
    read_cluster,
)
from kubectl_dra.kube.kinds import CLAIM_ALLOCATIONS, NODES, SLICES

if TYPE_CHECKING:
    from kubectl_dra.kube.source import SourceOptions
    from kubectl_dra.model.cluster import Cluster
    from kubectl_dra.nvml.snapshot import Snapshot


@command(app, "topology")
def topology(
    node: Annotated[
        str | None,
        typer.Argument(help="A node: its NUMA nodes, PCIe roots, devices and partitions. Without: the cluster by NVLink clique.", show_default=False),
    ] = None,
    nvml_file: Annotated[
        str | None,
        typer.Option("--nvml", metavar="FILE|live", help="Merge an NVML snapshot (JSON) of NODE: NVLink peer groups and the topology matrix. live collects it from NODE through the cluster (live:VIA: see kubectl dra nvml --via)."),
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Merge NVML facts read on this machine (with --demo: the demo node's snapshot).")
    ] = False,
    output: OutputOpt = Output.table,
    color: ColorOpt = Color.auto,
    source: SourceOptions = CLUSTER_WIDE,
) -> None:
    """Show where devices sit: NUMA node, PCIe root, GPU, MIG partitions, and the NICs next to them.

    With NODE: a tree node → NUMA node → PCIe root → device → partitions (static MIG devices, or every
    DynamicMIG placement as free, allocated or blocked by an overlapping allocation, as the scheduler
    counts shared counters). Without NODE: nodes grouped by NVLink clique, then by product, with free counts.

    Examples:

      kubectl dra topology --demo

      kubectl dra topology h100-dmig-01 --demo

      kubectl dra topology dgx-h100-01 --nvml dgx-h100-01-nvml.json

      kubectl dra topology dgx-h100-01 --nvml live

      kubectl dra topology dgx-h100-01 -o json
    """
    from kubectl_dra import timing
    from kubectl_dra.console import err, use_color
    from kubectl_dra.errors import UsageError
    from kubectl_dra.render import topology as render

    if output is Output.name:
        raise UsageError("topology does not print names: use -o table, wide, json or yaml")
    if nvml_file == "-" and "-" in source.filenames:
        raise UsageError("--nvml - and -f - cannot both read stdin", hint="save one of them to a file")
    nvml, node = _nvml_facts(node, nvml_file=nvml_file, local=local, demo=source.demo, files=bool(source.filenames),
                             source=source)  # fmt: skip
    cluster, domains = _read(source, node)
    timing.mark("cluster loaded")
    keep_alive(cluster)
    if node:  # the cluster view counts states without a view per device (Cluster.devices_not_free)
        keep_alive(cluster.device_views())
        timing.mark("devices joined with claims")
    try:
        data = render.topology_data(cluster, node, nvml=nvml, compute_domains=domains)
    finally:
        flush_warnings(cluster)
    timing.mark("topology built")
    if not cluster.claims_known:
        err("warning: claims could not be read, so every device is shown as free")
    emit(output, data=lambda: data, table=lambda wide: render.topology_text(data, wide=wide, color=use_color(color.value)))
    timing.mark("written")


def _live_via(value: str) -> str | None:
    from kubectl_dra.cli import nvml_remote

    return nvml_remote.live_via(value)


def _nvml_facts(node: str | None, *, nvml_file: str | None, local: bool, demo: bool, files: bool,
                source: SourceOptions | None = None) -> tuple[Snapshot | None, str | None]:  # fmt: skip
    """The NVML snapshot to merge (--nvml FILE, --local, or the demo's own for a demo node) and the
    node to show (NODE, else the snapshot's)."""
    from kubectl_dra.console import err
    from kubectl_dra.errors import UsageError

    if local and nvml_file:
        raise UsageError("--local and --nvml cannot be used together")
    if nvml_file and _live_via(nvml_file):  # --nvml live[:VIA]: collected from NODE through the cluster
        from kubectl_dra.cli import nvml_remote

        nvml = nvml_remote.live_snapshot(node, nvml_file, demo=demo, files=files, kubeconfig=source.kubeconfig,
                                         context=source.context, request_timeout=str(source.request_timeout or 0))  # fmt: skip
    elif nvml_file:
        from kubectl_dra.nvml.snapshot import read_snapshot

        nvml = read_snapshot(nvml_file, "--nvml")
    else:
        nvml = _local_nvml(node, demo) if local else None
    if nvml is None and demo and node and not files:
        # the demo cluster ships NVML snapshots of its NVIDIA nodes: show NVLink without asking
        from kubectl_dra.nvml import demo_snapshot

        nvml = demo_snapshot(node)
    if nvml is not None:
        if not node:
            node = nvml.node or None
            if not node:
                raise UsageError("--nvml describes one node: name it (kubectl dra topology NODE --nvml FILE)")
        elif nvml.node and nvml.node != node:
            err(f"warning: the NVML snapshot is of node {nvml.node}, not {node}: matching its GPUs by UUID and PCI bus id anyway")
    return nvml, node


def _read(source: SourceOptions, node: str | None) -> tuple[Cluster, list[dict]]:
    """The cluster (and, from -f files, the ComputeDomains the cluster model drops); device state
    needs the claims of every namespace, and of them only their allocations."""
    if source.filenames:
        return _load_files(source)
    from kubectl_dra.kube.live import Forbidden

    source = source.across_namespaces()
    nodes = [node] if node else []
    try:
        return read_cluster(source, (SLICES, CLAIM_ALLOCATIONS, NODES), nodes=nodes), []
    except Forbidden as error:
        if "nodes" not in error.message:
            raise
        # Node objects only add the clique label: go on without them
        from kubectl_dra.render.topology import CLIQUE_LABEL

        cluster = read_cluster(source, (SLICES, CLAIM_ALLOCATIONS), nodes=nodes)
        cluster.warnings.append(f"{error.message}; NVLink cliques (node label {CLIQUE_LABEL}) are not shown")
        return cluster, []


def _local_nvml(node: str | None, demo: bool):
    """The NVML snapshot of this machine (of NODE with --demo), through kubectl_dra.nvml."""
    from kubectl_dra.errors import UsageError

    try:
        from kubectl_dra.nvml import demo_snapshot
        from kubectl_dra.nvml.collect import collect
        from kubectl_dra.nvml.real import RealBackend
    except ImportError:
        raise UsageError("--local is not available yet", hint="save a snapshot on the node and pass it with --nvml FILE") from None
    if demo:
        if not node:
            raise UsageError("--local with --demo: name a demo node (kubectl dra topology NODE --demo --local)")
        snapshot = demo_snapshot(node)
        if snapshot is None:
            raise UsageError(f"the demo cluster has no NVML snapshot of node {node}")
    else:
        snapshot = collect(RealBackend(), node)  # NvmlUnavailable (exit 1) without NVML
    return snapshot


def _load_files(source: SourceOptions) -> tuple[Cluster, list[dict]]:
    """-f input read once (stdin included), as every command reads it (-R, files in a directory that
    are not Kubernetes objects skipped with a warning), keeping the ComputeDomains the cluster model drops."""
    from kubectl_dra.errors import UsageError
    from kubectl_dra.kube.files import load_objects
    from kubectl_dra.kube.load import add_all
    from kubectl_dra.model.cluster import Cluster
    from kubectl_dra.model.computedomain import KIND as COMPUTE_DOMAIN
    from kubectl_dra.model.computedomain import decode_compute_domain

    if source.demo:
        raise UsageError("--demo and -f/--filename cannot be used together")
    check_source(source)
    domains: list[dict] = []

    cluster = Cluster(source=", ".join(source.filenames))

    def objects():
        for origin, obj in load_objects(source.filenames, recursive=source.recursive, warn=cluster.warnings.append):
            if obj.get("kind") == COMPUTE_DOMAIN:  # objects are dicts with a kind (kube.files)
                domain = decode_compute_domain(obj)
                if domain is not None:
                    domains.append(domain)
                    continue
            yield origin, obj

    add_all(cluster, objects())
    return cluster, domains
