"""Folders of photos: restore each, skip what an earlier run finished, report failures, write a contact sheet."""
from __future__ import annotations

import hashlib
import html
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import cv2
import numpy as np

from ..errors import ImageWriteError, MissingWeightsError
from ..io import atomic_path, read_image, write_image
from .options import ColorizeOptions, RepairOptions
from .photo import PhotoPipeline

__all__ = ["restore_folder", "FolderReport", "IMAGE_SUFFIXES", "MANIFEST_NAME", "CONTACT_SHEET_NAME"]

PathLike = Union[str, os.PathLike]

#: File suffixes taken as photos.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
#: The record of finished photos in the output folder.
MANIFEST_NAME = ".restoration-manifest.json"
#: The contact sheet written at the end.
CONTACT_SHEET_NAME = "index.html"
_THUMBS = "thumbs"
_THUMB_SIDE = 256


@dataclass
class FolderReport:
    """What :func:`restore_folder` did.

    Attributes:
        done: inputs restored in this run.
        skipped: inputs whose output an earlier run had already written with the same settings.
        failed: (input, error message) for inputs that could not be restored; the others went on.
        ignored: (file, reason) for files of ``src`` that were not taken as photos (e.g. ``.gif``, ``.txt``).
        outputs: input → output path for every restored photo (this run and earlier).
        contact_sheet: the HTML page of before/after thumbnails (None if not written).
        seconds: total wall time.
    """

    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    ignored: list[tuple[Path, str]] = field(default_factory=list)
    outputs: dict[Path, Path] = field(default_factory=dict)
    contact_sheet: Optional[Path] = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _list_inputs(src: Path, dst: Path, recursive: bool,
                 ignored: Optional[list[tuple[Path, str]]] = None) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    dst_r = dst.resolve()
    out = []
    for p in sorted(src.glob(pattern)):
        if not p.is_file():
            continue
        rel = p.relative_to(src)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if dst_r == p.resolve().parent or dst_r in p.resolve().parents:
            continue  # our own outputs when dst is inside src
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            if ignored is not None:
                ignored.append((p, f"{p.suffix or 'no suffix'}: not a photo format "
                                   f"({' '.join(IMAGE_SUFFIXES)})"))
            continue
        out.append(p)
    return out


def _output_names(src: Path, inputs: list[Path]) -> dict[Path, Path]:
    """Relative output path of each input: same folders and stem, ``.png``; ``name.ext.png`` when stems clash."""
    by_target: dict[Path, list[Path]] = {}
    for p in inputs:
        by_target.setdefault(p.relative_to(src).with_suffix(".png"), []).append(p)
    names = {}
    for target, group in by_target.items():
        for p in group:
            names[p] = target if len(group) == 1 else p.relative_to(src).with_name(p.name + ".png")
    return names


def _write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))


def _thumb(rgb: np.ndarray, side: int = _THUMB_SIDE) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(1.0, side / max(h, w))
    if s < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return rgb


def _rel_url(target: Path, start: Path) -> str:
    try:
        rel = os.path.relpath(target.resolve(), start.resolve())
    except ValueError:  # another drive on Windows
        return target.resolve().as_uri()
    return "/".join(html.escape(part, quote=True) for part in Path(rel).parts)


def _contact_sheet(dst: Path, src: Path, rows: list[dict], failed: list[tuple[Path, str]], settings: dict) -> Path:
    """Write ``dst/index.html``: one row per photo, before and after thumbnails linking to the full images."""
    out = dst / CONTACT_SHEET_NAME
    cells = []
    for r in rows:
        name = html.escape(str(r["rel"]))
        cells.append(
            "<tr>"
            f"<td class=name>{name}</td>"
            f"<td><a href=\"{_rel_url(r['input'], dst)}\"><img src=\"{_rel_url(r['thumb_before'], dst)}\" "
            f"alt=\"before: {name}\" loading=lazy></a></td>"
            f"<td><a href=\"{_rel_url(r['output'], dst)}\"><img src=\"{_rel_url(r['thumb_after'], dst)}\" "
            f"alt=\"after: {name}\" loading=lazy></a></td>"
            "</tr>"
        )
    fails = "".join(
        f"<li><b>{html.escape(str(p.relative_to(src) if p.is_relative_to(src) else p))}</b>: "
        f"{html.escape(msg)}</li>"
        for p, msg in failed
    )
    page = f"""<!DOCTYPE html>
<html lang=en><head><meta charset=utf-8><title>Restored photos</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222 }}
table {{ border-collapse: collapse }}
td, th {{ padding: 6px 10px; border-bottom: 1px solid #ddd; vertical-align: middle }}
img {{ max-width: {_THUMB_SIDE}px; max-height: {_THUMB_SIDE}px; display: block }}
.name {{ font-family: monospace; max-width: 18em; word-break: break-all }}
.failed {{ color: #a00 }} .settings {{ color: #666; font-size: 90% }}
</style></head><body>
<h1>Restored photos</h1>
<p>{len(rows)} restored{f", {len(failed)} failed" if failed else ""}. Click a thumbnail for the full image.</p>
<p class=settings>Settings: {html.escape(json.dumps(settings, sort_keys=True))}</p>
<table><thead><tr><th>photo</th><th>before</th><th>after</th></tr></thead><tbody>
{chr(10).join(cells)}
</tbody></table>
{f"<h2 class=failed>Failed</h2><ul class=failed>{fails}</ul>" if failed else ""}
</body></html>
"""
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out


def restore_folder(
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
    pipeline: Optional[PhotoPipeline] = None,
    max_pixels: Optional[int] = None,
    engine: str = "local",
    address: Optional[str] = None,
) -> FolderReport:
    """Restore every photo in a folder into another folder.

    Outputs are PNG files with the inputs' names (and sub-folders with ``recursive``), written atomically. A
    re-run skips photos whose output exists and whose input bytes and settings match the record an earlier run
    left in ``dst/.restoration-manifest.json``. A photo that fails (unreadable, corrupt, a stage error) is reported
    and the others go on. At the end ``dst/index.html`` shows before/after thumbnails of every restored photo with
    relative links (the folder can be moved together with ``src``).

    Args:
        src: folder of photos (``.png .jpg .jpeg .tif .tiff .bmp .webp``; hidden files ignored).
        dst: output folder (created; may be inside ``src``, whose outputs are then not taken as inputs).
        repair, colorize: stage options as for :func:`restore_photo`.
        device, precision, weights_dir: as for :func:`restore_photo`.
        recursive: include sub-folders.
        contact_sheet: write ``index.html`` and thumbnails.
        progress: show a progress bar.
        pipeline: an already built :class:`PhotoPipeline` (then ``repair``, ``colorize``, ``device``,
            ``precision`` and ``weights_dir`` are not used).
        max_pixels: decode budget per photo (default :data:`restoration_lib.io.MAX_PIXELS`); a photo whose
            header declares more is reported as failed without being decoded.
        engine: ``"local"`` (this process) or ``"ray"`` (Ray actors; see
            :func:`restoration_lib.distributed.restore_folder_ray` for workers and resources).
        address: with ``engine="ray"``: ``None`` starts a local Ray runtime, ``"host:port"`` joins a cluster.

    Returns:
        A :class:`FolderReport`.

    Raises:
        NotADirectoryError: ``src`` is not a folder.
        ImageWriteError: ``dst`` is ``src`` itself.
        MissingWeightsError: a stage's checkpoint is missing (raised before any photo is processed).
    """
    from tqdm.auto import tqdm

    if engine != "local":
        from ..distributed import restore_folder_ray, unknown_engine

        if engine != "ray":
            raise unknown_engine(engine)
        return restore_folder_ray(src, dst, repair=repair, colorize=colorize, device=device, precision=precision,
                                  weights_dir=weights_dir, recursive=recursive, contact_sheet=contact_sheet,
                                  progress=progress, pipeline=pipeline, address=address)
    t0 = time.perf_counter()
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise NotADirectoryError(f"{src} is not a folder")
    if dst.resolve() == src.resolve():
        raise ImageWriteError(f"{dst}: the output folder must differ from the input folder")
    pipe = pipeline or PhotoPipeline(repair, colorize, device=device, precision=precision, weights_dir=weights_dir)
    settings = pipe.describe()
    dst.mkdir(parents=True, exist_ok=True)
    manifest_path = dst / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text())
        entries = manifest.get("photos", {}) if isinstance(manifest, dict) else {}
    except (OSError, ValueError):
        entries = {}
    report = FolderReport()
    inputs = _list_inputs(src, dst, recursive, report.ignored)
    names = _output_names(src, inputs)
    budget = {} if max_pixels is None else {"max_pixels": int(max_pixels)}
    rows = []
    bar = tqdm(inputs, unit="photo", desc=f"restore {src.name}", disable=not progress, dynamic_ncols=True)
    for p in bar:
        rel = p.relative_to(src).as_posix()
        out = dst / names[p]
        thumbs = (dst / _THUMBS / names[p]).with_suffix("")
        t_before, t_after = Path(f"{thumbs}.before.jpg"), Path(f"{thumbs}.after.jpg")
        try:
            digest = _sha256(p)
            e = entries.get(rel)
            if e and e.get("sha256") == digest and e.get("settings") == settings and out.is_file():
                report.skipped.append(p)
                if contact_sheet and not (t_before.is_file() and t_after.is_file()):
                    write_image(t_before, _thumb(read_image(p).rgb))
                    write_image(t_after, _thumb(read_image(out).rgb))
            else:
                result = pipe(read_image(p, **budget))
                write_image(out, result.final, alpha=result.alpha, protect=[p])
                if contact_sheet:
                    write_image(t_before, _thumb(result.input))
                    write_image(t_after, _thumb(result.final))
                entries[rel] = {"sha256": digest, "settings": settings, "output": names[p].as_posix()}
                _write_json(manifest_path, {"format": 1, "photos": entries})
                report.done.append(p)
            report.outputs[p] = out
            rows.append({"rel": rel, "input": p, "output": out, "thumb_before": t_before, "thumb_after": t_after})
        except MissingWeightsError:
            raise  # a setup problem, not this photo's: every other photo would fail the same way
        except Exception as err:  # noqa: BLE001 - one bad photo must not stop the batch; it is reported
            msg = f"{type(err).__name__}: {err}".strip()
            report.failed.append((p, msg))
            first = msg.splitlines()[0] if msg else type(err).__name__
            bar.write(f"failed: {first if str(p) in first else f'{p}: {first}'}")  # the file named once
    bar.close()
    if contact_sheet:
        report.contact_sheet = _contact_sheet(dst, src, rows, report.failed, settings)
    report.seconds = time.perf_counter() - t0
    return report
