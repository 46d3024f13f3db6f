"""Which pools and devices a node can use (dra-api.md §5.2, upstream ``GatherPools``/``buildPool``).

For a node the candidate slices are those with ``nodeName`` = the node plus all without a
``nodeName``. A slice is relevant when its ``nodeName`` matches, ``allNodes`` is set, its
``nodeSelector`` selects the node, or (``perDeviceNodeSelection``) any of its devices selects it;
a slice with none of these is ignored. Relevant slices are grouped by ``(driver, pool)`` keeping
the highest generation *among the relevant ones*. A pool is complete when that many slices are
relevant; otherwise all slices of the pool are re-scanned: a newer generation anywhere makes the
pool obsolete (dropped), else the count over all slices of the generation decides (incomplete
pools are kept, flagged, without devices for ExactCount). Pools are sorted by driver then name,
slices by name, and pools with binding conditions go last — so names decide first-fit order.

As upstream, slices with shared counters are seen from every node and always relevant; a pool's
validity (unique device names, counter sets and the counters devices consume) is judged per node
over the slices for that node (``buildPool``). A 1.34-style slice with both ``devices`` and
``sharedCounters`` (rejected by 1.35+ API servers) counts as a counter-set slice only.

Counters are bug-compatible with upstream: counters left and counters consumed in an attempt are
keyed by pool *name* alone (search.Checker.available), so two drivers with equally named pools
(pool = node name) share one budget, the counter sets of whichever pool got there first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kubectl_dra.alloc.features import Features
from kubectl_dra.alloc.nodesel import node_matches
from kubectl_dra.alloc.state import AllocatedState, DevKey, quantity
from kubectl_dra.model.claim import DeviceTaintRule, Node
from kubectl_dra.model.device import Device
from kubectl_dra.model.quantity import Quantity
from kubectl_dra.model.slices import ResourceSlice, pool_problems

CounterKey = tuple[str, str]  # (counter set, counter)


@dataclass(eq=False)
class PoolInfo:
    """One generation of one pool: every slice of it, wherever they point."""

    driver: str
    name: str
    generation: int
    slices: list[ResourceSlice]
    counter_sets: dict[str, dict[str, Quantity]] = field(default_factory=dict)
    _available: dict[CounterKey, Quantity] | None = None

    @property
    def id(self) -> str:
        return f"{self.driver}/{self.name}"

    def available(self, state: AllocatedState) -> dict[CounterKey, Quantity]:
        """Shared counters minus what allocated devices of the pool consume (§5.6); may go negative."""
        if self._available is None:
            left = {(s, c): q for s, counters in self.counter_sets.items() for c, q in counters.items()}
            for sl in self.slices:
                for dev in sl.devices:
                    if not dev.consumes_counters or not state.allocated(dev.key):
                        continue
                    for key, amount in consumption(dev):
                        if key in left:
                            left[key] = left[key].sub(amount)
            self._available = left
        return self._available

    def counter_users(self, state: AllocatedState) -> dict[str, list[str]]:
        """Counter set -> allocated devices of the pool that consume from it."""
        users: dict[str, list[str]] = {}
        for sl in self.slices:
            for dev in sl.devices:
                if dev.consumes_counters and state.allocated(dev.key):
                    for entry in dev.consumes_counters:
                        users.setdefault(str(entry.get("counterSet", "")), []).append(dev.name)
        return users


def consumption(dev: Device) -> list[tuple[CounterKey, Quantity]]:
    out = []
    for entry in dev.consumes_counters:
        set_name = str(entry.get("counterSet", ""))
        for cname, counter in (entry.get("counters") or {}).items():
            value = counter.get("value", "0") if isinstance(counter, dict) else counter
            out.append(((set_name, str(cname)), quantity(value)))
    return out


@dataclass(eq=False, slots=True)
class Entry:
    """A published device with the facts the allocator needs, computed once per simulation."""

    index: int
    device: Device
    slice: ResourceSlice
    pool: PoolInfo
    taints: tuple[dict, ...]

    @property
    def key(self) -> DevKey:
        return self.device.key

    @property
    def id(self) -> str:
        return self.device.id


@dataclass(eq=False)
class NodePool:
    """A pool as one node sees it."""

    driver: str
    name: str
    generation: int
    info: PoolInfo | None
    incomplete: bool = False
    invalid: str | None = None
    #: devices of the slices that target the node, in allocation order
    entries: list[Entry] = field(default_factory=list)
    #: entry indices of perDeviceNodeSelection devices that do not select the node
    mismatch: frozenset[int] = frozenset()
    binding: bool = False
    #: slices of the generation present vs. resourceSliceCount
    present: int = 0
    wanted: int = 0

    @property
    def id(self) -> str:
        return f"{self.driver}/{self.name}"

    @property
    def usable(self) -> bool:
        return not self.incomplete and not self.invalid


@dataclass
class NodeView:
    node: Node
    pools: list[NodePool]
    #: pools ignored because a newer generation exists elsewhere
    obsolete: list[str] = field(default_factory=list)

    def entries(self) -> Iterable[tuple[NodePool, Entry]]:
        for pool in self.pools:
            for entry in pool.entries:
                yield pool, entry


class Topology:
    """Slices indexed by node and pool; pools and device entries built once and shared by nodes."""

    def __init__(
        self,
        slices: list[ResourceSlice],
        taint_rules: list[DeviceTaintRule],
        state: AllocatedState,
        features: Features,
    ) -> None:
        self.features = features
        self.state = state
        # kube-scheduler applies DeviceTaintRules only with the DRADeviceTaintRules gate (its slice
        # tracker, pkg/scheduler/framework/plugins/dynamicresources: enableDeviceTaintRules), off by default in 1.36
        self.rules = (
            [r for r in taint_rules if r.driver or r.pool or r.device or not (r.selectors or r.device_class)]
            if features.device_taint_rules
            else []
        )
        self.by_node: dict[str, list[ResourceSlice]] = {}
        self.shared: list[ResourceSlice] = []
        self.by_pool: dict[tuple[str, str], list[ResourceSlice]] = {}
        for sl in slices:
            # upstream checkSlicesInPool counts every slice of the pool (allSlices), also those that
            # GatherPools skips while DRAPartitionableDevices is off: they keep a pool complete
            self.by_pool.setdefault((sl.driver, sl.pool), []).append(sl)
            if not features.partitionable_devices and (sl.per_device_node_selection or sl.shared_counters):
                continue  # upstream GatherPools
            if sl.node_name and not (sl.shared_counters and features.partitionable_devices):
                self.by_node.setdefault(sl.node_name, []).append(sl)
            else:
                # upstream NewAllocator: slices without a nodeName, and slices with counters, are seen by every node
                self.shared.append(sl)
        self.entries: list[Entry] = []
        self._entry_of: dict[int, Entry] = {}
        #: id(slice) -> its entries, and whether a device has binding conditions
        self._slice_entries: dict[int, tuple[list[Entry], bool]] = {}
        self._infos: dict[tuple[str, str, int], PoolInfo] = {}

    # ---------------------------------------------------------------- node names

    def node_names(self) -> list[str]:
        """Nodes named by slices (nodeName, per-device nodeName)."""
        names = set(self.by_node)
        for sl in self.shared:
            if sl.per_device_node_selection:
                names.update(d.node_name for d in sl.devices if d.node_name)
        return sorted(names)

    # ---------------------------------------------------------------- per node

    def _relevant(self, sl: ResourceSlice, node: Node) -> bool:
        # upstream GatherPools: a slice with shared counters is always relevant (the pool needs it)
        if sl.shared_counters and self.features.partitionable_devices:
            return True
        if sl.node_name or sl.all_nodes or sl.node_selector is not None:
            return node_matches(node, sl.node_name, sl.all_nodes, sl.node_selector)
        if sl.per_device_node_selection:
            return any(node_matches(node, d.node_name, d.all_nodes, d.node_selector) for d in sl.devices)
        return False  # unknown future node selection

    def view(self, node: Node) -> NodeView:
        mine = self.by_node.get(node.name, ())
        if not self.shared and len(mine) == 1 and mine[0].slice_count == 1 and not mine[0].shared_counters:
            # the usual node: one slice of its own, a complete pool by itself, nothing shared
            sl = mine[0]
            return NodeView(node, [self._pool(node, sl.driver, sl.pool, sl.generation, mine, mine, False, 1, 1)], [])
        grouped: dict[tuple[str, str], list[ResourceSlice]] = {}
        # upstream Allocate: the node's own slices, then those without a nodeName or with counters
        own = [s for s in mine if not s.shared_counters]
        count = len(own)
        for i, sl in enumerate([*own, *self.shared] if self.shared else own):
            # the node's own slices name it (by_node is keyed by nodeName): relevant
            if i >= count and not self._relevant(sl, node):
                continue
            key = (sl.driver, sl.pool)
            have = grouped.get(key)
            if have is None or sl.generation > have[0].generation:
                grouped[key] = [sl]
            elif sl.generation == have[0].generation:
                have.append(sl)
        pools: list[NodePool] = []
        obsolete: list[str] = []
        for (driver, name), relevant in grouped.items():
            gen = relevant[0].generation
            wanted = relevant[0].slice_count
            present = len(relevant)
            incomplete = False
            everything: list[ResourceSlice] = relevant
            if present != wanted:
                all_slices = self.by_pool.get((driver, name), [])
                if any(s.generation > gen for s in all_slices):
                    obsolete.append(f"{driver}/{name}")
                    continue
                everything = [s for s in all_slices if s.generation == gen]
                present = len(everything)
                incomplete = present != wanted
            pools.append(self._pool(node, driver, name, gen, relevant, everything, incomplete, present, wanted))
        if len(pools) > 1:
            pools.sort(key=lambda p: (p.binding, p.driver, p.name))
        return NodeView(node, pools, sorted(obsolete) if obsolete else obsolete)

    def _pool(self, node: Node, driver: str, name: str, gen: int, relevant: list[ResourceSlice],
              everything: list[ResourceSlice], incomplete: bool, present: int, wanted: int) -> NodePool:
        """The pool as ``node`` sees it: ``relevant`` its slices for the node, ``everything`` all of the generation."""
        info = self._info(driver, name, gen)
        pool = NodePool(driver, name, gen, info, incomplete=incomplete, present=present, wanted=wanted)
        if not incomplete:
            pool.invalid = self._invalid(relevant, everything)
        mismatch: set[int] = set()
        entries = pool.entries
        for sl in sorted(relevant, key=lambda s: s.name) if len(relevant) > 1 else relevant:
            if sl.shared_counters and self.features.partitionable_devices:
                continue  # a counter-set slice (1.35+ forbids devices next to counters)
            got = self._slice_entries.get(id(sl))
            if got is None:
                got = self._expand(sl, info)
            slice_entries, binding = got
            entries += slice_entries
            if sl.per_device_node_selection:
                for entry in slice_entries:
                    dev = entry.device
                    if not node_matches(node, dev.node_name, dev.all_nodes, dev.node_selector):
                        mismatch.add(entry.index)
            if binding:
                pool.binding = True
        if mismatch:
            pool.mismatch = frozenset(mismatch)
        return pool

    def _invalid(self, relevant: list[ResourceSlice], everything: list[ResourceSlice]) -> str | None:
        """Upstream ``buildPool``: device names unique among the slices for the node; counter sets (from
        the counter-set slices for the node) unique; every consumed counter set and counter defined, first
        in the slices for the node, then in the other slices of the pool."""
        if len(relevant) == 1 and len(everything) == 1 and not relevant[0].shared_counters:
            # one slice, no counter sets: valid when its device names are unique and none consumes counters
            devices = relevant[0].devices
            names = set()
            for d in devices:
                if d.consumes_counters:
                    break
                names.add(d.name)
            else:
                if len(names) == len(devices):
                    return None
        partitionable = self.features.partitionable_devices
        relevant = sorted(relevant, key=lambda s: s.name)
        device_slices = [s for s in relevant if not (partitionable and s.shared_counters)]
        if not partitionable:
            return next(pool_problems(device_slices), None)
        names = {s.name for s in relevant}
        consumers = relevant + [s for s in everything if s.name not in names]
        return next(pool_problems(device_slices, relevant, consumers), None)

    # ---------------------------------------------------------------- shared records

    def _info(self, driver: str, name: str, gen: int) -> PoolInfo:
        key = (driver, name, gen)
        info = self._infos.get(key)
        if info is None:
            slices = [s for s in self.by_pool.get((driver, name), ()) if s.generation == gen]
            if len(slices) > 1:
                slices.sort(key=lambda s: s.name)
            info = PoolInfo(driver, name, gen, slices)
            self._validate(info)
            self._infos[key] = info
        return info

    def _validate(self, info: PoolInfo) -> None:
        """The pool's counter sets, for counters left (§5.6); validity is decided per node (``_invalid``)."""
        if not self.features.partitionable_devices:
            return
        for sl in info.slices:
            for counter_set in sl.shared_counters:
                set_name = str(counter_set.get("name", ""))
                if set_name in info.counter_sets:
                    continue
                counters = counter_set.get("counters") or {}
                info.counter_sets[set_name] = {
                    str(c): quantity(v.get("value", "0") if isinstance(v, dict) else v) for c, v in counters.items()
                }

    def _expand(self, sl: ResourceSlice, info: PoolInfo) -> tuple[list[Entry], bool]:
        """The slice's devices as entries (created once) and whether one has binding conditions."""
        if self.rules:
            got = [self._entry(dev, sl, info) for dev in sl.devices]
        else:  # _entry without taint rules, in one go: 40,000 devices
            base = len(self.entries)
            got = [Entry(base + i, dev, sl, info, tuple(dev.taints)) for i, dev in enumerate(sl.devices)]
            self.entries += got
        binding = False
        for dev in sl.devices:
            if dev.binding_conditions:
                binding = True
                break
        found = self._slice_entries[id(sl)] = (got, binding)
        return found

    def _entry(self, dev: Device, sl: ResourceSlice, info: PoolInfo) -> Entry:
        entry = self._entry_of.get(id(dev))
        if entry is None:
            taints: tuple[dict, ...] = tuple(dev.taints)
            for rule in self.rules:
                if rule.matches(dev.driver, dev.pool, dev.name):
                    taints += ({**rule.taint, "rule": rule.name},)
            entry = Entry(len(self.entries), dev, sl, info, taints)
            self.entries.append(entry)
            self._entry_of[id(dev)] = entry
        return entry
