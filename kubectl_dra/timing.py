"""Phase timings on stderr when KUBECTL_DRA_TIMING is set: where a slow run spends its time."""

from __future__ import annotations

import os
import sys
import time

_START = time.perf_counter()
_LAST = _START
ENABLED = bool(os.environ.get("KUBECTL_DRA_TIMING"))


def mark(label: str) -> None:
    global _LAST
    if not ENABLED:
        return
    now = time.perf_counter()
    sys.stderr.write(f"timing: {now - _START:7.3f}s (+{now - _LAST:.3f}s) {label}\n")
    _LAST = now
