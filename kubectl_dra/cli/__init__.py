"""The typer app. Subcommand modules register themselves; heavy imports happen inside commands."""

from __future__ import annotations

import os
import sys

from kubectl_dra import timing  # noqa: E402,F401  (starts the clock)

# typer's rich help costs ~130 ms per start (libs.md §5); plain help keeps `--help` fast
os.environ.setdefault("TYPER_USE_RICH", "0")

import typer  # noqa: E402
import typer.core  # noqa: E402

from kubectl_dra import __version__  # noqa: E402
from kubectl_dra.launch import HELP_MAX_WIDTH  # noqa: E402
from kubectl_dra.cli import _common  # noqa: E402

class _Group(typer.core.TyperGroup):
    """The command group, with click's usage errors ("Error: No such option: --x" after the usage
    text) printed as every other error is, kubectl-style: ``error: …`` and a ``hint: …`` (exit 2)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        from kubectl_dra.cli.argv import normalize

        # kubectl's habits (flags before the subcommand, -o=wide, --no-headers=true): see cli/argv.py
        args = normalize(self, [*(sys.argv[1:] if args is None else args)])
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        # click's exception classes, wherever this typer keeps click (it may vendor it)
        classes = {c.__name__: c for c in typer.BadParameter.__mro__}
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except classes["UsageError"] as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # `kubectl dra` alone: the help, as before
                error.show()
                sys.exit(error.exit_code)
            message = error.format_message().rstrip(".")
            message = message[:1].lower() + message[1:] if message[1:2].islower() else message
            command = error.ctx.command_path if error.ctx is not None else "kubectl dra"
            sys.stderr.write(f"error: {message}\nhint: see '{command} --help'\n")
            sys.exit(error.exit_code)
        except classes["ClickException"] as error:
            error.show()
            sys.exit(error.exit_code)
        except typer.Abort:
            sys.stderr.write("Aborted!\n")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_Group,
    name="kubectl dra",
    help="See every Kubernetes DRA device, who holds it, and what your claims got.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": HELP_MAX_WIDTH},
)


def _version(value: bool) -> None:
    if value:
        print(f"kubectl-dra {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """See every Kubernetes DRA device, who holds it, and what your claims got.

    Reads the current kubeconfig context; --demo uses a built-in cluster, -f reads saved objects.
    """


from kubectl_dra.cli import list as _list  # noqa: E402,F401  (registers `list`)
from kubectl_dra.cli import claims as _claims  # noqa: E402,F401  (registers `claims`)
from kubectl_dra.cli import show as _show  # noqa: E402,F401  (registers `show`)
from kubectl_dra.cli import generate as _generate  # noqa: E402,F401  (registers `claim`)
from kubectl_dra.cli import catalog as _catalog  # noqa: E402,F401  (registers `classes`, `attributes`)
from kubectl_dra.cli import version as _version_cmd  # noqa: E402,F401  (registers `version`, `completion`)
from kubectl_dra.cli import topology as _topology  # noqa: E402,F401  (registers `topology`)
from kubectl_dra.cli import nvml as _nvml  # noqa: E402,F401  (registers `nvml`)
from kubectl_dra.cli import explain as _explain  # noqa: E402,F401  (registers `explain`, `lint`)


def commands_for(args: list[str], commands: list) -> list:
    """The registered commands typer needs to build for ``args``.

    typer turns every registered command into a click command (signature, type hints, one click
    parameter per flag: 3-4 ms each) at every start, although a run uses one. Kept: the commands
    that ``args`` names (a value that happens to be a command name keeps that command too, which
    is harmless). When ``args`` names none, or asks for the group's help before naming one, every
    command is kept as a stand-in with its name and help text but no parameters: the group's help,
    "Missing command" and "No such command" (with its suggestions) read nothing else.
    """
    names = {info.name for info in commands}
    first = next((i for i, arg in enumerate(args) if arg in names), None)
    if first is not None and not any(arg in ("-h", "--help") for arg in args[:first]):
        named = set(args[first:]) & names
        return [info for info in commands if info.name in named]
    import copy

    stand_ins = []
    for info in commands:
        stand_in = copy.copy(info)

        def _stand_in():  # pragma: no cover - never invoked (no annotation: typer would compile "None")
            raise AssertionError("a stand-in command ran")

        _stand_in.__doc__ = vars(info)["callback"].__doc__  # (info.callback would work out its signature)
        stand_in.callback = _stand_in
        stand_ins.append(stand_in)
    return stand_ins


def _closed():
    """Where stdout goes once writing to it failed: nowhere (the flush at exit must not fail again)."""
    from kubectl_dra.console import ClosedStream

    return ClosedStream()


def main() -> None:
    import gc

    # a short-lived process that builds tens of thousands of acyclic objects: the cyclic GC
    # only costs time here (about 2x on big clusters, libs.md §1.3)
    gc.disable()
    _common.KEEP = []
    timing.mark("imports")
    from kubectl_dra.cli._boundary import check_argv, prepare_streams

    prepare_streams()
    check_argv(sys.argv[1:])
    app.registered_commands = commands_for(sys.argv[1:], app.registered_commands)
    try:
        app(prog_name="kubectl dra")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, (int, type(None))):
            sys.stderr.write(f"{exit_.code}\n")
    except BrokenPipeError:  # --help or --version (printed before any command runs) into a closed pipe
        sys.stdout, code = _closed(), 0
    except OSError as error:  # ... or to a closed stdout, a full disk: as a command's output would be
        from kubectl_dra.console import output_error, report

        report(output_error(error))
        sys.stdout, code = _closed(), 1
    # Leave without tearing down tens of thousands of objects one by one (~0.2 s on big
    # clusters): flush what we wrote, then exit at once.
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    except (OSError, ValueError) as error:  # a full disk, a closed descriptor: the output is lost
        try:
            sys.stderr.write(f"error: cannot write the output to stdout: {getattr(error, 'strerror', None) or error}\n")
        except (OSError, ValueError):
            pass
        code = code or 1
    timing.mark("output flushed")
    # os._exit skips atexit: run it ourselves, e.g. the kubernetes client deletes the temporary
    # files it wrote for inline certificates and keys (kubeconfig *-data fields) there
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)
