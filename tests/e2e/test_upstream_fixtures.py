"""Every DRA object in the upstream fixtures (../shared/fixtures/upstream) against the real API server.

Each object is created with a server-side dry run (nothing is stored). The server's verdicts are
pinned in tests/e2e/data/upstream_server_verdicts.json (regenerate with
KUBECTL_DRA_UPDATE_VERDICTS=1 and review the diff: a change means Kubernetes changed validation).
For every ResourceSlice the server accepts, `kubectl dra list -o json` reads the object the server
would store (defaults applied, converted to v1) exactly as it reads the original file.
"""

from __future__ import annotations

import copy
import json
import os

import pytest
import yaml

from tests.conftest import FIXTURES
from tests.e2e.kapi import RESOURCES, Api, ApiError
from tests.e2e.objects import for_create

pytestmark = pytest.mark.e2e

VERDICTS = os.path.join(os.path.dirname(__file__), "data", "upstream_server_verdicts.json")
DRA_KINDS = {"ResourceSlice", "DeviceClass", "ResourceClaim", "ResourceClaimTemplate", "DeviceTaintRule"}
SERVED = {"resource.k8s.io/v1", "resource.k8s.io/v1beta1", "resource.k8s.io/v1beta2"}
PREFIX = "upstream-fx-"


def _objects() -> list[tuple[str, dict]]:
    """(id, object) for every DRA object in the fixtures, ids like 'dir/file.yaml#2'."""
    out = []
    for path in sorted(FIXTURES.rglob("*.yaml")) if FIXTURES.is_dir() else []:
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue
        items = []
        for d in docs:
            items.extend((d.get("items") or []) if str(d.get("kind", "")).endswith("List") else [d])
        n = 0
        for obj in items:
            if isinstance(obj, dict) and obj.get("kind") in DRA_KINDS:
                out.append((f"{path.relative_to(FIXTURES)}#{n}", obj))
                n += 1
    return out


def _prepare(obj: dict) -> dict:
    """Creatable and unique: a prefixed name (dry runs still collide with stored objects), namespace default."""
    obj = for_create(obj)
    md = obj["metadata"]
    if md.get("name"):
        md["name"] = PREFIX + md["name"]
    else:
        md["generateName"] = PREFIX
    if RESOURCES[obj["kind"]][2]:
        md["namespace"] = "default"
    else:
        md.pop("namespace", None)
    return obj


def _verdict(api: Api, obj: dict) -> tuple[str, dict | None]:
    if obj.get("apiVersion") not in SERVED:
        return f"not served: {obj.get('apiVersion')}", None
    try:
        stored = api.create(_prepare(obj), dry_run=True)
    except ApiError as e:
        reason = e.body.get("reason") if isinstance(e.body, dict) else ""
        causes = (e.body.get("details") or {}).get("causes") or [] if isinstance(e.body, dict) else []
        fields = sorted({c.get("field", "") for c in causes})
        return f"{e.status} {reason}" + (f": {', '.join(fields)}" if fields else ""), None
    return "ok", stored


@pytest.fixture(scope="module")
def verdicts(api):
    found = {}
    stored = {}
    for oid, obj in _objects():
        found[oid], stored[oid] = _verdict(api, obj)
    return found, stored


def test_server_verdicts_are_pinned(verdicts):
    found, _ = verdicts
    if not found:
        pytest.skip("../shared/fixtures/upstream is not present")
    if os.environ.get("KUBECTL_DRA_UPDATE_VERDICTS"):
        os.makedirs(os.path.dirname(VERDICTS), exist_ok=True)
        with open(VERDICTS, "w", encoding="utf-8") as f:
            json.dump(found, f, indent=1, sort_keys=True)
            f.write("\n")
    with open(VERDICTS, encoding="utf-8") as f:
        pinned = json.load(f)
    assert found == pinned


def _device_view(run, tmp_path, name: str, obj: dict) -> list[dict]:
    path = tmp_path / name
    path.write_text(json.dumps(obj), encoding="utf-8")
    result = run("list", "-o", "json", "-f", str(path))
    assert result.exit_code == 0, result.stderr
    items = json.loads(result.stdout)["items"]
    return sorted(({k: d.get(k) for k in ("driver", "pool", "name", "attributes", "capacity", "taints")} for d in items),
                  key=lambda d: (d["driver"], d["pool"], d["name"]))


def test_accepted_slices_read_the_same_as_the_server_stores_them(verdicts, run, tmp_path):
    found, stored = verdicts
    checked = 0
    for oid, obj in _objects():
        if obj["kind"] != "ResourceSlice" or found.get(oid) != "ok":
            continue
        original = copy.deepcopy(obj)
        original["metadata"] = {"name": stored[oid]["metadata"]["name"]}
        server = copy.deepcopy(stored[oid])
        mine = _device_view(run, tmp_path, "original.json", original)
        theirs = _device_view(run, tmp_path, "stored.json", server)
        assert mine == theirs, oid
        assert mine, f"{oid}: the server stores devices, the tool shows none"
        checked += 1
    assert checked >= 5
