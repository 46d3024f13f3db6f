#!/usr/bin/env python3
"""GPU check: nvidia-smi and NVML must describe this machine's GPUs the same way.

Run it on a machine with an NVIDIA GPU, driver and nvidia-smi, from the repository root, with
the project's virtual environment (it needs nvidia-ml-py):

    .venv/bin/python tests/gpu/check_smi_vs_nvml.py [--out DIR] [--nvidia-smi CMD] [--timeout SECS]

It runs, side by side:

1. the collector script (kubectl_dra/nvml/collector.sh, the one the remote modes run in a pod)
   and parses its output (kubectl_dra.nvml.smi.parse_collected);
2. our nvidia-ml-py collector (kubectl_dra.nvml.collect.collect over real.RealBackend).

Everything is kept under ``--out`` (default ``$OUT``, else ./gpu-check-out):

    collector.txt          the collector's raw output
    fixture/<section>.txt  each nvidia-smi section on its own (query.xml, list.txt, ...), ready to
                           copy into tests/data/nvidia-smi/<machine>/ (check for serials first)
    smi-snapshot.json      snapshot parsed from the nvidia-smi outputs
    nvml-snapshot.json     snapshot collected through NVML
    report.txt             every fact both snapshots have, compared (kubectl_dra.nvml.smi.common_differences)

Exit codes: 0 the two agree on every shared fact; 1 they differ (report.txt lists each
difference); 77 no GPU here (nvidia-smi missing or NVML unavailable) - a skip, not a pass.

``--nvml fake-from-smi`` replaces step 2 by the fake backend replaying step 1, to test this
script on a machine without a GPU (tests/test_nvml_smi.py does).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kubectl_dra.nvml import smi  # noqa: E402
from kubectl_dra.nvml.snapshot import dump_snapshot  # noqa: E402

SKIP = 77
FIXTURE_NAMES = {
    "query": "query.xml", "list": "list.txt", "query-gpu": "query-gpu.csv", "mig-lgi": "mig-lgi.txt",
    "mig-lci": "mig-lci.txt", "mig-lgip": "mig-lgip.txt", "mig-lgipp": "mig-lgipp.txt", "topo": "topo.txt",
    "nvlink": "nvlink.txt", "version": "version.txt", "pci": "pci.txt", "xid": "xid.txt",
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.environ.get("OUT") or "gpu-check-out")
    parser.add_argument("--nvidia-smi", default="nvidia-smi", help="how to run nvidia-smi (default: nvidia-smi)")
    parser.add_argument("--timeout", type=int, default=30, help="seconds per nvidia-smi command (default 30)")
    parser.add_argument("--node", default=None)
    parser.add_argument("--nvml", choices=("real", "fake-from-smi"), default="real")
    args = parser.parse_args(argv)
    out = Path(args.out)
    (out / "fixture").mkdir(parents=True, exist_ok=True)

    # 1. nvidia-smi through the collector script
    argv_ = smi.collector_argv(nvidia_smi=args.nvidia_smi, timeout=args.timeout)
    done = subprocess.run(argv_, capture_output=True, text=True, timeout=args.timeout * 14 + 60)
    (out / "collector.txt").write_text(done.stdout, encoding="utf-8")
    if done.stderr:
        (out / "collector.stderr.txt").write_text(done.stderr, encoding="utf-8")
    collected = smi.split_collected(done.stdout)
    for name, section in collected.sections.items():
        (out / "fixture" / FIXTURE_NAMES.get(name, f"{name}.txt")).write_text(section.stdout, encoding="utf-8")
    query = collected.sections.get("query")
    if query is None or query.rc in ("notfound", "127") or not query.stdout.strip():
        print(f"SKIP: nvidia-smi did not answer (query section: rc={query.rc if query else None}); see {out}/collector.txt")
        return SKIP
    from_smi = smi.parse_collected(done.stdout, node=args.node)
    (out / "smi-snapshot.json").write_text(dump_snapshot(from_smi), encoding="utf-8")

    # 2. NVML through nvidia-ml-py
    from kubectl_dra.nvml.backend import NvmlUnavailable
    from kubectl_dra.nvml.collect import collect

    if args.nvml == "real":
        from kubectl_dra.nvml.real import RealBackend

        backend = RealBackend()
    else:
        from kubectl_dra.nvml.fake import FakeBackend, FakeMachine

        backend = FakeBackend(FakeMachine.from_snapshot(from_smi))
    try:
        from_nvml = collect(backend, from_smi.node or args.node or "node")
    except NvmlUnavailable as e:
        print(f"SKIP: {e}")
        return SKIP
    (out / "nvml-snapshot.json").write_text(dump_snapshot(from_nvml), encoding="utf-8")

    # 3. the facts both have must agree
    diffs, compared = smi.common_differences(from_smi, from_nvml)
    lines = [
        f"GPUs: nvidia-smi {len(from_smi.gpus)}, NVML {len(from_nvml.gpus)}",
        f"facts compared: {compared}",
        f"nvidia-smi errors: {json.dumps([e.to_dict() for e in from_smi.errors])}",
        f"NVML errors: {json.dumps([e.to_dict() for e in from_nvml.errors])}",
        f"differences: {len(diffs)}",
        *(f"  {d}" for d in diffs),
    ]
    report = "\n".join(lines) + "\n"
    (out / "report.txt").write_text(report, encoding="utf-8")
    print(report, end="")
    print(("FAIL" if diffs else "OK") + f": outputs kept in {out}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
