"""When the Go-built tiers run: one rule for the control plane, the oracle and the tests that start their own."""

from __future__ import annotations

import pytest

from tests.e2e import cluster


def need_go(purpose: str) -> None:
    """Skip (one reason line) when `purpose` cannot run here; under KUBECTL_DRA_E2E=require, fail instead."""
    reason = cluster.unavailable(purpose)
    if reason:
        if cluster.e2e_mode() == "require":
            pytest.fail(f"KUBECTL_DRA_E2E=require but {reason}", pytrace=False)
        pytest.skip(reason)
