"""3×3 convolutions by the Winograd F(4×4, 3×3) algorithm, for fast low-precision CPU inference.

A stride-1, padding-1 3×3 convolution is computed on 6×6 input tiles that give 4×4 output tiles: each tile is
transformed (``Bᵀ d B``), multiplied channel-wise with the transformed kernel (``G g Gᵀ``, precomputed) as 36
independent matrix products, and transformed back (``Aᵀ m A``). That needs 36 multiplications per 16 outputs
instead of 144, so about 4× fewer FLOPs; the transforms are two small matrix products per chunk of tiles.

The rounding error is larger than a direct convolution's (in bfloat16, about 2.5 % of the output's RMS per layer
versus 0.3 %), so the library uses this only for ``precision="fast"``; exact mode keeps direct convolutions.
Interpolation points 0, ±1, ±2 and ∞ (Lavin & Gray, 2016).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Im2colConv3x3", "WinogradConv3x3", "winograd_conv3x3"]

_BT = torch.tensor(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    dtype=torch.float64,
)
_G = torch.tensor(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    dtype=torch.float64,
)
_AT = torch.tensor(
    [
        [1, 1, 1, 1, 1, 0],
        [0, 1, -1, 2, -2, 0],
        [0, 1, 1, 4, 4, 0],
        [0, 1, -1, 8, -8, 1],
    ],
    dtype=torch.float64,
)
# 2-D transforms as matrices on flattened 6×6 tiles (row-major), so that each is one matrix product.
_K_IN = torch.kron(_BT, _BT)  # (36, 36)
_K_OUT = torch.kron(_AT, _AT)  # (16, 36)
# The output transform maps a constant c at tile point (1, 1) to c at every output: Aᵀ's column for point 1 is
# all ones. The bias is added there, on 1/36 of the products instead of on the whole output.
_BIAS_POINT = 1 * 6 + 1
_TILE = 4


def transform_kernel(weight: torch.Tensor) -> torch.Tensor:
    """``G g Gᵀ`` for every (out, in) kernel: (O, C, 3, 3) → (36, C, O), computed in float64."""
    if weight.shape[-2:] != (3, 3):
        raise ValueError(f"expected 3×3 kernels, got weight of shape {tuple(weight.shape)}")
    u = torch.einsum("ai,ocij,bj->abco", _G.to(weight.device), weight.to(torch.float64), _G.to(weight.device))
    return u.reshape(36, weight.shape[1], weight.shape[0]).contiguous()


def winograd_conv3x3(
    x: torch.Tensor,
    kernel: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    relu: bool = False,
    chunk_tiles: int = 768,
) -> torch.Tensor:
    """3×3 convolution, stride 1, zero padding 1, through F(4×4, 3×3) (inference only: no autograd).

    Args:
        x: (N, C, H, W), any memory format (channels-last avoids a copy).
        kernel: (36, C, O) from :func:`transform_kernel`, in ``x``'s dtype.
        bias: (O,) or None.
        relu: apply ReLU to the output.
        chunk_tiles: tiles processed together (bounds the temporary memory; ~1–2 MiB per 100 tiles at C=300).

    Returns:
        (N, O, H, W) in ``x``'s dtype, channels-last.
    """
    n, c, h, w = x.shape
    if kernel.shape[1] != c:
        raise ValueError(f"kernel expects {kernel.shape[1]} input channels, input has {c}")
    o = kernel.shape[2]
    th, tw = -(-h // _TILE), -(-w // _TILE)
    hp, wp = _TILE * th + 2, _TILE * tw + 2
    # zero-padded NHWC copy of the input (1 pixel on top/left, enough for whole tiles at the bottom/right)
    xp = x.new_empty(n, hp, wp, c)
    xp[:, :1].zero_()
    xp[:, h + 1 :].zero_()
    xp[:, 1 : h + 1, :1].zero_()
    xp[:, 1 : h + 1, w + 1 :].zero_()
    xp[:, 1 : h + 1, 1 : w + 1] = x.permute(0, 2, 3, 1)
    out = x.new_empty(n, _TILE * th, _TILE * tw, o)
    k_in = _K_IN.to(device=x.device, dtype=x.dtype)
    k_out = _K_OUT.to(device=x.device, dtype=x.dtype)
    rows = max(1, chunk_tiles // (n * tw))
    s_n, s_h, s_w = hp * wp * c, wp * c, c
    for r0 in range(0, th, rows):
        nr = min(rows, th - r0)
        tiles = n * nr * tw
        # (6, 6, N, rows, cols, C) view of the overlapping input tiles, gathered as (36, tiles·C)
        d = xp[:, _TILE * r0 :].as_strided((6, 6, n, nr, tw, c), (s_h, s_w, s_n, _TILE * s_h, _TILE * s_w, 1))
        v = torch.mm(k_in, d.reshape(36, tiles * c)).view(36, tiles, c)
        m = torch.bmm(v, kernel)  # (36, tiles, O)
        if bias is not None:
            m[_BIAS_POINT] += bias
        y = torch.mm(k_out, m.view(36, tiles * o)).view(_TILE, _TILE, n, nr, tw, o)
        dst = out[:, _TILE * r0 : _TILE * (r0 + nr)].view(n, nr, _TILE, tw, _TILE, o).permute(2, 4, 0, 1, 3, 5)
        if relu:
            torch.clamp_min(y, 0, out=dst)
        else:
            dst.copy_(y)
    res = out.permute(0, 3, 1, 2)
    if _TILE * th != h or _TILE * tw != w:
        res = res[:, :, :h, :w].contiguous(memory_format=torch.channels_last)
    return res


def _check_plain_3x3(conv: nn.Conv2d) -> None:
    ok = (
        conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
    )
    if not ok:
        raise ValueError(f"only 3×3 stride-1 padding-1 ungrouped convolutions can be replaced, got {conv}")


class WinogradConv3x3(nn.Module):
    """A drop-in replacement of a stride-1, padding-1, 3×3 ``nn.Conv2d`` (optionally followed by ReLU).

    The transformed kernel is computed in float64 from the conv's weight and stored as the buffer ``kernel``
    (36, C, O), 4× the conv weight's size; cast the module to the compute dtype with ``.to(dtype)``.
    """

    def __init__(self, conv: nn.Conv2d, relu: bool = False):
        super().__init__()
        _check_plain_3x3(conv)
        self.in_channels, self.out_channels, self.relu = conv.in_channels, conv.out_channels, relu
        with torch.no_grad():
            self.register_buffer("kernel", transform_kernel(conv.weight).to(conv.weight.dtype))
            self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return winograd_conv3x3(x, self.kernel.to(x.dtype), bias, relu=self.relu)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size=3, F(4x4,3x3), relu={self.relu}"


class Im2colConv3x3(nn.Module):
    """A stride-1, padding-1, 3×3 ``nn.Conv2d`` (optionally + ReLU) as one matrix product over gathered patches.

    For small maps with many channels (DeOldify's bridge at 1/32 resolution: 2048→4096→2048 channels on 18×18 at
    render factor 35), oneDNN's bfloat16 direct convolution reaches about 60 % of the matmul rate; gathering the
    3×3 patches (a copy 9× the small input) and multiplying once by the (9·C, O) weight runs near the full rate
    (measured 189 → 127 ms and 125 → 51 ms per layer at 18² and 11²). Maps larger than ``max_pixels`` use
    the direct convolution on a view of the same weight. Same products and sums as the convolution, in another
    order.
    """

    def __init__(self, conv: nn.Conv2d, relu: bool = False, max_pixels: int = 576):
        super().__init__()
        _check_plain_3x3(conv)
        self.in_channels, self.out_channels, self.relu, self.max_pixels = (
            conv.in_channels, conv.out_channels, relu, max_pixels)
        with torch.no_grad():  # rows ordered (kh, kw, c), the order of the gathered patches
            w = conv.weight.detach().permute(2, 3, 1, 0).reshape(9 * conv.in_channels, conv.out_channels)
            self.register_buffer("weight", w.contiguous())
            self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if c != self.in_channels:
            raise ValueError(f"expected {self.in_channels} input channels, got input of shape {tuple(x.shape)}")
        bias = None if self.bias is None else self.bias.to(x.dtype)
        wm = self.weight.to(x.dtype)
        if h * w > self.max_pixels:
            kernel = wm.view(3, 3, c, self.out_channels).permute(3, 2, 0, 1)
            y = F.conv2d(x, kernel, bias, padding=1)
            return y.relu_() if self.relu else y
        xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, 1, 1, 1)).contiguous()  # (N, H+2, W+2, C), C innermost
        s_n, s_h, s_w, _ = xp.stride()
        cols = xp.as_strided((n, h, w, 3, 3, c), (s_n, s_h, s_w, s_h, s_w, 1)).reshape(n * h * w, 9 * c)
        y = torch.mm(cols, wm) if bias is None else torch.addmm(bias, cols, wm)
        if self.relu:
            y.relu_()
        return y.view(n, h, w, self.out_channels).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size=3, im2col up to {self.max_pixels} px, relu={self.relu}"
