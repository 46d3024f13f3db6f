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


def _q(value: Any) -> Quantity:
    if type(value) is dict and len(value) == 1:
        s = value.get(Q_TAG)
        if type(s) is str:
            return Quantity.parse(s)
    raise CelLibraryError(NO_SUCH_OVERLOAD)


def _v(value: Any) -> Version:
    if type(value) is dict and len(value) == 1:
        s = value.get(V_TAG)
        if type(s) is str:
            return Version.parse(s)
    raise CelLibraryError(NO_SUCH_OVERLOAD)


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
        member("sign", ("quantity_sign", T.INT, [MAP], fn_sign)),
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
