"""What to offer for the word under the cursor, from the words before it.

``complete(args, incomplete) -> (items, directive)``: ``items`` are (value, description) pairs,
``directive`` cobra's ShellCompDirective (4: no file names, 0: let the shell complete files).
Pure apart from :mod:`.sources`, which reads the cluster values.
"""

from __future__ import annotations

from kubectl_dra.completion import DIRECTIVE_NO_FILE, DIRECTIVE_NO_SPACE
from kubectl_dra.completion import spec

DIRECTIVE_FILES = 0
SOURCE_OPTIONS = {"--demo": "demo", "--filename": "filenames", "-f": "filenames", "--kubeconfig": "kubeconfig",
                  "--context": "context", "--namespace": "namespace", "-n": "namespace"}

Items = list[tuple[str, str]]


class Parsed:
    """The words before the cursor, read like the command line will be."""

    def __init__(self) -> None:
        self.command: str | None = None
        self.used: set[str] = set()  # option names given (all spellings of each)
        self.positionals: list[str] = []
        self.source: dict = {"demo": False, "filenames": [], "kubeconfig": None, "context": None, "namespace": None}
        self.pending: tuple | None = None  # the option whose value is being typed
        self.unknown = False  # an unknown command: nothing to offer


def _options(command: str | None) -> list[tuple]:
    if command is None:
        return list(spec.ROOT_OPTIONS)
    return list(spec.OPTIONS.get(command, ()))


def _find(options: list[tuple], word: str) -> tuple | None:
    for option in options:
        if word in option[0]:
            return option
    return None


def parse(args: list[str]) -> Parsed:
    state = Parsed()
    i = 0
    only_positionals = False
    while i < len(args):
        word = args[i]
        i += 1
        if state.command is None:
            if word in spec.COMMANDS:
                state.command = word
            elif not word.startswith("-"):
                state.unknown = True
                break
            continue
        if only_positionals or not word.startswith("-") or word == "-":
            state.positionals.append(word)
            continue
        if word == "--":
            only_positionals = True
            continue
        name, eq, value = word.partition("=")
        option = _find(_options(state.command), name)
        if option is None:
            continue
        state.used.update(option[0])
        if option[1] == "flag":
            if name == "--demo":
                state.source["demo"] = True
            continue
        if not eq:
            if i >= len(args):
                state.pending = option
                break
            value = args[i]
            i += 1
        _remember(state, name, value)
    return state


def _remember(state: Parsed, name: str, value: str) -> None:
    key = SOURCE_OPTIONS.get(name)
    if key == "filenames":
        state.source["filenames"].append(value)
    elif key:
        state.source[key] = value


def complete(args: list[str], incomplete: str) -> tuple[Items, int]:
    state = parse(args)
    if state.unknown:
        return [], DIRECTIVE_NO_FILE
    if state.pending is not None:
        return values(state.pending[1], incomplete, state)
    if state.command is None:
        if incomplete.startswith("-"):
            return _option_items(_options(None), incomplete, set()), DIRECTIVE_NO_FILE
        return [(c, h) for c, h in spec.COMMANDS.items() if c.startswith(incomplete)], DIRECTIVE_NO_FILE
    if incomplete.startswith("-") and "=" in incomplete:
        name, _, prefix = incomplete.partition("=")
        option = _find(_options(state.command), name)
        if option is None or option[1] == "flag":
            return [], DIRECTIVE_NO_FILE
        items, directive = values(option[1], prefix, state)
        return [(f"{name}={v}", h) for v, h in items], directive
    if incomplete.startswith("-"):
        return _option_items(_options(state.command), incomplete, state.used), DIRECTIVE_NO_FILE
    arguments = spec.ARGUMENTS.get(state.command, [])
    kind = None
    if arguments:
        index = len(state.positionals)
        kind, variadic = arguments[min(index, len(arguments) - 1)]
        if index >= len(arguments) and not arguments[-1][1]:
            kind = None
    if kind is None:
        return [], DIRECTIVE_NO_FILE
    return values(kind, incomplete, state)


def _option_items(options: list[tuple], incomplete: str, used: set[str]) -> Items:
    items = []
    for names, kind, repeatable, help_text in options:
        if not repeatable and any(n in used for n in names):
            continue
        long_name = next((n for n in names if n.startswith("--")), names[0])
        if incomplete.startswith("--") or len(incomplete) > 2 or incomplete == "-":
            candidates = [long_name] if incomplete in ("-", "") or long_name.startswith(incomplete) else [
                n for n in names if n.startswith(incomplete)]
        else:
            candidates = [n for n in names if n.startswith(incomplete)]
        items += [(n, help_text) for n in candidates]
    return items


def values(kind: str, incomplete: str, state: Parsed) -> tuple[Items, int]:
    """Values of one kind that start with ``incomplete``."""
    if kind == "flag":
        return [], DIRECTIVE_NO_FILE
    if kind == "file":
        return [], DIRECTIVE_FILES
    if kind.startswith("choice:"):
        return [(c, "") for c in kind[7:].split(",") if c.startswith(incomplete)], DIRECTIVE_NO_FILE
    if kind == "text":
        return [], DIRECTIVE_NO_FILE
    from kubectl_dra.completion import sources

    if kind == "context":
        return [(c, "") for c in sources.contexts(state.source) if c.startswith(incomplete)], DIRECTIVE_NO_FILE
    catalog = sources.catalog(state.source)
    if catalog is None:
        return [], DIRECTIVE_NO_FILE
    if kind == "filter":
        return filter_items(catalog, incomplete)
    if kind == "attribute":
        names = sorted({n.rpartition("/")[2] for n in catalog.get("attributes", {})} | set(catalog.get("attributes", {})))
        return [(n, "") for n in names if n.startswith(incomplete)], DIRECTIVE_NO_FILE
    if kind == "target":  # explain: pod/NAME or a claim name, of the namespace given with -n
        namespace = state.source.get("namespace")

        def names(entries: list[str]) -> list[str]:
            # entries are namespace/name ("pods" were bare names in caches written before)
            return sorted({e.rpartition("/")[2] for e in entries if namespace is None or e.startswith(namespace + "/")})

        pods = [f"pod/{p}" for p in names(catalog.get("pods", []))]
        return [(v, "") for v in names(catalog.get("claims", [])) + pods if v.startswith(incomplete)], DIRECTIVE_NO_FILE
    key = {"node": "nodes", "device": "devices", "driver": "drivers", "class": "classes", "claim": "claims",
           "namespace": "namespaces"}.get(kind)
    if key is None:
        return [], DIRECTIVE_NO_FILE
    entries = catalog.get(key, [])
    if kind == "node" and state.command != "list":
        # `<all nodes>` / `<node selector>` label devices in `list --node`; elsewhere they name no node
        entries = [n for n in entries if not n.startswith("<")]
    if kind == "claim":
        namespace = state.source.get("namespace")
        entries = [c.rpartition("/")[2] for c in entries if namespace is None or c.startswith(namespace + "/")]
    items = [(v, "") for v in sorted(set(entries)) if v.startswith(incomplete)]
    if kind == "device" and not items:  # a bare device name: also NODE/DEVICE and DEVICE suffixes
        items = [(v, "") for v in sorted(set(entries)) if v.rpartition("/")[2].startswith(incomplete)]
    return items, DIRECTIVE_NO_FILE


def filter_items(catalog: dict, incomplete: str) -> tuple[Items, int]:
    """Inside a filter term: attribute names (and aliases), then, after an operator, published values."""
    import re

    from kubectl_dra.filter.to_cel import ALIASES

    m = re.match(r"^(\(*)(not\s+)?([A-Za-z0-9_.\-/]*)((?:==|!=|>=|<=|=|>|<|~))?(.*)$", incomplete)
    if not m:
        return [], DIRECTIVE_NO_FILE
    lead, negation, name, op, prefix = m.groups()
    head = lead + (negation or "")
    attributes: dict = catalog.get("attributes", {})
    if op is None:
        names: dict[str, str] = {}
        for alias, target in ALIASES.items():
            names[alias] = target.doc
        for qualified, info in [*attributes.items(), *catalog.get("capacity", {}).items()]:
            names.setdefault(qualified.rpartition("/")[2], info.get("kind", ""))
            names.setdefault(qualified, info.get("kind", ""))
        items = [(head + n, h) for n, h in sorted(names.items()) if n.startswith(name)]
        return items, DIRECTIVE_NO_FILE | DIRECTIVE_NO_SPACE
    target = ALIASES.get(name)
    wanted = target.name if target is not None and target.name else name
    found: list[str] = []
    if target is not None and target.place == "driver":
        found = list(catalog.get("drivers", []))
    elif target is not None and target.place == "mig":
        found = ["true", "false"]
    else:
        table = catalog.get("capacity", {}) if target is not None and target.place == "capacity" else {
            **catalog.get("capacity", {}), **attributes}
        for qualified, info in table.items():
            if qualified == wanted or qualified.rpartition("/")[2] == wanted:
                found += [str(v) for v in info.get("values", [])]
    quoted = [_quote(v) for v in dict.fromkeys(found)]
    return [(f"{head}{name}{op}{v}", "") for v in quoted if v.lower().lstrip('"').startswith(prefix.lower().lstrip('"'))], DIRECTIVE_NO_FILE


def _quote(value: str) -> str:
    import re

    if re.fullmatch(r"[A-Za-z0-9_.:/+\-]+", value):
        return value
    return '"' + value.replace('"', "") + '"'
