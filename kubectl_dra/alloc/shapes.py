"""Nodes that look alike to the allocator get the same search and the same funnels (a per-node cache).

On a big cluster most nodes are copies of a few: the same driver, the same devices in the same
order, differing only in names (node, pool, device, UUID) and in which devices other claims hold.
For one simulation, everything ``NodeSearch`` and ``diagnose.funnels`` read of a node is a
function of its *shape*: per usable pool its driver and device count, and per device (in the
allocator's order)

* each selection's outcome (MATCH or the first selector that is false),
* where selected, whether another claim holds it (with the exclusions below, that is the whole of
  ``Checker.blocker``'s verdict on a selected device: in use, or free),
* the ``(kind, value)`` of every attribute a claim constraint compares (``constraints.lookup``).

Two nodes with one shape search the same positions in the same order, take the same number of
steps and count the same funnels; the node-specific parts are rebuilt from the node's own devices
(the chosen devices' driver/pool/name, the claims holding the in-use devices). Reasons are not
cached: ``diagnose.why_not`` runs for every node that does not fit, on the replayed funnels.

The shortcut is only taken where the shape above is provably all that matters; anything else uses
the full search (``key`` returns None): pools that are incomplete, invalid, bound by binding
conditions or select devices per device; devices with taints, counters, binding conditions,
shared allocation (allowMultipleAllocations), request policies or capacity already consumed;
CEL errors on the node's devices; admin access or capacity requests in the claims; pool names
shared by several drivers (the counter cache is keyed by pool name); list-valued constrained
attributes. A cached search is replayed only within the node's step budget; searches that hit a
fatal error or the budget are never cached.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubectl_dra.alloc.pools import Entry, NodeView
from kubectl_dra.alloc.prepare import PreparedClaim
from kubectl_dra.alloc.result import DeviceChoice, Funnel
from kubectl_dra.alloc.search import Checker, Outcome
from kubectl_dra.alloc.selection import MATCH
from kubectl_dra.model.device import implied_kind

_ABSENT = object()


@dataclass(eq=False, slots=True)
class _FunnelShape:
    funnel: Funnel  # the first node's, for the node-independent fields
    #: positions (in the node's device order) of the selected devices held by other claims
    in_use: tuple[int, ...]


@dataclass(eq=False, slots=True)
class _Shape:
    success: bool
    #: per claim: (position, the first node's choice) in allocation order
    picks: list[list[tuple[int, DeviceChoice]]]
    steps: int
    selected: dict[tuple[int, int], int]
    funnels: list[_FunnelShape]


class ShapeCache:
    """Search outcomes and funnels of one scheduling attempt, by node shape (see the module doc)."""

    def __init__(self, prepared: list[PreparedClaim], checker: Checker) -> None:
        self.checker = checker
        self._specs = specs = [spec for pc in prepared for spec in pc.specs()]  # the order of diagnose.funnels
        self.usable = bool(specs) and not checker.shared_pool_names and not any(
            spec.admin or spec.capacity_requests for spec in specs
        )
        selections = list({id(s.selection): s.selection for s in specs}.values())
        self._outcomes = [sel.outcome.get for sel in selections]
        self._errors = [sel.errors for sel in selections if sel.errors]
        self._blockers = [checker.blockers(spec) for spec in specs]
        attrs: dict[str, None] = {}
        for pc in prepared:
            for c in pc.constraints:
                name = c.match_attribute or c.distinct_attribute
                if name:
                    attrs[name] = None
        # constraints.lookup finds nothing for a name without a domain: the same None on every device
        self._attrs = [name for name in attrs if "/" in name]
        state = checker.state
        self._consumed = state.consumed
        self._sharers = state.sharers
        self._held = state.holders
        self._shapes: dict[tuple, _Shape] = {}
        self.hits = 0

    # ---------------------------------------------------------------- the key

    def key(self, view: NodeView) -> tuple | None:
        """The node's shape, or None when the full search must run (see the module doc)."""
        if not self.usable or view.obsolete:
            return None
        parts: list = []
        append = parts.append
        outcomes, attrs, errors, held = self._outcomes, self._attrs, self._errors, self._held
        consumed, sharers = self._consumed, self._sharers
        shared = bool(consumed or sharers)
        for pool in view.pools:
            if pool.incomplete or pool.invalid or pool.mismatch or pool.binding:
                return None
            append(pool.driver)
            append(len(pool.entries))
            for entry in pool.entries:
                dev = entry.device
                if (
                    entry.taints
                    or dev.consumes_counters
                    or dev.binding_conditions
                    or dev.allow_multiple_allocations
                    or dev.request_policies
                ):
                    return None
                index = entry.index
                if errors and any(index in e for e in errors):
                    return None
                ident = (dev.driver, dev.pool, dev.name)  # Device.key
                if shared and (ident in consumed or ident in sharers):
                    return None
                matched = False
                for get in outcomes:
                    o = get(index)
                    if o == MATCH:
                        matched = True
                    elif o is None:
                        return None  # not evaluated (every entry is)
                    append(o)
                if matched:
                    # Checker.blocker of a selected device for any request here (no admin access, no
                    # capacity requests; no taints, counters, binding conditions, policies, shares, CEL
                    # errors): "in-use" when another claim holds it, else None
                    append(ident in held)
                if attrs:
                    # constraints.lookup(dev, name) for each constrained attribute: (kind, value) or None
                    values = dev.attributes
                    for name in attrs:
                        value = values.get(name, _ABSENT)
                        if value is _ABSENT:
                            append(None)
                            continue
                        if type(value) is list:
                            return None  # list-valued: not worth the risk
                        kinds = dev.attribute_kinds
                        if kinds and name in kinds:
                            kind = kinds[name] or "unknown"
                        else:
                            kind = "string" if type(value) is str else implied_kind(value)
                        append((kind, value))
        return tuple(parts)  # unhashable with an odd attribute value: replay and store then do nothing

    # ---------------------------------------------------------------- lookups

    def replay(self, key: tuple, view: NodeView, budget: int) -> tuple[Outcome, list[Funnel]] | None:
        """The cached outcome and funnels rebuilt for ``view``; None on a miss (or over ``budget``)."""
        try:
            shape = self._shapes.get(key)
        except TypeError:  # an unhashable attribute value
            return None
        if shape is None or shape.steps > budget:
            return None
        self.hits += 1
        pools = view.pools
        entries = pools[0].entries if len(pools) == 1 else [e for p in pools for e in p.entries]
        results: list[list[DeviceChoice]] = []
        picked: list[list[Entry]] = []
        for per_claim in shape.picks:
            mine: list[DeviceChoice] = []
            chosen: list[Entry] = []
            for pos, c in per_claim:
                entry = entries[pos]
                dev = entry.device
                mine.append(
                    DeviceChoice(
                        c.claim, c.request, dev.driver, dev.pool, dev.name, c.admin_access, c.shared,
                        dict(c.consumed_capacity), list(c.tolerations),
                    )
                )
                chosen.append(entry)
            results.append(mine)
            picked.append(chosen)
        outcome = Outcome(shape.success, results, picked, shape.steps, dict(shape.selected))
        held = self.checker.state.holders
        funnels = []
        for fs in shape.funnels:
            f = fs.funnel
            holders: dict[str, int] = {}
            for pos in fs.in_use:
                for ref in held.get(entries[pos].key, ()):
                    holders[ref] = holders.get(ref, 0) + 1
            # a selected device here is free or in use (nothing else can block it on a node with a shape)
            blocked_entries = {"in-use": [entries[pos] for pos in fs.in_use]} if fs.in_use else {}
            funnels.append(
                Funnel(f.claim, f.request, f.needed, list(f.stages), dict(f.blocked), holders, f.in_unusable_pools, f.chosen,
                       blocked_entries)
            )
        return outcome, funnels

    def store(self, key: tuple, view: NodeView, outcome: Outcome, funnels: list[Funnel]) -> None:
        """Remember a node's full search: only one that ended normally, without reaching a CEL error."""
        if outcome.fatal is not None or outcome.budget_exceeded or outcome.reached:
            return
        try:
            if key in self._shapes:
                return
        except TypeError:  # an unhashable attribute value
            return
        entries = [e for p in view.pools for e in p.entries]
        position = {id(e): i for i, e in enumerate(entries)}
        picks = [
            [(position[id(entry)], choice) for entry, choice in zip(chosen, results)]
            for chosen, results in zip(outcome.entries, outcome.results)
        ]
        shaped = []
        for f, spec, blocker in zip(funnels, self._specs, self._blockers):
            get = spec.selection.outcome.get
            in_use = tuple(i for i, e in enumerate(entries) if get(e.index) == MATCH and blocker(e) == "in-use")
            shaped.append(_FunnelShape(f, in_use))
        self._shapes[key] = _Shape(outcome.success, picks, outcome.steps, dict(outcome.selected), shaped)
