"""kubectl's JSONPath templates (``-o jsonpath=…``), evaluated over the same JSON ``-o json`` prints.

The dialect is kubectl's (k8s.io/client-go/util/jsonpath as kubectl's printers use it), not RFC
9535: a template is text with ``{…}`` actions; ``$`` is optional; ``{"\\t"}`` is quoted text;
``{range PATH}…{end}`` iterates; a missing key prints nothing (kubectl's printers allow missing
keys) while an array index out of bounds is an error.  Supported, with the results kubectl gives:

    {.items[*].name}                    every item's name, joined by one space
    {.items[0].name} {.items[-1].name}  indices (negative from the end); slices [start:end:step]
    {..name}                            recursive descent: every "name" key at any depth
    {.items[*]['name', 'node']}          union of (quoted) paths: all names, then all nodes
    {.items[0,2].name}                  union of indices
    {.items[?(@.state=="free")].name}   filters: == != < <= > >=, and existence [?(@.x)]
    {.metadata.labels.app\\.kubernetes\\.io/name}   \\. is a dot inside a key
    {range .items[*]}{.name}{"\\t"}{.node}{"\\n"}{end}

Values print as kubectl prints them: strings raw, numbers and booleans as JSON, ``null``, and maps
and lists as compact JSON with sorted keys (Go's ``json.Marshal``).  Map wildcards keep the JSON's
key order.  Errors: a template that does not parse is a UsageError (exit 2); evaluation errors
(index out of bounds, filtering a map, comparing a number with a string) exit 1 with kubectl's
message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kubectl_dra.errors import DraError, UsageError
from kubectl_dra.textscan import closing, split_top


class JSONPathError(DraError):
    """Evaluation failed (kubectl: ``error executing jsonpath``)."""


class JSONPathSyntaxError(UsageError):
    """The template does not parse (kubectl: ``error parsing jsonpath``)."""


# -- the template tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Wildcard:
    pass


@dataclass(frozen=True)
class Recursive:
    pass


@dataclass(frozen=True)
class Index:
    start: int | None
    end: int | None
    step: int | None
    single: bool  # [n] rather than [a:b]


@dataclass(frozen=True)
class IndexUnion:
    indices: tuple[Index, ...]


@dataclass(frozen=True)
class PathUnion:
    paths: tuple[tuple, ...]  # each a tuple of segments


@dataclass(frozen=True)
class Filter:
    left: tuple  # a path relative to @ (or $)
    left_root: bool
    op: str | None  # None: existence
    right: Any  # a literal (str, int, float) or a ("path", segments, root) tuple


@dataclass(frozen=True)
class Path:
    segments: tuple
    root: bool  # starts at $ (inside a range: the document, not the item)


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Range:
    path: Path
    body: tuple


# -- parsing ---------------------------------------------------------------------------------------


def parse(template: str) -> tuple:
    """The template's nodes; raises JSONPathSyntaxError with kubectl's message."""
    nodes, pos, stack = [], 0, []
    current: list = nodes
    while pos < len(template):
        start = template.find("{", pos)
        if start < 0:
            current.append(Text(template[pos:]))
            break
        if start > pos:
            current.append(Text(template[pos:start]))
        end = _action_end(template, start + 1)
        if end < 0:
            rest = template[start + 1:].strip()
            if not rest.startswith(("range", "end", '"')):
                _parse_path(template, rest)  # kubectl reports an unterminated [ first
            raise _syntax(template, "unclosed action")
        action = template[start + 1:end].strip()
        pos = end + 1
        if action == "end":
            if not stack:
                raise JSONPathError(f'error executing jsonpath {_q(template)}: not in range, nothing to end')
            path, parent = stack.pop()
            parent.append(Range(path, tuple(current)))
            current = parent
            continue
        if action.startswith("range ") or action.startswith("range\t"):
            path = _parse_path(template, action[5:].strip())
            stack.append((path, current))
            current = []
            continue
        if action.startswith('"'):
            current.append(Text(_unquote(template, action)))
            continue
        current.append(_parse_path(template, action))
    if stack:
        # kubectl prints what the range produced and ignores the missing {end}
        while stack:
            path, parent = stack.pop()
            parent.append(Range(path, tuple(current)))
            current = parent
    return tuple(nodes)


def _q(template: str) -> str:
    return json.dumps(template, ensure_ascii=False)


def _syntax(template: str, message: str) -> JSONPathSyntaxError:
    return JSONPathSyntaxError(f"error parsing jsonpath {template}, {message}",
                               hint="see https://kubernetes.io/docs/reference/kubectl/jsonpath/")


def _action_end(template: str, i: int) -> int:
    quote = ""
    while i < len(template):
        c = template[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c == '"':
            quote = c
        elif c == "'" and i > 0 and template[i - 1] in "[,( =!<>":
            quote = c
        elif c == "}":
            return i
        elif c == "{":
            raise _syntax(template, "unrecognized character in action: U+007B '{'")
        i += 1
    return -1


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v", "0": "\0"}


def _unquote(template: str, text: str) -> str:
    """A Go double-quoted string literal."""
    if len(text) < 2 or not text.endswith('"'):
        raise _syntax(template, f"unterminated string {text}")
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n in "uU" and re.fullmatch(r"[0-9a-fA-F]{4}" if n == "u" else r"[0-9a-fA-F]{8}",
                                          body[i + 2:i + (6 if n == "u" else 10)]):
                width = 4 if n == "u" else 8
                out.append(chr(int(body[i + 2:i + 2 + width], 16)))
                i += 2 + width
                continue
            if n == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", body[i + 2:i + 4]):
                out.append(chr(int(body[i + 2:i + 4], 16)))
                i += 4
                continue
            if n in _ESCAPES:
                out.append(_ESCAPES[n])
                i += 2
                continue
            raise _syntax(template, f"invalid escape in string {text}")
        out.append(c)
        i += 1
    return "".join(out)


class _Reader:
    def __init__(self, template: str, text: str) -> None:
        self.template, self.text, self.i = template, text, 0

    def peek(self, n: int = 1) -> str:
        return self.text[self.i:self.i + n]

    def done(self) -> bool:
        return self.i >= len(self.text)

    def error(self, message: str) -> JSONPathSyntaxError:
        return _syntax(self.template, message)


def _parse_path(template: str, text: str) -> Path:
    r = _Reader(template, text)
    root = False
    if r.peek() == "$":
        root = True
        r.i += 1
    elif r.peek() == "@":
        r.i += 1
    segments = _segments(r, stop="")
    return Path(tuple(segments), root)


_NAME_END = ".[ )=!<>,"


def _name(r: _Reader) -> str:
    out = []
    while not r.done():
        c = r.peek()
        if c == "\\" and r.text[r.i + 1:r.i + 2] == ".":
            out.append(".")
            r.i += 2
            continue
        if c in _NAME_END or c in "'\"":
            break
        out.append(c)
        r.i += 1
    return "".join(out)


def _segments(r: _Reader, stop: str) -> list:
    segments: list = []
    while not r.done():
        c = r.peek()
        if stop and c in stop:
            break
        if r.peek(2) == "..":
            r.i += 2
            segments.append(Recursive())
            if r.peek() == "*":
                r.i += 1
                segments.append(Wildcard())
            elif r.peek() != "[":
                name = _name(r)
                if not name:
                    raise r.error("invalid recursive descent")
                segments.append(Field(name))
            continue
        if c == ".":
            r.i += 1
            if r.peek() == "*":
                r.i += 1
                segments.append(Wildcard())
                continue
            name = _name(r)
            if name:
                segments.append(Field(name))
            continue
        if c == "[":
            segments.append(_bracket(r))
            continue
        if c == " " and not stop:
            if r.text[r.i:].strip():
                raise r.error(f"unrecognized character in action: U+0020 ' '")
            break
        if not segments and (c.isalpha() or c == "_"):  # {kind}: a relaxed leading name
            segments.append(Field(_name(r)))
            continue
        raise r.error(f"unrecognized character in action: U+{ord(c):04X} {c!r}")
    return segments


def _bracket(r: _Reader):
    close = closing(r.text, r.i)
    if close < 0:
        raise r.error("unterminated array")
    inner = r.text[r.i + 1:close]
    r.i = close + 1
    if inner == "*":
        return Wildcard()
    if inner.startswith("?(") and inner.endswith(")"):
        return _filter(r, inner[2:-1].strip())
    if inner.startswith("'"):
        paths = []
        for part in split_top(inner, ","):
            part = part.strip()
            if len(part) < 2 or not (part.startswith("'") and part.endswith("'")):
                raise r.error(f"invalid array index {inner}")
            sub = _Reader(r.template, part[1:-1])
            # a quoted name is a path: ['metadata.name'] is .metadata.name; \. is a dot in a key
            names = []
            while not sub.done():
                name = _name(sub)
                names.append(Field(name))
                if sub.peek() == ".":
                    sub.i += 1
                elif not sub.done():
                    names[-1] = Field(names[-1].name + sub.peek())
                    sub.i += 1
            paths.append(tuple(names))
        return paths[0][0] if len(paths) == 1 and len(paths[0]) == 1 else PathUnion(tuple(paths))
    indices = []
    for part in inner.split(","):
        indices.append(_index(r, part, inner))
    return indices[0] if len(indices) == 1 else IndexUnion(tuple(indices))


_INT = re.compile(r"-?[0-9]+\Z")


def _index(r: _Reader, part: str, inner: str) -> Index:
    if ":" not in part:
        if not _INT.match(part):
            raise r.error(f"invalid array index {part}")
        return Index(int(part), None, None, True)
    pieces = part.split(":")
    if len(pieces) > 3 or any(p and not _INT.match(p) for p in pieces):
        raise r.error(f"invalid array index {inner}")
    values = [int(p) if p else None for p in pieces] + [None] * (3 - len(pieces))
    return Index(values[0], values[1], values[2], False)


_FILTER = re.compile(r"(.+?)\s*(==|!=|<=|>=|<|>|=)\s*(.+)\Z", re.S)


def _filter(r: _Reader, text: str) -> Filter:
    m = _FILTER.match(text) if not text.startswith(("@", "$")) or any(op in text for op in "=<>!") else None
    if m is None:
        left, root = _filter_path(r, text)
        return Filter(left, root, None, None)
    left_text, op, right_text = m.group(1).strip(), m.group(2), m.group(3).strip()
    left, root = _filter_path(r, left_text)
    right: Any
    if right_text.startswith(("'", '"')) and len(right_text) >= 2 and right_text.endswith(right_text[0]):
        right = right_text[1:-1]
    elif re.fullmatch(r"-?[0-9]+", right_text):
        right = int(right_text)
    elif re.fullmatch(r"-?[0-9]*\.[0-9]+|-?[0-9]+\.[0-9]*", right_text):
        right = float(right_text)
    elif right_text.startswith(("@", "$")):
        segs, rroot = _filter_path(r, right_text)
        right = ("path", segs, rroot)
    else:
        raise r.error(f"unrecognized filter value {right_text}")
    return Filter(left, root, op, right)


def _filter_path(r: _Reader, text: str) -> tuple[tuple, bool]:
    if not text.startswith(("@", "$")):
        raise r.error(f"unrecognized filter {text}")
    sub = _Reader(r.template, text[1:])
    return tuple(_segments(sub, stop="")), text.startswith("$")


# -- evaluation -----------------------------------------------------------------------------------


def execute(template: str, data: Any, nodes: tuple | None = None) -> str:
    """The text the template produces for ``data`` (no newline is added, as kubectl)."""
    nodes = parse(template) if nodes is None else nodes
    out: list[str] = []
    _run(template, nodes, data, data, out)
    return "".join(out)


def find(path: Path | str, data: Any, template: str = "") -> list[Any]:
    """Every value a single path selects in ``data`` (for custom columns and --sort-by)."""
    if isinstance(path, str):
        template = template or path
        nodes = parse(path)
        paths = [n for n in nodes if isinstance(n, Path)]
        if len(paths) != 1 or len(nodes) != 1:
            raise _syntax(template, "expected one path")
        path = paths[0]
    return _eval(template, path.segments, [data], data)


def _run(template: str, nodes: tuple, current: Any, root: Any, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, Path):
            values = _eval(template, node.segments, [root if node.root else current], root)
            out.append(" ".join(format_value(v) for v in values))
        else:  # Range
            for item in _eval(template, node.path.segments, [root if node.path.root else current], root):
                _run(template, node.body, item, root, out)


def _eval(template: str, segments: tuple, values: list[Any], root: Any) -> list[Any]:
    for seg in segments:
        nxt: list[Any] = []
        if isinstance(seg, Field):
            for v in values:
                if isinstance(v, dict) and seg.name in v:
                    nxt.append(v[seg.name])
        elif isinstance(seg, Wildcard):
            for v in values:
                if isinstance(v, dict):
                    nxt.extend(v.values())
                elif isinstance(v, list):
                    nxt.extend(v)
        elif isinstance(seg, Recursive):
            for v in values:
                _descend(v, nxt)
        elif isinstance(seg, Index):
            for v in values:
                nxt.extend(_slice(template, v, seg))
        elif isinstance(seg, IndexUnion):
            for index in seg.indices:
                for v in values:
                    nxt.extend(_slice(template, v, index))
        elif isinstance(seg, PathUnion):
            for path in seg.paths:
                nxt.extend(_eval(template, path, values, root))
        elif isinstance(seg, Filter):
            for v in values:
                if not isinstance(v, list):
                    raise _exec(template, f"{_go_v(v)} is not array or slice and cannot be filtered")
                nxt.extend(item for item in v if _keep(template, seg, item, root))
        values = nxt
    return values


def _descend(value: Any, out: list[Any]) -> None:
    out.append(value)
    if isinstance(value, dict):
        for v in value.values():
            _descend(v, out)
    elif isinstance(value, list):
        for v in value:
            _descend(v, out)


def _exec(template: str, message: str) -> JSONPathError:
    return JSONPathError(f"error executing jsonpath {_q(template)}: {message}")


def _slice(template: str, value: Any, index: Index) -> list[Any]:
    if not isinstance(value, list):
        raise _exec(template, f"{_go_v(value)} is not array or slice")
    n = len(value)
    if index.single:
        start = index.start if index.start >= 0 else index.start + n
        end = start + 1
    else:
        start = 0 if index.start is None else index.start if index.start >= 0 else index.start + n
        end = n if index.end is None else index.end if index.end >= 0 else index.end + n
    step = 1 if index.step is None or index.step == 0 else index.step
    if step < 0:
        raise _exec(template, "step must be > 0")
    if start < 0 or start >= n and index.single:
        raise _exec(template, f"array index out of bounds: index {start}, length {n}")
    if end > n:
        raise _exec(template, f"array index out of bounds: index {end - 1}, length {n}")
    if start > end:
        raise _exec(template, f"starting index {start} is greater than ending index {end}")
    return value[start:end:step]


def _keep(template: str, f: Filter, item: Any, root: Any) -> bool:
    lefts = _eval(template, f.left, [root if f.left_root else item], root)
    if f.op is None:
        return bool(lefts)
    if isinstance(f.right, tuple):
        rights = _eval(template, f.right[1], [root if f.right[2] else item], root)
    else:
        rights = [f.right]
    if f.op == "=":
        raise _exec(template, "unrecognized filter operator =")
    for left in lefts:
        for right in rights:
            if _compare(template, f.op, left, right):
                return True
    return False


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return "other"


def _compare(template: str, op: str, left: Any, right: Any) -> bool:
    kl, kr = _kind(left), _kind(right)
    if op in ("==", "!="):
        if kl != kr:
            if kl == "other" or kr == "other" or {kl, kr} in ({"int", "float"}, {"string", "int"},
                                                             {"string", "float"}, {"bool", "string"}):
                raise _exec(template, "incompatible types for comparison")
            return op == "!="
        return (left == right) == (op == "==")
    if kl != kr or kl not in ("int", "float", "string"):
        raise _exec(template, "incompatible types for comparison")
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


# -- printing --------------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A result as kubectl's JSONPath printer writes it."""
    if isinstance(value, str):
        return value
    return go_json(value)


def go_json(value: Any) -> str:
    """Go's ``json.Marshal``: compact, map keys sorted, <, > and & escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _go_v(value: Any) -> str:
    """Go's ``fmt.Sprintf("%v", value)`` of a decoded JSON value (custom columns print with it)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        if "e" in text:
            mantissa, _, exp = text.partition("e")
            sign = "-" if exp.startswith("-") else "+"
            text = f"{mantissa}e{sign}{exp.lstrip('+-').zfill(2)}"
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_v(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_v(v) for v in value) + "]"
    return str(value)


go_v = _go_v
