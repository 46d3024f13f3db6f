"""Issue 13 item 2: explain points at the cause: the node that got furthest, the nearest miss per request,
no hint that another node disproves (kubectl_dra.alloc.diagnose, data for the renderer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubectl_dra.alloc.diagnose import furthest, progress, thresholds

BIG = """apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: big, namespace: default}
spec:
  devices:
    requests:
    - name: gpu
      exactly:
        deviceClassName: gpu.nvidia.com
        selectors:
        - cel: {expression: 'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("200Gi")) >= 0'}
"""


def _explain(run, *args):
    r = run("explain", *args, "--demo", "-o", "json")
    assert r.exit_code == 7, r.stderr
    return json.loads(r.stdout)


def _no_match(data):
    return {n["node"]: r for n in data["nodes"] for r in n["reasons"] if r["code"] == "no-match"}


def test_nearest_miss_per_request(run, tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(BIG)
    data = _explain(run, "--claim-file", str(path))
    reasons = _no_match(data)
    assert set(reasons) == {"a100-mig-01", "dgx-h100-01", "h100-dmig-01", "l40s-01"}
    for reason in reasons.values():
        miss = reason["data"]["nearestMiss"]
        assert (miss["name"], miss["op"], miss["wanted"], miss["shown"], miss["node"]) == (
            "gpu.nvidia.com/memory", ">=", "200Gi", "80Gi", "a100-mig-01")
        assert reason["hint"] == ("selector #0: largest gpu.nvidia.com memory: 80Gi on a100-mig-01 "
                                  "(the selector asks for >= 200Gi)")
    # the group's detailed node is the one that got furthest: dgx-h100-01 (8 GPUs pass the class)
    group = [n for n in data["nodes"] if n["node"] in reasons]
    assert furthest(group)["node"] == "dgx-h100-01"
    assert group[0]["node"] == "a100-mig-01"  # the first by name is not


def test_class_hint_disproved_by_another_node(run):
    data = _explain(run, "-n", "research", "pretrain-70b-gpus-fmb6b")
    reasons = _no_match(data)
    assert reasons, "the demo's pretrain claim fits nowhere on three nodes for want of matching devices"
    # dgx-h100-01's class admits 8 of the 8 needed: "is it the right class?" is disproved everywhere
    assert reasons["a100-mig-01"]["data"].get("classHintDisproved") is True
    for reason in reasons.values():
        assert "is it the right class" not in (reason.get("hint") or "")


@pytest.mark.parametrize(("expression", "want"), [
    ('device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("40Gi")) >= 0',
     [("capacity", "gpu.nvidia.com/memory", ">=", "40Gi")]),
    ("device.capacity['d.io']['mem'].isGreaterThan(quantity('1Ki'))", [("capacity", "d.io/mem", ">", "1Ki")]),
    ('device.attributes["d.io"].cores >= 8', [("attribute", "d.io/cores", ">=", "8")]),
    ('device.attributes["d.io"].cores >= 8.5', []),
    ('device.driver == "x"', []),
])
def test_thresholds(expression, want):
    assert thresholds(expression) == want


def test_progress_orders_by_stage_then_counts():
    def node(name, *counts, needed=2):
        stages = [{"stage": s, "count": c} for s, c in zip(("visible", "class", "selector", "free"), counts)]
        return {"node": name, "funnels": [{"needed": needed, "stages": stages}]}

    a, b, c = node("a", 5, 1, 0, 0), node("b", 12, 8, 0, 0), node("c", 12, 8, 8, 1)
    assert progress(c) > progress(b) > progress(a)
    assert furthest([a, b, c])["node"] == "c"
    assert furthest([a, node("a2", 5, 1, 0, 0)])["node"] == "a"  # ties keep the first


def test_progress_of_an_all_request_needs_one_device():
    # allocationMode All: the funnel's "needed" is "all" (a string); it needs at least one device
    def node(name, *counts):
        stages = [{"stage": s, "count": c} for s, c in zip(("visible", "class", "free"), counts)]
        return {"node": name, "funnels": [{"needed": "all", "stages": stages}]}

    a, b = node("a", 4, 0, 0), node("b", 4, 2, 0)
    assert progress(b) > progress(a)
    assert furthest([a, b])["node"] == "b"


ALL = """apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: all-nvidia, namespace: default}
spec:
  devices:
    requests:
    - name: gpus
      exactly: {deviceClassName: gpu.nvidia.com, allocationMode: All}
"""


def test_table_of_an_all_request_details_its_groups(run, tmp_path):
    # the table used to fail with an internal error (TypeError comparing "all" with 1) when it detailed
    # the furthest node of a group of nodes that do not fit
    path = tmp_path / "all.yaml"
    path.write_text(ALL)
    r = run("explain", "--claim-file", str(path), "--demo")
    assert r.exit_code == 0, r.stderr
    assert "a100-mig-01: gpus=gpu-1" in r.stdout
    assert "  in-use (2 nodes: dgx-h100-01, l40s-01)" in r.stdout.splitlines()


def test_lint_names_the_nearest_miss(run, tmp_path):
    from kubectl_dra.kube.load import SourceOptions, load_cluster  # noqa: F401  (the demo file is the input)

    demo = (Path(__file__).resolve().parent.parent / "kubectl_dra" / "demo" / "cluster.yaml").read_text()
    path = tmp_path / "all.yaml"
    path.write_text(demo + "\n---\n" + BIG)
    r = run("lint", "-f", str(path), "-o", "json")
    findings = [f for f in json.loads(r.stdout)["items"] if f["object"] == "ResourceClaim default/big"]
    [finding] = findings
    assert finding["code"] == "request-matches-nothing"
    assert finding["hint"] == "selector #0: largest gpu.nvidia.com memory: 80Gi on a100-mig-01 (the selector asks for >= 200Gi)"
    assert finding["data"]["nearestMiss"]["shown"] == "80Gi"


def test_closest_miss_reports_near_devices_through_the_one_engine():
    from kubectl_dra.alloc.diagnose import closest_miss
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    devices = [v.device for v in load_cluster(SourceOptions(demo=True), ()).device_views() if v.device.driver == "gpu.amd.com"]
    miss = closest_miss('device.capacity["gpu.amd.com"].memory.compareTo(quantity("200Gi")) >= 0', devices)
    assert miss["near"] is True and miss["count"] == 8 and miss["suggestion"] == "191Gi"
    assert miss["text"].startswith("largest gpu.amd.com memory: 192Gi on mi300x-01 (the selector asks for >= 200Gi); "
                                   "8 devices within 5 %")
    far = closest_miss('device.capacity["gpu.amd.com"].memory.compareTo(quantity("400Gi")) >= 0', devices)
    assert far["near"] is False and "within 5 %" not in far["text"]


def test_table_details_the_furthest_node_and_the_nearest_miss(run, tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(BIG)
    r = run("explain", "--claim-file", str(path), "--demo")
    assert r.exit_code == 7
    lines = r.stdout.splitlines()
    at = lines.index("  no-match (4 nodes: a100-mig-01, dgx-h100-01, h100-dmig-01, l40s-01)")
    assert lines[at + 1].startswith("    request gpu: no device matches on node dgx-h100-01 (visible: 12, class gpu.nvidia.com: 8")
    assert lines[at + 2] == ("      hint: selector #0: largest gpu.nvidia.com memory: 80Gi on a100-mig-01 "
                             "(the selector asks for >= 200Gi)")
    assert "is it the right class" not in r.stdout
