"""Issue 13 item 4: DynamicMIG placements overlap; kubectl_dra.model.partitions counts what is usable at once."""

from __future__ import annotations

import pytest

from kubectl_dra.model import partitions
from kubectl_dra.model.partitions import partition_capacity, summary


def _demo():
    from kubectl_dra.kube.load import SourceOptions, load_cluster

    return load_cluster(SourceOptions(demo=True), ())


def test_h100_dmig_01():
    cluster = _demo()
    caps = {c.counter_sets: c for c in partition_capacity(cluster, node="h100-dmig-01")}
    gpu0, gpu1 = caps[("gpu-0-counter-set",)], caps[("gpu-1-counter-set",)]
    # gpu-0: a 3g.40gb slice (memory slices 4-7) is reserved: 10 placements look free, 4 fit together
    assert (gpu0.free, gpu0.at_once, gpu0.exact) == (10, 4, True)
    assert gpu0.by_profile == {"1g.10gb": 4, "1g.20gb": 2, "2g.20gb": 2, "3g.40gb": 1, "4g.40gb": 1}
    assert set(gpu0.best) == {f"gpu-0-mig-1g10gb-19-{i}" for i in range(4)}
    # gpu-1: untouched: 19 placements (the full GPU among them), 7 fit together (seven 1g.10gb)
    assert (gpu1.free, gpu1.at_once) == (19, 7)
    assert gpu1.by_profile == {"gpu-1": 1, "1g.10gb": 7, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1,
                               "7g.80gb": 1}
    # the list command's free count for the node is the naive 29
    free = [v for v in cluster.device_views() if v.device.node_label == "h100-dmig-01" and v.state == "free"]
    assert len(free) == gpu0.free + gpu1.free == 29
    assert summary(list(caps.values())) == "29 placements free on 2 GPUs; at most 11 usable at once"


def test_released_slice_frees_the_gpu():
    cluster = _demo()
    cluster.claims[:] = [c for c in cluster.claims if not any(r.device == "gpu-0-mig-3g40gb-9-4" for r in c.results)]
    cluster._views = None
    caps = {c.counter_sets: c for c in partition_capacity(cluster, node="h100-dmig-01")}
    assert (caps[("gpu-0-counter-set",)].free, caps[("gpu-0-counter-set",)].at_once) == (19, 7)


def test_only_the_listed_devices():
    cluster = _demo()
    keys = {v.device.key for v in cluster.device_views()
            if v.device.node_label == "h100-dmig-01" and "3g40gb" in v.device.name}
    caps = partition_capacity(cluster, keys=keys)
    assert sorted((c.free, c.at_once) for c in caps) == [(1, 1), (2, 2)]  # gpu-0: one free 3g.40gb; gpu-1: two


def test_nodes_without_partitions():
    assert partition_capacity(_demo(), node="dgx-h100-01") == []
    assert summary([]) is None


def test_search_limit_falls_back_to_a_lower_bound(monkeypatch):
    monkeypatch.setattr(partitions, "SEARCH_LIMIT", 1)
    caps = partition_capacity(_demo(), node="h100-dmig-01")
    assert all(not c.exact for c in caps)
    assert sum(c.at_once for c in caps) == 11  # the greedy (fewest counters first) already finds it here
    assert summary(caps).endswith("at least 11 usable at once")


def test_classes_say_how_many_free_partitions_fit_at_once(run):
    import json

    r = run("classes", "--demo", "-o", "json")
    items = {i["name"]: i for i in json.loads(r.stdout)["items"]}
    mig = items["mig.nvidia.com"]
    assert (mig["free"], mig["usableAtOnce"]) == (31, 14)  # 28 overlapping placements (11 fit) + 3 A100 MIG slices
    assert "usableAtOnce" not in items["gpu.amd.com"]  # nothing shares counters there
    table = run("classes", "--demo").stdout
    assert "31 (14 at once)" in table
