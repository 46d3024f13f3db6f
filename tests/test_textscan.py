"""kubectl_dra.textscan: the one scanner of expression text outside string literals (CEL, JSONPath)."""

from __future__ import annotations

import pytest

from kubectl_dra.textscan import closing, split_top, unquoted


def test_literals_and_their_quotes_are_skipped_with_escapes():
    text = """a"b\\"c)"d'e)'f"""
    assert "".join(c for _, c, _ in unquoted(text)) == "adf"
    assert [i for i, c, _ in unquoted(text) if c == "d"] == [text.index("d")]


def test_depth_outside_an_opening_and_after_a_closing_bracket():
    got = [(c, d) for _, c, d in unquoted("f(a[1], {b})")]
    assert got == [("f", 0), ("(", 0), ("a", 1), ("[", 1), ("1", 2), ("]", 1), (",", 1), (" ", 1),
                   ("{", 1), ("b", 2), ("}", 1), (")", 0)]


@pytest.mark.parametrize("text,at,want", [
    ("(a && (b || c)) && d", 0, 14),
    ('(x == ")") && y', 0, 9),
    ("[?(@.a==']')]", 0, 12),
    ("(unbalanced", 0, -1),
    ("a[0][1]", 4, 6),
])
def test_closing_bracket(text, at, want):
    assert closing(text, at) == want


def test_split_top_ignores_separators_in_literals_only():
    assert split_top("'a,b',c,\"d,e\"", ",") == ["'a,b'", "c", '"d,e"']
    assert split_top("f(a,b)", ",") == ["f(a", "b)"]  # brackets are not counted: callers split inside one
    assert split_top("", ",") == [""]
