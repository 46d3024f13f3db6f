"""`kubectl dra nvml`: what NVML says this node's GPUs are, what the NVIDIA DRA driver would publish
for them, and how that differs from what the node has published.

Where the NVML facts come from (one of):

* this machine (default): ``collect(RealBackend(), node)``; the node is ``--node``, else
  ``$NODE_NAME`` (set it from the downward API in a pod), else the host name;
* ``--snapshot FILE`` (``-``: stdin): a saved snapshot (``kubectl dra nvml -o json``), JSON or YAML;
* ``--demo --node NODE``: the demo cluster's snapshot of that node.

With ``--compare`` the node's published ResourceSlices are read from ``-f``, ``--demo`` or the
cluster. pynvml is imported only when collecting on this machine. Shapes: see
kubectl_dra/render/nvml.py (drift) and kubectl_dra/nvml/snapshot.py (snapshot).
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    Color,
    ColorOpt,
    Context,
    Filenames,
    Kubeconfig,
    Output,
    OutputOpt,
    RequestTimeout,
    emit,
    flush_warnings,
    read_cluster,
    write_data,
)

if TYPE_CHECKING:
    from kubectl_dra.kube.source import SourceOptions
    from kubectl_dra.nvml.compare import DriftReport
    from kubectl_dra.nvml.snapshot import Snapshot

NVML = "NVML source (default: this machine)"
MODE = "What to print (default: the GPUs, MIG devices and topology)"
DRIVER = "gpu.nvidia.com"


class DriverRelease(str, Enum):
    """``kubectl_dra.nvml.resourceslice.STYLES`` (spelled out here: --help must not import the model)."""

    v25_3 = "v25.3"
    v25_8 = "v25.8"
    v25_12 = "v25.12"
    v0_4 = "v0.4"
    main = "main"


def _demo_snapshot(node: str | None) -> Snapshot:
    from kubectl_dra.errors import NotFoundError, UsageError
    from kubectl_dra.nvml import demo_nodes, demo_snapshot

    nodes = ", ".join(demo_nodes())
    if not node:
        raise UsageError("--demo reads the demo snapshot of one node: name it with --node", hint=f"demo nodes with NVML snapshots: {nodes}")
    snapshot = demo_snapshot(node)
    if snapshot is None:
        raise NotFoundError(f"the demo cluster has no NVML snapshot of node {node}", hint=f"demo nodes with NVML snapshots: {nodes}")
    return snapshot


def _no_devices(cluster, node: str, node_origin: str) -> Exception:
    import difflib

    from kubectl_dra.errors import NotFoundError

    others = sorted({d.node_name or d.pool for pool in cluster.pools for d in pool.devices if d.driver == DRIVER})
    if node_origin == "host":
        hint = (f'"{node}" is this machine\'s host name; in a pod it is not the node name: pass --node, or set NODE_NAME '
                "from the downward API (fieldRef spec.nodeName)")  # fmt: skip
    elif others:
        close = difflib.get_close_matches(node, others, n=3, cutoff=0.8)
        hint = ("did you mean " + " or ".join(close) + "?") if close else (
            "nodes with gpu.nvidia.com devices: " + ", ".join(others[:8]) + (" …" if len(others) > 8 else ""))
    else:
        hint = (f"is the NVIDIA DRA driver's kubelet plugin running on {node}? "
                f"kubectl get resourceslices --field-selector spec.nodeName={node},spec.driver={DRIVER}")  # fmt: skip
    return NotFoundError(f'node "{node}" publishes no {DRIVER} devices in {cluster.source or "the input"}', hint=hint)


@command(app, "nvml")
def nvml(
    node: Annotated[
        str | None,
        typer.Option("--node", metavar="NODE", help="The node these GPUs are on (default: $NODE_NAME, else the host name). "
                     "With --demo: the demo node. With --snapshot: overrides the snapshot's node.",
                     rich_help_panel=NVML),
    ] = None,
    snapshot: Annotated[
        str | None,
        typer.Option("--snapshot", metavar="FILE", help="Render a saved snapshot (kubectl dra nvml -o json) instead of "
                     "reading NVML; - reads stdin.", rich_help_panel=NVML),
    ] = None,
    nvidia_smi: Annotated[
        list[str] | None,
        typer.Option("--nvidia-smi", metavar="FILE", help="Build the snapshot from saved nvidia-smi outputs of one node "
                     "(-q -x XML, -L, mig -lgi/-lci, topo -m, nvlink -s, or the kubectl-dra collector's output; the "
                     "kind is read from the content); repeat for each file; - reads stdin.", rich_help_panel=NVML),
    ] = None,
    as_resourceslice: Annotated[
        bool,
        typer.Option("--as-resourceslice", help="Print the ResourceSlices the NVIDIA DRA driver would publish for these "
                     "GPUs (a List; yaml unless -o json).", rich_help_panel=MODE),
    ] = False,
    compare: Annotated[
        bool,
        typer.Option("--compare", help="Compare that with the devices the node has published (-f, --demo or the "
                     "cluster); exit code 8 when they differ.", rich_help_panel=MODE),
    ] = False,
    driver_release: Annotated[
        DriverRelease | None,
        typer.Option("--driver-release", help="The driver release whose names and attribute keys to use "
                     "(default: v0.4; with --compare: read off the published devices).",
                     case_sensitive=False, rich_help_panel=MODE),
    ] = None,
    dynamic_mig: Annotated[
        bool | None,
        typer.Option("--dynamic-mig/--no-dynamic-mig", help="Model the driver's DynamicMIG gate: every MIG profile "
                     "and placement, with shared counters (default: off; with --compare: read off the published devices).",
                     show_default=False, rich_help_panel=MODE),
    ] = None,
    output: OutputOpt = Output.table,
    color: ColorOpt = Color.auto,
    filename: Filenames = None,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Use the built-in demo cluster: its NVML snapshot of --node, and its ResourceSlices "
                     "for --compare.", rich_help_panel=NVML),
    ] = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    request_timeout: RequestTimeout = "0",
    *,
    source: SourceOptions,
) -> None:
    """Show what NVML says about this node's GPUs: MIG devices, NVLink, topology; and what DRA should publish.

    Run it on a GPU node (or in a pod there, with the driver's libraries): a table of the GPUs, their
    MIG devices, the nvidia-smi topo -m matrix, NVLink and the multi-node NVLink clique. -o json writes
    a snapshot that --snapshot renders elsewhere. --as-resourceslice prints the devices the NVIDIA DRA
    driver would publish (its names, attribute keys and normalisations); --compare diffs them against
    what the node has published and reports missing/extra devices, changed values, removed keys and
    stale MIG layouts (exit code 8 when they differ).

    Examples:

      kubectl dra nvml

      kubectl dra nvml -o json > node-nvml.json

      kubectl dra nvml --snapshot node-nvml.json --as-resourceslice --driver-release v25.8

      kubectl dra nvml --nvidia-smi smi-q.xml --nvidia-smi smi-L.txt --node gpu-node-3 --compare

      kubectl dra nvml --compare

      kubectl dra nvml --demo --node a100-mig-01 --compare
    """
    from kubectl_dra.console import out, use_color, warn
    from kubectl_dra.render import nvml as render

    _check(output, source, as_resourceslice=as_resourceslice, compare=compare, driver_release=driver_release,
           dynamic_mig=dynamic_mig, snapshot=snapshot, nvidia_smi=nvidia_smi)  # fmt: skip
    snap, node_origin = _snapshot(node, snapshot, nvidia_smi, demo=source.demo)
    for message in render.snapshot_warnings(snap):
        warn(message)
    color_on = use_color(color.value)
    if as_resourceslice:
        write_data(_as_resourceslice(snap, driver_release, dynamic_mig), Output.json if output is Output.json else Output.yaml)
    elif compare:
        report = _drift(snap, node_origin, source, from_files=bool(snapshot or nvidia_smi), driver_release=driver_release,
                        dynamic_mig=dynamic_mig)  # fmt: skip
        emit(
            output,
            data=lambda: render.drift_data(report.drift, style=report.style, dynamic_mig=report.dynamic_mig, partial=snap.partial),
            table=lambda wide: render.drift_text(report.drift, style=report.style, dynamic_mig=report.dynamic_mig,
                                                 expected=report.expected, published=report.published, snap=snap, color=color_on),
        )  # fmt: skip
        if not report.drift.in_sync:
            from kubectl_dra.errors import ExitCode

            raise typer.Exit(int(ExitCode.DRIFT))
    elif output is Output.json:
        from kubectl_dra.nvml.snapshot import dump_snapshot

        out(dump_snapshot(snap))
    else:
        emit(output, data=snap.to_dict, table=lambda wide: render.snapshot_text(snap, wide=wide, color=color_on))


def _check(output: Output, source: SourceOptions, *, as_resourceslice: bool, compare: bool, driver_release, dynamic_mig,
           snapshot: str | None, nvidia_smi: list[str] | None) -> None:  # fmt: skip
    """The option combinations nvml refuses (exit 2), before anything is read."""
    from kubectl_dra.errors import UsageError

    cluster_flags = source.filenames or source.kubeconfig or source.context
    if output is Output.name:
        raise UsageError("nvml does not print names: use -o table, wide, json or yaml")
    if as_resourceslice and compare:
        raise UsageError("--as-resourceslice and --compare cannot be used together",
                         hint="--compare already works out the devices the driver would publish")  # fmt: skip
    if not (as_resourceslice or compare):
        if driver_release is not None or dynamic_mig is not None:
            raise UsageError("--driver-release and --dynamic-mig apply to --as-resourceslice and --compare")
        if cluster_flags:
            raise UsageError("-f/--filename, --kubeconfig and --context choose the cluster that --compare reads",
                             hint="add --compare, or use --snapshot FILE to render a saved NVML snapshot")  # fmt: skip
        if source.demo and (snapshot or nvidia_smi):
            raise UsageError(f"--demo and {'--snapshot' if snapshot else '--nvidia-smi'} cannot be used together",
                             hint="--demo --node NODE renders the demo snapshot; with --compare, --snapshot FILE --demo "
                             "compares FILE with the demo cluster")  # fmt: skip
    if "-" in source.filenames and (snapshot == "-" or "-" in (nvidia_smi or [])):
        raise UsageError(f"{'--snapshot' if snapshot == '-' else '--nvidia-smi'} - and -f - cannot both read stdin",
                         hint="save one of them to a file")  # fmt: skip
    if snapshot and nvidia_smi:
        raise UsageError("--snapshot and --nvidia-smi cannot be used together",
                         hint="--snapshot reads a kubectl-dra snapshot, --nvidia-smi what nvidia-smi printed")  # fmt: skip
    if as_resourceslice and cluster_flags:
        raise UsageError("--as-resourceslice reads no cluster: drop -f/--kubeconfig/--context")
    if as_resourceslice and output is Output.wide:
        raise UsageError("--as-resourceslice prints yaml (the default) or json")


def _snapshot(node: str | None, snapshot: str | None, nvidia_smi: list[str] | None, *, demo: bool) -> tuple[Snapshot, str]:
    """The NVML facts (--nvidia-smi FILE…, --snapshot FILE, the demo's, or this machine's) and where the
    node name came from (option, snapshot, env or host: the hint when the node publishes nothing depends on it)."""
    from kubectl_dra.console import warn

    node_origin = "option" if node else "snapshot"
    if nvidia_smi:
        from kubectl_dra.nvml.smi import read_outputs

        snap = read_outputs(nvidia_smi)  # SmiParseError: error + hint, exit 5
        if node and node != snap.node:
            if snap.node:
                warn(f"the nvidia-smi outputs are of node {snap.node}: using --node {node}")
            snap.node = node
    elif snapshot:
        from kubectl_dra.nvml.snapshot import read_snapshot

        snap = read_snapshot(snapshot, "--snapshot")
        if node and node != snap.node:
            if snap.node:
                warn(f"the snapshot is of node {snap.node}: using --node {node}")
            snap.node = node
    elif demo:
        snap = _demo_snapshot(node)
    else:
        from kubectl_dra.nvml.collect import collect, default_node_name
        from kubectl_dra.nvml.real import RealBackend

        if not node:
            import os

            node_origin = "env" if os.environ.get("NODE_NAME") else "host"
            node = default_node_name()
        snap = collect(RealBackend(), node)  # NvmlUnavailable: error + hint, exit 1
    return snap, node_origin


def _named(snap: Snapshot) -> str:
    if not snap.node:
        from kubectl_dra.errors import UsageError

        raise UsageError("the snapshot does not name its node: pass --node")
    return snap.node


def _as_resourceslice(snap: Snapshot, driver_release: DriverRelease | None, dynamic_mig: bool | None) -> dict:
    """What the driver would publish for these GPUs."""
    from kubectl_dra.nvml.resourceslice import DEFAULT_STYLE, as_resourceslice

    _named(snap)
    return as_resourceslice(snap, driver_release.value if driver_release else DEFAULT_STYLE, dynamic_mig=bool(dynamic_mig))


def _drift(snap: Snapshot, node_origin: str, source: SourceOptions, *, from_files: bool,
           driver_release: DriverRelease | None, dynamic_mig: bool | None) -> DriftReport:  # fmt: skip
    """The drift against the devices the node has published (-f, --demo or the cluster)."""
    from dataclasses import replace

    from kubectl_dra.errors import UsageError
    from kubectl_dra.kube.kinds import SLICES
    from kubectl_dra.nvml.compare import drift_report, node_devices

    node = _named(snap)
    if source.demo and source.filenames and from_files:
        raise UsageError("--demo and -f/--filename cannot be used together")
    # with -f, --demo named the NVML facts (the demo's snapshot), not the cluster
    cluster = read_cluster(replace(source.across_namespaces(), demo=source.demo and not source.filenames), (SLICES,), nodes=[node])
    published = node_devices((d for pool in cluster.pools for d in pool.devices), node)
    flush_warnings(cluster)
    if not published:
        raise _no_devices(cluster, node, node_origin)
    return drift_report(snap, published, style=driver_release.value if driver_release else None, dynamic_mig=dynamic_mig)
