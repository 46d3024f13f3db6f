"""The demo cluster (kubectl_dra/demo/cluster.yaml) read with plain YAML, for exact expectations.

Nothing from kubectl_dra is used: a test can compare what the CLI shows with what the file says,
instead of with a count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import yaml

from tests.conftest import ROOT

DEMO = ROOT / "kubectl_dra" / "demo" / "cluster.yaml"


@functools.lru_cache(maxsize=1)
def objects() -> tuple[dict, ...]:
    return tuple(d for d in yaml.safe_load_all(DEMO.read_text(encoding="utf-8")) if d)


@functools.lru_cache(maxsize=1)
def devices() -> tuple[dict, ...]:
    """Every published device: id (driver/pool/name), node, driver, pool, name, and attributes by
    fully-qualified name (a bare name is in the driver's domain) with the value unwrapped."""
    out = []
    for o in objects():
        if o["kind"] != "ResourceSlice":
            continue
        spec = o["spec"]
        for d in spec.get("devices", []):
            attributes = {}
            for key, typed in (d.get("attributes") or {}).items():
                attributes[key if "/" in key else f"{spec['driver']}/{key}"] = next(iter(typed.values()))
            out.append({
                "id": f"{spec['driver']}/{spec['pool']['name']}/{d['name']}",
                "node": spec.get("nodeName"),
                "driver": spec["driver"],
                "pool": spec["pool"]["name"],
                "name": d["name"],
                "attributes": attributes,
            })
    return tuple(out)


def device_ids(where: Callable[[dict], bool] = lambda d: True) -> list[str]:
    """Sorted ids of the devices for which ``where`` holds."""
    return sorted(d["id"] for d in devices() if where(d))


def allocated_ids() -> set[str]:
    """Ids of the devices that the demo's ResourceClaims hold."""
    return {
        f"{r['driver']}/{r['pool']}/{r['device']}"
        for o in objects()
        if o["kind"] == "ResourceClaim"
        for r in (o.get("status") or {}).get("allocation", {}).get("devices", {}).get("results", [])
    }


def nvidia(kind: str) -> Callable[[dict], bool]:
    """gpu.nvidia.com devices of a type: "gpu" (whole GPUs) or "mig"."""
    return lambda d: d["driver"] == "gpu.nvidia.com" and d["attributes"].get("gpu.nvidia.com/type") == kind
