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


#: AllocationResultsMaxSize: the most devices one ResourceClaim can be allocated (dra-api.md §2.6)
MAX_DEVICES_PER_CLAIM = 32


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
    filename: Filenames = None,
    demo: Demo = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    request_timeout: RequestTimeout = "0",
) -> None:
    """Print a ResourceClaim (or, with --template, a ResourceClaimTemplate) for the devices a filter describes.

    The selector is the filter compiled to guarded CEL (never a runtime error in the scheduler).
    The DeviceClass is the one that admits every device the filter matches, unless --class names one.
    Nothing is applied unless --apply: then the object is created (never overwritten) after a server-side dry run.

    Examples:

      kubectl dra claim --min-memory 40Gi --mig --demo

      kubectl dra claim --profile 1g.10gb --template --name mig-small --demo

      kubectl dra claim 'memory>=40Gi' --count 2 --same pcieRoot --demo

      kubectl dra claim product~h100 --class gpu.nvidia.com --check

      kubectl dra claim product~h100 --or product~a100 --or 'mig=true profile=3g.40gb' --demo
    """
    from kubectl_dra import cel
    from kubectl_dra.cli._common import Output, write_data
    from kubectl_dra.console import out
    from kubectl_dra.errors import NotFoundError
    from kubectl_dra.filter import Schema
    from kubectl_dra.filter import compile as compile_filter
    from kubectl_dra.kube.load import CLAIMS, CLASSES, SLICES
    from kubectl_dra.render import manifest

    if apply and (demo or filename):
        raise UsageError("--apply creates the object on a cluster: it cannot be used with --demo or -f",
                         hint="drop --apply to print the manifest")
    if count is not None and all_devices:
        raise UsageError("--count and --all exclude each other", hint="--all asks for every matching device (allocationMode All)")
    if count is not None and count <= 0:
        raise UsageError(f"--count must be greater than zero, not {count}")
    if count is not None and count > MAX_DEVICES_PER_CLAIM:
        raise UsageError(f"--count {count} is more than a claim can get: at most {MAX_DEVICES_PER_CLAIM} devices",
                         hint="the API allocates at most 32 devices per ResourceClaim (AllocationResultsMaxSize); "
                              "split the request over several claims")
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
    from kubectl_dra.filter import parse as parse_filter

    for alt_text in [text, *(alternatives or [])]:
        if alt_text.strip():
            parse_filter(alt_text)  # syntax errors fail before the cluster is read
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
    # no devices at all (a driver not installed yet, -f with classes only): the literals decide the
    # kinds, as documented, instead of every name being "published by no device"
    schema = Schema.from_devices(devices) if devices else None
    admitted = {c.name: _admitted(c, devices) for c in cluster.classes}
    if device_class is not None and not cluster.classes:
        # e.g. -f with ResourceSlices only: trust --class; --check then applies the request selectors only
        from kubectl_dra.console import warn

        warn(f"no DeviceClasses in {cluster.source or 'the input'}: class {device_class} is not checked")
        admitted[device_class] = {d.key for d in devices}
    elif device_class is not None and device_class not in admitted:
        names = ", ".join(sorted(admitted)) or "none"
        raise NotFoundError(f'deviceclass "{device_class}" not found in {cluster.source or "the cluster"}', hint=f"DeviceClasses: {names}")

    # the first alternative is the filter the flags and terms describe; each --or is one more, tried in order
    wanted = [(text, cel_expression, cel_program)] + [(manifest.filter_text([], [alt], []), None, None) for alt in alternatives or []]
    if alternatives and any(not t for t, _, _ in wanted[1:]):
        raise UsageError("--or needs a filter, e.g. --or 'product~a100'")
    if alternatives and not (text or cel_expression):
        raise UsageError("--or adds an alternative to a filter: give the first one as terms or flags",
                         hint="e.g. kubectl dra claim product~h100 --or product~a100")
    chosen = []  # (name, text, class, selectors, devices in class)
    for index, (alt_text, alt_cel, alt_program) in enumerate(wanted):
        flt = compile_filter(alt_text, schema) if alt_text else None  # FilterError: exit 2
        selectors = ([flt.to_cel()] if flt is not None and flt.to_cel() else []) + ([alt_cel] if alt_cel else [])
        # devices the request selectors admit (the scheduler's view: a CEL runtime error = not admitted)
        matched = [v for v in views if flt is None or flt.matches(v.device)]
        if alt_program is not None:
            results = alt_program.evaluate_many([v.device for v in matched])
            matched = [v for v, r in zip(matched, results) if r.matched]
        label = None if len(wanted) == 1 else (f"--or {alt_text!r}" if index else "the first alternative")
        alt_class = device_class or _choose_class(cluster.classes, admitted, matched, views, alt_text, label)
        in_class = [v for v in matched if v.device.key in admitted[alt_class]]
        chosen.append((manifest.alternative_name(index), alt_text, alt_class, selectors, in_class, matched))

    drivers = {v.device.driver for *_, in_class, _ in chosen for v in in_class} or {
        v.device.driver for *_, matched in chosen for v in matched}
    constraints = [manifest.Constraint("matchAttribute", manifest.resolve_attribute(a, schema, drivers, flag="--same")) for a in same or []]
    constraints += [manifest.Constraint("distinctAttribute", manifest.resolve_attribute(a, schema, drivers, flag="--distinct")) for a in distinct or []]
    spec.device_class = chosen[0][2]
    spec.selectors = chosen[0][3]
    spec.constraints = constraints
    if len(chosen) > 1:
        spec.alternatives = [manifest.Alternative(n, c, sel) for n, _, c, sel, _, _ in chosen]
    data = manifest.build(spec)
    if check:
        for index, (alt_name, alt_text, alt_class, _, in_class, _) in enumerate(chosen):
            if len(chosen) > 1:
                from kubectl_dra.console import err

                err(f"alternative {index + 1} of {len(chosen)} ({alt_name}: {alt_text or 'CEL only'}):")
            _report(in_class, views, spec, cluster, alt_class, alt_text, admitted[alt_class], indent="  " if len(chosen) > 1 else "")
    if apply:
        if not any(in_class for *_, in_class, _ in chosen):
            from kubectl_dra.console import warn

            warn("no device matches the claim now: it will stay pending until one does")
        data = _apply(cluster, data, namespace)
        # as kubectl prints objects (--show-managed-fields=false): without the field-manager bookkeeping
        data = {**data, "metadata": {k: v for k, v in data["metadata"].items() if k != "managedFields"}}
        if output is None:
            out(f"{data['kind'].lower()}.resource.k8s.io/{data['metadata']['name']} created\n")
            return
    if output is ManifestOutput.json:
        write_data(data, Output.json)
    else:
        out(manifest.to_yaml(data))


def _apply(cluster, data: dict, namespace: str | None) -> dict:
    """Create ``data`` after a server-side dry run; returns the object as the server stored it."""
    from kubectl_dra.errors import UsageError

    client = cluster.client
    if client is None:  # pragma: no cover - --demo/-f are refused before the cluster is read
        raise UsageError("--apply needs a cluster")
    ns = namespace or cluster.namespace
    data = {**data, "metadata": {**data["metadata"], "namespace": ns}}
    version = data["apiVersion"].rpartition("/")[2]
    if cluster.served_versions and version not in cluster.served_versions:
        raise UsageError(
            f"the cluster does not serve {data['apiVersion']}",
            hint=f"it serves resource.k8s.io {', '.join(cluster.served_versions)}; pick one with --api-version or leave it out",
        )
    plural = "resourceclaimtemplates" if data["kind"] == "ResourceClaimTemplate" else "resourceclaims"
    path = f"/apis/resource.k8s.io/{version}/namespaces/{ns}/{plural}"
    what = f'{data["kind"].lower()}.resource.k8s.io "{data["metadata"]["name"]}" in namespace "{ns}"'
    client.create(path, data, what=what, dry_run=True)  # admission + validation first: nothing half-done
    return client.create(path, data, what=what)


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


def _choose_class(classes, admitted, matched, views, text: str, label: str | None = None) -> str:
    """The one DeviceClass that admits every matching device; ``label`` names the alternative in errors."""
    where = f" ({label})" if label else ""
    if not classes:
        raise UsageError("no DeviceClasses in the input: cannot choose one", hint="name it with --class")
    if not matched:
        raise _NoMatch(
            f"no device matches the filter{where}, so no DeviceClass can be chosen",
            [f"nearest miss: {line}" for line in nearest_misses(views, text, None)],
            hint="pass --class to generate the claim anyway",
        )
    keys = {v.device.key for v in matched}
    fits = sorted(name for name, keys_in in admitted.items() if keys <= keys_in)
    if len(fits) == 1:
        return fits[0]
    if len(fits) > 1:
        raise UsageError(f"several DeviceClasses admit every matching device{where}: {', '.join(fits)}",
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
        f"the {len(keys)} matching devices{where} span several DeviceClasses: {', '.join(parts)}",
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


def _report(in_class, views, spec, cluster, device_class: str, text: str, class_keys: set, indent: str = "") -> None:
    """--check: on stderr, how many devices match now, where, and how many are free."""
    from kubectl_dra.console import err as _err

    def err(line: str) -> None:
        _err(indent + line)
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
