"""Cluster values for completion: demo, ``-f`` files, or the live cluster (short timeout, brief cache).

Every failure returns None / an empty list: a TAB never prints an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

#: a live cluster's values are reused this long (seconds): TABs come in bursts
CACHE_TTL = 30.0
#: the live read gives up after this long (seconds)
LIVE_TIMEOUT = 2.0
#: at most this many distinct values per attribute
MAX_VALUES = 50


def contexts(source: dict) -> list[str]:
    try:
        from kubectl_dra.kube.live import kubeconfig_paths
        from kubectl_dra.kube.simpleyaml import safe_load

        names: list[str] = []
        for path in kubeconfig_paths(source.get("kubeconfig")):
            data = safe_load(Path(path).read_bytes()) or {}
            names += [c.get("name") for c in data.get("contexts") or [] if isinstance(c, dict) and c.get("name")]
        return sorted(set(names))
    except Exception:
        return []


def catalog(source: dict) -> dict | None:
    """Names and values to complete: nodes, devices, drivers, classes, claims, namespaces, pods, attributes."""
    try:
        if source.get("demo") or source.get("filenames"):
            return _build(_load(source))
        return _live(source)
    except Exception:
        return None


def _load(source: dict, timeout: float | None = None):
    from kubectl_dra.kube.load import CLAIMS, CLASSES, PODS, SLICES, SourceOptions, load_cluster

    options = SourceOptions(
        filenames=[f for f in source.get("filenames") or [] if f != "-"],  # never wait on stdin
        demo=bool(source.get("demo")),
        kubeconfig=source.get("kubeconfig"),
        context=source.get("context"),
        all_namespaces=True,
        request_timeout=timeout,
    )
    if not options.demo and not options.filenames and (source.get("filenames") or []):
        raise ValueError("stdin only")
    return load_cluster(options, {SLICES, CLAIMS, CLASSES, PODS})


def _build(cluster) -> dict:
    views = cluster.device_views()
    attributes: dict[str, dict] = {}
    capacity: dict[str, dict] = {}
    for view in views:
        device = view.device
        for qualified, value in device.attributes.items():
            info = attributes.setdefault(qualified, {"kind": device.attr_kind(qualified), "values": {}})
            if isinstance(value, (str, int, float, bool)) and len(info["values"]) < MAX_VALUES:
                text = str(value).lower() if isinstance(value, bool) else str(value)
                info["values"][text] = None
        for qualified, text in device.capacity.items():
            info = capacity.setdefault(qualified, {"kind": "quantity", "values": {}})
            if len(info["values"]) < MAX_VALUES:
                info["values"][str(text)] = None
    for table in (attributes, capacity):
        for info in table.values():
            info["values"] = list(info["values"])
            info["kind"] = str(info["kind"] or "")
    return {
        "nodes": sorted({v.device.node_label for v in views if v.device.node_label} | {n.name for n in cluster.nodes}),
        "devices": sorted({f"{v.device.node_label}/{v.device.name}" if v.device.node_label else v.device.id for v in views}),
        "drivers": sorted({v.device.driver for v in views} | {c.driver for c in getattr(cluster, "slices", [])}),
        "classes": sorted(c.name for c in cluster.classes),
        "claims": sorted(f"{c.namespace}/{c.name}" for c in cluster.claims),
        "namespaces": sorted({c.namespace for c in cluster.claims} | {p.namespace for p in cluster.pods}),
        "pods": sorted({f"{p.namespace}/{p.name}" for p in cluster.pods}),
        "attributes": attributes,
        "capacity": capacity,
    }


def _cache_file(source: dict) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kubectl-dra"
    from kubectl_dra.kube.live import kubeconfig_paths

    key = json.dumps([kubeconfig_paths(source.get("kubeconfig")), source.get("context") or ""])
    return base / f"complete-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _live(source: dict) -> dict | None:
    path = _cache_file(source)
    try:
        if time.time() - path.stat().st_mtime < CACHE_TTL:
            return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    data = _build(_load(source, timeout=LIVE_TIMEOUT))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass
    return data
