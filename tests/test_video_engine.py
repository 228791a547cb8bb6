"""The video engine (restoration_lib/video): one reader/writer, one timeline, and the film pipeline on top.

- held frames: ``film`` and ``interpolate`` leave no still steps (consecutive near-identical output frames) on
  chaplin.mp4 (72 held frames) and on a synthetic clip whose hold pattern is known;
- a film restored as separate segments (in any order, from a pickled plan, as a remote worker would) and joined
  gives the same bytes as one run;
- hostile films: empty, undecodable and truncated inputs, variable frame rate;
- only restoration_lib/video/ imports PyAV.
"""
from __future__ import annotations

import hashlib
import pickle
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from _pipeline_fakes import BlendInterpolator, JitterColorizer
from restoration_lib.errors import VideoError
from restoration_lib.interpolate import interpolate_video, scan_video
from restoration_lib.pipeline import restore_film, work_dir_for
from restoration_lib.pipeline.film import join_segments, plan_film, restore_segment
from restoration_lib.video import Decoder, Encoder, EncoderSettings, probe, read_frames
from restoration_lib.video.timeline import Analyser, thumbnail

ROOT = Path(__file__).resolve().parents[1]
FAST = EncoderSettings(preset="ultrafast")
LOSSLESS = EncoderSettings(crf=0, preset="ultrafast")
NO_STAGES = dict(repair=False, colorize=False, stabilize=False, progress=False)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def still_steps(frames: list) -> list[int]:
    """Indices ``i`` where output frame ``i + 1`` is nearly identical to frame ``i`` (the timeline's repeat test:
    mean thumbnail difference < 0.3 levels and no 8×8 block changing by 2 levels)."""
    analyser = Analyser(None, 0.3)
    th = [thumbnail(f) for f in frames]
    return [i for i, (a, b) in enumerate(zip(th, th[1:])) if analyser.is_repeat(a, b)]


def _inner(steps: list[int], n: int, tail: int = 6, head: int = 2) -> list[int]:
    """Still steps other than at the very end (the last picture is held until the source's end) and the very
    start (a held first picture: there is no earlier one to move from)."""
    return [i for i in steps if head <= i < n - 1 - tail]


def _background(w: int = 160, h: int = 64) -> np.ndarray:
    """A smooth coloured background (it survives 4:2:0 chroma subsampling)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = np.stack([20 + 80 * x / w, 30 + 60 * y / h, 90 - 50 * x / w], axis=-1)
    return np.rint(bg).astype(np.uint8)


def _moving(n: int, w: int = 160, h: int = 64, speed: float = 1.0):
    """Frames of a bright square moving ``speed`` px per frame (from x = 8) over a fixed background."""
    bg = _background(w, h)
    for i in range(n):
        img = bg.copy()
        x = int(round(8 + i * speed)) % (w - 24)
        img[20:40, x : x + 16] = 240
        yield img


def _square_x(frame: np.ndarray, bg: np.ndarray) -> float:
    """Left edge of the square: the centroid of the difference to the background, minus half its width (a
    cross-fade of two positions has its centroid in between)."""
    d = np.abs(frame.astype(np.float32) - bg)[20:40].sum(axis=2)
    diff = np.where(d > 30, d, 0).sum(axis=0)  # coding noise left out
    return float((diff * np.arange(diff.size)).sum() / diff.sum()) - 7.5


def _write(path: Path, frames, rate=25, pts=None, settings=LOSSLESS) -> Path:
    frames = list(frames)
    h, w = frames[0].shape[:2]
    enc = Encoder(path, w, h, Fraction(rate), settings)
    for i, f in enumerate(frames):
        enc.write(f, pts=None if pts is None else pts[i])
    enc.close()
    return path


@pytest.fixture(scope="module")
def chaplin(data_dir) -> Path:
    return data_dir / "video" / "chaplin.mp4"


# ------------------------------------------------------------------------------------------ held frames


def test_film_leaves_no_still_steps_on_chaplin_like_interpolate(chaplin, tmp_path):
    kw = dict(duration=3.2)  # 80 frames, 23 of them held
    scan = scan_video(chaplin, max_frames=80)
    assert len(scan.repeats) == 23
    film = restore_film(chaplin, tmp_path / "film.mp4", interpolate=BlendInterpolator(), encoder=FAST,
                        chunk_seconds=1.0, **kw, **NO_STAGES)
    assert film.held_frames == scan.repeats and film.scene_cuts == [] and film.frames_out == 160
    out = list(read_frames(tmp_path / "film.mp4"))
    assert len(out) == 160
    itp = interpolate_video(chaplin, tmp_path / "itp.mp4", factor=2, model=_Blend(), preset="ultrafast",
                            max_frames=80, progress=False)
    out_i = list(read_frames(tmp_path / "itp.mp4"))
    assert itp.repeats == film.held_frames
    # still only where interpolate is still too: where two source frames differ by less than 0.5 levels without
    # counting as held (57/58 here; the repeat test stops at 0.3 levels)
    film_still, itp_still = _inner(still_steps(out), len(out)), _inner(still_steps(out_i), len(out_i))
    assert set(film_still) <= set(itp_still) and len(itp_still) <= 4
    # without the shared timeline (every input frame its own picture) the same film stops at each held frame
    src = list(read_frames(chaplin, 0, 80))
    naive = []
    for a, b in zip(src, src[1:] + [src[-1]]):
        naive += [a, BlendInterpolator()(a, b, 0.5)]
    assert len(_inner(still_steps(naive), len(naive))) >= 2 * 23 - 2


class _Blend:
    """A cross-fade as an nn.Module for interpolate_video."""

    def __new__(cls):
        from torch import nn

        class Blend(nn.Module):
            def forward(self, img0, img1, timestep=0.5, scale=1.0):
                return img0 * (1 - timestep) + img1 * timestep

        return Blend()


def test_synthetic_hold_pattern_is_found_and_smoothed(tmp_path):
    # an 18 fps film padded to 24 fps: picture p is shown in slots s with floor(s * 18 / 24) == p
    slots = np.arange(48)
    shown = np.floor(slots * 18 / 24).astype(int)
    pictures = list(_moving(shown.max() + 1, speed=3.0))
    src = _write(tmp_path / "padded.mp4", [pictures[p] for p in shown], rate=24)
    held = [int(s) for s in slots[1:] if shown[s] == shown[s - 1]]
    assert len(held) == 12
    rep = restore_film(src, tmp_path / "film.mkv", interpolate=BlendInterpolator(), encoder=LOSSLESS,
                       chunk_seconds=0.5, **NO_STAGES)
    assert rep.held_frames == held and rep.scene_cuts == [] and rep.frames_out == 96 and rep.chunks == 4
    out = list(read_frames(tmp_path / "film.mkv"))
    assert _inner(still_steps(out), len(out)) == []
    # the square moves forward in every output frame (no stop, no step back)
    xs = [_square_x(f, _background()) for f in out[2 : len(out) - 6]]  # after the held first picture
    assert min(np.diff(xs)) > 0.1, np.round(np.diff(xs), 2)
    res = interpolate_video(src, tmp_path / "itp.mkv", factor=2, model=_Blend(), preset="ultrafast", progress=False)
    assert res.repeats == held
    out_i = list(read_frames(tmp_path / "itp.mkv"))
    assert _inner(still_steps(out_i), len(out_i)) == []


# ------------------------------------------------------------------------------------------ segments


def test_segments_restored_apart_join_to_the_same_bytes(chaplin, tmp_path):
    kw = dict(repair=False, colorize=JitterColorizer(), interpolate=BlendInterpolator(), stabilize=True,
              chunk_seconds=0.24, duration=0.72, encoder=FAST)
    one = restore_film(chaplin, tmp_path / "one.mp4", progress=False, **kw)
    assert one.chunks == 3
    plan = plan_film(chaplin, **kw)
    assert plan.chunks() == [(0, 6), (6, 12), (12, 18)]
    remote = pickle.loads(pickle.dumps(plan))  # what a worker on another machine gets
    segments = []
    for k, (start, stop) in reversed(list(enumerate(plan.chunks()))):  # any order, each on its own
        segments.append(restore_segment(remote if k == 1 else plan, start, stop, tmp_path / f"seg{k}.mp4"))
    assert sum(s.frames_out for s in segments) == one.frames_out
    join_segments(plan, segments, tmp_path / "joined.mp4")
    assert _sha(tmp_path / "joined.mp4") == _sha(tmp_path / "one.mp4")
    with pytest.raises(VideoError, match="do not cover"):
        join_segments(plan, segments[:2], tmp_path / "partial.mp4")


def test_engine_keyword(chaplin, tmp_path):
    with pytest.raises(ValueError, match="engine must be 'local' or 'ray'"):
        restore_film(chaplin, tmp_path / "x.mp4", engine="spark", **NO_STAGES)
    assert not (tmp_path / "x.mp4").exists() and not work_dir_for(tmp_path / "x.mp4").exists()


# ------------------------------------------------------------------------------------------ hostile films


def _nothing_left(dst: Path) -> bool:
    return not dst.exists() and not work_dir_for(dst).exists() and not list(dst.parent.glob(".*tmp*"))


def test_empty_and_undecodable_films_leave_nothing(tmp_path):
    empty = tmp_path / "empty.mp4"
    enc = Encoder(empty, 64, 48, Fraction(25), FAST)
    enc.close()  # a video stream without a single frame
    out = tmp_path / "out"
    out.mkdir()
    for bad in (empty, tmp_path / "junk.mkv"):
        if bad.name == "junk.mkv":
            bad.write_bytes(b"\x1aE\xdf\xa3" + bytes(range(256)) * 40)
        dst = out / f"{bad.stem}.mp4"
        with pytest.raises(VideoError, match=re.escape(bad.name)):
            restore_film(bad, dst, interpolate=BlendInterpolator(), **NO_STAGES)
        assert _nothing_left(dst), sorted(p.name for p in out.iterdir())


def test_truncated_film_says_how_many_frames_it_read(tmp_path):
    full = _write(tmp_path / "full.mkv", _moving(48, w=320, h=240, speed=4), rate=24,
                  settings=EncoderSettings(crf=10, x264_params="keyint=6"))  # a key frame every 6 frames
    cut = tmp_path / "cut.mkv"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # what a stopped download or copy leaves
    with pytest.warns(RuntimeWarning, match=r"only \d+ frames could be read \(1\.\d+ s\) of the 2\.00 s it declares"):
        rep = restore_film(cut, tmp_path / "out.mp4", interpolate=False, **NO_STAGES)
    assert 12 < rep.frames_in < 36 and rep.truncated and rep.frames_expected == 48
    assert re.search(rf"only {rep.frames_in} frames could be read", rep.warnings[0])
    assert len(list(read_frames(tmp_path / "out.mp4"))) == rep.frames_out == rep.frames_in


def test_variable_frame_rate_follows_the_timestamps(tmp_path):
    # 25 fps nominal with 3 frames dropped after frame 9: the square keeps moving at 2 px per 1/25 s
    times = [i for i in range(30) if not 10 <= i <= 12]
    frames = list(_moving(30, speed=2.0))
    src = _write(tmp_path / "vfr.mkv", [frames[i] for i in times], rate=25, pts=times)
    with Decoder(src) as dec:
        got = [f.time * 25 for f in dec]
    assert got == times
    rep = restore_film(src, tmp_path / "film.mp4", interpolate=BlendInterpolator(), encoder=LOSSLESS, **NO_STAGES)
    assert rep.scene_cuts == []
    out = list(read_frames(tmp_path / "film.mp4"))
    fps = rep.fps_out
    assert len(out) == rep.frames_out == int(np.ceil(30 / 25 * fps))
    # the square is where it was at each output time, across the gap of dropped frames too
    for k in range(len(out) - 3):
        t = float(k / fps * 25)  # in source frames
        assert abs(_square_x(out[k], _background()) - (8 + 2 * min(t, 29))) < 1.0, (k, t)


# ------------------------------------------------------------------------------------------ the engine


def test_video_colorizer_goes_through_the_engine(chaplin, tmp_path):
    from restoration_lib.colorize import VideoColorizer

    class Tint:
        progress = False

        def __call__(self, rgb, render_factor, post_process=True, watermark=False):
            out = rgb.copy()
            out[..., 0] = np.clip(out[..., 0].astype(int) + 40, 0, 255)
            return out

    dst = VideoColorizer(Tint(), render_factor=2).colorize_from_path(chaplin, tmp_path / "c.mkv", max_frames=5)
    info = probe(dst)
    assert info.frames in (None, 5) and info.audio_streams == 1
    out, src = list(read_frames(dst)), list(read_frames(chaplin, 0, 5))
    assert len(out) == 5
    assert np.mean(out[2][..., 0].astype(int) - src[2][..., 0]) > 25


def test_only_the_engine_imports_pyav():
    pattern = re.compile(r"^\s*(import av\b|from av\b)", re.M)
    users = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "restoration_lib").rglob("*.py")
                   if pattern.search(p.read_text()))
    assert users == ["restoration_lib/video/io.py"]
