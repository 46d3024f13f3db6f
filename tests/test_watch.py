"""`list -w` and `claims -w` over real HTTP: the CLI in a subprocess follows the fake API server's watch.

Each test starts the real CLI, waits for the lines it expects (never sleeps blindly), changes the
fake's objects as the control plane would through a claim's life, then sends SIGINT (exit 130).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from tests.conftest import ROOT

DRIVER = "gpu.example.com"
V1 = "resource.k8s.io/v1"
CLAIMS = "/apis/resource.k8s.io/v1/resourceclaims"
#: a hang guard, not a timing assertion: generous because CI machines (2 cores) can be busy
HANG_GUARD_S = 30


# ---------------------------------------------------------------- objects
def slice_for(node: str, devices: int = 2) -> dict:
    return {
        "apiVersion": V1,
        "kind": "ResourceSlice",
        "metadata": {"name": f"{node}-{DRIVER}"},
        "spec": {
            "driver": DRIVER,
            "nodeName": node,
            "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
            "devices": [
                {"name": f"gpu-{i}", "attributes": {"model": {"string": "LATEST-GPU"}, "index": {"int": i}},
                 "capacity": {"memory": {"value": "80Gi"}}}
                for i in range(devices)
            ],
        },
    }


def claim(name: str = "train", namespace: str = "team-a", *, device: str | None = None, node: str = "node-a",
          pod: str | None = None) -> dict:
    """A claim; ``device``: allocated that device of ``node``; ``pod``: reserved for that pod too."""
    obj = {
        "apiVersion": V1,
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": DRIVER}}]}},
    }
    status: dict = {}
    if device:
        status["allocation"] = {"devices": {"results": [{"request": "gpu", "driver": DRIVER, "pool": node, "device": device}]}}
    if pod:
        status["reservedFor"] = [{"resource": "pods", "name": pod, "uid": f"uid-{pod}"}]
    if status:
        obj["status"] = status
    return obj


# ---------------------------------------------------------------- the CLI in a subprocess
class Cli:
    """``kubectl dra ARGS`` running against the fake; stdout lines arrive on a queue."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubectl_dra", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ), cwd=ROOT,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next(self, timeout: float = 5.0) -> str:
        """The next stdout line (fails the test after ``timeout`` seconds or at end of output)."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise AssertionError(f"no output within {timeout}s; so far: {self.seen}; stderr: {self.stderr()}") from None
        if line is None:
            raise AssertionError(f"the CLI ended (rc {self.proc.wait()}); so far: {self.seen}; stderr: {self.stderr()}")
        self.seen.append(line)
        return line

    def take(self, n: int) -> list[str]:
        return [self.next() for _ in range(n)]

    def printed_nothing_before(self, api, sentinel, expect) -> None:
        """Nothing is printed for what happened so far, bookmarks included: once the server has sent
        more bookmarks, ``sentinel()`` makes a visible change and the next line must be ``expect(line)``
        (an event, not a quiet time window)."""
        seen = api.bookmarks_sent
        wait_for(lambda: api.bookmarks_sent >= seen + 3)
        sentinel()
        line = self.next()
        assert expect(line), f"unexpected output {line!r}"

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: returns (exit code, stderr)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"kubectl-dra did not exit within {HANG_GUARD_S}s of Ctrl-C") from None
        return rc, self.stderr()

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=HANG_GUARD_S)


@pytest.fixture
def cli():
    started: list[Cli] = []

    def start(*args: str) -> Cli:
        started.append(Cli(*args))
        return started[-1]

    yield start
    for c in started:
        c.stop()


@pytest.fixture
def api(fake_api):
    fake_api.bookmark_interval = 0.05  # bookmarks all the time: they must never print anything
    fake_api.add(slice_for("node-a"))
    return fake_api


def device_row(line: str) -> tuple[str, str, str, str, str]:
    """(node, device, state, claim, pods) of a `list` row."""
    words = line.split()
    return words[0], words[2], words[-3], words[-2], words[-1]


def claim_row(line: str) -> tuple[str, str]:
    """(name, state) of a `claims` row (one namespace)."""
    words = line.split()
    return words[0], words[1]


def watch_requests(api, path: str) -> list:
    return [r for r in api.requests if r.path == path and r.query.get("watch") in ("1", "true")]


def wait_for(condition, guard: float = 10.0) -> None:
    """Poll ``condition``; ``guard`` seconds is a hang guard with a clear failure, not a measurement."""
    deadline = time.monotonic() + guard
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within the {guard:.0f} s hang guard")
        time.sleep(0.01)


def watching(api, *paths: str):
    """Block until the CLI has an open watch on each path (so later changes are not in its first list)."""
    wait_for(lambda: all(watch_requests(api, p) for p in paths))


# ---------------------------------------------------------------- the lifecycle
def test_list_watch_shows_the_device_lifecycle(cli, api):
    c = cli("list", "-w")
    header, gpu0, gpu1 = c.take(3)
    assert header.split()[:3] == ["NODE", "DRIVER", "DEVICE"]
    assert device_row(gpu0) == ("node-a", "gpu-0", "free", "-", "-")
    assert device_row(gpu1) == ("node-a", "gpu-1", "free", "-", "-")
    watching(api, CLAIMS)
    assert watch_requests(api, CLAIMS)[0].query.get("allowWatchBookmarks") == "true"

    api.add(claim())  # pending: no device changes
    api.update(claim(device="gpu-0"))
    line = c.next()
    assert device_row(line) == ("node-a", "gpu-0", "allocated", "team-a/train", "-")
    assert line.index("allocated") == header.index("STATE")  # in the table's columns
    api.update(claim(device="gpu-0", pod="train-0"))
    assert device_row(c.next()) == ("node-a", "gpu-0", "reserved", "team-a/train", "train-0")
    api.update(claim(device="gpu-0"))  # the pod is done: released
    assert device_row(c.next()) == ("node-a", "gpu-0", "allocated", "team-a/train", "-")
    api.update(claim())  # deallocated
    assert device_row(c.next()) == ("node-a", "gpu-0", "free", "-", "-")
    api.remove("ResourceClaim", "train", "team-a")
    api.remove("ResourceSlice", f"node-a-{DRIVER}")
    assert [device_row(x)[1:3] for x in c.take(2)] == [("gpu-0", "deleted"), ("gpu-1", "deleted")]
    # bookmarks keep arriving: nothing is printed for them
    c.printed_nothing_before(api, lambda: api.add(slice_for("node-z", devices=1)),
                             lambda line: device_row(line)[:3] == ("node-z", "gpu-0", "free"))
    rc, stderr = c.interrupt()
    assert rc == 130 and stderr == ""  # Ctrl-C: 130, quietly (docs/exit-codes.md)


def test_claims_watch_shows_each_step(cli, api):
    c = cli("claims", "-n", "team-a", "-w")
    # every collection is watched, so its first listing (none) is out before the claim appears
    watching(api, "/apis/resource.k8s.io/v1/namespaces/team-a/resourceclaims", "/api/v1/namespaces/team-a/pods",
             "/apis/resource.k8s.io/v1/resourceslices")
    api.add(claim())
    header = c.next()
    assert header.split()[:2] == ["NAME", "STATE"]
    assert claim_row(c.next()) == ("train", "pending")
    api.add(claim("elsewhere", "team-b", device="gpu-1"))  # another namespace: not shown
    api.update(claim(device="gpu-0"))
    line = c.next()
    assert claim_row(line) == ("train", "allocated") and "node-a" in line and "gpu-0" in line
    api.update(claim(device="gpu-0", pod="train-0"))
    line = c.next()
    assert claim_row(line) == ("train", "reserved") and "train-0" in line
    api.update(claim(device="gpu-0"))
    assert claim_row(c.next()) == ("train", "allocated")
    api.update(claim())
    assert claim_row(c.next()) == ("train", "pending")
    api.remove("ResourceClaim", "train", "team-a")
    assert claim_row(c.next()) == ("train", "deleted")
    c.printed_nothing_before(api, lambda: api.add(claim("sentinel")),
                             lambda line: claim_row(line) == ("sentinel", "pending"))
    rc, stderr = c.interrupt()
    assert rc == 130
    assert stderr == "no ResourceClaims found in namespace team-a (watching)\n"


# ---------------------------------------------------------------- 410 Gone
def test_expired_watch_relists_and_reports_the_change_in_the_gap(cli, api):
    api.add(claim())
    c = cli("claims", "-A", "-w")
    assert claim_row(c.take(2)[1].split(None, 1)[1]) == ("train", "pending")
    watching(api, CLAIMS)
    lists_before = [r for r in api.requests if r.path == CLAIMS and "watch" not in r.query]
    assert len(lists_before) == 1
    with api.atomically():  # the change is never streamed: the watch expires first
        api.update(claim(device="gpu-0"))
        api.expire_watches(times=0)
    line = c.next()
    assert claim_row(line.split(None, 1)[1]) == ("train", "allocated")
    relists = [r for r in api.requests if r.path == CLAIMS and "watch" not in r.query]
    assert len(relists) == 2  # listed again after the 410
    wait_for(lambda: len(watch_requests(api, CLAIMS)) >= 2)
    watches = watch_requests(api, CLAIMS)
    assert int(watches[-1].query["resourceVersion"]) > int(watches[0].query["resourceVersion"])
    api.update(claim(device="gpu-0", pod="p"))  # and the new watch streams again
    assert claim_row(c.next().split(None, 1)[1]) == ("train", "reserved")
    rc, stderr = c.interrupt()
    assert rc == 130 and stderr == ""  # Ctrl-C: 130, quietly (docs/exit-codes.md)


def test_live_cluster_watch_raises_watch_expired_on_http_and_event_410(fake_api):
    from kubectl_dra.errors import ClusterError
    from kubectl_dra.kube.live import LiveCluster, WatchExpired

    live = LiveCluster()
    fake_api.add(claim())
    rv = str(fake_api.resource_version)
    fake_api.fail(CLAIMS, 410, message="too old resource version: 1 (2)", reason="Expired")
    with pytest.raises(WatchExpired, match="too old resource version"):
        list(live.watch(CLAIMS, what="resourceclaims", resource_version=rv))
    fake_api.expire_watches(times=1)
    with pytest.raises(WatchExpired, match="too old resource version"):
        list(live.watch(CLAIMS, what="resourceclaims", resource_version=rv))
    events = live.watch(CLAIMS, what="resourceclaims", resource_version=None, timeout_seconds=1, bookmarks=False)
    assert [(t, o["metadata"]["name"]) for t, o in events] == [("ADDED", "train")]  # then the server's timeout ends it
    fake_api.fail(CLAIMS, 403)
    with pytest.raises(ClusterError, match="forbidden"):
        list(live.watch(CLAIMS, what="resourceclaims", resource_version=rv))
    fake_api.stop()
    with pytest.raises(ClusterError, match="cannot reach the API server"):
        list(live.watch(CLAIMS, what="resourceclaims", resource_version=rv))


def test_watch_that_keeps_failing_is_reported(fake_api):
    from kubectl_dra.cli._common import read_cluster, source_options
    from kubectl_dra.errors import ClusterError
    from kubectl_dra.kube.watch import ClusterWatch, resources_for

    fake_api.add(slice_for("node-a"), claim(device="gpu-0"))
    base = read_cluster(source_options(all_namespaces=True), ())
    watch = ClusterWatch(base, resources_for(base), retry_delays=(0.05, 0.05))
    events = watch.follow(lambda cluster: {v.device.key: (v.state, v) for v in cluster.device_views()})
    _, changes = next(events)
    assert [(c.type, c.value.state) for c in changes] == [("ADDED", "allocated"), ("ADDED", "free")]
    fake_api.stop()
    with pytest.raises(ClusterError, match="cannot reach the API server|broke"):
        next(events)


# ---------------------------------------------------------------- filters and formats
def test_filters_apply_to_watch_output(cli, api):
    api.add(slice_for("node-b"))
    c = cli("list", "-w", "--node", "node-a", "--state", "free", "index=1")
    _, gpu1 = c.take(2)
    assert device_row(gpu1) == ("node-a", "gpu-1", "free", "-", "-")
    watching(api, CLAIMS)
    api.add(claim("b", device="gpu-1", node="node-b"))  # another node
    api.add(claim("a0", device="gpu-0"))  # not index=1
    api.add(claim("a1", device="gpu-1"))  # leaves --state free: printed as it is now
    assert device_row(c.next()) == ("node-a", "gpu-1", "allocated", "team-a/a1", "-")
    api.update(claim("a1"))
    assert device_row(c.next()) == ("node-a", "gpu-1", "free", "-", "-")
    # the claims on node-b and on gpu-0 printed nothing
    c.printed_nothing_before(api, lambda: api.update(claim("a1", device="gpu-1")),
                             lambda line: device_row(line) == ("node-a", "gpu-1", "allocated", "team-a/a1", "-"))
    rc, _ = c.interrupt()
    assert rc == 130
    slice_watches = [r for r in api.requests if r.path.endswith("/resourceslices") and r.query.get("watch")]
    assert {r.query.get("fieldSelector") for r in slice_watches} == {"spec.nodeName=node-a", "spec.nodeName="}


def test_json_watch_prints_one_event_per_line(cli, api):
    c = cli("list", "-w", "-o", "json")
    first = [json.loads(line) for line in c.take(2)]
    assert [(e["type"], e["object"]["name"], e["object"]["state"]) for e in first] == [
        ("ADDED", "gpu-0", "free"), ("ADDED", "gpu-1", "free")]
    assert set(first[0]["object"]) >= {"node", "driver", "pool", "name", "attributes", "state", "allocation"}
    watching(api, CLAIMS)
    api.add(claim(device="gpu-0", pod="train-0"))
    event = json.loads(c.next())
    assert event["type"] == "MODIFIED" and event["object"]["state"] == "reserved"
    assert event["object"]["allocation"] == {"claim": "team-a/train", "request": "gpu", "pods": ["train-0"]}
    api.remove("ResourceSlice", f"node-a-{DRIVER}")
    deleted = [json.loads(line) for line in c.take(2)]
    assert [(e["type"], e["object"]["state"]) for e in deleted] == [("DELETED", "deleted")] * 2
    rc, _ = c.interrupt()
    assert rc == 130


def test_yaml_watch_prints_documents(cli, api):
    api.add(claim())
    c = cli("claims", "-n", "team-a", "-w", "-o", "yaml")
    assert c.next() == "type: ADDED"
    watching(api, "/apis/resource.k8s.io/v1/namespaces/team-a/resourceclaims")
    api.update(claim(device="gpu-0"))
    while c.next() != "type: MODIFIED":
        pass
    while "state: allocated" not in c.next():
        pass
    rc, _ = c.interrupt()
    assert rc == 130
    docs = list(yaml.safe_load_all("\n".join(c.seen)))
    assert [(d["type"], d["object"]["name"]) for d in docs] == [("ADDED", "train"), ("MODIFIED", "train")]


def test_broken_pipe_ends_quietly(api):
    import select

    proc = subprocess.Popen([sys.executable, "-m", "kubectl_dra", "list", "-w", "-o", "name"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ), cwd=ROOT)
    try:
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"\n") < 2 and time.monotonic() < deadline:  # no reader thread: close() must not block
            if select.select([proc.stdout], [], [], 0.1)[0]:
                data += os.read(proc.stdout.fileno(), 4096)
        assert data.decode().split() == [f"{DRIVER}/node-a/gpu-0", f"{DRIVER}/node-a/gpu-1"]
        watching(api, CLAIMS)
        proc.stdout.close()  # like `| head -2`
        api.add(claim(device="gpu-0"))
        assert proc.wait(timeout=5) == 0
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- usage
@pytest.mark.parametrize("args", [("list", "-w", "--demo"), ("claims", "--watch", "--demo"), ("list", "-w", "-f", "x.yaml")])
def test_watch_needs_a_cluster(run, args):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --watch needs a cluster")
