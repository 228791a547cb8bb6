"""Repair old photos: "Bringing Old Photos Back to Life" (model mode) and a classical no-download mode.

>>> from restoration_lib.repair import Restorer
>>> result = Restorer(with_scratch=True)("old_photo.png")  # doctest: +SKIP

- :class:`Restorer` chains every stage and returns a :class:`RepairResult`.
- Stages on their own: :func:`detect_scratches` / :class:`ScratchDetector`, :func:`restore_global` /
  :class:`GlobalRestorer` (modes ``"quality"``, ``"scratch"``, ``"hr"``), :func:`detect_and_align`,
  :class:`FaceEnhancer`, :func:`blend_faces`, and the classical :func:`classical_repair`.

Everything is imported on first use, so ``import restoration_lib.repair`` loads no network and no dlib.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Restorer": "restorer",
    "RepairResult": "restorer",
    "FaceResult": "restorer",
    "ScratchDetector": "global_restore",
    "ScratchDetection": "global_restore",
    "GlobalRestorer": "global_restore",
    "GlobalResult": "global_restore",
    "GlobalCheckpoints": "global_restore",
    "detect_scratches": "global_restore",
    "restore_global": "global_restore",
    "official_mask_png": "global_restore",
    "MemoryPlan": "lowmem",
    "AlignedFace": "faces",
    "detect_and_align": "faces",
    "FaceEnhancer": "faces",
    "blend_faces": "faces",
    "classical_repair": "classical",
}

__all__ = sorted(_EXPORTS) + ["add_cli"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def add_cli(subparsers: Any) -> None:
    """Add the ``repair`` sub-command (see :mod:`restoration_lib.repair.cli`)."""
    from .cli import add_cli as _add

    _add(subparsers)
