"""`attributes` counts values a name at a time over a driver's devices (issue 15): the same summaries as
counting device by device, value by value, for every kind of device the model holds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_dra.kube.load import SLICES, SourceOptions, load_cluster
from kubectl_dra.model.cluster import DeviceView
from kubectl_dra.model.device import Device
from kubectl_dra.render.catalog import summarize_attributes

ROOT = Path(__file__).resolve().parent.parent


def reference(views):
    """Device by device, as the summary is defined: (driver, name, capacity) -> (devices, kinds, values in order)."""
    out: dict = {}
    for view in views:
        dev = view.device
        for name, value in dev.attributes.items():
            devices, kinds, values = out.setdefault((dev.driver, name, False), [0, Counter(), Counter()])
            out[(dev.driver, name, False)][0] += 1
            kinds[dev.attr_kind(name) or "unknown"] += 1
            values[tuple(value) if isinstance(value, list) else value] += 1
        for name, quantity in dev.capacity.items():
            entry = out.setdefault((dev.driver, name, True), [0, Counter(), Counter()])
            entry[0] += 1
            entry[2][str(quantity)] += 1
    return [(key, devices, dict(kinds), list(values.items())) for key, (devices, kinds, values) in sorted(out.items())]


def summarized(views):
    return [((s.driver, s.name, s.capacity), s.devices, dict(s.kinds), list(s.values.items())) for s in summarize_attributes(views)]


def test_the_demo_cluster():
    views = load_cluster(SourceOptions(demo=True), (SLICES,)).device_views()
    assert summarized(views) == reference(views)


VALUES = st.one_of(st.sampled_from(["a", "b", "", "10", "2"]), st.integers(-2, 2), st.booleans(),
                   st.lists(st.sampled_from(["x", "y"]), max_size=2))
KINDS = st.one_of(st.none(), st.dictionaries(st.sampled_from(["d.example.com/v", "d.example.com/w"]),
                                             st.sampled_from(["version", "strings", ""]), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(
    st.sampled_from(["d.example.com", "e.example.com"]),
    st.dictionaries(st.sampled_from(["d.example.com/v", "d.example.com/w", "x.example.com/z"]), VALUES, max_size=3),
    KINDS,
    st.dictionaries(st.sampled_from(["d.example.com/memory", "d.example.com/cores"]), st.sampled_from(["1Gi", "2", "1024Mi"]), max_size=2),
), max_size=12), st.booleans())
def test_any_devices(specs, share_kinds):
    shared: dict = {}
    views = []
    for i, (driver, attributes, kinds, capacity) in enumerate(specs):
        if share_kinds and kinds is not None:  # decode shares equal maps between devices
            kinds = shared.setdefault(tuple(sorted(kinds.items())), kinds)
        views.append(DeviceView(Device(driver, "p", f"dev-{i}", "s", attributes, kinds, capacity)))
    assert summarized(views) == reference(views)


def test_the_upstream_fixtures():
    fixtures = ROOT.parent / "shared" / "fixtures" / "upstream"
    if not fixtures.exists():
        pytest.skip("../shared/fixtures/upstream is not here")
    views = load_cluster(SourceOptions(filenames=[str(fixtures)], recursive=True), (SLICES,)).device_views()
    assert len(views) > 20
    assert summarized(views) == reference(views)


def test_the_bench_cluster_if_generated():
    path = ROOT / "bench" / "out" / "cluster-S.json"
    if not path.exists():
        pytest.skip("bench/out/cluster-S.json is made by bench/gen_cluster.py")
    views = load_cluster(SourceOptions(filenames=[str(path)]), (SLICES,)).device_views()
    assert summarized(views) == reference(views)


TEXTS = st.text(alphabet="ab-0123456789", max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(TEXTS, st.integers(1, 3), min_size=257, max_size=400), st.integers(1, 30))
def test_the_table_orders_only_the_values_it_shows(counts, wanted):
    """The first ``wanted`` values by count then natural order, found without sorting them all, are
    the first ``wanted`` of the full order (ties in insertion order)."""
    from kubectl_dra.model.cluster import natural_key
    from kubectl_dra.render.catalog import _most_common_first

    merged = Counter(counts)
    full = sorted(merged.items(), key=lambda kv: (-kv[1], natural_key(kv[0])))
    assert _most_common_first(merged, wanted) == full[:wanted]


def test_the_shortened_values_column_is_the_full_one_cut():
    from kubectl_dra.render.catalog import VALUES_WIDTH, AttributeSummary, shorten, values_text

    summary = AttributeSummary("d.example.com", "d.example.com/uuid")
    summary.values.update(f"GPU-{i * 7919 % 1000:03d}a{i}" for i in range(2000))
    summary.values.update(["GPU-5a5"] * 3)
    assert shorten(values_text(summary, VALUES_WIDTH), VALUES_WIDTH) == shorten(values_text(summary), VALUES_WIDTH)
    assert values_text(summary, VALUES_WIDTH).startswith("GPU-5a5 (3), GPU-000a0 (1), GPU-000a1000 (1)")
