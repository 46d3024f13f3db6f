"""NVIDIA ComputeDomains (``resource.nvidia.com``): the nodes a multi-node NVLink domain spans.

The cluster model does not keep ComputeDomains (they are not DRA objects); ``topology`` reads them
from its input and decodes each into the plain dict it prints::

    {"namespace", "name", "status", "nodes": [{"name", "cliqueID"}]}
"""

from __future__ import annotations

from collections.abc import Iterable

KIND = "ComputeDomain"
GROUP = "resource.nvidia.com"


def decode_compute_domain(obj: dict) -> dict | None:
    """A ComputeDomain object as ``{"namespace", "name", "status", "nodes"}``; None for any other object."""
    if not isinstance(obj, dict) or obj.get("kind") != KIND:
        return None
    if not str(obj.get("apiVersion", "")).startswith(GROUP + "/"):
        return None
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    nodes = []
    for n in status.get("nodes") or []:
        if isinstance(n, dict) and n.get("name"):
            nodes.append({"name": str(n["name"]), "cliqueID": n.get("cliqueID")})
    return {
        "namespace": str(meta.get("namespace") or "default"),
        "name": str(meta.get("name") or ""),
        "status": status.get("status"),
        "nodes": nodes,
    }


def node_clique(compute_domains: Iterable[dict], node: str) -> str | None:
    """The first ``cliqueID`` a ComputeDomain's status gives for the node."""
    for cd in compute_domains:
        for n in cd["nodes"]:
            if n["name"] == node and n.get("cliqueID"):
                return str(n["cliqueID"])
    return None


def node_domains(compute_domains: Iterable[dict], node: str) -> list[str]:
    """``namespace/name`` of the ComputeDomains whose status lists the node."""
    return [cd["namespace"] + "/" + cd["name"] for cd in compute_domains if any(n["name"] == node for n in cd["nodes"])]
