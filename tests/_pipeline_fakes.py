"""Deterministic stand-in stages for the pipeline's plumbing tests (chunking, resume, audio, folders).

They are not models: the colorizer paints a smooth colour field plus a per-frame chroma jitter (what makes
per-frame colorization flicker), the interpolator blends linearly. Tests of the real stages with stand-in
checkpoints live beside them.
"""
from __future__ import annotations

import zlib

import cv2
import numpy as np


class JitterColorizer:
    """Gray → colour: the input's luminance, a fixed smooth tint, plus a per-frame global chroma shift seeded by
    the frame's bytes (so the same frame always gets the same colours)."""

    def __init__(self, jitter: float = 8.0, interrupt_at: int = -1):
        self.jitter = jitter
        self.calls = 0
        self.interrupt_at = interrupt_at  # raise KeyboardInterrupt on that call (0-based), as Ctrl-C would

    def __call__(self, rgb, render_factor=35, post_process=True, watermark=False):
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        self.calls += 1
        ycc = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2YCrCb).astype(np.float32)
        h, w = ycc.shape[:2]
        rng = np.random.default_rng(zlib.crc32(rgb.tobytes()))
        ycc[..., 1] = 128 + np.linspace(-20, 20, w, dtype=np.float32)[None, :] + rng.normal(0, self.jitter)
        ycc[..., 2] = 128 + np.linspace(-15, 15, h, dtype=np.float32)[:, None] + rng.normal(0, self.jitter)
        return cv2.cvtColor(np.clip(np.rint(ycc), 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)


class BlendInterpolator:
    """(1 - t)·a + t·b."""

    def __call__(self, a, b, t=0.5):
        return np.clip(np.rint(a.astype(np.float32) * (1 - t) + b.astype(np.float32) * t), 0, 255).astype(np.uint8)


class Invert:
    """A 'repair' that returns the negative (easy to recognise in outputs)."""

    def __call__(self, rgb):
        return 255 - rgb
