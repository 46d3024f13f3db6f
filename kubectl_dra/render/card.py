"""`show`: everything about one device, as a readable card."""

from __future__ import annotations

from typing import Any

from kubectl_dra.model.cluster import Cluster, DeviceView, counters_left
from kubectl_dra.model.slices import Pool
from kubectl_dra.render.columns import format_table, strip_controls
from kubectl_dra.render.devices import consumed_capacity, device_type, human_quantity, product, short_driver


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return strip_controls(str(value))


def _section(title: str, body: str) -> str:
    indented = "".join("  " + line + "\n" if line else "\n" for line in body.rstrip("\n").split("\n"))
    return f"{title}:\n{indented}"


def device_card(view: DeviceView, cluster: Cluster) -> str:
    dev = view.device
    pool = next((p for p in cluster.pools if p.key == (dev.driver, dev.pool)), None)
    lines = [
        ("Device", dev.id),
        ("Node", dev.node_label),
        ("Driver", f"{dev.driver} ({short_driver(dev.driver)})" if short_driver(dev.driver) != dev.driver else dev.driver),
        ("Pool", _pool_text(pool, dev.pool)),
        ("Slice", dev.slice_name or "-"),
        ("Type", device_type(dev)),
        ("Product", product(dev)),
        ("Memory", human_quantity(dev.cap("memory"))),
        ("State", view.state + (f" (blocked by {', '.join(view.blocked_by)})" if view.blocked_by else "")),
    ]
    if dev.allow_multiple_allocations:
        used = consumed_capacity(view)
        usage = ", ".join(f"{name} {value} of {dev.capacity.get(name, '?')}" for name, value in used.items())
        lines.append(("Shareable", "yes (allowMultipleAllocations)" + (f"; claims use {usage}" if usage else "")))
    if dev.binding_conditions:
        lines.append(("Binding conditions", ", ".join(dev.binding_conditions)))
    width = max(len(k) for k, _ in lines) + 1
    text = "".join(f"{(k + ':').ljust(width)} {strip_controls(v)}\n" for k, v in lines)

    if view.holders or view.admin_holders:
        rows = []
        for holder in (*view.holders, *view.admin_holders):
            extra = []
            if holder.result.admin_access:
                extra.append("admin access")
            if holder.result.share_id:
                extra.append(f"share {holder.result.share_id}")
            if holder.result.consumed_capacity:
                extra.append("consumes " + ", ".join(f"{k}={v}" for k, v in holder.result.consumed_capacity.items()))
            rows.append(
                [
                    strip_controls(holder.claim.ref),
                    strip_controls(holder.result.request),
                    holder.claim.state,
                    strip_controls(",".join(holder.pods)) or "-",
                    strip_controls("; ".join(extra)) or "-",
                ]
            )
        text += "\n" + _section("Allocation", format_table(("CLAIM", "REQUEST", "CLAIM STATE", "PODS", "NOTES"), rows))

    attr_rows = [[strip_controls(k), dev.attr_kind(k) or "?", _value(v)] for k, v in sorted(dev.attributes.items())]
    text += "\n" + _section("Attributes", format_table(("NAME", "TYPE", "VALUE"), attr_rows) if attr_rows else "<none>")

    cap_rows = []
    for name, quantity in sorted(dev.capacity.items()):
        quantity = quantity or "-"
        policy = (dev.request_policies or {}).get(name)
        cap_rows.append([strip_controls(name), strip_controls(quantity), human_quantity(quantity), _policy_text(policy)])
    text += "\n" + _section(
        "Capacity", format_table(("NAME", "VALUE", "HUMAN", "REQUEST POLICY"), cap_rows) if cap_rows else "<none>"
    )

    if dev.consumes_counters:
        left = counters_left(pool, cluster.device_index())[0] if pool else {}
        counter_rows = []
        for entry in dev.consumes_counters:
            set_name = str(entry.get("counterSet", ""))
            totals = (pool.counter_sets.get(set_name) if pool else None) or {}
            for cname, counter in (entry.get("counters") or {}).items():
                value = counter.get("value") if isinstance(counter, dict) else counter
                remaining = left.get((set_name, cname))
                counter_rows.append(
                    [
                        strip_controls(set_name),
                        strip_controls(cname),
                        strip_controls(str(value)),
                        strip_controls(str(totals.get(cname, "?"))),
                        "?" if remaining is None else str(remaining),
                    ]
                )
        text += "\n" + _section(
            "Consumes counters", format_table(("COUNTER SET", "COUNTER", "CONSUMES", "SET TOTAL", "LEFT"), counter_rows)
        )

    if dev.taints:
        taint_rows = [
            [strip_controls(str(t.get("key", ""))), strip_controls(str(t.get("value", "") or "-")), str(t.get("effect", "")), str(t.get("timeAdded", "") or "-")]
            for t in dev.taints
        ]
        text += "\n" + _section("Taints", format_table(("KEY", "VALUE", "EFFECT", "ADDED"), taint_rows))
    return text


def _pool_text(pool: Pool | None, name: str) -> str:
    if pool is None:
        return name
    state = "complete" if pool.complete else f"INCOMPLETE ({len(pool.slices)}/{pool.slice_count} slices)"
    return f"{name} (generation {pool.generation}, {len(pool.slices)} slice(s), {state})"


def _policy_text(policy: Any) -> str:
    if not isinstance(policy, dict):
        return "-"
    parts = []
    if "default" in policy:
        parts.append(f"default {policy['default']}")
    if isinstance(policy.get("validRange"), dict):
        rng = policy["validRange"]
        parts.append("range " + "..".join(str(rng.get(k, "")) for k in ("min", "max")) + (f" step {rng['step']}" if rng.get("step") else ""))
    if isinstance(policy.get("validValues"), list):
        parts.append("values " + ",".join(str(v) for v in policy["validValues"]))
    return strip_controls("; ".join(parts)) or "-"
