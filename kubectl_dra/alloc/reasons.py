"""Why a claim can or cannot be allocated: reason codes and the ``Reason`` record.

Every reason carries a stable ``code`` (kebab-case, listed in ``CODES``), a ``status`` that says
what the scheduler would make of it (dra-api.md §5.10), a one-line human ``message``, an optional
``hint`` and machine-readable ``data``. ``status`` is one of:

* ``Unschedulable`` – the node (or the pod, for claim-level reasons) is rejected; the scheduler
  retries when something changes;
* ``Error``         – kube-scheduler's DRA plugin returns an error status: the scheduling attempt
  is aborted for the pod and retried with backoff (CEL runtime errors, ``All`` over an incomplete
  pool, invalid requests …);
* ``Warning``       – a latent problem that did not decide this outcome (e.g. a CEL runtime
  error on a device the search never reached);
* ``Info``          – context (claim already allocated, generated claim not created yet …).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_dra.alloc.severity import ERROR, INFO, STATUSES, UNSCHEDULABLE, WARNING  # noqa: F401 (R.ERROR, …)


# ------------------------------------------------------------------ claim / pod level (PreFilter)
CLAIM_MISSING = "claim-missing"  # a ResourceClaim the pod names does not exist
TEMPLATE_MISSING = "template-missing"  # the ResourceClaimTemplate of a pod claim does not exist
CLAIM_NOT_CREATED = "claim-not-created"  # template exists, generated claim not yet (simulated from the template)
CLAIM_DELETING = "claim-deleting"  # the claim has a deletionTimestamp
CLAIM_ALLOCATED = "claim-allocated"  # already allocated; only its nodeSelector is checked (§5.1)
CLAIM_ALLOCATED_ELSEWHERE = "claim-allocated-elsewhere"  # allocated for devices not usable from this node
CLAIM_RESERVED = "claim-reserved"  # reserved for (shared with) other pods
CLAIM_IN_USE = "claim-in-use"  # allocated, reservedFor full (256): PreBind cannot add the pod
ALLOCATION_IMMUTABLE = "allocation-immutable"  # allocated without allocationTimestamp: PreBind cannot reserve it
CLAIM_DEALLOCATED = "claim-deallocated"  # PostFilter deallocates an unreserved claim that keeps the pod off every node
NODE_CHOSEN = "node-chosen"  # the pod is already bound to a node (spec.nodeName)
CLASS_MISSING = "class-missing"  # DeviceClass does not exist
INVALID_REQUEST = "invalid-request"  # the spec is something the API/allocator rejects
FEATURE_DISABLED = "feature-disabled"  # uses a DRA feature switched off in the simulation
CEL_COMPILE_ERROR = "cel-compile-error"  # a class or request selector does not compile
TOO_MANY_DEVICES = "too-many-devices"  # more than 32 results in one claim (§5.3)
ADMIN_ACCESS_FORBIDDEN = "admin-access-forbidden"  # adminAccess in a namespace without the admin-access label

# ------------------------------------------------------------------ node level, before DRA (podfit)
NODE_UNSCHEDULABLE = "node-unschedulable"  # the node is cordoned (NodeUnschedulable)
NODE_TAINTED = "node-tainted"  # a node taint the pod does not tolerate (TaintToleration)
NODE_AFFINITY = "node-affinity"  # the pod's nodeSelector / required node affinity (NodeAffinity)

# ------------------------------------------------------------------ node level (Filter)
NO_DRIVER = "no-driver"  # no driver publishes devices of the class for this node
NO_MATCH = "no-match"  # fewer devices match the class + selectors than needed
IN_USE = "in-use"  # enough match, but other claims hold them
COUNTERS_EXHAUSTED = "counters-exhausted"  # partitions/parents share counters already used
CAPACITY_EXHAUSTED = "capacity-exhausted"  # consumable capacity used up / request too large
TAINTED = "tainted"  # untolerated NoSchedule/NoExecute taints
BINDING_CONDITIONS = "binding-conditions"  # devices need binding conditions, feature off
CONSTRAINT_UNSATISFIABLE = "constraint-unsatisfiable"  # matchAttribute/distinctAttribute cannot hold
REQUESTS_CONFLICT = "requests-conflict"  # each request fits alone, not all together
POOL_INCOMPLETE = "pool-incomplete"  # a pool is being updated (slices missing)
POOL_INVALID = "pool-invalid"  # duplicate device names, bad counter references
CEL_RUNTIME_ERROR = "cel-runtime-error"  # a selector fails on a device (expression + device)
BUDGET_EXHAUSTED = "budget-exhausted"  # the search gave up after N steps
SEARCH_CUT_SHORT = "search-cut-short"  # explain's overall budget ran out: this node was not (fully) searched
TAINT_RULES_IGNORED = "taint-rules-ignored"  # DeviceTaintRules exist, the DRADeviceTaintRules gate is off
FEATURE_GATES = "feature-gates"  # the simulated gates are not the 1.36 defaults (cluster release, --features)

CODES = (
    CLAIM_MISSING,
    TEMPLATE_MISSING,
    CLAIM_NOT_CREATED,
    CLAIM_DELETING,
    CLAIM_ALLOCATED,
    CLAIM_ALLOCATED_ELSEWHERE,
    CLAIM_RESERVED,
    CLAIM_IN_USE,
    CLAIM_DEALLOCATED,
    ALLOCATION_IMMUTABLE,
    NODE_CHOSEN,
    CLASS_MISSING,
    INVALID_REQUEST,
    FEATURE_DISABLED,
    CEL_COMPILE_ERROR,
    TOO_MANY_DEVICES,
    ADMIN_ACCESS_FORBIDDEN,
    NODE_UNSCHEDULABLE,
    NODE_TAINTED,
    NODE_AFFINITY,
    NO_DRIVER,
    NO_MATCH,
    IN_USE,
    COUNTERS_EXHAUSTED,
    CAPACITY_EXHAUSTED,
    TAINTED,
    BINDING_CONDITIONS,
    CONSTRAINT_UNSATISFIABLE,
    REQUESTS_CONFLICT,
    POOL_INCOMPLETE,
    POOL_INVALID,
    CEL_RUNTIME_ERROR,
    BUDGET_EXHAUSTED,
    SEARCH_CUT_SHORT,
    TAINT_RULES_IGNORED,
    FEATURE_GATES,
)


@dataclass(slots=True)
class Reason:
    """One finding about a claim, a request or a node."""

    code: str
    message: str
    status: str = UNSCHEDULABLE
    claim: str | None = None
    request: str | None = None
    hint: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        """True when the reason alone keeps the pod off the node (Unschedulable or Error)."""
        return self.status in (UNSCHEDULABLE, ERROR)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "status": self.status, "message": self.message}
        if self.claim is not None:
            out["claim"] = self.claim
        if self.request is not None:
            out["request"] = self.request
        if self.hint:
            out["hint"] = self.hint
        out["data"] = self.data
        return out
