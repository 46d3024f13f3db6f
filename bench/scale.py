#!/usr/bin/env python3
"""Scaling benchmark: every read command at 40,000 and at 160,000 devices; prints the growth factors.

For 4x the data a linear command grows at most 4x in time and memory (less, since start-up and
imports are a fixed cost). This script runs each command against the fake API server
(``tests/fakeapi.py``, real HTTP on loopback, its own process) on cluster ``L`` (5,000 nodes x 8
GPUs, 10,000 claims) and ``XL`` (20,000 x 8 = 160,000 devices, 40,000 claims), both served at
once, and prints, per command, the median wall time and peak RSS at both sizes and the growth:
in time the median over the rounds of XL / L, where each round runs the command at both sizes back
to back (in a random order), so that a slow spell of the machine shifts both runs of a pair; in
memory the ratio of the medians. A factor above ``--limit`` (default 4.4) is a super-linear path:
the script exits 1 and names it.

Usage::

    .venv/bin/python bench/scale.py                 # about 10 minutes on 2 cores
    .venv/bin/python bench/scale.py --repeat 1 --only topology

Results go to ``bench/out/scale.json``. Nothing here is a test: timings are never asserted by the
suite (see docs/testing.md); run it by hand and record what it prints in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import shutil
import statistics
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gen_cluster  # noqa: E402
import run as bench_run  # noqa: E402

SIZES = {"L": (5000, 10000), "XL": (20000, 40000)}
LIMIT = 4.4

EXPLAIN_CLAIM = gen_cluster.EXPLAIN_CLAIM


def commands(dra: str, claim_file: pathlib.Path) -> list[tuple[str, list[str]]]:
    node = gen_cluster.node_name(42)
    return [
        ("list -o json", [dra, "list", "-o", "json"]),
        ("list (table)", [dra, "list"]),
        ("list -o name FILTER(3 terms)", [dra, "list", "-o", "name", *bench_run.FILTER_3]),
        ("list -o name --cel CEL(3 terms)", [dra, "list", "-o", "name", "--cel", bench_run.CEL_3]),
        ("list --state free -o name", [dra, "list", "--state", "free", "-o", "name"]),
        ("claims -A -o json", [dra, "claims", "-A", "-o", "json"]),
        ("claims -A (table)", [dra, "claims", "-A"]),
        ("show DEVICE", [dra, "show", f"{node}/gpu-3"]),
        ("classes", [dra, "classes"]),
        ("attributes", [dra, "attributes"]),
        ("topology (cluster view)", [dra, "topology"]),
        ("topology NODE", [dra, "topology", node]),
        ("explain 8-GPU claim + matchAttribute", [dra, "explain", "--claim-file", str(claim_file)]),
        ("lint", [dra, "lint"]),
    ]


def _cluster_file(size: str, args) -> tuple[pathlib.Path, int, int]:
    nodes, claims = SIZES[size]
    if args.nodes:  # a smaller pair with the same 4x step, for a quick check of the script itself
        nodes, claims = args.nodes * (4 if size == "XL" else 1), args.nodes * (8 if size == "XL" else 2)
    cluster = args.out_dir / (f"cluster-{size}.json" if not args.nodes else f"cluster-{size}-{nodes}.json")
    if args.regen or not cluster.is_file():
        t0 = time.perf_counter()
        gen_cluster.write(size, args.out_dir, nodes, claims).replace(cluster)
        print(f"[{size}] generated {cluster} in {time.perf_counter() - t0:.1f}s", flush=True)
    return cluster, nodes, claims


def bench_sizes(args, dra: str, claim_file: pathlib.Path) -> dict:
    """Both sizes served at once, and each command run at both sizes back to back (in a random
    order), round after round: the growth factor of a round compares two runs a few seconds apart,
    so a slow spell of the machine (its speed drifts by up to 40% here) shifts both, not one size."""
    cmds = [(k, a) for k, a in commands(dra, claim_file) if not args.only or any(o in k for o in args.only)]
    runs: dict = {size: {k: [] for k, _ in cmds} for size in SIZES}
    errors: dict = {}
    with tempfile.TemporaryDirectory(prefix="dra-scale-") as tmp:
        work = pathlib.Path(tmp)
        envs, servers = {}, []
        try:
            for size in SIZES:
                cluster, nodes, claims = _cluster_file(size, args)
                home = work / size / "home"
                home.mkdir(parents=True)
                server, url, kubeconfig = bench_run.start_server(cluster, work / size, args.server_lifetime, args.ready_timeout)
                servers.append(server)
                print(f"[{size}] fake API server {url}: {nodes * gen_cluster.GPUS_PER_NODE:,} devices, "
                      f"{claims:,} claims", flush=True)
                env = dict(os.environ)
                for var in ("KUBECONFIG", "KUBECTL_DRA_DEBUG", "NO_COLOR", "FORCE_COLOR", "COLUMNS"):
                    env.pop(var, None)
                env.update(HOME=str(home), KUBECONFIG=str(kubeconfig), LC_ALL="C.UTF-8")
                envs[size] = env
            order = random.Random(4)
            for i in range(args.repeat + 1):  # round 0 warms the page cache and .pyc files, untimed
                for key, argv in order.sample(cmds, len(cmds)):
                    for size in order.sample(list(SIZES), len(SIZES)):
                        if key in errors:
                            continue
                        r = bench_run.measure(argv, envs[size], work / "stdout", work / "stderr", args.timeout, work)
                        if r["timed_out"] or r["rc"] not in (0, 7):  # explain exits 7 when nothing fits
                            tail = (work / "stderr").read_text(errors="replace").strip()[-300:]
                            errors[key] = f"[{size}] exit {r['rc']}{' (timed out)' if r['timed_out'] else ''}: {tail}"
                            print(f"[{size}] {key:<40} ERROR {errors[key]}", flush=True)
                        elif i:
                            runs[size][key].append(r)
                if i:
                    print(f"round {i}/{args.repeat} done", flush=True)
        finally:
            for server in servers:
                bench_run.stop_server(server)
    out: dict = {}
    for key, _ in cmds:
        if key in errors:
            out[key] = {"error": errors[key]}
            continue
        small, big = runs["L"][key], runs["XL"][key]
        out[key] = {
            "L": {"wall_s": statistics.median(r["wall_s"] for r in small), "rss_mb": statistics.median(r["rss_mb"] for r in small), "n": len(small)},
            "XL": {"wall_s": statistics.median(r["wall_s"] for r in big), "rss_mb": statistics.median(r["rss_mb"] for r in big), "n": len(big)},
            "time_growth_rounds": [round(b["wall_s"] / a["wall_s"], 3) for a, b in zip(small, big)],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="timed runs per command and size (after one warm-up)")
    p.add_argument("--only", action="append", help="only commands whose name contains this (repeatable)")
    p.add_argument("--limit", type=float, default=LIMIT, help="largest acceptable growth factor for 4x the data")
    p.add_argument("--regen", action="store_true")
    p.add_argument("--nodes", type=int, help="nodes of the smaller cluster (default 5,000; the larger has 4x)")
    p.add_argument("--out-dir", type=pathlib.Path, default=HERE / "out")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--server-lifetime", type=float, default=3600.0)
    p.add_argument("--ready-timeout", type=float, default=600.0)
    p.add_argument("--dra", help="kubectl-dra executable (default: next to this Python, else on PATH)")
    args = p.parse_args(argv)
    bindir = pathlib.Path(sys.executable).parent
    dra = args.dra or (str(bindir / "kubectl-dra") if (bindir / "kubectl-dra").exists() else shutil.which("kubectl-dra"))
    if not dra:
        p.error("need kubectl-dra (pip install -e '.[test]' in the venv)")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    claim_file = args.out_dir / "explain-claim.json"
    claim_file.write_text(json.dumps(EXPLAIN_CLAIM))
    results = bench_sizes(args, dra, claim_file)
    print()
    print(f"{'command':<40} {'L s':>8} {'XL s':>8} {'time x':>7} {'L MB':>7} {'XL MB':>7} {'mem x':>6}")
    worst, failed = 0.0, []
    rows = {}
    for key, result in results.items():
        if "error" in result:
            failed.append(f"{key}: {result['error']}")
            continue
        small, big = result["L"], result["XL"]
        # time: the median of the rounds' factors (each from two runs back to back); memory: of the medians
        gt, gm = statistics.median(result["time_growth_rounds"]), big["rss_mb"] / small["rss_mb"]
        rows[key] = {"L": small, "XL": big, "time_growth": gt, "mem_growth": gm,
                     "time_growth_rounds": result["time_growth_rounds"]}
        worst = max(worst, gt, gm)
        flag = "" if max(gt, gm) <= args.limit else "  <-- super-linear"
        print(f"{key:<40} {small['wall_s']:8.3f} {big['wall_s']:8.3f} {gt:7.2f} {small['rss_mb']:7.0f} "
              f"{big['rss_mb']:7.0f} {gm:6.2f}{flag}")
        if flag:
            failed.append(f"{key}: grows {max(gt, gm):.2f}x for 4x the data")
    small_nodes = args.nodes or SIZES["L"][0]
    (args.out_dir / "scale.json").write_text(json.dumps(
        {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "limit": args.limit, "repeat": args.repeat,
         "devices": {"L": small_nodes * gen_cluster.GPUS_PER_NODE, "XL": 4 * small_nodes * gen_cluster.GPUS_PER_NODE},
         "load_average_after": list(os.getloadavg()), "commands": rows, "failed": failed,
         "machine": f"{os.cpu_count()} CPUs", "python": sys.version.split()[0]}, indent=2))
    print(f"\nworst growth factor {worst:.2f} (limit {args.limit}); results in {args.out_dir / 'scale.json'}")
    for f in failed:
        print(f"FAIL {f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
