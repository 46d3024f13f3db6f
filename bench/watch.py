#!/usr/bin/env python3
"""Live updates: time from an event to the line `list -w` / `claims -A -w` prints for it.

Starts the fake API server (``tests/fakeapi.py``, in this process, real HTTP on loopback) with
cluster ``L`` (5,000 nodes x 8 GPUs = 40,000 devices, 10,000 claims; ``--nodes N`` for a smaller
one), runs the CLI in a subprocess with ``-w`` and waits until its first listing is out and it
is quiet. Then, ``--changes`` times per kind of event, one at a time, it stores a change through
the server and measures from just before the server stores it to the moment the CLI's line for it
arrives on its stdout pipe (the first line, where one event prints several):

* ``claim``: an allocated claim taken off its device (status removed) or given it back;
* ``slice modified``: a node's ResourceSlice republished with one device changed (``list -w``: a
  free device tainted NoSchedule or untainted, its row; ``claims -w``: an allocated device's UUID
  changed, its claim's row);
* ``slice added`` / ``slice deleted``: ``list -w``: a slice for a new node added (its devices'
  rows), then deleted (their rows, ``deleted``); ``claims -w``: a node's slice deleted (its claims'
  rows, ``<not published>``), then added back.

Prints the median, 90th percentile and maximum per command and kind of event.

Usage::

    .venv/bin/python bench/watch.py                     # cluster L, 20 changes per kind and command
    .venv/bin/python bench/watch.py --nodes 500 --changes 10
    .venv/bin/python bench/watch.py --only list --events slice
    .venv/bin/python bench/watch.py --code /tmp/old     # another tree of kubectl_dra (PYTHONPATH)

Nothing here is a test: timings are never asserted by the suite.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pathlib
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import gen_cluster  # noqa: E402
from tests.fakeapi import FakeApiServer  # noqa: E402  (in this process: the bench stores the changes)

COMMANDS = {"list -w": ["list", "-w"], "claims -A -w": ["claims", "-A", "-w"]}


class Lines:
    """The CLI's stdout, line by line with the time each arrived."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.queue: queue.Queue[tuple[float, str] | None] = queue.Queue()
        self.count = 0
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen) -> None:
        for raw in proc.stdout:
            self.count += 1
            self.queue.put((time.perf_counter(), raw.decode("utf-8", "replace")))
        self.queue.put(None)

    def quiet(self, seconds: float, guard: float) -> None:
        """Wait until no line came for ``seconds`` (after at least one), draining."""
        deadline = time.monotonic() + guard
        while time.monotonic() < deadline:
            try:
                item = self.queue.get(timeout=seconds)
            except queue.Empty:
                if self.count:
                    return
                continue
            if item is None:
                raise RuntimeError("the CLI ended")
        raise RuntimeError(f"no quiet moment within {guard:.0f} s")

    def until(self, needles: tuple[str, ...], guard: float) -> float:
        """The time the first line holding every one of ``needles`` arrived."""
        deadline = time.monotonic() + guard
        while True:
            item = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            if item is None:
                raise RuntimeError("the CLI ended")
            if all(n in item[1] for n in needles):
                return item[0]

    def drain(self) -> None:
        """Drop the lines that arrived (the rest of the lines one event printed)."""
        while True:
            try:
                if self.queue.get_nowait() is None:
                    raise RuntimeError("the CLI ended")
            except queue.Empty:
                return


class Events:
    """The changes each kind of event stores, and the line that shows each (``needles``)."""

    def __init__(self, server: FakeApiServer, data: dict) -> None:
        self.server = server
        self.claims = [o for o in data["items"] if o["kind"] == "ResourceClaim" and (o.get("status") or {}).get("allocation")]
        self.slices = {o["spec"]["pool"]["name"]: o for o in data["items"] if o["kind"] == "ResourceSlice"}
        held: dict[str, list[dict]] = {}
        for claim in self.claims:
            for result in claim["status"]["allocation"]["devices"]["results"]:
                held.setdefault(result["pool"], []).append(claim)
        self.held = held
        #: nodes with a free device (list -w taints it), and nodes whose devices claims hold (claims -w)
        # (from the end: the claim events take the first claims off their devices)
        self.free = [(pool, next(d["name"] for d in sl["spec"]["devices"] if d["name"] not in self._allocated(pool)))
                     for pool, sl in reversed(self.slices.items()) if len(self._allocated(pool)) < len(sl["spec"]["devices"])]
        self.busy = [pool for pool in reversed(self.slices) if pool in held and held[pool][0] not in self.claims[:64]]
        self.added = 0

    def _allocated(self, pool: str) -> set[str]:
        return {r["device"] for c in self.held.get(pool, ()) for r in c["status"]["allocation"]["devices"]["results"]
                if r["pool"] == pool}

    def claim(self, command: str, i: int) -> tuple[Callable[[], object], tuple[str, ...]]:
        original = self.claims[i // 2 % len(self.claims)]
        obj = copy.deepcopy(original)
        if i % 2 == 0:
            obj.pop("status", None)  # deallocated: the device becomes free
        result = original["status"]["allocation"]["devices"]["results"][0]
        # claims: the claim's row; list: the device's row (its node; only that device changes)
        needle = original["metadata"]["name"] if command.startswith("claims") else result["pool"]
        return (lambda: self.server.update(obj)), (needle,)

    def slice_modified(self, command: str, i: int) -> tuple[Callable[[], object], tuple[str, ...]]:
        if command.startswith("claims"):
            pool = self.busy[i % len(self.busy)]
            claim = self.held[pool][0]
            device = claim["status"]["allocation"]["devices"]["results"][0]["device"]
            obj = copy.deepcopy(self.slices[pool])
            uuid = f"GPU-bench-{i:05d}"
            for dev in obj["spec"]["devices"]:
                if dev["name"] == device:
                    dev["attributes"]["uuid"] = {"string": uuid}
            self.slices[pool] = obj
            return (lambda: self.server.update(obj)), (uuid,)
        pool, device = self.free[i // 2 % len(self.free)]
        obj = copy.deepcopy(self.slices[pool])
        for dev in obj["spec"]["devices"]:
            if dev["name"] == device:
                if i % 2 == 0:
                    dev["taints"] = [{"key": "bench", "value": str(i), "effect": "NoSchedule"}]
                else:
                    dev.pop("taints", None)
        self.slices[pool] = obj
        return (lambda: self.server.update(obj)), (pool, device, "tainted" if i % 2 == 0 else "free")

    def slice_added(self, command: str, i: int) -> tuple[Callable[[], object], tuple[str, ...]]:
        if command.startswith("claims"):  # a node's slice back (deleted just before)
            pool = self.busy[i % len(self.busy)]
            obj = dict(self.slices[pool])
            obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}  # the server's next
            return (lambda: self.server.add(obj)), (self.held[pool][0]["metadata"]["name"], pool)
        self.added += 1
        node = f"bench-node-{self.added:05d}"
        obj = copy.deepcopy(next(iter(self.slices.values())))
        obj["metadata"] = {**obj["metadata"], "name": f"{node}-gpu.nvidia.com", "uid": f"uid-{node}"}
        obj["metadata"].pop("resourceVersion", None)
        obj["spec"] = {**obj["spec"], "nodeName": node, "pool": {"name": node, "generation": 1, "resourceSliceCount": 1}}
        return (lambda: self.server.add(obj)), (node,)

    def slice_deleted(self, command: str, i: int) -> tuple[Callable[[], object], tuple[str, ...]]:
        if command.startswith("claims"):
            pool = self.busy[i % len(self.busy)]
            name = self.slices[pool]["metadata"]["name"]
            return (lambda: self.server.remove("ResourceSlice", name)), (self.held[pool][0]["metadata"]["name"], "<not published>")
        node = f"bench-node-{self.added:05d}"  # the slice added just before
        return (lambda: self.server.remove("ResourceSlice", f"{node}-gpu.nvidia.com")), (node, "deleted")


#: kind of event -> the Events method; list -w adds a node then deletes it, claims -w deletes a node's slice then adds it back
KINDS = {"claim": "claim", "slice modified": "slice_modified", "slice added": "slice_added", "slice deleted": "slice_deleted"}


def order(command: str, kinds: list[str]) -> list[str]:
    if command.startswith("claims") and "slice added" in kinds and "slice deleted" in kinds:
        kinds = [k for k in kinds if k != "slice deleted"]
        kinds.insert(kinds.index("slice added"), "slice deleted")
    return kinds


def measure(name: str, args: list[str], events: Events, env: dict, kinds: list[str], n: int,
            guard: float) -> dict[str, list[float]]:
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_dra", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env, cwd=env["HOME"])
    try:
        lines = Lines(proc)
        t0 = time.perf_counter()
        lines.quiet(2.0, guard)
        print(f"[{name}] first listing: {lines.count:,} lines in {time.perf_counter() - t0 - 2.0:.1f} s", flush=True)
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        stored: dict[str, list[float]] = {kind: [] for kind in kinds}
        paired = [k for k in kinds if k.startswith("slice ") and k != "slice modified"]
        steps = [(kind, i) for kind in kinds if kind not in paired for i in range(n)]
        steps += [(kind, i) for i in range(n) for kind in paired]  # add/delete (delete/add) in turn
        for kind, i in steps:
            store, needles = getattr(events, KINDS[kind])(name, i)
            time.sleep(0.3)  # one change per batch; the lines of the last one are all out
            lines.drain()
            start = time.perf_counter()
            store()
            stored[kind].append(time.perf_counter() - start)
            times[kind].append(lines.until(needles, guard) - start)
        for kind in kinds:
            print(f"[{name}] {kind}: of which the server storing the change (ms): "
                  f"{' '.join(f'{t * 1000:.0f}' for t in stored[kind])}")
        return times
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, help="a smaller cluster: N nodes, 2N claims (default: cluster L)")
    p.add_argument("--changes", type=int, default=20)
    p.add_argument("--only", action="append", help="commands whose name contains this")
    p.add_argument("--events", action="append", help=f"kinds of event whose name contains this ({', '.join(KINDS)})")
    p.add_argument("--code", type=pathlib.Path, help="run kubectl_dra from this directory (PYTHONPATH)")
    p.add_argument("--guard", type=float, default=300.0, help="hang guard per wait, seconds")
    p.add_argument("--out-dir", type=pathlib.Path, default=HERE / "out")
    args = p.parse_args(argv)
    nodes, nclaims = (args.nodes, args.nodes * 2) if args.nodes else gen_cluster.SIZES["L"]
    cluster = args.out_dir / (f"cluster-L-{nodes}.json" if args.nodes else "cluster-L.json")
    if not cluster.is_file():
        gen_cluster.write("L", args.out_dir, nodes, nclaims).replace(cluster)
    data = json.loads(cluster.read_text())
    kinds = [k for k in KINDS if not args.events or any(e in k for e in args.events)]
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="dra-watch-") as tmp, FakeApiServer(token=None) as server:
        server.bookmark_interval = 60.0
        server.load(cluster)
        kubeconfig = server.write_kubeconfig(tmp)
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECTL_DRA_DEBUG", "COLUMNS")}
        env.update(KUBECONFIG=str(kubeconfig), HOME=tmp, LC_ALL="C.UTF-8")
        env["PYTHONPATH"] = str(args.code or ROOT)
        for name, cmd in COMMANDS.items():
            if args.only and not any(o in name for o in args.only):
                continue
            by_kind = measure(name, cmd, Events(server, data), env, order(name, kinds), args.changes, args.guard)
            for kind in kinds:
                times = by_kind[kind]
                print(f"{name:14} {kind:15} in order (ms): {' '.join(f'{t * 1000:.0f}' for t in times)}")
                times.sort()
                print(f"{name:14} {kind:15} event -> line over {len(times)} changes: median "
                      f"{statistics.median(times) * 1000:.0f} ms, p90 {times[int(0.9 * (len(times) - 1))] * 1000:.0f} ms, "
                      f"max {times[-1] * 1000:.0f} ms", flush=True)
            results[name] = by_kind
    args.out_dir.mkdir(exist_ok=True)
    (args.out_dir / "watch.json").write_text(json.dumps({"nodes": nodes, "claims": nclaims, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
