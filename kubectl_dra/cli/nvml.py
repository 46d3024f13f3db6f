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
    flush_warnings,
    load,
    write_data,
)

if TYPE_CHECKING:
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


def read_snapshot(path: str) -> Snapshot:
    """A snapshot from a file or ``-`` (stdin): the JSON ``-o json`` writes, or the YAML ``-o yaml`` writes."""
    import json
    import sys

    from kubectl_dra.nvml.snapshot import Snapshot, SnapshotError

    source = "stdin" if path == "-" else path
    from kubectl_dra.kube.files import read_input

    text = read_input(path, label=f"--snapshot {source}", error=SnapshotError)  # bytes checked as UTF-8, any locale
    hint = "write one with `kubectl dra nvml -o json > snapshot.json` on the node"
    if not text.strip():
        raise SnapshotError(f"--snapshot {source}: empty", hint=hint)
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SnapshotError(f"--snapshot {source}: not JSON ({error})", hint=hint) from None
        except (ValueError, RecursionError) as error:  # a 5,000-digit number, deep nesting
            raise SnapshotError(f"--snapshot {source}: a value this tool cannot read: {str(error)[:100]}", hint=hint) from None
    else:
        import yaml

        try:
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise SnapshotError(f"--snapshot {source}: not JSON or YAML{where}", hint=hint) from None
        except (ValueError, RecursionError) as error:
            raise SnapshotError(f"--snapshot {source}: a value this tool cannot read: {str(error)[:100]}", hint=hint) from None
    return Snapshot.from_dict(data, source)


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


def published_devices(cluster, node: str) -> list:
    """The node's gpu.nvidia.com devices, newest pool generation only."""
    return [d for pool in cluster.pools for d in pool.devices if d.driver == DRIVER and (d.node_name == node or d.pool == node)]


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

      kubectl dra nvml --compare

      kubectl dra nvml --demo --node a100-mig-01 --compare
    """
    from kubectl_dra.console import out, use_color, warn
    from kubectl_dra.errors import ExitCode, UsageError

    # ------------------------------------------------------------------ option checks
    if output is Output.name:
        raise UsageError("nvml does not print names: use -o table, wide, json or yaml")
    if as_resourceslice and compare:
        raise UsageError("--as-resourceslice and --compare cannot be used together",
                         hint="--compare already works out the devices the driver would publish")  # fmt: skip
    if not (as_resourceslice or compare):
        if driver_release is not None or dynamic_mig is not None:
            raise UsageError("--driver-release and --dynamic-mig apply to --as-resourceslice and --compare")
        if filename or kubeconfig or context:
            raise UsageError("-f/--filename, --kubeconfig and --context choose the cluster that --compare reads",
                             hint="add --compare, or use --snapshot FILE to render a saved NVML snapshot")  # fmt: skip
        if demo and snapshot:
            raise UsageError("--demo and --snapshot cannot be used together",
                             hint="--demo --node NODE renders the demo snapshot; with --compare, --snapshot FILE --demo "
                             "compares FILE with the demo cluster")  # fmt: skip
    if as_resourceslice and (filename or kubeconfig or context):
        raise UsageError("--as-resourceslice reads no cluster: drop -f/--kubeconfig/--context")
    if as_resourceslice and output is Output.wide:
        raise UsageError("--as-resourceslice prints yaml (the default) or json")

    # ------------------------------------------------------------------ the NVML facts
    node_origin = "option" if node else "snapshot"
    if snapshot:
        snap = read_snapshot(snapshot)
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

    from kubectl_dra.render import nvml as render

    for message in render.snapshot_warnings(snap):
        warn(message)

    # ------------------------------------------------------------------ what the driver would publish
    if as_resourceslice:
        from kubectl_dra.nvml.resourceslice import DEFAULT_STYLE
        from kubectl_dra.nvml.resourceslice import as_resourceslice as build

        if not snap.node:
            raise UsageError("the snapshot does not name its node: pass --node")
        style = driver_release.value if driver_release else DEFAULT_STYLE
        data = build(snap, style, dynamic_mig=bool(dynamic_mig))
        write_data(data, Output.json if output is Output.json else Output.yaml)
        return

    # ------------------------------------------------------------------ drift against the published devices
    if compare:
        from kubectl_dra.kube.load import SLICES
        from kubectl_dra.nvml.compare import compare as diff
        from kubectl_dra.nvml.compare import expected_devices
        from kubectl_dra.nvml.resourceslice import as_resourceslice as build
        from kubectl_dra.nvml.resourceslice import detect_dynamic_mig, detect_style

        if not snap.node:
            raise UsageError("the snapshot does not name its node: pass --node")
        cluster_demo = demo and not filename
        if demo and filename and snapshot:
            raise UsageError("--demo and -f/--filename cannot be used together")
        cluster = load(
            filenames=filename,
            demo=cluster_demo,
            kubeconfig=kubeconfig,
            context=context,
            namespace=None,
            all_namespaces=True,
            request_timeout=request_timeout,
            want=(SLICES,),
            nodes=[snap.node],
        )
        published = published_devices(cluster, snap.node)
        flush_warnings(cluster)
        if not published:
            raise _no_devices(cluster, snap.node, node_origin)
        style = driver_release.value if driver_release else detect_style(published)
        dynamic = detect_dynamic_mig(published) if dynamic_mig is None else dynamic_mig
        expected = build(snap, style, dynamic_mig=dynamic)
        drift = diff(expected, published, node=snap.node)
        if output in (Output.json, Output.yaml):
            write_data(render.drift_data(drift, style=style, dynamic_mig=dynamic, partial=snap.partial), output)
        else:
            count = len([d for d in expected_devices(expected) if d.driver == DRIVER])
            out(render.drift_text(drift, style=style, dynamic_mig=dynamic, expected=count, published=len(published),
                                  snap=snap, color=use_color(color.value)))  # fmt: skip
        if not drift.in_sync:
            raise typer.Exit(int(ExitCode.DRIFT))
        return

    # ------------------------------------------------------------------ the snapshot itself
    if output is Output.json:
        from kubectl_dra.nvml.snapshot import dump_snapshot

        out(dump_snapshot(snap))
    elif output is Output.yaml:
        write_data(snap.to_dict(), output)
    else:
        out(render.snapshot_text(snap, wide=output is Output.wide, color=use_color(color.value)))
