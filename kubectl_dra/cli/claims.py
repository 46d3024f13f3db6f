"""`kubectl dra claims`: every ResourceClaim with the physical devices it got and the pods using it.

The example of a thin command (docs/architecture.md): flags -> ``source`` (folded by ``command``)
-> one read and one domain call (``model.queries.listed_claims``) -> the printer chooser (``emit``).
"""

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
    Template,
    TemplateOutputOpt,
    emit,
    sort_rows,
    flush_warnings,
    keep_alive,
    read_cluster,
)
from kubectl_dra.cli._watch import WatchOpt, WatchTable, check_watch, start_watch, stream_changes
from kubectl_dra.console import err, use_color
from kubectl_dra.kube.kinds import CLAIMS, PODS, SLICES

if TYPE_CHECKING:
    from kubectl_dra.kube.source import SourceOptions
    from kubectl_dra.model.cluster import Cluster


@command(app, "claims")
def list_claims(
    names: Annotated[
        Optional[list[str]], typer.Argument(help="Only these claims (NAME or NAMESPACE/NAME).", show_default=False)
    ] = None,
    state: Annotated[
        Optional[list[str]],
        typer.Option("--state", help="Only claims in this state: pending, allocated, reserved, deallocating, deleting "
                     "(repeatable or comma-separated)."),
    ] = None,
    node: Annotated[Optional[str], typer.Option("--node", help="Only claims with a device on this node.")] = None,
    output: TemplateOutputOpt = Output.table,
    sort_by: SortBy = None,
    no_headers: NoHeaders = False,
    color: ColorOpt = Color.auto,
    watch: WatchOpt = False,
    source: SourceOptions = NAMESPACED,
) -> None:
    """List ResourceClaims: state, requests, the devices each got (node, UUID or PCI bus ID) and the pods using them.

    Examples:

      kubectl dra claims -A --demo

      kubectl dra claims -n ml-team -o json

      kubectl dra claims -A --state pending --demo

      kubectl dra claims -A --node dgx-h100-01 -o wide --demo

      kubectl dra claims -A -w   (then a line each time a claim is allocated, reserved, released or deleted)
    """
    from kubectl_dra.model.queries import listed_claims
    from kubectl_dra.render import claims as render

    from kubectl_dra.cli._common import check_output, split_values
    from kubectl_dra.model.claim_query import select_claims

    states = split_values(state)
    if states:
        select_claims([], states=sorted(states))  # a bad --state: exit 2 before the cluster is read
    check_output(output, data=True, table=True, names=True)
    check_watch(watch, source)
    if watch and (isinstance(output, Template) or sort_by or names or states or node):
        from kubectl_dra.errors import UsageError

        raise UsageError("-w prints every claim as table, wide, json, yaml or name",
                         hint="drop NAME, --state, --node, --sort-by and -o jsonpath/custom-columns with -w")
    if watch:
        watch_claims(source, output=output, no_headers=no_headers, color=use_color(color.value))
        return
    # pods: who waits on a claim that is not reserved yet; the claims are the answer: a 403 fails
    cluster = read_cluster(source, (SLICES, CLAIMS, PODS), required=(CLAIMS,))
    claims = listed_claims(cluster, all_namespaces=source.all_namespaces)
    index = cluster.claim_device_index()  # only the claims' devices; may add warnings about stale allocations
    keep_alive(cluster, index)
    flush_warnings(cluster)
    if names or states or node:
        claims = select_claims(claims, names=names or (), states=sorted(states), node=node, device_index=index)
        if names and not claims:
            from kubectl_dra.errors import NotFoundError

            where = "any namespace" if source.all_namespaces else f"namespace {cluster.namespace}"
            raise NotFoundError(f'resourceclaims "{names[0]}" not found in {where}',
                                hint="kubectl dra claims -A lists every claim")
    if sort_by:
        claims = sort_rows(sort_by, claims, render.claim_list(claims, cluster, index)["items"])
    emit(
        output,
        data=lambda: render.claim_list(claims, cluster, index),
        table=lambda wide: render.claims_table(
            claims, cluster, all_namespaces=source.all_namespaces, color=use_color(color.value), no_headers=no_headers,
            wide=wide, index=index,
        ),
        names=lambda: render.claim_names(claims),
        empty=None if claims else render.no_claims(cluster, all_namespaces=source.all_namespaces),
        no_headers=no_headers,
    )


def watch_claims(source: SourceOptions, *, output: Output, no_headers: bool, color: bool) -> None:
    """`claims -w`: the claim table, then the rows of every claim whose state, devices or pods
    change — pending → allocated → reserved → back, and `deleted` when it is gone."""
    from kubectl_dra.render import claims as render

    try:
        watch = start_watch(source, pods=True)
    except KeyboardInterrupt:
        return
    view = render.ClaimWatchView(all_namespaces=source.all_namespaces)

    def when_empty(cluster: Cluster) -> None:
        where = "any namespace" if source.all_namespaces else f"namespace {watch.base.namespace}"
        err(f"no ResourceClaims found in {where} (watching)")

    table = WatchTable(view.headers, no_headers=no_headers, color=color, state_column=view.state_column,
                       styles=render.STATE_STYLE)  # fmt: skip
    stream_changes(watch, view.snapshot, partial=view.partial, output=output, table=table, rows=view.rows, item=view.item,
                   name=view.name, when_empty=when_empty)  # fmt: skip
