"""Filters built from the grammar of docs/filter-language.md, for tests/test_filter_properties.py.

`valid_filters(vocabulary)` draws filters that are valid by construction (they parse, and their names
and values type-check with and without the demo schema) together with the tree they must parse to.
`invalid_filters(vocabulary)` draws filters with exactly one defect put in a known place, together with
the exact error (class, message, column, hint) it must raise.

Nothing here is taken from kubectl_dra.filter: the grammar, the aliases and the typing rules are
written down from the documentation, and the vocabulary (names, kinds, values) is read from the
demo devices themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

KEYWORDS = ("and", "or", "not", "in")
# docs/filter-language.md, "Aliases": alias -> (place, target as written there)
ALIASES = {
    "product": ("attribute", "productName"),
    "arch": ("attribute", "architecture"),
    "cc": ("attribute", "cudaComputeCapability"),
    "cuda": ("attribute", "cudaDriverVersion"),
    "uuid": ("attribute", "uuid"),
    "profile": ("attribute", "profile"),
    "memory": ("capacity", "memory"),
    "pcieRoot": ("attribute", "resource.kubernetes.io/pcieRoot"),
    "pciBusID": ("attribute", "resource.kubernetes.io/pciBusID"),
    "numaNode": ("attribute", "resource.kubernetes.io/numaNode"),
    "driver": ("driver", ""),
    "mig": ("mig", ""),
}
UNITS = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E")
OPS = {
    "string": ("=", "==", "!=", "~", "in"),
    "int": ("=", "==", "!=", ">", ">=", "<", "<=", "in"),
    "version": ("=", "==", "!=", ">", ">=", "<", "<=", "in"),
    "quantity": ("=", "==", "!=", ">", ">=", "<", "<=", "in"),
    "bool": ("=", "==", "!=", "in"),
}
VALUE_HINT = "values may carry units, e.g. memory>=40Gi; quote values with spaces or symbols"
MAX_DEPTH = 64

WS = st.sampled_from([" ", "  ", "\t", "\n", " \t "])
OPT_WS = st.sampled_from(["", "", " ", "\t"])


def any_case(word: str):
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda upper: "".join(c.upper() if u else c for c, u in zip(word, upper))
    )


# -- the vocabulary: names the demo devices publish, with their kinds and values ------------------


@dataclass(frozen=True)
class Name:
    text: str  # as written in a filter
    kind: str  # string, int, bool, version, quantity
    values: tuple[str, ...]  # values the devices have (as filter literals, unquoted)
    units_only: bool = False  # a capacity that is not the memory alias: a literal needs a unit


def _literal(value, kind: str) -> str:
    if kind == "bool":
        return "true" if value else "false"
    return str(value)


def vocabulary(devices) -> list[Name]:
    """Every name a filter may use on the demo devices, valid with and without the schema.

    A name qualifies when it has one kind everywhere; a bare name also needs its domain to be the
    publishing driver's and no capacity of that name. Version names need a version-like name
    (…Version, cudaComputeCapability) for the literal typing without devices.
    """
    kinds: dict[str, set[str]] = {}
    values: dict[str, set[str]] = {}
    capacities: dict[str, set[str]] = {}
    drivers = {d.driver for d in devices}
    for d in devices:
        for qualified, value in d.attributes.items():
            kind = d.attr_kind(qualified) or ("bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "string")
            kinds.setdefault(qualified, set()).add(kind)
            values.setdefault(qualified, set()).add(_literal(value, kind))
        for qualified, value in d.capacity.items():
            capacities.setdefault(qualified, set()).add(str(value))
    out: list[Name] = []
    bare: dict[str, list[str]] = {}
    for qualified, ks in sorted(kinds.items()):
        domain, _, ident = qualified.rpartition("/")
        if len(ks) != 1 or ident.lower() in KEYWORDS:
            continue
        kind = next(iter(ks))
        if kind == "version" and not (ident.endswith("Version") or ident == "cudaComputeCapability"):
            continue
        out.append(Name(qualified, kind, tuple(sorted(values[qualified]))))
        if domain in drivers:
            bare.setdefault(ident, []).append(qualified)
    for ident, names in sorted(bare.items()):
        ks = set().union(*(kinds[q] for q in names))
        if ident in ALIASES or len(ks) != 1 or any(q.endswith(f"/{ident}") for q in capacities):
            continue
        out.append(Name(ident, ks.pop(), tuple(sorted(set().union(*(values[q] for q in names))))))
    for alias, (place, target) in ALIASES.items():
        if place != "attribute":
            continue
        names = [target] if "/" in target else [f"{drv}/{target}" for drv in sorted(drivers) if f"{drv}/{target}" in kinds]
        ks = set().union(*(kinds.get(q, set()) for q in names))
        if len(ks) == 1:
            out.append(Name(alias, ks.pop(), tuple(sorted(set().union(*(values[q] for q in names if q in values))))))
    for qualified, vs in sorted(capacities.items()):
        out.append(Name(qualified, "quantity", tuple(sorted(v for v in vs if v.endswith(UNITS))), units_only=True))
    memory = set().union(*(vs for q, vs in capacities.items() if q.endswith("/memory")))
    out.append(Name("memory", "quantity", tuple(sorted(memory))))
    out.append(Name("driver", "string", tuple(sorted(drivers))))
    out.append(Name("mig", "bool", ("true", "false")))
    return out


# -- values --------------------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)


@st.composite
def quoted(draw, raw: str) -> str:
    """raw in quotes: the quote character and backslashes escaped, sometimes other characters too."""
    q = draw(st.sampled_from(['"', "'"]))
    every = draw(st.sampled_from([0, 0, 0, 1, 2, 3, 5]))  # also escape every n-th character
    out = []
    for i, c in enumerate(raw):
        if c in (q, "\\") or (every and i % every == 0):
            out.append("\\")
        out.append(c)
    return q + "".join(out) + q


_SPECIAL = set("()=!<>~,\"'&|")


def _bare_word(raw: str) -> bool:
    """Whether raw can be written unquoted as one value."""
    return bool(raw) and raw.lower() not in KEYWORDS and not any(c.isspace() or c in _SPECIAL for c in raw)


@st.composite
def value_for(draw, name: Name, op: str) -> tuple[str, str, bool]:
    """(as written, as the tree holds it, quoted) for one value of ``name``.

    With =, != and in, a value is sometimes written the other way (a string unquoted, anything else
    quoted): still valid with the schema (it types the value), but without it the literal decides, so
    the comparison is between different types (== false, != true) or against a capacity.
    """
    text, raw, is_quoted = draw(_value(name, op))
    if op in ("=", "==", "!=", "in") and draw(st.integers(0, 4)) == 0:
        if not is_quoted:
            return draw(quoted(raw)), raw, True
        if _bare_word(raw):
            return raw, raw, False
    return text, raw, is_quoted


@st.composite
def _value(draw, name: Name, op: str) -> tuple[str, str, bool]:
    kind = name.kind
    if kind == "string":
        if op == "~" and name.values and draw(st.booleans()):
            whole = draw(st.sampled_from(name.values))
            i = draw(st.integers(0, len(whole)))
            j = draw(st.integers(i, len(whole)))
            raw = draw(st.sampled_from([whole[i:j], whole[i:j].upper(), whole[i:j].lower()]))
        elif name.values and draw(st.integers(0, 3)):
            raw = draw(st.sampled_from(name.values))
        else:
            raw = draw(TEXT)
        return draw(quoted(raw)), raw, True
    if kind == "bool":
        text = draw(st.sampled_from(["true", "false"]).flatmap(any_case))
    elif kind == "int":
        if name.values and draw(st.booleans()):
            text = draw(st.sampled_from(name.values))
        else:
            n = draw(st.one_of(st.integers(-3, 10000), st.integers(-(1 << 63), (1 << 63) - 1)))
            text = draw(st.sampled_from(["", "+"])) + str(n) if n >= 0 else str(n)
    elif kind == "version":
        if name.values and draw(st.booleans()):
            text = draw(st.sampled_from(name.values))
        else:
            parts = draw(st.lists(st.integers(0, 999), min_size=1, max_size=3))
            text = draw(st.sampled_from(["", "v"])) + ".".join(map(str, parts))
    else:  # quantity
        usable = name.values
        if usable and draw(st.booleans()):
            text = draw(st.sampled_from(usable))
        else:
            number = str(draw(st.integers(0, 2048)))
            if draw(st.booleans()):
                number += "." + str(draw(st.integers(0, 99)))
            unit = draw(st.sampled_from(UNITS)) if name.units_only else draw(st.sampled_from(("",) + UNITS))
            text = number + unit
    return text, text, False


# -- valid filters: the text and the tree it must parse to ----------------------------------------
#
# Trees: ("or", (t, ...)), ("and", (t, ...)), ("not", t), ("flag", name),
# ("cmp", name, op, ((value, quoted), ...)) with "==" kept as "=".


@st.composite
def term(draw, names: list[Name]):
    name = draw(st.sampled_from(names))
    if name.kind == "bool" and draw(st.integers(0, 3)) == 0:
        return name.text, ("flag", name.text)
    op = draw(st.sampled_from(OPS[name.kind]))
    if op == "in":
        kw = draw(any_case("in"))
        values = draw(st.lists(value_for(name, op), min_size=1, max_size=3))
        seps = [draw(OPT_WS) + "," + draw(OPT_WS) for _ in values[1:]]
        body = values[0][0] + "".join(s + v[0] for s, v in zip(seps, values[1:]))
        if draw(st.booleans()) and draw(st.booleans()):
            body += draw(OPT_WS) + ","  # a trailing comma
        text = f"{name.text}{draw(WS)}{kw}{draw(OPT_WS)}({draw(OPT_WS)}{body}{draw(OPT_WS)})"
        return text, ("cmp", name.text, "in", tuple((v[1], v[2]) for v in values))
    written, raw, is_quoted = draw(value_for(name, op))
    text = f"{name.text}{draw(OPT_WS)}{op}{draw(OPT_WS)}{written}"
    return text, ("cmp", name.text, "=" if op == "==" else op, ((raw, is_quoted),))


MAX_TERMS = 8  # keeps the CEL of every generated filter well under the API's 10 Ki characters


@st.composite
def _or(draw, names, depth, budget):
    parts = [draw(_and(names, depth, budget))]
    while budget[0] > 0 and len(parts) < 3 and draw(st.booleans()):
        parts.append(draw(_and(names, depth, budget)))
    if len(parts) == 1:
        return parts[0]
    text = parts[0][0]
    for part in parts[1:]:
        text += draw(WS) + draw(any_case("or")) + draw(WS) + part[0]
    return text, ("or", tuple(p[1] for p in parts))


@st.composite
def _and(draw, names, depth, budget):
    parts = [draw(_unary(names, depth, budget))]
    while budget[0] > 0 and len(parts) < 3 and draw(st.booleans()):
        parts.append(draw(_unary(names, depth, budget)))
    if len(parts) == 1:
        return parts[0]
    text = parts[0][0]
    for part in parts[1:]:
        joint = draw(st.one_of(WS, st.tuples(WS, any_case("and"), WS).map("".join)))
        text += joint + part[0]
    return text, ("and", tuple(p[1] for p in parts))


@st.composite
def _unary(draw, names, depth, budget):
    choice = draw(st.integers(0, 4)) if depth < 3 and budget[0] > 1 else 4
    if choice == 0:
        inner_text, inner = draw(_unary(names, depth + 1, budget))
        gap = draw(OPT_WS if inner_text.startswith("(") else WS)
        return draw(any_case("not")) + gap + inner_text, ("not", inner)
    if choice == 1:
        inner_text, inner = draw(_or(names, depth + 1, budget))
        return f"({draw(OPT_WS)}{inner_text}{draw(OPT_WS)})", inner
    budget[0] -= 1
    return draw(term(names))


@st.composite
def valid_filters(draw, names: list[Name], max_terms: int = MAX_TERMS):
    """(text, tree): a filter valid by construction, with optional whitespace around it."""
    text, tree = draw(_or(names, 0, [max_terms]))
    return draw(OPT_WS) + text + draw(OPT_WS), tree


def leaf_text(tree) -> str:
    """One comparison of a tree as a filter of its own (quoted values re-quoted with double quotes)."""
    if tree[0] == "flag":
        return tree[1]
    _, name, op, values = tree

    def lit(v):
        raw, is_quoted = v
        return '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"' if is_quoted else raw

    if op == "in":
        return f"{name} in ({', '.join(lit(v) for v in values)})"
    return f"{name}{op}{lit(values[0])}"


# -- invalid filters: one defect in a known place and the error it must raise ---------------------


@dataclass(frozen=True)
class Rejection:
    text: str
    error: str  # FilterSyntaxError, FilterNameError, FilterTypeError
    message: str
    column: int
    hint: str | None
    schema: bool = False  # raised only when the demo schema is known


@st.composite
def invalid_filters(draw, names: list[Name]):
    """A Rejection: a valid filter A (and B), with one defect put between or after them."""
    a = draw(valid_filters(names, 3))[0]
    b = draw(valid_filters(names, 2))[0]
    ws = draw(WS)
    head = a + ws
    kind = draw(st.sampled_from(sorted(_DEFECTS)))
    return _DEFECTS[kind](draw, names, a, b, head)


def _syntax(text, message, column, hint=None):
    return Rejection(text, "FilterSyntaxError", message, column, hint)


def _trailing_keyword(draw, names, a, b, head):
    kw = draw(st.sampled_from(["and", "or", "not"]).flatmap(any_case))
    text = head + kw + draw(OPT_WS)
    return _syntax(text, f"expected a term after {kw!r} in filter", len(text))


def _keyword_after_keyword(draw, names, a, b, head):
    kw = draw(st.sampled_from(["and", "or", "not"]).flatmap(any_case))
    kw2 = draw(st.sampled_from(["and", "or"]).flatmap(any_case))
    before = head + kw + draw(WS)
    return _syntax(before + kw2 + draw(WS) + b, f"expected a term after {kw!r} in filter", len(before))


def _unmatched_close(draw, names, a, b, head):
    tail = draw(st.sampled_from(["", " " + b]))
    return _syntax(head + ")" + tail, "unexpected ')' in filter (no matching '(')", len(head))


def _unclosed_open(draw, names, a, b, head):
    lead = draw(OPT_WS)
    text = lead + "(" + draw(OPT_WS) + a + draw(OPT_WS)
    return _syntax(text, f"expected ')' to close the '(' at column {len(lead)}", len(text))


def _missing_value(draw, names, a, b, head):
    name = draw(st.sampled_from(names))
    op = draw(st.sampled_from(["=", "==", "!=", ">", ">=", "<", "<=", "~"]))
    text = head + name.text + draw(OPT_WS) + op + draw(OPT_WS)
    return _syntax(text, f"expected a value after '{op}' in filter", len(text), VALUE_HINT)


def _in_without_list(draw, names, a, b, head):
    kw = draw(any_case("in"))
    text = head + draw(st.sampled_from(names)).text + draw(WS) + kw + draw(OPT_WS)
    return _syntax(text, f"expected '(' after {kw!r} in filter", len(text), "e.g. profile in (1g.10gb, 2g.20gb)")


def _unclosed_list(draw, names, a, b, head):
    start = head + draw(st.sampled_from(names)).text + " in (" + draw(OPT_WS) + "x" + draw(OPT_WS)
    if draw(st.booleans()):
        text = start + "," + draw(OPT_WS)
        return _syntax(text, "expected a value after ',' in filter", len(text), VALUE_HINT)
    return _syntax(start, "expected ',' or ')' in the list of values", len(start))


def _empty_list(draw, names, a, b, head):
    before = head + draw(st.sampled_from(names)).text + " in (" + draw(OPT_WS)
    return _syntax(before + ")" + draw(st.sampled_from(["", " " + b])), "expected a value in the list in filter",
                   len(before), VALUE_HINT)


def _quoted_name(draw, names, a, b, head):
    before = head + draw(st.sampled_from(["", "and ", "OR ", "not "]))
    value = draw(quoted(draw(TEXT)))
    text = before + value + draw(st.sampled_from(["", "=1", " " + b]))
    return _syntax(text, "expected an attribute name, found a quoted value", len(before),
                   'attribute names are not quoted: product="NVIDIA H100"')


def _operator_first(draw, names, a, b, head):
    before = head + draw(st.sampled_from(["and ", "or ", "NOT "]))
    op = draw(st.sampled_from(["=", "==", "!=", ">", ">=", "<", "<=", "~"]))
    stored = "=" if op == "==" else op
    return _syntax(before + op + "1", f"expected an attribute name before {stored!r} in filter", len(before))


def _empty_parens(draw, names, a, b, head):
    before = head + draw(st.sampled_from(["", "and ", "not "])) + "(" + draw(OPT_WS)
    return _syntax(before + ")" + draw(st.sampled_from(["", " " + b])), "expected a term inside '()' in filter", len(before))


def _keyword_as_name(draw, names, a, b, head):
    before = head + draw(st.sampled_from(["and ", "or ", "not "]))
    kw = draw(any_case("in"))
    return _syntax(before + kw + "=1", f"expected an attribute name, found the keyword {kw!r}", len(before))


def _lexer_symbol(draw, names, a, b, head):
    symbol = draw(st.sampled_from(["!", "& ", "&&", "| ", "||", "!x"]))
    text = head + symbol + " " + b
    if symbol.startswith("!"):
        return _syntax(text, "unexpected '!' in filter", len(head), "use '!=' or 'not'")
    word = "and" if symbol[0] == "&" else "or"
    return _syntax(text, f"unexpected {symbol[0]!r} in filter", len(head), f"use '{word}'")


def _unterminated_quote(draw, names, a, b, head):
    q = draw(st.sampled_from(['"', "'"]))
    before = head + draw(st.sampled_from(["", "product=", "arch ~ "]))
    rest = draw(TEXT).replace(q, "")
    return _syntax(before + q + rest, f"unterminated quoted value (missing closing {q})", len(before))


def _blank(draw, names, a, b, head):
    return _syntax(draw(st.sampled_from(["", " ", "\t", "\n ", "   "])), "empty filter", 0, "e.g. memory>=40Gi mig=false")


def _too_deep(draw, names, a, b, head):
    openers = draw(st.lists(st.sampled_from(["not ", "NOT ", "(", "( "]), min_size=MAX_DEPTH + 1, max_size=MAX_DEPTH + 4))
    text = "".join(openers[:MAX_DEPTH])  # each opener is one level; the 65th is one too many
    column = len(text)
    text += "".join(openers[MAX_DEPTH:])
    closing = ")" * text.count("(")
    return _syntax(text + "mig" + closing, f"filter nested too deeply (more than {MAX_DEPTH} levels)", column)


def _invalid_name(draw, names, a, b, head):
    before = head + draw(st.sampled_from(["", "and ", "or "]))
    bad = draw(st.sampled_from(["9gpu", "a-b", "x" * 33, "gpu.nvidia.com/", "gpu.nvidia.com/9x", "é"]))
    text = before + bad + "=1" + draw(st.sampled_from(["", " " + b]))
    return Rejection(text, "FilterNameError", f"invalid attribute name {bad!r}", len(before),
                     "names are C identifiers of at most 32 characters, optionally domain/name")


def _invalid_domain(draw, names, a, b, head):
    before = head + draw(st.sampled_from(["", "and ", "not "]))
    domain = draw(st.sampled_from(["GPU.nvidia.com", "-gpu", "gpu..com", "a_b", "x" * 64]))
    raw = f"{domain}/productName"
    return Rejection(before + raw + "~x", "FilterNameError", f"invalid domain {domain!r} in attribute name {raw!r}",
                     len(before), "a domain is a DNS subdomain, e.g. gpu.nvidia.com/productName")


def _unknown_name(draw, names, a, b, head):
    before = head + draw(st.sampled_from(["", "and ", "or "]))
    unknown = draw(st.text("qz", min_size=4, max_size=10))  # no published name has a q or a z
    text = before + unknown + "=1" + draw(st.sampled_from(["", " " + b]))
    return Rejection(text, "FilterNameError", f"no device publishes an attribute or capacity named {unknown!r}",
                     len(before), "run 'kubectl dra list -o wide' to see the published names", schema=True)


_EXAMPLES = {"quantity": "40Gi", "version": "9.0", "int": "8", "bool": "true"}


def _wrong_value(draw, names, a, b, head):
    typed = [n for n in names if n.kind != "string"]
    name = draw(st.sampled_from(typed))
    before = head + name.text + draw(st.sampled_from(["=", " != "]))
    bad = draw(st.text("qz", min_size=1, max_size=6))
    hint = (f"values may carry units, e.g. {name.text}>=40Gi" if name.kind == "quantity"
            else f"{name.text} is a {name.kind}, e.g. {name.text}={_EXAMPLES[name.kind]}")
    return Rejection(before + bad, "FilterTypeError", f"{bad!r} is not a valid {name.kind} for {name.text}", len(before),
                     hint, schema=True)


def _wrong_operator(draw, names, a, b, head):
    allowed = {k: set(v) - {"=="} for k, v in OPS.items()}
    pairs = [(n, op) for n in names for op in ("~", ">", "<=") if op not in allowed[n.kind]]
    name, op = draw(st.sampled_from(pairs))
    text = head + name.text + op + "1"
    return Rejection(text, "FilterTypeError", f"operator {op!r} does not apply to {name.text} (a {name.kind})",
                     len(head), f"{name.kind} values take {', '.join(sorted(allowed[name.kind]))}", schema=True)


_DEFECTS = {
    f.__name__.lstrip("_"): f
    for f in (
        _trailing_keyword, _keyword_after_keyword, _unmatched_close, _unclosed_open, _missing_value,
        _in_without_list, _unclosed_list, _empty_list, _quoted_name, _operator_first, _empty_parens,
        _keyword_as_name, _lexer_symbol, _unterminated_quote, _blank, _too_deep, _invalid_name,
        _invalid_domain, _unknown_name, _wrong_value, _wrong_operator,
    )
}
