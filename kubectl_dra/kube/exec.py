"""Run a command in a pod's container: the exec subresource over the websocket channel protocol.

What kubectl and the Python client speak (``v5.channel.k8s.io``, falling back to ``v4``): one
websocket whose binary messages start with a channel byte — 1 stdout, 2 stderr, 3 the final
``Status`` (``Success``, or ``Failure`` with reason ``NonZeroExitCode`` and the code in
``details.causes``); v5 adds channel 255, "this channel is closed". The transport is the
client's ``kubernetes.stream.ws_client.WSClient``; this module adds a deadline, a byte cap and
errors in the tool's words. Nothing here knows about NVML.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubectl_dra.errors import ClusterError, NotFoundError

if TYPE_CHECKING:
    from kubectl_dra.kube.live import LiveCluster

STDOUT, STDERR, ERROR = 1, 2, 3
#: more output than this is not an nvidia-smi report: stop reading
MAX_OUTPUT = 64 * 1024 * 1024

EXEC_HINT = ("exec needs `create` on pods/exec in the pod's namespace (the opt-in Role kubectl-dra-nvml-exec in "
             "docs/rbac.yaml); see docs/nvml.md")  # fmt: skip


class ExecTimeout(ClusterError):
    """The command did not finish within the deadline; the connection was closed."""


@dataclass
class ExecResult:
    stdout: bytes
    stderr: bytes
    #: the command's exit code; None when it could not be started (``message`` says why)
    exit_code: int | None
    message: str = ""


def parse_status(raw: bytes) -> tuple[int | None, str]:
    """(exit code, message) from the error channel's Status; an empty channel (v4 servers that
    closed cleanly) counts as success."""
    if not raw.strip():
        return 0, ""
    try:
        status = json.loads(raw)
    except ValueError:
        return None, raw.decode("utf-8", "replace").strip()[:300]
    if not isinstance(status, dict) or status.get("status") == "Success":
        return 0, ""
    message = str(status.get("message") or status.get("reason") or "exec failed")
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message")), message
                except (TypeError, ValueError):
                    break
    return None, message


def exec_command(
    cluster: LiveCluster, namespace: str, pod: str, command: list[str], *, container: str | None, timeout: float,
    cancel: threading.Event | None = None,
) -> ExecResult:
    """Run ``command`` (no stdin, no tty) and wait at most ``timeout`` seconds for it to finish.

    403 is ``Forbidden`` (with the pods/exec hint), 404 ``NotFoundError``, an unreachable server or
    a broken stream ``ClusterError``, the deadline ``ExecTimeout`` (the connection is closed; the
    command itself must carry its own timeout, closing the stream does not always stop it). ``cancel``
    set: the stream is closed and ``ExecTimeout`` raised (checked every second).
    """
    from kubectl_dra.kube.live import Forbidden, _status_message

    api = cluster.kubernetes_client()  # its websocket client takes the package's configuration
    try:
        import websocket
        from kubernetes.stream.ws_client import WSClient, get_websocket_url
    except ImportError as err:  # pragma: no cover - dependency of kubernetes
        raise ClusterError(f"exec needs the websocket-client package ({err})", hint="pip install websocket-client") from None

    path = f"/api/v1/namespaces/{namespace}/pods/{pod}/exec"
    query: list[tuple[str, str]] = [("command", part) for part in command]
    if container:
        query.append(("container", container))
    query += [("stdout", "true"), ("stderr", "true"), ("stdin", "false"), ("tty", "false")]
    _, url, headers, _, _ = api.param_serialize("GET", path, query_params=query, header_params={},
                                                auth_settings=["BearerToken"])  # fmt: skip
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    what = f"pods/exec on pod {namespace}/{pod}"
    try:
        client = WSClient(api.configuration, get_websocket_url(url), headers, capture_all=False, binary=True)
    except websocket.WebSocketBadStatusException as err:
        status = getattr(err, "status_code", 0)
        reason, message = _status_message(getattr(err, "resp_body", b"") or b"")
        detail = message or reason or f"HTTP {status}"
        if status == 403:
            raise Forbidden(f"forbidden: cannot create {what}: {detail}", hint=EXEC_HINT, verb="create",
                            resource="pods/exec") from None  # fmt: skip
        if status == 401:
            raise ClusterError(f"the API server at {cluster.host} rejected the credentials (401 Unauthorized): {detail}",
                               hint="your token or certificate may have expired") from None  # fmt: skip
        if status == 404:
            raise NotFoundError(f"pod {namespace}/{pod} not found (exec): {detail}") from None
        raise ClusterError(f"exec into pod {namespace}/{pod} failed (HTTP {status}): {detail}") from None
    except (OSError, websocket.WebSocketException) as err:
        raise ClusterError(f"cannot open an exec stream to pod {namespace}/{pod} at {cluster.host}: {err}",
                           hint="check --context / --kubeconfig, and that the cluster is running") from None  # fmt: skip

    out, err_out, status = bytearray(), bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    try:
        while client.is_open():
            left = deadline - time.monotonic()
            if left <= 0:
                raise ExecTimeout(f"the command in pod {namespace}/{pod} did not finish within {timeout:g}s")
            if cancel is not None and cancel.is_set():
                raise ExecTimeout(f"the command in pod {namespace}/{pod} was interrupted")
            try:
                client.update(timeout=min(left, 1.0))
            except (OSError, websocket.WebSocketException) as err:
                raise ClusterError(f"the exec stream to pod {namespace}/{pod} broke: {err}") from None
            out += client.read_channel(STDOUT)
            err_out += client.read_channel(STDERR)
            status += client.read_channel(ERROR)
            if len(out) + len(err_out) > MAX_OUTPUT:
                raise ClusterError(f"the command in pod {namespace}/{pod} printed more than {MAX_OUTPUT >> 20} MiB")
        out += client.read_channel(STDOUT)
        err_out += client.read_channel(STDERR)
        status += client.read_channel(ERROR)
    finally:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - closing a broken socket
            pass
    code, message = parse_status(bytes(status))
    return ExecResult(bytes(out), bytes(err_out), code, message)
