"""`kubectl dra explain` as a domain call: request -> which claims -> the simulation -> the report.

``ExplainRequest`` is what the user asked (a pod, a claim, or claim manifests not yet applied, a
node, feature gates); :func:`explain` resolves it against a cluster, chooses the feature gates to
simulate (the cluster release's defaults, then ``--features``), runs :func:`simulate` and lints
unapplied manifests that do not fit. The report's ``data`` is the JSON of ``explain -o json``;
``render.explain`` prints it as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from kubectl_dra.alloc import reasons as R
from kubectl_dra.alloc.features import DEFAULT_FEATURES, LATEST, Features, for_release, gates, release_of, with_overrides
from kubectl_dra.alloc.lint import lint
from kubectl_dra.alloc.simulate import simulate
from kubectl_dra.errors import DraError, NotFoundError, UsageError
from kubectl_dra.model.cluster import Cluster

POD_PREFIXES = ("pod/", "pods/", "po/")
CLAIM_PREFIXES = ("resourceclaim/", "claim/")


@dataclass
class ExplainRequest:
    """What to explain: ``target`` (``pod/NAME``, ``[resourceclaim/]NAME``) or ``claim_files``
    (manifests not yet applied), in ``namespace`` (None: the context's); only ``node`` if set;
    ``features``: ``--features`` overrides (``NAME=true|false,…``)."""

    target: str | None = None
    claim_files: list[str] = field(default_factory=list)
    node: str | None = None
    namespace: str | None = None
    features: str | None = None

    @property
    def pod(self) -> str | None:
        """The pod's name when the target is ``pod/NAME``."""
        if self.target and self.target.startswith(POD_PREFIXES):
            return self.target.split("/", 1)[1]
        return None

    def validate(self) -> None:
        """The usage errors (exit 2) found before the cluster is read."""
        if self.target is not None and self.claim_files:
            raise UsageError(f"give either {self.target!r} or --claim-file, not both",
                             hint="explain one pod or claim of the cluster, or the manifests in --claim-file")
        if self.target is None and not self.claim_files:
            raise UsageError("name one pod/NAME or claim, or give --claim-file", hint="kubectl dra explain -n NS CLAIM")
        with_overrides(DEFAULT_FEATURES, self.features or "")


@dataclass
class ExplainReport:
    """The answer: ``data`` (``SimulationResult.to_dict()`` plus ``lint`` findings) and whether
    it fits nowhere (``explain`` then exits 7). ``keep``: the simulation and its working structures,
    for a caller that keeps the report alive to the end of the process rather than free them."""

    data: dict
    verdict: str
    keep: list = field(default_factory=list, repr=False)

    @property
    def unsatisfiable(self) -> bool:
        return self.verdict in ("unallocatable", "error")

    @property
    def undecided(self) -> bool:
        """The overall search budget ran out before any node fit (``explain`` exits 1, not 7)."""
        return self.verdict == "undecided"


def explain(cluster: Cluster, request: ExplainRequest, unapplied: Sequence[Any] = ()) -> ExplainReport:
    """Simulate ``request`` on ``cluster``; ``unapplied``: the Claims/ClaimTemplates read from
    ``request.claim_files``. A pod, claim or node that does not exist: NotFoundError (exit 3)."""
    from kubectl_dra import timing

    ns = request.namespace or cluster.namespace
    subject = unapplied if request.claim_files else _subject(cluster, request, ns)
    if request.node and not any(n.name == request.node for n in cluster.nodes) and not any(
        v.device.node_label == request.node for v in cluster.device_views()
    ):
        raise NotFoundError(f'node "{request.node}" not found')
    timing.mark("cluster loaded")
    features, features_reason = simulated_features(cluster, request.features)
    from kubectl_dra.console import Spinner

    keep: list = []
    with Spinner("simulating the allocator", delay=1.0) as spinner:  # long searches show progress on a terminal
        def progress(i: int, n: int) -> None:
            spinner.text = f"simulating the allocator: node {i + 1} of {n}"

        result = simulate(cluster, subject, nodes=[request.node] if request.node else None,
                          namespace_labels=namespace_labels(cluster), unapplied=bool(request.claim_files),
                          features=features,
                          progress=progress if spinner.enabled() else None,  # not on a terminal: no text to update
                          keep=keep)
    if features_reason is not None:
        result.reasons.append(features_reason)
    timing.mark("simulated")
    # lint the unapplied manifests when they do not fit: what will fail, and why (skipped when they fit)
    findings = lint(cluster, objects=list(unapplied)) if unapplied and result.verdict != "allocatable" else []
    timing.mark("linted")
    data = result.to_dict()
    if findings:
        data["lint"] = [f.to_dict() for f in findings]
    keep.append(result)
    return ExplainReport(data, result.verdict, keep)


def _subject(cluster: Cluster, request: ExplainRequest, ns: str) -> str:
    """``pod/NS/NAME`` or ``NS/NAME`` for the simulator, after checking it exists."""
    target = request.target or ""
    if request.pod is not None:
        name = request.pod
        if not any(p.namespace == ns and p.name == name for p in cluster.pods):
            raise NotFoundError(f'pod "{name}" not found in namespace {ns}', hint="check -n, or name the claim instead")
        return f"pod/{ns}/{name}"
    name = target.split("/", 1)[1] if target.startswith(CLAIM_PREFIXES) else target
    if not any(c.namespace == ns and c.name == name for c in cluster.claims):
        names = sorted(c.name for c in cluster.claims if c.namespace == ns)
        raise NotFoundError(f'resourceclaim "{name}" not found in namespace {ns}',
                            hint=("claims there: " + ", ".join(names[:8])) if names else "check -n")  # fmt: skip
    return f"{ns}/{name}"


def simulated_features(cluster: Cluster, overrides: str | None) -> tuple[Features, R.Reason | None]:
    """(Features to simulate, an Info reason when they are not the 1.36 defaults): the cluster release's
    default gates (live: the server's /version; from files or the demo: 1.36), then ``overrides``."""
    release, server = None, None
    client = getattr(cluster, "client", None)
    if client is not None:
        try:
            info = client.get("/version", what="the server version")
            server = info.get("gitVersion")
            release = release_of(info.get("major"), info.get("minor"), server or "")
        except DraError:
            release = None
    base, used = for_release(release)
    chosen = with_overrides(base, overrides or "")
    if chosen == DEFAULT_FEATURES and used == LATEST and not overrides:
        return chosen, None
    on = gates(chosen)
    changed = {g: v for g, v in on.items() if v != gates(base)[g]}
    where = f"Kubernetes {used} defaults" + (f" (server {server})" if server else "")
    if changed:
        where += ", with " + ",".join(f"{g}={'true' if v else 'false'}" for g, v in sorted(changed.items()))
    return chosen, R.Reason(
        R.FEATURE_GATES,
        f"simulating the feature gates of {where}: " + ", ".join(g for g, v in sorted(on.items()) if v) + " on",
        status=R.INFO,
        data={"release": used, "server": server, "gates": on},
    )


def namespace_labels(cluster: Cluster) -> Callable[[str], dict | None] | None:
    """Labels of a namespace read from the server on first use (adminAccess needs a namespace label);
    None when they cannot be read: from files, the demo, or without permission to get namespaces."""
    client = getattr(cluster, "client", None)
    if client is None:
        return None
    seen: dict[str, dict | None] = {}

    def labels(namespace: str) -> dict | None:
        if namespace not in seen:
            try:
                obj = client.get(f"/api/v1/namespaces/{namespace}", what=f"namespace {namespace}")
                seen[namespace] = dict((obj.get("metadata") or {}).get("labels") or {})
            except DraError:
                seen[namespace] = None
        return seen[namespace]

    return labels
