"""The device table (``list``), its footer, and the ``DeviceList`` data shape for -o json|yaml|name."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any, Sequence

from kubectl_dra.model.cluster import DeviceView
from kubectl_dra.model.device import STANDARD_DOMAIN, Device
from kubectl_dra.model.quantity import Quantity, QuantityError
from kubectl_dra.render.columns import format_table, strip_controls

COLUMNS = ("NODE", "DRIVER", "DEVICE", "TYPE", "PRODUCT", "MEMORY", "MIG/PROFILE", "STATE", "CLAIM", "POD(S)")
WIDE_COLUMNS = COLUMNS + ("UUID", "PCI BUS ID", "PCIE ROOT", "NUMA", "ARCH", "CC", "DRIVER VERSION", "POOL")

#: short names for the DRIVER column; other drivers are shown in full
SHORT_DRIVERS = {
    "gpu.nvidia.com": "nvidia",
    "compute-domain.nvidia.com": "nvidia-cd",
    "gpu.amd.com": "amd",
    "tpu.google.com": "tpu",
    "gpu.example.com": "example",
    "dra.net": "dranet",
    "dra.cpu": "cpu",
    "gpu.intel.com": "intel",
    "gaudi.intel.com": "gaudi",
}

STATE_STYLE = {
    "free": "green",
    "allocated": "yellow",
    "reserved": "cyan",
    "tainted": "red",
    "consumed-by-partition": "magenta",
}

_PRODUCT_KEYS = ("productName", "model", "accelerator", "family")
PCI_KEYS = (f"{STANDARD_DOMAIN}/pciBusID", "pcieBusID", "pciAddr", "pciAddress", "dra.net/pciAddress")
NUMA_KEYS = (f"{STANDARD_DOMAIN}/numaNode", "numaNode", "numa", "numaNodeID", "dra.net/numaNode")


def short_driver(driver: str) -> str:
    return SHORT_DRIVERS.get(driver, driver)


def driver_matches(driver: str, names: set[str]) -> bool:
    """`--driver` accepts full names (gpu.nvidia.com) and the short ones of the DRIVER column (nvidia)."""
    return driver in names or short_driver(driver) in names


def first_attr(dev: Device, keys: Sequence[str]) -> Any:
    for key in keys:
        value = dev.attr(key)
        if value is not None:
            return value
    return None


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return strip_controls(str(value))


@lru_cache(maxsize=4096)
def human_quantity(text: str | None) -> str:
    if not text:
        return "-"
    try:
        return Quantity.parse(text).human()
    except QuantityError:
        return strip_controls(text)


def device_type(dev: Device) -> str:
    if dev.driver == "dra.net":
        return "nic"  # dra.net/type is the kernel's interface kind ("device", "veth", …), not what users ask for
    kind = dev.attr("type")
    if kind is not None:
        return _text(kind)
    if dev.driver == "tpu.google.com":
        return "tpu"
    if dev.driver == "dra.cpu":
        return "cpu"
    if dev.attr("partition") is not None or dev.attr("full") is False:
        return "partition"
    return "-"


def product(dev: Device) -> str:
    value = f"TPU {dev.attr('tpuGen')}" if dev.attr("tpuGen") is not None else first_attr(dev, _PRODUCT_KEYS)
    if value is None and dev.driver == "dra.net":
        device = dev.attr("dra.net/pciDevice")
        value = device if device is not None else dev.attr("dra.net/ifName")
    return _text(value)


def profile(dev: Device) -> str:
    value = dev.attr("profile")
    if value is None and str(dev.attr("type", "")).endswith("partition"):
        value = dev.attr("partitionProfile")
    if value is None and dev.attr("partition") is not None:
        value = f"partition {dev.attr('partition')}"
    return _text(value)


def pci_bus_id(dev: Device) -> str:
    return _text(first_attr(dev, PCI_KEYS))


def holders_text(view: DeviceView) -> tuple[str, str]:
    if not view.holders:
        return "-", "-"
    claims = list(dict.fromkeys(h.claim.ref for h in view.holders))
    claim = claims[0] + (f" (+{len(claims) - 1})" if len(claims) > 1 else "")
    pods = list(dict.fromkeys(p for h in view.holders for p in h.pods))
    return strip_controls(claim), strip_controls(",".join(pods)) if pods else "-"


def device_row(view: DeviceView, wide: bool = False) -> list[str]:
    dev = view.device
    claim, pods = holders_text(view)
    row = [
        strip_controls(dev.node_label),
        strip_controls(short_driver(dev.driver)),
        strip_controls(dev.name),
        device_type(dev),
        product(dev),
        human_quantity(dev.cap("memory")),
        profile(dev),
        view.state,
        claim,
        pods,
    ]
    if wide:
        row += [
            _text(dev.attr("uuid")),
            pci_bus_id(dev),
            _text(dev.attr(f"{STANDARD_DOMAIN}/pcieRoot")),
            _text(first_attr(dev, NUMA_KEYS)),
            _text(dev.attr("architecture")),
            _text(dev.attr("cudaComputeCapability")),
            _text(dev.attr("driverVersion")),
            strip_controls(dev.pool),
        ]
    return row


def devices_table(views: Sequence[DeviceView], *, wide: bool = False, color: bool = False, no_headers: bool = False,
                  labels: Sequence[dict | None] | None = None) -> str:
    """``labels``: per view, its node's labels: a LABELS column last (``--show-labels``, as kubectl)."""
    headers = WIDE_COLUMNS if wide else COLUMNS
    rows = [device_row(v, wide) for v in views]
    if labels is not None:
        from kubectl_dra.model.labels import show_labels

        headers = [*headers, "LABELS"]
        rows = [[*row, show_labels(node_labels)] for row, node_labels in zip(rows, labels)]
    state_col = COLUMNS.index("STATE")
    return format_table(
        headers,
        rows,
        color=color,
        no_headers=no_headers,
        style=lambda i, cell: STATE_STYLE.get(cell) if i == state_col else None,
    )


def footer(views: Sequence[DeviceView], partitions: str | None = None) -> str:
    """Totals: devices by state, then by product (with how many of each are free); ``partitions``:
    the physical truth for overlapping placements (model.partitions.summary), on its own line."""
    states = Counter(v.state for v in views)
    busy = states["allocated"] + states["reserved"]
    parts = [f"{len(views)} devices", f"{states['free']} free", f"{busy} allocated"]
    if states["reserved"]:
        parts[-1] += f" ({states['reserved']} in use by pods)"
    for extra in ("tainted", "consumed-by-partition"):
        if states[extra]:
            parts.append(f"{states[extra]} {extra}")
    lines = ["Total: " + ", ".join(parts)]
    by_product: dict[str, list[int]] = {}
    for v in views:
        key = product(v.device)
        kind = device_type(v.device)
        if key == "-":
            short = short_driver(v.device.driver)
            key = short if kind in ("-", short) else f"{short} {kind}"
        elif kind not in ("-", "gpu") and not key.endswith(kind):
            key = f"{key} ({kind})"
        counts = by_product.setdefault(key, [0, 0])
        counts[0] += 1
        counts[1] += v.state == "free"
    for key in sorted(by_product, key=lambda k: (-by_product[k][0], k)):
        total, free = by_product[key]
        lines.append(f"  {key}: {total} ({free} free)")
    if partitions:
        lines.append(f"  partitions share their GPU: {partitions}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- data


def device_item(view: DeviceView) -> dict:
    dev = view.device
    allocation = None
    if view.holders:
        first = view.holders[0]
        allocation = {"claim": first.claim.ref, "request": first.result.request, "pods": list(first.pods)}
    item: dict[str, Any] = {
        "node": dev.node_name,
        "driver": dev.driver,
        "pool": dev.pool,
        "name": dev.name,
        "attributes": dev.attributes,  # already plain values under qualified names; not copied
        "capacity": dev.capacity,
        "state": view.state,
        "allocation": allocation,
        "taints": list(dev.taints),
    }
    # extensions beyond the documented shape: all holders of a shared device, counters, blockers
    if len(view.holders) > 1:
        item["allocations"] = [
            {"claim": h.claim.ref, "request": h.result.request, "pods": list(h.pods), "shareID": h.result.share_id}
            for h in view.holders
        ]
    consumed = consumed_capacity(view)
    if consumed:
        item["consumedCapacity"] = consumed
    if view.blocked_by:
        item["blockedBy"] = list(view.blocked_by)
    if dev.consumes_counters:
        item["consumesCounters"] = dev.consumes_counters
    if dev.node_name is None:
        if dev.all_nodes:
            item["allNodes"] = True
        elif dev.node_selector is not None:
            item["nodeSelector"] = dev.node_selector
    if not view.pool_complete:
        item["poolIncomplete"] = True
    return item


def consumed_capacity(view: DeviceView) -> dict[str, str]:
    """What the claims sharing a device (allowMultipleAllocations) consume of each capacity, summed."""
    totals: dict[str, Quantity] = {}
    for holder in view.holders:
        for name, value in holder.result.consumed_capacity.items():
            qualified = name if "/" in name else f"{view.device.driver}/{name}"
            try:
                amount = Quantity.parse(value)
            except QuantityError:
                continue
            totals[qualified] = totals[qualified].add(amount) if qualified in totals else amount
    return {name: str(value) for name, value in totals.items()}


def device_list(views: Sequence[DeviceView]) -> dict:
    return {"kind": "DeviceList", "apiVersion": "kubectl-dra/v1", "items": [device_item(v) for v in views]}


def device_names(views: Sequence[DeviceView]) -> str:
    return "".join(f"{v.device.driver}/{v.device.pool}/{v.device.name}\n" for v in views)


# ---------------------------------------------------------------------------- list -w


def device_signature(view: DeviceView) -> tuple:
    """What makes a device's line worth printing again: its state, who holds it, which pods use
    it, what blocks it, its taints."""
    holders = tuple((h.claim.ref, h.result.request, tuple(h.pods)) for h in view.holders)
    admin = tuple(h.claim.ref for h in view.admin_holders)
    taints = tuple(sorted(repr(t) for t in view.device.taints)) if view.device.taints else ()
    return (view.state, holders, admin, tuple(view.blocked_by), taints)


class DeviceWatchView:
    """What ``list -w`` prints of each rebuilt cluster (``cli._watch.stream_changes``'s callbacks):
    the selected devices keyed by device key with their :func:`device_signature`, their rows, items
    and names. A device that leaves the selection prints as it is now; one removed from the
    cluster prints with the state ``deleted``.

    ``select(cluster)``: the selected device views (``domain.device_query.DeviceQuery``)."""

    def __init__(self, select: Any, *, wide: bool) -> None:
        self.select = select
        self.wide = wide
        self.headers = WIDE_COLUMNS if wide else COLUMNS
        self.state_column = COLUMNS.index("STATE")
        #: every device of the cluster now: what a device that left the selection prints as
        self._current: dict[tuple[str, str, str], DeviceView] = {}

    def snapshot(self, cluster: Any) -> dict:
        views = self.select(cluster)
        everything = cluster.device_views()
        self._current = {v.device.key: v for v in everything}
        return {v.device.key: (device_signature(v), v) for v in views}

    def partial(self, cluster: Any, patch: Any) -> list | None:
        """The snapshot entries of the device views ``patch`` recomputed in place or added, and of
        the devices it removed (``kube.watch``): ``(key, entry or None)``, the entries in the new
        listing's order, then the Nones in the old one's (as :func:`kube.watch.diff` orders a
        rebuilt snapshot); None when the selection cannot tell."""
        selects = getattr(self.select, "selects", None)
        decide = getattr(self.select, "decide", None)
        if selects is None:
            return None
        removed = getattr(patch, "removed", ())
        if removed or any(v.device.key not in self._current for v in patch.views):
            if decide is None:
                return None
        current = self._current
        for view in removed:
            current.pop(view.device.key, None)
        if decide is not None:
            # new devices (a slice published or republished): the filters decide them once
            decide(cluster, patch.views, gone=[v.device.key for v in removed])
        shown, hidden = [], []
        for view in patch.views:
            chosen = selects(view)
            if chosen is None:
                return None
            key = view.device.key
            current[key] = view
            (shown if chosen else hidden).append(view)
        old_order = getattr(patch, "old_order", {})
        listing_key = cluster.listing_key
        shown.sort(key=listing_key)
        hidden += removed
        hidden.sort(key=lambda v: old_order.get(v.device.key) or listing_key(v))
        out: list = [(v.device.key, (device_signature(v), v)) for v in shown]
        out += [(v.device.key, None) for v in hidden]
        return out

    def _view_of(self, change: Any) -> tuple[DeviceView, bool]:
        """The view to print, and whether the device is gone from the cluster."""
        if change.type == "DELETED":
            now = self._current.get(change.key)
            return (now, False) if now is not None else (change.value, True)
        return change.value, False

    def rows(self, cluster: Any, change: Any) -> list[list[str]]:
        view, gone = self._view_of(change)
        row = device_row(view, self.wide)
        if gone:
            row[self.state_column] = "deleted"
        return [row]

    def item(self, cluster: Any, change: Any) -> dict:
        view, gone = self._view_of(change)
        data = device_item(view)
        return {**data, "state": "deleted"} if gone else data

    @staticmethod
    def name(change: Any) -> str:
        dev = change.value.device
        return f"{dev.driver}/{dev.pool}/{dev.name}"
