"""kubectl's command-line habits (kubectl_dra.cli.argv): flags before the subcommand, -o=VALUE, --flag=true|false."""

from __future__ import annotations

import pytest
from typer.main import get_command

from kubectl_dra.cli import app
from kubectl_dra.cli.argv import normalize

GROUP = get_command(app)


@pytest.mark.parametrize(("args", "want"), [
    (["--demo", "list"], ["list", "--demo"]),
    (["--context", "prod", "-n", "ml-team", "claims", "-A"], ["claims", "--context", "prod", "-n", "ml-team", "-A"]),
    (["--context=prod", "list", "x=1"], ["list", "--context=prod", "x=1"]),
    (["list", "-o=wide"], ["list", "-o", "wide"]),
    (["list", "-o=jsonpath={.items[*].name}"], ["list", "-o", "jsonpath={.items[*].name}"]),
    (["list", "--no-headers=true"], ["list", "--no-headers"]),
    (["list", "--no-headers=false"], ["list"]),
    (["list", "-w=false", "--demo"], ["list", "--demo"]),
    (["list", "-w=TRUE"], ["list", "-w"]),
    (["list", "--where", "-o=x"], ["list", "--where", "-o=x"]),  # an option's value is never touched
    (["list", "--", "-o=wide"], ["list", "--", "-o=wide"]),
    (["list", "mig=true", "memory>=40Gi"], ["list", "mig=true", "memory>=40Gi"]),
    (["--demo", "version"], ["--demo", "version"]),  # version has no --demo: left for click to refuse
    (["--version"], ["--version"]),
    (["--help"], ["--help"]),
])
def test_normalize(args, want):
    assert normalize(GROUP, args) == want


def test_flags_before_the_subcommand(run):
    before = run("--demo", "-o", "name", "list")
    after = run("list", "--demo", "-o", "name")
    assert before.exit_code == 0 and before.stdout == after.stdout and before.stdout


def test_equals_forms(run):
    assert run("list", "--demo", "-o=name").stdout == run("list", "--demo", "-o", "name").stdout
    plain = run("list", "--demo")
    assert run("list", "--demo", "--no-headers=false").stdout == plain.stdout
    headless = run("list", "--demo", "--no-headers=true")
    assert headless.exit_code == 0 and not headless.stdout.startswith("NODE")
    bad = run("list", "--demo", "--no-headers=maybe")
    assert bad.exit_code == 2 and "does not take a value" in bad.stderr


def test_a_flag_the_subcommand_lacks_is_still_an_error(run):
    r = run("--demo", "version")
    assert r.exit_code == 2 and "no such option: --demo" in r.stderr
