"""The NVML calls the collector needs, as a small interface, and the errors they raise.

Two implementations: ``real.RealBackend`` (pynvml, the only module that imports it) and
``fake.FakeBackend`` (data: NVIDIA's nvml-mock profiles or a snapshot). Values cross the
interface as plain Python types, already decoded from NVML's structs, so the collector
never sees ctypes. Handles are opaque: pass back what ``device_handle`` /
``mig_device_handle`` returned.

Every method names the NVML C function it stands for (``call``) in the ``NvmlCallError``
it raises, with NVML's error code name (``NOT_SUPPORTED``, ``NO_PERMISSION``,
``GPU_IS_LOST``, ``DRIVER_NOT_LOADED``, ``LIBRARY_NOT_FOUND``, ``UNINITIALIZED``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from kubectl_dra.errors import DraError

Handle = Any

# ---------------------------------------------------------------------------- NVML constants
# Values of the NVML C API (nvml.h); kept here so that nothing outside real.py needs pynvml.

#: nvmlReturn_t code -> name, as used in NvmlCallError.code and snapshot errors
ERROR_CODES: dict[int, str] = {
    0: "SUCCESS",
    1: "UNINITIALIZED",
    2: "INVALID_ARGUMENT",
    3: "NOT_SUPPORTED",
    4: "NO_PERMISSION",
    5: "ALREADY_INITIALIZED",
    6: "NOT_FOUND",
    7: "INSUFFICIENT_SIZE",
    8: "INSUFFICIENT_POWER",
    9: "DRIVER_NOT_LOADED",
    10: "TIMEOUT",
    11: "IRQ_ISSUE",
    12: "LIBRARY_NOT_FOUND",
    13: "FUNCTION_NOT_FOUND",
    14: "CORRUPTED_INFOROM",
    15: "GPU_IS_LOST",
    16: "RESET_REQUIRED",
    17: "OPERATING_SYSTEM",
    18: "LIB_RM_VERSION_MISMATCH",
    19: "IN_USE",
    20: "MEMORY",
    21: "NO_DATA",
    22: "VGPU_ECC_NOT_SUPPORTED",
    23: "INSUFFICIENT_RESOURCES",
    24: "FREQ_NOT_SUPPORTED",
    25: "ARGUMENT_VERSION_MISMATCH",
    26: "DEPRECATED",
    27: "NOT_READY",
    28: "GPU_NOT_FOUND",
    29: "INVALID_STATE",
    30: "RESET_TYPE_NOT_SUPPORTED",
    999: "UNKNOWN",
}
ERROR_VALUES = {name: code for code, name in ERROR_CODES.items()}

#: nvmlBrandType_t -> go-nvlib ``GetBrandAsString`` (what the driver publishes as ``brand``)
BRANDS = {
    0: "Unknown", 1: "Quadro", 2: "Tesla", 3: "NVS", 4: "Grid", 5: "GeForce", 6: "Titan",
    7: "NvidiaVApps", 8: "NvidiaVPC", 9: "NvidiaVCS", 10: "NvidiaVWS", 11: "NvidiaCloudGaming",
    12: "QuadroRTX", 13: "NvidiaRTX", 14: "Nvidia", 15: "GeForceRTX", 16: "TitanRTX",
}  # fmt: skip
#: nvmlDeviceArchitecture_t -> go-nvlib ``GetArchitectureAsString`` (``architecture``)
ARCHITECTURES = {
    2: "Kepler", 3: "Maxwell", 4: "Pascal", 5: "Volta", 6: "Turing", 7: "Ampere",
    8: "Ada Lovelace", 9: "Hopper", 10: "Blackwell", 13: "Rubin", 0xFFFFFFFF: "Unknown",
}  # fmt: skip
ARCH_AMPERE = 7
ARCH_HOPPER = 9
#: nvmlDeviceAddressingModeType_t -> go-nvlib ``GetAddressingModeAsString``
ADDRESSING_MODES = {0: "None", 1: "HMM", 2: "ATS"}

#: nvmlGpuTopologyLevel_t -> nvidia-smi topo -m cell
TOPOLOGY_INTERNAL, TOPOLOGY_SINGLE, TOPOLOGY_MULTIPLE = 0, 10, 20
TOPOLOGY_HOSTBRIDGE, TOPOLOGY_NODE, TOPOLOGY_SYSTEM = 30, 40, 50
TOPOLOGY_CELLS = {0: "X", 10: "PIX", 20: "PXB", 30: "PHB", 40: "NODE", 50: "SYS"}

#: nvmlIntNvLinkDeviceType_t -> snapshot remoteType
NVLINK_DEVICE_GPU, NVLINK_DEVICE_IBMNPU, NVLINK_DEVICE_SWITCH, NVLINK_DEVICE_UNKNOWN = 0, 1, 2, 0xFF
NVLINK_REMOTE_TYPES = {0: "gpu", 1: "cpu", 2: "switch", 0xFF: "unknown"}
NVLINK_MAX_LINKS = 36  # NVML_NVLINK_MAX_LINKS (nvidia-ml-py 13.x)

#: nvmlGpuFabricState_t -> snapshot fabric.state
FABRIC_STATES = {0: "not_supported", 1: "not_started", 2: "in_progress", 3: "completed"}

MIG_DISABLE, MIG_ENABLE = 0, 1

#: NVML_GPU_INSTANCE_PROFILE_* indices, and the go-nvlib profile-name attributes they carry
GPU_INSTANCE_PROFILE_COUNT = 18
GI_PROFILE_1_SLICE_REV1 = 7
GI_PROFILE_ATTRIBUTES: dict[int, tuple[str, str]] = {
    # index: (attribute, sign) -> "+me", "-me", "+gfx", "+me.all"
    7: ("me", "+"), 8: ("me", "+"),
    10: ("gfx", "+"), 11: ("gfx", "+"), 12: ("gfx", "+"), 17: ("gfx", "+"),
    13: ("me", "-"), 14: ("me", "-"),
    15: ("me.all", "+"), 16: ("me.all", "+"),
}  # fmt: skip
COMPUTE_INSTANCE_PROFILE_COUNT = 9


def error_name(code: int) -> str:
    """NVML's name for a return code (``3`` -> ``NOT_SUPPORTED``)."""
    return ERROR_CODES.get(code, f"ERROR_{code}")


# ---------------------------------------------------------------------------- errors


class NvmlCallError(Exception):
    """One NVML call failed. ``call`` is the C function name, ``code`` NVML's error name."""

    def __init__(self, call: str, code: str) -> None:
        super().__init__(f"{call}: {code}")
        self.call = call
        self.code = code

    def __reduce__(self):
        return (type(self), (self.call, self.code))


#: why NVML cannot be used at all, and what to do about it
_HINTS = {
    "LIBRARY_NOT_FOUND": "libnvidia-ml.so.1 was not found: run this on a node with the NVIDIA driver "
    "installed (e.g. in a pod with the driver's libraries mounted), or load a snapshot file instead",
    "DRIVER_NOT_LOADED": "the NVIDIA kernel driver is not loaded on this host (is this a GPU node?)",
    "NO_PERMISSION": "NVML refused access: run as a user that can open /dev/nvidiactl and /dev/nvidia*",
    "LIB_RM_VERSION_MISMATCH": "libnvidia-ml and the loaded kernel module are different versions; "
    "reboot or reload the driver",
    "PYNVML_MISSING": "install the NVML bindings: pip install nvidia-ml-py",
}


class NvmlUnavailable(DraError):
    """NVML cannot be used at all on this host (no library, no driver, no permission).

    Exit code: ``ExitCode.ERROR`` (1). It is a property of the host the command runs on,
    not of the cluster (``CLUSTER``) or of an input file (``INPUT``).
    """

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code

    @classmethod
    def from_call(cls, err: NvmlCallError) -> NvmlUnavailable:
        hint = _HINTS.get(err.code, "NVML could not be initialised on this host")
        return cls(f"NVML is not usable here: {err.call} returned {err.code}", hint=hint, code=err.code)

    @classmethod
    def pynvml_missing(cls) -> NvmlUnavailable:
        return cls("the pynvml module (package nvidia-ml-py) is not installed", hint=_HINTS["PYNVML_MISSING"],
                   code="LIBRARY_NOT_FOUND")


# ---------------------------------------------------------------------------- decoded structs


@dataclass(frozen=True)
class GpuInstanceProfileInfo:
    """``nvmlGpuInstanceProfileInfo_v2_t``."""

    id: int
    slice_count: int
    instance_count: int
    multiprocessor_count: int
    copy_engine_count: int
    decoder_count: int
    encoder_count: int
    jpeg_count: int
    ofa_count: int
    memory_size_mb: int
    name: str = ""  # NVML's own, e.g. "MIG 1g.10gb"; the driver does not use it


@dataclass(frozen=True)
class InstanceInfo:
    """``nvmlGpuInstanceInfo_t`` / ``nvmlComputeInstanceInfo_t``: id, profile id and placement."""

    id: int
    profile_id: int
    start: int
    size: int


@dataclass(frozen=True)
class FabricInfo:
    """``nvmlGpuFabricInfo_t`` (v1) or ``_v2_t`` (adds ``health_mask``)."""

    cluster_uuid: bytes  # 16 bytes
    clique_id: int
    state: int  # NVML_GPU_FABRIC_STATE_*
    status: int  # nvmlReturn_t of the registration
    health_mask: int | None = None


# ---------------------------------------------------------------------------- the interface


@runtime_checkable
class NvmlBackend(Protocol):
    """The NVML calls ``collect()`` makes. Each raises ``NvmlCallError`` on failure."""

    # lifecycle and system
    def init(self) -> None: ...  # nvmlInitWithFlags(0)
    def shutdown(self) -> None: ...  # nvmlShutdown
    def system_driver_version(self) -> str: ...  # nvmlSystemGetDriverVersion
    def system_cuda_driver_version(self) -> int: ...  # nvmlSystemGetCudaDriverVersion, e.g. 12040
    def system_nvml_version(self) -> str: ...  # nvmlSystemGetNVMLVersion

    # devices
    def device_count(self) -> int: ...  # nvmlDeviceGetCount_v2
    def device_handle(self, index: int) -> Handle: ...  # nvmlDeviceGetHandleByIndex_v2
    def device_name(self, h: Handle) -> str: ...  # nvmlDeviceGetName
    def device_uuid(self, h: Handle) -> str: ...  # nvmlDeviceGetUUID
    def device_minor(self, h: Handle) -> int: ...  # nvmlDeviceGetMinorNumber
    def device_brand(self, h: Handle) -> int: ...  # nvmlDeviceGetBrand
    def device_architecture(self, h: Handle) -> int: ...  # nvmlDeviceGetArchitecture
    def device_cuda_compute_capability(self, h: Handle) -> tuple[int, int]: ...  # nvmlDeviceGetCudaComputeCapability
    def device_memory_total(self, h: Handle) -> int: ...  # nvmlDeviceGetMemoryInfo (v1 struct) .total
    def device_pci_bus_id(self, h: Handle) -> str: ...  # nvmlDeviceGetPciInfo_v3 .busId
    def device_numa_node(self, h: Handle) -> int | None: ...  # sysfs numa_node, else nvmlDeviceGetNumaNodeId; -1 -> None
    def device_pcie_root(self, h: Handle) -> str | None: ...  # sysfs, not NVML: pci<domain>:<bus> or None
    def device_addressing_mode(self, h: Handle) -> int: ...  # nvmlDeviceGetAddressingMode

    # MIG
    def device_mig_mode(self, h: Handle) -> tuple[int, int]: ...  # nvmlDeviceGetMigMode -> (current, pending)
    def device_max_mig_device_count(self, h: Handle) -> int: ...  # nvmlDeviceGetMaxMigDeviceCount
    def mig_device_handle(self, h: Handle, index: int) -> Handle: ...  # nvmlDeviceGetMigDeviceHandleByIndex
    def mig_gpu_instance_id(self, mh: Handle) -> int: ...  # nvmlDeviceGetGpuInstanceId
    def mig_compute_instance_id(self, mh: Handle) -> int: ...  # nvmlDeviceGetComputeInstanceId
    # nvmlDeviceGetGpuInstanceById + nvmlGpuInstanceGetInfo
    def gpu_instance_info(self, h: Handle, gi_id: int) -> InstanceInfo: ...
    # nvmlDeviceGetGpuInstanceById + nvmlGpuInstanceGetComputeInstanceById + nvmlComputeInstanceGetInfo_v2
    def compute_instance_info(self, h: Handle, gi_id: int, ci_id: int) -> InstanceInfo: ...
    # nvmlDeviceGetGpuInstanceProfileInfoV (v2 struct); NOT_SUPPORTED / INVALID_ARGUMENT: no such profile here
    def gpu_instance_profile_info(self, h: Handle, profile_index: int) -> GpuInstanceProfileInfo: ...
    # nvmlDeviceGetGpuInstancePossiblePlacements_v2 -> [(start, size)]
    def gpu_instance_possible_placements(self, h: Handle, profile_id: int) -> list[tuple[int, int]]: ...

    # NVLink, topology, fabric
    def nvlink_state(self, h: Handle, link: int) -> bool: ...  # nvmlDeviceGetNvLinkState
    def nvlink_version(self, h: Handle, link: int) -> int: ...  # nvmlDeviceGetNvLinkVersion
    def nvlink_remote_pci_bus_id(self, h: Handle, link: int) -> str: ...  # nvmlDeviceGetNvLinkRemotePciInfo_v2 .busId
    def nvlink_remote_device_type(self, h: Handle, link: int) -> int: ...  # nvmlDeviceGetNvLinkRemoteDeviceType
    def topology_common_ancestor(self, h1: Handle, h2: Handle) -> int: ...  # nvmlDeviceGetTopologyCommonAncestor
    def gpu_fabric_info(self, h: Handle) -> FabricInfo: ...  # nvmlDeviceGetGpuFabricInfoV (v2), else nvmlDeviceGetGpuFabricInfo
