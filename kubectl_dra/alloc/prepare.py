"""Per-claim preparation, independent of the node (dra-api.md §3.1 validation, §5.3).

Checks what kube-scheduler's DRA plugin and the allocator check before searching — classes
exist, selectors compile, requests are well formed, features are on, at most 32 devices per
claim — and turns each request (or each ``firstAvailable`` subrequest) into a ``ReqSpec`` with
its ``RequestSelection``. Problems become claim-level reasons: a missing class is *Unschedulable*
(PreFilter), everything else an *Error* (the allocator refuses the claim).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubectl_dra import cel
from kubectl_dra.alloc import reasons as R
from kubectl_dra.alloc.features import Features
from kubectl_dra.alloc.inputs import ClaimInput
from kubectl_dra.alloc.reasons import Reason
from kubectl_dra.alloc.selection import RequestSelection
from kubectl_dra.model.claim import DeviceClass, DeviceConstraint, SubRequest

#: resourceapi.AllocationResultsMaxSize: results per claim
MAX_RESULTS = 32
#: resourceapi.FirstAvailableDeviceRequestMaxSize
MAX_SUBREQUESTS = 8


@dataclass(eq=False)
class ReqSpec:
    """One way to satisfy a request: its ``exactly`` form or one ``firstAvailable`` subrequest."""

    claim_index: int
    request_index: int
    sub_index: int
    base: str  # the request's name
    sub: str | None  # the subrequest's name, None for ``exactly``
    spec: SubRequest
    device_class: DeviceClass
    selection: RequestSelection

    @property
    def name(self) -> str:
        """As in allocation results: ``req`` or ``req/sub``."""
        return self.base if self.sub is None else f"{self.base}/{self.sub}"

    @property
    def admin(self) -> bool:
        return bool(self.spec.admin_access) and self.sub is None

    @property
    def all_mode(self) -> bool:
        return self.spec.allocation_mode == "All"

    @property
    def count(self) -> int:
        return self.spec.count

    @property
    def tolerations(self) -> list[dict]:
        return self.spec.tolerations

    @property
    def capacity_requests(self) -> dict[str, str]:
        return self.spec.capacity_requests


@dataclass(eq=False)
class PreparedClaim:
    input: ClaimInput
    index: int
    #: per request: its alternatives (one for ``exactly``)
    requests: list[list[ReqSpec]] = field(default_factory=list)
    #: per request: True for a ``firstAvailable`` request
    first_available: list[bool] = field(default_factory=list)
    constraints: list[DeviceConstraint] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return self.input.ref

    def specs(self) -> list[ReqSpec]:
        return [s for alts in self.requests for s in alts]


class Preparer:
    """Validates claims and builds their ReqSpecs, sharing Selections between equal requests."""

    def __init__(self, classes: list[DeviceClass], features: Features) -> None:
        self.classes = {c.name: c for c in classes}
        self.features = features
        self._selections: dict[tuple[str, tuple[str, ...]], RequestSelection] = {}
        self._compile_checked: dict[str, str | None] = {}

    @property
    def selections(self) -> list[RequestSelection]:
        return list(self._selections.values())

    def _compile_error(self, expression: str) -> str | None:
        if expression not in self._compile_checked:
            try:
                cel.compile(expression)
                self._compile_checked[expression] = None
            except cel.CelCompileError as err:
                self._compile_checked[expression] = str(err)
        return self._compile_checked[expression]

    def _selection(self, cls: DeviceClass, selectors: list[str]) -> RequestSelection:
        key = (cls.name, tuple(selectors))
        sel = self._selections.get(key)
        if sel is None:
            sel = self._selections[key] = RequestSelection(cls.name, list(cls.selectors), list(selectors))
        return sel

    def prepare(self, claims: list[ClaimInput]) -> tuple[list[PreparedClaim], list[Reason]]:
        """PreparedClaims for the pending claims (in order) and every problem found."""
        out: list[PreparedClaim] = []
        found: list[Reason] = []
        for ci in claims:
            if not ci.pending:
                continue
            prepared, problems = self._claim(ci, len(out))
            found.extend(problems)
            out.append(prepared)
        return out, found

    def _claim(self, ci: ClaimInput, index: int) -> tuple[PreparedClaim, list[Reason]]:
        f = self.features
        found: list[Reason] = []
        pc = PreparedClaim(ci, index, constraints=list(ci.spec.constraints))

        def bad(code: str, message: str, request: str | None = None, status: str = R.ERROR, **data) -> None:
            found.append(Reason(code, message, status=status, claim=ci.ref, request=request, data=data))

        names: set[str] = set()
        min_devices = 0
        if not ci.spec.requests:
            bad(R.INVALID_REQUEST, f"claim {ci.ref} has no requests")
        for ri, request in enumerate(ci.spec.requests):
            names.add(request.name)
            if request.exactly is None and not request.first_available:
                bad(R.INVALID_REQUEST, f"request {request.name}: exactly one of `exactly` or `firstAvailable` is required", request.name)
                pc.requests.append([])
                pc.first_available.append(False)
                continue
            subs = request.first_available if request.exactly is None else [request.exactly]
            has_subs = request.exactly is None
            if has_subs and not f.prioritized_list:
                bad(R.FEATURE_DISABLED, f"resource claim {ci.ref}, request {request.name}: has subrequests, but the DRAPrioritizedList feature is disabled", request.name, status=R.UNSCHEDULABLE)
            if len(subs) > MAX_SUBREQUESTS:
                bad(R.INVALID_REQUEST, f"request {request.name}: {len(subs)} firstAvailable entries, at most {MAX_SUBREQUESTS} allowed", request.name)
            alts: list[ReqSpec] = []
            minimum: int | None = None
            for si, sub in enumerate(subs):
                label = request.name if not has_subs else f"{request.name}/{sub.name}"
                if has_subs:
                    names.add(label)
                ok = True
                if sub.capacity_requests and not f.consumable_capacity:
                    bad(R.FEATURE_DISABLED, f"claim {ci.ref}, request {label}: has capacity requests, but the DRAConsumableCapacity feature is disabled", label)
                    ok = False
                if sub.admin_access and not has_subs and not f.admin_access:
                    bad(R.FEATURE_DISABLED, f"claim {ci.ref}, request {label}: admin access is requested, but the feature is disabled", label)
                    ok = False
                if any(not s.strip() for s in sub.selectors):
                    bad(R.INVALID_REQUEST, f"claim {ci.ref}, request {label}: CEL expression empty (unsupported selector type?)", label)
                    ok = False
                if not sub.device_class:
                    bad(R.INVALID_REQUEST, f"claim {ci.ref}, request {label}: missing device class name (unsupported request type?)", label)
                    continue
                cls = self.classes.get(sub.device_class)
                if cls is None:
                    found.append(
                        Reason(
                            R.CLASS_MISSING,
                            f"request {label}: device class {sub.device_class} does not exist",
                            claim=ci.ref,
                            request=label,
                            data={"deviceClass": sub.device_class, "known": sorted(self.classes)},
                            hint="install the driver's DeviceClasses or fix deviceClassName",
                        )
                    )
                    continue
                if sub.allocation_mode == "ExactCount":
                    if sub.count <= 0:
                        bad(R.INVALID_REQUEST, f"request {label}: count must be greater than zero", label)
                        ok = False
                    else:
                        minimum = sub.count if minimum is None else min(minimum, sub.count)
                elif sub.allocation_mode == "All":
                    if sub.count:
                        bad(R.INVALID_REQUEST, f"request {label}: count must not be specified when allocationMode is 'All'", label)
                        ok = False
                    minimum = 0 if minimum is None else min(minimum, 0)
                else:
                    bad(R.INVALID_REQUEST, f"claim {ci.ref}, request {label}: unsupported count mode {sub.allocation_mode}", label)
                    ok = False
                for i, expression in enumerate(cls.selectors):
                    err = self._compile_error(expression) if expression.strip() else "CEL expression empty"
                    if err:
                        bad(R.CEL_COMPILE_ERROR, f"class {cls.name}: selector #{i}: CEL compile error: {err}", label, expression=expression, deviceClass=cls.name)
                        ok = False
                for i, expression in enumerate(sub.selectors):
                    err = self._compile_error(expression) if expression.strip() else None
                    if err:
                        bad(R.CEL_COMPILE_ERROR, f"claim {ci.ref}: selector #{i}: CEL compile error: {err}", label, expression=expression)
                        ok = False
                if ok:
                    alts.append(ReqSpec(index, ri, si, request.name, sub.name if has_subs else None, sub, cls, self._selection(cls, sub.selectors)))
            pc.requests.append(alts)
            pc.first_available.append(has_subs)
            min_devices += minimum or 0
        if min_devices > MAX_RESULTS:
            bad(R.TOO_MANY_DEVICES, f"claim {ci.ref}: number of requested devices {min_devices} exceeds the claim limit of {MAX_RESULTS}", requested=min_devices, limit=MAX_RESULTS)
        for i, constraint in enumerate(ci.spec.constraints):
            attr = constraint.match_attribute or constraint.distinct_attribute
            if bool(constraint.match_attribute) == bool(constraint.distinct_attribute):
                bad(R.INVALID_REQUEST, f"claim {ci.ref}, constraint #{i}: exactly one of matchAttribute or distinctAttribute is required")
            elif attr and "/" not in attr:
                bad(R.INVALID_REQUEST, f"claim {ci.ref}, constraint #{i}: {attr}: a fully qualified name must be a domain and a name separated by a slash")
            elif constraint.distinct_attribute and not f.consumable_capacity:
                bad(R.FEATURE_DISABLED, f"claim {ci.ref}, constraint #{i}: distinctAttribute needs the DRAConsumableCapacity feature")
            for name in constraint.requests:
                if name not in names:
                    bad(R.INVALID_REQUEST, f"claim {ci.ref}, constraint #{i}: request {name} is not defined in this claim")
        return pc, found
