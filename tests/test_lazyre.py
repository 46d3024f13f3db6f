"""kubectl_dra.lazyre.Pattern: a module-level pattern compiled on first use, answering as re.compile's."""

from __future__ import annotations

import re

import pytest

from kubectl_dra.lazyre import Pattern


def test_compiled_on_first_use_then_kept():
    p = Pattern(r"(\d+)([a-z]*)", re.I)
    assert p._compiled is None
    assert p.match("12AB").groups() == ("12", "AB")
    first = p.compiled()
    assert p.compiled() is first and first.flags & re.I
    assert p.sub("#", "a1b22") == "a##" and [m.group(1) for m in p.finditer("1x 2y")] == ["1", "2"]
    assert p.pattern == r"(\d+)([a-z]*)"


def test_a_bad_pattern_fails_when_used():
    p = Pattern("(unclosed")
    with pytest.raises(re.error, match="missing \\), unterminated subpattern"):
        p.search("x")


def test_every_module_pattern_compiles():
    import importlib

    for name in ("kubectl_dra.cel.checker", "kubectl_dra.cel.analysis", "kubectl_dra.cel.errors",
                 "kubectl_dra.filter.to_cel", "kubectl_dra.alloc.diagnose", "kubectl_dra.alloc.lint"):
        module = importlib.import_module(name)
        patterns = [v for v in vars(module).values() if isinstance(v, Pattern)]
        patterns += [rx for v in vars(module).values() if isinstance(v, tuple)
                     for item in v if isinstance(item, tuple) for rx in item if isinstance(rx, Pattern)]
        assert patterns, name
        for p in patterns:
            assert isinstance(p.compiled(), re.Pattern)
