"""Device taints and request tolerations (dra-api.md §2.5, §5.8; upstream ``ToleratesTaint``).

Only ``NoSchedule`` and ``NoExecute`` prevent allocation; ``None`` and unknown effects are
ignored. A toleration matches a taint when its effect is empty or equal, its key is empty or
equal, and its operator is ``Exists`` or (``Equal``/empty) with an equal value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")


def tolerates(toleration: dict, taint: dict) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return op == "Exists"


def untolerated(taints: Iterable[dict], tolerations: Sequence[dict]) -> list[dict]:
    """The taints that keep a device from being allocated to a request with these tolerations."""
    return [
        t
        for t in taints
        if isinstance(t, dict)
        and t.get("effect") in BLOCKING_EFFECTS
        and not any(tolerates(tol, t) for tol in tolerations if isinstance(tol, dict))
    ]


def describe(taint: dict) -> str:
    """``key=value:Effect`` as kubectl prints node taints."""
    value = taint.get("value")
    return f"{taint.get('key', '')}{'=' + str(value) if value else ''}:{taint.get('effect', '')}"
