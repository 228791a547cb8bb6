"""A careful reference implementation of Levin, Lischinski & Weiss, "Colorization using Optimization"
(SIGGRAPH 2004), for the hints benchmark only (never imported by the library).

What it does, as the paper and the authors' MATLAB release describe it:

- YIQ colour space (the NTSC matrices); the gray photo is Y, the hints give I and Q at their pixels;
- every pixel without a hint is the weighted mean of its 8 neighbours (3×3 window), weights
  ``exp(-(Y_s - Y_r)^2 / csig)`` normalised to sum 1, where ``csig`` is the authors' variance rule:
  0.6 × the variance of the 9 window values, raised so that the most similar neighbour keeps at least
  weight 0.01 (``-min (Y_s - Y_r)^2 / log 0.01``), and at least 2e-6;
- pixels with a hint keep the hint's I and Q (hard constraint);
- the sparse system is solved exactly (SuperLU, factorised once for both chroma channels);
- back to RGB with the NTSC matrix, clipped to [0, 1], rounded to uint8.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

RGB2YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
YIQ2RGB = np.linalg.inv(RGB2YIQ)

_OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def levin_matrix(y: np.ndarray, hint_mask: np.ndarray) -> sparse.csc_matrix:
    """The authors' (non-symmetric) system matrix for luminance ``y`` (H,W float in [0, 1]) and the bool
    ``hint_mask`` (H,W): identity rows at hints, ``1`` and ``-w_rs`` elsewhere. Returns (HW, HW) CSC."""
    h, w = y.shape
    n = h * w
    pad = np.pad(y.astype(np.float64), 1, constant_values=np.nan)
    nb = np.stack([pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in _OFFSETS])  # 8,H,W (NaN outside)
    valid = ~np.isnan(nb)
    win = np.concatenate([nb, y[None].astype(np.float64)])
    cnt = valid.sum(0) + 1
    mean = np.nansum(win, 0) / cnt
    var = np.nansum((win - mean) ** 2, 0) / cnt
    d2 = (nb - y[None]) ** 2
    mgv = np.nanmin(d2, axis=0)
    csig = np.maximum(np.maximum(0.6 * var, -mgv / np.log(0.01)), 2e-6)
    wts = np.where(valid, np.exp(-np.where(valid, d2, 0.0) / csig[None]), 0.0)
    wts /= wts.sum(0, keepdims=True)

    idx = np.arange(n).reshape(h, w)
    pidx = np.pad(idx, 1, constant_values=-1)
    cols = np.stack([pidx[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in _OFFSETS])
    free = ~hint_mask
    keep = valid & free[None]
    rows = np.broadcast_to(idx, cols.shape)[keep]
    a = sparse.coo_matrix((-wts[keep], (rows, cols[keep])), shape=(n, n))
    return (a + sparse.identity(n, format="coo")).tocsc()


def levin_colorize(gray: np.ndarray, hints_yx: np.ndarray, hints_rgb: np.ndarray) -> np.ndarray:
    """Colorize ``gray`` (H,W uint8 luma) from hints (``hints_yx`` N,2 int; ``hints_rgb`` N,3 uint8).

    Returns H,W,3 uint8.
    """
    y = gray.astype(np.float64) / 255.0
    h, w = y.shape
    mask = np.zeros((h, w), bool)
    mask[hints_yx[:, 0], hints_yx[:, 1]] = True
    a = levin_matrix(y, mask)
    iq_hint = (hints_rgb.astype(np.float64) / 255.0) @ RGB2YIQ[1:].T  # N,2
    b = np.zeros((h * w, 2))
    b[hints_yx[:, 0] * w + hints_yx[:, 1]] = iq_hint
    iq = splu(a).solve(b)
    yiq = np.concatenate([y.reshape(-1, 1), iq], axis=1)
    rgb = np.clip(yiq @ YIQ2RGB.T, 0.0, 1.0).reshape(h, w, 3)
    return np.round(rgb * 255.0).astype(np.uint8)
