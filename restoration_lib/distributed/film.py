"""A film on a Ray cluster, byte-identical to the single-machine :func:`~restoration_lib.pipeline.restore_film`.

The unit of work is the single-machine run's chunk (``chunk_seconds`` of input; each chunk is an H.264 file that
starts with a keyframe). Chunk ``k`` covers input frames ``[a, b)`` and goes through three Ray tasks:

1. **frames** (the models; parallel, ``num_gpus=1`` on GPU nodes): decode ``[a - 1, b)`` (seeking to the keyframe
   before ``a - 1``), run repair and colorize on every frame, including the one context frame before the chunk,
   and tell whether frame ``b`` exists (the chunk is the last one when not). From the two colorized frames at
   the boundary it also tells whether frame ``a`` is a scene cut for the stabiliser (its cut test looks only at
   those two frames).
2. **stabilise** (cheap, CPU): colour stabilisation carries a state from frame to frame. A chunk that starts at
   a scene cut (or the film's first) starts from a reset state, exactly as the single-machine run does there;
   any other chunk continues from the state the previous chunk's stabilise task ended with (a chain of small
   objects). Without stabilisation, scene cuts are found from the context frame and the chunk's frames.
3. **encode** (parallel; interpolation uses the GPU): interpolate between consecutive frames (the first
   in-between of the chunk uses the previous chunk's last frame, handed over as a small object), hold the last
   frame at the end of the film, and encode the chunk with the same deterministic settings; the encoded bytes
   go back to the driver.

The driver writes each chunk and its state into the same ``<dst>.parts`` work folder as the single-machine run
(same manifest, same files), so an interrupted run, with either engine, continues where it stopped. At the end
the chunks are joined without re-encoding and the source's audio is copied once. A task whose worker dies is
retried by Ray (every task is deterministic), so the film is the same.
"""
from __future__ import annotations

import os
import tempfile
import time
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .. import __version__
from ..errors import ImageWriteError, VideoError
from ..io import atomic_path
from ..pipeline import film as _local
from ..pipeline.film import FilmReport, PathLike
from ..pipeline.options import FILM_COLORIZE, InterpolateOptions, RepairOptions
from ..pipeline.stabilize import ChromaStabilizer, StabilizerState, is_scene_cut
from ..pipeline.video import ChunkWriter, EncoderSettings, _format_for, as_fraction, concat_chunks, probe
from .runtime import ProgressCounter, cached, connected, new_token, plan_resources, require_ray, unwrap

__all__ = ["restore_film_ray", "decode_span"]

_TASK_RETRIES = 3


# ---------------------------------------------------------------------------------------------- decoding


def _presentation_pts(path: str) -> Optional[list[int]]:
    """The video packets' timestamps in presentation order (frame i has the i-th), or None when unusable."""
    import av

    with av.open(path) as c:
        vs = c.streams.video[0]
        pts = [p.pts for p in c.demux(vs) if p.size]
    if not pts or any(p is None for p in pts):
        return None
    pts.sort()
    if any(a == b for a, b in zip(pts, pts[1:])):
        return None
    return pts


def _decode_sequential(path: str, first: int, stop: int):
    from ..pipeline.video import read_frames

    frames = list(read_frames(path, start=first, stop=stop + 1))
    has_next = len(frames) > stop - first
    return frames[: stop - first], has_next


def decode_span(path: PathLike, first: int, stop: int) -> tuple[list[np.ndarray], bool]:
    """Frames ``first`` ≤ i < ``stop`` (numbered as :func:`~restoration_lib.pipeline.video.read_frames` does) and
    whether frame ``stop`` exists.

    Seeks to the keyframe before ``first`` and decodes from there, checking every frame's timestamp against the
    presentation order of the packets; a file whose timestamps do not allow that (missing or repeated
    timestamps, a seek that lands after the frame) is decoded from the start instead, as the single-machine run
    does.
    """
    import av

    from ..pipeline.video import frame_to_rgb

    path = str(path)
    if first == 0:
        return _decode_sequential(path, first, stop)
    pts = cached(f"pts:{path}:{os.stat(path).st_mtime_ns}", lambda: _presentation_pts(path))
    if pts is None or first >= len(pts):
        return _decode_sequential(path, first, stop)
    frames: list[np.ndarray] = []
    has_next = False
    with av.open(path) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        c.seek(pts[first], stream=vs, backward=True, any_frame=False)
        i = None
        for frame in c.decode(vs):
            if frame.pts is None:
                return _decode_sequential(path, first, stop)
            if i is None:
                if frame.pts > pts[first]:
                    return _decode_sequential(path, first, stop)  # the seek overshot
                if frame.pts < pts[first]:
                    continue
                i = first
            if i >= len(pts) or frame.pts != pts[i]:
                return _decode_sequential(path, first, stop)
            if i >= stop:
                has_next = True
                break
            frames.append(frame_to_rgb(frame))
            i += 1
    if i is None:
        return _decode_sequential(path, first, stop)
    return frames, has_next


def _local_source(job: dict) -> str:
    """The input film on this worker: the user's shared path, or a copy of the bytes the driver put in Ray."""
    if job["source_path"] is not None:
        return job["source_path"]
    import ray

    def fetch() -> str:
        data = ray.get(job["source_ref"][0])
        path = Path(tempfile.gettempdir()) / "restoration-ray" / f"{job['source_key']}{Path(job['name']).suffix}"
        if not path.is_file():
            with atomic_path(path) as tmp:
                np.asarray(data).tofile(tmp)
        return str(path)

    return cached(f"{job['token']}:source", fetch)


# ------------------------------------------------------------------------------------------------ stages


def _spec(job: dict) -> dict:
    import ray

    return cached(f"{job['token']}:spec", lambda: ray.get(job["spec"][0]))


def _frame_stages(job: dict):
    from ..device import pick_device, resolve_dtype
    from ..pipeline.options import build_colorize, build_repair

    def build():
        s = _spec(job)
        dev = pick_device(s["device"])
        resolve_dtype(s["precision"], dev)
        kw = dict(device=dev, precision=s["precision"], weights_dir=s["weights_dir"])
        return build_repair(s["repair"], **kw), build_colorize(s["colorize"], default=FILM_COLORIZE, **kw), dev

    return cached(f"{job['token']}:frame", build)


def _interp_stage(job: dict):
    from ..device import pick_device
    from ..pipeline.options import build_interpolate

    def build():
        s = _spec(job)
        return build_interpolate(s["interpolate"], device=pick_device(s["device"]), precision=s["precision"],
                                 weights_dir=s["weights_dir"])

    return cached(f"{job['token']}:interp", build)


def _stabilizer(job: dict) -> Optional[ChromaStabilizer]:
    params = _spec(job)["stabilize"]
    return None if params is None else ChromaStabilizer(**params)


def describe_task(job: dict) -> dict:
    """Build every stage on a worker (reporting a missing checkpoint before any work) and describe them."""
    from ..pipeline.options import describe

    rep, col, dev = _frame_stages(job)
    itp = _interp_stage(job)
    return {"repair": describe(rep), "colorize": describe(col), "interpolate": describe(itp), "device": dev.type,
            "has_interpolate": itp is not None, "fps": None if itp is None else itp.options.fps,
            "factor": 1 if itp is None else itp.options.factor}


def frames_task(job: dict, start: int, stop: int, counter) -> tuple[dict, np.ndarray]:
    """Repair and colorize input frames ``[start - 1, stop)`` (one context frame before the chunk).

    Returns:
        ``(meta, frames)``: ``meta`` has ``n`` (frames of the chunk), ``has_next`` (frame ``stop`` exists),
        ``starts_cut`` (frame ``start`` resets the stabiliser) and ``size``; ``frames`` is (n [+1], H, W, 3)
        uint8 with the context frame first when ``start > 0``.
    """
    rep, col, _ = _frame_stages(job)
    first = max(0, start - 1)
    raw, has_next = decode_span(_local_source(job), first, stop)
    has_next = has_next and (job["limit"] is None or stop < job["limit"])
    out = []
    for f in raw:
        x = f
        if rep is not None:
            x = rep(x)[0]
        if col is not None:
            x = col(x)
        if out and x.shape != out[0].shape:
            i = first + len(out)
            raise VideoError(f"frame {i}: the stages produced {x.shape[1]}×{x.shape[0]} after "
                             f"{out[0].shape[1]}×{out[0].shape[0]}; every frame must come out the same size")
        out.append(np.ascontiguousarray(x))
        if counter is not None and first + len(out) - 1 >= start:
            counter.add.remote(1)
    n = len(out) - (start - first)
    starts_cut = start == 0
    if start > 0 and n > 0:
        stab = _stabilizer(job)
        if stab is not None:
            stab(out[0])
            stab(out[1])
            starts_cut = bool(stab.last_cut)
    size = None if not out else (out[0].shape[1], out[0].shape[0])
    frames = np.stack(out) if out else np.zeros((0, 1, 1, 3), np.uint8)
    return {"n": max(n, 0), "has_next": has_next and n > 0, "starts_cut": starts_cut, "size": size}, frames


def stabilize_task(job: dict, start: int, frames: np.ndarray, prev_tail: Optional[dict]) -> tuple[np.ndarray, dict]:
    """Stabilise the chunk's colours and find its scene cuts, continuing from ``prev_tail`` (None at a cut).

    Returns:
        ``(frames, tail)``: the processed frames of the chunk (context frame dropped) and what the next chunk
        needs: ``last_frame``, the stabiliser state (``stab_gray``, ``stab_chroma``) and this chunk's ``cuts``.
    """
    stab = _stabilizer(job)
    has_itp = _spec(job)["has_interpolate"]
    ctx = frames[0] if start > 0 else None
    body = frames[1:] if start > 0 else frames
    cuts: list[int] = []
    out = []
    if stab is not None:
        if prev_tail is not None:
            stab.state = StabilizerState.from_arrays(prev_tail)
        elif ctx is not None:
            stab(ctx)  # only its luminance matters: the chunk's first frame is a cut and resets the state
        for idx, x in enumerate(body):
            y = stab(x)
            if prev_tail is None and ctx is not None and idx == 0 and not stab.last_cut:
                raise AssertionError(f"frame {start} was planned as a scene cut but the stabiliser continues there")
            if stab.last_cut and start + idx > 0:
                cuts.append(start + idx)
            out.append(y)
    else:
        prev = ctx
        for idx, x in enumerate(body):
            if has_itp and prev is not None and is_scene_cut(prev, x):
                cuts.append(start + idx)
            out.append(x)
            prev = x
    tail = {"last_frame": out[-1], "cuts": np.asarray(cuts, np.int64)}
    if stab is not None and stab.state is not None:
        tail.update(stab.state.to_arrays())
    return np.stack(out), tail


def encode_task(job: dict, start: int, frames: np.ndarray, tail: dict, prev_tail: Optional[dict],
                final: bool) -> dict:
    """Interpolate and encode one chunk exactly as the single-machine run does.

    Returns:
        ``{"video": bytes of the chunk's MP4, "state": the arrays the single-machine run saves with it}``.
    """
    itp = _interp_stage(job)
    ratio: Fraction = job["ratio"]
    cuts = {int(c) for c in tail["cuts"]}
    prev = None if prev_tail is None else prev_tail["last_frame"]
    next_out = 0 if start == 0 else _local._floor((start - 1) * ratio) + 1
    first_out = next_out
    h, w = frames.shape[1:3]
    with tempfile.TemporaryDirectory(prefix="restoration-ray-") as tmpdir:
        path = Path(tmpdir) / "chunk.mp4"
        writer = ChunkWriter(path, w, h, job["fps_out"], job["encoder"])
        try:
            for idx, x in enumerate(frames):
                i = start + idx
                j_hi = 0 if i == 0 else _local._floor(i * ratio)
                j_lo = 0 if i == 0 else _local._floor((i - 1) * ratio) + 1
                outs: list[Optional[np.ndarray]] = []
                between: list[tuple[int, float]] = []
                for j in range(j_lo, j_hi + 1):
                    pos = Fraction(j) / ratio - (i - 1)
                    if i == 0 or pos == 1:
                        outs.append(x)
                    elif i in cuts:
                        outs.append(prev if pos < Fraction(1, 2) else x)
                    else:
                        between.append((len(outs), float(pos)))
                        outs.append(None)
                if between:
                    for (slot, _), made in zip(between, itp.many(prev, x, [t for _, t in between])):
                        outs[slot] = made
                for o in outs:
                    writer.write(o)
                next_out = j_hi + 1
                prev = x
            next_in = start + len(frames)
            if final:  # hold the last frame so the video lasts as long as the input (and its audio)
                end = -(-(next_in * ratio.numerator) // ratio.denominator)
                for _ in range(next_out, end):
                    writer.write(prev)
                next_out = max(next_out, end)
            writer.close()
            writer = None
        finally:
            if writer is not None:
                writer.abort()
        video = path.read_bytes()
    state = {"frames_in": np.int64(next_in), "frames_out": np.int64(next_out),
             "chunk_out": np.int64(next_out - first_out), "final": np.bool_(final), "last_frame": prev,
             "cuts": tail["cuts"]}
    state.update({k: v for k, v in tail.items() if k.startswith("stab_")})
    return {"video": video, "state": state}


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
    chunks_in_flight: Optional[int] = None,
) -> FilmReport:
    """:func:`~restoration_lib.pipeline.restore_film` with the chunks restored in parallel by Ray tasks.

    The output is byte-identical to the single-machine run with the same arguments (see the module docstring for
    how continuity across chunks is kept), and the work folder is shared with it: a run interrupted with one
    engine can be finished with the other.

    Args:
        src, dst, repair, colorize, interpolate, stabilize, chunk_seconds, duration, keep_audio, encoder, device,
            precision, weights_dir, overwrite, keep_parts, progress: as for
            :func:`~restoration_lib.pipeline.restore_film`. ``chunk_seconds`` is also the unit of parallel work;
            a chunk's frames travel through Ray's object store, so keep ``chunk_seconds × fps × H × W × 3`` bytes
            well below a node's object store.
        address: ``None`` starts a local Ray runtime; ``"auto"`` or ``"host:port"`` joins a running cluster.
        workers: model tasks running at once (default: one per GPU, else one per ``num_cpus`` cores).
        num_gpus: GPUs per model task (default 1 when the cluster has GPUs, else 0).
        num_cpus: CPU cores per model task (default 1).
        shared_input: ``src`` is readable at the same path on every node; otherwise the driver puts the file's
            bytes into Ray's object store once and each node keeps a local copy.
        chunks_in_flight: chunks being processed at once (default ``2 × workers``), bounding the object store use.

    Returns:
        A :class:`~restoration_lib.pipeline.FilmReport`.

    Raises:
        RayUnavailableError: Ray is not installed.
        VideoError, ImageWriteError, MissingWeightsError: as the single-machine run.
    """
    require_ray()
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
    stab = _local._make_stabilizer(stabilize)
    with connected(address) as ray:
        res = plan_resources(ray, workers, num_gpus, num_cpus)
        stab_params = None if stab is None else {
            "strength": stab.strength, "cut_threshold": stab.cut_threshold, "flow_max_side": stab.flow_max_side,
            "photometric_sigma": stab.photometric_sigma}
        spec = {"repair": repair, "colorize": colorize, "interpolate": interpolate, "stabilize": stab_params,
                "device": device, "precision": precision, "weights_dir": weights_dir, "has_interpolate": None}
        job = {"token": new_token(), "spec": [ray.put(spec)], "name": src.name,
               "source_path": str(src.resolve()) if shared_input else None}
        model = ray.remote(max_retries=_TASK_RETRIES)
        try:
            d = ray.get(model(describe_task).options(**res.options()).remote(job))
        except ray.exceptions.RayTaskError as err:
            raise unwrap(ray, err) from None
        spec["has_interpolate"] = d["has_interpolate"]
        job["spec"] = [ray.put(spec)]
        fps_in = info.fps
        fps_out = as_fraction(d["fps"]) if d["fps"] is not None else fps_in * d["factor"]
        ratio = fps_out / fps_in
        limit = None if duration is None else max(1, round(duration * fps_in))
        chunk_frames = max(1, round(chunk_seconds * fps_in))
        settings = (encoder or EncoderSettings()).resolved()
        manifest = {
            "format": 1,
            "library": __version__,
            "input": {"name": src.name, **_local._fingerprint(src)},
            "stages": {"repair": d["repair"], "colorize": d["colorize"], "interpolate": d["interpolate"],
                       "stabilize": stab_params},
            "device": d["device"],
            "precision": precision,
            "chunk_frames": chunk_frames,
            "limit": limit,
            "fps_out": str(fps_out),
            "encoder": settings.as_dict(),
        }
        job.update(ratio=ratio, fps_out=fps_out, encoder=settings, limit=limit)
        if not shared_input:
            fp = manifest["input"]["sha256_head_tail"][:16]
            job.update(source_ref=[ray.put(np.fromfile(src, np.uint8))], source_key=f"{fp}-{src.stat().st_size}")
        work = _local._WorkDir(dst, manifest)
        work.open()
        try:
            return _Driver(ray, job, res, work, info, chunk_frames, limit, chunks_in_flight, progress).run(
                src, dst, keep_audio, keep_parts)
        finally:
            work.release()


class _Driver:
    """Submits the three tasks of every chunk, writes finished chunks, shows progress."""

    def __init__(self, ray, job, res, work, info, chunk_frames: int, limit: Optional[int],
                 in_flight: Optional[int], progress: bool):
        self.ray, self.job, self.work, self.info = ray, job, work, info
        self.chunk_frames, self.limit = chunk_frames, limit
        self.window = max(1, in_flight or 2 * res.workers)
        self.progress = progress
        opts = dict(max_retries=_TASK_RETRIES)
        self.frames_fn = ray.remote(frames_task).options(num_returns=2, **opts, **res.options())
        self.stab_fn = ray.remote(stabilize_task).options(num_returns=2, num_cpus=0, **opts)
        self.encode_fn = ray.remote(encode_task).options(**opts, **res.options())

    def span(self, k: int) -> tuple[int, int]:
        a = k * self.chunk_frames
        b = a + self.chunk_frames
        return a, b if self.limit is None else min(b, self.limit)

    def run(self, src: Path, dst: Path, keep_audio: bool, keep_parts: bool) -> FilmReport:
        from tqdm.auto import tqdm

        ray, work = self.ray, self.work
        timing: dict[str, float] = defaultdict(float)
        done = work.finished_chunks()
        tails: dict[int, Any] = {}
        final_k: Optional[int] = None
        start_frames = 0
        if done:
            st = work.load_state(done - 1)
            start_frames = int(st["frames_in"])
            if bool(st["final"]):
                final_k = done - 1
            tails[done - 1] = ray.put({k: st[k] for k in st if k in ("last_frame", "cuts", "stab_gray",
                                                                     "stab_chroma")})
        total = self.info.estimated_frames()
        if self.limit is not None:
            total = min(total, self.limit) if total else self.limit
        counter = ray.remote(ProgressCounter).options(num_cpus=0).remote() if self.progress else None
        bar = tqdm(total=total, initial=start_frames, unit="frame", desc=f"film {src.name} (ray)",
                   disable=not self.progress, dynamic_ncols=True)
        frames_refs: dict[int, tuple[Any, Any]] = {}
        metas: dict[int, dict] = {}
        encodes: dict[Any, int] = {}
        next_a = next_b = done
        written = done
        pending_meta: dict[Any, int] = {}
        t = time.perf_counter()
        try:
            while final_k is None or written <= final_k:
                while (final_k is None or next_a <= final_k) and next_a - written < self.window:
                    a, b = self.span(next_a)
                    if self.limit is not None and a >= self.limit:
                        break
                    meta, frames = self.frames_fn.remote(self.job, a, b, counter)
                    frames_refs[next_a] = (meta, frames)
                    pending_meta[meta] = next_a
                    next_a += 1
                ready, _ = ray.wait(list(pending_meta) + list(encodes), num_returns=1, timeout=0.5)
                for ref in ready:
                    if ref in pending_meta:
                        k = pending_meta.pop(ref)
                        metas[k] = self._get(ref)
                        if not metas[k]["has_next"] and (final_k is None or k < final_k):
                            final_k = k
                    else:
                        k = encodes.pop(ref)
                        out = self._get(ref)
                        work.save_state(k, out["state"])
                        with atomic_path(work.video(k)) as tmp:
                            tmp.write_bytes(out["video"])
                        frames_refs.pop(k, None)
                        tails.pop(k - 1, None)
                        written = self._first_missing(written)
                if final_k is not None:
                    for j in [j for j in frames_refs if j > final_k]:
                        ray.cancel(frames_refs.pop(j)[0], force=False)
                        for ref in [r for r, kk in pending_meta.items() if kk == j]:
                            pending_meta.pop(ref)
                while next_b in metas and (final_k is None or next_b <= final_k):
                    self._submit_chain(next_b, metas[next_b], tails, encodes, frames_refs)
                    next_b += 1
                if counter is not None:
                    bar.n = min(total or 10**12, start_frames + ray.get(counter.get.remote()))
                    bar.refresh()
            bar.n = bar.total or bar.n
            bar.refresh()
        except BaseException:
            for ref in list(pending_meta) + list(encodes):
                ray.cancel(ref, force=False)
            raise
        finally:
            bar.close()
        timing["workers"] = time.perf_counter() - t
        return self._finish(src, dst, done, start_frames, keep_audio, keep_parts, timing)

    def _get(self, ref):
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as err:
            raise unwrap(self.ray, err) from None

    def _first_missing(self, k: int) -> int:
        while self.work.video(k).is_file() and self.work.state(k).is_file():
            k += 1
        return k

    def _submit_chain(self, k: int, meta: dict, tails: dict, encodes: dict, frames_refs: dict) -> None:
        a, _ = self.span(k)
        if meta["n"] == 0:
            raise VideoError(f"{self.info.path}: no video frames could be decoded"
                             f"{f' after frame {a}' if a else ''}")
        chained = a > 0 and not meta["starts_cut"]
        prev = tails.get(k - 1)
        if a > 0 and prev is None:
            raise AssertionError(f"chunk {k}: the previous chunk's hand-over is missing")
        frames, tail = self.stab_fn.remote(self.job, a, frames_refs[k][1], prev if chained else None)
        tails[k] = tail
        encodes[self.encode_fn.remote(self.job, a, frames, tail, prev, not meta["has_next"])] = k

    def _finish(self, src: Path, dst: Path, done: int, frames_before: int, keep_audio: bool, keep_parts: bool,
                timing: dict) -> FilmReport:
        work = self.work
        k = work.finished_chunks()
        counts, cuts_all = [], []
        st = None
        for c in range(k):
            st = work.load_state(c)
            counts.append(int(st["chunk_out"]))
            cuts_all += [int(v) for v in st["cuts"]]
        if st is None or not bool(st["final"]):
            raise AssertionError(f"{work.path}: the chunks end before the film does")
        next_in, next_out = int(st["frames_in"]), int(st["frames_out"])
        audio = self.info.audio_streams if keep_audio else 0
        t = time.perf_counter()
        concat_chunks([work.video(c) for c in range(k)], dst, fps=self.job["fps_out"], frame_counts=counts,
                      audio_src=src if audio else None, audio_offset=self.info.start_time,
                      audio_end=float(Fraction(next_in) / self.info.fps))
        timing["mux"] += time.perf_counter() - t
        if not keep_parts:
            work.remove()
        return FilmReport(output=dst, frames_in=next_in, frames_out=next_out, fps_in=self.info.fps,
                          fps_out=self.job["fps_out"], chunks=k, resumed_chunks=done, scene_cuts=cuts_all,
                          audio_streams=audio, seconds=dict(timing), frames_this_run=next_in - frames_before)
