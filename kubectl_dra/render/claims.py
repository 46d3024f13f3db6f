"""The claim table (``claims``) and its ``ClaimList`` data shape."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from kubectl_dra.model.claim import Claim, Request
from kubectl_dra.model.cluster import Cluster, DeviceView
from kubectl_dra.render.columns import format_table, strip_controls
from kubectl_dra.render.devices import pci_bus_id
from kubectl_dra.render.timefmt import age

COLUMNS = ("NAME", "STATE", "REQUESTS", "NODE", "DEVICE", "UUID/PCI", "PODS", "AGE")
#: -o wide: the UUID and the PCI bus ID apart, the class and the selectors of each request
WIDE_COLUMNS = ("NAME", "STATE", "REQUESTS", "NODE", "DEVICE", "UUID", "PCI", "CLASS", "SELECTORS", "PODS", "AGE")

STATE_STYLE = {"pending": "yellow", "allocated": "cyan", "reserved": "green", "deallocating": "magenta", "deleting": "magenta"}


def _device_id(view: DeviceView | None) -> str:
    if view is None:
        return "<not published>"
    uuid = view.device.attr("uuid")
    if uuid:
        return strip_controls(str(uuid))
    pci = pci_bus_id(view.device)
    return pci


def claim_pods(claim: Claim, cluster: Cluster) -> list[str]:
    pods = claim.reserved_pods  # a new list each time
    for name in cluster.pods_by_claim().get((claim.namespace, claim.name), ()):
        if name not in pods:
            pods.append(name)
    return pods


def requests_text(requests: Sequence[Request]) -> str:
    return ", ".join(strip_controls(r.describe()) for r in requests) or "-"


def _age(created: str | None, now: datetime | None, ages: dict | None) -> str:
    """``age``, remembered in ``ages`` (for one ``now``): thousands of claims share a few creation times."""
    if ages is None or type(created) is not str:  # a hostile file's creationTimestamp may be a map
        return age(created, now)
    text = ages.get(created)
    if text is None:
        text = ages[created] = age(created, now)
    return text


def claim_rows(claim: Claim, cluster: Cluster, index: dict, now: datetime | None, all_namespaces: bool,
               ages: dict | None = None) -> list[list[str]]:
    """``ages``: a cache for :func:`_age`, with ``now`` set."""
    pods = ",".join(strip_controls(p) for p in claim_pods(claim, cluster)) or "-"
    head = [strip_controls(claim.name), claim.state, requests_text(claim.spec.requests)]
    tail = [pods, _age(claim.created, now, ages)]
    if all_namespaces:
        head.insert(0, strip_controls(claim.namespace))
    if not claim.results:
        return [head + ["-", "-", "-"] + tail]
    rows = []
    for i, result in enumerate(claim.results):
        view = index.get(result.key)
        node = strip_controls(view.device.node_label) if view else "-"
        device = strip_controls(result.device if not result.admin_access else f"{result.device} (admin)")
        cells = [node, device, _device_id(view)]
        if i == 0:
            rows.append(head + cells + tail)
        else:
            rows.append([""] * len(head) + cells + [""] * len(tail))
    return rows


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def claim_rows_wide(claim: Claim, cluster: Cluster, index: dict, now: datetime | None, all_namespaces: bool,
                    ages: dict | None = None) -> list[list[str]]:
    """-o wide rows: per device its UUID and PCI bus ID, and per request its class(es) and selectors."""
    pods = ",".join(strip_controls(p) for p in claim_pods(claim, cluster)) or "-"
    subs = [s for r in claim.spec.requests for s in r.alternatives]
    classes = ",".join(dict.fromkeys(strip_controls(s.device_class) for s in subs)) or "-"
    selectors = "; ".join(_short(strip_controls(e)) for s in subs for e in s.selectors) or "-"
    head = [strip_controls(claim.name), claim.state, requests_text(claim.spec.requests)]
    tail = [classes, selectors, pods, _age(claim.created, now, ages)]
    if all_namespaces:
        head.insert(0, strip_controls(claim.namespace))
    if not claim.results:
        return [head + ["-", "-", "-", "-"] + tail]
    rows = []
    for i, result in enumerate(claim.results):
        view = index.get(result.key)
        node = strip_controls(view.device.node_label) if view else "-"
        device = strip_controls(result.device if not result.admin_access else f"{result.device} (admin)")
        uuid = strip_controls(str(view.device.attr("uuid"))) if view and view.device.attr("uuid") else "-"
        pci = pci_bus_id(view.device) if view else "-"
        cells = [node, device, uuid, pci]
        rows.append(head + cells + tail if i == 0 else [""] * len(head) + cells + [""] * len(tail))
    return rows


def claims_table(claims: Sequence[Claim], cluster: Cluster, *, all_namespaces: bool, color: bool = False, no_headers: bool = False,
                 wide: bool = False, index: dict | None = None) -> str:
    """``index``: device key -> view, at least of the claims' devices (default: the cluster's device index)."""
    if index is None:
        index = cluster.device_index()
    headers = (("NAMESPACE",) if all_namespaces else ()) + (WIDE_COLUMNS if wide else COLUMNS)
    rows_of = claim_rows_wide if wide else claim_rows
    now = cluster.now or datetime.now(timezone.utc)  # one instant for the whole table
    ages: dict[str | None, str] = {}
    rows = [row for c in claims for row in rows_of(c, cluster, index, now, all_namespaces, ages)]
    state_col = headers.index("STATE")
    return format_table(
        headers, rows, color=color, no_headers=no_headers, style=lambda i, cell: STATE_STYLE.get(cell) if i == state_col else None
    )


def _request_data(request: Request) -> dict:
    def sub(s) -> dict[str, Any]:
        data: dict[str, Any] = {"deviceClassName": s.device_class, "allocationMode": s.allocation_mode}
        if s.allocation_mode != "All":
            data["count"] = s.count
        if s.selectors:
            data["selectors"] = list(s.selectors)
        if s.admin_access:
            data["adminAccess"] = True
        if s.tolerations:
            data["tolerations"] = s.tolerations
        if s.capacity_requests:
            data["capacity"] = {"requests": dict(s.capacity_requests)}
        return data

    out: dict[str, Any] = {"name": request.name}
    if request.exactly is not None:
        out["exactly"] = sub(request.exactly)
    else:
        out["firstAvailable"] = [{"name": s.name, **sub(s)} for s in request.first_available]
    return out


def claim_item(claim: Claim, cluster: Cluster, index: dict) -> dict:
    devices = []
    for result in claim.results:
        view = index.get((result.driver, result.pool, result.device))
        if view is None:
            node = uuid = pci = None
        else:
            dev = view.device
            node, uuid, pci = dev.node_name, dev.attr("uuid"), pci_bus_id(dev)
            if pci == "-":
                pci = None
        entry: dict[str, Any] = {
            "request": result.request,
            "driver": result.driver,
            "pool": result.pool,
            "device": result.device,
            "node": node,
            "uuid": uuid,
            "pciBusID": pci,
        }
        if result.admin_access:
            entry["adminAccess"] = True
        if result.share_id:
            entry["shareID"] = result.share_id
        if result.consumed_capacity:
            entry["consumedCapacity"] = dict(result.consumed_capacity)
        if view is None:
            entry["published"] = False
        devices.append(entry)
    return {
        "namespace": claim.namespace,
        "name": claim.name,
        "state": claim.state,
        "requests": [_request_data(r) for r in claim.spec.requests],
        "devices": devices,
        "pods": claim_pods(claim, cluster),
        "creationTimestamp": claim.created,
    }


def claim_list(claims: Sequence[Claim], cluster: Cluster, index: dict | None = None) -> dict:
    """``index``: as for :func:`claims_table`."""
    if index is None:
        index = cluster.device_index()
    return {"kind": "ClaimList", "apiVersion": "kubectl-dra/v1", "items": [claim_item(c, cluster, index) for c in claims]}


def claim_names(claims: Sequence[Claim]) -> str:
    return "".join(f"resourceclaim.resource.k8s.io/{c.name}\n" for c in claims)


def no_claims(cluster: Cluster, *, all_namespaces: bool) -> str:
    """What ``claims`` says on stderr when it lists none (and how many claims it read elsewhere)."""
    where = "any namespace" if all_namespaces else f"namespace {cluster.namespace}"
    message = f"no ResourceClaims found in {where}"
    others = len(cluster.claims)  # none of them is listed
    if others > 0 and not all_namespaces:
        message += f" ({others} in other namespaces: use -A)"
    return message


class ClaimWatchView:
    """What ``claims -w`` prints of each rebuilt cluster (``cli._watch.stream_changes``'s callbacks):
    the listed claims keyed by (namespace, name) with a signature of what a row shows (state,
    devices, pods), their rows, items and names; a deleted claim shows the state ``deleted``."""

    def __init__(self, *, all_namespaces: bool) -> None:
        self.all_namespaces = all_namespaces
        self.state_column = 2 if all_namespaces else 1
        self.headers = (("NAMESPACE",) if all_namespaces else ()) + COLUMNS

    @staticmethod
    def index(cluster: Cluster) -> dict:
        """The cluster's devices by key, as a watch keeps them current (``Cluster.view_index``)."""
        return cluster.view_index()

    def snapshot(self, cluster: Cluster) -> dict:
        from kubectl_dra.model.queries import listed_claims

        index = self.index(cluster)
        result = {}
        for claim in listed_claims(cluster, all_namespaces=self.all_namespaces):
            data = claim_item(claim, cluster, index)
            result[(claim.namespace, claim.name)] = ((data["state"], data["devices"], data["pods"]), claim)
        return result

    def partial(self, cluster: Cluster, patch: Any) -> list:
        """The snapshot entries of the claims ``patch`` touched (``kube.watch``), in the listing's
        order: ``(key, entry or None)``, None for a claim deleted or no longer listed."""
        from kubectl_dra.model.cluster import natural_key
        from kubectl_dra.model.decode import DecodeError

        index = self.index(cluster)
        out = []
        for key in sorted(patch.claims, key=lambda k: (k[0], natural_key(k[1]))):
            claim = patch.claims[key]
            entry = None
            if claim is not None and (self.all_namespaces or claim.namespace == cluster.namespace):
                try:
                    claim.spec  # noqa: B018 - as listed_claims: a malformed spec is left out, with a warning
                except DecodeError as error:
                    cluster.warnings.append(f"skipping {error.message}")
                else:
                    data = claim_item(claim, cluster, index)
                    entry = ((data["state"], data["devices"], data["pods"]), claim)
            out.append((key, entry))
        return out

    def rows(self, cluster: Cluster, change: Any) -> list[list[str]]:
        lines = claim_rows(change.value, cluster, self.index(cluster), cluster.now, self.all_namespaces)
        if change.type == "DELETED":
            lines[0][self.state_column] = "deleted"
        return lines

    def item(self, cluster: Cluster, change: Any) -> dict:
        data = claim_item(change.value, cluster, self.index(cluster))
        return {**data, "state": "deleted"} if change.type == "DELETED" else data

    @staticmethod
    def name(change: Any) -> str:
        return f"resourceclaim.resource.k8s.io/{change.value.name}"
