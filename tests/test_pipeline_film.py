"""restore_film's plumbing: streaming chunks, audio in sync, resumption after a real kill, refusals.

These tests use deterministic stand-in stages (tests/_pipeline_fakes.py); the real stages with stand-in
checkpoints are exercised in test_pipeline_models.py.
"""
from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from _pipeline_fakes import BlendInterpolator, Invert, JitterColorizer
from restoration_lib.errors import ImageWriteError, VideoError
from restoration_lib.pipeline import InterpolateOptions, InterpolateStage, restore_film, work_dir_for
from restoration_lib.pipeline.video import probe, read_frames

ROOT = Path(__file__).resolve().parents[1]


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def chaplin(data_dir) -> Path:
    return data_dir / "video" / "chaplin.mp4"


def test_film_end_to_end_with_audio(chaplin, tmp_path):
    dst = tmp_path / "out.mp4"
    rep = restore_film(chaplin, dst, repair=False, colorize=JitterColorizer(), interpolate=BlendInterpolator(),
                       chunk_seconds=0.6, duration=1.2, progress=False)
    assert rep.frames_in == 30 and rep.frames_out == 60 and rep.fps_out == 50
    assert rep.chunks == 2 and rep.resumed_chunks == 0 and rep.audio_streams == 1
    assert not work_dir_for(dst).exists()
    info = probe(dst)
    assert (info.width, info.height, info.fps, info.frames) == (640, 360, Fraction(50), 60)
    out = list(read_frames(dst))
    src = list(read_frames(chaplin, 0, 30))
    # even output frames are the processed input frames: the input's luminance, now in colour
    y = lambda f: f.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # noqa: E731
    for i in (0, 7, 29):
        mid = (y(src[i]) > 40) & (y(src[i]) < 215)  # away from black bars, where tints clip
        assert np.abs(y(out[2 * i]) - y(src[i]))[mid].mean() < 2.5
        assert np.abs(out[2 * i][..., 0].astype(int) - out[2 * i][..., 2]).mean() > 5  # coloured
    with av.open(str(dst)) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "mp3float" or a.codec_context.name.startswith("mp3")
        end = max(float((p.pts + p.duration) * a.time_base) for p in c.demux(a) if p.pts is not None)
    assert abs(end - 1.2) < 0.06  # audio trimmed with the video, in sync


def test_stages_run_in_order_and_scene_cuts_are_not_morphed(data_dir, tmp_path):
    # bikes: cut between 0-based frames 29 and 30
    src = data_dir / "video" / "bikes.mp4"
    dst = tmp_path / "bikes.mkv"
    rep = restore_film(src, dst, repair=Invert(), colorize=False, interpolate=BlendInterpolator(), stabilize=False,
                       chunk_seconds=0.4, duration=1.36, progress=False)  # 34 frames
    assert rep.scene_cuts == [30] and rep.frames_out == 68 and rep.audio_streams == 0
    out = list(read_frames(dst))
    inp = list(read_frames(src, 0, 34))
    inv = lambda f: 255 - f  # noqa: E731
    err = lambda a, b: np.abs(a.astype(int) - b).mean()  # noqa: E731
    assert err(out[40], inv(inp[20])) < 3  # the repair stage ran (negative)
    # frame 59 would be the blend of frames 29 and 30; across the cut it repeats the nearer original instead
    assert err(out[59], inv(inp[30])) < 3
    assert err(out[57], inv(inp[28]) * 0.5 + inv(inp[29]) * 0.5) < 3  # a normal in-between is a blend


def test_factor_and_fps_schedules(chaplin, tmp_path):
    rep = restore_film(chaplin, tmp_path / "a.mp4", repair=False, colorize=False, stabilize=False,
                       interpolate=InterpolateStage(BlendInterpolator(), InterpolateOptions(fps=60)),
                       chunk_seconds=0.3, duration=0.4, progress=False)
    # 10 input frames at 25 fps last 0.4 s → 24 frames at 60 fps
    assert rep.frames_in == 10 and rep.frames_out == 24 and rep.fps_out == 60
    rep = restore_film(chaplin, tmp_path / "b.mp4", repair=False, colorize=False, stabilize=False,
                       interpolate=False, chunk_seconds=10, duration=0.4, progress=False)
    assert rep.frames_out == 10 and rep.chunks == 1
    assert [np.abs(a.astype(int) - b).mean() < 2 for a, b in
            zip(read_frames(tmp_path / "b.mp4"), read_frames(chaplin, 0, 10))] == [True] * 10


_SCRIPT = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from _pipeline_fakes import BlendInterpolator, JitterColorizer
from restoration_lib.pipeline import restore_film
rep = restore_film({src!r}, {dst!r}, repair={repair!r}, colorize=JitterColorizer(),
                   interpolate=BlendInterpolator(), chunk_seconds=0.16, duration=0.8, progress=False)
print("resumed", rep.resumed_chunks, "of", rep.chunks)
"""


def _repair_option():
    """The real classical repair (no weights) when the repair task is installed, else none."""
    try:
        from restoration_lib.repair import Restorer  # noqa: F401
    except ImportError:
        return False
    return {"mode": "classical", "faces": False}


def _run_script(src: Path, dst: Path) -> subprocess.Popen:
    code = _SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"), src=str(src), dst=str(dst),
                          repair=_repair_option())
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_film_resumes_to_identical_bytes(chaplin, tmp_path):
    # the uninterrupted reference runs in this process; the interrupted run in two others
    ref = tmp_path / "ref" / "film.mp4"
    ref.parent.mkdir()
    rep = restore_film(chaplin, ref, repair=_repair_option(), colorize=JitterColorizer(),
                       interpolate=BlendInterpolator(), chunk_seconds=0.16, duration=0.8, progress=False)
    assert rep.chunks == 5 and rep.frames_out == 40

    dst = tmp_path / "run" / "film.mp4"
    dst.parent.mkdir()
    parts = work_dir_for(dst)
    p = _run_script(chaplin, dst)
    deadline = time.monotonic() + 240
    while not (parts / "chunk_00001.mp4").exists():  # two chunks finished (state first, video last): kill
        assert p.poll() is None, p.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert p.returncode == -signal.SIGKILL
    assert not dst.exists()  # nothing half-written where the film goes
    assert (parts / "chunk_00000.mp4").exists() and not (parts / "chunk_00004.npz").exists()

    p = _run_script(chaplin, dst)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    resumed = int(out.split()[1])
    assert 2 <= resumed < 5
    assert not parts.exists()
    assert _sha(dst) == _sha(ref)
    a, b = list(read_frames(dst)), list(read_frames(ref))
    assert len(a) == len(b) == 40 and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_changed_settings_start_over(chaplin, tmp_path):
    dst = tmp_path / "f.mp4"
    parts = work_dir_for(dst)
    parts.mkdir()
    (parts / "manifest.json").write_text('{"other": "settings"}')
    (parts / "chunk_00000.mp4").write_bytes(b"stale")
    (parts / "chunk_00000.npz").write_bytes(b"stale")
    with pytest.warns(RuntimeWarning, match="starting over"):
        rep = restore_film(chaplin, dst, repair=False, colorize=False, interpolate=False, stabilize=False,
                           duration=0.2, progress=False)
    assert rep.resumed_chunks == 0 and rep.frames_out == 5


def test_refusals(chaplin, tmp_path):
    kw = dict(repair=False, colorize=False, interpolate=False, progress=False)
    dst = tmp_path / "x.mp4"
    dst.write_bytes(b"keep me")
    with pytest.raises(ImageWriteError, match="already exists"):
        restore_film(chaplin, dst, **kw)
    assert dst.read_bytes() == b"keep me"
    with pytest.raises(VideoError, match="unsupported extension"):
        restore_film(chaplin, tmp_path / "x.avi", **kw)
    with pytest.raises(VideoError, match="does not exist"):
        restore_film(tmp_path / "missing.mp4", tmp_path / "y.mp4", **kw)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoError):
        restore_film(bad, tmp_path / "z.mp4", **kw)
    foreign = tmp_path / "w.mp4.parts"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("user data")
    with pytest.raises(VideoError, match="not a restore_film work folder"):
        restore_film(chaplin, tmp_path / "w.mp4", **kw)
    assert (foreign / "mine.txt").read_text() == "user data"


def test_finished_chunks_are_only_remuxed(chaplin, tmp_path):
    kw = dict(repair=False, colorize=JitterColorizer(), interpolate=False, chunk_seconds=0.2, duration=0.6,
              progress=False)
    first = restore_film(chaplin, tmp_path / "a.mp4", keep_parts=True, **kw)
    assert first.chunks == 3 and work_dir_for(tmp_path / "a.mp4").is_dir()
    data = (tmp_path / "a.mp4").read_bytes()
    (tmp_path / "a.mp4").unlink()  # e.g. killed while joining: every chunk is done, the film is not
    again = restore_film(chaplin, tmp_path / "a.mp4", **kw)
    assert again.resumed_chunks == 3 and again.frames_this_run == 0
    assert (tmp_path / "a.mp4").read_bytes() == data and not work_dir_for(tmp_path / "a.mp4").exists()


def test_ctrl_c_leaves_a_clean_resumable_work_folder(chaplin, tmp_path):
    dst = tmp_path / "c.mkv"
    kw = dict(repair=False, interpolate=False, chunk_seconds=0.12, duration=0.4, progress=False)
    with pytest.raises(KeyboardInterrupt):
        restore_film(chaplin, dst, colorize=JitterColorizer(interrupt_at=7), **kw)
    parts = work_dir_for(dst)
    names = sorted(p.name for p in parts.iterdir())
    assert names == ["chunk_00000.mp4", "chunk_00000.npz", "chunk_00001.mp4", "chunk_00001.npz", "manifest.json"]
    assert not dst.exists()
    rep = restore_film(chaplin, dst, colorize=JitterColorizer(), **kw)
    assert rep.resumed_chunks == 2 and rep.frames_this_run == 4 and rep.frames_out == 10
