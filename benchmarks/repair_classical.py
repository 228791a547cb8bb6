"""Measure the classical (no-download) repair mode on real old photos with synthetic scratches and dust.

For each photo in ``../shared/data/old/{bw,faded}`` (no visible damage of their own), draw seeded random
scratches and dust (:func:`restoration_lib.repair.classical.add_synthetic_damage`), then:

- detector precision and recall per pixel against the ground-truth mask, strictly and with a 2-px tolerance
  (a detected pixel within 2 px of damage counts as correct, a damaged pixel within 2 px of a detection counts
  as found). Ground truth = damage that is visible: coverage >= 50% of the pixel and a luminance change of at
  least 12 gray levels (damage drawn on a same-coloured background cannot and need not be found);
- the share of a *clean* photo's pixels that the detector flags (false alarms with no damage at all);
- the mean absolute error (gray levels, RGB) inside the ground-truth scratches against the clean photo: the
  damaged photo, after inpainting the detected mask, and after inpainting the true mask (the inpainting's own
  limit); and outside the scratches after inpainting the detected mask (what false alarms cost);
- detection and full-repair time in seconds per megapixel.

    PYTHONPATH=. python benchmarks/repair_classical.py [--seeds 0 1 2] [--limit N]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import print_table  # noqa: E402
from restoration_lib.repair.classical import (  # noqa: E402
    add_synthetic_damage,
    classical_repair,
    detect_scratches_classical,
    inpaint,
)


def visible_damage(clean: np.ndarray, damaged: np.ndarray, mask: np.ndarray, min_delta: int = 12) -> np.ndarray:
    """Ground truth: drawn damage whose luminance differs from the clean photo by >= ``min_delta`` levels."""
    w = np.array([0.299, 0.587, 0.114])
    delta = np.abs(damaged.astype(np.float64) @ w - clean.astype(np.float64) @ w)
    return (mask > 0) & (delta >= min_delta)


def detection_scores(truth: np.ndarray, found: np.ndarray, tol: int = 2) -> dict[str, float]:
    import cv2

    tp = float((truth & found).sum())
    k = np.ones((2 * tol + 1, 2 * tol + 1), np.uint8)
    near_truth = cv2.dilate(truth.astype(np.uint8), k) > 0
    near_found = cv2.dilate(found.astype(np.uint8), k) > 0
    nf, nt = max(float(found.sum()), 1.0), max(float(truth.sum()), 1.0)
    return {
        "precision": tp / nf,
        "recall": tp / nt,
        "precision_tol": float((found & near_truth).sum()) / nf,
        "recall_tol": float((truth & near_found).sum()) / nt,
    }


def mae(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    if not where.any():
        return float("nan")
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64))[where].mean())


def evaluate(clean: np.ndarray, seed: int) -> dict[str, float]:
    damaged, drawn = add_synthetic_damage(clean, seed=seed)
    truth = visible_damage(clean, damaged, drawn)
    t0 = time.perf_counter()
    found = detect_scratches_classical(damaged) > 0
    t_detect = time.perf_counter() - t0
    t0 = time.perf_counter()
    classical_repair(damaged)
    t_full = time.perf_counter() - t0
    fixed = inpaint(damaged, found)
    oracle = inpaint(damaged, drawn)
    mp = clean.shape[0] * clean.shape[1] / 1e6
    row = detection_scores(truth, found)
    row.update(
        clean_flagged=float((detect_scratches_classical(clean) > 0).mean()),
        err_damaged=mae(damaged, clean, truth),
        err_inpainted=mae(fixed, clean, truth),
        err_oracle=mae(oracle, clean, truth),
        err_outside=mae(fixed, clean, ~(drawn > 0)),
        s_per_mp_detect=t_detect / mp,
        s_per_mp_repair=t_full / mp,
    )
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "old"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--limit", type=int, default=0, help="use only the first N photos")
    args = ap.parse_args()
    from PIL import Image

    data = Path(args.data)
    files = sorted((data / "bw").glob("*.png")) + sorted((data / "faded").glob("*.png"))
    if not files:
        print(f"no photos under {data} (the shared data sits beside the project only in dev checkouts)")
        return 1
    if args.limit:
        files = files[: args.limit]
    keys = ["precision", "recall", "precision_tol", "recall_tol", "clean_flagged", "err_damaged", "err_inpainted",
            "err_oracle", "err_outside", "s_per_mp_detect", "s_per_mp_repair"]
    headers = ["precision", "recall", "prec ±2px", "recall ±2px", "clean flagged", "MAE damaged", "MAE inpainted",
               "MAE true-mask inpaint", "MAE outside", "detect s/MP", "repair s/MP"]

    def cells(values) -> list[str]:
        return [f"{v:.2f}" if k.startswith("s_") else (f"{100 * v:.1f}%" if k in keys[:5] else f"{v:.1f}")
                for k, v in zip(keys, values)]

    rows, groups = [], {}
    for i, f in enumerate(files):
        clean = np.asarray(Image.open(f).convert("RGB"))
        for seed in args.seeds:
            r = evaluate(clean, seed * 1000 + i)
            values = [r[k] for k in keys]
            groups.setdefault(f.parent.name, []).append(values)
            rows.append([f"{f.parent.name}/{f.stem}", seed, f"{clean.shape[1]}x{clean.shape[0]}", *cells(values)])
    every = [v for g in groups.values() for v in g]
    summary = [[name, len(g), *cells(np.nanmean(np.array(g), axis=0))] for name, g in groups.items()]
    summary.append(["all", len(every), *cells(np.nanmean(np.array(every), axis=0))])
    print(f"Classical repair on {len(files)} real photos x {len(args.seeds)} seeds of synthetic damage (means)\n")
    print_table(["photos", "cases", *headers], summary)
    print("\nPer photo\n")
    print_table(["photo", "seed", "size", *headers], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
