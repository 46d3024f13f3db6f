"""The one builder of the CEL ``device`` variable (kubectl_dra.cel.activation)."""

from __future__ import annotations

import pytest

from kubectl_dra.cel import activation, library
from kubectl_dra.model.device import Device


def gpu(**kw) -> Device:
    base = dict(
        driver="gpu.example.com",
        pool="p",
        name="d0",
        attributes={
            "gpu.example.com/model": "A100",
            "gpu.example.com/index": 3,
            "gpu.example.com/driverVersion": "1.2.3",
            "numa.example.com/node": 1,
            "gpu.example.com/modes": ("a", "b"),
        },
        attribute_kinds={"gpu.example.com/driverVersion": "version"},
        capacity={"gpu.example.com/memory": "40Gi", "numa.example.com/cores": "8"},
    )
    base.update(kw)
    return Device(**base)


def test_whole_variable_groups_by_domain_and_converts_values():
    data = activation.activation_data(gpu(allow_multiple_allocations=True))
    assert data == {
        "driver": "gpu.example.com",
        "attributes": {
            "gpu.example.com": {
                "model": "A100",
                "index": 3,
                "driverVersion": library.version_value("1.2.3"),
                "modes": ["a", "b"],
            },
            "numa.example.com": {"node": 1},
        },
        "capacity": {
            "gpu.example.com": {"memory": library.quantity_value("40Gi")},
            "numa.example.com": {"cores": library.quantity_value("8")},
        },
        "allowMultipleAllocations": True,
    }
    assert activation.build(gpu())[1] is None


def test_pruned_variable_keeps_named_ids_and_every_domain():
    data, key = activation.build(gpu(), frozenset({"model", "cores"}))
    assert data["attributes"] == {"gpu.example.com": {"model": "A100"}, "numa.example.com": {}}
    assert data["capacity"] == {"gpu.example.com": {}, "numa.example.com": {"cores": library.quantity_value("8")}}
    assert key == (
        "gpu.example.com",
        False,
        (("gpu.example.com/model", "A100", None, str),),
        frozenset({"gpu.example.com", "numa.example.com"}),
        (("numa.example.com/cores", "8"),),
        frozenset({"gpu.example.com", "numa.example.com"}),
    )


def test_pruning_key_equal_exactly_when_the_named_values_are():
    keys = frozenset({"model"})
    a = activation.build(gpu(name="a"), keys)[1]
    b = activation.build(gpu(name="b", attributes={**gpu().attributes, "gpu.example.com/index": 9}), keys)[1]
    c = activation.build(gpu(attributes={**gpu().attributes, "gpu.example.com/model": "H100"}), keys)[1]
    assert a == b  # differ only in an id the expression does not name
    assert a != c


@pytest.mark.parametrize("keys", [None, frozenset({"model"})])
def test_bad_version_is_an_error_named_or_not(keys):
    device = gpu(attributes={**gpu().attributes, "gpu.example.com/driverVersion": "1.2"})
    with pytest.raises(activation.BadDevice, match=r"^attribute gpu.example.com/driverVersion: parse semantic version: invalid version '1.2'$"):
        activation.build(device, keys)


@pytest.mark.parametrize("keys", [None, frozenset({"model"})])
def test_bad_version_in_a_list_is_an_error(keys):
    device = gpu(attributes={"gpu.example.com/vs": ("1.0.0", "x")}, attribute_kinds={"gpu.example.com/vs": "versions"})
    with pytest.raises(activation.BadDevice, match=r"^attribute gpu.example.com/vs: parse semantic version: invalid version 'x'$"):
        activation.build(device, keys)


@pytest.mark.parametrize("keys", [None, frozenset({"model"})])
def test_bad_quantity_is_an_error_named_or_not(keys):
    device = gpu(capacity={"gpu.example.com/memory": "lots"})
    with pytest.raises(activation.BadDevice, match=r"^capacity gpu.example.com/memory: "):
        activation.build(device, keys)


def test_split_takes_the_last_slash():
    assert activation.split("a.example.com/x") == ("a.example.com", "x")
    assert activation.split("x") == ("", "x")


def test_facade_keeps_the_old_names():
    import kubectl_dra.cel as cel

    assert cel.activation_data is activation.activation_data
    for name in ("compile", "Program", "Result", "CelCompileError", "CelRuntimeError", "CelError",
                 "MAX_EXPRESSION_LENGTH", "prunable_keys", "whole_map_use", "domain_call_rewrite"):
        assert hasattr(cel, name), name
