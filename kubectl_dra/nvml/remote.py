"""NVML facts of a remote node, collected through Kubernetes (``kubectl dra nvml --node N --via …``).

Three ways in (docs/nvml.md; facts in shared/reference/remote-nvml.md):

* ``driver-pod``: exec into the NVIDIA DRA driver's kubelet-plugin pod on the node (label
  ``nvidia-dra-driver-gpu-component=kubelet-plugin``, container ``gpus``) and run the collector
  chrooted into the driver root (``/driver-root``), under ``timeout``. Creates nothing. Exec into
  that privileged container is root on the node.
* ``admin-claim``: a Pod pinned to the node by node affinity on ``metadata.name`` with
  ResourceClaims that ask for every GPU / MIG device of the node with ``adminAccess: true``;
  the collector's output is the pod log; both are deleted (the pod owns the claims).
* ``debug-pod``: a privileged pod on the node's host namespaces (as ``kubectl debug node``),
  ``chroot /host``. Explicit only.

``auto`` tries driver-pod, then admin-claim. Every failure is a ``RemoteError`` (exit 9) or a
``Forbidden`` (exit 4) with the blocking reason. The ``kubernetes`` package is used only through
``kubectl_dra.kube``; this module builds the objects and decides what each outcome means.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from kubectl_dra.errors import ClusterError, DraError, ExitCode

if TYPE_CHECKING:
    from kubectl_dra.kube.live import LiveCluster
    from kubectl_dra.model.device import Device
    from kubectl_dra.nvml.snapshot import Snapshot

VIAS = ("auto", "driver-pod", "admin-claim", "debug-pod")
DRIVER = "gpu.nvidia.com"
DRIVER_POD_LABEL = "nvidia-dra-driver-gpu-component=kubelet-plugin"
DRIVER_CONTAINER = "gpus"
#: where the chart mounts the host's driver root in the kubelet-plugin container
DRIVER_ROOT = "/driver-root"
COLLECTOR_CONTAINER = "nvml"
DEFAULT_IMAGE = "docker.io/library/ubuntu:24.04"
DEFAULT_TIMEOUT = 20.0
#: upstream: ``resource.kubernetes.io/admin-access: "true"`` on the namespace (Kubernetes 1.34+)
ADMIN_NS_LABEL = "resource.kubernetes.io/admin-access"
#: upstream limit: a claim's allocation holds at most 32 results (AllocationResultsMaxSize)
MAX_RESULTS = 32
#: the classes the NVIDIA chart installs, by device ``type``
CLASS_FOR_TYPE = {"gpu": "gpu.nvidia.com", "mig": "mig.nvidia.com"}
#: driver feature gates under which the driver's prepare of an admin claim changes the GPUs
STATEFUL_GATES = {
    "TimeSlicingSettings": "its prepare applies (and resets) the GPUs' time-slicing settings",
    "MPSSupport": "its prepare can start an MPS control daemon on the GPUs",
    "DynamicMIG": "its prepare creates and deletes MIG instances",
}
MANAGED_BY = "app.kubernetes.io/managed-by"
COMPONENT = "app.kubernetes.io/component"
LABELS = {MANAGED_BY: "kubectl-dra", COMPONENT: "nvml-collector"}
SELECTOR = ",".join(f"{k}={v}" for k, v in LABELS.items())
NODE_ANNOTATION = "kubectl-dra.io/node"
#: grace on top of the collector's own limits, for the exec round trip / pod start
GRACE = 15.0
#: the collector's section marker (``smi.MARK``): its output, even from a failed run
MARK = "@@kubectl-dra"


class RemoteError(DraError):
    """Remote collection could not run on the node (documented as exit code 9)."""

    exit_code = ExitCode.REMOTE

    def __init__(self, message: str, *, hint: str | None = None, fallback: bool = False) -> None:
        super().__init__(message, hint=hint)
        #: True when another way in may still work (auto goes on to the next one)
        self.fallback = fallback


@dataclass
class RemoteOptions:
    via: str = "auto"
    #: where admin-claim / debug-pod create their pod (default: the kubeconfig's namespace)
    namespace: str | None = None
    image: str = DEFAULT_IMAGE
    #: seconds per node, for the collector itself; the client waits a little longer
    timeout: float = DEFAULT_TIMEOUT
    #: where the driver runs (None: search all namespaces)
    driver_namespace: str | None = None
    #: the resource.k8s.io version to create claims in
    resource_version: str = "v1"
    #: called with a short status line (progress)
    on_step: Callable[[str], None] | None = None
    #: poll interval for pods
    poll: float = 0.5
    #: set by fleet mode on Ctrl-C: every node stops waiting and cleans up
    cancel: threading.Event | None = None

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise RemoteError("interrupted")


@dataclass
class Collected:
    node: str
    via: str
    text: str
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- the collector


def collector_script() -> str:
    """The nvidia-smi collector (``kubectl_dra/nvml/collector.sh``, package data; see ``nvml/smi.py``)."""
    from kubectl_dra.nvml.smi import collector_script as script

    return script()


def collector_command(prefix: list[str], opts: RemoteOptions, *, nvidia_smi: str | None = None,
                      sysfs: str | None = None) -> list[str]:  # fmt: skip
    """``PREFIX sh -c SCRIPT kubectl-dra-collect --timeout T [...]``. The collector limits every
    nvidia-smi command itself (it hangs on a lost GPU) and needs no timeout(1)."""
    from kubectl_dra.nvml.smi import collector_args

    args = collector_args(nvidia_smi or "nvidia-smi", int(max(1, opts.timeout)), sysfs)
    if nvidia_smi is None:
        args = args[2:]  # the default: nvidia-smi on PATH
    return [*prefix, "sh", "-c", collector_script(), "kubectl-dra-collect", *args]


def deadline(opts: RemoteOptions) -> float:
    """How long the client waits for one node: one command may use the whole limit before the
    collector skips the other nvidia-smi commands; the rest are quick."""
    return 2 * opts.timeout + GRACE


def decode(text: str, node: str, via: str) -> Snapshot:
    """A snapshot from what the collector printed (``smi.parse_collected``), or from the JSON of
    ``kubectl dra nvml -o json`` (an image with this package may print that instead)."""
    from kubectl_dra.nvml.snapshot import Snapshot, SnapshotError

    source = f"node {node} (via {via})"
    stripped = text.lstrip()
    if not stripped:
        raise RemoteError(f"the collector on node {node} printed nothing (via {via})",
                          hint="see docs/nvml.md to run it by hand")  # fmt: skip
    try:
        if stripped.startswith("{"):
            try:
                data = json.loads(stripped)
            except ValueError as err:
                raise RemoteError(f"{source}: the collector's output is not valid JSON: {err}") from None
            snap = Snapshot.from_dict(data, source)
        else:
            from kubectl_dra.nvml.smi import parse_collected

            snap = parse_collected(text, node=node)
    except SnapshotError as err:
        raise RemoteError(f"{source}: {err.message}", hint=err.hint) from None
    if not snap.gpus and snap.errors:
        # nvidia-smi did not run (not found, hung, failed): no data is not "a node without GPUs"
        detail = "; ".join(f"{e.call}: {e.error}" for e in snap.errors[:3])
        raise RemoteError(f"the collector on node {node} (via {via}) could not read any GPU: {detail}",
                          hint="run the collector by hand to see why (docs/nvml.md); or try another --via")  # fmt: skip
    snap.node = node
    return snap


# ---------------------------------------------------------------------------- helpers


def _step(opts: RemoteOptions, text: str) -> None:
    if opts.on_step is not None:
        opts.on_step(text)


def _tail(data: bytes | str, lines: int = 3) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()][-lines:]
    return " / ".join(kept)


def _not_found(message: str) -> bool:
    text = message.lower()
    return "executable file not found" in text or "no such file" in text or "not found in $path" in text


def _is_fallback_error(err: Exception) -> bool:
    from kubectl_dra.kube.live import Forbidden

    return isinstance(err, Forbidden) or (isinstance(err, RemoteError) and err.fallback)


# ---------------------------------------------------------------------------- driver-pod


def find_driver_pod(live: LiveCluster, node: str, namespace: str | None) -> dict | None:
    """The running kubelet-plugin pod of the NVIDIA DRA driver on ``node`` (None if there is none)."""
    from kubectl_dra.kube.podrun import list_items

    path = f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"
    pods = list_items(live, path, what="pods of the NVIDIA DRA driver", label_selector=DRIVER_POD_LABEL,
                      field_selector=f"spec.nodeName={node}")  # fmt: skip
    pods = [p for p in pods if any(c.get("name") == DRIVER_CONTAINER for c in (p.get("spec") or {}).get("containers") or [])]
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running" and not (p.get("metadata") or {}).get("deletionTimestamp")]
    return (running or pods or [None])[0]


def driver_feature_gates(pod: dict | None) -> dict[str, bool]:
    """The driver's feature gates, from its container's ``--feature-gates`` argument or ``FEATURE_GATES`` env."""
    gates: dict[str, bool] = {}
    if not pod:
        return gates
    texts: list[str] = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        args = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
        for i, a in enumerate(args):
            if a.startswith("--feature-gates="):
                texts.append(a.split("=", 1)[1])
            elif a == "--feature-gates" and i + 1 < len(args):
                texts.append(args[i + 1])
        for env in c.get("env") or []:
            if env.get("name") == "FEATURE_GATES" and env.get("value"):
                texts.append(str(env["value"]))
    for text in texts:
        for item in text.split(","):
            key, _, value = item.strip().partition("=")
            if key:
                gates[key] = value.strip().lower() in ("true", "1", "")
    return gates


def via_driver_pod(live: LiveCluster, node: str, opts: RemoteOptions) -> Collected:
    from kubectl_dra.kube.exec import ExecTimeout, exec_command
    from kubectl_dra.kube.live import Forbidden

    _step(opts, "finding the driver pod")
    try:
        pod = find_driver_pod(live, node, opts.driver_namespace)
    except Forbidden as err:
        where = f"namespace {opts.driver_namespace}" if opts.driver_namespace else "all namespaces (or pass --driver-namespace)"
        err.hint = f"finding the driver pod needs `list` on pods in {where}; see docs/nvml.md"
        raise
    if pod is None:
        raise RemoteError(
            f"no NVIDIA DRA driver kubelet-plugin pod on node {node} (label {DRIVER_POD_LABEL}, container {DRIVER_CONTAINER})",
            hint="is the driver installed on that node? otherwise try --via admin-claim or --via debug-pod",
            fallback=True,
        )
    meta = pod.get("metadata") or {}
    ns, name = str(meta.get("namespace") or opts.driver_namespace or ""), str(meta.get("name") or "")
    if (pod.get("status") or {}).get("phase") != "Running":
        raise RemoteError(f"the driver pod {ns}/{name} on node {node} is not running "
                          f"(phase {(pod.get('status') or {}).get('phase') or 'unknown'})",
                          hint="try --via admin-claim or --via debug-pod", fallback=True)  # fmt: skip
    # the collector in the container's shell, nvidia-smi chrooted into the driver root (its own binary and
    # libnvidia-ml); images without a shell on PATH: busybox's; without any: the whole collector inside
    # the driver root
    in_container = collector_command([], opts, nvidia_smi=f"chroot {DRIVER_ROOT} nvidia-smi", sysfs="/sys")
    attempts = [
        in_container,
        ["/busybox/sh", *in_container[1:]],  # distroless debug images: busybox off the usual paths
        collector_command(["chroot", DRIVER_ROOT], opts),
    ]
    _step(opts, f"exec into {ns}/{name}")
    for i, command in enumerate(attempts):
        try:
            result = exec_command(live, ns, name, command, container=DRIVER_CONTAINER, timeout=deadline(opts),
                                  cancel=opts.cancel)  # fmt: skip
        except ExecTimeout:
            raise RemoteError(f"the collector in driver pod {ns}/{name} did not finish within {deadline(opts):g}s "
                              f"(node {node})", hint="nvidia-smi hangs on a lost GPU; raise --timeout, or look at the "
                              "node's kernel log (--via debug-pod)") from None  # fmt: skip
        missing = result.exit_code is None and _not_found(result.message)
        if missing and i + 1 < len(attempts):
            continue
        break
    if result.exit_code is None:
        raise RemoteError(f"cannot run the collector in driver pod {ns}/{name}: {result.message}",
                          hint=("the driver image has neither a shell nor chroot; try --via admin-claim or --via "
                                "debug-pod" if missing else "see docs/nvml.md"), fallback=missing)  # fmt: skip
    if result.exit_code == 127:
        raise RemoteError(f"the driver pod {ns}/{name} cannot run the collector: {_tail(result.stderr) or 'command not found'}",
                          hint="try --via admin-claim or --via debug-pod", fallback=True)  # fmt: skip
    text = result.stdout.decode("utf-8", "replace")
    notes = []
    if result.exit_code != 0:
        if not text.strip():
            raise RemoteError(f"the collector in driver pod {ns}/{name} failed with exit code {result.exit_code}: "
                              f"{_tail(result.stderr) or 'no output'}")  # fmt: skip
        notes.append(f"the collector exited with code {result.exit_code}: {_tail(result.stderr)}")
    return Collected(node, "driver-pod", text, notes)


# ---------------------------------------------------------------------------- manifests


def _name(node: str) -> str:
    import re

    safe = re.sub(r"[^a-z0-9-]", "-", node.lower()).strip("-")[:30].strip("-") or "node"
    return f"kubectl-dra-nvml-{safe}-{secrets.token_hex(3)}"


def _meta(name: str, namespace: str, node: str) -> dict:
    return {"name": name, "namespace": namespace, "labels": dict(LABELS), "annotations": {NODE_ANNOTATION: node}}


def _request_body(version: str, name: str, device_class: str, selector: str | None) -> dict:
    body: dict[str, Any] = {"deviceClassName": device_class, "allocationMode": "All", "adminAccess": True,
                            "tolerations": [{"operator": "Exists"}]}  # fmt: skip
    if selector:
        body["selectors"] = [{"cel": {"expression": selector}}]
    if version == "v1":
        return {"name": name, "exactly": body}
    return {"name": name, **body}


def plan_claims(devices: list[Device]) -> list[list[tuple[str, str | None]]]:
    """The requests of each claim: (class, CEL selector or None). One claim when the node's devices fit
    in one allocation (≤ 32 results); else claims of ≤ 32 devices each, chosen by UUID."""
    by_class: dict[str, list[str]] = {}
    for d in devices:
        cls = CLASS_FOR_TYPE.get(str(d.attr("type") or ""))
        if cls:
            by_class.setdefault(cls, []).append(str(d.attr("uuid") or ""))
    total = sum(len(v) for v in by_class.values())
    if total <= MAX_RESULTS:
        return [[(cls, None) for cls in sorted(by_class)]]
    claims: list[list[tuple[str, str | None]]] = []
    current: list[tuple[str, str | None]] = []
    room = MAX_RESULTS
    for cls in sorted(by_class):
        uuids = sorted(by_class[cls])
        while uuids:
            if room == 0:
                claims.append(current)
                current, room = [], MAX_RESULTS
            chunk, uuids = uuids[:room], uuids[room:]
            room -= len(chunk)
            listed = ", ".join(f"'{u}'" for u in chunk)
            current.append((cls, f"device.attributes['{DRIVER}'].uuid in [{listed}]"))
    if current:
        claims.append(current)
    return claims


def claim_manifest(name: str, namespace: str, node: str, requests: list[tuple[str, str | None]], version: str,
                   owner: dict | None) -> dict:  # fmt: skip
    meta = _meta(name, namespace, node)
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "name": owner["name"], "uid": owner["uid"]}]
    return {
        "apiVersion": f"resource.k8s.io/{version}",
        "kind": "ResourceClaim",
        "metadata": meta,
        "spec": {"devices": {"requests": [_request_body(version, f"{cls.split('.')[0]}-{i}", cls, sel)
                                          for i, (cls, sel) in enumerate(requests)]}},  # fmt: skip
    }


def admin_pod_manifest(name: str, namespace: str, node: str, claim_names: list[str], image: str, timeout: float,
                       command: list[str]) -> dict:  # fmt: skip
    """``timeout``: activeDeadlineSeconds; ``command``: the collector (nvidia-smi comes from the driver's CDI spec)."""
    refs = [f"gpus-{i}" for i in range(len(claim_names))]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta(name, namespace, node),
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": int(timeout),
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 0,
            # pinned through the scheduler (which allocates the claims), not spec.nodeName (which skips DRA)
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}},
            "tolerations": [{"operator": "Exists"}],
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                "seccompProfile": {"type": "RuntimeDefault"}},  # fmt: skip
            "resourceClaims": [{"name": ref, "resourceClaimName": claim} for ref, claim in zip(refs, claim_names)],
            "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}],
            "containers": [{
                "name": COLLECTOR_CONTAINER,
                "image": image,
                "command": command,
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                "resources": {"claims": [{"name": ref} for ref in refs]},
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}},  # fmt: skip
            }],
        },
    }


def debug_pod_manifest(name: str, namespace: str, node: str, image: str, timeout: float, command: list[str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta(name, namespace, node),
        "spec": {
            "nodeName": node,  # as kubectl debug node/N: no scheduler, no claims
            "restartPolicy": "Never",
            "activeDeadlineSeconds": int(timeout),
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 0,
            "hostPID": True,
            "hostIPC": True,
            "hostNetwork": True,
            "tolerations": [{"operator": "Exists"}],
            "volumes": [{"name": "host-root", "hostPath": {"path": "/"}}],
            "containers": [{
                "name": COLLECTOR_CONTAINER,
                "image": image,
                "command": command,
                "securityContext": {"privileged": True},
                "volumeMounts": [{"name": "host-root", "mountPath": "/host"}],
            }],
        },
    }


# ---------------------------------------------------------------------------- pods that run the collector


def _admin_access_kept(claim: dict) -> bool:
    requests = ((claim.get("spec") or {}).get("devices") or {}).get("requests") or []
    for r in requests:
        body = r.get("exactly") if isinstance(r.get("exactly"), dict) else r
        if body.get("adminAccess") is not True:
            return False
    return bool(requests)


def check_namespace(live: LiveCluster, namespace: str) -> None:
    """The upstream rule (1.34+): admin-access claims only in namespaces labelled
    ``resource.kubernetes.io/admin-access: "true"``. Unreadable namespaces are left to the server."""
    from kubectl_dra.errors import NotFoundError
    from kubectl_dra.kube.live import Forbidden

    try:
        ns = live.get(f"/api/v1/namespaces/{namespace}", what=f"namespace {namespace}")
    except Forbidden:
        return  # the API server applies the same rule when the claim is created
    except NotFoundError:
        raise RemoteError(f'namespace "{namespace}" does not exist', hint="choose the namespace with -n") from None
    labels = (ns.get("metadata") or {}).get("labels") or {}
    if labels.get(ADMIN_NS_LABEL) != "true":
        raise admin_namespace_error(namespace)


def admin_namespace_error(namespace: str, detail: str = "") -> RemoteError:
    return RemoteError(
        f'namespace "{namespace}" is not labelled {ADMIN_NS_LABEL}="true": since Kubernetes 1.34 the API server '
        "accepts ResourceClaims with adminAccess only in such namespaces" + (f" ({detail})" if detail else ""),
        hint=f"a cluster admin labels one once: kubectl label namespace {namespace} {ADMIN_NS_LABEL}=true "
        "(then pass it with -n); or use --via driver-pod",
        fallback=True,
    )


def refuse_stateful(node: str, devices: list[Device], gates: dict[str, bool]) -> None:
    """Refuse an admin claim where the driver's prepare would change the GPUs (STATEFUL_GATES)."""
    on = [g for g in STATEFUL_GATES if gates.get(g)]
    if any(d.consumes_counters for d in devices) and "DynamicMIG" not in on:
        on.append("DynamicMIG")
    if on:
        why = "; ".join(f"{g}: {STATEFUL_GATES[g]}" for g in on)
        raise RemoteError(f"refusing an admin claim on node {node}: the driver runs with {', '.join(on)}, and {why}",
                          hint="use --via driver-pod (creates nothing) or --via debug-pod", fallback=True)  # fmt: skip


@dataclass
class PodRun:
    """The objects one admin-claim / debug-pod run created (for cleanup)."""

    namespace: str
    pod: str = ""
    pod_uid: str = ""
    claims: list[str] = field(default_factory=list)
    resource_version: str = "v1"

    def cleanup(self, live: LiveCluster) -> list[str]:
        """Delete what was created; returns problems (never raises: it runs on the way out)."""
        from kubectl_dra.kube.podrun import claims_path, delete, pods_path

        problems = []
        if self.pod:
            try:
                delete(live, f"{pods_path(self.namespace)}/{self.pod}", what=f"pod {self.namespace}/{self.pod}")
            except (DraError, OSError) as err:
                problems.append(str(err))
        for claim in self.claims:
            try:
                delete(live, f"{claims_path(self.namespace, self.resource_version)}/{claim}",
                       what=f"resourceclaim {self.namespace}/{claim}")  # fmt: skip
            except (DraError, OSError) as err:
                problems.append(str(err))
        return problems


def start_admin_claim(live: LiveCluster, node: str, devices: list[Device], opts: RemoteOptions, run: PodRun,
                      gates: dict[str, bool] | None = None) -> None:  # fmt: skip
    """Create the pod and its admin claims (recorded in ``run`` as they are created)."""
    from kubectl_dra.errors import Rejected
    from kubectl_dra.kube.podrun import claims_path, pods_path

    namespace = run.namespace
    mine = [d for d in devices if d.driver == DRIVER and str(d.attr("type") or "") in CLASS_FOR_TYPE]
    if not mine:
        raise RemoteError(f"node {node} publishes no {DRIVER} GPU or MIG devices: an admin claim has nothing to allocate",
                          hint="try --via driver-pod or --via debug-pod", fallback=True)  # fmt: skip
    refuse_stateful(node, mine, gates or {})
    if any(not d.attr("uuid") for d in mine) and len(mine) > MAX_RESULTS:
        raise RemoteError(f"node {node} has more than {MAX_RESULTS} devices, some without a UUID: they cannot be split "
                          "over several admin claims", hint="use --via driver-pod")  # fmt: skip
    check_namespace(live, namespace)
    plan = plan_claims(mine)
    name = _name(node)
    claim_names = [f"{name}-{i}" for i in range(len(plan))]
    pod = admin_pod_manifest(name, namespace, node, claim_names, opts.image, deadline(opts), collector_command([], opts))
    _step(opts, "creating the collector pod")
    created = live.create(pods_path(namespace), pod, what=f"pod {namespace}/{name}")
    run.pod, run.pod_uid = name, str((created.get("metadata") or {}).get("uid") or "")
    owner = {"name": name, "uid": run.pod_uid} if run.pod_uid else None
    for claim_name, requests in zip(claim_names, plan):
        manifest = claim_manifest(claim_name, namespace, node, requests, run.resource_version, owner)
        try:
            stored = live.create(claims_path(namespace, run.resource_version), manifest,
                                 what=f"resourceclaim {namespace}/{claim_name}")  # fmt: skip
        except Rejected as err:
            if "admin-access" in err.message or "adminAccess" in err.message:
                raise admin_namespace_error(namespace, err.message) from None
            raise
        run.claims.append(claim_name)
        if not _admin_access_kept(stored):
            raise RemoteError("the API server dropped adminAccess from the claim: its DRAAdminAccess feature gate is off",
                              hint="use --via driver-pod or --via debug-pod")  # fmt: skip


def wait_for_output(live: LiveCluster, node: str, run: PodRun, opts: RemoteOptions, via: str) -> Collected:
    """Wait for the collector pod to finish and return its log; blocking states are errors."""
    from kubectl_dra.kube.podrun import pod_log, pod_state, poll_pod

    state = None
    for pod in poll_pod(live, run.namespace, run.pod, interval=opts.poll, deadline=time.monotonic() + deadline(opts)):
        opts.check_cancel()
        state = pod_state(pod, COLLECTOR_CONTAINER)
        if state.phase == "unschedulable":
            raise RemoteError(f"the collector pod cannot be scheduled on node {node}: {state.reason}",
                              hint="the node's devices could not be allocated to an admin claim (tainted node, "
                              "devices gone, no such node?); try --via driver-pod")  # fmt: skip
        if state.phase == "image":
            raise RemoteError(f"node {node} cannot pull the collector image {opts.image}: {state.reason}",
                              hint="choose a reachable image with --image (any glibc image; the driver injects "
                              "nvidia-smi)")  # fmt: skip
        if state.phase == "failed-start":
            raise RemoteError(f"the collector container cannot start on node {node}: {state.reason}")
        _step(opts, {"pending": "waiting for the scheduler" if not state.node else "starting on the node",
                     "running": "collecting"}.get(state.phase, state.phase))  # fmt: skip
        if state.done:
            break
    else:
        where = f"bound to node {state.node} but never finished" if state and state.node else "never scheduled"
        raise RemoteError(f"the collector pod {run.namespace}/{run.pod} did not finish within "
                          f"{deadline(opts):g}s ({where})",
                          hint="raise --timeout, or check the node (a lost GPU hangs nvidia-smi)")  # fmt: skip
    log = pod_log(live, run.namespace, run.pod, container=COLLECTOR_CONTAINER)
    if state.phase == "failed":
        if "DeadlineExceeded" in state.reason:
            raise RemoteError(f"the collector pod on node {node} ran out of time ({state.reason})",
                              hint="raise --timeout; a lost or hung GPU makes nvidia-smi hang")  # fmt: skip
        if MARK not in log.decode("utf-8", "replace"):
            raise RemoteError(f"the collector pod on node {node} failed ({state.reason}): {_tail(log) or 'no output'}",
                              hint="the image needs a POSIX shell (sh); nvidia-smi comes from the driver's CDI spec")
    return Collected(node, via, log.decode("utf-8", "replace"))


def via_pod(live: LiveCluster, node: str, opts: RemoteOptions, *, devices: list[Device] | None, admin: bool,
            gates: dict[str, bool] | None = None) -> Collected:  # fmt: skip
    """admin-claim (``admin=True``) or debug-pod: create, wait, read the log, delete — whatever happens."""
    from kubectl_dra.kube.podrun import pods_path

    namespace = opts.namespace or live.namespace
    run = PodRun(namespace, resource_version=opts.resource_version)
    via = "admin-claim" if admin else "debug-pod"
    try:
        if admin:
            if devices is None:
                raise RemoteError(f"admin-claim needs node {node}'s ResourceSlices, and they could not be read",
                                  hint="the ClusterRole kubectl-dra-reader in docs/rbac.yaml grants list on "
                                  "resourceslices", fallback=True)  # fmt: skip
            start_admin_claim(live, node, devices, opts, run, gates)
        else:
            name = _name(node)
            _step(opts, "creating the debug pod")
            manifest = debug_pod_manifest(name, namespace, node, opts.image, deadline(opts),
                                          collector_command(["chroot", "/host"], opts))  # fmt: skip
            live.create(pods_path(namespace), manifest, what=f"pod {namespace}/{name}")
            run.pod = name
        return wait_for_output(live, node, run, opts, via)
    finally:
        run.cleanup(live)


# ---------------------------------------------------------------------------- one node, any way in


def collect_node(live: LiveCluster, node: str, opts: RemoteOptions, *, devices: list[Device] | None = None) -> tuple[Snapshot, Collected]:
    """Collect ``node``'s NVML facts the way ``opts.via`` says; auto: driver-pod, then admin-claim."""
    from kubectl_dra.kube.live import Forbidden

    if opts.via == "driver-pod":
        got = via_driver_pod(live, node, opts)
    elif opts.via == "admin-claim":
        gates = _gates_if_readable(live, node, opts)
        got = via_pod(live, node, opts, devices=devices, admin=True, gates=gates)
    elif opts.via == "debug-pod":
        got = via_pod(live, node, opts, devices=None, admin=False)
    else:
        tried: list[tuple[str, Exception]] = []
        got = None
        for way in ("driver-pod", "admin-claim"):
            try:
                if way == "driver-pod":
                    got = via_driver_pod(live, node, opts)
                else:
                    got = via_pod(live, node, opts, devices=devices, admin=True, gates=_gates_if_readable(live, node, opts))
                break
            except (RemoteError, Forbidden) as err:
                if not _is_fallback_error(err):
                    raise
                tried.append((way, err))
        if got is None:
            reasons = "; ".join(f"{way}: {err}" for way, err in tried)
            all_forbidden = all(isinstance(err, Forbidden) for _, err in tried)
            cls = ClusterError if all_forbidden else RemoteError
            raise cls(f"cannot collect NVML facts from node {node}: {reasons}",
                      hint="--via debug-pod runs a privileged pod on the node (root on the node); docs/nvml.md lists "
                      "the RBAC each way needs")  # fmt: skip
    return decode(got.text, node, got.via), got


def _gates_if_readable(live: LiveCluster, node: str, opts: RemoteOptions) -> dict[str, bool]:
    """The driver's feature gates, read off its pod on the node when we may read it (else none known)."""
    from kubectl_dra.errors import NotFoundError

    try:
        return driver_feature_gates(find_driver_pod(live, node, opts.driver_namespace))
    except (ClusterError, NotFoundError):
        return {}


# ---------------------------------------------------------------------------- leftovers


def cleanup_leftovers(live: LiveCluster, namespace: str | None, resource_version: str = "v1") -> list[str]:
    """Delete every pod and claim this tool created (by label) in ``namespace`` (None: all); returns what went."""
    from kubectl_dra.kube.podrun import claims_path, delete, list_items, pods_path

    gone = []
    pods = list_items(live, pods_path(namespace) if namespace else "/api/v1/pods", what="pods", label_selector=SELECTOR)
    for p in pods:
        meta = p.get("metadata") or {}
        ns, name = meta.get("namespace"), meta.get("name")
        if delete(live, f"{pods_path(ns)}/{name}", what=f"pod {ns}/{name}"):
            gone.append(f"pod/{name} -n {ns}")
    path = claims_path(namespace, resource_version) if namespace else f"/apis/resource.k8s.io/{resource_version}/resourceclaims"
    for c in list_items(live, path, what="resourceclaims", label_selector=SELECTOR):
        meta = c.get("metadata") or {}
        ns, name = meta.get("namespace"), meta.get("name")
        if delete(live, f"{claims_path(ns, resource_version)}/{name}", what=f"resourceclaim {ns}/{name}"):
            gone.append(f"resourceclaim/{name} -n {ns}")
    return gone
