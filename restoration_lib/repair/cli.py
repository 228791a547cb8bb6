"""Moved to :mod:`restoration_lib.cli.repair` (all argparse code lives in ``restoration_lib.cli``)."""
from ..cli.repair import add_cli, run  # noqa: F401
