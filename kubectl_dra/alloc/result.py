"""Result records of a simulation, shaped for ``kubectl dra explain``.

``SimulationResult.to_dict()`` is the explain command's JSON::

    {"verdict": "allocatable" | "unallocatable" | "error" | "allocated",
     "pod": "ns/name" | null,
     "claims": [{"claim", "state", "source", "requests"}],
     "reasons": [Reason.to_dict(), ...],            # claim/pod level (PreFilter)
     "nodes": [{"node", "allocatable", "status",
                "results": [{"claim", "request", "driver", "pool", "device"}, ...],
                "reasons": [Reason.to_dict(), ...],
                "funnels": [Funnel.to_dict(), ...],
                "steps": int,
                "nodeSelectors": {claim: NodeSelector | null}}]}

Result entries may add ``adminAccess: true`` and ``consumedCapacity`` (shared devices, §5.7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_dra.alloc.reasons import Reason
from kubectl_dra.alloc.severity import ERROR, UNSCHEDULABLE

#: verdicts
ALLOCATABLE = "allocatable"  # at least one node can allocate every pending claim
UNALLOCATABLE = "unallocatable"  # no node can (or a claim-level problem)
SCHEDULER_ERROR = "error"  # kube-scheduler would return an error (CEL runtime error, …)
ALLOCATED = "allocated"  # nothing to allocate: every claim is allocated and usable
UNDECIDED = "undecided"  # no node searched fits, but the overall search budget ran out before every node was

#: node statuses
NODE_OK = "Allocatable"


@dataclass(slots=True)
class DeviceChoice:
    """One allocated device, as in ``status.allocation.devices.results`` (§5.9)."""

    claim: str
    request: str  # "req" or "req/subrequest"
    driver: str
    pool: str
    device: str
    admin_access: bool = False
    shared: bool = False
    consumed_capacity: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict] = field(default_factory=list)

    @property
    def device_id(self) -> str:
        return f"{self.driver}/{self.pool}/{self.device}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "claim": self.claim,
            "request": self.request,
            "driver": self.driver,
            "pool": self.pool,
            "device": self.device,
        }
        if self.admin_access:
            out["adminAccess"] = True
        if self.consumed_capacity:
            out["consumedCapacity"] = dict(self.consumed_capacity)
        return out


@dataclass(slots=True)
class Stage:
    """How many devices survive one step of the funnel."""

    stage: str  # visible | class | selector | free | constraints
    count: int
    label: str = ""  # "class gpu.nvidia.com", "selector #0"
    expression: str | None = None
    errors: int = 0  # CEL runtime errors at this step

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.stage, "label": self.label or self.stage, "count": self.count}
        if self.expression is not None:
            out["expression"] = self.expression
        if self.errors:
            out["errors"] = self.errors
        return out


@dataclass(slots=True)
class Funnel:
    """Per node and (sub)request: devices left after each stage (dra-api.md §5.11).

    ``visible`` (published for the node, usable pools) → ``class`` (DeviceClass selectors) →
    one ``selector`` stage per request selector → ``free`` (not held by other claims, counters,
    capacity, taints) → ``constraints`` (have the attributes the claim's constraints compare, and
    for ``matchAttribute`` the largest group of equal values).
    """

    claim: str
    request: str
    needed: int | None  # None: allocationMode All
    stages: list[Stage] = field(default_factory=list)
    #: why matching devices are not free: in-use, counters, capacity, tainted, binding-conditions …
    blocked: dict[str, int] = field(default_factory=dict)
    #: claim ref -> number of matching devices it holds
    in_use_by: dict[str, int] = field(default_factory=dict)
    #: matching devices in pools that cannot be used (incomplete, invalid)
    in_unusable_pools: int = 0
    chosen: int = 0
    #: the blocked devices behind ``blocked`` (alloc Entries by why), for the reasons; not in ``to_dict``
    blocked_entries: dict[str, list[Any]] | None = field(default=None, compare=False, repr=False)

    def count(self, stage: str) -> int:
        found = [s.count for s in self.stages if s.stage == stage]
        return found[-1] if found else 0

    @property
    def visible(self) -> int:
        return self.stages[0].count if self.stages else 0

    @property
    def matching(self) -> int:
        """Devices that pass the class and every request selector."""
        last = 0
        for s in self.stages:
            if s.stage in ("free", "constraints"):
                break
            last = s.count
        return last

    @property
    def free(self) -> int:
        return self.count("free")

    def worst_stage(self) -> Stage | None:
        """The class/selector stage that rejects the most devices (None if none rejects any)."""
        worst, drop, before = None, 0, None
        for s in self.stages:
            if s.stage in ("class", "selector") and before is not None and before - s.count > drop:
                worst, drop = s, before - s.count
            before = s.count
        return worst

    def to_dict(self) -> dict[str, Any]:
        worst = self.worst_stage()
        return {
            "claim": self.claim,
            "request": self.request,
            "needed": self.needed if self.needed is not None else "all",
            "stages": [s.to_dict() for s in self.stages],
            "blocked": dict(self.blocked),
            "inUseBy": dict(self.in_use_by),
            "inUnusablePools": self.in_unusable_pools,
            "rejectsMost": worst.label if worst is not None else None,
            "chosen": self.chosen,
        }


@dataclass(slots=True)
class NodeResult:
    """The outcome of allocating all of the pod's pending claims on one node.

    ``allocatable``: a full solution exists, treating devices on which a selector fails with a
    CEL runtime error as not selected, and every already-allocated claim is usable here.
    ``status`` is ``Error`` when kube-scheduler would instead return an error for the pod on this
    node (its search reached such a device, ``All`` over an incomplete pool, …): the verdict of
    the whole simulation is then ``error`` even if the node is allocatable.
    """

    node: str
    allocatable: bool
    results: list[DeviceChoice] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    funnels: list[Funnel] = field(default_factory=list)
    steps: int = 0
    #: status.allocation.nodeSelector per newly allocated claim (§5.9)
    node_selectors: dict[str, dict | None] = field(default_factory=dict)
    #: the pending claims could be allocated here (whether or not the allocated ones are usable)
    pending_fit: bool = False

    @property
    def scheduler_error(self) -> Reason | None:
        """The reason kube-scheduler would turn into an Error status for the pod, if any."""
        return next((r for r in self.reasons if r.status == ERROR), None)

    @property
    def status(self) -> str:
        err = self.scheduler_error
        if err is not None:
            return ERROR
        return NODE_OK if self.allocatable else UNSCHEDULABLE

    def codes(self) -> list[str]:
        return [r.code for r in self.reasons]

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "allocatable": self.allocatable,
            "status": self.status,
            "results": [r.to_dict() for r in self.results],
            "reasons": [r.to_dict() for r in self.reasons],
            "funnels": [f.to_dict() for f in self.funnels],
            "steps": self.steps,
            "nodeSelectors": dict(self.node_selectors),
        }


@dataclass(slots=True)
class ClaimSummary:
    """A claim the simulation looked at."""

    claim: str  # ns/name (a template-generated claim that does not exist yet: its would-be name)
    state: str  # pending | allocated | reserved | not-created | missing
    source: str = "claim"  # claim | template
    requests: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"claim": self.claim, "state": self.state, "source": self.source, "requests": list(self.requests)}


@dataclass(slots=True)
class SimulationResult:
    verdict: str
    nodes: list[NodeResult] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    claims: list[ClaimSummary] = field(default_factory=list)
    pod: str | None = None
    budget: int = 0

    def node(self, name: str) -> NodeResult:
        for n in self.nodes:
            if n.node == name:
                return n
        raise KeyError(name)

    @property
    def allocatable_nodes(self) -> list[str]:
        return [n.node for n in self.nodes if n.allocatable]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "pod": self.pod,
            "claims": [c.to_dict() for c in self.claims],
            "reasons": [r.to_dict() for r in self.reasons],
            "nodes": [n.to_dict() for n in self.nodes],
        }
