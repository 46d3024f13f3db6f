"""Generated CEL selectors: kubectl_dra.cel against upstream's DRA CEL package (the k8sbox oracle).

A seeded, type-directed generator writes expressions over the DRA environment — the ``device``
variable and its fields, every literal kind (string and raw string literals, bytes, uints, doubles,
null, lists, maps), the operators with mixed numeric types, the standard functions and macros,
comprehensions (one and two variables), optionals, ``cel.bind``, regex literals, durations and
timestamps, the Kubernetes quantity and semver libraries, the lists/sets/strings extensions — and
a share of deliberately ill-typed ones. Each expression is evaluated against a few generated
devices by kubectl_dra.cel and by the oracle; the outcome (compile error / runtime error / true /
false) must be the same.

KUBECTL_DRA_ORACLE_CEL_CASES (default 5000) sets how many expressions, KUBECTL_DRA_ORACLE_SEED the
seed (printed; default 1, `random` draws one from the clock to explore). Differences found earlier are kept in oracle_cases/cel-regressions.json and must
agree; KNOWN lists what cannot agree (with the reason), each pinned by a strict xfail.
"""

from __future__ import annotations

import json
import os
import re
import random
import time
from pathlib import Path

import pytest

from kubectl_dra import cel as kcel
from kubectl_dra.model.device import Device
from tests.e2e.oracle import CASES, cel_outcome, oracle  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e

N_CASES = int(os.environ.get("KUBECTL_DRA_ORACLE_CEL_CASES", "5000"))
#: fixed by default so that CI's verdict does not depend on the day: each exploring run with
#: KUBECTL_DRA_ORACLE_SEED=random (or a number) has found rare engine differences, which are then
#: pinned in KNOWN or fixed; a CI run must not go red on one it happened to draw
_seed = os.environ.get("KUBECTL_DRA_ORACLE_SEED", "1")
SEED = int(time.time()) % 100000 if _seed == "random" else int(_seed)
REGRESSIONS = CASES / "cel-regressions.json"

#: what kubectl_dra.cel cannot do like upstream (cel-expr-python 0.1.3 lacks it; see the report /
#: kubectl_dra.cel docstring): name -> (pattern over the expression, pattern over "ours | upstream"
#: outcomes, reason, a minimal reproducer pinned below as a strict xfail). A generated expression that
#: differs and matches both patterns is counted under the class; any other difference fails the test.
KNOWN: dict[str, tuple[str, str, str, str]] = {
    "two-variable-comprehensions": (
        r"\.(all|exists|existsOne|exists_one)\(\s*\w+\s*,\s*\w+\s*,|\.transform(List|Map|MapEntry)\(|\.sortBy\(",
        r"undeclared reference",
        "two-variable comprehensions (cel-go ext.TwoVarComprehensions, 1.32+) and the lists extension's sortBy "
        "are parser macros; the cel-cpp parser of cel-expr-python 0.1.3 has no switch for them",
        "[1, 2].all(i, v, v > 0)"),
    "map-literal-dynamic-key": (
        r"\{", r"Invalid map key type",
        "a map literal whose key is only known at run time to be a map or a list: cel-cpp refuses to build "
        "the map (Invalid map key type), cel-go builds it without checking key types, so lookups simply miss",
        '"x" in {dyn({}): 1}'),
    "url-ip-cidr-libraries": (
        r"\b(isURL|url|ip|isIP|cidr|isCIDR)\(", r".",
        "the Kubernetes url/ip/cidr libraries are not implemented in kubectl_dra.cel",
        'isURL("https://example.com")'),
    "format-string-validation": (
        r"\.format\(", r"error during formatting|.",
        "cel-go validates constant format strings against the argument types at compile time "
        "(ext stringFormatValidator); kubectl_dra.cel does not",
        '"%s-%d".format([device.attributes["dra.example.com"]["model"], 1]) == ""'),
    "quantity-isinteger-form": (
        r"isInteger\(\)|asInteger\(\)", r".",
        "Go's Quantity.isInteger() answers from the parsed form (1.5Gi and 1000m are not int64Amounts); the "
        "tagged quantity value keeps only the number",
        'quantity("1.5Gi").isInteger()'),
    "constant-folding-errors": (
        r"\d+u\b|uint\(|double\(|int\(", r"program instantiation failed",
        "cel-go's OptOptimize evaluates some constant conversions and unsigned arithmetic while planning the "
        "program, so their errors are compile errors there; runtime errors here",
        'double("") > 1.0'),
    "generic-list-function-typing": (
        r"\.(reverse|distinct|sort|slice|flatten)\(|sets\.", r"found no matching overload|no such overload",
        "type parameters cannot be declared through cel-expr-python: generic list functions have one overload "
        "per element type, so an empty or any-typed list picks the first one",
        "sets.intersects([1.5].sort(), [].reverse())"),
    "opaque-equality": (
        r"==|!=", r"\('value', \w+\) \| \('error', 'no such overload'\)",
        "upstream quantities and semvers are opaque values whose == with another type is an error at run "
        "time; here they are tagged maps and compare unequal",
        'device.attributes["dra.example.com"].ver == false'),
    "opaque-type": (
        r"type\([^()]*(ver|quantity|semver|capacity)", r".",
        "a quantity or semver is a tagged map here, so type() of one is map (kubernetes.Quantity / "
        "kubernetes.Semver upstream)",
        'type(device.attributes["dra.example.com"].ver) == map'),
    "any-versus-dyn": (
        r".", r"expected type \\?'(any|dyn)\\?' but found|but found \\?'(any|list\(_var)|not dyn'\) \| \('(value|error)",
        "attribute values are google.protobuf.Any upstream and dyn here: a list literal mixing an attribute "
        "with a dyn value, or a list function called on an attribute, type-checks differently",
        '[device.attributes["dra.example.com"]["count"], dyn(1)].size() == 2'),
    "cel-cpp-strings-extension": (
        r"split\(\"\"\)", r".",
        "cel-cpp's strings extension splits the empty string by \"\" into [\"\"], cel-go into []",
        '"".split("").size() == 0'),
    "nan-ordering": (
        r".", r"NaN values cannot be ordered",
        "cel-go's ordering operators are an error for NaN; cel-cpp answers false",
        "0.0 / 0.0 < 1.0"),
    "quantity-int64-arithmetic": (
        r"\.(add|sub)\(.*9223372036854775808", r".",
        "Go's Quantity.Add/Sub of an int64 at the int64 limits differs from exact arithmetic on the value",
        'quantity("1Gi").sub(-9223372036854775808).isGreaterThan(quantity("1"))'),
    "upstream-internal-error": (
        r".", r"internal error: interface conversion",
        "cel-go fails with an internal error (an error value where a list was expected) where cel-cpp "
        "short-circuits; upstream's bug, not reproduced",
        "sets.contains([].sort(), [8 / device.attributes[\"missing.example.com\"].level].sort()) || true"),
    "quantity-arithmetic-aliasing": (
        r"\.(add|sub)\(", r"\('value', \w+\) \| \('value', \w+\)",
        "upstream's quantity sub()/add() on a quantity held in Go's inf.Dec form (1.5Gi) change the stored "
        "capacity value, so a later lookup of the same capacity sees the result; here values are immutable",
        'cel.bind(b, device.capacity[device.driver]["memory"], b.sub(b).sub(0x1F)).isLessThan('
        'device.capacity[device.driver].memory)'),
    "double-string-format": (
        r"string\([^)]*\d\.\d", r".",
        "string() of a double: Go writes +Inf / 1e+06 where cel-cpp writes inf / 1e6",
        'string(1.0 / 0.0) == "+Inf"'),
    "constant-in-empty-list": (
        r" in \[\]", r".",
        "cel-go folds `x in []` to false while planning, so an error in x never surfaces",
        'device.attributes["other.example.com"]["level"] in []'),
}

D = "dra.example.com"
O = "other.example.com"

# --------------------------------------------------------------------------------------------- devices


def make_devices(rng: random.Random) -> list[dict]:
    """A few devices in the API's wire shape (what the oracle reads)."""
    out = []
    for i in range(3):
        attrs: dict = {}
        if rng.random() < 0.9:
            attrs["model"] = {"string": rng.choice(("a100", "h100", "", "A100-80GB", "l4"))}
        if rng.random() < 0.9:
            attrs["count"] = {"int": rng.choice((0, 1, 2, 7, -3, 80, 9007199254740993))}
        if rng.random() < 0.8:
            attrs["flag"] = {"bool": rng.random() < 0.5}
        if rng.random() < 0.7:
            attrs["ver"] = {"version": rng.choice(("1.0.0", "1.2.3", "2.0.0-rc.1", "0.9.10+build.7", "10.0.0"))}
        if rng.random() < 0.4:
            attrs[f"{O}/zone"] = {"string": rng.choice(("a", "b"))}
        if rng.random() < 0.3:
            attrs[f"{O}/level"] = {"int": rng.choice((1, 2, 3))}
        caps: dict = {}
        if rng.random() < 0.85:
            caps["memory"] = {"value": rng.choice(("80Gi", "1Gi", "1024Mi", "0", "1.5Gi", "500m"))}
        if rng.random() < 0.5:
            caps["cores"] = {"value": rng.choice(("4", "8", "2k", "1e3"))}
        if rng.random() < 0.2:
            caps[f"{O}/slots"] = {"value": rng.choice(("1", "16"))}
        dev = {"driver": D if i < 2 or rng.random() < 0.5 else O, "attributes": attrs, "capacity": caps}
        if rng.random() < 0.3:
            dev["allowMultipleAllocations"] = rng.random() < 0.5
        out.append(dev)
    return out


def model_device(wire: dict) -> Device:
    """The same device as kubectl_dra's model holds it (qualified names, plain values, kinds)."""
    driver = wire["driver"]
    attrs, kinds = {}, {}
    for name, raw in wire["attributes"].items():
        q = name if "/" in name else f"{driver}/{name}"
        (kind, value), = raw.items()
        attrs[q] = value
        if kind not in ("string", "int", "bool"):
            kinds[q] = kind
    caps = {(n if "/" in n else f"{driver}/{n}"): v["value"] for n, v in wire["capacity"].items()}
    return Device(driver=driver, pool="p", name="d", attributes=attrs, attribute_kinds=kinds or None, capacity=caps,
                  allow_multiple_allocations=bool(wire.get("allowMultipleAllocations")))


# --------------------------------------------------------------------------------------------- expressions


REGEXES = (json.dumps("^a"), json.dumps("[0-9]+"), json.dumps("["), json.dumps("(?i)A1"), 'r"\\d"', json.dumps("a{2,1}"))


class Gen:
    """Type-directed random CEL. ``expr(t, depth)`` returns text of (roughly) type t."""

    TYPES = ("bool", "int", "uint", "double", "string", "bytes", "list", "map", "quantity", "semver", "dyn",
             "duration", "timestamp", "optional")

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.vars: list[tuple[str, str]] = []  # comprehension/bind variables in scope: (name, type)

    def pick(self, *xs):
        return self.rng.choice(xs)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # ------------------------------------------------------------- leaves
    def string_lit(self) -> str:
        r = self.rng.random()
        if r < 0.08:
            return self.pick('r"a\\d+"', "r'x\\n'", '"""tri"ple"""', "'''x'''")
        if r < 0.15:
            return self.pick('"\\u00e9t\\u00e9"', '"tab\\there"', '"\\x41\\101"', '"quote\\"s"', "'single'")
        return json.dumps(self.pick("a100", "h100", "", "A100-80GB", "model", "count", "dra.example.com", "a", "b",
                                    "1Gi", "1.2.3", "ab,cd", " pad ", "x"))

    def attr_ref(self, kind: str = "") -> str:
        dom = self.pick(f'"{D}"', f'"{D}"', "device.driver", f'"{O}"', '"missing.example.com"')
        names = {"string": ("model",), "int": ("count", "level"), "bool": ("flag",), "semver": ("ver",)}
        name = self.pick(*names.get(kind, ("model", "count", "flag", "ver", "zone", "level", "nosuch")))
        if dom == f'"{O}"' and kind in ("", "string"):
            name = self.pick("zone", name)
        if dom == f'"{O}"' and kind == "int":
            name = "level"
        form = self.rng.random()
        base = f"device.attributes[{dom}]"
        if form < 0.6:
            return f"{base}.{name}"
        if form < 0.85:
            return f'{base}["{name}"]'
        return f'{base}[?"{name}"].orValue({self.default_for(kind)})'

    def default_for(self, kind: str) -> str:
        return {"string": '""', "int": "0", "bool": "false", "semver": 'semver("0.0.1")'}.get(kind, '""')

    def cap_ref(self) -> str:
        dom = self.pick(f'"{D}"', "device.driver", f'"{O}"')
        name = self.pick("memory", "memory", "cores", "slots", "nosuch")
        return self.pick(f"device.capacity[{dom}].{name}", f'device.capacity[{dom}]["{name}"]')

    def guarded(self, ref: str, body: str) -> str:
        """``has``/``in`` guard for a lookup (often), so that runtime errors are the exception."""
        if not self.chance(0.5) or "[?" in ref:
            return body
        base, _, name = ref.rpartition(".") if not ref.endswith("]") else (ref[: ref.rindex("[")], "", ref[ref.rindex("[") + 2:-2])
        return f'("{name}" in {base} && {body})' if name else body

    # ------------------------------------------------------------- typed expressions
    def expr(self, t: str, depth: int = 0) -> str:
        if depth > 3 or self.chance(0.25 if depth else 0.05):
            return self.leaf(t)
        fn = getattr(self, f"e_{t}")
        return fn(depth + 1)

    def leaf(self, t: str) -> str:
        r = self.rng
        for name, vt in self.vars:
            if vt == t and self.chance(0.5):
                return name
        if t == "bool":
            return self.pick("true", "false", "device.allowMultipleAllocations", self.attr_ref("bool"))
        if t == "int":
            return self.pick(str(r.randint(-5, 10)), "0", "-9223372036854775808", "0x1F", self.attr_ref("int"),
                             "size(device.attributes)")
        if t == "uint":
            return self.pick("1u", "0u", "18446744073709551615u", "uint(3)")
        if t == "double":
            return self.pick("1.5", "0.0", "-2.25", "1e3", "double(2)", "1.0")
        if t == "string":
            return self.pick(self.string_lit(), "device.driver", self.attr_ref("string"))
        if t == "bytes":
            return self.pick('b"abc"', "b''", 'bytes("x")')
        if t == "list":
            return self.pick("[1, 2, 3]", '["a", "b"]', "[]", "[1.5, 2.5]", "[[1], [2, 3]]", '[true, false]')
        if t == "map":
            return self.pick('{"a": 1, "b": 2}', "{}", '{1: "x"}', "device.attributes", f'device.attributes["{D}"]',
                             "device.capacity")
        if t == "quantity":
            return self.pick('quantity("1Gi")', 'quantity("1.5")', 'quantity("100m")', self.cap_ref())
        if t == "semver":
            return self.pick('semver("1.2.3")', 'semver("v1.0", true)', self.attr_ref("semver"))
        if t == "duration":
            return self.pick('duration("1h")', 'duration("30s")', 'duration("1.5h")')
        if t == "timestamp":
            return self.pick('timestamp("2024-01-01T00:00:00Z")', 'timestamp("2000-06-15T12:00:00+02:00")')
        if t == "optional":
            return self.pick("optional.none()", "optional.of(1)", f'device.attributes[?"{D}"]',
                             '{"a": 1}[?"a"]', f'device.attributes["{D}"][?"model"]')
        return self.leaf(self.pick("bool", "int", "string", "double"))  # dyn

    def e_bool(self, d: int) -> str:
        r = self.rng.random()
        if r < 0.12:
            return f"{self.expr('bool', d)} {self.pick('&&', '||')} {self.expr('bool', d)}"
        if r < 0.16:
            return f"!{self.expr('bool', d)}"
        if r < 0.34:
            t = self.pick("int", "int", "double", "uint", "string", "quantity", "bool", "semver", "dyn", "bytes",
                          "duration", "timestamp")
            a, b = self.expr(t, d), self.expr(t if self.chance(0.7) else self.pick("int", "double", "uint", "string"), d)
            op = self.pick("==", "!=", "<", "<=", ">", ">=")
            return f"{a} {op} {b}"
        if r < 0.42:
            return self.pick(f"{self.expr('string', d)} in {self.expr('list', d)}",
                             f'"{self.pick("model", "count", "flag", "nosuch")}" in {self.expr("map", d)}',
                             f'"{self.pick(D, O, "x.example.com")}" in device.{self.pick("attributes", "capacity")}',
                             f"{self.expr('int', d)} in {self.expr('list', d)}")
        if r < 0.48:
            return self.pick(f'has(device.attributes["{D}"].{self.pick("model", "count", "nosuch")})',
                             f"has(device.{self.pick('driver', 'attributes', 'capacity', 'allowMultipleAllocations', 'nosuch')})",
                             f'has({{"a": 1}}.{self.pick("a", "b")})')
        if r < 0.62:
            s = self.expr("string", d)
            return self.pick(
                f"{s}.startsWith({self.expr('string', d)})", f"{s}.endsWith({self.expr('string', d)})",
                f"{s}.contains({self.expr('string', d)})",
                f"{s}.matches({self.pick(*REGEXES)})",
                f"matches({s}, {self.pick(json.dumps('a.*'), json.dumps('('), json.dumps('x'))})",
                f"isQuantity({s})", f"isSemver({s})", f"isSemver({s}, true)", f"isURL({s})",
                f"{self.expr('list', d)}.isSorted()")
        if r < 0.70:
            q = self.expr("quantity", d)
            return self.pick(f"{q}.isGreaterThan({self.expr('quantity', d)})", f"{q}.isLessThan({self.expr('quantity', d)})",
                             f"{q}.isInteger()", f"{self.expr('semver', d)}.isGreaterThan({self.expr('semver', d)})",
                             f"{self.expr('semver', d)}.isLessThan({self.expr('semver', d)})")
        if r < 0.82:
            return self.comprehension("bool", d)
        if r < 0.86:
            return self.pick(f"sets.contains({self.expr('list', d)}, {self.expr('list', d)})",
                             f"sets.intersects({self.expr('list', d)}, {self.expr('list', d)})",
                             f"sets.equivalent({self.expr('list', d)}, {self.expr('list', d)})")
        if r < 0.90:
            return f"{self.expr('optional', d)}.hasValue()"
        if r < 0.94:
            return self.bind("bool", d)
        if r < 0.97:
            return f"{self.expr('bool', d)} ? {self.expr('bool', d)} : {self.expr('bool', d)}"
        return self.pick(f"{self.expr('dyn', d)}", f"{self.expr('string', d)}", f"type({self.expr('dyn', d)}) == {self.pick('int', 'string', 'bool', 'double', 'list', 'map', 'uint', 'null_type')}")

    def e_int(self, d: int) -> str:
        r = self.rng.random()
        if r < 0.3:
            return f"{self.expr('int', d)} {self.pick('+', '-', '*', '/', '%')} {self.expr('int', d)}"
        if r < 0.45:
            return self.pick(f"size({self.expr(self.pick('string', 'list', 'map', 'bytes'), d)})",
                             f"{self.expr('string', d)}.size()")
        if r < 0.6:
            q = self.expr("quantity", d)
            return self.pick(f"{q}.compareTo({self.expr('quantity', d)})", f"{q}.asInteger()", f"sign({q})" if self.chance(0.8) else f"{q}.sign()",
                             f"{self.expr('semver', d)}.{self.pick('major', 'minor', 'patch')}()",
                             f"{self.expr('semver', d)}.compareTo({self.expr('semver', d)})")
        if r < 0.72:
            return self.pick(f"int({self.expr(self.pick('string', 'double', 'uint', 'timestamp'), d)})",
                             f"{self.expr('string', d)}.indexOf({self.expr('string', d)})",
                             f"{self.expr('string', d)}.lastIndexOf({self.expr('string', d)})")
        if r < 0.84:
            return self.pick("[3, 1, 2].sum()", "[3, 1, 2].min()", "[3, 1, 2].max()", "[1, 2, 1].indexOf(1)",
                             "[1, 2, 1].lastIndexOf(1)", f"lists.range({self.rng.randint(0, 5)}).sum()",
                             f"{self.expr('list', d)}.size()", "[1, 2, 3][1]", "[[1, 2]][0][1]")
        if r < 0.9:
            return self.bind("int", d)
        return f"{self.expr('bool', d)} ? {self.expr('int', d)} : {self.expr('int', d)}"

    def e_uint(self, d: int) -> str:
        return self.pick(f"{self.expr('uint', d)} + {self.expr('uint', d)}", f"uint({self.expr('int', d)})",
                         "1u - 2u", "5u / 2u")

    def e_double(self, d: int) -> str:
        return self.pick(f"{self.expr('double', d)} {self.pick('+', '-', '*', '/')} {self.expr('double', d)}",
                         f"double({self.expr(self.pick('int', 'string', 'uint'), d)})",
                         f"{self.expr('quantity', d)}.asApproximateFloat()", "[1.5, 0.5].sum()", "1.0 / 0.0")

    def e_string(self, d: int) -> str:
        s = self.expr("string", d)
        return self.pick(
            f"{s} + {self.expr('string', d)}", f"{s}.lowerAscii()", f"{s}.upperAscii()", f"{s}.trim()",
            f"{s}.replace({self.string_lit()}, {self.string_lit()})", f"{s}.substring({self.rng.randint(0, 3)})",
            f"{s}.substring(0, {self.rng.randint(0, 4)})", f"{s}.charAt({self.rng.randint(0, 3)})",
            f"string({self.expr(self.pick('int', 'double', 'uint', 'bool', 'bytes', 'quantity', 'semver'), d)})",
            f"{self.expr('list', d)}.join({self.string_lit()})", f'["a", "b"].join()', f"strings.quote({s})",
            f"{s}.reverse()", f'"%s-%d".format([{s}, 1])', f"{s}.split(\",\")[0]",
            f'{s}.find("[a-z]+")', f'{s}.findAll("[0-9]")[0]' if self.chance(0.3) else f'{s}.find("x")',
            f"{self.expr('optional', d)}.orValue({s})", self.bind("string", d),
            f"type({self.expr('dyn', d)}) == string ? {s} : {self.string_lit()}",
            f"url({s}).getScheme()" if self.chance(0.2) else s)

    def e_bytes(self, d: int) -> str:
        return self.pick(f"{self.expr('bytes', d)} + {self.expr('bytes', d)}", f"bytes({self.expr('string', d)})")

    def e_list(self, d: int) -> str:
        items = self.pick("int", "string", "double", "bool")
        n = self.rng.randint(0, 3)
        lit = "[" + ", ".join(self.expr(items, d) for _ in range(n)) + "]"
        if self.chance(0.08):
            lit = f"[{self.expr('int', d)}, {self.expr('string', d)}]"  # mixed: a compile error upstream
        return self.pick(
            lit, lit, f"{lit} + {self.expr('list', d)}", self.comprehension("list", d),
            f"{self.expr('string', d)}.split({self.string_lit()})", f"lists.range({self.rng.randint(0, 4)})",
            f"{lit}.slice(0, {self.rng.randint(0, 2)})", f"[[1, 2], [3]].flatten()", f"{lit}.distinct()",
            f"{lit}.reverse()", f"{lit}.sort()", f"{lit}.sortBy(x, -x)" if items == "int" else f"{lit}.sort()",
            f"{self.expr('map', d)}.transformList(k, v, k)" if self.chance(0.3) else lit,
            f"{lit}.first().hasValue() ? {lit} : []",
            f"dyn({lit})")

    def e_map(self, d: int) -> str:
        return self.pick(
            f'{{"a": {self.expr("int", d)}, "b": {self.expr("int", d)}}}',
            f'{{"a": {self.expr("int", d)}, "b": {self.expr("string", d)}}}',
            f'{{{self.expr("string", d)}: 1}}', f'device.attributes[{self.pick(json.dumps(D), "device.driver", json.dumps(O))}]',
            f'device.capacity["{D}"]', f"[1, 2].transformMap(i, v, v * 2)" if self.chance(0.5) else "{}",
            "{1: 2, 1u: 3}" if self.chance(0.1) else '{"k": "v"}')

    def e_quantity(self, d: int) -> str:
        q = self.expr("quantity", d)
        return self.pick(f"{q}.add({self.expr(self.pick('quantity', 'int'), d)})",
                         f"{q}.sub({self.expr(self.pick('quantity', 'int'), d)})",
                         f'quantity({self.pick(json.dumps(x) for x in ("1Gi", "2.5", "1e3", "bogus", "-1", "1.5Gi", "0.001"))})',
                         self.cap_ref(), self.bind("quantity", d))

    def e_semver(self, d: int) -> str:
        return self.pick(f'semver({self.pick(*(json.dumps(x) for x in ("1.0.0", "v1.2", "01.2.3", "1.2.3-alpha.1", "bogus")))})',
                         f'semver({self.pick(*(json.dumps(x) for x in ("v1.2", "1.2", "01.02.03")))}, true)',
                         self.attr_ref("semver"))

    def e_dyn(self, d: int) -> str:
        return self.pick(self.attr_ref(), f"dyn({self.expr(self.pick('int', 'string', 'bool', 'double'), d)})",
                         '{"a": 1, "b": "x"}["a"]', "[1, 2][0]", "null", self.expr(self.pick("int", "string", "bool"), d))

    def e_duration(self, d: int) -> str:
        return self.pick(f'duration({self.pick(*(json.dumps(x) for x in ("1h", "90m", "bogus", "1.5s", "-2h30m")))})',
                         f"{self.expr('duration', d)} + {self.expr('duration', d)}",
                         f"{self.expr('timestamp', d)} - {self.expr('timestamp', d)}")

    def e_timestamp(self, d: int) -> str:
        return self.pick(f'timestamp({self.pick(*(json.dumps(x) for x in ("2024-02-30T00:00:00Z", "bogus", "2024-01-01T00:00:00Z", "1970-01-01T00:00:00.5Z")))})',
                         f"{self.expr('timestamp', d)} + {self.expr('duration', d)}", "timestamp(0)")

    def e_optional(self, d: int) -> str:
        return self.pick(f"optional.of({self.expr('int', d)})", f"optional.ofNonZeroValue({self.expr('string', d)})",
                         f"{self.expr('optional', d)}.or({self.expr('optional', d)})",
                         f'device.attributes[?{json.dumps(self.pick(D, O, "x.example.com"))}]',
                         f'{self.attr_ref().replace(".", ".?", 1) if self.chance(0.0) else "optional.none()"}',
                         f"[1, 2][?{self.rng.randint(0, 3)}]", f'{{"a": 1}}.?a', f'device.attributes["{D}"].?model')

    def comprehension(self, t: str, d: int) -> str:
        var = self.pick("x", "y", "e")
        src_t = self.pick("list", "list", "map") if t == "bool" else "list"  # map order is random in Go
        src = self.expr(src_t, d) if self.chance(0.6) else self.pick(
            *((f'device.attributes["{D}"]', "device.capacity") if t == "bool" else ()),
            "[1, 2, 3]", '["a", "bb"]', "lists.range(3)")
        self.vars.append((var, "dyn"))
        try:
            if t == "bool":
                macro = self.pick("all", "exists", "exists_one", "all", "exists", "existsOne")
                if self.chance(0.2):
                    self.vars.append(("v", "dyn"))
                    try:
                        return f"{src}.{self.pick('all', 'exists', 'existsOne')}({var}, v, {self.expr('bool', d)})"
                    finally:
                        self.vars.pop()
                return f"{src}.{macro}({var}, {self.expr('bool', d)})"
            return self.pick(f"{src}.map({var}, {self.expr(self.pick('int', 'string', 'dyn'), d)})",
                             f"{src}.filter({var}, {self.expr('bool', d)})",
                             f"{src}.map({var}, {self.expr('bool', d)}, {var})")
        finally:
            self.vars.pop()

    def bind(self, t: str, d: int) -> str:
        name = self.pick("b", "dom", "q")
        value_t = self.pick("int", "string", "map", "quantity", t)
        value = self.expr(value_t, d) if value_t != "map" else self.pick(f'device.attributes["{D}"]', f'device.capacity["{D}"]')
        self.vars.append((name, value_t if value_t != "map" else "map"))
        try:
            return f"cel.bind({name}, {value}, {self.expr(t, d)})"
        finally:
            self.vars.pop()


def generate(seed: int, i: int) -> tuple[str, list[dict]]:
    rng = random.Random(f"{seed}/cel/{i}")
    g = Gen(rng)
    expr = g.expr("bool")
    if rng.random() < 0.03:  # a typo in a field or a stray token
        expr = rng.choice((expr.replace("device.driver", "device.drivr", 1), expr + " &&", "(" + expr))
    return expr, make_devices(rng)


# --------------------------------------------------------------------------------------------- comparing


def ours(expression: str, devices: list[dict]) -> list[tuple[str, object]]:
    try:
        program = kcel.compile(expression)
    except kcel.CelCompileError as e:
        return [("compile", str(e))] * len(devices)
    out = []
    for d in devices:
        r = program.evaluate(model_device(d))
        out.append(("error", r.error) if r.error is not None else ("value", r.matched))
    return out


def theirs(answer: dict, n: int) -> list[tuple[str, object]]:
    return [cel_outcome(answer, i) for i in range(n)]


def same(a: tuple[str, object], b: tuple[str, object]) -> bool:
    return a[0] == b[0] and (a[0] != "value" or a[1] == b[1])


_ANSWERS: dict[str, list[dict]] = {}


def cel_answers(oracle, cases: list[tuple[str, list[dict]]]) -> list[dict]:
    """The oracle's answers, asked once per run for the same cases (the cost tests reuse the generated run)."""
    key = json.dumps(cases, sort_keys=True)
    if key not in _ANSWERS:
        _ANSWERS[key] = oracle.cel([{"id": i, "expression": e, "devices": ds} for i, (e, ds) in enumerate(cases)])
    return _ANSWERS[key]


def compare(oracle, cases: list[tuple[str, list[dict]]]) -> list[tuple[int, list[tuple], list[tuple]]]:
    answers = cel_answers(oracle, cases)
    diffs = []
    for i, ((expr, devices), answer) in enumerate(zip(cases, answers)):
        if answer.get("panic"):
            raise AssertionError(f"oracle panicked on {expr!r}: {answer['panic']}")
        a, b = ours(expr, devices), theirs(answer, len(devices))
        if not all(same(x, y) for x, y in zip(a, b)):
            diffs.append((i, a, b))
    return diffs


def classify(expr: str, a, b) -> str | None:
    text = f"{a} | {b}"
    for name, (expr_re, outcome_re, _, _) in KNOWN.items():
        if re.search(expr_re, expr) and re.search(outcome_re, text):
            return name
    return None


def describe(expr: str, a, b) -> str:
    return f"{expr}\n    kubectl-dra: {a}\n    upstream:    {b}"


# --------------------------------------------------------------------------------------------- tests


def test_generated_selectors_agree_with_upstream(oracle):
    print(f"\n[oracle] cel: {N_CASES} generated expressions, KUBECTL_DRA_ORACLE_SEED={SEED}")
    cases = [generate(SEED, i) for i in range(N_CASES)]
    started = time.monotonic()
    diffs = compare(oracle, cases)
    counts: dict[str, int] = {"agree": N_CASES - len(diffs)}
    unknown = []
    for i, a, b in diffs:
        k = next(j for j, (x, y) in enumerate(zip(a, b)) if not same(x, y))
        cls = classify(cases[i][0], a[k], b[k])
        counts[cls or "UNKNOWN"] = counts.get(cls or "UNKNOWN", 0) + 1
        if cls is None:
            unknown.append((i, a[k], b[k]))
    print(f"[oracle] cel: {counts} in {time.monotonic() - started:.1f} s")
    if unknown:
        shown = "\n".join(describe(cases[i][0], a, b) for i, a, b in unknown[:15])
        pytest.fail(f"{len(unknown)} of {N_CASES} generated selectors differ from upstream in no known way "
                    f"(seed {SEED}):\n{shown}", pytrace=False)


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_difference_is_still_there(oracle, name):
    """Each known class, pinned by its reproducer: a strict xfail, so a fix shows up as XPASS."""
    expr_re, outcome_re, reason, example = KNOWN[name]
    device = {"driver": D, "attributes": {"model": {"string": "a100"}, "count": {"int": 1}, "ver": {"version": "1.0.0"}},
              "capacity": {"memory": {"value": "1.5Gi"}}}
    diffs = compare(oracle, [(example, [device])])
    if diffs:
        pytest.xfail(reason)
    pytest.fail(f"{name}: {example!r} now agrees with upstream; drop it from KNOWN")


def _regressions() -> list[dict]:
    if not REGRESSIONS.is_file():
        return []
    return json.loads(REGRESSIONS.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", _regressions(), ids=lambda c: c["expression"][:60])
def test_regression_selector_agrees_with_upstream(oracle, case):
    diffs = compare(oracle, [(case["expression"], case["devices"])])
    assert not diffs, describe(case["expression"], diffs[0][1], diffs[0][2])
