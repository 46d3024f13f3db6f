"""The allocator for one node: depth-first search with backtracking, first solution wins (dra-api.md §5.4).

Order: claims in pod order → requests in claim order → for a ``firstAvailable`` request its
subrequests in order (the first that leads to a full solution for everything after it wins) →
device slots 0..n-1. Each slot tries the node's devices in pool → slice → device order, starting
after the device the previous slot of the same request took (combinations, not permutations).
For a candidate, as upstream ``allocateOne``/``allocateDevice``:

1. in use? (held by another claim, or picked in this attempt; adminAccess: only a pick for
   the same claim blocks) · 2. selectable? (class + request selectors, per-device node
   selection, binding conditions) · 3. capacity (§5.7) · 4. counters (§5.6, skipped for a
   shareable device already partly used) · 5. taints (§5.8) · 6. the claim's constraints (§5.5)
   · 7. record the result and recurse; on failure undo and try the next candidate.

``All`` requests use the device list fixed per node beforehand; one unusable device means no
solution, and a constraint rejecting one is a fatal error. More than 32 results in a claim
backtracks so a smaller ``firstAvailable`` alternative can be tried.

Differences from upstream that do not change which solution is found: devices that can never
be picked on this node (static checks: selectors, held by other claims, capacity/counters/taints
on their own) are filtered out first, and a slot stops early when fewer candidates remain than
devices still needed. Steps (``allocateOne`` calls) are therefore fewer than upstream's. Upstream
(before 1.36) leaked counter consumption when a device failed the taint or constraint check after
the counter check; 1.36 rolls back, as here. The first device the search evaluates whose selector fails
with a CEL runtime error aborts the node's allocation with an Error, as upstream (``isSelectable``
returns the error, ``Allocate`` returns it, the scheduler's Filter reports an Error status); devices
in use are skipped before their selectors run, as upstream.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field

from kubectl_dra.alloc import constraints as C
from kubectl_dra.alloc import reasons as R
from kubectl_dra.alloc.capacity import consumed_by, fits
from kubectl_dra.alloc.features import Features
from kubectl_dra.alloc.pools import CounterKey, Entry, NodePool, NodeView, consumption
from kubectl_dra.alloc.prepare import MAX_RESULTS, PreparedClaim, ReqSpec
from kubectl_dra.alloc.reasons import Reason
from kubectl_dra.alloc.result import DeviceChoice
from kubectl_dra.alloc.selection import MATCH
from kubectl_dra.alloc.state import AllocatedState, DevKey
from kubectl_dra.alloc.taints import untolerated
from kubectl_dra.model.quantity import Quantity

#: default step budget per node (allocateOne calls); upstream has a 10 s filter timeout instead
DEFAULT_BUDGET = 100_000


class BudgetExceeded(Exception):
    pass


class _MaxSize(Exception):
    """errAllocationResultMaxSizeExceeded."""


class Fatal(Exception):
    """An allocator error: kube-scheduler returns an Error status for the pod."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.message)
        self.reason = reason


# ---------------------------------------------------------------------- static checks


_UNKNOWN = object()


class Checker:
    """Per (request, device) checks that do not depend on the attempt, cached across nodes."""

    def __init__(self, state: AllocatedState, features: Features, shared_pool_names: frozenset[str] = frozenset()) -> None:
        self.state = state
        self.features = features
        self._cache: dict[int, dict[int, str | None]] = {}
        #: pool names that several drivers use (see ``available``)
        self.shared_pool_names = shared_pool_names
        self._available: dict[str, dict[CounterKey, Quantity]] = {}

    def available(self, entry: Entry) -> dict[CounterKey, Quantity]:
        """Counters left in the device's pool, bug-compatible with upstream ``checkAvailableCounters``:
        the allocator caches them by pool *name* (``Allocator.availableCounters``, shared by all nodes
        of one scheduling attempt), filled from the first pool of that name whose device reaches the
        counter check. When two drivers publish pools of the same name, the second pool's devices are
        checked against the first pool's counter sets (and its consumption counts against them)."""
        name = entry.pool.name
        got = self._available.get(name)
        if got is None:
            got = self._available[name] = entry.pool.available(self.state)
        return got

    def counters_fit_alone(self, entry: Entry) -> bool:
        if entry.pool.name in self.shared_pool_names:
            return True  # decided in the search, in upstream's order (which pool fills the cache first matters)
        available = self.available(entry)
        used: dict[CounterKey, Quantity] = {}
        for key, amount in consumption(entry.device):
            used[key] = used[key].add(amount) if key in used else amount
        return all(left.cmp(used[key]) >= 0 if key in used else left.sign() >= 0 for key, left in available.items())

    def blocker(self, spec: ReqSpec, entry: Entry) -> str | None:
        """None if the device could be picked for the request on its own; else why not.

        ``selector`` / ``cel-error`` (not selected), ``binding-conditions``, ``in-use``,
        ``capacity``, ``partitionable``, ``counters``, ``tainted``.
        """
        per_spec = self._cache.get(id(spec))
        if per_spec is None:
            per_spec = self._cache[id(spec)] = {}
        why = per_spec.get(entry.index, _UNKNOWN)
        if why is _UNKNOWN:
            why = per_spec[entry.index] = self._blocker(spec, entry)
        return why

    def blockers(self, spec: ReqSpec) -> Callable[[Entry], str | None]:
        """``blocker`` for one request, as a function of the device (the per-request cache looked up once)."""
        per_spec = self._cache.get(id(spec))
        if per_spec is None:
            per_spec = self._cache[id(spec)] = {}
        get, compute = per_spec.get, self._blocker

        def blocker(entry: Entry) -> str | None:
            why = get(entry.index, _UNKNOWN)
            if why is _UNKNOWN:
                why = per_spec[entry.index] = compute(spec, entry)
            return why

        return blocker

    def _blocker(self, spec: ReqSpec, entry: Entry) -> str | None:
        sel = spec.selection
        outcome = sel.outcome.get(entry.index)
        if outcome != MATCH:
            return "cel-error" if entry.index in sel.errors else "selector"
        dev = entry.device
        f = self.features
        key = dev.key
        if dev.binding_conditions and not f.binding_conditions:
            return "binding-conditions"
        if not spec.admin and key in self.state.holders:
            return "in-use"
        if f.consumable_capacity and fits(spec.capacity_requests, dev, self.state.consumed.get(key), None):
            return "capacity"
        if dev.consumes_counters:
            if not f.partitionable_devices:
                return "partitionable"
            shared_used = f.consumable_capacity and dev.allow_multiple_allocations and key in self.state.consumed
            if not shared_used and not self.counters_fit_alone(entry):
                return "counters"
        if f.device_taints and entry.taints and untolerated(entry.taints, spec.tolerations):
            if entry.pool.name not in self.shared_pool_names:  # upstream checks taints after counters
                return "tainted"
        return None


# ---------------------------------------------------------------------- per-node request data


@dataclass(eq=False, slots=True)
class Cand:
    pos: int
    entry: Entry
    pool: NodePool
    error: bool = False


@dataclass(eq=False)
class ReqData:
    spec: ReqSpec
    num: int = 0
    cands: list[Cand] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    #: usable (non-error) candidates from index i to the end
    usable_from: list[int] = field(default_factory=list)
    all_devices: list[Cand] | None = None


@dataclass
class Outcome:
    success: bool
    results: list[list[DeviceChoice]]
    entries: list[list[Entry]]
    steps: int
    #: (claim index, request index) -> chosen subrequest index
    selected: dict[tuple[int, int], int]
    fatal: Reason | None = None
    budget_exceeded: bool = False
    #: (id(selection), entry index) of CEL-error devices the search passed over
    reached: set[tuple[int, int]] = field(default_factory=set)


class NodeSearch:
    """One ``Allocate(node, claims)`` call."""

    def __init__(
        self,
        view: NodeView,
        claims: list[PreparedClaim],
        checker: Checker,
        budget: int = DEFAULT_BUDGET,
    ) -> None:
        self.view = view
        self.claims = claims
        self.checker = checker
        self.state = checker.state
        self.features = checker.features
        self.budget = budget
        self.steps = 0
        self.order: list[tuple[NodePool, Entry]] = [(p, e) for p in view.pools if p.usable for e in p.entries]
        self.rdata: dict[tuple[int, int, int], ReqData] = {}
        # bug-compatible with kube-scheduler v1.36.3: dynamicresources.AllocatorFeatures never sets
        # structured.Features.ListTypeAttributes (only the CEL cache gets the gate), so the allocator
        # compares constraint values as scalars whatever DRAListTypeAttributes says
        self.constraints = [C.build(pc.constraints, False) for pc in claims]
        self.allocating: dict[DevKey, list[int]] = {}
        self.alloc_cap: dict[DevKey, dict[str, Quantity]] = {}
        self.counters: dict[str, dict[CounterKey, Quantity]] = {}
        self.results: list[list[DeviceChoice]] = [[] for _ in claims]
        self.picked: list[list[Entry]] = [[] for _ in claims]
        self.selected: dict[tuple[int, int], int] = {}
        self.reached: set[tuple[int, int]] = set()

    # ------------------------------------------------------------------ preparation

    def _prepare(self) -> None:
        """Per request: candidates (ExactCount) or the fixed device list (All); fatal errors as upstream."""
        for ci, pc in enumerate(self.claims):
            min_devices = 0
            for ri, alts in enumerate(pc.requests):
                minimum: int | None = None
                for spec in alts:
                    rd = self._request_data(spec)
                    self.rdata[(ci, ri, spec.sub_index)] = rd
                    minimum = rd.num if minimum is None else min(minimum, rd.num)
                min_devices += minimum or 0
            if min_devices > MAX_RESULTS:
                raise Fatal(
                    Reason(
                        R.TOO_MANY_DEVICES,
                        f"claim {pc.ref}: number of requested devices {min_devices} exceeds the claim limit of {MAX_RESULTS}",
                        status=R.ERROR,
                        claim=pc.ref,
                        data={"requested": min_devices, "limit": MAX_RESULTS},
                    )
                )

    def _request_data(self, spec: ReqSpec) -> ReqData:
        rd = ReqData(spec)
        blocker = self.checker.blockers(spec)
        sel = spec.selection
        if spec.all_mode:
            devices: list[Cand] = []
            pos = 0
            for pool in self.view.pools:
                if pool.incomplete:
                    raise Fatal(
                        Reason(
                            R.POOL_INCOMPLETE,
                            f"claim {self.claims[spec.claim_index].ref}, request {spec.name}: asks for all devices, "
                            f"but resource pool {pool.id} is currently being updated",
                            status=R.ERROR,
                            claim=self.claims[spec.claim_index].ref,
                            request=spec.name,
                            data={"pool": pool.id, "present": pool.present, "resourceSliceCount": pool.wanted},
                        )
                    )
                if pool.invalid:
                    raise Fatal(
                        Reason(
                            R.POOL_INVALID,
                            f"claim {self.claims[spec.claim_index].ref}, request {spec.name}: asks for all devices, "
                            f"but resource pool {pool.id} is currently invalid",
                            status=R.ERROR,
                            claim=self.claims[spec.claim_index].ref,
                            request=spec.name,
                            data={"pool": pool.id, "problem": pool.invalid},
                        )
                    )
                for entry in pool.entries:
                    pos += 1
                    if entry.device.binding_conditions and not self.features.binding_conditions:
                        continue  # upstream isSelectable checks this before the selectors
                    if entry.index in sel.errors:
                        self.reached.add((id(sel), entry.index))
                        raise Fatal(_cel_fatal(self.claims[spec.claim_index].ref, spec, entry))
                    if sel.outcome.get(entry.index) != MATCH or entry.index in pool.mismatch:
                        continue
                    if entry.device.binding_conditions and not self.features.binding_conditions:
                        continue
                    if self.features.consumable_capacity and fits(
                        spec.capacity_requests, entry.device, self.state.consumed.get(entry.key), None
                    ):
                        continue
                    devices.append(Cand(pos, entry, pool))
            rd.all_devices = devices
            rd.num = len(devices)
            return rd
        rd.num = spec.count
        holders = self.state.holders
        for pos, (pool, entry) in enumerate(self.order):
            why = blocker(entry)
            if why is None:
                if entry.index not in pool.mismatch:
                    rd.cands.append(Cand(pos, entry, pool))
            elif why == "cel-error" and (spec.admin or entry.key not in holders) and not (
                entry.device.binding_conditions and not self.features.binding_conditions
            ):  # upstream isSelectable: binding conditions (feature off) before the selectors
                rd.cands.append(Cand(pos, entry, pool, error=True))
        rd.positions = [c.pos for c in rd.cands]
        usable = [0] * (len(rd.cands) + 1)
        for i in range(len(rd.cands) - 1, -1, -1):
            usable[i] = usable[i + 1] + (0 if rd.cands[i].error else 1)
        rd.usable_from = usable
        return rd

    # ------------------------------------------------------------------ search

    def run(self) -> Outcome:
        fatal = None
        success = False
        budget_exceeded = False
        try:
            self._prepare()
            success = self._allocate_one(0, 0, 0, 0, False, 0)
        except Fatal as err:
            fatal = err.reason
        except BudgetExceeded:
            budget_exceeded = True
        except _MaxSize:
            success = False
        return Outcome(
            success,
            self.results if success else [[] for _ in self.claims],
            self.picked if success else [[] for _ in self.claims],
            self.steps,
            dict(self.selected),
            fatal,
            budget_exceeded,
            self.reached,
        )

    def _allocate_one(self, ci: int, ri: int, si: int, di: int, in_sub: bool, start: int) -> bool:
        self.steps += 1
        if self.steps > self.budget:
            raise BudgetExceeded()
        if ci >= len(self.claims):
            return True
        pc = self.claims[ci]
        if ri >= len(pc.requests):
            try:
                return self._allocate_one(ci + 1, 0, 0, 0, False, 0)
            except _MaxSize:
                return False
        if not in_sub and pc.first_available[ri]:
            all_exceeded = True
            for spec in pc.requests[ri]:
                try:
                    done = self._allocate_one(ci, ri, spec.sub_index, 0, True, 0)
                except _MaxSize:
                    continue
                all_exceeded = False
                if done:
                    self.selected[(ci, ri)] = spec.sub_index
                    return True
            if all_exceeded:
                raise _MaxSize()
            return False
        rd = self.rdata.get((ci, ri, si))
        if rd is None:  # a request without usable alternatives (reported while preparing)
            return False
        spec = rd.spec
        if rd.all_devices is not None and not rd.all_devices:
            return False
        if di >= rd.num:
            return self._allocate_one(ci, ri + 1, 0, 0, False, 0)
        if len(self.results[ci]) + rd.num - di > MAX_RESULTS:
            raise _MaxSize()
        if rd.all_devices is not None:
            undo = self._allocate_device(ci, spec, rd.all_devices[di], must=True)
            if undo is None:
                return False
            try:
                done = self._allocate_one(ci, ri, si, di + 1, in_sub, 0)
            except BaseException:
                undo()
                raise
            if not done:
                undo()
            return done
        cands = rd.cands
        k = bisect_left(rd.positions, start)
        need = rd.num - di
        allocating = self.allocating
        sel_id = id(spec.selection)
        # the early stop skips devices upstream would still try; with equally named pools of several
        # drivers one of those tries may fill the pool-name counter cache (checkAvailableCounters), so
        # it decides which pool's counters count: no early stop then
        prune = not self.checker.shared_pool_names
        while k < len(cands):
            if prune and rd.usable_from[k] < need:
                # upstream would still walk the remaining devices: the first one not in use whose
                # selector fails aborts the allocation (below)
                for c in cands[k:]:
                    if c.error and (ci not in allocating.get(c.entry.key, ()) if spec.admin else not allocating.get(c.entry.key)):
                        self.reached.add((sel_id, c.entry.index))
                        raise Fatal(_cel_fatal(pc.ref, spec, c.entry))
                break
            cand = cands[k]
            k += 1
            key = cand.entry.key
            if spec.admin:
                if ci in allocating.get(key, ()):
                    continue
            elif allocating.get(key):
                continue
            if cand.error:
                # upstream allocateOne: isSelectable's CEL error is returned at once, Allocate fails for
                # the node and the scheduler's Filter reports an Error (not ErrFailedAllocationOnNode)
                self.reached.add((sel_id, cand.entry.index))
                raise Fatal(_cel_fatal(pc.ref, spec, cand.entry))
            if (
                self.features.consumable_capacity
                and key in self.alloc_cap
                and fits(spec.capacity_requests, cand.entry.device, self.state.consumed.get(key), self.alloc_cap[key])
            ):
                continue
            undo = self._allocate_device(ci, spec, cand, must=False)
            if undo is None:
                continue
            try:
                done = self._allocate_one(ci, ri, si, di + 1, in_sub, cand.pos + 1)
            except BaseException:
                undo()
                raise
            if done:
                return True
            undo()
        return False

    # ------------------------------------------------------------------ one device

    def _take_counters(self, entry: Entry) -> bool:
        """Upstream ``checkAvailableCounters``; consumption in this attempt is keyed by pool name, as upstream."""
        available = self.checker.available(entry)
        used = self.counters.setdefault(entry.pool.name, {})
        mine = consumption(entry.device)
        for key, amount in mine:
            used[key] = used[key].add(amount) if key in used else amount
        for key, left in available.items():
            if key in used:
                if left.cmp(used[key]) < 0:
                    self._give_counters(entry)
                    return False
            elif left.sign() < 0:
                self._give_counters(entry)
                return False
        return True

    def _give_counters(self, entry: Entry) -> None:
        used = self.counters[entry.pool.name]
        for key, amount in consumption(entry.device):
            used[key] = used[key].sub(amount)

    def _allocate_device(self, ci: int, spec: ReqSpec, cand: Cand, must: bool) -> Callable[[], None] | None:
        """Upstream ``allocateDevice``: the undo function on success, None when the device cannot be used."""
        entry = cand.entry
        dev = entry.device
        key = dev.key
        f = self.features
        allow_multi = f.consumable_capacity and dev.allow_multiple_allocations
        if not allow_multi and spec.admin and ci in self.allocating.get(key, ()):
            return None
        if not spec.admin and (key in self.state.holders or self.allocating.get(key)):
            return None
        if dev.consumes_counters and not f.partitionable_devices:
            return None
        took = False
        if dev.consumes_counters and not (allow_multi and (key in self.state.consumed or key in self.alloc_cap)):
            if not self._take_counters(entry):
                return None
            took = True
        if f.device_taints and entry.taints and untolerated(entry.taints, spec.tolerations):
            if took:
                self._give_counters(entry)
            return None
        cons = self.constraints[ci]
        sub = spec.sub
        for i, constraint in enumerate(cons):
            if not constraint.add(spec.base, sub, dev):
                for prev in cons[:i]:
                    prev.remove(spec.base, sub, dev)
                if took:
                    self._give_counters(entry)
                if must:
                    raise Fatal(
                        Reason(
                            R.CONSTRAINT_UNSATISFIABLE,
                            f"claim {self.claims[ci].ref}, request {spec.name}: cannot add device {entry.id} "
                            "because a claim constraint would not be satisfied",
                            status=R.ERROR,
                            claim=self.claims[ci].ref,
                            request=spec.name,
                            data={"device": entry.id, constraint.kind: constraint.attribute},
                        )
                    )
                return None
        consumed: dict[str, Quantity] | None = None
        if f.consumable_capacity:
            if fits(spec.capacity_requests, dev, self.state.consumed.get(key), self.alloc_cap.get(key)):
                for c in cons:
                    c.remove(spec.base, sub, dev)
                if took:
                    self._give_counters(entry)
                return None
            if allow_multi:
                consumed = consumed_by(spec.capacity_requests, dev) or {}
        if not allow_multi:
            self.allocating.setdefault(key, []).append(ci)
        if consumed:
            have = self.alloc_cap.setdefault(key, {})
            for name, amount in consumed.items():
                have[name] = have[name].add(amount) if name in have else amount
        choice = DeviceChoice(
            claim=self.claims[ci].ref,
            request=spec.name,
            driver=dev.driver,
            pool=dev.pool,
            device=dev.name,
            admin_access=spec.admin,
            shared=allow_multi,
            consumed_capacity={_unqualify(n, dev.driver): str(q) for n, q in (consumed or {}).items()},
            tolerations=list(spec.tolerations),
        )
        self.results[ci].append(choice)
        self.picked[ci].append(entry)

        def undo() -> None:
            self.results[ci].pop()
            self.picked[ci].pop()
            for c in cons:
                c.remove(spec.base, sub, dev)
            if not allow_multi:
                self.allocating[key].remove(ci)
            if consumed:
                have = self.alloc_cap[key]
                for name, amount in consumed.items():
                    have[name] = have[name].sub(amount)
                if all(q.is_zero() for q in have.values()):
                    del self.alloc_cap[key]
            if took:
                self._give_counters(entry)

        return undo


def _unqualify(name: str, driver: str) -> str:
    """``<driver>/memory`` -> ``memory``, as drivers publish their own capacities."""
    return name[len(driver) + 1 :] if name.startswith(driver + "/") else name


def _cel_fatal(claim: str, spec: ReqSpec, entry: Entry) -> Reason:
    sel = spec.selection
    index, error = sel.errors[entry.index]
    return cel_error_reason(claim, spec, entry, index, error, R.ERROR)


def cel_error_reason(claim: str, spec: ReqSpec, entry: Entry, index: int, error: str, status: str, count: int = 1) -> Reason:
    """The scheduler's message for a CEL runtime error (1.37 wording, with the device)."""
    sel = spec.selection
    expression = sel.selectors[index]
    if sel.is_class_selector(index):
        where = f"class {sel.class_name}: selector #{index}"
    else:
        where = f"claim {claim}: selector #{index - len(sel.class_selectors)}"
    hint = None
    if "no such key" in error:
        hint = "guard optional attributes with has() or CEL optional chaining (.? followed by orValue())"
    return Reason(
        R.CEL_RUNTIME_ERROR,
        f"{where} on device {entry.id}: CEL runtime error: {error}",
        status=status,
        claim=claim,
        request=spec.name,
        hint=hint,
        data={"expression": expression, "device": entry.id, "error": error, "selector": sel.label(index), "devices": count},
    )


def node_selector(entries: list[Entry], node: str) -> dict | None:
    """``status.allocation.nodeSelector`` for a claim's devices (upstream ``createNodeSelector``)."""
    fields: list[dict] = []
    exprs: list[dict] = []
    for entry in entries:
        sl, dev = entry.slice, entry.device
        name, selector = (dev.node_name, dev.node_selector) if sl.per_device_node_selection else (sl.node_name, sl.node_selector)
        if name or dev.binds_to_node:
            return {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}
        terms = (selector or {}).get("nodeSelectorTerms") or [] if isinstance(selector, dict) else []
        if len(terms) == 1 and isinstance(terms[0], dict):
            for req in terms[0].get("matchFields") or []:
                if req not in fields:
                    fields.append(req)
            for req in terms[0].get("matchExpressions") or []:
                if req not in exprs:
                    exprs.append(req)
    if not fields and not exprs:
        return None
    term: dict = {}
    if exprs:
        term["matchExpressions"] = exprs
    if fields:
        term["matchFields"] = fields
    return {"nodeSelectorTerms": [term]}
