"""The top-level command group: global options are accepted after the subcommand too.

``ainsdale-etl verify --debug`` is what people type after a failure; Click would read
``--debug`` as an option of ``verify`` and refuse it. The group moves the global options in
front of the subcommand before Click parses, so either place means the same.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup

GLOBAL_FLAGS = frozenset({"--debug", "--quiet", "-q"})
GLOBAL_WITH_VALUE = frozenset({"--log-format"})


def hoist_global_options(args: list[str], commands: set[str]) -> list[str]:
    """``args`` with every global option found after the subcommand moved in front of it.

    Only options the group itself defines move; an argument after ``--`` never does.
    """
    position = next((i for i, a in enumerate(args) if a in commands), None)
    if position is None:
        return args
    front, rest = list(args[:position]), args[position + 1 :]
    kept: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--" or (args[position] == "embedded" and arg == "psql"):
            kept.extend(rest[i:])  # after `embedded psql`, psql's own options (-q is psql's)
            break
        name, has_value, _ = arg.partition("=")
        if arg in GLOBAL_FLAGS or (has_value and name in GLOBAL_WITH_VALUE):
            front.append(arg)
        elif arg in GLOBAL_WITH_VALUE and i + 1 < len(rest):
            front.extend(rest[i : i + 2])
            i += 1
        else:
            kept.append(arg)
        i += 1
    return [*front, args[position], *kept]


class GlobalOptionsGroup(TyperGroup):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args, set(self.commands)))
