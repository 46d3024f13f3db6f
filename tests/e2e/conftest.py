"""The real-control-plane tier: one kube-apiserver + etcd + kube-scheduler + kube-controller-manager
per test run (tests/e2e/cluster.py), shared by every e2e test; tests isolate themselves by namespace
and by the names and labels of what they create.

KUBECTL_DRA_E2E: unset -> run when Go is on PATH, else skip with one reason; "require" -> fail
instead of skipping (.ci/run sets it); "0"/"off" -> skip.
"""

from __future__ import annotations

import pytest

from tests.e2e import cluster
from tests.e2e.gate import need_go


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    need_go("the control plane")
    base = tmp_path_factory.mktemp("control-plane")
    try:
        cp = cluster.up(base, die_with_parent=True, log=lambda m: print(f"[e2e] {m}", flush=True))
    except cluster.ClusterError as e:
        pytest.fail(f"control plane did not start: {e}", pytrace=False)
    try:
        yield cp
    finally:
        cluster.down(base)


@pytest.fixture(scope="session")
def api(control_plane):
    from tests.e2e.kapi import Api

    return Api(control_plane)


@pytest.fixture(scope="session")
def demo_cluster(api):
    """The demo cluster rebuilt on the live server, pods scheduled by the real scheduler."""
    from tests.e2e.objects import load_demo

    return load_demo(api)


@pytest.fixture
def live(monkeypatch, control_plane):
    """KUBECONFIG -> the control plane's admin kubeconfig for `kubectl dra` run in this test."""
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig))
    return control_plane
