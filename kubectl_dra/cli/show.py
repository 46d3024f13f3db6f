"""`kubectl dra show DEVICE`: every attribute, capacity, counter, taint and the allocation of one device."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from kubectl_dra.cli import app
from kubectl_dra.cli._boundary import command
from kubectl_dra.cli._common import (
    CLUSTER_WIDE,
    Output,
    OutputOpt,
    emit,
    flush_warnings,
    keep_alive,
    read_cluster,
)
from kubectl_dra.kube.kinds import CLAIMS, SLICES

if TYPE_CHECKING:
    from kubectl_dra.kube.source import SourceOptions


@command(app, "show")
def show_device(
    device: Annotated[str, typer.Argument(help="DRIVER/POOL/DEVICE, POOL/DEVICE, NODE/DEVICE, or a unique device name.")],
    output: OutputOpt = Output.table,
    source: SourceOptions = CLUSTER_WIDE,
) -> None:
    """Show one device: every attribute, capacity, counter, taint, and which claim and pods hold it.

    Examples:

      kubectl dra show gpu.nvidia.com/dgx-h100-01/gpu-0 --demo

      kubectl dra show dgx-h100-01/gpu-3 -o yaml
    """
    from kubectl_dra.model.queries import find_device
    from kubectl_dra.render import card, devices

    # who holds the device: claims of every namespace
    cluster = read_cluster(source.across_namespaces(), (SLICES, CLAIMS))
    views = cluster.device_views()
    keep_alive(cluster, views)
    view = find_device(views, device)
    flush_warnings(cluster)
    emit(
        output,
        data=lambda: devices.device_item(view),
        table=lambda wide: card.device_card(view, cluster),
        names=lambda: devices.device_names([view]),
    )
