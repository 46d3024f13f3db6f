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
    nvml_source: Annotated[
        str | None,
        typer.Option("--nvml", metavar="live|FILE", help="Add what NVML says about this GPU now: live collects from "
                     "the device's node through the cluster (live:driver-pod, live:admin-claim, live:debug-pod to "
                     "choose how; see kubectl dra nvml --via); FILE reads a saved snapshot."),
    ] = None,
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

      kubectl dra show dgx-h100-01/gpu-3 --nvml live
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
    live = _nvml_facts(view, nvml_source, demo=demo, files=bool(filename), kubeconfig=kubeconfig, context=context,
                       request_timeout=request_timeout) if nvml_source else None  # fmt: skip
    if output in (Output.json, Output.yaml):
        item = device_item(view)
        if nvml_source:
            item["nvml"] = live[0]
        write_data(item, output)
    elif output is Output.name:
        out(device_names([view]))
    else:
        out(device_card(view, cluster) + (live[1] if live else ""))


def _nvml_facts(view, source: str, *, demo: bool, files: bool, kubeconfig, context, request_timeout):
    """(facts dict or None, the text section) of the device's GPU, from --nvml live[:VIA] or a snapshot file."""
    from kubectl_dra.cli import nvml_remote
    from kubectl_dra.errors import UsageError
    from kubectl_dra.nvml import devicefacts

    if view.device.driver != "gpu.nvidia.com":
        raise UsageError(f"--nvml applies to gpu.nvidia.com devices, not {view.device.driver}")
    node = view.device.node_name or view.device.pool
    if nvml_remote.live_via(source):
        snap = nvml_remote.live_snapshot(node, source, demo=demo, files=files, kubeconfig=kubeconfig, context=context,
                                         request_timeout=request_timeout)  # fmt: skip
        label = "demo snapshot" if demo else "live"
    else:
        from kubectl_dra.cli.nvml import read_snapshot

        snap, label = read_snapshot(source), source
    data = devicefacts.facts(snap, view.device)
    return data, devicefacts.facts_text(data, source=label)
