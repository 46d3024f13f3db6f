"""nvidia-smi as an NVML source: the collector script, and parsers of what nvidia-smi prints.

Where our package (and pynvml) is not installed - the NVIDIA DRA driver's pod, a debug pod, a
pasted bug report - nvidia-smi is. This module turns its outputs into the same
:class:`~kubectl_dra.nvml.snapshot.Snapshot` that ``collect()`` builds from NVML (stdlib only:
ElementTree and regular expressions; pynvml is never imported).

Public interface (stable; other modules and helpers build on these names):

* :func:`collector_script` - the POSIX shell collector (``collector.sh``, shipped as package
  data) as text; :func:`collector_argv` - an argv that runs it (``sh -c SCRIPT ...``).
* :func:`parse_collected` ``(text, node=None) -> Snapshot`` - the collector's delimited output.
* :func:`parse_outputs` ``([(source, text), ...], node=None) -> Snapshot`` - saved outputs of
  single commands (``-q -x`` XML, ``-L``, ``mig -lgi`` / ``-lci``, ``topo -m``, ``nvlink -s``),
  or a collector output; the kind of each is detected from its content (:func:`detect_kind`).
* :class:`SmiParseError` - bad input (an ``InputError``: exit code 5, ``error:`` + ``hint:``).

What each source gives (joined by GPU index, UUID and PCI bus id):

=============  ==========================================================================
``-q -x``      driver and CUDA version; per GPU: name, brand, architecture, UUID, minor,
               bus id, memory, MIG mode, MIG devices (GPU/compute instance ids, engine
               counts, memory - but no UUID and no profile name), addressing mode, fabric
               (DTD v13), ECC, retired pages, remapped rows, reset/recovery state
``-L``         GPU index, name, UUID; MIG device index, profile name and UUID
``mig -lgi``   GPU instance id -> profile id and placement (start:size)
``mig -lci``   compute instance id -> compute profile (for ``1c.3g.40gb``-style names)
``topo -m``    the link matrix (``X``, ``NV#``, ``PIX``, ``PXB``, ``PHB``, ``NODE``, ``SYS``),
               NIC columns, CPU and NUMA affinity
``nvlink -s``  which NVLinks are up (no version, no remote end)
``pci``        (collector only) the PCIe root and numa_node from sysfs, as the driver reads them
``xid``        (collector only) ``NVRM: Xid`` lines of the kernel log, when readable
=============  ==========================================================================

The snapshot says ``source: nvidia-smi``. Facts nvidia-smi does not print stay ``null``
(``cudaComputeCapability`` without the ``query-gpu`` section, NVLink versions and remote ends,
MIG profile tables and placements, the fabric health mask). ``health`` (ECC, retired pages,
remapped rows, XIDs, reset state, fabric health) is filled from nvidia-smi only.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

from kubectl_dra.nvml.migprofiles import MIB, memory_gb, table_for
from kubectl_dra.nvml.snapshot import (
    UNKNOWN_CELL,
    CallError,
    Fabric,
    Gpu,
    MigDevice,
    NvLink,
    Placement,
    Snapshot,
    SnapshotError,
    Topology,
    bus_id_key,
)

SOURCE = "nvidia-smi"
COLLECTOR_VERSION = 1
MARK = "@@kubectl-dra"
#: section names of the collector, in the order it prints them
SECTIONS = (
    "version", "query", "list", "query-gpu", "mig-lgi", "mig-lci", "mig-lgip", "mig-lgipp",
    "topo", "nvlink", "pci", "xid",
)  # fmt: skip
#: kinds ``detect_kind`` reports for a single saved output (a collector output is ``collected``)
KINDS = ("collected", "query", "list", "mig-lgi", "mig-lci", "mig-lgip", "mig-lgipp", "topo", "nvlink", "version", "query-gpu")

HINT = (
    "give the output of `nvidia-smi -q -x`, `nvidia-smi -L`, `nvidia-smi mig -lgi` / `-lci`, "
    "`nvidia-smi topo -m` or `nvidia-smi nvlink -s`, or what the kubectl-dra collector printed"
)


class SmiParseError(SnapshotError):
    """nvidia-smi output this module cannot read (exit code 5)."""


# ---------------------------------------------------------------------------- the collector


def collector_script() -> str:
    """The collector (``kubectl_dra/nvml/collector.sh``), a POSIX sh script; see its header."""
    return resources.files("kubectl_dra.nvml").joinpath("collector.sh").read_text(encoding="utf-8")


def collector_args(nvidia_smi: str = "nvidia-smi", timeout: int = 20, sysfs: str | None = None, xid: bool = True,
                   stream: bool = False) -> list[str]:  # fmt: skip
    """The collector's options: ``--nvidia-smi CMD`` (word-split by the shell, e.g.
    ``chroot /driver-root nvidia-smi``), ``--timeout SECS`` per command, ``--sysfs DIR``, ``--no-xid``
    (skip the kernel log), ``--stream`` (no temporary files; stderr is dropped)."""
    args = ["--nvidia-smi", nvidia_smi, "--timeout", str(int(timeout))]
    if sysfs:
        args += ["--sysfs", sysfs]
    if not xid:
        args.append("--no-xid")
    if stream:
        args.append("--stream")
    return args


def collector_argv(nvidia_smi: str = "nvidia-smi", timeout: int = 20, sysfs: str | None = None, xid: bool = True,
                   stream: bool = False, shell: str = "sh") -> list[str]:  # fmt: skip
    """``[shell, "-c", SCRIPT, "kubectl-dra-collect", OPTIONS...]``: run it with exec or in a pod
    (``shell``: e.g. ``/busybox/sh`` in a distroless debug image)."""
    return [shell, "-c", collector_script(), "kubectl-dra-collect", *collector_args(nvidia_smi, timeout, sysfs, xid, stream)]


# ---------------------------------------------------------------------------- splitting the collector output


@dataclass
class Section:
    """One command's output in the collector's output. ``rc``: the exit code as text, or
    ``timeout``, ``skipped`` (an earlier nvidia-smi command hung), ``notfound``; None when cut off."""

    name: str
    cmd: str = ""
    stdout: str = ""
    stderr: str = ""
    rc: str | None = None

    @property
    def ok(self) -> bool:
        return self.rc == "0"


@dataclass
class Collected:
    header: dict[str, str] = field(default_factory=dict)
    sections: dict[str, Section] = field(default_factory=dict)
    done: bool = False


_MARK_LINE = re.compile(r"^@@kubectl-dra (collector|begin|stderr|end|done)\b ?(.*)$")


def split_collected(text: str) -> Collected:
    """The collector's output cut into sections (see collector.sh for the format)."""
    result = Collected()
    current: Section | None = None
    target: list[str] | None = None
    buf: list[str] = []

    def flush() -> None:
        if current is not None and target is not None:
            joined = "".join(buf)
            if target is out_lines:
                current.stdout = joined
            else:
                current.stderr = joined

    out_lines: list[str] = []
    err_lines: list[str] = []
    for line in text.splitlines(keepends=True):
        m = _MARK_LINE.match(line.rstrip("\r\n"))
        if not m:
            if current is not None and target is not None:
                buf.append(line)
            continue
        what, rest = m.groups()
        if what == "collector":
            result.header = dict(kv.split("=", 1) for kv in rest.split() if "=" in kv)
        elif what == "begin":
            flush()
            name, _, cmd = rest.partition(" ")
            current = Section(name=name, cmd=cmd.removeprefix("cmd="))
            result.sections[name] = current
            buf, out_lines, err_lines = [], [], []
            target = out_lines
        elif what == "stderr" and current is not None:
            flush()
            buf = []
            target = err_lines
        elif what == "end" and current is not None:
            flush()
            rc = re.search(r"rc=(\S+)", rest)
            current.rc = rc.group(1) if rc else "?"
            current, target, buf = None, None, []
        elif what == "done":
            result.done = True
    flush()
    return result


# ---------------------------------------------------------------------------- small value parsers


def _na(text: str | None) -> str | None:
    """Strip; None for nvidia-smi's "no value" spellings."""
    if text is None:
        return None
    t = " ".join(text.split())
    if not t or t in ("N/A", "None", "Unknown Error", "[N/A]", "Not Supported", "[Not Supported]") or t.startswith(
        "Requested functionality has been deprecated"
    ):
        return None
    return t


def _int(text: str | None) -> int | None:
    t = _na(text)
    if t is None:
        return None
    m = re.match(r"^(-?\d+)", t)
    return int(m.group(1)) if m else None


_UNITS = {"B": 1, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40, "KB": 1000, "MB": 1000**2, "GB": 1000**3}


def _bytes(text: str | None) -> int | None:
    """``81920 MiB`` -> bytes (nvidia-smi prints MiB); a bare number is MiB."""
    t = _na(text)
    if t is None:
        return None
    m = re.match(r"^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$", t)
    if not m:
        return None
    unit = m.group(2).upper() or "MIB"
    if unit not in _UNITS:
        return None
    return int(float(m.group(1)) * _UNITS[unit])


def _yes(text: str | None) -> bool | None:
    t = _na(text)
    if t is None:
        return None
    low = t.lower()
    if low in ("yes", "enabled", "true", "active"):
        return True
    if low in ("no", "disabled", "false", "not active", "inactive"):
        return False
    return None


def _camel(tag: str) -> str:
    head, *rest = tag.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _bus(text: str | None) -> str | None:
    return bus_id_key(_na(text))  # the one normaliser; not a bus id: None


#: nvidia-smi's product_brand -> go-nvlib ``GetBrandAsString`` (what NVML collection reports)
BRANDS = {
    "unknown": "Unknown", "quadro": "Quadro", "tesla": "Tesla", "nvs": "NVS", "grid": "Grid",
    "geforce": "GeForce", "titan": "Titan", "nvidia virtual applications": "NvidiaVApps",
    "nvidia virtual pc": "NvidiaVPC", "nvidia virtual compute server": "NvidiaVCS",
    "nvidia rtx virtual workstation": "NvidiaVWS", "nvidia cloud gaming": "NvidiaCloudGaming",
    "quadro rtx": "QuadroRTX", "nvidia rtx": "NvidiaRTX", "nvidia": "Nvidia",
    "geforce rtx": "GeForceRTX", "titan rtx": "TitanRTX",
}  # fmt: skip


# ---------------------------------------------------------------------------- nvidia-smi -q -x


@dataclass
class XmlMig:
    index: int | None
    gi_id: int | None
    ci_id: int | None
    memory_bytes: int | None
    engines: dict[str, int | None]


@dataclass
class XmlGpu:
    position: int
    bus_id: str | None
    name: str | None = None
    brand: str | None = None
    architecture: str | None = None
    uuid: str | None = None
    minor: int | None = None
    memory_bytes: int | None = None
    mig_enabled: bool | None = None
    migs: list[XmlMig] = field(default_factory=list)
    addressing_mode: str | None = None
    fabric: Fabric | None = None
    health: dict[str, Any] = field(default_factory=dict)


@dataclass
class XmlLog:
    dtd: int | None
    timestamp: str | None
    driver_version: str | None
    cuda_version: str | None
    gpus: list[XmlGpu]


_ENGINES = (
    ("multiprocessor_count", "multiprocessor_count"),
    ("copy_engine_count", "copy_engine_count"),
    ("decoder_count", "decoder_count"),
    ("encoder_count", "encoder_count"),
    ("jpg_count", "jpeg_count"),
    ("ofa_count", "ofa_count"),
)


def _text(el: ET.Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    return found.text if found is not None else None


def parse_query_xml(text: str, source: str = "nvidia-smi -q -x") -> XmlLog:
    """``nvidia-smi -q -x`` (DTD v10 to v13; unknown elements are ignored)."""
    dtd_match = re.search(r"nvsmi_device_v(\d+)\.dtd", text[:500])
    # the DOCTYPE names an external DTD: drop it so that nothing tries to resolve it
    body = re.sub(r"<!DOCTYPE[^>]*>", "", text, count=1)
    try:
        root = ET.fromstring(body.strip())
    except ET.ParseError as e:
        raise SmiParseError(f"{source}: not valid nvidia-smi XML ({e})", hint=HINT) from None
    if root.tag != "nvidia_smi_log":
        raise SmiParseError(f"{source}: the XML root is <{root.tag}>, not <nvidia_smi_log>", hint=HINT)
    gpus = [_xml_gpu(i, g) for i, g in enumerate(root.findall("gpu"))]
    return XmlLog(
        dtd=int(dtd_match.group(1)) if dtd_match else None,
        timestamp=_na(_text(root, "timestamp")),
        driver_version=_na(_text(root, "driver_version")),
        cuda_version=_na(_text(root, "cuda_version")),
        gpus=gpus,
    )


def _xml_gpu(position: int, g: ET.Element) -> XmlGpu:
    bus = _bus(_text(g, "pci/pci_bus_id")) or _bus(g.get("id"))
    brand = _na(_text(g, "product_brand"))
    gpu = XmlGpu(
        position=position,
        bus_id=bus,
        name=_na(_text(g, "product_name")),
        brand=BRANDS.get(brand.lower(), brand) if brand else None,
        architecture=_na(_text(g, "product_architecture")),
        uuid=_na(_text(g, "uuid")),
        minor=_int(_text(g, "minor_number")),
        memory_bytes=_bytes(_text(g, "fb_memory_usage/total")),
        mig_enabled=_yes(_text(g, "mig_mode/current_mig")),
        # NVML's "None" addressing mode is a value (HMM and ATS off), unlike N/A
        addressing_mode=_na(_text(g, "addressing_mode")) or _addressing_none(_text(g, "addressing_mode")),
    )
    mig_devices = g.find("mig_devices")
    if mig_devices is not None:  # <mig_devices>None</mig_devices> has no children
        for m in mig_devices.findall("mig_device"):
            shared = m.find("device_attributes/shared")
            gpu.migs.append(
                XmlMig(
                    index=_int(_text(m, "index")),
                    gi_id=_int(_text(m, "gpu_instance_id")),
                    ci_id=_int(_text(m, "compute_instance_id")),
                    memory_bytes=_bytes(_text(m, "fb_memory_usage/total")),
                    engines={attr: _int(_text(shared, tag)) for tag, attr in _ENGINES},
                )
            )
    gpu.fabric, fabric_health = _xml_fabric(g.find("fabric"))
    gpu.health = _xml_health(g)
    if fabric_health:
        gpu.health["fabric"] = fabric_health
    return gpu


def _addressing_none(text: str | None) -> str | None:
    return "None" if text is not None and text.strip() == "None" else None


def _xml_fabric(el: ET.Element | None) -> tuple[Fabric | None, dict[str, Any]]:
    """DTD v12/v13 ``<fabric>``: state, status, cliqueId, clusterUuid, health; all N/A off NVLink fabrics."""
    if el is None:
        return None, {}
    state = _na(_text(el, "state"))
    health = {}
    h = el.find("health")
    if h is not None:
        for child in h:
            value = _na(child.text)
            if value is not None:
                health[_camel(child.tag)] = value
    if state is None:
        return None, health
    status = _na(_text(el, "status")) or ""
    return (
        Fabric(
            cluster_uuid=_na(_text(el, "clusterUuid")) or "",
            clique_id=_int(_text(el, "cliqueId")) or 0,
            state=state.lower().replace(" ", "_"),
            status=status.lower().replace(" ", "_"),
        ),
        health,
    )


def _counts(el: ET.Element | None) -> dict[str, int | None] | None:
    if el is None:
        return None
    out = {}
    for child in el:
        if len(child):  # v10/v11 nest per memory kind: <single_bit><device_memory>…; flatten
            for sub in child:
                out[_camel(f"{child.tag}_{sub.tag}")] = _int(sub.text)
        else:
            out[_camel(child.tag)] = _int(child.text)
    return out if any(v is not None for v in out.values()) else None


def _xml_health(g: ET.Element) -> dict[str, Any]:
    """ECC mode and counters, retired pages, remapped rows, reset and recovery state."""
    health: dict[str, Any] = {}
    ecc_mode = _na(_text(g, "ecc_mode/current_ecc"))
    if ecc_mode:
        health["eccMode"] = ecc_mode
    errors = {}
    for kind in ("volatile", "aggregate"):
        counts = _counts(g.find(f"ecc_errors/{kind}"))
        if counts:
            errors[kind] = counts
    if errors:
        health["eccErrors"] = errors
    retired = g.find("retired_pages")
    if retired is not None:
        pages = {
            "singleBit": _int(_text(retired, "multiple_single_bit_retirement/retired_count")),
            "doubleBit": _int(_text(retired, "double_bit_retirement/retired_count")),
            "pending": _yes(_text(retired, "pending_retirement")),
        }
        if any(v is not None for v in pages.values()):
            health["retiredPages"] = pages
    rows = g.find("remapped_rows")
    if rows is not None and len(rows):  # a scalar "N/A" where the GPU has no row remapper
        remapped = {
            "correctable": _int(_text(rows, "remapped_row_corr")),
            "uncorrectable": _int(_text(rows, "remapped_row_unc")),
            "pending": _yes(_text(rows, "remapped_row_pending")),
            "failure": _yes(_text(rows, "remapped_row_failure")),
        }
        if any(v is not None for v in remapped.values()):
            health["remappedRows"] = remapped
    reset = _yes(_text(g, "gpu_reset_status/reset_required"))
    if reset is not None:
        health["resetRequired"] = reset
    drain = _yes(_text(g, "gpu_reset_status/drain_and_reset_recommended"))
    if drain is not None:
        health["drainAndResetRecommended"] = drain
    recovery = _text(g, "gpu_recovery_action")
    if recovery is not None and recovery.strip():
        health["recoveryAction"] = " ".join(recovery.split())
    return health


# ---------------------------------------------------------------------------- nvidia-smi -L


@dataclass
class ListMig:
    device: int
    profile: str
    uuid: str | None


@dataclass
class ListGpu:
    index: int
    name: str
    uuid: str | None
    migs: list[ListMig] = field(default_factory=list)


_L_GPU = re.compile(r"^GPU (\d+): (.*?)(?: \(UUID: ([^)]+)\))?\s*$")
_L_MIG = re.compile(r"^\s+MIG\s+(\S+)\s+Device\s+(\d+):\s*(?:\(UUID: ([^)]+)\))?")


def parse_list(text: str) -> list[ListGpu]:
    """``nvidia-smi -L``: ``GPU 0: NAME (UUID: GPU-…)`` and ``  MIG 1g.10gb Device 0: (UUID: MIG-…)``."""
    gpus: list[ListGpu] = []
    for line in text.splitlines():
        m = _L_GPU.match(line)
        if m:
            gpus.append(ListGpu(index=int(m.group(1)), name=m.group(2).strip(), uuid=m.group(3)))
            continue
        m = _L_MIG.match(line)
        if m and gpus:
            gpus[-1].migs.append(ListMig(device=int(m.group(2)), profile=m.group(1), uuid=m.group(3)))
    return gpus


# ---------------------------------------------------------------------------- nvidia-smi mig -lgi / -lci


@dataclass
class Instance:
    """A row of ``mig -lgi`` (``ci_id`` None) or ``mig -lci``."""

    gpu: int
    gi_id: int
    profile: str
    profile_id: int
    ci_id: int | None
    placement: Placement | None


_LGI_ROW = re.compile(r"^\|\s*(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+):(\d+)\s*\|")
_LCI_ROW = re.compile(r"^\|\s*(\d+)\s+(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+):(\d+)\s*\|")


def parse_mig_instances(text: str) -> list[Instance]:
    """``nvidia-smi mig -lgi`` (GPU, name, profile id, instance id, placement) or ``mig -lci``
    (GPU, GPU instance id, name, profile id, instance id, placement); the table kind is read
    from its title."""
    compute = "Compute instances" in text
    rows = []
    for line in text.splitlines():
        if compute:
            m = _LCI_ROW.match(line)
            if m:
                gpu, gi, name, pid, ci, start, size = m.groups()
                rows.append(Instance(int(gpu), int(gi), name, int(pid), int(ci), Placement(int(start), int(size))))
        else:
            m = _LGI_ROW.match(line)
            if m:
                gpu, name, pid, gi, start, size = m.groups()
                rows.append(Instance(int(gpu), int(gi), name, int(pid), None, Placement(int(start), int(size))))
    return rows


# ---------------------------------------------------------------------------- nvidia-smi mig -lgip / -lgipp


@dataclass
class ProfileRow:
    """A row of ``mig -lgip``: memory only in GiB with two decimals (exact MiB come from the
    model's table when it is known, see ``_join_profiles``)."""

    gpu: int
    profile: str
    profile_id: int
    free: int
    total: int
    memory_gib: float
    engines: dict[str, int]


_LGIP_ROW = re.compile(r"^\|\s*(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)/(\d+)\s+([\d.]+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s*\|")
_LGIP_ROW2 = re.compile(r"^\|\s+(\d+)\s+(\d+)\s+(\d+)\s*\|\s*$")
_LGIPP_ROW = re.compile(r"GPU\s+(\d+)\s+Profile ID\s+(\d+)\s+Placements?\s*:\s*\{([\d,\s]*)\}:(\d+)")


def parse_mig_profiles(text: str) -> list[ProfileRow]:
    """``nvidia-smi mig -lgip``: per GPU and profile: name, id, free/total instances, memory (GiB),
    SM, DEC, ENC on the first line and CE, JPEG, OFA on the second."""
    rows: list[ProfileRow] = []
    pending: ProfileRow | None = None
    for line in text.splitlines():
        m = _LGIP_ROW.match(line)
        if m:
            gpu, name, pid, free, total, gib, sm, dec, enc = m.groups()
            pending = ProfileRow(int(gpu), name, int(pid), int(free), int(total), float(gib),
                                 {"multiprocessor_count": int(sm), "decoder_count": int(dec), "encoder_count": int(enc)})  # fmt: skip
            rows.append(pending)
            continue
        m = _LGIP_ROW2.match(line)
        if m and pending is not None:
            ce, jpeg, ofa = m.groups()
            pending.engines.update(copy_engine_count=int(ce), jpeg_count=int(jpeg), ofa_count=int(ofa))
            pending = None
    return rows


def parse_mig_placements(text: str) -> dict[tuple[int, int], list[Placement]]:
    """``nvidia-smi mig -lgipp``: ``GPU  0 Profile ID 15 Placements: {0,2,4,6}:2`` -> (gpu, profile id) -> placements."""
    out: dict[tuple[int, int], list[Placement]] = {}
    for line in text.splitlines():
        m = _LGIPP_ROW.search(line)
        if m:
            gpu, pid, starts, size = m.groups()
            out[(int(gpu), int(pid))] = [Placement(int(x), int(size)) for x in starts.replace(" ", "").split(",") if x]
    return out


# ---------------------------------------------------------------------------- nvidia-smi topo -m


@dataclass
class TopoMatrix:
    """``nvidia-smi topo -m``: ``columns`` are the device columns (``GPU0``…, ``NIC0`` or ``mlx5_0``…);
    ``cells[row][column]``; per GPU row the CPU affinity, NUMA affinity and GPU NUMA id, as printed."""

    columns: list[str]
    cells: dict[str, dict[str, str]]
    cpu_affinity: dict[str, str]
    numa_affinity: dict[str, str]
    gpu_numa_id: dict[str, str]
    nic_names: dict[str, str]  # NIC0 -> mlx5_0, from the "NIC Legend"


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_AFFINITY_HEADERS = ("CPU Affinity", "NUMA Affinity", "GPU NUMA ID")
_DEVICE = re.compile(r"^(GPU\d+|NIC\d+|mlx\d+_\d+|[a-z][a-z0-9_]*\d)$")


_CELL = re.compile(r"^(X|NV\d+|PIX|PXB|PHB|NODE|SYS|SOC)$")


def _is_topo_header(line: str) -> bool:
    """The column header names GPU0 and is not itself a matrix row (``GPU0  X  NV12 ...``)."""
    tokens = line.split()
    return "GPU0" in tokens and not (tokens[0] == "GPU0" and len(tokens) > 1 and _CELL.match(tokens[1]))


def parse_topo(text: str) -> TopoMatrix:
    """The matrix of ``nvidia-smi topo -m`` (tab-separated as printed; space-aligned copies
    from web pages are read too)."""
    lines = [_ANSI.sub("", line.rstrip("\r\n")) for line in text.splitlines()]
    header_at = next((i for i, line in enumerate(lines) if _is_topo_header(line)), None)
    if header_at is None:
        raise SmiParseError("nvidia-smi topo -m: no header line with GPU0", hint=HINT)
    header = lines[header_at]
    tabbed = "\t" in header
    if tabbed:
        names = [h.strip() for h in header.split("\t")]
        if names and names[0] == "":
            names = names[1:]
    else:
        flat = header.strip()
        for h in _AFFINITY_HEADERS:
            flat = flat.replace(h, h.replace(" ", "\x00"))
        names = [n.replace("\x00", " ") for n in flat.split()]
    columns = [n for n in names if n and n not in _AFFINITY_HEADERS]
    extras = [n for n in names if n in _AFFINITY_HEADERS]
    result = TopoMatrix(columns=columns, cells={}, cpu_affinity={}, numa_affinity={}, gpu_numa_id={}, nic_names={})
    for line in lines[header_at + 1 :]:
        if not line.strip():
            if result.cells:
                break
            continue
        parts = line.split("\t") if tabbed else line.split()
        row = parts[0].strip()
        if not _DEVICE.match(row):
            break
        values = [p.strip() for p in parts[1:]]
        cells = values[: len(columns)]
        result.cells[row] = {c: ("SYS" if v == "SOC" else v) for c, v in zip(columns, cells)}
        rest = values[len(columns) :]
        if row.startswith("GPU") and extras:
            # nvidia-smi prints an extra tab before "GPU NUMA ID": take the last value for it
            filled = list(rest)
            if "GPU NUMA ID" in extras and filled:
                result.gpu_numa_id[row] = filled.pop() or ""
                while filled and filled[-1] == "" and len(filled) > len(extras) - 1:
                    filled.pop()
            for name, value in zip([e for e in extras if e != "GPU NUMA ID"], filled):
                if value:
                    (result.cpu_affinity if name == "CPU Affinity" else result.numa_affinity)[row] = value
    for line in lines:
        m = re.match(r"^\s*(NIC\d+):\s*(\S+)\s*$", line)
        if m:
            result.nic_names[m.group(1)] = m.group(2)
    if not result.cells:
        raise SmiParseError("nvidia-smi topo -m: no matrix rows under the header", hint=HINT)
    return result


# ---------------------------------------------------------------------------- nvidia-smi nvlink -s


@dataclass
class NvlinkGpu:
    index: int
    uuid: str | None
    links: list[tuple[int, bool, str | None]] = field(default_factory=list)  # (link, active, speed)


_NVL_LINK = re.compile(r"^\s+Link (\d+):\s*(.*?)\s*$")


def parse_nvlink_status(text: str) -> list[NvlinkGpu]:
    """``nvidia-smi nvlink -s``: ``GPU 0: NAME (UUID: …)`` then ``Link 0: 25 GB/s`` or ``Link 0: <inactive>``."""
    gpus: list[NvlinkGpu] = []
    for line in text.splitlines():
        m = _L_GPU.match(line)
        if m:
            gpus.append(NvlinkGpu(index=int(m.group(1)), uuid=m.group(3)))
            continue
        m = _NVL_LINK.match(line)
        if m and gpus:
            state = m.group(2)
            active = not ("inactive" in state.lower() or "disabled" in state.lower() or _na(state) is None)
            gpus[-1].links.append((int(m.group(1)), active, state if active else None))
    return gpus


# ---------------------------------------------------------------------------- collector-only sections


_ROOT = re.compile(r"^pci[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}$")


def parse_pci(text: str) -> dict[str, tuple[str | None, int | None]]:
    """The collector's ``pci`` section: bus id -> (PCIe root ``pci0000:15``, numa node)."""
    result: dict[str, tuple[str | None, int | None]] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        bus = _bus(parts[0])
        if bus is None:
            continue
        root = next((p for p in parts[1].split("/") if _ROOT.match(p)), None)
        numa = _int(parts[2]) if len(parts) > 2 else None
        result[bus] = (root, numa if numa is not None and numa >= 0 else None)
    return result


_XID = re.compile(r"NVRM: Xid \(PCI:([0-9a-fA-F]+:[0-9a-fA-F]+:[0-9a-fA-F]+)(?:\.\d)?\):\s*(\d+),?\s*(.*)$")


def parse_xid(text: str) -> dict[str, list[dict[str, Any]]]:
    """``NVRM: Xid (PCI:0000:3b:00): 79, pid=…, GPU has fallen off the bus.`` -> bus id -> XIDs (last 20)."""
    result: dict[str, list[dict[str, Any]]] = {}
    for line in text.splitlines():
        m = _XID.search(line)
        if not m:
            continue
        bus = _bus(m.group(1) + ".0")
        if bus:
            result.setdefault(bus, []).append({"xid": int(m.group(2)), "message": m.group(3).strip()})
    return {bus: xids[-20:] for bus, xids in result.items()}


def parse_version(text: str) -> dict[str, str]:
    """``nvidia-smi --version``: ``NVIDIA-SMI version : 580.95.05``, ``NVML version``, ``DRIVER version``, ``CUDA Version``."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            out[key.strip().lower()] = value.strip()
    return out


@dataclass
class QueryGpu:
    index: int
    uuid: str | None
    bus_id: str | None
    compute_cap: str | None
    memory_bytes: int | None


def parse_query_gpu(text: str) -> list[QueryGpu]:
    """The collector's ``query-gpu`` CSV: index, uuid, pci.bus_id, compute_cap, memory.total (MiB)."""
    rows = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5 or not parts[0].isdigit():
            continue
        cc = _na(parts[3])
        rows.append(QueryGpu(int(parts[0]), _na(parts[1]), _bus(parts[2]), cc if cc and re.match(r"^\d+\.\d+$", cc) else None, _bytes(parts[4])))
    return rows


# ---------------------------------------------------------------------------- detecting a saved output's kind


def detect_kind(text: str) -> str | None:
    """What a saved output is (one of ``KINDS``), or None."""
    head = text.lstrip()[:4000]
    if head.startswith(MARK + " collector") or re.search(r"^@@kubectl-dra begin ", text, re.M):
        return "collected"
    if "<nvidia_smi_log" in head:
        return "query"
    if "GPU instance profiles:" in head:
        return "mig-lgip"
    if re.search(r"Profile ID\s+\d+\s+Placements?\s*:", head):
        return "mig-lgipp"
    if "GPU instances:" in head:
        return "mig-lgi"
    if "Compute instances:" in head:
        return "mig-lci"
    if re.search(r"^\s*NVML version\s*:", head, re.M | re.I):
        return "version"
    if re.search(r"^\s*GPU0\s+(X|NV\d+|PIX|PXB|PHB|NODE|SYS|SOC)\b", _ANSI.sub("", head), re.M):
        return "topo"
    if re.search(r"^GPU \d+: .*", head, re.M):
        return "nvlink" if re.search(r"^\s+Link \d+:", text, re.M) else "list"
    if re.match(r"^\d+, ", head):
        return "query-gpu"
    return None


# ---------------------------------------------------------------------------- assembling a snapshot


#: output kind -> the ``Parts`` field that holds it parsed
_ATTRS = {
    "query": "query", "list": "listing", "query-gpu": "query_gpu", "mig-lgi": "gi", "mig-lci": "ci",
    "mig-lgip": "profiles", "mig-lgipp": "placements", "topo": "topo", "nvlink": "nvlink", "pci": "pci",
    "xid": "xid", "version": "version",
}  # fmt: skip


@dataclass
class Parts:
    """Everything parsed so far, by kind; ``assemble`` joins it into a snapshot."""

    query: XmlLog | None = None
    listing: list[ListGpu] | None = None
    query_gpu: list[QueryGpu] | None = None
    gi: list[Instance] | None = None
    ci: list[Instance] | None = None
    profiles: list[ProfileRow] | None = None
    placements: dict[tuple[int, int], list[Placement]] | None = None
    topo: TopoMatrix | None = None
    nvlink: list[NvlinkGpu] | None = None
    pci: dict[str, tuple[str | None, int | None]] | None = None
    xid: dict[str, list[dict[str, Any]]] | None = None
    version: dict[str, str] | None = None
    errors: list[CallError] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # bus ids nvidia-smi reported as lost
    host: str | None = None
    date: str | None = None

    def add(self, kind: str, text: str, source: str) -> None:
        """Parse one output of a known kind into these parts; a second output of the same kind is refused."""
        attr = _ATTRS.get(kind)
        if attr is None:
            return
        if getattr(self, attr) is not None:
            raise SmiParseError(f"{source}: a second {kind} output (one node's outputs at a time)",
                                hint="give each nvidia-smi output once; run the command again for another node")  # fmt: skip
        value: Any
        if kind == "query":
            value = parse_query_xml(text, source)
        elif kind == "list":
            value = parse_list(text)
        elif kind == "query-gpu":
            value = parse_query_gpu(text)
        elif kind in ("mig-lgi", "mig-lci"):
            value = parse_mig_instances(text)
        elif kind == "mig-lgip":
            value = parse_mig_profiles(text)
        elif kind == "mig-lgipp":
            value = parse_mig_placements(text)
        elif kind == "topo":
            value = parse_topo(text)
        elif kind == "nvlink":
            value = parse_nvlink_status(text)
        elif kind == "pci":
            value = parse_pci(text)
        elif kind == "xid":
            value = parse_xid(text)
        else:
            value = parse_version(text)
        setattr(self, attr, value)


#: messages with which nvidia-smi says "this feature does not exist here" (not an error)
_ABSENT = re.compile(r"No MIG-enabled devices found|No (?:GPU|compute) instances? (?:profiles? )?found|"
                     r"Not Supported|not supported|No devices were found|"
                     r"Unable to retrieve NVLink information|is not a valid field", re.I)  # fmt: skip


def _section_error(section: Section) -> CallError | None:
    if section.ok:
        return None
    output = (section.stdout + "\n" + section.stderr).strip()
    if section.rc not in ("timeout", "skipped", "notfound", None) and _ABSENT.search(output):
        return None
    code = {"timeout": "TIMEOUT", "skipped": "SKIPPED", "notfound": "NOT_FOUND", None: "CUT_OFF"}.get(section.rc, f"EXIT_{section.rc}")
    first = next((line.strip() for line in output.splitlines() if line.strip()), "")
    return CallError(call=section.cmd or section.name, error=f"{code}: {first[:200]}" if first else code)


def parse_collected(text: str, node: str | None = None) -> Snapshot:
    """A snapshot from the collector's output (``collector.sh``). ``node`` defaults to the
    host name the collector printed. Sections that failed are listed in ``errors`` (call =
    the command, error = ``TIMEOUT``, ``SKIPPED``, ``NOT_FOUND`` or ``EXIT_<rc>: <first line>``)."""
    collected = split_collected(text)
    if not collected.sections:
        raise SmiParseError("not the output of the kubectl-dra collector (no sections)", hint=HINT)
    parts = Parts(host=collected.header.get("host"), date=collected.header.get("date"))
    for section in collected.sections.values():
        _note_lost(parts, section.stdout + "\n" + section.stderr)
    for name, section in collected.sections.items():
        error = _section_error(section)
        if error is not None:
            parts.errors.append(error)
        if not section.stdout.strip() or (error is not None and name != "query"):
            continue
        try:
            parts.add(name, section.stdout, f"section {name}")
        except SmiParseError as e:
            parts.errors.append(CallError(call=section.cmd or name, error=f"UNPARSABLE: {e.message}"[:240]))
    if not collected.done:
        parts.errors.append(CallError(call="collector", error="CUT_OFF: the output ends before the collector finished"))
    return assemble(parts, node)


def parse_outputs(items: list[tuple[str, str]], node: str | None = None) -> Snapshot:
    """A snapshot from saved nvidia-smi outputs of one node: ``[(source name, text), ...]``.
    Each output's kind is detected from its content; a collector output may be among them."""
    parts = Parts()
    collected: Snapshot | None = None
    for source, text in items:
        if not text.strip():
            raise SmiParseError(f"{source}: empty", hint=HINT)
        kind = detect_kind(text)
        _note_lost(parts, text)
        if kind is None:
            extra = " (it looks like a JSON snapshot: use --snapshot)" if text.lstrip().startswith("{") else ""
            raise SmiParseError(f"{source}: not an nvidia-smi output this tool reads{extra}", hint=HINT)
        if kind == "collected":
            if collected is not None or len(items) > 1:
                raise SmiParseError(f"{source}: a collector output must be given alone",
                                    hint="the collector output already holds every nvidia-smi section")  # fmt: skip
            collected = parse_collected(text, node)
            continue
        parts.add(kind, text, source)
    if collected is not None:
        return collected
    return assemble(parts, node)


_LOST = re.compile(r"(?:device handle for GPU|GPU)\s*([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])\s*:\s*GPU is lost", re.I)


def _note_lost(parts: Parts, text: str) -> None:
    """``Unable to determine the device handle for GPU 0000:3B:00.0: GPU is lost.`` (nvidia-smi leaves
    such a GPU out of every output): remember its bus id."""
    for m in _LOST.finditer(text):
        bus = _bus(m.group(1))
        if bus and bus not in parts.lost:
            parts.lost.append(bus)


def _xml_time(stamp: str | None) -> str | None:
    """``Fri Aug  4 11:44:30 2023`` (the node's local time) -> ``2023-08-04T11:44:30Z`` (zone unknown)."""
    if not stamp:
        return None
    try:
        return datetime.strptime(" ".join(stamp.split()), "%a %b %d %H:%M:%S %Y").strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None


def _profile_name(name: str, mig_memory: int | None, total: int | None) -> str:
    """nvidia-smi's ``1g.10gb`` recomputed with go-nvlib's ``gb`` formula (what the driver publishes)."""
    m = re.fullmatch(r"(\d+c\.)?(\d+)g\.(\d+)gb(.*)", name)
    if not m or not mig_memory or not total:
        return name
    gb = memory_gb(mig_memory // MIB, total)
    return f"{m.group(1) or ''}{m.group(2)}g.{gb}gb{m.group(4)}"


def _guess_profile(gpu: Gpu, mig: MigDevice) -> tuple[str | None, int | None]:
    """Profile name and id from the model's table by memory and engine counts (no -L, no mig -lgi)."""
    if not gpu.name or not gpu.memory_bytes or not mig.memory_bytes:
        return None, None
    from kubectl_dra.nvml.migprofiles import profile_name

    want = (mig.multiprocessor_count, mig.copy_engine_count, mig.decoder_count, mig.encoder_count, mig.jpeg_count, mig.ofa_count)
    hits = [
        spec
        for spec in table_for(gpu.name, gpu.memory_bytes)
        if spec.memory_mib * MIB == mig.memory_bytes
        and (spec.multiprocessors, spec.copy_engines, spec.decoders, spec.encoders, spec.jpeg, spec.ofa) == want
    ]
    if len(hits) != 1:
        return None, None
    spec = hits[0]
    return profile_name(spec.slice_count, spec.memory_mib, gpu.memory_bytes, spec.index), spec.id


def assemble(parts: Parts, node: str | None = None) -> Snapshot:
    """Join the parsed outputs into one snapshot (see the module docstring for what comes from where)."""
    q = parts.query
    stamp = parts.date or (_xml_time(q.timestamp) if q else None) or ""
    version = parts.version or {}
    snap = Snapshot(
        node=node or parts.host or "",
        collected_at=stamp,
        driver_version=(q.driver_version if q else None) or version.get("driver version"),
        cuda_driver_version=(q.cuda_version if q else None) or version.get("cuda version"),
        nvml_version=version.get("nvml version"),
    )
    snap.source = SOURCE
    listed = {g.uuid: g for g in parts.listing or [] if g.uuid}
    listed_by_index = {g.index: g for g in parts.listing or []}
    gpus: list[Gpu] = []
    if q is not None:
        for x in q.gpus:
            lg = listed.get(x.uuid) if x.uuid else None
            if lg is None and not listed:
                lg = listed_by_index.get(x.position)
            gpu = Gpu(
                index=lg.index if lg else x.position,
                minor=x.minor,
                uuid=x.uuid,
                name=x.name,
                brand=x.brand,
                architecture=x.architecture,
                memory_bytes=x.memory_bytes,
                pci_bus_id=x.bus_id,
                mig_enabled=x.mig_enabled,
                fabric=x.fabric,
                addressing_mode=x.addressing_mode,
            )
            gpu.health = dict(x.health) if x.health else None
            _join_migs(gpu, x, lg, parts)
            gpus.append(gpu)
    elif parts.listing is not None:
        for lg in parts.listing:
            gpu = Gpu(index=lg.index, uuid=lg.uuid, name=lg.name)
            if lg.migs:
                gpu.mig_enabled = True
            _join_migs(gpu, None, lg, parts)
            gpus.append(gpu)
    elif parts.topo is not None:
        gpus = [Gpu(index=int(c[3:])) for c in parts.topo.columns if c.startswith("GPU")]
    gpus.sort(key=lambda g: g.index)
    snap.gpus = gpus
    by_uuid = {g.uuid: g for g in gpus if g.uuid}
    by_index = {g.index: g for g in gpus}

    for row in parts.query_gpu or []:
        gpu = by_uuid.get(row.uuid) if row.uuid else None
        gpu = gpu or by_index.get(row.index)
        if gpu is None:
            continue
        gpu.cuda_compute_capability = row.compute_cap or gpu.cuda_compute_capability
        gpu.pci_bus_id = gpu.pci_bus_id or row.bus_id
        gpu.memory_bytes = gpu.memory_bytes or row.memory_bytes
    for gpu in gpus:
        _join_profiles(gpu, parts)
    for entry in parts.nvlink or []:
        gpu = (by_uuid.get(entry.uuid) if entry.uuid else None) or by_index.get(entry.index)
        if gpu is not None:
            gpu.nvlinks = [NvLink(link=link, active=active) for link, active, _speed in entry.links]
    for gpu in gpus:
        if gpu.pci_bus_id and parts.pci and gpu.pci_bus_id in parts.pci:
            gpu.pcie_root, gpu.numa_node = parts.pci[gpu.pci_bus_id]
        if gpu.pci_bus_id and parts.xid and gpu.pci_bus_id in parts.xid:
            gpu.health = gpu.health or {}
            gpu.health["xids"] = parts.xid[gpu.pci_bus_id]
    if parts.topo is not None:
        _join_topo(snap, parts.topo)
    for bus in parts.lost:
        if snap.gpu_by_bus_id(bus) is None:
            # nvidia-smi numbers the GPUs it can still see; the lost one goes last
            gpu = Gpu(index=max((g.index for g in snap.gpus), default=-1) + 1, pci_bus_id=bus, lost=True)
            snap.gpus.append(gpu)
        else:
            gpu = snap.gpu_by_bus_id(bus)
            gpu.lost = True
        error = CallError(call="nvidia-smi", error="GPU_IS_LOST", gpu=gpu.index)
        gpu.errors.append(error)
        parts.errors.append(error)
    snap.errors = list(parts.errors)
    snap.partial = any(e.loses_data for e in snap.errors) or (q is None and not snap.gpus)
    return snap


def _join_migs(gpu: Gpu, x: XmlGpu | None, lg: ListGpu | None, parts: Parts) -> None:
    listed = {m.device: m for m in lg.migs} if lg else {}
    gis = {(i.gpu, i.gi_id): i for i in parts.gi or []}
    cis = {(i.gpu, i.gi_id, i.ci_id): i for i in parts.ci or []}
    if x is not None and x.migs:
        migs = [(m.index, m) for m in x.migs]
    else:
        migs = [(d, None) for d in sorted(listed)]
    for index, xm in migs:
        mig = MigDevice(index=index)
        if xm is not None:
            mig.gi_id, mig.ci_id, mig.memory_bytes = xm.gi_id, xm.ci_id, xm.memory_bytes
            for attr, value in xm.engines.items():
                setattr(mig, attr, value)
        lm = listed.get(index) if index is not None else None
        if lm is not None:
            mig.uuid = lm.uuid
            mig.profile = lm.profile
        gi = gis.get((gpu.index, mig.gi_id)) if mig.gi_id is not None else None
        if gi is not None:
            mig.gi_profile_id = gi.profile_id
            mig.placement = gi.placement
            mig.profile = mig.profile or gi.profile
        ci = cis.get((gpu.index, mig.gi_id, mig.ci_id)) if mig.ci_id is not None else None
        if ci is not None and mig.profile is None:
            mig.profile = ci.profile
        if mig.profile:
            mig.profile = _profile_name(mig.profile, mig.memory_bytes, gpu.memory_bytes)
            if mig.gi_profile_id is None and gpu.name and gpu.memory_bytes:
                from kubectl_dra.nvml.migprofiles import find_profile

                try:  # -L names the profile, only mig -lgi gives its id: the model's table knows it
                    mig.gi_profile_id = find_profile(table_for(gpu.name, gpu.memory_bytes), mig.profile, gpu.memory_bytes).id
                except KeyError:
                    pass
        else:
            mig.profile, guessed_id = _guess_profile(gpu, mig)
            mig.gi_profile_id = mig.gi_profile_id if mig.gi_profile_id is not None else guessed_id
        gpu.mig_devices.append(mig)


#: NVML_GPU_INSTANCE_PROFILE_* index of a profile name without a table row: by slice count, then suffix
_INDEX_BY_SLICES = {1: 0, 2: 1, 3: 2, 4: 3, 7: 4, 8: 5, 6: 6}
_INDEX_BY_SUFFIX = {(1, "+me"): 7, (2, "+me"): 8, (1, "+gfx"): 10, (2, "+gfx"): 11, (4, "+gfx"): 12,
                    (1, "-me"): 13, (2, "-me"): 14, (1, "+me.all"): 15, (2, "+me.all"): 16}  # fmt: skip


def _join_profiles(gpu: Gpu, parts: Parts) -> None:
    """``mig -lgip`` rows (and ``-lgipp`` placements) of this GPU as its ``migProfiles``. Exact
    memory and the NVML profile index come from the model's table (migprofiles.py) when the
    model is known; otherwise memory is the rounded GiB figure nvidia-smi prints."""
    from kubectl_dra.nvml.snapshot import MigProfile

    rows = [r for r in parts.profiles or [] if r.gpu == gpu.index]
    if not rows:
        return
    table = {spec.id: spec for spec in table_for(gpu.name or "", gpu.memory_bytes or 0)} if gpu.name and gpu.memory_bytes else {}
    for row in rows:
        m = re.fullmatch(r"(?:\d+c\.)?(\d+)g\.\d+gb(.*)", row.profile)
        slices = int(m.group(1)) if m else 0
        spec = table.get(row.profile_id)
        if spec is not None and spec.slice_count == slices:
            memory, index = spec.memory_mib * MIB, spec.index
        else:
            memory = round(row.memory_gib * 1024) * MIB
            suffix = m.group(2) if m else ""
            index = _INDEX_BY_SUFFIX.get((slices, suffix), _INDEX_BY_SLICES.get(slices, 0)) if suffix else _INDEX_BY_SLICES.get(slices, 0)
        gpu.mig_profiles.append(
            MigProfile(
                profile=_profile_name(row.profile, memory, gpu.memory_bytes),
                gi_profile_id=row.profile_id,
                profile_index=index,
                slice_count=slices,
                instance_count=row.total,
                memory_bytes=memory,
                placements=list((parts.placements or {}).get((gpu.index, row.profile_id), [])),
                **row.engines,
            )
        )
    if gpu.mig_enabled is None:
        gpu.mig_enabled = False  # the GPU has MIG profiles: it is MIG-capable


def _join_topo(snap: Snapshot, topo: TopoMatrix) -> None:
    gpu_cols = [c for c in topo.columns if c.startswith("GPU") and c[3:].isdigit()]
    indices = [int(c[3:]) for c in gpu_cols]
    matrix, pcie = [], []
    for a in gpu_cols:
        row = topo.cells.get(a, {})
        cells = [row.get(b) or UNKNOWN_CELL for b in gpu_cols]
        matrix.append(cells)
        pcie.append([UNKNOWN_CELL if c.startswith("NV") else c for c in cells])
    snap.topology = Topology(gpus=indices, matrix=matrix, pcie=pcie)
    nic_cols = [c for c in topo.columns if c not in gpu_cols]
    if nic_cols:
        snap.topology.nics = [topo.nic_names.get(c, c) for c in nic_cols]
        snap.topology.nic_matrix = [[topo.cells.get(a, {}).get(n) or UNKNOWN_CELL for n in nic_cols] for a in gpu_cols]
    for col, index in zip(gpu_cols, indices):
        gpu = snap.gpu(index)
        if gpu is None:
            continue
        gpu.cpu_affinity = topo.cpu_affinity.get(col) or gpu.cpu_affinity
        numa = topo.numa_affinity.get(col)
        if gpu.numa_node is None and numa and numa.isdigit():
            gpu.numa_node = int(numa)


# ---------------------------------------------------------------------------- files (kubectl dra nvml --nvidia-smi)


def read_outputs(paths: list[str], node: str | None = None, option: str = "--nvidia-smi") -> Snapshot:
    """``--nvidia-smi FILE [--nvidia-smi FILE...]``: read each file (``-``: stdin, once) and
    parse them together with :func:`parse_outputs`. Unreadable or unknown input raises
    :class:`SmiParseError` (exit code 5)."""
    import sys

    items: list[tuple[str, str]] = []
    if paths.count("-") > 1:
        raise SmiParseError(f"{option} -: stdin can be read only once", hint="save the other outputs to files")
    for path in paths:
        source = "stdin" if path == "-" else path
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8", errors="strict") as fh:
                    text = fh.read()
        except OSError as error:
            raise SmiParseError(f"{option} {source}: cannot read: {error.strerror or error}") from None
        except UnicodeDecodeError:
            raise SmiParseError(f"{option} {source}: not text", hint=HINT) from None
        items.append((f"{option} {source}", text))
    return parse_outputs(items, node)


# ---------------------------------------------------------------------------- health


def health_problems(health: dict[str, Any]) -> list[str]:
    """What in a GPU's ``health`` block needs attention, one sentence each (empty when healthy)."""
    out: list[str] = []
    xids = health.get("xids") or []
    if xids:
        codes = sorted({x.get("xid") for x in xids if isinstance(x, dict) and isinstance(x.get("xid"), int)})
        out.append(f"kernel log reports Xid {', '.join(map(str, codes))} ({len(xids)} line{'s' if len(xids) != 1 else ''})")
    volatile = (health.get("eccErrors") or {}).get("volatile") or {}
    unc = sum(v for k, v in volatile.items() if isinstance(v, int) and "ncorrectable" in k)
    if unc:
        out.append(f"{unc} uncorrectable ECC error{'s' if unc != 1 else ''} since the driver loaded")
    rows = health.get("remappedRows") or {}
    if rows.get("failure"):
        out.append("row remapping failed: the GPU needs service")
    elif rows.get("pending"):
        out.append("a row remap is pending: reset the GPU")
    if rows.get("uncorrectable"):
        out.append(f"{rows['uncorrectable']} row(s) remapped after uncorrectable errors")
    pages = health.get("retiredPages") or {}
    if pages.get("pending"):
        out.append("a page retirement is pending: reset the GPU")
    if health.get("resetRequired"):
        out.append("nvidia-smi says a GPU reset is required")
    elif health.get("drainAndResetRecommended"):
        out.append("nvidia-smi recommends draining and resetting the GPU")
    action = health.get("recoveryAction")
    if action and action not in ("None", "N/A"):
        out.append(f"recovery action: {action}")
    fabric = health.get("fabric") or {}
    summary = fabric.get("summary")
    if summary and summary not in ("Healthy", "N/A"):
        out.append(f"NVLink fabric health: {summary}")
    return out


# ---------------------------------------------------------------------------- nvidia-smi vs NVML

_GPU_FIELDS = (
    "uuid", "name", "minor", "brand", "architecture", "cuda_compute_capability", "memory_bytes",
    "pci_bus_id", "numa_node", "pcie_root", "mig_enabled", "addressing_mode",
)  # fmt: skip
_MIG_FIELDS = (
    "uuid", "profile", "gi_id", "ci_id", "gi_profile_id", "memory_bytes", "multiprocessor_count",
    "copy_engine_count", "decoder_count", "encoder_count", "jpeg_count", "ofa_count",
)  # fmt: skip


def common_differences(smi: Snapshot, nvml: Snapshot) -> tuple[list[str], int]:
    """Where two snapshots of one node disagree, on the facts both of them have (a value that is
    null on either side is not compared). Returns (differences, number of facts compared). Used
    by tests/gpu/check_smi_vs_nvml.py to prove nvidia-smi and NVML give the same snapshot."""
    diffs: list[str] = []
    compared = 0

    def check(where: str, a: Any, b: Any) -> None:
        nonlocal compared
        if a is None or b is None:
            return
        compared += 1
        if a != b:
            diffs.append(f"{where}: nvidia-smi {a!r} != NVML {b!r}")

    check("driverVersion", smi.driver_version, nvml.driver_version)
    check("cudaDriverVersion", smi.cuda_driver_version, nvml.cuda_driver_version)
    check("GPU count", len(smi.gpus), len(nvml.gpus))
    for g in smi.gpus:
        other = (nvml.gpu_by_uuid(g.uuid) if g.uuid else None) or nvml.gpu(g.index)
        if other is None:
            diffs.append(f"GPU {g.index} ({g.uuid}): only nvidia-smi reports it")
            continue
        where = f"GPU {g.index}"
        check(f"{where} index", g.index, other.index)
        for attr in _GPU_FIELDS:
            check(f"{where} {attr}", getattr(g, attr), getattr(other, attr))
        if g.mig_enabled or other.mig_enabled:
            check(f"{where} MIG device count", len(g.mig_devices), len(other.mig_devices))
            for m in g.mig_devices:
                om = next((x for x in other.mig_devices if m.uuid and x.uuid == m.uuid), None) or next(
                    (x for x in other.mig_devices if (x.gi_id, x.ci_id) == (m.gi_id, m.ci_id)), None
                )
                if om is None:
                    diffs.append(f"{where} MIG {m.uuid or (m.gi_id, m.ci_id)}: only nvidia-smi reports it")
                    continue
                for attr in _MIG_FIELDS:
                    check(f"{where} MIG {m.gi_id}/{m.ci_id} {attr}", getattr(m, attr), getattr(om, attr))
                check(f"{where} MIG {m.gi_id}/{m.ci_id} placement",
                      m.placement.to_dict() if m.placement else None,
                      om.placement.to_dict() if om.placement else None)  # fmt: skip
        if g.mig_profiles:
            for prof in g.mig_profiles:
                op = next((x for x in other.mig_profiles if x.gi_profile_id == prof.gi_profile_id), None)
                if op is None:
                    diffs.append(f"{where} MIG profile {prof.profile} (id {prof.gi_profile_id}): only nvidia-smi reports it")
                    continue
                a, b = prof.to_dict(), op.to_dict()
                for d in (a, b):
                    d.pop("instanceCount")  # NVML's own count; the fake replay derives it from the placements
                check(f"{where} MIG profile {prof.gi_profile_id}", a, b)
            check(f"{where} MIG profile ids", sorted(x.gi_profile_id for x in g.mig_profiles), sorted(x.gi_profile_id for x in other.mig_profiles))
        if g.nvlinks:
            check(f"{where} active NVLinks", sorted(x.link for x in g.active_nvlinks()), sorted(x.link for x in other.active_nvlinks()))
        if g.fabric is not None or other.fabric is not None:
            a = g.fabric.to_dict() if g.fabric else None
            b = other.fabric.to_dict() if other.fabric else None
            if a and b:
                a.pop("healthMask", None)
                b.pop("healthMask", None)
            check(f"{where} fabric", a or {"state": None}, b or {"state": None})
    for g in nvml.gpus:
        if not ((smi.gpu_by_uuid(g.uuid) if g.uuid else None) or smi.gpu(g.index)):
            diffs.append(f"GPU {g.index} ({g.uuid}): only NVML reports it")
    if smi.topology.gpus:
        for a in smi.topology.gpus:
            for b in smi.topology.gpus:
                if a != b:
                    check(f"topo GPU{a}-GPU{b}", smi.topology.cell(a, b), nvml.topology.cell(a, b))
    return diffs, compared


# ---------------------------------------------------------------------------- --compare on nvidia-smi outputs


def unknown_keys(snapshot: Snapshot):
    """For ``compare(..., unknown=...)``: the attribute keys of an expected device that this
    snapshot could not tell because nvidia-smi did not print them (no ``query-gpu`` section: the
    compute capability; no ``pci`` section: PCIe root and NUMA node; an old driver: the addressing
    mode). None for snapshots that did not come from nvidia-smi."""
    if snapshot.source != SOURCE:
        return None
    from kubectl_dra.nvml.resourceslice import DRIVER, STANDARD

    by_uuid = {g.uuid: g for g in snapshot.gpus if g.uuid}

    def unknown(device) -> frozenset[str]:
        attrs = device.attributes
        uuid = attrs.get(f"{DRIVER}/parentUUID") or attrs.get(f"{DRIVER}/uuid")
        gpu = by_uuid.get(uuid) if isinstance(uuid, str) else None
        if gpu is None:
            return frozenset()
        keys = set()
        if gpu.cuda_compute_capability is None:
            keys.add(f"{DRIVER}/cudaComputeCapability")
        if gpu.pcie_root is None:
            keys.add(f"{STANDARD}/pcieRoot")
        if gpu.numa_node is None:
            keys.add(f"{STANDARD}/numaNode")
        if gpu.addressing_mode is None:
            keys.add(f"{DRIVER}/addressingMode")
        return frozenset(keys)

    return unknown
