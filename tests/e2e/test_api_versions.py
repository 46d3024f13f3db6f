"""resource.k8s.io v1beta2 and v1beta1 as a real kube-apiserver serves them.

* Objects written through the v1beta1 and v1beta2 endpoints of the shared control plane (which serves
  v1 too) are read back by the tool through v1, and the real scheduler allocates them.
* Two short-lived control planes serve resource.k8s.io *without* v1 (kube-apiserver v1.36.3 accepts
  ``--runtime-config=resource.k8s.io/v1=false,resource.k8s.io/v1beta2=true``, and likewise v1beta1
  alone): the demo cluster, as the shared control plane scheduled it, is copied there through that
  version's endpoints, and the tool, which then reads v1beta2 (v1beta1), must give the same answer
  as it gives from v1 on the shared control plane for list, claims, show, topology and explain.
* The DRA feature gates the apiserver and the scheduler report (/metrics, kubernetes_feature_enabled)
  are the ones the allocator simulator assumes (kubectl_dra.alloc.features.DEFAULT_FEATURES).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import ssl
import urllib.request

import pytest

from tests.e2e import cluster, objects
from tests.e2e.kapi import Api

pytestmark = pytest.mark.e2e

OWNER = "api-versions"
DEMO_NAMESPACES = ("inference", "ml-team", "research")
GROUP = "/apis/resource.k8s.io"


# ----------------------------------------------------------------------------------------------- helpers


def _items(api: Api, path: str, **params: str) -> list[dict]:
    """A list's items with the kind and apiVersion a list leaves out."""
    listed = api.request("GET", path, params=params or None)
    kind = listed["kind"].removesuffix("List")
    return [{"kind": kind, "apiVersion": listed["apiVersion"], **item} for item in listed["items"]]


def _dra(run, cp, *args: str) -> tuple[int, str, str]:
    result = run(*args, "--kubeconfig", str(cp.kubeconfig))
    return result.exit_code, result.stdout, result.stderr


def _json(run, cp, *args: str, codes=(0,)) -> dict:
    code, out, err = _dra(run, cp, *args, "-o", "json")
    assert code in codes, f"kubectl dra {' '.join(args)} exited {code}: {err}"
    assert "warning" not in err, err
    return json.loads(out)


# ------------------------------------------------------------- writing through the beta endpoints (shared cp)


def _beta_objects(version: str) -> list[dict]:
    """A node, a class, a slice with two devices and a claim, in ``version``'s own shape."""
    node = f"apiv-{version}-node"
    driver = f"{version}.apiv.example.com"
    attrs = {"productName": {"string": f"Probe {version}"}, "index": {"int": 0}, "ok": {"bool": True},
             "driverVersion": {"version": "1.2.3"}}
    capacity = {"memory": {"value": "16Gi"}}
    if version == "v1beta1":  # devices wrap their attributes in `basic`, requests name the class directly
        devices = [{"name": f"dev-{i}", "basic": {"attributes": {**attrs, "index": {"int": i}}, "capacity": capacity}}
                   for i in range(2)]
        request = {"name": "probe", "deviceClassName": f"apiv-{version}", "allocationMode": "ExactCount", "count": 1}
    else:
        devices = [{"name": f"dev-{i}", "attributes": {**attrs, "index": {"int": i}}, "capacity": capacity}
                   for i in range(2)]
        request = {"name": "probe", "exactly": {"deviceClassName": f"apiv-{version}", "allocationMode": "ExactCount",
                                                "count": 1}}
    api_version = f"resource.k8s.io/{version}"
    labels = {objects.OWNER_LABEL: OWNER}
    return [
        objects.for_create(objects.node(node), owner=OWNER),
        {"apiVersion": api_version, "kind": "DeviceClass", "metadata": {"name": f"apiv-{version}", "labels": labels},
         "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{driver}"'}}]}},
        {"apiVersion": api_version, "kind": "ResourceSlice", "metadata": {"name": f"apiv-{version}", "labels": labels},
         "spec": {"driver": driver, "nodeName": node, "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
                  "devices": devices}},
        {"apiVersion": api_version, "kind": "ResourceClaim",
         "metadata": {"name": "probe", "namespace": f"apiv-{version}", "labels": labels},
         "spec": {"devices": {"requests": [request]}}},
    ]


@pytest.fixture(scope="module")
def written(api: Api):
    """The objects of both beta versions created through their own endpoints; a pod per version
    scheduled by the real scheduler. Yields version -> the pod's Outcome."""
    created: list[tuple[str, str]] = []
    outcomes = {}
    try:
        for version in ("v1beta1", "v1beta2"):
            ns = f"apiv-{version}"
            objects.namespace(api, ns, owner=OWNER)
            created.append(("Namespace", ns))
            for obj in _beta_objects(version):
                stored = api.create(obj)  # POST to the collection of obj's own apiVersion
                assert (stored["apiVersion"], stored["kind"]) == (obj["apiVersion"], obj["kind"])
                if not stored["metadata"].get("namespace"):
                    created.append((obj["kind"], stored["metadata"]["name"]))
            pod = objects.pod("probe", ns, [("dev", "claim", "probe")], owner=OWNER)
            api.create(pod)
            outcomes[version] = objects.outcome(api, ns, "probe")
        yield outcomes
    finally:
        # pods and claims first, and waited for: no kubelet ends a graceful pod delete, so deleting the
        # namespace alone left the claims allocated on the slices deleted below, and every later
        # listing of the shared cluster warned about them (test_rbac compares stderr)
        namespaces = [name for kind, name in created if kind == "Namespace"]
        for ns in namespaces:
            for p in api.list("Pod", ns):
                api.delete("Pod", p["metadata"]["name"], ns)
            for c in api.list("ResourceClaim", ns):
                if c["metadata"].get("finalizers"):
                    api.patch("ResourceClaim", c["metadata"]["name"], {"metadata": {"finalizers": None}}, ns)
                api.delete("ResourceClaim", c["metadata"]["name"], ns)
        api.wait("the apiv pods and claims to go",
                 lambda: not any(api.list(kind, ns) for ns in namespaces for kind in ("Pod", "ResourceClaim")), timeout=30)
        for kind, name in reversed(created):
            api.delete(kind, name)


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
def test_objects_written_through_a_beta_endpoint_read_through_v1(run, control_plane, written, version):
    assert written[version].bound and written[version].node == f"apiv-{version}-node", written[version]
    node, driver = f"apiv-{version}-node", f"{version}.apiv.example.com"
    devices = _json(run, control_plane, "list", "--node", node)["items"]
    assert [(d["driver"], d["name"]) for d in devices] == [(driver, "dev-0"), (driver, "dev-1")]
    assert devices[0]["attributes"] == {
        f"{driver}/productName": f"Probe {version}", f"{driver}/index": 0, f"{driver}/ok": True,
        f"{driver}/driverVersion": "1.2.3",
    }
    assert devices[0]["capacity"] == {f"{driver}/memory": "16Gi"}
    held = [d for d in devices if d["state"] != "free"]
    assert [(d["state"], d["allocation"]["claim"], d["allocation"]["pods"]) for d in held] == [
        ("reserved", f"apiv-{version}/probe", ["probe"])]
    claims = _json(run, control_plane, "claims", "-n", f"apiv-{version}")["items"]
    assert [(c["name"], c["state"], c["pods"]) for c in claims] == [("probe", "reserved", ["probe"])]
    assert [d["device"] for d in claims[0]["devices"]] == [held[0]["name"]]
    card = _json(run, control_plane, "show", f"{driver}/{node}/{held[0]['name']}")
    assert card["allocation"]["claim"] == f"apiv-{version}/probe"
    explained = _json(run, control_plane, "explain", "-n", f"apiv-{version}", "pod/probe")
    assert explained["verdict"] == "allocated"


# ------------------------------------------------------- control planes without v1: the demo copied over


def _copy_demo(src: Api, dst: Api, version: str) -> None:
    """The demo objects of ``src`` (as its scheduler and controllers left them) into ``dst`` through
    resource.k8s.io/``version``: same names, same allocations, pods bound to the same nodes."""
    demo = f"{objects.OWNER_LABEL}=demo"
    base = f"{GROUP}/{version}"
    for ns in DEMO_NAMESPACES:
        objects.namespace(dst, ns)
    for node in _items(src, "/api/v1/nodes", labelSelector=demo):
        dst.create(objects.for_create(node))
    for plural in ("deviceclasses", "resourceslices"):
        for obj in _items(src, f"{base}/{plural}", labelSelector=demo):
            dst.request("POST", f"{base}/{plural}", objects.for_create(obj))
    uids: dict[str, str] = {}
    for ns in DEMO_NAMESPACES:
        for obj in _items(src, f"{base}/namespaces/{ns}/resourceclaimtemplates"):
            dst.request("POST", f"{base}/namespaces/{ns}/resourceclaimtemplates", objects.for_create(obj))
        for pod in _items(src, f"/api/v1/namespaces/{ns}/pods"):
            fresh = objects.for_create(pod)
            if pod["spec"].get("nodeName"):
                fresh["spec"]["nodeName"] = pod["spec"]["nodeName"]
            made = dst.create(fresh)
            uids[pod["metadata"]["uid"]] = made["metadata"]["uid"]
            made["status"] = pod.get("status") or {}
            dst.request("PUT", f"/api/v1/namespaces/{ns}/pods/{made['metadata']['name']}/status", made)
        for claim in _items(src, f"{base}/namespaces/{ns}/resourceclaims"):
            fresh = objects.for_create(claim)
            owners = [dict(ref, uid=uids[ref["uid"]]) for ref in claim["metadata"].get("ownerReferences") or []
                      if ref["uid"] in uids]
            if owners:
                fresh["metadata"]["ownerReferences"] = owners
            made = dst.request("POST", f"{base}/namespaces/{ns}/resourceclaims", fresh)
            status = copy.deepcopy(claim.get("status") or {})
            for ref in status.get("reservedFor") or []:
                ref["uid"] = uids.get(ref.get("uid"), ref.get("uid"))
            if status:
                made["status"] = status
                dst.request("PUT", f"{base}/namespaces/{ns}/resourceclaims/{claim['metadata']['name']}/status", made)


@pytest.fixture(scope="module", params=["v1beta2", "v1beta1"])
def beta_only(request, api: Api, demo_cluster, tmp_path_factory):
    """A control plane serving resource.k8s.io only in one beta version, holding a copy of the demo."""
    version = request.param
    base = tmp_path_factory.mktemp(f"cp-{version}-only")
    runtime = f"resource.k8s.io/v1=false,resource.k8s.io/{version}=true"
    try:
        cp = cluster.up(base, runtime_config=runtime, die_with_parent=True)
    except cluster.ClusterError as e:
        pytest.fail(f"kube-apiserver {cluster.KUBE_VERSION} refused --runtime-config={runtime}: {e}", pytrace=False)
    try:
        dst = Api(cp)
        served = [v["version"] for v in dst.get_raw(GROUP)["versions"]]
        assert served == [version], f"--runtime-config={runtime} serves {served}"
        _copy_demo(api, dst, version)
        yield version, cp
    finally:
        cluster.down(base)


def _demo_devices(run, cp) -> list[dict]:
    items = _json(run, cp, "list")["items"]
    return [d for d in items if d["node"] in DEMO_NODES]


DEMO_NODES = {o["metadata"]["name"] for o in objects.demo_objects() if o["kind"] == "Node"}


def _demo_claims(run, cp) -> list[dict]:
    items = _json(run, cp, "claims", "-A")["items"]
    for item in items:
        item.pop("creationTimestamp", None)
    return [c for c in items if c["namespace"] in DEMO_NAMESPACES]


def _explain(run, cp, *args: str) -> dict:
    data = _json(run, cp, "explain", *args, codes=(0, 7))
    data["nodes"] = [n for n in data.get("nodes", []) if n["node"] in DEMO_NODES]
    return data


def test_the_tool_reads_the_only_served_version(run, beta_only):
    version, cp = beta_only
    code, out, err = _dra(run, cp, "version")
    assert code == 0, err
    assert f"resource.k8s.io served: {version}; read by this tool: {version}" in out


def test_list_and_claims_from_a_beta_server_equal_the_v1_answer(run, control_plane, beta_only):
    version, cp = beta_only
    v1_devices, beta_devices = _demo_devices(run, control_plane), _demo_devices(run, cp)
    assert {d["state"] for d in v1_devices} >= {"free", "reserved", "tainted"}
    assert beta_devices == v1_devices
    v1_claims, beta_claims = _demo_claims(run, control_plane), _demo_claims(run, cp)
    assert {c["state"] for c in v1_claims} >= {"pending", "reserved"}
    assert beta_claims == v1_claims


def test_show_topology_and_explain_from_a_beta_server_equal_the_v1_answer(run, control_plane, beta_only, api):
    version, cp = beta_only
    for device in ("gpu.nvidia.com/dgx-h100-01/gpu-0", "a100-mig-01/gpu-0-mig-1g10gb-19-2", "l40s-01/gpu-2",
                   "h100-dmig-01/gpu-0"):
        assert _json(run, cp, "show", device) == _json(run, control_plane, "show", device), device
    for node in ("dgx-h100-01", "h100-dmig-01"):
        assert _json(run, cp, "topology", node) == _json(run, control_plane, "topology", node), node
    pending = objects.pod_claim_names(api, "research", "pretrain-70b")
    # one node each where the verdict could change if another test module added nodes to the shared cluster
    for args in (["-n", "research", "pod/pretrain-70b", "--node", "dgx-h100-01"], ["-n", "ml-team", "pod/llm-train-0"],
                 ["-n", "research", *pending.values(), "--node", "h100-dmig-01"]):
        beta, v1 = _explain(run, cp, *args), _explain(run, control_plane, *args)
        assert beta == v1, args
        assert beta["verdict"] == ("allocated" if "pod/llm-train-0" in args else "unallocatable"), args


# ----------------------------------------------------------------------------------------- feature gates

#: kubectl_dra.alloc.features.Features field -> the Kubernetes feature gate it stands for
GATES = {
    "admin_access": "DRAAdminAccess",
    "prioritized_list": "DRAPrioritizedList",
    "partitionable_devices": "DRAPartitionableDevices",
    "device_taints": "DRADeviceTaints",
    "binding_conditions": "DRADeviceBindingConditions",
    "consumable_capacity": "DRAConsumableCapacity",
    "list_type_attributes": "DRAListTypeAttributes",
    "device_taint_rules": "DRADeviceTaintRules",
}

_GATE_LINE = re.compile(r'^kubernetes_feature_enabled\{name="(?P<name>[A-Za-z0-9]+)",stage="(?P<stage>[A-Z]*)"\} (?P<on>[01])$')


def _gates(metrics: str) -> dict[str, tuple[bool, str]]:
    """gate -> (enabled, stage) from a component's /metrics."""
    return {m["name"]: (m["on"] == "1", m["stage"] or "GA")
            for m in map(_GATE_LINE.match, metrics.splitlines()) if m}


def _scheduler_metrics(cp) -> str:
    ctx = ssl._create_unverified_context()  # noqa: S323 - the scheduler's self-signed serving cert on loopback
    ctx.load_cert_chain(str(cp.pki / "admin.crt"), str(cp.pki / "admin.key"))
    url = f"https://127.0.0.1:{cp.ports['kube-scheduler']}/metrics"
    with urllib.request.urlopen(url, context=ctx, timeout=30) as response:  # noqa: S310 - loopback
        return response.read().decode()


def test_the_simulators_feature_gates_are_what_the_server_and_scheduler_report(api: Api, control_plane):
    """Features() is Kubernetes 1.36 with default gates: the v1.36.3 apiserver and scheduler say the same."""
    from kubectl_dra.alloc.features import DEFAULT_FEATURES, Features

    assert set(GATES) == {f.name for f in dataclasses.fields(Features)}, "a Features field without its gate here"
    apiserver = _gates(api.request("GET", "/metrics"))
    scheduler = _gates(_scheduler_metrics(control_plane))
    dra = {name: state for name, state in apiserver.items() if name.startswith("DRA")}
    assert {name: state for name, state in scheduler.items() if name.startswith("DRA")} == dra
    assert apiserver["DynamicResourceAllocation"] == (True, "GA")
    assert {field: dra[gate][0] for field, gate in GATES.items()} == dataclasses.asdict(DEFAULT_FEATURES)
    # DeviceTaintRules: beta and off by default in 1.36, and served only with resource.k8s.io/v1beta2
    # switched on (the e2e control plane does). The scheduler then ignores them, and so does explain
    # unless --features DRADeviceTaintRules=true (docs/troubleshooting.md).
    assert dra["DRADeviceTaintRules"] == (False, "BETA")
    from kubectl_dra.alloc.features import GATE_OF

    assert GATE_OF == GATES
