"""Issue 15: the filter's matcher remembers each test's answer per (value, value type, recorded kind), and
the schema works out a name when a filter first asks about it. Both must answer exactly as before:
the plain evaluator (``evaluate.matches``), the CEL the filter compiles to, and the schema built from
every device at once (``Schema.full``)."""

from __future__ import annotations

import pytest

from kubectl_dra import cel
from kubectl_dra.filter import FilterNameError, Schema, compile
from kubectl_dra.filter.evaluate import matches
from kubectl_dra.model.device import Device


def _device(name: str, driver: str = "gpu.example.com", **attributes) -> Device:
    kinds = {q: k for q, (k, _) in attributes.items() if k in ("version", "strings", "ints")} or None
    return Device(driver, "pool", name, attributes={f"{driver}/{q}": v for q, (_, v) in attributes.items()},
                  attribute_kinds={f"{driver}/{q}": k for q, k in kinds.items()} if kinds else None,
                  capacity={f"{driver}/memory": "40Gi" if name.endswith("big") else "39.5Gi"})


# one name published with values equal in Python but not in CEL (True == 1), a version, a list
DEVICES = [
    _device("a", x=("bool", True)), _device("b", x=("int", 1)), _device("c", x=("bool", False)),
    _device("d", x=("int", 0)), _device("e", x=("int", 1)), _device("f-big", x=("bool", True)),
    _device("g", x=("string", "1")), _device("h", x=("ints", (1, 2))), _device("i-big", x=("version", "1.0.0")),
    _device("j", driver="nic.example.com", x=("int", 1)), _device("k"),
]
SCHEMA = Schema.from_devices(DEVICES)


@pytest.mark.parametrize("text", ["x=1", "x!=1", "x=true", "x!=true", "x=false", "x=0", "x>0", "x~1", "x in (0, 1)",
                                  "memory>=40Gi", "memory<40Gi x=1", "not x=1", "x=1 or x=true"])
def test_remembered_answers_are_the_evaluators_and_the_cels(text):
    try:
        flt = compile(text, SCHEMA)
    except Exception as e:  # a filter that the schema types out: nothing to compare
        pytest.skip(f"{text}: {e}")
    program = cel.compile(flt.to_cel())
    for order in (DEVICES, DEVICES[::-1]):  # the first device of a value decides what is remembered
        flt = compile(text, SCHEMA)
        got = [flt.matches(d) for d in order]
        assert got == [matches(flt.resolved, d) for d in order]
        assert got == [bool(program.evaluate(d).matched) for d in order]


def test_bool_and_int_with_equal_values_get_their_own_answers():
    # x=1 is an int, a string "1" and a version 1 (the name has those kinds), never the bool true
    assert [d.name for d in DEVICES if compile("x=1", SCHEMA).matches(d)] == ["b", "e", "g", "i-big", "j"]
    assert [d.name for d in DEVICES if compile("x=true", SCHEMA).matches(d)] == ["a", "f-big"]
    assert [d.name for d in DEVICES[::-1] if compile("x=true", SCHEMA).matches(d)] == ["f-big", "a"]


def test_a_name_published_with_several_kinds_is_type_guarded_in_every_branch():
    # without the guard, `x.compareTo(semver(...))` fails at runtime on a bool and `not` keeps the error
    cel_text = compile("not x=1", SCHEMA).to_cel()
    assert 'type(device.attributes["gpu.example.com"].x) in [type(semver("0.0.0"))]' in cel_text
    program = cel.compile(cel_text)
    assert all(program.evaluate(d).error is None for d in DEVICES)


def test_the_schema_per_name_is_the_schema_of_every_name():
    full = Schema.full(DEVICES)
    assert SCHEMA.drivers == full.drivers == {"gpu.example.com", "nic.example.com"}
    for name in ["gpu.example.com/x", "nic.example.com/x", "gpu.example.com/memory", "gpu.example.com/none"]:
        assert SCHEMA.attributes.get(name) == full.attributes.get(name)
        assert (name in SCHEMA.attributes) == (name in full.attributes)
        assert SCHEMA.capacities.get(name) == full.capacities.get(name)
    assert SCHEMA.attributes["gpu.example.com/x"] == {"gpu.example.com": {"bool", "int", "string", "ints", "version"}}
    # iterating reads every name: the same maps, the same names for suggestions
    lazy = Schema.from_devices(DEVICES)
    assert dict(lazy.attributes) == full.attributes and dict(lazy.capacities) == full.capacities
    assert lazy.names() == full.names()


def test_an_unknown_name_still_suggests_from_every_name():
    with pytest.raises(FilterNameError, match="no device publishes an attribute or capacity named 'memroy'") as err:
        compile("memroy>=1Gi", Schema.from_devices(DEVICES))
    assert "did you mean memory?" in str(err.value.hint)
