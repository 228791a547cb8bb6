"""Films: decode → repair → colorize → stabilise → interpolate → encode, streamed, resumable.

The film is processed in chunks of ``chunk_seconds`` of input. Each finished chunk is an H.264 MP4 in a work
folder beside the output (``<dst>.parts/``) plus a small ``.npz`` with what the next chunk needs (the last
processed frame for interpolation across the boundary, the stabiliser's state, frame counters). A run that is
killed continues from the last finished chunk; encoding is deterministic, so the result is byte-identical to an
uninterrupted run. The output appears only when complete: the chunks' packets are remuxed (no re-encode) with the
source's audio packets into a temporary file that is then renamed to ``dst``.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np

from .. import __version__
from ..device import pick_device, resolve_dtype
from ..errors import ImageWriteError, VideoError
from ..io import atomic_path
from .options import (
    FILM_COLORIZE,
    InterpolateOptions,
    RepairOptions,
    build_colorize,
    build_interpolate,
    build_repair,
    describe,
)
from .stabilize import ChromaStabilizer, StabilizerState, is_scene_cut
from .video import ChunkWriter, EncoderSettings, VideoInfo, _format_for, as_fraction, concat_chunks, probe, read_frames

__all__ = ["restore_film", "FilmReport", "work_dir_for"]

PathLike = Union[str, os.PathLike]

_STAGES = ("decode", "repair", "colorize", "stabilize", "interpolate", "encode", "mux")


@dataclass
class FilmReport:
    """What :func:`restore_film` did.

    Attributes:
        output: the written film.
        frames_in: input frames processed.
        frames_out: frames in the output.
        fps_in, fps_out: input and output frame rates.
        chunks: number of chunks; ``resumed_chunks`` of them were found finished from an earlier run.
        scene_cuts: input frame indices that start a new shot (stabilisation reset, no interpolation across).
        audio_streams: audio streams copied.
        seconds: wall time per stage in this run (decode, repair, colorize, stabilize, interpolate, encode, mux).
        frames_this_run: input frames processed in this run (the rest came from finished chunks).
    """

    output: Path
    frames_in: int
    frames_out: int
    fps_in: Fraction
    fps_out: Fraction
    chunks: int
    resumed_chunks: int
    scene_cuts: list[int]
    audio_streams: int
    seconds: dict[str, float] = field(default_factory=dict)
    frames_this_run: int = 0

    def stage_fps(self) -> dict[str, float]:
        """Input frames per second of each stage in this run (inf for a stage that took no time)."""
        n = self.frames_this_run
        return {k: (n / v if v > 0 else math.inf) for k, v in self.seconds.items() if k != "mux"}


def work_dir_for(dst: PathLike) -> Path:
    """The work folder of an output film: ``<dst>.parts`` beside it."""
    dst = Path(dst)
    return dst.with_name(dst.name + ".parts")


# ----------------------------------------------------------------------------------------------- work folder


def _fingerprint(path: Path) -> dict:
    """Size and SHA-256 of the first and last MiB: cheap, and changes when the file is replaced."""
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(size - (1 << 20))
            h.update(f.read())
    return {"size": size, "sha256_head_tail": h.hexdigest()}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _WorkDir:
    """The ``<dst>.parts`` folder: manifest, lock, chunk files and their saved states."""

    MANIFEST = "manifest.json"
    LOCK = "lock"

    def __init__(self, dst: Path, manifest: dict):
        self.path = work_dir_for(dst)
        self.manifest = json.loads(json.dumps(manifest, sort_keys=True))
        self._locked = False

    def video(self, k: int) -> Path:
        return self.path / f"chunk_{k:05d}.mp4"

    def state(self, k: int) -> Path:
        return self.path / f"chunk_{k:05d}.npz"

    def open(self) -> None:
        """Create or reuse the folder; start over (with a warning) when it belongs to other settings."""
        mf = self.path / self.MANIFEST
        if self.path.exists():
            if not mf.is_file():
                raise VideoError(
                    f"{self.path} exists but is not a restore_film work folder (no {self.MANIFEST}); "
                    "move it away or choose another output name"
                )
            self._lock()
            try:
                old = json.loads(mf.read_text())
            except (OSError, ValueError):
                old = None
            if old != self.manifest:
                warnings.warn(
                    f"{self.path} holds chunks made with other settings or from another input; starting over",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self._clear()
                self._write_manifest()
            for p in self.path.glob(".*.tmp*"):
                p.unlink(missing_ok=True)  # temporary files of a run that was killed
        else:
            self.path.mkdir(parents=True)
            self._lock()
            self._write_manifest()

    def _write_manifest(self) -> None:
        with atomic_path(self.path / self.MANIFEST) as tmp:
            tmp.write_text(json.dumps(self.manifest, indent=1, sort_keys=True))

    def _clear(self) -> None:
        for p in list(self.path.glob("chunk_*.mp4")) + list(self.path.glob("chunk_*.npz")):
            p.unlink()

    def _lock(self) -> None:
        lock = self.path / self.LOCK
        me = f"{os.getpid()} {socket.gethostname()}"
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid_s, host = lock.read_text().split(maxsplit=1)
                    pid = int(pid_s)
                except (OSError, ValueError):
                    pid, host = -1, socket.gethostname()
                if host.strip() == socket.gethostname() and (pid < 0 or not _pid_alive(pid)):
                    lock.unlink(missing_ok=True)  # left by a run that was killed
                    continue
                raise VideoError(f"another run (process {pid} on {host.strip()}) is working in {self.path}")
            with os.fdopen(fd, "w") as f:
                f.write(me)
            self._locked = True
            return
        raise VideoError(f"cannot lock {self.path}")

    def release(self) -> None:
        if self._locked:
            (self.path / self.LOCK).unlink(missing_ok=True)
            self._locked = False

    def finished_chunks(self) -> int:
        """Number of leading chunks that are complete (video and state both present)."""
        k = 0
        while self.video(k).is_file() and self.state(k).is_file():
            k += 1
        return k

    def save_state(self, k: int, arrays: dict[str, np.ndarray]) -> None:
        with atomic_path(self.state(k)) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    def load_state(self, k: int) -> dict[str, np.ndarray]:
        with np.load(self.state(k)) as z:
            return {name: z[name] for name in z.files}

    def remove(self) -> None:
        self.release()
        for p in list(self.path.glob("chunk_*")) + [self.path / self.MANIFEST]:
            p.unlink(missing_ok=True)
        for p in self.path.glob(".*.tmp*"):
            p.unlink(missing_ok=True)
        try:
            self.path.rmdir()
        except OSError:
            pass  # something else was put there: leave it


# ------------------------------------------------------------------------------------------------ the run


class _Peekable:
    """An iterator that can tell whether another item follows (decoding it ahead), timing the decoder."""

    def __init__(self, it: Iterator[np.ndarray], timing: dict):
        self._it = it
        self._buf: list[np.ndarray] = []
        self._timing = timing

    def _fill(self) -> None:
        if not self._buf:
            t = time.perf_counter()
            try:
                self._buf.append(next(self._it))
            except StopIteration:
                pass
            self._timing["decode"] += time.perf_counter() - t

    def has_next(self) -> bool:
        self._fill()
        return bool(self._buf)

    def next(self) -> Optional[np.ndarray]:
        self._fill()
        return self._buf.pop() if self._buf else None

    def close(self) -> None:
        close = getattr(self._it, "close", None)
        if close is not None:
            close()


def _floor(x: Fraction) -> int:
    return x.numerator // x.denominator


def _make_stabilizer(stabilize: Any) -> Optional[ChromaStabilizer]:
    if stabilize is None or stabilize is False:
        return None
    if stabilize is True:
        return ChromaStabilizer()
    if isinstance(stabilize, ChromaStabilizer):
        return ChromaStabilizer(
            stabilize.strength,
            cut_threshold=stabilize.cut_threshold,
            flow_max_side=stabilize.flow_max_side,
            photometric_sigma=stabilize.photometric_sigma,
        )
    if isinstance(stabilize, (int, float)):
        return ChromaStabilizer(float(stabilize))
    raise TypeError(
        f"stabilize must be a bool, a strength in [0, 1) or a ChromaStabilizer; got {type(stabilize).__name__}"
    )


def restore_film(
    src: PathLike,
    dst: PathLike,
    *,
    repair: Any = RepairOptions(),
    colorize: Any = FILM_COLORIZE,
    interpolate: Any = InterpolateOptions(),
    stabilize: Any = True,
    chunk_seconds: float = 10.0,
    duration: Optional[float] = None,
    keep_audio: bool = True,
    encoder: Optional[EncoderSettings] = None,
    device=None,
    precision: str = "exact",
    weights_dir: Optional[PathLike] = None,
    overwrite: bool = False,
    keep_parts: bool = False,
    progress: bool = True,
    engine: str = "local",
    address: Optional[str] = None,
) -> FilmReport:
    """Restore a film in one streaming pass: repair → colorize → stabilise colours → interpolate → encode.

    Memory stays flat whatever the length (frames stream through; one chunk's encoder is open at a time). A run
    that is interrupted (killed, power loss, Ctrl-C) and started again with the same arguments continues from
    the last finished chunk and writes the same file, byte for byte, as an uninterrupted run.

    Args:
        src: input video (anything FFmpeg reads).
        dst: output ``.mp4``, ``.mov`` or ``.mkv`` (H.264; the source's audio is copied unchanged, in sync).
        repair: repair stage: ``RepairOptions``/dict/True/False or a ``Restorer``; see
            :mod:`restoration_lib.pipeline.options`.
        colorize: colorize stage (default DeOldify ``video`` at render factor 21), or False.
        interpolate: interpolation stage (default RIFE 4.0 ×2), or False. Frames across a scene cut are not
            morphed (the nearer original frame is repeated).
        stabilize: temporal chroma stabilisation of the colorized frames (True, False, a strength in [0, 1) or a
            :class:`~restoration_lib.pipeline.stabilize.ChromaStabilizer` whose settings are used).
        chunk_seconds: input seconds per chunk (the unit of resumption).
        duration: process only the first ``duration`` seconds.
        keep_audio: copy the source's audio streams.
        encoder: H.264 settings (quality ``crf``, ``preset``); see
            :class:`~restoration_lib.pipeline.video.EncoderSettings`.
        device: ``None`` picks CUDA → MPS → CPU.
        precision: ``"exact"`` (fp32) or ``"fast"``.
        weights_dir: folder of the checkpoints.
        overwrite: replace an existing ``dst`` (otherwise refused).
        keep_parts: keep the work folder after success.
        progress: show a progress bar with ETA.
        engine: ``"local"`` (this process) or ``"ray"`` (chunks restored in parallel on a Ray cluster, the same
            bytes; see :func:`restoration_lib.distributed.restore_film_ray` for workers and resources).
        address: with ``engine="ray"``: ``None`` starts a local Ray runtime, ``"host:port"`` joins a cluster.

    Returns:
        A :class:`FilmReport`.

    Raises:
        VideoError: unreadable input, no frames, unsupported output extension.
        ImageWriteError: ``dst`` exists (and not ``overwrite``) or is the input.
        MissingWeightsError: a stage's checkpoint is missing (raised before any work).
    """
    if engine != "local":
        from ..distributed import restore_film_ray, unknown_engine

        if engine != "ray":
            raise unknown_engine(engine)
        return restore_film_ray(src, dst, repair=repair, colorize=colorize, interpolate=interpolate,
                                stabilize=stabilize, chunk_seconds=chunk_seconds, duration=duration,
                                keep_audio=keep_audio, encoder=encoder, device=device, precision=precision,
                                weights_dir=weights_dir, overwrite=overwrite, keep_parts=keep_parts,
                                progress=progress, address=address)
    src, dst = Path(src), Path(dst)
    _format_for(dst)
    if src.exists() and dst.exists() and os.path.samefile(src, dst) or src.resolve() == dst.resolve():
        raise ImageWriteError(f"{dst}: refusing to overwrite the input film; choose another output path")
    if dst.exists() and not overwrite:
        raise ImageWriteError(f"{dst} already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    if not chunk_seconds > 0:
        raise ValueError(f"chunk_seconds must be positive; got {chunk_seconds}")
    if duration is not None and not duration > 0:
        raise ValueError(f"duration must be positive; got {duration}")
    info = probe(src)
    dev = pick_device(device)
    resolve_dtype(precision, dev)
    kw = dict(device=dev, precision=precision, weights_dir=weights_dir)
    rep = build_repair(repair, **kw)
    col = build_colorize(colorize, default=FILM_COLORIZE, **kw)
    itp = build_interpolate(interpolate, **kw)
    stab = _make_stabilizer(stabilize)

    fps_in = info.fps
    if itp is not None and itp.options.fps is not None:
        fps_out = as_fraction(itp.options.fps)
    else:
        fps_out = fps_in * (itp.options.factor if itp is not None else 1)
    ratio = fps_out / fps_in
    limit = None if duration is None else max(1, round(duration * fps_in))
    chunk_frames = max(1, round(chunk_seconds * fps_in))
    settings = (encoder or EncoderSettings()).resolved()

    manifest = {
        "format": 1,
        "library": __version__,
        "input": {"name": src.name, **_fingerprint(src)},
        "stages": {"repair": describe(rep), "colorize": describe(col), "interpolate": describe(itp),
                   "stabilize": None if stab is None else {
                       "strength": stab.strength, "cut_threshold": stab.cut_threshold,
                       "flow_max_side": stab.flow_max_side, "photometric_sigma": stab.photometric_sigma}},
        "device": dev.type,
        "precision": precision,
        "chunk_frames": chunk_frames,
        "limit": limit,
        "fps_out": str(fps_out),
        "encoder": settings.as_dict(),
    }
    work = _WorkDir(dst, manifest)
    work.open()
    timing: dict[str, float] = defaultdict(float)
    try:
        return _run(src, dst, info, work, rep, col, itp, stab, ratio, fps_in, fps_out, limit, chunk_frames,
                    settings, keep_audio, keep_parts, progress, timing)
    finally:
        work.release()


def _run(src: Path, dst: Path, info: VideoInfo, work: _WorkDir, rep, col, itp, stab, ratio: Fraction,
         fps_in: Fraction, fps_out: Fraction, limit: Optional[int], chunk_frames: int, settings: EncoderSettings,
         keep_audio: bool, keep_parts: bool, progress: bool, timing: dict) -> FilmReport:
    from tqdm.auto import tqdm

    done = work.finished_chunks()
    k = done
    next_in = next_out = 0
    prev: Optional[np.ndarray] = None
    final = False
    size: Optional[tuple[int, int]] = None
    if done:
        st = work.load_state(done - 1)
        next_in, next_out = int(st["frames_in"]), int(st["frames_out"])
        prev = st["last_frame"]
        size = (prev.shape[1], prev.shape[0])
        final = bool(st["final"])
        if stab is not None:
            stab.state = StabilizerState.from_arrays(st)
    total = info.estimated_frames()
    if limit is not None:
        total = min(total, limit) if total else limit
    frames_before = next_in
    reader = _Peekable(read_frames(src, start=next_in, stop=limit), timing)
    bar = tqdm(total=total, initial=next_in, unit="frame", desc=f"film {src.name}", disable=not progress,
               dynamic_ncols=True)
    try:
        if not final and not reader.has_next():
            after = f" after frame {next_in}" if next_in else ""
            raise VideoError(f"{src}: no video frames could be decoded{after}")
        while not final:
            writer: Optional[ChunkWriter] = None
            cuts: list[int] = []
            first_out = next_out
            try:
                for _ in range(chunk_frames):
                    frame = reader.next()
                    if frame is None:
                        break
                    x = frame
                    if rep is not None:
                        t = time.perf_counter()
                        x = rep(x)[0]
                        timing["repair"] += time.perf_counter() - t
                    if col is not None:
                        t = time.perf_counter()
                        x = col(x)
                        timing["colorize"] += time.perf_counter() - t
                    cut = False
                    if stab is not None:
                        t = time.perf_counter()
                        x = stab(x)
                        cut = stab.last_cut and next_in > 0
                        timing["stabilize"] += time.perf_counter() - t
                    elif itp is not None and prev is not None:
                        t = time.perf_counter()
                        cut = is_scene_cut(prev, x)
                        timing["interpolate"] += time.perf_counter() - t
                    if cut:
                        cuts.append(next_in)
                    if size is None:
                        size = (x.shape[1], x.shape[0])
                    if (x.shape[1], x.shape[0]) != size:
                        raise VideoError(f"frame {next_in}: the stages produced {x.shape[1]}×{x.shape[0]} after "
                                         f"{size[0]}×{size[1]}; every frame must come out the same size")
                    if writer is None:
                        writer = ChunkWriter(work.video(k), size[0], size[1], fps_out, settings)
                    i = next_in
                    j_hi = 0 if i == 0 else _floor(i * ratio)
                    j_lo = 0 if i == 0 else _floor((i - 1) * ratio) + 1
                    if j_lo != next_out:
                        raise AssertionError(f"output frame numbering broke at input {i}: {j_lo} != {next_out}")
                    outs: list[Optional[np.ndarray]] = []
                    between: list[tuple[int, float]] = []
                    for j in range(j_lo, j_hi + 1):
                        pos = Fraction(j) / ratio - (i - 1)
                        if i == 0 or pos == 1:
                            outs.append(x)
                        elif cut:
                            outs.append(prev if pos < Fraction(1, 2) else x)
                        else:
                            between.append((len(outs), float(pos)))
                            outs.append(None)
                    if between:
                        t = time.perf_counter()
                        made = itp.many(prev, x, [ts for _, ts in between])
                        for (slot, _), frame_t in zip(between, made):
                            outs[slot] = frame_t
                        timing["interpolate"] += time.perf_counter() - t
                    t = time.perf_counter()
                    for out in outs:
                        writer.write(out)
                    timing["encode"] += time.perf_counter() - t
                    next_out = j_hi + 1
                    prev = x
                    next_in += 1
                    bar.update(1)
                final = not reader.has_next()
                if final:
                    # hold the last frame so the video lasts as long as the input (and its audio)
                    end = -(-(next_in * ratio.numerator) // ratio.denominator)
                    t = time.perf_counter()
                    for _ in range(next_out, end):
                        writer.write(prev)
                    timing["encode"] += time.perf_counter() - t
                    next_out = max(next_out, end)
                arrays = {
                    "frames_in": np.int64(next_in),
                    "frames_out": np.int64(next_out),
                    "chunk_out": np.int64(next_out - first_out),
                    "final": np.bool_(final),
                    "last_frame": prev,
                    "cuts": np.asarray(cuts, np.int64),
                }
                if stab is not None and stab.state is not None:
                    arrays.update(stab.state.to_arrays())
                work.save_state(k, arrays)
                t = time.perf_counter()
                writer.close()
                timing["encode"] += time.perf_counter() - t
                writer = None
            finally:
                if writer is not None:
                    writer.abort()
            k += 1
    finally:
        bar.close()
        reader.close()

    counts, cuts_all = [], []
    for c in range(k):
        st = work.load_state(c)
        counts.append(int(st["chunk_out"]))
        cuts_all += [int(v) for v in st["cuts"]]
    audio = info.audio_streams if keep_audio else 0
    t = time.perf_counter()
    concat_chunks(
        [work.video(c) for c in range(k)],
        dst,
        fps=fps_out,
        frame_counts=counts,
        audio_src=src if audio else None,
        audio_offset=info.start_time,
        audio_end=float(Fraction(next_in) / fps_in),
    )
    timing["mux"] += time.perf_counter() - t
    if not keep_parts:
        work.remove()
    return FilmReport(
        output=dst,
        frames_in=next_in,
        frames_out=next_out,
        fps_in=fps_in,
        fps_out=fps_out,
        chunks=k,
        resumed_chunks=done,
        scene_cuts=cuts_all,
        audio_streams=audio,
        seconds={s: timing.get(s, 0.0) for s in _STAGES},
        frames_this_run=next_in - frames_before,
    )
