#!/usr/bin/env python3
"""Generate synthetic DRA clusters (``kind: List`` JSON of ``resource.k8s.io/v1`` objects) for benchmarks.

Sizes (nodes x 8 GPUs, one ResourceSlice per node, driver gpu.nvidia.com, pool = node name):

* ``S``:    10 nodes =     80 devices,     20 allocated ResourceClaims
* ``L``: 5,000 nodes = 40,000 devices, 10,000 allocated ResourceClaims
* ``XL``: 20,000 nodes = 160,000 devices, 40,000 allocated ResourceClaims (``bench/scale.py``)

Devices look like what the NVIDIA DRA driver (k8s-dra-driver-gpu) publishes for an H100 node
(names ``gpu-0..7``, the usual attributes, ``memory: 81559Mi``). A quarter of the devices are
allocated, one per claim, spread over a few namespaces; every claim is reserved for a pod.
Everything is deterministic: UUIDs are uuid5 of names, the device choice uses a fixed seed, and
timestamps are fixed, so two runs write byte-identical files.

Usage::

    python bench/gen_cluster.py [--size S|L|both] [--out-dir bench/out] [--nodes N --claims M]

writes ``<out-dir>/cluster-<size>.json`` and prints its path, object and device counts.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import sys
import uuid

GPUS_PER_NODE = 8
DRIVER = "gpu.nvidia.com"
DEVICE_CLASS = "gpu.nvidia.com"
NAMESPACES = ("ml-training", "ml-inference", "research", "batch")
SIZES = {"S": (10, 20), "L": (5000, 10000), "XL": (20000, 40000)}  # nodes, claims (claims = 1/4 of the devices)
NS_UUID = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # uuid.NAMESPACE_URL
SLICE_TS = "2026-11-01T08:00:00Z"
CLAIM_TS = "2026-11-20T12:00:00Z"
# H100 SXM: 8 GPUs on two NUMA nodes, each pair behind one PCIe root (bus IDs as on a DGX H100)
PCI_BUSES = ("1b", "43", "52", "61", "9d", "c3", "d1", "df")
PCIE_ROOTS = ("15", "15", "48", "48", "97", "97", "d7", "d7")


def uid(*parts: str) -> str:
    return str(uuid.uuid5(NS_UUID, "/".join(parts)))


def node_name(i: int) -> str:
    return f"gpu-node-{i:05d}"


def device(node: str, g: int) -> dict:
    return {
        "name": f"gpu-{g}",
        "attributes": {
            "addressingMode": {"string": "HMM"},
            "architecture": {"string": "Hopper"},
            "brand": {"string": "Nvidia"},
            "cudaComputeCapability": {"version": "9.0.0"},
            "cudaDriverVersion": {"version": "13.0.0"},
            "driverVersion": {"version": "580.95.5"},
            "productName": {"string": "NVIDIA H100 80GB HBM3"},
            "resource.kubernetes.io/numaNode": {"int": 0 if g < 4 else 1},
            "resource.kubernetes.io/pciBusID": {"string": f"0000:{PCI_BUSES[g]}:00.0"},
            "resource.kubernetes.io/pcieRoot": {"string": f"pci0000:{PCIE_ROOTS[g]}"},
            "type": {"string": "gpu"},
            "uuid": {"string": "GPU-" + uid("gpu", node, str(g))},
        },
        "capacity": {"memory": {"value": "81559Mi"}},
    }


def resource_slice(i: int) -> dict:
    node = node_name(i)
    name = f"{node}-{DRIVER}-{uid('slice-suffix', node)[:5]}"
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {
            "name": name,
            "generateName": f"{node}-{DRIVER}-",
            "uid": uid("slice", name),
            "resourceVersion": str(1000 + i),
            "generation": 1,
            "creationTimestamp": SLICE_TS,
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": node, "uid": uid("node", node), "controller": True}
            ],
        },
        "spec": {
            "driver": DRIVER,
            "nodeName": node,
            "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
            "devices": [device(node, g) for g in range(GPUS_PER_NODE)],
        },
    }


def resource_claim(j: int, node: str, gpu: int) -> dict:
    ns = NAMESPACES[j % len(NAMESPACES)]
    pod = f"job-{j:05d}-worker-0"
    name = f"{pod}-gpu-{uid('claim-suffix', ns, pod)[:5]}"
    pod_uid = uid("pod", ns, pod)
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {
            "name": name,
            "generateName": f"{pod}-gpu-",
            "namespace": ns,
            "uid": uid("claim", ns, name),
            "resourceVersion": str(100000 + j),
            "creationTimestamp": CLAIM_TS,
            "annotations": {"resource.kubernetes.io/pod-claim-name": "gpu"},
            "finalizers": ["resource.kubernetes.io/delete-protection"],
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Pod", "name": pod, "uid": pod_uid,
                 "controller": True, "blockOwnerDeletion": True}
            ],
        },
        "spec": {
            "devices": {
                "requests": [
                    {"name": "gpu", "exactly": {"deviceClassName": DEVICE_CLASS, "allocationMode": "ExactCount", "count": 1}}
                ]
            }
        },
        "status": {
            "allocation": {
                "devices": {"results": [{"request": "gpu", "driver": DRIVER, "pool": node, "device": f"gpu-{gpu}"}]},
                "nodeSelector": {
                    "nodeSelectorTerms": [
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                    ]
                },
            },
            "reservedFor": [{"resource": "pods", "name": pod, "uid": pod_uid}],
        },
    }


def device_class() -> dict:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": DEVICE_CLASS, "uid": uid("deviceclass", DEVICE_CLASS), "creationTimestamp": SLICE_TS},
        "spec": {
            "selectors": [
                {"cel": {"expression": "device.driver == 'gpu.nvidia.com' && "
                                       "device.attributes['gpu.nvidia.com'].type == 'gpu'"}}
            ]
        },
    }


def cluster(nodes: int, claims: int) -> dict:
    total = nodes * GPUS_PER_NODE
    if claims > total:
        raise ValueError(f"{claims} claims cannot each get one of {total} devices")
    picks = sorted(random.Random(42).sample(range(total), claims))
    items: list[dict] = [device_class()]
    items += [resource_slice(i) for i in range(nodes)]
    items += [resource_claim(j, node_name(d // GPUS_PER_NODE), d % GPUS_PER_NODE) for j, d in enumerate(picks)]
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def write(size: str, out_dir: pathlib.Path, nodes: int | None = None, claims: int | None = None) -> pathlib.Path:
    n, c = SIZES[size]
    n, c = nodes or n, claims if claims is not None else c
    data = cluster(n, c)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"cluster-{size}.json"
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=["S", "L", "XL", "both"], default="both")
    p.add_argument("--out-dir", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent / "out")
    p.add_argument("--nodes", type=int, help="override the node count of the size")
    p.add_argument("--claims", type=int, help="override the claim count of the size")
    args = p.parse_args(argv)
    for size in ("S", "L") if args.size == "both" else (args.size,):
        path = write(size, args.out_dir, args.nodes, args.claims)
        n, c = SIZES[size]
        n, c = args.nodes or n, args.claims if args.claims is not None else c
        print(f"{path}  size={size} nodes={n} devices={n * GPUS_PER_NODE} claims={c} "
              f"bytes={path.stat().st_size:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


# an 8-GPU claim whose devices must share a product name (matchAttribute): issue 15's explain target
EXPLAIN_CLAIM = {
    "apiVersion": "resource.k8s.io/v1",
    "kind": "ResourceClaim",
    "metadata": {"name": "eight-gpus", "namespace": "bench"},
    "spec": {
        "devices": {
            "requests": [{"name": "gpus", "exactly": {"deviceClassName": DEVICE_CLASS,
                                                      "allocationMode": "ExactCount", "count": 8}}],
            "constraints": [{"requests": ["gpus"], "matchAttribute": "gpu.nvidia.com/productName"}],
        }
    },
}


def write_explain_claim(out_dir) -> "pathlib.Path":
    """The explain target's claim as a file for ``explain --claim-file``."""
    import json
    import pathlib

    path = pathlib.Path(out_dir) / "explain-claim.json"
    path.write_text(json.dumps(EXPLAIN_CLAIM))
    return path
