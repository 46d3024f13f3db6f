"""Issue 13: byte spellings of quantities (40GB = 40G, 80GiB = 80Gi) and the hint for a term the shell cut short."""

from __future__ import annotations

import pytest

from kubectl_dra.filter import FilterTypeError, Schema, compile
from kubectl_dra.filter.to_cel import byte_units


@pytest.fixture(scope="module")
def demo():
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    devices = [v.device for v in load_cluster(SourceOptions(demo=True), ()).device_views()]
    return devices, Schema.from_devices(devices)


@pytest.mark.parametrize(("written", "meant"), [
    ("40GB", "40G"), ("80GiB", "80Gi"), ("1.5TB", "1.5T"), ("512KB", "512k"), ("512kB", "512k"),
    ("512KiB", "512Ki"), ("40Gi", "40Gi"), ("40G", "40G"), ("3g.40gb", "3g.40gb"), ("GB", "GB"), ("40gb", "40gb"),
])
def test_byte_units(written, meant):
    assert byte_units(written) == meant


@pytest.mark.parametrize(("written", "same_as"), [("memory>=40GB", "memory>=40G"), ("memory>=80GiB", "memory>=80Gi"),
                                                  ("memory<1TB", "memory<1T")])
def test_byte_spellings_mean_the_quantity(demo, written, same_as):
    devices, schema = demo
    for s in (schema, None):
        got, want = compile(written, s), compile(same_as, s)
        assert got.to_cel() == want.to_cel()
        assert {d.key for d in got.select(devices)} == {d.key for d in want.select(devices)}


def test_40GB_is_decimal_so_it_admits_the_40gb_mig_slices(demo):
    devices, schema = demo
    decimal = {d.key for d in compile("memory>=40GB mig", schema).select(devices)}
    binary = {d.key for d in compile("memory>=40GiB mig", schema).select(devices)}
    profiles = {d.attributes.get(f"{d.driver}/profile") for d in devices if d.key in decimal - binary}
    assert "3g.40gb" in profiles


def test_quoted_byte_spelling_is_not_rewritten(demo):
    _, schema = demo
    with pytest.raises(FilterTypeError, match="not a valid quantity"):
        compile('memory>="40GB"', schema)


@pytest.mark.parametrize("use_schema", [True, False])
def test_memory_alone_hints_at_quoting(demo, tmp_path, monkeypatch, use_schema):
    monkeypatch.chdir(tmp_path)
    schema = demo[1] if use_schema else None
    with pytest.raises(FilterTypeError, match="memory is a quantity, not a flag") as caught:
        compile("memory mig=true", schema)
    assert "quote the term, e.g. 'memory>=40Gi'" in caught.value.hint
    assert "=40Gi" not in caught.value.hint.split("e.g.")[1].split(":")[1]
    (tmp_path / "=40Gi").write_text("")
    with pytest.raises(FilterTypeError) as caught:
        compile("memory mig=true", schema)
    assert "the file '=40Gi' here is likely the rest of it" in caught.value.hint


def test_cli_memory_alone(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "=40Gi").write_text("")
    r = run("list", "memory", "mig=true", "--demo")
    assert r.exit_code == 2
    assert "error: memory is a quantity, not a flag" in r.stderr
    assert "hint: quote the term, e.g. 'memory>=40Gi'" in r.stderr and "'=40Gi'" in r.stderr
