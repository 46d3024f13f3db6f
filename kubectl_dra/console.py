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


def out(text: str) -> None:
    sys.stdout.write(text)


def err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


def warn(message: str) -> None:
    err(f"warning: {message}")
