"""Choosing the resource.k8s.io version to read (pure functions)."""

from __future__ import annotations

#: newest first; v1alpha3 only when nothing else is served (Kubernetes 1.31)
PREFERRED = ("v1", "v1beta2", "v1beta1", "v1alpha3")


def choose_version(served: list[str] | tuple[str, ...], supported: tuple[str, ...] = PREFERRED) -> str | None:
    """The newest version we read that the server serves, or None."""
    served_set = set(served)
    for version in supported:
        if version in served_set:
            return version
    return None


def served_versions(api_group: dict) -> list[str]:
    """Versions listed in an ``APIGroup`` discovery document."""
    out = []
    versions = api_group.get("versions") or []
    if not isinstance(versions, list):
        from kubectl_dra.errors import ClusterError

        raise ClusterError(f"the API server's discovery document for resource.k8s.io is malformed: versions is not a list ({str(versions)[:40]})")
    for entry in versions:
        if isinstance(entry, dict) and entry.get("version"):
            out.append(str(entry["version"]))
    return out


def parse_duration(text: str) -> float | None:
    """kubectl's --request-timeout: ``0`` (none), ``30``, ``5s``, ``1m``, ``1h``, ``1m30s``, ``500ms``."""
    import re

    text = text.strip()
    if text in ("", "0"):
        return None
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return _in_range(float(text), text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r} (use e.g. 30s, 1m, 2m30s)")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    seconds = sum(float(n) * scale[u] for n, u in parts) or None
    return _in_range(seconds, text)


def _in_range(seconds: float | None, text: str) -> float | None:
    # Go's durations are int64 nanoseconds (~292 years); beyond that kubectl refuses them too, and a
    # socket cannot wait that long
    if seconds is not None and seconds > MAX_DURATION:
        raise ValueError(f"invalid duration {text!r} (out of range: at most {MAX_DURATION // 86400:.0f} days)")
    return seconds


#: the longest --request-timeout accepted: a year (a socket timeout must fit a C timeval)
MAX_DURATION = 365 * 86400
