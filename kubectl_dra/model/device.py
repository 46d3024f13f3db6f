"""Devices as published in ResourceSlices, with fully-qualified attribute and capacity names.

Attributes and capacities are kept in the API's v1 wire shape (``{"string": "x"}``,
``{"value": "80Gi"}``) keyed by their fully-qualified name: a bare name belongs to the
device's driver domain, exactly as Kubernetes resolves it (``memory`` on a
``gpu.nvidia.com`` device is ``gpu.nvidia.com/memory``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

STANDARD_DOMAIN = "resource.kubernetes.io"

#: The attribute value kinds of ``DeviceAttribute``, scalar first, then the list kinds (1.36+).
ATTRIBUTE_KINDS = ("string", "int", "bool", "version", "strings", "ints", "bools", "versions")


def qualify(name: str, driver: str) -> str:
    """Return the fully-qualified form of an attribute/capacity name for a device of ``driver``."""
    return name if "/" in name else f"{driver}/{name}"


def attribute_kind(raw: Any) -> str | None:
    """The kind of a raw attribute (``string``, ``int``, …, ``ints``), or None if it has none we know."""
    if isinstance(raw, dict):
        for kind in ATTRIBUTE_KINDS:
            if kind in raw:
                return kind
        for kind in raw:  # a future attribute kind: report what the server sent
            return kind
    return None


def attribute_value(raw: Any) -> Any:
    """The plain value of a raw attribute: str, int, bool, a version string, or a list of those."""
    if isinstance(raw, dict):
        for kind in ATTRIBUTE_KINDS:
            if kind in raw:
                return raw[kind]
        for value in raw.values():  # unknown future kind
            return value
        return None
    return raw


def capacity_value(raw: Any) -> str | None:
    """The quantity string of a raw capacity entry (``{"value": "80Gi"}``)."""
    if isinstance(raw, dict):
        value = raw.get("value")
    else:
        value = raw
    return None if value is None else str(value)


@dataclass(slots=True)
class Device:
    driver: str
    pool: str
    name: str
    slice_name: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    capacity: dict[str, Any] = field(default_factory=dict)
    # sequences default to a shared empty tuple: 40,000 devices need not own 40,000 empty lists
    consumes_counters: Sequence[dict] = ()
    taints: Sequence[dict] = ()
    # node selection: from the slice, or the device's own when the slice uses perDeviceNodeSelection
    node_name: str | None = None
    node_selector: dict | None = None
    all_nodes: bool = False
    allow_multiple_allocations: bool = False
    binds_to_node: bool = False
    binding_conditions: Sequence[str] = ()
    binding_failure_conditions: Sequence[str] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.driver, self.pool, self.name)

    @property
    def id(self) -> str:
        return f"{self.driver}/{self.pool}/{self.name}"

    def attr(self, name: str, default: Any = None) -> Any:
        """Plain value of an attribute by bare (driver domain) or qualified name."""
        raw = self.attributes.get(name if "/" in name else f"{self.driver}/{name}")
        return default if raw is None else attribute_value(raw)

    def cap(self, name: str) -> str | None:
        """Quantity string of a capacity by bare (driver domain) or qualified name."""
        raw = self.capacity.get(name if "/" in name else f"{self.driver}/{name}")
        return None if raw is None else capacity_value(raw)

    def blocking_taints(self) -> list[dict]:
        """Taints that prevent allocation unless tolerated (NoSchedule / NoExecute)."""
        return [t for t in self.taints if isinstance(t, dict) and t.get("effect") in ("NoSchedule", "NoExecute")]

    @property
    def node_label(self) -> str:
        """What the NODE column shows."""
        if self.node_name:
            return self.node_name
        if self.all_nodes:
            return "<all nodes>"
        if self.node_selector is not None:
            return "<node selector>"
        return "<none>"
