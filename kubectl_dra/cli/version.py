"""`kubectl dra version` and `kubectl dra completion SHELL`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import OUTPUT, Context, Kubeconfig, RequestTimeout


class VersionOutput(str, Enum):
    text = "text"
    json = "json"
    yaml = "yaml"


@command(app, "version")
def version(
    client: Annotated[bool, typer.Option("--client", help="Only this tool's version; do not contact the cluster.")] = False,
    output: Annotated[
        Optional[VersionOutput],
        typer.Option("--output", "-o", help="Output format (default: text).", case_sensitive=False, rich_help_panel=OUTPUT),
    ] = None,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    request_timeout: RequestTimeout = "0",
) -> None:
    """Print this tool's version, the cluster's Kubernetes version and the resource.k8s.io versions it serves.

    Examples:

      kubectl dra version

      kubectl dra version --client -o json
    """
    import platform

    from kubectl_dra import __version__
    from kubectl_dra.cli._common import Output, write_data
    from kubectl_dra.console import out

    data: dict = {"clientVersion": {"kubectlDra": __version__, "python": platform.python_version()}}
    problem = None
    if not client:
        try:
            data.update(_server(kubeconfig, context, request_timeout))
        except Exception as error:  # print the client part first, like kubectl version
            problem = error
    if output in (VersionOutput.json, VersionOutput.yaml):
        write_data(data, Output.json if output is VersionOutput.json else Output.yaml)
    else:
        lines = [f"Client Version: kubectl-dra {__version__} (Python {data['clientVersion']['python']})"]
        server = data.get("serverVersion")
        if server:
            lines.append(f"Server Version: {server.get('gitVersion', '?')}")
        api = data.get("resourceApi")
        if api is not None:
            served = ", ".join(api["served"]) or "none"
            lines.append(f"resource.k8s.io served: {served}; read by this tool: {api['read'] or 'none'}")
        out("\n".join(lines) + "\n")
    if problem is not None:
        raise problem


def _server(kubeconfig: str | None, context: str | None, request_timeout: str) -> dict:
    from kubectl_dra.errors import NotFoundError, UsageError
    from kubectl_dra.kube.discovery import choose_version, parse_duration, served_versions
    from kubectl_dra.kube.live import LiveCluster

    try:
        timeout = parse_duration(request_timeout)
    except ValueError as err:
        raise UsageError(f"--request-timeout: {err}") from None
    live = LiveCluster(kubeconfig=kubeconfig, context=context, request_timeout=timeout)
    server = live.get("/version", what="the server version")
    try:
        group = live.get("/apis/resource.k8s.io", what="API group resource.k8s.io")
        served = served_versions(group)
        preferred = ((group.get("preferredVersion") or {}).get("version")) or None
    except NotFoundError:
        served, preferred = [], None
    keep = ("major", "minor", "gitVersion", "platform")
    return {
        "serverVersion": {k: server[k] for k in keep if k in server},
        "resourceApi": {"served": served, "preferred": preferred, "read": choose_version(served)},
    }


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


@command(app, "completion")
def completion(shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.", case_sensitive=False)]) -> None:
    """Print the shell completion script for kubectl-dra.

    `kubectl dra <TAB>` needs no script: kubectl runs the kubectl_complete-dra helper (kubectl >= 1.26).
    The script completes the kubectl-dra command itself.

    Examples:

      source <(kubectl-dra completion bash)

      kubectl-dra completion zsh > "${fpath[1]}/_kubectl-dra"

      kubectl-dra completion fish > ~/.config/fish/completions/kubectl-dra.fish
    """
    from kubectl_dra.completion.scripts import script
    from kubectl_dra.console import out

    out(script(shell.value))
