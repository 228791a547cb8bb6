"""Video files in and out: the only module of the library that uses PyAV (FFmpeg).

- :func:`probe` and :class:`VideoInfo`: size, frame rate, declared length, other streams.
- :class:`Decoder`: frames as H,W,3 uint8 RGB (accurate YUV→RGB rounding) with their exact times in seconds
  (variable frame rate followed); the audio and subtitle packets can be handed to an :class:`Encoder` as they are
  read; a file that ends early (truncated) is noticed and reported with the number of frames read.
- :class:`Encoder` / :class:`ChunkWriter`: H.264 with fixed settings (:class:`EncoderSettings`), so the same frames
  give the same bytes (what makes resumed films byte-identical).
- :func:`concat_chunks`: joins chunk files without re-encoding, copying the source's audio and subtitle packets.
"""
from __future__ import annotations

import contextlib
import heapq
import math
import os
import warnings
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional, Sequence, Union

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from ..errors import VideoError
from ..io import atomic_path

__all__ = [
    "VideoInfo",
    "probe",
    "Decoder",
    "DecodedFrame",
    "read_frames",
    "EncoderSettings",
    "Encoder",
    "ChunkWriter",
    "concat_chunks",
    "output_format",
    "as_fraction",
    "parse_rate",
    "deterministic_x264_params",
    "frame_to_rgb",
    "transcode",
]

PathLike = Union[str, os.PathLike]
RateLike = Union[int, float, str, Fraction]

# swscale's default YUV→RGB path (the one ``to_ndarray(format="rgb24")`` takes) comes out about 1.4 levels
# darker than the source on average (measured on bikes.mp4 through an exact RGB→YUV→RGB round trip); accurate
# rounding with full chroma interpolation brings the round trip to within 0.4 levels and no visible bias.
_ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.BITEXACT
_DECODE_FLAGS = _ACCURATE | Interpolation.FULL_CHR_H_INT
_ENCODE_FLAGS = _ACCURATE | Interpolation.FULL_CHR_H_INP
_COPIED = ("audio", "subtitle")  # stream types copied packet for packet
_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


def frame_to_rgb(frame: "av.VideoFrame") -> np.ndarray:
    """A decoded frame as H,W,3 uint8 RGB, converted with accurate rounding (see ``_DECODE_FLAGS``)."""
    rng = frame.color_range if frame.color_range in (ColorRange.MPEG, ColorRange.JPEG) else None
    return frame.reformat(format="rgb24", interpolation=_DECODE_FLAGS, src_color_range=rng, threads=1).to_ndarray()


# ------------------------------------------------------------------------------------------------ frame rates


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


def as_fraction(fps: RateLike) -> Fraction:
    """A frame rate as an exact fraction, also snapping near-NTSC fractions (2997/100 → 30000/1001)."""
    f = parse_rate(fps)
    ntsc = f.limit_denominator(1001)
    if abs(float(ntsc) - float(f)) < 5e-3 and ntsc.denominator == 1001:
        return ntsc
    return f.limit_denominator(1_000_000)


# ------------------------------------------------------------------------------------------------ probing


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video file.

    Attributes:
        path: the file.
        width, height: frame size in pixels.
        fps: average frame rate (exact fraction).
        frames: number of frames the container declares (None when it does not say).
        duration: seconds (None when unknown).
        start_time: seconds of the first video timestamp.
        audio_streams: number of audio streams.
        codec: video codec name.
        subtitle_streams: number of subtitle streams.
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: Optional[int]
    duration: Optional[float]
    start_time: float
    audio_streams: int
    codec: str
    subtitle_streams: int = 0

    def estimated_frames(self) -> Optional[int]:
        """Declared frame count, else duration × fps, else None."""
        if self.frames:
            return self.frames
        if self.duration:
            return int(round(self.duration * self.fps))
        return None


def _open(src: PathLike) -> "av.container.InputContainer":
    p = Path(src)
    if not p.is_file():
        raise VideoError(f"{p}: no such video file (it does not exist or is not a file)")
    try:
        c = av.open(str(p), mode="r")
    except (av.error.FFmpegError, OSError, ValueError) as e:  # type: ignore[attr-defined]
        raise VideoError(f"{p} cannot be read as a video ({e})") from e
    if not c.streams.video:
        kinds = ", ".join(sorted({s.type for s in c.streams})) or "no streams"
        c.close()
        raise VideoError(f"{p} has no video stream (it contains {kinds})")
    return c


def _stream_rate(vs, src) -> Fraction:
    for r in (vs.average_rate, vs.guessed_rate, vs.base_rate):
        if r:
            return as_fraction(Fraction(r.numerator, r.denominator))
    raise VideoError(f"{src}: the video stream declares no frame rate")


def _info(c, src: PathLike) -> VideoInfo:
    s = c.streams.video[0]
    duration = None
    if s.duration is not None and s.time_base is not None:
        duration = float(s.duration * s.time_base)
    elif c.duration is not None:
        duration = c.duration / av.time_base
    start = float(s.start_time * s.time_base) if s.start_time is not None and s.time_base else 0.0
    return VideoInfo(
        path=Path(src),
        width=s.codec_context.width,
        height=s.codec_context.height,
        fps=_stream_rate(s, src),
        frames=s.frames or None,
        duration=duration,
        start_time=start,
        audio_streams=len(c.streams.audio),
        codec=s.codec_context.name,
        subtitle_streams=len(c.streams.subtitles),
    )


def probe(src: PathLike) -> VideoInfo:
    """Read a video's size, frame rate, length and other streams without decoding.

    Raises:
        VideoError: no such file, not a readable container, or no video stream.
    """
    with _open(src) as c:
        return _info(c, src)


# ------------------------------------------------------------------------------------------------ decoding


class DecodedFrame(NamedTuple):
    """One decoded frame: its index (0-based, presentation order), its time in seconds relative to the first
    frame (exact; snapped to the nominal grid when within a tenth of a frame of it) and its H,W,3 uint8 RGB."""

    index: int
    time: Fraction
    rgb: np.ndarray


class Decoder:
    """Decode the first video stream of a file, frame by frame, with exact times.

    Args:
        src: the video file.
        max_frames: stop after this many frames (a preview or the ``duration`` of a film).
        copy_to: an :class:`Encoder` that receives the audio and subtitle packets as they are read (cut at the
            end of the last decoded frame when ``max_frames`` stops early).
        warn: warn when the file turns out truncated (``truncated`` is set either way).

    After iteration: ``frames`` (decoded), ``start`` (absolute seconds of the first frame), ``end`` (seconds from
    the first frame to the end of the last one), ``expected`` (frames the container declares) and ``truncated``
    (True when fewer frames than declared could be read: a warning is issued with both numbers).

    Raises (while iterating):
        VideoError: no frame at all could be decoded, or a decoding error after some frames.
    """

    def __init__(self, src: PathLike, *, max_frames: Optional[int] = None, copy_to: Optional["Encoder"] = None,
                 warn: bool = True):
        self.src = Path(src)
        self.container = _open(self.src)
        self.info = _info(self.container, self.src)
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.rate = self.info.fps
        self.max_frames = max_frames
        self.copy_to = copy_to
        self.frames = 0
        self.start: Optional[Fraction] = None
        self.end: Optional[Fraction] = None
        self.expected = self.info.estimated_frames()
        self.truncated = False
        self.warn = warn

    def __enter__(self) -> "Decoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.container.close()

    def other_streams(self) -> list:
        """The audio and subtitle streams of the file (what an :class:`Encoder` copies)."""
        return [s for s in self.container.streams if s.type in _COPIED]

    def _past_limit(self, seconds: Fraction) -> bool:
        if self.max_frames is None:
            return False
        return seconds >= (self.start or 0) + Fraction(self.max_frames) / self.rate

    def _copy(self, packet) -> None:
        if packet.dts is None:  # demuxer flush packet
            return
        if packet.pts is not None and self._past_limit(packet.pts * packet.time_base):
            return
        self.copy_to.copy_packet(packet)

    def __iter__(self) -> Iterator[DecodedFrame]:
        vs = self.stream
        streams = [vs] + (self.other_streams() if self.copy_to is not None else [])
        tb = Fraction(vs.time_base.numerator, vs.time_base.denominator) if vs.time_base else None
        last: Optional[Fraction] = None
        done = False
        try:
            for packet in self.container.demux(streams):
                if packet.stream.type != "video":
                    self._copy(packet)
                    continue
                for frame in packet.decode():
                    if frame.pts is not None and tb is not None:
                        t = Fraction(frame.pts) * tb
                        if self.start is None:
                            self.start = t
                        rel = t - self.start
                        slots = rel * self.rate
                        if abs(slots - round(slots)) < Fraction(1, 10):
                            rel = Fraction(round(slots)) / self.rate
                    else:
                        if self.start is None:
                            self.start = Fraction(0)
                        rel = Fraction(self.frames) / self.rate
                    if last is not None and rel <= last:  # broken or duplicate timestamps
                        rel = last + 1 / self.rate
                    last = rel
                    yield DecodedFrame(self.frames, rel, frame_to_rgb(frame))
                    self.frames += 1
                    if self.max_frames is not None and self.frames >= self.max_frames:
                        done = True
                        break
                if done:
                    break
        except av.error.FFmpegError as e:  # type: ignore[attr-defined]
            if self.frames == 0:
                raise VideoError(f"{self.src}: no video frame could be decoded ({e})") from e
            self.end = last + 1 / self.rate
            self._truncated(f"decoding stopped with an error ({e})")
            return
        if self.frames == 0:
            raise VideoError(f"{self.src}: the video stream holds no decodable frame; nothing to do")
        self.end = last + 1 / self.rate
        if not done and self._short():
            self._truncated("the file looks truncated")

    def _short(self) -> bool:
        """Whether fewer frames were read than the container declares: its frame count when it gives one (one
        frame of slack), else its duration (10 % of slack: the container's duration can include a longer audio
        stream; timestamps, not a frame count, so variable frame rates are judged right)."""
        if self.info.frames:
            return self.frames < self.info.frames - 1
        if self.info.duration:
            return float(self.end) < 0.9 * self.info.duration - 2 / float(self.rate)
        return False

    def _truncated(self, why: str) -> None:
        self.truncated = True
        if not self.warn:
            return
        if self.info.frames:
            declared = f" of the {self.info.frames} it declares"
        elif self.info.duration:
            declared = f" ({float(self.end or 0):.2f} s) of the {self.info.duration:.2f} s it declares"
        else:
            declared = ""
        warnings.warn(f"{self.src}: only {self.frames} frames could be read{declared}; {why}", RuntimeWarning,
                      stacklevel=3)


def read_frames(src: PathLike, start: int = 0, stop: Optional[int] = None) -> Iterator[np.ndarray]:
    """Decode frames ``start`` ≤ i < ``stop`` of the first video stream as H,W,3 uint8 RGB arrays.

    The YUV→RGB conversion uses accurate rounding (FFmpeg's fast default is about 1.4 levels dark), so these
    frames can differ by a level or two from ``frame.to_ndarray(format="rgb24")``. Frames before ``start`` are
    decoded and dropped, which is exact whatever the container's timestamps.

    Raises:
        VideoError: unreadable file, or no decodable frame.
    """
    with Decoder(src, max_frames=stop) as dec:
        for f in dec:
            if f.index >= start:
                yield f.rgb


# ------------------------------------------------------------------------------------------------ encoding


@dataclass(frozen=True)
class EncoderSettings:
    """Video encoder settings; fixed values (thread count included) make encoding reproducible byte for byte.

    Attributes:
        codec: ``"libx264"`` (default) or ``"mpeg4"`` where x264 is unavailable.
        crf: x264 constant rate factor (lower = better; 18 is visually lossless for most films).
        preset: x264 preset.
        threads: encoder threads. Keep 1 for resumable work: with more threads (frame or sliced), libx264's
            output changed from run to run on this machine's tests, so a resumed film would no longer be
            byte-identical to an uninterrupted one.
        x264_params: extra x264 parameters (``None``: :func:`deterministic_x264_params`).
    """

    codec: str = "libx264"
    crf: int = 18
    preset: str = "medium"
    threads: int = 1
    x264_params: Optional[str] = None

    def resolved(self) -> "EncoderSettings":
        """These settings with ``x264_params`` filled in for this machine (see :func:`deterministic_x264_params`)."""
        if self.x264_params is not None or self.codec != "libx264":
            return self
        return replace(self, x264_params=deterministic_x264_params())

    def as_dict(self) -> dict:
        return asdict(self)


# x264 instruction sets of every AVX-512 capable x86-64 CPU, short of AVX-512 itself.
_X264_AVX2_ASM = "MMX2,SSE,SSE2,SSE3,SSSE3,SSE4,SSE4.2,AVX,FMA3,AVX2,LZCNT,BMI1,BMI2"


def deterministic_x264_params() -> str:
    """x264 parameters that make its output reproducible on this CPU.

    On CPUs with AVX-512, libx264's AVX-512 code paths (in the PyAV wheel's x264) gave different bytes for the
    same frames from one run to the next, depending on the memory the process had touched before (seen with
    trellis and psy-rd at preset medium, single-threaded). Restricting x264 to the AVX2 instruction set (which
    every AVX-512 CPU has) makes the output repeatable; elsewhere no parameter is needed.
    """
    import torch

    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001 - unknown CPU: let x264 detect
        return ""
    return f"asm={_X264_AVX2_ASM}" if cap.upper().startswith("AVX512") else ""


def output_format(dst: PathLike) -> str:
    """The container format for an output path's extension (``.mp4``, ``.m4v``, ``.mov``, ``.mkv``).

    Raises:
        VideoError: another extension.
    """
    dst = Path(dst)
    ext = dst.suffix.lower()
    if ext not in _FORMATS:
        raise VideoError(f"output {dst}: unsupported extension {ext!r}; use one of {', '.join(_FORMATS)}")
    return _FORMATS[ext]


def _copy_stream(out, s, dst: Path):
    """An output stream for copying the packets of ``s`` (audio: an error if impossible; subtitles: a warning)."""
    try:
        return out.add_stream_from_template(s)
    except (ValueError, av.error.FFmpegError) as e:  # type: ignore[attr-defined]
        if s.type == "audio":
            raise VideoError(f"the {s.codec_context.name} audio stream cannot be copied into a {dst.suffix} file "
                             f"({e}); choose an .mkv output") from e
        warnings.warn(f"the {s.codec_context.name} subtitle stream cannot be copied into a {dst.suffix} file "
                      f"({e}); it is left out (an .mkv output keeps it)", RuntimeWarning, stacklevel=4)
        return None


class Encoder:
    """Encode RGB frames into a new video file with fixed settings (``path`` is written directly; wrap it in
    :func:`~restoration_lib.io.atomic_path`).

    Args:
        path: the file to create; its extension (or ``fmt``) chooses the container.
        width, height: frame size.
        fps: output frame rate (time base ``1/fps``).
        settings: encoder settings.
        copy_from: a :class:`Decoder` whose audio and subtitle streams are copied (its packets arrive through
            :meth:`copy_packet` while it decodes).
        fmt: container format name (default from the extension).
    """

    def __init__(self, path: PathLike, width: int, height: int, fps: Fraction, settings: EncoderSettings, *,
                 copy_from: Optional[Decoder] = None, fmt: Optional[str] = None, label: Optional[PathLike] = None):
        self.path = Path(path)
        label = Path(label) if label is not None else self.path
        if settings.codec not in av.codecs_available:
            raise VideoError(f"video encoder {settings.codec!r} is not available in this PyAV build; "
                             "try codec='mpeg4'")
        try:
            self._container = av.open(str(self.path), mode="w", format=fmt)
        except (av.error.FFmpegError, OSError, ValueError) as e:  # type: ignore[attr-defined]
            raise VideoError(f"cannot create a {label.suffix} file at {label} ({e})") from e
        try:
            self._copies = {}
            if copy_from is not None:
                for s in copy_from.other_streams():
                    o = _copy_stream(self._container, s, label)
                    if o is not None:
                        self._copies[s] = o
                copy_from.copy_to = self
            s = self._container.add_stream(settings.codec, rate=fps)
            s.width, s.height = width, height
            s.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
            s.codec_context.colorspace = Colorspace.ITU601  # BT.601 matrix, limited range, as converted below
            s.codec_context.color_range = ColorRange.MPEG
            s.codec_context.thread_count = settings.threads
            s.codec_context.thread_type = "SLICE"
            if settings.codec == "libx264":
                s.options = {"crf": str(settings.crf), "preset": settings.preset}
                params = settings.resolved().x264_params
                if params:
                    s.options = {**s.options, "x264-params": params}
            else:
                s.codec_context.qscale = max(1, min(31, settings.crf // 6 + 1))
            self._container.metadata.clear()
            self._stream = s
        except BaseException:
            self._container.close()
            raise
        self._n = 0

    @property
    def copied_streams(self) -> int:
        """Number of audio and subtitle streams copied."""
        return len(self._copies)

    def copy_packet(self, packet) -> None:
        """Mux an audio or subtitle packet of the source into its copied stream."""
        out = self._copies.get(packet.stream)
        if out is not None:
            packet.stream = out
            try:
                self._container.mux(packet)
            except av.error.FFmpegError as e:  # type: ignore[attr-defined]
                raise VideoError(f"copying a {out.type} packet into {self.path} failed: {e}") from e

    def write(self, rgb: np.ndarray, pts: Optional[int] = None) -> None:
        """Encode one H,W,3 uint8 RGB frame at ``pts`` (in frames of the output rate; default the next one)."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
            format=self._stream.pix_fmt, interpolation=_ENCODE_FLAGS, dst_colorspace=Colorspace.ITU601,
            dst_color_range=ColorRange.MPEG, threads=1)
        frame.pts = self._n if pts is None else pts
        frame.time_base = Fraction(1, 1) / self._stream.codec_context.framerate
        self._n += 1
        try:
            for pkt in self._stream.encode(frame):
                self._container.mux(pkt)
        except av.error.FFmpegError as e:  # type: ignore[attr-defined]
            raise VideoError(f"encoding frame {self._n - 1} failed: {e}") from e

    @property
    def frames(self) -> int:
        return self._n

    def close(self) -> None:
        """Flush the encoder and close the file."""
        try:
            for pkt in self._stream.encode(None):
                self._container.mux(pkt)
            self._container.close()
        except av.error.FFmpegError as e:  # type: ignore[attr-defined]
            raise VideoError(f"writing {self.path} failed: {e}") from e

    def abort(self) -> None:
        """Close without flushing (the caller removes the file)."""
        with contextlib.suppress(Exception):
            self._container.close()


class ChunkWriter:
    """Encode frames into one MP4 chunk, written atomically (temp file, then renamed on :meth:`close`).

    Args:
        path: final chunk path (``.mp4``).
        width, height: frame size.
        fps: output frame rate.
        settings: encoder settings.
    """

    def __init__(self, path: PathLike, width: int, height: int, fps: Fraction, settings: EncoderSettings):
        self.path = Path(path)
        self._stack = contextlib.ExitStack()
        self._encoder: Optional[Encoder] = None
        try:
            tmp = self._stack.enter_context(atomic_path(self.path))
            self._encoder = Encoder(tmp, width, height, fps, settings, fmt="mp4", label=self.path)
        except BaseException:
            self.abort()
            raise

    def write(self, rgb: np.ndarray) -> None:
        """Encode one H,W,3 uint8 RGB frame."""
        self._encoder.write(rgb)

    @property
    def frames(self) -> int:
        return self._encoder.frames

    def close(self) -> Path:
        """Flush, close and move the chunk into place."""
        self._encoder.close()
        self._stack.close()
        return self.path

    def abort(self) -> None:
        """Drop the partial chunk."""
        if self._encoder is not None:
            self._encoder.abort()
        err = VideoError(f"chunk {self.path} abandoned")
        self._stack.__exit__(type(err), err, None)  # removes the temporary file


# ------------------------------------------------------------------------------------------------ joining


def _packets(c, stream) -> Iterator["av.Packet"]:
    for pkt in c.demux(stream):
        if pkt.dts is None and pkt.pts is None:
            continue  # the demuxer's end-of-stream flush packet
        yield pkt


def concat_chunks(
    chunks: Sequence[PathLike],
    dst: PathLike,
    *,
    fps: Fraction,
    frame_counts: Sequence[int],
    audio_src: Optional[PathLike] = None,
    audio_offset: float = 0.0,
    audio_end: Optional[float] = None,
) -> Path:
    """Join chunk files into ``dst`` without re-encoding, adding the audio and subtitle streams of ``audio_src``.

    Args:
        chunks: chunk MP4 files in order (same encoder settings).
        dst: output path; written to a temp file in the same folder, then renamed.
        fps: the chunks' frame rate.
        frame_counts: frames in each chunk (sets each chunk's start time).
        audio_src: file whose audio and subtitle streams are copied (None: none).
        audio_offset: seconds subtracted from their timestamps (the source's video start time, so they stay in
            sync with video that starts at 0).
        audio_end: copy packets that start before this many seconds (the video's end).

    Raises:
        VideoError: chunks that do not fit together, or a container that cannot hold the audio codec.
    """
    dst = Path(dst)
    if len(chunks) != len(frame_counts) or not chunks:
        raise VideoError("concat_chunks needs one frame count per chunk and at least one chunk")
    fmt = output_format(dst)
    protect = [audio_src, *chunks] if audio_src is not None else list(chunks)
    with atomic_path(dst, protect=protect) as tmp:
        _concat(chunks, tmp, fmt, dst, fps, frame_counts, audio_src, audio_offset, audio_end)
    return dst


def _concat(chunks, tmp: Path, fmt: str, dst: Path, fps: Fraction, frame_counts, audio_src, audio_offset: float,
            audio_end: Optional[float]) -> None:
    inputs = [av.open(str(p)) for p in chunks]
    out = None
    try:
        out = av.open(str(tmp), mode="w", format=fmt)
        first = inputs[0].streams.video[0]
        extradata = first.codec_context.extradata
        for p, c in zip(chunks, inputs):
            if c.streams.video[0].codec_context.extradata != extradata:
                raise VideoError(f"chunk {p} was encoded with other settings than {chunks[0]}; delete the work folder")
        vout = out.add_stream_from_template(first)
        copies = []
        if audio_src is not None:
            with av.open(str(audio_src)) as probe_in:
                for s in probe_in.streams:
                    if s.type in _COPIED:
                        o = _copy_stream(out, s, dst)
                        if o is not None:
                            copies.append((s.index, o))
        out.metadata.clear()
        out.start_encoding()

        def video_packets():
            start = 0
            for c, n in zip(inputs, frame_counts):
                s = c.streams.video[0]
                for pkt in _packets(c, s):
                    t0 = Fraction(start) / fps
                    yield (pkt.dts if pkt.dts is not None else pkt.pts) * s.time_base + t0, pkt, vout, t0, s.time_base
                start += n

        def copied_packets(reader, a, aout):
            off = Fraction(audio_offset).limit_denominator(10**9)
            for pkt in _packets(reader, a):
                t = (pkt.pts if pkt.pts is not None else pkt.dts) * a.time_base - off
                if audio_end is not None and t >= audio_end:
                    break
                yield (pkt.dts if pkt.dts is not None else pkt.pts) * a.time_base - off, pkt, aout, -off, a.time_base

        streams = [video_packets()]
        for index, aout in copies:  # one reader per copied stream, so each is demuxed on its own
            reader = av.open(str(audio_src))
            inputs.append(reader)
            streams.append(copied_packets(reader, reader.streams[index], aout))
        for _, pkt, ostream, shift, tb in heapq.merge(*streams, key=lambda x: x[0]):
            otb = ostream.time_base
            if pkt.pts is not None:
                pkt.pts = round((pkt.pts * tb + shift) / otb)
            if pkt.dts is not None:
                pkt.dts = round((pkt.dts * tb + shift) / otb)
            if pkt.duration:
                pkt.duration = round(pkt.duration * tb / otb)
            pkt.time_base = otb
            pkt.stream = ostream
            out.mux(pkt)
        out.close()
        out = None
    except av.error.FFmpegError as e:  # type: ignore[attr-defined]
        raise VideoError(f"writing {dst} failed: {e}") from e
    finally:
        if out is not None:
            with contextlib.suppress(Exception):
                out.close()
        for c in inputs:
            c.close()


def transcode(src: PathLike, dst: PathLike, fn: Callable[[np.ndarray], np.ndarray], *,
              settings: EncoderSettings = EncoderSettings(), max_frames: Optional[int] = None,
              progress: bool = False, desc: str = "video") -> int:
    """Apply ``fn`` (H,W,3 uint8 RGB → same size RGB) to every frame of ``src`` and write ``dst`` (atomically),
    keeping each frame's time and copying the audio and subtitle streams. Returns the number of frames.

    Raises:
        VideoError: unreadable input, no decodable frame, output that cannot be written.
    """
    from tqdm.auto import tqdm

    src, dst = Path(src), Path(dst)
    with Decoder(src, max_frames=max_frames) as dec:
        total = dec.expected if max_frames is None else min(dec.expected or max_frames, max_frames)
        with tqdm(total=total, desc=desc, unit="frame", disable=not progress) as bar, \
                atomic_path(dst, protect=(src,)) as tmp:
            enc = Encoder(tmp, dec.info.width, dec.info.height, dec.rate, settings, copy_from=dec,
                          fmt=_FORMATS.get(dst.suffix.lower()), label=dst)
            try:
                offset = pts = None
                for f in dec:
                    if offset is None:
                        offset = round((dec.start or 0) * dec.rate)
                    at = offset + round(f.time * dec.rate)  # the frame's own time (variable rates followed)
                    pts = at if pts is None else max(pts + 1, at)
                    enc.write(np.asarray(fn(f.rgb))[..., :3], pts=pts)
                    bar.update(1)
                enc.close()
            except BaseException:
                enc.abort()
                raise
    return dec.frames


# ---- random access: a chunk far into a film decoded from the keyframe before it (the Ray engine uses it)


def presentation_pts(path: Path) -> Optional[list[int]]:
    """The video packets' timestamps in presentation order (frame i shows the i-th), or None when unusable."""
    with av.open(str(path)) as c:
        pts = [p.pts for p in c.demux(c.streams.video[0]) if p.size]
    if not pts or any(p is None for p in pts):
        return None
    pts.sort()
    return None if any(a == b for a, b in zip(pts, pts[1:])) else pts


class SeekingFrames:
    """Frames ``index, index + 1, …`` (up to ``limit``) decoded from the keyframe before ``index``, each checked to
    carry the timestamp the frame of that number has; at the first that does not, the rest come from a decoder
    started at the file's beginning (what the single-machine run does), so the numbering is always its own."""

    def __init__(self, path: Path, pts: list[int], index: int, limit: int):
        self.path, self.pts, self.index, self.limit = path, pts, index, limit
        self._closers: list = []

    def close(self) -> None:
        for c in self._closers:
            c.close()

    def __iter__(self):
        i, pts = self.index, self.pts
        c = av.open(str(self.path))
        self._closers.append(c)
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        c.seek(pts[i], stream=vs, backward=True, any_frame=False)
        for frame in c.decode(vs):
            if i >= self.limit:
                return
            if frame.pts is not None and frame.pts < pts[i] and i == self.index:
                continue  # between the keyframe and the first frame asked for
            if frame.pts is None or i >= len(pts) or frame.pts != pts[i]:
                break
            yield DecodedFrame(i, Fraction(0), frame_to_rgb(frame))
            i += 1
        else:
            return
        dec = Decoder(self.path, max_frames=self.limit, warn=False)
        self._closers.append(dec)
        for f in dec:
            if f.index >= i:
                yield f
