"""cli.commands_for: a run builds only the commands its arguments name (typer builds every
registered command at each start otherwise), and nothing a user reads changes because of it."""

from __future__ import annotations

import os
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
