"""Namespaces and claim selections as kubectl users expect them (issue 13, kubectl habits).

Devices are cluster-scoped; a claim lives in a namespace.  For device lists:

* no ``-n``/``-A``: every device (as before: the devices a cluster has do not depend on the
  kubeconfig's namespace);
* ``-A``: every device;
* ``-n NS``: the devices held by claims in NS (allocated or reserved, admin-access holders too);
  free devices belong to no namespace and are left out — ``hidden_free`` says how many, so the
  command can say so on stderr.

For claims: ``select_claims`` keeps the claims named (``claims NAME…``), in a state
(``--state pending|allocated|reserved``, also ``deallocating``/``deleting``), or with a device on a
node (``--node``; a pending claim has none).  Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

CLAIM_STATES = ("pending", "allocated", "reserved", "deallocating", "deleting")


@dataclass(frozen=True)
class NamespacedDevices:
    views: list[Any]
    hidden_free: int  # free (or otherwise unheld) devices left out because -n names a namespace


def devices_in_namespace(views: Sequence[Any], namespace: str | None, all_namespaces: bool) -> NamespacedDevices:
    if all_namespaces or not namespace:
        return NamespacedDevices(list(views), 0)
    kept, hidden = [], 0
    for v in views:
        holders = [*v.holders, *v.admin_holders]
        if any(h.claim.namespace == namespace for h in holders):
            kept.append(v)
        elif not holders:
            hidden += 1
    return NamespacedDevices(kept, hidden)


def claim_nodes(claim: Any, device_index: dict) -> set[str]:
    """The nodes of the devices a claim got (from the published devices; else its allocation's node selector)."""
    nodes = set()
    for r in claim.results:
        view = device_index.get((r.driver, r.pool, r.device))
        if view is not None and view.device.node_label:
            nodes.add(view.device.node_label)
    if not nodes and claim.allocation_node_selector:
        for term in (claim.allocation_node_selector.get("nodeSelectorTerms") or []):
            for field in (term.get("matchFields") or []) + (term.get("matchExpressions") or []):
                if field.get("key") in ("metadata.name", "kubernetes.io/hostname") and field.get("operator") == "In":
                    nodes.update(field.get("values") or [])
    return nodes


def select_claims(claims: Iterable[Any], *, names: Sequence[str] = (), states: Sequence[str] = (),
                  node: str | None = None, device_index: dict | None = None) -> list[Any]:
    from kubectl_dra.errors import UsageError

    bad = [s for s in states if s not in CLAIM_STATES]
    if bad:
        raise UsageError(f"--state must be one of {', '.join(CLAIM_STATES)}, not {', '.join(bad)}")
    out = []
    for c in claims:
        if names and c.name not in names and c.ref not in names:
            continue
        if states and c.state not in states:
            continue
        if node is not None and node not in claim_nodes(c, device_index or {}):
            continue
        out.append(c)
    return out
