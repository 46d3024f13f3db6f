"""Collect an NVML snapshot of this node through any ``NvmlBackend``.

``collect()`` never raises for a failed call on one GPU or one feature: the failure is
recorded in ``errors`` (and ``partial`` is set when data was lost) and collection goes on.
It raises ``NvmlUnavailable`` only when NVML cannot be used at all: initialisation or the
device count fails.

"Feature absent" answers are not failures and are not recorded: ``NOT_SUPPORTED`` (or a
missing symbol) from the MIG mode, addressing mode, fabric info, NVLink state of link 0
and MIG profile probes means the GPU has no such feature (``migEnabled: null``,
``addressingMode: null``, ``fabric: null``, ``nvlinks: []``), exactly as go-nvlib and the
DRA driver read them. ``NOT_SUPPORTED`` from any other call is recorded but does not make
the snapshot partial. Any call returning ``GPU_IS_LOST`` marks the GPU ``lost`` and stops
collection on it.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone
from typing import Any, Callable

from kubectl_dra.nvml.backend import (
    ADDRESSING_MODES,
    ARCHITECTURES,
    BRANDS,
    FABRIC_STATES,
    GPU_INSTANCE_PROFILE_COUNT,
    MIG_ENABLE,
    NVLINK_MAX_LINKS,
    NVLINK_REMOTE_TYPES,
    TOPOLOGY_CELLS,
    GpuInstanceProfileInfo,
    Handle,
    NvmlBackend,
    NvmlCallError,
    NvmlUnavailable,
    error_name,
)
from kubectl_dra.nvml.migprofiles import MIB, profile_name
from kubectl_dra.nvml.snapshot import (
    NOT_SUPPORTED,
    UNKNOWN_CELL,
    CallError,
    Fabric,
    Gpu,
    MigDevice,
    MigProfile,
    NvLink,
    Placement,
    Snapshot,
    Topology,
    bus_id_key,
)

_ABSENT = frozenset({NOT_SUPPORTED, "FUNCTION_NOT_FOUND"})
_NO_SUCH_ENTRY = frozenset({NOT_SUPPORTED, "INVALID_ARGUMENT", "NOT_FOUND"})


class _Lost(Exception):
    """The GPU being collected returned GPU_IS_LOST: stop asking it."""


def default_node_name() -> str:
    """``NODE_NAME`` (set in pods via the downward API), else the host name."""
    return os.environ.get("NODE_NAME") or socket.gethostname()


def collect(backend: NvmlBackend, node: str | None = None, *, now: datetime | None = None) -> Snapshot:
    """Take a snapshot of every GPU NVML sees. See the module docstring for error handling."""
    try:
        backend.init()
    except NvmlCallError as e:
        raise NvmlUnavailable.from_call(e) from None
    try:
        return _Collector(backend, node or default_node_name(), now).run()
    finally:
        try:
            backend.shutdown()
        except NvmlCallError:
            pass


def cuda_version_string(version: int) -> str:
    """``nvmlSystemGetCudaDriverVersion`` 12040 -> ``12.4`` (the driver's ``%d.%d`` of v/1000, v%1000/10)."""
    return f"{version // 1000}.{version % 1000 // 10}"


class _Collector:
    def __init__(self, backend: NvmlBackend, node: str, now: datetime | None) -> None:
        self.b = backend
        self.node = node
        self.now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self.errors: list[CallError] = []
        self.handles: dict[int, Handle] = {}

    # ------------------------------------------------------------------ calling

    def call(self, gpu: Gpu | None, fn: Callable[..., Any], *args: Any, quiet: frozenset[str] = frozenset()) -> tuple[bool, Any]:
        """Run one backend call: (True, value), or (False, code) after recording the failure."""
        try:
            return True, fn(*args)
        except NvmlCallError as e:
            if e.code not in quiet:
                self.record(gpu, e)
            if e.code == "GPU_IS_LOST" and gpu is not None:
                gpu.lost = True
                raise _Lost from None
            return False, e.code

    def record(self, gpu: Gpu | None, e: NvmlCallError) -> None:
        err = CallError(call=e.call, error=e.code, gpu=gpu.index if gpu else None)
        self.errors.append(err)
        if gpu is not None:
            gpu.errors.append(err)

    def value(self, gpu: Gpu | None, fn: Callable[..., Any], *args: Any, quiet: frozenset[str] = frozenset()) -> Any:
        ok, v = self.call(gpu, fn, *args, quiet=quiet)
        return v if ok else None

    # ------------------------------------------------------------------ the run

    def run(self) -> Snapshot:
        b = self.b
        snap = Snapshot(node=self.node, collected_at=self.now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        snap.driver_version = self.value(None, b.system_driver_version)
        cuda = self.value(None, b.system_cuda_driver_version)
        snap.cuda_driver_version = cuda_version_string(cuda) if isinstance(cuda, int) else None
        snap.nvml_version = self.value(None, b.system_nvml_version)
        try:
            count = b.device_count()
        except NvmlCallError as e:
            raise NvmlUnavailable.from_call(e) from None
        for index in range(count):
            gpu = Gpu(index=index)
            snap.gpus.append(gpu)
            try:
                self.collect_gpu(gpu)
            except _Lost:
                self.handles.pop(index, None)
        _infer_remote_types(snap)
        snap.topology = self.topology(snap)
        snap.errors = self.errors
        snap.partial = any(e.error != NOT_SUPPORTED for e in self.errors) or any(g.lost for g in snap.gpus)
        return snap

    def collect_gpu(self, gpu: Gpu) -> None:
        b = self.b
        ok, h = self.call(gpu, b.device_handle, gpu.index)
        if not ok:
            return
        self.handles[gpu.index] = h
        gpu.name = self.value(gpu, b.device_name, h)
        gpu.uuid = self.value(gpu, b.device_uuid, h)
        gpu.minor = self.value(gpu, b.device_minor, h)
        brand = self.value(gpu, b.device_brand, h)
        gpu.brand = BRANDS.get(brand, "Unknown") if brand is not None else None
        arch = self.value(gpu, b.device_architecture, h)
        gpu.architecture = ARCHITECTURES.get(arch, "Unknown") if arch is not None else None
        cc = self.value(gpu, b.device_cuda_compute_capability, h)
        gpu.cuda_compute_capability = f"{cc[0]}.{cc[1]}" if cc else None
        gpu.memory_bytes = self.value(gpu, b.device_memory_total, h)
        bus = self.value(gpu, b.device_pci_bus_id, h)
        gpu.pci_bus_id = bus_id_key(bus)  # canonical; a value that is not a bus id is dropped (the reader refuses it)
        numa = self.value(gpu, b.device_numa_node, h, quiet=_ABSENT)
        gpu.numa_node = numa if isinstance(numa, int) and numa >= 0 else None
        gpu.pcie_root = self.value(gpu, b.device_pcie_root, h, quiet=_ABSENT)
        mode = self.value(gpu, b.device_addressing_mode, h, quiet=_ABSENT)
        gpu.addressing_mode = ADDRESSING_MODES.get(mode) if mode is not None else None
        self.collect_mig(gpu, h)
        self.collect_nvlinks(gpu, h)
        self.collect_fabric(gpu, h)

    # ------------------------------------------------------------------ MIG

    def collect_mig(self, gpu: Gpu, h: Handle) -> None:
        b = self.b
        ok, mode = self.call(gpu, b.device_mig_mode, h, quiet=_ABSENT)
        if not ok:
            return  # NOT_SUPPORTED: not MIG-capable (migEnabled stays null)
        gpu.mig_enabled = mode[0] == MIG_ENABLE
        infos: dict[int, GpuInstanceProfileInfo] = {}
        for index in range(GPU_INSTANCE_PROFILE_COUNT):
            ok, info = self.call(gpu, b.gpu_instance_profile_info, h, index, quiet=_NO_SUCH_ENTRY)
            if not ok:
                continue
            infos[info.id] = info
            placements = self.value(gpu, b.gpu_instance_possible_placements, h, info.id) or []
            gpu.mig_profiles.append(
                MigProfile(
                    profile=self.profile_name(gpu, info, index),
                    gi_profile_id=info.id,
                    profile_index=index,
                    slice_count=info.slice_count,
                    instance_count=info.instance_count,
                    memory_bytes=info.memory_size_mb * MIB,
                    placements=[Placement(start, size) for start, size in placements],
                    **_engines(info),
                )
            )
        if not gpu.mig_enabled:
            return
        count = self.value(gpu, b.device_max_mig_device_count, h) or 0
        indices = {p.gi_profile_id: p.profile_index for p in gpu.mig_profiles}
        for k in range(count):
            ok, mh = self.call(gpu, b.mig_device_handle, h, k, quiet=_NO_SUCH_ENTRY)
            if not ok:
                continue  # an empty slot (go-nvlib skips NOT_FOUND / INVALID_ARGUMENT too)
            mig = MigDevice(index=k, uuid=self.value(gpu, b.device_uuid, mh))
            gpu.mig_devices.append(mig)
            mig.gi_id = self.value(gpu, b.mig_gpu_instance_id, mh)
            mig.ci_id = self.value(gpu, b.mig_compute_instance_id, mh)
            if mig.gi_id is None:
                continue
            gi = self.value(gpu, b.gpu_instance_info, h, mig.gi_id)
            if gi is None:
                continue
            mig.gi_profile_id = gi.profile_id
            mig.placement = Placement(gi.start, gi.size)
            info = infos.get(gi.profile_id)
            if info is None:
                continue
            mig.memory_bytes = info.memory_size_mb * MIB
            for attr, value in _engines(info).items():
                setattr(mig, attr, value)
            ci = self.value(gpu, b.compute_instance_info, h, mig.gi_id, mig.ci_id) if mig.ci_id is not None else None
            c = ci.size if ci is not None and 0 < ci.size < info.slice_count else None
            mig.profile = self.profile_name(gpu, info, indices.get(gi.profile_id, 0), c)

    @staticmethod
    def profile_name(gpu: Gpu, info: GpuInstanceProfileInfo, index: int, c: int | None = None) -> str:
        if gpu.memory_bytes:
            return profile_name(info.slice_count, info.memory_size_mb, gpu.memory_bytes, index, c)
        return info.name.removeprefix("MIG ")  # NVML's own name when the total is unknown

    # ------------------------------------------------------------------ NVLink and fabric

    def collect_nvlinks(self, gpu: Gpu, h: Handle) -> None:
        b = self.b
        for link in range(NVLINK_MAX_LINKS):
            quiet = _NO_SUCH_ENTRY if link else _ABSENT
            ok, active = self.call(gpu, b.nvlink_state, h, link, quiet=quiet)
            if not ok:
                return  # link 0 NOT_SUPPORTED: no NVLink; later: past the last link
            nv = NvLink(link=link, active=bool(active))
            gpu.nvlinks.append(nv)
            if not nv.active:
                continue
            nv.version = self.value(gpu, b.nvlink_version, h, link)
            nv.remote_pci_bus_id = bus_id_key(self.value(gpu, b.nvlink_remote_pci_bus_id, h, link))
            kind = self.value(gpu, b.nvlink_remote_device_type, h, link, quiet=_ABSENT)
            nv.remote_type = NVLINK_REMOTE_TYPES.get(kind, "unknown") if kind is not None else "unknown"

    def collect_fabric(self, gpu: Gpu, h: Handle) -> None:
        info = self.value(gpu, self.b.gpu_fabric_info, h, quiet=_ABSENT)
        if info is None or info.state == 0:  # call NOT_SUPPORTED, or state NOT_SUPPORTED
            return
        gpu.fabric = Fabric(
            cluster_uuid=_uuid(info.cluster_uuid),
            clique_id=info.clique_id,
            state=FABRIC_STATES.get(info.state, str(info.state)),
            status="success" if info.status == 0 else error_name(info.status).lower(),
            health_mask=info.health_mask,
        )

    # ------------------------------------------------------------------ topology

    def topology(self, snap: Snapshot) -> Topology:
        gpus = [g.index for g in snap.gpus]
        pcie = [[UNKNOWN_CELL] * len(gpus) for _ in gpus]
        for i, a in enumerate(gpus):
            pcie[i][i] = "X"
            for j in range(i + 1, len(gpus)):
                b = gpus[j]
                ha, hb = self.handles.get(a), self.handles.get(b)
                if ha is None or hb is None:
                    continue
                try:
                    level = self.b.topology_common_ancestor(ha, hb)
                except NvmlCallError as e:  # recorded against the first GPU of the pair
                    self.record(snap.gpu(a), e)
                    continue
                cell = TOPOLOGY_CELLS.get(level, UNKNOWN_CELL)
                pcie[i][j] = pcie[j][i] = cell
        counts = nvlink_counts(snap)
        matrix = [list(row) for row in pcie]
        for i, a in enumerate(gpus):
            for j, b in enumerate(gpus):
                n = counts.get((a, b), 0)
                if i != j and n:
                    matrix[i][j] = f"NV{n}"
        return Topology(gpus=gpus, matrix=matrix, pcie=pcie)


def nvlink_counts(snap: Snapshot) -> dict[tuple[int, int], int]:
    """Links between each GPU pair, counted like ``nvidia-smi topo -m``: direct GPU-GPU links,
    plus, when both GPUs reach NVSwitches, the smaller of their switch-link counts (every
    switch-attached link reaches every peer through the fabric). Symmetric."""
    by_bus = {g.pci_bus_id: g.index for g in snap.gpus if g.pci_bus_id}
    direct: dict[tuple[int, int], int] = {}
    switch: dict[int, int] = {}
    for g in snap.gpus:
        for link in g.active_nvlinks():
            if link.remote_type == "switch":
                switch[g.index] = switch.get(g.index, 0) + 1
            elif link.remote_pci_bus_id in by_bus:
                key = (g.index, by_bus[link.remote_pci_bus_id])
                direct[key] = direct.get(key, 0) + 1
    counts: dict[tuple[int, int], int] = {}
    indices = [g.index for g in snap.gpus]
    for a in indices:
        for b in indices:
            if a == b:
                continue
            n = max(direct.get((a, b), 0), direct.get((b, a), 0))
            if switch.get(a) and switch.get(b):
                n += min(switch[a], switch[b])
            if n:
                counts[(a, b)] = n
    return counts


def _infer_remote_types(snap: Snapshot) -> None:
    """A link whose remote type NVML would not give but whose far end is one of our GPUs is a GPU link."""
    buses = {g.pci_bus_id for g in snap.gpus if g.pci_bus_id}
    for g in snap.gpus:
        for link in g.nvlinks:
            if link.remote_type == "unknown" and link.remote_pci_bus_id in buses:
                link.remote_type = "gpu"


def _engines(info: GpuInstanceProfileInfo) -> dict[str, int]:
    return {
        "multiprocessor_count": info.multiprocessor_count,
        "copy_engine_count": info.copy_engine_count,
        "decoder_count": info.decoder_count,
        "encoder_count": info.encoder_count,
        "jpeg_count": info.jpeg_count,
        "ofa_count": info.ofa_count,
    }


def _uuid(raw: bytes) -> str:
    h = bytes(raw).hex().ljust(32, "0")[:32]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
