"""`kubectl dra explain` (why a pod / claim is or would be pending) and `kubectl dra lint`."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    CLUSTER_WIDE,
    OUTPUT,
    emit,
    flush_warnings,
    keep_alive,
    read_cluster,
    source_flags,
)
from kubectl_dra.errors import ExitCode
from kubectl_dra.kube.kinds import CLAIMS, CLAIMS_HERE, CLASSES, NODES, PODS, SLICES, TEMPLATES

if TYPE_CHECKING:
    from kubectl_dra.kube.source import SourceOptions


class ExplainOutput(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"


ExplainOutputOpt = Annotated[
    ExplainOutput, typer.Option("--output", "-o", help="Output format.", case_sensitive=False, rich_help_panel=OUTPUT)
]


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
    source: SourceOptions = source_flags("namespace", "filename", "recursive", "demo", "kubeconfig", "context", "request_timeout"),
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

      kubectl dra explain -n research pretrain-70b-gpus-fmb6b --demo   (exit code 7: it fits nowhere)

      kubectl dra explain pod/pretrain-70b -n research   (exit code 7)

      kubectl dra claim product~h100 'not mig' --count 2 > c.yaml; kubectl dra explain --claim-file c.yaml
    """
    from kubectl_dra.alloc.explain import ExplainRequest, explain as explain_claims
    from kubectl_dra.kube.load import read_claim_manifests
    from kubectl_dra.render.explain import explain_text

    request = ExplainRequest(target, list(claim_file or []), node, source.namespace, features)
    request.validate()  # usage errors before the cluster is read
    # the claims decide what is free (a 403 fails rather than simulating on a cluster that looks empty);
    # only the namespace's claims are simulated (a pod's claims are in its namespace): the others'
    # allocations are enough; the named pod is read by name, whichever claims it has
    cluster = read_cluster(source.across_namespaces(), (SLICES, CLAIMS_HERE, CLASSES, TEMPLATES, PODS, NODES),
                           required=(CLAIMS,), pods=[request.pod] if request.pod else [])  # fmt: skip
    keep_alive(cluster)
    flush_warnings(cluster)
    unapplied = read_claim_manifests(request.claim_files, request.namespace or cluster.namespace) if claim_file else []
    report = explain_claims(cluster, request, unapplied)
    keep_alive(report)  # its data and the simulation's structures: never torn down one by one
    emit(output, data=lambda: report.data, table=lambda wide: explain_text(report.data))
    if report.unsatisfiable:
        raise typer.Exit(int(ExitCode.UNSATISFIABLE))
    if report.undecided:  # the search was cut short before any node fit: not a "no"
        raise typer.Exit(int(ExitCode.ERROR))


@command(app, "lint")
def lint_command(
    output: ExplainOutputOpt = ExplainOutput.table,
    source: SourceOptions = CLUSTER_WIDE,
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
    from kubectl_dra.alloc.severity import ERROR, lint_severity
    from kubectl_dra.render.explain import lint_text

    cluster = read_cluster(source.across_namespaces(), (SLICES, CLAIMS, CLASSES, TEMPLATES, NODES), required=(CLAIMS,))
    flush_warnings(cluster)
    findings = [f.to_dict() for f in lint(cluster)]
    emit(
        output,
        data=lambda: {"kind": "LintReport", "items": findings},
        table=lambda wide: lint_text(findings),
        empty=None if findings else "no problems found",
    )
    if any(f["severity"] == lint_severity(ERROR) for f in findings):
        raise typer.Exit(1)
