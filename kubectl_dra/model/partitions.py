"""Physical truth for partitionable devices: how many free placements can be used *at once*.

With DynamicMIG (partitionable devices, KEP-4815) a driver publishes every placement a GPU could be
cut into — seven 1g.10gb slices, four 1g.20gb, three 2g.20gb, two 3g.40gb, one 4g.40gb, one 7g.80gb
and the full GPU — each consuming the GPU's shared counters (memory slices, SMs, engines).  Each
placement is a device that is ``free`` when nothing it needs is used, so a naive count says "29
free" for two GPUs although the placements overlap: allocating the 7g.80gb slice makes all the others
on that GPU unusable.

``partition_capacity(cluster)`` answers per counter set (one physical GPU, or several sets a group
of devices consumes together):

* ``free``: free placements (devices in state ``free`` that consume the counters);
* ``at_once``: the largest number of them that fit in the counters left *together* (what the
  scheduler could allocate if every request asked for one device), found exactly by a bounded
  search (placements of one GPU are few; past ``SEARCH_LIMIT`` steps the greedy answer, a lower
  bound, is returned and ``exact`` is False);
* ``by_profile``: per profile (or device name), how many of it fit at once if only it were chosen
  (what a request for that profile can still get: "3g.40gb ×1" on a GPU with half its slices used).

``summary(capacities)`` is the sentence an admin reads: "29 placements free on 2 GPUs; at most 11
usable at once".  Pure: reads Pools and DeviceViews, prints nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from .cluster import _consumption, counters_left
from .quantity import Quantity

SEARCH_LIMIT = 200_000


@dataclass(frozen=True)
class PartitionCapacity:
    driver: str
    pool: str
    node: str
    counter_sets: tuple[str, ...]  # usually one: the GPU's
    free: int  # free placements
    at_once: int  # the most of them usable together
    exact: bool
    best: tuple[str, ...]  # device names of one largest set usable together
    by_profile: dict[str, int] = field(default_factory=dict, hash=False)  # profile -> how many fit alone


def partition_capacity(cluster, node: str | None = None, keys: set | None = None) -> list[PartitionCapacity]:
    """One PartitionCapacity per group of counter sets that free devices consume (see module doc);
    ``node``/``keys``: only those devices (a filtered list counts what it shows)."""
    views = None  # built for the first pool with counters (most clusters have none)
    out: list[PartitionCapacity] = []
    for pool in cluster.pools:
        if not pool.counter_sets:
            continue
        if views is None:
            views = cluster.device_index()
        available, _ = counters_left(pool, views)
        free = []
        for dev in pool.devices:
            view = views.get((pool.driver, pool.name, dev.name))
            if view is None or view.state != "free" or not dev.consumes_counters:
                continue
            if node is not None and dev.node_label != node:
                continue
            if keys is not None and dev.key not in keys:
                continue
            free.append(dev)
        for group in _groups(free):
            sets = tuple(sorted({s for dev in group for s, _, _ in _consumption(dev)}))
            best, exact = _max_set(group, available)
            profiles: dict[str, list] = {}
            for dev in group:
                profiles.setdefault(_profile(dev), []).append(dev)
            by_profile = {p: len(_max_set(devs, available)[0]) for p, devs in profiles.items()}
            out.append(PartitionCapacity(
                pool.driver, pool.name, group[0].node_label, sets, len(group), len(best), exact,
                tuple(d.name for d in best), by_profile))
    return out


def summary(capacities: Sequence[PartitionCapacity]) -> str | None:
    """ "29 placements free on 2 GPUs; at most 11 usable at once", or None without partitions."""
    if not capacities:
        return None
    free = sum(c.free for c in capacities)
    at_once = sum(c.at_once for c in capacities)
    n = len(capacities)
    gpus = f"{n} GPU{'s' if n != 1 else ''}"
    bound = "at most" if all(c.exact for c in capacities) else "at least"
    return (f"{free} placement{'s' if free != 1 else ''} free on {gpus}; "
            f"{bound} {at_once} usable at once")


def _profile(dev) -> str:
    value = dev.attr("profile")
    return str(value) if value is not None else dev.name


def _groups(devices: list) -> list[list]:
    """Devices joined when they share a counter set (union-find over set names)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for dev in devices:
        sets = [s for s, _, _ in _consumption(dev)]
        for s in sets[1:]:
            parent[find(s)] = find(sets[0])
    groups: dict[str, list] = {}
    for dev in devices:
        sets = [s for s, _, _ in _consumption(dev)]
        groups.setdefault(find(sets[0]) if sets else dev.name, []).append(dev)
    return list(groups.values())


def _needs(dev) -> dict[tuple[str, str], Fraction]:
    need: dict[tuple[str, str], Fraction] = {}
    for s, c, amount in _consumption(dev):
        need[(s, c)] = need.get((s, c), Fraction(0)) + amount.value
    return need


def _max_set(devices: Iterable, available: dict[tuple[str, str], Quantity]) -> tuple[list, bool]:
    """The largest subset of ``devices`` whose summed consumption fits ``available``; exact unless the
    search passes SEARCH_LIMIT steps (then the best found, at least the greedy one)."""
    items = [(dev, _needs(dev)) for dev in devices]
    left = {k: v.value for k, v in available.items()}
    # fewest resources first: the greedy order and the search order
    items.sort(key=lambda it: (sum(it[1].values()), it[0].name))
    items = [it for it in items if all(left.get(k, Fraction(0)) >= v for k, v in it[1].items())]

    def fits(need, room) -> bool:
        return all(room.get(k, Fraction(0)) >= v for k, v in need.items())

    def take(need, room) -> dict:
        room = dict(room)
        for k, v in need.items():
            room[k] = room.get(k, Fraction(0)) - v
        return room

    greedy, room = [], left
    for dev, need in items:
        if fits(need, room):
            greedy.append(dev)
            room = take(need, room)
    best = list(greedy)
    steps = 0
    exact = True

    def search(i: int, room: dict, chosen: list) -> None:
        nonlocal best, steps, exact
        steps += 1
        if steps > SEARCH_LIMIT:
            exact = False
            return
        if len(chosen) > len(best):
            best = list(chosen)
        if i == len(items) or len(chosen) + (len(items) - i) <= len(best):
            return
        dev, need = items[i]
        if fits(need, room):
            chosen.append(dev)
            search(i + 1, take(need, room), chosen)
            chosen.pop()
        search(i + 1, room, chosen)

    search(0, left, [])
    return best, exact
