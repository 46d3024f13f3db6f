"""What the devices publish: attribute names with their kinds, capacity names, and which drivers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Schema:
    #: fully-qualified attribute name -> driver -> kinds ("string", "int", "bool", "version", list kinds)
    attributes: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    #: fully-qualified capacity name -> drivers that publish it
    capacities: dict[str, set[str]] = field(default_factory=dict)
    drivers: set[str] = field(default_factory=set)

    @classmethod
    def from_devices(cls, devices: Iterable) -> Schema:
        schema = cls()
        seen: set[tuple] = set()
        for device in devices:
            # devices of one driver mostly publish the same names with the same kinds: look at
            # each distinct shape once (40,000 devices have a handful)
            kinds = device.attribute_kinds
            shape = (
                device.driver,
                tuple(device.attributes),
                tuple(map(type, device.attributes.values())),
                tuple(kinds.items()) if kinds else None,
                tuple(device.capacity),
            )
            if shape in seen:
                continue
            seen.add(shape)
            schema.drivers.add(device.driver)
            for qualified in device.attributes:
                kind = device.attr_kind(qualified) or "unknown"
                schema.attributes.setdefault(qualified, {}).setdefault(device.driver, set()).add(kind)
            for qualified in device.capacity:
                schema.capacities.setdefault(qualified, set()).add(device.driver)
        return schema

    def names(self) -> set[str]:
        """Every name a filter may use: qualified names and their bare (driver-domain) forms."""
        out: set[str] = set()
        for qualified, drivers in [*((q, set(d)) for q, d in self.attributes.items()), *self.capacities.items()]:
            out.add(qualified)
            domain, _, ident = qualified.rpartition("/")
            if domain in drivers:
                out.add(ident)
        return out
