"""ResourceClaims, ResourceClaimTemplates and DeviceClasses in one (v1-shaped) model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any


@dataclass(slots=True)
class SubRequest:
    """One way to satisfy a request: the ``exactly`` form or one ``firstAvailable`` alternative."""

    name: str
    device_class: str
    selectors: list[str] = field(default_factory=list)
    allocation_mode: str = "ExactCount"
    count: int = 1
    admin_access: bool = False
    tolerations: list[dict] = field(default_factory=list)
    capacity_requests: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        amount = "all" if self.allocation_mode == "All" else str(self.count)
        return f"{self.device_class}×{amount}"


@dataclass(slots=True)
class Request:
    name: str
    exactly: SubRequest | None = None
    first_available: list[SubRequest] = field(default_factory=list)

    @property
    def alternatives(self) -> list[SubRequest]:
        return [self.exactly] if self.exactly is not None else list(self.first_available)

    def describe(self) -> str:
        if self.exactly is not None:
            return f"{self.name}: {self.exactly.describe()}"
        alts = " | ".join(s.describe() for s in self.first_available)
        return f"{self.name}: {alts}" if alts else f"{self.name}: <none>"


@dataclass(slots=True)
class DeviceConstraint:
    requests: list[str] = field(default_factory=list)
    match_attribute: str | None = None
    distinct_attribute: str | None = None


@dataclass(slots=True)
class AllocationResult:
    request: str
    driver: str
    pool: str
    device: str
    admin_access: bool = False
    share_id: str | None = None
    consumed_capacity: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.driver, self.pool, self.device)


@dataclass(slots=True)
class ClaimSpec:
    requests: list[Request] = field(default_factory=list)
    constraints: list[DeviceConstraint] = field(default_factory=list)
    config: list[dict] = field(default_factory=list)


@dataclass(slots=True)
class Claim:
    namespace: str
    name: str
    uid: str = ""
    api_version: str = "resource.k8s.io/v1"
    created: str | None = None
    deleting: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    owners: list[dict] = field(default_factory=list)
    #: the raw ``spec``; decoded into ``spec`` on first use (``list`` never needs it: 10,000
    #: claims decode measurably faster without it)
    spec_raw: Any = None
    allocated: bool = False
    results: list[AllocationResult] = field(default_factory=list)
    allocation_node_selector: dict | None = None
    reserved_for: list[dict] = field(default_factory=list)
    device_status: list[dict] = field(default_factory=list)
    #: status.allocation.allocationTimestamp (set by kube-scheduler 1.34+ when it allocates)
    allocation_timestamp: str | None = None
    _spec: ClaimSpec | None = None

    @property
    def spec(self) -> ClaimSpec:
        if self._spec is None:
            if _spec_decoder is None:
                raise RuntimeError("ResourceClaim spec decoder not registered: import kubectl_dra.model.decode")
            self._spec = _spec_decoder(self)
        return self._spec

    @spec.setter
    def spec(self, value: ClaimSpec) -> None:
        self._spec = value

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def to_row(self, *, allocation_only: bool = False) -> tuple:
        """Plain tuples, which pickle back several times faster than dataclasses (kube.parallel).

        ``allocation_only``: without what only the claim's own views read (its spec, annotations,
        owners, allocation node selector and device status: empty in the claim read back)."""
        values = list(_claim_row(self))
        values[_RESULTS_AT] = tuple(map(_result_row, self.results))
        if allocation_only:
            values[_ANNOTATIONS_AT], values[_OWNERS_AT], values[_SPEC_RAW_AT] = {}, [], None
            values[_NODE_SELECTOR_AT], values[_DEVICE_STATUS_AT] = None, []
        return tuple(values)

    @classmethod
    def from_row(cls, row: tuple) -> "Claim":
        values = list(row)
        values[_RESULTS_AT] = [AllocationResult(*r) for r in values[_RESULTS_AT]]
        return cls(*values)

    @property
    def state(self) -> str:
        """pending | allocated | reserved | deallocating | deleting (kubectl's STATE, refined)."""
        if self.deleting:
            return "deallocating" if self.allocated else "deleting"
        if not self.allocated:
            return "pending"
        return "reserved" if self.reserved_for else "allocated"

    @property
    def reserved_pods(self) -> list[str]:
        return [
            r.get("name", "")
            for r in self.reserved_for
            if isinstance(r, dict) and r.get("resource", "pods") == "pods" and not r.get("apiGroup")
        ]


@dataclass(slots=True)
class ClaimTemplate:
    namespace: str
    name: str
    uid: str = ""
    api_version: str = "resource.k8s.io/v1"
    created: str | None = None
    spec: ClaimSpec = field(default_factory=ClaimSpec)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(slots=True)
class DeviceClass:
    name: str
    uid: str = ""
    api_version: str = "resource.k8s.io/v1"
    created: str | None = None
    selectors: list[str] = field(default_factory=list)
    config: list[dict] = field(default_factory=list)
    extended_resource_name: str | None = None


@dataclass(slots=True)
class PodClaimRef:
    name: str
    claim_name: str | None = None
    template_name: str | None = None


@dataclass(slots=True)
class Pod:
    namespace: str
    name: str
    uid: str = ""
    node_name: str | None = None
    phase: str = ""
    created: str | None = None
    claims: list[PodClaimRef] = field(default_factory=list)
    #: pod claim name -> generated ResourceClaim name (status.resourceClaimStatuses)
    claim_statuses: dict[str, str | None] = field(default_factory=dict)
    conditions: list[dict] = field(default_factory=list)
    #: spec.nodeSelector, spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution,
    #: spec.tolerations: where the scheduler may place the pod (explain honours them)
    node_selector: dict[str, str] = field(default_factory=dict)
    required_affinity: dict | None = None
    tolerations: list[dict] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def claim_names(self) -> list[str]:
        """Names of the ResourceClaims this pod uses (direct and template-generated)."""
        names = []
        for ref in self.claims:
            if ref.claim_name:
                names.append(ref.claim_name)
            elif self.claim_statuses.get(ref.name):
                names.append(self.claim_statuses[ref.name])  # type: ignore[arg-type]
        return names


@dataclass(slots=True)
class Node:
    name: str
    uid: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    created: str | None = None
    #: spec.taints and spec.unschedulable (the scheduler's TaintToleration / NodeUnschedulable filters)
    taints: list[dict] = field(default_factory=list)
    unschedulable: bool = False


@dataclass(slots=True)
class DeviceTaintRule:
    """Adds a taint to every device its selector names, as if the slice carried it (dra-api.md §2.5)."""

    name: str
    driver: str | None = None
    pool: str | None = None
    device: str | None = None
    taint: dict = field(default_factory=dict)
    #: CEL selectors of the pre-1.35 form; they are not evaluated here
    selectors: list[str] = field(default_factory=list)
    device_class: str | None = None

    def matches(self, driver: str, pool: str, device: str) -> bool:
        return (
            (not self.driver or self.driver == driver)
            and (not self.pool or self.pool == pool)
            and (not self.device or self.device == device)
        )


#: decodes ``Claim.spec_raw`` on first use. ``kubectl_dra.model.decode`` (the one module that fills
#: ``spec_raw``) registers it when imported, so this module does not import the decoder back.
_spec_decoder: Callable[[Claim], ClaimSpec] | None = None


def register_spec_decoder(decoder: Callable[[Claim], ClaimSpec]) -> None:
    global _spec_decoder
    _spec_decoder = decoder


_CLAIM_FIELDS = tuple(f.name for f in fields(Claim))
_RESULT_FIELDS = tuple(f.name for f in fields(AllocationResult))
_RESULTS_AT = _CLAIM_FIELDS.index("results")
_claim_row = attrgetter(*_CLAIM_FIELDS)
_result_row = attrgetter(*_RESULT_FIELDS)
_ANNOTATIONS_AT, _OWNERS_AT, _SPEC_RAW_AT, _NODE_SELECTOR_AT, _DEVICE_STATUS_AT = map(
    _CLAIM_FIELDS.index, ("annotations", "owners", "spec_raw", "allocation_node_selector", "device_status")
)
