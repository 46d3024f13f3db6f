"""Shared fixtures: an isolated environment, the CLI runner, golden files, the fake API server."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

# A test run started in the background by a non-interactive shell (`.ci/run &`, nohup, some CI
# runners) inherits SIGINT ignored, and so would every kubectl-dra the tests start: the Ctrl-C
# tests (watch, fault suite) would then wait forever. Give the run, and so its children, the
# default Ctrl-C behaviour.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures" / "upstream"
GOLDEN = Path(__file__).resolve().parent / "golden"
DATA = Path(__file__).resolve().parent / "data"


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from the current output")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test reads the developer's kubeconfig, colours, or terminal width."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECTL_DRA_DEBUG", raising=False)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run():
    """Run the CLI in-process, as a user would call it; returns exit code, stdout and stderr separately."""
    from typer.testing import CliRunner

    from kubectl_dra.cli import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        result = runner.invoke(app, list(args), input=input, catch_exceptions=False, prog_name="kubectl dra")
        return Result(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def golden(request):
    """Compare text with tests/golden/<name>; `pytest --update-golden` rewrites it."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        if not path.exists():
            raise AssertionError(
                f"golden file tests/golden/{name} is missing: create it with `pytest --update-golden` "
                "and review it before committing"
            )
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"output differs from golden {name} (run pytest --update-golden and review the diff)"

    return check


@pytest.fixture
def fake_api(tmp_path, monkeypatch):
    """A fake API server on 127.0.0.1 with KUBECONFIG pointing at it."""
    from tests.fakeapi import FakeApiServer

    with FakeApiServer() as server:
        kubeconfig = server.write_kubeconfig(tmp_path)
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        yield server
