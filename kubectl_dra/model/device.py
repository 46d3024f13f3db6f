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


def split_attribute(raw: Any) -> tuple[str, Any]:
    """(kind, plain value) of a raw API attribute such as ``{"version": "9.0.0"}``.

    A future kind is kept under its own name; something that is not an attribute at all is
    reported as kind ``unknown`` with the raw value.
    """
    if type(raw) is dict:
        for kind, value in raw.items():
            return kind, value
    return "unknown", raw


def implied_kind(value: Any) -> str:
    """The kind a plain value has when none is recorded: bool, int or string."""
    return kind_of_type(type(value))


def kind_of_type(value_type: type) -> str:
    """:func:`implied_kind` of any value of this type (counting by type needs no value)."""
    return "bool" if issubclass(value_type, bool) else "int" if issubclass(value_type, int) else "string"


@dataclass(slots=True)
class Device:
    driver: str
    pool: str
    name: str
    slice_name: str = ""
    #: fully-qualified name -> plain value (str, int, bool, version string, or a list of those)
    attributes: dict[str, Any] = field(default_factory=dict)
    #: kinds that the plain value does not tell: ``version``, list kinds, future kinds
    attribute_kinds: dict[str, str] | None = None
    #: fully-qualified name -> quantity string
    capacity: dict[str, str] = field(default_factory=dict)
    #: fully-qualified capacity name -> requestPolicy (consumable capacity), when published
    request_policies: dict[str, dict] | None = None
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
    #: capacity names the slice published with a domain ("example.com/memory"), as stored in ``capacity``
    #: (the allocator compares request names with the published names exactly)
    capacity_published_qualified: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.driver, self.pool, self.name)

    @property
    def id(self) -> str:
        return f"{self.driver}/{self.pool}/{self.name}"

    def attr(self, name: str, default: Any = None) -> Any:
        """Plain value of an attribute by bare (driver domain) or qualified name."""
        value = self.attributes.get(name if "/" in name else f"{self.driver}/{name}")
        return default if value is None else value

    def attr_kind(self, qualified: str) -> str | None:
        """``string``, ``int``, ``bool``, ``version``, ``strings`` … of an attribute (qualified name)."""
        if qualified not in self.attributes:
            return None
        if self.attribute_kinds and qualified in self.attribute_kinds:
            return self.attribute_kinds[qualified]
        return implied_kind(self.attributes[qualified])

    def raw_attribute(self, qualified: str) -> dict | None:
        """The attribute in the API's wire shape, e.g. ``{"version": "9.0.0"}``."""
        kind = self.attr_kind(qualified)
        return None if kind is None else {kind: self.attributes[qualified]}

    def cap(self, name: str) -> str | None:
        """Quantity string of a capacity by bare (driver domain) or qualified name."""
        return self.capacity.get(name if "/" in name else f"{self.driver}/{name}")

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
