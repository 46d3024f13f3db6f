"""Plain data to JSON / YAML text: stable key order, no markup, never through rich."""

from __future__ import annotations

import json
from typing import Any


def to_json(data: Any) -> str:
    items = data.get("items") if isinstance(data, dict) else None
    if isinstance(items, list) and len(items) > 1000:
        return _big_list_json(data)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _big_list_json(data: dict) -> str:
    """Same JSON value, each item indented as a block: the C encoder does the items.

    ``json.dumps(indent=...)`` falls back to the pure-Python encoder, which is ~10× slower on
    40,000 devices; encoding items compactly and re-indenting only the envelope keeps the
    output valid JSON and one item per line-block.
    """
    encode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    head = {k: v for k, v in data.items() if k != "items"}
    parts = ["{"]
    for key, value in head.items():
        parts.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    parts.append('  "items": [')
    items = data["items"]
    last = len(items) - 1
    for i, item in enumerate(items):
        parts.append("    " + encode(item) + ("," if i < last else ""))
    parts.append("  ]")
    parts.append("}")
    return "\n".join(parts) + "\n"


def to_yaml(data: Any) -> str:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
