"""The typed short cut for ResourceSlice pages (kube/slicepage.py) on what a real kube-apiserver sends.

The demo cluster's slices, as the shared control plane serves them in v1 and v1beta2 in pages of 3,
decoded by the short cut and by the exact path: every page the short cut takes must agree with the
exact path, and the plain ones (not the dynamic-MIG or tainted slices) must be taken. The tool's
answer is the same with the short cut switched off.
"""

from __future__ import annotations

import urllib.parse
import urllib.request

import pytest

from kubectl_dra.kube import slicepage
from tests.test_slicepage import check

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(slicepage.msgspec is None, reason="msgspec is not installed")]


def _pages(api, version: str) -> list[bytes]:
    pages, token = [], ""
    while True:
        query = {"limit": "3"}
        if token:
            query["continue"] = token
        url = f"{api.server}/apis/resource.k8s.io/{version}/resourceslices?{urllib.parse.urlencode(query)}"
        req = urllib.request.Request(url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, context=api.ctx, timeout=30) as resp:
            data = resp.read()
        pages.append(data)
        token = slicepage.msgspec.json.decode(data).get("metadata", {}).get("continue") or ""
        if not token:
            return pages


@pytest.mark.parametrize("version", ["v1", "v1beta2"])
def test_the_servers_pages_take_the_short_cut_where_plain_and_agree(api, demo_cluster, version):
    taken = [check(data) for data in _pages(api, version)]
    assert len(taken) >= 3
    assert any(taken) and not all(taken), taken


def test_the_tools_answer_is_the_same_without_the_short_cut(run, live, demo_cluster, monkeypatch):
    with_short_cut = run("list", "-o", "json")
    monkeypatch.setattr(slicepage, "msgspec", None)
    without = run("list", "-o", "json")
    assert with_short_cut.exit_code == 0, with_short_cut.stderr
    assert (with_short_cut.stdout, with_short_cut.stderr) == (without.stdout, without.stderr)
