"""`topology` as text: the node and cluster views' data as a tree of aligned rows, plain or rich."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubectl_dra.model.quantity import Quantity
from kubectl_dra.render.columns import strip_controls
from kubectl_dra.render.devices import STATE_STYLE, human_quantity, short_driver
from kubectl_dra.render.topology.tree import INDEXED, iter_devices, quantity_or_none


@dataclass
class Row:
    """One tree line: cells (text, style) aligned with sibling rows of the same kind."""

    cells: list[tuple[str, str | None]]
    kind: str = "info"
    children: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.children.append(row)
        return row


def _align(rows: list[Row]) -> None:
    """Pad the cells of every row of one kind, all through the tree, to common widths (the last
    cell is not padded). Rows of one kind sit at one depth, so their columns line up."""
    by_kind: dict[str, list[Row]] = {}

    def collect(row: Row) -> None:
        if len(row.cells) > 1 and row.kind != "title":
            by_kind.setdefault(row.kind, []).append(row)
        for child in row.children:
            collect(child)

    for row in rows:
        collect(row)
    for group in by_kind.values():
        ncols = max(len(r.cells) for r in group)
        widths = [0] * ncols
        for r in group:
            for i, (text, _) in enumerate(r.cells[:-1]):
                widths[i] = max(widths[i], len(text))
        for r in group:
            last = len(r.cells) - 1
            r.cells = [(text if i == last else text.ljust(widths[i]), style) for i, (text, style) in enumerate(r.cells)]


def _line(row: Row) -> str:
    return "  ".join(text for text, _ in row.cells).rstrip()


def plain_text(root: Row) -> str:
    lines = [_line(root)]

    def walk(row: Row, prefix: str) -> None:
        last_index = len(row.children) - 1
        for i, child in enumerate(row.children):
            last = i == last_index
            lines.append(prefix + ("└── " if last else "├── ") + _line(child))
            walk(child, prefix + ("    " if last else "│   "))

    walk(root, "")
    return "\n".join(lines) + "\n"


def rich_tree(root: Row):
    """The same tree as a rich ``Tree`` of ``Text`` labels (never parsed as markup)."""
    from rich.text import Text
    from rich.tree import Tree

    def label(row: Row) -> Text:
        text = Text(no_wrap=False)
        for i, (cell, style) in enumerate(row.cells):
            if i:
                text.append("  ")
            text.append(cell, style=style or "")
        text.rstrip()
        return text

    def build(row: Row, tree: Tree) -> None:
        for child in row.children:
            build(child, tree.add(label(child)))

    tree = Tree(label(root), guide_style="dim")
    build(root, tree)
    return tree


def _s(value: Any) -> str:
    """Data as display text: control characters replaced, empty as '-'."""
    if value is None or value == "":
        return "-"
    return strip_controls(str(value))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _holders_text(entry: dict) -> str:
    allocations = entry.get("allocations") or []
    if not allocations:
        return ""
    claims = ", ".join(dict.fromkeys(_s(a["claim"]) for a in allocations))
    pods = list(dict.fromkeys(p for a in allocations for p in a.get("pods") or []))
    if pods:
        return f"{claims} (pod{'s' if len(pods) > 1 else ''} {_s(', '.join(pods))})"
    return claims


def _state_cells(entry: dict, claims_by_name: dict[str, str]) -> list[tuple[str, str | None]]:
    state = entry["state"]
    if state == "consumed-by-partition":
        blockers = []
        for name in entry.get("blockedBy") or []:
            claim = claims_by_name.get(name)
            blockers.append(_s(name) + (f" ({claim})" if claim else ""))
        return [("blocked", STATE_STYLE[state]), ("by " + ", ".join(blockers) if blockers else "", None)]
    if state == "tainted":
        taints = [t for t in entry.get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")]
        detail = ", ".join(f"{_s(t['key'])}{'=' + _s(t['value']) if t.get('value') else ''}:{_s(t['effect'])}" for t in taints)
        return [("tainted", STATE_STYLE[state]), (detail, None)]
    if state == "partitioned":
        n = len(entry.get("partitions") or [])
        what = "not published itself" if entry.get("published") is False else ""
        return [("partitioned", "blue"), (f"{what}; {_plural(n, 'partition')}" if what else _plural(n, "partition"), "dim")]
    return [(_s(state), STATE_STYLE.get(state)), (_holders_text(entry), None)]


def _placement(entry: dict) -> str:
    """The indexed counters a partition takes (``memory-slice 4-7``), else its UUID."""
    families: dict[str, list[int]] = {}
    for consumption in entry.get("consumesCounters") or []:
        for cname in (consumption.get("counters") or {}) if isinstance(consumption, dict) else {}:
            m = INDEXED.match(str(cname))
            if m and m.group(1):
                families.setdefault(m.group(1), []).append(int(m.group(2)))
    if families:
        return "; ".join(f"{_s(prefix)} {_ranges(idx)}" for prefix, idx in families.items())
    return _s(entry.get("uuid"))


def _ranges(indices: Iterable[int]) -> str:
    values = sorted(set(indices))
    if not values:
        return "none"
    parts, start, prev = [], values[0], values[0]
    for v in values[1:] + [None]:  # type: ignore[list-item]
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return ",".join(parts)


def _counters_text(counter_set: dict) -> str:
    """``memory-slice 0-3 free of 0-7; multiprocessors 72/132, memory 39.2Gi/79.2Gi`` (left/total)."""
    families: dict[str, dict[str, list[int]]] = {}
    plain: list[str] = []
    for cname, values in counter_set["counters"].items():
        total, left = quantity_or_none(values["total"]), quantity_or_none(values["left"]) if values["left"] is not None else None
        m = INDEXED.match(cname)
        if m and m.group(1) and total is not None and total == Quantity.parse("1"):
            fam = families.setdefault(m.group(1), {"all": [], "free": []})
            fam["all"].append(int(m.group(2)))
            if left is not None and left.sign() > 0:
                fam["free"].append(int(m.group(2)))
            continue
        if total is None or total.is_zero():
            continue
        left_text = "?" if values["left"] is None else human_quantity(str(left) if left is not None and left.sign() >= 0 else "0")
        plain.append(f"{_s(cname)} {left_text}/{human_quantity(values['total'])}")
    parts = [
        f"{_s(prefix)} {_ranges(f['free']) if f['free'] else 'none'} free of {_ranges(f['all'])}" for prefix, f in families.items()
    ]
    text = "; ".join(parts)
    if plain:
        text += ("; " if text else "") + ", ".join(plain)
    return f"counters left in {_s(counter_set['name'])}: {text}"


def _device_cells(entry: dict, claims_by_name: dict[str, str], *, wide: bool, nvml: bool) -> list[tuple[str, str | None]]:
    name = entry["name"]
    cells: list[tuple[str, str | None]] = [
        (_s(name) if name is not None else "(whole device)", "bold" if name is not None else "dim"),
        (_s(short_driver(entry["driver"])), None),
        (_s(entry["type"]), None),
        (_s(entry["product"]), None),
        (human_quantity(entry["memory"]), None),
        (_s(entry["uuid"]), "dim"),
    ]
    if wide:
        cells.append((_s(entry["pciBusID"]), "dim"))
    if nvml:
        facts = entry.get("nvml")
        if facts is None:
            cells.append(("-", None))
        elif facts.get("nvlinkGroup"):
            cells.append((f"NVLink group {facts['nvlinkGroup']}", "cyan"))
        else:
            cells.append(("no NVLink peers", "dim"))
    return cells + _state_cells(entry, claims_by_name)


def _partition_cells(entry: dict, claims_by_name: dict[str, str], *, wide: bool) -> list[tuple[str, str | None]]:
    cells: list[tuple[str, str | None]] = [
        (_s(entry["name"]), None),
        (_s(entry.get("profile")), None),
        (human_quantity(entry["memory"]), None),
        (_placement(entry), "dim"),
    ]
    if wide:
        cells.append((_s(entry["pciBusID"]), "dim"))
    return cells + _state_cells(entry, claims_by_name)


def node_tree(data: dict, *, wide: bool = False) -> Row:
    has_nvml = "nvml" in data
    claims_by_name: dict[str, str] = {}
    for entry in iter_devices(data):
        for e in [entry, *(entry.get("partitions") or [])]:
            if e["name"] is not None and e.get("allocations"):
                claims_by_name[e["name"]] = ", ".join(dict.fromkeys(_s(a["claim"]) for a in e["allocations"]))
    title = [(_s(data["node"]), "bold")]
    if data.get("clique"):
        title.append((f"NVLink clique {_s(data['clique'])}", "cyan"))
    if data.get("computeDomains"):
        title.append(("ComputeDomain " + ", ".join(_s(c) for c in data["computeDomains"]), "cyan"))
    root = Row(title, kind="title")
    if not data["numa"]:
        root.add(Row([("no DRA devices on this node", "dim")]))
    for numa in data["numa"]:
        numa_row = root.add(Row([(f"NUMA {numa['id']}" if numa["id"] is not None else "NUMA unknown (not published)", "bold")]))
        for pcie in numa["pcieRoots"]:
            root_row = numa_row.add(
                Row([(f"PCIe root {_s(pcie['id'])}" if pcie["id"] is not None else "PCIe root unknown (none or several published)", "bold")])
            )
            for entry in pcie["devices"]:
                row = root_row.add(Row(_device_cells(entry, claims_by_name, wide=wide, nvml=has_nvml), kind="device"))
                for counter_set in entry.get("counterSets") or []:
                    row.add(Row([(_counters_text(counter_set), "dim")]))
                if "freePlacements" in entry:
                    free = entry["freePlacements"]
                    text = ", ".join(f"{_s(k)} ×{v}" for k, v in free.items()) if free else "none"
                    row.add(Row([(f"free placements: {text}", "dim")]))
                for part in entry.get("partitions") or []:
                    row.add(Row(_partition_cells(part, claims_by_name, wide=wide), kind="partition"))
    _align([root])
    return root


def nvml_text(data: dict) -> str:
    """NVLink peer groups and the topology matrix, printed below the tree."""
    facts = data.get("nvml")
    if not facts:
        return ""
    lines = ["", "NVLink peer groups (NVML):"]
    if not facts["groups"]:
        lines.append("  none: no active NVLink between these GPUs")
    for group in facts["groups"]:
        names = [_s(d) if d is not None else f"GPU{_s(i)}" for d, i in zip(group["devices"], group["gpus"])]
        via = "via NVSwitch" if group["via"] == "nvswitch" else "direct NVLink"
        lines.append(f"  group {group['id']}: {', '.join(names)} ({_plural(len(names), 'GPU')}, {via})")
    for clique in facts.get("fabricCliques") or []:
        lines.append(f"  fabric clique (NVML): {_s(clique)}")
    for gpu in facts["unmatched"]:
        lines.append(f"  GPU{_s(gpu['index'])} {_s(gpu['uuid'])} {_s(gpu['pciBusId'])}: no DRA device on this node publishes it")
    matrix = facts.get("matrix")
    if matrix:
        labels = [_s(x) for x in matrix["gpus"]]
        rows = [[_s(c) for c in row] for row in matrix["rows"]]
        width = max([len(x) for x in labels] + [len(c) for row in rows for c in row] + [1])
        lines.append("")
        lines.append("GPU topology (NVML, as nvidia-smi topo -m):")
        lines.append("  " + " " * width + "  " + "  ".join(x.ljust(width) for x in labels).rstrip())
        for label, row in zip(labels, rows):
            lines.append("  " + label.ljust(width) + "  " + "  ".join(c.ljust(width) for c in row).rstrip())
        legend = [f"{label}={_s(name)}" for label, name in zip(labels, matrix["devices"]) if name]
        if legend:
            lines.append("  " + ", ".join(legend))
    return "\n".join(lines) + "\n"


def _product_cells(p: dict) -> list[tuple[str, str | None]]:
    return [
        (_s(p["product"]), None),
        (_s(short_driver(p["driver"])), None),
        (_s(p["type"]), None),
        (_plural(p["devices"], "device"), None),
        (f"{p['free']} free", "green" if p["free"] else "dim"),
        ("(overlapping partitions: not all usable at once)" if p.get("overlapping") else "", "dim"),
    ]


def _idle_nodes(d: dict) -> list[str]:
    """The clique's nodes without DRA devices."""
    with_devices = {x["node"] for p in d["products"] for x in p["nodes"]}
    return [n for n in d["nodes"] if n not in with_devices]


def cluster_tree(data: dict) -> Row:
    title = [("cluster", "bold"), (f"({_plural(data['nodes'], 'node')}, {_plural(data['devices'], 'device')}, {data['free']} free)", None)]
    root = Row(title, kind="title")
    if not data["domains"]:
        root.add(Row([("no nodes or DRA devices in the input", "dim")]))
    for d in data["domains"]:
        name = f"NVLink clique {_s(d['clique'])}" if d["clique"] else "no NVLink clique"
        counts = f"({_plural(len(d['nodes']), 'node')}, {_plural(d['devices'], 'device')}, {d['free']} free)"
        head = root.add(Row([(name, "bold cyan" if d["clique"] else "bold"), (counts, None)], kind="title"))
        if d["computeDomains"]:
            head.add(Row([("ComputeDomain " + ", ".join(_s(c) for c in d["computeDomains"]), "cyan")]))
        idle = _idle_nodes(d)
        for p in d["products"]:
            prow = head.add(Row(_product_cells(p), kind="product"))
            for n in p["nodes"]:
                prow.add(
                    Row(
                        [(_s(n["node"]), None), (_plural(n["devices"], "device"), None), (f"{n['free']} free", "green" if n["free"] else "dim")],
                        kind="node",
                    )
                )
        if idle:
            head.add(Row([("no DRA devices: " + ", ".join(_s(n) for n in idle), "dim")]))
    _align([root])
    return root


def cluster_text(data: dict) -> str:
    """``plain_text(cluster_tree(data))``, written straight from the data: the cluster view has a
    line per node and product (5,000 nodes: 5,000 lines), which need no ``Row`` each. The same
    cells, the same widths (rows of one kind aligned all through the tree, the last cell not
    padded) and the same branches; tests/test_cli_topology.py checks the two agree."""

    def line(cells: list[str], widths: list[int]) -> str:
        last = len(cells) - 1
        return "  ".join(c if i == last else c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    title = f"cluster  ({_plural(data['nodes'], 'node')}, {_plural(data['devices'], 'device')}, {data['free']} free)".rstrip()
    domains = data["domains"]
    if not domains:
        return f"{title}\n└── no nodes or DRA devices in the input\n"
    products = [[[c for c, _ in _product_cells(p)] for p in d["products"]] for d in domains]
    product_widths = [0] * 5
    for rows in products:
        for cells in rows:
            for i in range(5):
                if len(cells[i]) > product_widths[i]:
                    product_widths[i] = len(cells[i])
    # node rows: name, "N devices", "N free"; the widths of the first two, over every node row
    plural: dict[int, str] = {}
    node_rows: list[list[list[tuple[str, str, str]]]] = []
    name_width = count_width = 0
    for d in domains:
        per_product = []
        for p in d["products"]:
            rows = []
            for n in p["nodes"]:
                name = _s(n["node"])
                count = n["devices"]
                devices = plural.get(count)
                if devices is None:
                    devices = plural[count] = _plural(count, "device")
                if len(name) > name_width:
                    name_width = len(name)
                if len(devices) > count_width:
                    count_width = len(devices)
                rows.append((name, devices, f"{n['free']} free"))
            per_product.append(rows)
        node_rows.append(per_product)
    lines = [title]
    for di, d in enumerate(domains):
        last_domain = di == len(domains) - 1
        lines.append(("└── " if last_domain else "├── ") + _line(Row([
            (f"NVLink clique {_s(d['clique'])}" if d["clique"] else "no NVLink clique", None),
            (f"({_plural(len(d['nodes']), 'node')}, {_plural(d['devices'], 'device')}, {d['free']} free)", None),
        ])))
        prefix = "    " if last_domain else "│   "
        idle = _idle_nodes(d)
        children = len(d["products"]) + bool(d["computeDomains"]) + bool(idle)
        at = 0
        if d["computeDomains"]:
            at += 1
            lines.append(prefix + ("└── " if at == children else "├── ")
                         + ("ComputeDomain " + ", ".join(_s(c) for c in d["computeDomains"])).rstrip())
        for cells, rows in zip(products[di], node_rows[di]):
            at += 1
            last_product = at == children
            lines.append(prefix + ("└── " if last_product else "├── ") + line(cells, product_widths))
            inner = prefix + ("    " if last_product else "│   ")
            mid, end = inner + "├── ", inner + "└── "
            last_row = len(rows) - 1
            for i, (name, devices, free) in enumerate(rows):
                lines.append(f"{end if i == last_row else mid}{name.ljust(name_width)}  {devices.ljust(count_width)}  {free}")
        if idle:
            lines.append(prefix + "└── " + ("no DRA devices: " + ", ".join(_s(n) for n in idle)).rstrip())
    return "\n".join(lines) + "\n"
