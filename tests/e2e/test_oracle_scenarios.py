"""Every allocation scenario (tests/alloc_scenarios/*.yaml) through our simulator and through upstream's
allocator (the k8sbox oracle): per node the same allocatable verdict, the same Error/Unschedulable
kind of failure and, where both allocate, the same devices in the same order.

Needs Go (the oracle), not the control plane. Scenarios where upstream and the simulator are known
to differ are listed in KNOWN with the reason; they run as strict xfails, so a fix shows up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectl_dra.alloc import Features, simulate
from tests.e2e.oracle import alloc_case, beyond_filter, compare_alloc, oracle  # noqa: F401 - fixture
from tests.test_alloc_scenarios import FILES, build_cluster, load

pytestmark = pytest.mark.e2e

#: scenario stem -> why upstream answers differently (open: the allocator owner's to fix)
KNOWN: dict[str, str] = {}


def raw_objects(scenario: dict) -> list[dict]:
    from tests.test_alloc_scenarios import scenario_objects

    return scenario_objects(scenario)


@pytest.fixture(scope="module")
def answers(oracle):
    cases = []
    for path in FILES:
        scenario = load(path)
        try:
            objects = raw_objects(scenario)
        except pytest.skip.Exception:
            continue
        cases.append(alloc_case(path.stem, objects, scenario["simulate"], nodes=scenario.get("nodes"),
                                features=scenario.get("features") or {},
                                # a scenario with a search budget is about giving up: upstream gives
                                # up at its filter timeout; 1 s instead of 10 keeps the run short
                                timeout=1.0 if "budget" in scenario else None))
    return {a["id"]: a for a in oracle.alloc(cases)}


def _params():
    out = []
    for p in FILES:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN[p.stem])] if p.stem in KNOWN else []
        out.append(pytest.param(p, id=p.stem, marks=marks))
    return out


@pytest.mark.parametrize("path", _params())
def test_scenario_agrees_with_upstream(path: Path, answers):
    if path.stem not in answers:
        pytest.skip("scenario includes a fixture that is not present")
    scenario = load(path)
    cluster = build_cluster(scenario)
    kwargs = {"budget": scenario["budget"]} if "budget" in scenario else {}
    result = simulate(cluster, scenario["simulate"], scenario.get("nodes"),
                      features=Features(**(scenario.get("features") or {})), **kwargs)
    answer = answers[path.stem]
    assert not answer.get("caseError"), answer["caseError"]
    if answer.get("invalid") and any(n["status"] == "Panic" for n in answer["nodes"]):
        pytest.skip(f"not comparable: API validation rejects {answer['invalid']} and upstream's allocator "
                    f"panics on it ({answer['nodes'][0]['message']})")
    beyond = beyond_filter(result)
    if beyond:
        pytest.skip(f"about the scheduler's PreBind/PostFilter ({', '.join(beyond)}), which the oracle does not run; "
                    "tests/e2e/test_explain_scheduler.py checks it against kube-scheduler")
    diffs = compare_alloc(result, answer)
    assert not diffs, "\n".join(diffs)
