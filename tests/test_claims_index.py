"""`claims` reads only the devices its claims were allocated (issue 15): ``Cluster.claim_device_index``
gives the same devices and the same warnings, in the same order, as the full join (``device_index``),
on a cluster with every kind of trouble a slice or an allocation can have."""

from __future__ import annotations

import copy

import pytest

from kubectl_dra.kube.load import SourceOptions, add_all, load_cluster
from kubectl_dra.model.cluster import Cluster


def _slice(name, pool, devices, gen=1, count=1, node="n1", driver="gpu.example.com", **spec):
    obj = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": name, "uid": "u-" + name},
           "spec": {"driver": driver, "pool": {"name": pool, "generation": gen, "resourceSliceCount": count},
                    "devices": devices, **spec}}
    if node:
        obj["spec"]["nodeName"] = node
    return obj


def _device(name, uuid=None, pci=None, **extra):
    attributes = {"productName": {"string": "X"}, "cc": {"version": "9.0.0"}}
    if uuid:
        attributes["uuid"] = {"string": uuid}
    if pci:
        attributes["resource.kubernetes.io/pciBusID"] = {"string": pci}
    return {"name": name, "attributes": attributes, "capacity": {"memory": {"value": "80Gi"}}, **extra}


def _claim(name, results, ns="default", reserved=True, spec=None):
    obj = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
           "metadata": {"name": name, "namespace": ns, "uid": "c-" + name},
           "spec": spec or {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.example.com"}}]}},
           "status": {}}
    if results:
        obj["status"]["allocation"] = {"devices": {"results": [
            {"request": "gpu", "driver": d, "pool": p, "device": n} for d, p, n in results]}}
        if reserved:
            obj["status"]["reservedFor"] = [{"resource": "pods", "name": "pod-" + name, "uid": "p"}]
    return obj


G = "gpu.example.com"
TROUBLE = [
    _slice("good", "n1", [_device("gpu-0", "GPU-0"), _device("gpu-1", None, "0000:1b:00.0"), _device("gpu-2", "GPU-2")]),
    # malformed: one with an allocated device, one whose devices no claim got
    _slice("bad-alloc", "n2", [_device("gpu-0", "GPU-b0"), {"name": "gpu-1", "attributes": {"x": {"int": "no"}}}], node="n2"),
    _slice("bad-free", "n3", [_device("gpu-0", "GPU-f0"), {"name": "Bad_Name"}], node="n3"),
    _slice("inc-a", "n4", [_device("gpu-0", "GPU-i0")], count=2, node="n4"),  # incomplete pool
    _slice("dup-a", "n5", [_device("gpu-0", "GPU-d0a")], count=2, node="n5"),  # a name twice: the last counts
    _slice("dup-b", "n5", [_device("gpu-0", "GPU-d0b")], count=2, node="n5"),
    _slice("gen-old", "n6", [_device("gpu-0", "GPU-g-old"), _device("gpu-9", "GPU-g9")], gen=1, node="n6"),
    _slice("gen-new", "n6", [_device("gpu-0", "GPU-g-new")], gen=2, node="n6"),
    # the newer generation is malformed: the older one counts
    _slice("gen-bad", "n7", [_device("gpu-0", "GPU-h-old")], gen=1, node="n7"),
    _slice("gen-bad2", "n7", [{"name": "gpu-0", "capacity": {"memory": {"value": "lots"}}}], gen=2, node="n7"),
    _slice("perdev", "net", [{**_device("nic-0", None, "0000:aa:00.0"), "nodeName": "n8"}, {**_device("nic-1"), "allNodes": True}],
           node=None, driver="net.example.com", perDeviceNodeSelection=True),
    _slice("sel", "shared", [_device("gpu-0", "GPU-s0")], node=None,
           nodeSelector={"nodeSelectorTerms": [{"matchExpressions": [{"key": "x", "operator": "Exists"}]}]}),
    _slice("all", "allpool", [_device("gpu-0", "GPU-a0", consumesCounters=[{"counterSet": "nope", "counters": {"m": {"value": "1"}}}])],
           node=None, allNodes=True),
    {"apiVersion": "resource.k8s.io/v1alpha3", "kind": "DeviceTaintRule", "metadata": {"name": "rule1"},
     "spec": {"deviceSelector": {"driver": G, "deviceClassName": "x"}, "taint": {"key": "k", "effect": "NoSchedule"}}},
    {"apiVersion": "resource.k8s.io/v1alpha3", "kind": "DeviceTaintRule", "metadata": {"name": "rule2"},
     "spec": {"deviceSelector": {"driver": G, "pool": "n1"}, "taint": {"key": "k", "effect": "NoExecute"}}},
    _claim("c-good", [(G, "n1", "gpu-0"), (G, "n1", "gpu-1"), (G, "n1", "gpu-2")]),
    _claim("c-badalloc", [(G, "n2", "gpu-0")]),
    _claim("c-inc", [(G, "n4", "gpu-0")], reserved=False),
    _claim("c-dup", [(G, "n5", "gpu-0")]),
    _claim("c-genold", [(G, "n6", "gpu-9")]),
    _claim("c-gennew", [(G, "n6", "gpu-0")]),
    _claim("c-genbad", [(G, "n7", "gpu-0")]),
    _claim("c-perdev", [("net.example.com", "net", "nic-0"), ("net.example.com", "net", "nic-1")], ns="other"),
    _claim("c-sel", [(G, "shared", "gpu-0")]),
    _claim("c-all", [(G, "allpool", "gpu-0")]),
    _claim("c-twice", [(G, "n1", "gpu-0")]),
    _claim("c-ghost", [(G, "nowhere", "gpu-0")]),
    _claim("c-pending", []),
    _claim("c-badspec", [(G, "n1", "gpu-2")], spec={"devices": {"requests": "nope"}}),
]


def _cluster(objects, **fields) -> Cluster:
    cluster = Cluster(**fields)
    add_all(cluster, (("test", o) for o in copy.deepcopy(objects)))
    return cluster


def _both(objects, **fields):
    """(index, warnings) of claim_device_index and of the full join, each on a fresh cluster."""
    lite = _cluster(objects, **fields)
    index = lite.claim_device_index()
    full = _cluster(objects, **fields)
    views = full.device_index()
    held = {r.key for c in full.claims if c.allocated for r in c.results}
    return (index, lite.warnings), ({k: v for k, v in views.items() if k in held}, full.warnings)


def _devices(index):
    # the join's views carry DeviceTaintRule taints; claims shows none of them
    return {k: (v.device.node_label, v.device.node_name, v.device.attr("uuid"),
                v.device.attr("resource.kubernetes.io/pciBusID"), v.device.slice_name, v.pool_complete)
            for k, v in index.items()}


def test_trouble_gives_the_join_s_devices_and_warnings():
    (index, warnings), (views, expected) = _both(TROUBLE)
    assert _devices(index) == _devices(views)
    assert warnings == expected
    # what the cluster has in it, so the comparison covers it
    assert index[(G, "n5", "gpu-0")].device.attr("uuid") == "GPU-d0b"
    assert index[(G, "n7", "gpu-0")].device.attr("uuid") == "GPU-h-old"
    assert (G, "n6", "gpu-9") not in index and (G, "n2", "gpu-0") not in index
    assert any("skipping ResourceSlice bad-free" in w for w in warnings)
    assert any("which no current ResourceSlice publishes" in w for w in warnings)
    assert any("DeviceTaintRule rule1" in w for w in warnings)
    assert any("pool gpu.example.com/n4 is incomplete" in w for w in warnings)
    assert any("duplicate device name gpu-0" in w for w in warnings)


def test_filtered_slices_skip_the_pools_not_read():
    (index, warnings), (views, expected) = _both(TROUBLE, slices_filtered=True)
    assert _devices(index) == _devices(views) and warnings == expected
    assert not any("nowhere" in w for w in warnings)


def test_demo_gives_the_join_s_devices_and_warnings():
    from kubectl_dra.kube.demo import demo_objects

    (index, warnings), (views, expected) = _both(list(demo_objects()))
    assert index and _devices(index) == _devices(views) and warnings == expected


def test_views_already_built_are_reused():
    cluster = load_cluster(SourceOptions(demo=True), ())
    views = cluster.device_index()
    before = list(cluster.warnings)
    index = cluster.claim_device_index()
    assert cluster.warnings == before
    assert all(index[k] is views[k] for k in index) and index


@pytest.mark.parametrize("output", ["table", "wide", "json", "yaml", "name"])
def test_claims_command_on_trouble(run, tmp_path, output):
    import json

    path = tmp_path / "trouble.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": TROUBLE}))
    result = run("claims", "-A", "-o", output, "-f", str(path))
    assert result.exit_code == 0, result.stderr
    assert "claim default/c-ghost is allocated device gpu.example.com/nowhere/gpu-0" in result.stderr
    assert "skipping ResourceSlice bad-free" in result.stderr  # a malformed slice no claim uses: still warned
    if output == "json":
        items = {i["name"]: i for i in json.loads(result.stdout)["items"]}
        assert [d["uuid"] for d in items["c-dup"]["devices"]] == ["GPU-d0b"]
        assert items["c-badalloc"]["devices"][0]["published"] is False
        assert [d["node"] for d in items["c-perdev"]["devices"]] == ["n8", None]


def test_claim_rows_come_back_from_the_helper_process_unchanged():
    from kubectl_dra.kube.load import pack_rows, unpack_rows
    from kubectl_dra.model.claim import Claim

    claims = _cluster(TROUBLE).claims
    claims[0].annotations["big"] = 10**30  # what marshal keeps and JSON would not
    packed = pack_rows([c.to_row() for c in claims])
    assert isinstance(packed, bytes)
    back = [Claim.from_row(row) for row in unpack_rows(packed)]
    assert back == claims and [type(c.owners) for c in back] == [list] * len(claims)

    class Odd(str):
        pass

    claims[1].annotations["odd"] = Odd("x")  # marshal refuses it: the rows go as they are (pickled)
    rows = [c.to_row() for c in claims]
    assert pack_rows(rows) is rows and unpack_rows(rows) is rows


def test_claim_table_ages_are_those_of_each_claim():
    from datetime import datetime, timezone

    from kubectl_dra.render import claims as render

    objects = copy.deepcopy(TROUBLE)
    stamps = ["2026-11-20T00:00:00Z", "2026-11-20T00:00:00Z", "2026-11-30T21:00:00Z", None, {"hostile": 1}]
    claims = [o for o in objects if o["kind"] == "ResourceClaim"]
    for claim, stamp in zip(claims, stamps * len(claims)):
        claim["metadata"]["creationTimestamp"] = stamp
    cluster = _cluster(objects, now=datetime(2026, 12, 1, tzinfo=timezone.utc))
    listed = [c for c in cluster.claims if c.name != "c-badspec"]
    index = cluster.claim_device_index()
    for wide, rows_of in ((False, render.claim_rows), (True, render.claim_rows_wide)):
        table = render.claims_table(listed, cluster, all_namespaces=True, index=index, wide=wide, no_headers=True)
        ages = [rows_of(c, cluster, index, cluster.now, True)[0][-1] for c in listed]
        assert [line.split()[-1] for line in table.splitlines() if not line.startswith(" ")] == ages
        assert len(set(ages)) == 3 and {"11d", "<unknown>"} < set(ages)
