#!/usr/bin/env python3
"""Where does ``kubectl-dra list`` spend its time and memory on a big cluster? (diagnosis, not a benchmark)

Starts the fake API server on ``bench/out/cluster-<size>.json`` (generated if missing), then, each
in a fresh subprocess with stdout going to a file:

1. ``cProfile`` of ``kubectl_dra.cli.main`` with ``sys.argv`` set (``list -o json`` and ``list``):
   top functions by cumulative and by own time;
2. a phase breakdown of the same path, calling the tool's internals in the order the CLI does
   (``load_cluster`` split into the HTTP+``json.loads`` part and the decode part, ``device_views``,
   render, write), with wall time, RSS and peak RSS (VmHWM) after each phase;
3. ``python -X importtime`` of ``kubectl-dra list -o json``: the slowest imports (incl. the lazy ones).

Writes ``bench/out/profile-<size>.txt`` and prints it.

Usage::

    python bench/profile_dra.py [--size L|S] [--top 30]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import gen_cluster
import run as bench

CPROFILE = r"""
import cProfile, io, os, pstats, sys
sys.argv = ["kubectl-dra", *sys.argv[2:]]
top = int(os.environ["TOP"])
import gc
from kubectl_dra.cli import app  # not main(): it leaves through os._exit, before the profile is written
gc.disable()  # as main() does
prof = cProfile.Profile()
prof.enable()
try:
    app(prog_name="kubectl dra")
except SystemExit:
    pass
prof.disable()
sys.stdout.flush()
buf = io.StringIO()
st = pstats.Stats(prof, stream=buf)
st.sort_stats("cumulative").print_stats(top)
st.sort_stats("tottime").print_stats(top)
open(os.environ["PROFILE_OUT"], "w").write(buf.getvalue())
"""

PHASES = r"""
import gc, json, os, sys, time
gc.disable()  # as kubectl_dra.cli.main does
t_start = time.perf_counter()

def mem():
    kb = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS", "VmHWM")):
            k, v = line.split(":")
            kb[k] = int(v.split()[0]) // 1024
    return kb

rows = []
last = [time.perf_counter()]
def phase(name):
    now = time.perf_counter()
    m = mem()
    rows.append(f"  {name:<58} {now - last[0]:7.3f}s   RSS {m['VmRSS']:5d} MB   peak {m['VmHWM']:5d} MB")
    last[0] = now

phase("interpreter start (before imports)")
output = sys.argv[1]
from kubectl_dra.cli._common import Output, write_data
from kubectl_dra.kube import live as live_mod
from kubectl_dra.kube.load import CLAIMS, SLICES, SourceOptions, load_cluster
from kubectl_dra.render import devices as render
phase("import kubectl_dra cli/load/render modules")
import kubernetes.client, kubernetes.config  # what LiveCluster._connect imports on first use
phase("import kubernetes (client, config)")

# split HTTP+json.loads from decode: time spent inside LiveCluster.list (fetch + json.loads per page)
fetch = [0.0]
orig_list = live_mod.LiveCluster.list
def timed_list(self, *a, **kw):
    it = orig_list(self, *a, **kw)
    while True:
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            fetch[0] += time.perf_counter() - t0
            return
        fetch[0] += time.perf_counter() - t0
        yield item
live_mod.LiveCluster.list = timed_list

cluster = load_cluster(SourceOptions(all_namespaces=True), (SLICES, CLAIMS))
total = time.perf_counter() - last[0]
phase(f"load_cluster (HTTP + json.loads {fetch[0]:.3f}s, decode {total - fetch[0]:.3f}s)")
views = cluster.device_views()
phase(f"cluster.device_views() ({len(views)} views)")
if output == "json":
    data = render.device_list(views)
    phase("render.device_list(views)")
    from kubectl_dra.render.machine import to_json
    text = to_json(data)
    phase(f"to_json ({len(text) / 1e6:.1f} MB)")
else:
    text = render.devices_table(views, wide=False, color=False, no_headers=False)
    phase("render.devices_table(views)")
    text += "\n" + render.footer(views)
    phase("render.footer(views)")
sys.stdout.write(text)
sys.stdout.flush()
phase("write stdout")
sys.stderr.write("\n".join(rows) + f"\n  {'total':<58} {time.perf_counter() - t_start:7.3f}s\n")
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=["S", "L"], default="L")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--out-dir", type=pathlib.Path, default=HERE / "out")
    args = p.parse_args(argv)
    cluster = args.out_dir / f"cluster-{args.size}.json"
    if not cluster.is_file():
        gen_cluster.write(args.size, args.out_dir)
    report: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dra-profile-") as tmp:
        work = pathlib.Path(tmp)
        (work / "home").mkdir()
        server, _url, kubeconfig = bench.start_server(cluster, work, 900, 300)
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECTL_DRA_DEBUG", "NO_COLOR", "FORCE_COLOR")}
        env.update(HOME=str(work / "home"), KUBECONFIG=str(kubeconfig), TOP=str(args.top), LC_ALL="C.UTF-8")
        try:
            for label, cli_args in (("list -o json", ["list", "-o", "json"]), ("list", ["list"])):
                out = work / "prof.txt"
                env["PROFILE_OUT"] = str(out)
                with open(work / "stdout", "wb") as so:
                    subprocess.run([sys.executable, "-c", CPROFILE, "x", *cli_args], env=env, stdout=so,
                                   check=True, timeout=600, cwd=ROOT)
                report.append(f"===== cProfile: kubectl-dra {label} (size {args.size}) =====\n{out.read_text()}")
            for label, mode in (("list -o json", "json"), ("list", "table")):
                with open(work / "stdout", "wb") as so:
                    r = subprocess.run([sys.executable, "-c", PHASES, mode], env=env, stdout=so, stderr=subprocess.PIPE,
                                       text=True, check=True, timeout=600, cwd=ROOT)
                report.append(f"===== phases: kubectl-dra {label} (size {args.size}; no profiler) =====\n{r.stderr}")
            code = ("import sys; sys.argv=['kubectl-dra','list','-o','json']\n"
                    "from kubectl_dra.cli import app\ntry: app(prog_name='kubectl dra')\nexcept SystemExit: pass")
            with open(work / "stdout", "wb") as so:
                r = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, stdout=so,
                                   stderr=subprocess.PIPE, text=True, check=False, timeout=600, cwd=ROOT)
            rows = [ln for ln in r.stderr.splitlines() if ln.startswith("import time:") and "|" in ln]
            parsed = []
            for ln in rows[1:]:  # "import time: self [us] | cumulative | imported package"
                self_us, cum_us, name = (x.strip() for x in ln.removeprefix("import time:").split("|", 2))
                parsed.append((int(cum_us), int(self_us), name))
            parsed.sort(reverse=True)
            lines = [f"  {cum / 1000:8.1f} ms cumulative {self_ / 1000:7.1f} ms self  {name}" for cum, self_, name in
                     parsed[:25]]
            title = "python -X importtime: kubectl-dra list -o json (top 25 by cumulative)"
            report.append(f"===== {title} =====\n" + "\n".join(lines))
        finally:
            bench.stop_server(server)
    text = "\n\n".join(report) + "\n"
    path = args.out_dir / f"profile-{args.size}.txt"
    path.write_text(text)
    print(text)
    print(f"(written to {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
