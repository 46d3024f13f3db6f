"""The NVML backend over pynvml (package ``nvidia-ml-py``), the only module that imports it.

pynvml is imported when a ``RealBackend`` is initialised, never at import time, so the
plugin starts without it and without a GPU. Missing pynvml raises ``NvmlUnavailable``;
a missing ``libnvidia-ml.so.1`` or kernel driver makes ``init()`` raise
``NvmlCallError("nvmlInitWithFlags", "LIBRARY_NOT_FOUND" / "DRIVER_NOT_LOADED")``, which
``collect()`` turns into ``NvmlUnavailable`` with a hint.

Nothing here needs root beyond what NVML itself needs: every call is a query, and the two
values the DRA driver reads from sysfs rather than NVML (``numa_node`` and the PCIe root
behind ``resource.kubernetes.io/pcieRoot``) come from world-readable
``/sys/bus/pci/devices/<bdf>``. MIG instance queries (``nvmlDeviceGetGpuInstanceById``)
may return NO_PERMISSION for unprivileged users on some drivers; the collector records
that and carries on.
"""

from __future__ import annotations

import ctypes
import os
import re
from pathlib import Path
from typing import Any, Callable

from kubectl_dra.nvml.backend import (
    FabricInfo,
    GpuInstanceProfileInfo,
    Handle,
    InstanceInfo,
    NvmlCallError,
    NvmlUnavailable,
    error_name,
)
from kubectl_dra.nvml.snapshot import dra_bus_id

_ROOT_COMPONENT = re.compile(r"^pci[0-9a-f]{4,8}:[0-9a-f]{2}$")
_MAX_PLACEMENTS = 32


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class RealBackend:
    """``NvmlBackend`` over pynvml. ``sysfs`` is where ``/sys`` is (tests point it elsewhere)."""

    def __init__(self, sysfs: str | Path = "/sys") -> None:
        self.sysfs = Path(sysfs)
        self._nv: Any = None

    # ------------------------------------------------------------------ plumbing

    @property
    def nv(self) -> Any:
        if self._nv is None:
            try:
                import pynvml
            except ImportError:
                raise NvmlUnavailable.pynvml_missing() from None
            self._nv = pynvml
        return self._nv

    def _call(self, symbol: str, fn: str | Callable[..., Any], *args: Any) -> Any:
        """Run a pynvml function (by name, or a callable); its NVMLError becomes
        NvmlCallError(symbol, code name). A function this pynvml lacks is FUNCTION_NOT_FOUND,
        as a symbol the loaded libnvidia-ml lacks is."""
        nv = self.nv
        if isinstance(fn, str):
            fn = getattr(nv, fn, None)
            if fn is None:
                raise NvmlCallError(symbol, "FUNCTION_NOT_FOUND")
        try:
            return fn(*args)
        except nv.NVMLError as e:
            raise NvmlCallError(symbol, error_name(getattr(e, "value", 999))) from None

    def _pci_device_dir(self, h: Handle) -> Path | None:
        try:
            bus = self.device_pci_bus_id(h)
            return self.sysfs / "bus" / "pci" / "devices" / dra_bus_id(bus)
        except (NvmlCallError, ValueError):
            return None

    # ------------------------------------------------------------------ lifecycle and system

    def init(self) -> None:
        self._call("nvmlInitWithFlags", "nvmlInitWithFlags", 0)

    def shutdown(self) -> None:
        self._call("nvmlShutdown", "nvmlShutdown")

    def system_driver_version(self) -> str:
        return _text(self._call("nvmlSystemGetDriverVersion", "nvmlSystemGetDriverVersion"))

    def system_cuda_driver_version(self) -> int:
        return int(self._call("nvmlSystemGetCudaDriverVersion", "nvmlSystemGetCudaDriverVersion"))

    def system_nvml_version(self) -> str:
        return _text(self._call("nvmlSystemGetNVMLVersion", "nvmlSystemGetNVMLVersion"))

    # ------------------------------------------------------------------ devices

    def device_count(self) -> int:
        return int(self._call("nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"))

    def device_handle(self, index: int) -> Handle:
        return self._call("nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex", index)

    def device_name(self, h: Handle) -> str:
        return _text(self._call("nvmlDeviceGetName", "nvmlDeviceGetName", h))

    def device_uuid(self, h: Handle) -> str:
        return _text(self._call("nvmlDeviceGetUUID", "nvmlDeviceGetUUID", h))

    def device_minor(self, h: Handle) -> int:
        return int(self._call("nvmlDeviceGetMinorNumber", "nvmlDeviceGetMinorNumber", h))

    def device_brand(self, h: Handle) -> int:
        return int(self._call("nvmlDeviceGetBrand", "nvmlDeviceGetBrand", h))

    def device_architecture(self, h: Handle) -> int:
        return int(self._call("nvmlDeviceGetArchitecture", "nvmlDeviceGetArchitecture", h))

    def device_cuda_compute_capability(self, h: Handle) -> tuple[int, int]:
        major, minor = self._call("nvmlDeviceGetCudaComputeCapability", "nvmlDeviceGetCudaComputeCapability", h)
        return int(major), int(minor)

    def device_memory_total(self, h: Handle) -> int:
        # the v1 struct, as the driver reads it (v2 reports the same total)
        return int(self._call("nvmlDeviceGetMemoryInfo", "nvmlDeviceGetMemoryInfo", h).total)

    def device_pci_bus_id(self, h: Handle) -> str:
        return _text(self._call("nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v3", h).busId)

    def device_numa_node(self, h: Handle) -> int | None:
        """sysfs ``numa_node`` first (what the driver publishes), NVML's answer when sysfs has none."""
        folder = self._pci_device_dir(h)
        if folder is not None:
            try:
                node = int((folder / "numa_node").read_text().strip())
                return node if node >= 0 else None
            except (OSError, ValueError):
                pass
        node = int(self._call("nvmlDeviceGetNumaNodeId", "nvmlDeviceGetNumaNodeId", h))
        return node if node >= 0 else None

    def device_pcie_root(self, h: Handle) -> str | None:
        """``pci<domain>:<bus>`` of the root complex above the GPU, from its sysfs path
        (``/sys/devices/pci0000:15/0000:15:01.0/.../0000:1a:00.0``); None when unresolvable."""
        folder = self._pci_device_dir(h)
        if folder is None:
            return None
        try:
            target = os.path.realpath(folder, strict=True)
        except OSError:
            return None
        return next((part for part in Path(target).parts if _ROOT_COMPONENT.match(part)), None)

    def device_addressing_mode(self, h: Handle) -> int:
        return int(self._call("nvmlDeviceGetAddressingMode", "nvmlDeviceGetAddressingMode", h))

    # ------------------------------------------------------------------ MIG

    def device_mig_mode(self, h: Handle) -> tuple[int, int]:
        current, pending = self._call("nvmlDeviceGetMigMode", "nvmlDeviceGetMigMode", h)
        return int(current), int(pending)

    def device_max_mig_device_count(self, h: Handle) -> int:
        return int(self._call("nvmlDeviceGetMaxMigDeviceCount", "nvmlDeviceGetMaxMigDeviceCount", h))

    def mig_device_handle(self, h: Handle, index: int) -> Handle:
        return self._call("nvmlDeviceGetMigDeviceHandleByIndex", "nvmlDeviceGetMigDeviceHandleByIndex", h, index)

    def mig_gpu_instance_id(self, mh: Handle) -> int:
        return int(self._call("nvmlDeviceGetGpuInstanceId", "nvmlDeviceGetGpuInstanceId", mh))

    def mig_compute_instance_id(self, mh: Handle) -> int:
        return int(self._call("nvmlDeviceGetComputeInstanceId", "nvmlDeviceGetComputeInstanceId", mh))

    def _gpu_instance(self, h: Handle, gi_id: int) -> Any:
        return self._call("nvmlDeviceGetGpuInstanceById", "nvmlDeviceGetGpuInstanceById", h, gi_id)

    def gpu_instance_info(self, h: Handle, gi_id: int) -> InstanceInfo:
        info = self._call("nvmlGpuInstanceGetInfo", "nvmlGpuInstanceGetInfo", self._gpu_instance(h, gi_id))
        return InstanceInfo(int(info.id), int(info.profileId), int(info.placement.start), int(info.placement.size))

    def compute_instance_info(self, h: Handle, gi_id: int, ci_id: int) -> InstanceInfo:
        gi = self._gpu_instance(h, gi_id)
        ci = self._call(
            "nvmlGpuInstanceGetComputeInstanceById", "nvmlGpuInstanceGetComputeInstanceById", gi, ci_id
        )
        info = self._call("nvmlComputeInstanceGetInfo_v2", "nvmlComputeInstanceGetInfo", ci)
        return InstanceInfo(int(info.id), int(info.profileId), int(info.placement.start), int(info.placement.size))

    def gpu_instance_profile_info(self, h: Handle, profile_index: int) -> GpuInstanceProfileInfo:
        i = self._call(
            "nvmlDeviceGetGpuInstanceProfileInfoV", "nvmlDeviceGetGpuInstanceProfileInfo", h, profile_index, 2
        )
        return GpuInstanceProfileInfo(
            int(i.id), int(i.sliceCount), int(i.instanceCount), int(i.multiprocessorCount), int(i.copyEngineCount),
            int(i.decoderCount), int(i.encoderCount), int(i.jpegCount), int(i.ofaCount), int(i.memorySizeMB),
            _text(i.name),
        )  # fmt: skip

    def gpu_instance_possible_placements(self, h: Handle, profile_id: int) -> list[tuple[int, int]]:
        nv = self.nv
        placements = (nv.c_nvmlGpuInstancePlacement_t * _MAX_PLACEMENTS)()
        count = ctypes.c_uint(_MAX_PLACEMENTS)
        self._call(
            "nvmlDeviceGetGpuInstancePossiblePlacements_v2",
            "nvmlDeviceGetGpuInstancePossiblePlacements", h, profile_id, placements, ctypes.byref(count),
        )  # fmt: skip
        return [(int(p.start), int(p.size)) for p in placements[: min(count.value, _MAX_PLACEMENTS)]]

    # ------------------------------------------------------------------ NVLink, topology, fabric

    def nvlink_state(self, h: Handle, link: int) -> bool:
        return bool(self._call("nvmlDeviceGetNvLinkState", "nvmlDeviceGetNvLinkState", h, link))

    def nvlink_version(self, h: Handle, link: int) -> int:
        return int(self._call("nvmlDeviceGetNvLinkVersion", "nvmlDeviceGetNvLinkVersion", h, link))

    def nvlink_remote_pci_bus_id(self, h: Handle, link: int) -> str:
        info = self._call("nvmlDeviceGetNvLinkRemotePciInfo_v2", "nvmlDeviceGetNvLinkRemotePciInfo", h, link)
        return _text(info.busId)

    def nvlink_remote_device_type(self, h: Handle, link: int) -> int:
        return int(
            self._call("nvmlDeviceGetNvLinkRemoteDeviceType", "nvmlDeviceGetNvLinkRemoteDeviceType", h, link)
        )

    def topology_common_ancestor(self, h1: Handle, h2: Handle) -> int:
        return int(
            self._call("nvmlDeviceGetTopologyCommonAncestor", "nvmlDeviceGetTopologyCommonAncestor", h1, h2)
        )

    def gpu_fabric_info(self, h: Handle) -> FabricInfo:
        """The versioned call with the v2 struct (adds healthMask); the v1 call where the
        library or the bindings predate it (FUNCTION_NOT_FOUND)."""
        nv = self.nv
        v2 = getattr(nv, "c_nvmlGpuFabricInfo_v2_t", None)
        health: int | None = None
        try:
            if v2 is None:
                raise NvmlCallError("nvmlDeviceGetGpuFabricInfoV", "FUNCTION_NOT_FOUND")
            info = v2()
            self._call("nvmlDeviceGetGpuFabricInfoV", "nvmlDeviceGetGpuFabricInfoV", h, ctypes.byref(info))
            health = int(info.healthMask)
        except NvmlCallError as e:
            if e.code != "FUNCTION_NOT_FOUND":
                raise
            info = nv.c_nvmlGpuFabricInfo_t()
            self._call("nvmlDeviceGetGpuFabricInfo", "nvmlDeviceGetGpuFabricInfo", h, ctypes.byref(info))
        return FabricInfo(bytes(info.clusterUuid), int(info.cliqueId), int(info.state), int(info.status), health)
