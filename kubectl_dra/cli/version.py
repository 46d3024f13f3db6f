"""`kubectl dra version` and `kubectl dra completion SHELL`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import OUTPUT, Context, Kubeconfig, RequestTimeout, emit, source_options


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
    from kubectl_dra.render.version import version_text

    data: dict = {"clientVersion": {"kubectlDra": __version__, "python": platform.python_version()}}
    problem = None
    if not client:
        from kubectl_dra.kube.load import server_version

        try:
            # built here, not folded by `command`: --client reads no cluster, so its flags are not checked
            source = source_options(kubeconfig=kubeconfig, context=context, request_timeout=request_timeout)
            data.update(server_version(source))
        except Exception as error:  # print the client part first, like kubectl version
            problem = error
    emit(output, data=lambda: data, table=lambda wide: version_text(data))
    if problem is not None:
        raise problem


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
