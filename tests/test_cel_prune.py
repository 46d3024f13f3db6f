"""Bulk evaluation leaves out attributes an expression cannot observe and shares results between
look-alike devices (kubectl_dra.cel.prunable_keys): it must agree with one full evaluation per device."""

from __future__ import annotations

import pytest

from kubectl_dra import cel
from kubectl_dra.cel import prunable_keys
from tests.test_cel import CASES, FIXTURES, FULL, device

SAFE = [
    'device.attributes["gpu.nvidia.com"].productName.lowerAscii().contains("h100")',
    'device.capacity["d"].memory.compareTo(quantity("1Gi")) > 0',
    '"x" in device.attributes["d"]',
    '"d" in device.attributes',
    "x in device.attributes",  # domain membership: domains are always kept
    "device.attributes[device.driver].x == 1",
    'device.attributes["d"].x == true',
    'device.attributes["d"].x',
    'device.attributes[?"d"].?x.orValue(1) == 1',
    'device.attributes["d"]["x"] == 1',
    "has(device.attributes.d.x)",
    '"d" in device.attributes.x',
    'device.driver == "x" // device.attributes',
    '!("x" in device.attributes["d"]) || device.attributes["d"].x',
]
UNSAFE = [
    'size(device.attributes["d"]) > 0',
    'device.attributes["d"].all(k, k == "x")',
    'device.attributes["d"].exists(k, k == "x")',
    'cel.bind(a, device.attributes["d"], a.x)',
    'device.attributes[?"d"].orValue({}).x == 1',
    '("a" + "b") in device.attributes["d"]',
    '"a" + "b" in device.attributes["d"]',
    'k in device.attributes["d"]',
    'device.attributes["d"][k] == 1',
    'device.attributes["d"] == {}',
    "device.attributes == {}",
    "[1].exists(device, device.attributes)",
    'device.attributes["d" + "x"].y',
    "device.capacity",
    'r"q\\" == "" && device.attributes["d"].x',
]


@pytest.mark.parametrize("expression", SAFE)
def test_prunable(expression):
    keys = prunable_keys(expression)
    assert keys is not None
    assert "x" in keys or "productName" in keys or "memory" in keys or "d" in keys


@pytest.mark.parametrize("expression", UNSAFE)
def test_not_prunable(expression):
    assert prunable_keys(expression) is None


def _devices():
    from kubectl_dra.errors import DraError
    from kubectl_dra.kube.load import SLICES, SourceOptions, load_cluster

    out = [device(**FULL), device(), device(driver="other"), device(attributes={"v": {"version": "bad"}}),
           device(attributes={"v": {"version": "1.2.3"}, "w": {"version": "nope"}}),
           device(attributes={"string": {"string": "1.0.0"}}), device(attributes={"version": {"version": "1.0.0"}})]
    # one name, values equal in Python but not in CEL (True == 1, False == 0): never one shared result
    out += [device(attributes={"x": {kind: value}}) for kind, value in
            (("bool", True), ("int", 1), ("bool", False), ("int", 0), ("int", 1), ("bool", True), ("string", "1"))]
    # a version first seen on a later device, a list attribute, and a device of another shape in between
    out += [device(attributes={"x": {"int": 1}, "v": {"version": "9.9.9"}}),
            device(attributes={"x": {"ints": [1, 2]}}), device(capacity={"memory": "2Gi"}),
            device(attributes={"x": {"int": 1}, "v": {"version": "9.9.9"}})]
    out += [v.device for v in load_cluster(SourceOptions(demo=True), ()).device_views()]
    for path in sorted(FIXTURES.rglob("*.yaml")):
        try:
            cluster = load_cluster(SourceOptions(filenames=[str(path)]), (SLICES,))
        except DraError:
            continue
        out += [v.device for v in cluster.device_views()]
    return out


@pytest.fixture(scope="module")
def devices():
    found = _devices()
    assert len(found) > 120  # the demo (71) and the fixtures' slices
    return found


EXPRESSIONS = sorted({c[1] for c in CASES} | set(SAFE) | {
    'device.driver == "gpu.nvidia.com" && device.attributes["gpu.nvidia.com"].type == "gpu"',
    'device.attributes["gpu.nvidia.com"].index == 0',
    'device.attributes["gpu.nvidia.com"].driverVersion.isGreaterThan(semver("550.0.0"))',
    'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("40Gi")) >= 0',
    '"memory" in device.capacity[device.driver] && device.capacity[device.driver].memory.isGreaterThan(quantity("1Gi"))',
    'device.attributes[device.driver].?productName.orValue("").startsWith("NVIDIA")',
    'device.attributes["resource.kubernetes.io"].pcieRoot == "pci0000:00"',
})


def _compiles(expression: str) -> bool:
    try:
        cel.compile(expression)
    except cel.CelCompileError:
        return False
    return True


@pytest.mark.parametrize("expression", [e for e in EXPRESSIONS if _compiles(e)])
def test_bulk_agrees_with_one_by_one(devices, expression):
    program = cel.compile(expression)
    bulk = program.evaluate_many(devices)
    assert bulk == [program.evaluate(d) for d in devices]
    # and with the unpruned bulk path
    assert bulk == program._evaluate_each(devices)


def test_repeated_and_subset_evaluations_reuse_results(devices):
    program = cel.compile('device.capacity[device.driver].?memory.orValue(quantity("0")).compareTo(quantity("40Gi")) >= 0')
    first = program.evaluate_many(devices)
    assert program.evaluate_many(devices) == first
    subset = devices[::3]
    assert program.evaluate_many(subset) == first[::3] == [program.evaluate(d) for d in subset]


def test_a_later_call_reuses_the_last_calls_results_without_evaluating_again(devices, monkeypatch):
    program = cel.compile('device.attributes["gpu.nvidia.com"].?productName.orValue("") != ""')
    first = program.evaluate_many(devices)
    fresh = []
    original = type(program)._evaluate_fresh
    monkeypatch.setattr(type(program), "_evaluate_fresh", lambda self, ds: fresh.append(len(ds)) or original(self, ds))
    assert program.evaluate_many(devices) == first
    assert fresh == []  # every result came from the first call


def test_a_callers_list_changed_after_the_call_does_not_mix_up_results():
    """The results of one call are indexed by device at the next call: by the devices evaluated,
    not by whatever the caller's list holds by then."""
    big = device(capacity={"memory": "80Gi"})
    small = device(capacity={"memory": "1Gi"})
    program = cel.compile('device.capacity[device.driver].memory.compareTo(quantity("40Gi")) >= 0')
    listed = [big]
    assert [r.matched for r in program.evaluate_many(listed)] == [True]
    listed[0] = small
    assert [r.matched for r in program.evaluate_many([small])] == [False]
    assert [r.matched for r in program.evaluate_many([big, small])] == [True, False]


def test_the_capacity_part_of_the_quick_key_is_worked_out_once_per_shared_map(monkeypatch):
    """Decode shares one capacity map between a slice's equal capacities; the quick key's capacity
    part is read once per map, and again after a check that failed (a quantity not yet parsed)."""
    from kubectl_dra.cel import activation, library
    from kubectl_dra.model.device import Device

    shared = {"example.com/memory": "77777Mi"}  # a quantity no other test parses first
    devices = [Device("example.com", "p", f"d{i}", attributes={"example.com/i": i}, capacity=shared) for i in range(4)]
    devices.append(Device("example.com", "p", "own", attributes={"example.com/i": 9}, capacity={"example.com/memory": "1Gi"}))
    library._Q_TAGS.pop("77777Mi", None)
    calls = []
    original = activation.FastPlan.capacity_key
    monkeypatch.setattr(activation.FastPlan, "capacity_key",
                        lambda self, capacity: calls.append(capacity) or original(self, capacity))
    program = cel.compile('device.capacity["example.com"].memory.compareTo(quantity("40Gi")) >= 0 && '
                          'device.attributes["example.com"].i >= 0')
    results = program.evaluate_many(devices)
    assert [r.matched for r in results] == [True, True, True, True, False]
    assert results == [program.evaluate(d) for d in devices]
    # d0: not yet known to parse (the full path parses it); d1: checked again, known now; d2, d3: the
    # same map; own: its own map
    assert [c is shared for c in calls] == [True, True, False]


def test_a_neighbour_observing_the_very_same_values_takes_the_last_result(monkeypatch):
    """Devices in a row with the same shape, capacity part, driver and the same value objects where
    the expression looks (a node's GPUs: interned model and versions) reuse the last result without
    building a quick key; a value equal in Python but another object (1 after True) does not."""
    from kubectl_dra.cel import activation
    from kubectl_dra.model.device import Device

    model, version = "H100", "9.0.0"
    devices = [Device("example.com", "p", f"d{i}", attributes={"example.com/model": model, "example.com/v": version,
                                                                "example.com/uuid": f"u{i}"},
                      attribute_kinds={"example.com/v": "version"}) for i in range(5)]
    devices += [Device("example.com", "p", "t", attributes={"example.com/model": True, "example.com/v": version, "example.com/uuid": "t"},
                       attribute_kinds={"example.com/v": "version"}),
                Device("example.com", "p", "one", attributes={"example.com/model": 1, "example.com/v": version, "example.com/uuid": "o"},
                       attribute_kinds={"example.com/v": "version"})]
    calls = []
    original = activation.FastPlan.key
    monkeypatch.setattr(activation.FastPlan, "key", lambda self, device, capacities: calls.append(device.name) or original(self, device, capacities))
    program = cel.compile('device.attributes["example.com"].model == "H100" && device.attributes["example.com"].v.major() == 9')
    results = program.evaluate_many(devices)
    assert results == [program.evaluate(d) for d in devices]
    assert [r.matched for r in results[:5]] == [True] * 5
    assert calls == ["d0", "t", "one"]


@pytest.mark.parametrize("n", range(9))
def test_identical_tells_the_very_same_objects_at_every_position(n):
    """The neighbour check compares observed values by identity at each position, whatever the count
    (the usual few inline, more with all/map): equal but distinct objects (True and 1, two equal
    strings built apart) are told apart wherever they sit."""
    from kubectl_dra.cel.activation import _identical

    same = _identical(n)
    values = tuple("".join(["v", str(i)]) for i in range(n))
    assert same(values, tuple(values))
    for i in range(n):
        other = list(values)
        other[i] = "".join(["v", str(i)])  # equal, another object
        assert other[i] == values[i] and other[i] is not values[i]
        assert not same(values, tuple(other))
        flags = list(values)
        flags[i] = True
        ones = list(values)
        ones[i] = 1
        assert not same(tuple(flags), tuple(ones))
        assert same(tuple(flags), tuple(flags))


def test_a_plans_identity_check_covers_all_its_observed_values():
    """FastPlan.identical is made for the length of the plan's observed tuple (one name: a pair)."""
    from kubectl_dra.cel.activation import fast_plan

    for names in ([], ["example.com/a"], ["example.com/a", "example.com/b", "example.com/c"],
                  [f"example.com/n{i}" for i in range(8)]):
        keys = frozenset(n.split("/")[1] for n in names)
        plan = fast_plan(keys, tuple(names), None, ())
        attrs = {n: "".join(["x", n]) for n in names}
        observed = plan.observed(attrs)
        assert plan.identical(observed, plan.observed(attrs))
        for name in names:
            changed = {**attrs, name: "".join(["x", name])}
            assert not plan.identical(observed, plan.observed(changed))
