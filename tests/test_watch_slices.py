"""`list -w` / `claims -w` apply ResourceSlice events to the model in place too (``Cluster.patch``:
only the pools of the changed slices are rebuilt, their devices joined with their claims anew):
what they print must be exactly what a rebuild of the whole model from the same objects prints.

A random stream of slice events (devices added, removed, renamed into ties of the listing's natural
order, retainted, moved to other nodes and pools; slices deleted, added back, added for new nodes
and as extra slices of a pool; pool generations bumped and reset, resourceSliceCount changed, shared
counters changed, node selection changed, undecodable slices) mixed with claim and pod events,
sometimes in one batch, is followed twice over the demo cluster: once rebuilding the model for
every batch (the reference) and once patching it. Every batch must print the same stdout lines and
items and the same new warnings, and after every batch the patched model must equal a model decoded
afresh from the objects (views, their order, pools, holders).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import random
from typing import Any

import pytest

from kubectl_dra.domain.device_query import DeviceQuery
from kubectl_dra.kube.watch import Patch, _Events, _key
from kubectl_dra.model.claim import DeviceTaintRule
from kubectl_dra.model.cluster import Cluster
from kubectl_dra.model.decode import DecodeError, UnsupportedVersion, decode
from kubectl_dra.render.claims import ClaimWatchView
from kubectl_dra.render.devices import DeviceWatchView, device_item, device_row, device_signature
from tests.test_watch_patch import ScriptedWatch, _End, demo_objects

NVIDIA = "gpu.nvidia.com"
#: names whose natural keys tie ("gpu-1" and "gpu-01"), and plain new ones
NEW_NAMES = ("gpu-1", "gpu-01", "gpu-001", "gpu-9", "gpu-10", "extra-0", "gpu-0")
NEW_NODES = ("new-node-1", "new-node-01", "a100-mig-01", "zz-node")
WATCHED_NODES = ("dgx-h100-01", "h100-dmig-01", "new-node-1")


@dataclasses.dataclass
class _Group:
    """Several messages applied in one batch (a slice and a claim event arriving together)."""

    messages: list[_Events]


class SliceWatch(ScriptedWatch):
    """The scripted watch, with batches of several messages, and (``rebuild``) a fresh model for
    every batch: the reference the in-place patches are compared with."""

    def __init__(self, base: Cluster, objects: dict[str, list[dict]], script: list[Any], *, rebuild: bool) -> None:
        super().__init__(base, objects, script)
        self.rebuild = rebuild

    def _apply(self, message: Any) -> bool:
        if isinstance(message, _Group):
            return any([super(SliceWatch, self)._apply(m) for m in message.messages])
        return super()._apply(message)

    def _refresh(self, cluster: Cluster | None) -> "tuple[Cluster, Patch | None]":
        if self.rebuild:
            self._touched, self._rebuild = {}, False
            return self._build(), None
        return super()._refresh(cluster)


# ---------------------------------------------------------------------------- the event stream


def _device(name: str, rng: random.Random) -> dict:
    return {
        "name": name,
        "attributes": {
            "type": {"string": "gpu"},
            "productName": {"string": rng.choice(["NVIDIA H100 80GB HBM3", "NVIDIA L40S"])},
            "uuid": {"string": f"GPU-{rng.randrange(10**6)}"},
        },
        "capacity": {"memory": {"value": rng.choice(["40Gi", "80Gi"])}},
    }


def _mutate_slice(obj: dict, rng: random.Random, pools: list[tuple[str, str]]) -> None:
    spec = obj["spec"]
    devices = spec.setdefault("devices", [])
    if not isinstance(spec["pool"]["resourceSliceCount"], int):  # undecodable before: decodable again
        spec["pool"]["resourceSliceCount"] = 1
    what = rng.randrange(14)
    if what == 0 and devices:  # an attribute changes (the UUID column of claims -w)
        dev = rng.choice(devices)
        dev.setdefault("attributes", {})["uuid"] = {"string": f"GPU-{rng.randrange(10**6)}"}
    elif what == 1 and devices:  # a device goes
        devices.pop(rng.randrange(len(devices)))
    elif what == 2:  # a device comes (maybe a duplicate name in the pool, or a tie in the order)
        devices.insert(rng.randrange(len(devices) + 1), _device(rng.choice(NEW_NAMES), rng))
    elif what == 3 and devices:  # a taint comes or goes
        dev = rng.choice(devices)
        if dev.get("taints"):
            dev.pop("taints")
        else:
            dev["taints"] = [{"key": "maintenance", "value": "x", "effect": rng.choice(["NoSchedule", "PreferNoSchedule"])}]
    elif what == 4:  # the pool's generation goes up (its other slices become stale) ...
        spec["pool"]["generation"] += 1
    elif what == 5:  # ... or is reset by the driver
        spec["pool"]["generation"] = max(0, spec["pool"]["generation"] - rng.choice((1, 2)))
    elif what == 6:  # the pool says it has more or fewer slices
        spec["pool"]["resourceSliceCount"] = max(1, spec["pool"]["resourceSliceCount"] + rng.choice((-1, 1)))
    elif what == 7:  # the slice moves to another node
        spec.pop("allNodes", None)
        spec.pop("nodeSelector", None)
        spec["nodeName"] = rng.choice([*NEW_NODES, *WATCHED_NODES])
    elif what == 8 and pools:  # the slice moves to another pool of its driver
        same = [p for d, p in pools if d == spec["driver"]]
        if same:
            spec["pool"]["name"] = rng.choice(same)
    elif what == 9:  # node selection without a node
        spec.pop("nodeName", None)
        if rng.random() < 0.5:
            spec["allNodes"] = True
        else:
            spec["nodeSelector"] = {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "pool", "operator": "In", "values": ["a"]}]}]}
    elif what == 10 and spec.get("sharedCounters"):  # the counters shrink or grow
        for counter_set in spec["sharedCounters"]:
            for counter in counter_set.get("counters", {}).values():
                counter["value"] = rng.choice(["0", "1", "16", "81152Mi"])
    elif what == 11 and devices:  # a device renamed into a tie of the natural order
        rng.choice(devices)["name"] = rng.choice(NEW_NAMES)
    elif what == 12:  # undecodable: the model skips it, with a warning
        spec["pool"]["resourceSliceCount"] = "many"
    elif devices:  # the devices come in another order
        rng.shuffle(devices)


def _allocation(driver: str, pool: str, device: str, *, admin: bool = False) -> dict:
    result = {"request": "gpu", "driver": driver, "pool": pool, "device": device}
    if admin:
        result["adminAccess"] = True
    return {"devices": {"results": [result]}}


def script(objects: dict[str, list[dict]], seed: int, steps: int = 80) -> list[Any]:
    """Random slice, claim and pod events: one message (one or a few events of a collection) or a
    group of messages of several collections per batch."""
    rng = random.Random(seed)
    slices = {_key(s): s for s in objects["slices"]}
    claims = {_key(c): c for c in objects["claims"]}
    pods = {_key(p): p for p in objects["pods"]}
    gone_slices: dict = {}
    gone_claims: dict = {}
    gone_pods: dict = {}
    pools = sorted({(s["spec"]["driver"], s["spec"]["pool"]["name"]) for s in objects["slices"]})
    allocations = [copy.deepcopy(c["status"]["allocation"]) for c in objects["claims"] if (c.get("status") or {}).get("allocation")]
    for sl in objects["slices"]:
        for dev in sl["spec"].get("devices", []):
            if dev.get("consumesCounters") or rng.random() < 0.2:
                allocations.append(_allocation(sl["spec"]["driver"], sl["spec"]["pool"]["name"], dev["name"]))
    for pool in [*NEW_NODES, "dgx-h100-01", "l40s-01"]:  # devices slices may publish later
        for name in NEW_NAMES:
            allocations.append(_allocation(NVIDIA, pool, name, admin=rng.random() < 0.1))
    made = 0

    def slice_event() -> list[tuple[str, dict]]:
        nonlocal made
        op = rng.random()
        if op < 0.5 and slices:
            key = rng.choice(sorted(slices))
            obj = copy.deepcopy(slices[key])
            for _ in range(rng.choice((1, 1, 2))):
                _mutate_slice(obj, rng, pools)
            slices[key] = obj
            return [("MODIFIED", obj)]
        if op < 0.62 and slices:
            key = rng.choice(sorted(slices))
            gone_slices[key] = slices.pop(key)
            return [("DELETED", gone_slices[key])]
        if op < 0.75 and gone_slices:
            key = rng.choice(sorted(gone_slices))
            slices[key] = gone_slices.pop(key)
            return [("ADDED", slices[key])]
        # a new slice: for a new node (its own pool), or one more slice of an existing pool
        made += 1
        obj = copy.deepcopy(rng.choice(objects["slices"]))
        obj["metadata"]["name"] = f"added-{made}"
        obj["metadata"]["uid"] = f"uid-added-{made}"
        spec = obj["spec"]
        if rng.random() < 0.6:
            node = rng.choice(NEW_NODES)
            spec.update(driver=NVIDIA, nodeName=node, pool={"name": node, "generation": 1, "resourceSliceCount": 1})
            spec.pop("sharedCounters", None)
            spec["devices"] = [_device(f"gpu-{i}", rng) for i in range(rng.randrange(1, 5))]
        else:
            spec["devices"] = [_device(rng.choice(NEW_NAMES), rng)]
            spec.pop("sharedCounters", None)
        slices[_key(obj)] = obj
        return [("ADDED", obj)]

    def claim_event() -> list[tuple[str, dict]]:
        op = rng.random()
        if op < 0.7 and claims:
            key = rng.choice(sorted(claims))
            obj = copy.deepcopy(claims[key])
            status = obj.setdefault("status", {})
            what = rng.random()
            if what < 0.25:
                obj.pop("status")
            elif what < 0.8:
                status["allocation"] = copy.deepcopy(rng.choice(allocations))
            else:
                pod = rng.choice(sorted(pods) or [("x", "p")])
                status["reservedFor"] = [{"resource": "pods", "name": pod[1], "uid": f"uid-{pod[1]}"}]
                if "allocation" not in status:
                    status["allocation"] = copy.deepcopy(rng.choice(allocations))
            claims[key] = obj
            return [("MODIFIED", obj)]
        if op < 0.85 and claims:
            key = rng.choice(sorted(claims))
            gone_claims[key] = claims.pop(key)
            return [("DELETED", gone_claims[key])]
        if gone_claims:
            key = rng.choice(sorted(gone_claims))
            claims[key] = gone_claims.pop(key)
            return [("ADDED", claims[key])]
        return []

    def pod_event() -> list[tuple[str, dict]]:
        if pods and (rng.random() < 0.5 or not gone_pods):
            key = rng.choice(sorted(pods))
            gone_pods[key] = pods.pop(key)
            return [("DELETED", gone_pods[key])]
        if gone_pods:
            key = rng.choice(sorted(gone_pods))
            pods[key] = gone_pods.pop(key)
            return [("ADDED", pods[key])]
        return []

    out: list[Any] = []
    for _ in range(steps):
        group = []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            kind = rng.random()
            if kind < 0.55:
                group.append(_Events("slices", [e for _ in range(rng.choice((1, 1, 2))) for e in slice_event()]))
            elif kind < 0.85:
                group.append(_Events("claims", claim_event()))
            else:
                group.append(_Events("pods", pod_event()))
        group = [m for m in group if m.events]
        if group:
            out.append(group[0] if len(group) == 1 else _Group(group))
    return out


def by_node(objects: dict[str, list[dict]], script_: list[Any], nodes: tuple[str, ...]) -> tuple[dict, list[Any]]:
    """The objects and the stream as `list -w --node A --node B` sees them: the slices of those nodes
    and those without a node, each in its own watch (``slices:A``, ``slices:``); a slice that moves
    between them leaves one watch (DELETED) and enters the other (ADDED)."""

    def where(obj: dict | None) -> str | None:
        if obj is None:
            return None
        node = obj["spec"].get("nodeName") or ""
        return f"slices:{node}" if node in (*nodes, "") else None

    resources = {f"slices:{n}": [] for n in (*nodes, "")}
    for sl in objects["slices"]:
        if where(sl):
            resources[where(sl)].append(sl)
    last = {_key(s): s for s in objects["slices"]}
    out = []
    for item in script_:
        messages = item.messages if isinstance(item, _Group) else [item]
        routed: list[_Events] = []
        for message in messages:
            if message.resource != "slices":
                routed.append(message)
                continue
            for type_, obj in message.events:
                before = last.get(_key(obj))
                now = None if type_ == "DELETED" else obj
                last[_key(obj)] = now
                a, b = where(before), where(now)
                if a and a != b:
                    routed.append(_Events(a, [("DELETED", before)]))
                if b:
                    routed.append(_Events(b, [("ADDED" if a != b else type_, now)]))
        if routed:
            out.append(_Group(routed))
    return {**resources, "claims": objects["claims"], "pods": objects["pods"]}, out


# ---------------------------------------------------------------------------- following it twice


def fresh_model(watch: SliceWatch) -> Cluster:
    """A model decoded afresh from the watch's objects (no cache shared with the watch)."""
    base = watch.base
    cluster = Cluster(source=base.source, namespace=base.namespace, classes=list(base.classes),
                      templates=list(base.templates), nodes=list(base.nodes), taint_rules=list(base.taint_rules))
    cluster.slices_filtered = any(r.key.startswith("slices:") for r in watch.resources)
    for resource in watch.resources:
        for obj in watch._objects.get(resource.key, {}).values():
            try:
                cluster.add(decode(obj))
            except (DecodeError, UnsupportedVersion):
                pass
    return cluster


def model_state(cluster: Cluster) -> dict:
    views = cluster.device_views()
    return {
        "views": [(v.device.key, device_signature(v), v.pool_complete, device_row(v, True), device_item(v)) for v in views],
        "index": sorted(cluster.view_index()) == sorted(v.device.key for v in views)
        and all(cluster.view_index()[v.device.key] is v for v in views),
        "pools": [(p.key, p.generation, p.slice_count, [s.name for s in p.slices], p.stale_slices, p.counter_sets,
                   p.problems) for p in cluster.pools],
        "slices": [s.name for s in cluster.slices],
        "claims": [c.ref for c in cluster.claims],
        "pods": [(p.namespace, p.name) for p in cluster.pods],
    }


@functools.lru_cache(maxsize=None)
def _demo() -> tuple[Cluster, dict[str, list[dict]]]:
    return demo_objects()


def demo() -> tuple[Cluster, dict[str, list[dict]]]:
    """The demo cluster's objects (parsed once: YAML is slow), a copy for each transcript."""
    return copy.deepcopy(_demo())


def transcript(view_of, objects_of, seed: int, *, rebuild: bool, taint_rule: bool = False, check_model: bool = True) -> tuple[list, int]:
    base, objects = demo()
    if taint_rule:  # a DeviceTaintRule on one pool: the views of a rebuilt pool get its taint again
        base.taint_rules.append(DeviceTaintRule(name="drain-dgx", driver=NVIDIA, pool="dgx-h100-01", device=None,
                                                taint={"key": "drain", "effect": "NoSchedule"}))
    objects, events = objects_of(objects, script(objects, seed))
    view = view_of()
    watch = SliceWatch(base, objects, events, rebuild=rebuild)
    fallbacks = 0

    def partial(cluster, patch):
        nonlocal fallbacks
        entries = view.partial(cluster, patch)
        fallbacks += entries is None
        return entries

    lines = []
    seen: set[str] = set()  # warnings print once each (cli._watch.stream_changes)
    try:
        for cluster, changes in watch.follow(view.snapshot, None if rebuild else partial):
            batch = [(c.type, c.key, view.rows(cluster, c), view.item(cluster, c)) for c in changes]
            if not rebuild and check_model:  # the model patched in place is the model decoded afresh from the same objects
                assert model_state(cluster) == model_state(fresh_model(watch))
            new = sorted(w for w in dict.fromkeys(cluster.warnings) if w not in seen)
            seen.update(new)
            if batch or new:  # a rebuilt model is yielded for every batch, a patched one when it changed
                lines.append((batch, new))
    except _End:
        pass
    return lines, fallbacks


def same(objects, events):
    return objects, events


def on_nodes(objects, events):
    return by_node(objects, events, WATCHED_NODES)


VIEWS = {
    "list -w": (lambda: DeviceWatchView(DeviceQuery(), wide=False), same),
    "list -w -o wide --state free": (lambda: DeviceWatchView(DeviceQuery(state="free"), wide=True), same),
    "list -w --state unavailable": (lambda: DeviceWatchView(DeviceQuery(state="unavailable"), wide=False), same),
    "list -w 'memory>=40Gi' --driver gpu.nvidia.com": (
        lambda: DeviceWatchView(DeviceQuery(drivers={NVIDIA}, filter_text="memory>=40Gi"), wide=False), same),
    "list -w --class gpu.nvidia.com": (lambda: DeviceWatchView(DeviceQuery(device_class=NVIDIA), wide=False), same),
    "list -w --node ...": (lambda: DeviceWatchView(DeviceQuery(nodes=set(WATCHED_NODES)), wide=False), on_nodes),
    "claims -w -A": (lambda: ClaimWatchView(all_namespaces=True), same),
    "claims -w": (lambda: ClaimWatchView(all_namespaces=False), same),
    "claims -w -A --node ...": (lambda: ClaimWatchView(all_namespaces=True), on_nodes),
}


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("command", sorted(VIEWS))
def test_slice_events_applied_in_place_print_what_a_rebuild_prints(command, seed):
    view_of, objects_of = VIEWS[command]
    rebuilt, _ = transcript(view_of, objects_of, seed, rebuild=True)
    # the model does not depend on the view: checked against a fresh one for two of them (time)
    check = command in ("list -w", "list -w --node ...")
    patched, fallbacks = transcript(view_of, objects_of, seed, rebuild=False, check_model=check)
    assert fallbacks == 0, "every batch should have been applied in place"
    assert sum(1 for batch, _ in rebuilt if batch) > 8, "the stream should change what is printed"
    assert patched == rebuilt


@pytest.mark.parametrize("seed", [5, 6])
def test_slice_events_with_a_taint_rule(seed):
    view_of, objects_of = VIEWS["list -w"]
    rebuilt, _ = transcript(view_of, objects_of, seed, rebuild=True, taint_rule=True)
    patched, fallbacks = transcript(view_of, objects_of, seed, rebuild=False, taint_rule=True)
    assert fallbacks == 0
    assert any("drain" in str(item) for batch, _ in rebuilt for *_, item in batch)
    assert patched == rebuilt


# ---------------------------------------------------------------------------- pools, one at a time


def _slice(name: str, pool: str, generation: int, count: int, devices: list[str], node: str | None = None) -> Any:
    return decode({
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": name},
        "spec": {"driver": NVIDIA, "nodeName": node or pool,
                 "pool": {"name": pool, "generation": generation, "resourceSliceCount": count},
                 "devices": [{"name": d} for d in devices]},
    })


def _claim(name: str, pool: str, device: str) -> Any:
    return decode({
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": name, "namespace": "ns"},
        "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": NVIDIA}}]}},
        "status": {"allocation": {"devices": {"results": [
            {"request": "gpu", "driver": NVIDIA, "pool": pool, "device": device}]}}},
    })


def test_a_pool_generation_change_rebuilds_that_pool_only():
    """A pool of two slices republished one slice at a time under a new generation: incomplete (only
    the new slice's devices count, the old generation's are gone), then complete again; the views
    of every other pool are left alone (the same objects), and a claim on a device the old
    generation published is unpublished, then held again."""
    a1, a2 = _slice("a-1", "a", 1, 2, ["gpu-0", "gpu-1"]), _slice("a-2", "a", 1, 2, ["gpu-2", "gpu-3"])
    others = [_slice(f"n{i}", f"n{i}", 1, 1, ["gpu-0", "gpu-1"]) for i in range(3)]
    claim = _claim("c", "a", "gpu-2")
    cluster = Cluster(slices=[a1, a2, *others], claims=[claim])
    before = {v.device.key: v for v in cluster.device_views()}
    assert before[(NVIDIA, "a", "gpu-2")].state == "allocated"

    b1 = _slice("a-1", "a", 2, 2, ["gpu-0", "gpu-1", "gpu-9"])
    slices = [b1, a2, *others]
    patch = cluster.patch(cluster.claims, cluster.pods, slices=slices, removed_slices=[a1], added_slices=[b1])
    keys = [v.device.key for v in cluster.device_views()]
    assert {v.device.key for v in patch.views} == {(NVIDIA, "a", d) for d in ("gpu-0", "gpu-1", "gpu-9")}
    assert [v.device.key for v in patch.removed] == [(NVIDIA, "a", "gpu-2"), (NVIDIA, "a", "gpu-3")]
    assert [c.ref for c in patch.claims] == ["ns/c"]
    assert all(cluster.view_index()[k] is v for k, v in before.items() if k[1] != "a")
    assert "pool gpu.nvidia.com/a is incomplete: 1 of 2 slices of generation 2 are present" in cluster.warnings
    assert "claim ns/c is allocated device gpu.nvidia.com/a/gpu-2, which no current ResourceSlice publishes" in cluster.warnings
    pool = next(p for p in cluster.pools if p.name == "a")
    assert (pool.generation, [s.name for s in pool.slices], pool.stale_slices) == (2, ["a-1"], 1)

    b2 = _slice("a-2", "a", 2, 2, ["gpu-2", "gpu-3"])
    slices = [b1, b2, *others]
    patch = cluster.patch(cluster.claims, cluster.pods, slices=slices, removed_slices=[a2], added_slices=[b2])
    assert patch.removed == []
    assert cluster.view_index()[(NVIDIA, "a", "gpu-2")].state == "allocated"
    assert all(v.pool_complete for v in cluster.device_views())

    fresh = Cluster(slices=list(slices), claims=[claim])
    assert [(v.device.key, device_signature(v), v.pool_complete) for v in cluster.device_views()] == [
        (v.device.key, device_signature(v), v.pool_complete) for v in fresh.device_views()]
    assert keys != [v.device.key for v in cluster.device_views()]

    old = _slice("a-3", "a", 1, 2, ["gpu-7"])  # an older generation: ignored, counted as stale
    patch = cluster.patch(cluster.claims, cluster.pods, slices=[*slices, old], added_slices=[old])
    assert (NVIDIA, "a", "gpu-7") not in cluster.view_index()
    assert next(p for p in cluster.pools if p.name == "a").stale_slices == 1
