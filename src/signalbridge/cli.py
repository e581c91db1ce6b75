"""``signalbridge``: run the platform and administer it from the shell.

This module only dispatches. A plain ``signalbridge parse [--template FILE]``, which a
pipeline may start once per batch of messages, goes straight to the JSON Lines parser
without loading the command-line framework (a third of a second per start); everything
else, ``parse --help`` included, goes to the commands in :mod:`signalbridge.commands`.
"""

from __future__ import annotations

import sys
from pathlib import Path


def plain_parse(args: list[str]) -> tuple[bool, Path | None]:
    """Whether ``args`` is a plain ``parse`` call, and the template it names."""
    if args == ["parse"]:
        return True, None
    if len(args) == 3 and args[:2] == ["parse", "--template"] and not args[2].startswith("-"):
        return True, Path(args[2])
    if len(args) == 2 and args[0] == "parse" and args[1].startswith("--template="):
        return True, Path(args[1].removeprefix("--template="))
    return False, None


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    plain, template = plain_parse(args)
    if plain:
        from signalbridge.parsing import select_build

        select_build()  # the compiled parser, unless its build is stale
        from signalbridge.parsing.jsonl import run

        raise SystemExit(run(sys.stdin, sys.stdout, template))
    from signalbridge.commands import app

    app(args=args, prog_name="signalbridge")


if __name__ == "__main__":
    main()
