#!/usr/bin/env python3
"""Write kubectl_dra/completion/spec.py (commands and options, from the typer app) and the shell
scripts in completions/. Usage: python tools/gen_completions.py [--check]  (--check: exit 1 if stale)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def outputs() -> dict[Path, str]:
    from kubectl_dra.completion.build import spec_source
    from kubectl_dra.completion.scripts import FILES, script

    files = {ROOT / "kubectl_dra" / "completion" / "spec.py": spec_source()}
    for shell, name in FILES.items():
        files[ROOT / "completions" / name] = script(shell)
    return files


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(path.relative_to(ROOT))
            if not check:
                path.write_text(text, encoding="utf-8")
    if check and stale:
        print("stale: " + ", ".join(map(str, stale)) + " (run python tools/gen_completions.py)", file=sys.stderr)
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
