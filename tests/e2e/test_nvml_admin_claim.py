"""`kubectl dra nvml --via admin-claim` against the real control plane (kube-apiserver + scheduler + controllers).

There are no kubelets: the collector pod is validated, its admin claim allocated by the real scheduler
and the pod bound to the node, but it never runs — so this tier proves create / validation / the
namespace label rule / allocation / binding / cleanup, and the fake API server (tests/test_nvml_remote.py)
proves the log path.
"""

from __future__ import annotations

import pytest

from kubectl_dra.errors import ExitCode
from tests.e2e import objects
from tests.e2e.kapi import ApiError

pytestmark = pytest.mark.e2e

OWNER = "nvml-admin-claim"
NODE = "nvml-e2e-node"
NS = "nvml-e2e-admin"
PLAIN = "nvml-e2e-plain"
ADMIN_LABEL = "resource.kubernetes.io/admin-access"


def _slice() -> dict:
    devices = [{"name": f"gpu-{i}", "attributes": {
        "type": {"string": "gpu"}, "uuid": {"string": f"GPU-e2e0000{i}-0000-0000-0000-000000000000"},
        "productName": {"string": "NVIDIA H100 80GB HBM3"}}, "capacity": {"memory": {"value": "80Gi"}}}
        for i in range(2)]
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
            "metadata": {"name": f"{NODE}-gpu.nvidia.com", "labels": {objects.OWNER_LABEL: OWNER}},
            "spec": {"driver": "gpu.nvidia.com", "nodeName": NODE,
                     "pool": {"name": NODE, "generation": 1, "resourceSliceCount": 1}, "devices": devices}}


@pytest.fixture(scope="module")
def gpu_node(api, demo_cluster):
    """A node of our own with two gpu.nvidia.com GPUs (the demo's DeviceClasses select them), and two
    namespaces: one labelled for admin access, one not."""
    created = [
        objects.for_create(objects.node(NODE), owner=OWNER),
        _slice(),
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": NS, "labels": {ADMIN_LABEL: "true", objects.OWNER_LABEL: OWNER}}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PLAIN, "labels": {objects.OWNER_LABEL: OWNER}}},
    ]
    for obj in created:
        api.create(obj)
    yield
    for obj in reversed(created):
        api.delete(obj["kind"], obj["metadata"]["name"])


def _left(api, ns: str) -> list[str]:
    pods = [p["metadata"]["name"] for p in api.list("Pod", ns)]
    claims = [c["metadata"]["name"] for c in api.list("ResourceClaim", ns) if not c["metadata"].get("deletionTimestamp")]
    return pods + claims


def _gone(api, ns: str) -> bool:
    return not api.list("Pod", ns) and not api.list("ResourceClaim", ns)


def test_the_server_enforces_the_namespace_label_rule(api, gpu_node):
    """What our client-side check mirrors: the API server rejects an admin claim in an unlabelled namespace."""
    claim = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "probe", "namespace": PLAIN},
             "spec": {"devices": {"requests": [{"name": "g", "exactly": {
                 "deviceClassName": "gpu.nvidia.com", "allocationMode": "All", "adminAccess": True}}]}}}
    with pytest.raises(ApiError, match=ADMIN_LABEL):
        api.create(claim, dry_run=True)


def test_unlabelled_namespace_is_a_clear_error(run, live, api, gpu_node):
    result = run("nvml", "--node", NODE, "--via", "admin-claim", "-n", PLAIN)
    assert result.exit_code == ExitCode.REMOTE, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(f'error: namespace "{PLAIN}" is not labelled {ADMIN_LABEL}="true"'), first
    assert f"kubectl label namespace {PLAIN} {ADMIN_LABEL}=true" in result.stderr
    assert _left(api, PLAIN) == []


def test_admin_claim_is_allocated_bound_and_cleaned_up(api, live, gpu_node):
    """The objects the CLI creates, step by step: the real scheduler allocates the admin claim and binds the pod."""
    from kubectl_dra.kube.live import LiveCluster
    from kubectl_dra.model.decode import decode_slice
    from kubectl_dra.nvml.remote import PodRun, RemoteOptions, start_admin_claim

    devices = decode_slice(_slice(), "v1").devices
    client = LiveCluster()
    run = PodRun(NS)
    try:
        start_admin_claim(client, NODE, devices, RemoteOptions(via="admin-claim", namespace=NS), run)
        assert run.pod and len(run.claims) == 1
        outcome = objects.outcome(api, NS, run.pod, timeout=60)
        assert outcome.bound and outcome.node == NODE, outcome.message
        claim = api.get("ResourceClaim", run.claims[0], NS)
        assert claim["metadata"]["ownerReferences"][0]["uid"] == run.pod_uid
        results = claim["status"]["allocation"]["devices"]["results"]
        assert {(r["pool"], r["device"], r.get("adminAccess")) for r in results} == {
            (NODE, "gpu-0", True), (NODE, "gpu-1", True)}
        assert [r["name"] for r in claim["status"].get("reservedFor") or []] == [run.pod]
    finally:
        problems = run.cleanup(client)
    assert problems == []
    api.wait("the collector pod and its claim to be gone", lambda: _gone(api, NS), timeout=60)


def test_cli_times_out_on_a_bound_pod_that_never_runs_and_leaves_nothing(run, live, api, gpu_node, monkeypatch):
    import kubectl_dra.nvml.remote as remote

    monkeypatch.setattr(remote, "GRACE", 2.0)
    result = run("nvml", "--node", NODE, "--via", "admin-claim", "-n", NS, "--timeout", "2s")
    assert result.exit_code == ExitCode.REMOTE, result.stderr
    first = result.stderr.splitlines()[0]
    assert "did not finish within 6s" in first and f"bound to node {NODE} but never finished" in first, first
    api.wait("the collector pod and its claim to be gone", lambda: _gone(api, NS), timeout=60)


def test_cleanup_finds_leftovers_by_label(run, live, api, gpu_node):
    """An interrupted run (pod and claim created, the process gone) is removed by --cleanup."""
    from kubectl_dra.kube.live import LiveCluster
    from kubectl_dra.model.decode import decode_slice
    from kubectl_dra.nvml.remote import PodRun, RemoteOptions, start_admin_claim

    run_ = PodRun(NS)
    start_admin_claim(LiveCluster(), NODE, decode_slice(_slice(), "v1").devices,
                      RemoteOptions(via="admin-claim", namespace=NS), run_)
    assert len(_left(api, NS)) == 2
    result = run("nvml", "--cleanup", "-n", NS)
    assert result.exit_code == 0, result.stderr
    assert f"deleted pod/{run_.pod} -n {NS}" in result.stdout
    api.wait("the leftovers to be gone", lambda: _gone(api, NS), timeout=60)


def test_the_opt_in_role_and_the_reader_are_enough(run, api, control_plane, gpu_node, tmp_path, monkeypatch):
    """A ServiceAccount with only docs/rbac.yaml's kubectl-dra-reader (cluster) and kubectl-dra-nvml-admin-claim
    (in NS): every create, read and delete of the admin-claim path is allowed."""
    from pathlib import Path

    import yaml

    import kubectl_dra.nvml.remote as remote

    rbac = "rbac.authorization.k8s.io"
    roles = {d["metadata"]["name"]: d for d in yaml.safe_load_all(
        (Path(__file__).resolve().parents[2] / "docs" / "rbac.yaml").read_text(encoding="utf-8")) if d and d["kind"] == "ClusterRole"}
    label = {objects.OWNER_LABEL: OWNER}
    sa = {"kind": "ServiceAccount", "name": "nvml-user", "namespace": NS}
    made = []
    try:
        api.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nvml-user", "namespace": NS}})
        for name in ("kubectl-dra-reader", "kubectl-dra-nvml-admin-claim"):
            role = {**roles[name], "metadata": {"name": f"nvml-e2e-{name}", "labels": label}}
            api.create(role)
            made.append(("ClusterRole", role["metadata"]["name"]))
        api.create({"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": "nvml-e2e-reader", "labels": label},
                    "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "nvml-e2e-kubectl-dra-reader"},
                    "subjects": [sa]})
        made.append(("ClusterRoleBinding", "nvml-e2e-reader"))
        api.create({"apiVersion": f"{rbac}/v1", "kind": "RoleBinding",
                    "metadata": {"name": "nvml-e2e-admin-claim", "namespace": NS, "labels": label},
                    "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "nvml-e2e-kubectl-dra-nvml-admin-claim"},
                    "subjects": [sa]})
        token = api.request("POST", f"/api/v1/namespaces/{NS}/serviceaccounts/nvml-user/token",
                            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                             "spec": {"expirationSeconds": 3600}})["status"]["token"]
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "k8sbox", "cluster": {"server": control_plane.server,
                                                        "certificate-authority": str(control_plane.pki / "ca.crt")}}],
            "users": [{"name": "nvml-user", "user": {"token": token}}],
            "contexts": [{"name": "nvml-user", "context": {"cluster": "k8sbox", "user": "nvml-user", "namespace": NS}}],
            "current-context": "nvml-user"}), encoding="utf-8")
        from kubectl_dra.kube.live import LiveCluster

        me = LiveCluster(kubeconfig=str(kubeconfig))

        def allowed(verb: str, group: str, resource: str, namespace: str | None) -> bool:
            review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {
                "resourceAttributes": {"verb": verb, "group": group, "resource": resource, "namespace": namespace or ""}}}
            answer = me.create("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review, what="access review")
            return bool((answer.get("status") or {}).get("allowed"))

        # RBAC reaches the authorizer's cache a moment after the bindings are created
        api.wait("the bindings to take effect", lambda: allowed("list", "resource.k8s.io", "resourceslices", None)
                 and allowed("create", "resource.k8s.io", "resourceclaims", NS), timeout=30, interval=0.2)
        monkeypatch.setattr(remote, "GRACE", 2.0)
        result = run("nvml", "--node", NODE, "--via", "admin-claim", "--timeout", "2s", "--kubeconfig", str(kubeconfig))
        # everything up to the log was allowed: the pod was created, its claim allocated, the pod bound (it never runs)
        assert result.exit_code == ExitCode.REMOTE, result.stderr
        assert f"bound to node {NODE} but never finished" in result.stderr, result.stderr
        assert "forbidden" not in result.stderr
        api.wait("the collector pod and its claim to be gone", lambda: _gone(api, NS), timeout=60)
    finally:
        api.delete("RoleBinding", "nvml-e2e-admin-claim", NS)
        api.delete("ServiceAccount", "nvml-user", NS)
        for kind, name in reversed(made):
            api.delete(kind, name)
