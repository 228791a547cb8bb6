"""Input checks shared by the repair stages."""
from __future__ import annotations

from typing import Any

import numpy as np


def as_rgb_uint8(image: Any, name: str = "image", min_side: int = 1) -> np.ndarray:
    """Validate an ``(H, W, 3)`` uint8 RGB array; ``(H, W)`` and ``(H, W, 1)`` gray are expanded to 3 channels.

    Raises:
        TypeError: not a numpy array.
        ValueError: wrong dtype, shape, or a side shorter than ``min_side`` (the message gives expected vs actual).
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (H, W, 3) uint8 RGB; got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 (0..255); got dtype {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"{name} must have shape (H, W, 3) (RGB) or (H, W) (gray); got {image.shape}")
    if image.shape[0] < min_side or image.shape[1] < min_side:
        raise ValueError(f"{name} must be at least {min_side}x{min_side} pixels; got {image.shape[1]}x{image.shape[0]}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image)
