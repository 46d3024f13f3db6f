#!/usr/bin/env python3
"""A real Kubernetes control plane for tests: etcd, kube-apiserver, kube-scheduler, kube-controller-manager.

    python tests/e2e/cluster.py up --dir DIR      # build if needed, start, print DIR/kubeconfig
    python tests/e2e/cluster.py down --dir DIR    # stop everything `up` started in DIR
    python tests/e2e/cluster.py build             # only build; print the binary's path

All four components come from one binary (tests/e2e/k8sbox, built from the Kubernetes Go modules at
the version go.mod pins) and run as separate processes on loopback ports chosen at start. No kubelet:
tests create Node objects themselves (tests/e2e/objects.py). Logs, certificates, etcd data and the
PIDs live in DIR. The build is cached by the hash of the module's files (see ``binary()``).

Test code only: the installed package never imports this. Standard library only, so it runs with any
Python 3.11 before the project is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULE = HERE / "k8sbox"
KUBE_VERSION = "v1.36.3"

#: users with client certificates: name -> groups (admin is cluster-admin through system:masters)
USERS = {"admin": ["system:masters"], "dra-viewer": [], "nobody": []}

#: the controllers the tests need; never node-lifecycle (without kubelets it would evict everything)
CONTROLLERS = "resourceclaim-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller"

#: admission plugins that assume a kubelet or a token controller (kubernetes' integration tests disable them too)
DISABLED_ADMISSION = "TaintNodesByCondition,ServiceAccount"

#: resource.k8s.io versions served besides v1 (the tool prefers v1; the beta ones are exercised directly)
DEFAULT_RUNTIME_CONFIG = "resource.k8s.io/v1beta1=true,resource.k8s.io/v1beta2=true"

COMPONENTS = ("etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager")


class ClusterError(RuntimeError):
    """The control plane could not be built or started; the message says where to look."""


# --------------------------------------------------------------------------------------------- build


def _real_home() -> Path:
    """The user's home from the password database: tests point $HOME at a temp dir, the caches stay put."""
    try:
        import pwd

        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError):
        return Path.home()


def cache_root() -> Path:
    base = os.environ.get("KUBECTL_DRA_E2E_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else _real_home() / ".cache") / "kubectl-dra-e2e"


def go_env() -> dict[str, str]:
    """Environment for `go build`: Go's caches under the real home even when $HOME is a test's temp dir."""
    home = _real_home()
    env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-mod=readonly -buildvcs=false")
    env.setdefault("GOPATH", str(home / "go"))
    env.setdefault("GOMODCACHE", str(Path(env["GOPATH"].split(os.pathsep)[0]) / "pkg" / "mod"))
    env.setdefault("GOCACHE", str(home / ".cache" / "go-build"))
    return env


def go_tool() -> str | None:
    return shutil.which("go")


def e2e_mode() -> str:
    """KUBECTL_DRA_E2E: "" (run when Go is there), "require" (never skip) or "0"/"off" (skip)."""
    return os.environ.get("KUBECTL_DRA_E2E", "").strip().lower()


def unavailable(purpose: str = "the e2e tier") -> str | None:
    """Why the Go-built test infrastructure cannot run here, or None."""
    mode = e2e_mode()
    if mode in ("0", "off", "no", "false"):
        return f"e2e tier switched off (KUBECTL_DRA_E2E={mode})"
    if not os.environ.get("K8SBOX_BIN") and not go_tool():
        return f"{purpose} needs Go (it is built from the Kubernetes Go modules); none on PATH"
    return None


def source_hash() -> str:
    """What the binary depends on: the module's files and the Go version (so a new Go rebuilds)."""
    h = hashlib.sha256()
    for path in sorted(MODULE.iterdir()):
        if path.suffix in (".go", ".mod", ".sum"):
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    go = go_tool()
    if go:
        out = subprocess.run([go, "version"], capture_output=True, text=True, check=False, env=go_env()).stdout
        h.update(out.encode())
    return h.hexdigest()[:16]


def ldflags() -> str:
    major, minor = KUBE_VERSION.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={KUBE_VERSION}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.gitCommit=0000000000000000000000000000000000000000",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def binary(log=None) -> Path:
    """The k8sbox binary: $K8SBOX_BIN, else the cached build for the current sources (built if missing)."""
    given = os.environ.get("K8SBOX_BIN")
    if given:
        path = Path(given)
        if not path.is_file():
            raise ClusterError(f"K8SBOX_BIN={given}: no such file")
        return path
    go = go_tool()
    if not go:
        raise ClusterError("no Go toolchain on PATH: the control plane is built from the Kubernetes Go modules")
    out_dir = cache_root() / f"k8sbox-{source_hash()}"
    target = out_dir / "k8sbox"
    if target.is_file():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f"k8sbox.tmp.{os.getpid()}"
    env = go_env()
    cmd = [go, "build", "-trimpath", "-p", str(max(1, os.cpu_count() or 1)), "-ldflags", ldflags(), "-o", str(tmp), "."]
    started = time.monotonic()
    if log:
        log(f"building k8sbox ({KUBE_VERSION}) in {out_dir} — a cold build takes many minutes")
    proc = subprocess.run(cmd, cwd=MODULE, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ClusterError(f"go build failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    os.replace(tmp, target)
    (out_dir / "build.json").write_text(
        json.dumps({"seconds": round(time.monotonic() - started, 1), "version": KUBE_VERSION}), encoding="utf-8"
    )
    if log:
        log(f"built in {time.monotonic() - started:.0f} s")
    return target


# --------------------------------------------------------------------------------------------- start


#: ports are picked below Linux's ephemeral range (32768-60999), where outgoing connections of every
#: process on the machine take their local ports and could take ours between the pick and the bind
PORT_RANGE = (20000, 32000)


def free_port(taken: set[int] | frozenset[int] = frozenset()) -> int:
    import random

    for _ in range(200):
        port = random.randrange(*PORT_RANGE)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ControlPlane:
    """A running (or stopped) control plane rooted in ``dir``."""

    dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['kube-apiserver']}"

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    def kubeconfig_for(self, user: str) -> Path:
        return self.dir / ("kubeconfig" if user == "admin" else f"kubeconfig-{user}")

    @property
    def pki(self) -> Path:
        return self.dir / "pki"

    def ssl_context(self, user: str = "admin") -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / f"{user}.crt"), str(self.pki / f"{user}.key"))
        return ctx

    def state_file(self) -> Path:
        return self.dir / "state.json"

    def save(self) -> None:
        self.state_file().write_text(json.dumps({"ports": self.ports, "pids": self.pids}, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, dir: Path) -> ControlPlane:
        cp = cls(Path(dir).resolve())
        try:
            data = json.loads(cp.state_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cp
        cp.ports = {k: int(v) for k, v in data.get("ports", {}).items()}
        cp.pids = {k: int(v) for k, v in data.get("pids", {}).items()}
        return cp


def _write_kubeconfig(cp: ControlPlane, user: str) -> None:
    pki = cp.pki
    text = f"""apiVersion: v1
kind: Config
clusters:
- name: k8sbox
  cluster:
    server: {cp.server}
    certificate-authority: {pki / 'ca.crt'}
users:
- name: {user}
  user:
    client-certificate: {pki / (user + '.crt')}
    client-key: {pki / (user + '.key')}
contexts:
- name: k8sbox-{user}
  context:
    cluster: k8sbox
    user: {user}
    namespace: default
current-context: k8sbox-{user}
"""
    path = cp.kubeconfig_for(user)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def _spawn(cp: ControlPlane, exe: Path, name: str, args: list[str], die_with_parent: bool) -> None:
    logs = cp.dir / "logs"
    logs.mkdir(exist_ok=True)
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    preexec = _die_with_parent if die_with_parent else None
    proc = subprocess.Popen(
        [str(exe), name, *args],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=preexec,  # noqa: PLW1509 - only prctl(PR_SET_PDEATHSIG)
        cwd=cp.dir,
    )
    log.close()
    cp.pids[name] = proc.pid
    cp.save()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _get(url: str, ctx: ssl.SSLContext | None, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (OSError, ValueError) as e:
        return 0, str(e)


def _wait(what: str, check, cp: ControlPlane, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return
        pid = cp.pids.get(name)
        if pid and not _alive(pid):
            raise ClusterError(f"{name} exited while waiting for {what}; see {cp.dir / 'logs' / (name + '.log')}:\n"
                               + _tail(cp.dir / "logs" / f"{name}.log"))
        time.sleep(0.1)
    raise ClusterError(f"{name}: {what} not ready after {timeout:.0f} s ({last[:200]}); "
                       f"see {cp.dir / 'logs' / (name + '.log')}")


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def up(
    dir: str | Path,
    *,
    runtime_config: str = DEFAULT_RUNTIME_CONFIG,
    feature_gates: str = "",
    die_with_parent: bool = False,
    log=None,
    timeout: float = 120.0,
) -> ControlPlane:
    """Build if needed and start the four components; return when the API server is ready."""
    exe = binary(log=log)
    cp = ControlPlane(Path(dir).resolve())
    cp.dir.mkdir(parents=True, exist_ok=True)
    existing = ControlPlane.load(cp.dir)
    if any(_alive(p) and _is_ours(p) for p in existing.pids.values()):
        raise ClusterError(f"{cp.dir} already has a running control plane; run `down --dir {cp.dir}` first")
    started = time.monotonic()
    users = [f"{u}={','.join(g)}" if g else u for u, g in USERS.items()]
    pki = subprocess.run([str(exe), "pki", "--dir", str(cp.pki), *[arg for u in users for arg in ("--user", u)]],
                         capture_output=True, text=True, check=False)
    if pki.returncode != 0:
        raise ClusterError(f"k8sbox pki failed: {pki.stderr.strip()}")
    for attempt in range(3):
        taken: set[int] = set()
        for name in (*COMPONENTS, "etcd-peer"):
            cp.ports[name] = free_port(taken)
            taken.add(cp.ports[name])
        cp.save()
        try:
            _start(cp, exe, runtime_config, feature_gates, die_with_parent, timeout)
            break
        except ClusterError as e:
            down(cp.dir)
            # another process took a port between the pick and the bind: start again on new ports
            if "address already in use" not in str(e) or attempt == 2:
                raise
            shutil.rmtree(cp.dir / "etcd", ignore_errors=True)
            if log:
                log(f"a port was taken meanwhile ({e}); starting again on other ports")
        except BaseException:
            down(cp.dir)
            raise
    if log:
        log(f"control plane {KUBE_VERSION} ready in {time.monotonic() - started:.1f} s at {cp.server}")
    return cp


def _start(cp, exe, runtime_config, feature_gates, die_with_parent, timeout) -> None:
    etcd_url = f"http://127.0.0.1:{cp.ports['etcd']}"
    _spawn(cp, exe, "etcd", ["--data-dir", str(cp.dir / "etcd"), "--client-url", etcd_url,
                             "--peer-url", f"http://127.0.0.1:{cp.ports['etcd-peer']}"], die_with_parent)
    _wait("etcd health", lambda: _etcd_ok(etcd_url), cp, "etcd", timeout)

    for user in USERS:
        _write_kubeconfig(cp, user)
    pki = cp.pki
    gates = ["--feature-gates=" + feature_gates] if feature_gates else []
    apiserver = [
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={cp.ports['kube-apiserver']}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-cluster-ip-range=10.96.0.0/16",
        f"--disable-admission-plugins={DISABLED_ADMISSION}",
        "--allow-privileged=true",
        "--endpoint-reconciler-type=none",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
        *([f"--runtime-config={runtime_config}"] if runtime_config else []),
        *gates,
    ]
    _spawn(cp, exe, "kube-apiserver", apiserver, die_with_parent)
    ctx = cp.ssl_context()
    _wait("/readyz", lambda: _ok(_get(cp.server + "/readyz", ctx)), cp, "kube-apiserver", timeout)

    kc = str(cp.kubeconfig)
    common = [f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
              "--leader-elect=false", "--bind-address=127.0.0.1", *gates]
    _spawn(cp, exe, "kube-scheduler", [*common, f"--secure-port={cp.ports['kube-scheduler']}"], die_with_parent)
    _spawn(cp, exe, "kube-controller-manager",
           [*common, f"--secure-port={cp.ports['kube-controller-manager']}", f"--controllers={CONTROLLERS}",
            "--use-service-account-credentials=false"], die_with_parent)
    insecure = ssl._create_unverified_context()
    for name in ("kube-scheduler", "kube-controller-manager"):
        url = f"https://127.0.0.1:{cp.ports[name]}/healthz"
        _wait("/healthz", lambda url=url: _ok(_get(url, insecure)), cp, name, timeout)


def _ok(reply: tuple[int, str]) -> tuple[bool, str]:
    return reply[0] == 200, reply[1]


def _etcd_ok(url: str) -> tuple[bool, str]:
    status, body = _get(url + "/health", None)
    return status == 200 and '"true"' in body, body


def _is_ours(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return bool(argv) and Path(argv[0].decode(errors="replace")).name.startswith("k8sbox")


def down(dir: str | Path, timeout: float = 15.0) -> list[str]:
    """Stop every process ``up`` started in ``dir`` (TERM, then KILL); return the names stopped."""
    cp = ControlPlane.load(Path(dir))
    stopped = []
    # reverse start order: controllers first, etcd last
    order = [n for n in reversed(COMPONENTS) if n in cp.pids] + [n for n in cp.pids if n not in COMPONENTS]
    for name in order:
        pid = cp.pids[name]
        if not (_alive(pid) and _is_ours(pid)):
            continue
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                _reap(pid)
                time.sleep(0.05)
        stopped.append(name)
    cp.pids = {}
    if cp.dir.exists():
        cp.save()
    return stopped


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # each component leads its own session (start_new_session)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# --------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cluster.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build if needed and start a control plane in DIR; print DIR/kubeconfig")
    p_up.add_argument("--dir", required=True)
    p_up.add_argument("--runtime-config", default=DEFAULT_RUNTIME_CONFIG)
    p_up.add_argument("--feature-gates", default="")
    p_down = sub.add_parser("down", help="stop the control plane started in DIR")
    p_down.add_argument("--dir", required=True)
    sub.add_parser("build", help="build k8sbox if needed; print its path")
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        if args.cmd == "build":
            print(binary(log=log))
        elif args.cmd == "up":
            cp = up(args.dir, runtime_config=args.runtime_config, feature_gates=args.feature_gates, log=log)
            print(cp.kubeconfig)
        else:
            stopped = down(args.dir)
            log("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    except ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
