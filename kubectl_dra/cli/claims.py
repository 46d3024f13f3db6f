"""`kubectl dra claims`: every ResourceClaim with the physical devices it got and the pods using it.

The example of a thin command (docs/architecture.md): flags -> ``source`` (folded by ``command``)
-> one read and one domain call (``model.listing.listed_claims``) -> the printer chooser (``emit``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Hashable

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    AllNamespaces,
    Color,
    ColorOpt,
    Context,
    Demo,
    Filenames,
    Kubeconfig,
    Namespace,
    NoHeaders,
    Output,
    OutputOpt,
    RequestTimeout,
    emit,
    flush_warnings,
    keep_alive,
    read_cluster,
)
from kubectl_dra.cli._watch import WatchOpt, WatchTable, check_watch, start_watch, stream_changes
from kubectl_dra.console import err, use_color
from kubectl_dra.kube.kinds import CLAIMS, PODS, SLICES

if TYPE_CHECKING:
    from kubectl_dra.kube.load import SourceOptions
    from kubectl_dra.kube.watch import Change
    from kubectl_dra.model.claim import Claim
    from kubectl_dra.model.cluster import Cluster


@command(app, "claims")
def list_claims(
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
    *,
    source: SourceOptions,
) -> None:
    """List ResourceClaims: state, requests, the devices each got (node, UUID or PCI bus ID) and the pods using them.

    Examples:

      kubectl dra claims -A --demo

      kubectl dra claims -n ml-team -o json

      kubectl dra claims -A -w   (then a line each time a claim is allocated, reserved, released or deleted)
    """
    from kubectl_dra.model.listing import listed_claims
    from kubectl_dra.render import claims as render

    check_watch(watch, source)
    if watch:
        watch_claims(source, output=output, no_headers=no_headers, color=use_color(color.value))
        return
    # pods: who waits on a claim that is not reserved yet; the claims are the answer: a 403 fails
    cluster = read_cluster(source, (SLICES, CLAIMS, PODS), required=(CLAIMS,))
    claims = listed_claims(cluster, all_namespaces=source.all_namespaces)
    keep_alive(cluster, cluster.device_index())  # joins devices; may add warnings about stale allocations
    flush_warnings(cluster)
    emit(
        output,
        data=lambda: render.claim_list(claims, cluster),
        table=lambda wide: render.claims_table(
            claims, cluster, all_namespaces=source.all_namespaces, color=use_color(color.value), no_headers=no_headers
        ),
        names=lambda: render.claim_names(claims),
        empty=None if claims else render.no_claims(cluster, all_namespaces=source.all_namespaces),
    )


def watch_claims(source: SourceOptions, *, output: Output, no_headers: bool, color: bool) -> None:
    """`claims -w`: the claim table, then the rows of every claim whose state, devices or pods
    change — pending → allocated → reserved → back, and `deleted` when it is gone."""
    from kubectl_dra.kube.watch import DELETED
    from kubectl_dra.model.listing import listed_claims
    from kubectl_dra.render import claims as render

    try:
        watch = start_watch(source, pods=True)
    except KeyboardInterrupt:
        return
    all_namespaces = source.all_namespaces
    indexes: dict[int, dict] = {}

    def index_of(cluster: Cluster) -> dict:
        if id(cluster) not in indexes:
            indexes.clear()
            indexes[id(cluster)] = cluster.device_index()
        return indexes[id(cluster)]

    def snapshot(cluster: Cluster) -> dict[Hashable, tuple[Any, Any]]:
        index = index_of(cluster)
        result = {}
        for claim in listed_claims(cluster, all_namespaces=all_namespaces):
            data = render.claim_item(claim, cluster, index)
            result[(claim.namespace, claim.name)] = ((data["state"], data["devices"], data["pods"]), claim)
        return result

    state_column = 2 if all_namespaces else 1

    def rows(cluster: Cluster, change: Change) -> list[list[str]]:
        claim: Claim = change.value
        lines = render.claim_rows(claim, cluster, index_of(cluster), cluster.now, all_namespaces)
        if change.type == DELETED:
            lines[0][state_column] = "deleted"
        return lines

    def item(cluster: Cluster, change: Change) -> dict:
        data = render.claim_item(change.value, cluster, index_of(cluster))
        return {**data, "state": "deleted"} if change.type == DELETED else data

    def name(change: Change) -> str:
        return f"resourceclaim.resource.k8s.io/{change.value.name}"

    def when_empty(cluster: Cluster) -> None:
        where = "any namespace" if all_namespaces else f"namespace {watch.base.namespace}"
        err(f"no ResourceClaims found in {where} (watching)")

    headers = (("NAMESPACE",) if all_namespaces else ()) + render.COLUMNS
    table = WatchTable(headers, no_headers=no_headers, color=color, state_column=state_column, styles=render.STATE_STYLE)
    stream_changes(watch, snapshot, output=output, table=table, rows=rows, item=item, name=name, when_empty=when_empty)
