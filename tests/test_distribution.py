"""What `pip install` puts on PATH, one version, and the krew manifest template."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from kubectl_dra import __version__

ROOT = Path(__file__).resolve().parent.parent


def test_console_scripts():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    scripts = project["project"]["scripts"]
    assert scripts == {"kubectl-dra": "kubectl_dra.launch:main", "kubectl_complete-dra": "kubectl_dra.completion:kubectl_main"}
    assert project["project"]["dynamic"] == ["version"]  # read from kubectl_dra.__version__ only
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "kubectl_dra.__version__"}


def test_version_shown_by_the_cli(run):
    assert run("--version").stdout.strip() == f"kubectl-dra {__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_krew_manifest_template():
    text = (ROOT / ".krew.yaml").read_text()
    # krew-release-bot templating: render it the way the bot would, then check the manifest
    rendered = re.sub(r"\{\{ addURIAndSha \"([^\"]+)\" \.TagName \}\}",
                      lambda m: f"uri: {m.group(1)}\n    sha256: " + "a" * 64, text)
    rendered = rendered.replace("{{ .TagName }}", f"v{__version__}")
    manifest = yaml.safe_load(rendered)
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin" and manifest["metadata"]["name"] == "dra"
    spec = manifest["spec"]
    assert spec["version"] == f"v{__version__}"
    assert spec["shortDescription"] and spec["description"] and spec["homepage"].startswith("https://")
    for entry in spec["platforms"]:
        assert entry["bin"] == "kubectl-dra"
        assert entry["uri"].endswith(".tar.gz") and len(entry["sha256"]) == 64
        assert {f["from"] for f in entry["files"]} == {"kubectl-dra", "kubectl_complete-dra", "LICENSE"}
        os_name, arch = entry["selector"]["matchLabels"]["os"], entry["selector"]["matchLabels"]["arch"]
        assert entry["uri"].endswith(f"kubectl-dra_v{__version__}_{os_name}_{arch}.tar.gz")
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_archive_name_matches_the_manifest():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "build_krew.py"), "--dry-run"], capture_output=True,
                         text=True, check=True)
    name = re.search(r"kubectl-dra_v[\d.]+_\w+_\w+\.tar\.gz", out.stdout).group(0)
    assert name.startswith(f"kubectl-dra_v{__version__}_")
    assert "kubectl-dra, kubectl_complete-dra, LICENSE" in out.stdout
