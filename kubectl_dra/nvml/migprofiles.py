"""MIG profile names (the go-nvlib formula the driver uses) and per-model profile tables.

``profile_name`` turns NVML's numbers into the string the NVIDIA DRA driver publishes as
``profile`` (``1g.10gb``, ``1c.3g.40gb``, ``1g.10gb+me``): the ``gb`` part is not NVML's own
name but ``round(ceil(memSizeMB * MiB / totalMem * 8) / 8 * ceil(totalMem / GiB))``
(drivers.md §1.5, go-nvlib ``getMigMemorySizeGB``).

The tables are what ``nvmlDeviceGetGpuInstanceProfileInfoV`` and
``nvmlDeviceGetGpuInstancePossiblePlacements`` return on each model; only the fake
backend uses them (the real one asks NVML). Sources: A100 80GB ``1g.10gb`` from
dra-driver-nvidia-gpu#719 (9728Mi, 14 SMs); A100 40GB ``1g.5gb`` (4864Mi, 14 SMs) from the
driver's attribute reference page; A100 40GB ``7g.40gb`` (40192Mi, 98 SMs, 7 CE, 5 DEC,
1 JPEG, 1 OFA) from KEP-4815 via drivers.md §1.7; H100 80GB and the A100 80GB ``2g``/``3g``
rows from ``tools/gen_demo.py`` (``nvidia-smi mig -lgip``). The remaining A100 rows follow
``nvidia-smi mig -lgip`` output as commonly published and are not checked against a
fixture here. Blackwell tables are not included: a fake B200/GB200 reports no profiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kubectl_dra.nvml.backend import GI_PROFILE_ATTRIBUTES

MIB = 1 << 20
GIB = 1 << 30


def memory_gb(memory_size_mb: int, total_bytes: int) -> int:
    """go-nvlib's rounded ``gb`` figure of a profile, relative to the GPU's total memory."""
    eighths = math.ceil(memory_size_mb * MIB / total_bytes * 8)
    return round(eighths / 8 * math.ceil(total_bytes / GIB))


def profile_name(g: int, memory_size_mb: int, total_bytes: int, profile_index: int = 0, c: int | None = None) -> str:
    """``<g>g.<gb>gb`` or ``<c>c.<g>g.<gb>gb``, plus ``+me`` / ``-me`` / ``+gfx`` / ``+me.all``."""
    gb = memory_gb(memory_size_mb, total_bytes)
    attr = GI_PROFILE_ATTRIBUTES.get(profile_index)
    suffix = f"{attr[1]}{attr[0]}" if attr else ""
    if c is None or c == g:
        return f"{g}g.{gb}gb{suffix}"
    return f"{c}c.{g}g.{gb}gb{suffix}"


@dataclass(frozen=True)
class ProfileSpec:
    """One GPU-instance profile of a model, in NVML's terms."""

    index: int  # NVML_GPU_INSTANCE_PROFILE_*
    id: int  # profile id (19 = 1g.*)
    slice_count: int  # compute slices (g)
    size: int  # memory slices per placement
    starts: tuple[int, ...]
    multiprocessors: int
    copy_engines: int
    decoders: int
    encoders: int
    jpeg: int
    ofa: int
    memory_mib: int
    name: str = ""  # NVML's name without "MIG ", when known (a replayed snapshot); else computed

    @property
    def instance_count(self) -> int:
        return len(self.starts)


def _p(index, id_, g, size, starts, sm, ce, dec, enc, jpeg, ofa, mib) -> ProfileSpec:  # noqa: ANN001
    return ProfileSpec(index, id_, g, size, tuple(starts), sm, ce, dec, enc, jpeg, ofa, mib)


_ALL7 = range(7)
_EVEN4 = (0, 2, 4, 6)

# index, id, g, size, starts, SMs, CE, DEC, ENC, JPEG, OFA, MiB
H100_80GB = (
    _p(0, 19, 1, 1, _ALL7, 16, 1, 1, 0, 1, 0, 9984),  # 1g.10gb
    _p(7, 20, 1, 1, _ALL7, 16, 1, 1, 0, 1, 1, 9984),  # 1g.10gb+me
    _p(9, 15, 1, 2, _EVEN4, 26, 1, 1, 0, 1, 0, 20096),  # 1g.20gb
    _p(1, 14, 2, 2, (0, 2, 4), 32, 2, 2, 0, 2, 0, 20096),  # 2g.20gb
    _p(2, 9, 3, 4, (0, 4), 60, 3, 3, 0, 3, 0, 40448),  # 3g.40gb
    _p(3, 5, 4, 4, (0,), 64, 4, 4, 0, 4, 0, 40448),  # 4g.40gb
    _p(4, 0, 7, 8, (0,), 132, 8, 7, 0, 7, 1, 81152),  # 7g.80gb
)
A100_80GB = (
    _p(0, 19, 1, 1, _ALL7, 14, 1, 0, 0, 0, 0, 9728),  # 1g.10gb
    _p(7, 20, 1, 1, _ALL7, 14, 1, 1, 0, 1, 1, 9728),  # 1g.10gb+me
    _p(9, 15, 1, 2, _EVEN4, 14, 1, 1, 0, 0, 0, 19968),  # 1g.20gb
    _p(1, 14, 2, 2, (0, 2, 4), 28, 2, 1, 0, 0, 0, 19968),  # 2g.20gb
    _p(2, 9, 3, 4, (0, 4), 42, 3, 2, 0, 0, 0, 40192),  # 3g.40gb
    _p(3, 5, 4, 4, (0,), 56, 4, 2, 0, 0, 0, 40192),  # 4g.40gb
    _p(4, 0, 7, 8, (0,), 98, 7, 5, 0, 1, 1, 80896),  # 7g.80gb
)
A100_40GB = (
    _p(0, 19, 1, 1, _ALL7, 14, 1, 0, 0, 0, 0, 4864),  # 1g.5gb
    _p(7, 20, 1, 1, _ALL7, 14, 1, 1, 0, 1, 1, 4864),  # 1g.5gb+me
    _p(9, 15, 1, 2, _EVEN4, 14, 1, 1, 0, 0, 0, 9856),  # 1g.10gb
    _p(1, 14, 2, 2, (0, 2, 4), 28, 2, 1, 0, 0, 0, 9856),  # 2g.10gb
    _p(2, 9, 3, 4, (0, 4), 42, 3, 2, 0, 0, 0, 19968),  # 3g.20gb
    _p(3, 5, 4, 4, (0,), 56, 4, 2, 0, 0, 0, 19968),  # 4g.20gb
    _p(4, 0, 7, 8, (0,), 98, 7, 5, 0, 1, 1, 40192),  # 7g.40gb
)


def table_for(product_name: str, total_bytes: int) -> tuple[ProfileSpec, ...]:
    """The profile table of a GPU model, by NVML name and memory; empty when unknown."""
    name = product_name.upper()
    if "H100" in name or "H800" in name:
        return H100_80GB if total_bytes > 60 * GIB else ()
    if "A100" in name or "A800" in name:
        return A100_80GB if total_bytes > 60 * GIB else A100_40GB
    return ()


def find_profile(table: tuple[ProfileSpec, ...], name: str, total_bytes: int) -> ProfileSpec:
    """The table row whose driver-style name is ``name`` (``1g.10gb``); KeyError if none."""
    for spec in table:
        if profile_name(spec.slice_count, spec.memory_mib, total_bytes, spec.index) == name:
            return spec
    raise KeyError(f"no MIG profile {name!r} on this GPU model")
