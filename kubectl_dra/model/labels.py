"""Kubernetes label selectors as ``kubectl -l/--selector`` takes them (equality- and set-based).

    sel = parse_selector("nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3,!node-role.kubernetes.io/control-plane")
    sel.matches({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"})   # True

Requirements are separated by commas and ANDed: ``k=v``, ``k==v``, ``k!=v`` (also true when the
label is absent, as in Kubernetes), ``k in (a,b)``, ``k notin (a,b)`` (true when absent), ``k``
(exists), ``!k`` (does not exist).  Keys are ``[prefix/]name`` label keys; values label values.
A malformed selector is a UsageError (exit 2) naming the bad requirement, as kubectl's
``unable to parse requirement``.  Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubectl_dra.errors import UsageError

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$")
_VALUE = re.compile(rf"^({_NAME})?$")
_SET = re.compile(r"^\s*(\S+?)\s+(in|notin)\s*\((.*)\)\s*$")
_CMP = re.compile(r"^\s*([^=!\s]+)\s*(==|=|!=)\s*(\S*)\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # != and notin


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...]
    text: str = ""

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)


def _split(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _bad(part: str, why: str) -> UsageError:
    return UsageError(f"unable to parse requirement: {part.strip()!r}: {why}",
                      hint="e.g. -l 'nvidia.com/gpu.present=true,topology.kubernetes.io/zone in (a,b),!example.com/drain'")


def _check_key(part: str, key: str) -> None:
    if not _KEY.match(key) or len(key.rpartition("/")[0]) > 253:
        raise _bad(part, f"invalid label key {key!r}")


def _check_value(part: str, value: str) -> None:
    if not _VALUE.match(value):
        raise _bad(part, f"invalid label value {value!r}")


def parse_selector(text: str) -> Selector:
    reqs = []
    if not text.strip():
        return Selector((), text)
    for part in _split(text):
        stripped = part.strip()
        if not stripped:
            raise _bad(part, "empty requirement")
        m = _SET.match(stripped)
        if m:
            key, op, inner = m.groups()
            _check_key(part, key)
            values = tuple(v.strip() for v in inner.split(",")) if inner.strip() else ()
            if not values:
                raise _bad(part, f"{op} needs at least one value")
            for v in values:
                _check_value(part, v)
            reqs.append(Requirement(key, op, values))
            continue
        if stripped.startswith("!"):
            key = stripped[1:].strip()
            _check_key(part, key)
            reqs.append(Requirement(key, "!"))
            continue
        m = _CMP.match(stripped)
        if m:
            key, op, value = m.groups()
            _check_key(part, key)
            _check_value(part, value)
            reqs.append(Requirement(key, "=" if op in ("=", "==") else "!=", (value,)))
            continue
        if re.match(r"^\S+$", stripped):
            _check_key(part, stripped)
            reqs.append(Requirement(stripped, "exists"))
            continue
        raise _bad(part, "expected KEY, !KEY, KEY=VALUE, KEY!=VALUE, KEY in (…) or KEY notin (…)")
    return Selector(tuple(reqs), text)


def show_labels(labels: dict[str, str] | None) -> str:
    """The LABELS column of ``--show-labels``: ``k=v,k2=v2`` sorted, ``<none>`` without labels (as kubectl)."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
