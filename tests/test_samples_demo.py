"""Sample inputs (no download) and the README's main job."""
from __future__ import annotations

import numpy as np

from restoration_lib.demo import compare_sheet
from restoration_lib.io import read_image
from restoration_lib.samples import SAMPLE_NAMES, list_samples, make_old, sample_clip, sample_image, sample_source


def test_make_old_is_seeded_gray_and_marks_its_damage():
    src = sample_source("coffee")
    a, mask = make_old(src, seed=3)
    b, _ = make_old(src, seed=3)
    c, _ = make_old(src, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == src.shape and a.dtype == np.uint8
    assert np.array_equal(a[..., 0], a[..., 1])  # neutral gray
    assert 0.005 < (mask > 0).mean() < 0.2
    # the damage is where the mask says: outside it the aged photo is smooth grain, inside it departs strongly
    diff = np.abs(a[..., 0].astype(int) - np.median(a[..., 0]))
    assert diff[mask > 0].mean() > diff[mask == 0].mean()
    sep = sample_image("coffee")
    assert not np.array_equal(sep[..., 0], sep[..., 2])  # sepia


def test_list_samples_writes_readable_pngs(tmp_path):
    paths = list_samples(tmp_path)
    assert [p.name for p in paths] == [f"old_{n}.png" for n in SAMPLE_NAMES]
    img = read_image(paths[0])
    assert img.was_gray and max(img.rgb.shape[:2]) <= 512


def test_sample_clip_repeats_frames_when_asked():
    clip = sample_clip(frames=6, size=(64, 40), repeat_every=3)
    assert len(clip) == 7 and clip[0].shape == (40, 64, 3)
    assert np.array_equal(clip[2], clip[3]) and not np.array_equal(clip[0], clip[1])


def test_compare_sheet_layout():
    a = np.zeros((50, 100, 3), np.uint8)
    sheet = compare_sheet([[("a", a), ("b", a[..., 0])], [("c", a)]], height=64)
    assert sheet.shape[0] == 2 * (64 + 4) and sheet.shape[1] == 2 * 128
