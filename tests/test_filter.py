"""The filter language: the case table (tests/data/filter_cases.yaml), rendering, injection, properties."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml

from kubectl_dra.errors import ExitCode, UsageError
from kubectl_dra.filter import FilterError, FilterSyntaxError, Schema, compile
from kubectl_dra.filter.to_cel import MAX_CEL_LENGTH, quote

CASES = yaml.safe_load((Path(__file__).parent / "data" / "filter_cases.yaml").read_text())
GOOD = [c for c in CASES if "error" not in c]
BAD = [c for c in CASES if "error" in c]


@pytest.fixture(scope="module")
def demo():
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    devices = [v.device for v in load_cluster(SourceOptions(demo=True), ()).device_views()]
    return devices, Schema.from_devices(devices)


@pytest.mark.parametrize("case", GOOD, ids=[c["filter"] for c in GOOD])
def test_case_cel_and_matches(case, demo):
    devices, schema = demo
    plain = compile(case["filter"])
    assert plain.to_cel() == case["cel"]
    typed = compile(case["filter"], schema)
    assert typed.to_cel() == case["cel_schema"]
    assert sorted(d.id for d in typed.select(devices)) == case["matches"]
    assert sorted(d.id for d in plain.select(devices)) == case.get("matches_no_schema", case["matches"])


@pytest.mark.parametrize("case", BAD, ids=[c["filter"] or "<empty>" for c in BAD])
def test_case_errors(case, demo):
    schema = demo[1] if case.get("schema") else None
    with pytest.raises(FilterError, match=f"^{re.escape(case['message'])}$") as info:
        compile(case["filter"], schema)
    err = info.value
    assert isinstance(err, UsageError) and err.exit_code == ExitCode.USAGE
    if case["error"] == "syntax":
        assert isinstance(err, FilterSyntaxError)
    else:
        assert type(err).__name__ == case["error"]
    assert err.column == case["column"]
    assert err.message == case["message"]
    if "hint" in case:
        assert err.hint == case["hint"]


def test_caret_rendering():
    with pytest.raises(FilterSyntaxError, match="^expected a value after '>=' in filter$") as info:
        compile("memory>=")
    err = info.value
    assert err.text == "memory>=" and err.column == 8
    assert err.caret_lines() == ["  | memory>=", "  |         ^"]
    assert err.render().splitlines()[:3] == [
        "error: expected a value after '>=' in filter",
        "  | memory>=",
        "  |         ^",
    ]


def test_caret_stays_aligned_with_control_characters():
    with pytest.raises(FilterSyntaxError, match="^expected a value after '>=' in filter$") as info:
        compile("a\t\n>=")
    assert info.value.caret_lines() == ["  | a  >=", "  |      ^"]


def test_unknown_name_suggests(demo):
    with pytest.raises(FilterError, match="^no device publishes an attribute or capacity named 'prodctName'$") as info:
        compile("prodctName~h100", demo[1])
    assert "productName" in info.value.hint


def test_filter_api(demo):
    f = compile("memory>=40Gi mig=false", demo[1])
    assert f.source == "memory>=40Gi mig=false"
    assert type(f.ast).__name__ == "And"
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'operands'"):
        f.ast.operands = ()


def test_schema_from_devices(demo):
    schema = demo[1]
    assert schema.attributes["gpu.nvidia.com/cudaComputeCapability"] == {"gpu.nvidia.com": {"version"}}
    assert schema.capacities["gpu.nvidia.com/memory"] == {"gpu.nvidia.com"}
    assert set(schema.attributes["resource.kubernetes.io/pcieRoot"]) >= {"gpu.nvidia.com", "dra.net"}
    assert "dra.net" in schema.drivers


def test_length_limit():
    text = "product in (" + ", ".join(f"p{i:05d}" for i in range(1500)) + ")"
    with pytest.raises(FilterError, match="limit"):
        compile(text)
    assert len(compile("product in (" + ", ".join(f"p{i}" for i in range(100)) + ")").to_cel()) < MAX_CEL_LENGTH


# -- injection ---------------------------------------------------------------------------

INJECTIONS = [  # (filter, the values it compares with, exactly as typed inside the quotes)
    ('product="a\\" || true"', ('a" || true',)),
    ("product='\" || true || \"'", ('" || true || "',)),
    ("product='a\nb\r\tc\x00\x1b\x7f\u2028'", ("a\nb\r\tc\x00\x1b\x7f\u2028",)),
    ("product~'\") || true || (\"'", ('") || true || ("',)),
    ("driver=\"gpu.nvidia.com\\\" || true\"", ('gpu.nvidia.com" || true',)),
    ("profile in ('a\", true, \"b', c)", ('a", true, "b', "c")),
]


def _string_literals_stripped(cel: str) -> str:
    """The CEL with each double-quoted literal replaced by "" (a tiny CEL string scanner)."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', cel)


@pytest.mark.parametrize("text, values", INJECTIONS)
def test_values_cannot_change_the_structure(text, values):
    f = compile(text)
    assert tuple(v.text for v in f.ast.values) == values
    cel = f.to_cel()
    literals = [json.loads(lit) for lit in re.findall(r'"(?:[^"\\]|\\.)*"', cel)]
    assert literals[-len(values):] == list(values)  # each value is one CEL string, intact
    skeleton = _string_literals_stripped(cel)
    assert "true ||" not in skeleton and "|| true" not in skeleton
    assert not any(c in skeleton for c in "\n\r\t\x00\x1b\x7f\u2028")
    assert skeleton.count("(") == skeleton.count(")")


def test_an_unquoted_injection_is_rejected_by_the_lexer():
    with pytest.raises(FilterSyntaxError, match=r"^unexpected '\|' in filter$") as info:
        compile('product="x\\\\" || true || \\"y"')
    assert (info.value.column, info.value.hint) == (14, "use 'or'")


def test_injection_value_stays_one_string():
    cel = compile('product="a\\" || true"').to_cel()
    assert cel.endswith('.productName == "a\\" || true"')
    assert _string_literals_stripped(cel).endswith('.productName == ""')


def test_quote_escapes():
    assert quote('a"b\\c\nd\x01') == '"a\\"b\\\\c\\nd\\u0001"'
    assert quote("\U0001f600") == '"\U0001f600"'
    assert quote("\u2028") == '"\\u2028"'
