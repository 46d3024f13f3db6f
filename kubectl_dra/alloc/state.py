"""The cluster's allocated state as the scheduler builds it (dra-api.md §5.1, upstream ``foreachAllocatedDevice``).

Every result in ``status.allocation.devices.results`` of every allocated claim counts, except
results with ``adminAccess: true`` (*"not considered as allocated"*). With ConsumableCapacity a
result with a ``shareID`` is a *shared* allocation: the device stays available to other claims,
and its ``consumedCapacity`` is summed per device (§5.7). Everything else holds the device
exclusively. Counters (§5.6) treat a device as allocated when it is held either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubectl_dra.alloc.features import Features
from kubectl_dra.model.claim import Claim
from kubectl_dra.model.device import qualify
from kubectl_dra.model.quantity import Quantity, QuantityError

DevKey = tuple[str, str, str]


def quantity(text: object) -> Quantity:
    """A quantity from API text; unparsable values count as zero (the API server rejects them)."""
    try:
        return Quantity.parse(str(text))
    except QuantityError:
        return Quantity.parse("0")


class ReservedPods:
    """claim ref -> the pods it is reserved for (``get`` only), each list made on first use: reasons
    name the pods of a few holders, 10,000 claims need not all be read."""

    __slots__ = ("_claims", "_pods")

    def __init__(self) -> None:
        self._claims: dict[str, Claim] = {}
        self._pods: dict[str, list[str]] = {}

    def get(self, ref: str, default: list[str] | None = None) -> list[str] | None:
        pods = self._pods.get(ref)
        if pods is None:
            claim = self._claims.get(ref)
            if claim is None:
                return default
            pods = self._pods[ref] = claim.reserved_pods
        return pods


@dataclass
class AllocatedState:
    #: device -> claims holding it exclusively
    holders: dict[DevKey, list[str]] = field(default_factory=dict)
    #: device -> claims holding a share of it (allowMultipleAllocations)
    sharers: dict[DevKey, list[str]] = field(default_factory=dict)
    #: device -> qualified capacity name -> consumed by shared allocations
    consumed: dict[DevKey, dict[str, Quantity]] = field(default_factory=dict)
    #: device -> claims with admin access to it (not allocations)
    admins: dict[DevKey, list[str]] = field(default_factory=dict)
    #: claim ref -> pods it is reserved for
    pods: ReservedPods = field(default_factory=ReservedPods)

    def allocated(self, key: DevKey) -> bool:
        """Held exclusively or shared (upstream ``IsDeviceAllocated``)."""
        return key in self.holders or key in self.sharers or key in self.consumed


def build_state(claims: list[Claim], features: Features) -> AllocatedState:
    state = AllocatedState()
    reserved = state.pods._claims
    for claim in claims:
        if not claim.allocated:
            continue
        ref = claim.ref
        if claim.reserved_for:
            reserved[ref] = claim
        for result in claim.results:
            key = (result.driver, result.pool, result.device)
            if result.admin_access:
                state.admins.setdefault(key, []).append(ref)
                continue
            if features.consumable_capacity and result.share_id:
                state.sharers.setdefault(key, []).append(ref)
                if result.consumed_capacity:
                    sums = state.consumed.setdefault(key, {})
                    for name, value in result.consumed_capacity.items():
                        qname = qualify(name, result.driver)
                        q = quantity(value)
                        sums[qname] = sums[qname].add(q) if qname in sums else q
                continue
            state.holders.setdefault(key, []).append(ref)
    return state
