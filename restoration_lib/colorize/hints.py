"""Colour from hints: a few coloured points (or strokes) spread over a gray photo, stopping at edges.

>>> from restoration_lib.colorize.hints import colorize_with_hints
>>> hints = [(40, 200, (110, 160, 220)), (300, 250, (200, 150, 120))]   # (y, x, (r, g, b)), 0-255
>>> out = colorize_with_hints("old_photo.jpg", hints)                  # doctest: +SKIP
>>> out.image                                                          # doctest: +SKIP  (H, W, 3) uint8

The method is the one of Levin, Lischinski & Weiss, "Colorization using Optimization" (SIGGRAPH 2004):
neighbouring pixels of similar luminance get similar chroma, hint pixels get the hint's chroma. Three
changes make it faster and better (measured in ``benchmarks/hints.py``, table in ``docs/colorize_hints.md``):

1. **Coarse-to-fine solve.** The authors' system (8-neighbour affinities with their variance rule, in
   luma/chroma space) is solved on an image pyramid, coarsest level first; each finer level starts from the
   upsampled coarser solution and takes a fixed number of BiCGSTAB steps (30 by default) instead of an exact
   sparse factorisation. At coarse levels a hint covers a whole coarse pixel, so its colour reaches further
   than the exact solution's (which puts a spike at each single-pixel hint): the result is closer to the
   true colours than the exact solve, at a fraction of the time. The operator is never stored as a sparse
   matrix (eight float32 weight planes), so memory is a small multiple of the photo: a 3000×2000 scan
   stays well under 2 GB.
2. **Luminance kept exactly.** Colours that fall outside the RGB cube are desaturated towards the pixel's
   own gray instead of clipped per channel, so the output's luma equals the photo's (BT.601,
   ``0.299 R + 0.587 G + 0.114 B``) up to uint8 rounding.

With ``base=`` (a network's colour output, e.g. DeOldify's), what spreads is the *correction* at each hint
(hint chroma minus the network's), fading with distance (``reach``) so that regions far from every hint
keep the network's colours.

Hints files (for the CLI) are JSON, read by :func:`load_hints`::

    {"hints": [[y, x, [r, g, b]], ...]}

with ``y`` the row and ``x`` the column (pixels, 0-based from the top-left) and ``r, g, b`` in 0-255.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np
from PIL import Image

from ..errors import RestorationError
from ..io import LoadedImage, read_image

__all__ = [
    "HintsError",
    "HintsResult",
    "colorize_with_hints",
    "load_hints",
    "parse_hints",
    "luma",
    "propagate",
]

#: BT.601 luma weights (R, G, B): the gray that is kept exactly
LUMA = (0.299, 0.587, 0.114)
#: levels are halved until the short side is at most this many pixels
COARSEST = 24

ImageLike = Union[str, os.PathLike, bytes, Image.Image, np.ndarray, LoadedImage]
Hint = tuple[int, int, tuple[int, int, int]]


class HintsError(RestorationError, ValueError):
    """A hint outside the image, a colour outside 0-255, a malformed hints file, or a ``base`` of another size."""


@dataclass
class HintsResult:
    """What :func:`colorize_with_hints` returns.

    Attributes:
        image: the colorized photo, (H, W, 3) uint8 RGB; its luma equals the input's up to rounding.
        luma: the photo's luma, (H, W) float32 in [0, 1].
        hints: the hints used, ``(y, x, (r, g, b))`` after removing duplicates (the last one at a pixel wins).
        notes: remarks for the user (e.g. "no hints: the gray photo").
        base: whether a network's colours were the starting point.
    """

    image: np.ndarray
    luma: np.ndarray
    hints: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    base: bool = False


# ----------------------------------------------------------------------------------------------------------------
# hints: parsing and validation


def _as_int(v: Any, what: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise HintsError(f"{what}: expected a number; got {v!r}")
    if not math.isfinite(float(v)) or float(v) != int(v):
        raise HintsError(f"{what}: expected a whole number of pixels; got {v!r}")
    return int(v)


def parse_hints(hints: Iterable[Any], shape: Optional[tuple[int, int]] = None) -> list[Hint]:
    """Check hints and return them as ``[(y, x, (r, g, b)), ...]`` of ints.

    Args:
        hints: items ``(y, x, (r, g, b))`` (a stroke is many such points); ``y``/``x`` whole pixel
            numbers, colours in 0-255.
        shape: ``(H, W)`` of the photo; when given, every hint must lie inside it.

    Raises:
        HintsError: a malformed item, a colour outside 0-255, or (with ``shape``) a hint outside the image.
    """
    out = []
    for i, item in enumerate(hints):
        try:
            y, x, colour = item
            colour = tuple(colour)
        except (TypeError, ValueError):
            raise HintsError(f"hint {i}: expected (y, x, (r, g, b)); got {item!r}") from None
        y, x = _as_int(y, f"hint {i} y"), _as_int(x, f"hint {i} x")
        if len(colour) != 3:
            raise HintsError(f"hint {i}: expected a colour (r, g, b); got {colour!r}")
        rgb = tuple(_as_int(c, f"hint {i} colour") for c in colour)
        if any(c < 0 or c > 255 for c in rgb):
            raise HintsError(f"hint {i} at (y={y}, x={x}): colour values must lie in 0-255; got {rgb}")
        if shape is not None and not (0 <= y < shape[0] and 0 <= x < shape[1]):
            raise HintsError(
                f"hint {i} at (y={y}, x={x}) is outside the image: expected 0 <= y < {shape[0]} and 0 <= x < {shape[1]}"
            )
        out.append((y, x, rgb))
    return out


def load_hints(path: Union[str, os.PathLike]) -> list[Hint]:
    """Read a hints JSON file: ``{"hints": [[y, x, [r, g, b]], ...]}`` (a bare list is accepted too).

    ``y`` is the row and ``x`` the column in pixels (0 at the top-left), ``r, g, b`` in 0-255. Whether the
    points lie inside the photo is checked by :func:`colorize_with_hints`.

    Raises:
        HintsError: the file is missing, is not JSON, or does not have that form.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HintsError(f"{p}: no such hints file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HintsError(f"{p}: not a JSON hints file ({e})") from None
    if isinstance(data, dict):
        if "hints" not in data:
            raise HintsError(f'{p}: expected {{"hints": [[y, x, [r, g, b]], ...]}}; got keys {sorted(data)}')
        data = data["hints"]
    if not isinstance(data, list):
        raise HintsError(f'{p}: expected {{"hints": [[y, x, [r, g, b]], ...]}}; got {type(data).__name__}')
    try:
        return parse_hints(data)
    except HintsError as e:
        raise HintsError(f"{p}: {e}") from None


def save_hints(path: Union[str, os.PathLike], hints: Iterable[Any]) -> Path:
    """Write ``hints`` as a JSON file :func:`load_hints` reads (atomically). Returns the path."""
    from ..io import atomic_path

    rows = [[y, x, list(c)] for y, x, c in parse_hints(hints)]
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps({"hints": rows}) + "\n", encoding="utf-8")
    return Path(path)


# ----------------------------------------------------------------------------------------------------------------
# colour conversions


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of (…, 3) RGB in [0, 1] (float32)."""
    rgb = np.asarray(rgb, dtype=np.float32)
    return rgb[..., 0] * LUMA[0] + rgb[..., 1] * LUMA[1] + rgb[..., 2] * LUMA[2]


def _chroma(rgb: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(R - Y, B - Y) of (…, 3) RGB in [0, 1] as (2, …) float32."""
    rgb = np.asarray(rgb, dtype=np.float32)
    return np.stack([rgb[..., 0] - y, rgb[..., 2] - y])


def _to_rgb(y: np.ndarray, c: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] (H, W, 3 float32) from luma ``y`` (H, W) and chroma ``c`` = (R - Y, B - Y) (2, H, W).

    Out-of-gamut colours are desaturated towards (y, y, y) until they fit, so luma stays exactly ``y``.
    """
    dr, db = c[0], c[1]
    dg = -(LUMA[0] * dr + LUMA[2] * db) / LUMA[1]
    d = np.stack([dr, dg, db], axis=-1)
    yy = y[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(d > 0, (1.0 - yy) / d, np.where(d < 0, yy / -d, np.inf))
    s = np.clip(room.min(axis=-1, keepdims=True), 0.0, 1.0)
    return np.clip(yy + s * d, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------------------------
# the solver


_OFFSETS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)


def _affinities(y: np.ndarray) -> np.ndarray:
    """The authors' 8-neighbour weights from luma ``y`` (H, W float32): (8, H, W), each pixel's row summing to 1.

    Per pixel, ``csig`` is 0.6 × the variance of its 3×3 window, at least what gives the most similar
    neighbour weight 0.01, at least 2e-6; neighbour ``s`` of pixel ``r`` gets ``exp(-(Y_s - Y_r)^2 / csig_r)``.
    Neighbours outside the image get 0.
    """
    h, w = y.shape
    p = np.pad(y, 1, mode="edge")
    valid = np.pad(np.ones((h, w), np.float32), 1)
    s = y.copy()
    s2 = y * y
    cnt = np.ones_like(y)
    mgv = np.full_like(y, np.inf)
    for dy, dx in _OFFSETS:
        v = p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        ok = valid[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        s += v * ok
        s2 += v * v * ok
        cnt += ok
        np.minimum(mgv, np.where(ok > 0, (v - y) ** 2, np.inf), out=mgv)
    mean = s / cnt
    var = np.maximum(s2 / cnt - mean * mean, 0)
    del s, s2, mean
    inv = (1.0 / np.maximum(np.maximum(0.6 * var, mgv / -math.log(0.01)), 2e-6)).astype(np.float32)
    del var, mgv
    wts = np.empty((8, h, w), np.float32)
    for k, (dy, dx) in enumerate(_OFFSETS):
        v = p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        np.exp(-((v - y) ** 2) * inv, out=wts[k])
        wts[k] *= valid[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
    wts /= np.maximum(wts.sum(axis=0), 1e-30)  # a 1×1 photo has no neighbours
    return wts


class _Level:
    """One pyramid level: the system ``(1 + screen) x_r - sum_s w_rs x_s = 0`` off the hints, ``x = values`` on them."""

    def __init__(self, y: np.ndarray, mask: np.ndarray, values: np.ndarray, screen: float):
        self.mask, self.values = mask, values
        self.w = _affinities(y)
        self.diag = np.float32(1.0 + screen)
        self.free = (~mask).astype(np.float32)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """A x on the free pixels (0 on the hints), for x of shape (C, H, W)."""
        h, w = x.shape[1:]
        p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
        out = self.diag * x
        for k, (dy, dx) in enumerate(_OFFSETS):
            out -= self.w[k] * p[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        out *= self.free
        return out

    def solve(self, x: np.ndarray, iterations: int, tol: float = 1e-5) -> np.ndarray:
        """BiCGSTAB on the free pixels from the start ``x`` (C, H, W), hints held fixed; each channel on its own."""
        x = np.where(self.mask, self.values, x).astype(np.float32)
        r = -self.apply(x)
        r_hat = r.copy()
        dot = lambda a, b: (a * b).sum(axis=(1, 2), dtype=np.float64)  # noqa: E731
        stop = tol * np.sqrt(dot(r, r)) + 1e-30
        rho = alpha = omega = np.ones(x.shape[0])
        v = np.zeros_like(x)
        p = np.zeros_like(x)
        col = lambda a: a.astype(np.float32)[:, None, None]  # noqa: E731
        best, best_res = x.copy(), np.sqrt(dot(r, r))
        for _ in range(iterations):
            rho_new = dot(r_hat, r)
            live = (np.abs(rho) > 1e-300) & (np.abs(omega) > 1e-300)
            beta = np.where(live, rho_new / np.where(live, rho * omega, 1.0) * alpha, 0.0)
            p = r + col(beta) * (p - col(omega) * v)
            v = self.apply(p)
            rv = dot(r_hat, v)
            alpha = np.where(np.abs(rv) > 1e-300, rho_new / np.where(np.abs(rv) > 1e-300, rv, 1.0), 0.0)
            s = r - col(alpha) * v
            t = self.apply(s)
            tt = dot(t, t)
            omega = np.where(tt > 1e-300, dot(t, s) / np.where(tt > 1e-300, tt, 1.0), 0.0)
            x += col(alpha) * p + col(omega) * s
            r = s - col(omega) * t
            rho = rho_new
            res = np.sqrt(dot(r, r))
            better = res < best_res  # BiCGSTAB's residual is not monotone: keep each channel's best iterate
            best[better] = x[better]
            best_res = np.minimum(res, best_res)
            if np.all(res <= stop):
                break
        return best


def _down(y: np.ndarray, mask: np.ndarray, values: np.ndarray):
    """Halve a level: luma by 2×2 means; a coarse pixel is a hint where any of its four is (mean value)."""
    h, w = y.shape
    ph, pw = h + h % 2, w + w % 2
    if (ph, pw) != (h, w):
        y = np.pad(y, ((0, ph - h), (0, pw - w)), mode="edge")
        mask = np.pad(mask, ((0, ph - h), (0, pw - w)))
        values = np.pad(values, ((0, 0), (0, ph - h), (0, pw - w)))
    yc = y.reshape(ph // 2, 2, pw // 2, 2).mean(axis=(1, 3))
    m = mask.reshape(ph // 2, 2, pw // 2, 2).astype(np.float32)
    cnt = m.sum(axis=(1, 3))
    vs = (values * mask).reshape(values.shape[0], ph // 2, 2, pw // 2, 2).sum(axis=(2, 4))
    vc = np.where(cnt > 0, vs / np.maximum(cnt, 1), 0).astype(np.float32)
    return yc.astype(np.float32), cnt > 0, vc


def _up(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of (C, h, w) to (C, H, W) (the coarse grid is the 2×2-cell centres)."""
    import cv2

    h, w = shape
    hc, wc = x.shape[1:]
    out = np.empty((x.shape[0], h, w), np.float32)
    for c in range(x.shape[0]):
        big = cv2.resize(x[c], (2 * wc, 2 * hc), interpolation=cv2.INTER_LINEAR)
        out[c] = big[:h, :w]
    return out


def propagate(
    y: np.ndarray,
    mask: np.ndarray,
    values: np.ndarray,
    *,
    screen: float = 0.0,
    iterations: int = 30,
    coarsest: int = COARSEST,
    progress: bool = False,
) -> np.ndarray:
    """Spread ``values`` from the hint pixels over the image, edge-aware (the solver behind the module).

    Minimises ``sum_edges w_rs (x_r - x_s)^2 + screen * sum_r d_r x_r^2`` with ``x = values`` at ``mask``,
    coarse-to-fine.

    Args:
        y: luma, (H, W) float32 in [0, 1].
        mask: (H, W) bool, True at hints.
        values: (C, H, W) float32; read where ``mask``.
        screen: pull towards 0 away from hints (0: none; ``1 / reach^2`` fades over about ``reach`` pixels).
        iterations: BiCGSTAB steps per level (the coarsest is solved to convergence).
        coarsest: levels are halved until the short side is at most this.
        progress: a tqdm bar over the levels.

    Returns:
        (C, H, W) float32.
    """
    from tqdm.auto import tqdm

    pyramid = [(y.astype(np.float32), mask, values.astype(np.float32))]
    scr = [screen]
    while min(pyramid[-1][0].shape) > coarsest:
        pyramid.append(_down(*pyramid[-1]))
        scr.append(scr[-1] * 4.0)  # the same fade in fine pixels is 2x shorter in coarse ones
    x = None
    bar = tqdm(total=len(pyramid), desc="hints", disable=not progress, leave=False)
    for k in range(len(pyramid) - 1, -1, -1):
        yk, mk, vk = pyramid[k]
        level = _Level(yk, mk, vk, min(scr[k], 1e3))
        if x is None:
            x = np.zeros_like(vk)
            if mk.any():
                x[:] = (vk * mk).sum(axis=(1, 2), keepdims=True) / mk.sum()
            x = level.solve(x, iterations=max(200, yk.size), tol=1e-6)
        else:
            x = level.solve(_up(x, yk.shape), iterations=iterations)
        del level
        bar.update()
    bar.close()
    return x


# ----------------------------------------------------------------------------------------------------------------
# the public call


def _read(image: ImageLike, what: str) -> np.ndarray:
    """(H, W, 3) float32 RGB in [0, 1] from any input read_image accepts."""
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    try:
        return read_image(image, as_float=True).rgb
    except RestorationError as e:
        raise type(e)(f"{what}: {e}") from None


def colorize_with_hints(
    image: ImageLike,
    hints: Iterable[Any],
    *,
    base: Optional[ImageLike] = None,
    reach: Optional[float] = None,
    iterations: int = 30,
    progress: bool = True,
) -> HintsResult:
    """Colorize a photo from colour hints, keeping its luminance exactly.

    Args:
        image: the photo: a path, PIL image, or (H, W) / (H, W, 3) uint8 array (a colour photo is made gray
            first: BT.601 luma).
        hints: ``[(y, x, (r, g, b)), ...]``: row, column (0-based pixels), colour in 0-255. A stroke is
            many points. At a pixel given twice, the last hint wins.
        base: a network's colour output for the same photo (same H×W; e.g. DeOldify's). Hints then correct
            its chroma locally and the correction spreads edge-aware; far from hints its colours stay.
        reach: with ``base``, about how many pixels a correction spreads in a uniform region before fading
            (default: a quarter of the photo's longer side). Without ``base``: ``None`` (colour spreads
            over the whole region a hint is in) or a number (colour fades to gray beyond it).
        iterations: BiCGSTAB steps per pyramid level (more: closer to the exact solution).
        progress: a tqdm bar over the pyramid levels (``False``: none).

    Returns:
        A :class:`HintsResult`; ``.image`` is (H, W, 3) uint8 RGB. With no hints: the gray photo (or
        ``base``), with a note and a warning.

    Raises:
        HintsError: a hint outside the image, a colour outside 0-255, or ``base`` of another size.
        ImageReadError: ``image`` or ``base`` cannot be read.
    """
    rgb = _read(image, "image")
    h, w = rgb.shape[:2]
    y = luma(rgb)
    items = parse_hints(hints, (h, w))
    b = None
    if base is not None:
        b = _read(base, "base")
        if b.shape[:2] != (h, w):
            raise HintsError(f"base must have the photo's size {h}×{w} (H×W); got {b.shape[0]}×{b.shape[1]}")
    notes: list[str] = []
    start = np.zeros((2, h, w), np.float32) if b is None else _chroma(b, luma(b))
    if not items:
        msg = "no hints given: " + ("the base colours unchanged" if b is not None else "the gray photo returned")
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
        return HintsResult(image=_finish(y, start), luma=y, hints=[], notes=notes, base=b is not None)

    unique = {(yy, xx): c for yy, xx, c in items}  # last wins
    ys = np.fromiter((k[0] for k in unique), np.int64, len(unique))
    xs = np.fromiter((k[1] for k in unique), np.int64, len(unique))
    cols = np.asarray(list(unique.values()), np.float32) / 255.0
    mask = np.zeros((h, w), bool)
    mask[ys, xs] = True
    hint_c = _chroma(cols, luma(cols))  # 2, N: the hint's chroma, put on the photo's own luma
    values = np.zeros((2, h, w), np.float32)
    values[:, ys, xs] = hint_c - start[:, ys, xs]
    if b is not None and reach is None:
        reach = max(h, w) / 4
    screen = 0.0 if reach is None else 1.0 / float(reach) ** 2
    corr = propagate(y, mask, values, screen=screen, iterations=iterations, progress=progress)
    out = _finish(y, start + corr)
    return HintsResult(image=out, luma=y, hints=[(int(k[0]), int(k[1]), tuple(map(int, c))) for k, c in unique.items()],
                       notes=notes, base=b is not None)


def _finish(y: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    return np.round(_to_rgb(y, chroma) * 255.0).astype(np.uint8)
