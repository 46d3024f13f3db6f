"""The remote and fleet parts of ``kubectl dra nvml`` (``--node N --via …``, ``--all-nodes``, ``-l``, ``--cleanup``).

``cli/nvml.py`` declares the options and calls in here; everything is imported lazily (``--help``
imports neither this module's dependencies nor the NVML package).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubectl_dra.nvml.snapshot import Snapshot

LOCAL = "local"


@dataclass
class RemoteArgs:
    via: str | None
    all_nodes: bool
    selector: str | None
    image: str | None
    namespace: str | None
    driver_namespace: str | None
    timeout: str | None
    concurrency: int
    cleanup: bool

    @property
    def fleet(self) -> bool:
        return self.all_nodes or bool(self.selector)

    @property
    def pod_options(self) -> list[str]:
        """The flags that only a remote collection reads (for usage errors)."""
        named = [("--image", self.image), ("--namespace", self.namespace), ("--driver-namespace", self.driver_namespace),
                 ("--timeout", self.timeout)]  # fmt: skip
        return [flag for flag, value in named if value]


def this_machine(node: str) -> bool:
    """True when ``node`` names the machine we run on ($NODE_NAME, else the host name)."""
    import os
    import socket

    if os.environ.get("NODE_NAME"):
        return node == os.environ["NODE_NAME"]
    host = socket.gethostname()
    return node in (host, host.split(".")[0], socket.getfqdn())


def wants_remote(node: str | None, args: RemoteArgs, *, snapshot: bool, demo: bool) -> bool:
    """Remote when --via names a way in, in fleet mode, or when --node names another machine
    (no --snapshot/--demo). ``--via local`` and plain ``nvml`` read this machine's NVML."""
    if args.via == LOCAL:
        return False
    if args.via or args.fleet or args.cleanup:
        return True
    return bool(node) and not snapshot and not demo and not this_machine(node)


def check_usage(node: str | None, args: RemoteArgs, *, snapshot: str, demo: bool, filename: bool,
                as_resourceslice: bool) -> None:  # fmt: skip
    """``snapshot``: the saved-data flag given (--snapshot, --nvidia-smi), or ""."""
    from kubectl_dra.errors import UsageError

    if args.via == LOCAL:
        if args.fleet:
            raise UsageError("--via local reads this machine: it cannot be used with --all-nodes/-l")
        if args.pod_options:
            raise UsageError(f"{', '.join(args.pod_options)} apply to remote collection, not --via local")
        return
    remote = wants_remote(node, args, snapshot=bool(snapshot), demo=demo)
    if not remote:
        if args.pod_options:
            raise UsageError(f"{', '.join(args.pod_options)} apply to remote collection (--node NODE --via …, --all-nodes)")
        return
    if snapshot or demo or filename:
        flag = snapshot or ("--demo" if demo else "-f/--filename")
        raise UsageError(f"{flag} reads saved data: it cannot be used with remote collection (--via, --all-nodes, -l)")
    if args.cleanup:
        if node or args.fleet or as_resourceslice:
            raise UsageError("--cleanup only deletes leftover collector pods and claims: use it on its own (with -n)")
        return
    if args.fleet and node:
        raise UsageError("--node and --all-nodes/-l cannot be used together")
    if args.all_nodes and args.selector:
        raise UsageError("--all-nodes and -l/--selector cannot be used together",
                         hint="-l alone collects from the GPU nodes with those labels")  # fmt: skip
    if args.fleet and as_resourceslice:
        raise UsageError("--as-resourceslice prints one node's devices: use it with --node")
    if not args.fleet and not node:
        raise UsageError("--via collects from a remote node: name it with --node NODE (or use --all-nodes)")
    if args.concurrency < 1:
        raise UsageError("--max-concurrency must be at least 1")


def remote_options(args: RemoteArgs, via: str | None = None):
    from kubectl_dra.errors import UsageError
    from kubectl_dra.kube.discovery import parse_duration
    from kubectl_dra.nvml.remote import DEFAULT_IMAGE, DEFAULT_TIMEOUT, RemoteOptions

    timeout = DEFAULT_TIMEOUT
    if args.timeout:
        try:
            timeout = parse_duration(args.timeout) or DEFAULT_TIMEOUT
        except ValueError as err:
            raise UsageError(f"--timeout: {err}") from None
    return RemoteOptions(via=via or args.via or "auto", namespace=args.namespace, image=args.image or DEFAULT_IMAGE,
                         timeout=timeout, driver_namespace=args.driver_namespace)  # fmt: skip


def _connect(kubeconfig, context, request_timeout):
    from kubectl_dra.errors import UsageError
    from kubectl_dra.kube.discovery import parse_duration
    from kubectl_dra.kube.live import LiveCluster

    try:
        timeout = parse_duration(request_timeout)
    except ValueError as err:
        raise UsageError(f"--request-timeout: {err}") from None
    return LiveCluster(kubeconfig=kubeconfig, context=context, request_timeout=timeout)


def _published(live, nodes: list[str] | None, kubeconfig, context, request_timeout):
    """(served resource.k8s.io version, the gpu.nvidia.com devices by node); nodes None: every node."""
    from kubectl_dra.cli._common import flush_warnings, read_cluster, source_options
    from kubectl_dra.kube.load import SLICES
    from kubectl_dra.nvml.remote import DRIVER

    source = source_options(filename=None, demo=False, kubeconfig=kubeconfig, context=context, namespace=None,
                            all_namespaces=True, request_timeout=request_timeout)
    cluster = read_cluster(source, (SLICES,), nodes=nodes or [])
    flush_warnings(cluster)
    by_node: dict[str, list] = {}
    for pool in cluster.pools:
        for d in pool.devices:
            if d.driver == DRIVER and d.node_name:
                by_node.setdefault(d.node_name, []).append(d)
    return cluster.served_version or "v1", by_node


def remote_snapshot(node: str, args: RemoteArgs, *, kubeconfig, context, request_timeout) -> Snapshot:
    """One node's snapshot, collected through the cluster (the rest of ``nvml`` renders it)."""
    from kubectl_dra.errors import ClusterError
    from kubectl_dra.nvml.remote import RemoteError

    try:
        return _remote_snapshot(node, args, kubeconfig=kubeconfig, context=context, request_timeout=request_timeout)
    except (ClusterError, RemoteError) as err:
        if args.via is None:  # remote only because --node names another machine: say so
            local = "; to read this machine's GPUs as that node, add --via local"
            err.hint = (err.hint or f"--node {node} is not this machine, so it is read through the cluster") + local
        raise


def _remote_snapshot(node: str, args: RemoteArgs, *, kubeconfig, context, request_timeout) -> Snapshot:
    from kubectl_dra.console import Spinner, warn
    from kubectl_dra.kube.live import Forbidden

    live = _connect(kubeconfig, context, request_timeout)
    opts = remote_options(args)
    _check_node(live, node)
    devices = None
    if opts.via in ("auto", "admin-claim"):
        try:
            opts.resource_version, by_node = _published(live, [node], kubeconfig, context, request_timeout)
            devices = by_node.get(node, [])
        except Forbidden:
            if opts.via == "admin-claim":
                raise
    from kubectl_dra.nvml.remote import collect_node

    spinner = Spinner(f"collecting NVML facts from node {node}…")
    opts.on_step = lambda text: setattr(spinner, "text", f"node {node}: {text}…")
    with spinner:
        snap, got = collect_node(live, node, opts, devices=devices)
    for note in got.notes:
        warn(note)
    return snap


def _check_node(live, node: str) -> None:
    """A node that does not exist is exit 3 with the names of similar nodes, before anything is tried."""
    import difflib

    from kubectl_dra.errors import NotFoundError
    from kubectl_dra.kube.live import Forbidden
    from kubectl_dra.kube.podrun import list_items

    try:
        live.get(f"/api/v1/nodes/{node}", what=f"node {node}")
    except Forbidden:
        return  # not allowed to look: the way in will say what it finds
    except NotFoundError:
        try:
            names = [str((n.get("metadata") or {}).get("name")) for n in list_items(live, "/api/v1/nodes", what="nodes")]
        except Forbidden:
            names = []
        close = difflib.get_close_matches(node, names, n=3, cutoff=0.6)
        raise NotFoundError(f'node "{node}" not found',
                            hint=("did you mean " + " or ".join(close) + "?") if close else None) from None


def cleanup(args: RemoteArgs, *, kubeconfig, context, request_timeout) -> None:
    from kubectl_dra.console import err, out

    from kubectl_dra.nvml.remote import cleanup_leftovers

    live = _connect(kubeconfig, context, request_timeout)
    namespace = args.namespace or live.namespace
    gone = cleanup_leftovers(live, namespace)
    if gone:
        out("\n".join(f"deleted {g}" for g in gone) + "\n")
    else:
        err(f"no leftover kubectl-dra collector pods or claims in namespace {namespace}")


def fleet(args: RemoteArgs, *, output, color, kubeconfig, context, request_timeout) -> int:
    """Collect from every GPU node (or the labelled ones), print the drift report; the exit code."""
    from kubectl_dra.cli._common import Output, write_data
    from kubectl_dra.console import out, use_color
    from kubectl_dra.errors import ExitCode, NotFoundError
    from kubectl_dra.kube.podrun import list_items
    from kubectl_dra.nvml.fleet import collect_fleet, gpu_nodes
    from kubectl_dra.render.fleet import fleet_text

    live = _connect(kubeconfig, context, request_timeout)
    opts = remote_options(args)
    version, by_node = _published(live, None, kubeconfig, context, request_timeout)
    opts.resource_version = version
    if args.selector:
        labelled = list_items(live, "/api/v1/nodes", what="nodes", label_selector=args.selector)
        nodes = sorted(str((n.get("metadata") or {}).get("name")) for n in labelled)
        if not nodes:
            raise NotFoundError(f"no node matches the label selector {args.selector}")
    else:
        nodes = gpu_nodes([d for devices in by_node.values() for d in devices])
        if not nodes:
            raise NotFoundError("no node publishes gpu.nvidia.com devices",
                                hint="select GPU nodes by label instead: -l nvidia.com/gpu.present=true")  # fmt: skip
    live._connect()  # once, before the worker threads share the client
    progress = _progress(len(nodes))
    with progress as bar:
        report = collect_fleet(live, nodes, by_node, opts, concurrency=args.concurrency,
                               on_done=lambda r: bar.advance(r.node))  # fmt: skip
    if output in (Output.json, Output.yaml):
        write_data(report.to_dict(), output)
    else:
        out(fleet_text(report, color=use_color(color.value)))
    if report.drifted:
        return int(ExitCode.DRIFT)
    if report.failed:
        return int(ExitCode.REMOTE)
    return 0


class _Bar:
    """A rich progress bar on stderr, only on a terminal; otherwise nothing."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._progress = None
        self._task = None

    def __enter__(self) -> "_Bar":
        import os
        import sys

        if sys.stderr.isatty() and os.environ.get("TERM") != "dumb" and not os.environ.get("KUBECTL_DRA_NO_SPINNER"):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("collecting NVML facts"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("{task.description}"),
                                      console=Console(stderr=True), transient=True)  # fmt: skip
            self._progress.start()
            self._task = self._progress.add_task("", total=self.total)
        return self

    def advance(self, node: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description=node)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()


def _progress(total: int) -> _Bar:
    return _Bar(total)


# ---------------------------------------------------------------------------- live facts for other views


def live_via(value: str | None) -> str | None:
    """``live`` → ``auto``, ``live:VIA`` → VIA; anything else (a file) → None."""
    from kubectl_dra.errors import UsageError
    from kubectl_dra.nvml.remote import VIAS

    if not value or not (value == "live" or value.startswith("live:")):
        return None
    via = value.partition(":")[2] or "auto"
    if via not in VIAS:
        raise UsageError(f"--nvml {value}: unknown way in {via!r}", hint=f"use live or live:{'|'.join(VIAS)}")
    return via


def live_snapshot(node: str | None, value: str, *, demo: bool, files: bool, kubeconfig, context,
                  request_timeout) -> Snapshot:  # fmt: skip
    """``--nvml live[:VIA]`` of another view: the node's snapshot through the cluster (the demo's own with --demo)."""
    from kubectl_dra.errors import NotFoundError, UsageError

    if not node:
        raise UsageError(f"--nvml {value} collects from one node: name it")
    if demo:
        from kubectl_dra.nvml import demo_snapshot

        snap = demo_snapshot(node)
        if snap is None:
            raise NotFoundError(f"the demo cluster has no NVML snapshot of node {node}")
        return snap
    if files:
        raise UsageError(f"--nvml {value} reads the cluster: it cannot be used with -f/--filename",
                         hint="pass a saved snapshot instead: --nvml FILE")  # fmt: skip
    args = RemoteArgs(live_via(value), False, None, None, None, None, None, 1, False)
    return remote_snapshot(node, args, kubeconfig=kubeconfig, context=context, request_timeout=request_timeout)
