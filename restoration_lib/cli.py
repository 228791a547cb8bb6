"""The ``restoration-lib`` command line (also ``python -m restoration_lib``).

Each task module contributes its sub-commands through a function ``add_cli(subparsers)`` that adds a parser
and sets ``func`` (called with the parsed arguments; returns an exit code).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from typing import Optional, Sequence

from .errors import RestorationError

# Modules that contribute sub-commands, in the order --help lists them.
_COMMAND_MODULES = (
    "restoration_lib.demo",
    "restoration_lib.pipeline",
    "restoration_lib.colorize",
    "restoration_lib.repair",
    "restoration_lib.interpolate",
    "restoration_lib.weights",
)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="restoration-lib",
        description="Repair, colorize and interpolate old photos and films with published models.",
    )
    parser.add_argument("--version", action="version", version=f"restoration-lib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="TASK", title="tasks")
    for mod_name in _COMMAND_MODULES:
        if importlib.util.find_spec(mod_name) is None:
            continue
        mod = importlib.import_module(mod_name)
        add = getattr(mod, "add_cli", None)
        if add is not None:
            add(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RestorationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
