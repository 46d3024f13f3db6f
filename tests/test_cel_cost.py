"""CEL cost limits (kubectl_dra.cel.cost): the compile-time estimate and the runtime cost limit.

Expected estimates: a few computed by hand (the arithmetic is in the comments), the others are what
upstream's cel package answered (``k8sbox oracle cel``, v0.36.3); tests/e2e/test_oracle_cel_cost.py
checks the same table against the oracle, so these numbers stay upstream's.
"""

from __future__ import annotations

import pytest

from kubectl_dra import cel
from kubectl_dra.cel import activation, checker, cost
from kubectl_dra.cel.analysis import blank_same_width
from kubectl_dra.model.device import Device

U64 = (1 << 64) - 1

# (expression, cel-go's estimate (max)) — upstream's answers
ORACLE_ESTIMATES = [
    ("has(device.driver)", 1),
    ("has(device.attributes[\"dra.example.com\"].model)", 3),
    ("device.attributes[\"dra.example.com\"][\"model\"] == \"a100\"", 5),
    ("\"abcdefghijklmnopqrstuvwxyz\".startsWith(\"a\")", 1),
    ("device.driver.endsWith(\"com\")", 3),
    ("sets.contains([1, 2, 3], [1])", 24),
    ("sets.equivalent([\"a\", \"b\"], [\"b\"])", 25),
    ("[\"b\", \"a\"].sort() == [\"a\", \"b\"]", 41),
    ("[3, 1, 2].sort().reverse().slice(0, 2) == [3, 2]", 83),
    ("lists.range(10).distinct().size() == 10", 234),
    ("[[1], [2]].flatten().size() == 2", 45),
    ("strings.quote(device.driver) != \"\"", 9),
    ("device.driver.replace(\"example\", \"x\") != \"\"", 15),
    ("device.driver.split(\".\").size() == 3", 17),
    ("[\"a\", \"b\"].join(\"-\") == \"a-b\"", 1844674407370955275),
    ("device.attributes[\"dra.example.com\"].model.lowerAscii() == \"a100\"", 12),
    ("device.attributes.exists(d, d == \"dra.example.com\")", 227),
    ("device.attributes[\"dra.example.com\"].exists(k, device.attributes[\"dra.example.com\"][k] == \"x\")", 324),
    ("device.capacity[\"dra.example.com\"].memory == quantity(\"1.5Gi\")", 6),
    ("semver(\"1.2.3\") == semver(\"1.2.3\")", 3),
    ("type(device.driver) == string", 1844674407370955268),
    ("device.driver.matches(\"^dra\\\\.example\\\\.com$\")", 37),
    ("[1, 2, 3].map(x, x * 2).filter(y, y > 2).size() == 2", 121),
    ("cel.bind(a, device.attributes[\"dra.example.com\"], a.exists(k, k.startsWith(\"m\")))", 207),
    ("device.attributes[\"dra.example.com\"][?\"model\"].orValue(\"\").contains(\"1\")", 1844674407370955269),
    ("[1, 2, 3].exists_one(x, x == 2)", 24),
    ("\"%s\".format([device.driver]) != \"\"", 13),
    ("dyn(device.driver) == \"x\"", 4),
    ("device.driver in [\"a\", \"b\", \"dra.example.com\"]", 15),
    ("lists.range(1000).map(i, lists.range(1000).map(j, j)).size() > 0", 14035024),
    ("lists.range(20000).all(i, true)", 80012),
    ("lists.range(9000).all(i, true)", 36012),
    ("lists.range(1000).all(i, lists.range(1000).all(j, true))", 4016012),
    ("device.attributes.all(d, device.attributes[d].all(k, device.attributes.all(d2, device.attributes[d2].all(k2, k != k2))))", 9705731),
]


def verdict(expression: str) -> checker.Verdict:
    return checker.check(expression, blank_same_width(expression))


def device(**kw) -> Device:
    base = dict(driver="dra.example.com", pool="p", name="d",
                attributes={"dra.example.com/model": "a100", "dra.example.com/count": 1},
                capacity={"dra.example.com/memory": "1.5Gi"})
    base.update(kw)
    return Device(**base)


# ------------------------------------------------------------------ the estimate


@pytest.mark.parametrize(("expression", "expected"), [
    ("true", 0),  # a constant costs nothing
    ("device.allowMultipleAllocations", 2),  # identifier 1 + select of an object field 1
    # 2 + constant 0 + equality: min(driver hint 63, literal 1) * 0.1 -> ceil -> 1
    ('device.driver == "a"', 3),
    # device.attributes 2, index 1, .model on a map 1, == min(64, 4) * 0.1 -> 1
    ('device.attributes["dra.example.com"].model == "a100"', 5),
    # list [1,2,3]: 10; per element: loop condition @not_strictly_false(@result) 2,
    # step @result && x > 0: max 1 + (1 + 1) = 3 -> 3 * 5 = 15; result @result 1 -> 26
    ("[1, 2, 3].all(x, x > 0)", 26),
    # has() is free in Kubernetes (PresenceTestHasCost(false)): the operand `device` costs 1
    ("has(device.driver)", 1),
    # lists.range(1000): 1000 * 1 + 1 + 10; per i: condition 2 + step (@result 1 + inner 3011*... )
    ("lists.range(1000).all(i, lists.range(1000).all(j, true))", 4016012),
])
def test_hand_computed_estimates(expression, expected):
    assert cel.compile(expression).max_cost == expected


@pytest.mark.parametrize(("expression", "expected"), ORACLE_ESTIMATES, ids=[e[:50] for e, _ in ORACLE_ESTIMATES])
def test_estimates_are_upstreams(expression, expected):
    assert cel.compile(expression).max_cost == expected


def test_estimate_min_and_max():
    v = verdict("[1, 2, 3].all(x, x > 0)")
    # min: 10 + 3 * (condition 2 + step: && costs its left operand only, 1) + result 1
    assert cost.estimate(v.checked, v.presence) == (20, 26)


def test_unbounded_sizes_saturate():
    # type values have no size hint: the equality's cost is unknown * 0.1 (upstream: rejected as too complex)
    assert cel.compile("type(device.driver) == string").max_cost == 1844674407370955268
    assert cost.e_factor(cost.UNKNOWN, 1) == cost.UNKNOWN
    assert cost.e_mul((2, U64), (3, 2)) == (6, U64)
    assert cost.e_add((1, U64), (1, 1)) == (2, U64)


# ------------------------------------------------------------------ validation of a new selector


def test_estimate_over_the_limit_is_a_compile_error_when_asked():
    expression = "lists.range(1000).all(i, lists.range(1000).all(j, true))"
    program = cel.compile(expression)  # the scheduler compiles without the estimate
    assert program.max_cost == 4016012
    with pytest.raises(cel.CelCompileError, match=r"^CEL expression too complex, exceeds cost limit: "
                                                   r"estimated cost 4016012, limit 1000000$") as err:
        cel.compile(expression, estimate=True)
    assert "rejects a selector whose worst-case cost" in err.value.hint


def test_unbounded_estimate_says_so():
    assert cost.too_complex_message(U64).endswith("estimated cost unbounded, limit 1000000")
    # upstream: 3689348814741910626 (unknown sizes, saturated and scaled)
    expression = 'strings.quote(["a", "b"].join()).contains(string(bytes(device.driver) + b"abc" + bytes("x")))'
    assert cel.compile(expression).max_cost == 3689348814741910626
    # the element sizes of a joined list are unknown: rejected upstream too
    with pytest.raises(cel.CelCompileError, match=r"estimated cost 1844674407370955275, limit 1000000$"):
        cel.compile('["a", "b"].join("-") == "a-b"', estimate=True)


def test_estimate_within_the_limit_compiles():
    assert cel.compile("lists.range(9000).all(i, true)", estimate=True).max_cost == 36012


def test_list_cel_rejects_a_too_complex_selector(run):
    r = run("list", "--demo", "--cel", "lists.range(1000).all(i, lists.range(1000).all(j, true))")
    assert r.exit_code == 2
    assert "error: CEL expression too complex, exceeds cost limit: estimated cost 4016012, limit 1000000" in r.stderr


# ------------------------------------------------------------------ the runtime limit


def test_runtime_limit_certainly_exceeded_is_upstreams_error():
    # map never stops early: 1000 * 1000 inner steps, each at least 2 -> above the limit on every device
    program = cel.compile("lists.range(1000).map(i, lists.range(1000).map(j, j)).size() > 0")
    assert program.evaluate(device()) == cel.Result(None, "operation cancelled: actual cost limit exceeded")


def test_engine_iteration_budget_is_a_runtime_error_not_a_crash():
    # upstream: true (cost 80012); cel-expr-python stops after 10,000 iterations: say so
    program = cel.compile("lists.range(20000).all(i, true)")
    assert program.evaluate(device()) == cel.Result(None, cost.ENGINE_BUDGET)
    assert program.evaluate_many([device(), device(name="e")]) == [cel.Result(None, cost.ENGINE_BUDGET)] * 2


def test_below_the_engine_budget_evaluates():
    assert cel.compile("lists.range(9000).all(i, true)").evaluate(device()) == cel.TRUE


def test_cheap_selector_on_any_device_is_not_checked_per_device():
    program = cel.compile('device.attributes["dra.example.com"].model == "a100"')
    assert not program._over
    assert program.evaluate(device()) == cel.TRUE


def test_api_rejected_but_cheap_selector_evaluates_as_the_scheduler_does():
    # upstream's validation rejects it (unbounded estimate), the scheduler evaluates it: cost 4
    program = cel.compile("type(device.driver) == string")
    assert program._over
    assert program.evaluate(device()) == cel.TRUE


def test_list_cel_over_the_engine_budget_is_not_an_internal_error(run):
    r = run("list", "--demo", "-o", "name", "--cel", "lists.range(20000).all(i, true)")
    assert r.exit_code == 0, r.stderr
    assert "internal error" not in r.stderr


# ------------------------------------------------------------------ bounds


@pytest.mark.parametrize("expression", [
    'device.driver.startsWith("a")',
    '"h100".split(",")[0] == "h100"',
    "dyn([-2.25, 1.0 / 0.0]).isSorted()",
    "[1, 2, 3].all(x, x > 0)",
])
def test_bound_is_at_least_the_estimate(expression):
    v = verdict(expression)
    assert cost.bound(v.checked, v.presence) >= cost.estimate(v.checked, v.presence)[1]


def test_bound_counts_the_receiver_of_starts_with():
    # upstream's estimate 3, its actual cost 4 on a 15-character driver (the receiver's size counts at run time)
    v = verdict('device.driver.startsWith("a100")')
    data = activation.activation_data(device())
    assert cost.estimate(v.checked, v.presence, cost.device_sizes(data))[1] == 3
    assert cost.bound(v.checked, v.presence, cost.device_sizes(data)) >= 4


def test_device_sizes_are_the_real_ones():
    data = activation.activation_data(device(attributes={"dra.example.com/model": "x" * 10, "o.example.com/z": 1}))
    s = cost.device_sizes(data)
    assert (s.driver, s.attr_domains, s.attr_ids, s.cap_domains, s.cap_ids, s.value) == (15, 2, 1, 1, 1, 10)


def test_lower_bound_counts_only_certain_steps():
    sizes = cost.device_sizes(activation.activation_data(device()))
    # all() may stop after the first element: 1 * (condition: @result 1 + call 1; step: @result 1 + x 1,
    # the comparison may cost 0) + result 1; the constant range may be folded: 0
    assert cost.lower(verdict("lists.range(5).all(x, x > 0)").checked, sizes) == 5
    # map() never stops early: 5 * (@result 1 + x 1; + may cost 0) + result 1 + size() 1
    assert cost.lower(verdict("lists.range(5).map(x, x).size() > 0").checked, sizes) == 5 * 2 + 2
