"""Questions the read-only commands ask of a :class:`~kubectl_dra.model.cluster.Cluster`: which
claims a listing shows (``claims``, ``claims -w``), which device a reference names (``show``)."""

from __future__ import annotations

from typing import Sequence

from kubectl_dra.model.claim import Claim
from kubectl_dra.model.cluster import Cluster, DeviceView, natural_key
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


def find_device(views: Sequence[DeviceView], ref: str) -> DeviceView:
    """The device ``ref`` names: ``driver/pool/device``, ``pool/device``, ``node/device``, a
    unique device name, a UUID or a PCI bus ID (``[NODE/]BUSID`` in any common form, e.g. an XID
    line's ``PCI:0000:1b:00``: model.identify). Ambiguous: UsageError (exit 2) listing candidates;
    none: NotFoundError (exit 3) with similar names."""
    from kubectl_dra.errors import NotFoundError, UsageError

    exact = [v for v in views if v.device.id == ref]
    if exact:
        return exact[0]
    if "/" in ref:
        head, _, name = ref.rpartition("/")
        matches = [
            v
            for v in views
            if v.device.name == name and head in (v.device.pool, v.device.node_label, f"{v.device.driver}/{v.device.pool}")
        ]
    else:
        matches = [v for v in views if v.device.name == ref]
    if not matches:
        from kubectl_dra.model.identify import identify

        matches = identify(views, ref)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        candidates = ", ".join(v.device.id for v in matches[:6]) + (" …" if len(matches) > 6 else "")
        raise UsageError(f'device name "{ref}" is ambiguous: {len(matches)} devices match', hint=f"use one of: {candidates}")
    name = ref.rpartition("/")[2]
    similar = [v.device.id for v in views if name and name in v.device.name][:5]
    raise NotFoundError(
        f'device "{ref}" not found',
        hint=("similar: " + ", ".join(similar)) if similar else "`kubectl dra list -o name` lists device ids",
    )
