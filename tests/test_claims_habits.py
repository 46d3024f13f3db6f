"""claims NAME, --state, --node, a real -o wide, --sort-by and template outputs (issue 13, kubectl habits)."""

from __future__ import annotations

import json


def _items(run, *args):
    r = run("claims", "--demo", *args, "-o", "json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)["items"]


def test_state_node_and_names(run):
    every = _items(run, "-A")
    pending = _items(run, "-A", "--state", "pending")
    assert [c["name"] for c in pending] == [c["name"] for c in every if c["state"] == "pending"] == ["pretrain-70b-gpus-fmb6b"]
    both = _items(run, "-A", "--state", "allocated,reserved")
    assert {c["state"] for c in both} == {"allocated", "reserved"}
    on_l40s = _items(run, "-A", "--node", "l40s-01")
    assert {c["name"] for c in on_l40s} == {"l40s-canary", "triton-0-gpu-7z6b6"}
    [one] = _items(run, "-n", "ml-team", "llm-train-0-gpus-l4pnk")
    assert one["name"] == "llm-train-0-gpus-l4pnk"
    missing = run("claims", "--demo", "-n", "ml-team", "nope")
    assert missing.exit_code == 3 and 'resourceclaims "nope" not found' in missing.stderr
    bad = run("claims", "--demo", "--state", "busy")
    assert bad.exit_code == 2 and "--state must be one of pending" in bad.stderr


def test_wide_has_uuid_pci_class_and_selectors(run):
    table = run("claims", "--demo", "-A", "--node", "l40s-01", "-o", "wide").stdout.splitlines()
    assert table[0].split() == ["NAMESPACE", "NAME", "STATE", "REQUESTS", "NODE", "DEVICE", "UUID", "PCI", "CLASS",
                                "SELECTORS", "PODS", "AGE"]
    canary = next(line for line in table if "l40s-canary" in line)
    assert "GPU-a2c7305e-a40d-5244-9af3-2b1b29a5c322" in canary and "0000:31:00.0" in canary and "gpu.nvidia.com" in canary
    assert run("claims", "--demo", "-A").stdout != run("claims", "--demo", "-A", "-o", "wide").stdout


def test_sort_by_and_templates(run):
    names = run("claims", "--demo", "-A", "--sort-by", ".name", "-o", "jsonpath={.items[*].name}").stdout.split()
    assert names == sorted(names) and len(names) > 5
    cols = run("claims", "--demo", "-A", "--state", "pending", "-o", "custom-columns=NAME:.name,STATE:.state").stdout
    assert cols == "NAME                      STATE\npretrain-70b-gpus-fmb6b   pending\n"
