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
    split_values,
    write_data,
)

STATE_CHOICES = ("all", "free", "allocated", "reserved", "tainted", "consumed-by-partition", "unavailable")


@command(app, "list")
def list_devices(
    terms: Annotated[
        Optional[list[str]],
        typer.Argument(help="Filter terms, ANDed, e.g. memory>=40Gi mig=true (same language as --where).", show_default=False),
    ] = None,
    where: Annotated[
        Optional[list[str]],
        typer.Option("--where", help="Filter, e.g. 'memory>=40Gi mig=true', 'product~h100 or arch=Blackwell' (repeatable, ANDed)."),
    ] = None,
    cel_expression: Annotated[
        Optional[str], typer.Option("--cel", help="A CEL selector, evaluated as the scheduler evaluates selectors.")
    ] = None,
    device_class: Annotated[
        Optional[str], typer.Option("--class", help="Only devices this DeviceClass's selectors admit.")
    ] = None,
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

      kubectl dra list memory>=40Gi mig=true --demo

      kubectl dra list --cel 'device.attributes["gpu.nvidia.com"].architecture == "Hopper"'

      kubectl dra list --class mig.nvidia.com --state free

      kubectl dra list -o wide

      kubectl get resourceslices,resourceclaims -A -o yaml > dump.yaml; kubectl dra list -f dump.yaml
    """
    from kubectl_dra.console import err, out, use_color
    from kubectl_dra.errors import UsageError
    from kubectl_dra.kube.load import CLASSES, CLAIMS, SLICES
    from kubectl_dra.render import devices as render

    state = state.lower()
    if state not in STATE_CHOICES:
        raise UsageError(f"--state must be one of {', '.join(STATE_CHOICES)}, not {state!r}")
    nodes = split_values(node)
    drivers = split_values(driver)
    check_selectors(" ".join([*(where or []), *(terms or [])]), cel_expression)
    # device state depends on claims in every namespace, so always read them all
    cluster = load(
        filenames=filename,
        demo=demo,
        kubeconfig=kubeconfig,
        context=context,
        namespace=namespace,
        all_namespaces=True,
        request_timeout=request_timeout,
        want=(SLICES, CLAIMS, CLASSES) if device_class else (SLICES, CLAIMS),
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
        views = [v for v in views if render.driver_matches(v.device.driver, drivers)]
    if state == "allocated":
        views = [v for v in views if v.state in ("allocated", "reserved")]
    elif state == "unavailable":
        views = [v for v in views if v.state != "free"]
    elif state != "all":
        views = [v for v in views if v.state == state]
    views = select(views, [v.device for v in cluster.device_views()], cluster, " ".join([*(where or []), *(terms or [])]), cel_expression, device_class)
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


def check_selectors(filter_text: str, cel_expression: str | None) -> None:
    """Syntax errors in a filter or --cel fail before the cluster is read (names are checked later)."""
    if filter_text.strip():
        from kubectl_dra.filter import parse

        parse(filter_text)  # FilterSyntaxError: exit 2
    if cel_expression is not None:
        from kubectl_dra import cel

        cel.compile(cel_expression)  # CelCompileError: exit 2


def select(views, all_devices, cluster, filter_text: str, cel_expression: str | None, class_name: str | None):
    """Apply --where/positional terms, --cel and --class to the device views."""
    from kubectl_dra.console import warn
    from kubectl_dra.errors import NotFoundError

    if filter_text.strip():
        from kubectl_dra.filter import Schema, compile as compile_filter

        flt = compile_filter(filter_text, Schema.from_devices(all_devices))
        views = [v for v in views if flt.matches(v.device)]
    selectors: list[tuple[str, str]] = []
    if class_name:
        cls = next((c for c in cluster.classes if c.name == class_name), None)
        if cls is None:
            names = ", ".join(sorted(c.name for c in cluster.classes)) or "none"
            raise NotFoundError(f'deviceclass "{class_name}" not found', hint=f"DeviceClasses: {names}")
        selectors += [(f"class {class_name}: selector #{i}", expr) for i, expr in enumerate(cls.selectors)]
    if cel_expression is not None:
        selectors.append(("--cel", cel_expression))
    if selectors:
        from kubectl_dra import cel

        programs = [(label, cel.compile(expr)) for label, expr in selectors]  # compile errors: exit 2
        for label, program in programs:
            results = program.evaluate_many([v.device for v in views])
            failed = [(v, r.error) for v, r in zip(views, results) if r.error]
            if failed:
                first, message = failed[0]
                warn(
                    f"{label}: CEL runtime error on {len(failed)} device{'s' if len(failed) != 1 else ''} "
                    f"(first: {first.device.id}: {message}); the scheduler would stop on these, they are not listed"
                )
                warn("guard optional attributes with has() or .?name.orValue(...)")
            views = [v for v, r in zip(views, results) if r.matched]
    return views
