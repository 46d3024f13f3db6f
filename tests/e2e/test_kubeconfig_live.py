"""The simple kubeconfig path (kube/kubeconfig.py, no `import kubernetes`) against the real API
server's TLS: inline ``*-data`` credentials, relative paths, skip-verify, and a CA that does not match."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from kubectl_dra.kube import kubeconfig as kc

pytestmark = pytest.mark.e2e


def _config(cp, cluster: dict, user: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "k8sbox", "cluster": {"server": cp.server, **cluster}}],
            "users": [{"name": "admin", "user": user}],
            "contexts": [{"name": "x", "context": {"cluster": "k8sbox", "user": "admin", "namespace": "default"}}],
            "current-context": "x"}  # fmt: skip


def _b64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _version(run, path) -> object:
    return run("version", "-o", "json", "--kubeconfig", str(path))


def test_inline_certificates_take_the_simple_path(control_plane, run, tmp_path):
    pki = control_plane.pki
    config = _config(control_plane, {"certificate-authority-data": _b64(pki / "ca.crt")},
                     {"client-certificate-data": _b64(pki / "admin.crt"), "client-key-data": _b64(pki / "admin.key")})  # fmt: skip
    path = tmp_path / "inline.json"
    path.write_text(json.dumps(config))
    assert kc.simple_connection([str(path)], None) is not None
    result = _version(run, path)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["serverVersion"]["gitVersion"].startswith("v1.36")


def test_relative_certificate_paths(control_plane, run, tmp_path):
    pki = control_plane.pki
    for name in ("ca.crt", "admin.crt", "admin.key"):
        (tmp_path / name).write_bytes((pki / name).read_bytes())
    path = tmp_path / "relative.json"
    path.write_text(json.dumps(_config(control_plane, {"certificate-authority": "ca.crt"},
                                       {"client-certificate": "admin.crt", "client-key": "admin.key"})))  # fmt: skip
    assert _version(run, path).exit_code == 0


def test_skip_verify_and_a_wrong_ca(control_plane, run, tmp_path):
    pki = control_plane.pki
    user = {"client-certificate-data": _b64(pki / "admin.crt"), "client-key-data": _b64(pki / "admin.key")}
    insecure = tmp_path / "insecure.json"
    insecure.write_text(json.dumps(_config(control_plane, {"insecure-skip-tls-verify": True}, user)))
    # a subprocess: stderr as the user sees it (no warning about the unverified connection)
    proc = subprocess.run([sys.executable, "-m", "kubectl_dra", "version", "--kubeconfig", str(insecure)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr  # kubectl says nothing either
    wrong = tmp_path / "wrong.json"  # a certificate that is not the server's CA: verification fails, exit 4
    wrong.write_text(json.dumps(_config(control_plane, {"certificate-authority-data": _b64(pki / "admin.crt")}, user)))
    result = _version(run, wrong)
    assert result.exit_code == 4, result.stderr
    assert result.stderr.startswith("error: cannot reach the API server") and "CERTIFICATE_VERIFY_FAILED" in result.stderr


@pytest.mark.parametrize(("server_name", "ok"), [("kubernetes.default", True), ("localhost", True), ("not-the-server.example", False)])
def test_tls_server_name_is_the_name_checked(control_plane, run, tmp_path, server_name, ok):
    """kube/http.py connects to the server's address and checks the certificate against
    ``tls-server-name`` (SNI too), as kubectl does: a name the certificate has passes, another fails."""
    pki = control_plane.pki
    user = {"client-certificate-data": _b64(pki / "admin.crt"), "client-key-data": _b64(pki / "admin.key")}
    path = tmp_path / "named.json"
    path.write_text(json.dumps(_config(control_plane, {"certificate-authority-data": _b64(pki / "ca.crt"),
                                                       "tls-server-name": server_name}, user)))  # fmt: skip
    assert kc.simple_connection([str(path)], None) is not None
    result = _version(run, path)
    if ok:
        assert result.exit_code == 0, result.stderr
    else:
        assert result.exit_code == 4, result.stderr
        assert "CERTIFICATE_VERIFY_FAILED" in result.stderr and "not-the-server.example" in result.stderr


def test_a_host_name_in_the_server_url(control_plane, run, tmp_path):
    """``https://localhost:PORT``: the name resolves, and is the one the certificate is checked against."""
    pki = control_plane.pki
    config = _config(control_plane, {"certificate-authority-data": _b64(pki / "ca.crt")},
                     {"client-certificate-data": _b64(pki / "admin.crt"), "client-key-data": _b64(pki / "admin.key")})  # fmt: skip
    config["clusters"][0]["cluster"]["server"] = control_plane.server.replace("127.0.0.1", "localhost")
    path = tmp_path / "localhost.json"
    path.write_text(json.dumps(config))
    result = _version(run, path)
    assert result.exit_code == 0, result.stderr


def test_one_connection_serves_the_requests_of_a_command(control_plane, tmp_path):
    """The simple path keeps its TLS connection alive between requests (discovery, lists, pages)."""
    from kubectl_dra.kube.http import Pool
    from kubectl_dra.kube.live import LiveCluster

    pki = control_plane.pki
    path = tmp_path / "reuse.json"
    path.write_text(json.dumps(_config(control_plane, {"certificate-authority-data": _b64(pki / "ca.crt")},
                                       {"client-certificate-data": _b64(pki / "admin.crt"),
                                        "client-key-data": _b64(pki / "admin.key")})))  # fmt: skip
    live = LiveCluster(kubeconfig=str(path))
    live.get("/version")
    pool = live._connect().pool
    assert isinstance(pool, Pool) and len(pool._idle) == 1
    first = pool._idle[0]
    list(live.list("/api/v1/namespaces", what="namespaces", limit=1))  # several pages, one after the other
    live.get("/apis/resource.k8s.io")
    assert pool._idle == [first]
