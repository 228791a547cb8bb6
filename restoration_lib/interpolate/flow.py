"""Frame interpolation without learned weights: dense optical flow, splatted to the wanted time.

How a frame at time ``t`` between ``img0`` (t=0) and ``img1`` (t=1) is made:

1. Dense flow both ways, ``F01`` (frame 0 → 1) and ``F10``, with OpenCV's DIS optical flow on the gray
   frames (optionally downscaled for speed, then upsampled).
2. Forward-backward consistency: a pixel of frame 0 whose flow is not undone by the backward flow
   (``|F01(x) + F10(x + F01(x))|`` large), or whose colour does not match where it lands, is likely
   occluded in the other frame. Each pixel gets a confidence ``z = exp(-fb_error - beta * colour_error)``.
3. The flow from time ``t`` back to each frame is obtained by forward-splatting (bilinear, weighted by
   ``z``): pixel ``x`` of frame 0 moves to ``x + t F01(x)`` and carries ``-t F01(x)``. Where several
   pixels land on the same spot, the consistent ones win; spots no pixel reaches (disocclusions) take the
   other direction's estimate, or the linear approximation of Jiang et al. (Super SloMo) as a last resort.
4. Both frames are backward-warped to ``t`` and blended with weights ``(1 - t) * V0`` and ``t * V1``,
   where ``V`` is the splatted confidence (how much consistent content of that frame reaches the spot).

Tensors are (N, 3, H, W) float RGB in [0, 1]; flows are (N, 2, H, W) in pixels (x, y).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import cv2
import numpy as np
import torch

from ..archs.rife import backward_warp

__all__ = ["FlowPair", "FlowInterpolator", "forward_splat", "estimate_flow"]

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def forward_splat(values: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Move every pixel of ``values`` by ``flow`` and add it bilinearly into the four nearest pixels.

    Args:
        values: (N, C, H, W) float.
        flow: (N, 2, H, W) displacement in pixels.

    Returns:
        (N, C, H, W) sums (no normalisation; splat a channel of ones to get the coverage).
    """
    n, c, h, w = values.shape
    gy, gx = torch.meshgrid(
        torch.arange(h, dtype=flow.dtype, device=flow.device),
        torch.arange(w, dtype=flow.dtype, device=flow.device),
        indexing="ij",
    )
    px = (gx + flow[:, 0]).reshape(-1)
    py = (gy + flow[:, 1]).reshape(-1)
    x0 = torch.floor(px)
    y0 = torch.floor(py)
    rows = values.permute(0, 2, 3, 1).reshape(-1, c)
    base = (torch.arange(n, device=flow.device) * (h * w)).repeat_interleave(h * w)
    idx, wgt = [], []
    for dx in (0.0, 1.0):
        for dy in (0.0, 1.0):
            xx = x0 + dx
            yy = y0 + dy
            wk = (1 - (px - xx).abs()) * (1 - (py - yy).abs())
            inside = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
            wgt.append(torch.where(inside, wk, torch.zeros_like(wk)))
            idx.append((yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).long() + base)
    wgt_all = torch.cat(wgt).to(values.dtype).unsqueeze(1)
    out = torch.zeros(n * h * w, c, dtype=values.dtype, device=values.device)
    out.index_add_(0, torch.cat(idx), rows.repeat(4, 1) * wgt_all)
    return out.reshape(n, h, w, c).permute(0, 3, 1, 2)


def _gray_u8(img: torch.Tensor) -> list[np.ndarray]:
    """(N, 3, H, W) float [0,1] → N gray uint8 arrays (ITU-R BT.601 luma, as OpenCV)."""
    rgb = (img.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in rgb]


def estimate_flow(
    gray0: np.ndarray, gray1: np.ndarray, preset: str = "medium", downscale: float = 1.0, patch_size: int = 12
) -> np.ndarray:
    """DIS optical flow from ``gray0`` to ``gray1`` (H, W uint8) as an (H, W, 2) float32 array in pixels.

    Args:
        preset: ``"ultrafast"``, ``"fast"`` or ``"medium"`` (OpenCV DIS presets).
        downscale: compute the flow on frames resized by this factor (≤ 1) and scale it back up.
        patch_size: DIS patch size (12 is a little more robust than OpenCV's default 8 on real footage).
    """
    if preset not in _PRESETS:
        raise ValueError(f"flow preset must be one of {', '.join(_PRESETS)}; got {preset!r}")
    h, w = gray0.shape
    if downscale < 1.0:
        size = (max(8, round(w * downscale)), max(8, round(h * downscale)))
        g0 = cv2.resize(gray0, size, interpolation=cv2.INTER_AREA)
        g1 = cv2.resize(gray1, size, interpolation=cv2.INTER_AREA)
    else:
        g0, g1 = gray0, gray1
    dis = cv2.DISOpticalFlow_create(_PRESETS[preset])
    dis.setPatchSize(patch_size)
    dis.setPatchStride(max(1, min(dis.getPatchStride(), patch_size // 2)))
    flow = dis.calc(g0, g1, None)
    if g0.shape != gray0.shape:
        sx = w / g0.shape[1]
        sy = h / g0.shape[0]
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= sx
        flow[..., 1] *= sy
    return flow


@dataclass
class FlowPair:
    """Bidirectional flow of one frame pair and the per-pixel confidences derived from it.

    Attributes:
        f01: (N, 2, H, W) flow from frame 0 to frame 1, in pixels.
        f10: (N, 2, H, W) flow from frame 1 to frame 0.
        z0: (N, 1, H, W) confidence in (0, 1] of each frame-0 pixel (forward-backward and colour consistency).
        z1: (N, 1, H, W) the same for frame 1.
    """

    f01: torch.Tensor
    f10: torch.Tensor
    z0: torch.Tensor
    z1: torch.Tensor


class FlowInterpolator:
    """The no-weights interpolation model (``Interpolator(model="flow")``).

    Args:
        preset: DIS preset, ``"ultrafast"``, ``"fast"`` or ``"medium"`` (default).
        max_flow_side: the flow is computed on frames downscaled so that their longer side is at most this
            many pixels (``None``: full resolution). Motion estimation at ~1000 px is as good and much faster.
        colour_weight: ``beta``, weight of the colour mismatch (per unit of [0, 1] intensity) in the
            confidence ``exp(-fb_error_px - beta * colour_error)``.
    """

    name = "flow"

    def __init__(self, preset: str = "medium", max_flow_side: Union[int, None] = 1024, colour_weight: float = 25.5):
        if preset not in _PRESETS:
            raise ValueError(f"flow preset must be one of {', '.join(_PRESETS)}; got {preset!r}")
        self.preset = preset
        self.max_flow_side = max_flow_side
        self.colour_weight = colour_weight

    def __repr__(self) -> str:
        return f"FlowInterpolator(preset={self.preset!r}, max_flow_side={self.max_flow_side})"

    def flows(self, img0: torch.Tensor, img1: torch.Tensor) -> FlowPair:
        """Bidirectional flow and confidences for (N, 3, H, W) frames in [0, 1]."""
        h, w = img0.shape[-2:]
        down = 1.0
        if self.max_flow_side is not None and max(h, w) > self.max_flow_side:
            down = self.max_flow_side / max(h, w)
        f01, f10 = [], []
        for g0, g1 in zip(_gray_u8(img0), _gray_u8(img1)):
            f01.append(estimate_flow(g0, g1, self.preset, down))
            f10.append(estimate_flow(g1, g0, self.preset, down))
        to_t = lambda fl: torch.from_numpy(np.stack(fl)).permute(0, 3, 1, 2).to(img0.device)  # noqa: E731
        F01, F10 = to_t(f01), to_t(f10)
        x0, x1 = img0.float(), img1.float()
        fb0 = (F01 + backward_warp(F10, F01)).norm(dim=1, keepdim=True)
        fb1 = (F10 + backward_warp(F01, F10)).norm(dim=1, keepdim=True)
        col0 = (x0 - backward_warp(x1, F01)).abs().mean(1, keepdim=True)
        col1 = (x1 - backward_warp(x0, F10)).abs().mean(1, keepdim=True)
        z0 = torch.exp(-(fb0 + self.colour_weight * col0).clamp(max=40.0))
        z1 = torch.exp(-(fb1 + self.colour_weight * col1).clamp(max=40.0))
        return FlowPair(F01, F10, z0, z1)

    def synthesize(self, img0: torch.Tensor, img1: torch.Tensor, pair: FlowPair, t: float) -> torch.Tensor:
        """The frame at time ``t`` in (0, 1) from precomputed :meth:`flows` (N, 3, H, W, not clamped)."""
        F01, F10, z0, z1 = pair.f01, pair.f10, pair.z0, pair.z1
        # splat [flow * z, z, 1] of each frame to time t
        s0 = forward_splat(torch.cat((-t * F01 * z0, z0, torch.ones_like(z0)), 1), t * F01)
        s1 = forward_splat(torch.cat((-(1 - t) * F10 * z1, z1, torch.ones_like(z1)), 1), (1 - t) * F10)
        e0 = s0[:, :2] / s0[:, 2:3].clamp_min(1e-30)
        e1 = s1[:, :2] / s1[:, 2:3].clamp_min(1e-30)
        hit0 = s0[:, 3:4] > 0.05
        hit1 = s1[:, 3:4] > 0.05
        lin0 = -(1 - t) * t * F01 + t * t * F10
        lin1 = (1 - t) ** 2 * F01 - t * (1 - t) * F10
        ft0 = torch.where(hit0, e0, torch.where(hit1, -t / (1 - t) * e1, lin0))
        ft1 = torch.where(hit1, e1, torch.where(hit0, -(1 - t) / t * e0, lin1))
        w0 = backward_warp(img0.float(), ft0)
        w1 = backward_warp(img1.float(), ft1)
        # visibility: coverage (≤ 1) times mean confidence of what landed = min(cov, 1) * zsum / cov
        v0 = (1 - t) * s0[:, 2:3] / s0[:, 3:4].clamp_min(1.0) + 1e-4
        v1 = t * s1[:, 2:3] / s1[:, 3:4].clamp_min(1.0) + 1e-4
        return (v0 * w0 + v1 * w1) / (v0 + v1)

    def __call__(self, img0: torch.Tensor, img1: torch.Tensor, t: float = 0.5) -> torch.Tensor:
        return self.many(img0, img1, [t])[0]

    def many(self, img0: torch.Tensor, img1: torch.Tensor, ts: Sequence[float]) -> list[torch.Tensor]:
        """Frames at several times between one pair, estimating the flow once."""
        pair = self.flows(img0, img1)
        return [self.synthesize(img0, img1, pair, float(t)) for t in ts]
