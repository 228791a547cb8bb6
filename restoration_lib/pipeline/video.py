"""Video plumbing for the film pipeline (PyAV): probing, decoding, deterministic chunk encoding, and the final
remux of chunks + the source's audio into one file.

Chunks are H.264 (libx264) MP4 files encoded with fixed settings and a fixed thread count, so encoding the same
frames again gives the same bytes; the final file is the concatenation of the chunks' packets (no re-encode),
with the audio packets of the source copied unchanged and interleaved by time.
"""
from __future__ import annotations

import contextlib
import heapq
import os
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from ..errors import VideoError
from ..io import atomic_path

__all__ = [
    "VideoInfo",
    "probe",
    "read_frames",
    "EncoderSettings",
    "ChunkWriter",
    "concat_chunks",
    "as_fraction",
    "deterministic_x264_params",
    "frame_to_rgb",
]

PathLike = Union[str, os.PathLike]

# swscale's default YUV→RGB path (the one ``to_ndarray(format="rgb24")`` takes) comes out about 1.4 levels
# darker than the source on average (measured on bikes.mp4 through an exact RGB→YUV→RGB round trip); accurate
# rounding with full chroma interpolation brings the round trip to within 0.4 levels and no visible bias.
_ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.BITEXACT
_DECODE_FLAGS = _ACCURATE | Interpolation.FULL_CHR_H_INT
_ENCODE_FLAGS = _ACCURATE | Interpolation.FULL_CHR_H_INP


def frame_to_rgb(frame: "av.VideoFrame") -> np.ndarray:
    """A decoded frame as H,W,3 uint8 RGB, converted with accurate rounding (see ``_DECODE_FLAGS``)."""
    rng = frame.color_range if frame.color_range in (ColorRange.MPEG, ColorRange.JPEG) else None
    return frame.reformat(format="rgb24", interpolation=_DECODE_FLAGS, src_color_range=rng, threads=1).to_ndarray()


def as_fraction(fps: Union[float, int, str, Fraction]) -> Fraction:
    """A frame rate as an exact fraction (29.97 → 30000/1001, 59.94 → 60000/1001, 23.976 → 24000/1001)."""
    f = Fraction(str(fps)) if not isinstance(fps, Fraction) else fps
    if f <= 0:
        raise ValueError(f"frame rate must be positive; got {fps}")
    ntsc = f.limit_denominator(1001)
    if abs(float(ntsc) - float(f)) < 5e-3 and ntsc.denominator == 1001:
        return ntsc
    return f.limit_denominator(1_000_000)


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

    def estimated_frames(self) -> Optional[int]:
        """Declared frame count, else duration × fps, else None."""
        if self.frames:
            return self.frames
        if self.duration:
            return int(round(self.duration * self.fps))
        return None


def _open_input(src: PathLike) -> "av.container.InputContainer":
    p = Path(src)
    if not p.is_file():
        raise VideoError(f"video {p} does not exist or is not a file")
    try:
        return av.open(str(p), mode="r")
    except (av.error.FFmpegError, OSError) as e:  # type: ignore[attr-defined]
        raise VideoError(f"cannot open {p} as a video: {e}") from e


def probe(src: PathLike) -> VideoInfo:
    """Read a video's size, frame rate, length and audio streams.

    Raises:
        VideoError: not a readable container, or no video stream.
    """
    with _open_input(src) as c:
        if not c.streams.video:
            raise VideoError(f"{src} has no video stream")
        s = c.streams.video[0]
        rate = s.average_rate or s.guessed_rate or s.base_rate
        if not rate:
            raise VideoError(f"{src}: cannot tell the frame rate of its video stream")
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
            fps=as_fraction(Fraction(rate)),
            frames=s.frames or None,
            duration=duration,
            start_time=start,
            audio_streams=len(c.streams.audio),
            codec=s.codec_context.name,
        )


def read_frames(src: PathLike, start: int = 0, stop: Optional[int] = None) -> Iterator[np.ndarray]:
    """Decode frames ``start`` ≤ i < ``stop`` of the first video stream as H,W,3 uint8 RGB arrays.

    The YUV→RGB conversion uses accurate rounding (FFmpeg's fast default is about 1.4 levels dark), so these
    frames can differ by a level or two from ``frame.to_ndarray(format="rgb24")``.

    Frames are numbered in decoding (presentation) order from 0; frames before ``start`` are decoded and dropped,
    which is exact whatever the container's timestamps (and fast next to the models that follow).

    Raises:
        VideoError: unreadable file, or a decoding error part-way.
    """
    c = _open_input(src)
    try:
        if not c.streams.video:
            raise VideoError(f"{src} has no video stream")
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        i = 0
        try:
            for frame in c.decode(vs):
                if stop is not None and i >= stop:
                    break
                if i >= start:
                    yield frame_to_rgb(frame)
                i += 1
        except av.error.FFmpegError as e:  # type: ignore[attr-defined]
            raise VideoError(f"{src}: decoding failed after frame {i}: {e}") from e
    finally:
        c.close()


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
        self._container = None
        try:
            tmp = self._stack.enter_context(atomic_path(self.path))
            self._container = av.open(str(tmp), mode="w", format="mp4")
            if settings.codec not in av.codecs_available:
                raise VideoError(f"video encoder {settings.codec!r} is not available in this PyAV build")
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
        except Exception:
            self.abort()
            raise
        self._n = 0

    def write(self, rgb: np.ndarray) -> None:
        """Encode one H,W,3 uint8 RGB frame."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
            format=self._stream.pix_fmt, interpolation=_ENCODE_FLAGS, dst_colorspace=Colorspace.ITU601,
            dst_color_range=ColorRange.MPEG, threads=1)
        frame.pts = self._n
        frame.time_base = Fraction(1, 1) / self._stream.codec_context.framerate
        self._n += 1
        for pkt in self._stream.encode(frame):
            self._container.mux(pkt)

    @property
    def frames(self) -> int:
        return self._n

    def close(self) -> Path:
        """Flush, close and move the chunk into place."""
        for pkt in self._stream.encode(None):
            self._container.mux(pkt)
        self._container.close()
        self._stack.close()
        return self.path

    def abort(self) -> None:
        """Drop the partial chunk."""
        try:
            if self._container is not None:
                self._container.close()
        except Exception:  # noqa: BLE001 - best effort on the error path
            pass
        err = VideoError(f"chunk {self.path} abandoned")
        self._stack.__exit__(type(err), err, None)  # removes the temporary file


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
    """Join chunk files into ``dst`` without re-encoding, adding the audio streams of ``audio_src``.

    Args:
        chunks: chunk MP4 files in order (same encoder settings).
        dst: output path; written to a temp file in the same folder, then renamed.
        fps: the chunks' frame rate.
        frame_counts: frames in each chunk (sets each chunk's start time).
        audio_src: file whose audio streams are copied (None: no audio).
        audio_offset: seconds subtracted from the audio timestamps (the source's video start time, so audio
            stays in sync with video that starts at 0).
        audio_end: copy audio packets that start before this many seconds (the video's end).

    Raises:
        VideoError: chunks that do not fit together, or a container that cannot hold the audio codec.
    """
    dst = Path(dst)
    if len(chunks) != len(frame_counts) or not chunks:
        raise VideoError("concat_chunks needs one frame count per chunk and at least one chunk")
    fmt = _format_for(dst)
    protect = [audio_src, *chunks] if audio_src is not None else list(chunks)
    with atomic_path(dst, protect=protect) as tmp:
        _concat(chunks, tmp, fmt, dst, fps, frame_counts, audio_src, audio_offset, audio_end)
    return dst


def _concat(chunks, tmp: Path, fmt: str, dst: Path, fps: Fraction, frame_counts, audio_src, audio_offset: float,
            audio_end: Optional[float]) -> None:
    inputs = [av.open(str(p)) for p in chunks]
    audio_in = av.open(str(audio_src)) if audio_src is not None else None
    out = None
    try:
        out = av.open(str(tmp), mode="w", format=fmt)
        first = inputs[0].streams.video[0]
        extradata = first.codec_context.extradata
        for p, c in zip(chunks, inputs):
            if c.streams.video[0].codec_context.extradata != extradata:
                raise VideoError(f"chunk {p} was encoded with other settings than {chunks[0]}; delete the work folder")
        vout = out.add_stream_from_template(first)
        aouts = []
        if audio_in is not None:
            for a in audio_in.streams.audio:
                try:
                    aouts.append((a, out.add_stream_from_template(a)))
                except (ValueError, av.error.FFmpegError) as e:  # type: ignore[attr-defined]
                    raise VideoError(
                        f"the {a.codec_context.name} audio of {audio_src} cannot be copied into a "
                        f"{dst.suffix} file ({e}); choose an .mkv output"
                    ) from e
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

        def audio_packets(reader, a, aout):
            off = Fraction(audio_offset).limit_denominator(10**9)
            for pkt in _packets(reader, a):
                t = (pkt.pts if pkt.pts is not None else pkt.dts) * a.time_base - off
                if audio_end is not None and t >= audio_end:
                    break
                yield (pkt.dts if pkt.dts is not None else pkt.pts) * a.time_base - off, pkt, aout, -off, a.time_base

        streams = [video_packets()]
        for a, aout in aouts:  # one reader per audio stream, so each is demuxed on its own
            reader = av.open(str(audio_src))
            inputs.append(reader)
            streams.append(audio_packets(reader, reader.streams[a.index], aout))
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
            try:
                out.close()
            except Exception:  # noqa: BLE001
                pass
        for c in inputs:
            c.close()
        if audio_in is not None:
            audio_in.close()


def _format_for(dst: Path) -> str:
    ext = dst.suffix.lower()
    formats = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
    if ext not in formats:
        raise VideoError(f"output {dst}: unsupported extension {ext!r}; use one of {', '.join(formats)}")
    return formats[ext]
