"""`kubectl dra show DEVICE`: every attribute, capacity, counter, taint and the allocation of one device."""

from __future__ import annotations

from typing import Annotated

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    Context,
    Demo,
    Filenames,
    Kubeconfig,
    Output,
    OutputOpt,
    RequestTimeout,
    flush_warnings,
    keep_alive,
    load,
    write_data,
)


def find_device(views, ref: str):
    """Resolve ``driver/pool/device``, ``pool/device``, ``node/device`` or a unique device name."""
    from kubectl_dra.errors import NotFoundError, UsageError

    exact = [v for v in views if v.device.id == ref]
    if exact:
        return exact[0]
    if "/" in ref:
        head, _, name = ref.rpartition("/")
        matches = [
            v
            for v in views
            if v.device.name == name and head in (v.device.pool, v.device.node_label, f"{v.device.driver}/{v.device.pool}")
        ]
    else:
        matches = [v for v in views if v.device.name == ref]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        candidates = ", ".join(v.device.id for v in matches[:6]) + (" …" if len(matches) > 6 else "")
        raise UsageError(f'device name "{ref}" is ambiguous: {len(matches)} devices match', hint=f"use one of: {candidates}")
    name = ref.rpartition("/")[2]
    similar = [v.device.id for v in views if name and name in v.device.name][:5]
    raise NotFoundError(
        f'device "{ref}" not found',
        hint=("similar: " + ", ".join(similar)) if similar else "`kubectl dra list -o name` lists device ids",
    )


@command(app, "show")
def show_device(
    device: Annotated[str, typer.Argument(help="DRIVER/POOL/DEVICE, POOL/DEVICE, NODE/DEVICE, or a unique device name.")],
    output: OutputOpt = Output.table,
    filename: Filenames = None,
    demo: Demo = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    request_timeout: RequestTimeout = "0",
) -> None:
    """Show one device: every attribute, capacity, counter, taint, and which claim and pods hold it.

    Examples:

      kubectl dra show gpu.nvidia.com/dgx-h100-01/gpu-0 --demo

      kubectl dra show dgx-h100-01/gpu-3 -o yaml
    """
    from kubectl_dra.console import out
    from kubectl_dra.kube.load import CLAIMS, SLICES
    from kubectl_dra.render.card import device_card
    from kubectl_dra.render.devices import device_item, device_names

    cluster = load(
        filenames=filename,
        demo=demo,
        kubeconfig=kubeconfig,
        context=context,
        namespace=None,
        all_namespaces=True,
        request_timeout=request_timeout,
        want=(SLICES, CLAIMS),
    )
    views = cluster.device_views()
    keep_alive(cluster, views)
    view = find_device(views, device)
    flush_warnings(cluster)
    if output in (Output.json, Output.yaml):
        write_data(device_item(view), output)
    elif output is Output.name:
        out(device_names([view]))
    else:
        out(device_card(view, cluster))
