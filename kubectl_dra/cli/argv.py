"""kubectl's command-line habits, applied to the arguments before click parses them.

kubectl (cobra/pflag) accepts forms that click rejects; people type them without thinking:

* flags before the subcommand: ``kubectl dra --context prod list`` is ``kubectl dra list --context prod``
  (kubectl's global flags go anywhere); only flags the subcommand has are moved;
* ``-o=wide`` (pflag: a shorthand with ``=``): ``-o wide``; any short option that takes a value;
* ``--no-headers=true``, ``--no-headers=false``, ``-w=false`` (pflag: a boolean flag takes an
  optional ``=true|false``, also ``1``/``0``/``t``/``f``): the flag, or nothing (its default);
  a flag with a ``--no-`` twin gets the twin for false.

Arguments after ``--`` and option values are never touched.  Pure: a function of the click group's
declared parameters and the argument list.
"""

from __future__ import annotations

from typing import Any

_TRUE = {"true", "t", "1"}
_FALSE = {"false", "f", "0"}


def _options(command: Any) -> dict[str, Any]:
    """Option string -> click parameter, for one command."""
    out: dict[str, Any] = {}
    for param in getattr(command, "params", ()):
        for opt in [*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())]:
            if opt.startswith("-"):
                out[opt] = param
    return out


def _takes_value(param: Any) -> bool:
    return not getattr(param, "is_flag", False) and not getattr(param, "count", False)


def normalize(group: Any, args: list[str]) -> list[str]:
    """``args`` (after the program name) in the form click parses as kubectl would."""
    commands = getattr(group, "commands", {})
    if not commands:
        return list(args)
    every: dict[str, Any] = {}
    for command in commands.values():
        for opt, param in _options(command).items():
            every.setdefault(opt, param)
    # 1. flags before the subcommand
    head: list[str] = []
    names: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--" or not a.startswith("-") or a in ("-h", "--help", "--version"):
            break
        name = a.split("=", 1)[0]
        param = every.get(name)
        if param is None:
            break
        head.append(a)
        names.append(name)
        if "=" not in a and _takes_value(param) and i + 1 < len(args):
            head.append(args[i + 1])
            i += 1
        i += 1
    if head and i < len(args) and args[i] in commands:
        command = commands[args[i]]
        known = _options(command)
        if all(n in known for n in names):
            args = [args[i], *head, *args[i + 1:]]
    # 2. the subcommand's own arguments
    if not args or args[0] not in commands:
        return list(args)
    command = commands[args[0]]
    known = _options(command)
    out = [args[0]]
    i = 1
    while i < len(args):
        a = args[i]
        if a == "--":
            out.extend(args[i:])
            break
        if not a.startswith("-") or a == "-":
            out.append(a)
            i += 1
            continue
        name, eq, value = a.partition("=")
        param = known.get(name)
        if param is None:
            out.append(a)
            i += 1
            continue
        if _takes_value(param):
            if eq and not name.startswith("--"):
                out.extend([name, value])  # -o=wide
            else:
                out.append(a)
                if not eq and i + 1 < len(args):
                    out.append(args[i + 1])  # the value, untouched
                    i += 1
            i += 1
            continue
        if eq and value.lower() in _TRUE | _FALSE:
            if value.lower() in _TRUE:
                out.append(name if name in getattr(param, "opts", ()) else _primary(param))
            else:
                if name in getattr(param, "secondary_opts", ()):
                    out.append(_primary(param))  # --no-x=false is --x
                elif getattr(param, "secondary_opts", ()):
                    out.append(param.secondary_opts[0])
                # else: the default (false): nothing
            i += 1
            continue
        out.append(a)
        i += 1
    return out


def _primary(param: Any) -> str:
    longs = [o for o in param.opts if o.startswith("--")]
    return longs[0] if longs else param.opts[0]
