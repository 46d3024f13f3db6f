"""Name resolution, value typing and the translation of a filter tree into a CEL selector.

All name aliases live in ``ALIASES`` below; this module is the only place that knows them.

Every attribute access in the generated CEL is guarded (``"id" in device.attributes[…] && …``, plus
``device.driver == "D" &&`` when the name was resolved to one driver's domain, plus a
``type(…) in […]`` check where the value's type is only guessed), so the expression never raises a CEL
runtime error in the scheduler: a device that lacks the attribute simply does not match.
So ``arch!=Hopper`` needs an ``arch`` attribute, while ``not arch=Hopper`` also matches devices without one.

Value typing.  With a Schema (``Schema.from_devices``) a value takes the kind the name is published
with, per driver: capacity -> quantity, version attribute -> semver (normalised: ``cc>=9.0`` is
``semver("9.0.0")``), int, bool, string; a value that does not convert, or an operator that does not
fit (``~`` on a quantity, ``>`` on a bool or a string), is a FilterTypeError; an unknown name is a
FilterNameError with difflib suggestions.  Without a schema, literal rules, first match wins:

1. the ``memory`` alias, or an unquoted value with a unit (``40Gi``, ``1.5T``, ``500M``: Ki Mi Gi Ti Pi Ei
   k M G T P E) -> a capacity compared as a quantity;
2. a name ending in ``Version`` or ``cudaComputeCapability``, with ``N``, ``N.N`` or ``N.N.N`` (optional
   ``v``) -> semver;
3. ``true``/``false`` (any case) -> bool;  4. an integer -> int;  5. anything else, and every quoted
   value -> string.  (``in`` lists whose values type differently are compared as strings.)
Unchecked kinds get a ``type(x) in [T]`` guard before orderings, ``~`` and semver comparisons.

``mig``: ``mig``/``mig=true`` selects MIG/partition devices: ``gpu.nvidia.com`` with ``type == "mig"``,
``gpu.amd.com`` with ``type == "amdgpu-partition"``, any other driver's devices that publish a
``partition`` attribute (dra-example-driver); ``mig=false`` selects every other device (NICs too).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from kubectl_dra.lazyre import Pattern as _Pattern
from kubectl_dra.model.device import STANDARD_DOMAIN
from kubectl_dra.model.quantity import Quantity, QuantityError
from kubectl_dra.model.semver import Version, VersionError

from . import ast
from .errors import FilterError, FilterNameError, FilterTypeError
from .schema import Schema

MAX_CEL_LENGTH = 10 * 1024  # CELSelectorExpressionMaxLength


@dataclass(frozen=True)
class Alias:
    place: str  # "attribute", "capacity", "driver" or "mig"
    name: str = ""  # bare (driver domain) or qualified name
    doc: str = ""


#: The one alias table. Any other name is used as written: bare names are looked up in the
#: device's driver domain (as Kubernetes does), ``domain/id`` names in that domain.
ALIASES: dict[str, Alias] = {
    "product": Alias("attribute", "productName", "product name, e.g. product~h100"),
    "arch": Alias("attribute", "architecture", "GPU architecture, e.g. arch=Hopper"),
    "cc": Alias("attribute", "cudaComputeCapability", "CUDA compute capability (version), e.g. cc>=9.0"),
    "cuda": Alias("attribute", "cudaDriverVersion", "CUDA driver version (version), e.g. cuda>=12.8"),
    "uuid": Alias("attribute", "uuid", "device UUID"),
    "profile": Alias("attribute", "profile", "MIG profile, e.g. profile in (1g.10gb, 2g.20gb)"),
    "memory": Alias("capacity", "memory", "memory capacity (quantity), e.g. memory>=40Gi"),
    "pcieRoot": Alias("attribute", f"{STANDARD_DOMAIN}/pcieRoot", "standard PCIe root attribute"),
    "pciBusID": Alias("attribute", f"{STANDARD_DOMAIN}/pciBusID", "standard PCI bus id attribute"),
    "numaNode": Alias("attribute", f"{STANDARD_DOMAIN}/numaNode", "standard NUMA node attribute"),
    "driver": Alias("driver", "", "the device's driver, e.g. driver=gpu.nvidia.com"),
    "mig": Alias("mig", "", "a MIG/partition device (true) or a whole device (false)"),
}

#: What ``mig=true`` means per driver: the value of the driver's ``type`` attribute. Devices of any
#: other driver count as partitions when they publish a ``partition`` attribute (dra-example-driver).
MIG_TYPES: dict[str, str] = {"gpu.nvidia.com": "mig", "gpu.amd.com": "amdgpu-partition"}
PARTITION_ATTRIBUTE = "partition"

_ORDER = frozenset({">", ">=", "<", "<="})
_OPS_BY_KIND = {
    "string": frozenset({"=", "!=", "~", "in"}),
    "int": frozenset({"=", "!=", "in"}) | _ORDER,
    "bool": frozenset({"=", "!=", "in"}),
    "version": frozenset({"=", "!=", "in"}) | _ORDER,
    "quantity": frozenset({"=", "!=", "in"}) | _ORDER,
}
_CEL_RESERVED = frozenset(
    ["true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"]
)
_IDENT = _Pattern(r"[A-Za-z_][A-Za-z0-9_]{0,31}\Z")
_DOMAIN = _Pattern(r"(?=.{1,63}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_INT = _Pattern(r"[-+]?[0-9]+\Z")
_SUFFIXED_QUANTITY = _Pattern(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)\Z")
_BYTE_SUFFIX = _Pattern(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([kKMGTPE])(i?)B\Z")
_VERSIONISH = _Pattern(r"v?[0-9]+(\.[0-9]+){0,2}\Z")
_VERSION_NAMES = frozenset({"cudaComputeCapability"})


# -- the resolved tree ---------------------------------------------------------------------


@dataclass(frozen=True)
class Test:
    """One comparison against one place on the device."""

    place: str  # "attribute", "capacity" or "driver"
    domain: str | None  # None: the device's own driver domain (device.driver)
    ident: str
    driver: str | None  # guard: only devices of this driver
    kind: str  # string, int, bool, version, quantity
    checked: bool  # kind known from the schema; False: guard with a type() check where needed
    op: str
    values: tuple[Any, ...]  # typed: str, int, bool, Version, (text, Quantity)


@dataclass(frozen=True)
class Mig:
    value: bool
    #: the only drivers the expression will see (a class guarantees it): the CEL tests only theirs
    drivers: frozenset[str] | None = None


@dataclass(frozen=True)
class AllOf:
    items: tuple[Resolved, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Resolved, ...]


@dataclass(frozen=True)
class Negate:
    item: Resolved


Resolved = Test | Mig | AllOf | AnyOf | Negate


# -- resolution -----------------------------------------------------------------------------


def resolve(node: ast.Node, text: str, schema: Schema | None = None) -> Resolved:
    """Resolve names and type values; raise FilterNameError/FilterTypeError (usage errors)."""
    if isinstance(node, ast.And):
        return AllOf(tuple(resolve(n, text, schema) for n in node.operands))
    if isinstance(node, ast.Or):
        return AnyOf(tuple(resolve(n, text, schema) for n in node.operands))
    if isinstance(node, ast.Not):
        return Negate(resolve(node.operand, text, schema))
    if isinstance(node, ast.Flag):
        implicit = ast.Value("true", False, node.end, node.end)
        return _resolve_compare(node.name, "=", (implicit,), text, schema, flag=True)
    return _resolve_compare(node.name, node.op, node.values, text, schema, flag=False)


def _split(name: ast.Name, text: str) -> tuple[str | None, str]:
    """(domain or None, id) of a written name, validated so that it can be put into CEL."""
    raw = name.text
    if "/" in raw:
        domain, _, ident = raw.partition("/")
        if not _DOMAIN.match(domain):
            raise FilterNameError(f"invalid domain {domain!r} in attribute name {raw!r}", text, name.start,
                                  hint="a domain is a DNS subdomain, e.g. gpu.nvidia.com/productName")
    else:
        domain, ident = None, raw
    if not _IDENT.match(ident):
        raise FilterNameError(f"invalid attribute name {raw!r}", text, name.start,
                              hint="names are C identifiers of at most 32 characters, optionally domain/name")
    return domain, ident


def byte_units(text: str) -> str:
    """``40GB`` -> ``40G``, ``80GiB`` -> ``80Gi``, ``512KB`` -> ``512k``: the byte spellings people type
    (and MIG profile names use) as the Kubernetes quantity they mean; any other text unchanged."""
    m = _BYTE_SUFFIX.match(text)
    if m is None:
        return text
    number, unit, binary = m.groups()
    if binary:
        return f"{number}{unit.upper()}i"
    return f"{number}{'k' if unit in 'kK' else unit}"


def _type_value(kind: str, value: ast.Value, label: str, text: str) -> Any:
    s = value.text
    if kind == "string":
        return s
    try:
        if kind == "quantity":
            s = byte_units(s) if not value.quoted else s
            return (s, Quantity.parse(s))
        if kind == "version":
            return Version.parse(s, normalize=True)
    except (QuantityError, VersionError, ValueError):
        pass
    else:
        if kind == "int" and _INT.match(s) and -(1 << 63) <= int(s) < (1 << 63):
            return int(s)
        if kind == "bool" and s.lower() in ("true", "false"):
            return s.lower() == "true"
    example = {"quantity": "40Gi", "version": "9.0", "int": "8", "bool": "true"}[kind]
    raise FilterTypeError(f"{s!r} is not a valid {kind} for {label}", text, value.start,
                          hint=f"{label} is a {kind}, e.g. {label}={example}" if kind != "quantity"
                          else f"values may carry units, e.g. {label}>=40Gi")


def _check_op(kind: str, op: str, label: str, node_start: int, text: str, flag: bool) -> None:
    if op not in _OPS_BY_KIND[kind]:
        if flag:
            raise FilterTypeError(f"{label} is a {kind}, not a flag", text, node_start, hint=_flag_hint(label, kind))
        raise FilterTypeError(f"operator {op!r} does not apply to {label} (a {kind})", text, node_start,
                              hint=f"{kind} values take {', '.join(sorted(_OPS_BY_KIND[kind]))}")


_EXAMPLE_VALUE = {"quantity": "40Gi", "version": "9.0", "int": "8", "string": "VALUE"}


def _flag_hint(label: str, kind: str) -> str:
    """A name written alone where a comparison was meant.  Unquoted, ``memory>=40Gi`` reaches us as
    ``memory``: the shell took ``>=40Gi`` as a redirection (and created a file named ``=40Gi``)."""
    import os

    op = ">=" if kind in ("quantity", "version", "int") else "="
    example = f"{label}{op}{_EXAMPLE_VALUE.get(kind, 'VALUE')}"
    if op == ">=":
        try:
            eaten = sorted(n for n in os.listdir(".") if n.startswith("=") and len(n) > 1)
        except OSError:
            eaten = []
        made = f" (the file {eaten[0]!r} here is likely the rest of it)" if eaten else ""
        return (f"quote the term, e.g. '{example}': unquoted, the shell reads '>' and '<' as redirections"
                f" and passes only {label!r}{made}")
    return f"compare it with a value, e.g. {label}{op}…"


def _guess_kind(ident: str, values: tuple[ast.Value, ...]) -> str:
    """Literal typing without a schema (see the module's README table)."""

    def one(v: ast.Value) -> str:
        if v.quoted:
            return "string"
        if (ident.endswith("Version") or ident in _VERSION_NAMES) and _VERSIONISH.match(v.text):
            return "version"
        if v.text.lower() in ("true", "false"):
            return "bool"
        if _INT.match(v.text):
            return "int"
        return "string"

    kinds = {one(v) for v in values}
    return kinds.pop() if len(kinds) == 1 else "string"


def _resolve_compare(name: ast.Name, op: str, values: tuple[ast.Value, ...], text: str,
                     schema: Schema | None, *, flag: bool) -> Resolved:
    label = name.text
    alias = ALIASES.get(label)
    place = alias.place if alias else None
    if place == "mig":
        _check_op("bool", op, label, name.start, text, flag)
        typed = {_type_value("bool", v, label, text) for v in values}
        if op == "!=":
            typed = {not typed.pop()}
        items: list[Resolved] = [Mig(b) for b in sorted(typed, reverse=True)]
        return items[0] if len(items) == 1 else AnyOf(tuple(items))
    if place == "driver":
        _check_op("string", op, label, name.start, text, flag)
        return Test("driver", None, "", None, "string", True, op, tuple(v.text for v in values))

    written = ast.Name(alias.name, name.start, name.end) if alias else name
    domain, ident = _split(written, text)

    if schema is None:
        if place is None and values and all(not v.quoted and _SUFFIXED_QUANTITY.match(byte_units(v.text)) for v in values):
            place = "capacity"
        if place == "capacity":
            kind = "quantity"
        else:
            place, kind = "attribute", ("bool" if flag else _guess_kind(ident, values))
        if flag and kind != "bool":
            raise FilterTypeError(f"{label} is a {kind}, not a flag", text, name.start, hint=_flag_hint(label, kind))
        _check_op(kind, op, label, name.start, text, flag)
        typed_values = tuple(_type_value(kind, v, label, text) for v in values)
        return Test(place, domain, ident, None, kind, kind == "quantity", op, typed_values)

    # with a schema: one branch per way the name is published
    # (place, domain, driver guard, kind, whether the guard alone tells the kind): a driver that
    # publishes the name with several kinds gets a type() guard per branch, so that no branch can
    # fail at runtime on another kind's value (an error would survive `not`)
    targets: list[tuple[str, str, str | None, str, bool]] = []
    if domain is not None:
        qualified = f"{domain}/{ident}"
        if place in (None, "attribute") and qualified in schema.attributes:
            by_driver = schema.attributes[qualified]
            kinds = set().union(*by_driver.values())
            if len(kinds) == 1:
                targets.append(("attribute", domain, None, next(iter(kinds)), True))
            else:
                for driver in sorted(by_driver):
                    one = len(by_driver[driver]) == 1
                    targets.extend(("attribute", domain, driver, k, one) for k in sorted(by_driver[driver]))
        if place in (None, "capacity") and qualified in schema.capacities:
            targets.append(("capacity", domain, None, "quantity", True))
    else:
        for driver in sorted(schema.drivers):
            qualified = f"{driver}/{ident}"
            if place in (None, "attribute") and driver in schema.attributes.get(qualified, {}):
                published = schema.attributes[qualified][driver]
                targets.extend(("attribute", driver, driver, k, len(published) == 1) for k in sorted(published))
            if place in (None, "capacity") and driver in schema.capacities.get(qualified, ()):
                targets.append(("capacity", driver, driver, "quantity", True))
    if not targets:
        candidates = schema.names() | set(ALIASES)
        # the name itself is no suggestion (an alias such as cc is a candidate even when nothing publishes it)
        close = difflib.get_close_matches(label, sorted(candidates - {label}), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}?" if close else "run 'kubectl dra list -o wide' to see the published names"
        raise FilterNameError(f"no device publishes an attribute or capacity named {label!r}", text, name.start,
                              hint=hint)

    branches: list[Resolved] = []
    first_error: FilterError | None = None
    for tplace, tdomain, tdriver, kind, checked in targets:
        if kind not in _OPS_BY_KIND:
            first_error = first_error or FilterTypeError(
                f"{label} is a {kind} attribute, which filters do not support yet", text, name.start)
            continue
        if flag and kind != "bool":
            first_error = first_error or FilterTypeError(f"{label} is a {kind}, not a flag", text, name.start,
                                                         hint=_flag_hint(label, kind))
            continue
        try:
            _check_op(kind, op, label, name.start, text, flag)
            typed_values = tuple(_type_value(kind, v, label, text) for v in values)
        except FilterError as err:
            first_error = first_error or err
            continue
        branches.append(Test(tplace, tdomain, ident, tdriver, kind, checked, op, typed_values))
    if not branches:
        assert first_error is not None
        raise first_error
    return branches[0] if len(branches) == 1 else AnyOf(tuple(branches))


# -- CEL ------------------------------------------------------------------------------------


def quote(s: str) -> str:
    """A CEL double-quoted string literal of ``s``: nothing in ``s`` can end the literal."""
    out = ['"']
    for c in s:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif 0xD800 <= ord(c) <= 0xDFFF:
            raise FilterError(f"invalid character U+{ord(c):04X} in filter value")
        elif c.isprintable() and c != "\x7f":
            out.append(c)
        elif ord(c) <= 0xFFFF:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    out.append('"')
    return "".join(out)


_ASCII_LOWER = str.maketrans({chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)})


def ascii_lower(s: str) -> str:
    """What CEL's ``lowerAscii()`` does: only A-Z change (str.lower() would also fold non-ASCII)."""
    return s.translate(_ASCII_LOWER)


_CMP = {"=": "==", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
_TYPE_NAMES = {"string": "string", "int": "int", "bool": "bool", "version": 'type(semver("0.0.0"))'}

# precedence of a rendered piece: 0 atom-like (a comparison), 1 a chain of &&, 2 a chain of ||
_ATOM, _AND, _OR = 0, 1, 2


def _literal(kind: str, value: Any) -> str:
    if kind == "string":
        return quote(value)
    if kind == "bool":
        return "true" if value else "false"
    if kind == "int":
        return str(value)
    if kind == "version":
        return f"semver({quote(str(value))})"
    return f"quantity({quote(value[0])})"


def _test_cel(t: Test) -> tuple[str, int]:
    guards: list[str] = []
    if t.place == "driver":
        x = "device.driver"
    else:
        base = "device.attributes" if t.place == "attribute" else "device.capacity"
        domain = quote(t.domain) if t.domain is not None else "device.driver"
        field = f"[{quote(t.ident)}]" if t.ident in _CEL_RESERVED else f".{t.ident}"
        x = f"{base}[{domain}]{field}"
        if t.driver is not None:
            guards.append(f"device.driver == {quote(t.driver)}")
        guards.append(f"{quote(t.ident)} in {base}[{domain}]")
        risky = t.op in _ORDER or t.op == "~" or t.kind == "version"
        if not t.checked and risky:
            # `type(x) in [T]`, not `type(x) == T`: the API server's cost estimate puts any
            # equality of type values over the selector cost limit ("too complex") and rejects the claim
            guards.append(f"type({x}) in [{_TYPE_NAMES[t.kind]}]")
    if t.kind in ("quantity", "version"):
        parts = [f"{x}.compareTo({_literal(t.kind, v)}) {_CMP.get(t.op, '==')} 0" for v in t.values]
        cmp, prec = (parts[0], _ATOM) if len(parts) == 1 else ("(" + " || ".join(parts) + ")", _ATOM)
    elif t.op == "~":
        cmp, prec = f"{x}.lowerAscii().contains({quote(ascii_lower(t.values[0]))})", _ATOM
    elif t.op == "in" and len(t.values) > 1:
        cmp, prec = f"{x} in [{', '.join(_literal(t.kind, v) for v in t.values)}]", _ATOM
    else:
        cmp, prec = f"{x} {_CMP.get(t.op, '==')} {_literal(t.kind, t.values[0])}", _ATOM
    if guards:
        return " && ".join([*guards, cmp]), _AND
    return cmp, prec


def _mig_cel(value: bool, drivers: frozenset[str] | None = None) -> tuple[str, int]:
    branches = []
    single = drivers is not None and len(drivers) == 1
    for driver, type_value in MIG_TYPES.items():
        if drivers is not None and driver not in drivers:
            continue
        d = quote(driver)
        test = f"\"type\" in device.attributes[{d}] && device.attributes[{d}].type == {quote(type_value)}"
        branches.append(test if single else f"(device.driver == {d} && {test})")
    others = sorted(drivers - set(MIG_TYPES)) if drivers is not None else None
    if others is None or others:
        partition = f"{quote(PARTITION_ATTRIBUTE)} in device.attributes[device.driver]"
        if single:
            branches.append(partition)
        elif others is None:
            listed = ", ".join(quote(d) for d in MIG_TYPES)
            branches.append(f"(!(device.driver in [{listed}]) && {partition})")
        else:
            listed = ", ".join(quote(d) for d in others)
            branches.append(f"(device.driver in [{listed}] && {partition})")
    if not branches:  # pragma: no cover - specialize() folds a Mig of no admitted driver away
        return ("false", _ATOM) if value else ("true", _ATOM)
    if single:
        text, prec = branches[0], _AND
        return (text, prec) if value else (f"!({text})", _ATOM)
    text = " || ".join(branches)
    return (text, _OR) if value else (f"!({text})", _ATOM)


def render(node: Resolved) -> tuple[str, int]:
    if isinstance(node, Test):
        return _test_cel(node)
    if isinstance(node, Mig):
        return _mig_cel(node.value, node.drivers)
    if isinstance(node, Negate):
        inner, _ = render(node.item)
        return f"!({inner})", _ATOM
    if isinstance(node, AllOf):
        parts = [render(n) for n in node.items]
        return " && ".join(f"({s})" if p == _OR else s for s, p in parts), _AND
    parts = [render(n) for n in node.items]  # AnyOf
    return " || ".join(f"({s})" if p == _AND else s for s, p in parts), _OR


def to_cel(node: Resolved) -> str:
    return render(node)[0]


# -- minimal CEL: what the chosen class already guarantees is left out ---------------------------


def specialize(node: Resolved, drivers: frozenset[str] | None, equal: dict[str, str] | None = None,
               mig: bool | None = None) -> Resolved | bool:
    """``node`` for the devices a class admits: only ``drivers`` (None: any) are seen, every admitted
    device has the string attribute values in ``equal`` (qualified name -> value) and is (``mig``
    True) or is not (False) a partition.  Returns True when the class alone already implies the
    filter, False when no admitted device can match, else a smaller tree with the same meaning on
    every admitted device.  Branches for other drivers go, driver guards that the class makes
    redundant go, ``mig``/``type`` terms the class decides go.  The attribute-presence guards stay,
    so the result never raises a CEL runtime error; and the class's selectors run before a
    request's (kube-scheduler evaluates DeviceClass selectors first), so other drivers' devices
    never reach it."""
    equal = equal or {}
    single = next(iter(drivers)) if drivers is not None and len(drivers) == 1 else None

    def walk(n: Resolved) -> Resolved | bool:
        if isinstance(n, AllOf):
            items: list[Resolved] = []
            for item in map(walk, n.items):
                if item is False:
                    return False
                if item is True:
                    continue
                items.extend(item.items if isinstance(item, AllOf) else [item])
            items = list(dict.fromkeys(items))
            return True if not items else items[0] if len(items) == 1 else AllOf(tuple(items))
        if isinstance(n, AnyOf):
            items = []
            for item in map(walk, n.items):
                if item is True:
                    return True
                if item is False:
                    continue
                items.extend(item.items if isinstance(item, AnyOf) else [item])
            items = list(dict.fromkeys(items))
            return False if not items else items[0] if len(items) == 1 else AnyOf(tuple(items))
        if isinstance(n, Negate):
            inner = walk(n.item)
            return (not inner) if isinstance(inner, bool) else Negate(inner)
        if isinstance(n, Mig):
            if mig is not None:
                return n.value == mig
            if drivers is not None:
                if not drivers:
                    return False
                return Mig(n.value, frozenset(drivers))
            return n
        return _specialize_test(n)

    def _specialize_test(t: Test) -> Resolved | bool:
        if t.place == "driver":
            if drivers is None or t.op not in ("=", "!=", "in"):
                return t
            wanted = set(t.values)
            hits = {d for d in drivers if d in wanted}
            if t.op == "!=":
                hits = set(drivers) - hits
            if hits == set(drivers):
                return True
            return False if not hits else t
        if drivers is not None:
            if t.driver is not None and t.driver not in drivers:
                return False
            if t.driver is not None and single is not None:
                t = Test(t.place, t.domain, t.ident, None, t.kind, t.checked, t.op, t.values)
        if t.place == "attribute" and t.kind == "string" and t.op in ("=", "!=", "in"):
            domain = t.domain if t.domain is not None else single
            known = equal.get(f"{domain}/{t.ident}") if domain is not None else None
            if known is not None:
                hit = known in t.values
                return hit if t.op != "!=" else not hit
        return t

    return walk(node)
