"""Regression tests for what the differential test against kube-scheduler v1.36.3 found
(tests/e2e/test_explain_scheduler.py, docs/scheduler-agreement.md) and YAML scenarios cannot express:
namespace labels for adminAccess, the pod filters before DynamicResources, PostFilter's choice, and
`explain pod/NAME` for a pod whose claims are all reserved.
"""

from __future__ import annotations

import json

import pytest

from kubectl_dra.alloc import simulate
from kubectl_dra.alloc import reasons as R
from kubectl_dra.alloc.podfit import rejection
from kubectl_dra.model.claim import Node, Pod
from kubectl_dra.model.cluster import Cluster
from kubectl_dra.model.decode import decode

GPU = "gpu.example.com"


def _cluster(*objs: dict) -> Cluster:
    c = Cluster(source="test")
    for o in objs:
        c.add(decode(o))
    return c


NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}}
CLASS = {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "gpu"},
         "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{GPU}"'}}]}}
SLICE = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "s"},
         "spec": {"driver": GPU, "pool": {"name": "p", "generation": 1, "resourceSliceCount": 1}, "nodeName": "node-1",
                  "devices": [{"name": "gpu-0"}]}}


def _claim(name: str = "claim-0", ns: str = "team", admin: bool = True) -> dict:
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": name, "namespace": ns},
            "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu", "adminAccess": admin}}]}}}


# ----------------------------------------------------------------------------- adminAccess and namespace labels


@pytest.mark.parametrize(
    ("labels", "unapplied", "verdict", "status"),
    [
        ({}, True, "unallocatable", R.UNSCHEDULABLE),  # the API server rejects the manifest
        ({}, False, "error", R.ERROR),  # created while labelled: PreBind cannot store the allocation
        ({"resource.kubernetes.io/admin-access": "false"}, True, "unallocatable", R.UNSCHEDULABLE),
        ({"resource.kubernetes.io/admin-access": "true"}, True, "allocatable", None),
        (None, True, "allocatable", None),  # labels unknown (no permission, files): no check
    ],
)
def test_admin_access_needs_the_namespace_label(labels, unapplied, verdict, status):
    cluster = _cluster(NODE, CLASS, SLICE, _claim())
    result = simulate(cluster, "claim/team/claim-0", namespace_labels=lambda ns: labels, unapplied=unapplied)
    assert result.verdict == verdict
    found = [r for r in result.reasons if r.code == R.ADMIN_ACCESS_FORBIDDEN]
    if status is None:
        assert not found
    else:
        assert [r.status for r in found] == [status]
        assert "resource.kubernetes.io/admin-access" in found[0].message and found[0].hint


def test_admin_access_check_only_for_admin_requests():
    cluster = _cluster(NODE, CLASS, SLICE, _claim(admin=False))
    asked = []
    result = simulate(cluster, "claim/team/claim-0", namespace_labels=lambda ns: asked.append(ns) or {})
    assert result.verdict == "allocatable" and asked == []


# ----------------------------------------------------------------------------- the pod's own filters


def _pod(**spec) -> Pod:
    return decode({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}, "spec": spec})


@pytest.mark.parametrize(
    ("node", "spec", "code"),
    [
        (Node("n", labels={"zone": "a"}), {"nodeSelector": {"zone": "b"}}, R.NODE_AFFINITY),
        (Node("n", labels={"zone": "a"}), {"nodeSelector": {"zone": "a"}}, None),
        (Node("n"), {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["m"]}]}]}}}}, R.NODE_AFFINITY),
        (Node("n", taints=[{"key": "k", "effect": "NoSchedule"}]), {}, R.NODE_TAINTED),
        (Node("n", taints=[{"key": "k", "effect": "NoExecute"}]), {"tolerations": [{"operator": "Exists"}]}, None),
        (Node("n", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]),
         {"tolerations": [{"key": "k", "value": "w", "effect": "NoSchedule"}]}, R.NODE_TAINTED),
        (Node("n", taints=[{"key": "k", "effect": "PreferNoSchedule"}]), {}, None),
        (Node("n", unschedulable=True), {}, R.NODE_UNSCHEDULABLE),
        (Node("n", unschedulable=True), {"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}]}, None),
    ],
)
def test_pod_filters(node, spec, code):
    why = rejection(node, _pod(**spec))
    assert (why.code if why else None) == code


def test_nodes_only_named_by_slices_are_not_filtered():
    """Without a Node object the labels and taints are unknown: such nodes are simulated, not rejected."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team"},
           "spec": {"nodeSelector": {"zone": "b"}, "containers": [{"name": "c", "image": "x"}],
                    "resourceClaims": [{"name": "c", "resourceClaimName": "claim-0"}]}}
    result = simulate(_cluster(CLASS, SLICE, _claim(admin=False), pod), "pod/team/p")
    assert result.verdict == "allocatable"


# ----------------------------------------------------------------------------- PostFilter


def _allocated(reserved: list[dict] | None) -> dict:
    c = _claim("ready", admin=False)
    c["status"] = {"allocation": {"allocationTimestamp": "2026-01-01T00:00:00Z",
                                  "devices": {"results": [{"request": "gpu", "driver": GPU, "pool": "p", "device": "gpu-0"}]},
                                  "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [
                                      {"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}]}}}
    if reserved is not None:
        c["status"]["reservedFor"] = reserved
    return c


@pytest.mark.parametrize(
    ("reserved", "deallocated"),
    [
        (None, True),
        ([{"resource": "pods", "name": "p", "uid": "u1"}], True),  # reserved only for this very pod
        ([{"resource": "pods", "name": "other", "uid": "u2"}], False),
        ([{"resource": "pods", "name": "p", "uid": "u1"}, {"resource": "pods", "name": "other", "uid": "u2"}], False),
    ],
)
def test_postfilter_deallocates_only_unreserved_claims(reserved, deallocated):
    node2 = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-2"}}
    slice2 = json.loads(json.dumps(SLICE).replace('"node-1"', '"node-2"').replace('"p"', '"q"').replace('"s"', '"s2"'))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team", "uid": "u1"},
           "spec": {"containers": [{"name": "c", "image": "x"}],
                    "resourceClaims": [{"name": "a", "resourceClaimName": "ready"}, {"name": "b", "resourceClaimName": "claim-0"}]}}
    cluster = _cluster(NODE, node2, CLASS, SLICE, slice2, _allocated(reserved), _claim(admin=False), pod)
    result = simulate(cluster, "pod/team/p")
    assert (R.CLAIM_DEALLOCATED in [r.code for r in result.reasons]) is deallocated
    # one GPU per node: both claims never fit, deallocated or not (PostFilter deallocates all the same)
    assert result.verdict == "unallocatable"
    assert [n.allocatable for n in result.nodes] == [False, False]


# ----------------------------------------------------------------------------- explain over HTTP


def test_explain_reads_a_pod_whose_claims_are_all_reserved(run, fake_api):
    """The loader lists pods only where some claim is not reserved yet; explain reads the named pod itself."""
    claim = _allocated([{"resource": "pods", "name": "other", "uid": "u2"}])
    claim["metadata"]["namespace"] = "team"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team", "uid": "u1"},
           "spec": {"containers": [{"name": "c", "image": "x"}], "resourceClaims": [{"name": "a", "resourceClaimName": "ready"}]}}
    fake_api.add(NODE, CLASS, SLICE, claim, pod)
    result = run("explain", "pod/p", "-n", "team", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["verdict"] == "allocated"


@pytest.mark.parametrize(("labels", "code"), [({}, 7), ({"resource.kubernetes.io/admin-access": "true"}, 0)])
def test_claim_file_with_admin_access_checks_the_namespace(run, fake_api, tmp_path, labels, code):
    fake_api.add(NODE, CLASS, SLICE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": labels}})
    path = tmp_path / "claim.yaml"
    path.write_text(json.dumps(_claim()), encoding="utf-8")
    result = run("explain", "--claim-file", str(path), "-n", "team", "-o", "json")
    assert result.exit_code == code, result.stderr
    codes = [r["code"] for r in json.loads(result.stdout)["reasons"]]
    assert (R.ADMIN_ACCESS_FORBIDDEN in codes) is (code == 7)


@pytest.mark.parametrize(("consumers", "mine", "blocked"), [(256, False, True), (255, False, False), (256, True, False)])
def test_claim_reserved_for_the_most_consumers_is_in_use(consumers, mine, blocked):
    reserved = [{"resource": "pods", "name": f"pod-{i}", "uid": f"u-{i}"} for i in range(consumers)]
    if mine:
        reserved[-1] = {"resource": "pods", "name": "p", "uid": "u1"}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team", "uid": "u1"},
           "spec": {"containers": [{"name": "c", "image": "x"}], "resourceClaims": [{"name": "a", "resourceClaimName": "ready"}]}}
    result = simulate(_cluster(NODE, CLASS, SLICE, _allocated(reserved), pod), "pod/team/p")
    assert (R.CLAIM_IN_USE in [r.code for r in result.reasons]) is blocked
    assert result.verdict == ("error" if blocked else "allocated")


@pytest.mark.parametrize(("stamped", "reserved_for_pod", "error"), [(False, False, True), (True, False, False), (False, True, False)])
def test_allocation_without_timestamp_cannot_be_reserved(stamped, reserved_for_pod, error):
    claim = _allocated([{"resource": "pods", "name": "p", "uid": "u1"}] if reserved_for_pod else None)
    if not stamped:
        del claim["status"]["allocation"]["allocationTimestamp"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team", "uid": "u1"},
           "spec": {"containers": [{"name": "c", "image": "x"}], "resourceClaims": [{"name": "a", "resourceClaimName": "ready"}]}}
    result = simulate(_cluster(NODE, CLASS, SLICE, claim, pod), "pod/team/p")
    assert (R.ALLOCATION_IMMUTABLE in [r.code for r in result.reasons]) is error
    assert result.verdict == ("error" if error else "allocated")
