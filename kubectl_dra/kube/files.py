"""Offline input: -f FILE|DIR|- with YAML (multi-document), JSON, ``kind: List`` and ``*List`` dumps."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterable, Iterator

from kubectl_dra.errors import InputError

EXTENSIONS = (".yaml", ".yml", ".json")


def expand(paths: Iterable[str], recursive: bool = False) -> list[str]:
    """Files named by -f, with directories expanded (their .yaml/.yml/.json files, sorted, like kubectl;
    with ``recursive`` (-R) their subdirectories' too)."""
    return [name for name, _ in expand_named(paths, recursive)]


def expand_named(paths: Iterable[str], recursive: bool = False) -> list[tuple[str, str | None]]:
    """(file, the directory -f named it through, or None when -f named the file itself)."""
    out: list[tuple[str, str | None]] = []
    for raw in paths:
        if raw == "-":
            out.append(("-", None))
            continue
        if not raw.strip():
            raise InputError("-f/--filename: an empty file name", hint="name a file, a directory, or - for stdin")
        path = Path(raw).expanduser()
        if path.is_dir():
            walk = path.rglob("*") if recursive else path.iterdir()
            found = sorted(str(p) for p in walk if p.is_file() and p.suffix.lower() in EXTENSIONS)
            if not found:
                raise InputError(f"{raw}: directory has no .yaml, .yml or .json files"
                                 + ("" if recursive else " (-R reads its subdirectories too)"))
            out.extend((name, raw) for name in found)
            continue
        if path.is_file() or path.is_fifo() or path.is_char_device():
            out.append((str(path), None))  # -f <(kubectl get ...) is a pipe
        elif path.exists():
            raise InputError(f"{raw}: not a regular file or directory")
        else:
            raise InputError(f"{raw}: no such file or directory")
    return out


#: an input file larger than this is not a cluster dump (100,000 devices of YAML are ~150 MB)
MAX_INPUT_BYTES = 1 << 30


def read_input(name: str, *, label: str | None = None, error: type = InputError) -> str:
    """The text of a file or ``-`` (stdin) as UTF-8: the one reader of input files (-f, --claim-file,
    --snapshot). Bytes that are not UTF-8, an unreadable or a huge file are ``error`` naming it —
    never a crash, whatever the locale (stdin is read as bytes)."""
    shown = label or ("<stdin>" if name == "-" else name)
    try:
        if name == "-":
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:  # a test harness's text stdin
                data = (sys.stdin.read() if sys.stdin is not None else "").encode("utf-8", "surrogateescape")
            else:
                data = stream.read(MAX_INPUT_BYTES + 1)
        else:
            with open(Path(name).expanduser(), "rb") as fh:
                data = fh.read(MAX_INPUT_BYTES + 1)
    except OSError as err:
        raise error(f"{shown}: cannot read: {err.strerror or err}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise error(f"{shown}: larger than {MAX_INPUT_BYTES >> 20} MiB: not reading it")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise error(f"{shown}: not UTF-8 text (byte {err.start + 1}, line {line}); expected YAML or JSON") from None
    return text[1:] if text.startswith("\ufeff") else text


def read_text(name: str) -> str:
    return read_input(name)


def parse_documents(text: str, name: str) -> list:
    """Parse YAML or JSON text into documents; errors name the file and line."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        from kubectl_dra.jsonfast import loads

        try:
            value = loads(text)
            return value if isinstance(value, list) else [value]
        except ValueError:
            pass  # YAML is a superset of most JSON; let the YAML parser report the problem
    import yaml

    try:
        return [doc for doc in yaml.load_all(text, Loader=_yaml_loader()) if doc is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InputError(f"{name}: not valid YAML or JSON{where}: {problem}") from None
    except (ValueError, RecursionError, OverflowError) as err:  # e.g. a 5,000-digit number, deep nesting
        detail = " ".join(str(err).split())[:120] or type(err).__name__
        raise InputError(f"{name}: a value this tool cannot read: {detail}") from None


_LOADER = None


def _yaml_loader():
    """The C safe loader, minus timestamp resolution: Kubernetes times stay strings, as the API serves them."""
    global _LOADER
    if _LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        _LOADER = type("KubeLoader", (base,), {})
        _LOADER.yaml_implicit_resolvers = {
            first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
            for first, resolvers in base.yaml_implicit_resolvers.items()
        }
    return _LOADER


def iter_objects(documents: list) -> Iterator[dict]:
    """Kubernetes objects in documents, expanding ``List`` kinds; non-objects are yielded as None."""
    for doc in documents:
        if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
            yield None  # type: ignore[misc]
            continue
        kind = str(doc["kind"])
        items = doc.get("items")
        if kind.endswith("List") and items is not None and not isinstance(items, list):
            raise InputError(f"a {kind[:60]}'s items is a {type(items).__name__}, not a list",
                             hint="a List holds its objects under items: as a list")
        if kind.endswith("List") and isinstance(items, list):
            item_kind = kind[:-4] if kind != "List" else None
            for item in items:
                if isinstance(item, dict):
                    if item_kind:
                        item.setdefault("kind", item_kind)
                        item.setdefault("apiVersion", doc["apiVersion"])
                    if item.get("kind") and item.get("apiVersion"):
                        yield item
                        continue
                yield None  # type: ignore[misc]
            continue
        yield doc


def load_objects(paths: Iterable[str], *, recursive: bool = False,
                 warn: Callable[[str], None] | None = None) -> Iterator[tuple[str, dict]]:
    """(file name, object) for every Kubernetes object in the named files.

    A file named by -f with documents but no Kubernetes object at all is an error (exit 5); so is
    an empty or unreadable one.  A file found in a directory that -f named (a values.yaml, an NVML
    snapshot next to the dumps) is skipped with a warning through ``warn``, as kubectl's builder
    reports such files and goes on; a directory that yields no object at all is still an error.
    """
    by_dir: dict[str, int] = {}
    for name, directory in expand_named(paths, recursive):
        display = "<stdin>" if name == "-" else name
        try:
            objects = list(_file_objects(name, display))
        except InputError as error:
            if directory is None or warn is None:
                raise
            warn(f"skipping {error.message}")
            by_dir.setdefault(directory, 0)
            continue
        if directory is not None:
            by_dir[directory] = by_dir.get(directory, 0) + len(objects)
        for obj in objects:
            yield display, obj
    for directory, count in by_dir.items():
        if not count:
            raise InputError(f"{directory}: no Kubernetes objects in any of its files",
                             hint=None if recursive else "-R also reads its subdirectories")


def _file_objects(name: str, display: str) -> Iterator[dict]:
    docs = parse_documents(read_text(name), name)
    if not docs:
        raise InputError(f"{display}: no Kubernetes objects found (the file is empty)")
    found = 0
    objects = iter_objects(docs)
    while True:
        try:
            obj = next(objects)
        except StopIteration:
            break
        except InputError as err:  # e.g. a List whose items is not a list: name the file
            raise InputError(f"{display}: {err.message}", hint=err.hint) from None
        if obj is None:
            continue
        found += 1
        yield obj
    if not found:
        raise InputError(
            f"{display}: not Kubernetes objects (documents need apiVersion and kind)",
            hint="pass `kubectl get resourceslices,resourceclaims -A -o yaml` output or manifests",
        )
