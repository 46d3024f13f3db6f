"""nvidia-smi as an NVML source: the collector script (kubectl_dra/nvml/collector.sh) and the
parsers (kubectl_dra/nvml/smi.py), on real public outputs (tests/data/nvidia-smi/telegraf, MIT)
and facts-only ones (see tests/data/nvidia-smi/SOURCES.md)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kubectl_dra.nvml import smi
from kubectl_dra.nvml.collect import collect
from kubectl_dra.nvml.fake import FakeBackend, FakeMachine
from kubectl_dra.nvml.snapshot import Snapshot, load_snapshot

DATA = Path(__file__).parent / "data" / "nvidia-smi"
TELEGRAF = DATA / "telegraf"
FAKE_SMI = DATA / "fake-nvidia-smi"
GiB, MiB = 1 << 30, 1 << 20


def read(*parts: str) -> str:
    return DATA.joinpath(*parts).read_text(encoding="utf-8")


def bundle(name: str, *files: str) -> Snapshot:
    return smi.parse_outputs([(f, read(name, f)) for f in files])


# ---------------------------------------------------------------------------- -q -x across DTD versions

# file: (DTD, driver, CUDA, [(index, uuid, name, brand, architecture, MiB, bus id, minor, migEnabled)])
XML_FACTS = {
    "gtx-1070-ti.xml": (10, None, None, [(0, "GPU-f9ba66fc-a7f5-94c5-da19-019ef2f9c665", "GeForce GTX 1070 Ti", None, None, 4096, "00000000:01:00.0", None, None)]),
    "gtx-1660-ti.xml": (None, "418.43", "10.1", [(0, "GPU-304a277d-3545-63b8-3a36-dfde3c992989", "Graphics Device", "GeForce", None, 5912, "00000000:43:00.0", 0, None)]),
    "quadro-p400.xml": (None, "418.43", "10.1", [(0, "GPU-8f750be4-dfbc-23b9-b33f-da729a536494", "Quadro P400", "Quadro", None, 1998, "00000000:43:00.0", 0, None)]),
    "a10g.xml": (11, "515.105.01", "11.7", [(0, "GPU-9a9a6c50-2a47-2f51-a902-b82c3b127e94", "NVIDIA A10G", "Nvidia", "Ampere", 23028, "00000000:00:1E.0", 0, None)]),
    "tesla-t4.xml": (11, "515.105.01", "11.7", [(0, "GPU-d37e67a5-91dd-3774-a5cb-99096249601a", "Tesla T4", "Nvidia", "Turing", 15360, "00000000:00:1E.0", 0, None)]),
    "a100-sxm4-v12.xml": (12, "535.54.03", "12.2", [(0, "GPU-513536b6-7d19-9063-b049-1e69664bb298", "NVIDIA A100-SXM4-80GB", "Nvidia", "Ampere", 81920, "00000000:01:00.0", 1, True)]),
    "quadro-p2000-v12.xml": (12, "525.125.06", "12.0", [(0, "GPU-396caaed-39ca-3199-2e68-717cdb786ec6", "Quadro P2000", "Quadro", "Pascal", 5120, "00000000:17:00.0", 0, None)]),
    "rtx-3080-v12.xml": (12, "536.40", "12.2", [(0, "GPU-19d6d965-2acc-f646-00f8-4c76979aabb4", "NVIDIA GeForce RTX 3080", "GeForce", "Ampere", 10240, "00000000:04:00.0", None, None)]),
    "rtx-3080-v13.xml": (13, "595.58.03", "13.2", [(0, "GPU-19d6d965-2acc-f646-00f8-4c76979aabb4", "NVIDIA GeForce RTX 3080", "GeForce", "Ampere", 10240, "00000000:0C:00.0", 0, None)]),
    "rtx-4000-sff-ada-v13.xml": (13, "595.84", "13.2", [(0, "GPU-37037c3f-65c8-ec4d-24a9-420204ad8026", "NVIDIA RTX 4000 SFF Ada Generation", "NvidiaRTX", "Ada Lovelace", 20475, "00000000:06:00.0", 0, None)]),
    "pro-6000-maxq-blackwell-v13.xml": (13, "590.44.01", "13.1", [(0, "GPU-12345678-aaaa-bbbb-cccc-0123456789ab", "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", "NvidiaRTX", "Blackwell", 97887, "00000000:61:00.0", 0, None)]),
    "dual_a5000-v13.xml": (13, "590.44.01", "13.1", [
        (0, "GPU-12345678-aaaa-bbbb-cccc-0123456789ab", "NVIDIA RTX A5000", "NvidiaRTX", "Ampere", 24564, "00000000:81:00.0", 1, None),
        (1, "GPU-12345678-aaaa-bbbb-cccc-0123456789cd", "NVIDIA RTX A5000", "NvidiaRTX", "Ampere", 24564, "00000000:C1:00.0", 0, None),
    ]),
}  # fmt: skip


def test_every_telegraf_fixture_is_covered():
    assert {p.name for p in TELEGRAF.glob("*.xml")} == set(XML_FACTS)


@pytest.mark.parametrize("name", sorted(XML_FACTS))
def test_query_xml_facts(name):
    dtd, driver, cuda, gpus = XML_FACTS[name]
    text = (TELEGRAF / name).read_text(encoding="utf-8")
    assert smi.detect_kind(text) == "query"
    assert smi.parse_query_xml(text).dtd == dtd
    snap = smi.parse_outputs([(name, text)])
    assert (snap.source, snap.driver_version, snap.cuda_driver_version) == ("nvidia-smi", driver, cuda)
    got = [(g.index, g.uuid, g.name, g.brand, g.architecture, g.memory_bytes // MiB, g.pci_bus_id, g.minor, g.mig_enabled) for g in snap.gpus]
    assert got == gpus
    assert not snap.partial and snap.errors == []
    # the JSON form round-trips and keeps the published keys
    d = snap.to_dict()
    assert Snapshot.from_dict(json.loads(json.dumps(d))).to_dict() == d
    assert {"uuid", "name", "memoryBytes", "pciBusId", "migEnabled", "migDevices"} <= set(d["gpus"][0])


def test_a100_mig_from_the_xml_alone_guesses_the_profile_from_the_model_table():
    snap = smi.parse_outputs([("q", (TELEGRAF / "a100-sxm4-v12.xml").read_text())])
    migs = snap.gpus[0].mig_devices
    assert [(m.index, m.gi_id, m.ci_id, m.profile, m.gi_profile_id, m.memory_bytes, m.uuid) for m in migs] == [
        (i, 3 + i, 0, "1g.20gb", 15, 19968 * MiB, None) for i in range(4)
    ]
    assert (migs[0].multiprocessor_count, migs[0].copy_engine_count, migs[0].decoder_count, migs[0].encoder_count,
            migs[0].jpeg_count, migs[0].ofa_count) == (14, 1, 1, 0, 0, 0)  # fmt: skip
    assert all(m.placement is None for m in migs)  # only mig -lgi says where


def test_dtd_quirks_none_mig_devices_na_and_addressing_mode():
    blackwell = smi.parse_outputs([("q", (TELEGRAF / "pro-6000-maxq-blackwell-v13.xml").read_text())]).gpus[0]
    assert blackwell.mig_devices == [] and blackwell.mig_enabled is None  # <mig_devices>None</mig_devices>, N/A
    assert blackwell.fabric is None  # every <fabric> value is N/A off an NVLink fabric
    assert blackwell.addressing_mode == "HMM"
    a100 = smi.parse_outputs([("q", (TELEGRAF / "a100-sxm4-v12.xml").read_text())]).gpus[0]
    assert a100.addressing_mode == "None"  # NVML's value "None" (not N/A)
    old = smi.parse_outputs([("q", (TELEGRAF / "tesla-t4.xml").read_text())]).gpus[0]
    assert old.addressing_mode is None and old.architecture == "Turing"


def test_health_block():
    t4 = smi.parse_outputs([("q", (TELEGRAF / "tesla-t4.xml").read_text())]).gpus[0]
    assert t4.health["eccMode"] == "Enabled"
    assert t4.health["retiredPages"] == {"singleBit": 0, "doubleBit": 0, "pending": False}
    assert t4.health["eccErrors"]["volatile"]["dramUncorrectable"] == 0
    assert "remappedRows" not in t4.health  # <remapped_rows>N/A</remapped_rows>
    blackwell = smi.parse_outputs([("q", (TELEGRAF / "pro-6000-maxq-blackwell-v13.xml").read_text())]).gpus[0]
    assert blackwell.health["remappedRows"] == {"correctable": 0, "uncorrectable": 0, "pending": False, "failure": False}
    assert blackwell.health["recoveryAction"] == "None"
    assert smi.health_problems(blackwell.health) == []
    bad = (TELEGRAF / "pro-6000-maxq-blackwell-v13.xml").read_text()
    bad = bad.replace("<remapped_row_unc>0</remapped_row_unc>", "<remapped_row_unc>3</remapped_row_unc>")
    bad = bad.replace("<remapped_row_failure>No</remapped_row_failure>", "<remapped_row_failure>Yes</remapped_row_failure>")
    gpu = smi.parse_outputs([("q", bad)]).gpus[0]
    assert smi.health_problems(gpu.health) == ["row remapping failed: the GPU needs service", "3 row(s) remapped after uncorrectable errors"]


def test_v13_fabric_block_of_an_attached_gpu():
    text = (TELEGRAF / "pro-6000-maxq-blackwell-v13.xml").read_text()
    fabric = re.search(r"<fabric>.*?</fabric>", text, re.S).group(0)
    attached = (fabric.replace("<state>N/A</state>", "<state>Completed</state>")
                .replace("<status>N/A</status>", "<status>Success</status>")
                .replace("<cliqueId>N/A</cliqueId>", "<cliqueId>32766</cliqueId>")
                .replace("<clusterUuid>N/A</clusterUuid>", "<clusterUuid>4fa6a3b8-f2a5-4a6e-bb1f-3e56a3d0e1c2</clusterUuid>")
                .replace("<summary>N/A</summary>", "<summary>Healthy</summary>"))  # fmt: skip
    gpu = smi.parse_outputs([("q", text.replace(fabric, attached))]).gpus[0]
    assert gpu.fabric.to_dict() == {"clusterUuid": "4fa6a3b8-f2a5-4a6e-bb1f-3e56a3d0e1c2", "cliqueId": 32766, "state": "completed", "status": "success"}
    assert gpu.fabric.clique == "4fa6a3b8-f2a5-4a6e-bb1f-3e56a3d0e1c2.32766"
    assert gpu.health["fabric"] == {"summary": "Healthy"}


# ---------------------------------------------------------------------------- -L, mig -lgi/-lci, nvlink -s, topo -m

A100_MIG_UUIDS = [f"MIG-0d5c5a3b-6a3e-5f2c-9d1e-1a2b3c4d5e0{i}" for i in range(1, 5)]
A100_FILES = ("query.xml", "list.txt", "query-gpu.csv", "mig-lgi.txt", "mig-lci.txt", "mig-lgip.txt", "mig-lgipp.txt", "topo.txt", "nvlink.txt", "version.txt")


def test_a100_mig_bundle_joins_list_lgi_lci_and_xml():
    snap = bundle("a100-mig", *A100_FILES)
    gpu = snap.gpus[0]
    assert snap.nvml_version == "535.54"
    assert [(m.uuid, m.profile, m.gi_id, m.ci_id, m.gi_profile_id, m.placement.to_dict(), m.memory_bytes) for m in gpu.mig_devices] == [
        (A100_MIG_UUIDS[i], "1g.20gb", 3 + i, 0, 15, {"start": 2 * i, "size": 2}, 19968 * MiB) for i in range(4)
    ]
    assert (gpu.numa_node, gpu.cpu_affinity, gpu.cuda_compute_capability) == (0, "0-31,64-95", "8.0")
    assert [(link.link, link.active) for link in gpu.nvlinks] == [(i, False) for i in range(12)]
    assert snap.topology.gpus == [0] and snap.topology.matrix == [["X"]]
    profiles = {p.gi_profile_id: p for p in gpu.mig_profiles}
    assert [(p.profile, p.gi_profile_id, p.profile_index, p.slice_count, p.memory_bytes // MiB) for p in gpu.mig_profiles] == [
        ("1g.10gb", 19, 0, 1, 9728), ("1g.10gb+me", 20, 7, 1, 9728), ("1g.20gb", 15, 9, 1, 19968), ("2g.20gb", 14, 1, 2, 19968),
        ("3g.40gb", 9, 2, 3, 40192), ("4g.40gb", 5, 3, 4, 40192), ("7g.80gb", 0, 4, 7, 80896)]  # fmt: skip
    assert [(pl.start, pl.size) for pl in profiles[15].placements] == [(0, 2), (2, 2), (4, 2), (6, 2)]
    assert (profiles[0].multiprocessor_count, profiles[0].copy_engine_count, profiles[0].decoder_count,
            profiles[0].jpeg_count, profiles[0].ofa_count, profiles[20].instance_count) == (98, 7, 5, 1, 1, 1)  # fmt: skip


def test_mig_profiles_of_an_unknown_model_keep_nvidia_smis_rounded_memory():
    text = read("a100-mig", "mig-lgip.txt")
    snap = smi.parse_outputs([("L", "GPU 0: NVIDIA B200 (UUID: GPU-00000000-1111-2222-3333-444444444444)\n"), ("lgip", text)])
    p = snap.gpus[0].mig_profiles
    assert [(x.profile, x.profile_index, x.memory_bytes // MiB) for x in p[:3]] == [("1g.10gb", 0, 9728), ("1g.10gb+me", 7, 9728), ("1g.20gb", 0, 19968)]
    assert all(x.placements == [] for x in p)  # no mig -lgipp given


def test_list_alone_and_the_r450_mig_uuid_form():
    text = (
        "GPU 0: A100-SXM4-40GB (UUID: GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f)\n"
        "  MIG 3g.20gb Device 0: (UUID: MIG-GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f/1/0)\n"
        "  MIG 1c.3g.20gb Device 1: (UUID: MIG-GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f/2/0)\n"
        "GPU 1: A100-SXM4-40GB (UUID: GPU-8d8a5f3e-3e0b-2c3c-1d4e-6f7a8b9c0d1e)\n"
    )
    assert smi.detect_kind(text) == "list"
    snap = smi.parse_outputs([("L", text)])
    assert [(g.index, g.uuid, g.mig_enabled) for g in snap.gpus] == [
        (0, "GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f", True), (1, "GPU-8d8a5f3e-3e0b-2c3c-1d4e-6f7a8b9c0d1e", None)]  # fmt: skip
    assert [(m.index, m.profile, m.uuid) for m in snap.gpus[0].mig_devices] == [
        (0, "3g.20gb", "MIG-GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f/1/0"),
        (1, "1c.3g.20gb", "MIG-GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f/2/0"),
    ]


def test_mig_tables():
    gis = smi.parse_mig_instances(read("a100-mig", "mig-lgi.txt"))
    assert [(i.gpu, i.gi_id, i.profile, i.profile_id, i.ci_id, i.placement.to_dict()) for i in gis] == [
        (0, 3 + i, "1g.20gb", 15, None, {"start": 2 * i, "size": 2}) for i in range(4)
    ]
    cis = smi.parse_mig_instances(read("a100-mig", "mig-lci.txt"))
    assert {(i.gi_id, i.ci_id, i.profile_id) for i in cis} == {(3, 0, 0), (4, 0, 0), (5, 0, 0), (6, 0, 0)}


@pytest.mark.parametrize(("name", "nv", "numa", "links", "nics", "nic0"), [
    ("dgx-a100", "NV12", [3, 3, 1, 1, 7, 7, 5, 5], 12, [f"mlx5_{k}" for k in range(8)], ["PXB", "PXB", "SYS", "SYS", "SYS", "SYS", "SYS", "SYS"]),
    ("dgx-h100", "NV18", [0, 0, 0, 0, 1, 1, 1, 1], 18, [f"mlx5_{k}" for k in range(8)], ["PIX", "NODE", "NODE", "NODE", "SYS", "SYS", "SYS", "SYS"]),
])  # fmt: skip
def test_eight_gpu_boxes(name, nv, numa, links, nics, nic0):
    snap = bundle(name, "list.txt", "topo.txt", "nvlink.txt")
    assert [g.index for g in snap.gpus] == list(range(8))
    assert snap.topology.gpus == list(range(8))
    assert all(snap.topology.cell(a, b) == (nv if a != b else "X") for a in range(8) for b in range(8))
    assert snap.topology.nvlink_count(0, 7) == int(nv[2:])
    assert snap.topology.pcie[0][1] == "?"  # topo -m hides the PCIe path behind NV#
    assert [g.numa_node for g in snap.gpus] == numa
    assert [len(g.active_nvlinks()) for g in snap.gpus] == [links] * 8
    assert snap.topology.nics == nics and snap.topology.nic_matrix[0] == nic0


def test_topo_as_pasted_from_a_web_page_and_with_terminal_colours():
    text = read("dgx-a100", "topo.txt")
    tabbed = smi.parse_topo(text)
    spaced = smi.parse_topo("\n".join(line.expandtabs(8) for line in text.splitlines()))
    coloured = smi.parse_topo(text.replace("\tGPU0", "\x1b[4m\tGPU0", 1).replace("Affinity\n", "Affinity\x1b[0m\n", 1))
    for other in (spaced, coloured):
        assert other.cells == tabbed.cells and other.numa_affinity == tabbed.numa_affinity
        assert other.cpu_affinity == tabbed.cpu_affinity
    assert tabbed.cpu_affinity["GPU0"] == "48-63,176-191" and tabbed.gpu_numa_id["GPU0"] == "N/A"


def test_topo_pcie_only_and_old_soc_cells():
    text = "\tGPU0\tGPU1\tGPU2\tCPU Affinity\nGPU0\t X \tPIX\tSOC\t0-11\nGPU1\tPIX\t X \tSOC\t0-11\nGPU2\tSOC\tSOC\t X \t12-23\n"
    snap = smi.parse_outputs([("topo", text)])
    assert snap.topology.matrix == [["X", "PIX", "SYS"], ["PIX", "X", "SYS"], ["SYS", "SYS", "X"]]
    assert snap.topology.pcie == snap.topology.matrix
    assert [g.cpu_affinity for g in snap.gpus] == ["0-11", "0-11", "12-23"]


def test_nvlink_status_active_and_inactive():
    text = ("GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-aaaaaaaa-0000-0000-0000-000000000000)\n"
            "\t Link 0: 25 GB/s\n\t Link 1: <inactive>\n\t Link 2: 25 GB/s\n")  # fmt: skip
    assert smi.detect_kind(text) == "nvlink"
    (gpu,) = smi.parse_nvlink_status(text)
    assert gpu.links == [(0, True, "25 GB/s"), (1, False, None), (2, True, "25 GB/s")]


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("hello\n", "not an nvidia-smi output"),
    ('{"kind": "NvmlSnapshot"}', "use --snapshot"),
    ("<nvidia_smi_log><gpu>", "not valid nvidia-smi XML"),
    ("<?xml version='1.0'?>\n<nvidia_smi_logs/>", "not <nvidia_smi_log>"),
])  # fmt: skip
def test_bad_input_is_an_input_error(text, message):
    with pytest.raises(smi.SmiParseError, match=re.escape(message)) as info:
        smi.parse_outputs([("f", text)])
    assert info.value.exit_code == 5


def test_two_outputs_of_one_kind_are_refused():
    with pytest.raises(smi.SmiParseError, match="a second topo output"):
        smi.parse_outputs([("a", read("dgx-a100", "topo.txt")), ("b", read("dgx-h100", "topo.txt"))])


# ---------------------------------------------------------------------------- the collector script


def fake_sysfs(root: Path, devices: dict[str, tuple[str, int]]) -> Path:
    """/sys/bus/pci/devices/<bdf> -> ../../../devices/<path>/<bdf>, with vendor, class and numa_node."""
    (root / "bus" / "pci" / "devices").mkdir(parents=True)
    for bdf, (parents, numa) in devices.items():
        target = root / "devices" / parents / bdf
        target.mkdir(parents=True)
        (target / "vendor").write_text("0x10de\n")
        (target / "class").write_text("0x030200\n")
        (target / "numa_node").write_text(f"{numa}\n")
        (root / "bus" / "pci" / "devices" / bdf).symlink_to(Path("../../../devices") / parents / bdf)
    nic = root / "devices" / "pci0000:00" / "0000:00:02.0"
    nic.mkdir(parents=True)
    (nic / "vendor").write_text("0x15b3\n")
    (root / "bus" / "pci" / "devices" / "0000:00:02.0").symlink_to("../../../devices/pci0000:00/0000:00:02.0")
    return root


def shells() -> list[str]:
    return [s for s in ("dash", "bash", "busybox") if shutil.which(s)] or ["sh"]


def run_collector(fixture_dir: Path, tmp_path: Path, *extra: str, shell: str = "sh", path: str | None = None) -> str:
    argv = [shell, "sh"] if shell == "busybox" else [shell]
    env = dict(os.environ, FAKE_SMI_DIR=str(fixture_dir), TMPDIR=str(tmp_path))
    if path is not None:
        env["PATH"] = path
    argv += ["-c", smi.collector_script(), "kubectl-dra-collect",
             *smi.collector_args(nvidia_smi=str(FAKE_SMI), timeout=2, sysfs=str(tmp_path / "sys")), *extra]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


@pytest.mark.parametrize("shell", shells())
def test_collector_output_parses_to_the_same_snapshot_as_the_files(tmp_path, shell):
    fake_sysfs(tmp_path / "sys", {"0000:01:00.0": ("pci0000:00/0000:00:01.0/0000:01:00.1", 0)})
    text = run_collector(DATA / "a100-mig", tmp_path, "--no-xid", shell=shell)
    assert smi.detect_kind(text) == "collected"
    sections = smi.split_collected(text)
    assert sections.done and list(sections.sections) == [s for s in smi.SECTIONS if s != "xid"]
    assert {n: s.rc for n, s in sections.sections.items()} == {
        "version": "0", "query": "0", "list": "0", "query-gpu": "0", "mig-lgi": "0", "mig-lci": "0",
        "mig-lgip": "0", "mig-lgipp": "0", "topo": "0", "nvlink": "0", "pci": "0"}  # fmt: skip
    assert sections.sections["query"].stdout == read("a100-mig", "query.xml")  # verbatim
    snap = smi.parse_collected(text, node="gpu-node-1")
    files = bundle("a100-mig", *A100_FILES)
    assert snap.node == "gpu-node-1" and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", snap.collected_at)
    assert snap.errors == [] and not snap.partial  # the fake's "not supported" is an absent feature
    assert (snap.gpus[0].pcie_root, snap.gpus[0].numa_node) == ("pci0000:00", 0)  # from sysfs, like the driver
    got, want = snap.to_dict(), files.to_dict()
    for d in (got, want):
        d.pop("collectedAt"), d.pop("node")
        d["gpus"][0].pop("pcieRoot")
    assert got == want
    assert not list(tmp_path.glob("kubectl-dra-collect.*"))  # its temporary directory is gone


def test_collector_needs_no_timeout_readlink_or_mktemp(tmp_path):
    """Only the tools a distroless busybox image has: no timeout(1), readlink(1), mktemp(1)."""
    fake_sysfs(tmp_path / "sys", {"0000:01:00.0": ("pci0000:00/0000:00:01.0", 0)})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "cat", "sleep", "kill", "tail", "od", "tr", "rm", "mkdir", "date", "hostname", "uname", "grep"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    for absent in ("timeout", "readlink", "mktemp"):
        assert not (bin_dir / absent).exists()
    text = run_collector(DATA / "a100-mig", tmp_path, shell=str(bin_dir / "sh"), path=str(bin_dir))
    snap = smi.parse_collected(text)
    assert snap.gpus[0].pcie_root == "pci0000:00" and len(snap.gpus[0].mig_devices) == 4


def test_a_hanging_nvidia_smi_times_out_and_the_rest_is_skipped(tmp_path):
    fixture = tmp_path / "fixture"
    shutil.copytree(DATA / "a100-mig", fixture)
    (fixture / "hang.mig-lgi.txt").touch()
    (tmp_path / "sys").mkdir()
    text = run_collector(fixture, tmp_path, "--no-xid")
    rcs = {n: s.rc for n, s in smi.split_collected(text).sections.items()}
    assert rcs["mig-lgi"] == "timeout"
    assert {rcs[n] for n in ("mig-lci", "mig-lgip", "mig-lgipp", "topo", "nvlink")} == {"skipped"}
    assert rcs["pci"] == "0"  # sysfs is read even when nvidia-smi hangs
    snap = smi.parse_collected(text)
    assert snap.partial
    assert [e.error for e in snap.errors] == ["TIMEOUT"] + ["SKIPPED"] * 5
    assert snap.errors[0].call.endswith("fake-nvidia-smi mig -lgi")
    assert [m.uuid for m in snap.gpus[0].mig_devices] == A100_MIG_UUIDS  # -q -x and -L came before


def test_a_failing_nvidia_smi_is_reported_with_its_message(tmp_path):
    fixture = tmp_path / "fixture"
    fixture.mkdir()
    (fixture / "query.xml").write_text("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n")
    (fixture / "rc.query.xml").write_text("9\n")
    (tmp_path / "sys").mkdir()
    snap = smi.parse_collected(run_collector(fixture, tmp_path, "--no-xid"))
    assert snap.partial and snap.gpus == []
    assert snap.errors[0].error == "EXIT_9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."


def test_cut_off_output_and_xid_lines():
    text = read("a100-mig", "query.xml")
    collected = (
        "@@kubectl-dra collector version=1 host=node-a date=2026-12-06T07:00:00Z\n"
        f"@@kubectl-dra begin query cmd=nvidia-smi -q -x\n{text}@@kubectl-dra end query rc=0\n"
        "@@kubectl-dra begin xid cmd=xid_lines\n"
        "[ 1234.5] NVRM: Xid (PCI:0000:01:00): 79, pid=1234, name=python, GPU has fallen off the bus.\n"
        "[ 1240.1] NVRM: Xid (PCI:0000:01:00): 48, pid=1234, name=python, An uncorrectable double bit error\n"
        "@@kubectl-dra end xid rc=0\n"
        "@@kubectl-dra begin topo cmd=nvidia-smi topo -m\n\tGPU0\n"
    )
    snap = smi.parse_collected(collected)
    assert snap.node == "node-a" and snap.collected_at == "2026-12-06T07:00:00Z"
    assert [x["xid"] for x in snap.gpus[0].health["xids"]] == [79, 48]
    assert smi.health_problems(snap.gpus[0].health)[0] == "kernel log reports Xid 48, 79 (2 lines)"
    assert snap.partial and [e.error.split(":")[0] for e in snap.errors] == ["CUT_OFF", "CUT_OFF"]


# ---------------------------------------------------------------------------- nvidia-smi and NVML agree (without a GPU)


def test_nvml_collection_of_the_same_machine_agrees_with_nvidia_smi():
    """The GPU check (tests/gpu/check_smi_vs_nvml.py) without a GPU: NVML is the fake backend
    replaying what nvidia-smi said; every fact both have must match."""
    from_smi = bundle("a100-mig", *A100_FILES)
    from_nvml = collect(FakeBackend(FakeMachine.from_snapshot(from_smi)), "node")
    diffs, compared = smi.common_differences(from_smi, from_nvml)
    assert diffs == [] and compared >= 30
    from_nvml.gpus[0].mig_devices[1].uuid = "MIG-other"
    from_nvml.gpus[0].memory_bytes += MiB
    diffs, _ = smi.common_differences(from_smi, from_nvml)
    assert "GPU 0 memory_bytes: nvidia-smi 85899345920 != NVML 85900394496" in diffs
    assert any(d.startswith("GPU 0 MIG 4/0 uuid") for d in diffs)


# ---------------------------------------------------------------------------- kubectl dra nvml --nvidia-smi


def test_cli_json_is_the_snapshot_format(run):
    files = [str(DATA / "a100-mig" / f) for f in A100_FILES]
    result = run("nvml", *[a for f in files for a in ("--nvidia-smi", f)], "--node", "a100-node", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["kind"] == "NvmlSnapshot" and data["source"] == "nvidia-smi" and data["node"] == "a100-node"
    assert data["driverVersion"] == "535.54.03"
    assert [m["uuid"] for m in data["gpus"][0]["migDevices"]] == A100_MIG_UUIDS
    assert load_snapshot(result.stdout).to_dict() == data


def test_cli_table_and_stdin(run):
    result = run("nvml", "--nvidia-smi", "-", "--nvidia-smi", str(DATA / "dgx-h100" / "list.txt"), input=read("dgx-h100", "topo.txt"))
    assert result.exit_code == 0, result.stderr
    assert "Source:     nvidia-smi" in result.stdout
    assert "GPU-5a367384-d845-48ec-9c9d-2d5e8a50b041" in result.stdout and "NV18" in result.stdout
    with_links = run("nvml", *[x for f in ("list.txt", "topo.txt", "nvlink.txt") for x in ("--nvidia-smi", str(DATA / "dgx-h100" / f))])
    assert "  GPU0-7  18 of 18 links active (each)\n" in with_links.stdout  # nvidia-smi does not say where links go


def test_cli_compare_on_nvidia_smi_outputs(run, tmp_path):
    args = [a for f in A100_FILES for a in ("--nvidia-smi", str(DATA / "a100-mig" / f))] + ["--node", "a100-node"]
    slices = run("nvml", *args, "--as-resourceslice")
    assert slices.exit_code == 0, slices.stderr
    (tmp_path / "slices.yaml").write_text(slices.stdout)
    same = run("nvml", *args, "--compare", "-f", str(tmp_path / "slices.yaml"))
    assert same.exit_code == 0, same.stdout + same.stderr
    changed = read("a100-mig", "list.txt").replace(A100_MIG_UUIDS[2], "MIG-11111111-2222-3333-4444-555555555555")
    (tmp_path / "list.txt").write_text(changed)
    args = [a if a != str(DATA / "a100-mig" / "list.txt") else str(tmp_path / "list.txt") for a in args]
    drift = run("nvml", *args, "--compare", "-f", str(tmp_path / "slices.yaml"), "-o", "json")
    assert drift.exit_code == 8, drift.stdout + drift.stderr
    assert "MIG-11111111-2222-3333-4444-555555555555" in drift.stdout


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--nvidia-smi", "/nonexistent/q.xml"], 5, "error: --nvidia-smi /nonexistent/q.xml: cannot read"),
    (["--nvidia-smi", str(DATA / "fake-nvidia-smi")], 5, "not an nvidia-smi output this tool reads"),
    (["--nvidia-smi", "-", "--nvidia-smi", "-"], 5, "stdin can be read only once"),
    (["--nvidia-smi", str(TELEGRAF / "tesla-t4.xml"), "--snapshot", "x.json"], 2, "--snapshot and --nvidia-smi cannot be used together"),
    (["--nvidia-smi", str(TELEGRAF / "tesla-t4.xml"), "--demo"], 2, "--demo and --nvidia-smi cannot be used together"),
])  # fmt: skip
def test_cli_errors(run, args, code, message):
    result = run("nvml", *args)
    assert result.exit_code == code
    assert message in result.stderr


# ---------------------------------------------------------------------------- the GPU check script, without a GPU

CHECK = Path(__file__).parent / "gpu" / "check_smi_vs_nvml.py"


def test_gpu_check_script_plumbing_without_a_gpu(tmp_path):
    import sys

    env = dict(os.environ, FAKE_SMI_DIR=str(DATA / "a100-mig"), OUT=str(tmp_path / "out"))
    done = subprocess.run([sys.executable, str(CHECK), "--nvidia-smi", str(FAKE_SMI), "--timeout", "5", "--nvml", "fake-from-smi"],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "out"
    assert (out / "fixture" / "query.xml").read_text() == read("a100-mig", "query.xml")
    assert (out / "fixture" / "list.txt").read_text() == read("a100-mig", "list.txt")
    smi_snap = load_snapshot(out / "smi-snapshot.json")
    nvml_snap = load_snapshot(out / "nvml-snapshot.json")
    assert [m.uuid for m in smi_snap.gpus[0].mig_devices] == [m.uuid for m in nvml_snap.gpus[0].mig_devices] == A100_MIG_UUIDS
    assert "differences: 0" in (out / "report.txt").read_text()


def test_gpu_check_script_skips_without_nvidia_smi(tmp_path):
    import sys

    done = subprocess.run([sys.executable, str(CHECK), "--out", str(tmp_path), "--nvidia-smi", str(tmp_path / "no-such-nvidia-smi"), "--timeout", "2"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 77, done.stdout + done.stderr
    assert done.stdout.startswith("SKIP: nvidia-smi did not answer")


def test_the_collector_ships_in_the_wheel():
    import tomllib

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert "nvml/collector.sh" in project["tool"]["setuptools"]["package-data"]["kubectl_dra"]
    script = smi.collector_script()
    assert script.startswith("#!/bin/sh\n") and "format version 1" in script
    assert smi.collector_argv()[:2] == ["sh", "-c"] and smi.collector_argv()[3:] == ["kubectl-dra-collect", "--nvidia-smi", "nvidia-smi", "--timeout", "20"]


def test_collector_names_the_node_from_node_name(tmp_path, monkeypatch):
    (tmp_path / "sys").mkdir()
    monkeypatch.setenv("NODE_NAME", "gpu-node-7")
    snap = smi.parse_collected(run_collector(DATA / "a100-mig", tmp_path, "--no-xid"))
    assert snap.node == "gpu-node-7"
    assert smi.parse_collected(run_collector(DATA / "a100-mig", tmp_path, "--no-xid"), node="other").node == "other"


def test_a_lost_gpu_is_listed_as_lost(tmp_path):
    fixture = tmp_path / "fixture"
    shutil.copytree(DATA / "a100-mig", fixture)
    (fixture / "list.txt").write_text(read("a100-mig", "list.txt") + "Unable to determine the device handle for GPU 0000:3B:00.0: GPU is lost.  Reboot the system to recover this GPU\n")
    (tmp_path / "sys").mkdir()
    snap = smi.parse_collected(run_collector(fixture, tmp_path, "--no-xid"))
    assert [(g.index, g.pci_bus_id, g.lost) for g in snap.gpus] == [(0, "00000000:01:00.0", False), (1, "00000000:3B:00.0", True)]
    assert snap.partial and snap.errors[-1].to_dict() == {"gpu": 1, "call": "nvidia-smi", "error": "GPU_IS_LOST"}


@pytest.mark.parametrize(("rc", "output", "error"), [
    ("0", "ok", None),
    ("6", "No MIG-enabled devices found.", None),
    ("6", "No GPU instances found: Not Found", None),
    ("2", 'Field "compute_cap" is not a valid field to query.', None),
    ("4", "Insufficient Permissions", "EXIT_4: Insufficient Permissions"),
    ("timeout", "", "TIMEOUT"),
    ("skipped", "", "SKIPPED"),
    ("notfound", "sh: 1: nvidia-smi: not found", "NOT_FOUND: sh: 1: nvidia-smi: not found"),
    (None, "<nvidia_smi_log>", "CUT_OFF: <nvidia_smi_log>"),
])  # fmt: skip
def test_section_errors(rc, output, error):
    got = smi._section_error(smi.Section("mig-lgi", "nvidia-smi mig -lgi", output, "", rc))
    assert (got.error if got else None) == error


def test_compare_lists_what_nvidia_smi_did_not_say_as_unverified_not_drift(run, tmp_path):
    import yaml

    from kubectl_dra.nvml.resourceslice import as_resourceslice

    files = ("query.xml", "list.txt", "mig-lgi.txt")
    assert [m.gi_profile_id for m in bundle("a100-mig", "query.xml", "list.txt").gpus[0].mig_devices] == [15] * 4  # from the table
    full = bundle("a100-mig", *files)
    full.node = "a100-node"
    full.gpus[0].pcie_root, full.gpus[0].cuda_compute_capability = "pci0000:00", "8.0"
    (tmp_path / "slices.yaml").write_text(yaml.safe_dump(as_resourceslice(full, "main")))
    args = [a for f in files for a in ("--nvidia-smi", str(DATA / "a100-mig" / f))] + ["--node", "a100-node", "--compare", "-f", str(tmp_path / "slices.yaml")]
    text = run("nvml", *args)
    assert text.exit_code == 0, text.stdout + text.stderr
    assert "in sync" in text.stdout
    assert "not checked: gpu.nvidia.com/cudaComputeCapability, resource.kubernetes.io/pcieRoot on 4 devices" in text.stdout
    data = json.loads(run("nvml", *args, "-o", "json").stdout)
    assert data["inSync"] and data["removedKeys"] == []
    assert {(k["key"], json.dumps(k["value"])) for k in data["unverified"]} == {
        ("gpu.nvidia.com/cudaComputeCapability", '{"version": "8.0.0"}'), ("resource.kubernetes.io/pcieRoot", '"pci0000:00"')}  # fmt: skip
    # a snapshot from NVML keeps reporting such keys as removed (NVML does say them)
    snap_path = tmp_path / "snap.json"
    snap_path.write_text(json.dumps(bundle("a100-mig", *files).to_dict() | {"source": None}))
    nvml = run("nvml", "--snapshot", str(snap_path), "--node", "a100-node", "--compare", "-f", str(tmp_path / "slices.yaml"), "-o", "json")
    assert nvml.exit_code == 8 and "unverified" not in json.loads(nvml.stdout)


def test_saved_collector_output_for_the_remote_modes():
    """tests/data/nvidia-smi/collected/a100-mig.txt: what the collector printed on the a100-mig
    fixture (fake nvidia-smi, fake sysfs); the remote modes' fake exec/log replies use it."""
    text = read("collected", "a100-mig.txt")
    snap = smi.parse_collected(text)
    assert (snap.node, snap.collected_at, snap.source, snap.partial) == ("a100-node-1", "2026-12-06T08:00:00Z", "nvidia-smi", False)
    gpu = snap.gpus[0]
    assert (gpu.uuid, gpu.pci_bus_id, gpu.pcie_root, gpu.numa_node, gpu.cuda_compute_capability, gpu.memory_bytes) == (
        "GPU-513536b6-7d19-9063-b049-1e69664bb298", "00000000:01:00.0", "pci0000:00", 0, "8.0", 80 * GiB)  # fmt: skip
    assert [(m.uuid, m.profile, m.placement.start) for m in gpu.mig_devices] == [(u, "1g.20gb", 2 * i) for i, u in enumerate(A100_MIG_UUIDS)]
    assert smi.parse_outputs([("collected", text)]).to_dict() == snap.to_dict()


def test_gpu_check_script_skips_without_nvml(tmp_path):
    import sys

    pytest.importorskip("pynvml")
    env = dict(os.environ, FAKE_SMI_DIR=str(DATA / "a100-mig"), LD_LIBRARY_PATH=str(tmp_path))
    done = subprocess.run([sys.executable, str(CHECK), "--out", str(tmp_path / "out"), "--nvidia-smi", str(FAKE_SMI), "--timeout", "5"],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    if done.returncode != 77:  # a machine with a GPU and a driver: the real check ran
        pytest.skip("NVML is usable here: run tests/gpu/check_smi_vs_nvml.py with the real nvidia-smi instead")
    assert done.stdout.startswith("SKIP: NVML is not usable here")
    assert (tmp_path / "out" / "smi-snapshot.json").exists() and not (tmp_path / "out" / "nvml-snapshot.json").exists()


def test_collector_without_temporary_files(tmp_path):
    """A read-only root file system: no temporary directory; the sections stream through."""
    (tmp_path / "sys").mkdir()
    text = run_collector(DATA / "a100-mig", tmp_path, "--no-xid", "--stream")
    streamed = smi.parse_collected(text)
    assert "@@kubectl-dra stderr" not in text
    normal = smi.parse_collected(run_collector(DATA / "a100-mig", tmp_path, "--no-xid"))
    a, b = streamed.to_dict(), normal.to_dict()
    a.pop("collectedAt"), b.pop("collectedAt")
    assert a == b
