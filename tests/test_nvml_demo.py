"""The demo NVML snapshots are what tools/gen_demo_nvml.py makes, and they describe the demo cluster's GPUs."""

from __future__ import annotations

import subprocess
import sys

from kubectl_dra.nvml import demo_snapshot
from tests.conftest import ROOT
from tests.test_nvml_support import demo_devices, demo_node_labels


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


def test_identities_match_the_demo_cluster():
    for node in ("dgx-h100-01", "a100-mig-01", "h100-dmig-01", "l40s-01"):
        s = demo_snapshot(node)
        published = demo_devices(node)
        uuids = {d.attr("uuid") for d in published if d.attr("type") == "gpu"} | {
            d.attr("parentUUID") for d in published if d.attr("type") == "mig"}
        assert {g.uuid for g in s.gpus} == uuids
        for d in published:
            gpu = s.gpu_by_bus_id(d.attr("resource.kubernetes.io/pciBusID"))
            assert gpu is not None and d.name.startswith(f"gpu-{gpu.minor}")
            assert gpu.pcie_root == d.attr("resource.kubernetes.io/pcieRoot")
