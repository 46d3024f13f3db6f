"""Semantic versions as Kubernetes' CEL ``semver()`` library sees them (stdlib only).

Parsing follows github.com/blang/semver/v4 ``Parse`` (strict SemVer 2.0.0), which
k8s.io/apiserver/pkg/cel/library/semverlib.go uses; ``normalize=True`` follows
that file's ``normalizeAndParse`` (``semver(s, true)``).  Ordering is SemVer 2.0.0
precedence, as blang's ``Compare``: build metadata is kept for ``str()`` but
ignored by comparison, equality and hashing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Version", "VersionError"]

_UINT64_MAX = (1 << 64) - 1
_DIGITS = frozenset("0123456789")
_ALPHANUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789")


class VersionError(ValueError):
    """A string that is not a semantic version."""


def _only(s: str, allowed: frozenset[str]) -> bool:
    return all(c in allowed for c in s)


def _number(s: str, what: str, text: str) -> int:
    if not _only(s, _DIGITS):
        raise VersionError(f"invalid version {text!r}: invalid character(s) found in {what} {s!r}")
    if len(s) > 1 and s[0] == "0":
        raise VersionError(f"invalid version {text!r}: {what} must not contain leading zeroes {s!r}")
    if not s:
        raise VersionError(f"invalid version {text!r}: {what} is empty")
    n = int(s)
    if n > _UINT64_MAX:
        raise VersionError(f"invalid version {text!r}: {what} {s!r} is out of range")
    return n


class Version:
    """An immutable semantic version: major.minor.patch[-prerelease][+build]."""

    __slots__ = ("_build", "_key", "_major", "_minor", "_patch", "_pre")

    def __init__(
        self,
        major: int,
        minor: int,
        patch: int,
        prerelease: tuple[int | str, ...] = (),
        build: tuple[str, ...] = (),
    ) -> None:
        for n in (major, minor, patch):
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= _UINT64_MAX:
                raise VersionError(f"version numbers must be integers in [0, 2^64), not {n!r}")
        pre = tuple(prerelease)
        for ident in pre:
            if isinstance(ident, int) and not isinstance(ident, bool):
                if not 0 <= ident <= _UINT64_MAX:
                    raise VersionError(f"numeric pre-release identifier out of range: {ident!r}")
            elif isinstance(ident, str):
                if not ident or not _only(ident, _ALPHANUM):
                    raise VersionError(f"invalid pre-release identifier {ident!r}")
                if _only(ident, _DIGITS):
                    raise VersionError(f"numeric pre-release identifier given as a string: {ident!r}")
            else:
                raise VersionError(f"invalid pre-release identifier {ident!r}")
        bld = tuple(build)
        for ident in bld:
            if not isinstance(ident, str) or not ident or not _only(ident, _ALPHANUM):
                raise VersionError(f"invalid build identifier {ident!r}")
        setter = object.__setattr__
        setter(self, "_major", major)
        setter(self, "_minor", minor)
        setter(self, "_patch", patch)
        setter(self, "_pre", pre)
        setter(self, "_build", bld)
        # precedence: a release sorts after its pre-releases; numeric identifiers
        # sort before alphanumeric ones; a longer identifier list wins a tie.
        pre_key = tuple((0, i, "") if isinstance(i, int) else (1, 0, i) for i in pre)
        setter(self, "_key", (major, minor, patch, 0 if pre else 1, pre_key))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Version is immutable")

    __delattr__ = __setattr__

    # ------------------------------------------------------------------ parsing

    @classmethod
    def parse(cls, text: str, normalize: bool = False) -> Version:
        """Parse ``text``: strict SemVer 2.0.0, or Kubernetes' ``semver(text, true)`` when normalize."""
        if not isinstance(text, str):
            raise TypeError(f"Version.parse() takes a str, not {type(text).__name__}")
        if normalize:
            return cls._parse(_normalized(text), text)
        return cls._parse(text, text)

    @classmethod
    def is_valid(cls, text: str, normalize: bool = False) -> bool:
        """CEL's ``isSemver(text[, normalize])``."""
        try:
            cls.parse(text, normalize)
        except VersionError:
            return False
        return True

    @classmethod
    def _parse(cls, s: str, text: str) -> Version:
        if not s:
            raise VersionError(f"invalid version {text!r}: version string empty")
        parts = s.split(".", 2)
        if len(parts) != 3:
            raise VersionError(f"invalid version {text!r}: no Major.Minor.Patch elements found")
        major = _number(parts[0], "major number", text)
        minor = _number(parts[1], "minor number", text)
        rest = parts[2]
        build: list[str] = []
        pre_strs: list[str] = []
        plus = rest.find("+")
        if plus != -1:
            build = rest[plus + 1 :].split(".")
            rest = rest[:plus]
        dash = rest.find("-")
        if dash != -1:
            pre_strs = rest[dash + 1 :].split(".")
            rest = rest[:dash]
        patch = _number(rest, "patch number", text)
        pre: list[int | str] = []
        for ident in pre_strs:
            if not ident:
                raise VersionError(f"invalid version {text!r}: pre-release identifier is empty")
            if _only(ident, _DIGITS):
                pre.append(_number(ident, "numeric pre-release identifier", text))
            elif _only(ident, _ALPHANUM):
                pre.append(ident)
            else:
                raise VersionError(f"invalid version {text!r}: invalid character(s) found in pre-release {ident!r}")
        for ident in build:
            if not ident:
                raise VersionError(f"invalid version {text!r}: build metadata is empty")
            if not _only(ident, _ALPHANUM):
                raise VersionError(f"invalid version {text!r}: invalid character(s) found in build metadata {ident!r}")
        return cls(major, minor, patch, tuple(pre), tuple(build))

    # ------------------------------------------------------------- properties

    @property
    def major(self) -> int:
        return self._major

    @property
    def minor(self) -> int:
        return self._minor

    @property
    def patch(self) -> int:
        return self._patch

    @property
    def prerelease(self) -> tuple[int | str, ...]:
        """Pre-release identifiers: ints for numeric ones, strs otherwise."""
        return self._pre

    @property
    def build(self) -> tuple[str, ...]:
        return self._build

    def finalized(self) -> Version:
        """The same major.minor.patch without pre-release and build."""
        return Version(self._major, self._minor, self._patch)

    # --------------------------------------------------------------- comparison

    def cmp(self, other: Version) -> int:
        """-1, 0 or 1 by SemVer precedence (blang's ``Compare``)."""
        if not isinstance(other, Version):
            raise TypeError(f"cannot compare Version with {type(other).__name__}")
        a, b = self._key, other._key
        return (a > b) - (a < b)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Version):
            return self._key == other._key
        return NotImplemented

    def __lt__(self, other: Any) -> bool:
        if isinstance(other, Version):
            return self._key < other._key
        return NotImplemented

    def __le__(self, other: Any) -> bool:
        if isinstance(other, Version):
            return self._key <= other._key
        return NotImplemented

    def __gt__(self, other: Any) -> bool:
        if isinstance(other, Version):
            return self._key > other._key
        return NotImplemented

    def __ge__(self, other: Any) -> bool:
        if isinstance(other, Version):
            return self._key >= other._key
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._key)

    # --------------------------------------------------------------- formatting

    def __str__(self) -> str:
        s = f"{self._major}.{self._minor}.{self._patch}"
        if self._pre:
            s += "-" + ".".join(str(i) for i in self._pre)
        if self._build:
            s += "+" + ".".join(self._build)
        return s

    def __repr__(self) -> str:
        return f"Version({str(self)!r})"


def _normalized(s: str) -> str:
    """semverlib.go's normalizeAndParse before Parse: drop one leading "v", strip
    leading zeros of each dot-separated part, fill a missing minor/patch with 0."""
    s = s.removeprefix("v")
    parts = s.split(".", 2)
    for i, p in enumerate(parts):
        if len(p) > 1:
            p = p.lstrip("0")
            if not p or p[0] not in _DIGITS:
                p = "0" + p
            parts[i] = p
    if len(parts) < 3:
        if "+" in parts[-1] or "-" in parts[-1]:
            raise VersionError(f"invalid version {s!r}: short version cannot contain PreRelease/Build meta data")
        parts += ["0"] * (3 - len(parts))
    return ".".join(parts)
