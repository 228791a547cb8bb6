"""A second damage generator, for the classical-repair benchmark only (not the library's).

The library's own generators (``restoration_lib.samples.make_old`` and
``restoration_lib.repair.classical.add_synthetic_damage``) draw smooth Bézier or near-vertical polylines and round
discs at fixed light/dark levels. A detector tuned on them could learn their shapes; this one draws other kinds:

- ``crack``: branching, tortuous hairline cracks (a random walk that turns often and forks), 1–2 px, light
  (paper showing through) or dark (dirt in the fold), 40–100 % opacity;
- ``scratch``: long gently wavy scratches (a straight line plus two sinusoids), 1–5 px wide, dark or light, with a
  contrast that is a *shift* of 35–150 levels from the photo rather than a fixed level, tapering at the ends;
- ``speck``: dust as irregular blobs (a union of 1–5 small discs), 1–6 px, dark or light;
- ``film``: film-style vertical lines over the whole height, 1–2 px, with a slow sideways drift and a contrast
  that fades in and out along the line.

Every kind is drawn at 4× resolution as a coverage map (anti-aliased) and composited over the photo. The returned
mask holds every pixel whose coverage exceeds 2 %; every other pixel is left exactly as it was, so "undamaged
pixels" of the benchmark are exactly the clean photo's.
"""
from __future__ import annotations

import numpy as np

KINDS = ("crack", "scratch", "speck", "film")


def _draw(shape: tuple[int, int], ss: int, polylines: list[np.ndarray], width: float, discs=()) -> np.ndarray:
    import cv2

    h, w = shape
    hi = np.zeros((h * ss, w * ss), np.float32)
    for pts in polylines:
        cv2.polylines(hi, [np.round(pts * ss).astype(np.int32)], False, 1.0, max(1, int(round(width * ss))), cv2.LINE_AA)
    for (cx, cy), r in discs:
        cv2.circle(hi, (int(round(cx * ss)), int(round(cy * ss))), max(1, int(round(r * ss))), 1.0, -1, cv2.LINE_AA)
    return cv2.resize(hi, (w, h), interpolation=cv2.INTER_AREA)


def _crack(rng: np.random.Generator, h: int, w: int, scale: float) -> list[np.ndarray]:
    start = rng.uniform([0, 0], [w, h])
    lines, todo = [], [(start, rng.uniform(0, 2 * np.pi), rng.uniform(0.15, 0.45) * max(h, w))]
    while todo and len(lines) < 5:
        p, ang, length = todo.pop()
        pts, step = [p.copy()], 3.0 * scale
        for _ in range(int(length / step)):
            ang += rng.normal(0, 0.35)
            p = p + step * np.array([np.cos(ang), np.sin(ang)])
            pts.append(p.copy())
            if rng.random() < 0.015:
                todo.append((p.copy(), ang + rng.choice([-1, 1]) * rng.uniform(0.5, 1.2), length * rng.uniform(0.2, 0.5)))
        lines.append(np.array(pts))
    return lines


def _scratch(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    length = rng.uniform(0.3, 0.9) * max(h, w)
    p0 = rng.uniform([0, 0], [w, h])
    ang = rng.uniform(0, np.pi)
    t = np.linspace(0, 1, 300)[:, None]
    d = np.array([np.cos(ang), np.sin(ang)])
    n = np.array([-d[1], d[0]])
    wave = (rng.uniform(-0.03, 0.03) * length * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t + rng.uniform(0, 6))
            + rng.uniform(-0.01, 0.01) * length * np.sin(2 * np.pi * rng.uniform(2, 5) * t))
    return p0 + t * length * d + wave * n


def add_damage(clean: np.ndarray, seed: int = 0, kinds=KINDS, amount: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Damage a clean photo.

    Args:
        clean: ``(H, W, 3)`` uint8 RGB.
        seed: the same seed gives the same damage.
        kinds: which kinds of damage to draw (subset of :data:`KINDS`).
        amount: multiplies the number of items of each kind.

    Returns:
        ``(damaged, mask)``: ``(H, W, 3)`` uint8 and the ``(H, W)`` bool mask of every changed pixel.
    """
    rng = np.random.default_rng(seed)
    h, w = clean.shape[:2]
    scale = max(min(h, w) / 512.0, 0.5)
    img = clean.astype(np.float32)
    total = np.zeros((h, w), np.float32)
    lum = img @ np.array([0.299, 0.587, 0.114], np.float32)

    def composite(cover: np.ndarray, light: bool, shift: float, opacity: float, along: np.ndarray | None = None) -> None:
        nonlocal img
        a = np.clip(cover * opacity * (1.0 if along is None else along), 0, 1)
        # the damage's own level: a shift of `shift` levels from the local luminance, towards white or black
        level = np.clip(lum + shift, 0, 255) if light else np.clip(lum - shift, 0, 255)
        tint = np.array([1.0, 0.98, 0.93], np.float32) if light else np.ones(3, np.float32)  # paper is warm
        img = img * (1 - a[..., None]) + (level[..., None] * tint) * a[..., None]
        total[...] = np.maximum(total, a)

    n = lambda base: int(rng.poisson(base * amount))  # noqa: E731
    if "crack" in kinds:
        for _ in range(n(2)):
            cover = _draw((h, w), 4, _crack(rng, h, w, scale), rng.uniform(1.0, 2.0) * scale)
            composite(cover, rng.random() < 0.7, rng.uniform(50, 160), rng.uniform(0.4, 1.0))
    if "scratch" in kinds:
        for _ in range(n(4)):
            cover = _draw((h, w), 4, [_scratch(rng, h, w)], rng.uniform(1.0, 5.0) * scale)
            yy, xx = np.mgrid[0:h, 0:w]
            along = np.clip(0.5 + 0.5 * np.sin(xx / rng.uniform(40, 200) + yy / rng.uniform(40, 200)), 0.3, 1)
            composite(cover, rng.random() < 0.5, rng.uniform(35, 150), rng.uniform(0.6, 1.0), along.astype(np.float32))
    if "speck" in kinds:
        for _ in range(n(30)):
            c = rng.uniform([0, 0], [w, h])
            discs = [(c + rng.normal(0, 1.5 * scale, 2), rng.uniform(0.6, 3.0) * scale) for _ in range(rng.integers(1, 6))]
            cover = _draw((h, w), 4, [], 1, discs)
            composite(cover, rng.random() < 0.5, rng.uniform(50, 200), rng.uniform(0.7, 1.0))
    if "film" in kinds:
        for _ in range(n(1.5)):
            x = rng.uniform(0, w)
            ys = np.linspace(-5, h + 5, 60)
            xs = x + np.cumsum(rng.normal(0, 0.4, ys.size)) * scale
            cover = _draw((h, w), 4, [np.stack([xs, ys], 1)], rng.uniform(1.0, 2.0) * scale)
            yy = np.arange(h, dtype=np.float32)[:, None]
            along = np.clip(0.6 + 0.4 * np.sin(yy / rng.uniform(30, 120) + rng.uniform(0, 6)), 0.2, 1) * np.ones((1, w), np.float32)
            composite(cover, rng.random() < 0.5, rng.uniform(30, 90), 1.0, along)
    mask = total > 0.02
    out = np.where(mask[..., None], np.clip(np.rint(img), 0, 255), clean).astype(np.uint8)
    mask &= np.any(out != clean, axis=2)
    return out, mask
