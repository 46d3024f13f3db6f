"""The device query of `kubectl dra list`: which device views the filters select.

A ``DeviceQuery`` is list's filters as data (--node, --driver, --state, filter terms, --cel,
--class). ``DeviceQuery.apply`` selects once (a plain `list`); calling the query as a function
selects incrementally for `list -w`: what depends on the device alone is decided once per
decoded Device (a watch re-decodes only changed slices), --state on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Optional

from kubectl_dra.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from kubectl_dra.model.cluster import Cluster, DeviceView
    from kubectl_dra.model.device import Device

STATE_CHOICES = ("all", "free", "allocated", "reserved", "tainted", "consumed-by-partition", "unavailable")


def _console_warn(message: str) -> None:
    from kubectl_dra.console import warn

    warn(message)


def state_matches(device_state: str, wanted: str) -> bool:
    """--state: ``allocated`` includes reserved, ``unavailable`` is everything but free."""
    if wanted == "all":
        return True
    if wanted == "allocated":
        return device_state in ("allocated", "reserved")
    if wanted == "unavailable":
        return device_state != "free"
    return device_state == wanted


def check_selectors(filter_text: str, cel_expression: str | None) -> None:
    """Syntax errors in a filter or --cel fail before the cluster is read (names are checked later)."""
    if filter_text.strip():
        from kubectl_dra.filter import parse

        parse(filter_text)  # FilterSyntaxError: exit 2
    if cel_expression is not None:
        from kubectl_dra import cel

        cel.compile(cel_expression, estimate=True)  # CelCompileError (also: cost estimate over the limit): exit 2


def compile_filter_for(filter_text: str, all_devices: Sequence["Device"]) -> Any:
    """The filter terms compiled against what ``all_devices`` (every device of the cluster) publish
    (a ``filter.Filter``); None without terms. FilterError (exit 2) for a name or type error."""
    if not filter_text.strip():
        return None
    from kubectl_dra.filter import Schema, compile as compile_filter

    # no devices at all: the literals decide the kinds (a name cannot be "published by no device"
    # before any driver publishes; `list -w` then waits for the devices instead of failing)
    return compile_filter(filter_text, Schema.from_devices(all_devices) if all_devices else None)


def select(
    views: Sequence["DeviceView"],
    all_devices: Sequence["Device"],
    cluster: "Cluster",
    filter_text: str,
    cel_expression: str | None,
    class_name: str | None,
    warn: Callable[[str], None] = _console_warn,
    flt: Any = None,
) -> list["DeviceView"]:
    """Apply the filter terms, --class and --cel (in that order) to the device views.

    ``all_devices``: every device of the cluster, whose attributes decide the filter's kinds.
    The class's selectors and then --cel are one chain of selectors (``kubectl_dra.admission``);
    a CEL runtime error drops the device and is reported once per selector through ``warn``.
    ``flt``: the filter terms already compiled (:func:`compile_filter_for`), else compiled here.
    """
    views = list(views)
    if flt is None:
        flt = compile_filter_for(filter_text, all_devices)
    if flt is not None:
        views = list(compress(views, map(flt.predicate(), map(_device_of, views))))
    labels: list[str] = []
    selectors: list[str] = []
    if class_name:
        cls = next((c for c in cluster.classes if c.name == class_name), None)
        if cls is None:
            names = ", ".join(sorted(c.name for c in cluster.classes)) or "none"
            raise NotFoundError(f'deviceclass "{class_name}" not found', hint=f"DeviceClasses: {names}")
        labels += [f"class {class_name}: selector #{i}" for i in range(len(cls.selectors))]
        selectors += cls.selectors
    if cel_expression is not None:
        labels.append("--cel")
        selectors.append(cel_expression)
    if not selectors:
        return views
    from kubectl_dra.admission import admit

    admission = admit(selectors, views, device=_device_of)
    if admission.compile_error is not None:
        raise admission.compile_error  # exit 2
    for index, label in enumerate(labels):
        failed = admission.errors_at(index)
        if failed:
            first = failed[0]
            warn(
                f"{label}: CEL runtime error on {len(failed)} device{'s' if len(failed) != 1 else ''} "
                f"(first: {first.item.device.id}: {first.error}); the scheduler would stop on these, they are not listed"
            )
            warn("guard optional attributes with has() or .?name.orValue(...)")
    return admission.admitted


#: a view's device (C speed: called once per device)
_device_of = attrgetter("device")


@dataclass(eq=False)
class DeviceQuery:
    """list's filters as data; ``apply`` selects once, calling the query selects incrementally."""

    nodes: set[str] = field(default_factory=set)
    drivers: set[str] = field(default_factory=set)
    state: str = "all"
    filter_text: str = ""
    cel_expression: Optional[str] = None
    device_class: Optional[str] = None
    #: device key -> (the decoded Device, whether the device-only filters keep it)
    _static: dict[tuple[str, str, str], tuple[Any, bool]] = field(default_factory=dict, repr=False)
    #: for :meth:`decide` with a filter: see :meth:`_shapes` (None: to build from the cluster)
    _shape_counts: Optional[dict] = field(default=None, repr=False)
    _shape_of: dict = field(default_factory=dict, repr=False)
    #: the filter as :meth:`apply` last compiled it (a ``filter.Filter``; None: no filter terms)
    compiled_filter: Any = field(default=None, repr=False)

    def validate(self) -> None:
        """What fails before the cluster is read: --state's value, filter and --cel syntax."""
        self.state = self.state.lower()
        if self.state not in STATE_CHOICES:
            raise UsageError(f"--state must be one of {', '.join(STATE_CHOICES)}, not {self.state!r}")
        check_selectors(self.filter_text, self.cel_expression)

    @property
    def narrowed(self) -> bool:
        """Whether --driver or --state narrow the selection (beyond --node)."""
        return bool(self.drivers) or self.state != "all"

    def _device_filters(self, views: list["DeviceView"]) -> list["DeviceView"]:
        from kubectl_dra.render.devices import driver_matches

        if self.nodes:
            views = [v for v in views if v.device.node_label in self.nodes]
        if self.drivers:
            views = [v for v in views if driver_matches(v.device.driver, self.drivers)]
        return views

    def apply(self, cluster: "Cluster", views: Sequence["DeviceView"] | None = None) -> list["DeviceView"]:
        """The selected views of ``cluster`` (or of ``views``, the cluster's device views), in list order."""
        every = cluster.device_views()
        selected = self._device_filters(list(every if views is None else views))
        if self.state != "all":
            selected = [v for v in selected if state_matches(v.state, self.state)]
        devices = [v.device for v in every]
        self.compiled_filter = compile_filter_for(self.filter_text, devices)
        return select(selected, devices, cluster, self.filter_text, self.cel_expression, self.device_class,
                      flt=self.compiled_filter)

    def __call__(self, cluster: "Cluster") -> list["DeviceView"]:
        views = cluster.device_views()
        self._shape_counts = None  # a full selection: :meth:`decide` counts the shapes anew
        static = self._static
        unknown = [v for v in views if static.get(v.device.key, (None,))[0] is not v.device]
        if unknown:
            kept = self._device_filters(unknown)
            kept = select(kept, [v.device for v in views], cluster, self.filter_text, self.cel_expression, self.device_class)
            chosen = {id(v) for v in kept}
            current = {v.device.key for v in views}
            self._static = static = {k: entry for k, entry in static.items() if k in current}
            for v in unknown:
                static[v.device.key] = (v.device, id(v) in chosen)
        return [v for v in views if static[v.device.key][1] and state_matches(v.state, self.state)]

    def decide(self, cluster: "Cluster", views: Sequence["DeviceView"], gone: Sequence[tuple[str, str, str]] = ()) -> None:
        """What :meth:`__call__` would decide for the devices of ``views`` it has not seen, and forget
        the devices ``gone`` from ``cluster``: a patched model (`list -w`, a slice changed) is then
        selected at the cost of the change (the filter's kinds still come from every device)."""
        static = self._static
        for key in gone:
            static.pop(key, None)
        shapes = self._shapes(cluster, views, gone) if self.filter_text.strip() else None
        unknown = [v for v in views if static.get(v.device.key, (None,))[0] is not v.device]
        if not unknown:
            return
        kept = self._device_filters(unknown)
        # the filter's kinds: one device of each shape the cluster's devices have is as good as all of them
        every = [device for _, device in shapes.values()] if shapes is not None else ()
        kept = select(kept, every, cluster, self.filter_text, self.cel_expression, self.device_class)
        chosen = {id(v) for v in kept}
        for v in unknown:
            static[v.device.key] = (v.device, id(v) in chosen)

    def _shapes(self, cluster: "Cluster", views: Sequence["DeviceView"], gone: Sequence[tuple[str, str, str]]) -> dict:
        """Shape (what :meth:`Schema.from_devices` reads of a device) -> [how many of the cluster's
        devices have it, one of them], kept current by :meth:`decide` (built once after a full selection)."""
        from kubectl_dra.filter.schema import device_shape

        if self._shape_counts is None:
            counts: dict[tuple, list] = {}
            of: dict[tuple[str, str, str], tuple[Any, tuple]] = {}
            for view in cluster.device_views():
                shape = device_shape(view.device)
                entry = counts.setdefault(shape, [0, view.device])
                entry[0] += 1
                of[view.device.key] = (view.device, shape)
            self._shape_counts, self._shape_of = counts, of
            return counts
        counts, of = self._shape_counts, self._shape_of

        def drop(key: tuple[str, str, str]) -> None:
            before = of.pop(key, None)
            if before is not None:
                entry = counts[before[1]]
                entry[0] -= 1
                if entry[0] == 0:
                    del counts[before[1]]

        for key in gone:
            drop(key)
        for view in views:
            key = view.device.key
            if of.get(key, (None,))[0] is view.device:
                continue
            drop(key)
            shape = device_shape(view.device)
            counts.setdefault(shape, [0, view.device])[0] += 1
            of[key] = (view.device, shape)
        return counts

    def selects(self, view: "DeviceView") -> bool | None:
        """Whether :meth:`__call__` keeps ``view`` of the cluster it last ran on, whose device is
        unchanged since (only its state may have): None when that is not known."""
        entry = self._static.get(view.device.key)
        if entry is None or entry[0] is not view.device:
            return None
        return entry[1] and state_matches(view.state, self.state)
