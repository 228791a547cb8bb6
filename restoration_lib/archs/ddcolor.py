"""DDColor (Kang et al., ICCV 2023; piddnad/DDColor, Apache-2.0) in plain PyTorch.

The module tree reproduces the ``state_dict`` keys of the official ``DDColor`` module as its loader builds it
(``MultiScaleColorDecoder``, 100 queries, 3 scales, 9 decoder layers, spectral norm on the last layers), so the
published ``ddcolor_*.pth`` files load unchanged:

- ``encoder.arch``: a ConvNeXt (large: depths 3-3-27-3, widths 192…1536; tiny: 3-3-9-3, widths 96…768). The
  channels-first LayerNorms ``norm0..norm3`` applied to each stage's output are the skip features; the trunk itself
  continues un-normalised. ``encoder.arch.norm`` (the classifier's pooled LayerNorm) is kept for the keys but not
  run: the official network computes it and throws the result away.
- ``decoder.layers.0..2``: the pixel decoder, three U-Net blocks (1×1 spectral-norm conv → BN → ReLU → pixel
  shuffle ×2 → blur; BN of the skip; concat → ReLU → 3×3 spectral-norm conv → ReLU → BN) from 1/32 to 1/4;
  ``decoder.last_shuf``: 1×1 spectral-norm conv with bias → ReLU → pixel shuffle ×4 → blur, to full size.
- ``decoder.color_decoder``: 100 learned colour queries refined by 9 post-norm transformer layers (cross-attention
  to the decoder features at 1/16, 1/8, 1/4 in turn, self-attention, FFN), a LayerNorm and a 3-layer MLP; the
  colour map is ``einsum(queries, last_shuf feature)``, 100 channels at full size.
- ``refine_net.0.0``: the fusion head, a spectral-norm 1×1 conv over the 100 colour channels and the normalised
  input (103 → 2).

Input: (N, 3, S, S) RGB in [0, 1] (the official pipeline feeds a gray image as 3 equal channels), S a multiple of
32. Output: (N, 2, S, S), the predicted a and b channels of CIE Lab (roughly −128…127, not clamped).

Spectral norm follows ``torch.nn.utils.spectral_norm`` in eval mode (``weight_orig / (u · W v)`` from the stored
vectors); :func:`finalize` turns those layers into plain convolutions holding that weight, computed with the same
operations, so the numbers do not change.
"""
from __future__ import annotations

import functools
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from ..models import ModelSpec, SizeRequirements
from .deoldify import IMAGENET_MEAN, IMAGENET_STD, SpectralNormConv, _plain_conv

__all__ = ["DDColor", "build_large", "build_tiny", "finalize", "prepare", "SPECS", "MULTIPLE_OF"]

#: side lengths the network accepts: the pixel decoder concatenates features at 1/32 … 1/4 resolution
MULTIPLE_OF = 32

_VARIANTS = {
    "large": ((3, 3, 27, 3), (192, 384, 768, 1536)),
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
}


# ----------------------------------------------------------------------------------------------------------------
# ConvNeXt encoder


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of an (N, C, H, W) map, written out as the official ConvNeXt does
    (mean, biased variance, divide by ``sqrt(var + eps)``), so the float32 rounding is the same."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        if dtype in (torch.float16, torch.bfloat16):
            # statistics in float32: the squared deviations of ConvNeXt's un-normalised trunk overflow float16
            x = x.float()
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return (self.weight[:, None, None].to(x.dtype) * x + self.bias[:, None, None].to(x.dtype)).to(dtype)


class ConvNeXtBlock(nn.Module):
    """Depthwise 7×7 → LayerNorm → Linear ×4 → GELU → Linear → ×gamma, plus the input."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    """The ConvNeXt trunk; ``forward`` returns the four normalised stage outputs (1/4, 1/8, 1/16, 1/32)."""

    def __init__(self, depths: tuple[int, ...], dims: tuple[int, ...]):
        super().__init__()
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(3, dims[0], kernel_size=4, stride=4), LayerNorm2d(dims[0]))]
            + [nn.Sequential(LayerNorm2d(dims[i]), nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2))
               for i in range(3)]
        )
        self.stages = nn.ModuleList(nn.Sequential(*[ConvNeXtBlock(d) for _ in range(n)]) for d, n in zip(dims, depths))
        for i, d in enumerate(dims):
            self.add_module(f"norm{i}", LayerNorm2d(d))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)  # classifier norm: in the checkpoint, unused here
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
            feats.append(getattr(self, f"norm{i}")(x))
        return feats


class ImageEncoder(nn.Module):
    def __init__(self, variant: str):
        super().__init__()
        self.arch = ConvNeXt(*_VARIANTS[variant])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.arch(x)


# ----------------------------------------------------------------------------------------------------------------
# Pixel decoder


def shuffle_blur(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Pixel shuffle by ``scale``, then replicate-pad one row on top and one column on the left and take the
    2×2 mean with stride 1 (the anti-checkerboard blur). (N, C·s², h, w) → (N, C, s·h, s·w)."""
    x = F.pixel_shuffle(x, scale)
    return F.avg_pool2d(F.pad(x, (1, 0, 1, 0), mode="replicate"), 2, stride=1)


class PixelShuffleUp(nn.Module):
    """1×1 spectral-norm conv (then BN when ``bn``, else with bias) → ReLU → pixel shuffle → blur."""

    def __init__(self, c_in: int, c_out: int, scale: int = 2, bn: bool = True):
        super().__init__()
        conv = SpectralNormConv(c_in, c_out * scale * scale, kernel=1, bias=not bn)
        self.conv = nn.Sequential(conv, nn.BatchNorm2d(c_out * scale * scale)) if bn else nn.Sequential(conv)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shuffle_blur(F.relu(self.conv(x)), self.scale)


class UnetBlockWide(nn.Module):
    """Upsample ×2, concatenate the batch-normalised skip feature, ReLU, 3×3 spectral-norm conv → ReLU → BN."""

    def __init__(self, up_in: int, skip_in: int, n_out: int):
        super().__init__()
        self.shuf = PixelShuffleUp(up_in, n_out)
        self.bn = nn.BatchNorm2d(skip_in)
        self.conv = nn.Sequential(
            SpectralNormConv(n_out + skip_in, n_out, kernel=3), nn.ReLU(), nn.BatchNorm2d(n_out)
        )

    def forward(self, up_in: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(F.relu(torch.cat([self.shuf(up_in), self.bn(skip)], dim=1)))


# ----------------------------------------------------------------------------------------------------------------
# Colour decoder


def sine_position_encoding(h: int, w: int, features: int = 128, device=None) -> torch.Tensor:
    """DETR's normalised sine positional code for an h×w map, (1, 2·features, h, w) float32.

    Positions 1…h (and 1…w) are scaled to (0, 2π]; channel pairs are sin/cos at wavelengths
    ``10000^(2⌊i/2⌋/features)``; the y half comes first.
    """
    eps, scale = 1e-6, 2 * math.pi
    y = torch.arange(1, h + 1, dtype=torch.float32, device=device)[None, :, None].expand(1, h, w)
    x = torch.arange(1, w + 1, dtype=torch.float32, device=device)[None, None, :].expand(1, h, w)
    y = y / (y[:, -1:, :] + eps) * scale
    x = x / (x[:, :, -1:] + eps) * scale
    dim_t = torch.arange(features, dtype=torch.float32, device=device)
    dim_t = 10000 ** (2 * (dim_t // 2) / features)

    def code(p: torch.Tensor) -> torch.Tensor:
        p = p[..., None] / dim_t
        return torch.stack((p[..., 0::2].sin(), p[..., 1::2].cos()), dim=4).flatten(3)

    return torch.cat((code(y), code(x)), dim=3).permute(0, 3, 1, 2)


class _Attention(nn.Module):
    """Post-norm attention sub-layer: ``norm(t + attn(t + query_pos, memory + pos, memory))``.

    ``need_weights=True`` keeps PyTorch's explicit matmul → softmax → matmul path, as the official call does (the
    fused kernel differs by ~1e-6 relative)."""

    def __init__(self, attr: str, d_model: int = 256, nhead: int = 8):
        super().__init__()
        self._attr = attr
        self.add_module(attr, nn.MultiheadAttention(d_model, nhead))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, t: torch.Tensor, query_pos: torch.Tensor, memory: torch.Tensor,
                pos: Optional[torch.Tensor], fused: bool) -> torch.Tensor:
        q = t + query_pos
        k = q if pos is None else memory + pos
        out = getattr(self, self._attr)(q, k, memory, need_weights=not fused)[0]
        return self.norm(t + out)


class SelfAttentionLayer(_Attention):
    def __init__(self, d_model: int = 256, nhead: int = 8):
        super().__init__("self_attn", d_model, nhead)


class CrossAttentionLayer(_Attention):
    def __init__(self, d_model: int = 256, nhead: int = 8):
        super().__init__("multihead_attn", d_model, nhead)


class FFNLayer(nn.Module):
    def __init__(self, d_model: int = 256, dim_feedforward: int = 2048):
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.norm(t + self.linear2(F.relu(self.linear1(t))))


class MLP(nn.Module):
    def __init__(self, dim: int, n_layers: int = 3):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(dim, dim) for _ in range(n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class MultiScaleColorDecoder(nn.Module):
    """Colour queries refined against the pixel decoder's features at three scales."""

    def __init__(self, in_channels=(512, 512, 256), hidden: int = 256, num_queries: int = 100, dec_layers: int = 9):
        super().__init__()
        self.query_feat = nn.Embedding(num_queries, hidden)
        self.query_embed = nn.Embedding(num_queries, hidden)
        self.level_embed = nn.Embedding(len(in_channels), hidden)
        self.input_proj = nn.ModuleList(nn.Conv2d(c, hidden, kernel_size=1) for c in in_channels)
        self.transformer_self_attention_layers = nn.ModuleList(SelfAttentionLayer(hidden) for _ in range(dec_layers))
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(hidden) for _ in range(dec_layers)
        )
        self.transformer_ffn_layers = nn.ModuleList(FFNLayer(hidden) for _ in range(dec_layers))
        self.decoder_norm = nn.LayerNorm(hidden)
        self.color_embed = MLP(hidden)
        self.hidden = hidden
        #: use PyTorch's fused attention kernel (a little faster; ~1e-6 relative from the official numbers)
        self.fused_attention = False

    def forward(self, feats: list[torch.Tensor], img_features: torch.Tensor,
                record: Optional[dict] = None) -> torch.Tensor:
        """``feats``: the three decoder outputs (1/16, 1/8, 1/4); ``img_features``: (N, 256, S, S).
        Returns the colour map (N, num_queries, S, S)."""
        mem, pos = [], []
        for i, f in enumerate(feats):
            n, _, h, w = f.shape
            pe = sine_position_encoding(h, w, self.hidden // 2, f.device).to(f.dtype)
            pos.append(pe.flatten(2).permute(2, 0, 1).expand(-1, n, -1))  # (HW, N, C)
            mem.append((self.input_proj[i](f).flatten(2) + self.level_embed.weight[i][None, :, None]).permute(2, 0, 1))
        n = feats[0].shape[0]
        query_pos = self.query_embed.weight.unsqueeze(1).repeat(1, n, 1)
        t = self.query_feat.weight.unsqueeze(1).repeat(1, n, 1)
        fused = self.fused_attention
        for i in range(len(self.transformer_ffn_layers)):
            lvl = i % len(mem)
            t = self.transformer_cross_attention_layers[i](t, query_pos, mem[lvl], pos[lvl], fused)
            t = self.transformer_self_attention_layers[i](t, query_pos, t, None, fused)
            t = self.transformer_ffn_layers[i](t)
            if record is not None:
                record[f"cd_queries_layer{i}"] = t
        t = self.decoder_norm(t)
        embed = self.color_embed(t.transpose(0, 1))
        if record is not None:
            record["cd_decoder_norm"], record["cd_color_embed"] = t, embed
        return torch.einsum("bqc,bchw->bqhw", embed, img_features)


class DualDecoder(nn.Module):
    """Pixel decoder (``layers``, ``last_shuf``) and colour decoder (``color_decoder``)."""

    def __init__(self, enc_dims: tuple[int, ...], nf: int = 512, num_queries: int = 100):
        super().__init__()
        c3, c2, c1, c0 = enc_dims[::-1]
        self.layers = nn.ModuleList([
            UnetBlockWide(c3, c2, nf), UnetBlockWide(nf, c1, nf), UnetBlockWide(nf, c0, nf // 2)
        ])
        self.last_shuf = PixelShuffleUp(nf // 2, nf // 2, scale=4, bn=False)
        self.color_decoder = MultiScaleColorDecoder((nf, nf, nf // 2), num_queries=num_queries)

    def forward(self, enc: list[torch.Tensor], record: Optional[dict] = None) -> torch.Tensor:
        out0 = self.layers[0](enc[3], enc[2])
        out1 = self.layers[1](out0, enc[1])
        out2 = self.layers[2](out1, enc[0])
        out3 = self.last_shuf(out2)
        if record is not None:
            record.update(dec_out0=out0, dec_out1=out1, dec_out2=out2, dec_out3=out3)
        return self.color_decoder([out0, out1, out2], out3, record)


class DDColor(nn.Module):
    """The DDColor network. ``forward``: (N, 3, S, S) RGB in [0, 1] → (N, 2, S, S) Lab a, b.

    Args:
        variant: ``"large"`` (ConvNeXt-L encoder, 228 M parameters) or ``"tiny"`` (ConvNeXt-T, 55 M).
        num_queries: colour queries (100 in every published checkpoint).
    """

    def __init__(self, variant: str = "large", num_queries: int = 100):
        super().__init__()
        if variant not in _VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(_VARIANTS)}; got {variant!r}")
        self.variant = variant
        self.encoder = ImageEncoder(variant)
        self.decoder = DualDecoder(_VARIANTS[variant][1], num_queries=num_queries)
        self.refine_net = nn.Sequential(nn.Sequential(SpectralNormConv(num_queries + 3, 2, kernel=1, bias=True)))
        # The official module stores the ImageNet mean/std as *persistent* buffers, so its checkpoints carry them;
        # they are constants of the constructor, not learned. Here they are non-persistent: a state_dict without
        # them (the fixtures' stand-ins, converted files) loads strictly, and ``prepare`` checks and drops them
        # when a file has them, so every learned key is still matched strictly.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _run(self, x: torch.Tensor, record: Optional[dict] = None) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"DDColor expects an (N, 3, S, S) RGB tensor in [0, 1]; got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % MULTIPLE_OF or w % MULTIPLE_OF:
            raise ValueError(
                f"DDColor needs height and width that are multiples of {MULTIPLE_OF}; got {h}×{w} "
                f"(the nearest accepted square is {max(MULTIPLE_OF, round(h / MULTIPLE_OF) * MULTIPLE_OF)})"
            )
        x = (x - self.mean) / self.std
        enc = self.encoder(x)
        if record is not None:
            record.update({f"enc_norm{i}": f for i, f in enumerate(enc)})
        color = self.decoder(enc, record)
        if record is not None:
            record["cd_out"] = color
        return self.refine_net(torch.cat([color, x], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x)

    def intermediates(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every stage's output for ``x`` (as the fixtures name them), with ``output`` the network's result:
        ``enc_norm0..3``, ``dec_out0..3``, ``cd_queries_layer0..8`` (Q, N, C), ``cd_decoder_norm`` (Q, N, C),
        ``cd_color_embed`` (N, Q, C), ``cd_out`` (N, Q, S, S), ``output`` (N, 2, S, S)."""
        record: dict[str, torch.Tensor] = {}
        record["output"] = self._run(x, record)
        return record


def build_large() -> DDColor:
    return DDColor("large")


def build_tiny() -> DDColor:
    return DDColor("tiny")


# ----------------------------------------------------------------------------------------------------------------
# Loading hooks


def prepare(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the constant ``mean``/``std`` buffers that files saved from the official module carry (after
    checking they are the ImageNet constants the network uses); everything else must match strictly."""
    sd = dict(sd)
    for key, const in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)):
        if key not in sd:
            continue
        val = sd.pop(key)
        want = torch.tensor(const).view(1, 3, 1, 1)
        if tuple(val.shape) != (1, 3, 1, 1) or not torch.allclose(val.float(), want, atol=1e-6):
            raise CheckpointError(
                f"the checkpoint's {key!r} buffer is {val.flatten().tolist()}, not the ImageNet constants "
                f"{list(const)} that DDColor normalises with"
            )
    return sd


@torch.no_grad()
def finalize(net: nn.Module) -> nn.Module:
    """Turn every spectral-norm conv into a plain conv holding ``weight_orig / σ`` (in place; returns ``net``).

    σ is computed once with the ops the official eval-mode forward runs each call, so the outputs are unchanged.
    """
    for mod in list(net.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, SpectralNormConv):
                setattr(mod, name, _plain_conv(child.effective_weight(), child.bias))
    return net


# every DDColor network loads and runs the same way; only the encoder differs
_spec = functools.partial(
    ModelSpec,
    prepare=prepare,
    finalize=finalize,
    size=SizeRequirements(minimum=MULTIPLE_OF, multiple_of=MULTIPLE_OF, square=False),
    tiling="internal",
)


SPECS = [
    _spec(name="ddcolor-large", build=build_large, weights_id="ddcolor-modelscope",
          description="DDColor with a ConvNeXt-L encoder (228 M parameters): ModelScope / artistic / paper weights "
                      "(Apache-2.0)"),
    _spec(name="ddcolor-tiny", build=build_tiny, weights_id="ddcolor-paper-tiny",
          description="DDColor with a ConvNeXt-T encoder (55 M parameters): the paper's tiny model (Apache-2.0)"),
]
