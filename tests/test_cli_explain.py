"""`kubectl dra explain` and `kubectl dra lint` on the demo cluster, -f files and the fake API server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

DEMO = Path(__file__).resolve().parents[1] / "kubectl_dra" / "demo" / "cluster.yaml"
PENDING = ["-n", "research", "pretrain-70b-gpus-fmb6b"]


def test_pending_claim_is_explained(run, golden):
    result = run("explain", "--demo", *PENDING)
    assert result.exit_code == 7, result.stderr
    golden("explain-pending.txt", result.stdout)
    assert "5 allocated to ml-team/llm-train-0-gpus-l4pnk (4, pod llm-train-0), research/gpu-nic-pair (1, pod nccl-probe)" in result.stdout
    assert "no-driver (2 nodes: mi300x-01, tpu-v4-01)" in result.stdout


def test_json_shape(run):
    result = run("explain", "--demo", *PENDING, "-o", "json")
    assert result.exit_code == 7
    data = json.loads(result.stdout)
    assert data["verdict"] == "unallocatable"
    assert {n["node"] for n in data["nodes"]} == {"dgx-h100-01", "a100-mig-01", "h100-dmig-01", "l40s-01", "mi300x-01", "tpu-v4-01"}
    for node in data["nodes"]:
        assert set(node) >= {"node", "allocatable", "results", "reasons"}
    dgx = next(n for n in data["nodes"] if n["node"] == "dgx-h100-01")
    assert dgx["reasons"][0]["code"] == "in-use"
    assert yaml.safe_load(run("explain", "--demo", *PENDING, "-o", "yaml").stdout) == data


def test_node_restricts_the_simulation(run):
    data = json.loads(run("explain", "--demo", *PENDING, "--node", "l40s-01", "-o", "json").stdout)
    assert [n["node"] for n in data["nodes"]] == ["l40s-01"]
    assert run("explain", "--demo", *PENDING, "--node", "nope").exit_code == 3


def test_claim_file_that_fits(run, tmp_path):
    manifest = run("claim", "--demo", "--profile", "1g.10gb").stdout
    (tmp_path / "c.yaml").write_text(manifest)
    result = run("explain", "--demo", "--claim-file", str(tmp_path / "c.yaml"), "-n", "ml-team", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"] == "allocatable"
    fits = {n["node"]: n["results"] for n in data["nodes"] if n["allocatable"]}
    assert set(fits) == {"a100-mig-01", "h100-dmig-01"}
    assert all("1g10gb" in r[0]["device"] for r in fits.values())


def test_claim_file_that_cannot_fit(run, tmp_path):
    manifest = run("claim", "--demo", "product~h100", "not mig", "--count", "9").stdout
    (tmp_path / "c.yaml").write_text(manifest)
    result = run("explain", "--demo", "--claim-file", str(tmp_path / "c.yaml"))
    assert result.exit_code == 7
    assert "fits on none" in result.stdout


def test_pod_already_running(run):
    result = run("explain", "--demo", "pod/llm-train-0", "-n", "ml-team")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("verdict: allocated")


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        ([], 2, "name one pod/NAME or claim"),
        (["-n", "research", "nope"], 3, 'resourceclaim "nope" not found in namespace research'),
        (["pod/nope", "-n", "research"], 3, 'pod "nope" not found'),
    ],
)
def test_errors(run, args, code, needle):
    result = run("explain", "--demo", *args)
    assert result.exit_code == code
    assert needle in result.stderr


def test_over_http_agrees_with_the_demo(run, fake_api):
    fake_api.load_yaml(DEMO)
    live = run("explain", *PENDING, "-o", "json")
    assert live.exit_code == 7, live.stderr
    assert json.loads(live.stdout) == json.loads(run("explain", "--demo", *PENDING, "-o", "json").stdout)


def test_lint_demo_and_gpu_test6(run, tmp_path):
    result = run("lint", "--demo", "-o", "json")
    assert result.exit_code == 0
    assert any(f["code"] == "class-matches-nothing" for f in json.loads(result.stdout)["items"])
    fixture = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "upstream" / "dra-driver-nvidia-gpu" / "quickstart-v1-gpu-test6-a100-selector.yaml"
    combined = tmp_path / "all.yaml"
    combined.write_text(DEMO.read_text() + "\n---\n" + fixture.read_text())
    result = run("lint", "-f", str(combined), "-o", "json")
    codes = {f["code"] for f in json.loads(result.stdout)["items"]}
    assert codes & {"unknown-attribute", "cel-runtime-error", "unguarded-attribute"}


# ------------------------------------------------------------------ feature gates (--features, release)

def _taint_rule_file(tmp_path: Path) -> Path:
    scenario = yaml.safe_load((Path(__file__).parent / "alloc_scenarios" / "taint-rule-blocks.yaml").read_text())
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump_all(scenario["objects"]))
    return path


def test_taint_rules_are_ignored_unless_the_gate_is_on(run, tmp_path):
    path = _taint_rule_file(tmp_path)
    off = run("explain", "claim-0", "-n", "default", "-f", str(path), "-o", "json")
    assert off.exit_code == 0, off.stderr
    data = json.loads(off.stdout)
    assert data["verdict"] == "allocatable"
    assert [r["code"] for r in data["reasons"]] == ["taint-rules-ignored"]
    on = run("explain", "claim-0", "-n", "default", "-f", str(path), "-o", "json", "--features", "DRADeviceTaintRules=true")
    assert on.exit_code == 7, on.stderr
    data = json.loads(on.stdout)
    assert data["verdict"] == "unallocatable"
    gates = [r for r in data["reasons"] if r["code"] == "feature-gates"]
    assert len(gates) == 1 and gates[0]["data"]["gates"]["DRADeviceTaintRules"] is True
    assert "taint-rules-ignored" not in [r["code"] for r in data["reasons"]]


@pytest.mark.parametrize(("value", "needle"), [
    ("DRABogus=true", "unknown feature gate 'DRABogus'"),
    ("DRADeviceTaintRules=yes", "expected DRADeviceTaintRules=true or DRADeviceTaintRules=false"),
    ("DRADeviceTaintRules", "expected DRADeviceTaintRules=true"),
])
def test_features_usage_errors(run, value, needle):
    res = run("explain", "pod/pretrain-70b", "-n", "research", "--demo", "--features", value)
    assert res.exit_code == 2
    assert needle in res.stderr


def test_release_defaults():
    from kubectl_dra.alloc.features import DEFAULT_FEATURES, for_release, gates, release_of

    assert for_release("1.36") == (DEFAULT_FEATURES, "1.36")
    assert for_release(None) == (DEFAULT_FEATURES, "1.36")
    assert for_release("1.40") == (DEFAULT_FEATURES, "1.36")
    old, used = for_release("1.35")
    assert used == "1.35"
    assert {g for g, on in gates(old).items() if on} == {"DRAAdminAccess", "DRAPrioritizedList"}
    assert for_release("1.31")[1] == "1.34"
    assert release_of("1", "35+") == "1.35"
    assert release_of("", "", "v1.34.2-gke.100") == "1.34"


def _demo_pods() -> list[tuple[str, str]]:
    docs = [d for d in yaml.safe_load_all(DEMO.read_text()) if d]
    items = [i for d in docs for i in (d.get("items") or [d])]
    return sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in items if i.get("kind") == "Pod")


@pytest.mark.parametrize(("namespace", "pod"), _demo_pods())
def test_every_demo_pod_explained_over_http_agrees_with_the_demo(run, fake_api, namespace, pod):
    """A live explain takes whole claims only in its namespace (the others' allocations suffice):
    the answer for each demo pod, whatever its namespace, is the one the full demo gives."""
    fake_api.load_yaml(DEMO)
    live = run("explain", f"pod/{pod}", "-n", namespace, "-o", "json")
    offline = run("explain", f"pod/{pod}", "-n", namespace, "--demo", "-o", "json")
    assert live.exit_code == offline.exit_code, live.stderr
    assert json.loads(live.stdout) == json.loads(offline.stdout)


@pytest.mark.parametrize("no_fork", ["1", ""])
def test_live_read_takes_whole_claims_only_in_the_namespace(fake_api, monkeypatch, no_fork):
    """CLAIMS_HERE (explain): the namespace's claims come back whole, every other claim (from the
    helper process, or read inline) without spec, annotations, owners, node selector and device status."""
    from dataclasses import replace

    from kubectl_dra.kube.kinds import CLAIM_ALLOCATIONS, CLAIMS, CLAIMS_HERE, SLICES
    from kubectl_dra.kube.load import load_cluster
    from kubectl_dra.kube.source import SourceOptions

    fake_api.load_yaml(DEMO)
    monkeypatch.setenv("KUBECTL_DRA_NO_FORK", no_fork)
    source = SourceOptions(all_namespaces=True, namespace="research")
    full = load_cluster(source, (SLICES, CLAIMS))
    here = load_cluster(source, (SLICES, CLAIMS_HERE))
    assert {c.namespace for c in full.claims} > {"research"}
    assert any(c.spec_raw for c in full.claims if c.namespace == "research")
    assert any(c.spec_raw and c.results for c in full.claims if c.namespace != "research")
    dropped = {"annotations": {}, "owners": [], "spec_raw": None, "allocation_node_selector": None, "device_status": []}
    assert here.claims == [c if c.namespace == "research" else replace(c, **dropped) for c in full.claims]
    # with the allocations of every claim asked for too, the namespace's claims still come whole
    assert load_cluster(source, (SLICES, CLAIMS_HERE, CLAIM_ALLOCATIONS)).claims == here.claims
