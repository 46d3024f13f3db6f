"""Cluster paths over real HTTP: the real `kubernetes` client against the fake API server (tests/fakeapi.py)."""

from __future__ import annotations

import json
import re

import pytest

from tests import demo_facts
from tests.conftest import FIXTURES, ROOT
from tests.fixture_outcomes import pinned_device_ids

DEMO = ROOT / "kubectl_dra" / "demo" / "cluster.yaml"


@pytest.fixture
def demo_api(fake_api):
    fake_api.load_yaml(DEMO)
    return fake_api


def test_list_over_http_matches_the_demo_view(run, demo_api):
    live = run("list")
    offline = run("list", "--demo")
    assert live.exit_code == 0, live.stderr
    assert live.stderr == offline.stderr and live.stderr.startswith("Total:")  # the totals (not a terminal)
    assert live.stdout == offline.stdout
    paths = [r.path for r in demo_api.requests]
    assert "/apis/resource.k8s.io" in paths
    assert "/apis/resource.k8s.io/v1/resourceslices" in paths
    assert "/apis/resource.k8s.io/v1/resourceclaims" in paths  # all namespaces: device state needs every claim


def test_claims_over_http(run, demo_api):
    live = json.loads(run("claims", "-A", "-o", "json").stdout)
    offline = json.loads(run("claims", "-A", "-o", "json", "--demo").stdout)
    assert [c["name"] for c in live["items"]] == [c["name"] for c in offline["items"]]
    assert [c["devices"] for c in live["items"]] == [c["devices"] for c in offline["items"]]
    assert [c["pods"] for c in live["items"]] == [c["pods"] for c in offline["items"]]


def test_namespace_from_context_flag_and_all(run, demo_api, tmp_path, monkeypatch):
    kubeconfig = demo_api.write_kubeconfig(tmp_path / "ns", namespace="inference")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    names = [line.split()[0] for line in run("claims").stdout.splitlines()[1:]]
    assert names == ["l40s-canary", "triton-0-gpu-7z6b6", "vllm-mistral-0-mig-2lqfg"]
    assert demo_api.requests_to("/apis/resource.k8s.io/v1/namespaces/inference/resourceclaims")
    names = [line.split()[0] for line in run("claims", "-n", "ml-team").stdout.splitlines()[1:]]
    assert names[0] == "llm-train-0-gpus-l4pnk"
    lines = run("claims", "-A").stdout.splitlines()
    assert lines[0].startswith("NAMESPACE")


@pytest.mark.parametrize("served, expected", [(("v1", "v1beta2", "v1beta1"), "v1"), (("v1beta2", "v1beta1"), "v1beta2"), (("v1beta1",), "v1beta1")])
def test_discovery_picks_the_newest_served_version(run, fake_api, served, expected):
    fake_api.serve_versions(list(served))
    name = f"dra-example-driver/resourceslice-list-{'v1' if expected != 'v1beta1' else 'v1beta1-basic'}-readme.yaml"
    fake_api.load_yaml(FIXTURES / name)
    result = run("list", "-o", "name")
    assert result.exit_code == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == pinned_device_ids(name)
    slice_requests = [r.path for r in fake_api.requests if r.path.endswith("/resourceslices")]
    assert slice_requests == [f"/apis/resource.k8s.io/{expected}/resourceslices"]


def test_v1alpha3_only_cluster_warns(run, fake_api):
    fake_api.serve_versions(["v1alpha3"])
    fake_api.load_yaml(FIXTURES / "dra-example-driver" / "resourceslice-list-v1alpha3-basic-readme.yaml")
    result = run("list", "-o", "name")
    assert result.exit_code == 0
    assert sorted(result.stdout.splitlines()) == pinned_device_ids("dra-example-driver/resourceslice-list-v1alpha3-basic-readme.yaml")
    assert "warning: the server serves only resource.k8s.io/v1alpha3" in result.stderr


def test_paged_lists_are_read_completely(run, tmp_path, monkeypatch):
    from tests.fakeapi import FakeApiServer

    with FakeApiServer(page_size_cap=2) as server:
        server.load_yaml(DEMO)
        monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path)))
        result = run("list", "-o", "name")
        assert result.exit_code == 0, result.stderr
        names = result.stdout.splitlines()
        assert len(names) == len(set(names)) and sorted(names) == demo_facts.device_ids()
        pages = [r for r in server.requests if r.path.endswith("/resourceslices")]
        assert len(pages) == 5  # 9 slices, 2 per page
        assert all(r.query.get("limit") == "500" for r in pages)
        assert all(r.query.get("continue") for r in pages[1:])


def test_expired_continue_token_relists(run, tmp_path, monkeypatch):
    from tests.fakeapi import FakeApiServer

    with FakeApiServer(page_size_cap=2) as server:
        server.load_yaml(DEMO)
        server.expire_continue_tokens(times=1)
        monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path)))
        result = run("list", "-o", "name")
        assert result.exit_code == 0, result.stderr
        names = result.stdout.splitlines()
        assert len(names) == len(set(names)) and sorted(names) == demo_facts.device_ids()


def test_expired_continue_token_twice_is_a_clean_error(run, tmp_path, monkeypatch):
    from tests.fakeapi import FakeApiServer

    with FakeApiServer(page_size_cap=2) as server:
        server.load_yaml(DEMO)
        server.expire_continue_tokens()
        monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path)))
        result = run("list")
        # the relist asks for everything in one response, which the capped server still pages: it expires again
        assert result.exit_code == 4
        assert result.stderr.startswith("error: the list of resourceslices changed too much while it was being read")


def test_429_is_retried_after_retry_after(run, demo_api):
    demo_api.fail("/apis/resource.k8s.io/v1/resourceslices", 429, times=1, retry_after=0)
    result = run("list", "-o", "name")
    assert result.exit_code == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == demo_facts.device_ids()
    assert len([r for r in demo_api.requests if r.path.endswith("/resourceslices")]) == 2


def test_persistent_429_is_a_clean_error(run, demo_api):
    demo_api.fail("/apis/resource.k8s.io/v1/resourceslices", 429, times=None, retry_after=0)
    result = run("list")
    assert result.exit_code == 4
    assert result.stderr.startswith("error: the API server is throttling requests (429 Too Many Requests)")


def test_401(run, demo_api):
    demo_api.fail("/apis/resource.k8s.io", 401, times=None)
    result = run("list")
    assert result.exit_code == 4
    first, hint = result.stderr.splitlines()[:2]
    assert re.fullmatch(r"error: the API server at http://127\.0\.0\.1:\d+ rejected the credentials \(401 Unauthorized\): .+", first)
    assert hint.startswith("hint: your token or certificate may have expired")


def test_wrong_token_is_401(run, demo_api, tmp_path, monkeypatch):
    kubeconfig = demo_api.write_kubeconfig(tmp_path / "bad", extra_contexts=[{"name": "bad", "token": "wrong"}])
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    result = run("list", "--context", "bad")
    assert result.exit_code == 4
    assert "(401 Unauthorized)" in result.stderr.splitlines()[0]


def test_403_on_slices(run, demo_api):
    demo_api.fail("/apis/resource.k8s.io/v1/resourceslices", 403, times=None, message='resourceslices.resource.k8s.io is forbidden: User "dev" cannot list resource "resourceslices"')
    result = run("list")
    assert result.exit_code == 4
    assert result.stderr.splitlines() == [
        'error: forbidden: cannot list resourceslices: resourceslices.resource.k8s.io is forbidden: User "dev" cannot list resource "resourceslices"',
        "hint: the ClusterRole kubectl-dra-reader in docs/rbac.yaml grants get, list and watch on everything the tool reads; see docs/rbac.md",
    ]


def test_403_on_claims_still_lists_devices(run, demo_api):
    demo_api.fail("/apis/resource.k8s.io/v1/resourceclaims", 403, times=None)
    result = run("list", "-o", "json")
    assert result.exit_code == 0
    assert "warning: forbidden: cannot list resourceclaims" in result.stderr
    assert "allocation state is unknown" in result.stderr
    assert {i["state"] for i in json.loads(result.stdout)["items"]} <= {"free", "tainted"}


def test_403_on_claims_fails_the_commands_that_report_on_claims(run, demo_api):
    """`claims`, `explain` and `lint` answer about claims: a 403 is exit 4, not "no claims found"."""
    demo_api.fail("/apis/resource.k8s.io/v1/resourceclaims", 403, times=None, message='resourceclaims.resource.k8s.io is forbidden: User "dev" cannot list resource "resourceclaims"')
    demo_api.fail("/apis/resource.k8s.io/v1/namespaces/ml-team/resourceclaims", 403, times=None, message='resourceclaims.resource.k8s.io is forbidden: User "dev" cannot list resource "resourceclaims"')
    for args in (["claims", "-A"], ["claims", "-n", "ml-team"], ["explain", "-n", "research", "pretrain-70b-gpus-fmb6b"], ["lint"]):
        result = run(*args)
        assert result.exit_code == 4, (args, result.stderr)
        assert result.stderr.splitlines()[0].startswith("error: forbidden: cannot list resourceclaims: "), args
        assert "docs/rbac.yaml" in result.stderr.splitlines()[1]


def test_403_on_pods_warns_and_names_them(run, demo_api):
    demo_api.fail("/api/v1/", 403, times=None, message='pods is forbidden: User "dev" cannot list resource "pods"')
    result = run("claims", "-A")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        'warning: forbidden: cannot list pods: pods is forbidden: User "dev" cannot list resource "pods"; '
        "pods waiting for a claim that no pod has reserved are not shown"
    ]
    # the pod `explain` is about is its subject: a 403 on it fails
    result = run("explain", "-n", "research", "pod/pretrain-70b")
    assert result.exit_code == 4
    assert result.stderr.splitlines()[0].startswith('error: forbidden: cannot get pod "pretrain-70b" in namespace research: ')


def test_explain_reads_the_named_pod_whatever_its_claims(run, demo_api):
    """Every claim in ml-team is reserved, so no pod list is needed there; the named pod is read anyway."""
    result = run("explain", "-n", "ml-team", "pod/llm-train-0")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("verdict: allocated: ml-team/llm-train-0 ")
    assert ("GET", "/api/v1/namespaces/ml-team/pods/llm-train-0") in {(r.method, r.path) for r in demo_api.requests}
    missing = run("explain", "-n", "ml-team", "pod/no-such-pod")
    assert missing.exit_code == 3
    assert missing.stderr.splitlines()[0] == 'error: pod "no-such-pod" not found in namespace ml-team'


def test_403_names_the_refused_verb(run, demo_api):
    from kubectl_dra.kube.live import Forbidden, LiveCluster

    demo_api.fail("/apis/resource.k8s.io/v1/resourceslices", 403, times=None, message="no")
    live = LiveCluster()
    with pytest.raises(Forbidden, match=r"^forbidden: cannot watch resourceslices: no$") as info:
        list(live.watch("/apis/resource.k8s.io/v1/resourceslices", what="resourceslices", resource_version="1"))
    assert (info.value.verb, info.value.resource) == ("watch", "resourceslices")
    with pytest.raises(Forbidden, match=r"^forbidden: cannot get resourceslices: no$"):
        live.get("/apis/resource.k8s.io/v1/resourceslices", what="resourceslices")
    with pytest.raises(Forbidden, match=r"^forbidden: cannot list resourceslices: no$"):
        list(live.list("/apis/resource.k8s.io/v1/resourceslices", what="resourceslices"))


def test_forbidden_keeps_verb_and_hint_across_processes():
    import pickle

    from kubectl_dra.kube.live import READER_HINT, Forbidden

    error = pickle.loads(pickle.dumps(Forbidden("forbidden: x", hint=READER_HINT, verb="list", resource="pods")))
    assert (type(error), error.message, error.hint, error.verb, error.resource) == (
        Forbidden, "forbidden: x", READER_HINT, "list", "pods")


def test_group_not_served(run, fake_api):
    fake_api.serve_versions([])
    result = run("list")
    assert result.exit_code == 4
    assert re.fullmatch(r"error: the cluster at http://127\.0\.0\.1:\d+ does not serve the resource\.k8s\.io API group", result.stderr.splitlines()[0])
    assert result.stderr.splitlines()[1].startswith("hint: DRA is served by default from Kubernetes 1.34")


def test_500(run, demo_api):
    demo_api.fail("/apis/resource.k8s.io/v1/resourceslices", 500, times=None, message="etcdserver: request timed out")
    result = run("list")
    assert result.exit_code == 4
    assert result.stderr == "error: the API server failed to return resourceslices (500 InternalError): etcdserver: request timed out\n"


def test_unreachable_server(run, demo_api, tmp_path, monkeypatch):
    kubeconfig = demo_api.write_kubeconfig(tmp_path / "u", extra_contexts=[{"name": "down", "server": "http://127.0.0.1:9"}])
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    result = run("list", "--context", "down")
    assert result.exit_code == 4
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: cannot reach the API server at http://127.0.0.1:9: ")
    assert lines[1] == "hint: check --context / --kubeconfig, and that the cluster is running"


def test_unknown_context(run, demo_api):
    result = run("list", "--context", "nope")
    assert result.exit_code == 4
    assert result.stderr.splitlines() == ['error: context "nope" not found in kubeconfig', "hint: available contexts: fake"]


def test_no_kubeconfig(run):
    result = run("list")
    assert result.exit_code == 4
    assert result.stderr.splitlines()[0] == "error: no kubeconfig found and not running inside a cluster"


def test_in_cluster_without_service_account_is_a_clean_error(run, monkeypatch):
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    result = run("list")
    assert result.exit_code == 4
    assert result.stderr.startswith("error: cannot load kubeconfig: ")


def test_explicit_kubeconfig_and_multiple_files(run, demo_api, tmp_path, monkeypatch):
    real = demo_api.write_kubeconfig(tmp_path / "real")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert run("list", "--kubeconfig", str(real), "-o", "name").exit_code == 0
    missing = run("list", "--kubeconfig", str(tmp_path / "nope"))
    assert missing.exit_code == 4
    assert missing.stderr.splitlines()[0] == f"error: kubeconfig {tmp_path / 'nope'} does not exist"
    other = demo_api.write_kubeconfig(tmp_path / "other", context="second")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{real}:{other}")
    assert run("list", "--context", "second", "-o", "name").exit_code == 0
    assert run("list", "-o", "name").exit_code == 0  # current-context of the first file that sets one


def test_kubeconfig_env_is_read_at_call_time(run, demo_api, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    assert run("list").exit_code == 4
    monkeypatch.setenv("KUBECONFIG", str(demo_api.write_kubeconfig(tmp_path / "late")))
    assert run("list", "-o", "name").exit_code == 0


def test_empty_cluster(run, fake_api):
    result = run("list")
    assert result.exit_code == 0 and result.stdout == ""
    assert re.fullmatch(r"no DRA devices found in http://127\.0\.0\.1:\d+\n", result.stderr)


def test_request_timeout_validation(run, demo_api):
    result = run("list", "--request-timeout", "soon")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --request-timeout: invalid duration 'soon'")
    assert run("list", "--request-timeout", "5s", "-o", "name").exit_code == 0


def test_show_over_http(run, demo_api):
    result = run("show", "l40s-01/gpu-2")
    assert result.exit_code == 0, result.stderr
    assert "gpu.nvidia.com/xid" in result.stdout


def test_device_taint_rules_are_read_when_served(run, demo_api):
    from tests.fakeapi import RESOURCE_GROUP, ResourceType

    demo_api.register_type(ResourceType(RESOURCE_GROUP, "DeviceTaintRule", "devicetaintrules", "devicetaintrule", False))
    demo_api.add(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "DeviceTaintRule",
            "metadata": {"name": "drain-l40s-3"},
            "spec": {"deviceSelector": {"driver": "gpu.nvidia.com", "pool": "l40s-01", "device": "gpu-3"}, "taint": {"key": "maint", "effect": "NoExecute"}},
        }
    )
    data = json.loads(run("list", "-o", "json", "--node", "l40s-01").stdout)
    gpu3 = next(i for i in data["items"] if i["name"] == "gpu-3")
    assert gpu3["state"] == "tainted"
    assert gpu3["taints"] == [{"key": "maint", "effect": "NoExecute", "rule": "drain-l40s-3"}]
    assert demo_api.requests_to("/apis/resource.k8s.io/v1/devicetaintrules")


def test_no_taint_rule_requests_when_not_served(run, demo_api):
    assert run("list", "-o", "name").exit_code == 0
    assert not demo_api.requests_to("/apis/resource.k8s.io/v1/devicetaintrules")


@pytest.mark.parametrize("no_fork", ["1", ""])
def test_claims_read_in_a_child_or_inline_give_the_same_view(run, demo_api, monkeypatch, no_fork):
    monkeypatch.setenv("KUBECTL_DRA_NO_FORK", no_fork)
    assert run("list").stdout == run("list", "--demo").stdout
    demo_api.fail("/apis/resource.k8s.io/v1/resourceclaims", 500, times=None, message="boom")
    result = run("list")
    assert result.exit_code == 4
    assert result.stderr == "error: the API server failed to return resourceclaims (500 InternalError): boom\n"


def test_errors_keep_their_hint_across_processes():
    import pickle

    from kubectl_dra.errors import ClusterError

    error = pickle.loads(pickle.dumps(ClusterError("x", hint="y")))
    assert type(error) is ClusterError and error.message == "x" and error.hint == "y"


def test_claims_reads_pods_only_where_a_claim_is_not_reserved(run, demo_api):
    assert run("claims", "-A").exit_code == 0
    pod_paths = sorted(r.path for r in demo_api.requests if "/pods" in r.path)
    # inference/l40s-canary (allocated) and research/pretrain-70b-gpus-fmb6b (pending) have no reservedFor
    assert pod_paths == ["/api/v1/namespaces/inference/pods", "/api/v1/namespaces/research/pods"]
    demo_api.clear_requests()
    assert run("claims", "-n", "ml-team").exit_code == 0  # every claim there is reserved
    assert not [r for r in demo_api.requests if "/pods" in r.path]


def test_claims_without_pod_access_still_work(run, demo_api):
    demo_api.fail("/api/v1/namespaces", 403, times=None)
    result = run("claims", "-A", "-o", "json")
    assert result.exit_code == 0
    pending = next(c for c in json.loads(result.stdout)["items"] if c["state"] == "pending")
    assert pending["pods"] == []  # only a Pod object could tell who waits on it


def test_no_credential_files_are_left_behind(demo_api, tmp_path):
    """The kubernetes client writes inline certificates and keys (kubeconfig *-data fields, https
    servers) to temp files and removes them at exit; the CLI leaves through os._exit, so it must run
    that clean-up itself."""
    import base64
    import os
    import subprocess
    import sys

    config = json.loads(demo_api.write_kubeconfig(tmp_path / "k").read_text())
    pem = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nnot a real one\n-----END CERTIFICATE-----\n").decode()
    config["clusters"][0]["cluster"] = {"server": "https://127.0.0.1:9", "certificate-authority-data": pem}
    config["users"][0]["user"] = {"client-certificate-data": pem, "client-key-data": pem}
    kubeconfig = tmp_path / "inline.json"
    kubeconfig.write_text(json.dumps(config))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "TMPDIR": str(scratch)}
    proc = subprocess.run([sys.executable, "-m", "kubectl_dra", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize(
    "text",
    ["garbage: [\n", "- just\n- a list\n", "apiVersion: v1\nkind: Config\ncontexts: 7\ncurrent-context: x\n"],
    ids=["not-yaml", "not-a-map", "wrong-shape"],
)
def test_broken_kubeconfig_is_a_clean_error(run, tmp_path, text):
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    result = run("list", "--kubeconfig", str(path))
    assert result.exit_code == 4
    assert result.stderr.startswith("error: cannot load kubeconfig"), result.stderr


def test_node_filter_reads_only_those_nodes_slices(run, demo_api):
    result = run("list", "--node", "l40s-01", "-o", "name")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"gpu.nvidia.com/l40s-01/gpu-{i}" for i in range(4)]
    selectors = sorted(r.query.get("fieldSelector") for r in demo_api.requests if r.path.endswith("/resourceslices"))
    assert selectors == ["spec.nodeName=", "spec.nodeName=l40s-01"]
    # the answer is the same as filtering the full list
    assert run("list", "--node", "l40s-01", "--node", "tpu-v4-01").stdout == run("list", "--demo", "--node", "l40s-01,tpu-v4-01").stdout


def test_class_filter_over_http_reads_device_classes(run, demo_api):
    result = run("list", "--class", "gpu.nvidia.com", "-o", "name")
    assert result.exit_code == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == demo_facts.device_ids(demo_facts.nvidia("gpu"))
    assert demo_api.requests_to("/apis/resource.k8s.io/v1/deviceclasses")


@pytest.mark.parametrize(
    "args",
    [["list", "memory>=("], ["list", "--cel", "device.driver =="], ["claim", "mig", "--or", "x>"], ["claim", "--cel", "1 +"]],
)
def test_syntax_errors_fail_before_the_cluster_is_read(run, fake_api, args):
    result = run(*args)
    assert result.exit_code == 2, result.stderr
    assert fake_api.requests == []


def test_list_node_on_a_live_cluster_does_not_warn_about_other_nodes_claims(run, fake_api):
    from pathlib import Path

    fake_api.load_yaml(Path(__file__).resolve().parents[1] / "kubectl_dra" / "demo" / "cluster.yaml")
    result = run("list", "--node", "l40s-01")
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr  # claims on dgx-h100-01 etc. point at pools that were not read
    assert "l40s-01" in result.stdout and "dgx-h100-01" not in result.stdout
    # a device missing from a pool that was read still warns
    sl = next(o for o in fake_api.objects("resourceslices") if o["spec"].get("nodeName") == "l40s-01")
    sl = {**sl, "spec": {**sl["spec"], "devices": [d for d in sl["spec"]["devices"] if d["name"] != "gpu-1"]}}
    sl["metadata"] = {k: v for k, v in sl["metadata"].items() if k != "resourceVersion"}
    fake_api.add(sl)
    result = run("list", "--node", "l40s-01")
    assert result.exit_code == 0
    assert "gpu-1, which no current ResourceSlice publishes" in result.stderr
