"""What the API server says, worked out without kubectl_dra: the truth `kubectl dra`'s answers are checked against.

Test code only. Reads through tests/e2e/kapi.py and applies the API's documented semantics
(dra-api.md): the newest generation of each pool, allocations in claims' status, reservedFor,
adminAccess not making a device busy, device taints and DeviceTaintRules, shared counters.

Also builds a small world of our own on the live server (``World``): a namespace, a node, a
DeviceClass and slices of a driver nobody else uses, so tests can allocate and delete without
touching the demo cluster other tests read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from tests.e2e import objects
from tests.e2e.kapi import Api, ApiError

_SUFFIX = {
    "": 1, "m": Fraction(1, 1000), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([a-zA-Z]*)$")


def quantity(text: Any) -> Fraction:
    """A Kubernetes quantity as an exact number (the suffixes the demo and these tests use)."""
    m = _QUANTITY.match(str(text).strip())
    if not m or m.group(2) not in _SUFFIX:
        raise ValueError(f"not a quantity this test understands: {text!r}")
    return Fraction(m.group(1)) * _SUFFIX[m.group(2)]


def _plain(raw: dict) -> Any:
    """The value of an API attribute ({"string": "x"} -> "x")."""
    return next(iter(raw.values())) if isinstance(raw, dict) and raw else raw


@dataclass
class Dev:
    driver: str
    pool: str
    name: str
    node: str | None
    attributes: dict[str, Any]  # fully qualified name -> plain value
    capacity: dict[str, str]  # fully qualified name -> quantity string
    taints: list[dict]
    consumes: list[dict]
    state: str = "free"
    claims: list[str] = field(default_factory=list)  # ns/name of the claims holding it (not adminAccess)
    pods: list[str] = field(default_factory=list)  # reservedFor pods of those claims
    admin_claims: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.driver, self.pool, self.name)

    @property
    def id(self) -> str:
        return f"{self.driver}/{self.pool}/{self.name}"

    def attr(self, name: str) -> Any:
        return self.attributes.get(name if "/" in name else f"{self.driver}/{name}")

    def cap(self, name: str) -> str | None:
        return self.capacity.get(name if "/" in name else f"{self.driver}/{name}")


def newest_slices(slices: list[dict]) -> list[dict]:
    """The slices of the newest generation of each (driver, pool), as the scheduler reads them."""
    newest: dict[tuple[str, str], int] = {}
    for s in slices:
        key = (s["spec"]["driver"], s["spec"]["pool"]["name"])
        newest[key] = max(newest.get(key, 0), int(s["spec"]["pool"]["generation"]))
    return [s for s in slices
            if int(s["spec"]["pool"]["generation"]) == newest[(s["spec"]["driver"], s["spec"]["pool"]["name"])]]


def devices(api: Api) -> dict[tuple[str, str, str], Dev]:
    """Every device the API publishes now, with the state the API's objects give it."""
    slices = newest_slices(api.list("ResourceSlice"))
    claims = api.list("ResourceClaim")
    try:
        rules = api.request("GET", "/apis/resource.k8s.io/v1beta2/devicetaintrules")["items"]
    except ApiError:
        rules = []
    out: dict[tuple[str, str, str], Dev] = {}
    counter_sets: dict[tuple[str, str], dict[tuple[str, str], Fraction]] = {}
    for s in slices:
        spec = s["spec"]
        driver, pool = spec["driver"], spec["pool"]["name"]
        for cs in spec.get("sharedCounters") or []:
            for cname, c in (cs.get("counters") or {}).items():
                counter_sets.setdefault((driver, pool), {})[(cs["name"], cname)] = quantity(c["value"])
        for d in spec.get("devices") or []:
            node = spec.get("nodeName") or (d.get("nodeName") if spec.get("perDeviceNodeSelection") else None)
            attrs = {(k if "/" in k else f"{driver}/{k}"): _plain(v) for k, v in (d.get("attributes") or {}).items()}
            caps = {(k if "/" in k else f"{driver}/{k}"): v["value"] for k, v in (d.get("capacity") or {}).items()}
            out[(driver, pool, d["name"])] = Dev(driver, pool, d["name"], node, attrs, caps, list(d.get("taints") or []),
                                                 list(d.get("consumesCounters") or []))
    for rule in rules:
        sel = rule["spec"].get("deviceSelector") or {}
        for dev in out.values():
            if all(sel.get(f) in (None, getattr(dev, a)) for f, a in (("driver", "driver"), ("pool", "pool"), ("device", "name"))):
                dev.taints.append(rule["spec"]["taint"])
    reserved: set[tuple[str, str, str]] = set()
    for c in claims:
        alloc = (c.get("status") or {}).get("allocation")
        if not alloc:
            continue
        ref = f"{c['metadata']['namespace']}/{c['metadata']['name']}"
        pods = [r["name"] for r in (c["status"].get("reservedFor") or []) if r.get("resource") == "pods"]
        for r in (alloc.get("devices") or {}).get("results") or []:
            dev = out.get((r["driver"], r["pool"], r["device"]))
            if dev is None:
                continue
            if r.get("adminAccess"):
                dev.admin_claims.append(ref)
                continue
            dev.claims.append(ref)
            dev.pods.extend(p for p in pods if p not in dev.pods)
            if c["status"].get("reservedFor"):
                reserved.add(dev.key)
    # shared counters: what the held devices leave of each counter
    left = {pool: dict(counters) for pool, counters in counter_sets.items()}
    for dev in out.values():
        if dev.claims:
            for entry in dev.consumes:
                for cname, c in (entry.get("counters") or {}).items():
                    key = (entry["counterSet"], cname)
                    if key in left.get((dev.driver, dev.pool), {}):
                        left[(dev.driver, dev.pool)][key] -= quantity(c["value"])
    for dev in out.values():
        if dev.claims:
            dev.state = "reserved" if dev.key in reserved else "allocated"
        elif any(left.get((dev.driver, dev.pool), {}).get((e["counterSet"], cname), Fraction(10**30)) < quantity(c["value"])
                 for e in dev.consumes for cname, c in (e.get("counters") or {}).items()):
            dev.state = "consumed-by-partition"
        elif any(t.get("effect") in ("NoSchedule", "NoExecute") for t in dev.taints):
            dev.state = "tainted"
    return out


def state_matches(state: str, wanted: str) -> bool:
    """--state as docs/commands.md defines it."""
    return {"all": True, "allocated": state in ("allocated", "reserved"), "unavailable": state != "free"}.get(wanted, state == wanted)


@dataclass
class ClaimTruth:
    namespace: str
    name: str
    state: str
    devices: list[tuple[str, str, str, str]]  # (request, driver, pool, device)
    pods: set[str]


def claims(api: Api, namespace: str | None = None) -> dict[tuple[str, str], ClaimTruth]:
    """Every ResourceClaim (of ``namespace``), its state, devices and the pods using it (reservedFor,
    plus pods of the namespace whose spec or status names it)."""
    items = api.list("ResourceClaim", namespace)
    pods = api.list("Pod", namespace)
    users: dict[tuple[str, str], set[str]] = {}
    for p in pods:
        ns = p["metadata"]["namespace"]
        generated = {s["name"]: s.get("resourceClaimName") for s in (p.get("status") or {}).get("resourceClaimStatuses") or []}
        for rc in p["spec"].get("resourceClaims") or []:
            name = rc.get("resourceClaimName") or generated.get(rc["name"])
            if name:
                users.setdefault((ns, name), set()).add(p["metadata"]["name"])
    out = {}
    for c in items:
        md = c["metadata"]
        status = c.get("status") or {}
        alloc = status.get("allocation")
        if md.get("deletionTimestamp"):
            state = "deallocating" if alloc else "deleting"
        elif not alloc:
            state = "pending"
        else:
            state = "reserved" if status.get("reservedFor") else "allocated"
        results = [(r["request"], r["driver"], r["pool"], r["device"])
                   for r in ((alloc or {}).get("devices") or {}).get("results") or []]
        reserved = {r["name"] for r in status.get("reservedFor") or [] if r.get("resource") == "pods"}
        key = (md["namespace"], md["name"])
        out[key] = ClaimTruth(md["namespace"], md["name"], state, results, reserved | users.get(key, set()))
    return out


# ---------------------------------------------------------------------------------------- our world


@dataclass
class World:
    """Objects of our own on the live server, named after ``tag``:

    * namespace ``<tag>``, node ``<tag>-node``, DeviceClass ``<tag>.e2e.example.com`` for driver
      ``<tag>.e2e.example.com`` (the class admits that driver only: demo claims never see it);
    * slice ``<tag>-node``: pool ``<tag>-node`` with dev-0 (model widget, 24Gi), dev-1, dev-2 on the node;
    * slices ``<tag>-gen1`` / ``<tag>-gen2``: pool ``gen``, generation 1 (device old-0) left behind by
      generation 2 (device new-0): only new-0 exists for the scheduler;
    * slice ``<tag>-net``: pool ``net``, allNodes, device net-0 (a network-attached device);
    * slices ``<tag>-counters`` / ``<tag>-parts``: pool ``parts``, a shared counter set of 8Gi and the
      devices whole (8Gi of it), half-0 and half-1 (4Gi each);
    * a ResourceClaimTemplate ``one``: one device of the class, the widget (dev-0), so the scheduler's
      choice is known.
    """

    api: Api
    tag: str
    created: list[dict] = field(default_factory=list)

    @property
    def ns(self) -> str:
        return self.tag

    @property
    def node(self) -> str:
        return f"{self.tag}-node"

    @property
    def driver(self) -> str:
        return f"{self.tag}.e2e.example.com"

    def _slice(self, name: str, pool: str, generation: int, devices: list[dict], **where: Any) -> dict:
        return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
                "metadata": {"name": name, "labels": {objects.OWNER_LABEL: self.tag}},
                "spec": {"driver": self.driver,
                         "pool": {"name": pool, "generation": generation, "resourceSliceCount": 2 if pool == "parts" else 1},
                         **where, **({"devices": devices} if devices else {})}}

    def build(self) -> World:
        api, tag, drv = self.api, self.tag, self.driver
        objects.namespace(api, self.ns, owner=tag)
        widget = {"name": "dev-0", "attributes": {"model": {"string": "widget"}}, "capacity": {"memory": {"value": "24Gi"}}}
        for obj in [
            objects.node(self.node, owner=tag),
            {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass",
             "metadata": {"name": drv, "labels": {objects.OWNER_LABEL: tag}},
             "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{drv}"'}}]}},
            self._slice(self.node, self.node, 1, [widget, {"name": "dev-1"}, {"name": "dev-2"}], nodeName=self.node),
            self._slice(f"{tag}-gen1", "gen", 1, [{"name": "old-0"}], nodeName=self.node),
            self._slice(f"{tag}-gen2", "gen", 2, [{"name": "new-0"}], nodeName=self.node),
            self._slice(f"{tag}-net", "net", 1, [{"name": "net-0"}], allNodes=True),
            # a partitionable device: `whole` needs all 8Gi of the counter, each half 4Gi
            self._slice(f"{tag}-counters", "parts", 1, [], nodeName=self.node,
                        sharedCounters=[{"name": "mem", "counters": {"memory": {"value": "8Gi"}}}]),
            self._slice(f"{tag}-parts", "parts", 1, [
                {"name": "whole", "consumesCounters": [{"counterSet": "mem", "counters": {"memory": {"value": "8Gi"}}}]},
                {"name": "half-0", "consumesCounters": [{"counterSet": "mem", "counters": {"memory": {"value": "4Gi"}}}]},
                {"name": "half-1", "consumesCounters": [{"counterSet": "mem", "counters": {"memory": {"value": "4Gi"}}}]},
            ], nodeName=self.node),
            {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
             "metadata": {"name": "one", "namespace": self.ns},
             "spec": {"spec": {"devices": {"requests": [{"name": "dev", "exactly": {"deviceClassName": drv, "selectors": [
                 {"cel": {"expression": f'"model" in device.attributes["{drv}"] && device.attributes["{drv}"].model == "widget"'}}]}}]}}}},
        ]:
            self.add(obj)
        return self

    def add(self, obj: dict) -> dict:
        created = self.api.create(obj)
        self.created.append(created)
        return created

    def claim(self, name: str, **exactly: Any) -> dict:
        return self.add({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                         "metadata": {"name": name, "namespace": self.ns},
                         "spec": {"devices": {"requests": [{"name": "dev", "exactly": {"deviceClassName": self.driver, **exactly}}]}}})

    def allocate(self, claim: dict, device: str, pool: str | None = None, admin: bool = False) -> dict:
        """Write an allocation into a claim's status, as the scheduler does, without reserving it for a pod."""
        claim = self.api.get("ResourceClaim", claim["metadata"]["name"], self.ns)
        result = {"request": "dev", "driver": self.driver, "pool": pool or self.node, "device": device}
        if admin:
            result["adminAccess"] = True
        claim["status"] = {"allocation": {
            "devices": {"results": [result]},
            "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [self.node]}]}]}}}
        return self.api.update_status(claim)

    def teardown(self) -> None:
        """Remove everything, pods first. What lived in the namespace is deleted (and waited for) one by
        one; the namespace itself is left to the namespace controller (that takes seconds; nothing
        is left in it for other tests to see)."""
        api = self.api
        for p in api.list("Pod", self.ns):
            api.delete("Pod", p["metadata"]["name"], self.ns)
        for c in api.list("ResourceClaim", self.ns):
            if c["metadata"].get("finalizers"):
                api.patch("ResourceClaim", c["metadata"]["name"], {"metadata": {"finalizers": None}}, self.ns)
        for kind in ("ResourceClaim", "ResourceClaimTemplate"):
            api.delete_collection(kind, self.ns)
        for obj in reversed(self.created):
            if obj["metadata"].get("namespace"):
                continue
            try:
                api.request("DELETE", _path(obj), params={"gracePeriodSeconds": "0"})
            except ApiError as e:
                if e.status != 404:
                    raise
        api.delete("Namespace", self.ns)
        api.wait(f"the objects in {self.ns} to go",
                 lambda: not any(api.list(kind, self.ns) for kind in ("Pod", "ResourceClaim", "ResourceClaimTemplate")), timeout=30)
        api.wait(f"node {self.node} to go", lambda: not api.exists("Node", self.node), timeout=30)


def _path(obj: dict) -> str:
    from tests.e2e.kapi import object_path

    md = obj["metadata"]
    return object_path(obj["kind"], md["name"], md.get("namespace"), obj.get("apiVersion"))


# ---------------------------------------------------------------------------------------- output


def table(text: str) -> list[dict[str, str]]:
    """Rows of a kubectl-style table (columns three spaces apart, headers on the first line) as dicts,
    cut at the header's column offsets; stops at the first empty line (the footer follows it)."""
    lines = text.splitlines()
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=   ))\S", header)]
    names = [header[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
    rows = []
    for line in lines[1:]:
        if not line.strip():
            break
        rows.append({n: line[a:b].strip() if b else line[a:].strip() for n, a, b in zip(names, starts, starts[1:] + [None])})
    return rows
