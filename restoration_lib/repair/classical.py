"""The no-download repair mode: classical scratch and dust removal, gentle denoising and contrast.

**This is the mode that works without any published checkpoint.** It uses no neural network and downloads
nothing; it is what :class:`restoration_lib.repair.Restorer` runs with ``mode="classical"``. It repairs
isolated thin scratches, cracks and dust specks and leaves the photo's content alone; it leaves damage that
crosses busy texture or runs along edges, and does not reconstruct large torn areas, remove blur or film grain
the way the learned model does.

Steps of :func:`classical_repair`, each with its own parameter:

1. scratch-and-dust repair (``with_scratch``): :func:`detect_scratches_classical` marks thin bright and dark
   lines (morphological white top-hat and black-hat of the luminance, significant against the local texture,
   grown by hysteresis) that are long (broken hairlines linked), thin, have the near-neutral colour of damage
   and, stretch by stretch, stand alone, follow no image edge and are not one of a row of parallel lines; and
   small isolated specks on a plain background; faces found by dlib (optional) get a conservative mask
   (:func:`face_masks`). Each marked pixel has a confidence in [0, 1]: the tests are ramps, not cut-offs, and
   a pixel moves only that share of the way to its inpainted value (OpenCV inpainting, Telea by default,
   Navier–Stokes on request), so a doubtful false alarm costs little. The fill may only darken a bright
   scratch and only lighten a dark one.
2. denoising (``denoise``, 0 = off): non-local means, strength from the estimated noise level.
3. contrast (``contrast``, 0 = off): CLAHE on the lightness channel, mixed with the original lightness.

Measured in ``benchmarks/repair_classical.py`` and ``docs/repair_classical.md``.

Gray photos (all three channels equal) are processed on one channel and stay exactly gray.

:func:`add_synthetic_damage` draws seeded random scratches and dust on a clean photo, with the ground-truth
mask (the benchmark's second table; its main table uses a generator of other kinds of damage).
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
    "face_masks",
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
    """Knobs of :func:`detect_scratches_classical` (lengths in pixels at 512 px of the shorter side; they scale
    with the photo, widths never shrink below their 512-px values).

    Attributes:
        max_width: widest scratch (px); judged stretch by stretch (pixels per skeleton pixel in ``window``).
        min_length: shortest scratch or crack (skeleton length, px; pieces less than ``link`` px apart count
            as one line, so a hairline broken into pieces is still long).
        k_high: seed threshold, in robust standard deviations of the local top-hat response.
        k_low: growing threshold (hysteresis), same unit.
        k_texture: a seed must also reach this multiple of the local 80th percentile of the response (busy
            texture, such as wood grain, stone, foliage, lattices, raises the threshold).
        floor: a seed's response must also reach this many gray levels.
        line_contrast: a scratch's median response (gray levels) must reach this.
        max_edge: a scratch must not follow image edges: the largest luminance difference between samples of
            the photo beside it (both sides, 1.5–6.5 px beyond its widest rim), over the line's contrast
            (both averaged over the stretch of line in ``window``; specks: the median spread of a square
            around them over their peak), must stay below this (highlights along the rim of a cup or a tyre,
            the edge of a shadow fail it). Confidence falls linearly from 1 at ``edge_sure`` to 0 here.
        max_crowd: a scratch or speck must stand alone: the share of pixels in a square of 33 px (at 512 px)
            around it that hold faint thin structures of either polarity, not connected to any seed (averaged
            over the stretch of line in ``window``), must stay below this (wood grain, stone, rigging,
            lattices, text, foliage fail it). Confidence falls linearly from 1 at ``crowd_sure`` to 0 here.
        edge_sure, crowd_sure: below these values of the edge and crowd tests the detector is sure (confidence
            1); between them and ``max_edge`` / ``max_crowd`` a pixel is only moved part of the way to its
            inpainted value, so a doubtful false alarm costs little.
        window: a line is judged stretch by stretch over this square (px): the part of a long scratch that
            runs along an edge or through texture is dropped, the rest kept.
        link: pieces of a line at most this many px (x 2) apart are one line for its length.
        max_parallel: a scratch is not one of a row or a grid: over the stretch of line in ``window``, the
            share of it that has a thin structure of the same polarity beside it, at one same offset of 5–45 px
            (``parallel_reach``) across the line, must stay below this (mortar between stones, lattices,
            rigging, window bars, stripes fail it); confidence falls linearly from 1 at half this value
            (1 = test off).
        parallel_reach: the largest offset (px, at 512 px) at which parallel structures are looked for.
        crowd_level: the faint structures counted for ``max_crowd`` reach this share of the seed threshold.
        max_colour: damage lays a near-neutral tone over the photo; a line or speck whose mean colour does not
            fit "its surroundings mixed with a gray" (relative least-squares residual above this) is a coloured
            object of the picture (no effect on gray photos).
        dust_max_area: largest dust speck (px², at 512 px).
        dust_max_side: largest side of a speck's bounding box (px).
        dust_contrast: a speck's peak response (gray levels) must reach this.
        dust_k: a speck's peak must also reach this many seed thresholds to be sure (confidence 1), and at
            least ``dust_k_min`` (confidence 0 there, linear in between).
        twin_radius: a speck with a twin, another speck of the same polarity within this distance (px, at
            512 px) of about the same size (area within 2x) and contrast (within 1.5x), is picture (buttons,
            rivets, lamps, eyes) more likely than dust: its confidence is multiplied by ``twin_confidence``;
            ``twin_radius=0`` turns the test off.
        bright, dark: look for bright (emulsion scraped off, cracks) and/or dark (dirt, dust) damage.
        grow: dilation radius (px) of the final mask, to cover the damage's soft edges.
    """

    max_width: float = 4.0
    min_length: float = 36.0
    k_high: float = 6.0
    k_low: float = 3.0
    k_texture: float = 3.0
    floor: float = 18.0
    line_contrast: float = 14.0
    max_edge: float = 0.6
    max_crowd: float = 0.1
    edge_sure: float = 0.45
    crowd_sure: float = 0.02
    window: float = 32.0
    link: int = 1
    max_parallel: float = 0.6
    parallel_reach: float = 40.0
    crowd_level: float = 0.4
    max_colour: float = 0.35
    dust_max_area: float = 80.0
    dust_max_side: float = 14.0
    dust_contrast: float = 30.0
    dust_k: float = 1.5
    dust_k_min: float = 1.25
    twin_radius: float = 64.0
    twin_confidence: float = 0.25
    bright: bool = True
    dark: bool = True
    grow: int = 1

    def __post_init__(self) -> None:
        for name in ("max_width", "min_length", "k_high", "k_low", "k_texture", "floor", "line_contrast", "max_edge",
                     "max_crowd", "crowd_level", "max_colour", "dust_max_area", "dust_max_side", "dust_contrast", "dust_k", "dust_k_min"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ScratchDetectorSettings.{name} must be > 0; got {getattr(self, name)}")
        for sure, limit in (("edge_sure", "max_edge"), ("crowd_sure", "max_crowd")):
            if not 0 <= getattr(self, sure) <= getattr(self, limit):
                raise ValueError(f"ScratchDetectorSettings.{sure} must be in [0, {limit}={getattr(self, limit)}]; "
                                 f"got {getattr(self, sure)}")
        if not 0 < self.max_parallel <= 1:
            raise ValueError(f"ScratchDetectorSettings.max_parallel must be in (0, 1]; got {self.max_parallel}")
        if not 0 <= self.twin_confidence <= 1:
            raise ValueError(f"ScratchDetectorSettings.twin_confidence must be in [0, 1]; got {self.twin_confidence}")
        if not self.twin_radius >= 0:
            raise ValueError(f"ScratchDetectorSettings.twin_radius must be >= 0; got {self.twin_radius}")
        if not self.parallel_reach > 0:
            raise ValueError(f"ScratchDetectorSettings.parallel_reach must be > 0; got {self.parallel_reach}")
        if not 0 <= self.link <= 3:
            raise ValueError(f"ScratchDetectorSettings.link must be in [0, 3]; got {self.link}")
        if not self.window >= 5:
            raise ValueError(f"ScratchDetectorSettings.window must be >= 5; got {self.window}")
        if self.dust_k_min > self.dust_k:
            raise ValueError(f"ScratchDetectorSettings.dust_k_min must be <= dust_k ({self.dust_k}); got {self.dust_k_min}")
        if self.k_low > self.k_high:
            raise ValueError(f"ScratchDetectorSettings.k_low must be <= k_high ({self.k_high}); got {self.k_low}")
        if not 0 <= self.grow <= 5:
            raise ValueError(f"ScratchDetectorSettings.grow must be in [0, 5]; got {self.grow}")


def _local_stats(resp: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local median, robust spread (1.4826 × MAD) and 80th percentile of ``resp`` on ``tile``-px tiles,
    interpolated per pixel (the percentile is high where the picture itself is full of thin structures)."""
    import cv2  # noqa: PLC0415

    h, w = resp.shape
    ny, nx = max(1, round(h / tile)), max(1, round(w / tile))
    grid = cv2.resize(resp, (nx * tile, ny * tile), interpolation=cv2.INTER_NEAREST)
    blocks = grid.reshape(ny, tile, nx, tile).transpose(0, 2, 1, 3).reshape(ny, nx, tile * tile)
    med = np.median(blocks, axis=2)
    mad = np.median(np.abs(blocks - med[..., None]), axis=2)
    high = np.quantile(blocks, 0.8, axis=2)
    glob_mad = float(np.median(np.abs(resp - np.median(resp))))
    spread = 1.4826 * np.maximum(mad, 0.5 * glob_mad) + 0.5
    up = lambda a: cv2.resize(a.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)  # noqa: E731
    return up(med), up(spread), up(high)


def _normals(resp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector across the local ridge of ``resp`` (eigenvector of the Hessian with the largest |eigenvalue|)."""
    import cv2  # noqa: PLC0415

    g = cv2.GaussianBlur(resp, (0, 0), 1.5)
    a = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3)
    c = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3)
    b = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3)
    root = np.sqrt(((a - c) / 2) ** 2 + b**2)
    theta = 0.5 * np.arctan2(2 * b, a - c)
    theta = np.where(np.abs((a + c) / 2 - root) > np.abs((a + c) / 2 + root), theta + np.pi / 2, theta)
    return np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)


def _edge_along(fill: np.ndarray, nx: np.ndarray, ny: np.ndarray, offsets: tuple[float, ...]) -> np.ndarray:
    """Per pixel: the largest luminance difference among samples of ``fill`` beside it, at ``offsets`` px on
    both sides across the local line direction (a line that runs along an image edge or between two different
    regions has large values; a scratch across a smooth or perpendicular structure has small ones)."""
    import cv2  # noqa: PLC0415

    h, w = fill.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    samples = []
    for o in offsets:
        for sign in (1.0, -1.0):
            samples.append(cv2.remap(fill, xx + sign * o * nx, yy + sign * o * ny, cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE))
    st = np.stack(samples)
    return st.max(axis=0) - st.min(axis=0)


def _component_stats(cand: np.ndarray, values: dict[str, np.ndarray], how: dict[str, str]):
    """Label ``cand`` (8-connected) and reduce each map in ``values`` per component (``how``: median/max/mean)."""
    import cv2  # noqa: PLC0415
    from scipy import ndimage  # noqa: PLC0415

    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=8)
    idx = np.arange(1, n)
    out = {}
    for name, v in values.items():
        r = np.zeros(n)
        if n > 1:
            r[1:] = getattr(ndimage, how[name])(v, labels=labels, index=idx)
        out[name] = r
    return n, labels, stats, out


def _crowd(labels: np.ndarray, stats: np.ndarray, ids: np.ndarray, every: np.ndarray, radius: int) -> np.ndarray:
    """Per pixel of the components in ``ids``: the share of OTHER candidate pixels (``every`` minus the component
    itself and the 3 px around it) in the ``2 radius + 1`` square around it (0 elsewhere)."""
    import cv2  # noqa: PLC0415

    h, w = labels.shape
    k = 2 * radius + 1
    out = np.zeros((h, w), np.float32)
    for j in ids:
        x, y, bw, bh = (int(v) for v in stats[j, :4])
        x0, y0, x1, y1 = max(0, x - radius), max(0, y - radius), min(w, x + bw + radius), min(h, y + bh + radius)
        own = labels[y0:y1, x0:x1] == j
        near = cv2.dilate(own.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))) > 0
        other = (every[y0:y1, x0:x1] & ~near).astype(np.float32)  # not its own faint fringe either
        count = cv2.boxFilter(other, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)
        out[y0:y1, x0:x1][own] = count[own] / (k * k)
    return out


def _parallel(on: np.ndarray, win: int, same: np.ndarray, nx: np.ndarray, ny: np.ndarray, offsets) -> np.ndarray:
    """Per pixel of ``on``: the largest share, over offsets across the line (both sides), of the stretch of line
    around it (``win`` px) that has a thin structure of the same polarity (``same``) at that offset beside it. A
    line in a grid or a row of parallel lines (mortar, lattices, rigging, window bars, stripes) has one."""
    import cv2  # noqa: PLC0415

    h, w = on.shape
    ys, xs = np.nonzero(on)
    best = np.zeros((h, w), np.float32)
    if not ys.size:
        return best
    for o in offsets:
        for sign in (1.0, -1.0):
            px = xs + sign * o * nx[ys, xs]
            py = ys + sign * o * ny[ys, xs]
            v = cv2.remap(same, px.astype(np.float32)[None], py.astype(np.float32)[None], cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)[0]
            m = np.zeros((h, w), np.float32)
            m[ys, xs] = v
            best = np.maximum(best, _along(m, on, win))
    return best


def _ramp(value: np.ndarray, sure: float, limit: float) -> np.ndarray:
    """Confidence from a test "``value`` must stay low": 1 up to ``sure``, falling linearly to 0 at ``limit``."""
    if limit <= sure:
        return (value <= sure).astype(np.float32)
    return np.clip((limit - value) / (limit - sure), 0.0, 1.0).astype(np.float32)


def _along(values: np.ndarray, cand: np.ndarray, size: int) -> np.ndarray:
    """Per pixel of ``cand``: the mean of ``values`` over the candidate pixels in the ``size``-px square around it
    (a long line is judged stretch by stretch, not as one whole)."""
    import cv2  # noqa: PLC0415

    c = cand.astype(np.float32)
    num = cv2.boxFilter(values.astype(np.float32) * c, -1, (size, size), normalize=False)
    den = cv2.boxFilter(c, -1, (size, size), normalize=False)
    return num / np.maximum(den, 1e-6)


def _colour_misfit(rgb: np.ndarray, labels: np.ndarray, stats: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per component in ``ids``: how badly its mean colour fits "its surroundings mixed with a gray".

    Damage (scraped emulsion, paper, dirt, dust) lays a near-neutral tone over the photo: its colour is
    ``(1 - a) * around + b * (1, 1, 1)``. A real thin object (a blue pole on brown wood, grass between white
    pickets) has a colour of its own. Returns the least-squares residual of that model divided by the size of
    the colour change (0 = a perfect fit; gray photos always fit).
    """
    import cv2  # noqa: PLC0415

    h, w = labels.shape
    out = np.zeros(stats.shape[0])
    ring_in = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    ring_out = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))
    for j in ids:
        x, y, bw, bh = (int(v) for v in stats[j, :4])
        x0, y0, x1, y1 = max(0, x - 6), max(0, y - 6), min(w, x + bw + 6), min(h, y + bh + 6)
        own = (labels[y0:y1, x0:x1] == j).astype(np.uint8)
        ring = (cv2.dilate(own, ring_out) > 0) & (cv2.dilate(own, ring_in) == 0) & (labels[y0:y1, x0:x1] == 0)
        if not ring.any():
            continue
        crop = rgb[y0:y1, x0:x1]
        obs, around = crop[own > 0].mean(axis=0), np.median(crop[ring], axis=0)
        d = obs - around
        a = np.stack([-around, np.ones(3)], axis=1)
        coef = np.linalg.lstsq(a, d, rcond=1e-3)[0]
        out[j] = float(np.linalg.norm(a @ coef - d)) / max(float(np.linalg.norm(d)), 1.0)
    return out


def _lines(cand: np.ndarray, resp: np.ndarray, edge: np.ndarray, every: np.ndarray, strict: np.ndarray,
           s: ScratchDetectorSettings, scale: float, rgb: np.ndarray, beside=None) -> np.ndarray:
    """Confidence (0..1) per pixel of ``cand`` that it belongs to a scratch or crack: the components must be long
    thin lines of the colour of damage; stretch by stretch along them, they must stand alone and follow no
    image edge (full confidence under the ``*_sure`` values, none beyond the limits, linear in between)."""
    import cv2  # noqa: PLC0415
    from skimage.morphology import skeletonize  # noqa: PLC0415

    out = np.zeros(cand.shape, np.float32)
    n, labels, stats, f = _component_stats(cand, {"contrast": resp}, {"contrast": "median"})
    if n <= 1:
        return out
    win = int(2 * round(0.5 * s.window * scale) + 1)
    skel = skeletonize(cand)
    # broken hairlines: pieces less than 2 px apart count as one line for its length
    link = cv2.dilate(cand.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=s.link)
    n_l, lab_l, st_l, _ = cv2.connectedComponentsWithStats(link, connectivity=8)
    length = np.bincount(lab_l[skel], minlength=n_l).astype(np.float64)
    extent = np.hypot(st_l[:, cv2.CC_STAT_WIDTH], st_l[:, cv2.CC_STAT_HEIGHT]).astype(np.float64) - 2 * s.link
    min_len = s.min_length * scale
    long_ = ((length >= min_len) & (extent >= min_len))[lab_l]
    # thin, stretch by stretch: pixels per skeleton pixel around each pixel
    max_w = s.max_width * max(scale, 1.0) + 1.0  # measured width includes anti-aliased rims
    c = cand.astype(np.float32)
    width = cv2.boxFilter(c, -1, (win, win), normalize=False) / np.maximum(
        cv2.boxFilter(skel.astype(np.float32), -1, (win, win), normalize=False), 1.0)
    keep = f["contrast"] >= s.line_contrast
    keep[0] = False
    keep &= _colour_misfit(rgb, labels, stats, np.flatnonzero(keep)) <= s.max_colour
    keep[0] = False
    keep_px = keep[labels] & long_ & (width <= max_w)
    if not keep_px.any():
        return out
    keep = np.zeros(n, bool)
    keep[np.unique(labels[keep_px])] = True
    keep[0] = False
    crowd = _crowd(labels, stats, np.flatnonzero(keep), every, int(round(16 * scale)))
    on = keep_px
    ratio = _along(edge, on, win) / np.maximum(_along(resp, on, win), 1.0)
    crowd_l = _along(crowd, on, win)
    conf = _ramp(ratio, s.edge_sure, s.max_edge) * _ramp(crowd_l, s.crowd_sure, s.max_crowd)
    if beside is not None and s.max_parallel < 1:
        par = _parallel(on, win, *beside)
        conf *= _ramp(par, 0.5 * s.max_parallel, s.max_parallel)
    # inside a face only long, stark lines (cracks across it) are taken
    face = strict & ~((length >= 2 * min_len)[lab_l] & (ratio <= 0.5 * s.max_edge))
    out[on & ~face] = conf[on & ~face]
    return out


def _specks(cand: np.ndarray, resp: np.ndarray, ratio: np.ndarray, edge: np.ndarray, every: np.ndarray,
            strict: np.ndarray, s: ScratchDetectorSettings, scale: float, rgb: np.ndarray) -> np.ndarray:
    """Confidence (0..1) per pixel of ``cand`` that it is dust: small, stark specks of the colour of damage,
    alone on a plain background (full confidence under the ``*_sure`` values, none beyond the limits)."""
    import cv2  # noqa: PLC0415
    from scipy import ndimage  # noqa: PLC0415

    out = np.zeros(cand.shape, np.float32)
    n, labels, stats, f = _component_stats(
        cand, {"peak": resp, "ratio": ratio, "edge": edge, "face": strict.astype(np.float32)},
        {"peak": "maximum", "ratio": "maximum", "edge": "median", "face": "mean"})
    if n <= 1:
        return out
    ws = max(scale, 1.0)
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    side = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]).astype(np.float64)
    keep = ((area <= s.dust_max_area * ws * ws) & (side <= s.dust_max_side * ws) & (f["peak"] >= s.dust_contrast)
            & (f["ratio"] >= s.dust_k_min) & (f["edge"] <= s.max_edge * f["peak"])
            & (f["face"] < 0.05))  # never in a face: eyes, nostrils, teeth, catch-lights are specks too
    keep[0] = False
    keep &= _colour_misfit(rgb, labels, stats, np.flatnonzero(keep)) <= s.max_colour
    keep[0] = False
    ids = np.flatnonzero(keep)
    if not ids.size:
        return out
    crowd = np.zeros(n)
    crowd[ids] = ndimage.mean(_crowd(labels, stats, ids, every, int(round(16 * scale))), labels=labels, index=ids)
    conf = _ramp(f["edge"] / np.maximum(f["peak"], 1.0), s.edge_sure, s.max_edge) * _ramp(crowd, s.crowd_sure, s.max_crowd)
    conf *= _ramp(-f["ratio"], -s.dust_k, -s.dust_k_min)
    if s.twin_radius > 0:
        # a twin (a speck of about the same size and contrast nearby: buttons, rivets, lamps, eyes) is likely picture
        pos = stats[:, :2] + stats[:, 2:4] / 2.0
        small = np.flatnonzero((area <= s.dust_max_area * ws * ws) & (side <= s.dust_max_side * ws))
        small = small[small > 0]
        reach = s.twin_radius * scale
        for j in ids:
            o = small[small != j]
            near = np.hypot(*(pos[o] - pos[j]).T) <= reach
            alike = ((np.maximum(area[o], area[j]) <= 2 * np.minimum(area[o], area[j]))
                     & (np.maximum(f["peak"][o], f["peak"][j]) <= 1.5 * np.minimum(f["peak"][o], f["peak"][j]))
                     & (f["peak"][o] >= s.dust_contrast))
            if np.any(near & alike):
                conf[j] *= s.twin_confidence
    conf[~keep] = 0
    return conf.astype(np.float32)[labels]


def _response(gray: np.ndarray, op: int, size: int, s: ScratchDetectorSettings, scale: float):
    """Top-hat (or black-hat) response, its significance ratio (1 = seed threshold) and hysteresis candidates."""
    import cv2  # noqa: PLC0415
    from skimage.filters import apply_hysteresis_threshold  # noqa: PLC0415

    resp = cv2.morphologyEx(gray, op, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    med, spread, high = _local_stats(resp, int(max(32, round(48 * scale))))
    ratio = resp / np.maximum(np.maximum(med + s.k_high * spread, s.k_texture * high), s.floor)
    return resp, ratio, apply_hysteresis_threshold(ratio, s.k_low / s.k_high, 1.0)


def detect_scratches_classical(image_rgb_uint8: np.ndarray, settings: Optional[ScratchDetectorSettings] = None,
                               protect: Optional[np.ndarray] = None, strict: Optional[np.ndarray] = None,
                               *, polarity: bool = False, confidence: bool = False):
    """Classical scratch and dust detector (no network; part of the no-download mode).

    Finds thin bright and dark lines (white top-hat and black-hat of the luminance, significant against the
    local texture, grown by hysteresis, parts wider than a scratch cut off) that are long, have the colour of
    damage and, judged stretch by stretch along them, stand alone, do not follow image edges and have no
    parallel neighbour (rows, grids); and small isolated stark specks on a plain background. Everything else
    (edges, texture, text, eyes, lines of buildings) is left alone. Each pixel gets a confidence: 1 where every
    test passes with a margin (``*_sure`` settings), falling linearly to 0 at the limits.

    Args:
        image_rgb_uint8: ``(H, W, 3)`` uint8 RGB photo (``(H, W)`` gray accepted), at least 8×8.
        settings: detector knobs (:class:`ScratchDetectorSettings`).
        protect: optional ``(H, W)`` bool, pixels never marked (e.g. eyes and mouth of a face).
        strict: optional ``(H, W)`` bool, where only long stark lines are taken and no specks (e.g. faces).
        polarity: also return the bright and dark masks.
        confidence: also return the bright and dark confidences.

    Returns:
        ``(H, W)`` uint8 mask, 255 = scratch or dust (any confidence above 0), 0 = intact; with ``polarity``,
        ``(mask, bright, dark)`` with two ``(H, W)`` bool masks; with ``confidence``, ``(mask, bright, dark)``
        with two ``(H, W)`` float32 maps in [0, 1]: how sure the detector is that a pixel is bright (dark)
        damage. :func:`classical_repair` moves each pixel that share of the way to the inpainted value.
    """
    import cv2  # noqa: PLC0415

    s = settings or ScratchDetectorSettings()
    image = _check_image(image_rgb_uint8)
    h, w = image.shape[:2]
    for name, m in (("protect", protect), ("strict", strict)):
        if m is not None and np.shape(m) != (h, w):
            raise ValueError(f"{name} must have shape {(h, w)} (H, W); got {np.shape(m)}")
    scale = max(min(h, w) / 512.0, 0.5)
    ws = max(scale, 1.0)
    gray = _luminance(image)
    k_line = int(2 * round(s.max_width * ws) + 3)  # wider than the widest scratch, so a scratch is all "top"
    k_dust = int(2 * round(0.5 * s.dust_max_side * ws) + 3)  # and than the largest speck
    thick_se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k_line - 2, k_line - 2))
    found = []
    for on, op in ((s.bright, cv2.MORPH_TOPHAT), (s.dark, cv2.MORPH_BLACKHAT)):
        if not on:
            found.append(None)
            continue
        line = _response(gray, op, k_line, s, scale)
        dust = _response(gray, op, k_dust, s, scale)
        # a scratch is thin: the parts of a candidate region wider than a scratch are not one
        thick = cv2.dilate(cv2.morphologyEx(line[2].astype(np.uint8), cv2.MORPH_OPEN, thick_se), np.ones((3, 3), np.uint8))
        found.append((line, line[2] & (thick == 0), dust))
    every = np.zeros((h, w), bool)
    for f in found:
        if f is not None:
            every |= f[0][2] | f[2][2]
    masks = [np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)]
    if every.any():
        # the photo as it would be without any candidate: the sides of a line are judged on it
        hole = cv2.dilate(every.astype(np.uint8), np.ones((3, 3), np.uint8))
        fill = cv2.inpaint(np.clip(gray, 0, 255).astype(np.uint8), hole, 3, cv2.INPAINT_TELEA).astype(np.float32)
        fill = cv2.GaussianBlur(fill, (0, 0), 0.8)
        # crowding is judged on the significant thin structures of either polarity
        faint = np.zeros((h, w), bool)
        for f in found:
            if f is not None:
                faint |= (f[0][1] >= s.crowd_level) & ~f[0][2]
        # structures, not grain: faint pieces of at least a few pixels
        n_f, lab_f, st_f, _ = cv2.connectedComponentsWithStats(faint.astype(np.uint8), connectivity=8)
        lines_any = (st_f[:, cv2.CC_STAT_AREA] >= int(round(8 * ws)))[lab_f] & faint
        st = np.zeros((h, w), bool) if strict is None else np.asarray(strict, bool)
        rgb = image.astype(np.float32)
        # the sides of a line are sampled on the photo itself, beyond the widest scratch
        smooth = cv2.GaussianBlur(gray, (0, 0), 0.8)
        base = 0.5 * s.max_width * ws + 1.5
        for i, f in enumerate(found):
            if f is None:
                continue
            (resp, _, _), thin, (dresp, dratio, dcand) = f
            if thin.any():
                nx, ny = _normals(resp)
                edge = _edge_along(smooth, nx, ny, (base, base + 2.5 * ws, base + 5 * ws))
                same = cv2.dilate((f[0][1] >= s.crowd_level).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32)
                offsets = tuple(base + 2 + k * 3 * ws for k in range(int(s.parallel_reach * scale / (3 * ws)) + 1))
                masks[i] = np.maximum(masks[i], _lines(thin, resp, edge, lines_any, st, s, scale, rgb,
                                                       (same, nx, ny, offsets)))
            if dcand.any():
                ring = _ring_spread(fill, dcand, k_dust)
                masks[i] = np.maximum(masks[i], _specks(dcand, dresp, dratio, ring, lines_any, st, s, scale, rgb))
    if s.grow > 0:
        g = 2 * s.grow + 1
        se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (g, g))
        masks = [cv2.dilate(m, se) if m.any() else m for m in masks]
    if protect is not None:
        keep = ~np.asarray(protect, bool)
        masks = [m * keep for m in masks]
    mask = (masks[0] > 0) | (masks[1] > 0)
    out = mask.astype(np.uint8) * 255
    if confidence:
        return out, masks[0], masks[1]
    return (out, masks[0] > 0, masks[1] > 0) if polarity else out


def _ring_spread(fill: np.ndarray, cand: np.ndarray, size: int) -> np.ndarray:
    """Per pixel: max − min of ``fill`` in a ``size``-px square (how plain the background of a speck is)."""
    import cv2  # noqa: PLC0415

    se = np.ones((size, size), np.uint8)
    return cv2.dilate(fill, se) - cv2.erode(fill, se)


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


def face_masks(image_rgb_uint8: np.ndarray, landmarks_path=None, weights_dir=None) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """Conservative masks for the faces dlib finds: ``(protect, strict)``, two ``(H, W)`` bool arrays.

    ``protect`` covers the eyes, brows, nose and mouth (their landmark hulls, grown by 6 % of the face's
    width): never marked as damage. ``strict`` covers the whole face from chin to forehead, grown by 10 %:
    there only long, stark lines are taken, no specks. Returns None, quietly, when dlib or its landmark
    model is not installed (faces are optional for the no-download mode).
    """
    import cv2  # noqa: PLC0415

    from ..errors import MissingWeightsError  # noqa: PLC0415

    image = _check_image(image_rgb_uint8)
    try:
        from .faces import detect_faces  # noqa: PLC0415

        found = detect_faces(image, landmarks_path, weights_dir)
    except (ImportError, MissingWeightsError):
        return None
    h, w = image.shape[:2]
    protect = np.zeros((h, w), np.uint8)
    strict = np.zeros((h, w), np.uint8)
    for _, lm in found:
        lm = np.asarray(lm, np.float64)
        size = float(np.ptp(lm[:, 0])) or 1.0
        one, whole = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
        for part in (slice(17, 22), slice(22, 27), slice(27, 36), slice(36, 42), slice(42, 48), slice(48, 60)):
            cv2.fillConvexPoly(one, cv2.convexHull(np.round(lm[part]).astype(np.int32)), 1)
        up = (lm[8] - lm[27]) * 0.6  # the forehead: brows moved up by 0.6 of the nose-to-chin distance
        cv2.fillConvexPoly(whole, cv2.convexHull(np.round(np.vstack([lm, lm[17:27] - up])).astype(np.int32)), 1)
        for m, grow, acc in ((one, 0.06, protect), (whole, 0.10, strict)):
            g = max(3, int(round(grow * size)) * 2 + 1)
            acc |= cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (g, g)))
    return protect > 0, (strict > 0) | (protect > 0)


def _soft_fill(image: np.ndarray, filled: np.ndarray, bright: np.ndarray, dark: np.ndarray) -> np.ndarray:
    """Move each pixel towards the inpainted value by the detector's confidence. A bright scratch only added
    light and a dark one only took it away: the fill never goes the other way (a pixel marked both ways may)."""
    img = image.astype(np.float32)
    fill = filled.astype(np.float32)
    b, d = bright[..., None], dark[..., None]
    fill = np.where((b > 0) & (d == 0), np.minimum(fill, img), fill)
    fill = np.where((d > 0) & (b == 0), np.maximum(fill, img), fill)
    conf = np.maximum(b, d)
    return np.clip(np.rint(img + conf * (fill - img)), 0, 255).astype(np.uint8)


def classical_repair(image_rgb_uint8: np.ndarray, with_scratch: bool = True, *, denoise: float = 0.5,
                     contrast: float = 0.5, faces: bool = True, inpaint_method: Literal["telea", "ns"] = "telea",
                     settings: Optional[ScratchDetectorSettings] = None) -> tuple[np.ndarray, np.ndarray]:
    """Repair a photo without any downloaded model (the no-download mode).

    Three separate steps, each with its own parameter: scratch-and-dust repair (``with_scratch``), denoising
    (``denoise``) and contrast (``contrast``). ``denoise=0, contrast=0`` runs the scratch-and-dust repair alone,
    which changes only the pixels of the returned mask.

    Args:
        image_rgb_uint8: ``(H, W, 3)`` uint8 RGB photo (``(H, W)`` gray accepted), at least 8×8.
        with_scratch: detect and inpaint scratches and dust (otherwise only denoise and contrast).
        denoise: denoising strength in [0, 3], a multiplier of the filter strength set from the estimated
            noise (0 = off; 1 = the full estimate).
        contrast: CLAHE mix amount in [0, 1] (0 = off).
        faces: give faces found by dlib a conservative mask (eyes, brows, nose and mouth never inpainted; only
            long stark lines elsewhere in a face); skipped quietly when dlib or its landmark model is missing.
        inpaint_method: ``"telea"`` or ``"ns"``.
        settings: scratch detector knobs.

    Returns:
        ``(image, mask)``: the repaired ``(H, W, 3)`` uint8 RGB image and the ``(H, W)`` uint8 scratch mask
        (255 = repaired pixel; all zeros when ``with_scratch`` is False). The input is not modified.
    """
    image = _check_image(image_rgb_uint8)
    if not 0 <= contrast <= 1:
        raise ValueError(f"contrast must be in [0, 1]; got {contrast}")
    if not 0 <= denoise <= 3:
        raise ValueError(f"denoise must be in [0, 3]; got {denoise}")
    if with_scratch:
        protect = strict = None
        if faces:
            masks = face_masks(image)
            if masks is not None:
                protect, strict = masks
        mask, bright, dark = detect_scratches_classical(image, settings, protect, strict, confidence=True)
        out = _soft_fill(image, inpaint(image, mask, method=inpaint_method), bright, dark)
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
