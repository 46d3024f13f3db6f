"""CEL cost limits of DRA selectors, computed on the checked AST (cel-expr-python has no cost tracking).

Kubernetes applies two limits to a device selector, both ``resourceapi.CELSelectorExpressionMaxCost``
(1,000,000 cost units):

* **the compile-time estimate** — the API server (``validateCELSelector`` in
  pkg/apis/resource/validation, for ResourceClaims, ResourceClaimTemplates and DeviceClasses) compiles
  with cost estimation and rejects an expression whose worst-case estimate is above the limit:
  ``spec...selectors[i].cel.expression: Forbidden: too complex, exceeds cost limit``. The scheduler
  compiles without the estimate (``cel.Cache.GetOrCompile``: ``DisableCostEstimation``).
* **the runtime cost limit** — every evaluation runs under ``cel.CostLimit`` (``cel/compile.go``); when
  the actual cost passes it, cel-go stops with ``operation cancelled: actual cost limit exceeded``, a
  runtime error for that device (the scheduler's allocator then aborts the node).

:func:`estimate` reproduces the estimate: cel-go v0.26.0 ``checker.Cost`` (checker/cost.go), with the
estimators the Kubernetes 1.36 environment installs, consulted in cel-go's order — the extensions'
per-overload estimators (lists v3: slice, flatten, range, reverse, distinct, sort; sets), then
``draCostEstimator`` (k8s.io/dynamic-resource-allocation/cel) around the Kubernetes library
``CostEstimator`` (apiserver/pkg/cel/library/cost.go) with DRA's ``sizeEstimator`` (the size hints of the
``device`` variable: driver 63, domains 63, ids 32, 32 domains and 32 ids per map, attribute values 64,
allowMultipleAllocations 1), then cel-go's own per-overload rules, and ``has()`` free
(``PresenceTestHasCost(false)``). It walks the AST that kubectl_dra.cel.checker type-checked with
cel-cpp; where that AST is shaped differently from cel-go's, the difference is undone here
(``device.attributes`` is one qualified identifier there, an identifier and a select in cel-go;
``has(device.<field>)`` is checked as ``true``).

The runtime limit: cel-go's *actual* cost depends on its interpreter's plan (constant folding, attribute
qualifiers, short-circuits, the values), which cel-expr-python cannot reproduce step by step (it has no
cost tracking). Two static figures decide instead, from the checked AST and the sizes of one concrete
device (:func:`device_sizes`):

* :func:`bound` — an upper bound of the actual cost: the estimator with the run-time rules where cel-go's
  estimate undercounts (an index or select on a computed value costs an attribute and a qualifier step;
  startsWith/endsWith cost by the receiver; split/findAll may return one part more, strings.quote
  up to ten characters a character). When it is within
  the limit (with upstream's maxima: checked once at compile time; else per device), the limit cannot be
  reached and the engine's answer stands — exact.
* :func:`lower` — a lower bound: only steps every evaluation takes (identifiers, calls that cost at least
  one unit, comprehensions that cannot stop early, with the device's real map sizes). Above the limit:
  upstream's runtime error ``operation cancelled: actual cost limit exceeded`` — exact.

Between the two the engine's answer is kept: the limit is then not enforced (documented in
docs/fidelity.md; the oracle measures how often). cel-expr-python also stops any evaluation after
10,000 comprehension iterations (Kubernetes has no such limit): that is a runtime error saying so
(``ENGINE_BUDGET``), or upstream's limit error when the lower bound proves it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .checker import Checked, Node

#: resourceapi.CELSelectorExpressionMaxCost
LIMIT = 1_000_000
#: cel-go's message when the runtime limit is passed (interpreter/runtimecost.go)
EXCEEDED = "operation cancelled: actual cost limit exceeded"
#: the API server's validation message (pkg/apis/resource/validation: validateCELSelector)
TOO_COMPLEX = "too complex, exceeds cost limit"

U64 = (1 << 64) - 1
_TWO_64 = float(1 << 64)

# cel-go common/cost.go
SELECT_AND_IDENT = 1
LIST_CREATE = 10
MAP_CREATE = 30
STRUCT_CREATE = 40
STRING_TRAVERSAL = 0.1
REGEX_LENGTH = 0.25

# k8s.io/api/resource/v1 limits that size the `device` variable
DRIVER_NAME_MAX = 63
DOMAIN_MAX = 63
ID_MAX = 32
ATTRIBUTES_AND_CAPACITIES_MAX = 32
ATTRIBUTE_VALUE_MAX = 64
ATTRIBUTE_VALUES_MAX = 48


# ------------------------------------------------------------------ uint64 arithmetic as cel-go does it


def _add(x: int, y: int) -> int:
    return U64 if y > 0 and x > U64 - y else x + y


def _mul(x: int, y: int) -> int:
    return U64 if y != 0 and x > U64 // y else x * y


def _factor(x: int, f: float) -> int:
    """multiplyByCostFactor: ceil(float64(x) * f), saturating."""
    xf = float(x)
    if xf > 0 and f > 0 and xf > _TWO_64 / f:
        return U64
    c = math.ceil(xf * f)
    return U64 if c >= _TWO_64 else int(c)


Est = tuple[int, int]  # (min, max): a SizeEstimate or a CostEstimate

UNKNOWN: Est = (0, U64)
ZERO: Est = (0, 0)
ONE: Est = (1, 1)


def e_add(a: Est, b: Est) -> Est:
    return _add(a[0], b[0]), _add(a[1], b[1])


def e_mul(a: Est, b: Est) -> Est:
    return _mul(a[0], b[0]), _mul(a[1], b[1])


def e_factor(a: Est, f: float) -> Est:
    return _factor(a[0], f), _factor(a[1], f)


def e_union(a: Est, b: Est) -> Est:
    return min(a[0], b[0]), max(a[1], b[1])


def fixed(n: int) -> Est:
    return n, n


# ------------------------------------------------------------------ DRA's size hints (sizeEstimator)


@dataclass(eq=False)
class Decl:
    """The part of apiservercel.DeclType the size estimator reads."""

    max_elements: int
    fields: dict[str, Decl] = field(default_factory=dict)
    key: Decl | None = None
    elem: Decl | None = None


@dataclass(frozen=True)
class Sizes:
    """The size hints: upstream's maxima by default, one device's real sizes in :func:`device_bound`."""

    driver: int = DRIVER_NAME_MAX
    domain: int = DOMAIN_MAX
    ident: int = ID_MAX
    attr_domains: int = ATTRIBUTES_AND_CAPACITIES_MAX
    attr_ids: int = ATTRIBUTES_AND_CAPACITIES_MAX
    cap_domains: int = ATTRIBUTES_AND_CAPACITIES_MAX
    cap_ids: int = ATTRIBUTES_AND_CAPACITIES_MAX
    value: int = ATTRIBUTE_VALUE_MAX

    def device(self) -> tuple[Decl, Decl]:
        """(the device type, the attribute value type) as ``newCompiler`` declares them."""
        attribute = Decl(self.value)
        domain, ident = Decl(self.domain), Decl(self.ident)
        inner_attrs = Decl(self.attr_ids, key=ident, elem=attribute)
        inner_caps = Decl(self.cap_ids, key=ident, elem=Decl(0))  # QuantityDeclType: MaxElements 0
        device = Decl(0, fields={
            "driver": Decl(self.driver),
            "attributes": Decl(self.attr_domains, key=domain, elem=inner_attrs),
            "capacity": Decl(self.cap_domains, key=domain, elem=inner_caps),
            "allowMultipleAllocations": Decl(1),
        })
        return device, attribute


UPSTREAM = Sizes()


def _path_size(path: list[str] | None, device: Decl, attribute: Decl) -> Est | None:
    """DRA's ``sizeEstimator.EstimateSize``: the maximum size of what a path in ``device`` reaches."""
    if not path or path[0] != "device":
        return None
    node = device
    for name in path[1:]:
        if name in ("@items", "@values"):
            if node.elem is None:
                return None
            node = node.elem
        elif name == "@keys":
            if node.key is None:
                return None
            node = node.key
        else:
            f = node.fields.get(name)
            if f is None:
                if node.elem is attribute:
                    node = attribute
                    continue
                return None
            node = f
    return 0, node.max_elements


# ------------------------------------------------------------------ types


def _kind(t: tuple | None) -> str:
    """cel-go's types.Kind of a checked type (as far as the estimator looks at it)."""
    if t is None:
        return "dyn"
    k = t[0]
    if k == "prim":
        return t[1]
    if k == "wk":
        return {"google.protobuf.Timestamp": "timestamp", "google.protobuf.Duration": "duration"}.get(t[1], "any")
    if k == "abstract":
        # Quantity, Semver and the device are object types in cel-go
        return "opaque" if t[1] == "optional_type" else "struct"
    if k == "message":
        return "struct"
    if k == "param":
        return "typeparam"
    return k  # list, map, dyn, null_type, type, error


def _scalar(t: tuple | None) -> bool:
    k = _kind(t)
    if k in ("bool", "double", "duration", "int", "timestamp", "uint"):
        return True
    if k == "opaque" and t is not None and t[1] == "optional_type" and t[2]:
        return _scalar(t[2][0])
    return False


# ------------------------------------------------------------------ the coster


@dataclass
class _Var:
    path: list[str] | None
    size: Est | None
    entry: _Entry | None


@dataclass
class _Entry:
    container: str  # list | map
    key: Est
    val: Est

    def union(self, other: _Entry | None) -> _Entry | None:
        if other is None:
            return None
        return _Entry(self.container, e_union(self.key, other.key), e_union(self.val, other.val))


@dataclass
class _AstNode:
    """checker.AstNode: what estimators see of an argument."""

    path: list[str] | None
    type: tuple | None
    expr: Node | None
    size: Est | None


_ACCUMULATORS = ("@result", "__result__")


class _Coster:
    def __init__(self, checked: Checked, sizes: Sizes, presence: frozenset[int], sound: bool = False):
        #: sound: an upper bound of the actual cost, not cel-go's estimate (see bound())
        self.sound = sound
        self.checked = checked
        self.types = checked.types
        self.device, self.attribute = sizes.device()
        self.presence = presence
        self.paths: dict[int, list[str]] = {}
        self.sizes: dict[int, Est] = {}
        self.entries: dict[int, _Entry] = {}
        self.scopes: dict[str, list[_Var]] = {}

    # ---------------------------------------------------------- scopes
    def _push(self, name: str, var: _Var) -> None:
        self.scopes.setdefault(name, []).append(var)

    def _pop(self, name: str) -> None:
        stack = self.scopes.get(name)
        if stack:
            stack.pop()

    def _peek(self, name: str) -> _Var | None:
        stack = self.scopes.get(name)
        return stack[-1] if stack else None

    # ---------------------------------------------------------- sizes and paths
    def type(self, e: Node) -> tuple | None:
        t = self.types.get(e.id)
        if t == ("dyn",) and e.kind == "call" and e.target is not None:
            # reverse, slice, distinct, flatten are generic upstream (list(T) -> list(T)); they are declared
            # per element type here, so on a list of dyn the checker settles on dyn: still a list
            ovs = self.checked.references.get(e.id) or ()
            if ovs and all(o.startswith(_GENERIC_LIST) for o in ovs):
                return ("list", ("dyn",))
        return t

    def path(self, e: Node) -> list[str] | None:
        if e.kind == "ident":
            v = self._peek(e.value)
            if v is not None:
                return list(v.path) if v.path is not None else None
        p = self.paths.get(e.id)
        return list(p) if p is not None else None

    def estimate_size(self, path: list[str] | None) -> Est | None:
        return _path_size(path, self.device, self.attribute)

    def size(self, e: Node) -> Est | None:
        """computeSize."""
        got = self.sizes.get(e.id)
        if got is not None:
            return got
        lit = _literal_size(e)
        if lit is not None:
            return lit
        est = self.estimate_size(self.path(e))
        if est is not None:
            self.sizes[e.id] = est
            return est
        if _scalar(self.type(e)):
            return ONE
        v = self._local(e)
        return v.size if v is not None else None

    def size_or_unknown(self, e: Node) -> Est:
        s = self.size(e)
        return s if s is not None else UNKNOWN

    def entry(self, e: Node) -> _Entry | None:
        got = self.entries.get(e.id)
        if got is not None:
            return got
        v = self._local(e)
        return v.entry if v is not None else None

    def _local(self, e: Node) -> _Var | None:
        """The comprehension/bind variable an identifier names, if it names one."""
        return self._peek(e.value) if e.kind == "ident" else None

    def copy_estimates(self, dst: Node, src: Node) -> None:
        """copySizeEstimates: ``dst`` has ``src``'s size and entry sizes."""
        s = self.size(src)
        if s is not None:
            self.sizes[dst.id] = s
        ent = self.entry(src)
        if ent is not None:
            self.entries[dst.id] = ent

    def ast_node(self, e: Node) -> _AstNode:
        path = self.path(e)
        if path and path[0] in _ACCUMULATORS:
            path = None
        return _AstNode(path, self.type(e), e, self.size(e))

    def node_size(self, n: _AstNode) -> Est:
        """The library estimators' sizeEstimate: computed size, else the size hints, else unknown."""
        if n.size is not None:
            return n.size
        est = self.estimate_size(n.path)
        return est if est is not None else UNKNOWN

    # ---------------------------------------------------------- costs
    def cost(self, e: Node | None) -> Est:
        if e is None:
            return ZERO
        k = e.kind
        if k == "const":
            return ONE if self.checked.positions.get(e.id) in self.presence else ZERO
        if k == "ident":
            return self.cost_ident(e)
        if k == "select":
            return self.cost_select(e)
        if k == "call":
            return self.cost_call(e)
        if k == "list":
            return self.cost_list(e)
        if k == "struct":
            return self.cost_map(e)
        if k == "comprehension":
            return self.cost_bind(e) if self.is_bind(e) else self.cost_comprehension(e)
        return ZERO

    def cost_ident(self, e: Node) -> Est:
        name = e.value
        v = self._peek(name)
        if v is not None:
            self.paths[e.id] = list(v.path) if v.path is not None else []
            return fixed(SELECT_AND_IDENT)
        if name.startswith("device.") and self._peek("device") is None:
            # cel-cpp resolves `device.attributes` as one qualified variable; cel-go reads the
            # identifier `device` and selects a field of the object: two steps
            self.paths[e.id] = name.split(".")
            return fixed(2 * SELECT_AND_IDENT)
        self.paths[e.id] = [name]
        return fixed(SELECT_AND_IDENT)

    def cost_select(self, e: Node) -> Est:
        operand = e.target
        if e.test_only:
            return e_add(ZERO, self.cost(operand))  # PresenceTestHasCost(false)
        total = self.cost(operand)
        if _kind(self.type(operand)) in ("map", "struct", "typeparam"):
            total = e_add(total, fixed(SELECT_AND_IDENT))
        if self.sound:
            total = e_add(total, ONE)  # at run time an attribute and its qualifier both cost
        base = self.path(operand) or []
        self.paths[e.id] = [*base, e.value]
        return total

    def cost_call(self, e: Node) -> Est:
        if e.value == "dyn" and len(e.args) == 1:
            c = self.cost(e.args[0])
            self.copy_estimates(e, e.args[0])
            return e_add(ONE, c)
        args = e.args
        arg_costs = [self.cost(a) for a in args]
        arg_nodes = [self.ast_node(a) for a in args]
        overloads = self.checked.references.get(e.id) or []
        if not overloads:
            return ZERO
        if e.value == "@in" and len(args) == 2 and len(overloads) > 1:
            container = _kind(self.type(args[1]))  # a generic list function's result: a list (see type())
            if container in ("list", "map"):
                overloads = [o for o in overloads if o == f"in_{container}"] or overloads
        total = ZERO
        target = None
        if e.target is not None:
            total = e_add(total, self.cost(e.target))
            target = self.ast_node(e.target)
        fn: Est = (U64, 0)
        result: Est | None = None
        for overload in overloads:
            est, size = self.function_cost(e, e.value, overload, target, arg_nodes, arg_costs)
            fn = e_union(fn, est)
            if size is not None:
                result = size if result is None else e_union(result, size)
            if overload in ("index_list", "index_map") and args:
                ent = self.entry(args[0])
                result = ent.val if ent is not None else None
                self.paths[e.id] = [*(self.path(args[0]) or []), "@items" if overload == "index_list" else "@values"]
            if result is None:
                result = self.size(e)
        if self.sound and e.value in ("_[_]", "_[?_]", "_?._", "split", "findAll"):
            fn = e_add(fn, ONE)  # an attribute and its qualifier; split/findAll: one part more than hinted
            if result is not None and e.value in ("split", "findAll"):
                result = e_add(result, ONE)
        if result is not None:
            self.sizes[e.id] = result
        return e_add(total, fn)

    def cost_list(self, e: Node) -> Est:
        total = ZERO
        item: Est = (U64, 0) if e.args else (0, 0)
        for a in e.args:
            total = e_add(total, self.cost(a))
            item = e_union(item, self.size_or_unknown(a))
        self.entries[e.id] = _Entry("list", ONE, item)
        return e_add(total, fixed(LIST_CREATE))

    def cost_map(self, e: Node) -> Est:
        total = ZERO
        empty = not e.args
        key: Est = (0, 0) if empty else (U64, 0)
        val: Est = (0, 0) if empty else (U64, 0)
        for k, v in zip(e.keys, e.args):
            total = e_add(total, self.cost(k))
            total = e_add(total, self.cost(v))
            key = e_union(key, self.size_or_unknown(k) if k is not None else UNKNOWN)
            val = e_union(val, self.size_or_unknown(v))
        self.entries[e.id] = _Entry("map", key, val)
        return e_add(total, fixed(MAP_CREATE))

    def is_bind(self, e: Node) -> bool:
        rng, _, cond, _, _ = e.args
        return (rng.kind == "list" and not rng.args and cond.kind == "const" and cond.value is False
                and e.value[1] != "@result")

    def cost_bind(self, e: Node) -> Est:
        rng, init, _, _, result = e.args
        total = e_add(self.cost(rng), self.cost(init))
        self._push(e.value[1], _Var(self.path(init), self.size(init), self.entry(init)))
        total = e_add(total, self.cost(result))
        self._pop(e.value[1])
        self.copy_estimates(e, result)
        return total

    def cost_comprehension(self, e: Node) -> Est:
        rng, init, cond, step, result = e.args
        iter_var, accu_var = e.value
        total = e_add(self.cost(rng), self.cost(init))
        self._push(accu_var, _Var(self.path(init), self.size(init), self.entry(init)))
        # pushIterSingle (one-variable comprehensions: the only kind this engine parses)
        ent = self.entry(rng)
        container = ent.container if ent is not None else _kind(self.type(rng))
        if container == "list":
            size, sub = (ent.val if ent is not None else None), "@items"
        else:
            size, sub = (ent.key if ent is not None else None), "@keys"
        base = self.path(rng) or []
        self._push(iter_var, _Var([*base, sub], size, None))
        loop = self.cost(cond)
        step_cost = self.cost(step)
        self._pop(iter_var)
        total = e_add(total, self.cost(result))
        self._pop(accu_var)
        count = self.size_or_unknown(rng)
        total = e_add(total, e_mul(count, e_add(step_cost, loop)))
        if init.kind == "const":
            s = self.size(init)
            if s is not None:
                self.sizes[e.id] = s
        elif init.kind in ("list", "struct"):
            self.sizes[e.id] = count
            step_entry = self.entry(step)
            if step_entry is not None:
                self.entries[e.id] = step_entry
        return total

    # ---------------------------------------------------------- calls
    def function_cost(self, e: Node, fn: str, overload: str, target: _AstNode | None,
                      args: list[_AstNode], arg_costs: list[Est]) -> tuple[Est, Est | None]:
        arg_sum = ZERO
        for c in arg_costs:
            arg_sum = e_add(arg_sum, c)
        # 1. the extensions' per-overload estimators (cel.CostEstimatorOptions)
        got = self.overload_estimate(fn, overload, target, args)
        if got is not None:
            return e_add(got[0], arg_sum), got[1]
        # 2. draCostEstimator -> Kubernetes library CostEstimator
        got = self.library_estimate(fn, overload, target, args)
        if got is not None:
            return e_add(got[0], arg_sum), got[1]
        # 3. cel-go's own rules
        sz = self.node_size
        if overload == "string_format" and target is not None:
            return e_add(e_factor(sz(target), STRING_TRAVERSAL), arg_sum), None
        if overload in ("string_to_bytes", "bytes_to_string", "strings_quote") and len(args) == 1:
            s = sz(args[0])
            # plain Go uint64 arithmetic here: it wraps around
            result = {"string_to_bytes": (s[0], (s[1] * 4) & U64), "bytes_to_string": (s[0] // 4, s[1]),
                      "strings_quote": ((s[0] + 2) & U64, (s[1] * 2 + 2) & U64)}[overload]
            if self.sound and overload == "strings_quote":  # an escape takes up to 10 characters (\U0010FFFF)
                result = (result[0], _add(_mul(s[1], 10), 2))
            return e_add(e_factor(s, STRING_TRAVERSAL), arg_sum), result
        if overload in ("starts_with_string", "ends_with_string") and len(args) == 1:
            s = sz(args[0])
            if self.sound and target is not None and target.size is not None:
                s = e_union(s, target.size)  # at run time the receiver's size counts
            return e_add(e_factor(s, STRING_TRAVERSAL), arg_sum), None
        if overload == "in_list" and len(args) == 2:
            return e_add(e_factor(sz(args[1]), 1), arg_sum), None
        if overload == "matches_string" and target is not None and len(args) == 1:
            s = e_factor(e_add(sz(target), ONE), STRING_TRAVERSAL)
            r = e_factor(sz(args[0]), REGEX_LENGTH)
            return e_add(e_mul(s, r), arg_sum), None
        if overload == "contains_string" and target is not None and len(args) == 1:
            s = e_factor(sz(target), STRING_TRAVERSAL)
            r = e_factor(sz(args[0]), STRING_TRAVERSAL)
            return e_add(e_mul(s, r), arg_sum), None
        if overload in ("logical_or", "logical_and"):
            lhs, rhs = arg_costs[0], arg_costs[1]
            return (lhs[0], e_add(lhs, rhs)[1]), None
        if overload == "conditional":
            size = e_union(sz(args[1]), sz(args[2]))
            ent = self.entry(args[1].expr) if args[1].expr is not None else None
            ent = ent.union(self.entry(args[2].expr)) if ent is not None and args[2].expr is not None else None
            if ent is not None:
                self.entries[e.id] = ent
            return e_add(arg_costs[0], e_union(arg_costs[1], arg_costs[2])), size
        if overload in ("add_string", "add_bytes", "add_list") and len(args) == 2:
            size = e_add(sz(args[0]), sz(args[1]))
            lhs = self.entry(args[0].expr) if args[0].expr is not None else None
            rhs = self.entry(args[1].expr) if args[1].expr is not None else None
            ent = lhs.union(rhs) if lhs is not None else None
            if ent is not None:
                self.entries[e.id] = ent
            if overload == "add_list":
                return e_add(ONE, arg_sum), size
            return e_add(e_factor(size, STRING_TRAVERSAL), arg_sum), size
        if overload in _SIZED_COMPARISONS:
            lhs, rhs = sz(args[0]), sz(args[1])
            smallest = min(lhs[1], rhs[1])
            return e_add(e_factor((1 if smallest > 0 else 0, smallest), STRING_TRAVERSAL), arg_sum), None
        return e_add(ONE, arg_sum), None

    def overload_estimate(self, fn: str, overload: str, target: _AstNode | None,
                          args: list[_AstNode]) -> tuple[Est, Est | None] | None:
        """The ext.Lists(3) and ext.Sets() per-overload estimators (cel.CostEstimatorOptions)."""
        sz = self.node_size
        if overload.startswith(("list_sets_contains_list", "list_sets_intersects_list", "list_sets_equivalent_list")):
            if len(args) != 2:
                return None
            factor = 2 if overload.startswith("list_sets_equivalent") else 1
            return e_add(e_factor(e_mul(sz(args[0]), sz(args[1])), factor), ONE), None
        if overload == "lists_range":
            if target is not None or len(args) != 1:
                return None
            return _allocating(1, fixed(_int_literal(args[0], U64)))
        if target is None:
            return None
        if overload.startswith("list_slice"):
            if len(args) != 2:
                return None
            s = sz(target)
            start, end = _int_literal(args[0], 0), _int_literal(args[1], s[1])
            return _allocating(1, fixed((end - start) & U64))
        if overload.startswith("list_flatten"):
            if len(args) > 1:
                return None
            depth = _int_literal(args[0], U64) if args else 1
            return _allocating(float(depth), sz(target))
        if overload.startswith("list_reverse"):
            return _allocating(1, sz(target)) if not args else None
        if overload.startswith("list_distinct"):
            if args:
                return None
            s = sz(target)
            return _allocating(2.0, e_mul(s, s))
        m = _SORT_RE.match(overload)
        if m:
            if args:
                return None
            s = sz(target)
            factor = 2.0 + (STRING_TRAVERSAL if m.group(1) in ("string", "bytes") else 0)
            return _allocating(factor, e_mul(s, s))
        return None

    def library_estimate(self, fn: str, overload: str, target: _AstNode | None,
                         args: list[_AstNode]) -> tuple[Est, Est | None] | None:
        """draCostEstimator and the Kubernetes library CostEstimator.EstimateCallCost."""
        sz = self.node_size
        if fn in ("isSorted", "sum", "max", "min", "indexOf", "lastIndexOf"):
            if target is None:
                return None
            elem = self.list_element(target)
            if elem is not None:
                el_cost = ONE
                if _kind(elem.type) in ("string", "bytes"):
                    el_cost = e_add(el_cost, e_factor(sz(elem), STRING_TRAVERSAL))
                return e_mul(sz(target), el_cost), None
            if self.sound:  # a dyn receiver may be a list: at run time each element costs at least 1
                return e_union(e_factor(sz(target), STRING_TRAVERSAL), sz(target)), None
            return e_factor(sz(target), STRING_TRAVERSAL), None
        if fn in ("url", "jsonpatch.escapeKey"):
            if len(args) == 1:
                s = sz(args[0])
                return e_factor(s, STRING_TRAVERSAL), s
            return None
        if fn in ("lowerAscii", "upperAscii", "substring", "trim"):
            if target is None:
                return None
            s = sz(target)
            return e_factor(s, STRING_TRAVERSAL), s
        if fn == "replace":
            if target is None or len(args) < 2:
                return None
            return _replace(sz(target), sz(args[0]), sz(args[1]))
        if fn == "split":
            if target is None:
                return None
            s = sz(target)
            top = s[1]
            if len(args) > 1 and args[1].expr is not None and args[1].expr.kind == "const" \
                    and args[1].expr.const_kind == "int":
                top = args[1].expr.value & U64
            return e_factor(s, 2 * STRING_TRAVERSAL), (0, top)
        if fn == "join":
            if target is None:
                return None
            size = ZERO
            n = sz(target)
            elem = self.list_element(target)
            if elem is not None:
                size = e_mul(n, sz(elem))
            if args:
                seps = (n[0] - 1 if n[0] > 0 else 0, n[1] - 1 if n[1] > 0 else 0)
                size = e_add(size, e_mul(sz(args[0]), seps))
            return e_factor(size, STRING_TRAVERSAL), size
        if fn in ("find", "findAll"):
            if target is None or not args:
                return None
            s = sz(target)
            cost = e_mul(e_factor(e_add(s, ONE), STRING_TRAVERSAL), e_factor(sz(args[0]), REGEX_LENGTH))
            return cost, (0, s[1])
        if fn in ("cidr", "isIP", "isCIDR", "quantity", "isQuantity", "semver", "isSemver"):
            if args:
                return e_factor(sz(args[0]), STRING_TRAVERSAL), None
            return None
        if fn in ("sign", "asInteger", "isInteger", "asApproximateFloat", "isGreaterThan", "isLessThan",
                  "compareTo", "add", "sub", "major", "minor", "patch", "format.named",
                  "getScheme", "getHostname", "getHost", "getPort", "getEscapedPath", "getQuery",
                  "masked", "prefixLength", "family", "isUnspecified", "isLoopback", "isLinkLocalMulticast",
                  "isLinkLocalUnicast", "isGlobalUnicast"):
            return ONE, None
        if fn == "_==_" and len(args) == 2:
            a, b = args[0].type, args[1].type
            if a is not None and a == b and a[0] == "abstract" and a[1] in ("kubernetes.Quantity", "kubernetes.Semver"):
                return ONE, None
        return None

    def list_element(self, n: _AstNode) -> _AstNode | None:
        """listElementNode: the first type parameter (a list's element, a map's key) at path + @items."""
        t = n.type
        if t is None or t[0] not in ("list", "map"):
            return None
        path = [*n.path, "@items"] if n.path is not None else None
        return _AstNode(path, t[1], None, None)


_GENERIC_LIST = ("list_reverse", "list_slice", "list_distinct", "list_flatten")
_SORT_RE = re.compile(r"^list_(\w+?)_sort$")

_SIZED_COMPARISONS = frozenset({
    "less_string", "greater_string", "less_equals_string", "greater_equals_string",
    "less_bytes", "greater_bytes", "less_equals_bytes", "greater_equals_bytes", "equals", "not_equals",
})


def _literal_size(e: Node) -> Est | None:
    """computeExprSize."""
    if e.kind == "const":
        if e.const_kind == "string":
            return fixed(len(e.value))
        if e.const_kind == "bytes":
            return fixed(len(e.value))
        if e.const_kind in ("bool", "double", "int", "uint", "null"):
            return ONE
        return None
    if e.kind == "list":
        return fixed(len(e.args))
    if e.kind == "struct":
        return fixed(len(e.args))
    return None


def _int_literal(n: _AstNode, default: int) -> int:
    """ext nodeAsIntValue: an int literal (negative: 0), else the default."""
    e = n.expr
    if e is None or e.kind != "const" or e.const_kind != "int":
        return default
    return 0 if e.value < 0 else e.value


def _allocating(factor: float, size: Est) -> tuple[Est, Est]:
    """ext estimateAllocatingListCall."""
    return e_add(e_add(e_factor(size, factor), ONE), fixed(LIST_CREATE)), size


def _replace_side(n: int, divisor: int, kept: bool) -> tuple[int, int]:
    """(replacement count, retained size) of one side of the replace() estimate."""
    if divisor == 0:
        return (n + 1 if n < U64 else n), n
    if kept:
        return 0, n
    return min(math.ceil(float(n) / float(divisor)), U64), 0


def _replace(s: Est, old: Est, new: Est) -> tuple[Est, Est]:
    """The Kubernetes library's replace() estimate: (cost, result size)."""
    count_max, retained_max = _replace_side(s[1], old[0], new[1] <= old[0])
    count_min, retained_min = _replace_side(s[0], old[1], old[1] <= new[0])
    size = e_add(e_mul((count_min, count_max), new), (retained_min, retained_max))
    return e_factor(s, 2 * STRING_TRAVERSAL), size


def estimate(checked: Checked, presence: frozenset[int] = frozenset(), sizes: Sizes = UPSTREAM) -> Est:
    """cel-go's cost estimate (min, max) of a checked selector in Kubernetes' DRA environment."""
    return _Coster(checked, sizes, presence).cost(checked.root)


def bound(checked: Checked, presence: frozenset[int] = frozenset(), sizes: Sizes = UPSTREAM) -> int:
    """An upper bound of cel-go's actual cost for any device within ``sizes``.

    cel-go's estimate is not one: at run time an index or select on a computed value costs an
    attribute step and a qualifier step (1 in the estimate), startsWith/endsWith cost by the receiver's
    size (the estimate takes the argument's), split and findAll can return one part more than the size
    hint. The bound counts those the run-time way; the oracle checks ``actual <= bound`` on every
    generated case (tests/e2e/test_oracle_cel_cost.py).
    """
    return _Coster(checked, sizes, presence, sound=True).cost(checked.root)[1]


def device_sizes(data: dict[str, Any]) -> Sizes:
    """The size hints of one concrete ``device`` variable (each no larger than upstream's maximum)."""
    attrs, caps = data["attributes"], data["capacity"]
    domains = [*attrs, *caps]
    idents = [i for m in (*attrs.values(), *caps.values()) for i in m]
    longest = 0
    for m in attrs.values():
        for v in m.values():
            if isinstance(v, (str, bytes, list)):
                longest = max(longest, len(v))
            elif isinstance(v, dict):  # a semver value: sized like its text
                longest = max(longest, max((len(x) for x in v.values() if isinstance(x, str)), default=1))
            else:
                longest = max(longest, 1)
    return Sizes(
        driver=len(data["driver"]),
        domain=max((len(d) for d in domains), default=0),
        ident=max((len(i) for i in idents), default=0),
        attr_domains=len(attrs),
        attr_ids=max((len(m) for m in attrs.values()), default=0),
        cap_domains=len(caps),
        cap_ids=max((len(m) for m in caps.values()), default=0),
        value=longest,
    )


def _figure(n: int) -> str:
    return "unbounded" if n >= U64 else str(n)


def too_complex_message(max_cost: int) -> str:
    """The compile error of an expression the API server would reject for its estimate."""
    return f"CEL expression {TOO_COMPLEX}: estimated cost {_figure(max_cost)}, limit {LIMIT}"


#: the runtime error when cel-expr-python stops (a limit of this engine, not of Kubernetes)
ENGINE_BUDGET = ("kubectl-dra cannot evaluate this: its CEL engine (cel-expr-python) stops after 10,000 "
                 "comprehension iterations in one evaluation; Kubernetes has no such limit (only the cost limit)")

TOO_COMPLEX_HINT = ("the API server rejects a selector whose worst-case cost estimate is above the limit; macros "
                    "(all, exists, map, filter) nested in one another, and comparing or searching values of unknown "
                    "size (type(), join(), orValue() results) estimate high")


# ------------------------------------------------------------------ a lower bound of the actual cost

#: functions whose run-time cost depends on a size and can be 0 (or that cel-go may fold): no unit counted
_SIZED_CALLS = frozenset({
    "isSorted", "sum", "max", "min", "indexOf", "lastIndexOf", "url", "lowerAscii", "upperAscii", "substring",
    "trim", "replace", "split", "join", "find", "findAll", "cidr", "isIP", "isCIDR", "ip", "quantity",
    "isQuantity", "semver", "isSemver", "startsWith", "endsWith", "bytes", "string", "strings.quote", "format",
    "@in", "_<_", "_<=_", "_>_", "_>=_", "_==_", "_!=_", "_+_", "matches", "contains", "dyn",
    "_[_]", "_[?_]", "_?._",
})


def _constant(e: Node) -> bool:
    if e.kind == "const":
        return True
    if e.kind == "list":
        return all(_constant(a) for a in e.args)
    if e.kind == "struct":
        return all(k is not None and _constant(k) for k in e.keys) and all(_constant(a) for a in e.args)
    return False


def _attribute(e: Node) -> bool:
    """An expression cel-go plans as an attribute (a variable with selects and indexes)."""
    return e.kind in ("ident", "select") or (e.kind == "call" and e.value in ("_[_]", "_[?_]", "_?._"))


class _Lower:
    """A lower bound of cel-go's actual cost on one device: only steps every evaluation must take."""

    def __init__(self, sizes: Sizes):
        self.sizes = sizes

    def count(self, e: Node) -> int:
        """How many elements a comprehension range certainly has (0 when not known)."""
        if e.kind == "list":
            return len(e.args)
        if e.kind == "struct":
            return len(e.args)
        if e.kind == "call" and e.value == "lists.range" and e.target is None and len(e.args) == 1:
            a = e.args[0]
            if a.kind == "const" and a.const_kind == "int":
                return max(a.value, 0)
        if e.kind == "ident" and e.value == "device.attributes":
            return self.sizes.attr_domains
        if e.kind == "ident" and e.value == "device.capacity":
            return self.sizes.cap_domains
        return 0

    def cost(self, e: Node | None, accu: str | None = None) -> int:
        if e is None:
            return 0
        k = e.kind
        if k == "const":
            return 0
        if k == "ident":
            return 1
        if k == "select":
            return self.cost(e.target)
        if k in ("list", "struct"):
            return sum(self.cost(a) for a in e.args) + sum(self.cost(x) for x in e.keys if x is not None)
        if k == "comprehension":
            rng, init, cond, step, result = e.args
            total = self.cost(rng) + self.cost(init) + self.cost(result)
            if rng.kind == "list" and not rng.args:
                return total  # cel.bind
            n = self.count(rng)
            if n and not (cond.kind == "const" and cond.value is True):
                n = 1  # all/exists may stop after the first element
            return total + n * (self.cost(cond) + self.cost(step, e.value[1]))
        if k != "call":
            return 0
        fn = e.value
        args = e.args
        if fn in ("_&&_", "_||_") and len(args) == 2:
            first = self.cost(args[0])
            # all/exists: the step runs only while the accumulator lets the other operand be evaluated
            if args[0].kind == "ident" and args[0].value == accu:
                return first + self.cost(args[1])
            return first
        if fn == "_?_:_" and len(args) == 3:
            if _attribute(args[1]) or _attribute(args[2]):
                # a branch that is a variable may cost nothing (filter's `p ? @result + [x] : @result`
                # costs 0 where p is false: oracle-measured)
                return self.cost(args[0])
            return self.cost(args[0]) + min(self.cost(args[1]), self.cost(args[2]))
        inner = sum(self.cost(a) for a in args) + self.cost(e.target)
        operands = [*args, *([e.target] if e.target is not None else [])]
        if fn in _SIZED_CALLS or all(_constant(a) for a in operands):
            return inner
        return inner + 1


def lower(checked: Checked, sizes: Sizes) -> int:
    """A lower bound of cel-go's actual cost of the selector on a device with these (exact) sizes."""
    return _Lower(sizes).cost(checked.root)


def exceeds(checked: Checked, presence: frozenset[int], sizes: Sizes) -> bool:
    """Whether cel-go certainly passes the runtime limit evaluating the selector on a device of these
    sizes (:func:`device_sizes`): its lower bound is above the limit. False also when that is not known
    (see the module doc)."""
    if bound(checked, presence, sizes) <= LIMIT:
        return False
    return lower(checked, sizes) > LIMIT
