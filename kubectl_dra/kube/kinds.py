"""What a command reads from its source (``want``): cheap to import, so handlers name them at the top."""

from __future__ import annotations

SLICES, CLAIMS, CLASSES, TEMPLATES, PODS, NODES = "slices", "claims", "classes", "templates", "pods", "nodes"

#: claims, of which only their allocations are used (``topology``): a live read brings back no spec,
#: annotations, owners, allocation node selector or device status (a third of the bytes and of the
#: time to take 10,000 claims over from the helper process). Implies CLAIMS; files and --demo
#: decode claims in full as ever.
CLAIM_ALLOCATIONS = "claim-allocations"

#: claims whole in the command's namespace, elsewhere only their allocations (``explain``: the
#: claims it simulates are in its namespace, the others only hold devices). Implies CLAIMS; files
#: and --demo decode claims in full as ever.
CLAIMS_HERE = "claims-here"
