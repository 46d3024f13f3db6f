#!/usr/bin/env python3
"""Build the self-contained krew archive for this machine's platform.

krew plugins may not ask users to install runtimes or packages, so each archive holds one
executable made by PyInstaller (Python, typer, kubernetes, the CEL engine … inside), plus the
kubectl_complete-dra helper and LICENSE:

    dist/krew/kubectl-dra_<version>_<os>_<arch>.tar.gz   and its .sha256

Usage: python tools/build_krew.py [--out dist/krew] [--dry-run]
  --dry-run  print the plan (files, archive name) without building.
The version comes from kubectl_dra.__version__ (the one place it is defined); .krew.yaml is the
template krew-release-bot fills in with each release's URLs and checksums.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = {"kubectl-dra": "kubectl_dra.launch:main", "kubectl_complete-dra": "kubectl_dra.completion:kubectl_main"}
# modules PyInstaller cannot see: imported lazily inside functions
HIDDEN = ["kubectl_dra.cli", "kubectl_dra.completion.engine", "kubectl_dra.completion.sources", "kubernetes",
          "cel_expr_python", "cel_expr_python.ext.ext_bindings", "cel_expr_python.ext.ext_optional",
          "cel_expr_python.ext.ext_strings", "yaml", "orjson", "pynvml"]


def version() -> str:
    sys.path.insert(0, str(ROOT))
    from kubectl_dra import __version__

    return __version__


def platform_tag() -> str:
    os_name = {"Linux": "linux", "Darwin": "darwin", "Windows": "windows"}[platform.system()]
    arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
    return f"{os_name}_{arch}"


def archive_name() -> str:
    return f"kubectl-dra_v{version()}_{platform_tag()}.tar.gz"


def build_executable(name: str, target: str, work: Path) -> Path:
    module, func = target.split(":")
    launcher = work / f"{name.replace('-', '_')}_launcher.py"
    launcher.write_text(f"from {module} import {func}\n{func}()\n")
    cmd = [sys.executable, "-m", "PyInstaller", "--onefile", "--noconfirm", "--name", name,
           "--distpath", str(work / "dist"), "--workpath", str(work / "build"), "--specpath", str(work),
           "--collect-data", "kubectl_dra", *[f"--hidden-import={h}" for h in HIDDEN], str(launcher)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    return work / "dist" / name


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "dist" / "krew"))
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    name = archive_name()
    print(f"archive: {out / name}")
    print("contents: " + ", ".join([*ENTRY_POINTS, "LICENSE"]))
    if args.dry_run:
        return 0
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("error: PyInstaller is not installed (pip install pyinstaller)", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        built = [build_executable(n, t, work) for n, t in ENTRY_POINTS.items()]
        archive = out / name
        with tarfile.open(archive, "w:gz") as tar:
            for path in built:
                tar.add(path, arcname=path.name)
            tar.add(ROOT / "LICENSE", arcname="LICENSE")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (out / (name + ".sha256")).write_text(f"{digest}  {name}\n")
    print(f"sha256: {digest}")
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
