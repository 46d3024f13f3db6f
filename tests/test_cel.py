"""CEL device selectors: cases after Kubernetes' DRA cel/compile_test.go and the apiserver
quantity/semver library tests (own cases, same semantics)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubectl_dra import cel
from kubectl_dra.errors import ExitCode, UsageError
from kubectl_dra.model.decode import decode

FIXTURES = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "upstream"
)
D = "dra.example.com"


def device(
    driver: str = D,
    attributes: dict | None = None,
    capacity: dict | None = None,
    multi: bool | None = None,
):
    body: dict = {"name": "dev-0"}
    if attributes:
        body["attributes"] = attributes
    if capacity:
        body["capacity"] = {k: {"value": v} for k, v in capacity.items()}
    if multi is not None:
        body["allowMultipleAllocations"] = multi
    s = decode(
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceSlice",
            "metadata": {"name": "s"},
            "spec": {
                "driver": driver,
                "pool": {"name": "p", "generation": 1, "resourceSliceCount": 1},
                "allNodes": True,
                "devices": [body],
            },
        }
    )
    return s.devices[0]


B = {"bool": True}
FULL = {
    "attributes": {
        "bool": {"bool": True},
        "int": {"int": 1},
        "string": {"string": "fish"},
        "version": {"version": "1.0.0"},
        "services": {"string": "asymetric"},
        "other.example.com/name": {"bool": True},
        "resource.kubernetes.io/pcieRoot": {"string": "pci0000:00"},
    },
    "capacity": {"quantity": "1Mi", "memory": "81559Mi", "cores": "3"},
}

# (id, expression, device kwargs, expected: True/False or "error:<substring>")
CASES = [
    ("true", "true", {}, True),
    ("false", "false", {}, False),
    ("empty-driver", 'device.driver == "other"', {"driver": "other"}, True),
    ("real-driver-name", f'device.driver == "{D}"', {}, True),
    ("domain-check-negative", '"no-such-domain" in device.attributes', {}, False),
    (
        "domain-check-positive",
        f'"{D}" in device.attributes',
        {"attributes": {"something": B}},
        True,
    ),
    (
        "unknown-domain-in-false",
        f'"{D}" in device.capacity',
        {"attributes": {"something": B}},
        False,
    ),
    (
        "driver-name-qualifier",
        f'device.attributes["{D}"].name',
        {"attributes": {"name": B}},
        True,
    ),
    (
        "map-lookup",
        f'device.attributes["{D}"]["name"]',
        {"attributes": {"name": B}},
        True,
    ),
    (
        "qualified-attribute-name",
        'device.attributes["other.example.com"].name',
        FULL,
        True,
    ),
    (
        "standard-domain",
        'device.attributes["resource.kubernetes.io"].pcieRoot == "pci0000:00"',
        FULL,
        True,
    ),
    (
        "bind",
        f'cel.bind(dra, device.attributes["{D}"], dra.name)',
        {"attributes": {"name": B}},
        True,
    ),
    (
        "bind-two",
        f'cel.bind(a, device.attributes["{D}"], a.int == 1 && a.string == "fish")',
        FULL,
        True,
    ),
    ("int", f'device.attributes["{D}"].int > 0', FULL, True),
    ("string", f'device.attributes["{D}"].string == "fish"', FULL, True),
    (
        "semver-attr",
        f'device.attributes["{D}"].version.isGreaterThan(semver("0.0.1"))',
        FULL,
        True,
    ),
    (
        "semver-attr-eq",
        f'device.attributes["{D}"].version == semver("1.0.0")',
        FULL,
        True,
    ),
    (
        "semver-attr-vs-string",
        f'device.attributes["{D}"].version == "1.0.0"',
        FULL,
        False,
    ),
    (
        "semver-normalize",
        f'device.attributes["{D}"].version.isGreaterThan(semver("v0.0.1", true)) && isSemver("v1.0.0", true)',
        FULL,
        True,
    ),
    (
        "quantity-cap",
        f'device.capacity["{D}"].quantity.isGreaterThan(quantity("1Ki"))',
        FULL,
        True,
    ),
    (
        "quantity-cap-compare",
        f"device.capacity['{D}'].cores.compareTo(quantity('2')) >= 0",
        FULL,
        True,
    ),
    (
        "quantity-81559Mi-ge-80Gi",
        f'device.capacity["{D}"].memory.compareTo(quantity("80Gi")) >= 0',
        FULL,
        False,
    ),
    (
        "quantity-81559Mi-gt-79Gi",
        f'device.capacity["{D}"].memory.isGreaterThan(quantity("79Gi"))',
        FULL,
        True,
    ),
    (
        "quantity-81559Mi-lt-80Gi",
        f'device.capacity["{D}"].memory.isLessThan(quantity("80Gi"))',
        FULL,
        True,
    ),
    (
        "quantity-81559Mi-gt-85G",
        f'device.capacity["{D}"].memory.isGreaterThan(quantity("85G"))',
        FULL,
        True,
    ),
    ("regexp", f'device.attributes["{D}"].services.matches("[^a]?sym")', FULL, True),
    (
        "split",
        f'device.attributes["{D}"].services.split("sym").size() >= 2',
        FULL,
        True,
    ),
    (
        "strings-lowerAscii",
        f'device.attributes["{D}"].string.upperAscii().lowerAscii() == "fish"',
        FULL,
        True,
    ),
    (
        "strings-startsWith-contains",
        f'device.attributes["{D}"].services.startsWith("asy") && device.attributes["{D}"].services.contains("met")',
        FULL,
        True,
    ),
    (
        "check-attribute-domains",
        f'device.attributes.exists_one(x, x == "{D}")',
        {"attributes": {"services": B}},
        True,
    ),
    (
        "check-attribute-ids",
        f'device.attributes["{D}"].exists_one(x, x == "services")',
        {"attributes": {"services": B}},
        True,
    ),
    (
        "check-capacity-domains",
        f'device.capacity.exists_one(x, x == "{D}")',
        {"capacity": {"memory": "1Mi"}},
        True,
    ),
    (
        "check-capacity-ids",
        f'device.capacity["{D}"].exists_one(x, x == "memory")',
        {"capacity": {"memory": "1Mi"}},
        True,
    ),
    (
        "all-kinds",
        f"""
device.attributes["{D}"].bool &&
device.attributes["{D}"].int > 0 &&
device.attributes["{D}"].string == "fish" &&
device.attributes["{D}"].version.isGreaterThan(semver("0.0.1")) &&
device.capacity["{D}"].quantity.isGreaterThan(quantity("1Ki"))
""",
        FULL,
        True,
    ),
    # missing keys and domains
    (
        "runtime-error-lookup-identifier",
        'device.attributes["no-such-domain"].noSuchAttr.isGreaterThan(quantity("0"))',
        {},
        "error:no such key: noSuchAttr",
    ),
    (
        "runtime-error-lookup-map",
        'device.attributes["no-such-domain"]["noSuchAttr"].isGreaterThan(quantity("0"))',
        {},
        "error:no such key: noSuchAttr",
    ),
    (
        "missing-key-known-domain",
        f'device.attributes["{D}"].nope == "x"',
        FULL,
        "error:no such key: nope",
    ),
    (
        "missing-capacity",
        f'device.capacity["{D}"].nope.isGreaterThan(quantity("1"))',
        FULL,
        "error:no such key: nope",
    ),
    (
        "unknown-domain-empty-size",
        'device.attributes["x.example.com"].size() == 0',
        FULL,
        True,
    ),
    (
        "unknown-domain-has",
        'has(device.attributes["x.example.com"].model)',
        FULL,
        False,
    ),
    (
        "unknown-domain-capacity-has",
        'has(device.capacity["x.example.com"].memory)',
        FULL,
        False,
    ),
    ("has-present", f'has(device.attributes["{D}"].int)', FULL, True),
    (
        "in-guard",
        f'"nope" in device.capacity["{D}"] && device.capacity["{D}"].nope.isGreaterThan(quantity("1Ki"))',
        FULL,
        False,
    ),
    (
        "in-guard-negated",
        f'!("nope" in device.capacity["{D}"]) || device.capacity["{D}"].nope.isGreaterThan(quantity("1Ki"))',
        FULL,
        True,
    ),
    (
        "optional-orValue",
        f'device.attributes["{D}"].?model.orValue("") == ""',
        FULL,
        True,
    ),
    (
        "optional-orValue-present",
        f'device.attributes["{D}"].?string.orValue("") == "fish"',
        FULL,
        True,
    ),
    (
        "optional-unknown-domain",
        'device.attributes["x.example.com"].?model.orValue("none") == "none"',
        FULL,
        True,
    ),
    # upstream's attribute map answers every domain (an empty map when absent), so the optional is present
    ("optional-index", 'device.attributes[?"x.example.com"].hasValue()', FULL, True),
    # error absorption: && and || are commutative with respect to errors
    ("or-error-true", f'device.attributes["{D}"].nope || true', FULL, True),
    ("or-true-error", f'true || device.attributes["{D}"].nope', FULL, True),
    ("and-error-false", f'device.attributes["{D}"].nope && false', FULL, False),
    ("and-false-error", f'false && device.attributes["{D}"].nope', FULL, False),
    (
        "and-true-error",
        f'true && device.attributes["{D}"].nope',
        FULL,
        "error:no such key: nope",
    ),
    (
        "or-false-error",
        f'false || device.attributes["{D}"].nope',
        FULL,
        "error:no such key: nope",
    ),
    (
        "driver-guard",
        'device.driver == "gpu.nvidia.com" && device.attributes["gpu.nvidia.com"].type == "gpu"',
        FULL,
        False,
    ),
    # result type at runtime
    (
        "non-bool-string",
        f'device.attributes["{D}"].string',
        FULL,
        "error:CEL result of type string could not be converted to bool",
    ),
    (
        "non-bool-int",
        f'device.attributes["{D}"].int',
        FULL,
        "error:CEL result of type int could not be converted to bool",
    ),
    # library semantics / errors
    (
        "mixed-types-attr",
        f'device.capacity["{D}"].memory.isGreaterThan(device.attributes["{D}"].version)',
        FULL,
        "error:no such overload",
    ),
    (
        "invalid-quantity",
        'quantity("fast") == quantity("1")',
        {},
        "error:quantities must match",
    ),
    ("invalid-semver", 'semver("1.0") == semver("1.0.0")', {}, "error:"),
    ("divide-by-zero", "1 / 0 == 1", {}, "error:divide by zero"),
    (
        "allow-multiple-true",
        "device.allowMultipleAllocations == true",
        {"multi": True},
        True,
    ),
    ("allow-multiple-default", "device.allowMultipleAllocations == false", {}, True),
]

LIBRARY = [
    # quantity (apiserver pkg/cel/library/quantity_test.go semantics)
    ('quantity("1Gi") == quantity("1024Mi")', True),
    ('quantity("1Gi") == quantity("1073741824")', True),
    ('quantity("1") == quantity("1000m")', True),
    ('quantity("1G") == quantity("1Gi")', False),
    ('quantity("1Gi") != quantity("1G")', True),
    ('isQuantity("20")', True),
    ('isQuantity("20M")', True),
    ('isQuantity("20Mi")', True),
    ('isQuantity("20Mo")', False),
    ('isQuantity("")', False),
    ('quantity("50M").isGreaterThan(quantity("50Mi"))', False),
    ('quantity("50Mi").isGreaterThan(quantity("50M"))', True),
    ('quantity("50M").isLessThan(quantity("50Mi"))', True),
    ('quantity("200M").compareTo(quantity("0.2G")) == 0', True),
    ('quantity("2M").compareTo(quantity("1M")) == 1', True),
    ('quantity("1M").compareTo(quantity("2M")) == -1', True),
    ('quantity("50k").isInteger()', True),
    ('quantity("50.5k").isInteger()', True),
    ('quantity("9999999999999999999999999999999999999G").isInteger()', False),
    ('quantity("1m").isInteger()', False),
    ('quantity("50k").asInteger() == 50000', True),
    ('quantity("50k").asApproximateFloat() == 50000.0', True),
    ('quantity("0.5").asApproximateFloat() == 0.5', True),
    ('sign(quantity("50k")) == 1', True),
    ('sign(quantity("-50k")) == -1', True),
    ('sign(quantity("0")) == 0', True),
    ('quantity("50k").add(quantity("20")) == quantity("50.02k")', True),
    ('quantity("50k").add(20) == quantity("50020")', True),
    ('quantity("50k").sub(quantity("20")) == quantity("49.98k")', True),
    ('quantity("50k").sub(20) == quantity("49980")', True),
    ('sign(quantity("1Gi").sub(quantity("1024Mi"))) == 0', True),
    # semver (apiserver pkg/cel/library/semver_test.go semantics)
    ('isSemver("1.0.0")', True),
    ('isSemver("v1.0.0")', False),
    ('isSemver("v1.0.0", true)', True),
    ('isSemver("1.0")', False),
    ('isSemver("1.0", true)', True),
    ('isSemver("01.01.01", true)', True),
    ('semver("1.0.0") == semver("1.0.0")', True),
    ('semver("1.0.0+build1") == semver("1.0.0+build2")', True),
    ('semver("1.0.0") != semver("1.0.1")', True),
    ('semver("v1.2", true) == semver("1.2.0")', True),
    ('semver("v01.02.03", true) == semver("1.2.3")', True),
    (
        'semver("1.2.3").major() == 1 && semver("1.2.3").minor() == 2 && semver("1.2.3").patch() == 3',
        True,
    ),
    ('semver("1.0.0").isGreaterThan(semver("1.0.0-alpha"))', True),
    ('semver("1.0.0-alpha").isLessThan(semver("1.0.0-alpha.1"))', True),
    ('semver("1.0.0-alpha.beta").isLessThan(semver("1.0.0-beta"))', True),
    ('semver("1.0.0-2").isLessThan(semver("1.0.0-11"))', True),
    ('semver("10.0.0").compareTo(semver("9.0.0")) == 1', True),
    ('semver("1.0.0").compareTo(semver("1.0.0")) == 0', True),
    ('semver("1.2.3").compareTo(semver("1.3.0")) == -1', True),
]


def _check(result: cel.Result, expected) -> None:
    if isinstance(expected, str) and expected.startswith("error:"):
        assert result.matched is None, result
        assert result.error is not None and expected[6:] in result.error, result
    else:
        assert result == cel.Result(expected), result


@pytest.mark.parametrize(
    ("expression", "kwargs", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_cases(expression, kwargs, expected):
    dev = device(**kwargs)
    program = cel.compile(expression)
    result = program.evaluate(dev)
    _check(result, expected)
    # the bulk path gives the same answer
    assert program.evaluate_many([dev, dev]) == [result, result]
    if result.error is None:
        assert program.matches(dev) is expected
    else:
        with pytest.raises(cel.CelRuntimeError, match="CEL runtime error"):
            program.matches(dev)


@pytest.mark.parametrize(("expression", "expected"), LIBRARY)
def test_library(expression, expected):
    _check(cel.compile(expression).evaluate(device()), expected)


COMPILE_ERRORS = [
    ("?!", "Syntax error"),
    ("device.driver ==", "<input>:1:17: Syntax error"),
    ("1", "must evaluate to bool or the unknown type, not int"),
    ('"x"', "must evaluate to bool or the unknown type, not string"),
    (
        'quantity("1")',
        "must evaluate to bool or the unknown type, not kubernetes.Quantity",
    ),
    # upstream types capacity values as kubernetes.Quantity at compile time (checked with the oracle)
    (f'device.capacity["{D}"].quantity', "must evaluate to bool or the unknown type, not kubernetes.Quantity"),
    ("device.driver.size()", "not int"),
    ("foo == 1", "undeclared reference to 'foo'"),
    ("device.noSuchField == 1", "undefined field 'noSuchField'"),
    ('device.attributes["a"].x.includes(1)', "undeclared reference to 'includes'"),
    ("1 + 'a' == 2", "found no matching overload for '_+_'"),
    # typed library overloads (upstream answers, checked with the oracle)
    ('quantity("1").compareTo(semver("1.0.0")) == 0',
     "found no matching overload for 'compareTo' applied to 'kubernetes.Quantity.(kubernetes.Semver)'"),
    (f'device.attributes["{D}"].isGreaterThan(quantity("1"))', "found no matching overload for 'isGreaterThan'"),
    # the examples
    ("device.driver == 1", "<input>:1:15: found no matching overload for '_==_' applied to '(string, int)'\n"
     " | device.driver == 1\n | ..............^"),
    ('device.driver in ["a", 1]', "<input>:1:24: expected type 'string' but found 'int'"),
    (f'device.capacity["{D}"].memory == "1Gi"', "applied to '(kubernetes.Quantity, string)'"),
    ('"x".matches("[")', "<input>:1:13: invalid matches argument"),
    ('matches("x", "[")', "program instantiation failed: error parsing regexp: missing closing ]: `[`"),
    ('duration("bogus") > duration("1s")', "<input>:1:10: invalid duration argument"),
    ('timestamp("bogus") > timestamp(0)', "<input>:1:11: invalid timestamp argument"),
    ("dyn(true)", "must evaluate to bool or the unknown type, not dyn"),
    # sign is a global function of the quantity library (sign(q)), not a member; upstream words it
    # "found no matching overload for 'sign' applied to 'kubernetes.Quantity.()'", cel-cpp "undeclared reference"
    ('quantity("1").sign() == 1', "<input>:1:19: "),
]


@pytest.mark.parametrize(("expression", "message"), COMPILE_ERRORS)
def test_compile_errors(expression, message):
    import re

    with pytest.raises(cel.CelCompileError, match=re.escape(message)) as info:
        cel.compile(expression)
    assert isinstance(info.value, UsageError) and info.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('!("x.example.com" in device.attributes) && device.attributes["x.example.com"].size() == 0', True),
        ('"x.example.com" in device.attributes || device.attributes["x.example.com"].size() == 0', True),
        ('("x.example.com" in device.attributes) == false && device.capacity["x.example.com"].size() == 0', True),
        ('!("x.example.com" in device.capacity) && device.attributes["x.example.com"].size() == 0', True),
        (f'"{D}" in device.attributes && device.attributes["x.example.com"].size() == 0', True),
        ('"x.example.com" in device.attributes && device.attributes["x.example.com"].size() == 0', False),
    ],
)
def test_unknown_domain_in_and_lookup_in_one_expression(expression, expected):
    # Kubernetes: an unknown domain reads as an empty map, and `in` still says it is not there
    program = cel.compile(expression)
    assert program.evaluate(device(**FULL)) == cel.Result(expected)
    assert program.evaluate_many([device(**FULL)]) == [cel.Result(expected)]


def test_device_field_check_ignores_strings():
    assert cel.compile('device.driver == "device.foo"').evaluate(
        device()
    ) == cel.Result(False)


def test_length_limit():
    pad = " " * (cel.MAX_EXPRESSION_LENGTH - len("true"))
    assert cel.compile(pad + "true").evaluate(device()).matched is True
    with pytest.raises(cel.CelCompileError, match="10240"):
        cel.compile(pad + " true")
    # bytes, as Go's len(): a multi-byte character counts more than once
    with pytest.raises(cel.CelCompileError, match="too long"):
        cel.compile('"' + "é" * 5200 + '" != ""')


def test_compile_cache():
    assert cel.compile("device.driver == 'x'") is cel.compile("device.driver == 'x'")


def test_lazy_engine_import():
    import subprocess
    import sys

    code = (
        "import sys, kubectl_dra.cel; print('cel_expr_python' in ' '.join(sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_bad_version_attribute_is_error():
    dev = device(attributes={"v": {"version": "not-a-version"}})
    result = cel.compile("true").evaluate(dev)
    assert result.error and "semantic version" in result.error


# ------------------------------------------------------------- demo cluster


@pytest.fixture(scope="module")
def demo_devices():
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    cluster = load_cluster(SourceOptions(demo=True), ())
    return [v.device for v in cluster.device_views()]


def test_demo_gpu_class(demo_devices):
    program = cel.compile(
        "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'"
    )
    results = program.evaluate_many(demo_devices)
    assert all(r.error is None for r in results)
    matched = sorted(
        (d.pool, d.name) for d, r in zip(demo_devices, results) if r.matched
    )
    expected = (
        [("a100-mig-01", "gpu-1")]
        + [("dgx-h100-01", f"gpu-{i}") for i in range(8)]
        + [("h100-dmig-01", f"gpu-{i}") for i in range(2)]
        + [("l40s-01", f"gpu-{i}") for i in range(4)]
    )
    assert matched == expected  # 15 devices
    assert [d.key for d in program.filter(demo_devices)] == [
        d.key for d, r in zip(demo_devices, results) if r.matched
    ]


def test_demo_gpu_test6_removed_index(demo_devices):
    docs = list(
        yaml.safe_load_all(
            (
                FIXTURES
                / "dra-driver-nvidia-gpu"
                / "quickstart-v1-gpu-test6-a100-selector.yaml"
            ).read_text()
        )
    )
    template = next(d for d in docs if d and d.get("kind") == "ResourceClaimTemplate")
    expression = template["spec"]["spec"]["devices"]["requests"][0]["exactly"][
        "selectors"
    ][0]["cel"]["expression"]
    program = cel.compile(expression)
    nvidia = [d for d in demo_devices if d.driver == "gpu.nvidia.com"]
    results = program.evaluate_many(nvidia)
    a100 = [
        r
        for d, r in zip(nvidia, results)
        if "a100" in str(d.attr("productName", "")).lower()
    ]
    others = [
        r
        for d, r in zip(nvidia, results)
        if "a100" not in str(d.attr("productName", "")).lower()
    ]
    assert a100 and all(r.error == "no such key: index" for r in a100)
    assert others and all(r == cel.Result(False) for r in others)
    # other drivers' devices: productName is missing there, so the unguarded selector errors too
    non_nvidia = [d for d in demo_devices if d.driver != "gpu.nvidia.com"]
    assert all(
        r.error == "no such key: productName" for r in program.evaluate_many(non_nvidia)
    )
