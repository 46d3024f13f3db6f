"""The HTTP client of the simple kubeconfig path: the standard library's ``http.client``, kept-alive
connections to one API server, nothing else.

``urllib3`` would cost ~30 ms of imports on every live command (a fifth of a small cluster's
``list``) for features this path does not use (proxies, retries, several hosts). The kubernetes
package's client (every other kubeconfig) keeps urllib3; ``kube/live.py`` reads both through one
small interface: :meth:`Pool.request` returns a :class:`Response` (``status``, ``headers``,
``read1``, ``stream``, ``close``, ``release_conn``) and every transport failure is a
:class:`TransportError`.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from typing import Any, Iterator, NamedTuple
from urllib.parse import urlsplit


class Timeout(NamedTuple):
    """Seconds to connect, and to wait for each read (None: as long as it takes)."""

    connect: float | None
    read: float | None


class TransportError(Exception):
    """A request that failed below HTTP: no connection, a reset, a timeout, a TLS failure.

    ``reason``: what happened, for the user; ``never_sent``: the server cannot have received the
    request (no connection or TLS session was made); ``timed_out``: a timeout ended it."""

    def __init__(self, reason: str, *, never_sent: bool = False, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.never_sent = never_sent
        self.timed_out = timed_out


class _Connection(http.client.HTTPConnection):
    """A plain or TLS connection whose TLS name (SNI and certificate check) may differ from the host."""

    def __init__(self, host: str, port: int, timeout: float | None, ssl_context: Any, server_hostname: str | None) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ssl_context = ssl_context
        self._server_hostname = server_hostname

    def connect(self) -> None:
        super().connect()
        if self._ssl_context is not None:
            self.sock = self._ssl_context.wrap_socket(self.sock, server_hostname=self._server_hostname or self.host)


class Pool:
    """Connections to one server (``https://host:port`` or ``http://…``), reused between requests;
    each request takes one for itself, so threads may share the pool."""

    def __init__(self, url: str, *, ssl_context: Any = None, server_hostname: str | None = None) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl_context = ssl_context if parts.scheme == "https" else None
        self.server_hostname = server_hostname
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def after_fork(self) -> None:
        """In a forked child: never touch the parent's connections (they stay open for it)."""
        self._idle = []
        self._lock = threading.Lock()

    def request(self, method: str, url: str, *, body: bytes | None, headers: dict, timeout: Timeout) -> "Response":
        """Send the request and read the status line and headers; the body is read by the caller."""
        parts = urlsplit(url)
        target = parts.path + ("?" + parts.query if parts.query else "")
        reused = self._take()
        if reused is not None:
            try:
                return self._send(reused, method, target, body, headers, timeout, reused=True)
            except _Stale:
                pass  # the server closed the kept-alive connection as we used it: once more, on a new one
        return self._send(self._new(timeout), method, target, body, headers, timeout, reused=False)

    # ------------------------------------------------------------------ connections

    def _take(self) -> _Connection | None:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if _alive(conn):
                    return conn
                conn.close()
        return None

    def _give_back(self, conn: _Connection) -> None:
        with self._lock:
            self._idle.append(conn)

    def _new(self, timeout: Timeout) -> _Connection:
        conn = _Connection(self.host, self.port, timeout.connect, self.ssl_context, self.server_hostname)
        try:
            conn.connect()
        except socket.gaierror as err:
            conn.close()
            raise TransportError(f"Failed to resolve '{self.host}' ({err})", never_sent=True) from None
        except TimeoutError:
            conn.close()
            raise TransportError(f"Connection to {self.host} timed out. (connect timeout={timeout.connect})",
                                 never_sent=True, timed_out=True) from None
        except OSError as err:  # refused, unreachable, a TLS handshake that failed (ssl.SSLError)
            conn.close()
            what = "SSLError" if _is_tls(err) else "Failed to establish a new connection"
            raise TransportError(f"{what}: {err}", never_sent=True) from None
        conn.sock.settimeout(timeout.read)
        return conn

    def _send(self, conn: _Connection, method: str, target: str, body: bytes | None, headers: dict, timeout: Timeout,
              *, reused: bool) -> "Response":
        if reused:
            conn.sock.settimeout(timeout.read)
        try:
            conn.request(method, target, body=body, headers=headers)
            raw = conn.getresponse()
        except ValueError:  # a header value http.client refuses (a token with a line break)
            conn.close()
            raise
        except TimeoutError:
            conn.close()
            raise TransportError(f"{self.host}:{self.port}: Read timed out. (read timeout={timeout.read})",
                                 timed_out=True) from None
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as err:
            conn.close()
            if reused and method == "GET":
                raise _Stale() from None
            raise TransportError(f"('Connection aborted.', {err!r})") from None
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            raise TransportError(f"('Connection aborted.', {err!r})") from None
        return Response(raw, conn, self, timeout)


class _Stale(Exception):
    """A kept-alive connection the server had closed."""


def _alive(conn: _Connection) -> bool:
    """Whether an idle kept-alive connection can take a request: nothing to read on it (a server that
    closed it has sent an end of file)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _is_tls(err: OSError) -> bool:
    import ssl

    return isinstance(err, ssl.SSLError)


class Streamed:
    """A response body read as it arrives: ``read1`` (at most ``amount`` bytes, b"" at the end), and
    ``stream`` over it (both transports' responses are read this way, kube/live.py)."""

    def read1(self, amount: int) -> bytes:  # pragma: no cover - each transport's own
        raise NotImplementedError

    def stream(self, amount: int) -> Iterator[bytes]:
        while True:
            chunk = self.read1(amount)
            if not chunk:
                return
            yield chunk


class Response(Streamed):
    """A response whose body is read as it arrives (``read1``/``stream``); read to its end and
    released, its connection serves the next request."""

    def __init__(self, raw: http.client.HTTPResponse, conn: _Connection, pool: Pool, timeout: Timeout) -> None:
        self._raw, self._conn, self._pool, self._timeout = raw, conn, pool, timeout
        self.status = raw.status
        self.headers = raw.headers

    def read1(self, amount: int) -> bytes:
        try:
            return self._raw.read1(amount)
        except TimeoutError:
            raise TransportError(f"{self._pool.host}:{self._pool.port}: Read timed out. (read timeout={self._timeout.read})",
                                 timed_out=True) from None
        except (OSError, http.client.HTTPException, ValueError) as err:
            raise TransportError(f"('Connection broken: {err!r}', {err!r})") from None

    def close(self) -> None:
        """Drop the connection (the body was not read to its end, or failed)."""
        conn, self._conn = self._conn, None
        self._raw.close()
        if conn is not None:
            conn.close()

    def release_conn(self) -> None:
        """The body was read to its end: the connection serves the next request, unless the server
        said it closes it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        raw = self._raw
        # http.client marks a chunked body closed at its end, a sized one only at a read past it
        done = raw.isclosed() or (not raw.chunked and raw.length == 0)
        raw.close()
        if done and not raw.will_close:
            self._pool._give_back(conn)
        else:
            conn.close()
