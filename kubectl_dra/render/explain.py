"""The text of `kubectl dra explain` (the report ``alloc.explain`` builds) and of `kubectl dra lint`."""

from __future__ import annotations

from kubectl_dra.alloc.severity import ERROR
from kubectl_dra.render.columns import strip_controls as sanitize


def _cut_short(node: dict) -> bool:
    return any(r.get("code") == "search-cut-short" for r in node.get("reasons", []))


def explain_text(data: dict) -> str:
    """The text report: verdict, claims, where it fits, and per node why not (with the funnel)."""
    lines: list[str] = []
    nodes = data.get("nodes", [])
    fits = [n for n in nodes if n.get("allocatable")]
    verdict = data.get("verdict", "?")
    subject = data.get("pod") or ", ".join(c["claim"] for c in data.get("claims", []))
    summary = {
        "allocatable": f"fits on {len(fits)} of {len(nodes)} node{'s' if len(nodes) != 1 else ''}",
        "allocated": "already allocated",
        "unallocatable": f"fits on none of {len(nodes)} node{'s' if len(nodes) != 1 else ''}",
        "error": "the scheduler would stop with an error",
        "undecided": (f"fits on none of the {sum(1 for n in nodes if not _cut_short(n))} nodes searched; "
                      f"{sum(1 for n in nodes if _cut_short(n))} not (fully) searched: the overall search budget ran out"),
    }.get(verdict, verdict)
    lines.append(f"verdict: {verdict}: {sanitize(subject)} {summary}")
    for claim in data.get("claims", []):
        lines.append(f"  claim {sanitize(claim['claim'])} ({claim['state']}): {sanitize('; '.join(claim.get('requests', [])))}")
    for reason in data.get("reasons", []):
        lines.append(f"  {reason['status'].lower()}: {sanitize(reason['message'])}")
        if reason.get("hint"):
            lines.append(f"    hint: {sanitize(reason['hint'])}")
    if fits:
        lines.append("")
        lines.append("fits on:")
        for n in fits:
            devices = ", ".join(f"{r['request']}={r['device']}" for r in n.get("results", []))
            lines.append(f"  {n['node']}: {sanitize(devices) or ('(already allocated)' if verdict == 'allocated' else '(no devices needed)')}")
    blocked = [n for n in nodes if not n.get("allocatable") or n.get("status") == ERROR]
    if blocked:
        lines.append("")
        lines.append("does not fit on:" if not fits else "other nodes:")
        by_code: dict[str, list[dict]] = {}
        for n in blocked:
            first = (n.get("reasons") or [{"code": "unknown", "message": "no reason recorded"}])[0]
            by_code.setdefault(first["code"], []).append(n)
        order = sorted(by_code.items(), key=lambda item: (item[0] in ("no-driver",), item[0]))
        for code, group in order:
            names = ", ".join(n["node"] for n in group)
            lines.append(f"  {code} ({len(group)} node{'s' if len(group) != 1 else ''}: {names})")
            # detail the node that got furthest through the funnel, not the first by name
            from kubectl_dra.alloc.diagnose import furthest

            example = furthest(group)
            for reason in example.get("reasons", [])[:3]:
                lines.append(f"    {sanitize(reason['message'])}")
                if reason.get("hint"):
                    lines.append(f"      hint: {sanitize(reason['hint'])}")
            if code not in ("no-driver",):
                for funnel in example.get("funnels", []):
                    lines.append("    funnel on " + example["node"] + ": " + _funnel(funnel))
    for finding in data.get("lint", []):
        lines.append(f"lint {finding.get('severity')}: {sanitize(str(finding.get('message')))}")
    return "\n".join(lines) + "\n"


def _funnel(funnel: dict) -> str:
    steps = [f"{s['label']} {s['count']}" + (f" ({s['errors']} CEL errors)" if s.get("errors") else "") for s in funnel.get("stages", [])]
    needed = funnel.get("needed")
    tail = f"; needs {needed}" if needed is not None else "; needs all"
    most = f"; {funnel['rejectsMost']} rejects the most" if funnel.get("rejectsMost") else ""
    return f"request {funnel['request']}: " + " -> ".join(steps) + tail + most


def lint_text(findings: list[dict]) -> str:
    """`kubectl dra lint`: one line per finding (severity, object, message), its hint below."""
    return "".join(
        f"{f.get('severity')}: {sanitize(str(f.get('object') or ''))}: {sanitize(str(f.get('message')))}\n"
        + (f"  hint: {sanitize(str(f['hint']))}\n" if f.get("hint") else "")
        for f in findings
    )
