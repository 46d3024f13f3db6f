"""Upstream's answers for differential tests: ``k8sbox oracle alloc|cel`` (tests/e2e/k8sbox/oracle*.go).

The oracle is the Kubernetes v1.36.3 structured allocator and DRA CEL package, built into the same
k8sbox binary as the control plane (``cluster.binary()``: same cache, same source hash). It needs Go
but no control plane. One process answers a whole batch: cases go in as JSON lines, results come
back in the same order.

    orc = Oracle(cluster.binary())
    orc.cel([{"id": 1, "expression": "...", "devices": [cel_device(d), ...]}])
    orc.alloc([{"id": 1, "objects": [...], "simulate": ["pod/default/p"], "gates": {...}}])

``compare_alloc`` and ``compare_cel`` turn one simulator/CEL answer and one oracle answer into a
list of differences (empty when they agree).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import cluster
from tests.e2e.gate import need_go

HERE = Path(__file__).resolve().parent
CASES = HERE / "oracle_cases"

#: kubectl_dra.alloc.Features field -> the feature gates it stands for (1.36 names)
GATES = {
    "admin_access": ("DRAAdminAccess",),
    "prioritized_list": ("DRAPrioritizedList",),
    "partitionable_devices": ("DRAPartitionableDevices",),
    "device_taints": ("DRADeviceTaints",),
    "binding_conditions": ("DRADeviceBindingConditions",),
    "consumable_capacity": ("DRAConsumableCapacity",),
    "list_type_attributes": ("DRAListTypeAttributes",),
    "device_taint_rules": ("DRADeviceTaintRules",),
}

#: gates 1.36 locks to their default: a scenario that turns one off is set on the allocator directly
LOCKED = {"admin_access": "AdminAccess"}


class OracleError(RuntimeError):
    pass


class Oracle:
    def __init__(self, exe: Path):
        self.exe = Path(exe)

    def _run(self, mode: str, cases: Sequence[dict], timeout: float = 600) -> list[dict]:
        if not cases:
            return []
        text = "".join(json.dumps(c, separators=(",", ":")) + "\n" for c in cases)
        proc = subprocess.run([str(self.exe), "oracle", mode], input=text, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if proc.returncode != 0:
            raise OracleError(f"k8sbox oracle {mode} exited {proc.returncode}: {proc.stderr[-2000:]}")
        out = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        if len(out) != len(cases):
            raise OracleError(f"k8sbox oracle {mode}: {len(cases)} cases, {len(out)} answers; {proc.stderr[-2000:]}")
        return out

    def alloc(self, cases: Sequence[dict]) -> list[dict]:
        return self._run("alloc", cases)

    def cel(self, cases: Sequence[dict]) -> list[dict]:
        return self._run("cel", cases)


@pytest.fixture(scope="session")
def oracle() -> Oracle:
    """The oracle (built on first use); skips, or fails under KUBECTL_DRA_E2E=require, without Go."""
    need_go("the oracle")
    try:
        exe = cluster.binary(log=lambda m: print(f"[oracle] {m}", flush=True))
    except cluster.ClusterError as e:
        pytest.fail(f"k8sbox (oracle) did not build: {e}", pytrace=False)
    return Oracle(exe)


# --------------------------------------------------------------------------------------------- alloc


def gates_for(features: dict[str, bool]) -> tuple[dict[str, bool], dict[str, bool]]:
    """(feature gates, allocator-feature overrides) for kubectl_dra.alloc.Features fields."""
    gates: dict[str, bool] = {}
    direct: dict[str, bool] = {}
    for name, value in features.items():
        if name in LOCKED and not value:
            direct[LOCKED[name]] = value
            continue
        for gate in GATES[name]:
            gates[gate] = bool(value)
    return gates, direct


#: the API groups the oracle reads (others, e.g. apps/v1 Deployments in fixtures, are left out)
READ_GROUPS = ("v1", "resource.k8s.io/")


def alloc_case(case_id: Any, objects: list[dict], simulate: Any, *, nodes: Iterable[str] | None = None,
               features: dict[str, bool] | None = None, timeout: float | None = None) -> dict:
    gates, direct = gates_for(features or {})
    objects = [o for o in objects if str(o.get("apiVersion", "")).startswith(READ_GROUPS)]
    case: dict[str, Any] = {"id": case_id, "objects": objects, "simulate": simulate if isinstance(simulate, list) else [simulate]}
    if timeout is not None:
        case["timeoutSeconds"] = timeout
    if gates:
        case["gates"] = gates
    if direct:
        case["allocatorFeatures"] = direct
    if nodes is not None:
        case["nodes"] = list(nodes)
    return case


#: reasons from scheduler filters that run before DynamicResources (kubectl_dra/alloc/podfit.py): the
#: oracle runs the DRA plugin alone, so a node rejected for one of these is not compared
PLACEMENT_CODES = frozenset({"node-affinity", "node-tainted", "node-unschedulable"})
#: reasons from the scheduler's PreBind and PostFilter, which the oracle (PreFilter + Filter) does not run;
#: test_explain_scheduler.py checks them against the real kube-scheduler
BEYOND_FILTER_CODES = frozenset({"allocation-immutable", "claim-in-use", "claim-deallocated"})


def beyond_filter(result) -> list[str]:
    """The simulator's reasons that come from PreBind/PostFilter (then the oracle cannot judge)."""
    reasons = list(result.reasons) + [r for n in result.nodes for r in n.reasons]
    return sorted({r.code for r in reasons if r.code in BEYOND_FILTER_CODES})


def sim_summary(result) -> dict[str, dict]:
    """Our simulator's answer in the oracle's terms: node -> {allocatable, status, results}.

    Nodes the pod's placement rules out (PLACEMENT_CODES) are left out: DynamicResources never sees them."""
    out = {}
    for node in result.nodes:
        if not node.allocatable and any(r.code in PLACEMENT_CODES for r in node.reasons if r.blocking):
            continue
        out[node.node] = {
            "allocatable": bool(node.allocatable),
            "status": "Success" if node.allocatable else node.status,
            "results": [f"{r.claim} {r.request} {r.driver}/{r.pool}/{r.device}" for r in node.results],
            "message": "; ".join(r.message for r in node.reasons if r.blocking) if not node.allocatable else "",
        }
    return out


def oracle_summary(answer: dict) -> dict[str, dict]:
    if answer.get("caseError"):
        raise OracleError(f"oracle could not read case {answer.get('id')}: {answer['caseError']}")
    out = {}
    for node in answer.get("nodes") or []:
        out[node["name"]] = {
            "allocatable": node["allocatable"],
            "status": node["status"],
            "results": [f"{r['claim']} {r['request']} {r['driver']}/{r['pool']}/{r['device']}" for r in node["results"]],
            "message": node.get("message", ""),
        }
    return out


def compare_alloc(result, answer: dict, *, devices: bool = True) -> list[str]:
    """Differences between a SimulationResult and the oracle's answer (empty: they agree).

    Per node: allocatable, whether a failure is an Error or Unschedulable, and (both allocatable)
    the chosen devices in order. A PreFilter stop upstream must be a no-node-allocatable verdict here.
    """
    diffs: list[str] = []
    if answer.get("panic"):
        return [f"upstream allocator panics: {answer['panic']}"]
    pre = answer.get("prefilter")
    if pre:
        if result.verdict in ("allocatable", "allocated"):
            diffs.append(f"upstream PreFilter stops ({pre['status']}: {pre['message']}), simulator says {result.verdict}")
        elif (pre["status"] == "Error") != (result.verdict == "error"):
            diffs.append(f"upstream PreFilter {pre['status']} ({pre['message']}), simulator verdict {result.verdict}")
        return diffs
    ours = sim_summary(result)
    theirs = oracle_summary(answer)
    placed_out = {n.node for n in result.nodes} - set(ours)
    if not ours and not placed_out and theirs:
        # the simulator stopped before the nodes (a claim-level problem): that is every node failing
        status = "Error" if result.verdict == "error" else "Unschedulable"
        message = "; ".join(r.message for r in result.reasons if r.blocking)
        ours = {name: {"allocatable": False, "status": status, "results": [], "message": message} for name in theirs}
    for name in sorted(set(ours) | set(theirs)):
        a, b = ours.get(name), theirs.get(name)
        if a is None and name in placed_out:
            continue
        if a is None or b is None:
            diffs.append(f"node {name}: only {'upstream' if a is None else 'simulator'} evaluated it")
            continue
        if b["status"] == "Panic":
            diffs.append(f"node {name}: upstream allocator panics: {b['message']}")
            continue
        if a["allocatable"] != b["allocatable"]:
            diffs.append(f"node {name}: simulator allocatable={a['allocatable']} ({a['status']}: {a['message'][:300]}), "
                         f"upstream allocatable={b['allocatable']} ({b['status']}: {b['message'][:300]})")
            continue
        if not a["allocatable"] and (a["status"] == "Error") != (b["status"] == "Error"):
            diffs.append(f"node {name}: simulator {a['status']} ({a['message'][:300]}), upstream {b['status']} ({b['message'][:300]})")
            continue
        if devices and a["allocatable"] and a["results"] != b["results"]:
            diffs.append(f"node {name}: simulator chose {a['results']}, upstream {b['results']}")
    if diffs and answer.get("invalid"):
        diffs.append(f"(note: API validation would reject {answer['invalid']})")
    return diffs


# --------------------------------------------------------------------------------------------- cel


def cel_device(device) -> dict:
    """A kubectl_dra.model.device.Device in the API's wire shape for the CEL oracle."""
    attrs = {}
    for qualified in device.attributes:
        attrs[qualified] = device.raw_attribute(qualified)
    return {
        "driver": device.driver,
        "allowMultipleAllocations": bool(device.allow_multiple_allocations),
        "attributes": attrs,
        "capacity": {q: {"value": v} for q, v in device.capacity.items()},
    }


def cel_outcome(answer: dict, i: int) -> tuple[str, Any]:
    """("compile", message) | ("error", message) | ("value", bool) for device i of an oracle answer."""
    if answer.get("caseError"):
        raise OracleError(f"oracle could not read case {answer.get('id')}: {answer['caseError']}")
    if answer.get("compileError"):
        return "compile", answer["compileError"]
    r = answer["results"][i]
    if "error" in r:
        return "error", r["error"]
    return "value", r["value"]
