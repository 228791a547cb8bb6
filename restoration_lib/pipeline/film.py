"""Films: decode → repair → colorize → stabilise → interpolate → encode, streamed, resumable.

The film goes through the video engine (:mod:`restoration_lib.video`) in two passes:

1. **Analyse** (cheap: 160-px thumbnails): the engine's timeline finds the scene cuts and, when the frame rate
   changes, the held (repeated) frames, which it groups into pictures re-timed to their capture times, exactly
   as ``interpolate_video`` does. The output frames are the grid ``k / fps_out`` over those pictures.
2. **Restore** the film chunk by chunk (``chunk_seconds`` of input each): every distinct picture is repaired and
   colorized once, its colours stabilised, the output frames copied or interpolated between pictures of the same
   shot, and encoded into an H.264 chunk in a work folder beside the output (``<dst>.parts/``).

A chunk depends only on the film, the settings and its frame range: :func:`restore_segment` makes it from
``context`` pictures before it (to start the colour stabiliser), so chunks can be made in any order, by other
processes or machines, and a run that is killed continues from the finished chunks. Encoding is deterministic, so
the result is byte-identical to an uninterrupted run. The output appears only when complete: the chunks' packets
are remuxed (no re-encode) with the source's audio and subtitle packets into a temporary file renamed to ``dst``.
"""
from __future__ import annotations

import dataclasses

import hashlib
import json
import math
import os
import socket
import time
import warnings
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np

from .. import __version__
from ..device import pick_device, resolve_dtype
from ..errors import ImageWriteError, VideoError
from ..io import atomic_path
from ..video.io import ChunkWriter, Decoder, EncoderSettings, as_fraction, concat_chunks, output_format, probe
from ..video.timeline import DEFAULT_REPEAT_THRESHOLD, DEFAULT_SCENE_THRESHOLD, Slot, Timeline, analyse
from .options import (
    FILM_COLORIZE,
    InterpolateOptions,
    RepairOptions,
    build_colorize,
    build_interpolate,
    build_repair,
    describe,
)
from .stabilize import ChromaStabilizer

__all__ = ["restore_film", "restore_segment", "plan_film", "join_segments", "FilmPlan", "FilmReport", "Segment",
           "work_dir_for"]

PathLike = Union[str, os.PathLike]

_STAGES = ("analyse", "decode", "repair", "colorize", "stabilize", "interpolate", "encode", "mux")
# Where a held picture goes on the film's timeline (see video.timeline.retime). "fit" (interpolate_video's even
# cadence) moves a picture shown twice to the middle of its run; "first" keeps each picture at its first
# occurrence (the first picture of the film at its last), so output frames on the input's time grid show the
# input frames, which tests/test_pipeline_film.py and tests/test_pipeline_models.py require. Both leave no still
# frame between pictures; "fit" also evens out the speed.
RETIME_ANCHOR = "first"
DEFAULT_CONTEXT = 10  # pictures before a chunk that start its colour stabiliser (0.85**10 ≈ 0.2 of the history)


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
        seconds: wall time per stage in this run (analyse, decode, repair, colorize, stabilize, interpolate,
            encode, mux).
        frames_this_run: input frames processed in this run (the rest came from finished chunks).
        held_frames: input frames that repeat the previous picture (re-timed when interpolating).
        frames_expected: frames the input declares (None when it does not say).
        truncated: fewer frames than declared could be read (the input looks cut short).
        warnings: what went wrong without stopping the run (e.g. a truncated input).
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
    held_frames: list[int] = field(default_factory=list)
    frames_expected: Optional[int] = None
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)

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


# ------------------------------------------------------------------------------------------------ the plan


@dataclass
class FilmPlan:
    """Everything needed to restore any chunk of a film, on its own (picklable, for remote workers).

    Attributes:
        src: the input film.
        timeline: its analysed :class:`~restoration_lib.video.timeline.Timeline` (cuts, pictures, their times).
        repair, colorize, interpolate: the built stages (None: skipped); see :mod:`.options`.
        stabilize: a :class:`ChromaStabilizer` whose settings each chunk copies (None: no stabilisation).
        fps_out: output frame rate.
        chunk_frames: input frames per chunk (the last chunk may be shorter).
        encoder: resolved H.264 settings (the same everywhere, so chunks join without re-encoding).
        context: pictures before a chunk run through the stabiliser to start it (not written).
        at_cut: which picture an output frame between two shots copies (see
            :func:`~restoration_lib.video.timeline.grid`); films take the nearer one.
        limit: input frames used (None: all).
        device, precision: where and how the stages run (for the record).
    """

    src: Path
    timeline: Timeline
    repair: Any
    colorize: Any
    interpolate: Any
    stabilize: Optional[ChromaStabilizer]
    fps_out: Fraction
    chunk_frames: int
    encoder: EncoderSettings
    context: int = DEFAULT_CONTEXT
    at_cut: str = "nearest"
    limit: Optional[int] = None
    device: str = "cpu"
    precision: str = "exact"

    @property
    def fps_in(self) -> Fraction:
        return self.timeline.rate

    def chunks(self) -> list[tuple[int, int]]:
        """The input frame ranges ``[start, stop)`` of the chunks, in order."""
        n, f = self.timeline.frames, self.chunk_frames
        return [(s, min(s + f, n)) for s in range(0, n, f)]

    def output_range(self, start: int, stop: int) -> tuple[int, int]:
        """The output frames ``[k0, k1)`` made from input frames ``[start, stop)``: those whose time falls from
        frame ``start``'s time to frame ``stop``'s (the last chunk also holds the film's end)."""
        return self.timeline.first_slot(start, self.fps_out), self.timeline.first_slot(stop, self.fps_out)


def check_film_paths(src: PathLike, dst: PathLike, overwrite: bool) -> tuple[Path, Path]:
    """The output checks every film engine makes before any work: known suffix, not the input, not existing."""
    src, dst = Path(src), Path(dst)
    output_format(dst)
    if src.exists() and dst.exists() and os.path.samefile(src, dst) or src.resolve() == dst.resolve():
        raise ImageWriteError(f"{dst}: refusing to overwrite the input film; choose another output path")
    if dst.exists() and not overwrite:
        raise ImageWriteError(f"{dst} already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    return src, dst


def check_film_args(chunk_seconds: float, duration: Optional[float]) -> None:
    """Refuse a non-positive chunk length or duration."""
    if not chunk_seconds > 0:
        raise ValueError(f"chunk_seconds must be positive; got {chunk_seconds}")
    if duration is not None and not duration > 0:
        raise ValueError(f"duration must be positive; got {duration}")


def stabilizer_params(stab: Optional[ChromaStabilizer]) -> Optional[dict]:
    """The stabiliser's settings as recorded in the manifest (and sent to remote workers)."""
    return None if stab is None else {
        "strength": stab.strength, "cut_threshold": stab.cut_threshold, "preset": stab.preset,
        "flow_max_side": stab.flow_max_side, "photometric_sigma": stab.photometric_sigma}


def plan_film(
    src: PathLike,
    *,
    repair: Any = RepairOptions(),
    colorize: Any = FILM_COLORIZE,
    interpolate: Any = InterpolateOptions(),
    stabilize: Any = True,
    chunk_seconds: float = 10.0,
    duration: Optional[float] = None,
    encoder: Optional[EncoderSettings] = None,
    device=None,
    precision: str = "exact",
    weights_dir: Optional[PathLike] = None,
    context: int = DEFAULT_CONTEXT,
    progress: bool = False,
    seconds: Optional[dict] = None,
) -> FilmPlan:
    """Build the stages and analyse ``src`` (the cheap first pass): the :class:`FilmPlan` of its restoration.

    Arguments as for :func:`restore_film`. Held frames are grouped and re-timed only when the frame rate changes
    (an interpolation stage); otherwise every input frame is its own picture.

    Raises:
        VideoError: no such file, unreadable, or no decodable frame (nothing is written).
        MissingWeightsError: a stage's checkpoint is missing.
    """

    src = Path(src)
    check_film_args(chunk_seconds, duration)
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
    limit = None if duration is None else max(1, round(duration * fps_in))
    plan = analyse_film(src, interpolating=itp is not None, fps_out=fps_out, chunk_seconds=chunk_seconds, limit=limit,
                        encoder=encoder, context=context, progress=progress, seconds=seconds)
    return dataclasses.replace(plan, repair=rep, colorize=col, interpolate=itp, stabilize=stab, device=dev.type,
                               precision=precision)


def analyse_film(
    src: PathLike,
    *,
    interpolating: bool,
    fps_out: Optional[Fraction] = None,
    chunk_seconds: float = 10.0,
    limit: Optional[int] = None,
    encoder: Optional[EncoderSettings] = None,
    context: int = DEFAULT_CONTEXT,
    progress: bool = False,
    seconds: Optional[dict] = None,
) -> FilmPlan:
    """The analysis pass alone: a :class:`FilmPlan` whose stages are not built (a driver that leaves the models to
    its workers, such as the Ray engine, plans with this). Held frames are grouped only when ``interpolating``.

    Raises:
        VideoError: no such file, unreadable, or no decodable frame (nothing is written).
    """
    from tqdm.auto import tqdm

    src = Path(src)
    t0 = time.perf_counter()
    with Decoder(src, max_frames=limit) as dec, \
            tqdm(total=limit or dec.expected, unit="frame", desc=f"analyse {src.name}", disable=not progress,
                 dynamic_ncols=True) as bar:
        timeline = analyse(_counted(dec, bar), rate=dec.rate, scene_threshold=DEFAULT_SCENE_THRESHOLD,
                           repeat_threshold=DEFAULT_REPEAT_THRESHOLD if interpolating else None,
                           anchor=RETIME_ANCHOR)
        fps_in = dec.rate
    timeline.start, timeline.expected, timeline.truncated = dec.start, dec.expected, dec.truncated
    if seconds is not None:
        seconds["analyse"] += time.perf_counter() - t0
    return FilmPlan(src=src, timeline=timeline, repair=None, colorize=None, interpolate=None, stabilize=None,
                    fps_out=fps_out or fps_in, chunk_frames=max(1, round(chunk_seconds * fps_in)),
                    encoder=(encoder or EncoderSettings()).resolved(), context=context, limit=limit)


def _counted(frames, bar):
    for f in frames:
        bar.update(1)
        yield f.rgb, f.time


# ------------------------------------------------------------------------------------------------ segments


class _Timer:
    """Adds the wall time of ``with timer("stage"):`` blocks to ``seconds[stage]``."""

    def __init__(self, seconds: dict):
        self.seconds = seconds
        self._stage = ""

    def __call__(self, stage: str) -> "_Timer":
        self._stage = stage
        return self

    def __enter__(self) -> None:
        self._t = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self.seconds[self._stage] += time.perf_counter() - self._t


class PictureSource:
    """The film's pictures decoded, repaired and colorized (the per-picture stages, which keep no state), in
    order, keeping the last few so the next chunk's context is not made twice.

    Args:
        plan: the film plan.
        seconds: per-stage wall time, added to.
        keep: pictures kept (at least the plan's context and the pair a chunk boundary cuts).
    """

    def __init__(self, plan: FilmPlan, seconds: Optional[dict] = None, keep: Optional[int] = None):
        self.plan = plan
        self.timer = _Timer(seconds if seconds is not None else defaultdict(float))
        self.keep = keep if keep is not None else plan.context + 4
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._decoder: Optional[Decoder] = None
        self._frames: Optional[Iterator] = None
        self._last = -1  # source index of the last decoded frame
        self.size: Optional[tuple[int, int]] = None

    def __call__(self, index: int) -> np.ndarray:
        """The processed picture whose first occurrence is source frame ``index`` (H,W,3 uint8 RGB)."""
        if index in self._cache:
            return self._cache[index]
        rgb = self._decode(index)
        x = rgb
        if self.plan.repair is not None:
            with self.timer("repair"):
                x = self.plan.repair(x)[0]
        if self.plan.colorize is not None:
            with self.timer("colorize"):
                x = self.plan.colorize(x)
        x = np.ascontiguousarray(np.asarray(x)[..., :3], dtype=np.uint8)
        if self.size is None:
            self.size = (x.shape[1], x.shape[0])
        elif (x.shape[1], x.shape[0]) != self.size:
            raise VideoError(f"frame {index}: the stages produced {x.shape[1]}×{x.shape[0]} after "
                             f"{self.size[0]}×{self.size[1]}; every frame must come out the same size")
        self._cache[index] = x
        while len(self._cache) > self.keep:
            self._cache.popitem(last=False)
        return x

    def _decode(self, index: int) -> np.ndarray:
        with self.timer("decode"):
            if self._frames is None or index <= self._last:
                self.close()
                self._decoder = Decoder(self.plan.src, max_frames=self.plan.timeline.frames, warn=False)
                self._frames = iter(self._decoder)
                self._last = -1
            for f in self._frames:
                self._last = f.index
                if f.index == index:
                    return f.rgb
        raise VideoError(f"{self.plan.src}: frame {index} could not be decoded again (the file changed?)")

    def close(self) -> None:
        if self._decoder is not None:
            self._decoder.close()
        self._decoder = self._frames = None


@dataclass
class Segment:
    """A restored chunk: its file, input frames ``[start, stop)``, output frames ``[k0, k1)`` and cuts."""

    path: Path
    start: int
    stop: int
    k0: int
    k1: int
    cuts: list[int]

    @property
    def frames_out(self) -> int:
        return self.k1 - self.k0


def restore_segment(plan: FilmPlan, start: int, stop: int, dst: PathLike, *, source: Optional[PictureSource] = None,
                    seconds: Optional[dict] = None, progress=None,
                    before_close: Optional[Callable[[Segment], None]] = None) -> Segment:
    """Restore input frames ``[start, stop)`` of a film into the H.264 chunk ``dst`` (written atomically).

    This is the unit of work of every engine: it needs only the plan (a remote worker can call it on its own
    copy) and gives the same bytes wherever and in whatever order it runs, so chunks made apart and joined with
    :func:`join_segments` equal one run of :func:`restore_film` with the same ``chunk_frames``. The pictures
    the chunk shows are made in order, starting ``plan.context`` pictures earlier (or at the shot's first
    picture) to start the colour stabiliser; those context pictures are not written.

    Args:
        plan: from :func:`plan_film` (or the one :func:`restore_film` makes).
        start, stop: input frame range, on the plan's chunk boundaries (see :meth:`FilmPlan.chunks`).
        dst: the chunk file (``.mp4``).
        source: the pictures (a :class:`PictureSource`); a new one when None. Passing the previous chunk's
            source saves re-making its last pictures.
        seconds: per-stage wall time, added to.
        progress: an object with ``update(n)`` told of each output frame.
        before_close: called with the :class:`Segment` once every frame is encoded, before the chunk file is
            moved into place (the local engine records the chunk's state there, so a chunk file never exists
            without it).

    Returns:
        A :class:`Segment`.
    """
    seconds = seconds if seconds is not None else defaultdict(float)
    timer = _Timer(seconds)
    own = source is None
    source = source if source is not None else PictureSource(plan, seconds)
    tl = plan.timeline
    k0, k1 = plan.output_range(start, stop)
    slots = tl.slots(plan.fps_out, k0, k1, plan.at_cut)
    shown = _Shown(plan, source, slots, timer)
    writer: Optional[ChunkWriter] = None
    try:
        for a, b, group in _pairs(slots):
            if b is None or plan.interpolate is None:
                frames = [shown(a)] * len(group)
            else:
                ia, ib = shown(a), shown(b)
                with timer("interpolate"):
                    frames = plan.interpolate.many(ia, ib, [s.t for s in group])
            shown.forget_before(a)
            if writer is None:
                h, w = frames[0].shape[:2]
                writer = ChunkWriter(dst, w, h, plan.fps_out, plan.encoder)
            with timer("encode"):
                for f in frames:
                    writer.write(f)
            if progress is not None:
                progress.update(len(frames))
        if writer is None:  # no output frame falls in this range (a lower output rate): an empty chunk
            w, h = source.size or _size_of(plan)
            writer = ChunkWriter(dst, w, h, plan.fps_out, plan.encoder)
        segment = Segment(Path(dst), start, stop, k0, k1, [c for c in tl.cuts if start <= c < stop])
        if before_close is not None:
            before_close(segment)
        with timer("encode"):
            writer.close()
        writer = None
    finally:
        if writer is not None:
            writer.abort()
        if own:
            source.close()
    return segment


def _size_of(plan: FilmPlan) -> tuple[int, int]:
    """Output frame size when no picture was made (the stages keep the size, as checked)."""
    info = probe(plan.src)
    return info.width, info.height


def _pairs(slots: list[Slot]) -> Iterator[tuple[Any, Any, list[Slot]]]:
    """Consecutive slots grouped by the pair of pictures they come from (one interpolator call per pair)."""
    group: list[Slot] = []
    for s in slots:
        if group and (s.a is not group[0].a or s.b is not group[0].b or s.b is None):
            yield group[0].a, group[0].b, group
            group = []
        group.append(s)
    if group:
        yield group[0].a, group[0].b, group


class _Shown:
    """The stabilised pictures of one segment, made in order on demand, starting with the context pictures."""

    def __init__(self, plan: FilmPlan, source: PictureSource, slots: list[Slot], timer: _Timer):
        self.plan, self.source, self.timer = plan, source, timer
        pics = plan.timeline.pictures
        first = plan.timeline.position(slots[0].a) if slots else 0
        self.next = first
        self.stab = None
        if plan.stabilize is not None:
            self.stab = _fresh_stabilizer(plan.stabilize)
            while self.next > 0 and first - self.next < plan.context and not pics[self.next].cut_before:
                self.next -= 1
        self.images: dict[int, np.ndarray] = {}

    def __call__(self, pic) -> np.ndarray:
        pos = self.plan.timeline.position(pic)
        pics = self.plan.timeline.pictures
        while self.next <= pos:
            p = pics[self.next]
            x = self.source(p.index)
            if self.stab is not None:
                with self.timer("stabilize"):
                    if p.cut_before:
                        self.stab.reset()
                    x = self.stab(x)
            self.images[self.next] = x
            self.next += 1
        return self.images[pos]

    def forget_before(self, pic) -> None:
        pos = self.plan.timeline.position(pic)
        for k in [k for k in self.images if k < pos]:
            del self.images[k]


def _fresh_stabilizer(stab: ChromaStabilizer) -> ChromaStabilizer:
    return ChromaStabilizer(stab.strength, cut_threshold=stab.cut_threshold, preset=stab.preset,
                            flow_max_side=stab.flow_max_side, photometric_sigma=stab.photometric_sigma)


def join_segments(plan: FilmPlan, segments: list[Segment], dst: PathLike, *, keep_audio: bool = True) -> Path:
    """Join restored chunks (in film order, covering it) into ``dst`` without re-encoding, with the source's
    audio and subtitle streams cut at the film's end."""
    segments = sorted(segments, key=lambda s: s.start)
    covered = [(s.start, s.stop) for s in segments]
    if covered != plan.chunks():
        raise VideoError(f"the segments {covered} do not cover the film's chunks {plan.chunks()}")
    info = probe(plan.src)
    keep = keep_audio and (info.audio_streams or info.subtitle_streams)
    return concat_chunks([s.path for s in segments], dst, fps=plan.fps_out,
                         frame_counts=[s.frames_out for s in segments], audio_src=plan.src if keep else None,
                         audio_offset=info.start_time, audio_end=float(plan.timeline.end))


def _make_stabilizer(stabilize: Any) -> Optional[ChromaStabilizer]:
    if stabilize is None or stabilize is False:
        return None
    if stabilize is True:
        return ChromaStabilizer()
    if isinstance(stabilize, ChromaStabilizer):
        return _fresh_stabilizer(stabilize)
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
    """Restore a film: repair → colorize → stabilise colours → interpolate → encode.

    Memory stays flat whatever the length (frames stream through; one chunk's encoder is open at a time). A run
    that is interrupted (killed, power loss, Ctrl-C) and started again with the same arguments continues from
    the last finished chunk and writes the same file, byte for byte, as an uninterrupted run.

    Held frames (a 16–18 fps film padded to 24/25 fps) and scene cuts are found by the video engine's timeline,
    the same rules as :func:`~restoration_lib.interpolate.interpolate_video`: when interpolating, a held picture
    is shown once at its re-timed capture time, so the output moves evenly instead of stopping every few frames.

    Args:
        src: input video (anything FFmpeg reads; variable frame rates follow the timestamps).
        dst: output ``.mp4``, ``.mov`` or ``.mkv`` (H.264; the source's audio and subtitles are copied, in sync).
        repair: repair stage: ``RepairOptions``/dict/True/False or a ``Restorer``; see
            :mod:`restoration_lib.pipeline.options`.
        colorize: colorize stage (default DeOldify ``video`` at render factor 21), or False.
        interpolate: interpolation stage (default RIFE 4.0 ×2), or False. Frames across a scene cut are not
            morphed (the nearer picture is repeated).
        stabilize: temporal chroma stabilisation of the colorized frames (True, False, a strength in [0, 1) or a
            :class:`~restoration_lib.pipeline.stabilize.ChromaStabilizer` whose settings are used).
        chunk_seconds: input seconds per chunk (the unit of resumption and of distribution).
        duration: process only the first ``duration`` seconds.
        keep_audio: copy the source's audio (and subtitle) streams.
        encoder: H.264 settings (quality ``crf``, ``preset``); see
            :class:`~restoration_lib.video.io.EncoderSettings`.
        device: ``None`` picks CUDA → MPS → CPU.
        precision: ``"exact"`` (fp32) or ``"fast"``.
        weights_dir: folder of the checkpoints.
        overwrite: replace an existing ``dst`` (otherwise refused).
        keep_parts: keep the work folder after success.
        progress: show progress bars with ETA.
        engine: ``"local"`` (this process, chunk after chunk) or ``"ray"`` (chunks made in parallel by
            :func:`restore_segment` on a Ray cluster, the same bytes; see
            :func:`restoration_lib.distributed.restore_film_ray` for workers and resources).
        address: with ``engine="ray"``: ``None`` starts a local Ray runtime, ``"host:port"`` joins a cluster.

    Returns:
        A :class:`FilmReport`.

    Raises:
        VideoError: unreadable input, no frames, unsupported output extension (nothing is left behind).
        ImageWriteError: ``dst`` exists (and not ``overwrite``) or is the input.
        MissingWeightsError: a stage's checkpoint is missing (raised before any work).
    """
    src, dst = check_film_paths(src, dst, overwrite)
    if engine != "local":
        from ..distributed import restore_film_ray, unknown_engine

        if engine != "ray":
            raise unknown_engine(engine)
        return restore_film_ray(src, dst, repair=repair, colorize=colorize, interpolate=interpolate,
                                stabilize=stabilize, chunk_seconds=chunk_seconds, duration=duration,
                                keep_audio=keep_audio, encoder=encoder, device=device, precision=precision,
                                weights_dir=weights_dir, overwrite=overwrite, keep_parts=keep_parts,
                                progress=progress, address=address)
    seconds: dict[str, float] = defaultdict(float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        plan = plan_film(src, repair=repair, colorize=colorize, interpolate=interpolate, stabilize=stabilize,
                         chunk_seconds=chunk_seconds, duration=duration, encoder=encoder, device=device,
                         precision=precision, weights_dir=weights_dir, progress=progress, seconds=seconds)
    for w in caught:  # shown once, and kept in the report
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    rep, col, itp, stab = plan.repair, plan.colorize, plan.interpolate, plan.stabilize
    manifest = {
        "format": 2,
        "library": __version__,
        "input": {"name": src.name, **_fingerprint(src)},
        "stages": {"repair": describe(rep), "colorize": describe(col), "interpolate": describe(itp),
                   "stabilize": stabilizer_params(stab)},
        "timeline": {"scene_threshold": DEFAULT_SCENE_THRESHOLD, "held_frames": itp is not None, "anchor": RETIME_ANCHOR,
                     "at_cut": plan.at_cut, "context": plan.context},
        "device": plan.device,
        "precision": precision,
        "chunk_frames": plan.chunk_frames,
        "limit": plan.limit,
        "fps_out": str(plan.fps_out),
        "encoder": plan.encoder.as_dict(),
    }
    work = _WorkDir(dst, manifest)
    work.open()
    try:
        state = _FilmRun(plan, work, seconds)
        state.run(progress)
    finally:
        work.release()
    t = time.perf_counter()
    join_segments(plan, state.segments, dst, keep_audio=keep_audio)
    seconds["mux"] += time.perf_counter() - t
    if not keep_parts:
        work.remove()
    tl = plan.timeline
    return FilmReport(
        output=dst,
        frames_in=tl.frames,
        frames_out=sum(s.frames_out for s in state.segments),
        fps_in=plan.fps_in,
        fps_out=plan.fps_out,
        chunks=len(state.segments),
        resumed_chunks=state.resumed,
        scene_cuts=list(tl.cuts),
        audio_streams=probe(src).audio_streams if keep_audio else 0,
        seconds={s: seconds.get(s, 0.0) for s in _STAGES},
        frames_this_run=state.frames_this_run,
        held_frames=list(tl.repeats),
        frames_expected=tl.expected,
        truncated=tl.truncated,
        warnings=[str(w.message) for w in caught],
    )


class _FilmRun:
    """The local engine's state: the plan, the work folder, the chunks made so far and the shared pictures."""

    def __init__(self, plan: FilmPlan, work: "_WorkDir", seconds: dict):
        self.plan, self.work, self.seconds = plan, work, seconds
        self.segments: list[Segment] = []
        self.resumed = 0
        self.frames_this_run = 0

    def run(self, progress: bool) -> None:
        """Make every chunk that is not finished yet (after the finished ones), in order."""
        from tqdm.auto import tqdm

        plan, work = self.plan, self.work
        chunks = plan.chunks()
        done = min(work.finished_chunks(), len(chunks))
        for k in range(done):
            self.segments.append(self._finished(k, *chunks[k]))
        self.resumed = done
        total = plan.timeline.frames_out(plan.fps_out)
        initial = self.segments[-1].k1 if self.segments else 0
        source = PictureSource(plan, self.seconds)
        bar = tqdm(total=total, initial=initial, unit="frame", desc=f"film {plan.src.name}", disable=not progress,
                   dynamic_ncols=True)
        try:
            for k in range(done, len(chunks)):
                start, stop = chunks[k]
                final = k == len(chunks) - 1

                def save(seg: Segment, k: int = k, final: bool = final) -> None:
                    work.save_state(k, {"frames_in": np.int64(seg.stop), "frames_out": np.int64(seg.k1),
                                        "chunk_out": np.int64(seg.frames_out), "final": np.bool_(final),
                                        "cuts": np.asarray(seg.cuts, np.int64)})

                self.segments.append(restore_segment(plan, start, stop, work.video(k), source=source,
                                                     seconds=self.seconds, progress=bar, before_close=save))
                self.frames_this_run += stop - start
        finally:
            bar.close()
            source.close()

    def _finished(self, k: int, start: int, stop: int) -> Segment:
        st = self.work.load_state(k)
        k0, k1 = self.plan.output_range(start, stop)
        if int(st["frames_in"]) != stop or int(st["chunk_out"]) != k1 - k0:
            raise VideoError(f"{self.work.path}: chunk {k} does not match this film's plan; delete the folder")
        return Segment(self.work.video(k), start, stop, k0, k1, [int(c) for c in st["cuts"]])
