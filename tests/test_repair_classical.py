"""The classical (no-download) repair mode: scratch/dust detector, inpainting, denoise, contrast.

Quality is measured in benchmarks/repair_classical.py; these tests assert sane, non-trivial behaviour on a
seeded case and the contracts (shapes, dtypes, gray stays gray, inputs untouched, clear errors).
"""
from __future__ import annotations

import numpy as np
import pytest

from restoration_lib.repair.classical import (
    ScratchDetectorSettings,
    add_synthetic_damage,
    classical_repair,
    contrast_gentle,
    denoise_gentle,
    detect_scratches_classical,
    inpaint,
)


def _smooth_photo(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    """A clean synthetic 'photo': smooth shading plus mild grain."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 90 + 60 * np.sin(xx / 53.0) * np.cos(yy / 41.0) + 0.2 * yy
    img = base + rng.normal(0, 2.0, (h, w))
    return np.repeat(np.clip(np.rint(img), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _scores(truth: np.ndarray, found: np.ndarray, tol: int = 2) -> tuple[float, float]:
    import cv2

    k = np.ones((2 * tol + 1, 2 * tol + 1), np.uint8)
    near_truth = cv2.dilate(truth.astype(np.uint8), k) > 0
    near_found = cv2.dilate(found.astype(np.uint8), k) > 0
    precision = float((found & near_truth).sum()) / max(float(found.sum()), 1.0)
    recall = float((truth & near_found).sum()) / max(float(truth.sum()), 1.0)
    return precision, recall


def test_synthetic_line_is_found_and_removed():
    clean = _smooth_photo()
    damaged = clean.copy()
    import cv2

    cv2.line(damaged, (20, 30), (300, 200), (250, 250, 250), 2)  # a bright scratch
    cv2.circle(damaged, (60, 180), 2, (15, 15, 15), -1)  # a dark dust speck
    truth = np.any(damaged != clean, axis=2)
    mask = detect_scratches_classical(damaged) > 0
    precision, recall = _scores(truth, mask)
    assert recall > 0.9 and precision > 0.9, (precision, recall)
    assert mask.sum() < 0.05 * mask.size
    fixed = inpaint(damaged, mask)
    err_before = np.abs(damaged.astype(int) - clean)[truth].mean()
    err_after = np.abs(fixed.astype(int) - clean)[truth].mean()
    assert err_after < 0.2 * err_before, (err_before, err_after)


def test_clean_smooth_image_has_no_scratches():
    assert detect_scratches_classical(_smooth_photo()).max() == 0
    flat = np.full((64, 64, 3), 77, np.uint8)
    assert detect_scratches_classical(flat).max() == 0


def test_real_photo_with_synthetic_damage(data_dir):
    from PIL import Image

    path = data_dir / "old" / "bw" / "camera.png"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    clean = np.asarray(Image.open(path).convert("RGB"))
    damaged, drawn = add_synthetic_damage(clean, seed=7)
    delta = np.abs(damaged.astype(float) - clean).max(axis=2)
    truth = (drawn > 0) & (delta >= 12)  # damage that is visible at all
    found = detect_scratches_classical(damaged) > 0
    precision, recall = _scores(truth, found)
    assert recall > 0.4, f"recall {recall:.2f}"
    assert precision > 0.2, f"precision {precision:.2f}"
    assert (detect_scratches_classical(clean) > 0).mean() < 0.05  # few false alarms on the clean photo
    fixed = inpaint(damaged, found)
    err_before = np.abs(damaged.astype(float) - clean)[truth].mean()
    err_after = np.abs(fixed.astype(float) - clean)[truth].mean()
    assert err_after < 0.6 * err_before, (err_before, err_after)
    out, mask = classical_repair(damaged)
    assert np.array_equal(mask > 0, found)
    assert out.shape == clean.shape and out.dtype == np.uint8


def test_classical_repair_contracts():
    clean = _smooth_photo(120, 160)
    damaged, _ = add_synthetic_damage(clean, seed=1)
    before = damaged.copy()
    out, mask = classical_repair(damaged)
    assert np.array_equal(damaged, before)  # input untouched
    assert out.shape == damaged.shape and out.dtype == np.uint8
    assert mask.shape == damaged.shape[:2] and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])  # gray stays gray
    out2, mask2 = classical_repair(damaged[..., 0])  # (H, W) gray input
    assert np.array_equal(out, out2) and np.array_equal(mask, mask2)
    plain, none = classical_repair(damaged, with_scratch=False)
    assert none.max() == 0 and plain.shape == damaged.shape
    untouched, _ = classical_repair(damaged, with_scratch=False, denoise=0, contrast=0)
    assert np.array_equal(untouched, damaged)


def test_colour_photo_keeps_its_colours():
    rng = np.random.default_rng(0)
    img = np.clip(_smooth_photo(96, 128).astype(int) + np.array([30, 0, -30]) + rng.integers(-3, 4, (96, 128, 3)), 0, 255).astype(np.uint8)
    out = contrast_gentle(denoise_gentle(img))
    mean_in, mean_out = img.reshape(-1, 3).mean(0), out.reshape(-1, 3).mean(0)
    assert np.all(np.abs((mean_out - mean_out.mean()) - (mean_in - mean_in.mean())) < 6)


def test_synthetic_damage_is_seeded():
    clean = _smooth_photo(100, 140)
    a = add_synthetic_damage(clean, seed=3)
    b = add_synthetic_damage(clean, seed=3)
    c = add_synthetic_damage(clean, seed=4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    assert 0 < (a[1] > 0).mean() < 0.2


def test_detector_settings_and_errors():
    img = _smooth_photo(80, 80)
    import cv2

    cv2.line(img, (5, 40), (75, 44), (10, 10, 10), 1)
    assert detect_scratches_classical(img, ScratchDetectorSettings(dark=False)).max() == 0
    assert detect_scratches_classical(img, ScratchDetectorSettings(bright=False)).max() == 255
    with pytest.raises(ValueError, match="uint8"):
        detect_scratches_classical(img.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        classical_repair(np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(ValueError, match="at least 8x8"):
        classical_repair(np.zeros((4, 40, 3), np.uint8))
    with pytest.raises(ValueError, match="mask must have shape"):
        inpaint(img, np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="contrast"):
        classical_repair(img, contrast=2.0)
    with pytest.raises(TypeError):
        classical_repair([[1, 2], [3, 4]])
