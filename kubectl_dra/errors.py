"""Exit codes and the error family. Imports nothing from the package.

Every expected failure is a ``DraError``: the CLI prints ``error: <message>`` and, when
set, ``hint: <hint>`` on stderr and exits with the error's code. Anything else is a bug.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # an expected failure not covered below
    USAGE = 2  # bad flag, bad -o value, bad arguments
    NOT_FOUND = 3  # the named claim / node / device does not exist
    CLUSTER = 4  # unreachable, unauthorised, forbidden, resource.k8s.io not served, server error
    INPUT = 5  # an input file (-f) that cannot be read or is not Kubernetes objects
    EXISTS = 6  # `claim --apply`: an object of that name exists already; nothing was changed
    UNSATISFIABLE = 7  # `explain`: the pod / claim fits on no node (or the scheduler would stop with an error)
    DRIFT = 8  # `nvml --compare` / fleet mode: the node's published devices differ from what NVML reports
    REMOTE = 9  # `nvml --node/--all-nodes`: remote collection could not run on the node (reason in the message)


class DraError(Exception):
    """An expected failure: one line on stderr, never a traceback."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def detail_lines(self) -> list[str]:
        """Lines printed between ``error:`` and ``hint:`` (e.g. the filter with a caret)."""
        return []

    def __reduce__(self):
        # keep the hint when an error crosses a process boundary (kube.parallel)
        return (_rebuild, (type(self), self.message, self.hint))


def _rebuild(cls: type, message: str, hint: str | None) -> "DraError":
    error = cls.__new__(cls)
    DraError.__init__(error, message, hint=hint)
    return error


class UsageError(DraError):
    exit_code = ExitCode.USAGE


class NotFoundError(DraError):
    exit_code = ExitCode.NOT_FOUND


class ClusterError(DraError):
    exit_code = ExitCode.CLUSTER


class InputError(DraError):
    exit_code = ExitCode.INPUT


class AlreadyExists(DraError):
    exit_code = ExitCode.EXISTS


class Rejected(DraError):
    """The API server refused to create an object (422 Invalid, 400 BadRequest): nothing was created."""

    exit_code = ExitCode.ERROR
