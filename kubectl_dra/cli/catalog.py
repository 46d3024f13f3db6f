"""`kubectl dra classes` and `kubectl dra attributes`: what there is to ask for."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    Context,
    Demo,
    Filenames,
    Kubeconfig,
    NoHeaders,
    Output,
    OutputOpt,
    RequestTimeout,
    flush_warnings,
    keep_alive,
    load,
    split_values,
    write_data,
)


@command(app, "classes")
def list_classes(
    output: OutputOpt = Output.table,
    no_headers: NoHeaders = False,
    filename: Filenames = None,
    demo: Demo = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    request_timeout: RequestTimeout = "0",
) -> None:
    """List DeviceClasses: their selectors, extended resource, and how many devices they admit (and how many are free).

    The selectors are evaluated on every device as the scheduler evaluates them; ERRORS counts the
    devices on which a selector fails at run time (the scheduler stops on those).

    Examples:

      kubectl dra classes --demo

      kubectl dra classes -o wide

      kubectl dra classes -o json
    """
    from kubectl_dra.console import err, out, warn
    from kubectl_dra.kube.load import CLAIMS, CLASSES, SLICES
    from kubectl_dra.render import catalog as render

    cluster = load(
        filenames=filename,
        demo=demo,
        kubeconfig=kubeconfig,
        context=context,
        namespace=None,
        all_namespaces=True,  # free counts depend on claims in every namespace
        request_timeout=request_timeout,
        want=(CLASSES, SLICES, CLAIMS),
    )
    views = cluster.device_views()
    keep_alive(cluster, views)
    flush_warnings(cluster)
    if not cluster.claims_known:
        warn("claims could not be read, so every admitted device is counted as free")
    summaries = render.summarize_classes(cluster.classes, views)
    for s in summaries:
        if s.compile_error is not None:
            warn(f"deviceclass {s.cls.name}: selector does not compile: {s.compile_error}")
        elif s.first_error is not None:
            index, device, message = s.first_error
            warn(
                f"deviceclass {s.cls.name}: selector #{index}: CEL runtime error on {s.errors} "
                f"device{'s' if s.errors != 1 else ''} (first: {device}: {message}); "
                "the scheduler stops on these: guard with device.driver == \"...\" or has()"
            )

    if output in (Output.json, Output.yaml):
        write_data(render.class_list(summaries), output)
        return
    if not summaries:
        err("no DeviceClasses found")
        return
    if output is Output.name:
        out(render.class_names(summaries))
        return
    out(render.classes_table(summaries, wide=output is Output.wide, no_headers=no_headers))


@command(app, "attributes")
def list_attributes(
    driver: Annotated[
        Optional[list[str]],
        typer.Option("--driver", help="Only these drivers, e.g. gpu.nvidia.com or nvidia (repeatable or comma-separated)."),
    ] = None,
    output: OutputOpt = Output.table,
    no_headers: NoHeaders = False,
    filename: Filenames = None,
    demo: Demo = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    request_timeout: RequestTimeout = "0",
) -> None:
    """List every attribute and capacity the devices publish: kind, how many devices have it, and its values.

    Use it to find what to filter on (list --where, --cel) and what a claim's selectors can test.

    Examples:

      kubectl dra attributes --demo

      kubectl dra attributes --driver nvidia

      kubectl dra attributes -o json
    """
    from kubectl_dra.console import err, out
    from kubectl_dra.kube.load import SLICES
    from kubectl_dra.render import catalog as render
    from kubectl_dra.render.devices import driver_matches

    drivers = split_values(driver)
    cluster = load(
        filenames=filename,
        demo=demo,
        kubeconfig=kubeconfig,
        context=context,
        namespace=None,
        all_namespaces=True,
        request_timeout=request_timeout,
        want=(SLICES,),
    )
    views = cluster.device_views()
    keep_alive(cluster, views)
    flush_warnings(cluster)
    total = len(views)
    if drivers:
        views = [v for v in views if driver_matches(v.device.driver, drivers)]
    summaries = render.summarize_attributes(views)

    if output in (Output.json, Output.yaml):
        write_data(render.attribute_list(summaries), output)
        return
    if not summaries:
        if total == 0:
            err(f"no DRA devices found in {cluster.source or 'the input'}")
        elif not views:
            known = sorted({v.device.driver for v in cluster.device_views()})
            err(f"no devices of driver {', '.join(sorted(drivers))} (drivers: {', '.join(known)})")
        else:
            err("the devices publish no attributes or capacities")
        return
    if output is Output.name:
        out(render.attribute_names(summaries))
        return
    out(render.attributes_table(summaries, wide=output is Output.wide, no_headers=no_headers))
