"""Property-based tests of the filter language (hypothesis).

Valid filters are built from the grammar (tests/filter_grammar.py), so every example is checked:
it parses to the tree it was built as; it compiles with and without the demo devices' schema; its CEL
is well formed, runs in the CEL engine without a runtime error and selects exactly the devices the
filter's own evaluator selects; and that selection is the and/or/not of what each of its comparisons
selects alone. Invalid filters carry one defect in a known place and must raise exactly the error
(class, message, column, hint, caret) that the grammar says. Random text only checks robustness:
a tree or a well-formed FilterError, never another exception.
"""

from __future__ import annotations

import re

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kubectl_dra import cel
from kubectl_dra.errors import ExitCode
from kubectl_dra.filter import FilterError, Schema, compile, parse
from kubectl_dra.filter import ast as filter_ast
from kubectl_dra.filter.to_cel import MAX_CEL_LENGTH
from kubectl_dra.kube.load import SourceOptions, load_cluster
from tests.filter_grammar import invalid_filters, leaf_text, valid_filters, vocabulary

DEVICES = [v.device for v in load_cluster(SourceOptions(demo=True), ()).device_views()]
SCHEMA = Schema.from_devices(DEVICES)
ALL = frozenset(d.id for d in DEVICES)
NAMES = vocabulary(DEVICES)

_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')


def _balanced(cel_text: str) -> None:
    skeleton = _LITERAL.sub('""', cel_text)
    assert '"' not in skeleton.replace('""', ""), cel_text
    depth = 0
    for c in skeleton:
        depth += {"(": 1, ")": -1, "[": 1, "]": -1}.get(c, 0)
        assert depth >= 0, cel_text
    assert depth == 0, cel_text
    assert not any(ord(c) < 0x20 or c == "\x7f" for c in cel_text), cel_text
    assert len(cel_text) <= MAX_CEL_LENGTH


def shape(node):
    """A parsed tree in the generator's form, and a check that every offset points at its text."""
    if isinstance(node, filter_ast.Or):
        return ("or", tuple(shape(n) for n in node.operands))
    if isinstance(node, filter_ast.And):
        return ("and", tuple(shape(n) for n in node.operands))
    if isinstance(node, filter_ast.Not):
        return ("not", shape(node.operand))
    if isinstance(node, filter_ast.Flag):
        return ("flag", node.name.text)
    return ("cmp", node.name.text, node.op, tuple((v.text, v.quoted) for v in node.values))


def _offsets(node, text: str) -> None:
    if isinstance(node, (filter_ast.Or, filter_ast.And)):
        for n in node.operands:
            _offsets(n, text)
    elif isinstance(node, filter_ast.Not):
        assert text[node.start:node.start + 3].lower() == "not"
        _offsets(node.operand, text)
    elif isinstance(node, filter_ast.Flag):
        assert text[node.start:node.end] == node.name.text
    else:
        assert text[node.name.start:node.name.end] == node.name.text
        for v in node.values:
            written = text[v.start:v.end]
            if v.quoted:
                assert written[0] == written[-1] and written[0] in "\"'"
            else:
                assert written == v.text


def engine_selection(flt) -> frozenset[str]:
    """What the filter's CEL selects in the CEL engine; it must never raise on a demo device."""
    results = cel.compile(flt.to_cel()).evaluate_many(DEVICES)
    assert [(d.id, r.error) for d, r in zip(DEVICES, results) if r.error] == [], flt.to_cel()
    return frozenset(d.id for d, r in zip(DEVICES, results) if r.matched)


def expected_selection(tree, schema) -> frozenset[str]:
    """and/or/not of what each comparison selects on its own (checked there against the CEL engine:
    at the top a difference in one comparison is often hidden by the others)."""
    kind = tree[0]
    if kind == "or":
        return frozenset().union(*(expected_selection(t, schema) for t in tree[1]))
    if kind == "and":
        return frozenset.intersection(*(expected_selection(t, schema) for t in tree[1]))
    if kind == "not":
        return ALL - expected_selection(tree[1], schema)
    flt = compile(leaf_text(tree), schema)
    own = frozenset(d.id for d in flt.select(DEVICES))
    assert engine_selection(flt) == own, (leaf_text(tree), flt.to_cel())
    return own


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_filters(NAMES))
def test_valid_filters_parse_compile_and_select_consistently(example):
    text, tree = example
    parsed = parse(text)
    assert shape(parsed) == tree
    _offsets(parsed, text)
    for schema in (SCHEMA, None):
        flt = compile(text, schema)
        _balanced(flt.to_cel())
        own = frozenset(d.id for d in flt.select(DEVICES))
        assert own == expected_selection(tree, schema), (text, schema is not None)
        assert engine_selection(flt) == own, (text, flt.to_cel())
        event(f"{'schema' if schema else 'no schema'}: selects {'none' if not own else 'all' if own == ALL else 'some'}")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invalid_filters(NAMES))
def test_invalid_filters_raise_the_error_the_grammar_says(rejection):
    for schema in (SCHEMA,) if rejection.schema else (SCHEMA, None):
        with pytest.raises(FilterError, match=re.escape(rejection.message)) as info:
            compile(rejection.text, schema)
        err = info.value
        assert type(err).__name__ == rejection.error
        assert (err.message, err.column, err.hint) == (rejection.message, rejection.column, rejection.hint)
        assert err.exit_code == ExitCode.USAGE
        shown = "".join(" " if ord(c) < 0x20 or c == "\x7f" else c for c in rejection.text)
        assert err.caret_lines() == [f"  | {shown}", "  | " + " " * rejection.column + "^"]


ALPHABET = st.sampled_from(list("abcmemory0123456789.-_/ ()=!<>~,\"'\\&|\t\nGiMK") + ["and ", "or ", "not ", " in ", "é", "\x00", "\u2028", "\ud800"])
filter_text = st.one_of(st.text(max_size=60), st.lists(ALPHABET, max_size=40).map("".join))


@settings(max_examples=300, deadline=None)
@given(filter_text)
def test_any_text_compiles_or_raises_a_well_formed_filter_error(text):
    """Robustness only: no other exception, and a rejection always says what and (mostly) where."""
    try:
        flt = compile(text)
    except FilterError as err:
        assert err.exit_code == ExitCode.USAGE and err.message
        assert err.render().splitlines()[0] == f"error: {err.message}"
        if err.column is not None:
            assert 0 <= err.column <= len(text)
            assert len(err.caret_lines()) == 2
        return
    _balanced(flt.to_cel())
    assert engine_selection(flt) == frozenset(d.id for d in flt.select(DEVICES))
