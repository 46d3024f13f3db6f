"""The fault-injection harness: run the CLI in a subprocess under a time and a memory limit.

Every fault test asserts the same contract (issue 16): the process ends within the time limit,
inside the memory limit, with the documented exit code, and stderr is one clean ``error:`` line
(optionally followed by ``hint:`` lines) — never a traceback, never an ``internal error``, never a
raw control character from the hostile input.

``KUBECTL_DRA_FAULTS_SRC`` points the subprocess at another copy of the package (e.g. an export of
an older commit) to count how many cases held there.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
#: seconds a faulted command may take (hangs are cut by --request-timeout well before)
TIME_LIMIT = 25.0
#: address space for the CLI process (a runaway list grows by ~50 MB/s)
MEMORY_LIMIT = 1536 * 1024 * 1024
#: control characters that must never reach a terminal from hostile input (tab and newline are layout)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    def describe(self) -> str:
        return f"exit {self.code} after {self.seconds:.1f}s; stderr={self.stderr[-600:]!r}; stdout={self.stdout[:300]!r}"


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    os.setsid()


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECTL_DRA_")}
    src = os.environ.get("KUBECTL_DRA_FAULTS_SRC")
    env["PYTHONPATH"] = src or str(ROOT)
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    env["KUBECTL_DRA_NO_SPINNER"] = "1"
    env.pop("KUBERNETES_SERVICE_HOST", None)
    env.update(extra or {})
    return env


def run_cli(args: list[str], *, env: dict[str, str] | None = None, stdin: bytes | None = None,
            time_limit: float = TIME_LIMIT, interrupt_after: float | None = None, cwd: str | None = None) -> Outcome:
    """``python -m kubectl_dra ARGS`` with the limits; ``interrupt_after``: send SIGINT then."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubectl_dra", *args],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env or cli_env(),
        preexec_fn=_limits,
        cwd=cwd or os.environ.get("KUBECTL_DRA_FAULTS_SRC") or str(ROOT),  # `-m` puts the cwd first on sys.path
    )
    timed_out = False
    try:
        if interrupt_after is not None:
            try:
                out, err = proc.communicate(stdin, timeout=interrupt_after)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=time_limit)
        else:
            out, err = proc.communicate(stdin, timeout=time_limit)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return Outcome(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                   time.monotonic() - start, timed_out)


#: exit codes that are answers, not errors: no `error:` line is expected with them
ANSWERS = (0, 7, 8, 130)


def problems(outcome: Outcome, codes: set[int] | int, *, message: str | None = None,
             answers: tuple[int, ...] = ANSWERS) -> list[str]:
    """What is wrong with ``outcome`` under the contract (empty when it held)."""
    wanted = {codes} if isinstance(codes, int) else set(codes)
    found = []
    if outcome.timed_out:
        found.append("did not end within the time limit")
    if outcome.code not in wanted:
        found.append(f"exit {outcome.code}, wanted {sorted(wanted)}")
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    if "Traceback" in outcome.stderr or "internal error" in outcome.stderr:
        found.append("a traceback or internal error")
    if outcome.code not in answers and not outcome.timed_out:
        errors = [line for line in lines if line.startswith("error: ")]
        if len(errors) != 1:
            found.append(f"{len(errors)} error: lines")
        others = [line for line in lines if not line.startswith(("error: ", "hint: ", "warning: "))]
        if others:
            found.append(f"stray stderr lines {others[:3]!r}")
        if message is not None and not any(message in line for line in errors):
            found.append(f"error line lacks {message!r}")
    if CONTROL.search(outcome.stderr.replace("\r\n", "\n")) or CONTROL.search(outcome.stdout):
        found.append("raw control characters on a stream")
    return found


def check(outcome: Outcome, codes: set[int] | int, *, message: str | None = None,
          answers: tuple[int, ...] = ANSWERS) -> None:
    found = problems(outcome, codes, message=message, answers=answers)
    assert not found, "; ".join(found) + " — " + outcome.describe()
