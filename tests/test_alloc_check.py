"""claim --check through the simulator (kubectl_dra.alloc.check): constraints and --or alternatives count."""

from __future__ import annotations

import pytest
import yaml

from kubectl_dra.alloc.check import check_manifest


@pytest.fixture(scope="module")
def cluster():
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    return load_cluster(SourceOptions(demo=True), ())


def _manifest(run, *args):
    r = run("claim", "--demo", *args)
    assert r.exit_code == 0, r.stderr
    return yaml.safe_load(r.stdout)


def _pcie(cluster, node, names):
    index = {(v.device.node_label, v.device.name): v.device for v in cluster.device_views()}
    return [index[(node, n)].attributes.get("resource.kubernetes.io/pcieRoot") for n in names]


def test_same_and_distinct_are_evaluated(run, cluster):
    same = check_manifest(cluster, _manifest(run, "product~h100", "not mig", "--count", "2", "--same", "pcieRoot"))
    assert same.fits == ["dgx-h100-01"]
    roots = _pcie(cluster, "dgx-h100-01", same.devices["dgx-h100-01"])
    assert len(roots) == 2 and len(set(roots)) == 1
    distinct = check_manifest(cluster, _manifest(run, "product~h100", "not mig", "--count", "2", "--distinct", "pcieRoot"))
    roots = _pcie(cluster, "dgx-h100-01", distinct.devices["dgx-h100-01"])
    assert len(set(roots)) == 2
    # three free H100s on one PCIe root do not exist: --same makes 3 unsatisfiable although 3 are free
    three = check_manifest(cluster, _manifest(run, "product~h100", "not mig", "--count", "3", "--same", "pcieRoot"))
    assert three.fits == [] and any(r.startswith("constraint") for r in three.reasons)
    assert check_manifest(cluster, _manifest(run, "product~h100", "not mig", "--count", "3")).fits == ["dgx-h100-01"]


def test_alternatives_in_order(run, cluster):
    report = check_manifest(cluster, _manifest(run, "product~h100", "not mig", "--count", "4", "--or", "profile=3g.40gb"))
    assert report.fits == []  # 3 free H100s; the 3g.40gb alternative: no node has 4 free
    manifest = _manifest(run, "product~h100", "not mig", "--or", "product~a100 not mig")
    first, second = [s["name"] for s in manifest["spec"]["devices"]["requests"][0]["firstAvailable"]]
    report = check_manifest(cluster, manifest)
    assert report.alternatives["dgx-h100-01"] == first and report.alternatives.get("a100-mig-01") == second
    assert "the allocator would pick" in "\n".join(report.lines())
