"""Every read command against every scripted server fault, under a time and a memory limit.

Contract (issue 16): the documented exit code (4 for a faulty server), one ``error:`` line, no
traceback, no raw control character, and the process ends in bounded time and memory. Runs the
CLI in subprocesses (tests/faults), the commands of one fault in parallel. ``KUBECTL_DRA_FAULTS_LOG=F``
appends one JSON line per (fault, command) case to F (held or not), for counting.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.fakeapi import Fault, FakeApiServer
from tests.faults import check, problems, run_cli

ROOT_DEMO = "kubectl_dra/demo/cluster.yaml"
RES = "/apis/resource.k8s.io/v1/"

#: read commands, each with the arguments that make it read the cluster
COMMANDS = {
    "list": ["list"],
    "claims": ["claims", "-A"],
    "show": ["show", "l40s-01/gpu-1"],
    "classes": ["classes"],
    "attributes": ["attributes"],
    "topology": ["topology"],
    "explain": ["explain", "-n", "inference", "l40s-canary"],
    "lint": ["lint"],
    "version": ["version"],
}


def _items(transform):
    def apply(value):
        if isinstance(value, dict) and isinstance(value.get("items"), list):
            return transform(value)
        return value

    return apply


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


#: name -> (path prefix, fault, extra flags, wanted exit codes, words the error line must hold)
FAULTS = {
    "500": ("/", Fault("status", code=500), [], {4}, "500"),
    "503-html": ("/", Fault("status", code=503, body=b"<html><body>\x1b]8;;x\x07bad gateway</body></html>"), [], {4}, None),
    "401": ("/", Fault("status", code=401), [], {4}, "401"),
    "403-resources": (RES, Fault("status", code=403), [], {4}, "forbidden"),
    "404-collection": (RES, Fault("status", code=404), [], {4}, None),
    "429-always": ("/", Fault("status", code=429), [], {4}, "429"),
    "invalid-json": (RES, Fault("body", body=b"{not json"), [], {4}, "invalid JSON"),
    "invalid-utf8": (RES, Fault("body", body=b'{"kind":"ResourceSliceList","items":[],"x":"\xff\xfe"}'), [], {4}, None),
    "json-array": (RES, Fault("body", body=b"[1, 2, 3]"), [], {4}, None),
    "deep-nesting": (RES, Fault("body", body=b'{"items":' + _deep(100000) + b"}"), [], {4}, None),
    "huge-number": (RES, Fault("body", body=b'{"kind":"X","metadata":{"resourceVersion":' + b"9" * 5000 + b'},"items":[]}'), [], {0, 4}, None),
    "empty-body": (RES, Fault("body", body=b""), [], {4}, None),
    "truncated": (RES, Fault("truncate"), ["--request-timeout", "3s"], {4}, None),
    "reset": ("/", Fault("reset"), [], {4}, "API server"),
    "hang": (RES, Fault("hang"), ["--request-timeout", "2s"], {4}, None),
    "slow-drip": (RES, Fault("drip", body=b'{"kind":"ResourceSliceList","items":[]}', delay=0.4),
                  ["--request-timeout", "2s"], {4}, None),
    "continue-loop": (RES, Fault("continue-loop"), [], {4}, "continue"),
    "items-not-list": (RES, Fault("mutate", transform=_items(lambda v: {**v, "items": {"a": 1}})), [], {4}, "items"),
    "list-metadata-list": (RES, Fault("mutate", transform=_items(lambda v: {**v, "metadata": [1]})), [], {4}, "metadata"),
    "item-metadata-list": (RES, Fault("mutate", transform=_items(
        lambda v: {**v, "items": [{**i, "metadata": ["x"]} for i in v["items"]]})), [], {0, 3, 7}, None),
    "item-spec-string": (RES, Fault("mutate", transform=_items(
        lambda v: {**v, "items": [{**i, "spec": "x"} for i in v["items"]]})), [], {0, 3, 7}, None),
    "item-escape-names": (RES, Fault("mutate", transform=_items(
        lambda v: {**v, "items": [{**i, "metadata": {**i["metadata"], "name": i["metadata"]["name"] + "\x1b]8;;http://x\x07"}}
                                  for i in v["items"]]})), [], {0, 3, 7}, None),
    "discovery-versions-int": ("/apis/resource.k8s.io", Fault("mutate", transform=lambda v: {**v, "versions": 5}), [], {4}, None),
    "discovery-not-object": ("/apis/resource.k8s.io", Fault("body", body=b'"v1"'), [], {4}, None),
}

#: what `version` reads: discovery only, so resource-list faults do not touch it
SKIP = {("version", f) for f, spec in FAULTS.items() if spec[0] == RES}


@pytest.fixture(scope="module")
def server():
    with FakeApiServer(token=None) as api:
        api.load_yaml(ROOT_DEMO)
        yield api


@pytest.fixture(scope="module")
def kubeconfig(server, tmp_path_factory):
    return server.write_kubeconfig(tmp_path_factory.mktemp("faults"))


CASES = [(c, f) for f in FAULTS for c in COMMANDS if (c, f) not in SKIP]


def _one(server, kubeconfig, command: str, fault: str) -> list[str]:
    prefix, script, flags, codes, words = FAULTS[fault]
    outcome = run_cli([*COMMANDS[command], *flags, "--kubeconfig", str(kubeconfig)])
    answers = (0, 7, 8, 130)
    if command == "version" and codes == {4}:
        codes = {0, 4}  # `version` prints what it could read (its own version) and says what it could not
    if command == "lint" and codes != {4}:
        codes, answers = codes | {1}, (*answers, 1)  # lint exits 1 when it finds an error in what it read
    found = problems(outcome, codes, message=words if codes == {4} else None, answers=answers)
    log = os.environ.get("KUBECTL_DRA_FAULTS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"fault": fault, "command": command, "held": not found, "problems": found}) + "\n")
    return [f"{command}: " + "; ".join(found) + " — " + outcome.describe()] if found else []


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_command_survives_fault(server, kubeconfig, fault):
    """One fault, every read command at once (in parallel: most of a case is waiting on the fault)."""
    from concurrent.futures import ThreadPoolExecutor

    prefix, script = FAULTS[fault][:2]
    server.clear_scripts()
    server.script(prefix, script)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            failures = [f for found in pool.map(lambda c: _one(server, kubeconfig, c, fault),
                                                [c for c, f in CASES if f == fault]) for f in found]
    finally:
        server.clear_scripts()
    assert not failures, "\n".join(failures)


def test_no_fault_is_exit_0(server, kubeconfig):
    """The baseline: every command works against the unfaulted server."""
    server.clear_scripts()
    for command, args in COMMANDS.items():
        check(run_cli([*args, "--kubeconfig", str(kubeconfig)]), {0, 7} if command == "explain" else {0})


# ---------------------------------------------------------------- writes: claim --apply

APPLY = ["claim", "--class", "gpu.nvidia.com", "-n", "inference", "--name", "faulted", "--apply"]


@pytest.mark.parametrize("fault,codes,words", [
    (Fault("mutate", transform=lambda v: {**v, "metadata": ["x"]}), {0, 4}, None),
    (Fault("body", body=b"{broken"), {4}, "invalid JSON"),
    (Fault("status", code=403), {4}, "forbidden"),
    (Fault("status", code=409), {6}, "already exists"),
    (Fault("hang"), {4}, "outcome is unknown"),
    (Fault("reset"), {4}, None),
], ids=["created-metadata-list", "created-invalid-json", "403", "409", "hang-after-write", "reset-after-write"])
def test_apply_survives_fault(server, kubeconfig, fault, codes, words):
    server.clear_scripts()
    server.script("/apis/resource.k8s.io/v1/namespaces/inference/resourceclaims", fault, watch=False)
    # only the POST is faulted: reads of the collection (for --check) are not made by --apply
    try:
        outcome = run_cli([*APPLY, "--request-timeout", "3s", "--kubeconfig", str(kubeconfig)])
    finally:
        server.clear_scripts()
    check(outcome, codes, message=words)


def test_apply_422_text_is_sanitised(server, kubeconfig):
    server.add_validator(lambda obj: "spec.devices: Invalid value: \x1b]8;;http://evil\x07click\x1b]8;;\x07\x1b[2J")
    try:
        outcome = run_cli([*APPLY, "--kubeconfig", str(kubeconfig)])
    finally:
        server._validators.clear()
    check(outcome, 1, message="rejected")
