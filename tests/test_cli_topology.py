"""`kubectl dra topology`: node trees and the cluster view on the demo, -f input, a live API and NVML snapshots."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import DATA, FIXTURES, ROOT

DEMO = ROOT / "kubectl_dra" / "demo" / "cluster.yaml"
NVML_SMALL = str(DATA / "nvml-snapshot-small.json")
DEMO_NODES = ("dgx-h100-01", "a100-mig-01", "h100-dmig-01", "l40s-01", "mi300x-01", "tpu-v4-01")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _json(run, *args: str) -> dict:
    result = run("topology", *args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _devices(data: dict) -> list[dict]:
    return [d for numa in data["numa"] for root in numa["pcieRoots"] for d in root["devices"]]


def _root(data: dict, root_id: str | None) -> dict:
    return next(r for numa in data["numa"] for r in numa["pcieRoots"] if r["id"] == root_id)


def _slice(node: str, driver: str, devices: list[dict], *, pool: str | None = None, counters: list[dict] | None = None) -> dict:
    spec: dict = {"driver": driver, "nodeName": node, "pool": {"name": pool or node, "generation": 1, "resourceSliceCount": 1}}
    if devices:
        spec["devices"] = devices
    if counters:
        spec["sharedCounters"] = counters
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": f"{node}-{driver}"}, "spec": spec}


def _dev(name: str, attributes: dict | None = None, **bare) -> dict:
    """A v1 device; ``attributes`` by qualified name, ``bare`` in the driver's domain."""
    wire = {}
    for key, value in {**(attributes or {}), **bare}.items():
        wire[key] = {"int": value} if isinstance(value, int) else {"string": value}
    return {"name": name, "attributes": wire}


def _write(tmp_path, name: str, objects: list[dict]) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(objects), encoding="utf-8")
    return str(path)


# ---------------------------------------------------------------------------- golden text


@pytest.mark.parametrize("node", DEMO_NODES)
def test_node_tree_golden(run, golden, node):
    result = run("topology", node, "--demo")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert "\x1b" not in result.stdout  # NO_COLOR / not a TTY: plain text
    golden(f"topology-{node}.txt", result.stdout)


def test_cluster_view_golden(run, golden):
    result = run("topology", "--demo")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    golden("topology-cluster.txt", result.stdout)


def test_nvml_golden(run, golden):
    result = run("topology", "dgx-h100-01", "--demo", "--nvml", NVML_SMALL)
    assert result.exit_code == 0, result.stderr
    golden("topology-dgx-h100-01-nvml.txt", result.stdout)


# ---------------------------------------------------------------------------- node view data


def test_json_and_yaml_agree_and_shape(run):
    as_json = run("topology", "dgx-h100-01", "--demo", "-o", "json")
    as_yaml = run("topology", "dgx-h100-01", "--demo", "-o", "yaml")
    assert as_json.exit_code == as_yaml.exit_code == 0
    data = json.loads(as_json.stdout)
    assert data == yaml.safe_load(as_yaml.stdout)
    assert data["kind"] == "NodeTopology"
    assert data["node"] == "dgx-h100-01"
    assert data["clique"] == "a0e58936-e8cc-59f4-a3ce-87f8f8e6f786.1"
    assert [n["id"] for n in data["numa"]] == [0, 1]
    assert [r["id"] for r in data["numa"][0]["pcieRoots"]] == ["pci0000:15", "pci0000:48"]
    gpu0 = _devices(data)[0]
    assert {"name", "driver", "pool", "type", "product", "memory", "uuid", "pciBusID", "state", "allocations"} <= gpu0.keys()
    assert gpu0["allocations"] == [{"claim": "ml-team/llm-train-0-gpus-l4pnk", "request": "gpus", "pods": ["llm-train-0"]}]


def test_gpu_and_nic_share_their_pcie_root(run):
    """GPU–NIC alignment: dra.net NICs are listed under the PCIe root of the GPUs next to them, after them."""
    data = _json(run, "dgx-h100-01", "--demo")
    root = _root(data, "pci0000:88")
    assert [(d["driver"], d["name"]) for d in root["devices"]] == [
        ("gpu.nvidia.com", "gpu-4"),
        ("gpu.nvidia.com", "gpu-5"),
        ("dra.net", "enp137s0np0"),
    ]
    # the research/gpu-nic-pair claim holds a GPU and the NIC on one root
    held = [d["name"] for d in root["devices"] if any(a["claim"] == "research/gpu-nic-pair" for a in d["allocations"])]
    assert held == ["gpu-4", "enp137s0np0"]


def test_dynamic_mig_placements_as_the_scheduler_counts(run):
    data = _json(run, "h100-dmig-01", "--demo")
    gpu0, gpu1 = _devices(data)
    assert gpu0["partitioning"] == gpu1["partitioning"] == "sharedCounters"
    states = {p["name"]: p["state"] for p in gpu0["partitions"]}
    assert states["gpu-0-mig-3g40gb-9-4"] == "reserved"
    blocked = sorted(n for n, s in states.items() if s == "consumed-by-partition")
    assert blocked == [
        "gpu-0-mig-1g10gb-19-4",
        "gpu-0-mig-1g10gb-19-5",
        "gpu-0-mig-1g10gb-19-6",
        "gpu-0-mig-1g20gb-15-4",
        "gpu-0-mig-1g20gb-15-6",
        "gpu-0-mig-2g20gb-14-4",
        "gpu-0-mig-7g80gb-0-0",
    ]
    assert all(p["blockedBy"] == ["gpu-0-mig-3g40gb-9-4"] for p in gpu0["partitions"] if p["state"] == "consumed-by-partition")
    # the whole GPU is blocked too, and the other GPU is untouched
    assert gpu0["state"] == "consumed-by-partition" and gpu0["blockedBy"] == ["gpu-0-mig-3g40gb-9-4"]
    assert gpu1["state"] == "free" and all(p["state"] == "free" for p in gpu1["partitions"])
    # counters left: slices 4-7 and 60 of 132 multiprocessors are taken
    counters = gpu0["counterSets"][0]["counters"]
    assert gpu0["counterSets"][0]["name"] == "gpu-0-counter-set"
    assert [counters[f"memory-slice-{i}"]["left"] for i in range(8)] == ["1"] * 4 + ["0"] * 4
    assert counters["multiprocessors"] == {"total": "132", "left": "72"}
    assert gpu0["freePlacements"] == {"1g.10gb": 4, "1g.20gb": 2, "2g.20gb": 2, "3g.40gb": 1, "4g.40gb": 1}
    assert gpu1["freePlacements"]["7g.80gb"] == 1


def test_dynamic_mig_states_match_list(run):
    """The tree reuses the model's states: they never disagree with `list`."""
    listed = json.loads(run("list", "--demo", "-o", "json", "--node", "h100-dmig-01").stdout)["items"]
    data = _json(run, "h100-dmig-01", "--demo")
    tree = {d["name"]: d["state"] for top in _devices(data) for d in [top, *top["partitions"]]}
    assert tree == {i["name"]: i["state"] for i in listed}


def test_static_mig_parent_built_from_parent_uuid(run):
    data = _json(run, "a100-mig-01", "--demo")
    parent = _root(data, "pci0001:00")["devices"][0]
    assert parent["published"] is False
    assert parent["name"] is None
    assert parent["state"] == "partitioned"
    assert parent["partitioning"] == "static"
    assert parent["uuid"] == "GPU-1a65e86b-1926-56c1-9162-83b36d7bf548"
    assert parent["parentKey"] == {"attribute": "gpu.nvidia.com/uuid", "value": "GPU-1a65e86b-1926-56c1-9162-83b36d7bf548"}
    assert [p["profile"] for p in parent["partitions"]] == ["1g.10gb", "1g.10gb", "2g.20gb", "3g.40gb"]
    assert parent["partitions"][0]["allocations"][0]["claim"] == "ml-team/notebook-alice-mig-k86p2"
    assert "counterSets" not in parent
    # the other GPU has MIG off: a plain device on its own root
    plain = _root(data, "pci0002:00")["devices"]
    assert [(d["name"], d.get("partitions")) for d in plain] == [("gpu-1", None)]
    assert data["numa"][0]["id"] is None  # no NUMA published


def test_vendor_neutral_amd_and_tpu(run):
    amd = _json(run, "mi300x-01", "--demo")
    assert [n["id"] for n in amd["numa"]] == [None]
    assert len(amd["numa"][0]["pcieRoots"]) == 8
    assert all(len(r["devices"]) == 1 and r["devices"][0]["type"] == "amdgpu" for r in amd["numa"][0]["pcieRoots"])
    tpu = _json(run, "tpu-v4-01", "--demo")
    assert [(n["id"], [r["id"] for r in n["pcieRoots"]]) for n in tpu["numa"]] == [(None, [None])]
    assert [d["name"] for d in _devices(tpu)] == ["accel0", "accel1", "accel2", "accel3"]


def test_tainted_gpu_shows_its_taint(run):
    result = run("topology", "l40s-01", "--demo")
    line = next(line for line in result.stdout.splitlines() if "gpu-2" in line)
    assert "tainted" in line and "gpu.nvidia.com/xid=48:NoSchedule" in line


def test_partitionable_example_driver_whole_device_is_the_parent(run):
    fixture = str(FIXTURES / "dra-example-driver" / "transcribed-partitionable-2-slice-pool-v1.yaml")
    data = _json(run, "test-node", "-f", fixture)
    (parent,) = _devices(data)
    assert parent["name"] == "gpu-0-full"
    assert [p["name"] for p in parent["partitions"]] == ["gpu-0-partition-0", "gpu-0-partition-1"]
    assert parent["counterSets"][0]["counters"]["compute"] == {"total": "100", "left": "100"}


def test_counter_set_without_a_whole_device(run, tmp_path):
    counters = [{"name": "gpu-0-counters", "counters": {"memory": {"value": "80Gi"}}}]
    devices = []
    for i in range(2):
        dev = _dev(f"gpu-0-partition-{i}", partition=i)
        dev["consumesCounters"] = [{"counterSet": "gpu-0-counters", "counters": {"memory": {"value": "40Gi"}}}]
        devices.append(dev)
    path = _write(tmp_path, "parts.yaml", [_slice("n1", "gpu.example.com", devices, counters=counters)])
    (parent,) = _devices(_json(run, "n1", "-f", path))
    assert parent["name"] is None and parent["published"] is False
    assert parent["counterSet"] == "gpu-0-counters"
    assert [p["name"] for p in parent["partitions"]] == ["gpu-0-partition-0", "gpu-0-partition-1"]


def test_numa_inferred_from_the_root_and_several_roots_are_unknown(run, tmp_path):
    gpu = _dev("gpu-0", {"resource.kubernetes.io/pcieRoot": "pci0000:15", "resource.kubernetes.io/numaNode": 1})
    nic = _dev("nic0", {"resource.kubernetes.io/pcieRoot": "pci0000:15"})  # no NUMA attribute
    cpu = {"name": "cpu0", "attributes": {"resource.kubernetes.io/pcieRoot": {"strings": ["pci0000:00", "pci0000:15"]}}}
    path = _write(
        tmp_path,
        "n.yaml",
        [_slice("n1", "gpu.example.com", [gpu]), _slice("n1", "dra.net", [nic]), _slice("n1", "dra.cpu", [cpu])],
    )
    data = _json(run, "n1", "-f", path)
    assert [d["name"] for d in _root(data, "pci0000:15")["devices"]] == ["gpu-0", "nic0"]
    assert data["numa"][0]["id"] == 1
    unknown = _root(data, None)["devices"]
    assert [(d["name"], d["pcieRoots"]) for d in unknown] == [("cpu0", ["pci0000:00", "pci0000:15"])]


# ---------------------------------------------------------------------------- cluster view


def test_cluster_view_data(run):
    data = _json(run, "--demo")
    assert data["kind"] == "ClusterTopology"
    assert data["nodes"] == 6
    assert [d["clique"] for d in data["domains"]] == ["a0e58936-e8cc-59f4-a3ce-87f8f8e6f786.1", None]
    clique, rest = data["domains"]
    assert clique["nodes"] == ["dgx-h100-01"]
    h100 = next(p for p in clique["products"] if p["type"] == "gpu")
    assert (h100["product"], h100["devices"], h100["free"]) == ("NVIDIA H100 80GB HBM3", 8, 3)
    assert h100["nodes"] == [{"node": "dgx-h100-01", "devices": 8, "free": 3}]
    assert "dgx-h100-01" not in rest["nodes"] and len(rest["nodes"]) == 5
    mig = next(p for p in rest["products"] if p["product"] == "NVIDIA H100 80GB HBM3" and p["type"] == "mig")
    assert mig["overlapping"] is True
    assert data["devices"] == sum(d["devices"] for d in data["domains"])
    assert data["free"] == sum(d["free"] for d in data["domains"])


COMPUTE_DOMAIN = {
    "apiVersion": "resource.nvidia.com/v1beta1",
    "kind": "ComputeDomain",
    "metadata": {"name": "train", "namespace": "ml-team"},
    "spec": {"numNodes": 0, "channel": {"resourceClaimTemplate": {"name": "train-channel"}}},
    "status": {
        "status": "Ready",
        "nodes": [
            {"name": "gb200-01", "ipAddress": "10.0.0.1", "cliqueID": "c0ffee.7", "index": 0, "status": "Ready"},
            {"name": "gb200-02", "ipAddress": "10.0.0.2", "cliqueID": "c0ffee.7", "index": 1, "status": "Ready"},
        ],
    },
}


def _gb200_objects() -> list[dict]:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gb200-01", "labels": {"nvidia.com/gpu.clique": "c0ffee.7"}}}
    objs: list[dict] = [node, COMPUTE_DOMAIN]
    for n in ("gb200-01", "gb200-02"):
        gpus = [_dev(f"gpu-{i}", type="gpu", productName="NVIDIA GB200", uuid=f"GPU-{n}-{i}") for i in range(2)]
        objs.append(_slice(n, "gpu.nvidia.com", gpus))
    return objs


def test_compute_domains_from_files(run, tmp_path):
    path = _write(tmp_path, "gb200.yaml", _gb200_objects())
    data = _json(run, "-f", path)
    (domain,) = data["domains"]
    assert domain["clique"] == "c0ffee.7"  # gb200-02 has no label: its clique comes from the ComputeDomain
    assert domain["nodes"] == ["gb200-01", "gb200-02"]
    assert domain["computeDomains"] == ["ml-team/train"]
    assert data["computeDomains"][0]["status"] == "Ready"
    text = run("topology", "-f", path).stdout
    assert "NVLink clique c0ffee.7" in text and "ComputeDomain ml-team/train" in text
    node = _json(run, "gb200-02", "-f", path)
    assert node["clique"] == "c0ffee.7" and node["computeDomains"] == ["ml-team/train"]


def test_files_from_stdin(run):
    text = yaml.safe_dump_all(_gb200_objects())
    result = run("topology", "gb200-01", "-f", "-", input=text)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("gb200-01  NVLink clique c0ffee.7  ComputeDomain ml-team/train\n")


# ---------------------------------------------------------------------------- errors and options


def test_unknown_node_did_you_mean(run):
    result = run("topology", "dgx-h10-01", "--demo")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert 'error: node "dgx-h10-01" not found' in result.stderr
    assert "hint: did you mean dgx-h100-01" in result.stderr
    result = run("topology", "zzz", "--demo")
    assert result.exit_code == 3
    assert "hint: nodes: a100-mig-01, dgx-h100-01" in result.stderr


def test_output_name_is_a_usage_error(run):
    result = run("topology", "--demo", "-o", "name")
    assert result.exit_code == 2
    assert "error: topology does not print names" in result.stderr


def test_wide_adds_pci_bus_ids(run):
    result = run("topology", "l40s-01", "--demo", "-o", "wide")
    assert result.exit_code == 0
    assert "0000:17:00.0" in result.stdout
    assert "0000:17:00.0" not in run("topology", "l40s-01", "--demo").stdout


def test_demo_and_files_conflict(run, tmp_path):
    path = _write(tmp_path, "gb200.yaml", _gb200_objects())
    assert run("topology", "--demo", "-f", path).exit_code == 2
    assert run("topology", "-f", path, "--context", "x").exit_code == 2



def test_files_with_a_kubeconfig_say_what_every_command_says(run, tmp_path):
    """topology reads -f itself (it keeps ComputeDomains) but checks the source as read_cluster does."""
    path = _write(tmp_path, "gb200.yaml", _gb200_objects())
    result = run("topology", "-f", path, "--kubeconfig", str(tmp_path / "kc"))
    assert result.exit_code == 2
    assert "error: -f/--filename reads files, not a cluster: drop --kubeconfig/--context" in result.stderr

def test_color_always_uses_rich_and_matches_plain(run):
    plain = run("topology", "h100-dmig-01", "--demo")
    colored = run("topology", "h100-dmig-01", "--demo", "--color", "always")
    assert colored.exit_code == 0
    assert "\x1b[" in colored.stdout
    assert ANSI.sub("", colored.stdout) == plain.stdout


def test_device_data_is_not_markup_or_escapes(run, tmp_path):
    evil = _dev("gpu-0", productName="[bold red]X[/] \x1b[31mred", uuid="GPU-[link=http://x]y[/link]")
    path = _write(tmp_path, "evil.yaml", [_slice("n1", "gpu.example.com", [evil])])
    for color in ("never", "always"):
        result = run("topology", "n1", "-f", path, "--color", color)
        assert result.exit_code == 0, result.stderr
        text = ANSI.sub("", result.stdout)
        assert "[bold red]X[/] ?[31mred" in text
        assert "GPU-[link=http://x]y[/link]" in text
        assert "\x1b[31mred" not in result.stdout


def test_help_lists_the_options(run):
    result = run("topology", "--help")
    assert result.exit_code == 0
    for option in ("--nvml", "--local", "--output", "--filename", "--demo"):
        assert option in result.stdout


# ---------------------------------------------------------------------------- NVML


def test_nvml_merge_by_uuid_and_bus_id(run):
    data = _json(run, "dgx-h100-01", "--demo", "--nvml", NVML_SMALL)
    by_name = {d["name"]: d for d in _devices(data)}
    assert by_name["gpu-0"]["nvml"] == {"index": 0, "nvlinkGroup": 1, "nvlinks": 2, "fabricClique": "a0e58936-e8cc-59f4-a3ce-87f8f8e6f786.1"}
    assert by_name["gpu-2"]["nvml"]["index"] == 2  # no UUID in the snapshot: matched by PCI bus id
    assert "nvml" not in by_name["gpu-5"]
    facts = data["nvml"]
    assert [(g["devices"], g["via"]) for g in facts["groups"]] == [(["gpu-0", "gpu-1"], "nvlink"), (["gpu-2", "gpu-3"], "nvswitch")]
    assert facts["unmatched"] == [{"index": 4, "uuid": "GPU-00000000-0000-0000-0000-0000000000aa", "pciBusId": "00000000:99:00.0"}]
    assert facts["matrix"]["devices"] == ["gpu-0", "gpu-1", "gpu-2", "gpu-3", None]
    assert facts["matrix"]["rows"][0][1] == "NV2"


def test_nvml_matrix_alone_makes_groups():
    from kubectl_dra.render.topology import merge_nvml

    data = {"numa": [{"id": 0, "pcieRoots": [{"id": "r", "devices": [
        {"name": "gpu-0", "uuid": "GPU-a", "pciBusID": "0000:01:00.0", "type": "gpu"},
        {"name": "gpu-1", "uuid": "GPU-b", "pciBusID": "0000:02:00.0", "type": "gpu"},
    ]}]}]}
    snapshot = {
        "kind": "NvmlSnapshot",
        "version": 1,
        "gpus": [
            {"index": 0, "uuid": "GPU-a", "nvlinks": [{"state": "up"}, {"state": "down"}]},
            {"index": 1, "pciBusId": "00000000:02:00.0", "nvlinks": [{"active": False}]},
        ],
        "topology": {"gpus": [0, 1], "matrix": {"0": {"0": "X", "1": "NV4"}, "1": {"0": "NV4", "1": "X"}}},
    }
    facts = merge_nvml(data, snapshot)
    assert facts["groups"] == [{"id": 1, "gpus": [0, 1], "devices": ["gpu-0", "gpu-1"], "via": "nvlink"}]
    assert facts["matrix"]["rows"] == [["X", "NV4"], ["NV4", "X"]]
    assert facts["matrix"]["gpus"] == ["GPU0", "GPU1"]
    assert [d["nvml"]["nvlinks"] for d in data["numa"][0]["pcieRoots"][0]["devices"]] == [1, 0]


def test_bus_id_in_the_dra_form():
    # the one normaliser is nvml.snapshot.normalize_bus_id (NVML's form, tests/test_nvml_join.py);
    # the 4-digit lower-case form this view used to match on is the display form, dra_bus_id
    from kubectl_dra.nvml.snapshot import dra_bus_id

    assert dra_bus_id("00000000:1A:00.0") == "0000:1a:00.0"
    assert dra_bus_id("0000:1a:00.0") == "0000:1a:00.0"
    assert dra_bus_id("1a:00.0") == "0000:1a:00.0"
    assert dra_bus_id(None) is None


def test_nvml_without_node_uses_the_snapshots_node(run):
    result = run("topology", "--demo", "--nvml", NVML_SMALL)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("dgx-h100-01")


def test_nvml_of_another_node_warns(run):
    result = run("topology", "l40s-01", "--demo", "--nvml", NVML_SMALL)
    assert result.exit_code == 0
    assert "warning: the NVML snapshot is of node dgx-h100-01, not l40s-01" in result.stderr


def test_nvml_bad_files(run, tmp_path):
    missing = run("topology", "dgx-h100-01", "--demo", "--nvml", str(tmp_path / "nope.json"))
    assert missing.exit_code == 5 and "cannot read" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert run("topology", "dgx-h100-01", "--demo", "--nvml", str(bad)).exit_code == 5
    bad.write_text("[1, 2]", encoding="utf-8")
    assert run("topology", "dgx-h100-01", "--demo", "--nvml", str(bad)).exit_code == 5


def test_local_is_not_available_yet(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "kubectl_dra.nvml", None)  # importing it raises ImportError
    result = run("topology", "dgx-h100-01", "--demo", "--local")
    assert result.exit_code == 2
    assert "error: --local is not available yet" in result.stderr
    assert run("topology", "--demo", "--local", "--nvml", NVML_SMALL).exit_code == 2


# ---------------------------------------------------------------------------- live cluster (real HTTP)


@pytest.fixture
def demo_api(fake_api):
    fake_api.load_yaml(DEMO)
    return fake_api


@pytest.mark.parametrize("node", ["dgx-h100-01", "h100-dmig-01"])
def test_node_view_over_http_matches_the_demo(run, demo_api, node, tmp_path):
    # --demo merges the demo's NVML snapshot of the node; a live read gets the same from --nvml
    from kubectl_dra.nvml import demo_snapshot

    snapshot = demo_snapshot(node)
    extra = []
    if snapshot is not None:
        (tmp_path / "snap.json").write_text(json.dumps(snapshot.to_dict()))
        extra = ["--nvml", str(tmp_path / "snap.json")]
    live = run("topology", node, *extra)
    assert live.exit_code == 0, live.stderr
    assert live.stderr == ""  # other nodes' claims are not "devices no slice publishes"
    assert live.stdout == run("topology", node, "--demo").stdout
    slice_reads = demo_api.requests_to("/apis/resource.k8s.io/v1/resourceslices")
    assert {r.query.get("fieldSelector") for r in slice_reads} == {f"spec.nodeName={node}", "spec.nodeName="}
    assert demo_api.requests_to("/api/v1/nodes")


def test_cluster_view_over_http_matches_the_demo(run, demo_api):
    live = run("topology", "-o", "json")
    assert live.exit_code == 0, live.stderr
    assert json.loads(live.stdout) == json.loads(run("topology", "--demo", "-o", "json").stdout)


@pytest.mark.parametrize("no_fork", ["1", ""])
def test_live_read_takes_only_the_claims_allocations(demo_api, monkeypatch, no_fork):
    """topology asks for CLAIM_ALLOCATIONS: the claims come back (from the helper process, or read
    inline) as a full read has them but without spec, annotations, owners, node selector and device
    status; the views, and every topology, are the same."""
    from dataclasses import replace

    from kubectl_dra.kube.load import load_cluster
    from kubectl_dra.kube.kinds import CLAIM_ALLOCATIONS, CLAIMS, NODES, SLICES
    from kubectl_dra.kube.source import SourceOptions

    monkeypatch.setenv("KUBECTL_DRA_NO_FORK", no_fork)
    source = SourceOptions(all_namespaces=True)
    full = load_cluster(source, (SLICES, CLAIMS, NODES))
    light = load_cluster(source, (SLICES, CLAIM_ALLOCATIONS, NODES))
    assert len(light.claims) == len(full.claims) > 0
    assert any(c.spec_raw and c.owners and c.allocation_node_selector for c in full.claims)
    dropped = {"annotations": {}, "owners": [], "spec_raw": None, "allocation_node_selector": None, "device_status": []}
    assert light.claims == [replace(c, **dropped) for c in full.claims]
    views = [(v.device.key, v.state, [(h.claim.ref, h.result, h.pods) for h in v.holders]) for v in full.device_views()]
    assert views == [(v.device.key, v.state, [(h.claim.ref, h.result, h.pods) for h in v.holders]) for v in light.device_views()]
    # a command that asks for CLAIMS too gets them whole
    both = load_cluster(source, (SLICES, CLAIMS, CLAIM_ALLOCATIONS))
    assert both.claims == full.claims


def test_unknown_node_over_http(run, demo_api):
    result = run("topology", "dgx-h100-02")
    assert result.exit_code == 3
    assert "did you mean dgx-h100-01" in result.stderr
    assert "no current ResourceSlice" not in result.stderr


def test_nodes_forbidden_degrades(run, demo_api):
    demo_api.fail("/api/v1/nodes", 403, times=None)
    result = run("topology", "dgx-h100-01")
    assert result.exit_code == 0, result.stderr
    assert "NVLink cliques" in result.stderr
    assert result.stdout.splitlines()[0] == "dgx-h100-01"  # no clique without the Node object


def test_nvml_snapshot_objects_give_the_same_facts(run):
    """The dict of a kubectl_dra.nvml Snapshot merges like the file read with plain json."""
    nvml = pytest.importorskip("kubectl_dra.nvml")
    from kubectl_dra.kube.load import SourceOptions, load_cluster
    from kubectl_dra.render.topology import node_topology

    cluster = load_cluster(SourceOptions(demo=True), ())
    plain = node_topology(cluster, "dgx-h100-01", nvml=json.loads(Path(NVML_SMALL).read_text(encoding="utf-8")))
    typed = node_topology(cluster, "dgx-h100-01", nvml=nvml.load_snapshot(NVML_SMALL).to_dict())
    assert plain == typed


def test_local_with_demo_uses_the_demo_snapshot(run, monkeypatch):
    nvml = pytest.importorskip("kubectl_dra.nvml")
    monkeypatch.setattr(nvml, "demo_snapshot", lambda node: nvml.load_snapshot(NVML_SMALL) if node == "dgx-h100-01" else None)
    result = run("topology", "dgx-h100-01", "--demo", "--local")
    assert result.exit_code == 0, result.stderr
    assert "group 2: gpu-2, gpu-3 (2 GPUs, via NVSwitch)" in result.stdout
    missing = run("topology", "tpu-v4-01", "--demo", "--local")
    assert missing.exit_code == 2 and "no NVML snapshot of node tpu-v4-01" in missing.stderr


def test_fabric_clique_only_when_attached():
    from kubectl_dra.nvml.join import fabric_clique as _fabric_clique

    attached = {"clusterUuid": "abc", "cliqueId": 3, "state": "completed", "status": "success"}
    assert _fabric_clique(attached) == "abc.3"
    assert _fabric_clique({**attached, "state": "in_progress"}) is None
    assert _fabric_clique({**attached, "status": "not_supported"}) is None
    assert _fabric_clique({**attached, "clusterUuid": "00000000-0000-0000-0000-000000000000"}) is None
    assert _fabric_clique(None) is None


def test_known_node_without_devices(run, tmp_path):
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "empty-1", "labels": {"nvidia.com/gpu.clique": "x.1"}}}
    path = _write(tmp_path, "node.yaml", [node])
    result = run("topology", "empty-1", "-f", path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "empty-1  NVLink clique x.1\n└── no DRA devices on this node\n"
    assert _json(run, "empty-1", "-f", path)["numa"] == []
    assert "no DRA devices: empty-1" in run("topology", "-f", path).stdout


def test_local_with_the_builtin_demo_snapshots(run):
    nvml = pytest.importorskip("kubectl_dra.nvml")
    if "dgx-h100-01" not in nvml.demo_nodes():
        pytest.skip("no demo NVML snapshot of dgx-h100-01")
    data = _json(run, "dgx-h100-01", "--demo", "--local")
    gpus = [d for d in _devices(data) if d["driver"] == "gpu.nvidia.com"]
    assert all(d["nvml"]["nvlinkGroup"] == 1 for d in gpus)  # one NVSwitch fabric: all 8 GPUs
    assert data["nvml"]["groups"][0]["devices"] == [f"gpu-{i}" for i in range(8)]
    assert data["nvml"]["unmatched"] == []


def test_demo_node_shows_nvlink_without_flags(run):
    result = run("topology", "dgx-h100-01", "--demo")
    assert result.exit_code == 0, result.stderr
    assert "group 1: gpu-0, gpu-1, gpu-2, gpu-3, gpu-4, gpu-5, gpu-6, gpu-7 (8 GPUs, via NVSwitch)" in result.stdout
    assert "GPU0  X     NV18" in result.stdout
    other = run("topology", "mi300x-01", "--demo")
    assert "NVLink" not in other.stdout and "NVML" not in other.stdout  # no snapshot for AMD nodes


def _product_test_devices() -> list:
    """The demo's devices and a few that take product()/device_type()'s other branches."""
    from kubectl_dra.kube.load import load_cluster
    from kubectl_dra.kube.source import SourceOptions
    from kubectl_dra.model.device import Device

    cluster = load_cluster(SourceOptions(demo=True, all_namespaces=True), ("resourceslices",))
    devices = [v.device for v in cluster.device_views()]
    q = "example.com"
    devices += [
        Device("tpu.google.com", "p", "t0", attributes={"tpu.google.com/tpuGen": "v5e"}),
        Device("tpu.google.com", "p", "t1", attributes={}),
        Device("dra.net", "p", "n0", attributes={"dra.net/pciDevice": "ConnectX-7", "dra.net/type": "device"}),
        Device("dra.net", "p", "n1", attributes={"dra.net/ifName": "eth0"}),
        Device("dra.cpu", "p", "c0", attributes={}),
        Device(q, "p", "a", attributes={f"{q}/partition": "1g", f"{q}/model": "X"}),
        Device(q, "p", "b", attributes={f"{q}/full": False, f"{q}/family": "Y"}),
        Device(q, "p", "c", attributes={f"{q}/productName": ["A", "B"], f"{q}/type": ["gpu"]}),  # lists: unhashable
        Device(q, "p", "d", attributes={f"{q}/accelerator": "Z\x1b[31m", f"{q}/type": True, f"{q}/other": 1}),
        Device(q, "p", "e", attributes={f"{q}/productName": "", "other.io/productName": "W"}),
        # equal as dict keys, different products: 1 and true; full 0 is no partition, full false is
        Device(q, "p", "f", attributes={f"{q}/productName": 1, f"{q}/type": "gpu"}),
        Device(q, "p", "g", attributes={f"{q}/productName": True, f"{q}/type": "gpu"}),
        Device(q, "p", "h", attributes={f"{q}/model": "M", f"{q}/full": 0}),
        Device(q, "p", "i", attributes={f"{q}/model": "M", f"{q}/full": False}),
        Device(q, "p", "j", attributes={f"{q}/productName": "P", f"{q}/type": 1}),
        Device(q, "p", "k", attributes={f"{q}/productName": "P", f"{q}/type": True}),
        # the short way (productName and type): tpuGen still wins, a dra.net device is a nic
        Device("tpu.google.com", "p", "t2", attributes={"tpu.google.com/productName": "P", "tpu.google.com/type": "tpu",
                                                        "tpu.google.com/tpuGen": "v6e"}),
        Device("dra.net", "p", "n2", attributes={"dra.net/productName": "NIC"}),
        Device(q, "p", "l", attributes={f"{q}/productName": "P"}),
    ]
    return devices


def test_cluster_view_product_memo_reads_what_product_reads(monkeypatch):
    """The cluster view computes (product, type) once per distinct values of PRODUCT_ATTRIBUTES: product()
    and device_type() must read no other attribute, and the memo must answer what they answer."""
    from kubectl_dra.model.device import Device
    from kubectl_dra.render.devices import device_type, product
    from kubectl_dra.render.topology.cluster import PRODUCT_ATTRIBUTES, product_memo

    devices = _product_test_devices()
    read: set[tuple[str, str]] = set()
    original = Device.attr

    def recording(self, name, default=None):
        read.add((self.driver, name if "/" in name else f"{self.driver}/{name}"))
        return original(self, name, default)

    monkeypatch.setattr(Device, "attr", recording)
    expected = [(product(d), d.driver, device_type(d)) for d in devices]
    monkeypatch.setattr(Device, "attr", original)
    allowed = {(d.driver, n if "/" in n else f"{d.driver}/{n}") for d in devices for n in PRODUCT_ATTRIBUTES}
    assert read - allowed == set()
    memo = product_memo()
    assert [memo(d) for d in devices] == expected
    assert [memo(d) for d in reversed(devices)] == expected[::-1]  # answered from the memo the second time


def test_cluster_view_products_equal_as_keys_stay_apart(run, tmp_path):
    """productName 1 and true (or full 0 and false) are one dict key but different products: each
    is counted as itself (the product memo once merged them)."""
    devices = [
        {"name": "a", "attributes": {"productName": {"int": 1}, "type": {"string": "gpu"}}},
        {"name": "b", "attributes": {"productName": {"bool": True}, "type": {"string": "gpu"}}},
        {"name": "c", "attributes": {"full": {"bool": False}, "model": {"string": "M"}}},
        {"name": "d", "attributes": {"full": {"int": 0}, "model": {"string": "M"}}},
    ]
    path = _write(tmp_path, "keys.yaml", [_slice("n1", "x.example.com", devices)])
    products = {(p["product"], p["type"]): p["devices"] for p in _json(run, "-f", path)["domains"][0]["products"]}
    assert products == {("1", "gpu"): 1, ("true", "gpu"): 1, ("M", "partition"): 1, ("M", None): 1}


def test_files_recursive_and_skipped_files(run, tmp_path):
    """topology reads -f as every command does: -R reads subdirectories, a file in a directory
    that holds no Kubernetes objects is skipped with a warning (ComputeDomains still kept)."""
    sub = tmp_path / "sub"
    sub.mkdir()
    _write(sub, "gb200.yaml", _gb200_objects())
    (tmp_path / "values.yaml").write_text("replicas: 3\n")
    flat = run("topology", "-f", str(tmp_path))
    assert flat.exit_code == 5 and "-R also reads its subdirectories" in flat.stderr
    deep = run("topology", "-f", str(tmp_path), "-R", "-o", "json")
    assert deep.exit_code == 0, deep.stderr
    assert f"warning: skipping {tmp_path / 'values.yaml'}: not Kubernetes objects" in deep.stderr
    data = json.loads(deep.stdout)
    assert data["devices"] == 4 and data["domains"][0]["computeDomains"] == ["ml-team/train"]
