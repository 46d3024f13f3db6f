"""Static checks of DeviceClasses, ResourceClaims and ResourceClaimTemplates against the published devices.

Each finding says what will go wrong at scheduling time before a pod waits for it:

* ``unknown-attribute`` / ``unknown-capacity`` – a selector reads ``device.attributes[D].x`` (or a
  capacity) that no published device of domain ``D`` has — e.g. NVIDIA's removed ``index``.
  Unguarded, every device of ``D`` that reaches the selector raises ``no such key`` (dra-api.md §4.4);
* ``unguarded-attribute`` – some devices of the domain lack it and the expression has no
  ``has()``, ``.?`` or ``in`` guard for it;
* ``cel-runtime-error`` – evaluating the selector on the published devices fails (device named);
  kube-scheduler aborts the pod's scheduling attempt when it meets such a device;
* ``class-matches-nothing`` / ``request-matches-nothing`` – no published device passes;
* ``class-missing`` – a request names a DeviceClass that does not exist;
* ``constraint-attribute-missing`` – a ``matchAttribute``/``distinctAttribute`` key that candidate
  devices of the constrained requests lack (a device without it never satisfies it, §5.5);
* ``request-exceeds-node`` – an ExactCount request wants more devices than any single node offers
  (devices of node-local slices count for their node; network-attached ones for every node).

Findings are plain records (severity, code, message, hint, object) ready for JSON.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from kubectl_dra import cel
from kubectl_dra.admission import admit
from kubectl_dra.alloc.severity import ERROR, WARNING, lint_severity
from kubectl_dra.lazyre import Pattern as _Pattern
from kubectl_dra.model.claim import ClaimSpec, DeviceClass, SubRequest
from kubectl_dra.model.cluster import Cluster
from kubectl_dra.model.device import Device


@dataclass(slots=True)
class Finding:
    severity: str
    code: str
    message: str
    object: str  # "DeviceClass x", "ResourceClaim ns/x", "ResourceClaimTemplate ns/x"
    hint: str | None = None
    request: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code, "message": self.message, "object": self.object}
        if self.request is not None:
            out["request"] = self.request
        if self.hint:
            out["hint"] = self.hint
        out["data"] = self.data
        return out


# ---------------------------------------------------------------------- expression references

_Q = r"""(?:"([^"\\]*)"|'([^'\\]*)')"""
_ACCESS = _Pattern(
    r"device\s*\.\s*(attributes|capacity)\s*\[\s*" + _Q + r"\s*\]\s*"
    r"(?:(\.\??)\s*([A-Za-z_]\w*)(?!\s*\()|\[\s*(\??)\s*" + _Q + r"\s*\])"
)


@dataclass(frozen=True, slots=True)
class Access:
    field: str  # attributes | capacity
    domain: str
    ident: str
    optional: bool  # .?x or [?"x"]


def accesses(expression: str) -> list[Access]:
    """Literal ``device.attributes["d"].x`` / ``["x"]`` / ``.?x`` / ``[?"x"]`` reads in an expression."""
    out = []
    for m in _ACCESS.finditer(expression):
        fld = m.group(1)
        domain = m.group(2) if m.group(2) is not None else m.group(3)
        if m.group(5):
            ident, optional = m.group(5), m.group(4) == ".?"
        else:
            ident = m.group(7) if m.group(7) is not None else m.group(8)
            optional = m.group(6) == "?"
        out.append(Access(fld, domain, ident, optional))
    return out


def guarded(expression: str, access: Access) -> bool:
    """Is the read protected by ``has()``, optional chaining or an ``in`` test?"""
    if access.optional:
        return True
    ident = re.escape(access.ident)
    if re.search(r"has\s*\(\s*device\s*\.\s*" + access.field + r"\s*\[[^\]]*\]\s*\.\s*" + ident + r"\s*\)", expression):
        return True
    return bool(re.search(r"""["']""" + ident + r"""["']\s+in\s+device\s*\.\s*""" + access.field, expression))


# ---------------------------------------------------------------------- published names


class Published:
    """What the devices of the cluster publish: per domain, which ids, on how many devices."""

    def __init__(self, devices: list[Device]) -> None:
        self.devices = devices
        self.attr_devices: Counter[str] = Counter()  # domain -> devices with any attribute in it
        self.attrs: dict[str, Counter[str]] = {}
        self.cap_devices: Counter[str] = Counter()
        self.caps: dict[str, Counter[str]] = {}
        # devices publish a handful of distinct name lists: count each list once, times its devices
        # (the lists in order of first appearance, so every Counter fills in the order a walk would)
        shapes: dict[tuple, int] = {}
        for dev in devices:
            shape = (tuple(dev.attributes), tuple(dev.capacity))
            shapes[shape] = shapes.get(shape, 0) + 1
        for (attribute_names, capacity_names), n in shapes.items():
            for names, per_domain, count in (
                (attribute_names, self.attrs, self.attr_devices),
                (capacity_names, self.caps, self.cap_devices),
            ):
                domains = {}
                for qualified in names:
                    domain, _, ident = qualified.rpartition("/")
                    per_domain.setdefault(domain, Counter())[ident] += n
                    domains[domain] = None
                for d in domains:
                    count[d] += n
        self.drivers = sorted({d.driver for d in devices})


# ---------------------------------------------------------------------- lint


class _Linter:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.devices = [d for pool in cluster.pools for d in pool.devices]
        self.published = Published(self.devices)
        self.classes = {c.name: c for c in cluster.classes}
        self.findings: list[Finding] = []
        self._results: dict[str, list[cel.Result]] = {}
        self._checked: set[tuple[str, str]] = set()
        #: findings of each distinct claim spec, computed once: clusters hold thousands of claims
        #: made from a few templates, and each analysis walks every device (linear, not claims x devices)
        self._by_spec: dict[str, list[Finding]] = {}

    def results(self, expression: str) -> list[cel.Result] | None:
        if expression not in self._results:
            try:
                program = cel.compile(expression)
            except cel.CelCompileError:
                return None
            self._results[expression] = program.evaluate_many(self.devices)
        return self._results[expression]

    def admitted(self, selectors: list[str], among: list[bool] | None = None) -> tuple[list[bool], dict[int, tuple[int, str]]]:
        """Per device: whether the class-admission rule (:func:`kubectl_dra.admission.admit`) admits
        it, over this linter's cached results; and the runtime errors, device -> (selector, error).
        A selector that does not compile admits nothing; earlier selectors' errors are kept."""
        results: list[list[cel.Result]] = []
        for expression in selectors:
            res = self.results(expression)
            if res is None:
                break
            results.append(res)
        start = range(len(self.devices)) if among is None else [k for k, ok in enumerate(among) if ok]
        outcome = admit(selectors[: len(results)], start,
                        evaluate=lambda i, _expression, alive: [results[i][k] for k in alive])  # fmt: skip
        errors = {r.item: (r.selector, r.error) for r in outcome.errors}
        alive = [False] * len(self.devices)
        if len(results) == len(selectors):
            for k in outcome.admitted:
                alive[k] = True
        return alive, errors

    def nearest_miss(self, selectors: list[str], admitted: list[bool]) -> dict | None:
        """The first selector that rejects every device still in the running, and the closest value to
        its threshold among those devices (diagnose.closest_miss), or None."""
        from kubectl_dra.alloc.diagnose import closest_miss

        alive = admitted
        for i, expression in enumerate(selectors):
            after, _ = self.admitted([expression], alive)
            if not any(after):
                miss = closest_miss(expression, [self.devices[k] for k, ok in enumerate(alive) if ok])
                return None if miss is None else {"selector": i, **miss}
            alive = after
        return None

    def add(self, level: str, *args: Any, **kw: Any) -> None:
        self.findings.append(Finding(lint_severity(level), *args, **kw))

    # -------------------------------------------------------------- expressions

    def expression(self, expression: str, obj: str, label: str, request: str | None, candidates: list[bool] | None) -> None:
        key = (obj + (request or ""), expression)
        if key in self._checked:
            return
        self._checked.add(key)
        pub = self.published
        try:
            cel.compile(expression)
        except cel.CelCompileError as err:
            self.add(ERROR, "cel-compile-error", f"{label}: {err}", obj, request=request, data={"expression": expression})
            return
        seen: set[tuple[str, str, str]] = set()
        for acc in accesses(expression):
            if (acc.field, acc.domain, acc.ident) in seen:
                continue
            seen.add((acc.field, acc.domain, acc.ident))
            per_domain = pub.attrs if acc.field == "attributes" else pub.caps
            domain_devices = (pub.attr_devices if acc.field == "attributes" else pub.cap_devices)[acc.domain]
            if not domain_devices:
                continue  # unknown domain: reads as an empty map; no device publishes it at all
            have = per_domain.get(acc.domain, Counter())[acc.ident]
            what = "attribute" if acc.field == "attributes" else "capacity"
            qualified = f"{acc.domain}/{acc.ident}"
            safe = guarded(expression, acc)
            if have == 0:
                self.add(
                    WARNING if safe else ERROR,
                    "unknown-attribute" if acc.field == "attributes" else "unknown-capacity",
                    f"{label} reads {what} {qualified}, which no published device has"
                    + ("" if safe else f" (no such key: {acc.ident} on every {acc.domain} device it reaches)"),
                    obj,
                    hint=f"published {what}s of {acc.domain}: {', '.join(sorted(per_domain.get(acc.domain, {}))) or 'none'}",
                    request=request,
                    data={"expression": expression, "name": qualified, "guarded": safe},
                )
                continue
            if safe:
                continue
            prefix = acc.domain + "/"
            reached = lacking = 0
            for k, dev in enumerate(self.devices):
                if candidates is not None and not candidates[k]:
                    continue
                names = dev.attributes if acc.field == "attributes" else dev.capacity
                if qualified in names:
                    reached += 1
                elif candidates is not None or dev.driver == acc.domain or any(q.startswith(prefix) for q in names):
                    # a request selector sees every device its class admits; a class selector
                    # is charged only for the devices of that domain (others are usually guarded
                    # by a driver check, and real failures show up as cel-runtime-error)
                    reached += 1
                    lacking += 1
            if lacking:
                self.add(
                    WARNING,
                    "unguarded-attribute",
                    f"{label} reads {what} {qualified} without a guard; {lacking} of the {reached} "
                    "devices it is evaluated on lack it",
                    obj,
                    hint=f'guard it: has(device.{acc.field}["{acc.domain}"].{acc.ident}) && … or .?{acc.ident}.orValue(…)',
                    request=request,
                    data={"expression": expression, "name": qualified, "lacking": lacking, "evaluatedOn": reached},
                )

    def runtime_errors(self, errors: dict[int, tuple[int, str]], selectors: list[str], obj: str, label_of, request: str | None) -> None:
        grouped: dict[tuple[int, str], list[int]] = {}
        for k, err in errors.items():
            grouped.setdefault(err, []).append(k)
        for (i, error), devs in grouped.items():
            first = self.devices[devs[0]]
            self.add(
                ERROR,
                "cel-runtime-error",
                f"{label_of(i)} fails on {len(devs)} device(s), e.g. {first.id}: CEL runtime error: {error}",
                obj,
                hint="kube-scheduler aborts scheduling when it evaluates this; guard optional fields with has() or .?x.orValue()",
                request=request,
                data={"expression": selectors[i], "error": error, "devices": [self.devices[k].id for k in devs]},
            )

    # -------------------------------------------------------------- objects

    def device_class(self, cls: DeviceClass) -> None:
        obj = f"DeviceClass {cls.name}"
        for i, expression in enumerate(cls.selectors):
            self.expression(expression, obj, f"selector #{i}", None, None)
        admitted, errors = self.admitted(cls.selectors)
        self.runtime_errors(errors, cls.selectors, obj, lambda i: f"selector #{i}", None)
        if self.devices and not any(admitted):
            self.add(
                WARNING,
                "class-matches-nothing",
                f"DeviceClass {cls.name} selects no published device (drivers: {', '.join(self.published.drivers)})",
                obj,
                hint="is the driver installed and publishing ResourceSlices?",
                data={"selectors": list(cls.selectors)},
            )

    def spec(self, spec: ClaimSpec, obj: str) -> None:
        """Findings for one claim or template. The analysis depends on the spec's requests and
        constraints only; the object name is a label, so equal specs share one analysis."""
        key = repr((spec.requests, spec.constraints))
        known = self._by_spec.get(key)
        if known is not None:
            self.findings.extend(replace(f, object=obj, data=dict(f.data)) for f in known)
            return
        start = len(self.findings)
        self._analyse_spec(spec, obj)
        self._by_spec[key] = self.findings[start:]

    def _analyse_spec(self, spec: ClaimSpec, obj: str) -> None:
        per_request: dict[str, list[bool]] = {}
        for request in spec.requests:
            subs = [request.exactly] if request.exactly is not None else list(request.first_available)
            for sub in subs:
                name = request.name if request.exactly is not None else f"{request.name}/{sub.name}"
                matched = self.sub_request(sub, name, obj)
                if matched is not None:
                    per_request[name] = matched
        for i, constraint in enumerate(spec.constraints):
            attr = constraint.match_attribute or constraint.distinct_attribute
            if not attr:
                continue
            covered = [
                v for k, v in per_request.items() if not constraint.requests or k in constraint.requests or k.split("/")[0] in constraint.requests
            ]
            candidates = [k for k in range(len(self.devices)) if any(m[k] for m in covered)]
            if not candidates:
                continue
            lacking = [k for k in candidates if attr not in self.devices[k].attributes]
            if lacking:
                kind = "matchAttribute" if constraint.match_attribute else "distinctAttribute"
                self.add(
                    ERROR if len(lacking) == len(candidates) else WARNING,
                    "constraint-attribute-missing",
                    f"constraint #{i} ({kind} {attr}): {len(lacking)} of {len(candidates)} candidate devices lack the attribute, "
                    "and a device without it never satisfies the constraint",
                    obj,
                    hint="use an attribute every candidate publishes (see `kubectl dra attributes`)",
                    data={"attribute": attr, "lacking": [self.devices[k].id for k in lacking], "candidates": len(candidates)},
                )

    def sub_request(self, sub: SubRequest, name: str, obj: str) -> list[bool] | None:
        cls = self.classes.get(sub.device_class)
        if cls is None:
            self.add(
                ERROR,
                "class-missing",
                f"request {name}: device class {sub.device_class} does not exist",
                obj,
                hint=f"known classes: {', '.join(sorted(self.classes)) or 'none'}",
                request=name,
                data={"deviceClass": sub.device_class},
            )
            return None
        admitted, _ = self.admitted(cls.selectors)
        for i, expression in enumerate(sub.selectors):
            self.expression(expression, obj, f"request {name} selector #{i}", name, admitted)
        matched, errors = self.admitted(sub.selectors, admitted)
        self.runtime_errors(errors, sub.selectors, obj, lambda i: f"request {name} selector #{i}", name)
        if self.devices and not any(matched):
            miss = self.nearest_miss(sub.selectors, admitted)
            self.add(
                WARNING,
                "request-matches-nothing",
                f"request {name}: no published device matches class {cls.name} and the request's selectors",
                obj,
                request=name,
                hint=None if miss is None else f"selector #{miss['selector']}: {miss['text']}",
                data={"deviceClass": cls.name, "selectors": list(sub.selectors),
                      **({"nearestMiss": miss} if miss else {})},
            )
        elif sub.allocation_mode == "ExactCount" and sub.count > 1:
            per_node: Counter[str] = Counter()
            shared = 0
            for k, ok in enumerate(matched):
                if not ok:
                    continue
                dev = self.devices[k]
                if dev.node_name:
                    per_node[dev.node_name] += 1
                else:
                    shared += 1
            best_node, best = per_node.most_common(1)[0] if per_node else ("", 0)
            if best + shared < sub.count:
                self.add(
                    ERROR,
                    "request-exceeds-node",
                    f"request {name} wants {sub.count} devices, but no node offers more than {best + shared} matching ones"
                    + (f" ({best_node})" if best_node else ""),
                    obj,
                    hint="lower the count, or split the work across pods",
                    request=name,
                    data={"count": sub.count, "maxPerNode": best + shared, "node": best_node or None},
                )
        return matched


def lint(cluster: Cluster, objects: Iterable[Any] | None = None) -> list[Finding]:
    """Findings for ``objects`` (DeviceClass, Claim, ClaimTemplate), default every class, claim and template."""
    from kubectl_dra.model.claim import Claim, ClaimTemplate

    linter = _Linter(cluster)
    items = list(objects) if objects is not None else [*cluster.classes, *cluster.templates, *cluster.claims]
    for item in items:
        if isinstance(item, DeviceClass):
            linter.device_class(item)
        elif isinstance(item, ClaimTemplate):
            linter.spec(item.spec, f"ResourceClaimTemplate {item.ref}")
        elif isinstance(item, Claim):
            linter.spec(item.spec, f"ResourceClaim {item.ref}")
    return linter.findings
