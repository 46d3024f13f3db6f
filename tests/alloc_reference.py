"""A literal reference allocator for the property test in tests/test_alloc.py.

It shares no code with kubectl_dra (it imports nothing from it): a plain transcription of the
scheduler's depth-first search (dra-api.md §5.4) and of its two claim constraints (§5.5) for the
instances the property test generates: one node, one pool, one slice, devices with a string
attribute `color` and an optional int attribute `grp`, requests selected by color, constraints that
cover every request of their claim. No filtering and no early stops: every candidate device of every
slot is tried in slice order, so the first solution found is upstream's first solution.
"""

from __future__ import annotations

# An attribute value is a (type, value) pair: two values are equal only when both the type and the
# value are equal, as upstream compares DeviceAttribute unions.
Attributes = dict[str, tuple[str, object]]


class MatchAttribute:
    """matchAttributeConstraint: the first device fixes the value; later devices need the same one."""

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute
        self.value: tuple[str, object] | None = None
        self.devices = 0

    def add(self, request: str, attributes: Attributes) -> bool:
        value = attributes.get(self.attribute)
        if value is None:  # a device without the attribute never satisfies the constraint
            return False
        if self.devices == 0:
            self.value = value
            self.devices = 1
            return True
        if value != self.value:
            return False
        self.devices += 1
        return True

    def remove(self, request: str) -> None:
        self.devices -= 1


class DistinctAttribute:
    """The 1.36 incubating distinctAttributeConstraint, keyed by request name as upstream does."""

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute
        self.by_request: dict[str, tuple[str, object]] = {}
        self.devices = 0

    def add(self, request: str, attributes: Attributes) -> bool:
        value = attributes.get(self.attribute)
        if value is None:
            return False
        if self.devices == 0:
            self.by_request[request] = value
            self.devices = 1
            return True
        if value in self.by_request.values():
            return False
        self.by_request[request] = value
        self.devices += 1
        return True

    def remove(self, request: str) -> None:
        self.by_request.pop(request, None)
        self.devices -= 1


CONSTRAINTS = {"match": MatchAttribute, "distinct": DistinctAttribute}


class LiteralAllocator:
    """allocateOne without shortcuts.

    devices: [(name, attributes)] in slice order; in_use: names allocated to other claims;
    claims: per claim [(request name, [(subrequest name, count, color or None), ...])] where one
    alternative is an `exactly` request and several are `firstAvailable` subrequests;
    constraints: per claim [("match" | "distinct", fully-qualified attribute name)].
    """

    def __init__(self, devices, in_use, claims, constraints, color_attribute: str) -> None:
        self.devices = devices
        self.in_use = set(in_use)
        self.claims = claims
        self.constraints = [[CONSTRAINTS[kind](attribute) for kind, attribute in per_claim] for per_claim in constraints]
        self.color_attribute = color_attribute
        self.picked: set[str] = set()
        self.results: list[list[tuple[str, str]]] = [[] for _ in claims]

    def allocate(self) -> list[list[tuple[str, str]]] | None:
        """Per claim [(result request name, device name)], or None when nothing fits."""
        return self.results if self._claim(0) else None

    def _claim(self, ci: int) -> bool:
        return ci == len(self.claims) or self._request(ci, 0)

    def _request(self, ci: int, ri: int) -> bool:
        if ri == len(self.claims[ci]):
            return self._claim(ci + 1)
        name, alternatives = self.claims[ci][ri]
        for sub, count, color in alternatives:  # the first alternative that leads to a full solution wins
            result_name = name if len(alternatives) == 1 else f"{name}/{sub}"
            if self._slot(ci, ri, name, result_name, count, color, 0, 0):
                return True
        return False

    def _slot(self, ci, ri, request, result_name, count, color, slot, start) -> bool:
        if slot == count:
            return self._request(ci, ri + 1)
        for k in range(start, len(self.devices)):  # combinations: after the previous slot's device
            name, attributes = self.devices[k]
            if name in self.in_use or name in self.picked:
                continue
            if color is not None and attributes.get(self.color_attribute) != ("string", color):
                continue
            added = []
            for constraint in self.constraints[ci]:
                if not constraint.add(request, attributes):
                    break
                added.append(constraint)
            else:
                self.picked.add(name)
                self.results[ci].append((result_name, name))
                if self._slot(ci, ri, request, result_name, count, color, slot + 1, k + 1):
                    return True
                self.results[ci].pop()
                self.picked.discard(name)
            for constraint in added:
                constraint.remove(request)
        return False
