#!/usr/bin/env python3
"""Generate the demo cluster's NVML snapshots, ``kubectl_dra/demo/nvml/<node>.json``.

Run from the repository root:  ``python tools/gen_demo_nvml.py``  (``--check`` only verifies
that the committed files are current). Rerun it after ``tools/gen_demo.py`` changes
``kubectl_dra/demo/cluster.yaml``.

Every value is derived from ``cluster.yaml``, then passed through the fake NVML backend
and the real collector, so the files are exactly what ``collect()`` would produce on such
a node: GPU UUIDs, minors, names, PCI bus ids, PCIe roots, NUMA nodes, addressing mode,
driver and CUDA versions come from the published ``gpu.nvidia.com`` devices (versions
turned back into NVML's form: ``580.95.5`` -> ``580.95.05``), total memory from the node
label ``nvidia.com/gpu.memory`` (MiB), the static MIG layout from the published MIG
devices, the DynamicMIG instances from the allocated claims (a DynamicMIG device exists
only while allocated), the fabric clique from ``nvidia.com/gpu.clique``. What the cluster
cannot say is set here per node: NVLink wiring (``NVLINK`` below) and the MIG profile
tables (``kubectl_dra.nvml.migprofiles``).

Finally each snapshot is checked: the devices ``as_resourceslice`` derives from it must
match the published devices with no drift (``compare_snapshot``).
"""

from __future__ import annotations

import argparse
import sys
import uuid as uuidlib
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from kubectl_dra.demo import REFERENCE_TIME  # noqa: E402
from kubectl_dra.model.decode import decode_slice  # noqa: E402
from kubectl_dra.model.device import Device  # noqa: E402
from kubectl_dra.nvml.backend import FabricInfo  # noqa: E402
from kubectl_dra.nvml.collect import collect  # noqa: E402
from kubectl_dra.nvml.compare import compare_snapshot  # noqa: E402
from kubectl_dra.nvml.fake import ARCH_VALUES, BRAND_VALUES, FakeBackend, FakeGpu, FakeLink, FakeMachine  # noqa: E402
from kubectl_dra.nvml.migprofiles import MIB, table_for  # noqa: E402
from kubectl_dra.nvml.snapshot import Snapshot, dump_snapshot, normalize_bus_id  # noqa: E402

CLUSTER = ROOT / "kubectl_dra" / "demo" / "cluster.yaml"
OUT = ROOT / "kubectl_dra" / "demo" / "nvml"
DRIVER = "gpu.nvidia.com"
NS = uuidlib.uuid5(uuidlib.NAMESPACE_DNS, "demo.kubectl-dra.invalid")

#: node -> (NVLink version, links per GPU, NVSwitch bus ids); nodes not listed have no NVLink.
#: dgx-h100-01 is an HGX H100 board: 18 NVLink4 links per GPU over 4 NVSwitches (as in
#: NVIDIA's nvml-mock h100 profile), i.e. NV18 all-to-all.
NVLINK = {
    "dgx-h100-01": (4, 18, ["0000:05:00.0", "0000:06:00.0", "0000:07:00.0", "0000:08:00.0"]),
}


def nvml_driver_version(semver: str) -> str:
    """The driver publishes NVML's version as semver without leading zeros; NVML pads the
    last field to two digits (``580.95.5`` -> ``580.95.05``)."""
    major, minor, patch = semver.split(".")
    return f"{major}.{minor}.{int(patch):02d}"


def load_cluster() -> list[dict]:
    return [d for d in yaml.safe_load_all(CLUSTER.read_text(encoding="utf-8")) if d]


def published_devices(docs: list[dict]) -> list[Device]:
    return [d for o in docs if o["kind"] == "ResourceSlice" and o["spec"]["driver"] == DRIVER
            for d in decode_slice(o, "v1").devices]  # fmt: skip


def allocated(docs: list[dict], node: str) -> list[str]:
    """Names of this node's gpu.nvidia.com devices that claims hold."""
    out = []
    for o in docs:
        if o["kind"] != "ResourceClaim":
            continue
        for r in ((o.get("status") or {}).get("allocation") or {}).get("devices", {}).get("results", []):
            if r["driver"] == DRIVER and r["pool"] == node:
                out.append(r["device"])
    return out


def minor_of(name: str) -> int:
    """Our own generated names, read back: ``gpu-<minor>`` / ``gpu-<minor>-mig-...``."""
    return int(name.split("-")[1])


def placement_start(dev: Device) -> int:
    starts = [int(k.rsplit("memorySlice", 1)[1]) for k in dev.capacity if "memorySlice" in k]
    if starts:
        return min(starts)
    for cs in dev.consumes_counters:  # DynamicMIG: memory-slice-<i> counters
        idx = [int(k.rsplit("-", 1)[1]) for k in cs.get("counters", {}) if k.startswith("memory-slice-")]
        if idx:
            return min(idx)
    raise ValueError(f"{dev.name}: no memory slice")


def machine_for(node: dict, devices: list[Device], in_use: list[str]) -> FakeMachine:
    labels = node["metadata"].get("labels", {})
    total = int(labels["nvidia.com/gpu.memory"]) * MIB
    first = devices[0]
    cuda = first.attr("cudaDriverVersion").split(".")
    driver = nvml_driver_version(first.attr("driverVersion"))
    machine = FakeMachine(driver, int(cuda[0]) * 1000 + int(cuda[1]) * 10, f"{cuda[0]}.{driver}")
    by_minor: dict[int, list[Device]] = {}
    for d in devices:
        by_minor.setdefault(minor_of(d.name), []).append(d)
    clique = labels.get("nvidia.com/gpu.clique")
    for index, minor in enumerate(sorted(by_minor)):
        devs = by_minor[minor]
        full = next((d for d in devs if d.attr("type") == "gpu"), None)
        ref = full or devs[0]
        cc = ref.attr("cudaComputeCapability").split(".")
        mode = ref.attr("addressingMode")
        gpu = FakeGpu(
            index=index,
            uuid=full.attr("uuid") if full else ref.attr("parentUUID"),
            name=ref.attr("productName"),
            bus_id=normalize_bus_id(ref.attr("resource.kubernetes.io/pciBusID")),
            minor=minor,
            brand=BRAND_VALUES[ref.attr("brand").lower()],
            architecture=ARCH_VALUES[ref.attr("architecture").lower().replace(" ", "_")],
            compute_capability=(int(cc[0]), int(cc[1])),
            memory_bytes=total,
            numa_node=ref.attr("resource.kubernetes.io/numaNode"),
            pcie_root=ref.attr("resource.kubernetes.io/pcieRoot"),
            addressing_mode={"None": 0, "HMM": 1, "ATS": 2}[mode] if mode else None,
        )
        gpu.mig_table = table_for(gpu.name, total)
        gpu.mig_capable = bool(gpu.mig_table)
        if clique:
            cluster, _, clique_id = clique.rpartition(".")
            gpu.fabric = FabricInfo(uuidlib.UUID(cluster).bytes, int(clique_id), 3, 0)
        version_links_switches = NVLINK.get(node["metadata"]["name"])
        if version_links_switches:
            version, links, switches = version_links_switches
            gpu.nvlink_supported = True
            gpu.nvlinks = [FakeLink(True, version, normalize_bus_id(switches[k % len(switches)])) for k in range(links)]
        machine.gpus.append(gpu)
        static = [d for d in devs if d.attr("type") == "mig" and d.attr("uuid")]
        dynamic_live = [d for d in devs if d.attr("type") == "mig" and not d.attr("uuid") and d.name in in_use]
        if static:
            machine.set_mig_layout(index, [(d.attr("profile"), placement_start(d)) for d in static],
                                   uuids=[d.attr("uuid") for d in static])  # fmt: skip
        elif dynamic_live:  # created at prepare time for the claim that holds it
            layout = [(d.attr("profile"), placement_start(d)) for d in dynamic_live]
            machine.set_mig_layout(index, layout, uuids=[
                "MIG-" + str(uuidlib.uuid5(NS, f"nvml-mig/{node['metadata']['name']}/{minor}/{p}/{s}")) for p, s in layout
            ])  # fmt: skip
    return machine


def snapshots() -> dict[str, Snapshot]:
    docs = load_cluster()
    nodes = {o["metadata"]["name"]: o for o in docs if o["kind"] == "Node"}
    devices = published_devices(docs)
    now = datetime.strptime(REFERENCE_TIME, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    out: dict[str, Snapshot] = {}
    for name in sorted({d.node_name for d in devices if d.node_name}):
        mine = [d for d in devices if d.node_name == name]
        snap = collect(FakeBackend(machine_for(nodes[name], mine, allocated(docs, name))), name, now=now)
        drift = compare_snapshot(snap, mine)
        if not drift.in_sync:
            raise SystemExit(f"{name}: the snapshot does not reproduce the published devices: {drift.to_dict()}")
        out[name] = snap
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the snapshots are not up to date")
    args = ap.parse_args(argv)
    wanted = {f"{node}.json": dump_snapshot(snap) for node, snap in snapshots().items()}
    present = {p.name for p in OUT.glob("*.json")} if OUT.is_dir() else set()
    if args.check:
        stale = sorted(n for n, text in wanted.items() if not (OUT / n).is_file() or (OUT / n).read_text() != text)
        stale += sorted(present - set(wanted))
        if stale:
            print(f"out of date: {', '.join(stale)}; run tools/gen_demo_nvml.py", file=sys.stderr)
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name in present - set(wanted):
        (OUT / name).unlink()
    for name, text in wanted.items():
        (OUT / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
