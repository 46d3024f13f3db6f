"""`kubectl dra claim`: generate a ResourceClaim / ResourceClaimTemplate from a filter."""

from __future__ import annotations

import dataclasses

from enum import Enum
from typing import Annotated, Optional

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    OUTPUT,
    Context,
    Demo,
    Filenames,
    Kubeconfig,
    RequestTimeout,
    flush_warnings,
    load,
)
from kubectl_dra.errors import UsageError

CLAIM = "Claim"


class ManifestOutput(str, Enum):
    yaml = "yaml"
    json = "json"


@command(app, "claim")
def claim(
    terms: Annotated[
        Optional[list[str]],
        typer.Argument(help="Filter terms, ANDed, e.g. memory>=40Gi mig=true (same language as `list`).", show_default=False),
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
    check: Annotated[
        bool, typer.Option("--check", help="Say on stderr how many devices match now, on which nodes, and how many are free.")
    ] = False,
    output: Annotated[
        ManifestOutput, typer.Option("--output", "-o", help="Output format.", case_sensitive=False, rich_help_panel=OUTPUT)
    ] = ManifestOutput.yaml,
    filename: Filenames = None,
    demo: Demo = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    request_timeout: RequestTimeout = "0",
) -> None:
    """Print a ResourceClaim (or, with --template, a ResourceClaimTemplate) for the devices a filter describes.

    The selector is the filter compiled to guarded CEL (never a runtime error in the scheduler).
    The DeviceClass is the one that admits every device the filter matches, unless --class names one.
    Nothing is applied: pipe the output to `kubectl apply -f -`.

    Examples:

      kubectl dra claim --min-memory 40Gi --mig --demo

      kubectl dra claim --profile 1g.10gb --template --name mig-small --demo

      kubectl dra claim 'memory>=40Gi' --count 2 --same pcieRoot --demo

      kubectl dra claim product~h100 --class gpu.nvidia.com --check
    """
    from kubectl_dra import cel
    from kubectl_dra.cli._common import Output, write_data
    from kubectl_dra.console import out
    from kubectl_dra.errors import NotFoundError
    from kubectl_dra.filter import Schema
    from kubectl_dra.filter import compile as compile_filter
    from kubectl_dra.kube.load import CLAIMS, CLASSES, SLICES
    from kubectl_dra.render import manifest

    if count is not None and all_devices:
        raise UsageError("--count and --all exclude each other", hint="--all asks for every matching device (allocationMode All)")
    if count is not None and count <= 0:
        raise UsageError(f"--count must be greater than zero, not {count}")
    version = manifest.normalize_api_version(api_version) if api_version else None
    extra: list[str] = []
    if min_memory is not None:
        extra.append(f"memory>={manifest.quote_value(min_memory)}")
    if mig or profile is not None:
        extra.append("mig=true")
    if profile is not None:
        extra.append(f"profile={manifest.quote_value(profile)}")
    if product is not None:
        extra.append(f"product~{manifest.quote_value(product)}")
    if arch is not None:
        extra.append(f"arch={manifest.quote_value(arch)}")
    text = manifest.filter_text(terms or [], where or [], extra)
    cel_program = cel.compile(cel_expression) if cel_expression is not None else None  # compile error: exit 2
    # the spec is checked before the cluster is read: a bad name fails fast
    spec = manifest.ClaimSpec(
        name=name, device_class=device_class or "x", request=request,
        count=None if all_devices else (count or 1), namespace=namespace, template=template,
        api_version=version or manifest.normalize_api_version("v1"),
    )
    manifest.validate_names(spec)

    cluster = load(
        filenames=filename, demo=demo, kubeconfig=kubeconfig, context=context, namespace=namespace,
        all_namespaces=True, request_timeout=request_timeout,
        want=(SLICES, CLAIMS, CLASSES) if check else (SLICES, CLASSES),
    )
    if version is None and cluster.served_version in manifest.API_VERSIONS:
        # default: the version the cluster serves (v1 on 1.34+, v1beta1/v1beta2 on older clusters)
        spec = dataclasses.replace(spec, api_version=manifest.normalize_api_version(cluster.served_version))

    views = cluster.device_views()
    flush_warnings(cluster)
    devices = [v.device for v in views]
    schema = Schema.from_devices(devices)
    flt = compile_filter(text, schema) if text else None  # FilterError: exit 2
    selectors = ([flt.to_cel()] if flt is not None and flt.to_cel() else []) + ([cel_expression] if cel_expression else [])

    # devices the request selectors admit (the scheduler's view: a CEL runtime error = not admitted)
    matched = [v for v in views if flt is None or flt.matches(v.device)]
    if cel_program is not None:
        results = cel_program.evaluate_many([v.device for v in matched])
        matched = [v for v, r in zip(matched, results) if r.matched]

    admitted = {c.name: _admitted(c, devices) for c in cluster.classes}
    if device_class is None:
        device_class = _choose_class(cluster.classes, admitted, matched, views, text)
    elif not cluster.classes:
        # e.g. -f with ResourceSlices only: trust --class; --check then applies the request selectors only
        from kubectl_dra.console import warn

        warn(f"no DeviceClasses in {cluster.source or 'the input'}: class {device_class} is not checked")
        admitted[device_class] = {d.key for d in devices}
    elif device_class not in admitted:
        names = ", ".join(sorted(admitted)) or "none"
        raise NotFoundError(f'deviceclass "{device_class}" not found in {cluster.source or "the cluster"}', hint=f"DeviceClasses: {names}")

    in_class = [v for v in matched if v.device.key in admitted[device_class]]
    drivers = {v.device.driver for v in in_class} or {v.device.driver for v in matched}
    constraints = [manifest.Constraint("matchAttribute", manifest.resolve_attribute(a, schema, drivers, flag="--same")) for a in same or []]
    constraints += [manifest.Constraint("distinctAttribute", manifest.resolve_attribute(a, schema, drivers, flag="--distinct")) for a in distinct or []]
    spec.device_class = device_class
    spec.selectors = selectors
    spec.constraints = constraints
    data = manifest.build(spec)
    if check:
        _report(in_class, views, spec, cluster, device_class, text, admitted[device_class])
    if output is ManifestOutput.json:
        write_data(data, Output.json)
    else:
        out(manifest.to_yaml(data))


def _admitted(device_class, devices) -> set[tuple[str, str, str]]:
    """Keys of the devices every selector of the class admits (a compile or runtime error admits none)."""
    from kubectl_dra import cel
    from kubectl_dra.errors import DraError

    keep = list(devices)
    for expression in device_class.selectors:
        try:
            program = cel.compile(expression)
        except DraError:
            return set()
        results = program.evaluate_many(keep)
        keep = [d for d, r in zip(keep, results) if r.matched]
    return {d.key for d in keep}


class _NoMatch(UsageError):
    """No device matches: the nearest misses go between ``error:`` and ``hint:``."""

    def __init__(self, message: str, lines: list[str], *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.lines = lines

    def detail_lines(self) -> list[str]:
        return [f"  {line}" for line in self.lines]


def _choose_class(classes, admitted, matched, views, text: str) -> str:
    if not classes:
        raise UsageError("no DeviceClasses in the input: cannot choose one", hint="name it with --class")
    if not matched:
        raise _NoMatch(
            "no device matches the filter, so no DeviceClass can be chosen",
            [f"nearest miss: {line}" for line in nearest_misses(views, text, None)],
            hint="pass --class to generate the claim anyway",
        )
    keys = {v.device.key for v in matched}
    fits = sorted(name for name, keys_in in admitted.items() if keys <= keys_in)
    if len(fits) == 1:
        return fits[0]
    if len(fits) > 1:
        raise UsageError(f"several DeviceClasses admit every matching device: {', '.join(fits)}",
                         hint="choose one with --class")
    # no class admits them all: say which classes admit which share
    parts = []
    for name in sorted(admitted):
        n = len(keys & admitted[name])
        if n:
            parts.append(f"{name} ({n})")
    outside = len(keys - set().union(*admitted.values())) if admitted else len(keys)
    if outside:
        parts.append(f"no class ({outside})")
    raise UsageError(
        f"the {len(keys)} matching devices span several DeviceClasses: {', '.join(parts)}",
        hint="choose one with --class, or narrow the filter (e.g. mig=false, --mig, product~…)",
    )


def nearest_misses(views, text: str, device_class_keys: set | None, limit: int = 3) -> list[str]:
    """For a ``memory>=Q`` term: the biggest devices below Q, e.g. "NVIDIA H100 80GB HBM3 publishes 81559Mi = 79.6Gi; did you mean memory>=79Gi?"."""
    import re

    from kubectl_dra.model.quantity import Quantity, QuantityError
    from kubectl_dra.render.devices import human_quantity, product

    found = re.findall(r"\bmemory\s*>=?\s*([0-9.]+[A-Za-z]*)", text)
    if not found:
        return []
    try:
        wanted = max((Quantity.parse(q) for q in found), key=lambda q: q.value)
    except QuantityError:
        return []
    rest = None
    if text:
        # the filter with each memory term replaced by a term every device matches
        from kubectl_dra.filter import FilterError, Schema
        from kubectl_dra.filter import compile as compile_filter

        try:
            relaxed = re.sub(r"\bmemory\s*>=?\s*[0-9.]+[A-Za-z]*", "(mig or not mig)", text)
            rest = compile_filter(relaxed, Schema.from_devices(v.device for v in views))
        except FilterError:
            rest = None
    best: dict[tuple[str, str], Quantity] = {}
    for view in views:
        device = view.device
        if device_class_keys is not None and device.key not in device_class_keys:
            continue
        if rest is not None and not rest.matches(device):
            continue
        raw = device.cap("memory")
        if raw is None:
            continue
        try:
            q = Quantity.parse(raw)
        except QuantityError:
            continue
        if q.value < wanted.value:
            best[(product(device), raw)] = q
    ranked = sorted(best.items(), key=lambda item: -item[1].value)[:limit]
    out = []
    for (prod, raw), q in ranked:
        gib = int(q.value // (1 << 30))
        human = human_quantity(raw)
        shown = raw if raw == human else f"{raw} = {human}"
        out.append(f"{prod} publishes {shown}" + (f"; did you mean memory>={gib}Gi?" if gib > 0 else ""))
    return out


def _report(in_class, views, spec, cluster, device_class: str, text: str, class_keys: set) -> None:
    """--check: on stderr, how many devices match now, where, and how many are free."""
    from kubectl_dra.console import err
    from kubectl_dra.model.cluster import natural_key

    want = "all matching devices" if spec.count is None else f"{spec.count} device{'s' if spec.count != 1 else ''}"
    if not in_class:
        err(f"check: no device matches class {device_class} and the selectors now (the claim asks for {want})")
        for line in nearest_misses(views, text, class_keys):
            err(f"  nearest miss: {line}")
        return
    by_node: dict[str, list] = {}
    for view in in_class:
        by_node.setdefault(view.device.node_label, []).append(view)
    free = [v for v in in_class if v.state == "free"]
    err(f"check: {len(in_class)} device{'s' if len(in_class) != 1 else ''} on {len(by_node)} node{'s' if len(by_node) != 1 else ''} "
        f"match class {device_class} and the selectors; {len(free)} free now (the claim asks for {want})")
    for node in sorted(by_node, key=natural_key):
        node_views = by_node[node]
        n_free = sum(1 for v in node_views if v.state == "free")
        err(f"  {node}: {len(node_views)} matching, {n_free} free")
    if not cluster.claims_known:
        err("warning: claims could not be read, so every device counts as free")
    if spec.count is not None:
        best = max(sum(1 for v in vs if v.state == "free") for vs in by_node.values())
        if best < spec.count:
            err(f"warning: no node has {spec.count} free matching devices now (at most {best} on one node)")
    if spec.constraints:
        err("note: constraints (--same/--distinct) are not evaluated by --check")
