"""Property-based tests of the filter language (hypothesis)."""

from __future__ import annotations

import re

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_dra.errors import UsageError
from kubectl_dra.filter import FilterSyntaxError, compile, parse
from kubectl_dra.filter.to_cel import MAX_CEL_LENGTH

_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')

ALPHABET = st.sampled_from(list("abcmemory0123456789.-_/ ()=!<>~,\"'\\&|\t\nGiMK") + ["and ", "or ", "not ", " in ", "é", "\x00", "\u2028", "\ud800"])
filter_text = st.one_of(st.text(max_size=60), st.lists(ALPHABET, max_size=40).map("".join))

NAMES = st.sampled_from(["memory", "product", "arch", "cc", "mig", "driver", "profile", "driverVersion", "mtu",
                         "gpu.nvidia.com/productName", "pcieRoot", "rdma"])
OPS = st.sampled_from(["=", "==", "!=", ">", ">=", "<", "<=", "~"])
VALUES = st.one_of(
    st.sampled_from(["40Gi", "true", "false", "9.0", "550.0.0", "8", "Hopper", "h100", "-3", "1g.10gb"]),
    st.text(max_size=12).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
)
term = st.one_of(NAMES, st.tuples(NAMES, OPS, VALUES).map("".join))
structured = st.recursive(
    term,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" ", " and ", " or ", " AND ", " Or "]), inner).map("".join),
        inner.map(lambda s: f"not {s}"),
        inner.map(lambda s: f"({s})"),
    ),
    max_leaves=8,
)


def _balanced(cel: str) -> None:
    skeleton = _LITERAL.sub('""', cel)
    assert '"' not in skeleton.replace('""', ""), cel
    depth = 0
    for c in skeleton:
        depth += {"(": 1, ")": -1, "[": 1, "]": -1}.get(c, 0)
        assert depth >= 0, cel
    assert depth == 0, cel
    assert not any(ord(c) < 0x20 or c == "\x7f" for c in cel), cel
    assert len(cel) <= MAX_CEL_LENGTH


@settings(max_examples=400, deadline=None)
@given(filter_text)
def test_parser_returns_a_tree_or_a_syntax_error(text):
    try:
        tree = parse(text)
    except FilterSyntaxError as err:
        assert err.column is not None and 0 <= err.column <= len(text)
        assert len(err.caret_lines()) == 2
        return
    assert tree is not None


@settings(max_examples=400, deadline=None)
@given(filter_text)
def test_compile_returns_balanced_cel_or_a_usage_error(text):
    try:
        f = compile(text)
    except UsageError:
        return
    _balanced(f.to_cel())


@settings(max_examples=400, deadline=None)
@given(structured)
def test_structured_filters_compile_to_balanced_cel(text):
    try:
        f = compile(text)
    except UsageError:
        return
    _balanced(f.to_cel())
