"""`kubectl dra list`: every DRA device in the cluster, one row each, with who holds it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    NAMESPACED,
    Color,
    ColorOpt,
    NoHeaders,
    Output,
    OutputOpt,
    SortBy,
    TemplateOutputOpt,
    emit,
    sort_rows,
    flush_warnings,
    keep_alive,
    read_cluster,
    split_values,
)
from kubectl_dra.cli._watch import WatchOpt, WatchTable, check_watch, start_watch, stream_changes
from kubectl_dra.console import err, use_color
from kubectl_dra.kube.kinds import CLAIM_ALLOCATIONS, CLASSES, SLICES

if TYPE_CHECKING:
    from kubectl_dra.domain.device_query import DeviceQuery
    from kubectl_dra.kube.source import SourceOptions
    from kubectl_dra.model.cluster import Cluster



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
    selector: Annotated[
        Optional[str],
        typer.Option("--selector", "-l", help="Only devices on nodes whose labels match this selector "
                     "(kubectl's syntax: k=v, k!=v, k in (a,b), k, !k; comma-separated, ANDed)."),
    ] = None,
    show_labels: Annotated[
        bool, typer.Option("--show-labels", help="Add a LABELS column with the node's labels.", rich_help_panel="Output")
    ] = False,
    output: TemplateOutputOpt = Output.table,
    sort_by: SortBy = None,
    no_headers: NoHeaders = False,
    color: ColorOpt = Color.auto,
    watch: WatchOpt = False,
    source: SourceOptions = NAMESPACED,
) -> None:
    """List every DRA device: node, driver, product, memory, MIG profile, state, and the claim and pods holding it.

    Devices belong to no namespace: without -n (or with -A) every device is listed; -n NS lists the
    devices held by claims in NS (devices no claim holds are left out, and stderr says how many).
    A threshold term that leaves out devices just below it (a 3g.40gb MIG slice has 39.5Gi, below
    memory>=40Gi) gets a note on stderr with the threshold that would admit them.
    On a terminal the table ends with totals; in a pipe the totals go to stderr.

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
    from kubectl_dra import timing
    from kubectl_dra.domain.device_query import DeviceQuery
    from kubectl_dra.render import devices as render

    query = DeviceQuery(split_values(node), split_values(driver), state,
                        " ".join([*(where or []), *(terms or [])]), cel_expression, device_class)
    query.validate()
    timing.mark("filters checked")
    from kubectl_dra.model.labels import parse_selector

    node_selector = parse_selector(selector) if selector else None
    check_watch(watch, source)
    from kubectl_dra.cli._common import Template, check_output

    check_output(output, data=True, table=True, names=True)  # a bad template: exit 2 before reading
    if watch and (isinstance(output, Template) or sort_by or selector or show_labels):
        from kubectl_dra.errors import UsageError

        raise UsageError("-w prints devices as table, wide, json, yaml or name",
                         hint="drop --sort-by, -l, --show-labels and -o jsonpath/custom-columns with -w")
    if watch:
        watch_devices(query, source, output=output, no_headers=no_headers, color=use_color(color.value))
        return
    # device state depends on claims in every namespace, so always read them all
    # the claims as allocations only: list shows who holds a device, never a claim's spec
    want = (SLICES, CLAIM_ALLOCATIONS, CLASSES) if device_class else (SLICES, CLAIM_ALLOCATIONS)
    if node_selector is not None or show_labels:
        from kubectl_dra.kube.kinds import NODES

        want = (*want, NODES)
    cluster = read_cluster(source.across_namespaces(), want, nodes=sorted(query.nodes))
    timing.mark("cluster loaded")
    views = cluster.device_views()
    keep_alive(cluster, views)
    timing.mark("devices joined with claims")
    flush_warnings(cluster)
    selected = query.apply(cluster, views)
    timing.mark("devices selected")
    if not cluster.claims_known:
        err("warning: claims could not be read, so every device is shown as free")
    labels_of = {n.name: (n.labels or {}) for n in cluster.nodes}
    if node_selector is not None:
        selected = [v for v in selected if node_selector.matches(labels_of.get(v.device.node_label))]
    from kubectl_dra.model.claim_query import devices_in_namespace

    scoped = devices_in_namespace(selected, source.namespace, source.all_namespaces)
    selected = scoped.views
    if scoped.hidden_free:
        err(f"note: -n {source.namespace}: {scoped.hidden_free} device{'s' if scoped.hidden_free != 1 else ''} that no "
            "claim holds not shown (devices belong to no namespace; drop -n or use -A to see them)")
    _near_miss_notes(query, cluster, views, selected)
    timing.mark("near misses")
    if sort_by:
        selected = sort_rows(sort_by, selected, render.device_list(selected)["items"])

    def data() -> dict:
        items = render.device_list(selected)
        timing.mark("items built")
        return items

    def table(wide: bool) -> str:
        rows = render.device_rows(selected, wide)
        text = render.devices_table(selected, wide=wide, color=use_color(color.value), no_headers=no_headers,
                                    labels=[labels_of.get(v.device.node_label) for v in selected] if show_labels else None,
                                    rows=rows)
        if no_headers:
            return text
        from kubectl_dra.model.partitions import partition_capacity, summary

        # every device listed (the views are distinct): no need for the set of their keys
        keys = None if len(selected) == len(views) else {v.device.key for v in selected}
        totals = render.footer(selected, summary(partition_capacity(cluster, keys=keys)), rows=rows)
        from kubectl_dra.console import stdout_is_terminal

        if stdout_is_terminal():
            return text + "\n" + totals
        err(totals.rstrip("\n"))  # in a pipe the totals would be read as rows (awk, wc -l): stderr
        return text

    emit(output, data=data, table=table, names=lambda: render.device_names(selected),
         empty=None if selected else no_devices(query, cluster, total=len(views)), no_headers=no_headers)
    timing.mark("written")


def _near_miss_notes(query: "DeviceQuery", cluster: "Cluster", views, selected) -> None:
    """Devices a threshold term leaves out by a hair (or the closest ones when nothing matched), on stderr."""
    flt = query.compiled_filter  # as query.apply compiled it; None without filter terms
    if flt is None:
        return
    from kubectl_dra.filter.nearmiss import near_misses

    # everything but the filter terms still applies to the misses (--node, --state, --class, --cel)
    from kubectl_dra.domain.device_query import DeviceQuery

    rest = DeviceQuery(query.nodes, query.drivers, query.state, "", query.cel_expression, query.device_class)
    candidates = rest.apply(cluster, views)
    if len(selected) == len(candidates):
        return  # the filter terms left nothing out (selected is a part of candidates): no near misses
    if selected:  # a device that matches the whole filter fails no term: no need to look at it again
        matched = {id(v) for v in selected}
        candidates = [v for v in candidates if id(v) not in matched]
    for miss in near_misses(flt, candidates, nothing_matched=not selected):
        err(f"{'note' if selected else 'nearest miss'}: {miss.message()}")


def no_devices(query: DeviceQuery, cluster: "Cluster", *, total: int) -> str:
    """Why nothing is listed (stderr)."""
    nodes = query.nodes
    if nodes:
        # a live read with --node fetched only those nodes' slices: "in total" would mislead
        return (f"no DRA devices found on node{'s' if len(nodes) > 1 else ''} {', '.join(sorted(nodes))}"
                + (" matching the other filters" if query.narrowed else ""))
    if total == 0:
        return f"no DRA devices found in {cluster.source or 'the input'}"
    return f"no devices match the given filters ({total} devices in total)"


def watch_devices(selection: DeviceQuery, source: SourceOptions, *, output: Output, no_headers: bool, color: bool) -> None:
    """`list -w`: the device table, then a row for every selected device whose state, holders,
    pods or taints change. A device that leaves the selection (e.g. `--state free` and it gets
    allocated) prints as it is now, as DELETED in -o json; one removed from the cluster prints
    with state `deleted`."""
    from kubectl_dra.render import devices as render

    try:
        watch = start_watch(source.across_namespaces(), want=(CLASSES,) if selection.device_class else (),
                            nodes=sorted(selection.nodes))
    except KeyboardInterrupt:
        return
    view = render.DeviceWatchView(selection, wide=output is Output.wide)

    def when_empty(cluster: "Cluster") -> None:
        total = len(cluster.device_views())
        if total == 0:
            err(f"no DRA devices found in {cluster.source or 'the cluster'} (watching)")
        else:
            err(f"no devices match the given filters ({total} devices in total; watching)")

    table = WatchTable(view.headers, no_headers=no_headers, color=color, state_column=view.state_column,
                       styles=render.STATE_STYLE)  # fmt: skip
    stream_changes(watch, view.snapshot, partial=view.partial, output=output, table=table, rows=view.rows, item=view.item,
                   name=view.name, when_empty=when_empty)  # fmt: skip
