"""The control plane itself: version, readiness, the demo cluster applied and scheduled, clean shutdown."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e import cluster
from tests.e2e.gate import need_go
from tests.e2e.kapi import Api

pytestmark = pytest.mark.e2e


def test_version_is_the_pinned_release(api: Api):
    assert api.get_raw("/version")["gitVersion"] == cluster.KUBE_VERSION


def test_resource_api_versions_served(api: Api):
    groups = api.get_raw("/apis/resource.k8s.io")
    served = {v["version"] for v in groups["versions"]}
    assert {"v1", "v1beta1", "v1beta2"} <= served
    assert groups["preferredVersion"]["version"] == "v1"


def test_demo_pods_scheduled_by_the_real_scheduler(demo_cluster):
    bound = {k for k, o in demo_cluster.items() if o.bound}
    # the 8-GPU pretraining job cannot fit next to llm-train-0 (4 GPUs) and nccl-probe (1 GPU) on the one DGX
    assert "research/pretrain-70b" not in bound
    assert {"ml-team/llm-train-0", "inference/triton-0", "research/jax-tpu"} <= bound
    assert "cannot allocate all claims" in demo_cluster["research/pretrain-70b"].message


def test_up_and_down_from_the_command_line(tmp_path):
    """The public interface other checks use: `up --dir` prints the kubeconfig, `down --dir` leaves nothing."""
    need_go("the control plane")
    script = str(cluster.HERE / "cluster.py")
    up = subprocess.run([sys.executable, script, "up", "--dir", str(tmp_path)], capture_output=True, text=True, check=False,
                        timeout=600)
    try:
        assert up.returncode == 0, up.stderr
        assert up.stdout.strip() == str(tmp_path / "kubeconfig")
        cp = cluster.ControlPlane.load(tmp_path)
        pids = dict(cp.pids)
        assert set(pids) == set(cluster.COMPONENTS)
        assert Api(cp).get_raw("/version")["gitVersion"] == cluster.KUBE_VERSION
    finally:
        down = subprocess.run([sys.executable, script, "down", "--dir", str(tmp_path)], capture_output=True, check=False,
                              text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert not [name for name, pid in pids.items() if cluster._alive(pid)]
