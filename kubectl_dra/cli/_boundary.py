"""The one place where expected failures become `error:`/`hint:` lines and exit codes."""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable

import typer

from kubectl_dra.console import report  # noqa: F401 - the one report, here for the commands
from kubectl_dra.errors import DraError, ExitCode


def command(app: typer.Typer, name: str, **kwargs) -> Callable:
    """Register ``fn`` as a subcommand whose DraErrors end the process cleanly.

    A handler with a parameter ``source`` gets its source flags as one
    :class:`~kubectl_dra.kube.source.SourceOptions` built by ``cli._common.source_options``.
    Typer sees the flags: those that ``source``'s default names (``cli._common.NAMESPACED``,
    ``CLUSTER_WIDE`` or ``source_flags(...)``, which may word a flag's help itself), in that order
    where ``source`` stands. The handler sees only ``source``.
    """

    def register(fn: Callable) -> Callable:
        fold = _source_folder(fn)

        @functools.wraps(fn)
        def run(*args, **kw):
            from kubectl_dra.console import OutputError, SafeOutput

            saved = sys.stdout
            sys.stdout = SafeOutput(saved)  # the one output boundary (console.SafeOutput)
            try:
                if fold is not None:
                    kw = fold(kw)
                result = fn(*args, **kw)
                sys.stdout.flush()
                return result
            except DraError as error:
                if os.environ.get("KUBECTL_DRA_DEBUG"):
                    raise
                if isinstance(error, OutputError):
                    saved = _discard(saved)  # the unwritten output is dropped, not retried at exit
                report(error)
                raise typer.Exit(int(error.exit_code)) from None
            except BrokenPipeError:
                # `kubectl dra list | head`: stop quietly, as kubectl does
                try:
                    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
                except OSError:
                    pass
                raise typer.Exit(int(ExitCode.OK)) from None
            except KeyboardInterrupt:
                _quiet_newline()  # past the terminal's ^C
                raise typer.Exit(130) from None
            except (typer.Exit, typer.Abort, SystemExit):
                raise
            except Exception as error:  # a bug: still one line for the user, the traceback on request
                if os.environ.get("KUBECTL_DRA_DEBUG"):
                    raise
                detail = " ".join(str(error).split())[:300]
                report(
                    DraError(
                        f"internal error: {type(error).__name__}: {detail}",
                        hint="this is a bug in kubectl-dra; KUBECTL_DRA_DEBUG=1 shows the traceback for a report",
                    )
                )
                raise typer.Exit(int(ExitCode.ERROR)) from None
            finally:
                sys.stdout = saved

        app.command(name, **kwargs)(run)
        if fold is not None:
            # typer reads the signature with the source flags when it builds this command, which
            # a run does only for the commands its arguments name (cli.commands_for): worked out then
            info = app.registered_commands[-1]
            assert vars(info)["callback"] is run
            info.__class__ = _lazy_info_class(type(info))
            vars(info)["_signature_of"] = fn
        return fn

    return register


def _quiet_newline() -> None:
    try:
        if sys.stderr.isatty():
            sys.stderr.write("\n")
    except (OSError, ValueError, AttributeError):
        pass


def check_argv(argv: list[str]) -> None:
    """Arguments that are not valid UTF-8 (Python keeps the bytes as lone surrogates) are a usage
    error here, before any of them reaches a parser, a CEL compiler or a request."""
    for arg in argv:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            from kubectl_dra.console import sanitize

            sys.stderr.write(f"error: argument {sanitize(shown)!r} is not valid UTF-8\n"
                             "hint: pass text in UTF-8 (check the terminal's or the script's encoding)\n")
            sys.exit(int(ExitCode.USAGE))


def prepare_streams() -> None:
    """Streams a command can always write to: a descriptor closed at start (``>&-``, ``2>&-``) gets a
    stand-in (stdout: writing fails with a clean error; stderr: messages are lost, the exit code
    stays), and a non-UTF-8 locale (``LC_ALL=C``, ``PYTHONIOENCODING=ascii``) replaces what it cannot
    encode instead of failing."""
    from kubectl_dra.console import ClosedStream

    if sys.stdout is None:
        sys.stdout = ClosedStream()
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (getattr(stream, "encoding", "") or "").lower().replace("-", "") != "utf8":
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):
                pass


def _discard(stream):
    """A stream whose pending output is dropped: devnull (the failed one is left unflushed)."""
    try:
        buffer = getattr(stream, "buffer", None)
        if buffer is not None and hasattr(buffer, "raw"):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return open(os.devnull, "w")  # noqa: SIM115


def _source_folder(fn: Callable) -> Callable[[dict], dict] | None:
    """For a handler with a ``source`` parameter: kwargs -> kwargs with the source flags folded."""
    import inspect

    if "source" not in inspect.signature(fn).parameters:
        return None
    from kubectl_dra.cli._common import SOURCE_FLAGS, source_options

    def fold(kw: dict) -> dict:
        flags = {k: kw.pop(k) for k in SOURCE_FLAGS if k in kw}
        kw["source"] = source_options(**flags)
        return kw

    return fold


_LAZY_INFO: dict[type, type] = {}


def _lazy_info_class(base: type) -> type:
    """A subclass of typer's CommandInfo whose ``callback`` gets the signature typer reads
    (:func:`_typer_signature`) on first use: evaluating every command's annotations at import cost
    ~4 ms of each start, although a run builds one command (``--help``: none)."""
    lazy = _LAZY_INFO.get(base)
    if lazy is not None:
        return lazy

    def get(self):
        state = vars(self)
        run = state["callback"]
        fn = state.pop("_signature_of", None)
        if fn is not None:
            run.__signature__, run.__annotations__ = _typer_signature(fn)
        return run

    def put(self, value) -> None:
        state = vars(self)
        state["callback"] = value
        state.pop("_signature_of", None)  # another callback (cli.commands_for's stand-ins): its own signature

    lazy = _LAZY_INFO[base] = type(base.__name__, (base,), {"callback": property(get, put), "__module__": __name__})
    return lazy


def _typer_signature(fn: Callable):
    """The signature typer reads: the handler's, with ``source`` replaced by the flags its default
    names (none when it has no default), annotations evaluated (the modules use ``from __future__
    import annotations``; ``source``'s type may exist only for type checkers)."""
    import inspect

    from kubectl_dra.cli._common import SOURCE_OPTIONS, SourceFlags

    namespace = getattr(fn, "__globals__", {})
    params = []
    for param in inspect.signature(fn).parameters.values():
        if param.name == "source":
            if isinstance(param.default, SourceFlags):
                own = param.default.options
                params.extend(
                    inspect.Parameter(flag, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                      annotation=own.get(flag, SOURCE_OPTIONS[flag][0]), default=SOURCE_OPTIONS[flag][1])
                    for flag in param.default
                )  # fmt: skip
            continue
        annotation = param.annotation
        if isinstance(annotation, str):
            annotation = eval(annotation, namespace)  # noqa: S307 - the module's own annotation text
        params.append(param.replace(annotation=annotation))
    return inspect.Signature(params, return_annotation=None), {p.name: p.annotation for p in params}
