"""The ``kubectl-dra`` console script: TAB completion and the group's ``--help`` answer before the
typer app is imported."""

from __future__ import annotations

import sys

#: click's ``max_content_width`` for the app's help (cli/__init__.py passes it to typer)
HELP_MAX_WIDTH = 120


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "__complete":
        from kubectl_dra import completion

        completion.main(args[1:])
        return
    if (args == ["--help"] or args == ["-h"]) and sys.stdout is not None:
        _snapshot_help()  # returns only where no snapshot has the terminal's width
    from kubectl_dra.cli import main as cli_main

    cli_main()


def help_width(columns: int) -> int:
    """The width click formats help to on a terminal of ``columns`` (``HelpFormatter``: COLUMNS, else
    the terminal, else 80; at most the app's max_content_width, less 2; at least 50)."""
    return max(min(columns, HELP_MAX_WIDTH) - 2, 50)


def _snapshot_help() -> None:
    """``kubectl-dra --help`` without importing typer (about 35 ms of a 60 ms start): the text typer
    prints for the group, kept in ``_helpsnap.py`` for the widths most runs get (a pipe or an
    80-column terminal; 120 columns or more). tests/test_startup.py checks it against typer's output
    and ``pytest --update-golden`` rewrites it. Any other width: typer prints the help."""
    import shutil

    from kubectl_dra._helpsnap import HELP

    text = HELP.get(help_width(shutil.get_terminal_size().columns))
    if text is None:
        return
    if not text.isascii() and (getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "") != "utf8":
        return  # typer's path replaces what the locale cannot encode (cli._boundary.prepare_streams)
    import os

    code = 0
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `kubectl dra --help | head`: stop quietly, as every command does
        pass
    except (OSError, ValueError) as error:  # a full disk, a closed descriptor
        from kubectl_dra.console import output_error, report

        report(output_error(error))
        code = 1
    os._exit(code)  # nothing to tear down; the pipe's flush at exit must not fail again either
