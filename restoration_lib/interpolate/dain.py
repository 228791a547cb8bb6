"""What the Interpolator needs around the DAIN network: the official padding, tiles for big frames, fast mode.

>>> from restoration_lib.interpolate import Interpolator
>>> mid = Interpolator("dain")(frame0, frame1, t=0.5)            # doctest: +SKIP

- **Padding** (:func:`demo_padding`, as the official ``demo_MiddleBury.py``): per axis, a size that is not a
  multiple of 128 is padded up to the next multiple of 128, ``floor(extra / 2)`` before and the rest after; a
  size that already is a multiple of 128 gets 32 pixels on each side. Replicate padding; the result is cropped.
- **Tiles** (:func:`run_dain`): a frame whose padded size exceeds :data:`UNTILED_MAX_PIXELS` (2.5 M pixels,
  so 1080p runs whole) runs in tiles of :data:`TILE` x :data:`TILE` pixels overlapping by :data:`OVERLAP`
  pixels, each tile padded with the demo's rule and the tiles blended with linear ramps
  (:func:`restoration_lib.tiling.run_tiled`).
- **Fast mode** (:func:`restoration_lib.accel.interp.cast_dain`): the depth hourglass, the kernel U-Net, the context extractor and the
  refinement network run in bfloat16 (CPU) / float16 (CUDA); PWC-Net stays float32 (its flows are truncated
  to whole pixels by the projection and the warp, so a coarser flow moves samples by whole pixels), and so
  do the four custom operators, the flow scaling and the blend.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..archs.dain import DAIN
from ..tiling import run_tiled
from .adapters import NetAdapter, register_adapter

__all__ = ["demo_padding", "pad_frames", "run_dain", "dain_many", "UNTILED_MAX_PIXELS", "TILE", "OVERLAP"]

UNTILED_MAX_PIXELS = 2_500_000  #: largest padded frame (pixels) run whole; 1080p pads to 1152x1920 = 2.2 M
TILE = 1408  #: tile side (pixels, before padding: 1408 pads to 1536)
OVERLAP = 128  #: pixels shared by neighbouring tiles


def demo_padding(size: int) -> tuple[int, int]:
    """``(before, after)`` padding of one axis of ``size`` pixels, as the official demo pads."""
    if size < 1:
        raise ValueError(f"frame size must be positive, got {size}")
    if size % 128:
        extra = (size // 128 + 1) * 128 - size
        return extra // 2, extra - extra // 2
    return 32, 32


def pad_frames(frames: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], tuple[int, int, int, int]]:
    """Replicate-pad (N, 3, H, W) frames by :func:`demo_padding`; returns the padded frames and
    ``(top, left, H, W)``, where the original frame lies in the padded one."""
    h, w = frames[0].shape[-2:]
    top, bottom = demo_padding(h)
    left, right = demo_padding(w)
    out = []
    for f in frames:
        # replicate padding needs pad < size on old torch versions only for reflect; replicate works for 1 px
        out.append(F.pad(f.float(), (left, right, top, bottom), mode="replicate"))
    return out, (top, left, h, w)


def run_dain(
    net: DAIN,
    frame0: torch.Tensor,
    frame1: torch.Tensor,
    ts: Sequence[float],
    *,
    max_pixels: int = UNTILED_MAX_PIXELS,
    tile: int = TILE,
    overlap: int = OVERLAP,
    progress: bool = False,
) -> list[torch.Tensor]:
    """DAIN frames at times ``ts`` for unpadded (N, 3, H, W) float frames in [0, 1], any H and W.

    Pads as the official demo, runs whole when the padded frame has at most ``max_pixels`` pixels, else in
    tiles of ``tile`` pixels overlapping by ``overlap``; crops. Returns (N, 3, H, W) float32 per t, not clamped.
    """
    if frame0.shape != frame1.shape or frame0.dim() != 4 or frame0.shape[1] != 3:
        raise ValueError(
            f"DAIN: frames must be (N, 3, H, W) of the same shape; got {tuple(frame0.shape)} and {tuple(frame1.shape)}"
        )
    ts = [float(t) for t in ts]
    h, w = frame0.shape[-2:]
    ph, pw = h + sum(demo_padding(h)), w + sum(demo_padding(w))
    if ph * pw <= max_pixels:
        (a, b), (top, left, _, _) = pad_frames((frame0, frame1))
        outs = net.run(a, b, ts).rectified
        return [o[..., top:top + h, left:left + w] for o in outs]

    def fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat(net.run(a, b, ts).rectified, 1)

    stacked = run_tiled(fn, [frame0.float(), frame1.float()], tile=tile, overlap=overlap, pad=pad_frames,
                        progress=progress)
    return list(stacked.split(3, dim=1))


def dain_many(net: nn.Module, img0: torch.Tensor, img1: torch.Tensor, ts: Sequence[float], scale: float) -> list:
    """:class:`~restoration_lib.interpolate.adapters.NetAdapter` ``many`` hook (``scale`` is not used)."""
    return run_dain(net, img0, img1, ts)  # type: ignore[arg-type]


# DAIN pads inside dain_many (replicate, official rule), so the Interpolator's own zero padding is off.
register_adapter("dain", NetAdapter(pad_multiple=lambda scale: 1, many=dain_many))
