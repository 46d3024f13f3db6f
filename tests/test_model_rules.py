"""Rules with one home in the model: the pool validator (model.slices.pool_problems, used by the
cluster model and the allocator) and the claim-spec decoder hand-over (model.claim does not import
model.decode)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kubectl_dra.model.device import Device
from kubectl_dra.model.slices import ResourceSlice, build_pools, pool_problems


def _slice(name, devices=(), counters=()):
    sl = ResourceSlice(name=name, driver="d", pool="p", generation=1, slice_count=1)
    sl.devices = [Device("d", "p", n, consumes_counters=tuple(c)) for n, c in devices]
    sl.shared_counters = list(counters)
    return sl


def _uses(set_name, *counters):
    return [{"counterSet": set_name, "counters": {c: {"value": "1"} for c in counters}}]


SET_A = {"name": "a", "counters": {"x": {"value": "2"}, "y": {"value": "2"}}}


def test_a_valid_pool_has_no_problems():
    sl = _slice("s", [("d0", _uses("a", "x")), ("d1", _uses("a", "x", "y"))], [SET_A])
    assert list(pool_problems([sl], [sl])) == []


def test_every_problem_in_upstream_order():
    devices = _slice("s1", [("d0", _uses("a", "z")), ("d0", ()), ("d1", _uses("b", "x"))])
    counters = _slice("s2", counters=[SET_A, {"name": "a", "counters": {"z": {"value": "1"}}}])
    assert list(pool_problems([devices], [devices, counters])) == [
        "duplicate device name d0",
        "duplicate counter set name a",
        "counter z not found in counter set a",  # the first set of a name counts
        "counter set b not found",
    ]


def test_counters_unchecked_without_counter_slices():
    sl = _slice("s", [("d0", _uses("nope", "x")), ("d0", ())])
    assert list(pool_problems([sl])) == ["duplicate device name d0"]


def test_consumers_may_differ_from_the_device_slices():
    mine = _slice("s1", [("d0", ())], [SET_A])
    other = _slice("s2", [("d9", _uses("a", "q"))])
    assert list(pool_problems([mine], [mine])) == []
    assert list(pool_problems([mine], [mine], [mine, other])) == ["counter q not found in counter set a"]


def test_the_model_lists_every_problem_of_a_pool():
    bad = _slice("s", [("d0", _uses("nope", "x")), ("d0", ())])
    (pool,) = build_pools([bad])
    assert pool.problems == ["duplicate device name d0", "counter set nope not found"]
    assert not pool.valid


def test_the_allocator_takes_the_first_problem():
    from kubectl_dra.alloc.features import Features
    from kubectl_dra.alloc.pools import Topology
    from kubectl_dra.alloc.state import AllocatedState

    bad = _slice("s", [("d0", _uses("nope", "x")), ("d0", ())])
    topo = Topology([bad], [], AllocatedState(), Features())
    assert topo._invalid([bad], [bad]) == "duplicate device name d0"
    fine = _slice("t", [("d0", ())])
    assert topo._invalid([fine], [fine]) is None


def test_model_claim_does_not_import_the_decoder():
    code = "import sys, kubectl_dra.model.claim; print('kubectl_dra.model.decode' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_claim_spec_is_decoded_on_first_use():
    from kubectl_dra.model.decode import decode

    claim = decode({
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "c", "namespace": "ns"},
        "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "k"}}]}},
    })  # fmt: skip
    assert [r.name for r in claim.spec.requests] == ["gpu"]
    broken = decode({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "b"}, "spec": {"devices": 3}})
    with pytest.raises(Exception, match=r"ResourceClaim default/b .* is malformed"):
        broken.spec
