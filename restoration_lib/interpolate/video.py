"""Film frame-rate conversion: decode, detect cuts and repeated frames, interpolate, encode, streaming.

A thin use of the video engine (:mod:`restoration_lib.video`): the frames come from its
:class:`~restoration_lib.video.io.Decoder` (exact timestamps, audio and subtitle packets copied as they are read),
the timeline rules (cuts, repeats, re-timing, the output grid ``k / fps_out``) from
:mod:`restoration_lib.video.timeline`, and the output is encoded by its :class:`~restoration_lib.video.io.Encoder`
into a temporary file beside the destination, renamed when complete. Memory does not grow with the film's length.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

import numpy as np

from ..errors import VideoError
from ..io import atomic_path
from ..video.io import Decoder, Encoder, EncoderSettings, output_format, parse_rate
from ..video.timeline import (
    DEFAULT_REPEAT_THRESHOLD,
    DEFAULT_SCENE_THRESHOLD,
    Analyser,
    Picture,
    grid,
    group_pictures,
    retime,
    thumbnail,
)
from .interpolator import Interpolator

__all__ = ["VideoResult", "VideoScan", "interpolate_video", "scan_video", "parse_rate"]

PathLike = Union[str, "os.PathLike[str]"]
RateLike = Union[int, float, str, Fraction]

# names the tests and older code import from here
_Analyser = Analyser
_Picture = Picture
_pictures = group_pictures
_retime = retime
_thumb = thumbnail


@dataclass
class _Source:
    """Timing facts of an input stream: its nominal rate and its end (seconds from the first frame)."""

    rate: Fraction
    end: Optional[Fraction] = None


def _resample(pics: Iterable[Picture], rate: Fraction, source: _Source, interp) -> Iterator[tuple[np.ndarray, int]]:
    """Output frames on the grid ``k / rate``: ``(image, 1 if synthesized else 0)``; the in-betweens of one pair
    of pictures are made in one ``interp.many`` call."""
    pending: list = []

    def flush():
        if not pending:
            return
        made = interp.many(pending[0].a.image, pending[0].b.image, [s.t for s in pending])
        for img in made:
            yield img, 1
        pending.clear()

    for slot in grid(pics, rate, lambda: source.end):
        if pending and (slot.b is None or slot.a is not pending[0].a or slot.b is not pending[0].b):
            yield from flush()
        if slot.b is None:
            yield slot.a.image, 0
        else:
            pending.append(slot)
    yield from flush()


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
        audio_streams: number of audio (and subtitle) streams copied.
        truncated: the input ended before the frames it declares (a warning said how many could be read).
    """

    path: Optional[Path] = None
    rate_out: Fraction = Fraction(0)
    frames_out: int = 0
    interpolated: int = 0
    audio_streams: int = 0
    truncated: bool = False


def _counting(frames, bar) -> Iterator[tuple[np.ndarray, Fraction]]:
    for f in frames:
        bar.update(1)
        yield f.rgb, f.time


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
    cuts: list[int] = []
    repeats: list[int] = []
    with Decoder(src, max_frames=max_frames) as dec, \
            tqdm(total=dec.expected, unit="frame", desc=f"scan {src.name}", disable=not progress) as bar:
        for _ in group_pictures(_counting(dec, bar), Analyser(scene_threshold, repeat_threshold), cuts, repeats):
            pass
    return VideoScan(dec.frames, dec.rate, dec.end, cuts, repeats)


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
    analyser = Analyser(scene_threshold, repeat_threshold if detect_repeats else None)
    settings = EncoderSettings(codec=codec, crf=crf, preset=preset)
    with Decoder(src, max_frames=max_frames) as dec:
        rate_out = rate_req if rate_req is not None else dec.rate * int(factor)
        interp = model if isinstance(model, Interpolator) else Interpolator(model, device, precision, weights_dir)
        result = VideoResult(0, dec.rate, Fraction(0), path=dst, rate_out=rate_out)
        dur = Fraction(dec.info.duration).limit_denominator(10**6) if dec.info.duration else None
        if dur is not None and max_frames is not None:
            dur = min(dur, Fraction(max_frames) / dec.rate)
        fmt = output_format(dst) if dst.suffix.lower() in (".mp4", ".m4v", ".mov", ".mkv") else None
        with tqdm(total=math.ceil(dur * rate_out) if dur else None, unit="frame", desc=f"interpolate {src.name}",
                  disable=not progress) as bar, atomic_path(dst, protect=[src]) as tmp:
            enc = Encoder(tmp, dec.info.width, dec.info.height, rate_out, settings, copy_from=dec, fmt=fmt,
                          label=dst)
            try:
                source = _Source(dec.rate)
                frames = ((f.rgb, f.time) for f in dec)
                pics = retime(group_pictures(frames, analyser, result.cuts, result.repeats))
                offset = None  # output pts of time 0, known once the first frame is decoded
                for img, synthesized in _resample(_ending(pics, dec, source), rate_out, source, interp):
                    if offset is None:
                        offset = round((dec.start or 0) * rate_out)
                    enc.write(img, pts=offset + result.frames_out)
                    result.frames_out += 1
                    result.interpolated += synthesized
                    bar.update(1)
                enc.close()
            except BaseException:
                enc.abort()
                raise
    result.audio_streams = enc.copied_streams
    result.frames = dec.frames
    result.duration = dec.end
    result.truncated = dec.truncated
    return result


def _ending(pics: Iterator[Picture], dec: Decoder, source: _Source) -> Iterator[Picture]:
    """The pictures; once the decoder is exhausted, ``source.end`` is set (the grid then holds the last one)."""
    yield from pics
    source.end = dec.end
