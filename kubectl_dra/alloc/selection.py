"""Which devices a (sub)request selects: DeviceClass selectors, then request selectors (§5.4 step 2).

Selectors are ANDed and evaluated in order — all class selectors, then the request's — stopping
at the first that is false, as upstream ``selectorsMatch`` does; so a later selector never sees
(and never fails on) a device an earlier one rejected. Results are computed once per expression
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
from kubectl_dra.alloc.pools import Entry

#: outcome of a device that passes every selector
MATCH = -1


class ExpressionCache:
    """Expression -> per-device results, filled lazily in batches."""

    def __init__(self) -> None:
        self._results: dict[str, dict[int, cel.Result]] = {}

    def evaluate(self, expression: str, entries: Sequence[Entry]) -> dict[int, cel.Result]:
        done = self._results.setdefault(expression, {})
        todo = [e for e in entries if e.index not in done]
        if todo:
            program = cel.compile(expression)
            for entry, result in zip(todo, program.evaluate_many([e.device for e in todo])):
                done[entry.index] = result
        return done


@dataclass(eq=False)
class Selection:
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
        """Evaluate the devices not seen yet, stage by stage."""
        alive = [e for e in entries if e.index not in self.outcome]
        outcome, errors = self.outcome, self.errors
        for i, expression in enumerate(self.selectors):
            if not alive:
                return
            results = cache.evaluate(expression, alive)
            survivors = []
            for entry in alive:
                result = results[entry.index]
                if result.matched:
                    survivors.append(entry)
                    continue
                outcome[entry.index] = i
                if result.error is not None:
                    errors[entry.index] = (i, result.error)
            alive = survivors
        for entry in alive:
            outcome[entry.index] = MATCH

    def matches(self, entry: Entry) -> bool:
        return self.outcome.get(entry.index) == MATCH
