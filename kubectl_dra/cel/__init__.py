"""CEL device selectors, evaluated as Kubernetes' DRA allocator does (engine: cel-expr-python).

Public API::

    prog = compile('device.driver == "gpu.nvidia.com"')   # CelCompileError (a UsageError) if bad
    prog.evaluate(device)        -> Result(matched=True|False|None, error=None|"no such key: x")
    prog.matches(device)         -> bool, raises CelRuntimeError on a runtime error
    prog.evaluate_many(devices)  -> list[Result]   (compile once, evaluate many)

Modules: :mod:`.program` (engine, Program, compile and its cache), :mod:`.activation` (the ``device``
variable), :mod:`.analysis` (literals, tokens, pruning, domain rewrites), :mod:`.errors`,
:mod:`.checker` (compile-time type checks), :mod:`.library` (Kubernetes' CEL libraries).

Environment (Kubernetes 1.36 DRA ``cel/compile.go`` on the StoredExpressions base environment):

* compile time (kubectl_dra.cel.checker): the selector is type-checked by cel-cpp against typed
  declarations of upstream's environment — ``device`` (driver string, attributes
  map(string, map(string, any)), capacity map(string, map(string, kubernetes.Quantity)),
  allowMultipleAllocations bool), the quantity/semver libraries with their opaque types, cross-type
  numeric comparison, the strings extension at version 2, the Kubernetes lists and regex libraries,
  the sets extension, the lists extension's functions — and cel-go's AST validators run on the
  checked AST (mixed list/map literals, constant duration()/timestamp()/matches() arguments, constant
  regex patterns at program planning). Errors carry upstream's message and caret; the result must be
  bool or an attribute value (the unknown type);
* run time: the program runs unchecked on plain maps; ``device.attributes[domain]`` of an absent
  domain reads as an empty map; version attributes are semver values, capacities quantity values
  (tagged maps, see :mod:`kubectl_dra.cel.library`);
* expressions longer than 10 Ki (10240 bytes UTF-8) are a compile error.

Known differences from upstream (each pinned by tests/e2e/test_oracle_cel.py against the real
package): two-variable comprehensions and ``sortBy`` (parser macros cel-expr-python cannot enable);
the url/ip/cidr/format libraries; compile-time format-string validation; type parameters (generic
list functions are declared per element type); quantity/semver values are maps (``type()`` is map,
``==`` with another type is false, ``isInteger()``/``asInteger()`` answer from the value, not Go's
parsed form); NaN ordering and double formatting follow cel-cpp; constant folding of conversions at
program planning.

Cost limits (:mod:`.cost`): ``Program.max_cost`` is cel-go's compile-time estimate, reproduced on the
checked AST with Kubernetes' DRA size hints; ``compile(expr, estimate=True)`` rejects, as the API server
does for a new selector, an estimate above 1e6 (``too complex, exceeds cost limit``; ``list``/``claim
--cel``). The scheduler compiles without it and enforces the runtime limit: here an upper bound proves
the limit unreachable (once per selector, else per device), a lower bound proves it passed
(``operation cancelled: actual cost limit exceeded``); in between the engine's answer is kept.
cel-expr-python stops an evaluation after 10,000 comprehension iterations (a runtime error saying so;
Kubernetes has no such limit).
"""

from __future__ import annotations

from .activation import activation_data
from .analysis import DEVICE_FIELDS, domain_call_rewrite, prunable_keys, whole_map_use
from .errors import CelCompileError, CelError, CelRuntimeError
from .program import FALSE, MAX_EXPRESSION_LENGTH, TRUE, Program, Result, compile

__all__ = [
    "DEVICE_FIELDS",
    "FALSE",
    "MAX_EXPRESSION_LENGTH",
    "TRUE",
    "CelCompileError",
    "CelError",
    "CelRuntimeError",
    "Program",
    "Result",
    "activation_data",
    "compile",
    "domain_call_rewrite",
    "prunable_keys",
    "whole_map_use",
]
