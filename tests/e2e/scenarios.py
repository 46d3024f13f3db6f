"""Differential harness: `kubectl dra explain` against the real kube-scheduler.

Test code only. A *scenario* is a set of Kubernetes objects plus a target (``pod/NS/NAME``,
``claim/NS/NAME``, ``template/NS/NAME`` or a list of claims/templates), the format of
tests/alloc_scenarios/*.yaml (those files are one source; tests/e2e/scenarios/*.yaml and the
random generator in tests/e2e/scengen.py are the others).

Every scenario runs on the one shared control plane, isolated by names:

* a key ``k`` per scenario prefixes node, pool, slice and class names and namespaces
  (``k-node-1``, ``k-default``); prefixes keep the relative order of names, and names decide the
  allocator's first-fit order, so the live allocation is the scenario's;
* scenario nodes carry the label and the NoSchedule taint ``kubectl-dra.e2e/scenario=k``; the
  scenario's pods get the matching nodeSelector and toleration, so they land nowhere else and no
  other pod lands on these nodes;
* slices that select nodes by label or ``allNodes`` get ``kubectl-dra.e2e/scenario In [k]``
  added to each term (``allNodes`` becomes that selector): devices of one scenario are never
  visible on the nodes of another (except slices with shared counters and no nodeName, which
  upstream treats as relevant for every node: scenarios with those run alone);
* claims keep their names in their own namespaces; pre-allocated ones get ``status.allocation``
  (and ``reservedFor``) written through the /status subresource; a pod named in ``reservedFor``
  that the scenario does not create exists as a gated placeholder (the resourceclaim controller
  drops reservations of pods that do not exist, and then the allocation with them).

A claim or template target becomes a probe pod referencing it. The pod is created with a
scheduling gate; once its claims exist, ``kubectl dra explain pod/NAME -n NS -o json`` runs
in-process against the live server (and ``explain --claim-file`` before the claims are created,
for claim-file scenarios); then the gate is removed and the scheduler's decision is read back:
bound (node, and the devices written into each claim), unschedulable, or a scheduler error.

Scenarios run in batches: every phase (create, explain, release, wait, clean up) is done for the
whole batch before the next, so the scheduler works on many pods at once and the waits overlap.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.e2e import objects as O
from tests.e2e.kapi import Api, ApiError

ROOT = Path(__file__).resolve().parents[2]
ALLOC_SCENARIOS = ROOT / "tests" / "alloc_scenarios"
LIVE_SCENARIOS = Path(__file__).resolve().parent / "scenarios"
FIXTURES = ROOT.parent / "shared" / "fixtures" / "upstream"

SCENARIO_LABEL = "kubectl-dra.e2e/scenario"
OWNER = "sched-agreement"
ADMIN_LABEL = "resource.kubernetes.io/admin-access"

#: verdict categories compared between explain and the scheduler
FITS, UNSCHEDULABLE, ERROR, REJECTED = "fits", "unschedulable", "error", "rejected"


# ------------------------------------------------------------------------------------ scenarios


@dataclass
class Scenario:
    name: str
    source: str  # alloc | live | random | demo
    objects: list[dict]
    targets: list[str]
    description: str = ""
    #: also run `explain --claim-file` with the target claims/templates before they are created
    claim_file: bool = False
    #: namespace -> labels (namespaces named by objects are created even when not listed)
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the real outcome the scenario is written for (fits | unschedulable | error | rejected), if any
    expect: str | None = None
    #: extra placement for the probe pod: {"nodeSelector": {...}, "affinity": {...}, "tolerations": [...]}
    pod: dict = field(default_factory=dict)
    #: a list of namespace label changes applied after the objects exist: {namespace: labels}
    relabel: dict[str, dict[str, str | None]] = field(default_factory=dict)
    skip: str | None = None
    notes: list[str] = field(default_factory=list)
    #: give pre-allocated claims an allocationTimestamp, as the scheduler does (False: keep them as written)
    stamp: bool = True


def _load_yaml(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _include(inc: str) -> list[dict]:
    if inc == "demo":
        from kubectl_dra.kube.demo import demo_objects

        return demo_objects()
    if inc.startswith("fixture:"):
        from kubectl_dra.kube.files import iter_objects, parse_documents

        path = FIXTURES / inc.split(":", 1)[1]
        return [o for o in iter_objects(parse_documents(path.read_text(encoding="utf-8"), str(path))) if o is not None]
    raise ValueError(f"unknown include {inc!r}")


def from_file(path: Path, source: str) -> Scenario:
    data = _load_yaml(path)
    objects: list[dict] = []
    skip = None
    for inc in data.get("include") or []:
        try:
            objects.extend(_include(inc))
        except FileNotFoundError:
            skip = f"include {inc} is not present"
    objects.extend(data.get("objects") or [])
    targets = data["simulate"] if isinstance(data["simulate"], list) else [data["simulate"]]
    live = data.get("live") or {}
    expect = live.get("expect")
    sc = Scenario(
        name=f"{source}/{path.stem}",
        source=source,
        objects=objects,
        targets=[str(t) for t in targets],
        description=str(data.get("description") or ""),
        claim_file=bool(live.get("claim_file")),
        namespaces={str(k): dict(v or {}) for k, v in (live.get("namespaces") or {}).items()},
        expect=expect,
        pod=dict(live.get("pod") or {}),
        relabel={str(k): dict(v or {}) for k, v in (live.get("relabel") or {}).items()},
        skip=skip or live.get("skip"),
        stamp=bool(live.get("allocation_timestamp", True)),
    )
    if data.get("features"):
        sc.notes.append(f"features {data['features']} not applied: the live control plane runs the 1.36 defaults")
    if data.get("nodes"):
        sc.notes.append("node restriction not applied: the pod may go to any scenario node")
    return sc


def alloc_scenarios() -> list[Scenario]:
    return [from_file(p, "alloc") for p in sorted(ALLOC_SCENARIOS.glob("*.yaml"))]


def live_scenarios() -> list[Scenario]:
    return [from_file(p, "live") for p in sorted(LIVE_SCENARIOS.glob("*.yaml"))]


# ------------------------------------------------------------------------------------ rewriting


def _versioned_get(obj: dict, key: str) -> Any:
    return obj.get(key)


class Rewriter:
    """Names of one scenario on the shared server."""

    def __init__(self, key: str):
        self.key = key

    def name(self, name: str) -> str:
        return f"{self.key}-{name}"

    ns = node = pool = slice = cls = name

    def label_requirement(self) -> dict:
        return {"key": SCENARIO_LABEL, "operator": "In", "values": [self.key]}

    def selector(self, selector: dict | None, *, scope: bool) -> dict | None:
        """Node names in matchFields prefixed; with ``scope`` every term also requires the scenario label."""
        if not isinstance(selector, dict):
            return selector
        out = copy.deepcopy(selector)
        for term in out.get("nodeSelectorTerms") or []:
            if not isinstance(term, dict):
                continue
            for req in term.get("matchFields") or []:
                if isinstance(req, dict) and req.get("key") == "metadata.name":
                    req["values"] = [self.node(v) for v in req.get("values") or []]
            if scope and (term.get("matchFields") or term.get("matchExpressions")):
                term.setdefault("matchExpressions", []).append(self.label_requirement())
        return out

    def scope_selector(self) -> dict:
        return {"nodeSelectorTerms": [{"matchExpressions": [self.label_requirement()]}]}

    def _node_selection(self, holder: dict) -> None:
        if holder.get("nodeName"):
            holder["nodeName"] = self.node(holder["nodeName"])
        if holder.get("nodeSelector") is not None:
            holder["nodeSelector"] = self.selector(holder["nodeSelector"], scope=True)
        if holder.get("allNodes"):
            holder.pop("allNodes")
            holder["nodeSelector"] = self.scope_selector()

    def slice_obj(self, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        spec = obj.setdefault("spec", {})
        obj["metadata"]["name"] = self.slice(obj["metadata"]["name"])
        pool = spec.setdefault("pool", {})
        pool["name"] = self.pool(pool.get("name") or "")
        self._node_selection(spec)
        for dev in spec.get("devices") or []:
            if not isinstance(dev, dict):
                continue
            self._node_selection(dev)
            if isinstance(dev.get("basic"), dict):  # v1beta1
                self._node_selection(dev["basic"])
        return obj

    def _requests(self, devices: dict) -> None:
        for req in devices.get("requests") or []:
            if not isinstance(req, dict):
                continue
            if req.get("deviceClassName"):
                req["deviceClassName"] = self.cls(req["deviceClassName"])
            if isinstance(req.get("exactly"), dict) and req["exactly"].get("deviceClassName"):
                req["exactly"]["deviceClassName"] = self.cls(req["exactly"]["deviceClassName"])
            for sub in req.get("firstAvailable") or []:
                if isinstance(sub, dict) and sub.get("deviceClassName"):
                    sub["deviceClassName"] = self.cls(sub["deviceClassName"])

    def claim_spec(self, spec: dict) -> dict:
        spec = copy.deepcopy(spec or {})
        self._requests(spec.get("devices") or {})
        return spec

    def allocation(self, alloc: dict) -> dict:
        alloc = copy.deepcopy(alloc)
        for r in (alloc.get("devices") or {}).get("results") or []:
            r["pool"] = self.pool(r["pool"])
        if alloc.get("nodeSelector") is not None:
            alloc["nodeSelector"] = self.selector(alloc["nodeSelector"], scope=False)
        return alloc


# ------------------------------------------------------------------------------------ results


@dataclass
class Explained:
    category: str  # fits | unschedulable | error | rejected (claim-file: the server would reject it)
    #: scenario node -> [(claim, request, driver, pool, device)] for the nodes where it fits
    fits: dict[str, list[tuple[str, str, str, str, str]]] = field(default_factory=dict)
    verdict: str = ""
    leaks: list[str] = field(default_factory=list)  # non-scenario nodes explain calls allocatable
    raw: dict | None = None
    problem: str | None = None


@dataclass
class Decision:
    category: str  # fits | unschedulable | error | rejected
    node: str | None = None
    message: str = ""
    #: claim ns/name -> [(request, driver, pool, device)]
    allocations: dict[str, list[tuple[str, str, str, str]]] = field(default_factory=dict)


@dataclass
class Record:
    scenario: str
    source: str
    status: str  # agree | disagree | skipped
    detail: str = ""
    explained: Explained | None = None
    claim_file: Explained | None = None
    decision: Decision | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"{self.status:9} {self.scenario}: {self.detail}"


# ------------------------------------------------------------------------------------ one scenario live


@dataclass
class Live:
    sc: Scenario
    rw: Rewriter
    namespaces: set[str] = field(default_factory=set)
    nodes: list[str] = field(default_factory=list)
    pod: dict | None = None  # the target pod as created
    pod_ns: str = ""
    pod_name: str = ""
    withheld: list[dict] = field(default_factory=list)  # claim-file targets, created after explain --claim-file
    record: Record | None = None
    explained: Explained | None = None
    claim_file: Explained | None = None
    decision: Decision | None = None
    started: float = 0.0
    released_at: float = 0.0
    claims_missing: bool = False
    unsched_since: float | None = None

    @property
    def done(self) -> bool:
        return self.record is not None


def _kind(obj: dict) -> str:
    return str(obj.get("kind") or "")


def _cluster_wide(sc: Scenario) -> bool:
    """A slice with shared counters and no nodeName is relevant for every node of the cluster (upstream
    GatherPools), whatever its node selector: such a scenario runs alone, or it would reach into others."""
    return any(_kind(o) == "ResourceSlice" and (o.get("spec") or {}).get("sharedCounters")
               and not (o.get("spec") or {}).get("nodeName") for o in sc.objects)


def _target(text: str) -> tuple[str, str, str]:
    kind, rest = text.split("/", 1) if text.split("/", 1)[0] in ("pod", "claim", "template") else ("claim", text)
    ns, _, name = rest.rpartition("/")
    return kind, ns or "default", name


class Harness:
    """Runs scenarios on a live control plane and compares explain with the scheduler."""

    def __init__(self, api: Api, kubeconfig: Path, invoke: Callable[..., Any], *, batch: int = 16,
                 log: Callable[[str], None] = print, token: str | None = None):
        self.api = api
        self.kubeconfig = kubeconfig
        self.invoke = invoke  # (*args) -> (exit_code, stdout, stderr)
        self.batch = batch
        self.log = log
        self.token = token or os.urandom(2).hex()
        self.counter = 0
        self.tmp = Path(tempfile.mkdtemp(prefix="sched-agreement-"))

    # -------------------------------------------------------------------------------- public

    def run(self, scenarios: Iterable[Scenario]) -> list[Record]:
        records: list[Record] = []
        pending: list[Live] = []
        for sc in scenarios:
            reason = self._skip_reason(sc)
            if reason:
                records.append(Record(sc.name, sc.source, "skipped", reason, notes=list(sc.notes)))
                continue
            self.counter += 1
            lv = Live(sc, Rewriter(f"s{self.token}-{self.counter:03d}"))
            if _cluster_wide(sc):
                records.extend(self._run_batch([lv]))
                continue
            pending.append(lv)
            if len(pending) >= self.batch:
                records.extend(self._run_batch(pending))
                pending = []
        if pending:
            records.extend(self._run_batch(pending))
        return records

    def _skip_reason(self, sc: Scenario) -> str | None:
        if sc.skip:
            return sc.skip
        kinds = {_target(t)[0] for t in sc.targets}
        if "pod" in kinds and len(sc.targets) > 1:
            return "several targets including a pod"
        for t in sc.targets:
            kind, ns, name = _target(t)
            if kind == "pod":
                pod = next((o for o in sc.objects if _kind(o) == "Pod" and o["metadata"]["name"] == name
                            and (o["metadata"].get("namespace") or "default") == ns), None)
                if pod is None:
                    return f"target pod {ns}/{name} is not among the objects"
                if (pod.get("spec") or {}).get("nodeName"):
                    return "the target pod is already bound: the scheduler has nothing to decide"
        if len({_target(t)[1] for t in sc.targets}) > 1:
            return "targets in several namespaces cannot share one pod"
        return None

    # -------------------------------------------------------------------------------- batch

    def _run_batch(self, batch: list[Live]) -> list[Record]:
        t0 = time.monotonic()
        for lv in batch:
            lv.started = time.monotonic()
            self._guard(lv, self._setup)
        for lv in batch:
            if not lv.done and lv.sc.claim_file:
                self._guard(lv, self._explain_claim_file)
        for lv in batch:
            if not lv.done:
                self._guard(lv, self._create_withheld_and_pod)
        self._wait_claims([lv for lv in batch if not lv.done])
        for lv in batch:
            if not lv.done:
                self._guard(lv, self._explain_pod)
        for lv in batch:
            if not lv.done:
                self._guard(lv, self._release)
        self._wait_decisions([lv for lv in batch if not lv.done])
        for lv in batch:
            if not lv.done:
                self._guard(lv, self._compare)
        self._cleanup(batch)
        self.log(f"[sched] batch of {len(batch)} in {time.monotonic() - t0:.1f} s")
        return [lv.record for lv in batch if lv.record is not None]

    def _guard(self, lv: Live, step: Callable[[Live], None]) -> None:
        try:
            step(lv)
        except ApiError as e:
            if step == self._setup and e.status in (400, 422) and str(e).startswith("POST"):
                message = e.body.get("message") if isinstance(e.body, dict) else str(e.body)
                self._finish(lv, "skipped", f"cannot exist on a real server: the API server rejects it: {message}")
                return
            self._finish(lv, "disagree", f"{step.__name__}: API error: {e}")
        except TimeoutError as e:
            self._finish(lv, "disagree", f"{step.__name__}: {e}")

    def _finish(self, lv: Live, status: str, detail: str) -> None:
        if lv.record is None:
            lv.record = Record(lv.sc.name, lv.sc.source, status, detail, lv.explained, lv.claim_file, lv.decision,
                               time.monotonic() - lv.started, list(lv.sc.notes))

    # -------------------------------------------------------------------------------- setup

    def _namespace(self, lv: Live, ns: str) -> str:
        mapped = lv.rw.ns(ns)
        if mapped not in lv.namespaces:
            labels = {SCENARIO_LABEL: lv.rw.key, O.OWNER_LABEL: OWNER}
            labels.update(lv.sc.namespaces.get(ns) or {})
            if ns not in lv.sc.namespaces and self._wants_admin(lv.sc, ns):
                labels[ADMIN_LABEL] = "true"
            self.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": mapped, "labels": labels}})
            lv.namespaces.add(mapped)
        return mapped

    @staticmethod
    def _wants_admin(sc: Scenario, ns: str) -> bool:
        """Scenarios written for the simulator use adminAccess without a namespace: label those namespaces."""
        for o in sc.objects:
            if _kind(o) not in ("ResourceClaim", "ResourceClaimTemplate"):
                continue
            if (o["metadata"].get("namespace") or "default") != ns:
                continue
            text = json.dumps(o)
            if '"adminAccess": true' in text:
                return True
        return False

    def _node_names(self, sc: Scenario) -> list[str]:
        names: list[str] = []

        def add(n: str | None) -> None:
            if n and n not in names:
                names.append(n)

        for o in sc.objects:
            if _kind(o) == "Node":
                add(o["metadata"]["name"])
        for o in sc.objects:
            if _kind(o) == "ResourceSlice":
                spec = o.get("spec") or {}
                add(spec.get("nodeName"))
                for d in spec.get("devices") or []:
                    if isinstance(d, dict):
                        add(d.get("nodeName") or (d.get("basic") or {}).get("nodeName"))
        if not names:
            add("node-1")
        return names

    def _setup(self, lv: Live) -> None:
        sc, rw, api = lv.sc, lv.rw, self.api
        owner = {SCENARIO_LABEL: rw.key, O.OWNER_LABEL: OWNER}
        target_kinds = {_target(t)[0] for t in sc.targets}
        withheld: set[tuple[str, str, str]] = set()
        if sc.claim_file:
            withheld = {(k, ns, n) for k, ns, n in map(_target, sc.targets) if k in ("claim", "template")}
        for ns in sc.namespaces:
            self._namespace(lv, ns)
        by_name = {o["metadata"]["name"]: o for o in sc.objects if _kind(o) == "Node"}
        for name in self._node_names(sc):
            src = by_name.get(name) or {"metadata": {"name": name}}
            labels = dict(src["metadata"].get("labels") or {})
            labels.update(owner)
            taints = list((src.get("spec") or {}).get("taints") or [])
            taints.append({"key": SCENARIO_LABEL, "value": rw.key, "effect": "NoSchedule"})
            node = O.node(rw.node(name), labels=labels, taints=taints)
            node["metadata"]["labels"]["kubernetes.io/hostname"] = rw.node(name)
            if (src.get("spec") or {}).get("unschedulable"):
                node["spec"]["unschedulable"] = True
            api.create(node)
            lv.nodes.append(rw.node(name))
        for o in sc.objects:
            if _kind(o) == "DeviceClass":
                obj = O.for_create(o)
                obj["metadata"]["name"] = rw.cls(obj["metadata"]["name"])
                obj["metadata"].setdefault("labels", {}).update(owner)
                api.create(obj)
        for o in sc.objects:
            if _kind(o) == "ResourceSlice":
                obj = rw.slice_obj(O.for_create(o))
                obj["metadata"].setdefault("labels", {}).update(owner)
                api.create(obj)
        for o in sc.objects:
            if _kind(o) == "ResourceClaimTemplate":
                ns = o["metadata"].get("namespace") or "default"
                obj = O.for_create(o, owner=OWNER)
                obj["metadata"]["namespace"] = self._namespace(lv, ns)
                spec = obj.setdefault("spec", {})
                spec["spec"] = rw.claim_spec(spec.get("spec") or {})
                if ("template", ns, o["metadata"]["name"]) in withheld:
                    lv.withheld.append(obj)
                    continue
                api.create(obj)
        # claims: spec first; allocation (and reservations) through /status
        placeholders: dict[tuple[str, str], str] = {}
        for o in sc.objects:
            if _kind(o) != "ResourceClaim":
                continue
            refs = o["metadata"].get("ownerReferences") or []
            status = o.get("status") or {}
            if any(r.get("kind") == "Pod" for r in refs) and not status.get("allocation"):
                continue  # generated for a pod and not allocated: the controller makes the pod's own
            ns = o["metadata"].get("namespace") or "default"
            obj = O.for_create(o, owner=OWNER)
            obj["metadata"]["namespace"] = self._namespace(lv, ns)
            obj["spec"] = rw.claim_spec(obj.get("spec") or {})
            if ("claim", ns, o["metadata"]["name"]) in withheld:
                lv.withheld.append(obj)
                continue
            created = api.create(obj)
            if status.get("allocation"):
                allocation = rw.allocation(status["allocation"])
                # the scheduler sets one on every allocation it makes; without it, its PreBind adds one
                # to the (immutable) allocation when it reserves the claim, and the server refuses
                if sc.stamp:
                    allocation.setdefault("allocationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
                created["status"] = {"allocation": allocation}
                reserved = []
                for r in status.get("reservedFor") or []:
                    if r.get("resource", "pods") == "pods" and not r.get("apiGroup"):
                        key = (obj["metadata"]["namespace"], r["name"])
                        if key not in placeholders:
                            placeholders[key] = self._placeholder(lv, *key)
                        reserved.append({"resource": "pods", "name": r["name"], "uid": placeholders[key]})
                if reserved:
                    created["status"]["reservedFor"] = reserved
                for extra in ("devices",):
                    if status.get(extra):
                        created["status"][extra] = copy.deepcopy(status[extra])
                        for d in created["status"][extra]:
                            if isinstance(d, dict) and d.get("pool"):
                                d["pool"] = rw.pool(d["pool"])
                api.update_status(created)
        for ns, labels in sc.relabel.items():
            self._namespace(lv, ns)
            api.patch("Namespace", rw.ns(ns), {"metadata": {"labels": labels}})
        # the pod to schedule
        kind, ns, name = _target(sc.targets[0])
        lv.pod_ns = self._namespace(lv, ns)
        if kind == "pod":
            src = next(o for o in sc.objects if _kind(o) == "Pod" and o["metadata"]["name"] == name
                       and (o["metadata"].get("namespace") or "default") == ns)
            pod = O.for_create(src, owner=OWNER)
            pod["metadata"]["namespace"] = lv.pod_ns
            pod["metadata"].pop("generateName", None)
            pod["metadata"]["name"] = name
            spec = pod["spec"]
            spec.pop("schedulingGates", None)
        else:
            claims = []
            for i, t in enumerate(sc.targets):
                k, _, n = _target(t)
                claims.append((f"c{i}", "claim" if k == "claim" else "template", n))
            pod = O.pod("probe", lv.pod_ns, claims, owner=OWNER)
            spec = pod["spec"]
        for key in ("nodeSelector", "affinity", "tolerations"):
            if key in sc.pod:
                spec[key] = copy.deepcopy(sc.pod[key])
        spec["nodeSelector"] = {**(spec.get("nodeSelector") or {}), SCENARIO_LABEL: rw.key}
        spec["tolerations"] = [*(spec.get("tolerations") or []),
                               {"key": SCENARIO_LABEL, "operator": "Equal", "value": rw.key, "effect": "NoSchedule"}]
        aff = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
        if aff:
            spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = rw.selector(aff, scope=False)
        spec["schedulingGates"] = [{"name": O.HOLD_GATE}]
        pod["metadata"].setdefault("labels", {}).update(owner)
        lv.pod = pod
        lv.pod_name = pod["metadata"]["name"]

    def _placeholder(self, lv: Live, ns: str, name: str) -> str:
        """A gated pod without claims standing in for a consumer named in reservedFor; returns its uid."""
        existing = None
        try:
            existing = self.api.get("Pod", name, ns)
        except ApiError as e:
            if e.status != 404:
                raise
        if existing is None:
            pod = O.pod(name, ns, None, hold=True, owner=OWNER)
            pod["metadata"]["labels"][SCENARIO_LABEL] = lv.rw.key
            existing = self.api.create(pod)
        return existing["metadata"]["uid"]

    # -------------------------------------------------------------------------------- claim-file

    def _explain_claim_file(self, lv: Live) -> None:
        path = self.tmp / f"{lv.rw.key}.yaml"
        path.write_text(yaml.safe_dump_all(lv.withheld), encoding="utf-8")
        lv.claim_file = self._explain(lv, ["--claim-file", str(path), "-n", lv.pod_ns], pod=False)

    def _create_withheld_and_pod(self, lv: Live) -> None:
        for obj in lv.withheld:
            try:
                self.api.create(obj)
            except ApiError as e:
                if e.status in (400, 403, 422):
                    lv.decision = Decision(REJECTED, message=str(e.body.get("message") if isinstance(e.body, dict) else e))
                    self._compare(lv)
                    return
                raise
        created = self.api.create(lv.pod)
        lv.pod = created

    # -------------------------------------------------------------------------------- explain

    def _explain(self, lv: Live, args: list[str], *, pod: bool) -> Explained:
        code, out, err = self.invoke("explain", *args, "-o", "json", "--kubeconfig", str(self.kubeconfig))
        if code not in (0, 7):
            return Explained("?", problem=f"explain exited {code}: {err.strip()[-400:]}")
        try:
            data = json.loads(out)
        except ValueError:
            return Explained("?", problem=f"explain printed no JSON: {out[:200]!r} {err[-200:]!r}")
        return self._digest(lv, data, pod=pod)

    def _digest(self, lv: Live | None, data: dict, *, pod: bool) -> Explained:
        """The verdict as far as the scenario's nodes go: without a pod (--claim-file) explain evaluates every
        node of the shared server, and what happens on other scenarios' nodes is not this scenario's business."""
        verdict = data.get("verdict", "")
        mine = set(lv.nodes) if lv is not None else {n["node"] for n in data.get("nodes") or []}
        fits: dict[str, list[tuple[str, str, str, str, str]]] = {}
        leaks = []
        error = False
        for n in data.get("nodes") or []:
            if n["node"] not in mine:
                if n.get("allocatable") and pod:
                    leaks.append(n["node"])
                continue
            if n.get("status") == "Error":
                error = True
            if n.get("allocatable"):
                fits[n["node"]] = [(r["claim"], r["request"], r["driver"], r["pool"], r["device"])
                                   for r in n.get("results") or []]
        blocking = [r for r in data.get("reasons") or [] if r.get("status") in ("Error", "Unschedulable")]
        if not pod and any(r.get("code") == "admin-access-forbidden" for r in blocking):
            category = REJECTED
        elif any(r.get("status") == "Error" for r in blocking) or error:
            category = ERROR
        elif blocking:
            category = UNSCHEDULABLE
        elif fits:
            category = FITS
        else:
            category = UNSCHEDULABLE
        if pod and (category == FITS) != (verdict in ("allocatable", "allocated")):
            return Explained("?", problem=f"verdict {verdict} but {category} on the scenario's nodes", raw=data)
        return Explained(category, fits, verdict, leaks, data)

    def _explain_pod(self, lv: Live) -> None:
        lv.explained = self._explain(lv, [f"pod/{lv.pod_name}", "-n", lv.pod_ns], pod=True)

    def explain_existing(self, ns: str, name: str, outcome: O.Outcome) -> Record:
        """A pod the scheduler has already decided about (the demo cluster): explain after the fact."""
        started = time.monotonic()
        code, out, err = self.invoke("explain", f"pod/{name}", "-n", ns, "-o", "json", "--kubeconfig", str(self.kubeconfig))
        ex: Explained
        if code not in (0, 7):
            ex = Explained("?", problem=f"explain exited {code}: {err.strip()[-400:]}")
        else:
            try:
                ex = self._digest(None, json.loads(out), pod=True)
            except ValueError:
                ex = Explained("?", problem=f"explain printed no JSON: {out[:200]!r}")
        d = Decision(FITS if outcome.bound else UNSCHEDULABLE, outcome.node, outcome.message)
        if outcome.bound:
            for claim in O.pod_claim_names(self.api, ns, name).values():
                if claim:
                    d.allocations[f"{ns}/{claim}"] = O.allocation(self.api, ns, claim)
        problems = self._differences(ex, d, pod=True)
        if outcome.bound and not problems and ex.verdict != "allocated":
            problems.append(f"the pod is bound, explain says {ex.verdict}")
        summary = d.category + (f" on {d.node}" if d.node else f" ({d.message[:160]})")
        status, detail = ("disagree", "; ".join(problems) + f" | scheduler: {summary}") if problems else ("agree", summary)
        return Record(f"demo/{ns}/{name}", "demo", status, detail, ex, None, d, time.monotonic() - started)

    # -------------------------------------------------------------------------------- scheduling

    def _wait_claims(self, batch: list[Live], timeout: float = 20.0) -> None:
        """Until every pod's claims exist; pods whose claims cannot appear (missing claim or template) go on after a while."""
        deadline = time.monotonic() + timeout
        waiting = list(batch)
        while waiting:
            still = []
            for lv in waiting:
                if lv.done or O.claims_created(self.api, lv.pod):
                    continue
                if self._claims_cannot_appear(lv) and time.monotonic() > deadline - timeout + 2.0:
                    lv.claims_missing = True
                    continue
                still.append(lv)
            waiting = still
            if not waiting:
                return
            if time.monotonic() > deadline:
                for lv in waiting:
                    self._finish(lv, "disagree", "the pod's claims were not created in time")
                return
            time.sleep(0.1)

    def _claims_cannot_appear(self, lv: Live) -> bool:
        ns = lv.pod_ns
        for rc in lv.pod["spec"].get("resourceClaims") or []:
            if rc.get("resourceClaimName") and not self.api.exists("ResourceClaim", rc["resourceClaimName"], ns):
                return True
            if rc.get("resourceClaimTemplateName") and not self.api.exists("ResourceClaimTemplate", rc["resourceClaimTemplateName"], ns):
                return True
        return False

    def _release(self, lv: Live) -> None:
        O.release(self.api, lv.pod)
        lv.released_at = time.monotonic()

    def _wait_decisions(self, batch: list[Live], timeout: float = 45.0, settle: float = 1.5,
                        pending_after: float = 4.0) -> None:
        """Poll the batch's pods until each is bound, or unschedulable / failing for ``settle`` seconds
        (the scheduler may retry after an informer catches up), or never tried (claims that cannot appear)."""
        deadline = time.monotonic() + timeout
        waiting = {(lv.pod_ns, lv.pod_name): lv for lv in batch if not lv.done}
        while waiting:
            pods = {}
            for p in self.api.list("Pod", labelSelector=f"{O.OWNER_LABEL}={OWNER}"):
                pods[(p["metadata"]["namespace"], p["metadata"]["name"])] = p
            now = time.monotonic()
            for key, lv in list(waiting.items()):
                p = pods.get(key)
                if p is None:
                    lv.decision = Decision(ERROR, message="pod disappeared")
                    del waiting[key]
                    continue
                d = self._probe(lv, p)
                if d is None:
                    lv.unsched_since = None
                    if lv.claims_missing and now - lv.released_at > pending_after:
                        lv.decision = Decision(UNSCHEDULABLE, message="never tried: a claim or template does not exist")
                        del waiting[key]
                    continue
                if d.category == FITS:
                    lv.decision = d
                    del waiting[key]
                    continue
                # a retry after an informer caught up can take a backoff or two: when explain expects the pod
                # to fit, give the scheduler longer before calling it a disagreement
                wait = settle if lv.explained is None or lv.explained.category != FITS else settle + 5.0
                if lv.unsched_since is None:
                    lv.unsched_since = now
                elif now - lv.unsched_since >= wait:
                    lv.decision = d
                    del waiting[key]
            if not waiting:
                return
            if time.monotonic() > deadline:
                for lv in waiting.values():
                    self._finish(lv, "disagree", "no scheduling decision in time")
                return
            time.sleep(0.15)

    def _probe(self, lv: Live, p: dict) -> Decision | None:
        if p["spec"].get("nodeName"):
            return Decision(FITS, p["spec"]["nodeName"])
        for cond in (p.get("status") or {}).get("conditions") or []:
            if cond.get("type") != "PodScheduled" or cond.get("status") != "False":
                continue
            msg = cond.get("message") or ""
            if cond.get("reason") == "Unschedulable":
                if "waiting for" in msg.lower() and "claim" in msg.lower():
                    return None
                return Decision(UNSCHEDULABLE, message=msg)
            if cond.get("reason") == "SchedulerError":
                return Decision(ERROR, message=msg)
        # allocated and waiting in PreBind (binding conditions): the claims say where
        names = O.pod_claim_names(self.api, lv.pod_ns, lv.pod_name)
        nodes = set()
        for claim in names.values():
            if not claim:
                return None
            try:
                c = self.api.get("ResourceClaim", claim, lv.pod_ns)
            except ApiError:
                return None
            alloc = (c.get("status") or {}).get("allocation")
            reserved = {r.get("uid") for r in (c.get("status") or {}).get("reservedFor") or []}
            if not alloc or p["metadata"]["uid"] not in reserved:
                return None
            for term in (alloc.get("nodeSelector") or {}).get("nodeSelectorTerms") or []:
                for req in term.get("matchFields") or []:
                    nodes.update(req.get("values") or [])
        if names and len(nodes) <= 1:
            return Decision(FITS, next(iter(nodes), None) or p.get("status", {}).get("nominatedNodeName"),
                            message="allocated; binding waits (PreBind)")
        return None

    # -------------------------------------------------------------------------------- comparing

    def _compare(self, lv: Live) -> None:
        d = lv.decision
        if d is None:
            return
        if d.category == FITS and lv.pod is not None:
            for pc, claim in O.pod_claim_names(self.api, lv.pod_ns, lv.pod_name).items():
                if claim:
                    d.allocations[f"{lv.pod_ns}/{claim}"] = O.allocation(self.api, lv.pod_ns, claim)
        problems = []
        for label, ex in (("explain", lv.explained), ("explain --claim-file", lv.claim_file)):
            if ex is None:
                if label == "explain" and d.category != REJECTED:
                    problems.append("explain did not run")
                continue
            problems.extend(f"{label}: {p}" for p in self._differences(ex, d, pod=label == "explain"))
        if lv.sc.expect and lv.sc.expect != d.category:
            problems.append(f"the scenario expects {lv.sc.expect}, the scheduler said {d.category}")
        summary = d.category + (f" on {d.node}" if d.node else "") + (f" ({d.message[:160]})" if d.message and d.category != FITS else "")
        if problems:
            self._finish(lv, "disagree", "; ".join(problems) + f" | scheduler: {summary}")
        else:
            self._finish(lv, "agree", summary)

    @staticmethod
    def _differences(ex: Explained, d: Decision, *, pod: bool) -> list[str]:
        if ex.problem:
            return [ex.problem]
        out = []
        if ex.leaks:
            out.append(f"allocatable on nodes the pod cannot go to: {', '.join(sorted(ex.leaks))}")
        if ex.category != d.category:
            out.append(f"says {ex.category} ({ex.verdict}; fits on {sorted(ex.fits) or 'none'}), the scheduler {d.category}")
            return out
        if d.category != FITS or d.node is None:
            return out
        if d.node not in ex.fits:
            out.append(f"the scheduler chose {d.node}, not among {sorted(ex.fits)}")
            return out
        predicted: dict[str, list[tuple[str, str, str, str]]] = {}
        for claim, req, drv, pool, dev in ex.fits[d.node]:
            predicted.setdefault(claim, []).append((req, drv, pool, dev))
        for claim, got in d.allocations.items():
            if claim not in predicted:
                continue  # allocated before explain ran
            if predicted[claim] != got:
                out.append(f"claim {claim} on {d.node}: explain {predicted[claim]}, scheduler {got}")
        return out

    # -------------------------------------------------------------------------------- cleanup

    def _cleanup(self, batch: list[Live]) -> None:
        api = self.api
        for lv in batch:
            for ns in lv.namespaces:
                try:
                    for p in api.list("Pod", ns):
                        api.delete("Pod", p["metadata"]["name"], ns, grace=0)
                except ApiError:
                    pass
        for lv in batch:
            for ns in lv.namespaces:
                api.delete("Namespace", ns, grace=None)
        keys = ",".join(lv.rw.key for lv in batch)
        selector = f"{SCENARIO_LABEL} in ({keys})"
        for kind in ("ResourceSlice", "DeviceClass", "Node"):
            try:
                api.delete_collection(kind, labelSelector=selector)
            except ApiError as e:
                if e.status != 404:
                    raise

    def wait_gone(self, timeout: float = 60.0) -> list[str]:
        """Namespaces of this harness still terminating after ``timeout`` (a hang guard for the test's end)."""
        deadline = time.monotonic() + timeout
        while True:
            left = [n["metadata"]["name"] for n in self.api.list("Namespace", labelSelector=f"{O.OWNER_LABEL}={OWNER}")]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.3)


# ------------------------------------------------------------------------------------ figures


def agreement(records: list[Record]) -> dict[str, dict[str, int]]:
    """source -> {run, agree, disagree, skipped}."""
    out: dict[str, dict[str, int]] = {}
    for r in records:
        row = out.setdefault(r.source, {"run": 0, "agree": 0, "disagree": 0, "skipped": 0})
        row[r.status] += 1
        if r.status != "skipped":
            row["run"] += 1
    return out


def figure(records: list[Record]) -> str:
    rows = agreement(records)
    lines = [f"{'source':8} {'agreed':>7} {'run':>5} {'skipped':>8}"]
    total = {"run": 0, "agree": 0, "skipped": 0}
    for source in sorted(rows):
        r = rows[source]
        lines.append(f"{source:8} {r['agree']:>7} {r['run']:>5} {r['skipped']:>8}")
        for k in total:
            total[k] += r[k]
    lines.append(f"{'total':8} {total['agree']:>7} {total['run']:>5} {total['skipped']:>8}")
    return "\n".join(lines)
