"""The ResourceSlice(s) the NVIDIA DRA driver (``gpu.nvidia.com``) would publish for a snapshot.

Device names, attribute keys and value normalisations follow drivers.md §1.4-1.7 for the
driver release chosen by ``driver_version_style``:

=========  ==============================================================================
style      what changes
=========  ==============================================================================
v25.3      + ``index``/``minor`` (GPU), ``index``/``parentIndex`` (MIG); ``pcieBusID``;
           MIG names ``gpu-<minor>-mig-<giProfileId>-<start>-<size>``
v25.8      ``index``/``minor``/``parentIndex`` removed; otherwise as v25.3
v25.12     ``pcieBusID`` -> ``resource.kubernetes.io/pciBusID``; + ``addressingMode``;
           MIG names ``gpu-<minor>-mig-<profile>-<giProfileId>-<start>``; DynamicMIG
v0.4       same GPU/MIG attributes as v25.12 (the current release; the default)
main       + ``resource.kubernetes.io/numaNode``
=========  ==============================================================================

Normalisations: ``driverVersion`` as semver without leading zeros (NVML ``580.95.05`` ->
``580.95.5``), ``cudaDriverVersion`` and ``cudaComputeCapability`` as ``X.Y.0``, bus ids
lower case with a 4-digit domain, memory as a canonical BinarySI quantity. The
``resource.kubernetes.io/pcieRoot`` attribute is set when the snapshot has the GPU's PCIe
root (the driver reads sysfs and omits it when it cannot resolve it). Gated extras
(``gpuModuleID``, ``partitionN``, ConsumableShares, health taints) are not modelled.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from kubectl_dra.model.quantity import BINARY_SI, Quantity
from kubectl_dra.nvml.backend import GI_PROFILE_1_SLICE_REV1
from kubectl_dra.nvml.snapshot import Gpu, MigDevice, MigProfile, Snapshot, dra_bus_id

DRIVER = "gpu.nvidia.com"
STANDARD = "resource.kubernetes.io"
STYLES = ("v25.3", "v25.8", "v25.12", "v0.4", "main")
CURRENT_RELEASE = "v0.4"
DEFAULT_STYLE = CURRENT_RELEASE

#: capacity key (camelCase) -> shared counter name (DNS form), ``PartSharedCounterSets``
COUNTER_NAMES = {
    "multiprocessors": "multiprocessors",
    "copyEngines": "copy-engines",
    "decoders": "decoders",
    "encoders": "encoders",
    "jpegEngines": "jpeg-engines",
    "ofaEngines": "ofa-engines",
    "memory": "memory",
}
_PRE_HOPPER = {"Kepler", "Maxwell", "Pascal", "Volta", "Turing", "Ampere", "Ada Lovelace"}


def _rank(style: str) -> int:
    if style not in STYLES:
        raise ValueError(f"unknown driver version style {style!r}; one of {', '.join(STYLES)}")
    return STYLES.index(style)


# ---------------------------------------------------------------------------- value forms


def semver(version: str | None) -> str | None:
    """``580.95.05`` -> ``580.95.5``, ``9.0`` -> ``9.0.0`` (the driver's semver round trip)."""
    if not version:
        return None
    parts = version.strip().split(".")
    if not all(p.isdigit() for p in parts):
        return None
    nums = [int(p) for p in parts[:3]] + [0] * (3 - min(len(parts), 3))
    return ".".join(str(n) for n in nums)


def binary_quantity(n: int) -> str:
    """Bytes as the canonical BinarySI quantity the driver publishes (``80Gi``, ``81559Mi``)."""
    return str(Quantity.from_int(n, BINARY_SI))


def rfc1123_profile(profile: str) -> str:
    """``1g.5gb+me`` -> ``1g5gb-me`` (``toRFC1123Compliant``: dots dropped, the rest to dashes)."""
    return re.sub(r"[^a-z0-9-]", "-", profile.lower().replace(".", "").replace("+", "-")).strip("-")


def _s(v: str) -> dict:
    return {"string": v}


def _i(v: int) -> dict:
    return {"int": v}


def _v(v: str) -> dict:
    return {"version": v}


def _q(v: str | int) -> dict:
    return {"value": str(v)}


# ---------------------------------------------------------------------------- attributes


def common_attributes(snapshot: Snapshot, gpu: Gpu, style: str) -> dict[str, dict]:
    """The attributes a GPU and each of its MIG devices share (``type``/``uuid`` aside)."""
    rank = _rank(style)
    attrs: dict[str, dict] = {}
    if gpu.name:
        attrs["productName"] = _s(gpu.name)
    if gpu.brand:
        attrs["brand"] = _s(gpu.brand)
    if gpu.architecture:
        attrs["architecture"] = _s(gpu.architecture)
    for key, value in (
        ("cudaComputeCapability", gpu.cuda_compute_capability),
        ("driverVersion", snapshot.driver_version),
        ("cudaDriverVersion", snapshot.cuda_driver_version),
    ):
        norm = semver(value)
        if norm:
            attrs[key] = _v(norm)
    if gpu.pci_bus_id:
        key = "pcieBusID" if rank < _rank("v25.12") else f"{STANDARD}/pciBusID"
        attrs[key] = _s(dra_bus_id(gpu.pci_bus_id))
    if gpu.pcie_root:
        attrs[f"{STANDARD}/pcieRoot"] = _s(gpu.pcie_root)
    if rank >= _rank("main") and gpu.numa_node is not None:
        attrs[f"{STANDARD}/numaNode"] = _i(gpu.numa_node)
    if rank >= _rank("v25.12") and gpu.addressing_mode:
        attrs["addressingMode"] = _s(gpu.addressing_mode)
    return attrs


def _engine_capacity(e: MigDevice | MigProfile) -> dict[str, int]:
    """``CommonCapacitiesMig``: capacity key -> value (memory in bytes)."""
    caps = {
        "multiprocessors": e.multiprocessor_count,
        "copyEngines": e.copy_engine_count,
        "decoders": e.decoder_count,
        "encoders": e.encoder_count,
        "jpegEngines": e.jpeg_count,
        "ofaEngines": e.ofa_count,
        "memory": e.memory_bytes,
    }
    return {k: v for k, v in caps.items() if v is not None}


def _capacity_value(key: str, value: int) -> str:
    return binary_quantity(value) if key == "memory" else str(value)


# ---------------------------------------------------------------------------- devices


def full_gpu_device(snapshot: Snapshot, gpu: Gpu, style: str) -> dict:
    """The ``gpu-<minor>`` device (``type: gpu``)."""
    attrs = {"type": _s("gpu")}
    if gpu.uuid:
        attrs["uuid"] = _s(gpu.uuid)
    if _rank(style) < _rank("v25.8"):
        attrs["index"] = _i(gpu.index)
        if gpu.minor is not None:
            attrs["minor"] = _i(gpu.minor)
    attrs.update(common_attributes(snapshot, gpu, style))
    dev: dict[str, Any] = {"name": f"gpu-{gpu.minor}", "attributes": attrs}
    if gpu.memory_bytes is not None:
        dev["capacity"] = {"memory": _q(binary_quantity(gpu.memory_bytes))}
    return dev


def static_mig_device(snapshot: Snapshot, gpu: Gpu, mig: MigDevice, style: str) -> dict | None:
    """A MIG device that exists (``type: mig``, with ``uuid`` and ``memorySlice<i>``)."""
    if mig.placement is None or mig.gi_profile_id is None or not mig.profile:
        return None  # NVML did not tell enough to name it
    rank = _rank(style)
    attrs = {"type": _s("mig")}
    if mig.uuid:
        attrs["uuid"] = _s(mig.uuid)
    if gpu.uuid:
        attrs["parentUUID"] = _s(gpu.uuid)
    attrs["profile"] = _s(mig.profile)
    if rank < _rank("v25.8"):
        if mig.index is not None:
            attrs["index"] = _i(mig.index)
        attrs["parentIndex"] = _i(gpu.index)
    attrs.update(common_attributes(snapshot, gpu, style))
    caps = {k: _q(_capacity_value(k, v)) for k, v in _engine_capacity(mig).items()}
    for i in mig.placement.slices():
        caps[f"memorySlice{i}"] = _q(1)
    return {"name": mig_device_name(gpu, mig.profile, mig.gi_profile_id, mig.placement.start, mig.placement.size, style),
            "attributes": attrs, "capacity": caps}  # fmt: skip


def mig_device_name(gpu: Gpu, profile: str, gi_profile_id: int, start: int, size: int, style: str) -> str:
    """``gpu-0-mig-1g10gb-19-2`` (v25.12+) or ``gpu-0-mig-19-2-1`` (v25.3-v25.8)."""
    if _rank(style) < _rank("v25.12"):
        return f"gpu-{gpu.minor}-mig-{gi_profile_id}-{start}-{size}"
    return f"gpu-{gpu.minor}-mig-{rfc1123_profile(profile)}-{gi_profile_id}-{start}"


def dynamic_profiles(gpu: Gpu) -> list[MigProfile]:
    """Profiles DynamicMIG advertises: full compute instances only, without ``1_SLICE_REV1`` (+me)."""
    return [p for p in gpu.mig_profiles if p.profile_index != GI_PROFILE_1_SLICE_REV1 and p.placements]


def counter_set(gpu: Gpu, profiles: list[MigProfile]) -> dict:
    """``gpu-<minor>-counter-set``: each capacity's maximum over the profiles, plus one
    ``memory-slice-<i>`` per memory slice."""
    maxima: dict[str, int] = {}
    for p in profiles:
        for k, v in _engine_capacity(p).items():
            maxima[k] = max(maxima.get(k, 0), v)
    counters = {COUNTER_NAMES[k]: _q(_capacity_value(k, v)) for k, v in maxima.items()}
    slices = max((pl.start + pl.size for p in profiles for pl in p.placements), default=0)
    for i in range(slices):
        counters[f"memory-slice-{i}"] = _q(1)
    return {"name": f"gpu-{gpu.minor}-counter-set", "counters": counters}


def dynamic_devices(snapshot: Snapshot, gpu: Gpu, style: str) -> tuple[dict | None, list[dict]]:
    """(counter set or None, devices) of one GPU under the ``DynamicMIG`` feature gate."""
    profiles = dynamic_profiles(gpu) if gpu.mig_enabled is not None else []
    if not profiles:
        return None, [full_gpu_device(snapshot, gpu, style)]
    ampere_or_older = gpu.architecture in _PRE_HOPPER
    if ampere_or_older and not gpu.mig_enabled:
        return None, [full_gpu_device(snapshot, gpu, style)]  # MIG off, cannot toggle: full GPU only
    cs = counter_set(gpu, profiles)
    devices: list[dict] = []
    if not ampere_or_older:  # Hopper+: MIG mode toggles without a reset, so the whole GPU is offered too
        full = full_gpu_device(snapshot, gpu, style)
        maxima: dict[str, int] = {}
        for p in profiles:
            for k, v in _engine_capacity(p).items():
                maxima[k] = max(maxima.get(k, 0), v)
        full["capacity"] = {k: _q(_capacity_value(k, v)) for k, v in maxima.items()}
        full["consumesCounters"] = [{"counterSet": cs["name"], "counters": {k: dict(v) for k, v in cs["counters"].items()}}]
        devices.append(full)
    common = common_attributes(snapshot, gpu, style)
    for p in profiles:
        caps = _engine_capacity(p)
        for pl in p.placements:
            attrs = {"type": _s("mig"), "profile": _s(p.profile)}
            if gpu.uuid:
                attrs["parentUUID"] = _s(gpu.uuid)
            attrs.update(common)
            counters = {COUNTER_NAMES[k]: _q(_capacity_value(k, v)) for k, v in caps.items()}
            for i in pl.slices():
                counters[f"memory-slice-{i}"] = _q(1)
            devices.append({
                "name": mig_device_name(gpu, p.profile, p.gi_profile_id, pl.start, pl.size, style),
                "attributes": attrs,
                "capacity": {k: _q(_capacity_value(k, v)) for k, v in caps.items()},
                "consumesCounters": [{"counterSet": cs["name"], "counters": counters}],
            })  # fmt: skip
    return cs, devices


def _publishable(gpu: Gpu) -> bool:
    return not gpu.lost and gpu.minor is not None


def static_devices(snapshot: Snapshot, gpu: Gpu, style: str) -> list[dict]:
    """Default mode: a GPU with MIG on is published only as its MIG devices (none: stranded)."""
    if gpu.mig_enabled:
        return [d for d in (static_mig_device(snapshot, gpu, m, style) for m in gpu.mig_devices) if d]
    return [full_gpu_device(snapshot, gpu, style)]


# ---------------------------------------------------------------------------- slices


def _slice(snapshot: Snapshot, n: int, count: int, *, devices: list[dict] | None = None,
           counters: list[dict] | None = None, api_version: str) -> dict:  # fmt: skip
    spec: dict[str, Any] = {
        "driver": DRIVER,
        "nodeName": snapshot.node,
        "pool": {"name": snapshot.node, "generation": 1, "resourceSliceCount": count},
    }
    if counters is not None:
        spec["sharedCounters"] = counters
    if devices is not None:
        spec["devices"] = devices
    return {
        "apiVersion": api_version,
        "kind": "ResourceSlice",
        "metadata": {"name": f"{snapshot.node}-{DRIVER}-nvml-{n}", "generateName": f"{snapshot.node}-{DRIVER}-"},
        "spec": spec,
    }


def as_resourceslice(
    snapshot: Snapshot,
    driver_version_style: str = DEFAULT_STYLE,
    *,
    dynamic_mig: bool = False,
    split_slices: bool = True,
    api_version: str = "resource.k8s.io/v1",
) -> dict:
    """A ``v1`` ``List`` of the ResourceSlices the driver would publish for this node.

    Default mode gives one slice with every device. ``dynamic_mig=True`` models the
    ``DynamicMIG`` gate: with ``split_slices`` (Kubernetes >= 1.35) one counters-only
    slice plus one slice per GPU, else (1.34) one slice per GPU holding its counter set
    and devices. Lost GPUs and GPUs without a minor number are left out, as the driver
    cannot enumerate them either. Only the ``v1`` device layout is produced.
    """
    _rank(driver_version_style)
    gpus = [g for g in snapshot.gpus if _publishable(g)]
    if not dynamic_mig:
        devices = [d for g in gpus for d in static_devices(snapshot, g, driver_version_style)]
        items = [_slice(snapshot, 0, 1, devices=devices, api_version=api_version)]
    else:
        per_gpu = [dynamic_devices(snapshot, g, driver_version_style) for g in gpus]
        sets = [cs for cs, _ in per_gpu if cs]
        if split_slices:
            count = len(per_gpu) + (1 if sets else 0)
            items = [_slice(snapshot, 0, count, counters=sets, api_version=api_version)] if sets else []
            items += [_slice(snapshot, len(items), count, devices=devs, api_version=api_version) for _, devs in per_gpu]
        else:
            items = [
                _slice(snapshot, n, len(per_gpu), devices=devs, counters=[cs] if cs else None, api_version=api_version)
                for n, (cs, devs) in enumerate(per_gpu)
            ]
    return {"apiVersion": "v1", "kind": "List", "items": items}


# ---------------------------------------------------------------------------- reading published devices


def detect_style(devices: Iterable[Any]) -> str:
    """The driver release whose attribute set published ``gpu.nvidia.com`` devices show:
    ``index``/``minor`` -> v25.3, ``pcieBusID`` -> v25.8, ``numaNode`` -> main, else the
    current release. Takes ``kubectl_dra.model.device.Device`` objects (or anything with
    ``driver`` and ``attributes``)."""
    keys: set[str] = set()
    for d in devices:
        if getattr(d, "driver", None) == DRIVER:
            keys.update(getattr(d, "attributes", {}) or {})
    if f"{DRIVER}/index" in keys or f"{DRIVER}/minor" in keys or f"{DRIVER}/parentIndex" in keys:
        return "v25.3"
    if f"{DRIVER}/pcieBusID" in keys:
        return "v25.8"
    if f"{STANDARD}/numaNode" in keys:
        return "main"
    return CURRENT_RELEASE


def detect_dynamic_mig(devices: Iterable[Any]) -> bool:
    """True when the published ``gpu.nvidia.com`` devices consume shared counters (DynamicMIG)."""
    return any(getattr(d, "driver", None) == DRIVER and getattr(d, "consumes_counters", ()) for d in devices)
