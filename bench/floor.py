#!/usr/bin/env python3
"""The floor for `list -o json`: one GET of every ResourceSlice, an orjson parse, the same JSON written out.

No decoding into a model, no join with claims, no table: what any Python reader of the same bytes
must at least pay (interpreter start-up, one HTTP request, parse, serialise, write). ``bench/run.py``
runs it beside ``kubectl-dra list -o json`` and real ``kubectl`` so the three are measured in one
process tree. Reads the server from ``$KUBECONFIG``'s current context (plain http, no auth — the
fake API server's ``--no-auth`` mode the benchmarks use).

Usage::

    KUBECONFIG=bench-kubeconfig python bench/floor.py > /dev/null
"""

from __future__ import annotations

import os
import sys
import urllib.request

import orjson
import yaml


def server() -> str:
    with open(os.environ["KUBECONFIG"], encoding="utf-8") as f:
        config = yaml.safe_load(f)
    contexts = {c["name"]: c["context"] for c in config.get("contexts") or []}
    clusters = {c["name"]: c["cluster"] for c in config.get("clusters") or []}
    return clusters[contexts[config["current-context"]]["cluster"]]["server"].rstrip("/")


def main() -> int:
    url = server() + "/apis/resource.k8s.io/v1/resourceslices"
    with urllib.request.urlopen(url, timeout=300) as reply:
        data = orjson.loads(reply.read())
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    sys.stdout.buffer.write(b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
