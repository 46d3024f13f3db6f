"""Watches that close, flood, stall or send garbage; Ctrl-C on a stalled server; closed and full
streams and a real terminal (pty) — issue 16. Subprocess cases use the limits of tests/faults."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.fakeapi import Fault, FakeApiServer
from tests.faults import CONTROL, ROOT, check, cli_env, run_cli

RES = "/apis/resource.k8s.io/v1/"
DEMO = "kubectl_dra/demo/cluster.yaml"


@pytest.fixture
def server(tmp_path):
    with FakeApiServer(token=None) as api:
        api.load_yaml(ROOT / DEMO)
        api.kubeconfig = api.write_kubeconfig(tmp_path)
        yield api


def _watches(api) -> int:
    return sum(1 for r in api.requests if r.query.get("watch") in ("1", "true"))


# ---------------------------------------------------------------- watch faults, end to end


def test_watch_that_closes_at_once_is_not_reconnected_in_a_loop(server):
    server.script(RES, Fault("watch-close"), watch=True)
    outcome = run_cli(["list", "-w", "-o", "name", "--kubeconfig", str(server.kubeconfig)], interrupt_after=3.0)
    check(outcome, 130)
    # backoff 0.5 s, 1 s, 2 s (+ jitter) per followed collection: a handful, not thousands
    assert _watches(server) <= 4 * 4, _watches(server)


@pytest.mark.parametrize("fault", [
    Fault("watch-stall"),
    Fault("watch-flood", count=200000),
    Fault("watch-lines", lines=[b"{not json", b'{"type":"ADDED","object":{"metadata":[1]}}']),
    Fault("watch-lines", lines=[b'{"type":"ADDED","object":{"kind":"ResourceSlice","metadata":{"name":"x\x1b]0;t\x07"},'
                                b'"spec":{"driver":"d","pool":{"name":"p"},"devices":[{"name":"EVIL\x1b[2J"}]}}}']),
], ids=["stall", "flood", "garbage", "escapes"])
def test_watch_faults_end_cleanly_on_ctrl_c(server, fault):
    server.script(RES, fault, watch=True)
    outcome = run_cli(["list", "-w", "--kubeconfig", str(server.kubeconfig)], interrupt_after=3.0)
    check(outcome, {130, 4})


def test_watch_gives_up_with_exit_4_after_backoff(fake_api):
    from kubectl_dra.cli._common import read_cluster, source_options
    from kubectl_dra.errors import ClusterError
    from kubectl_dra.kube.watch import ClusterWatch, resources_for

    fake_api.script(RES, Fault("watch-close"), watch=True)
    base = read_cluster(source_options(all_namespaces=True), ())
    watch = ClusterWatch(base, resources_for(base), retry_delays=(0.01, 0.02, 0.04))
    events = watch.follow(lambda cluster: {v.device.key: (v.state, v) for v in cluster.device_views()})
    next(events)
    with pytest.raises(ClusterError, match="keeps closing the watch"):
        next(events)
    assert _watches(fake_api) <= 4 * len(watch.resources)


# ---------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("args", [["list"], ["claims", "-A"], ["explain", "-n", "inference", "l40s-canary"]])
def test_ctrl_c_on_a_stalled_server_without_a_timeout(server, args):
    server.script(RES, Fault("hang"))
    outcome = run_cli([*args, "--request-timeout", "0", "--kubeconfig", str(server.kubeconfig)], interrupt_after=2.0,
                      time_limit=8.0)
    check(outcome, 130)


def test_ctrl_c_while_paging(server):
    server.page_size_cap = 1
    server.script(RES + "resourceclaims", Fault("hang"))
    outcome = run_cli(["list", "--kubeconfig", str(server.kubeconfig)], interrupt_after=2.0, time_limit=8.0)
    check(outcome, 130)


# ---------------------------------------------------------------- closed and full streams


def _shell(command: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, env=env or cli_env(), timeout=60,
                          cwd=os.environ.get("KUBECTL_DRA_FAULTS_SRC") or str(ROOT))


PY = f"{sys.executable} -m kubectl_dra"


@pytest.mark.parametrize("redirect,code,stderr", [
    (">/dev/full", 1, "No space left on device"),
    (">&-", 1, "stdout is closed"),
    ("2>&-", 0, ""),
    ("| head -1", 0, ""),
], ids=["full", "stdout-closed", "stderr-closed", "pipe-closed"])
def test_closed_and_full_streams(redirect, code, stderr):
    proc = _shell(f"{PY} list --demo {redirect}; echo \"rc=$?\" >&3" if False else
                  f"exec 3>&1; {PY} list --demo -o wide {redirect} 3>&-; echo rc=${{PIPESTATUS[0]}}")
    out = proc.stdout.decode()
    assert f"rc={code}" in out.splitlines()[-1], (out[-300:], proc.stderr.decode())
    err = proc.stderr.decode()
    assert "Traceback" not in err and "internal error" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    if stderr:  # (the totals go to stderr too)
        assert len(errors) == 1 and errors[0].startswith("error: cannot write the output") and stderr in errors[0], err
    else:
        assert errors == [], err


# ---------------------------------------------------------------- a real terminal


def _pty_run(args: list[str], env: dict[str, str], interrupt_after: float | None = None) -> tuple[int, str]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on the pty
        os.chdir(os.environ.get("KUBECTL_DRA_FAULTS_SRC") or str(ROOT))
        os.execve(sys.executable, [sys.executable, "-m", "kubectl_dra", *args], env)
    output = b""
    start = time.monotonic()
    sent = False
    while True:
        if interrupt_after is not None and not sent and time.monotonic() - start > interrupt_after:
            os.kill(pid, signal.SIGINT)
            sent = True
        if time.monotonic() - start > 30:
            os.kill(pid, signal.SIGKILL)
            break
        ready = select.select([fd], [], [], 0.1)[0]
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode("utf-8", "replace")


@pytest.mark.parametrize("locale", [{"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}, {"PYTHONIOENCODING": "ascii"}, {}],
                         ids=["C", "ascii", "utf8"])
def test_terminal_with_locales(tmp_path, locale):
    slice_ = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "s\x1b]0;pwned\x07"},
              "spec": {"driver": "gpu.example.com", "nodeName": "n1", "pool": {"name": "n1"},
                       "devices": [{"name": "gpu-0", "attributes": {"productName": {"string": "名前😀\x1b]8;;http://x\x07link"}}}]}}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(slice_), encoding="utf-8")
    env = cli_env({**locale, "TERM": "xterm"})
    env.pop("NO_COLOR", None)
    for args in (["list", "-f", str(path)], ["show", "gpu-0", "-f", str(path)], ["show", "gpu-9", "-f", str(path)],
                 ["topology", "--demo"], ["claims", "--demo", "-A"]):
        code, output = _pty_run(args, env)
        assert code in (0, 3), (args, code, output[-500:])
        assert "Traceback" not in output and "internal error" not in output, output[-500:]
        assert "\x1b]" not in output and "\x07" not in output, (args, output[-300:])


def test_terminal_ctrl_c_on_watch(server):
    env = cli_env({"TERM": "xterm"})
    code, output = _pty_run(["list", "-w", "--kubeconfig", str(server.kubeconfig)], env, interrupt_after=2.5)
    assert code == 130, output[-500:]
    assert "Traceback" not in output


def test_no_control_characters_pattern_is_sane():
    assert CONTROL.search("\x1b") and not CONTROL.search("a\tb\n")
