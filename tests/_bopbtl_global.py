"""Stand-in checkpoints of BOPBTL's global_checkpoints.zip for the repair tests (shared by several test files).

The state_dicts are made with ../shared/reference/make_checkpoint.py and the seeds of
../shared/reference/bopbtl/checkpoints.json, exactly as the fixtures were made, and cached per test session.
"""
from __future__ import annotations

import functools
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from restoration_lib.repair.global_restore import MEMBERS

#: our checkpoint key -> the checkpoints.json entry it corresponds to
FIXTURE_ENTRY = {
    "detection": "detection",
    "vae_a": "VAE_A_quality",
    "vae_b_quality": "VAE_B_quality",
    "vae_b_scratch": "VAE_B_scratch",
    "mapping_quality": "mapping_quality",
    "mapping_scratch": "mapping_scratch",
    "mapping_hr": "mapping_Patch_Attention",
}


@functools.lru_cache(maxsize=None)
def make_standin(manifest: str, seed: int) -> dict:
    """``make_state_dict(load_manifest(manifest), seed)`` from ../shared/reference/make_checkpoint.py, cached."""
    ref = Path(manifest).parents[1]
    sys.path.insert(0, str(ref))
    try:
        import make_checkpoint as mc  # type: ignore
    finally:
        sys.path.remove(str(ref))
    return mc.make_state_dict(mc.load_manifest(manifest), seed)


def standin(bop_dir: str, key: str) -> dict:
    """The stand-in state_dict of checkpoint ``key`` (a key of ``MEMBERS``) with the seed of checkpoints.json."""
    bop = Path(bop_dir)
    entry = json.loads((bop / "checkpoints.json").read_text())["checkpoints"][FIXTURE_ENTRY[key]]
    return make_standin(str(bop / entry["manifest"]), int(entry["seed"]))


def standins(bop_dir: str, keys=tuple(MEMBERS)) -> dict:
    return {k: standin(str(bop_dir), k) for k in keys}


def write_global_zip(bop_dir: str, path: Path, keys=tuple(MEMBERS)) -> Path:
    """``global_checkpoints.zip`` in the published layout (``checkpoints/...``), detection nested as official."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in keys:
            sd = standin(str(bop_dir), key)
            buf = io.BytesIO()
            torch.save({"model_state": sd} if key == "detection" else sd, buf)
            zf.writestr(MEMBERS[key][0], buf.getvalue())
    return path


def png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def bop(reference_dir) -> Path:
    """../shared/reference/bopbtl, or skip (import this fixture into a test module to use it)."""
    d = reference_dir / "bopbtl"
    if not (d / "checkpoints.json").is_file():
        pytest.skip(f"{d} is absent")
    return d
