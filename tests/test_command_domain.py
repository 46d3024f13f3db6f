"""The domain calls of the thin commands, without the CLI runner: explain's request and report,
show's device lookup, the claims listing, and the messages their printers use."""

from __future__ import annotations

import pytest

from kubectl_dra.alloc.explain import ExplainRequest, explain
from kubectl_dra.errors import NotFoundError, UsageError
from kubectl_dra.kube.kinds import CLAIMS, CLASSES, NODES, PODS, SLICES, TEMPLATES
from kubectl_dra.kube.load import load_cluster
from kubectl_dra.kube.source import SourceOptions


@pytest.fixture(scope="module")
def demo():
    return load_cluster(SourceOptions(demo=True, all_namespaces=True), (SLICES, CLAIMS, CLASSES, TEMPLATES, PODS, NODES))


@pytest.mark.parametrize(
    ("request_", "needle"),
    [
        (ExplainRequest(), "name one pod/NAME or claim, or give --claim-file"),
        (ExplainRequest(target="x", claim_files=["c.yaml"]), "give either .x. or --claim-file, not both"),  # issue 16
        (ExplainRequest(target="x", features="NoSuchGate=true"), "NoSuchGate"),
    ],
)
def test_explain_request_usage_errors(request_, needle):
    with pytest.raises(UsageError, match=needle):
        request_.validate()


def test_explain_request_names_the_pod():
    assert [ExplainRequest(target=t).pod for t in ("pod/a", "pods/b", "po/c", "claim/d", "e")] == ["a", "b", "c", None, None]


def test_explain_a_claim_that_fits_nowhere(demo):
    report = explain(demo, ExplainRequest(target="pretrain-70b-gpus-fmb6b", namespace="research"))
    assert (report.verdict, report.unsatisfiable) == ("unallocatable", True)
    assert [c["claim"] for c in report.data["claims"]] == ["research/pretrain-70b-gpus-fmb6b"]
    assert "lint" not in report.data  # only unapplied manifests are linted


def test_explain_a_pod_whose_claims_are_allocated(demo):
    report = explain(demo, ExplainRequest(target="pod/llm-train-0", namespace="ml-team"))
    assert (report.verdict, report.unsatisfiable) == ("allocated", False)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ExplainRequest(target="pod/nope", namespace="ml-team"), 'pod "nope" not found in namespace ml-team'),
        (ExplainRequest(target="resourceclaim/nope", namespace="ml-team"), 'resourceclaim "nope" not found in namespace ml-team'),
        (ExplainRequest(target="pretrain-70b-gpus-fmb6b", namespace="research", node="no-such-node"), 'node "no-such-node" not found'),
    ],
)
def test_explain_names_what_does_not_exist(demo, request_, message):
    with pytest.raises(NotFoundError, match=message):
        explain(demo, request_)


def test_find_device_by_id_pool_node_or_unique_name(demo):
    from kubectl_dra.model.queries import find_device

    views = demo.device_views()
    ids = {ref: find_device(views, ref).device.id for ref in (
        "gpu.nvidia.com/dgx-h100-01/gpu-0", "dgx-h100-01/gpu-3", "l40s-01/gpu-1")}
    assert ids == {"gpu.nvidia.com/dgx-h100-01/gpu-0": "gpu.nvidia.com/dgx-h100-01/gpu-0",
                   "dgx-h100-01/gpu-3": "gpu.nvidia.com/dgx-h100-01/gpu-3",
                   "l40s-01/gpu-1": "gpu.nvidia.com/l40s-01/gpu-1"}
    with pytest.raises(UsageError, match='device name "gpu-0" is ambiguous: 3 devices match') as ambiguous:
        find_device(views, "gpu-0")
    assert ambiguous.value.hint == ("use one of: gpu.nvidia.com/dgx-h100-01/gpu-0, gpu.nvidia.com/h100-dmig-01/gpu-0, "
                                    "gpu.nvidia.com/l40s-01/gpu-0")
    with pytest.raises(NotFoundError, match='device "nothere" not found'):
        find_device(views, "nothere")


def test_no_claims_message_counts_the_claims_elsewhere():
    from kubectl_dra.model.cluster import Cluster
    from kubectl_dra.render.claims import no_claims

    cluster = load_cluster(SourceOptions(demo=True), (CLAIMS,))
    cluster.namespace = "empty"
    assert no_claims(cluster, all_namespaces=False) == (
        f"no ResourceClaims found in namespace empty ({len(cluster.claims)} in other namespaces: use -A)")
    assert no_claims(Cluster(), all_namespaces=True) == "no ResourceClaims found in any namespace"


def test_no_attributes_says_why(demo):
    from kubectl_dra.render.catalog import no_attributes

    views = demo.device_views()
    assert no_attributes([], [], set(), "x.yaml") == "no DRA devices found in x.yaml"
    assert no_attributes(views, [], {"foo"}, None) == (
        "no devices of driver foo (drivers: dra.net, gpu.amd.com, gpu.nvidia.com, tpu.google.com)")


def test_lint_text_prints_each_finding_and_its_hint():
    from kubectl_dra.render.explain import lint_text

    findings = [{"severity": "error", "object": "ResourceClaim a/b", "message": "bad", "hint": "fix it"},
                {"severity": "warning", "object": "DeviceClass c", "message": "odd\x1b[31m"}]
    assert lint_text(findings) == (
        "error: ResourceClaim a/b: bad\n  hint: fix it\nwarning: DeviceClass c: odd?[31m\n")
