"""The filter language's CEL, run in the real CEL engine: it compiles, never raises on any demo device,
and selects exactly what the filter's own evaluator selects (with and without a schema)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubectl_dra import cel
from kubectl_dra.filter import Schema, compile as compile_filter

CASES = [c for c in yaml.safe_load((Path(__file__).parent / "data" / "filter_cases.yaml").read_text()) if "error" not in c]


@pytest.fixture(scope="module")
def devices():
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    return [v.device for v in load_cluster(SourceOptions(demo=True), ()).device_views()]


@pytest.mark.parametrize("case", CASES, ids=[c["filter"] for c in CASES])
@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "no-schema"])
def test_generated_cel_agrees_with_the_filter(case, with_schema, devices):
    flt = compile_filter(case["filter"], Schema.from_devices(devices) if with_schema else None)
    program = cel.compile(flt.to_cel())
    results = program.evaluate_many(devices)
    errors = [(d.id, r.error) for d, r in zip(devices, results) if r.error]
    assert errors == [], "the generated CEL must never raise at scheduling time"
    engine = {d.id for d, r in zip(devices, results) if r.matched}
    assert engine == {d.id for d in flt.select(devices)}


@pytest.mark.parametrize("case", CASES, ids=[c["filter"] for c in CASES])
def test_compiled_matcher_agrees_with_the_reference_evaluator(case, devices):
    from kubectl_dra.filter.evaluate import matches

    for schema in (Schema.from_devices(devices), None):
        flt = compile_filter(case["filter"], schema)
        assert [flt.matches(d) for d in devices] == [matches(flt.resolved, d) for d in devices]
