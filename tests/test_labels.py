"""-l/--selector and --show-labels helpers (kubectl_dra.model.labels)."""

from __future__ import annotations

import pytest

from kubectl_dra.errors import ExitCode, UsageError
from kubectl_dra.model.labels import parse_selector, show_labels

LABELS = {"nvidia.com/gpu.product": "H100", "zone": "a", "kubernetes.io/hostname": "dgx-1"}


@pytest.mark.parametrize(("selector", "want"), [
    ("", True), ("zone=a", True), ("zone==a", True), ("zone=b", False), ("zone!=b", True), ("missing!=x", True),
    ("zone in (a,b)", True), ("zone in (b)", False), ("zone notin (b, c)", True), ("missing notin (b)", True),
    ("zone", True), ("missing", False), ("!missing", True), ("!zone", False),
    ("nvidia.com/gpu.product=H100,zone=a", True), ("nvidia.com/gpu.product=H100,zone=b", False),
    ("zone in (a,b),kubernetes.io/hostname", True), ("empty=", False),
])
def test_matches(selector, want):
    assert parse_selector(selector).matches(LABELS) is want


def test_empty_value_matches_an_empty_label():
    assert parse_selector("empty=").matches({"empty": ""})


@pytest.mark.parametrize("selector", ["zone=a,", "=a", "zone in ()", "bad key=a", "zone=a b", "-x=1", "zone in (a,b"])
def test_malformed(selector):
    with pytest.raises(UsageError, match="unable to parse requirement") as caught:
        parse_selector(selector)
    assert caught.value.exit_code == ExitCode.USAGE


def test_show_labels():
    assert show_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert show_labels({}) == "<none>" and show_labels(None) == "<none>"
