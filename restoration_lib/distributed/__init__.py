"""Folders and films on a Ray cluster (the optional extra ``pip install "restoration-lib[ray]"``).

- :func:`restore_folder_ray`: one Ray actor per worker holds the photo models; the driver writes every output.
- :func:`restore_film_ray`: the film's chunks restored in parallel by Ray tasks, joined losslessly; the result is
  byte-identical to :func:`~restoration_lib.pipeline.restore_film` with the same settings.

``restore_folder(..., engine="ray", address=None)`` and ``restore_film(..., engine="ray")`` call these. Importing
this package does not import Ray; calling an engine without Ray installed raises :class:`RayUnavailableError`
with one line saying how to install it. See docs/ray.md.
"""
from .film import restore_film_ray
from .folder import restore_folder_ray
from .runtime import INSTALL_HINT, RayUnavailableError, require_ray

__all__ = ["restore_folder_ray", "restore_film_ray", "RayUnavailableError", "INSTALL_HINT", "require_ray",
           "unknown_engine"]


def unknown_engine(engine) -> ValueError:
    """The error for an ``engine`` that is neither ``"local"`` nor ``"ray"``."""
    return ValueError(f"engine must be 'local' or 'ray'; got {engine!r}")
