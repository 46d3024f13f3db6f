"""What `list -o json -f FILE` and `claims -A -o json -f FILE` make of each upstream fixture.

tests/data/fixture_outcomes.json pins the outcome of every fixture under ../shared/fixtures/upstream;
tests/test_fixtures.py asserts it exactly. To regenerate the table after a deliberate change, run

    .venv/bin/python -m tests.fixture_outcomes

and review the diff (`git diff tests/data/fixture_outcomes.json`) before committing: every changed
device list, warning or rejection must be explained by the change.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures" / "upstream"
TABLE = Path(__file__).resolve().parent / "data" / "fixture_outcomes.json"
FILE = "{file}"  # stands for the fixture's path in the messages recorded in the table

COMMANDS = {
    "list": ("list", "-o", "json"),
    "claims": ("claims", "-A", "-o", "json"),
}


def all_fixtures() -> list[Path]:
    return sorted(FIXTURES.rglob("*.yaml")) if FIXTURES.is_dir() else []


def key(path: Path) -> str:
    return path.relative_to(FIXTURES).as_posix()


def pinned_device_ids(name: str) -> list[str]:
    """The pinned device ids (driver/pool/name) of one fixture, e.g. "dra-example-driver/x.yaml"."""
    return json.loads(TABLE.read_text(encoding="utf-8"))[name]["list"]["device_ids"]


def observe(invoke: Callable, path: Path, command: str) -> dict:
    """The outcome of one command on one fixture, in the table's form."""
    result = invoke(*COMMANDS[command], "-f", str(path))
    lines = [line.replace(str(path), FILE) for line in result.stderr.splitlines()]
    if result.exit_code != 0:
        return {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": lines}
    items = json.loads(result.stdout)["items"]
    if command == "list":
        ids = sorted(f"{d['driver']}/{d['pool']}/{d['name']}" for d in items)
        return {"exit_code": 0, "devices": len(ids), "device_ids": ids, "stderr": lines}
    ids = sorted(f"{c['namespace']}/{c['name']}" for c in items)
    return {"exit_code": 0, "claims": len(ids), "claim_ids": ids, "stderr": lines}


def _invoker() -> Callable:
    from typer.testing import CliRunner

    from kubectl_dra.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False, prog_name="kubectl dra")

    return invoke


def main() -> int:
    if not FIXTURES.is_dir():
        print(f"{FIXTURES} is not present", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as home:  # the same isolation as tests/conftest.py
        os.environ.update(HOME=home, KUBECONFIG=str(Path(home) / "no-kubeconfig"), NO_COLOR="1", COLUMNS="200")
        for name in ("KUBERNETES_SERVICE_HOST", "KUBECTL_DRA_DEBUG"):
            os.environ.pop(name, None)
        invoke = _invoker()
        table = {key(p): {cmd: observe(invoke, p, cmd) for cmd in COMMANDS} for p in all_fixtures()}
    TABLE.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(table)} fixtures to {TABLE.relative_to(ROOT)}: review the diff before committing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
