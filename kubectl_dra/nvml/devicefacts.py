"""The NVML facts of one published device (``show DEVICE --nvml live|FILE``).

A ``gpu.nvidia.com`` device is matched to its GPU in a node snapshot by UUID (``uuid``; a MIG
device by its own UUID, else by ``parentUUID`` and profile), then by PCI bus id. The facts are
what DRA does not publish, or may publish stale: memory, MIG mode and the MIG devices that exist
now, active NVLinks, the fabric clique, and health.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubectl_dra.model.device import Device
    from kubectl_dra.nvml.snapshot import Gpu, MigDevice, Snapshot

PCI_BUS_ID = "resource.kubernetes.io/pciBusID"


def match(snap: Snapshot, device: Device) -> tuple[Gpu | None, MigDevice | None]:
    uuid = device.attr("uuid")
    parent = device.attr("parentUUID")
    for g in snap.gpus:
        if uuid and g.uuid == uuid:
            return g, None
        for m in g.mig_devices:
            if uuid and m.uuid == uuid:
                return g, m
    if parent:
        gpu = snap.gpu_by_uuid(str(parent))
        if gpu is not None:
            profile = device.attr("profile")
            same = [m for m in gpu.mig_devices if profile and m.profile == profile]
            return gpu, (same[0] if len(same) == 1 else None)
    bus = device.attr(PCI_BUS_ID)
    if bus:
        gpu = snap.gpu_by_bus_id(str(bus))
        if gpu is not None:
            return gpu, None
    return None, None


def facts(snap: Snapshot, device: Device) -> dict[str, Any] | None:
    """``{"node", "collectedAt", "gpu": {...}, "migDevice": {...}|None, "health": [...]}``, or None when the
    snapshot has no GPU for this device."""
    from kubectl_dra.nvml.fleet import health_problems

    gpu, mig = match(snap, device)
    if gpu is None:
        return None
    one = type(snap)(node=snap.node, collected_at=snap.collected_at, gpus=[gpu])
    return {
        "node": snap.node,
        "collectedAt": snap.collected_at,
        "driverVersion": snap.driver_version,
        "gpu": gpu.to_dict(),
        "migDevice": mig.to_dict() if mig is not None else None,
        "health": health_problems(one),
    }


def facts_text(data: dict[str, Any] | None, *, source: str) -> str:
    """The section ``show`` appends to the device card."""
    if data is None:
        return f"\nNVML ({source}): no GPU in the snapshot matches this device (by UUID or PCI bus id)\n"
    from kubectl_dra.render.nvml import human_bytes

    g = data["gpu"]
    active = [link for link in g.get("nvlinks") or [] if link.get("active")]
    fabric = g.get("fabric") or {}
    clique = (f"{fabric.get('clusterUuid')}.{fabric.get('cliqueId')}"
              if fabric.get("state") == "completed" and str(fabric.get("clusterUuid") or "").strip("0-") else "-")  # fmt: skip
    migs = g.get("migDevices") or []
    rows = [
        ("GPU", f"{g.get('index')}  {g.get('name') or '-'}  {g.get('uuid') or '-'}"),
        ("PCI", f"{g.get('pciBusId') or '-'}  root {g.get('pcieRoot') or '-'}  NUMA {'-' if g.get('numaNode') is None else g.get('numaNode')}"),
        ("Memory", human_bytes(g.get("memoryBytes"))),
        ("MIG", "not supported" if g.get("migEnabled") is None else
         (f"on, {len(migs)} MIG device{'s' if len(migs) != 1 else ''}: " + ", ".join(
             str(m.get("profile") or "?") for m in migs) if g.get("migEnabled") else "off")),
        ("NVLink", f"{len(active)} active" if g.get("nvlinks") else "none"),
        ("Clique", clique),
        ("Health", "; ".join(data.get("health") or []) or ("lost" if g.get("lost") else "ok")),
    ]
    if data.get("migDevice"):
        m = data["migDevice"]
        rows.insert(1, ("MIG device", f"{m.get('profile') or '?'}  {m.get('uuid') or '-'}  GI {m.get('giId')} CI {m.get('ciId')}"))
    width = max(len(k) for k, _ in rows) + 2
    lines = [f"NVML ({source}, node {data['node']}, {data.get('collectedAt') or '?'}):"]
    lines += [f"  {k + ':':<{width}}{v}" for k, v in rows]
    return "\n" + "\n".join(lines) + "\n"
