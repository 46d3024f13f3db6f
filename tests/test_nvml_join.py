"""One NVML reader, one bus-id normaliser, and the join of NVML facts to DRA devices (kubectl_dra.nvml.join)."""

from __future__ import annotations

import io
import json

import pytest

from kubectl_dra.errors import ExitCode
from kubectl_dra.model.claim import Node
from kubectl_dra.model.computedomain import CLIQUE_LABEL, cliques, decode_compute_domain, node_domains
from kubectl_dra.nvml.join import fabric_clique, join_nvml
from kubectl_dra.nvml.snapshot import (
    Snapshot,
    SnapshotError,
    bus_id_key,
    dra_bus_id,
    normalize_bus_id,
    parse_snapshot,
    read_snapshot,
    same_bus_id,
)


def _snap(gpus, topology=None) -> Snapshot:
    return Snapshot.from_dict({"kind": "NvmlSnapshot", "version": 1, "node": "n", "gpus": gpus, "topology": topology or {}})


# ---------------------------------------------------------------------------- bus ids


def test_one_canonical_form_for_matching():
    forms = ["00000000:1A:00.0", "0000:1a:00.0", "1a:00.0", " 0000:1A:00.0 "]
    assert {bus_id_key(f) for f in forms} == {"00000000:1A:00.0"}
    assert {normalize_bus_id(f) for f in forms} == {"00000000:1A:00.0"}


@pytest.mark.parametrize("garbage", [None, "", "pci-1", "0000:1a:00", 7])
def test_garbage_matches_nothing(garbage):
    assert bus_id_key(garbage) is None
    assert not same_bus_id(garbage, garbage)


def test_display_form_is_the_drivers():
    assert dra_bus_id("00000000:1A:00.0") == "0000:1a:00.0"
    assert dra_bus_id(None) is None
    with pytest.raises(ValueError, match="not a PCI bus id: 'pci-1'"):
        dra_bus_id("pci-1")


@pytest.mark.parametrize(
    "gpu, where",
    [
        ({"index": 3, "pciBusId": "slot-3"}, "GPU 3: pciBusId: 'slot-3' is not a PCI bus id"),
        ({"index": 1, "pciBusId": "00000000:1A:00.0", "nvlinks": [{"link": 0, "active": True, "remotePciBusId": "x"}]},
         "GPU 1: nvlinks[0]: remotePciBusId: 'x' is not a PCI bus id"),
    ],
)  # fmt: skip
def test_an_invalid_bus_id_in_a_file_is_an_input_error(gpu, where):
    with pytest.raises(SnapshotError, match=r"^snap\.json: " + where.replace("[", r"\[").replace("]", r"\]")) as err:
        Snapshot.from_dict({"kind": "NvmlSnapshot", "version": 1, "gpus": [gpu]}, "snap.json")
    assert err.value.exit_code == ExitCode.INPUT and "00000000:1A:00.0" in err.value.hint


def test_bus_ids_are_read_canonical():
    snap = _snap([{"index": 0, "pciBusId": "0000:1a:00.0", "nvlinks": [{"active": True, "remotePciBusId": "1b:00.0"}]}])
    assert snap.gpus[0].pci_bus_id == "00000000:1A:00.0"
    assert snap.gpus[0].nvlinks[0].remote_pci_bus_id == "00000000:1B:00.0"


# ---------------------------------------------------------------------------- the one reader


def test_reader_takes_json_yaml_and_stdin(tmp_path, monkeypatch):
    data = {"kind": "NvmlSnapshot", "version": 1, "node": "n1", "gpus": [{"index": 0, "uuid": "GPU-a"}]}
    (tmp_path / "s.json").write_text(json.dumps(data))
    (tmp_path / "s.yaml").write_text("kind: NvmlSnapshot\nversion: 1\nnode: n1\ngpus:\n- index: 0\n  uuid: GPU-a\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(data)))
    got = [read_snapshot(tmp_path / "s.json"), read_snapshot(str(tmp_path / "s.yaml"), "--nvml"), read_snapshot("-")]
    assert {(s.node, s.gpus[0].uuid) for s in got} == {("n1", "GPU-a")}


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "--nvml f.json: empty"),
        ("{nope", "--nvml f.json: not JSON"),
        ("a: [b", "--nvml f.json: not JSON or YAML"),
        ('{"kind": "Pod"}', "f.json: kind is 'Pod', expected 'NvmlSnapshot'"),
    ],
)
def test_reader_errors_name_the_option_and_file(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.json").write_text(text)
    with pytest.raises(SnapshotError, match="^" + message.replace("[", r"\[")) as err:
        read_snapshot("f.json", "--nvml")
    assert err.value.exit_code == ExitCode.INPUT
    with pytest.raises(SnapshotError, match="^--nvml missing.json: cannot read: "):
        read_snapshot("missing.json", "--nvml")
    with pytest.raises(SnapshotError, match="^snapshot: not JSON"):
        parse_snapshot("{nope")


def test_link_state_and_matrix_mapping_spellings():
    snap = _snap(
        [{"index": 0, "uuid": "GPU-a", "nvlinks": [{"state": "up"}, {"state": "down"}, {"state": True}]}, {"index": 1, "uuid": "GPU-b"}],
        {"gpus": ["GPU0", {"uuid": "GPU-b"}], "matrix": {"GPU0": {"GPU1": "NV4", "GPU0": "X"}, "1": {"0": "NV4"}}},
    )
    assert [link.active for link in snap.gpus[0].nvlinks] == [True, False, True]
    assert snap.topology.gpus == [0, 1]
    assert snap.topology.matrix == [["X", "NV4"], ["NV4", "?"]]


# ---------------------------------------------------------------------------- the join


def _entries():
    return [
        {"name": "gpu-0", "uuid": "GPU-a", "pciBusID": "0000:1a:00.0", "type": "gpu"},
        {"name": "gpu-1", "uuid": None, "pciBusID": "0000:1b:00.0", "type": "gpu"},
        {"name": "nic-0", "uuid": None, "pciBusID": "0000:1c:00.0", "type": "nic"},
        {"name": "odd", "uuid": None, "pciBusID": "slot-9", "type": "gpu"},
    ]


def test_join_by_uuid_then_bus_id_never_a_nic_or_garbage():
    entries = _entries()
    snap = _snap([
        {"index": 0, "uuid": "GPU-a", "pciBusId": "00000000:99:00.0"},  # the UUID wins over the bus id
        {"index": 1, "pciBusId": "00000000:1B:00.0"},
        {"index": 2, "pciBusId": "00000000:1C:00.0"},  # a NIC's bus id: not a GPU device
        {"index": 3},
    ])  # fmt: skip
    facts = join_nvml(entries, snap)
    assert {e["name"]: e["nvml"]["index"] for e in entries if "nvml" in e} == {"gpu-0": 0, "gpu-1": 1}
    assert facts["unmatched"] == [
        {"index": 2, "uuid": None, "pciBusId": "00000000:1C:00.0"},
        {"index": 3, "uuid": None, "pciBusId": None},
    ]
    assert facts["groups"] == [] and "matrix" not in facts and "fabricCliques" not in facts


def test_join_groups_direct_links_switches_and_matrix():
    entries = _entries()
    link = lambda bus, kind="gpu": {"active": True, "remotePciBusId": bus, "remoteType": kind}  # noqa: E731
    snap = _snap(
        [
            {"index": 0, "uuid": "GPU-a", "pciBusId": "00000000:1A:00.0", "nvlinks": [link("00000000:1B:00.0")]},
            {"index": 1, "pciBusId": "00000000:1B:00.0", "nvlinks": [link("00000000:1A:00.0"), {"active": False}]},
            {"index": 2, "pciBusId": "00000000:2A:00.0", "nvlinks": [link("00000000:E0:00.0", "switch")]},
            {"index": 3, "pciBusId": "00000000:2B:00.0", "nvlinks": [link("00000000:E0:00.0", "switch")],
             "fabric": {"clusterUuid": "c", "cliqueId": 2, "state": "completed", "status": "success"}},
            {"index": 4, "pciBusId": "00000000:3A:00.0"},
            {"index": 5, "pciBusId": "00000000:3B:00.0"},
        ],
        {"gpus": [4, 5], "matrix": [["X", "NV2"], ["NV2", "X"]]},
    )  # fmt: skip
    facts = join_nvml(entries, snap)
    assert [(g["gpus"], g["via"]) for g in facts["groups"]] == [([0, 1], "nvlink"), ([2, 3], "nvswitch"), ([4, 5], "nvlink")]
    assert facts["groups"][0]["devices"] == ["gpu-0", "gpu-1"]
    assert entries[0]["nvml"] == {"index": 0, "nvlinkGroup": 1, "nvlinks": 1, "fabricClique": None}
    assert facts["fabricCliques"] == ["c.2"]
    assert facts["matrix"] == {"gpus": ["GPU4", "GPU5"], "devices": [None, None], "rows": [["X", "NV2"], ["NV2", "X"]]}


def test_fabric_clique_of_a_record_or_its_dict():
    attached = {"clusterUuid": "abc", "cliqueId": 3, "state": "completed", "status": "success"}
    assert fabric_clique(attached) == "abc.3" and fabric_clique(None) is None
    assert fabric_clique({**attached, "state": "in_progress"}) is None


# ---------------------------------------------------------------------------- ComputeDomains (model)


def test_compute_domains():
    obj = {
        "apiVersion": "resource.nvidia.com/v1beta1", "kind": "ComputeDomain", "metadata": {"name": "cd"},
        "status": {"status": "Ready", "nodes": [{"name": "n1", "cliqueID": "u.1"}, {"name": "n2"}, {"cliqueID": "x"}]},
    }  # fmt: skip
    cd = decode_compute_domain(obj)
    assert cd == {"namespace": "default", "name": "cd", "status": "Ready", "nodes": [{"name": "n1", "cliqueID": "u.1"}, {"name": "n2", "cliqueID": None}]}
    assert decode_compute_domain({**obj, "apiVersion": "example.com/v1"}) is None
    assert decode_compute_domain({"kind": "Pod"}) is None
    labelled = Node("n2", labels={CLIQUE_LABEL: "v.7"})
    assert cliques([Node("n0"), labelled], [cd]) == {"n0": None, "n2": "v.7", "n1": "u.1"}  # the label wins
    assert node_domains([cd], "n2") == ["default/cd"] and node_domains([cd], "n3") == []


# ---------------------------------------------------------------------------- through the CLI


def test_topology_and_nvml_read_snapshots_alike(run, tmp_path):
    import yaml

    from kubectl_dra.nvml import demo_snapshot

    snap = demo_snapshot("dgx-h100-01").to_dict()
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(snap))
    as_json = run("topology", "dgx-h100-01", "--demo", "-o", "json")
    as_yaml = run("topology", "dgx-h100-01", "--demo", "--nvml", str(tmp_path / "s.yaml"), "-o", "json")
    assert as_yaml.exit_code == 0, as_yaml.stderr
    assert json.loads(as_yaml.stdout) == json.loads(as_json.stdout)
    snap["gpus"][2]["pciBusId"] = "slot-2"
    (tmp_path / "bad.json").write_text(json.dumps(snap))
    for command in (["topology", "dgx-h100-01", "--demo", "--nvml"], ["nvml", "--snapshot"]):
        bad = run(*command, str(tmp_path / "bad.json"))
        assert bad.exit_code == ExitCode.INPUT
        assert "GPU 2: pciBusId: 'slot-2' is not a PCI bus id" in bad.stderr and "hint: expected NVML's form" in bad.stderr


def test_snapshot_and_cluster_cannot_both_read_stdin(run):
    topology = run("topology", "--nvml", "-", "-f", "-")
    assert topology.exit_code == ExitCode.USAGE and "--nvml - and -f - cannot both read stdin" in topology.stderr
    nvml = run("nvml", "--snapshot", "-", "--compare", "-f", "-")
    assert nvml.exit_code == ExitCode.USAGE and "--snapshot - and -f - cannot both read stdin" in nvml.stderr
