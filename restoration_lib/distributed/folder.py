"""A folder of photos on a Ray cluster: one actor per worker holds the models, the driver writes every file."""
from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path
from typing import Any, Optional

from ..errors import ImageWriteError, MissingWeightsError
from ..io import read_image, write_image
from ..pipeline import folder as _local
from ..pipeline.folder import FolderReport, PathLike
from ..pipeline.options import ColorizeOptions, RepairOptions
from .runtime import connected, plan_resources, require_ray, unwrap, use_threads

__all__ = ["restore_folder_ray"]

_IN_FLIGHT = 2  # photos queued per actor, so the next one's bytes travel while this one is restored


class PhotoWorker:
    """Ray actor: builds the photo pipeline once (on its node's device) and restores photos sent as bytes."""

    def __init__(self, spec: dict):
        from ..pipeline.photo import PhotoPipeline

        use_threads(spec.get("num_cpus", 1))
        self.error: Optional[Exception] = None
        try:
            self.pipe = spec["pipeline"] or PhotoPipeline(
                spec["repair"], spec["colorize"], device=spec["device"], precision=spec["precision"],
                weights_dir=spec["weights_dir"])
        except Exception as err:  # noqa: BLE001 - reported to the driver by describe()
            self.pipe, self.error = None, err

    def describe(self) -> dict:
        if self.error is not None:
            raise self.error
        return self.pipe.describe()

    def restore(self, data: bytes, thumbs: bool) -> dict:
        """Restore one photo given as its file's bytes; returns the arrays the driver writes."""
        if self.error is not None:
            raise self.error
        result = self.pipe(read_image(data))
        out = {"final": result.final, "alpha": result.alpha, "settings": self.pipe.describe()}
        if thumbs:
            out["thumb_before"] = _local._thumb(result.input)
            out["thumb_after"] = _local._thumb(result.final)
        return out


def restore_folder_ray(
    src: PathLike,
    dst: PathLike,
    *,
    repair: Any = RepairOptions(),
    colorize: Any = ColorizeOptions(),
    device=None,
    precision: str = "exact",
    weights_dir: Optional[PathLike] = None,
    recursive: bool = False,
    contact_sheet: bool = True,
    progress: bool = True,
    pipeline: Any = None,
    address: Optional[str] = None,
    workers: Optional[int] = None,
    num_gpus: Optional[float] = None,
    num_cpus: Optional[float] = None,
) -> FolderReport:
    """:func:`~restoration_lib.pipeline.restore_folder` with the photos restored by Ray actors.

    The driver (this process) lists the folder, skips what the manifest says is finished, sends each remaining
    photo's bytes to an actor (no shared file system needed), and writes outputs, thumbnails and the manifest
    atomically as results come back, so the output folder is the same as a single-machine run's and a re-run
    (with either engine) skips finished photos. Each actor builds the stages once, on its node's device
    (``device=None``: the GPU Ray gives it, else the CPU). An actor that dies is restarted and its photo retried.

    Args:
        src, dst, repair, colorize, device, precision, weights_dir, recursive, contact_sheet, progress, pipeline:
            as for :func:`~restoration_lib.pipeline.restore_folder` (``pipeline`` is sent to every actor).
        address: ``None`` starts a local Ray runtime; ``"auto"`` or ``"host:port"`` joins a running cluster.
        workers: number of actors (default: one per GPU of the cluster, else one per ``num_cpus`` cores).
        num_gpus: GPUs per actor (default 1 when the cluster has GPUs, else 0).
        num_cpus: CPU cores per actor (default 1).

    Returns:
        A :class:`~restoration_lib.pipeline.FolderReport` (lists in input order).

    Raises:
        RayUnavailableError: Ray is not installed.
        NotADirectoryError, ImageWriteError, MissingWeightsError: as the single-machine run.
    """
    from tqdm.auto import tqdm

    require_ray()
    t0 = time.perf_counter()
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise NotADirectoryError(f"{src} is not a folder")
    if dst.resolve() == src.resolve():
        raise ImageWriteError(f"{dst}: the output folder must differ from the input folder")
    with connected(address) as ray:
        res = plan_resources(ray, workers, num_gpus, num_cpus)
        spec = ray.put({"pipeline": pipeline, "repair": repair, "colorize": colorize, "device": device,
                        "precision": precision, "weights_dir": weights_dir, "num_cpus": res.num_cpus})
        actor_cls = ray.remote(PhotoWorker).options(max_restarts=3, max_task_retries=3, scheduling_strategy="SPREAD",
                                                    **res.options())
        actors = [actor_cls.remote(spec) for _ in range(res.workers)]
        try:
            try:
                settings = ray.get(actors[0].describe.remote())
            except ray.exceptions.RayTaskError as err:
                raise unwrap(ray, err) from None
            return _run(ray, actors, src, dst, settings, recursive, contact_sheet, progress, tqdm, t0)
        finally:
            for a in actors:
                ray.kill(a)


def _run(ray, actors, src: Path, dst: Path, settings: dict, recursive: bool, contact_sheet: bool, progress: bool,
         tqdm, t0: float) -> FolderReport:
    dst.mkdir(parents=True, exist_ok=True)
    manifest_path = dst / _local.MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text())
        entries = manifest.get("photos", {}) if isinstance(manifest, dict) else {}
    except (OSError, ValueError):
        entries = {}
    inputs = _local._list_inputs(src, dst, recursive)
    names = _local._output_names(src, inputs)
    report = FolderReport()
    order = {p: i for i, p in enumerate(inputs)}
    rows: dict[Path, dict] = {}
    todo: deque = deque()
    bar = tqdm(total=len(inputs), unit="photo", desc=f"restore {src.name} (ray)", disable=not progress,
               dynamic_ncols=True)

    def paths(p: Path):
        thumbs = (dst / _local._THUMBS / names[p]).with_suffix("")
        return dst / names[p], Path(f"{thumbs}.before.jpg"), Path(f"{thumbs}.after.jpg")

    def row(p: Path) -> None:
        out, t_before, t_after = paths(p)
        report.outputs[p] = out
        rows[p] = {"rel": p.relative_to(src).as_posix(), "input": p, "output": out, "thumb_before": t_before,
                   "thumb_after": t_after}

    def fail(p: Path, err: Exception) -> None:
        msg = f"{type(err).__name__}: {err}".strip()
        report.failed.append((p, msg))
        bar.write(f"failed: {p}: {msg.splitlines()[0]}")

    for p in inputs:  # what an earlier run finished is skipped here, without the cluster
        out, t_before, t_after = paths(p)
        try:
            digest = _local._sha256(p)
            e = entries.get(p.relative_to(src).as_posix())
            if e and e.get("sha256") == digest and e.get("settings") == settings and out.is_file():
                if contact_sheet and not (t_before.is_file() and t_after.is_file()):
                    write_image(t_before, _local._thumb(read_image(p).rgb))
                    write_image(t_after, _local._thumb(read_image(out).rgb))
                report.skipped.append(p)
                row(p)
                bar.update(1)
            else:
                todo.append((p, digest))
        except Exception as err:  # noqa: BLE001 - one bad photo must not stop the batch
            fail(p, err)
            bar.update(1)

    pending: dict[Any, tuple[Path, str, int]] = {}
    load = [0] * len(actors)

    def submit() -> None:
        while todo:
            a = min(range(len(actors)), key=load.__getitem__)
            if load[a] >= _IN_FLIGHT:
                return
            p, digest = todo.popleft()
            try:
                data = p.read_bytes()
            except OSError as err:
                fail(p, err)
                bar.update(1)
                continue
            pending[actors[a].restore.remote(data, contact_sheet)] = (p, digest, a)
            load[a] += 1

    try:
        submit()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            p, digest, a = pending.pop(ready[0])
            load[a] -= 1
            submit()
            try:
                r = ray.get(ready[0])
                out, t_before, t_after = paths(p)
                write_image(out, r["final"], alpha=r["alpha"], protect=[p])
                if contact_sheet:
                    write_image(t_before, r["thumb_before"])
                    write_image(t_after, r["thumb_after"])
                entries[p.relative_to(src).as_posix()] = {"sha256": digest, "settings": r["settings"],
                                                          "output": names[p].as_posix()}
                _local._write_json(manifest_path, {"format": 1, "photos": entries})
                report.done.append(p)
                row(p)
            except ray.exceptions.RayTaskError as err:
                cause = unwrap(ray, err)
                if isinstance(cause, MissingWeightsError):
                    raise cause from None
                fail(p, cause)
            except MissingWeightsError:
                raise
            except Exception as err:  # noqa: BLE001 - e.g. an output that cannot be written; the others go on
                fail(p, err)
            bar.update(1)
    finally:
        bar.close()
    report.done.sort(key=order.__getitem__)
    report.skipped.sort(key=order.__getitem__)
    report.failed.sort(key=lambda f: order[f[0]])
    if contact_sheet:
        report.contact_sheet = _local._contact_sheet(dst, src, [rows[p] for p in inputs if p in rows], report.failed,
                                                     settings)
    report.seconds = time.perf_counter() - t0
    return report
