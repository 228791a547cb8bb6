"""Temporal chroma stabilisation: it must at least halve flicker on real footage without raising the error
against the true colours, keep luminance, reset at scene cuts, and resume exactly from saved state."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from restoration_lib.pipeline.stabilize import (
    ChromaStabilizer,
    StabilizerState,
    chroma_error,
    flicker,
    is_scene_cut,
    jitter_chroma,
    merge_luma_chroma,
    split_luma_chroma,
)
from restoration_lib.pipeline.video import read_frames


def _clip(data_dir, name, start, stop, width=None):
    frames = list(read_frames(data_dir / "video" / name, start, stop))
    if width:
        h, w = frames[0].shape[:2]
        size = (width, round(h * width / w / 2) * 2)
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return frames


@pytest.mark.parametrize("name,start,width", [("carphone_pristine.mp4", 0, None), ("bikes.mp4", 80, 320)])
def test_stabiliser_halves_flicker_without_raising_chroma_error(data_dir, name, start, width):
    truth = _clip(data_dir, name, start, start + 24, width)
    jittered = list(jitter_chroma(truth, seed=11))
    stab = ChromaStabilizer()
    out = [stab(f) for f in jittered]
    f_raw = flicker(jittered, luma_frames=truth)
    f_stab = flicker(out, luma_frames=truth)
    e_raw, e_stab = chroma_error(jittered, truth), chroma_error(out, truth)
    assert f_stab <= 0.5 * f_raw, (f_raw, f_stab)
    assert e_stab <= e_raw, (e_raw, e_stab)
    # the true colours are far steadier than the jittered ones: the metric sees the jitter, not flow noise
    assert flicker(truth) < 0.25 * f_raw
    # luminance is the current frame's
    for a, b in zip(jittered, out):
        ya = cv2.cvtColor(a, cv2.COLOR_RGB2YCrCb)[..., 0].astype(int)
        yb = cv2.cvtColor(b, cv2.COLOR_RGB2YCrCb)[..., 0].astype(int)
        assert np.abs(ya - yb).mean() < 0.6


def test_scene_cut_resets_the_state(data_dir):
    # bikes.mp4 has a hard cut after its 30th frame (0-based frames 29 | 30)
    frames = _clip(data_dir, "bikes.mp4", 26, 34, 320)
    assert is_scene_cut(frames[3], frames[4])
    assert not is_scene_cut(frames[2], frames[3])
    colored = list(jitter_chroma(frames, seed=3))
    stab = ChromaStabilizer()
    cuts = []
    for i, f in enumerate(colored):
        out = stab(f)
        cuts.append(stab.last_cut)
        if stab.last_cut:
            assert np.array_equal(out, f)  # a new shot starts from its own colours
        else:
            assert not np.array_equal(out, f)
    assert cuts == [True, False, False, False, True, False, False, False]


def test_saved_state_resumes_exactly(data_dir):
    frames = list(jitter_chroma(_clip(data_dir, "carphone_pristine.mp4", 0, 10), seed=5))
    one = ChromaStabilizer()
    whole = [one(f) for f in frames]
    a = ChromaStabilizer()
    first = [a(f) for f in frames[:6]]
    saved = {k: v.copy() for k, v in a.state.to_arrays().items()}
    b = ChromaStabilizer()
    b.state = StabilizerState.from_arrays(saved)
    second = [b(f) for f in frames[6:]]
    assert all(np.array_equal(x, y) for x, y in zip(whole, first + second))


def test_flicker_and_chroma_error_measure_what_they_say():
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (72, 96, 3), dtype=np.uint8), (0, 0), 3)
    base = cv2.normalize(base, None, 30, 220, cv2.NORM_MINMAX)
    y, c = split_luma_chroma(base)
    static = [base] * 4
    assert flicker(static) < 0.05  # (Farneback finds a hair of motion between identical frames)
    # alternate a +s / -s global Cr shift: consecutive frames differ by 2s in Cr, 0 in Cb → mean 2s/2 = s
    s = 6.0
    alt = [merge_luma_chroma(y, c + np.array([s if i % 2 else -s, 0], np.float32)) for i in range(4)]
    assert flicker(alt) == pytest.approx(s, abs=0.6)
    assert chroma_error(static, static) == 0.0
    shifted = [merge_luma_chroma(y, c + np.array([4.0, -4.0], np.float32))] * 4
    assert chroma_error(shifted, static) == pytest.approx(4.0, abs=0.5)
    per_pair = flicker(alt, per_pair=True)
    assert len(per_pair) == 3 and all(v == pytest.approx(2 * s / 2, abs=0.6) for v in per_pair)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="H,W,3 uint8"):
        ChromaStabilizer()(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="strength"):
        ChromaStabilizer(1.0)
    with pytest.raises(ValueError, match="at least two frames"):
        flicker([np.zeros((8, 8, 3), np.uint8)])
    stab = ChromaStabilizer()
    stab(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="size changed"):
        stab(np.zeros((8, 10, 3), np.uint8))
