"""`list -w` and `claims -w` against the API server's real watch, while the real scheduler and the
resourceclaim controller move a claim through its life: a pod with a template claim is created
(held by a scheduling gate: the generated claim is pending), released (the scheduler allocates and
reserves a device), deleted (the controller releases the claim and it is deleted).

Each watch runs as its own process (.venv/bin/kubectl-dra); the test reads its stdout line by line
and acts when the expected line has arrived. Timeouts are hang guards only.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e import objects
from tests.e2e.kapi import Api
from tests.e2e.livetruth import World

pytestmark = pytest.mark.e2e

TAG = "e2e-cmdw"
PLUGIN = Path(sys.executable).parent / "kubectl-dra"
HANG_GUARD = 30.0
#: what a claim may pass through between reserved and gone, depending on how the controller's and
#: the garbage collector's writes fall into the watch's batches
RELEASING = {"allocated", "pending", "deallocating", "deleting"}


class Watch:
    """A `kubectl dra ... -w` process; its stdout and stderr lines arrive on one queue."""

    def __init__(self, name: str, args: list[str], kubeconfig: Path):
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "NO_COLOR": "1", "COLUMNS": "250"}
        self.name = name
        self.proc = subprocess.Popen([str(PLUGIN), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.queue: queue.Queue[tuple[str, str]] = queue.Queue()
        self.seen: list[tuple[str, str]] = []
        for stream, tag in ((self.proc.stdout, "out"), (self.proc.stderr, "err")):
            threading.Thread(target=self._read, args=(stream, tag), daemon=True).start()

    def _read(self, stream, tag: str) -> None:
        for line in stream:
            self.queue.put((tag, line.rstrip("\n")))
        self.queue.put((tag, None))

    def expect(self, what: str, match, stream: str = "out") -> str:
        """The next line of ``stream`` that ``match`` accepts; lines before it are kept in ``seen``."""
        deadline = time.monotonic() + HANG_GUARD
        while True:
            left = deadline - time.monotonic()
            try:
                tag, line = self.queue.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError(f"{self.name}: no line with {what} within {HANG_GUARD:.0f} s "
                                     f"(hang guard); lines so far: {self.seen}") from None
            if line is None:
                if tag == stream:
                    raise AssertionError(f"{self.name}: {stream} closed (exit {self.proc.poll()}) before {what}; "
                                         f"lines: {self.seen}")
                continue
            self.seen.append((tag, line))
            if tag == stream and match(line):
                return line

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=HANG_GUARD)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def errors(self) -> list[str]:
        return [line for tag, line in self.seen if tag == "err" and ("error" in line.lower() or "Traceback" in line)]


def cells(line: str) -> list[str]:
    """A table row's cells (columns are three or more spaces apart; cells never hold three spaces)."""
    return re.split(r" {3,}", line.strip())


def event(line: str, ns: str, name: str) -> tuple[str, str] | None:
    """(type, state) of a `-o json` watch line about claim ns/name."""
    e = json.loads(line)
    return (e["type"], e["object"]["state"]) if (e["object"].get("namespace"), e["object"].get("name")) == (ns, name) else None


@pytest.fixture(scope="module")
def world(api: Api):
    w = World(api, TAG)
    try:
        yield w.build()
    finally:
        w.teardown()


def test_watch_follows_a_claim_from_pending_to_released(api, control_plane, world):
    ns, node = world.ns, world.node
    kubeconfig = control_plane.kubeconfig
    watches = {
        "claims": Watch("claims -w", ["claims", "-w", "-n", ns], kubeconfig),
        "list": Watch("list -w --node", ["list", "-w", "--node", node], kubeconfig),
        "json": Watch("claims -w -A -o json", ["claims", "-w", "-A", "-o", "json"], kubeconfig),
    }
    try:
        # each has listed (and so watches from the list's resourceVersion) once it printed something
        watches["claims"].expect("the empty listing", lambda l: f"no ResourceClaims found in namespace {ns} (watching)" in l, "err")
        header = watches["list"].expect("the device table's header", lambda l: l.startswith("NODE "))
        assert cells(header)[:3] == ["NODE", "DRIVER", "DEVICE"]
        first = [cells(watches["list"].expect(f"device {d}", lambda l, d=d: cells(l)[2:3] == [d])) for d in ("dev-0", "dev-1", "dev-2")]
        assert all(row[0] == node and row[7] == "free" for row in first)
        # one line per object of the first listing (or, with no claims anywhere, a message on stderr)
        watches["json"].expect("the first listing", lambda l: True, stream="out" if api.list("ResourceClaim") else "err")

        pod = objects.pod("w", ns, [("dev", "template", "one")], hold=True, node_selector={"kubernetes.io/hostname": node},
                          owner=TAG)
        api.create(pod)
        api.wait("the generated claim", lambda: objects.claims_created(api, pod))
        claim = objects.pod_claim_names(api, ns, "w")["dev"]
        row = cells(watches["claims"].expect(f"claim {claim} pending", lambda l: cells(l)[0] == claim))
        assert row[1:3] == ["pending", f"dev: {world.driver}×1"] and row[6] == "w"
        # each watch acts on its own: wait for every one before the next step, so no two steps share a batch
        watches["json"].expect(f"claim {claim} pending", lambda l: event(l, ns, claim) == ("ADDED", "pending"))

        objects.release(api, pod)
        assert objects.outcome(api, ns, "w").bound
        (_, driver, pool, device), = objects.allocation(api, ns, claim)
        assert (driver, pool, device) == (world.driver, node, "dev-0")  # the template asks for the widget
        row = cells(watches["claims"].expect(f"claim {claim} reserved", lambda l: cells(l)[0] == claim and "reserved" in cells(l)))
        assert row[1] == "reserved" and row[3:5] == [node, device] and row[6] == "w"
        row = cells(watches["list"].expect(f"{device} reserved", lambda l: cells(l)[2] == device and cells(l)[7] != "free"))
        assert row[7:10] == ["reserved", f"{ns}/{claim}", "w"]
        watches["json"].expect(f"claim {claim} reserved", lambda l: event(l, ns, claim) == ("MODIFIED", "reserved"))

        api.delete("Pod", "w", ns)
        api.wait(f"claim {claim} to be deleted", lambda: not api.exists("ResourceClaim", claim, ns))
        watches["claims"].expect(f"claim {claim} deleted", lambda l: cells(l)[0] == claim and cells(l)[1] == "deleted")
        watches["list"].expect(f"{device} free again", lambda l: cells(l)[2] == device and cells(l)[7] == "free")
        watches["json"].expect(f"claim {claim} DELETED", lambda l: event(l, ns, claim) == ("DELETED", "deleted"))

        # every line each watch printed about the claim / the device, in order
        states = [cells(line)[1] for tag, line in watches["claims"].seen if tag == "out" and cells(line)[0] == claim]
        assert states[:2] == ["pending", "reserved"] and states[-1] == "deleted" and set(states[2:-1]) <= RELEASING, states
        rows = [cells(line) for tag, line in watches["list"].seen if tag == "out" and not line.startswith("NODE ")]
        assert {r[0] for r in rows} == {node}  # --node: nothing of another node, in the listing or after
        device_states = [r[7] for r in rows if r[2] == device]
        assert device_states[0] == "free" and device_states[1] == "reserved" and device_states[-1] == "free"
        assert set(device_states[2:-1]) <= {"allocated"}, device_states
        events = [json.loads(line) for tag, line in watches["json"].seen if tag == "out"]
        mine = [(e["type"], e["object"]["state"]) for e in events if e["object"]["namespace"] == ns and e["object"]["name"] == claim]
        assert mine[0] == ("ADDED", "pending") and mine[1] == ("MODIFIED", "reserved") and mine[-1] == ("DELETED", "deleted"), mine
        reserved = next(e["object"] for e in events if e["object"]["name"] == claim and e["object"]["state"] == "reserved")
        assert [(d["driver"], d["pool"], d["device"], d["node"]) for d in reserved["devices"]] == [(driver, pool, device, node)]
        assert reserved["pods"] == ["w"]

        # an allocation without a pod (the scheduler's first write): `allocated`, then free once the claim is gone
        held = world.claim("held")
        world.allocate(held, "dev-1")
        row = cells(watches["list"].expect("dev-1 allocated", lambda l: cells(l)[2] == "dev-1"))
        assert row[7:10] == ["allocated", f"{ns}/held", "-"]
        watches["claims"].expect("held allocated", lambda l: cells(l)[0] == "held" and cells(l)[1] == "allocated")
        api.delete("ResourceClaim", "held", ns)
        row = cells(watches["list"].expect("dev-1 free", lambda l: cells(l)[2] == "dev-1"))
        assert row[7:10] == ["free", "-", "-"]
        watches["claims"].expect("held deleted", lambda l: cells(l)[0] == "held" and cells(l)[1] == "deleted")
        held_states = [cells(line)[1] for tag, line in watches["claims"].seen if tag == "out" and cells(line)[0] == "held"]
        assert held_states in (["pending", "allocated", "deleted"], ["allocated", "deleted"]), held_states

        # the driver withdraws generation 2 of pool `gen`: new-0 is gone, generation 1 (old-0) is the newest again
        api.request("DELETE", f"/apis/resource.k8s.io/v1/resourceslices/{TAG}-gen2")
        rows = [cells(watches["list"].expect("new-0 or old-0", lambda l: cells(l)[2] in ("new-0", "old-0"))) for _ in range(2)]
        assert {r[2]: r[7] for r in rows} == {"new-0": "deleted", "old-0": "free"}, rows

        # a DeviceTaintRule (resource.k8s.io/v1beta2) taints dev-2: the watch follows those too
        world.add({"apiVersion": "resource.k8s.io/v1beta2", "kind": "DeviceTaintRule",
                   "metadata": {"name": f"{TAG}-dev-2", "labels": {objects.OWNER_LABEL: TAG}},
                   "spec": {"deviceSelector": {"driver": world.driver, "pool": node, "device": "dev-2"},
                            "taint": {"key": "e2e.example.com/broken", "effect": "NoSchedule"}}})
        row = cells(watches["list"].expect("dev-2 tainted", lambda l: cells(l)[2] == "dev-2"))
        assert row[7] == "tainted"

        # the driver republishes the node's slice without dev-2 and with a new dev-3 (the model patches that
        # pool only), then publishes a second pool on the node, then withdraws it
        current = api.get("ResourceSlice", node)
        current["spec"]["devices"] = [d for d in current["spec"]["devices"] if d["name"] != "dev-2"] + [{"name": "dev-3"}]
        api.request("PUT", f"/apis/resource.k8s.io/v1/resourceslices/{node}", current)
        rows = [cells(watches["list"].expect("dev-2 or dev-3", lambda l: cells(l)[2] in ("dev-2", "dev-3"))) for _ in range(2)]
        assert {r[2]: r[7] for r in rows} == {"dev-3": "free", "dev-2": "deleted"}, rows
        world.add(world._slice(f"{TAG}-extra", "extra", 1, [{"name": "x-0"}], nodeName=node))
        row = cells(watches["list"].expect("x-0", lambda l: cells(l)[2] == "x-0"))
        assert (row[0], row[7]) == (node, "free")
        api.request("DELETE", f"/apis/resource.k8s.io/v1/resourceslices/{TAG}-extra")
        row = cells(watches["list"].expect("x-0 deleted", lambda l: cells(l)[2] == "x-0"))
        assert row[7] == "deleted"

        # Ctrl-C: docs/commands.md says a watch ends with exit code 0 (docs/exit-codes.md lists 130 for Ctrl-C)
        for name, watch in watches.items():
            assert watch.interrupt() == 130, name  # Ctrl-C: 130 (docs/exit-codes.md)
            assert watch.errors() == [], (name, watch.errors())
    finally:
        for watch in watches.values():
            watch.close()
