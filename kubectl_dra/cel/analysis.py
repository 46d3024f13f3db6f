"""Static analysis of selector text: string literals, tokens, which attribute ids an expression can
observe (evaluation pruning), and the rewrites that let the engine read absent domains as empty maps."""

from __future__ import annotations

import re

from kubectl_dra.lazyre import Pattern as _Pattern

#: the fields of the ``device`` variable
DEVICE_FIELDS = ("driver", "attributes", "capacity", "allowMultipleAllocations")

_STRING = r"""(?:[rR])?(?:\"\"\"(?:\\.|[^\\])*?\"\"\"|'''(?:\\.|[^\\])*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')"""
_STRING_RE = _Pattern(_STRING, re.DOTALL)
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


def string_literals(expression: str) -> tuple[set[str], str]:
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

_TOKEN_RE = _Pattern(
    r"(?P<str>" + _STRING + r")"
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
            values, _ = string_literals(m.group(0))
            out.append(("str", next(iter(values), "")))
        else:
            out.append((kind or "op", m.group(0)))
    return out


_DOMAIN_LISTS = {"attributes": "draAttributeDomains", "capacity": "draCapacityDomains"}
OPTIONAL_DOMAIN_RE = _Pattern(r"device\s*\.\s*(attributes|capacity)\s*(\[\s*\?|\.\s*\?)")


def membership_rewrite(expression: str) -> str | None:
    """The expression with each ``x in device.attributes`` (the whole map) reading the real domain list.

    Kubernetes reads an unknown domain as an empty map; this engine cannot, so a lookup of an absent
    domain is retried with that domain filled in (``program.Program._run``). The retry must not let
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


def blank_same_width(expression: str) -> str:
    """The expression with every string literal's content replaced by spaces (same offsets)."""
    return _STRING_RE.sub(lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], expression)
