"""Why not: per-request funnels and node-level reasons (dra-api.md §5.11).

The scheduler only says ``cannot allocate all claims``. For each node and (sub)request this
module counts the devices left after each stage — visible on the node → admitted by the
DeviceClass → each request selector → free (not held by other claims, counters, capacity,
taints) → satisfying the claim's constraints — and turns the first stage that leaves fewer
devices than needed into a reason with a code, a message and data. When every request fits on
its own, the failure is a combination: a constraint that cannot hold across the devices, or
requests (of one claim or several) competing for the same devices.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from kubectl_dra.alloc import reasons as R
from kubectl_dra.alloc.constraints import lookup
from kubectl_dra.alloc.pools import Entry, NodePool, NodeView
from kubectl_dra.alloc.prepare import PreparedClaim, ReqSpec
from kubectl_dra.alloc.reasons import Reason
from kubectl_dra.alloc.result import Funnel, Stage
from kubectl_dra.alloc.search import Checker, Outcome, cel_error_reason
from kubectl_dra.alloc.selection import MATCH
from kubectl_dra.alloc.taints import describe, untolerated
from kubectl_dra.model.device import implied_kind


def _usable(view: NodeView) -> list[tuple[NodePool, Entry]]:
    return [(p, e) for p in view.pools if p.usable for e in p.entries if e.index not in p.mismatch]


def _applies(constraint_requests: list[str], spec: ReqSpec) -> bool:
    return not constraint_requests or spec.base in constraint_requests or spec.name in constraint_requests


def funnel(view: NodeView, pc: PreparedClaim, spec: ReqSpec, checker: Checker, usable: list[tuple[NodePool, Entry]]) -> Funnel:
    sel = spec.selection
    nc = len(sel.class_selectors)
    f = Funnel(pc.ref, spec.name, None if spec.all_mode else spec.count)
    f.stages.append(Stage("visible", len(usable), "visible on node"))
    get_outcome = sel.outcome.get
    outcomes = [get_outcome(e.index, MATCH) for _, e in usable]
    if sel.errors:
        get_error = sel.errors.get
        errors = [err for _, e in usable if (err := get_error(e.index)) is not None]
    else:
        errors = []
    for i, expression in enumerate(sel.selectors):
        passed = sum(1 for o in outcomes if o == MATCH or o > i)
        failed_errors = sum(1 for err in errors if err[0] == i)
        if i < nc:
            label = f"class {sel.class_name}" + (f" selector #{i}" if nc > 1 else "")
            f.stages.append(Stage("class", passed, label, expression, failed_errors))
        else:
            f.stages.append(Stage("selector", passed, f"selector #{i - nc}", expression, failed_errors))
    if not sel.selectors:
        f.stages.append(Stage("class", len(usable), f"class {sel.class_name}"))
    free: list[Entry] = []
    blocked: dict[str, int] = {}
    entries: dict[str, list[Entry]] = {}
    holders: dict[str, int] = {}
    held = checker.state.holders
    blocker = checker.blockers(spec)
    for (_, entry), o in zip(usable, outcomes):
        if o != MATCH:
            continue
        why = blocker(entry)
        if why is None:
            free.append(entry)
            continue
        if why in blocked:
            blocked[why] += 1
            entries[why].append(entry)
        else:
            blocked[why] = 1
            entries[why] = [entry]
        if why == "in-use":
            for ref in held.get(entry.key, ()):
                holders[ref] = holders.get(ref, 0) + 1
    f.stages.append(Stage("free", len(free), "free"))
    f.blocked = blocked
    f.blocked_entries = entries
    f.in_use_by = holders
    applicable = [c for c in pc.constraints if _applies(c.requests, spec) and (c.match_attribute or c.distinct_attribute)]
    if applicable:
        f.stages.append(Stage("constraints", _constrained(free, applicable), "constraints"))
    f.in_unusable_pools = sum(
        1 for p in view.pools if not p.usable for e in p.entries if sel.outcome.get(e.index) == MATCH
    )
    return f


def _constrained(free: list[Entry], constraints: list) -> int:
    """Free devices that have every constrained attribute and, for matchAttribute, its most common value."""
    names = [c.match_attribute or c.distinct_attribute for c in constraints]
    if len(names) == 1:
        only = names[0]
        have = [e for e in free if only in e.device.attributes]
    else:
        have = [e for e in free if all(name in e.device.attributes for name in names)]
    for c in constraints:
        name = c.match_attribute
        if not name or not have:
            continue
        groups: dict = {}
        if "/" not in name:  # lookup() finds nothing: one group
            groups[_hashable(None)] = have
        else:
            for e in have:
                # lookup(e.device, name) inlined: every device in ``have`` has the attribute
                dev = e.device
                value = dev.attributes[name]
                kinds = dev.attribute_kinds
                kind = kinds[name] if kinds and name in kinds else implied_kind(value)
                key = (kind or "unknown", tuple(value) if isinstance(value, list) else value)
                have_k = groups.get(key)
                if have_k is None:
                    groups[key] = [e]
                else:
                    have_k.append(e)
        have = max(groups.values(), key=len)
    return len(have)


def _hashable(attr: tuple | None) -> tuple:
    if attr is None:
        return ("", None)
    kind, value = attr
    return (kind, tuple(value) if isinstance(value, list) else value)


def funnels(view: NodeView, claims: list[PreparedClaim], checker: Checker, outcome: Outcome | None) -> list[Funnel]:
    usable = _usable(view)
    out = []
    for pc in claims:
        chosen: dict[str, int] = {}
        for r in outcome.results[pc.index] if outcome and outcome.success else ():
            chosen[r.request] = chosen.get(r.request, 0) + 1
        for spec in pc.specs():
            f = funnel(view, pc, spec, checker, usable)
            f.chosen = chosen.get(spec.name, 0)
            out.append(f)
    return out


# ---------------------------------------------------------------------- reasons


def class_drivers(spec: ReqSpec, entries: Iterable[Entry], known_drivers: set[str]) -> set[str]:
    """Drivers whose devices the request's class admits: seen admitted, or named in the class selectors."""
    sel = spec.selection
    nc = len(sel.class_selectors)
    drivers = {e.device.driver for e in entries if (o := sel.outcome.get(e.index)) is not None and (o == MATCH or o >= nc)}
    text = " ".join(sel.class_selectors)
    drivers.update(d for d in known_drivers if f"'{d}'" in text or f'"{d}"' in text)
    return drivers


def _short(expression: str | None, width: int = 80) -> str:
    text = " ".join((expression or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def request_reasons(
    view: NodeView,
    pc: PreparedClaim,
    spec: ReqSpec,
    f: Funnel,
    checker: Checker,
    drivers: set[str],
) -> list[Reason]:
    """Why one (sub)request cannot be satisfied on the node on its own; [] if it can."""
    node = view.node.name
    claim, request = pc.ref, spec.name
    matching = f.matching
    needed = f.needed if f.needed is not None else max(matching, 1)
    out: list[Reason] = []
    if matching < needed:
        if f.in_unusable_pools:
            out.extend(_pool_reasons(view, spec, claim))
        node_drivers = sorted({e.device.driver for p in view.pools for e in p.entries})
        if not any(d in drivers for d in node_drivers):
            if not node_drivers:
                msg = f"no ResourceSlice publishes devices for node {node}"
            elif drivers:
                msg = (
                    f"no driver publishes devices for class {spec.device_class.name} on node {node} "
                    f"(the class selects devices of {', '.join(sorted(drivers))}; the node has devices of {', '.join(node_drivers)})"
                )
            else:
                msg = (
                    f"no published device matches class {spec.device_class.name} anywhere; "
                    f"node {node} has devices of {', '.join(node_drivers)}"
                )
            out.append(
                Reason(
                    R.NO_DRIVER,
                    msg,
                    claim=claim,
                    request=request,
                    data={"deviceClass": spec.device_class.name, "classDrivers": sorted(drivers), "nodeDrivers": node_drivers},
                )
            )
        else:
            worst = f.worst_stage()
            stages = [s for s in f.stages if s.stage in ("class", "selector")]
            detail = ", ".join(f"{s.label}: {s.count}" for s in stages)
            what = f"only {matching} of the {needed} devices needed match" if matching else "no device matches"
            if f.needed is None:
                what = "no device matches (allocationMode All needs at least one)"
            hint = None
            if worst is not None and worst.stage == "selector":
                hint = f"{worst.label} `{_short(worst.expression)}` rejects the most devices"
            elif worst is not None:
                hint = f"{worst.label} `{_short(worst.expression)}` rejects the most devices: is it the right class?"
            out.append(
                Reason(
                    R.NO_MATCH,
                    f"request {request}: {what} on node {node} (visible: {f.visible}, {detail})",
                    claim=claim,
                    request=request,
                    hint=hint,
                    data={
                        "needed": f.needed if f.needed is not None else "all",
                        "matching": matching,
                        "visible": f.visible,
                        "stages": [s.to_dict() for s in f.stages],
                        "rejectsMost": worst.label if worst else None,
                        "expression": worst.expression if worst else None,
                    },
                )
            )
        return out
    free = f.free
    if f.needed is None:
        needed = matching  # All: every matching device must be usable
    if free < needed:
        out.extend(_blocked_reasons(view, pc, spec, f, checker, needed))
        return out
    if f.count("constraints") < needed and any(s.stage == "constraints" for s in f.stages):
        out.append(_constraint_reason(view, pc, [spec], checker, needed))
    return out


def _blocked_reasons(view: NodeView, pc: PreparedClaim, spec: ReqSpec, f: Funnel, checker: Checker, needed: int) -> list[Reason]:
    node = view.node.name
    claim, request = pc.ref, spec.name
    state = checker.state
    # the selected devices of the usable pools (as _usable), grouped by what blocks them: as the funnel found them
    by_blocker = f.blocked_entries if f.blocked_entries is not None else _blocked_entries(view, spec, checker)
    matching, free = f.matching, f.free
    head = f"request {request}: {matching} devices match on node {node} but only {free} are free, {needed} needed"
    out: list[Reason] = []
    held = by_blocker.get("in-use", [])
    if held:
        held_by = state.holders
        claims: dict[str, int] = {}
        for e in held:
            for ref in held_by.get(e.key, ()):
                claims[ref] = claims.get(ref, 0) + 1
        pods = {ref: state.pods.get(ref, []) for ref in claims}
        who = ", ".join(
            f"{ref} ({n}" + (f", pod {', '.join(pods[ref])})" if pods[ref] else ")")
            for ref, n in sorted(claims.items(), key=itemgetter(1), reverse=True)  # Counter.most_common()
        )
        out.append(
            Reason(
                R.IN_USE,
                f"{head}: {len(held)} allocated to {who}",
                claim=claim,
                request=request,
                data={
                    "needed": needed,
                    "matching": matching,
                    "free": free,
                    "claims": dict(claims),
                    "pods": pods,
                    "devices": [e.id for e in held],
                },
            )
        )
    counters = by_blocker.get("counters", []) + by_blocker.get("partitionable", [])
    if counters:
        users: dict[str, list[str]] = {}
        holders: set[str] = set()
        for e in counters:
            sets = {str(c.get("counterSet", "")) for c in e.device.consumes_counters}
            for set_name, devs in e.pool.counter_users(state).items():
                if set_name not in sets:
                    continue
                names = users.setdefault(f"{e.pool.id}/{set_name}", [])
                for d in devs:
                    if d not in names:
                        names.append(d)
                    key = (e.pool.driver, e.pool.name, d)
                    holders.update(state.holders.get(key, ()), state.sharers.get(key, ()))
        text = "; ".join(f"{k} used by {', '.join(v)}" for k, v in users.items()) or "counters disabled"
        out.append(
            Reason(
                R.COUNTERS_EXHAUSTED,
                f"{head}: {len(counters)} share counters with allocated devices ({text})",
                claim=claim,
                request=request,
                data={"devices": [e.id for e in counters], "counterUsers": users, "claims": sorted(holders)},
            )
        )
    cap = by_blocker.get("capacity", [])
    if cap:
        first = cap[0]
        from kubectl_dra.alloc.capacity import fits

        why = fits(spec.capacity_requests, first.device, state.consumed.get(first.key), None)
        out.append(
            Reason(
                R.CAPACITY_EXHAUSTED,
                f"{head}: {len(cap)} lack capacity ({first.id}: {why})",
                claim=claim,
                request=request,
                data={"devices": [e.id for e in cap], "sharers": {e.id: state.sharers.get(e.key, []) for e in cap}},
            )
        )
    tainted = by_blocker.get("tainted", [])
    if tainted:
        taints = sorted({describe(t) for e in tainted for t in untolerated(e.taints, spec.tolerations)})
        rules = sorted({t["rule"] for e in tainted for t in e.taints if isinstance(t, dict) and t.get("rule")})
        out.append(
            Reason(
                R.TAINTED,
                f"{head}: {len(tainted)} have untolerated taints ({', '.join(taints)})",
                claim=claim,
                request=request,
                hint="add a matching toleration to the request if the devices may be used despite the taint",
                data={"devices": [e.id for e in tainted], "taints": taints, "taintRules": rules},
            )
        )
    binding = by_blocker.get("binding-conditions", [])
    if binding:
        out.append(
            Reason(
                R.BINDING_CONDITIONS,
                f"{head}: {len(binding)} need binding conditions, but DRADeviceBindingConditions is off",
                claim=claim,
                request=request,
                data={"devices": [e.id for e in binding]},
            )
        )
    return out


def _blocked_entries(view: NodeView, spec: ReqSpec, checker: Checker) -> dict[str, list[Entry]]:
    """The selected devices of the node's usable pools that cannot be picked, by why (``Checker.blocker``)."""
    get_outcome = spec.selection.outcome.get
    by_blocker: dict[str, list[Entry]] = {}
    blocker = checker.blockers(spec)
    for p in view.pools:
        if not p.usable:
            continue
        mismatch = p.mismatch
        for e in p.entries:
            if get_outcome(e.index) != MATCH or (mismatch and e.index in mismatch):
                continue
            why = blocker(e)
            if why is not None:
                have = by_blocker.get(why)
                if have is None:
                    by_blocker[why] = [e]
                else:
                    have.append(e)
    return by_blocker


def _pool_reasons(view: NodeView, spec: ReqSpec, claim: str) -> list[Reason]:
    out = []
    for p in view.pools:
        if p.usable or not any(spec.selection.outcome.get(e.index) == MATCH for e in p.entries):
            continue
        if p.incomplete:
            out.append(
                Reason(
                    R.POOL_INCOMPLETE,
                    f"pool {p.id} is incomplete ({p.present} of {p.wanted} slices of generation {p.generation}): "
                    "its devices are not used until the driver finishes publishing",
                    claim=claim,
                    request=spec.name,
                    data={"pool": p.id, "present": p.present, "resourceSliceCount": p.wanted, "generation": p.generation},
                )
            )
        else:
            out.append(
                Reason(
                    R.POOL_INVALID,
                    f"invalid resource pools were encountered: pool {p.id}: {p.invalid}",
                    claim=claim,
                    request=spec.name,
                    data={"pool": p.id, "problem": p.invalid},
                )
            )
    return out


def _constraint_reason(view: NodeView, pc: PreparedClaim, specs: list[ReqSpec], checker: Checker, needed: int) -> Reason:
    """Describe each constraint of the claim by the values the free candidate devices offer."""
    usable = _usable(view)
    details = []
    data: dict = {"constraints": []}
    for c in pc.constraints:
        attr = c.match_attribute or c.distinct_attribute
        if not attr:
            continue
        covered = [s for s in specs if _applies(c.requests, s)] or [s for s in pc.specs() if _applies(c.requests, s)]
        free = {e.index: e for s in covered for _, e in usable if checker.blocker(s, e) is None}
        values: Counter = Counter()
        missing = 0
        for e in free.values():
            a = lookup(e.device, attr)
            if a is None:
                missing += 1
            else:
                values[str(a[1])] += 1
        kind = "matchAttribute" if c.match_attribute else "distinctAttribute"
        data["constraints"].append({kind: attr, "requests": c.requests, "values": dict(values), "withoutAttribute": missing})
        shown = ", ".join(f"{v} ×{n}" for v, n in values.most_common(6)) or "none"
        details.append(f"{kind} {attr}: free devices offer {shown}" + (f"; {missing} lack the attribute" if missing else ""))
    data["needed"] = needed
    single = specs[0].name if len(specs) == 1 else None
    who = f"request {single}" if single else f"claim {pc.ref}"
    return Reason(
        R.CONSTRAINT_UNSATISFIABLE,
        f"{who}: no combination of free devices on node {view.node.name} satisfies the claim's constraints ("
        + "; ".join(details)
        + ")",
        claim=pc.ref,
        request=single,
        data=data,
    )


def why_not(
    view: NodeView,
    claims: list[PreparedClaim],
    fs: list[Funnel],
    checker: Checker,
    drivers_of: Any,
) -> list[Reason]:
    """Reasons for a failed search on this node (no fatal error, budget not exhausted).

    ``drivers_of``: id(selection) -> drivers its class admits (see ``class_drivers``), read with ``get``
    (a dict, or the simulator's lazily computed one).
    """
    out: list[Reason] = []
    by_key = {(f.claim, f.request): f for f in fs}
    failing_any = False
    for pc in claims:
        for alts, is_first in zip(pc.requests, pc.first_available):
            alt_reasons = []
            for spec in alts:
                f = by_key[(pc.ref, spec.name)]
                found = request_reasons(view, pc, spec, f, checker, drivers_of.get(id(spec.selection), set()))
                alt_reasons.append(found)
            if alts and all(alt_reasons):
                failing_any = True
                for found in alt_reasons:
                    out.extend(found)
    if failing_any:
        return _dedupe(out)
    for pc in claims:
        if pc.constraints:
            needed = sum(s.count for alts in pc.requests for s in alts[:1] if not s.all_mode)
            out.append(_constraint_reason(view, pc, pc.specs(), checker, needed))
    if out:
        return out
    usable = _usable(view)
    specs = [s for pc in claims for s in pc.specs()]
    free = {e.index: e for s in specs for _, e in usable if checker.blocker(s, e) is None}
    wants = []
    for pc in claims:
        for alts in pc.requests:
            if not alts:
                continue
            spec = alts[0]
            f = by_key[(pc.ref, spec.name)]
            amount = f"all {f.matching}" if spec.all_mode else str(spec.count)
            wants.append(f"{pc.ref} {spec.name}: {amount}")
    partitions = any(e.device.consumes_counters for e in free.values())
    out.append(
        Reason(
            R.REQUESTS_CONFLICT,
            f"each request fits on node {view.node.name} on its own, but not all together ({'; '.join(wants)}); "
            f"{len(free)} distinct free devices match any of them"
            + (" and partitions of one device share its counters" if partitions else ""),
            data={"requests": wants, "freeDistinct": len(free), "free": [e.id for e in free.values()]},
        )
    )
    return out


def _dedupe(found: list[Reason]) -> list[Reason]:
    seen: set[str] = set()
    out = []
    for r in found:
        if r.message not in seen:
            seen.add(r.message)
            out.append(r)
    return out


def cel_errors(view: NodeView, claims: list[PreparedClaim], reached: set[tuple[int, int]], skip: set[str]) -> list[Reason]:
    """One reason per (selection, selector, error) with CEL runtime errors on this node's devices."""
    out: list[Reason] = []
    seen: set[int] = set()
    if not any(spec.selection.errors for pc in claims for spec in pc.specs()):
        return out
    usable = _usable(view)
    for pc in claims:
        for spec in pc.specs():
            sel = spec.selection
            if id(sel) in seen or not sel.errors:
                continue
            seen.add(id(sel))
            groups: dict[tuple[int, str], list[Entry]] = {}
            for _, e in usable:
                err = sel.errors.get(e.index)
                if err is not None:
                    groups.setdefault(err, []).append(e)
            for (index, error), entries in groups.items():
                hit = any((id(sel), e.index) in reached for e in entries)
                first = next((e for e in entries if (id(sel), e.index) in reached), entries[0])
                reason = cel_error_reason(pc.ref, spec, first, index, error, R.ERROR if hit else R.WARNING, len(entries))
                if reason.message in skip:
                    continue
                reason.data["reached"] = hit
                reason.data["allDevices"] = [e.id for e in entries]
                if not hit:
                    reason.message += f" ({len(entries)} device(s); the search did not reach them on this node)"
                out.append(reason)
    return out


# ---------------------------------------------------------------------- across nodes
#
# A node's reasons say what went wrong there; some answers need every node: which node got
# furthest (the one worth detailing), the nearest miss of a selector over all devices the class
# admits ("largest gpu.nvidia.com memory: 79.6Gi on dgx-h100-01"), and hints another node disproves
# (on one node the class admits nothing, but on another it admits enough and the selector rejects
# them all: "is it the right class?" is then the wrong question).

import re as _re

from kubectl_dra.lazyre import Pattern as _Pattern

_Q = r"""["']([^"'\\]+)["']"""
_CAPACITY_CMP = _Pattern(
    rf"device\.capacity\[\s*{_Q}\s*\]\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*{_Q}\s*\])\s*\.\s*"
    rf"(?:compareTo\(\s*quantity\(\s*{_Q}\s*\)\s*\)\s*(>=|>|<=|<)\s*0|(isGreaterThan|isLessThan)\(\s*quantity\(\s*{_Q}\s*\)\s*\))")
_ATTRIBUTE_CMP = _Pattern(
    rf"device\.attributes\[\s*{_Q}\s*\]\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*{_Q}\s*\])\s*(>=|>|<=|<)\s*(-?[0-9]+)(?![0-9.])")


def thresholds(expression: str) -> list[tuple[str, str, str, str]]:
    """(place, qualified name, op, value) of every capacity or int comparison with a constant in a selector."""
    out = []
    for m in _CAPACITY_CMP.finditer(expression or ""):
        domain, ident = m.group(1), m.group(2) or m.group(3)
        if m.group(5):
            op, value = m.group(5), m.group(4)
        else:
            op, value = (">" if m.group(6) == "isGreaterThan" else "<"), m.group(7)
        out.append(("capacity", f"{domain}/{ident}", op, value))
    for m in _ATTRIBUTE_CMP.finditer(expression or ""):
        out.append(("attribute", f"{m.group(1)}/{m.group(2) or m.group(3)}", m.group(4), m.group(5)))
    return out


def nearest_miss(spec: ReqSpec, entries: Iterable[Entry], selector: int) -> dict | None:
    """Over every device that passes the class and the selectors before ``selector`` but fails it: the
    value closest to the selector's threshold, e.g. the largest memory for ``memory >= 200Gi``."""
    sel = spec.selection
    if selector >= len(sel.selectors):
        return None
    devices = [e.device for e in entries if sel.outcome.get(e.index) == selector]
    return closest_miss(sel.selectors[selector], devices)


def closest_miss(expression: str, devices: Iterable) -> dict | None:
    """Among ``devices`` (that ``expression`` rejects), the value closest to its one threshold:
    ``{"text": "largest gpu.nvidia.com memory: 80Gi on a100-mig-01 (the selector asks for >= 200Gi)", …}``;
    None when the expression has no single threshold or no device publishes the value."""
    from kubectl_dra.filter.nearmiss import threshold_miss
    from kubectl_dra.model.quantity import Quantity, QuantityError
    from kubectl_dra.render.devices import human_quantity

    found = thresholds(expression)
    if len(found) != 1:
        return None  # none, or several: which one failed is not known
    place, name, op, wanted = found[0]
    try:
        target = Quantity.parse(wanted).value if place == "capacity" else int(wanted)
    except (QuantityError, ValueError):
        return None

    def value_of(device):
        raw = (device.capacity if place == "capacity" else device.attributes).get(name)
        if raw is None:
            return None
        if place == "capacity":
            try:
                return Quantity.parse(raw).value
            except (QuantityError, TypeError):
                return None
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else None

    def shown_of(device):
        raw = (device.capacity if place == "capacity" else device.attributes).get(name)
        return human_quantity(raw) if place == "capacity" else str(raw)

    domain, _, ident = name.rpartition("/")
    # the one near-miss engine (filter.nearmiss); the selector rejected all of them: the closest count
    miss = threshold_miss(list(devices), value_of, shown_of, name=ident, op=op, threshold=wanted,
                          kind="quantity" if place == "capacity" else "int", wanted=target, nothing_matched=True)
    if miss is None:
        return None
    device = miss.devices[0]
    raw = (device.capacity if place == "capacity" else device.attributes).get(name)
    shown = shown_of(device)
    word = "largest" if op in (">", ">=") else "smallest"
    text = f"{word} {domain} {ident}: {shown} on {device.node_label} (the selector asks for {op} {wanted})"
    if miss.near and miss.suggestion:
        text += f"; {miss.count} device{'s' if miss.count != 1 else ''} within 5 %: {op} {miss.suggestion} would admit them"
    return {
        "name": name, "op": op, "wanted": wanted, "value": raw, "shown": shown,
        "node": device.node_label, "device": device.id, "near": miss.near, "count": miss.count,
        "suggestion": miss.suggestion, "groups": [g.__dict__ for g in miss.groups], "text": text,
    }


def cross_node(nodes: list, prepared: list[PreparedClaim], entries: list[Entry]) -> None:
    """Fill in what needs every node (see above) on the nodes' NO_MATCH reasons, in place:
    ``data["nearestMiss"]`` and a hint that names it; a class hint that another node disproves is replaced."""
    specs = {(pc.ref, spec.name): spec for pc in prepared for spec in pc.specs()}
    funnels: dict[tuple[str, str], list[Funnel]] = {}
    for n in nodes:
        for f in n.funnels:
            funnels.setdefault((f.claim, f.request), []).append(f)
    cache: dict[tuple[str, str, int], dict | None] = {}
    for n in nodes:
        for reason in n.reasons:
            if reason.code != R.NO_MATCH or (reason.claim, reason.request) not in specs:
                continue
            spec = specs[(reason.claim, reason.request)]
            nc = len(spec.selection.class_selectors)
            needed = reason.data.get("needed")
            needed = 1 if not isinstance(needed, int) else max(needed, 1)
            # the class admits enough devices on some node: the class is not what fails
            class_ok = any(f.count("class") >= needed for f in funnels.get((reason.claim, reason.request), [])
                           if any(s.stage == "class" for s in f.stages))
            stages = reason.data.get("stages") or []
            failing = next((i - 1 for i, s in enumerate(stages) if s.get("stage") in ("class", "selector")
                            and s.get("count", 0) < needed), None)
            selector = None
            if failing is not None and failing >= nc:
                selector = failing
            elif class_ok:
                # the first request selector that leaves fewer than needed on the best node
                selector = _failing_selector(funnels.get((reason.claim, reason.request), []), nc, needed)
            miss = None
            if selector is not None:
                key = (reason.claim, reason.request, selector)
                if key not in cache:
                    found = nearest_miss(spec, entries, selector)
                    cache[key] = None if found is None else {"selector": selector - nc, **found}
                miss = cache[key]
            if miss is not None:
                reason.data["nearestMiss"] = miss
            if class_ok and reason.hint and reason.hint.endswith("is it the right class?"):
                reason.data["classHintDisproved"] = True
                reason.hint = None
            if miss is not None:
                reason.hint = f"selector #{selector - nc}: {miss['text']}"
            elif reason.data.get("classHintDisproved") and selector is not None:
                expression = spec.selection.selectors[selector]
                reason.hint = (f"selector #{selector - nc} `{_short(expression)}` rejects the devices the class admits "
                               "(the class admits enough on other nodes)")


def _failing_selector(fs: list[Funnel], nc: int, needed: int) -> int | None:
    best = None
    for f in fs:
        stages = [s for s in f.stages if s.stage in ("class", "selector")]
        if not stages or stages[min(nc, len(stages)) - 1].count < needed:
            continue
        for i, s in enumerate(stages):
            if i >= nc and s.count < needed:
                best = i if best is None else min(best, i)
                break
    return best


def progress(node: dict) -> tuple:
    """How far a node (NodeResult.to_dict()) got through its funnels: for detailing the node of a group
    of equally failing nodes that came closest, not the first by name.  Larger is further."""
    keys = []
    for funnel in node.get("funnels") or []:
        needed = funnel.get("needed")
        # "all" (allocationMode All) or absent: at least one device must get through, as in cross_node
        needed = max(needed, 1) if isinstance(needed, int) and not isinstance(needed, bool) else 1
        counts = [s.get("count", 0) for s in funnel.get("stages", [])]
        passed = len(counts)
        for i, c in enumerate(counts):
            if c < needed:
                passed = i
                break
        # then the counts from the stage that failed back to the first: more devices got further
        back = counts[passed::-1]
        keys.append((passed, tuple([c if c < needed else needed for c in back]), tuple(back)))
    if not keys:
        return ((0, (), ()),)
    if len(keys) > 1:
        keys.sort()
    return tuple(keys)  # the worst funnel first: a node is as far as its weakest request


def furthest(group: list[dict]) -> dict:
    """The node of ``group`` (NodeResult dicts) that got furthest; ties keep the first (by name)."""
    best = group[0]
    best_progress = progress(best)
    for n in group[1:]:
        got = progress(n)
        if got > best_progress:
            best, best_progress = n, got
    return best
