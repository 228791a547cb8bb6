"""Super SloMo's frame path, as the official ``video_to_slomo.py`` runs it.

1. The model size is the frame size rounded *down* to multiples of 32 per axis (:func:`model_size`).
2. Each frame is resized to it with PIL LANCZOS in its own mode (a gray frame is resized as gray), converted
   to RGB, scaled to [0, 1] and the per-channel mean subtracted (:func:`frame_to_network`).
3. The two networks and the arithmetic for time t run (:class:`restoration_lib.archs.superslomo.SuperSloMo`).
4. The result gets the mean back, is scaled by 255 and **truncated** to uint8 (no rounding), then resized back
   to the original size with PIL BILINEAR (:func:`network_to_frame`).

Values outside [0, 1] cannot arise in step 4 (the frame is a convex blend of warped in-range frames and the
mean colour), so clamping before the truncation only guards against rounding; the official script has no clamp.
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch
from PIL import Image

from ..archs.superslomo import MULTIPLE, SuperSloMo, denormalize, normalize

__all__ = ["model_size", "frame_to_network", "network_to_frame", "slomo_frames", "slomo_batch"]

FrameLike = Union[np.ndarray, Image.Image]


def model_size(width: int, height: int) -> tuple[int, int]:
    """(W, H) rounded down to multiples of 32, as the official script sizes its networks.

    Raises:
        ValueError: a side shorter than 32 pixels.
    """
    w, h = int(width / MULTIPLE) * MULTIPLE, int(height / MULTIPLE) * MULTIPLE
    if w < MULTIPLE or h < MULTIPLE:
        raise ValueError(f"Super SloMo needs frames of at least {MULTIPLE}x{MULTIPLE} pixels; got {width}x{height}")
    return w, h


def _as_pil(frame: FrameLike) -> Image.Image:
    if isinstance(frame, Image.Image):
        return frame
    a = np.asarray(frame)
    if a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"expected a uint8 frame or floats in [0, 1]; got dtype {a.dtype}")
        a = np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"expected an (H, W) or (H, W, 3) frame; got shape {a.shape}")
    return Image.fromarray(a)


def frame_to_network(frame: FrameLike, size: tuple[int, int]) -> torch.Tensor:
    """One frame -> the normalised (1, 3, h, w) network input (official resizing and normalisation).

    Args:
        frame: (H, W, 3) RGB or (H, W) gray, uint8 (floats in [0, 1] are rounded to uint8 first), or a PIL image.
        size: model size (w, h) from :func:`model_size`.
    """
    img = _as_pil(frame)
    img = img.resize(size, Image.LANCZOS).convert("RGB")
    x = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
    return normalize(x.unsqueeze(0))


def network_to_frame(x: torch.Tensor, out_size: tuple[int, int]) -> np.ndarray:
    """A normalised (1, 3, h, w) network frame -> (H, W, 3) uint8 at ``out_size`` = (W, H), officially."""
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"expected a (1, 3, h, w) tensor; got {tuple(x.shape)}")
    y = denormalize(x[:1].detach().float().cpu()).clamp(0, 1).mul(255).to(torch.uint8)[0]
    img = Image.fromarray(y.permute(1, 2, 0).numpy())
    return np.asarray(img.resize(tuple(out_size), Image.BILINEAR))


@torch.inference_mode()
def slomo_frames(
    net: SuperSloMo,
    frame0: FrameLike,
    frame1: FrameLike,
    times: Sequence[float],
    *,
    device: Union[str, torch.device, None] = None,
) -> list[np.ndarray]:
    """Frames at the given times between two frames, exactly as ``video_to_slomo.py`` computes them.

    The flow net runs once for the pair; the interpolation net once per time.

    Args:
        net: a loaded :class:`SuperSloMo` (``models.load("superslomo", path)``).
        frame0, frame1: same-size frames (see :func:`frame_to_network`); the model size comes from ``frame0``.
        times: values in (0, 1); the script uses k / sf for k = 1 .. sf - 1.
        device: where to run (default: where ``net`` is).

    Returns:
        One (H, W, 3) uint8 frame per time, at frame0's size.
    """
    p0, p1 = _as_pil(frame0), _as_pil(frame1)
    if p0.size != p1.size:
        raise ValueError(f"the two frames differ in size: {p0.size[0]}x{p0.size[1]} and {p1.size[0]}x{p1.size[1]}")
    size = model_size(*p0.size)
    dev = torch.device(device) if device is not None else next(net.parameters()).device
    # float32 frames even for a reduced-precision net: the U-Nets cast internally, the warps stay float32
    i0 = frame_to_network(p0, size).to(dev)
    i1 = frame_to_network(p1, size).to(dev)
    flow = net.flows(i0, i1)
    return [network_to_frame(net.run(i0, i1, float(t), flow_out=flow).frame, p0.size) for t in times]


def _to_uint8_hwc(x: torch.Tensor) -> np.ndarray:
    return (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def slomo_batch(net: SuperSloMo, img0: torch.Tensor, img1: torch.Tensor, ts: Sequence[float],
                scale: float = 1.0) -> list[torch.Tensor]:
    """The Interpolator's entry point (``NetAdapter.many``): frames at times ``ts`` for a batch of pairs.

    Args:
        net: a loaded :class:`SuperSloMo`.
        img0, img1: (N, 3, H, W) float RGB in [0, 1], any H, W >= 32 (no padding: the official path resizes).
            They are rounded to 8 bits first, as the official script reads 8-bit frames.
        ts: times in (0, 1).
        scale: ignored (RIFE's flow-scale option has no Super SloMo counterpart).

    Returns:
        One (N, 3, H, W) float32 tensor in [0, 1] per time, on ``img0``'s device; multiples of 1/255.
    """
    per_pair = [
        slomo_frames(net, _to_uint8_hwc(a), _to_uint8_hwc(b), ts, device=img0.device) for a, b in zip(img0, img1)
    ]
    out = []
    for k in range(len(ts)):
        frames = np.stack([pair[k] for pair in per_pair])  # (N, H, W, 3) uint8
        out.append(torch.from_numpy(frames).to(img0.device).permute(0, 3, 1, 2).float().div(255))
    return out
