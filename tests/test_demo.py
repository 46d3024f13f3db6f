"""The shipped demo cluster is what tools/gen_demo.py generates, and it is consistent."""

from __future__ import annotations

import subprocess
import sys

from tests import demo_facts
from tests.conftest import ROOT


def test_demo_yaml_is_up_to_date_with_its_generator():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_demo.py"), "--check", "--quiet"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_demo_pools_are_complete_and_valid():
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    cluster = load_cluster(SourceOptions(demo=True), ())
    views = cluster.device_views()
    assert cluster.warnings == []
    assert all(p.complete and p.valid for p in cluster.pools)
    assert sorted(v.device.id for v in views) == demo_facts.device_ids()  # all 71, read from cluster.yaml
    nodes = {v.device.node_name for v in views}
    assert nodes == {"dgx-h100-01", "a100-mig-01", "h100-dmig-01", "l40s-01", "mi300x-01", "tpu-v4-01"}
    pending = [c for c in cluster.claims if c.state == "pending"]
    assert [c.ref for c in pending] == ["research/pretrain-70b-gpus-fmb6b"]
    assert {c.name for c in cluster.classes} >= {"gpu.nvidia.com", "mig.nvidia.com", "gpu.amd.com"}


def test_filter_language_page_is_generated_from_the_case_table():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_filter_docs.py"), "--check"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
