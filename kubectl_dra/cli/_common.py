"""Options every cluster-reading command shares, spelled as kubectl spells them."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Iterable, Optional

import typer

if TYPE_CHECKING:
    from kubectl_dra.model.cluster import Cluster

SOURCE = "Input (default: the current kubeconfig context)"
OUTPUT = "Output"


class Output(str, Enum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"
    name = "name"


class Color(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


Filenames = Annotated[
    Optional[list[str]],
    typer.Option(
        "--filename",
        "-f",
        help="Read objects from a file, a directory or - (stdin) instead of a cluster: "
        "YAML/JSON, multi-document, `kubectl get ... -o yaml` dumps. Repeatable.",
        rich_help_panel=SOURCE,
    ),
]
Demo = Annotated[bool, typer.Option("--demo", help="Use the built-in demo cluster.", rich_help_panel=SOURCE)]
Kubeconfig = Annotated[
    Optional[str], typer.Option("--kubeconfig", help="Path to the kubeconfig file.", rich_help_panel=SOURCE)
]
Context = Annotated[
    Optional[str], typer.Option("--context", help="The kubeconfig context to use.", rich_help_panel=SOURCE)
]
Namespace = Annotated[
    Optional[str], typer.Option("--namespace", "-n", help="Namespace (default: the context's).", rich_help_panel=SOURCE)
]
AllNamespaces = Annotated[
    bool, typer.Option("--all-namespaces", "-A", help="Across all namespaces.", rich_help_panel=SOURCE)
]
RequestTimeout = Annotated[
    str,
    typer.Option(
        "--request-timeout",
        help="How long to wait for the API server (e.g. 10s, 1m; 0 = no limit).",
        rich_help_panel=SOURCE,
    ),
]
OutputOpt = Annotated[
    Output, typer.Option("--output", "-o", help="Output format.", case_sensitive=False, rich_help_panel=OUTPUT)
]
ColorOpt = Annotated[
    Color, typer.Option("--color", help="Colour the output.", case_sensitive=False, rich_help_panel=OUTPUT)
]
NoHeaders = Annotated[
    bool, typer.Option("--no-headers", help="Print tables without headers or totals.", rich_help_panel=OUTPUT)
]


#: set by main(), which leaves through os._exit: objects parked here are never torn down one by
#: one (freeing a 40,000-device cluster when a command returns costs ~0.15 s for nothing)
KEEP: list | None = None


def keep_alive(*objects: object) -> None:
    if KEEP is not None:
        KEEP.extend(objects)


def load(
    *,
    filenames: list[str] | None,
    demo: bool,
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    all_namespaces: bool,
    request_timeout: str,
    want: Iterable[str],
    nodes: Iterable[str] = (),
    required: Iterable[str] = (),
    pods: Iterable[str] = (),
) -> "Cluster":
    from kubectl_dra.errors import UsageError
    from kubectl_dra.kube.discovery import parse_duration
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    try:
        timeout = parse_duration(request_timeout)
    except ValueError as err:
        raise UsageError(f"--request-timeout: {err}") from None
    if filenames and (kubeconfig or context):
        raise UsageError("-f/--filename reads files, not a cluster: drop --kubeconfig/--context")
    options = SourceOptions(
        filenames=list(filenames or []),
        demo=demo,
        kubeconfig=kubeconfig,
        context=context,
        namespace=namespace,
        all_namespaces=all_namespaces,
        request_timeout=timeout,
        nodes=list(nodes),
        required=frozenset(required),
        pods=list(pods),
    )
    if demo or filenames:
        cluster = load_cluster(options, want)
    else:
        from kubectl_dra.console import Spinner

        with Spinner("reading the cluster…"):
            cluster = load_cluster(options, want)
    if namespace and (demo or filenames):
        cluster.namespace = namespace
    return cluster


def split_values(values: Iterable[str] | None) -> set[str]:
    """Repeatable, comma-separated option values (`--node a,b --node c`) as one set."""
    return {v for item in values or [] for v in item.split(",") if v}


def flush_warnings(cluster: "Cluster") -> None:
    from kubectl_dra.console import warn

    for message in dict.fromkeys(cluster.warnings):
        warn(message)
    cluster.warnings.clear()


def write_data(data: dict, output: Output) -> None:
    from kubectl_dra.console import out
    from kubectl_dra.render.machine import to_yaml, write_json

    if output is Output.json:
        write_json(data, out)
    else:
        out(to_yaml(data))
