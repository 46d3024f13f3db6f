"""Issue 13 item 3: minimal CEL for the class a claim names, and long expressions as folded YAML."""

from __future__ import annotations

import pytest
import yaml

from kubectl_dra import cel
from kubectl_dra.filter import ClassFacts, Schema, class_facts, compile
from kubectl_dra.render.manifest import fold_cel, to_yaml

FILTERS = [
    "memory>=40Gi mig=true", "memory>=40Gi", "mig", "mig=false", "not mig", "product~h100", "profile=3g.40gb",
    "driver=gpu.nvidia.com", "driver!=gpu.nvidia.com", "driver in (gpu.amd.com, dra.net)",
    "memory>=40Gi or product~mi300", "not (mig and memory<20Gi)", "type=mig", "type!=gpu", "cc>=9.0",
]


@pytest.fixture(scope="module")
def demo():
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    cluster = load_cluster(SourceOptions(demo=True), ())
    devices = [v.device for v in cluster.device_views()]
    return cluster, devices, Schema.from_devices(devices)


def _admitted(selectors, devices):
    programs = [cel.compile(s) for s in selectors]
    return [d for d in devices if all(p.evaluate(d).matched for p in programs)]


@pytest.mark.parametrize("text", FILTERS)
@pytest.mark.parametrize("use_schema", [True, False])
def test_minimal_cel_keeps_the_meaning_within_every_class(demo, text, use_schema):
    cluster, devices, schema = demo
    flt = compile(text, schema if use_schema else None)
    for device_class in cluster.classes:
        facts = class_facts(device_class.selectors)
        inside = _admitted(device_class.selectors, devices)
        want = {d.key for d in inside if flt.matches(d)}
        minimal = flt.to_cel_for(facts)
        if minimal is None:
            assert want == set(), (device_class.name, text)
            continue
        if minimal == "":
            assert want == {d.key for d in inside}, (device_class.name, text)
            continue
        assert len(minimal) <= len(flt.to_cel())
        program = cel.compile(minimal)  # type-checked against the DRA CEL environment
        results = {d.key: program.evaluate(d) for d in devices}
        # guarded: no runtime error on any device, admitted by the class or not
        assert [k for k, r in results.items() if r.error] == [], (device_class.name, text, minimal)
        assert {d.key for d in inside if results[d.key].matched} == want, (device_class.name, text, minimal)


def test_headline_selector_is_short(demo):
    cluster, devices, schema = demo
    mig_class = next(c for c in cluster.classes if c.name == "mig.nvidia.com")
    minimal = compile("memory>=40Gi mig=true", schema).to_cel_for(class_facts(mig_class.selectors))
    assert minimal == ('"memory" in device.capacity["gpu.nvidia.com"] && '
                       'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("40Gi")) >= 0')
    assert len(minimal) < 150


@pytest.mark.parametrize(("selectors", "drivers", "equal", "mig"), [
    (["device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'mig'"],
     {"gpu.nvidia.com"}, {"gpu.nvidia.com/type": "mig"}, True),
    (['device.driver == "gpu.nvidia.com" && device.attributes["gpu.nvidia.com"]["type"] == "gpu"'],
     {"gpu.nvidia.com"}, {"gpu.nvidia.com/type": "gpu"}, False),
    (['"dra.net" == device.driver'], {"dra.net"}, {}, None),
    (['(device.driver in ["a.com", "b.com"])', 'device.driver == "b.com"'], {"b.com"}, {}, None),
    (['device.driver == "a.com" || device.driver == "b.com"'], None, {}, None),
    (['device.driver == "a.com" && (device.attributes["a.com"].x == "1" || true)'], {"a.com"}, {}, None),
    (['device.driver.startsWith("gpu")'], None, {}, None),
    (['device.driver == "a\\"b"'], None, {}, None),
    (['device.driver == "a.com" ? true : false'], None, {}, None),
    ([], None, {}, None),
])
def test_class_facts(selectors, drivers, equal, mig):
    facts = class_facts(selectors)
    assert facts.drivers == (frozenset(drivers) if drivers is not None else None)
    assert facts.equal == equal
    assert facts.mig is mig


def test_contradicting_class_admits_no_driver():
    facts = class_facts(['device.driver == "a.com"', 'device.driver == "b.com"'])
    assert facts.drivers == frozenset()
    assert compile("mig").to_cel_for(facts) is None


def test_no_facts_changes_nothing():
    flt = compile("memory>=40Gi mig=true product~h100")
    assert flt.to_cel_for(ClassFacts()) == flt.to_cel()


def test_fold_cel_round_trips_through_yaml():
    expression = compile("memory>=40Gi mig=true product~h100 arch=Hopper").to_cel()
    lines = fold_cel(expression)
    assert len(lines) > 1 and all(not line.startswith(" ") for line in lines)
    data = {"spec": {"selectors": [{"cel": {"expression": expression}}, {"cel": {"expression": "short"}}]}}
    text = to_yaml(data)
    assert "expression: >-\n" in text and "expression: short\n" in text
    assert yaml.safe_load(text) == data


@pytest.mark.parametrize("expression", [
    'device.attributes["x"].s == "a  && b" && ' + "x" * 90,
    '"' + "a " * 60 + '" == device.driver',
    "x" * 200,
    "f(" + "a && b " * 20 + ")",
])
def test_fold_cel_never_cuts_inside_literals_or_parentheses(expression):
    text = to_yaml({"expression": expression})
    assert yaml.safe_load(text) == {"expression": expression}
    for line in fold_cel(expression)[1:]:
        assert line.startswith(("&&", "||"))
