"""-n/-A for device lists and claims NAME / --state / --node (kubectl_dra.model.claim_query) on the demo."""

from __future__ import annotations

import pytest

from kubectl_dra.errors import UsageError
from kubectl_dra.model.claim_query import devices_in_namespace, select_claims


@pytest.fixture(scope="module")
def cluster():
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    return load_cluster(SourceOptions(demo=True), ())


def test_namespace_keeps_the_devices_its_claims_hold(cluster):
    views = cluster.device_views()
    got = devices_in_namespace(views, "inference", False)
    assert got.views and all(any(h.claim.namespace == "inference" for h in v.holders) for v in got.views)
    held_elsewhere = sum(1 for v in views if v.holders and not any(h.claim.namespace == "inference" for h in v.holders))
    assert got.hidden_free == len(views) - len(got.views) - held_elsewhere
    assert devices_in_namespace(views, "inference", True).views == list(views)
    assert devices_in_namespace(views, None, False).views == list(views)
    assert devices_in_namespace(views, "nothing-here", False).views == []


def test_select_claims(cluster):
    index = cluster.device_index()
    states = {c.ref: c.state for c in cluster.claims}
    pending = select_claims(cluster.claims, states=["pending"])
    assert {c.ref for c in pending} == {r for r, s in states.items() if s == "pending"} != set()
    on_dgx = select_claims(cluster.claims, node="dgx-h100-01", device_index=index)
    assert on_dgx and all(any(index[(r.driver, r.pool, r.device)].device.node_label == "dgx-h100-01"
                              for r in c.results) for c in on_dgx)
    first = cluster.claims[0]
    assert select_claims(cluster.claims, names=[first.name]) == [c for c in cluster.claims if c.name == first.name]
    assert select_claims(cluster.claims, names=[first.ref]) == [first]
    with pytest.raises(UsageError, match="--state must be one of pending, allocated, reserved"):
        select_claims(cluster.claims, states=["busy"])
