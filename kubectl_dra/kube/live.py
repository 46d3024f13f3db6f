"""Reading a live cluster as raw JSON.

The common kubeconfig (``kube.kubeconfig``'s simple subset) is served by ``kube.http``, the
standard library's ``http.client``; every other one through the ``kubernetes`` package's
kubeconfig/auth handling and its urllib3 transport, imported on first use only. Responses are
parsed into plain dicts (the client's generated models cost ~8× more time and memory on big
lists, libs.md §1).
"""

from __future__ import annotations

import gc
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from kubectl_dra.errors import AlreadyExists, ClusterError, NotFoundError, Rejected
from kubectl_dra.kube.http import Pool, Streamed, Timeout, TransportError

DEFAULT_PAGE = 500
MAX_429_RETRIES = 3
MAX_RETRY_AFTER = 10.0
#: a list of more pages than this is a server whose paging is broken (5,000,000 objects at 500 a page)
MAX_PAGES = 10000
#: a reply larger than this is not an API server's answer (an unpaged list of 100,000 devices is ~200 MB)
MAX_RESPONSE_BYTES = 1 << 30
UNREACHABLE_HINT = "check --context / --kubeconfig, and that the cluster is running"


def kubeconfig_paths(explicit: str | None) -> list[str]:
    """The kubeconfig files to merge: --kubeconfig, else $KUBECONFIG (read now), else ~/.kube/config."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise ClusterError(f"kubeconfig {explicit} does not exist", hint="check the --kubeconfig path")
        if path.is_dir():
            raise ClusterError(f"kubeconfig {explicit} is a directory", hint="pass the kubeconfig file itself")
        return [str(path)]
    env = os.environ.get("KUBECONFIG")
    if env:
        paths = [p for p in env.split(os.pathsep) if p and Path(p).expanduser().is_file()]
        return [str(Path(p).expanduser()) for p in paths]
    default = Path.home() / ".kube" / "config"
    return [str(default)] if default.is_file() else []


def _status_message(body: bytes) -> tuple[str, str]:
    """(reason, message) from a Kubernetes Status body, tolerating non-JSON bodies."""
    try:
        status = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace").strip() if body else ""
        return "", text[:200]
    if not isinstance(status, dict):
        return "", ""
    return str(status.get("reason") or ""), str(status.get("message") or "")


class ContinueExpired(ClusterError):
    """The server forgot our place in a paged list (410 Gone, reason Expired)."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"the list of {what} changed too much while it was being read (continue token expired)",
            hint="run the command again",
        )


class Forbidden(ClusterError):
    """403: RBAC does not allow this request. ``verb`` and ``resource`` say what was refused."""

    def __init__(self, message: str, *, hint: str | None = None, verb: str = "", resource: str = "") -> None:
        super().__init__(message, hint=hint)
        self.verb = verb
        self.resource = resource

    def __reduce__(self):
        # keep verb and resource when the error crosses a process boundary (kube.parallel)
        return (_rebuild_forbidden, (self.message, self.hint, self.verb, self.resource))


def _rebuild_forbidden(message: str, hint: str | None, verb: str, resource: str) -> Forbidden:
    return Forbidden(message, hint=hint, verb=verb, resource=resource)


#: the hint of every 403 on a read: the one file that grants what the tool reads
READER_HINT = (
    "the ClusterRole kubectl-dra-reader in docs/rbac.yaml grants get, list and watch on everything "
    "the tool reads; see docs/rbac.md"
)


class NotServed(ClusterError):
    """404 on a collection (a list or a watch): the server does not serve it. Not ``NotFoundError``
    (exit 3), which is for an object the user named."""


class WatchExpired(ClusterError):
    """410 Gone on a watch (an HTTP status or an ERROR event): the server no longer has the changes
    since our resourceVersion. The caller lists again and watches from the new list's version."""

    def __init__(self, what: str, detail: str = "") -> None:
        super().__init__(
            f"the watch of {what} expired{': ' + detail if detail else ''}",
            hint="list again and watch from the new resourceVersion",
        )


#: how the authorizer words a denial ("User \"x\" cannot create resource \"resourceclaims\" ..."); admission
#: plugins and policies answer 403 too, in their own words
_RBAC_DENIAL = re.compile(r'\bcannot \w+ resource "')

#: the event types a watch stream carries
WATCH_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR")


class _Transport:
    """Where requests go and with what credentials: ``kube.http``'s pool and the Authorization header
    (``kube.kubeconfig``'s simple reading), or the ``kubernetes`` package's urllib3 pool and
    configuration (whose hook refreshes credentials that expire, e.g. an exec plugin's token).
    Either way :meth:`request` returns a ``kube.http.Response``-like object and raises
    ``kube.http.TransportError`` for what fails below HTTP."""

    def __init__(self, host: str, pool: Any, *, authorization: str | None = None, configuration: Any = None) -> None:
        self.host = host
        self.pool = pool
        self._authorization = authorization
        self._configuration = configuration

    def url(self, path: str, query: list[tuple[str, str]] | None) -> str:
        from urllib.parse import urlencode

        return self.host + path + ("?" + urlencode(query) if query else "")

    def request(self, method: str, url: str, headers: dict, body: bytes | None, timeout: Any) -> Any:
        headers = {**headers, "User-Agent": user_agent()}
        if self._configuration is None:
            if self._authorization:
                headers["Authorization"] = self._authorization
            return self.pool.request(method, url, body=body, headers=headers, timeout=timeout)
        for setting in self._configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        import urllib3

        try:
            raw = self.pool.request(method, url, body=body, headers=headers, preload_content=False,
                                    timeout=urllib3.Timeout(connect=timeout.connect, read=timeout.read))
        except urllib3.exceptions.HTTPError as err:
            raise _transport_error(err) from None
        return _Urllib3Response(raw)


class _Urllib3Response(Streamed):
    """A urllib3 response read through ``kube.http.Response``'s interface (its errors as TransportError)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.status = raw.status
        self.headers = raw.headers

    def read1(self, amount: int) -> bytes:
        import urllib3

        try:
            return self._raw.read1(amount)
        except urllib3.exceptions.HTTPError as err:
            raise _transport_error(err) from None

    def close(self) -> None:
        self._raw.close()

    def release_conn(self) -> None:
        self._raw.release_conn()


def _transport_error(err: Exception) -> Any:
    """urllib3's failure as ``kube.http.TransportError``."""
    import urllib3

    reason = getattr(err, "reason", None) or err
    never_sent = isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError,
                                     urllib3.exceptions.SSLError, urllib3.exceptions.NameResolutionError))
    # the error itself, not its reason: urllib3's NewConnectionError (refused) is a ConnectTimeoutError
    timed_out = isinstance(err, (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.TimeoutError))
    return TransportError(_short(reason), never_sent=never_sent, timed_out=timed_out)


_USER_AGENT: list[str] = []


def user_agent() -> str:
    """kubectl's form (``kubectl/v1.37.1 (linux/amd64) ...``): the API server's audit log names the tool."""
    if not _USER_AGENT:
        from kubectl_dra import __version__

        system = os.uname()
        _USER_AGENT.append(f"kubectl-dra/{__version__} ({system.sysname.lower()}/{system.machine})")
    return _USER_AGENT[0]


class LiveCluster:
    def __init__(self, *, kubeconfig: str | None = None, context: str | None = None, request_timeout: float | None = None):
        self._kubeconfig = kubeconfig
        self._context = context or None  # kubectl's --context '': the current context
        self._timeout = request_timeout
        self._api: Any = None
        self._transport: _Transport | None = None
        self._namespace: str | None = None
        self.host = ""

    # ------------------------------------------------------------------ connection

    def _connect(self) -> "_Transport":
        if self._transport is not None:
            return self._transport
        paths = kubeconfig_paths(self._kubeconfig)
        if paths:
            from kubectl_dra.kube.kubeconfig import simple_connection

            simple = simple_connection(paths, self._context)
            if simple is not None:  # the common kubeconfig: no `import kubernetes` (~0.3 s), nor urllib3
                pool = Pool(simple.host, ssl_context=simple.ssl_context, server_hostname=simple.server_hostname)
                self.host = simple.host
                self._namespace = simple.namespace
                self._transport = _Transport(simple.host, pool, authorization=simple.authorization)
                return self._transport
        api = self.kubernetes_client()
        if not api.configuration.verify_ssl:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._transport = _Transport(self.host, api.rest_client.pool_manager, configuration=api.configuration)
        return self._transport

    def kubernetes_client(self) -> Any:
        """The ``kubernetes`` package's ApiClient for this kubeconfig and context (exec streams,
        and every kubeconfig outside ``kube.kubeconfig``'s simple subset)."""
        if self._api is not None:
            return self._api
        try:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException
        except ImportError as err:  # pragma: no cover - dependency missing
            raise ClusterError(f"the kubernetes package is not installed ({err})", hint="pip install kubectl-dra") from None
        paths = kubeconfig_paths(self._kubeconfig)
        configuration = client.Configuration()
        try:
            if paths:
                from kubectl_dra.kube.kubeconfig import current_context

                joined = os.pathsep.join(paths)
                contexts, active = config.list_kube_config_contexts(config_file=joined)
                names = [c.get("name") for c in contexts or []]
                if self._context and self._context not in names:
                    raise ClusterError(
                        f'context "{self._context}" not found in kubeconfig',
                        hint=f"available contexts: {', '.join(n for n in names if n) or 'none'}",
                    )
                # kubectl's rule: the first file's current-context wins (the package takes the last one)
                wanted = self._context or current_context(paths)
                if wanted and wanted in names:
                    active = next(c for c in contexts if c.get("name") == wanted)
                if not self._context and not active:
                    raise ClusterError("the kubeconfig has no current context", hint="pass --context NAME")
                self._namespace = ((active or {}).get("context") or {}).get("namespace")
                with _ExecFailures() as exec_failures:
                    config.load_kube_config(
                        config_file=joined, context=(active or {}).get("name") or self._context,
                        client_configuration=configuration, persist_config=False,
                    )
                if exec_failures.messages:
                    # the client logs a failing exec credential plugin and goes on without credentials
                    raise ClusterError(
                        f"the kubeconfig's exec credential plugin failed: {exec_failures.messages[0]}",
                        hint="run the plugin's command (users[].user.exec in the kubeconfig) by hand to see why",
                    )
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=configuration)
                ns_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                if ns_file.is_file():
                    self._namespace = ns_file.read_text().strip() or None
            else:
                raise ClusterError(
                    "no kubeconfig found and not running inside a cluster",
                    hint="set KUBECONFIG or pass --kubeconfig; or try --demo, or -f FILE for saved objects",
                )
        except ClusterError:
            raise
        except ConfigException as err:
            raise ClusterError(f"cannot load kubeconfig: {err}", hint="check --kubeconfig / KUBECONFIG and --context") from None
        except Exception as err:  # a kubeconfig that is not YAML, or not shaped like one
            detail = " ".join(str(err).split())
            raise ClusterError(
                f"cannot load kubeconfig {os.pathsep.join(paths) or '(in-cluster)'}: {type(err).__name__}: {detail}",
                hint="check --kubeconfig / KUBECONFIG",
            ) from None
        for key, value in (configuration.api_key or {}).items():
            if isinstance(value, str) and any(c in value for c in "\r\n\x00"):
                raise ClusterError(
                    "the kubeconfig's token contains a line break or NUL character",
                    hint="remove the trailing newline from users[].user.token (or the token file) in the kubeconfig",
                )
        configuration.retries = 0
        self.host = configuration.host
        self._api = client.ApiClient(configuration=configuration)
        return self._api

    def can_fork(self) -> bool:
        """True when a forked child can get its own connections (``kube.http``'s pool, or a plain
        urllib3 PoolManager)."""
        pool = self._connect().pool
        if isinstance(pool, Pool):
            return True
        import urllib3

        return type(pool) is urllib3.PoolManager

    def after_fork(self) -> None:
        """In a forked child: new connections, so the parent's sockets are never shared."""
        transport = self._transport
        old = transport.pool
        if isinstance(old, Pool):
            old.after_fork()
            return
        import urllib3

        transport.pool = urllib3.PoolManager(num_pools=4, headers=old.headers, **old.connection_pool_kw)

    @property
    def namespace(self) -> str:
        self._connect()
        return self._namespace or "default"

    # ------------------------------------------------------------------ requests

    def _request(
        self, path: str, query: list[tuple[str, str]] | None = None, *, method: str = "GET", body: dict | None = None
    ) -> tuple[int, bytes, Any]:
        transport = self._connect()
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body).encode("utf-8")
        url = transport.url(path, query)
        timeout = Timeout(min(self._timeout, 10.0), self._timeout) if self._timeout else Timeout(10.0, None)
        write = method != "GET"
        for attempt in range(MAX_429_RETRIES + 1):
            deadline = time.monotonic() + self._timeout if self._timeout else None
            try:
                response = transport.request(method, url, headers, payload, timeout)
                data = _read_body(response, deadline)
            except _Overdue:
                raise self._timed_out(path, write) from None
            except _TooBig:
                raise ClusterError(
                    f"the API server's answer to {path} is larger than {MAX_RESPONSE_BYTES >> 20} MiB: not reading it",
                ) from None
            except TransportError as err:
                if write and not err.never_sent:
                    raise self._timed_out(path, write, _short(err.reason)) from None
                if err.timed_out and self._timeout:
                    raise self._timed_out(path, write) from None
                raise self._unreachable(err) from None
            except ValueError as err:  # http.client refuses a header value (a token with a line break)
                raise ClusterError(f"cannot send the request to {self.host}: {_short(err)}",
                                   hint="check the credentials in the kubeconfig") from None
            except Exception as err:  # ApiException for SSL problems, socket errors
                status = getattr(err, "status", None)
                if status == 0 or isinstance(err, OSError):
                    raise self._unreachable(err) from None
                raise
            if response.status == 429 and attempt < MAX_429_RETRIES:
                time.sleep(_retry_after(response.headers.get("Retry-After")))
                continue
            return response.status, data, response
        return response.status, data, response  # pragma: no cover - loop always returns

    def _unreachable(self, err: Exception) -> ClusterError:
        reason = getattr(err, "reason", None) or err
        return ClusterError(f"cannot reach the API server at {self.host}: {_short(reason)}", hint=UNREACHABLE_HINT)

    def _timed_out(self, path: str, write: bool, detail: str = "") -> ClusterError:
        limit = f" within --request-timeout ({_seconds(self._timeout)})" if self._timeout else ""
        if write:
            return ClusterError(
                f"the API server did not answer the write to {path}{limit}{': ' + detail if detail else ''}: "
                "the outcome is unknown (the object may or may not have been created)",
                hint="check with `kubectl get` whether it exists before trying again",
            )
        return ClusterError(
            f"the API server at {self.host} did not answer {path}{limit}",
            hint="the server is slow or stalled; try again, or raise --request-timeout",
        )

    def get(
        self, path: str, query: list[tuple[str, str]] | None = None, *, what: str | None = None, verb: str = "get"
    ) -> dict:
        """GET ``path``; ``verb`` is the RBAC verb this is (``list`` for a collection), named in a 403."""
        status, data, _ = self._request(path, query)
        if status != 200:
            self._raise(status, data, path, what, verb)
        return _loads(data)

    def create(self, path: str, obj: dict, *, what: str, dry_run: bool = False) -> dict:
        """POST ``obj`` to the collection ``path``; ``dry_run``: the server validates and admits, stores nothing.

        Never overwrites: an existing object of that name is ``AlreadyExists`` (409), a rejected one
        ``Rejected`` (400/422, with the server's field errors), RBAC ``Forbidden`` (403).
        """
        query = [("dryRun", "All")] if dry_run else []
        query.append(("fieldManager", "kubectl-dra"))
        status, data, _ = self._request(path, query, method="POST", body=obj)
        if status in (200, 201, 202):
            try:
                created = _loads(data)
                for key in ("metadata", "spec", "status"):
                    if created.get(key) is not None and not isinstance(created[key], dict):
                        raise ClusterError(f"{key} is a {_type(created[key])}, not a map")
            except ClusterError as err:
                done = "would be created" if dry_run else "was created"
                raise ClusterError(
                    f"the API server answered {status} (so {what} {done}), but its answer is malformed: {err.message}",
                    hint="check the object with `kubectl get -o yaml`",
                ) from None
            return created
        reason, message = _status_message(data)
        if status == 409:
            raise AlreadyExists(
                f"{what} already exists: nothing was changed",
                hint="choose another --name, or delete the existing object first (this tool never overwrites)",
            )
        if status in (400, 422):
            raise Rejected(f"the API server rejected {what}: {message or reason or status}",
                           hint="nothing was created; check the flags, or print the manifest without --apply")
        if status == 403:
            if _RBAC_DENIAL.search(message):
                hint = ("creating claims needs the `create` verb on resourceclaims/resourceclaimtemplates in that "
                        "namespace (the ClusterRole kubectl-dra-claim-writer in docs/rbac.yaml); see docs/rbac.md")
            else:
                # admission refused it (a terminating namespace, a policy, a quota): not a permission
                hint = "nothing was created; the API server's admission control refused the object (see its message)"
            raise Forbidden(
                f"forbidden: cannot create {what}: {message or reason}",
                hint=hint,
                verb="create",
                resource=path.rstrip("/").rsplit("/", 1)[-1],
            )
        if status == 404:
            # the collection is missing: the namespace (or the API version) is not there
            raise NotFoundError(
                f"cannot create {what}: {message or reason or 'HTTP 404'}",
                hint="create the namespace first, or choose another with -n",
            )
        self._raise(status, data, path, what, "create")
        raise AssertionError("unreachable")  # pragma: no cover

    def list(
        self,
        path: str,
        *,
        what: str,
        limit: int = DEFAULT_PAGE,
        field_selector: str | None = None,
        page_decoder: Callable[[bytes], tuple[list, str] | None] | None = None,
    ) -> Iterator[Any]:
        """Yield every item of a list, page by page (``limit``/``continue``), with kind/apiVersion filled in.

        ``limit=0`` asks for everything in one response. An expired continue token (410 Gone)
        raises ``ContinueExpired``: the caller discards what it got and lists again.

        ``page_decoder`` (``kube.slicepage.decode_page``) may turn a page's bytes straight into
        decoded objects and its continue token; those objects are yielded instead of the page's
        dicts. When it answers None, that page is read as dicts, and after two such pages in a row
        the rest of the list too.
        """
        from concurrent.futures import ThreadPoolExecutor

        def fetch(token: str) -> tuple[int, bytes, Any]:
            query = [("limit", str(limit))] if limit else []
            if field_selector is not None:
                query.append(("fieldSelector", field_selector))
            if token:
                query.append(("continue", token))
            return self._request(path, query)

        # While the caller decodes one page, the next one is already on its way.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="page")
        try:
            token = ""
            seen: set[str] = set()
            misses = 0
            pending = pool.submit(fetch, token)
            while pending is not None:
                status, data, _ = pending.result()
                if status == 410 and token:
                    raise ContinueExpired(what)
                if status != 200:
                    self._raise(status, data, path, what, "list")
                decoded = page_decoder(data) if page_decoder is not None else None
                if decoded is None:
                    if page_decoder is not None:
                        misses += 1
                        if misses == 2:  # two pages in a row took the exact path: the rest most likely will too
                            page_decoder = None
                    decoded = page_items(data, what)
                else:
                    misses = 0
                del data
                items, token = decoded
                if token:
                    if token in seen:
                        raise ClusterError(
                            f"the API server sent the same continue token twice while listing {what}: its paging is broken",
                            hint="stopped rather than read forever; try again, or `kubectl get --raw` the list to see",
                        )
                    if len(seen) >= MAX_PAGES:
                        raise ClusterError(f"the list of {what} has more than {MAX_PAGES} pages: stopped reading",
                                           hint="the server's paging looks broken; try again")
                    seen.add(token)
                pending = pool.submit(fetch, token) if token else None
                del decoded
                yield from items
        finally:
            # never wait for a request still on its way (Ctrl-C, an error, the caller stopped early)
            pool.shutdown(wait=False, cancel_futures=True)

    def watch(
        self,
        path: str,
        *,
        what: str,
        resource_version: str | None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        bookmarks: bool = True,
    ) -> Iterator[tuple[str, dict]]:
        """Stream the changes to the collection ``path`` after ``resource_version`` as (type, object).

        ``type`` is ADDED, MODIFIED, DELETED or BOOKMARK (a BOOKMARK object carries only kind,
        apiVersion and metadata.resourceVersion: the caller's place in the stream, nothing
        changed). ``resource_version`` None or "0" makes the server first send an ADDED for every
        current object. ``timeout_seconds`` asks the server to end the stream after that long;
        the iterator then simply ends, and the caller watches again from the last version it saw.

        A 410 Gone, as the HTTP status or as an ERROR event, raises ``WatchExpired``; other ERROR
        events and HTTP errors raise ``ClusterError`` (``Forbidden``, ``NotFoundError``, ...), and
        so does a connection that fails or breaks mid-stream. Leaving the loop early closes the
        connection.
        """
        transport = self._connect()
        query = [("watch", "1")]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        if bookmarks:
            query.append(("allowWatchBookmarks", "true"))
        if field_selector is not None:
            query.append(("fieldSelector", field_selector))
        if timeout_seconds is not None:
            query.append(("timeoutSeconds", str(int(timeout_seconds))))
        url = transport.url(path, query)
        # the read timeout applies to each read, and a quiet stream sends nothing until the
        # server's timeout (or a bookmark): only a dead connection should trip it
        read_timeout = (timeout_seconds + 30.0) if timeout_seconds is not None else None
        connect = min(self._timeout, 10.0) if self._timeout else 10.0
        unreachable = UNREACHABLE_HINT
        try:
            response = transport.request("GET", url, {"Accept": "application/json"}, None, Timeout(connect, read_timeout))
        except TransportError as err:
            raise self._unreachable(err) from None
        except ValueError as err:  # http.client refuses a header value
            raise ClusterError(f"cannot send the request to {self.host}: {_short(err)}") from None
        except Exception as err:  # ApiException for SSL problems, socket errors
            if getattr(err, "status", None) == 0 or isinstance(err, OSError):
                raise self._unreachable(err) from None
            raise
        raw = response  # opened with preload_content=False: read as it arrives
        finished = False
        try:
            if response.status != 200:
                try:
                    data = _read_body(raw, time.monotonic() + (self._timeout or 30.0))
                except (_Overdue, _TooBig, TransportError, OSError):
                    data = b""
                if response.status == 410:
                    raise WatchExpired(what, _status_message(data)[1])
                self._raise(response.status, data, path, what, "watch")
            buffer = b""
            try:
                for chunk in raw.stream(65536):
                    buffer += chunk
                    if len(buffer) > MAX_RESPONSE_BYTES:
                        raise ClusterError(f"the watch of {what} sent a line longer than {MAX_RESPONSE_BYTES >> 20} MiB")
                    if b"\n" not in chunk:
                        continue
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield self._watch_event(line, what)
            except (TransportError, OSError) as err:
                reason = getattr(err, "reason", None) or err
                raise ClusterError(
                    f"the watch of {what} at {self.host} broke: {_short(reason)}", hint=unreachable
                ) from None
            finished = True
            if buffer.strip():
                yield self._watch_event(buffer, what)
        finally:
            if finished:
                raw.release_conn()  # the stream was read to its end: the connection can be reused
            else:
                raw.close()  # abandoned mid-stream (or an error): drop the connection

    def _watch_event(self, line: bytes, what: str) -> tuple[str, dict]:
        """One decoded event line; ERROR events become exceptions."""
        try:
            event = _loads(line)
        except ClusterError:
            raise ClusterError(f"the API server sent a watch event for {what} that is not JSON: {line[:120]!r}") from None
        kind = str(event.get("type") or "")
        obj = event.get("object")
        if kind not in WATCH_TYPES or not isinstance(obj, dict) or not isinstance(obj.get("metadata", {}), (dict, type(None))):
            raise ClusterError(f"the API server sent an unexpected watch event for {what}: {line[:120]!r}")
        if kind == "ERROR":
            code, message = obj.get("code"), str(obj.get("message") or obj.get("reason") or "")
            if code == 410:
                raise WatchExpired(what, message)
            raise ClusterError(f"the watch of {what} failed ({code} {obj.get('reason') or 'error'}): {message}")
        return kind, obj

    def _raise(self, status: int, data: bytes, path: str, what: str | None, verb: str = "get") -> None:
        reason, message = _status_message(data)
        detail = message or reason or f"HTTP {status}"
        subject = what or path
        if status == 401:
            raise ClusterError(
                f"the API server at {self.host} rejected the credentials (401 Unauthorized): {detail}",
                hint="your token or certificate may have expired; check with `kubectl get --raw /version` for the same context",
            )
        if status == 403:
            raise Forbidden(f"forbidden: cannot {verb} {subject}: {detail}", hint=READER_HINT, verb=verb, resource=subject)
        if status == 404:
            if verb in ("list", "watch"):
                # a collection is not an object the user named: the server does not serve it (exit 4)
                raise NotServed(f"the API server does not serve {subject} (404 NotFound): {detail}",
                                hint="the API version may be disabled; `kubectl api-resources` lists what it serves")
            raise NotFoundError(f"{subject} not found: {detail}")
        if status == 429:
            raise ClusterError(f"the API server is throttling requests (429 Too Many Requests): {detail}", hint="try again later")
        raise ClusterError(f"the API server failed to return {subject} ({status} {reason or 'error'}): {detail}")


def _loads(data: bytes) -> dict:
    from kubectl_dra.jsonfast import loads

    # the cyclic GC doubles the cost of big parses and finds nothing to free here (libs.md §1.3)
    enabled = gc.isenabled()
    gc.disable()
    try:
        value = loads(data)
    except (ValueError, RecursionError) as err:
        raise ClusterError(f"the API server returned invalid JSON: {_short(err)[:200]}") from None
    finally:
        if enabled:
            gc.enable()
    if not isinstance(value, dict):
        raise ClusterError("the API server returned an unexpected response (not a JSON object)")
    return value


def page_items(data: bytes, what: str) -> tuple[list[dict], str]:
    """The items of one list page, with the list's kind and apiVersion filled in, and its continue token."""
    page = _loads(data)
    items, token, _ = list_page(page, what)
    kind = str(page.get("kind") or "")
    item_kind = kind[:-4] if kind.endswith("List") else kind
    api_version = page.get("apiVersion")
    out = []
    for item in items:
        if isinstance(item, dict):
            item.setdefault("kind", item_kind)
            item.setdefault("apiVersion", api_version)
            out.append(item)
    return out, token


def list_page(page: dict, what: str) -> tuple[list, str, str]:
    """(items, continue token, resourceVersion) of a list reply, its shape checked: a reply that is not
    shaped like a list is the server's fault (exit 4), never a crash or a silently empty answer."""
    meta = page.get("metadata")
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise ClusterError(f"the API server returned a malformed list of {what}: metadata is a {_type(meta)}, not a map")
    items = page.get("items")
    if items is None:
        items = []
    elif not isinstance(items, list):
        raise ClusterError(f"the API server returned a malformed list of {what}: items is a {_type(items)}, not a list")
    token, version = meta.get("continue") or "", meta.get("resourceVersion") or ""
    if not isinstance(token, str) or not isinstance(version, (str, int)):
        raise ClusterError(f"the API server returned a malformed list of {what}: metadata.continue/resourceVersion is not a string")
    return items, token, str(version)


def _type(value: Any) -> str:
    return {dict: "map", list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), type(value).__name__)


class _Overdue(Exception):
    pass


class _TooBig(Exception):
    pass


def _read_body(raw: Any, deadline: float | None) -> bytes:
    """The whole body of a response (``_Transport.request``'s), read as it arrives: past ``deadline`` (a slow drip that
    never trips the per-read timeout) ``_Overdue``, beyond ``MAX_RESPONSE_BYTES`` ``_TooBig``."""
    parts = []
    size = 0
    try:
        while True:
            if deadline is not None and time.monotonic() > deadline:
                raise _Overdue()
            chunk = raw.read1(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise _TooBig()
            parts.append(chunk)
    except BaseException:
        raw.close()
        raise
    raw.release_conn()
    return b"".join(parts)


def _seconds(value: float | None) -> str:
    return f"{value:g}s" if value else "none"


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, min(float(value or 1), MAX_RETRY_AFTER))
    except ValueError:
        return 1.0


class _ExecFailures:
    """Collects what the kubernetes client logs while it loads a kubeconfig: it logs a failing exec
    credential plugin (``logging.error``) and goes on without credentials."""

    def __enter__(self) -> "_ExecFailures":
        import logging

        self.messages: list[str] = []
        outer = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.levelno >= logging.ERROR:
                    outer.messages.append(" ".join(record.getMessage().split())[:300] or "no message")

        self._root = logging.getLogger()
        self._handler = Handler()
        self._saved = (self._root.handlers[:], self._root.level)
        self._root.handlers = [self._handler]  # nothing reaches stderr as a stray ERROR:root: line
        return self

    def __exit__(self, *exc) -> None:
        self._root.handlers, level = self._saved
        self._root.setLevel(level)


def _short(reason: Any) -> str:
    text = str(reason)
    # urllib3 wraps messages: "<urllib3.connection.HTTPConnection object at 0x..>: Failed to establish..."
    if ">: " in text:
        text = text.split(">: ", 1)[1]
    text = " ".join(text.split())
    # urllib3 nests reasons ("...(104, 'Connection reset by peer'))"): keep the parentheses balanced
    while text.count(")") > text.count("(") and text.endswith(")"):
        text = text[:-1].rstrip()
    text += ")" * max(0, text.count("(") - text.count(")"))
    return text or "connection failed"
