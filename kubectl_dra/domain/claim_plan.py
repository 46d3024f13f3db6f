"""Claim generation (`kubectl dra claim`): a ``ClaimRequest`` and a cluster in, a ``ClaimPlan`` out.

The plan holds the manifest to build (``render.manifest.ClaimManifest``: class, selectors,
firstAvailable alternatives, constraints), and per alternative the devices it matches now — the
counts ``--check`` prints and the nearest misses of a ``memory>=Q`` term. Two steps:

1. ``ClaimRequest.validate(offline=...)``: what fails before the cluster is read (flags that
   exclude each other, filter and CEL syntax, the names and the API version);
2. ``plan_claim(request, cluster)``: the DeviceClass of every alternative (``--class``, else the
   one class that admits every matching device: ``kubectl_dra.admission``), the constraints'
   qualified attribute names, the ``--check`` counts.

``apply_manifest`` creates the built object on the cluster (``--apply``) through the cluster's
kube client, after a server-side dry run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kubectl_dra.errors import NotFoundError, UsageError
from kubectl_dra.render import manifest

if TYPE_CHECKING:
    from kubectl_dra.model.claim import DeviceClass
    from kubectl_dra.model.cluster import Cluster, DeviceView

Key = tuple[str, str, str]


def _console_warn(message: str) -> None:
    from kubectl_dra.console import warn

    warn(message)


#: AllocationResultsMaxSize: the most devices one ResourceClaim can be allocated (dra-api.md §2.6)
MAX_DEVICES_PER_CLAIM = 32

@dataclass
class ClaimRequest:
    """What `claim` is asked for: the flags, as data."""

    terms: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    min_memory: str | None = None
    mig: bool = False
    profile: str | None = None
    product: str | None = None
    arch: str | None = None
    cel_expression: str | None = None
    #: each --or: one more filter, tried in order after the first (firstAvailable)
    alternatives: list[str] = field(default_factory=list)
    count: int | None = None
    all_devices: bool = False
    device_class: str | None = None
    same: list[str] = field(default_factory=list)
    distinct: list[str] = field(default_factory=list)
    name: str = "gpu-claim"
    namespace: str | None = None
    request: str = "gpu"
    template: bool = False
    #: "" = what the cluster serves, else v1
    api_version: str = ""
    check: bool = False
    apply: bool = False

    @property
    def filter_text(self) -> str:
        """The first alternative's filter: the terms, each --where, and the terms the flags add."""
        extra: list[str] = []
        if self.min_memory is not None:
            extra.append(f"memory>={manifest.quote_value(self.min_memory)}")
        if self.mig or self.profile is not None:
            extra.append("mig=true")
        if self.profile is not None:
            extra.append(f"profile={manifest.quote_value(self.profile)}")
        if self.product is not None:
            extra.append(f"product~{manifest.quote_value(self.product)}")
        if self.arch is not None:
            extra.append(f"arch={manifest.quote_value(self.arch)}")
        return manifest.filter_text(self.terms, self.where, extra)

    def validate(self, *, offline: bool) -> manifest.ClaimManifest:
        """Fail before the cluster is read (``offline``: --demo or -f); returns the manifest's
        name, request, count and version, with a placeholder class."""
        from kubectl_dra import cel
        from kubectl_dra.filter import parse as parse_filter

        if self.apply and offline:
            raise UsageError("--apply creates the object on a cluster: it cannot be used with --demo or -f",
                             hint="drop --apply to print the manifest")
        if self.count is not None and self.all_devices:
            raise UsageError("--count and --all exclude each other", hint="--all asks for every matching device (allocationMode All)")
        if self.count is not None and self.count <= 0:
            raise UsageError(f"--count must be greater than zero, not {self.count}")
        if self.count is not None and self.count > MAX_DEVICES_PER_CLAIM:  # also keeps int64 out of the manifest
            raise UsageError(f"--count {self.count} is more than a claim can get: at most {MAX_DEVICES_PER_CLAIM} devices",
                             hint="the API allocates at most 32 devices per ResourceClaim (AllocationResultsMaxSize); "
                                  "split the request over several claims")
        version = manifest.normalize_api_version(self.api_version) if self.api_version else None
        text = self.filter_text
        if self.cel_expression is not None:
            cel.compile(self.cel_expression, estimate=True)  # compile error (also: cost estimate over the limit): exit 2
        for alt_text in [text, *self.alternatives]:
            if alt_text.strip():
                parse_filter(alt_text)  # syntax errors fail before the cluster is read
        spec = manifest.ClaimManifest(
            name=self.name, device_class=self.device_class or "x", request=self.request,
            count=None if self.all_devices else (self.count or 1), namespace=self.namespace, template=self.template,
            api_version=version or manifest.normalize_api_version("v1"),
        )
        manifest.validate_names(spec)  # a bad name fails fast
        return spec


@dataclass
class AlternativeCheck:
    """--check for one alternative: the devices of its class that its selectors admit now."""

    device_class: str
    matching: int = 0
    free: int = 0
    #: (node, matching, free), nodes in natural order
    nodes: list[tuple[str, int, int]] = field(default_factory=list)
    #: devices a threshold term leaves out by a hair (filter.nearmiss), always; when nothing
    #: matches, the closest ones: "4 free devices (3g.40gb, 39.5Gi) are just below memory>=40Gi; …"
    near_misses: list[str] = field(default_factory=list)


@dataclass
class PlannedAlternative:
    """One alternative (the filter, or one --or): its subrequest name, class, selectors, devices."""

    name: str
    text: str
    device_class: str
    selectors: list[str]
    #: devices the request selectors admit (the scheduler's view: a CEL runtime error = not admitted)
    matched: list["DeviceView"]
    #: those of them the class admits
    in_class: list["DeviceView"]
    check: AlternativeCheck | None = None
    #: the compiled filter (None: CEL only), for the near misses
    filter: object | None = None


@dataclass
class ClaimPlan:
    spec: manifest.ClaimManifest
    alternatives: list[PlannedAlternative]
    #: False when claims could not be read: every device counts as free
    claims_known: bool = True
    #: --check: the allocator simulated on the manifest (alloc.check.CheckReport): constraints,
    #: the count on one node and the --or alternatives in order, as the scheduler would decide now
    simulation: object | None = None

    def manifest(self) -> dict:
        """The ResourceClaim / ResourceClaimTemplate to print or create."""
        return manifest.build(self.spec)

    @property
    def matches_now(self) -> bool:
        return any(alt.in_class for alt in self.alternatives)


class NoMatchError(UsageError):
    """No device matches: the nearest misses go between ``error:`` and ``hint:``."""

    def __init__(self, message: str, lines: list[str], *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.lines = lines

    def detail_lines(self) -> list[str]:
        return [f"  {line}" for line in self.lines]


def admitted_by_class(classes: Sequence["DeviceClass"], devices) -> dict[str, set[Key]]:
    """Class name -> keys of the devices its selectors admit (a compile or runtime error admits none)."""
    from kubectl_dra.admission import admit

    return {c.name: {d.key for d in admit(c.selectors, devices).admitted} for c in classes}


def plan_claim(
    request: ClaimRequest,
    cluster: "Cluster",
    spec: manifest.ClaimManifest | None = None,
    *,
    warn: Callable[[str], None] = _console_warn,
) -> ClaimPlan:
    """The plan for ``request`` on ``cluster`` (``spec``: what ``request.validate`` returned)."""
    from kubectl_dra import cel
    from kubectl_dra.filter import Schema
    from kubectl_dra.filter import compile as compile_filter

    if spec is None:
        spec = request.validate(offline=False)
    if not request.api_version and cluster.served_version in manifest.API_VERSIONS:
        # default: the version the cluster serves (v1 on 1.34+, v1beta1/v1beta2 on older clusters)
        spec = dataclasses.replace(spec, api_version=manifest.normalize_api_version(cluster.served_version))
    device_class = request.device_class
    views = cluster.device_views()
    devices = [v.device for v in views]
    # no devices at all (a driver not installed yet, -f with classes only): the literals decide the
    # kinds, as documented, instead of every name being "published by no device"
    schema = Schema.from_devices(devices) if devices else None
    admitted = admitted_by_class(cluster.classes, devices)
    if device_class is not None and not cluster.classes:
        # e.g. -f with ResourceSlices only: trust --class; --check then applies the request selectors only
        warn(f"no DeviceClasses in {cluster.source or 'the input'}: class {device_class} is not checked")
        admitted[device_class] = {d.key for d in devices}
    elif device_class is not None and device_class not in admitted:
        names = ", ".join(sorted(admitted)) or "none"
        raise NotFoundError(f'deviceclass "{device_class}" not found in {cluster.source or "the cluster"}', hint=f"DeviceClasses: {names}")

    text = request.filter_text
    cel_expression = request.cel_expression
    # the first alternative is the filter the flags and terms describe; each --or is one more, tried in order
    wanted = [(text, cel_expression)] + [(manifest.filter_text([], [alt], []), None) for alt in request.alternatives]
    if request.alternatives and any(not t for t, _ in wanted[1:]):
        raise UsageError("--or needs a filter, e.g. --or 'product~a100'")
    if request.alternatives and not (text or cel_expression):
        raise UsageError("--or adds an alternative to a filter: give the first one as terms or flags",
                         hint="e.g. kubectl dra claim product~h100 --or product~a100")
    from kubectl_dra.filter import ClassFacts, class_facts

    classes = {c.name: c for c in cluster.classes}
    chosen: list[PlannedAlternative] = []
    for index, (alt_text, alt_cel) in enumerate(wanted):
        flt = compile_filter(alt_text, schema) if alt_text else None  # FilterError: exit 2
        selectors = ([flt.to_cel()] if flt is not None and flt.to_cel() else []) + ([alt_cel] if alt_cel else [])
        matched = [v for v in views if flt is None or flt.matches(v.device)]
        if alt_cel is not None:
            results = cel.compile(alt_cel).evaluate_many([v.device for v in matched])
            matched = [v for v, r in zip(matched, results) if r.matched]
        label = None if len(wanted) == 1 else (f"--or {alt_text!r}" if index else "the first alternative")
        alt_class = device_class or choose_class(cluster.classes, admitted, matched, views, alt_text, label)
        in_class = [v for v in matched if v.device.key in admitted[alt_class]]
        if flt is not None and alt_class in classes:
            # minimal CEL: only the drivers the class admits, nothing the class already tests
            minimal = flt.to_cel_for(class_facts(classes[alt_class].selectors))
            if minimal is not None:  # None: nothing the class admits can match; keep the full selector
                selectors = ([minimal] if minimal else []) + ([alt_cel] if alt_cel else [])
        chosen.append(PlannedAlternative(manifest.alternative_name(index), alt_text, alt_class, selectors, matched,
                                         in_class, filter=flt))

    drivers = {v.device.driver for alt in chosen for v in alt.in_class} or {
        v.device.driver for alt in chosen for v in alt.matched}
    spec.constraints = [
        manifest.ManifestConstraint("matchAttribute", manifest.resolve_attribute(a, schema, drivers, flag="--same"))
        for a in request.same
    ] + [
        manifest.ManifestConstraint("distinctAttribute", manifest.resolve_attribute(a, schema, drivers, flag="--distinct"))
        for a in request.distinct
    ]
    spec.device_class = chosen[0].device_class
    spec.selectors = chosen[0].selectors
    if len(chosen) > 1:
        spec.alternatives = [manifest.Alternative(alt.name, alt.device_class, alt.selectors) for alt in chosen]
    plan = ClaimPlan(spec, chosen, claims_known=cluster.claims_known)
    if request.check:
        for alt in chosen:
            alt.check = check_counts(alt, views, admitted[alt.device_class])
        if cluster.classes:
            from kubectl_dra.alloc.check import check_manifest

            plan.simulation = check_manifest(cluster, plan.manifest(), spec.namespace or "default")
    return plan


def check_counts(alt: PlannedAlternative, views: Sequence["DeviceView"], class_keys: set[Key]) -> AlternativeCheck:
    """--check: how many devices of the alternative match now, on which nodes, how many are free."""
    from kubectl_dra.model.cluster import natural_key

    from kubectl_dra.filter.nearmiss import near_misses

    check = AlternativeCheck(alt.device_class)
    if alt.filter is not None:
        # always, not only when nothing matches: MIG slices just below a rounded threshold
        check.near_misses = [m.message() for m in near_misses(alt.filter, views, keys=class_keys)]
    if not alt.in_class:
        return check
    by_node: dict[str, list] = {}
    for view in alt.in_class:
        by_node.setdefault(view.device.node_label, []).append(view)
    check.matching = len(alt.in_class)
    check.free = sum(1 for v in alt.in_class if v.state == "free")
    for node in sorted(by_node, key=natural_key):
        node_views = by_node[node]
        check.nodes.append((node, len(node_views), sum(1 for v in node_views if v.state == "free")))
    return check


def choose_class(classes, admitted: dict[str, set[Key]], matched, views, text: str, label: str | None = None) -> str:
    """The one DeviceClass that admits every matching device; ``label`` names the alternative in errors."""
    where = f" ({label})" if label else ""
    if not classes:
        raise UsageError("no DeviceClasses in the input: cannot choose one", hint="name it with --class")
    if not matched:
        raise NoMatchError(
            f"no device matches the filter{where}, so no DeviceClass can be chosen",
            [f"nearest miss: {line}" for line in _closest(views, text)],
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


def _closest(views, text: str) -> list[str]:
    """Nothing matches the filter: the closest devices for each threshold term (filter.nearmiss)."""
    from kubectl_dra.filter import FilterError, Schema
    from kubectl_dra.filter import compile as compile_filter
    from kubectl_dra.filter.nearmiss import near_misses

    if not text:
        return []
    try:
        flt = compile_filter(text, Schema.from_devices(v.device for v in views))
    except FilterError:
        return []
    return [m.message() for m in near_misses(flt, views, nothing_matched=True)]


def apply_manifest(cluster: "Cluster", data: dict, namespace: str | None) -> dict:
    """--apply: create ``data`` after a server-side dry run (never overwriting); returns the object
    as the server stored it, without managedFields (as kubectl prints objects)."""
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
    data = client.create(path, data, what=what)
    return {**data, "metadata": {k: v for k, v in data["metadata"].items() if k != "managedFields"}}
