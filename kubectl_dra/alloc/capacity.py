"""Consumable capacity (dra-api.md §2.3, §5.7; upstream ``consumable_capacity.go``).

For *every* capacity ``c`` of a device the request consumes ``calculate(request[c])``: without a
request the policy's ``default`` (else the full value); with a request and no policy the request;
with ``validRange`` the request raised to ``min`` and rounded up to ``min + n*step``; with
``validValues`` the smallest valid value ≥ the request (else the request). The device fits when
no consumed value violates the policy (``> max``, off-step, not a valid value — the default always
passes) and, per capacity, what shared allocations consumed + what this attempt consumes + this
request stays ≤ the value. A request naming a capacity the device does not publish never fits.
Exclusive devices go through the same check (nothing consumed before), so their requests must
simply be ≤ the value.

Capacity request names are compared with the names the device published, exactly, as upstream
(``CmpRequestOverCapacity`` / ``calculateConsumedCapacity`` index ``device.Capacity`` by the request's
QualifiedName): a request for ``driver-a/memory`` does not find a capacity published as ``memory``,
nor ``memory`` one published as ``driver-a/memory``. (The model stores capacities qualified with the
driver; ``Device.capacity_published_qualified`` says which were published with a domain.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubectl_dra.alloc.state import quantity
from kubectl_dra.model.device import Device, qualify
from kubectl_dra.model.quantity import BINARY_SI, Quantity


def _q(value: Any) -> Quantity | None:
    return None if value is None else quantity(value)


def _round_up_range(req: Quantity, rng: Mapping[str, Any]) -> Quantity:
    low = quantity(rng.get("min"))
    if req.cmp(low) < 0:
        return low
    step = _q(rng.get("step"))
    if step is None:
        return req
    r, s, m = req.scaled_value(0), step.scaled_value(0), low.scaled_value(0)
    if s == 0:
        return req
    added = r - m
    n = added // s + (1 if added % s else 0)
    return Quantity.from_int(m + s * n, BINARY_SI)


def calculate(requested: Quantity | None, value: Quantity, policy: Mapping[str, Any] | None) -> Quantity:
    """What one request consumes of one capacity (upstream ``calculateConsumedCapacity``)."""
    if requested is None:
        if policy and policy.get("default") is not None:
            return quantity(policy["default"])
        return value
    if not policy:
        return requested
    rng = policy.get("validRange")
    if isinstance(rng, dict) and rng.get("min") is not None:
        return _round_up_range(requested, rng)
    valid = policy.get("validValues")
    if valid:
        for v in valid:
            vq = quantity(v)
            if requested.cmp(vq) <= 0:
                return vq
    return requested


def violates(consumed: Quantity, policy: Mapping[str, Any] | None) -> bool:
    """Does a consumed amount break the request policy (upstream ``violatesPolicy``)?"""
    if not policy:
        return False
    if policy.get("default") is not None and consumed == quantity(policy["default"]):
        return False
    rng = policy.get("validRange")
    if isinstance(rng, dict):
        high = _q(rng.get("max"))
        if high is not None and consumed.cmp(high) > 0:
            return True
        step = _q(rng.get("step"))
        if step is not None and step.scaled_value(0):
            low = quantity(rng.get("min", "0"))
            if (consumed.scaled_value(0) - low.scaled_value(0)) % step.scaled_value(0):
                return True
        return False
    valid = policy.get("validValues")
    if valid:
        return not any(consumed.cmp(quantity(v)) == 0 for v in valid)
    return False


def qualified_requests(requests: Mapping[str, str], driver: str) -> dict[str, Quantity]:
    return {qualify(name, driver): quantity(value) for name, value in requests.items()}


def _published(name: str, device: Device) -> bool:
    """Did the device publish the capacity a request names, under exactly that name?"""
    stored = qualify(name, device.driver)
    if stored not in device.capacity:
        return False
    return ("/" in name) == (stored in device.capacity_published_qualified)


def consumed_by(requests: Mapping[str, str], device: Device) -> dict[str, Quantity] | None:
    """Per capacity of the device, what the request consumes; None when it names a capacity the device lacks."""
    if any(not _published(name, device) for name in requests):
        return None
    wanted = qualified_requests(requests, device.driver)
    policies = device.request_policies or {}
    return {
        name: calculate(wanted.get(name), quantity(text), policies.get(name))
        for name, text in device.capacity.items()
    }


def fits(
    requests: Mapping[str, str],
    device: Device,
    already: Mapping[str, Quantity] | None,
    allocating: Mapping[str, Quantity] | None,
) -> str | None:
    """None if the request fits the device; else why not (upstream ``CmpRequestOverCapacity``)."""
    if not requests and not already and not allocating and not device.request_policies:
        return None  # each capacity consumed in full, nothing consumed before: always fits
    consumed = consumed_by(requests, device)
    if consumed is None:
        missing = sorted(name for name in requests if not _published(name, device))
        return f"device has no capacity {', '.join(missing)} (request names are compared with the published names exactly)"
    policies = device.request_policies or {}
    for name, amount in consumed.items():
        if violates(amount, policies.get(name)):
            return f"{name}: {amount} is not allowed by the device's request policy"
        total = amount
        used = []
        if already and name in already:
            total = total.add(already[name])
            used.append(f"{already[name]} used by shared allocations")
        if allocating and name in allocating:
            total = total.add(allocating[name])
            used.append(f"{allocating[name]} by this pod's other requests")
        value = quantity(device.capacity[name])
        if total.cmp(value) > 0:
            return f"{name}: {amount} requested" + "".join(f" + {u}" for u in used) + f" > {value}"
    return None
