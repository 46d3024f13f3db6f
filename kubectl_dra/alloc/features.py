"""DRA feature gates that change what the allocator does (dra-api.md §1.3, §5).

The defaults are Kubernetes 1.36 with its default gates: the scheduler runs the *incubating*
allocator (AdminAccess, PrioritizedList, PartitionableDevices, DeviceTaints,
DeviceBindingAndStatus, ConsumableCapacity all on; ListTypeAttributes and DeviceTaintRules off).

``for_release("1.35")`` gives another release's defaults, taken from the versioned gate
definitions in k8s.io/kubernetes v1.36.3 ``pkg/features/kube_features.go`` (each gate lists its
default per release); ``with_overrides(features, "DRADeviceTaintRules=true,...")`` applies gate
names as Kubernetes spells them. Only the gates change with the release: the allocator logic the
simulator follows is always the v1.36.3 one (k8s.io/dynamic-resource-allocation v0.36.3).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kubectl_dra.errors import UsageError


@dataclass(frozen=True, slots=True)
class Features:
    admin_access: bool = True
    prioritized_list: bool = True
    partitionable_devices: bool = True
    device_taints: bool = True
    binding_conditions: bool = True
    consumable_capacity: bool = True
    #: DRAListTypeAttributes (1.36 alpha): CEL may read list-valued attributes (§5.5)
    list_type_attributes: bool = False
    #: DRADeviceTaintRules (1.36 beta, off): the scheduler applies DeviceTaintRules' taints
    device_taint_rules: bool = False


DEFAULT_FEATURES = Features()

#: Features field -> the Kubernetes feature gate it stands for
GATE_OF = {
    "admin_access": "DRAAdminAccess",
    "prioritized_list": "DRAPrioritizedList",
    "partitionable_devices": "DRAPartitionableDevices",
    "device_taints": "DRADeviceTaints",
    "binding_conditions": "DRADeviceBindingConditions",
    "consumable_capacity": "DRAConsumableCapacity",
    "list_type_attributes": "DRAListTypeAttributes",
    "device_taint_rules": "DRADeviceTaintRules",
}
FIELD_OF = {gate: name for name, gate in GATE_OF.items()}

#: the releases whose default gates are known; the newest is the default
RELEASES = ("1.34", "1.35", "1.36")
LATEST = RELEASES[-1]

#: default gates per release (kube_features.go, v1.36.3): 1.34 made AdminAccess and PrioritizedList
#: beta (on); 1.35 added DeviceTaintRules (alpha, off); 1.36 made PartitionableDevices, DeviceTaints,
#: DeviceBindingConditions and ConsumableCapacity beta (on) and added ListTypeAttributes (alpha, off)
_RELEASE_DEFAULTS = {
    "1.34": Features(partitionable_devices=False, device_taints=False, binding_conditions=False, consumable_capacity=False),
    "1.35": Features(partitionable_devices=False, device_taints=False, binding_conditions=False, consumable_capacity=False),
    "1.36": DEFAULT_FEATURES,
}


def release_of(major: object, minor: object, git_version: str = "") -> str | None:
    """"1.35" from a server's /version (``minor`` may read "35+"); None when it cannot be read."""
    try:
        mj = int(str(major).strip())
        mn = int("".join(ch for ch in str(minor) if ch.isdigit()))
    except ValueError:
        text = git_version.lstrip("v").split("-")[0].split(".")
        try:
            mj, mn = int(text[0]), int(text[1])
        except (ValueError, IndexError):
            return None
    return f"{mj}.{mn}"


def for_release(release: str | None) -> tuple[Features, str]:
    """(default features, the release they are from) for a cluster release such as "1.35"; releases
    before 1.34 get the 1.34 defaults, later ones (and unknown) the 1.36 defaults."""
    if release is None or release not in _RELEASE_DEFAULTS:
        try:
            mj, mn = (int(x) for x in (release or "").split("."))
        except ValueError:
            return _RELEASE_DEFAULTS[LATEST], LATEST
        first = RELEASES[0]
        if (mj, mn) < tuple(int(x) for x in first.split(".")):
            return _RELEASE_DEFAULTS[first], first
        return _RELEASE_DEFAULTS[LATEST], LATEST
    return _RELEASE_DEFAULTS[release], release


def with_overrides(features: Features, text: str) -> Features:
    """``NAME=true|false,...`` (Kubernetes gate names) applied to ``features``; a UsageError otherwise."""
    changes: dict[str, bool] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip().lower()
        if name not in FIELD_OF:
            raise UsageError(f"--features: unknown feature gate {name!r}",
                             hint="known: " + ", ".join(sorted(FIELD_OF)))
        if not sep or value not in ("true", "false"):
            raise UsageError(f"--features: {item!r}: expected {name}=true or {name}=false",
                             hint="e.g. --features DRADeviceTaintRules=true,DRAConsumableCapacity=false")
        changes[FIELD_OF[name]] = value == "true"
    return dataclasses.replace(features, **changes)


def gates(features: Features) -> dict[str, bool]:
    """Kubernetes gate name -> on/off."""
    return {GATE_OF[f.name]: getattr(features, f.name) for f in dataclasses.fields(features)}
