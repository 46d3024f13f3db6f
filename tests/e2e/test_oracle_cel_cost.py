"""CEL cost limits (issue 11): kubectl_dra.cel.cost against upstream's cel package (the k8sbox oracle).

* **The compile-time estimate.** For every generated selector of test_oracle_cel that compiles on
  both sides, kubectl-dra's estimate (``Program.max_cost``) must equal cel-go's (``maxCost``, what the
  API server computes), and ``compile(..., estimate=True)`` must reject exactly the selectors
  ``validateCELSelector`` rejects as ``too complex, exceeds cost limit``.
* **The runtime cost limit.** A second generator writes expensive selectors — comprehensions nested in
  one another over ``lists.range``, literal lists and the device's maps, string functions and regexes
  on long strings — evaluated on devices with long values and many attributes: the estimate, the
  validation verdict and, per device, the outcome (value / runtime error / ``actual cost limit
  exceeded``) must agree, except where kubectl-dra's engine stops (``ENGINE_ITERATIONS``: cel-expr-python
  evaluates at most 10,000 comprehension iterations; counted and shown, see docs/fidelity.md).
* For every evaluation, upstream's actual cost must be within kubectl-dra's bound
  (``cost.bound``) and at least its lower bound (``cost.lower``) when not cut off: the two facts the
  runtime verdicts rest on.

KUBECTL_DRA_ORACLE_CEL_COST_CASES (default 200: upstream runs some to its cost limit, about 35 s) sets how many expensive selectors.
"""

from __future__ import annotations

import json
import os
import random
import time

import pytest

from kubectl_dra import cel as kcel
from kubectl_dra.cel import activation, checker, cost
from kubectl_dra.cel.analysis import blank_same_width
from tests.e2e.oracle import cel_outcome, oracle  # noqa: F401 - fixture
from tests.e2e.test_oracle_cel import D, N_CASES, SEED, cel_answers, generate, model_device, ours, same

pytestmark = pytest.mark.e2e

N_COST = int(os.environ.get("KUBECTL_DRA_ORACLE_CEL_COST_CASES", "200"))
U64 = (1 << 64) - 1

#: generated selectors whose estimate differs for a reason pinned in test_oracle_cel.KNOWN
#: (generic list functions are declared per element type here: a type parameter bound by an argument
#: upstream is dyn here, and the size rules follow the type)
KNOWN_ESTIMATE = r"\.(indexOf|lastIndexOf)\(|\.(reverse|slice|flatten|distinct|sort)\(|sets\."


def _checked(expression: str) -> checker.Verdict:
    return checker.check(expression, blank_same_width(expression))


def _upstream_estimate(answer: dict) -> int | None:
    return answer.get("maxCost")


def test_generated_estimates_agree_with_upstream(oracle):
    import re

    cases = [generate(SEED, i) for i in range(N_CASES)]
    answers = cel_answers(oracle, cases)
    counts = {"both compile": 0, "same estimate": 0, "known": 0}
    unknown, verdicts, unsound = [], [], []
    for (expr, devices), answer in zip(cases, answers):
        if answer.get("compileError"):
            continue
        try:
            program = kcel.compile(expr)
        except kcel.CelCompileError:
            continue
        counts["both compile"] += 1
        theirs = _upstream_estimate(answer)
        if program.max_cost == theirs:
            counts["same estimate"] += 1
        elif re.search(KNOWN_ESTIMATE, expr):
            counts["known"] += 1
        else:
            unknown.append(f"{expr}\n    kubectl-dra {program.max_cost}, upstream {theirs}")
        if answer.get("validation", "") in ("", cost.TOO_COMPLEX) and not answer.get("newExpressionsError"):
            if (answer.get("validation") == cost.TOO_COMPLEX) != (program.max_cost > cost.LIMIT) \
                    and not re.search(KNOWN_ESTIMATE, expr):
                verdicts.append(expr)
        v = _checked(expr)
        for device, r in zip(devices, answer["results"]):
            try:
                data = activation.activation_data(model_device(device))
            except activation.BadDevice:
                continue
            if "cost" in r and r["cost"] > cost.bound(v.checked, v.presence, cost.device_sizes(data)):
                unsound.append(f"{expr}: actual {r['cost']}")
    print(f"\n[oracle] cel cost estimates (seed {SEED}): {counts}")
    assert not unknown, f"{len(unknown)} estimates differ:\n" + "\n".join(unknown[:10])
    assert not verdicts, "validation verdicts differ:\n" + "\n".join(verdicts[:10])
    assert not unsound, "upstream's actual cost above kubectl-dra's bound:\n" + "\n".join(unsound[:10])


# --------------------------------------------------------------------------------------------- expensive


LONG = "ab" * 32  # 64: the longest attribute value the API allows


def expensive_devices(rng: random.Random) -> list[dict]:
    out = []
    for i in range(2):
        attrs: dict = {"model": {"string": rng.choice((LONG, "a100", "x" * 63 + "b"))}, "count": {"int": rng.randint(0, 9)}}
        for k in range(rng.choice((2, 10, 30))):
            attrs[f"a{k}"] = {"string": rng.choice((LONG[: rng.randint(0, 64)], "abc"))}
        if rng.random() < 0.5:
            attrs["other.example.com/zone"] = {"string": "a"}
        caps = {"memory": {"value": "80Gi"}}
        out.append({"driver": D, "attributes": attrs, "capacity": caps})
    return out


class CostGen:
    """Selectors that cost: nested macros over big ranges, string work on long strings."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.vars: list[tuple[str, str]] = []

    def pick(self, *xs):
        return self.rng.choice(xs)

    def source(self) -> tuple[str, str]:
        """(range text, element kind)."""
        r = self.rng
        n = self.pick(0, 3, 10, 50, 120, 400, 1500, 4000)
        return self.pick(
            (f"lists.range({n})", "int"),
            ("[" + ", ".join(str(r.randint(0, 9)) for _ in range(r.randint(0, 40))) + "]", "int"),
            ("device.attributes", "string"),
            (f'device.attributes["{D}"]', "string"),
            (json.dumps("a," * r.randint(0, 300)) + '.split(",")', "string"),
            (f'device.attributes["{D}"].model.split("")', "string"),
        )

    def string(self) -> str:
        for name, kind in reversed(self.vars):
            if kind == "string" and self.rng.random() < 0.5:
                return name
        return self.pick(f'device.attributes["{D}"].model', json.dumps("ab" * self.rng.choice((1, 50, 500, 2000))),
                         "device.driver", f'device.attributes["{D}"][?"a1"].orValue("")')

    def pred(self, depth: int) -> str:
        r = self.rng.random()
        if depth < 3 and r < 0.45:
            return self.macro(depth + 1)
        ints = [n for n, k in self.vars if k == "int"]
        if ints and r < 0.6:
            return f"{self.pick(*ints)} {self.pick('>=', '<', '!=')} {self.rng.randint(-1, 50)}"
        s = self.string()
        return self.pick(
            f"{s}.contains({json.dumps('b' * self.rng.choice((1, 5, 40)))})",
            f"{s}.matches({json.dumps(self.pick('^(ab)+$', 'a.*b', '[0-9]+', 'x{2,}'))})",
            f"{s}.startsWith({self.string()})", f"size({s}) > {self.rng.randint(0, 70)}",
            f"{s} == {self.string()}", f"{s}.lowerAscii().endsWith(\"b\")", "true", "false",
        )

    def macro(self, depth: int) -> str:
        src, kind = self.source()
        var = f"v{depth}"
        self.vars.append((var, kind))
        try:
            body = self.pred(depth)
            form = self.rng.random()
            if form < 0.35:
                return f"{src}.all({var}, {body})"
            if form < 0.6:
                return f"{src}.exists({var}, {body})"
            if form < 0.7:
                return f"{src}.exists_one({var}, {body})"
            if form < 0.85:
                return f"{src}.filter({var}, {body}).size() >= {self.rng.randint(0, 3)}"
            return f"{src}.map({var}, {body}).size() > 0"
        finally:
            self.vars.pop()


def generate_expensive(seed: int, i: int) -> tuple[str, list[dict]]:
    rng = random.Random(f"{seed}/cel-cost/{i}")
    expr = CostGen(rng).macro(1)
    if rng.random() < 0.2:
        expr = f"{expr} {rng.choice(('&&', '||'))} {CostGen(rng).macro(1)}"
    return expr, expensive_devices(rng)


def classify_runtime(a: tuple, b: tuple) -> str:
    """'agree', 'engine-iterations' (cel-expr-python stopped; known) or 'differ'."""
    if same(a, b):
        return "agree"
    if a == ("error", cost.ENGINE_BUDGET):
        return "engine-iterations"
    return "differ"


def test_expensive_selectors_agree_with_upstream(oracle):
    print(f"\n[oracle] cel cost: {N_COST} expensive selectors, KUBECTL_DRA_ORACLE_SEED={SEED}")
    cases = [generate_expensive(SEED, i) for i in range(N_COST)]
    started = time.monotonic()
    answers = cel_answers(oracle, cases)
    counts: dict[str, int] = {}
    upstream_exceeded = 0
    problems = []
    for (expr, devices), answer in zip(cases, answers):
        if answer.get("compileError"):
            problems.append(f"upstream does not compile {expr!r}: {answer['compileError']}")
            continue
        program = kcel.compile(expr)
        theirs = _upstream_estimate(answer)
        if program.max_cost != theirs:
            problems.append(f"estimate {program.max_cost} != upstream {theirs}: {expr}")
        rejected = answer.get("validation") == cost.TOO_COMPLEX
        counts["rejected by validation"] = counts.get("rejected by validation", 0) + rejected
        if rejected != (program.max_cost > cost.LIMIT):
            problems.append(f"validation verdict differs: {expr}")
        v = _checked(expr)
        for device, mine, r, i in zip(devices, ours(expr, devices), answer["results"], range(len(devices))):
            upstream = cel_outcome(answer, i)
            upstream_exceeded += upstream == ("error", cost.EXCEEDED)
            data = activation.activation_data(model_device(device))
            sizes = cost.device_sizes(data)
            verdict = classify_runtime(mine, upstream)
            if verdict == "agree" and upstream == ("error", cost.EXCEEDED):
                verdict = "agree: limit exceeded"
            elif verdict == "engine-iterations":
                verdict += ": upstream " + ("exceeded" if upstream == ("error", cost.EXCEEDED) else upstream[0])
            elif (verdict == "differ" and upstream == ("error", cost.EXCEEDED) and mine[0] == "value"
                  and cost.lower(v.checked, sizes) <= cost.LIMIT < cost.bound(v.checked, v.presence, sizes)):
                # the documented gap (docs/fidelity.md, CEL cost limits): neither bound decides, the
                # engine's answer stands; found by per-run seeds (e.g. 49570)
                verdict = "between the bounds: upstream exceeded"
            counts[verdict] = counts.get(verdict, 0) + 1
            if verdict == "differ":
                problems.append(f"{expr}\n    kubectl-dra {mine}\n    upstream    {upstream}")
            actual = r.get("cost", 0)
            if actual > cost.bound(v.checked, v.presence, sizes):
                problems.append(f"actual {actual} above the bound: {expr}")
            if upstream != ("error", cost.EXCEEDED) and cost.lower(v.checked, sizes) > actual:
                problems.append(f"actual {actual} below the lower bound {cost.lower(v.checked, sizes)}: {expr}")
    counts["upstream exceeded the runtime limit"] = upstream_exceeded
    print(f"[oracle] cel cost: {counts} in {time.monotonic() - started:.1f} s")
    assert not problems, f"{len(problems)} problems (seed {SEED}):\n" + "\n".join(problems[:15])


def test_unit_test_figures_are_upstreams(oracle):
    """tests/test_cel_cost.py's expected estimates, asked again of upstream."""
    from tests.test_cel_cost import ORACLE_ESTIMATES

    device = {"driver": D, "attributes": {"model": {"string": "a100"}, "count": {"int": 1}, "ver": {"version": "1.0.0"}},
              "capacity": {"memory": {"value": "1.5Gi"}}}
    answers = cel_answers(oracle, [(e, [device]) for e, _ in ORACLE_ESTIMATES])
    got = [(e, a.get("maxCost")) for (e, _), a in zip(ORACLE_ESTIMATES, answers)]
    assert got == list(ORACLE_ESTIMATES)
