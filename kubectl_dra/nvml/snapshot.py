"""The NVML snapshot of one node: what NVML said about its GPUs, as plain data (stdlib; pyyaml for YAML input).

A snapshot is the one shape that every NVML consumer in the plugin reads: the collector
(``collect.py``) writes it, the fake backend can replay it, ``resourceslice.py`` turns it
into the ResourceSlice the NVIDIA DRA driver would publish, and the topology view renders
it. Its JSON form is a public interface (``kind: NvmlSnapshot``, ``version: 1``); fields may
be added, never renamed or removed.

Values are kept as NVML reports them (driver version ``580.95.05`` with its leading zero,
CUDA version ``13.0``, PCI bus ids in NVML's 8-hex-digit upper-case form
``00000000:1A:00.0``); the DRA normalisations live in ``resourceslice.py``. ``None`` always
means "NVML could not tell" (the reason, if any, is in ``errors``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_dra.errors import InputError

KIND = "NvmlSnapshot"
VERSION = 1

#: ``nvidia-smi topo -m`` cells that say how a GPU pair is connected, nearest first
#: (``NV#`` cells are NVLink; see ``Topology``).
PCIE_LEVELS = ("X", "PIX", "PXB", "PHB", "NODE", "SYS")
UNKNOWN_CELL = "?"
#: error codes that mean "this feature does not exist here" rather than "data was lost"
NOT_SUPPORTED = "NOT_SUPPORTED"


class SnapshotError(InputError):
    """A snapshot file or text that is not an NvmlSnapshot this version can read."""


# ---------------------------------------------------------------------------- PCI bus ids

_BUS_ID = re.compile(r"^(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$")


def normalize_bus_id(bus_id: str) -> str:
    """The one canonical PCI bus id: NVML's form, 8-hex-digit domain, upper case (``00000000:1A:00.0``).

    Accepts NVML's own form, the legacy/DRA 4-digit form (``0000:1a:00.0``, as in the
    ``resource.kubernetes.io/pciBusID`` attribute), and a bare ``1a:00.0`` (domain 0), so
    DRA devices and NVML GPUs can be matched by bus id. Raises ``ValueError`` for
    anything else: where a value comes from a file, the reader turns that into an input error
    (``Snapshot.from_dict``); where it only serves to match, ``bus_id_key`` makes it match nothing.
    """
    m = _BUS_ID.match(bus_id.strip())
    if not m:
        raise ValueError(f"not a PCI bus id: {bus_id!r}")
    domain, bus, dev, fn = m.groups()
    return f"{int(domain or '0', 16):08X}:{int(bus, 16):02X}:{int(dev, 16):02X}.{fn}"


def bus_id_key(value: Any) -> str | None:
    """For joining: the canonical bus id, or None (matches nothing) for a missing value or one that
    is not a bus id (a device attribute the driver got wrong must not match another wrong one)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return normalize_bus_id(value)
    except ValueError:
        return None


def dra_bus_id(bus_id: str | None) -> str | None:
    """For display in the form the NVIDIA DRA driver publishes: lower case, domain trimmed to 4
    digits (``0000:1a:00.0``); a domain above 0xFFFF keeps all its digits (go-nvlib ``GetPCIBusID``).
    None stays None; anything else that is not a bus id raises ``ValueError``."""
    if bus_id is None:
        return None
    nvml = normalize_bus_id(bus_id).lower()
    return nvml[4:] if nvml.startswith("0000") else nvml


def same_bus_id(a: str | None, b: str | None) -> bool:
    """True when two bus ids, in any accepted form, name the same PCI function."""
    key = bus_id_key(a)
    return key is not None and key == bus_id_key(b)


# ---------------------------------------------------------------------------- records


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _file_bus_id(value: Any, where: str) -> str | None:
    """A bus id read from a snapshot, canonical; one that is not a bus id is the file's error."""
    if value is None or value == "":
        return None
    try:
        return normalize_bus_id(str(value))
    except ValueError:
        raise SnapshotError(
            f"{where}: {value!r} is not a PCI bus id", hint="expected NVML's form, e.g. 00000000:1A:00.0"
        ) from None


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


@dataclass
class CallError:
    """One NVML call that failed: ``{"gpu": 3, "call": "nvmlDeviceGetNvLinkState", "error": "NOT_SUPPORTED"}``."""

    call: str
    error: str
    gpu: int | None = None

    @property
    def loses_data(self) -> bool:
        """NOT_SUPPORTED says a feature is absent; every other code means data NVML has was not read."""
        return self.error != NOT_SUPPORTED

    def to_dict(self) -> dict:
        return {"gpu": self.gpu, "call": self.call, "error": self.error}

    @classmethod
    def from_dict(cls, d: dict) -> CallError:
        return cls(call=str(d.get("call", "")), error=str(d.get("error", "")), gpu=_opt_int(d.get("gpu")))


@dataclass
class Placement:
    """A GPU-instance placement in memory slices: ``[start, start + size)``."""

    start: int
    size: int

    def slices(self) -> range:
        return range(self.start, self.start + self.size)

    def to_dict(self) -> dict:
        return {"start": self.start, "size": self.size}

    @classmethod
    def from_dict(cls, d: Any) -> Placement | None:
        if not isinstance(d, dict) or _opt_int(d.get("start")) is None or _opt_int(d.get("size")) is None:
            return None
        return cls(start=d["start"], size=d["size"])


@dataclass
class Engines:
    """Engine counts of a MIG profile (``nvmlGpuInstanceProfileInfo_t``), shared by profiles and MIG devices."""

    multiprocessor_count: int | None = None
    copy_engine_count: int | None = None
    decoder_count: int | None = None
    encoder_count: int | None = None
    jpeg_count: int | None = None
    ofa_count: int | None = None

    _KEYS = (
        ("multiprocessor_count", "multiprocessorCount"),
        ("copy_engine_count", "copyEngineCount"),
        ("decoder_count", "decoderCount"),
        ("encoder_count", "encoderCount"),
        ("jpeg_count", "jpegCount"),
        ("ofa_count", "ofaCount"),
    )

    def engines_dict(self) -> dict:
        return {key: getattr(self, attr) for attr, key in self._KEYS}

    @classmethod
    def engines_from(cls, d: dict) -> dict:
        return {attr: _opt_int(d.get(key)) for attr, key in cls._KEYS}


@dataclass
class MigDevice(Engines):
    """A MIG device that exists now (static MIG, or one created for a DynamicMIG claim)."""

    uuid: str | None = None
    profile: str | None = None  # go-nvlib form: 1g.10gb, 1c.3g.40gb, 1g.10gb+me
    gi_id: int | None = None  # GPU instance id (not the profile id)
    ci_id: int | None = None
    placement: Placement | None = None
    memory_bytes: int | None = None  # the GI profile's memorySizeMB * 2**20, as the driver publishes
    index: int | None = None  # nvmlDeviceGetMigDeviceHandleByIndex index
    gi_profile_id: int | None = None  # e.g. 19 for 1g.10gb; part of the driver's device name

    def to_dict(self) -> dict:
        d = {
            "uuid": self.uuid,
            "profile": self.profile,
            "giId": self.gi_id,
            "ciId": self.ci_id,
            "placement": self.placement.to_dict() if self.placement else None,
            "memoryBytes": self.memory_bytes,
            "multiprocessorCount": self.multiprocessor_count,
            "index": self.index,
            "giProfileId": self.gi_profile_id,
        }
        d.update({k: v for k, v in self.engines_dict().items() if k != "multiprocessorCount"})
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MigDevice:
        return cls(
            uuid=_opt_str(d.get("uuid")),
            profile=_opt_str(d.get("profile")),
            gi_id=_opt_int(d.get("giId")),
            ci_id=_opt_int(d.get("ciId")),
            placement=Placement.from_dict(d.get("placement")),
            memory_bytes=_opt_int(d.get("memoryBytes")),
            index=_opt_int(d.get("index")),
            gi_profile_id=_opt_int(d.get("giProfileId")),
            **cls.engines_from(d),
        )


@dataclass
class MigProfile(Engines):
    """A GPU-instance profile the GPU supports, with every placement NVML allows for it.

    This is what the driver's DynamicMIG mode advertises (one device per profile and
    placement), so it is collected whether MIG is on or off.
    """

    profile: str = ""
    gi_profile_id: int = 0
    profile_index: int = 0  # NVML_GPU_INSTANCE_PROFILE_* (0 = 1_SLICE, 7 = 1_SLICE_REV1, ...)
    slice_count: int = 0  # compute slices (the "g" in 3g.40gb)
    instance_count: int = 0
    memory_bytes: int | None = None
    placements: list[Placement] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = {
            "profile": self.profile,
            "giProfileId": self.gi_profile_id,
            "profileIndex": self.profile_index,
            "sliceCount": self.slice_count,
            "instanceCount": self.instance_count,
            "memoryBytes": self.memory_bytes,
            "placements": [p.to_dict() for p in self.placements],
        }
        d.update(self.engines_dict())
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MigProfile:
        return cls(
            profile=str(d.get("profile", "")),
            gi_profile_id=_opt_int(d.get("giProfileId")) or 0,
            profile_index=_opt_int(d.get("profileIndex")) or 0,
            slice_count=_opt_int(d.get("sliceCount")) or 0,
            instance_count=_opt_int(d.get("instanceCount")) or 0,
            memory_bytes=_opt_int(d.get("memoryBytes")),
            placements=[p for p in (Placement.from_dict(x) for x in _dicts(d.get("placements"))) if p],
            **cls.engines_from(d),
        )


#: nvmlDeviceGetNvLinkRemoteDeviceType values as snapshot strings
REMOTE_TYPES = ("gpu", "switch", "cpu", "unknown")
#: link ``state`` words read as active
_ACTIVE_STATES = ("active", "up", "enabled", "on", "1", "true")


@dataclass
class NvLink:
    """One NVLink of a GPU. ``remoteType`` is ``gpu``, ``switch``, ``cpu`` (IBM NPU) or ``unknown``."""

    link: int
    active: bool
    version: int | None = None
    remote_pci_bus_id: str | None = None
    remote_type: str = "unknown"

    def to_dict(self) -> dict:
        return {
            "link": self.link,
            "active": self.active,
            "version": self.version,
            "remotePciBusId": self.remote_pci_bus_id,
            "remoteType": self.remote_type,
        }

    @classmethod
    def from_dict(cls, d: dict, where: str = "nvlink") -> NvLink:
        """``active`` may also be given as ``state`` (``active``/``up``/``enabled`` or a boolean)."""
        remote_type = d.get("remoteType")
        if "active" in d or "state" not in d:
            active = bool(d.get("active"))
        else:
            state = d["state"]
            active = state.lower() in _ACTIVE_STATES if isinstance(state, str) else bool(state)
        return cls(
            link=_opt_int(d.get("link")) or 0,
            active=active,
            version=_opt_int(d.get("version")),
            remote_pci_bus_id=_file_bus_id(_opt_str(d.get("remotePciBusId")), f"{where}: remotePciBusId"),
            remote_type=remote_type if remote_type in REMOTE_TYPES else "unknown",
        )


@dataclass
class Fabric:
    """``nvmlDeviceGetGpuFabricInfo``: the multi-node NVLink (IMEX) clique of the GPU.

    ``state`` is ``not_supported``, ``not_started``, ``in_progress`` or ``completed``;
    ``status`` is ``success`` or an NVML error code name in lower case.
    """

    cluster_uuid: str
    clique_id: int
    state: str
    status: str
    health_mask: int | None = None

    @property
    def attached(self) -> bool:
        """go-nvlib ``IsFabricAttached``: registration completed, successfully, with a cluster uuid."""
        return (
            self.state == "completed"
            and self.status == "success"
            and bool(self.cluster_uuid)
            and self.cluster_uuid.strip("0-") != ""
        )

    @property
    def clique(self) -> str | None:
        """``<clusterUuid>.<cliqueId>``, the ``nvidia.com/gpu.clique`` node label, when attached."""
        return f"{self.cluster_uuid}.{self.clique_id}" if self.attached else None

    def to_dict(self) -> dict:
        d: dict[str, Any] = {
            "clusterUuid": self.cluster_uuid,
            "cliqueId": self.clique_id,
            "state": self.state,
            "status": self.status,
        }
        if self.health_mask is not None:
            d["healthMask"] = self.health_mask
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Fabric | None:
        if not isinstance(d, dict):
            return None
        return cls(
            cluster_uuid=str(d.get("clusterUuid", "")),
            clique_id=_opt_int(d.get("cliqueId")) or 0,
            state=str(d.get("state", "")),
            status=str(d.get("status", "")),
            health_mask=_opt_int(d.get("healthMask")),
        )


@dataclass
class Gpu:
    """One physical GPU (a top-level NVML device)."""

    index: int
    minor: int | None = None
    uuid: str | None = None
    name: str | None = None
    brand: str | None = None  # go-nvlib names: Nvidia, Tesla, GeForce, ...
    architecture: str | None = None  # Ampere, Ada Lovelace, Hopper, Blackwell, ...
    cuda_compute_capability: str | None = None  # "9.0"
    memory_bytes: int | None = None  # nvmlDeviceGetMemoryInfo (v1) .total
    pci_bus_id: str | None = None  # 00000000:1A:00.0
    numa_node: int | None = None  # None: unknown or -1
    mig_enabled: bool | None = None  # None: MIG not supported
    mig_devices: list[MigDevice] = field(default_factory=list)
    nvlinks: list[NvLink] = field(default_factory=list)
    fabric: Fabric | None = None
    addressing_mode: str | None = None  # HMM, ATS, None; null when NOT_SUPPORTED
    errors: list[CallError] = field(default_factory=list)
    # additions to the published shape
    pcie_root: str | None = None  # pci0000:15, from sysfs like the driver (resource.kubernetes.io/pcieRoot)
    mig_profiles: list[MigProfile] = field(default_factory=list)
    lost: bool = False  # a call returned GPU_IS_LOST: the rest of this record is missing
    # additions written only when set (nvidia-smi sources, kubectl_dra/nvml/smi.py):
    #: ECC mode/counters, retired pages, remapped rows, XIDs, reset state, fabric health (see smi.py)
    health: dict | None = None
    cpu_affinity: str | None = None  # nvidia-smi topo -m "CPU Affinity", e.g. 0-31,64-95

    @property
    def dra_bus_id(self) -> str | None:
        return dra_bus_id(self.pci_bus_id) if self.pci_bus_id else None

    def active_nvlinks(self) -> list[NvLink]:
        return [link for link in self.nvlinks if link.active]

    def to_dict(self) -> dict:
        d = {
            "index": self.index,
            "minor": self.minor,
            "uuid": self.uuid,
            "name": self.name,
            "brand": self.brand,
            "architecture": self.architecture,
            "cudaComputeCapability": self.cuda_compute_capability,
            "memoryBytes": self.memory_bytes,
            "pciBusId": self.pci_bus_id,
            "numaNode": self.numa_node,
            "pcieRoot": self.pcie_root,
            "migEnabled": self.mig_enabled,
            "migDevices": [m.to_dict() for m in self.mig_devices],
            "migProfiles": [p.to_dict() for p in self.mig_profiles],
            "nvlinks": [link.to_dict() for link in self.nvlinks],
            "fabric": self.fabric.to_dict() if self.fabric else None,
            "addressingMode": self.addressing_mode,
            "lost": self.lost,
            "errors": [e.to_dict() for e in self.errors],
        }
        if self.health is not None:
            d["health"] = self.health
        if self.cpu_affinity is not None:
            d["cpuAffinity"] = self.cpu_affinity
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Gpu:
        return cls(
            index=_opt_int(d.get("index")) or 0,
            minor=_opt_int(d.get("minor")),
            uuid=_opt_str(d.get("uuid")),
            name=_opt_str(d.get("name")),
            brand=_opt_str(d.get("brand")),
            architecture=_opt_str(d.get("architecture")),
            cuda_compute_capability=_opt_str(d.get("cudaComputeCapability")),
            memory_bytes=_opt_int(d.get("memoryBytes")),
            pci_bus_id=_file_bus_id(d.get("pciBusId"), f"GPU {d.get('index')}: pciBusId"),
            numa_node=_opt_int(d.get("numaNode")),
            pcie_root=_opt_str(d.get("pcieRoot")),
            mig_enabled=_opt_bool(d.get("migEnabled")),
            mig_devices=[MigDevice.from_dict(x) for x in _dicts(d.get("migDevices"))],
            mig_profiles=[MigProfile.from_dict(x) for x in _dicts(d.get("migProfiles"))],
            nvlinks=[NvLink.from_dict(x, f"GPU {d.get('index')}: nvlinks[{i}]") for i, x in enumerate(_dicts(d.get("nvlinks")))],
            fabric=Fabric.from_dict(d.get("fabric")),
            addressing_mode=_opt_str(d.get("addressingMode")),
            lost=bool(d.get("lost")),
            errors=[CallError.from_dict(x) for x in _dicts(d.get("errors"))],
            health=d.get("health") if isinstance(d.get("health"), dict) else None,
            cpu_affinity=_opt_str(d.get("cpuAffinity")),
        )


@dataclass
class Topology:
    """The ``nvidia-smi topo -m`` GPU matrix.

    ``matrix[i][j]`` describes GPUs ``gpus[i]`` and ``gpus[j]``: ``X`` on the diagonal,
    ``NV<n>`` when they share n NVLinks (directly or through NVSwitches), otherwise the
    PCIe path: ``PIX``, ``PXB``, ``PHB``, ``NODE``, ``SYS``; ``?`` when NVML could not say.
    ``pcie`` is the same matrix without NVLink (the PCIe path alone), an addition.
    """

    gpus: list[int] = field(default_factory=list)
    matrix: list[list[str]] = field(default_factory=list)
    pcie: list[list[str]] = field(default_factory=list)
    #: additions written only when set: NIC columns of ``topo -m`` (``mlx5_0``) and each GPU's cell to them
    nics: list[str] = field(default_factory=list)
    nic_matrix: list[list[str]] = field(default_factory=list)

    def cell(self, a: int, b: int) -> str:
        """The cell for two GPU indices (not positions)."""
        try:
            return self.matrix[self.gpus.index(a)][self.gpus.index(b)]
        except (ValueError, IndexError):
            return UNKNOWN_CELL

    def nvlink_count(self, a: int, b: int) -> int:
        cell = self.cell(a, b)
        return int(cell[2:]) if cell.startswith("NV") and cell[2:].isdigit() else 0

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"gpus": list(self.gpus), "matrix": [list(r) for r in self.matrix], "pcie": [list(r) for r in self.pcie]}
        if self.nics:
            d["nics"] = list(self.nics)
            d["nicMatrix"] = [list(r) for r in self.nic_matrix]
        return d

    @classmethod
    def from_dict(cls, d: Any, uuids: dict[str, int] | None = None) -> Topology:
        """``gpus`` are GPU indices (also read: ``GPU3``, ``{"index": 3}``, ``{"uuid": …}`` with ``uuids``
        mapping UUIDs to indices); ``matrix`` is a list of rows, or a mapping ``{row: {column: cell}}``
        keyed by the same labels (or their ``GPU<index>`` / index spelling)."""
        if not isinstance(d, dict):
            return cls()

        def rows(value: Any) -> list[list[str]]:
            return [[str(c) for c in r] for r in value if isinstance(r, list)] if isinstance(value, list) else []

        def index(label: Any) -> int | None:
            if isinstance(label, bool):
                return None
            if isinstance(label, int):
                return label
            if isinstance(label, dict):
                found = _opt_int(label.get("index"))
                return found if found is not None else (uuids or {}).get(str(label.get("uuid")))
            m = re.fullmatch(r"(?i)(?:gpu\s*)?(\d+)", str(label).strip())
            return int(m.group(1)) if m else (uuids or {}).get(str(label))

        labels = d.get("gpus")
        matrix = d.get("matrix")
        if isinstance(matrix, dict):
            keys = labels if isinstance(labels, list) else list(matrix)
            by_index = {index(k): v for k, v in matrix.items()}
            gpus = [i for i in (index(k) for k in keys) if i is not None]
            grid = []
            for a in gpus:
                row = by_index.get(a)
                cells = {index(k): v for k, v in row.items()} if isinstance(row, dict) else {}
                grid.append([str(cells.get(b, UNKNOWN_CELL)) for b in gpus])
        else:
            gpus = [i for i in (index(g) for g in (labels if isinstance(labels, list) else [])) if i is not None]
            grid = rows(matrix)
            if grid:  # square, whatever the file holds: a missing or short row is unknown ("?"), extras dropped
                size = len(gpus)
                grid = [(grid[i] if i < len(grid) else [])[:size] for i in range(size)]
                grid = [row + [UNKNOWN_CELL] * (size - len(row)) for row in grid]
        nics = [str(n) for n in d.get("nics") or [] if isinstance(n, str)]
        return cls(gpus=gpus, matrix=grid, pcie=rows(d.get("pcie")), nics=nics, nic_matrix=rows(d.get("nicMatrix")))


@dataclass
class Snapshot:
    """Everything NVML said about one node at ``collected_at``."""

    node: str
    collected_at: str  # RFC 3339, UTC, "Z"
    driver_version: str | None = None  # NVML form: 580.95.05
    cuda_driver_version: str | None = None  # 13.0
    nvml_version: str | None = None
    partial: bool = False  # some call failed with a code other than NOT_SUPPORTED: data is missing
    #: every failed call, node-level (gpu None) and per GPU; each Gpu.errors holds its own subset
    errors: list[CallError] = field(default_factory=list)
    gpus: list[Gpu] = field(default_factory=list)
    topology: Topology = field(default_factory=Topology)
    #: where the facts come from: ``nvidia-smi`` (kubectl_dra/nvml/smi.py); None (not written) = NVML via pynvml
    source: str | None = None

    def gpu(self, index: int) -> Gpu | None:
        return next((g for g in self.gpus if g.index == index), None)

    def gpu_by_uuid(self, uuid: str) -> Gpu | None:
        return next((g for g in self.gpus if g.uuid == uuid), None)

    def gpu_by_bus_id(self, bus_id: str) -> Gpu | None:
        """The GPU at a PCI bus id given in NVML, DRA or short form."""
        return next((g for g in self.gpus if same_bus_id(g.pci_bus_id, bus_id)), None)

    def to_dict(self) -> dict:
        d = {
            "kind": KIND,
            "version": VERSION,
            "node": self.node,
            "collectedAt": self.collected_at,
            "driverVersion": self.driver_version,
            "cudaDriverVersion": self.cuda_driver_version,
            "nvmlVersion": self.nvml_version,
            "partial": self.partial,
            "errors": [e.to_dict() for e in self.errors],
            "gpus": [g.to_dict() for g in self.gpus],
            "topology": self.topology.to_dict(),
        }
        if self.source is not None:
            d["source"] = self.source
        return d

    @classmethod
    def from_dict(cls, d: Any, source: str = "snapshot") -> Snapshot:
        """Read the JSON shape; unknown fields are ignored, a wrong kind or newer version is refused."""
        if not isinstance(d, dict):
            raise SnapshotError(f"{source}: expected a JSON object, got {type(d).__name__}")
        if d.get("kind") != KIND:
            raise SnapshotError(f"{source}: kind is {d.get('kind')!r}, expected {KIND!r}")
        version = d.get("version")
        if not isinstance(version, int) or version < 1 or version > VERSION:
            raise SnapshotError(
                f"{source}: NvmlSnapshot version {version!r} is not supported",
                hint=f"this kubectl-dra reads version {VERSION}; upgrade it to read newer snapshots",
            )
        try:
            gpus = [Gpu.from_dict(x) for x in _dicts(d.get("gpus"))]
        except SnapshotError as error:
            raise SnapshotError(f"{source}: {error.message}", hint=error.hint) from None
        uuids = {g.uuid: g.index for g in gpus if g.uuid}
        return cls(
            node=str(d.get("node") or ""),
            collected_at=str(d.get("collectedAt") or ""),
            driver_version=_opt_str(d.get("driverVersion")),
            cuda_driver_version=_opt_str(d.get("cudaDriverVersion")),
            nvml_version=_opt_str(d.get("nvmlVersion")),
            partial=bool(d.get("partial")),
            errors=[CallError.from_dict(x) for x in _dicts(d.get("errors"))],
            gpus=gpus,
            topology=Topology.from_dict(d.get("topology"), uuids),
            source=_opt_str(d.get("source")),
        )


# ---------------------------------------------------------------------------- JSON I/O


def dump_snapshot(snapshot: Snapshot) -> str:
    """The snapshot as JSON text (2-space indent, trailing newline): stable, diff-friendly."""
    return json.dumps(snapshot.to_dict(), indent=2, ensure_ascii=False) + "\n"


dump = dump_snapshot


HINT = "write one with `kubectl dra nvml -o json > snapshot.json` on the node"


def parse_snapshot(text: str, source: str = "snapshot", *, where: str | None = None) -> Snapshot:
    """A snapshot from its JSON text, or the YAML that ``kubectl dra nvml -o yaml`` writes.
    ``where`` prefixes the messages about the text itself (default: ``source``)."""
    where = where or source
    if not text.strip():
        raise SnapshotError(f"{where}: empty", hint=HINT)
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:  # its text, not msg + line: "starting at: line 1 column 5"
            raise SnapshotError(f"{where}: not JSON ({error})", hint=HINT) from None
        except (ValueError, RecursionError) as error:  # a 5,000-digit number, deep nesting
            raise SnapshotError(f"{where}: a value this tool cannot read: {str(error)[:100]}", hint=HINT) from None
    else:
        import yaml

        try:
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = f" (line {mark.line + 1})" if mark is not None else ""
            raise SnapshotError(f"{where}: not JSON or YAML{line}", hint=HINT) from None
        except (ValueError, RecursionError) as error:
            raise SnapshotError(f"{where}: a value this tool cannot read: {str(error)[:100]}", hint=HINT) from None
    return Snapshot.from_dict(data, source)


def read_snapshot(path: str | Path, option: str | None = None) -> Snapshot:
    """The one reader of snapshot files: a path, or ``-`` for stdin; JSON or YAML. ``option`` (e.g.
    ``--snapshot``) names the flag in the messages about reading the file."""
    import sys

    from kubectl_dra.kube.files import read_input

    source = "stdin" if str(path) == "-" else str(path)
    where = f"{option} {source}" if option else source
    # the one input reader: bytes checked as UTF-8 whatever the locale, size bounded
    text = read_input(str(path), label=where, error=SnapshotError)
    return parse_snapshot(text, source, where=where)


def load_snapshot(path_or_text: str | Path) -> Snapshot:
    """Read a snapshot from a file path, or from JSON text (a string starting with ``{``)."""
    if isinstance(path_or_text, str) and path_or_text.lstrip().startswith("{"):
        return parse_snapshot(path_or_text)
    return read_snapshot(path_or_text)
