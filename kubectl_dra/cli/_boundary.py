"""The one place where expected failures become `error:`/`hint:` lines and exit codes."""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable

import typer

from kubectl_dra.errors import DraError, ExitCode


def report(error: DraError) -> None:
    sys.stderr.write(f"error: {error.message}\n")
    if error.hint:
        sys.stderr.write(f"hint: {error.hint}\n")


def command(app: typer.Typer, name: str, **kwargs) -> Callable:
    """Register ``fn`` as a subcommand whose DraErrors end the process cleanly."""

    def register(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kw):
            try:
                return fn(*args, **kw)
            except DraError as error:
                if os.environ.get("KUBECTL_DRA_DEBUG"):
                    raise
                report(error)
                raise typer.Exit(int(error.exit_code)) from None
            except BrokenPipeError:
                # `kubectl dra list | head`: stop quietly, as kubectl does
                try:
                    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
                except OSError:
                    pass
                raise typer.Exit(int(ExitCode.OK)) from None
            except KeyboardInterrupt:
                sys.stderr.write("\n")
                raise typer.Exit(130) from None

        app.command(name, **kwargs)(run)
        return fn

    return register
