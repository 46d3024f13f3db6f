"""Where a command reads its objects from: cheap to import (no model, no client), so command
modules name it at the top. ``kube.load`` does the reading; ``kube.kinds`` names what to read."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass
class SourceOptions:
    """Where a command reads its objects from: the demo cluster, files, or a live API server.

    Built once per command from its flags (``cli._common.source_options``; the ``command``
    decorator does it) and passed whole to ``kube.load.load_cluster`` and to the watch
    (``kube.watch.watch_for``). ``nodes``, ``required`` and ``pods`` say what one read needs
    (``cli._common.read_cluster`` sets them), not where it reads from.
    """

    filenames: list[str] = field(default_factory=list)
    #: -R: directories named by -f are read with their subdirectories
    recursive: bool = False
    demo: bool = False
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False
    request_timeout: float | None = None
    #: only these nodes' devices are wanted: a live read asks the server for their slices only
    nodes: list[str] = field(default_factory=list)
    #: what the command reports on (CLAIMS, PODS): a 403 on these fails the command (exit 4) instead
    #: of a warning and a degraded answer (docs/rbac.md, "What happens with less")
    required: frozenset[str] = frozenset()
    #: pods the command names (in ``namespace``, else the context's): each is read by name, whatever
    #: the claims say; one that does not exist is left out (the command reports it), a 403 fails
    pods: list[str] = field(default_factory=list)

    @property
    def live(self) -> bool:
        """Whether this source is a live API server (not --demo, not -f)."""
        return not (self.demo or self.filenames)

    def across_namespaces(self) -> "SourceOptions":
        """The same source read across every namespace (claims, pods, templates): device state
        depends on the claims of every namespace. ``namespace`` stays what the user named."""
        return replace(self, all_namespaces=True)
