"""Colour from hints: quality and speed against Levin et al. (2004), hints on a network, memory at 3000×2000.

    PYTHONPATH=. python benchmarks/hints.py [--photos N] [--skip-network] [--skip-memory]

1. Real colour photos (``../shared/data/color/kodak``) made gray (BT.601 luma, rounded); 10, 100 and 1,000
   hints at seeded random pixels, coloured with the true colours. PSNR (RGB, uint8) against the true colour
   photo, and seconds per megapixel, for: the gray photo, each pixel painted with the nearest hint's chroma,
   the reference Levin et al. (``benchmarks/_levin.py``: authors' weights, exact SuperLU solve) and
   :func:`restoration_lib.colorize.hints.colorize_with_hints`, all in the same run.
2. Hints on a network: DeOldify artistic (published weights when on disk, else make_checkpoint's stand-in)
   at render_factor 16, alone and with ``base=`` its output plus 100 true-colour hints.
3. Peak RSS of one ``colorize_with_hints`` call on a 3000×2000 photo with 100 hints, in a fresh subprocess
   (``resource.getrusage``), beside the same subprocess's RSS before the call.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table  # noqa: E402
from _levin import levin_colorize  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RESTORATION_SHARED", ROOT.parent / "shared"))
COUNTS = (10, 100, 1000)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def to_gray(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.round(rgb @ np.array([0.299, 0.587, 0.114])), 0, 255).astype(np.uint8)


def sample_hints(rgb: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, list]:
    h, w = rgb.shape[:2]
    idx = np.random.default_rng(seed).choice(h * w, n, replace=False)
    yx = np.stack([idx // w, idx % w], 1)
    return yx, [(int(y), int(x), tuple(int(c) for c in rgb[y, x])) for y, x in yx]


def nearest_hint(gray: np.ndarray, yx: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Each pixel gets the chroma of the nearest hint (Euclidean in pixels), on its own luma."""
    from scipy.spatial import cKDTree

    from restoration_lib.colorize.hints import _chroma, _finish, luma

    h, w = gray.shape
    cols = rgb[yx[:, 0], yx[:, 1]].astype(np.float32) / 255
    ch = _chroma(cols, luma(cols))  # 2, N
    grid = np.stack(np.mgrid[0:h, 0:w], -1).reshape(-1, 2)
    _, k = cKDTree(yx).query(grid)
    return _finish(gray.astype(np.float32) / 255, ch[:, k].reshape(2, h, w))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def quality(photos: list[Path]) -> None:
    from restoration_lib.colorize.hints import colorize_with_hints

    acc: dict = {}
    for i, f in enumerate(photos):
        rgb = np.asarray(Image.open(f).convert("RGB"))
        gray = to_gray(rgb)
        mp = gray.size / 1e6
        acc.setdefault(("gray", 0), []).append((psnr(np.repeat(gray[..., None], 3, 2), rgb), 0.0))
        for n in COUNTS:
            yx, hints = sample_hints(rgb, n, seed=1000 * i + n)
            out, t = timed(lambda: nearest_hint(gray, yx, rgb))
            acc.setdefault(("nearest", n), []).append((psnr(out, rgb), t / mp))
            out, t = timed(lambda: levin_colorize(gray, yx, rgb[yx[:, 0], yx[:, 1]]))
            acc.setdefault(("levin", n), []).append((psnr(out, rgb), t / mp))
            out, t = timed(lambda: colorize_with_hints(gray, hints).image)
            acc.setdefault(("ours", n), []).append((psnr(out, rgb), t / mp))
        print(f"  {f.name} done", file=sys.stderr)
    g = np.mean([p for p, _ in acc[("gray", 0)]])
    rows = []
    for n in COUNTS:
        m = {k: np.mean(np.array(acc[(k, n)]), axis=0) for k in ("nearest", "levin", "ours")}
        rows.append([n, f"{g:.2f}", f"{m['nearest'][0]:.2f}", f"{m['levin'][0]:.2f}", f"{m['ours'][0]:.2f}",
                     f"{m['levin'][1]:.2f}", f"{m['ours'][1]:.2f}", f"{m['levin'][1] / m['ours'][1]:.1f}×"])
    print(f"\n### Hints from the true colours, {len(photos)} photos of ../shared/data/color/kodak (mean PSNR, dB)\n")
    print_table(["hints", "gray", "nearest hint", "Levin et al. (exact)", "ours", "Levin s/MP", "ours s/MP",
                 "speed-up"], rows)


def network(photos: list[Path]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from colorize import _network  # the published DeOldify weights when on disk, else the stand-in

    from restoration_lib.colorize import Colorizer
    from restoration_lib.colorize.hints import colorize_with_hints

    net, kind = _network("artistic")[:2]
    col = Colorizer(net, device="cpu")
    rows = []
    for i, f in enumerate(photos):
        rgb = np.asarray(Image.open(f).convert("RGB"))
        gray = to_gray(rgb)
        base = np.asarray(col(np.repeat(gray[..., None], 3, 2), render_factor=16))[..., :3]
        _, hints = sample_hints(rgb, 100, seed=7 + i)
        (out, t) = timed(lambda: colorize_with_hints(gray, hints, base=base).image)
        alone, _ = timed(lambda: colorize_with_hints(gray, hints).image)
        rows.append([f.name, f"{psnr(base, rgb):.2f}", f"{psnr(out, rgb):.2f}", f"{psnr(alone, rgb):.2f}"])
    mean = np.array([[float(c) for c in r[1:]] for r in rows]).mean(0)
    rows.append(["mean", *(f"{v:.2f}" for v in mean)])
    print(f"\n### 100 true-colour hints on DeOldify artistic ({kind} weights, render_factor 16), PSNR dB\n")
    print_table(["photo", "network alone", "network + 100 hints (base=)", "100 hints, no network"], rows)


def memory_child() -> None:
    from restoration_lib.colorize.hints import colorize_with_hints

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:2000, 0:3000]
    gray = ((np.sin(xx / 97.0) * np.cos(yy / 53.0) + 1) * 100 + rng.normal(0, 5, (2000, 3000))).clip(0, 255).astype(np.uint8)
    hints = [(int(y), int(x), (200, 80, 40)) for y, x in zip(rng.integers(0, 2000, 100), rng.integers(0, 3000, 100))]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = time.perf_counter()
    colorize_with_hints(gray, hints)
    secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{before} {peak} {secs}")


def memory() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, __file__, "--memory-child"], capture_output=True, text=True, env=env,
                         check=True).stdout.split()
    before, peak, secs = int(out[0]), int(out[1]), float(out[2])
    print("\n### 3000×2000 photo, 100 hints (fresh process)\n")
    print_table(["peak RSS", "RSS before the call (imports, photo)", "seconds", "limit"],
                [[f"{peak / 2**30:.2f} GiB", f"{before / 2**30:.2f} GiB", f"{secs:.1f}", "2 GB"]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=12, help="how many kodak photos (default: all 12)")
    ap.add_argument("--network-photos", type=int, default=4)
    ap.add_argument("--skip-network", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child()
        return
    photos = sorted((SHARED / "data" / "color" / "kodak").glob("*.png"))
    if not photos:
        sys.exit(f"no photos in {SHARED / 'data' / 'color' / 'kodak'}")
    quality(photos[: args.photos])
    if not args.skip_network:
        network(photos[: args.network_photos])
    if not args.skip_memory:
        memory()


if __name__ == "__main__":
    main()
