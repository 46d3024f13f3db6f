"""kube/kubeconfig.py: the simple kubeconfig path (no ``import kubernetes``), kubectl's merge rules,
and the fall-back to the kubernetes package for everything outside the simple subset."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kubectl_dra.kube import kubeconfig as kc


def write(path, clusters=(), users=(), contexts=(), current=None):
    config = {"apiVersion": "v1", "kind": "Config",
              "clusters": [{"name": n, "cluster": c} for n, c in clusters],
              "users": [{"name": n, "user": u} for n, u in users],
              "contexts": [{"name": n, "context": c} for n, c in contexts]}  # fmt: skip
    if current is not None:
        config["current-context"] = current
    path.write_text(json.dumps(config))
    return str(path)


def simple(tmp_path, cluster=None, user=None, context=None):
    return write(tmp_path / "config", [("c", {"server": "http://127.0.0.1:1"} if cluster is None else cluster)], [("u", user or {})],
                 [("x", context or {"cluster": "c", "user": "u"})], current="x")  # fmt: skip


def test_token_and_namespace(tmp_path):
    path = simple(tmp_path, user={"token": "abc"}, context={"cluster": "c", "user": "u", "namespace": "ml"})
    conn = kc.simple_connection([path], None)
    assert (conn.host, conn.namespace, conn.authorization, conn.ssl_context) == ("http://127.0.0.1:1", "ml", "Bearer abc", None)


def test_server_trailing_slash_is_dropped(tmp_path):
    assert kc.simple_connection([simple(tmp_path, cluster={"server": "http://h:8/"})], None).host == "http://h:8"


def test_token_file_is_relative_to_the_kubeconfig(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "tok").write_text("from-file")
    path = write(tmp_path / "sub" / "config", [("c", {"server": "http://h"})], [("u", {"tokenFile": "tok"})],
                 [("x", {"cluster": "c", "user": "u"})], current="x")  # fmt: skip
    assert kc.simple_connection([path], None).authorization == "Bearer from-file"


def test_token_wins_over_token_file(tmp_path):
    path = simple(tmp_path, user={"token": "inline", "tokenFile": "/nonexistent"})
    assert kc.simple_connection([path], None).authorization == "Bearer inline"


def test_empty_token_sends_no_credentials(tmp_path):
    assert kc.simple_connection([simple(tmp_path, user={"token": ""})], None).authorization is None


@pytest.mark.parametrize("user", [
    {"exec": {"command": "x", "apiVersion": "client.authentication.k8s.io/v1"}},
    {"auth-provider": {"name": "oidc"}},
    {"username": "a", "password": "b"},
    {"as": "someone"},
    {"token": "line\n"},
    {"token": 7},
], ids=["exec", "auth-provider", "basic", "impersonate", "token-newline", "token-not-string"])
def test_outside_the_subset_is_left_to_the_kubernetes_package(tmp_path, user):
    assert kc.simple_connection([simple(tmp_path, user=user)], None) is None


@pytest.mark.parametrize("cluster", [
    {"server": "https://h", "proxy-url": "http://proxy:3128"},
    {"server": "https://h", "certificate-authority-data": "not base64 !!"},
    {"server": "https://h", "certificate-authority": "/nonexistent/ca.crt"},
    {"server": "https://h", "insecure-skip-tls-verify": "yes"},
    {},
    {"server": "h:443"},
], ids=["proxy", "bad-ca-data", "missing-ca-file", "insecure-not-bool", "no-server", "no-scheme"])
def test_cluster_outside_the_subset(tmp_path, cluster):
    assert kc.simple_connection([simple(tmp_path, cluster=cluster)], None) is None


def test_https_client_certificate_without_its_key_is_left_to_the_package(tmp_path):
    cluster = {"server": "https://h", "insecure-skip-tls-verify": True}
    assert kc.simple_connection([simple(tmp_path, cluster=cluster, user={"client-certificate": "c.crt"})], None) is None
    # over plain http no certificate is used at all (as the kubernetes package does)
    assert kc.simple_connection([simple(tmp_path, user={"client-certificate": "c.crt"})], None) is not None


def test_broken_files_are_left_to_the_full_loader(tmp_path):
    bad = tmp_path / "bad"
    for text in ("garbage: [\n", "- a list\n", "contexts: 7\ncurrent-context: x\n"):
        bad.write_text(text)
        assert kc.simple_connection([str(bad)], None) is None
    dup = write(tmp_path / "dup", [("c", {"server": "http://h"}), ("c", {"server": "http://i"})], [("u", {})],
                [("x", {"cluster": "c", "user": "u"})], current="x")  # fmt: skip
    assert kc.simple_connection([dup], None) is None


def test_unknown_context_or_none_is_left_to_the_full_loader(tmp_path):
    path = simple(tmp_path)
    assert kc.simple_connection([path], "nope") is None
    nocurrent = write(tmp_path / "n", [("c", {"server": "http://h"})], [], [("x", {"cluster": "c"})])
    assert kc.simple_connection([nocurrent], None) is None
    assert kc.simple_connection([nocurrent], "x").host == "http://h"


def test_merge_follows_kubectl(tmp_path):
    """The first file to name an entry defines it; the first non-empty current-context wins
    (the kubernetes package takes the last one: kubectl does not)."""
    first = write(tmp_path / "a", [("c", {"server": "http://first"})], [("u", {"token": "one"})],
                  [("x", {"cluster": "c", "user": "u"})], current="x")  # fmt: skip
    second = write(tmp_path / "b", [("c", {"server": "http://second"}), ("d", {"server": "http://d"})],
                   [("u", {"token": "two"})], [("x", {"cluster": "d"}), ("y", {"cluster": "d", "user": "u"})], current="y")  # fmt: skip
    empty = write(tmp_path / "e", current="")
    conn = kc.simple_connection([empty, first, second], None)
    assert (conn.host, conn.authorization) == ("http://first", "Bearer one")
    assert kc.current_context([empty, second, first]) == "y"
    conn = kc.simple_connection([first, second], "y")
    assert (conn.host, conn.authorization) == ("http://d", "Bearer one")


def _serve(server, tmp_path, **kwargs):
    """A kubeconfig for the fake server whose context can also carry ``user``/``cluster`` extras."""
    config = json.loads(server.write_kubeconfig(tmp_path / "k").read_text())
    for key, extra in kwargs.items():
        section = {"user": "users", "cluster": "clusters"}[key]
        config[section][0][key].update(extra)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_live_requests_carry_the_token_and_our_user_agent(fake_api, tmp_path):
    from kubectl_dra.kube.live import LiveCluster

    live = LiveCluster(kubeconfig=_serve(fake_api, tmp_path))
    live.get("/apis/resource.k8s.io", what="discovery")
    request = fake_api.requests_to("/apis/resource.k8s.io")[-1]
    assert request.headers["authorization"] == f"Bearer {fake_api.token}"
    assert request.headers["user-agent"].startswith("kubectl-dra/")


def test_simple_kubeconfig_does_not_import_kubernetes(fake_api, tmp_path):
    """The point of the simple path: a live read without the ~0.3 s `import kubernetes`."""
    code = ("import sys; from kubectl_dra.kube.live import LiveCluster; "
            "LiveCluster(kubeconfig=sys.argv[1]).get('/apis/resource.k8s.io', what='d'); "
            "print(sorted(m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code, _serve(fake_api, tmp_path)], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_basic_auth_goes_through_the_kubernetes_package(fake_api, tmp_path):
    """Outside the subset the package loads the kubeconfig (here basic auth), and the request still
    goes out through the same transport with the package's credentials."""
    from kubectl_dra.kube.live import LiveCluster

    fake_api.token = None  # the fake checks bearer tokens only
    live = LiveCluster(kubeconfig=_serve(fake_api, tmp_path, user={"username": "ann", "password": "pw"}))
    live.get("/apis/resource.k8s.io", what="discovery")
    assert live._api is not None
    assert fake_api.requests_to("/apis/resource.k8s.io")[-1].headers["authorization"].startswith("Basic ")


def test_full_loader_also_takes_the_first_current_context(fake_api, tmp_path, run, monkeypatch):
    """With a kubeconfig outside the subset, KUBECONFIG=a:b still uses a's current-context (kubectl's rule)."""
    fake_api.token = None
    good = json.loads(fake_api.write_kubeconfig(tmp_path / "k").read_text())
    good["users"][0]["user"] = {"username": "ann", "password": "pw"}
    good["contexts"][0]["name"] = good["current-context"] = "good"
    (tmp_path / "a.json").write_text(json.dumps(good))
    bad = {"apiVersion": "v1", "kind": "Config", "current-context": "dead",
           "clusters": [{"name": "dead-c", "cluster": {"server": "http://127.0.0.1:9"}}],
           "users": [{"name": "dead-u", "user": {"username": "x", "password": "y"}}],
           "contexts": [{"name": "dead", "context": {"cluster": "dead-c", "user": "dead-u"}}]}  # fmt: skip
    (tmp_path / "b.json").write_text(json.dumps(bad))
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(tmp_path / "a.json"), str(tmp_path / "b.json")]))
    result = run("version", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["serverVersion"]
