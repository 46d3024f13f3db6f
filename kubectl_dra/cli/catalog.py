"""`kubectl dra classes` and `kubectl dra attributes`: what there is to ask for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    CLUSTER_WIDE,
    NoHeaders,
    Output,
    OutputOpt,
    SortBy,
    TemplateOutputOpt,
    check_output,
    emit,
    sort_rows,
    flush_warnings,
    keep_alive,
    read_cluster,
    split_values,
)
from kubectl_dra.console import warn
from kubectl_dra.kube.kinds import CLAIMS, CLASSES, SLICES

if TYPE_CHECKING:
    from kubectl_dra.kube.source import SourceOptions


@command(app, "classes")
def list_classes(
    output: TemplateOutputOpt = Output.table,
    sort_by: SortBy = None,
    no_headers: NoHeaders = False,
    source: SourceOptions = CLUSTER_WIDE,
) -> None:
    """List DeviceClasses: their selectors, extended resource, and how many devices they admit (and how many are free).

    The selectors are evaluated on every device as the scheduler evaluates them; ERRORS counts the
    devices on which a selector fails at run time (the scheduler stops on those).

    Examples:

      kubectl dra classes --demo

      kubectl dra classes -o wide

      kubectl dra classes -o json

      kubectl dra classes --sort-by .free -o custom-columns=NAME:.name,FREE:.free,AT-ONCE:.usableAtOnce --demo
    """
    from kubectl_dra.render import catalog as render

    check_output(output, data=True, table=True, names=True)
    # free counts depend on claims in every namespace
    cluster = read_cluster(source.across_namespaces(), (CLASSES, SLICES, CLAIMS))
    views = cluster.device_views()
    keep_alive(cluster, views)
    flush_warnings(cluster)
    if not cluster.claims_known:
        warn("claims could not be read, so every admitted device is counted as free")
    summaries = render.summarize_classes(cluster.classes, views, cluster)
    for problem in render.class_problems(summaries):
        warn(problem)
    if sort_by:
        summaries = sort_rows(sort_by, summaries, render.class_list(summaries)["items"])
    emit(
        output,
        data=lambda: render.class_list(summaries),
        table=lambda wide: render.classes_table(summaries, wide=wide, no_headers=no_headers),
        names=lambda: render.class_names(summaries),
        empty=None if summaries else "no DeviceClasses found",
        no_headers=no_headers,
    )


@command(app, "attributes")
def list_attributes(
    driver: Annotated[
        Optional[list[str]],
        typer.Option("--driver", help="Only these drivers, e.g. gpu.nvidia.com or nvidia (repeatable or comma-separated)."),
    ] = None,
    output: TemplateOutputOpt = Output.table,
    no_headers: NoHeaders = False,
    source: SourceOptions = CLUSTER_WIDE,
) -> None:
    """List every attribute and capacity the devices publish: kind, how many devices have it, and its values.

    Use it to find what to filter on (list --where, --cel) and what a claim's selectors can test.

    Examples:

      kubectl dra attributes --demo

      kubectl dra attributes --driver nvidia

      kubectl dra attributes -o json
    """
    from kubectl_dra.render import catalog as render
    from kubectl_dra.render.devices import driver_matches

    drivers = split_values(driver)
    cluster = read_cluster(source.across_namespaces(), (SLICES,))
    views = cluster.device_views()
    keep_alive(cluster, views)
    flush_warnings(cluster)
    shown = [v for v in views if driver_matches(v.device.driver, drivers)] if drivers else views
    summaries = render.summarize_attributes(shown)
    emit(
        output,
        data=lambda: render.attribute_list(summaries),
        table=lambda wide: render.attributes_table(summaries, wide=wide, no_headers=no_headers),
        names=lambda: render.attribute_names(summaries),
        empty=None if summaries else render.no_attributes(views, shown, drivers, cluster.source),
        no_headers=no_headers,
    )
