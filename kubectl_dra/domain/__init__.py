"""Domain functions of the commands: a request object in, a plan or a selection out.

The ``cli/`` handlers map flags to a request, call one function here, and hand the result to a
printer (``render/``). Modules here may use ``filter``, ``cel``, ``admission``, ``render`` (for
shared vocabulary such as manifest building) and the model; they never import ``cli``.

- ``device_query``: the devices `list` shows (``DeviceQuery``).
- ``claim_plan``: what `claim` generates (``ClaimRequest`` -> ``ClaimPlan``).
"""
