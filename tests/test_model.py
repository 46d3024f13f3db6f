"""Pools, generations, claim state, counters: the model without the CLI."""

from __future__ import annotations

import re

import pytest

from kubectl_dra.model.cluster import Cluster
from kubectl_dra.model.decode import DecodeError, UnsupportedVersion, decode
from kubectl_dra.model.slices import build_pools


def slice_obj(name, *, pool="p", generation=1, count=1, devices=(), version="v1", node="n1", counters=None, driver="gpu.example.com"):
    spec = {"driver": driver, "nodeName": node, "pool": {"name": pool, "generation": generation, "resourceSliceCount": count}}
    if devices:
        spec["devices"] = list(devices)
    if counters:
        spec["sharedCounters"] = counters
    return {"apiVersion": f"resource.k8s.io/{version}", "kind": "ResourceSlice", "metadata": {"name": name}, "spec": spec}


def claim_obj(name, results=(), reserved=(), ns="default", deleting=False):
    obj = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "c"}}]}},
        "status": {},
    }
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if results:
        obj["status"]["allocation"] = {
            "devices": {"results": [{"request": "r", "driver": d, "pool": p, "device": n} for d, p, n in results]}
        }
    if reserved:
        obj["status"]["reservedFor"] = [{"resource": "pods", "name": pod, "uid": "u"} for pod in reserved]
    return obj


def cluster_of(*objs):
    cluster = Cluster()
    for obj in objs:
        cluster.add(decode(obj))
    return cluster


def test_bare_names_are_qualified_with_the_driver_domain():
    sl = decode(
        slice_obj("s", devices=[{"name": "d", "attributes": {"model": {"string": "x"}, "resource.kubernetes.io/pcieRoot": {"string": "pci0000:00"}}}])
    )
    dev = sl.devices[0]
    assert set(dev.attributes) == {"gpu.example.com/model", "resource.kubernetes.io/pcieRoot"}
    assert dev.attr("model") == "x" and dev.attr("gpu.example.com/model") == "x"


def test_only_the_newest_generation_counts():
    old = slice_obj("old", generation=1, devices=[{"name": "gone"}])
    new = slice_obj("new", generation=2, devices=[{"name": "here"}])
    pools = build_pools([decode(old), decode(new)])
    assert len(pools) == 1
    assert [d.name for d in pools[0].devices] == ["here"]
    assert pools[0].stale_slices == 1
    # order must not matter
    pools = build_pools([decode(new), decode(old)])
    assert [d.name for d in pools[0].devices] == ["here"]


def test_incomplete_pool_is_reported():
    cluster = cluster_of(slice_obj("a", count=2, devices=[{"name": "d0"}]))
    views = cluster.device_views()
    assert len(views) == 1 and not views[0].pool_complete
    assert cluster.warnings == ["pool gpu.example.com/p is incomplete: 1 of 2 slices of generation 1 are present"]


def test_duplicate_device_and_missing_counter_set_make_pool_invalid():
    cluster = cluster_of(
        slice_obj("a", count=2, devices=[{"name": "d0", "consumesCounters": [{"counterSet": "nope", "counters": {"c": {"value": "1"}}}]}]),
        slice_obj("b", count=2, devices=[{"name": "d0"}]),
    )
    cluster.device_views()
    assert "pool gpu.example.com/p is invalid: duplicate device name d0" in cluster.warnings
    assert "pool gpu.example.com/p is invalid: counter set nope not found" in cluster.warnings


@pytest.mark.parametrize(
    "results, reserved, deleting, state",
    [
        ((), (), False, "pending"),
        ((("gpu.example.com", "p", "d0"),), (), False, "allocated"),
        ((("gpu.example.com", "p", "d0"),), ("pod-a",), False, "reserved"),
        ((("gpu.example.com", "p", "d0"),), (), True, "deallocating"),
        ((), (), True, "deleting"),
    ],
)
def test_claim_state(results, reserved, deleting, state):
    claim = decode(claim_obj("c", results, reserved, deleting=deleting))
    assert claim.state == state


def test_device_state_follows_claims_and_admin_access_does_not_block():
    sl = slice_obj("s", devices=[{"name": f"d{i}"} for i in range(3)])
    admin = claim_obj("admin", [("gpu.example.com", "p", "d2")])
    admin["status"]["allocation"]["devices"]["results"][0]["adminAccess"] = True
    cluster = cluster_of(sl, claim_obj("a", [("gpu.example.com", "p", "d0")]), claim_obj("b", [("gpu.example.com", "p", "d1")], ["pod-b"]), admin)
    states = {v.device.name: v.state for v in cluster.device_views()}
    assert states == {"d0": "allocated", "d1": "reserved", "d2": "free"}


def test_allocation_of_unpublished_device_warns():
    cluster = cluster_of(slice_obj("s", devices=[{"name": "d0"}]), claim_obj("a", [("gpu.example.com", "p", "ghost")]))
    cluster.device_views()
    assert cluster.warnings == ["claim default/a is allocated device gpu.example.com/p/ghost, which no current ResourceSlice publishes"]


def _partitionable(allocated: str | None):
    counters = [{"name": "set", "counters": {"mem": {"value": "80Gi"}, "s0": {"value": "1"}, "s1": {"value": "1"}}}]
    full = {"name": "full", "consumesCounters": [{"counterSet": "set", "counters": {"mem": {"value": "80Gi"}, "s0": {"value": "1"}, "s1": {"value": "1"}}}]}
    half0 = {"name": "half-0", "consumesCounters": [{"counterSet": "set", "counters": {"mem": {"value": "40Gi"}, "s0": {"value": "1"}}}]}
    half1 = {"name": "half-1", "consumesCounters": [{"counterSet": "set", "counters": {"mem": {"value": "40Gi"}, "s1": {"value": "1"}}}]}
    objs = [slice_obj("c", count=2, counters=counters), slice_obj("d", count=2, devices=[full, half0, half1])]
    if allocated:
        objs.append(claim_obj("x", [("gpu.example.com", "p", allocated)], ["pod"]))
    return {v.device.name: (v.state, list(v.blocked_by)) for v in cluster_of(*objs).device_views()}


def test_counters_block_full_device_when_a_partition_is_allocated():
    assert _partitionable("half-0") == {
        "full": ("consumed-by-partition", ["half-0"]),
        "half-0": ("reserved", []),
        "half-1": ("free", []),
    }


def test_counters_block_partitions_when_the_full_device_is_allocated():
    states = _partitionable("full")
    assert states["half-0"] == ("consumed-by-partition", ["full"])
    assert states["half-1"] == ("consumed-by-partition", ["full"])
    assert _partitionable(None) == {"full": ("free", []), "half-0": ("free", []), "half-1": ("free", [])}


def test_v1beta1_requests_and_basic_devices():
    claim = decode(
        {
            "apiVersion": "resource.k8s.io/v1beta1",
            "kind": "ResourceClaim",
            "metadata": {"name": "c", "namespace": "ns"},
            "spec": {"devices": {"requests": [{"name": "gpu", "deviceClassName": "gpu.nvidia.com", "count": 2, "selectors": [{"cel": {"expression": "true"}}]}]}},
        }
    )
    sub = claim.spec.requests[0].exactly
    assert (sub.device_class, sub.count, sub.selectors, sub.allocation_mode) == ("gpu.nvidia.com", 2, ["true"], "ExactCount")
    sl = decode(slice_obj("s", version="v1beta1", devices=[{"name": "d", "basic": {"capacity": {"memory": {"value": "1Gi"}}, "taints": [{"key": "k", "effect": "NoSchedule"}]}}]))
    assert sl.devices[0].cap("memory") == "1Gi" and sl.devices[0].blocking_taints()
    alpha = decode(slice_obj("s", version="v1alpha3", devices=[{"name": "d", "basic": {"capacity": {"memory": "2Gi"}}}]))
    assert alpha.devices[0].cap("memory") == "2Gi"


def test_list_attributes_and_unknown_kinds_do_not_crash():
    sl = decode(slice_obj("s", devices=[{"name": "d", "attributes": {"roots": {"strings": ["a", "b"]}, "future": {"complex": {"x": 1}}}}]))
    dev = sl.devices[0]
    assert dev.attr("roots") == ["a", "b"]
    assert dev.attr("future") == {"x": 1}


def test_malformed_and_unsupported_objects_raise_clear_errors():
    bad = slice_obj("s")
    bad["spec"]["devices"] = {"not": "a list"}
    with pytest.raises(DecodeError, match=r"ResourceSlice s \(resource.k8s.io/v1\) is malformed: spec.devices: expected a list, got dict"):
        decode(bad)
    with pytest.raises(UnsupportedVersion, match=r"^ResourceClaim x: resource\.k8s\.io/v1alpha2 is not supported$"):
        decode({"apiVersion": "resource.k8s.io/v1alpha2", "kind": "ResourceClaim", "metadata": {"name": "x"}})
    assert decode({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}) is None


@pytest.mark.parametrize("field,value,words", [
    ("matchAttribute", {"a": 1}, "constraints[0].matchAttribute: expected a string, got dict"),
    ("distinctAttribute", ["x"], "constraints[0].distinctAttribute: expected a string, got list"),
    ("requests", [{"a": 1}], "constraints[0].requests[0]: expected a string, got dict"),
], ids=["matchAttribute", "distinctAttribute", "requests"])
def test_claim_constraint_fields_are_typed(field, value, words):
    """A constraint field of the wrong type is what the API server rejects: a clear DecodeError (the
    claim is skipped with a warning), not a crash later (`lint` hit `unhashable type: 'dict'`)."""
    claim = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "c", "namespace": "d"},
             "spec": {"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "x"}}],
                                  "constraints": [{"requests": ["r"], field: value}]}}}  # fmt: skip
    with pytest.raises(DecodeError, match=re.escape(words)):
        decode(claim).spec


def test_admin_access_must_be_a_boolean():
    """`adminAccess: "false"` is not false: the API server rejects it, and so do we (bool("false") was True)."""
    claim = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "c", "namespace": "d"},
             "spec": {"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "x", "adminAccess": "false"}}]}}}  # fmt: skip
    with pytest.raises(DecodeError, match=r"adminAccess: expected a boolean, got the string 'false'"):
        decode(claim).spec


def test_device_taint_rules_add_taints():
    rule = {
        "apiVersion": "resource.k8s.io/v1beta2",
        "kind": "DeviceTaintRule",
        "metadata": {"name": "maintenance"},
        "spec": {"deviceSelector": {"driver": "gpu.example.com", "device": "d1"}, "taint": {"key": "maint", "effect": "NoSchedule"}},
    }
    cluster = cluster_of(slice_obj("s", devices=[{"name": "d0"}, {"name": "d1"}]), rule)
    views = {v.device.name: v for v in cluster.device_views()}
    assert views["d0"].state == "free"
    assert views["d1"].state == "tainted"
    assert views["d1"].device.taints == [{"key": "maint", "effect": "NoSchedule", "rule": "maintenance"}]
    cluster._views = None  # recomputing must not add the taint twice
    assert len({v.device.name: v for v in cluster.device_views()}["d1"].device.taints) == 1


def test_attribute_kinds_are_kept():
    sl = decode(
        slice_obj(
            "s",
            devices=[
                {
                    "name": "d",
                    "attributes": {
                        "v": {"version": "1.2.3"},
                        "s": {"string": "1.2.3"},
                        "i": {"int": 3},
                        "b": {"bool": False},
                        "l": {"strings": ["a"]},
                    },
                    "capacity": {"memory": {"value": "1Gi", "requestPolicy": {"default": "1Mi"}}},
                }
            ],
        )
    )
    dev = sl.devices[0]
    kinds = {name.split("/")[1]: dev.attr_kind(name) for name in dev.attributes}
    assert kinds == {"v": "version", "s": "string", "i": "int", "b": "bool", "l": "strings"}
    assert dev.raw_attribute("gpu.example.com/v") == {"version": "1.2.3"}
    assert dev.attr("b") is False
    assert dev.cap("memory") == "1Gi"
    assert dev.request_policies == {"gpu.example.com/memory": {"default": "1Mi"}}


def test_device_extras_without_attributes_are_read():
    sl = decode(slice_obj("s", devices=[{"name": "d", "taints": [{"key": "k", "effect": "NoExecute"}]}]))
    assert sl.devices[0].blocking_taints() == [{"key": "k", "effect": "NoExecute"}]
    per_device = slice_obj("p", devices=[{"name": "d", "nodeName": "n7"}])
    del per_device["spec"]["nodeName"]
    per_device["spec"]["perDeviceNodeSelection"] = True
    assert decode(per_device).devices[0].node_name == "n7"


def test_streamed_json_is_the_stdlib_document():
    import json

    from kubectl_dra.kube.load import SourceOptions, load_cluster
    from kubectl_dra.render.devices import device_list
    from kubectl_dra.render.machine import to_json

    data = device_list(load_cluster(SourceOptions(demo=True), ()).device_views())
    assert to_json(data) == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    empty = {"kind": "DeviceList", "items": []}
    assert to_json(empty) == json.dumps(empty, indent=2) + "\n"


def test_claim_rows_round_trip():
    claim = decode(claim_obj("c", [("gpu.example.com", "p", "d0")], ["pod-a"]))
    claim.results[0].consumed_capacity = {"memory": "1Gi"}
    again = type(claim).from_row(claim.to_row())
    assert again == claim
    assert again.spec.requests[0].exactly.device_class == "c"


def test_big_lists_print_one_item_per_line():
    import json

    from kubectl_dra.render.machine import BIG_LIST, to_json

    data = {"kind": "DeviceList", "items": [{"name": f"d{i}", "attributes": {"a/b": i}} for i in range(BIG_LIST + 1)]}
    text = to_json(data)
    assert json.loads(text) == data
    lines = text.splitlines()
    assert lines[3] == '    {"name":"d0","attributes":{"a/b":0}},'
    assert len(lines) == BIG_LIST + 1 + 5


def test_shared_device_sums_consumed_capacity():
    from kubectl_dra.render.devices import device_item

    shared = {"name": "d0", "allowMultipleAllocations": True, "capacity": {"memory": {"value": "80Gi"}}}
    claims = []
    for name, amount in (("a", "10Gi"), ("b", "512Mi")):
        claim = claim_obj(name, [("gpu.example.com", "p", "d0")], [f"pod-{name}"])
        result = claim["status"]["allocation"]["devices"]["results"][0]
        result["shareID"] = f"share-{name}"
        result["consumedCapacity"] = {"memory": amount}
        claims.append(claim)
    view = cluster_of(slice_obj("s", devices=[shared]), *claims).device_views()[0]
    item = device_item(view)
    assert item["state"] == "reserved"
    assert item["consumedCapacity"] == {"gpu.example.com/memory": "10752Mi"}
    assert [a["shareID"] for a in item["allocations"]] == ["share-a", "share-b"]


def test_taint_rules_do_not_change_the_published_devices():
    from kubectl_dra.model.claim import DeviceTaintRule
    from kubectl_dra.model.cluster import Cluster
    from kubectl_dra.model.decode import decode

    cluster = Cluster()
    cluster.add(decode({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "s"},
                        "spec": {"driver": "d.example.com", "nodeName": "n", "pool": {"name": "p", "generation": 1, "resourceSliceCount": 1},
                                 "devices": [{"name": "dev-0"}]}}))
    cluster.add(decode({"apiVersion": "resource.k8s.io/v1alpha3", "kind": "DeviceTaintRule", "metadata": {"name": "r"},
                        "spec": {"deviceSelector": {"driver": "d.example.com"}, "taint": {"key": "k", "effect": "NoSchedule"}}}))
    assert isinstance(cluster.taint_rules[0], DeviceTaintRule)
    (view,) = cluster.device_views()
    assert [t.get("rule") for t in view.device.taints] == ["r"]
    assert not cluster.slices[0].devices[0].taints  # the slice still shows what the driver published
