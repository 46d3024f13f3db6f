"""kube/http.py, the simple kubeconfig path's HTTP client, against a small local server: kept-alive
connections reused only when a body was read to its end, a connection the server closed replaced,
and every failure below HTTP a TransportError that says whether the request can have been sent."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kubectl_dra.kube.http import Pool, Timeout, TransportError

T = Timeout(5.0, 5.0)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1  # type: ignore[attr-defined]

    def do_GET(self) -> None:  # noqa: N802
        path = self.path
        if path.startswith("/slow"):
            time.sleep(1.0)
        if path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"one ", b"two ", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        body = b"x" * (200_000 if path.startswith("/big") else 10)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if path.startswith("/close"):
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        if path.startswith("/drop"):  # closes the kept-alive connection without saying so
            self.close_connection = True


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.connections = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv, path: str = "") -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def _get(pool: Pool, url: str, timeout: Timeout = T) -> bytes:
    response = pool.request("GET", url, body=None, headers={}, timeout=timeout)
    data = b"".join(response.stream(65536))
    response.release_conn()
    return data


def test_a_connection_serves_request_after_request(server):
    pool = Pool(_url(server))
    assert _get(pool, _url(server, "/a")) == b"x" * 10
    assert _get(pool, _url(server, "/big")) == b"x" * 200_000
    assert _get(pool, _url(server, "/chunked")) == b"one two three"
    assert _get(pool, _url(server, "/b?q=1")) == b"x" * 10
    assert server.connections == 1 and len(pool._idle) == 1


def test_a_body_not_read_to_its_end_drops_the_connection(server):
    pool = Pool(_url(server))
    response = pool.request("GET", _url(server, "/big"), body=None, headers={}, timeout=T)
    assert response.status == 200 and len(response.read1(1000)) <= 1000
    response.close()
    assert pool._idle == []
    assert _get(pool, _url(server, "/a")) == b"x" * 10
    assert server.connections == 2


def test_connection_close_is_honoured(server):
    pool = Pool(_url(server))
    assert _get(pool, _url(server, "/close")) == b"x" * 10
    assert pool._idle == []


def test_a_connection_the_server_closed_is_replaced(server):
    pool = Pool(_url(server))
    assert _get(pool, _url(server, "/drop")) == b"x" * 10  # kept: the server did not say it closes
    time.sleep(0.1)
    assert _get(pool, _url(server, "/a")) == b"x" * 10
    assert server.connections == 2


def test_a_stale_connection_that_looks_alive_is_retried_once_for_a_get(server, monkeypatch):
    from kubectl_dra.kube import http

    pool = Pool(_url(server))
    assert _get(pool, _url(server, "/drop")) == b"x" * 10
    time.sleep(0.1)
    monkeypatch.setattr(http, "_alive", lambda conn: True)  # the close arrives after the check
    assert _get(pool, _url(server, "/a")) == b"x" * 10
    assert server.connections == 2


def test_refused_is_never_sent():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    pool = Pool(f"http://127.0.0.1:{port}")
    with pytest.raises(TransportError) as info:
        pool.request("GET", f"http://127.0.0.1:{port}/x", body=None, headers={}, timeout=T)
    assert info.value.never_sent and not info.value.timed_out
    assert info.value.reason.startswith("Failed to establish a new connection: [Errno 111]")


def test_an_unknown_host_is_never_sent():
    pool = Pool("http://no-such-host.invalid:80")
    with pytest.raises(TransportError) as info:
        pool.request("GET", "http://no-such-host.invalid:80/x", body=None, headers={}, timeout=T)
    assert info.value.never_sent and info.value.reason.startswith("Failed to resolve 'no-such-host.invalid'")


def test_a_slow_answer_times_out(server):
    pool = Pool(_url(server))
    with pytest.raises(TransportError) as info:
        _get(pool, _url(server, "/slow"), Timeout(5.0, 0.2))
    assert info.value.timed_out and not info.value.never_sent
    assert "Read timed out" in info.value.reason


def test_a_header_value_http_client_refuses_is_a_value_error(server):
    pool = Pool(_url(server))
    with pytest.raises(ValueError):
        pool.request("GET", _url(server, "/a"), body=None, headers={"Authorization": "Bearer x\r\ny"}, timeout=T)


def test_after_fork_leaves_the_parents_connections_alone(server):
    pool = Pool(_url(server))
    _get(pool, _url(server, "/a"))
    kept = pool._idle[0]
    pool.after_fork()
    assert pool._idle == [] and kept.sock is not None  # not closed: they are the parent's
    kept.close()


# ---------------------------------------------------------------- the kubernetes package's urllib3 path

def _exec_kubeconfig(tmp_path, server_url: str, token: str) -> str:
    """A kubeconfig whose credentials come from an exec plugin: outside the simple subset, so the
    kubernetes package's client (urllib3) carries the requests."""
    import json
    import sys

    plugin = tmp_path / "plugin.py"
    plugin.write_text("import json; print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
                      f"'kind': 'ExecCredential', 'status': {{'token': {token!r}}}}}))\n")
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
              "clusters": [{"name": "c", "cluster": {"server": server_url}}],
              "users": [{"name": "u", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                         "command": sys.executable, "args": [str(plugin)],
                                                         "interactiveMode": "Never"}}}],
              "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}  # fmt: skip
    path = tmp_path / "exec-kubeconfig.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_the_kubernetes_package_path_reads_through_the_same_interface(tmp_path, fake_api):
    from kubectl_dra.kube import kubeconfig as kc
    from kubectl_dra.kube.live import LiveCluster

    path = _exec_kubeconfig(tmp_path, fake_api.url, fake_api.token)
    assert kc.simple_connection([path], None) is None
    live = LiveCluster(kubeconfig=path)
    assert live.get("/version")["gitVersion"]
    assert not isinstance(live._connect().pool, Pool)  # urllib3's, behind the kubernetes package
    assert list(live.list("/api/v1/namespaces", what="namespaces", limit=1)) is not None
    assert list(live.watch("/api/v1/namespaces", what="namespaces", resource_version=None, timeout_seconds=1)) is not None


def test_the_kubernetes_package_path_reports_an_unreachable_server(tmp_path):
    from kubectl_dra.errors import ClusterError
    from kubectl_dra.kube.live import LiveCluster

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    live = LiveCluster(kubeconfig=_exec_kubeconfig(tmp_path, f"http://127.0.0.1:{port}", "t"), request_timeout=5)
    with pytest.raises(ClusterError, match=r"^cannot reach the API server at http://127\.0\.0\.1:\d+: .*Connection refused"):
        live.get("/version")
