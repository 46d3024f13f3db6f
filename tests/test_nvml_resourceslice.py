"""as_resourceslice(): device names, attribute sets and values as the real NVIDIA DRA driver publishes them.

The real driver's output is in ../shared/fixtures/upstream/dra-driver-nvidia-gpu/ (SOURCES.md):
the reference page's device entries (current release), #719 (A100 80GB, static MIG, v25.8),
#744 (GB200 node, v25.3.2).
"""

from __future__ import annotations

import pytest

from kubectl_dra.model.decode import decode_slice
from kubectl_dra.nvml import demo_snapshot
from kubectl_dra.nvml.compare import compare_snapshot
from kubectl_dra.nvml.resourceslice import (
    STYLES,
    as_resourceslice,
    binary_quantity,
    detect_dynamic_mig,
    detect_style,
    rfc1123_profile,
    semver,
)
from tests.test_nvml_support import demo_devices, demo_published, machine, nvidia_fixture, snap


def devices(slices: dict) -> list[dict]:
    return [d for s in slices["items"] for d in s["spec"].get("devices", [])]


def by_name(slices: dict) -> dict[str, dict]:
    return {d["name"]: d for d in devices(slices)}


def test_value_normalisations():
    assert semver("580.95.05") == "580.95.5" and semver("570.124.06") == "570.124.6"
    assert semver("9.0") == "9.0.0" and semver("13.0") == "13.0.0" and semver("x") is None
    assert binary_quantity(80 << 30) == "80Gi" and binary_quantity(85520809984) == "81559Mi"
    assert rfc1123_profile("1g.5gb+me") == "1g5gb-me" and rfc1123_profile("1c.3g.40gb") == "1c3g40gb"
    assert rfc1123_profile("1g.24gb+me.all") == "1g24gb-meall"  # dots go first, then "+" -> "-"


# ---------------------------------------------------------------------------- vs the real driver's output


def reference_entry(name: str) -> dict:
    (entry,) = nvidia_fixture(name)
    return entry


@pytest.mark.parametrize("profile", ["a100", "h100"])
def test_full_gpu_attribute_set_matches_the_driver_reference(profile):
    """The driver reference page's full-GPU entry (A100-PCIE-40GB, current release) has exactly
    these keys; the driver code is model-agnostic, so the fake A100 and H100 must match it."""
    ref = reference_entry("docs-device-entry-full-gpu-a100-pcie-40gb.yaml")
    m = machine(profile)
    for g in m.gpus:
        g.addressing_mode = 1  # HMM, as on the reference page's node
    got = by_name(as_resourceslice(snap(m)))["gpu-0"]
    assert set(got["attributes"]) == set(ref["attributes"])
    assert set(got["capacity"]) == set(ref["capacity"]) == {"memory"}
    for key in ("brand", "type", "addressingMode"):
        assert got["attributes"][key] == ref["attributes"][key]
    assert set(got["attributes"]["cudaComputeCapability"]) == {"version"}
    assert got["attributes"]["resource.kubernetes.io/pciBusID"]["string"] == snap(m).gpus[0].dra_bus_id
    # main adds only the NUMA node
    main = by_name(as_resourceslice(snap(m), "main"))["gpu-0"]
    assert set(main["attributes"]) - set(got["attributes"]) == {"resource.kubernetes.io/numaNode"}


def test_mig_device_matches_the_driver_reference_on_a_fake_a100_40gb():
    ref = reference_entry("docs-device-entry-mig-1g.5gb.yaml")
    m = machine("a100")
    for g in m.gpus:
        g.addressing_mode = 1
    m.set_mig_layout(0, [("1g.5gb", 0)])
    got = by_name(as_resourceslice(snap(m)))
    dev = got["gpu-0-mig-1g5gb-19-0"]  # the code's canonical name (the page's own name is illustrative)
    assert "gpu-0" not in got  # a GPU with MIG on is published only as its MIG devices
    assert set(dev["attributes"]) == set(ref["attributes"])
    assert {k: dev["attributes"][k] for k in ("type", "profile", "brand", "architecture", "cudaComputeCapability")} == {
        k: ref["attributes"][k] for k in ("type", "profile", "brand", "architecture", "cudaComputeCapability")}  # fmt: skip
    caps = {k: v for k, v in dev["capacity"].items() if not k.startswith("memorySlice")}
    assert caps == ref["capacity"]  # 4864Mi, 14 SMs, 1 CE, no decoders/encoders/JPEG/OFA
    assert dev["capacity"]["memorySlice0"] == {"value": "1"}


def a100_80gb_pcie_like_issue_719():
    m = machine("a100")
    m.driver_version, m.cuda_driver_version = "580.95.05", 13000
    for g in m.gpus:
        g.name, g.memory_bytes, g.pcie_root = "NVIDIA A100 80GB PCIe", 80 << 30, None  # AKS: root not resolvable
        g.mig_table = __import__("kubectl_dra.nvml.migprofiles", fromlist=["A100_80GB"]).A100_80GB
    m.gpus = m.gpus[:2]
    m.set_mig_layout(0, [("1g.10gb", 2), ("1g.10gb", 3)])
    return m


def test_static_mig_matches_issue_719_on_driver_v25_8():
    fixture = nvidia_fixture("issue-719-a100-80gb-static-mig-v1-fragments.yaml")
    entries = [e["device"] for s in fixture["slices"] for e in s["devices"]]
    full_ref = next(e for e in entries if e["name"] == "gpu-1")
    named_ref = next(e for e in entries if e.get("name") == "gpu-0-mig-19-2-1")
    attrs_ref = next(e for e in entries if "profile" in e["attributes"])  # the one complete attribute set
    got = by_name(as_resourceslice(snap(a100_80gb_pcie_like_issue_719()), "v25.8"))
    assert set(got) == {"gpu-0-mig-19-2-1", "gpu-0-mig-19-3-1", "gpu-1"}
    mig = got["gpu-0-mig-19-3-1"]
    assert set(mig["attributes"]) == set(attrs_ref["attributes"])
    for key, value in attrs_ref["attributes"].items():
        if key not in ("uuid", "parentUUID", "pcieBusID"):
            assert mig["attributes"][key] == value, key
    assert mig["attributes"]["pcieBusID"]["string"] == "0000:07:00.0"  # same form as the fixture's 0001:00:00.0
    assert mig["capacity"] == attrs_ref["capacity"] | {"multiprocessors": {"value": "14"}, "ofaEngines": {"value": "0"}}
    assert got["gpu-0-mig-19-2-1"]["capacity"] == named_ref["capacity"]
    assert got["gpu-1"]["capacity"] == full_ref["capacity"]  # 80Gi
    assert {"productName", "type", "uuid"} <= set(got["gpu-1"]["attributes"])


def test_index_and_minor_match_issue_744_on_driver_v25_3():
    """GB300 mock profile: driver 570.124.06 / CUDA 12.8, as on the #744 GB200 node."""
    fixture = nvidia_fixture("issue-744-gb200-v25.3.2-v1beta1-basic-fragment.yaml")
    ref = fixture["devices"][0]["device"]["basic"]["attributes"]
    got = by_name(as_resourceslice(snap("gb300"), "v25.3"))["gpu-3"]["attributes"]
    assert {k: got[k] for k in ref} == ref
    assert "index" not in by_name(as_resourceslice(snap("gb300"), "v25.8"))["gpu-3"]["attributes"]


# ---------------------------------------------------------------------------- styles and modes


def test_attribute_keys_per_driver_release():
    s = snap("h100")
    keys = {style: set(by_name(as_resourceslice(s, style))["gpu-0"]["attributes"]) for style in STYLES}
    assert keys["v25.3"] - keys["v25.8"] == {"index", "minor"}
    assert "pcieBusID" in keys["v25.8"] and "resource.kubernetes.io/pciBusID" in keys["v25.12"]
    assert keys["v25.12"] == keys["v0.4"] and keys["main"] - keys["v0.4"] == {"resource.kubernetes.io/numaNode"}
    with pytest.raises(ValueError, match="^unknown driver version style 'v1.0'; one of v25.3, v25.8, v25.12, v0.4, main$"):
        as_resourceslice(s, "v1.0")


@pytest.mark.parametrize("style", ["v25.3", "v25.8", "v0.4", "main"])
def test_the_style_is_recognised_from_published_devices(style):
    published = [d for sl in as_resourceslice(snap("h100"), style)["items"] for d in decode_slice(sl, "v1").devices]
    assert detect_style(published) == style and not detect_dynamic_mig(published)


def test_dynamic_mig_split_and_combined_layouts():
    s = demo_snapshot("h100-dmig-01")
    split = as_resourceslice(s, "main", dynamic_mig=True)["items"]
    assert [sl["spec"]["pool"]["resourceSliceCount"] for sl in split] == [3, 3, 3]
    assert "devices" not in split[0]["spec"] and len(split[0]["spec"]["sharedCounters"]) == 2
    per_gpu = split[1]["spec"]["devices"]
    assert len(per_gpu) == 1 + 7 + 4 + 3 + 2 + 1 + 1  # full GPU + every placement, no +me profile
    full = per_gpu[0]
    assert full["name"] == "gpu-0" and full["capacity"]["memory"] == {"value": "81152Mi"}  # largest profile's
    assert "uuid" in full["attributes"] and all(d["consumesCounters"] for d in per_gpu)
    assert not any("uuid" in d["attributes"] for d in per_gpu[1:])  # DynamicMIG devices do not exist yet
    assert not any(k.startswith("memorySlice") for d in per_gpu for k in d["capacity"])
    combined = as_resourceslice(s, "main", dynamic_mig=True, split_slices=False)["items"]
    assert len(combined) == 2 and all(len(sl["spec"]["sharedCounters"]) == 1 for sl in combined)
    published = [d for sl in split for d in decode_slice(sl, "v1").devices]
    assert detect_dynamic_mig(published)


def test_dynamic_mig_on_ampere_and_on_gpus_without_mig():
    m = machine("a100")
    m.set_mig_layout(1, [("7g.40gb", 0)])
    items = as_resourceslice(snap(m), dynamic_mig=True)["items"]
    names = {d["name"] for sl in items for d in sl["spec"].get("devices", [])}
    assert "gpu-0" in names and "gpu-1" not in names  # MIG off: full GPU only; MIG on: placements only
    assert "gpu-1-mig-7g40gb-0-0" in names and not any(n.startswith("gpu-0-mig") for n in names)
    assert len(items[0]["spec"]["sharedCounters"]) == 1
    counters = items[0]["spec"]["sharedCounters"][0]["counters"]
    assert counters["multiprocessors"] == {"value": "98"} and counters["memory"] == {"value": "40192Mi"}  # drivers.md §1.7
    assert sorted(k for k in counters if k.startswith("memory-slice-")) == [f"memory-slice-{i}" for i in range(8)]
    l40s = as_resourceslice(snap("l40s"), dynamic_mig=True)["items"]
    assert all("sharedCounters" not in sl["spec"] for sl in l40s) and len(l40s) == 8


def test_lost_and_stranded_gpus_are_not_published():
    from kubectl_dra.nvml.fake import FakeBackend

    m = machine("a100")
    m.gpu(2).mig_mode = 1  # MIG on, no instances: stranded
    names = set(by_name(as_resourceslice(snap(FakeBackend(m).lose(5)))))
    assert names == {f"gpu-{i}" for i in (0, 1, 3, 4, 6, 7)}


@pytest.mark.parametrize("node", ["dgx-h100-01", "a100-mig-01", "h100-dmig-01", "l40s-01"])
def test_demo_snapshots_reproduce_the_demo_cluster_exactly(node):
    """Byte for byte what cluster.yaml publishes (read with plain YAML), not only "no drift" by
    compare_snapshot, the check tools/gen_demo_nvml.py itself ran; taints do not come from NVML."""
    published, counters = demo_published(node)
    dynamic = bool(counters)
    slices = as_resourceslice(demo_snapshot(node), "main", dynamic_mig=dynamic)["items"]
    devices = {d["name"]: d for sl in slices for d in sl["spec"].get("devices", [])}
    assert devices == {name: {k: v for k, v in d.items() if k != "taints"} for name, d in published.items()}
    assert {c["name"]: c for sl in slices for c in sl["spec"].get("sharedCounters", [])} == counters
    assert compare_snapshot(demo_snapshot(node), demo_devices(node)).in_sync
