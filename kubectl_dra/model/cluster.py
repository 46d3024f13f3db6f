"""The cluster as the tool sees it: decoded objects, pools, and each device joined with its claims.

Device state (what ``list`` shows):

* ``reserved``  – allocated to a claim that is reserved for (in use by) a pod
* ``allocated`` – allocated to a claim that no pod uses yet
* ``consumed-by-partition`` – free itself, but the shared counters it needs are used by an
  allocated device of the same pool (a full GPU whose MIG placement is allocated, or the reverse)
* ``tainted``   – free, but carries a NoSchedule/NoExecute taint
* ``free``

Allocations with ``adminAccess`` do not make a device busy, as in the scheduler (dra-api.md §5.1).
"""

from __future__ import annotations

import bisect
import re
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

from kubectl_dra.model.claim import AllocationResult, Claim, ClaimTemplate, DeviceClass, DeviceTaintRule, Node, Pod
from kubectl_dra.model.device import Device
from kubectl_dra.model.quantity import Quantity, QuantityError
from kubectl_dra.model.slices import Pool, ResourceSlice, build_pools

STATES = ("free", "allocated", "reserved", "tainted", "consumed-by-partition")
BUSY_STATES = ("allocated", "reserved")

_DIGITS = re.compile(r"(\d+)")

_NO_NODE = object()
_TAINTS = attrgetter("taints")


@lru_cache(maxsize=65536)
def natural_key(text: str) -> tuple:
    """Sort ``gpu-2`` before ``gpu-10``."""
    return tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(text))


def natural_prefix(text: str) -> tuple:
    """``natural_key(text)[:2]`` (its first text and number), without splitting the whole text: orders
    as the full key does wherever the two differ."""
    return tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(text, 1)[:2])


@dataclass(slots=True)
class Holder:
    """One claim's hold on a device."""

    claim: Claim
    result: AllocationResult
    pods: list[str]


@dataclass(slots=True)
class DeviceView:
    device: Device
    state: str = "free"
    # empty tuples until something holds or blocks the device: most devices never need a list
    holders: Sequence[Holder] = ()
    admin_holders: Sequence[Holder] = ()
    blocked_by: Sequence[str] = ()
    pool_complete: bool = True


@dataclass
class Cluster:
    slices: list[ResourceSlice] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    templates: list[ClaimTemplate] = field(default_factory=list)
    classes: list[DeviceClass] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    taint_rules: list[DeviceTaintRule] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: where the data came from, for messages ("the demo cluster", a server URL, file names)
    source: str = ""
    #: False when claims could not be read: device states are then unknown
    claims_known: bool = True
    #: namespaces of the claims read (None = all)
    claims_namespace: str | None = None
    #: the namespace commands default to (kubeconfig context, else "default")
    namespace: str = "default"
    #: "now" for ages; None = the wall clock (the demo pins its own)
    now: datetime | None = None
    #: the resource.k8s.io version read from a live server (None offline)
    served_version: str | None = None
    #: every resource.k8s.io version the live server serves (empty offline)
    served_versions: tuple[str, ...] = ()
    #: True when only some nodes' ResourceSlices were read (list/topology --node on a live cluster):
    #: claims allocated from pools that were not read are then not "devices no slice publishes"
    slices_filtered: bool = False
    #: the live connection the data came from (kube.live.LiveCluster; None offline), for writes
    client: Any = field(default=None, repr=False)
    _pools: list[Pool] | None = field(default=None, repr=False)
    _views: list[DeviceView] | None = field(default=None, repr=False)
    #: (namespace, claim name) -> names of the pods that name it (pods order), built on first use
    _pod_index: dict[tuple[str, str], list[str]] | None = field(default=None, repr=False)
    #: built with the views, for :meth:`patch_claims`: device key -> view, and -> allocated claims holding it
    _view_index: dict[tuple[str, str, str], DeviceView] | None = field(default=None, repr=False)
    _holding: dict[tuple[str, str, str], list[Claim]] | None = field(default=None, repr=False)
    #: for :meth:`patch` (slices): indexes of the pools it patches in place
    _patching: "_PatchCaches | None" = field(default=None, repr=False)

    def add(self, obj: Any) -> None:
        if isinstance(obj, ResourceSlice):
            self.slices.append(obj)
        elif isinstance(obj, Claim):
            self.claims.append(obj)
        elif isinstance(obj, ClaimTemplate):
            self.templates.append(obj)
        elif isinstance(obj, DeviceClass):
            self.classes.append(obj)
        elif isinstance(obj, Pod):
            self.pods.append(obj)
        elif isinstance(obj, Node):
            self.nodes.append(obj)
        elif isinstance(obj, DeviceTaintRule):
            self.taint_rules.append(obj)
        self._pools = self._views = self._pod_index = None

    def merge(self, other: "Cluster") -> None:
        """Take over everything ``other`` read (a staged list, a helper process's claims)."""
        for name in ("slices", "claims", "templates", "classes", "pods", "nodes", "taint_rules", "warnings"):
            getattr(self, name).extend(getattr(other, name))
        self._pools = self._views = self._pod_index = None

    # ------------------------------------------------------------------ pools

    @property
    def pools(self) -> list[Pool]:
        if self._pools is None:
            self._pools = build_pools(self.slices)
            for pool in self._pools:
                if not pool.complete:
                    self.warnings.append(pool.describe_incomplete())
                for problem in dict.fromkeys(pool.problems):
                    self.warnings.append(f"pool {pool.driver}/{pool.name} is invalid: {problem}")
        return self._pools

    # ------------------------------------------------------------------ devices

    def device_views(self) -> list[DeviceView]:
        """Every device of the newest generation of every pool, joined with its claims, sorted by node."""
        if self._views is not None:
            return self._views
        pools = self.pools
        views: dict[tuple[str, str, str], DeviceView] = {}
        listed: list[DeviceView] = []  # views in the order of ``views`` (when no device name repeats)
        order: list[tuple] = []  # their sort keys: (node, driver, pool) part shared by a pool's devices, name
        settle: list[DeviceView] = []  # only a held, blocked or tainted device leaves "free"
        name_keys: dict[str, tuple] = {}
        for pool in pools:
            complete = pool.complete
            for sl in pool.slices:
                last_node: Any = _NO_NODE
                prefix: tuple = ()
                for dev in sl.devices:
                    view = DeviceView(dev) if complete else DeviceView(dev, pool_complete=False)
                    name = dev.name
                    views[(dev.driver, dev.pool, name)] = view
                    listed.append(view)
                    if dev.taints:
                        settle.append(view)
                    node = dev.node_name
                    if node is not last_node or not node:  # a slice's devices share its node, driver and pool
                        last_node = node
                        prefix = (node is None, node or dev.node_label, dev.driver, natural_key(dev.pool))
                    name_key = name_keys.get(name)
                    if name_key is None:
                        name_key = name_keys[name] = natural_key(name)
                    order.append((prefix, name_key))
        self._apply_taint_rules(views)
        # a held view's state is set as its holders are added (_settle would set the same)
        holding = self._join_claims(views, {(p.driver, p.name) for p in pools})
        for pool in pools:
            if pool.counter_sets:
                _mark_counter_blocked(pool, views)
                settle.extend(views[(pool.driver, pool.name, d.name)] for d in pool.devices if (pool.driver, pool.name, d.name) in views)
        if self.taint_rules:
            settle = list(views.values())
        for view in settle:
            _settle(view)
        if len(listed) == len(views):
            # (prefix, name) orders as (node is None, node, driver, pool, name) does; stable, as sorted() is
            ordered = list(map(listed.__getitem__, sorted(range(len(listed)), key=order.__getitem__)))
        else:  # a device name twice in a pool (invalid, warned about): the last one's view, the first one's place
            ordered = sorted(views.values(), key=_order)
        self._views = ordered
        self._view_index, self._holding = views, holding
        return ordered

    def _join_claims(self, views: dict[tuple[str, str, str], DeviceView],
                     read_pools: set[tuple[str, str]]) -> dict[tuple[str, str, str], list[Claim]]:
        """Add every allocated claim's hold to the views of its devices; device key -> the claims holding it."""
        pod_index = self.pods_by_claim()
        holding: dict[tuple[str, str, str], list[Claim]] = {}
        for claim in self.claims:
            if not claim.allocated:
                continue
            pods = claim.reserved_pods
            if pod_index:
                pods = list(dict.fromkeys(pods + pod_index.get((claim.namespace, claim.name), [])))
            elif len(pods) > 1:
                pods = list(dict.fromkeys(pods))
            state = "reserved" if claim.reserved_for else "allocated"
            for result in claim.results:
                key = (result.driver, result.pool, result.device)
                # every result, published or not: a patch (list -w) may publish the device later
                claims_on = holding.get(key)
                if claims_on is None:
                    holding[key] = [claim]
                elif claims_on[-1] is not claim:
                    claims_on.append(claim)
                view = views.get(key)
                if view is None:
                    if self.slices_filtered and (result.driver, result.pool) not in read_pools:
                        continue  # a pool of a node that was not read
                    self.warnings.append(
                        f"claim {claim.ref} is allocated device {result.driver}/{result.pool}/{result.device}, "
                        "which no current ResourceSlice publishes"
                    )
                    continue
                holder = Holder(claim, result, pods)
                if result.admin_access:
                    view.admin_holders = [*view.admin_holders, holder]
                else:
                    view.holders = [*view.holders, holder] if view.holders else [holder]
                    if view.state != "reserved":  # as _settle: reserved when any holder's claim is
                        view.state = state
        return holding

    def patch_claims(self, claims: list[Claim], pods: list[Pod], old: Iterable[Claim], new: Iterable[Claim]) -> list[DeviceView] | None:
        """Take over a new list of claims and of pods where only the claims ``old`` (as they were)
        became ``new`` (as they are; a claim whose pods changed is in both), and recompute only the
        devices those claims hold or held (their whole pool where it shares counters): what
        :meth:`device_views` of a fresh cluster would give, at the cost of the change (``list -w``).

        Returns the views recomputed (updated in place; each once), or None when no views were built yet.
        """
        patch = self.patch(claims, pods, old, new)
        return None if patch is None else patch.views

    def patch(
        self,
        claims: list[Claim],
        pods: list[Pod],
        old: Iterable[Claim] = (),
        new: Iterable[Claim] = (),
        *,
        slices: list[ResourceSlice] | None = None,
        removed_slices: Iterable[ResourceSlice] = (),
        added_slices: Iterable[ResourceSlice] = (),
    ) -> "ModelPatch | None":
        """Take over new lists of claims, pods and (``slices``) ResourceSlices where only the claims
        ``old`` (as they were) became ``new`` (as they are; a claim whose pods changed is in both)
        and the slices ``removed_slices`` were replaced by ``added_slices`` (a slice modified is in
        both), and recompute only what they touch: the devices those claims hold or held, and every
        pool a changed slice belongs or belonged to (rebuilt from its slices, as :meth:`pools` builds
        it: the newest generation wins, completeness, counters; its devices joined with their claims
        anew). What :meth:`device_views` of a fresh cluster would give, at the cost of the change
        (``list -w``, ``claims -w``).

        Returns what changed (:class:`ModelPatch`), or None when no views were built yet.
        """
        old, new = list(old), list(new)
        removed_slices, added_slices = list(removed_slices), list(added_slices)
        pods_changed = pods is not self.pods
        self.claims, self.pods = claims, pods
        if pods_changed:
            self._pod_index = None
        if slices is not None:
            self.slices = slices
        views, holding = self._view_index, self._holding
        if self._views is None or views is None or holding is None or self._pools is None:
            self._views = None
            if removed_slices or added_slices:
                self._pools = self._patching = None
            return None
        touched: dict[tuple[str, str, str], None] = {}
        # 1. the claims: who holds which device (published or not: a slice may publish it later)
        for claim in old:
            if not claim.allocated:
                continue
            for result in claim.results:
                claims_on = holding.get(result.key)
                if claims_on is not None:
                    claims_on[:] = [c for c in claims_on if c is not claim]
                    if not claims_on:
                        del holding[result.key]
                touched[result.key] = None
        position: dict[int, int] | None = None
        for claim in new:
            if not claim.allocated:
                continue
            for result in claim.results:
                claims_on = holding.setdefault(result.key, [])
                if not any(c is claim for c in claims_on):
                    claims_on.append(claim)
                    if len(claims_on) > 1:  # holders in the order of the claims, as a fresh join has them
                        if position is None:
                            position = {id(c): i for i, c in enumerate(claims)}
                        claims_on.sort(key=lambda c: position.get(id(c), -1))
                touched[result.key] = None
        # 2. the pools of the changed slices, rebuilt from their slices
        caches = self._caches()
        pool_map = caches.pools_by_key
        old_order: dict[tuple[str, str, str], tuple] = {}
        gone: dict[tuple[str, str, str], DeviceView] = {}
        recomputed: dict[tuple[str, str], None] = {}
        if removed_slices or added_slices:
            by_pool = caches.slices_by_pool
            if by_pool is None:  # the first slice patch: the index of the slices as they are now
                by_pool = caches.slices_by_pool = {}
                for sl in self.slices:
                    by_pool.setdefault((sl.driver, sl.pool), []).append(sl)
            else:
                for sl in removed_slices:
                    bucket = by_pool.get((sl.driver, sl.pool), [])
                    bucket[:] = [s for s in bucket if s is not sl]
                for sl in added_slices:
                    by_pool.setdefault((sl.driver, sl.pool), []).append(sl)
            recomputed = dict.fromkeys((sl.driver, sl.pool) for sl in [*removed_slices, *added_slices])
        ordered = self._views
        before_pools = {k for k in recomputed if k in pool_map}
        for pool_key in recomputed:
            before = pool_map.get(pool_key)
            if before is not None:
                # its views leave the listing (found by their place in it: bisect, not a scan)
                for view in _pool_views(before, views).values():
                    key = view.device.key
                    old_order[key] = self.listing_key(view)
                    _remove_sorted(ordered, view, old_order[key], self.listing_key)
                    del views[key]
                    gone[key] = view
                self._pools.pop(_pool_position(self._pools, pool_key))
            caches.ranks.pop(pool_key, None)
            rebuilt = build_pools(by_pool.get(pool_key, []))
            if not rebuilt:
                pool_map.pop(pool_key, None)
                by_pool.pop(pool_key, None)
                continue
            pool = pool_map[pool_key] = rebuilt[0]
            self._pools.insert(bisect.bisect_left(self._pools, pool_key, key=_pool_key), pool)
            if not pool.complete:
                self.warnings.append(pool.describe_incomplete())
            for problem in dict.fromkeys(pool.problems):
                self.warnings.append(f"pool {pool.driver}/{pool.name} is invalid: {problem}")
            fresh: dict[tuple[str, str, str], DeviceView] = {}
            complete = pool.complete
            for sl in pool.slices:
                for dev in sl.devices:
                    fresh[(dev.driver, dev.pool, dev.name)] = DeviceView(dev, "free", (), (), (), complete)
            self._apply_taint_rules(fresh)
            for key, view in fresh.items():
                views[key] = view
                gone.pop(key, None)
                touched[key] = None
                bisect.insort_right(ordered, view, key=self.listing_key)
        # 3. the devices touched: holders, then state (counters: the whole pool)
        pod_index = self.pods_by_claim()
        counter_pools: dict[tuple[str, str], Pool] = {}
        changed: list[DeviceView] = []
        for key in touched:
            view = views.get(key)
            if view is None:
                continue
            holders: list[Holder] = []
            admin: list[Holder] = []
            for claim in holding.get(key, ()):
                pods_of = list(dict.fromkeys(claim.reserved_pods + pod_index.get((claim.namespace, claim.name), [])))
                for result in claim.results:
                    if result.key == key:
                        (admin if result.admin_access else holders).append(Holder(claim, result, pods_of))
            view.holders, view.admin_holders = holders or (), admin or ()
            pool = pool_map.get((key[0], key[1]))
            if pool is not None and pool.counter_sets:
                counter_pools[pool.key] = pool
            view.state = "free"
            _settle(view)
            changed.append(view)
        for pool in counter_pools.values():
            pool_views = _pool_views(pool, views).values()
            for view in pool_views:
                view.blocked_by = ()
            _mark_counter_blocked(pool, views)
            for view in pool_views:
                view.state = "free"
                _settle(view)
                if view.device.key not in touched:
                    touched[view.device.key] = None
                    changed.append(view)
        # 4. what a fresh join warns about: claims allocated devices that no slice publishes now
        affected: dict[int, Claim] = {id(c): c for c in new if c.allocated}
        held: dict[int, Claim] = {}
        appeared = [k for k in recomputed if k in pool_map and k not in before_pools]
        if appeared and self.slices_filtered:
            # a pool read for the first time (--node): its devices that no slice publishes are
            # now "unpublished", no longer "on a node not read" (a scan: rare)
            for key in [k for k in holding if (k[0], k[1]) in appeared and k not in views]:
                for claim in holding[key]:
                    affected[id(claim)] = claim
        for pool_key in recomputed:
            keys = [k for k in gone if (k[0], k[1]) == pool_key]
            pool = pool_map.get(pool_key)
            if pool is not None:
                keys += [(pool.driver, pool.name, d.name) for d in pool.devices]
            for key in keys:
                for claim in holding.get(key, ()):
                    held[id(claim)] = claim
                    if key in gone:
                        affected[id(claim)] = claim
        for claim in affected.values():
            for result in claim.results:
                if result.key in views:
                    continue
                if self.slices_filtered and (result.driver, result.pool) not in pool_map:
                    continue  # a pool of a node that was not read
                self.warnings.append(
                    f"claim {claim.ref} is allocated device {result.driver}/{result.pool}/{result.device}, "
                    "which no current ResourceSlice publishes"
                )
        removed = sorted(gone.values(), key=lambda v: old_order[v.device.key])
        return ModelPatch(changed, removed, old_order, list(held.values()))

    # ------------------------------------------------------------------ the listing's order, for patches

    def listing_key(self, view: DeviceView) -> tuple:
        """Where ``view`` stands in :meth:`device_views`: sorting by this key gives that order (the
        order's own key, then what breaks its ties as the fresh sort does: the pool, then the
        device's first place in its pool)."""
        dev = view.device
        caches = self._caches()
        pool_key = (dev.driver, dev.pool)
        rank = caches.ranks.get(pool_key)
        if rank is None:
            rank = caches.ranks[pool_key] = {}
            pool = caches.pools_by_key.get(pool_key)
            for sl in pool.slices if pool is not None else ():
                for d in sl.devices:
                    rank.setdefault(d.name, len(rank))
        return (*_order(view), dev.pool, rank.get(dev.name, -1))

    def _caches(self) -> "_PatchCaches":
        """What :meth:`patch` keeps between patches, for the pools as they are (dropped with them)."""
        pools = self.pools
        caches = self._patching
        if caches is None or caches.pools is not pools:
            caches = self._patching = _PatchCaches(pools, {p.key: p for p in pools})
        return caches

    def claim_device_index(self) -> dict[tuple[str, str, str], DeviceView]:
        """Device key -> view of only the devices the claims were allocated (what ``claims`` shows:
        each device's node, UUID, PCI bus ID), without joining every device with its claims.

        The views hold the published device (no state, holders or DeviceTaintRule taints) and the
        cluster gets the same warnings as from :meth:`device_views` (pools, taint rules, allocated
        devices no slice publishes), in the same order; the device of a key is the one
        :meth:`device_views` has (a pool's newest generation; the last of a duplicated name).

        Every slice is still decoded and checked in full, also one none of whose devices a claim
        got: a malformed one is skipped with the same warning as in every command. A skipped
        slice changes what its pool counts (complete, newest generation), which the devices of
        the claims depend on, and checking is most of what decoding costs (a check-only pass,
        measured at 40,000 devices, saves only about a third).
        """
        if self._view_index is not None and self._views is not None:
            return self._view_index
        pools = self.pools
        wanted: dict[tuple[str, str], set[str]] = {}
        for claim in self.claims:
            if claim.allocated:
                for result in claim.results:
                    names = wanted.get((result.driver, result.pool))
                    if names is None:
                        wanted[(result.driver, result.pool)] = {result.device}
                    else:
                        names.add(result.device)
        index: dict[tuple[str, str, str], DeviceView] = {}
        for pool in pools:
            names = wanted.get((pool.driver, pool.name))
            if not names:
                continue
            complete = pool.complete
            for sl in pool.slices:
                for dev in sl.devices:
                    if dev.name in names:
                        index[(dev.driver, dev.pool, dev.name)] = DeviceView(dev, "free", (), (), (), complete)
        for rule in self.taint_rules:
            self._taint_rule_warning(rule)
        read_pools: set[tuple[str, str]] | None = None
        for claim in self.claims:
            if not claim.allocated:
                continue
            for result in claim.results:
                if (result.driver, result.pool, result.device) in index:
                    continue
                if self.slices_filtered:
                    if read_pools is None:
                        read_pools = {(p.driver, p.name) for p in pools}
                    if (result.driver, result.pool) not in read_pools:
                        continue  # a pool of a node that was not read
                self.warnings.append(
                    f"claim {claim.ref} is allocated device {result.driver}/{result.pool}/{result.device}, "
                    "which no current ResourceSlice publishes"
                )
        return index

    def devices_not_free(self) -> tuple[list[Device], set[int]]:
        """Every device :meth:`device_views` lists, and the ids of those whose state is not ``free``
        (what the ``topology`` cluster view counts), without a view, holders or sort key per device.

        The devices come pool by pool (a name used twice in a pool: the last one, in the first one's
        place), not in the listing's order; each is the one :meth:`device_views` has. States are
        decided as there: held by an allocated claim (not ``adminAccess``), blocked by the shared
        counters of its pool, or carrying a NoSchedule/NoExecute taint. The cluster gets the same
        warnings, in the same order. With DeviceTaintRules (which give views copies of their devices)
        or views already built, the answer is taken from :meth:`device_views`.
        """
        if self.taint_rules or (self._views is not None and self._view_index is not None):
            views = self.device_views()
            return [v.device for v in views], {id(v.device) for v in views if v.state != "free"}
        pools = self.pools
        by_pool: dict[tuple[str, str], dict[str, Device]] = {}
        devices: list[Device] = []
        for pool in pools:
            slices = pool.slices
            if len(slices) == 1:
                pool_devices = slices[0].devices
                names = {d.name: d for d in pool_devices}
                devices.extend(pool_devices if len(names) == len(pool_devices) else names.values())
            else:
                names = {d.name: d for sl in slices for d in sl.devices}
                devices.extend(names.values())
            by_pool[(pool.driver, pool.name)] = names
        busy: set[int] = set()
        #: the devices of pools with shared counters held, and by which claim result first
        counter_held: dict[tuple[str, str, str], Holder] = {}
        counted = {(p.driver, p.name) for p in pools if p.counter_sets}
        for claim in self.claims:
            if not claim.allocated:
                continue
            for result in claim.results:
                pool_key = (result.driver, result.pool)
                names = by_pool.get(pool_key)
                dev = None if names is None else names.get(result.device)
                if dev is None:
                    if self.slices_filtered and names is None:
                        continue  # a pool of a node that was not read
                    self.warnings.append(
                        f"claim {claim.ref} is allocated device {result.driver}/{result.pool}/{result.device}, "
                        "which no current ResourceSlice publishes"
                    )
                    continue
                if result.admin_access:
                    continue
                busy.add(id(dev))
                if pool_key in counted:
                    counter_held.setdefault((result.driver, result.pool, result.device), Holder(claim, result, []))
        for pool in pools:
            if not pool.counter_sets:
                continue
            views = {(pool.driver, pool.name, name): DeviceView(dev) for name, dev in by_pool[(pool.driver, pool.name)].items()}
            for key, view in views.items():
                holder = counter_held.get(key)
                if holder is not None:
                    view.holders = [holder]
            _mark_counter_blocked(pool, views)
            busy.update(id(v.device) for v in views.values() if v.blocked_by)
        for dev in filter(_TAINTS, devices):
            if dev.blocking_taints():
                busy.add(id(dev))
        return devices, busy

    def _taint_rule_warning(self, rule: DeviceTaintRule) -> None:
        if rule.selectors or rule.device_class:
            self.warnings.append(
                f"DeviceTaintRule {rule.name} selects devices by class/CEL (removed in Kubernetes 1.35); "
                "only its driver/pool/device fields are applied"
            )

    def _apply_taint_rules(self, views: dict[tuple[str, str, str], DeviceView]) -> None:
        for rule in self.taint_rules:
            self._taint_rule_warning(rule)
            if not (rule.driver or rule.pool or rule.device) and (rule.selectors or rule.device_class):
                continue
            taint = {**rule.taint, "rule": rule.name}
            for key, view in views.items():
                if rule.matches(*key) and not any(t.get("rule") == rule.name for t in view.device.taints):
                    # a copy for the view: the slice's device keeps what the driver published
                    view.device = replace(view.device, taints=[*view.device.taints, taint])

    def pods_by_claim(self) -> dict[tuple[str, str], list[str]]:
        """(namespace, claim name) -> the names of the pods that use it, in the order of the pods
        (a pod naming a claim twice is listed twice); built once per set of pods."""
        if self._pod_index is not None:
            return self._pod_index
        index: dict[tuple[str, str], list[str]] = {}
        for pod in self.pods:
            for name in pod.claim_names():
                index.setdefault((pod.namespace, name), []).append(pod.name)
        self._pod_index = index
        return index

    def view_index(self) -> dict[tuple[str, str, str], DeviceView]:
        """Device key -> view, the one :meth:`device_views` keeps (and :meth:`patch` keeps current):
        read it, do not change it. :meth:`device_index` is a copy in the listing's order."""
        self.device_views()
        assert self._view_index is not None
        return self._view_index

    def device_index(self) -> dict[tuple[str, str, str], DeviceView]:
        return {v.device.key: v for v in self.device_views()}


@dataclass
class ModelPatch:
    """What :meth:`Cluster.patch` changed: ``views``, the device views recomputed or new (each
    once, in no particular order); ``removed``, the views of devices no longer published (as they
    were, in the listing's order before the patch); ``old_order``, each device key of a rebuilt
    pool -> its :meth:`Cluster.listing_key` before the patch; ``claims``, the allocated claims
    holding a device of a rebuilt pool (before or after: their node and device columns may change)."""

    views: list[DeviceView]
    removed: list[DeviceView]
    old_order: dict[tuple[str, str, str], tuple]
    claims: list[Claim]


@dataclass
class _PatchCaches:
    pools: list[Pool]
    pools_by_key: dict[tuple[str, str], Pool]
    #: (driver, pool) -> its slices of every generation; built on the first slice patch
    slices_by_pool: dict[tuple[str, str], list[ResourceSlice]] | None = None
    #: (driver, pool) -> device name -> its first place in the pool (ties of the listing's order)
    ranks: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)


def _order(view: DeviceView) -> tuple:
    """The listing's order: by node (devices without one last), driver, pool and name (natural order)."""
    dev = view.device
    node = dev.node_name
    return (node is None, node or dev.node_label, dev.driver, natural_key(dev.pool), natural_key(dev.name))


def _pool_key(pool: Pool) -> tuple[str, str]:
    return pool.key


def _pool_position(pools: list[Pool], key: tuple[str, str]) -> int:
    """Where the pool ``key`` is in ``pools`` (sorted by key, as :func:`build_pools` returns them)."""
    i = bisect.bisect_left(pools, key, key=_pool_key)
    if i < len(pools) and pools[i].key == key:
        return i
    raise ValueError(f"pool {key} is not in the list")


def _pool_views(pool: Pool, views: dict[tuple[str, str, str], DeviceView]) -> dict[tuple[str, str, str], DeviceView]:
    """The views of ``pool``'s devices, in the pool's order (a name used twice: once)."""
    out: dict[tuple[str, str, str], DeviceView] = {}
    for sl in pool.slices:
        for dev in sl.devices:
            key = (pool.driver, pool.name, dev.name)
            view = views.get(key)
            if view is not None:
                out[key] = view
    return out


def _remove_sorted(ordered: list[DeviceView], view: DeviceView, key: tuple, listing_key: Any) -> None:
    """Take ``view`` (whose listing key is ``key``) out of ``ordered`` (sorted by that key)."""
    i = bisect.bisect_left(ordered, key, key=listing_key)
    if not (i < len(ordered) and ordered[i] is view):
        i = next(j for j, v in enumerate(ordered) if v is view)  # not where its key says: a scan (never expected)
    del ordered[i]


def _settle(view: DeviceView) -> None:
    """A view's state from its holders, what blocks it and its taints (the view starts "free")."""
    if view.holders:
        view.state = "reserved" if any(h.claim.reserved_for for h in view.holders) else "allocated"
    elif view.blocked_by:
        view.state = "consumed-by-partition"
    elif view.device.taints and view.device.blocking_taints():
        view.state = "tainted"


def _q(value: Any) -> Quantity:
    try:
        return Quantity.parse(str(value))
    except QuantityError:
        return Quantity.parse("0")


def _consumption(dev: Device) -> Iterable[tuple[str, str, Quantity]]:
    for entry in dev.consumes_counters:
        set_name = entry.get("counterSet", "")
        for cname, counter in (entry.get("counters") or {}).items():
            value = counter.get("value", "0") if isinstance(counter, dict) else counter
            yield set_name, cname, _q(value)


def counters_left(
    pool: Pool, views: dict[tuple[str, str, str], DeviceView]
) -> tuple[dict[tuple[str, str], Quantity], dict[tuple[str, str], list[str]]]:
    """Per (counter set, counter): what the pool's allocated devices leave, and which devices use it."""
    available: dict[tuple[str, str], Quantity] = {
        (set_name, cname): _q(value) for set_name, counters in pool.counter_sets.items() for cname, value in counters.items()
    }
    users: dict[tuple[str, str], list[str]] = {}
    for dev in pool.devices:
        view = views.get((pool.driver, pool.name, dev.name))
        if view is None or not view.holders:
            continue
        for set_name, cname, amount in _consumption(dev):
            key = (set_name, cname)
            if key in available:
                available[key] = available[key].sub(amount)
                users.setdefault(key, []).append(dev.name)
    return available, users


def _mark_counter_blocked(pool: Pool, views: dict[tuple[str, str, str], DeviceView]) -> None:
    """Mark free devices whose counter consumption no longer fits, as the scheduler checks it (§5.6)."""
    available, users = counters_left(pool, views)
    pool_views = [views[(pool.driver, pool.name, d.name)] for d in pool.devices if (pool.driver, pool.name, d.name) in views]
    for view in pool_views:
        if view.holders or not view.device.consumes_counters:
            continue
        blockers: dict[str, None] = {}
        for set_name, cname, amount in _consumption(view.device):
            key = (set_name, cname)
            left = available.get(key)
            if left is not None and left < amount:
                for user in users.get(key, []):
                    blockers[user] = None
        view.blocked_by = sorted(blockers, key=natural_key)
