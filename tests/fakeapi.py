"""A small, fast fake Kubernetes API server for tests and benchmarks.

Stdlib only (PyYAML is imported lazily, inside :meth:`FakeApiServer.load_yaml`).
Serves read-only JSON on 127.0.0.1 from a background thread::

    with FakeApiServer() as api:
        api.load_yaml("slices.yaml")
        kubeconfig = api.write_kubeconfig(tmp_path)
        ...  # point kubectl / kubectl-dra / the kubernetes client at it

What it does, like a real kube-apiserver:

* discovery: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/resource.k8s.io``,
  ``/apis/resource.k8s.io/<v>`` (legacy, non-aggregated JSON; kubectl falls back to it);
* lists and gets of pods, nodes, namespaces, resourceslices, deviceclasses,
  resourceclaims, resourceclaimtemplates (namespaced and all-namespace lists);
  list items carry no ``kind``/``apiVersion``; ``limit``/``continue`` paging,
  ``remainingItemCount``, ``fieldSelector`` and ``labelSelector`` (equality and
  set-based);
* bearer-token auth when ``token`` is set. NOTE: kubectl (client-go) never sends
  credentials over plain ``http://`` (kubernetes/kubectl#744), so tests that run the
  real kubectl need ``FakeApiServer(token=None)``; the CLI defaults to no auth;
* ``Status`` error bodies (404 NotFound, 401 Unauthorized, 410 Expired, ...),
  injected failures (:meth:`FakeApiServer.fail`) and expired
  continue tokens (:meth:`FakeApiServer.expire_continue_tokens`); every request is
  recorded in :attr:`FakeApiServer.requests`.

* watches (``?watch=1|true`` on a collection, namespaced or cluster-wide, or on one object):
  a chunked stream of newline-delimited ``{"type": ..., "object": ...}`` events. Every add,
  replace and remove of a stored object is kept in a bounded event log under a new
  resourceVersion (ADDED / MODIFIED / DELETED, the latter with the last state);
  ``resourceVersion=N`` streams the events after N; none or ``"0"`` first sends a synthetic
  ADDED for each current object; a resourceVersion older than the log (or after
  :meth:`FakeApiServer.expire_watches`) gets one ``ERROR`` event carrying a 410 Expired
  Status ("too old resource version") and the stream ends; ``allowWatchBookmarks=true``
  adds BOOKMARK events every :attr:`FakeApiServer.bookmark_interval` seconds;
  ``timeoutSeconds`` ends the stream; ``fieldSelector``/``labelSelector`` apply as on a real
  server (an object that stops matching is reported DELETED, one that starts matching
  ADDED); :meth:`FakeApiServer.stop` ends open watches at once;
* creates (``POST`` to a collection): ``dryRun=All`` validates and stores nothing, an existing
  name is 409 AlreadyExists (never overwritten), a mismatched namespace 400, objects failing a
  registered validator (:meth:`FakeApiServer.add_validator`) 422 Invalid; created objects get
  ``uid``, ``creationTimestamp`` and ``resourceVersion`` and answer ``201``.

What it does not do: updates, patches and deletes over HTTP (the test process changes objects
with :meth:`FakeApiServer.add` / :meth:`FakeApiServer.update` / :meth:`FakeApiServer.remove`),
``sendInitialEvents`` (watch lists), API-version conversion (objects are served as stored, at
whatever served ``resource.k8s.io`` version is requested), server-side Tables
(``as=Table`` requests get the plain list), protobuf, aggregated discovery,
OpenAPI.

Every stored object is serialized once (when added), and list pages are built by
joining those bytes, so 40,000 devices in pages of 500 are cheap to serve.

CLI, for benchmarks that need the server in another process::

    python tests/fakeapi.py --load FILE_OR_DIR [...] [--versions v1,v1beta2] [--port 0]
        [--lifetime 600] [--kubeconfig-out PATH] [--token T] [--page-size-cap N]

prints the URL (one line) on stdout once it is serving, then serves until the
lifetime ends or SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import contextlib
import json
import pathlib
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "FakeApiServer",
    "Request",
    "ResourceType",
    "RESOURCE_GROUP",
    "RESOURCE_VERSIONS",
    "EXPIRED_CONTINUE_MESSAGE",
    "WATCH_EVENT_TYPES",
    "Fault",
    "main",
]

RESOURCE_GROUP = "resource.k8s.io"
#: Every resource.k8s.io version the fake knows, newest first (discovery order).
RESOURCE_VERSIONS = ("v1", "v1beta2", "v1beta1", "v1alpha3")

EXPIRED_CONTINUE_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)

#: the ``type`` values of watch events
WATCH_EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR")

VERSION_INFO = {
    "major": "1",
    "minor": "36",
    "emulationMajor": "1",
    "emulationMinor": "36",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "35",
    "gitVersion": "v1.36.0-fake",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
_DEFAULT_MESSAGES = {
    401: "Unauthorized",
    403: "forbidden",
    404: "the server could not find the requested resource",
    405: "the server does not allow this method on the requested resource",
    410: EXPIRED_CONTINUE_MESSAGE,
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: injected failure",
    503: "the server is currently unable to handle the request",
    504: "the server was unable to return a response in the time allotted",
}


@dataclass(frozen=True)
class ResourceType:
    """One servable resource: ``group`` is "" for the core API."""

    group: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    advertised: bool = True  # listed in discovery

    @property
    def qualified(self) -> str:  # "resourceclaims.resource.k8s.io" / "pods"
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def discovery(self) -> dict:
        d = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ["get", "list", "watch"],
        }
        if self.short_names:
            d["shortNames"] = list(self.short_names)
        return d


_BUILTIN_TYPES = (
    ResourceType("", "Pod", "pods", "pod", True, ("po",)),
    ResourceType("", "Node", "nodes", "node", False, ("no",)),
    ResourceType("", "Namespace", "namespaces", "namespace", False, ("ns",)),
    ResourceType(RESOURCE_GROUP, "ResourceSlice", "resourceslices", "resourceslice", False),
    ResourceType(RESOURCE_GROUP, "DeviceClass", "deviceclasses", "deviceclass", False),
    ResourceType(RESOURCE_GROUP, "ResourceClaim", "resourceclaims", "resourceclaim", True),
    ResourceType(RESOURCE_GROUP, "ResourceClaimTemplate", "resourceclaimtemplates",
                 "resourceclaimtemplate", True),
)


@dataclass
class Request:
    """One request as the fake received it."""

    method: str
    path: str  # unquoted path, without the query string
    query: dict[str, str]
    headers: dict[str, str]  # lower-case keys
    time: float = field(default_factory=time.monotonic)
    body: bytes = b""


class _Entry:
    __slots__ = ("key", "obj", "raw")

    def __init__(self, key: tuple[str, str], obj: dict, raw: bytes):
        self.key = key  # (namespace or "", name)
        self.obj = obj  # as stored, kind/apiVersion included
        self.raw = raw  # JSON of obj without kind/apiVersion (a list item)


class _Bucket:
    """All objects of one resource type, with a sorted snapshot for paging."""

    __slots__ = ("rtype", "entries", "_sorted")

    def __init__(self, rtype: ResourceType):
        self.rtype = rtype
        self.entries: dict[tuple[str, str], _Entry] = {}
        self._sorted: list[_Entry] | None = None

    def put(self, entry: _Entry) -> None:
        self.entries[entry.key] = entry
        self._sorted = None

    def snapshot(self) -> list[_Entry]:
        # Real servers list in etcd key order: namespace, then name.
        if self._sorted is None:
            self._sorted = [self.entries[k] for k in sorted(self.entries)]
        return self._sorted


class _Event:
    """One change in the watch log: ``obj`` is the new state (the last one for DELETED), ``old``
    the state before a MODIFIED (for selector transitions), ``raw`` the list-item JSON of ``obj``."""

    __slots__ = ("rv", "bucket", "type", "key", "obj", "old", "raw")

    def __init__(self, rv: int, bucket: tuple[str, str], type_: str, key: tuple[str, str], obj: dict,
                 old: dict | None, raw: bytes):
        self.rv, self.bucket, self.type, self.key = rv, bucket, type_, key
        self.obj, self.old, self.raw = obj, old, raw


class _WatchPlan:
    """A validated watch request, ready to be streamed by the handler."""

    __slots__ = ("bucket", "kind", "api_version", "namespace", "name", "match", "cursor", "initial",
                 "expired", "epoch", "bookmarks", "timeout")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


class _Failure:
    __slots__ = ("prefix", "code", "remaining", "retry_after", "message", "reason")

    def __init__(self, prefix, code, remaining, retry_after, message, reason):
        self.prefix, self.code, self.remaining = prefix, code, remaining
        self.retry_after, self.message, self.reason = retry_after, message, reason


class ApiError(Exception):
    """Raised inside request handling; becomes a ``Status`` response."""

    def __init__(self, code: int, message: str | None = None, *, reason: str | None = None,
                 details: dict | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message if message is not None else _DEFAULT_MESSAGES.get(code, "error")
        self.reason = reason if reason is not None else _REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def body(self) -> bytes:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details:
            status["details"] = self.details
        status["code"] = self.code
        return json.dumps(status, separators=(",", ":")).encode()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _pluralize(kind: str) -> str:
    k = kind.lower()
    if k.endswith("y") and not k.endswith(("ay", "ey", "oy", "uy")):
        return k[:-1] + "ies"
    if k.endswith(("s", "x", "z", "ch", "sh")):
        return k + "es"
    return k + "s"


def _field_value(obj: dict, path: str) -> str:
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
        if cur is None:
            return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, (dict, list)):
        return json.dumps(cur)
    return str(cur)


def _split_selector(sel: str) -> list[str]:
    terms, depth, cur = [], 0, []
    for ch in sel:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    terms.append("".join(cur))
    return [t.strip() for t in terms if t.strip()]


_EQ_RE = re.compile(r"^([^=!\s]+)\s*(==|=|!=)\s*(.*)$")
_SET_RE = re.compile(r"^([^=!\s(]+)\s+(in|notin)\s*\((.*)\)$")
_EXISTS_RE = re.compile(r"^(!?)\s*([^=!\s(]+)$")


def _parse_field_selector(sel: str):
    preds = []
    for term in _split_selector(sel):
        m = _EQ_RE.match(term)
        if not m:
            raise ApiError(400, f"invalid selector: '{sel}'; can't understand '{term}'")
        key, op, val = m.group(1), m.group(2), m.group(3).strip()
        preds.append((key, op != "!=", val))

    def match(obj: dict) -> bool:
        return all((_field_value(obj, k) == v) == eq for k, eq, v in preds)

    return match


def _parse_label_selector(sel: str):
    preds = []
    for term in _split_selector(sel):
        m = _SET_RE.match(term)
        if m:
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            key, op = m.group(1), m.group(2)
            if op == "in":
                preds.append(lambda lb, k=key, vs=values: k in lb and lb[k] in vs)
            else:
                preds.append(lambda lb, k=key, vs=values: k not in lb or lb[k] not in vs)
            continue
        m = _EQ_RE.match(term)
        if m:
            key, op, val = m.group(1), m.group(2), m.group(3).strip()
            if op == "!=":
                preds.append(lambda lb, k=key, v=val: lb.get(k) != v)
            else:
                preds.append(lambda lb, k=key, v=val: k in lb and lb[k] == v)
            continue
        m = _EXISTS_RE.match(term)
        if m:
            neg, key = m.group(1) == "!", m.group(2)
            preds.append(lambda lb, k=key, n=neg: (k in lb) != n)
            continue
        raise ApiError(400, f"unable to parse requirement: found '{term}'")

    def match(obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(p(labels) for p in preds)

    return match


class FakeApiServer:
    """A read-only fake kube-apiserver on 127.0.0.1 (see the module docstring)."""

    def __init__(self, *, resource_versions=("v1",), token: str | None = "test-token",
                 page_size_cap: int | None = None, port: int = 0, bookmark_interval: float = 1.0,
                 watch_log_size: int = 10000):
        self.token = token
        #: seconds between BOOKMARK events on watches that allow them
        self.bookmark_interval = bookmark_interval
        self.page_size_cap = page_size_cap
        self.port = port
        self.requests: list[Request] = []
        #: why each watch stream ended ("timeoutSeconds", "stopped", "expired"), in order: tests wait
        #: on this instead of measuring time
        self.watch_endings: list[str] = []
        #: BOOKMARK events written to watch streams so far
        self.bookmarks_sent = 0
        self._lock = threading.RLock()
        self._versions: tuple[str, ...] = ()
        self.serve_versions(resource_versions)
        self._types: dict[tuple[str, str], ResourceType] = {}  # (group, plural) -> type
        self._kinds: dict[tuple[str, str], ResourceType] = {}  # (group, kind) -> type
        for rt in _BUILTIN_TYPES:
            self.register_type(rt)
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._rv = 1000
        # watch state: a bounded log of changes; watches from a resourceVersion below the floor
        # (or opened before the epoch last changed) get 410 Expired
        self._cond = threading.Condition(self._lock)
        self._events: collections.deque[_Event] = collections.deque(maxlen=max(1, int(watch_log_size)))
        self._log_floor = self._rv
        self._watch_epoch = 0
        self._watch_expiring = 0
        self._stopping = False
        self._continue_expiring = False
        self._continue_expiry: int | None = None  # None: forever
        self._failures: list[_Failure] = []
        self._validators: list = []
        #: extra routes, tried in order after auth and injected failures: ``route(fake, req, handler)``
        #: answers the request itself and returns True, or returns False (tests/fakekubelet.py adds
        #: exec, logs, deletes and a simulated kubelet this way)
        self.routes: list = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url: str | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeApiServer":
        if self._httpd is not None:
            return self
        httpd = _Server(("127.0.0.1", self.port), _Handler)
        httpd.fake = self
        with self._cond:
            self._stopping = False
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fakeapi:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        with self._cond:  # open watches end now
            self._stopping = True
            self._cond.notify_all()
        httpd.shutdown()
        httpd.close_all_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeApiServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    # ------------------------------------------------------------------ configuration
    def serve_versions(self, versions) -> None:
        """Set which resource.k8s.io versions are served; [] = group not served at all."""
        versions = [versions] if isinstance(versions, str) else list(versions)
        unknown = [v for v in versions if v not in RESOURCE_VERSIONS]
        if unknown:
            raise ValueError(f"unknown resource.k8s.io version(s) {unknown}; known: {RESOURCE_VERSIONS}")
        with self._lock:
            self._versions = tuple(v for v in RESOURCE_VERSIONS if v in versions)

    @property
    def served_versions(self) -> tuple[str, ...]:
        return self._versions

    def register_type(self, rtype: ResourceType) -> None:
        """Serve another resource type (e.g. a CRD-like kind) at /api(s)/<group>/<any version>/<plural>."""
        with self._lock:
            self._types[(rtype.group, rtype.plural)] = rtype
            self._kinds[(rtype.group, rtype.kind)] = rtype

    def fail(self, path_prefix: str, code: int, *, times: int | None = 1, retry_after: int | None = None,
             message: str | None = None, reason: str | None = None) -> None:
        """Make the next ``times`` requests whose path starts with ``path_prefix`` fail with a Status.

        ``times=None`` fails every matching request until :meth:`clear_failures`. Rules are
        checked in the order they were added; the first matching rule is used.
        """
        if times is not None and times <= 0:
            return
        with self._lock:
            self._failures.append(_Failure(path_prefix, int(code), times, retry_after, message, reason))

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def expire_continue_tokens(self, *, times: int | None = None) -> None:
        """Make later requests that carry a continue token answer 410 Gone (reason Expired).

        ``times=None``: every such request from now on (until :meth:`restore_continue_tokens`);
        ``times=N``: only the next N of them (so a client that restarts its list can succeed).
        """
        with self._lock:
            self._continue_expiry = None if times is None else max(0, int(times))
            self._continue_expiring = times is None or times > 0

    def restore_continue_tokens(self) -> None:
        with self._lock:
            self._continue_expiring = False

    def expire_watches(self, *, times: int = 1, open_watches: bool = True) -> None:
        """Make watches fail with 410 Expired ("too old resource version"), as when a client falls
        behind the server's watch cache.

        The event log is forgotten, so a watch from any older resourceVersion gets an ``ERROR``
        event (410) and ends; ``open_watches`` also ends every open watch that way; the next
        ``times`` watch requests get it whatever resourceVersion they send. The client is
        expected to list again and watch from the list's resourceVersion.
        """
        with self._cond:
            self._events.clear()
            self._log_floor = self._rv
            self._watch_expiring = max(0, int(times))
            if open_watches:
                self._watch_epoch += 1
            self._cond.notify_all()

    @contextlib.contextmanager
    def atomically(self):
        """Changes made inside the block reach open watches together, after it: e.g. a change
        and :meth:`expire_watches`, so that the change falls into the client's 410 gap."""
        with self._cond:
            yield self

    @property
    def resource_version(self) -> int:
        """The newest resourceVersion (what a list would report now)."""
        with self._lock:
            return self._rv

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_to(self, path_prefix: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def add_validator(self, check) -> None:
        """``check(obj) -> str | None``: a message makes creates of that object fail 422 Invalid."""
        with self._lock:
            self._validators.append(check)

    # ------------------------------------------------------------------ data
    def add(self, *objs: dict) -> int:
        """Store Kubernetes objects (dicts); ``kind: List``/``*List`` objects add their items.

        Objects are stored by apiVersion group + kind, namespaced kinds by metadata.namespace
        (default "default"); an object with the same key replaces the old one (a MODIFIED watch
        event, under a new resourceVersion). A missing metadata.resourceVersion of a new object
        is filled in (a numeric one is kept, and the server's resourceVersion moves past it). Unknown kinds are stored too and served at
        /apis/<group>/<version>/[namespaces/<ns>/]<lowercase plural> (not advertised).
        The caller's dicts are not modified. Returns the number of objects stored.
        """
        with self._cond:
            return sum(self._add_one(obj, None) for obj in objs)

    def update(self, *objs: dict) -> int:
        """Replace stored objects (a MODIFIED watch event each, under a new resourceVersion).

        Like :meth:`add`, but every object must exist already (``KeyError`` otherwise, nothing
        stored). Returns the new resourceVersion.
        """
        with self._cond:
            for obj in objs:
                if self._find(obj) is None:
                    meta = obj.get("metadata") or {}
                    raise KeyError(f"{obj.get('kind')} {meta.get('namespace', '')}/{meta.get('name')} is not stored")
            for obj in objs:
                self._add_one(obj, None)
            return self._rv

    def _find(self, obj: dict) -> _Entry | None:
        kind, api_version = obj.get("kind"), obj.get("apiVersion") or ""
        meta = obj.get("metadata") or {}
        rtype = self._kinds.get((api_version.rpartition("/")[0], kind))
        if rtype is None:
            return None
        bucket = self._buckets.get((rtype.group, rtype.plural))
        key = ((meta.get("namespace") or "default") if rtype.namespaced else "", meta.get("name"))
        return bucket.entries.get(key) if bucket else None

    def _record_event(self, bucket: tuple[str, str], type_: str, entry: _Entry, old: dict | None = None) -> None:
        """Append to the watch log (lock held) and wake the watches."""
        if len(self._events) == self._events.maxlen:
            self._log_floor = self._events[0].rv  # that event is forgotten: watches from before it get 410
        self._events.append(_Event(self._rv, bucket, type_, entry.key, entry.obj, old, entry.raw))
        self._cond.notify_all()

    def _add_one(self, obj: dict, list_api_version: str | None) -> int:
        if obj is None:
            return 0
        if not isinstance(obj, dict):
            raise TypeError(f"expected a Kubernetes object (dict), got {type(obj).__name__}")
        kind = obj.get("kind")
        api_version = obj.get("apiVersion") or list_api_version
        if not isinstance(kind, (str, type(None))) or not isinstance(api_version, (str, type(None))):
            raise ValueError(f"kind/apiVersion must be strings: {str(obj)[:200]}")
        if kind and (kind == "List" or kind.endswith("List")) and isinstance(obj.get("items"), list):
            item_api = None if kind == "List" else api_version
            n = 0
            for item in obj["items"]:
                if kind != "List" and isinstance(item, dict) and not item.get("kind"):
                    item = {"kind": kind[: -len("List")], **item}
                n += self._add_one(item, item_api)
            return n
        if not kind or not api_version:
            raise ValueError(f"object without kind/apiVersion: {str(obj)[:200]}")
        group = api_version.rpartition("/")[0]
        meta = obj.get("metadata") or {}
        name = meta.get("name") if isinstance(meta, dict) else None
        if not name or not isinstance(name, str):
            raise ValueError(f"{kind} without metadata.name")
        rtype = self._kinds.get((group, kind))
        if rtype is None:
            plural = _pluralize(kind)
            rtype = ResourceType(group, kind, plural, kind.lower(), bool(meta.get("namespace")),
                                 advertised=False)
            self.register_type(rtype)
        obj = dict(obj)
        obj["apiVersion"] = api_version
        meta = dict(meta)
        if rtype.namespaced:
            meta.setdefault("namespace", "default")
        else:
            meta.pop("namespace", None)
        key = (meta.get("namespace", ""), name)
        bucket = self._buckets.get((group, rtype.plural))
        old = bucket.entries.get(key) if bucket is not None else None
        self._rv += 1
        if old is not None or "resourceVersion" not in meta:
            meta["resourceVersion"] = str(self._rv)  # a replacement always gets a new version
        elif str(meta["resourceVersion"]).isdigit() and int(meta["resourceVersion"]) > self._rv:
            self._rv = int(meta["resourceVersion"])  # resourceVersions only grow
        obj["metadata"] = meta
        item = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
        entry = _Entry(key, obj, _dumps(item))
        if bucket is None:
            bucket = self._buckets[(group, rtype.plural)] = _Bucket(rtype)
        bucket.put(entry)
        self._record_event((group, rtype.plural), "MODIFIED" if old is not None else "ADDED", entry,
                           old.obj if old is not None else None)
        return 1

    def remove(self, kind: str, name: str, namespace: str | None = None, *,
               group: str = RESOURCE_GROUP) -> bool:
        """Remove one object (``group=""`` for core kinds); returns whether it existed.

        Watches get a DELETED event with the object's last state (under a new resourceVersion).
        """
        with self._cond:
            rtype = self._kinds.get((group, kind))
            if rtype is None:
                return False
            bucket = self._buckets.get((group, rtype.plural))
            key = ((namespace or "default") if rtype.namespaced else "", name)
            if bucket is None or key not in bucket.entries:
                return False
            entry = bucket.entries.pop(key)
            bucket._sorted = None
            self._rv += 1
            self._record_event((group, rtype.plural), "DELETED", self._deleted(entry))
            return True

    def _deleted(self, entry: _Entry) -> _Entry:
        """The last state of a removed object, under the deletion's resourceVersion."""
        obj = dict(entry.obj)
        obj["metadata"] = {**(obj.get("metadata") or {}), "resourceVersion": str(self._rv)}
        item = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
        return _Entry(entry.key, obj, _dumps(item))

    def clear(self) -> None:
        """Forget all stored objects (a DELETED watch event each)."""
        with self._cond:
            buckets, self._buckets = self._buckets, {}
            self._rv += 1
            for bkey, bucket in buckets.items():
                for entry in bucket.snapshot():
                    self._rv += 1
                    self._record_event(bkey, "DELETED", self._deleted(entry))

    def objects(self, plural: str, *, group: str = RESOURCE_GROUP) -> list[dict]:
        """The stored objects of one resource (sorted by namespace/name)."""
        with self._lock:
            bucket = self._buckets.get((group, plural))
            return [e.obj for e in bucket.snapshot()] if bucket else []

    def load_yaml(self, path, *, strict: bool = True) -> int:
        """Add every object of a (multi-document) YAML file; returns the number of objects added.

        JSON files work too (JSON is YAML); ``*.json`` is parsed with the faster json module.
        ``strict=False`` skips documents that are not Kubernetes objects (no kind, apiVersion
        or metadata.name), e.g. the annotated fragments among the upstream fixtures.
        """
        path = pathlib.Path(path)
        if path.suffix == ".json":
            docs = [json.loads(path.read_bytes())]
        else:
            import yaml

            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            with path.open("rb") as f:
                docs = [d for d in yaml.load_all(f, Loader=loader) if d]
        n = 0
        with self._cond:
            for doc in docs:
                try:
                    n += self._add_one(doc, None)
                except (ValueError, TypeError):
                    if strict:
                        raise
        return n

    def load(self, path, *, strict: bool | None = None) -> int:
        """Load a YAML/JSON file, or every ``*.yaml``/``*.yml``/``*.json`` file under a directory.

        ``strict`` defaults to True for a file and False for a directory (see :meth:`load_yaml`).
        """
        path = pathlib.Path(path)
        if path.is_dir():
            n = 0
            for p in sorted(path.rglob("*")):
                if p.is_file() and p.suffix in (".yaml", ".yml", ".json"):
                    n += self.load_yaml(p, strict=bool(strict))
            return n
        return self.load_yaml(path, strict=True if strict is None else strict)

    # ------------------------------------------------------------------ kubeconfig
    def write_kubeconfig(self, directory, *, context: str = "fake", namespace: str | None = None,
                         extra_contexts=(), filename: str = "kubeconfig") -> pathlib.Path:
        """Write a kubeconfig (JSON, which is valid YAML) pointing at this server; returns its path.

        ``extra_contexts`` items are context names (same cluster and user) or dicts with
        ``name`` and optional ``namespace``, ``server`` (e.g. an unreachable URL) and
        ``token`` (e.g. a wrong one; ``None`` = no credentials).
        """
        if self.url is None:
            raise RuntimeError("start the server before writing a kubeconfig")
        cluster, user = "fake-cluster", "fake-user"
        clusters = [{"name": cluster, "cluster": {"server": self.url}}]
        users = [{"name": user, "user": {"token": self.token} if self.token is not None else {}}]

        def ctx(name, ns, cl=cluster, us=user):
            c = {"cluster": cl, "user": us}
            if ns:
                c["namespace"] = ns
            return {"name": name, "context": c}

        contexts = [ctx(context, namespace)]
        for extra in extra_contexts:
            if isinstance(extra, str):
                contexts.append(ctx(extra, None))
                continue
            name = extra["name"]
            cl, us = cluster, user
            if "server" in extra:
                cl = f"{name}-cluster"
                clusters.append({"name": cl, "cluster": {"server": extra["server"]}})
            if "token" in extra:
                us = f"{name}-user"
                users.append({"name": us, "user": {"token": extra["token"]} if extra["token"] is not None else {}})
            contexts.append(ctx(name, extra.get("namespace"), cl, us))
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": clusters,
            "users": users,
            "contexts": contexts,
            "current-context": context,
        }
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / filename
        path.write_text(json.dumps(config, indent=2) + "\n")
        return path

    # ------------------------------------------------------------------ scripted faults
    def script(self, path_prefix: str, fault: "Fault", *, times: int | None = None, watch: bool | None = None) -> None:
        """Answer requests whose path starts with ``path_prefix`` with ``fault`` (see :class:`Fault`).

        ``times=None``: every matching request; ``watch``: only watch requests (True), only
        non-watch requests (False), or both (None). The first matching script wins.
        """
        with self._lock:
            self.__dict__.setdefault("_scripts", []).append([path_prefix, fault, times, watch])

    def clear_scripts(self) -> None:
        with self._lock:
            self.__dict__.setdefault("_scripts", []).clear()

    def _scripted_fault(self, req: Request) -> "Fault | None":
        with self._lock:
            for rule in list(self.__dict__.get("_scripts", ())):
                prefix, fault, times, watch = rule
                is_watch = req.query.get("watch") in ("1", "true")
                if not req.path.startswith(prefix) or (watch is not None and watch != is_watch):
                    continue
                if times is not None:
                    rule[2] -= 1
                    if rule[2] <= 0:
                        self._scripts.remove(rule)
                return fault
        return None

    # ------------------------------------------------------------------ request handling
    def _record(self, req: Request) -> None:
        with self._lock:
            self.requests.append(req)

    def _check_injected(self, path: str) -> None:
        with self._lock:
            for f in self._failures:
                if path.startswith(f.prefix):
                    if f.remaining is not None:
                        f.remaining -= 1
                        if f.remaining <= 0:
                            self._failures.remove(f)
                    break
            else:
                return
        headers, details = {}, None
        if f.retry_after is not None:
            headers["Retry-After"] = str(f.retry_after)
            details = {"retryAfterSeconds": int(f.retry_after)}
        message = f.message
        if message is None and f.code == 403:
            message = f'forbidden: User "system:serviceaccount:default:fake" cannot get path "{path}"'
        raise ApiError(f.code, message, reason=f.reason, details=details, headers=headers)

    def _handle(self, req: Request) -> bytes | _WatchPlan:
        """Route a GET; returns the JSON body of a 200 answer (a plan to stream for a watch) or raises ApiError."""
        path = req.path.rstrip("/") or "/"
        if path == "/version":
            return _dumps(VERSION_INFO)
        if path == "/api":
            return _dumps({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}]})
        if path == "/apis":
            return _dumps(self._group_list())
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) >= 2:
            if parts[1] != "v1":
                raise ApiError(404)
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 2:
            group = parts[1]
            if len(parts) == 2:
                return _dumps(self._api_group(group))
            version, rest = parts[2], parts[3:]
            if group == RESOURCE_GROUP and version not in self._versions:
                raise ApiError(404)
            if group != RESOURCE_GROUP and not self._has_group(group):
                raise ApiError(404)
        else:
            raise ApiError(404)
        if not rest:
            return _dumps(self._resource_list(group, version))
        if req.query.get("watch") in ("1", "true"):
            return self._watch(req, group, version, rest)
        return self._serve_resource(req, group, version, rest)

    def _create(self, req: Request) -> bytes:
        """POST to a collection: validate, refuse to overwrite, store unless ``dryRun=All``."""
        parts = [unquote(p) for p in req.path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) >= 3 and parts[1] == "v1":
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
            if group == RESOURCE_GROUP and version not in self._versions:
                raise ApiError(404)
        else:
            raise ApiError(405)
        namespace = None
        if rest[0] == "namespaces" and len(rest) == 3:
            namespace, rest = rest[1], rest[2:]
        rtype = self._types.get((group, rest[0]))
        if rtype is None or len(rest) != 1 or (namespace is None) == rtype.namespaced:
            raise ApiError(405 if rtype is not None else 404)
        try:
            obj = json.loads(req.body or b"null")
        except ValueError as err:
            raise ApiError(400, f"the body of the request was in an unknown format: {err}", reason="BadRequest") from None
        if not isinstance(obj, dict):
            raise ApiError(400, "the body of the request was in an unknown format", reason="BadRequest")
        api_version = f"{group}/{version}" if group else version
        if obj.get("kind") != rtype.kind or obj.get("apiVersion") != api_version:
            raise ApiError(400, f"the API version in the data ({obj.get('apiVersion')}) does not match the expected "
                                f"API version ({api_version}) or the kind ({obj.get('kind')}) is not {rtype.kind}",
                           reason="BadRequest")
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(422, f'{rtype.kind} "" is invalid: metadata.name: Required value: name or generateName is required')
        if namespace is not None and meta.get("namespace") not in (None, "", namespace):
            raise ApiError(400, "the namespace of the provided object does not match the namespace sent on the request",
                           reason="BadRequest")
        with self._lock:
            validators = list(self._validators)
        for check in validators:
            problem = check(obj)
            if problem:
                raise ApiError(422, f'{rtype.kind} "{name}" is invalid: {problem}',
                               details={"name": name, "group": group, "kind": rtype.kind})
        key = (namespace or "", name)
        with self._cond:
            bucket = self._buckets.get((group, rtype.plural))
            if bucket is not None and key in bucket.entries:
                raise ApiError(409, f'{rtype.qualified} "{name}" already exists', reason="AlreadyExists",
                               details={"name": name, "group": group, "kind": rtype.plural})
            stored = dict(obj)
            stored["metadata"] = {**meta, "uid": f"fake-{self._rv + 1:08d}", "creationTimestamp": _now(),
                                  "resourceVersion": str(self._rv + 1)}
            if namespace is not None:
                stored["metadata"]["namespace"] = namespace
            if req.query.get("dryRun") != "All":
                self._add_one(stored, None)
        return _dumps(stored)

    def _watch(self, req: Request, group: str, version: str, rest: list[str]) -> _WatchPlan:
        """Validate a watch request; the handler streams the returned plan (:meth:`_stream_watch`)."""
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            rt = self._types.get((group, rest[2]))
            if rt is not None and rt.namespaced:
                namespace, rest = rest[1], rest[2:]
        rtype = self._types.get((group, rest[0]))
        if rtype is None or len(rest) > 2 or (namespace is None and len(rest) == 2 and rtype.namespaced):
            raise ApiError(404)
        name = rest[1] if len(rest) == 2 else None
        q = req.query
        predicates = []
        if q.get("fieldSelector"):
            predicates.append(_parse_field_selector(q["fieldSelector"]))
        if q.get("labelSelector"):
            predicates.append(_parse_label_selector(q["labelSelector"]))

        def match(obj: dict) -> bool:
            meta = obj.get("metadata") or {}
            if namespace is not None and meta.get("namespace") != namespace:
                return False
            if name is not None and meta.get("name") != name:
                return False
            return all(p(obj) for p in predicates)

        timeout = None
        if q.get("timeoutSeconds"):
            try:
                timeout = max(0.0, float(q["timeoutSeconds"]))
            except ValueError:
                raise ApiError(400, f"invalid timeoutSeconds {q['timeoutSeconds']!r}") from None
        rv_text = q.get("resourceVersion") or "0"
        if not rv_text.isdigit():
            raise ApiError(400, f"invalid resource version {rv_text!r}")
        bucket_key = (group, rtype.plural)
        with self._cond:
            expired = False
            if self._watch_expiring:
                self._watch_expiring -= 1
                expired = True
            initial: list[_Event] = []
            if rv_text == "0":
                cursor = self._rv
                bucket = self._buckets.get(bucket_key)
                for entry in bucket.snapshot() if bucket else []:
                    if match(entry.obj):
                        initial.append(_Event(cursor, bucket_key, "ADDED", entry.key, entry.obj, None, entry.raw))
            else:
                cursor = int(rv_text)
                expired = expired or cursor < self._log_floor
            epoch = self._watch_epoch
        return _WatchPlan(bucket=bucket_key, kind=rtype.kind, api_version=f"{group}/{version}" if group else version,
                          namespace=namespace, name=name, match=match, cursor=cursor, initial=initial,
                          expired=expired, epoch=epoch, bookmarks=q.get("allowWatchBookmarks") in ("1", "true"),
                          timeout=timeout)

    def _event_line(self, plan: _WatchPlan, type_: str, raw: bytes) -> bytes:
        head = _dumps({"kind": plan.kind, "apiVersion": plan.api_version})
        obj = head if raw == b"{}" else head[:-1] + b"," + raw[1:]
        return b'{"type":"' + type_.encode() + b'","object":' + obj + b"}\n"

    def _expired_line(self, plan: _WatchPlan, cursor: int) -> bytes:
        status = ApiError(410, f"too old resource version: {cursor} ({self._log_floor + 1})", reason="Expired")
        return b'{"type":"ERROR","object":' + status.body() + b"}\n"

    def _stream_watch(self, plan: _WatchPlan, write) -> bool:
        """Stream the events of ``plan`` through ``write(bytes)`` until the timeout, an expiry or
        stop(); returns False when the server is stopping (the connection should close)."""
        now = time.monotonic()
        deadline = now + plan.timeout if plan.timeout is not None else None
        interval = max(0.01, float(self.bookmark_interval))
        next_bookmark = now + interval if plan.bookmarks else None
        cursor = plan.cursor
        if plan.expired:
            write(self._expired_line(plan, cursor))
            self.watch_endings.append("expired")
            return True
        if plan.initial:
            write(b"".join(self._event_line(plan, "ADDED", e.raw) for e in plan.initial))
        while True:
            lines: list[bytes] = []
            with self._cond:
                while True:
                    if self._stopping:
                        self.watch_endings.append("stopped")
                        return False
                    if self._watch_epoch != plan.epoch or cursor < self._log_floor:
                        lines.append(self._expired_line(plan, cursor))
                        break
                    if self._events and self._events[-1].rv > cursor:
                        fresh = []
                        for event in reversed(self._events):
                            if event.rv <= cursor:
                                break
                            fresh.append(event)
                        for event in reversed(fresh):
                            type_ = self._visible(plan, event)
                            if type_:
                                lines.append(self._event_line(plan, type_, event.raw))
                        cursor = self._rv
                        if lines:
                            break
                        continue
                    cursor = max(cursor, self._rv) if cursor >= self._log_floor else cursor
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        self.watch_endings.append("timeoutSeconds")
                        return True
                    if next_bookmark is not None and now >= next_bookmark:
                        bookmark = {"kind": plan.kind, "apiVersion": plan.api_version,
                                    "metadata": {"resourceVersion": str(cursor)}}
                        lines.append(b'{"type":"BOOKMARK","object":' + _dumps(bookmark) + b"}\n")
                        self.bookmarks_sent += 1
                        next_bookmark = now + interval
                        break
                    wait = min(t for t in (deadline, next_bookmark, now + 1.0) if t is not None) - now
                    self._cond.wait(max(0.001, wait))
            write(b"".join(lines))
            if lines[-1].startswith(b'{"type":"ERROR"'):
                self.watch_endings.append("expired")
                return True

    @staticmethod
    def _visible(plan: _WatchPlan, event: _Event) -> str | None:
        """The event type a watch with this plan sees (selectors turn edges into ADDED/DELETED)."""
        if event.bucket != plan.bucket:
            return None
        now = plan.match(event.obj)
        if event.type != "MODIFIED":
            return event.type if now else None
        before = event.old is not None and plan.match(event.old)
        if now:
            return "MODIFIED" if before else "ADDED"
        return "DELETED" if before else None

    def _has_group(self, group: str) -> bool:
        with self._lock:
            return any(g == group for g, _ in self._types if g)

    def _group_entry(self, group: str) -> dict | None:
        if group == RESOURCE_GROUP:
            versions = list(self._versions)
        elif self._has_group(group):
            versions = ["v1"]
        else:
            versions = []
        if not versions:
            return None
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}

    def _group_list(self) -> dict:
        entry = self._group_entry(RESOURCE_GROUP)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [entry] if entry else []}

    def _api_group(self, group: str) -> dict:
        entry = self._group_entry(group)
        if entry is None:
            raise ApiError(404)
        return {"kind": "APIGroup", "apiVersion": "v1", **entry}

    def _resource_list(self, group: str, version: str) -> dict:
        with self._lock:
            resources = [rt.discovery() for rt in self._types.values() if rt.group == group and rt.advertised]
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

    def _serve_resource(self, req: Request, group: str, version: str, rest: list[str]) -> bytes:
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            rt = self._types.get((group, rest[2]))
            if rt is not None and rt.namespaced:
                namespace, rest = rest[1], rest[2:]
        rtype = self._types.get((group, rest[0]))
        if rtype is None or (namespace is None and len(rest) > 1 and rtype.namespaced):
            # a namespaced object needs /namespaces/<ns>/ in its get path
            raise ApiError(404)
        if len(rest) == 1:
            return self._list(req, rtype, group, version, namespace)
        if len(rest) == 2 or (len(rest) == 3 and rest[2] == "status"):
            return self._get(rtype, group, version, namespace, rest[1])
        raise ApiError(404)

    def _get(self, rtype: ResourceType, group: str, version: str, namespace: str | None, name: str) -> bytes:
        key = (namespace or "", name)
        with self._lock:
            bucket = self._buckets.get((group, rtype.plural))
            entry = bucket.entries.get(key) if bucket else None
        if entry is None:
            details = {"name": name}
            if group:
                details["group"] = group
            details["kind"] = rtype.plural
            raise ApiError(404, f'{rtype.qualified} "{name}" not found', details=details)
        api_version = f"{group}/{version}" if group else version
        head = _dumps({"kind": rtype.kind, "apiVersion": api_version})
        raw = entry.raw
        if raw == b"{}":
            return head
        return head[:-1] + b"," + raw[1:]

    def _list(self, req: Request, rtype: ResourceType, group: str, version: str, namespace: str | None) -> bytes:
        q = req.query
        with self._lock:
            rv = self._rv
            expired = False
            if q.get("continue") and self._continue_expiring:
                expired = True
                if self._continue_expiry is not None:
                    self._continue_expiry -= 1
                    self._continue_expiring = self._continue_expiry > 0
            bucket = self._buckets.get((group, rtype.plural))
            entries = bucket.snapshot() if bucket else []

        offset = 0
        token = q.get("continue")
        if token:
            try:
                padded = token + "=" * (-len(token) % 4)
                state = json.loads(base64.urlsafe_b64decode(padded.encode()))
                offset, token_rv = int(state["o"]), int(state["rv"])
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise ApiError(400, f"continue key is not valid: {token!r}") from None
            if expired:
                raise ApiError(410, EXPIRED_CONTINUE_MESSAGE, reason="Expired")
            rv = token_rv  # like the real server: later pages report the first page's resourceVersion

        selecting = False
        if namespace is not None:
            entries = [e for e in entries if e.key[0] == namespace]
        fs = q.get("fieldSelector")
        if fs:
            match = _parse_field_selector(fs)
            entries = [e for e in entries if match(e.obj)]
            selecting = True
        ls = q.get("labelSelector")
        if ls:
            match = _parse_label_selector(ls)
            entries = [e for e in entries if match(e.obj)]
            selecting = True

        limit = 0
        if q.get("limit"):
            try:
                limit = max(0, int(q["limit"]))
            except ValueError:
                raise ApiError(400, f"invalid limit {q['limit']!r}") from None
        if self.page_size_cap:
            limit = min(limit, self.page_size_cap) if limit else self.page_size_cap

        total = len(entries)
        end = min(total, offset + limit) if limit else total
        page = entries[offset:end]
        meta = {"resourceVersion": str(rv)}
        if end < total:
            state = {"o": end, "rv": rv}
            meta["continue"] = base64.urlsafe_b64encode(_dumps(state)).decode().rstrip("=")
            if not selecting:
                meta["remainingItemCount"] = total - end
        api_version = f"{group}/{version}" if group else version
        head = _dumps({"kind": rtype.kind + "List", "apiVersion": api_version, "metadata": meta})
        return b"".join((head[:-1], b',"items":[', b",".join([e.raw for e in page]), b"]}"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeApiServer

    def __init__(self, *args, **kwargs):
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def track(self, sock: socket.socket, add: bool) -> None:
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(sock)

    def close_all_connections(self) -> None:
        """Close kept-alive client connections so that nothing is served after stop()."""
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):  # quiet: clients hang up all the time
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeapi/1"
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def setup(self):
        super().setup()
        # as a real API server (Go sets it on every TCP connection): without it the body, written
        # after the headers, waits for the client's delayed ACK of them (~40 ms) on some requests
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not TCP (a Unix socket)
            pass
        self.server.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format, *args):  # no per-request stderr lines
        pass

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _dispatch(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=unquote(split.path),
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        fake._record(req)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            req.body = self.rfile.read(length)
        code = 200
        scripted = fake._scripted_fault(req)  # tests/fakeapi.py "scripted faults"
        if scripted is not None:
            scripted.serve(self, fake, req)
            return
        try:
            if fake.token is not None and req.headers.get("authorization") != f"Bearer {fake.token}":
                raise ApiError(401)
            fake._check_injected(req.path)
            for route in list(fake.routes):
                if route(fake, req, self):
                    return
            if self.command == "POST":
                code, body = 201, fake._create(req)
            elif self.command not in ("GET", "HEAD"):
                raise ApiError(405, f"the fake API server cannot {self.command} (only GET and create)")
            else:
                body = fake._handle(req)
        except ApiError as e:
            self._send(e.code, e.body(), e.headers)
            return
        except Exception as e:  # a bug in the fake: still answer like a server would
            self._send(500, ApiError(500, f"fakeapi: {type(e).__name__}: {e}").body())
            return
        if isinstance(body, _WatchPlan):
            self._watch(fake, body)
            return
        self._send(code, body)

    def _watch(self, fake: FakeApiServer, plan: _WatchPlan) -> None:
        """A chunked, newline-delimited JSON event stream, as kube-apiserver sends it."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

        def write(data: bytes) -> None:
            if data:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

        if self.command == "HEAD":
            self.close_connection = True
            return
        try:
            if not fake._stream_watch(plan, write):
                self.close_connection = True  # the server is stopping
                return
            self.wfile.write(b"0\r\n\r\n")
        except (ConnectionError, OSError):  # the client went away
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch



# ---------------------------------------------------------------------- scripted faults
class Fault:
    """A scripted misbehaviour of the fake server (:meth:`FakeApiServer.script`).

    ``kind`` is one of:

    * ``status``: answer ``code`` with ``body`` (default: a Status of that code);
    * ``body``: answer 200 with the raw ``body``;
    * ``truncate``: announce ``len(body) + 1000`` bytes, send ``body`` and hang up;
    * ``hang``: read the request, then send nothing until the server stops;
    * ``drip``: send the headers of a 200 and then one byte of ``body`` every ``delay`` seconds;
    * ``reset``: close the connection at once with a TCP reset;
    * ``mutate``: the normal answer, its JSON passed through ``transform(value) -> value``;
    * ``continue-loop``: the normal list answer, with ``metadata.continue`` always the same token;
    * ``watch-close``: a 200 watch stream that ends at once with no events;
    * ``watch-stall``: the headers of a 200 watch stream, then nothing;
    * ``watch-lines``: a 200 watch stream of the raw ``lines`` (bytes, one event each), then the end;
    * ``watch-flood``: ``count`` copies of the first line of ``lines``, then the end.
    """

    def __init__(self, kind: str, *, code: int = 200, body: bytes | None = None, delay: float = 0.5,
                 transform=None, lines: list[bytes] | None = None, count: int = 100000) -> None:
        self.kind, self.code, self.body, self.delay = kind, code, body, delay
        self.transform, self.lines, self.count = transform, lines or [], count
        #: requests answered with this fault
        self.hits = 0

    def __repr__(self) -> str:
        return f"Fault({self.kind!r})"

    def serve(self, handler: "_Handler", fake: FakeApiServer, req: Request) -> None:
        self.hits += 1
        kind = self.kind
        if kind == "status":
            handler._send(self.code, self.body if self.body is not None else ApiError(self.code).body())
        elif kind == "body":
            handler._send(self.code, self.body or b"")
        elif kind == "truncate":
            body = self.body or b'{"kind":"ResourceSliceList","items":[{"metadata":'
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body) + 1000))
            handler.end_headers()
            handler.wfile.write(body)
            handler.wfile.flush()
            handler.close_connection = True
        elif kind in ("hang", "watch-stall"):
            if kind == "watch-stall":
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Transfer-Encoding", "chunked")
                handler.end_headers()
                handler.wfile.flush()
            with fake._cond:
                while not fake._stopping:
                    fake._cond.wait(0.2)
            handler.close_connection = True
        elif kind == "drip":
            body = self.body or b'{"kind":"Status"}'
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            for i in range(len(body)):
                if fake._stopping:
                    break
                handler.wfile.write(body[i:i + 1])
                handler.wfile.flush()
                time.sleep(self.delay)
            handler.close_connection = True
        elif kind == "reset":
            import struct

            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            handler.connection.close()
        elif kind in ("mutate", "continue-loop"):
            if kind == "continue-loop":
                req.query.pop("continue", None)  # every page is the first one, with the same token
            try:
                body = fake._create(req) if req.method == "POST" else fake._handle(req)
                if isinstance(body, _WatchPlan):
                    raise ApiError(400, "scripted fault: not for watches")
            except ApiError as e:
                handler._send(e.code, e.body(), e.headers)
                return
            value = json.loads(body)
            if kind == "continue-loop":
                if isinstance(value, dict):
                    value.setdefault("metadata", {})["continue"] = "c2FtZQ"
            else:
                value = self.transform(value)
            handler._send(200, _dumps(value))
        elif kind.startswith("watch-"):
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()

            def write(data: bytes) -> None:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

            try:
                if kind == "watch-lines":
                    for line in self.lines:
                        write(line.rstrip(b"\n") + b"\n")
                elif kind == "watch-flood":
                    line = (self.lines[0] if self.lines else b'{"type":"BOOKMARK","object":{"kind":"X","apiVersion":"v1",'
                            b'"metadata":{"resourceVersion":"1"}}}').rstrip(b"\n") + b"\n"
                    block = line * 1000
                    for _ in range(max(1, self.count // 1000)):
                        if fake._stopping:
                            break
                        write(block)
                handler.wfile.write(b"0\r\n\r\n")
            except (ConnectionError, OSError):
                pass
            handler.close_connection = True
        else:  # pragma: no cover - a typo in a test
            raise ValueError(f"unknown fault kind {kind!r}")


# ---------------------------------------------------------------------- CLI
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Serve a fake Kubernetes API on 127.0.0.1 (read-only).")
    p.add_argument("--load", nargs="+", action="extend", default=[], metavar="FILE_OR_DIR",
                   help="YAML/JSON files or directories of them to serve")
    p.add_argument("--versions", default="v1",
                   help="comma-separated resource.k8s.io versions to serve (default v1; '' = none)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--lifetime", type=float, default=600.0, help="seconds to serve (default 600)")
    p.add_argument("--kubeconfig-out", type=pathlib.Path, help="write a kubeconfig for the server here")
    p.add_argument("--context", default="fake", help="context name in the written kubeconfig")
    p.add_argument("--namespace", help="namespace of the kubeconfig context")
    p.add_argument("--token", default=None,
                   help="require 'Authorization: Bearer TOKEN' (default: no auth, because kubectl never "
                        "sends credentials over plain http; our own client and the kubernetes package do)")
    p.add_argument("--no-auth", action="store_true", help="accept requests without a token (the default)")
    p.add_argument("--page-size-cap", type=int, help="cap every list page at this many items")
    args = p.parse_args(argv)

    versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    api = FakeApiServer(resource_versions=versions, token=None if args.no_auth else args.token,
                        page_size_cap=args.page_size_cap, port=args.port)
    for path in args.load:
        api.load(path)
    done = threading.Event()

    def on_signal(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with api:
        if args.kubeconfig_out:
            out = args.kubeconfig_out
            api.write_kubeconfig(out.parent, context=args.context, namespace=args.namespace,
                                 filename=out.name)
        sys.stdout.write(api.url + "\n")
        sys.stdout.flush()
        done.wait(args.lifetime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
