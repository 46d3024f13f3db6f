"""Cluster state for the e2e tier: Nodes without kubelets, objects as drivers publish them, pods, waits.

Test code only. ``for_create`` turns any object we have on disk (the demo cluster, upstream fixtures,
allocation scenarios) into something the API server accepts on create; ``load_demo`` rebuilds the
demo cluster on a live server and lets the real scheduler and resourceclaim controller allocate it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.kapi import Api, ApiError

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "kubectl_dra" / "demo" / "cluster.yaml"

#: a scheduling gate the tests put on pods so they can look before the scheduler acts
HOLD_GATE = "kubectl-dra.e2e/hold"
#: label on everything a test creates (cluster-scoped objects are found and removed by it)
OWNER_LABEL = "kubectl-dra.e2e/owner"

_SERVER_SET = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink",
               "deletionTimestamp", "deletionGracePeriodSeconds")


def node(name: str, *, labels: dict | None = None, taints: list | None = None, cpu: str = "64",
         memory: str = "256Gi", pods: str = "110", owner: str | None = None) -> dict:
    """A Node as a kubelet would register it: Ready, with capacity (incl. pods) and allocatable."""
    capacity = {"cpu": cpu, "memory": memory, "pods": pods}
    lab = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    lab.update(labels or {})
    if owner:
        lab[OWNER_LABEL] = owner
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": lab},
        "spec": {"taints": taints} if taints else {},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "e2e node without a kubelet"}],
        },
    }
    return obj


def for_create(obj: dict, *, owner: str | None = None) -> dict:
    """A copy of ``obj`` the API server accepts on create: server-set metadata and status dropped
    (a Node keeps its status: that is how a kubelet registers), pods unbound and deletable at once."""
    obj = copy.deepcopy(obj)
    md = obj.get("metadata") or {}
    for key in _SERVER_SET:
        md.pop(key, None)
    md.pop("ownerReferences", None)
    md.pop("finalizers", None)
    if owner:
        md.setdefault("labels", {})[OWNER_LABEL] = owner
    obj["metadata"] = md
    kind = obj.get("kind")
    if kind == "Node":
        status = obj.get("status") or {}
        status = {k: status[k] for k in ("capacity", "allocatable", "conditions", "nodeInfo", "addresses")
                  if k in status}
        status.setdefault("conditions", [{"type": "Ready", "status": "True"}])
        for cond in status["conditions"]:
            for key in ("lastHeartbeatTime", "lastTransitionTime"):
                cond.pop(key, None)
        if "capacity" in status:
            status["capacity"].setdefault("pods", "110")
            status.setdefault("allocatable", dict(status["capacity"]))
        obj["status"] = status
    else:
        obj.pop("status", None)
    if kind == "Pod":
        spec = obj.setdefault("spec", {})
        spec.pop("nodeName", None)
        spec["terminationGracePeriodSeconds"] = 0
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            res = c.get("resources") or {}
            # keep the claim references; drop cpu/memory so placement is decided by devices only
            c["resources"] = {"claims": res["claims"]} if res.get("claims") else {}
    return obj


def pod(name: str, namespace: str, claims: list[tuple[str, str, str]] | None = None, *,
        node_selector: dict | None = None, tolerations: list | None = None, hold: bool = False,
        owner: str | None = None, affinity: dict | None = None) -> dict:
    """A pod referencing claims: ``claims`` is a list of (name in pod, "claim"|"template", object name)."""
    resource_claims = []
    for ref, how, target in claims or []:
        key = "resourceClaimName" if how == "claim" else "resourceClaimTemplateName"
        resource_claims.append({"name": ref, key: target})
    spec: dict[str, Any] = {
        "terminationGracePeriodSeconds": 0,
        "restartPolicy": "Never",
        "containers": [{
            "name": "main",
            "image": "registry.k8s.io/pause:3.10",
            "resources": {"claims": [{"name": ref} for ref, _, _ in claims or []]} if claims else {},
        }],
    }
    if resource_claims:
        spec["resourceClaims"] = resource_claims
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations
    if affinity:
        spec["affinity"] = affinity
    if hold:
        spec["schedulingGates"] = [{"name": HOLD_GATE}]
    labels = {OWNER_LABEL: owner} if owner else {}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": spec}


def namespace(api: Api, name: str, *, labels: dict | None = None, owner: str | None = None) -> dict:
    lab = dict(labels or {})
    if owner:
        lab[OWNER_LABEL] = owner
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": lab}}
    try:
        return api.create(obj)
    except ApiError as e:
        if e.status != 409:
            raise
        return api.get("Namespace", name)


def release(api: Api, pod_obj: dict) -> None:
    """Remove the test's scheduling gate: the scheduler takes the pod from here."""
    md = pod_obj["metadata"]
    current = api.get("Pod", md["name"], md["namespace"])
    gates = [g for g in current["spec"].get("schedulingGates") or [] if g.get("name") != HOLD_GATE]
    api.patch("Pod", md["name"], {"spec": {"schedulingGates": gates or None}}, md["namespace"])


# ------------------------------------------------------------------------------------- scheduling


@dataclass
class Outcome:
    """What the real scheduler did with a pod."""

    bound: bool
    node: str | None = None
    message: str = ""

    def __str__(self) -> str:
        return f"bound to {self.node}" if self.bound else f"unschedulable: {self.message}"


_WAITING = ("waiting for resourceclaim", "waiting for dynamic resource controller", "resourceclaim not found",
            "not found")


def claims_created(api: Api, pod_obj: dict) -> bool:
    """Every claim of the pod exists (templates turned into claims by the resourceclaim controller)."""
    md = pod_obj["metadata"]
    current = api.get("Pod", md["name"], md["namespace"])
    wanted = current["spec"].get("resourceClaims") or []
    statuses = {s["name"]: s.get("resourceClaimName") for s in current.get("status", {}).get("resourceClaimStatuses") or []}
    for rc in wanted:
        name = rc.get("resourceClaimName") or statuses.get(rc["name"])
        if rc.get("resourceClaimTemplateName") and rc["name"] not in statuses:
            return False
        if name and not api.exists("ResourceClaim", name, md["namespace"]):
            return False
    return True


def outcome(api: Api, ns: str, name: str, *, timeout: float = 60.0, settle: float = 1.5) -> Outcome:
    """Wait until the scheduler has decided: bound, or unschedulable for a reason other than a claim
    still being created, and still so after ``settle`` seconds (a requeue may follow an informer update)."""
    import time

    def probe() -> Outcome | None:
        p = api.get("Pod", name, ns)
        if p["spec"].get("nodeName"):
            return Outcome(True, p["spec"]["nodeName"])
        for cond in p.get("status", {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and \
                    cond.get("reason") == "Unschedulable":
                msg = cond.get("message") or ""
                if any(w in msg.lower() for w in _WAITING[:2]):
                    return None
                return Outcome(False, None, msg)
        return None

    first = api.wait(f"a scheduling decision for pod {ns}/{name}", probe, timeout=timeout)
    if first.bound:
        return first
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        time.sleep(0.1)
        again = probe()
        if again and again.bound:
            return again
    return probe() or first


def allocation(api: Api, ns: str, claim: str) -> list[tuple[str, str, str, str]]:
    """(request, driver, pool, device) of an allocated claim, in the order the allocator chose them."""
    c = api.get("ResourceClaim", claim, ns)
    alloc = (c.get("status") or {}).get("allocation") or {}
    return [(r["request"], r["driver"], r["pool"], r["device"]) for r in (alloc.get("devices") or {}).get("results") or []]


def pod_claim_names(api: Api, ns: str, name: str) -> dict[str, str]:
    """Pod claim name -> ResourceClaim name (generated ones from the pod's status)."""
    p = api.get("Pod", name, ns)
    out = {}
    statuses = {s["name"]: s.get("resourceClaimName") for s in p.get("status", {}).get("resourceClaimStatuses") or []}
    for rc in p["spec"].get("resourceClaims") or []:
        out[rc["name"]] = rc.get("resourceClaimName") or statuses.get(rc["name"])
    return out


# ------------------------------------------------------------------------------------- the demo


def demo_objects() -> list[dict]:
    return [d for d in yaml.safe_load_all(DEMO.read_text(encoding="utf-8")) if d]


def load_demo(api: Api, *, owner: str = "demo", timeout: float = 60.0) -> dict[str, Outcome]:
    """Create the demo cluster on the live server: namespaces, nodes, classes, slices, templates,
    the claims users created (generated ones are left to the resourceclaim controller), then the pods
    one by one in the demo's order, each scheduled by the real scheduler before the next is created.
    Returns pod ns/name -> Outcome."""
    objs = demo_objects()
    by_kind: dict[str, list[dict]] = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    for ns in sorted({o["metadata"]["namespace"] for o in objs if o["metadata"].get("namespace")}):
        namespace(api, ns, owner=owner)
    for kind in ("Node", "DeviceClass", "ResourceSlice", "ResourceClaimTemplate"):
        for o in by_kind.get(kind, []):
            api.create(for_create(o, owner=owner))
    for o in by_kind.get("ResourceClaim", []):
        refs = o["metadata"].get("ownerReferences") or []
        if any(r.get("kind") == "Pod" for r in refs):
            continue  # generated from a template: the controller makes its own
        api.create(for_create(o, owner=owner))
    results = {}
    for o in by_kind.get("Pod", []):
        created = api.create(for_create(o, owner=owner))
        md = created["metadata"]
        api.wait(f"claims of pod {md['namespace']}/{md['name']}", lambda c=created: claims_created(api, c), timeout)
        results[f"{md['namespace']}/{md['name']}"] = outcome(api, md["namespace"], md["name"], timeout=timeout)
    return results
