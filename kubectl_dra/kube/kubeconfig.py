"""The common kubeconfig, read without the ``kubernetes`` package: its import costs ~0.3 s and ~20 MB
on every live command, more than a big list's decode (issue 15).

``simple_connection`` understands the kubeconfigs most users have — a server with a CA (file or data)
or ``insecure-skip-tls-verify``, and a bearer token (``token``/``tokenFile``) or a client certificate
(file or data) — and answers ``None`` for everything else: exec credential plugins, auth providers,
basic auth, proxies, impersonation, in-cluster config, and any file it cannot read cleanly. The
caller then loads the kubeconfig with the ``kubernetes`` package exactly as before, so a kubeconfig
outside the simple subset, or a broken one, behaves (and fails, with its messages) as it always did.

Merging follows kubectl (client-go's loading rules): the files of ``$KUBECONFIG`` in order; the
first file that names a cluster, user or context defines it; the first non-empty ``current-context``
wins; relative paths are relative to the file that holds the entry; ``*-data`` wins over the file;
``token`` wins over ``tokenFile``.
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass, field
from typing import Any

#: the keys each entry may have for the simple path; anything else goes through the kubernetes package
_CLUSTER_KEYS = frozenset({"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify",
                           "tls-server-name", "extensions", "disable-compression"})  # fmt: skip
_USER_KEYS = frozenset({"token", "tokenFile", "client-certificate", "client-certificate-data", "client-key",
                        "client-key-data", "extensions"})  # fmt: skip
_CONTEXT_KEYS = frozenset({"cluster", "user", "namespace", "extensions"})


@dataclass
class Merged:
    """The merged kubeconfig: each named entry with the directory of the file that defined it."""

    clusters: dict[str, tuple[dict, str]] = field(default_factory=dict)
    users: dict[str, tuple[dict, str]] = field(default_factory=dict)
    contexts: dict[str, tuple[dict, str]] = field(default_factory=dict)
    current_context: str = ""


@dataclass
class Connection:
    """What a request needs: where, how to trust it, who we are."""

    host: str
    namespace: str | None
    authorization: str | None
    verify: bool
    ssl_context: ssl.SSLContext | None
    server_hostname: str | None


class _NotSimple(Exception):
    pass


def _load(path: str) -> dict:
    from kubectl_dra.kube import simpleyaml

    try:
        with open(path, "rb") as handle:
            data = simpleyaml.safe_load(handle.read())  # most kubeconfigs: without importing PyYAML
    except Exception:  # noqa: BLE001 - unreadable or not YAML: the full loader says why
        raise _NotSimple() from None
    if not isinstance(data, dict):
        raise _NotSimple()
    return data


def merge(paths: list[str]) -> Merged:
    """kubectl's merge of ``paths`` (first definition of a name wins, first non-empty current-context)."""
    merged = Merged()
    for path in paths:
        data = _load(path)
        base = os.path.dirname(os.path.abspath(path))
        for key, into, inner in (("clusters", merged.clusters, "cluster"), ("users", merged.users, "user"),
                                 ("contexts", merged.contexts, "context")):  # fmt: skip
            entries = data.get(key)
            if entries is None:
                continue
            if not isinstance(entries, list):
                raise _NotSimple()
            seen: set[str] = set()
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    raise _NotSimple()
                name = entry["name"]
                if name in seen:  # the kubernetes package refuses a name twice in one list
                    raise _NotSimple()
                seen.add(name)
                body = entry.get(inner)
                if body is None:
                    body = {}
                if not isinstance(body, dict):
                    raise _NotSimple()
                into.setdefault(name, (body, base))
        current = data.get("current-context")
        if current is not None and not isinstance(current, str):
            raise _NotSimple()
        if current and not merged.current_context:
            merged.current_context = current
    return merged


def current_context(paths: list[str]) -> str | None:
    """The context kubectl would use from ``paths`` without --context: the first non-empty
    ``current-context``; None when the files cannot be read cleanly (the full loader reports that)."""
    try:
        return merge(paths).current_context or None
    except _NotSimple:
        return None


def simple_connection(paths: list[str], context: str | None) -> Connection | None:
    """The connection ``paths`` and ``context`` describe, or None when this is not the simple case."""
    try:
        return _connection(merge(paths), context)
    except (_NotSimple, OSError, ValueError, ssl.SSLError):
        return None


def _strings(body: dict, keys: frozenset) -> None:
    if not body.keys() <= keys:
        raise _NotSimple()
    for key, value in body.items():
        if key == "insecure-skip-tls-verify":
            if not isinstance(value, bool):
                raise _NotSimple()
        elif key not in ("extensions",) and not isinstance(value, str):
            raise _NotSimple()


def _connection(merged: Merged, context_name: str | None) -> Connection:
    name = context_name or merged.current_context
    if not name or name not in merged.contexts:
        raise _NotSimple()
    context, _ = merged.contexts[name]
    _strings(context, _CONTEXT_KEYS)
    if context.get("cluster") not in merged.clusters:
        raise _NotSimple()
    cluster, cluster_base = merged.clusters[context["cluster"]]
    user: dict = {}
    user_base = cluster_base
    if context.get("user"):
        if context["user"] not in merged.users:
            raise _NotSimple()
        user, user_base = merged.users[context["user"]]
    _strings(cluster, _CLUSTER_KEYS)
    _strings(user, _USER_KEYS)
    server = cluster.get("server")
    if not server or not server.startswith(("https://", "http://")):
        raise _NotSimple()
    host = server.rstrip("/")
    token = user["token"] if "token" in user else _read(user, "tokenFile", user_base, text=True)
    if token is not None and any(c in token for c in "\r\n\x00"):
        raise _NotSimple()  # the full loader explains what is wrong with it
    verify = not cluster.get("insecure-skip-tls-verify", False)
    ssl_context = None
    if host.startswith("https://"):
        ssl_context = _ssl_context(cluster, cluster_base, user, user_base, verify)
    return Connection(
        host=host,
        namespace=context.get("namespace") or None,
        authorization=f"Bearer {token}" if token else None,
        verify=verify,
        ssl_context=ssl_context,
        server_hostname=cluster.get("tls-server-name") or None,
    )


def _read(body: dict, key: str, base: str, *, text: bool = False) -> Any:
    path = _path(body, key, base)
    if path is None:
        return None
    with open(path, "rb") as handle:
        data = handle.read()
    return data.decode("utf-8") if text else data


def _data(body: dict, key: str) -> bytes | None:
    if key not in body:
        return None
    return base64.b64decode(body[key], validate=False)


def _ssl_context(cluster: dict, cluster_base: str, user: dict, user_base: str, verify: bool) -> ssl.SSLContext:
    # TLS 1.2 or later, the server's name checked against its certificate (kube.http connects with it)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        ca = _data(cluster, "certificate-authority-data")
        if ca is None and "certificate-authority" in cluster:
            ca = _read(cluster, "certificate-authority", cluster_base)
        if ca is None:
            context.load_default_certs()
        else:
            context.load_verify_locations(cadata=ca.decode("ascii"))
    else:  # insecure-skip-tls-verify
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert = _data(user, "client-certificate-data")
    cert_file = None if cert is not None else _path(user, "client-certificate", user_base)
    key = _data(user, "client-key-data")
    key_file = None if key is not None else _path(user, "client-key", user_base)
    if (cert is None and cert_file is None) != (key is None and key_file is None):
        raise _NotSimple()  # a certificate without its key (or the reverse): the full loader's business
    if cert_file is not None and key_file is not None:
        context.load_cert_chain(cert_file, key_file)
    elif cert is not None or key is not None:
        _load_chain(context, cert if cert is not None else _read(user, "client-certificate", user_base),
                    key if key is not None else _read(user, "client-key", user_base))  # fmt: skip
    return context


def _path(body: dict, key: str, base: str) -> str | None:
    """The file ``body[key]`` names, relative to the kubeconfig that holds the entry."""
    if key not in body:
        return None
    return os.path.join(base, os.path.expanduser(body[key]))


def _load_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """``load_cert_chain`` takes only paths: the inline certificate and key go to a private
    directory for the moment the context reads them, and are removed at once."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kubectl-dra-") as scratch:
        cert_path = os.path.join(scratch, "cert.pem")
        key_path = os.path.join(scratch, "key.pem")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        context.load_cert_chain(cert_path, key_path)
