"""Where the pod itself may go: the scheduler's node filters that run before DynamicResources.

kube-scheduler runs its Filter plugins per node in profile order and stops at the first that
rejects the node: ``NodeUnschedulable``, ``NodeName``, ``TaintToleration``, ``NodeAffinity``, …,
``DynamicResources``. A node the pod cannot go to for one of the first four is never offered to
the allocator, so ``explain`` must not call a pod "allocatable" because devices fit there. This
module mirrors those four filters (upstream ``nodeunschedulable.Filter``, ``nodename.Fits``,
``tainttoleration.Filter`` with ``v1helper.FindMatchingUntoleratedTaint`` over NoSchedule and
NoExecute taints, ``nodeaffinity.Filter`` with ``GetRequiredNodeAffinity``), with the scheduler's
own reason strings.
"""

from __future__ import annotations

from kubectl_dra.alloc import reasons as R
from kubectl_dra.alloc.nodesel import selector_matches
from kubectl_dra.alloc.reasons import Reason
from kubectl_dra.alloc.taints import BLOCKING_EFFECTS, describe, tolerates
from kubectl_dra.model.claim import Node, Pod

#: the taint the node lifecycle controller mirrors spec.unschedulable into; tolerating it lets a pod in
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


def _untolerated(node: Node, pod: Pod) -> dict | None:
    """The first NoSchedule/NoExecute taint of the node no toleration of the pod matches."""
    for taint in node.taints:
        if not isinstance(taint, dict) or taint.get("effect") not in BLOCKING_EFFECTS:
            continue
        if not any(tolerates(t, taint) for t in pod.tolerations if isinstance(t, dict)):
            return taint
    return None


def _affinity_ok(node: Node, pod: Pod) -> bool:
    """``nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)``: nodeSelector labels and required terms."""
    for key, value in pod.node_selector.items():
        if node.labels.get(key) != value:
            return False
    required = pod.required_affinity
    if required is not None:
        return selector_matches(required, node)
    return True


def rejection(node: Node, pod: Pod | None) -> Reason | None:
    """None when the pod may be placed on ``node`` as far as these filters go; else the first rejection."""
    if pod is None:
        return None
    if node.unschedulable and not any(tolerates(t, UNSCHEDULABLE_TAINT) for t in pod.tolerations if isinstance(t, dict)):
        return Reason(
            R.NODE_UNSCHEDULABLE,
            f"node {node.name} is cordoned (spec.unschedulable): node(s) were unschedulable",
            data={"filter": "NodeUnschedulable"},
            hint="uncordon the node (kubectl uncordon), or tolerate node.kubernetes.io/unschedulable:NoSchedule",
        )
    taint = _untolerated(node, pod)
    if taint is not None:
        return Reason(
            R.NODE_TAINTED,
            f"node {node.name} has the taint {describe(taint)} that pod {pod.ref} does not tolerate: "
            "node(s) had untolerated taint(s)",
            data={"filter": "TaintToleration", "taint": taint},
            hint="add a matching toleration to the pod, or remove the taint from the node",
        )
    if not _affinity_ok(node, pod):
        return Reason(
            R.NODE_AFFINITY,
            f"node {node.name} does not match the nodeSelector / required node affinity of pod {pod.ref}: "
            "node(s) didn't match Pod's node affinity/selector",
            data={"filter": "NodeAffinity", "nodeSelector": dict(pod.node_selector),
                  "requiredAffinity": pod.required_affinity},
            hint="check the pod's spec.nodeSelector and spec.affinity.nodeAffinity against the node's labels",
        )
    return None
