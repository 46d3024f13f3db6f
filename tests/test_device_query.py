"""kubectl_dra.domain.device_query: list's device query, without the CLI runner."""

from __future__ import annotations

import pytest

from kubectl_dra.domain.device_query import STATE_CHOICES, DeviceQuery, select, state_matches
from kubectl_dra.errors import NotFoundError, UsageError
from kubectl_dra.kube.load import CLAIMS, CLASSES, SLICES, SourceOptions, load_cluster


@pytest.fixture(scope="module")
def demo():
    return load_cluster(SourceOptions(demo=True, all_namespaces=True), (SLICES, CLAIMS, CLASSES))


def ids(views) -> set[str]:
    return {f"{v.device.node_label}/{v.device.name}" for v in views}


@pytest.mark.parametrize(
    ("state", "wanted", "expected"),
    [
        ("free", "all", True), ("reserved", "allocated", True), ("allocated", "allocated", True),
        ("free", "allocated", False), ("tainted", "unavailable", True), ("free", "unavailable", False),
        ("tainted", "tainted", True), ("reserved", "free", False),
    ],
)
def test_state_matches(state, wanted, expected):
    assert state_matches(state, wanted) is expected


def test_validate_lowercases_state_and_rejects_unknown_ones():
    query = DeviceQuery(state="FREE")
    query.validate()
    assert query.state == "free"
    with pytest.raises(UsageError, match="--state must be one of"):
        DeviceQuery(state="busy").validate()
    assert "consumed-by-partition" in STATE_CHOICES


def test_validate_checks_filter_and_cel_syntax_before_any_cluster():
    with pytest.raises(UsageError, match="."):
        DeviceQuery(filter_text="memory>=").validate()
    with pytest.raises(UsageError, match="."):
        DeviceQuery(cel_expression="device.attributes[").validate()


def test_apply_without_filters_keeps_every_device_in_list_order(demo):
    views = demo.device_views()
    assert DeviceQuery().apply(demo) == list(views)


def test_apply_combines_node_driver_state_filter_and_class(demo):
    every = demo.device_views()
    query = DeviceQuery(nodes={"a100-mig-01"}, state="free", device_class="mig.nvidia.com")
    got = query.apply(demo)
    assert got and all(v.device.node_label == "a100-mig-01" and v.state == "free" for v in got)
    # exactly the free devices on that node that the class's selectors admit
    from kubectl_dra.admission import admit

    cls = next(c for c in demo.classes if c.name == "mig.nvidia.com")
    admitted = admit(cls.selectors, [v for v in every if v.device.node_label == "a100-mig-01" and v.state == "free"],
                     device=lambda v: v.device).admitted
    assert ids(got) == ids(admitted)
    assert DeviceQuery(drivers={"amd"}).apply(demo) == [v for v in every if v.device.driver == "gpu.amd.com"]


def test_select_warns_once_per_failing_selector_and_drops_those_devices(demo):
    warnings: list[str] = []
    views = demo.device_views()
    got = select(views, [v.device for v in views], demo, "", 'device.attributes["gpu.nvidia.com"].productName != ""', None,
                 warn=warnings.append)
    assert got and all(v.device.driver == "gpu.nvidia.com" for v in got)
    assert len(warnings) == 2
    assert warnings[0].startswith("--cel: CEL runtime error on ")
    assert "they are not listed" in warnings[0]


def test_select_names_the_missing_class(demo):
    with pytest.raises(NotFoundError, match='deviceclass "nope" not found'):
        select(demo.device_views(), [], demo, "", None, "nope")


def test_the_incremental_query_agrees_with_apply(demo):
    for query in (DeviceQuery(filter_text="mig=true"), DeviceQuery(state="free", device_class="gpu.nvidia.com"),
                  DeviceQuery(nodes={"dgx-h100-01", "l40s-01"}, state="unavailable")):
        incremental = DeviceQuery(query.nodes, query.drivers, query.state, query.filter_text,
                                  query.cel_expression, query.device_class)
        assert incremental(demo) == query.apply(demo)
        assert incremental(demo) == query.apply(demo)  # the second call reuses the per-device decisions
