"""What to simulate: a pod's claims (direct or from templates), claims, or templates (what-if).

``resolve(cluster, target)`` turns a Pod, a ResourceClaim, a ResourceClaimTemplate, a list of
claims/templates, or a string (``pod/NS/NAME``, ``claim/NS/NAME``, ``template/NS/NAME``;
bare ``NS/NAME`` is a claim) into ``ClaimInput`` records plus claim-level reasons — the checks
kube-scheduler's DRA plugin makes in PreEnqueue/PreFilter (dra-api.md §5.1, §5.10).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_dra.alloc import reasons as R
from kubectl_dra.alloc.reasons import Reason
from kubectl_dra.model.claim import (
    AllocationResult,
    Claim,
    ClaimSpec,
    ClaimTemplate,
    Pod,
)
from kubectl_dra.model.cluster import Cluster


@dataclass(slots=True)
class ClaimInput:
    """One claim of the pod, pending (to allocate) or allocated (to check against the node)."""

    ref: str  # ns/name; for a not-yet-created generated claim: ns/<pod>-<podClaimName>
    namespace: str
    spec: ClaimSpec
    claim: Claim | None = None
    template: ClaimTemplate | None = None
    pod_claim_name: str | None = None
    allocated: bool = False
    results: list[AllocationResult] = field(default_factory=list)
    node_selector: dict | None = None
    reserved_for: list[dict] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return not self.allocated

    @property
    def state(self) -> str:
        if self.claim is None:
            return "not-created"
        return self.claim.state

    @property
    def source(self) -> str:
        return "claim" if self.claim is not None else "template"


def from_claim(claim: Claim, pod_claim_name: str | None = None) -> ClaimInput:
    return ClaimInput(
        ref=claim.ref,
        namespace=claim.namespace,
        spec=claim.spec,
        claim=claim,
        pod_claim_name=pod_claim_name,
        allocated=claim.allocated,
        results=list(claim.results),
        node_selector=claim.allocation_node_selector,
        reserved_for=list(claim.reserved_for),
    )


def from_template(template: ClaimTemplate, name: str | None = None, pod_claim_name: str | None = None) -> ClaimInput:
    """A claim as the template would create it (not allocated, nobody reserved)."""
    return ClaimInput(
        ref=f"{template.namespace}/{name or template.name}",
        namespace=template.namespace,
        spec=template.spec,
        template=template,
        pod_claim_name=pod_claim_name,
    )


def _find_claim(cluster: Cluster, namespace: str, name: str) -> Claim | None:
    return next((c for c in cluster.claims if c.namespace == namespace and c.name == name), None)


def _find_template(cluster: Cluster, namespace: str, name: str) -> ClaimTemplate | None:
    return next((t for t in cluster.templates if t.namespace == namespace and t.name == name), None)


def _find_pod(cluster: Cluster, namespace: str, name: str) -> Pod | None:
    return next((p for p in cluster.pods if p.namespace == namespace and p.name == name), None)


def pod_claims(cluster: Cluster, pod: Pod) -> tuple[list[ClaimInput], list[Reason]]:
    """The pod's claims in ``spec.resourceClaims`` order, and what keeps any from being simulated."""
    inputs: list[ClaimInput] = []
    found: list[Reason] = []
    for ref in pod.claims:
        if ref.claim_name:
            claim = _find_claim(cluster, pod.namespace, ref.claim_name)
            if claim is None:
                found.append(
                    Reason(
                        R.CLAIM_MISSING,
                        f"ResourceClaim {pod.namespace}/{ref.claim_name} (pod claim {ref.name}) does not exist",
                        claim=f"{pod.namespace}/{ref.claim_name}",
                        data={"podClaim": ref.name},
                        hint="create the claim; the pod stays pending until it exists",
                    )
                )
                continue
            inputs.append(from_claim(claim, ref.name))
            continue
        generated = pod.claim_statuses.get(ref.name)
        if generated:
            claim = _find_claim(cluster, pod.namespace, generated)
            if claim is not None:
                inputs.append(from_claim(claim, ref.name))
                continue
        template = _find_template(cluster, pod.namespace, ref.template_name or "") if ref.template_name else None
        if template is None:
            if generated:
                found.append(
                    Reason(
                        R.CLAIM_MISSING,
                        f"ResourceClaim {pod.namespace}/{generated} generated for pod claim {ref.name} does not exist",
                        claim=f"{pod.namespace}/{generated}",
                        data={"podClaim": ref.name},
                    )
                )
            else:
                found.append(
                    Reason(
                        R.TEMPLATE_MISSING,
                        f"ResourceClaimTemplate {pod.namespace}/{ref.template_name} (pod claim {ref.name}) does not exist",
                        claim=f"{pod.namespace}/{pod.name}-{ref.name}",
                        data={"podClaim": ref.name, "template": ref.template_name},
                        hint="create the template; no ResourceClaim can be generated without it",
                    )
                )
            continue
        ci = from_template(template, generated or f"{pod.name}-{ref.name}", ref.name)
        inputs.append(ci)
        found.append(
            Reason(
                R.CLAIM_NOT_CREATED,
                f'pod "{pod.ref}": ResourceClaim for pod claim {ref.name} not created yet '
                f"(simulated from template {template.ref} as {ci.ref})",
                status=R.INFO,
                claim=ci.ref,
                data={"podClaim": ref.name, "template": template.ref},
            )
        )
    return inputs, found


def resolve(cluster: Cluster, target: Any) -> tuple[list[ClaimInput], list[Reason], Pod | None]:
    """ClaimInputs for ``target`` (see module doc), claim-level reasons, and the pod if any."""
    if isinstance(target, Pod):
        claims, found = pod_claims(cluster, target)
        return claims, found, target
    if isinstance(target, str):
        return _resolve_name(cluster, target)
    if isinstance(target, (Claim, ClaimTemplate, ClaimInput)):
        target = [target]
    inputs: list[ClaimInput] = []
    found: list[Reason] = []
    for item in target if isinstance(target, Iterable) else []:
        if isinstance(item, ClaimInput):
            inputs.append(item)
        elif isinstance(item, Claim):
            inputs.append(from_claim(item))
        elif isinstance(item, ClaimTemplate):
            inputs.append(from_template(item))
        elif isinstance(item, str):
            more, why, _ = _resolve_name(cluster, item)
            inputs.extend(more)
            found.extend(why)
        else:
            raise TypeError(f"cannot simulate {type(item).__name__}")
    return inputs, found, None


def _resolve_name(cluster: Cluster, text: str) -> tuple[list[ClaimInput], list[Reason], Pod | None]:
    kind, _, rest = text.partition("/") if text.split("/", 1)[0] in _KINDS else ("claim", "", text)
    namespace, _, name = rest.rpartition("/")
    namespace = namespace or cluster.namespace or "default"
    kind = _KINDS[kind]
    if kind == "pod":
        pod = _find_pod(cluster, namespace, name)
        if pod is None:
            return [], [Reason(R.CLAIM_MISSING, f"pod {namespace}/{name} does not exist", data={"pod": f"{namespace}/{name}"})], None
        claims, found = pod_claims(cluster, pod)
        return claims, found, pod
    if kind == "template":
        template = _find_template(cluster, namespace, name)
        if template is None:
            return [], [Reason(R.TEMPLATE_MISSING, f"ResourceClaimTemplate {namespace}/{name} does not exist", claim=f"{namespace}/{name}")], None
        return [from_template(template)], [], None
    claim = _find_claim(cluster, namespace, name)
    if claim is None:
        return [], [Reason(R.CLAIM_MISSING, f"ResourceClaim {namespace}/{name} does not exist", claim=f"{namespace}/{name}")], None
    return [from_claim(claim)], [], None


_KINDS = {
    "pod": "pod",
    "pods": "pod",
    "claim": "claim",
    "resourceclaim": "claim",
    "template": "template",
    "resourceclaimtemplate": "template",
}


def claim_level_reasons(inputs: Sequence[ClaimInput], pod: Pod | None) -> list[Reason]:
    """Deleting claims, claims reserved for other pods (shared), allocated claims (info)."""
    found: list[Reason] = []
    for ci in inputs:
        if ci.claim is not None and ci.claim.deleting:
            found.append(Reason(R.CLAIM_DELETING, f'resourceclaim "{ci.claim.name}" is being deleted', claim=ci.ref))
        others = [
            r.get("name", "")
            for r in ci.reserved_for
            if isinstance(r, dict) and not (pod is not None and r.get("name") == pod.name and r.get("resource", "pods") == "pods")
        ]
        mine = len(others) < len([r for r in ci.reserved_for if isinstance(r, dict)])
        if ci.allocated and not mine and len(ci.reserved_for) >= MAX_RESERVED_FOR:
            # resourceclaim.CanBeReserved is always true in 1.36, so PreFilter lets the pod through and
            # PreBind's status update with a 257th consumer is refused by the API server: an Error
            found.append(
                Reason(
                    R.CLAIM_IN_USE,
                    f"claim {ci.ref} is already reserved for {len(ci.reserved_for)} consumers, the most a claim "
                    f"can have ({MAX_RESERVED_FOR}): kube-scheduler's PreBind cannot add this pod",
                    status=R.ERROR,
                    claim=ci.ref,
                    data={"reservedFor": len(ci.reserved_for), "limit": MAX_RESERVED_FOR},
                    hint="wait until some of its pods finish, or give this pod a claim of its own",
                )
            )
        elif others:
            found.append(
                Reason(
                    R.CLAIM_RESERVED,
                    f"claim {ci.ref} is also reserved for {', '.join(others)} (shared; up to 256 consumers)",
                    status=R.INFO,
                    claim=ci.ref,
                    data={"reservedFor": others},
                )
            )
    return found


#: resourceapi.ResourceClaimReservedForMaxSize
MAX_RESERVED_FOR = 256

#: the namespace label that allows adminAccess requests (pkg/registry/resource AuthorizedForAdmin)
ADMIN_NAMESPACE_LABEL = "resource.kubernetes.io/admin-access"


def admin_access_reasons(
    inputs: Sequence[ClaimInput],
    namespace_labels: Callable[[str], dict | None] | None,
    unapplied: bool = False,
) -> list[Reason]:
    """adminAccess in a namespace without ``resource.kubernetes.io/admin-access: "true"``.

    The API server checks the label when a claim or template with an adminAccess request is
    created (``AuthorizedForAdmin``) and when an allocation with adminAccess results is written
    to a claim's status (``AuthorizedForAdminStatus``). So a manifest is rejected, a template's
    claim cannot be created by the resourceclaim controller, and for a claim created while the
    label was there, kube-scheduler's PreBind cannot store the allocation (an Error for the pod).
    ``namespace_labels(ns)`` returns the labels, or None when they cannot be read (no check).
    """
    if namespace_labels is None:
        return []
    found: list[Reason] = []
    for ci in inputs:
        if not ci.pending or not any(r.exactly is not None and r.exactly.admin_access for r in ci.spec.requests):
            continue
        labels = namespace_labels(ci.namespace)
        if labels is None or labels.get(ADMIN_NAMESPACE_LABEL) == "true":
            continue
        needs = f"admin access to devices requires the `{ADMIN_NAMESPACE_LABEL}: true` label on namespace {ci.namespace}"
        hint = f"kubectl label namespace {ci.namespace} {ADMIN_NAMESPACE_LABEL}=true, or drop adminAccess from the request"
        if unapplied:
            what = "ResourceClaim" if ci.claim is not None else "ResourceClaimTemplate"
            name = ci.claim.name if ci.claim is not None else (ci.template.name if ci.template is not None else ci.ref)
            found.append(Reason(R.ADMIN_ACCESS_FORBIDDEN, f"the API server rejects {what} {ci.namespace}/{name}: {needs}",
                                claim=ci.ref, hint=hint, data={"namespace": ci.namespace, "when": "create"}))
        elif ci.claim is None:
            found.append(Reason(R.ADMIN_ACCESS_FORBIDDEN,
                                f"the resourceclaim controller cannot create {ci.ref} from template "
                                f"{ci.template.ref if ci.template is not None else '?'}: {needs}",
                                claim=ci.ref, hint=hint, data={"namespace": ci.namespace, "when": "create"}))
        else:
            found.append(Reason(R.ADMIN_ACCESS_FORBIDDEN,
                                f"kube-scheduler cannot store the allocation of claim {ci.ref} (PreBind): {needs}",
                                status=R.ERROR, claim=ci.ref, hint=hint,
                                data={"namespace": ci.namespace, "when": "allocation"}))
    return found


def reservation_reasons(inputs: Sequence[ClaimInput], pod: Pod | None) -> list[Reason]:
    """Allocated claims kube-scheduler 1.36 cannot reserve for the pod.

    With DRADeviceBindingConditions (on by default) its PreBind gives an allocation without an
    ``allocationTimestamp`` one when it adds the pod to ``reservedFor``; ``status.allocation`` is
    immutable, so the API server refuses the update and the pod fails in PreBind, an Error
    (``DynamicResources.bindClaim``). Allocations made by 1.33 and older schedulers, or written by
    other tools, lack the timestamp.
    """
    if pod is None or pod.node_name:
        return []
    found: list[Reason] = []
    for ci in inputs:
        if ci.claim is None or not ci.allocated or ci.claim.allocation_timestamp:
            continue
        if any(isinstance(r, dict) and r.get("name") == pod.name and r.get("resource", "pods") == "pods"
               for r in ci.reserved_for):
            continue  # already reserved: PreBind has nothing to write
        found.append(
            Reason(
                R.ALLOCATION_IMMUTABLE,
                f"claim {ci.ref} is allocated without status.allocation.allocationTimestamp: kube-scheduler's "
                "PreBind adds one when it reserves the claim for the pod, and the API server refuses to change "
                "the allocation",
                status=R.ERROR,
                claim=ci.ref,
                hint="allocations made by Kubernetes 1.33 or older, or by another tool, lack it; "
                "deallocate the claim (when no pod uses it) so the scheduler allocates it anew",
            )
        )
    return found
