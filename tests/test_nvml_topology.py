"""Every NVIDIA mock NVML profile end to end: NVML snapshot -> the ResourceSlices the driver would
publish -> `kubectl dra topology NODE -f slices --nvml snapshot`: a sane tree and matrix."""

from __future__ import annotations

import json

import pytest
import yaml

from kubectl_dra.nvml.collect import collect
from kubectl_dra.nvml.fake import FakeBackend
from kubectl_dra.nvml.resourceslice import as_resourceslice
from tests.test_nvml_support import PROFILES, profile_path


@pytest.mark.parametrize("profile", PROFILES)
def test_mock_profile_tree_and_matrix(run, tmp_path, profile):
    path = profile_path(profile)
    snapshot = collect(FakeBackend.from_profile(path), node=f"node-{profile}")
    (tmp_path / "snap.json").write_text(json.dumps(snapshot.to_dict()))
    (tmp_path / "slices.yaml").write_text(yaml.safe_dump(as_resourceslice(snapshot)))
    result = run("topology", f"node-{profile}", "-f", str(tmp_path / "slices.yaml"), "--nvml", str(tmp_path / "snap.json"),
                 "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    devices = [d for numa in data["numa"] for root in numa["pcieRoots"] for d in root["devices"]]
    gpus = [d for d in devices if d.get("type") == "gpu"]
    assert len(gpus) == len(snapshot.gpus)
    assert {d["uuid"] for d in gpus} == {g.uuid for g in snapshot.gpus}
    assert all(d["state"] == "free" for d in gpus)
    text = run("topology", f"node-{profile}", "-f", str(tmp_path / "slices.yaml"), "--nvml", str(tmp_path / "snap.json"))
    assert text.exit_code == 0
    n = len(snapshot.gpus)
    if n > 1:
        assert "GPU topology (NVML" in text.stdout
        matrix = [line for line in text.stdout.splitlines() if line.strip().startswith("GPU") and " X " in f"{line} "]
        assert len(matrix) == n
