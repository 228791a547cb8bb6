"""The ``restoration-lib`` command line (also ``python -m restoration_lib``): every argparse parser lives here.

One module per command group (``demo``, ``pipeline`` for photo/folder/film, ``colorize``, ``repair``,
``interpolate``, ``weights``); each has ``add_cli(subparsers)`` that adds its parsers and sets ``func`` (called
with the parsed arguments; returns an exit code). A user's mistake is one line on stderr naming the file or flag
(exit 1); ``--debug`` shows the traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from typing import Optional, Sequence

from ..errors import RestorationError

__all__ = ["build_parser", "main"]

# Command groups, in the order --help lists them.
_GROUPS = ("demo", "pipeline", "colorize", "repair", "interpolate", "weights")


def build_parser() -> argparse.ArgumentParser:
    """The whole parser (every sub-command)."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="restoration-lib",
        description="Repair, colorize and interpolate old photos and films with published models.",
    )
    parser.add_argument("--version", action="version", version=f"restoration-lib {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="TASK", title="tasks")
    for name in _GROUPS:
        importlib.import_module(f"{__name__}.{name}").add_cli(sub)
    return parser


def _debug_wanted(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("RESTORATION_DEBUG", "") not in ("", "0")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; returns the exit code (0 ok, 1 error, 2 usage, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_wanted(argv)
    argv = [a for a in argv if a != "--debug"]  # accepted anywhere on the line
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (RestorationError, OSError, ValueError) as e:
        # RestorationError: the library's own messages (in CLI wording where the error carries one).
        # OSError/ValueError: the user's environment or input (permissions, full disk, a value out of range)
        # that slipped past the checks: one line too, never a traceback unless --debug.
        if debug:
            traceback.print_exc()
        if isinstance(e, RestorationError):
            msg = getattr(e, "cli_message", None) or str(e)
        else:
            msg = f"{type(e).__name__}: {e}" + ("" if debug else "  (--debug shows where)")
        print(f"error: {msg}", file=sys.stderr)
        return 1

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
