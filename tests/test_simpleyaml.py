"""kube.simpleyaml: kubeconfigs read without PyYAML give exactly what PyYAML's safe loader gives, and
anything it is not sure of goes to PyYAML (NotSimple), broken files included."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubectl_dra.kube import simpleyaml
from kubectl_dra.kube.simpleyaml import NotSimple
from tests.conftest import ROOT

KIND = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Fo
    server: https://127.0.0.1:38621
  name: kind-kind
contexts:
- context:
    cluster: kind-kind
    namespace: ml-team
    user: kind-kind
  name: kind-kind
current-context: kind-kind
kind: Config
preferences: {}
users:
- name: kind-kind
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t
    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ==
"""

EKS = """---
# written by aws eks update-kubeconfig
apiVersion: v1
clusters:
  - cluster:
      server: https://ABCDEF.gr7.us-west-2.eks.amazonaws.com
      insecure-skip-tls-verify: false
      tls-server-name: api.example.com
      proxy-url: http://proxy.corp:3128
    name: arn:aws:eks:us-west-2:123456789012:cluster/prod
contexts:
  - context:
      cluster: arn:aws:eks:us-west-2:123456789012:cluster/prod
      user: arn:aws:eks:us-west-2:123456789012:cluster/prod
    name: prod
current-context: prod
kind: Config
preferences: {}
users:
  - name: arn:aws:eks:us-west-2:123456789012:cluster/prod
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1beta1
        args:
          - --region
          - us-west-2
          - eks
          - get-token
        command: aws
        env: null
        interactiveMode: IfAvailable
        provideClusterInfo: false
"""

QUOTED = """apiVersion: v1
kind: Config
current-context: 'dev'
clusters:
- name: "dev"
  cluster:
    server: 'https://10.0.0.1:6443'
    extensions:
    - name: client.authentication.k8s.io/exec
      extension:
        audience: 'it''s mine'
contexts:
- name: dev
  context: {cluster: dev, user: dev}
users:
- name: dev
  user:
    token: abc.def-ghi
    username: ""
    client-key: /home/me/.minikube/profiles/dev/client.key
    retries: 3
    offset: -2
"""

SAMPLES = {"kind": KIND, "eks": EKS, "quoted": QUOTED, "crlf": KIND.replace("\n", "\r\n"),
           "json": json.dumps(yaml.safe_load(KIND), indent=2), "json-compact": json.dumps(yaml.safe_load(EKS.split("---")[1]))}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_kubeconfigs_read_as_pyyaml_reads_them(name):
    text = SAMPLES[name]
    expected = yaml.safe_load(text)
    try:
        got = simpleyaml.load(text)
    except NotSimple:
        assert name == "quoted"  # its flow mapping (context: {cluster: dev, user: dev}) goes to PyYAML
        return
    assert got == expected
    assert simpleyaml.safe_load(text.encode()) == expected


def test_the_common_files_are_read_without_pyyaml():
    for name in ("kind", "eks", "crlf", "json", "json-compact"):
        simpleyaml.load(SAMPLES[name])  # raises NotSimple otherwise
    simpleyaml.load(QUOTED.replace("  context: {cluster: dev, user: dev}", "  context:\n    cluster: dev\n    user: dev"))


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: |\n  x\n", "a: >\n  x\n", "a: [1, 2]\n", "a: {b: 1}\n",
        'a: "x\\ty"\n', "a:\tb\n", "a: 1\na: 2\n", "a: 1.5\n", "a: 1e3\n", "a: 2001-12-14\n", "a: 0x1F\n",
        "a: 010\n", "a: 1_000\n", "a: 1:20\n", "on: 1\n", "1: a\n", "a: .inf\n", "a: =\n", "<<: {a: 1}\n",
        "a: b # comment\n", "a: b\n  c\n", "a: 'x\n  y'\n", "- - a\n", "%YAML 1.1\n---\na: 1\n", "a: b: c\n",
        "a: - x\n", "a: _x\n", "a: ~/x\n", "a: é\n", "a: b \n", "--- a\n", "a: 1\n...\n", "'a': 1\n",
        '{"a": "\\u00e9"}', '{"a": 1.0}', '{"a":\t1}', "a: \x7f\n", "a: x\x85y\n", "a: b\r c\n",
    ],
)
def test_anything_not_simple_goes_to_pyyaml(text):
    try:
        got = simpleyaml.load(text)
    except NotSimple:
        return
    pytest.fail(f"read {text!r} as {got!r}: PyYAML gives {yaml.safe_load(text)!r}" if _parses(text) else f"read broken {text!r}")


def _parses(text: str) -> bool:
    try:
        yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return True


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a: yes\nb: Off\nc: y\nd: n\n", {"a": True, "b": False, "c": "y", "d": "n"}),
        ("a: ~\nb: null\nc:\nd: NULL\n", {"a": None, "b": None, "c": None, "d": None}),
        ("a: 0\nb: -17\nc: 42\n", {"a": 0, "b": -17, "c": 42}),
        ("a: -x\nb: --region\n", {"a": "-x", "b": "--region"}),
        ("a:\n- 1\n- x\nb: 2\n", {"a": [1, "x"], "b": 2}),
        ("a:\n  - b: 1\n    c:\n      - d\n  -\n  - e\n", {"a": [{"b": 1, "c": ["d"]}, None, "e"]}),
        ("# only a comment\n", None),
        ("", None),
        ("\ufeffa: b\n", {"a": "b"}),
        ("a: ''\nb: 'x''y'\nc: \"\"\n", {"a": "", "b": "x'y", "c": ""}),
        ("a: https://h:6443/p?q=1,2;x=(y)\n", {"a": "https://h:6443/p?q=1,2;x=(y)"}),
    ],
)
def test_the_simple_part_reads_as_yaml_1_1(text, expected):
    assert simpleyaml.load(text) == expected == yaml.safe_load(text)


# ---- properties: whatever is read here equals PyYAML's reading; broken YAML is never read here

_KEYS = st.sampled_from(["name", "cluster", "server", "user", "args", "env", "a-b", "x.y/z", "on", "yes", "1", "k"])
_SCALARS = st.one_of(
    st.text(alphabet="abcXYZ019 :/-_.'\"#@&*!|>%{}[],=~\\é\t", max_size=12),
    st.booleans(), st.none(), st.integers(-1000, 10**20), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["yes", "No", "on", "~", "null", "0x1F", "010", "1_0", "2001-12-14", ".inf", "=", "<<", "1:20"]),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=4)),
                       max_leaves=12)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _VALUES, max_size=5), st.sampled_from([2, 4]), st.sampled_from([False, None]),
       st.booleans())
def test_dumped_documents_read_as_pyyaml_reads_them(data, indent, flow, as_json):
    text = json.dumps(data, indent=indent) if as_json else yaml.safe_dump(data, indent=indent, default_flow_style=flow)
    _same_or_not_simple(text)


_EDITS = st.sampled_from(list(" :-#'\"{}[]&*!|>%@,\n\tabc01.~\\"))


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(sorted(SAMPLES)), st.integers(0, 10**6), st.integers(0, 2), _EDITS)
def test_edited_kubeconfigs_are_read_as_pyyaml_reads_them_or_left_to_it(name, where, how, char):
    text = SAMPLES[name]
    at = where % (len(text) + 1)
    text = (text[:at] + char + text[at:], text[:at] + text[at + 1:], text[:at] + char + text[at + 1:])[how]
    _same_or_not_simple(text)


def _same_or_not_simple(text: str) -> None:
    try:
        got = simpleyaml.load(text)
    except NotSimple:
        return
    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError as error:
        pytest.fail(f"read {text!r} as {got!r}, which PyYAML refuses: {error}")
    assert got == expected and _types(got) == _types(expected), text


def _types(value):
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


def test_a_live_command_does_not_import_pyyaml_for_a_simple_kubeconfig(tmp_path):
    config = tmp_path / "config"
    config.write_text(KIND)
    code = ("import sys; from kubectl_dra.kube.kubeconfig import merge; "
            f"m = merge([{str(config)!r}]); assert m.current_context == 'kind-kind'; print('yaml' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
