"""CEL device selectors, evaluated as Kubernetes' DRA allocator does (engine: cel-expr-python).

Public API::

    prog = compile('device.driver == "gpu.nvidia.com"')   # CelCompileError (a UsageError) if bad
    prog.evaluate(device)        -> Result(matched=True|False|None, error=None|"no such key: x")
    prog.matches(device)         -> bool, raises CelRuntimeError on a runtime error
    prog.evaluate_many(devices)  -> list[Result]   (compile once, evaluate many)

Environment (Kubernetes 1.36 DRA ``cel/compile.go`` on the StoredExpressions base environment):

* compile time (kubectl_dra.cel.checker): the selector is type-checked by cel-cpp against typed
  declarations of upstream's environment — ``device`` (driver string, attributes
  map(string, map(string, any)), capacity map(string, map(string, kubernetes.Quantity)),
  allowMultipleAllocations bool), the quantity/semver libraries with their opaque types, cross-type
  numeric comparison, the strings extension at version 2, the Kubernetes lists and regex libraries,
  the sets extension, the lists extension's functions — and cel-go's AST validators run on the
  checked AST (mixed list/map literals, constant duration()/timestamp()/matches() arguments, constant
  regex patterns at program planning). Errors carry upstream's message and caret; the result must be
  bool or an attribute value (the unknown type);
* run time: the program runs unchecked on plain maps; ``device.attributes[domain]`` of an absent
  domain reads as an empty map; version attributes are semver values, capacities quantity values
  (tagged maps, see :mod:`kubectl_dra.cel.library`);
* expressions longer than 10 Ki (10240 bytes UTF-8) are a compile error.

Known differences from upstream (each pinned by tests/e2e/test_oracle_cel.py against the real
package): two-variable comprehensions and ``sortBy`` (parser macros cel-expr-python cannot enable);
the url/ip/cidr/format libraries; compile-time format-string validation; type parameters (generic
list functions are declared per element type); quantity/semver values are maps (``type()`` is map,
``==`` with another type is false, ``isInteger()``/``asInteger()`` answer from the value, not Go's
parsed form); NaN ordering and double formatting follow cel-cpp; constant folding of conversions at
program planning. The runtime cost limit (``actual cost limit exceeded``, 1e6) and the compile-time
cost estimate are not computed: cel-expr-python 0.1.3 exposes neither cost tracking nor the
estimator, and the scheduler compiles selectors without the estimate
(``cel.Cache.GetOrCompile``: ``DisableCostEstimation``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubectl_dra.errors import DraError, UsageError

from . import checker, library

if TYPE_CHECKING:
    from kubectl_dra.model.device import Device

__all__ = [
    "MAX_EXPRESSION_LENGTH",
    "CelCompileError",
    "CelError",
    "CelRuntimeError",
    "Program",
    "Result",
    "activation_data",
    "compile",
]

#: resourceapi.CELSelectorExpressionMaxLength
MAX_EXPRESSION_LENGTH = 10 * 1024

DEVICE_FIELDS = ("driver", "attributes", "capacity", "allowMultipleAllocations")


class CelError(DraError):
    """Base of CEL failures."""


class CelCompileError(CelError, UsageError):
    """The expression does not compile (syntax, type, unknown field, too long)."""


class CelRuntimeError(CelError):
    """The expression failed for one device (missing key, no such overload, …)."""


@dataclass(frozen=True, slots=True)
class Result:
    """Outcome of one evaluation: ``matched`` is None exactly when ``error`` is set."""

    matched: bool | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


TRUE = Result(True)
FALSE = Result(False)

# ------------------------------------------------------------------ environment

_lock = threading.Lock()
_env_cache: list[Any] = []


def _engine() -> tuple[Any, Any]:
    """(cel module, Env), built once on first use."""
    if _env_cache:
        return _env_cache[0], _env_cache[1]
    with _lock:
        if not _env_cache:
            from cel_expr_python import cel
            from cel_expr_python.ext import ext_bindings, ext_optional, ext_strings

            T = cel.Type
            # the runtime environment: programs run unchecked here (kubectl_dra.cel.checker has checked
            # them against Kubernetes' typed declarations), on plain maps
            env = cel.NewEnv(
                variables={"device": T.Map(T.STRING, T.DYN)},
                extensions=[
                    ext_strings.ExtStrings(version=2),
                    ext_bindings.ExtBindings(),
                    ext_optional.ExtOptional(),
                ],
                functions=library.function_decls(cel) + library.runtime_decls(cel),
            )
            _env_cache[:] = [cel, env]
    return _env_cache[0], _env_cache[1]


# -------------------------------------------------------------- static checks

# string literals: raw/plain, triple/single, either quote (enough to blank them out)
_STRING_RE = re.compile(
    r"""(?:[rR])?(?:\"\"\"(?:\\.|[^\\])*?\"\"\"|'''(?:\\.|[^\\])*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')""",
    re.DOTALL,
)
_DEVICE_FIELD_RE = re.compile(r"(?<![\w.])device\s*\.\s*([A-Za-z_]\w*)")
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "`": "`",
    "?": "?",
}


def _string_literals(expression: str) -> tuple[set[str], str]:
    """(values of the simple string literals, expression with every literal blanked)."""
    values: set[str] = set()

    def blank(m: re.Match[str]) -> str:
        lit = m.group(0)
        raw = lit[0] in "rR"
        body = lit[1:] if raw else lit
        q = 3 if body[:3] in ('"""', "'''") else 1
        inner = body[q:-q]
        if raw or "\\" not in inner:
            values.add(inner)
        else:
            values.add(
                re.sub(r"\\(.)", lambda e: _ESCAPES.get(e.group(1), e.group(0)), inner)
            )
        return '""'

    return values, _STRING_RE.sub(blank, expression)


# ------------------------------------------------------- which keys can matter

_TOKEN_RE = re.compile(
    r"(?P<str>" + _STRING_RE.pattern + r")"
    + r"""|(?P<comment>//[^\n]*)|(?P<space>\s+)|(?P<ident>[A-Za-z_]\w*)|(?P<num>\d[\w.]*)"""
    + r"""|(?P<op>\.\?|\[\?|&&|\|\||[=!<>]=|.)""",
    re.DOTALL,
)
_OPENERS = {"(", "&&", "||", "?", ":", ",", "!", ""}


def _tokens(expression: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: ("str", value) / ("ident", name) / ("num", text) / ("op", text)."""
    out: list[tuple[str, str]] = []
    for m in _TOKEN_RE.finditer(expression):
        kind = m.lastgroup
        if kind in ("space", "comment"):
            continue
        if kind == "str":
            values, _ = _string_literals(m.group(0))
            out.append(("str", next(iter(values), "")))
        else:
            out.append((kind or "op", m.group(0)))
    return out


_DOMAIN_LISTS = {"attributes": "draAttributeDomains", "capacity": "draCapacityDomains"}
_OPTIONAL_DOMAIN_RE = re.compile(r"device\s*\.\s*(attributes|capacity)\s*(\[\s*\?|\.\s*\?)")


def _membership_rewrite(expression: str) -> str | None:
    """The expression with each ``x in device.attributes`` (the whole map) reading the real domain list.

    Kubernetes reads an unknown domain as an empty map; this engine cannot, so a lookup of an absent
    domain is retried with that domain filled in (``Program._run``). The retry must not let
    ``"d" in device.attributes`` see the filled-in domain: in the rewritten text it reads
    ``device.draAttributeDomains``, which the retry sets to the domains the device really has.
    None when the expression has no such membership test.
    """
    spans = [(m.lastgroup, m.group(0), m.start(), m.end()) for m in _TOKEN_RE.finditer(expression)
             if m.lastgroup not in ("space", "comment")]
    edits: list[tuple[int, int, str]] = []
    for i, (kind, text, _, _) in enumerate(spans):
        if kind != "ident" or text != "device" or i < 1 or spans[i - 1][1] != "in" or i + 2 >= len(spans):
            continue
        if spans[i + 1][1] != "." or spans[i + 2][1] not in _DOMAIN_LISTS:
            continue
        if i + 3 < len(spans) and spans[i + 3][1] in (".", ".?", "[", "[?"):
            continue  # a lookup inside the map, not the map itself
        _, field, start, end = spans[i + 2]
        edits.append((start, end, _DOMAIN_LISTS[field]))
    if not edits:
        return None
    out = expression
    for start, end, text in reversed(edits):
        out = out[:start] + text + out[end:]
    return out


def whole_map_use(expression: str) -> bool:
    """Whether the expression uses ``device.attributes``/``device.capacity`` as a whole (iterates, sizes or
    binds it) rather than looking up a domain or testing membership: then domains must not be filled in."""
    toks = _tokens(expression)
    n = len(toks)
    for i, (kind, text) in enumerate(toks):
        if kind != "ident" or text != "device" or (i and toks[i - 1] in (("op", "."), ("op", ".?"))):
            continue
        if i + 2 >= n or toks[i + 1] != ("op", ".") or toks[i + 2][1] not in ("attributes", "capacity"):
            continue
        if i and toks[i - 1] == ("ident", "in") and (i + 3 >= n or toks[i + 3][1] not in (".", ".?", "[", "[?")):
            continue  # membership
        nxt = toks[i + 3] if i + 3 < n else ("", "")
        if nxt[1] in ("[", "[?"):
            continue
        if nxt[1] in (".", ".?") and i + 4 < n and toks[i + 4][0] == "ident" and (i + 5 >= n or toks[i + 5] != ("op", "(")):
            continue
        return True
    return False


def domain_call_rewrite(expression: str) -> str:
    """The expression with every domain lookup in ``device.attributes``/``device.capacity`` going through
    ``_draDomain(map, domain)`` (an empty map for an absent domain, as Kubernetes' map with a default).

    Used when the maps are also used as a whole (``whole_map_use``), where filling absent domains into
    the activation would change what iteration and size() see.
    """
    spans = [(m.lastgroup, m.group(0), m.start(), m.end()) for m in _TOKEN_RE.finditer(expression)
             if m.lastgroup not in ("space", "comment")]
    out: list[str] = []
    pos = 0
    i = 0
    n = len(spans)
    while i < n:
        kind, text, start, end = spans[i]
        if (kind == "ident" and text == "device" and i + 3 < n and spans[i + 1][1] == "."
                and spans[i + 2][1] in ("attributes", "capacity")
                and not (i and spans[i - 1][1] in (".", ".?"))):
            field_ = spans[i + 2][1]
            nxt = spans[i + 3]
            base = f"device.{field_}"
            if nxt[1] in ("[", "[?"):
                depth, j = 0, i + 3
                while j < n:
                    if spans[j][1] in ("[", "[?"):
                        depth += 1
                    elif spans[j][1] == "]":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                if j < n:
                    inner = domain_call_rewrite(expression[nxt[3]:spans[j][2]])
                    call = f"_draDomain({base}, {inner})"
                    out.append(expression[pos:start] + (f"optional.of({call})" if nxt[1] == "[?" else call))
                    pos = spans[j][3]
                    i = j + 1
                    continue
            elif nxt[1] in (".", ".?") and i + 4 < n and spans[i + 4][0] == "ident" \
                    and (i + 5 >= n or spans[i + 5][1] != "("):
                call = f'_draDomain({base}, "{spans[i + 4][1]}")'
                out.append(expression[pos:start] + (f"optional.of({call})" if nxt[1] == ".?" else call))
                pos = spans[i + 4][3]
                i += 5
                continue
        i += 1
    out.append(expression[pos:])
    return "".join(out)


def prunable_keys(expression: str) -> frozenset[str] | None:
    """The attribute/capacity ids an expression can observe, or None when it may observe more.

    When every use of ``device.attributes`` / ``device.capacity`` is a domain lookup followed by a
    literal key lookup (``.id``, ``.?id``, ``["id"]``, ``[?"id"]``, or ``"id" in …``) — never the
    whole map (``size()``, macros, ``cel.bind``, comparisons) — then ids the expression does not
    name cannot change its result, and evaluation may leave them out of the activation. The set
    is every identifier and string literal of the expression (a superset of the ids it reads).
    """
    toks = _tokens(expression)
    if any(kind == "op" and text in ('"', "'", "\\", "`") for kind, text in toks):
        return None  # a literal this tokenizer does not follow: assume the worst
    n = len(toks)

    def at(i: int) -> tuple[str, str]:
        return toks[i] if 0 <= i < n else ("", "")

    def lookup(i: int, *, domain: bool) -> int | None:
        """Index after a literal lookup starting at ``i`` (domain: also ``[device.driver]``), else None."""
        kind, text = at(i)
        if (kind, text) in (("op", "."), ("op", ".?")):
            if at(i + 1)[0] == "ident" and at(i + 2) != ("op", "("):
                return i + 2
            return None
        if (kind, text) in (("op", "["), ("op", "[?")):
            if at(i + 1)[0] == "str" and at(i + 2) == ("op", "]"):
                return i + 3
            if domain and [t for t in toks[i + 1 : i + 5]] == [("ident", "device"), ("op", "."), ("ident", "driver"), ("op", "]")]:
                return i + 5
        return None

    for i, (kind, text) in enumerate(toks):
        if kind != "ident" or text != "device" or at(i - 1) in (("op", "."), ("op", ".?")):
            continue
        if at(i + 1) != ("op", ".") or at(i + 2)[0] != "ident" or at(i + 2)[1] not in DEVICE_FIELDS:
            return None
        if at(i + 2)[1] not in ("attributes", "capacity"):
            continue
        # `x in device.attributes`: membership of a domain (domains are never left out)
        lhs_is_literal_in = at(i - 1) == ("ident", "in") and at(i - 2)[0] == "str" and at(i - 3)[1] in _OPENERS
        after_domain = lookup(i + 3, domain=True)
        if after_domain is None:
            if at(i - 1) == ("ident", "in") and at(i + 3) not in (("op", "."), ("op", ".?"), ("op", "["), ("op", "[?")):
                continue
            return None
        if lookup(after_domain, domain=False) is not None:
            continue
        if lhs_is_literal_in and at(after_domain) not in (("op", "."), ("op", ".?"), ("op", "["), ("op", "[?")):
            continue  # `"id" in device.attributes["d"]`
        return None
    return frozenset(text for kind, text in toks if kind in ("ident", "str"))


def _cel_type_name(name: str) -> str:
    """cel-cpp type names (``MAP<STRING, INT>``) as cel-go prints them (``map(string, int)``)."""
    s = name.lower().replace("<", "(").replace(">", ")")
    return re.sub(r"\bnull\b", "null_type", s)


# ------------------------------------------------------------------- programs

_NOT_FOUND_RE = re.compile(r'Key not found in map\s*:\s*"?(.*?)"?\s*$', re.DOTALL)
_STATUS_RE = re.compile(r"^[A-Z_]+: ")
_NO_OVERLOAD_RE = re.compile(r"^No matching overloads found\s*:?\s*", re.IGNORECASE)


def _error_text(message: str) -> str:
    """The engine's error message in Kubernetes (cel-go) words."""
    msg = _STATUS_RE.sub("", str(message), count=1)
    m = _NOT_FOUND_RE.search(msg)
    if m:
        return f"no such key: {m.group(1)}"
    if _NO_OVERLOAD_RE.match(msg):
        detail = _NO_OVERLOAD_RE.sub("", msg)
        return f"no such overload: {detail}" if detail else "no such overload"
    return msg


def _missing_key(message: str) -> str | None:
    m = _NOT_FOUND_RE.search(str(message))
    return m.group(1) if m else None


_SPLIT: dict[str, tuple[str, str]] = {}


def _split(qualified: str) -> tuple[str, str]:
    """(domain, id) of a fully-qualified name, cached: names repeat across devices."""
    parts = _SPLIT.get(qualified)
    if parts is None:
        domain, _, ident = qualified.rpartition("/")
        parts = (domain, ident)
        if len(_SPLIT) > 65536:
            _SPLIT.clear()
        _SPLIT[qualified] = parts
    return parts


class _BadDevice(Exception):
    pass


def _version(qualified: str, text: Any) -> dict[str, str]:
    tag = library.version_value(text) if isinstance(text, str) else None
    if tag is None:
        raise _BadDevice(
            f"attribute {qualified}: parse semantic version: invalid version {text!r}"
        )
    return tag


def activation_data(device: Device) -> dict[str, Any]:
    """The ``device`` variable exactly as Kubernetes builds it (without unknown-domain defaults)."""
    attrs: dict[str, dict[str, Any]] = {}
    kinds = device.attribute_kinds
    split = _split
    for qualified, value in device.attributes.items():
        if kinds:
            kind = kinds.get(qualified)
            if kind == "version":
                value = _version(qualified, value)
            elif kind == "versions":
                value = [_version(qualified, v) for v in value]
        if type(value) is tuple:
            value = list(value)
        domain, ident = split(qualified)
        inner = attrs.get(domain)
        if inner is None:
            attrs[domain] = inner = {}
        inner[ident] = value
    capacity: dict[str, dict[str, Any]] = {}
    quantity = library.quantity_value
    for qualified, text in device.capacity.items():
        try:
            tag = quantity(text)
        except (ValueError, TypeError) as e:
            raise _BadDevice(f"capacity {qualified}: {e}") from None
        domain, ident = split(qualified)
        inner = capacity.get(domain)
        if inner is None:
            capacity[domain] = inner = {}
        inner[ident] = tag
    return {
        "driver": device.driver,
        "attributes": attrs,
        "capacity": capacity,
        "allowMultipleAllocations": bool(device.allow_multiple_allocations),
    }


class Program:
    """A compiled selector. Thread-safe for evaluation; build with :func:`compile`."""

    __slots__ = ("_domains", "_env", "_expr", "_fill", "_is_bool", "_keys", "_membership", "_optional", "_runtime",
                 "_seen", "expression")

    def __init__(
        self,
        expression: str,
        expr: Any,
        env: Any,
        domains: frozenset[str],
        is_bool: bool,
        runtime: str | None = None,
    ) -> None:
        self.expression = expression
        self._runtime = runtime if runtime is not None else expression  # the text that runs (renamed calls)
        self._expr = expr
        self._env = env
        self._domains = domains
        self._is_bool = is_bool
        self._keys = prunable_keys(expression)
        # `device.attributes[?"d"]` is a present (empty) map upstream for any domain: evaluate with the
        # expression's domains always filled in
        # filling in absent domains is exact only while the maps are never used as a whole
        self._fill = not whole_map_use(expression)
        self._optional = self._fill and bool(_OPTIONAL_DOMAIN_RE.search(expression))
        self._membership: Any = False  # the _membership_rewrite program, compiled on first need
        # results per device object, for callers that evaluate one selector over the same devices
        # again (explain's simulation and lint): id -> (device, result); the device is kept so
        # its id cannot be reused while the entry lives
        self._seen: dict[int, tuple[Any, Result]] = {}

    def __repr__(self) -> str:
        return f"Program({self.expression!r})"

    # ----------------------------------------------------------- evaluation

    def _prefilled(self, data: dict[str, Any], key: str) -> dict[str, Any] | None:
        """``data`` with empty maps for absent domains, or None when that changes nothing."""
        domains = self._domains | {data["driver"]}
        if key is not None and key not in domains:
            return None
        attrs, caps = data["attributes"], data["capacity"]
        extra_a = [d for d in domains if d not in attrs]
        extra_c = [d for d in domains if d not in caps]
        if not extra_a and not extra_c:
            return None
        filled = dict(data)
        filled["attributes"] = {**attrs, **{d: {} for d in extra_a}}
        filled["capacity"] = {**caps, **{d: {} for d in extra_c}}
        return filled

    def _membership_program(self, env: Any) -> Any:
        if self._membership is False:
            text = _membership_rewrite(self._runtime)
            try:
                self._membership = env.compile(text, disable_check=True) if text is not None else None
            except RuntimeError:  # pragma: no cover - the rewrite only renames a field
                self._membership = None
        return self._membership

    def _result(self, value: Any, cel: Any) -> tuple[Result, str | None]:
        """(Result, missing key if the error is a map miss)."""
        t = value.type()
        if t == cel.Type.BOOL:
            return (TRUE if value.value() else FALSE), None
        if t == cel.Type.ERROR:
            msg = str(value.value())
            return Result(None, _error_text(msg)), _missing_key(msg)
        return Result(
            None,
            f"CEL result of type {_cel_type_name(t.name())} could not be converted to bool",
        ), None

    def _run(self, data: dict[str, Any], activation: Any | None = None) -> Result:
        cel, env = _engine()
        if self._optional:
            filled = self._run_filled(data, cel, env)
            if filled is not None:
                return filled
        if activation is None:
            activation = env.Activation({"device": data})
        result, missing = self._result(self._expr.eval(activation), cel)
        if result.error is not None and self._fill:
            # Kubernetes reads an unknown domain as an empty map; the engine cannot default a map
            # lookup. Any error (a missing key, or one in the other operand of && / ||) may come from
            # a domain the device lacks: rerun with the expression's domains present
            filled = self._run_filled(data, cel, env)
            if filled is not None:
                result = filled
        return result

    def _run_filled(self, data: dict[str, Any], cel: Any, env: Any) -> Result | None:
        """Evaluate with the expression's domains present (absent ones as empty maps); None when
        nothing needs filling. Membership tests see the device's real domains."""
        filled = self._prefilled(data, None)
        if filled is None:
            return None
        expr = self._expr
        membership = self._membership_program(env)
        if membership is not None:
            expr = membership
            filled["draAttributeDomains"] = list(data["attributes"])
            filled["draCapacityDomains"] = list(data["capacity"])
        return self._result(expr.eval(env.Activation({"device": filled})), cel)[0]

    def evaluate(self, device: Device) -> Result:
        """Evaluate for one device; never raises for a runtime error (see ``Result.error``)."""
        try:
            data = activation_data(device)
        except _BadDevice as e:
            return Result(None, str(e))
        return self._run(data)

    def matches(self, device: Device) -> bool:
        """True/False, or CelRuntimeError for a runtime error."""
        result = self.evaluate(device)
        if result.error is not None:
            raise CelRuntimeError(f"CEL runtime error: {result.error}")
        return bool(result.matched)

    def evaluate_many(self, devices: Iterable[Device]) -> list[Result]:
        """Evaluate for many devices (the program compiled once).

        When the expression only reads attributes/capacities by literal name (:func:`prunable_keys`),
        each device is reduced to what the expression can observe — driver, the domains present,
        the named ids with their kinds — and devices that look alike share one evaluation: a
        cluster of identical GPUs costs a handful of evaluations, not one per device.
        """
        devices = devices if isinstance(devices, list) else list(devices)
        seen = self._seen
        if not seen:
            results = self._evaluate_fresh(devices)
        else:
            get = seen.get
            results = [None] * len(devices)
            missing = []
            for i, d in enumerate(devices):
                hit = get(id(d))
                if hit is not None and hit[0] is d:
                    results[i] = hit[1]
                else:
                    missing.append(i)
            if not missing:
                return results  # type: ignore[return-value]
            fresh = self._evaluate_fresh([devices[i] for i in missing])
            for i, r in zip(missing, fresh):
                results[i] = r
        if len(seen) > 200_000:
            seen.clear()
        for d, r in zip(devices, results):
            seen[id(d)] = (d, r)
        return results  # type: ignore[return-value]

    def _evaluate_fresh(self, devices: list[Device]) -> list[Result]:
        if self._keys is None:
            return self._evaluate_each(devices)
        keys = self._keys
        memo: dict[tuple, Result] = {}
        out: list[Result] = []
        append = out.append
        split = _split
        for device in devices:
            kinds = device.attribute_kinds
            seen_a: list = []
            domains_a: set[str] = set()
            try:
                for qualified, value in device.attributes.items():
                    domain, ident = split(qualified)
                    domains_a.add(domain)
                    kind = kinds.get(qualified) if kinds else None
                    if kind == "version":
                        _version(qualified, value)  # Kubernetes parses every version, named or not
                    elif kind == "versions":
                        for v in value:
                            _version(qualified, v)
                    if ident in keys:
                        seen_a.append((qualified, value, kind))
                seen_c: list = []
                domains_c: set[str] = set()
                for qualified, text in device.capacity.items():
                    domain, ident = split(qualified)
                    domains_c.add(domain)
                    try:
                        library.quantity_value(text)
                    except (ValueError, TypeError) as e:
                        raise _BadDevice(f"capacity {qualified}: {e}") from None
                    if ident in keys:
                        seen_c.append((qualified, text))
            except _BadDevice as e:
                append(Result(None, str(e)))
                continue
            key = (device.driver, bool(device.allow_multiple_allocations), tuple(seen_a), frozenset(domains_a),
                   tuple(seen_c), frozenset(domains_c))
            try:
                result = memo.get(key)
            except TypeError:  # an unhashable value (e.g. a list inside a list): no sharing for this one
                append(self.evaluate(device))
                continue
            if result is None:
                result = memo[key] = self._evaluate_pruned(device, seen_a, domains_a, seen_c, domains_c)
            append(result)
        return out

    def _evaluate_pruned(self, device: Device, seen_a, domains_a, seen_c, domains_c) -> Result:
        """Evaluate with only the named ids in the activation (domains all present)."""
        attrs: dict[str, dict[str, Any]] = {d: {} for d in domains_a}
        for qualified, value, kind in seen_a:
            if kind == "version":
                value = _version(qualified, value)
            elif kind == "versions":
                value = [_version(qualified, v) for v in value]
            elif type(value) is tuple:
                value = list(value)
            domain, ident = _split(qualified)
            attrs[domain][ident] = value
        capacity: dict[str, dict[str, Any]] = {d: {} for d in domains_c}
        for qualified, text in seen_c:
            domain, ident = _split(qualified)
            capacity[domain][ident] = library.quantity_value(text)
        data = {
            "driver": device.driver,
            "attributes": attrs,
            "capacity": capacity,
            "allowMultipleAllocations": bool(device.allow_multiple_allocations),
        }
        try:
            return self._run(data)
        except _BadDevice as e:  # pragma: no cover - versions were checked while keying
            return Result(None, str(e))

    def _evaluate_each(self, devices: Iterable[Device]) -> list[Result]:
        """One evaluation per device, with the full activation."""
        cel, env = _engine()
        new_activation = env.Activation
        evaluate = self._expr.eval
        bool_t, error_t = cel.Type.BOOL, cel.Type.ERROR
        out: list[Result] = []
        append = out.append
        for device in devices:
            try:
                data = activation_data(device)
            except _BadDevice as e:
                append(Result(None, str(e)))
                continue
            if self._optional:
                append(self._run(data))
                continue
            value = evaluate(new_activation({"device": data}))
            t = value.type()
            if t == bool_t:
                append(TRUE if value.value() else FALSE)
            elif t == error_t:
                append(self._run(data))  # slow path: retries, error text
            else:
                append(self._result(value, cel)[0])
        return out

    def filter(self, devices: Iterable[Device]) -> list[Device]:
        """The devices that match (errors count as no match)."""
        devices = list(devices)
        return [d for d, r in zip(devices, self.evaluate_many(devices)) if r.matched]


# -------------------------------------------------------------------- compile

_cache: dict[str, Program] = {}
_CACHE_MAX = 1024


def compile(expression: str) -> Program:
    """Compile a device selector (cached by text). Raises CelCompileError."""
    program = _cache.get(expression)
    if program is not None:
        return program
    program = _compile(expression)
    with _lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[expression] = program
    return program


def _runtime_text(expression: str, renames: list[tuple[int, int, str]] = ()) -> str:
    out = expression
    for start, length, name in sorted(renames, reverse=True):
        out = out[:start] + name + out[start + length:]
    return out


def _compile(expression: str) -> Program:
    if not isinstance(expression, str):
        raise CelCompileError(
            f"CEL expression must be a string, not {type(expression).__name__}"
        )
    size = len(expression.encode("utf-8"))
    if size > MAX_EXPRESSION_LENGTH:
        raise CelCompileError(
            f"CEL expression too long: {size} bytes, may not be more than {MAX_EXPRESSION_LENGTH} bytes"
        )
    literals, blanked = _string_literals(expression)
    cel, env = _engine()
    try:
        verdict = checker.check(expression, _blank_same_width(expression))
    except checker.CheckError as e:
        raise CelCompileError(e.message if e.full else f"compilation failed: {e.message}") from None
    output = verdict.output
    # cel.CompileCELExpression: bool or the unknown type (google.protobuf.Any: an attribute's value)
    if output not in (("prim", "bool"), ("wk", "any")):
        raise CelCompileError(
            f"must evaluate to bool or the unknown type, not {checker.format_type(output)}"
        )
    runtime = _runtime_text(expression, verdict.renames)
    if whole_map_use(runtime):
        runtime = domain_call_rewrite(runtime)
    try:
        expr = env.compile(runtime, disable_check=True)
    except RuntimeError as e:  # pragma: no cover - the checker accepted it
        msg = _STATUS_RE.sub("", str(e), count=1)
        msg = re.sub(r"\s*\[INVALID_ARGUMENT\]\s*$", "", msg)
        raise CelCompileError(f"compilation failed: {msg}") from None
    return Program(expression, expr, env, frozenset(literals), output == ("prim", "bool"), runtime)


def _blank_same_width(expression: str) -> str:
    """The expression with every string literal's content replaced by spaces (same offsets)."""
    return _STRING_RE.sub(lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], expression)
