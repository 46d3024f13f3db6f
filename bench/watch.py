#!/usr/bin/env python3
"""Live updates: time from an event to the line `list -w` / `claims -A -w` prints for it.

Starts the fake API server (``tests/fakeapi.py``, in this process, real HTTP on loopback) with
cluster ``L`` (5,000 nodes x 8 GPUs = 40,000 devices, 10,000 claims; ``--nodes N`` for a smaller
one), runs the CLI in a subprocess with ``-w`` and waits until its first listing is out and it
is quiet. Then, ``--changes`` times, one at a time: takes an allocated claim off its device
(status removed) or gives it back (status restored) through the server, and measures from just
before the server stores the change to the moment the CLI's line naming that device / claim
arrives on its stdout pipe. Prints the median, 90th percentile and maximum per command.

Usage::

    .venv/bin/python bench/watch.py                     # cluster L, 20 changes per command
    .venv/bin/python bench/watch.py --nodes 500 --changes 10
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

    def until(self, needle: str, guard: float) -> float:
        deadline = time.monotonic() + guard
        while True:
            item = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            if item is None:
                raise RuntimeError("the CLI ended")
            if needle in item[1]:
                return item[0]


def measure(name: str, args: list[str], server: FakeApiServer, env: dict, claims: list[dict], n: int,
            guard: float) -> list[float]:
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_dra", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env, cwd=env["HOME"])
    try:
        lines = Lines(proc)
        t0 = time.perf_counter()
        lines.quiet(2.0, guard)
        print(f"[{name}] first listing: {lines.count:,} lines in {time.perf_counter() - t0 - 2.0:.1f} s", flush=True)
        times: list[float] = []
        stored: list[float] = []
        for i in range(n):
            original = claims[i // 2 % len(claims)]
            obj = copy.deepcopy(original)
            if i % 2 == 0:
                obj.pop("status", None)  # deallocated: the device becomes free
            result = original["status"]["allocation"]["devices"]["results"][0]
            # claims: the claim's row; list: the device's row (its node; only that device changes)
            needle = original["metadata"]["name"] if name.startswith("claims") else result["pool"]
            time.sleep(0.3)  # one change per batch
            start = time.perf_counter()
            server.update(obj)
            stored.append(time.perf_counter() - start)
            times.append(lines.until(needle, guard) - start)
        print(f"[{name}] of which the server storing the change (ms): {' '.join(f'{t * 1000:.0f}' for t in stored)}")
        return times
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, help="a smaller cluster: N nodes, 2N claims (default: cluster L)")
    p.add_argument("--changes", type=int, default=20)
    p.add_argument("--only", action="append", help="commands whose name contains this")
    p.add_argument("--code", type=pathlib.Path, help="run kubectl_dra from this directory (PYTHONPATH)")
    p.add_argument("--guard", type=float, default=300.0, help="hang guard per wait, seconds")
    p.add_argument("--out-dir", type=pathlib.Path, default=HERE / "out")
    args = p.parse_args(argv)
    nodes, nclaims = (args.nodes, args.nodes * 2) if args.nodes else gen_cluster.SIZES["L"]
    cluster = args.out_dir / (f"cluster-L-{nodes}.json" if args.nodes else "cluster-L.json")
    if not cluster.is_file():
        gen_cluster.write("L", args.out_dir, nodes, nclaims).replace(cluster)
    data = json.loads(cluster.read_text())
    claims = [o for o in data["items"] if o["kind"] == "ResourceClaim" and (o.get("status") or {}).get("allocation")]
    results = {}
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
            times = measure(name, cmd, server, env, claims, args.changes, args.guard)
            print(f"{name:14} in order (ms): {' '.join(f'{t * 1000:.0f}' for t in times)}")
            times.sort()
            results[name] = times
            print(f"{name:14} event -> line over {len(times)} changes: median {statistics.median(times) * 1000:.0f} ms, "
                  f"p90 {times[int(0.9 * (len(times) - 1))] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms", flush=True)
    args.out_dir.mkdir(exist_ok=True)
    (args.out_dir / "watch.json").write_text(json.dumps({"nodes": nodes, "claims": nclaims, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
