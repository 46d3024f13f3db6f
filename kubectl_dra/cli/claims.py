"""`kubectl dra claims`: every ResourceClaim with the physical devices it got and the pods using it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Hashable, Optional

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
    flush_warnings,
    keep_alive,
    load,
    write_data,
)
from kubectl_dra.cli._watch import WatchOpt, WatchTable, check_watch, stream_changes

if TYPE_CHECKING:
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
) -> None:
    """List ResourceClaims: state, requests, the devices each got (node, UUID or PCI bus ID) and the pods using them.

    Examples:

      kubectl dra claims -A --demo

      kubectl dra claims -n ml-team -o json

      kubectl dra claims -A -w   (then a line each time a claim is allocated, reserved, released or deleted)
    """
    from kubectl_dra.console import err, out, use_color
    from kubectl_dra.kube.load import CLAIMS, PODS, SLICES
    from kubectl_dra.model.cluster import natural_key
    from kubectl_dra.render import claims as render

    check_watch(watch, demo, filename)
    if watch:
        watch_claims(
            output=output,
            no_headers=no_headers,
            color=use_color(color.value),
            kubeconfig=kubeconfig,
            context=context,
            namespace=namespace,
            all_namespaces=all_namespaces,
            request_timeout=request_timeout,
        )
        return
    want = (SLICES, CLAIMS, PODS)  # pods: who waits on a claim that is not reserved yet
    cluster = load(
        filenames=filename,
        demo=demo,
        kubeconfig=kubeconfig,
        context=context,
        namespace=namespace,
        all_namespaces=all_namespaces,
        request_timeout=request_timeout,
        want=want,
        required=(CLAIMS,),  # the claims are the answer: a 403 fails rather than "no claims found"
    )
    from kubectl_dra.model.decode import DecodeError

    claims = []
    for claim in cluster.claims:
        try:
            claim.spec  # noqa: B018 - decoded lazily; a malformed one is skipped here, with a warning
        except DecodeError as error:
            cluster.warnings.append(f"skipping {error.message}")
            continue
        claims.append(claim)
    if not all_namespaces:
        claims = [c for c in claims if c.namespace == cluster.namespace]
    claims = sorted(claims, key=lambda c: (c.namespace, natural_key(c.name)))
    keep_alive(cluster, cluster.device_index())  # joins devices; may add warnings about stale allocations
    flush_warnings(cluster)

    if output in (Output.json, Output.yaml):
        data = render.claim_list(claims, cluster)
        keep_alive(data)
        write_data(data, output)
        return
    if not claims:
        where = "any namespace" if all_namespaces else f"namespace {cluster.namespace}"
        others = len(cluster.claims) - len(claims)
        message = f"no ResourceClaims found in {where}"
        if others > 0 and not all_namespaces:
            message += f" ({others} in other namespaces: use -A)"
        err(message)
        return
    if output is Output.name:
        out(render.claim_names(claims))
        return
    out(render.claims_table(claims, cluster, all_namespaces=all_namespaces, color=use_color(color.value), no_headers=no_headers))


def watch_claims(
    *,
    output: Output,
    no_headers: bool,
    color: bool,
    kubeconfig: Optional[str],
    context: Optional[str],
    namespace: Optional[str],
    all_namespaces: bool,
    request_timeout: str,
) -> None:
    """`claims -w`: the claim table, then the rows of every claim whose state, devices or pods
    change — pending → allocated → reserved → back, and `deleted` when it is gone."""
    from kubectl_dra.console import err
    from kubectl_dra.kube.watch import DELETED, ClusterWatch, resources_for
    from kubectl_dra.model.cluster import natural_key
    from kubectl_dra.model.decode import DecodeError
    from kubectl_dra.render import claims as render

    try:
        base = load(
            filenames=None, demo=False, kubeconfig=kubeconfig, context=context, namespace=namespace,
            all_namespaces=all_namespaces, request_timeout=request_timeout, want=(),
        )
        base.claims_namespace = None if all_namespaces else base.namespace
        resources = resources_for(base, all_claims=all_namespaces, claims_namespace=base.namespace, pods=True)
        watch = ClusterWatch(base, resources)
    except KeyboardInterrupt:
        return
    indexes: dict[int, dict] = {}

    def index_of(cluster: "Cluster") -> dict:
        if id(cluster) not in indexes:
            indexes.clear()
            indexes[id(cluster)] = cluster.device_index()
        return indexes[id(cluster)]

    def snapshot(cluster: "Cluster") -> dict[Hashable, tuple[Any, Any]]:
        index = index_of(cluster)
        claims = []
        for claim in cluster.claims:
            if not all_namespaces and claim.namespace != base.namespace:
                continue
            try:
                claim.spec  # noqa: B018 - decoded lazily; a malformed one is skipped, with a warning
            except DecodeError as error:
                cluster.warnings.append(f"skipping {error.message}")
                continue
            claims.append(claim)
        claims.sort(key=lambda c: (c.namespace, natural_key(c.name)))
        result = {}
        for claim in claims:
            data = render.claim_item(claim, cluster, index)
            result[(claim.namespace, claim.name)] = ((data["state"], data["devices"], data["pods"]), claim)
        return result

    state_column = 2 if all_namespaces else 1

    def rows(cluster: "Cluster", change: "Change") -> list[list[str]]:
        claim: "Claim" = change.value
        lines = render.claim_rows(claim, cluster, index_of(cluster), cluster.now, all_namespaces)
        if change.type == DELETED:
            lines[0][state_column] = "deleted"
        return lines

    def item(cluster: "Cluster", change: "Change") -> dict:
        data = render.claim_item(change.value, cluster, index_of(cluster))
        return {**data, "state": "deleted"} if change.type == DELETED else data

    def name(change: "Change") -> str:
        return f"resourceclaim.resource.k8s.io/{change.value.name}"

    def when_empty(cluster: "Cluster") -> None:
        where = "any namespace" if all_namespaces else f"namespace {base.namespace}"
        err(f"no ResourceClaims found in {where} (watching)")

    headers = (("NAMESPACE",) if all_namespaces else ()) + render.COLUMNS
    table = WatchTable(headers, no_headers=no_headers, color=color, state_column=state_column, styles=render.STATE_STYLE)
    stream_changes(watch, snapshot, output=output, table=table, rows=rows, item=item, name=name, when_empty=when_empty)
