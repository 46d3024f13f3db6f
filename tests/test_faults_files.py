"""Hostile files, stdin, flags, kubeconfigs and locales (issue 16): each case runs the CLI in a
subprocess under the time and memory limits of tests/faults and asserts the exit code, one clean
``error:`` line (or the warning that says what was skipped), and no raw control character."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.faults import check, cli_env, problems, run_cli

SLICE = """\
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: s1}
spec:
  driver: gpu.example.com
  nodeName: n1
  pool: {name: n1, generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    attributes:
      driverVersion: {version: "1.2.3"}
      productName: {string: "X"}
      index: {int: 0}
    capacity:
      memory: {value: 80Gi}
"""
GOOD_DEVICE = """  - name: gpu-1
    attributes:
      productName: {string: "Y"}
"""


def hostile(old: str, new: str) -> str:
    assert old in SLICE
    return SLICE.replace(old, new) + GOOD_DEVICE.replace("gpu-1", "gpu-9") if False else SLICE.replace(old, new)


#: name -> (slice text, words the warning must hold): the API server would reject these; the tool
#: skips the object with a warning naming the field, and lists the rest (exit 0)
INVALID_SLICES = {
    "device-without-name": (hostile("  - name: gpu-0\n", "  - \n"), "name"),
    "device-name-not-dns": (hostile("name: gpu-0", "name: GPU_0"), "DNS label"),
    "attribute-two-values": (hostile('{string: "X"}', '{string: "X", int: 3}'), "2 values"),
    "attribute-no-value": (hostile('{string: "X"}', "{}"), "no value"),
    "attribute-bare-value": (hostile('{string: "X"}', '"X"'), "productName"),
    "version-holds-int": (hostile('{version: "1.2.3"}', "{version: 1}"), "driverVersion"),
    "string-yaml11-on": (hostile('{string: "X"}', "{string: on}"), "quote"),
    "int-holds-string": (hostile("{int: 0}", '{int: "zero"}'), "index"),
    "int-holds-bool-no": (hostile("{int: 0}", "{int: no}"), "index"),
    "capacity-nan": (hostile("{value: 80Gi}", "{value: .nan}"), "memory"),
    "capacity-lots": (hostile("{value: 80Gi}", "{value: lots}"), "quantity"),
    "capacity-hex-0x1F": (hostile("{value: 80Gi}", "{value: 0x1F}"), None),
}


@pytest.mark.parametrize("name", sorted(INVALID_SLICES))
def test_invalid_slice_is_skipped_with_a_warning(tmp_path, name):
    text, words = INVALID_SLICES[name]
    path = tmp_path / "s.yaml"
    path.write_text(text + "---\n" + SLICE.replace("name: s1", "name: s2").replace("nodeName: n1", "nodeName: n2")
                    .replace("{name: n1,", "{name: n2,"), encoding="utf-8")
    outcome = run_cli(["list", "-f", str(path), "-o", "name"])
    check(outcome, 0)
    if name == "capacity-hex-0x1F":  # YAML 1.1 reads 0x1F as 31: a valid quantity, as kubectl sends it
        return
    warnings = [line for line in outcome.stderr.splitlines() if line.startswith("warning: ")]
    assert any("s1" in w and words in w for w in warnings), outcome.describe()
    assert "n2" in outcome.stdout and "n1" not in outcome.stdout.replace("n2", ""), outcome.describe()


def test_filter_on_a_version_attribute_holding_an_int(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(INVALID_SLICES["version-holds-int"][0], encoding="utf-8")
    check(run_cli(["list", "-f", str(path), "driverVersion>=1.0.0"]), 0)


BAD_UTF8 = b"apiVersion: v1\nkind: List\nitems: []\nx: \xff\xfe\n"


@pytest.mark.parametrize("args", [
    ["list", "-f", "-"],
    ["explain", "--claim-file", "-", "--demo"],
    ["nvml", "--snapshot", "-"],
    ["topology", "-f", "-"],
], ids=["list", "explain-claim-file", "nvml-snapshot", "topology"])
@pytest.mark.parametrize("locale", ["utf8", "C"])
def test_invalid_utf8_on_stdin(args, locale):
    env = cli_env({"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"} if locale == "C" else {})
    check(run_cli(args, stdin=BAD_UTF8, env=env), 5, message="UTF-8")


def test_huge_number_in_yaml(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(SLICE.replace("{int: 0}", "{int: " + "9" * 5000 + "}"), encoding="utf-8")
    check(run_cli(["list", "-f", str(path)]), 5)


def test_huge_number_in_snapshot(tmp_path):
    path = tmp_path / "snap.json"
    path.write_text('{"node": ' + "9" * 5000 + "}", encoding="utf-8")
    check(run_cli(["nvml", "--snapshot", str(path)]), 5)


def test_items_not_a_list(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("apiVersion: v1\nkind: List\nitems: {a: 1}\n", encoding="utf-8")
    check(run_cli(["list", "-f", str(path)]), 5, message="items")


def test_empty_file_name_is_refused():
    check(run_cli(["list", "-f", ""]), 5, message="empty file name")


def test_fifo_is_read(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def writer():
        with open(fifo, "w", encoding="utf-8") as fh:
            fh.write(SLICE)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    outcome = run_cli(["list", "-f", str(fifo), "-o", "name"])
    check(outcome, 0)
    assert "gpu-0" in outcome.stdout


def test_non_utf8_argument_is_a_usage_error():
    env = cli_env({"LC_ALL": "C.UTF-8"})
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "kubectl_dra", "list", "--demo", "--cel", b"device.driver == '\xff'"],
                          capture_output=True, env=env, timeout=30, cwd=os.environ.get("KUBECTL_DRA_FAULTS_SRC") or None)
    from tests.faults import Outcome

    check(Outcome(proc.returncode, proc.stdout.decode(), proc.stderr.decode("utf-8", "replace"), 0.0), 2, message="UTF-8")


@pytest.mark.parametrize("value", ["99999999999999999999", "33"])
def test_count_beyond_the_api_limit(value):
    check(run_cli(["claim", "--demo", "--count", value]), 2, message="at most 32")


@pytest.mark.parametrize("product", ["a\\b", "x\\", "a\"b'c"])
def test_product_text_reaches_cel_exactly(product):
    outcome = run_cli(["claim", "--demo", "--class", "gpu.nvidia.com", "--product", product, "-o", "json"])
    check(outcome, 0)
    import json

    from kubectl_dra.filter.to_cel import quote

    expression = json.loads(outcome.stdout)["spec"]["devices"]["requests"][0]["exactly"]["selectors"][0]["cel"]["expression"]
    assert f".contains({quote(product.lower())})" in expression, expression


def test_absurd_request_timeout():
    check(run_cli(["list", "--request-timeout", "99999999999h"]), 2, message="request-timeout")


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}],
                         ids=["ascii", "C"])
@pytest.mark.parametrize("args", [["topology", "--demo"], ["claims", "--demo", "-A"],
                                  ["explain", "--demo", "-n", "research", "pretrain-70b-gpus-fmb6b"]],
                         ids=["topology", "claims", "explain"])
def test_ascii_locales(env, args):
    check(run_cli(args, env=cli_env(env)), {0, 7})


def _kubeconfig(tmp_path: Path, user: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(f"""\
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:9"}}}}]
users: [{{name: u, user: {user}}}]
contexts: [{{name: x, context: {{cluster: c, user: u, namespace: "ns\\x1b]8;;http://evil\\x07"}}}}]
current-context: x
""", encoding="utf-8")
    return path


def test_token_with_a_newline(tmp_path):
    check(run_cli(["list", "--kubeconfig", str(_kubeconfig(tmp_path, '{token: "abc\\ndef"}'))]), 4, message="token")


def test_failing_exec_credential_plugin(tmp_path):
    user = '{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/false, interactiveMode: Never}}'
    outcome = run_cli(["list", "--kubeconfig", str(_kubeconfig(tmp_path, user))])
    check(outcome, 4, message="exec credential plugin")
    assert "ERROR:root" not in outcome.stderr


def test_kubeconfig_dev_null():
    outcome = run_cli(["list", "--kubeconfig", "/dev/null"])
    check(outcome, 4)
    assert "does not exist" not in outcome.stderr


def test_empty_context_is_the_current_one(tmp_path):
    # the current context points at a closed port: the error is about reaching it, not about ''
    outcome = run_cli(["list", "--request-timeout", "2s", "--context", "", "--kubeconfig",
                       str(_kubeconfig(tmp_path, "{token: t}"))])
    check(outcome, 4, message="cannot reach")
    assert outcome.stderr.count("(") == outcome.stderr.count(")"), outcome.describe()


def test_claim_name_and_claim_file_together(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: c}\nspec: {}\n", encoding="utf-8")
    outcome = run_cli(["explain", "--demo", "-n", "inference", "l40s-canary", "--claim-file", str(path)])
    check(outcome, 2)
    assert "neither" not in outcome.stderr, outcome.describe()


INJECTED = "evil\x1b]8;;http://x\x07link\x1b]8;;\x07\x1b[2J"


def test_escape_sequences_in_names_never_reach_the_terminal(tmp_path):
    text = SLICE.replace("name: s1", f'name: "s1{INJECTED}"').replace("name: gpu-0", 'name: "gpu-0"') \
        .replace('{string: "X"}', '{string: "X' + INJECTED.replace("\x1b", "\\e").replace("\x07", "\\a") + '"}')
    text = text.replace("nodeName: n1", 'nodeName: "n1\\e]0;title\\a"')
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    for args in (["list"], ["list", "-o", "name"], ["show", "gpu-0"], ["show", "gpu-00"], ["topology"],
                 ["list", "--class", "nope"], ["attributes"], ["list", "productName~zzz"]):
        outcome = run_cli([*args, "-f", str(path)])
        assert not [p for p in problems(outcome, outcome.code) if "control" in p], (args, outcome.describe())


def _snapshot(mutate) -> dict:
    import json

    data = json.loads((Path(__file__).resolve().parent.parent / "kubectl_dra/demo/nvml/dgx-h100-01.json").read_text())
    mutate(data)
    return data


SNAPSHOT_FAULTS = {
    "bus-id-garbage": lambda d: d["gpus"][0].update(pciBusId="zz:garbage\x1b[2J"),
    "bus-id-int": lambda d: d["gpus"][0].update(pciBusId=5),
    "topology-gpus-int": lambda d: d["topology"].update(gpus=5),
    "topology-matrix-ragged": lambda d: d["topology"].update(matrix=[["X", "NV18"], ["NV18"], "row", [[1]]]),
    "topology-string": lambda d: d.update(topology="garbage"),
    "gpus-not-list": lambda d: d.update(gpus={"a": 1}),
}


@pytest.mark.parametrize("fault", sorted(SNAPSHOT_FAULTS))
def test_malformed_nvml_snapshot(tmp_path, fault):
    import json

    path = tmp_path / "snap.json"
    path.write_text(json.dumps(_snapshot(SNAPSHOT_FAULTS[fault])), encoding="utf-8")
    for args in (["nvml", "--snapshot", str(path)], ["nvml", "--snapshot", str(path), "--as-resourceslice"],
                 ["topology", "--demo", "--nvml", str(path), "dgx-h100-01"]):
        check(run_cli(args), {0, 5})
