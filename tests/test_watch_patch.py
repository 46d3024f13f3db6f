"""`list -w` / `claims -w` apply claim and pod events to the model in place (``Cluster.patch_claims``,
``ClusterWatch._refresh``): what they print must be exactly what a rebuild of the whole model prints.

Both paths follow the same scripted stream of events over the demo cluster (claims deallocated,
moved onto other claims' devices, onto shared-counter devices, reserved, deleted and added again;
pods deleted and added again) and must yield the same changes, rows and items batch by batch.
"""

from __future__ import annotations

import copy
import queue
import random
from typing import Any

import pytest
import yaml

from kubectl_dra.domain.device_query import DeviceQuery
from kubectl_dra.kube.watch import ClusterWatch, Resource, _Events, _key
from kubectl_dra.model.cluster import Cluster
from kubectl_dra.model.decode import decode
from kubectl_dra.render.claims import ClaimWatchView
from kubectl_dra.render.devices import DeviceWatchView, device_signature
from tests.conftest import ROOT


class _End(Exception):
    pass


class ScriptedWatch(ClusterWatch):
    """A ClusterWatch without threads: the objects are listed already, the events come from a list."""

    def __init__(self, base: Cluster, objects: dict[str, list[dict]], script: list[_Events]) -> None:
        super().__init__(base, [Resource(k, f"/{k}", k) for k in objects], batch_seconds=0)
        self._initial = objects
        for message in script:
            self._queue.put(message)

    def start(self) -> Cluster:
        for key, items in self._initial.items():
            self._objects[key] = {_key(o): o for o in items}
        return self._build()

    def _next(self, timeout: float | None) -> Any:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            raise _End from None


def demo_objects() -> tuple[Cluster, dict[str, list[dict]]]:
    items: list[dict] = []
    for doc in yaml.safe_load_all((ROOT / "kubectl_dra/demo/cluster.yaml").read_text()):
        if doc:
            items += doc["items"] if doc.get("kind") == "List" else [doc]
    base = Cluster(source="demo")
    objects: dict[str, list[dict]] = {"slices": [], "claims": [], "pods": []}
    where = {"ResourceSlice": "slices", "ResourceClaim": "claims", "Pod": "pods"}
    for item in items:
        if item["kind"] in where:
            objects[where[item["kind"]]].append(item)
        else:
            base.add(decode(item))
    base.namespace = "ml-team"
    return base, objects


def script(objects: dict[str, list[dict]], seed: int, steps: int = 60) -> list[_Events]:
    """Random claim and pod events; each message is one batch (one or a few events)."""
    rng = random.Random(seed)
    claims = {_key(c): c for c in objects["claims"]}
    pods = {_key(p): p for p in objects["pods"]}
    gone_claims: dict = {}
    gone_pods: dict = {}
    allocations = [copy.deepcopy(c["status"]["allocation"]) for c in objects["claims"] if (c.get("status") or {}).get("allocation")]
    # devices of the shared-counter pool too (a full GPU and its partitions)
    for sl in objects["slices"]:
        for dev in sl["spec"].get("devices", []):
            if dev.get("consumesCounters") or rng.random() < 0.2:
                allocations.append({"devices": {"results": [{"request": "gpu", "driver": sl["spec"]["driver"],
                                                             "pool": sl["spec"]["pool"]["name"], "device": dev["name"]}]}})
    allocations.append({"devices": {"results": [{"request": "gpu", "driver": "gpu.nvidia.com", "pool": "nowhere",
                                                 "device": "gpu-9"}]}})  # no slice publishes it: a warning
    out = []
    for _ in range(steps):
        events = []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            op = rng.random()
            if op < 0.45 and claims:
                key = rng.choice(sorted(claims))
                obj = copy.deepcopy(claims[key])
                status = obj.setdefault("status", {})
                what = rng.random()
                if what < 0.3:
                    obj.pop("status")
                elif what < 0.8:
                    status["allocation"] = copy.deepcopy(rng.choice(allocations))
                else:
                    pod = rng.choice(sorted(pods) or [("x", "p")])
                    status["reservedFor"] = [{"resource": "pods", "name": pod[1], "uid": f"uid-{pod[1]}"}]
                    if "allocation" not in status:
                        status["allocation"] = copy.deepcopy(rng.choice(allocations))
                claims[key] = obj
                events.append(("MODIFIED", obj))
            elif op < 0.6 and claims:
                key = rng.choice(sorted(claims))
                gone_claims[key] = claims.pop(key)
                events.append(("DELETED", gone_claims[key]))
            elif op < 0.7 and gone_claims:
                key = rng.choice(sorted(gone_claims))
                claims[key] = gone_claims.pop(key)
                events.append(("ADDED", claims[key]))
            elif op < 0.85 and pods:
                key = rng.choice(sorted(pods))
                gone_pods[key] = pods.pop(key)
                out.append(_Events("pods", [("DELETED", gone_pods[key])]))
            elif gone_pods:
                key = rng.choice(sorted(gone_pods))
                pods[key] = gone_pods.pop(key)
                out.append(_Events("pods", [("ADDED", pods[key])]))
        if events:
            out.append(_Events("claims", events))
    return out


def transcript(view_of, seed: int, incremental: bool) -> tuple[list, int]:
    base, objects = demo_objects()
    view = view_of()
    watch = ScriptedWatch(base, objects, script(objects, seed))
    patched = 0

    def partial(cluster, patch):
        nonlocal patched
        entries = view.partial(cluster, patch)
        patched += entries is not None
        return entries

    lines = []
    seen: set[str] = set()  # warnings print once each (cli._watch.stream_changes)
    try:
        for cluster, changes in watch.follow(view.snapshot, partial if incremental else None):
            batch = []
            for change in changes:
                batch.append((change.type, change.key, view.rows(cluster, change), view.item(cluster, change)))
            if incremental:  # the model updated in place is the model rebuilt from the same objects
                fresh = watch._build()
                assert [(v.device.key, device_signature(v), v.pool_complete) for v in cluster.device_views()] == [
                    (v.device.key, device_signature(v), v.pool_complete) for v in fresh.device_views()
                ]
                assert [c.ref for c in cluster.claims] == [c.ref for c in fresh.claims]
                assert [p.name for p in cluster.pods] == [p.name for p in fresh.pods]
            new = [w for w in dict.fromkeys(cluster.warnings) if w not in seen]
            seen.update(new)
            lines.append((batch, new))
    except _End:
        pass
    return lines, patched


VIEWS = {
    "list -w": lambda: DeviceWatchView(DeviceQuery(), wide=False),
    "list -w --state free -o wide": lambda: DeviceWatchView(DeviceQuery(state="free"), wide=True),
    "list -w --state reserved": lambda: DeviceWatchView(DeviceQuery(state="reserved"), wide=False),
    "list -w --state consumed-by-partition": lambda: DeviceWatchView(DeviceQuery(state="consumed-by-partition"), wide=False),
    "claims -w -A": lambda: ClaimWatchView(all_namespaces=True),
    "claims -w": lambda: ClaimWatchView(all_namespaces=False),
}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("command", sorted(VIEWS))
def test_events_applied_in_place_print_what_a_rebuild_prints(command, seed):
    rebuilt, never = transcript(VIEWS[command], seed, incremental=False)
    patched, used = transcript(VIEWS[command], seed, incremental=True)
    assert never == 0
    assert used > 10, "the stream should have been applied in place"
    assert len(rebuilt) > 10
    assert patched == rebuilt


def test_claim_pods_from_the_pod_index_keep_order_and_namespaces():
    """claims' PODS column: the claim's reservedFor pods first, then every pod of its namespace naming
    it, in the order of the pods, each once (from one pod index per cluster, not a scan per claim)."""
    from kubectl_dra.model.claim import Pod, PodClaimRef
    from kubectl_dra.render.claims import claim_pods

    base, objects = demo_objects()
    cluster = Cluster()
    for obj in objects["claims"]:
        cluster.add(decode(obj))
    claim = next(c for c in cluster.claims if c.reserved_pods)
    ref = lambda n: PodClaimRef(name=n, claim_name=claim.name)  # noqa: E731
    for pod in (
        Pod(claim.namespace, "zeta", claims=[ref("a"), ref("b")]),  # names the claim twice
        Pod("elsewhere", "alpha", claims=[ref("a")]),  # same claim name, other namespace
        Pod(claim.namespace, claim.reserved_pods[0], claims=[ref("a")]),  # already reserved
        Pod(claim.namespace, "beta", claims=[PodClaimRef(name="x", claim_name="other")]),
        Pod(claim.namespace, "gamma", claims=[ref("a")]),
    ):
        cluster.add(pod)
    assert claim_pods(claim, cluster) == [*claim.reserved_pods, "zeta", "gamma"]
    cluster.add(Pod(claim.namespace, "delta", claims=[ref("a")]))  # a pod added later is seen
    assert claim_pods(claim, cluster) == [*claim.reserved_pods, "zeta", "gamma", "delta"]
