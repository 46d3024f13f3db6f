"""`kubectl dra claims`: every ResourceClaim with the physical devices it got and the pods using it."""

from __future__ import annotations

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


@command(app, "claims")
def list_claims(
    output: OutputOpt = Output.table,
    no_headers: NoHeaders = False,
    color: ColorOpt = Color.auto,
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
    """
    from kubectl_dra.console import err, out, use_color
    from kubectl_dra.kube.load import CLAIMS, PODS, SLICES
    from kubectl_dra.model.cluster import natural_key
    from kubectl_dra.render import claims as render

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
