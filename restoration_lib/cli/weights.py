"""``restoration-lib weights``: list, fetch, verify and locate the published checkpoints."""
from __future__ import annotations

from typing import Any

from ..weights import ENV_VAR, _cmd_fetch, _cmd_list, _cmd_path, _cmd_verify


def add_cli(subparsers: Any) -> None:
    """Add the ``weights`` command (``list``, ``fetch``, ``verify``, ``path``) to the CLI.

    Args:
        subparsers: the object returned by ``ArgumentParser.add_subparsers``.
    """
    p = subparsers.add_parser("weights", help="list, download and verify the published checkpoints",
                              description="Manage the published checkpoints (see docs/weights.md).")
    sub = p.add_subparsers(dest="weights_command", metavar="ACTION")

    def with_dir(sp: Any) -> Any:
        sp.add_argument("--dir", default=None,
                        help=f"weights folder (default: ${ENV_VAR}, else <checkout>/weights, "
                             "else ~/.cache/restoration-workbench/weights)")
        sp.add_argument("--registry", default=None, metavar="TOML",
                        help="a registry file of your own instead of the library's (same format)")
        return sp

    sp = with_dir(sub.add_parser("list", help="show every checkpoint: file, size, present?, licence, networks"))
    sp.set_defaults(func=_cmd_list)
    sp = with_dir(sub.add_parser("fetch", help="download checkpoints (resumable, verified)"))
    sp.add_argument("ids", nargs="*", metavar="ID", help="checkpoint ids (see `weights list`)")
    sp.add_argument("--all", action="store_true", help="fetch every checkpoint in the registry")
    sp.add_argument("--force", action="store_true", help="download again even if a verified copy exists")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")
    sp.set_defaults(func=_cmd_fetch)
    sp = with_dir(sub.add_parser("verify", help="check size and sha256 of the checkpoints on disk"))
    sp.add_argument("ids", nargs="*", metavar="ID", help="checkpoint ids (default: all)")
    sp.set_defaults(func=_cmd_verify)
    sp = with_dir(sub.add_parser("path", help="print where a checkpoint is (or will be) stored"))
    sp.add_argument("id", metavar="ID")
    sp.set_defaults(func=_cmd_path)

    def _help(_args: Any) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_help)
