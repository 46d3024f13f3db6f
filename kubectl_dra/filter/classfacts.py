"""What a DeviceClass guarantees about every device it admits, read from its CEL selectors.

Only facts that can be read off with certainty are kept: the top-level ``&&`` conjuncts of each
selector of the forms

    device.driver == "D"                   ("D" == device.driver, single or double quotes)
    device.driver in ["D1", "D2"]
    device.attributes["D"].NAME == "V"      (or device.attributes["D"]["NAME"] == "V")

Anything else (``||``, ``!``, functions, other fields) is ignored: an unknown selector can only
narrow what the class admits, so ignoring it keeps every fact true.  The facts let the claim
generator drop what the class already guarantees (:func:`kubectl_dra.filter.to_cel.specialize`):
the selector of a ``mig.nvidia.com`` claim need not test the driver or ``type == "mig"`` again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from kubectl_dra.textscan import closing, unquoted

from .to_cel import MIG_TYPES

_STR = r"""(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')"""
_DRIVER_EQ = re.compile(rf"device\.driver\s*==\s*{_STR}\Z|{_STR}\s*==\s*device\.driver\Z")
_DRIVER_IN = re.compile(r"device\.driver\s+in\s*\[(.*)\]\Z", re.S)
_ATTR_EQ = re.compile(
    rf"device\.attributes\s*\[\s*{_STR}\s*\]\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*{_STR}\s*\])\s*==\s*{_STR}\Z")
_PLAIN = re.compile(r"[^\\\"']*\Z")  # literals we read must hold no escapes or quotes


@dataclass(frozen=True)
class ClassFacts:
    """What holds for every device a class admits.  ``drivers`` None: any driver may be admitted."""

    drivers: frozenset[str] | None = None
    #: qualified attribute name ("gpu.nvidia.com/type") -> the string value every admitted device has
    equal: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def mig(self) -> bool | None:
        """True: every admitted device is a MIG/partition device (``mig=true``); False: none is; None: unknown."""
        if not self.drivers:
            return None
        answers = set()
        for driver in self.drivers:
            if driver not in MIG_TYPES or f"{driver}/type" not in self.equal:
                return None
            answers.add(self.equal[f"{driver}/type"] == MIG_TYPES[driver])
        return answers.pop() if len(answers) == 1 else None


def _literal(m: re.Match, *groups: int) -> str | None:
    for g in groups:
        value = m.group(g)
        if value is not None:
            return value if _PLAIN.match(value) else None
    return None


def conjuncts(expression: str) -> list[str]:
    """The top-level ``&&`` operands of ``expression`` (outer parentheses removed); [] if it has a top-level ``||``."""
    text = expression.strip()
    while text.startswith("(") and closing(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    parts, start = [], 0
    for i, c, depth in unquoted(text):
        if i < start or depth:
            continue
        if text.startswith("&&", i):
            parts.append(text[start:i].strip())
            start = i + 2
        elif text.startswith("||", i) or c == "?":
            return []
    parts.append(text[start:].strip())
    out: list[str] = []
    for part in parts:
        inner = conjuncts(part) if part.startswith("(") else [part]
        out.extend(inner)
    return out


def class_facts(selectors: Iterable[str]) -> ClassFacts:
    """The facts every device admitted by all of ``selectors`` (CEL expressions) shares."""
    drivers: frozenset[str] | None = None
    equal: dict[str, str] = {}
    conflict = False
    for expression in selectors:
        for part in conjuncts(expression):
            m = _DRIVER_EQ.match(part)
            if m:
                d = _literal(m, 1, 2, 3, 4)
                if d is not None:
                    drivers = frozenset({d}) if drivers is None else drivers & {d}
                continue
            m = _DRIVER_IN.match(part)
            if m:
                items = [s.strip() for s in m.group(1).split(",") if s.strip()]
                names = set()
                for item in items:
                    lm = re.fullmatch(_STR, item)
                    value = _literal(lm, 1, 2) if lm else None
                    if value is None:
                        names = None
                        break
                    names.add(value)
                if names is not None:
                    drivers = frozenset(names) if drivers is None else drivers & names
                continue
            m = _ATTR_EQ.match(part)
            if m:
                domain = _literal(m, 1, 2)
                ident = m.group(3) or _literal(m, 4, 5)
                value = _literal(m, 6, 7)
                if domain is None or ident is None or value is None:
                    continue
                key = f"{domain}/{ident}"
                if key in equal and equal[key] != value:
                    conflict = True
                equal[key] = value
    if conflict:
        drivers = frozenset()
    return ClassFacts(drivers, equal)
