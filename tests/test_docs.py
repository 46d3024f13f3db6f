"""Docs that are generated from the program are current; the RBAC YAML allows what the tool reads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "kubectl_dra" / "demo" / "cluster.yaml"


def test_generated_docs_are_current():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_docs
    finally:
        sys.path.pop(0)
    stale = [str(p.relative_to(ROOT)) for p, text in gen_docs.outputs().items()
             if not p.exists() or p.read_text(encoding="utf-8") != text]
    assert stale == [], "run python tools/gen_docs.py"


def _allowed(rules: list[dict], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


def _resource(path: str) -> tuple[str, str] | None:
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        rest, group = parts[2:], ""
    elif parts[0] == "apis" and len(parts) >= 4:
        rest, group = parts[3:], parts[1]
    else:
        return None  # discovery
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    return group, rest[0]


@pytest.mark.parametrize("args", [["list"], ["claims", "-A"], ["classes"], ["attributes"], ["show", "h100-dmig-01/gpu-0-mig-3g40gb-9-4"],
                                  ["claim", "--mig", "--check"]])
def test_reader_role_allows_every_read(run, fake_api, args):
    rules = next(d for d in yaml.safe_load_all((ROOT / "docs" / "rbac.yaml").read_text())
                 if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "kubectl-dra-reader")["rules"]
    fake_api.load_yaml(DEMO)
    assert run(*args).exit_code == 0
    read = {_resource(r.path) for r in fake_api.requests if r.method == "GET"} - {None}
    assert read
    assert [gr for gr in sorted(read) if not _allowed(rules, *gr, "list")] == []


def test_writer_role_allows_apply(run, fake_api):
    docs = list(yaml.safe_load_all((ROOT / "docs" / "rbac.yaml").read_text()))
    rules = next(d for d in docs if d["metadata"]["name"] == "kubectl-dra-claim-writer" and d["kind"] == "ClusterRole")["rules"]
    fake_api.load_yaml(DEMO)
    assert run("claim", "--mig", "--apply", "-n", "ml-team").exit_code == 0
    created = {_resource(r.path) for r in fake_api.requests if r.method == "POST"}
    assert created == {("resource.k8s.io", "resourceclaims")}
    assert all(_allowed(rules, *gr, "create") for gr in created)
    assert run("claim", "--mig", "--apply", "--template", "--name", "t", "-n", "ml-team").exit_code == 0
    assert _allowed(rules, "resource.k8s.io", "resourceclaimtemplates", "create")


def test_rbac_md_shows_the_objects_of_rbac_yaml():
    """Each YAML object quoted in docs/rbac.md is the object of that kind and name in docs/rbac.yaml."""
    import re

    shipped = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all((ROOT / "docs" / "rbac.yaml").read_text()) if d}
    quoted = [d for block in re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "rbac.md").read_text(), re.S)
              for d in yaml.safe_load_all(block) if d]
    assert {(d["kind"], d["metadata"]["name"]) for d in quoted} == set(shipped)
    for doc in quoted:
        assert doc == shipped[(doc["kind"], doc["metadata"]["name"])]


def test_missing_golden_file_fails_without_update_flag(tmp_path):
    """A deleted golden file never re-creates itself: only `--update-golden` writes (CI set or not)."""
    import os
    import subprocess
    import sys

    from tests.conftest import GOLDEN, ROOT

    probe = tmp_path / "test_golden_probe.py"
    probe.write_text('def test_probe(golden):\n    golden("does-not-exist-probe.txt", "text")\n', encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if k != "CI"}
    for ci in (None, "", "false", "1"):
        env = base if ci is None else dict(base, CI=ci)
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
                            "--rootdir", str(tmp_path), str(probe)],
                           cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        assert r.returncode == 1, (ci, r.stdout[-2000:])
        assert "golden file tests/golden/does-not-exist-probe.txt is missing" in r.stdout
        assert "--update-golden" in r.stdout
        assert not (GOLDEN / "does-not-exist-probe.txt").exists()
