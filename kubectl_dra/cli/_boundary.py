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
    for line in error.detail_lines():
        sys.stderr.write(line + "\n")
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
            except (typer.Exit, typer.Abort, SystemExit):
                raise
            except Exception as error:  # a bug: still one line for the user, the traceback on request
                if os.environ.get("KUBECTL_DRA_DEBUG"):
                    raise
                detail = " ".join(str(error).split())[:300]
                report(
                    DraError(
                        f"internal error: {type(error).__name__}: {detail}",
                        hint="this is a bug in kubectl-dra; KUBECTL_DRA_DEBUG=1 shows the traceback for a report",
                    )
                )
                raise typer.Exit(int(ExitCode.ERROR)) from None

        app.command(name, **kwargs)(run)
        return fn

    return register
