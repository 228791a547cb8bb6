"""Memory-bounded evaluation of the global-restoration networks.

The official code evaluates each network in one go. At 3000×2000 pixels that needs terabytes for the masked
non-local block (an ``(h·w)²`` attention matrix, h·w = 375,000 latent positions) and several GB for the
64-channel full-resolution VAE layers and the 512-channel mapping layers. This module evaluates the *same*
modules (same weights, same operations, same order) with bounded memory:

- convolutions run in horizontal stripes; each stripe takes its rows (plus the kernel's halo) from the input,
  with reflection or zero padding applied exactly as the full-image padding would; a convolution whose input is
  not needed afterwards writes its output into that input, one stripe late;
- instance norm is applied in place from global per-channel statistics (no tiling approximation);
- ReLU / LeakyReLU / tanh and residual additions are in place;
- the non-local block computes its attention in blocks of query positions: each row's softmax over its keys, the
  mask, the L1 renormalisation and the weighted sum are the official per-row computation. With
  ``MemoryPlan(attention="exact")`` the keys are all positions, as in the official block (same result up to
  float rounding, time quadratic in the pixel count); ``"windowed"`` restricts them to a window around the
  block (linear time, an approximation); ``"auto"`` (default) is exact up to 1 megapixel. Maps needed later
  (the block's input, and windowed ``phi``/``g``) wait in temporary files when they are large;
- HR patch attention correlates the query patches in blocks and copies the matched patches in place.

Peak memory is about two 512-channel latent maps (0.26 GB per megapixel of image; three with exact attention
above ``MemoryPlan.spill_bytes``) or one 64-channel full-resolution map plus a quarter-resolution one (the same
0.32 GB per megapixel), plus the weights. Small inputs, whose layers fit the budget in one piece, run the
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
    """How much memory the pieces of a memory-bounded evaluation may use, and how the non-local block attends.

    Attributes:
        stripe_bytes: one convolution stripe (input rows + output rows); a layer whose whole input and output
            fit runs in one piece with the official operator.
        attention_bytes: one block of the non-local attention (two ``rows × keys`` float matrices) or of the HR
            patch correlation; when the whole attention fits, the official forward runs.
        spill_bytes: a tensor larger than this that must wait while others are computed (the non-local block's
            input) goes to a temporary file instead of staying in memory.
        spill_dir: folder for that file (None: the system's temporary folder).
        attention: ``"exact"``: every latent position attends to all others, as the official block does (time
            quadratic in the pixel count); ``"windowed"``: each 1/4-window block of positions attends to the
            ``window × window`` latent positions around it (linear time; an approximation); ``"auto"``: exact
            up to ``max_exact_positions`` latent positions, windowed above.
        max_exact_positions: the ``"auto"`` limit (65,536 latent positions = 1 megapixel of image).
        window: side of the attention window in latent positions (128 = 512 image pixels, twice the side of
            the 256-pixel crops the network was trained on).
        progress: a callable ``(done, total)`` told about attention blocks (None: silent).
    """

    stripe_bytes: int = 48 * _MB
    attention_bytes: int = 192 * _MB
    spill_bytes: int = 256 * _MB
    spill_dir: Optional[str] = None
    attention: str = "auto"
    max_exact_positions: int = 65_536
    window: int = 128
    progress: Optional[Callable[[int, int], None]] = None

    def __post_init__(self) -> None:
        if self.attention not in ("auto", "exact", "windowed"):
            raise ValueError(f"attention must be 'auto', 'exact' or 'windowed', got {self.attention!r}")
        if self.window < 4:
            raise ValueError(f"window must be at least 4 latent positions, got {self.window}")

    def windowed(self, npos: int) -> bool:
        """Whether a non-local block over ``npos`` latent positions attends through windows."""
        return self.attention == "windowed" or (self.attention == "auto" and npos > self.max_exact_positions)

    @classmethod
    def unbounded(cls) -> "MemoryPlan":
        """A plan under which every layer runs in one piece (the official evaluation)."""
        big = 1 << 62
        return cls(stripe_bytes=big, attention_bytes=big, spill_bytes=big, attention="exact")


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
    inputs: Sequence[torch.Tensor], conv: nn.Conv2d, pad: int, mode: str, stripe_bytes: int, inplace: bool = False
) -> torch.Tensor:
    """``conv(pad(cat(inputs, dim=1)))`` computed in horizontal stripes.

    Args:
        inputs: ``(1, C_i, H, W)`` tensors, concatenated along channels stripe by stripe (never as a whole).
        conv: the layer; its weight, bias, stride, dilation and groups are used, its own ``padding`` is not.
        pad: padding on every side (replaces the layer's own padding).
        mode: ``"reflect"`` or ``"zeros"``.
        stripe_bytes: memory for one stripe; when everything fits, one call of the official operators.
        inplace: write the result into the (single) input when it has the output's shape: each stripe is
            stored one stripe late, once no later stripe reads those rows, so no second full map is needed.

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
    inplace = inplace and len(inputs) == 1 and tuple(x0.shape[1:]) == (conv.out_channels, ho, wo) and sh == 1
    if rows >= ho:
        x = inputs[0] if len(inputs) == 1 else torch.cat(list(inputs), dim=1)
        if pad:
            x = F.pad(x, (pad,) * 4, mode="reflect" if mode == "reflect" else "constant")
        y = F.conv2d(x, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)
        return x0.copy_(y) if inplace else y
    if inplace:
        # stripe k reads rows from o0_k - pad on; rows below o0_(k-1) are overwritten: safe when rows >= pad
        rows = max(rows, pad + 1)
        out, pending = x0, None
    else:
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
        y = F.conv2d(xs, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)
        del xs
        if inplace:
            if pending is not None:
                out[:, :, pending[0] : pending[0] + pending[1].shape[2]] = pending[1]
            pending = (o0, y)
        else:
            out[:, :, o0:o1] = y
    if inplace and pending is not None:
        out[:, :, pending[0] :] = pending[1]
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


class _RowStore:
    """A ``(C, H, W)`` map kept for later, written and read in bands of rows: in memory, or (when larger than
    ``plan.spill_bytes``) in a temporary file laid out row by row, so that a band is one contiguous read."""

    def __init__(self, shape: tuple[int, int, int], dtype: torch.dtype, plan: MemoryPlan, device: torch.device):
        self.shape, self.dtype = shape, dtype
        self.path: Optional[str] = None
        self.t: Optional[torch.Tensor] = None
        c, h, w = shape
        if c * h * w * torch.finfo(dtype).bits // 8 <= plan.spill_bytes or device.type != "cpu":
            self.t = torch.empty(shape, dtype=dtype, device=device)
            return
        if dtype not in (torch.float32, torch.bfloat16):
            raise TypeError(f"cannot spill {dtype}")
        fd, self.path = tempfile.mkstemp(prefix="bopbtl-spill-", suffix=".bin", dir=plan.spill_dir)
        os.close(fd)

    @classmethod
    def of(cls, x: torch.Tensor, plan: MemoryPlan, band: int) -> "_RowStore":
        """A copy of ``x`` ``(1, C, H, W)``."""
        st = cls(tuple(x.shape[1:]), x.dtype, plan, x.device)
        for r0 in range(0, x.shape[2], band):
            st.write(r0, x[0, :, r0 : r0 + band])
        return st

    def write(self, r0: int, band: torch.Tensor) -> None:
        """Store rows ``r0 ..`` from ``band`` ``(C, rows, W)``; the bands of a file are written in order."""
        if self.t is not None:
            self.t[:, r0 : r0 + band.shape[1]] = band
            return
        c, _, w = self.shape
        rows = band.permute(1, 0, 2).contiguous()
        data = (rows.view(torch.int16) if rows.dtype == torch.bfloat16 else rows).numpy()
        with open(self.path, "r+b") as f:
            f.seek(r0 * c * w * rows.element_size())
            f.write(data.tobytes())

    def read(self, r0: int, r1: int) -> torch.Tensor:
        """Rows ``r0..r1-1`` as ``(C, rows, W)`` (a view of the stored tensor, or a fresh tensor from the file)."""
        if self.t is not None:
            return self.t[:, r0:r1]
        c, _, w = self.shape
        np_dtype = np.int16 if self.dtype == torch.bfloat16 else np.float32
        item = np.dtype(np_dtype).itemsize
        a = np.fromfile(self.path, dtype=np_dtype, count=(r1 - r0) * c * w, offset=r0 * c * w * item)
        t = torch.from_numpy(a).view(r1 - r0, c, w)
        return (t.view(torch.bfloat16) if self.dtype == torch.bfloat16 else t).permute(1, 0, 2)

    def close(self) -> None:
        self.t = None
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.path = None


def _conv1x1(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A 1×1 convolution of ``x`` ``(C_in, L)`` as a matrix product → ``(C_out, L)``."""
    return torch.addmm(bias[:, None], weight.flatten(1), x)


def _attention_blocks(h: int, w: int, plan: MemoryPlan):
    """Blocks of (query rows, query cols, key rows, key cols) slices covering every query position once."""
    if not plan.windowed(h * w):
        yield slice(0, h), slice(0, w), slice(0, h), slice(0, w)  # all queries, all keys (split by rows below)
        return
    b = max(1, plan.window // 4)
    m = (plan.window - b) // 2
    for r0 in range(0, h, b):
        for c0 in range(0, w, b):
            r1, c1 = min(h, r0 + b), min(w, c0 + b)
            yield slice(r0, r1), slice(c0, c1), slice(max(0, r0 - m), min(h, r1 + m)), slice(max(0, c0 - m), min(w, c1 + m))


def nonlocal_chunked(
    nl: NonLocalMasked, box: list, mask: torch.Tensor, plan: MemoryPlan, res_block: Callable[[list], torch.Tensor]
) -> torch.Tensor:
    """The masked non-local block with its attention computed block by block.

    Takes its input ``x`` out of ``box`` (a one-item list, so no caller keeps it alive) and reuses its storage for
    ``W y``. For each block of query positions: logits against the keys, softmax over them, the non-scratch mask,
    L1 renormalisation, the weighted sum of ``g`` and ``W`` -- the official per-row computation. The keys are all
    positions (exact) or, when ``plan.windowed``, the window around the block; windowed, ``phi`` and ``g`` are
    kept as row bands (in a temporary file when large) and only the band of a block row is read at a time.
    ``res_block`` evaluates ``nl.res_block`` on a one-item list (memory-bounded).
    """
    x = box.pop()
    n, c, h, w = x.shape
    if n != 1:
        raise ValueError(f"the memory-bounded non-local block runs one image at a time; got a batch of {n}")
    npos, item = h * w, x.element_size()
    valid = nonlocal_valid_mask(mask, (h, w))
    band = max(1, plan.stripe_bytes // max(1, 2 * c * w * item))
    stores: list[_RowStore] = []
    try:
        stash = _RowStore.of(x, plan, band)  # x again for the final "combine"
        stores.append(stash)
        windowed = plan.windowed(npos)
        if windowed:  # phi and g in row bands: only one band of each is in memory at a time
            phi_s = _RowStore((c, h, w), x.dtype, plan, x.device)
            g_s = _RowStore((c, h, w), x.dtype, plan, x.device)
            stores += [phi_s, g_s]
            for r0 in range(0, h, band):
                xb = x[0, :, r0 : r0 + band].reshape(c, -1)
                rows = xb.shape[1] // w
                phi_s.write(r0, _conv1x1(nl.phi.weight, nl.phi.bias, xb).view(c, rows, w))
                g_s.write(r0, _conv1x1(nl.g.weight, nl.g.bias, xb).view(c, rows, w))
                del xb
        else:
            xv = x.view(c, npos)
            phi_all = _conv1x1(nl.phi.weight, nl.phi.bias, xv)  # (c, N)
            g_all = _conv1x1(nl.g.weight, nl.g.bias, xv).t()  # (N, c), a transposed view
            del xv
        vmap = valid.view(h, w).to(x.dtype)
        x3 = x.view(c, h, w)
        blocks = list(_attention_blocks(h, w, plan))

        def rows_of(kr: slice, kc: slice) -> int:  # query rows per piece: two (rows x keys) matrices in the budget
            return max(1, plan.attention_bytes // (2 * (kr.stop - kr.start) * (kc.stop - kc.start) * item))

        total = sum(-(-((qr.stop - qr.start) * (qc.stop - qc.start)) // rows_of(kr, kc)) for qr, qc, kr, kc in blocks)
        done, band_rows, phi_band, g_band = 0, None, None, None
        for qr, qc, kr, kc in blocks:
            if windowed:
                if band_rows != (kr.start, kr.stop):  # blocks come row by row: one read per block row
                    phi_band = g_band = None
                    phi_band, g_band = phi_s.read(kr.start, kr.stop), g_s.read(kr.start, kr.stop)
                    band_rows = (kr.start, kr.stop)
                keys_phi = phi_band[:, :, kc].reshape(c, -1)
                keys_g = g_band[:, :, kc].reshape(c, -1).t()  # (K, c)
                kv = vmap[kr, kc].reshape(1, -1)
            else:
                keys_phi, keys_g, kv = phi_all, g_all, vmap.view(1, npos)
            qw = qc.stop - qc.start
            nq = (qr.stop - qr.start) * qw
            rows = rows_of(kr, kc)
            xq_all = None if qw == w else x3[:, qr, qc].reshape(c, nq)
            for q0 in range(0, nq, rows):
                q1 = min(nq, q0 + rows)
                flat = slice(qr.start * w + q0, qr.start * w + q1)
                xq = x3.view(c, npos)[:, flat] if xq_all is None else xq_all[:, q0:q1]
                theta = _conv1x1(nl.theta.weight, nl.theta.bias, xq).t()  # (Q, c)
                attn = F.softmax(theta @ keys_phi, dim=1)
                attn = F.normalize(attn.mul_(kv), p=1, dim=1)
                out = _conv1x1(nl.W.weight, nl.W.bias, (attn @ keys_g).t())  # (c, Q)
                del attn, theta
                # x at these positions is no longer needed (phi, g and theta are computed): reuse it for W y
                if xq_all is None:
                    x3.view(c, npos)[:, flat] = out
                else:
                    pos = torch.arange(q0, q1)
                    x3[:, qr.start + pos // qw, qc.start + pos % qw] = out
                done += 1
                if plan.progress is not None:
                    plan.progress(done, total)
        del x3, keys_phi, keys_g, phi_band, g_band
        if not windowed:
            del phi_all, g_all
        for st in stores[1:]:
            st.close()
        wy = [x]
        del x
        r = res_block(wy)
        # official "combine": valid * x + (1 - valid) * res_block(W y), band by band
        keep = 1 - valid
        for r0 in range(0, h, band):
            r1 = min(h, r0 + band)
            r[:, :, r0:r1] = valid[:, :, r0:r1] * stash.read(r0, r1)[None] + keep[:, :, r0:r1] * r[:, :, r0:r1]
        return r
    finally:
        for st in stores:
            st.close()


def patch_attention_lowmem(
    pa: PatchAttention, box: list, mask: torch.Tensor, plan: MemoryPlan, res_block: Callable[[list], torch.Tensor]
) -> torch.Tensor:
    """``Patch_Attention_4.inference_forward`` with bounded memory (same result as :meth:`PatchAttention.forward`)."""
    z = box.pop()
    x = res_block([z])
    _, c, h, w = x.shape
    m = patch_attention_mask(mask, (h, w)).to(x.dtype)
    p, item = pa.patch_size, x.element_size()
    npatch = max(1, (h // p) * (w // p))
    chunk = max(1, plan.attention_bytes // (2 * npatch * item))  # two (queries x keys) matrices
    key_chunk = max(1, plan.attention_bytes // (2 * c * p * p * item))  # normalised keys made at a time
    x = pa.compose(x, m, chunk=chunk, key_chunk=key_chunk)
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
    return _Runner(plan, mask).seq(_children(module), box, owned=True)


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

    def seq(self, mods: list[nn.Module], box: list, owned: bool) -> torch.Tensor:
        """Apply ``mods`` to the tensor in ``box``; ``owned``: that tensor may be overwritten."""
        i = 0
        while i < len(mods):
            m = mods[i]
            if isinstance(m, nn.ReflectionPad2d) and i + 1 < len(mods) and isinstance(mods[i + 1], nn.Conv2d):
                conv = mods[i + 1]
                if len(set(m.padding)) != 1 or conv.padding != (0, 0):
                    raise ValueError(f"unsupported padding pattern {m.padding} + {conv}")
                x = box.pop()
                box.append(conv_stripes([x], conv, m.padding[0], "reflect", self.plan.stripe_bytes, inplace=owned))
                del x
                i += 2
            else:
                box.append(self.one(m, box, owned))
                i += 1
            owned = True  # every step returns a tensor of its own (or its owned input)
        return box.pop()

    def one(self, m: nn.Module, box: list, owned: bool) -> torch.Tensor:
        plan = self.plan
        if isinstance(m, NonLocalMasked):
            mask = self._need_mask(m)
            npos = box[0].shape[2] * box[0].shape[3]
            if 2 * npos * npos * box[0].element_size() <= plan.attention_bytes and not plan.windowed(npos):
                return m(box.pop(), mask)
            if not owned:
                box.append(box.pop().clone())
            return nonlocal_chunked(m, box, mask, plan, lambda b: self.seq(_children(m.res_block), b, owned=True))
        if isinstance(m, PatchAttention):
            mask = self._need_mask(m)
            return patch_attention_lowmem(m, box, mask, plan, lambda b: self.seq(_children(m.res_block), b, owned=False))
        x = box.pop()
        if isinstance(m, nn.Conv2d):
            ph, pw = m.padding
            if ph != pw or m.padding_mode != "zeros":
                raise ValueError(f"unsupported convolution padding {m.padding} ({m.padding_mode})")
            return conv_stripes([x], m, ph, "zeros", plan.stripe_bytes, inplace=owned)
        if isinstance(m, nn.ConvTranspose2d):
            return conv_transpose_stripes(x, m, plan.stripe_bytes)
        if isinstance(m, ResnetBlock):
            h = self.seq(_children(m.conv_block), [x], owned=False)
            return h.add_(x)  # == x + conv_block(x): float addition is commutative
        if not owned:
            x = x.clone()
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
        raise TypeError(f"no memory-bounded evaluation for {type(m).__name__}")

    def _need_mask(self, m: nn.Module) -> torch.Tensor:
        if self.mask is None:
            raise ValueError(f"{type(m).__name__} needs the scratch mask")
        return self.mask
