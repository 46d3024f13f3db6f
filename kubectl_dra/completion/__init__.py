"""Shell completion without typer: fast enough for every TAB.

Three ways in, one engine (:mod:`.engine`):

* ``kubectl_complete-dra WORD... INCOMPLETE`` — kubectl's plugin completion (kubectl ≥ 1.26 runs it
  for ``kubectl dra <TAB>``), answering in cobra's protocol: ``value<TAB>description`` lines, then
  ``:<directive>``;
* ``kubectl-dra __complete WORD... INCOMPLETE`` — the same answer, used by the bash/zsh/fish scripts
  in ``completions/`` (see :mod:`.scripts`);
* ``kubectl dra completion bash|zsh|fish`` prints those scripts.

The commands and options come from :mod:`.spec`, generated from the typer app by
``tools/gen_completions.py`` (a test fails when it is stale), so a TAB never imports typer. Values
that live in the cluster (nodes, devices, claims, DeviceClasses, drivers, attribute names and values
inside a filter) come from :mod:`.sources`: the demo cluster, ``-f`` files, or the live cluster with a
short timeout and a brief on-disk cache. Nothing is ever printed to stderr: a failed lookup completes
nothing.
"""

from __future__ import annotations

import sys

#: cobra's ShellCompDirective bits
DIRECTIVE_ERROR = 1
DIRECTIVE_NO_SPACE = 2
DIRECTIVE_NO_FILE = 4
DIRECTIVE_KEEP_ORDER = 32


def answer(words: list[str]) -> str:
    """The cobra-protocol answer for ``words`` (the last one is the word being completed)."""
    from kubectl_dra.completion.engine import complete

    args, incomplete = (words[:-1], words[-1]) if words else ([], "")
    try:
        items, directive = complete(args, incomplete)
    except Exception:  # completion must never show an error in the prompt
        items, directive = [], DIRECTIVE_NO_FILE
    lines = []
    for value, help_text in items:
        value = value.replace("\t", " ").replace("\n", " ")
        help_text = " ".join((help_text or "").split())
        lines.append(f"{value}\t{help_text}" if help_text else value)
    lines.append(f":{directive}")
    return "\n".join(lines) + "\n"


def kubectl_main() -> None:
    """Console script ``kubectl_complete-dra``: kubectl passes the words after ``dra``."""
    _write(answer(sys.argv[1:]))


def main(argv: list[str]) -> None:
    """``kubectl-dra __complete WORD...``."""
    _write(answer(argv))


def _write(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        pass
