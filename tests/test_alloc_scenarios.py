"""Allocation scenarios (tests/alloc_scenarios/*.yaml) run through kubectl_dra.alloc.simulate.

A scenario file is one YAML mapping::

    description: what it shows (and the upstream allocator test it follows, if any)
    include: [demo, "fixture:dra-driver-nvidia-gpu/quickstart-v1-gpu-test1.yaml"]   # optional
    features: {consumable_capacity: false}        # optional, kubectl_dra.alloc.Features fields
    objects: [...]                                # Kubernetes objects (any resource.k8s.io version)
    simulate: pod/NS/NAME | claim/NS/NAME | template/NS/NAME | [several]
    nodes: [node-1]                               # optional (default: every node)
    budget: 1000                                  # optional
    expect:
      verdict: allocatable | unallocatable | error | allocated
      reasons: [code, ...]                        # claim-level reasons that must be present
      nodes:
        node-1:
          allocatable: true
          status: Allocatable | Unschedulable | Error
          results: ["req driver/pool/device", "ns/claim req driver/pool/device"]   # exact, in order
          reasons: [code, ...]                    # must be present
          no_reasons: [code, ...]                 # must be absent
          reason_status: {code: Error}            # status of the first reason with that code
          node_selector: {claim: <selector or null>}
          consumed: {"req driver/pool/device": {capacity: quantity}}
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubectl_dra.alloc import Features, simulate
from kubectl_dra.alloc.reasons import CODES
from kubectl_dra.model.cluster import Cluster
from kubectl_dra.model.decode import decode
from tests.conftest import FIXTURES

SCENARIOS = Path(__file__).resolve().parent / "alloc_scenarios"
FILES = sorted(SCENARIOS.glob("*.yaml"))
FEATURE_NAMES = set(Features.__dataclass_fields__)


def load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def scenario_objects(scenario: dict) -> list[dict]:
    """The objects a scenario file describes: its `include:`s (the demo, upstream fixtures), then `objects:`."""
    objects: list[dict] = []
    for inc in scenario.get("include") or []:
        if inc == "demo":
            from kubectl_dra.kube.demo import demo_objects

            objects.extend(demo_objects())
        elif inc.startswith("fixture:"):
            path = FIXTURES / inc.split(":", 1)[1]
            if not path.is_file():
                pytest.skip(f"{path} is not present")
            from kubectl_dra.kube.files import iter_objects, parse_documents

            objects.extend(o for o in iter_objects(parse_documents(path.read_text(), str(path))) if o is not None)
        else:
            raise AssertionError(f"unknown include {inc!r}")
    objects.extend(scenario.get("objects") or [])
    return objects


def build_cluster(scenario: dict) -> Cluster:
    cluster = Cluster(source="scenario")
    for obj in scenario_objects(scenario):
        decoded = decode(obj)
        if decoded is not None:
            cluster.add(decoded)
    return cluster


def result_strings(node, with_claim: bool) -> list[str]:
    out = []
    for r in node.results:
        text = f"{r.request} {r.driver}/{r.pool}/{r.device}"
        out.append(f"{r.claim} {text}" if with_claim else text)
    return out


def test_scenario_count():
    assert len(FILES) >= 40


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario(path: Path):
    scenario = load(path)
    assert scenario.get("description"), "every scenario says what it shows"
    features = scenario.get("features") or {}
    assert set(features) <= FEATURE_NAMES, set(features) - FEATURE_NAMES
    cluster = build_cluster(scenario)
    kwargs = {}
    if "budget" in scenario:
        kwargs["budget"] = scenario["budget"]
    result = simulate(cluster, scenario["simulate"], scenario.get("nodes"), features=Features(**features), **kwargs)
    expect = scenario["expect"]
    context = result.to_dict()
    assert result.verdict == expect["verdict"], context
    codes = [r.code for r in result.reasons]
    for code in expect.get("reasons") or []:
        assert code in CODES, code
        assert code in codes, (code, context["reasons"])
    expected_nodes = expect.get("nodes") or {}
    if "node_count" in expect:
        assert len(result.nodes) == expect["node_count"]
    for name, want in expected_nodes.items():
        node = result.node(name)
        got = node.to_dict()
        if "allocatable" in want:
            assert node.allocatable is want["allocatable"], got
        if "status" in want:
            assert node.status == want["status"], got
        if "results" in want:
            expected = list(want["results"])
            assert result_strings(node, any(len(e.split()) == 3 for e in expected)) == expected, got
        for code in want.get("reasons") or []:
            assert code in CODES, code
            assert code in node.codes(), (code, got["reasons"])
        for code in want.get("no_reasons") or []:
            assert code not in node.codes(), (code, got["reasons"])
        for code, status in (want.get("reason_status") or {}).items():
            found = [r for r in node.reasons if r.code == code]
            assert found and found[0].status == status, (code, got["reasons"])
        for claim, selector in (want.get("node_selector") or {}).items():
            assert node.node_selectors.get(claim) == selector, got["nodeSelectors"]
        for key, capacities in (want.get("consumed") or {}).items():
            match = [r for r in node.results if f"{r.request} {r.driver}/{r.pool}/{r.device}" == key]
            assert match, (key, got["results"])
            assert match[0].consumed_capacity == {k: str(v) for k, v in capacities.items()}, got["results"]
        # every reason is well-formed for `explain`
        for r in got["reasons"]:
            assert r["code"] in CODES and r["message"] and r["status"] in ("Unschedulable", "Error", "Warning", "Info")
