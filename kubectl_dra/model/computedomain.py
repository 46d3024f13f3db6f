"""NVIDIA ComputeDomains (``resource.nvidia.com``): the nodes a multi-node NVLink domain spans; and
the node label that names a node's NVLink clique.

The cluster model does not keep ComputeDomains (they are not DRA objects); ``topology`` reads them
from its input and decodes each into the plain dict it prints::

    {"namespace", "name", "status", "nodes": [{"name", "cliqueID"}]}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubectl_dra.model.claim import Node

#: the node label GPU Feature Discovery sets to a node's NVLink clique, ``<clusterUUID>.<cliqueID>``
CLIQUE_LABEL = "nvidia.com/gpu.clique"
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


def cliques(nodes: Iterable[Node], compute_domains: Iterable[dict]) -> dict[str, str | None]:
    """Each node's NVLink clique: its ``CLIQUE_LABEL``, else the first ``cliqueID`` a ComputeDomain's
    status gives for it (nodes only a ComputeDomain names are included)."""
    clique_of: dict[str, str | None] = {n.name: n.labels.get(CLIQUE_LABEL) or None for n in nodes}
    for cd in compute_domains:
        for n in cd["nodes"]:
            if not clique_of.get(n["name"]) and n.get("cliqueID"):
                clique_of[n["name"]] = str(n["cliqueID"])
    return clique_of


def node_domains(compute_domains: Iterable[dict], node: str) -> list[str]:
    """``namespace/name`` of the ComputeDomains whose status lists the node."""
    return [cd["namespace"] + "/" + cd["name"] for cd in compute_domains if any(n["name"] == node for n in cd["nodes"])]
