"""Every upstream fixture (../shared/fixtures/upstream, see SOURCES.md there) has a pinned outcome.

tests/data/fixture_outcomes.json records, for every fixture, what `list -o json -f FILE` and
`claims -A -o json -f FILE` make of it: the exit code, the exact device ids (driver/pool/name) or
claim ids (namespace/name), and every stderr line (warnings, or the error and hint of a rejection,
with the file's path written as {file}). The table was generated once by `python -m
tests.fixture_outcomes` and reviewed against SOURCES.md: the rejected files are device or status
fragments, mock-NVML profiles and a truncated `kubectl get` excerpt without its `kind: List`; the
skipped slices lack spec.driver or hold a "..." placeholder device; the legacy files are classic DRA
v1alpha2; the kubernetes-api goldens are placeholder objects whose pools are incomplete by design.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import FIXTURES
from tests.fixture_outcomes import COMMANDS, FILE, TABLE, all_fixtures, key, observe

ALL = all_fixtures()
EXPECTED = json.loads(TABLE.read_text(encoding="utf-8"))
NOTHING_FOUND = {"list": f"no DRA devices found in {FILE}", "claims": "no ResourceClaims found in any namespace"}


def test_fixture_set_is_present():
    if not FIXTURES.is_dir():
        pytest.skip("../shared/fixtures/upstream is not present")
    assert len(ALL) == 140
    assert sorted(EXPECTED) == [key(p) for p in ALL], "regenerate with `python -m tests.fixture_outcomes`"


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("path", ALL, ids=[key(p) for p in ALL])
def test_fixture_outcome_is_pinned(run, path, command):
    expected = EXPECTED[key(path)][command]
    assert observe(run, path, command) == expected


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("path", ALL, ids=[key(p) for p in ALL])
def test_table_output_reports_the_same(run, path, command):
    """The table output exits the same way and prints the same messages as -o json."""
    expected = EXPECTED[key(path)][command]
    result = run(*COMMANDS[command][:-2], "-f", str(path))  # without -o json
    assert result.exit_code == expected["exit_code"]
    lines = [line.replace(str(path), FILE) for line in result.stderr.splitlines()]
    totals = next((i for i, line in enumerate(lines) if line.startswith("Total: ")), None)
    if command == "list" and totals is not None:
        lines = lines[:totals]  # list's totals go to stderr when stdout is not a terminal (issue 13)
    if expected["exit_code"] != 0:
        assert (result.stdout, lines) == ("", expected["stderr"])
    elif expected.get("devices", expected.get("claims")) == 0:
        assert lines == [*expected["stderr"], NOTHING_FOUND[command]]
    else:
        assert lines == expected["stderr"]


def _objects(path):
    """The Kubernetes objects in a fixture, read with plain PyYAML (`kind: List` unwrapped)."""
    objects = []
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if isinstance(doc, dict) and doc.get("kind") == "List":
            objects.extend(doc.get("items") or [])
        elif isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"):
            objects.append(doc)
    return objects


def _structured(obj, kind):
    version = obj["apiVersion"]
    return obj["kind"] == kind and version.startswith("resource.k8s.io/") and version != "resource.k8s.io/v1alpha2"


@pytest.mark.parametrize("path", ALL, ids=[key(p) for p in ALL])
def test_pinned_ids_agree_with_a_plain_yaml_reading(path):
    """An independent reading of each file predicts the pinned devices, claims and rejections.

    Slices the tool skips as malformed (pinned with their warning) are left out here too.
    """
    expected = EXPECTED[key(path)]
    objects = _objects(path)
    if not objects:
        assert expected["list"]["exit_code"] == expected["claims"]["exit_code"] == 5
        return
    devices, claims = [], []
    for obj in objects:
        spec = obj.get("spec") or {}
        if _structured(obj, "ResourceSlice") and spec.get("driver"):
            entries = spec.get("devices") or []
            # API validation: each attribute holds exactly one value (the apimachinery goldens set all 8)
            one_value = all(len(value) == 1 for entry in entries if isinstance(entry, dict)
                            for value in ((entry.get("basic") or entry).get("attributes") or {}).values()
                            if isinstance(value, dict))
            if all(isinstance(entry, dict) for entry in entries) and one_value:
                devices += [f"{spec['driver']}/{spec['pool']['name']}/{entry['name']}" for entry in entries]
        if _structured(obj, "ResourceClaim"):
            claims.append(f"{obj['metadata'].get('namespace', 'default')}/{obj['metadata']['name']}")
    assert expected["list"]["device_ids"] == sorted(devices)
    assert expected["claims"]["claim_ids"] == sorted(claims)


@pytest.mark.parametrize(
    "name, devices",
    [  # counted by hand in the files
        ("dra-example-driver/resourceslice-list-v1-readme.yaml", 8),
        ("dra-example-driver/resourceslice-list-v1beta1-basic-readme.yaml", 8),
        ("dra-example-driver/resourceslice-list-v1alpha3-basic-readme.yaml", 8),
        ("dra-example-driver/transcribed-partitionable-2-slice-pool-v1.yaml", 3),
        ("dra-driver-google-tpu/resourceslice-list-v1beta1-basic-readme.yaml", 2),
        ("intel-resource-drivers/resourceslice-gpu-intel-v1-usage-doc.yaml", 2),
        ("k8s-dra-driver-gpu/imex-channels-resourceslice-v1alpha3-basic.yaml", 20),
        # the round-trip goldens set every attribute kind at once: the API server would reject them (issue 16)
        ("kubernetes-api/golden-v1-ResourceSlice.yaml", 0),
        ("kubernetes-api/golden-v1beta1-ResourceSlice.yaml", 0),
        ("kubernetes-api/golden-v1beta2-ResourceSlice.yaml", 0),
    ],
)
def test_hand_counted_devices_match_the_table(name, devices):
    """A regenerated table cannot silently drop devices from these files."""
    assert EXPECTED[name]["list"]["devices"] == len(EXPECTED[name]["list"]["device_ids"]) == devices


def test_golden_slices_agree_across_versions(run):
    """The apimachinery round-trip goldens of v1, v1beta2 and v1beta1 set every field at once, so the
    API server would reject them (an attribute with all 8 values, issue 16): each version's slice is
    skipped with the same warning naming the field, and nothing is listed."""
    reasons = []
    for version in ("v1", "v1beta2", "v1beta1"):
        path = FIXTURES / "kubernetes-api" / f"golden-{version}-ResourceSlice.yaml"
        if not path.exists():
            pytest.skip("golden fixtures missing")
        result = run("list", "-o", "json", "-f", str(path))
        assert json.loads(result.stdout)["items"] == []
        warning = next(line for line in result.stderr.splitlines() if "skipping ResourceSlice" in line)
        reasons.append(warning.split(" is malformed: ", 1)[1])
    assert reasons[0] == reasons[1] == reasons[2]
    assert reasons[0].startswith("spec.devices[0].attributes.attributesKey: has 8 values")


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
