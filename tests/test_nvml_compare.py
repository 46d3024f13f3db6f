"""compare(): missing / extra devices, changed values, removed and added keys, stale MIG layouts."""

from __future__ import annotations

import json

from kubectl_dra.nvml import demo_snapshot
from kubectl_dra.nvml.compare import compare, compare_snapshot, expected_devices, mig_layouts
from kubectl_dra.nvml.fake import FakeBackend, FakeMachine
from kubectl_dra.nvml.resourceslice import as_resourceslice
from tests.test_nvml_support import demo_devices, snap


def test_a_node_in_sync_has_no_drift_and_serialises():
    s = demo_snapshot("l40s-01")
    drift = compare(as_resourceslice(s, "main"), demo_devices())  # other nodes' devices are ignored
    assert drift.in_sync and drift.node == "l40s-01"
    d = drift.to_dict()
    assert d == {"node": "l40s-01", "inSync": True, "missing": [], "extra": [], "changed": [], "removedKeys": [],
                 "addedKeys": [], "staleMig": []}  # fmt: skip
    json.dumps(d)


def test_missing_and_extra_devices():
    s = demo_snapshot("l40s-01")
    published = [d for d in demo_devices("l40s-01") if d.name != "gpu-3"]
    lost = snap(FakeBackend(FakeMachine.from_snapshot(s)).lose(1), "l40s-01")  # gpu-1 fell off the bus
    drift = compare(as_resourceslice(lost, "main"), published)
    assert drift.missing == ["gpu-3"] and drift.extra == ["gpu-1"] and not drift.changed


def test_changed_values_old_is_published_new_is_nvml():
    m = FakeMachine.from_snapshot(demo_snapshot("dgx-h100-01"))
    m.driver_version = "580.105.08"  # driver upgraded, plugin not restarted yet
    m.gpu(6).memory_bytes = 80 << 30
    drift = compare(as_resourceslice(snap(m, "dgx-h100-01"), "main"), demo_devices("dgx-h100-01"))
    versions = [c for c in drift.changed if c.key == "gpu.nvidia.com/driverVersion"]
    assert len(versions) == 8 and versions[0].old == {"version": "580.95.5"} and versions[0].new == {"version": "580.105.8"}
    (memory,) = [c for c in drift.changed if c.kind == "capacity"]
    assert (memory.device, memory.key, memory.old, memory.new) == ("gpu-6", "gpu.nvidia.com/memory", "81559Mi", "80Gi")
    assert not drift.missing and not drift.extra and not drift.stale_mig


def test_equal_quantities_in_other_units_are_not_changes():
    s = demo_snapshot("l40s-01")
    published = demo_devices("l40s-01")
    published[0].capacity["gpu.nvidia.com/memory"] = str(46068 * 1024) + "Ki"
    assert compare(as_resourceslice(s, "main"), published).in_sync


def test_keys_of_an_older_driver_release_are_removed_and_added():
    """Published by v25.3 (index, minor, pcieBusID); NVML-side expectation is the current release."""
    s = demo_snapshot("dgx-h100-01")
    old = expected_devices(as_resourceslice(s, "v25.3"))
    drift = compare(as_resourceslice(s, "v0.4"), old)
    removed = {(k.device, k.key) for k in drift.removed_keys}
    added = {k.key for k in drift.added_keys}
    assert ("gpu-0", "gpu.nvidia.com/index") in removed and ("gpu-7", "gpu.nvidia.com/minor") in removed
    assert ("gpu-0", "gpu.nvidia.com/pcieBusID") in removed
    assert added == {"resource.kubernetes.io/pciBusID", "gpu.nvidia.com/addressingMode"}
    assert next(k for k in drift.removed_keys if k.key.endswith("/index") and k.device == "gpu-5").value == 5
    assert not drift.changed and not drift.missing


def test_a_mig_layout_changed_after_the_plugin_started_is_stale():
    m = FakeMachine.from_snapshot(demo_snapshot("a100-mig-01"))
    m.set_mig_layout(0, [("3g.40gb", 0), ("3g.40gb", 4)])  # nvidia-smi mig -dgi / -cgi 9,9 by hand
    drift = compare(as_resourceslice(snap(m, "a100-mig-01"), "main"), demo_devices("a100-mig-01"))
    (stale,) = drift.stale_mig
    assert stale.published == ["1g.10gb@2", "1g.10gb@3", "2g.20gb@0", "3g.40gb@4"]
    assert stale.actual == ["3g.40gb@0", "3g.40gb@4"]
    assert drift.missing == ["gpu-0-mig-3g40gb-9-0"]
    assert drift.extra == ["gpu-0-mig-1g10gb-19-2", "gpu-0-mig-1g10gb-19-3", "gpu-0-mig-2g20gb-14-0"]
    uuid = [c for c in drift.changed if c.device == "gpu-0-mig-3g40gb-9-4"]
    assert [c.key for c in uuid] == ["gpu.nvidia.com/uuid"]  # same placement, a new instance
    assert drift.to_dict()["staleMig"][0]["gpuUUID"] == stale.gpu_uuid


def test_mig_turned_off_shows_as_stale_layout():
    m = FakeMachine.from_snapshot(demo_snapshot("a100-mig-01"))
    m.gpu(0).mig_mode, m.gpu(0).migs = 0, []
    drift = compare(as_resourceslice(snap(m, "a100-mig-01"), "main"), demo_devices("a100-mig-01"))
    assert drift.stale_mig[0].actual == ["gpu"] and "gpu-0" in drift.missing and len(drift.extra) == 4


def test_dynamic_mig_placements_are_not_a_stale_layout():
    s = demo_snapshot("h100-dmig-01")
    assert s.gpus[0].mig_devices  # the instance a claim holds right now
    drift = compare_snapshot(s, demo_devices("h100-dmig-01"))
    assert drift.in_sync
    static = compare(as_resourceslice(s, "main"), demo_devices("h100-dmig-01"))  # the wrong mode: all drift
    assert len(static.extra) == 2 * 18 and not static.stale_mig


def test_mig_layouts_read_memory_slices_not_names():
    layouts = mig_layouts(demo_devices("a100-mig-01"))
    assert sorted(layouts.values()) == [["1g.10gb@2", "1g.10gb@3", "2g.20gb@0", "3g.40gb@4"], ["gpu"]]
