"""The shared command plumbing: the source object folded from the flags, the printer chooser."""

from __future__ import annotations

import json

import pytest
import typer

# the handlers below are read as command modules are: their annotations resolve in this module
from kubectl_dra.cli._common import Context, Demo, Filenames, Kubeconfig, Namespace, RequestTimeout
from kubectl_dra.kube.source import SourceOptions


def _app_with(handler, name="probe"):
    from kubectl_dra.cli._boundary import command

    app = typer.Typer()
    command(app, name)(handler)

    @app.callback()
    def _root() -> None:  # a group, so the command is invoked by name
        """probe"""

    return app


def _invoke(app, *args):
    from typer.testing import CliRunner

    return CliRunner().invoke(app, ["probe", *args], catch_exceptions=False)


def test_command_folds_the_declared_source_flags_into_one_source():
    seen = []

    def probe(
        verbose: bool = typer.Option(False, "--verbose"),
        filename: Filenames = None,
        demo: Demo = False,
        kubeconfig: Kubeconfig = None,
        context: Context = None,
        namespace: Namespace = None,
        request_timeout: RequestTimeout = "0",
        *,
        source: SourceOptions,
    ) -> None:
        seen.append((verbose, source))

    result = _invoke(_app_with(probe), "--verbose", "-f", "a.yaml", "-f", "b.yaml", "-n", "ml", "--request-timeout", "1m30s")
    assert result.exit_code == 0, result.output
    assert seen == [(True, SourceOptions(filenames=["a.yaml", "b.yaml"], namespace="ml", request_timeout=90.0))]
    # typer sees the flags, not `source`
    help_text = _invoke(_app_with(probe), "--help").output
    assert "--kubeconfig" in help_text and "--request-timeout" in help_text and "source" not in help_text


def test_the_default_of_source_names_the_flags_offered_in_their_place():
    from kubectl_dra.cli._common import source_flags

    seen = []

    def probe(
        verbose: bool = typer.Option(False, "--verbose"),
        source: SourceOptions = source_flags("namespace", "filename", "request_timeout"),
        last: bool = typer.Option(False, "--last"),
    ) -> None:
        seen.append((verbose, last, source))

    app = _app_with(probe)
    result = _invoke(app, "-f", "a.yaml", "--last", "-n", "ml", "--request-timeout", "2s")
    assert result.exit_code == 0, result.output
    assert seen == [(False, True, SourceOptions(filenames=["a.yaml"], namespace="ml", request_timeout=2.0))]
    help_text = _invoke(app, "--help").output
    # in the order source_flags names them (help may group them in their own panel)
    order = [help_text.index(flag) for flag in ("--namespace", "--filename", "--request-timeout")]
    assert order == sorted(order)
    assert "--demo" not in help_text and "--kubeconfig" not in help_text and "source" not in help_text
    with pytest.raises(ValueError, match="not source flags"):
        source_flags("namespace", "colour")



def test_source_flags_may_word_a_flags_help_itself():
    """nvml's --demo also names the NVML facts: its own help, still folded into ``source``."""
    from typing import Annotated

    from kubectl_dra.cli._common import source_flags

    seen = []
    own = Annotated[bool, typer.Option("--demo", help="The demo snapshot of --node.")]

    def probe(source: SourceOptions = source_flags("filename", "demo", demo=own)) -> None:
        seen.append(source)

    app = _app_with(probe)
    assert _invoke(app, "--demo").exit_code == 0
    assert seen == [SourceOptions(demo=True)]
    help_text = _invoke(app, "--help").output
    assert "The demo snapshot of --node." in help_text and "Use the built-in demo cluster." not in help_text
    with pytest.raises(ValueError, match="options for flags the command does not offer"):
        source_flags("filename", demo=own)


def test_a_bad_request_timeout_is_a_usage_error_before_the_handler_runs():
    calls = []

    def probe(request_timeout: RequestTimeout = "0", *, source: SourceOptions) -> None:
        calls.append(source)

    result = _invoke(_app_with(probe), "--request-timeout", "soon")
    assert (result.exit_code, calls) == (2, [])
    assert "error: --request-timeout: invalid duration 'soon'" in result.output


def test_a_handler_without_source_gets_its_flags_unchanged():
    seen = []

    def probe(demo: Demo = False) -> None:
        seen.append(demo)

    assert _invoke(_app_with(probe), "--demo").exit_code == 0
    assert seen == [True]


def test_source_options_maps_the_flags():
    from kubectl_dra.cli._common import source_options

    source = source_options(filename=None, demo=True, all_namespaces=True, request_timeout="0")
    assert source == SourceOptions(demo=True, all_namespaces=True, request_timeout=None)
    assert not source.live and source_options().live
    assert source_options(namespace="x").across_namespaces() == SourceOptions(namespace="x", all_namespaces=True)


def test_read_cluster_refuses_files_with_a_kubeconfig():
    from kubectl_dra.cli._common import read_cluster, source_options
    from kubectl_dra.errors import UsageError

    with pytest.raises(UsageError, match="-f/--filename reads files, not a cluster"):
        read_cluster(source_options(filename=["x.yaml"], context="prod"), ())


def test_read_cluster_keeps_the_named_namespace_offline():
    from kubectl_dra.cli._common import read_cluster, source_options
    from kubectl_dra.kube.kinds import SLICES

    assert read_cluster(source_options(demo=True, namespace="research"), (SLICES,)).namespace == "research"


@pytest.mark.parametrize(
    ("output", "stdout", "stderr"),
    [
        ("table", "T(False)", ""),
        ("wide", "T(True)", ""),
        ("text", "T(False)", ""),
        (None, "T(False)", ""),
        ("name", "N", ""),
    ],
)
def test_emit_calls_only_the_renderer_of_the_format(capsys, output, stdout, stderr):
    from kubectl_dra.cli._common import emit

    def data():
        raise AssertionError("data built for a text format")

    emit(output, data=data, table=lambda wide: f"T({wide})", names=lambda: "N")
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (stdout, stderr)


def test_emit_writes_json_and_yaml_even_when_empty(capsys):
    from kubectl_dra.cli._common import Output, emit

    def never(*_):
        raise AssertionError("a text renderer was called")

    emit(Output.json, data=lambda: {"items": []}, table=never, names=never, empty="nothing here")
    assert json.loads(capsys.readouterr().out) == {"items": []}
    emit("yaml", data=lambda: {"items": []}, table=never, names=never, empty="nothing here")
    assert capsys.readouterr().out == "items: []\n"


@pytest.mark.parametrize("output", ["table", "wide", "name"])
def test_emit_prints_the_empty_message_on_stderr_instead_of_text(capsys, output):
    from kubectl_dra.cli._common import emit

    def never(*_):
        raise AssertionError("a text renderer was called")

    emit(output, data=never, table=never, names=never, empty="no things found")
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "no things found\n")


def test_emit_refuses_a_format_the_command_does_not_print():
    from kubectl_dra.cli._common import Output, emit
    from kubectl_dra.errors import UsageError

    with pytest.raises(UsageError, match="this command does not print name: use -o table, wide, json, yaml"):
        emit(Output.name, data=lambda: {}, table=lambda wide: "")


def test_listed_claims_skips_malformed_claims_and_keeps_the_namespace():
    from kubectl_dra.kube.kinds import CLAIMS
    from kubectl_dra.cli._common import read_cluster, source_options
    from kubectl_dra.model.queries import listed_claims

    cluster = read_cluster(source_options(demo=True, namespace="ml-team"), (CLAIMS,))
    names = {(c.namespace, c.name) for c in listed_claims(cluster, all_namespaces=False)}
    assert names and {ns for ns, _ in names} == {"ml-team"}
    everywhere = listed_claims(cluster, all_namespaces=True)
    assert {c.namespace for c in everywhere} == {c.namespace for c in cluster.claims}
    assert [(c.namespace, c.name) for c in everywhere] == sorted(
        ((c.namespace, c.name) for c in everywhere), key=lambda k: (k[0], _natural(k[1]))
    )


def _natural(name):
    from kubectl_dra.model.cluster import natural_key

    return natural_key(name)
