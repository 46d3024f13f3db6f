"""kubectl_dra.admission: the one class-admission rule (selectors in order, first false/error stops)."""

from __future__ import annotations

import pytest

from kubectl_dra import cel
from kubectl_dra.admission import admit
from kubectl_dra.model.device import Device

D = "gpu.example.com"


def dev(name: str, **attrs) -> Device:
    return Device(D, "pool", name, attributes={f"{D}/{k}": v for k, v in attrs.items()})


A = dev("a", model="x", mem=10)
B = dev("b", model="y", mem=20)
C = dev("c", mem=30)  # no model attribute: selectors reading it fail


def names(items) -> list[str]:
    return [d.name for d in items]


def test_no_selectors_admit_everything_in_order():
    got = admit([], [B, A, C])
    assert names(got.admitted) == ["b", "a", "c"]
    assert got.rejected == [] and got.compile_error is None


def test_selectors_are_anded_in_order_and_the_first_false_one_is_recorded():
    got = admit([f'device.attributes["{D}"].mem >= 20', f'device.attributes["{D}"].mem <= 20'], [A, B, C])
    assert names(got.admitted) == ["b"]
    assert [(r.item.name, r.selector, r.error) for r in got.rejected] == [("a", 0, None), ("c", 1, None)]
    assert got.errors == []


def test_a_runtime_error_rejects_the_device_and_is_kept_with_its_selector():
    got = admit([f'device.attributes["{D}"].model == "x"'], [A, B, C])
    assert names(got.admitted) == ["a"]
    assert [(r.item.name, r.selector) for r in got.errors] == [("c", 0)]
    assert "model" in got.errors[0].error
    assert [r.item.name for r in got.errors_at(0)] == ["c"] and got.errors_at(1) == []


def test_a_false_selector_stops_evaluation_so_a_later_one_never_fails_on_that_device():
    # C fails the first selector (false), so the second - which would raise on C - never sees it
    got = admit([f'device.attributes["{D}"].mem < 30', f'device.attributes["{D}"].model != ""'], [A, C])
    assert names(got.admitted) == ["a"]
    assert [(r.item.name, r.selector, r.error) for r in got.rejected] == [("c", 0, None)]


def test_an_error_stops_evaluation_too():
    got = admit([f'device.attributes["{D}"].model == "y"', "true"], [A, B, C])
    assert names(got.admitted) == ["b"]
    assert [(r.item.name, r.selector, r.error is not None) for r in got.rejected] == [("a", 0, False), ("c", 0, True)]


def test_rejections_are_listed_selector_by_selector():
    got = admit([f'device.attributes["{D}"].mem > 10', f'device.attributes["{D}"].model == "x"'], [A, B, C])
    assert [(r.item.name, r.selector) for r in got.rejected] == [("a", 0), ("b", 1), ("c", 1)]
    assert [r.item.name for r in got.errors] == ["c"]


def test_a_compile_error_admits_nothing_and_names_the_selector():
    got = admit(["true", "device.attributes["], [A, B])
    assert got.admitted == [] and got.rejected == []
    assert isinstance(got.compile_error, cel.CelCompileError)
    assert got.compile_error_selector == 1


def test_items_other_than_devices_use_the_device_accessor():
    views = [("view-a", A), ("view-b", B)]
    got = admit([f'device.attributes["{D}"].model == "y"'], views, device=lambda v: v[1])
    assert got.admitted == [("view-b", B)]


def test_a_custom_evaluator_is_called_per_selector_with_the_survivors_only():
    calls = []

    def evaluate(index, expression, alive):
        calls.append((index, expression, names(alive)))
        return [cel.Result(d.name != "a") if index == 0 else cel.Result(None, "boom") for d in alive]

    got = admit(["first", "second"], [A, B, C], evaluate=evaluate)
    assert calls == [(0, "first", ["a", "b", "c"]), (1, "second", ["b", "c"])]
    assert got.admitted == [] and got.compile_error is None
    assert [(r.item.name, r.selector, r.error) for r in got.rejected] == [("a", 0, None), ("b", 1, "boom"), ("c", 1, "boom")]


def test_no_survivors_means_later_selectors_are_not_evaluated():
    def evaluate(index, expression, alive):
        if index:
            pytest.fail("a later selector was evaluated with nothing left")
        return [cel.FALSE for _ in alive]

    got = admit(["a", "b"], [A], evaluate=evaluate)
    assert got.admitted == [] and [r.selector for r in got.rejected] == [0]
