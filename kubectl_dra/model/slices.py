"""ResourceSlices and the pools they form.

A pool is identified by ``(driver, pool name)`` and may span several slices. Only slices
of the highest ``pool.generation`` count; the pool is complete when that many slices are
present as ``resourceSliceCount`` says (dra-api.md §2.7, §5.2).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from kubectl_dra.model.device import Device


@dataclass(slots=True)
class ResourceSlice:
    name: str
    driver: str
    pool: str
    generation: int
    slice_count: int
    api_version: str = "resource.k8s.io/v1"
    uid: str = ""
    created: str | None = None
    node_name: str | None = None
    node_selector: dict | None = None
    all_nodes: bool = False
    per_device_node_selection: bool = False
    devices: list[Device] = field(default_factory=list)
    shared_counters: list[dict] = field(default_factory=list)


@dataclass(slots=True)
class Pool:
    driver: str
    name: str
    generation: int
    slice_count: int
    slices: list[ResourceSlice] = field(default_factory=list)
    #: slices of older generations that were ignored
    stale_slices: int = 0
    #: counter set name -> {counter name: quantity string}
    counter_sets: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.driver, self.name)

    @property
    def complete(self) -> bool:
        return len(self.slices) == self.slice_count

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def devices(self) -> list[Device]:
        return [d for s in self.slices for d in s.devices]

    @property
    def node_label(self) -> str:
        nodes = {s.node_name for s in self.slices if s.node_name}
        return ",".join(sorted(nodes)) if nodes else ""

    def describe_incomplete(self) -> str:
        if len(self.slices) > self.slice_count:  # not "2 of 1": more slices than the pool says it has
            return (
                f"pool {self.driver}/{self.name} is inconsistent: {len(self.slices)} slices of generation "
                f"{self.generation}, but resourceSliceCount says {self.slice_count}"
            )
        return (
            f"pool {self.driver}/{self.name} is incomplete: {len(self.slices)} of "
            f"{self.slice_count} slices of generation {self.generation} are present"
        )


def build_pools(slices: list[ResourceSlice]) -> list[Pool]:
    """Group slices into pools, keeping only the newest generation of each pool, and validate them."""
    newest: dict[tuple[str, str], Pool] = {}
    for sl in slices:
        key = (sl.driver, sl.pool)
        pool = newest.get(key)
        if pool is None or sl.generation > pool.generation:
            stale = 0 if pool is None else pool.stale_slices + len(pool.slices)
            pool = newest[key] = Pool(sl.driver, sl.pool, sl.generation, sl.slice_count, stale_slices=stale)
        elif sl.generation < pool.generation:
            pool.stale_slices += 1
            continue
        pool.slices.append(sl)
        # all slices of one generation should agree; keep the largest count seen so a
        # disagreement shows up as "incomplete" rather than silently passing
        pool.slice_count = max(pool.slice_count, sl.slice_count)
    pools = sorted(newest.values(), key=lambda p: p.key)
    for pool in pools:
        pool.slices.sort(key=lambda s: s.name)
        _validate(pool)
    return pools


def _validate(pool: Pool) -> None:
    for sl in pool.slices:
        for counter_set in sl.shared_counters:
            name = counter_set.get("name", "")
            if name in pool.counter_sets:
                continue  # the first set of a name counts; pool_problems reports the duplicate
            counters = counter_set.get("counters") or {}
            pool.counter_sets[name] = {
                cname: str((c or {}).get("value", "0")) if isinstance(c, dict) else str(c)
                for cname, c in counters.items()
            }
    pool.problems.extend(pool_problems(pool.slices, pool.slices))


def pool_problems(
    device_slices: Iterable[ResourceSlice],
    counter_slices: Iterable[ResourceSlice] | None = None,
    consumer_slices: Iterable[ResourceSlice] | None = None,
) -> Iterator[str]:
    """What makes a pool invalid, in the order upstream ``buildPool`` checks it: a device name used
    twice among ``device_slices``; then, unless ``counter_slices`` is None (counters not checked), a
    counter set name defined twice among ``counter_slices``, and a counter set or counter that a
    device of ``consumer_slices`` (default: ``device_slices``) consumes but no counter slice defines.

    Every problem is yielded (the model lists them all); the allocator takes the first, as upstream.
    """
    seen: set[str] = set()
    device_slices = list(device_slices)
    for sl in device_slices:
        for dev in sl.devices:
            if dev.name in seen:
                yield f"duplicate device name {dev.name}"
            seen.add(dev.name)
    if counter_slices is None:
        return
    sets: dict[str, set[str]] = {}
    for sl in counter_slices:
        for counter_set in sl.shared_counters:
            set_name = str(counter_set.get("name", ""))
            if set_name in sets:
                yield f"duplicate counter set name {set_name}"
                continue
            sets[set_name] = {str(c) for c in (counter_set.get("counters") or {})}
    for sl in device_slices if consumer_slices is None else consumer_slices:
        for dev in sl.devices:
            for entry in dev.consumes_counters:
                set_name = str(entry.get("counterSet", ""))
                if set_name not in sets:
                    yield f"counter set {set_name} not found"
                    continue
                for cname in entry.get("counters") or {}:
                    if cname not in sets[set_name]:
                        yield f"counter {cname} not found in counter set {set_name}"
