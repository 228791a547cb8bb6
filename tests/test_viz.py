"""Compare plots: conversions, panel layout and titles, and that the pictures really land in the PNG."""
from __future__ import annotations

import io
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from restoration_lib import viz

ROOT = Path(__file__).resolve().parents[1]


def _img(h=24, w=32, value=None, seed=0):
    if value is not None:
        return np.full((h, w, 3), value, np.uint8)
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _titles(fig):
    return [ax.get_title() for ax in fig.axes]


def _decode(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


# -- conversions ---------------------------------------------------------------------------------------


def test_as_rgb8_accepts_every_image_kind():
    u8 = _img()
    assert viz.as_rgb8(u8) is u8
    f = np.array([[[0.0, 0.5, 1.0]]], np.float32)
    assert viz.as_rgb8(f).tolist() == [[[0, 128, 255]]]
    assert viz.as_rgb8(np.array([[[-1.0, 2.0, 0.2]]])).tolist() == [[[0, 255, 51]]]  # clamped, rounded
    t = torch.from_numpy(u8).permute(2, 0, 1)[None].float() / 255
    np.testing.assert_array_equal(viz.as_rgb8(t), u8)
    np.testing.assert_array_equal(viz.as_rgb8(t[0]), u8)
    np.testing.assert_array_equal(viz.as_rgb8(Image.fromarray(u8)), u8)
    np.testing.assert_array_equal(viz.as_rgb8(SimpleNamespace(rgb=u8)), u8)
    rgba = np.dstack([u8, np.zeros(u8.shape[:2], np.uint8)])
    np.testing.assert_array_equal(viz.as_rgb8(rgba), u8)
    mask = np.zeros((4, 5), bool)
    mask[1, 2] = True
    assert viz.as_rgb8(mask)[1, 2] == 255 and viz.as_rgb8(mask).sum() == 255
    assert viz.as_rgb8(np.full((2, 2), 65535, np.uint16)).max() == 255


@pytest.mark.parametrize("shape", [(4,), (2, 3, 2), (2, 3, 5)])
def test_as_rgb8_refuses_other_shapes(shape):
    with pytest.raises(ValueError, match=r"expected an image of shape"):
        viz.as_rgb8(np.zeros(shape, np.uint8))


def test_as_rgb8_refuses_batches():
    with pytest.raises(ValueError, match=r"batch of one"):
        viz.as_rgb8(torch.zeros(2, 3, 4, 4))


def test_difference_values_and_size_check():
    a, b = _img(value=0), _img(value=0)
    b[0, 0] = (255, 0, 0)
    d = viz.difference(a, b)
    assert d.shape == (24, 32) and d.dtype == np.float32
    assert d[0, 0] == pytest.approx(1 / 3) and d.sum() == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match=r"differ in size: \(24, 32\) vs \(8, 8\)"):
        viz.difference(a, _img(8, 8))


# -- figures -------------------------------------------------------------------------------------------


def test_compare_side_by_side_puts_each_image_in_its_panel():
    black, white = _img(40, 40, value=0), _img(40, 40, value=255)
    fig = viz.compare(black, white, titles=("old", "new"))
    assert _titles(fig) == ["old", "new"]
    px = _decode(viz.to_png(fig)).astype(float)
    h, w, _ = px.shape
    band = px[h // 4 : 3 * h // 4]
    left, right = band[:, : w // 2].mean(), band[:, w // 2 :].mean()
    assert left < 140 < right  # the black photo is drawn on the left, the white one on the right


def test_compare_with_difference_panel():
    a = _img(seed=1)
    fig = viz.compare(a, 255 - a, diff=True)
    assert len(fig.axes) == 3
    expected = viz.difference(a, 255 - a).mean()
    assert _titles(fig)[2] == f"|after − before| (mean {expected:.3f})"
    bigger = np.asarray(Image.fromarray(a).resize((64, 48)))
    fig = viz.compare(a, bigger, diff=True)
    assert "(resized)" in _titles(fig)[2]


def test_different_images_give_different_png():
    a = _img(seed=1)
    assert viz.to_png(viz.compare(a, a)) != viz.to_png(viz.compare(a, 255 - a))
    assert viz.to_png(viz.compare(a, a)) == viz.to_png(viz.compare(a, a))


def test_strip_layout_titles_and_errors():
    fig = viz.strip([_img(), None, _img(seed=2)], ["a", "b", "c"], suptitle="S", cols=2)
    assert len(fig.axes) == 4 and _titles(fig)[:3] == ["a", "b", "c"]
    assert not fig.axes[3].axison  # the unused fourth cell is hidden
    assert fig._suptitle.get_text() == "S"
    with pytest.raises(ValueError, match="2 panels but 1 titles"):
        viz.strip([_img(), _img()], ["a"])
    with pytest.raises(ValueError, match="at least one panel"):
        viz.strip([], [])


def test_render_factor_strip_is_sorted_after_the_original():
    fig = viz.render_factor_strip({35: _img(), 12: _img(), 21: _img()}, original=_img())
    assert _titles(fig) == ["original", "render_factor 12", "render_factor 21", "render_factor 35"]


def test_repair_stages_panels_mask_and_face_boxes():
    img = _img(40, 60)
    face = SimpleNamespace(box=(5, 6, 25, 30))
    result = SimpleNamespace(image=img, stage1=img, scratch_mask=np.zeros((40, 60), np.uint8), faces=[face],
                             mode="classical")
    fig = viz.repair_stages(img, result)
    assert _titles(fig) == ["input", "scratch mask", "stage 1 (classical)", "faces: 1 found", "final"]
    rects = fig.axes[3].patches
    assert len(rects) == 1 and rects[0].get_xy() == (5, 6) and rects[0].get_width() == 20
    result = SimpleNamespace(image=img, stage1=img, scratch_mask=None, faces=[], mode="model")
    fig = viz.repair_stages(img, result)
    assert _titles(fig)[1] == "scratch mask (off)" and _titles(fig)[3] == "faces (none)"
    assert not fig.axes[1].images and not fig.axes[3].images  # empty panels, not blank pictures


def test_interpolation_strip_difference_against_truth_or_motion():
    f0, f1 = _img(seed=3), _img(seed=4)
    mid = (f0 // 2 + f1 // 2).astype(np.uint8)
    fig = viz.interpolation_strip(f0, mid, f1)
    assert _titles(fig)[:3] == ["frame 0", "middle (t = 0.5)", "frame 1"]
    assert _titles(fig)[3].startswith("|frame 1 − frame 0|")
    fig = viz.interpolation_strip(f0, mid, f1, truth=mid, label="flow")
    assert _titles(fig)[1] == "middle (flow)" and _titles(fig)[3] == "|middle − truth| (mean 0.000)"


def test_contact_sheet_one_pair_per_row():
    fig = viz.contact_sheet([(_img(), _img()), (_img(), _img())], ["x", "y"])
    assert _titles(fig) == ["x: before", "x: after", "y: before", "y: after"]
    positions = [ax.get_position() for ax in fig.axes]
    assert positions[0].y0 > positions[2].y0  # second pair below the first
    with pytest.raises(ValueError, match="2 pairs but 1 labels"):
        viz.contact_sheet([(_img(), _img())] * 2, ["x"])


def test_figures_render_in_threads():
    pngs = {}

    def work(i):
        pngs[i] = viz.to_png(viz.compare(_img(seed=i), _img(seed=i + 1), diff=True))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(pngs) == [0, 1, 2]
    assert pngs[0] == viz.to_png(viz.compare(_img(seed=0), _img(seed=1), diff=True))


def test_viz_does_not_use_pyplot():
    code = (
        "import sys, numpy as np; from restoration_lib import viz; "
        "viz.to_png(viz.compare(np.zeros((8,8,3),np.uint8), np.ones((8,8,3),np.uint8), diff=True)); "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})
