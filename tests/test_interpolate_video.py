"""Film frame-rate conversion on the shared clips: audio, durations, timestamps, cuts, repeats, errors.

The properties tested here do not depend on the interpolation model, so most tests use a cross-fade
module (fast) and x264's ultrafast preset; the flow model runs once through the CLI on a small clip.
"""
from __future__ import annotations

import tracemalloc
from fractions import Fraction

import av
import numpy as np
import pytest
from torch import nn

from restoration_lib import cli
from restoration_lib.errors import VideoError
from restoration_lib.interpolate import interpolate_video, parse_rate, scan_video
from restoration_lib.interpolate.video import _pictures, _resample, _retime, _Analyser, _Source

FAST = dict(progress=False, preset="ultrafast")


class Blend(nn.Module):
    def forward(self, img0, img1, timestep=0.5, scale=1.0):
        return img0 * (1 - timestep) + img1 * timestep


class FailsLater(nn.Module):
    def __init__(self, after):
        super().__init__()
        self.left = after

    def forward(self, img0, img1, timestep=0.5, scale=1.0):
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("simulated failure in the middle of the film")
        return img0


def _clip(data_dir, name):
    p = data_dir / "video" / name
    if not p.exists():
        pytest.skip(f"{p} is absent")
    return p


def _decode(path):
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        out = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(vs)]
        return vs.time_base, [p for p, _ in out], [f for _, f in out]


def _audio_packets(path):
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        info = (s.codec_context.name, s.codec_context.channels, s.codec_context.layout.name, s.codec_context.sample_rate)
        pk = [(p.pts * p.time_base, bytes(p)) for p in c.demux(s) if p.size]
        return info, pk


def _mad(a, b):
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_parse_rate():
    assert parse_rate(23.976) == Fraction(24000, 1001)
    assert parse_rate(29.97) == Fraction(30000, 1001)
    assert parse_rate("60000/1001") == Fraction(60000, 1001)
    assert parse_rate(50) == 50 and parse_rate(12.5) == Fraction(25, 2)
    with pytest.raises(ValueError):
        parse_rate("fast")
    with pytest.raises(ValueError):
        parse_rate(-3)


def test_bigbuckbunny_x2_keeps_audio_and_duration(data_dir, tmp_path):
    src = _clip(data_dir, "bigbuckbunny.mp4")
    dst = tmp_path / "bbb50.mp4"
    res = interpolate_video(src, dst, factor=2, model=Blend(), **FAST)
    assert res.frames == 132 and res.frames_out == 264 and res.rate_out == 50
    assert res.repeats == [7, 32, 57, 82, 107] and res.cuts == [] and res.audio_streams == 1
    # audio: same codec and 5.1 layout, every packet copied byte for byte at the same time
    (info_in, pk_in), (info_out, pk_out) = _audio_packets(src), _audio_packets(dst)
    assert info_out == info_in and info_in[1] == 6 and info_in[2] == "5.1"
    assert pk_out == pk_in
    # video: exact timestamps k/50, same duration as the source to within one output frame
    tb, pts, frames = _decode(dst)
    assert [Fraction(p) * tb for p in pts] == [Fraction(k, 50) for k in range(264)]
    assert abs(Fraction(264, 50) - res.duration) < Fraction(1, 50) and res.duration == Fraction(132, 25)
    assert frames[0].shape == (720, 1280, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bbb50.mp4"]  # no temporary file left


def test_bikes_cuts_are_not_morphed(data_dir, tmp_path):
    src = _clip(data_dir, "bikes.mp4")
    dst = tmp_path / "bikes50.mkv"
    res = interpolate_video(src, dst, factor=2, model=Blend(), **FAST)
    assert res.cuts == [30, 76, 137, 187, 242] and res.repeats == []
    _, _, source = _decode(src)
    _, _, out = _decode(dst)
    assert len(out) == 2 * len(source) == 500
    for c in res.cuts:
        before, after = source[c - 1], source[c]
        across = out[2 * c - 1]  # halfway between the last frame of a shot and the first of the next
        morph = (before.astype(np.float32) + after) / 2
        assert _mad(across, before) < 3 < 10 < _mad(across, after) and _mad(across, morph) > 10
        assert _mad(out[2 * c], after) < 3
        # inside a shot the same position is interpolated, not repeated
        inside = out[2 * c - 3]
        mid = (source[c - 2].astype(np.float32) + source[c - 1]) / 2
        assert _mad(inside, mid) < min(_mad(inside, source[c - 2]), _mad(inside, source[c - 1]))


def test_chaplin_repeats_are_found_and_retimed(data_dir, tmp_path):
    src = _clip(data_dir, "chaplin.mp4")
    scan = scan_video(src)
    assert scan.frames == 241 and len(scan.repeats) == 72 and scan.cuts == []
    assert all(b - a >= 3 for a, b in zip(scan.repeats, scan.repeats[1:]))  # one repeat per cadence cycle

    def frozen_outputs(detect):
        dst = tmp_path / f"chaplin_{detect}.mp4"
        res = interpolate_video(src, dst, factor=2, model=Blend(), detect_repeats=detect, max_frames=48, **FAST)
        _, _, out = _decode(dst)
        assert len(out) == res.frames_out == 96
        analyser = _Analyser(None, 0.3)
        from restoration_lib.interpolate.video import _thumb

        th = [_thumb(f) for f in out]
        return res, sum(analyser.is_repeat(a, b) for a, b in zip(th, th[1:]))

    res_off, frozen_off = frozen_outputs(False)
    res_on, frozen_on = frozen_outputs(True)
    n_rep = len([i for i in scan.repeats if i < 48])
    assert res_on.repeats == [i for i in scan.repeats if i < 48] and res_off.repeats == []
    assert frozen_off >= 2 * n_rep - 1  # zero-motion pairs without re-timing
    assert frozen_on <= 2
    assert res_on.interpolated > res_off.interpolated
    # the audio is cut with the picture
    info, pk = _audio_packets(tmp_path / "chaplin_True.mp4")
    assert info[0] == "mp3float" and pk and pk[-1][0] < Fraction(48, 25)


@pytest.mark.parametrize("factor,fps,rate", [(2, None, Fraction(60000, 1001)), (None, "24000/1001", Fraction(24000, 1001))])
def test_exact_timestamps_at_ntsc_rates(data_dir, tmp_path, capfd, factor, fps, rate):
    src = _clip(data_dir, "carphone_pristine.mp4")
    dst = tmp_path / "out.mp4"
    res = interpolate_video(src, dst, factor=factor, fps=fps, model=Blend(), preset="ultrafast", progress=True)
    assert "interpolate carphone_pristine.mp4" in capfd.readouterr().err  # the progress bar
    assert res.rate == Fraction(30000, 1001) and res.rate_out == rate
    n = -(-res.duration * rate // 1)
    assert res.frames_out == n
    tb, pts, _ = _decode(dst)
    assert [Fraction(p) * tb for p in pts] == [Fraction(k) / rate for k in range(n)]


def _audio_only(src, dst):
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s = inp.streams.audio[0]
        o = out.add_stream_from_template(s)
        for i, p in enumerate(inp.demux(s)):
            if p.dts is None or i > 20:
                continue
            p.stream = o
            out.mux(p)


def test_clear_errors_and_nothing_left_behind(data_dir, tmp_path):
    src = _clip(data_dir, "carphone_pristine.mp4")
    with pytest.raises(VideoError, match="no such video file"):
        interpolate_video(tmp_path / "missing.mp4", tmp_path / "o.mp4", model=Blend(), **FAST)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoError, match="cannot be read as a video"):
        interpolate_video(junk, tmp_path / "o.mp4", model=Blend(), **FAST)
    audio = tmp_path / "sound.m4a"
    _audio_only(_clip(data_dir, "bigbuckbunny.mp4"), audio)
    with pytest.raises(VideoError, match="no video stream"):
        interpolate_video(audio, tmp_path / "o.mp4", model=Blend(), **FAST)
    with pytest.raises(VideoError, match="no video stream"):
        scan_video(audio)
    # never over the input
    copy = tmp_path / "in.mp4"
    copy.write_bytes(src.read_bytes())
    with pytest.raises(VideoError, match="refusing to overwrite"):
        interpolate_video(copy, tmp_path / "." / "in.mp4", model=Blend(), **FAST)
    assert copy.read_bytes() == src.read_bytes()
    # a failure half-way leaves neither the output nor a temporary file
    before = sorted(tmp_path.iterdir())
    with pytest.raises(RuntimeError, match="simulated failure"):
        interpolate_video(src, tmp_path / "o.mp4", model=FailsLater(30), **FAST)
    assert sorted(tmp_path.iterdir()) == before


class _FakeInterp:
    def many(self, a, b, ts):
        return [a for _ in ts]


def _moving(n, size=32, speed=1.0):
    """Frames of a bright square moving ``speed`` px per frame on a textured background."""
    rng = np.random.default_rng(1)
    bg = rng.integers(0, 120, (size, size * 4, 3), dtype=np.uint8)
    for i in range(n):
        img = bg.copy()
        x = int(round(i * speed)) % (size * 3)
        img[8:24, x : x + 16] = 250
        yield img


def test_streaming_memory_is_bounded():
    n = 3000
    frames = ((img, Fraction(i, 25)) for i, img in enumerate(_moving(n, speed=2.0)))
    source = _Source(rate=Fraction(25), end=Fraction(n, 25))
    tracemalloc.start()
    count = 0
    for _ in _resample(_retime(_pictures(frames, _Analyser(30.0, 0.3), [], [])), Fraction(50), source, _FakeInterp()):
        count += 1
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 2 * n
    assert peak < 2_000_000, peak  # 3000 frames of 12 KB each would be 36 MB


def test_retiming_restores_an_even_cadence():
    # an 18 fps film shown at 24 fps: pictures at slots 0, 1.33, 2.67, ... shown at the next slot
    slots = np.arange(0, 60)
    true = np.floor(slots * 18 / 24).astype(int)  # picture shown in each slot
    pics = list(_moving(true.max() + 1, speed=3.0))
    frames = [(pics[p], Fraction(int(s), 24)) for s, p in zip(slots, true)]
    repeats: list = []
    out = list(_retime(_pictures(iter(frames), _Analyser(None, 0.3), [], repeats)))
    assert len(out) == true.max() + 1 and len(repeats) == len(slots) - len(out)
    times = np.array([float(p.time) * 24 for p in out])
    firsts = np.array([float(p.first) * 24 for p in out])
    inner = slice(3, -3)
    assert np.std(np.diff(times)[inner]) < 0.1 < 0.4 < np.std(np.diff(firsts)[inner])
    assert np.allclose(np.mean(np.diff(times)[inner]), 24 / 18, atol=0.02)


def test_cli_video(data_dir, tmp_path):
    src = _clip(data_dir, "carphone_pristine.mp4")
    dst = tmp_path / "cli.mp4"
    rc = cli.main(["interpolate", str(src), str(dst), "--model", "flow", "--fps", "59.94", "--max-frames", "12",
                   "--no-progress"])
    assert rc == 0
    tb, pts, frames = _decode(dst)
    assert len(frames) == 24 and Fraction(pts[1]) * tb == Fraction(1001, 60000)
    assert cli.main(["interpolate", str(src), str(src), "--model", "flow"]) == 1
