"""Allocation simulator: Kubernetes' structured DRA allocator re-implemented (dra-api.md §5).

Public API::

    from kubectl_dra.alloc import simulate
    result = simulate(cluster, pod_or_claims, nodes=None, budget=DEFAULT_BUDGET)
    result.verdict                 # allocatable | unallocatable | error | allocated
    result.nodes[i].allocatable    # per node: results (chosen devices), reasons, funnels
    result.to_dict()               # the JSON of `kubectl dra explain`

    from kubectl_dra.alloc.lint import lint
    findings = lint(cluster)       # selectors/constraints that will fail at scheduling time

Modules: ``inputs`` (what to simulate), ``prepare`` (claim validation), ``pools`` (what a node
sees, §5.2), ``state`` (allocated devices, §5.1), ``selection`` (CEL, §4), ``capacity`` (§5.7),
``constraints`` (§5.5), ``taints`` (§5.8), ``search`` (the backtracking allocator, §5.4),
``diagnose`` (funnels and reasons, §5.11), ``simulate`` (entry points), ``lint``.
"""

from __future__ import annotations

from kubectl_dra.alloc.features import DEFAULT_FEATURES, Features
from kubectl_dra.alloc.inputs import ClaimInput, pod_claims, resolve
from kubectl_dra.alloc.reasons import CODES, ERROR, INFO, UNSCHEDULABLE, WARNING, Reason
from kubectl_dra.alloc.result import (
    ALLOCATABLE,
    ALLOCATED,
    SCHEDULER_ERROR,
    UNALLOCATABLE,
    ClaimSummary,
    DeviceChoice,
    Funnel,
    NodeResult,
    SimulationResult,
    Stage,
)
from kubectl_dra.alloc.search import DEFAULT_BUDGET
from kubectl_dra.alloc.simulate import simulate, simulate_node

__all__ = [
    "ALLOCATABLE",
    "ALLOCATED",
    "CODES",
    "DEFAULT_BUDGET",
    "DEFAULT_FEATURES",
    "ERROR",
    "INFO",
    "SCHEDULER_ERROR",
    "UNALLOCATABLE",
    "UNSCHEDULABLE",
    "WARNING",
    "ClaimInput",
    "ClaimSummary",
    "DeviceChoice",
    "Features",
    "Funnel",
    "NodeResult",
    "Reason",
    "SimulationResult",
    "Stage",
    "pod_claims",
    "resolve",
    "simulate",
    "simulate_node",
]
