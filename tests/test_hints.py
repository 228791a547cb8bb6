"""Colour from hints and from a reference photo; the click-to-hint panel (headless)."""
from __future__ import annotations

import json
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restoration_lib.colorize.hints import (
    HintsError,
    colorize_with_hints,
    load_hints,
    luma,
    propagate,
    save_hints,
)
from restoration_lib.colorize.reference import colorize_from_reference
from restoration_lib.errors import RestorationError

ROOT = Path(__file__).resolve().parents[1]
RED, BLUE, GREEN = (200, 40, 40), (40, 60, 200), (40, 160, 60)


def _luma8(rgb: np.ndarray) -> np.ndarray:
    return luma(rgb.astype(np.float32) / 255) * 255


def _two_regions(h=60, w=80, seed=0) -> np.ndarray:
    """Gray photo: a dark left half and a bright right half, with mild noise."""
    rng = np.random.default_rng(seed)
    g = np.where(np.arange(w)[None, :] < w // 2, 70.0, 180.0) + rng.normal(0, 2, (h, w))
    return np.clip(g, 0, 255).astype(np.uint8)


def _photo(h=96, w=128, seed=1) -> np.ndarray:
    """A smooth colourful test photo (H, W, 3 uint8) with an edge."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    rgb = np.stack([0.5 + 0.4 * np.sin(6 * xx), 0.5 + 0.3 * np.cos(5 * yy), 0.4 + 0.3 * xx * yy], -1)
    rgb[:, w // 2:] = rgb[:, w // 2:] * 0.5
    return (rgb * 255).round().astype(np.uint8)


def test_luminance_kept_exactly_and_hint_colours_reproduced():
    rgb = _photo()
    gray = np.round(_luma8(rgb)).astype(np.uint8)
    rng = np.random.default_rng(0)
    pts = rng.integers(0, [rgb.shape[0], rgb.shape[1]], (40, 2))
    hints = [(int(y), int(x), tuple(int(c) for c in rgb[y, x])) for y, x in pts]
    # saturated colours that must be desaturated to fit, not clipped
    hints += [(5, 5, (255, 0, 255)), (90, 120, (0, 255, 0))]
    out = colorize_with_hints(gray, hints).image
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.abs(_luma8(out) - gray).max() <= 1.0
    for y, x, c in hints[:-2]:
        assert np.abs(out[y, x].astype(int) - c).max() <= 3, (y, x, out[y, x], c)


def test_edges_stop_colour():
    g = _two_regions()
    out = colorize_with_hints(g, [(30, 10, RED), (30, 70, BLUE)]).image.astype(int)
    left, right = out[:, :35], out[:, 45:]
    assert (left[..., 0] > left[..., 2] + 20).mean() > 0.95  # red everywhere left of the edge
    assert (right[..., 2] > right[..., 0] + 20).mean() > 0.95  # blue everywhere right of it


def test_one_hint_colours_its_whole_region_but_not_across_an_edge():
    g = _two_regions()
    out = colorize_with_hints(g, [(5, 5, RED), (55, 75, (180, 180, 180))]).image.astype(int)
    assert (out[:, :38, 0] > out[:, :38, 2] + 20).mean() > 0.95
    assert np.abs(out[:, 42:, 0] - out[:, 42:, 2]).mean() < 12  # the gray hint on the right holds (mostly)


def test_base_mode_keeps_base_far_from_hints():
    g = _two_regions(60, 200)
    base = np.empty(g.shape + (3,), np.uint8)
    base[:] = GREEN
    base = colorize_with_hints(g, [(30, 50, GREEN), (30, 150, GREEN)]).image  # green, on the photo's luma
    out = colorize_with_hints(g, [(30, 5, RED)], base=base, reach=8).image.astype(int)
    assert out[30, 5, 0] > out[30, 5, 1] + 40  # red at the hint
    assert np.abs(out[:, 100:] - base[:, 100:].astype(int)).max() <= 1  # other region: the base's colours
    assert np.abs(out[:, 60:95] - base[:, 60:95].astype(int)).max() <= 3  # same region, far: faded out
    assert np.abs(_luma8(out.astype(np.uint8)) - g).max() <= 1.0


def test_no_hints_gives_gray_with_a_note():
    g = _two_regions()
    with pytest.warns(UserWarning, match="no hints"):
        res = colorize_with_hints(g, [])
    assert res.notes and np.array_equal(res.image, np.repeat(g[..., None], 3, 2))


@pytest.mark.parametrize("hints, match", [
    ([(60, 0, RED)], r"outside the image: expected 0 <= y < 60"),
    ([(0, -1, RED)], "outside the image"),
    ([(0, 0, (256, 0, 0))], "0-255"),
    ([(0, 0, (-1, 0, 0))], "0-255"),
    ([(0, 0, (1, 2))], r"\(r, g, b\)"),
    ([(0, 0)], r"\(y, x, \(r, g, b\)\)"),
    ([(0.5, 0, RED)], "whole number"),
    ([("a", 0, RED)], "number"),
])
def test_bad_hints_are_clear_errors(hints, match):
    with pytest.raises(HintsError, match=match):
        colorize_with_hints(_two_regions(), hints)


def test_base_of_another_size_is_an_error():
    with pytest.raises(HintsError, match="size 60×80"):
        colorize_with_hints(_two_regions(), [(0, 0, RED)], base=np.zeros((10, 10, 3), np.uint8))
    assert issubclass(HintsError, RestorationError)


def test_hints_file_round_trip_and_errors(tmp_path):
    p = save_hints(tmp_path / "h.json", [(1, 2, (3, 4, 5)), (6, 7, [8, 9, 10])])
    assert json.loads(p.read_text()) == {"hints": [[1, 2, [3, 4, 5]], [6, 7, [8, 9, 10]]]}
    assert load_hints(p) == [(1, 2, (3, 4, 5)), (6, 7, (8, 9, 10))]
    (tmp_path / "bare.json").write_text("[[0, 0, [1, 1, 1]]]")
    assert load_hints(tmp_path / "bare.json") == [(0, 0, (1, 1, 1))]
    with pytest.raises(HintsError, match="no such hints file"):
        load_hints(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(HintsError, match="not a JSON hints file"):
        load_hints(tmp_path / "bad.json")
    (tmp_path / "keys.json").write_text('{"points": []}')
    with pytest.raises(HintsError, match="expected"):
        load_hints(tmp_path / "keys.json")
    (tmp_path / "range.json").write_text('{"hints": [[0, 0, [0, 0, 300]]]}')
    with pytest.raises(HintsError, match="range.json.*0-255"):
        load_hints(tmp_path / "range.json")


def test_accepts_path_pil_and_colour_input(tmp_path):
    rgb = _photo(40, 50)
    Image.fromarray(rgb).save(tmp_path / "p.png")
    hints = [(10, 10, (200, 100, 50))]
    a = colorize_with_hints(tmp_path / "p.png", hints).image
    b = colorize_with_hints(Image.fromarray(rgb), hints).image
    c = colorize_with_hints(rgb, hints).image  # a colour photo is made gray first
    assert np.array_equal(a, b) and np.array_equal(a, c)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 3), (33, 65)])
def test_odd_sizes(shape):
    g = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = colorize_with_hints(g, [(0, 0, RED), (shape[0] - 1, shape[1] - 1, BLUE)]).image
    assert out.shape == shape + (3,)
    assert np.abs(_luma8(out) - g).max() <= 1.0


def test_solver_converges_to_the_exact_levin_solution():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from _levin import RGB2YIQ, levin_matrix
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from scipy.sparse.linalg import spsolve

    rgb = _photo(40, 56)
    y = luma(rgb / 255.0).astype(np.float64)
    rng = np.random.default_rng(3)
    mask = np.zeros(y.shape, bool)
    mask[rng.integers(0, 40, 30), rng.integers(0, 56, 30)] = True
    iq = (rgb / 255.0) @ RGB2YIQ[1:].T
    vals = np.where(mask[..., None], iq, 0).transpose(2, 0, 1)
    exact = np.stack([spsolve(levin_matrix(y, mask), v.ravel()) for v in vals]).reshape(vals.shape)
    ours = propagate(y.astype(np.float32), mask, vals.astype(np.float32), iterations=500)
    assert np.abs(ours - exact).max() < 1e-3


def test_memory_stays_a_small_multiple_of_the_photo():
    g = np.random.default_rng(0).integers(0, 256, (300, 400), dtype=np.uint8)
    hints = [(int(y), int(x), RED) for y, x in np.random.default_rng(1).integers(0, 300, (50, 2))]
    tracemalloc.start()
    try:
        colorize_with_hints(g, hints)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / g.size < 200, f"{peak / g.size:.0f} bytes per pixel"  # 3000×2000 → < 1.2 GB


def test_reference_transfer_keeps_luma_and_takes_the_references_colours():
    g = _two_regions(60, 80)
    ref = np.zeros((50, 50, 3), np.uint8)
    ref[:, :25] = (120, 30, 30)  # dark red
    ref[:, 25:] = (150, 190, 255)  # light blue
    res = colorize_from_reference(g, ref)
    out = res.image.astype(int)
    assert np.abs(_luma8(res.image) - g).max() <= 1.0
    assert (out[:, :35, 0] > out[:, :35, 2]).mean() > 0.9
    assert (out[:, 45:, 2] > out[:, 45:, 0]).mean() > 0.9
    with pytest.raises(ValueError, match="samples"):
        colorize_from_reference(g, ref, samples=0)


def test_sample_hints_fit_the_sample():
    from restoration_lib import samples

    for size in (512, 256):
        hints = samples.sample_hints("astronaut", size=size)
        assert len(hints) >= 5 and all(0 <= y < size and 0 <= x < size for y, x, _ in hints)
    with pytest.raises(ValueError, match="astronaut"):
        samples.sample_hints("camera")


# ---------------------------------------------------------------------------------------------------- panel


def test_panel_click_places_a_hint_and_redraws_undo_clear():
    from restoration_lib import widgets_hints

    panel = widgets_hints.HintsPanel(_two_regions())
    assert panel.events is not None and panel.events.watched_events == ["click"]
    first, photo0 = panel.png, panel.photo.value
    assert panel.hints == [] and first is not None
    panel.colour.value = "#c82828"
    panel.click({"type": "click", "dataX": 10.4, "dataY": 30.0})
    assert panel.hints == [(30, 10, (200, 40, 40))]
    assert panel.png != first and panel.photo.value != photo0
    assert panel.result[30, 10, 0] > panel.result[30, 10, 2] + 40
    assert len(panel.output.outputs) == 1
    panel.colour.value = "#2840c8"
    panel.click({"type": "click", "dataX": 70, "dataY": 30})
    assert panel.result[30, 70, 2] > panel.result[30, 70, 0] + 40
    panel.undo()
    assert panel.hints == [(30, 10, (200, 40, 40))]
    panel.clear()
    assert panel.hints == [] and np.ptp(panel.result.astype(int), axis=2).max() == 0  # gray again
    calls = panel.calls
    panel.click({"type": "click", "dataX": 500, "dataY": 3})  # outside: said in the status, nothing run
    assert panel.calls == calls and "outside" in panel.status.value
    assert "image/png" in panel._repr_mimebundle_()


def test_panel_starts_from_shipped_hints_and_reports_errors():
    from restoration_lib import samples, widgets_hints

    photo = samples.sample_image("astronaut", max_side=128)
    panel = widgets_hints.HintsPanel(photo, hints=samples.sample_hints("astronaut", size=128))
    assert len(panel.hints) == len(samples.ASTRONAUT_HINTS)
    assert np.ptp(panel.result.astype(int), axis=2).mean() > 5  # coloured

    def broken(image, hints, base=None):
        raise RuntimeError("boom")

    panel = widgets_hints.HintsPanel(photo, callback=broken)
    assert panel.result is None and "boom" in panel.status.value


def test_demo_tile_colour_from_shipped_hints(tmp_path):
    from restoration_lib import demo, samples

    report = demo.DemoReport(out_dir=tmp_path)
    photo = samples.sample_image("astronaut", max_side=128)
    tiles = demo._hints_tiles(report, "astronaut", photo, tmp_path)
    assert [t for t, _ in tiles] == [f"colour from {len(samples.ASTRONAUT_HINTS)} hints"]
    assert (tmp_path / "astronaut_hints.png").exists() and not report.notes
    assert demo._hints_tiles(report, "chelsea", photo, tmp_path) == []  # no hints shipped
