"""The one-pass table printers (issue 15) print exactly what the cell-by-cell definitions say:
``format_table``'s column passes against a straightforward printer, ``device_rows`` against the
per-cell functions (``device_type``, ``product``, …), ``footer`` from rows against one from views,
and ``Cluster.device_views``'s order against its sort key."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_dra.model.claim import AllocationResult, Claim
from kubectl_dra.model.cluster import Cluster, DeviceView, Holder, _order
from kubectl_dra.model.device import STANDARD_DOMAIN, Device
from kubectl_dra.model.slices import ResourceSlice
from kubectl_dra.render import devices as render
from kubectl_dra.render.columns import ANSI, RESET, format_table, width

# ---------------------------------------------------------------------------- format_table


def reference_table(headers, rows, *, color=False, style=None, no_headers=False) -> str:
    """The printer's definition, cell by cell: widths in terminal columns, three spaces between
    columns, the last one not padded, every line right-stripped; headers bold when coloured."""
    all_rows = rows if no_headers else [list(headers), *rows]
    if not all_rows:
        return ""
    widths = [max(width(row[i]) for row in all_rows) for i in range(len(headers))]
    lines = []
    for r, row in enumerate(all_rows):
        parts = []
        for i, cell in enumerate(row):
            pad = "" if i == len(headers) - 1 else " " * (widths[i] - width(cell) + 3)
            name = None
            if color and style is not None:
                name = style(i, cell) if (r or no_headers) else "bold"
            parts.append(f"{ANSI[name]}{cell}{RESET}{pad}" if name else cell + pad)
        lines.append("".join(parts).rstrip())
    return "\n".join(lines) + "\n"


CELL = st.one_of(
    st.sampled_from(["", "-", "a", "free", "allocated", "gpu-0", "x y", "ends ", " ", "\t", "a\nb", "é", "名前", "😀",
                     "a\u0301", "\x1c", "tail\r", "100%", "%s", "{}"]),
    st.text(max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(ncols=st.integers(1, 4), data=st.data(), no_headers=st.booleans(), color=st.booleans())
def test_format_table_is_the_cell_by_cell_table(ncols, data, no_headers, color):
    headers = data.draw(st.lists(st.sampled_from(["NAME", "STATE", "X", "POD(S)", ""]), min_size=ncols, max_size=ncols))
    rows = data.draw(st.lists(st.lists(CELL, min_size=ncols, max_size=ncols).map(tuple), max_size=6))

    def style(i, cell):
        return {"free": "green", "allocated": "yellow"}.get(cell) if i == ncols - 1 or i == 0 else None

    expected = reference_table(headers, rows, color=color, style=style, no_headers=no_headers)
    assert format_table(headers, rows, color=color, style=style, no_headers=no_headers) == expected
    assert format_table(headers, [list(r) for r in rows], color=color, style=style, no_headers=no_headers,
                        style_columns=(0, ncols - 1)) == expected


def test_format_table_strips_what_an_empty_last_cell_leaves():
    text = format_table(["A", "B", "C"], [("a", "b ", ""), ("aaaa", "", "c"), ("a", "", "")])
    assert text == "A      B    C\na      b\naaaa        c\na\n"


# ---------------------------------------------------------------------------- device_rows

DRIVERS = ["gpu.nvidia.com", "dra.net", "tpu.google.com", "dra.cpu", "gpu.example.com", "ctl\x1b.example.com"]
VALUES = st.one_of(
    st.sampled_from(["", "gpu", "mig-partition", "1g.10gb", "NVIDIA H100", "v\x07", "a b", "名前"]),
    st.booleans(), st.integers(-2, 3),
    st.lists(st.sampled_from(["a", "", "b\n"]), max_size=2),
)
ATTRS = ["type", "tpuGen", "productName", "model", "accelerator", "family", "partition", "full", "profile",
         "partitionProfile", "uuid", "pcieBusID", "pciAddr", "pciAddress", "numaNode", "numa", "numaNodeID",
         "architecture", "cudaComputeCapability", "driverVersion", "dra.net/pciDevice", "dra.net/ifName",
         "dra.net/pciAddress", "dra.net/numaNode", f"{STANDARD_DOMAIN}/pciBusID", f"{STANDARD_DOMAIN}/numaNode",
         f"{STANDARD_DOMAIN}/pcieRoot"]


@st.composite
def devices(draw):
    driver = draw(st.sampled_from(DRIVERS))
    names = draw(st.lists(st.sampled_from(ATTRS), max_size=8, unique=True))
    attributes = {(n if "/" in n else f"{driver}/{n}"): draw(VALUES) for n in names}
    capacity = {}
    if draw(st.booleans()):
        capacity[f"{driver}/memory"] = draw(st.sampled_from(["80Gi", "81559Mi", "1", "bad", "", "40G"]))
    node = draw(st.sampled_from([None, "", "node-a", "node\x1bb"]))
    return Device(driver, draw(st.sampled_from(["pool", "p\x07"])), draw(st.sampled_from(["gpu-0", "gpu-10", "d\n"])),
                  attributes=attributes, capacity=capacity, node_name=node,
                  all_nodes=draw(st.booleans()), node_selector=draw(st.sampled_from([None, {}])))


def reference_row(view: DeviceView, wide: bool) -> tuple:
    dev = view.device
    claim, pods = render.holders_text(view)
    row = (render.strip_controls(dev.node_label), render.strip_controls(render.short_driver(dev.driver)),
           render.strip_controls(dev.name), render.device_type(dev), render.product(dev),
           render.human_quantity(dev.cap("memory")), render.profile(dev), view.state, claim, pods)
    if wide:
        t = render._text
        row += (t(dev.attr("uuid")), render.pci_bus_id(dev), t(dev.attr(f"{STANDARD_DOMAIN}/pcieRoot")),
                t(render.first_attr(dev, render.NUMA_KEYS)), t(dev.attr("architecture")),
                t(dev.attr("cudaComputeCapability")), t(dev.attr("driverVersion")), render.strip_controls(dev.pool))
    return row


def _holder(ref: str, pods: list[str]) -> Holder:
    namespace, name = ref.split("/")
    return Holder(Claim(namespace=namespace, name=name), AllocationResult("r", "d", "p", "x"), pods)


HOLDERS = st.lists(st.builds(_holder, st.sampled_from(["ns/a", "ns/b\x1b"]), st.lists(st.sampled_from(["p1", "p2"]), max_size=2)),
                   max_size=2)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(devices(), st.sampled_from(["free", "allocated", "tainted"]), HOLDERS), max_size=6),
       st.booleans())
def test_device_rows_are_the_per_cell_functions(specs, wide):
    views = [DeviceView(dev, state, holders) for dev, state, holders in specs]
    assert render.device_rows(views, wide) == [reference_row(v, wide) for v in views]
    assert [render.device_row(v, wide) for v in views] == [list(reference_row(v, wide)) for v in views]
    assert render.footer(views, "x") == reference_footer(views, "x")
    assert render.footer(views, None, rows=render.device_rows(views, wide)) == reference_footer(views, None)


def reference_footer(views, partitions) -> str:
    states = Counter(v.state for v in views)
    busy = states["allocated"] + states["reserved"]
    parts = [f"{len(views)} devices", f"{states['free']} free", f"{busy} allocated"]
    if states["reserved"]:
        parts[-1] += f" ({states['reserved']} in use by pods)"
    for extra in ("tainted", "consumed-by-partition"):
        if states[extra]:
            parts.append(f"{states[extra]} {extra}")
    lines = ["Total: " + ", ".join(parts)]
    by_product: dict[str, list[int]] = {}
    for v in views:
        key, kind = render.product(v.device), render.device_type(v.device)
        if key == "-":
            short = render.strip_controls(render.short_driver(v.device.driver))
            key = short if kind in ("-", short) else f"{short} {kind}"
        elif kind not in ("-", "gpu") and not key.endswith(kind):
            key = f"{key} ({kind})"
        counts = by_product.setdefault(key, [0, 0])
        counts[0] += 1
        counts[1] += v.state == "free"
    for key in sorted(by_product, key=lambda k: (-by_product[k][0], k)):
        lines.append(f"  {key}: {by_product[key][0]} ({by_product[key][1]} free)")
    if partitions:
        lines.append(f"  partitions share their GPU: {partitions}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- device_views order


@st.composite
def clusters(draw):
    cluster = Cluster()
    for pool in draw(st.lists(st.sampled_from(["n-1", "n-01", "n-10", "n-2", "a"]), max_size=4, unique=True)):
        for index in range(draw(st.integers(1, 2))):
            node = draw(st.sampled_from([None, "n-1", "n-2", "n-10"]))
            names = draw(st.lists(st.sampled_from(["gpu-0", "gpu-1", "gpu-10", "gpu-2", "nic"]), max_size=4))
            devs = [Device("gpu.example.com", pool, name,
                           node_name=draw(st.sampled_from([node, None, "n-3"])) if draw(st.booleans()) else node,
                           all_nodes=draw(st.booleans()), node_selector=draw(st.sampled_from([None, {}])))
                    for name in names]
            cluster.add(ResourceSlice(name=f"{pool}-{index}", driver="gpu.example.com", pool=pool, generation=1,
                                      slice_count=2, node_name=node, devices=devs))
    return cluster


@settings(max_examples=300, deadline=None)
@given(clusters())
def test_device_views_in_the_order_of_their_sort_key(cluster):
    views = cluster.device_views()
    index = cluster._view_index
    assert views == sorted(index.values(), key=_order)
    assert {v.device.key for v in views} == set(index)


@pytest.mark.parametrize("wide", [False, True])
def test_demo_rows_are_the_per_cell_functions(wide):
    from kubectl_dra.kube.kinds import CLAIMS, SLICES
    from kubectl_dra.kube.load import load_cluster
    from kubectl_dra.kube.source import SourceOptions

    views = load_cluster(SourceOptions(demo=True, all_namespaces=True), (SLICES, CLAIMS)).device_views()
    assert views and render.device_rows(views, wide) == [reference_row(v, wide) for v in views]


def test_footer_names_a_driver_as_the_driver_column_does():
    """On a terminal the totals are printed with the table, unsanitised: a driver name read from a
    file must not carry a control character there (it shows as in the DRIVER column)."""
    views = [DeviceView(Device("evil\x1b[2J.example.com", "p", "d0"))]
    text = render.footer(views)
    assert "\x1b" not in text
    assert text.splitlines()[1] == "  evil?[2J.example.com: 1 (1 free)"


def test_yaml_writes_a_shared_object_in_full_each_time():
    """The model shares equal values between devices (decode keeps one capacity map for many):
    -o yaml prints each in full, never a YAML alias (kubectl's YAML has none)."""
    from kubectl_dra.render.machine import to_yaml

    shared = {"gpu.example.com/memory": "80Gi"}
    text = to_yaml({"items": [{"capacity": shared}, {"capacity": shared}]})
    assert "&" not in text and "*" not in text
    assert text.count("gpu.example.com/memory: 80Gi") == 2


def test_list_yaml_of_the_demo_has_no_aliases(run):
    import yaml

    result = run("list", "-o", "yaml", "--demo")
    assert result.exit_code == 0
    assert "&id" not in result.stdout and "*id" not in result.stdout
    assert yaml.safe_load(result.stdout)["items"]
