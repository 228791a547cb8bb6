"""A film on a Ray cluster, byte-identical to the single-machine :func:`~restoration_lib.pipeline.restore_film`.

The film pipeline already makes a film as independent chunks (:func:`~restoration_lib.pipeline.film.plan_film`
→ :func:`~restoration_lib.pipeline.film.restore_segment` per chunk → :func:`~restoration_lib.pipeline.film.
join_segments`): a chunk depends only on the film, the settings and its frame range, and starts its colour
stabiliser from ``plan.context`` pictures before it (or from the shot's first picture after a scene cut), and
interpolates its first in-between from the previous chunk's last picture, which it remakes itself. So:

1. The driver (this process) analyses the film once (scene cuts, held frames; thumbnails only) into the plan.
2. Every chunk is one Ray task (``num_gpus=1`` on GPU nodes): it builds the stages once per worker process
   (models loaded once per worker, not per task), calls ``restore_segment`` and returns the encoded chunk's
   bytes. A task whose worker dies is retried by Ray; it gives the same bytes.
3. The driver writes each chunk and its state into the same ``<dst>.parts`` work folder as the single-machine
   run (same manifest, same files, written atomically), so an interrupted run, with either engine, continues
   where it stopped; at the end it joins the chunks without re-encoding and copies the audio once.

No shared file system is assumed: unless ``shared_input`` says the input path is readable on every node, the
driver puts the film's bytes into Ray's object store once and each node keeps a local copy.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .. import __version__
from ..io import atomic_path
from ..pipeline import film as _local
from ..pipeline.film import FilmReport, PathLike
from ..pipeline.options import FILM_COLORIZE, InterpolateOptions, RepairOptions
from ..pipeline.stabilize import ChromaStabilizer
from ..video.io import EncoderSettings, as_fraction, probe
from ..video.timeline import DEFAULT_SCENE_THRESHOLD
from .runtime import (ProgressCounter, cached, connected, new_token, plan_resources, require_ray, unwrap,
                      use_threads)

__all__ = ["restore_film_ray", "segment_task"]

_TASK_RETRIES = 3


# ------------------------------------------------------------------------------------------ on the workers


def _spec(job: dict) -> dict:
    import ray

    return cached(f"{job['token']}:spec", lambda: ray.get(job["spec"][0]))


def _stages(job: dict):
    """(repair, colorize, interpolate, device) built once in this worker process for this run."""
    from ..device import pick_device, resolve_dtype
    from ..pipeline.options import build_colorize, build_interpolate, build_repair

    use_threads(_spec(job).get("num_cpus", 1))

    def build():
        s = _spec(job)
        dev = pick_device(s["device"])
        resolve_dtype(s["precision"], dev)
        kw = dict(device=dev, precision=s["precision"], weights_dir=s["weights_dir"])
        return (build_repair(s["repair"], **kw), build_colorize(s["colorize"], default=FILM_COLORIZE, **kw),
                build_interpolate(s["interpolate"], **kw), dev)

    return cached(f"{job['token']}:stages", build)


def _local_source(job: dict) -> Path:
    """The input film on this worker: the user's shared path, or a local copy of the bytes the driver put."""
    if job["source_path"] is not None:
        return Path(job["source_path"])
    import ray

    def fetch() -> Path:
        path = Path(tempfile.gettempdir()) / "restoration-ray" / job["source_key"]
        if not path.is_file():
            with atomic_path(path) as tmp:
                np.asarray(ray.get(job["source_ref"][0])).tofile(tmp)
        return path

    return cached(f"{job['token']}:source", fetch)


def _plan(job: dict):
    """The driver's plan with this worker's stages and input copy in it."""
    import ray

    def build():
        plan = ray.get(job["plan"][0])
        rep, col, itp, _ = _stages(job)
        params = _spec(job)["stabilize"]
        return dataclasses.replace(plan, src=_local_source(job), repair=rep, colorize=col, interpolate=itp,
                                   stabilize=None if params is None else ChromaStabilizer(**params))

    return cached(f"{job['token']}:plan", build)


from ..video.io import SeekingFrames, presentation_pts  # noqa: E402

_SEEK_AHEAD = 16  # frames: a chunk further than this into the film is decoded from the keyframe before it


class _SeekingSource(_local.PictureSource):
    """The film pipeline's :class:`~restoration_lib.pipeline.film.PictureSource`, but a chunk far into the film is
    decoded from the keyframe before it instead of from the start of the file (the same frames)."""

    def _decode(self, index: int) -> np.ndarray:
        tl = self.plan.timeline
        if (self._frames is None or index <= self._last or index - self._last > _SEEK_AHEAD) and \
                index > _SEEK_AHEAD and not tl.truncated:
            src = self.plan.src
            pts = cached(f"pts:{src}:{os.stat(src).st_mtime_ns}", lambda: presentation_pts(src))
            if pts is not None and len(pts) >= tl.frames:
                with self.timer("decode"):
                    self.close()
                    self._decoder = SeekingFrames(self.plan.src, pts, index, tl.frames)
                    self._frames = iter(self._decoder)
                    self._last = index - 1
        return super()._decode(index)


def describe_task(job: dict) -> dict:
    """Build the stages on a worker (a missing checkpoint is reported before any work) and describe them."""
    from ..pipeline.options import describe

    rep, col, itp, dev = _stages(job)
    return {"repair": describe(rep), "colorize": describe(col), "interpolate": describe(itp), "device": dev.type,
            "interpolating": itp is not None, "fps": None if itp is None else itp.options.fps,
            "factor": 1 if itp is None else itp.options.factor}


class _Report:
    """``progress.update(n)`` for ``restore_segment`` that tells the driver's counter (batched)."""

    def __init__(self, counter):
        self.counter, self.n, self.t = counter, 0, time.monotonic()

    def update(self, n: int) -> None:
        self.n += n
        if self.counter is not None and time.monotonic() - self.t > 0.5:
            self.flush()

    def flush(self) -> None:
        if self.counter is not None and self.n:
            self.counter.add.remote(self.n)
            self.n, self.t = 0, time.monotonic()


def segment_task(job: dict, start: int, stop: int, counter=None) -> dict:
    """Restore input frames ``[start, stop)`` with :func:`~restoration_lib.pipeline.film.restore_segment`.

    Returns:
        ``{"video": the chunk's MP4 bytes, "k0", "k1": its output frames, "cuts", "seconds": stage times}``.
    """
    plan = _plan(job)
    seconds: dict[str, float] = defaultdict(float)
    report = _Report(counter)
    with tempfile.TemporaryDirectory(prefix="restoration-ray-") as tmp:
        source = _SeekingSource(plan, seconds)
        try:
            seg = _local.restore_segment(plan, start, stop, Path(tmp) / "chunk.mp4", source=source, seconds=seconds,
                                         progress=report)
        finally:
            source.close()
        report.flush()
        return {"video": seg.path.read_bytes(), "k0": seg.k0, "k1": seg.k1, "cuts": list(seg.cuts),
                "seconds": dict(seconds)}


# ------------------------------------------------------------------------------------------------ driver


def restore_film_ray(
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
    address: Optional[str] = None,
    workers: Optional[int] = None,
    num_gpus: Optional[float] = None,
    num_cpus: Optional[float] = None,
    shared_input: bool = False,
) -> FilmReport:
    """:func:`~restoration_lib.pipeline.restore_film` with its chunks restored in parallel by Ray tasks.

    The output is byte-identical to the single-machine run with the same arguments, and the work folder is
    shared with it: a run interrupted with one engine can be finished with the other.

    Args:
        src, dst, repair, colorize, interpolate, stabilize, chunk_seconds, duration, keep_audio, encoder, device,
            precision, weights_dir, overwrite, keep_parts, progress: as for
            :func:`~restoration_lib.pipeline.restore_film`. ``chunk_seconds`` is the unit of parallel work (each
            chunk also remakes up to ``context`` = 10 pictures before it to start its stabiliser).
        address: ``None`` starts a local Ray runtime; ``"auto"`` or ``"host:port"`` joins a running cluster.
        workers: chunks restored at once (default: one per GPU of the cluster, else one per ``num_cpus`` cores).
        num_gpus: GPUs per chunk task (default 1 when the cluster has GPUs, else 0).
        num_cpus: CPU cores per chunk task (default 1).
        shared_input: ``src`` is readable at the same path on every node (otherwise its bytes travel through
            Ray's object store once per node).

    Returns:
        A :class:`~restoration_lib.pipeline.FilmReport`; ``seconds`` adds up the workers' stage times.

    Raises:
        RayUnavailableError: Ray is not installed.
        VideoError, ImageWriteError, MissingWeightsError: as the single-machine run.
    """
    require_ray()
    src, dst = _local.check_film_paths(src, dst, overwrite)
    _local.check_film_args(chunk_seconds, duration)
    info = probe(src)
    stab_params = _local.stabilizer_params(_local._make_stabilizer(stabilize))
    seconds: dict[str, float] = defaultdict(float)
    with connected(address) as ray:
        res = plan_resources(ray, workers, num_gpus, num_cpus)
        spec = {"repair": repair, "colorize": colorize, "interpolate": interpolate, "stabilize": stab_params,
                "device": device, "precision": precision, "weights_dir": weights_dir, "num_cpus": res.num_cpus}
        job = {"token": new_token(), "spec": [ray.put(spec)],
               "source_path": str(src.resolve()) if shared_input else None}
        try:
            d = ray.get(ray.remote(describe_task).options(max_retries=_TASK_RETRIES, **res.options()).remote(job))
        except ray.exceptions.RayTaskError as err:
            raise unwrap(ray, err) from None
        fps_in = info.fps
        fps_out = as_fraction(d["fps"]) if d["fps"] is not None else fps_in * d["factor"]
        limit = None if duration is None else max(1, round(duration * fps_in))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            plan = _local.analyse_film(src, interpolating=bool(d["interpolating"]), fps_out=fps_out,
                                       chunk_seconds=chunk_seconds, limit=limit, encoder=encoder, progress=progress,
                                       seconds=seconds)
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        manifest = {
            "format": 2,
            "library": __version__,
            "input": {"name": src.name, **_local._fingerprint(src)},
            "stages": {"repair": d["repair"], "colorize": d["colorize"], "interpolate": d["interpolate"],
                       "stabilize": stab_params},
            "timeline": {"scene_threshold": DEFAULT_SCENE_THRESHOLD, "held_frames": d["interpolating"],
                         "anchor": _local.RETIME_ANCHOR, "at_cut": plan.at_cut, "context": plan.context},
            "device": d["device"],
            "precision": precision,
            "chunk_frames": plan.chunk_frames,
            "limit": limit,
            "fps_out": str(fps_out),
            "encoder": plan.encoder.as_dict(),
        }
        job["plan"] = [ray.put(dataclasses.replace(plan, interpolate=None))]
        if not shared_input:
            key = f"{manifest['input']['sha256_head_tail'][:16]}-{manifest['input']['size']}{src.suffix}"
            job.update(source_ref=[ray.put(np.fromfile(src, np.uint8))], source_key=key)
        work = _local._WorkDir(dst, manifest)
        work.open()
        try:
            run = _local._FilmRun(plan, work, seconds)
            _run_chunks(ray, job, res, run, progress)
        finally:
            work.release()
    t = time.perf_counter()
    _local.join_segments(plan, run.segments, dst, keep_audio=keep_audio)
    seconds["mux"] += time.perf_counter() - t
    if not keep_parts:
        work.remove()
    tl = plan.timeline
    return FilmReport(
        output=dst, frames_in=tl.frames, frames_out=sum(s.frames_out for s in run.segments), fps_in=fps_in,
        fps_out=fps_out, chunks=len(run.segments), resumed_chunks=run.resumed, scene_cuts=list(tl.cuts),
        audio_streams=info.audio_streams if keep_audio else 0,
        seconds={s: seconds.get(s, 0.0) for s in _local._STAGES}, frames_this_run=run.frames_this_run,
        held_frames=list(tl.repeats), frames_expected=tl.expected, truncated=tl.truncated,
        warnings=[str(w.message) for w in caught],
    )


def _run_chunks(ray, job: dict, res, run, progress: bool) -> None:
    """Submit every unfinished chunk, write each as it comes back (state first, as the local engine does)."""
    from tqdm.auto import tqdm

    plan, work = run.plan, run.work
    chunks = plan.chunks()
    done = min(work.finished_chunks(), len(chunks))
    segments = {k: run._finished(k, *chunks[k]) for k in range(done)}
    run.resumed = done
    total = plan.timeline.frames_out(plan.fps_out)
    initial = segments[done - 1].k1 if done else 0
    counter = ray.remote(ProgressCounter).options(num_cpus=0).remote() if progress else None
    task = ray.remote(segment_task).options(max_retries=_TASK_RETRIES, **res.options())
    todo = list(range(done, len(chunks)))[::-1]
    pending: dict[Any, int] = {}
    window = 2 * res.workers
    bar = tqdm(total=total, initial=initial, unit="frame", desc=f"film {plan.src.name} (ray)", disable=not progress,
               dynamic_ncols=True)
    try:
        while todo or pending:
            while todo and len(pending) < window:
                k = todo.pop()
                pending[task.remote(job, *chunks[k], counter)] = k
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in ready:
                k = pending.pop(ref)
                try:
                    out = ray.get(ref)
                except ray.exceptions.RayTaskError as err:
                    raise unwrap(ray, err) from None
                start, stop = chunks[k]
                work.save_state(k, {"frames_in": np.int64(stop), "frames_out": np.int64(out["k1"]),
                                    "chunk_out": np.int64(out["k1"] - out["k0"]),
                                    "final": np.bool_(k == len(chunks) - 1),
                                    "cuts": np.asarray(out["cuts"], np.int64)})
                with atomic_path(work.video(k)) as tmp:
                    tmp.write_bytes(out["video"])
                segments[k] = _local.Segment(work.video(k), start, stop, out["k0"], out["k1"], out["cuts"])
                for stage, s in out["seconds"].items():
                    run.seconds[stage] += s
                run.frames_this_run += stop - start
            if counter is not None:
                bar.n = min(total, initial + ray.get(counter.get.remote()))
                bar.refresh()
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise
    finally:
        bar.close()
    run.segments = [segments[k] for k in range(len(chunks))]
