"""Every upstream fixture (../shared/fixtures/upstream, see SOURCES.md there) loads, or is rejected with a clear message."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FIXTURES

ALL = sorted(FIXTURES.rglob("*.yaml")) if FIXTURES.is_dir() else []
MESSAGE_PREFIXES = ("error: ", "hint: ", "warning: ", "no DRA devices found", "no ResourceClaims found")


def test_fixture_set_is_present():
    if not FIXTURES.is_dir():
        pytest.skip("../shared/fixtures/upstream is not present")
    assert len(ALL) == 140


@pytest.mark.parametrize("path", ALL, ids=[str(p.relative_to(FIXTURES)) for p in ALL])
def test_fixture_loads_or_is_rejected_cleanly(run, path):
    for args in (("list", "-o", "json"), ("claims", "-A", "-o", "json"), ("list",), ("claims", "-A")):
        result = run(*args, "-f", str(path))  # an exception here would fail the test: no tracebacks
        assert result.exit_code in (0, 5), (args, result.stderr)
        for line in result.stderr.splitlines():
            assert line.startswith(MESSAGE_PREFIXES), line
        if result.exit_code == 5:
            assert result.stderr.startswith("error: ") and result.stdout == ""
        elif args[-1] == "json":
            json.loads(result.stdout)


@pytest.mark.parametrize(
    "name, devices",
    [
        ("dra-example-driver/resourceslice-list-v1-readme.yaml", 8),
        ("dra-example-driver/resourceslice-list-v1beta1-basic-readme.yaml", 8),
        ("dra-example-driver/resourceslice-list-v1alpha3-basic-readme.yaml", 8),
        ("dra-example-driver/transcribed-partitionable-2-slice-pool-v1.yaml", 3),
        ("dra-driver-google-tpu/resourceslice-list-v1beta1-basic-readme.yaml", 2),
        ("intel-resource-drivers/resourceslice-gpu-intel-v1-usage-doc.yaml", 2),
        ("k8s-dra-driver-gpu/imex-channels-resourceslice-v1alpha3-basic.yaml", 20),
        ("kubernetes-api/golden-v1-ResourceSlice.yaml", 1),
        ("kubernetes-api/golden-v1beta1-ResourceSlice.yaml", 1),
        ("kubernetes-api/golden-v1beta2-ResourceSlice.yaml", 1),
    ],
)
def test_device_counts(run, name, devices):
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"{name} missing")
    result = run("list", "-o", "json", "-f", str(path))
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)["items"]) == devices


def test_golden_slices_agree_across_versions(run):
    """The apimachinery round-trip goldens of v1, v1beta2 and v1beta1 describe one device the same way."""
    items = []
    for version in ("v1", "v1beta2", "v1beta1"):
        path = FIXTURES / "kubernetes-api" / f"golden-{version}-ResourceSlice.yaml"
        if not path.exists():
            pytest.skip("golden fixtures missing")
        items.append(json.loads(run("list", "-o", "json", "-f", str(path)).stdout)["items"][0])
    for item in items:
        item.pop("capacity")  # v1beta1 has no requestPolicy; the values agree, checked below
    assert items[0]["attributes"] == items[1]["attributes"] == items[2]["attributes"]
    assert items[0]["taints"] == items[1]["taints"]


def test_fragments_are_rejected_with_the_file_named(run):
    path = FIXTURES / "dra-driver-nvidia-gpu" / "issue-719-a100-80gb-static-mig-v1-fragments.yaml"
    if not path.exists():
        pytest.skip("fixture missing")
    result = run("list", "-f", str(path))
    assert result.exit_code == 5
    assert result.stderr.splitlines()[0] == f"error: {path}: not Kubernetes objects (documents need apiVersion and kind)"


def test_claim_fixtures_decode(run):
    path = FIXTURES / "kubernetes-api" / "golden-v1beta1-ResourceClaim.yaml"
    if not path.exists():
        pytest.skip("fixture missing")
    data = json.loads(run("claims", "-A", "-o", "json", "-f", str(path)).stdout)
    assert len(data["items"]) == 1
    claim = data["items"][0]
    assert claim["requests"][0]["name"] == "nameValue"
    assert claim["devices"][0]["device"] == "deviceValue"
