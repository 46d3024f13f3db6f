"""kubectl_dra.domain.claim_plan: claim generation without the CLI runner (request -> plan)."""

from __future__ import annotations

import pytest

from kubectl_dra import cel
from kubectl_dra.domain.claim_plan import ClaimRequest, NoMatchError, admitted_by_class, choose_class, plan_claim
from kubectl_dra.errors import NotFoundError, UsageError
from kubectl_dra.filter import FilterError
from kubectl_dra.kube.load import CLAIMS, CLASSES, SLICES, SourceOptions, load_cluster
from kubectl_dra.model.claim import DeviceClass
from kubectl_dra.render.claim_check import check_lines


@pytest.fixture(scope="module")
def demo():
    return load_cluster(SourceOptions(demo=True, all_namespaces=True), (SLICES, CLAIMS, CLASSES))


# ---------------------------------------------------------------------------- validate


@pytest.mark.parametrize(
    ("request_", "offline", "message"),
    [
        (ClaimRequest(apply=True), True, "--apply creates the object on a cluster"),
        (ClaimRequest(count=2, all_devices=True), False, "--count and --all exclude each other"),
        (ClaimRequest(count=0), False, "--count must be greater than zero, not 0"),
        (ClaimRequest(api_version="v2"), False, "--api-version 'v2' is not supported"),
        (ClaimRequest(name="Bad_Name"), False, "Bad_Name"),
    ],
)
def test_validate_refuses_before_the_cluster_is_read(request_, offline, message):
    with pytest.raises(UsageError, match=message):
        request_.validate(offline=offline)


def test_validate_checks_filter_and_cel_syntax():
    with pytest.raises(FilterError, match="."):
        ClaimRequest(alternatives=["memory>="]).validate(offline=False)
    with pytest.raises(cel.CelCompileError, match="."):
        ClaimRequest(cel_expression="device.attributes[").validate(offline=False)


def test_the_flags_become_filter_terms_and_the_spec_takes_name_count_and_version():
    req = ClaimRequest(terms=["arch=Hopper"], min_memory="40Gi", profile="1g.10gb", product="H100 SXM", all_devices=True,
                       name="x", namespace="ns", request="r", template=True, api_version="v1beta1")
    assert req.filter_text == '(arch=Hopper) (memory>=40Gi) (mig=true) (profile=1g.10gb) (product~"H100 SXM")'
    spec = req.validate(offline=True)
    assert (spec.name, spec.namespace, spec.request, spec.count, spec.template, spec.api_version) == (
        "x", "ns", "r", None, True, "resource.k8s.io/v1beta1")


# ---------------------------------------------------------------------------- plan


def test_the_one_class_that_admits_every_match_is_chosen(demo):
    plan = plan_claim(ClaimRequest(min_memory="40Gi", mig=True), demo)
    assert plan.spec.device_class == "mig.nvidia.com"
    assert [alt.name for alt in plan.alternatives] == ["first"]
    assert plan.spec.selectors == plan.alternatives[0].selectors and len(plan.spec.selectors) == 1
    assert plan.alternatives[0].check is None  # only with check=True
    assert plan.matches_now


def test_alternatives_constraints_and_check_counts(demo):
    plan = plan_claim(ClaimRequest(terms=["mig=false"], product="h100", alternatives=["product~a100 mig=false"],
                                   count=2, same=["pcieRoot"], distinct=["uuid"], check=True), demo)
    assert [(a.name, a.device_class) for a in plan.spec.alternatives] == [("first", "gpu.nvidia.com"), ("alt-2", "gpu.nvidia.com")]
    assert [(c.kind, c.attribute) for c in plan.spec.constraints] == [
        ("matchAttribute", "resource.kubernetes.io/pcieRoot"), ("distinctAttribute", "gpu.nvidia.com/uuid")]
    first, second = (alt.check for alt in plan.alternatives)
    assert (first.matching, first.free, first.nodes) == (10, 4, [("dgx-h100-01", 8, 3), ("h100-dmig-01", 2, 1)])
    assert (second.matching, second.free, second.nodes) == (1, 1, [("a100-mig-01", 1, 1)])
    lines = check_lines(plan)
    assert lines[0] == "alternative 1 of 2 (first: (mig=false) (product~h100)):"
    assert lines[1].startswith("  check: 10 devices on 2 nodes match class gpu.nvidia.com and the selectors; 4 free now")
    assert "  warning: no node has 2 free matching devices now (at most 1 on one node)" in lines
    # constraints and alternatives through the simulated allocator: two H100s on one PCIe root, via "first"
    assert "check (simulated): fits on 1 of 6 nodes: dgx-h100-01 (gpu-6, gpu-7 via first)" in lines
    assert "  the allocator would pick: first (alternatives are tried in order)" in lines


def test_check_with_no_match_in_the_class_gives_the_nearest_misses(demo):
    plan = plan_claim(ClaimRequest(terms=["memory>=100Gi"], device_class="gpu.nvidia.com", check=True), demo)
    check = plan.alternatives[0].check
    assert check.matching == 0 and not plan.matches_now
    assert check.near_misses == ["11 devices (NVIDIA A100 80GB PCIe, 80Gi; NVIDIA H100 80GB HBM3, 79.6Gi; NVIDIA H100 "
                                 "80GB HBM3, 79.3Gi; 5 free) are the closest below memory>=100Gi; did you mean memory>=80Gi?"]
    assert check_lines(plan)[0] == ("check: no device matches class gpu.nvidia.com and the selectors now "
                                    "(the claim asks for 1 device)")


def test_nothing_matches_without_class_names_the_nearest_misses(demo):
    with pytest.raises(NoMatchError, match="no device matches the filter, so no DeviceClass can be chosen") as caught:
        plan_claim(ClaimRequest(terms=["memory>=1000Gi"]), demo)
    assert caught.value.lines and all(line.startswith("nearest miss: ") for line in caught.value.lines)


def test_matches_across_classes_are_counted_per_class(demo):
    with pytest.raises(UsageError, match=r"span several DeviceClasses: gpu.nvidia.com \(10\), mig.nvidia.com \(36\)"):
        plan_claim(ClaimRequest(product="h100"), demo)


def test_an_unknown_class_and_a_lone_or_are_refused(demo):
    with pytest.raises(NotFoundError, match='deviceclass "nope" not found in the demo cluster'):
        plan_claim(ClaimRequest(device_class="nope"), demo)
    with pytest.raises(UsageError, match="--or adds an alternative to a filter"):
        plan_claim(ClaimRequest(alternatives=["mig=true"]), demo)


def test_the_served_version_is_the_default_unless_one_is_asked_for(demo):
    import dataclasses

    assert plan_claim(ClaimRequest(mig=True, min_memory="40Gi"), demo).spec.api_version == "resource.k8s.io/v1"
    old = dataclasses.replace(demo, served_version="v1beta1")
    assert plan_claim(ClaimRequest(mig=True, min_memory="40Gi"), old).spec.api_version == "resource.k8s.io/v1beta1"
    asked = ClaimRequest(mig=True, min_memory="40Gi", api_version="v1beta2")
    assert plan_claim(asked, old).spec.api_version == "resource.k8s.io/v1beta2"


# ---------------------------------------------------------------------------- class choice


def test_class_admission_uses_the_shared_rule(demo):
    devices = [v.device for v in demo.device_views()]
    classes = [DeviceClass("all", selectors=["true"]), DeviceClass("broken", selectors=["device.attributes["]),
               DeviceClass("erring", selectors=['device.attributes["gpu.nvidia.com"].productName != ""'])]
    admitted = admitted_by_class(classes, devices)
    assert admitted["all"] == {d.key for d in devices}
    assert admitted["broken"] == set()  # a compile error admits nothing
    # a runtime error (no gpu.nvidia.com attributes) admits nothing either
    assert admitted["erring"] == {d.key for d in devices if d.driver == "gpu.nvidia.com"}


def test_choose_class_refuses_ties_and_an_empty_catalog(demo):
    views = demo.device_views()
    admitted = {"a": {v.device.key for v in views}, "b": {v.device.key for v in views}}
    with pytest.raises(UsageError, match=r"several DeviceClasses admit every matching device \(x\): a, b"):
        choose_class(["a", "b"], admitted, views, views, "", "x")
    with pytest.raises(UsageError, match="no DeviceClasses in the input"):
        choose_class([], {}, views, views, "")


def test_headline_claim_is_short_and_its_check_names_the_40gb_slices(run):
    # issue 13: `kubectl dra claim --min-memory 40Gi --mig --demo`: a selector a human would write, and
    # --check says that the 3g.40gb/4g.40gb slices (39.xGi) are just below the threshold
    result = run("claim", "--min-memory", "40Gi", "--mig", "--demo", "--check")
    assert result.exit_code == 0, result.stderr
    import yaml as _yaml

    request = _yaml.safe_load(result.stdout)["spec"]["devices"]["requests"][0]["exactly"]
    [selector] = [s["cel"]["expression"] for s in request["selectors"]]
    assert request["deviceClassName"] == "mig.nvidia.com" and len(selector) < 150
    assert ("  near miss: 7 devices (3g.40gb, 39.5Gi; 4g.40gb, 39.5Gi; 3g.40gb, 39.3Gi; 6 free) are just below "
            "memory>=40Gi; did you mean memory>=39Gi?") in result.stderr.splitlines()
