"""Which devices a (sub)request selects: DeviceClass selectors, then request selectors (§5.4 step 2).

Selectors are ANDed and evaluated in order — all class selectors, then the request's — by the
one class-admission rule (``kubectl_dra.admission``): stopping at the first that is false, as
upstream ``selectorsMatch`` does. Results are computed once per expression
over all devices the simulation considers (``Program.evaluate_many``: compile once, evaluate
many) and shared between requests that use the same class or expression.

A CEL runtime error (dra-api.md §4.4, e.g. ``no such key: index``) leaves the device unselected
and is kept with its expression, so the caller can report it; kube-scheduler instead aborts the
scheduling attempt when its search reaches such a device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kubectl_dra import cel
from kubectl_dra.admission import admit
from kubectl_dra.alloc.pools import Entry
from kubectl_dra.model.device import Device

#: outcome of a device that passes every selector
MATCH = -1


_SCALAR_KINDS = frozenset(("string", "int", "bool", "version"))
_LIST_KINDS = frozenset(("strings", "ints", "bools", "versions"))
_ALL_KINDS = _SCALAR_KINDS | _LIST_KINDS


def unsupported_attribute(device: Device, list_type_attributes: bool) -> str | None:
    """The runtime error every selector gets on this device, bug-compatible with upstream's
    ``CompilationResult.DeviceMatches``: it converts *all* attributes before evaluating, and
    ``getAttributeValue`` rejects a list value while DRAListTypeAttributes is off (and a kind it
    does not know), so any selector on such a device fails with ``attribute NAME: unsupported
    attribute value`` (NAME as published: bare in the driver's domain)."""
    kinds = device.attribute_kinds
    if not kinds:
        return None
    allowed = _ALL_KINDS if list_type_attributes else _SCALAR_KINDS
    if allowed.issuperset(kinds.values()):  # a plain value's implied kind (bool, int, string) is always allowed
        return None
    for qualified in device.attributes:
        kind = device.attr_kind(qualified)
        if kind is not None and kind not in allowed:
            domain, _, name = qualified.rpartition("/")
            return f"attribute {name if domain == device.driver else qualified}: unsupported attribute value"
    return None


class ExpressionCache:
    """Expression -> per-device results, filled lazily in batches.

    ``list_type_attributes``: DRAListTypeAttributes; off, devices with list-valued attributes fail
    every selector (``unsupported_attribute``)."""

    def __init__(self, list_type_attributes: bool = False) -> None:
        self._results: dict[str, dict[int, cel.Result]] = {}
        self._list_type_attributes = list_type_attributes
        self._unsupported: dict[int, str | None] = {}

    def _unsupported_error(self, entry: Entry) -> str | None:
        got = self._unsupported.get(entry.index, False)
        if got is False:
            got = self._unsupported[entry.index] = unsupported_attribute(entry.device, self._list_type_attributes)
        return got

    def evaluate(self, expression: str, entries: Sequence[Entry]) -> dict[int, cel.Result]:
        done = self._results.setdefault(expression, {})
        todo = []
        allowed = _ALL_KINDS if self._list_type_attributes else _SCALAR_KINDS
        for e in entries:
            if e.index in done:
                continue
            kinds = e.device.attribute_kinds
            if not kinds or allowed.issuperset(kinds.values()):
                todo.append(e)  # unsupported_attribute: None
                continue
            error = self._unsupported_error(e)
            if error is not None:
                done[e.index] = cel.Result(None, error)
            else:
                todo.append(e)
        if todo:
            program = cel.compile(expression)
            for entry, result in zip(todo, program.evaluate_many([e.device for e in todo])):
                done[entry.index] = result
        return done


@dataclass(eq=False)
class RequestSelection:
    """Selector outcomes of one (sub)request: per device, MATCH or the index of the first false selector."""

    class_name: str
    class_selectors: list[str]
    request_selectors: list[str]
    outcome: dict[int, int] = field(default_factory=dict)
    #: entry index -> (selector index, error text)
    errors: dict[int, tuple[int, str]] = field(default_factory=dict)

    @property
    def selectors(self) -> list[str]:
        return [*self.class_selectors, *self.request_selectors]

    def label(self, i: int) -> str:
        nc = len(self.class_selectors)
        if i < nc:
            return f"class {self.class_name} selector #{i}"
        return f"selector #{i - nc}"

    def is_class_selector(self, i: int) -> bool:
        return i < len(self.class_selectors)

    def ensure(self, entries: Sequence[Entry], cache: ExpressionCache) -> None:
        """Evaluate the devices not seen yet (class admission: ``kubectl_dra.admission``)."""
        alive = [e for e in entries if e.index not in self.outcome]
        if not alive:
            return

        def evaluate(_index: int, expression: str, todo: list[Entry]) -> list[cel.Result]:
            results = cache.evaluate(expression, todo)
            return [results[e.index] for e in todo]

        admission = admit(self.selectors, alive, evaluate=evaluate)
        outcome, errors = self.outcome, self.errors
        for rejection in admission.rejected:
            outcome[rejection.item.index] = rejection.selector
            if rejection.error is not None:
                errors[rejection.item.index] = (rejection.selector, rejection.error)
        for entry in admission.admitted:
            outcome[entry.index] = MATCH

    def matches(self, entry: Entry) -> bool:
        return self.outcome.get(entry.index) == MATCH
