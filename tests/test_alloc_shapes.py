"""The per-node shape cache of the simulator (kubectl_dra/alloc/shapes.py): nodes that look alike to
the allocator share one search and one funnel count, and the answer never differs from searching
every node on its own.

Every test compares against the full path: the same simulation with ``ShapeCache.key`` returning
None (no node is ever replayed), and where it matters the node simulated alone."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubectl_dra.alloc import Features, simulate
from kubectl_dra.alloc.shapes import ShapeCache
from kubectl_dra.model.cluster import Cluster
from kubectl_dra.model.decode import decode
from tests.test_alloc_scenarios import FILES, build_cluster, load

V1 = "resource.k8s.io/v1"
DRIVER = "gpu.example.com"
CLASS = {
    "apiVersion": V1,
    "kind": "DeviceClass",
    "metadata": {"name": "gpu"},
    "spec": {"selectors": [{"cel": {"expression": f"device.driver == '{DRIVER}' && device.attributes['{DRIVER}'].type == 'gpu'"}}]},
}


def cluster_of(objects: list[dict]) -> Cluster:
    cluster = Cluster(source="test")
    for obj in objects:
        cluster.add(decode(obj))
    return cluster


_UUIDS = itertools.count()


def gpu(name: str, product: str = "9.0.0", numa: int = 0, kind: str = "string", type_: str = "gpu", **extra) -> dict:
    return {
        "name": name,
        "attributes": {
            "type": {"string": type_},
            "productName": {kind: product},
            "numa": {"int": numa},
            "uuid": {"string": f"GPU-{next(_UUIDS)}"},  # differs on every device, read by no selector
        },
        "capacity": {"memory": {"value": "80Gi"}},
        **extra,
    }


def node_slice(node: str, devices: list[dict]) -> dict:
    return {
        "apiVersion": V1,
        "kind": "ResourceSlice",
        "metadata": {"name": f"{node}-slice"},
        "spec": {"driver": DRIVER, "nodeName": node, "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
                 "devices": devices},
    }


def holder(name: str, node: str, device: str, admin: bool = False) -> dict:
    result = {"request": "r", "driver": DRIVER, "pool": node, "device": device}
    if admin:
        result["adminAccess"] = True
    return {
        "apiVersion": V1,
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "gpu", "count": 1}}]}},
        "status": {"allocation": {"devices": {"results": [result]}},
                   "reservedFor": [{"resource": "pods", "name": f"pod-{name}", "uid": "u"}]},
    }


def pending(count: int, *, match: str | None = "productName", selectors: tuple[str, ...] = (), **exactly) -> dict:
    request = {"deviceClassName": "gpu", "allocationMode": "ExactCount", "count": count, **exactly}
    if selectors:
        request["selectors"] = [{"cel": {"expression": s}} for s in selectors]
    devices: dict = {"requests": [{"name": "gpus", "exactly": request}]}
    if match:
        devices["constraints"] = [{"requests": ["gpus"], "matchAttribute": f"{DRIVER}/{match}"}]
    return {"apiVersion": V1, "kind": "ResourceClaim", "metadata": {"name": "want", "namespace": "default"},
            "spec": {"devices": devices}}


class Spy:
    """Counts replays and records each node's key (None: the full search)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.keys: dict[str, tuple | None] = {}
        self.replayed: list[str] = []
        key, replay = ShapeCache.key, ShapeCache.replay
        spy = self

        def spy_key(cache, view):
            got = key(cache, view)
            spy.keys[view.node.name] = got
            return got

        def spy_replay(cache, shape, view, budget):
            got = replay(cache, shape, view, budget)
            if got is not None:
                spy.replayed.append(view.node.name)
            return got

        monkeypatch.setattr(ShapeCache, "key", spy_key)
        monkeypatch.setattr(ShapeCache, "replay", spy_replay)


def without_cache(fn):
    """Run ``fn`` with every node searched in full."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ShapeCache, "key", lambda self, view: None)
        return fn()


def both(cluster: Cluster, subject, **kw) -> tuple[dict, dict]:
    cached = simulate(cluster, subject, **kw).to_dict()
    full = without_cache(lambda: simulate(cluster, subject, **kw).to_dict())
    return cached, full


# ---------------------------------------------------------------------- lookalike nodes


def test_lookalike_nodes_are_replayed_with_their_own_names(monkeypatch):
    objects = [CLASS]
    for n in ("n1", "n2", "n3"):
        objects.append(node_slice(n, [gpu(f"gpu-{i}") for i in range(4)]))
    objects.append(holder("h2", "n2", "gpu-3"))
    objects.append(holder("h3", "n3", "gpu-3"))
    objects.append(pending(3))
    cluster = cluster_of(objects)
    spy = Spy(monkeypatch)
    result = simulate(cluster, "claim/default/want")
    # n2 and n3 look alike (gpu-3 held); n1 does not (all free): one search each, n3 replayed
    assert spy.replayed == ["n3"]
    assert spy.keys["n2"] == spy.keys["n3"] != spy.keys["n1"]
    for n in ("n1", "n2", "n3"):
        got = result.node(n)
        assert [(r.pool, r.device) for r in got.results] == [(n, "gpu-0"), (n, "gpu-1"), (n, "gpu-2")]
        assert got.node_selectors["default/want"]["nodeSelectorTerms"][0]["matchFields"][0]["values"] == [n]
    # the in-use count names each node's own holder
    assert result.node("n2").funnels[0].in_use_by == {"default/h2": 1}
    assert result.node("n3").funnels[0].in_use_by == {"default/h3": 1}
    assert result.to_dict() == without_cache(lambda: simulate(cluster, "claim/default/want").to_dict())


def test_lookalike_nodes_that_do_not_fit_name_their_own_holders(monkeypatch):
    objects = [CLASS] + [node_slice(n, [gpu(f"gpu-{i}") for i in range(4)]) for n in ("n1", "n2")]
    objects += [holder(f"{n}-a", n, "gpu-1") for n in ("n1", "n2")] + [holder(f"{n}-b", n, "gpu-3") for n in ("n1", "n2")]
    objects.append(pending(3))
    cluster = cluster_of(objects)
    spy = Spy(monkeypatch)
    result = simulate(cluster, "claim/default/want")
    assert spy.replayed == ["n2"]
    [reason] = result.node("n2").reasons
    assert reason.code == "in-use"
    assert reason.message == ("request gpus: 4 devices match on node n2 but only 2 are free, 3 needed: "
                              "2 allocated to default/n2-a (1, pod pod-n2-a), default/n2-b (1, pod pod-n2-b)")
    assert reason.data["devices"] == [f"{DRIVER}/n2/gpu-1", f"{DRIVER}/n2/gpu-3"]
    assert result.to_dict() == without_cache(lambda: simulate(cluster, "claim/default/want").to_dict())


@pytest.mark.parametrize(
    ("odd", "why"),
    [
        (lambda devs: devs[1]["attributes"].update(productName={"string": "8.0.0"}), "a constrained attribute's value"),
        (lambda devs: devs[1]["attributes"].update(productName={"version": "9.0.0"}), "a constrained attribute's kind"),
        (lambda devs: devs[1]["attributes"].pop("productName"), "a constrained attribute missing"),
        (lambda devs: devs[1]["attributes"].update(type={"string": "nic"}), "the class selector's outcome"),
        (lambda devs: devs[1]["attributes"].update(numa={"int": 1}), "a request selector's outcome"),
        (lambda devs: devs.pop(), "the device count"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_one_observable_difference_makes_another_shape(monkeypatch, odd, why):
    """n1, n2 alike; n3 differs from them in one thing the allocator observes: its answer is its own."""
    objects = [CLASS]
    for n in ("n1", "n2", "n3"):
        devices = [gpu(f"gpu-{i}", numa=0) for i in range(4)]
        if n == "n3":
            odd(devices)
        objects.append(node_slice(n, devices))
    objects.append(pending(3, selectors=(f"device.attributes['{DRIVER}'].numa == 0",)))
    cluster = cluster_of(objects)
    spy = Spy(monkeypatch)
    cached = simulate(cluster, "claim/default/want").to_dict()
    assert spy.replayed == ["n2"], why
    assert spy.keys["n3"] != spy.keys["n1"], why
    assert cached == without_cache(lambda: simulate(cluster, "claim/default/want").to_dict()), why
    alone = simulate(cluster, "claim/default/want", nodes=["n3"]).to_dict()["nodes"][0]
    assert [_searched(n) for n in cached["nodes"] if n["node"] == "n3"] == [_searched(alone)], why


def test_which_selector_rejects_a_device_is_part_of_the_shape(monkeypatch):
    # n1, n2: gpu-1 fails the request selector (numa 1); n3: gpu-1 fails the class selector (a nic):
    # the same devices are selected, but the funnels count them at different stages
    objects = [CLASS]
    for n in ("n1", "n2", "n3"):
        devices = [gpu(f"gpu-{i}") for i in range(3)]
        devices[1]["attributes"].update(type={"string": "nic"}) if n == "n3" else devices[1]["attributes"].update(numa={"int": 1})
        objects.append(node_slice(n, devices))
    objects.append(pending(3, selectors=(f"device.attributes['{DRIVER}'].numa == 0",)))
    cluster = cluster_of(objects)
    spy = Spy(monkeypatch)
    result = simulate(cluster, "claim/default/want")
    assert spy.replayed == ["n2"]
    stages = {n: [(s.stage, s.count) for s in result.node(n).funnels[0].stages] for n in ("n2", "n3")}
    assert stages["n2"][:3] == [("visible", 3), ("class", 3), ("selector", 2)]
    assert stages["n3"][:3] == [("visible", 3), ("class", 2), ("selector", 2)]
    assert result.to_dict() == without_cache(lambda: simulate(cluster, "claim/default/want").to_dict())


def test_device_order_is_part_of_the_shape(monkeypatch):
    # n1, n2: numa 0, 1, 0, 1; n3 the same devices in reverse order (1, 0, 1, 0): another shape
    objects = [CLASS]
    for n in ("n1", "n2", "n3"):
        devices = [gpu(f"gpu-{i}", numa=i % 2) for i in range(4)]
        if n == "n3":
            devices.reverse()
        objects.append(node_slice(n, devices))
    objects.append(pending(2, match="numa"))
    cluster = cluster_of(objects)
    spy = Spy(monkeypatch)
    result = simulate(cluster, "claim/default/want")
    assert spy.replayed == ["n2"]
    assert [r.device for r in result.node("n2").results] == ["gpu-0", "gpu-2"]
    assert [r.device for r in result.node("n3").results] == ["gpu-3", "gpu-1"]
    assert result.to_dict() == without_cache(lambda: simulate(cluster, "claim/default/want").to_dict())


def test_identical_devices_in_another_order_are_relabelled_by_position(monkeypatch):
    objects = [CLASS, node_slice("n1", [gpu(f"gpu-{i}") for i in range(4)]),
               node_slice("n2", [gpu(f"gpu-{i}") for i in reversed(range(4))]), pending(3)]
    cluster = cluster_of(objects)
    spy = Spy(monkeypatch)
    result = simulate(cluster, "claim/default/want")
    assert spy.replayed == ["n2"]
    assert [r.device for r in result.node("n2").results] == ["gpu-3", "gpu-2", "gpu-1"]
    assert result.to_dict() == without_cache(lambda: simulate(cluster, "claim/default/want").to_dict())


def test_the_uuid_and_names_do_not_split_shapes(monkeypatch):
    objects = [CLASS] + [node_slice(f"n{i}", [gpu(f"gpu-{j}") for j in range(4)]) for i in range(6)]
    objects.append(pending(4))
    cluster = cluster_of(objects)
    spy = Spy(monkeypatch)
    simulate(cluster, "claim/default/want")
    assert spy.replayed == ["n1", "n2", "n3", "n4", "n5"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda objs, devs: devs[0].update(taints=[{"key": "k", "effect": "NoSchedule"}]), "taints"),
        (lambda objs, devs: devs[0].update(bindingConditions=["c"], bindingFailureConditions=["f"]), "binding conditions"),
        (lambda objs, devs: devs[0].update(allowMultipleAllocations=True), "shared allocation"),
        (lambda objs, devs: devs[0].update(consumesCounters=[{"counterSet": "s", "counters": {"c": {"value": "1"}}}]),
         "counters"),
        (lambda objs, devs: devs.append(dict(devs[0])), "a duplicate device name (invalid pool)"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_devices_the_cache_cannot_be_sure_of_take_the_full_search(monkeypatch, change, why):
    objects = [CLASS]
    devices = [gpu(f"gpu-{i}") for i in range(3)]
    change(objects, devices)
    objects += [node_slice("n1", devices), node_slice("n2", [dict(d) for d in devices])]
    objects.append(pending(2))
    cluster = cluster_of(objects)
    spy = Spy(monkeypatch)
    cached = simulate(cluster, "claim/default/want").to_dict()
    assert spy.keys == {"n1": None, "n2": None}, why
    assert spy.replayed == []
    assert cached == without_cache(lambda: simulate(cluster, "claim/default/want").to_dict())


def test_an_unhashable_key_is_neither_replayed_nor_stored():
    # a constrained attribute value that cannot be hashed (a future kind's map; decode makes such a device
    # fail every selector first, so the key is None before): the full search, nothing remembered
    from kubectl_dra.alloc.search import Checker, Outcome
    from kubectl_dra.alloc.state import AllocatedState

    cache = ShapeCache([], Checker(AllocatedState(), Features()))
    key = ("gpu.example.com", 1, (True,), ({"a": 1},))
    assert cache.replay(key, None, 100) is None  # type: ignore[arg-type]
    cache.store(key, None, Outcome(True, [], [], 1, {}), [])  # type: ignore[arg-type]
    assert cache.hits == 0


@pytest.mark.parametrize(
    ("claim", "why"),
    [
        (pending(1, match=None, adminAccess=True), "admin access"),
        (pending(1, match=None, capacity={"requests": {"memory": "10Gi"}}), "capacity requests"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_requests_the_cache_cannot_be_sure_of_take_the_full_search(monkeypatch, claim, why):
    objects = [CLASS, node_slice("n1", [gpu("gpu-0")]), node_slice("n2", [gpu("gpu-0")]), claim]
    cluster = cluster_of(objects)
    spy = Spy(monkeypatch)
    cached = simulate(cluster, "claim/default/want").to_dict()
    assert spy.keys == {"n1": None, "n2": None}, why
    assert cached == without_cache(lambda: simulate(cluster, "claim/default/want").to_dict())


def test_held_by_admin_access_is_not_in_use_and_still_a_shape(monkeypatch):
    # an adminAccess result does not allocate the device: n2 (admin holder on gpu-0) looks like n1
    objects = [CLASS, node_slice("n1", [gpu(f"gpu-{i}") for i in range(2)]), node_slice("n2", [gpu(f"gpu-{i}") for i in range(2)])]
    objects += [holder("adm", "n2", "gpu-0", admin=True), pending(2)]
    cluster = cluster_of(objects)
    spy = Spy(monkeypatch)
    cached = simulate(cluster, "claim/default/want").to_dict()
    assert spy.replayed == ["n2"]
    assert cached == without_cache(lambda: simulate(cluster, "claim/default/want").to_dict())


def test_a_replay_never_exceeds_the_node_budget(monkeypatch):
    """A lookalike node whose step budget is less than the first node's search took is searched again
    (and runs out of budget as it would have)."""
    import sys

    simulate_module = sys.modules["kubectl_dra.alloc.simulate"]
    objects = [CLASS] + [node_slice(f"n{i}", [gpu(f"gpu-{j}", numa=j % 2) for j in range(6)]) for i in range(3)]
    objects.append(pending(3, match="numa"))
    cluster = cluster_of(objects)
    steps = simulate(cluster, "claim/default/want").nodes[0].steps
    assert steps > 1
    # the whole simulation gets one node budget: n0 and n1 use `steps` each, n2 gets steps - 1
    monkeypatch.setattr(simulate_module, "OVERALL_BUDGET_NODES", 1)
    spy = Spy(monkeypatch)
    cached = simulate(cluster, "claim/default/want", budget=3 * steps - 1).to_dict()
    assert spy.replayed == ["n1"]
    assert spy.keys["n2"] == spy.keys["n0"]
    assert [r["code"] for r in cached["nodes"][2]["reasons"]] == ["search-cut-short"]
    assert cached == without_cache(lambda: simulate(cluster, "claim/default/want", budget=3 * steps - 1).to_dict())


# ---------------------------------------------------------------------- everything else agrees


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_alloc_scenarios_agree_with_the_full_search(path: Path):
    scenario = load(path)
    cluster = build_cluster(scenario)
    kwargs = {"features": Features(**(scenario.get("features") or {}))}
    if "budget" in scenario:
        kwargs["budget"] = scenario["budget"]
    cached, full = both(cluster, scenario["simulate"], nodes=scenario.get("nodes"), **kwargs)
    assert cached == full


@pytest.mark.parametrize("subject", ["pod/research/pretrain-70b", "pod/ml-team/llm-train-0", "claim/research/gpu-nic-pair",
                                     "template/ml-team/mig-1g10gb", "template/research/h100x8", "template/inference/l40s-single"])
def test_demo_agrees_with_the_full_search(subject):
    from kubectl_dra.kube.demo import demo_objects

    cluster = cluster_of([o for o in demo_objects() if decode(o) is not None])
    cached, full = both(cluster, subject)
    assert cached == full


@st.composite
def clusters(draw):
    """A few nodes of a few devices from small value sets: many lookalikes, some near misses."""
    nodes = draw(st.integers(2, 6))
    objects: list[dict] = [CLASS]
    for n in range(nodes):
        count = draw(st.integers(1, 4))
        devices = []
        for i in range(count):
            devices.append(gpu(f"gpu-{i}", product=draw(st.sampled_from(["H100", "H100", "A100"])),
                               numa=draw(st.integers(0, 1)), type_=draw(st.sampled_from(["gpu", "gpu", "gpu", "nic"])),
                               kind=draw(st.sampled_from(["string", "string", "version"]))))
            if draw(st.integers(0, 3)) == 0:
                objects.append(holder(f"h-{n}-{i}", f"n{n}", f"gpu-{i}"))
        if draw(st.booleans()):
            devices.reverse()
        objects.append(node_slice(f"n{n}", devices))
    match = draw(st.sampled_from([None, "productName", "numa"]))
    distinct = draw(st.booleans()) and match != "numa"
    count = draw(st.integers(1, 3))
    selectors = draw(st.sampled_from([(), (f"device.attributes['{DRIVER}'].numa == 0",)]))
    claim = pending(count, match=match, selectors=selectors)
    if distinct:
        claim["spec"]["devices"].setdefault("constraints", []).append({"distinctAttribute": f"{DRIVER}/numa"})
    objects.append(claim)
    return objects


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_random_lookalike_clusters_agree_with_the_full_search(objects):
    cluster = cluster_of(objects)
    cached, full = both(cluster, "claim/default/want")
    assert cached == full
    for n in cached["nodes"]:  # reasons may differ: explain's hints look across nodes (diagnose.cross_node)
        alone = simulate(cluster, "claim/default/want", nodes=[n["node"]]).to_dict()["nodes"][0]
        assert _searched(n) == _searched(alone)


def _searched(node: dict) -> dict:
    return {k: node[k] for k in ("node", "allocatable", "status", "results", "funnels", "steps", "nodeSelectors")}
