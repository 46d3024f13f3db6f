"""`kubectl dra claim` on the demo cluster: manifests (golden), their schema, class choice, --check, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import SHARED

SWAGGER = SHARED / "schemas" / "swagger-v1.36-resource.k8s.io.json"


# ---------------------------------------------------------------------------- a small structural checker


@pytest.fixture(scope="module")
def definitions() -> dict:
    return json.loads(SWAGGER.read_text(encoding="utf-8"))["definitions"]


def check_schema(value, node: dict, definitions: dict, path: str = "$") -> list[str]:
    """Problems of ``value`` against an OpenAPI v2 schema node: unknown fields, missing required ones, wrong types."""
    while "$ref" in node:
        node = definitions[node["$ref"].rsplit("/", 1)[1]]
    problems: list[str] = []
    kind = node.get("type")
    if "properties" in node:
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        props = node["properties"]
        for key in value:
            if key not in props:
                problems.append(f"{path}.{key}: unknown field")
        for key in node.get("required", []):
            if key not in value:
                problems.append(f"{path}.{key}: required field missing")
        for key, item in value.items():
            if key in props:
                problems += check_schema(item, props[key], definitions, f"{path}.{key}")
    elif kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                problems += check_schema(item, extra, definitions, f"{path}.{key}")
    elif kind == "array":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        for i, item in enumerate(value):
            problems += check_schema(item, node.get("items", {}), definitions, f"{path}[{i}]")
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: expected an integer")
    elif kind == "boolean" and not isinstance(value, bool):
        problems.append(f"{path}: expected a boolean")
    return problems


def assert_valid(manifest: dict, definitions: dict) -> None:
    group, version = manifest["apiVersion"].split("/")
    assert group == "resource.k8s.io"
    name = f"io.k8s.api.resource.{version}.{manifest['kind']}"
    assert name in definitions
    problems = check_schema(manifest, definitions[name], definitions)
    assert problems == []
    # the API's validation rules the schema does not carry (dra-api.md §3.1)
    spec = manifest["spec"]["spec"] if manifest["kind"] == "ResourceClaimTemplate" else manifest["spec"]
    requests = spec["devices"]["requests"]
    names = [r["name"] for r in requests]
    assert len(names) == len(set(names))
    label = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    for request in requests:
        assert re.fullmatch(label, request["name"]) and len(request["name"]) <= 63
        if "firstAvailable" in request:
            assert set(request) == {"name", "firstAvailable"}  # exactly one of exactly / firstAvailable
            subrequests = request["firstAvailable"]
            assert 1 <= len(subrequests) <= 8
            sub_names = [sub["name"] for sub in subrequests]
            assert len(sub_names) == len(set(sub_names))
            assert all(re.fullmatch(label, n) and len(n) <= 63 for n in sub_names)
            all_fields = subrequests
        elif version == "v1beta1":
            all_fields = [request]
        else:
            assert set(request) == {"name", "exactly"}
            all_fields = [request["exactly"]]
        for fields in all_fields:
            assert fields["deviceClassName"]
            if fields.get("allocationMode") == "All":
                assert "count" not in fields
            else:
                assert fields.get("count", 1) > 0
            for selector in fields.get("selectors", []):
                assert len(selector["cel"]["expression"]) <= 10 * 1024
    for constraint in spec["devices"].get("constraints", []):
        assert ("matchAttribute" in constraint) != ("distinctAttribute" in constraint)
        attribute = constraint.get("matchAttribute") or constraint.get("distinctAttribute")
        assert "/" in attribute  # fully qualified
        assert set(constraint.get("requests", [])) <= set(names)


def claim_of(run, *args: str) -> dict:
    result = run("claim", "--demo", *args)
    assert result.exit_code == 0, result.stderr
    return yaml.safe_load(result.stdout)


def request_fields(manifest: dict) -> dict:
    spec = manifest["spec"]["spec"] if manifest["kind"] == "ResourceClaimTemplate" else manifest["spec"]
    request = spec["devices"]["requests"][0]
    return request.get("exactly", request)


def matched_ids(manifest: dict) -> list[str]:
    """Device ids in the demo cluster that the class selectors AND the request selectors admit."""
    from kubectl_dra import cel
    from kubectl_dra.cli._common import read_cluster, source_options
    from kubectl_dra.kube.load import CLASSES, SLICES

    cluster = read_cluster(source_options(demo=True, all_namespaces=True), (SLICES, CLASSES))
    fields = request_fields(manifest)
    cls = next(c for c in cluster.classes if c.name == fields["deviceClassName"])
    expressions = [*cls.selectors, *(s["cel"]["expression"] for s in fields.get("selectors", []))]
    devices = [v.device for v in cluster.device_views()]
    for expression in expressions:
        program = cel.compile(expression)
        results = program.evaluate_many(devices)
        assert all(r.error is None for r in results), [r.error for r in results if r.error][:3]
        devices = [d for d, r in zip(devices, results) if r.matched]
    return sorted(f"{d.node_label}/{d.name}" for d in devices)


# ---------------------------------------------------------------------------- golden manifests


@pytest.mark.parametrize(
    ("golden_name", "args"),
    [
        ("claim-mig-40gi.yaml", ["--min-memory", "40Gi", "--mig"]),
        ("claim-h100-pair.yaml", ["product~h100", "mig=false", "--count", "2", "--same", "pcieRoot"]),
        ("claim-template-profile.yaml", ["--profile", "1g.10gb", "--template", "--name", "mig-small", "-n", "ml-team"]),
        ("claim-v1beta1-all.yaml", ["--arch", "Hopper", "--mig", "--all", "--api-version", "resource.k8s.io/v1beta1"]),
        ("claim-first-available.yaml", ["product~h100", "not mig", "--or", "product~a100 not mig", "--or", "profile=3g.40gb",
                                        "--count", "2", "--same", "pcieRoot"]),
    ],
)
def test_claim_golden_and_valid(run, golden, definitions, golden_name, args):
    result = run("claim", "--demo", *args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    golden(golden_name, result.stdout)
    assert_valid(yaml.safe_load(result.stdout), definitions)


def test_default_claim_shape(run, definitions):
    manifest = claim_of(run, "--min-memory", "40Gi", "--mig")
    assert manifest["apiVersion"] == "resource.k8s.io/v1"
    assert manifest["kind"] == "ResourceClaim"
    assert manifest["metadata"] == {"name": "gpu-claim"}  # no namespace unless -n
    request = manifest["spec"]["devices"]["requests"][0]
    assert request["name"] == "gpu"
    assert request["exactly"]["deviceClassName"] == "mig.nvidia.com"
    assert request["exactly"]["allocationMode"] == "ExactCount"
    assert request["exactly"]["count"] == 1
    assert "constraints" not in manifest["spec"]["devices"]


def test_template_shape(run, definitions):
    manifest = claim_of(run, "--mig", "--template", "--name", "small", "--request", "mig", "-n", "team-a")
    assert manifest["kind"] == "ResourceClaimTemplate"
    assert manifest["metadata"] == {"name": "small", "namespace": "team-a"}
    assert manifest["spec"]["spec"]["devices"]["requests"][0]["name"] == "mig"
    assert_valid(manifest, definitions)


@pytest.mark.parametrize("version", ["v1beta1", "resource.k8s.io/v1beta1"])
def test_v1beta1_is_flat(run, definitions, version):
    manifest = claim_of(run, "--mig", "--count", "2", "--distinct", "parentUUID", "--api-version", version)
    assert manifest["apiVersion"] == "resource.k8s.io/v1beta1"
    request = manifest["spec"]["devices"]["requests"][0]
    assert "exactly" not in request
    assert request["deviceClassName"] == "mig.nvidia.com" and request["count"] == 2
    assert "selectors" not in request  # mig.nvidia.com admits MIG devices only: --mig needs no selector
    assert_valid(manifest, definitions)


def test_v1beta2_nests_like_v1(run, definitions):
    manifest = claim_of(run, "--mig", "--api-version", "v1beta2")
    assert manifest["apiVersion"] == "resource.k8s.io/v1beta2"
    assert "exactly" in manifest["spec"]["devices"]["requests"][0]
    assert_valid(manifest, definitions)


def test_checker_catches_bad_manifests(definitions):
    """The structural checker itself: an unknown field, a missing required one, v1 fields flat."""
    good = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "x"},
            "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "c"}}]}}}
    node = definitions["io.k8s.api.resource.v1.ResourceClaim"]
    assert check_schema(good, node, definitions) == []
    flat = json.loads(json.dumps(good))
    flat["spec"]["devices"]["requests"][0] = {"name": "gpu", "deviceClassName": "c"}
    assert check_schema(flat, node, definitions) == ["$.spec.devices.requests[0].deviceClassName: unknown field"]
    missing = json.loads(json.dumps(good))
    del missing["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"]
    assert check_schema(missing, node, definitions) == ["$.spec.devices.requests[0].exactly.deviceClassName: required field missing"]


def test_json_output_agrees_with_yaml(run):
    args = ("claim", "--demo", "--mig", "--count", "3")
    as_json = run(*args, "-o", "json")
    as_yaml = run(*args)
    assert as_json.exit_code == as_yaml.exit_code == 0
    assert json.loads(as_json.stdout) == yaml.safe_load(as_yaml.stdout)


# ---------------------------------------------------------------------------- class choice and selectors


def test_mig_chooses_mig_class(run):
    assert request_fields(claim_of(run, "--mig"))["deviceClassName"] == "mig.nvidia.com"
    assert request_fields(claim_of(run, "--profile", "3g.40gb"))["deviceClassName"] == "mig.nvidia.com"


def test_whole_nvidia_gpu_chooses_gpu_class(run):
    assert request_fields(claim_of(run, "product~h100", "mig=false"))["deviceClassName"] == "gpu.nvidia.com"
    assert request_fields(claim_of(run, "--product", "L40S"))["deviceClassName"] == "gpu.nvidia.com"


def test_other_drivers_choose_their_class(run):
    assert request_fields(claim_of(run, "--min-memory", "100Gi"))["deviceClassName"] == "gpu.amd.com"
    assert request_fields(claim_of(run, "driver=tpu.google.com"))["deviceClassName"] == "tpu.google.com"


def test_explicit_class_is_kept(run):
    manifest = claim_of(run, "memory>=40Gi", "--class", "gpu.nvidia.com")
    assert request_fields(manifest)["deviceClassName"] == "gpu.nvidia.com"


def test_ambiguous_class_is_a_usage_error(run):
    result = run("claim", "--demo", "memory>=40Gi")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "span several DeviceClasses" in result.stderr
    for name in ("gpu.nvidia.com", "mig.nvidia.com", "gpu.amd.com"):
        assert name in result.stderr
    assert "--class" in result.stderr


def test_unsatisfiable_filter_names_nearest_misses(run):
    result = run("claim", "--demo", "--min-memory", "90Gi", "product~h100")
    assert result.exit_code == 2
    assert "no device matches the filter" in result.stderr
    assert ("nearest miss: 18 devices (NVIDIA H100 80GB HBM3, 79.6Gi; NVIDIA H100 80GB HBM3, 79.3Gi; 7g.80gb, 79.3Gi; "
            "2 more; 10 free) are the closest below memory>=90Gi; did you mean memory>=79Gi?") in result.stderr
    assert "A100" not in result.stderr  # the other terms still apply to the misses


def test_unknown_class_is_not_found(run):
    result = run("claim", "--demo", "--mig", "--class", "nope.example.com")
    assert result.exit_code == 3
    assert "mig.nvidia.com" in result.stderr


def test_selector_compiles_and_matches_expected_devices(run):
    manifest = claim_of(run, "--min-memory", "40Gi", "--mig")
    [selector] = request_fields(manifest)["selectors"]
    from kubectl_dra import cel

    cel.compile(selector["cel"]["expression"])
    # MIG devices with at least 40Gi: only the two 7g.80gb placements (3g.40gb publishes 39.5Gi)
    assert matched_ids(manifest) == ["h100-dmig-01/gpu-0-mig-7g80gb-0-0", "h100-dmig-01/gpu-1-mig-7g80gb-0-0"]


def test_selector_whole_h100s(run):
    manifest = claim_of(run, "product~h100", "mig=false")
    assert matched_ids(manifest) == sorted(
        [f"dgx-h100-01/gpu-{i}" for i in range(8)] + ["h100-dmig-01/gpu-0", "h100-dmig-01/gpu-1"]
    )


def test_profile_selector(run):
    manifest = claim_of(run, "--profile", "4g.40gb")
    assert matched_ids(manifest) == ["h100-dmig-01/gpu-0-mig-4g40gb-5-0", "h100-dmig-01/gpu-1-mig-4g40gb-5-0"]


def test_cel_is_added_verbatim(run):
    expression = 'device.attributes["gpu.nvidia.com"].profile == "1g.10gb"'
    manifest = claim_of(run, "--mig", "--cel", expression)
    selectors = [s["cel"]["expression"] for s in request_fields(manifest)["selectors"]]
    assert selectors == [expression]  # --mig is what the class mig.nvidia.com guarantees: no selector of its own


def test_cel_only_claim(run):
    expression = 'device.driver == "gpu.amd.com"'
    manifest = claim_of(run, "--cel", expression)
    assert request_fields(manifest)["deviceClassName"] == "gpu.amd.com"
    assert [s["cel"]["expression"] for s in request_fields(manifest)["selectors"]] == [expression]


# ---------------------------------------------------------------------------- constraints and counts


def test_same_pcie_root_is_fully_qualified(run):
    manifest = claim_of(run, "product~h100", "mig=false", "--count", "2", "--same", "pcieRoot")
    assert manifest["spec"]["devices"]["constraints"] == [
        {"requests": ["gpu"], "matchAttribute": "resource.kubernetes.io/pcieRoot"}
    ]


def test_bare_driver_attribute_is_qualified(run):
    manifest = claim_of(run, "--mig", "--count", "2", "--same", "parentUUID", "--distinct", "gpu.nvidia.com/uuid")
    assert manifest["spec"]["devices"]["constraints"] == [
        {"requests": ["gpu"], "matchAttribute": "gpu.nvidia.com/parentUUID"},
        {"requests": ["gpu"], "distinctAttribute": "gpu.nvidia.com/uuid"},
    ]


def test_unknown_constraint_attribute(run):
    result = run("claim", "--demo", "--mig", "--same", "pcieRoots")
    assert result.exit_code == 2
    assert "pcieRoots" in result.stderr and "pcieRoot" in result.stderr


def test_all_mode_has_no_count(run):
    fields = request_fields(claim_of(run, "--mig", "--all"))
    assert fields["allocationMode"] == "All" and "count" not in fields


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--mig", "--count", "0"], "greater than zero"),
        (["--mig", "--count", "2", "--all"], "exclude each other"),
        (["--mig", "--request", "GPU_0"], "--request"),
        (["--mig", "--name", "Bad Name"], "--name"),
        (["--mig", "--api-version", "resource.k8s.io/v2"], "--api-version"),
    ],
)
def test_bad_flags_exit_2(run, args, needle):
    result = run("claim", "--demo", *args)
    assert result.exit_code == 2
    assert needle in result.stderr
    assert result.stdout == ""


# ---------------------------------------------------------------------------- errors


def test_filter_syntax_error_exit_2(run):
    result = run("claim", "--demo", "memory>=(")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert result.stdout == ""


def test_unknown_filter_name_exit_2(run):
    result = run("claim", "--demo", "memroy>=40Gi")
    assert result.exit_code == 2
    assert "memory" in result.stderr  # a suggestion


def test_cel_compile_error_exit_2(run):
    result = run("claim", "--demo", "--mig", "--cel", "device.driver ==")
    assert result.exit_code == 2
    assert result.stdout == ""


# ---------------------------------------------------------------------------- --check


def test_check_reports_on_stderr(run):
    result = run("claim", "--demo", "product~h100", "mig=false", "--count", "2", "--same", "pcieRoot", "--check")
    assert result.exit_code == 0, result.stderr
    yaml.safe_load(result.stdout)  # stdout stays a clean manifest
    assert "check:" not in result.stdout
    lines = result.stderr.splitlines()
    assert lines[0] == ("check: 10 devices on 2 nodes match class gpu.nvidia.com and the selectors; "
                        "4 free now (the claim asks for 2 devices)")
    assert "  dgx-h100-01: 8 matching, 3 free" in lines
    assert "  h100-dmig-01: 2 matching, 1 free" in lines
    # the constraint is evaluated by the simulated allocator: two H100s on one PCIe root exist
    assert any(line.startswith("check (simulated): fits on 1 of 6 nodes: dgx-h100-01 (") for line in lines)
    assert not any("not evaluated" in line for line in lines)


def test_check_nothing_matches_names_nearest_misses(run):
    result = run("claim", "--demo", "memory>=90Gi", "--class", "gpu.nvidia.com", "--check")
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout)["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"] == "gpu.nvidia.com"
    assert "check: no device matches class gpu.nvidia.com" in result.stderr
    assert ("nearest miss: 11 devices (NVIDIA A100 80GB PCIe, 80Gi; NVIDIA H100 80GB HBM3, 79.6Gi; "
            "NVIDIA H100 80GB HBM3, 79.3Gi; 5 free) are the closest below memory>=90Gi; did you mean memory>=80Gi?") in result.stderr


def test_check_warns_when_too_few_free(run):
    result = run("claim", "--demo", "--product", "L40S", "--count", "2", "--check")
    assert result.exit_code == 0
    assert "check: 4 devices on 1 node" in result.stderr
    assert "1 free now" in result.stderr
    assert "no node has 2 free matching devices" in result.stderr


def test_no_check_no_stderr(run):
    result = run("claim", "--demo", "--mig")
    assert result.exit_code == 0 and result.stderr == ""


# ---------------------------------------------------------------------------- the pure module


def test_manifest_module_pure():
    from kubectl_dra.render import manifest

    spec = manifest.ClaimManifest(name="a", device_class="c", count=None, selectors=["true"],
                              constraints=[manifest.ManifestConstraint("matchAttribute", "x.io/y")])
    data = manifest.build(spec)
    assert data["spec"]["devices"]["requests"][0]["exactly"] == {
        "deviceClassName": "c", "allocationMode": "All", "selectors": [{"cel": {"expression": "true"}}]}
    assert manifest.filter_text(["a=1", "or", "b=2"], ["c=3"], ["mig=true"]) == "(a=1 or b=2) (c=3) (mig=true)"
    assert manifest.filter_text([], [], ["mig=true"]) == "mig=true"
    assert manifest.quote_value("NVIDIA H100") == '"NVIDIA H100"'
    assert manifest.quote_value("1g.10gb") == "1g.10gb"


# ---------------------------------------------------------------------------- -f input without DeviceClasses


EXAMPLE_V1 = str(SHARED / "fixtures" / "upstream" / "dra-example-driver" / "resourceslice-list-v1-readme.yaml")


def test_file_without_classes_needs_class(run):
    result = run("claim", "-f", EXAMPLE_V1)
    assert result.exit_code == 2
    assert "no DeviceClasses" in result.stderr and "--class" in result.stderr


def test_file_without_classes_trusts_class(run, definitions):
    result = run("claim", "-f", EXAMPLE_V1, "--class", "gpu.example.com", "--count", "2", "--check")
    assert result.exit_code == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    assert request_fields(manifest) == {"deviceClassName": "gpu.example.com", "allocationMode": "ExactCount", "count": 2}
    assert_valid(manifest, definitions)
    assert "is not checked" in result.stderr
    assert "check: 8 devices on 1 node" in result.stderr


def test_api_version_defaults_to_what_the_cluster_serves(run, fake_api):
    import yaml as _yaml

    from tests.conftest import FIXTURES

    fake_api.serve_versions(["v1beta1"])
    fake_api.load_yaml(FIXTURES / "dra-example-driver" / "resourceslice-list-v1beta1-basic-readme.yaml")
    result = run("claim", "--class", "gpu.example.com", "memory>=40Gi")
    assert result.exit_code == 0, result.stderr
    claim = _yaml.safe_load(result.stdout)
    assert claim["apiVersion"] == "resource.k8s.io/v1beta1"
    request = claim["spec"]["devices"]["requests"][0]
    assert "exactly" not in request and request["deviceClassName"] == "gpu.example.com"
    explicit = _yaml.safe_load(run("claim", "--class", "gpu.example.com", "--api-version", "v1", "memory>=40Gi").stdout)
    assert explicit["apiVersion"] == "resource.k8s.io/v1"


# ---------------------------------------------------------------------------- --or (firstAvailable)


def subrequest_ids(subrequest: dict) -> list[str]:
    """matched_ids for one firstAvailable entry."""
    return matched_ids({"kind": "ResourceClaim", "spec": {"devices": {"requests": [{"name": "x", "exactly": subrequest}]}}})


@pytest.mark.parametrize("version", ["v1", "v1beta2", "v1beta1"])
def test_or_builds_first_available_in_every_version(run, definitions, version):
    manifest = claim_of(run, "product~h100", "not mig", "--or", "product~a100 not mig", "--or", "profile=3g.40gb",
                        "--api-version", version)
    assert_valid(manifest, definitions)
    request = manifest["spec"]["devices"]["requests"][0]
    assert set(request) == {"name", "firstAvailable"}
    subs = request["firstAvailable"]
    assert [s["name"] for s in subs] == ["first", "alt-2", "alt-3"]
    # each alternative gets the class that admits its devices
    assert [s["deviceClassName"] for s in subs] == ["gpu.nvidia.com", "gpu.nvidia.com", "mig.nvidia.com"]
    assert all(s["allocationMode"] == "ExactCount" and s["count"] == 1 for s in subs)
    assert {i.split("/")[0] for i in subrequest_ids(subs[0])} == {"dgx-h100-01", "h100-dmig-01"}
    assert subrequest_ids(subs[1]) == ["a100-mig-01/gpu-1"]
    assert len(subrequest_ids(subs[2])) == 5 and all("-mig-3g40gb-" in i for i in subrequest_ids(subs[2]))


def test_or_keeps_count_mode_and_constraints(run, definitions):
    manifest = claim_of(run, "product~h100", "not mig", "--or", "product~mi300x", "--all", "--distinct", "pcieRoot")
    assert_valid(manifest, definitions)
    subs = manifest["spec"]["devices"]["requests"][0]["firstAvailable"]
    assert [s["deviceClassName"] for s in subs] == ["gpu.nvidia.com", "gpu.amd.com"]
    assert all(s["allocationMode"] == "All" and "count" not in s for s in subs)
    assert manifest["spec"]["devices"]["constraints"] == [
        {"requests": ["gpu"], "distinctAttribute": "resource.kubernetes.io/pcieRoot"}]


def test_or_with_explicit_class_uses_it_everywhere(run):
    manifest = claim_of(run, "product~h100", "--or", "product~a100", "--class", "gpu.nvidia.com")
    subs = manifest["spec"]["devices"]["requests"][0]["firstAvailable"]
    assert {s["deviceClassName"] for s in subs} == {"gpu.nvidia.com"}


def test_or_check_reports_each_alternative_in_order(run):
    result = run("claim", "--demo", "product~h100", "not mig", "--or", "product~a100 not mig", "--count", "2", "--check")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "alternative 1 of 2 (first: product~h100 not mig):"
    second = lines.index("alternative 2 of 2 (alt-2: product~a100 not mig):")
    assert "4 free now" in "\n".join(lines[1:second])
    assert "warning: no node has 2 free matching devices now (at most 1 on one node)" in "\n".join(lines[second:])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--or", "product~a100"], "--or adds an alternative"),
        (["mig", "--or", " "], "--or needs a filter"),
        (["mig", "--or", "product~zzz"], "(--or 'product~zzz')"),
        (["mig", "--or", "memory>="], "error: "),
        (["mig", *sum((["--or", "mig"] for _ in range(8)), [])], "at most 8"),
    ],
)
def test_or_errors_exit_2(run, args, needle):
    result = run("claim", "--demo", *args)
    assert result.exit_code == 2, result.stderr
    assert needle in result.stderr
    assert result.stdout == ""


# ---------------------------------------------------------------------------- --apply (real HTTP, fake API server)

DEMO_YAML = Path(__file__).resolve().parents[1] / "kubectl_dra" / "demo" / "cluster.yaml"


@pytest.fixture
def demo_api(fake_api):
    fake_api.load_yaml(DEMO_YAML)
    return fake_api


def test_apply_dry_runs_then_creates_and_says_so(run, demo_api, definitions):
    result = run("claim", "--mig", "--min-memory", "40Gi", "--name", "small", "-n", "ml-team", "--apply")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "resourceclaim.resource.k8s.io/small created\n"
    posts = [r for r in demo_api.requests if r.method == "POST"]
    assert [(r.path, r.query.get("dryRun")) for r in posts] == [
        ("/apis/resource.k8s.io/v1/namespaces/ml-team/resourceclaims", "All"),
        ("/apis/resource.k8s.io/v1/namespaces/ml-team/resourceclaims", None),
    ]
    sent = json.loads(posts[1].body)
    assert_valid(sent, definitions)
    assert sent["metadata"] == {"name": "small", "namespace": "ml-team"}
    stored = [o for o in demo_api.objects("resourceclaims") if o["metadata"]["name"] == "small"]
    assert len(stored) == 1 and stored[0]["spec"] == sent["spec"]


def test_apply_uses_the_context_namespace_and_template_path(run, demo_api):
    result = run("claim", "--profile", "1g.10gb", "--template", "--name", "mig-small", "--apply", "-o", "yaml")
    assert result.exit_code == 0, result.stderr
    created = yaml.safe_load(result.stdout)  # -o: the object as the server stored it
    assert created["kind"] == "ResourceClaimTemplate"
    assert created["metadata"]["namespace"] == "default" and created["metadata"]["uid"]
    assert demo_api.requests_to("/apis/resource.k8s.io/v1/namespaces/default/resourceclaimtemplates")


def test_apply_never_overwrites(run, demo_api):
    assert run("claim", "--mig", "--name", "taken", "-n", "ml-team", "--apply").exit_code == 0
    before = [o for o in demo_api.objects("resourceclaims") if o["metadata"]["name"] == "taken"]
    result = run("claim", "product~h100", "not mig", "--name", "taken", "-n", "ml-team", "--apply")
    assert result.exit_code == 6
    assert result.stderr.startswith('error: resourceclaim.resource.k8s.io "taken" in namespace "ml-team" already exists: nothing was changed')
    assert "never overwrites" in result.stderr
    assert result.stdout == ""
    assert [o for o in demo_api.objects("resourceclaims") if o["metadata"]["name"] == "taken"] == before
    # the dry run already failed: no real create was attempted
    assert [r.query.get("dryRun") for r in demo_api.requests if r.method == "POST"][-1] == "All"


def test_apply_rejected_by_the_server_creates_nothing(run, demo_api):
    demo_api.add_validator(lambda obj: "spec.devices.requests[0].exactly.selectors[0].cel.expression: Invalid value: too complex")
    result = run("claim", "--mig", "--name", "nope", "--apply")
    assert result.exit_code == 1
    assert "error: the API server rejected" in result.stderr and "too complex" in result.stderr
    assert "nope" not in {o["metadata"]["name"] for o in demo_api.objects("resourceclaims")}
    assert len([r for r in demo_api.requests if r.method == "POST"]) == 1


def test_apply_forbidden_points_at_rbac(run, demo_api):
    demo_api.fail("/apis/resource.k8s.io/v1/namespaces/default/resourceclaims", 403, times=None,
                  message='resourceclaims.resource.k8s.io is forbidden: User "dev" cannot create resource "resourceclaims"')
    result = run("claim", "--mig", "--apply")
    assert result.exit_code == 4
    assert "cannot create" in result.stderr and "docs/rbac.md" in result.stderr


def test_apply_refuses_a_version_the_cluster_does_not_serve(run, demo_api):
    result = run("claim", "--mig", "--api-version", "v1beta1", "--apply")
    assert result.exit_code == 2
    assert "does not serve resource.k8s.io/v1beta1" in result.stderr
    assert not [r for r in demo_api.requests if r.method == "POST"]


@pytest.mark.parametrize("source", [["--demo"], ["-f", str(DEMO_YAML)]])
def test_apply_needs_a_cluster(run, source):
    result = run("claim", "--mig", "--apply", *source)
    assert result.exit_code == 2 and "--apply creates the object on a cluster" in result.stderr


def test_apply_warns_when_nothing_matches_now(run, demo_api):
    result = run("claim", "memory>=900Gi", "--class", "gpu.nvidia.com", "--name", "huge", "--apply")
    assert result.exit_code == 0, result.stderr
    assert "warning: no device matches the claim now" in result.stderr
