"""Shared by the real-weights tests: find a published checkpoint, check its size and sha256, or skip."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from restoration_lib import weights
from restoration_lib.errors import MissingWeightsError


def verified_checkpoint(weight_id: str) -> Path:
    """The on-disk path of ``weight_id`` after checking its size and sha256 against the registry.

    Skips the test (with the reason) when the file is not on disk; fails it when the file is not the published one.
    """
    try:
        path = weights.find(weight_id)
    except MissingWeightsError as e:
        pytest.skip(f"published weights {weight_id!r} absent: {str(e).splitlines()[0]}")
    entry = weights.registry()[weight_id]
    assert entry.size is not None and entry.sha256 is not None, f"the registry pins no size/sha256 for {weight_id}"
    assert path.stat().st_size == entry.size, f"{path}: {path.stat().st_size} bytes, the registry says {entry.size}"
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    assert h.hexdigest() == entry.sha256, f"{path}: sha256 {h.hexdigest()} differs from the registry's {entry.sha256}"
    return path


def psnr(a, b) -> float:
    """PSNR in dB of two uint8 images."""
    import numpy as np

    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
