"""Find devices by what an alert or a tool gives you: a UUID or a PCI bus ID.

An XID line in the kernel log names the GPU by bus (``NVRM: Xid (PCI:0000:1b:00): 79``);
nvidia-smi and DCGM name it by UUID (``GPU-96b7…``, ``MIG-…``) or by bus id in NVML's form
(``00000000:1B:00.0``).  ``identify(views, ref)`` returns the devices ``ref`` names that way:

* a UUID: any ``<domain>/uuid`` attribute equal to ``ref`` (case-insensitive); a GPU's MIG
  partitions do not publish the parent's UUID as their own, so this names one device;
* a PCI bus ID, in any of the forms above (``PCI:`` prefix, 4- or 8-digit domain, upper or lower
  case, with or without ``.function``): every device whose ``<domain>/pciBusID`` attribute is that
  function.  MIG partitions publish their GPU's bus id: when the whole GPU is among the matches it
  alone is returned (it is what the alert is about); otherwise all of them.  Bus ids repeat from
  node to node: ``NODE/BUSID`` (``dgx-h100-01/0000:1a:00.0``) looks on that node only.

Pure: reads DeviceViews (anything with ``.device``), returns a list ([] when nothing matches).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from kubectl_dra.nvml.snapshot import normalize_bus_id

_XID_BUS = re.compile(r"^(?:pci:)?((?:[0-9a-f]{1,8}:)?[0-9a-f]{1,2}:[0-9a-f]{1,2})(\.[0-7])?$", re.I)


def bus_id(ref: str) -> str | None:
    """NVML's canonical form of a bus id written any common way, or None if ``ref`` is not one."""
    m = _XID_BUS.match(ref.strip())
    if m is None:
        return None
    try:
        return normalize_bus_id(m.group(1) + (m.group(2) or ".0"))
    except ValueError:
        return None


def identify(views: Sequence[Any], ref: str) -> list[Any]:
    """Devices named by UUID or PCI bus ID (see the module doc); [] if ``ref`` names none that way."""
    node, slash, rest = ref.strip().partition("/")
    if slash and ":" in rest:
        views = [v for v in views if v.device.node_label == node]
        ref = rest
    wanted = ref.strip().lower()
    by_uuid = [v for v in views if any(k.endswith("/uuid") and isinstance(val, str) and val.lower() == wanted
                                       for k, val in v.device.attributes.items())]
    if by_uuid:
        return by_uuid
    key = bus_id(ref)
    if key is None:
        return []
    matches = []
    for v in views:
        for k, val in v.device.attributes.items():
            if k.endswith("/pciBusID") and isinstance(val, str):
                try:
                    if normalize_bus_id(val) == key:
                        matches.append(v)
                        break
                except ValueError:
                    continue
    whole = [v for v in matches if not _partition(v.device)]
    return whole if len(whole) == 1 else matches


def _partition(device: Any) -> bool:
    return any(k.endswith(("/parentUUID", "/partition")) for k in device.attributes) or \
        str(device.attributes.get(f"{device.driver}/type", "")) in ("mig", "amdgpu-partition")
