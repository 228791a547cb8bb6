"""Colour from a reference photo: a user-chosen colour photo of a similar scene lends its colours to a gray one.

>>> from restoration_lib.colorize.reference import colorize_from_reference
>>> out = colorize_from_reference("old_beach.jpg", "modern_beach.jpg")     # doctest: +SKIP
>>> out.image                                                              # doctest: +SKIP  (H, W, 3) uint8

The classical method of Welsh, Ashikhmin & Mueller, "Transferring Color to Greyscale Images" (SIGGRAPH 2002),
with exact luminance:

1. the reference's lightness (CIE L*) is remapped to the gray photo's mean and spread;
2. every pixel, of both photos, gets two features: its L* and the standard deviation of L* in a 5×5
   window (texture);
3. each gray pixel takes the chroma of the reference sample with the nearest features (a k-d tree over a
   seeded random sample of reference pixels);
4. that chroma is smoothed (5×5 median) and put on the photo's own luma, so luminance is kept exactly.

Good for: scenes whose tones map to colours the same way in both photos — a landscape with sky, foliage
and ground, a beach, a portrait against a similar backdrop; no weights, no hints, under a second.
Where it fails: it knows nothing of objects, only brightness and texture, so two things of the same
gray level (a red car and green grass) get the same colour; content missing from the reference gets the
colour of whatever matches its tone; noise and film grain read as texture. For control, give hints
(:func:`~restoration_lib.colorize.hints.colorize_with_hints`), which can also start from this result
(``base=``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from .hints import ImageLike, _chroma, _finish, _read, luma

__all__ = ["ReferenceResult", "colorize_from_reference"]


@dataclass
class ReferenceResult:
    """What :func:`colorize_from_reference` returns.

    Attributes:
        image: the colorized photo, (H, W, 3) uint8 RGB; its luma equals the input's up to rounding.
        luma: the photo's luma, (H, W) float32 in [0, 1].
        samples: how many reference pixels were matched against.
    """

    image: np.ndarray
    luma: np.ndarray
    samples: int


def _features(lightness: np.ndarray) -> np.ndarray:
    """(H·W, 2) float32: L* and its 5×5 standard deviation (both 0-100)."""
    mean = cv2.blur(lightness, (5, 5), borderType=cv2.BORDER_REFLECT)
    sq = cv2.blur(lightness * lightness, (5, 5), borderType=cv2.BORDER_REFLECT)
    std = np.sqrt(np.maximum(sq - mean * mean, 0))
    return np.stack([lightness.ravel(), std.ravel()], axis=1)


def _lightness(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2Lab)[..., 0]


def colorize_from_reference(
    image: ImageLike,
    reference: ImageLike,
    *,
    samples: int = 4096,
    seed: int = 0,
    smooth: Optional[int] = 5,
) -> ReferenceResult:
    """Colorize a gray photo with the colours of a reference colour photo (luminance/texture matching in Lab).

    Args:
        image: the photo: a path, PIL image, (H, W) or (H, W, 3) uint8 array (a colour one is made gray: BT.601).
        reference: a colour photo of a similar scene (any size).
        samples: how many reference pixels (seeded random) are matched against.
        seed: the sampling seed.
        smooth: side of the median filter over the transferred chroma (3 or 5; ``None``: no smoothing).

    Returns:
        A :class:`ReferenceResult`; ``.image`` is (H, W, 3) uint8 RGB.

    Raises:
        ImageReadError: a photo cannot be read.
        ValueError: ``samples`` < 1 or ``smooth`` not in (None, 3, 5).
    """
    from scipy.spatial import cKDTree

    if samples < 1:
        raise ValueError(f"samples must be at least 1; got {samples}")
    if smooth not in (None, 3, 5):
        raise ValueError(f"smooth must be None, 3 or 5; got {smooth!r}")
    rgb = _read(image, "image")
    ref = _read(reference, "reference")
    y = luma(rgb)
    h, w = y.shape
    lt = _lightness(np.repeat(y[..., None], 3, axis=2))
    lr = _lightness(ref)
    # 1. remap the reference's lightness to the photo's statistics
    lr = (lr - lr.mean()) * (lt.std() / max(float(lr.std()), 1e-6)) + lt.mean()
    ft, fr = _features(lt), _features(lr)
    rng = np.random.default_rng(seed)
    pick = rng.choice(fr.shape[0], size=min(samples, fr.shape[0]), replace=False)
    _, nearest = cKDTree(fr[pick]).query(ft, k=1)
    ref_chroma = _chroma(ref, luma(ref)).reshape(2, -1)[:, pick]  # 2, S
    chroma = ref_chroma[:, nearest].reshape(2, h, w).astype(np.float32)
    if smooth:
        chroma = np.stack([cv2.medianBlur(c, smooth) for c in chroma])
    return ReferenceResult(image=_finish(y, chroma), luma=y, samples=int(pick.size))
