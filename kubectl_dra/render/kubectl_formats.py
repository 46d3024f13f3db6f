"""kubectl's template output formats and ``--sort-by`` over the JSON that ``-o json`` prints.

    spec = parse_output("custom-columns=NAME:.name,NODE:.node")   # UsageError (exit 2) if malformed
    text = render(spec, data, no_headers=False)                   # data: the -o json document
    data = sort_by(data, ".node")                                  # the list's items, sorted

Formats (as ``kubectl get``):

* ``jsonpath=TEMPLATE`` / ``jsonpath-file=FILE``: the template over the whole document (a List: the
  template sees ``.items``); no newline is added;
* ``custom-columns=HEADER:PATH[,HEADER:PATH…]`` / ``custom-columns-file=FILE`` (first line: headers,
  second line: paths, separated by whitespace): one row per item of a list (one row for a single
  object); a path selecting nothing prints ``<none>``, several values are joined by ``,``; values
  print as Go's ``%v`` (``map[k:v]``, ``[a b]``); columns are padded as kubectl's tabwriter does
  (at least 6 wide, 3 spaces between columns); ``--no-headers`` drops the header row.

Paths in custom columns and ``--sort-by`` are kubectl's relaxed form: ``.a.b``, ``a.b``, ``{.a.b}``.
``--sort-by`` sorts the items of a list by the first value the path selects, stably: numbers numerically, strings
by code point as kubectl — except that two strings that are both Kubernetes quantities compare by
value (``9.5Gi`` before ``80Gi``; kubectl would put ``80Gi`` first), since capacities are strings in
this JSON; items without the field come first; when no item has it: ``couldn't find any field with
path "{.x}" in the list of objects`` (exit 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubectl_dra.errors import InputError, UsageError


TEMPLATE_FORMATS = ("jsonpath", "jsonpath-file", "custom-columns", "custom-columns-file")


@dataclass(frozen=True)
class TemplateOutput:
    kind: str  # "jsonpath" or "custom-columns"
    template: str = ""  # jsonpath: the template
    columns: tuple[tuple[str, str], ...] = ()  # custom-columns: (header, path as {…})


def is_template(value: str | None) -> bool:
    return value is not None and value.partition("=")[0] in TEMPLATE_FORMATS


# jsonpath (its dataclasses cost ~10 ms to import) is imported where a template is used: every -o
# value passes through is_template, and most are not templates
def parse_output(value: str) -> TemplateOutput:
    """``-o jsonpath=…|jsonpath-file=…|custom-columns=…|custom-columns-file=…`` -> a TemplateOutput."""
    from kubectl_dra.render import jsonpath

    name, sep, arg = value.partition("=")
    if name not in TEMPLATE_FORMATS:
        raise UsageError(f"unknown output format {value!r}")
    if name.endswith("-file"):
        if not arg:
            raise UsageError(f"{name} needs a file name: -o {name}=FILE")
        try:
            arg = Path(arg).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"{value.partition('=')[2]}: cannot read the {name.removesuffix('-file')} template: "
                             f"{getattr(err, 'strerror', None) or err}") from None
    if name.startswith("jsonpath"):
        if not arg:
            raise UsageError("template format specified but no template given",
                             hint="e.g. -o jsonpath='{.items[*].name}'")
        jsonpath.parse(arg)  # syntax errors now: exit 2 before the cluster is read
        return TemplateOutput("jsonpath", template=arg)
    if name == "custom-columns-file":
        return TemplateOutput("custom-columns", columns=_columns_file(arg))
    return TemplateOutput("custom-columns", columns=_columns_spec(arg))


def _columns_spec(spec: str) -> tuple[tuple[str, str], ...]:
    if not spec:
        raise UsageError("custom-columns format specified but no custom columns given",
                         hint="e.g. -o custom-columns=NAME:.name,NODE:.node")
    columns = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep or not header:
            raise UsageError(f"unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>")
        columns.append((header, relaxed(path)))
    return tuple(columns)


def _columns_file(text: str) -> tuple[tuple[str, str], ...]:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 2:
        raise UsageError(f"custom-columns-file: expected two lines (headers, then paths), found {len(lines)}")
    headers, paths = lines[0].split(), lines[1].split()
    if len(headers) != len(paths):
        raise UsageError(f"custom-columns-file: expected {len(headers)} paths, got {len(paths)}")
    return tuple((h, relaxed(p)) for h, p in zip(headers, paths))


_RELAXED = re.compile(r"^\{?(\.?[^{}]*?)\}?$")


def relaxed(path: str) -> str:
    """kubectl's RelaxedJSONPathExpression: ``.a.b``, ``a.b``, ``{.a.b}`` and ``{a.b}`` -> ``{.a.b}``."""
    from kubectl_dra.render import jsonpath

    text = path.strip()
    m = _RELAXED.match(text)
    if not text or m is None or text.count("{") > 1 or text.count("}") > 1:
        raise UsageError(f"unexpected path string {path!r}, expected a 'name1.name2' or '.name1.name2' or "
                         "'{name1.name2}' or '{.name1.name2}'")
    inner = m.group(1)
    if inner.startswith("$"):
        inner = inner[1:]
    if not inner.startswith((".", "[")):
        inner = "." + inner
    result = "{" + inner + "}"
    jsonpath.parse(result)
    return result


def _items(data: Any) -> list[Any]:
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return data["items"]
    if isinstance(data, list):
        return data
    return [data]


def render(spec: TemplateOutput, data: Any, *, no_headers: bool = False) -> str:
    from kubectl_dra.render import jsonpath

    if spec.kind == "jsonpath":
        return jsonpath.execute(spec.template, data)
    rows = [] if no_headers else [[h for h, _ in spec.columns]]
    parsed = [(jsonpath.parse(p), p) for _, p in spec.columns]
    for item in _items(data):
        row = []
        for nodes, path in parsed:
            values = jsonpath.find(nodes[0], item, path)
            row.append(",".join(jsonpath.go_v(v) for v in values) if values else "<none>")
        rows.append(row)
    return tabwriter(rows)


def tabwriter(rows: list[list[str]], minwidth: int = 6, padding: int = 3) -> str:
    """Go's text/tabwriter as kubectl sets it up (minwidth 6, padding 3, spaces; the last cell unpadded)."""
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    widths = []
    for c in range(ncols - 1):
        width = max((len(r[c]) for r in rows if c < len(r) - 1), default=0) + padding
        widths.append(max(width, minwidth))
    out = []
    for r in rows:
        cells = [cell.ljust(widths[i]) if i < len(r) - 1 else cell for i, cell in enumerate(r)]
        out.append("".join(cells) + "\n")
    return "".join(out)


# -- --sort-by --------------------------------------------------------------------------------------


def sort_by(data: Any, path: str) -> Any:
    """``data`` with its items sorted by ``path`` (a relaxed JSONPath); a single object is returned as is."""
    from kubectl_dra.render import jsonpath

    field = relaxed(path)
    nodes = jsonpath.parse(field)
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        return data
    keyed = []
    found = False
    for item in data["items"]:
        values = jsonpath.find(nodes[0], item, field)
        if values:
            found = True
        keyed.append((values[0] if values else _MISSING, item))
    if not found and data["items"]:
        raise UsageError(f"couldn't find any field with path {jsonpath._q(field)} in the list of objects")
    import functools

    ordered = sorted(keyed, key=functools.cmp_to_key(lambda a, b: _cmp(a[0], b[0])))
    return {**data, "items": [item for _, item in ordered]}


_MISSING = object()


def _cmp(a: Any, b: Any) -> int:
    if a is _MISSING or b is _MISSING:
        return (a is not _MISSING) - (b is not _MISSING)
    if isinstance(a, bool) and isinstance(b, bool):
        return int(a) - int(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        qa, qb = _quantity(a), _quantity(b)
        if qa is not None and qb is not None and qa != qb:
            return (qa > qb) - (qa < qb)
        return (a > b) - (a < b)
    from kubectl_dra.render import jsonpath  # only for mixed types: a sort of numbers or strings never gets here

    sa, sb = jsonpath.go_v(a), jsonpath.go_v(b)
    return (sa > sb) - (sa < sb)


def _quantity(text: str):
    from kubectl_dra.model.quantity import Quantity, QuantityError

    if not text or not (text[0].isdigit() or text[0] in "+-."):
        return None
    try:
        return Quantity.parse(text).value
    except (QuantityError, ValueError):
        return None

