"""What the devices publish: attribute names with their kinds, capacity names, and which drivers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Schema:
    #: fully-qualified attribute name -> driver -> kinds ("string", "int", "bool", "version", list kinds)
    attributes: Mapping[str, dict[str, set[str]]] = field(default_factory=dict)
    #: fully-qualified capacity name -> drivers that publish it
    capacities: Mapping[str, set[str]] = field(default_factory=dict)
    drivers: set[str] = field(default_factory=set)

    @classmethod
    def from_devices(cls, devices: Iterable) -> Schema:
        """The schema of ``devices``, worked out per name when a name is first asked about.

        A filter asks about the few names it uses: one pass over the devices per name is far
        cheaper than reading every name of every device (40,000 devices publish ~15 each);
        iterating the maps (suggestions for an unknown name, ``names()``) reads all of them once."""
        devices = list(devices)
        return cls(_ByName(lambda q: _attribute(devices, q), lambda: _all(devices)[0]),
                   _ByName(lambda q: _capacity(devices, q), lambda: _all(devices)[1]),
                   {d.driver for d in devices})

    @classmethod
    def full(cls, devices: Iterable) -> Schema:
        """The same schema as :meth:`from_devices` with every name worked out at once (plain dicts)."""
        devices = list(devices)
        attributes, capacities = _all(devices)
        return cls(attributes, capacities, {d.driver for d in devices})

    def names(self) -> set[str]:
        """Every name a filter may use: qualified names and their bare (driver-domain) forms."""
        out: set[str] = set()
        for qualified, drivers in [*((q, set(d)) for q, d in self.attributes.items()), *self.capacities.items()]:
            out.add(qualified)
            domain, _, ident = qualified.rpartition("/")
            if domain in drivers:
                out.add(ident)
        return out


class _ByName(Mapping):
    """A read-only map computed one key at a time (``one(key)``: the value, or None when absent),
    or all at once (``every()``) when iterated."""

    def __init__(self, one: Callable[[str], Any], every: Callable[[], dict]) -> None:
        self._one, self._every = one, every
        self._known: dict[str, Any] = {}
        self._all: dict | None = None

    def __getitem__(self, key: str) -> Any:
        if self._all is not None:
            return self._all[key]
        try:
            value = self._known[key]
        except KeyError:
            value = self._known[key] = self._one(key) if isinstance(key, str) else None
        if value is None:
            raise KeyError(key)
        return value

    def _whole(self) -> dict:
        if self._all is None:
            self._all = self._every()
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._whole())

    def __len__(self) -> int:
        return len(self._whole())

    def __repr__(self) -> str:
        return repr(self._whole())


_NO_KINDS: dict[str, str] = {}


def _attribute(devices: list, qualified: str) -> dict[str, set[str]] | None:
    from kubectl_dra.model.device import implied_kind

    # one value per (driver, recorded kind, value type) that publishes the name, in device order
    found = {(d.driver, (d.attribute_kinds or _NO_KINDS).get(qualified), d.attributes[qualified].__class__):
             d.attributes[qualified] for d in devices if qualified in d.attributes}
    out: dict[str, set[str]] = {}
    for (driver, recorded, _), value in found.items():
        kind = recorded if recorded is not None else implied_kind(value)  # as Device.attr_kind
        out.setdefault(driver, set()).add(kind or "unknown")
    return out or None


def _capacity(devices: list, qualified: str) -> set[str] | None:
    out = {device.driver for device in devices if qualified in device.capacity}
    return out or None


def device_shape(device) -> tuple:
    """What decides a device's part in a :class:`Schema` (its driver, attribute names and kinds,
    capacity names): devices of one shape add the same to it."""
    kinds = device.attribute_kinds
    return (
        device.driver,
        tuple(device.attributes),
        tuple(map(type, device.attributes.values())),
        tuple(kinds.items()) if kinds else None,
        tuple(device.capacity),
    )


def _all(devices: list) -> tuple[dict[str, dict[str, set[str]]], dict[str, set[str]]]:
    """Every attribute and capacity name of ``devices``: each distinct device shape looked at once
    (devices of one driver mostly publish the same names with the same kinds)."""
    attributes: dict[str, dict[str, set[str]]] = {}
    capacities: dict[str, set[str]] = {}
    seen: set[tuple] = set()
    for device in devices:
        shape = device_shape(device)
        if shape in seen:
            continue
        seen.add(shape)
        for qualified in device.attributes:
            kind = device.attr_kind(qualified) or "unknown"
            attributes.setdefault(qualified, {}).setdefault(device.driver, set()).add(kind)
        for qualified in device.capacity:
            capacities.setdefault(qualified, set()).add(device.driver)
    return attributes, capacities
