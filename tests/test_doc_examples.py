"""Issue 13 item 7: every `kubectl dra …` example in README.md, docs/ and every --help text runs (in-process,
with --demo added where it reads a cluster) and exits as documented (0 unless the docs say otherwise)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.doc_examples import FILES, NOT_RUN, ROOT, Example, all_examples, classify, prepared, shell_words

EXAMPLES = all_examples()


def _documented_exit(example: Example) -> int:
    """--help: "(exit code N)" after the example; exit-codes.md: the code of the table row;
    other pages: an "(exit code N)" line after the example, before the next one."""
    if example.exit is not None:
        return example.exit
    path, _, line = example.where.rpartition(":")
    if not path:
        return 0
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    number = int(line)
    if path == "docs/exit-codes.md":
        m = re.match(r"\|\s*(\d+)\s*\|", lines[number - 1])
        return int(m.group(1)) if m else 0
    for text in lines[number:]:
        if re.search(r"`?\$? ?kubectl dra ", text):
            break
        m = re.search(r"\(exit code (\d+)\)", text)
        if m:
            return int(m.group(1))
    return 0


def test_examples_found():
    where = {e.where.split(":")[0] for e in EXAMPLES}
    assert {"README.md", "docs/commands.md", "docs/getting-started.md", "list --help", "explain --help"} <= where
    assert len(EXAMPLES) > 100


def _distinct(examples: list[Example]) -> list[Example]:
    """One run per distinct (command line, documented exit); ``where`` lists every place it appears."""
    seen: dict[tuple, Example] = {}
    for e in examples:
        key = (e.text, _documented_exit(e), classify(e))
        if key in seen:
            first = seen[key]
            seen[key] = Example(f"{first.where}, {e.where}", first.text, first.args, first.exit)
        else:
            seen[key] = Example(e.where, e.text, e.args, _documented_exit(e))
    return list(seen.values())


DISTINCT = _distinct(EXAMPLES)


@pytest.mark.parametrize("example", DISTINCT, ids=[e.text for e in DISTINCT])
def test_example_runs_as_documented(example, run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    commands = shell_words(example.text)  # ValueError: an unquoted > or < (the shell would redirect)
    skip = classify(example)
    if skip:
        pytest.skip(NOT_RUN[skip])
    want = _documented_exit(example)
    for name, args in FILES.items():
        if name in example.text and isinstance(args, Path):
            Path(name).write_text(args.read_text(encoding="utf-8"))
        elif name in example.text:
            made = run(*args)
            assert made.exit_code == 0, made.stderr
            Path(name).write_text(made.stdout)
    for words in commands:
        assert words[:2] == ["kubectl", "dra"], f"{example.where}: not a kubectl dra command: {words}"
        redirect = next((w[1:] for w in words if w.startswith(">")), None)
        last = words is commands[-1]
        words = [w for w in words if not w.startswith(">")]
        args = prepared(Example(example.where, example.text, tuple(words[2:])))
        result = run(*args)
        if redirect:
            Path(redirect).write_text(result.stdout)
        expected = want if last else 0
        assert result.exit_code == expected, (
            f"{example.where}: `kubectl dra {' '.join(args)}` exited {result.exit_code}, documented {expected}\n"
            f"{result.stderr[-2000:]}")
        assert "warning:" not in result.stderr or "runtime error" not in result.stderr, (
            f"{example.where}: `kubectl dra {' '.join(args)}` warns of CEL runtime errors:\n{result.stderr[-2000:]}")


def test_unquoted_shell_operators_are_caught():
    with pytest.raises(ValueError, match="unquoted shell operator '>'"):
        shell_words("kubectl dra list memory>=40Gi mig=true")
    with pytest.raises(ValueError, match="unquoted shell operator"):
        shell_words("kubectl dra list memory>=40Gi")  # not a redirection anyone meant
    assert shell_words("kubectl dra list 'memory>=40Gi' mig=true") == [["kubectl", "dra", "list", "memory>=40Gi", "mig=true"]]
    assert shell_words("kubectl dra claim x > c.yaml; kubectl dra explain --claim-file c.yaml") == [
        ["kubectl", "dra", "claim", "x", ">c.yaml"], ["kubectl", "dra", "explain", "--claim-file", "c.yaml"]]
