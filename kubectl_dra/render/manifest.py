"""ResourceClaim / ResourceClaimTemplate manifests as plain dicts (``kubectl dra claim``).

Pure: no cluster access, no printing. Shapes follow dra-api.md §3.1/§3.3 and §1.4:

* ``resource.k8s.io/v1`` and ``v1beta2``: request fields under ``requests[].exactly``;
* ``resource.k8s.io/v1beta1``: the same fields flat on ``requests[]``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kubectl_dra.errors import UsageError
from kubectl_dra.textscan import unquoted

GROUP = "resource.k8s.io"
API_VERSIONS = ("v1", "v1beta2", "v1beta1")
DEFAULT_API_VERSION = f"{GROUP}/v1"

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")


@dataclass
class ManifestConstraint:
    kind: str  # "matchAttribute" or "distinctAttribute"
    attribute: str  # fully qualified


@dataclass
class Alternative:
    """One ``firstAvailable`` entry: its own class and selectors (count/mode are the claim's)."""

    name: str
    device_class: str
    selectors: list[str] = field(default_factory=list)


MAX_ALTERNATIVES = 8  # DeviceSubRequests per request (dra-api.md §3.1)


@dataclass
class ClaimManifest:
    name: str
    device_class: str
    request: str = "gpu"
    selectors: list[str] = field(default_factory=list)
    count: int | None = 1  # None: allocationMode All
    constraints: list[ManifestConstraint] = field(default_factory=list)
    namespace: str | None = None
    template: bool = False
    api_version: str = DEFAULT_API_VERSION
    # two or more: the request is ``firstAvailable`` (tried in order); device_class/selectors unused
    alternatives: list[Alternative] = field(default_factory=list)


def alternative_name(index: int) -> str:
    """Subrequest names: ``first``, then ``alt-2``, ``alt-3`` … (DNS labels, stable across runs)."""
    return "first" if index == 0 else f"alt-{index + 1}"


def normalize_api_version(text: str) -> str:
    """``v1``, ``resource.k8s.io/v1beta1`` … -> the full group/version; UsageError otherwise."""
    value = text.strip()
    version = value[len(GROUP) + 1 :] if value.startswith(GROUP + "/") else value
    if version not in API_VERSIONS:
        choices = ", ".join(f"{GROUP}/{v}" for v in API_VERSIONS)
        raise UsageError(f"--api-version {text!r} is not supported", hint=f"use one of {choices}")
    return f"{GROUP}/{version}"


def validate_names(spec: ClaimManifest) -> None:
    if len(spec.name) > 253 or not _DNS_SUBDOMAIN.match(spec.name):
        raise UsageError(f"--name {spec.name!r} is not a valid object name",
                         hint="lower-case letters, digits, '-' and '.', starting and ending with a letter or digit")
    if spec.namespace is not None and (len(spec.namespace) > 63 or not _DNS_LABEL.match(spec.namespace)):
        raise UsageError(f"--namespace {spec.namespace!r} is not a valid namespace name (a DNS label)")
    if len(spec.request) > 63 or not _DNS_LABEL.match(spec.request):
        raise UsageError(f"--request {spec.request!r} is not a valid request name",
                         hint="a DNS label: lower-case letters, digits and '-', at most 63 characters")
    if spec.count is not None and spec.count <= 0:
        raise UsageError(f"--count must be greater than zero, not {spec.count}")
    if len(spec.alternatives) > MAX_ALTERNATIVES:
        raise UsageError(f"{len(spec.alternatives)} alternatives: a request takes at most {MAX_ALTERNATIVES} (firstAvailable)",
                         hint=f"use at most {MAX_ALTERNATIVES - 1} --or filters")


def build(spec: ClaimManifest) -> dict:
    """The manifest: a ResourceClaim, or a ResourceClaimTemplate when ``spec.template``."""
    validate_names(spec)
    flat = spec.api_version.endswith("/v1beta1")
    if len(spec.alternatives) > 1:
        # firstAvailable has the same shape in every version: a sibling of exactly (v1beta1: of the flat fields)
        subrequests = [{"name": alt.name, **_device_fields(spec, alt.device_class, alt.selectors)} for alt in spec.alternatives]
        request: dict = {"name": spec.request, "firstAvailable": subrequests}
    else:
        fields = _device_fields(spec, spec.device_class, spec.selectors)
        request = {"name": spec.request, **fields} if flat else {"name": spec.request, "exactly": fields}
    devices: dict = {"requests": [request]}
    if spec.constraints:
        devices["constraints"] = [{"requests": [spec.request], c.kind: c.attribute} for c in spec.constraints]
    claim_spec = {"devices": devices}
    metadata: dict = {"name": spec.name}
    if spec.namespace:
        metadata["namespace"] = spec.namespace
    if spec.template:
        return {
            "apiVersion": spec.api_version,
            "kind": "ResourceClaimTemplate",
            "metadata": metadata,
            "spec": {"spec": claim_spec},
        }
    return {"apiVersion": spec.api_version, "kind": "ResourceClaim", "metadata": metadata, "spec": claim_spec}


def _device_fields(spec: ClaimManifest, device_class: str, selectors: Sequence[str]) -> dict:
    fields: dict = {"deviceClassName": device_class}
    if spec.count is None:
        fields["allocationMode"] = "All"
    else:
        fields["allocationMode"] = "ExactCount"
        fields["count"] = spec.count
    if selectors:
        fields["selectors"] = [{"cel": {"expression": expr}} for expr in selectors]
    return fields


def resolve_attribute(name: str, schema, drivers: Iterable[str] = (), *, flag: str = "--same") -> str:
    """A fully-qualified attribute name for a constraint.

    ``pcieRoot`` (an alias) -> ``resource.kubernetes.io/pcieRoot``; a bare name -> ``<driver>/<name>``
    for the driver that publishes it (preferring ``drivers``, those of the matching devices);
    a qualified name is kept. Unknown or ambiguous names are UsageErrors.
    """
    from kubectl_dra.filter import ALIASES

    alias = ALIASES.get(name)
    if alias is not None:
        if alias.place != "attribute":
            raise UsageError(f"{flag} {name}: {name!r} is not an attribute", hint="constraints compare device attributes")
        name = alias.name
    known = schema.attributes if schema is not None else {}
    if "/" in name:
        return name  # constraints accept any qualified name; the devices may not publish it yet
    # a bare name: the domain is the publishing driver's (as in selectors)
    owners = sorted(q for q, per_driver in known.items() if q.rpartition("/")[2] == name and q.rpartition("/")[0] in per_driver)
    preferred = [q for q in owners if q.rpartition("/")[0] in set(drivers)]
    choice = preferred or owners
    if len(choice) == 1:
        return choice[0]
    if len(choice) > 1:
        raise UsageError(f"{flag} {name}: several drivers publish {name!r}: {', '.join(choice)}",
                         hint="write the fully-qualified name, e.g. " + choice[0])
    bare = sorted({q.rpartition("/")[2] for q in known} | {a for a, al in ALIASES.items() if al.place == "attribute"})
    close = difflib.get_close_matches(name, bare, n=3)
    raise UsageError(f"{flag} {name}: no device publishes an attribute {name!r}",
                     hint=(f"did you mean {', '.join(close)}? " if close else "")
                     + "a qualified name (domain/name) is used as written")


def quote_value(value: str) -> str:
    """A value for the filter language: as is when it is one plain word, else quoted and escaped
    (the filter lexer's own quoting, so any text reads back exactly)."""
    from kubectl_dra.filter.lexer import quote

    return quote(value)


def filter_text(terms: Sequence[str], where: Sequence[str], extra: Sequence[str]) -> str:
    """Positional terms, each --where, and the flag-made terms, ANDed (each group parenthesised)."""
    groups = [" ".join(terms).strip(), *(w.strip() for w in where), *extra]
    groups = [g for g in groups if g]
    if len(groups) == 1:
        return groups[0]
    return " ".join(f"({g})" for g in groups)


FOLD_WIDTH = 80  # CEL expressions longer than this are printed as folded block scalars


def to_yaml(data: dict) -> str:
    """YAML in manifest key order; a CEL ``expression`` longer than FOLD_WIDTH is printed as a folded
    block scalar (``>-``) broken before top-level ``&&`` / ``||``.  Folding turns each line break back
    into the one space it replaced, so the loaded string is byte for byte the expression (checked:
    an expression that would not survive the round trip stays on one line)."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    folded: dict[str, list[str]] = {}

    def swap(node):
        if isinstance(node, dict):
            return {k: (_placeholder(v, folded) if k == "expression" and isinstance(v, str) else swap(v))
                    for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node

    text = yaml.dump(swap(data), Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=1 << 20)
    if not folded:
        return text
    out = []
    for line in text.splitlines(keepends=True):
        key, sep, rest = line.rstrip("\n").partition("expression: ")
        lines = folded.get(rest) if sep and not key.strip("- ") else None
        if lines is None:
            out.append(line)
            continue
        indent = " " * (len(key) + 2)
        out.append(f"{key}expression: >-\n" + "".join(f"{indent}{part}\n" for part in lines))
    return "".join(out)


def _placeholder(expression: str, folded: dict[str, list[str]]) -> str:
    lines = fold_cel(expression)
    if len(lines) < 2:
        return expression
    import yaml

    key = f"FOLDED-CEL-EXPRESSION-{len(folded)}"
    block = "x: >-\n" + "".join(f"  {part}\n" for part in lines)
    if yaml.safe_load(block) != {"x": expression}:  # pragma: no cover - fold_cel keeps to the folding rules
        return expression
    folded[key] = lines
    return key


def fold_cel(expression: str, width: int = FOLD_WIDTH) -> list[str]:
    """``expression`` cut into lines of about ``width`` at single spaces before a top-level ``&&``
    or ``||`` (outside string literals and parentheses); one line when it is short or cannot be cut."""
    if len(expression) <= width or "\n" in expression or expression != expression.strip():
        return [expression]
    cuts = [i for i, c, depth in unquoted(expression)
            if depth == 0 and c == " " and expression[i + 1:i + 3] in ("&&", "||") and expression[i - 1] != " "]
    lines, start, last = [], 0, None
    for cut in cuts:
        if cut - start > width and last is not None:
            lines.append(expression[start:last])
            start = last + 1
        last = cut
    if last is not None and len(expression) - start > width and last > start:
        lines.append(expression[start:last])
        start = last + 1
    lines.append(expression[start:])
    return lines
