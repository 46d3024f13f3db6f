"""Entry points: simulate the structured allocator for a pod's claims on one or many nodes.

``simulate(cluster, claims, nodes=None, budget=…)`` mirrors what kube-scheduler's DRA plugin
does for one pod (dra-api.md §5): PreFilter checks on the claims (exist, classes exist, selectors
compile, …), then per candidate node ``Allocate(node, pendingClaims)`` plus a check that claims
already allocated are usable from the node. The work that does not depend on the node is done
once: slices are indexed by node and pool, every selector is compiled once and evaluated over
all devices the candidate nodes can see in one batch, and per-device static checks are cached.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from kubectl_dra.alloc import diagnose, podfit
from kubectl_dra.alloc import reasons as R
from kubectl_dra.alloc.features import DEFAULT_FEATURES, Features
from kubectl_dra.alloc.inputs import (
    ClaimInput,
    admin_access_reasons,
    claim_level_reasons,
    reservation_reasons,
    resolve,
)
from kubectl_dra.alloc.nodesel import names_in_selector, selector_matches
from kubectl_dra.alloc.pools import NodeView, Topology
from kubectl_dra.alloc.prepare import PreparedClaim, Preparer
from kubectl_dra.alloc.reasons import Reason
from kubectl_dra.alloc.result import (
    ALLOCATABLE,
    ALLOCATED,
    SCHEDULER_ERROR,
    UNALLOCATABLE,
    UNDECIDED,
    ClaimSummary,
    NodeResult,
    SimulationResult,
)
from kubectl_dra.alloc.search import DEFAULT_BUDGET, Checker, NodeSearch, node_selector
from kubectl_dra.alloc.selection import ExpressionCache
from kubectl_dra.alloc.shapes import ShapeCache
from kubectl_dra.alloc.state import build_state
from kubectl_dra.model.claim import Node, Pod
from kubectl_dra.model.cluster import Cluster

#: the name of the stand-in node when a cluster names none (only allNodes/nodeSelector slices)
ANY_NODE = "(any node)"


def simulate(
    cluster: Cluster,
    claims: Any,
    nodes: Iterable[str | Node] | None = None,
    budget: int = DEFAULT_BUDGET,
    *,
    features: Features = DEFAULT_FEATURES,
    namespace_labels: Callable[[str], dict | None] | None = None,
    unapplied: bool = False,
    progress: Callable[[int, int], None] | None = None,
    keep: list | None = None,
) -> SimulationResult:
    """Simulate allocating ``claims`` on every candidate node.

    ``claims``: a Pod (its claims, from templates where not created yet), a Claim, a
    ClaimTemplate, a list of those, or a name (``pod/NS/NAME``, ``claim/NS/NAME``,
    ``template/NS/NAME``, ``NS/NAME`` = claim). ``nodes``: names or Node objects; default every
    Node of the cluster (else every node named by a slice), or the pod's node if it is bound.
    ``budget``: search steps per node before giving up (``budget-exhausted``).
    ``namespace_labels``: labels of a namespace (None if unknown), to check adminAccess against
    the namespace label the API server requires; ``unapplied``: the claims are manifests not
    created yet (the server would reject them rather than the scheduler fail).
    The whole simulation has a budget too (``OVERALL_BUDGET_NODES`` node budgets): nodes it does not
    reach are reported ``search-cut-short`` and, when none of the others fits, the verdict is
    ``undecided``, never ``unallocatable``. ``progress(i, n)`` is called before node i of n.
    ``keep``: a list the caller keeps alive to the end of the process (which exits without tearing
    it down): the simulation parks its working structures there instead of freeing them one by one
    (~10 ms at 40,000 devices).
    """
    enabled = gc.isenabled()
    gc.disable()  # tens of thousands of small records: the cyclic GC would only cost time here
    try:
        tracker = _Overall(budget * OVERALL_BUDGET_NODES, progress)
        return _simulate(cluster, claims, nodes, budget, features, namespace_labels, unapplied, tracker, keep)
    finally:
        if enabled:
            gc.enable()


def _simulate(
    cluster: Cluster,
    claims: Any,
    nodes: Iterable[str | Node] | None,
    budget: int,
    features: Features,
    namespace_labels: Callable[[str], dict | None] | None = None,
    unapplied: bool = False,
    tracker: "_Overall | None" = None,
    keep: list | None = None,
) -> SimulationResult:
    tracker = tracker or _Overall(budget * OVERALL_BUDGET_NODES, None)
    inputs, found, pod = resolve(cluster, claims)
    found.extend(claim_level_reasons(inputs, pod))
    found.extend(admin_access_reasons(inputs, namespace_labels, unapplied))
    if features.binding_conditions:
        found.extend(reservation_reasons(inputs, pod))
    result = _attempt(cluster, inputs, list(found), pod, nodes, budget, features, set(), tracker, keep)
    # kube-scheduler's PostFilter (DynamicResources.PostFilter): when the pod fits nowhere and one of
    # its claims is allocated, reserved by no other pod and not usable on some node that was tried,
    # it deallocates that claim and schedules the pod again (it picks one such claim at random per
    # attempt; here the first in the pod's order)
    deallocated: list[ClaimInput] = []
    while result.verdict == UNALLOCATABLE and not (pod is not None and pod.node_name):
        victim = _postfilter_victim(result, inputs, pod)
        if victim is None:
            break
        deallocated.append(victim)
        inputs = [_deallocate(ci) if ci is victim else ci for ci in inputs]
        if keep is not None:
            keep.append(result)
        result = _attempt(cluster, inputs, list(found), pod, nodes, budget, features, {ci.ref for ci in deallocated}, tracker,
                          keep)
    for ci in deallocated:
        where = sorted(names_in_selector(ci.node_selector))
        result.reasons.append(
            Reason(
                R.CLAIM_DEALLOCATED,
                f"claim {ci.ref} is allocated ({', '.join(f'{r.driver}/{r.pool}/{r.device}' for r in ci.results) or 'no devices'}"
                + (f", for node {', '.join(where)}" if where else "")
                + ") but reserved by no pod, and the pod fits nowhere with it: kube-scheduler's PostFilter "
                "deallocates it and tries again; simulated as if it were pending",
                status=R.INFO,
                claim=ci.ref,
                data={"devices": [f"{r.driver}/{r.pool}/{r.device}" for r in ci.results], "nodes": where},
            )
        )
    return result


def _postfilter_victim(result: SimulationResult, inputs: list[ClaimInput], pod: Pod | None) -> ClaimInput | None:
    """An allocated claim PostFilter may deallocate: reserved for nobody (or only for this pod), and
    recorded as unavailable by the DRA Filter of some node, which it does only where the pending claims
    could be allocated (Filter returns "cannot allocate all claims" before it records unavailable claims)."""
    unavailable = {r.claim for n in result.nodes if n.pending_fit for r in n.reasons if r.code == R.CLAIM_ALLOCATED_ELSEWHERE}
    for ci in inputs:
        if ci.pending or ci.ref not in unavailable:
            continue
        consumers = [r for r in ci.reserved_for if isinstance(r, dict)]
        if not consumers or (
            len(consumers) == 1 and pod is not None and consumers[0].get("name") == pod.name
            and (not pod.uid or not consumers[0].get("uid") or consumers[0].get("uid") == pod.uid)
        ):
            return ci
    return None


def _deallocate(ci: ClaimInput) -> ClaimInput:
    return replace(ci, allocated=False, results=[], node_selector=None, reserved_for=[])


def _attempt(
    cluster: Cluster,
    inputs: list[ClaimInput],
    found: list[Reason],
    pod: Pod | None,
    nodes: Iterable[str | Node] | None,
    budget: int,
    features: Features,
    deallocated: set[str],
    tracker: "_Overall | None" = None,
    keep: list | None = None,
) -> SimulationResult:
    """One scheduling attempt: PreFilter checks, then every candidate node."""
    tracker = tracker or _Overall(budget * OVERALL_BUDGET_NODES, None)
    summaries = [
        ClaimSummary(ci.ref, ci.state, ci.source, [r.describe() for r in ci.spec.requests]) for ci in inputs
    ]
    summaries.extend(
        ClaimSummary(r.claim or "", "missing", "claim" if r.code == R.CLAIM_MISSING else "template")
        for r in found
        if r.code in (R.CLAIM_MISSING, R.TEMPLATE_MISSING) and r.claim
    )
    preparer = Preparer(cluster.classes, features)
    prepared, problems = preparer.prepare(inputs)
    found.extend(problems)
    result = SimulationResult(UNALLOCATABLE, [], found, summaries, pod.ref if pod else None, budget)
    if any(r.blocking for r in found):
        result.verdict = SCHEDULER_ERROR if any(r.status == R.ERROR for r in found) else UNALLOCATABLE
        return result

    state = build_state([c for c in cluster.claims if c.ref not in deallocated] if deallocated else cluster.claims, features)
    topology = Topology(cluster.slices, cluster.taint_rules, state, features)
    if cluster.taint_rules and not features.device_taint_rules:
        names = sorted(r.name for r in cluster.taint_rules)
        found.append(
            Reason(
                R.TAINT_RULES_IGNORED,
                f"{len(names)} DeviceTaintRule(s) ({', '.join(names[:5])}{', …' if len(names) > 5 else ''}) not applied: "
                "kube-scheduler ignores them unless the DRADeviceTaintRules feature gate is on (off by default in 1.36)",
                status=R.INFO,
                data={"rules": names},
                hint="if your scheduler runs with the gate on: --features DRADeviceTaintRules=true",
            )
        )
    candidates, others = _candidate_nodes(cluster, topology, inputs, nodes, pod, found)
    # nodes the pod cannot go to whatever its devices (cordoned, tainted, nodeSelector / affinity):
    # the scheduler's earlier filters reject them before DynamicResources sees them
    known = {id(n) for n in cluster.nodes}
    excluded: dict[str, Reason] = {}
    if pod is not None and not pod.node_name:
        for node in candidates:
            why = podfit.rejection(node, pod) if id(node) in known else None
            if why is not None:
                excluded[node.name] = why
    order = [node.name for node in candidates]
    candidates = [node for node in candidates if node.name not in excluded]
    views = [topology.view(node) for node in candidates]
    cache = ExpressionCache(features.list_type_attributes)
    for selection in preparer.selections:
        selection.ensure(topology.entries, cache)
    drivers_by_pool: dict[str, set[str]] = {}
    for sl in cluster.slices:
        drivers_by_pool.setdefault(sl.pool, set()).add(sl.driver)
    checker = Checker(state, features, frozenset(n for n, d in drivers_by_pool.items() if len(d) > 1))
    known_drivers = {sl.driver for sl in cluster.slices}
    drivers_of = _ClassDrivers(prepared, topology.entries, known_drivers)
    allocated = [ci for ci in inputs if not ci.pending]
    shapes = ShapeCache(prepared, checker) if prepared else None
    errors = any(spec.selection.errors for pc in prepared for spec in pc.specs())
    for index, view in enumerate(views):
        if tracker.progress is not None:
            tracker.progress(index, len(views))
        result.nodes.append(_node(view, prepared, allocated, checker, budget, drivers_of, tracker, shapes, errors))
    diagnose.cross_node(result.nodes, prepared, topology.entries)
    if keep is not None:
        keep.append((topology, views, checker, shapes, cache, preparer, state))
    if excluded:
        result.nodes.extend(NodeResult(name, False, reasons=[why]) for name, why in excluded.items())
        rank = {name: i for i, name in enumerate(order)}
        result.nodes.sort(key=lambda n: rank.get(n.node, len(rank)))
    for name in others:
        result.nodes.append(
            NodeResult(
                name,
                False,
                reasons=[
                    Reason(
                        R.NODE_CHOSEN,
                        f"pod {pod.ref if pod else ''} is already bound to node {pod.node_name if pod else ''}",
                        data={"node": pod.node_name if pod else None},
                    )
                ],
            )
        )
    result.verdict = _verdict(result, bool(prepared))
    return result


class _ClassDrivers:
    """id(selection) -> the drivers its class admits (``diagnose.class_drivers`` over every device the
    candidate nodes see), computed on first use: only a node where a request matches too few devices asks."""

    def __init__(self, prepared: list[PreparedClaim], entries: list, known_drivers: set[str]) -> None:
        self._prepared, self._entries, self._known = prepared, entries, known_drivers
        self._drivers: dict[int, set[str]] | None = None

    def get(self, key: int, default: set[str]) -> set[str]:
        if self._drivers is None:
            self._drivers = {
                id(spec.selection): diagnose.class_drivers(spec, self._entries, self._known)
                for pc in self._prepared
                for spec in pc.specs()
            }
        return self._drivers.get(key, default)


def _candidate_nodes(
    cluster: Cluster,
    topology: Topology,
    inputs: list[ClaimInput],
    nodes: Iterable[str | Node] | None,
    pod: Pod | None,
    found: list[Reason],
) -> tuple[list[Node], list[str]]:
    """(nodes to evaluate, nodes rejected because the pod is bound elsewhere)."""
    known = {n.name: n for n in cluster.nodes}
    if pod is not None and pod.node_name:
        found.append(
            Reason(
                R.NODE_CHOSEN,
                f"pod {pod.ref} is already bound to node {pod.node_name}; only that node is evaluated",
                status=R.INFO,
                data={"node": pod.node_name},
            )
        )
    if nodes is not None:
        chosen = [n if isinstance(n, Node) else known.get(n) or Node(n) for n in nodes]
        if pod is not None and pod.node_name:
            return [n for n in chosen if n.name == pod.node_name], [n.name for n in chosen if n.name != pod.node_name]
        return chosen, []
    if pod is not None and pod.node_name:
        return [known.get(pod.node_name) or Node(pod.node_name)], []
    if known:
        return sorted(known.values(), key=lambda n: n.name), []
    names = set(topology.node_names())
    for ci in inputs:
        names.update(names_in_selector(ci.node_selector))
    if not names:
        return [Node(ANY_NODE)], []
    return [Node(n) for n in sorted(names)], []


def _allocated_reasons(node: Node, allocated: list[ClaimInput]) -> list[Reason]:
    out = []
    for ci in allocated:
        where = ci.node_selector
        if where is None or selector_matches(where, node):
            devices = [f"{r.driver}/{r.pool}/{r.device}" for r in ci.results]
            out.append(
                Reason(
                    R.CLAIM_ALLOCATED,
                    f"claim {ci.ref} is already allocated ({', '.join(devices) or 'no devices'}) and usable on node {node.name}",
                    status=R.INFO,
                    claim=ci.ref,
                    data={"devices": devices},
                )
            )
        else:
            pinned = sorted(names_in_selector(where))
            out.append(
                Reason(
                    R.CLAIM_ALLOCATED_ELSEWHERE,
                    f"resourceclaim not available on the node: claim {ci.ref} is allocated for "
                    + (f"node {', '.join(pinned)}" if pinned else "other nodes"),
                    claim=ci.ref,
                    data={"nodeSelector": where, "nodes": pinned},
                )
            )
    return out


def _node(
    view: NodeView,
    prepared: list[PreparedClaim],
    allocated: list[ClaimInput],
    checker: Checker,
    budget: int,
    drivers_of: "_ClassDrivers | dict[int, set[str]]",
    tracker: "_Overall | None" = None,
    shapes: ShapeCache | None = None,
    cel_errors: bool = True,
) -> NodeResult:
    """``cel_errors``: False when no selector failed with a CEL runtime error on any device."""
    node = view.node.name
    reasons = _allocated_reasons(view.node, allocated) if allocated else []
    allocated_ok = not any(r.blocking for r in reasons)
    if not prepared:
        return NodeResult(node, allocated_ok, reasons=reasons, pending_fit=True)
    node_budget = budget if tracker is None else min(budget, tracker.left)
    if node_budget <= 0:
        reasons.append(tracker.cut_short(node, searched=False))
        return NodeResult(node, False, reasons=reasons)
    # nodes that look alike to the allocator share one search and one funnel count (alloc/shapes.py)
    shape = shapes.key(view) if shapes is not None else None
    replayed = shapes.replay(shape, view, node_budget) if shape is not None else None  # type: ignore[union-attr]
    if replayed is not None:
        outcome, funnels = replayed
    else:
        outcome = NodeSearch(view, prepared, checker, node_budget).run()
        funnels = diagnose.funnels(view, prepared, checker, outcome)
        if shape is not None:
            shapes.store(shape, view, outcome, funnels)  # type: ignore[union-attr]
    if tracker is not None:
        tracker.left -= outcome.steps
    if outcome.fatal is not None:
        reasons.append(outcome.fatal)
    elif outcome.budget_exceeded and node_budget < budget:
        reasons.append(tracker.cut_short(node, searched=True))
    elif outcome.budget_exceeded:
        reasons.append(
            Reason(
                R.BUDGET_EXHAUSTED,
                f"gave up after {outcome.steps - 1} steps on node {node} (budget {budget}); "
                "kube-scheduler would time out (timed out trying to allocate devices)",
                # the scheduler's Filter turns its allocation timeout into an Error status for the pod
                # (DynamicResources.Filter: errors.Is(err, context.DeadlineExceeded) -> statusError)
                status=R.ERROR,
                data={"steps": outcome.steps - 1, "budget": budget},
                hint="raise the budget, or make requests more specific (selectors, fewer alternatives)",
            )
        )
    elif not outcome.success:
        reasons.extend(diagnose.why_not(view, prepared, funnels, checker, drivers_of))
    if cel_errors:
        reasons.extend(diagnose.cel_errors(view, prepared, outcome.reached, {r.message for r in reasons}))
    if len(reasons) > 1:
        reasons.sort(key=lambda r: _RANK.get(r.status, 9))
    result = NodeResult(
        node,
        outcome.success and allocated_ok and outcome.fatal is None,
        results=[c for per_claim in outcome.results for c in per_claim],
        reasons=reasons,
        funnels=funnels,
        steps=outcome.steps,
        pending_fit=outcome.success and outcome.fatal is None,
    )
    if outcome.success:
        for pc, entries in zip(prepared, outcome.entries):
            result.node_selectors[pc.ref] = node_selector(entries, node)
    return result


_RANK = {R.ERROR: 0, R.UNSCHEDULABLE: 1, R.WARNING: 2, R.INFO: 3}


def _verdict(result: SimulationResult, pending: bool) -> str:
    if any(n.scheduler_error is not None for n in result.nodes):
        return SCHEDULER_ERROR
    if any(n.allocatable for n in result.nodes):
        return ALLOCATABLE if pending else ALLOCATED
    if any(r.code == R.SEARCH_CUT_SHORT for n in result.nodes for r in n.reasons):
        return UNDECIDED  # some nodes were not searched: "fits nowhere" would be a guess
    return UNALLOCATABLE


#: the whole simulation may take this many per-node budgets (1,000,000 steps by default: ~10 s)
OVERALL_BUDGET_NODES = 10


class _Overall:
    """The steps left to the whole simulation (all nodes, all PostFilter attempts)."""

    def __init__(self, total: int, progress: Callable[[int, int], None] | None) -> None:
        self.total = self.left = total
        self.progress = progress

    def cut_short(self, node: str, *, searched: bool) -> Reason:
        what = "search not finished" if searched else "not searched"
        return Reason(
            R.SEARCH_CUT_SHORT,
            f"{what} on node {node}: the whole simulation's budget ({self.total} steps) was used up",
            status=R.WARNING,
            data={"node": node, "overallBudget": self.total},
            hint="explain one node with --node NODE, or make the requests more specific",
        )


def simulate_node(cluster: Cluster, claims: Any, node: str | Node, budget: int = DEFAULT_BUDGET, **kw: Any) -> NodeResult:
    """``simulate`` for one node; claim-level reasons are folded into the node's reasons."""
    sim = simulate(cluster, claims, [node], budget, **kw)
    name = node.name if isinstance(node, Node) else node
    if sim.nodes:
        res = sim.nodes[0]
        res.reasons[:0] = [r for r in sim.reasons if r not in res.reasons]
        return res
    return NodeResult(name, False, reasons=list(sim.reasons))
