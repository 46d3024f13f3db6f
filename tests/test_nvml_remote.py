"""`kubectl dra nvml --node N --via …` and `--all-nodes` against the fake API server with a scripted kubelet.

Each node's "collector output" is the demo NVML snapshot of that node (the JSON `nvml -o json`
writes): what comes back through exec or a pod log must be that same snapshot.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import pytest

from kubectl_dra.errors import ExitCode
from tests.fakeapi import FakeApiServer
from tests.fakekubelet import FakeKubelet

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "kubectl_dra" / "demo" / "cluster.yaml"
NODES = ("a100-mig-01", "dgx-h100-01", "h100-dmig-01", "l40s-01")
NS = "gpu-admin"


@functools.lru_cache(maxsize=None)
def demo_json(node: str) -> str:
    from kubectl_dra.nvml import demo_snapshot
    from kubectl_dra.nvml.snapshot import dump_snapshot

    return dump_snapshot(demo_snapshot(node))


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """The demo cluster on a fake API server, every GPU node scripted with its demo snapshot."""
    import kubectl_dra.nvml.remote as remote

    monkeypatch.setattr(remote, "GRACE", 0.3)  # hang tests: wait 2 x --timeout + 0.3 s, not + 15 s
    with FakeApiServer() as server:
        server.load_yaml(DEMO)
        kubelet = FakeKubelet(server)
        kubelet.add_namespace(NS, admin=True)
        kubelet.add_namespace("plain")
        for node in NODES:
            kubelet.script(node, stdout=demo_json(node))
        monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path)))
        monkeypatch.setenv("KUBECTL_DRA_NO_SPINNER", "1")
        yield server, kubelet


def expected(run, node: str) -> str:
    result = run("nvml", "--demo", "--node", node, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return result.stdout


# ---------------------------------------------------------------------------- each way in returns the fixture


def test_driver_pod_returns_the_fixture_snapshot(run, cluster):
    server, kubelet = cluster
    kubelet.add_driver_pod("dgx-h100-01")
    result = run("nvml", "--node", "dgx-h100-01", "--via", "driver-pod", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected(run, "dgx-h100-01")
    [(pod, container, command)] = kubelet.execs
    assert pod == "nvidia-dra-driver-gpu/nvidia-dra-driver-gpu-kubelet-plugin-dgx-h100-01" and container == "gpus"
    assert command[:2] == ["sh", "-c"] and command[3:] == [
        "kubectl-dra-collect", "--nvidia-smi", "chroot /driver-root nvidia-smi", "--timeout", "20", "--sysfs", "/sys"]
    assert kubelet.created == []  # creates nothing


def test_driver_pod_v4_only_server(run, cluster, monkeypatch):
    """A server that speaks only v4.channel.k8s.io (no close-channel frames) works the same."""
    import tests.fakekubelet as fk

    monkeypatch.setattr(fk, "PROTOCOLS", ("v4.channel.k8s.io",))
    server, kubelet = cluster
    kubelet.add_driver_pod("l40s-01")
    result = run("nvml", "--node", "l40s-01", "--via", "driver-pod", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected(run, "l40s-01")


def test_admin_claim_returns_the_fixture_snapshot_and_cleans_up(run, cluster):
    server, kubelet = cluster
    result = run("nvml", "--node", "a100-mig-01", "--via", "admin-claim", "-n", NS, "--image", "example/img:1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected(run, "a100-mig-01")
    [pod] = [o for o in kubelet.created if o["kind"] == "Pod"]
    spec = pod["spec"]
    assert "nodeName" not in spec
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a100-mig-01"]}]}]
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    assert spec["activeDeadlineSeconds"] > 0 and spec["securityContext"]["runAsNonRoot"] is True
    container = spec["containers"][0]
    assert container["image"] == "example/img:1" and container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["command"][:2] == ["sh", "-c"] and container["command"][3:] == ["kubectl-dra-collect", "--timeout", "20"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    claim_names = [c["resourceClaimName"] for c in spec["resourceClaims"]]
    assert len(claim_names) == 1
    # the pod owned the claim; both are gone
    assert kubelet.leftovers() == []
    assert f"pod/{pod['metadata']['name']}" in kubelet.deleted


def test_admin_claim_manifest(cluster):
    """allocationMode All per class on the node, adminAccess, taints tolerated, owned by the pod."""
    from kubectl_dra.nvml.remote import claim_manifest, plan_claims

    class D:
        def __init__(self, t, uuid):
            self.t, self.uuid, self.driver, self.consumes_counters = t, uuid, "gpu.nvidia.com", ()

        def attr(self, name, default=None):
            return {"type": self.t, "uuid": self.uuid}.get(name, default)

    plan = plan_claims([D("gpu", "GPU-1"), D("mig", "MIG-1"), D("mig", "MIG-2")])
    assert plan == [[("gpu.nvidia.com", None), ("mig.nvidia.com", None)]]
    claim = claim_manifest("c", NS, "n1", plan[0], "v1", {"name": "p", "uid": "u-1"})
    assert claim["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u-1"}]
    assert [r["exactly"] for r in claim["spec"]["devices"]["requests"]] == [
        {"deviceClassName": "gpu.nvidia.com", "allocationMode": "All", "adminAccess": True,
         "tolerations": [{"operator": "Exists"}]},
        {"deviceClassName": "mig.nvidia.com", "allocationMode": "All", "adminAccess": True,
         "tolerations": [{"operator": "Exists"}]}]
    v1beta1 = claim_manifest("c", NS, "n1", plan[0], "v1beta1", None)
    assert v1beta1["spec"]["devices"]["requests"][0]["adminAccess"] is True


def test_admin_claim_splits_more_than_32_devices(cluster):
    from kubectl_dra.nvml.remote import MAX_RESULTS, plan_claims

    class D:
        def __init__(self, t, uuid):
            self.t, self.uuid = t, uuid

        def attr(self, name, default=None):
            return {"type": self.t, "uuid": self.uuid}.get(name, default)

    devices = [D("gpu", f"GPU-{i:02}") for i in range(8)] + [D("mig", f"MIG-{i:02}") for i in range(56)]
    plan = plan_claims(devices)
    sizes = [sum(sel.count("'GPU-") + sel.count("'MIG-") for _, sel in claim) for claim in plan]
    assert sizes == [32, 32] and all(s <= MAX_RESULTS for s in sizes)
    listed = " ".join(sel for claim in plan for _, sel in claim)
    assert all(f"'{d.uuid}'" in listed for d in devices)


def test_debug_pod_returns_the_fixture_snapshot(run, cluster):
    server, kubelet = cluster
    result = run("nvml", "--node", "l40s-01", "--via", "debug-pod", "-n", "plain", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected(run, "l40s-01")
    [pod] = kubelet.created
    spec = pod["spec"]
    assert spec["nodeName"] == "l40s-01" and spec["hostPID"] is True
    assert spec["containers"][0]["securityContext"] == {"privileged": True}
    assert spec["containers"][0]["command"][:4] == ["chroot", "/host", "sh", "-c"]
    assert kubelet.leftovers() == []


def test_auto_falls_back_to_admin_claim_without_a_driver_pod(run, cluster):
    server, kubelet = cluster
    result = run("nvml", "--node", "dgx-h100-01", "-n", NS, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected(run, "dgx-h100-01")
    assert kubelet.execs == [] and len([o for o in kubelet.created if o["kind"] == "Pod"]) == 1


def test_remote_compare_is_in_sync(run, cluster):
    server, kubelet = cluster
    kubelet.add_driver_pod("a100-mig-01")
    result = run("nvml", "--node", "a100-mig-01", "--via", "driver-pod", "--compare")
    assert result.exit_code == 0, result.stderr
    assert "node a100-mig-01: in sync" in result.stdout


# ---------------------------------------------------------------------------- failures: one error line, nothing left


def _one_error(result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_no_driver_pod(run, cluster):
    result = run("nvml", "--node", "l40s-01", "--via", "driver-pod")
    _one_error(result, ExitCode.REMOTE, "no NVIDIA DRA driver kubelet-plugin pod on node l40s-01")
    assert "--via admin-claim" in result.stderr


def test_exec_forbidden(run, cluster):
    server, kubelet = cluster
    kubelet.add_driver_pod("l40s-01")
    kubelet.script("l40s-01", forbid_exec=True)
    result = run("nvml", "--node", "l40s-01", "--via", "driver-pod")
    _one_error(result, ExitCode.CLUSTER, "forbidden: cannot create pods/exec", 'cannot create resource "pods/exec"')
    assert "kubectl-dra-nvml-exec" in result.stderr


def test_exec_hang_times_out(run, cluster):
    server, kubelet = cluster
    kubelet.add_driver_pod("l40s-01")
    kubelet.script("l40s-01", hang=True)
    result = run("nvml", "--node", "l40s-01", "--via", "driver-pod", "--timeout", "200ms")
    _one_error(result, ExitCode.REMOTE, "did not finish within 0.7s")


def test_exec_nonzero_exit_without_output(run, cluster):
    server, kubelet = cluster
    kubelet.add_driver_pod("l40s-01")
    kubelet.script("l40s-01", exit_code=2, stderr="NVIDIA-SMI has failed because it couldn't communicate with the driver")
    result = run("nvml", "--node", "l40s-01", "--via", "driver-pod")
    _one_error(result, ExitCode.REMOTE, "failed with exit code 2", "couldn't communicate with the driver")


def test_exec_cannot_start(run, cluster):
    server, kubelet = cluster
    kubelet.add_driver_pod("l40s-01")
    kubelet.script("l40s-01", exec_error='exec: "sh": executable file not found in $PATH')
    result = run("nvml", "--node", "l40s-01", "--via", "driver-pod")
    _one_error(result, ExitCode.REMOTE, 'executable file not found')
    assert "neither a shell nor chroot" in result.stderr
    # first the collector in the container's shell, then the whole collector chrooted into the driver root
    assert [c[:2] for _, _, c in kubelet.execs] == [["sh", "-c"], ["/busybox/sh", "-c"], ["chroot", "/driver-root"]]
    assert kubelet.execs[2][2][2:4] == ["sh", "-c"]


def test_image_pull_error_cleans_up(run, cluster):
    server, kubelet = cluster
    kubelet.script("l40s-01", image_error='pull access denied for nosuch/image')
    result = run("nvml", "--node", "l40s-01", "--via", "admin-claim", "-n", NS, "--image", "nosuch/image")
    _one_error(result, ExitCode.REMOTE, "cannot pull the collector image nosuch/image", "ErrImagePull")
    assert kubelet.leftovers() == []


def test_unschedulable_cleans_up(run, cluster):
    server, kubelet = cluster
    kubelet.script("l40s-01", unschedulable="0/6 nodes are available: 1 cannot allocate all claims")
    result = run("nvml", "--node", "l40s-01", "--via", "admin-claim", "-n", NS)
    _one_error(result, ExitCode.REMOTE, "cannot be scheduled on node l40s-01", "cannot allocate all claims")
    assert kubelet.leftovers() == []


def test_pod_timeout_cleans_up(run, cluster):
    server, kubelet = cluster
    kubelet.script("l40s-01", hang=True)
    result = run("nvml", "--node", "l40s-01", "--via", "debug-pod", "-n", "plain", "--timeout", "200ms")
    _one_error(result, ExitCode.REMOTE, "did not finish within 0.7s", "bound to node l40s-01")
    assert kubelet.leftovers() == []


def test_unlabelled_namespace_gives_the_upstream_rule(run, cluster):
    server, kubelet = cluster
    result = run("nvml", "--node", "l40s-01", "--via", "admin-claim", "-n", "plain")
    _one_error(result, ExitCode.REMOTE, 'namespace "plain" is not labelled resource.kubernetes.io/admin-access="true"',
               "Kubernetes 1.34")
    assert kubelet.created == [] and kubelet.leftovers() == []


def test_server_rule_when_the_namespace_cannot_be_read(run, cluster):
    """Without `get namespaces` the client cannot check the label: the server's 422 says the same."""
    server, kubelet = cluster
    server.fail("/api/v1/namespaces/plain", 403, times=1)  # the first request under it is the namespace GET
    result = run("nvml", "--node", "l40s-01", "--via", "admin-claim", "-n", "plain")
    _one_error(result, ExitCode.REMOTE, "resource.kubernetes.io/admin-access")
    assert kubelet.leftovers() == []


def test_dropped_admin_access_aborts(run, cluster):
    server, _ = cluster
    kubelet = FakeKubelet(server, admin_namespace_rule=False, drop_admin_access=True)
    server.routes.reverse()  # this kubelet first
    kubelet.script("l40s-01", stdout=demo_json("l40s-01"))
    result = run("nvml", "--node", "l40s-01", "--via", "admin-claim", "-n", NS)
    _one_error(result, ExitCode.REMOTE, "dropped adminAccess", "DRAAdminAccess")
    assert kubelet.leftovers() == []


def test_refuses_admin_claim_under_dynamic_mig(run, cluster):
    result = run("nvml", "--node", "h100-dmig-01", "--via", "admin-claim", "-n", NS)
    _one_error(result, ExitCode.REMOTE, "refusing an admin claim on node h100-dmig-01", "DynamicMIG")


def test_refuses_admin_claim_with_time_slicing_gate(run, cluster):
    server, kubelet = cluster
    kubelet.add_driver_pod("l40s-01", feature_gates="TimeSlicingSettings=true")
    result = run("nvml", "--node", "l40s-01", "--via", "admin-claim", "-n", NS)
    _one_error(result, ExitCode.REMOTE, "TimeSlicingSettings", "time-slicing")
    assert kubelet.created == []


def test_auto_fails_naming_the_other_ways(run, cluster):
    result = run("nvml", "--node", "l40s-01", "-n", "plain")
    _one_error(result, ExitCode.REMOTE, "driver-pod: no NVIDIA DRA driver", "admin-claim: namespace")
    assert "--via debug-pod" in result.stderr


def test_cleanup_deletes_leftovers_by_label(run, cluster):
    server, kubelet = cluster
    from kubectl_dra.nvml.remote import LABELS

    server.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kubectl-dra-nvml-x", "namespace": NS,
                                                                  "labels": dict(LABELS)}},
               {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                "metadata": {"name": "kubectl-dra-nvml-x-0", "namespace": NS, "labels": dict(LABELS)}},
               {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "someone-else", "namespace": NS}})
    result = run("nvml", "--cleanup", "-n", NS)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (f"deleted pod/kubectl-dra-nvml-x -n {NS}\n"
                             f"deleted resourceclaim/kubectl-dra-nvml-x-0 -n {NS}\n")
    assert kubelet.leftovers() == []
    assert "someone-else" in [p["metadata"]["name"] for p in server.objects("pods", group="")]


@pytest.mark.parametrize("args, message", [
    (["--via", "driver-pod"], "--via collects from a remote node: name it with --node NODE"),
    (["--all-nodes", "--node", "x"], "--node and --all-nodes/-l cannot be used together"),
    (["--demo", "--node", "l40s-01", "--via", "driver-pod"], "--demo reads saved data"),
    (["--image", "x"], "--image apply to remote collection"),
    (["--via", "local", "--all-nodes"], "--via local reads this machine"),
])
def test_usage_errors(run, args, message):
    result = run("nvml", *args)
    assert result.exit_code == ExitCode.USAGE and message in result.stderr, result.stderr


# ---------------------------------------------------------------------------- fleet


def _drifted(node: str) -> str:
    """The node's snapshot with one GPU's memory changed and another GPU gone."""
    data = json.loads(demo_json(node))
    data = copy.deepcopy(data)
    data["gpus"][0]["memoryBytes"] = data["gpus"][0]["memoryBytes"] // 2
    data["gpus"].pop()
    return json.dumps(data)


def test_fleet_reports_the_node_that_drifts(run, cluster):
    server, kubelet = cluster
    for node in NODES:
        kubelet.add_driver_pod(node)
    kubelet.script("l40s-01", stdout=_drifted("l40s-01"))
    result = run("nvml", "--all-nodes", "--via", "driver-pod", "-o", "json")
    assert result.exit_code == ExitCode.DRIFT, result.stderr
    assert result.stderr == ""  # no progress bar off a terminal
    report = json.loads(result.stdout)
    assert report["kind"] == "NvmlFleetReport"
    status = {n["node"]: n["status"] for n in report["nodes"]}
    assert status == {"a100-mig-01": "in-sync", "dgx-h100-01": "in-sync", "h100-dmig-01": "in-sync", "l40s-01": "drift"}
    l40s = next(n for n in report["nodes"] if n["node"] == "l40s-01")
    assert l40s["drift"]["extra"] == ["gpu-3"]  # published, no GPU behind it
    assert {c["key"] for c in l40s["drift"]["changed"]} == {"gpu.nvidia.com/memory"}
    assert report["summary"] == {"nodes": 4, "inSync": 3, "drift": 1, "failed": 0}
    text = run("nvml", "--all-nodes", "--via", "driver-pod")
    assert text.exit_code == ExitCode.DRIFT
    assert "slice devices with no GPU behind them: gpu-3" in text.stdout
    assert "4 nodes: 3 in sync, 1 drifting, 0 could not be read" in text.stdout


def test_fleet_lists_partial_failures(run, cluster):
    server, kubelet = cluster
    for node in ("a100-mig-01", "dgx-h100-01"):
        kubelet.add_driver_pod(node)
    kubelet.add_driver_pod("l40s-01")
    kubelet.script("l40s-01", forbid_exec=True)
    result = run("nvml", "--all-nodes", "--via", "driver-pod", "-o", "json")
    assert result.exit_code == ExitCode.REMOTE, result.stderr
    report = json.loads(result.stdout)
    failed = {n["node"]: n for n in report["nodes"] if n["status"] == "failed"}
    assert set(failed) == {"h100-dmig-01", "l40s-01"}
    assert failed["l40s-01"]["exitCode"] == ExitCode.CLUSTER and "pods/exec" in failed["l40s-01"]["error"]
    assert failed["h100-dmig-01"]["exitCode"] == ExitCode.REMOTE


def test_fleet_by_label_selector(run, cluster):
    server, kubelet = cluster
    for node in NODES:
        kubelet.add_driver_pod(node)
    result = run("nvml", "-l", "nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3", "--via", "driver-pod", "-o", "json")
    assert result.exit_code == 0, result.stderr
    nodes = [n["node"] for n in json.loads(result.stdout)["nodes"]]
    assert nodes and set(nodes) <= {"dgx-h100-01", "h100-dmig-01"}


# ---------------------------------------------------------------------------- RBAC: docs/rbac.yaml grants what each way does

ROLES = {"driver-pod": "kubectl-dra-nvml-exec", "admin-claim": "kubectl-dra-nvml-admin-claim",
         "debug-pod": "kubectl-dra-nvml-debug-pod"}


def _rules(name: str) -> list[dict]:
    import yaml

    docs = yaml.safe_load_all((ROOT / "docs" / "rbac.yaml").read_text(encoding="utf-8"))
    return next(d for d in docs if d and d["kind"] == "ClusterRole" and d["metadata"]["name"] == name)["rules"]


def _access(req) -> tuple[str, str, str] | None:
    """(group, resource[/subresource], verb) of one request; None for discovery."""
    parts = [p for p in req.path.strip("/").split("/") if p]
    if parts[0] == "api" and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    elif rest[0] == "namespaces":
        return ("", "namespaces", "get" if len(rest) == 2 else "list")
    resource = rest[0] + (f"/{rest[2]}" if len(rest) == 3 else "")
    verb = {"POST": "create", "DELETE": "delete"}.get(req.method) or ("get" if len(rest) >= 2 else "list")
    if resource.endswith("/exec"):
        verb = "create"
    return group, resource, verb


def _granted(rules: list[dict], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


@pytest.mark.parametrize("via", sorted(ROLES))
def test_each_way_needs_only_its_role_and_the_reader(run, cluster, via):
    server, kubelet = cluster
    kubelet.add_driver_pod("l40s-01")
    server.clear_requests()
    result = run("nvml", "--node", "l40s-01", "--via", via, "-n", NS if via != "debug-pod" else "plain")
    assert result.exit_code == 0, result.stderr
    role, reader = _rules(ROLES[via]), _rules("kubectl-dra-reader")
    accesses = {a for a in map(_access, server.requests) if a}
    writes = {a for a in accesses if a[2] != "get" and a[2] != "list"} | {a for a in accesses if "/" in a[1]}
    assert writes and [a for a in writes if not _granted(role, *a)] == []
    assert [a for a in accesses if not (_granted(role, *a) or _granted(reader, *a))] == []


# ---------------------------------------------------------------------------- the views: topology and show --nvml live


def test_topology_nvml_live_matches_the_snapshot(run, cluster):
    server, kubelet = cluster
    kubelet.add_driver_pod("dgx-h100-01")
    live = run("topology", "dgx-h100-01", "--nvml", "live:driver-pod", "-o", "json")
    assert live.exit_code == 0, live.stderr
    demo = run("topology", "dgx-h100-01", "--demo", "-o", "json")
    assert json.loads(live.stdout)["nvml"] == json.loads(demo.stdout)["nvml"]
    assert len(kubelet.execs) == 1


def test_show_nvml_live_adds_the_gpu(run, cluster):
    server, kubelet = cluster
    kubelet.add_driver_pod("a100-mig-01")
    result = run("show", "a100-mig-01/gpu-0-mig-1g10gb-19-2", "--nvml", "live:driver-pod", "-o", "json")
    assert result.exit_code == 0, result.stderr
    item = json.loads(result.stdout)
    assert item["nvml"]["gpu"]["uuid"] == item["attributes"]["gpu.nvidia.com/parentUUID"]
    assert item["nvml"]["migDevice"]["uuid"] == item["attributes"]["gpu.nvidia.com/uuid"]
    text = run("show", "a100-mig-01/gpu-0-mig-1g10gb-19-2", "--nvml", "live:driver-pod")
    assert "NVML (live, node a100-mig-01" in text.stdout and "MIG device: 1g.10gb" in text.stdout


def test_show_nvml_live_errors(run, cluster):
    result = run("show", "l40s-01/gpu-0", "--nvml", "live:driver-pod")
    _one_error(result, ExitCode.REMOTE, "no NVIDIA DRA driver kubelet-plugin pod on node l40s-01")
    result = run("show", "l40s-01/gpu-0", "--nvml", "live:nope")
    assert result.exit_code == ExitCode.USAGE and "unknown way in 'nope'" in result.stderr


# ---------------------------------------------------------------------------- the real collector's output through each way in


@pytest.fixture(scope="module")
def collected_a100() -> str:
    """What collector.sh prints on an A100 MIG node (nvidia-smi replaced by the saved outputs of tests/data)."""
    import os
    import subprocess

    from kubectl_dra.nvml.smi import collector_argv

    data = ROOT / "tests" / "data" / "nvidia-smi"
    argv = collector_argv(nvidia_smi=f"sh {data / 'fake-nvidia-smi'}", timeout=10, sysfs="/nonexistent", xid=False)
    env = {**os.environ, "FAKE_SMI_DIR": str(data / "a100-mig"), "NODE_NAME": "a100-mig-01"}
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=True).stdout
    assert "@@kubectl-dra begin query" in out and "@@kubectl-dra done" in out
    return out


@pytest.mark.parametrize("via, namespace", [("driver-pod", None), ("admin-claim", NS), ("debug-pod", "plain")])
def test_collector_output_through_each_way_is_the_saved_snapshot(run, cluster, collected_a100, tmp_path, via, namespace):
    server, kubelet = cluster
    kubelet.add_driver_pod("a100-mig-01")
    kubelet.script("a100-mig-01", stdout=collected_a100)
    saved = tmp_path / "collected.txt"
    saved.write_text(collected_a100, encoding="utf-8")
    want = run("nvml", "--nvidia-smi", str(saved), "--node", "a100-mig-01", "-o", "json")
    assert want.exit_code == 0, want.stderr
    args = ["nvml", "--node", "a100-mig-01", "--via", via, "-o", "json"] + (["-n", namespace] if namespace else [])
    got = run(*args)
    assert got.exit_code == 0, got.stderr
    assert got.stdout == want.stdout
    assert json.loads(got.stdout)["source"] == "nvidia-smi"
    assert kubelet.leftovers() == []


def test_fleet_interrupt_stops_every_node_and_cleans_up(cluster):
    """Ctrl-C in fleet mode: running nodes stop waiting at once and delete their pods."""
    import threading

    from kubectl_dra.kube.live import LiveCluster
    from kubectl_dra.nvml.fleet import collect_fleet
    from kubectl_dra.nvml.remote import RemoteOptions

    server, kubelet = cluster
    kubelet.script("dgx-h100-01", hang=True)  # its pod runs forever
    opts = RemoteOptions(via="debug-pod", namespace="plain", timeout=600, poll=0.05)
    outcome: dict = {}

    def interrupt(report):
        raise KeyboardInterrupt

    def fleet():
        try:
            collect_fleet(LiveCluster(), ["l40s-01", "dgx-h100-01"], {}, opts, concurrency=2, on_done=interrupt)
        except KeyboardInterrupt:
            outcome["interrupted"] = True

    worker = threading.Thread(target=fleet)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "collect_fleet did not stop after Ctrl-C (hang guard)"
    assert outcome == {"interrupted": True} and opts.cancel.is_set()
    assert len(kubelet.created) == 2 and kubelet.leftovers() == []


def test_unknown_node_is_not_found(run, cluster):
    result = run("nvml", "--node", "dgx-h100-1", "--via", "driver-pod")
    _one_error(result, ExitCode.NOT_FOUND, 'node "dgx-h100-1" not found')
    assert "did you mean dgx-h100-01" in result.stderr


def test_real_kubectl_exec_speaks_to_the_fake(tmp_path):
    """The fake's exec is the protocol kubectl itself speaks (websocket, v5.channel.k8s.io): output,
    stderr and the exit code arrive as they would from a kubelet."""
    import shutil
    import subprocess

    kubectl = shutil.which("kubectl", path=str(ROOT / ".venv" / "bin")) or shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    with FakeApiServer(token=None) as server:  # kubectl sends no credentials over http
        kubelet = FakeKubelet(server)
        kubelet.add_driver_pod("n1")
        kubelet.script("n1", stdout="GPU 0: NVIDIA H100\n", stderr="warn\n", exit_code=3)
        result = subprocess.run([kubectl, "--kubeconfig", str(server.write_kubeconfig(tmp_path)), "exec", "-n",
                                 "nvidia-dra-driver-gpu", "nvidia-dra-driver-gpu-kubelet-plugin-n1", "-c", "gpus", "--",
                                 "nvidia-smi", "-L"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert result.stdout == "GPU 0: NVIDIA H100\n"
    assert result.stderr.startswith("warn\n") and "command terminated with exit code 3" in result.stderr
    assert "Unknown stream" not in result.stderr
    assert kubelet.execs == [("nvidia-dra-driver-gpu/nvidia-dra-driver-gpu-kubelet-plugin-n1", "gpus", ["nvidia-smi", "-L"])]


def test_progress_bar_only_on_a_terminal(monkeypatch):
    import io
    import sys

    from kubectl_dra.cli.nvml_remote import _Bar

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("KUBECTL_DRA_NO_SPINNER", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for stream, shown in ((io.StringIO(), False), (Tty(), True)):
        monkeypatch.setattr(sys, "stderr", stream)
        with _Bar(2) as bar:
            bar.advance("node-a")
            bar.advance("node-b")
        assert ("collecting NVML facts" in stream.getvalue()) is shown, stream.getvalue()


def test_collector_that_cannot_run_nvidia_smi_is_an_error(run, cluster):
    """No nvidia-smi where the collector looked: an error naming it, not a node without GPUs."""
    import subprocess

    from kubectl_dra.nvml.smi import collector_argv

    out = subprocess.run(collector_argv(nvidia_smi="/nonexistent/nvidia-smi", timeout=5, sysfs="/nonexistent", xid=False),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    server, kubelet = cluster
    kubelet.add_driver_pod("l40s-01")
    kubelet.script("l40s-01", stdout=out)
    result = run("nvml", "--node", "l40s-01", "--via", "driver-pod")
    _one_error(result, ExitCode.REMOTE, "could not read any GPU", "/nonexistent/nvidia-smi")


def test_implicit_remote_hints_at_via_local(run):
    """`nvml --node N` off node N goes through the cluster; when there is none, the hint names --via local."""
    result = run("nvml", "--node", "some-other-node")
    _one_error(result, ExitCode.CLUSTER, "no kubeconfig found")
    assert "add --via local" in result.stderr


def test_show_nvml_file(run, tmp_path):
    saved = tmp_path / "dgx.json"
    saved.write_text(demo_json("dgx-h100-01"), encoding="utf-8")
    result = run("show", "dgx-h100-01/gpu-3", "--demo", "--nvml", str(saved), "-o", "json")
    assert result.exit_code == 0, result.stderr
    item = json.loads(result.stdout)
    assert item["nvml"]["gpu"]["uuid"] == item["attributes"]["gpu.nvidia.com/uuid"]
    text = run("show", "dgx-h100-01/gpu-3", "--demo", "--nvml", str(saved)).stdout
    assert f"NVML ({saved}, node dgx-h100-01" in text and "NVLink: 18 active" in text


def test_kubeconfig_and_context_flags_choose_the_cluster(run, cluster, tmp_path, monkeypatch):
    """--kubeconfig / --context (not only $KUBECONFIG) reach the remote paths: nvml, fleet, show and topology."""
    server, kubelet = cluster
    kubelet.add_driver_pod("l40s-01")
    kubeconfig = str(server.write_kubeconfig(tmp_path / "flags"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nowhere"))
    flags = ["--kubeconfig", kubeconfig, "--context", "fake"]
    assert run("nvml", "--node", "l40s-01", "--via", "driver-pod", *flags).exit_code == 0
    assert run("nvml", "--node", "l40s-01", "--via", "driver-pod", "--compare", *flags).exit_code == 0
    assert run("nvml", "-l", "kubernetes.io/hostname=l40s-01", "--via", "driver-pod", *flags).exit_code == 0
    assert run("nvml", "--cleanup", "-n", NS, *flags).exit_code == 0
    assert run("show", "l40s-01/gpu-0", "--nvml", "live:driver-pod", *flags).exit_code == 0
    assert run("topology", "l40s-01", "--nvml", "live:driver-pod", *flags).exit_code == 0
