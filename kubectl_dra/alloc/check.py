"""``claim --check`` through the simulator: would the generated claim be allocated now, and where?

The filter alone says which devices match; the scheduler also applies the claim's constraints
(``--same``/``--distinct``: matchAttribute / distinctAttribute), the count on one node, counters,
taints, and tries ``firstAvailable`` alternatives (``--or``) in order.  ``check_manifest`` runs the
allocator simulation (the same one ``explain --claim-file`` runs) on the manifest ``kubectl dra
claim`` printed and summarises it:

    report = check_manifest(cluster, manifest)
    report.fits            # nodes where the claim would be allocated now
    report.alternatives    # per node: the firstAvailable alternative the allocator would pick
    report.lines()         # "check (simulated): fits on 1 of 6 nodes: dgx-h100-01 (gpu-0, gpu-1) ..."

Pure apart from the simulation; prints nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubectl_dra.alloc.result import SimulationResult


@dataclass
class CheckReport:
    result: SimulationResult
    fits: list[str] = field(default_factory=list)
    devices: dict[str, list[str]] = field(default_factory=dict)  # node -> device names chosen
    alternatives: dict[str, str] = field(default_factory=dict)  # node -> subrequest name ("alt-1"), with --or
    reasons: list[str] = field(default_factory=list)  # why not, when it fits nowhere (one per reason group)

    def lines(self, limit: int = 6) -> list[str]:
        nodes = self.result.nodes
        if self.fits:
            shown = []
            for node in self.fits[:limit]:
                alt = f" via {self.alternatives[node]}" if node in self.alternatives else ""
                shown.append(f"{node} ({', '.join(self.devices.get(node, []))}{alt})")
            more = f", {len(self.fits) - limit} more" if len(self.fits) > limit else ""
            out = [f"check (simulated): fits on {len(self.fits)} of {len(nodes)} node{'s' if len(nodes) != 1 else ''}: "
                   + "; ".join(shown) + more]
            picked = sorted(set(self.alternatives.values()))
            if picked:
                out.append(f"  the allocator would pick: {', '.join(picked)} (alternatives are tried in order)")
            return out
        out = [f"check (simulated): the claim fits on none of {len(nodes)} node{'s' if len(nodes) != 1 else ''} now"]
        out.extend(f"  {r}" for r in self.reasons[:limit])
        return out


def check_manifest(cluster: Any, manifest: dict, namespace: str = "default") -> CheckReport:
    from kubectl_dra.alloc.simulate import simulate
    from kubectl_dra.model.decode import decode

    obj = dict(manifest)
    obj["metadata"] = {**(obj.get("metadata") or {})}
    obj["metadata"].setdefault("namespace", namespace)
    claim = decode(obj)
    result = simulate(cluster, claim, unapplied=True)
    report = CheckReport(result)
    for node in result.nodes:
        if not node.allocatable:
            continue
        report.fits.append(node.node)
        report.devices[node.node] = [c.device for c in node.results]
        subs = sorted({c.request.partition("/")[2] for c in node.results if "/" in c.request})
        if subs:
            report.alternatives[node.node] = ", ".join(subs)
    if not report.fits:
        seen: dict[str, str] = {}
        for node in result.nodes:
            for reason in node.reasons:
                if reason.code not in seen:
                    hint = f" ({reason.hint})" if reason.hint else ""
                    seen[reason.code] = f"{reason.code}: {reason.message}{hint}"
        report.reasons = list(seen.values())
    return report
