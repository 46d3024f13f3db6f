"""One set of severity constants (kubectl_dra.alloc.severity) and its two public spellings."""

from __future__ import annotations

import pytest

from kubectl_dra.alloc import reasons, result, severity
from kubectl_dra.alloc.severity import ERROR, INFO, UNSCHEDULABLE, WARNING, lint_severity


def test_status_spelling_is_kube_schedulers():
    assert (UNSCHEDULABLE, ERROR, WARNING, INFO) == ("Unschedulable", "Error", "Warning", "Info")
    assert reasons.STATUSES is severity.STATUSES
    assert (reasons.ERROR, reasons.WARNING, reasons.INFO) == (ERROR, WARNING, INFO)


def test_lint_spelling_is_lower_case():
    assert [lint_severity(level) for level in (ERROR, WARNING, INFO)] == ["error", "warning", "info"]
    with pytest.raises(ValueError, match="not a severity level: 'Unschedulable'"):
        lint_severity(UNSCHEDULABLE)


def test_node_status_uses_the_constants():
    node = result.NodeResult(node="n", allocatable=False)
    assert node.status == UNSCHEDULABLE
    node.reasons.append(reasons.Reason(code=reasons.NO_MATCH, status=ERROR, message="m"))
    assert node.status == ERROR
