"""The typed short cut for ResourceSlice list pages (kube/slicepage.py, issue 15).

It is only a short cut: for every page it takes, the exact path (parse into dicts, fill in kind and
apiVersion, decode each item) must give the same slices and devices (attribute values, kinds, capacity
maps shared between devices in the same way), the same continue token, and no warning or error; any
page that the exact path would warn about or refuse must be left to it. The properties below throw
valid and invalid slices, duplicate keys and odd pages at both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubectl_dra.errors import ClusterError
from kubectl_dra.kube import slicepage
from kubectl_dra.kube.live import page_items
from kubectl_dra.kube.load import add_all
from kubectl_dra.model.cluster import Cluster

pytestmark = pytest.mark.skipif(slicepage.msgspec is None, reason="msgspec is not installed")

V1 = "resource.k8s.io/v1"
DEMO = Path(__file__).parent.parent / "kubectl_dra" / "demo" / "cluster.yaml"


def page(items, *, kind="ResourceSliceList", api_version=V1, meta=None) -> bytes:
    return json.dumps({"kind": kind, "apiVersion": api_version, "metadata": {} if meta is None else meta, "items": items}).encode()


def exact(data: bytes):
    """What the exact path makes of a page: (slices, warnings, token), or the ClusterError it raises."""
    try:
        items, token = page_items(data, "resourceslices")
    except ClusterError as err:
        return err
    cluster = Cluster()
    add_all(cluster, (("cluster", item) for item in items))
    return cluster.slices, cluster.warnings, token


def sharing(slices) -> list[tuple[int, int]]:
    """For each device, the first device whose capacity map and attribute-kind map are the same objects."""
    devices = [d for s in slices for d in s.devices]
    first_caps: dict[int, int] = {}
    first_kinds: dict[int, int] = {}
    return [(first_caps.setdefault(id(d.capacity), i), first_kinds.setdefault(id(d.attribute_kinds), i)) for i, d in enumerate(devices)]


def check(data: bytes) -> bool:
    """The short cut agrees with the exact path; True when it took the page."""
    typed = slicepage.decode_page(data)
    if typed is None:
        return False
    reference = exact(data)
    assert not isinstance(reference, ClusterError), f"the short cut took a page the exact path refuses: {reference.message}"
    slices, warnings, token = reference
    assert warnings == [], "the short cut took a page the exact path warns about"
    assert typed[0] == slices
    assert typed[1] == token
    assert sharing(typed[0]) == sharing(slices)
    return True


def device(name="gpu-0", **attributes):
    return {
        "name": name,
        "attributes": {"model": {"string": "H100"}, "index": {"int": 0}, "mig": {"bool": False},
                       "driverVersion": {"version": "580.95.5"}, "resource.kubernetes.io/pcieRoot": {"string": "pci0000:15"},
                       **attributes},
        "capacity": {"memory": {"value": "80Gi"}},
    }


def slice_(name="node-1-gpu", devices=None, **spec):
    return {
        "metadata": {"name": name, "uid": "u-" + name, "resourceVersion": "7", "creationTimestamp": "2026-11-01T08:00:00Z",
                     "managedFields": [{"manager": "driver", "fieldsV1": {"f:spec": {}}}], "labels": {"a": "b"}},
        "spec": {"driver": "gpu.example.com", "nodeName": "node-1", "pool": {"name": "node-1", "generation": 1, "resourceSliceCount": 1},
                 "devices": [device("gpu-0"), device("gpu-1")] if devices is None else devices, **spec},
    }


# ------------------------------------------------------------------------------------------ taken


def test_a_plain_page_takes_the_short_cut_and_agrees():
    data = page([slice_("a"), slice_("b", allNodes=True, nodeName=None), slice_("c", devices=[])], meta={"continue": "t1", "resourceVersion": "9"})
    assert check(data)
    slices, token = slicepage.decode_page(data)
    assert token == "t1" and [s.name for s in slices] == ["a", "b", "c"]
    assert slices[0].devices[0].attributes["gpu.example.com/driverVersion"] == "580.95.5"
    assert slices[0].devices[0].attribute_kinds == {"gpu.example.com/driverVersion": "version"}
    assert slices[1].all_nodes and slices[1].node_name is None


def test_v1beta2_is_taken_and_the_v1beta1_layout_is_not():
    assert check(page([slice_()], api_version="resource.k8s.io/v1beta2"))
    basic = slice_(devices=[{"name": "gpu-0", "basic": {"attributes": {"model": {"string": "A"}}}}])
    assert slicepage.decode_page(page([basic], api_version="resource.k8s.io/v1beta1")) is None
    assert slicepage.decode_page(page([basic])) is None  # mislabelled as v1: the exact path reads it


def test_the_demo_clusters_plain_slices_are_taken():
    import yaml

    docs = [d for d in yaml.safe_load_all(DEMO.read_text()) if d and d.get("kind") == "ResourceSlice"]
    for d in docs:
        d.pop("kind")
        d.pop("apiVersion")
    taken = [check(page([d])) for d in docs]
    assert any(taken) and not all(taken)  # counters and taints (dynamic MIG, a tainted GPU) take the exact path
    assert not check(page(docs))  # one of those on a page: the whole page does
    assert check(page([d for d, t in zip(docs, taken) if t]))


@pytest.mark.parametrize(
    "odd",
    [
        {"nodeSelector": {"nodeSelectorTerms": []}},
        {"perDeviceNodeSelection": True},
        {"perDeviceNodeSelection": False},
        {"sharedCounters": []},
        {"allNodes": 1},
        {"driver": ""},
        {"driver": None},
        {"pool": {"name": "p", "generation": 1}},
        {"pool": {}},
        {"pool": None},
        {"pool": {"name": "p", "generation": 1 << 70, "resourceSliceCount": 1}},
        {"pool": {"name": "p", "generation": 1.0, "resourceSliceCount": 1}},
        {"nodeName": 5},
        {"devices": [{"name": "gpu-0", "taints": []}]},
        {"devices": [{"name": "gpu-0", "consumesCounters": []}]},
        {"devices": [{"name": "gpu-0", "bindsToNode": False}]},
        {"devices": [{"name": "gpu-0", "future": 1}]},
        {"devices": [{"name": "Not_A_Label"}]},
        {"devices": [{}]},
        {"devices": [{"name": "gpu-0", "capacity": {"memory": {"value": "80Gi", "requestPolicy": {}}}}]},
        {"devices": [{"name": "gpu-0", "capacity": {"memory": {"value": "lots"}}}]},
        {"devices": [{"name": "gpu-0", "capacity": {"memory": {"value": 80}}}]},
        {"devices": [{"name": "gpu-0", "capacity": {"memory": "80Gi"}}]},
        {"devices": [{"name": "gpu-0", "attributes": {"a": {"strings": ["x"]}}}]},
        {"devices": [{"name": "gpu-0", "attributes": {"a": {}}}]},
        {"devices": [{"name": "gpu-0", "attributes": {"a": {"string": None}}}]},
        {"devices": [{"name": "gpu-0", "attributes": {"a": {"string": "x", "int": 1}}}]},
        {"devices": [{"name": "gpu-0", "attributes": {"a": {"int": True}}}]},
        {"devices": [{"name": "gpu-0", "attributes": {"a": {"int": 1.0}}}]},
        {"devices": [{"name": "gpu-0", "attributes": {"a": {"int": 1 << 64}}}]},
        {"devices": [{"name": "gpu-0", "attributes": {"a": {"int": 1 << 63}}}]},
        {"devices": [{"name": "gpu-0", "attributes": {"a": {"string": 0x1F}}}]},
        {"devices": [{"name": "gpu-0", "attributes": {"a": {"version": 1}}}]},
        {"devices": [{"name": "gpu-0", "attributes": {"a": "x"}}]},
        {"devices": None},
    ],
    ids=repr,
)
def test_what_only_the_exact_path_reads_is_left_to_it(odd):
    item = slice_()
    item["spec"].update(odd)
    data = page([item])
    if odd == {"devices": None}:
        assert check(data)  # null devices: none, on both paths
        return
    assert slicepage.decode_page(data) is None
    assert slicepage.decode_page(page([slice_(), item])) is None


@pytest.mark.parametrize(
    "item",
    [
        {**slice_(), "kind": "ResourceClaim"},
        {**slice_(), "apiVersion": "resource.k8s.io/v1beta2"},
        {**slice_(), "metadata": {"name": 5}},
        {**slice_(), "metadata": {"name": "s", "namespace": 5}},
        {**slice_(), "metadata": {"name": "s", "creationTimestamp": 5}},
        {**slice_(), "metadata": {"name": "s", "uid": 5}},
        {**slice_(), "metadata": []},
        {"metadata": {"name": "s"}},
        "not an object",
    ],
    ids=repr,
)
def test_odd_items_are_left_to_the_exact_path(item):
    assert slicepage.decode_page(page([item])) is None


def test_items_naming_their_own_kind_and_version_as_the_lists_are_taken():
    assert check(page([{**slice_(), "kind": "ResourceSlice", "apiVersion": V1}]))
    assert check(page([{**slice_(), "metadata": None}]))  # no metadata: an unnamed slice on both paths


@pytest.mark.parametrize(
    "data",
    [
        page([slice_()], kind="ResourceClaimList"),
        page([slice_()], kind=None),
        page([slice_()], api_version="resource.k8s.io/v1beta1"),
        page([slice_()], api_version="example.com/v1"),
        page([slice_()], api_version=None),
        page([slice_()], meta={"continue": 5}),
        page([slice_()], meta={"resourceVersion": 5}),
        page([slice_()], meta=[]),
        page({"a": 1}),
        b'{"kind":"ResourceSliceList","apiVersion":"resource.k8s.io/v1","items":[',
        b'[]',
        b'{"kind":"ResourceSliceList","apiVersion":"resource.k8s.io/v1","items":[{"metadata":{"name":"\\ud800"}}]}',
        b"\xff",
    ],
    ids=lambda d: d[:60].decode("utf-8", "replace"),
)
def test_odd_pages_are_left_to_the_exact_path(data):
    assert slicepage.decode_page(data) is None


def test_an_empty_page_is_taken():
    assert slicepage.decode_page(page([], meta={"continue": ""})) == ([], "")
    assert slicepage.decode_page(page(None)) == ([], "")
    assert exact(page(None)) == ([], [], "")


# ------------------------------------------------------------------------------- duplicate keys

SPEC = '"driver":"gpu.example.com","nodeName":"n","pool":{"name":"n","generation":1,"resourceSliceCount":1}'


def _raw_page(spec: str) -> bytes:
    return ('{"kind":"ResourceSliceList","apiVersion":"resource.k8s.io/v1","metadata":{},"items":[{"metadata":{"name":"s"},"spec":{'
            + spec + "}}]}").encode()


@pytest.mark.parametrize(
    "spec, taken",
    [
        (SPEC + ',"devices":[{"name":"gpu-0","attributes":{"a":{"string":"x","int":1,"int":null}}}]', False),
        (SPEC + ',"devices":[{"name":"gpu-0","attributes":{"a":{"int":1,"int":2}}}]', True),
        (SPEC + ',"devices":[{"name":"gpu-0","attributes":{"a":{"int":1},"b":{"int":2},"a":{"string":"x"}}}]', True),
        (SPEC + ',"devices":[{"name":"gpu-0","name":"gpu-1"}]', True),
        (SPEC + ',"devices":[{"name":"gpu-0","name":null}]', False),
        (SPEC + ',"devices":[{"name":"gpu-0"}],"devices":null', True),
        (SPEC + ',"pool":null', False),
        (SPEC + ',"driver":null', False),
        (SPEC + ',"devices":[{"name":"gpu-0","capacity":{"m":{"value":"1"},"m":{"value":null}}}]', True),
        (SPEC + ',"devices":[{"name":"gpu-0","attributes":null,"capacity":null}]', True),
    ],
)
def test_duplicate_keys_read_the_same_on_both_paths(spec, taken):
    data = _raw_page(spec)
    assert check(data) is taken
    if not taken:
        reference = exact(data)
        assert isinstance(reference, ClusterError) or reference[1], "a page the exact path reads cleanly should be taken"


# ----------------------------------------------------------------------------------- properties

NAMES = st.sampled_from(["gpu-0", "gpu-1", "gpu-10", "mig-1g-10gb-0", "Bad_Name", "", "x" * 64, None, 5])
VALID_VALUES = st.one_of(
    st.builds(lambda s: {"string": s}, st.sampled_from(["H100", "", "pci0000:15", "ü", "a\u0000b"])),
    st.builds(lambda i: {"int": i}, st.sampled_from([0, -1, 7, (1 << 63) - 1, -(1 << 63)])),
    st.builds(lambda b: {"bool": b}, st.booleans()),
    st.builds(lambda v: {"version": v}, st.sampled_from(["1.2.3", "580.95.5", "not-semver"])),
)
ODD_VALUES = st.sampled_from([
    {"string": None}, {"string": 1}, {"int": True}, {"int": 1.5}, {"int": 1 << 63}, {"int": 1 << 64}, {"int": -(1 << 63) - 1},
    {"bool": 1}, {"version": 1.0}, {"strings": ["a"]}, {}, {"string": "a", "int": 1}, None, "plain", [],
])
KEYS = st.sampled_from(["model", "index", "mig", "uuid", "gpu.example.com/model", "other.example.com/x", "resource.kubernetes.io/pcieRoot"])
VALID_CAPS = st.sampled_from([{"value": "80Gi"}, {"value": "1"}, {"value": "1500m"}, {"value": None}, {}])
ODD_CAPS = st.sampled_from([{"value": "lots"}, {"value": 5}, {"value": "1", "requestPolicy": {}}, "80Gi", None, {"value": "1", "x": 1}, []])
CAP_KEYS = st.sampled_from(["memory", "cores", "gpu.example.com/memory", "other.example.com/slots"])


def devices_(odd: bool):
    values = st.one_of(VALID_VALUES, ODD_VALUES) if odd else VALID_VALUES
    caps = st.one_of(VALID_CAPS, ODD_CAPS) if odd else VALID_CAPS
    extras = st.fixed_dictionaries({}, optional={"taints": st.just([]), "basic": st.just({}), "allNodes": st.booleans(), "future": st.just(1)}) if odd else st.just({})
    return st.builds(
        lambda name, attributes, capacity, extra: {**({} if name is None else {"name": name}), "attributes": attributes, "capacity": capacity, **extra},
        NAMES if odd else st.sampled_from(["gpu-0", "gpu-1", "mig-1g-10gb-0"]),
        st.dictionaries(KEYS, values, max_size=5),
        st.dictionaries(CAP_KEYS, caps, max_size=3),
        extras,
    )


def slices_(odd: bool):
    pools = st.just({"name": "p", "generation": 3, "resourceSliceCount": 2})
    if odd:
        pools = st.one_of(pools, st.sampled_from([{}, None, {"name": "p"}, {"name": 1, "generation": 1, "resourceSliceCount": 1},
                                                  {"name": "p", "generation": 1 << 64, "resourceSliceCount": 1}]))
    spec_extra = st.fixed_dictionaries({}, optional={
        "nodeName": st.sampled_from(["n1", "", None] + ([7] if odd else [])),
        "allNodes": st.sampled_from([True, False, None] + ([1] if odd else [])),
        **({"nodeSelector": st.just({}), "perDeviceNodeSelection": st.booleans(), "sharedCounters": st.just([])} if odd else {}),
    })
    metas = st.fixed_dictionaries({"name": st.sampled_from(["s1", "s2", ""])}, optional={
        "uid": st.sampled_from(["u", None] + ([3] if odd else [])),
        "creationTimestamp": st.sampled_from(["2026-11-01T08:00:00Z", None] + ([1] if odd else [])),
        "labels": st.just({"x": "y"}),
    })
    return st.builds(
        lambda meta, driver, pool, extra, devices: {"metadata": meta, "spec": {"driver": driver, "pool": pool, **extra, "devices": devices}},
        metas,
        st.sampled_from(["gpu.example.com", "tpu.example.com"] + (["", None] if odd else [])),
        pools,
        spec_extra,
        st.lists(devices_(odd), max_size=6),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(slices_(odd=False), max_size=4), st.sampled_from([V1, "resource.k8s.io/v1beta2"]), st.sampled_from(["", "next"]))
def test_valid_pages_are_taken_and_agree(items, api_version, token):
    data = page(items, api_version=api_version, meta={"continue": token})
    reference = exact(data)
    if reference[1]:  # e.g. a device name repeated in a slice is no concern of decode's; a warning would be
        return
    assert check(data), "a page of plain, valid slices must take the short cut"


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(slices_(odd=True), max_size=3))
def test_any_page_the_short_cut_takes_agrees_with_the_exact_path(items):
    check(page(items))


# ------------------------------------------------------------------------------ without msgspec


def test_without_msgspec_every_page_takes_the_exact_path(monkeypatch):
    monkeypatch.setattr(slicepage, "msgspec", None)
    assert slicepage.decode_page(page([slice_()])) is None


# ------------------------------------------------------------------------------------- live lists

SLICES = "/apis/resource.k8s.io/v1/resourceslices"


def _live(server, tmp_path):
    from kubectl_dra.kube.live import LiveCluster

    return LiveCluster(kubeconfig=str(server.write_kubeconfig(tmp_path)), context=None, request_timeout=None)


def _listed(items) -> Cluster:
    cluster = Cluster()
    add_all(cluster, (("cluster", item) for item in items))
    return cluster


def test_a_live_list_mixes_typed_and_exact_pages_in_server_order(tmp_path):
    from tests.fakeapi import FakeApiServer

    with FakeApiServer(page_size_cap=2) as server:
        server.load_yaml(DEMO)
        live = _live(server, tmp_path)
        answers = []

        def spy(data):
            answer = slicepage.decode_page(data)
            answers.append(answer is not None)
            return answer

        typed = _listed(live.list(SLICES, what="resourceslices", page_decoder=spy))
        reference = _listed(live.list(SLICES, what="resourceslices"))
        assert typed.slices == reference.slices and typed.warnings == reference.warnings == []
        assert len(typed.slices) == 9
        # pages of 2 in name order: a100 + dgx dra.net, dgx gpu + dynamic MIG counters, two dynamic MIG
        # slices, l40s (tainted) + mi300x, tpu: after two pages in a row on the exact path, it is not tried
        assert answers == [True, False, False]


def test_live_output_is_the_same_without_the_short_cut(run, tmp_path, monkeypatch):
    from tests.fakeapi import FakeApiServer

    with FakeApiServer(page_size_cap=3) as server:
        server.load_yaml(DEMO)
        bad = slice_("zz-bad", devices=[device("gpu-0"), {"name": "Bad_Name"}])
        server.add({"apiVersion": V1, "kind": "ResourceSlice", **bad}, {"apiVersion": V1, "kind": "ResourceSlice", **slice_("zz-good")})
        monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path)))
        with_short_cut = [run("list", "-o", "json"), run("list", "-o", "wide")]
        monkeypatch.setattr(slicepage, "msgspec", None)
        without = [run("list", "-o", "json"), run("list", "-o", "wide")]
    for a, b in zip(with_short_cut, without):
        assert (a.exit_code, a.stdout, a.stderr) == (b.exit_code, b.stdout, b.stderr)
    assert "zz-bad" in with_short_cut[0].stderr and "Bad_Name" in with_short_cut[0].stderr
    assert "node-1" in with_short_cut[1].stdout
