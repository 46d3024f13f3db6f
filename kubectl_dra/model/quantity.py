"""Kubernetes ``resource.Quantity``, re-implemented exactly (stdlib only).

Behaviour follows k8s.io/apimachinery/pkg/api/resource (quantity.go, amount.go,
suffix.go, math.go): the same grammar, the same silent rounding of values finer
than a nano (away from zero), the same cap of BinarySI values at 2^63-1, the same
remembered format and the same canonical ``String()`` output.  Values are held
exactly as ``mantissa * 10**exponent`` (integers only, never float).

Deliberate differences from Go, all in corners a real cluster does not reach:

* A DecimalSI value whose canonical exponent is above 18 (``1000E``) prints in
  exponent form (``1e21``); released Go drops the suffix there and prints ``1``.
* A BinarySI value of 2^70 or more prints with an ``Ei`` suffix and a larger
  number; Go drops the suffix there too.
* ``scaled_value``/``milli_value`` return exact Python ints (Go wraps on int64
  overflow) and always round away from zero (Go's inf.Dec path rounds negative
  values toward +inf).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

__all__ = [
    "BINARY_SI",
    "DECIMAL_EXPONENT",
    "DECIMAL_SI",
    "Quantity",
    "QuantityError",
]

#: The three formats a quantity remembers (Go's ``resource.Format`` values).
DECIMAL_EXPONENT = "DecimalExponent"  # 12e6
BINARY_SI = "BinarySI"  # 12Mi
DECIMAL_SI = "DecimalSI"  # 12M

_SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
#: Go's ErrFormatWrong, ErrNumeric and ErrSuffix texts.
ERR_FORMAT_WRONG = f"quantities must match the regular expression '{_SPLIT_RE}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)
_HASH_MODULUS = 2**61 - 1  # sys.hash_info.modulus on 64-bit CPython

# suffix -> (base, exponent, format); Go's suffixer tables.
_SUFFIXES: dict[str, tuple[int, int, str]] = {
    "": (10, 0, DECIMAL_SI),
    "n": (10, -9, DECIMAL_SI),
    "u": (10, -6, DECIMAL_SI),
    "m": (10, -3, DECIMAL_SI),
    "k": (10, 3, DECIMAL_SI),
    "M": (10, 6, DECIMAL_SI),
    "G": (10, 9, DECIMAL_SI),
    "T": (10, 12, DECIMAL_SI),
    "P": (10, 15, DECIMAL_SI),
    "E": (10, 18, DECIMAL_SI),
    "Ki": (2, 10, BINARY_SI),
    "Mi": (2, 20, BINARY_SI),
    "Gi": (2, 30, BINARY_SI),
    "Ti": (2, 40, BINARY_SI),
    "Pi": (2, 50, BINARY_SI),
    "Ei": (2, 60, BINARY_SI),
}
_DEC_SUFFIX_BY_EXP = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
_BIN_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")

# Go's parseQuantityString scanner as one regex.  Possessive quantifiers keep it
# from backtracking, as the hand-written Go scanner never does: sign, leading
# zeros, numerator, optional "." and denominator, then the suffix, which is
# [eEinumkKMGTP]* then an optional sign then digits, running to the end.
_SCAN = re.compile(r"([+-]?)(0*+)([0-9]*+)(?:\.([0-9]*+))?+([eEinumkKMGTP]*+[+-]?[0-9]*+)\Z")
_EXP_DIGITS = re.compile(r"[+-]?[0-9]+\Z")

_POW10 = [10**i for i in range(40)]


def _pow10(n: int) -> int:
    return _POW10[n] if n < 40 else 10**n


def _ndigits(n: int) -> int:
    """Decimal digits of abs(n) (n != 0)."""
    return len(str(abs(n)))


def _normalize(m: int, e: int) -> tuple[int, int]:
    """Move trailing decimal zeros of the mantissa into the exponent."""
    if m == 0:
        return 0, 0
    if m % 10:
        return m, e
    if m % 1000000 == 0:
        while m % 1000000 == 0:
            m //= 1000000
            e += 6
    while m % 10 == 0:
        m //= 10
        e += 1
    return m, e


def _cmp_me(m1: int, e1: int, m2: int, e2: int) -> int:
    """Compare m1*10**e1 with m2*10**e2 exactly, without building huge numbers."""
    if e1 == e2:
        return (m1 > m2) - (m1 < m2)
    s1 = (m1 > 0) - (m1 < 0)
    s2 = (m2 > 0) - (m2 < 0)
    if s1 != s2:
        return (s1 > s2) - (s1 < s2)
    if s1 == 0:
        return 0
    if abs(e1 - e2) > 40:
        a1 = _ndigits(m1) + e1
        a2 = _ndigits(m2) + e2
        if a1 != a2:
            return s1 if a1 > a2 else -s1
    if e1 > e2:
        x, y = m1 * _pow10(e1 - e2), m2
    else:
        x, y = m1, m2 * _pow10(e2 - e1)
    return (x > y) - (x < y)


def _int32(n: int) -> int:
    """Go's int32(int64) conversion (wraps)."""
    return ((n + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


class QuantityError(ValueError):
    """A string that Kubernetes would not accept as a quantity, or a failed conversion."""

    def __init__(self, message: str, text: str | None = None) -> None:
        self.reason = message
        self.text = text
        super().__init__(message if text is None else f"invalid quantity {text!r}: {message}")


class Quantity:
    """An immutable, exact Kubernetes quantity (``resource.Quantity``).

    Equality, ordering and hashing are by exact numeric value, so
    ``Quantity.parse("1Gi") == Quantity.parse("1073741824")``; the format only
    affects ``str()``.  A quantity also compares equal to the int or Fraction of
    the same value and hashes like it.
    """

    __slots__ = ("_e", "_fmt", "_gi", "_m", "_s", "_str", "_value")

    _m: int  # value == _m * 10**_e, _m has no trailing zeros (0 -> exponent 0)
    _e: int
    _fmt: str
    # Go's internal form: the scale of its int64Amount, or None where Go holds an
    # inf.Dec.  Only go_as_int64() depends on it, as Go's AsInt64 does.
    _gi: int | None
    _s: str | None  # the input text, where Go's ParseQuantity caches it as String()
    _str: str | None  # canonical string, computed on demand
    _value: Fraction | None  # the exact value, computed on demand (parse() hands out cached quantities)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Quantity is immutable")

    __delattr__ = __setattr__

    @classmethod
    def _make(cls, m: int, e: int, fmt: str, gi: int | None, s: str | None = None) -> Quantity:
        q = object.__new__(cls)
        m, e = _normalize(m, e)
        setter = object.__setattr__
        setter(q, "_m", m)
        setter(q, "_e", e)
        setter(q, "_fmt", fmt)
        setter(q, "_gi", gi)
        setter(q, "_s", s)
        setter(q, "_str", None)
        setter(q, "_value", None)
        return q

    # ------------------------------------------------------------------ parsing

    @classmethod
    def parse(cls, text: str | int) -> Quantity:
        """Parse a quantity string exactly as Go's ``resource.ParseQuantity`` does.

        An int is taken as ``resource.NewQuantity(value, DecimalSI)``.  Raises
        QuantityError for anything Go rejects.
        """
        if isinstance(text, str):
            q = _CACHE.get(text)
            if q is None:
                q = _parse(text)
                if len(_CACHE) >= _CACHE_MAX:
                    _CACHE.clear()
                _CACHE[text] = q
            return q
        if isinstance(text, int) and not isinstance(text, bool):
            return cls.from_int(text)
        raise TypeError(f"Quantity.parse() takes a str or int, not {type(text).__name__}")

    @classmethod
    def from_int(cls, value: int, fmt: str = DECIMAL_SI) -> Quantity:
        """Go's ``resource.NewQuantity(value, format)`` (any int; int64 ones are held as Go would)."""
        if fmt not in (DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT):
            raise ValueError(f"unknown quantity format {fmt!r}")
        gi = 0 if _INT64_MIN <= value <= _INT64_MAX else None
        return cls._make(int(value), 0, fmt, gi)

    @classmethod
    def is_valid(cls, text: str) -> bool:
        """CEL's ``isQuantity(text)``."""
        try:
            cls.parse(text)
        except QuantityError:
            return False
        return True

    # ------------------------------------------------------------- properties

    @property
    def value(self) -> Fraction:
        """The exact value."""
        value = self._value
        if value is None:
            value = Fraction(self._m * _pow10(self._e)) if self._e >= 0 else Fraction(self._m, _pow10(-self._e))
            object.__setattr__(self, "_value", value)
        return value

    @property
    def format(self) -> str:
        """``BinarySI``, ``DecimalSI`` or ``DecimalExponent``."""
        return self._fmt

    def sign(self) -> int:
        """-1, 0 or 1."""
        return (self._m > 0) - (self._m < 0)

    def is_zero(self) -> bool:
        return self._m == 0

    def __bool__(self) -> bool:
        return self._m != 0

    def is_integer(self) -> bool:
        """True if the value is a whole number (of any size)."""
        return self._e >= 0 or self._m == 0

    def as_int(self) -> int:
        """The value as an int; QuantityError if it is not whole or does not fit an int64."""
        if not self.is_integer():
            raise QuantityError(f"{self} is not an integer")
        if self._e > 19:
            raise QuantityError(f"{self} overflows int64")
        v = self._m * _pow10(self._e)
        if not _INT64_MIN <= v <= _INT64_MAX:
            raise QuantityError(f"{self} overflows int64")
        return v

    def go_as_int64(self) -> tuple[int, bool]:
        """Go's ``AsInt64()`` verbatim, which CEL's ``isInteger()``/``asInteger()`` use.

        Go answers from its internal form, not from the value: ``1.0``, ``1000m``
        and 19-digit integers such as ``1000000000000000000`` give ``(0, False)``.
        """
        gi = self._gi
        if gi is None or gi < 0:
            return 0, False
        if self._e > 19:
            return 0, False
        v = self._m * _pow10(self._e)
        if not _INT64_MIN <= v <= _INT64_MAX:
            return 0, False
        return v, True

    def scaled_value(self, scale: int) -> int:
        """Go's ``ScaledValue(scale)``: value / 10**scale, rounded away from zero."""
        if self._m == 0:
            return 0
        shift = self._e - scale
        if shift >= 0:
            return self._m * _pow10(shift)
        if _ndigits(self._m) <= -shift:  # |result| < 1
            return 1 if self._m > 0 else -1
        q, r = divmod(abs(self._m), _pow10(-shift))
        if r:
            q += 1
        return q if self._m > 0 else -q

    def milli_value(self) -> int:
        """Go's ``MilliValue()``: value * 1000, rounded away from zero."""
        return self.scaled_value(-3)

    # --------------------------------------------------------------- arithmetic

    def add(self, other: Quantity | int) -> Quantity:
        """``self + other`` as Go's ``Add``: the result keeps self's format (other's if self is zero)."""
        return self._combine(_coerce(other), False)

    def sub(self, other: Quantity | int) -> Quantity:
        """``self - other`` as Go's ``Sub``: the result keeps self's format (other's if self is zero)."""
        return self._combine(_coerce(other), True)

    def neg(self) -> Quantity:
        return Quantity._make(-self._m, self._e, self._fmt, self._gi)

    def _combine(self, y: Quantity, negate: bool) -> Quantity:
        ym = -y._m if negate else y._m
        am, ae = self._m, self._e
        # exact sum
        if ae == y._e:
            m, e = am + ym, ae
        elif ae > y._e:
            m, e = am * _pow10(ae - y._e) + ym, y._e
        else:
            m, e = am + ym * _pow10(y._e - ae), ae
        fmt = y._fmt if am == 0 else self._fmt
        # Go's internal form: int64Amount.Add, falling back to inf.Dec on overflow
        gi: int | None = None
        if self._gi is not None and y._gi is not None:
            a_val = am * _pow10(ae - self._gi) if am else 0
            b_val = ym * _pow10(y._e - y._gi) if ym else 0
            if b_val == 0:
                gi = self._gi
            elif a_val == 0:
                gi = y._gi
            else:
                sc = min(self._gi, y._gi)
                ra = a_val * _pow10(self._gi - sc)
                rb = b_val * _pow10(y._gi - sc)
                if all(_INT64_MIN <= v <= _INT64_MAX for v in (ra, rb, ra + rb)):
                    gi = sc
        return Quantity._make(m, e, fmt, gi)

    def __add__(self, other: Any) -> Quantity:
        if isinstance(other, (Quantity, int)) and not isinstance(other, bool):
            return self.add(other)
        return NotImplemented

    def __sub__(self, other: Any) -> Quantity:
        if isinstance(other, (Quantity, int)) and not isinstance(other, bool):
            return self.sub(other)
        return NotImplemented

    def __neg__(self) -> Quantity:
        return self.neg()

    def __abs__(self) -> Quantity:
        return self.neg() if self._m < 0 else self

    # --------------------------------------------------------------- comparison

    def cmp(self, other: Quantity | int) -> int:
        """Go's ``Cmp``: -1, 0 or 1."""
        o = _coerce(other)
        return _cmp_me(self._m, self._e, o._m, o._e)

    def _cmp_any(self, other: Any) -> int | None:
        if isinstance(other, Quantity):
            return _cmp_me(self._m, self._e, other._m, other._e)
        if isinstance(other, int):  # bool too, like int
            return _cmp_me(self._m, self._e, int(other), 0)
        if isinstance(other, Fraction):
            v = self.value
            return (v > other) - (v < other)
        return None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Quantity):
            return self._m == other._m and self._e == other._e
        c = self._cmp_any(other)
        return NotImplemented if c is None else c == 0

    def __ne__(self, other: object) -> bool:
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __lt__(self, other: Any) -> bool:
        c = self._cmp_any(other)
        return NotImplemented if c is None else c < 0

    def __le__(self, other: Any) -> bool:
        c = self._cmp_any(other)
        return NotImplemented if c is None else c <= 0

    def __gt__(self, other: Any) -> bool:
        c = self._cmp_any(other)
        return NotImplemented if c is None else c > 0

    def __ge__(self, other: Any) -> bool:
        c = self._cmp_any(other)
        return NotImplemented if c is None else c >= 0

    def __hash__(self) -> int:
        # Python's numeric hash of m * 10**e, equal to hash(self.value), computed
        # without building the number.
        m = self._m
        h = abs(m) % _HASH_MODULUS * pow(10, self._e, _HASH_MODULUS) % _HASH_MODULUS
        if m < 0:
            h = -h
        return -2 if h == -1 else h

    # --------------------------------------------------------------- formatting

    def __str__(self) -> str:
        s = self._str
        if s is None:
            s = _canonical(self._m, self._e, self._fmt)
            object.__setattr__(self, "_str", s)
        return s

    def go_string(self) -> str:
        """What Go's ``String()`` returns for this value.

        Same as ``str()`` except right after parsing, where Go keeps the input
        text when a cheap check calls it canonical: ``+1Ki``, ``01Ki`` and
        ``1.500k`` come back unchanged.
        """
        return self._s if self._s is not None else str(self)

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def human(self, binary: bool | None = None) -> str:
        """A short form for tables.

        Binary quantities (BinarySI, or ``binary=True``) use the largest of
        Ki..Ei that the value reaches, with at most one decimal rounded half up
        and a trailing ``.0`` dropped (``81559Mi`` -> ``79.6Gi``); whole values
        under 1024 print as plain numbers.  Decimal quantities print as ``str()``.
        """
        if binary is None:
            binary = self._fmt == BINARY_SI
        if not binary or self._m == 0 or self._e > 40:  # beyond 1e40 Ei gives nothing shorter
            return str(self)
        m, e = self._m, self._e
        if e >= 0:
            num, den = abs(m) * _pow10(e), 1
        else:
            num, den = abs(m), _pow10(-e)
        sign = "-" if m < 0 else ""
        if num < 1024 * den:
            if den == 1:
                return f"{sign}{num}"
            return _canonical(m, e, DECIMAL_SI)
        k = 1
        while k < 6 and num >= (1 << (10 * (k + 1))) * den:
            k += 1
        while True:
            unit = (1 << (10 * k)) * den
            tenths = (20 * num + unit) // (2 * unit)  # round(num / unit, 1) half up, in tenths
            if tenths >= 10240 and k < 6:
                k += 1
                continue
            break
        whole, frac = divmod(tenths, 10)
        text = f"{whole}.{frac}" if frac else f"{whole}"
        return f"{sign}{text}{_BIN_SUFFIXES[k]}"


_CACHE: dict[str, Quantity] = {}
_CACHE_MAX = 8192


def _coerce(other: Any) -> Quantity:
    if isinstance(other, Quantity):
        return other
    if isinstance(other, int) and not isinstance(other, bool):
        return Quantity.from_int(other)
    raise TypeError(f"expected a Quantity or int, not {type(other).__name__}")


def _canonical(m: int, e: int, fmt: str) -> str:
    """Go's CanonicalizeBytes, for a normalized (m, e)."""
    if m == 0:
        return "0"
    if fmt == BINARY_SI:
        # BinarySI between -1024 and 1024, or not whole, prints as DecimalSI
        if e >= 0 and (e >= 4 or abs(m) * _POW10[e] >= 1024):
            v = abs(m) * _pow10(e)
            k = 0
            while v % 1024 == 0:
                v >>= 10
                k += 1
            if k > 6:  # beyond Ei Go prints no suffix at all; keep the value right
                v <<= 10 * (k - 6)
                k = 6
            return f"{'-' if m < 0 else ''}{v}{_BIN_SUFFIXES[k]}"
        fmt = DECIMAL_SI
    r = e % 3
    mm = m * _POW10[r] if r else m
    ee = e - r
    if fmt == DECIMAL_SI:
        suffix = _DEC_SUFFIX_BY_EXP.get(ee)
        if suffix is not None:
            return f"{mm}{suffix}"
    # DecimalExponent, or DecimalSI beyond E (upstream's fix prints e-notation)
    return f"{mm}e{ee}" if ee else f"{mm}"


def _parse(text: str) -> Quantity:
    """Go's ParseQuantity."""
    if not text:
        raise QuantityError(ERR_FORMAT_WRONG, text)
    if text == "0":
        return Quantity._make(0, 0, DECIMAL_SI, 0, "0")
    match = _SCAN.match(text)
    if match is None:
        raise QuantityError(ERR_FORMAT_WRONG, text)
    sign, zeros, num, denom, suf = match.groups()
    denom = denom or ""
    negative = sign == "-"
    if not num:
        num = "0"

    interp = _SUFFIXES.get(suf)
    if interp is not None:
        base, exponent, fmt = interp
    else:
        # decimal exponent: e/E followed by a base-10 int64 (Go's ParseInt), then int32()
        if len(suf) > 1 and suf[0] in "eE" and _EXP_DIGITS.match(suf, 1):
            parsed = int(suf[1:])
            if not _INT64_MIN <= parsed <= _INT64_MAX:
                raise QuantityError(ERR_SUFFIX, text)
            base, exponent, fmt = 10, _int32(parsed), DECIMAL_EXPONENT
        else:
            raise QuantityError(ERR_SUFFIX, text)

    # Go's fast path: the value fits an int64Amount without rounding
    mantissa = 1
    if base == 10:
        scale = exponent
        precision = 18 - (len(num) + len(denom))
    elif not denom:
        mantissa = 1 << exponent
        precision = 14 - len(num) - exponent * 3 // 10
        scale = 0
    else:
        precision = -1
        scale = 0
    if precision >= 0:
        scale -= len(denom)
        if scale >= -9:
            shifted = num + denom
            value = int(shifted)
            result = value * mantissa
            if result <= _INT64_MAX:
                if negative:
                    result = -result
                cached = None
                if fmt == BINARY_SI:
                    if value & 7:
                        cached = text
                elif scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
                    cached = text
                return Quantity._make(result, scale, fmt, scale, cached)

    # slow path: inf.Dec
    if not (zeros or match.group(3) or denom):
        raise QuantityError(ERR_NUMERIC, text)  # inf.Dec.SetString found no digits
    m = int(num + denom)
    e = -len(denom)
    if base == 10:
        e += exponent
    else:
        m <<= exponent
    m, e = _normalize(m, e)
    if m and e < -9:
        # round up (away from zero) to a whole number of nanos
        shift = -9 - e
        if _ndigits(m) <= shift:
            m = 1
        else:
            q, r = divmod(m, _pow10(shift))
            m = q + 1 if r else q
        e = -9
    if fmt == BINARY_SI:
        if _cmp_me(m, e, _INT64_MAX, 0) > 0:
            m, e = _INT64_MAX, 0
        if m and _cmp_me(m, e, 1, 0) < 0:
            fmt = DECIMAL_SI
    if negative:
        m = -m
    return Quantity._make(m, e, fmt, None)
