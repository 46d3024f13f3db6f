"""Class admission: which devices a list of CEL selectors admits — the one rule behind `claim`'s
class choice, `list --class`, `classes` and the allocation simulator.

Selectors are ANDed and evaluated in order, stopping at the first that is false for a device, as
upstream ``selectorsMatch`` does; so a later selector never sees (and never fails on) a device an
earlier one rejected. A CEL runtime error rejects the device like ``false`` and is kept with the
device and the selector's index, so the caller can report it (kube-scheduler instead aborts the
scheduling attempt when its search reaches such a device). Each selector is evaluated once over
all devices still alive (``Program.evaluate_many``: compile once, evaluate many).

How one expression evaluates is the caller's choice (``evaluate``): by default each selector is
compiled up front — a compile error admits nothing and is returned — and evaluated on the device;
the simulator passes its per-feature evaluator with a shared result cache.

Layering: this module needs only ``cel`` and the model, so ``render`` and ``alloc`` both use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Generic, TypeVar

from kubectl_dra import cel
from kubectl_dra.model.device import Device

T = TypeVar("T")

#: evaluates one selector over items, one Result per item, in order
Evaluate = Callable[[int, str, list[T]], Sequence[cel.Result]]


@dataclass(eq=False)
class Rejection(Generic[T]):
    """A device some selector did not admit: the first false (or failing) selector's index, and
    the CEL runtime error when that selector failed rather than returned false."""

    item: T
    selector: int
    error: str | None = None


@dataclass(eq=False)
class Admission(Generic[T]):
    """The outcome of a list of selectors over a list of items (devices, views or entries)."""

    selectors: tuple[str, ...]
    #: items every selector admits, in input order
    admitted: list[T] = field(default_factory=list)
    #: items a selector did not admit, selector by selector, each in input order
    rejected: list[Rejection[T]] = field(default_factory=list)
    #: set when a selector does not compile (default evaluator only): then nothing is admitted
    compile_error: cel.CelCompileError | None = None
    #: index of the selector that did not compile
    compile_error_selector: int | None = None

    @property
    def errors(self) -> list[Rejection[T]]:
        """Rejections by a CEL runtime error, selector by selector, each in input order."""
        return [r for r in self.rejected if r.error is not None]

    def errors_at(self, selector: int) -> list[Rejection[T]]:
        """Rejections by a runtime error of one selector, in input order."""
        return [r for r in self.rejected if r.error is not None and r.selector == selector]


def admit(
    selectors: Sequence[str],
    items: Sequence[T],
    *,
    device: Callable[[T], Device] | None = None,
    evaluate: Evaluate | None = None,
) -> Admission[T]:
    """Run ``selectors`` in order over ``items``; see the module docstring for the rule.

    ``device``: the Device of an item (default: the item is a Device).
    ``evaluate(index, expression, items)``: one Result per item (default: compile every selector
    first, then ``Program.evaluate_many`` over the items' devices).
    """
    outcome: Admission[T] = Admission(tuple(selectors))
    if evaluate is None:
        programs: list[cel.Program] = []
        for index, expression in enumerate(selectors):
            try:
                programs.append(cel.compile(expression))
            except cel.CelCompileError as error:
                outcome.compile_error, outcome.compile_error_selector = error, index
                return outcome
        def evaluate(index: int, _expression: str, alive: list[T]) -> Sequence[cel.Result]:
            return programs[index].evaluate_many(alive if device is None else list(map(device, alive)))

    alive = list(items)
    for index, expression in enumerate(selectors):
        if not alive:
            break
        results = evaluate(index, expression, alive)
        matched = list(map(_MATCHED, results))
        if all(matched):  # every item admitted (results are shared objects: one check each, in C)
            continue
        survivors = []
        for item, result, ok in zip(alive, results, matched):
            if ok:
                survivors.append(item)
            else:
                outcome.rejected.append(Rejection(item, index, result.error))
        alive = survivors
    outcome.admitted = alive
    return outcome


_MATCHED = attrgetter("matched")
