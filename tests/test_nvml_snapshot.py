"""The NvmlSnapshot data model: bus id forms, the JSON shape (a public interface), round trips, bad input."""

from __future__ import annotations

import re
import json

import pytest

from kubectl_dra.errors import ExitCode
from kubectl_dra.nvml import demo_nodes, demo_snapshot
from kubectl_dra.nvml.snapshot import (
    Snapshot,
    SnapshotError,
    dra_bus_id,
    dump_snapshot,
    load_snapshot,
    normalize_bus_id,
    same_bus_id,
)
from tests.conftest import ROOT
from tests.test_nvml_support import DATA_NVML, PROFILES, snap


@pytest.mark.parametrize(
    "raw, nvml, dra",
    [
        ("0000:1a:00.0", "00000000:1A:00.0", "0000:1a:00.0"),  # DRA resource.kubernetes.io/pciBusID
        ("00000000:1A:00.0", "00000000:1A:00.0", "0000:1a:00.0"),  # NVML busId
        ("0000:1A:00.0", "00000000:1A:00.0", "0000:1a:00.0"),  # NVML busIdLegacy / mock profiles
        ("1a:00.0", "00000000:1A:00.0", "0000:1a:00.0"),  # lspci short form
        ("0001:00:00.0", "00000001:00:00.0", "0001:00:00.0"),  # Hyper-V vPCI domain
        ("10000:3b:00.1", "00010000:3B:00.1", "00010000:3b:00.1"),  # VMD domain keeps its digits
    ],
)
def test_bus_id_forms(raw, nvml, dra):
    assert normalize_bus_id(raw) == nvml
    assert dra_bus_id(raw) == dra
    assert same_bus_id(raw, nvml) and same_bus_id(dra, raw)


@pytest.mark.parametrize("bad", ["", "GPU-0", "0000:1a:00", "zz:00.0", "0000:1a:00.8"])
def test_bad_bus_ids_are_refused(bad):
    with pytest.raises(ValueError, match=f"^not a PCI bus id: {re.escape(repr(bad))}$"):
        normalize_bus_id(bad)
    assert not same_bus_id(bad, "0000:1a:00.0")


GPU_KEYS = {"index", "minor", "uuid", "name", "brand", "architecture", "cudaComputeCapability", "memoryBytes",
            "pciBusId", "numaNode", "migEnabled", "migDevices", "nvlinks", "fabric", "addressingMode", "errors"}  # fmt: skip
MIG_KEYS = {"uuid", "profile", "giId", "ciId", "placement", "memoryBytes", "multiprocessorCount"}
LINK_KEYS = {"link", "active", "version", "remotePciBusId", "remoteType"}
TOP_KEYS = {"kind", "version", "node", "collectedAt", "driverVersion", "cudaDriverVersion", "nvmlVersion",
            "partial", "errors", "gpus", "topology"}  # fmt: skip


@pytest.mark.parametrize("node", ["dgx-h100-01", "a100-mig-01", "h100-dmig-01", "l40s-01"])
def test_the_published_json_shape_is_kept(node):
    """The field names other code reads must all be there (fields may be added, never renamed)."""
    d = demo_snapshot(node).to_dict()
    assert TOP_KEYS <= set(d) and d["kind"] == "NvmlSnapshot" and d["version"] == 1
    assert set(d["topology"]) >= {"gpus", "matrix"}
    for gpu in d["gpus"]:
        assert GPU_KEYS <= set(gpu)
        assert gpu["pciBusId"] == normalize_bus_id(gpu["pciBusId"])
        for mig in gpu["migDevices"]:
            assert MIG_KEYS <= set(mig) and set(mig["placement"]) == {"start", "size"}
        for link in gpu["nvlinks"]:
            assert LINK_KEYS <= set(link) and link["remoteType"] in ("gpu", "switch", "cpu", "unknown")
        if gpu["fabric"] is not None:
            assert set(gpu["fabric"]) >= {"clusterUuid", "cliqueId", "state", "status"}


@pytest.mark.parametrize("node", ["dgx-h100-01", "a100-mig-01", "h100-dmig-01", "l40s-01"])
def test_demo_snapshot_json_round_trips_byte_for_byte(node):
    text = (ROOT / "kubectl_dra" / "demo" / "nvml" / f"{node}.json").read_text()
    assert dump_snapshot(load_snapshot(text)) == text


@pytest.mark.parametrize("profile", PROFILES)
def test_collected_snapshots_round_trip(profile, tmp_path):
    s = snap(profile)
    assert Snapshot.from_dict(json.loads(dump_snapshot(s))) == s
    path = tmp_path / "s.json"
    path.write_text(dump_snapshot(s))
    assert load_snapshot(path) == load_snapshot(str(path)) == s


def test_a_minimal_hand_written_snapshot_loads_with_defaults():
    """Optional fields may be missing and unknown ones present (a newer writer, same version)."""
    s = load_snapshot(DATA_NVML / "minimal.json")
    assert s.node == "gpu-node-7" and s.driver_version == "535.104.05"
    (gpu,) = s.gpus
    assert gpu.pci_bus_id == "00000000:3B:00.0"  # normalised on read
    assert gpu.mig_enabled is None and gpu.mig_devices == [] and gpu.nvlinks == [] and gpu.fabric is None
    assert gpu.numa_node is None and not gpu.lost
    assert s.topology.cell(0, 0) == "X" and s.topology.cell(0, 9) == "?"


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"kind": "Pod", "version": 1}', "kind is 'Pod'"),
        ('{"kind": "NvmlSnapshot", "version": 2}', "version 2 is not supported"),
        ('{"kind": "NvmlSnapshot"}', "version None is not supported"),
        ("{not json", "not JSON"),
        ("[1, 2]", "cannot read"),  # not text starting with "{": taken as a path
    ],
)
def test_bad_snapshots_are_input_errors(text, message):
    with pytest.raises(SnapshotError, match=re.escape(message)) as err:
        load_snapshot(text)
    assert message in str(err.value)
    assert err.value.exit_code == ExitCode.INPUT


def test_a_newer_version_says_how_to_read_it():
    with pytest.raises(SnapshotError, match="NvmlSnapshot version 9 is not supported") as err:
        load_snapshot('{"kind": "NvmlSnapshot", "version": 9}')
    assert "upgrade" in err.value.hint


def test_demo_snapshots_exist_only_for_nvidia_nodes():
    assert demo_nodes() == ["a100-mig-01", "dgx-h100-01", "h100-dmig-01", "l40s-01"]
    assert demo_snapshot("mi300x-01") is None and demo_snapshot("tpu-v4-01") is None
    assert demo_snapshot("../cluster") is None
