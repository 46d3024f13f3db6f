"""The `topology` cluster view's own paths agree with the general ones they stand in for:
``Cluster.devices_not_free`` with ``Cluster.device_views`` (devices, free or not, warnings), and
``cluster_text`` with ``plain_text(cluster_tree(...))``, on the demo, the upstream fixtures and
clusters built to hit each rule (shared counters, taints, adminAccess, duplicate names, generations,
unpublished devices, nodes whose names sort alike)."""

from __future__ import annotations

import copy
import random
from collections import Counter

import pytest

from tests.conftest import FIXTURES

from kubectl_dra.kube.demo import demo_objects
from kubectl_dra.kube.load import add_all
from kubectl_dra.model.cluster import Cluster
from kubectl_dra.render.topology import cluster_text, cluster_topology, cluster_tree, plain_text

V1 = "resource.k8s.io/v1"


def _slice(name: str, devices: list[dict], *, node: str | None = "n1", pool: str | None = None, generation: int = 1,
           count: int = 1, driver: str = "gpu.example.com", **spec) -> dict:
    body: dict = {"driver": driver, "pool": {"name": pool or name, "generation": generation, "resourceSliceCount": count},
                  "devices": devices, **spec}
    if node:
        body["nodeName"] = node
    elif "nodeSelector" not in spec and "perDeviceNodeSelection" not in spec:
        body["allNodes"] = True
    return {"apiVersion": V1, "kind": "ResourceSlice", "metadata": {"name": name}, "spec": body}


def _dev(name: str, product: object = "X1", kind: object = "gpu", **extra) -> dict:
    attributes = {}
    for key, value in (("productName", product), ("type", kind)):
        if value is not None:
            attributes[key] = {"bool": value} if isinstance(value, bool) else {"int": value} if isinstance(value, int) else {"string": value}
    return {"name": name, "attributes": attributes, **extra}


def _claim(name: str, results: list[tuple], *, reserved: bool = False, namespace: str = "ns") -> dict:
    status: dict = {"allocation": {"devices": {"results": [
        {"request": "r", "driver": d, "pool": p, "device": n, **({"adminAccess": True} if admin else {})}
        for d, p, n, admin in results]}}}
    if reserved:
        status["reservedFor"] = [{"resource": "pods", "name": f"{name}-pod", "uid": "u"}]
    return {"apiVersion": V1, "kind": "ResourceClaim", "metadata": {"name": name, "namespace": namespace},
            "spec": {"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "c"}}]}}, "status": status}


def _node(name: str, clique: str | None = None) -> dict:
    labels = {"nvidia.com/gpu.clique": clique} if clique else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


G = "gpu.example.com"

#: every rule of the device states and the listing's order, in one cluster
RULES = [
    # nodes whose names sort alike (natural order) but differ, named and unnamed
    _slice("s-n1", [_dev("g0"), _dev("g1", "X2")], node="n1"),
    _slice("s-n01", [_dev("g0", "X2"), _dev("g1")], node="n01"),
    _slice("z-n001", [_dev("g0")], node="n001"),
    _slice("s-all", [_dev("a0"), _dev("a1", kind=None)], node=None),
    _slice("s-sel", [_dev("b0")], node=None,
           nodeSelector={"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "Exists"}]}]}),
    # taints: NoSchedule blocks, PreferNoSchedule does not; a held tainted device is held
    _slice("s-taint", [_dev("t0", taints=[{"key": "k", "effect": "NoSchedule"}]),
                       _dev("t1", taints=[{"key": "k", "effect": "PreferNoSchedule"}]),
                       _dev("t2", taints=[{"key": "k", "effect": "NoExecute"}])], node="n2"),
    # a name used twice in a pool (invalid): the last one counts, in the first one's place
    _slice("s-dup", [_dev("d0", "OLD"), _dev("d1"), _dev("d0", "NEW")], node="n3"),
    # generations: only the newest counts; an incomplete pool
    _slice("s-gen-old", [_dev("o0", "STALE")], node="n4", pool="gen", generation=1),
    _slice("s-gen-new", [_dev("o0", "FRESH")], node="n4", pool="gen", generation=2),
    _slice("s-part-a", [_dev("p0")], node="n5", pool="part", count=2),
    # shared counters: a whole GPU and its two halves
    _slice("s-ctr", [
        {"name": "whole", "attributes": {"type": {"string": "gpu"}, "productName": {"string": "CTR"}},
         "consumesCounters": [{"counterSet": "mem", "counters": {"m0": {"value": "1"}, "m1": {"value": "1"}}}]},
        {"name": "half-0", "attributes": {"type": {"string": "mig"}, "productName": {"string": "CTR"}},
         "consumesCounters": [{"counterSet": "mem", "counters": {"m0": {"value": "1"}}}]},
        {"name": "half-1", "attributes": {"type": {"string": "mig"}, "productName": {"string": "CTR"}},
         "consumesCounters": [{"counterSet": "mem", "counters": {"m1": {"value": "1"}}}]},
    ], node="n6", sharedCounters=[{"name": "mem", "counters": {"m0": {"value": "1"}, "m1": {"value": "1"}}}]),
    # a second pool on a node, of another driver
    _slice("s-other", [_dev("x0", "Y")], node="n1", driver="other.example.com"),
    _claim("held", [(G, "s-n1", "g0", False)], reserved=True),
    _claim("alloc", [(G, "s-n01", "g1", False), (G, "s-taint", "t0", False)]),
    _claim("admin", [(G, "z-n001", "g0", True), (G, "s-all", "a0", True)]),
    _claim("dup", [(G, "s-dup", "d0", False)]),
    _claim("half", [(G, "s-ctr", "half-0", False)]),
    _claim("gone", [(G, "nowhere", "z0", False), (G, "s-n1", "missing", True)]),
    _claim("stale", [(G, "gen", "o0", False)]),
    {"apiVersion": V1, "kind": "ResourceClaim", "metadata": {"name": "pending", "namespace": "ns"},
     "spec": {"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "c"}}]}}},
    _node("n01", "c.1"), _node("n9", "c.1"), _node("zz"),
]


def _cluster(objects: list[dict], *, slices_filtered: bool = False) -> Cluster:
    cluster = Cluster(source="test")
    add_all(cluster, (("test", copy.deepcopy(o)) for o in objects))
    cluster.slices_filtered = slices_filtered
    return cluster


def _fixture_objects(directory) -> list[dict]:
    from kubectl_dra.errors import DraError
    from kubectl_dra.kube.files import load_objects

    try:
        return [o for _, o in load_objects([str(directory)], recursive=True, warn=lambda _: None)]
    except DraError:
        return []


def _cases() -> list[tuple[str, list[dict]]]:
    from tests.test_claims_index import TROUBLE

    cases = [("demo", demo_objects()), ("rules", RULES), ("empty", []), ("trouble", TROUBLE),
             ("trouble-without-rules", [o for o in TROUBLE if o["kind"] != "DeviceTaintRule"])]
    cases += [(f"fixtures/{d.name}", _fixture_objects(d)) for d in sorted(FIXTURES.iterdir()) if d.is_dir()]
    rng = random.Random(15)
    pool = demo_objects() + RULES
    for i in range(12):  # subsets: claims without their slices, nodes without devices, ...
        cases.append((f"mixed-{i}", rng.sample(pool, rng.randint(1, len(pool)))))
    return cases


CASES = _cases()


def _expected(objects: list[dict], slices_filtered: bool):
    cluster = _cluster(objects, slices_filtered=slices_filtered)
    views = cluster.device_views()
    return [(v.device.key, v.device.node_label, v.state == "free") for v in views], list(cluster.warnings)


@pytest.mark.parametrize("slices_filtered", [False, True])
@pytest.mark.parametrize(("name", "objects"), CASES, ids=[c[0] for c in CASES])
def test_devices_not_free_is_device_views(name, objects, slices_filtered):
    want, want_warnings = _expected(objects, slices_filtered)
    cluster = _cluster(objects, slices_filtered=slices_filtered)
    devices, not_free = cluster.devices_not_free()
    got = [(d.key, d.node_label, id(d) not in not_free) for d in devices]
    assert Counter(got) == Counter(want)
    assert len(got) == len(want)
    assert cluster.warnings == want_warnings
    assert not_free <= {id(d) for d in devices}


def test_devices_not_free_with_views_built_or_taint_rules():
    """With the views already built, or DeviceTaintRules (whose taints the views' copies carry), the
    answer is the views'."""
    cluster = _cluster(RULES)
    views = cluster.device_views()
    devices, not_free = cluster.devices_not_free()
    assert devices == [v.device for v in views]
    assert not_free == {id(v.device) for v in views if v.state != "free"}
    rule = {"apiVersion": "resource.k8s.io/v1alpha3", "kind": "DeviceTaintRule", "metadata": {"name": "r"},
            "spec": {"deviceSelector": {"driver": G, "pool": "s-n1"}, "taint": {"key": "k", "effect": "NoSchedule"}}}
    want, want_warnings = _expected([*RULES, rule], False)
    cluster = _cluster([*RULES, rule])
    assert cluster.taint_rules
    devices, not_free = cluster.devices_not_free()
    assert [(d.key, d.node_label, id(d) not in not_free) for d in devices] == want
    assert (G, "s-n1", "g1") in {d.key for d in devices if id(d) in not_free}  # free, but tainted by the rule
    assert cluster.warnings == want_warnings


def test_rules_cluster_states():
    """What the rules cluster must give, spelled out (so the reference itself is checked)."""
    cluster = _cluster(RULES)
    devices, not_free = cluster.devices_not_free()
    busy = {d.key for d in devices if id(d) in not_free}
    assert busy == {(G, "s-n1", "g0"), (G, "s-n01", "g1"), (G, "s-taint", "t0"), (G, "s-taint", "t2"),
                    (G, "s-dup", "d0"), (G, "s-ctr", "half-0"), (G, "s-ctr", "whole"), (G, "gen", "o0")}
    products = {d.key: d.attributes.get(f"{G}/productName") for d in devices}
    assert products[(G, "s-dup", "d0")] == "NEW" and products[(G, "gen", "o0")] == "FRESH"
    assert [w for w in cluster.warnings if "no current ResourceSlice" in w] == [
        "claim ns/gone is allocated device gpu.example.com/nowhere/z0, which no current ResourceSlice publishes",
        "claim ns/gone is allocated device gpu.example.com/s-n1/missing, which no current ResourceSlice publishes",
    ]


def _reference_topology(objects: list[dict]) -> dict:
    """The cluster view counted device by device over the views in the listing's order (the
    definition the fast count must meet)."""
    from kubectl_dra.model.computedomain import cliques
    from kubectl_dra.model.cluster import natural_key
    from kubectl_dra.render.devices import device_type, product
    from kubectl_dra.render.topology.tree import TRAILING_TYPES, text_or_none

    cluster = _cluster(objects)
    views = cluster.device_views()
    clique_of = cliques(cluster.nodes, [])
    domains: dict = {}

    def domain(clique):
        return domains.setdefault(clique, {"clique": clique, "computeDomains": [], "nodes": [], "devices": 0, "free": 0, "products": {}})

    for name in clique_of:
        domain(clique_of[name])["nodes"].append(name)
    for view in views:
        dev = view.device
        node = dev.node_name or dev.node_label
        if dev.node_name and node not in clique_of:
            clique_of[node] = None
            domain(None)["nodes"].append(node)
        d = domain(clique_of.get(node))
        free = int(view.state == "free")
        d["devices"] += 1
        d["free"] += free
        key = (product(dev), dev.driver, device_type(dev))
        prod = d["products"].setdefault(key, {"product": text_or_none(key[0]), "driver": dev.driver, "type": text_or_none(key[2]),
                                              "devices": 0, "free": 0, "overlapping": False, "nodes": {}})
        prod["devices"] += 1
        prod["free"] += free
        prod["overlapping"] = prod["overlapping"] or bool(dev.consumes_counters)
        counts = prod["nodes"].setdefault(node, [0, 0])
        counts[0] += 1
        counts[1] += free
    out = []
    for clique in sorted(domains, key=lambda c: (c is None, c or "")):
        d = domains[clique]
        d["nodes"] = sorted(d["nodes"], key=natural_key)
        d["products"] = sorted(d["products"].values(), key=lambda p: (p["type"] in TRAILING_TYPES, p["product"] is None,
                                                                      p["product"] or "", p["driver"], p["type"] or ""))
        for p in d["products"]:
            p["nodes"] = [{"node": n, "devices": c[0], "free": c[1]} for n, c in sorted(p["nodes"].items(), key=lambda kv: natural_key(kv[0]))]
        out.append(d)
    return {"kind": "ClusterTopology", "apiVersion": "kubectl-dra/v1", "nodes": len(clique_of), "devices": len(views),
            "free": sum(v.state == "free" for v in views), "domains": out, "computeDomains": []}


@pytest.mark.parametrize(("name", "objects"), CASES, ids=[c[0] for c in CASES])
def test_cluster_view_counts_as_device_by_device(name, objects):
    data = cluster_topology(_cluster(objects))
    assert data == _reference_topology(objects)
    assert cluster_text(data) == plain_text(cluster_tree(data))


def test_rules_cluster_view_orders_nodes_that_sort_alike_as_the_listing():
    data = cluster_topology(_cluster(RULES))
    x1 = next(p for d in data["domains"] for p in d["products"] if p["product"] == "X1" and p["type"] == "gpu" and d["clique"] is None)
    # n001 and n1 sort alike (natural order): as in the listing, by name
    assert [n["node"] for n in x1["nodes"]] == ["<all nodes>", "<node selector>", "n001", "n1", "n2", "n3", "n5"]
    assert data["domains"][0]["nodes"] == ["n01", "n9"]
    text = cluster_text(data)
    assert "(overlapping partitions: not all usable at once)" in text
    assert text.endswith("└── no DRA devices: zz\n")


def test_cluster_text_without_domains_and_with_compute_domains():
    empty = cluster_topology(_cluster([]))
    assert cluster_text(empty) == plain_text(cluster_tree(empty)) == "cluster  (0 nodes, 0 devices, 0 free)\n└── no nodes or DRA devices in the input\n"
    domains = [{"namespace": "ml", "name": "train", "status": "Ready", "nodes": [{"name": "n1", "cliqueID": "c.7"}, {"name": "n9", "cliqueID": "c.7"}]}]
    data = cluster_topology(_cluster(RULES), domains)
    assert data["domains"][0]["computeDomains"] == ["ml/train"]
    assert cluster_text(data) == plain_text(cluster_tree(data))
    assert "ComputeDomain ml/train" in cluster_text(data)
