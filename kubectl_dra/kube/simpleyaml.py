"""Read a kubeconfig without importing PyYAML, where the file is simple enough to be sure.

Every live command reads a kubeconfig first, and importing PyYAML costs ~15 ms of a command's
start-up. Kubeconfigs are written by kubectl, cloud CLIs and cluster tools in a small part of YAML:
block mappings and sequences, plain and quoted scalars, ``{}`` and ``[]``; or as JSON. :func:`load`
reads exactly that part and returns what PyYAML's safe loader returns for it; for anything else
(anchors, tags, multi-line or escaped scalars, flow collections, a scalar whose YAML 1.1 type is
not obvious, a syntax error) it raises :class:`NotSimple` and the caller uses PyYAML, which also
says what is wrong with a broken file.
"""

from __future__ import annotations

from typing import Any


class NotSimple(Exception):
    """The text needs PyYAML."""


#: YAML 1.1's booleans and nulls as PyYAML's safe loader resolves plain scalars
_BOOLS = {w: True for w in ("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")}
_BOOLS.update({w: False for w in ("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")})
_NULLS = frozenset(("~", "null", "Null", "NULL"))
#: the characters of a plain key, and of a plain value (besides single spaces between words), read
#: here: none that could start a comment, a flow collection, a quoted scalar or another token
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/")
_PLAIN_CHARS = _KEY_CHARS | frozenset(":@=+,;%()?&~")
#: the ASCII controls YAML does not allow in a stream (tab, line feed and carriage return it does)
_CONTROLS = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def safe_load(raw: bytes) -> Any:
    """What PyYAML's safe loader gives for ``raw``: read here where simple enough, else by PyYAML
    (whose errors pass through)."""
    try:
        return load(raw.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError, NotSimple):
        import yaml

        return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader


def load(text: str) -> Any:
    """The document in ``text`` as PyYAML's safe loader gives it, or :class:`NotSimple`."""
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte order mark
    if not text.isascii():
        raise NotSimple()  # kubeconfigs are ASCII; YAML's rules for the rest (line breaks, controls) are PyYAML's
    data = text.encode("ascii")
    if len(data.translate(None, _CONTROLS)) != len(data) or "\t" in text:
        raise NotSimple()  # YAML refuses these (and tabs are not indentation): PyYAML says where
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return _json(stripped)
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(text.split("\n")):
        line = raw[:-1] if raw.endswith("\r") else raw
        if "\r" in line or line.endswith(" "):
            raise NotSimple()  # a lone carriage return; trailing spaces (kept simple: PyYAML reads them)
        content = line.lstrip(" ")
        if not content or content.startswith("#"):
            continue
        if number == 0 and line == "---":  # a document start on the first line
            continue
        lines.append((len(line) - len(content), content))
    if not lines:
        return None
    value, end = _block(lines, 0, lines[0][0])
    if end != len(lines):
        raise NotSimple()
    return value


def _json(text: str) -> Any:
    """A kubeconfig written as JSON (JSON is YAML): the same value, where nothing can read differently
    in YAML 1.1: no escapes, no floats, and laid out as ``json.dumps`` lays it out (YAML is stricter
    about where line breaks may go)."""
    import json

    if "\\" in text:
        raise NotSimple()
    try:
        value = json.loads(text)
    except ValueError:
        raise NotSimple() from None
    _no_floats(value)
    body = text.rstrip("\n")
    if not any(body == json.dumps(value, ensure_ascii=False, **layout) for layout in _JSON_LAYOUTS):
        raise NotSimple()
    return value


_JSON_LAYOUTS: tuple[dict, ...] = ({}, {"separators": (",", ":")}, *({"indent": n} for n in (1, 2, 3, 4, 8)))


def _no_floats(value: Any) -> None:
    if isinstance(value, float):
        raise NotSimple()
    if isinstance(value, dict):
        for item in value.values():
            _no_floats(item)
    elif isinstance(value, list):
        for item in value:
            _no_floats(item)


def _block(lines: list[tuple[int, str]], at: int, indent: int) -> tuple[Any, int]:
    """The block node starting at line ``at`` (indented ``indent``): a sequence or a mapping."""
    if _is_item(lines[at][1]):
        return _sequence(lines, at, indent)
    return _mapping(lines, at, indent)


def _sequence(lines: list[tuple[int, str]], at: int, indent: int) -> tuple[list, int]:
    items: list = []
    while at < len(lines):
        col, content = lines[at]
        if col < indent or (col == indent and not _is_item(content)):
            break  # the next key of the mapping above (a sequence at its key's indentation ends there)
        if col > indent:
            raise NotSimple()
        rest = content[1:].lstrip(" ")
        inner = col + len(content) - len(rest)  # the column the item's own content starts at
        if not rest:  # "-" alone: the item is the block below, or null
            if at + 1 < len(lines) and lines[at + 1][0] > col:
                value, at = _block(lines, at + 1, lines[at + 1][0])
            else:
                value, at = None, at + 1
            items.append(value)
            continue
        if _is_item(rest):
            raise NotSimple()  # "- - x": a sequence in a sequence on one line
        if _is_pair(rest):  # "- key: value": a mapping whose keys line up with "key"
            lines[at] = (inner, rest)
            value, at = _mapping(lines, at, inner)
        else:
            value, at = _scalar(rest), at + 1
        items.append(value)
    return items, at


def _mapping(lines: list[tuple[int, str]], at: int, indent: int) -> tuple[dict, int]:
    mapping: dict = {}
    while at < len(lines):
        col, content = lines[at]
        if col < indent:
            break
        if col > indent:
            raise NotSimple()
        if _is_item(content):
            break  # a sequence at this indentation belongs to the key above (kubectl's style)
        key, rest = _pair(content)
        if key in mapping:
            raise NotSimple()  # PyYAML keeps the last one; kubeconfig readers disagree: let it decide
        at += 1
        if rest:
            mapping[key] = _scalar(rest)
            continue
        # "key:" alone: a block more indented, a sequence at the same indentation, or null
        if at < len(lines) and (lines[at][0] > col or (lines[at][0] == col and _is_item(lines[at][1]))):
            mapping[key], at = _block(lines, at, lines[at][0])
        else:
            mapping[key] = None
    return mapping, at


def _is_item(content: str) -> bool:
    """A sequence entry: ``-`` alone or ``- something``."""
    return content == "-" or content.startswith("- ")


def _is_key(text: str) -> bool:
    return text[:1].isascii() and text[:1].isalpha() and _KEY_CHARS.issuperset(text)


def _is_pair(content: str) -> bool:
    """``key: value`` or ``key:`` with a plain key."""
    head, sep, rest = content.partition(":")
    return bool(sep) and _is_key(head) and (not rest or rest[0] == " ")


def _pair(content: str) -> tuple[str, str]:
    if not _is_pair(content):
        raise NotSimple()
    head, _, rest = content.partition(":")
    if head in _BOOLS or head in _NULLS:
        raise NotSimple()  # a key that YAML 1.1 reads as a boolean or null
    return head, rest.strip(" ")


def _scalar(text: str) -> Any:
    if text == "{}":
        return {}
    if text == "[]":
        return []
    first = text[0]
    if first == "'":
        if len(text) < 2 or not text.endswith("'"):
            raise NotSimple()
        body = text[1:-1]
        if "'" in body.replace("''", ""):
            raise NotSimple()
        return body.replace("''", "'")
    if first == '"':
        body = text[1:-1]
        if len(text) < 2 or not text.endswith('"') or '"' in body or "\\" in body:
            raise NotSimple()
        return body
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _NULLS:
        return None
    digits = text[1:] if first == "-" else text
    if digits.isascii() and digits.isdigit():  # a decimal int (YAML 1.1 reads 010 as octal: left to PyYAML)
        if digits[0] == "0" and digits != "0":
            raise NotSimple()
        return int(text)
    # a plain string: starts with a letter, "/" or dashes and a letter (``--region``; never a number,
    # a date, a float, an alias, a tag or an indicator), single spaces between words, no ": "
    lead = text.lstrip("-")
    if not (lead[:1].isalpha() or first == "/") or not lead[:1].isascii():
        raise NotSimple()
    if not _PLAIN_CHARS.issuperset(text.replace(" ", "")) or "  " in text or ": " in text or text.endswith(":"):
        raise NotSimple()
    return text
