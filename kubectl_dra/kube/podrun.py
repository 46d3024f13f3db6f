"""Short-lived pods: create, watch until they finish, read their log, delete. Plain REST on ``LiveCluster``.

Nothing here knows about NVML: ``kubectl_dra.nvml.remote`` builds the objects and says what a
state means for the user. ``pod_state`` turns a Pod's status into one of a few outcomes the
caller can act on (waiting for the scheduler, unschedulable, pulling, image pull failure,
running, finished), with the blocking reason in the API's own words.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from kubectl_dra.errors import ClusterError, NotFoundError

if TYPE_CHECKING:
    from kubectl_dra.kube.live import LiveCluster

#: container waiting reasons that do not heal by waiting
IMAGE_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                            "ImageInspectError", "RegistryUnavailable"})  # fmt: skip
CONTAINER_FAILURES = frozenset({"CreateContainerConfigError", "CreateContainerError", "RunContainerError",
                                "CrashLoopBackOff"})  # fmt: skip


def pods_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def claims_path(namespace: str, version: str = "v1") -> str:
    return f"/apis/resource.k8s.io/{version}/namespaces/{namespace}/resourceclaims"


def list_items(cluster: LiveCluster, path: str, *, what: str, label_selector: str | None = None,
               field_selector: str | None = None) -> list[dict]:  # fmt: skip
    """One un-paged list (small collections: a node's pods, our own leftovers)."""
    query: list[tuple[str, str]] = []
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    data = cluster.get(path, query, what=what, verb="list")
    return [item for item in data.get("items") or [] if isinstance(item, dict)]


def delete(cluster: LiveCluster, path: str, *, what: str, propagation: str = "Background") -> bool:
    """DELETE one object; True if it was there. 404 is fine (already gone); 403 is ``Forbidden``."""
    from kubectl_dra.kube.live import Forbidden, _status_message

    body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation, "gracePeriodSeconds": 0}
    status, data, _ = cluster._request(path, method="DELETE", body=body)
    if status in (200, 202):
        return True
    if status == 404:
        return False
    reason, message = _status_message(data)
    if status == 403:
        raise Forbidden(f"forbidden: cannot delete {what}: {message or reason}", verb="delete",
                        resource=path.rstrip("/").rsplit("/", 2)[-2])  # fmt: skip
    raise ClusterError(f"cannot delete {what} ({status} {reason or 'error'}): {message}")


def pod_log(cluster: LiveCluster, namespace: str, pod: str, *, container: str | None = None,
            limit_bytes: int = 64 * 1024 * 1024) -> bytes:  # fmt: skip
    """The container's log as bytes (pods/log is text, not JSON)."""
    from kubectl_dra.kube.live import Forbidden, _status_message

    query = [("limitBytes", str(limit_bytes))]
    if container:
        query.append(("container", container))
    status, data, _ = cluster._request(f"{pods_path(namespace)}/{pod}/log", query)
    if status == 200:
        return data
    reason, message = _status_message(data)
    if status == 403:
        raise Forbidden(f"forbidden: cannot get pods/log of {namespace}/{pod}: {message or reason}", verb="get",
                        resource="pods/log")  # fmt: skip
    if status == 404:
        raise NotFoundError(f"the log of pod {namespace}/{pod} is gone: {message or reason}")
    raise ClusterError(f"cannot read the log of pod {namespace}/{pod} ({status} {reason or 'error'}): {message}")


@dataclass
class PodState:
    """What a pod is doing now, as far as a one-shot job cares."""

    phase: str  # pending | unschedulable | image | failed-start | running | succeeded | failed
    node: str = ""
    reason: str = ""  # the API's reason/message for the blocking state

    @property
    def done(self) -> bool:
        return self.phase in ("succeeded", "failed")


def pod_state(pod: dict, container: str) -> PodState:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    node = str(spec.get("nodeName") or "")
    phase = str(status.get("phase") or "Pending")
    for cs in status.get("containerStatuses") or []:
        if cs.get("name") != container:
            continue
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        why = str(waiting.get("reason") or "")
        text = f"{why}: {waiting.get('message')}" if waiting.get("message") else why
        if why in IMAGE_FAILURES:
            return PodState("image", node, text)
        if why in CONTAINER_FAILURES:
            return PodState("failed-start", node, text)
        terminated = state.get("terminated")
        if terminated and phase not in ("Succeeded", "Failed"):
            phase = "Succeeded" if terminated.get("exitCode") == 0 else "Failed"
        if terminated and phase == "Failed":
            return PodState("failed", node, f"exit code {terminated.get('exitCode')}"
                            + (f" ({terminated.get('reason')})" if terminated.get("reason") else ""))  # fmt: skip
    if phase == "Succeeded":
        return PodState("succeeded", node)
    if phase == "Failed":
        return PodState("failed", node, str(status.get("reason") or status.get("message") or "the pod failed"))
    if phase == "Running":
        return PodState("running", node)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and cond.get("reason") == "Unschedulable":
            return PodState("unschedulable", node, str(cond.get("message") or "Unschedulable"))
    return PodState("pending", node)


def poll_pod(cluster: LiveCluster, namespace: str, name: str, *, interval: float = 0.5,
             deadline: float) -> Iterator[dict]:  # fmt: skip
    """GET the pod every ``interval`` seconds until ``deadline`` (time.monotonic); the caller stops early."""
    while True:
        yield cluster.get(f"{pods_path(namespace)}/{name}", what=f"pod {namespace}/{name}")
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(interval, left))
