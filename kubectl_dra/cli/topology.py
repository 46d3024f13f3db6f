"""`kubectl dra topology [NODE]`: a node's NUMA → PCIe root → device → partition tree, or the cluster by NVLink clique.

The data shapes (``-o json|yaml``) and how partitions, placement and NVML facts are worked out are
documented in kubectl_dra/render/topology.py.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    Color,
    ColorOpt,
    Context,
    Demo,
    Filenames,
    Kubeconfig,
    Output,
    OutputOpt,
    RequestTimeout,
    flush_warnings,
    keep_alive,
    load,
    write_data,
)


def _read_nvml(path: str) -> dict:
    import json

    from kubectl_dra.errors import InputError

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as err:
        raise InputError(f"--nvml {path}: cannot read: {err.strerror or err}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"--nvml {path}: not JSON: {err}", hint="pass the JSON of an NVML snapshot") from None
    if not isinstance(data, dict) or not isinstance(data.get("gpus", []), list):
        raise InputError(f"--nvml {path}: not an NVML snapshot (expected an object with a \"gpus\" list)")
    return data


def _local_nvml(node: str | None, demo: bool) -> dict:
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
    return snapshot.to_dict()


def _load_files(filenames: list[str], *, demo: bool, kubeconfig: str | None, context: str | None):
    """-f input read once (stdin included), keeping the ComputeDomains the cluster model drops."""
    from kubectl_dra.errors import UsageError
    from kubectl_dra.kube.files import load_objects
    from kubectl_dra.kube.load import add_all
    from kubectl_dra.model.cluster import Cluster
    from kubectl_dra.render.topology import compute_domain_entry

    if demo:
        raise UsageError("--demo and -f/--filename cannot be used together")
    if kubeconfig or context:
        raise UsageError("-f/--filename reads files, not a cluster: drop --kubeconfig/--context")
    domains: list[dict] = []

    def objects():
        for origin, obj in load_objects(filenames):
            domain = compute_domain_entry(obj)
            if domain is not None:
                domains.append(domain)
            else:
                yield origin, obj

    cluster = Cluster(source=", ".join(filenames))
    add_all(cluster, objects())
    return cluster, domains


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
    filename: Filenames = None,
    demo: Demo = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    request_timeout: RequestTimeout = "0",
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
    from kubectl_dra.console import err, out, use_color
    from kubectl_dra.errors import NotFoundError, UsageError
    from kubectl_dra.kube.load import CLAIMS, NODES, SLICES
    from kubectl_dra.render import topology as render

    if output is Output.name:
        raise UsageError("topology does not print names: use -o table, wide, json or yaml")
    if local and nvml_file:
        raise UsageError("--local and --nvml cannot be used together")
    from kubectl_dra.cli import nvml_remote

    if nvml_remote.live_via(nvml_file):  # --nvml live[:VIA]: collect from NODE through the cluster
        nvml = nvml_remote.live_snapshot(node, nvml_file, demo=demo, files=bool(filename), kubeconfig=kubeconfig,
                                         context=context, request_timeout=request_timeout).to_dict()  # fmt: skip
    else:
        nvml = _read_nvml(nvml_file) if nvml_file else _local_nvml(node, demo) if local else None
    if nvml is None and demo and node and not filename:
        # the demo cluster ships NVML snapshots of its NVIDIA nodes: show NVLink without asking
        from kubectl_dra.nvml import demo_snapshot

        snapshot = demo_snapshot(node)
        nvml = snapshot.to_dict() if snapshot is not None else None
    if nvml is not None:
        snapshot_node = str(nvml.get("node") or nvml.get("hostname") or "") or None
        if not node:
            node = snapshot_node
            if not node:
                raise UsageError("--nvml describes one node: name it (kubectl dra topology NODE --nvml FILE)")
        elif snapshot_node and snapshot_node != node:
            err(f"warning: the NVML snapshot is of node {snapshot_node}, not {node}: matching its GPUs by UUID and PCI bus id anyway")

    domains: list[dict] = []
    if filename:
        cluster, domains = _load_files(filename, demo=demo, kubeconfig=kubeconfig, context=context)
    else:
        from kubectl_dra.kube.live import Forbidden

        options = {
            "filenames": None,
            "demo": demo,
            "kubeconfig": kubeconfig,
            "context": context,
            "namespace": None,
            "all_namespaces": True,
            "request_timeout": request_timeout,
            "nodes": [node] if node else [],
        }
        try:
            cluster = load(**options, want=(SLICES, CLAIMS, NODES))
        except Forbidden as error:
            if "nodes" not in error.message:
                raise
            # Node objects only add the clique label: go on without them
            cluster = load(**options, want=(SLICES, CLAIMS))
            cluster.warnings.append(f"{error.message}; NVLink cliques (node label {render.CLIQUE_LABEL}) are not shown")
    views = cluster.device_views()
    keep_alive(cluster, views)
    if node:
        known = render.node_names(cluster)
        if node not in known:
            flush_warnings(cluster)
            import difflib

            close = difflib.get_close_matches(node, known, n=3, cutoff=0.5)
            if close:
                hint = "did you mean " + " or ".join(close) + "?"
            elif known:
                hint = "nodes: " + ", ".join(known[:8]) + (" …" if len(known) > 8 else "")
            else:
                hint = f"no nodes with DRA devices in {cluster.source or 'the input'}"
            raise NotFoundError(f'node "{node}" not found', hint=hint)
        data = render.node_topology(cluster, node, nvml=nvml, compute_domains=domains)
    else:
        data = render.cluster_topology(cluster, domains)
    flush_warnings(cluster)
    if not cluster.claims_known:
        err("warning: claims could not be read, so every device is shown as free")
    if output in (Output.json, Output.yaml):
        write_data(data, output)
        return
    tree = render.node_tree(data, wide=output is Output.wide) if node else render.cluster_tree(data)
    extra = render.nvml_text(data) if node else ""
    if use_color(color.value):
        import sys

        from rich.console import Console

        # a terminal: rich wraps long rows under their branch; a pipe (--color always): no wrapping
        width = None if sys.stdout.isatty() else max(len(line) for line in render.plain_text(tree).splitlines()) + 1
        console = Console(
            file=sys.stdout, force_terminal=True, no_color=False, highlight=False, markup=False, emoji=False, width=width
        )
        console.print(render.rich_tree(tree))
        if extra:
            console.print(extra, end="", highlight=False, markup=False, soft_wrap=True)
    else:
        out(render.plain_text(tree) + extra)
