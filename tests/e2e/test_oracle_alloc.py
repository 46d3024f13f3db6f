"""Generated allocation cases: our simulator against upstream's allocator (the k8sbox oracle).

A seeded generator builds small clusters and one pod's claims that together cover the allocator's
features: counters across slices and several counter sets, partitionable devices with taints and
constraints in one claim, consumable capacity with request policies and multi-allocatable devices,
adminAccess, firstAvailable, allocation mode All, per-device node selection, generations and
incomplete pools, several drivers with equal pool names, list-valued attributes, devices already
allocated (exclusively and shared) and feature gates switched off. Every case goes through
kubectl_dra.alloc.simulate and through the oracle; per node they must agree on allocatable, on
Error vs Unschedulable, and on the devices chosen.

KUBECTL_DRA_ORACLE_ALLOC_CASES (default 5000) sets how many, KUBECTL_DRA_ORACLE_SEED the seed (printed).
A difference whose class is known (KNOWN, each with a kept, shrunk reproducer in
oracle_cases/alloc-*.json run as a strict xfail) is counted; any other difference fails the test,
printed with its shrunk reproducer.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import time
from pathlib import Path

import pytest

from kubectl_dra.alloc import Features, simulate
from kubectl_dra.model.cluster import Cluster
from kubectl_dra.model.decode import decode
from tests.e2e.oracle import CASES, alloc_case, compare_alloc, oracle  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e

N_CASES = int(os.environ.get("KUBECTL_DRA_ORACLE_ALLOC_CASES", "5000"))
SEED = int(os.environ.get("KUBECTL_DRA_ORACLE_SEED", str(int(time.time()) % 100000)))

#: known classes of difference (open, for kubectl_dra/alloc): name -> (pattern over the difference
#: text, predicate over (objects, features) or None, reason). Checked in order. Each has a shrunk
#: reproducer in oracle_cases/alloc-<name>.json, run below as a strict xfail; a reproducer whose
#: class is not (or no longer) listed here is a plain must-agree regression case (docs/fidelity.md
#: lists the classes fixed so far).
KNOWN: dict[str, tuple[str, object, str]] = {
}

# --------------------------------------------------------------------------------------------- generator

MODELS = ("a100", "h100", "l4")
NS = "default"


def _q(rng: random.Random) -> str:
    return rng.choice(("1Gi", "2Gi", "4Gi", "512Mi"))


class Gen:
    """One random cluster + pod. Names are small so that shrunk cases stay readable."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.features: dict[str, bool] = {}
        self.objects: list[dict] = []
        self.devices: list[tuple[str, str, str, dict]] = []  # driver, pool, name, device

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def build(self) -> tuple[list[dict], dict[str, bool]]:
        rng = self.rng
        if self.chance(0.15):
            self.features[rng.choice(("consumable_capacity", "partitionable_devices", "device_taints",
                                      "prioritized_list", "binding_conditions"))] = False
        nodes = [f"node-{i}" for i in range(rng.randint(1, 3))]
        for i, n in enumerate(nodes):
            self.objects.append({"apiVersion": "v1", "kind": "Node",
                                 "metadata": {"name": n, "labels": {"zone": "a" if i % 2 == 0 else "b"}}})
        drivers = ["driver-a"] if self.chance(0.5) else ["driver-a", "driver-b"]
        for driver in drivers:
            for p in range(rng.randint(1, 2)):
                self.pool(driver, f"pool-{p + 1}", nodes)
        self.classes(drivers)
        self.allocated_claims()
        self.pod()
        return self.objects, self.features

    # ------------------------------------------------------------------ slices
    def device(self, k: int, counters: list[str], multi: bool, list_attrs: bool) -> dict:
        rng = self.rng
        attrs: dict = {"model": {"string": rng.choice(MODELS)}, "index": {"int": k}}
        if self.chance(0.5):
            attrs["healthy"] = {"bool": self.chance(0.8)}
        if self.chance(0.4):
            attrs["driverVersion"] = {"version": rng.choice(("1.0.0", "1.2.3", "2.0.0-rc.1"))}
        if list_attrs and self.chance(0.5):
            attrs["roots"] = {"strings": rng.sample(["a", "b", "c"], rng.randint(1, 2))}
        if self.chance(0.2):
            attrs["resource.kubernetes.io/pcieRoot"] = {"string": rng.choice(("pci-0", "pci-1"))}
        dev: dict = {"name": f"dev-{k}", "attributes": attrs}
        if self.chance(0.7):
            dev["capacity"] = {"memory": {"value": _q(rng)}}
        if multi:
            dev["allowMultipleAllocations"] = True
            if self.chance(0.7):
                dev["capacity"] = {"memory": {"value": "4Gi", "requestPolicy": self.policy()}}
            elif self.chance(0.5):
                dev["capacity"] = {"memory": {"value": "4Gi"}}
            else:
                dev.pop("capacity", None)
        if counters:
            dev["consumesCounters"] = [{"counterSet": cs, "counters": {"mem": {"value": rng.choice(("1Gi", "2Gi"))}}}
                                       for cs in counters]
        if self.chance(0.15):
            dev["taints"] = [{"key": "example.com/t", "value": rng.choice(("x", "y")),
                              "effect": rng.choice(("NoSchedule", "NoExecute", "None"))}]
        if self.chance(0.06):
            dev["bindingConditions"] = ["ready"]
            dev["bindingFailureConditions"] = ["failed"]
            if self.chance(0.5):
                dev["bindsToNode"] = True
        return dev

    def policy(self) -> dict:
        rng = self.rng
        if self.chance(0.5):
            return {"default": "1Gi", "validRange": {"min": "512Mi", "step": "512Mi"}}
        return {"default": "1Gi", "validValues": ["1Gi", "2Gi"]}

    def pool(self, driver: str, pool: str, nodes: list[str]) -> None:
        rng = self.rng
        kind = rng.choice(("node", "node", "node", "all", "selector", "perdevice"))
        node = rng.choice(nodes)
        sets = []
        if self.chance(0.3):
            sets = ["set-0"] + (["set-1"] if self.chance(0.4) else [])
        multi = self.chance(0.15)
        list_attrs = self.chance(0.02)
        n_slices = rng.randint(1, 2)
        counter_slice = bool(sets)  # 1.36: a slice has sharedCounters or devices, not both
        total = n_slices + (1 if counter_slice else 0)
        declared = total + (1 if self.chance(0.06) else 0)  # incomplete pool
        generation = 2 if self.chance(0.1) else 1
        k = 0
        duplicate = n_slices > 1 and self.chance(0.1)  # the same device name in two slices of the pool
        for s in range(n_slices):
            spec: dict = {"driver": driver, "pool": {"name": pool, "generation": generation, "resourceSliceCount": declared}}
            if duplicate and s > 0:
                k = 0
            if kind == "node":
                spec["nodeName"] = nodes[s % len(nodes)] if duplicate else node
            elif kind == "all":
                spec["allNodes"] = True
            elif kind == "selector":
                spec["nodeSelector"] = {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "zone", "operator": "In", "values": [rng.choice("ab")]}]}]}
            else:
                spec["perDeviceNodeSelection"] = True
            devices = []
            for _ in range(rng.randint(1, 3)):
                dev = self.device(k, [c for c in sets if self.chance(0.8)] if sets else [], multi and not sets, list_attrs)
                if kind == "perdevice":
                    choice = rng.choice(("node", "all"))
                    if choice == "node":
                        dev["nodeName"] = rng.choice(nodes)
                    else:
                        dev["allNodes"] = True
                devices.append(dev)
                self.devices.append((driver, pool, dev["name"], dev))
                k += 1
            spec["devices"] = devices
            self.objects.append({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
                                 "metadata": {"name": f"{driver}-{pool}-{s}"}, "spec": spec})
        if counter_slice:
            self.objects.append({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
                                 "metadata": {"name": f"{driver}-{pool}-counters"},
                                 "spec": {"driver": driver, "pool": {"name": pool, "generation": generation,
                                                                     "resourceSliceCount": declared},
                                          **({"nodeName": node} if kind == "node" else {"allNodes": True}),
                                          "sharedCounters": [{"name": cs, "counters": {"mem": {"value": rng.choice(("2Gi", "3Gi", "4Gi"))}}}
                                                             for cs in sets]}})
        if generation == 2 and self.chance(0.5):
            # an old generation slice still around: ignored
            self.objects.append({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
                                 "metadata": {"name": f"{driver}-{pool}-old"},
                                 "spec": {"driver": driver, "pool": {"name": pool, "generation": 1, "resourceSliceCount": 1},
                                          "nodeName": node, "devices": [{"name": "dev-old"}]}})

    # ------------------------------------------------------------------ classes and claims
    SELECTORS = (
        'device.attributes["{d}"].model == "{m}"',
        '"memory" in device.capacity["{d}"] && device.capacity["{d}"].memory.compareTo(quantity("2Gi")) >= 0',
        'device.attributes["{d}"].index % 2 == 0',
        '!("healthy" in device.attributes["{d}"]) || device.attributes["{d}"].healthy',
        'device.attributes["{d}"].model in ["a100", "h100"]',
    )
    UNSAFE = (
        'device.attributes["{d}"].healthy',
        'device.capacity["{d}"].memory.compareTo(quantity("1Gi")) > 0',
        'device.attributes["{d}"].driverVersion.isGreaterThan(semver("1.1.0"))',
    )

    def classes(self, drivers: list[str]) -> None:
        for d in ("driver-a", "driver-b"):
            self.objects.append({"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass",
                                 "metadata": {"name": f"class-{d[-1]}"},
                                 "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{d}"'}}]}})
        self.objects.append({"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass",
                             "metadata": {"name": "class-any"}, "spec": {}})

    def selector(self, driver: str) -> dict:
        pool = self.UNSAFE if self.chance(0.15) else self.SELECTORS
        text = self.rng.choice(pool).format(d=driver, m=self.rng.choice(MODELS))
        return {"cel": {"expression": text}}

    def exact(self) -> dict:
        rng = self.rng
        cls = rng.choice(("class-a", "class-a", "class-b", "class-any"))
        driver = "driver-b" if cls == "class-b" else "driver-a"
        req: dict = {"deviceClassName": cls}
        if self.chance(0.12):
            req["allocationMode"] = "All"
        elif self.chance(0.3):
            req["count"] = 2
        if self.chance(0.4):
            req["selectors"] = [self.selector(driver)]
        if self.chance(0.08):
            req["adminAccess"] = True
        if self.chance(0.2):
            req["tolerations"] = [rng.choice(({"key": "example.com/t", "operator": "Exists"},
                                              {"key": "example.com/t", "operator": "Equal", "value": "x", "effect": "NoSchedule"},
                                              {"operator": "Exists", "effect": "NoExecute"}))]
        if self.chance(0.15):
            req["capacity"] = {"requests": {rng.choice(("memory", "memory", f"{driver}/memory")): rng.choice(("512Mi", "1Gi", "2Gi"))}}
        return req

    def claim_spec(self) -> dict:
        rng = self.rng
        requests = []
        for r in range(rng.randint(1, 2)):
            if self.chance(0.2):
                requests.append({"name": f"r{r}", "firstAvailable": [dict(self.exact(), name=f"s{s}") for s in range(2)]})
            else:
                requests.append({"name": f"r{r}", "exactly": self.exact()})
        spec: dict = {"devices": {"requests": requests}}
        for req in requests:  # All mode and count are exclusive; subrequests carry no adminAccess+All mix issues
            for sub in req.get("firstAvailable", []):
                sub.pop("adminAccess", None)
        if self.chance(0.3):
            attr = rng.choice(("driver-a/model", "driver-a/index", "resource.kubernetes.io/pcieRoot", "driver-a/roots"))
            names = [r["name"] for r in requests]
            c: dict = {"matchAttribute": attr}
            if len(names) > 1 and self.chance(0.5):
                c["requests"] = names
            spec["devices"]["constraints"] = [c]
        return spec

    def allocated_claims(self) -> None:
        rng = self.rng
        for i in range(rng.randint(0, 2)):
            if not self.devices:
                return
            driver, pool, name, dev = rng.choice(self.devices)
            result: dict = {"request": "r0", "driver": driver, "pool": pool, "device": name}
            if dev.get("allowMultipleAllocations") and self.chance(0.7):
                result["shareID"] = f"00000000-0000-0000-0000-00000000000{i}"
                result["consumedCapacity"] = {"memory": rng.choice(("1Gi", "2Gi"))}
            self.objects.append({
                "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                "metadata": {"name": f"used-{i}", "namespace": NS},
                "spec": {"devices": {"requests": [{"name": "r0", "exactly": {"deviceClassName": "class-any"}}]}},
                "status": {"allocation": {"devices": {"results": [result]}}},
            })

    def pod(self) -> None:
        claims = []
        for c in range(self.rng.randint(1, 2)):
            self.objects.append({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                                 "metadata": {"name": f"claim-{c}", "namespace": NS}, "spec": self.claim_spec()})
            claims.append({"name": f"c{c}", "resourceClaimName": f"claim-{c}"})
        self.objects.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod-0", "namespace": NS},
                             "spec": {"containers": [{"name": "ctr", "image": "busybox"}], "resourceClaims": claims}})


def generate(seed: int, i: int) -> tuple[list[dict], dict[str, bool]]:
    return Gen(random.Random(f"{seed}/{i}")).build()


# --------------------------------------------------------------------------------------------- running

SIMULATE = "pod/default/pod-0"


def run_sim(objects: list[dict], features: dict[str, bool]):
    cluster = Cluster(source="oracle")
    for obj in copy.deepcopy(objects):
        decoded = decode(obj)
        if decoded is not None:
            cluster.add(decoded)
    return simulate(cluster, SIMULATE, features=Features(**features))


def differences(oracle, cases: list[tuple[list[dict], dict[str, bool]]]) -> list[list[str] | None]:
    """Per case: the differences (empty list: agree), None when not comparable (invalid objects)."""
    answers = oracle.alloc([alloc_case(i, objs, SIMULATE, features=f) for i, (objs, f) in enumerate(cases)])
    out: list[list[str] | None] = []
    for (objs, f), answer in zip(cases, answers):
        if answer.get("caseError"):
            raise AssertionError(f"oracle could not read a generated case: {answer['caseError']}")
        if answer.get("invalid"):
            out.append(None)
            continue
        out.append(compare_alloc(run_sim(objs, f), answer))
    return out


def classify(diffs: list[str], objects: list[dict] | None = None, features: dict[str, bool] | None = None) -> str | None:
    """The known class of a difference, or None."""
    text = "\n".join(diffs)
    for name, (pattern, predicate, _) in KNOWN.items():
        if predicate is not None and not predicate(objects or [], features or {}):
            continue
        if re.search(pattern, text, re.S):
            return name
    return None


_NAMES = re.compile(r"(dev|node|pool|claim|used|driver|class|set)-[\w-]+|\d+|'[^']*'|\"[^\"]*\"|\[[^\]]*\]")


def signature(diffs: list[str], objects: list[dict] | None = None, features: dict[str, bool] | None = None) -> str:
    """What kind of difference: the known class, else the first difference without names or numbers
    and without the simulator's explanation (so shrinking keeps the kind, not the wording)."""
    cls = classify(diffs, objects, features)
    if cls:
        return cls
    first = re.sub(r"simulator (allocatable=\w+ )?\((?:[^()]|\([^()]*\))*\)", "simulator", diffs[0])
    first = re.sub(r"simulator (\w+) \((?:[^()]|\([^()]*\))*\)", r"simulator \1", first)
    return _NAMES.sub("X", first)[:160]


# --------------------------------------------------------------------------------------------- shrinking


def _candidates(objects: list[dict]):
    """Smaller variants: drop one object, one device, one request, one attribute, a selector, ..."""
    for i in range(len(objects)):
        if objects[i].get("kind") not in ("Pod", "Node", "DeviceClass"):
            yield objects[:i] + objects[i + 1:]
    for i, obj in enumerate(objects):
        spec = obj.get("spec") or {}
        if obj.get("kind") == "ResourceSlice":
            for j in range(len(spec.get("devices") or [])):
                o = copy.deepcopy(obj)
                del o["spec"]["devices"][j]
                yield objects[:i] + [o] + objects[i + 1:]
            for j, dev in enumerate(spec.get("devices") or []):
                for key in ("attributes", "capacity", "taints", "consumesCounters", "bindingConditions"):
                    if key in dev:
                        o = copy.deepcopy(obj)
                        del o["spec"]["devices"][j][key]
                        if key == "bindingConditions":
                            o["spec"]["devices"][j].pop("bindingFailureConditions", None)
                            o["spec"]["devices"][j].pop("bindsToNode", None)
                        yield objects[:i] + [o] + objects[i + 1:]
                for attr in list(dev.get("attributes") or {}):
                    o = copy.deepcopy(obj)
                    del o["spec"]["devices"][j]["attributes"][attr]
                    yield objects[:i] + [o] + objects[i + 1:]
        if obj.get("kind") == "ResourceClaim" and "status" not in obj:
            devs = spec["devices"]
            if devs.get("constraints"):
                o = copy.deepcopy(obj)
                del o["spec"]["devices"]["constraints"]
                yield objects[:i] + [o] + objects[i + 1:]
            if len(devs["requests"]) > 1:
                for j in range(len(devs["requests"])):
                    o = copy.deepcopy(obj)
                    del o["spec"]["devices"]["requests"][j]
                    o["spec"]["devices"].pop("constraints", None)
                    yield objects[:i] + [o] + objects[i + 1:]
            for j, req in enumerate(devs["requests"]):
                ex = req.get("exactly")
                if ex:
                    for key in ("selectors", "tolerations", "capacity", "adminAccess", "count", "allocationMode"):
                        if key in ex:
                            o = copy.deepcopy(obj)
                            del o["spec"]["devices"]["requests"][j]["exactly"][key]
                            yield objects[:i] + [o] + objects[i + 1:]
        if obj.get("kind") == "Pod" and len(spec.get("resourceClaims") or []) > 1:
            for j in range(len(spec["resourceClaims"])):
                o = copy.deepcopy(obj)
                del o["spec"]["resourceClaims"][j]
                yield objects[:i] + [o] + objects[i + 1:]


def shrink(oracle, objects: list[dict], features: dict[str, bool], sig: str, limit: int = 2000):
    """The smallest variant (greedy) that still differs with the same signature."""
    tries = 0
    improved = True
    while improved and tries < limit:
        improved = False
        batch = list(_candidates(objects))
        tries += len(batch)
        results = differences(oracle, [(c, features) for c in batch]) if batch else []
        for cand, diff in zip(batch, results):
            if diff and signature(diff, cand, features) == sig:
                objects = cand
                improved = True
                break
    return objects


# --------------------------------------------------------------------------------------------- tests


def test_generated_allocations_agree_with_upstream(oracle):
    print(f"\n[oracle] allocator: {N_CASES} generated cases, KUBECTL_DRA_ORACLE_SEED={SEED}")
    cases = [generate(SEED, i) for i in range(N_CASES)]
    started = time.monotonic()
    results = differences(oracle, cases)
    counts = {"agree": 0, "invalid": 0}
    unknown = []
    for i, diff in enumerate(results):
        if diff is None:
            counts["invalid"] += 1
        elif not diff:
            counts["agree"] += 1
        else:
            cls = classify(diff, *cases[i])
            if cls is None:
                unknown.append(i)
            counts[cls or "UNKNOWN"] = counts.get(cls or "UNKNOWN", 0) + 1
    print(f"[oracle] allocator: {counts} in {time.monotonic() - started:.1f} s")
    if unknown:
        i = unknown[0]
        objs, features = cases[i]
        small = shrink(oracle, objs, features, signature(results[i], objs, features))
        diff = differences(oracle, [(small, features)])[0]
        pytest.fail(f"{len(unknown)} generated cases differ from upstream in no known way "
                    f"(seed {SEED}, first: case {i}); shrunk reproducer:\n"
                    + json.dumps({"features": features, "objects": small, "diff": diff}, indent=1), pytrace=False)


REGRESSIONS = sorted(CASES.glob("alloc-*.json"))


def _regression_params():
    out = []
    for path in REGRESSIONS:
        data = json.loads(path.read_text(encoding="utf-8"))
        cls = data.get("class")
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN[cls][2])] if cls in KNOWN else []
        out.append(pytest.param(path, id=path.stem, marks=marks))
    return out


@pytest.mark.parametrize("path", _regression_params())
def test_regression_case_agrees_with_upstream(oracle, path: Path):
    data = json.loads(path.read_text(encoding="utf-8"))
    diff = differences(oracle, [(data["objects"], data.get("features") or {})])[0]
    assert diff is not None, "regression case fails API validation"
    assert not diff, "\n".join(diff)
