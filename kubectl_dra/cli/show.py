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
    TemplateOutputOpt,
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
    device: Annotated[str, typer.Argument(help="DRIVER/POOL/DEVICE, POOL/DEVICE, NODE/DEVICE, a unique device name, a UUID, or a PCI bus ID ([NODE/]BUSID, e.g. an XID line's PCI:0000:1a:00).")],
    nvml_source: Annotated[
        str | None,
        typer.Option("--nvml", metavar="live|FILE", help="Add what NVML says about this GPU now: live collects from "
                     "the device's node through the cluster (live:driver-pod, live:admin-claim, live:debug-pod to "
                     "choose how; see kubectl dra nvml --via); FILE reads a saved snapshot."),
    ] = None,
    output: TemplateOutputOpt = Output.table,
    source: SourceOptions = CLUSTER_WIDE,
) -> None:
    """Show one device: every attribute, capacity, counter, taint, and which claim and pods hold it.

    Examples:

      kubectl dra show gpu.nvidia.com/dgx-h100-01/gpu-0 --demo

      kubectl dra show dgx-h100-01/gpu-3 -o yaml

      kubectl dra show GPU-96b74234-6095-51ec-aaaf-9ca5fdbb5b9d --demo

      kubectl dra show dgx-h100-01/PCI:0000:1a:00 --demo

      kubectl dra show dgx-h100-01/gpu-3 --nvml live
    """
    from kubectl_dra.model.queries import find_device
    from kubectl_dra.render import card, devices

    # who holds the device: claims of every namespace
    cluster = read_cluster(source.across_namespaces(), (SLICES, CLAIMS))
    views = cluster.device_views()
    keep_alive(cluster, views)
    view = find_device(views, device)
    flush_warnings(cluster)
    live = _nvml_facts(view, nvml_source, source) if nvml_source else None

    def data() -> dict:
        item = devices.device_item(view)
        if live is not None:
            item["nvml"] = live[0]
        return item

    emit(
        output,
        data=data,
        table=lambda wide: card.device_card(view, cluster) + (live[1] if live else ""),
        names=lambda: devices.device_names([view]),
    )


def _nvml_facts(view, value: str, source: SourceOptions):
    """(facts dict or None, the text section) of the device's GPU, from --nvml live[:VIA] or a snapshot file."""
    from kubectl_dra.cli import nvml_remote
    from kubectl_dra.errors import UsageError
    from kubectl_dra.nvml import devicefacts

    if view.device.driver != "gpu.nvidia.com":
        raise UsageError(f"--nvml applies to gpu.nvidia.com devices, not {view.device.driver}")
    node = view.device.node_name or view.device.pool
    if nvml_remote.live_via(value):
        snap = nvml_remote.live_snapshot(node, value, demo=source.demo, files=bool(source.filenames),
                                         kubeconfig=source.kubeconfig, context=source.context,
                                         request_timeout=str(source.request_timeout or 0))  # fmt: skip
        label = "demo snapshot" if source.demo else "live"
    else:
        from kubectl_dra.nvml.snapshot import read_snapshot

        snap, label = read_snapshot(value, "--nvml"), value
    data = devicefacts.facts(snap, view.device)
    return data, devicefacts.facts_text(data, source=label)
