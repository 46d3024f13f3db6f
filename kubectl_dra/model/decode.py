"""Decode Kubernetes objects (plain dicts) of every resource.k8s.io version into one model.

Handles ``resource.k8s.io/v1`` and ``v1beta2`` (flat devices, requests under ``exactly``),
``v1beta1`` (devices under ``basic:``, request fields at the top level) and ``v1alpha3``
(like v1beta1, with bare capacity quantities) — dra-api.md §1.4. Unknown fields are ignored;
unknown attribute kinds are kept as they are. A malformed object raises ``DecodeError``
naming the object and the field, never a bare KeyError/TypeError.
"""

from __future__ import annotations

from typing import Any, Callable

from kubectl_dra.errors import InputError
from kubectl_dra.model.claim import (
    AllocationResult,
    Claim,
    ClaimSpec,
    ClaimTemplate,
    DeviceClass,
    DeviceConstraint,
    DeviceTaintRule,
    Node,
    Pod,
    PodClaimRef,
    Request,
    SubRequest,
    register_spec_decoder,
)
from kubectl_dra.model.device import Device, split_attribute
from kubectl_dra.model.slices import ResourceSlice

GROUP = "resource.k8s.io"
#: versions we decode, newest first
RESOURCE_VERSIONS = ("v1", "v1beta2", "v1beta1", "v1alpha3")
RESOURCE_KINDS = ("ResourceSlice", "ResourceClaim", "ResourceClaimTemplate", "DeviceClass", "DeviceTaintRule")
BASIC_VERSIONS = ("v1beta1", "v1alpha3")


class DecodeError(InputError):
    """An object that is not what its kind promises."""


class UnsupportedVersion(InputError):
    """A DRA kind in an API version this tool does not read (e.g. classic DRA v1alpha2)."""


class _Bad(Exception):
    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"{path}: {what}")


def _map(value: Any, path: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(path, f"expected a map, got {type(value).__name__}")
    return value


def _list(value: Any, path: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(path, f"expected a list, got {type(value).__name__}")
    return value


def _str(value: Any, path: str, default: str = "") -> str:
    if value is None:
        return default
    if isinstance(value, (dict, list)):
        raise _Bad(path, f"expected a string, got {type(value).__name__}")
    return str(value)


def _int(value: Any, path: str, default: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, bool):
        raise _Bad(path, "expected an integer, got a boolean")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _Bad(path, f"expected an integer, got {value!r}") from None


def _opt_str(value: Any, path: str) -> str | None:
    """An optional string field: None when absent; any other type is what the API server rejects."""
    return None if value is None else _str(value, path)


def _bool(value: Any, path: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _Bad(path, f"expected a boolean, got {_describe(value)}")
    return value


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def object_label(obj: dict) -> str:
    """``ResourceSlice foo`` / ``ResourceClaim ns/foo`` for messages."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = meta.get("name") or meta.get("generateName") or "<unnamed>"
    ns = meta.get("namespace")
    name = name if isinstance(name, str) else "<unnamed>"
    ns = ns if isinstance(ns, str) else None
    return f"{obj.get('kind', 'object')} {ns + '/' if ns else ''}{name[:253]}"


def decode(obj: dict) -> Any:
    """Decode one object. Returns None for kinds this tool does not use."""
    kind = obj.get("kind")
    api_version = obj.get("apiVersion") or ""
    group, version = split_api_version(str(api_version))
    if group == GROUP:
        if kind not in RESOURCE_KINDS:
            return None
        if version not in RESOURCE_VERSIONS:
            hint = (
                "v1alpha2 is classic DRA (Kubernetes ≤1.30), which structured parameters replaced"
                if version == "v1alpha2"
                else f"this tool reads {', '.join(GROUP + '/' + v for v in RESOURCE_VERSIONS)}"
            )
            raise UnsupportedVersion(f"{object_label(obj)}: {api_version} is not supported", hint=hint)
        decoder = _DECODERS[kind]
    elif group == "" and kind in ("Pod", "Node") and version == "v1":
        decoder = _DECODERS[kind]
    else:
        return None
    try:
        meta = obj.get("metadata")
        if type(meta) is not dict:
            _map(meta, "metadata")
        else:
            for key in ("name", "namespace"):
                value = meta.get(key)
                if value is not None and type(value) is not str:
                    raise _Bad(f"metadata.{key}", f"expected a string, got {_describe(value)}")
        return decoder(obj, version)
    except _Bad as bad:
        raise DecodeError(f"{object_label(obj)} ({api_version}) is malformed: {bad}") from None


# ---------------------------------------------------------------------------- metadata


def _meta(obj: dict) -> dict:
    return _map(obj.get("metadata"), "metadata")


# ---------------------------------------------------------------------------- slices


def decode_slice(obj: dict, version: str) -> ResourceSlice:
    meta = _meta(obj)
    spec = _map(obj.get("spec"), "spec")
    driver = _str(spec.get("driver"), "spec.driver")
    if not driver:
        raise _Bad("spec.driver", "required")
    pool = _map(spec.get("pool"), "spec.pool")
    if not pool:
        raise _Bad("spec.pool", "required")
    name = _str(meta.get("name"), "metadata.name")
    pool_name = _str(pool.get("name"), "spec.pool.name")
    node_name = _str(spec.get("nodeName"), "spec.nodeName") or None
    node_selector = spec.get("nodeSelector")
    if node_selector is not None:
        _map(node_selector, "spec.nodeSelector")
    all_nodes = bool(spec.get("allNodes"))
    per_device = bool(spec.get("perDeviceNodeSelection"))
    name_of_slice = name
    sl = ResourceSlice(
        name=name,
        driver=driver,
        pool=pool_name,
        generation=_int(pool.get("generation"), "spec.pool.generation"),
        slice_count=_int(pool.get("resourceSliceCount"), "spec.pool.resourceSliceCount", 1),
        api_version=f"{GROUP}/{version}",
        uid=_str(meta.get("uid"), "metadata.uid"),
        created=meta.get("creationTimestamp"),
        node_name=node_name,
        node_selector=node_selector,
        all_nodes=all_nodes,
        per_device_node_selection=per_device,
        shared_counters=[_map(c, f"spec.sharedCounters[{i}]") for i, c in enumerate(_list(spec.get("sharedCounters"), "spec.sharedCounters"))],
    )
    basic_version = version in BASIC_VERSIONS
    bare_capacity = version == "v1alpha3"
    qualified, shared = _driver_state(driver)
    prefix = driver + "/"
    devices = sl.devices
    last_kinds, last_caps = shared
    for i, raw in enumerate(_list(spec.get("devices"), "spec.devices")):
        if type(raw) is not dict:
            raise _Bad(f"spec.devices[{i}]", f"expected a map, got {type(raw).__name__}")
        body = raw
        if "basic" in raw and (basic_version or "attributes" not in raw):
            # v1beta1/v1alpha3 layout (also tolerated when a dump mislabels it as v1)
            body = _map(raw.get("basic"), f"spec.devices[{i}].basic")
        attributes = body.get("attributes")
        if type(attributes) is not dict:
            attributes = _map(attributes, f"spec.devices[{i}].attributes")
        capacity = body.get("capacity")
        if type(capacity) is not dict:
            capacity = _map(capacity, f"spec.devices[{i}].capacity")
        # plain values keyed by fully-qualified names (the key strings are shared per driver);
        # only kinds a plain value cannot tell (version, lists, future kinds) are recorded
        attrs: dict[str, Any] = {}
        kinds: dict[str, str] | None = None
        odd = False
        for key, value in attributes.items():
            name = qualified.get(key)
            if name is None:
                name = _qualify(qualified, key, prefix, f"spec.devices[{i}].attributes")
            if type(value) is not dict or len(value) != 1:
                _bad_attribute(value, f"spec.devices[{i}].attributes.{key}")
            for kind in value:  # the one entry (cheaper than .items() for one)
                pass
            value = value[kind]
            # each kind holds its type (API validation); version also a semantic version
            if kind == "string":
                if type(value) is not str:
                    _bad_attribute_value(kind, value, f"spec.devices[{i}].attributes.{key}")
                # one copy of each repeated value (product, brand, architecture...): the
                # parsed page's copies die with the page (~19 MB at 40,000 devices)
                attrs[name] = _strings.setdefault(value, value)
            elif kind == "int":
                if type(value) is not int:
                    _bad_attribute_value(kind, value, f"spec.devices[{i}].attributes.{key}")
                attrs[name] = value
            elif kind == "bool":
                if type(value) is not bool:
                    _bad_attribute_value(kind, value, f"spec.devices[{i}].attributes.{key}")
                attrs[name] = value
            else:
                # a version must be a string; one that is not semver is kept: the scheduler's CEL
                # reports it as a runtime error on that device, and so does the simulation
                if kind == "version":
                    if type(value) is not str:
                        _bad_attribute_value(kind, value, f"spec.devices[{i}].attributes.{key}")
                    value = _strings.setdefault(value, value)
                attrs[name] = value
                if kinds is None:
                    kinds = {}
                if type(kind) is not str:
                    odd = True  # a YAML key such as 1 equals True: never shared
                kinds[name] = kind
        caps: dict[str, str] = {}
        published = False
        policies: dict[str, dict] | None = None
        for key, value in capacity.items():
            name = qualified.get(key)
            if name is None:
                name = _qualify(qualified, key, prefix, f"spec.devices[{i}].capacity")
            if type(value) is dict and not bare_capacity:
                quantity = value.get("value")
                if value.get("requestPolicy") is not None:
                    if policies is None:
                        policies = {}
                    policies[name] = _map(value["requestPolicy"], f"spec.devices[{i}].capacity.{key}.requestPolicy")
            else:
                quantity = value
            text = "" if quantity is None else str(quantity)
            if text not in _GOOD_QUANTITIES:
                _check_quantity(quantity, f"spec.devices[{i}].capacity.{key}")
            caps[name] = text
            if name == key:  # published with a domain ("example.com/memory")
                published = True
        # the next device mostly has the same kinds and capacities: it shares the map (nothing
        # writes to a decoded device's maps), 40,000 devices need not hold 40,000 equal copies;
        # so does the next slice of the driver (_LAST_MAPS)
        if kinds is not None:
            if kinds == last_kinds and not odd:  # lookups only: the order of the kinds does not matter
                kinds = last_kinds
            elif not odd:
                last_kinds = kinds
        if caps:
            if caps == last_caps and (len(caps) == 1 or tuple(caps) == tuple(last_caps)):  # in the same order
                caps = last_caps
            else:
                last_caps = caps
        device_name = raw.get("name")
        if type(device_name) is not str or device_name not in _GOOD_NAMES:
            device_name = _device_name(device_name, f"spec.devices[{i}].name")
        dev = Device(
            driver, pool_name, device_name, name_of_slice, attrs, kinds, caps, policies, (), (), node_name, node_selector, all_nodes
        )
        if published:
            dev.capacity_published_qualified = frozenset(key for key in capacity if "/" in key)
        if per_device or not body.keys() <= _PLAIN_DEVICE_KEYS:  # counters, taints, node fields, ...
            _device_extras(dev, body, f"spec.devices[{i}]", per_device)
        devices.append(dev)
    shared[0], shared[1] = last_kinds, last_caps
    return sl


_QUALIFIED: dict[str, dict[str, str]] = {}
#: per driver, the attribute-kind map and the capacity map of the last device decoded: the next slice's
#: devices mostly have the same, and share them (one map for 40,000 equal devices, not one per slice)
_LAST_MAPS: dict[str, list] = {}


def _driver_state(driver: str) -> tuple[dict[str, str], list]:
    """What decoding remembers per driver: its names qualified so far, and [kinds, capacity] of its last device."""
    qualified = _QUALIFIED.get(driver)
    if qualified is None:
        qualified = _QUALIFIED[driver] = {}
        _LAST_MAPS[driver] = [{}, {}]
    return qualified, _LAST_MAPS[driver]

#: attribute string values seen so far, one object each
_strings: dict[str, str] = {}


def _qualify(qualified: dict[str, str], key: Any, prefix: str, path: str) -> str:
    """The fully-qualified form of a name first seen (remembered in ``qualified``, the driver's names)."""
    if type(key) is not str:  # YAML reads an unquoted 1 or true as a number or a boolean
        raise _Bad(path, f"a name must be a string, got {_describe(key)}")
    name = qualified[key] = key if "/" in key else prefix + key
    return name

# ---- input checks: what the API server's validation would reject is an error naming the field
# (the object is skipped with a warning), never a silently wrong answer. Valid values are cached:
# a big cluster repeats a few distinct names, quantities and versions thousands of times.

#: the Python type each attribute kind holds (an int in ``string`` is YAML 1.1's ``on``/``0x1F`` at work)
_ATTRIBUTE_TYPES = {"string": str, "int": int, "bool": bool, "version": str}
_GOOD_QUANTITIES: set[str] = {""}
_GOOD_NAMES: set[str] = set()
_DNS_LABEL = None


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return "an integer" if len(str(abs(value))) > 20 else f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return f"a {type(value).__name__}"


def _bad_attribute(value: Any, path: str) -> None:
    if type(value) is dict and len(value) > 1:
        raise _Bad(path, f"has {len(value)} values ({', '.join(map(str, value))}); an attribute has exactly one of int, bool, string, version")
    if type(value) is dict:
        raise _Bad(path, "has no value; an attribute has exactly one of int, bool, string, version")
    raise _Bad(path, f"expected a map with one of int, bool, string, version, got {_describe(value)}")


def _bad_attribute_value(kind: str, value: Any, path: str) -> None:
    hint = ""
    if kind in ("string", "version") and isinstance(value, (bool, int, float)):
        hint = " (YAML reads unquoted on/off/yes/no/0x1F/1.0 as booleans and numbers: quote the value)"
    raise _Bad(f"{path}.{kind}", f"expected {'a string' if kind in ('string', 'version') else 'an integer' if kind == 'int' else 'a boolean'}, got {_describe(value)}{hint}")


def _check_quantity(quantity: Any, path: str) -> None:
    from kubectl_dra.model.quantity import Quantity, QuantityError

    text = "" if quantity is None else str(quantity)
    if isinstance(quantity, bool) or not isinstance(quantity, (str, int, float)):  # a JSON number is a quantity
        raise _Bad(path, f"expected a quantity such as 80Gi, got {_describe(quantity)}")
    try:
        Quantity.parse(text)
    except (QuantityError, ValueError, TypeError):
        raise _Bad(path, f"{text[:40]!r} is not a quantity (e.g. 80Gi, 1500m, 4)") from None
    _GOOD_QUANTITIES.add(text)


def _device_name(value: Any, path: str) -> str:
    global _DNS_LABEL
    if value is None or value == "":
        raise _Bad(path, "required")
    if not isinstance(value, str):
        raise _Bad(path, f"expected a string, got {_describe(value)}")
    if _DNS_LABEL is None:
        import re

        _DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise _Bad(path, f"{value[:70]!r} is not a DNS label (lower-case letters, digits and '-', at most 63)")
    _GOOD_NAMES.add(value)
    return value
_PLAIN_DEVICE_KEYS = frozenset(("name", "attributes", "capacity", "basic"))


def _device_extras(dev: Device, body: dict, path: str, per_device: bool) -> None:
    if body.get("consumesCounters") is not None:
        dev.consumes_counters = [_map(c, f"{path}.consumesCounters[{j}]") for j, c in enumerate(_list(body.get("consumesCounters"), path + ".consumesCounters"))]
    if body.get("taints") is not None:
        dev.taints = [_map(t, f"{path}.taints[{j}]") for j, t in enumerate(_list(body.get("taints"), path + ".taints"))]
    if per_device:
        dev.node_name = _str(body.get("nodeName"), path + ".nodeName") or None
        dev.node_selector = body.get("nodeSelector")
        dev.all_nodes = bool(body.get("allNodes"))
    if body.get("allowMultipleAllocations"):
        dev.allow_multiple_allocations = True
    if body.get("bindsToNode"):
        dev.binds_to_node = True
    if body.get("bindingConditions"):
        dev.binding_conditions = [str(c) for c in _list(body.get("bindingConditions"), path + ".bindingConditions")]
    if body.get("bindingFailureConditions"):
        dev.binding_failure_conditions = [str(c) for c in _list(body.get("bindingFailureConditions"), path + ".bindingFailureConditions")]


# ---------------------------------------------------------------------------- claims


def _selectors(raw: Any, path: str) -> list[str]:
    out = []
    for i, sel in enumerate(_list(raw, path)):
        sel = _map(sel, f"{path}[{i}]")
        cel = _map(sel.get("cel"), f"{path}[{i}].cel")
        expr = cel.get("expression")
        if expr is not None:
            out.append(_str(expr, f"{path}[{i}].cel.expression"))
    return out


def _sub_request(raw: dict, path: str, name: str) -> SubRequest:
    # each field: the common type at once; anything else through the checks that name the field
    mode = raw.get("allocationMode")
    if type(mode) is not str:
        mode = _str(mode, path + ".allocationMode")
    mode = mode or "ExactCount"
    count = raw.get("count")
    if type(count) is not int:
        count = _int(count, path + ".count", 0)
    if mode == "ExactCount" and count == 0:
        count = 1  # API defaulting
    capacity = raw.get("capacity")
    if capacity is not None:
        capacity = _map(_map(capacity, path + ".capacity").get("requests"), path + ".capacity.requests")
    device_class = raw.get("deviceClassName")
    if type(device_class) is not str:
        device_class = _str(device_class, path + ".deviceClassName")
    # in the order the API fields were checked before: selectors, adminAccess, tolerations
    selectors = raw.get("selectors")
    selectors = [] if selectors is None else _selectors(selectors, path + ".selectors")
    admin_access = raw.get("adminAccess")
    if type(admin_access) is not bool:
        admin_access = _bool(admin_access, path + ".adminAccess")
    tolerations = raw.get("tolerations")
    if tolerations is None:
        tolerations = []
    else:
        tolerations = [_map(t, f"{path}.tolerations[{i}]") for i, t in enumerate(_list(tolerations, path + ".tolerations"))]
    return SubRequest(
        name,
        device_class,
        selectors,
        mode,
        count,
        admin_access,
        tolerations,
        {} if capacity is None else {k: str(v) for k, v in capacity.items()},
    )


def decode_claim_spec(spec: Any, version: str, path: str = "spec") -> ClaimSpec:
    if type(spec) is not dict:
        spec = _map(spec, path)
    devices = spec.get("devices")
    if type(devices) is not dict:
        devices = _map(devices, path + ".devices")
    out = ClaimSpec()
    flat = version in BASIC_VERSIONS
    requests = devices.get("requests")
    for i, raw in enumerate(requests if type(requests) is list else _list(requests, path + ".devices.requests")):
        if type(raw) is not dict:
            raw = _map(raw, f"{path}.devices.requests[{i}]")
        name = raw.get("name")
        if type(name) is not str:
            name = _str(name, f"{path}.devices.requests[{i}].name")
        request = Request(name=name)
        alternatives = raw.get("firstAvailable")
        if alternatives is not None:
            alternatives = _list(alternatives, f"{path}.devices.requests[{i}].firstAvailable")
        if alternatives:
            rpath = f"{path}.devices.requests[{i}]"
            for j, alt in enumerate(alternatives):
                apath = f"{rpath}.firstAvailable[{j}]"
                alt = _map(alt, apath)
                request.first_available.append(_sub_request(alt, apath, _str(alt.get("name"), apath + ".name")))
        elif flat:
            request.exactly = _sub_request(raw, f"{path}.devices.requests[{i}]", name)
        elif (exactly := raw.get("exactly")) is not None:
            epath = f"{path}.devices.requests[{i}].exactly"
            request.exactly = _sub_request(exactly if type(exactly) is dict else _map(exactly, epath), epath, name)
        elif raw.get("deviceClassName") is not None:
            # a v1beta1-style request mislabelled as v1/v1beta2: read what it says
            request.exactly = _sub_request(raw, f"{path}.devices.requests[{i}]", name)
        out.requests.append(request)
    constraints = devices.get("constraints")
    if constraints is not None:
        for i, raw in enumerate(_list(constraints, path + ".devices.constraints")):
            cpath = f"{path}.devices.constraints[{i}]"
            raw = _map(raw, cpath)
            out.constraints.append(
                DeviceConstraint(
                    requests=[_str(r, f"{cpath}.requests[{j}]") for j, r in enumerate(_list(raw.get("requests"), cpath + ".requests"))],
                    match_attribute=_opt_str(raw.get("matchAttribute"), cpath + ".matchAttribute"),
                    distinct_attribute=_opt_str(raw.get("distinctAttribute"), cpath + ".distinctAttribute"),
                )
            )
    config = devices.get("config")
    if config is not None:
        out.config = [_map(c, f"{path}.devices.config[{i}]") for i, c in enumerate(_list(config, path + ".devices.config"))]
    return out


def decode_claim(obj: dict, version: str) -> Claim:
    meta = _meta(obj)
    status = _map(obj.get("status"), "status")
    claim = Claim(
        namespace=_str(meta.get("namespace"), "metadata.namespace", "default"),
        name=_str(meta.get("name"), "metadata.name"),
        uid=_str(meta.get("uid"), "metadata.uid"),
        api_version=f"{GROUP}/{version}",
        created=meta.get("creationTimestamp"),
        deleting=meta.get("deletionTimestamp") is not None,
        annotations={str(k): str(v) for k, v in _map(meta.get("annotations"), "metadata.annotations").items()},
        owners=[_map(o, "metadata.ownerReferences[]") for o in _list(meta.get("ownerReferences"), "metadata.ownerReferences")],
        spec_raw=_map(obj.get("spec"), "spec"),
    )
    allocation = status.get("allocation")
    if allocation is not None:
        allocation = _map(allocation, "status.allocation")
        claim.allocated = True
        devices = _map(allocation.get("devices"), "status.allocation.devices")
        append = claim.results.append
        for i, raw in enumerate(_list(devices.get("results"), "status.allocation.devices.results")):
            if type(raw) is not dict:
                raw = _map(raw, f"status.allocation.devices.results[{i}]")
            request, driver, pool, device = raw.get("request"), raw.get("driver"), raw.get("pool"), raw.get("device")
            if type(request) is not str or type(driver) is not str or type(pool) is not str or type(device) is not str:
                path = f"status.allocation.devices.results[{i}]"
                request = _str(request, path + ".request")
                driver = _str(driver, path + ".driver")
                pool = _str(pool, path + ".pool")
                device = _str(device, path + ".device")
            admin_access = raw.get("adminAccess")
            if type(admin_access) is not bool:
                admin_access = _bool(admin_access, f"status.allocation.devices.results[{i}].adminAccess")
            consumed = raw.get("consumedCapacity")
            if consumed is not None:
                consumed = _map(consumed, f"status.allocation.devices.results[{i}].consumedCapacity")
            append(AllocationResult(request, driver, pool, device, admin_access, raw.get("shareID"),
                                    {} if not consumed else {k: str(v) for k, v in consumed.items()}))
        claim.allocation_node_selector = allocation.get("nodeSelector")
        stamp = allocation.get("allocationTimestamp")
        claim.allocation_timestamp = str(stamp) if stamp else None
    claim.reserved_for = [_map(r, "status.reservedFor[]") for r in _list(status.get("reservedFor"), "status.reservedFor")]
    claim.device_status = [_map(d, "status.devices[]") for d in _list(status.get("devices"), "status.devices")]
    return claim


def decode_claim_spec_of(claim: Claim) -> ClaimSpec:
    """Decode a claim's spec on first use; a malformed one names the claim."""
    version = split_api_version(claim.api_version)[1]
    try:
        return decode_claim_spec(claim.spec_raw, version)
    except _Bad as bad:
        raise DecodeError(f"ResourceClaim {claim.ref} ({claim.api_version}) is malformed: {bad}") from None


register_spec_decoder(decode_claim_spec_of)


def decode_template(obj: dict, version: str) -> ClaimTemplate:
    meta = _meta(obj)
    spec = _map(obj.get("spec"), "spec")
    return ClaimTemplate(
        namespace=_str(meta.get("namespace"), "metadata.namespace", "default"),
        name=_str(meta.get("name"), "metadata.name"),
        uid=_str(meta.get("uid"), "metadata.uid"),
        api_version=f"{GROUP}/{version}",
        created=meta.get("creationTimestamp"),
        spec=decode_claim_spec(spec.get("spec"), version, "spec.spec"),
    )


def decode_class(obj: dict, version: str) -> DeviceClass:
    meta = _meta(obj)
    spec = _map(obj.get("spec"), "spec")
    return DeviceClass(
        name=_str(meta.get("name"), "metadata.name"),
        uid=_str(meta.get("uid"), "metadata.uid"),
        api_version=f"{GROUP}/{version}",
        created=meta.get("creationTimestamp"),
        selectors=_selectors(spec.get("selectors"), "spec.selectors"),
        config=[_map(c, f"spec.config[{i}]") for i, c in enumerate(_list(spec.get("config"), "spec.config"))],
        extended_resource_name=spec.get("extendedResourceName"),
    )


def decode_taint_rule(obj: dict, version: str) -> DeviceTaintRule:
    meta = _meta(obj)
    spec = _map(obj.get("spec"), "spec")
    selector = _map(spec.get("deviceSelector"), "spec.deviceSelector")
    taint = _map(spec.get("taint"), "spec.taint")
    if not taint.get("key") or not taint.get("effect"):
        raise _Bad("spec.taint", "key and effect are required")
    return DeviceTaintRule(
        name=_str(meta.get("name"), "metadata.name"),
        driver=_str(selector.get("driver"), "spec.deviceSelector.driver") or None,
        pool=_str(selector.get("pool"), "spec.deviceSelector.pool") or None,
        device=_str(selector.get("device"), "spec.deviceSelector.device") or None,
        taint=dict(taint),
        selectors=_selectors(selector.get("selectors"), "spec.deviceSelector.selectors"),
        device_class=selector.get("deviceClassName"),
    )


# ---------------------------------------------------------------------------- core


def decode_pod(obj: dict, version: str) -> Pod:
    meta = _meta(obj)
    spec = _map(obj.get("spec"), "spec")
    status = _map(obj.get("status"), "status")
    pod = Pod(
        namespace=_str(meta.get("namespace"), "metadata.namespace", "default"),
        name=_str(meta.get("name"), "metadata.name"),
        uid=_str(meta.get("uid"), "metadata.uid"),
        node_name=_str(spec.get("nodeName"), "spec.nodeName") or None,
        phase=_str(status.get("phase"), "status.phase"),
        created=meta.get("creationTimestamp"),
        conditions=[c for c in _list(status.get("conditions"), "status.conditions") if isinstance(c, dict)],
        node_selector={str(k): str(v) for k, v in _map(spec.get("nodeSelector"), "spec.nodeSelector").items()},
        tolerations=[t for t in _list(spec.get("tolerations"), "spec.tolerations") if isinstance(t, dict)],
    )
    affinity = _map(_map(spec.get("affinity"), "spec.affinity").get("nodeAffinity"), "spec.affinity.nodeAffinity")
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if isinstance(required, dict):
        pod.required_affinity = required
    for i, raw in enumerate(_list(spec.get("resourceClaims"), "spec.resourceClaims")):
        raw = _map(raw, f"spec.resourceClaims[{i}]")
        source = raw.get("source") if isinstance(raw.get("source"), dict) else raw  # 1.27-1.30 nested "source"
        pod.claims.append(
            PodClaimRef(
                name=_str(raw.get("name"), f"spec.resourceClaims[{i}].name"),
                claim_name=source.get("resourceClaimName"),
                template_name=source.get("resourceClaimTemplateName"),
            )
        )
    for raw in _list(status.get("resourceClaimStatuses"), "status.resourceClaimStatuses"):
        if isinstance(raw, dict) and raw.get("name"):
            pod.claim_statuses[str(raw["name"])] = raw.get("resourceClaimName")
    return pod


def decode_node(obj: dict, version: str) -> Node:
    meta = _meta(obj)
    return Node(
        name=_str(meta.get("name"), "metadata.name"),
        uid=_str(meta.get("uid"), "metadata.uid"),
        labels={str(k): str(v) for k, v in _map(meta.get("labels"), "metadata.labels").items()},
        created=meta.get("creationTimestamp"),
        taints=[t for t in _list(_map(obj.get("spec"), "spec").get("taints"), "spec.taints") if isinstance(t, dict)],
        unschedulable=bool(_map(obj.get("spec"), "spec").get("unschedulable")),
    )


_DECODERS: dict[str, Callable[[dict, str], Any]] = {
    "ResourceSlice": decode_slice,
    "ResourceClaim": decode_claim,
    "ResourceClaimTemplate": decode_template,
    "DeviceClass": decode_class,
    "DeviceTaintRule": decode_taint_rule,
    "Pod": decode_pod,
    "Node": decode_node,
}


# ---------------------------------------------------------------------------- typed slices


def decode_slice_typed(item: Any, version: str, absent: Any) -> ResourceSlice | None:
    """The ResourceSlice that ``decode_slice`` makes of the same object, built from a typed item
    (``kube/slicepage.py``'s structs, decoded straight from the wire); None when the item needs the
    exact path: a value that it would reject or warn about.

    The typed decode has already checked the shape: each field is absent (None) or holds the type the
    API gives it, and fields that only the exact path reads (node selectors, counters, taints, binding
    fields, the v1beta1 ``basic`` layout, request policies) are refused there. ``version`` is ``v1``
    or ``v1beta2`` (flat devices, capacity as ``{value: ...}``). ``absent`` is what an attribute's
    kind that is not there holds.
    """
    meta = item.metadata
    spec = item.spec
    if spec is None:
        return None
    driver = spec.driver
    if not driver:
        return None
    pool = spec.pool
    if pool is None:
        return None
    if meta is None:
        slice_name = uid = ""
        created = None
    else:
        slice_name, uid, created = meta.name or "", meta.uid or "", meta.creationTimestamp
    node_name = spec.nodeName or None
    all_nodes = bool(spec.allNodes)
    pool_name = pool.name or ""
    sl = ResourceSlice(slice_name, driver, pool_name, pool.generation, pool.resourceSliceCount, f"{GROUP}/{version}",
                       uid, created, node_name, all_nodes=all_nodes)
    devices = spec.devices
    if not devices:
        return sl
    qualified, shared = _driver_state(driver)
    prefix = driver + "/"
    out = sl.devices
    strings = _strings
    last_kinds, last_caps = shared
    try:
        for raw in devices:
            attrs: dict[str, Any] = {}
            kinds: dict[str, str] | None = None
            attributes = raw.attributes
            if attributes:
                for key, value in attributes.items():
                    name = qualified.get(key)
                    if name is None:
                        name = _qualify(qualified, key, prefix, "")
                    text = value.string
                    if text is not absent:
                        if value.int is not absent or value.bool is not absent or value.version is not absent:
                            return None
                        attrs[name] = strings.setdefault(text, text)
                        continue
                    number = value.int
                    if number is not absent:
                        if value.bool is not absent or value.version is not absent:
                            return None
                        attrs[name] = number
                        continue
                    flag = value.bool
                    if flag is not absent:
                        if value.version is not absent:
                            return None
                        attrs[name] = flag
                        continue
                    text = value.version
                    if text is absent:
                        return None  # no value: the exact path names the attribute
                    attrs[name] = strings.setdefault(text, text)
                    if kinds is None:
                        kinds = {}
                    kinds[name] = "version"
            caps: dict[str, str] = {}
            published = False
            capacity = raw.capacity
            if capacity:
                for key, value in capacity.items():
                    name = qualified.get(key)
                    if name is None:
                        name = _qualify(qualified, key, prefix, "")
                    text = value.value or ""
                    if text not in _GOOD_QUANTITIES:
                        _check_quantity(text, "")
                    caps[name] = text
                    if name == key:
                        published = True
            if kinds is not None:
                if kinds == last_kinds:
                    kinds = last_kinds
                else:
                    last_kinds = kinds
            if caps:
                if caps == last_caps and (len(caps) == 1 or tuple(caps) == tuple(last_caps)):
                    caps = last_caps
                else:
                    last_caps = caps
            device_name = raw.name
            if device_name not in _GOOD_NAMES:
                device_name = _device_name(device_name, "")
            dev = Device(driver, pool_name, device_name, slice_name, attrs, kinds, caps, None, (), (), node_name, None, all_nodes)
            if published:
                dev.capacity_published_qualified = frozenset(key for key in capacity if "/" in key)
            out.append(dev)
    except _Bad:
        return None
    shared[0], shared[1] = last_kinds, last_caps
    return sl
