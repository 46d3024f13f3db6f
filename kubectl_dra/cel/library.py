"""The Kubernetes CEL ``quantity`` and ``semver`` libraries on top of our model.

cel-expr-python 0.1.3 cannot hand Python objects (or opaque ``AbstractType`` values)
to CEL, so a quantity or a version travels through CEL as a *tagged map*:

* quantity: ``{"__q": "<mantissa>e<exponent>"}`` with the value's normalised exact
  mantissa/exponent (no trailing zeros in the mantissa).  Equal values give equal
  tags, so CEL's structural map ``==`` is Kubernetes' semantic ``Quantity.Equal``:
  ``quantity("1Gi") == quantity("1024Mi")``.
* semver: ``{"__semver": "<major>.<minor>.<patch>[-<pre>]"}`` without build metadata,
  which is exactly what SemVer precedence (and Kubernetes' ``Semver.Equal``) compares.

Every library function checks its receiver/argument tags and raises
``no such overload`` otherwise (e.g. ``quantity("1").compareTo(semver("1.0.0"))``),
which the engine turns into a CEL error value.

Deviation from Go: a quantity's internal form is not part of the tag, so
``isInteger()``/``asInteger()`` answer from the value (whole and within int64):
Go answers ``false`` for ``quantity("1.0")`` and ``quantity("1000m")``, we ``true``.
"""

from __future__ import annotations

from typing import Any

from kubectl_dra.model.quantity import Quantity, QuantityError
from kubectl_dra.model.semver import Version, VersionError

Q_TAG = "__q"
V_TAG = "__semver"

NO_SUCH_OVERLOAD = "no such overload"

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


class CelLibraryError(ValueError):
    """Raised inside a library function; the engine reports it as a CEL error value."""


# ----------------------------------------------------------------- quantities


def quantity_tag(q: Quantity) -> dict[str, str]:
    return {Q_TAG: f"{q._m}e{q._e}"}


_Q_TAGS: dict[str, dict[str, str]] = {}


def quantity_value(text: str) -> dict[str, str]:
    """Tag of a quantity string (device capacity), cached: capacities repeat a lot."""
    tag = _Q_TAGS.get(text)
    if tag is None:
        tag = quantity_tag(Quantity.parse(text))
        if len(_Q_TAGS) > 4096:
            _Q_TAGS.clear()
        _Q_TAGS[text] = tag
    return tag


def _tagged(value: Any, tag: str) -> str:
    """The text inside a tagged value (``{tag: text}``); no such overload for anything else."""
    if type(value) is dict and len(value) == 1:
        s = value.get(tag)
        if type(s) is str:
            return s
    raise CelLibraryError(NO_SUCH_OVERLOAD)


def _q(value: Any) -> Quantity:
    return Quantity.parse(_tagged(value, Q_TAG))


def _v(value: Any) -> Version:
    return Version.parse(_tagged(value, V_TAG))


def fn_quantity(s: str) -> dict[str, str]:
    try:
        return quantity_tag(Quantity.parse(s))
    except QuantityError as e:
        raise CelLibraryError(str(e)) from None


def fn_is_quantity(s: str) -> bool:
    return Quantity.is_valid(s)


def _whole_int64(q: Quantity) -> int | None:
    if not q.is_integer():
        return None
    v = q.value
    n = int(v)
    return n if _INT64_MIN <= n <= _INT64_MAX else None


def fn_is_integer(a: Any) -> bool:
    return _whole_int64(_q(a)) is not None


def fn_as_integer(a: Any) -> int:
    n = _whole_int64(_q(a))
    if n is None:
        raise CelLibraryError("cannot convert value to integer")
    return n


def fn_as_approximate_float(a: Any) -> float:
    return float(_q(a).value)


def fn_sign(a: Any) -> int:
    return _q(a).sign()


def fn_add(a: Any, b: Any) -> dict[str, str]:
    return quantity_tag(_q(a).add(b if type(b) is int else _q(b)))


def fn_sub(a: Any, b: Any) -> dict[str, str]:
    return quantity_tag(_q(a).sub(b if type(b) is int else _q(b)))


# ------------------------------------------------------------------- versions


def version_tag(v: Version) -> dict[str, str]:
    s = f"{v.major}.{v.minor}.{v.patch}"
    if v.prerelease:
        s += "-" + ".".join(str(i) for i in v.prerelease)
    return {V_TAG: s}


_V_TAGS: dict[str, dict[str, str]] = {}


def version_value(text: str) -> dict[str, str] | None:
    """Tag of a version attribute (strict SemVer); None if the published string is invalid."""
    tag = _V_TAGS.get(text)
    if tag is None:
        try:
            tag = version_tag(Version.parse(text))
        except VersionError:
            return None
        if len(_V_TAGS) > 4096:
            _V_TAGS.clear()
        _V_TAGS[text] = tag
    return tag


def fn_semver(s: str, normalize: bool = False) -> dict[str, str]:
    try:
        return version_tag(Version.parse(s, normalize))
    except VersionError as e:
        raise CelLibraryError(str(e)) from None


def fn_is_semver(s: str, normalize: bool = False) -> bool:
    return Version.is_valid(s, normalize)


def _uint_as_int(n: int) -> int:
    if n > _INT64_MAX:
        raise CelLibraryError("integer overflow")
    return n


def fn_major(a: Any) -> int:
    return _uint_as_int(_v(a).major)


def fn_minor(a: Any) -> int:
    return _uint_as_int(_v(a).minor)


def fn_patch(a: Any) -> int:
    return _uint_as_int(_v(a).patch)


# ------------------------------------------------------- shared comparisons


def fn_compare_to(a: Any, b: Any) -> int:
    if type(a) is dict and type(b) is dict:
        if Q_TAG in a and Q_TAG in b:
            return _q(a).cmp(_q(b))
        if V_TAG in a and V_TAG in b:
            return _v(a).cmp(_v(b))
    raise CelLibraryError(NO_SUCH_OVERLOAD)


def fn_is_greater_than(a: Any, b: Any) -> bool:
    return fn_compare_to(a, b) > 0


def fn_is_less_than(a: Any, b: Any) -> bool:
    return fn_compare_to(a, b) < 0


def function_decls(cel: Any) -> list[Any]:
    """The FunctionDecls of both libraries for ``cel.NewEnv(functions=...)``."""
    T = cel.Type
    MAP = T.Map(T.STRING, T.DYN)

    def glob(name: str, *overloads: tuple[str, Any, list, Any]) -> Any:
        return cel.FunctionDecl(
            name,
            [
                cel.Overload(oid, ret, params, impl=impl)
                for oid, ret, params, impl in overloads
            ],
        )

    def member(name: str, *overloads: tuple[str, Any, list, Any]) -> Any:
        return cel.FunctionDecl(
            name,
            [
                cel.Overload(oid, ret, params, is_member=True, impl=impl)
                for oid, ret, params, impl in overloads
            ],
        )

    return [
        glob("quantity", ("quantity_string", MAP, [T.STRING], fn_quantity)),
        glob("isQuantity", ("is_quantity_string", T.BOOL, [T.STRING], fn_is_quantity)),
        glob(
            "semver",
            ("semver_string", MAP, [T.STRING], fn_semver),
            ("semver_string_bool", MAP, [T.STRING, T.BOOL], fn_semver),
        ),
        glob(
            "isSemver",
            ("is_semver_string", T.BOOL, [T.STRING], fn_is_semver),
            ("is_semver_string_bool", T.BOOL, [T.STRING, T.BOOL], fn_is_semver),
        ),
        member("isInteger", ("quantity_is_integer", T.BOOL, [MAP], fn_is_integer)),
        member("asInteger", ("quantity_as_integer", T.INT, [MAP], fn_as_integer)),
        member(
            "asApproximateFloat",
            ("quantity_as_float", T.DOUBLE, [MAP], fn_as_approximate_float),
        ),
        glob("sign", ("quantity_sign", T.INT, [MAP], fn_sign)),
        member(
            "add",
            ("quantity_add", MAP, [MAP, MAP], fn_add),
            ("quantity_add_int", MAP, [MAP, T.INT], fn_add),
        ),
        member(
            "sub",
            ("quantity_sub", MAP, [MAP, MAP], fn_sub),
            ("quantity_sub_int", MAP, [MAP, T.INT], fn_sub),
        ),
        member("major", ("semver_major", T.INT, [MAP], fn_major)),
        member("minor", ("semver_minor", T.INT, [MAP], fn_minor)),
        member("patch", ("semver_patch", T.INT, [MAP], fn_patch)),
        member("compareTo", ("k8s_compare_to", T.INT, [MAP, MAP], fn_compare_to)),
        member(
            "isGreaterThan",
            ("k8s_is_greater_than", T.BOOL, [MAP, MAP], fn_is_greater_than),
        ),
        member("isLessThan", ("k8s_is_less_than", T.BOOL, [MAP, MAP], fn_is_less_than)),
    ]


# ------------------------------------------------------- the check environment's declarations


def QUANTITY_TYPE(cel: Any) -> Any:
    return cel.Type.AbstractType("kubernetes.Quantity")


def SEMVER_TYPE(cel: Any) -> Any:
    return cel.Type.AbstractType("kubernetes.Semver")


def check_decls(cel: Any) -> list[Any]:
    """Typed declarations (no implementations) of what the Kubernetes 1.36 environment adds to CEL's
    standard library, for type checking only (kubectl_dra.cel.checker): the strings extension at
    version 2, the quantity and semver libraries, the Kubernetes lists and regex libraries, the sets
    extension and the lists extension at version 3 (its functions; ``sortBy`` is a macro)."""
    T = cel.Type
    Q, V = QUANTITY_TYPE(cel), SEMVER_TYPE(cel)
    S, I, B, D, U = T.STRING, T.INT, T.BOOL, T.DOUBLE, T.UINT
    LS = T.List(S)
    # cel-expr-python cannot declare type parameters (list(A)): a generic function gets one overload per
    # element type instead, so that mixed calls such as sets.contains([1], ["a"]) find no overload
    elems = (("int", I), ("uint", U), ("double", D), ("bool", B), ("string", S), ("bytes", T.BYTES),
             ("duration", T.DURATION), ("timestamp", T.TIMESTAMP), ("null", T.NULL), ("quantity", Q),
             ("semver", V), ("list", T.List(T.DYN)), ("map", T.Map(T.DYN, T.DYN)))

    def per_elem(oid: str, ret, params, member: bool):
        """Overloads of a generic signature; ret/params are callables of the element type."""
        return tuple((f"{oid}_{n}", ret(t), [p(t) for p in params], member) for n, t in elems)

    def fn(name: str, *overloads: tuple[str, Any, list, bool]) -> Any:
        return cel.FunctionDecl(name, [cel.Overload(oid, ret, params, is_member=member) for oid, ret, params, member in overloads])

    comparable = (("int", I), ("uint", U), ("double", D), ("bool", B), ("string", S), ("bytes", T.BYTES),
                  ("duration", T.DURATION), ("timestamp", T.TIMESTAMP))
    summable = (("int", I), ("uint", U), ("double", D), ("duration", T.DURATION))
    return [
        # strings extension, version 2
        fn("charAt", ("string_char_at_int", S, [S, I], True)),
        fn("indexOf", ("string_index_of_string", I, [S, S], True), ("string_index_of_string_int", I, [S, S, I], True),
           *per_elem("list_index_of", lambda t: I, [T.List, lambda t: t], True)),
        fn("lastIndexOf", ("string_last_index_of_string", I, [S, S], True),
           ("string_last_index_of_string_int", I, [S, S, I], True),
           *per_elem("list_last_index_of", lambda t: I, [T.List, lambda t: t], True)),
        fn("lowerAscii", ("string_lower_ascii", S, [S], True)),
        fn("upperAscii", ("string_upper_ascii", S, [S], True)),
        fn("replace", ("string_replace_string_string", S, [S, S, S], True),
           ("string_replace_string_string_int", S, [S, S, S, I], True)),
        fn("split", ("string_split_string", LS, [S, S], True), ("string_split_string_int", LS, [S, S, I], True)),
        fn("substring", ("string_substring_int", S, [S, I], True), ("string_substring_int_int", S, [S, I, I], True)),
        fn("trim", ("string_trim", S, [S], True)),
        fn("join", ("list_join", S, [LS], True), ("list_join_string", S, [LS, S], True)),
        fn("strings.quote", ("strings_quote", S, [S], False)),
        fn("format", ("string_format", S, [S, T.List(T.DYN)], True)),
        # quantity
        fn("quantity", ("string_to_quantity", Q, [S], False)),
        fn("isQuantity", ("is_quantity_string", B, [S], False)),
        fn("isInteger", ("quantity_is_integer", B, [Q], True)),
        fn("asInteger", ("quantity_as_integer", I, [Q], True)),
        fn("asApproximateFloat", ("quantity_as_float", D, [Q], True)),
        fn("sign", ("quantity_sign", I, [Q], False)),  # a global function: sign(q), not q.sign()
        fn("add", ("quantity_add", Q, [Q, Q], True), ("quantity_add_int", Q, [Q, I], True)),
        fn("sub", ("quantity_sub", Q, [Q, Q], True), ("quantity_sub_int", Q, [Q, I], True)),
        # semver (version 1)
        fn("semver", ("string_to_semver", V, [S], False), ("string_bool_to_semver", V, [S, B], False)),
        fn("isSemver", ("is_semver_string", B, [S], False), ("is_semver_string_bool", B, [S, B], False)),
        fn("major", ("semver_major", I, [V], True)),
        fn("minor", ("semver_minor", I, [V], True)),
        fn("patch", ("semver_patch", I, [V], True)),
        fn("isGreaterThan", ("quantity_is_greater_than", B, [Q, Q], True), ("semver_is_greater_than", B, [V, V], True)),
        fn("isLessThan", ("quantity_is_less_than", B, [Q, Q], True), ("semver_is_less_than", B, [V, V], True)),
        fn("compareTo", ("quantity_compare_to", I, [Q, Q], True), ("semver_compare_to", I, [V, V], True)),
        # Kubernetes lists library
        fn("isSorted", *((f"list_{n}_is_sorted", B, [T.List(t)], True) for n, t in comparable)),
        fn("sum", *((f"list_{n}_sum", t, [T.List(t)], True) for n, t in summable)),
        fn("min", *((f"list_{n}_min", t, [T.List(t)], True) for n, t in comparable)),
        fn("max", *((f"list_{n}_max", t, [T.List(t)], True) for n, t in comparable)),
        # Kubernetes regex library
        fn("find", ("string_find_string", S, [S, S], True)),
        fn("findAll", ("string_find_all_string", LS, [S, S], True), ("string_find_all_string_int", LS, [S, S, I], True)),
        # sets extension
        fn("sets.contains", *per_elem("list_sets_contains_list", lambda t: B, [T.List, T.List], False)),
        fn("sets.equivalent", *per_elem("list_sets_equivalent_list", lambda t: B, [T.List, T.List], False)),
        fn("sets.intersects", *per_elem("list_sets_intersects_list", lambda t: B, [T.List, T.List], False)),
        # lists extension, version 3
        fn("lists.range", ("lists_range", T.List(I), [I], False)),
        fn("slice", *per_elem("list_slice", T.List, [T.List, lambda t: I, lambda t: I], True)),
        fn("flatten", *per_elem("list_flatten", T.List, [lambda t: T.List(T.List(t))], True),
           ("list_flatten_depth", T.List(T.DYN), [T.List(T.DYN), I], True)),
        fn("distinct", *per_elem("list_distinct", T.List, [T.List], True)),
        fn("reverse", *per_elem("list_reverse", T.List, [T.List], True)),
        fn("sort", *((f"list_{n}_sort", T.List(t), [T.List(t)], True) for n, t in comparable)),
        # first() and last() come with cel-cpp's optional extension
    ]


# ------------------------------------------------------- extension functions at run time


def cel_equal(a: Any, b: Any) -> bool:
    """CEL's heterogeneous equality on plain Python values (bools are not numbers; numbers compare by value)."""
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num):
        return a == b
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(cel_equal(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(cel_equal(a[k], b[k]) for k in a)
    return a == b


def _contains(items: list, x: Any) -> bool:
    return any(cel_equal(i, x) for i in items)


def fn_sets_contains(a: list, b: list) -> bool:
    return all(_contains(a, x) for x in b)


def fn_sets_equivalent(a: list, b: list) -> bool:
    return fn_sets_contains(a, b) and fn_sets_contains(b, a)


def fn_sets_intersects(a: list, b: list) -> bool:
    return any(_contains(a, x) for x in b)


def _ordered(items: list) -> list:
    if any(x is None or type(x) in (dict, list) for x in items):
        raise CelLibraryError("list elements must be comparable")
    return items


def fn_is_sorted(items: list) -> bool:
    items = _ordered(list(items))
    return all(not (items[i + 1] < items[i]) for i in range(len(items) - 1))


def fn_sum(items: list) -> Any:
    total: Any = 0
    if items and isinstance(items[0], float):
        total = 0.0
    for x in items:
        total += x
    if type(total) is int and not (_INT64_MIN <= total <= _INT64_MAX):
        raise CelLibraryError("integer overflow")
    return total


def fn_min(items: list) -> Any:
    if not items:
        raise CelLibraryError("min(list) argument must not be empty")
    return min(_ordered(list(items)))


def fn_max(items: list) -> Any:
    if not items:
        raise CelLibraryError("max(list) argument must not be empty")
    return max(_ordered(list(items)))


def fn_list_index_of(items: list, x: Any) -> int:
    return next((i for i, v in enumerate(items) if cel_equal(v, x)), -1)


def fn_list_last_index_of(items: list, x: Any) -> int:
    return next((i for i in range(len(items) - 1, -1, -1) if cel_equal(items[i], x)), -1)


def _py_regex(pattern: str):
    import re

    try:
        return re.compile(pattern)
    except re.error as e:
        raise CelLibraryError(f"error parsing regexp: {e}") from None


def fn_find(s: str, pattern: str) -> str:
    m = _py_regex(pattern).search(s)
    return m.group(0) if m else ""


def fn_find_all(s: str, pattern: str, limit: int = -1) -> list:
    if limit == 0:
        return []
    out = [m.group(0) for m in _py_regex(pattern).finditer(s)]
    return out if limit < 0 else out[:limit]


def fn_lists_range(n: int) -> list:
    return list(range(n))


def fn_slice(items: list, start: int, end: int) -> list:
    if start < 0 or end < 0:
        raise CelLibraryError(f"cannot slice({start}, {end}), negative indexes not supported")
    if start > end:
        raise CelLibraryError(f"cannot slice({start}, {end}), start index must be less than or equal to end index")
    if len(items) < end:
        raise CelLibraryError(f"cannot slice({start}, {end}), list is length {len(items)}")
    return list(items[start:end])


def fn_flatten(items: list, depth: int = 1) -> list:
    if depth < 0:
        raise CelLibraryError("level must be non-negative")
    out: list = []
    for x in items:
        if type(x) is list and depth > 0:
            out.extend(fn_flatten(x, depth - 1))
        else:
            out.append(x)
    return out


def fn_distinct(items: list) -> list:
    out: list = []
    for x in items:
        if not _contains(out, x):
            out.append(x)
    return out


def fn_reverse(items: list) -> list:
    return list(reversed(items))


def fn_sort(items: list) -> list:
    return sorted(_ordered(list(items)))


#: names the runtime uses for the lists library's indexOf/lastIndexOf (the strings extension owns the
#: names there); kubectl_dra.cel renames list calls in the text it runs, at the checked positions
LIST_INDEX_OF = "_lidxOf"
LIST_LAST_INDEX_OF = "_lLastIdxOf"
SUBSTRING = "_substrng"


def fn_substring(s: str, start: int, end: int | None = None) -> str:
    """cel-go's strings extension substring (code points; end exclusive, may equal the length)."""
    n = len(s)
    if end is None:
        if start < 0 or start > n:
            raise CelLibraryError(f"index out of range: {start}")
        return s[start:]
    if start < 0 or start > n:
        raise CelLibraryError(f"index out of range: {start}")
    if end < 0 or end > n:
        raise CelLibraryError(f"index out of range: {end}")
    if start > end:
        raise CelLibraryError(f"invalid substring range. start: {start}, end: {end}")
    return s[start:end]


def runtime_decls(cel: Any) -> list[Any]:
    """FunctionDecls with implementations for the runtime environment (see check_decls)."""
    T = cel.Type
    L, S, I, B = T.LIST, T.STRING, T.INT, T.BOOL
    elems = (T.INT, T.UINT, T.DOUBLE, T.STRING, T.BOOL, T.BYTES, T.LIST, T.MAP, T.NULL)

    def glob(name: str, *overloads: tuple[str, Any, list, Any]) -> Any:
        return cel.FunctionDecl(name, [cel.Overload(oid, ret, params, impl=impl) for oid, ret, params, impl in overloads])

    def member(name: str, *overloads: tuple[str, Any, list, Any]) -> Any:
        return cel.FunctionDecl(
            name, [cel.Overload(oid, ret, params, is_member=True, impl=impl) for oid, ret, params, impl in overloads])

    return [
        glob("sets.contains", ("sets_contains", B, [L, L], fn_sets_contains)),
        glob("sets.equivalent", ("sets_equivalent", B, [L, L], fn_sets_equivalent)),
        glob("sets.intersects", ("sets_intersects", B, [L, L], fn_sets_intersects)),
        member("isSorted", ("list_is_sorted", B, [L], fn_is_sorted)),
        member("sum", ("list_sum", T.DYN, [L], fn_sum)),
        member("min", ("list_min", T.DYN, [L], fn_min)),
        member("max", ("list_max", T.DYN, [L], fn_max)),
        member(LIST_INDEX_OF, *((f"list_index_of_{i}", I, [L, t], fn_list_index_of) for i, t in enumerate(elems))),
        member(LIST_LAST_INDEX_OF, *((f"list_last_index_of_{i}", I, [L, t], fn_list_last_index_of) for i, t in enumerate(elems))),
        glob("_draDomain", ("dra_domain", T.MAP, [T.MAP, S], lambda m, k: m.get(k, {}))),
        member(SUBSTRING, ("string_substring_int", S, [S, I], fn_substring),
               ("string_substring_int_int", S, [S, I, I], fn_substring)),
        member("find", ("string_find", S, [S, S], fn_find)),
        member("findAll", ("string_find_all", L, [S, S], fn_find_all), ("string_find_all_n", L, [S, S, I], fn_find_all)),
        glob("lists.range", ("lists_range", L, [I], fn_lists_range)),
        member("slice", ("list_slice", L, [L, I, I], fn_slice)),
        member("flatten", ("list_flatten", L, [L], fn_flatten), ("list_flatten_n", L, [L, I], fn_flatten)),
        member("distinct", ("list_distinct", L, [L], fn_distinct)),
        member("reverse", ("list_reverse", L, [L], fn_reverse)),
        member("sort", ("list_sort", L, [L], fn_sort)),
    ]
