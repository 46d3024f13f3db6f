"""Issue 13 item 1: the one near-miss engine (kubectl_dra.filter.nearmiss) on the demo cluster."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kubectl_dra.filter import Schema, compile
from kubectl_dra.filter.nearmiss import near_misses


@pytest.fixture(scope="module")
def demo():
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    views = load_cluster(SourceOptions(demo=True), ()).device_views()
    return views, Schema.from_devices(v.device for v in views)


def _misses(demo, text, **kw):
    views, schema = demo
    return near_misses(compile(text, schema), views, **kw)


def _groups(miss):
    return {(g.label, g.value, g.count, g.free) for g in miss.groups}


def test_40gb_slices_are_just_below_40Gi(demo):
    [miss] = _misses(demo, "memory>=40Gi mig")
    assert miss.near and miss.term == "memory>=40Gi" and miss.suggested_term == "memory>=39Gi"
    assert _groups(miss) == {("3g.40gb", "39.5Gi", 4, 3), ("4g.40gb", "39.5Gi", 2, 2), ("3g.40gb", "39.3Gi", 1, 1)}
    assert (miss.count, miss.free) == (7, 6)
    assert miss.message() == ("7 devices (3g.40gb, 39.5Gi; 4g.40gb, 39.5Gi; 3g.40gb, 39.3Gi; 6 free) are just below "
                              "memory>=40Gi; did you mean memory>=39Gi?")


def test_the_suggestion_admits_the_near_misses(demo):
    views, schema = demo
    for text in ("memory>=40Gi mig", "memory>=10Gi mig", "memory>=80Gi", "memory<=9Gi mig", "memory>39.5Gi mig"):
        for miss in _misses(demo, text):
            fixed = compile(text.replace(miss.term, miss.suggested_term), schema)
            # near misses: all of them; otherwise (nothing near) the closest ones
            admitted = miss.devices if miss.near else miss.devices[:1]
            assert all(fixed.matches(v.device) for v in admitted), (text, miss.suggested_term)


def test_one_free_device_message(demo):
    [miss] = _misses(demo, "memory>=40Gi mig product~a100")
    assert miss.message() == "1 free device (3g.40gb, 39.3Gi) is just below memory>=40Gi; did you mean memory>=39Gi?"


def test_10gb_slices_are_near_10Gi_and_far_ones_are_not(demo):
    [miss] = _misses(demo, "memory>=10Gi mig")
    assert {g.label for g in miss.groups} == {"1g.10gb"}
    assert {g.value for g in miss.groups} == {"9.8Gi", "9.5Gi"}  # 9.5Gi is exactly 5 % below
    assert miss.suggestion == "9Gi"


def test_nothing_matches_reports_the_closest(demo):
    [miss] = _misses(demo, "memory>=300Gi")
    assert not miss.near
    # the three closest values, closest first; the suggestion admits the closest
    assert [(g.label, g.value) for g in miss.groups] == [
        ("AMD_Instinct_MI300X_OAM", "192Gi"), ("NVIDIA A100 80GB PCIe", "80Gi"), ("NVIDIA H100 80GB HBM3", "79.6Gi")]
    assert miss.suggestion == "191Gi"
    assert "the closest below memory>=300Gi" in miss.message()


def test_within_tolerance_when_something_matches(demo):
    [miss] = _misses(demo, "memory>=200Gi")  # nothing matches: MI300X 192Gi is reported, and is near (4 %)
    assert miss.near and miss.suggestion == "191Gi"
    assert _misses(demo, "memory>=200Gi", tolerance=Fraction(1, 100))[0].near is False


def test_upper_bounds(demo):
    [miss] = _misses(demo, "memory<=9Gi mig")
    assert miss.op == "<=" and miss.suggestion == "10Gi"
    assert "the closest above memory<=9Gi" in miss.message()


def test_versions_near_only_within_the_major(demo):
    [miss] = _misses(demo, "cuda>=13.1")
    assert miss.near and miss.suggestion == "13.0"
    assert _misses(demo, "cc>=9.0 mig") == []  # 8.x is another architecture: not near
    [far] = _misses(demo, "cc>=10.0")
    assert not far.near and far.suggestion == "9.0"


@pytest.mark.parametrize("text", ["not memory>=40Gi", "memory>=40Gi or mig", "mig", "product~h100", "memory=40Gi"])
def test_no_threshold_term(demo, text):
    assert _misses(demo, text) == []


def test_limited_to_keys_and_plain_devices(demo):
    views, schema = demo
    keys = {v.device.key for v in views if v.device.node_label == "a100-mig-01"}
    [miss] = _misses(demo, "memory>=40Gi mig", keys=keys)
    assert {(g.label, g.value) for g in miss.groups} == {("3g.40gb", "39.3Gi")}
    [plain] = near_misses(compile("memory>=40Gi mig", schema), [v.device for v in views])
    assert plain.free == plain.count == 7  # no state known: every device counts as free


def test_without_schema(demo):
    views, _ = demo
    [miss] = near_misses(compile("memory>=40Gi mig"), views)
    assert miss.suggestion == "39Gi"


def test_byte_spelling_suggests_in_the_kubernetes_unit(demo):
    [miss] = _misses(demo, "memory>=80GiB")
    assert miss.suggested_term == "memory>=79Gi"
