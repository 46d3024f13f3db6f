"""Devices of one slice share equal attribute-kind and capacity maps (issue 15: memory per device),
but only maps that are equal in every respect: same names, same order, same kinds."""

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


def test_maps_in_another_order_or_of_other_kinds_are_not_shared():
    a, b, c, d = decode(_slice(
        _device("a", {"x": {"version": "1.0.0"}, "y": {"strings": ["p"]}}, {"m": {"value": "1"}, "n": {"value": "2"}}),
        _device("b", {"y": {"strings": ["p"]}, "x": {"version": "1.0.0"}}, {"n": {"value": "2"}, "m": {"value": "1"}}),
        _device("c", {"x": {"versions": ["1.0.0"]}, "y": {"strings": ["p"]}}),
        _device("d", {"x": {"versions": ["1.0.0"]}, "y": {"strings": ["p"]}}),
    )).devices
    assert list(b.attribute_kinds) == ["d.example.com/y", "d.example.com/x"] and b.attribute_kinds is not a.attribute_kinds
    assert list(b.capacity) == ["d.example.com/n", "d.example.com/m"] and list(a.capacity) == ["d.example.com/m", "d.example.com/n"]
    assert c.attribute_kinds == {"d.example.com/x": "versions", "d.example.com/y": "strings"} is not None
    assert c.attribute_kinds is d.attribute_kinds


def test_kinds_that_are_not_strings_are_never_shared():
    # YAML reads an unquoted key 1 as an integer and true as a boolean: 1 == True, but they are other kinds
    a, b = decode(_slice(_device("a", {"x": {1: "p"}}), _device("b", {"x": {True: "p"}}))).devices
    assert a.attribute_kinds == {"d.example.com/x": 1} and type(b.attribute_kinds["d.example.com/x"]) is bool
