"""What `list -w` and `claims -w` share: the option, its check, the watch from the command's source,
the growing table, the event printer (the watch's counterpart of ``_common.emit``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Callable, Hashable, Iterable, Sequence

import typer

from kubectl_dra.cli._common import OUTPUT, Output

if TYPE_CHECKING:
    from kubectl_dra.kube.source import SourceOptions
    from kubectl_dra.kube.watch import Change, ClusterWatch
    from kubectl_dra.model.cluster import Cluster

WatchOpt = Annotated[
    bool,
    typer.Option(
        "--watch",
        "-w",
        help="After the listing, print a line for every change as it happens (the API's watch; Ctrl-C stops).",
        rich_help_panel=OUTPUT,
    ),
]

def check_watch(watch: bool, source: "SourceOptions") -> None:
    """-w follows a live API server: with --demo or -f in ``source`` it is a usage error (exit 2)."""
    if watch and not source.live:
        from kubectl_dra.errors import UsageError

        raise UsageError("--watch needs a cluster", hint="drop --demo / -f: a watch follows the live API server")


def start_watch(source: "SourceOptions", *, want: Iterable[str] = (), pods: bool = False,
                nodes: Sequence[str] = ()) -> "ClusterWatch":
    """Discovery (and the collections in ``want`` that are not watched, e.g. DeviceClasses) from the
    live server ``source`` names, then the watch over its slices, claims and (``pods``) pods:
    claims of every namespace with ``source.all_namespaces``, else of its namespace
    (:func:`kubectl_dra.kube.watch.watch_for`). Hand the result to :func:`stream_changes`."""
    from kubectl_dra.cli._common import read_cluster
    from kubectl_dra.kube.watch import watch_for

    base = read_cluster(source, want)
    return watch_for(base, source, pods=pods, nodes=nodes)


class WatchTable:
    """A table that grows a row at a time, as ``kubectl get -w`` prints one: the header before
    the first row (unless --no-headers), every row in the widest column widths seen so far, so
    that the rows of the first listing come out exactly as the plain table would."""

    def __init__(self, headers: Sequence[str], *, no_headers: bool, color: bool, state_column: int,
                 styles: dict[str, str]) -> None:
        self.headers = list(headers)
        self.widths = [len(h) for h in headers]
        self.header_due = not no_headers
        self.color, self.state_column, self.styles = color, state_column, styles

    def format(self, rows: Sequence[Sequence[str]]) -> str:
        if not rows:
            return ""
        from kubectl_dra.render.columns import width

        for row in rows:
            self.widths = [max(w, width(cell)) for w, cell in zip(self.widths, row)]
        lines = []
        if self.header_due:
            lines.append(self._line(self.headers, header=True))
            self.header_due = False
        lines.extend(self._line(row) for row in rows)
        return "\n".join(lines) + "\n"

    def _line(self, cells: Sequence[str], header: bool = False) -> str:
        from kubectl_dra.render.columns import ANSI, RESET, width

        last = len(cells) - 1
        parts = []
        for i, cell in enumerate(cells):
            pad = "" if i == last else " " * (self.widths[i] - width(cell) + 3)
            style = "bold" if header else (self.styles.get(cell) if i == self.state_column else None)
            parts.append(f"{ANSI[style]}{cell}{RESET}{pad}" if self.color and style else cell + pad)
        return "".join(parts).rstrip()


def stream_changes(
    watch: "ClusterWatch",
    snapshot: Callable[["Cluster"], dict[Hashable, tuple[Any, Any]]],
    *,
    output: Output,
    table: WatchTable,
    rows: Callable[["Cluster", "Change"], list[list[str]]],
    item: Callable[["Cluster", "Change"], dict],
    name: Callable[["Change"], str],
    when_empty: Callable[["Cluster"], None],
    partial: Callable[..., Any] | None = None,
) -> None:
    """Print the first listing, then every change as it arrives, until Ctrl-C (exit 130).

    Tables: the table, then one row per change. -o json: one compact ``{"type", "object"}``
    line per item and change (ADDED for the first listing); -o yaml: the same as YAML
    documents separated by ``---``; -o name: one name per change. stdout is flushed after
    each batch. Warnings are printed once each. ``partial``: see :meth:`ClusterWatch.follow`.
    """
    import gc
    import sys

    from kubectl_dra.console import out, warn
    from kubectl_dra.jsonfast import dumps_compact
    from kubectl_dra.render.machine import to_yaml

    seen: set[str] = set()
    documents = 0
    # the warnings looked at so far: of the watch, and of the model (a patched one keeps its list)
    watch_warned, model, model_warned = 0, None, 0
    try:
        for index, (cluster, changes) in enumerate(watch.follow(snapshot, partial)):
            if output is Output.json:
                text = "".join(dumps_compact({"type": c.type, "object": item(cluster, c)}) + "\n" for c in changes)
            elif output is Output.yaml:
                parts = []
                for c in changes:
                    parts.append(("---\n" if documents else "") + to_yaml({"type": c.type, "object": item(cluster, c)}))
                    documents += 1
                text = "".join(parts)
            elif output is Output.name:
                text = "".join(name(c) + "\n" for c in changes)
            else:
                text = table.format([row for c in changes for row in rows(cluster, c)])
            if cluster is not model:
                model, model_warned = cluster, 0
            fresh = [*watch.warnings[watch_warned:], *cluster.warnings[model_warned:]]
            watch_warned, model_warned = len(watch.warnings), len(cluster.warnings)
            for message in dict.fromkeys(fresh):
                if message not in seen:
                    seen.add(message)
                    warn(message)
            if text:
                out(text)
            elif index == 0:
                when_empty(cluster)  # nothing to list yet: say so, and go on watching
            sys.stdout.flush()
            if index == 0:
                # a long-running process from here: main() turned the cyclic GC off for one-shot
                # commands; the first model's million objects are frozen out of its scans (a full
                # collection over them took 1-3 s on 40,000 devices, on the first change printed)
                gc.freeze()
                gc.enable()
    finally:
        watch.stop()  # Ctrl-C goes on to the command boundary: exit 130, as docs/exit-codes.md says
