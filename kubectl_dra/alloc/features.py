"""DRA feature gates that change what the allocator does (dra-api.md §1.3, §5).

The defaults are Kubernetes 1.36 with its default gates: the scheduler runs the *incubating*
allocator (AdminAccess, PrioritizedList, PartitionableDevices, DeviceTaints,
DeviceBindingAndStatus, ConsumableCapacity all on; ListTypeAttributes off).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Features:
    admin_access: bool = True
    prioritized_list: bool = True
    partitionable_devices: bool = True
    device_taints: bool = True
    binding_conditions: bool = True
    consumable_capacity: bool = True
    #: DRAListTypeAttributes (1.36 alpha): constraints compare value sets (§5.5)
    list_type_attributes: bool = False


DEFAULT_FEATURES = Features()
