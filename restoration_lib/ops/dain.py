"""DAIN's custom operators (CUDA-only extensions in the official code) as vectorised plain PyTorch.

Four operators are reached by DAIN's test-time forward:

* :func:`correlation`: PWC-Net's cost volume (pad 4, kernel 1, max displacement 4, strides 1): 81 channels,
  each the channel mean of ``f1 * shift(f2)``; ``f2`` is zero outside the image.
* :func:`backward_warp`: PWC-Net's bilinear warp with torch 1.0.0 ``grid_sample`` semantics
  (``align_corners=True``, zeros outside) times the validity mask (the warp of an all-ones image, 1 where
  >= 0.9999, else 0).
* :func:`depth_flow_projection`: splats ``-flow`` weighted by inverse depth to the four integer corners
  around each flow target (all four get the full weight), divides by the weight sum, then fills holes from
  the nearest non-empty pixels left, right, above and below.
* :func:`filter_interpolation`: warps with a per-pixel 4x4 filter: the 16 taps around the source point,
  summed per 2x2 quadrant and the quadrants combined bilinearly; where the source point leaves the image or
  the flow exceeds half the frame, the pixel is copied through.

All indices are 0-based, x is the column and y the row. The arithmetic follows the official kernels' order
(float32, same truncations and bounds); see ``docs/interpolate_dain.md``. No Python loop runs over pixels:
loops run over the 81 displacements, the 16 filter taps, or chunks of pixels (to bound memory).

The operators always compute in float32 (a bfloat16/float16 input is converted): the projection and the
filter warp truncate flow targets to integer pixels, so reduced precision would move samples by whole
pixels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["correlation", "backward_warp", "depth_flow_projection", "filter_interpolation"]

_CHUNK_ELEMS = 1 << 24  # gathered elements per chunk in filter_interpolation (64 MiB of float32)


def _check(name: str, x: torch.Tensor, channels: int | None = None) -> None:
    if x.dim() != 4 or (channels is not None and x.shape[1] != channels):
        want = f"(B, {channels}, H, W)" if channels is not None else "(B, C, H, W)"
        raise ValueError(f"{name}: expected a tensor {want}, got shape {tuple(x.shape)}")


def correlation(f1: torch.Tensor, f2: torch.Tensor, max_displacement: int = 4) -> torch.Tensor:
    """PWC-Net's correlation layer (before its LeakyReLU).

    Args:
        f1, f2: (B, C, H, W) feature maps of the same shape.
        max_displacement: d; displacements -d..d in x and y (PWC-Net: 4).

    Returns:
        (B, (2d+1)^2, H, W) float32; channel ``(dy+d)*(2d+1) + (dx+d)`` at (y, x) is
        ``sum_c f1[c, y, x] * f2[c, y+dy, x+dx] / C`` (f2 is zero outside the image).
    """
    _check("correlation f1", f1)
    if f1.shape != f2.shape:
        raise ValueError(f"correlation: f1 and f2 must have the same shape, got {tuple(f1.shape)} and {tuple(f2.shape)}")
    f1 = f1.float()
    f2 = f2.float()
    b, c, h, w = f1.shape
    d = max_displacement
    f2p = F.pad(f2, (d, d, d, d))
    out = f1.new_empty(b, (2 * d + 1) ** 2, h, w)
    k = 0
    for dy in range(2 * d + 1):
        for dx in range(2 * d + 1):
            torch.sum(f1 * f2p[:, :, dy:dy + h, dx:dx + w], dim=1, out=out[:, k])
            k += 1
    return out.div_(c)


def backward_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """PWC-Net's warp: sample ``x`` at ``p + flow`` (bilinear, torch 1.0.0 ``grid_sample``), masked.

    The sampling grid is normalised by (W-1) and (H-1) with ``align_corners=True`` (what torch 1.0.0 did and
    the published weights were trained with); samples outside get zeros, and every pixel whose all-ones
    warp is below 0.9999 (a sample that touches the outside) is set to 0.

    Args:
        x: (B, C, H, W) features.
        flow: (B, 2, H, W) displacement in pixels (x, y).

    Returns:
        (B, C, H, W) float32.
    """
    _check("backward_warp x", x)
    _check("backward_warp flow", flow, 2)
    x = x.float()
    flow = flow.float()
    b, _, h, w = x.shape
    gx = torch.arange(w, device=x.device, dtype=torch.float32).view(1, 1, w) + flow[:, 0]
    gy = torch.arange(h, device=x.device, dtype=torch.float32).view(1, h, 1) + flow[:, 1]
    gx = 2.0 * gx / max(w - 1, 1) - 1.0
    gy = 2.0 * gy / max(h - 1, 1) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    ones = torch.ones(b, 1, h, w, device=x.device, dtype=torch.float32)
    mask = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    mask = (mask >= 0.9999).to(torch.float32)
    return out * mask


def _nearest_nonzero(nz: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each position along ``dim``: index of the nearest earlier and later True of ``nz`` (strictly
    before/after); -1 / size where there is none."""
    n = nz.shape[dim]
    shape = [1] * nz.dim()
    shape[dim] = n
    idx = torch.arange(n, device=nz.device).view(shape).expand_as(nz)
    before = torch.where(nz, idx, torch.full_like(idx, -1)).cummax(dim).values
    after = torch.where(nz, idx, torch.full_like(idx, n)).flip(dim).cummin(dim).values.flip(dim)
    # strictly before / after: shift by one position
    fill_b = torch.full_like(before.narrow(dim, 0, 1), -1)
    fill_a = torch.full_like(after.narrow(dim, 0, 1), n)
    before = torch.cat((fill_b, before.narrow(dim, 0, n - 1)), dim)
    after = torch.cat((after.narrow(dim, 1, n - 1), fill_a), dim)
    return before, after


def depth_flow_projection(
    flow: torch.Tensor, weight: torch.Tensor, fill_holes: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """DAIN's depth-aware flow projection (DepthFlowProjectionLayer at test time).

    Each source pixel p with flow f and weight w (DAIN: inverse depth) whose target q = p + f lies inside
    [0, W-1] x [0, H-1] (inclusive) adds ``-w*f`` and ``w`` to the four pixels (trunc(q_y) or its successor,
    trunc(q_x) or its successor, clamped to the image; a clamped corner receives twice). Where the weight sum
    is > 0 the sum of ``-w*f`` is divided by it. With ``fill_holes`` (DAIN at inference), each pixel whose sum
    is <= 0 takes the plain mean of the nearest non-empty pixels to its left, right, top and bottom that have
    a positive sum (none: unchanged).

    Args:
        flow: (B, 2, H, W) flow in pixels, float.
        weight: (B, C>=1, H, W); only channel 0 is read.
        fill_holes: the official layer's ``fillhole`` (1 when the flow does not require grad).

    Returns:
        ``(projected, count)``: (B, 2, H, W) projected flow and (B, 1, H, W) weight sums, float32.
    """
    _check("depth_flow_projection flow", flow, 2)
    _check("depth_flow_projection weight", weight)
    if weight.shape[0] != flow.shape[0] or weight.shape[2:] != flow.shape[2:]:
        raise ValueError(
            f"depth_flow_projection: weight {tuple(weight.shape)} does not match flow {tuple(flow.shape)}"
        )
    flow = flow.float()
    wgt = weight[:, 0].float()
    b, _, h, w = flow.shape
    dev = flow.device
    fx, fy = flow[:, 0], flow[:, 1]
    x2 = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, w) + fx
    y2 = torch.arange(h, device=dev, dtype=torch.float32).view(1, h, 1) + fy
    ok = (x2 >= 0) & (y2 >= 0) & (x2 <= float(w - 1)) & (y2 <= float(h - 1))
    sel = ok.flatten().nonzero().squeeze(1)  # source pixels in raster order (batch-major)
    x2s = x2.flatten()[sel]
    y2s = y2.flatten()[sel]
    left = x2s.long()  # >= 0 here, so truncation = floor
    top = y2s.long()
    right = (left + 1).clamp(max=w - 1)
    bottom = (top + 1).clamp(max=h - 1)
    base = (sel // (h * w)) * (h * w)
    corners = torch.stack((top * w + left, top * w + right, bottom * w + left, bottom * w + right), dim=1)
    corners = (corners + base.unsqueeze(1)).flatten()  # per source pixel: TL, TR, BL, BR
    ws = wgt.flatten()[sel]
    neg_w = -ws
    vx = (neg_w * fx.flatten()[sel]).repeat_interleave(4)
    vy = (neg_w * fy.flatten()[sel]).repeat_interleave(4)
    wc = ws.repeat_interleave(4)
    n = b * h * w
    out_x = torch.zeros(n, device=dev, dtype=torch.float32).index_put_((corners,), vx, accumulate=True)
    out_y = torch.zeros(n, device=dev, dtype=torch.float32).index_put_((corners,), vy, accumulate=True)
    count = torch.zeros(n, device=dev, dtype=torch.float32).index_put_((corners,), wc, accumulate=True)
    out = torch.stack((out_x, out_y)).view(2, b, h, w).permute(1, 0, 2, 3)
    count = count.view(b, 1, h, w)
    cnt = count[:, 0]
    pos = cnt > 0
    out = torch.where(pos.unsqueeze(1), out / torch.where(pos, cnt, torch.ones_like(cnt)).unsqueeze(1), out)
    if fill_holes:
        out = _fill_holes(out, cnt)
    return out.contiguous(), count


def _fill_holes(out: torch.Tensor, cnt: torch.Tensor) -> torch.Tensor:
    """Official hole filling: mean of the nearest non-empty neighbours (left, right, up, down)."""
    hole = cnt <= 0
    if not bool(hole.any()):
        return out
    nz = cnt != 0
    b, _, h, w = out.shape
    lb, ra = _nearest_nonzero(nz, 2)  # along x
    ub, da = _nearest_nonzero(nz, 1)  # along y
    flat_cnt = cnt.reshape(b, h * w)
    flat_out = out.reshape(b, 2, h * w)
    rows = torch.arange(h, device=out.device).view(1, h, 1)
    cols = torch.arange(w, device=out.device).view(1, 1, w)
    num = torch.zeros_like(out)
    den = torch.zeros_like(cnt)
    raw = torch.zeros_like(cnt)
    for nb_idx, valid in (
        (rows * w + lb.clamp(min=0), lb >= 0),
        (rows * w + ra.clamp(max=w - 1), ra < w),
        (ub.clamp(min=0) * w + cols, ub >= 0),
        (da.clamp(max=h - 1) * w + cols, da < h),
    ):
        idx = nb_idx.expand(b, h, w).reshape(b, h * w)
        c_nb = torch.where(valid, flat_cnt.gather(1, idx).view(b, h, w), torch.zeros_like(cnt))
        v_nb = flat_out.gather(2, idx.unsqueeze(1).expand(b, 2, h * w)).view(b, 2, h, w)
        use = c_nb > 0
        raw = raw + c_nb
        num = num + torch.where(use.unsqueeze(1), v_nb, torch.zeros_like(v_nb))
        den = den + use.to(den.dtype)
    do = hole & (raw > 0)
    filled = num / den.clamp(min=1).unsqueeze(1)
    return torch.where(do.unsqueeze(1), filled, out)


def filter_interpolation(image: torch.Tensor, flow: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """DAIN's adaptive warping layer (FilterInterpolationLayer) with 4x4 filters.

    For output pixel p the source point is s = p + flow(p). If s lies inside [0, W-1] x [0, H-1] and
    |flow_x| < W/2 and |flow_y| < H/2: with ix = trunc(s_x), iy = trunc(s_y), a = s_x - ix, b = s_y - iy,
    the taps (r, c) at rows iy-1+r and columns ix-1+c (clamped to the image) are weighted by filter channel
    4r+c at p, summed per 2x2 quadrant (TL, TR, BL, BR) and combined as
    ``(1-a)(1-b) TL + a(1-b) TR + (1-a) b BL + a b BR``. Otherwise the output is ``image[p]``.

    Args:
        image: (B, C, H, W) any channels (DAIN: the frame, or its 196 context channels).
        flow: (B, 2, H, W) projected flow in pixels.
        filters: (B, 16, H, W) per-pixel filter taps (not normalised).

    Returns:
        (B, C, H, W) float32.
    """
    _check("filter_interpolation image", image)
    _check("filter_interpolation flow", flow, 2)
    _check("filter_interpolation filters", filters, 16)
    if not (image.shape[0] == flow.shape[0] == filters.shape[0]) or not (
        image.shape[2:] == flow.shape[2:] == filters.shape[2:]
    ):
        raise ValueError(
            "filter_interpolation: image, flow and filters must share batch and size; got "
            f"{tuple(image.shape)}, {tuple(flow.shape)}, {tuple(filters.shape)}"
        )
    image = image.float()
    flow = flow.float()
    filters = filters.float()
    b, c, h, w = image.shape
    dev = image.device
    fx, fy = flow[:, 0], flow[:, 1]
    x2 = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, w) + fx
    y2 = torch.arange(h, device=dev, dtype=torch.float32).view(1, h, 1) + fy
    ok = (
        (x2 >= 0) & (y2 >= 0) & (x2 <= float(w - 1)) & (y2 <= float(h - 1))
        & (fx.abs() < w / 2.0) & (fy.abs() < h / 2.0)
    )
    x2 = torch.where(ok, x2, torch.zeros_like(x2))
    y2 = torch.where(ok, y2, torch.zeros_like(y2))
    ix = x2.long()
    iy = y2.long()
    alpha = x2 - ix.to(torch.float32)
    beta = y2 - iy.to(torch.float32)
    # each tap's weight: its filter value times the bilinear weight of its 2x2 quadrant (rows 0-1 take 1-beta,
    # rows 2-3 beta; columns 0-1 take 1-alpha, columns 2-3 alpha), so one weighted sum of 16 taps per pixel
    row_w = torch.stack((1 - beta, 1 - beta, beta, beta), -1)  # (B, H, W, 4)
    col_w = torch.stack((1 - alpha, 1 - alpha, alpha, alpha), -1)
    n = b * h * w
    weights = ((row_w.unsqueeze(-1) * col_w.unsqueeze(-2)).reshape(b, h, w, 16)
               * filters.permute(0, 2, 3, 1)).reshape(n, 1, 16)
    offsets = torch.arange(-1, 3, device=dev)
    cols = (ix.unsqueeze(-1) + offsets).clamp(0, w - 1)  # (B, H, W, 4)
    rows = (iy.unsqueeze(-1) + offsets).clamp(0, h - 1) * w
    base = (torch.arange(b, device=dev) * (h * w)).view(b, 1, 1, 1)
    idx = ((rows + base).unsqueeze(-1) + cols.unsqueeze(-2)).reshape(n * 16)  # flat source row of each tap
    src = image.permute(0, 2, 3, 1).reshape(n, c)  # channels last: one gathered row per tap
    ok_flat = ok.reshape(n, 1)
    out = torch.empty(n, c, device=dev, dtype=torch.float32)
    step = max(1, _CHUNK_ELEMS // max(16 * c, 1))
    taps = torch.empty(min(step, n) * 16, c, device=dev, dtype=torch.float32)  # reused: no fresh pages per chunk
    for s in range(0, n, step):
        e = min(s + step, n)
        g = torch.index_select(src, 0, idx[s * 16:e * 16], out=taps[: (e - s) * 16]).view(e - s, 16, c)
        val = torch.bmm(weights[s:e], g, out=out[s:e].unsqueeze(1)).squeeze(1)
        out[s:e] = torch.where(ok_flat[s:e], val, src[s:e])
    return out.view(b, h, w, c).permute(0, 3, 1, 2).contiguous()
