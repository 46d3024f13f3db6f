"""`claim --check`: the lines (for stderr) that say how many devices match the claim now, where,
and how many are free — per alternative when the request has several (``domain.claim_plan``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubectl_dra.domain.claim_plan import AlternativeCheck, ClaimPlan


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def check_lines(plan: "ClaimPlan") -> list[str]:
    alternatives = plan.alternatives
    several = len(alternatives) > 1
    lines: list[str] = []
    for index, alt in enumerate(alternatives):
        if alt.check is None:
            continue
        if several:
            lines.append(f"alternative {index + 1} of {len(alternatives)} ({alt.name}: {alt.text or 'CEL only'}):")
        indent = "  " if several else ""
        lines += [indent + line for line in _alternative_lines(alt.check, plan)]
    simulation = getattr(plan, "simulation", None)
    if simulation is not None:
        lines += simulation.lines()
    return lines


def _alternative_lines(check: "AlternativeCheck", plan: "ClaimPlan") -> list[str]:
    count = plan.spec.count
    want = "all matching devices" if count is None else _plural(count, "device")
    if not check.matching:
        return [f"check: no device matches class {check.device_class} and the selectors now (the claim asks for {want})",
                *(f"  nearest miss: {line}" for line in check.near_misses)]
    near = [f"  near miss: {line}" for line in check.near_misses]
    lines = [f"check: {_plural(check.matching, 'device')} on {_plural(len(check.nodes), 'node')} "
             f"match class {check.device_class} and the selectors; {check.free} free now (the claim asks for {want})"]
    lines += [f"  {node}: {matching} matching, {free} free" for node, matching, free in check.nodes]
    lines += near
    if not plan.claims_known:
        lines.append("warning: claims could not be read, so every device counts as free")
    if count is not None:
        best = max(free for _, _, free in check.nodes)
        if best < count:
            lines.append(f"warning: no node has {count} free matching devices now (at most {best} on one node)")
    if plan.spec.constraints and getattr(plan, "simulation", None) is None:
        lines.append("note: constraints (--same/--distinct) are not evaluated without DeviceClasses")
    return lines
