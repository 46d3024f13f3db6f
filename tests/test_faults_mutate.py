"""Property-based hostile input (issue 16): hypothesis mutates one value anywhere in a valid
ResourceSlice, ResourceClaim or NVML snapshot — a wrong type, a huge number, NaN, an escape
sequence, an empty or enormous string — and every command that reads it must end with a documented
exit code (never 1, the internal-error code), and put no raw control character on stdout or stderr.
In-process (the `run` fixture): ~0.05 s an example."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")

SLICE = {
    "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "s1", "uid": "u1"},
    "spec": {"driver": "gpu.example.com", "nodeName": "n1", "pool": {"name": "n1", "generation": 1, "resourceSliceCount": 1},
             "devices": [{"name": "gpu-0", "attributes": {"driverVersion": {"version": "1.2.3"}, "productName": {"string": "X"},
                                                          "index": {"int": 0}, "mig": {"bool": False}},
                          "capacity": {"memory": {"value": "80Gi"}}}]},
}
CLAIM = {
    "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "c1", "namespace": "default"},
    "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.example.com", "count": 1,
                                                                  "selectors": [{"cel": {"expression": "device.driver == 'gpu.example.com'"}}]}}],
                         "constraints": [{"matchAttribute": "gpu.example.com/productName"}]}},
    "status": {"allocation": {"devices": {"results": [{"request": "gpu", "driver": "gpu.example.com", "pool": "n1", "device": "gpu-0"}]}}},
}
CLASS = {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "gpu.example.com"},
         "spec": {"selectors": [{"cel": {"expression": "device.driver == 'gpu.example.com'"}}]}}
SNAPSHOT = json.loads((ROOT / "kubectl_dra/demo/nvml/dgx-h100-01.json").read_text(encoding="utf-8"))

HOSTILE = st.sampled_from([
    None, [], {}, "", 0, -1, True, 1.5, 10**30, -(10**30), "NaN", "lots", "\x1b]8;;http://x\x07y\x1b[2J", "x" * 3000,
    {"a": 1}, [1, "a"], "0x1F", "on", "1e400", "ÿ\u202e名前😀",
])


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, (*prefix, i))


def _mutated(base, draw_index, replacement):
    paths = list(_paths(base))[1:]
    path = paths[draw_index % len(paths)]
    out = copy.deepcopy(base)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = replacement
    return out


def _write(tmp_path: Path, objects) -> str:
    path = tmp_path / "objects.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}), encoding="utf-8")
    return str(path)


def _check(result, allowed):
    assert result.exit_code in allowed, (result.exit_code, result.stderr[-500:])
    assert "internal error" not in result.stderr, result.stderr[-500:]
    assert not CONTROL.search(result.stdout) and not CONTROL.search(result.stderr.replace("\r\n", "\n")), result.stderr[-300:]


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(index=st.integers(min_value=0, max_value=10**6), value=HOSTILE)
def test_mutated_slice(run, tmp_path, index, value):
    path = _write(tmp_path, [_mutated(SLICE, index, value), CLASS, CLAIM])
    for args in (["list", "-f", path], ["show", "gpu-0", "-f", path], ["topology", "-f", path], ["attributes", "-f", path]):
        _check(run(*args), {0, 3, 5})
    # 2: the filter names an attribute no (remaining) device publishes
    _check(run("list", "-f", path, "-o", "name", "driverVersion>=1.0.0"), {0, 2, 5})


@SETTINGS
@given(index=st.integers(min_value=0, max_value=10**6), value=HOSTILE)
def test_mutated_claim(run, tmp_path, index, value):
    path = _write(tmp_path, [SLICE, CLASS, _mutated(CLAIM, index, value)])
    for args in (["claims", "-A", "-f", path], ["list", "-f", path], ["explain", "-n", "default", "c1", "-f", path]):
        _check(run(*args), {0, 3, 5, 7})
    _check(run("lint", "-f", path), {0, 1, 5})  # lint: 1 when it finds an error (the bug code is ruled out by the message)


@SETTINGS
@given(index=st.integers(min_value=0, max_value=10**6), value=HOSTILE)
def test_mutated_snapshot(run, tmp_path, index, value):
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(_mutated(SNAPSHOT, index, value)), encoding="utf-8")
    for args in (["nvml", "--snapshot", str(path)], ["nvml", "--snapshot", str(path), "--as-resourceslice"],
                 ["nvml", "--snapshot", str(path), "-o", "json"]):
        _check(run(*args), {0, 5})


def test_mutator_reaches_every_value():
    assert len(list(_paths(SLICE))) > 20 and len(list(_paths(SNAPSHOT))) > 100
