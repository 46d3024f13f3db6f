"""Terminal decisions in one place: colour, and writing data/messages to the right stream."""

from __future__ import annotations

import os
import sys


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


def err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


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
