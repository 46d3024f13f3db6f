"""`kubectl dra list`: every DRA device in the cluster, one row each, with who holds it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Hashable, Optional

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    AllNamespaces,
    ColorOpt,
    Color,
    Context,
    Demo,
    Filenames,
    Kubeconfig,
    Namespace,
    NoHeaders,
    Output,
    OutputOpt,
    RequestTimeout,
    flush_warnings,
    keep_alive,
    load,
    split_values,
    write_data,
)

from kubectl_dra.cli._watch import WatchOpt, WatchTable, check_watch, stream_changes

if TYPE_CHECKING:
    from kubectl_dra.kube.watch import Change
    from kubectl_dra.model.cluster import Cluster, DeviceView

STATE_CHOICES = ("all", "free", "allocated", "reserved", "tainted", "consumed-by-partition", "unavailable")


@command(app, "list")
def list_devices(
    terms: Annotated[
        Optional[list[str]],
        typer.Argument(help="Filter terms, ANDed, e.g. 'memory>=40Gi' mig=true (same language as --where; quote terms with > or <).", show_default=False),
    ] = None,
    where: Annotated[
        Optional[list[str]],
        typer.Option("--where", help="Filter, e.g. 'memory>=40Gi mig=true', 'product~h100 or arch=Blackwell' (repeatable, ANDed)."),
    ] = None,
    cel_expression: Annotated[
        Optional[str], typer.Option("--cel", help="A CEL selector, evaluated as the scheduler evaluates selectors.")
    ] = None,
    device_class: Annotated[
        Optional[str], typer.Option("--class", help="Only devices this DeviceClass's selectors admit.")
    ] = None,
    node: Annotated[Optional[list[str]], typer.Option("--node", help="Only devices on these nodes (repeatable or comma-separated).")] = None,
    driver: Annotated[Optional[list[str]], typer.Option("--driver", help="Only these drivers, e.g. gpu.nvidia.com or nvidia.")] = None,
    state: Annotated[str, typer.Option("--state", help="free | allocated (incl. reserved) | reserved | tainted | consumed-by-partition | unavailable (not free) | all.")] = "all",
    output: OutputOpt = Output.table,
    no_headers: NoHeaders = False,
    color: ColorOpt = Color.auto,
    watch: WatchOpt = False,
    filename: Filenames = None,
    demo: Demo = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    all_namespaces: AllNamespaces = False,
    request_timeout: RequestTimeout = "0",
) -> None:
    """List every DRA device: node, driver, product, memory, MIG profile, state, and the claim and pods holding it.

    Examples:

      kubectl dra list --demo

      kubectl dra list --node dgx-h100-01 --state free

      kubectl dra list 'memory>=40Gi' mig=true --demo

      kubectl dra list --cel 'device.driver == "gpu.nvidia.com" && device.attributes["gpu.nvidia.com"].architecture == "Hopper"'

      kubectl dra list --class mig.nvidia.com --state free

      kubectl dra list -o wide

      kubectl dra list -w --node dgx-h100-01   (then one line per device whose state or holder changes)

      kubectl get resourceslices,resourceclaims -A -o yaml > dump.yaml; kubectl dra list -f dump.yaml
    """
    from kubectl_dra.console import err, out, use_color
    from kubectl_dra.errors import UsageError
    from kubectl_dra.kube.load import CLASSES, CLAIMS, SLICES
    from kubectl_dra.render import devices as render

    state = state.lower()
    if state not in STATE_CHOICES:
        raise UsageError(f"--state must be one of {', '.join(STATE_CHOICES)}, not {state!r}")
    nodes = split_values(node)
    drivers = split_values(driver)
    check_selectors(" ".join([*(where or []), *(terms or [])]), cel_expression)
    check_watch(watch, demo, filename)
    if watch:
        selection = Selection(nodes, drivers, state, " ".join([*(where or []), *(terms or [])]), cel_expression, device_class)
        watch_devices(
            selection,
            output=output,
            no_headers=no_headers,
            color=use_color(color.value),
            kubeconfig=kubeconfig,
            context=context,
            namespace=namespace,
            request_timeout=request_timeout,
        )
        return
    # device state depends on claims in every namespace, so always read them all
    cluster = load(
        filenames=filename,
        demo=demo,
        kubeconfig=kubeconfig,
        context=context,
        namespace=namespace,
        all_namespaces=True,
        request_timeout=request_timeout,
        want=(SLICES, CLAIMS, CLASSES) if device_class else (SLICES, CLAIMS),
        nodes=sorted(nodes),
    )
    from kubectl_dra import timing

    timing.mark("cluster loaded")
    views = cluster.device_views()
    keep_alive(cluster, views)
    timing.mark("devices joined with claims")
    flush_warnings(cluster)
    total = len(views)
    if nodes:
        views = [v for v in views if v.device.node_label in nodes]
    if drivers:
        views = [v for v in views if render.driver_matches(v.device.driver, drivers)]
    if state != "all":
        views = [v for v in views if state_matches(v.state, state)]
    views = select(views, [v.device for v in cluster.device_views()], cluster, " ".join([*(where or []), *(terms or [])]), cel_expression, device_class)
    if not cluster.claims_known:
        err("warning: claims could not be read, so every device is shown as free")

    if output in (Output.json, Output.yaml):
        data = render.device_list(views)
        keep_alive(data)
        timing.mark("items built")
        write_data(data, output)
        timing.mark("written")
        return
    if not views:
        if nodes:
            # a live read with --node fetched only those nodes' slices: "in total" would mislead
            err(f"no DRA devices found on node{'s' if len(nodes) > 1 else ''} {', '.join(sorted(nodes))}"
                + (" matching the other filters" if drivers or state != "all" else ""))
        elif total == 0:
            err(f"no DRA devices found in {cluster.source or 'the input'}")
        else:
            err(f"no devices match the given filters ({total} devices in total)")
        return
    if output is Output.name:
        out(render.device_names(views))
        return
    text = render.devices_table(views, wide=output is Output.wide, color=use_color(color.value), no_headers=no_headers)
    if not no_headers:
        text += "\n" + render.footer(views)
    out(text)


def check_selectors(filter_text: str, cel_expression: str | None) -> None:
    """Syntax errors in a filter or --cel fail before the cluster is read (names are checked later)."""
    if filter_text.strip():
        from kubectl_dra.filter import parse

        parse(filter_text)  # FilterSyntaxError: exit 2
    if cel_expression is not None:
        from kubectl_dra import cel

        cel.compile(cel_expression)  # CelCompileError: exit 2


def select(views, all_devices, cluster, filter_text: str, cel_expression: str | None, class_name: str | None):
    """Apply --where/positional terms, --cel and --class to the device views."""
    from kubectl_dra.console import warn
    from kubectl_dra.errors import NotFoundError

    if filter_text.strip():
        from kubectl_dra.filter import Schema, compile as compile_filter

        # no devices at all: the literals decide the kinds (a name cannot be "published by no device"
        # before any driver publishes; `list -w` then waits for the devices instead of failing)
        flt = compile_filter(filter_text, Schema.from_devices(all_devices) if all_devices else None)
        views = [v for v in views if flt.matches(v.device)]
    selectors: list[tuple[str, str]] = []
    if class_name:
        cls = next((c for c in cluster.classes if c.name == class_name), None)
        if cls is None:
            names = ", ".join(sorted(c.name for c in cluster.classes)) or "none"
            raise NotFoundError(f'deviceclass "{class_name}" not found', hint=f"DeviceClasses: {names}")
        selectors += [(f"class {class_name}: selector #{i}", expr) for i, expr in enumerate(cls.selectors)]
    if cel_expression is not None:
        selectors.append(("--cel", cel_expression))
    if selectors:
        from kubectl_dra import cel

        programs = [(label, cel.compile(expr)) for label, expr in selectors]  # compile errors: exit 2
        for label, program in programs:
            results = program.evaluate_many([v.device for v in views])
            failed = [(v, r.error) for v, r in zip(views, results) if r.error]
            if failed:
                first, message = failed[0]
                warn(
                    f"{label}: CEL runtime error on {len(failed)} device{'s' if len(failed) != 1 else ''} "
                    f"(first: {first.device.id}: {message}); the scheduler would stop on these, they are not listed"
                )
                warn("guard optional attributes with has() or .?name.orValue(...)")
            views = [v for v, r in zip(views, results) if r.matched]
    return views


def state_matches(device_state: str, wanted: str) -> bool:
    """--state: ``allocated`` includes reserved, ``unavailable`` is everything but free."""
    if wanted == "all":
        return True
    if wanted == "allocated":
        return device_state in ("allocated", "reserved")
    if wanted == "unavailable":
        return device_state != "free"
    return device_state == wanted


# ---------------------------------------------------------------------------- --watch


class Selection:
    """list's filters as a function of a model: the selected device views, in list order.

    What depends on the device alone (--node, --driver, terms, --cel, --class) is decided once
    per decoded Device (a watch re-decodes only changed slices); --state on every call.
    """

    def __init__(self, nodes: set[str], drivers: set[str], state: str, filter_text: str,
                 cel_expression: Optional[str], device_class: Optional[str]) -> None:
        self.nodes, self.drivers, self.state = nodes, drivers, state
        self.filter_text, self.cel_expression, self.device_class = filter_text, cel_expression, device_class
        self._static: dict[tuple[str, str, str], tuple[Any, bool]] = {}

    def __call__(self, cluster: "Cluster") -> list["DeviceView"]:
        from kubectl_dra.render.devices import driver_matches

        views = cluster.device_views()
        static = self._static
        unknown = [v for v in views if static.get(v.device.key, (None,))[0] is not v.device]
        if unknown:
            kept = unknown
            if self.nodes:
                kept = [v for v in kept if v.device.node_label in self.nodes]
            if self.drivers:
                kept = [v for v in kept if driver_matches(v.device.driver, self.drivers)]
            kept = select(kept, [v.device for v in views], cluster, self.filter_text, self.cel_expression, self.device_class)
            chosen = {id(v) for v in kept}
            current = {v.device.key for v in views}
            self._static = static = {k: entry for k, entry in static.items() if k in current}
            for v in unknown:
                static[v.device.key] = (v.device, id(v) in chosen)
        return [v for v in views if static[v.device.key][1] and state_matches(v.state, self.state)]


def watch_devices(
    selection: Selection,
    *,
    output: Output,
    no_headers: bool,
    color: bool,
    kubeconfig: Optional[str],
    context: Optional[str],
    namespace: Optional[str],
    request_timeout: str,
) -> None:
    """`list -w`: the device table, then a row for every selected device whose state, holders,
    pods or taints change. A device that leaves the selection (e.g. `--state free` and it gets
    allocated) prints as it is now, as DELETED in -o json; one removed from the cluster prints
    with state `deleted`."""
    from kubectl_dra.console import err
    from kubectl_dra.kube.load import CLASSES
    from kubectl_dra.kube.watch import DELETED, ClusterWatch, resources_for
    from kubectl_dra.render import devices as render

    try:
        base = load(
            filenames=None, demo=False, kubeconfig=kubeconfig, context=context, namespace=namespace,
            all_namespaces=True, request_timeout=request_timeout, want=(CLASSES,) if selection.device_class else (),
        )
        watch = ClusterWatch(base, resources_for(base, all_claims=True, nodes=sorted(selection.nodes)))
    except KeyboardInterrupt:
        return
    wide = output is Output.wide
    current: dict[tuple[str, str, str], "DeviceView"] = {}

    def snapshot(cluster: "Cluster") -> dict[Hashable, tuple[Any, Any]]:
        views = selection(cluster)
        current.clear()
        current.update((v.device.key, v) for v in cluster.device_views())
        return {v.device.key: (device_signature(v), v) for v in views}

    def view_of(change: "Change") -> tuple["DeviceView", bool]:
        """The view to print, and whether the device is gone from the cluster."""
        if change.type == DELETED:
            now = current.get(change.key)
            return (now, False) if now is not None else (change.value, True)
        return change.value, False

    def rows(cluster: "Cluster", change: "Change") -> list[list[str]]:
        view, gone = view_of(change)
        row = render.device_row(view, wide)
        if gone:
            row[render.COLUMNS.index("STATE")] = "deleted"
        return [row]

    def item(cluster: "Cluster", change: "Change") -> dict:
        view, gone = view_of(change)
        data = render.device_item(view)
        return {**data, "state": "deleted"} if gone else data

    def name(change: "Change") -> str:
        dev = change.value.device
        return f"{dev.driver}/{dev.pool}/{dev.name}"

    def when_empty(cluster: "Cluster") -> None:
        total = len(cluster.device_views())
        if total == 0:
            err(f"no DRA devices found in {cluster.source or 'the cluster'} (watching)")
        else:
            err(f"no devices match the given filters ({total} devices in total; watching)")

    table = WatchTable(
        render.WIDE_COLUMNS if wide else render.COLUMNS, no_headers=no_headers, color=color,
        state_column=render.COLUMNS.index("STATE"), styles=render.STATE_STYLE,
    )
    stream_changes(watch, snapshot, output=output, table=table, rows=rows, item=item, name=name, when_empty=when_empty)


def device_signature(view: "DeviceView") -> tuple:
    """What makes a device's line worth printing again: its state, who holds it, which pods use
    it, what blocks it, its taints."""
    holders = tuple((h.claim.ref, h.result.request, tuple(h.pods)) for h in view.holders)
    admin = tuple(h.claim.ref for h in view.admin_holders)
    taints = tuple(sorted(repr(t) for t in view.device.taints)) if view.device.taints else ()
    return (view.state, holders, admin, tuple(view.blocked_by), taints)
