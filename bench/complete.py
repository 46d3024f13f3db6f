#!/usr/bin/env python3
"""Time TAB completion on the demo cluster: `kubectl __complete dra …` (real kubectl, the plugin
protocol) and the kubectl_complete-dra helper alone, against `kubectl version --client` as the
floor of starting kubectl. Prints medians (s) and the ratio to the 300 ms target.

Usage: .venv/bin/python bench/complete.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TARGET_S = 0.300
CASES = [
    ["list", "--demo", "--node", ""],
    ["list", "--demo", "arch="],
    ["show", "--demo", "gpu-"],
    ["claim", "--demo", "--class", ""],
]


def timed(argv: list[str], env: dict, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    kubectl = str(BIN / "kubectl")
    floor = timed([kubectl, "version", "--client"], env, args.repeat)
    print(f"kubectl version --client (floor)                 {floor:.3f} s")
    worst = 0.0
    for case in CASES:
        via = timed([kubectl, "__complete", "dra", *case], env, args.repeat)
        direct = timed([str(BIN / "kubectl_complete-dra"), *case], env, args.repeat)
        worst = max(worst, via)
        shown = " ".join(c if c else "''" for c in case)
        print(f"kubectl __complete dra {shown:<28} {via:.3f} s   (helper alone {direct:.3f} s)")
    print(f"slowest via kubectl: {worst:.3f} s = {worst / TARGET_S:.2f} x the {TARGET_S * 1000:.0f} ms target"
          f" -> {'PASS' if worst <= TARGET_S else 'FAIL'}")
    return 0 if worst <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
