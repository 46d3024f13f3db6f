"""A fake NVML backend built from data, with fault injection for tests and demos.

Two sources describe a machine (``FakeMachine``):

* NVIDIA's nvml-mock profiles (``k8s-test-infra/.../profiles/<gpu>.yaml``: ``system``,
  ``device_defaults``, ``devices``, ``nvlink``, ``pcie_topology``), read directly, with the
  mock engine's documented rules: NVLink "switch-link auto-expansion" (``links_per_gpu``
  links per GPU, round-robin over the declared NVSwitches, giving ``NV<links>``
  all-to-all), fabric ``state: auto`` resolving to ``completed``, ``max_gpu_instances: 0``
  meaning no MIG. Per-model MIG profile tables come from ``migprofiles``.
* A snapshot (``Snapshot``), so that anything collected can be replayed through
  ``collect()`` again; the failures recorded in it are replayed as faults.

``FakeBackend`` answers the ``NvmlBackend`` calls from a machine. Faults: ``fail(call,
code, gpu)`` makes one NVML call fail (on one GPU, or everywhere), ``lose(gpu)`` makes
every call on a GPU return ``GPU_IS_LOST``, ``init_error`` makes ``nvmlInitWithFlags``
fail (``LIBRARY_NOT_FOUND``, ``DRIVER_NOT_LOADED``, ...). Every call is logged in
``calls``.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from kubectl_dra.nvml.backend import (
    ADDRESSING_MODES,
    ARCHITECTURES,
    BRANDS,
    ERROR_VALUES,
    FABRIC_STATES,
    MIG_DISABLE,
    MIG_ENABLE,
    NVLINK_DEVICE_GPU,
    NVLINK_DEVICE_SWITCH,
    NVLINK_REMOTE_TYPES,
    TOPOLOGY_CELLS,
    TOPOLOGY_HOSTBRIDGE,
    TOPOLOGY_INTERNAL,
    TOPOLOGY_NODE,
    TOPOLOGY_SYSTEM,
    FabricInfo,
    GpuInstanceProfileInfo,
    InstanceInfo,
    NvmlCallError,
)
from kubectl_dra.nvml.migprofiles import MIB, ProfileSpec, find_profile, profile_name, table_for
from kubectl_dra.nvml.snapshot import Snapshot, normalize_bus_id

#: compute-instance slice count -> NVML_COMPUTE_INSTANCE_PROFILE_* (its profile id)
_CI_PROFILE_IDS = {1: 0, 2: 1, 3: 2, 4: 3, 7: 4, 8: 5, 6: 6}
#: lower-case brand / architecture names (as in the mock profiles and snapshots) -> NVML enum values
BRAND_VALUES = {name.lower(): value for value, name in BRANDS.items()}
ARCH_VALUES = {name.lower().replace(" ", "_"): value for value, name in ARCHITECTURES.items()}
ARCH_VALUES["ada"] = 8
_ADDRESSING_VALUES = {name.lower(): value for value, name in ADDRESSING_MODES.items()}
_FABRIC_STATE_VALUES = {name: value for value, name in FABRIC_STATES.items()}
_REMOTE_TYPE_VALUES = {name: value for value, name in NVLINK_REMOTE_TYPES.items()}
_LEVELS_BY_CELL = {cell: level for level, cell in TOPOLOGY_CELLS.items()}


# ---------------------------------------------------------------------------- the machine


@dataclass
class FakeMig:
    """A MIG device that exists: GPU instance ``gi_id`` of profile ``spec`` at ``start``."""

    spec: ProfileSpec
    start: int
    uuid: str
    gi_id: int
    ci_id: int = 0
    ci_slices: int | None = None  # compute slices of the CI; None = the whole GI


@dataclass
class FakeLink:
    """One NVLink: where it goes and whether it is up."""

    active: bool = True
    version: int = 4
    remote_bus_id: str | None = None
    remote_type: int = NVLINK_DEVICE_SWITCH


@dataclass
class FakeGpu:
    index: int
    uuid: str
    name: str
    bus_id: str  # NVML form
    minor: int | None = None
    brand: int = 14  # NVML_BRAND_NVIDIA
    architecture: int = 0xFFFFFFFF
    compute_capability: tuple[int, int] = (0, 0)
    memory_bytes: int | None = None
    numa_node: int | None = None
    pcie_root: str | None = None
    addressing_mode: int | None = None  # None: NOT_SUPPORTED
    mig_capable: bool = False
    mig_mode: int = MIG_DISABLE
    max_mig_devices: int = 7
    mig_table: tuple[ProfileSpec, ...] = ()
    migs: list[FakeMig] = field(default_factory=list)
    nvlink_supported: bool = False
    nvlinks: list[FakeLink] = field(default_factory=list)
    fabric: FabricInfo | None = None  # None: NOT_SUPPORTED
    lost: bool = False


@dataclass
class FakeMachine:
    """What a node's NVML would report. Edit it freely before wrapping it in a FakeBackend."""

    driver_version: str
    cuda_driver_version: int  # 12040 for CUDA 12.4
    nvml_version: str
    gpus: list[FakeGpu] = field(default_factory=list)
    #: (index, index) -> NVML topology level, overriding the rule in ``common_ancestor``
    topology: dict[tuple[int, int], int] = field(default_factory=dict)

    def gpu(self, index: int) -> FakeGpu:
        return next(g for g in self.gpus if g.index == index)

    def common_ancestor(self, a: int, b: int) -> int:
        """Explicit levels first; else same GPU -> INTERNAL, same PCIe root -> HOSTBRIDGE (PHB),
        same NUMA node -> NODE, anything else -> SYSTEM (SYS)."""
        if (a, b) in self.topology:
            return self.topology[(a, b)]
        if (b, a) in self.topology:
            return self.topology[(b, a)]
        ga, gb = self.gpu(a), self.gpu(b)
        if a == b:
            return TOPOLOGY_INTERNAL
        if ga.pcie_root and ga.pcie_root == gb.pcie_root:
            return TOPOLOGY_HOSTBRIDGE
        if ga.numa_node is not None and ga.numa_node == gb.numa_node:
            return TOPOLOGY_NODE
        return TOPOLOGY_SYSTEM

    def set_mig_layout(self, index: int, layout: Iterable[tuple[str, int]], *, uuids: Iterable[str] | None = None) -> None:
        """Turn MIG on for GPU ``index`` with GPU instances ``[(profile, start), ...]``
        (e.g. ``[("3g.40gb", 4), ("1g.10gb", 0)]``), one full compute instance each.
        GI ids are numbered from 1 in layout order; UUIDs are derived from the GPU's
        unless given."""
        gpu = self.gpu(index)
        if not gpu.mig_capable or not gpu.mig_table or gpu.memory_bytes is None:
            raise ValueError(f"GPU {index} ({gpu.name}) has no MIG profile table")
        given = list(uuids) if uuids is not None else None
        migs: list[FakeMig] = []
        used: set[int] = set()
        for n, (name, start) in enumerate(layout):
            spec = find_profile(gpu.mig_table, name, gpu.memory_bytes)
            if start not in spec.starts:
                raise ValueError(f"{name} cannot be placed at {start} (placements {spec.starts})")
            slices = set(range(start, start + spec.size))
            if slices & used:
                raise ValueError(f"{name}@{start} overlaps another GPU instance")
            used |= slices
            mig_uuid = given[n] if given else "MIG-" + str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"{gpu.uuid}/{name}/{start}"))
            migs.append(FakeMig(spec, start, mig_uuid, gi_id=n + 1))
        gpu.migs = migs
        gpu.mig_mode = MIG_ENABLE

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_profile(cls, profile: str | Path | dict) -> FakeMachine:
        """Read an nvml-mock profile (a path to its YAML, or the parsed dict)."""
        if not isinstance(profile, dict):
            import yaml

            profile = yaml.safe_load(Path(profile).read_text(encoding="utf-8"))
        system = profile.get("system") or {}
        defaults = profile.get("device_defaults") or {}
        nvlink = profile.get("nvlink") or {}
        roots = {}
        for rc in (profile.get("pcie_topology") or {}).get("root_complexes") or []:
            for bdf in rc.get("devices") or []:
                roots[normalize_bus_id(bdf)] = (rc.get("id"), rc.get("numa_node"))
        cuda = int(system.get("cuda_version_major", 0)) * 1000 + int(system.get("cuda_version_minor", 0)) * 10
        machine = cls(
            driver_version=str(system.get("driver_version", "")),
            cuda_driver_version=cuda,
            nvml_version=str(system.get("nvml_version", "")),
        )
        switches = [normalize_bus_id(s["bdf"]) for s in nvlink.get("switches") or [] if s.get("bdf")]
        for raw in profile.get("devices") or []:
            d = _merge(defaults, raw)
            bus = normalize_bus_id(str((d.get("pci") or {}).get("bus_id", f"0000:{0x10 + int(d['index']):02X}:00.0")))
            root, numa = roots.get(bus, (None, d.get("numa_node")))
            memory = (d.get("memory") or {}).get("total_bytes")
            mig = d.get("mig") or {}
            cc = d.get("compute_capability") or {}
            gpu = FakeGpu(
                index=int(d["index"]),
                uuid=str(d.get("uuid")),
                name=str(d.get("name", "")),
                bus_id=bus,
                minor=d.get("minor_number", d["index"]),
                brand=BRAND_VALUES.get(str(d.get("brand", "nvidia")).lower(), 0),
                architecture=ARCH_VALUES.get(str(d.get("architecture", "")).lower(), 0xFFFFFFFF),
                compute_capability=(int(cc.get("major", 0)), int(cc.get("minor", 0))),
                memory_bytes=int(memory) if memory is not None else None,
                numa_node=numa,
                pcie_root=root,
                addressing_mode=_ADDRESSING_VALUES.get(str(d["addressing_mode"]).lower()) if d.get("addressing_mode") else None,
                mig_capable=int(mig.get("max_gpu_instances", 0)) > 0,
                mig_mode=MIG_ENABLE if mig.get("mode_current") == "enabled" else MIG_DISABLE,
                max_mig_devices=int(mig.get("max_gpu_instances", 0)) or 7,
                fabric=_profile_fabric(d.get("fabric")),
            )
            gpu.mig_table = table_for(gpu.name, gpu.memory_bytes or 0) if gpu.mig_capable else ()
            links = int(nvlink.get("links_per_gpu", 0) or 0)
            if nvlink and links:
                gpu.nvlink_supported = True
                version = int(nvlink.get("version", 0) or 0)
                if switches:  # auto-expansion: every link to a switch, round-robin
                    gpu.nvlinks = [FakeLink(True, version, switches[k % len(switches)]) for k in range(links)]
                else:  # links exist but lead nowhere (standalone board)
                    gpu.nvlinks = [FakeLink(False, version, None) for _ in range(links)]
            machine.gpus.append(gpu)
        return machine

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> FakeMachine:
        """The machine a snapshot describes (as far as it does: unknowns stay unknown)."""
        major, _, minor = (snapshot.cuda_driver_version or "0.0").partition(".")
        machine = cls(
            driver_version=snapshot.driver_version or "",
            cuda_driver_version=int(major or 0) * 1000 + int(minor or 0) * 10,
            nvml_version=snapshot.nvml_version or "",
        )
        for g in snapshot.gpus:
            major_cc, _, minor_cc = (g.cuda_compute_capability or "0.0").partition(".")
            gpu = FakeGpu(
                index=g.index,
                uuid=g.uuid or "",
                name=g.name or "",
                bus_id=g.pci_bus_id or f"00000000:{g.index:02X}:00.0",
                minor=g.minor,
                brand=BRAND_VALUES.get((g.brand or "").lower(), 0),
                architecture=ARCH_VALUES.get((g.architecture or "").lower().replace(" ", "_"), 0xFFFFFFFF),
                compute_capability=(int(major_cc or 0), int(minor_cc or 0)),
                memory_bytes=g.memory_bytes,
                numa_node=g.numa_node,
                pcie_root=g.pcie_root,
                addressing_mode=_ADDRESSING_VALUES.get(g.addressing_mode.lower()) if g.addressing_mode else None,
                mig_capable=g.mig_enabled is not None,
                mig_mode=MIG_ENABLE if g.mig_enabled else MIG_DISABLE,
                fabric=_snapshot_fabric(g.fabric),
                lost=g.lost,
            )
            gpu.mig_table = tuple(
                ProfileSpec(
                    p.profile_index, p.gi_profile_id, p.slice_count,
                    p.placements[0].size if p.placements else 0,
                    tuple(pl.start for pl in p.placements),
                    p.multiprocessor_count or 0, p.copy_engine_count or 0, p.decoder_count or 0,
                    p.encoder_count or 0, p.jpeg_count or 0, p.ofa_count or 0, (p.memory_bytes or 0) // MIB, p.profile,
                )  # fmt: skip
                for p in g.mig_profiles
            )
            by_id = {spec.id: spec for spec in gpu.mig_table}
            for m in g.mig_devices:
                spec = by_id.get(m.gi_profile_id) if m.gi_profile_id is not None else None
                if spec is None:  # the profile table was not collected: rebuild the row from the device
                    spec = ProfileSpec(
                        0, m.gi_profile_id or 0, _g_of(m.profile), m.placement.size if m.placement else 1, (),
                        m.multiprocessor_count or 0, m.copy_engine_count or 0, m.decoder_count or 0,
                        m.encoder_count or 0, m.jpeg_count or 0, m.ofa_count or 0, (m.memory_bytes or 0) // MIB,
                    )  # fmt: skip
                c = _c_of(m.profile)
                gpu.migs.append(
                    FakeMig(spec, m.placement.start if m.placement else 0, m.uuid or "", m.gi_id or 0, m.ci_id or 0,
                            c if c != spec.slice_count else None)
                )  # fmt: skip
            gpu.nvlink_supported = bool(g.nvlinks)
            gpu.nvlinks = [
                FakeLink(link.active, link.version or 0, link.remote_pci_bus_id, _REMOTE_TYPE_VALUES.get(link.remote_type, 0xFF))
                for link in g.nvlinks
            ]
            machine.gpus.append(gpu)
        topo = snapshot.topology
        cells = topo.pcie or topo.matrix
        for i, a in enumerate(topo.gpus):
            for j, b in enumerate(topo.gpus):
                try:
                    level = _LEVELS_BY_CELL.get(cells[i][j])
                except IndexError:
                    level = None
                if level is not None and a != b:
                    machine.topology[(a, b)] = level
        return machine


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _profile_fabric(raw: Any) -> FabricInfo | None:
    if not isinstance(raw, dict):
        return None
    state = str(raw.get("state", "completed"))
    value = 3 if state == "auto" else _FABRIC_STATE_VALUES.get(state, 3)  # auto: no fabricmanager -> completed
    cluster = uuidlib.UUID(str(raw.get("cluster_uuid", "00000000-0000-0000-0000-000000000000")))
    return FabricInfo(cluster.bytes, int(raw.get("clique_id", 0)), value, 0)


def _snapshot_fabric(fabric: Any) -> FabricInfo | None:
    if fabric is None:
        return None
    try:
        cluster = uuidlib.UUID(fabric.cluster_uuid).bytes
    except ValueError:
        cluster = bytes(16)
    status = 0 if fabric.status == "success" else ERROR_VALUES.get(fabric.status.upper(), 999)
    return FabricInfo(cluster, fabric.clique_id, _FABRIC_STATE_VALUES.get(fabric.state, 0), status, fabric.health_mask)


def _g_of(profile: str | None) -> int:
    m = re.search(r"(\d+)g\.", profile or "")
    return int(m.group(1)) if m else 1


def _c_of(profile: str | None) -> int:
    m = re.match(r"(\d+)c\.", profile or "")
    return int(m.group(1)) if m else _g_of(profile)


# ---------------------------------------------------------------------------- the backend


@dataclass(frozen=True)
class FakeHandle:
    gpu: int
    mig: int | None = None


class FakeBackend:
    """An ``NvmlBackend`` that answers from a ``FakeMachine``."""

    def __init__(
        self,
        machine: FakeMachine,
        *,
        faults: dict[tuple[str, int | None], str] | None = None,
        lost: Iterable[int] = (),
        init_error: str | None = None,
    ) -> None:
        self.machine = machine
        self.faults: dict[tuple[str, int | None], str] = dict(faults or {})
        self.lost = set(lost) | {g.index for g in machine.gpus if g.lost}
        self.init_error = init_error
        self.initialised = False
        self.calls: list[str] = []

    # ------------------------------------------------------------------ construction helpers

    @classmethod
    def from_profile(cls, profile: str | Path | dict, **kwargs: Any) -> FakeBackend:
        return cls(FakeMachine.from_profile(profile), **kwargs)

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, **kwargs: Any) -> FakeBackend:
        """Replay a snapshot, including the failures it recorded (except lost GPUs' follow-ups)."""
        backend = cls(FakeMachine.from_snapshot(snapshot), **kwargs)
        for err in snapshot.errors:
            if err.error != "GPU_IS_LOST":
                backend.faults.setdefault((err.call, err.gpu), err.error)
        return backend

    def fail(self, call: str, code: str = "NOT_SUPPORTED", gpu: int | None = None) -> FakeBackend:
        """Make ``call`` (an NVML C function name) fail with ``code``, on GPU ``gpu`` or on all."""
        self.faults[(call, gpu)] = code
        return self

    def lose(self, gpu: int) -> FakeBackend:
        """Every call on GPU ``gpu`` returns GPU_IS_LOST, as after an XID 79."""
        self.lost.add(gpu)
        return self

    # ------------------------------------------------------------------ plumbing

    def _check(self, call: str, h: FakeHandle | None = None) -> FakeGpu | None:
        self.calls.append(call)
        if not self.initialised:
            raise NvmlCallError(call, "UNINITIALIZED")
        gpu_index = h.gpu if h is not None else None
        if gpu_index is not None and gpu_index in self.lost:
            raise NvmlCallError(call, "GPU_IS_LOST")
        code = self.faults.get((call, gpu_index)) or self.faults.get((call, None))
        if code:
            raise NvmlCallError(call, code)
        return self.machine.gpu(gpu_index) if gpu_index is not None else None

    def _gpu(self, call: str, h: FakeHandle) -> FakeGpu:
        gpu = self._check(call, h)
        assert gpu is not None
        return gpu

    def _mig(self, call: str, mh: FakeHandle) -> tuple[FakeGpu, FakeMig]:
        gpu = self._gpu(call, mh)
        if mh.mig is None or mh.mig >= len(gpu.migs):
            raise NvmlCallError(call, "INVALID_ARGUMENT")
        return gpu, gpu.migs[mh.mig]

    # ------------------------------------------------------------------ lifecycle and system

    def init(self) -> None:
        self.calls.append("nvmlInitWithFlags")
        if self.init_error:
            raise NvmlCallError("nvmlInitWithFlags", self.init_error)
        self.initialised = True

    def shutdown(self) -> None:
        self._check("nvmlShutdown")
        self.initialised = False

    def system_driver_version(self) -> str:
        self._check("nvmlSystemGetDriverVersion")
        return self.machine.driver_version

    def system_cuda_driver_version(self) -> int:
        self._check("nvmlSystemGetCudaDriverVersion")
        return self.machine.cuda_driver_version

    def system_nvml_version(self) -> str:
        self._check("nvmlSystemGetNVMLVersion")
        return self.machine.nvml_version

    # ------------------------------------------------------------------ devices

    def device_count(self) -> int:
        self._check("nvmlDeviceGetCount_v2")
        return len(self.machine.gpus)

    def device_handle(self, index: int) -> FakeHandle:
        self._check("nvmlDeviceGetHandleByIndex_v2", FakeHandle(index))
        if not any(g.index == index for g in self.machine.gpus):
            raise NvmlCallError("nvmlDeviceGetHandleByIndex_v2", "INVALID_ARGUMENT")
        return FakeHandle(index)

    def device_name(self, h: FakeHandle) -> str:
        return self._gpu("nvmlDeviceGetName", h).name

    def device_uuid(self, h: FakeHandle) -> str:
        if h.mig is not None:
            return self._mig("nvmlDeviceGetUUID", h)[1].uuid
        return self._gpu("nvmlDeviceGetUUID", h).uuid

    def device_minor(self, h: FakeHandle) -> int:
        gpu = self._gpu("nvmlDeviceGetMinorNumber", h)
        if gpu.minor is None:
            raise NvmlCallError("nvmlDeviceGetMinorNumber", "NOT_SUPPORTED")
        return gpu.minor

    def device_brand(self, h: FakeHandle) -> int:
        return self._gpu("nvmlDeviceGetBrand", h).brand

    def device_architecture(self, h: FakeHandle) -> int:
        return self._gpu("nvmlDeviceGetArchitecture", h).architecture

    def device_cuda_compute_capability(self, h: FakeHandle) -> tuple[int, int]:
        return self._gpu("nvmlDeviceGetCudaComputeCapability", h).compute_capability

    def device_memory_total(self, h: FakeHandle) -> int:
        gpu = self._gpu("nvmlDeviceGetMemoryInfo", h)
        if gpu.memory_bytes is None:
            raise NvmlCallError("nvmlDeviceGetMemoryInfo", "NOT_SUPPORTED")
        return gpu.memory_bytes

    def device_pci_bus_id(self, h: FakeHandle) -> str:
        return self._gpu("nvmlDeviceGetPciInfo_v3", h).bus_id

    def device_numa_node(self, h: FakeHandle) -> int | None:
        return self._gpu("nvmlDeviceGetNumaNodeId", h).numa_node

    def device_pcie_root(self, h: FakeHandle) -> str | None:
        return self._gpu("sysfs:pcieRoot", h).pcie_root

    def device_addressing_mode(self, h: FakeHandle) -> int:
        gpu = self._gpu("nvmlDeviceGetAddressingMode", h)
        if gpu.addressing_mode is None:
            raise NvmlCallError("nvmlDeviceGetAddressingMode", "NOT_SUPPORTED")
        return gpu.addressing_mode

    # ------------------------------------------------------------------ MIG

    def device_mig_mode(self, h: FakeHandle) -> tuple[int, int]:
        gpu = self._gpu("nvmlDeviceGetMigMode", h)
        if not gpu.mig_capable:
            raise NvmlCallError("nvmlDeviceGetMigMode", "NOT_SUPPORTED")
        return gpu.mig_mode, gpu.mig_mode

    def device_max_mig_device_count(self, h: FakeHandle) -> int:
        gpu = self._gpu("nvmlDeviceGetMaxMigDeviceCount", h)
        return gpu.max_mig_devices if gpu.mig_capable else 0

    def mig_device_handle(self, h: FakeHandle, index: int) -> FakeHandle:
        gpu = self._gpu("nvmlDeviceGetMigDeviceHandleByIndex", h)
        if gpu.mig_mode != MIG_ENABLE:
            raise NvmlCallError("nvmlDeviceGetMigDeviceHandleByIndex", "INVALID_ARGUMENT")
        if index >= len(gpu.migs):
            raise NvmlCallError("nvmlDeviceGetMigDeviceHandleByIndex", "NOT_FOUND")
        return FakeHandle(h.gpu, index)

    def mig_gpu_instance_id(self, mh: FakeHandle) -> int:
        return self._mig("nvmlDeviceGetGpuInstanceId", mh)[1].gi_id

    def mig_compute_instance_id(self, mh: FakeHandle) -> int:
        return self._mig("nvmlDeviceGetComputeInstanceId", mh)[1].ci_id

    def gpu_instance_info(self, h: FakeHandle, gi_id: int) -> InstanceInfo:
        gpu = self._gpu("nvmlDeviceGetGpuInstanceById", h)
        mig = next((m for m in gpu.migs if m.gi_id == gi_id), None)
        if mig is None:
            raise NvmlCallError("nvmlDeviceGetGpuInstanceById", "NOT_FOUND")
        return InstanceInfo(gi_id, mig.spec.id, mig.start, mig.spec.size)

    def compute_instance_info(self, h: FakeHandle, gi_id: int, ci_id: int) -> InstanceInfo:
        gpu = self._gpu("nvmlGpuInstanceGetComputeInstanceById", h)
        mig = next((m for m in gpu.migs if m.gi_id == gi_id and m.ci_id == ci_id), None)
        if mig is None:
            raise NvmlCallError("nvmlGpuInstanceGetComputeInstanceById", "NOT_FOUND")
        slices = mig.ci_slices or mig.spec.slice_count
        return InstanceInfo(ci_id, _CI_PROFILE_IDS.get(slices, 0), 0, slices)

    def gpu_instance_profile_info(self, h: FakeHandle, profile_index: int) -> GpuInstanceProfileInfo:
        gpu = self._gpu("nvmlDeviceGetGpuInstanceProfileInfoV", h)
        spec = next((s for s in gpu.mig_table if s.index == profile_index), None)
        if not gpu.mig_capable or spec is None:
            raise NvmlCallError("nvmlDeviceGetGpuInstanceProfileInfoV", "NOT_SUPPORTED")
        total = gpu.memory_bytes or 0
        name = spec.name or (profile_name(spec.slice_count, spec.memory_mib, total, spec.index) if total else "")
        return GpuInstanceProfileInfo(
            spec.id, spec.slice_count, spec.instance_count, spec.multiprocessors, spec.copy_engines,
            spec.decoders, spec.encoders, spec.jpeg, spec.ofa, spec.memory_mib, f"MIG {name}" if name else "",
        )  # fmt: skip

    def gpu_instance_possible_placements(self, h: FakeHandle, profile_id: int) -> list[tuple[int, int]]:
        gpu = self._gpu("nvmlDeviceGetGpuInstancePossiblePlacements_v2", h)
        spec = next((s for s in gpu.mig_table if s.id == profile_id), None)
        if spec is None:
            raise NvmlCallError("nvmlDeviceGetGpuInstancePossiblePlacements_v2", "NOT_SUPPORTED")
        return [(start, spec.size) for start in spec.starts]

    # ------------------------------------------------------------------ NVLink, topology, fabric

    def _link(self, call: str, h: FakeHandle, link: int) -> FakeLink:
        gpu = self._gpu(call, h)
        if not gpu.nvlink_supported:
            raise NvmlCallError(call, "NOT_SUPPORTED")
        if link >= len(gpu.nvlinks):
            raise NvmlCallError(call, "INVALID_ARGUMENT")
        return gpu.nvlinks[link]

    def nvlink_state(self, h: FakeHandle, link: int) -> bool:
        return self._link("nvmlDeviceGetNvLinkState", h, link).active

    def nvlink_version(self, h: FakeHandle, link: int) -> int:
        return self._link("nvmlDeviceGetNvLinkVersion", h, link).version

    def nvlink_remote_pci_bus_id(self, h: FakeHandle, link: int) -> str:
        fake = self._link("nvmlDeviceGetNvLinkRemotePciInfo_v2", h, link)
        if not fake.active or not fake.remote_bus_id:
            raise NvmlCallError("nvmlDeviceGetNvLinkRemotePciInfo_v2", "NOT_SUPPORTED")
        return fake.remote_bus_id

    def nvlink_remote_device_type(self, h: FakeHandle, link: int) -> int:
        return self._link("nvmlDeviceGetNvLinkRemoteDeviceType", h, link).remote_type

    def topology_common_ancestor(self, h1: FakeHandle, h2: FakeHandle) -> int:
        self._check("nvmlDeviceGetTopologyCommonAncestor", h1)
        if h2.gpu in self.lost:
            raise NvmlCallError("nvmlDeviceGetTopologyCommonAncestor", "GPU_IS_LOST")
        return self.machine.common_ancestor(h1.gpu, h2.gpu)

    def gpu_fabric_info(self, h: FakeHandle) -> FabricInfo:
        gpu = self._gpu("nvmlDeviceGetGpuFabricInfoV", h)
        if gpu.fabric is None:
            raise NvmlCallError("nvmlDeviceGetGpuFabricInfoV", "NOT_SUPPORTED")
        return gpu.fabric


def direct_link(machine: FakeMachine, a: int, b: int, count: int = 1, version: int = 4) -> None:
    """Add ``count`` direct GPU-GPU NVLinks between GPUs ``a`` and ``b`` (an NVLink bridge)."""
    ga, gb = machine.gpu(a), machine.gpu(b)
    for src, dst in ((ga, gb), (gb, ga)):
        src.nvlink_supported = True
        src.nvlinks.extend(FakeLink(True, version, dst.bus_id, NVLINK_DEVICE_GPU) for _ in range(count))


__all__ = [
    "ARCH_VALUES",
    "BRAND_VALUES",
    "FakeBackend",
    "FakeGpu",
    "FakeHandle",
    "FakeLink",
    "FakeMachine",
    "FakeMig",
    "direct_link",
]
