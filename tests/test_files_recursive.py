"""-f DIR: files that are not Kubernetes objects are skipped with a warning; -R reads subdirectories;
a file named explicitly still fails (exit 5)."""

from __future__ import annotations

import shutil
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "kubectl_dra" / "demo" / "cluster.yaml"


def _tree(tmp_path):
    (tmp_path / "sub").mkdir()
    shutil.copy(DEMO, tmp_path / "sub" / "dump.yaml")
    (tmp_path / "values.yaml").write_text("replicas: 3\nimage: foo\n")
    (tmp_path / "sub" / "nvml.json").write_text('{"gpus": []}')
    return tmp_path


def test_directory_skips_non_kubernetes_files_with_a_warning(run, tmp_path):
    root = _tree(tmp_path)
    shutil.copy(DEMO, root / "dump.yaml")
    r = run("list", "-f", str(root), "-o", "name")
    assert r.exit_code == 0, r.stderr
    assert len(r.stdout.splitlines()) == 71
    assert f"warning: skipping {root / 'values.yaml'}: not Kubernetes objects" in r.stderr
    assert "nvml.json" not in r.stderr  # not read without -R


def test_recursive(run, tmp_path):
    root = _tree(tmp_path)
    flat = run("list", "-f", str(root))
    assert flat.exit_code == 5 and "no Kubernetes objects in any of its files" in flat.stderr
    assert "-R also reads its subdirectories" in flat.stderr
    deep = run("list", "-f", str(root), "-R", "-o", "name")
    assert deep.exit_code == 0 and len(deep.stdout.splitlines()) == 71
    assert "nvml.json: not Kubernetes objects" in deep.stderr


def test_a_named_bad_file_still_fails(run, tmp_path):
    root = _tree(tmp_path)
    r = run("list", "-f", str(root / "values.yaml"))
    assert r.exit_code == 5 and "not Kubernetes objects" in r.stderr
