"""A small REST client for the e2e control plane: JSON over HTTPS with the users' client certificates.

Test code only. Deliberately independent of kubectl_dra (and of the `kubernetes` package): the
tests set cluster state with it and then check what `kubectl dra` reads back.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

#: kind -> (API path prefix, plural, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Node": ("/api/v1", "nodes", False),
    "Pod": ("/api/v1", "pods", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "ResourceSlice": ("/apis/resource.k8s.io/v1", "resourceslices", False),
    "DeviceClass": ("/apis/resource.k8s.io/v1", "deviceclasses", False),
    "ResourceClaim": ("/apis/resource.k8s.io/v1", "resourceclaims", True),
    "ResourceClaimTemplate": ("/apis/resource.k8s.io/v1", "resourceclaimtemplates", True),
    "DeviceTaintRule": ("/apis/resource.k8s.io/v1beta2", "devicetaintrules", False),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
}


class ApiError(RuntimeError):
    def __init__(self, status: int, method: str, path: str, body: Any):
        self.status = status
        self.body = body
        message = body.get("message") if isinstance(body, dict) else str(body)[:300]
        super().__init__(f"{method} {path}: HTTP {status}: {message}")


def _prefix(obj_or_kind: dict | str, api_version: str | None = None) -> tuple[str, str, bool]:
    kind = obj_or_kind if isinstance(obj_or_kind, str) else obj_or_kind["kind"]
    prefix, plural, namespaced = RESOURCES[kind]
    version = api_version or (None if isinstance(obj_or_kind, str) else obj_or_kind.get("apiVersion"))
    if version and "/" in version:
        prefix = "/apis/" + version
    return prefix, plural, namespaced


def collection_path(kind: str, namespace: str | None = None, api_version: str | None = None) -> str:
    prefix, plural, namespaced = _prefix(kind, api_version)
    if namespaced and namespace:
        return f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{prefix}/{plural}"


def object_path(kind: str, name: str, namespace: str | None = None, api_version: str | None = None) -> str:
    return f"{collection_path(kind, namespace, api_version)}/{name}"


class Api:
    """One user's view of the control plane (``cp`` is a cluster.ControlPlane)."""

    def __init__(self, cp, user: str = "admin"):
        self.cp = cp
        self.user = user
        self.server = cp.server
        self.ctx = cp.ssl_context(user)

    # ----------------------------------------------------------------------------------- raw

    def request(self, method: str, path: str, body: Any = None, *, params: dict | None = None,
                content_type: str = "application/json", timeout: float = 30.0) -> Any:
        url = self.server + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode("utf-8", "replace")
            raise ApiError(e.code, method, path, parsed) from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def get_raw(self, path: str) -> Any:
        return self.request("GET", path)

    # ----------------------------------------------------------------------------------- objects

    def create(self, obj: dict, *, namespace: str | None = None, dry_run: bool = False) -> dict:
        ns = namespace or obj.get("metadata", {}).get("namespace")
        params = {"dryRun": "All"} if dry_run else None
        return self.request("POST", collection_path(obj["kind"], ns, obj.get("apiVersion")), obj, params=params)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict:
        return self.request("GET", object_path(kind, name, namespace))

    def exists(self, kind: str, name: str, namespace: str | None = None) -> bool:
        try:
            self.get(kind, name, namespace)
        except ApiError as e:
            if e.status == 404:
                return False
            raise
        return True

    def list(self, kind: str, namespace: str | None = None, **params: str) -> list[dict]:
        return self.request("GET", collection_path(kind, namespace), params=params or None)["items"]

    def delete(self, kind: str, name: str, namespace: str | None = None, *, grace: int | None = 0,
               missing_ok: bool = True) -> None:
        params = {} if grace is None else {"gracePeriodSeconds": str(grace)}
        try:
            self.request("DELETE", object_path(kind, name, namespace), params=params or None)
        except ApiError as e:
            if not (missing_ok and e.status == 404):
                raise

    def delete_collection(self, kind: str, namespace: str | None = None, **params: str) -> None:
        params.setdefault("gracePeriodSeconds", "0")
        self.request("DELETE", collection_path(kind, namespace), params=params)

    def patch(self, kind: str, name: str, patch: Any, namespace: str | None = None, *,
              kind_of_patch: str = "merge", subresource: str | None = None) -> dict:
        ctype = {
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
        }[kind_of_patch]
        path = object_path(kind, name, namespace) + (f"/{subresource}" if subresource else "")
        return self.request("PATCH", path, patch, content_type=ctype)

    def update_status(self, obj: dict) -> dict:
        md = obj["metadata"]
        path = object_path(obj["kind"], md["name"], md.get("namespace"), obj.get("apiVersion")) + "/status"
        return self.request("PUT", path, obj)

    # ----------------------------------------------------------------------------------- waiting

    def wait(self, what: str, probe: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
        """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout`` (a hang guard)."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)
