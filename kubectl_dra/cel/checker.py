"""Compile-time checks of a DRA selector exactly where Kubernetes makes them (cel-go, 1.36 environment).

Kubernetes compiles selectors in its StoredExpressions environment: ``device`` is a declared object
type (``driver`` string, ``attributes`` map(string, map(string, any)), ``capacity``
map(string, map(string, kubernetes.Quantity)), ``allowMultipleAllocations`` bool), the Kubernetes
libraries have typed overloads, numeric comparisons may mix int/uint/double, and AST validators reject
mixed list/map literals and bad constant ``duration()``/``timestamp()``/``matches()`` arguments.

cel-expr-python runs cel-cpp, whose checker does the typing when it is given the same declarations
(``_env``): the comparison operators are taken out of its standard library and declared again with
the cross-type numeric overloads; ``device`` is an abstract type whose four fields are declared as
qualified variables (``device.driver`` …), so a field that does not exist is a compile error.
What cel-cpp's checker cannot be told is done here on the checked AST, which
``Expression.serialize()`` hands out as a ``cel.expr.CheckedExpr`` message: a small protobuf wire
decoder reads it (``_decode``), and the validators walk it with its type map and source positions.
Messages and carets follow cel-go's ``Issues.String()``.

The checked program is only used for its verdict; the selector runs unchecked in the runtime
environment (kubectl_dra.cel), where the values are plain maps.
"""

from __future__ import annotations

import datetime as _dt
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from kubectl_dra.lazyre import Pattern as _Pattern

# ------------------------------------------------------------------ protobuf wire format


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message: varints as int, length-delimited as bytes."""
    out = []
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            ln, i = _varint(buf, i)
            v = buf[i:i + ln]
            i += ln
        elif wt == 1:
            v = buf[i:i + 8]
            i += 8
        elif wt == 5:
            v = buf[i:i + 4]
            i += 4
        else:  # pragma: no cover - groups are not used by cel.expr
            raise ValueError(f"unsupported wire type {wt}")
        out.append((num, wt, v))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


# ------------------------------------------------------------------ types (cel.expr.Type)

PRIMITIVES = {1: "bool", 2: "int", 3: "uint", 4: "double", 5: "string", 6: "bytes"}
WELL_KNOWN = {1: "any", 2: "google.protobuf.Timestamp", 3: "google.protobuf.Duration"}


def _type(buf: bytes) -> tuple:
    for num, _, v in _fields(buf):
        if num == 1:
            return ("dyn",)
        if num == 2:
            return ("null_type",)
        if num == 3:
            return ("prim", PRIMITIVES.get(v, "?"))
        if num == 4:
            return ("wrapper", PRIMITIVES.get(v, "?"))
        if num == 5:
            return ("wk", WELL_KNOWN.get(v, "?"))
        if num == 6:
            elem = next((_type(x) for n, _, x in _fields(v) if n == 1), ("dyn",))
            return ("list", elem)
        if num == 7:
            parts = {n: _type(x) for n, _, x in _fields(v)}
            return ("map", parts.get(1, ("dyn",)), parts.get(2, ("dyn",)))
        if num == 9:
            return ("message", v.decode())
        if num == 10:
            return ("param", v.decode())
        if num == 11:
            return ("type", _type(v) if v else ("dyn",))
        if num == 12:
            return ("error",)
        if num == 14:
            name, params = "", []
            for n, _, x in _fields(v):
                if n == 1:
                    name = x.decode()
                elif n == 2:
                    params.append(_type(x))
            return ("abstract", name, tuple(params))
    return ("dyn",)


def format_type(t: tuple) -> str:
    """A type as cel-go's FormatCELType writes it."""
    kind = t[0]
    if kind == "prim":
        return t[1]
    if kind == "list":
        return f"list({format_type(t[1])})"
    if kind == "map":
        return f"map({format_type(t[1])}, {format_type(t[2])})"
    if kind == "abstract":
        return t[1] + (f"({', '.join(format_type(p) for p in t[2])})" if t[2] else "")
    if kind in ("message", "param"):
        return t[1]
    if kind == "wk":
        return {"any": "google.protobuf.Any"}.get(t[1], t[1])
    if kind == "wrapper":
        return f"wrapper({t[1]})"
    if kind == "type":
        return f"type({format_type(t[1])})"
    return kind


# ------------------------------------------------------------------ expressions (cel.expr.Expr)


@dataclass(slots=True)
class Node:
    id: int
    kind: str  # const ident select call list struct comprehension
    value: Any = None  # const: python value; ident: name; select: field; call: function name
    const_kind: str = ""
    target: Node | None = None  # select operand, call target
    args: list[Node] = field(default_factory=list)  # call args, list elements, struct values
    keys: list[Node | None] = field(default_factory=list)  # map keys
    optional: set[int] = field(default_factory=set)  # optional element/entry indices
    test_only: bool = False
    parent: Node | None = None


_CONST_KINDS = {1: "null", 2: "bool", 3: "int", 4: "uint", 5: "double", 6: "string", 7: "bytes"}


def _const(buf: bytes) -> tuple[str, Any]:
    import struct

    for num, _, v in _fields(buf):
        kind = _CONST_KINDS.get(num, "?")
        if kind == "int":
            return kind, _signed(v)
        if kind == "double":
            return kind, struct.unpack("<d", v)[0]
        if kind == "string":
            return kind, v.decode("utf-8", "replace")
        if kind == "bool":
            return kind, bool(v)
        return kind, v
    return "?", None


def _expr(buf: bytes, parent: Node | None = None) -> Node:
    node = Node(0, "?", parent=parent)
    for num, _, v in _fields(buf):
        if num == 2:
            node.id = v
        elif num == 3:
            node.kind = "const"
            node.const_kind, node.value = _const(v)
        elif num == 4:
            node.kind = "ident"
            node.value = next((x.decode() for n, _, x in _fields(v) if n == 1), "")
        elif num in (5, 6):  # select (operand, field, test_only) / call (target, function, args)
            node.kind = "select" if num == 5 else "call"
            for n, _, x in _fields(v):
                if n == 1:
                    node.target = _expr(x, node)
                elif n == 2:
                    node.value = x.decode()
                elif n == 3 and num == 5:
                    node.test_only = bool(x)
                elif n == 3:
                    node.args.append(_expr(x, node))
        elif num == 7:
            node.kind = "list"
            for n, wt, x in _fields(v):
                if n == 1:
                    node.args.append(_expr(x, node))
                elif n == 2:
                    if wt == 2:  # packed
                        j = 0
                        while j < len(x):
                            idx, j = _varint(x, j)
                            node.optional.add(idx)
                    else:
                        node.optional.add(x)
        elif num == 8:
            node.kind = "struct"
            for n, _, x in _fields(v):
                if n == 2:
                    key = val = None
                    opt = False
                    for en, _, ev in _fields(x):
                        if en == 3:
                            key = _expr(ev, node)
                        elif en == 4:
                            val = _expr(ev, node)
                        elif en == 5:
                            opt = bool(ev)
                    if opt:
                        node.optional.add(len(node.args))
                    node.keys.append(key)
                    node.args.append(val or Node(0, "?"))
        elif num == 9:
            node.kind = "comprehension"
            parts: dict[int, Any] = {}
            for n, _, x in _fields(v):
                parts[n] = x
            # iter_range, accu_init, loop_condition, loop_step, result
            node.args = [_expr(parts[k], node) if k in parts else Node(0, "?") for k in (2, 4, 5, 6, 7)]
            node.value = (parts.get(1, b"").decode(), parts.get(3, b"").decode())
    return node


@dataclass(slots=True)
class Checked:
    root: Node
    types: dict[int, tuple]
    positions: dict[int, int]
    line_offsets: list[int]
    references: dict[int, list[str]]


def decode_checked(serialized: bytes) -> Checked:
    """The CheckedExpr inside ``Expression.serialize()`` (a google.protobuf.Any)."""
    payload = next(v for n, _, v in _fields(serialized) if n == 2)
    root = Node(0, "?")
    types: dict[int, tuple] = {}
    refs: dict[int, list[str]] = {}
    positions: dict[int, int] = {}
    line_offsets: list[int] = []
    for num, _, v in _fields(payload):
        if num == 2:
            key, overloads = 0, []
            for n, _, x in _fields(v):
                if n == 1:
                    key = x
                elif n == 2:
                    overloads = [y.decode() for m, _, y in _fields(x) if m == 3]
            refs[key] = overloads
        elif num == 3:
            key, t = 0, ("dyn",)
            for n, _, x in _fields(v):
                if n == 1:
                    key = x
                elif n == 2:
                    t = _type(x)
            types[key] = t
        elif num == 4:
            root = _expr(v)
        elif num == 5:
            for n, wt, x in _fields(v):
                if n == 3:
                    if wt == 2:
                        j = 0
                        while j < len(x):
                            off, j = _varint(x, j)
                            line_offsets.append(off)
                    else:
                        line_offsets.append(x)
                elif n == 4:
                    key = pos = 0
                    for m, _, y in _fields(x):
                        if m == 1:
                            key = y
                        elif m == 2:
                            pos = y
                    positions[key] = pos
    return Checked(root, types, positions, line_offsets, refs)


def walk(node: Node):
    yield node
    if node.target is not None:
        yield from walk(node.target)
    for k in node.keys:
        if k is not None:
            yield from walk(k)
    for a in node.args:
        yield from walk(a)


# ------------------------------------------------------------------ messages


def location(expression: str, offset: int) -> tuple[int, int]:
    """(line, column) both 1-based of a code point offset."""
    before = expression[:offset]
    line = before.count("\n") + 1
    col = offset - (before.rfind("\n") + 1) + 1
    return line, col


def issue(expression: str, offset: int, message: str) -> str:
    """One error in cel-go's format: ``ERROR: <input>:L:C: msg`` plus the source line and a caret."""
    line, col = location(expression, offset)
    text = expression.split("\n")[line - 1]
    return f"ERROR: <input>:{line}:{col}: {message}\n | {text}\n | {'.' * (col - 1)}^"


# ------------------------------------------------------------------ literal validators


_DURATION_RE = _Pattern(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$")


def valid_duration(text: str) -> bool:
    """Go's time.ParseDuration (as CEL's duration() uses it), including its range."""
    if text in ("0", "+0", "-0"):
        return True
    if not _DURATION_RE.match(text):
        return False
    units = {"ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
    total = 0.0
    for num, _, _, unit in re.findall(r"((\d+(\.\d*)?|\.\d+))(ns|us|µs|μs|ms|s|m|h)", text.lstrip("+-")):
        total += float(num) * units[unit]
    return total <= 9223372036854775807


_TS_RE = _Pattern(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def valid_timestamp(text: str) -> bool:
    """RFC 3339 as Go's time.Parse(time.RFC3339) reads it, within CEL's range (years 1-9999)."""
    m = _TS_RE.match(text)
    if not m:
        return False
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    try:
        _dt.datetime(y, mo, d, h, mi, s)
    except ValueError:
        return False
    tz = m.group(8)
    if tz not in ("Z", "z") and (int(tz[1:3]) > 23 or int(tz[4:6]) > 59):
        return False
    return y >= 1


# ------------------------------------------------------------------ the checker


class CheckError(Exception):
    """``message`` is what follows ``compilation failed: `` (or a complete message, see ``full``)."""

    def __init__(self, message: str, full: bool = False):
        super().__init__(message)
        self.message = message
        self.full = full


@dataclass(slots=True)
class Verdict:
    output: tuple  # the expression's type
    #: (offset, length, new name) of calls the runtime knows under another name
    renames: list[tuple[int, int, str]] = field(default_factory=list)
    #: the checked AST (for the cost estimate, kubectl_dra.cel.cost)
    checked: Checked | None = None
    #: offsets of ``has(device.<field>)`` tests, checked as ``true`` (see ``_for_checking``)
    presence: frozenset[int] = frozenset()


_lock = threading.Lock()
_env: list[Any] = []

_ORDERED = ("_<_", "_<=_", "_>_", "_>=_")


def _check_env() -> Any:
    if _env:
        return _env[0]
    with _lock:
        if _env:
            return _env[0]
        from cel_expr_python import cel
        from cel_expr_python.ext import ext_bindings, ext_optional

        from . import library

        T = cel.Type
        config = cel.NewEnvConfigFromYaml(
            "stdlib:\n  exclude_functions:\n" + "".join(f'    - name: "{f}"\n' for f in _ORDERED)
        )
        nums = (("int64", T.INT), ("uint64", T.UINT), ("double", T.DOUBLE))
        others = (("bool", T.BOOL), ("string", T.STRING), ("bytes", T.BYTES), ("timestamp", T.TIMESTAMP),
                  ("duration", T.DURATION))
        ordered = []
        for op, word in zip(_ORDERED, ("less", "less_equals", "greater", "greater_equals")):
            overloads = [cel.Overload(f"{word}_{a}_{b}", T.BOOL, [ta, tb]) for a, ta in nums for b, tb in nums]
            overloads += [cel.Overload(f"{word}_{a}", T.BOOL, [ta, ta]) for a, ta in others]
            ordered.append(cel.FunctionDecl(op, overloads))
        device = T.AbstractType("kubernetes.DRADevice")
        env = cel.NewEnv(
            config=config,
            variables={
                "device": device,
                "device.driver": T.STRING,
                "device.attributes": T.Map(T.STRING, T.Map(T.STRING, T.DYN)),
                "device.capacity": T.Map(T.STRING, T.Map(T.STRING, library.QUANTITY_TYPE(cel))),
                "device.allowMultipleAllocations": T.BOOL,
            },
            # the strings extension is declared by library.check_decls (its indexOf/lastIndexOf share
            # names with the lists library's, which one declaration cannot add to an extension's)
            extensions=[ext_bindings.ExtBindings(), ext_optional.ExtOptional()],
            functions=ordered + library.check_decls(cel),
        )
        _env[:] = [env]
    return _env[0]


#: ``has(device.<field>)``: cel-cpp resolves the qualified variable instead of testing the field; Kubernetes'
#: device map always has its four fields, so for checking the test is ``true`` (same width, same positions)
_HAS_FIELD_RE = _Pattern(r"\bhas\s*\(\s*device\s*\.\s*(driver|attributes|capacity|allowMultipleAllocations)\s*\)")
_SELECT_ERR_RE = _Pattern(r"expression of type 'kubernetes\.DRADevice' cannot be the operand of a select operation")


def _for_checking(expression: str, blanked: str) -> str:
    out = expression
    for m in _HAS_FIELD_RE.finditer(blanked):
        out = out[: m.start()] + "true".ljust(m.end() - m.start()) + out[m.end():]
    return out


def _presence_offsets(blanked: str) -> frozenset[int]:
    return frozenset(m.start() for m in _HAS_FIELD_RE.finditer(blanked))


def _rewrite_errors(expression: str, message: str) -> str:
    """cel-cpp wording -> cel-go wording where they differ."""

    def undefined(m: re.Match[str]) -> str:
        return m.group(0)

    lines = message.split("\n")
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"ERROR: <input>:(\d+):(\d+): (.*)$", line)
        if m and _SELECT_ERR_RE.search(m.group(3)):
            # the field name follows the dot at this position
            ln, col = int(m.group(1)), int(m.group(2))
            src = expression.split("\n")[ln - 1]
            fm = re.match(r"\s*\.\s*([A-Za-z_]\w*)", src[col - 1:])
            name = fm.group(1) if fm else "?"
            line = f"ERROR: <input>:{ln}:{col}: undefined field '{name}'"
        elif m and m.group(3).startswith("found no matching overload for '"):
            line = _member_call_types(expression, int(m.group(1)), int(m.group(2)), line)
        out.append(line)
        i += 1
    return "\n".join(out)


def _split_types(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def _member_call_types(expression: str, ln: int, col: int, line: str) -> str:
    """cel-go writes a member call's argument types as 'target.(args)'; cel-cpp as '(target, args)'."""
    src = expression.split("\n")[ln - 1]
    if src[col - 1: col] != "(":
        return line  # an operator, not a call
    before = src[: col - 1].rstrip()
    name = re.search(r"([A-Za-z_]\w*)$", before)
    if not name or not before[: name.start()].rstrip().endswith("."):
        return line
    if re.search(r"(?<![\w.])(sets|lists|strings|optional)\s*\.\s*$", before[: name.start()]):
        return line  # a namespaced global function (sets.contains)
    m = re.search(r"applied to '\((.*)\)'$", line)
    if not m:
        return line
    types = _split_types(m.group(1))
    if not types:
        return line
    return line[: m.start()] + f"applied to '{types[0]}.({', '.join(types[1:])})'"


def check(expression: str, blanked: str) -> Verdict:
    """Type-check and validate; CheckError with upstream's message if Kubernetes would not compile it."""
    env = _check_env()
    text = _for_checking(expression, blanked)
    try:
        compiled = env.compile(text)
    except RuntimeError as e:
        msg = re.sub(r"^[A-Z_]+: ", "", str(e), count=1)
        msg = re.sub(r"\s*\[[A-Z_]+\]\s*$", "", msg)
        if text != expression:  # the carets show the user's text
            msg = msg.replace(" | " + text.split("\n")[0], " | " + expression.split("\n")[0])
        raise CheckError(_rewrite_errors(expression, msg)) from None
    checked = decode_checked(compiled.serialize())
    errors = _validate(expression, checked)
    if errors:
        raise CheckError("\n".join(errors))
    _literal_programs(expression, checked)
    output = checked.types.get(checked.root.id, ("dyn",))
    if output[0] == "dyn" and _attribute_lookup(checked, checked.root):
        output = ("wk", "any")
    return Verdict(output, _list_index_renames(expression, checked), checked, _presence_offsets(blanked))


def _list_index_renames(expression: str, checked: Checked) -> list[tuple[int, int, str]]:
    """Member calls the runtime must reach under another name: the lists library's indexOf/lastIndexOf
    (the strings extension owns those names at run time) and substring (cel-cpp's rejects an end index
    equal to the length)."""
    from .library import LIST_INDEX_OF, LIST_LAST_INDEX_OF, SUBSTRING

    out = []
    for node in walk(checked.root):
        if node.kind != "call" or node.target is None:
            continue
        target = checked.types.get(node.target.id, ("dyn",))[0]
        if node.value in ("indexOf", "lastIndexOf") and target == "list":
            new = LIST_INDEX_OF if node.value == "indexOf" else LIST_LAST_INDEX_OF
        elif node.value == "substring" and target in ("prim", "dyn"):
            new = SUBSTRING
        else:
            continue
        paren = checked.positions.get(node.id, -1)
        end = paren
        while end > 0 and expression[end - 1].isspace():
            end -= 1
        start = end - len(node.value)
        if start >= 0 and expression[start:end] == node.value:
            out.append((start, len(node.value), new))
    return out


def _attribute_lookup(checked: Checked, node: Node, scope: dict[str, Node] | None = None) -> bool:
    """Whether a dyn-typed root is an attribute value (google.protobuf.Any upstream, accepted as a result):
    a lookup in a map(string, dyn) (``device.attributes[d].x``, ``[?"x"].orValue(..)``), also through
    ``cel.bind`` variables and conditionals."""
    scope = dict(scope or {})
    for _ in range(64):
        if node.kind == "comprehension" and node.args and node.args[0].kind == "list" and not node.args[0].args:
            scope[node.value[1]] = node.args[1]  # cel.bind(x, v, body)
            node = node.args[4]
            continue
        if node.kind == "ident" and node.value in scope:
            node = scope.pop(node.value)
            continue
        break
    if node.kind == "call" and node.value == "_?_:_" and len(node.args) == 3:
        return _attribute_lookup(checked, node.args[1], scope) or _attribute_lookup(checked, node.args[2], scope)
    if node.kind == "call" and node.value == "orValue" and node.target is not None:
        if node.args and _attribute_lookup(checked, node.args[0], scope):
            return True
        node = node.target
        while node.kind == "call" and node.value == "or" and node.target is not None:
            node = node.target  # a.or(b).orValue(c)
        if node.kind == "call" and node.value in ("_[?_]", "_?._") and len(node.args) == 2:
            operand = node.args[0]
        else:
            return False
    elif node.kind == "select" and node.target is not None:
        operand = node.target
    elif node.kind == "call" and node.value == "_[_]" and len(node.args) == 2:
        operand = node.args[0]
    else:
        return False
    t = checked.types.get(operand.id)
    return t == ("map", ("prim", "string"), ("dyn",))


_ELEMENT_EXEMPT = {"format"}


def _in_exempt(node: Node) -> bool:
    p = node.parent
    while p is not None:
        if p.kind == "call" and p.value in _ELEMENT_EXEMPT:
            return True
        p = p.parent
    return False


def _equivalent(a: tuple, b: tuple) -> bool:
    if a[0] == "param" and b[0] == "param":
        return True
    if a[0] != b[0] or len(a) != len(b):
        return False
    if a[0] in ("list", "type"):
        return _equivalent(a[1], b[1])
    if a[0] == "map":
        return _equivalent(a[1], b[1]) and _equivalent(a[2], b[2])
    if a[0] == "abstract":
        return a[1] == b[1] and len(a[2]) == len(b[2]) and all(_equivalent(x, y) for x, y in zip(a[2], b[2]))
    return a == b


def _unwrap_optional(t: tuple) -> tuple:
    if t[0] == "abstract" and t[1] == "optional_type" and t[2]:
        return t[2][0]
    return t


def _validate(expression: str, checked: Checked) -> list[str]:
    """cel-go's AST validators of the Kubernetes base environment (1.29+), in its order."""
    errors: list[tuple[int, str]] = []
    types = checked.types

    def at(node: Node, message: str) -> None:
        errors.append((checked.positions.get(node.id, 0), message))

    nodes = list(walk(checked.root))
    # ValidateDurationLiterals, ValidateTimestampLiterals, ValidateRegexLiterals: a literal first argument
    for node in nodes:
        if node.kind != "call" or not node.args or node.args[0].kind != "const":
            continue
        arg = node.args[0]
        if node.value == "duration" and node.target is None and arg.const_kind == "string":
            if not valid_duration(arg.value):
                at(arg, "invalid duration argument")
        elif node.value == "timestamp" and node.target is None and arg.const_kind == "string":
            if not valid_timestamp(arg.value):
                at(arg, "invalid timestamp argument")
    for node in nodes:
        if node.kind == "call" and node.value == "matches" and node.args and node.args[0].kind == "const" \
                and node.args[0].const_kind == "string":
            problem = regex_error(node.args[0].value)
            if problem is not None:
                at(node.args[0], "invalid matches argument")
    # ValidateHomogeneousAggregateLiterals
    for node in nodes:
        if node.kind == "list" and not _in_exempt(node):
            first = None
            for i, e in enumerate(node.args):
                t = types.get(e.id, ("dyn",))
                if i in node.optional:
                    t = _unwrap_optional(t)
                if first is None:
                    first = t
                    continue
                if not _equivalent(first, t):
                    at(e, f"expected type '{format_type(first)}' but found '{format_type(t)}'")
                    break
        elif node.kind == "struct" and not _in_exempt(node):
            kt0 = vt0 = None
            for i, (k, v) in enumerate(zip(node.keys, node.args)):
                if k is None:
                    continue
                kt, vt = types.get(k.id, ("dyn",)), types.get(v.id, ("dyn",))
                if i in node.optional:
                    vt = _unwrap_optional(vt)
                if kt0 is None:
                    kt0, vt0 = kt, vt
                    continue
                if not _equivalent(kt0, kt):
                    at(k, f"expected type '{format_type(kt0)}' but found '{format_type(kt)}'")
                if not _equivalent(vt0, vt):
                    at(v, f"expected type '{format_type(vt0)}' but found '{format_type(vt)}'")
    # cel-go reports issues sorted by position
    errors.sort(key=lambda e: e[0])
    return [issue(expression, off, msg) for off, msg in errors]


def _literal_programs(expression: str, checked: Checked) -> None:
    """Program planning (cel.OptOptimize) compiles constant regex patterns: a bad one fails there."""
    for node in walk(checked.root):
        if node.kind == "call" and node.value == "matches":
            pattern = None
            if node.target is not None and node.args and node.args[0].kind == "const":
                pattern = node.args[0]
            elif node.target is None and len(node.args) == 2 and node.args[1].kind == "const":
                pattern = node.args[1]
            if pattern is not None and pattern.const_kind == "string":
                problem = regex_error(pattern.value)
                if problem is not None:
                    raise CheckError(f"program instantiation failed: error parsing regexp: {problem}", full=True)


# ------------------------------------------------------------------ regular expressions (RE2 / Go regexp)

_re_cache: dict[str, str | None] = {}


def regex_error(pattern: str) -> str | None:
    """None if Go's regexp (RE2 syntax) accepts the pattern, else its error in Go's words (as far as known)."""
    if pattern in _re_cache:
        return _re_cache[pattern]
    from cel_expr_python import cel

    env = _regex_env(cel)
    value = env.compile('"".matches(p)').eval(data={"p": pattern})
    result = None
    if value.type() == cel.Type.ERROR:
        result = _go_regexp_message(str(value.value()), pattern)
    if len(_re_cache) > 1024:
        _re_cache.clear()
    _re_cache[pattern] = result
    return result


_regex_envs: list[Any] = []


def _regex_env(cel: Any) -> Any:
    if not _regex_envs:
        _regex_envs.append(cel.NewEnv(variables={"p": cel.Type.STRING}))
    return _regex_envs[0]


#: RE2's wording of a pattern error -> Go regexp's (the offending text follows both, Go quotes it)
_RE2_WORDS = (
    ("missing )", "missing closing )"),
    ("missing ]", "missing closing ]"),
    ("unexpected )", "unexpected )"),
    ("bad repetition operator", "invalid nested repetition operator"),
    ("no argument for repetition operator", "missing argument to repetition operator"),
    ("invalid escape sequence", "invalid escape sequence"),
    ("invalid character class range", "invalid character class range"),
    ("missing argument to repetition operator", "missing argument to repetition operator"),
    ("invalid named capture group", "invalid named capture"),
    ("invalid perl operator", "invalid or unsupported Perl syntax"),
    ("invalid repetition size", "invalid repeat count"),
)
_RE2_TO_GO = tuple((_Pattern(re.escape(re2) + r": (.*)$", re.S), go + ": `{0}`") for re2, go in _RE2_WORDS) + (
    (_Pattern(r"trailing \\$", re.S), "trailing backslash at end of expression: ``"),
)


def _go_regexp_message(re2: str, pattern: str) -> str:
    text = re.sub(r"^.*?(invalid regular expression|Invalid regular expression)\s*:?\s*", "", re2)
    for rx, go in _RE2_TO_GO:
        m = rx.search(text)
        if m:
            return go.format(*m.groups())
    return text
