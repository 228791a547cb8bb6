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


def _psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64))[where] ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_real_photo_with_synthetic_damage(data_dir):
    from PIL import Image

    path = data_dir / "old" / "bw" / "camera.png"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    clean = np.asarray(Image.open(path).convert("RGB"))
    damaged, drawn = add_synthetic_damage(clean, seed=7)
    truth = (drawn > 0) | np.any(damaged != clean, axis=2)
    fixed, mask = classical_repair(damaged, denoise=0, contrast=0, faces=False)
    assert np.array_equal(mask > 0, detect_scratches_classical(damaged) > 0)
    assert np.array_equal(fixed[mask == 0], damaged[mask == 0])  # the scratch repair alone touches only the mask
    assert _psnr(fixed, clean, ~truth) >= 40  # what was fine stays fine
    assert _psnr(fixed, clean, truth) > _psnr(damaged, clean, truth) + 1.0  # and the damage is less
    # almost no false alarm on the clean photo: the confidence-weighted share of moved pixels
    _, bright, dark = detect_scratches_classical(clean, confidence=True)
    assert np.maximum(bright, dark).mean() < 0.005


def test_clean_colour_photos_are_left_alone(data_dir):
    """Undamaged-pixel preservation: on clean photos full of edges and thin lines (rigging and lettering, a
    picket fence, a lattice tower), the scratch-and-dust repair changes almost nothing (>= 40 dB)."""
    from PIL import Image

    for name in ("kodak/kodim09.png", "kodak/kodim19.png", "misc/rocket.jpg"):
        path = data_dir / "color" / name
        if not path.is_file():
            pytest.skip(f"{path} is absent")
        clean = np.asarray(Image.open(path).convert("RGB"))
        fixed, mask = classical_repair(clean, denoise=0, contrast=0, faces=False)
        _, bright, dark = detect_scratches_classical(clean, confidence=True)
        moved = np.maximum(bright, dark).mean()  # doubtful pixels move only part of the way
        assert moved < 0.005, f"{name}: {100 * moved:.2f}% flagged"
        assert np.array_equal(mask > 0, np.maximum(bright, dark) > 0)
        assert _psnr(fixed, clean, np.ones(clean.shape[:2], bool)) >= 40, name


def test_dark_and_light_scratches_and_specks_are_removed():
    import cv2

    clean = _smooth_photo(256, 320, seed=3)
    damaged = clean.copy()
    cv2.line(damaged, (10, 40), (300, 90), (235, 235, 235), 2, cv2.LINE_AA)  # light scratch
    pts = np.array([[30, 230], [120, 180], [200, 200], [310, 130]], np.int32)
    cv2.polylines(damaged, [pts], False, (20, 20, 20), 1, cv2.LINE_AA)  # dark, bent hairline
    for c, v in (((60, 140), 250), ((250, 40), 10), ((160, 110), 245), ((280, 220), 15)):  # specks
        cv2.circle(damaged, c, 2, (v, v, v), -1, cv2.LINE_AA)
    truth = np.any(damaged != clean, axis=2)
    fixed, mask = classical_repair(damaged, denoise=0, contrast=0, faces=False)
    precision, recall = _scores(truth, mask > 0)
    assert recall > 0.9 and precision > 0.9, (precision, recall)
    # every speck is found
    for c in ((60, 140), (250, 40), (160, 110), (280, 220)):
        assert mask[c[1] - 1:c[1] + 2, c[0] - 1:c[0] + 2].any(), c
    assert _psnr(fixed, clean, truth) > _psnr(damaged, clean, truth) + 10
    assert _psnr(fixed, clean, ~truth) >= 40


def test_face_is_not_smeared(data_dir):
    """b.png: the mouth, eyes and nose of the face are never inpainted; the face crop stays sharp."""
    from PIL import Image

    from restoration_lib.repair.classical import face_masks

    path = data_dir / "old" / "scratched" / "b.png"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    image = np.asarray(Image.open(path).convert("RGB"))
    masks = face_masks(image)
    if masks is None:
        pytest.skip("dlib or its landmark model is not installed")
    protect, strict = masks
    assert protect.any() and strict.sum() > protect.sum()
    fixed, mask = classical_repair(image, denoise=0, contrast=0)
    assert not (mask > 0)[protect].any()
    assert np.array_equal(fixed[protect], image[protect])
    # sharpness of the face (variance of the Laplacian) kept, with the default denoise and contrast too
    import cv2

    out, _ = classical_repair(image)
    lap = lambda im: cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_64F)[protect].var()  # noqa: E731
    assert lap(out) > 0.6 * lap(image), (lap(out), lap(image))


def test_parameters_are_checked():
    img = _smooth_photo(64, 64)
    for kw, match in (({"denoise": -0.1}, "denoise"), ({"denoise": 3.5}, "denoise"), ({"contrast": -0.1}, "contrast"),
                      ({"contrast": 1.5}, "contrast")):
        with pytest.raises(ValueError, match=match):
            classical_repair(img, **kw)
    for kw, match in (({"max_width": 0}, "max_width"), ({"k_low": 9.0}, "k_low"), ({"grow": 9}, "grow"),
                      ({"max_crowd": -1}, "max_crowd"), ({"edge_sure": 0.9}, "edge_sure"),
                      ({"crowd_sure": 0.5}, "crowd_sure"), ({"max_parallel": 1.5}, "max_parallel"),
                      ({"window": 2}, "window"), ({"link": 5}, "link"), ({"twin_confidence": 2}, "twin_confidence"),
                      ({"dust_k_min": 2.0}, "dust_k_min")):
        with pytest.raises(ValueError, match=match):
            ScratchDetectorSettings(**kw)
    with pytest.raises(ValueError, match="protect must have shape"):
        detect_scratches_classical(img, protect=np.zeros((3, 3), bool))
    from restoration_lib.repair import Restorer

    with pytest.raises(ValueError, match="denoise"):
        Restorer(mode="classical", faces=False, denoise=4, progress=False)
    with pytest.raises(ValueError, match="contrast"):
        Restorer(mode="classical", faces=False, contrast=2, progress=False)


def test_restorer_passes_denoise_and_contrast():
    from restoration_lib.repair import Restorer

    damaged, _ = add_synthetic_damage(_smooth_photo(96, 128), seed=2)
    res = Restorer(with_scratch=True, mode="classical", faces=False, denoise=0, contrast=0, progress=False)(damaged)
    want, mask = classical_repair(damaged, denoise=0, contrast=0, faces=False)
    assert np.array_equal(res.image, want) and np.array_equal(res.scratch_mask, mask)
    assert np.array_equal(res.image[mask == 0], damaged[mask == 0])


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


def test_benchmark_damage_is_found_and_nothing_else_harmed(data_dir):
    """A photo damaged by the benchmark's own generator (cracks, wavy scratches, dust blobs, film lines): the
    repair recovers a fair part of what the oracle (inpainting the true mask) recovers, a good part of the
    damage's energy is found, and the undamaged pixels stay >= 40 dB."""
    from PIL import Image

    from benchmarks._damage import add_damage

    path = data_dir / "color" / "kodak" / "kodim19.png"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    clean = np.asarray(Image.open(path).convert("RGB"))
    damaged, truth = add_damage(clean, seed=9)  # the benchmark's seed 0 for this photo
    fixed, mask = classical_repair(damaged, denoise=0, contrast=0, faces=False)
    assert np.array_equal(fixed[mask == 0], damaged[mask == 0])
    before, ours = _psnr(damaged, clean, truth), _psnr(fixed, clean, truth)
    oracle = _psnr(inpaint(damaged, truth), clean, truth)
    assert (ours - before) / (oracle - before) >= 0.3, (before, ours, oracle)
    energy = ((damaged.astype(float) - clean) ** 2).sum(axis=2)
    assert energy[(mask > 0) & truth].sum() >= 0.35 * energy[truth].sum()
    assert _psnr(fixed, clean, ~truth) >= 40


def test_rows_of_parallel_lines_are_not_scratches():
    """Mortar between stones, a lattice, window bars: a row of parallel thin lines is picture, one line alone
    is a scratch."""
    import cv2

    grid = _smooth_photo(256, 320, seed=5)
    for y in range(20, 250, 16):  # courses of a wall: dark horizontal lines 16 px apart (32 px at 512 px)
        cv2.line(grid, (0, y), (319, y), (40, 40, 40), 2)
    assert detect_scratches_classical(grid).mean() < 0.02 * 255
    single = _smooth_photo(256, 320, seed=5)
    cv2.line(single, (0, 120), (319, 120), (40, 40, 40), 2)
    found = detect_scratches_classical(single) > 0
    assert found[119:123, 20:300].mean() > 0.5


def test_doubtful_pixels_move_part_of_the_way():
    """The fill is soft: where the detector is not sure, a pixel moves only part of the way to the inpainted
    value, never the wrong way (a bright candidate only darkens)."""
    import cv2

    img = _smooth_photo(200, 240, seed=2)
    cv2.line(img, (10, 100), (230, 110), (235, 235, 235), 2)
    for x in range(20, 220, 12):  # busy texture beside part of the line makes that stretch doubtful
        cv2.line(img, (x, 120), (x + 4, 170), (200, 200, 200), 1)
    mask, bright, dark = detect_scratches_classical(img, confidence=True)
    conf = np.maximum(bright, dark)
    assert conf.max() == 1.0 and ((conf > 0) & (conf < 1)).any()
    assert np.array_equal(mask > 0, conf > 0)
    fixed, _ = classical_repair(img, denoise=0, contrast=0, faces=False)
    only_bright = (bright > 0) & (dark == 0)
    assert np.all(fixed[only_bright] <= img[only_bright])


def test_twin_specks_are_picture():
    """Two specks alike in size and contrast close together (buttons, rivets) are mostly left alone; a lone
    speck of the same kind is dust."""
    import cv2

    clean = _smooth_photo(256, 320, seed=4)
    twins = clean.copy()
    for c in ((150, 100), (150, 125)):
        cv2.circle(twins, c, 3, (235, 235, 235), -1, cv2.LINE_AA)
    _, bright, _ = detect_scratches_classical(twins, confidence=True)
    assert bright[95:131, 145:156].max() <= 0.25
    lone = clean.copy()
    cv2.circle(lone, (150, 100), 3, (235, 235, 235), -1, cv2.LINE_AA)
    _, bright, _ = detect_scratches_classical(lone, confidence=True)
    assert bright[95:106, 145:156].max() == 1.0
    _, bright, _ = detect_scratches_classical(twins, ScratchDetectorSettings(twin_radius=0), confidence=True)
    assert bright[95:131, 145:156].max() == 1.0
