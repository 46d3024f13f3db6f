"""The demo NVML snapshots are what tools/gen_demo_nvml.py makes, and they describe the demo cluster's GPUs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kubectl_dra.nvml import demo_snapshot
from tests.conftest import ROOT
from tests.test_nvml_support import demo_allocated, demo_node_labels, demo_published


def test_demo_snapshots_are_up_to_date_with_their_generator():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_demo_nvml.py"), "--check"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_dgx_is_eight_h100_with_nvswitch_nv18_all_to_all():
    s = demo_snapshot("dgx-h100-01")
    assert len(s.gpus) == 8 and {g.name for g in s.gpus} == {"NVIDIA H100 80GB HBM3"}
    assert all(c == "NV18" for i, row in enumerate(s.topology.matrix) for j, c in enumerate(row) if i != j)
    assert {link.remote_type for g in s.gpus for link in g.nvlinks} == {"switch"}
    assert {g.fabric.clique for g in s.gpus} == {demo_node_labels("dgx-h100-01")["nvidia.com/gpu.clique"]}
    assert s.driver_version == "580.95.05" and s.cuda_driver_version == "13.0"


def test_l40s_is_pcie_only():
    s = demo_snapshot("l40s-01")
    assert all(g.nvlinks == [] and g.fabric is None and g.mig_enabled is None for g in s.gpus)
    assert not any(c.startswith("NV") for row in s.topology.matrix for c in row)
    assert s.topology.cell(0, 1) == "PHB" and s.topology.cell(0, 2) == "SYS"


def test_mig_nodes():
    a100 = demo_snapshot("a100-mig-01")
    assert [g.mig_enabled for g in a100.gpus] == [True, False]
    assert [(m.profile, m.placement.start) for m in a100.gpus[0].mig_devices] == [
        ("2g.20gb", 0), ("1g.10gb", 2), ("1g.10gb", 3), ("3g.40gb", 4)]
    assert all(g.numa_node is None for g in a100.gpus)  # Hyper-V: sysfs says -1
    dmig = demo_snapshot("h100-dmig-01")
    assert [len(g.mig_devices) for g in dmig.gpus] == [1, 0]  # the instance the vllm claim holds
    assert dmig.gpus[0].mig_devices[0].profile == "3g.40gb"


# Facts of the demo's NVIDIA nodes, spelled out; the test below also reads them off cluster.yaml
# with plain YAML (node labels, published devices, claims) and the snapshot files with plain JSON,
# so neither the generator nor the snapshot loader is trusted to agree with itself.
GPU_COUNT = {"dgx-h100-01": 8, "a100-mig-01": 2, "h100-dmig-01": 2, "l40s-01": 4}
MIB_PER_GPU = {"dgx-h100-01": 81559, "a100-mig-01": 81920, "h100-dmig-01": 81559, "l40s-01": 46068}


def _snapshot_json(node: str) -> dict:
    return json.loads((ROOT / "kubectl_dra" / "demo" / "nvml" / f"{node}.json").read_text(encoding="utf-8"))


def _numbers(version: str) -> tuple[int, ...]:
    """580.95.05 and 580.95.5 are one version; 13.0 and 13.0.0 too."""
    parts = [int(p) for p in version.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def _bus_id(nvml: str) -> str:
    """NVML's 00000001:00:00.0 as sysfs and the driver write it: 0001:00:00.0."""
    domain, rest = nvml.split(":", 1)
    return f"{int(domain, 16):04x}:{rest.lower()}"


@pytest.mark.parametrize("node", sorted(GPU_COUNT))
def test_snapshot_facts_agree_with_cluster_yaml(node):
    snapshot = _snapshot_json(node)
    labels = demo_node_labels(node)
    published, _ = demo_published(node)
    attr = {name: {k: next(iter(v.values())) for k, v in d["attributes"].items()} for name, d in published.items()}
    gpus = snapshot["gpus"]

    assert snapshot["node"] == node and snapshot["partial"] is False and snapshot["errors"] == []
    assert len(gpus) == GPU_COUNT[node] == int(labels["nvidia.com/gpu.count"])
    assert {g["memoryBytes"] for g in gpus} == {MIB_PER_GPU[node] << 20} == {int(labels["nvidia.com/gpu.memory"]) << 20}
    assert {g["name"].replace(" ", "-") for g in gpus} == {labels["nvidia.com/gpu.product"]}
    assert {g["uuid"] for g in gpus} == {a["uuid"] for a in attr.values() if a["type"] == "gpu"} | {
        a["parentUUID"] for a in attr.values() if a["type"] == "mig"}
    assert {_numbers(a["driverVersion"]) for a in attr.values()} == {_numbers(snapshot["driverVersion"])}
    assert {_numbers(a["cudaDriverVersion"]) for a in attr.values()} == {_numbers(snapshot["cudaDriverVersion"])}
    if "nvidia.com/gpu.clique" in labels:
        assert {f"{g['fabric']['clusterUuid']}.{g['fabric']['cliqueId']}" for g in gpus} == {labels["nvidia.com/gpu.clique"]}
    held = demo_allocated(node)
    for g in gpus:
        mine = {name: a for name, a in attr.items() if name == f"gpu-{g['minor']}" or name.startswith(f"gpu-{g['minor']}-mig-")}
        assert mine, f"no published device of GPU minor {g['minor']}"
        for name, a in mine.items():
            assert a["resource.kubernetes.io/pciBusID"] == _bus_id(g["pciBusId"]), name
            assert a["resource.kubernetes.io/pcieRoot"] == g["pcieRoot"], name
            assert a.get("resource.kubernetes.io/numaNode") == g["numaNode"], name
            assert (a["productName"], a["architecture"], a["brand"]) == (g["name"], g["architecture"], g["brand"]), name
            assert _numbers(a["cudaComputeCapability"]) == _numbers(g["cudaComputeCapability"]), name
        # MIG devices on the GPU: static ones are all published; DynamicMIG ones exist while a claim holds them
        static = f"gpu-{g['minor']}" not in mine
        names = sorted(n for n in mine if "-mig-" in n) if static else [n for n in held if n.startswith(f"gpu-{g['minor']}-mig-")]
        want = sorted((n.split("-")[3], int(n.split("-")[4]), int(n.split("-")[5])) for n in names)  # gpu-M-mig-P-ID-START
        got = sorted((m["profile"].replace(".", ""), m["giProfileId"], m["placement"]["start"]) for m in g["migDevices"])
        assert got == want, g["minor"]
        for m in g["migDevices"] if static else []:
            name = f"gpu-{g['minor']}-mig-{m['profile'].replace('.', '')}-{m['giProfileId']}-{m['placement']['start']}"
            assert attr[name]["uuid"] == m["uuid"] and attr[name]["profile"] == m["profile"]
            assert published[name]["capacity"]["memory"]["value"] == f"{m['memoryBytes'] >> 20}Mi"
            assert published[name]["capacity"]["multiprocessors"]["value"] == str(m["multiprocessorCount"])
