"""`kubectl dra classes` and `kubectl dra attributes` on the demo cluster, on -f files and over the fake API server."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import ROOT

DEMO = ROOT / "kubectl_dra" / "demo" / "cluster.yaml"

UNGUARDED = """\
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata:
  name: example-a100
spec:
  selectors:
  - cel:
      expression: device.attributes['gpu.example.com'].model == 'A100'
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata:
  name: example-guarded
spec:
  extendedResourceName: example.com/gpu
  selectors:
  - cel:
      expression: device.driver == 'gpu.example.com'
  - cel:
      expression: device.attributes['gpu.example.com'].model == 'A100'
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata:
  name: node-1-gpu.example.com
spec:
  driver: gpu.example.com
  nodeName: node-1
  pool: {name: node-1, generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    attributes:
      model: {string: A100}
      index: {int: 0}
    capacity:
      memory: {value: 40Gi}
  - name: gpu-1
    attributes:
      model: {string: H100}
      index: {int: 1}
    capacity:
      memory: {value: 80Gi}
  - name: gpu-2
    attributes:
      model: {string: A100}
      index: {int: 2}
    capacity:
      memory: {value: 40960Mi}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata:
  name: node-1-dra.net
spec:
  driver: dra.net
  nodeName: node-1
  pool: {name: node-1, generation: 1, resourceSliceCount: 1}
  devices:
  - name: eth0
    attributes:
      rdma: {bool: true}
  - name: eth1
    attributes:
      rdma: {bool: false}
"""


@pytest.fixture
def example_file(tmp_path):
    path = tmp_path / "example.yaml"
    path.write_text(UNGUARDED, encoding="utf-8")
    return str(path)


# ------------------------------------------------------------------------- classes


def test_classes_demo_table(run, golden):
    result = run("classes", "--demo")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    golden("classes-demo.txt", result.stdout)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SELECTOR", "EXTENDED", "RESOURCE", "DEVICES", "FREE", "ERRORS"]
    # long selectors are cut in the table
    assert any("…" in line for line in lines)


def test_classes_demo_json(run):
    result = run("classes", "--demo", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["kind"] == "DeviceClassList"
    assert all(
        {"name", "selectors", "extendedResourceName", "devices", "free", "errors"} <= item.keys() for item in data["items"]
    )
    by_name = {i["name"]: i for i in data["items"]}
    assert list(by_name) == ["dranet", "gpu.amd.com", "gpu.nvidia.com", "mig.nvidia.com", "tpu.google.com", "vfio.gpu.nvidia.com"]
    gpu = by_name["gpu.nvidia.com"]
    assert (gpu["devices"], gpu["free"], gpu["errors"]) == (15, 6, 0)
    assert gpu["extendedResourceName"] == "nvidia.com/gpu"
    assert gpu["selectors"] == ["device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'"]
    mig = by_name["mig.nvidia.com"]
    assert (mig["devices"], mig["free"], mig["errors"]) == (40, 31, 0)
    assert mig["extendedResourceName"] is None
    assert by_name["vfio.gpu.nvidia.com"]["devices"] == 0
    assert yaml.safe_load(run("classes", "--demo", "-o", "yaml").stdout) == data


def test_classes_counts_agree_with_list(run):
    data = json.loads(run("classes", "--demo", "-o", "json").stdout)
    for item in data["items"]:
        admitted = run("list", "--demo", "--class", item["name"], "-o", "name").stdout.splitlines()
        free = run("list", "--demo", "--class", item["name"], "--state", "free", "-o", "name").stdout.splitlines()
        assert (item["devices"], item["free"]) == (len(admitted), len(free)), item["name"]


def test_classes_wide_shows_full_selectors(run):
    result = run("classes", "--demo", "-o", "wide")
    assert result.exit_code == 0
    assert "…" not in result.stdout
    assert "device.attributes['gpu.nvidia.com'].type == 'mig'" in result.stdout


def test_classes_name_output(run):
    result = run("classes", "--demo", "-o", "name")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:3] == [
        "deviceclass.resource.k8s.io/dranet",
        "deviceclass.resource.k8s.io/gpu.amd.com",
        "deviceclass.resource.k8s.io/gpu.nvidia.com",
    ]


def test_classes_runtime_errors_are_counted_and_warned(run, example_file):
    result = run("classes", "-f", example_file, "-o", "json")
    assert result.exit_code == 0, result.stderr
    by_name = {i["name"]: i for i in json.loads(result.stdout)["items"]}
    unguarded = by_name["example-a100"]
    # the dra.net devices have no gpu.example.com attributes: "no such key: model"
    assert (unguarded["devices"], unguarded["free"], unguarded["errors"]) == (2, 2, 2)
    assert unguarded["firstError"]["device"] == "dra.net/node-1/eth0"
    assert "no such key: model" in unguarded["firstError"]["message"]
    guarded = by_name["example-guarded"]
    assert (guarded["devices"], guarded["errors"]) == (2, 0)
    assert "firstError" not in guarded
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: deviceclass example-a100: selector #0: CEL runtime error on 2 devices (first: dra.net/node-1/eth0: no such key: model)")

    table = run("classes", "-f", example_file)
    assert table.exit_code == 0
    rows = {line.split()[0]: line.split() for line in table.stdout.splitlines()[1:]}
    assert rows["example-a100"][-3:] == ["2", "2", "2"]
    assert rows["example-guarded"][-4:] == ["example.com/gpu", "2", "2", "0"]
    # the two selectors are shown ANDed
    assert "(device.driver == 'gpu.example.com') && (" in run("classes", "-f", example_file, "-o", "wide").stdout
    assert "CEL runtime error on 2 devices" in table.stderr


def test_classes_selector_that_does_not_compile(run, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        UNGUARDED.replace("device.attributes['gpu.example.com'].model == 'A100'\n---\napiVersion: resource.k8s.io/v1\nkind: DeviceClass",
                          "device.attributes['gpu.example.com'].model ==\n---\napiVersion: resource.k8s.io/v1\nkind: DeviceClass", 1),
        encoding="utf-8",
    )
    result = run("classes", "-f", str(path))
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("example-a100"))
    assert row.split()[-3:] == ["invalid", "-", "-"]
    assert "warning: deviceclass example-a100: selector does not compile" in result.stderr
    data = json.loads(run("classes", "-f", str(path), "-o", "json").stdout)
    item = next(i for i in data["items"] if i["name"] == "example-a100")
    assert item["devices"] is None and item["compileError"]


def test_classes_none_found(run, tmp_path):
    path = tmp_path / "slices.yaml"
    path.write_text(UNGUARDED.split("---\n", 2)[2], encoding="utf-8")
    result = run("classes", "-f", str(path))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "no DeviceClasses found\n"
    data = json.loads(run("classes", "-f", str(path), "-o", "json").stdout)
    assert data == {"kind": "DeviceClassList", "items": []}


# ---------------------------------------------------------------------- attributes


def test_attributes_demo_table(run, golden):
    result = run("attributes", "--demo")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    golden("attributes-demo.txt", result.stdout)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["DRIVER", "NAME", "KIND", "DEVICES", "VALUES"]
    arch = next(line for line in lines if "gpu.nvidia.com/architecture" in line)
    assert arch.split(None, 4) == ["gpu.nvidia.com", "gpu.nvidia.com/architecture", "string", "55", "Hopper (46), Ampere (5), Ada Lovelace (4)"]
    memory = next(line for line in lines if line.split()[1] == "gpu.nvidia.com/memory")
    assert memory.split()[2] == "quantity"
    assert "79.6Gi (8)" in memory  # 81559Mi, human-readable
    assert memory.endswith("…")


def test_attributes_sorted_by_driver_then_name(run):
    data = json.loads(run("attributes", "--demo", "-o", "json").stdout)
    keys = [(i["driver"], i["name"]) for i in data["items"]]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))


def test_attributes_json_shape(run):
    result = run("attributes", "--demo", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["kind"] == "AttributeList"
    assert all({"driver", "name", "kind", "devices", "values"} <= item.keys() for item in data["items"])
    by_key = {(i["driver"], i["name"]): i for i in data["items"]}
    arch = by_key[("gpu.nvidia.com", "gpu.nvidia.com/architecture")]
    assert arch["kind"] == "string" and arch["devices"] == 55
    assert arch["values"] == [{"value": "Hopper", "count": 46}, {"value": "Ampere", "count": 5}, {"value": "Ada Lovelace", "count": 4}]
    assert by_key[("gpu.nvidia.com", "gpu.nvidia.com/cudaComputeCapability")]["kind"] == "version"
    assert by_key[("dra.net", "dra.net/rdma")]["values"] == [{"value": True, "count": 4}]
    assert by_key[("dra.net", "dra.net/mtu")]["kind"] == "int"
    memory = by_key[("gpu.nvidia.com", "gpu.nvidia.com/memory")]
    assert memory["kind"] == "quantity"
    assert {"value": "81559Mi", "count": 8} in memory["values"]
    assert sum(v["count"] for v in memory["values"]) == memory["devices"] == 55
    # the standard domain is listed per driver that publishes it
    assert {d for d, n in by_key if n == "resource.kubernetes.io/pcieRoot"} == {"dra.net", "gpu.amd.com", "gpu.nvidia.com"}
    assert yaml.safe_load(run("attributes", "--demo", "-o", "yaml").stdout) == data


@pytest.mark.parametrize("driver", ["nvidia", "gpu.nvidia.com"])
def test_attributes_driver_filter(run, driver):
    result = run("attributes", "--demo", "--driver", driver)
    assert result.exit_code == 0, result.stderr
    rows = result.stdout.splitlines()[1:]
    assert rows and all(line.split()[0] == "gpu.nvidia.com" for line in rows)
    data = json.loads(run("attributes", "--demo", "--driver", driver, "-o", "json").stdout)
    assert {i["driver"] for i in data["items"]} == {"gpu.nvidia.com"}


def test_attributes_unknown_driver(run):
    result = run("attributes", "--demo", "--driver", "nope")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.startswith("no devices of driver nope (drivers: dra.net, gpu.amd.com, gpu.nvidia.com, tpu.google.com)")


def test_attributes_merge_equal_quantities_in_the_table(run, example_file):
    result = run("attributes", "-f", example_file)
    assert result.exit_code == 0, result.stderr
    rows = {line.split()[1]: line for line in result.stdout.splitlines()[1:]}
    assert rows["gpu.example.com/memory"].endswith("40Gi (2), 80Gi (1)")  # 40Gi and 40960Mi read the same
    assert rows["gpu.example.com/model"].endswith("A100 (2), H100 (1)")
    assert rows["dra.net/rdma"].endswith("false (1), true (1)")
    assert rows["gpu.example.com/index"].split()[2] == "int"
    data = json.loads(run("attributes", "-f", example_file, "-o", "json").stdout)
    memory = next(i for i in data["items"] if i["name"] == "gpu.example.com/memory")
    assert memory["values"] == [{"value": "40Gi", "count": 1}, {"value": "40960Mi", "count": 1}, {"value": "80Gi", "count": 1}]  # raw, as published


def test_attributes_no_devices(run, tmp_path):
    path = tmp_path / "classes.yaml"
    path.write_text(UNGUARDED.split("---\n")[0], encoding="utf-8")
    result = run("attributes", "-f", str(path))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.startswith("no DRA devices found in")


# ------------------------------------------------------------------------------ live


def test_classes_and_attributes_over_http(run, fake_api):
    fake_api.load_yaml(DEMO)
    live = run("classes", "-o", "json")
    assert live.exit_code == 0, live.stderr
    assert live.stderr == ""
    assert json.loads(live.stdout) == json.loads(run("classes", "--demo", "-o", "json").stdout)
    paths = [r.path for r in fake_api.requests]
    assert "/apis/resource.k8s.io/v1/deviceclasses" in paths
    assert "/apis/resource.k8s.io/v1/resourceclaims" in paths  # free counts need every claim
    assert run("classes").stdout == run("classes", "--demo").stdout

    live = run("attributes", "--driver", "nvidia", "-o", "json")
    assert live.exit_code == 0, live.stderr
    assert json.loads(live.stdout) == json.loads(run("attributes", "--demo", "--driver", "nvidia", "-o", "json").stdout)
    assert run("attributes").stdout == run("attributes", "--demo").stdout


def test_attribute_quantities_with_equal_counts_sort_by_size(run, tmp_path):
    devices = "".join(f"  - {{name: d{i}, capacity: {{memory: {{value: {q}}}}}}}\n" for i, q in enumerate(["1Gi", "512Mi", "1024Mi", "2Gi", "600Mi"]))
    path = tmp_path / "q.yaml"
    path.write_text(
        "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {name: s}\nspec:\n  driver: gpu.example.com\n"
        "  nodeName: n\n  pool: {name: n, generation: 1, resourceSliceCount: 1}\n  devices:\n" + devices,
        encoding="utf-8",
    )
    result = run("attributes", "-f", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1].endswith("1Gi (2), 512Mi (1), 600Mi (1), 2Gi (1)")
    data = json.loads(run("attributes", "-f", str(path), "-o", "json").stdout)
    assert [v["value"] for v in data["items"][0]["values"]] == ["512Mi", "600Mi", "1Gi", "1024Mi", "2Gi"]
