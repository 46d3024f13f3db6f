"""Seeded random scenarios for the explain-vs-scheduler harness (tests/e2e/scenarios.py).

Test code only. ``generate(seed, count)`` returns ``count`` small clusters with one pod each, every
object valid for the v1.36 API server with its default gates:

* 1-3 nodes (zone labels, sometimes a NoSchedule node taint the pod may tolerate, rarely cordoned);
* per node a GPU pool of 1-8 devices: whole GPUs, or a partitionable GPU (a counter-set slice plus
  a device slice whose full device and partitions consume the shared counters), sometimes split
  over two slices; attributes (model, numa, index, healthy, driverVersion, the standard
  ``resource.kubernetes.io/pcieRoot``), a memory capacity, sometimes a device taint, sometimes a
  shareable device (``allowMultipleAllocations`` with a request policy);
* sometimes a NIC pool per node, a network-attached pool (``nodeSelector`` on a zone or
  ``allNodes``), a pool with per-device node selection;
* sometimes claims that already hold devices (``status.allocation`` written through /status,
  exclusive or shared with a ``shareID`` and ``consumedCapacity``, sometimes reserved for a pod),
  which the pod may use too;
* a pod with 1-2 claims (direct or from a template), 1-2 requests each: ``exactly`` with a count,
  ``All``, or ``firstAvailable``; selectors over attributes and capacities, tolerations,
  ``adminAccess`` (in a namespace labelled for it), capacity requests, ``matchAttribute`` /
  ``distinctAttribute`` constraints; sometimes a nodeSelector or required node affinity.

The same seed gives the same scenarios (Python's ``random.Random``).
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from tests.e2e.scenarios import ADMIN_LABEL, Scenario

GPU = "gpu.example.com"
NIC = "nic.example.com"
PCIE = "resource.kubernetes.io/pcieRoot"

GPU_SELECTORS = [
    f'device.attributes["{GPU}"].model == "h100"',
    f'device.attributes["{GPU}"].model == "a100"',
    f'device.capacity["{GPU}"].memory.compareTo(quantity("40Gi")) >= 0',
    f'device.capacity["{GPU}"].memory.compareTo(quantity("20Gi")) <= 0',
    f'device.attributes["{GPU}"].numa == 0',
    f'device.attributes["{GPU}"].healthy',
    f'device.attributes["{GPU}"].index % 2 == 1',
    f'device.attributes["{GPU}"].driverVersion.isGreaterThan(semver("1.2.5"))',
    f'has(device.attributes["{GPU}"].partition) && device.attributes["{GPU}"].partition',
    f'!has(device.attributes["{GPU}"].partition)',
    'device.allowMultipleAllocations == true',
    f'device.attributes["{PCIE.split("/")[0]}"].pcieRoot == "pci-0"',
]


def _q(gi: int) -> str:
    return f"{gi}Gi"


class _Case:
    def __init__(self, rng: random.Random, seed: int, index: int):
        self.rng = rng
        self.seed = seed
        self.index = index
        self.objects: list[dict[str, Any]] = []
        self.devices: list[dict[str, Any]] = []  # {driver, pool, name, node, shared, capacity, consumes}
        self.ns = "default"
        self.features: list[str] = []
        self.held_claims: list[str] = []

    # ------------------------------------------------------------------ helpers

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def add(self, obj: dict) -> dict:
        self.objects.append(obj)
        return obj

    def slice(self, name: str, driver: str, pool: str, count: int, devices: list[dict] | None = None,
              counters: list[dict] | None = None, **selection: Any) -> dict:
        spec: dict[str, Any] = {"driver": driver, "pool": {"name": pool, "generation": 1, "resourceSliceCount": count}}
        spec.update(selection)
        if devices is not None:
            spec["devices"] = devices
        if counters is not None:
            spec["sharedCounters"] = counters
        return self.add({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": name},
                         "spec": spec})

    def gpu_device(self, name: str, index: int, node: str | None, pool: str, *, mem: int | None = None,
                   partition: bool | None = None) -> dict:
        rng = self.rng
        mem = mem or rng.choice([20, 40, 80])
        attrs: dict[str, Any] = {
            "model": {"string": rng.choice(["a100", "h100"])},
            "numa": {"int": rng.choice([0, 1])},
            "index": {"int": index},
            "healthy": {"bool": self.chance(0.85)},
            "driverVersion": {"version": rng.choice(["1.2.3", "1.3.0"])},
            PCIE: {"string": rng.choice(["pci-0", "pci-1"])},
        }
        if partition is not None:
            attrs["partition"] = {"bool": partition}
        dev: dict[str, Any] = {"name": name, "attributes": attrs, "capacity": {"memory": {"value": _q(mem)}}}
        shared = False
        if partition is None and self.chance(0.12):
            shared = True
            dev["allowMultipleAllocations"] = True
            if self.chance(0.7):
                dev["capacity"]["memory"]["requestPolicy"] = {"default": "10Gi",
                                                               "validRange": {"min": "5Gi", "step": "5Gi"}}
            else:
                dev["capacity"]["memory"]["requestPolicy"] = {  # the API allows no option above the capacity
                    "default": "10Gi", "validValues": [_q(v) for v in (10, 20, 30) if v <= mem]}
            self.features.append("shared")
        if self.chance(0.02):
            dev["bindingConditions"] = ["attached"]
            dev["bindingFailureConditions"] = ["failed"]
            if self.chance(0.5):
                dev["bindsToNode"] = True
            self.features.append("binding-conditions")
        if self.chance(0.12):
            taint: dict[str, Any] = {"key": "example.com/degraded", "effect": self.rng.choice(["NoSchedule", "NoExecute", "None"])}
            if self.chance(0.5):
                taint["value"] = "true"
            dev["taints"] = [taint]
            self.features.append("device-taint")
        self.devices.append({"driver": GPU, "pool": pool, "name": name, "node": node, "shared": shared, "mem": mem,
                             "consumes": None})
        return dev

    # ------------------------------------------------------------------ cluster

    def cluster(self) -> list[str]:
        rng = self.rng
        nodes = [f"node-{i}" for i in range(1, rng.randint(1, 3) + 1)]
        self.nodes = nodes
        self.zone = {n: rng.choice(["a", "b"]) for n in nodes}
        self.node_taint = False
        for n in nodes:
            spec: dict[str, Any] = {}
            if self.chance(0.1):
                spec["taints"] = [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]
                self.node_taint = True
                self.features.append("node-taint")
            if self.chance(0.04):
                spec["unschedulable"] = True
                self.features.append("cordoned")
            self.add({"apiVersion": "v1", "kind": "Node",
                      "metadata": {"name": n, "labels": {"zone": self.zone[n], "gpu": "true"}}, "spec": spec})
        self.add({"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "gpu"},
                  "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{GPU}"'}}]}})
        self.add({"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "gpu-healthy"},
                  "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{GPU}"'}},
                                         {"cel": {"expression": f'device.attributes["{GPU}"].healthy'}}]}})
        for n in nodes:
            self.gpu_pool(n)
        if self.chance(0.35):
            self.features.append("nic")
            self.add({"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "nic"},
                      "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{NIC}"'}}]}})
            for n in nodes:
                devs = []
                for i in range(rng.randint(1, 2)):
                    name = f"nic-{i}"
                    devs.append({"name": name, "attributes": {PCIE: {"string": rng.choice(["pci-0", "pci-1"])},
                                                               "rdma": {"bool": self.chance(0.7)}}})
                    self.devices.append({"driver": NIC, "pool": f"{n}-nic", "name": name, "node": n, "shared": False,
                                         "mem": 0, "consumes": None})
                self.slice(f"{n}-nic", NIC, f"{n}-nic", 1, devs, nodeName=n)
        if self.chance(0.2):
            self.features.append("network-attached")
            devs = [self.gpu_device(f"fabric-{i}", 100 + i, None, "fabric") for i in range(rng.randint(1, 2))]
            if self.chance(0.5):
                self.slice("fabric", GPU, "fabric", 1, devs, allNodes=True)
            else:
                zone = rng.choice(["a", "b"])
                self.slice("fabric", GPU, "fabric", 1, devs, nodeSelector={"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": [zone]}]}]})
        if self.chance(0.12):
            self.features.append("per-device-node-selection")
            devs = []
            for i in range(rng.randint(1, 3)):
                dev = self.gpu_device(f"pd-{i}", 200 + i, None, "per-device")
                if self.chance(0.6):
                    dev["nodeName"] = rng.choice(nodes)
                elif self.chance(0.5):
                    dev["allNodes"] = True
                else:
                    dev["nodeSelector"] = {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": [rng.choice(["a", "b"])]}]}]}
                devs.append(dev)
            self.slice("per-device", GPU, "per-device", 1, devs, perDeviceNodeSelection=True)
        return nodes

    def gpu_pool(self, node: str) -> None:
        rng = self.rng
        pool = f"{node}-gpu"
        total = rng.randint(1, 8)
        if self.chance(0.3):
            # a partitionable GPU (and maybe whole GPUs next to it)
            self.features.append("partitionable")
            cs = "gpu-0-counters"
            self.slice(f"{pool}-counters", GPU, pool, 2, counters=[{"name": cs, "counters": {"memory": {"value": "80Gi"}}}],
                       nodeName=node)
            devs = [self.gpu_device("gpu-0", 0, node, pool, mem=80, partition=False)]
            devs[0]["consumesCounters"] = [{"counterSet": cs, "counters": {"memory": {"value": "80Gi"}}}]
            self.devices[-1]["consumes"] = 80
            sizes = rng.choice([[40, 40], [20, 20, 40], [40, 20, 20, 20], [20, 20, 20, 20]])
            for j, size in enumerate(sizes[: max(1, total - 1)]):
                d = self.gpu_device(f"gpu-0-part-{j}", j + 1, node, pool, mem=size, partition=True)
                d["consumesCounters"] = [{"counterSet": cs, "counters": {"memory": {"value": _q(size)}}}]
                self.devices[-1]["consumes"] = size
                devs.append(d)
            self.slice(f"{pool}-devices", GPU, pool, 2, devs, nodeName=node)
            return
        devs = [self.gpu_device(f"gpu-{i}", i, node, pool) for i in range(total)]
        if self.chance(0.06):
            # a stale slice of the previous generation: ignored
            self.features.append("stale-generation")
            old = self.slice(f"{pool}-old", GPU, pool, 1, [{"name": "gpu-old", "attributes": {"index": {"int": 99}}}], nodeName=node)
            old["spec"]["pool"]["generation"] = 1
            self.slice(pool, GPU, pool, 1, devs, nodeName=node)["spec"]["pool"]["generation"] = 2
            return
        if total > 1 and self.chance(0.05):
            # a pool being updated: one of two slices published
            self.features.append("incomplete-pool")
            self.slice(pool, GPU, pool, 2, devs, nodeName=node)
            return
        if total > 1 and self.chance(0.2):
            self.features.append("two-slices")
            cut = rng.randint(1, total - 1)
            self.slice(f"{pool}-b", GPU, pool, 2, devs[:cut], nodeName=node)  # names decide the order, not creation
            self.slice(f"{pool}-a", GPU, pool, 2, devs[cut:], nodeName=node)
        else:
            self.slice(pool, GPU, pool, 1, devs, nodeName=node)

    # ------------------------------------------------------------------ claims

    def held(self) -> None:
        """Claims that already hold devices: exclusive, or shares of a shareable device."""
        rng = self.rng
        if not self.chance(0.4):
            return
        self.features.append("held")
        free = [d for d in self.devices if d["driver"] == GPU]
        rng.shuffle(free)
        used_counters: dict[str, int] = {}
        for k in range(rng.randint(1, 3)):
            if not free:
                return
            d = free.pop()
            if d["consumes"]:
                if used_counters.get(d["pool"], 0) + d["consumes"] > 80:
                    continue
                used_counters[d["pool"]] = used_counters.get(d["pool"], 0) + d["consumes"]
            result: dict[str, Any] = {"request": "r", "driver": d["driver"], "pool": d["pool"], "device": d["name"]}
            spec_req: dict[str, Any] = {"deviceClassName": "gpu"}
            if d["shared"]:
                amount = rng.choice([10, 20])
                result["shareID"] = str(uuid.UUID(int=rng.getrandbits(128)))
                result["consumedCapacity"] = {"memory": _q(amount)}
                spec_req["capacity"] = {"requests": {"memory": _q(amount)}}
                free.append(d)  # still shareable
            alloc: dict[str, Any] = {"devices": {"results": [result]}}
            if d["node"]:
                alloc["nodeSelector"] = {"nodeSelectorTerms": [{"matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": [d["node"]]}]}]}
            status: dict[str, Any] = {"allocation": alloc}
            if self.chance(0.3):
                status["reservedFor"] = [{"resource": "pods", "name": f"user-{k}", "uid": f"uid-user-{k}"}]
            self.add({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                      "metadata": {"name": f"held-{k}", "namespace": self.ns},
                      "spec": {"devices": {"requests": [{"name": "r", "exactly": spec_req}]}},
                      "status": status})
            self.held_claims.append(f"held-{k}")

    def request(self, name: str, classes: list[str]) -> dict:
        rng = self.rng
        cls = rng.choice(classes)

        def exact(sub: bool) -> dict[str, Any]:
            c = rng.choice(classes) if sub else cls
            body: dict[str, Any] = {"deviceClassName": c}
            if self.chance(0.1):
                body["allocationMode"] = "All"
                self.features.append("all")
            else:
                body["count"] = rng.choice([1, 1, 1, 2, 2, 3])
            if c.startswith("gpu") and self.chance(0.5):
                body["selectors"] = [{"cel": {"expression": e}} for e in rng.sample(GPU_SELECTORS, rng.choice([1, 1, 2]))]
            if self.chance(0.2):
                body["tolerations"] = [{"key": "example.com/degraded", "operator": "Exists"}] if self.chance(0.7) else \
                    [{"key": "example.com/degraded", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
                self.features.append("tolerations")
            if c.startswith("gpu") and self.chance(0.12):
                body["capacity"] = {"requests": {"memory": _q(rng.choice([5, 10, 12, 30]))}}
                self.features.append("capacity")
            if not sub and self.chance(0.05):
                body["adminAccess"] = True
                self.features.append("admin")
            return body

        if self.chance(0.2):
            self.features.append("first-available")
            subs = []
            for j in range(rng.randint(2, 3)):
                sub = exact(True)
                sub.pop("adminAccess", None)
                subs.append({"name": f"alt{j}", **sub})
            return {"name": name, "firstAvailable": subs}
        return {"name": name, "exactly": exact(False)}

    def claim_spec(self) -> dict:
        rng = self.rng
        classes = ["gpu", "gpu", "gpu-healthy"] + (["nic"] if "nic" in self.features else [])
        reqs = [self.request(f"req-{i}", classes) for i in range(rng.choice([1, 1, 2]))]
        spec: dict[str, Any] = {"devices": {"requests": reqs}}
        if self.chance(0.3):
            self.features.append("constraints")
            attr = rng.choice([PCIE, PCIE, f"{GPU}/numa", f"{GPU}/model"])
            names = [r["name"] for r in reqs]
            subs = [f'{r["name"]}/{a["name"]}' for r in reqs for a in r.get("firstAvailable") or []]
            choices = [[], names] + ([[*names[:1], *rng.sample(subs, 1)]] if subs else [])
            cons: dict[str, Any] = {"requests": rng.choice(choices)}
            if self.chance(0.25):
                cons["distinctAttribute"] = rng.choice([f"{GPU}/numa", f"{GPU}/index", PCIE])
            else:
                cons["matchAttribute"] = attr
            spec["devices"]["constraints"] = [cons]
        return spec

    def pod(self) -> dict:
        rng = self.rng
        refs = []
        for i in range(rng.choice([1, 1, 2])):
            spec = self.claim_spec()
            if self.chance(0.4):
                self.add({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
                          "metadata": {"name": f"tpl-{i}", "namespace": self.ns}, "spec": {"spec": spec}})
                refs.append({"name": f"c{i}", "resourceClaimTemplateName": f"tpl-{i}"})
            else:
                self.add({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                          "metadata": {"name": f"claim-{i}", "namespace": self.ns}, "spec": spec})
                refs.append({"name": f"c{i}", "resourceClaimName": f"claim-{i}"})
        if self.held_claims and self.chance(0.25):
            # the pod also uses a claim that is already allocated (PostFilter may deallocate it)
            self.features.append("uses-allocated-claim")
            refs.append({"name": "held", "resourceClaimName": rng.choice(self.held_claims)})
        pod_spec: dict[str, Any] = {
            "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10",
                            "resources": {"claims": [{"name": r["name"]} for r in refs]}}],
            "resourceClaims": refs,
        }
        if self.chance(0.15):
            pod_spec["nodeSelector"] = {"zone": rng.choice(["a", "b"])}
            self.features.append("pod-node-selector")
        elif self.chance(0.1):
            pod_spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b"]}]}]}}}
            self.features.append("pod-affinity")
        if self.node_taint and self.chance(0.5):
            pod_spec["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}]
        return self.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod-0", "namespace": self.ns},
                         "spec": pod_spec})

    def build(self) -> Scenario:
        self.cluster()
        self.held()
        self.pod()
        admin = "admin" in self.features
        return Scenario(
            name=f"random/{self.seed}-{self.index:03d}",
            source="random",
            objects=self.objects,
            targets=[f"pod/{self.ns}/pod-0"],
            description="random: " + ", ".join(sorted(set(self.features))),
            namespaces={self.ns: {ADMIN_LABEL: "true"}} if admin else {},
        )


def generate(seed: int, count: int) -> list[Scenario]:
    rng = random.Random(seed)
    return [_Case(random.Random(rng.getrandbits(64)), seed, i).build() for i in range(count)]
