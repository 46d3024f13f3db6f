"""The text of `kubectl dra version`."""

from __future__ import annotations


def version_text(data: dict) -> str:
    """Client line, then (when the server answered) its version and the resource.k8s.io versions."""
    client = data["clientVersion"]
    lines = [f"Client Version: kubectl-dra {client['kubectlDra']} (Python {client['python']})"]
    server = data.get("serverVersion")
    if server:
        lines.append(f"Server Version: {server.get('gitVersion', '?')}")
    api = data.get("resourceApi")
    if api is not None:
        served = ", ".join(api["served"]) or "none"
        lines.append(f"resource.k8s.io served: {served}; read by this tool: {api['read'] or 'none'}")
    return "\n".join(lines) + "\n"
