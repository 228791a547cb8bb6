"""Memory-bounded evaluation of the global-restoration networks, computing the official result.

The official code evaluates each network in one go. At 3000×2000 pixels that needs terabytes for the masked
non-local block (an ``(h·w)²`` attention matrix, h·w = 375,000 latent positions) and several GB for the
64-channel full-resolution VAE layers and the 512-channel mapping layers. This module evaluates the *same*
modules (same weights, same operations, same order) with bounded memory:

- convolutions run in horizontal stripes; each stripe takes its rows (plus the kernel's halo) from the input,
  with reflection or zero padding applied exactly as the full-image padding would;
- instance norm is applied in place from global per-channel statistics (no tiling approximation);
- ReLU / LeakyReLU / tanh and residual additions are in place;
- the non-local block computes its attention in blocks of query rows: each row's softmax over *all* keys, the
  mask, the L1 renormalisation and the weighted sum are the official per-row computation, so the result is the
  same up to float rounding; its input, needed again for the final "combine", waits in a temporary file when it
  is large;
- HR patch attention correlates the query patches in blocks and copies the matched patches in place.

Peak memory is about three 512-channel latent maps (0.38 GB per megapixel of image) plus the weights; time is
unchanged for the convolutions and quadratic in the pixel count for the non-local block (its arithmetic is the
official one; only its memory is bounded). Small inputs, whose layers fit the budget in one piece, run the
official operators directly.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..archs.bopbtl import (
    MappingHR,
    MappingQuality,
    MappingScratch,
    NonLocalMasked,
    PatchAttention,
    ResnetBlock,
    nonlocal_valid_mask,
    patch_attention_mask,
)

__all__ = ["MemoryPlan", "run", "conv_stripes", "conv_transpose_stripes", "nonlocal_chunked", "patch_attention_lowmem"]

_MB = 1 << 20


@dataclass(frozen=True)
class MemoryPlan:
    """How much memory the pieces of a memory-bounded evaluation may use.

    Attributes:
        stripe_bytes: one convolution stripe (input rows + output rows); a layer whose whole input and output
            fit runs in one piece with the official operator.
        attention_bytes: one block of the non-local attention (two ``rows × h·w`` float matrices) or of the HR
            patch correlation; when the whole attention fits, the official forward runs.
        spill_bytes: a tensor larger than this that must wait while others are computed (the non-local block's
            input) goes to a temporary file instead of staying in memory.
        spill_dir: folder for that file (None: the system's temporary folder).
        progress: a callable ``(done, total)`` told about attention blocks (None: silent).
    """

    stripe_bytes: int = 48 * _MB
    attention_bytes: int = 192 * _MB
    spill_bytes: int = 256 * _MB
    spill_dir: Optional[str] = None
    progress: Optional[Callable[[int, int], None]] = None

    @classmethod
    def unbounded(cls) -> "MemoryPlan":
        """A plan under which every layer runs in one piece (the official evaluation)."""
        big = 1 << 62
        return cls(stripe_bytes=big, attention_bytes=big, spill_bytes=big)


# ---------------------------------------------------------------------------------------------------------------
# Convolutions in stripes
# ---------------------------------------------------------------------------------------------------------------


def _rows(x: torch.Tensor, r0: int, r1: int, mode: str) -> torch.Tensor:
    """Rows ``r0..r1-1`` of ``x`` (N,C,H,W), indices outside ``[0, H)`` padded by reflection or zeros."""
    h = x.shape[2]
    if mode == "reflect":
        if 0 <= r0 and r1 <= h:
            return x[:, :, r0:r1]
        idx = torch.arange(r0, r1)
        idx = torch.where(idx < 0, -idx, idx)
        idx = torch.where(idx > h - 1, 2 * (h - 1) - idx, idx)
        return x.index_select(2, idx)
    top, bottom = max(0, -r0), max(0, r1 - h)
    part = x[:, :, max(0, r0) : min(h, r1)]
    return F.pad(part, (0, 0, top, bottom)) if top or bottom else part


def conv_stripes(
    inputs: Sequence[torch.Tensor], conv: nn.Conv2d, pad: int, mode: str, stripe_bytes: int
) -> torch.Tensor:
    """``conv(pad(cat(inputs, dim=1)))`` computed in horizontal stripes.

    Args:
        inputs: ``(1, C_i, H, W)`` tensors, concatenated along channels stripe by stripe (never as a whole).
        conv: the layer; its weight, bias, stride, dilation and groups are used, its own ``padding`` is not.
        pad: padding on every side (replaces the layer's own padding).
        mode: ``"reflect"`` or ``"zeros"``.
        stripe_bytes: memory for one stripe; when everything fits, one call of the official operators.

    Returns:
        ``(1, C_out, H_out, W_out)``.
    """
    x0 = inputs[0]
    n, _, h, w = x0.shape
    cin = sum(t.shape[1] for t in inputs)
    (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
    ho = (h + 2 * pad - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pad - dw * (kw - 1) - 1) // sw + 1
    item = x0.element_size()
    per_row = (cin * (w + 2 * pad) * sh + conv.out_channels * wo) * item * n
    halo = (dh * (kh - 1) + 1) * cin * (w + 2 * pad) * item * n
    rows = max(1, (stripe_bytes - halo) // max(1, per_row))
    if rows >= ho:
        x = inputs[0] if len(inputs) == 1 else torch.cat(list(inputs), dim=1)
        if pad:
            x = F.pad(x, (pad,) * 4, mode="reflect" if mode == "reflect" else "constant")
        return F.conv2d(x, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)
    out = torch.empty(n, conv.out_channels, ho, wo, dtype=x0.dtype, device=x0.device)
    for o0 in range(0, ho, rows):
        o1 = min(ho, o0 + rows)
        r0 = o0 * sh - pad
        r1 = (o1 - 1) * sh - pad + dh * (kh - 1) + 1
        parts = [_rows(t, r0, r1, mode) for t in inputs]
        xs = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        del parts
        if pad:
            xs = F.pad(xs, (pad, pad, 0, 0), mode="reflect" if mode == "reflect" else "constant")
        out[:, :, o0:o1] = F.conv2d(xs, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)
    return out


def conv_transpose_stripes(x: torch.Tensor, conv: nn.ConvTranspose2d, stripe_bytes: int) -> torch.Tensor:
    """``conv(x)`` for a transposed convolution (no output padding, no dilation), in stripes of output rows."""
    if conv.output_padding != (0, 0) or conv.dilation != (1, 1) or conv.groups != 1:
        raise ValueError("conv_transpose_stripes supports output_padding=0, dilation=1, groups=1 only")
    n, cin, h, w = x.shape
    (k, _), (s, _), (p, pw) = conv.kernel_size, conv.stride, conv.padding
    ho = (h - 1) * s - 2 * p + k
    wo = (w - 1) * conv.stride[1] - 2 * pw + conv.kernel_size[1]
    item = x.element_size()
    per_row = (cin * w / s + conv.out_channels * wo) * item * n
    rows = max(s, int(stripe_bytes // max(1.0, per_row)))
    if rows >= ho:
        return conv(x)
    out = torch.empty(n, conv.out_channels, ho, wo, dtype=x.dtype, device=x.device)
    for o0 in range(0, ho, rows):
        o1 = min(ho, o0 + rows)
        f0, f1 = o0 + p, o1 + p  # rows of the unpadded ("full") transposed convolution
        i0 = max(0, -((k - 1 - f0) // s))  # ceil((f0 - k + 1) / s)
        i1 = min(h - 1, (f1 - 1) // s)
        y = F.conv_transpose2d(x[:, :, i0 : i1 + 1], conv.weight, conv.bias, stride=conv.stride, padding=(0, pw))
        out[:, :, o0:o1] = y[:, :, f0 - s * i0 : f1 - s * i0]
    return out


def _instance_norm_(x: torch.Tensor, norm: nn.InstanceNorm2d, stripe_bytes: int) -> torch.Tensor:
    """Instance norm in place, channel group by channel group, following PyTorch's CPU kernel.

    Like ``F.instance_norm`` on CPU: the mean is accumulated in float64, the variance as float64 sums of float
    squares of ``x - mean``, ``invstd = 1/sqrt(var + eps)`` in float64, and the output is
    ``x * invstd - mean * invstd``.
    """
    n, c, h, w = x.shape
    if x.numel() * x.element_size() <= stripe_bytes:
        return norm(x)
    npos = h * w
    step = max(1, stripe_bytes // max(1, 8 * n * npos))
    for c0 in range(0, c, step):
        xc = x[:, c0 : c0 + step]
        mean = (xc.sum(dim=(2, 3), keepdim=True, dtype=torch.float64) / npos).to(x.dtype)
        d = xc - mean
        var = d.mul_(d).sum(dim=(2, 3), keepdim=True, dtype=torch.float64) / npos
        del d
        invstd = (1.0 / torch.sqrt(var + norm.eps)).to(x.dtype)
        xc.mul_(invstd).add_(-mean * invstd)
    return x


# ---------------------------------------------------------------------------------------------------------------
# Non-local block and patch attention
# ---------------------------------------------------------------------------------------------------------------


class _Stash:
    """Keeps a copy of a tensor for later, in memory or (when large) in a temporary file."""

    def __init__(self, t: torch.Tensor, plan: MemoryPlan):
        self.shape, self.dtype = t.shape, t.dtype
        self.path: Optional[str] = None
        self.t: Optional[torch.Tensor] = None
        if t.numel() * t.element_size() <= plan.spill_bytes or t.device.type != "cpu":
            self.t = t.clone()
            return
        fd, self.path = tempfile.mkstemp(prefix="bopbtl-spill-", suffix=".bin", dir=plan.spill_dir)
        with os.fdopen(fd, "wb") as f:
            for c in range(t.shape[1]):
                f.write(_as_numpy(t[0, c]).tobytes())

    def channels(self, c0: int, c1: int) -> torch.Tensor:
        """Channels ``c0..c1-1`` as a ``(1, c1-c0, H, W)`` tensor."""
        if self.t is not None:
            return self.t[:, c0:c1]
        _, _, h, w = self.shape
        np_dtype = np.int16 if self.dtype == torch.bfloat16 else np.float32 if self.dtype == torch.float32 else None
        if np_dtype is None:
            raise TypeError(f"cannot spill {self.dtype}")
        itemsize = np.dtype(np_dtype).itemsize
        a = np.fromfile(self.path, dtype=np_dtype, count=(c1 - c0) * h * w, offset=c0 * h * w * itemsize)
        t = torch.from_numpy(a).view(1, c1 - c0, h, w)
        return t.view(torch.bfloat16) if self.dtype == torch.bfloat16 else t

    def close(self) -> None:
        self.t = None
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.path = None


def _as_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.contiguous()
    return (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy()


def _conv1x1(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A 1×1 convolution of ``x`` ``(C_in, L)`` as a matrix product → ``(C_out, L)``."""
    return torch.addmm(bias[:, None], weight.flatten(1), x)


def nonlocal_chunked(
    nl: NonLocalMasked, box: list, mask: torch.Tensor, plan: MemoryPlan, res_block: Callable[[list], torch.Tensor]
) -> torch.Tensor:
    """The masked non-local block with its attention computed in blocks of query rows.

    Takes its input ``x`` out of ``box`` (a one-item list, so no caller keeps it alive) and reuses its storage for
    ``W y``. For each block of query positions: logits against every key, softmax over all keys, the non-scratch
    mask, L1 renormalisation, the weighted sum of ``g`` and ``W`` -- the official per-row computation.
    ``res_block`` evaluates ``nl.res_block`` on a one-item list (memory-bounded).
    """
    x = box.pop()
    n, c, h, w = x.shape
    if n != 1:
        raise ValueError(f"the memory-bounded non-local block runs one image at a time; got a batch of {n}")
    npos = h * w
    valid = nonlocal_valid_mask(mask, (h, w))
    stash = _Stash(x, plan)
    try:
        xv = x.view(c, npos)
        phi = _conv1x1(nl.phi.weight, nl.phi.bias, xv)  # (c, N)
        g_t = _conv1x1(nl.g.weight, nl.g.bias, xv).t()  # (N, c), a transposed view
        vflat = valid.view(1, npos).to(x.dtype)
        rows = max(1, plan.attention_bytes // (2 * npos * x.element_size()))
        total = (npos + rows - 1) // rows
        for i, q0 in enumerate(range(0, npos, rows)):
            q1 = min(npos, q0 + rows)
            theta = _conv1x1(nl.theta.weight, nl.theta.bias, xv[:, q0:q1]).t()  # (Q, c)
            attn = F.softmax(theta @ phi, dim=1)
            attn = F.normalize(attn.mul_(vflat), p=1, dim=1)
            y = attn @ g_t  # (Q, c)
            del attn
            xv[:, q0:q1] = _conv1x1(nl.W.weight, nl.W.bias, y.t())  # x at q0:q1 is no longer needed
            if plan.progress is not None:
                plan.progress(i + 1, total)
        del phi, g_t, xv
        wy = [x]
        del x
        r = res_block(wy)
        # official "combine": valid * x + (1 - valid) * res_block(W y), channel group by channel group
        keep = 1 - valid
        step = max(1, plan.stripe_bytes // max(1, npos * r.element_size()))
        for c0 in range(0, c, step):
            c1 = min(c, c0 + step)
            r[:, c0:c1] = valid * stash.channels(c0, c1) + keep * r[:, c0:c1]
        return r
    finally:
        stash.close()


def patch_attention_lowmem(
    pa: PatchAttention, box: list, mask: torch.Tensor, plan: MemoryPlan, res_block: Callable[[list], torch.Tensor]
) -> torch.Tensor:
    """``Patch_Attention_4.inference_forward`` with bounded memory (same result as :meth:`PatchAttention.forward`)."""
    z = box.pop()
    x = res_block([z])
    _, c, h, w = x.shape
    m = patch_attention_mask(mask, (h, w)).to(x.dtype)
    p = pa.patch_size
    npatch = max(1, (h // p) * (w // p))
    chunk = max(1, plan.attention_bytes // (2 * npatch * x.element_size()))
    x = pa.compose(x, m, chunk=chunk)
    return conv_stripes([z, x, m], pa.F_Combine, 1, "zeros", plan.stripe_bytes)


# ---------------------------------------------------------------------------------------------------------------
# The executor
# ---------------------------------------------------------------------------------------------------------------


def run(module: nn.Module, x: torch.Tensor, plan: MemoryPlan, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Evaluate ``module`` on ``x`` with bounded memory; same result as ``module(x)`` (or ``module(x, mask)``).

    Supports the building blocks of the BOPBTL global networks: sequences of reflection pads followed by
    convolutions, zero-padded and transposed convolutions, instance norm, ReLU / LeakyReLU / tanh, residual
    blocks, the masked non-local block and HR patch attention (these two need ``mask``), and the VAE halves and
    mapping networks made of them.

    ``x`` may be modified in place; pass a tensor that is no longer needed.
    """
    box = [x]
    del x
    return _Runner(plan, mask).seq(_children(module), box)


def _children(module: nn.Module) -> list[nn.Module]:
    """The flat list of layers ``module`` applies one after the other (residual blocks and attention kept whole)."""
    if isinstance(module, nn.Sequential):
        return [leaf for m in module for leaf in _children(m)]
    if isinstance(module, MappingQuality):
        return _children(module.model)
    if isinstance(module, MappingScratch):
        return _children(module.before_NL) + [module.NL] + _children(module.after_NL)
    if isinstance(module, MappingHR):
        m = module
        return (
            _children(m.before_NL) + [m.NL_scale_1] + _children(m.res_block_1) + [m.NL_scale_2]
            + _children(m.res_block_2) + [m.NL_scale_3] + _children(m.after_NL)
        )  # fmt: skip
    return [module]


class _Runner:
    """Applies a flat list of layers; every step takes its input out of a one-item list so that the input is
    freed as soon as the step no longer needs it (no caller frame keeps a large tensor alive)."""

    def __init__(self, plan: MemoryPlan, mask: Optional[torch.Tensor]):
        self.plan, self.mask = plan, mask

    def seq(self, mods: list[nn.Module], box: list) -> torch.Tensor:
        i = 0
        while i < len(mods):
            m = mods[i]
            if isinstance(m, nn.ReflectionPad2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.Conv2d):
                conv = mods[i + 1]
                if len(set(m.padding)) != 1 or conv.padding != (0, 0):
                    raise ValueError(f"unsupported padding pattern {m.padding} + {conv}")
                x = box.pop()
                box.append(conv_stripes([x], conv, m.padding[0], "reflect", self.plan.stripe_bytes))
                del x
                i += 2
                continue
            box.append(self.one(m, box))
            i += 1
        return box.pop()

    def one(self, m: nn.Module, box: list) -> torch.Tensor:
        plan = self.plan
        if isinstance(m, NonLocalMasked):
            mask = self._need_mask(m)
            npos = box[0].shape[2] * box[0].shape[3]
            if 2 * npos * npos * box[0].element_size() <= plan.attention_bytes:
                return m(box.pop(), mask)
            return nonlocal_chunked(m, box, mask, plan, lambda b: self.seq(_children(m.res_block), b))
        if isinstance(m, PatchAttention):
            mask = self._need_mask(m)
            return patch_attention_lowmem(m, box, mask, plan, lambda b: self.seq(_children(m.res_block), b))
        x = box.pop()
        if isinstance(m, nn.Conv2d):
            ph, pw = m.padding
            if ph != pw or m.padding_mode != "zeros":
                raise ValueError(f"unsupported convolution padding {m.padding} ({m.padding_mode})")
            return conv_stripes([x], m, ph, "zeros", plan.stripe_bytes)
        if isinstance(m, nn.ConvTranspose2d):
            return conv_transpose_stripes(x, m, plan.stripe_bytes)
        if isinstance(m, nn.InstanceNorm2d):
            if m.affine or m.track_running_stats:
                raise ValueError("only affine-free instance norm without running stats is supported")
            return _instance_norm_(x, m, plan.stripe_bytes)
        if isinstance(m, nn.ReLU):
            return x.relu_()
        if isinstance(m, nn.LeakyReLU):
            return F.leaky_relu_(x, m.negative_slope)
        if isinstance(m, nn.Tanh):
            return x.tanh_()
        if isinstance(m, ResnetBlock):
            h = self.seq(_children(m.conv_block), [x])
            return h.add_(x)  # == x + conv_block(x): float addition is commutative
        raise TypeError(f"no memory-bounded evaluation for {type(m).__name__}")

    def _need_mask(self, m: nn.Module) -> torch.Tensor:
        if self.mask is None:
            raise ValueError(f"{type(m).__name__} needs the scratch mask")
        return self.mask
