"""What every command shares: its options as kubectl spells them, the source object, the printer.

A command handler is a thin adapter (docs/architecture.md)::

    @command(app, "claims")
    def list_claims(output: OutputOpt = Output.table, ..., source: SourceOptions = NAMESPACED) -> None:
        result = domain_function(read_cluster(source, want=...), request)   # one domain call
        emit(output, data=lambda: ..., table=lambda wide: ..., names=lambda: ..., empty=...)

- ``source``'s default names the source flags the command offers (:data:`NAMESPACED`,
  :data:`CLUSTER_WIDE` or :func:`source_flags`); typer shows them in its place, and the handler
  gets them as one :class:`kubectl_dra.kube.source.SourceOptions` (built by :func:`source_options`);
- :func:`read_cluster` reads what the command needs from it;
- :func:`emit` is the one place the -o choice (json/yaml/name/table/wide) is written out.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterable, Optional

import typer

if TYPE_CHECKING:
    from kubectl_dra.kube.source import SourceOptions
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
Recursive = Annotated[
    bool,
    typer.Option("--recursive", "-R", help="With -f DIR: also the files in its subdirectories (as kubectl).",
                 rich_help_panel=SOURCE),
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


class Template:
    """``-o jsonpath=…|jsonpath-file=…|custom-columns=…|custom-columns-file=…`` (kubectl's template
    formats), printed by :func:`emit` from the same document ``-o json`` prints."""

    value = "template"

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Template({self.text!r})"


def _output_type():
    from typer._click.types import ParamType

    class OutputType(ParamType):
        name = "FORMAT"
        #: what completion offers (kubectl_dra.completion.build reads ``choices``)
        choices = (*(o.value for o in Output), "jsonpath=", "jsonpath-file=", "custom-columns=", "custom-columns-file=")

        def convert(self, value, param, ctx):  # type: ignore[override]
            if isinstance(value, (Output, Template)):
                return value
            text = str(value)
            from kubectl_dra.render.kubectl_formats import is_template

            if is_template(text):
                return Template(text)
            try:
                return Output(text.lower())
            except ValueError:
                self.fail(f"{text!r} is not one of table, wide, json, yaml, name, jsonpath=…, jsonpath-file=…, "
                          "custom-columns=…, custom-columns-file=…", param, ctx)

    return OutputType()


#: -o for commands that print through emit(): kubectl's template formats too
TemplateOutputOpt = Annotated[
    str,  # an Output or a Template (the click type converts; typer must not convert again)
    typer.Option("--output", "-o", help="Output format: table, wide, json, yaml, name, jsonpath=TEMPLATE, "
                 "jsonpath-file=FILE, custom-columns=SPEC, custom-columns-file=FILE (as kubectl get).",
                 click_type=_output_type(), rich_help_panel=OUTPUT),
]
SortBy = Annotated[
    Optional[str],
    typer.Option("--sort-by", help="Sort the list by a JSONPath into -o json's items, e.g. '.node' or "
                 "'{.capacity.gpu\\.nvidia\\.com/memory}' (as kubectl get --sort-by).", rich_help_panel=OUTPUT),
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


#: the source flags: handler parameter name -> (its option, its default), as kubectl spells them
SOURCE_OPTIONS: dict[str, tuple[Any, Any]] = {
    "filename": (Filenames, None),
    "recursive": (Recursive, False),
    "demo": (Demo, False),
    "kubeconfig": (Kubeconfig, None),
    "context": (Context, None),
    "namespace": (Namespace, None),
    "all_namespaces": (AllNamespaces, False),
    "request_timeout": (RequestTimeout, "0"),
}
#: the handler parameters that name the input source; the ``command`` decorator
#: (cli/_boundary.py) folds them into the handler's ``source``
SOURCE_FLAGS = tuple(SOURCE_OPTIONS)


class SourceFlags(tuple):
    """The default of a handler's ``source`` parameter: which source flags the command offers, in
    the order its help lists them (the ``command`` decorator puts them where ``source`` stands),
    and the options of those whose help the command words itself (``options``)."""

    options: dict[str, Any]


def source_flags(*names: str, **options: Any) -> Any:
    """``source: SourceOptions = source_flags("namespace", "filename", …)``: the flags a command
    offers, by parameter name (:data:`SOURCE_FLAGS`); the presets below fit most commands.

    A keyword gives one of them an option of the command's own, e.g. ``demo=Annotated[bool,
    typer.Option("--demo", help=…)]`` where --demo means more than the demo cluster (``nvml``).
    """
    unknown = [n for n in names if n not in SOURCE_OPTIONS]
    if unknown:
        raise ValueError(f"not source flags: {unknown}")
    stray = [n for n in options if n not in names]
    if stray:
        raise ValueError(f"options for flags the command does not offer: {stray}")
    flags = SourceFlags(names)
    flags.options = options
    return flags


#: -f, --demo, --kubeconfig, --context, -n, -A, --request-timeout: a command that lists one
#: namespace (or every one with -A)
NAMESPACED = source_flags("filename", "recursive", "demo", "kubeconfig", "context", "namespace", "all_namespaces", "request_timeout")
#: -f, --demo, --kubeconfig, --context, --request-timeout: a command about the whole cluster
CLUSTER_WIDE = source_flags("filename", "recursive", "demo", "kubeconfig", "context", "request_timeout")


def source_options(
    *,
    filename: Iterable[str] | None = None,
    recursive: bool = False,
    demo: bool = False,
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
    all_namespaces: bool = False,
    request_timeout: str = "0",
) -> "SourceOptions":
    """The one :class:`~kubectl_dra.kube.source.SourceOptions` of a command, from its source flags.

    Every command gets it without calling this: give the handler a parameter
    ``source: SourceOptions = NAMESPACED`` (or :data:`CLUSTER_WIDE`, or ``source_flags(...)``);
    :func:`kubectl_dra.cli._boundary.command` offers those flags and passes the result of this as
    ``source`` (the handler never sees the flags one by one). Call it directly only where the
    source is optional (``version --client`` reads no cluster).

    ``--request-timeout`` is parsed here (a bad duration: exit 2); the rest is checked when the
    cluster is read (:func:`read_cluster`).
    """
    from kubectl_dra.errors import UsageError
    from kubectl_dra.kube.discovery import parse_duration
    from kubectl_dra.kube.source import SourceOptions

    try:
        timeout = parse_duration(request_timeout)
    except ValueError as err:
        raise UsageError(f"--request-timeout: {err}") from None
    return SourceOptions(
        filenames=list(filename or []),
        recursive=recursive,
        demo=demo,
        kubeconfig=kubeconfig,
        context=context,
        namespace=namespace,
        all_namespaces=all_namespaces,
        request_timeout=timeout,
    )


def check_source(source: "SourceOptions") -> None:
    """The source flags that exclude each other (exit 2), checked before anything is read."""
    if source.filenames and (source.kubeconfig or source.context):
        from kubectl_dra.errors import UsageError

        raise UsageError("-f/--filename reads files, not a cluster: drop --kubeconfig/--context")


def read_cluster(
    source: "SourceOptions",
    want: Iterable[str],
    *,
    nodes: Iterable[str] = (),
    required: Iterable[str] = (),
    pods: Iterable[str] = (),
) -> "Cluster":
    """Read what a command needs (``want``: kube.load's SLICES, CLAIMS, CLASSES, …) from ``source``.

    ``nodes``: only these nodes' devices are wanted (a live read lists only their slices);
    ``required``: collections whose 403 fails the command (exit 4) instead of a warning;
    ``pods``: pods the command names, read by name. A live read shows a spinner on a terminal.
    """
    from dataclasses import replace

    from kubectl_dra.kube.load import load_cluster

    check_source(source)
    options = replace(source, nodes=list(nodes), required=frozenset(required), pods=list(pods))
    offline = source.demo or bool(source.filenames)
    if offline:
        cluster = load_cluster(options, want)
    else:
        from kubectl_dra.console import Spinner

        with Spinner("reading the cluster…"):
            cluster = load_cluster(options, want)
    if source.namespace and offline:
        cluster.namespace = source.namespace
    return cluster


def split_values(values: Iterable[str] | None) -> set[str]:
    """Repeatable, comma-separated option values (`--node a,b --node c`) as one set."""
    return {v for item in values or [] for v in item.split(",") if v}


def flush_warnings(cluster: "Cluster") -> None:
    from kubectl_dra.console import warn

    for message in dict.fromkeys(cluster.warnings):
        warn(message)
    cluster.warnings.clear()


def emit(
    output: "Output | Enum | str | None",
    *,
    data: Callable[[], Any] | None = None,
    table: Callable[[bool], str] | None = None,
    names: Callable[[], str] | None = None,
    empty: str | None = None,
    no_headers: bool = False,
    sort_by: str | None = None,
) -> None:
    """The one printer chooser: print a command's result in the -o format asked for.

    ``output``: :class:`Output` or any command's own format enum (values table, wide, text, json,
    yaml, name), ``None`` for table. Each format calls only its own renderer:

    - json / yaml: ``data()`` (the document; kept alive, see :func:`keep_alive`), also when empty;
    - name: ``names()``; table / text: ``table(False)``; wide: ``table(True)``;
    - ``empty``: set when nothing was found: table, wide and name print it on stderr instead
      (kubectl's "No resources found"), and stdout stays empty.

    A format the command does not print (its renderer is None) is a usage error, exit 2; a command
    should reject it before reading the cluster with :func:`check_output`.
    """
    from kubectl_dra.console import err, out

    fmt = _format(output)
    if isinstance(output, Template):
        from kubectl_dra.render.kubectl_formats import parse_output, render, sort_by as sorted_by

        spec = parse_output(output.text)
        check_output(Output.json, data=data, table=table, names=names)
        document = data()  # type: ignore[misc]
        keep_alive(document)
        if sort_by:
            document = sorted_by(document, sort_by)
        out(render(spec, document, no_headers=no_headers))
        return
    if fmt in ("json", "yaml"):
        check_output(output, data=data, table=table, names=names)
        document = data()  # type: ignore[misc]
        keep_alive(document)
        if sort_by:
            from kubectl_dra.render.kubectl_formats import sort_by as sorted_by

            document = sorted_by(document, sort_by)
        write_data(document, Output(fmt))
        return
    check_output(output, data=data, table=table, names=names)
    if empty is not None:
        err(empty)
    elif fmt == "name":
        out(names())  # type: ignore[misc]
    else:
        out(table(fmt == "wide"))  # type: ignore[misc]


def check_output(output: "Output | Enum | str | None", *, data: object = None, table: object = None,
                 names: object = None) -> None:
    """Exit 2 when a command has no renderer for ``output`` (pass the renderers it has, or ``True``);
    a template (-o jsonpath=…) is parsed here too, so a bad one fails before the cluster is read."""
    if isinstance(output, Template):
        from kubectl_dra.render.kubectl_formats import parse_output

        parse_output(output.text)
        output = Output.json
    fmt = _format(output)
    have = {"json": data, "yaml": data, "name": names, "table": table, "text": table, "wide": table}
    if have.get(fmt) is None:
        from kubectl_dra.errors import UsageError

        formats = [f for f in ("table", "wide", "json", "yaml", "name") if have[f] is not None]
        raise UsageError(f"this command does not print {fmt}: use -o {', '.join(formats)}")


def _format(output: "Output | Enum | str | None") -> str:
    return str(getattr(output, "value", output) or "table").lower()


def sort_rows(sort_by: str | None, rows: list, items: list[dict]) -> list:
    """``rows`` (views, claims…) in the order ``--sort-by`` gives their -o json ``items`` (same order, same length)."""
    if not sort_by:
        return rows
    from kubectl_dra.render.kubectl_formats import sort_by as sorted_by

    tagged = {"items": [{**item, "\x00index": i} for i, item in enumerate(items)]}
    return [rows[item["\x00index"]] for item in sorted_by(tagged, sort_by)["items"]]


def write_data(data: dict, output: Output) -> None:
    from kubectl_dra.console import out, out_json
    from kubectl_dra.render.machine import to_yaml, write_json

    if output is Output.json:
        write_json(data, out_json)
    else:
        out(to_yaml(data))
