"""Unit tests of the hardening boundaries (issue 16): output sanitising, column widths, filter quoting,
durations, connection-error text, list shapes, watch events, messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubectl_dra.console import sanitize
from kubectl_dra.errors import ClusterError


@pytest.mark.parametrize("text,colour,expected", [
    ("plain", False, "plain"),
    ("a\x1b]8;;http://x\x07b", False, "a?]8;;http://x?b"),
    ("\x1b[32mok\x1b[0m", True, "\x1b[32mok\x1b[0m"),
    ("\x1b[32mok\x1b[0m", False, "?ok?"),
    ("\x1b[8mhidden", True, "?hidden"),
    ("\x1b[2Jclear\r\x9b", True, "?[2Jclear??"),
    ("tab\tnewline\n", False, "tab\tnewline\n"),
])
def test_sanitize(text, colour, expected):
    assert sanitize(text, colour=colour) == expected


def test_columns_align_cjk_and_emoji():
    from kubectl_dra.render.columns import format_table

    lines = format_table(["NAME", "X"], [["名前😀", "1"], ["ab", "2"]]).splitlines()
    from kubectl_dra.render.columns import width

    assert {width(line[: line.index("1" if "1" in line else ("2" if "2" in line else "X"))]) for line in lines} == {9}


@given(st.text())
def test_filter_quote_reads_back_exactly(value):
    from kubectl_dra.filter.lexer import STRING, WORD, quote, tokenize

    tokens = tokenize(quote(value))
    assert tokens[0].kind in (STRING, WORD) and tokens[0].value == value and tokens[1].kind == "eof"


@pytest.mark.parametrize("text,seconds", [("0", None), ("30", 30.0), ("1m30s", 90.0), ("8760h", 8760 * 3600.0)])
def test_durations(text, seconds):
    from kubectl_dra.kube.discovery import parse_duration

    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["99999999999h", "1e300", "8761h"])
def test_absurd_durations_are_refused(text):
    from kubectl_dra.kube.discovery import parse_duration

    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize("reason,expected", [
    ("('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))",
     "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"),
    ("<urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused",
     "Failed to establish a new connection: [Errno 111] Connection refused"),
    ("broken (104, 'Connection reset by peer'", "broken (104, 'Connection reset by peer')"),
    ("x))", "x"),
])
def test_connection_errors_are_balanced(reason, expected):
    from kubectl_dra.kube.live import _short

    assert _short(reason) == expected


@pytest.mark.parametrize("page,words", [
    ({"items": {"a": 1}}, "items is a map"),
    ({"items": "x"}, "items is a string"),
    ({"metadata": [1], "items": []}, "metadata is a list"),
    ({"metadata": {"continue": 5}, "items": []}, "continue"),
])
def test_malformed_list_pages(page, words):
    from kubectl_dra.kube.live import list_page

    with pytest.raises(ClusterError, match=words):
        list_page(page, "resourceslices")


def test_well_formed_list_page():
    from kubectl_dra.kube.live import list_page

    assert list_page({"metadata": {"continue": "t", "resourceVersion": "5"}, "items": [{}]}, "x") == ([{}], "t", "5")
    assert list_page({}, "x") == ([], "", "")


@pytest.mark.parametrize("line", [b"{not json", b'{"type":"ADDED","object":[1]}', b'{"type":"NOPE","object":{}}',
                                  b'{"type":"ADDED","object":{"metadata":"x"}}', b"\xff\xfe"])
def test_unexpected_watch_events(line):
    from kubectl_dra.kube.live import LiveCluster

    with pytest.raises(ClusterError, match="watch event"):
        LiveCluster()._watch_event(line, "resourceslices")


def test_pool_with_more_slices_than_it_says():
    from kubectl_dra.model.slices import Pool

    pool = Pool.__new__(Pool)
    pool.driver, pool.name, pool.generation, pool.slice_count, pool.slices = "d", "p", 1, 1, [object(), object()]
    assert pool.describe_incomplete() == "pool d/p is inconsistent: 2 slices of generation 1, but resourceSliceCount says 1"


def test_report_is_sanitised(capsys):
    from kubectl_dra.cli._boundary import report

    report(ClusterError('namespace "a\x1b]0;t\x07" not found', hint="x\x1b[2J"))
    assert capsys.readouterr().err == 'error: namespace "a?]0;t?" not found\nhint: x?[2J\n'


@given(st.recursive(st.one_of(st.text(), st.integers(), st.booleans(), st.none()),
                    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                    max_leaves=8))
def test_json_output_is_as_safe_as_any_output(value):
    """`out_json` skips the full check for ASCII blocks without DEL (an encoder escapes the other
    controls): what reaches stdout is what the full check would let through, for whatever data."""
    import io

    from kubectl_dra.console import SafeOutput, out_json
    from kubectl_dra.render.machine import to_json

    for data in ({"items": [value]}, {"items": [value] * 1001}):  # the indented and the one-item-per-line writers
        text = to_json(data)
        sink = io.StringIO()
        import sys

        saved, sys.stdout = sys.stdout, SafeOutput(sink)
        try:
            out_json(text)
        finally:
            sys.stdout = saved
        assert sink.getvalue() == sanitize(text, colour=True)


def test_json_output_blocks_with_del_or_c1_controls_are_sanitised(capsys):
    import sys

    from kubectl_dra.console import SafeOutput, out_json

    sys.stdout = SafeOutput(sys.stdout)
    try:
        out_json('{"a": "x\x7fy"}\n')
        out_json('{"a": "\x9b2J\u2028"}\n')
        out_json('{"a": "\\u001b[2J"}\n')
    finally:
        sys.stdout = sys.stdout._stream
    assert capsys.readouterr().out == '{"a": "x?y"}\n{"a": "?2J?"}\n{"a": "\\u001b[2J"}\n'
