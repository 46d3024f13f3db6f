"""Severity levels: the one set of constants for the allocator, ``explain`` and ``lint``.

A level is ``ERROR``, ``WARNING`` or ``INFO``; a scheduler status may also be ``UNSCHEDULABLE``.
Two spellings of the levels are public interface (JSON output) and stay as they are:

* a *status* (``Reason.status``, a node's ``status`` in ``explain -o json``) is spelled as
  kube-scheduler spells its status codes, capitalised: the constants' values;
* a lint finding's *severity* (``lint -o json``, the findings ``explain`` prints) is lower case:
  ``lint_severity(level)``.
"""

from __future__ import annotations

UNSCHEDULABLE = "Unschedulable"
ERROR = "Error"
WARNING = "Warning"
INFO = "Info"
STATUSES = (UNSCHEDULABLE, ERROR, WARNING, INFO)
LEVELS = (ERROR, WARNING, INFO)


def lint_severity(level: str) -> str:
    """How a lint finding spells a level: ``error``, ``warning``, ``info``."""
    if level not in LEVELS:
        raise ValueError(f"not a severity level: {level!r}")
    return level.lower()
