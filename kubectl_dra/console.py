"""Terminal decisions in one place: colour, and writing data/messages to the right stream."""

from __future__ import annotations

import errno
import os
import re
import sys

from kubectl_dra.errors import DraError

#: what may reach a terminal from us: colour (SGR) sequences, tab, newline; anything else that is a
#: control character (ESC sequences such as OSC 8 links or title changes, BEL, CR, C1 controls) came
#: from data (an object's name, a server's message, a file) and is replaced by "?"
_UNSAFE = r"\x1b\[[0-9;]*m|[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]"
_SGR = "\x1b["


def _pattern(text: str) -> re.Pattern[str]:
    """A compiled pattern (re's own cache), compiled on first use, not at every start: ~0.6 ms."""
    return re.compile(text)


#: SGR parameters that hide or blink text: never kept, whoever wrote them
_HIDING = {"5", "6", "8"}


def _replace(match: "re.Match[str]") -> str:
    text = match.group()
    if text.startswith(_SGR) and text.endswith("m") and not _HIDING.intersection(text[2:-1].split(";")):
        return text
    return "?"


#: the C0 controls and DEL, but tab and newline (``bytes.translate`` deletes them to count them fast)
_C0 = bytes(b for b in (*range(0, 32), 127) if b not in (9, 10))
_C0_BUT_ESC = bytes(b for b in _C0 if b != 27)
_SGR_ONLY = r"\x1b\[[0-9;]*m"


def _safe_already(text: str, colour: bool) -> bool:
    """A fast check (a 40,000-row table is 6 MB) that nothing needs replacing."""
    if not text.isascii():
        return _pattern(_UNSAFE).search(text) is None
    data = text.encode("ascii")
    if not colour or "\x1b" not in text:
        return len(data.translate(None, _C0)) == len(data)
    if len(data.translate(None, _C0_BUT_ESC)) != len(data):
        return False
    sequences = _pattern(_SGR_ONLY).findall(text)
    return len(sequences) == text.count("\x1b") and not any(
        _HIDING.intersection(seq[2:-1].split(";")) for seq in set(sequences))


def sanitize(text: str, *, colour: bool = False) -> str:
    """``text`` safe for a terminal: control characters replaced by ``?``; with ``colour`` our own
    SGR colour sequences are kept (the table renderers add them), else replaced too."""
    if _safe_already(text, colour):
        return text
    if colour:
        return _pattern(_UNSAFE).sub(_replace, text)
    return _pattern(_UNSAFE).sub("?", text)


class OutputError(DraError):
    """stdout cannot take the output (closed, a full disk): exit 1 with one line on stderr."""


class SafeOutput:
    """The one output boundary for stdout: every write is sanitised (colour kept), and a stream that
    cannot be written (closed, full) becomes ``OutputError``; a broken pipe stays ``BrokenPipeError``
    (the caller stops quietly, as kubectl does under ``| head``)."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self.write_safe(sanitize(text, colour=True))

    def write_safe(self, text: str) -> int:
        """Write ``text`` that is already known to be safe (``out_json``)."""
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as err:
            raise output_error(err) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as err:
            raise output_error(err) from None

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def output_error(err: Exception) -> OutputError:
    """What a failed write to stdout (a full disk, a closed descriptor) is, for the user."""
    if isinstance(err, OSError) and err.errno == errno.EPIPE:  # pragma: no cover - BrokenPipeError above
        raise err
    reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return OutputError(f"cannot write the output to stdout: {reason}", hint="check where stdout goes (a full disk, a closed stream)")


def report(error: DraError) -> None:
    """``error:``, detail and ``hint:`` lines on stderr, sanitised (messages carry names and text from
    the cluster or a file); a closed stderr loses them quietly, the exit code still says it."""
    lines = [f"error: {error.message}", *error.detail_lines()]
    if error.hint:
        lines.append(f"hint: {error.hint}")
    text = "".join(sanitize(line) + "\n" for line in lines)
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


class ClosedStream:
    """Stands in for a stream whose file descriptor was closed when the process started (``>&-``)."""

    encoding = "utf-8"
    errors = "strict"

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "stdout is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "closed")


def use_color(choice: str = "auto", stream=None) -> bool:
    """--color always|never|auto; auto means a TTY, NO_COLOR unset and TERM not dumb."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (tables add their totals there; in a pipe they go to stderr)."""
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def out(text: str) -> None:
    sys.stdout.write(text)


def out_json(text: str) -> None:
    """JSON text that jsonfast's encoders wrote, onto stdout. An encoder escapes every control
    character below 0x20 (ESC included), so a block that is ASCII and has no DEL is safe as it is: one
    fast search instead of the full check (~60 ms on the 30 MB of a 40,000-device list); any other
    block is sanitised like all output."""
    stream = sys.stdout
    if type(stream) is SafeOutput and text.isascii() and "\x7f" not in text:
        stream.write_safe(text)
    else:
        stream.write(text)


def err(text: str) -> None:
    """A message line on stderr, sanitised; a closed or broken stderr loses it quietly."""
    text = sanitize(text)
    try:
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
    except (OSError, ValueError, AttributeError):
        pass


def warn(message: str) -> None:
    err(f"warning: {message}")


class Spinner:
    """A spinner on stderr for slow cluster reads: only on a terminal, only after ``delay`` seconds.

    Fast reads print nothing; the line is cleared before anything else is written. Use as a
    context manager around the read.
    """

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, text: str, *, delay: float = 0.5, interval: float = 0.1, stream=None) -> None:
        import sys

        self.text = text
        self.delay = delay
        self.interval = interval
        self.stream = stream or sys.stderr
        self._stop = None
        self._thread = None
        self._shown = False

    def enabled(self) -> bool:
        import os

        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb" and not os.environ.get("KUBECTL_DRA_NO_SPINNER")

    def __enter__(self) -> "Spinner":
        if not self.enabled():
            return self
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spinner", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        i = 0
        while not self._stop.is_set():
            try:
                self.stream.write(f"\r{self.FRAMES[i % len(self.FRAMES)]} {self.text}")
                self.stream.flush()
            except (OSError, ValueError):
                return
            self._shown = True
            i += 1
            self._stop.wait(self.interval)

    def __exit__(self, *exc) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        if self._shown:
            try:
                self.stream.write("\r\x1b[2K")
                self.stream.flush()
            except (OSError, ValueError):
                pass
