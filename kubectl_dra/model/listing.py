"""What the listing commands show of a :class:`~kubectl_dra.model.cluster.Cluster`."""

from __future__ import annotations

from kubectl_dra.model.claim import Claim
from kubectl_dra.model.cluster import Cluster, natural_key
from kubectl_dra.model.decode import DecodeError


def listed_claims(cluster: Cluster, *, all_namespaces: bool) -> list[Claim]:
    """The claims ``kubectl dra claims`` (and ``claims -w``) shows, in order: those of
    ``cluster.namespace`` (every namespace with ``all_namespaces``), sorted by namespace and
    name (natural order). A claim whose spec does not decode is left out, with a warning added
    to ``cluster.warnings`` (for every claim read, as a decode warning is for every object read)."""
    claims = []
    for claim in cluster.claims:
        try:
            claim.spec  # noqa: B018 - decoded lazily; a malformed one is skipped, with a warning
        except DecodeError as error:
            cluster.warnings.append(f"skipping {error.message}")
            continue
        claims.append(claim)
    if not all_namespaces:
        claims = [c for c in claims if c.namespace == cluster.namespace]
    claims.sort(key=lambda c: (c.namespace, natural_key(c.name)))
    return claims
