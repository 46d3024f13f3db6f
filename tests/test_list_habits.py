"""list: kubectl habits and honest notes (issue 13): -n/-A, -l, --show-labels, -o jsonpath/custom-columns,
--sort-by, near misses on stderr."""

from __future__ import annotations

import json


def _names(stdout: str) -> list[str]:
    return [line.split()[2] for line in stdout.splitlines()[1:] if line.strip()]


def test_namespace_lists_the_devices_its_claims_hold(run):
    r = run("list", "--demo", "-n", "inference", "-o", "json")
    assert r.exit_code == 0, r.stderr
    claims = {item["allocation"]["claim"] for item in json.loads(r.stdout)["items"]}
    assert claims == {"inference/vllm-mistral-0-mig-2lqfg", "inference/triton-0-gpu-7z6b6", "inference/l40s-canary"}
    assert "that no claim holds not shown" in r.stderr
    every = run("list", "--demo", "-A", "-o", "name").stdout.splitlines()
    assert every == run("list", "--demo", "-o", "name").stdout.splitlines() and len(every) == 71


def test_node_label_selector_and_show_labels(run):
    r = run("list", "--demo", "-l", "kubernetes.io/hostname in (l40s-01, tpu-v4-01)", "--show-labels", "-o", "name")
    assert r.exit_code == 0, r.stderr
    assert {line.split("/")[1] for line in r.stdout.splitlines()} == {"l40s-01", "tpu-v4-01"}
    table = run("list", "--demo", "-l", "kubernetes.io/hostname=l40s-01", "--show-labels").stdout.splitlines()
    assert table[0].split()[-1] == "LABELS" and "kubernetes.io/hostname=l40s-01" in table[1]
    bad = run("list", "--demo", "-l", "bad key=x")
    assert bad.exit_code == 2 and "unable to parse requirement" in bad.stderr


def test_jsonpath_and_custom_columns_over_the_json(run):
    doc = json.loads(run("list", "--demo", "--node", "l40s-01", "-o", "json").stdout)
    names = run("list", "--demo", "--node", "l40s-01", "-o", "jsonpath={.items[*].name}")
    assert names.exit_code == 0 and names.stdout == " ".join(i["name"] for i in doc["items"])
    cols = run("list", "--demo", "--node", "l40s-01", "-o=custom-columns=NAME:.name,MEM:{.capacity.gpu\\.nvidia\\.com/memory}")
    assert cols.stdout.splitlines() == ["NAME    MEM", *(f"gpu-{i}   46068Mi" for i in range(4))]
    bad = run("list", "--demo", "-o", "jsonpath={.items[")
    assert bad.exit_code == 2 and "error parsing jsonpath" in bad.stderr


def test_sort_by(run):
    r = run("list", "--demo", "--driver", "gpu.amd.com", "--sort-by", ".name", "-o", "name")
    names = [line.rsplit("/", 1)[1] for line in r.stdout.splitlines()]
    assert names == sorted(names) and len(names) == 8
    by_memory = run("list", "--demo", "mig=false", "--driver", "gpu.nvidia.com", "--sort-by",
                    "{.capacity.gpu\\.nvidia\\.com/memory}", "-o", "jsonpath={.items[*].capacity.gpu\\.nvidia\\.com/memory}")
    mems = by_memory.stdout.split()
    # quantities by value (81559Mi = 79.6Gi before 80Gi), as the table column shows them
    assert mems[0] == "46068Mi" and mems[-1] == "80Gi" and "81559Mi" in mems[-8:-1]
    missing = run("list", "--demo", "--sort-by", ".nope")
    assert missing.exit_code == 2 and 'couldn\'t find any field with path "{.nope}"' in missing.stderr


def test_near_misses_on_stderr(run):
    r = run("list", "--demo", "memory>=40Gi", "mig")
    assert r.exit_code == 0
    assert _names(r.stdout) == ["gpu-0-mig-7g80gb-0-0", "gpu-1-mig-7g80gb-0-0"]
    assert ("note: 7 devices (3g.40gb, 39.5Gi; 4g.40gb, 39.5Gi; 3g.40gb, 39.3Gi; 6 free) are just below "
            "memory>=40Gi; did you mean memory>=39Gi?") in r.stderr.splitlines()
    ten = run("list", "--demo", "memory>=10Gi", "mig")
    assert any(line.startswith("note: ") and "1g.10gb" in line and "memory>=9Gi" in line for line in ten.stderr.splitlines())
    none = run("list", "--demo", "memory>=300Gi")
    assert "nearest miss: " in none.stderr and "did you mean memory>=191Gi?" in none.stderr
    quiet = run("list", "--demo", "memory>=60Gi")
    assert "note:" not in quiet.stderr  # nothing within 5 % below 60Gi


def test_no_near_miss_search_when_the_filter_leaves_nothing_out(run, monkeypatch):
    """Every device the other filters keep passes the terms: there is no miss to look for (a
    homogeneous cluster of 40,000 GPUs need not be searched a second time)."""
    from kubectl_dra.filter import nearmiss

    def fail(*args, **kwargs):
        raise AssertionError("near misses searched")

    monkeypatch.setattr(nearmiss, "near_misses", fail)
    everything = run("list", "--demo", "-o", "name", "driver!=x")
    assert everything.exit_code == 0, everything.stderr
    assert everything.stdout == run("list", "--demo", "-o", "name").stdout
    nodes = run("list", "--demo", "-o", "name", "--node", "l40s-01", "driver~.")
    assert nodes.exit_code == 0 and nodes.stdout and "note:" not in nodes.stderr


def test_watch_refuses_what_it_cannot_print(run, tmp_path):
    # a live cluster is needed for -w; the refusal comes first, without reading one
    r = run("list", "-w", "--sort-by", ".name", "--kubeconfig", str(tmp_path / "none"))
    assert r.exit_code == 2 and "-w prints devices as" in r.stderr


def test_show_and_attributes_take_templates(run):
    uuid = run("show", "--demo", "dgx-h100-01/gpu-0", "-o", "jsonpath={.attributes.gpu\\.nvidia\\.com/uuid}")
    assert uuid.exit_code == 0 and uuid.stdout == "GPU-96b74234-6095-51ec-aaaf-9ca5fdbb5b9d"
    names = run("attributes", "--demo", "--driver", "dra.net", "-o", "custom-columns=NAME:.name", "--no-headers")
    assert names.exit_code == 0 and names.stdout.splitlines()[0] == "dra.net/encapsulation"
