"""`kubectl dra nvml`: demo snapshots as tables, snapshot round trips, --as-resourceslice, --compare
(demo, -f, a live API), partial snapshots, and the clear errors when NVML is not there."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys

import pytest
import yaml

from kubectl_dra.errors import ExitCode
from kubectl_dra.model.decode import decode_slice, split_api_version
from kubectl_dra.nvml import demo_nodes, demo_snapshot, dump_snapshot
from kubectl_dra.nvml.collect import collect
from kubectl_dra.nvml.fake import FakeBackend, FakeMachine
from kubectl_dra.nvml.resourceslice import STYLES
from tests.conftest import ROOT
from tests.test_nvml_support import NOW, demo_devices

DEMO = ROOT / "kubectl_dra" / "demo" / "cluster.yaml"
DEMO_NVML = ROOT / "kubectl_dra" / "demo" / "nvml"


def _write(tmp_path, name: str, snapshot) -> str:
    path = tmp_path / name
    path.write_text(dump_snapshot(snapshot) if not isinstance(snapshot, str) else snapshot, encoding="utf-8")
    return str(path)


def _snap_of(machine: FakeMachine, node: str):
    return collect(FakeBackend(machine), node, now=NOW)


def _decoded(list_obj: dict) -> list:
    assert list_obj["kind"] == "List"
    return [d for item in list_obj["items"] for d in decode_slice(item, split_api_version(item["apiVersion"])[1]).devices]


# ---------------------------------------------------------------------------- tables


@pytest.mark.parametrize("node", ["dgx-h100-01", "a100-mig-01"])
def test_demo_node_table_golden(run, golden, node):
    result = run("nvml", "--demo", "--node", node)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert "\x1b" not in result.stdout
    golden(f"nvml-{node}.txt", result.stdout)


def test_demo_node_wide_golden(run, golden):
    result = run("nvml", "--demo", "--node", "a100-mig-01", "-o", "wide")
    assert result.exit_code == 0, result.stderr
    golden("nvml-a100-mig-01-wide.txt", result.stdout)
    header = result.stdout.splitlines()[4].split()
    assert header[:5] == ["INDEX", "MINOR", "NAME", "BRAND", "ARCH"] and "CLIQUE" in header


def test_table_sections(run):
    text = run("nvml", "--demo", "--node", "dgx-h100-01").stdout
    assert text.startswith("Node:       dgx-h100-01\nDriver:     580.95.05 (CUDA 13.0")
    assert "Collected:  2026-11-20T12:00:00Z" in text
    assert "Topology (as nvidia-smi topo -m):" in text and "NV#  = Connection traversing a bonded set of # NVLinks" in text
    assert "GPU0-7  connected: NV18 between each pair (8 GPUs)" in text
    assert "clique a0e58936-e8cc-59f4-a3ce-87f8f8e6f786.1" in text
    assert "MIG devices:" not in text  # no MIG on this node
    mig = run("nvml", "--demo", "--node", "a100-mig-01").stdout
    assert "MIG devices:\nGPU   PROFILE   GI/CI   PLACEMENT   MEMORY   UUID\n0     2g.20gb   1/0     0:2" in mig
    assert "NVLink: none" in mig


def test_colour_only_when_asked(run):
    plain = run("nvml", "--demo", "--node", "a100-mig-01", "--color", "never").stdout
    coloured = run("nvml", "--demo", "--node", "a100-mig-01", "--color", "always").stdout
    assert "\x1b[" not in plain and "\x1b[36mon\x1b[0m" in coloured


def test_device_data_is_not_markup_or_escapes(run, tmp_path):
    s = demo_snapshot("l40s-01")
    s.gpus[0].name = "[bold red]evil\x1b[2J[/]"
    result = run("nvml", "--snapshot", _write(tmp_path, "evil.json", s), "--color", "always")
    assert result.exit_code == 0, result.stderr
    assert "[bold red]evil?[2J[/]" in result.stdout and "\x1b[2J" not in result.stdout


# ---------------------------------------------------------------------------- snapshots


@pytest.mark.parametrize("node", ["dgx-h100-01", "a100-mig-01", "h100-dmig-01", "l40s-01"])
def test_json_round_trips_through_snapshot(run, tmp_path, node):
    first = run("nvml", "--demo", "--node", node, "-o", "json")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == (DEMO_NVML / f"{node}.json").read_text(encoding="utf-8")
    path = tmp_path / "snap.json"
    path.write_text(first.stdout, encoding="utf-8")
    again = run("nvml", "--snapshot", str(path), "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(first.stdout)
    # the table of the file is the table of the demo node
    assert run("nvml", "--snapshot", str(path)).stdout == run("nvml", "--demo", "--node", node).stdout


def test_yaml_output_and_stdin_read_back(run):
    as_yaml = run("nvml", "--demo", "--node", "a100-mig-01", "-o", "yaml")
    assert as_yaml.exit_code == 0 and yaml.safe_load(as_yaml.stdout)["kind"] == "NvmlSnapshot"
    back = run("nvml", "--snapshot", "-", "-o", "json", input=as_yaml.stdout)
    assert back.exit_code == 0, back.stderr
    assert json.loads(back.stdout) == demo_snapshot("a100-mig-01").to_dict()


def test_node_overrides_the_snapshot_node(run, tmp_path):
    path = _write(tmp_path, "s.json", demo_snapshot("l40s-01"))
    result = run("nvml", "--snapshot", path, "--node", "gpu-node-9", "-o", "json")
    assert json.loads(result.stdout)["node"] == "gpu-node-9"
    assert "warning: the snapshot is of node l40s-01: using --node gpu-node-9" in result.stderr


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("{not json", "not JSON"),
        ('{"kind": "ResourceSlice"}', "kind is 'ResourceSlice', expected 'NvmlSnapshot'"),
        ('{"kind": "NvmlSnapshot", "version": 99}', "version 99 is not supported"),
        ("a: [b", "not JSON or YAML"),
    ],
)
def test_bad_snapshot_files_are_input_errors(run, tmp_path, text, message):
    result = run("nvml", "--snapshot", _write(tmp_path, "bad.json", text))
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr.startswith("error: ") and message in result.stderr and "Traceback" not in result.stderr


def test_missing_snapshot_file(run, tmp_path):
    result = run("nvml", "--snapshot", str(tmp_path / "nope.json"))
    assert result.exit_code == ExitCode.INPUT and "cannot read" in result.stderr


def test_partial_snapshot_warns_and_still_prints(run, tmp_path):
    backend = FakeBackend.from_snapshot(demo_snapshot("dgx-h100-01"))
    backend.fail("nvmlDeviceGetMemoryInfo", "UNKNOWN", gpu=2).fail("nvmlDeviceGetNvLinkState", "NO_PERMISSION", gpu=5)
    backend.fail("nvmlDeviceGetBrand", "NOT_SUPPORTED").lose(7)
    snap = collect(backend, "dgx-h100-01", now=NOW)
    assert snap.partial
    path = _write(tmp_path, "partial.json", snap)
    result = run("nvml", "--snapshot", path)
    assert result.exit_code == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert warnings[0].startswith("warning: partial result: 3 NVML calls failed: GPU 7 has fallen off the bus (GPU_IS_LOST), "
                                  "nvmlDeviceGetMemoryInfo on GPU2 (UNKNOWN), nvmlDeviceGetNvLinkState on GPU5 (NO_PERMISSION)")
    assert warnings[1] == ("warning: not supported by NVML on some GPUs: nvmlDeviceGetBrand on GPU0-6 (NOT_SUPPORTED); "
                           "those values are shown as -")  # fmt: skip
    out = result.stdout
    assert "Partial:    yes: 3 NVML calls failed" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line[:1].isdigit()}
    assert "(lost)" in rows["7"] and "79.6Gi" not in rows["2"] and "79.6Gi" in rows["1"]
    assert "note: GPU 7 has fallen off the bus" in out
    assert "?    = NVML could not tell" in out
    # machine output is the snapshot, still marked partial, with the warning on stderr
    as_json = run("nvml", "--snapshot", path, "-o", "json")
    assert json.loads(as_json.stdout)["partial"] is True and "partial result" in as_json.stderr


def test_stranded_mig_gpu_is_noted(run, tmp_path):
    m = FakeMachine.from_snapshot(demo_snapshot("a100-mig-01"))
    m.set_mig_layout(0, [])
    result = run("nvml", "--snapshot", _write(tmp_path, "s.json", _snap_of(m, "a100-mig-01")))
    assert "note: GPU 0 has MIG mode on but no MIG devices" in result.stdout


# ---------------------------------------------------------------------------- --as-resourceslice


@pytest.mark.parametrize("node, release, dynamic", [("dgx-h100-01", "main", False), ("a100-mig-01", "v0.4", False),
                                                    ("l40s-01", "main", False), ("h100-dmig-01", "main", True)])
def test_as_resourceslice_matches_the_published_devices(run, node, release, dynamic):
    args = ["nvml", "--demo", "--node", node, "--as-resourceslice", "--driver-release", release]
    if dynamic:
        args.append("--dynamic-mig")
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    devices = _decoded(yaml.safe_load(result.stdout))
    published = demo_devices(node)
    assert sorted(d.name for d in devices) == sorted(d.name for d in published)
    keys = {d.name: set(d.attributes) for d in published}
    assert all(set(d.attributes) == keys[d.name] for d in devices)
    as_json = run(*args, "-o", "json")
    assert _decoded(json.loads(as_json.stdout))[0].name == devices[0].name


def test_as_resourceslice_defaults_to_the_current_release(run):
    devices = _decoded(yaml.safe_load(run("nvml", "--demo", "--node", "dgx-h100-01", "--as-resourceslice").stdout))
    assert "resource.kubernetes.io/numaNode" not in devices[0].attributes  # v0.4: no numaNode yet
    assert devices[0].attributes["gpu.nvidia.com/driverVersion"] == "580.95.5"  # leading zero dropped
    old = _decoded(yaml.safe_load(run("nvml", "--demo", "--node", "dgx-h100-01", "--as-resourceslice",
                                      "--driver-release", "v25.3").stdout))  # fmt: skip
    assert old[0].attributes["gpu.nvidia.com/index"] == 0 and "gpu.nvidia.com/pcieBusID" in old[0].attributes


def test_driver_release_choices_are_the_styles():
    from kubectl_dra.cli.nvml import DriverRelease

    assert tuple(r.value for r in DriverRelease) == STYLES


# ---------------------------------------------------------------------------- --compare


@pytest.mark.parametrize("node", ["dgx-h100-01", "a100-mig-01", "h100-dmig-01", "l40s-01"])
def test_compare_demo_in_sync(run, node):
    result = run("nvml", "--compare", "--demo", "--node", node)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"node {node}: in sync" in result.stdout
    data = json.loads(run("nvml", "--compare", "--demo", "--node", node, "-o", "json").stdout)
    assert data["inSync"] is True and data["node"] == node and data["missing"] == [] and data["partial"] is False


def test_compare_reports_each_kind_of_drift(run, tmp_path):
    # dgx: GPU 7 gone, a GPU the node never published, the driver upgraded under the plugin
    s = demo_snapshot("dgx-h100-01")
    s.driver_version = "580.105.08"
    s.gpus = s.gpus[:7]
    s.gpus[6].minor = 8  # the driver names GPUs by minor: gpu-6 is gone, gpu-8 appears
    path = _write(tmp_path, "dgx.json", s)
    result = run("nvml", "--snapshot", path, "--compare", "--demo")
    assert result.exit_code == ExitCode.DRIFT == 8, result.stderr
    text = result.stdout
    assert "drift between NVML and the published ResourceSlices" in text
    assert "missing (NVML reports them, the node does not publish them):\n  gpu-8\n" in text
    assert "extra (published, NVML does not report them):\n  gpu-6\n  gpu-7\n" in text
    assert "gpu-0    attribute   gpu.nvidia.com/driverVersion   580.95.5    580.105.8" in text
    assert "summary: 1 missing device, 2 extra devices, 6 changed values" in text
    data = json.loads(run("nvml", "--snapshot", path, "--compare", "--demo", "-o", "json").stdout)
    assert data["inSync"] is False and data["missing"] == ["gpu-8"] and data["extra"] == ["gpu-6", "gpu-7"]
    assert data["changed"][0] == {"device": "gpu-0", "kind": "attribute", "key": "gpu.nvidia.com/driverVersion",
                                  "old": {"version": "580.95.5"}, "new": {"version": "580.105.8"}}  # fmt: skip
    assert data["driverRelease"] == "main" and data["dynamicMig"] is False

    # a100: the MIG layout changed after the plugin started
    m = FakeMachine.from_snapshot(demo_snapshot("a100-mig-01"))
    m.set_mig_layout(0, [("3g.40gb", 0), ("3g.40gb", 4)])
    result = run("nvml", "--snapshot", _write(tmp_path, "a100.json", _snap_of(m, "a100-mig-01")), "--compare", "--demo")
    assert result.exit_code == ExitCode.DRIFT
    assert "stale MIG layout (published MIG devices are not the ones that exist):" in result.stdout
    assert "published: 1g.10gb@2, 1g.10gb@3, 2g.20gb@0, 3g.40gb@4\n    NVML:      3g.40gb@0, 3g.40gb@4" in result.stdout
    assert "hint: the NVIDIA DRA driver inventories GPUs and MIG devices when its kubelet plugin starts" in result.stdout

    # removed and added keys: the published keys are main's, compared as another release's
    result = run("nvml", "--compare", "--demo", "--node", "dgx-h100-01", "--driver-release", "v25.3", "-o", "yaml")
    assert result.exit_code == ExitCode.DRIFT
    data = yaml.safe_load(result.stdout)
    assert {k["key"] for k in data["removedKeys"]} >= {"resource.kubernetes.io/numaNode", "resource.kubernetes.io/pciBusID"}
    assert {k["key"] for k in data["addedKeys"]} >= {"gpu.nvidia.com/index", "gpu.nvidia.com/pcieBusID"}
    assert data["driverRelease"] == "v25.3" and data["staleMig"] == []
    text = run("nvml", "--compare", "--demo", "--node", "dgx-h100-01", "--driver-release", "v25.3").stdout
    assert "removed keys (published, but driver release v25.3" in text and "added keys (expected from NVML, not published):" in text


def test_compare_partial_snapshot_with_a_lost_gpu(run, tmp_path):
    snap = collect(FakeBackend.from_snapshot(demo_snapshot("l40s-01")).lose(1), "l40s-01", now=NOW)
    result = run("nvml", "--snapshot", _write(tmp_path, "p.json", snap), "--compare", "--demo")
    assert result.exit_code == ExitCode.DRIFT
    assert "extra (published, NVML does not report them):\n  gpu-1\n" in result.stdout
    assert "hint: GPU1 fell off the bus" in result.stdout and "hint: the snapshot is partial" in result.stdout
    assert "warning: partial result: 1 NVML call failed: GPU 1 has fallen off the bus" in result.stderr


def test_compare_against_files(run, tmp_path):
    result = run("nvml", "--demo", "--node", "a100-mig-01", "--compare", "-f", str(DEMO))
    assert result.exit_code == 0, result.stderr
    assert "in sync" in result.stdout
    # a file where the node's slice is an older publication: the 1g.10gb devices are not there yet
    docs = [d for d in yaml.safe_load_all(DEMO.read_text(encoding="utf-8")) if d]
    for d in docs:
        if d["kind"] == "ResourceSlice" and d["spec"].get("nodeName") == "a100-mig-01" and d["spec"]["driver"] == "gpu.nvidia.com":
            d["spec"]["devices"] = [x for x in d["spec"]["devices"] if "1g10gb" not in x["name"]]
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    snap = _write(tmp_path, "a100.json", demo_snapshot("a100-mig-01"))
    result = run("nvml", "--snapshot", snap, "--compare", "-f", str(path), "-o", "json")
    assert result.exit_code == ExitCode.DRIFT
    data = json.loads(result.stdout)
    assert data["missing"] == ["gpu-0-mig-1g10gb-19-2", "gpu-0-mig-1g10gb-19-3"] and data["staleMig"]


def test_compare_against_a_live_api(run, fake_api, tmp_path):
    fake_api.load_yaml(DEMO)
    path = _write(tmp_path, "dgx.json", demo_snapshot("dgx-h100-01"))
    result = run("nvml", "--snapshot", path, "--compare")
    assert result.exit_code == 0, result.stderr
    assert "node dgx-h100-01: in sync: the 8 published gpu.nvidia.com devices" in result.stdout
    selectors = [r.query.get("fieldSelector") for r in fake_api.requests if r.path.endswith("/resourceslices")]
    assert "spec.nodeName=dgx-h100-01" in selectors  # only the node's slices are read
    s = demo_snapshot("dgx-h100-01")
    s.gpus[3].memory_bytes = 80 << 30
    result = run("nvml", "--snapshot", _write(tmp_path, "dgx2.json", s), "--compare", "-o", "json")
    assert result.exit_code == ExitCode.DRIFT
    assert json.loads(result.stdout)["changed"] == [
        {"device": "gpu-3", "kind": "capacity", "key": "gpu.nvidia.com/memory", "old": "81559Mi", "new": "80Gi"}]


def test_compare_node_without_nvidia_devices_is_not_found(run, tmp_path):
    path = _write(tmp_path, "s.json", demo_snapshot("l40s-01"))
    result = run("nvml", "--snapshot", path, "--node", "mi300x-01", "--compare", "--demo")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert 'error: node "mi300x-01" publishes no gpu.nvidia.com devices in the demo cluster' in result.stderr
    assert "hint: nodes with gpu.nvidia.com devices: a100-mig-01, dgx-h100-01" in result.stderr
    result = run("nvml", "--snapshot", path, "--node", "dgx-h100-0", "--compare", "--demo")
    assert result.exit_code == ExitCode.NOT_FOUND and "did you mean dgx-h100-01?" in result.stderr


def test_compare_live_unreachable_is_a_cluster_error(run, tmp_path):
    path = _write(tmp_path, "s.json", demo_snapshot("l40s-01"))
    result = run("nvml", "--snapshot", path, "--compare")  # KUBECONFIG points nowhere
    assert result.exit_code == ExitCode.CLUSTER and result.stderr.startswith("error: ")


# ---------------------------------------------------------------------------- usage


@pytest.mark.parametrize(
    "args, message",
    [
        (["--demo"], "--demo reads the demo snapshot of one node: name it with --node"),
        (["--demo", "--node", "l40s-01", "-o", "name"], "nvml does not print names"),
        (["--demo", "--node", "l40s-01", "--as-resourceslice", "--compare"], "cannot be used together"),
        (["--demo", "--node", "l40s-01", "--driver-release", "v25.8"], "apply to --as-resourceslice and --compare"),
        (["--demo", "--node", "l40s-01", "-f", "x.yaml"], "choose the cluster that --compare reads"),
        (["--demo", "--snapshot", "x.json"], "--demo and --snapshot cannot be used together"),
        (["--demo", "--node", "l40s-01", "--as-resourceslice", "-o", "wide"], "yaml (the default) or json"),
    ],
)
def test_usage_errors(run, args, message):
    result = run("nvml", *args)
    assert result.exit_code == ExitCode.USAGE
    assert message in result.stderr
    if args == ["--demo"]:
        assert "hint: demo nodes with NVML snapshots: " + ", ".join(demo_nodes()) in result.stderr


def test_unknown_demo_node_is_not_found(run):
    result = run("nvml", "--demo", "--node", "mi300x-01")
    assert result.exit_code == ExitCode.NOT_FOUND and "no NVML snapshot of node mi300x-01" in result.stderr


# ---------------------------------------------------------------------------- this machine


def test_no_nvml_library_is_a_clear_error(run, monkeypatch):
    pynvml = pytest.importorskip("pynvml")
    monkeypatch.setattr(pynvml, "nvmlLib", None)
    monkeypatch.setattr(pynvml, "_nvmlGetFunctionPointer_cache", {})
    monkeypatch.setattr(pynvml, "_nvmlLib_refcount", 0)
    monkeypatch.setattr(pynvml, "CDLL", lambda name: ctypes.CDLL("/nonexistent/" + name))
    result = run("nvml")
    assert result.exit_code == ExitCode.ERROR == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "error: NVML is not usable here: nvmlInitWithFlags returned LIBRARY_NOT_FOUND"
    assert lines[1].startswith("hint: libnvidia-ml.so.1 was not found")
    assert "Traceback" not in result.stderr


def test_no_kernel_driver_is_a_clear_error(run, monkeypatch):
    from tests.test_nvml_real import FakeNvmlLib

    pynvml = pytest.importorskip("pynvml")
    monkeypatch.setattr(pynvml, "nvmlLib", FakeNvmlLib(init_rc=9))
    monkeypatch.setattr(pynvml, "_nvmlGetFunctionPointer_cache", {})
    monkeypatch.setattr(pynvml, "_nvmlLib_refcount", 0)
    result = run("nvml", "--as-resourceslice")
    assert result.exit_code == 1 and "DRIVER_NOT_LOADED" in result.stderr and "kernel driver" in result.stderr


def test_no_pynvml_is_a_clear_error(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    result = run("nvml", "--node", "n1", "--via", "local")
    assert result.exit_code == 1 and "pip install nvidia-ml-py" in result.stderr and "Traceback" not in result.stderr


def test_collects_this_machine_through_pynvml(run, monkeypatch):
    """The default source, through pynvml's real marshalling (tests/test_nvml_real.py's fake library)."""
    from tests.test_nvml_real import FakeNvmlLib

    pynvml = pytest.importorskip("pynvml")
    monkeypatch.setattr(pynvml, "nvmlLib", FakeNvmlLib())
    monkeypatch.setattr(pynvml, "_nvmlGetFunctionPointer_cache", {})
    monkeypatch.setattr(pynvml, "_nvmlLib_refcount", 0)
    monkeypatch.setenv("NODE_NAME", "gpu-node-7")
    result = run("nvml")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Node:       gpu-node-7\nDriver:     550.54.15 (CUDA 12.4, NVML 12.550.54.15)")
    assert "GPU0   X      NV4" in result.stdout and "3g.40gb" in result.stdout
    data = json.loads(run("nvml", "-o", "json").stdout)
    assert data["node"] == "gpu-node-7" and len(data["gpus"]) == 2


def test_host_name_hint_when_the_node_is_not_found(run, monkeypatch, tmp_path):
    from tests.test_nvml_real import FakeNvmlLib

    pynvml = pytest.importorskip("pynvml")
    monkeypatch.setattr(pynvml, "nvmlLib", FakeNvmlLib())
    monkeypatch.setattr(pynvml, "_nvmlGetFunctionPointer_cache", {})
    monkeypatch.setattr(pynvml, "_nvmlLib_refcount", 0)
    monkeypatch.delenv("NODE_NAME", raising=False)
    result = run("nvml", "--compare", "-f", str(DEMO))
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "host name; in a pod it is not the node name: pass --node NODE --via local, or set NODE_NAME" in result.stderr


def test_help_imports_neither_pynvml_nor_the_nvml_package():
    code = (
        "import sys; from kubectl_dra.cli import app; "
        "assert 'pynvml' not in sys.modules and 'kubectl_dra.nvml' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=ROOT)
