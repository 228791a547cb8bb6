"""Moved to :mod:`restoration_lib.cli.pipeline` (all argparse code lives in ``restoration_lib.cli``)."""
from ..cli.pipeline import add_cli  # noqa: F401

__all__ = ["add_cli"]
