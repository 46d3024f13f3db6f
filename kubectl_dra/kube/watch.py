"""Following a live cluster through the API's watch, for ``list -w`` and ``claims -w``.

One thread per watched collection lists it (keeping the list's ``resourceVersion``) and then
watches from that version, feeding a queue. The caller's thread (:meth:`ClusterWatch.follow`)
applies the events to its own copy of the objects, waits ~20 ms for more to arrive together,
updates the model and diffs what the command shows against the previous state, so each batch of
events yields one list of :class:`Change` — the DRA lifecycle as a timeline, not a poll. A batch
of slice, claim and pod events updates the model in place at the cost of the change
(:meth:`Cluster.patch`: the pools of the slices changed are rebuilt from their slices — newest
generation, completeness, counters — and the devices those claims hold or held are joined anew;
the command's ``partial`` snapshot diffs only those); a re-list or a DeviceTaintRule event
rebuilds it (a fresh ``Cluster``, re-decoding only the objects that changed).

Semantics, as client-go's reflector has them:

* BOOKMARK events only move the thread's resourceVersion on; they change nothing.
* A stream that ends (the server's ``timeoutSeconds``, a load balancer) is resumed from the last
  resourceVersion seen, so nothing is missed and nothing is replayed.
* 410 Gone (``WatchExpired``: the server no longer has the changes since our version) makes
  that thread list again and hand the whole list over; the caller replaces its copy of that
  collection and diffs as usual, so changes made during the gap are still reported.
* A broken connection is retried with backoff; when it keeps failing, or RBAC refuses, the
  error reaches the caller's thread as a ``ClusterError`` (exit 4).

Nothing here prints.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Hashable, Iterator, Mapping, Sequence

from kubectl_dra.errors import ClusterError, DraError, NotFoundError
from kubectl_dra.model.claim import Claim, Pod
from kubectl_dra.model.cluster import Cluster
from kubectl_dra.model.decode import DecodeError, UnsupportedVersion, decode
from kubectl_dra.model.slices import ResourceSlice

if TYPE_CHECKING:
    from kubectl_dra.kube.source import SourceOptions

#: events arriving within this long of the first one are applied together (short: a change is
#: applied at the cost of the change, and printed within ~50 ms of its event)
BATCH_SECONDS = 0.02
#: the server ends each watch after a random time in this range (client-go's reflector: 5-10 min)
WATCH_TIMEOUT = (300, 600)
#: waits before reconnecting a broken watch (each with up to 50% jitter added); when they are used up
#: the error is reported (exit 4)
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
#: a watch stream that ends sooner than this after it opened, with no event, counts as a failure:
#: a server (or proxy) that closes every stream at once would otherwise be reconnected in a tight loop
QUICK_END_SECONDS = 1.0
#: a collection that expires this many times in a row without a single event gives up
MAX_EXPIRIES = 5
PAGE = 500

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


@dataclass(frozen=True)
class Resource:
    """One collection to follow: ``key`` names it among the watched ones (unique)."""

    key: str
    path: str
    what: str
    field_selector: str | None = None
    #: refused (403) or not served (404): followed as empty; when ``warning`` (what is missing) is set,
    #: it is reported once after the server's error
    optional: bool = False
    warning: str | None = None


@dataclass(frozen=True)
class Change:
    """One row of the timeline: ``value`` is the new payload, or the last one for DELETED."""

    type: str
    key: Hashable
    value: Any


# ------------------------------------------------------------------ messages from the threads


@dataclass
class _Events:
    resource: str
    events: list[tuple[str, dict]]


@dataclass
class _Listed:
    resource: str
    items: list[dict]
    #: True after a 410 Gone (a re-list), False for the first list
    relist: bool = False


@dataclass
class _Failed:
    resource: str
    error: DraError


@dataclass
class _Unavailable:
    resource: str
    warning: str | None


def _key(obj: dict) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def diff(before: Mapping[Hashable, tuple[Any, Any]], after: Mapping[Hashable, tuple[Any, Any]]) -> list[Change]:
    """Changes between two snapshots of ``key -> (signature, payload)``.

    A key only in ``after`` is ADDED, in both with a different signature MODIFIED, only in
    ``before`` DELETED (with the old payload). Order: ``after``'s order, then the deleted ones in
    ``before``'s order.
    """
    changes = []
    for key, (signature, payload) in after.items():
        old = before.get(key)
        if old is None:
            changes.append(Change(ADDED, key, payload))
        elif old[0] != signature:
            changes.append(Change(MODIFIED, key, payload))
    for key, (_, payload) in before.items():
        if key not in after:
            changes.append(Change(DELETED, key, payload))
    return changes


@dataclass(frozen=True)
class Patch:
    """What a batch of slice, claim and pod events changed in a model updated in place: ``claims``,
    every claim touched (its own event, a pod naming it, or a slice publishing a device it holds) by
    (namespace, name) -> the claim now (None: deleted or not decodable), ``views``, the device views
    recomputed or new, ``removed``, those of the devices gone (see :class:`Cluster.patch`)."""

    claims: Mapping[tuple[str, str], Any]
    views: Sequence[Any]
    #: the views of devices no longer published (as they were, in the listing's order before)
    removed: Sequence[Any] = ()
    #: device key -> its place in the listing before (``Cluster.listing_key``), for the devices of
    #: the pools rebuilt; a device not in it kept its place
    old_order: Mapping[tuple[str, str, str], tuple] = field(default_factory=dict)


@dataclass
class ClusterWatch:
    """Keeps a model of some collections of a live cluster up to date (see the module docstring).

    ``base`` is the cluster from discovery (``client``, served version, namespace, and whatever
    is not watched, e.g. DeviceClasses): each rebuilt model starts from a copy of it.
    """

    base: Cluster
    resources: Sequence[Resource]
    batch_seconds: float = BATCH_SECONDS
    bookmarks: bool = True
    watch_timeout: tuple[int, int] = WATCH_TIMEOUT
    retry_delays: Sequence[float] = RETRY_DELAYS
    #: warnings about collections that could not be followed
    warnings: list[str] = field(default_factory=list)
    _queue: "queue.Queue[Any]" = field(default_factory=queue.Queue, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _objects: dict[str, dict[tuple[str, str], dict]] = field(default_factory=dict, repr=False)
    _decoded: dict[str, dict[tuple[str, str], tuple[dict, Any]]] = field(default_factory=dict, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)
    #: since the last model: the keys of the objects changed per collection, and whether only a
    #: rebuild will do (a re-list); see :meth:`_refresh`
    _touched: dict[str, dict[tuple[str, str], bool]] = field(default_factory=dict, repr=False)
    _rebuild: bool = field(default=False, repr=False)

    # ------------------------------------------------------------------ the caller's side

    def follow(
        self,
        snapshot: Callable[[Cluster], Mapping[Hashable, tuple[Any, Any]]],
        partial: "Callable[[Cluster, Patch], list[tuple[Hashable, tuple[Any, Any] | None]] | None] | None" = None,
    ) -> Iterator[tuple[Cluster, list[Change]]]:
        """Yield ``(model, changes)``: first the initial model with an ADDED change for every key
        of its snapshot, then one item per batch of events that changed the snapshot, or the
        model's warnings (``changes`` empty then), or rebuilt the model.

        ``snapshot(model)`` returns ``key -> (signature, payload)`` for what the command shows;
        a key whose signature differs from the last snapshot is MODIFIED. Blocks between
        batches; a watch that fails for good raises its ``ClusterError`` here.

        ``partial(model, patch)``, where given, is the snapshot of only what a :class:`Patch`
        touched (slices, claims and pods changed; the model was updated in place): ``(key, entry)`` in
        the snapshot's order, ``entry`` None for a key no longer shown; None when it cannot tell
        (then the whole snapshot is taken). A batch then costs what it changed, not the cluster.
        """
        cluster = self.start()
        state = dict(snapshot(cluster))
        yield cluster, diff({}, state)
        warned = (cluster, len(cluster.warnings))
        for cluster, patch in self._updates(cluster):
            entries = partial(cluster, patch) if partial is not None and patch is not None else None
            if entries is None:
                new = dict(snapshot(cluster))
                changes = diff(state, new)
                state = new
            else:
                changes, gone = [], []
                for key, entry in entries:
                    old = state.get(key)
                    if entry is None:
                        if old is not None:
                            gone.append(Change(DELETED, key, old[1]))
                            del state[key]
                        continue
                    if old is None:
                        changes.append(Change(ADDED, key, entry[1]))
                    elif old[0] != entry[0]:
                        changes.append(Change(MODIFIED, key, entry[1]))
                    state[key] = entry
                changes.extend(gone)
            if changes or cluster is not warned[0] or len(cluster.warnings) != warned[1]:
                # a batch that changes nothing shown may still warn (a pool left incomplete): as it happens
                yield cluster, changes
            warned = (cluster, len(cluster.warnings))

    def start(self) -> Cluster:
        """List every collection (in parallel threads that then watch) and return the first model."""
        if self._threads:
            raise RuntimeError("this ClusterWatch was started already")
        waiting = {r.key for r in self.resources}
        for resource in self.resources:
            self._objects[resource.key] = {}
            thread = threading.Thread(target=self._follow, args=(resource,), name=f"watch:{resource.key}", daemon=True)
            self._threads.append(thread)
            thread.start()
        while waiting:
            message = self._next(None)
            self._apply(message)
            if isinstance(message, (_Listed, _Unavailable)):
                waiting.discard(message.resource)
        self._touched, self._rebuild = {}, False  # the first model has them all
        return self._build()

    def updates(self) -> Iterator[Cluster]:
        """Block until events arrive; yield the model (rebuilt, or updated in place) per batch that changed any object."""
        for cluster, _ in self._updates():
            yield cluster

    def _updates(self, cluster: Cluster | None = None) -> Iterator[tuple[Cluster, "Patch | None"]]:
        """Block until events arrive; per batch that changed any object, the model (``cluster``,
        the last one, updated in place, or a rebuilt one) and the :class:`Patch` it was updated by
        (None: rebuilt)."""
        while True:
            batch = [self._next(None)]
            deadline = time.monotonic() + self.batch_seconds
            while (left := deadline - time.monotonic()) > 0:
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            changed = False
            for message in batch:
                changed = self._apply(message) or changed
            if changed:
                cluster, patch = self._refresh(cluster)
                yield cluster, patch

    def stop(self) -> None:
        """Ask the threads to end (they are daemons: an exiting process does not wait for them)."""
        self._stop.set()

    def _next(self, timeout: float | None) -> Any:
        # short waits keep the main thread responsive to Ctrl-C
        while True:
            try:
                return self._queue.get(timeout=0.25 if timeout is None else timeout)
            except queue.Empty:
                if timeout is not None:
                    raise

    def _apply(self, message: Any) -> bool:
        """Apply one message to the copy of the objects; returns whether anything may have changed."""
        if isinstance(message, _Failed):
            self.stop()
            raise message.error
        if isinstance(message, _Unavailable):
            if message.warning:
                self.warnings.append(message.warning)
            return False
        objects = self._objects[message.resource]
        if isinstance(message, _Listed):
            self._objects[message.resource] = {_key(o): o for o in message.items}
            self._rebuild = True
            return True
        touched = self._touched.setdefault(message.resource, {})
        for type_, obj in message.events:
            key = _key(obj)
            touched[key] = touched.get(key, False) or type_ == DELETED  # True: deleted (maybe added again)
            if type_ == DELETED:
                objects.pop(key, None)
            else:
                objects[key] = obj
        return bool(message.events)

    def _refresh(self, cluster: Cluster | None) -> "tuple[Cluster, Patch | None]":
        """The model after the events applied since the last one: ``cluster`` updated in place
        when only slices, claims and pods changed (:meth:`Cluster.patch`: the pools of the slices
        changed, the devices of the claims changed), else (a re-list, DeviceTaintRules) a rebuilt one."""
        touched, self._touched = self._touched, {}
        rebuild, self._rebuild = self._rebuild, False
        if cluster is None or rebuild or any(key not in ("claims", "pods") and not key.startswith("slices") for key in touched):
            return self._build(), None
        removed: list[Any] = []
        added: list[Any] = []
        slice_keys = [r.key for r in self.resources if r.key.startswith("slices")]
        for resource in slice_keys:
            for key, deleted in touched.get(resource, {}).items():
                before = self._redecode(resource, key, cluster, deleted)
                after = self._decoded.get(resource, {}).get(key, (None, None))[1]
                if before is after:
                    continue
                if isinstance(before, ResourceSlice):
                    removed.append(before)
                if isinstance(after, ResourceSlice):
                    added.append(after)
        slices = None
        if any(touched.get(resource) for resource in slice_keys):
            slices = [s for resource in slice_keys for _, s in self._decoded.get(resource, {}).values()
                      if isinstance(s, ResourceSlice)]
        old: dict[tuple[str, str], Any] = {}
        new: dict[tuple[str, str], Any] = {}
        for key, deleted in touched.get("claims", {}).items():
            before = self._redecode("claims", key, cluster, deleted)
            old[key] = before if isinstance(before, Claim) else None
        claims_cache = self._decoded.get("claims", {})
        pods = cluster.pods
        if touched.get("pods"):
            named: dict[tuple[str, str], None] = {}
            for key, deleted in touched["pods"].items():
                before = self._redecode("pods", key, cluster, deleted)
                after = self._decoded.get("pods", {}).get(key, (None, None))[1]
                for pod in (before, after):
                    if isinstance(pod, Pod):
                        named.update(((pod.namespace, name), None) for name in pod.claim_names())
            for key in named:
                if key not in old:
                    current = claims_cache.get(key, (None, None))[1]
                    old[key] = current if isinstance(current, Claim) else None
            pods = [p for _, p in self._decoded.get("pods", {}).values() if isinstance(p, Pod)]
        for key in old:
            current = claims_cache.get(key, (None, None))[1]
            new[key] = current if isinstance(current, Claim) else None
        claims = [c for _, c in claims_cache.values() if isinstance(c, Claim)] if touched.get("claims") else cluster.claims
        patch = cluster.patch(claims, pods, [c for c in old.values() if c is not None],
                              [c for c in new.values() if c is not None],
                              slices=slices, removed_slices=removed, added_slices=added)
        if patch is None:
            return cluster, None
        for claim in patch.claims:  # their node and device columns may have changed
            new.setdefault((claim.namespace, claim.name), claim)
        return cluster, Patch(new, patch.views, patch.removed, patch.old_order)

    def _redecode(self, resource: str, key: tuple[str, str], cluster: Cluster, deleted: bool) -> Any:
        """Decode the object ``key`` of ``resource`` anew into the cache (dropped when deleted;
        one deleted and added again moves to the end, as in the objects); returns what was decoded
        before (None if nothing). A decode error warns, as a rebuild does."""
        cache = self._decoded.setdefault(resource, {})
        before = cache.get(key, (None, None))[1]
        obj = self._objects.get(resource, {}).get(key)
        if obj is None or deleted:
            cache.pop(key, None)
        if obj is not None and (key not in cache or cache[key][0] is not obj):
            try:
                cache[key] = (obj, decode(obj))
            except (DecodeError, UnsupportedVersion) as err:
                cache[key] = (obj, f"skipping {err.message}")
            if isinstance(cache[key][1], str):
                cluster.warnings.append(cache[key][1])
        return before

    def _build(self) -> Cluster:
        """A fresh model from the current objects; only changed objects are decoded again."""
        base = self.base
        cluster = Cluster(
            source=base.source,
            served_version=base.served_version,
            served_versions=base.served_versions,
            client=base.client,
            namespace=base.namespace,
            claims_namespace=base.claims_namespace,
            now=base.now,
            classes=list(base.classes),
            templates=list(base.templates),
            nodes=list(base.nodes),
            taint_rules=list(base.taint_rules),
        )
        cluster.warnings.extend(self.warnings)
        # only some nodes' slices are followed: claims on other nodes' pools are not "unpublished"
        cluster.slices_filtered = any(r.key.startswith("slices:") for r in self.resources)
        rules_changed = any(
            r.key.startswith("taintrules") and self._stale(r.key) for r in self.resources
        )
        for resource in self.resources:
            if rules_changed and resource.key.startswith("slices"):
                # DeviceTaintRules add taints to the decoded devices: start from clean ones
                self._decoded.pop(resource.key, None)
            self._add_decoded(cluster, resource.key)
        return cluster

    def _stale(self, key: str) -> bool:
        cache = self._decoded.get(key, {})
        objects = self._objects.get(key, {})
        return len(cache) != len(objects) or any(cache.get(k, (None,))[0] is not o for k, o in objects.items())

    def _add_decoded(self, cluster: Cluster, key: str) -> None:
        cache = self._decoded.get(key, {})
        fresh: dict[tuple[str, str], tuple[dict, Any]] = {}
        for obj_key, obj in self._objects.get(key, {}).items():
            cached = cache.get(obj_key)
            if cached is not None and cached[0] is obj:
                fresh[obj_key] = cached
            else:
                try:
                    fresh[obj_key] = (obj, decode(obj))
                except (DecodeError, UnsupportedVersion) as err:
                    fresh[obj_key] = (obj, f"skipping {err.message}")
            decoded = fresh[obj_key][1]
            if isinstance(decoded, str):
                cluster.warnings.append(decoded)
            elif decoded is not None:
                cluster.add(decoded)
        self._decoded[key] = fresh

    # ------------------------------------------------------------------ the threads

    def _follow(self, resource: Resource) -> None:
        """List, then watch from the list's version for as long as the process runs."""
        from kubectl_dra.kube.live import Forbidden, NotServed, WatchExpired

        live = self.base.client
        put = self._queue.put
        version: str | None = None
        listed = relist = False
        failures = expiries = 0
        while not self._stop.is_set():
            try:
                if not listed:
                    items, version = self._list(resource)
                    put(_Listed(resource.key, items, relist=relist))
                    listed, failures = True, 0
                low, high = self.watch_timeout
                events = live.watch(
                    resource.path,
                    what=resource.what,
                    resource_version=version,
                    field_selector=resource.field_selector,
                    timeout_seconds=random.randint(low, high),
                    bookmarks=self.bookmarks,
                )
                opened = time.monotonic()
                received = False
                for type_, obj in events:
                    received = True
                    failures = expiries = 0
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    if type_ != "BOOKMARK":
                        put(_Events(resource.key, [(type_, obj)]))
                    if self._stop.is_set():
                        return
                if not received and time.monotonic() - opened < QUICK_END_SECONDS:
                    raise ClusterError(f"the API server keeps closing the watch of {resource.what} at once",
                                       hint="a proxy or the server ends every watch; `kubectl get -w` will show the same")
            except WatchExpired as err:
                expiries += 1
                if expiries > MAX_EXPIRIES:
                    put(_Failed(resource.key, err))
                    return
                listed, relist = False, True  # list again: what changed meanwhile is diffed by the caller
            except (Forbidden, NotFoundError, NotServed) as err:
                if resource.optional and not relist and not listed:
                    put(_Unavailable(resource.key, f"{err.message}; {resource.warning}" if resource.warning else None))
                else:
                    put(_Failed(resource.key, err))
                return
            except DraError as err:
                if not listed and not relist:
                    put(_Failed(resource.key, err))  # the first list failed: report it at once
                    return
                failures += 1
                if failures > len(self.retry_delays):
                    put(_Failed(resource.key, err))
                    return
                delay = self.retry_delays[failures - 1]
                self._stop.wait(delay + random.uniform(0, delay / 2))  # jitter: many clients do not reconnect in step
            except Exception as err:  # a bug: end the command rather than a thread, silently
                put(_Failed(resource.key, DraError(f"internal error in the watch of {resource.what}: {type(err).__name__}: {err}")))
                return

    def _list(self, resource: Resource) -> tuple[list[dict], str]:
        """Every item (kind/apiVersion filled in) and the list's resourceVersion, page by page;
        an expired continue token restarts the list as one request."""
        from kubectl_dra.kube.live import MAX_PAGES, Forbidden, list_page

        live = self.base.client
        seen: set[str] = set()
        items: list[dict] = []
        token = ""
        limit = PAGE
        version = ""
        while True:
            query = [("limit", str(limit))] if limit else []
            if resource.field_selector is not None:
                query.append(("fieldSelector", resource.field_selector))
            if token:
                query.append(("continue", token))
            try:
                page = live.get(resource.path, query, what=resource.what, verb="list")
            except ClusterError as err:
                if not token or isinstance(err, Forbidden):
                    raise
                items, token, limit, version = [], "", 0, ""  # 410 on a continue token: start over, unpaged
                seen.clear()
                continue
            page_items, next_token, page_version = list_page(page, resource.what)
            version = version or page_version
            if next_token and next_token in seen:
                raise ClusterError(
                    f"the API server sent the same continue token twice while listing {resource.what}: its paging is broken",
                    hint="stopped rather than read forever; try again",
                )
            if len(seen) >= MAX_PAGES:
                raise ClusterError(f"the list of {resource.what} has more than {MAX_PAGES} pages: stopped reading")
            seen.add(next_token)
            kind = str(page.get("kind") or "")
            item_kind = kind[:-4] if kind.endswith("List") else kind
            for item in page_items:
                if isinstance(item, dict):
                    item.setdefault("kind", item_kind)
                    item.setdefault("apiVersion", page.get("apiVersion"))
                    items.append(item)
            token = next_token
            if not token:
                return items, version


def resources_for(
    cluster: Cluster,
    *,
    slices: bool = True,
    claims_namespace: str | None = None,
    all_claims: bool = True,
    pods: bool = False,
    nodes: Sequence[str] = (),
    taint_rules: bool = True,
) -> list[Resource]:
    """The collections ``list -w`` / ``claims -w`` follow on the connected ``cluster``.

    Claims of every namespace when ``all_claims`` (device state needs them all), else of
    ``claims_namespace``; pods likewise (optional: RBAC may refuse them). With a few ``nodes``
    the slices are watched per node (``spec.nodeName``) plus those without a node, as ``list``
    reads them. DeviceTaintRules are followed where the server has them.
    """
    from kubectl_dra.kube.load import MAX_NODE_QUERIES, PODS_MISSING, TAINT_RULES_MISSING, taint_rule_version

    version = cluster.served_version or "v1"
    base = f"/apis/resource.k8s.io/{version}"
    out: list[Resource] = []
    if slices:
        if nodes and len(nodes) <= MAX_NODE_QUERIES:
            for node in [*nodes, ""]:
                out.append(Resource(f"slices:{node}", f"{base}/resourceslices", "resourceslices", f"spec.nodeName={node}"))
        else:
            out.append(Resource("slices", f"{base}/resourceslices", "resourceslices"))
    claims_path = f"{base}/resourceclaims" if all_claims else f"{base}/namespaces/{claims_namespace}/resourceclaims"
    out.append(Resource("claims", claims_path, "resourceclaims"))
    if pods:
        pods_path = "/api/v1/pods" if all_claims else f"/api/v1/namespaces/{claims_namespace}/pods"
        out.append(Resource("pods", pods_path, "pods", optional=True, warning=PODS_MISSING))
    if slices and taint_rules:
        rules_version = taint_rule_version(cluster.client, version, list(cluster.served_versions))
        if rules_version:
            out.append(
                Resource(
                    "taintrules",
                    f"/apis/resource.k8s.io/{rules_version}/devicetaintrules",
                    "devicetaintrules",
                    optional=True,
                    warning=TAINT_RULES_MISSING,
                )
            )
    return out


def watch_for(base: Cluster, source: "SourceOptions", *, pods: bool = False, nodes: Sequence[str] = ()) -> ClusterWatch:
    """The :class:`ClusterWatch` a ``-w`` command follows, for the same ``source`` it listed from.

    ``base`` is the cluster read from ``source`` (discovery, plus what is not watched, e.g.
    DeviceClasses). Claims (and ``pods``) of every namespace with ``source.all_namespaces``, else
    of ``base.namespace``; with ``nodes``, those nodes' slices only (see :func:`resources_for`).
    """
    base.claims_namespace = None if source.all_namespaces else base.namespace
    resources = resources_for(base, all_claims=source.all_namespaces, claims_namespace=base.namespace,
                              pods=pods, nodes=nodes)
    return ClusterWatch(base, resources)
