"""Moved to :mod:`restoration_lib.cli.interpolate` (all argparse code lives in ``restoration_lib.cli``)."""
from ..cli.interpolate import add_cli  # noqa: F401
