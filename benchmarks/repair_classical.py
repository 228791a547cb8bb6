"""Measure the classical (no-download) scratch-and-dust repair on clean real photos with synthetic damage.

For each clean colour photo in ``../shared/data/color/`` (Kodak, scikit-image), draw seeded damage with the
benchmark's own generator (``benchmarks/_damage.py``: branching cracks, wavy dark/light scratches of varied
width and contrast, irregular dust blobs, film lines; kinds the library's generators do not make), then run
the scratch-and-dust repair **alone** (``classical_repair(..., denoise=0, contrast=0)``) and report:

- PSNR (dB, RGB) over the damaged pixels: of the damaged photo, after our repair, and after OpenCV inpainting
  (Telea, radius 3) given the TRUE damage mask (the oracle, an upper bound for a detect-then-inpaint repair);
- ``gain ratio`` = (our PSNR − damaged PSNR) / (oracle PSNR − damaged PSNR) over the damaged pixels (goal:
  ≥ 0.5 on average);
- PSNR over the UNDAMAGED pixels after our repair (goal: ≥ 40 dB on every photo; the damaged photo's is
  infinite there, since the generator leaves those pixels exactly as they were);
- the detector's pixel precision and recall against the true mask, and the share of a clean photo that it
  flags (false alarms with no damage at all);
- the repair's time per megapixel, relative to one 512×512 float32 matmul measured in the same run.

``--generator library`` uses the library's own ``add_synthetic_damage`` instead (a second table).
``--sheet PATH`` instead writes the before/after sheet of the four real scratched photos of
``../shared/data/old/scratched/`` (input, detected mask, repaired) with a crop of ``b.png``'s face, for the docs.

    PYTHONPATH=. python benchmarks/repair_classical.py [--seeds 0 1] [--limit N] [--generator ours|library]
    PYTHONPATH=. python benchmarks/repair_classical.py --sheet docs/images/repair_classical_sheet.jpg
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import matmul_rate, print_table  # noqa: E402
from benchmarks._damage import add_damage  # noqa: E402
from restoration_lib.repair.classical import (  # noqa: E402
    add_synthetic_damage,
    classical_repair,
    detect_scratches_classical,
    inpaint,
)


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """PSNR in dB between uint8 RGB images over the pixels ``where`` (all three channels), at most 99."""
    if not where.any():
        return float("nan")
    err = (a.astype(np.float64) - b.astype(np.float64))[where]
    mse = float((err**2).mean())
    return min(99.0, 10 * np.log10(255.0**2 / max(mse, 1e-12)))  # 99 dB: unchanged


def evaluate(clean: np.ndarray, seed: int, generator: str) -> dict[str, float]:
    if generator == "ours":
        damaged, truth = add_damage(clean, seed=seed)
    else:
        damaged, drawn = add_synthetic_damage(clean, seed=seed)
        truth = (drawn > 0) | np.any(damaged != clean, axis=2)
    t0 = time.perf_counter()
    fixed, mask = classical_repair(damaged, denoise=0, contrast=0)
    seconds = time.perf_counter() - t0
    found = mask > 0
    oracle = inpaint(damaged, truth)
    before = psnr(damaged, clean, truth)
    ours = psnr(fixed, clean, truth)
    best = psnr(oracle, clean, truth)
    return {
        "psnr_before": before,
        "psnr_ours": ours,
        "psnr_oracle": best,
        "gain_ratio": (ours - before) / max(best - before, 1e-6),
        "psnr_undamaged": psnr(fixed, clean, ~truth),
        "precision": float((found & truth).sum()) / max(float(found.sum()), 1.0),
        "recall": float((found & truth).sum()) / max(float(truth.sum()), 1.0),
        "clean_flagged": float((detect_scratches_classical(clean) > 0).mean()),
        "damaged_share": float(truth.mean()),
        "s_per_mp": seconds / (clean.shape[0] * clean.shape[1] / 1e6),
    }


KEYS = ["damaged_share", "psnr_before", "psnr_ours", "psnr_oracle", "gain_ratio", "psnr_undamaged", "precision",
        "recall", "clean_flagged"]
HEADERS = ["damaged px", "PSNR dmg before", "PSNR dmg ours", "PSNR dmg oracle", "gain / oracle gain",
           "PSNR undamaged", "precision", "recall", "clean flagged"]


def cells(r: dict[str, float]) -> list[str]:
    out = []
    for k in KEYS:
        v = r[k]
        out.append(f"{100 * v:.2f}%" if k in ("damaged_share", "precision", "recall", "clean_flagged")
                   else f"{v:.2f}" if k == "gain_ratio" else f"{v:.1f}")
    return out


def sheet(path: Path, data: Path) -> int:
    """Before/after sheet of the real scratched photos: input | detected mask | repaired, and b.png's face."""
    from PIL import Image, ImageDraw

    from restoration_lib.io import atomic_path

    files = [data / f"{n}.png" for n in "abcd"]
    if not all(f.is_file() for f in files):
        print(f"the scratched photos are not under {data}")
        return 1
    rows, row_h = [], 300
    face = None
    for f in files:
        img = np.asarray(Image.open(f).convert("RGB"))
        fixed, mask = classical_repair(img)  # the defaults a user gets
        overlay = img.copy()
        overlay[mask > 0] = (255, 0, 255)
        tiles = [img, overlay, fixed]
        if f.stem == "b":  # the face: mouth, eyes and nose must stay sharp
            face = [t[60:200, 60:200] for t in (img, fixed)]
        s = row_h / img.shape[0]
        size = (round(img.shape[1] * s), row_h)
        rows.append(np.hstack([np.asarray(Image.fromarray(t).resize(size, Image.LANCZOS)) for t in tiles]))
    width = max(r.shape[1] for r in rows)
    canvas = np.full((sum(r.shape[0] for r in rows) + 2 * row_h + 24, width, 3), 255, np.uint8)
    y = 24
    for r in rows:
        canvas[y:y + r.shape[0], : r.shape[1]] = r
        y += r.shape[0]
    crop = np.hstack([np.asarray(Image.fromarray(c).resize((2 * row_h, 2 * row_h), Image.LANCZOS)) for c in face])
    canvas[y:y + crop.shape[0], : crop.shape[1]] = crop
    out = Image.fromarray(canvas)
    ImageDraw.Draw(out).text((6, 6), "input | detected mask (magenta) | classical repair (defaults)", fill=(0, 0, 0))
    ImageDraw.Draw(out).text((6, y + 4), "b.png face: input | repaired", fill=(255, 255, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        out.save(tmp, format="JPEG", quality=85)
    print(f"wrote {path}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "color"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--limit", type=int, default=0, help="use only the first N photos")
    ap.add_argument("--generator", choices=["ours", "library"], default="ours")
    ap.add_argument("--sheet", type=Path, help="write the before/after sheet of the real scratched photos here")
    args = ap.parse_args()
    if args.sheet:
        return sheet(args.sheet, Path(args.data).parent / "old" / "scratched")
    from PIL import Image

    data = Path(args.data)
    files = sorted(p for p in data.rglob("*") if p.suffix.lower() in (".png", ".jpg"))
    if not files:
        print(f"no photos under {data} (the shared data sits beside the project only in dev checkouts)")
        return 1
    if args.limit:
        files = files[: args.limit]
    flops = matmul_rate(n=512)
    rows, every = [], []
    for i, f in enumerate(files):
        clean = np.asarray(Image.open(f).convert("RGB"))
        for seed in args.seeds:
            r = evaluate(clean, seed * 1000 + i, args.generator)
            every.append(r)
            rows.append([f"{f.parent.name}/{f.stem}", seed, f"{clean.shape[1]}x{clean.shape[0]}", *cells(r),
                         f"{r['s_per_mp'] * flops / 2 / 512**3:.0f}"])
    mean = {k: float(np.mean([r[k] for r in every])) for k in every[0]}
    worst = min(r["psnr_undamaged"] for r in every)
    print(f"Classical scratch-and-dust repair (denoise=0, contrast=0) on {len(files)} clean photos x "
          f"{len(args.seeds)} seeds, damage generator: {args.generator}\n")
    print_table(["photo", "seed", "size", *HEADERS, "time / 512³ matmul per MP"], rows)
    print()
    print_table(["cases", *HEADERS, "worst PSNR undamaged"], [[len(every), *cells(mean), f"{worst:.1f}"]])
    ok = mean["gain_ratio"] >= 0.5 and worst >= 40
    print(f"\ngoals (mean gain ratio >= 0.5, every undamaged PSNR >= 40 dB): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
