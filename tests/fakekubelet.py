"""Exec, pod logs, deletes and a scripted kubelet for ``tests/fakeapi.FakeApiServer``.

Added through the fake's ``routes`` hook, self-contained::

    kubelet = FakeKubelet(server)
    kubelet.script("gpu-1", stdout=snapshot_json)          # what "nvidia-smi" prints on that node
    kubelet.script("gpu-2", hang=True)                      # never finishes
    kubelet.add_driver_pod("gpu-1")                         # the NVIDIA DRA driver's kubelet-plugin pod

* ``GET …/pods/NAME/exec`` with a websocket upgrade: the channel protocol (``v5.channel.k8s.io``,
  else ``v4.channel.k8s.io``): binary messages whose first byte is the channel (1 stdout,
  2 stderr, 3 the final Status: ``Success`` or ``Failure``/``NonZeroExitCode`` with the code in
  ``details.causes``), then a close frame (v5's close-channel message, 255, goes from client to
  server only: the server never sends it). The node is the pod's ``spec.nodeName``; its script
  answers: output and exit code, a hang (until the client hangs up), a 403, or an exec that
  cannot start (``exec_error``). Every command is recorded in ``execs``.
* ``POST`` of a pod: stored by the fake, then "scheduled and run" at once from the node's script:
  bound to the node of its ``metadata.name`` node affinity (or ``spec.nodeName``), then
  ``Succeeded``/``Failed`` with the script's exit code, ``Running`` forever (hang), an
  ``ErrImagePull`` waiting container, or ``Unschedulable``.
* ``GET …/pods/NAME/log``: the script's stdout (then stderr), as text.
* ``DELETE`` of pods and resourceclaims (``fake.remove``); deleting a pod removes the claims it
  owns (ownerReferences), as the garbage collector would.
* ``POST`` of a ResourceClaim: ``drop_admin_access=True`` strips ``adminAccess`` (an API server
  with the DRAAdminAccess gate off); ``admin_namespace_rule=True`` (default) rejects admin
  claims in namespaces without the ``resource.kubernetes.io/admin-access: "true"`` label (422).
"""

from __future__ import annotations

import base64
import hashlib
import json
import select
import struct
import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from tests.fakeapi import RESOURCE_GROUP, ApiError, FakeApiServer, _dumps

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
ADMIN_LABEL = "resource.kubernetes.io/admin-access"


@dataclass
class NodeScript:
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0
    hang: bool = False
    forbid_exec: bool = False
    exec_error: str | None = None
    image_error: str | None = None
    unschedulable: str | None = None


class FakeKubelet:
    def __init__(self, fake: FakeApiServer, *, admin_namespace_rule: bool = True, drop_admin_access: bool = False):
        self.fake = fake
        self.nodes: dict[str, NodeScript] = {}
        self.execs: list[tuple[str, str, list[str]]] = []  # (namespace/pod, container, command)
        self.created: list[dict] = []
        self.deleted: list[str] = []
        self.drop_admin_access = drop_admin_access
        self._lock = threading.Lock()
        fake.routes.append(self.route)
        if admin_namespace_rule:
            fake.add_validator(self._admin_rule)

    # ------------------------------------------------------------------ scripting
    def script(self, node: str, *, stdout: bytes | str = b"", stderr: bytes | str = b"", **kw) -> NodeScript:
        s = NodeScript(stdout=stdout.encode() if isinstance(stdout, str) else stdout,
                       stderr=stderr.encode() if isinstance(stderr, str) else stderr, **kw)
        self.nodes[node] = s
        return s

    def add_driver_pod(self, node: str, *, namespace: str = "nvidia-dra-driver-gpu", phase: str = "Running",
                       feature_gates: str | None = None) -> dict:
        args = ["gpu-kubelet-plugin"] + ([f"--feature-gates={feature_gates}"] if feature_gates else [])
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"nvidia-dra-driver-gpu-kubelet-plugin-{node}", "namespace": namespace,
                         "labels": {"nvidia-dra-driver-gpu-component": "kubelet-plugin"}},
            "spec": {"nodeName": node, "containers": [{"name": "gpus", "image": "nvcr.io/nvidia/k8s-dra-driver-gpu",
                                                        "args": args, "securityContext": {"privileged": True}}]},
            "status": {"phase": phase},
        }
        self.fake.add(pod)
        return pod

    def add_namespace(self, name: str, *, admin: bool = False) -> None:
        labels = {ADMIN_LABEL: "true"} if admin else {}
        self.fake.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})

    def leftovers(self) -> list[str]:
        """Pods and claims created through the API that are still stored."""
        out = []
        for pod in self.fake.objects("pods", group=""):
            if (pod["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "kubectl-dra":
                out.append("pod/" + pod["metadata"]["name"])
        for claim in self.fake.objects("resourceclaims"):
            if (claim["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "kubectl-dra":
                out.append("resourceclaim/" + claim["metadata"]["name"])
        return out

    # ------------------------------------------------------------------ validation
    def _admin_rule(self, obj: dict) -> str | None:
        if obj.get("kind") != "ResourceClaim":
            return None
        requests = ((obj.get("spec") or {}).get("devices") or {}).get("requests") or []
        admin = [i for i, r in enumerate(requests) if (r.get("exactly") or r).get("adminAccess")]
        if not admin:
            return None
        ns = (obj.get("metadata") or {}).get("namespace") or "default"
        for n in self.fake.objects("namespaces", group=""):
            if n["metadata"]["name"] == ns and (n["metadata"].get("labels") or {}).get(ADMIN_LABEL) == "true":
                return None
        return (f"spec.devices.requests[{admin[0]}].exactly.adminAccess: Forbidden: admin access to devices requires "
                f"the `{ADMIN_LABEL}: true` label on the containing namespace")

    # ------------------------------------------------------------------ routing
    def route(self, fake: FakeApiServer, req, handler) -> bool:
        parts = [p for p in req.path.strip("/").split("/") if p]
        core_pod = len(parts) >= 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "pods"
        if core_pod and len(parts) == 7 and parts[6] == "exec":
            self._exec(parts[3], parts[5], handler)
            return True
        if core_pod and len(parts) == 7 and parts[6] == "log" and req.method == "GET":
            self._log(parts[3], parts[5], handler)
            return True
        if req.method == "DELETE":
            return self._delete(parts, handler)
        if req.method == "POST" and parts[:3] == ["api", "v1", "namespaces"] and parts[4:] == ["pods"]:
            body = fake._create(req)
            pod = json.loads(body)
            pod.setdefault("kind", "Pod")
            pod.setdefault("apiVersion", "v1")
            with self._lock:
                self.created.append(pod)
            if req.query.get("dryRun") != "All":
                fake.update(self._run(pod))
            handler._send(201, body)
            return True
        if (req.method == "POST" and len(parts) == 6 and parts[:2] == ["apis", RESOURCE_GROUP]
                and parts[5] == "resourceclaims" and self.drop_admin_access):
            claim = json.loads(req.body or b"{}")
            for r in ((claim.get("spec") or {}).get("devices") or {}).get("requests") or []:
                (r.get("exactly") or r).pop("adminAccess", None)
            req.body = json.dumps(claim).encode()
            handler._send(201, fake._create(req))
            return True
        return False

    def _script_of_pod(self, namespace: str, name: str) -> tuple[dict, NodeScript]:
        pod = next((p for p in self.fake.objects("pods", group="")
                    if p["metadata"]["name"] == name and p["metadata"].get("namespace") == namespace), None)
        if pod is None:
            raise ApiError(404, f'pods "{name}" not found')
        node = (pod.get("spec") or {}).get("nodeName") or ""
        return pod, self.nodes.get(node) or NodeScript(stderr=b"no script for node " + node.encode(), exit_code=1)

    def _run(self, pod: dict) -> dict:
        spec = dict(pod.get("spec") or {})
        node = spec.get("nodeName")
        if not node:
            terms = ((((spec.get("affinity") or {}).get("nodeAffinity") or {})
                      .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or [])
            for term in terms:
                for f in term.get("matchFields") or []:
                    if f.get("key") == "metadata.name" and f.get("values"):
                        node = f["values"][0]
        script = self.nodes.get(node or "")
        container = (spec.get("containers") or [{}])[0].get("name", "")
        pod = dict(pod)
        if script is None or script.unschedulable:
            why = script.unschedulable if script else f"0/1 nodes are available: node {node} not found"
            pod["status"] = {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": why}]}
            return pod
        spec["nodeName"] = node
        pod["spec"] = spec
        if script.image_error:
            pod["status"] = {"phase": "Pending", "containerStatuses": [{"name": container, "state": {
                "waiting": {"reason": "ErrImagePull", "message": script.image_error}}}]}
        elif script.hang:
            pod["status"] = {"phase": "Running", "containerStatuses": [{"name": container, "state": {"running": {}}}]}
        else:
            phase = "Succeeded" if script.exit_code == 0 else "Failed"
            pod["status"] = {"phase": phase, "containerStatuses": [{"name": container, "state": {
                "terminated": {"exitCode": script.exit_code, "reason": "Completed" if phase == "Succeeded" else "Error"}}}]}
        return pod

    def _log(self, namespace: str, name: str, handler) -> None:
        _, script = self._script_of_pod(namespace, name)
        body = script.stdout + script.stderr
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _delete(self, parts: list[str], handler) -> bool:
        if len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "pods":
            ns, name = parts[3], parts[5]
            pod = next((p for p in self.fake.objects("pods", group="")
                        if p["metadata"]["name"] == name and p["metadata"].get("namespace") == ns), None)
            if pod is None or not self.fake.remove("Pod", name, ns, group=""):
                raise ApiError(404, f'pods "{name}" not found')
            self.deleted.append(f"pod/{name}")
            uid = pod["metadata"].get("uid")
            for claim in self.fake.objects("resourceclaims"):
                owners = claim["metadata"].get("ownerReferences") or []
                if uid and any(o.get("uid") == uid for o in owners):
                    self.fake.remove("ResourceClaim", claim["metadata"]["name"], claim["metadata"].get("namespace"))
                    self.deleted.append(f"resourceclaim/{claim['metadata']['name']} (owner)")
            handler._send(200, _dumps(pod))
            return True
        if len(parts) == 7 and parts[:2] == ["apis", RESOURCE_GROUP] and parts[5] == "resourceclaims":
            ns, name = parts[4], parts[6]
            if not self.fake.remove("ResourceClaim", name, ns):
                raise ApiError(404, f'resourceclaims.resource.k8s.io "{name}" not found')
            self.deleted.append(f"resourceclaim/{name}")
            handler._send(200, _dumps({"kind": "Status", "apiVersion": "v1", "status": "Success"}))
            return True
        return False

    # ------------------------------------------------------------------ exec
    def _exec(self, namespace: str, name: str, handler) -> None:
        pod, script = self._script_of_pod(namespace, name)
        query = parse_qsl(urlsplit(handler.path).query, keep_blank_values=True)
        command = [v for k, v in query if k == "command"]
        container = next((v for k, v in query if k == "container"), "")
        with self._lock:
            self.execs.append((f"{namespace}/{name}", container, command))
        if script.forbid_exec:
            raise ApiError(403, f'pods "{name}" is forbidden: User "fake" cannot create resource "pods/exec" in API '
                                f'group "" in the namespace "{namespace}"')
        headers = {k.lower(): v for k, v in handler.headers.items()}
        if headers.get("upgrade", "").lower() != "websocket":
            raise ApiError(400, "exec needs a websocket upgrade")
        offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
        protocol = next((p for p in PROTOCOLS if p in offered), None)
        if protocol is None:
            raise ApiError(400, "no supported channel protocol offered")
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()).decode()
        handler.send_response(101, "Switching Protocols")
        handler.send_header("Upgrade", "websocket")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Sec-WebSocket-Accept", accept)
        handler.send_header("Sec-WebSocket-Protocol", protocol)
        handler.end_headers()
        handler.wfile.flush()
        handler.close_connection = True
        sock = handler.connection
        try:
            if script.hang:
                self._wait_for_hangup(sock)
                return
            if script.exec_error:
                status = {"metadata": {}, "status": "Failure", "message": script.exec_error, "reason": "InternalError",
                          "code": 500}
            else:
                for i in range(0, len(script.stdout), 8192):
                    self._frame(sock, bytes([1]) + script.stdout[i:i + 8192])
                if script.stderr:
                    self._frame(sock, bytes([2]) + script.stderr)
                if script.exit_code == 0:
                    status = {"metadata": {}, "status": "Success"}
                else:
                    status = {"metadata": {}, "status": "Failure",
                              "message": f"command terminated with non-zero exit code: exit status {script.exit_code}",
                              "reason": "NonZeroExitCode",
                              "details": {"causes": [{"reason": "ExitCode", "message": str(script.exit_code)}]}}
            self._frame(sock, bytes([3]) + json.dumps(status).encode())
            self._frame(sock, struct.pack("!H", 1000), opcode=0x8)
        except OSError:
            pass

    @staticmethod
    def _frame(sock, payload: bytes, opcode: int = 0x2) -> None:
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        sock.sendall(header + payload)

    def _wait_for_hangup(self, sock) -> None:
        """A hung command: answer nothing until the client closes (or the fake stops)."""
        while self.fake.running:
            ready, _, _ = select.select([sock], [], [], 0.1)
            if ready:
                try:
                    if not sock.recv(4096):
                        return
                except OSError:
                    return
                # a close frame from the client: echo a close and stop
                try:
                    self._frame(sock, struct.pack("!H", 1000), opcode=0x8)
                except OSError:
                    pass
                return
