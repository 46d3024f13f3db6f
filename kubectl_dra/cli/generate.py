"""`kubectl dra claim`: generate a ResourceClaim / ResourceClaimTemplate from a filter.

Flags -> ``domain.claim_plan.ClaimRequest`` -> ``plan_claim`` -> the manifest (and the --check lines)."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    CLUSTER_WIDE,
    OUTPUT,
    Output,
    flush_warnings,
    read_cluster,
    write_data,
)
from kubectl_dra.console import err, out, warn
from kubectl_dra.kube.kinds import CLAIMS, CLASSES, SLICES

if TYPE_CHECKING:
    from kubectl_dra.kube.source import SourceOptions

CLAIM = "Claim"


class ManifestOutput(str, Enum):
    yaml = "yaml"
    json = "json"


@command(app, "claim")
def claim(
    terms: Annotated[
        Optional[list[str]],
        typer.Argument(help="Filter terms, ANDed, e.g. 'memory>=40Gi' mig=true (same language as `list`; quote terms with > or <).", show_default=False),
    ] = None,
    min_memory: Annotated[Optional[str], typer.Option("--min-memory", help="Adds the term memory>=Q, e.g. 40Gi.")] = None,
    mig: Annotated[bool, typer.Option("--mig", help="A MIG / partition device (adds the term mig=true).")] = False,
    profile: Annotated[
        Optional[str], typer.Option("--profile", help="MIG profile, e.g. 1g.10gb (adds mig=true profile=P).")
    ] = None,
    product: Annotated[Optional[str], typer.Option("--product", help="Product name contains S (adds product~S).")] = None,
    arch: Annotated[Optional[str], typer.Option("--arch", help="Architecture (adds arch=S), e.g. Hopper.")] = None,
    where: Annotated[
        Optional[list[str]], typer.Option("--where", help="More filter terms (repeatable, ANDed).")
    ] = None,
    cel_expression: Annotated[
        Optional[str], typer.Option("--cel", help="A CEL selector added verbatim as one more selector.")
    ] = None,
    alternatives: Annotated[
        Optional[list[str]],
        typer.Option(
            "--or",
            help="An alternative filter, tried in order after the first (firstAvailable; repeatable, up to 7). "
            "It replaces the filter terms and flags, and keeps count, class and constraints.",
        ),
    ] = None,
    count: Annotated[Optional[int], typer.Option("--count", help="How many devices (allocationMode ExactCount; default 1).")] = None,
    all_devices: Annotated[bool, typer.Option("--all", help="Every matching device (allocationMode All).")] = False,
    device_class: Annotated[
        Optional[str],
        typer.Option("--class", help="The DeviceClass (default: the one class that admits every matching device)."),
    ] = None,
    same: Annotated[
        Optional[list[str]],
        typer.Option("--same", help="All devices share this attribute (matchAttribute), e.g. pcieRoot (repeatable)."),
    ] = None,
    distinct: Annotated[
        Optional[list[str]],
        typer.Option("--distinct", help="Devices differ in this attribute (distinctAttribute; repeatable)."),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="metadata.name.", rich_help_panel=CLAIM)] = "gpu-claim",
    namespace: Annotated[
        Optional[str], typer.Option("--namespace", "-n", help="metadata.namespace (left out unless given).", rich_help_panel=CLAIM)
    ] = None,
    request: Annotated[str, typer.Option("--request", help="The request's name.", rich_help_panel=CLAIM)] = "gpu",
    template: Annotated[
        bool, typer.Option("--template", help="Print a ResourceClaimTemplate instead of a ResourceClaim.", rich_help_panel=CLAIM)
    ] = False,
    api_version: Annotated[
        str,
        typer.Option(
            "--api-version",
            help="resource.k8s.io/v1 | v1beta2 | v1beta1 (v1beta1: request fields without `exactly:`); "
            "default: what the cluster serves, else v1.",
            rich_help_panel=CLAIM,
        ),
    ] = "",
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Create the object on the cluster (after a server-side dry run); never overwrites: "
            "an existing name exits 6. Prints what was created.",
        ),
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Say on stderr how many devices match now, on which nodes, and how many are free.")
    ] = False,
    output: Annotated[
        Optional[ManifestOutput],
        typer.Option(
            "--output", "-o", help="Output format (default yaml; with --apply: the created object's name).",
            case_sensitive=False, rich_help_panel=OUTPUT,
        ),
    ] = None,
    source: SourceOptions = CLUSTER_WIDE,
) -> None:
    """Print a ResourceClaim (or, with --template, a ResourceClaimTemplate) for the devices a filter describes.

    The selector is the filter compiled to guarded CEL (never a runtime error in the scheduler).
    The DeviceClass is the one that admits every device the filter matches, unless --class names one.
    Nothing is applied unless --apply: then the object is created (never overwritten) after a server-side dry run.

    Examples:

      kubectl dra claim --min-memory 40Gi --mig --demo

      kubectl dra claim --profile 1g.10gb --template --name mig-small --demo

      kubectl dra claim 'memory>=40Gi' product~h100 'not mig' --count 2 --same pcieRoot --demo

      kubectl dra claim product~h100 --class gpu.nvidia.com --check

      kubectl dra claim product~h100 'not mig' --or 'product~a100 not mig' --or 'mig=true profile=3g.40gb' --demo
    """
    from kubectl_dra.domain.claim_plan import ClaimRequest, apply_manifest, plan_claim
    from kubectl_dra.render.claim_check import check_lines

    wanted = ClaimRequest(
        terms=terms or [], where=where or [], min_memory=min_memory, mig=mig, profile=profile, product=product,
        arch=arch, cel_expression=cel_expression, alternatives=alternatives or [], count=count, all_devices=all_devices,
        device_class=device_class, same=same or [], distinct=distinct or [], name=name, namespace=source.namespace,
        request=request, template=template, api_version=api_version, check=check, apply=apply,
    )
    spec = wanted.validate(offline=not source.live)
    cluster = read_cluster(source.across_namespaces(), (SLICES, CLAIMS, CLASSES) if check else (SLICES, CLASSES))
    cluster.device_views()
    flush_warnings(cluster)
    plan = plan_claim(wanted, cluster, spec)
    data = plan.manifest()
    for line in check_lines(plan):
        err(line)
    if apply:
        if not plan.matches_now:
            warn("no device matches the claim now: it will stay pending until one does")
        data = apply_manifest(cluster, data, source.namespace)
    print_manifest(data, output, created=apply)


def print_manifest(data: dict, output: "ManifestOutput | None", *, created: bool = False) -> None:
    """claim's printer: the manifest as YAML (each CEL expression on one line) or JSON; after
    --apply without -o, kubectl's "KIND/NAME created" line."""
    if created and output is None:
        out(f"{data['kind'].lower()}.resource.k8s.io/{data['metadata']['name']} created\n")
    elif output is ManifestOutput.json:
        write_data(data, Output.json)
    else:
        from kubectl_dra.render.manifest import to_yaml

        out(to_yaml(data))
