"""Tests for kubectl_dra.model.semver (blang/semver v4 Parse + Kubernetes' semver(s, true))."""

from __future__ import annotations

import re
import pytest

from kubectl_dra.model.semver import Version, VersionError

V = Version.parse

# SemVer 2.0.0 §11's precedence example, plus more steps
PRECEDENCE = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1-0",
    "1.0.1",
    "1.1.0",
    "1.10.0",
    "2.0.0",
    "10.0.0",
]


@pytest.mark.parametrize("i", range(len(PRECEDENCE) - 1))
def test_precedence_chain(i):
    lo, hi = V(PRECEDENCE[i]), V(PRECEDENCE[i + 1])
    assert lo < hi
    assert lo <= hi
    assert hi > lo
    assert hi >= lo
    assert lo != hi
    assert lo.cmp(hi) == -1
    assert hi.cmp(lo) == 1


def test_sorting_shuffled():
    shuffled = PRECEDENCE[7::-1] + PRECEDENCE[:7:-1]
    assert [str(v) for v in sorted(V(s) for s in shuffled)] == PRECEDENCE


CMP = [
    ("1.0.0-2", "1.0.0-11", -1),  # numeric identifiers compare as numbers
    ("1.0.0-a10", "1.0.0-a9", -1),  # alphanumeric ones in ASCII order
    ("1.0.0-9", "1.0.0-a", -1),  # numeric before alphanumeric
    ("1.0.0-Z", "1.0.0-a", -1),  # ASCII: upper case first
    ("1.0.0-alpha.1", "1.0.0-alpha.1.0", -1),  # more identifiers win a tie
    ("1.0.0+build.1", "1.0.0+build.2", 0),  # build metadata is ignored
    ("1.0.0-rc.1+a", "1.0.0-rc.1", 0),
    ("18446744073709551615.0.0", "18446744073709551614.9.9", 1),
    ("0.0.0", "0.0.0", 0),
]


@pytest.mark.parametrize("a,b,expected", CMP)
def test_cmp(a, b, expected):
    va, vb = V(a), V(b)
    assert va.cmp(vb) == expected
    assert vb.cmp(va) == -expected
    assert (va == vb) is (expected == 0)
    assert (va < vb) is (expected < 0)
    assert (va > vb) is (expected > 0)


def test_build_ignored_for_equality_and_hash_but_kept_in_str():
    a, b = V("1.2.3+linux.amd64"), V("1.2.3+darwin")
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b, V("1.2.3")}) == 1
    assert str(a) == "1.2.3+linux.amd64"
    assert a.build == ("linux", "amd64")


STRICT_OK = [
    ("0.0.0", (0, 0, 0, (), ())),
    ("1.2.3", (1, 2, 3, (), ())),
    ("10.20.30", (10, 20, 30, (), ())),
    ("1.2.3-0", (1, 2, 3, (0,), ())),
    ("1.2.3-0a", (1, 2, 3, ("0a",), ())),  # alphanumeric: leading zero allowed
    ("1.2.3-alpha.1", (1, 2, 3, ("alpha", 1), ())),
    ("1.2.3-x-y-z.--", (1, 2, 3, ("x-y-z", "--"), ())),
    ("1.2.3+001", (1, 2, 3, (), ("001",))),  # build: leading zeros allowed
    ("1.2.3-rc.1+build-5.x", (1, 2, 3, ("rc", 1), ("build-5", "x"))),
    ("1.0.0+a-b", (1, 0, 0, (), ("a-b",))),  # "-" after "+" is build, not pre-release
    ("18446744073709551615.0.0", (2**64 - 1, 0, 0, (), ())),
    ("1.2.3-18446744073709551615", (1, 2, 3, (2**64 - 1,), ())),
]


@pytest.mark.parametrize("text,parts", STRICT_OK)
def test_parse_strict(text, parts):
    v = V(text)
    assert (v.major, v.minor, v.patch, v.prerelease, v.build) == parts
    assert str(v) == text


STRICT_BAD = [
    "",
    "1",
    "1.2",
    "v1.2.3",
    "V1.2.3",
    "01.2.3",
    "1.02.3",
    "1.2.03",
    "00.0.0",
    "1.2.3-",
    "1.2.3+",
    "1.2.3-01",  # numeric pre-release with a leading zero
    "1.2.3-a..b",
    "1.2.3+a..b",
    "1.2.3-a_b",
    "1.2.3+a+b",
    "1.2.3-ü",
    " 1.2.3",
    "1.2.3 ",
    "1.2.3.4",
    "1.2.x",
    "1.2.-1",
    "-1.2.3",
    "+1.2.3",
    "1.-2.3",
    "1..3",
    "1.2.",
    "18446744073709551616.0.0",  # over uint64
    "1.2.3-18446744073709551616",
    "１.2.3",  # non-ASCII digit
    "1.2.3-rc.1\n",
]


@pytest.mark.parametrize("text", STRICT_BAD)
def test_parse_strict_rejects(text):
    with pytest.raises(VersionError, match=f"^invalid version {re.escape(repr(text))}: "):
        V(text)
    assert not Version.is_valid(text)


# semverlib.go's doc examples and normalizeAndParse worked through by hand
NORMALIZE = [
    ("v1.0", "1.0.0"),
    ("1.0", "1.0.0"),
    ("v1", "1.0.0"),
    ("8.0", "8.0.0"),
    ("580.95.05", "580.95.5"),
    ("01.01.01", "1.1.1"),
    ("v1.0.0", "1.0.0"),
    ("1.2.3", "1.2.3"),
    ("v1.2.3-rc.1+b", "1.2.3-rc.1+b"),
    ("1.2.00-rc", "1.2.0-rc"),
    ("1.2.05+b.007", "1.2.5+b.007"),
    ("00.00.00", "0.0.0"),
    ("0", "0.0.0"),
]


@pytest.mark.parametrize("text,expected", NORMALIZE)
def test_parse_normalize(text, expected):
    v = V(text, normalize=True)
    assert str(v) == expected
    assert Version.is_valid(text, normalize=True)


NORMALIZE_BAD = [
    "",
    "v",
    "vv1.0.0",
    "V1.0.0",
    " 1.0.0",  # Kubernetes does not trim spaces (blang's ParseTolerant would)
    "1.0-rc",  # a short version may not have pre-release or build
    "1-rc",
    "1.0+build",
    "1.0.0-01",  # leading zeros are only stripped from the three numbers
    "1.2.3.4",
    "a.b.c",
    "1.x",
]


@pytest.mark.parametrize("text", NORMALIZE_BAD)
def test_parse_normalize_rejects(text):
    with pytest.raises(VersionError, match=f"^invalid version {re.escape(repr(text))}: "):
        V(text, normalize=True)
    assert not Version.is_valid(text, normalize=True)


def test_normalized_versions_need_normalize():
    for text, why in (("v1.0", "no Major.Minor.Patch"), ("580.95.05", "leading zeroes '05'"), ("8.0", "no Major.Minor.Patch")):
        with pytest.raises(VersionError, match=f"^invalid version '{re.escape(text)}': .*{why}"):
            V(text)


def test_driver_versions_compare_after_normalizing():
    assert V("580.95.05", normalize=True) > V("580.9.0", normalize=True)
    assert V("v1.10", normalize=True) > V("v1.9", normalize=True)
    assert V("v1.0", normalize=True) == V("1.0.0")


def test_constructor_and_finalized():
    v = Version(1, 2, 3, ("rc", 1), ("b",))
    assert str(v) == "1.2.3-rc.1+b"
    assert v == V("1.2.3-rc.1")
    assert str(v.finalized()) == "1.2.3"
    for bad, message in (
        ((-1, 0, 0), r"version numbers must be integers in \[0, 2\^64\), not -1"),
        ((1, 0, 0, ("",)), "invalid pre-release identifier ''"),
        ((1, 0, 0, ("01",)), "numeric pre-release identifier given as a string: '01'"),
        ((1, 0, 0, (), ("a b",)), "invalid build identifier 'a b'"),
        ((1.0, 0, 0), r"version numbers must be integers in \[0, 2\^64\), not 1\.0"),
    ):
        with pytest.raises(VersionError, match=f"^{message}$"):
            Version(*bad)


def test_immutable_and_repr():
    v = V("1.2.3")
    with pytest.raises(AttributeError, match="^Version is immutable$"):
        v.major = 2
    with pytest.raises(AttributeError, match="^Version is immutable$"):
        v._major = 2
    assert v.major == 1
    assert repr(v) == "Version('1.2.3')"


def test_compare_with_other_types():
    assert V("1.0.0") != "1.0.0"
    with pytest.raises(TypeError, match="'<' not supported between instances of 'Version' and 'str'"):
        _ = V("1.0.0") < "2.0.0"
    with pytest.raises(TypeError, match="^cannot compare Version with str$"):
        V("1.0.0").cmp("2.0.0")
    with pytest.raises(TypeError, match=r"^Version\.parse\(\) takes a str, not int$"):
        V(1)
    assert isinstance(VersionError("x"), ValueError)
