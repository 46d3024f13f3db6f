"""Decoding slices and claims fast (issue 15), with the same results and errors as before.

Devices of one slice share equal attribute-kind maps (only looked up) and equal capacity maps in
the same order (the order they are shown in): memory per device."""

from __future__ import annotations

from kubectl_dra.model.decode import decode


def _slice(*devices):
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "s"},
            "spec": {"driver": "d.example.com", "nodeName": "n", "pool": {"name": "n", "generation": 1, "resourceSliceCount": 1},
                     "devices": list(devices)}}


def _device(name, attributes, capacity=None):
    return {"name": name, "attributes": attributes, "capacity": capacity or {}}


def test_equal_maps_are_shared():
    v = {"version": "1.0.0"}
    devices = decode(_slice(
        _device("a", {"v": v, "u": {"string": "A"}}, {"memory": {"value": "1Gi"}}),
        _device("b", {"v": v, "u": {"string": "B"}}, {"memory": {"value": "1Gi"}}),
        _device("c", {"v": {"version": "2.0.0"}, "u": {"string": "C"}}, {"memory": {"value": "2Gi"}}),
    )).devices
    a, b, c = devices
    assert a.attribute_kinds is b.attribute_kinds is c.attribute_kinds == {"d.example.com/v": "version"}
    assert a.capacity is b.capacity and c.capacity == {"d.example.com/memory": "2Gi"} and c.capacity is not b.capacity
    assert a.attributes is not b.attributes and b.attributes == {"d.example.com/v": "1.0.0", "d.example.com/u": "B"}


def test_capacities_in_another_order_and_other_kinds_are_not_shared():
    a, b, c, d = decode(_slice(
        _device("a", {"x": {"version": "1.0.0"}, "y": {"strings": ["p"]}}, {"m": {"value": "1"}, "n": {"value": "2"}}),
        _device("b", {"y": {"strings": ["p"]}, "x": {"version": "1.0.0"}}, {"n": {"value": "2"}, "m": {"value": "1"}}),
        _device("c", {"x": {"versions": ["1.0.0"]}, "y": {"strings": ["p"]}}),
        _device("d", {"x": {"versions": ["1.0.0"]}, "y": {"strings": ["p"]}}),
    )).devices
    assert b.attribute_kinds == a.attribute_kinds == {"d.example.com/x": "version", "d.example.com/y": "strings"}  # looked up only
    assert list(b.attributes) == ["d.example.com/y", "d.example.com/x"]
    assert list(b.capacity) == ["d.example.com/n", "d.example.com/m"] and list(a.capacity) == ["d.example.com/m", "d.example.com/n"]
    assert c.attribute_kinds == {"d.example.com/x": "versions", "d.example.com/y": "strings"} is not None
    assert c.attribute_kinds is d.attribute_kinds


def test_kinds_that_are_not_strings_are_never_shared():
    # YAML reads an unquoted key 1 as an integer and true as a boolean: 1 == True, but they are other kinds
    a, b = decode(_slice(_device("a", {"x": {1: "p"}}), _device("b", {"x": {True: "p"}}))).devices
    assert a.attribute_kinds == {"d.example.com/x": 1} and type(b.attribute_kinds["d.example.com/x"]) is bool


def test_a_name_that_is_not_a_string_skips_the_slice():
    # YAML reads an unquoted 1 as an integer: a warning naming the field, never an internal error
    import pytest

    from kubectl_dra.model.decode import DecodeError

    for field in ("attributes", "capacity"):
        value = {"int": 1} if field == "attributes" else {"value": "1"}
        with pytest.raises(DecodeError, match=rf"spec.devices\[0\].{field}: a name must be a string, got the integer 1"):
            decode(_slice({"name": "a", field: {1: value}}))


def test_claim_fields_are_checked_in_order():
    """The first bad field of a request or an allocation result is the one named, as before the fast paths."""
    import pytest

    from kubectl_dra.model.decode import DecodeError, _Bad, decode_claim_spec

    both = {"name": "r", "exactly": {"deviceClassName": ["x"], "capacity": {"requests": "x"}, "count": True}}
    with pytest.raises(_Bad, match=r"spec.devices.requests\[0\].exactly.count: expected an integer, got a boolean"):
        decode_claim_spec({"devices": {"requests": [both]}}, "v1")
    del both["exactly"]["count"]
    with pytest.raises(_Bad, match=r"spec.devices.requests\[0\].exactly.capacity.requests: expected a map, got str"):
        decode_claim_spec({"devices": {"requests": [both]}}, "v1")
    spec = decode_claim_spec({"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": 5, "allocationMode": "All"}}]}}, "v1")
    sub = spec.requests[0].exactly
    assert (sub.device_class, sub.allocation_mode, sub.count, sub.selectors, sub.tolerations, sub.capacity_requests) == ("5", "All", 0, [], [], {})
    assert spec.config == [] and spec.constraints == []
    claim = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "c", "namespace": "n"}, "spec": {},
             "status": {"allocation": {"devices": {"results": [{"request": "r", "driver": 1, "pool": ["p"], "device": "d"}]}}}}
    with pytest.raises(DecodeError, match=r"status.allocation.devices.results\[0\].pool: expected a string, got list"):
        decode(claim)
    claim["status"]["allocation"]["devices"]["results"][0]["pool"] = "p"
    result = decode(claim).results[0]
    assert (result.driver, result.pool, result.consumed_capacity) == ("1", "p", {})
    del both["exactly"]["capacity"]
    with pytest.raises(_Bad, match=r"spec.devices.requests\[0\].exactly.deviceClassName: expected a string, got list"):
        decode_claim_spec({"devices": {"requests": [both]}}, "v1")


def test_repeated_string_and_version_values_are_one_object():
    """A value repeated on every device (product, brand, driver version) is kept once, however many
    slices and pages it came from: the parsed JSON's copies are freed with their page."""
    import json

    def fresh(name, product):  # a new str object each time, as a JSON parser makes them
        return json.loads(json.dumps(_slice(_device(name, {"p": {"string": product}, "v": {"version": "580.95.5"},
                                                          "u": {"string": name + "-uuid"}}))))  # fmt: skip

    a = decode(fresh("a", "NVIDIA H100 80GB HBM3")).devices[0]
    b = decode(fresh("b", "NVIDIA H100 80GB HBM3")).devices[0]
    assert a.attributes["d.example.com/p"] is b.attributes["d.example.com/p"]
    assert a.attributes["d.example.com/v"] is b.attributes["d.example.com/v"]
    assert a.attributes["d.example.com/u"] == "a-uuid" and b.attributes["d.example.com/u"] == "b-uuid"


def test_equal_maps_are_shared_across_slices_of_a_driver():
    """The next slice's devices share the last device's maps too: one capacity map and one kinds map
    for a cluster of equal GPUs (memory, and CEL works out a map's part of its key once)."""
    v = {"version": "1.0.0"}
    first = decode(_slice(_device("a", {"v": v}, {"memory": {"value": "1Gi"}}))).devices[0]
    second = decode(_slice(_device("a", {"v": v}, {"memory": {"value": "1Gi"}}))).devices[0]
    assert second.capacity is first.capacity and second.attribute_kinds is first.attribute_kinds
    other = _slice(_device("a", {"v": v}, {"memory": {"value": "1Gi"}}))
    other["spec"]["driver"] = "e.example.com"
    third = decode(other).devices[0]
    assert third.capacity == {"e.example.com/memory": "1Gi"} and third.capacity is not first.capacity
    fourth = decode(_slice(_device("a", {"v": v}, {"memory": {"value": "2Gi"}}))).devices[0]
    assert fourth.capacity == {"d.example.com/memory": "2Gi"} and fourth.attribute_kinds is first.attribute_kinds
