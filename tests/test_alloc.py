"""Unit tests of the allocation simulator: search (backtracking, budget, first solution), pieces, result shape."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kubectl_dra.alloc import CODES, DEFAULT_BUDGET, Features, simulate, simulate_node
from kubectl_dra.alloc import constraints as C
from kubectl_dra.alloc.capacity import calculate, fits, violates
from kubectl_dra.alloc.nodesel import node_matches, selector_matches
from kubectl_dra.alloc.taints import tolerates, untolerated
from kubectl_dra.model.claim import Node
from kubectl_dra.model.cluster import Cluster
from kubectl_dra.model.decode import decode
from kubectl_dra.model.device import Device
from kubectl_dra.model.quantity import Quantity
from tests.alloc_reference import LiteralAllocator

V1 = "resource.k8s.io/v1"
DRIVER = "driver-a"


def cluster_of(*objects: dict) -> Cluster:
    cluster = Cluster()
    for obj in objects:
        cluster.add(decode(obj))
    return cluster


def node(name: str = "node-1", **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def device_class(name: str = "class-a", expr: str = f'device.driver == "{DRIVER}"') -> dict:
    return {"apiVersion": V1, "kind": "DeviceClass", "metadata": {"name": name}, "spec": {"selectors": [{"cel": {"expression": expr}}]}}


def rslice(devices: list[dict], name: str = "slice-1", node_name: str = "node-1", pool: str = "pool-1") -> dict:
    return {
        "apiVersion": V1,
        "kind": "ResourceSlice",
        "metadata": {"name": name},
        "spec": {"driver": DRIVER, "nodeName": node_name, "pool": {"name": pool, "generation": 1, "resourceSliceCount": 1}, "devices": devices},
    }


def dev(name: str, **attrs) -> dict:
    return {"name": name, "attributes": {k: ({"int": v} if isinstance(v, int) else {"string": v}) for k, v in attrs.items()}}


def claim(name: str, requests: list[dict], constraints: list[dict] | None = None, results: list[dict] | None = None) -> dict:
    obj = {
        "apiVersion": V1,
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"devices": {"requests": requests, "constraints": constraints or []}},
    }
    if results is not None:
        obj["status"] = {"allocation": {"devices": {"results": results}}}
    return obj


def req(name: str, count: int = 1, selectors: tuple[str, ...] = (), mode: str = "ExactCount") -> dict:
    exactly: dict = {"deviceClassName": "class-a", "allocationMode": mode}
    if mode == "ExactCount":
        exactly["count"] = count
    if selectors:
        exactly["selectors"] = [{"cel": {"expression": s}} for s in selectors]
    return {"name": name, "exactly": exactly}


def picked(result, node_name: str = "node-1") -> list[tuple[str, str]]:
    return [(r.request, r.device) for r in result.node(node_name).results]


# ---------------------------------------------------------------------- search


def test_backtracking_within_a_claim_finds_the_combination():
    """upstream check-combinations-with-backtracking: {dev-1, dev-2} for req-1 fails, {dev-2, dev-3} works."""
    c = cluster_of(
        node(),
        device_class(),
        rslice([dev("dev-1", type="X"), dev("dev-2", type="Y"), dev("dev-3", type="Y")]),
        claim("c", [req("req-1", 2), req("req-2", selectors=(f'device.attributes["{DRIVER}"].type == "X"',))]),
    )
    result = simulate(c, "claim/default/c")
    assert picked(result) == [("req-1", "dev-2"), ("req-1", "dev-3"), ("req-2", "dev-1")]
    # upstream needs 12 allocateOne calls; filtering and early stops never need more
    assert result.node("node-1").steps <= 12


def test_budget_gives_up_and_says_after_how_many_steps():
    devices = [dev(f"dev-{i}", serial=f"s{i}") for i in range(10)]
    requests = [req(f"r{i}") for i in range(6)] + [req("never", selectors=(f'device.attributes["{DRIVER}"].serial == "x"',))]
    c = cluster_of(node(), device_class(), rslice(devices), claim("c", requests, [{"distinctAttribute": f"{DRIVER}/serial"}]))
    small = simulate(c, "claim/default/c", budget=25)
    reason = small.node("node-1").reasons[0]
    assert reason.code == "budget-exhausted"
    assert "gave up after 25 steps" in reason.message
    assert reason.data == {"steps": 25, "budget": 25}
    assert small.node("node-1").steps == 26


def test_budget_large_enough_finds_the_first_solution():
    devices = [dev(f"dev-{i}", grp=i % 3) for i in range(9)]
    c = cluster_of(node(), device_class(), rslice(devices), claim("c", [req("a", 2), req("b", 1)], [{"matchAttribute": f"{DRIVER}/grp"}]))
    result = simulate(c, "claim/default/c", budget=DEFAULT_BUDGET)
    assert picked(result) == [("a", "dev-0"), ("a", "dev-3"), ("b", "dev-6")]


def test_distinct_attribute_replicates_the_per_request_quirk():
    """1.36 incubating keys stored values by request name: within one request only the last value is compared.

    Values x, y, x for one request of count 3 pass (dev-3 is compared with dev-2 only), as upstream.
    """
    c = cluster_of(
        node(),
        device_class(),
        rslice([dev("dev-1", v="x"), dev("dev-2", v="y"), dev("dev-3", v="x")]),
        claim("c", [req("r", 3)], [{"distinctAttribute": f"{DRIVER}/v"}]),
    )
    assert picked(simulate(c, "claim/default/c")) == [("r", "dev-1"), ("r", "dev-2"), ("r", "dev-3")]


def test_in_use_devices_are_skipped_and_named():
    c = cluster_of(
        node(),
        device_class(),
        rslice([dev("dev-1"), dev("dev-2")]),
        claim("other", [req("r")], results=[{"request": "r", "driver": DRIVER, "pool": "pool-1", "device": "dev-1"}]),
        claim("c", [req("r", 2)]),
    )
    result = simulate(c, "claim/default/c")
    reason = result.node("node-1").reasons[0]
    assert reason.code == "in-use" and reason.data["claims"] == {"default/other": 1}
    funnel = result.node("node-1").funnels[0]
    assert [(s.stage, s.count) for s in funnel.stages] == [("visible", 2), ("class", 2), ("free", 1)]
    assert funnel.in_use_by == {"default/other": 1}


def test_admin_access_results_do_not_block():
    c = cluster_of(
        node(),
        device_class(),
        rslice([dev("dev-1")]),
        claim("admin", [req("r")], results=[{"request": "r", "driver": DRIVER, "pool": "pool-1", "device": "dev-1", "adminAccess": True}]),
        claim("c", [req("r")]),
    )
    assert picked(simulate(c, "claim/default/c")) == [("r", "dev-1")]


def test_multi_node_equals_single_node_runs():
    objects = [node("node-1"), node("node-2"), node("node-3"), device_class()]
    objects += [rslice([dev(f"d{i}", g=i % 2) for i in range(4)], name=f"s{n}", node_name=f"node-{n}", pool=f"p{n}") for n in (1, 2)]
    objects += [claim("other", [req("r")], results=[{"request": "r", "driver": DRIVER, "pool": "p2", "device": "d0"}])]
    objects += [claim("c", [req("a", 2), req("b", 1)], [{"matchAttribute": f"{DRIVER}/g"}])]
    c = cluster_of(*objects)
    together = simulate(c, "claim/default/c")
    for n in ("node-1", "node-2", "node-3"):
        alone = simulate_node(c, "claim/default/c", n)
        assert alone.to_dict()["results"] == together.node(n).to_dict()["results"]
        assert [r.code for r in alone.reasons] == together.node(n).codes()


# ---------------------------------------------------------------------- reference search (property)


COLORS = ["red", "blue"]


@st.composite
def instances(draw):
    n = draw(st.integers(2, 8))
    devices = [(f"d{i}", draw(st.sampled_from(COLORS)), draw(st.sampled_from([None, 0, 1, 2]))) for i in range(n)]
    in_use = {d[0] for d in devices if draw(st.booleans()) and draw(st.booleans())}
    claims = []
    cons = []
    for ci in range(draw(st.integers(1, 2))):
        requests = []
        for ri in range(draw(st.integers(1, 2))):
            k = draw(st.integers(1, 2))
            alts = [(f"s{j}", draw(st.integers(1, 3)), draw(st.one_of(st.none(), st.sampled_from(COLORS)))) for j in range(k)]
            requests.append((f"r{ri}", alts))
        claims.append(requests)
        kind = draw(st.sampled_from([None, "match", "match", "distinct", "distinct"]))
        cons.append([] if kind is None else [(kind, f"{DRIVER}/grp")])
    return devices, in_use, claims, cons


def _objects(devices, in_use, claims, cons) -> list[dict]:
    devs = []
    for name, color, grp in devices:
        attrs = {"color": {"string": color}}
        if grp is not None:
            attrs["grp"] = {"int": grp}
        devs.append({"name": name, "attributes": attrs})
    objects = [node(), device_class(), rslice(devs)]
    if in_use:
        results = [{"request": "r", "driver": DRIVER, "pool": "pool-1", "device": d} for d in sorted(in_use)]
        objects.append(claim("other", [req("r")], results=results))
    for ci, requests in enumerate(claims):
        reqs = []
        for name, alts in requests:
            def exact(count, color):
                e = {"deviceClassName": "class-a", "count": count}
                if color:
                    e["selectors"] = [{"cel": {"expression": f'device.attributes["{DRIVER}"].color == "{color}"'}}]
                return e

            if len(alts) == 1:
                reqs.append({"name": name, "exactly": exact(alts[0][1], alts[0][2])})
            else:
                reqs.append({"name": name, "firstAvailable": [{"name": s, **exact(cnt, col)} for s, cnt, col in alts]})
        spec_cons = [{f"{kind}Attribute": attribute} for kind, attribute in cons[ci]]
        objects.append(claim(f"c{ci}", reqs, spec_cons))
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"resourceClaims": [{"name": f"c{ci}", "resourceClaimName": f"c{ci}"} for ci in range(len(claims))]},
        }
    )
    return objects


# Random instances rarely need to take a device back out of a constraint (about 2 in 100 do), so
# these two always run: a wrong matchAttribute or distinctAttribute `remove` fails them.
MATCH_BACKTRACKS = (  # r0 tries d0 (grp 0), finds no second grp-0 device, takes d0 back: d1 + d2
    [("d0", "red", 0), ("d1", "red", 1), ("d2", "red", 1)],
    set(),
    [[("r0", [("s0", 2, None)])]],
    [[("match", f"{DRIVER}/grp")]],
)
DISTINCT_BACKTRACKS = (  # r0 must end on the blue d2 so that r1 gets both red devices
    [("d0", "red", 0), ("d1", "red", 1), ("d2", "blue", 2)],
    set(),
    [[("r0", [("s0", 1, None)]), ("r1", [("s0", 2, "red")])]],
    [[("distinct", f"{DRIVER}/grp")]],
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
@example(MATCH_BACKTRACKS)
@example(DISTINCT_BACKTRACKS)
def test_search_finds_the_same_first_solution_as_the_literal_algorithm(instance):
    """The simulator agrees with tests/alloc_reference.py, which shares no code with kubectl_dra."""
    devices, in_use, claims, cons = instance
    cluster = cluster_of(*_objects(devices, in_use, claims, cons))
    result = simulate(cluster, "pod/default/p")
    plain = []
    for name, color, grp in devices:
        attributes = {f"{DRIVER}/color": ("string", color)}
        if grp is not None:
            attributes[f"{DRIVER}/grp"] = ("int", grp)
        plain.append((name, attributes))
    want = LiteralAllocator(plain, in_use, claims, cons, color_attribute=f"{DRIVER}/color").allocate()
    got = result.node("node-1")
    assert got.allocatable is (want is not None), got.to_dict()
    if want is not None:
        expected = [(f"default/c{ci}", r, d) for ci, per in enumerate(want) for r, d in per]
        assert [(r.claim, r.request, r.device) for r in got.results] == expected
    else:
        assert got.reasons and all(r.code in CODES for r in got.reasons)


# ---------------------------------------------------------------------- pieces


def test_capacity_policy_arithmetic():
    q = Quantity.parse
    rng = {"default": "1Gi", "validRange": {"min": "1Gi", "max": "4Gi", "step": "1Gi"}}
    assert calculate(q("1500Mi"), q("8Gi"), rng) == q("2Gi")
    assert calculate(q("100Mi"), q("8Gi"), rng) == q("1Gi")
    assert calculate(None, q("8Gi"), rng) == q("1Gi")
    assert calculate(None, q("8Gi"), None) == q("8Gi")
    assert calculate(q("3"), q("8"), {"validValues": ["1", "4", "8"]}) == q("4")
    assert calculate(q("9"), q("8"), {"validValues": ["1", "4", "8"]}) == q("9")
    assert violates(q("5Gi"), rng) and not violates(q("4Gi"), rng) and not violates(q("1Gi"), rng)
    assert violates(q("3"), {"validValues": ["1", "4"]}) and not violates(q("4"), {"validValues": ["1", "4"]})
    d = Device(DRIVER, "p", "d", capacity={f"{DRIVER}/memory": "8Gi"}, allow_multiple_allocations=True)
    assert fits({"memory": "2Gi"}, d, {f"{DRIVER}/memory": q("6Gi")}, None) is None
    assert "3Gi requested + 6Gi used by shared allocations > 8Gi" in fits({"memory": "3Gi"}, d, {f"{DRIVER}/memory": q("6Gi")}, None)
    assert "no capacity" in fits({"cores": "1"}, d, None, None)


def test_node_selectors():
    n = Node("n1", labels={"zone": "a", "gpus": "8"})
    term = lambda *exprs: {"nodeSelectorTerms": [{"matchExpressions": list(exprs)}]}
    assert selector_matches(term({"key": "zone", "operator": "In", "values": ["a", "b"]}), n)
    assert not selector_matches(term({"key": "zone", "operator": "NotIn", "values": ["a"]}), n)
    assert selector_matches(term({"key": "rack", "operator": "DoesNotExist"}), n)
    assert selector_matches(term({"key": "gpus", "operator": "Gt", "values": ["4"]}), n)
    assert not selector_matches(term({"key": "gpus", "operator": "Lt", "values": ["4"]}), n)
    assert not selector_matches({"nodeSelectorTerms": [{}]}, n)  # an empty term matches nothing
    fields = {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}
    assert selector_matches(fields, n)
    assert node_matches(n, "n1", False, None) and not node_matches(n, "n2", True, None)
    assert node_matches(n, None, True, None) and not node_matches(n, None, False, None)


def test_tolerations():
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    assert tolerates({"key": "k", "operator": "Exists"}, taint)
    assert tolerates({"key": "k", "value": "v"}, taint)  # operator defaults to Equal
    assert not tolerates({"key": "k", "value": "w"}, taint)
    assert not tolerates({"key": "k", "operator": "Exists", "effect": "NoExecute"}, taint)
    assert tolerates({"operator": "Exists"}, taint)
    assert untolerated([taint, {"key": "x", "effect": "None"}, {"key": "y", "effect": "Future"}], []) == [taint]


def test_constraint_lookup_and_kinds():
    d = Device(DRIVER, "p", "d", attributes={f"{DRIVER}/v": "1.0.0", f"{DRIVER}/n": 3}, attribute_kinds={f"{DRIVER}/v": "version"})
    assert C.lookup(d, f"{DRIVER}/v") == ("version", "1.0.0")
    assert C.lookup(d, "v") is None  # not fully qualified
    m = C.MatchAttribute([], f"{DRIVER}/n")
    other = Device(DRIVER, "p", "e", attributes={f"{DRIVER}/n": "3"})  # a string "3" is not the int 3
    assert m.add("r", None, d) and not m.add("r", None, other)


# ---------------------------------------------------------------------- results


def test_to_dict_has_the_explain_shape():
    c = cluster_of(node(), device_class(), rslice([dev("dev-1")]), claim("c", [req("r")]))
    out = simulate(c, "claim/default/c").to_dict()
    assert set(out) >= {"verdict", "nodes", "reasons", "claims", "pod"}
    assert out["verdict"] == "allocatable"
    n = out["nodes"][0]
    assert set(n) >= {"node", "allocatable", "results", "reasons"}
    assert n["results"] == [{"claim": "default/c", "request": "r", "driver": DRIVER, "pool": "pool-1", "device": "dev-1"}]
    assert out["claims"] == [{"claim": "default/c", "state": "pending", "source": "claim", "requests": ["r: class-a×1"]}]


def test_reason_codes_are_unique_kebab_case():
    assert len(set(CODES)) == len(CODES)
    assert all(code == code.lower() and " " not in code for code in CODES)


def test_inputs_by_name_and_object():
    c = cluster_of(node(), device_class(), rslice([dev("dev-1")]), claim("c", [req("r")]))
    by_object = simulate(c, c.claims[0])
    by_list = simulate(c, [c.claims[0]])
    assert by_object.to_dict() == by_list.to_dict() == simulate(c, "default/c").to_dict()
    missing = simulate(c, "claim/default/nope")
    assert missing.verdict == "unallocatable" and missing.reasons[0].code == "claim-missing"


def test_features_are_respected():
    c = cluster_of(
        node(),
        device_class(),
        rslice([{"name": "dev-1", "taints": [{"key": "k", "effect": "NoSchedule"}]}]),
        claim("c", [req("r")]),
    )
    assert simulate(c, "default/c").verdict == "unallocatable"
    assert simulate(c, "default/c", features=Features(device_taints=False)).verdict == "allocatable"


@pytest.mark.parametrize("count", [32, 33])
def test_result_limit(count):
    c = cluster_of(node(), device_class(), rslice([dev(f"d{i}") for i in range(40)]), claim("c", [req("r", count)]))
    result = simulate(c, "default/c")
    if count == 32:
        assert len(result.node("node-1").results) == 32
    else:
        assert result.verdict == "error" and result.reasons[0].code == "too-many-devices"


def test_keep_parks_the_working_structures_and_changes_nothing():
    objects = [node("node-1"), node("node-2"), device_class()]
    objects += [rslice([dev(f"d{i}") for i in range(2)], name=f"s{n}", node_name=f"node-{n}", pool=f"p{n}") for n in (1, 2)]
    objects.append(claim("c", [req("r", 2)]))
    c = cluster_of(*objects)
    keep: list = []
    parked = simulate(c, "claim/default/c", keep=keep).to_dict()
    assert parked == simulate(c, "claim/default/c").to_dict()
    [(topology, views, *_)] = keep  # one attempt: its topology and node views, kept rather than freed
    assert [v.node.name for v in views] == ["node-1", "node-2"]
    assert len(topology.entries) == 4
