"""show by UUID / PCI bus ID: kubectl_dra.model.identify on the demo cluster."""

from __future__ import annotations

import pytest

from kubectl_dra.model.identify import bus_id, identify


@pytest.fixture(scope="module")
def views():
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    return load_cluster(SourceOptions(demo=True), ()).device_views()


@pytest.mark.parametrize("ref", ["0000:1a:00.0", "00000000:1A:00.0", "PCI:0000:1a:00", "1a:00.0", "pci:0000:1A:00"])
def test_bus_id_forms(ref):
    assert bus_id(ref) == "00000000:1A:00.0"


@pytest.mark.parametrize("ref", ["gpu-0", "GPU-96b74234", "1a:00.9", "", "0000:1a:00.0.0"])
def test_not_bus_ids(ref):
    assert bus_id(ref) is None


def test_uuid(views):
    [view] = identify(views, "GPU-96b74234-6095-51ec-aaaf-9ca5fdbb5b9d")
    assert view.device.id.endswith("dgx-h100-01/gpu-0")
    assert identify(views, "gpu-96B74234-6095-51ec-aaaf-9ca5fdbb5b9d") == [view]


def test_bus_id_names_the_whole_gpu_not_its_partitions(views):
    # h100-dmig-01's gpu-0 is at 0000:04:00.0, and so are its 20 DynamicMIG placements
    partitions = [v for v in views if v.device.attributes.get("resource.kubernetes.io/pciBusID") == "0000:04:00.0"]
    assert len(partitions) > 1
    [view] = identify(views, "PCI:0000:04:00")
    assert view.device.name == "gpu-0" and view.device.node_label == "h100-dmig-01"
    [dgx] = identify(views, "00000000:1A:00.0")
    assert dgx.device.node_label == "dgx-h100-01" and dgx.device.name == "gpu-0"


def test_node_and_bus_id(views):
    [view] = identify(views, "dgx-h100-01/0000:1a:00.0")
    assert view.device.node_label == "dgx-h100-01"
    assert identify(views, "l40s-01/0000:1a:00.0") == [] or all(
        v.device.node_label == "l40s-01" for v in identify(views, "l40s-01/0000:1a:00.0"))


def test_nothing(views):
    assert identify(views, "GPU-00000000-0000-0000-0000-000000000000") == []
    assert identify(views, "ff:00.0") == []
    assert identify(views, "gpu-0") == []


@pytest.mark.parametrize("ref", ["GPU-96b74234-6095-51ec-aaaf-9ca5fdbb5b9d", "PCI:0000:1a:00", "00000000:1A:00.0",
                                 "dgx-h100-01/0000:1a:00.0", "dgx-h100-01/PCI:0000:1a:00"])
def test_show_by_uuid_and_bus_id(run, ref):
    r = run("show", ref, "--demo", "-o", "json")
    assert r.exit_code == 0, r.stderr
    data = __import__("json").loads(r.stdout)
    assert (data.get("node"), data.get("name")) == ("dgx-h100-01", "gpu-0")


def test_show_unknown_uuid_is_not_found(run):
    r = run("show", "GPU-00000000-0000-0000-0000-000000000000", "--demo")
    assert r.exit_code == 3
