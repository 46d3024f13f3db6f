"""Faults the real control plane produces (issue 16), seen through kubectl-dra's client: 404 on a
collection that is not served (exit 4, not 3) against a named object's 404 (exit 3), 403 on a pod
read by name (forbidden, exit 4, never "not found"), and a write whose answer is lost ("outcome
unknown"). RBAC 403s, 422 and 409 are in test_rbac.py / test_commands.py. A 410 on a stale
resourceVersion cannot be had from a fresh control plane (its watch cache serves every version since
it started, even after an etcd compaction); the fake API server's tests cover it. ~1 s."""

from __future__ import annotations

import pytest

from kubectl_dra.errors import ClusterError, NotFoundError

pytestmark = pytest.mark.e2e


def _live(kubeconfig):
    from kubectl_dra.kube.live import LiveCluster

    return LiveCluster(kubeconfig=str(kubeconfig), request_timeout=10.0)


def test_a_collection_that_is_not_served_is_exit_4(control_plane):
    from kubectl_dra.kube.live import NotServed

    live = _live(control_plane.kubeconfig)
    with pytest.raises(NotServed, match="does not serve") as raised:
        list(live.list("/apis/resource.k8s.io/v1alpha3/resourceslices", what="resourceslices"))
    assert not isinstance(raised.value, NotFoundError) and int(raised.value.exit_code) == 4


def test_a_named_object_that_does_not_exist_is_exit_3(control_plane):
    live = _live(control_plane.kubeconfig)
    with pytest.raises(NotFoundError):
        live.get("/api/v1/namespaces/default/pods/no-such-pod", what='pod "no-such-pod"')


def test_forbidden_pod_read_is_forbidden_not_not_found(run, control_plane, monkeypatch):
    monkeypatch.setenv("KUBECTL_DRA_NO_FORK", "1")
    result = run("explain", "pod/no-such-pod", "-n", "default", "--kubeconfig", str(control_plane.kubeconfig_for("nobody")))
    assert result.exit_code == 4, result.stderr
    assert result.stderr.startswith("error: forbidden:") and "not found" not in result.stderr.splitlines()[0]


def test_write_that_times_out_says_the_outcome_is_unknown(control_plane, monkeypatch):
    """A create whose answer does not come in time: the server may have stored it."""
    from kubectl_dra.kube import live as live_module

    live = _live(control_plane.kubeconfig)
    live._connect()
    real = live_module._read_body

    def stalled(raw, deadline):  # the server answered; we pretend the answer never arrived in time
        raise live_module._Overdue()

    monkeypatch.setattr(live_module, "_read_body", stalled)
    claim = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
             "metadata": {"name": "faults-timeout", "namespace": "default"},
             "spec": {"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "x"}}]}}}
    with pytest.raises(ClusterError, match="outcome is unknown"):
        live.create("/apis/resource.k8s.io/v1/namespaces/default/resourceclaims", claim, what="the claim", dry_run=True)
    monkeypatch.setattr(live_module, "_read_body", real)
