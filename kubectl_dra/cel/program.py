"""Compiled selectors: the engine (cel-expr-python), :class:`Program` (evaluation, the retries that read
absent domains as empty maps, evaluation pruning) and :func:`compile` with its cache."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import checker, cost, library
from .activation import BadDevice, activation_data, build, fast_plan
from .analysis import (
    OPTIONAL_DOMAIN_RE,
    blank_same_width,
    domain_call_rewrite,
    membership_rewrite,
    prunable_keys,
    string_literals,
    whole_map_use,
)
from .errors import STATUS_RE, CelCompileError, CelRuntimeError, cel_type_name, error_text, missing_key

if TYPE_CHECKING:
    from kubectl_dra.model.device import Device

#: resourceapi.CELSelectorExpressionMaxLength
MAX_EXPRESSION_LENGTH = 10 * 1024


@dataclass(frozen=True, slots=True)
class Result:
    """Outcome of one evaluation: ``matched`` is None exactly when ``error`` is set."""

    matched: bool | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


TRUE = Result(True)
FALSE = Result(False)

# ------------------------------------------------------------------ environment

_lock = threading.Lock()
_env_cache: list[Any] = []


def _engine() -> tuple[Any, Any]:
    """(cel module, Env), built once on first use."""
    if _env_cache:
        return _env_cache[0], _env_cache[1]
    with _lock:
        if not _env_cache:
            from cel_expr_python import cel
            from cel_expr_python.ext import ext_bindings, ext_optional, ext_strings

            T = cel.Type
            # the runtime environment: programs run unchecked here (kubectl_dra.cel.checker has checked
            # them against Kubernetes' typed declarations), on plain maps
            env = cel.NewEnv(
                variables={"device": T.Map(T.STRING, T.DYN)},
                extensions=[
                    ext_strings.ExtStrings(version=2),
                    ext_bindings.ExtBindings(),
                    ext_optional.ExtOptional(),
                ],
                functions=library.function_decls(cel) + library.runtime_decls(cel),
            )
            _env_cache[:] = [cel, env]
    return _env_cache[0], _env_cache[1]



# ------------------------------------------------------------------- programs

class Program:
    """A compiled selector. Thread-safe for evaluation; build with :func:`compile`."""

    __slots__ = ("_domains", "_env", "_expr", "_fill", "_is_bool", "_keys", "_membership", "_optional", "_over", "_runtime",
                 "_ast", "_limit", "max_cost",
                 "_seen", "_unindexed", "expression")

    def __init__(
        self,
        expression: str,
        expr: Any,
        env: Any,
        domains: frozenset[str],
        is_bool: bool,
        runtime: str | None = None,
        max_cost: int = 0,
        ast: tuple[checker.Checked, frozenset[int]] | None = None,
        over: bool = False,
    ) -> None:
        self.expression = expression
        self._runtime = runtime if runtime is not None else expression  # the text that runs (renamed calls)
        self._expr = expr
        self._env = env
        self._domains = domains
        self._is_bool = is_bool
        #: the compile-time cost estimate (cel-go's, as the API server computes it; kubectl_dra.cel.cost)
        self.max_cost = max_cost
        self._ast = ast  # the checked AST and the has() offsets, for the runtime cost (kubectl_dra.cel.cost)
        # the runtime limit may be reached: whether it certainly is is decided per device
        # (kubectl_dra.cel.cost.exceeds), on the whole device variable (no pruning)
        self._over = over and ast is not None
        self._limit: dict[cost.Sizes, bool] = {}  # device sizes -> the runtime limit certainly passed
        self._keys = prunable_keys(expression) if not self._over else None
        # `device.attributes[?"d"]` is a present (empty) map upstream for any domain: evaluate with the
        # expression's domains always filled in
        # filling in absent domains is exact only while the maps are never used as a whole
        self._fill = not whole_map_use(expression)
        self._optional = self._fill and bool(OPTIONAL_DOMAIN_RE.search(expression))
        self._membership: Any = False  # the _membership_rewrite program, compiled on first need
        # results per device object, for callers that evaluate one selector over the same devices
        # again (explain's simulation and lint): id -> (device, result); the device is kept so
        # its id cannot be reused while the entry lives
        self._seen: dict[int, tuple[Any, Result]] = {}
        # the last call's (devices, results), indexed into _seen only when a later call comes: most
        # programs evaluate once (list --cel), and 40,000 entries cost more than the evaluation saves
        self._unindexed: tuple[list, list] | None = None

    def __repr__(self) -> str:
        return f"Program({self.expression!r})"

    # ----------------------------------------------------------- evaluation

    def _prefilled(self, data: dict[str, Any], key: str) -> dict[str, Any] | None:
        """``data`` with empty maps for absent domains, or None when that changes nothing."""
        domains = self._domains | {data["driver"]}
        if key is not None and key not in domains:
            return None
        attrs, caps = data["attributes"], data["capacity"]
        extra_a = [d for d in domains if d not in attrs]
        extra_c = [d for d in domains if d not in caps]
        if not extra_a and not extra_c:
            return None
        filled = dict(data)
        filled["attributes"] = {**attrs, **{d: {} for d in extra_a}}
        filled["capacity"] = {**caps, **{d: {} for d in extra_c}}
        return filled

    def _membership_program(self, env: Any) -> Any:
        if self._membership is False:
            text = membership_rewrite(self._runtime)
            try:
                self._membership = env.compile(text, disable_check=True) if text is not None else None
            except RuntimeError:  # pragma: no cover - the rewrite only renames a field
                self._membership = None
        return self._membership

    def _result(self, value: Any, cel: Any) -> tuple[Result, str | None]:
        """(Result, missing key if the error is a map miss)."""
        t = value.type()
        if t == cel.Type.BOOL:
            return (TRUE if value.value() else FALSE), None
        if t == cel.Type.ERROR:
            msg = str(value.value())
            return Result(None, error_text(msg)), missing_key(msg)
        return Result(
            None,
            f"CEL result of type {cel_type_name(t.name())} could not be converted to bool",
        ), None

    def _run(self, data: dict[str, Any], activation: Any | None = None) -> Result:
        if self._over:
            sizes = cost.device_sizes(data)
            passed = self._limit.get(sizes)
            if passed is None:
                if len(self._limit) > 4096:
                    self._limit.clear()
                passed = self._limit[sizes] = cost.exceeds(self._ast[0], self._ast[1], sizes)  # type: ignore[index]
            if passed:
                return Result(None, cost.EXCEEDED)
        cel, env = _engine()
        if self._optional:
            filled = self._run_filled(data, cel, env)
            if filled is not None:
                return filled
        if activation is None:
            activation = env.Activation({"device": data})
        value, stopped = self._eval(self._expr, activation, data)
        if stopped is not None:
            return stopped
        result, missing = self._result(value, cel)
        if result.error is not None and self._fill:
            # Kubernetes reads an unknown domain as an empty map; the engine cannot default a map
            # lookup. Any error (a missing key, or one in the other operand of && / ||) may come from
            # a domain the device lacks: rerun with the expression's domains present
            filled = self._run_filled(data, cel, env)
            if filled is not None:
                result = filled
        return result

    def _run_filled(self, data: dict[str, Any], cel: Any, env: Any) -> Result | None:
        """Evaluate with the expression's domains present (absent ones as empty maps); None when
        nothing needs filling. Membership tests see the device's real domains."""
        filled = self._prefilled(data, None)
        if filled is None:
            return None
        expr = self._expr
        membership = self._membership_program(env)
        if membership is not None:
            expr = membership
            filled["draAttributeDomains"] = list(data["attributes"])
            filled["draCapacityDomains"] = list(data["capacity"])
        value, stopped = self._eval(expr, env.Activation({"device": filled}), data)
        return stopped if stopped is not None else self._result(value, cel)[0]

    def _eval(self, expr: Any, activation: Any, data: dict[str, Any]) -> tuple[Any, Result | None]:
        """(the engine's value, None), or (None, the Result) when the engine stops without a value."""
        try:
            return expr.eval(activation), None
        except RuntimeError as e:  # cel-cpp's comprehension budget: 10,000 iterations per evaluation
            msg = error_text(str(e))
            if "Iteration budget exceeded" not in msg:
                return None, Result(None, msg)
            if self._ast is not None and cost.lower(self._ast[0], cost.device_sizes(data)) > cost.LIMIT:
                return None, Result(None, cost.EXCEEDED)
            return None, Result(None, cost.ENGINE_BUDGET)

    def evaluate(self, device: Device) -> Result:
        """Evaluate for one device; never raises for a runtime error (see ``Result.error``)."""
        try:
            data = activation_data(device)
        except BadDevice as e:
            return Result(None, str(e))
        return self._run(data)

    def matches(self, device: Device) -> bool:
        """True/False, or CelRuntimeError for a runtime error."""
        result = self.evaluate(device)
        if result.error is not None:
            raise CelRuntimeError(f"CEL runtime error: {result.error}")
        return bool(result.matched)

    def evaluate_many(self, devices: Iterable[Device]) -> list[Result]:
        """Evaluate for many devices (the program compiled once).

        When the expression only reads attributes/capacities by literal name (:func:`prunable_keys`),
        each device is reduced to what the expression can observe — driver, the domains present,
        the named ids with their kinds — and devices that look alike share one evaluation: a
        cluster of identical GPUs costs a handful of evaluations, not one per device.
        """
        devices = list(devices)  # a copy: the caller's list may change before it is indexed
        seen = self._seen
        pending, self._unindexed = self._unindexed, None
        if pending is not None:
            if len(seen) > 200_000:
                seen.clear()
            for d, r in zip(*pending):
                seen[id(d)] = (d, r)
        if not seen:
            results = self._evaluate_fresh(devices)
        else:
            get = seen.get
            results = [None] * len(devices)
            missing = []
            for i, d in enumerate(devices):
                hit = get(id(d))
                if hit is not None and hit[0] is d:
                    results[i] = hit[1]
                else:
                    missing.append(i)
            if missing:
                fresh = self._evaluate_fresh([devices[i] for i in missing])
                for i, r in zip(missing, fresh):
                    results[i] = r
        self._unindexed = (devices, results)
        return results  # type: ignore[return-value]

    def _evaluate_fresh(self, devices: list[Device]) -> list[Result]:
        keys = self._keys
        if keys is None:
            return self._evaluate_each(devices)
        memo: dict[tuple, Result] = {}
        out: list[Result] = []
        append = out.append
        # the plan of each device shape; within this call a kinds map is known by its id (the
        # devices, hence their maps, stay alive; decode shares equal maps between a slice's devices)
        plans: dict[tuple, Any] = {}
        plan = last_names = last_kinds = last_capacity = capacities_of = capacities = identical = None
        # the last device whose result came through its quick key: a neighbour of the same plan, the
        # same capacity part, driver and flag, and the very same values it observes has that result
        same_plan = same_capacities = same_observed = same_driver = same_multiple = same_result = None
        for device in devices:
            kinds = device.attribute_kinds
            capacity = device.capacity
            names = tuple(device.attributes)
            # neighbours mostly share the shape (and, within a slice, the kinds and capacity maps)
            if kinds is not last_kinds or capacity is not last_capacity or names != last_names:
                local = (names, id(kinds), tuple(capacity))
                plan = plans.get(local)
                if plan is None:
                    plan = plans[local] = fast_plan(keys, names, kinds, local[2])
                identical = plan.identical
                last_names, last_kinds, last_capacity = names, kinds, capacity
                capacities_of = None
            if capacity is not capacities_of:
                capacities = plan.capacity_key(capacity)
                capacities_of = None if capacities is None else capacity  # a failed check is made again
            if capacities is None:
                quick = observed = None
            else:
                observed = plan.observed(device.attributes)
                if (plan is same_plan and capacities is same_capacities and device.driver == same_driver
                        and device.allow_multiple_allocations is same_multiple and identical(observed, same_observed)):
                    append(same_result)
                    continue
                quick = plan.key(device, capacities)
            result = None
            if quick is not None:
                try:
                    result = memo.get(quick)
                except TypeError:  # a list value: no quick key
                    quick = None
            if result is None:
                try:
                    data, key = build(device, keys)
                except BadDevice as e:
                    append(Result(None, str(e)))
                    continue
                try:
                    result = memo.get(key)  # type: ignore[arg-type]
                except TypeError:  # an unhashable value (e.g. a list inside a list): no sharing for this one
                    append(self.evaluate(device))
                    continue
                if result is None:
                    result = memo[key] = self._run(data)  # type: ignore[index]
                if quick is not None:
                    memo[quick] = result
            if quick is not None:
                same_plan, same_capacities, same_observed = plan, capacities, observed
                same_driver, same_multiple, same_result = device.driver, device.allow_multiple_allocations, result
            append(result)
        return out

    def _evaluate_each(self, devices: Iterable[Device]) -> list[Result]:
        """One evaluation per device, with the full activation."""
        cel, env = _engine()
        new_activation = env.Activation
        evaluate = self._expr.eval
        bool_t, error_t = cel.Type.BOOL, cel.Type.ERROR
        out: list[Result] = []
        append = out.append
        for device in devices:
            try:
                data = activation_data(device)
            except BadDevice as e:
                append(Result(None, str(e)))
                continue
            if self._optional or self._over:
                append(self._run(data))
                continue
            try:
                value = evaluate(new_activation({"device": data}))
            except RuntimeError:
                append(self._run(data))  # the slow path says why
                continue
            t = value.type()
            if t == bool_t:
                append(TRUE if value.value() else FALSE)
            elif t == error_t:
                append(self._run(data))  # slow path: retries, error text
            else:
                append(self._result(value, cel)[0])
        return out

    def filter(self, devices: Iterable[Device]) -> list[Device]:
        """The devices that match (errors count as no match)."""
        devices = list(devices)
        return [d for d, r in zip(devices, self.evaluate_many(devices)) if r.matched]


# -------------------------------------------------------------------- compile

_cache: dict[str, Program] = {}
_CACHE_MAX = 1024


def compile(expression: str, *, estimate: bool = False) -> Program:
    """Compile a device selector (cached by text). Raises CelCompileError.

    Without ``estimate``, as the scheduler compiles a stored selector. With ``estimate``, also as the API
    server validates a new or changed selector: an expression whose cost estimate exceeds the limit is
    a CelCompileError (``too complex, exceeds cost limit``) — for selectors a user types.
    """
    program = _cache.get(expression)
    if program is None:
        program = _compile(expression)
        with _lock:
            if len(_cache) >= _CACHE_MAX:
                _cache.clear()
            _cache[expression] = program
    if estimate and program.max_cost > cost.LIMIT:
        raise CelCompileError(cost.too_complex_message(program.max_cost), hint=cost.TOO_COMPLEX_HINT)
    return program


def _runtime_text(expression: str, renames: list[tuple[int, int, str]] = ()) -> str:
    out = expression
    for start, length, name in sorted(renames, reverse=True):
        out = out[:start] + name + out[start + length:]
    return out


def _compile(expression: str) -> Program:
    if not isinstance(expression, str):
        raise CelCompileError(
            f"CEL expression must be a string, not {type(expression).__name__}"
        )
    size = len(expression.encode("utf-8"))
    if size > MAX_EXPRESSION_LENGTH:
        raise CelCompileError(
            f"CEL expression too long: {size} bytes, may not be more than {MAX_EXPRESSION_LENGTH} bytes"
        )
    literals, blanked = string_literals(expression)
    cel, env = _engine()
    try:
        verdict = checker.check(expression, blank_same_width(expression))
    except checker.CheckError as e:
        raise CelCompileError(e.message if e.full else f"compilation failed: {e.message}") from None
    output = verdict.output
    # cel.CompileCELExpression: bool or the unknown type (google.protobuf.Any: an attribute's value)
    if output not in (("prim", "bool"), ("wk", "any")):
        raise CelCompileError(
            f"must evaluate to bool or the unknown type, not {checker.format_type(output)}"
        )
    runtime = _runtime_text(expression, verdict.renames)
    if whole_map_use(runtime):
        runtime = domain_call_rewrite(runtime)
    try:
        expr = env.compile(runtime, disable_check=True)
    except RuntimeError as e:  # pragma: no cover - the checker accepted it
        msg = STATUS_RE.sub("", str(e), count=1)
        msg = re.sub(r"\s*\[INVALID_ARGUMENT\]\s*$", "", msg)
        raise CelCompileError(f"compilation failed: {msg}") from None
    checked, presence = verdict.checked, verdict.presence
    max_cost = cost.estimate(checked, presence)[1] if checked is not None else 0
    ast = (checked, presence) if checked is not None else None
    over = checked is not None and cost.bound(checked, presence) > cost.LIMIT
    return Program(expression, expr, env, frozenset(literals), output == ("prim", "bool"), runtime, max_cost, ast, over)
