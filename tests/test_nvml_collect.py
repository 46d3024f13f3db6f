"""collect() over the fake backend: every nvml-mock profile, MIG, NVLink counting, faults, replay."""

from __future__ import annotations

import pytest

from kubectl_dra.errors import ExitCode
from kubectl_dra.nvml import NvmlUnavailable, demo_nodes, demo_snapshot
from kubectl_dra.nvml.collect import collect, cuda_version_string
from kubectl_dra.nvml.fake import FakeBackend, direct_link
from tests.test_nvml_support import NOW, PROFILES, machine, snap

# profile: (GPUs, memory bytes, NVLinks between every pair (0: none), MIG capable, fabric clique)
EXPECTED = {
    "a100": (8, 40 << 30, 12, True, False),
    "b200": (8, 192 << 30, 0, True, False),
    "gb200": (8, 192 << 30, 18, True, True),
    "gb300": (8, 288 << 30, 18, True, True),
    "h100": (8, 80 << 30, 18, True, True),
    "l40s": (8, 48 << 30, 0, False, False),
    "t4": (4, 16 << 30, 0, False, False),
}


@pytest.mark.parametrize("profile", PROFILES)
def test_every_mock_profile_gives_a_sane_snapshot(profile):
    count, memory, links, mig_capable, clique = EXPECTED[profile]
    s = snap(profile)
    assert not s.partial and s.errors == []
    assert s.driver_version and s.cuda_driver_version and s.nvml_version
    assert [g.index for g in s.gpus] == list(range(count))
    assert len({g.uuid for g in s.gpus}) == count and len({g.pci_bus_id for g in s.gpus}) == count
    assert sorted(g.minor for g in s.gpus) == list(range(count))
    for g in s.gpus:
        assert g.memory_bytes == memory and g.name.startswith("NVIDIA") and g.brand == "Nvidia"
        assert g.architecture in ("Ampere", "Hopper", "Blackwell", "Ada Lovelace", "Turing")
        assert g.numa_node is not None and g.pcie_root and g.pcie_root.startswith("pci")
        assert (g.mig_enabled is not None) == mig_capable and not g.mig_enabled and g.mig_devices == []
        assert (g.fabric is not None and g.fabric.clique is not None) == clique
        assert len(g.active_nvlinks()) == links
    top = s.topology
    n = len(top.gpus)
    assert top.gpus == list(range(count)) and len(top.matrix) == n and all(len(r) == n for r in top.matrix)
    for i in range(n):
        assert top.matrix[i][i] == "X" == top.pcie[i][i]
        for j in range(n):
            assert top.matrix[i][j] == top.matrix[j][i] and top.pcie[i][j] == top.pcie[j][i]
            if i != j:
                assert top.matrix[i][j] == (f"NV{links}" if links else top.pcie[i][j])
                assert top.pcie[i][j] in ("PIX", "PXB", "PHB", "NODE", "SYS")


def test_pcie_levels_follow_root_complex_and_numa():
    top = snap("l40s").topology  # GPUs 0,1,4,5 on pci0000:00 (NUMA 0); 2,3,6,7 on pci0000:80 (NUMA 1)
    assert top.cell(0, 1) == "PHB" and top.cell(0, 2) == "SYS" and top.cell(2, 3) == "PHB"
    gb = snap("gb200").topology  # one root per Grace CPU pair, one NUMA node each
    assert gb.pcie[0][1] == "PHB" and gb.pcie[0][2] == "SYS"


def test_mig_profiles_are_named_like_the_driver_names_them():
    a100 = snap("a100").gpus[0]  # A100-SXM4-40GB
    names = {p.profile: (p.gi_profile_id, [pl.start for pl in p.placements]) for p in a100.mig_profiles}
    assert names == {
        "1g.5gb": (19, [0, 1, 2, 3, 4, 5, 6]), "1g.5gb+me": (20, [0, 1, 2, 3, 4, 5, 6]), "1g.10gb": (15, [0, 2, 4, 6]),
        "2g.10gb": (14, [0, 2, 4]), "3g.20gb": (9, [0, 4]), "4g.20gb": (5, [0]), "7g.40gb": (0, [0]),
    }  # fmt: skip
    h100 = {p.profile for p in snap("h100").gpus[0].mig_profiles}
    assert h100 == {"1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"}


def test_static_mig_devices_are_collected():
    m = machine("a100")
    m.set_mig_layout(0, [("3g.20gb", 4), ("1g.5gb", 0), ("1g.5gb", 1)])
    m.gpu(0).migs[0].ci_slices = 1  # one 1-slice compute instance inside the 3g GPU instance
    g = snap(m).gpus[0]
    assert g.mig_enabled is True
    got = [(d.profile, d.gi_id, d.ci_id, d.placement.start, d.placement.size, d.gi_profile_id) for d in g.mig_devices]
    assert got == [("1c.3g.20gb", 1, 0, 4, 4, 9), ("1g.5gb", 2, 0, 0, 1, 19), ("1g.5gb", 3, 0, 1, 1, 19)]
    one = g.mig_devices[1]
    assert one.uuid.startswith("MIG-") and one.memory_bytes == 4864 << 20 and one.multiprocessor_count == 14
    assert one.copy_engine_count == 1 and one.decoder_count == 0


def test_bad_mig_layouts_are_refused():
    m = machine("a100")
    with pytest.raises(ValueError, match="overlaps"):
        m.set_mig_layout(0, [("3g.20gb", 4), ("4g.20gb", 0), ("1g.5gb", 4)])
    with pytest.raises(ValueError, match="cannot be placed"):
        m.set_mig_layout(0, [("3g.20gb", 2)])
    with pytest.raises(KeyError, match="no MIG profile '9g.99gb' on this GPU model"):
        m.set_mig_layout(0, [("9g.99gb", 0)])
    with pytest.raises(ValueError, match="no MIG profile table"):
        machine("l40s").set_mig_layout(0, [("1g.5gb", 0)])


def test_direct_nvlinks_are_counted_per_pair():
    m = machine("t4")
    direct_link(m, 0, 1, count=2)
    direct_link(m, 2, 3, count=4)
    top = snap(m).topology
    assert top.cell(0, 1) == top.cell(1, 0) == "NV2" and top.cell(2, 3) == "NV4"
    assert top.cell(0, 2) == "PHB" and top.nvlink_count(1, 0) == 2 and top.nvlink_count(0, 3) == 0


def test_switch_links_count_the_smaller_side():
    m = machine("h100")
    for link in m.gpu(5).nvlinks[:4]:
        link.active = False  # 4 links down on GPU 5
    top = snap(m).topology
    assert top.cell(5, 0) == top.cell(0, 5) == "NV14" and top.cell(0, 1) == "NV18"


def test_cuda_version_string():
    assert cuda_version_string(12040) == "12.4" and cuda_version_string(13000) == "13.0"


# ---------------------------------------------------------------------------- faults


def test_not_supported_on_a_core_call_is_recorded_but_not_partial():
    b = FakeBackend(machine("h100")).fail("nvmlDeviceGetMemoryInfo", gpu=2)
    s = snap(b)
    assert s.gpus[2].memory_bytes is None and s.gpus[1].memory_bytes == 80 << 30
    assert [e.to_dict() for e in s.errors] == [{"gpu": 2, "call": "nvmlDeviceGetMemoryInfo", "error": "NOT_SUPPORTED"}]
    assert s.gpus[2].errors == s.errors and not s.partial


def test_nvlink_not_supported_on_one_gpu_falls_back_to_pcie_for_its_pairs():
    s = snap(FakeBackend(machine("h100")).fail("nvmlDeviceGetNvLinkState", gpu=3))
    assert s.gpus[3].nvlinks == [] and not s.partial
    top = s.topology
    assert top.cell(3, 2) == "PHB" and top.cell(3, 4) == "SYS" and top.cell(0, 1) == "NV18"


def test_no_permission_on_mig_instances_keeps_what_was_read():
    m = machine("a100")
    m.set_mig_layout(0, [("1g.5gb", 0)])
    s = snap(FakeBackend(m).fail("nvmlDeviceGetGpuInstanceById", "NO_PERMISSION", gpu=0))
    (mig,) = s.gpus[0].mig_devices
    assert mig.uuid.startswith("MIG-") and mig.profile is None and mig.placement is None
    assert s.partial and s.errors[0].to_dict() == {"gpu": 0, "call": "nvmlDeviceGetGpuInstanceById", "error": "NO_PERMISSION"}


def test_a_lost_gpu_is_marked_and_the_others_are_complete():
    s = snap(FakeBackend(machine("h100")).lose(3))
    lost = s.gpus[3]
    assert lost.lost and lost.uuid is None and lost.errors[0].error == "GPU_IS_LOST" and s.partial
    assert all(not g.lost and g.uuid for g in s.gpus if g.index != 3)
    top = s.topology
    assert top.matrix[3] == ["?", "?", "?", "X", "?", "?", "?", "?"] and top.cell(0, 1) == "NV18"


def test_a_missing_handle_leaves_an_index_only_record():
    s = snap(FakeBackend(machine("t4")).fail("nvmlDeviceGetHandleByIndex_v2", "NO_PERMISSION", gpu=1))
    assert s.gpus[1].uuid is None and s.gpus[1].errors[0].call == "nvmlDeviceGetHandleByIndex_v2"
    assert s.topology.cell(0, 1) == "?" and s.topology.cell(0, 2) == "PHB" and s.partial


def test_system_call_failures_are_node_level_errors():
    s = snap(FakeBackend(machine("t4")).fail("nvmlSystemGetDriverVersion", "UNKNOWN"))
    assert s.driver_version is None and s.errors[0].gpu is None and s.partial
    assert all(g.errors == [] for g in s.gpus)


@pytest.mark.parametrize("code", ["LIBRARY_NOT_FOUND", "DRIVER_NOT_LOADED", "NO_PERMISSION", "LIB_RM_VERSION_MISMATCH"])
def test_nvml_that_cannot_start_is_unavailable_with_a_hint(code):
    with pytest.raises(NvmlUnavailable, match=f"^NVML is not usable here: nvmlInitWithFlags returned {code}$") as err:
        collect(FakeBackend(machine("t4"), init_error=code), "n")
    assert err.value.code == code and err.value.hint and code in str(err.value)
    assert err.value.exit_code == ExitCode.ERROR


def test_no_device_count_is_unavailable_and_nvml_is_shut_down():
    b = FakeBackend(machine("t4")).fail("nvmlDeviceGetCount_v2", "UNKNOWN")
    with pytest.raises(NvmlUnavailable, match="^NVML is not usable here: nvmlDeviceGetCount_v2 returned UNKNOWN$"):
        collect(b, "n")
    assert b.calls[-1] == "nvmlShutdown" and not b.initialised


def _all_calls(profile: str) -> list[str]:
    m = machine(profile)
    if profile == "a100":
        m.set_mig_layout(0, [("1g.5gb", 0), ("2g.10gb", 2)])
    b = FakeBackend(m)
    collect(b, "n", now=NOW)
    return sorted(set(b.calls) - {"nvmlInitWithFlags", "nvmlShutdown", "nvmlDeviceGetCount_v2"})


@pytest.mark.parametrize("profile", ["a100", "h100"])
@pytest.mark.parametrize("code", ["UNKNOWN", "GPU_IS_LOST", "NOT_SUPPORTED", "NO_PERMISSION"])
def test_any_single_call_failing_everywhere_still_gives_a_snapshot(profile, code):
    """No traceback whatever fails: each call in turn fails on every GPU."""
    calls = _all_calls(profile)
    assert len(calls) >= (29 if profile == "a100" else 24)
    for call in calls:
        m = machine(profile)
        if profile == "a100":
            m.set_mig_layout(0, [("1g.5gb", 0), ("2g.10gb", 2)])
        s = collect(FakeBackend(m).fail(call, code), "n", now=NOW)
        assert len(s.gpus) == 8 and len(s.topology.matrix) == 8, call
        if code not in ("NOT_SUPPORTED",) and any(e.call == call for e in s.errors):
            assert s.partial, call


# ---------------------------------------------------------------------------- replay


@pytest.mark.parametrize("profile", PROFILES)
def test_a_snapshot_replays_to_itself(profile):
    s = snap(profile)
    assert snap(FakeBackend.from_snapshot(s)) == s


@pytest.mark.parametrize("node", ["dgx-h100-01", "a100-mig-01", "h100-dmig-01", "l40s-01"])
def test_demo_snapshots_replay_to_themselves(node):
    s = demo_snapshot(node)
    assert node in demo_nodes()
    assert snap(FakeBackend.from_snapshot(s), node) == s


def test_faults_replay_too():
    m = machine("a100")
    m.set_mig_layout(0, [("1g.5gb", 0)])
    b = FakeBackend(m).fail("nvmlDeviceGetGpuInstanceById", "NO_PERMISSION", gpu=0).fail("nvmlDeviceGetMemoryInfo", gpu=4)
    b.fail("nvmlDeviceGetNvLinkState", gpu=6).lose(7)
    s = snap(b)
    assert snap(FakeBackend.from_snapshot(s)) == s
