"""Lint findings (kubectl_dra.alloc.lint) on the demo cluster, NVIDIA's examples and small clusters."""

from __future__ import annotations

import copy

import pytest

from kubectl_dra.alloc.lint import accesses, guarded, lint
from kubectl_dra.model.cluster import Cluster
from kubectl_dra.model.decode import decode
from tests.conftest import FIXTURES
from tests.test_alloc import claim, cluster_of, dev, device_class, node, req, rslice

NVIDIA = FIXTURES / "dra-driver-nvidia-gpu"


def demo_with(*paths) -> Cluster:
    from kubectl_dra.kube.demo import demo_objects
    from kubectl_dra.kube.files import load_objects

    cluster = Cluster()
    for obj in demo_objects():
        cluster.add(decode(obj))
    for path in paths:
        if not path.is_file():
            pytest.skip(f"{path} is not present")
        for _, obj in load_objects([str(path)]):
            decoded = decode(obj)
            if decoded is not None:
                cluster.add(decoded)
    return cluster


def codes(findings, obj: str | None = None) -> list[str]:
    return [f.code for f in findings if obj is None or f.object == obj]


def test_expression_accesses_and_guards():
    expr = "device.attributes['gpu.nvidia.com'].index == 0 || device.capacity[\"x.io\"][\"mem\"].isZero() || device.attributes['d'].?opt"
    got = {(a.field, a.domain, a.ident, a.optional) for a in accesses(expr)}
    assert got == {
        ("attributes", "gpu.nvidia.com", "index", False),
        ("capacity", "x.io", "mem", False),
        ("attributes", "d", "opt", True),
    }
    a = accesses('has(device.attributes["d"].x) && device.attributes["d"].x > 1')[1]
    assert guarded('has(device.attributes["d"].x) && device.attributes["d"].x > 1', a)
    b = accesses('"x" in device.attributes["d"] && device.attributes["d"].x > 1')[0]
    assert guarded('"x" in device.attributes["d"] && device.attributes["d"].x > 1', b)


def test_nvidia_removed_index_attribute():
    cluster = demo_with(NVIDIA / "quickstart-v1-gpu-test6-a100-selector.yaml")
    findings = lint(cluster)
    obj = "ResourceClaimTemplate gpu-test6/a100"
    got = codes(findings, obj)
    assert "unknown-attribute" in got and "cel-runtime-error" in got
    unknown = next(f for f in findings if f.object == obj and f.code == "unknown-attribute")
    assert unknown.severity == "error" and unknown.data["name"] == "gpu.nvidia.com/index"
    assert "productName" in (unknown.hint or "")
    error = next(f for f in findings if f.object == obj and f.code == "cel-runtime-error")
    assert error.data["devices"] == ["gpu.nvidia.com/a100-mig-01/gpu-1"]
    assert error.to_dict()["severity"] == "error"


def test_demo_is_clean_but_for_the_unused_vfio_class():
    findings = lint(demo_with())
    assert [(f.code, f.object) for f in findings if f.severity == "error"] == []
    assert ("class-matches-nothing", "DeviceClass vfio.gpu.nvidia.com") in [(f.code, f.object) for f in findings]


def test_unguarded_and_unknown_attributes():
    c = cluster_of(
        node(),
        device_class(),
        rslice([dev("a", model="m1"), dev("b")]),
        claim("c", [req("r", selectors=('device.attributes["driver-a"].model == "m1"',))]),
        claim("g", [req("r", selectors=('device.attributes["driver-a"].?model.orValue("") == "m1"',))]),
        claim("u", [req("r", selectors=('has(device.attributes["driver-a"].nope)',))]),
    )
    findings = lint(c)
    assert "unguarded-attribute" in codes(findings, "ResourceClaim default/c")
    assert "cel-runtime-error" in codes(findings, "ResourceClaim default/c")
    assert codes(findings, "ResourceClaim default/g") == []
    unknown = [f for f in findings if f.object == "ResourceClaim default/u"]
    assert [f.code for f in unknown] == ["unknown-attribute", "request-matches-nothing"]
    assert unknown[0].severity == "warning"  # guarded by has(): never raises, never matches


def test_constraint_attribute_missing_and_request_exceeding_nodes():
    c = cluster_of(
        node("node-1"),
        node("node-2"),
        device_class(),
        rslice([dev("a", grp=1), dev("b")], name="s1", node_name="node-1", pool="p1"),
        rslice([dev("c", grp=1), dev("d", grp=2)], name="s2", node_name="node-2", pool="p2"),
        claim("c", [req("r", 2)], [{"matchAttribute": "driver-a/grp"}]),
        claim("big", [req("r", 3)]),
        claim("none", [req("r")], [{"matchAttribute": "driver-a/absent"}]),
    )
    findings = lint(c)
    missing = next(f for f in findings if f.object == "ResourceClaim default/c" and f.code == "constraint-attribute-missing")
    assert missing.severity == "warning" and missing.data["lacking"] == ["driver-a/p1/b"]
    assert next(f for f in findings if f.object == "ResourceClaim default/none").severity == "error"
    exceeds = next(f for f in findings if f.code == "request-exceeds-node")
    assert exceeds.object == "ResourceClaim default/big" and exceeds.data["maxPerNode"] == 2


def test_class_problems():
    c = cluster_of(
        node(),
        device_class("nothing", 'device.driver == "nobody"'),
        device_class("unguarded", 'device.attributes["driver-a"].type == "gpu"'),
        rslice([dev("a")]),
        claim("c", [{"name": "r", "exactly": {"deviceClassName": "missing"}}]),
    )
    findings = lint(c)
    assert "class-matches-nothing" in codes(findings, "DeviceClass nothing")
    assert "cel-runtime-error" in codes(findings, "DeviceClass unguarded")
    assert codes(findings, "ResourceClaim default/c") == ["class-missing"]


def test_equal_specs_are_analysed_once_and_reported_per_object(monkeypatch):
    """Thousands of claims from one template: one analysis (each walks every device), one finding
    per object, exactly as if each had been analysed on its own (issue 15: lint was claims x devices)."""
    from kubectl_dra.alloc import lint as lint_mod

    base = demo_with(NVIDIA / "quickstart-v1-gpu-test6-a100-selector.yaml")
    template = next(t for t in base.templates if t.ref == "gpu-test6/a100")
    alone = [f for f in lint(base, [template])]
    assert alone, "the fixture has findings to replay"
    calls = []
    real = lint_mod._Linter._analyse_spec
    monkeypatch.setattr(lint_mod._Linter, "_analyse_spec", lambda self, spec, obj: (calls.append(obj), real(self, spec, obj)))
    copies = []
    for i in range(5):
        t = copy.copy(template)
        t.namespace = f"ns-{i}"
        copies.append(t)
    found = lint(base, copies)
    assert len(calls) == 1
    for t in copies:
        mine = [f for f in found if f.object == f"ResourceClaimTemplate {t.ref}"]
        assert [(f.severity, f.code, f.message, f.hint, f.request, f.data) for f in mine] == \
               [(f.severity, f.code, f.message, f.hint, f.request, f.data) for f in alone]
    assert found[0].data is not found[len(alone)].data



def test_a_selector_that_does_not_compile_keeps_earlier_runtime_errors():
    """Class admission (kubectl_dra.admission) over lint's cached results: selectors in order, the
    first false/error stops a device; a selector that does not compile admits nothing, and the
    runtime errors of the selectors before it are still reported."""
    cls = device_class("two", 'device.attributes["driver-a"].model == "m1"')
    cls["spec"]["selectors"].append({"cel": {"expression": "device.driver =="}})
    c = cluster_of(node(), cls, rslice([dev("a", model="m1"), dev("b"), dev("c", model="m2")]))
    findings = lint(c)
    assert [(f.code, f.data.get("expression"), f.data.get("devices")) for f in findings] == [
        ("unguarded-attribute", 'device.attributes["driver-a"].model == "m1"', None),
        ("cel-compile-error", "device.driver ==", None),
        ("cel-runtime-error", 'device.attributes["driver-a"].model == "m1"', ["driver-a/pool-1/b"]),
        ("class-matches-nothing", None, None),
    ]
