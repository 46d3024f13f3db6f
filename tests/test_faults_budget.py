"""explain's overall search budget (issue 16): nodes the budget does not reach are reported, and the
verdict is "undecided" (exit 1), never "unallocatable" (exit 7) on a guess."""

from __future__ import annotations

import importlib
import json

simulate_module = importlib.import_module("kubectl_dra.alloc.simulate")
simulate = simulate_module.simulate


def _demo():
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    return load_cluster(SourceOptions(demo=True), {"slices", "claims", "classes", "templates", "pods", "nodes"})


def test_no_budget_left_is_undecided(monkeypatch):
    monkeypatch.setattr(simulate_module, "OVERALL_BUDGET_NODES", 0)
    result = simulate(_demo(), "research/pretrain-70b-gpus-fmb6b")
    assert result.verdict == "undecided"
    codes = {r.code for n in result.nodes for r in n.reasons}
    assert "search-cut-short" in codes and "budget-exhausted" not in codes


def test_budget_for_one_node_searches_one(monkeypatch):
    calls = []
    full = simulate(_demo(), "research/pretrain-70b-gpus-fmb6b", progress=lambda i, n: calls.append((i, n)))
    assert full.verdict == "unallocatable"
    assert calls == [(i, calls[0][1]) for i in range(calls[0][1])]  # every node, in order
    monkeypatch.setattr(simulate_module, "OVERALL_BUDGET_NODES", 1)
    cut = simulate(_demo(), "research/pretrain-70b-gpus-fmb6b", budget=1)
    cut_nodes = [n.node for n in cut.nodes if any(r.code == "search-cut-short" for r in n.reasons)]
    assert cut_nodes and cut.verdict in ("undecided", "error")


def test_cli_says_undecided_and_exits_1(run, monkeypatch):
    monkeypatch.setattr(simulate_module, "OVERALL_BUDGET_NODES", 0)
    result = run("explain", "--demo", "-n", "research", "pretrain-70b-gpus-fmb6b")
    assert result.exit_code == 1, result.stderr
    assert result.stdout.startswith("verdict: undecided:") and "not (fully) searched" in result.stdout.splitlines()[0]
    as_json = run("explain", "--demo", "-n", "research", "pretrain-70b-gpus-fmb6b", "-o", "json")
    assert json.loads(as_json.stdout)["verdict"] == "undecided"
