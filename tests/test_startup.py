"""cli.commands_for: a run builds only the commands its arguments name (typer builds every
registered command at each start otherwise), and nothing a user reads changes because of it."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

import pytest

from kubectl_dra.cli import app, commands_for

NAMES = [info.name for info in app.registered_commands]


def cli(*args: str) -> tuple[int, str, str]:
    """The real entry point (kubectl_dra.cli.main, which prunes) in a subprocess."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    proc = subprocess.run([sys.executable, "-m", "kubectl_dra", *args], capture_output=True, text=True, env=env, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def full(*args: str) -> tuple[int, str, str]:
    """The same arguments through the whole app (every command built), in a subprocess too."""
    code = ("import sys; from kubectl_dra import cli; cli.commands_for = lambda args, commands: commands; "
            "sys.argv = ['kubectl-dra', *sys.argv[1:]]; cli.main()")  # fmt: skip
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def test_named_commands_only():
    kept = commands_for(["-n", "list", "claims", "-A"], app.registered_commands)
    assert [info.name for info in kept] == ["list", "claims"]
    assert [i.name for i in commands_for(["show", "x"], app.registered_commands)] == ["show"]


def test_group_help_keeps_every_command_as_a_stand_in():
    for args in ([], ["--help"], ["--help", "list"], ["-h"], ["bogus"], ["--version"]):
        kept = commands_for(args, app.registered_commands)
        assert [info.name for info in kept] == NAMES
        assert all(k.callback is not info.callback for k, info in zip(kept, app.registered_commands))
        assert all(k.callback.__doc__ == info.callback.__doc__ for k, info in zip(kept, app.registered_commands))


@pytest.mark.parametrize("args", [
    ["--help"], [], ["--help", "list"], ["bogus"], ["lst"], ["--version"], ["--demo"],
    ["list", "--help"], ["claims", "--help"], ["explain", "--help"], ["nvml", "--help"],
    ["--demo", "list", "-o", "name"], ["-n", "list", "claims", "--demo"], ["list", "--bogus"],
], ids=lambda a: " ".join(a) or "no-args")
def test_pruned_runs_print_what_the_whole_app_prints(args):
    assert cli(*args) == full(*args)


def test_signatures_are_worked_out_only_for_the_commands_built():
    """A command's signature with its source flags (what typer reads) is worked out when typer
    first takes its callback, not at import: --help builds none of them."""
    code = (
        "import sys; from kubectl_dra import cli; "
        "pending = lambda: sorted(i.name for i in cli.app.registered_commands if '_signature_of' in vars(i)); "
        "before = pending(); cli.commands_for(['--help'], cli.app.registered_commands); after_help = pending(); "
        "import typer.main; typer.main.get_command(cli.app); print(before == after_help, len(before), pending())"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    same, count, left = proc.stdout.split(maxsplit=2)
    assert same == "True" and int(count) >= 8  # every command with source flags, untouched by --help
    assert left.strip() == "[]"  # building the app works each one out


def test_a_command_gets_its_source_flags_whether_built_first_or_later():
    import inspect

    from typer.main import get_command

    group = get_command(app)
    for info in app.registered_commands:
        params = inspect.signature(info.callback).parameters
        assert "source" not in params
        assert [p.name for p in group.commands[info.name].params if p.name in ("filename", "kubeconfig")] == [
            p for p in ("filename", "kubeconfig") if p in params
        ]


# ---------------------------------------------------------------- the group's --help without typer

SNAPSHOT = Path(__file__).resolve().parent.parent / "kubectl_dra" / "_helpsnap.py"
SNAPSHOT_COLUMNS = (80, 120)  # a pipe or an 80-column terminal; 120 columns or more


def typer_help(columns: int) -> str:
    """The group's --help as typer prints it (cli.main: never the snapshot) on ``columns`` columns."""
    code = "import sys; sys.argv = ['kubectl-dra', '--help']; from kubectl_dra.cli import main; main()"
    env = {**os.environ, "COLUMNS": str(columns)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    return proc.stdout


def launched(*args: str, columns: int | None = 80, shell: str = "") -> subprocess.CompletedProcess:
    """The console script's path (launch.main) in a subprocess; ``shell``: a redirection such as '>&-'."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    argv = " ".join([sys.executable, "-X", "importtime", "-m", "kubectl_dra", *args])
    return subprocess.run(f"{argv} {shell}", shell=True, executable="/bin/bash", capture_output=True, text=True, env=env,
                          timeout=120)


def _snapshot_source(texts: dict[int, str]) -> str:
    body = "".join(f"    {width}: {text!r},\n" for width, text in sorted(texts.items()))
    return (
        '"""Generated by `pytest --update-golden tests/test_startup.py`: do not edit. The group\'s --help as typer\n'
        "prints it, by the width click formats to (launch.help_width), for launch.py to print without importing\n"
        'typer; tests/test_startup.py checks it against typer\'s output."""\n\n'
        f"HELP = {{\n{body}}}\n"
    )


def test_help_snapshot_is_what_typer_prints(request):
    from kubectl_dra.launch import help_width

    texts = {help_width(columns): typer_help(columns) for columns in SNAPSHOT_COLUMNS}
    assert len(texts) == len(SNAPSHOT_COLUMNS) and all(t.startswith("Usage: kubectl dra ") for t in texts.values())
    if request.config.getoption("--update-golden"):
        SNAPSHOT.write_text(_snapshot_source(texts), encoding="utf-8")
    assert SNAPSHOT.read_text(encoding="utf-8") == _snapshot_source(texts), (
        "kubectl_dra/_helpsnap.py is not the group's --help typer prints now: "
        "run `pytest --update-golden tests/test_startup.py` and review the diff"
    )


@pytest.mark.parametrize("args", [["--help"], ["-h"]])
@pytest.mark.parametrize("columns", [80, 120, 200, None])
def test_help_from_the_snapshot_without_importing_typer(args, columns):
    proc = launched(*args, columns=columns)
    assert proc.returncode == 0
    assert proc.stdout == typer_help(columns or 80)  # no COLUMNS and no terminal: click's 80
    assert "typer" not in proc.stderr  # -X importtime lists every module imported


@pytest.mark.parametrize("columns", [60, 100])
def test_help_at_other_widths_comes_from_typer(columns):
    proc = launched("--help", columns=columns)
    assert proc.returncode == 0 and proc.stdout == typer_help(columns)
    assert "typer" in proc.stderr


@pytest.mark.parametrize("columns", [80, 100])  # the snapshot's path and typer's
@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_to_a_closed_stdout_is_an_error_not_a_traceback(args, columns):
    proc = launched(*args, columns=columns, shell=">&-")
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert proc.returncode == 1
    assert errors == ["error: cannot write the output to stdout: stdout is closed",
                      "hint: check where stdout goes (a full disk, a closed stream)"]


@pytest.mark.parametrize("columns", [80, 100])
def test_help_into_a_closed_pipe_stops_quietly(columns):
    proc = launched("--help", columns=columns, shell="| head -c 10; exit ${PIPESTATUS[0]}")
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert proc.stdout == "Usage: kub" and errors == []
    assert proc.returncode == 0


def test_a_help_the_locale_cannot_encode_goes_through_typer(monkeypatch, capsys):
    """A snapshot with a character the stdout encoding lacks is left to typer's path, which
    replaces it (a pipe under LC_ALL=C with PYTHONIOENCODING=ascii)."""
    import io

    from kubectl_dra import _helpsnap, launch

    monkeypatch.setattr(_helpsnap, "HELP", {launch.help_width(80): "Usage: kubectl dra … \n"})
    monkeypatch.setenv("COLUMNS", "80")
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", ascii_out)
    launch._snapshot_help()  # returns: not served (os._exit would end the test run)
    assert ascii_out.buffer.getvalue() == b""
