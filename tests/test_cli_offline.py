"""The CLI on the built-in demo cluster and on -f files: what users read (golden files) and the data shapes."""

from __future__ import annotations

import json

import yaml

from tests import demo_facts
from tests.conftest import FIXTURES
from tests.fixture_outcomes import pinned_device_ids

EXAMPLE_V1 = str(FIXTURES / "dra-example-driver" / "resourceslice-list-v1-readme.yaml")


# ---------------------------------------------------------------------------- list


def test_list_demo_table(run, golden):
    result = run("list", "--demo")
    assert result.exit_code == 0, result.stderr
    # not a terminal: the totals go to stderr, so `| awk`/`| wc -l` see device rows only (issue 13)
    assert result.stderr.startswith("Total: 71 devices") and "warning" not in result.stderr
    assert "Total:" not in result.stdout
    golden("list-demo.txt", result.stdout)


def test_list_totals_on_a_terminal_follow_the_table(run, monkeypatch):
    monkeypatch.setattr("kubectl_dra.console.stdout_is_terminal", lambda: True)
    result = run("list", "--demo", "--node", "h100-dmig-01")
    table, _, totals = result.stdout.partition("\n\n")
    assert table.startswith("NODE") and totals.startswith("Total: 38 devices, 29 free")
    # DynamicMIG placements overlap: the totals say how many are usable together (issue 13 item 4)
    assert "  partitions share their GPU: 29 placements free on 2 GPUs; at most 11 usable at once\n" in totals
    assert result.stderr == ""


def test_list_demo_wide(run, golden):
    result = run("list", "--demo", "-o", "wide")
    assert result.exit_code == 0, result.stderr
    golden("list-demo-wide.txt", result.stdout)


def test_list_json_shape_and_yaml_agree(run):
    as_json = run("list", "--demo", "-o", "json")
    as_yaml = run("list", "--demo", "-o", "yaml")
    assert as_json.exit_code == as_yaml.exit_code == 0
    data = json.loads(as_json.stdout)
    assert data == yaml.safe_load(as_yaml.stdout)
    assert data["kind"] == "DeviceList"
    items = data["items"]
    assert items and all(
        {"node", "driver", "pool", "name", "attributes", "capacity", "state", "allocation", "taints"} <= item.keys() for item in items
    )
    # names are always fully qualified
    assert all("/" in key for item in items for key in (*item["attributes"], *item["capacity"]))
    h100 = next(i for i in items if i["node"] == "dgx-h100-01" and i["name"] == "gpu-0" and i["driver"] == "gpu.nvidia.com")
    assert h100["capacity"]["gpu.nvidia.com/memory"] == "81559Mi"
    assert h100["attributes"]["gpu.nvidia.com/productName"] == "NVIDIA H100 80GB HBM3"
    assert h100["state"] == "reserved"
    assert h100["allocation"] == {"claim": "ml-team/llm-train-0-gpus-l4pnk", "request": "gpus", "pods": ["llm-train-0"]}


def test_list_name_output(run):
    result = run("list", "--demo", "-o", "name", "--node", "l40s-01")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [f"gpu.nvidia.com/l40s-01/gpu-{i}" for i in range(4)]


def test_list_states(run):
    data = json.loads(run("list", "--demo", "-o", "json", "--node", "l40s-01").stdout)
    states = {i["name"]: i["state"] for i in data["items"]}
    assert states == {"gpu-0": "reserved", "gpu-1": "allocated", "gpu-2": "tainted", "gpu-3": "free"}
    tainted = next(i for i in data["items"] if i["name"] == "gpu-2")
    assert tainted["taints"][0]["effect"] == "NoSchedule"


def test_list_partition_blocks_full_gpu_and_overlaps(run):
    """DynamicMIG: an allocated 3g.40gb placement on slices 4-7 blocks the full GPU and every overlapping placement."""
    data = json.loads(run("list", "--demo", "-o", "json", "--node", "h100-dmig-01").stdout)
    by_name = {i["name"]: i for i in data["items"]}
    assert by_name["gpu-0-mig-3g40gb-9-4"]["state"] == "reserved"
    blocked = sorted(n for n, i in by_name.items() if i["state"] == "consumed-by-partition")
    assert blocked == sorted(
        [
            "gpu-0",
            "gpu-0-mig-1g10gb-19-4",
            "gpu-0-mig-1g10gb-19-5",
            "gpu-0-mig-1g10gb-19-6",
            "gpu-0-mig-1g20gb-15-4",
            "gpu-0-mig-1g20gb-15-6",
            "gpu-0-mig-2g20gb-14-4",
            "gpu-0-mig-7g80gb-0-0",
        ]
    )
    assert by_name["gpu-0"]["blockedBy"] == ["gpu-0-mig-3g40gb-9-4"]
    # placements on the other half of GPU 0 and everything on GPU 1 stay free
    assert by_name["gpu-0-mig-3g40gb-9-0"]["state"] == "free"
    assert by_name["gpu-0-mig-4g40gb-5-0"]["state"] == "free"
    assert by_name["gpu-1"]["state"] == "free"


def test_list_filters(run):
    free = json.loads(run("list", "--demo", "-o", "json", "--state", "free").stdout)["items"]
    assert free and all(i["state"] == "free" for i in free)
    busy = json.loads(run("list", "--demo", "-o", "json", "--state", "allocated").stdout)["items"]
    assert busy and {i["state"] for i in busy} == {"allocated", "reserved"}
    amd = json.loads(run("list", "--demo", "-o", "json", "--driver", "amd").stdout)["items"]
    assert sorted(f"{i['driver']}/{i['pool']}/{i['name']}" for i in amd) == demo_facts.device_ids(lambda d: d["driver"] == "gpu.amd.com")
    both = json.loads(run("list", "--demo", "-o", "json", "--node", "l40s-01,mi300x-01").stdout)["items"]
    assert {i["node"] for i in both} == {"l40s-01", "mi300x-01"}


def test_list_bad_state_is_usage_error(run):
    result = run("list", "--demo", "--state", "busy")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --state must be one of all, free, allocated")


def test_list_no_match_and_no_devices(run, tmp_path):
    result = run("list", "--demo", "--node", "nope")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == "no DRA devices found on node nope\n"
    result = run("list", "--demo", "--driver", "nope")
    assert result.stderr == "no devices match the given filters (71 devices in total)\n"
    result = run("list", "--demo", "--node", "l40s-01", "--state", "consumed-by-partition")
    assert result.stderr == "no DRA devices found on node l40s-01 matching the other filters\n"
    claims_only = tmp_path / "claims.yaml"
    claims_only.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    result = run("list", "-f", str(claims_only))
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == f"no DRA devices found in {claims_only}\n"


def test_list_footer_totals(run):
    footer = run("list", "--demo").stderr
    assert footer.startswith("Total: 71 devices, 47 free, 15 allocated (14 in use by pods), 1 tainted, 8 consumed-by-partition\n")
    assert "  NVIDIA H100 80GB HBM3: 10 (4 free)\n" in footer


def test_list_no_headers(run):
    out = run("list", "--demo", "--no-headers", "--node", "l40s-01").stdout
    assert out.splitlines()[0].startswith("l40s-01")
    assert "Total" not in out


def test_markup_and_control_characters_print_literally(run, tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "ResourceSlice",
                "metadata": {"name": "s"},
                "spec": {
                    "driver": "gpu.example.com",
                    "nodeName": "n1",
                    "pool": {"name": "n1", "generation": 1, "resourceSliceCount": 1},
                    "devices": [{"name": "gpu-0", "attributes": {"model": {"string": "[bold]x\x1b[31m"}}}],
                },
            }
        )
    )
    out = run("list", "-f", str(path)).stdout
    assert "[bold]x?[31m" in out
    assert "\x1b" not in out


# ---------------------------------------------------------------------------- claims


def test_claims_all_namespaces(run, golden):
    result = run("claims", "--demo", "-A")
    assert result.exit_code == 0, result.stderr
    golden("claims-demo-all.txt", result.stdout)


def test_claims_namespace(run):
    result = run("claims", "--demo", "-n", "inference")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "STATE", "REQUESTS"]
    assert [line.split()[0] for line in lines[1:]] == ["l40s-canary", "triton-0-gpu-7z6b6", "vllm-mistral-0-mig-2lqfg"]


def test_claims_default_namespace_empty_points_at_A(run):
    result = run("claims", "--demo")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.startswith("no ResourceClaims found in namespace default (")
    assert "use -A" in result.stderr


def test_claims_json(run):
    data = json.loads(run("claims", "--demo", "-A", "-o", "json").stdout)
    assert data["kind"] == "ClaimList"
    by_name = {c["name"]: c for c in data["items"]}
    train = by_name["llm-train-0-gpus-l4pnk"]
    assert train["state"] == "reserved"
    assert train["pods"] == ["llm-train-0"]
    assert [d["device"] for d in train["devices"]] == ["gpu-0", "gpu-1", "gpu-2", "gpu-3"]
    assert all(d["node"] == "dgx-h100-01" and d["uuid"].startswith("GPU-") for d in train["devices"])
    assert train["requests"][0]["exactly"]["count"] == 4
    pending = by_name["pretrain-70b-gpus-fmb6b"]
    assert pending["state"] == "pending" and pending["devices"] == []
    mig = by_name["vllm-mistral-0-mig-2lqfg"]
    assert mig["devices"][0]["uuid"] is None and mig["devices"][0]["pciBusID"]
    assert by_name["l40s-canary"]["state"] == "allocated"


def test_claims_name_output(run):
    result = run("claims", "--demo", "-n", "ml-team", "-o", "name")
    assert result.stdout.splitlines()[0] == "resourceclaim.resource.k8s.io/llm-train-0-gpus-l4pnk"


# ---------------------------------------------------------------------------- show


def test_show_card(run, golden):
    result = run("show", "gpu.nvidia.com/dgx-h100-01/gpu-0", "--demo")
    assert result.exit_code == 0, result.stderr
    golden("show-h100-gpu-0.txt", result.stdout)


def test_show_blocked_partition_card(run, golden):
    result = run("show", "h100-dmig-01/gpu-0", "--demo")
    assert result.exit_code == 0, result.stderr
    assert "consumed-by-partition (blocked by gpu-0-mig-3g40gb-9-4)" in result.stdout
    golden("show-dmig-gpu-0.txt", result.stdout)


def test_show_unique_name_and_json(run):
    data = json.loads(run("show", "a100-mig-01/gpu-0-mig-1g10gb-19-2", "--demo", "-o", "json").stdout)
    assert data["node"] == "a100-mig-01"
    assert data["attributes"]["gpu.nvidia.com/profile"] == "1g.10gb"
    assert data["allocation"]["claim"] == "ml-team/notebook-alice-mig-k86p2"
    unique = json.loads(run("show", "gpu-0-128", "--demo", "-o", "json").stdout)
    assert unique["driver"] == "gpu.amd.com"


def test_show_ambiguous_and_missing(run):
    ambiguous = run("show", "gpu-0", "--demo")
    assert ambiguous.exit_code == 2
    assert ambiguous.stderr.startswith('error: device name "gpu-0" is ambiguous:')
    assert "hint: use one of: " in ambiguous.stderr
    missing = run("show", "gpu-99", "--demo")
    assert missing.exit_code == 3
    assert missing.stderr.splitlines()[0] == 'error: device "gpu-99" not found'


# ---------------------------------------------------------------------------- -f input


def test_filename_directory_stdin_and_repeats(run, tmp_path):
    text = (FIXTURES / "dra-example-driver" / "resourceslice-list-v1-readme.yaml").read_text()
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "ignored.txt").write_text("not read")
    from_dir = run("list", "-f", str(tmp_path), "-o", "name")
    from_stdin = run("list", "-f", "-", "-o", "name", input=text)
    assert from_dir.exit_code == from_stdin.exit_code == 0
    assert from_dir.stdout == from_stdin.stdout
    assert sorted(from_dir.stdout.splitlines()) == pinned_device_ids("dra-example-driver/resourceslice-list-v1-readme.yaml")


def test_json_input_and_list_kinds(run, tmp_path):
    docs = list(yaml.safe_load_all((FIXTURES / "dra-example-driver" / "resourceslice-list-v1-readme.yaml").read_text()))
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(docs[0]))
    result = run("list", "-f", str(path), "-o", "name")
    assert result.exit_code == 0
    assert sorted(result.stdout.splitlines()) == pinned_device_ids("dra-example-driver/resourceslice-list-v1-readme.yaml")


def test_api_versions_decode_to_the_same_devices(run):
    outputs = []
    for version in ("v1", "v1beta1-basic", "v1alpha3-basic"):
        path = FIXTURES / "dra-example-driver" / f"resourceslice-list-{version}-readme.yaml"
        data = json.loads(run("list", "-f", str(path), "-o", "json").stdout)
        outputs.append(sorted((i["attributes"]["gpu.example.com/uuid"], i["capacity"]["gpu.example.com/memory"]) for i in data["items"]))
    assert outputs[0] == outputs[1] == outputs[2]
    assert len(outputs[0]) == 8


def test_bad_files(run, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: [unclosed\n")
    result = run("list", "-f", str(broken))
    assert result.exit_code == 5
    assert result.stderr.startswith(f"error: {broken}: not valid YAML or JSON (line ")
    assert "Traceback" not in result.stderr

    plain = tmp_path / "plain.yaml"
    plain.write_text("just: data\nmore: values\n")
    result = run("list", "-f", str(plain))
    assert result.exit_code == 5
    assert result.stderr.splitlines()[0] == f"error: {plain}: not Kubernetes objects (documents need apiVersion and kind)"

    missing = run("list", "-f", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 5
    assert missing.stderr == f"error: {tmp_path / 'nope.yaml'}: no such file or directory\n"

    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert run("list", "-f", str(empty)).exit_code == 5

    binary = tmp_path / "blob.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    result = run("list", "-f", str(binary))
    assert result.exit_code == 5 and "Traceback" not in result.stderr


def test_unknown_version_warns_and_continues(run, tmp_path):
    path = tmp_path / "mixed.yaml"
    legacy = {"apiVersion": "resource.k8s.io/v1alpha2", "kind": "ResourceClaim", "metadata": {"name": "old", "namespace": "default"}}
    text = yaml.safe_dump(legacy) + "---\n" + (FIXTURES / "dra-example-driver" / "resourceslice-list-v1-readme.yaml").read_text()
    path.write_text(text)
    result = run("list", "-f", str(path), "-o", "name")
    assert result.exit_code == 0
    assert sorted(result.stdout.splitlines()) == pinned_device_ids("dra-example-driver/resourceslice-list-v1-readme.yaml")
    assert result.stderr.startswith(f"warning: {path}: skipping ResourceClaim default/old: resource.k8s.io/v1alpha2 is not supported")


def test_demo_and_filename_conflict(run):
    result = run("list", "--demo", "-f", EXAMPLE_V1)
    assert result.exit_code == 2
    assert result.stderr == "error: --demo and -f/--filename cannot be used together\n"


def test_bad_output_format_is_usage_error(run):
    result = run("list", "--demo", "-o", "csv")
    assert result.exit_code == 2


def test_module_entry_point():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "kubectl_dra", "list", "--demo", "-o", "name"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "gpu.nvidia.com/dgx-h100-01/gpu-0" in proc.stdout.splitlines()


def test_malformed_claim_spec_is_skipped_with_a_warning(run, tmp_path):
    path = tmp_path / "claims.yaml"
    good = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "good", "namespace": "default"},
            "spec": {"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "c"}}]}}}
    bad = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "bad", "namespace": "default"},
           "spec": {"devices": {"requests": "not a list"}}}
    path.write_text(yaml.safe_dump_all([good, bad]))
    result = run("claims", "-f", str(path), "-o", "name")
    assert result.exit_code == 0
    assert result.stdout == "resourceclaim.resource.k8s.io/good\n"
    assert result.stderr == (
        "warning: skipping ResourceClaim default/bad (resource.k8s.io/v1) is malformed: "
        "spec.devices.requests: expected a list, got str\n"
    )


def test_an_unexpected_exception_is_one_line_unless_debugging(run, monkeypatch):
    import pytest

    from kubectl_dra.model import cluster

    def broken(self):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cluster.Cluster, "device_views", broken)
    result = run("list", "--demo")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: internal error: RuntimeError: boom second line",
        "hint: this is a bug in kubectl-dra; KUBECTL_DRA_DEBUG=1 shows the traceback for a report",
    ]
    monkeypatch.setenv("KUBECTL_DRA_DEBUG", "1")
    with pytest.raises(RuntimeError, match="^boom\nsecond line$"):
        run("list", "--demo")


def test_color_flag(run, monkeypatch):
    always = run("list", "--demo", "--node", "l40s-01", "--color", "always").stdout
    assert "\x1b[36mreserved\x1b[0m" in always and "\x1b[1mNODE\x1b[0m" in always
    assert "\x1b[" not in run("list", "--demo", "--node", "l40s-01").stdout  # auto: not a terminal
    assert "\x1b[" not in run("list", "--demo", "--node", "l40s-01", "--color", "never").stdout
    # colour never changes the layout: strip it and the text is the plain table
    import re

    assert re.sub(r"\x1b\[[0-9;]*m", "", always) == run("list", "--demo", "--node", "l40s-01").stdout


def test_use_color_rules(monkeypatch):
    import io

    from kubectl_dra.console import use_color

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_color("auto", Tty()) is True
    assert use_color("auto", io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color("auto", Tty()) is False
    assert use_color("always", io.StringIO()) is True
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert use_color("auto", Tty()) is False


# ---------------------------------------------------------------------------- selection (issue 3)


def _names(result):
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def test_list_filter_terms_and_where_are_anded(run):
    both = _names(run("list", "--demo", "-o", "name", "memory>=40Gi", "--where", "mig=true"))
    assert both == ["gpu.nvidia.com/h100-dmig-01/gpu-0-mig-7g80gb-0-0", "gpu.nvidia.com/h100-dmig-01/gpu-1-mig-7g80gb-0-0"]
    hopper = _names(run("list", "--demo", "-o", "name", "--where", "arch=Hopper", "not", "mig"))
    assert hopper == demo_facts.device_ids(lambda d: d["attributes"].get("gpu.nvidia.com/architecture") == "Hopper" and not demo_facts.nvidia("mig")(d))


def test_list_filter_syntax_error_shows_a_caret(run):
    result = run("list", "--demo", "memory>=")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[:3] == ["error: expected a value after '>=' in filter", "  | memory>=", "  |         ^"]


def test_list_cel(run):
    hopper = _names(run("list", "--demo", "-o", "name", "--cel", 'device.driver == "gpu.nvidia.com" && device.attributes["gpu.nvidia.com"].architecture == "Hopper"'))
    assert sorted(hopper) == demo_facts.device_ids(lambda d: d["attributes"].get("gpu.nvidia.com/architecture") == "Hopper")
    bad = run("list", "--demo", "--cel", "device.driver ==")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: compilation failed: ERROR: <input>:1:17: Syntax error")


def test_list_cel_runtime_errors_are_counted_not_fatal(run):
    """gpu-test6's selector on the removed `index` attribute: what the scheduler would stop on."""
    result = run("list", "--demo", "-o", "name", "--driver", "nvidia", "--cel", 'device.attributes["gpu.nvidia.com"].index < 4')
    assert result.exit_code == 0 and result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith("warning: --cel: CEL runtime error on 55 devices (first: gpu.nvidia.com/a100-mig-01/")
    assert first.endswith(": no such key: index); the scheduler would stop on these, they are not listed")


def test_list_class(run):
    gpus = _names(run("list", "--demo", "-o", "name", "--class", "gpu.nvidia.com"))
    assert sorted(gpus) == demo_facts.device_ids(demo_facts.nvidia("gpu"))
    free_mig = _names(run("list", "--demo", "-o", "name", "--class", "mig.nvidia.com", "--state", "free"))
    # h100-dmig-01 GPU 0 holds a 3g.40gb instance at memory slice 4: the partitions that overlap
    # slices 4-7 cannot be created while it lives, so they are not free either
    overlapping = {f"gpu.nvidia.com/h100-dmig-01/gpu-0-mig-{p}" for p in
                   ("1g10gb-19-4", "1g10gb-19-5", "1g10gb-19-6", "1g20gb-15-4", "1g20gb-15-6", "2g20gb-14-4", "7g80gb-0-0")}
    expected = set(demo_facts.device_ids(demo_facts.nvidia("mig"))) - demo_facts.allocated_ids() - overlapping
    assert sorted(free_mig) == sorted(expected) and len(expected) == 31
    missing = run("list", "--demo", "--class", "nope")
    assert missing.exit_code == 3
    assert missing.stderr.splitlines()[0] == 'error: deviceclass "nope" not found'
