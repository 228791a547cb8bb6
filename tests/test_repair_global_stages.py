"""BOPBTL stage 1 on real photos: scratch detection and global restoration against the official outputs.

../shared/reference/bopbtl/stages (stand-in weights): detection.py's resized input and mask (s1), test.py's
quality restoration (s2), scratch restoration with the detected mask (s3) and a given mask (s3b), and the same
with --HR (s4, s4b). Restored images within 2 levels per value, the stage inputs ("origin") and the masks as
they reached the model exactly, the float tensors before 8-bit quantisation within 2e-4 (looser where
the non-local block amplifies float32 rounding, see ``_raw_close``). Every image of the
stage plan is checked, so a hold-out set with the same layout is checked the same way.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from restoration_lib.repair.global_restore import (
    GlobalRestorer,
    ScratchDetector,
    _target_size,
    official_mask_png,
    save_image_uint8,
)

from _bopbtl_global import bop, png, standins  # noqa: F401 (bop is a fixture)

RUNS = {  # fixture folder -> (mode, folder of the masks it used)
    "s3_scratch": ("scratch", "s1_detection/mask"),
    "s3b_scratch_given_mask": ("scratch", "s3b_given_mask"),
    "s4_scratch_HR": ("hr", "s1_detection/mask"),
    "s4b_scratch_HR_given_mask": ("hr", "s3b_given_mask"),
}


@pytest.fixture(scope="module")
def plan(bop) -> dict:
    if not (bop / "stages" / "stages.json").is_file():
        pytest.skip(f"{bop}/stages is absent")
    return json.loads((bop / "stages" / "stages.json").read_text())["plan"]


@pytest.fixture(scope="module")
def ckpts(bop) -> dict:
    return standins(str(bop))


@pytest.fixture(scope="module")
def restorers(ckpts) -> dict:
    return {m: GlobalRestorer(m, ckpts, device="cpu", progress=False) for m in ("quality", "scratch", "hr")}


def _close(got: np.ndarray, want: np.ndarray, what: str, levels: int = 2) -> None:
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    d = np.abs(got.astype(np.int16) - want.astype(np.int16))
    assert d.max() <= levels, f"{what}: {int((d > levels).sum())} values differ by more than {levels} (max {d.max()})"


def _raw_close(got: np.ndarray, want: np.ndarray, nonlocal_: bool, what: str) -> None:
    """Float tensors before quantisation: within 2e-4, with a looser bound where the non-local block runs.

    The non-local attention's logits reach about ±100 on these inputs, so float32 rounding in the layers before it
    (which depends on the CPU's vector width) is amplified about a hundredfold. Measured on s3b: the official
    float32 numbers are themselves 2.3e-4 and 3.2e-4 from a float64 evaluation of the same networks, and ours
    (AVX2) 4.6e-4 and 5.6e-4. There the bound is 1e-3 on the worst value and 2e-4 on 99 % of them.
    """
    d = np.abs(got - want)
    if not nonlocal_:
        assert d.max() <= 2e-4, f"{what}: max abs error {d.max():.3g}"
        return
    share = float((d > 2e-4).mean())
    assert d.max() <= 1e-3 and share <= 0.01, f"{what}: max abs error {d.max():.3g}, {share:.2%} of values > 2e-4"


def _npz(path: Path):
    return np.load(path) if path.is_file() else None


def test_stage1_detection(bop, plan, ckpts):
    s = bop / "stages"
    det = ScratchDetector(ckpts, device="cpu")
    logits = _npz(s / "s1_detection" / "logits.npz")
    for name in plan["scratch"]:
        r = det(png(s / "inputs" / f"{name}.png"))
        assert np.array_equal(r.image, png(s / "s1_detection" / "input" / f"{name}.png")), name
        if logits is not None:
            assert np.abs(r.logits - logits[name]).max() <= 1e-4, name
        want = png(s / "s1_detection" / "mask" / f"{name}.png")
        got = r.official_png
        flips = np.any(got != want, axis=2)
        # a flip is allowed only where the probability sits on the threshold within float noise
        assert np.all(np.abs(r.probability[flips] - 0.4) < 1e-5), f"{name}: {int(flips.sum())} mask pixels differ"
        assert set(np.unique(r.mask)) <= {0, 255}


def test_stage2_quality(bop, plan, restorers):
    s = bop / "stages" / "s2_full"
    raw = _npz(s / "raw.npz")
    for name in plan["full"]:
        r = restorers["quality"](png(bop / "stages" / "inputs" / f"{name}.png"))
        assert np.array_equal(r.input, png(s / "origin" / f"{name}.png")), name
        _close(r.image, png(s / "restored_image" / f"{name}.png"), f"s2 {name}")
        _close(save_image_uint8(torch.from_numpy(np.array(r.input)).permute(2, 0, 1).float() / 255, True),
               png(s / "input_image" / f"{name}.png"), f"s2 input_image {name}", 1)  # fmt: skip
        if raw is not None:
            _raw_close(r.raw, raw[name][0], nonlocal_=False, what=f"s2 {name}")
        assert r.holed is None and r.model_mask is None


@pytest.mark.parametrize("run", list(RUNS))
def test_stage1_scratch_restoration(bop, plan, restorers, run):
    mode, mask_dir = RUNS[run]
    s = bop / "stages"
    out = s / run
    raw, model_mask = _npz(out / "raw.npz"), _npz(out / "model_mask.npz")
    for name in plan["scratch"]:
        image = png(s / "s1_detection" / "input" / f"{name}.png")
        r = restorers[mode](image, png(s / mask_dir / f"{name}.png"))
        assert np.array_equal(r.input, png(out / "origin" / f"{name}.png")), name
        _close(r.image, png(out / "restored_image" / f"{name}.png"), f"{run} {name}")
        holed_png = save_image_uint8(torch.from_numpy(r.holed).permute(2, 0, 1).float().div(255), True)
        _close(holed_png, png(out / "input_image" / f"{name}.png"), f"{run} input_image {name}", 1)
        if model_mask is not None:
            assert np.array_equal(r.model_mask, model_mask[name][0, 0]), name
        if raw is not None:
            _raw_close(r.raw, raw[name][0], nonlocal_=mode == "scratch", what=f"{run} {name}")


def test_size_rules():
    # detection.py full_size: round(side/16)*16 with halves to even (200 -> 12.5 -> 12 -> 192; 170 -> 176)
    assert _target_size(200, 170, 16, "full") == (192, 176)
    assert _target_size(200, 200, 16, "full") == (192, 192)
    assert _target_size(232, 24, 16, "full") == (224, 32)  # 14.5 -> 14, 1.5 -> 2
    # test.py Full: multiples of 4 (142 -> 35.5 -> 36 -> 144; 170 -> 42.5 -> 42 -> 168)
    assert _target_size(142, 200, 4, "full") == (144, 200)
    assert _target_size(200, 170, 4, "full") == (200, 168)
    # Scale: short side 256, long side keeps the ratio: 300x200 -> 384x256
    assert _target_size(300, 200, 4, "scale_256") == (384, 256)
    assert _target_size(200, 300, 16, "scale_256") == (256, 384)
    with pytest.raises(ValueError, match="size_mode"):
        _target_size(10, 10, 4, "crop")


def test_all_scratch_mask_is_saved_black():
    """Official quirk kept in official_mask_png: min-max stretch writes an all-ones mask as all black."""
    assert official_mask_png(np.full((4, 5), 255, np.uint8)).max() == 0
    m = np.zeros((4, 5), np.uint8)
    m[1, 2] = 255
    png_ = official_mask_png(m)
    assert png_.shape == (4, 5, 3) and png_[1, 2].tolist() == [255] * 3 and png_.sum() == 3 * 255
