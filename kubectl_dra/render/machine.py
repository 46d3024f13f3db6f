"""Plain data to JSON / YAML text: stable key order, no markup, never through rich.

Lists are written item by item, so a 40,000-device listing never exists as one big string.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from kubectl_dra.jsonfast import dumps_compact_joined, dumps_indented

#: lists longer than this print one compact item per line
BIG_LIST = 1000
#: items serialised together in a big list
CHUNK = 1000


def iter_json(data: Any) -> Iterator[str]:
    """Chunks of the indented JSON text of ``data``; a top-level ``items`` list is streamed."""
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        yield dumps_indented(data) + "\n"
        return
    head = {k: v for k, v in data.items() if k != "items"}
    yield "{\n"
    for key, value in head.items():
        yield "  " + dumps_indented({key: value})[1:-1].strip() + ",\n"
    if not items:
        yield '  "items": []\n}\n'
        return
    yield '  "items": [\n'
    last = len(items) - 1
    if len(items) > BIG_LIST:
        # one item per line: a fifth less to format and write, and `grep` finds a device's whole entry;
        # serialised CHUNK items at a time (a few hundred kB, not the whole list at once)
        for start in range(0, len(items), CHUNK):
            yield "    " + dumps_compact_joined(items[start:start + CHUNK], ",\n    ") + (
                ",\n" if start + CHUNK <= last else "\n")
    else:
        for i, item in enumerate(items):
            yield "    " + dumps_indented(item).replace("\n", "\n    ") + (",\n" if i < last else "\n")
    yield "  ]\n}\n"


def to_json(data: Any) -> str:
    return "".join(iter_json(data))


def to_yaml(data: Any) -> str:
    import yaml

    return yaml.dump(data, Dumper=_dumper(), sort_keys=False, allow_unicode=True, default_flow_style=False)


_DUMPER: Any = None


def _dumper() -> Any:
    """The YAML dumper: PyYAML's (C when built), writing an object met twice in full each time.
    The model shares equal values between devices (one capacity map, one attribute string for
    40,000 devices): PyYAML would print the second as an alias (``*id001``), kubectl never does."""
    global _DUMPER
    if _DUMPER is None:
        import yaml

        class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc,valid-type]
            def ignore_aliases(self, data: Any) -> bool:
                return True

        _DUMPER = Dumper
    return _DUMPER


def write_json(data: Any, write: Callable[[str], Any]) -> None:
    """Write in ~1 MB blocks: one write per item costs a system call each when stdout is
    unbuffered (PYTHONUNBUFFERED), 40,000 of them on a big cluster."""
    block: list[str] = []
    size = 0
    for chunk in iter_json(data):
        block.append(chunk)
        size += len(chunk)
        if size >= 1 << 20:
            write("".join(block))
            block.clear()
            size = 0
    if block:
        write("".join(block))
