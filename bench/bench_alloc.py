#!/usr/bin/env python3
"""Time the allocation simulator (kubectl_dra.alloc.simulate) on the L cluster of gen_cluster.py.

5,000 nodes × 8 H100-like GPUs = 40,000 devices, a quarter allocated by 10,000 claims. Three
pending claims are simulated over every node:

* ``gpus8-match``: 8 GPUs with ``matchAttribute: gpu.nvidia.com/productName`` (fits on nodes
  that still have all 8 GPUs free);
* ``gpus8-pcie``: 8 GPUs with ``matchAttribute: resource.kubernetes.io/pcieRoot`` (never fits:
  two GPUs per PCIe root);
* ``gpu1-sel``: 1 GPU with a CEL selector on memory.

Usage: ``python bench/bench_alloc.py [--nodes N] [--claims M] [--repeat R]``. Prints the time to
build the cluster (not part of the simulator) and, per claim, the simulate() wall time (best of R),
the first run's time (CEL programs compiled then), the time of ``to_dict()`` (the explain JSON),
the number of allocatable nodes and the verdict. Target: each simulate() well under 3 s.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import gen_cluster

from kubectl_dra.alloc import simulate
from kubectl_dra.model.cluster import Cluster
from kubectl_dra.model.decode import decode


def claim(name: str, count: int, *, match: str | None = None, selector: str | None = None) -> dict:
    exactly: dict = {"deviceClassName": gen_cluster.DEVICE_CLASS, "allocationMode": "ExactCount", "count": count}
    if selector:
        exactly["selectors"] = [{"cel": {"expression": selector}}]
    devices: dict = {"requests": [{"name": "gpus", "exactly": exactly}]}
    if match:
        devices["constraints"] = [{"requests": ["gpus"], "matchAttribute": match}]
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": "bench", "uid": gen_cluster.uid("bench", name)},
        "spec": {"devices": devices},
    }


CLAIMS = {
    "gpus8-match": claim("gpus8-match", 8, match="gpu.nvidia.com/productName"),
    "gpus8-pcie": claim("gpus8-pcie", 8, match="resource.kubernetes.io/pcieRoot"),
    "gpu1-sel": claim(
        "gpu1-sel", 1, selector="device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('64Gi')) >= 0"
    ),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=gen_cluster.SIZES["L"][0])
    p.add_argument("--claims", type=int, default=gen_cluster.SIZES["L"][1])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    data = gen_cluster.cluster(args.nodes, args.claims)
    cluster = Cluster(source="bench")
    for obj in data["items"]:
        cluster.add(decode(obj))
    pending = {name: decode(obj) for name, obj in CLAIMS.items()}
    for c in pending.values():
        cluster.add(c)
    build = time.perf_counter() - t0
    devices = sum(len(s.devices) for s in cluster.slices)
    print(f"cluster: {args.nodes} nodes, {devices} devices, {args.claims} allocated claims (built in {build:.2f} s)")
    for name, c in pending.items():
        best = None
        first = 0.0
        result = None
        for _ in range(args.repeat):
            t = time.perf_counter()
            result = simulate(cluster, c)
            dt = time.perf_counter() - t
            if best is None:
                first = dt
            best = dt if best is None else min(best, dt)
        assert result is not None and best is not None
        t = time.perf_counter()
        result.to_dict()
        as_dict = time.perf_counter() - t
        print(
            f"{name:12s} simulate: {best:.3f} s (best of {args.repeat}, first {first:.3f} s)  to_dict: {as_dict:.3f} s  "
            f"nodes={len(result.nodes)}  allocatable={len(result.allocatable_nodes)}  verdict={result.verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
