"""Running an image-to-image (or pair-to-image) network on overlapping tiles, blended without seams.

>>> out = run_tiled(lambda a, b: net(a, b), [frame0, frame1], tile=1408, overlap=128)   # doctest: +SKIP

:func:`run_tiled` cuts the inputs into tiles of at most ``tile`` x ``tile`` pixels that overlap their
neighbours by ``overlap`` pixels, lets ``pad`` bring each tile to a size the network accepts (the network's
own padding rule, e.g. DAIN's replicate padding to multiples of 128), runs ``fn`` on each tile, crops the
padding off and blends the tiles: in each overlap the weights ramp linearly from one tile to the other, so
no seam shows; image borders get full weight. The function is pure: inputs are not modified.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

__all__ = ["tile_starts", "ramp", "run_tiled"]

PadFn = Callable[[Sequence[torch.Tensor]], tuple[list[torch.Tensor], tuple[int, int, int, int]]]


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering ``size`` with at least ``overlap`` overlap
    (the last tile ends at ``size``). One tile when ``size <= tile``."""
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than overlap ({overlap})")
    if size <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, size - tile, step)) + [size - tile]
    return sorted(set(starts))


def ramp(length: int, lead: int, trail: int, device=None) -> torch.Tensor:
    """1-D blend weights of a tile: rising linearly over its first ``lead`` pixels, falling over its last
    ``trail`` pixels (0 = full weight at that edge), 1 in between; values in (0, 1]."""
    w = torch.ones(length, device=device)
    if lead > 0:
        w[:lead] = torch.minimum(w[:lead], (torch.arange(lead, device=device) + 0.5) / lead)
    if trail > 0:
        w[length - trail:] = torch.minimum(w[length - trail:], (torch.arange(trail, 0, -1, device=device) - 0.5) / trail)
    return w


def run_tiled(
    fn: Callable[..., torch.Tensor],
    inputs: Sequence[torch.Tensor],
    tile: int,
    overlap: int,
    pad: Optional[PadFn] = None,
    progress: bool = False,
) -> torch.Tensor:
    """``fn(*inputs)`` computed on overlapping tiles and blended.

    Args:
        fn: ``fn(*tiles) -> (N, C_out, h, w)`` for tiles of the inputs (after ``pad``); the output has the
            tile's (padded) spatial size.
        inputs: tensors (N, C_i, H, W) sharing N, H and W.
        tile: largest tile side in pixels (before padding).
        overlap: pixels shared by neighbouring tiles (the blend ramps over them).
        pad: optional ``pad(tiles) -> (padded tiles, (top, left, h, w))`` where the unpadded tile lies inside
            the padded output; default: no padding.
        progress: show a tqdm bar over the tiles.

    Returns:
        (N, C_out, H, W) float32 on the inputs' device.
    """
    if not inputs:
        raise ValueError("run_tiled needs at least one input")
    n, _, h, w = inputs[0].shape
    for x in inputs:
        if x.dim() != 4 or x.shape[0] != n or x.shape[-2:] != (h, w):
            raise ValueError(
                f"run_tiled: inputs must share (N, H, W); got {[tuple(t.shape) for t in inputs]}"
            )
    ys = tile_starts(h, tile, overlap)
    xs = tile_starts(w, tile, overlap)
    th, tw = min(tile, h), min(tile, w)
    out: Optional[torch.Tensor] = None
    weight = torch.zeros(1, 1, h, w, device=inputs[0].device)
    boxes = [(y, x) for y in ys for x in xs]
    from tqdm.auto import tqdm

    for y, x in tqdm(boxes, desc="tiles", disable=not progress or len(boxes) == 1):
        crops = [t[..., y:y + th, x:x + tw] for t in inputs]
        if pad is not None:
            crops, (top, left, ch, cw) = pad(crops)
        else:
            top, left, ch, cw = 0, 0, th, tw
        res = fn(*crops)[..., top:top + ch, left:left + cw].float()
        if out is None:
            out = torch.zeros(n, res.shape[1], h, w, device=res.device)
        # overlap actually shared with the previous / next tile on each axis
        lead_y = (ys[ys.index(y) - 1] + th - y) if y != ys[0] else 0
        trail_y = (y + th - ys[ys.index(y) + 1]) if y != ys[-1] else 0
        lead_x = (xs[xs.index(x) - 1] + tw - x) if x != xs[0] else 0
        trail_x = (x + tw - xs[xs.index(x) + 1]) if x != xs[-1] else 0
        wy = ramp(th, lead_y, trail_y, res.device)
        wx = ramp(tw, lead_x, trail_x, res.device)
        wt = (wy[:, None] * wx[None, :])[None, None]
        out[..., y:y + th, x:x + tw] += res * wt
        weight[..., y:y + th, x:x + tw] += wt
    assert out is not None
    return out / weight
