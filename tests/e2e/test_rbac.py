"""docs/rbac.yaml against a real kube-apiserver with RBAC authorization.

* The reader ClusterRole, bound to the user ``dra-viewer`` (client certificate) only, is enough for
  every read-only command: each gives the same answer as for the admin, and every request the tool
  makes is one the role grants (and every resource the role names is read by some command).
* ``nobody`` (authenticated, no RBAC) gets, from every command, exit 4 and one ``error: forbidden``
  line naming the refused verb and resource, then the hint naming docs/rbac.yaml.
* Users with part of the role (ServiceAccount tokens): each command either warns and degrades or
  fails with 403, as docs/rbac.md ("What happens with less") says.
* The claim-writer ClusterRole, bound in one namespace: ``claim --apply`` creates there and gets
  the documented 403 elsewhere.
"""

from __future__ import annotations

import copy
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kubectl_dra.kube.live import READER_HINT
from tests.e2e import objects
from tests.e2e.kapi import Api, ApiError

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RBAC_YAML = ROOT / "docs" / "rbac.yaml"
OWNER = "rbac"
USERS_NS = "rbac-e2e-users"  # the ServiceAccounts of the partial-permission users
WRITER_NS = "rbac-e2e-writer"  # dra-viewer may create claims here
OTHER_NS = "rbac-e2e-other"  # ... and not here
WATCH_NS = "rbac-e2e-watch"
RBAC_API = "rbac.authorization.k8s.io"


def _rbac_docs() -> list[dict]:
    return [d for d in yaml.safe_load_all(RBAC_YAML.read_text(encoding="utf-8")) if d]


def _doc(kind: str, name: str) -> dict:
    return copy.deepcopy(next(d for d in _rbac_docs() if d["kind"] == kind and d["metadata"]["name"] == name))


READER_RULES = _doc("ClusterRole", "kubectl-dra-reader")["rules"]

#: users holding part of the reader role: name -> the role's rules with something taken away
PARTIAL = {
    "no-claims": ("drop", "resourceclaims"),
    "no-classes": ("drop", "deviceclasses"),
    "no-templates": ("drop", "resourceclaimtemplates"),
    "no-taint-rules": ("drop", "devicetaintrules"),
    "no-pods": ("drop", "pods"),
    "no-nodes": ("drop", "nodes"),
    "no-watch": ("verbs", ["get", "list"]),
    "slices-only": ("only", "resourceslices"),
}


def _partial_rules(how: str, arg) -> list[dict]:
    rules = []
    for rule in copy.deepcopy(READER_RULES):
        if how == "drop":
            rule["resources"] = [r for r in rule["resources"] if r != arg]
        elif how == "only":
            rule["resources"] = [r for r in rule["resources"] if r == arg]
        else:
            rule["verbs"] = list(arg)
        if rule["resources"]:
            rules.append(rule)
    return rules


@dataclass
class Users:
    kubeconfig: dict[str, Path]
    pretrain_claim: str  # research/<the pending pod's generated claim>
    claim_file: Path
    admin_claim_file: Path


def _token_kubeconfig(cp, path: Path, user: str, token: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "k8sbox", "cluster": {"server": cp.server, "certificate-authority": str(cp.pki / "ca.crt")}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "k8sbox", "user": user, "namespace": "default"}}],
        "current-context": user,
    }), encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def users(api: Api, control_plane, demo_cluster, tmp_path_factory):
    """docs/rbac.yaml applied (reader bound to User dra-viewer only, claim writer in WRITER_NS), and
    the partial users; everything removed afterwards (other modules see dra-viewer unbound again)."""
    tmp = tmp_path_factory.mktemp("rbac")
    made: list[tuple[str, str]] = []  # cluster-scoped (kind, name), deleted at the end
    namespaces = (USERS_NS, WRITER_NS, OTHER_NS, WATCH_NS)
    label = {objects.OWNER_LABEL: OWNER}
    try:
        for ns in namespaces:
            objects.namespace(api, ns, owner=OWNER)
        # docs/rbac.yaml, as a cluster admin would apply it; the subjects narrowed to dra-viewer
        for doc in _rbac_docs():
            doc["metadata"].setdefault("labels", {}).update(label)
            if doc["kind"] == "ClusterRoleBinding":
                doc["subjects"] = [{"kind": "User", "name": "dra-viewer", "apiGroup": RBAC_API}]
            elif doc["kind"] == "RoleBinding":
                doc["metadata"]["namespace"] = WRITER_NS
                doc["subjects"] = [{"kind": "User", "name": "dra-viewer", "apiGroup": RBAC_API}]
            api.create(doc)
            if doc["kind"].startswith("Cluster"):
                made.append((doc["kind"], doc["metadata"]["name"]))
        kubeconfigs = {"admin": control_plane.kubeconfig, "dra-viewer": control_plane.kubeconfig_for("dra-viewer"),
                       "nobody": control_plane.kubeconfig_for("nobody")}
        for name, (how, arg) in PARTIAL.items():
            role = f"rbac-e2e-{name}"
            api.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": USERS_NS}})
            api.create({"apiVersion": f"{RBAC_API}/v1", "kind": "ClusterRole", "metadata": {"name": role, "labels": label},
                        "rules": _partial_rules(how, arg)})
            made.append(("ClusterRole", role))
            api.create({"apiVersion": f"{RBAC_API}/v1", "kind": "ClusterRoleBinding",
                        "metadata": {"name": role, "labels": label},
                        "roleRef": {"apiGroup": RBAC_API, "kind": "ClusterRole", "name": role},
                        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": USERS_NS}]})
            made.append(("ClusterRoleBinding", role))
            token = api.request("POST", f"/api/v1/namespaces/{USERS_NS}/serviceaccounts/{name}/token",
                                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                 "spec": {"expirationSeconds": 3600}})["status"]["token"]
            kubeconfigs[name] = _token_kubeconfig(control_plane, tmp / f"kubeconfig-{name}", name, token)
        claim_file = tmp / "claim.yaml"
        claim_file.write_text(yaml.safe_dump({
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "two-h100"},
            "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
                "deviceClassName": "gpu.nvidia.com", "count": 2,
                "selectors": [{"cel": {"expression": 'device.attributes["gpu.nvidia.com"].productName.contains("H100")'}}],
            }}]}},
        }), encoding="utf-8")
        # an adminAccess request: explain reads the namespace for the admin-access label (ml-team has none)
        admin_claim_file = tmp / "admin-claim.yaml"
        admin_claim_file.write_text(yaml.safe_dump({
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "gpu-monitor"},
            "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
                "deviceClassName": "gpu.nvidia.com", "allocationMode": "All", "adminAccess": True}}]}},
        }), encoding="utf-8")
        pretrain = objects.pod_claim_names(api, "research", "pretrain-70b")["gpus"]
        yield Users(kubeconfigs, pretrain, claim_file, admin_claim_file)
    finally:
        for kind, name in reversed(made):
            api.delete(kind, name)
        for ns in namespaces:
            api.delete("Namespace", ns)


# ------------------------------------------------------------------------------------- running the tool


@dataclass
class Call:
    code: int
    stdout: str
    stderr: str
    requests: list[tuple[str, str, str, int]]  # (method, path, query, status)


@pytest.fixture
def dra(run, monkeypatch):
    """Run `kubectl dra ARGS` in-process as a user; every HTTP request it makes is recorded."""
    from kubectl_dra.kube import live

    monkeypatch.setenv("KUBECTL_DRA_NO_FORK", "1")  # claims read in this process: their request is recorded too
    monkeypatch.setenv("XDG_CACHE_HOME", os.environ.get("HOME", "/tmp") + "/cache")
    seen: list[tuple[str, str, str, int]] = []
    original = live.LiveCluster._request

    def recorded(self, path, query=None, *, method="GET", body=None):
        status, data, response = original(self, path, query, method=method, body=body)
        seen.append((method, path, "&".join(f"{k}={v}" for k, v in query or []), status))
        return status, data, response

    monkeypatch.setattr(live.LiveCluster, "_request", recorded)

    def call(kubeconfig: Path, *args: str) -> Call:
        seen.clear()
        result = run(*args, "--kubeconfig", str(kubeconfig))
        return Call(result.exit_code, result.stdout, result.stderr, list(seen))

    return call


def _reads(users: Users) -> list[tuple[tuple[str, ...], int]]:
    """Every read-only command (with its options that change what is read) and its exit code on the demo."""
    # output formats do not change what is read: one -o json/wide each, the rest as tables
    return [
        (("list",), 0), (("list", "-o", "json"), 0), (("list", "--node", "dgx-h100-01", "-o", "wide"), 0),
        (("list", "--class", "mig.nvidia.com"), 0), (("list", "--state", "free", "memory>=40Gi"), 0),
        (("claims", "-A", "-o", "json"), 0), (("claims", "-n", "ml-team", "-o", "json"), 0),
        (("show", "gpu.nvidia.com/dgx-h100-01/gpu-0"), 0), (("show", "a100-mig-01/gpu-0-mig-1g10gb-19-2", "-o", "json"), 0),
        (("classes",), 0), (("attributes",), 0),
        (("topology",), 0), (("topology", "dgx-h100-01"), 0), (("topology", "h100-dmig-01", "-o", "json"), 0),
        # --node: a node another test module adds must not turn "fits nowhere" into "fits"
        (("explain", "-n", "research", "pod/pretrain-70b", "--node", "dgx-h100-01"), 7),
        (("explain", "-n", "ml-team", "pod/llm-train-0"), 0),
        (("explain", "-n", "research", users.pretrain_claim, "--node", "h100-dmig-01"), 7),
        (("explain", "--claim-file", str(users.claim_file), "-n", "ml-team"), 0),
        (("explain", "--claim-file", str(users.admin_claim_file), "-n", "ml-team"), 7),
        (("lint",), 0), (("claim", "--mig", "--min-memory", "20Gi", "--check"), 0), (("version",), 0),
    ]


def _verb_and_resource(method: str, path: str, query: str) -> tuple[str, str, str] | None:
    """(verb, API group, resource) of a request; None for discovery and /version."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    if method == "POST":
        return "create", group, rest[0]
    if "watch=1" in query.split("&"):
        return "watch", group, rest[0]
    return ("get" if len(rest) > 1 else "list"), group, rest[0]


def _granted(rules: list[dict], verb: str, group: str, resource: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


# ------------------------------------------------------------------------------------------------ tests


def test_reader_role_is_enough_for_every_read_only_command(dra, users):
    """As dra-viewer, bound to docs/rbac.yaml's reader role only: the admin's answer, no 403 anywhere."""
    used: set[tuple[str, str, str]] = set()
    for args, expected in _reads(users):
        viewer = dra(users.kubeconfig["dra-viewer"], *args)
        admin = dra(users.kubeconfig["admin"], *args)
        assert viewer.code == expected, (args, viewer.stderr)
        assert (viewer.stdout, viewer.stderr) == (admin.stdout, admin.stderr), args
        assert "forbidden" not in viewer.stderr.lower() and "warning" not in viewer.stderr, (args, viewer.stderr)
        assert viewer.stdout.strip(), args
        refused = [r for r in viewer.requests if r[3] in (401, 403)]
        assert refused == [], (args, refused)
        used |= {v for r in viewer.requests if (v := _verb_and_resource(*r[:3]))}
    beyond = sorted(v for v in used if not _granted(READER_RULES, *v))
    assert beyond == [], "requests the reader role does not grant"
    # and the role names nothing the tool never reads (watch is checked below, in a real watch)
    granted = {(g, res) for r in READER_RULES for g in r["apiGroups"] for res in r["resources"]}
    assert {(g, res) for _, g, res in used} == granted


def test_completion_reads_live_values_as_the_viewer(dra, users, monkeypatch):
    from kubectl_dra.completion import answer

    monkeypatch.setenv("KUBECONFIG", str(users.kubeconfig["dra-viewer"]))
    assert answer(["list", "--node", "dgx"]) == "dgx-h100-01\n:4\n"
    assert "ml-team" in answer(["claims", "-n", ""]).splitlines()
    monkeypatch.setenv("KUBECONFIG", str(users.kubeconfig["nobody"]))
    assert answer(["list", "--node", "dgx"]) == ":4\n"  # a TAB never prints an error


FORBIDDEN = re.compile(
    r'error: forbidden: cannot (?P<verb>get|list|watch) (?P<what>.+?): .* is forbidden: User "(?P<user>[^"]+)" '
    r'cannot (?P<verb2>get|list|watch) resource "(?P<resource>[a-z]+)" in API group "(?P<group>[a-z0-9.]*)"')


def _forbidden(stderr: str) -> re.Match:
    lines = stderr.splitlines()
    assert len(lines) == 2, stderr
    match = FORBIDDEN.match(lines[0])
    assert match and match["verb"] == match["verb2"], lines[0]
    assert lines[1] == f"hint: {READER_HINT}"
    assert "docs/rbac.yaml" in lines[1]
    return match


def test_nobody_gets_the_documented_403_from_every_command(dra, users):
    for args, _ in _reads(users):
        result = dra(users.kubeconfig["nobody"], *args)
        if args == ("version",):
            # /version and discovery are open to every authenticated user (system:discovery,
            # system:public-info-viewer): `version` needs no RBAC
            assert result.code == 0 and "resource.k8s.io served: v1" in result.stdout, result.stderr
            continue
        assert result.code == 4, (args, result.stderr)
        assert result.stdout == ""
        match = _forbidden(result.stderr)
        assert (match["user"], match["verb"], match["resource"], match["group"]) == (
            "nobody", "list", "resourceslices", "resource.k8s.io"), args
    apply = dra(users.kubeconfig["nobody"], "claim", "--mig", "--apply", "-n", WRITER_NS)
    assert apply.code == 4 and _forbidden(apply.stderr)["resource"] == "resourceslices"


#: (user, command, what docs/rbac.md promises): "ok"; ("warn", (refused verb+resource, what the warning says is
#: missing), ...): exit 0/7, one warning per refused read; ("fail", verb+resource): exit 4, the 403
CLAIMS_UNKNOWN = "allocation state is unknown"
TAINTS_MISSING = "taints added by DeviceTaintRules are not shown"
PARTIAL_EXPECTED = [
    ("no-claims", ("list",), ("warn", ("list resourceclaims", CLAIMS_UNKNOWN))),
    ("no-claims", ("show", "gpu.nvidia.com/dgx-h100-01/gpu-0"), ("warn", ("list resourceclaims", CLAIMS_UNKNOWN))),
    ("no-claims", ("classes",), ("warn", ("list resourceclaims", CLAIMS_UNKNOWN))),
    ("no-claims", ("topology", "dgx-h100-01"), ("warn", ("list resourceclaims", CLAIMS_UNKNOWN))),
    ("no-claims", ("claim", "--mig", "--check"), ("warn", ("list resourceclaims", CLAIMS_UNKNOWN))),
    ("no-claims", ("attributes",), "ok"),
    ("no-claims", ("claims", "-A"), ("fail", "list resourceclaims")),
    ("no-claims", ("claims", "-n", "ml-team"), ("fail", "list resourceclaims")),
    ("no-claims", ("explain", "-n", "research", "pod/pretrain-70b"), ("fail", "list resourceclaims")),
    ("no-claims", ("lint",), ("fail", "list resourceclaims")),
    ("no-classes", ("classes",), ("fail", "list deviceclasses")),
    ("no-classes", ("list", "--class", "mig.nvidia.com"), ("fail", "list deviceclasses")),
    ("no-classes", ("claim", "--mig"), ("fail", "list deviceclasses")),
    ("no-classes", ("explain", "-n", "ml-team", "pod/llm-train-0"), ("fail", "list deviceclasses")),
    ("no-classes", ("lint",), ("fail", "list deviceclasses")),
    ("no-classes", ("list",), "ok"),
    ("no-classes", ("claims", "-A"), "ok"),
    ("no-templates", ("explain", "-n", "ml-team", "pod/llm-train-0"), ("fail", "list resourceclaimtemplates")),
    ("no-templates", ("lint",), ("fail", "list resourceclaimtemplates")),
    ("no-templates", ("list",), "ok"),
    ("no-taint-rules", ("list",), ("warn", ("list devicetaintrules", TAINTS_MISSING))),
    ("no-taint-rules", ("explain", "-n", "ml-team", "pod/llm-train-0"),
     ("warn", ("list devicetaintrules", TAINTS_MISSING))),
    ("no-pods", ("claims", "-A"), ("warn", ("list pods", "pods waiting for a claim that no pod has reserved are not shown"))),
    ("no-pods", ("explain", "-n", "research", "pod/pretrain-70b"), ("fail", "get pods")),
    ("no-pods", ("list",), "ok"),
    ("no-nodes", ("topology", "dgx-h100-01"), ("warn", ("list nodes", "NVLink cliques"))),
    ("no-nodes", ("topology",), ("warn", ("list nodes", "NVLink cliques"))),
    ("no-nodes", ("explain", "-n", "ml-team", "pod/llm-train-0"), ("fail", "list nodes")),
    ("no-nodes", ("lint",), ("fail", "list nodes")),
    ("no-nodes", ("list",), "ok"),
    ("no-watch", ("list",), "ok"),
    ("no-watch", ("explain", "-n", "research", "pod/pretrain-70b"), "ok"),
    ("slices-only", ("attributes",), ("warn", ("list devicetaintrules", TAINTS_MISSING))),
    ("slices-only", ("list",), ("warn", ("list resourceclaims", CLAIMS_UNKNOWN), ("list devicetaintrules", TAINTS_MISSING))),
    ("slices-only", ("topology", "dgx-h100-01"),
     ("warn", ("list resourceclaims", CLAIMS_UNKNOWN), ("list devicetaintrules", TAINTS_MISSING), ("list nodes", "NVLink"))),
    ("slices-only", ("claims", "-A"), ("fail", "list resourceclaims")),
    ("slices-only", ("classes",), ("fail", "list deviceclasses")),
    ("slices-only", ("explain", "-n", "research", "pod/pretrain-70b"), ("fail", "list resourceclaims")),
]


def test_partial_permissions_degrade_or_fail_as_documented(dra, users):
    for user, args, expected in PARTIAL_EXPECTED:
        result = dra(users.kubeconfig[user], *args)
        refused = {(v[0], v[2]) for r in result.requests if r[3] == 403 and (v := _verb_and_resource(*r[:3]))}
        where = (user, args, result.stderr)
        if expected == "ok":
            assert result.code in (0, 7) and refused == set() and "warning" not in result.stderr, where
        elif expected[0] == "warn":
            assert result.code in (0, 7), where
            assert refused == {tuple(verb_resource.split()) for verb_resource, _ in expected[1:]}, where
            warnings = sorted(line for line in result.stderr.splitlines() if line.startswith("warning: forbidden:"))
            assert len(warnings) == len(expected) - 1, where
            for line, (verb_resource, consequence) in zip(warnings, sorted(expected[1:], key=lambda e: e[0].split()[1])):
                assert line.startswith(f"warning: forbidden: cannot {verb_resource}: ") and consequence in line, where
            assert result.stdout.strip(), where
        else:
            verb, resource = expected[1].split()
            assert result.code == 4 and result.stdout == "", where
            match = _forbidden(result.stderr)
            user_name = f"system:serviceaccount:{USERS_NS}:{user}"
            assert (match["user"], match["verb"], match["resource"]) == (user_name, verb, resource), where


def _watch(kubeconfig: Path, *args: str, change=None, timeout: float = 30.0) -> tuple[int, list[str], str]:
    """`kubectl dra ARGS` (a watch) in a subprocess: once it says it is watching, ``change()``; stop with
    SIGINT at the first line printed after that (or at once without ``change``)."""
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), NO_COLOR="1")
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_dra", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    lines: queue.Queue = queue.Queue()
    errors: list[str] = []
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    threading.Thread(target=lambda: [errors.append(line) for line in proc.stderr], daemon=True).start()
    got: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while proc.poll() is None and not any("(watching)" in e for e in errors):
            assert time.monotonic() < deadline, f"hang guard: no '(watching)' after {timeout:.0f} s: {errors}"
            time.sleep(0.05)
        if proc.poll() is None and change is not None:
            change()
            got.append(lines.get(timeout=timeout))
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.05)  # the reader threads drain what is left
    while not lines.empty():
        got.append(lines.get())
    return proc.returncode, got, "".join(errors)


def test_watches_work_with_the_reader_role(api, users):
    def new_claim():
        api.create({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                    "metadata": {"name": "watched", "namespace": WATCH_NS},
                    "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com"}}]}}})

    code, out, err = _watch(users.kubeconfig["dra-viewer"], "claims", "-w", "-n", WATCH_NS, "-o", "json", change=new_claim)
    assert code == 130, err  # stopped with Ctrl-C (docs/exit-codes.md)
    assert err == f"no ResourceClaims found in namespace {WATCH_NS} (watching)\n"
    event = json.loads(out[0])
    assert (event["type"], event["object"]["name"], event["object"]["state"]) == ("ADDED", "watched", "pending")

    node = "rbac-e2e-watch-node"

    def new_slice():
        api.create({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
                    "metadata": {"name": node, "labels": {objects.OWNER_LABEL: OWNER}},
                    "spec": {"driver": "watch.example.com", "nodeName": node,
                             "pool": {"name": node, "generation": 1, "resourceSliceCount": 1}, "devices": [{"name": "dev-0"}]}})

    try:
        code, out, err = _watch(users.kubeconfig["dra-viewer"], "list", "-w", "--node", node, "-o", "json", change=new_slice)
    finally:
        api.delete("ResourceSlice", node)
    assert code == 130, err  # stopped with Ctrl-C
    assert "forbidden" not in err and "warning" not in err, err
    event = json.loads(out[0])
    assert (event["type"], event["object"]["node"], event["object"]["name"]) == ("ADDED", node, "dev-0")


@pytest.mark.parametrize("args", [("list", "-w"), ("claims", "-w", "-A")])
def test_a_watch_without_the_watch_verb_fails_with_403(users, args):
    code, out, err = _watch(users.kubeconfig["no-watch"], *args)
    assert code == 4, err
    lines = [line for line in err.splitlines() if "(watching)" not in line]
    match = _forbidden("\n".join(lines))
    # the collections are watched at once: whichever watch the server refuses first is reported
    assert match["verb"] == "watch" and match["resource"] in ("resourceslices", "resourceclaims", "pods",
                                                             "devicetaintrules"), err


def test_claim_writer_role_creates_only_in_its_namespace(dra, api, users):
    viewer = users.kubeconfig["dra-viewer"]
    created = dra(viewer, "claim", "--mig", "--apply", "-n", WRITER_NS, "--name", "rbac-mig")
    assert (created.code, created.stdout) == (0, "resourceclaim.resource.k8s.io/rbac-mig created\n"), created.stderr
    template = dra(viewer, "claim", "--mig", "--template", "--apply", "-n", WRITER_NS, "--name", "rbac-mig")
    assert (template.code, template.stdout) == (0, "resourceclaimtemplate.resource.k8s.io/rbac-mig created\n"), template.stderr
    assert api.exists("ResourceClaim", "rbac-mig", WRITER_NS) and api.exists("ResourceClaimTemplate", "rbac-mig", WRITER_NS)

    refused = dra(viewer, "claim", "--mig", "--apply", "-n", OTHER_NS, "--name", "rbac-mig")
    assert refused.code == 4 and refused.stdout == "", refused.stderr
    error, hint = refused.stderr.splitlines()
    assert error.startswith(f'error: forbidden: cannot create resourceclaim.resource.k8s.io "rbac-mig" in namespace "{OTHER_NS}": ')
    assert 'User "dra-viewer" cannot create resource "resourceclaims" in API group "resource.k8s.io"' in error
    assert hint.startswith("hint: creating claims needs the `create` verb") and "docs/rbac.yaml" in hint
    # the dry run was refused: nothing was sent for real, nothing exists
    assert [r[2] for r in refused.requests if r[0] == "POST"] == ["dryRun=All&fieldManager=kubectl-dra"]
    with pytest.raises(ApiError, match="404"):
        api.get("ResourceClaim", "rbac-mig", OTHER_NS)
