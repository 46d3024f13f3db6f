"""Node selection of slices and devices (dra-api.md §5.2, upstream ``NodeMatches``).

A ``core/v1`` NodeSelector matches a node when *any* term matches; a term matches when all of
its ``matchExpressions`` (labels) and ``matchFields`` (only ``metadata.name``) hold; an empty
term or an empty term list matches nothing (component-helpers ``nodeaffinity``).
"""

from __future__ import annotations

from typing import Any

from kubectl_dra.model.claim import Node


def _requirement(req: Any, value: str | None) -> bool:
    """One NodeSelectorRequirement against the node's value for its key (None = absent)."""
    if not isinstance(req, dict):
        return False
    op = req.get("operator")
    values = [str(v) for v in req.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        if value is None or len(values) != 1:
            return False
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False  # unknown operator: upstream fails to parse the selector


def _term(term: Any, node: Node) -> bool:
    if not isinstance(term, dict):
        return False
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    for req in exprs:
        key = req.get("key") if isinstance(req, dict) else None
        if not _requirement(req, node.labels.get(key) if key is not None else None):
            return False
    for req in fields:
        key = req.get("key") if isinstance(req, dict) else None
        if key != "metadata.name" or req.get("operator") not in ("In", "NotIn"):
            return False
        if not _requirement(req, node.name):
            return False
    return True


def selector_matches(selector: Any, node: Node) -> bool:
    """Does a ``core/v1`` NodeSelector (``{"nodeSelectorTerms": [...]}``) select ``node``?"""
    if not isinstance(selector, dict):
        return False
    return any(_term(t, node) for t in selector.get("nodeSelectorTerms") or [])


def node_matches(node: Node, node_name: str | None, all_nodes: bool, node_selector: Any) -> bool:
    """Upstream ``NodeMatches``: nodeName, else allNodes, else nodeSelector; nothing set = no."""
    if node_name:
        return node.name == node_name
    if all_nodes:
        return True
    if node_selector is not None:
        return selector_matches(node_selector, node)
    return False


def names_in_selector(selector: Any) -> set[str]:
    """Node names a selector pins by ``matchFields metadata.name In`` (to find nodes without Node objects)."""
    out: set[str] = set()
    if not isinstance(selector, dict):
        return out
    for term in selector.get("nodeSelectorTerms") or []:
        if not isinstance(term, dict):
            continue
        for req in term.get("matchFields") or []:
            if isinstance(req, dict) and req.get("key") == "metadata.name" and req.get("operator") == "In":
                out.update(str(v) for v in req.get("values") or [])
    return out
