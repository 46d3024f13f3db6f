"""The ``kubectl-dra`` console script: TAB completion answers before the typer app is imported."""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "__complete":
        from kubectl_dra import completion

        completion.main(sys.argv[2:])
        return
    from kubectl_dra.cli import main as cli_main

    cli_main()
