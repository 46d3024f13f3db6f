"""`kubectl dra explain` (why a pod / claim is or would be pending) and `kubectl dra lint`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import OUTPUT, Context, Demo, Filenames, Kubeconfig, Namespace, RequestTimeout, flush_warnings


class ExplainOutput(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"


ExplainOutputOpt = Annotated[
    ExplainOutput, typer.Option("--output", "-o", help="Output format.", case_sensitive=False, rich_help_panel=OUTPUT)
]


def _claims_from_files(paths: list[str], namespace: str) -> list:
    """ResourceClaims / ResourceClaimTemplates from manifests not yet applied."""
    from kubectl_dra.errors import InputError
    from kubectl_dra.kube.files import load_objects
    from kubectl_dra.model.claim import Claim, ClaimTemplate
    from kubectl_dra.model.decode import decode

    found = []
    for source, obj in load_objects(paths):
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


@command(app, "explain")
def explain(
    target: Annotated[
        Optional[str],
        typer.Argument(help="pod/NAME, or a ResourceClaim name (in -n); leave out with --claim-file.", show_default=False),
    ] = None,
    claim_file: Annotated[
        Optional[list[str]],
        typer.Option("--claim-file", help="A claim or template manifest not yet applied (repeatable)."),
    ] = None,
    node: Annotated[Optional[str], typer.Option("--node", help="Only this node.")] = None,
    output: ExplainOutputOpt = ExplainOutput.table,
    namespace: Namespace = None,
    filename: Filenames = None,
    demo: Demo = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    request_timeout: RequestTimeout = "0",
    features: Annotated[
        Optional[str],
        typer.Option("--features", help="Feature gates to simulate, as Kubernetes names them: "
                     "NAME=true|false,... (e.g. DRADeviceTaintRules=true). Default: the cluster release's "
                     "defaults (1.34-1.36; offline: 1.36).", show_default=False),
    ] = None,
) -> None:
    """Explain whether the scheduler can allocate devices for a pod or claim, and if not, why.

    Simulates the structured allocator on every candidate node: the claims' requests, their
    DeviceClasses and selectors, devices already in use, constraints, taints, partitions. Prints a
    verdict, the nodes where it fits with the devices it would get, and for each request the funnel
    visible -> admitted by the class -> by each selector -> free, with the reasons per node.
    Exit 0 when it fits somewhere (or is already allocated), 7 when it fits nowhere.

    Examples:

      kubectl dra explain -n research pretrain-70b-gpus-fmb6b --demo

      kubectl dra explain pod/llm-train-1 -n ml-team

      kubectl dra claim --min-memory 40Gi --count 8 > c.yaml; kubectl dra explain --claim-file c.yaml
    """
    from kubectl_dra.alloc import simulate
    from kubectl_dra.alloc.lint import lint
    from kubectl_dra.cli._common import Output, keep_alive, load, write_data
    from kubectl_dra.console import out
    from kubectl_dra.errors import ExitCode, NotFoundError, UsageError
    from kubectl_dra.kube.load import CLAIMS, CLASSES, NODES, PODS, SLICES, TEMPLATES

    if target is not None and claim_file:
        raise UsageError(f"give either {target!r} or --claim-file, not both",
                         hint="explain one pod or claim of the cluster, or the manifests in --claim-file")
    if target is None and not claim_file:
        raise UsageError("name one pod/NAME or claim, or give --claim-file", hint="kubectl dra explain -n NS CLAIM")
    from kubectl_dra.alloc.features import DEFAULT_FEATURES, with_overrides

    with_overrides(DEFAULT_FEATURES, features or "")  # a usage error before the cluster is read
    pod = target.split("/", 1)[1] if target and target.startswith(("pod/", "pods/", "po/")) else None
    # the claims decide what is free (a 403 fails rather than simulating on a cluster that looks empty);
    # the named pod is read by name, whichever claims it has
    cluster = load(filenames=filename, demo=demo, kubeconfig=kubeconfig, context=context, namespace=namespace,
                   all_namespaces=True, request_timeout=request_timeout,
                   want=(SLICES, CLAIMS, CLASSES, TEMPLATES, PODS, NODES), required=(CLAIMS,),
                   pods=[pod] if pod else [])
    keep_alive(cluster)
    flush_warnings(cluster)
    ns = namespace or cluster.namespace
    extra = []
    if claim_file:
        subject = _claims_from_files(claim_file, ns)
        extra = subject
    elif target.startswith(("pod/", "pods/", "po/")):
        name = target.split("/", 1)[1]
        if not any(p.namespace == ns and p.name == name for p in cluster.pods):
            raise NotFoundError(f'pod "{name}" not found in namespace {ns}', hint="check -n, or name the claim instead")
        subject = f"pod/{ns}/{name}"
    else:
        name = target.split("/", 1)[1] if target.startswith(("resourceclaim/", "claim/")) else target
        if not any(c.namespace == ns and c.name == name for c in cluster.claims):
            names = sorted(c.name for c in cluster.claims if c.namespace == ns)
            raise NotFoundError(f'resourceclaim "{name}" not found in namespace {ns}',
                                hint=("claims there: " + ", ".join(names[:8])) if names else "check -n")
        subject = f"{ns}/{name}"
    nodes = [node] if node else None
    if node and not any(n.name == node for n in cluster.nodes) and not any(v.device.node_label == node for v in cluster.device_views()):
        raise NotFoundError(f'node "{node}" not found')
    from kubectl_dra import timing

    timing.mark("cluster loaded")
    gates, gates_reason = _features(cluster, features)
    from kubectl_dra.console import Spinner

    with Spinner("simulating the allocator", delay=1.0) as spinner:  # long searches show progress on a terminal
        result = simulate(cluster, subject, nodes=nodes, namespace_labels=_namespace_labels(cluster), unapplied=bool(claim_file),
                          features=gates, progress=lambda i, n: setattr(spinner, "text", f"simulating the allocator: node {i + 1} of {n}"))
    if gates_reason is not None:
        result.reasons.append(gates_reason)
    timing.mark("simulated")
    # lint the unapplied manifests when they do not fit: what will fail, and why (skipped when they fit)
    findings = lint(cluster, objects=extra) if extra and result.verdict != "allocatable" else []
    timing.mark("linted")
    data = result.to_dict()
    if findings:
        data["lint"] = [_finding(f) for f in findings]
    if output is ExplainOutput.table:
        from kubectl_dra.console import use_color

        out(render_explain(data, color=use_color("auto")))
    else:
        write_data(data, Output.json if output is ExplainOutput.json else Output.yaml)
    if result.verdict in ("unallocatable", "error"):
        raise typer.Exit(int(ExitCode.UNSATISFIABLE))
    if result.verdict == "undecided":  # the search was cut short before any node fit: not a "no"
        raise typer.Exit(int(ExitCode.ERROR))


def _features(cluster, overrides: str | None):
    """(Features to simulate, an Info reason when they are not the 1.36 defaults): the cluster release's
    default gates (live: the server's /version; from files or the demo: 1.36), then --features."""
    from kubectl_dra.alloc import reasons as R
    from kubectl_dra.alloc.features import DEFAULT_FEATURES, LATEST, for_release, gates, release_of, with_overrides
    from kubectl_dra.errors import DraError

    release, server = None, None
    client = getattr(cluster, "client", None)
    if client is not None:
        try:
            info = client.get("/version", what="the server version")
            server = info.get("gitVersion")
            release = release_of(info.get("major"), info.get("minor"), server or "")
        except DraError:
            release = None
    base, used = for_release(release)
    chosen = with_overrides(base, overrides or "")
    if chosen == DEFAULT_FEATURES and used == LATEST and not overrides:
        return chosen, None
    on = gates(chosen)
    changed = {g: v for g, v in on.items() if v != gates(base)[g]}
    where = f"Kubernetes {used} defaults" + (f" (server {server})" if server else "")
    if changed:
        where += ", with " + ",".join(f"{g}={'true' if v else 'false'}" for g, v in sorted(changed.items()))
    return chosen, R.Reason(
        R.FEATURE_GATES,
        f"simulating the feature gates of {where}: " + ", ".join(g for g, v in sorted(on.items()) if v) + " on",
        status=R.INFO,
        data={"release": used, "server": server, "gates": on},
    )


def _namespace_labels(cluster):
    """Labels of a namespace read from the server on first use (adminAccess needs a namespace label);
    None when they cannot be read: from files, the demo, or without permission to get namespaces."""
    client = getattr(cluster, "client", None)
    if client is None:
        return None
    from kubectl_dra.errors import DraError

    seen: dict[str, dict | None] = {}

    def labels(namespace: str) -> dict | None:
        if namespace not in seen:
            try:
                obj = client.get(f"/api/v1/namespaces/{namespace}", what=f"namespace {namespace}")
                seen[namespace] = dict((obj.get("metadata") or {}).get("labels") or {})
            except DraError:
                seen[namespace] = None
        return seen[namespace]

    return labels


def _finding(f) -> dict:
    to_dict = getattr(f, "to_dict", None)
    if to_dict:
        return to_dict()
    return {k: getattr(f, k, None) for k in ("severity", "code", "message", "hint", "object")}


def _cut_short(node: dict) -> bool:
    return any(r.get("code") == "search-cut-short" for r in node.get("reasons", []))


def render_explain(data: dict, *, color: bool = False) -> str:
    """The text report: verdict, claims, where it fits, and per node why not (with the funnel)."""
    from kubectl_dra.render.columns import strip_controls as sanitize

    lines: list[str] = []
    nodes = data.get("nodes", [])
    fits = [n for n in nodes if n.get("allocatable")]
    verdict = data.get("verdict", "?")
    subject = data.get("pod") or ", ".join(c["claim"] for c in data.get("claims", []))
    summary = {
        "allocatable": f"fits on {len(fits)} of {len(nodes)} node{'s' if len(nodes) != 1 else ''}",
        "allocated": "already allocated",
        "unallocatable": f"fits on none of {len(nodes)} node{'s' if len(nodes) != 1 else ''}",
        "error": "the scheduler would stop with an error",
        "undecided": (f"fits on none of the {sum(1 for n in nodes if not _cut_short(n))} nodes searched; "
                      f"{sum(1 for n in nodes if _cut_short(n))} not (fully) searched: the overall search budget ran out"),
    }.get(verdict, verdict)
    lines.append(f"verdict: {verdict}: {sanitize(subject)} {summary}")
    for claim in data.get("claims", []):
        lines.append(f"  claim {sanitize(claim['claim'])} ({claim['state']}): {sanitize('; '.join(claim.get('requests', [])))}")
    for reason in data.get("reasons", []):
        lines.append(f"  {reason['status'].lower()}: {sanitize(reason['message'])}")
        if reason.get("hint"):
            lines.append(f"    hint: {sanitize(reason['hint'])}")
    if fits:
        lines.append("")
        lines.append("fits on:")
        for n in fits:
            devices = ", ".join(f"{r['request']}={r['device']}" for r in n.get("results", []))
            lines.append(f"  {n['node']}: {sanitize(devices) or ('(already allocated)' if verdict == 'allocated' else '(no devices needed)')}")
    blocked = [n for n in nodes if not n.get("allocatable") or n.get("status") == "Error"]
    if blocked:
        lines.append("")
        lines.append("does not fit on:" if not fits else "other nodes:")
        by_code: dict[str, list[dict]] = {}
        for n in blocked:
            first = (n.get("reasons") or [{"code": "unknown", "message": "no reason recorded"}])[0]
            by_code.setdefault(first["code"], []).append(n)
        order = sorted(by_code.items(), key=lambda item: (item[0] in ("no-driver",), item[0]))
        for code, group in order:
            names = ", ".join(n["node"] for n in group)
            lines.append(f"  {code} ({len(group)} node{'s' if len(group) != 1 else ''}: {names})")
            example = group[0]
            for reason in example.get("reasons", [])[:3]:
                lines.append(f"    {sanitize(reason['message'])}")
                if reason.get("hint"):
                    lines.append(f"      hint: {sanitize(reason['hint'])}")
            if code not in ("no-driver",):
                for funnel in example.get("funnels", []):
                    lines.append("    funnel on " + example["node"] + ": " + _funnel(funnel))
    for finding in data.get("lint", []):
        lines.append(f"lint {finding.get('severity')}: {sanitize(str(finding.get('message')))}")
    return "\n".join(lines) + "\n"


def _funnel(funnel: dict) -> str:
    steps = [f"{s['label']} {s['count']}" + (f" ({s['errors']} CEL errors)" if s.get("errors") else "") for s in funnel.get("stages", [])]
    needed = funnel.get("needed")
    tail = f"; needs {needed}" if needed is not None else "; needs all"
    most = f"; {funnel['rejectsMost']} rejects the most" if funnel.get("rejectsMost") else ""
    return f"request {funnel['request']}: " + " -> ".join(steps) + tail + most


@command(app, "lint")
def lint_command(
    output: ExplainOutputOpt = ExplainOutput.table,
    filename: Filenames = None,
    demo: Demo = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    request_timeout: RequestTimeout = "0",
) -> None:
    """Find claims, templates and DeviceClasses that will fail at scheduling time.

    Selectors that name attributes no published device has (e.g. NVIDIA's removed `index`),
    unguarded attribute accesses that raise, matchAttribute keys the candidates lack, classes that
    match nothing, requests for more devices than any node has. Exit 0 when clean, 1 with errors.

    Examples:

      kubectl dra lint --demo

      kubectl dra lint -f my-claims.yaml
    """
    from kubectl_dra.alloc.lint import lint
    from kubectl_dra.cli._common import Output, load, write_data
    from kubectl_dra.console import out
    from kubectl_dra.kube.load import CLAIMS, CLASSES, NODES, SLICES, TEMPLATES
    from kubectl_dra.render.columns import strip_controls as sanitize

    cluster = load(filenames=filename, demo=demo, kubeconfig=kubeconfig, context=context, namespace=None,
                   all_namespaces=True, request_timeout=request_timeout, want=(SLICES, CLAIMS, CLASSES, TEMPLATES, NODES),
                   required=(CLAIMS,))
    flush_warnings(cluster)
    findings = [_finding(f) for f in lint(cluster)]
    if output is ExplainOutput.table:
        if not findings:
            from kubectl_dra.console import err

            err("no problems found")
        text = "".join(
            f"{f.get('severity')}: {sanitize(str(f.get('object') or ''))}: {sanitize(str(f.get('message')))}\n"
            + (f"  hint: {sanitize(str(f['hint']))}\n" if f.get("hint") else "")
            for f in findings
        )
        out(text)
    else:
        write_data({"kind": "LintReport", "items": findings}, Output.json if output is ExplainOutput.json else Output.yaml)
    if any(str(f.get("severity")).lower() == "error" for f in findings):
        raise typer.Exit(1)
