"""Assemble a ``Cluster`` from the chosen source: --demo, -f files, or the live API server."""

from __future__ import annotations

import gc
from typing import Any, Iterable

from kubectl_dra.errors import ClusterError, NotFoundError
from kubectl_dra.model.cluster import Cluster
from kubectl_dra.model.decode import DecodeError, UnsupportedVersion, decode

#: what a command needs, and where it reads from (cheap to import: defined in kube.kinds, kube.source)
from kubectl_dra.kube.kinds import CLAIM_ALLOCATIONS, CLAIMS, CLAIMS_HERE, CLASSES, NODES, PODS, SLICES, TEMPLATES  # noqa: F401
from kubectl_dra.kube.source import SourceOptions  # noqa: F401


#: what a warning adds when an optional read is refused (the refused request comes first)
TAINT_RULES_MISSING = "taints added by DeviceTaintRules are not shown"
PODS_MISSING = "pods waiting for a claim that no pod has reserved are not shown"

#: up to this many --node values are read with one field-selected list each
MAX_NODE_QUERIES = 8


def add_all(cluster: Cluster, objects: Iterable[tuple[str, Any]]) -> None:
    """Decode each (origin, object) into ``cluster``; an object that is not a dict is one already decoded
    (``kube.slicepage``'s typed pages)."""
    for origin, obj in objects:
        if type(obj) is not dict:
            cluster.add(obj)
            continue
        try:
            decoded = decode(obj)
        except UnsupportedVersion as err:
            cluster.warnings.append(f"{origin}: skipping {err.message}" + (f" ({err.hint})" if err.hint else ""))
            continue
        except DecodeError as err:
            cluster.warnings.append(f"{origin}: skipping {err.message}")
            continue
        if decoded is not None:
            cluster.add(decoded)


def _read_list(cluster: Cluster, live, path: str, what: str, field_selector: str | None = None) -> None:
    """Decode a whole list into the cluster; on an expired continue token, list again in one request
    (what client-go's pager does), so nothing is counted twice. Slices take the typed short cut
    (``kube.slicepage``) where a page allows it."""
    from kubectl_dra.kube.live import DEFAULT_PAGE, ContinueExpired

    page_decoder = None
    if what == "resourceslices":
        from kubectl_dra.kube.slicepage import decode_page as page_decoder
    for limit in (DEFAULT_PAGE, 0):
        staged = Cluster()
        try:
            items = live.list(path, what=what, limit=limit, field_selector=field_selector, page_decoder=page_decoder)
            add_all(staged, (("cluster", o) for o in items))
        except ContinueExpired:
            if limit == 0:
                raise
            continue
        cluster.merge(staged)
        return


#: above this many namespaces, one cluster-wide pod list is cheaper than one list per namespace
MAX_POD_NAMESPACES = 10


def _read_pods(cluster: Cluster, live, options: SourceOptions, namespace: str, claims_read: bool) -> None:
    """Pods, when they add something: who waits on a claim that no pod has reserved yet.

    ``status.reservedFor`` already names the pods of reserved claims, so with claims read only
    the namespaces of the others are listed (pods can be most of a cluster's objects). The pods
    in ``options.pods`` are read by name in any case.
    """
    from kubectl_dra.kube.live import Forbidden

    if claims_read:
        namespaces = sorted({c.namespace for c in cluster.claims if not c.reserved_for})
    else:
        namespaces = [] if options.all_namespaces else [namespace]
    if not namespaces and claims_read:
        paths = []
    elif options.all_namespaces and (not namespaces or len(namespaces) > MAX_POD_NAMESPACES):
        paths = ["/api/v1/pods"]
    else:
        paths = [f"/api/v1/namespaces/{ns}/pods" for ns in namespaces]
    try:
        for path in paths:
            _read_list(cluster, live, path, "pods")
    except Forbidden as err:
        if PODS in options.required:
            raise
        # reservedFor already names the pods using each claim: only the waiting ones are missing
        cluster.warnings.append(f"{err.message}; {PODS_MISSING}")
    _read_named_pods(cluster, live, options, namespace)


def _read_named_pods(cluster: Cluster, live, options: SourceOptions, namespace: str) -> None:
    """The pods a command names, one GET each (``get`` on pods is enough): a 403 is the command's failure."""
    from urllib.parse import quote

    for name in dict.fromkeys(options.pods):
        if any(p.namespace == namespace and p.name == name for p in cluster.pods):
            continue
        try:
            obj = live.get(f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}",
                           what=f'pod "{name}" in namespace {namespace}')
        except NotFoundError:
            continue  # the command says it does not exist
        obj.setdefault("kind", "Pod")
        obj.setdefault("apiVersion", "v1")
        staged = Cluster()
        add_all(staged, [("cluster", obj)])
        cluster.merge(staged)


def taint_rule_version(live, version: str, served: list[str]) -> str | None:
    """The served version that has DeviceTaintRules (v1 from 1.37, v1beta2 from 1.36, v1alpha3 from 1.33), if any."""
    for candidate in dict.fromkeys((version, "v1", "v1beta2", "v1alpha3")):
        if candidate not in served:
            continue
        try:
            resources = live.get(f"/apis/resource.k8s.io/{candidate}", what=f"resource.k8s.io/{candidate} discovery")
        except (ClusterError, NotFoundError):
            continue
        if any(isinstance(r, dict) and r.get("name") == "devicetaintrules" for r in resources.get("resources") or []):
            return candidate
    return None


def load_cluster(options: SourceOptions, want: Iterable[str]) -> Cluster:
    if options.demo and options.filenames:
        from kubectl_dra.errors import UsageError

        raise UsageError("--demo and -f/--filename cannot be used together")
    if options.demo:
        from kubectl_dra.kube.demo import demo_objects, demo_now

        cluster = Cluster(source="the demo cluster")
        cluster.now = demo_now()
        add_all(cluster, (("demo", o) for o in demo_objects()))
        return cluster
    if options.filenames:
        from kubectl_dra.kube.files import load_objects

        cluster = Cluster(source=", ".join(options.filenames))
        add_all(cluster, load_objects(options.filenames, recursive=options.recursive, warn=cluster.warnings.append))
        return cluster
    return _load_live(options, set(want))


def pack_rows(rows: list[tuple]) -> list[tuple] | bytes:
    """Claim rows for the way back from a helper process: marshal'ed (plain tuples, dicts, lists,
    strings and numbers, exactly as they are; ~3x faster to write than pickle), else as they are
    (then pickled): marshal refuses anything else, such as a str subclass."""
    import marshal

    try:
        return marshal.dumps(rows)
    except ValueError:
        return rows


def unpack_rows(packed: list[tuple] | bytes) -> list[tuple]:
    if isinstance(packed, bytes):
        import marshal

        return marshal.loads(packed)
    return packed


def _load_live(options: SourceOptions, want: set[str]) -> Cluster:
    from kubectl_dra.kube.discovery import choose_version, served_versions
    from kubectl_dra.kube.live import Forbidden, LiveCluster, NotServed

    from kubectl_dra import timing

    live = LiveCluster(kubeconfig=options.kubeconfig, context=options.context, request_timeout=options.request_timeout)
    try:
        group = live.get("/apis/resource.k8s.io", what="API group resource.k8s.io")
    except NotFoundError:
        raise ClusterError(
            f"the cluster at {live.host} does not serve the resource.k8s.io API group",
            hint="DRA is served by default from Kubernetes 1.34 (resource.k8s.io/v1); on 1.32/1.33 enable v1beta1 or v1beta2",
        ) from None
    timing.mark("kubeconfig and discovery")
    version = choose_version(served_versions(group))
    if version is None:
        raise ClusterError(
            f"the cluster at {live.host} serves resource.k8s.io only in versions this tool does not read: "
            f"{', '.join(served_versions(group)) or 'none'}",
            hint="kubectl-dra reads resource.k8s.io v1, v1beta2, v1beta1 and v1alpha3",
        )
    cluster = Cluster(source=live.host, served_version=version, served_versions=tuple(served_versions(group)), client=live)
    if version == "v1alpha3":
        cluster.warnings.append("the server serves only resource.k8s.io/v1alpha3 (Kubernetes 1.31); reading that")
    base = f"/apis/resource.k8s.io/{version}"
    namespace = options.namespace or live.namespace
    # whole claims only in the namespace (CLAIMS_HERE), elsewhere their allocations
    elsewhere_allocations = CLAIMS_HERE in want and CLAIMS not in want
    allocation_only = CLAIM_ALLOCATIONS in want and CLAIMS not in want and not elsewhere_allocations
    if allocation_only or elsewhere_allocations:
        want.add(CLAIMS)
    if CLAIMS in want:
        if options.all_namespaces:
            claims_path = f"{base}/resourceclaims"
            cluster.claims_namespace = None
        else:
            claims_path = f"{base}/namespaces/{namespace}/resourceclaims"
            cluster.claims_namespace = namespace

    def read_claims(pack: bool = False) -> tuple[list[tuple] | bytes, list[str], bool]:
        staged = Cluster()
        try:
            _read_list(staged, live, claims_path, "resourceclaims")
        except Forbidden as err:
            if CLAIMS in options.required:
                raise
            staged.claims_known = False
            staged.warnings.append(f"{err.message}; allocation state is unknown")
        rows = [c.to_row(allocation_only=allocation_only or (elsewhere_allocations and c.namespace != namespace))
                for c in staged.claims]
        return (pack_rows(rows) if pack else rows), staged.warnings, staged.claims_known

    def merge_claims(result: tuple[list[tuple] | bytes, list[str], bool]) -> None:
        from kubectl_dra.model.claim import Claim

        rows, warnings, known = result
        cluster.merge(Cluster(claims=[Claim.from_row(row) for row in unpack_rows(rows)], warnings=warnings))
        cluster.claims_known = known

    frozen = gc.isenabled()
    gc.disable()  # decoding tens of thousands of objects: the cyclic GC only costs time here
    try:
        claims_waiter = None
        if SLICES in want and CLAIMS in want and live.can_fork():
            from kubectl_dra.kube.parallel import fork_allowed, start_in_child

            if fork_allowed():
                claims_waiter = start_in_child(lambda: read_claims(pack=True), before=live.after_fork)
        if SLICES in want:
            if options.nodes and len(options.nodes) <= MAX_NODE_QUERIES:
                cluster.slices_filtered = True
                # the nodes' own slices, plus those without a nodeName (network-attached pools,
                # per-device node selection), which may hold devices for these nodes too
                for node in [*options.nodes, ""]:
                    _read_list(cluster, live, f"{base}/resourceslices", "resourceslices", f"spec.nodeName={node}")
            else:
                _read_list(cluster, live, f"{base}/resourceslices", "resourceslices")
            rules_version = taint_rule_version(live, version, served_versions(group))
            if rules_version:
                try:
                    _read_list(cluster, live, f"/apis/resource.k8s.io/{rules_version}/devicetaintrules", "devicetaintrules")
                except (Forbidden, NotFoundError, NotServed) as err:
                    cluster.warnings.append(f"{err.message}; {TAINT_RULES_MISSING}")
        timing.mark("resourceslices read")
        if claims_waiter is not None:
            merge_claims(claims_waiter())
        elif CLAIMS in want:
            merge_claims(read_claims())
        if CLAIMS in want:
            timing.mark("resourceclaims read")
        if CLASSES in want:
            _read_list(cluster, live, f"{base}/deviceclasses", "deviceclasses")
        if TEMPLATES in want:
            path = f"{base}/resourceclaimtemplates" if options.all_namespaces else f"{base}/namespaces/{namespace}/resourceclaimtemplates"
            _read_list(cluster, live, path, "resourceclaimtemplates")
        if PODS in want:
            _read_pods(cluster, live, options, namespace, CLAIMS in want)
        elif options.pods:
            _read_named_pods(cluster, live, options, namespace)
        if NODES in want:
            _read_list(cluster, live, "/api/v1/nodes", "nodes")
    finally:
        if frozen:
            gc.enable()
    cluster.namespace = namespace
    return cluster


def read_claim_manifests(paths: list[str], namespace: str) -> list:
    """ResourceClaims / ResourceClaimTemplates from manifests not yet applied (``explain --claim-file``),
    in ``namespace`` where they name none. None in the files: InputError."""
    from kubectl_dra.errors import InputError
    from kubectl_dra.kube.files import load_objects
    from kubectl_dra.model.claim import Claim, ClaimTemplate

    found = []
    for _source, obj in load_objects(paths):
        if obj.get("kind") not in ("ResourceClaim", "ResourceClaimTemplate"):
            continue
        obj = dict(obj)
        obj["metadata"] = {**(obj.get("metadata") or {})}
        obj["metadata"].setdefault("namespace", namespace)
        decoded = decode(obj)
        if isinstance(decoded, (Claim, ClaimTemplate)):
            found.append(decoded)
    if not found:
        raise InputError(f"{', '.join(paths)}: no ResourceClaim or ResourceClaimTemplate",
                         hint="--claim-file takes claim manifests, e.g. the output of `kubectl dra claim`")
    return found


def server_version(options: SourceOptions) -> dict:
    """``kubectl dra version``'s server part: the Kubernetes version and the resource.k8s.io
    versions served (and the one this tool reads) by the live server ``options`` names."""
    from kubectl_dra.kube.discovery import choose_version, served_versions
    from kubectl_dra.kube.live import LiveCluster

    live = LiveCluster(kubeconfig=options.kubeconfig, context=options.context, request_timeout=options.request_timeout)
    server = live.get("/version", what="the server version")
    try:
        group = live.get("/apis/resource.k8s.io", what="API group resource.k8s.io")
        served = served_versions(group)
        preferred = ((group.get("preferredVersion") or {}).get("version")) or None
    except NotFoundError:
        served, preferred = [], None
    keep = ("major", "minor", "gitVersion", "platform")
    return {
        "serverVersion": {k: server[k] for k in keep if k in server},
        "resourceApi": {"served": served, "preferred": preferred, "read": choose_version(served)},
    }
