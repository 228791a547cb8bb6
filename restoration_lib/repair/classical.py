"""The no-download repair mode: classical scratch and dust removal, gentle denoising and contrast.

**This is the mode that works without any published checkpoint.** It uses no neural network and downloads
nothing; it is what :class:`restoration_lib.repair.Restorer` runs with ``mode="classical"``. It repairs
thin scratches, cracks and dust specks well and leaves the photo's content alone; it does not reconstruct
large torn areas, remove blur or film grain the way the learned model does.

Steps of :func:`classical_repair`:

1. :func:`detect_scratches_classical`: thin bright and dark structures on the luminance (morphological
   white top-hat and black-hat), thresholds that adapt to the local texture of the photo (a robust spread of
   the response in a neighbourhood) with hysteresis so a faint stretch of a scratch stays connected to its
   strong part, then a shape filter on connected components: keep thin long ones (length measured on the
   skeleton, width = area / length) and small isolated high-contrast specks (dust); drop everything else
   (eyes, textures, edges of objects).
2. OpenCV inpainting of the mask (Telea by default, Navier–Stokes on request).
3. Gentle denoising (non-local means, strength from the estimated noise level).
4. Gentle contrast (CLAHE on the lightness channel, mixed with the original lightness).

Gray photos (all three channels equal) are processed on one channel and stay exactly gray.

:func:`add_synthetic_damage` draws seeded random scratches and dust on a clean photo, with the ground-truth
mask, for measuring this mode (``benchmarks/repair_classical.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np

from ._arrays import as_rgb_uint8

__all__ = [
    "ScratchDetectorSettings",
    "detect_scratches_classical",
    "inpaint",
    "denoise_gentle",
    "contrast_gentle",
    "classical_repair",
    "add_synthetic_damage",
]


def _check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    return as_rgb_uint8(image, name, min_side=8)


def _is_gray(image: np.ndarray) -> bool:
    return bool(np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2]))


def _luminance(image: np.ndarray) -> np.ndarray:
    import cv2  # noqa: PLC0415

    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


@dataclass(frozen=True)
class ScratchDetectorSettings:
    """Knobs of :func:`detect_scratches_classical` (the defaults suit scans of 300–3000 px).

    Attributes:
        max_width: widest scratch in pixels at 512 px of the shorter side (scaled up for larger images).
        min_length: shortest scratch (skeleton length) in pixels at 512 px of the shorter side.
        k_high: seed threshold, in robust standard deviations of the local response.
        k_low: growing threshold (hysteresis), same unit.
        floor: minimum response (gray levels) of a seed (the growing floor is ``floor * k_low / k_high``).
        strong: a response (gray levels) that seeds a scratch whatever the local texture.
        dust_max_area: largest dust speck in pixels at 512 px of the shorter side (scaled up for larger images).
        dust_contrast: a dust speck's peak response must reach this many seed thresholds.
        dust_spacing, dust_max_neighbours: a speck with more than ``dust_max_neighbours`` other specks within
            ``dust_spacing`` px (at 512 px) is part of a pattern in the picture, not dust.
        max_asymmetry: a scratch crosses the picture, so the photo looks alike on its two sides: the median
            over a line of |left side − right side| / line contrast must stay below this (thin highlights
            along the edges of objects fail it).
        short_contrast: a line half as long as ``min_length`` is kept when its peak reaches this many seed
            thresholds and its asymmetry is below half of ``max_asymmetry``.
        bright, dark: look for bright (emulsion scraped off) and/or dark scratches.
        grow: dilation radius (px) of the final mask, to cover the scratches' soft edges.
    """

    max_width: float = 3.0
    min_length: float = 60.0
    k_high: float = 7.0
    k_low: float = 4.0
    floor: float = 14.0
    strong: float = 160.0
    dust_max_area: float = 40.0
    dust_contrast: float = 2.5
    dust_spacing: float = 24.0
    dust_max_neighbours: int = 2
    max_asymmetry: float = 0.6
    short_contrast: float = 2.0
    bright: bool = True
    dark: bool = True
    grow: int = 1


def _local_stats(resp: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Local median and robust spread (1.4826 × MAD) of ``resp`` on ``tile``-px tiles, interpolated per pixel."""
    import cv2  # noqa: PLC0415

    h, w = resp.shape
    ny, nx = max(1, round(h / tile)), max(1, round(w / tile))
    # resample to a whole number of tiles, then per-tile statistics
    grid = cv2.resize(resp, (nx * tile, ny * tile), interpolation=cv2.INTER_NEAREST)
    blocks = grid.reshape(ny, tile, nx, tile).transpose(0, 2, 1, 3).reshape(ny, nx, tile * tile)
    med = np.median(blocks, axis=2)
    mad = np.median(np.abs(blocks - med[..., None]), axis=2)
    glob_mad = float(np.median(np.abs(resp - np.median(resp))))
    spread = 1.4826 * np.maximum(mad, 0.5 * glob_mad) + 0.5
    up = lambda a: cv2.resize(a.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)  # noqa: E731
    return up(med), up(spread)


def _asymmetry(gray: np.ndarray, resp: np.ndarray, offset: float) -> np.ndarray:
    """|gray on one side − gray on the other side| / line contrast, sides taken across the local line direction.

    The direction across a line is the eigenvector of the Hessian (of the lightly smoothed luminance) with the
    largest absolute eigenvalue; the sides are sampled ``offset`` px away along it.
    """
    import cv2  # noqa: PLC0415

    g = cv2.GaussianBlur(gray, (0, 0), 1.0)
    a = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3)
    c = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3)
    b = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3)
    root = np.sqrt(((a - c) / 2) ** 2 + b**2)
    theta = 0.5 * np.arctan2(2 * b, a - c)  # direction of the larger eigenvalue
    theta = np.where(np.abs((a + c) / 2 - root) > np.abs((a + c) / 2 + root), theta + np.pi / 2, theta)
    h, w = gray.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    nx = (np.cos(theta) * offset).astype(np.float32)
    ny = (np.sin(theta) * offset).astype(np.float32)
    one = cv2.remap(gray, xx + nx, yy + ny, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    other = cv2.remap(gray, xx - nx, yy - ny, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.abs(one - other) / np.maximum(resp, 1.0)


def _thin_components(cand: np.ndarray, ratio: np.ndarray, asym: np.ndarray, s: ScratchDetectorSettings,
                     scale: float) -> np.ndarray:
    """Keep the connected components of ``cand`` that are thin and long, or small high-contrast specks."""
    import cv2  # noqa: PLC0415
    from skimage.morphology import skeletonize  # noqa: PLC0415

    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(cand, dtype=bool)
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    skel = skeletonize(cand)
    length = np.bincount(labels[skel], minlength=n).astype(np.float64)
    length = np.maximum(length, 1.0)
    width = area / length
    bw = stats[:, cv2.CC_STAT_WIDTH].astype(np.float64)
    bh = stats[:, cv2.CC_STAT_HEIGHT].astype(np.float64)
    extent = np.hypot(bw, bh)
    peak = np.zeros(n)
    np.maximum.at(peak, labels.ravel(), ratio.ravel())

    wscale = max(scale, 1.0)  # widths in pixels do not shrink below those of a 512-px scan
    max_w = s.max_width * wscale + 1.5  # the measured width includes anti-aliased rims and hysteresis growth
    min_len = s.min_length * scale
    from scipy import ndimage  # noqa: PLC0415

    asym_med = np.zeros(n)
    asym_med[1:] = ndimage.median(asym, labels=labels, index=np.arange(1, n))
    thin = (width <= max_w) & (asym_med <= s.max_asymmetry)
    line = thin & (length >= min_len) & (extent >= min_len)
    # short pieces of a crack are kept when they are stark and clean (both sides alike)
    line |= thin & (length >= 0.5 * min_len) & (peak >= s.short_contrast) & (asym_med <= 0.5 * s.max_asymmetry)
    dust = (area <= s.dust_max_area * wscale * wscale) & (peak >= s.dust_contrast) & (np.maximum(bw, bh) <= 3 * max_w + 2)
    dust[0] = False
    if dust.any():
        # dust is sparse; a field of small bright/dark dots is a pattern in the picture (wallpaper, fabric)
        centres = np.zeros(cand.shape, np.float32)
        cx = (stats[dust, cv2.CC_STAT_LEFT] + stats[dust, cv2.CC_STAT_WIDTH] // 2).astype(int)
        cy = (stats[dust, cv2.CC_STAT_TOP] + stats[dust, cv2.CC_STAT_HEIGHT] // 2).astype(int)
        np.add.at(centres, (cy, cx), 1.0)
        win = int(2 * round(s.dust_spacing * scale) + 1)
        crowd = cv2.boxFilter(centres, -1, (win, win), normalize=False, borderType=cv2.BORDER_CONSTANT)
        dust[np.flatnonzero(dust)] = crowd[cy, cx] <= s.dust_max_neighbours + 1
    keep = (line | dust) & (peak >= 1.0)
    keep[0] = False
    return keep[labels]


def detect_scratches_classical(image_rgb_uint8: np.ndarray, settings: Optional[ScratchDetectorSettings] = None) -> np.ndarray:
    """Classical scratch and dust detector (no network; part of the no-download mode).

    Args:
        image_rgb_uint8: ``(H, W, 3)`` uint8 RGB photo (``(H, W)`` gray accepted), at least 8×8.
        settings: detector knobs (:class:`ScratchDetectorSettings`).

    Returns:
        ``(H, W)`` uint8 mask, 255 = scratch or dust, 0 = intact.
    """
    import cv2  # noqa: PLC0415
    from skimage.filters import apply_hysteresis_threshold  # noqa: PLC0415

    s = settings or ScratchDetectorSettings()
    image = _check_image(image_rgb_uint8)
    h, w = image.shape[:2]
    scale = max(min(h, w) / 512.0, 0.5)
    gray = _luminance(image)
    wscale = max(scale, 1.0)  # widths in pixels do not shrink below those of a 512-px scan
    k = int(2 * round(s.max_width * wscale) + 3)  # structuring element a bit wider than the widest scratch
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    mask = np.zeros((h, w), dtype=bool)
    responses = []
    if s.bright:
        responses.append(cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, se))
    if s.dark:
        responses.append(cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, se))
    tile = int(max(16, round(32 * scale)))
    for resp in responses:
        med, spread = _local_stats(resp, tile)
        z = (resp - med) / spread
        # seeds: strong thin structures; growing (hysteresis) along weaker stretches of the same structure
        hi = np.maximum(s.k_high, (s.floor - med) / spread)
        # strength in units of the seed threshold: locally exceptional, or of high contrast in absolute terms
        # (busy regions have a wide local spread that would hide even a stark scratch)
        ratio = np.maximum(z / hi, resp / s.strong)
        cand = apply_hysteresis_threshold(ratio, s.k_low / s.k_high, 1.0)
        asym = _asymmetry(gray, resp, 0.5 * s.max_width * wscale + 2.0)
        mask |= _thin_components(cand, ratio, asym, s, scale)
    if s.grow > 0 and mask.any():
        g = 2 * s.grow + 1
        mask = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (g, g))) > 0
    return mask.astype(np.uint8) * 255


def inpaint(image_rgb_uint8: np.ndarray, mask: np.ndarray, radius: int = 3,
            method: Literal["telea", "ns"] = "telea") -> np.ndarray:
    """Fill the masked pixels from their surroundings (OpenCV Telea or Navier–Stokes inpainting).

    Args:
        image_rgb_uint8: ``(H, W, 3)`` uint8 RGB.
        mask: ``(H, W)`` uint8/bool, nonzero = fill.
        radius: neighbourhood radius in pixels.
        method: ``"telea"`` or ``"ns"``.
    """
    import cv2  # noqa: PLC0415

    image = _check_image(image_rgb_uint8)
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask must have shape {image.shape[:2]} (H, W); got {mask.shape}")
    if method not in ("telea", "ns"):
        raise ValueError(f"method must be 'telea' or 'ns'; got {method!r}")
    m = (mask > 0).astype(np.uint8)
    if not m.any():
        return image.copy()
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    if _is_gray(image):
        g = cv2.inpaint(np.ascontiguousarray(image[..., 0]), m, radius, flag)
        return np.repeat(g[:, :, None], 3, axis=2)
    return cv2.inpaint(image, m, radius, flag)


def estimate_noise(image_rgb_uint8: np.ndarray) -> float:
    """Robust noise standard deviation (gray levels) from the finest-scale residual of the luminance."""
    import cv2  # noqa: PLC0415

    g = _luminance(_check_image(image_rgb_uint8))
    resid = g - cv2.GaussianBlur(g, (3, 3), 0)
    # for white noise, the residual of a 3x3 Gaussian (weights 1/4, 1/2, 1/4 per axis) has std 0.79 sigma
    return float(1.4826 * np.median(np.abs(resid - np.median(resid))) / 0.79)


def denoise_gentle(image_rgb_uint8: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Non-local means denoising with a filter strength set from the estimated noise (clipped to 2..9)."""
    import cv2  # noqa: PLC0415

    image = _check_image(image_rgb_uint8)
    if strength <= 0:
        return image.copy()
    h = float(np.clip(0.8 * estimate_noise(image), 2.0, 9.0)) * strength
    if _is_gray(image):
        g = cv2.fastNlMeansDenoising(np.ascontiguousarray(image[..., 0]), None, h, 7, 21)
        return np.repeat(g[:, :, None], 3, axis=2)
    return cv2.fastNlMeansDenoisingColored(image, None, h, h, 7, 21)


def contrast_gentle(image_rgb_uint8: np.ndarray, amount: float = 0.5, clip_limit: float = 2.0) -> np.ndarray:
    """CLAHE on the lightness (8×8 tiles), mixed ``amount`` : ``1 - amount`` with the original lightness."""
    import cv2  # noqa: PLC0415

    image = _check_image(image_rgb_uint8)
    if amount <= 0:
        return image.copy()
    clahe = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(8, 8))
    gray = _is_gray(image)
    lab = None if gray else cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    light = image[..., 0] if gray else lab[..., 0]
    eq = clahe.apply(np.ascontiguousarray(light))
    mixed = np.clip(np.rint(amount * eq.astype(np.float32) + (1 - amount) * light.astype(np.float32)), 0, 255).astype(np.uint8)
    if gray:
        return np.repeat(mixed[:, :, None], 3, axis=2)
    lab = lab.copy()
    lab[..., 0] = mixed
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def classical_repair(image_rgb_uint8: np.ndarray, with_scratch: bool = True, *, denoise: float = 1.0,
                     contrast: float = 0.5, inpaint_method: Literal["telea", "ns"] = "telea",
                     settings: Optional[ScratchDetectorSettings] = None) -> tuple[np.ndarray, np.ndarray]:
    """Repair a photo without any downloaded model (the no-download mode).

    Args:
        image_rgb_uint8: ``(H, W, 3)`` uint8 RGB photo (``(H, W)`` gray accepted), at least 8×8.
        with_scratch: detect and inpaint scratches and dust (otherwise only denoise and contrast).
        denoise: denoising strength multiplier (0 = off).
        contrast: CLAHE mix amount in [0, 1] (0 = off).
        inpaint_method: ``"telea"`` or ``"ns"``.
        settings: scratch detector knobs.

    Returns:
        ``(image, mask)``: the repaired ``(H, W, 3)`` uint8 RGB image and the ``(H, W)`` uint8 scratch mask
        (255 = repaired pixel; all zeros when ``with_scratch`` is False). The input is not modified.
    """
    image = _check_image(image_rgb_uint8)
    if not 0 <= contrast <= 1:
        raise ValueError(f"contrast must be in [0, 1]; got {contrast}")
    if denoise < 0:
        raise ValueError(f"denoise must be >= 0; got {denoise}")
    if with_scratch:
        mask = detect_scratches_classical(image, settings)
        out = inpaint(image, mask, method=inpaint_method)
    else:
        mask = np.zeros(image.shape[:2], dtype=np.uint8)
        out = image.copy()
    out = denoise_gentle(out, denoise)
    out = contrast_gentle(out, contrast)
    return out, mask


def add_synthetic_damage(image_rgb_uint8: np.ndarray, seed: int = 0, n_scratches: int = 6, n_dust: int = 40,
                         max_width: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Draw seeded random scratches (thin bright/dark curves) and dust specks on a photo, for evaluation.

    Scratches are smooth random curves (cubic Béziers) 1..``max_width`` px wide, spanning 20–70% of the
    image, mostly bright (scraped emulsion), some dark, with 70–100% opacity and anti-aliased edges. Dust
    specks are small discs or blobs (radius 1–3 px at 512 px), bright or dark.

    Returns:
        ``(damaged, mask)``: the damaged ``(H, W, 3)`` uint8 image and an ``(H, W)`` uint8 ground-truth mask
        (255 where the damage covers at least half a pixel).
    """
    import cv2  # noqa: PLC0415

    image = _check_image(image_rgb_uint8)
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    scale = max(min(h, w) / 512.0, 0.5)
    ss = 4  # draw at 4x resolution for anti-aliasing
    alpha_hi = np.zeros((h * ss, w * ss), np.float32)
    value = np.zeros((h, w), np.float32)
    alpha = np.zeros((h, w), np.float32)

    def commit(layer_hi: np.ndarray, level: float, opacity: float) -> None:
        cover = cv2.resize(layer_hi, (w, h), interpolation=cv2.INTER_AREA) * opacity
        upd = cover > alpha
        value[upd] = level
        alpha[upd] = cover[upd]

    for _ in range(n_scratches):
        alpha_hi[...] = 0
        length = rng.uniform(0.2, 0.7) * max(h, w)
        p0 = rng.uniform([0, 0], [w, h])
        ang = rng.uniform(0, np.pi)
        d = np.array([np.cos(ang), np.sin(ang)]) * length
        p3 = p0 + d
        normal = np.array([-d[1], d[0]]) / max(length, 1e-6)
        p1 = p0 + d / 3 + normal * rng.uniform(-0.25, 0.25) * length
        p2 = p0 + 2 * d / 3 + normal * rng.uniform(-0.25, 0.25) * length
        t = np.linspace(0, 1, 200)[:, None]
        pts = ((1 - t) ** 3) * p0 + 3 * ((1 - t) ** 2) * t * p1 + 3 * (1 - t) * (t**2) * p2 + (t**3) * p3
        width = rng.uniform(1.0, max_width) * scale
        cv2.polylines(alpha_hi, [np.round(pts * ss).astype(np.int32)], False, 1.0, max(1, int(round(width * ss))), cv2.LINE_AA)
        bright = rng.random() < 0.75
        level = rng.uniform(215, 255) if bright else rng.uniform(0, 40)
        commit(alpha_hi, level, rng.uniform(0.7, 1.0))
    for _ in range(n_dust):
        alpha_hi[...] = 0
        c = rng.uniform([0, 0], [w, h]) * ss
        r = rng.uniform(1.0, 3.0) * scale * ss
        axes = (max(1, int(round(r))), max(1, int(round(r * rng.uniform(0.5, 1.0)))))
        cv2.ellipse(alpha_hi, (int(c[0]), int(c[1])), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
        bright = rng.random() < 0.6
        level = rng.uniform(210, 255) if bright else rng.uniform(0, 45)
        commit(alpha_hi, level, rng.uniform(0.8, 1.0))
    out = image.astype(np.float32) * (1 - alpha[..., None]) + value[..., None] * alpha[..., None]
    damaged = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return damaged, (alpha >= 0.5).astype(np.uint8) * 255
