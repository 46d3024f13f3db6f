"""`nvml`: an NVML snapshot as text (GPUs, MIG devices, the ``nvidia-smi topo -m`` matrix, NVLink,
fabric), the warnings a partial snapshot deserves, and the drift report of ``--compare``.

Plain text through the column printer (``render.columns``); colour is ANSI, applied only when the
caller says so (``console.use_color``), and every value from a snapshot goes through
``strip_controls`` first: a snapshot file is data, never markup or terminal escapes.

Drift data (``kubectl dra nvml --compare -o json``): ``Drift.to_dict()`` plus what the comparison
assumed::

    {"node", "inSync", "missing": [name], "extra": [name],
     "changed": [{"device", "kind", "key", "old", "new"}],      # old: published, new: from NVML
     "removedKeys": [{"device", "kind", "key", "value"}],       # published only
     "addedKeys": [{"device", "kind", "key", "value"}],         # expected from NVML only
     "staleMig": [{"gpuUUID", "published": ["profile@start" | "gpu"], "actual": [...]}],
     "driverRelease": "v0.4", "dynamicMig": false,              # read off the published devices
     "partial": false}                                          # the snapshot missed data
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubectl_dra.model.computedomain import CLIQUE_LABEL
from kubectl_dra.render.columns import ANSI, RESET, format_table, strip_controls

#: ``nvidia-smi topo -m``'s legend, in its order
LEGEND = (
    ("X", "Self"),
    ("SYS", "Connection traversing PCIe as well as the SMP interconnect between NUMA nodes (e.g., QPI/UPI)"),
    ("NODE", "Connection traversing PCIe as well as the interconnect between PCIe Host Bridges within a NUMA node"),
    ("PHB", "Connection traversing PCIe as well as a PCIe Host Bridge (typically the CPU)"),
    ("PXB", "Connection traversing multiple PCIe bridges (without traversing the PCIe Host Bridge)"),
    ("PIX", "Connection traversing at most a single PCIe bridge"),
    ("NV#", "Connection traversing a bonded set of # NVLinks"),
)
UNKNOWN_LEGEND = ("?", "NVML could not tell (a call failed or a GPU is lost)")
#: how many failed calls a warning names before "and N more"
EXAMPLES = 3


def _s(value: Any) -> str:
    """A snapshot value as safe text: ``-`` for unknown, control characters replaced."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return strip_controls(str(value))


def _paint(text: str, style: str | None, color: bool) -> str:
    return f"{ANSI[style]}{text}{RESET}" if color and style else text


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    from kubectl_dra.model.quantity import BINARY_SI, Quantity

    return Quantity.from_int(n, BINARY_SI).human()


def gpu_list(indices: Iterable[int]) -> str:
    """``GPU0-3,5``: indices with runs collapsed."""
    nums = sorted(set(indices))
    parts: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return "GPU" + ",".join(parts) if parts else "-"


# ============================================================================ warnings


def _describe(errors) -> list[str]:
    """Failed calls grouped by call and code: ``nvmlDeviceGetBrand on GPU0-6 (NOT_SUPPORTED)``."""
    groups: dict[tuple[str, str], list] = {}
    for e in errors:
        groups.setdefault((e.call, e.error), []).append(e.gpu)
    out = []
    for (call, code), gpus in groups.items():
        indices = [g for g in gpus if g is not None]
        where = f" on {gpu_list(indices)}" if indices else ""
        out.append(f"{_s(call)}{where} ({_s(code)})")
    return out


def _examples(examples: list[str]) -> str:
    more = len(examples) - EXAMPLES
    return ", ".join(examples[:EXAMPLES]) + (f" and {more} more" if more > 0 else "")


def snapshot_warnings(snap) -> list[str]:
    """Warnings (without the ``warning: `` prefix) for a snapshot that is partial, has lost GPUs,
    or met NOT_SUPPORTED on calls that normally answer."""
    out: list[str] = []
    lost = [g for g in snap.gpus if g.lost]
    losing = [e for e in snap.errors if e.loses_data and e.error != "GPU_IS_LOST"]
    if snap.partial or lost or losing:
        count = len(losing) + len(lost)
        examples = [f"GPU {g.index} has fallen off the bus (GPU_IS_LOST)" for g in lost] + _describe(losing)
        what = "nvidia-smi command" if getattr(snap, "source", None) == "nvidia-smi" else "NVML call"
        noun = f"{what} failed" if count == 1 else f"{what}s failed"
        out.append(f"partial result: {count} {noun}: {_examples(examples)}; values NVML could not read are shown as -")
    unsupported = [e for e in snap.errors if not e.loses_data]
    if unsupported:
        out.append(f"not supported by NVML on some GPUs: {_examples(_describe(unsupported))}; those values are shown as -")
    return out


# ============================================================================ the snapshot as text


def _mig_cell(gpu) -> str:
    if gpu.mig_enabled is None:
        return "-"
    return "on" if gpu.mig_enabled else "off"


def _clique(gpu) -> str:
    fabric = gpu.fabric
    if fabric is None:
        return "-"
    return _s(fabric.clique) if fabric.attached else f"({_s(fabric.state)})"


def gpu_table(snap, *, wide: bool = False, color: bool = False) -> str:
    if wide:
        headers = ["INDEX", "MINOR", "NAME", "BRAND", "ARCH", "MEMORY", "PCI BUS ID", "PCIE ROOT", "NUMA", "MIG", "CC",
                   "CLIQUE", "UUID"]  # fmt: skip
    else:
        headers = ["INDEX", "NAME", "MEMORY", "PCI BUS ID", "NUMA", "MIG", "CC", "UUID"]
    rows = []
    for g in snap.gpus:
        name = _s(g.name)
        if g.lost:
            name = "(lost)" if g.name is None else f"{name} (lost)"
        if wide:
            rows.append([str(g.index), _s(g.minor), name, _s(g.brand), _s(g.architecture), human_bytes(g.memory_bytes),
                         _s(g.pci_bus_id), _s(g.pcie_root), _s(g.numa_node), _mig_cell(g), _s(g.cuda_compute_capability),
                         _clique(g), _s(g.uuid)])  # fmt: skip
        else:
            rows.append([str(g.index), name, human_bytes(g.memory_bytes), _s(g.pci_bus_id), _s(g.numa_node), _mig_cell(g),
                         _s(g.cuda_compute_capability), _s(g.uuid)])  # fmt: skip
    name_col, mig_col = headers.index("NAME"), headers.index("MIG")

    def style(col: int, cell: str) -> str | None:
        if col == name_col and cell.endswith("(lost)"):
            return "red"
        if col == mig_col and cell == "on":
            return "cyan"
        return "dim" if cell == "-" else None

    return format_table(headers, rows, color=color, style=style)


def mig_table(snap, *, wide: bool = False, color: bool = False) -> str:
    headers = ["GPU", "PROFILE", "GI/CI", "PLACEMENT", "MEMORY", "UUID"]
    if wide:
        headers = ["GPU", "PROFILE", "GI PROFILE", "GI/CI", "PLACEMENT", "MEMORY", "SMS", "CE", "DEC", "ENC", "JPEG", "OFA", "UUID"]
    rows = []
    for g in snap.gpus:
        for m in g.mig_devices:
            placement = f"{m.placement.start}:{m.placement.size}" if m.placement else "-"
            gici = f"{_s(m.gi_id)}/{_s(m.ci_id)}"
            if wide:
                rows.append([str(g.index), _s(m.profile), _s(m.gi_profile_id), gici, placement, human_bytes(m.memory_bytes),
                             _s(m.multiprocessor_count), _s(m.copy_engine_count), _s(m.decoder_count),
                             _s(m.encoder_count), _s(m.jpeg_count), _s(m.ofa_count), _s(m.uuid)])  # fmt: skip
            else:
                rows.append([str(g.index), _s(m.profile), gici, placement, human_bytes(m.memory_bytes), _s(m.uuid)])
    if not rows:
        return ""
    return format_table(headers, rows, color=color, style=lambda col, cell: "cyan" if col == 1 else None)


def gpu_notes(snap) -> list[str]:
    """What a reader of the GPU table should know: lost GPUs, GPUs stranded in MIG mode."""
    notes = []
    for g in snap.gpus:
        if g.lost:
            notes.append(f"GPU {g.index} has fallen off the bus (GPU_IS_LOST): NVML no longer answers for it and the "
                         "DRA driver cannot publish it (look for Xid 79 in the kernel log)")  # fmt: skip
        elif g.mig_enabled and not g.mig_devices:
            notes.append(f"GPU {g.index} has MIG mode on but no MIG devices: the DRA driver publishes nothing for it "
                         "(unless DynamicMIG is on)")  # fmt: skip
        if getattr(g, "health", None):
            from kubectl_dra.nvml.smi import health_problems

            notes.extend(f"GPU {g.index}: {problem}" for problem in health_problems(g.health))
    return notes


def topology_matrix(snap, *, color: bool = False) -> str:
    """The ``nvidia-smi topo -m`` matrix with a NUMA column and its legend."""
    topo = snap.topology
    if not topo.gpus or not topo.matrix:
        return ""
    labels = [f"GPU{i}" for i in topo.gpus]
    rows = []
    for label, index, row in zip(labels, topo.gpus, topo.matrix):
        gpu = snap.gpu(index)
        rows.append([label, *[_s(c) for c in row], _s(gpu.numa_node if gpu else None)])

    def style(col: int, cell: str) -> str | None:
        if col == 0 or col > len(labels):
            return None
        if cell.startswith("NV"):
            return "green"
        if cell == "?":
            return "red"
        return "dim" if cell == "X" else None

    lines = ["Topology (as nvidia-smi topo -m):", format_table(["", *labels, "NUMA"], rows, color=color, style=style).rstrip("\n")]
    legend = list(LEGEND)
    if any(c == "?" for row in topo.matrix for c in row):
        legend.append(UNKNOWN_LEGEND)
    width = max(len(k) for k, _ in legend)
    lines += ["", "Legend:", *(f"  {k.ljust(width)} = {text}" for k, text in legend)]
    return "\n".join(lines) + "\n"


def _components(snap) -> list[list[int]]:
    """GPU indices connected over NVLink (any pair with NV# in the matrix), each sorted."""
    topo = snap.topology
    seen: set[int] = set()
    groups = []
    for start in topo.gpus:
        if start in seen:
            continue
        group, todo = [], [start]
        seen.add(start)
        while todo:
            a = todo.pop()
            group.append(a)
            for b in topo.gpus:
                if b not in seen and topo.nvlink_count(a, b):
                    seen.add(b)
                    todo.append(b)
        if len(group) > 1:
            groups.append(sorted(group))
    return groups


def nvlink_summary(snap) -> str:
    with_links = [g for g in snap.gpus if g.nvlinks]
    if not with_links:
        return "NVLink: none (no GPU reports NVLink)\n"
    lines = ["NVLink:"]
    for group in _components(snap):
        counts = {snap.topology.nvlink_count(a, b) for a in group for b in group if a != b}
        shape = f"NV{min(counts)}" if len(counts) == 1 else f"NV{min(counts)}-NV{max(counts)}"
        lines.append(f"  {gpu_list(group)}  connected: {shape} between each pair ({len(group)} GPUs)")
    described: dict[str, list[int]] = {}
    for g in with_links:
        active = [link for link in g.nvlinks if link.active]
        versions = sorted({link.version for link in active if link.version is not None})
        version = (" NVLink " + "/".join(str(v) for v in versions)) if versions else ""
        targets: dict[str, int] = {}
        for link in active:
            if link.remote_type == "switch":
                key = "NVSwitch"
            elif link.remote_type == "gpu":
                peer = snap.gpu_by_bus_id(link.remote_pci_bus_id) if link.remote_pci_bus_id else None
                key = f"GPU{peer.index}" if peer else f"GPU at {_s(link.remote_pci_bus_id)}"
            elif link.remote_type == "cpu":
                key = "CPU"
            elif link.remote_pci_bus_id is None:
                continue  # the source does not say where it goes (nvidia-smi nvlink -s)
            else:
                key = f"{_s(link.remote_pci_bus_id)} (unknown)"
            targets[key] = targets.get(key, 0) + 1
        to = ", ".join(f"{n} to {key}" for key, n in targets.items())
        text = f"{len(active)} of {len(g.nvlinks)} links active{',' + version if version else ''}" + (f": {to}" if to else "")
        described.setdefault(text, []).append(g.index)
    width = max(len(gpu_list(indices)) for indices in described.values())
    for text, indices in described.items():  # GPUs whose links look alike share a line
        lines.append(f"  {gpu_list(indices).ljust(width)}  {text}{' (each)' if len(indices) > 1 else ''}")
    return "\n".join(lines) + "\n"


def fabric_summary(snap) -> str:
    with_fabric = [g for g in snap.gpus if g.fabric is not None]
    if not with_fabric:
        return "Fabric: none (no GPU reports multi-node NVLink fabric info)\n"
    groups: dict[str, list[int]] = {}
    for g in with_fabric:
        f = g.fabric
        if f.attached:
            key = f"clique {_s(f.clique)} (node label {CLIQUE_LABEL})"
        else:
            key = f"not attached: state {_s(f.state)}, status {_s(f.status)}"
        groups.setdefault(key, []).append(g.index)
    lines = ["Fabric (multi-node NVLink):"]
    for key, indices in groups.items():
        lines.append(f"  {gpu_list(indices)}  {key}")
    return "\n".join(lines) + "\n"


def header(snap) -> str:
    versions = [f"CUDA {_s(snap.cuda_driver_version)}"]
    if snap.nvml_version:
        versions.append(f"NVML {_s(snap.nvml_version)}")
    rows = [
        ("Node:", _s(snap.node)),
        ("Driver:", f"{_s(snap.driver_version)} ({', '.join(versions)})"),
        ("Collected:", _s(snap.collected_at)),
    ]
    if getattr(snap, "source", None):
        rows.append(("Source:", snap.source))
    if snap.partial:
        failed = sum(1 for e in snap.errors if e.loses_data and e.error != "GPU_IS_LOST") + sum(1 for g in snap.gpus if g.lost)
        rows.append(("Partial:", f"yes: {failed} NVML call{'s' if failed != 1 else ''} failed (see the warning)"))
    width = max(len(k) for k, _ in rows) + 1
    return "".join(f"{k.ljust(width)} {v}\n" for k, v in rows)


def snapshot_text(snap, *, wide: bool = False, color: bool = False) -> str:
    """Everything ``kubectl dra nvml`` prints as a table."""
    parts = [header(snap)]
    if not snap.gpus:
        parts.append("\nno GPUs: NVML reports 0 devices\n")
        return "".join(parts)
    parts.append("\n" + gpu_table(snap, wide=wide, color=color))
    notes = gpu_notes(snap)
    if notes:
        parts.append("".join(f"note: {n}\n" for n in notes))
    mig = mig_table(snap, wide=wide, color=color)
    if mig:
        parts.append("\nMIG devices:\n" + mig)
    matrix = topology_matrix(snap, color=color)
    if matrix:
        parts.append("\n" + matrix)
    parts.append("\n" + nvlink_summary(snap))
    parts.append("\n" + fabric_summary(snap))
    return "".join(parts)


# ============================================================================ drift


def drift_data(drift, *, style: str, dynamic_mig: bool, partial: bool) -> dict:
    data = drift.to_dict()
    data.update({"driverRelease": style, "dynamicMig": dynamic_mig, "partial": partial})
    return data


def _value(value: Any) -> str:
    """A published or expected value: kinds that the value does not tell are unwrapped."""
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if isinstance(value, list):
        return "[" + ", ".join(_s(v) for v in value) + "]"
    return _s(value)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def drift_text(drift, *, style: str, dynamic_mig: bool, expected: int, published: int, snap=None,
               color: bool = False) -> str:  # fmt: skip
    """The ``--compare`` report."""
    node = _s(drift.node)
    mode = f"driver release {style}, {'DynamicMIG' if dynamic_mig else 'static MIG'}"
    unverified = ""
    if getattr(drift, "unverified", None):
        keys = sorted({k.key for k in drift.unverified})
        unverified = (f"not checked: {', '.join(_s(k) for k in keys)} on {_plural(len({k.device for k in drift.unverified}), 'device')} "
                      "(the nvidia-smi outputs do not say; the collector's output does)\n")  # fmt: skip
    if drift.in_sync:
        return (f"node {node}: {_paint('in sync', 'green', color)}: the {_plural(published, 'published gpu.nvidia.com device')} "
                f"match what NVML reports ({mode})\n" + unverified)  # fmt: skip
    lines = [
        f"node {node}: {_paint('drift', 'red', color)} between NVML and the published ResourceSlices",
        f"({mode}; {expected} expected from NVML, {published} published)",
    ]

    def section(title: str, body: str) -> None:
        lines.append("")
        lines.append(_paint(title, "bold", color))
        lines.extend("  " + line for line in body.rstrip("\n").split("\n"))

    if drift.missing:
        section("missing (NVML reports them, the node does not publish them):", "\n".join(_s(n) for n in drift.missing))
    if drift.extra:
        section("extra (published, NVML does not report them):", "\n".join(_s(n) for n in drift.extra))
    if drift.changed:
        rows = [[_s(c.device), c.kind, _s(c.key), _value(c.old), _value(c.new)] for c in drift.changed]
        section("changed:", format_table(["DEVICE", "KIND", "KEY", "PUBLISHED", "NVML"], rows))
    if drift.removed_keys:
        rows = [[_s(k.device), k.kind, _s(k.key), _value(k.value)] for k in drift.removed_keys]
        section(f"removed keys (published, but driver release {style} does not publish them from what NVML reports):",
                format_table(["DEVICE", "KIND", "KEY", "PUBLISHED"], rows))  # fmt: skip
    if drift.added_keys:
        rows = [[_s(k.device), k.kind, _s(k.key), _value(k.value)] for k in drift.added_keys]
        section("added keys (expected from NVML, not published):", format_table(["DEVICE", "KIND", "KEY", "NVML"], rows))
    if drift.stale_mig:
        body = []
        for s in drift.stale_mig:
            gpu = snap.gpu_by_uuid(s.gpu_uuid) if snap is not None else None
            body.append(f"{_s(s.gpu_uuid)}" + (f" (GPU{gpu.index})" if gpu else ""))
            body.append(f"  published: {', '.join(_s(x) for x in s.published) or '-'}")
            body.append(f"  NVML:      {', '.join(_s(x) for x in s.actual) or '-'}")
        section("stale MIG layout (published MIG devices are not the ones that exist):", "\n".join(body))
    counts = [
        _plural(len(drift.missing), "missing device"),
        _plural(len(drift.extra), "extra device"),
        _plural(len(drift.changed), "changed value"),
        _plural(len(drift.removed_keys), "removed key"),
        _plural(len(drift.added_keys), "added key"),
        _plural(len(drift.stale_mig), "stale MIG layout"),
    ]
    lines += ["", "summary: " + ", ".join(counts)]
    if unverified:
        lines.append(unverified.rstrip("\n"))
    for hint in drift_hints(drift, style=style, snap=snap):
        lines.append(f"hint: {hint}")
    return "\n".join(lines) + "\n"


def drift_hints(drift, *, style: str, snap=None) -> list[str]:
    hints = []
    lost = [g.index for g in snap.gpus if g.lost] if snap is not None else []
    if lost and drift.extra:
        hints.append(f"{gpu_list(lost)} fell off the bus: the driver keeps publishing what it found at start "
                     "until its kubelet plugin restarts")  # fmt: skip
    restart = drift.stale_mig or any(c.key.endswith(("/driverVersion", "/cudaDriverVersion", "/uuid")) for c in drift.changed)
    if restart or drift.missing or drift.extra:
        hints.append("the NVIDIA DRA driver inventories GPUs and MIG devices when its kubelet plugin starts: "
                     "restart the plugin pod on this node to re-publish")  # fmt: skip
    if drift.removed_keys or drift.added_keys:
        hints.append(f"keys differ from what driver release {style} publishes: another release or feature gates "
                     "(e.g. DRAListTypeAttributes, ConsumableShares)? try --driver-release")  # fmt: skip
    if snap is not None and snap.partial:
        hints.append("the snapshot is partial: values NVML could not read show up as drift")
    return hints
