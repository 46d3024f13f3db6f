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
    Output,
    OutputOpt,
    emit,
    flush_warnings,
    read_cluster,
    source_flags,
    write_data,
)

if TYPE_CHECKING:
    from kubectl_dra.kube.source import SourceOptions
    from kubectl_dra.nvml.compare import DriftReport
    from kubectl_dra.nvml.snapshot import Snapshot

NVML = "NVML source (default: this machine)"
REMOTE = "Remote collection (through the cluster; see docs/nvml.md)"
MODE = "What to print (default: the GPUs, MIG devices and topology)"
DRIVER = "gpu.nvidia.com"
#: the cluster-wide source flags; --demo also names the NVML facts (the demo's snapshot of --node)
CLUSTER_SOURCE = source_flags(
    "filename", "demo", "kubeconfig", "context", "request_timeout",
    demo=Annotated[bool, typer.Option("--demo", help="Use the built-in demo cluster: its NVML snapshot of --node, and its "
                                      "ResourceSlices for --compare.", rich_help_panel=NVML)],
)  # fmt: skip


class Via(str, Enum):
    """``kubectl_dra.nvml.remote.VIAS`` plus ``local`` (spelled out here: --help must not import the package)."""

    auto = "auto"
    local = "local"
    driver_pod = "driver-pod"
    admin_claim = "admin-claim"
    debug_pod = "debug-pod"


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
        hint = (f'"{node}" is this machine\'s host name; in a pod it is not the node name: pass --node NODE --via local, or set NODE_NAME '
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
        typer.Option("--node", metavar="NODE", help="Collect from this node through the cluster (see --via); on the node "
                     "itself ($NODE_NAME or the host name) or with --via local: this machine, labelled NODE. "
                     "With --demo: the demo node. With --snapshot: overrides the snapshot's node.",
                     rich_help_panel=NVML),
    ] = None,
    via: Annotated[
        Via | None,
        typer.Option("--via", help="How to reach --node: driver-pod (exec into the NVIDIA DRA driver's kubelet-plugin "
                     "pod: needs pods/exec, which is root on the node), admin-claim (a short-lived pod with an "
                     "adminAccess ResourceClaim; the namespace must be labelled resource.kubernetes.io/admin-access=true), "
                     "debug-pod (a privileged pod with the host's root: root on the node; never chosen by auto), "
                     "auto (driver-pod, then admin-claim; the default for a remote node), local (this machine).",
                     case_sensitive=False, rich_help_panel=REMOTE),
    ] = None,
    all_nodes: Annotated[
        bool,
        typer.Option("--all-nodes", help="Collect from every node that publishes gpu.nvidia.com devices and report "
                     "drift against its ResourceSlices (exit code 8 when any node drifts, 9 when some could not be read).",
                     rich_help_panel=REMOTE),
    ] = False,
    selector: Annotated[
        str | None,
        typer.Option("--selector", "-l", metavar="SELECTOR", help="Fleet mode over the nodes with these labels "
                     "(e.g. nvidia.com/gpu.present=true).", rich_help_panel=REMOTE),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option("--image", help="The collector pod's image for admin-claim and debug-pod (default: ubuntu:24.04; "
                     "any image with sh and timeout: the driver injects nvidia-smi).", rich_help_panel=REMOTE),
    ] = None,
    pod_namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="Where admin-claim and debug-pod create their pod and claims, and "
                     "where --cleanup looks (default: the context's namespace).", rich_help_panel=REMOTE),
    ] = None,
    driver_namespace: Annotated[
        str | None,
        typer.Option("--driver-namespace", help="The NVIDIA DRA driver's namespace (default: search all namespaces).",
                     rich_help_panel=REMOTE),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option("--timeout", help="How long each nvidia-smi command may run on a node (default 20s; e.g. 30s, 1m); "
                     "the client waits twice that plus 15s per node.",
                     rich_help_panel=REMOTE),
    ] = None,
    max_concurrency: Annotated[
        int,
        typer.Option("--max-concurrency", help="Fleet mode: nodes collected at the same time.", rich_help_panel=REMOTE),
    ] = 8,
    cleanup: Annotated[
        bool,
        typer.Option("--cleanup", help="Delete collector pods and claims an interrupted run left behind (by label, "
                     "in -n's namespace).", rich_help_panel=REMOTE),
    ] = False,
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
    source: SourceOptions = CLUSTER_SOURCE,
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

      kubectl dra nvml --node dgx-01 --via driver-pod

      kubectl dra nvml --all-nodes -o json
    """
    from kubectl_dra.console import out, use_color, warn
    from kubectl_dra.render import nvml as render

    from kubectl_dra.cli import nvml_remote

    # remote collection (--node elsewhere, --via, --all-nodes, -l, --cleanup): kubectl_dra/cli/nvml_remote.py
    remote_args = nvml_remote.RemoteArgs(via.value if via else None, all_nodes, selector, image, pod_namespace,
                                         driver_namespace, timeout, max_concurrency, cleanup)  # fmt: skip
    saved = "--snapshot" if snapshot else "--nvidia-smi" if nvidia_smi else ""
    remote = nvml_remote.wants_remote(node, remote_args, snapshot=bool(saved), demo=source.demo)
    _check(output, source, as_resourceslice=as_resourceslice, compare=compare, driver_release=driver_release,
           dynamic_mig=dynamic_mig, snapshot=snapshot, nvidia_smi=nvidia_smi, remote=remote)  # fmt: skip
    nvml_remote.check_usage(node, remote_args, snapshot=saved, demo=source.demo, filename=bool(source.filenames),
                            as_resourceslice=as_resourceslice)  # fmt: skip
    # the source flags arrive folded into ``source`` (cli/_boundary.py)
    conn = {"kubeconfig": source.kubeconfig, "context": source.context, "request_timeout": str(source.request_timeout or 0)}
    if remote and cleanup:
        nvml_remote.cleanup(remote_args, **conn)
        return
    if remote and remote_args.fleet:
        code = nvml_remote.fleet(remote_args, output=output, color=color, **conn)
        if code:
            raise typer.Exit(code)
        return
    if remote:
        snap, node_origin = nvml_remote.remote_snapshot(node, remote_args, **conn), "option"
    else:
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
           snapshot: str | None, nvidia_smi: list[str] | None, remote: bool = False) -> None:  # fmt: skip
    """The option combinations nvml refuses (exit 2), before anything is read. ``remote``: the NVML facts
    come through the cluster (--kubeconfig/--context choose it)."""
    from kubectl_dra.errors import UsageError

    cluster_flags = source.filenames or ((source.kubeconfig or source.context) and not remote)
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
