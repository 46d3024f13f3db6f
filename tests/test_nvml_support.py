"""Shared helpers for the NVML tests (the mock profiles, fakes, the demo cluster's devices),
and the checks that the inputs they rely on are present."""

from __future__ import annotations

import functools
from datetime import datetime, timezone

import pytest
import yaml

from kubectl_dra.model.decode import decode_slice
from kubectl_dra.model.device import Device
from kubectl_dra.nvml.collect import collect
from kubectl_dra.nvml.fake import FakeBackend, FakeMachine
from kubectl_dra.nvml.snapshot import Snapshot
from tests.conftest import DATA, FIXTURES, ROOT

PROFILES_DIR = FIXTURES / "k8s-test-infra"
NVIDIA_FIXTURES = FIXTURES / "dra-driver-nvidia-gpu"
DATA_NVML = DATA / "nvml"
PROFILES = ("a100", "b200", "gb200", "gb300", "h100", "l40s", "t4")
NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=timezone.utc)


def profile_path(name: str):
    path = PROFILES_DIR / f"nvml-mock-profile-{name}.yaml"
    if not path.is_file():
        pytest.skip("../shared/fixtures/upstream/k8s-test-infra is not present")
    return path


@functools.lru_cache(maxsize=None)
def _profile_dict(name: str) -> dict:
    return yaml.safe_load(profile_path(name).read_text(encoding="utf-8"))


def machine(name: str) -> FakeMachine:
    """A fresh FakeMachine from an nvml-mock profile (safe to edit)."""
    return FakeMachine.from_profile(_profile_dict(name))


def snap(source: str | FakeMachine | FakeBackend, node: str = "node-1") -> Snapshot:
    if isinstance(source, FakeBackend):
        backend = source
    else:
        backend = FakeBackend(source if isinstance(source, FakeMachine) else machine(source))
    return collect(backend, node, now=NOW)


def nvidia_fixture(name: str) -> dict:
    path = NVIDIA_FIXTURES / name
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _demo_docs() -> tuple[dict, ...]:
    text = (ROOT / "kubectl_dra" / "demo" / "cluster.yaml").read_text(encoding="utf-8")
    return tuple(d for d in yaml.safe_load_all(text) if d)


def demo_node_labels(node: str) -> dict[str, str]:
    return next(o for o in _demo_docs() if o["kind"] == "Node" and o["metadata"]["name"] == node)["metadata"]["labels"]


def demo_devices(node: str | None = None) -> list[Device]:
    """Published gpu.nvidia.com devices of the demo cluster (freshly decoded, safe to edit)."""
    out = []
    for o in _demo_docs():
        if o["kind"] == "ResourceSlice" and o["spec"]["driver"] == "gpu.nvidia.com":
            if node is None or o["spec"]["nodeName"] == node:
                out.extend(decode_slice(o, "v1").devices)
    return out


def demo_published(node: str) -> tuple[dict[str, dict], dict[str, dict]]:
    """The node's gpu.nvidia.com devices and counter sets as cluster.yaml spells them (plain YAML,
    nothing decoded): ({device name: device}, {counter set name: counter set})."""
    devices: dict[str, dict] = {}
    counters: dict[str, dict] = {}
    for o in _demo_docs():
        if o["kind"] == "ResourceSlice" and o["spec"]["driver"] == "gpu.nvidia.com" and o["spec"]["nodeName"] == node:
            devices.update((d["name"], d) for d in o["spec"].get("devices", []))
            counters.update((c["name"], c) for c in o["spec"].get("sharedCounters", []))
    return devices, counters


def demo_allocated(node: str) -> list[str]:
    """Names of the node's gpu.nvidia.com devices that the demo's claims hold (plain YAML)."""
    return sorted(
        r["device"]
        for o in _demo_docs()
        if o["kind"] == "ResourceClaim"
        for r in (o.get("status") or {}).get("allocation", {}).get("devices", {}).get("results", [])
        if r["driver"] == "gpu.nvidia.com" and r["pool"] == node
    )


def test_every_mock_profile_is_present():
    for name in PROFILES:
        assert profile_path(name).is_file()
