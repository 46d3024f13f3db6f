"""Run one independent read in a forked child while the parent does another.

The machine has more than one core, but decoding JSON into objects holds the GIL, so threads
cannot overlap two big reads. A forked child can: it reads and decodes the claims while the
parent reads and decodes the slices, and sends the result back pickled. Used only on Linux,
only when the HTTP connection pool can be replaced (the child must not share the parent's
sockets), and never when ``KUBECTL_DRA_NO_FORK`` is set.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any, Callable

from kubectl_dra.errors import ClusterError, DraError


def fork_allowed() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork") and not os.environ.get("KUBECTL_DRA_NO_FORK")


def start_in_child(work: Callable[[], Any], before: Callable[[], None] | None = None) -> Callable[[], Any]:
    """Start ``work()`` in a child process; return a function that waits for its result (or raises its DraError)."""
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            _die_with(parent)
            os.close(read_fd)
            if before is not None:
                before()
            outcome: tuple[str, Any] = ("ok", work())
        except DraError as error:
            outcome = ("error", error)
        except BaseException as error:  # noqa: BLE001 - reported to the parent, which decides
            outcome = ("error", ClusterError(f"reading in a helper process failed: {type(error).__name__}: {error}"))
        try:
            data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # noqa: BLE001
            data = pickle.dumps(("error", ClusterError(f"cannot pass a result back from a helper process: {error}")))
        try:
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(data)
        except OSError:
            code = 1
        os._exit(code)

    os.close(write_fd)

    def wait() -> Any:
        with os.fdopen(read_fd, "rb") as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
        if not data:
            raise ClusterError("a helper process ended without a result")
        kind, value = pickle.loads(data)
        if kind == "error":
            raise value
        return value

    return wait


def _die_with(parent: int) -> None:
    """The child ends when the parent does (Ctrl-C, an error): it must not go on waiting on a
    stalled server, holding the parent's stdout and stderr open, after the command has ended."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C on the terminal ends the child too, quietly
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass
    if os.getppid() != parent:  # the parent ended before prctl took effect
        os._exit(1)
