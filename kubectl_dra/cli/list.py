"""`kubectl dra list`: every DRA device in the cluster, one row each, with who holds it."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    AllNamespaces,
    ColorOpt,
    Color,
    Context,
    Demo,
    Filenames,
    Kubeconfig,
    Namespace,
    NoHeaders,
    Output,
    OutputOpt,
    RequestTimeout,
    flush_warnings,
    keep_alive,
    load,
    write_data,
)

STATE_CHOICES = ("all", "free", "allocated", "reserved", "tainted", "consumed-by-partition", "unavailable")


@command(app, "list")
def list_devices(
    node: Annotated[Optional[list[str]], typer.Option("--node", help="Only devices on these nodes (repeatable or comma-separated).")] = None,
    driver: Annotated[Optional[list[str]], typer.Option("--driver", help="Only these drivers, e.g. gpu.nvidia.com or nvidia.")] = None,
    state: Annotated[str, typer.Option("--state", help="free | allocated (incl. reserved) | reserved | tainted | consumed-by-partition | unavailable (not free) | all.")] = "all",
    output: OutputOpt = Output.table,
    no_headers: NoHeaders = False,
    color: ColorOpt = Color.auto,
    filename: Filenames = None,
    demo: Demo = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    namespace: Namespace = None,
    all_namespaces: AllNamespaces = False,
    request_timeout: RequestTimeout = "0",
) -> None:
    """List every DRA device: node, driver, product, memory, MIG profile, state, and the claim and pods holding it.

    Examples:

      kubectl dra list --demo

      kubectl dra list --node dgx-h100-01 --state free

      kubectl dra list -o wide

      kubectl get resourceslices,resourceclaims -A -o yaml > dump.yaml; kubectl dra list -f dump.yaml
    """
    from kubectl_dra.console import err, out, use_color
    from kubectl_dra.errors import UsageError
    from kubectl_dra.kube.load import CLAIMS, SLICES
    from kubectl_dra.render import devices as render

    state = state.lower()
    if state not in STATE_CHOICES:
        raise UsageError(f"--state must be one of {', '.join(STATE_CHOICES)}, not {state!r}")
    nodes = {n for item in node or [] for n in item.split(",") if n}
    drivers = {d for item in driver or [] for d in item.split(",") if d}
    # device state depends on claims in every namespace, so always read them all
    cluster = load(
        filenames=filename,
        demo=demo,
        kubeconfig=kubeconfig,
        context=context,
        namespace=namespace,
        all_namespaces=True,
        request_timeout=request_timeout,
        want=(SLICES, CLAIMS),
        nodes=sorted(nodes),
    )
    from kubectl_dra import timing

    timing.mark("cluster loaded")
    views = cluster.device_views()
    keep_alive(cluster, views)
    timing.mark("devices joined with claims")
    flush_warnings(cluster)
    total = len(views)
    if nodes:
        views = [v for v in views if v.device.node_label in nodes]
    if drivers:
        views = [v for v in views if v.device.driver in drivers or render.short_driver(v.device.driver) in drivers]
    if state == "allocated":
        views = [v for v in views if v.state in ("allocated", "reserved")]
    elif state == "unavailable":
        views = [v for v in views if v.state != "free"]
    elif state != "all":
        views = [v for v in views if v.state == state]
    if not cluster.claims_known:
        err("warning: claims could not be read, so every device is shown as free")

    if output in (Output.json, Output.yaml):
        data = render.device_list(views)
        keep_alive(data)
        timing.mark("items built")
        write_data(data, output)
        timing.mark("written")
        return
    if not views:
        if nodes:
            # a live read with --node fetched only those nodes' slices: "in total" would mislead
            err(f"no DRA devices found on node{'s' if len(nodes) > 1 else ''} {', '.join(sorted(nodes))}"
                + (" matching the other filters" if drivers or state != "all" else ""))
        elif total == 0:
            err(f"no DRA devices found in {cluster.source or 'the input'}")
        else:
            err(f"no devices match the given filters ({total} devices in total)")
        return
    if output is Output.name:
        out(render.device_names(views))
        return
    text = render.devices_table(views, wide=output is Output.wide, color=use_color(color.value), no_headers=no_headers)
    if not no_headers:
        text += "\n" + render.footer(views)
    out(text)
