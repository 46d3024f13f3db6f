"""What a command reads from its source (``want``): cheap to import, so handlers name them at the top."""

from __future__ import annotations

SLICES, CLAIMS, CLASSES, TEMPLATES, PODS, NODES = "slices", "claims", "classes", "templates", "pods", "nodes"
