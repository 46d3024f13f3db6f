"""Every `kubectl dra` command against the real control plane, each answer checked against the API's
own objects (tests/e2e/livetruth.py reads them with the independent REST client).

The demo cluster (loaded live, scheduled by the real scheduler) is read-only here; what the tests
need on top lives in a world of our own (namespace, node, class and slices of driver
e2e-cmds.e2e.example.com) that is removed when the module ends: an allocated claim without a pod,
a claim a real pod uses, a DeviceTaintRule, a claim held by a finalizer while being deleted, an
adminAccess claim, a pool with a stale generation and a network-attached (allNodes) pool.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.e2e import livetruth, objects
from tests.e2e.kapi import Api, ApiError
from tests.e2e.livetruth import World, quantity, state_matches

pytestmark = pytest.mark.e2e

TAG = "e2e-cmds"
GiB = 2**30
HOLD_FINALIZER = "kubectl-dra.e2e/hold"


@pytest.fixture(scope="module")
def world(api: Api, demo_cluster):
    w = World(api, TAG)
    try:
        w.build()
        api.patch("Namespace", w.ns, {"metadata": {"labels": {"resource.kubernetes.io/admin-access": "true"}}})
        # allocated to dev-1, no pod: `allocated`
        w.allocate(w.claim("held"), "dev-1")
        # half-0 of the partitionable device allocated: `whole` is consumed-by-partition
        w.allocate(w.claim("part"), "half-0", pool="parts")
        # dev-2 tainted by a DeviceTaintRule (resource.k8s.io/v1beta2 on 1.36)
        w.add({"apiVersion": "resource.k8s.io/v1beta2", "kind": "DeviceTaintRule",
               "metadata": {"name": f"{TAG}-dev-2", "labels": {objects.OWNER_LABEL: TAG}},
               "spec": {"deviceSelector": {"driver": w.driver, "pool": w.node, "device": "dev-2"},
                        "taint": {"key": "e2e.example.com/broken", "value": "yes", "effect": "NoSchedule"}}})
        # adminAccess to new-0: does not make it busy
        w.allocate(w.claim("watcher", adminAccess=True), "new-0", pool="gen", admin=True)
        # a claim being deleted, held by a finalizer: `deleting`
        going = w.claim("going")
        api.patch("ResourceClaim", "going", {"metadata": {"finalizers": [HOLD_FINALIZER]}}, w.ns)
        api.delete("ResourceClaim", going["metadata"]["name"], w.ns, grace=None)
        # a pod using a claim, bound by the real scheduler: `reserved`
        drv = w.driver
        w.claim("used", selectors=[{"cel": {"expression": f'"model" in device.attributes["{drv}"] && device.attributes["{drv}"].model == "widget"'}}])
        api.create(objects.pod("user", w.ns, [("dev", "claim", "used")], node_selector={"kubernetes.io/hostname": w.node},
                               owner=TAG))
        decision = objects.outcome(api, w.ns, "user")
        assert decision.bound, f"the scheduler did not bind {w.ns}/user: {decision}"
        yield w
    finally:
        w.teardown()


@pytest.fixture
def truth(api, world):
    return livetruth.devices(api)


def _json(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _holders(item: dict) -> tuple[list[str], list[str]]:
    allocations = item.get("allocations") or ([item["allocation"]] if item["allocation"] else [])
    return [a["claim"] for a in allocations], sorted({p for a in allocations for p in a["pods"]})


# ------------------------------------------------------------------------------------------ list


def test_list_json_is_what_the_api_says(run, live, truth):
    items = _json(run("list", "-o", "json"))["items"]
    ours = {(d["driver"], d["pool"], d["name"]): d for d in items}
    assert set(ours) == set(truth), "device set differs from the newest generation of every pool"
    for key, dev in truth.items():
        item = ours[key]
        claims, pods = _holders(item)
        assert (item["node"], item["state"], claims, pods) == (dev.node, dev.state, dev.claims, sorted(dev.pods)), key
        assert item["attributes"] == dev.attributes and item["capacity"] == dev.capacity, key
    # what the world set up, spelled out (so a wrong truth cannot hide a wrong answer)
    w = {k[2]: v.state for k, v in truth.items() if k[0] == f"{TAG}.e2e.example.com"}
    assert w["dev-1"] == "allocated" and w["dev-2"] == "tainted" and w["new-0"] == "free" and "old-0" not in w
    assert (w["whole"], w["half-0"], w["half-1"]) == ("consumed-by-partition", "allocated", "free")
    assert w["dev-0"] == "reserved"


def test_list_outputs_agree(run, live, truth):
    items = _json(run("list", "-o", "json"))["items"]
    keys = [f"{d['driver']}/{d['pool']}/{d['name']}" for d in items]

    result = run("list", "-o", "name")
    assert result.exit_code == 0 and result.stdout.splitlines() == keys

    result = run("list", "-o", "yaml")
    assert result.exit_code == 0 and yaml.safe_load(result.stdout)["items"] == items

    result = run("list")
    assert result.exit_code == 0, result.stderr
    rows = livetruth.table(result.stdout)
    assert len(rows) == len(items)
    for row, item in zip(rows, items):
        dev = truth[(item["driver"], item["pool"], item["name"])]
        claim = "-" if not dev.claims else dev.claims[0] + (f" (+{len(dev.claims) - 1})" if len(dev.claims) > 1 else "")
        assert (row["NODE"], row["DEVICE"], row["STATE"], row["CLAIM"], row["POD(S)"]) == (
            dev.node or ("<all nodes>" if item.get("allNodes") else "<node selector>"), dev.name, dev.state, claim,
            ",".join(dev.pods) or "-")
    states = [d.state for d in truth.values()]
    busy = states.count("allocated") + states.count("reserved")
    # not a terminal: the totals are on stderr, the rows alone on stdout (issue 13)
    assert "Total:" not in result.stdout
    total = re.search(r"^Total: (.*)$", result.stderr, re.M).group(1)
    assert total.startswith(f"{len(states)} devices, {states.count('free')} free, {busy} allocated "
                            f"({states.count('reserved')} in use by pods), {states.count('tainted')} tainted, "
                            f"{states.count('consumed-by-partition')} consumed-by-partition"), total

    result = run("list", "-o", "wide")
    assert result.exit_code == 0, result.stderr
    for row, item in zip(livetruth.table(result.stdout), items):
        dev = truth[(item["driver"], item["pool"], item["name"])]
        assert (row["DEVICE"], row["POOL"], row["UUID"]) == (dev.name, dev.pool, dev.attr("uuid") or "-")


def test_list_node_reads_only_that_nodes_slices(run, live, truth, world, monkeypatch):
    """--node asks the server for the node's slices (fieldSelector spec.nodeName=NODE) plus the slices
    without a node; every response is recorded: no slice of another node reaches the tool."""
    from kubectl_dra.kube.live import LiveCluster

    monkeypatch.setenv("KUBECTL_DRA_NO_FORK", "1")
    seen: list[tuple[str | None, set]] = []
    real = LiveCluster._request

    def spy(self, path, query=None, **kw):
        status, data, response = real(self, path, query, **kw)
        if path.endswith("/resourceslices"):
            nodes = {s["spec"].get("nodeName") for s in json.loads(data)["items"]}
            seen.append((dict(query or []).get("fieldSelector"), nodes))
        return status, data, response

    monkeypatch.setattr(LiveCluster, "_request", spy)
    for wanted in (["dgx-h100-01"], ["dgx-h100-01", world.node]):
        seen.clear()
        result = run("list", "--node", ",".join(wanted), "-o", "json")
        names = {(d["driver"], d["pool"], d["name"]) for d in _json(result)["items"]}
        assert names == {k for k, d in truth.items() if d.node in wanted}
        assert result.stderr == ""  # no warning about claims on the pools of nodes it did not read
        assert {sel for sel, _ in seen} == {f"spec.nodeName={n}" for n in wanted} | {"spec.nodeName="}
        assert set().union(*(nodes for _, nodes in seen)) <= {*wanted, None}
    # and the server does filter on that field: what the tool got is what there is
    on_node = livetruth.newest_slices(world.api.list("ResourceSlice", fieldSelector=f"spec.nodeName={world.node}"))
    assert {s["spec"]["nodeName"] for s in on_node} == {world.node}


def test_paged_reads_equal_whole_ones(run, live, demo_cluster, monkeypatch):
    """Pages of 2 (the real server's limit/continue) give what one page of 500 gives."""
    from kubectl_dra.kube import live as live_module

    whole = (_json(run("list", "-o", "json")), _json(run("claims", "-A", "-o", "json")))
    tokens = []
    real = live_module.LiveCluster._request

    def spy(self, path, query=None, **kw):
        tokens.extend(v for k, v in query or [] if k == "continue")
        return real(self, path, query, **kw)

    monkeypatch.setenv("KUBECTL_DRA_NO_FORK", "1")
    monkeypatch.setattr(live_module, "DEFAULT_PAGE", 2)
    monkeypatch.setattr(live_module.LiveCluster, "_request", spy)
    assert (_json(run("list", "-o", "json")), _json(run("claims", "-A", "-o", "json"))) == whole
    assert len(tokens) > 20  # it did read page by page


def test_list_state_each_value(run, live, truth):
    from kubectl_dra.domain.device_query import STATE_CHOICES

    for state in STATE_CHOICES:
        result = run("list", "--state", state, "-o", "name")
        assert result.exit_code == 0, (state, result.stderr)
        expected = {d.id for d in truth.values() if state_matches(d.state, state)}
        assert set(result.stdout.splitlines()) == expected, state
    result = run("list", "--state", "busy")
    assert result.exit_code == 2 and "--state must be one of" in result.stderr


def _is_partition(d) -> bool:
    return (d.driver == "gpu.nvidia.com" and d.attr("type") == "mig") or (
        d.driver == "gpu.amd.com" and d.attr("type") == "amdgpu-partition") or (
        d.driver not in ("gpu.nvidia.com", "gpu.amd.com") and d.attr("partition") is not None)


def _memory_at_least(d, q: int) -> bool:
    return d.cap("memory") is not None and quantity(d.cap("memory")) >= q


#: the demo's DeviceClasses and ours, their selectors spelled out in Python
CLASSES = {
    "dranet": lambda d: d.driver == "dra.net",
    "gpu.amd.com": lambda d: d.driver == "gpu.amd.com",
    "gpu.nvidia.com": lambda d: d.driver == "gpu.nvidia.com" and d.attr("type") == "gpu",
    "mig.nvidia.com": lambda d: d.driver == "gpu.nvidia.com" and d.attr("type") == "mig",
    "tpu.google.com": lambda d: d.driver == "tpu.google.com",
    "vfio.gpu.nvidia.com": lambda d: d.driver == "gpu.nvidia.com" and d.attr("type") == "vfio",
    f"{TAG}.e2e.example.com": lambda d: d.driver == f"{TAG}.e2e.example.com",
}


def test_list_filters_cel_and_class(run, live, truth):
    def names(*args):
        result = run("list", *args, "-o", "name")
        assert result.exit_code == 0, (args, result.stderr)
        return set(result.stdout.splitlines()), result.stderr

    def expect(pred):
        return {d.id for d in truth.values() if pred(d)}

    assert names("memory>=40Gi")[0] == expect(lambda d: _memory_at_least(d, 40 * GiB))
    assert names("mig=true")[0] == expect(_is_partition)
    assert names("memory>=40Gi", "mig=true")[0] == expect(lambda d: _memory_at_least(d, 40 * GiB) and _is_partition(d))
    assert names("--where", "memory>=20Gi not mig", "--state", "free")[0] == expect(
        lambda d: _memory_at_least(d, 20 * GiB) and not _is_partition(d) and d.state == "free")
    assert names("--where", "model=widget")[0] == expect(lambda d: d.attr("model") == "widget")
    hopper = expect(lambda d: d.driver == "gpu.nvidia.com" and d.attr("architecture") == "Hopper")
    assert names("--cel", 'device.driver == "gpu.nvidia.com" && device.attributes["gpu.nvidia.com"].architecture == "Hopper"')[0] == hopper
    # unguarded: the devices of every other driver raise, as they would in the scheduler
    found, stderr = names("--cel", 'device.attributes["gpu.nvidia.com"].architecture == "Hopper"')
    assert found == hopper
    others = sum(1 for d in truth.values() if d.attr("gpu.nvidia.com/architecture") is None)
    assert f"CEL runtime error on {others} devices" in stderr
    for name, pred in CLASSES.items():
        assert names("--class", name)[0] == expect(pred), name
    assert names("--class", "mig.nvidia.com", "--state", "free")[0] == expect(lambda d: CLASSES["mig.nvidia.com"](d) and d.state == "free")
    result = run("list", "--class", "no-such-class")
    assert result.exit_code == 3 and 'deviceclass "no-such-class" not found' in result.stderr


def test_every_compiled_filter_is_accepted_by_the_server(api, world, run, tmp_path):
    """docs/filter-language.md: "A filter compiles to a CEL selector that the API server accepts" - with the
    devices known and without (then type() guards protect orderings): the real server's CEL compiler
    and cost estimate decide (dry run)."""
    from kubectl_dra.filter import Schema, compile as compile_filter
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    cases = yaml.safe_load((Path(__file__).parents[1] / "data" / "filter_cases.yaml").read_text())
    schema = Schema.from_devices(v.device for v in load_cluster(SourceOptions(demo=True), ()).device_views())

    def verdict(expression: str) -> str | None:
        claim = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "probe", "namespace": world.ns},
                 "spec": {"devices": {"requests": [{"name": "dev", "exactly": {
                     "deviceClassName": world.driver, "selectors": [{"cel": {"expression": expression}}]}}]}}}
        try:
            api.create(claim, dry_run=True)
        except ApiError as e:
            return str(e.body.get("message") if isinstance(e.body, dict) else e.body)[-160:]
        return None

    rejected = []
    for case in (c for c in cases if "error" not in c):
        for label, flt in (("no devices known", compile_filter(case["filter"])), ("schema", compile_filter(case["filter"], schema))):
            problem = verdict(flt.to_cel())
            if problem:
                rejected.append((case["filter"], label, problem))
    assert rejected == []

    # the same through `claim` when the input has classes but no devices (a driver not installed yet)
    classes = [o for o in objects.demo_objects() if o["kind"] == "DeviceClass"]
    (tmp_path / "classes.yaml").write_text(yaml.safe_dump_all(classes))
    result = run("claim", "cc>=9.0", "product~h100", "--class", "gpu.nvidia.com", "-f", str(tmp_path / "classes.yaml"))
    assert result.exit_code == 0, result.stderr
    expression = yaml.safe_load(result.stdout)["spec"]["devices"]["requests"][0]["exactly"]["selectors"][0]["cel"]["expression"]
    assert "type(" in expression and verdict(expression) is None
    # and list: nothing to filter is "no devices", not "nothing publishes memory" (exit 2)
    result = run("list", "memory>=40Gi", "-f", str(tmp_path / "classes.yaml"))
    assert (result.exit_code, result.stdout) == (0, "") and result.stderr.startswith("no DRA devices found in")
    # devices that lack an alias's attribute: no "did you mean cc?" for cc
    amd = [o for o in objects.demo_objects() if o["kind"] == "ResourceSlice" and o["spec"]["driver"] == "gpu.amd.com"]
    (tmp_path / "amd.yaml").write_text(yaml.safe_dump_all(amd))
    result = run("list", "cc>=9.0", "-f", str(tmp_path / "amd.yaml"))
    assert result.exit_code == 2 and "named 'cc'" in result.stderr and "did you mean cc?" not in result.stderr


# ------------------------------------------------------------------------------------------ claims


def _claim_items(result) -> dict:
    return {(c["namespace"], c["name"]): c for c in _json(result)["items"]}


def test_claims_all_namespaces_match_the_api(run, live, api, world):
    ours = _claim_items(run("claims", "-A", "-o", "json"))
    truth = livetruth.claims(api)
    assert set(ours) == set(truth)
    for key, c in truth.items():
        item = ours[key]
        got = [(d["request"], d["driver"], d["pool"], d["device"]) for d in item["devices"]]
        assert (item["state"], got, set(item["pods"])) == (c.state, c.devices, c.pods), key
    states = {k[1]: c.state for k, c in truth.items() if k[0] == world.ns and k[1] in ("held", "watcher", "going", "used", "part")}
    assert states == {"part": "allocated", "held": "allocated", "watcher": "allocated", "going": "deleting", "used": "reserved"}
    assert truth[(world.ns, "used")].pods == {"user"}
    assert truth[("research", "gpu-nic-pair")].pods == {"nccl-probe"}

    result = run("claims", "-A")
    assert result.exit_code == 0, result.stderr
    rows = [r for r in livetruth.table(result.stdout) if r["NAME"]]  # continuation lines list more devices
    assert [(r["NAMESPACE"], r["NAME"], r["STATE"]) for r in rows] == [(k[0], k[1], truth[k].state) for k in ours]


def test_claims_namespace_flag_context_and_outputs(run, live, api, world, tmp_path):
    research = livetruth.claims(api, "research")
    ours = _claim_items(run("claims", "-n", "research", "-o", "json"))
    assert set(ours) == set(research)
    result = run("claims", "-n", "research", "-o", "name")
    assert result.stdout.splitlines() == [f"resourceclaim.resource.k8s.io/{n}" for _, n in ours]
    result = run("claims", "-n", "research", "-o", "yaml")
    assert yaml.safe_load(result.stdout)["items"] == list(ours.values())
    result = run("claims", "-n", "research")
    assert [r["NAME"] for r in livetruth.table(result.stdout) if r["NAME"]] == [n for _, n in ours]

    # no -n: the kubeconfig context's namespace
    config = yaml.safe_load(Path(live.kubeconfig).read_text())
    config["contexts"][0]["context"]["namespace"] = world.ns
    (tmp_path / "kc").write_text(yaml.safe_dump(config))
    ours = _claim_items(run("claims", "-o", "json", "--kubeconfig", str(tmp_path / "kc")))
    assert set(ours) == set(livetruth.claims(api, world.ns))
    # an empty namespace: a message on stderr, exit 0
    result = run("claims", "-n", "default")
    assert result.exit_code == 0 and result.stdout == "" and "no ResourceClaims found in namespace default" in result.stderr


# ------------------------------------------------------------------------------------------ show


def test_show_device(run, live, truth, world):
    items = {(d["driver"], d["pool"], d["name"]): d for d in _json(run("list", "-o", "json"))["items"]}
    reserved = next(d for d in truth.values() if d.state == "reserved" and d.driver == "gpu.nvidia.com")
    assert _json(run("show", reserved.id, "-o", "json")) == items[reserved.key]
    result = run("show", reserved.id)
    assert result.exit_code == 0, result.stderr
    card = result.stdout
    assert re.search(r"^State:\s+reserved$", card, re.M) and re.search(rf"^Node:\s+{reserved.node}$", card, re.M)
    assert re.search(rf"^\s+{re.escape(reserved.claims[0])}\s+\S+\s+reserved\s+{reserved.pods[0]}\b", card, re.M)
    # node/device form, and the adminAccess holder of a device that stays free
    result = run("show", f"{world.node}/dev-1")
    assert result.exit_code == 0 and f"{world.ns}/held" in result.stdout and re.search(r"^State:\s+allocated$", result.stdout, re.M)
    result = run("show", "new-0")
    assert result.exit_code == 0 and re.search(r"^State:\s+free$", result.stdout, re.M)
    assert re.search(rf"{world.ns}/watcher\s.*admin access", result.stdout)
    result = run("show", "gpu-0")
    assert result.exit_code == 2 and 'device name "gpu-0" is ambiguous' in result.stderr
    for key in (k for k, d in truth.items() if d.name == "gpu-0"):
        assert "/".join(key) in result.stderr
    result = run("show", "gpu-99")
    assert result.exit_code == 3 and 'device "gpu-99" not found' in result.stderr


# ------------------------------------------------------------------------------------------ catalog


def test_classes_count_what_their_selectors_admit(run, live, api, truth):
    items = {c["name"]: c for c in _json(run("classes", "-o", "json"))["items"]}
    assert set(items) == {c["metadata"]["name"] for c in api.list("DeviceClass")}
    for name, pred in CLASSES.items():
        admitted = [d for d in truth.values() if pred(d)]
        assert (items[name]["devices"], items[name]["free"], items[name]["errors"]) == (
            len(admitted), sum(d.state == "free" for d in admitted), 0), name
    assert items["gpu.nvidia.com"]["extendedResourceName"] == "nvidia.com/gpu"
    result = run("classes")
    assert result.exit_code == 0 and {r["NAME"] for r in livetruth.table(result.stdout)} == set(items)


def test_attributes_are_what_the_devices_publish(run, live, truth):
    items = _json(run("attributes", "-o", "json"))["items"]
    ours = {(a["driver"], a["name"]): a["devices"] for a in items}
    expected: dict[tuple[str, str], int] = {}
    for d in truth.values():
        for name in [*d.attributes, *d.capacity]:
            expected[(d.driver, name)] = expected.get((d.driver, name), 0) + 1
    assert ours == expected
    widget = next(a for a in items if a["name"] == f"{TAG}.e2e.example.com/model")
    assert widget["kind"] == "string" and widget["values"] == [{"value": "widget", "count": 1}]


# ------------------------------------------------------------------------------------------ topology


def _topology_devices(entry) -> dict:
    out = {}
    if isinstance(entry, dict):
        if "state" in entry and "driver" in entry and entry.get("published", True):
            out[(entry["driver"], entry["pool"], entry["name"])] = entry
        for value in entry.values():
            out.update(_topology_devices(value))
    elif isinstance(entry, list):
        for value in entry:
            out.update(_topology_devices(value))
    return out


def test_topology_node_and_cluster(run, live, api, truth, world):
    for node in ("dgx-h100-01", "h100-dmig-01", "a100-mig-01", world.node):
        data = _json(run("topology", node, "-o", "json"))
        found = _topology_devices(data["numa"])
        on_node = {k: d for k, d in truth.items() if d.node == node}
        assert {k: (e["state"], [a["claim"] for a in e["allocations"]]) for k, e in found.items()} == {
            k: (d.state, d.claims) for k, d in on_node.items()}, node
    result = run("topology", "no-such-node")
    assert result.exit_code == 3 and 'node "no-such-node" not found' in result.stderr

    data = _json(run("topology", "-o", "json"))
    nodes = api.list("Node")
    names = {n["metadata"]["name"] for n in nodes}
    assert data["nodes"] == len(names)  # <all nodes> (the allNodes pool) is not a node
    assert (data["devices"], data["free"]) == (len(truth), sum(d.state == "free" for d in truth.values()))
    cliques = {n["metadata"]["name"]: n["metadata"].get("labels", {}).get("nvidia.com/gpu.clique") for n in nodes}
    for domain in data["domains"]:
        assert {cliques[n] for n in domain["nodes"]} <= {domain["clique"]}
        assert set(domain["nodes"]) <= names
    assert sorted(n for d in data["domains"] for n in d["nodes"]) == sorted(names)
    result = run("topology")
    assert result.exit_code == 0 and result.stdout.startswith(
        f"cluster  ({len(names)} nodes, {len(truth)} devices, {data['free']} free)")


# ------------------------------------------------------------------------------------------ explain, lint


def test_explain_smoke(run, live, demo_cluster, tmp_path):
    result = run("explain", "pod/pretrain-70b", "-n", "research", "-o", "json")
    assert result.exit_code == 7, result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"] == "unallocatable" and {"pod", "claims", "nodes", "reasons"} <= set(data)
    assert data["claims"][0]["claim"].startswith("research/pretrain-70b-gpus-")
    result = run("explain", "pod/triton-0", "-n", "inference")
    assert result.exit_code == 0 and result.stdout.startswith("verdict: allocated")
    result = run("explain", "l40s-canary", "-n", "inference", "-o", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["verdict"] == "allocatable"
    for count, code in ((1, 0), (8, 7)):
        manifest = run("claim", "product~l40s", "--class", "gpu.nvidia.com", "--count", str(count), "-n", "inference")
        assert manifest.exit_code == 0, manifest.stderr
        (tmp_path / "c.yaml").write_text(manifest.stdout)
        result = run("explain", "--claim-file", str(tmp_path / "c.yaml"), "-o", "json")
        assert result.exit_code == code, result.stderr
        assert json.loads(result.stdout)["verdict"] == ("allocatable" if code == 0 else "unallocatable")
    result = run("explain", "pod/no-such-pod", "-n", "inference")
    assert result.exit_code == 3 and 'pod "no-such-pod" not found' in result.stderr


def test_lint_smoke(run, live, demo_cluster):
    result = run("lint", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["kind"] == "LintReport"
    assert {(f["code"], f["object"]) for f in data["items"]} >= {("class-matches-nothing", "DeviceClass vfio.gpu.nvidia.com")}
    assert all(f["severity"] != "error" for f in data["items"])


# ------------------------------------------------------------------------------------------ version


def test_version_reports_the_server_and_its_resource_versions(run, live, api):
    data = _json(run("version", "-o", "json"))
    assert data["serverVersion"]["gitVersion"] == api.get_raw("/version")["gitVersion"] == "v1.36.3"
    group = api.get_raw("/apis/resource.k8s.io")
    assert data["resourceApi"]["served"] == [v["version"] for v in group["versions"]]
    assert data["resourceApi"]["preferred"] == group["preferredVersion"]["version"] == "v1"
    assert data["resourceApi"]["read"] == "v1"
    result = run("version")
    assert result.exit_code == 0 and "Server Version: v1.36.3" in result.stdout
    assert "resource.k8s.io served: v1, v1beta2, v1beta1" in result.stdout


# ------------------------------------------------------------------------------------------ nvml


def test_nvml_compare_against_the_live_slices(run, live, demo_cluster):
    """The demo's NVML snapshots against what the live server publishes for those nodes: in sync
    (exit 0); the DGX's snapshot against the L40S node: drift (exit 8), the report on stdout."""
    snapshots = Path(__file__).parents[2] / "kubectl_dra" / "demo" / "nvml"
    for node in ("dgx-h100-01", "a100-mig-01", "h100-dmig-01", "l40s-01"):
        result = run("nvml", "--snapshot", str(snapshots / f"{node}.json"), "--compare", "-o", "json")
        assert result.exit_code == 0, (node, result.stderr)
        assert json.loads(result.stdout)["inSync"] is True and json.loads(result.stdout)["node"] == node
    result = run("nvml", "--snapshot", str(snapshots / "dgx-h100-01.json"), "--node", "l40s-01", "--compare", "-o", "json")
    assert result.exit_code == 8, result.stderr
    report = json.loads(result.stdout)
    assert report["inSync"] is False and {m if isinstance(m, str) else m.get("device") for m in report["missing"]} >= {"gpu-4", "gpu-7"}


# ------------------------------------------------------------------------------------------ completion


def test_completion_offers_what_the_command_accepts(live, api, world):
    """Shell completion reads the live cluster: explain -n NS offers that namespace's claims and pods
    only; topology offers nodes, not the `<all nodes>` label that `list --node` matches."""
    import subprocess
    import sys

    def complete(*words: str) -> list[str]:
        out = subprocess.run([str(Path(sys.executable).parent / "kubectl-dra"), "__complete", *words], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return [line for line in out.stdout.splitlines() if not line.startswith(":")]

    offered = complete("explain", "-n", "research", "")
    claims = {c["metadata"]["name"] for c in api.list("ResourceClaim", "research")}
    pods = {f"pod/{p['metadata']['name']}" for p in api.list("Pod", "research")}
    assert claims <= set(offered) <= claims | pods and set(offered) & pods
    nodes = {n["metadata"]["name"] for n in api.list("Node")}
    assert set(complete("topology", "")) == nodes
    assert set(complete("list", "--node", "")) == nodes | {"<all nodes>"}  # list --node '<all nodes>' selects those devices


# ------------------------------------------------------------------------------------------ claim --apply


def _spy_requests(monkeypatch) -> list[tuple[str, str, dict]]:
    from kubectl_dra.kube.live import LiveCluster

    calls: list[tuple[str, str, dict]] = []
    real = LiveCluster._request

    def spy(self, path, query=None, *, method="GET", body=None):
        result = real(self, path, query, method=method, body=body)
        calls.append((method, path, dict(query or []), result[0]))
        return result

    monkeypatch.setattr(LiveCluster, "_request", spy)
    return calls


def test_claim_apply_dry_run_then_create_never_overwrite(run, live, api, world, monkeypatch):
    ns = world.ns
    printed = run("claim", "model=widget", "-n", ns, "--name", "applied")
    assert printed.exit_code == 0, printed.stderr
    calls = _spy_requests(monkeypatch)
    result = run("claim", "model=widget", "-n", ns, "--name", "applied", "--apply")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "resourceclaim.resource.k8s.io/applied created\n"
    posts = [(q.get("dryRun"), status) for method, _, q, status in calls if method == "POST"]
    assert posts == [("All", 201), (None, 201)]  # the server validated it before anything was stored
    stored = api.get("ResourceClaim", "applied", ns)
    assert stored["spec"] == yaml.safe_load(printed.stdout)["spec"]
    assert stored["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"] == world.driver

    # the same name again, with another filter: exit 6, nothing changed
    result = run("claim", "--class", world.driver, "--count", "2", "-n", ns, "--name", "applied", "--apply")
    assert result.exit_code == 6
    assert result.stderr.startswith(f'error: resourceclaim.resource.k8s.io "applied" in namespace "{ns}" already exists: nothing was changed')
    again = api.get("ResourceClaim", "applied", ns)
    assert again["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"] and again["spec"] == stored["spec"]

    # -o yaml: the object as the server stored it; --template creates a template
    result = run("claim", "model=widget", "--template", "-n", ns, "--name", "applied-t", "--apply", "-o", "yaml")
    assert result.exit_code == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    stored = api.get("ResourceClaimTemplate", "applied-t", ns)
    assert shown["kind"] == "ResourceClaimTemplate"
    assert {k: shown["metadata"][k] for k in ("uid", "resourceVersion", "namespace")} == {
        k: stored["metadata"][k] for k in ("uid", "resourceVersion", "namespace")}
    assert shown["spec"] == stored["spec"]
    assert "managedFields" in stored["metadata"] and "managedFields" not in shown["metadata"]  # as kubectl prints

    # a namespace that does not exist
    result = run("claim", "model=widget", "-n", f"{TAG}-missing", "--name", "x", "--apply")
    assert result.exit_code == 3
    assert 'namespaces "e2e-cmds-missing" not found' in result.stderr and "create the namespace first" in result.stderr


@pytest.fixture
def policy(api, world):
    """A ValidatingAdmissionPolicy for our namespace: claims named reject-* are refused as Invalid (422),
    refuse-* as Forbidden (403) - what the tool cannot know before it asks the server."""
    name = f"{TAG}-claims"
    base = "/apis/admissionregistration.k8s.io/v1"
    labels = {objects.OWNER_LABEL: TAG}
    match = {"resourceRules": [{"apiGroups": ["resource.k8s.io"], "apiVersions": ["*"], "operations": ["CREATE"],
                                "resources": ["resourceclaims"]}]}
    api.request("POST", f"{base}/validatingadmissionpolicies", {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": labels},
        "spec": {"failurePolicy": "Fail", "matchConstraints": match, "validations": [
            {"expression": "!object.metadata.name.startsWith('reject-')", "reason": "Invalid",
             "message": "e2e policy: claims named reject-* are not allowed"},
            {"expression": "!object.metadata.name.startsWith('refuse-')", "reason": "Forbidden",
             "message": "e2e policy: claims named refuse-* are refused"}]}})
    api.request("POST", f"{base}/validatingadmissionpolicybindings", {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": labels},
        "spec": {"policyName": name, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": world.ns}}}}})

    def refused():
        probe = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                 "metadata": {"name": "reject-probe", "namespace": world.ns},
                 "spec": {"devices": {"requests": [{"name": "dev", "exactly": {"deviceClassName": world.driver}}]}}}
        try:
            api.create(probe, dry_run=True)
        except ApiError as e:
            return e.status == 422
        return False

    try:
        api.wait("the admission policy to be in force", refused, timeout=30)
        yield
    finally:
        for kind in ("validatingadmissionpolicybindings", "validatingadmissionpolicies"):
            try:
                api.request("DELETE", f"{base}/{kind}/{name}")
            except ApiError as e:
                if e.status != 404:
                    raise


def test_claim_apply_passes_the_servers_refusals_through(run, live, api, world, policy):
    result = run("claim", "model=widget", "-n", world.ns, "--name", "reject-me", "--apply")
    assert result.exit_code == 1, result.stderr
    assert result.stderr.startswith(f'error: the API server rejected resourceclaim.resource.k8s.io "reject-me" in namespace "{world.ns}": ')
    assert "e2e policy: claims named reject-* are not allowed" in result.stderr
    assert "hint: nothing was created" in result.stderr
    # admission (not RBAC) saying 403: the server's words, and no advice to fix RBAC
    result = run("claim", "model=widget", "-n", world.ns, "--name", "refuse-me", "--apply")
    assert result.exit_code == 4, result.stderr
    assert "forbidden: cannot create" in result.stderr and "e2e policy: claims named refuse-* are refused" in result.stderr
    assert "rbac" not in result.stderr.lower() and "admission" in result.stderr
    assert not api.exists("ResourceClaim", "reject-me", world.ns) and not api.exists("ResourceClaim", "refuse-me", world.ns)


@pytest.fixture
def nobody_can_read(api, control_plane):
    """User `nobody` may read what `claim` reads, and create nothing; taken back afterwards (and waited
    for, so that tests after this one see `nobody` without any rights again)."""
    name = f"{TAG}-nobody-reads"
    reader = Api(control_plane, "nobody")
    api.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": name, "labels": {objects.OWNER_LABEL: TAG}},
                "rules": [{"apiGroups": ["resource.k8s.io"], "resources": ["resourceslices", "deviceclasses", "devicetaintrules"],
                           "verbs": ["get", "list"]}]})
    api.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": name, "labels": {objects.OWNER_LABEL: TAG}},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": [{"kind": "User", "name": "nobody", "apiGroup": "rbac.authorization.k8s.io"}]})

    def can_list() -> bool:
        try:
            reader.list("DeviceClass")
            return True
        except ApiError as e:
            if e.status != 403:
                raise
            return False

    try:
        api.wait("RBAC to let nobody read", can_list, timeout=30)
        yield control_plane.kubeconfig_for("nobody")
    finally:
        api.delete("ClusterRoleBinding", name)
        api.delete("ClusterRole", name)
        api.wait("RBAC to take nobody's reads back", lambda: not can_list(), timeout=30)


def test_claim_apply_without_create_rights(run, api, world, nobody_can_read):
    result = run("claim", "model=widget", "-n", world.ns, "--name", "by-nobody", "--apply", "--kubeconfig", str(nobody_can_read))
    assert result.exit_code == 4
    assert result.stderr.startswith(f'error: forbidden: cannot create resourceclaim.resource.k8s.io "by-nobody" in namespace "{world.ns}": ')
    assert 'User "nobody" cannot create resource "resourceclaims"' in result.stderr
    assert ("hint: creating claims needs the `create` verb on resourceclaims/resourceclaimtemplates in that namespace "
            "(the ClusterRole kubectl-dra-claim-writer in docs/rbac.yaml); see docs/rbac.md") in result.stderr
    assert not api.exists("ResourceClaim", "by-nobody", world.ns)
