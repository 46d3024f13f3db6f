"""The fleet drift report (``kubectl dra nvml --all-nodes``): one table, then what differs per node."""

from __future__ import annotations

from kubectl_dra.render.columns import format_table

MAX_LISTED = 6


def _few(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" (+{len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")


def _paint(text: str, style: str, color: bool) -> str:
    from kubectl_dra.render.nvml import _paint as paint

    return paint(text, style, color)


STATUS_STYLE = {"in-sync": "green", "drift": "red", "failed": "red"}


def fleet_text(report, *, color: bool = False) -> str:
    rows = []
    for n in report.nodes:
        if n.status == "failed":
            rows.append([n.node, "failed", n.via or "-", "-", "-", "-", "-", "-"])
            continue
        d = n.drift
        changed = len(d.changed) + len(d.removed_keys) + len(d.added_keys) + len(d.stale_mig)
        rows.append([n.node, n.status, n.via, str(n.gpus), str(len(d.missing)), str(len(d.extra)), str(changed),
                     str(len(n.health))])  # fmt: skip
    headers = ["NODE", "STATUS", "VIA", "GPUS", "MISSING", "EXTRA", "CHANGED", "HEALTH"]
    table = format_table(headers, rows, color=color, style=lambda col, cell: STATUS_STYLE.get(cell) if col == 1 else None)
    lines = [table.rstrip("\n")]
    for n in report.nodes:
        if n.status == "in-sync":
            continue
        lines.append("")
        if n.status == "failed":
            lines.append(f"{n.node}: {_paint('failed', 'red', color)}: {n.error}")
            if n.hint:
                lines.append(f"  hint: {n.hint}")
            continue
        d = n.drift
        lines.append(f"{n.node}: {_paint('drift', 'red', color)} (driver release {n.driver_release}, "
                     f"{'DynamicMIG' if n.dynamic_mig else 'static MIG'}{', partial NVML data' if n.partial else ''})")  # fmt: skip
        if d.missing:
            lines.append(f"  GPUs/MIG devices not in the slices: {_few(d.missing)}")
        if d.extra:
            lines.append(f"  slice devices with no GPU behind them: {_few(d.extra)}")
        for c in d.changed[:MAX_LISTED]:
            lines.append(f"  {c.device}: {c.kind} {c.key}: published {_value(c.old)}, NVML {_value(c.new)}")
        if len(d.changed) > MAX_LISTED:
            lines.append(f"  (+{len(d.changed) - MAX_LISTED} more changed values)")
        if d.removed_keys or d.added_keys:
            keys = sorted({k.key for k in d.removed_keys}) + sorted({k.key for k in d.added_keys})
            lines.append(f"  keys published by another driver release: {_few(keys)}")
        for s in d.stale_mig:
            lines.append(f"  stale MIG layout on {s.gpu_uuid}: published {', '.join(s.published) or '-'}; "
                         f"NVML {', '.join(s.actual) or '-'}")  # fmt: skip
        for h in n.health:
            lines.append(f"  health: {h}")
        for note in n.notes:
            lines.append(f"  note: {note}")
    summary = report.to_dict()["summary"]
    lines += ["", f"{summary['nodes']} nodes: {summary['inSync']} in sync, {summary['drift']} drifting, "
              f"{summary['failed']} could not be read"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _value(value) -> str:
    from kubectl_dra.render.nvml import _value as value_text

    return value_text(value)
