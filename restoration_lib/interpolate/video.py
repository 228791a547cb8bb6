"""Film frame-rate conversion: decode, detect cuts and repeated frames, interpolate, encode — streaming.

The whole conversion runs in this process with PyAV, one frame at a time, so memory does not grow with the
length of the film. The pipeline:

1. **Decode** the video stream; audio packets are copied to the output unchanged as they are read.
2. **Analyse** each frame on a 160-pixel-wide gray thumbnail against the previous frame:

   - a *repeat* (the same picture again, as when a 16–18 fps film is padded to 24/25 fps): mean absolute
     difference below ``repeat_threshold`` levels and no 8×8 thumbnail block changing by 2 levels or more;
   - a *cut*: after motion compensation (DIS optical flow on the thumbnails) the mean absolute residual
     exceeds ``scene_threshold`` levels.
3. **Re-time** repeats: a run of up to three identical frames becomes one picture placed at the middle of
   its run, smoothed with a local linear fit over its neighbours so the cadence of the original camera is
   restored. Longer runs are freezes and keep their own times.
4. **Resample** on the exact output grid ``k / fps_out`` (rational arithmetic, so no drift at 23.976 or
   29.97 fps): an output time that falls on a picture's time copies it; one between two pictures of the
   same shot is interpolated at the matching ``t``; one across a cut repeats the earlier picture.
5. **Encode** (H.264 by default) into a temporary file beside the destination, renamed when complete.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import cv2
import numpy as np

from ..errors import VideoError
from ..io import atomic_path


class _DeferredAV:
    """PyAV, imported at first use: frame interpolation itself (``Interpolator``) does not load FFmpeg."""

    def __getattr__(self, name: str) -> Any:
        import av as module  # noqa: PLC0415

        return getattr(module, name)


av = _DeferredAV()
from .interpolator import Interpolator

__all__ = ["VideoResult", "VideoScan", "interpolate_video", "scan_video", "parse_rate"]

PathLike = Union[str, "os.PathLike[str]"]
RateLike = Union[int, float, str, Fraction]

_THUMB_WIDTH = 160
_BLOCK = 8
_BLOCK_LIMIT = 2.0  # levels: a repeat changes no thumbnail block by this much on average
_MAX_RUN = 3  # a picture shown up to this many times in a row is cadence padding, longer is a freeze
_FIT_RADIUS = 2  # neighbours on each side used to smooth re-timed pictures
DEFAULT_SCENE_THRESHOLD = 30.0
DEFAULT_REPEAT_THRESHOLD = 0.3


def parse_rate(rate: RateLike) -> Fraction:
    """A frame rate as an exact fraction; NTSC rates given as decimals (23.976, 29.97, 59.94) map to
    ``N*1000/1001``. Accepts ints, floats, ``Fraction`` and strings (``"30000/1001"``, ``"25"``)."""
    if isinstance(rate, Fraction):
        r = rate
    elif isinstance(rate, str):
        try:
            r = Fraction(rate.strip())
        except (ValueError, ZeroDivisionError) as e:
            raise ValueError(f"frame rate {rate!r} is not a number or a fraction such as 30000/1001") from e
        if "/" not in rate and r.denominator != 1:  # a decimal such as "59.94": same rules as a float
            return parse_rate(float(r))
    elif isinstance(rate, (int, float)) and math.isfinite(rate):
        r = Fraction(rate).limit_denominator(1_000_000)
        ntsc = Fraction(round(float(rate) * 1.001), 1) * Fraction(1000, 1001)
        if r.denominator != 1 and abs(float(ntsc) - float(rate)) < 0.006:
            r = ntsc
    else:
        raise ValueError(f"frame rate must be a positive number; got {rate!r}")
    if r <= 0:
        raise ValueError(f"frame rate must be positive; got {rate!r}")
    return r


# ------------------------------------------------------------------------------------------- analysis


def _thumb(rgb: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    tw = min(_THUMB_WIDTH, w)
    th = max(_BLOCK, round(h * tw / w))
    return cv2.resize(gray, (tw, th), interpolation=cv2.INTER_AREA).astype(np.float32)


class _Analyser:
    def __init__(self, scene_threshold: Optional[float], repeat_threshold: Optional[float]):
        self.scene_threshold = scene_threshold
        self.repeat_threshold = repeat_threshold
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)

    def is_repeat(self, a: np.ndarray, b: np.ndarray) -> bool:
        if self.repeat_threshold is None:
            return False
        d = np.abs(a - b)
        if d.mean() >= self.repeat_threshold:
            return False
        hb = d.shape[0] // _BLOCK * _BLOCK
        wb = d.shape[1] // _BLOCK * _BLOCK
        blocks = d[:hb, :wb].reshape(hb // _BLOCK, _BLOCK, wb // _BLOCK, _BLOCK).mean(axis=(1, 3))
        return bool(blocks.max() < _BLOCK_LIMIT)

    def cut_score(self, a: np.ndarray, b: np.ndarray) -> float:
        """Mean absolute residual (levels) of ``a`` predicted from ``b`` by motion compensation."""
        flow = self._dis.calc(a.astype(np.uint8), b.astype(np.uint8), None)
        h, w = a.shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        pred = cv2.remap(b, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return float(np.abs(pred - a).mean())

    def is_cut(self, a: np.ndarray, b: np.ndarray) -> bool:
        return self.scene_threshold is not None and self.cut_score(a, b) > self.scene_threshold


# ------------------------------------------------------------------------------------------- decoding


@dataclass
class _Source:
    """Timing facts of the input video stream, filled in while decoding."""

    rate: Fraction
    max_frames: Optional[int] = None  # stop after this many frames
    start: Optional[Fraction] = None
    end: Optional[Fraction] = None  # relative to start: last frame time + one frame duration
    frames: int = 0

    def past_limit(self, seconds: Fraction) -> bool:
        """Whether absolute time ``seconds`` lies after the last frame that will be decoded."""
        if self.max_frames is None:
            return False
        return seconds >= (self.start or 0) + Fraction(self.max_frames) / self.rate


def _open_input(src: Path):
    if not src.is_file():
        raise VideoError(f"{src}: no such video file")
    try:
        inp = av.open(str(src))
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"{src}: cannot be read as a video ({e})") from e
    if not inp.streams.video:
        kinds = ", ".join(sorted({s.type for s in inp.streams})) or "no streams"
        inp.close()
        raise VideoError(f"{src} has no video stream (it contains {kinds}); nothing to interpolate")
    return inp


def _stream_rate(vs) -> Fraction:
    for r in (vs.average_rate, vs.guessed_rate, vs.base_rate):
        if r:
            return Fraction(r.numerator, r.denominator)
    raise VideoError("the video stream declares no frame rate")


def _frames(inp, vs, source: _Source, on_packet=None) -> Iterator[tuple[np.ndarray, Fraction]]:
    """Decoded RGB frames with their times in seconds relative to the first frame (snapped to the nominal
    frame grid when within a tenth of a frame of it). ``on_packet`` receives every non-video packet."""
    streams = [vs] + ([s for s in inp.streams if s.type == "audio"] if on_packet else [])
    tb = vs.time_base
    last_rel: Optional[Fraction] = None
    try:
        for packet in inp.demux(streams):
            if packet.stream.type != "video":
                on_packet(packet)
                continue
            for frame in packet.decode():
                if frame.pts is not None and tb is not None:
                    t = Fraction(frame.pts) * Fraction(tb.numerator, tb.denominator)
                    if source.start is None:
                        source.start = t
                    rel = t - source.start
                    slots = rel * source.rate
                    if abs(slots - round(slots)) < Fraction(1, 10):
                        rel = Fraction(round(slots)) / source.rate
                else:
                    if source.start is None:
                        source.start = Fraction(0)
                    rel = Fraction(source.frames) / source.rate
                if last_rel is not None and rel <= last_rel:  # broken or duplicate timestamps
                    rel = last_rel + 1 / source.rate
                last_rel = rel
                source.frames += 1
                yield frame.to_ndarray(format="rgb24"), rel
                if source.max_frames is not None and source.frames >= source.max_frames:
                    break
            if source.max_frames is not None and source.frames >= source.max_frames:
                break
    except av.error.FFmpegError as e:
        raise VideoError(f"decoding failed after {source.frames} frames: {e}") from e
    if source.frames == 0:
        raise VideoError("the video stream holds no decodable frame")
    source.end = last_rel + 1 / source.rate


# ------------------------------------------------------------------------------- repeats and re-timing


@dataclass
class _Picture:
    """One distinct picture of the film: where it was shown and when it was taken."""

    image: np.ndarray
    thumb: np.ndarray
    index: int  # source index of its first occurrence
    times: list  # times (s, relative) of its occurrences
    cut_before: bool = False
    time: Any = None  # re-timed capture time (Fraction, or float when smoothed)

    @property
    def first(self) -> Fraction:
        return self.times[0]

    @property
    def last(self) -> Fraction:
        return self.times[-1]

    @property
    def mid(self) -> Fraction:
        return (self.times[0] + self.times[-1]) / 2


def _pictures(frames, analyser: _Analyser, cuts: list, repeats: list) -> Iterator[_Picture]:
    """Group decoded frames into pictures (a picture and its repeats), marking cuts.

    A frame repeats the current picture when it matches that picture's first occurrence; cuts are judged
    between consecutive frames.
    """
    cur: Optional[_Picture] = None
    held = False  # inside a freeze (a run longer than _MAX_RUN): every occurrence is its own picture
    prev_thumb = None
    for i, (img, t) in enumerate(frames):
        th = _thumb(img)
        if cur is not None and analyser.is_repeat(cur.thumb, th):
            repeats.append(i)
            prev_thumb = th
            if not held and len(cur.times) < _MAX_RUN:
                cur.times.append(t)
                continue
            if held:
                yield cur
            else:
                held = True
                for k, tk in enumerate(cur.times):
                    yield _Picture(cur.image, cur.thumb, cur.index + k, [tk], cur.cut_before and k == 0)
            cur = _Picture(img, th, i, [t])
            continue
        cut = cur is not None and analyser.is_cut(prev_thumb, th)
        if cut:
            cuts.append(i)
        if cur is not None:
            yield cur
        held = False
        cur = _Picture(img, th, i, [t], cut_before=cut)
        prev_thumb = th
    if cur is not None:
        yield cur


def _settle(window: list, j: int) -> None:
    """Set ``window[j].time`` from its neighbours in ``window`` (same shot, up to _FIT_RADIUS each side)."""
    p = window[j]
    r = _FIT_RADIUS
    lo = j
    while lo > 0 and j - lo < r and not window[lo].cut_before:
        lo -= 1
    hi = j
    while hi + 1 < len(window) and hi - j < r and not window[hi + 1].cut_before:
        hi += 1
    group = window[lo : hi + 1]
    if not any(len(q.times) > 1 for q in group):
        p.time = p.first
        return
    if len(group) < 3:
        p.time = p.mid
    else:
        slope, icpt = np.polyfit(np.arange(lo, hi + 1, dtype=np.float64), [float(q.mid) for q in group], 1)
        p.time = float(slope * j + icpt)
    lower = (window[j - 1].last + p.first) / 2 if j > 0 and not p.cut_before else p.first
    nxt = window[j + 1] if j + 1 < len(window) and not window[j + 1].cut_before else None
    upper = (p.last + nxt.first) / 2 if nxt is not None else p.last
    p.time = min(max(p.time, lower), upper)


def _retime(pictures: Iterator[_Picture]) -> Iterator[_Picture]:
    """Give every picture its capture time: its own time where no repeat is near; otherwise the middle
    of its run, smoothed by a linear fit over its neighbours and kept between the midpoints of the gaps
    to them. Holds at most 2 * _FIT_RADIUS + 1 pictures."""
    r = _FIT_RADIUS
    window: list[_Picture] = []
    j = 0  # next picture to settle
    for pic in pictures:
        window.append(pic)
        while len(window) - 1 - j >= r:
            _settle(window, j)
            yield window[j]
            j += 1
        if j > r:
            del window[: j - r]
            j = r
    while j < len(window):
        _settle(window, j)
        yield window[j]
        j += 1


# ------------------------------------------------------------------------------------------- results


@dataclass
class VideoScan:
    """What :func:`scan_video` found.

    Attributes:
        frames: number of decoded frames.
        rate: nominal frame rate of the stream.
        duration: seconds from the first frame to the end of the last.
        cuts: 0-based indices of the first frame of every new shot.
        repeats: 0-based indices of frames that repeat their predecessor.
    """

    frames: int
    rate: Fraction
    duration: Fraction
    cuts: list[int] = field(default_factory=list)
    repeats: list[int] = field(default_factory=list)


@dataclass
class VideoResult(VideoScan):
    """What :func:`interpolate_video` did (adds to :class:`VideoScan`).

    Attributes:
        path: the written file.
        rate_out: output frame rate.
        frames_out: number of frames written.
        interpolated: how many of them were synthesized (the rest are copies).
        audio_streams: number of audio streams copied.
    """

    path: Optional[Path] = None
    rate_out: Fraction = Fraction(0)
    frames_out: int = 0
    interpolated: int = 0
    audio_streams: int = 0


def scan_video(
    src: PathLike,
    *,
    scene_threshold: Optional[float] = DEFAULT_SCENE_THRESHOLD,
    repeat_threshold: Optional[float] = DEFAULT_REPEAT_THRESHOLD,
    max_frames: Optional[int] = None,
    progress: bool = False,
) -> VideoScan:
    """Find the cuts and repeated frames of a video without writing anything (same rules as
    :func:`interpolate_video`).

    Raises:
        VideoError: unreadable file, or no video stream.
    """
    from tqdm.auto import tqdm

    src = Path(src)
    analyser = _Analyser(scene_threshold, repeat_threshold)
    with _open_input(src) as inp:
        vs = inp.streams.video[0]
        vs.thread_type = "AUTO"
        source = _Source(rate=_stream_rate(vs), max_frames=max_frames)
        cuts: list[int] = []
        repeats: list[int] = []
        bar = tqdm(total=vs.frames or None, unit="frame", desc=f"scan {src.name}", disable=not progress)
        for _ in _pictures(_counting(_frames(inp, vs, source), bar), analyser, cuts, repeats):
            pass
        bar.close()
    return VideoScan(source.frames, source.rate, source.end, cuts, repeats)


def _counting(it, bar):
    for x in it:
        bar.update(1)
        yield x


# ------------------------------------------------------------------------------------------- writing


def _check_paths(src: Path, dst: Path) -> None:
    if dst.suffix == "":
        raise VideoError(f"{dst}: give the output a file extension (.mp4, .mkv, .mov) so its format is known")
    if dst.resolve() == src.resolve() or (dst.exists() and os.path.samefile(src, dst)):
        raise VideoError(f"{dst} is the input file; refusing to overwrite it (choose another output name)")


def interpolate_video(
    src: PathLike,
    dst: PathLike,
    factor: Optional[int] = 2,
    fps: Optional[RateLike] = None,
    model: Any = "rife-4.0",
    device=None,
    precision: str = "exact",
    *,
    weights_dir: Optional[PathLike] = None,
    progress: bool = True,
    scene_threshold: Optional[float] = DEFAULT_SCENE_THRESHOLD,
    detect_repeats: bool = True,
    repeat_threshold: float = DEFAULT_REPEAT_THRESHOLD,
    codec: str = "libx264",
    crf: int = 18,
    preset: str = "medium",
    max_frames: Optional[int] = None,
) -> VideoResult:
    """Raise the frame rate of a video (``factor`` times, or to ``fps``), keeping its audio.

    Args:
        src: input video file (never modified).
        dst: output file; its extension chooses the container (.mp4, .mkv, .mov...). Written to a
            temporary file in the same folder and renamed when complete.
        factor: integer multiple of the input frame rate (ignored when ``fps`` is given).
        fps: output frame rate instead of ``factor`` (number, ``Fraction`` or ``"30000/1001"``).
        model: ``"rife-4.0"``, ``"flow"``, another name of :func:`available_models`, an ``nn.Module``,
            or an already built :class:`Interpolator` (then ``device``/``precision`` are its own).
        device, precision, weights_dir: as for :class:`Interpolator`.
        progress: show a progress bar.
        scene_threshold: motion-compensated mean absolute difference (8-bit levels on a 160-px thumbnail)
            above which two frames are a cut; ``None`` disables cut detection.
        detect_repeats: find repeated frames (film cadence padding) and re-time them instead of
            interpolating zero motion.
        repeat_threshold: mean absolute thumbnail difference (levels) below which a frame is a repeat.
        codec: video encoder (``"libx264"``; ``"mpeg4"`` where x264 is missing).
        crf, preset: x264 quality (lower crf = better) and speed settings.
        max_frames: convert only the first ``max_frames`` input frames (a preview); the audio is cut at the
            same time.

    Returns:
        A :class:`VideoResult` (frame counts, rates, cuts and repeats found).

    Raises:
        VideoError: unreadable input, no video stream, output equal to input, encoding failure.
    """
    from tqdm.auto import tqdm

    src, dst = Path(src), Path(dst)
    _check_paths(src, dst)
    if fps is None and (factor is None or int(factor) != factor or factor < 1):
        raise ValueError(f"factor must be a whole number ≥ 1 (or give fps); got {factor!r}")
    rate_req = parse_rate(fps) if fps is not None else None
    analyser = _Analyser(scene_threshold, repeat_threshold if detect_repeats else None)
    with _open_input(src) as inp:
        vs = inp.streams.video[0]
        vs.thread_type = "AUTO"
        source = _Source(rate=_stream_rate(vs), max_frames=max_frames)
        rate_out = rate_req if rate_req is not None else source.rate * int(factor)
        interp = model if isinstance(model, Interpolator) else Interpolator(model, device, precision, weights_dir)
        result = VideoResult(0, source.rate, Fraction(0), path=dst, rate_out=rate_out)
        dur = vs.duration * vs.time_base if vs.duration and vs.time_base else None
        if dur is None and inp.duration:
            dur = Fraction(inp.duration, av.time_base)
        if dur is not None and max_frames is not None:
            dur = min(dur, Fraction(max_frames) / source.rate)
        bar = tqdm(total=math.ceil(dur * rate_out) if dur else None, unit="frame",
                   desc=f"interpolate {src.name}", disable=not progress)
        try:
            with atomic_path(dst, protect=[src]) as tmp:
                _convert(inp, vs, tmp, source, rate_out, interp, analyser, result, bar, codec, crf, preset)
        except av.error.FFmpegError as e:
            raise VideoError(f"writing {dst} failed: {e}") from e
        finally:
            bar.close()
    result.frames = source.frames
    result.duration = source.end
    return result


def _convert(inp, vs, tmp: Path, source: _Source, rate_out: Fraction, interp, analyser: _Analyser,
             result: VideoResult, bar, codec: str, crf: int, preset: str) -> None:
    """Stream ``inp`` into a new file ``tmp``: audio packets copied, video re-timed and interpolated."""
    try:
        out = av.open(str(tmp), "w")
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"cannot create a {tmp.suffix} file ({e})") from e
    with out:
        audio_map = {}
        for s in inp.streams.audio:
            try:
                audio_map[s] = out.add_stream_from_template(s)
            except (av.error.FFmpegError, ValueError) as e:
                raise VideoError(f"the audio stream ({s.codec_context.name}) cannot be copied into a "
                                 f"{tmp.suffix} file ({e}); try a .mkv output") from e
        result.audio_streams = len(audio_map)
        vout = _video_stream(out, vs, rate_out, codec, crf, preset)

        def copy_packet(packet) -> None:
            if packet.dts is None:  # demuxer flush packet
                return
            if packet.pts is not None and source.past_limit(packet.pts * packet.time_base):
                return
            packet.stream = audio_map[packet.stream]
            out.mux(packet)

        frames = _frames(inp, vs, source, on_packet=copy_packet if audio_map else None)
        pics = _retime(_pictures(frames, analyser, result.cuts, result.repeats))
        offset = None  # output pts of time 0, known once the first frame is decoded
        for img, synthesized in _resample(pics, rate_out, source, interp):
            if offset is None:
                offset = round((source.start or 0) * rate_out)
            _encode(out, vout, img, offset + result.frames_out)
            result.frames_out += 1
            result.interpolated += synthesized
            bar.update(1)
        for packet in vout.encode(None):
            out.mux(packet)


def _video_stream(out, vs, rate: Fraction, codec: str, crf: int, preset: str):
    w = vs.codec_context.width
    h = vs.codec_context.height
    try:
        vout = out.add_stream(codec, rate=rate)
    except (av.error.FFmpegError, ValueError) as e:
        raise VideoError(f"the video encoder {codec!r} is not available here ({e}); try codec='mpeg4'") from e
    vout.width, vout.height = w, h
    vout.pix_fmt = "yuv420p" if (w % 2 == 0 and h % 2 == 0) else "yuv444p"
    vout.time_base = 1 / rate
    vout.codec_context.time_base = 1 / rate
    if codec == "libx264":
        vout.options = {"crf": str(crf), "preset": preset}
    return vout


def _encode(out, vout, img: np.ndarray, pts: int) -> None:
    frame = av.VideoFrame.from_ndarray(img, format="rgb24")
    frame.pts = pts
    frame.time_base = vout.codec_context.time_base
    for packet in vout.encode(frame):
        out.mux(packet)


def _resample(pics: Iterator[_Picture], rate: Fraction, source: _Source, interp) -> Iterator[tuple[np.ndarray, int]]:
    """Output frames on the grid ``k / rate``: ``(image, 1 if synthesized else 0)``."""
    k = 0
    prev: Optional[_Picture] = None
    eps = 1e-6
    for pic in pics:
        ks = []
        while Fraction(k) / rate < pic.time:
            ks.append(k)
            k += 1
        if ks:
            if prev is None or pic.cut_before:
                for _ in ks:
                    yield (prev or pic).image, 0
            else:
                span = pic.time - prev.time
                ts = [float((Fraction(kk) / rate - prev.time) / span) for kk in ks]
                inner = sorted({t for t in ts if eps < t < 1 - eps})
                made = dict(zip(inner, interp.many(prev.image, pic.image, inner))) if inner else {}
                for t in ts:
                    if t in made:
                        yield made[t], 1
                    else:
                        yield (prev.image if t <= eps else pic.image), 0
        prev = pic
    if prev is None:
        return
    while source.end is not None and Fraction(k) / rate < source.end:
        yield prev.image, 0
        k += 1
