"""`kubectl dra explain` predicts the real kube-scheduler (v1.36.3) — a differential test.

Every scenario (tests/alloc_scenarios, tests/e2e/scenarios, the demo cluster's pods, seeded
random clusters from tests/e2e/scengen.py) is created on the shared control plane, explained with
`kubectl dra explain pod/NAME -o json` (and `--claim-file` where the scenario says so) and then
scheduled by the real scheduler (tests/e2e/scenarios.py). They must agree on: fits or not (or a
scheduler error, or a manifest the API server rejects); the node the scheduler picked is one explain
said fits; and on that node the devices explain names are the devices the scheduler allocated.

The agreement figure is printed (docs/scheduler-agreement.md records it).

KUBECTL_DRA_SCHED_CASES (default 100): random cases; KUBECTL_DRA_SCHED_SEED (default 1, "random"
for a new one each run): their seed, printed. KUBECTL_DRA_SCHED_ONLY: run only scenarios whose name
contains this text.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.e2e import scenarios as S
from tests.e2e import scengen
from tests.e2e.kapi import Api

pytestmark = pytest.mark.e2e

CASES = int(os.environ.get("KUBECTL_DRA_SCHED_CASES", "100"))
_seed = os.environ.get("KUBECTL_DRA_SCHED_SEED", "1")
SEED = int(time.time()) % 100_000 if _seed == "random" else int(_seed)
ONLY = os.environ.get("KUBECTL_DRA_SCHED_ONLY", "")

#: what the hand-written scenarios must cover (issue 10): feature -> scenario names that show it
COVERAGE = {
    "whole GPUs": ["gpu-whole-one", "gpu-whole-count", "gpu-whole-not-enough", "gpu-second-node"],
    "partitionable devices with shared counters": ["mig-partition-fits", "mig-whole-blocks-partitions",
                                                   "mig-counters-exhausted", "mig-two-drivers-same-pool"],
    "matchAttribute / distinctAttribute across PCIe roots": ["pcie-gpu-nic-same-root", "pcie-no-common-root", "distinct-numa"],
    "firstAvailable": ["first-available-first", "first-available-fallback", "first-available-none", "mig-first-available"],
    "allocationMode All": ["all-on-node", "all-one-held", "all-with-selector"],
    "adminAccess, labelled and unlabelled namespaces": ["admin-access-labelled", "admin-access-unlabelled",
                                                        "admin-access-template-unlabelled", "admin-access-label-removed"],
    "device taints and tolerations": ["taint-no-schedule", "taint-tolerated", "taint-toleration-wrong-effect", "taint-effect-none"],
    "devices held by other claims": ["gpu-second-node", "all-one-held", "held-shared-claim", "two-claims-allocated-reserved"],
    "several claims per pod": ["two-claims-one-node", "two-claims-allocated-elsewhere", "limit-two-claims"],
    "templates": ["template-two", "template-too-many", "admin-access-template-unlabelled"],
    "pod nodeSelector / node affinity / node taints": ["pod-node-selector", "pod-node-affinity", "node-taint-untolerated",
                                                        "node-taint-tolerated", "node-cordoned"],
    "node selection in slices (nodeSelector, allNodes, per device)": ["slice-node-selector", "slice-all-nodes",
                                                                      "per-device-node-selection"],
    "the 32-device limit": ["limit-32", "limit-33-requests", "limit-all-33", "limit-first-available"],
}


def _wanted(sc: S.Scenario) -> bool:
    return not ONLY or ONLY in sc.name


@pytest.fixture(scope="module")
def records(api: Api, control_plane, demo_cluster, run, tmp_path_factory) -> list[S.Record]:
    with pytest.MonkeyPatch.context() as mp:
        # what the suite's autouse fixture does per test, for this module's one run of everything
        mp.setenv("HOME", str(tmp_path_factory.mktemp("home")))
        mp.setenv("KUBECONFIG", str(control_plane.kubeconfig))
        mp.setenv("NO_COLOR", "1")
        mp.setenv("COLUMNS", "200")
        mp.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        return _run_all(api, control_plane, demo_cluster, run)


def _run_all(api: Api, control_plane, demo_cluster, run) -> list[S.Record]:
    started = time.monotonic()

    def invoke(*args: str):
        r = run(*args)
        return r.exit_code, r.stdout, r.stderr

    harness = S.Harness(api, control_plane.kubeconfig, invoke, log=lambda m: None)
    out = [*_demo_records(harness, demo_cluster)]
    scenarios = [*S.alloc_scenarios(), *S.live_scenarios(), *scengen.generate(SEED, CASES)]
    out.extend(harness.run([sc for sc in scenarios if _wanted(sc)]))
    left = harness.wait_gone(60)
    assert not left, f"scenario namespaces still terminating after 60 s: {left}"
    out.append(S.Record("(timing)", "-", "skipped", f"{time.monotonic() - started:.0f} s"))
    return out


def _demo_records(harness: S.Harness, demo_cluster) -> list[S.Record]:
    """The demo cluster as load_demo left it: every pod, bound or pending, explained after the fact."""
    out = []
    for ref, outcome in sorted(demo_cluster.items()):
        if not _wanted(S.Scenario(f"demo/{ref}", "demo", [], [])):
            continue
        ns, name = ref.split("/")
        out.append(harness.explain_existing(ns, name, outcome))
    return out


@pytest.fixture(scope="module")
def run_module():
    from typer.testing import CliRunner

    from kubectl_dra.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False, prog_name="kubectl dra")

    return invoke


@pytest.fixture(scope="module")
def run(run_module):
    class Result:
        def __init__(self, r):
            self.exit_code, self.stdout, self.stderr = r.exit_code, r.stdout, r.stderr

    return lambda *args: Result(run_module(*args))


def _real(records: list[S.Record]) -> list[S.Record]:
    return [r for r in records if r.scenario != "(timing)"]


def test_agreement_figure(records, capsys):
    real = _real(records)
    timing = next(r.detail for r in records if r.scenario == "(timing)")
    with capsys.disabled():
        print(f"\n[explain vs kube-scheduler] random seed {SEED}, {CASES} cases, {timing}")
        print(S.figure(real))
        for r in real:
            if r.status == "disagree":
                print("  " + r.line())
    assert real


@pytest.mark.parametrize("source", ["alloc", "live", "random", "demo"])
def test_no_disagreement(records, source):
    mine = [r for r in _real(records) if r.source == source]
    if ONLY and not mine:
        pytest.skip(f"KUBECTL_DRA_SCHED_ONLY={ONLY} selects none")
    bad = [r.line() for r in mine if r.status == "disagree"]
    assert not bad, "explain and kube-scheduler disagree:\n" + "\n".join(bad)
    assert any(r.status == "agree" for r in mine)


def test_skips_have_reasons(records):
    """Skipped scenarios are the documented exceptions (docs/scheduler-agreement.md), never silent."""
    reasons = {r.scenario: r.detail for r in _real(records) if r.status == "skipped"}
    allowed = ("cannot exist on a real server", "the target pod is already bound")
    assert all(d.startswith(allowed) for d in reasons.values()), reasons


def test_live_scenarios_cover_the_issue(records):
    if ONLY:
        pytest.skip("KUBECTL_DRA_SCHED_ONLY is set")
    live = {r.scenario.split("/", 1)[1]: r for r in _real(records) if r.source == "live"}
    assert len(live) >= 40
    missing = {f: [n for n in names if n not in live or live[n].status != "agree"] for f, names in COVERAGE.items()}
    assert not {f: m for f, m in missing.items() if m}


def test_random_cases_ran(records):
    if ONLY:
        pytest.skip("KUBECTL_DRA_SCHED_ONLY is set")
    rnd = [r for r in _real(records) if r.source == "random"]
    assert len(rnd) == CASES and all(r.status != "skipped" for r in rnd)
