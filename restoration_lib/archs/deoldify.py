"""DeOldify's generators (artistic, stable, video) in plain PyTorch.

The module tree reproduces the ``state_dict`` keys of the published ``Colorize*_gen.pth`` files exactly, so the
authors' checkpoints load unchanged:

- ``layers.0``: the ResNet body (ResNet34 for *artistic*, ResNet101 for *stable*/*video*), laid out as the
  children ``conv1, bn1, relu, maxpool, layer1..layer4`` of a classic ResNet (indices 0..7);
- ``layers.1``/``layers.2``: batch norm + ReLU on the body's output;
- ``layers.3``: two spectral-normalised 3×3 convolutions (``conv → ReLU → BN``) at the bottleneck;
- ``layers.4..7``: four U-Net decoder blocks, each upsampling ×2 with a spectral-normalised 1×1 conv, pixel
  shuffle and a 2×2 blur, then merging the skip feature of the body (the second block also has self-attention).
  *artistic* uses the "deep" block (two convs, widths scaled by ``nf_factor`` 1.5), *stable* the "wide" block (one
  conv, 512·``nf_factor`` = 1024 wide);
- ``layers.8``: a weight-normalised 1×1 conv + pixel shuffle + blur up to the input size;
- ``layers.9``: concatenation with the network input (the "last cross");
- ``layers.10``: a residual block of two spectral-normalised 3×3 convs at full resolution;
- ``layers.11``: a spectral-normalised 1×1 conv to 3 channels; ``layers.12``: ``sigmoid(x)·6 − 3``.

Input and output are ImageNet-normalised RGB, ``(N, 3, H, W)`` float; H and W should be multiples of 16 (the
official pipeline feeds ``16·render_factor`` squares), and the output lies in ``(-3, 3)``.

Spectral norm follows ``torch.nn.utils.spectral_norm`` in eval mode: the weight is ``weight_orig / σ`` with
``σ = u · (W_mat v)`` from the stored vectors, without power iteration. Weight norm is ``g · v / ‖v‖`` per output
channel. :func:`finalize` (the registry's ``finalize`` hook) turns both into plain weights, folds every batch norm
that directly follows a convolution into it, and fuses the attention projections; the folded network computes the
same function (differences at float32 rounding level).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..models import ModelSpec, SizeRequirements

__all__ = [
    "DeOldifyGenerator",
    "build_artistic",
    "build_stable",
    "finalize",
    "SPECS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ----------------------------------------------------------------------------------------------------------------
# Normalised convolutions (state_dict layout of torch.nn.utils.spectral_norm / weight_norm)


def _init_conv_weight(w: torch.Tensor) -> None:
    fan_in = max(1, math.prod(w.shape[1:]))
    with torch.no_grad():
        w.normal_(0.0, math.sqrt(2.0 / fan_in))


class SpectralNormConv(nn.Module):
    """A convolution whose weight is divided by its spectral norm estimated from stored vectors.

    Keys: ``weight_orig`` (C_out, C_in, k[, k]), ``weight_u`` (C_out), ``weight_v`` (C_in·k^d), optional ``bias``.
    ``ndim`` is 1 for the self-attention projections (``nn.Conv1d`` in the original), 2 otherwise.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, bias: bool = False, ndim: int = 2):
        super().__init__()
        self.c_in, self.c_out, self.kernel, self.ndim = c_in, c_out, kernel, ndim
        self.weight_orig = nn.Parameter(torch.empty(c_out, c_in, *([kernel] * ndim)))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.register_buffer("weight_u", torch.empty(c_out))
        self.register_buffer("weight_v", torch.empty(c_in * kernel**ndim))
        _init_conv_weight(self.weight_orig)
        with torch.no_grad():
            self.weight_u.copy_(F.normalize(torch.randn_like(self.weight_u), dim=0))
            self.weight_v.copy_(F.normalize(torch.randn_like(self.weight_v), dim=0))

    def effective_weight(self) -> torch.Tensor:
        """``weight_orig / (u · (W v))``: what torch's spectral_norm uses in eval mode."""
        w = self.weight_orig
        sigma = torch.dot(self.weight_u, torch.mv(w.reshape(w.shape[0], -1), self.weight_v))
        return w / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.effective_weight()
        if self.ndim == 1:
            return F.conv1d(x, w, self.bias)
        return F.conv2d(x, w, self.bias, padding=self.kernel // 2)


class WeightNormConv(nn.Module):
    """A 2-D convolution with ``weight = g · v / ‖v‖`` (norm over all but the output dimension).

    Keys: ``weight_g`` (C_out, 1, 1, 1), ``weight_v`` (C_out, C_in, k, k), ``bias``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 1):
        super().__init__()
        self.kernel = kernel
        self.weight_g = nn.Parameter(torch.empty(c_out, 1, 1, 1))
        self.weight_v = nn.Parameter(torch.empty(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        _init_conv_weight(self.weight_v)
        with torch.no_grad():
            self.weight_g.copy_(self.weight_v.reshape(c_out, -1).norm(dim=1).reshape(c_out, 1, 1, 1))

    def effective_weight(self) -> torch.Tensor:
        v = self.weight_v
        norm = v.reshape(v.shape[0], -1).norm(dim=1).reshape(-1, *([1] * (v.dim() - 1)))
        return v * (self.weight_g / norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.effective_weight(), self.bias, padding=self.kernel // 2)


def _conv2d(c_in: int, c_out: int, kernel: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    """A plain conv whose weights are left for the checkpoint (cheap He-normal init for fresh builds)."""
    conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=bias)
    _init_conv_weight(conv.weight)
    if bias:
        nn.init.zeros_(conv.bias)
    return conv


# ----------------------------------------------------------------------------------------------------------------
# ResNet body (the layout of a classic ImageNet ResNet, v1.5: the stride sits on the 3×3 conv)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int = 1):
        super().__init__()
        self.conv1 = _conv2d(c_in, width, 3, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv2d(width, width, 3)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample: Optional[nn.Sequential] = None
        if stride != 1 or c_in != width:
            self.downsample = nn.Sequential(_conv2d(c_in, width, 1, stride), nn.BatchNorm2d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn1(self.conv1(x)).relu_()
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return out.relu_()


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1):
        super().__init__()
        c_out = width * self.expansion
        self.conv1 = _conv2d(c_in, width, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv2d(width, width, 3, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv2d(width, c_out, 1)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.downsample: Optional[nn.Sequential] = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(_conv2d(c_in, c_out, 1, stride), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn1(self.conv1(x)).relu_()
        out = self.bn2(self.conv2(out)).relu_()
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return out.relu_()


def resnet_body(block: type, depths: tuple[int, int, int, int]) -> nn.Sequential:
    """``conv1, bn1, relu, maxpool, layer1..layer4`` as an ``nn.Sequential`` (indices 0..7)."""
    layers: list[nn.Module] = [
        _conv2d(3, 64, 7, stride=2),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),
    ]
    c_in = 64
    for i, (width, n) in enumerate(zip((64, 128, 256, 512), depths)):
        blocks = []
        for j in range(n):
            blocks.append(block(c_in, width, stride=2 if (i > 0 and j == 0) else 1))
            c_in = width * block.expansion
        layers.append(nn.Sequential(*blocks))
    return nn.Sequential(*layers)


# Body indices whose outputs feed the decoder (where the spatial size changes next), deepest first.
_SKIP_INDICES = (6, 5, 4, 2)


# ----------------------------------------------------------------------------------------------------------------
# Decoder pieces


def conv_relu_bn(c_in: int, c_out: int, self_attention: bool = False) -> nn.Sequential:
    """Spectral-normalised 3×3 conv (no bias) → ReLU → BatchNorm [→ self-attention]."""
    layers: list[nn.Module] = [SpectralNormConv(c_in, c_out, 3), nn.ReLU(inplace=True), nn.BatchNorm2d(c_out)]
    if self_attention:
        layers.append(SelfAttention(c_out))
    return nn.Sequential(*layers)


class SelfAttention(nn.Module):
    """SAGAN-style self-attention over all H·W positions, added back with a learned ``gamma``.

    For output position j: ``x_j + gamma · Σ_i softmax_i(f_i · g_j) · h_i`` with f, g, h the spectral-normalised
    1×1 projections ``query`` (C/8), ``key`` (C/8) and ``value`` (C); no 1/√d scaling.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.query = SpectralNormConv(channels, channels // 8, 1, ndim=1)
        self.key = SpectralNormConv(channels, channels // 8, 1, ndim=1)
        self.value = SpectralNormConv(channels, channels, 1, ndim=1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.head_dim = channels // 8
        # finalize() stores the three projections stacked here and drops query/key/value
        self.register_buffer("qkv_weight", None)

    def projection_weight(self) -> torch.Tensor:
        """The query, key and value weights stacked: (2·C/8 + C, C, 1)."""
        if self.qkv_weight is not None:
            return self.qkv_weight
        return torch.cat([self.query.effective_weight(), self.key.effective_weight(), self.value.effective_weight()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        d = self.head_dim
        qkv = F.conv2d(x, self.projection_weight().unsqueeze(-1).to(x.dtype))  # (N, 2d + C, H, W)
        tokens = qkv.permute(0, 2, 3, 1).reshape(n, h * w, 2 * d + c)
        att = attend(tokens[..., d : 2 * d], tokens[..., :d], tokens[..., 2 * d :])  # (N, HW, C)
        att = att.view(n, h, w, c).permute(0, 3, 1, 2)
        return torch.addcmul(x, self.gamma.to(x.dtype), att)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, max_logits: int = 1 << 23) -> torch.Tensor:
    """``softmax(q kᵀ) v`` per batch item, without scaling, in blocks of query rows.

    Logits and softmax are computed in (at least) float32 whatever the input dtype (a bfloat16 logit of magnitude
    50 would be off by up to 0.1); the product with ``v`` runs in ``v``'s dtype. At most ``max_logits`` logits
    exist at a time, so memory stays linear in the number of positions.

    Args:
        q: (N, L, d) queries; k: (N, L, d) keys; v: (N, L, C) values.

    Returns:
        (N, L, C) in ``v``'s dtype.
    """
    n, length, _ = q.shape
    out = v.new_empty(n, length, v.shape[-1])
    rows = max(1, max_logits // length)
    acc = torch.promote_types(q.dtype, torch.float32)
    for b in range(n):
        kb = k[b].to(acc).t().contiguous()
        vb = v[b].contiguous()
        for r0 in range(0, length, rows):
            logits = torch.mm(q[b, r0 : r0 + rows].to(acc), kb)
            p = torch.softmax(logits, dim=-1).to(v.dtype)
            torch.mm(p, vb, out=out[b, r0 : r0 + rows])
    return out


class ChannelAffine(nn.Module):
    """An eval-mode batch norm as ``x·scale + shift`` per channel, computed **in place** (what :func:`finalize`
    turns the batch norms that follow a ReLU into; they cannot be folded into a convolution)."""

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            self.register_buffer("scale", scale.reshape(-1, 1, 1).clone())
            self.register_buffer("shift", (bn.bias - bn.running_mean * scale).reshape(-1, 1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, x, self.scale, out=x)


class ShuffleUp(nn.Module):
    """×2 upsampling: 1×1 conv (spectral norm, then BN; or weight norm) → ReLU → pixel shuffle → blur."""

    def __init__(self, c_in: int, c_out: int, weight_norm: bool = False):
        super().__init__()
        if weight_norm:
            self.conv = nn.Sequential(WeightNormConv(c_in, c_out * 4, 1))
        else:
            self.conv = nn.Sequential(SpectralNormConv(c_in, c_out * 4, 1), nn.BatchNorm2d(c_out * 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shuffle_blur(F.relu(self.conv(x), inplace=True))


def shuffle_blur(z: torch.Tensor) -> torch.Tensor:
    """``avg_pool2x2(replication_pad_top_left(pixel_shuffle(z, 2)))`` with one copy instead of three.

    The shuffled image is written straight into a buffer one row and column larger (NHWC), whose first row and
    column then repeat the next ones; the 2×2 mean of that is the blur. Same values, same summation order
    (except in reduced precision on CUDA, below).

    Shapes: (N, 4C, h, w) → (N, C, 2h, 2w), channels-last.
    """
    n, c4, h, w = z.shape
    c = c4 // 4
    buf = z.new_empty(n, 2 * h + 1, 2 * w + 1, c)
    # pixel shuffle: out[c, 2i + a, 2j + b] = z[4c + 2a + b, i, j]
    shuffled = z.permute(0, 2, 3, 1).reshape(n, h, w, c, 2, 2).permute(0, 1, 4, 2, 5, 3)
    buf[:, 1:, 1:].view(n, h, 2, w, 2, c).copy_(shuffled)
    buf[:, 0, 1:] = buf[:, 1, 1:]
    buf[:, :, 0] = buf[:, :, 1]
    if buf.is_cuda and buf.dtype != torch.float32:
        # avg_pool2d's channels-last CUDA kernel is slow (a fifth of a float16 forward on an H100); three
        # shifted adds give the same 2×2 mean, rounded after each add instead of once
        out = buf[:, :-1, :-1] + buf[:, :-1, 1:]
        out += buf[:, 1:, :-1]
        out += buf[:, 1:, 1:]
        return out.mul_(0.25).permute(0, 3, 1, 2)
    return F.avg_pool2d(buf.permute(0, 3, 1, 2), 2, stride=1)


def _merge(up: torch.Tensor, skip_bn: torch.Tensor) -> torch.Tensor:
    if up.shape[-2:] != skip_bn.shape[-2:]:
        up = F.interpolate(up, size=skip_bn.shape[-2:], mode="nearest")
    return torch.cat([up, skip_bn], dim=1).relu_()


class UnetBlockDeep(nn.Module):
    """Decoder block of the artistic generator: upsample, merge the skip, two convs (widths × nf_factor)."""

    def __init__(self, up_in: int, skip_in: int, final_div: bool, nf_factor: float, self_attention: bool):
        super().__init__()
        self.shuf = ShuffleUp(up_in, up_in // 2)
        self.bn = nn.BatchNorm2d(skip_in)
        ni = up_in // 2 + skip_in
        nf = int((ni if final_div else ni // 2) * nf_factor)
        self.conv1 = conv_relu_bn(ni, nf)
        self.conv2 = conv_relu_bn(nf, nf, self_attention=self_attention)
        self.out_channels = nf

    def forward(self, up_in: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(_merge(self.shuf(up_in), self.bn(skip))))


class UnetBlockWide(nn.Module):
    """Decoder block of the stable/video generator: upsample to n_out/2, merge the skip, one conv to n_out/2."""

    def __init__(self, up_in: int, skip_in: int, n_out: int, self_attention: bool):
        super().__init__()
        half = n_out // 2
        self.shuf = ShuffleUp(up_in, half)
        self.bn = nn.BatchNorm2d(skip_in)
        self.conv = conv_relu_bn(half + skip_in, half, self_attention=self_attention)
        self.out_channels = half

    def forward(self, up_in: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(_merge(self.shuf(up_in), self.bn(skip)))


class ResBlock(nn.Module):
    """``x + relu(conv(relu(conv(x))))`` with biased spectral-normalised 3×3 convs (keys ``layers.{0,1}.0.*``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.Sequential(SpectralNormConv(channels, channels, 3, bias=True), nn.ReLU(inplace=True)) for _ in range(2)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[1](self.layers[0](x)).add_(x)


class SigmoidRange(nn.Module):
    def __init__(self, low: float, high: float):
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x) * (self.high - self.low) + self.low


class _NoParams(nn.Module):
    """Placeholder keeping the official layer numbering for steps done inline in the forward pass."""

    def __init__(self, what: str):
        super().__init__()
        self.what = what

    def extra_repr(self) -> str:
        return self.what


# ----------------------------------------------------------------------------------------------------------------
# The generator


class DeOldifyGenerator(nn.Module):
    """DeOldify's U-Net generator.

    Args:
        variant: ``"deep"`` (artistic: ResNet34 body, two-conv blocks) or ``"wide"`` (stable/video: ResNet101
            body, one-conv blocks).
        nf_factor: decoder width factor (1.5 for artistic, 2 for stable/video).

    Shapes:
        input ``(N, 3, H, W)`` ImageNet-normalised RGB (H, W multiples of 16 recommended; the official pipeline
        uses squares of 16·render_factor) → output ``(N, 3, H, W)`` in ``(-3, 3)``, same normalisation.
    """

    def __init__(self, variant: str = "deep", nf_factor: float = 1.5):
        super().__init__()
        if variant not in ("deep", "wide"):
            raise ValueError(f"variant must be 'deep' or 'wide', got {variant!r}")
        self.variant, self.nf_factor = variant, nf_factor
        if variant == "deep":
            body, skip_ch, ni = resnet_body(BasicBlock, (3, 4, 6, 3)), (256, 128, 64, 64), 512
        else:
            body, skip_ch, ni = resnet_body(Bottleneck, (3, 4, 23, 3)), (1024, 512, 256, 64), 2048
        layers: list[nn.Module] = [
            body,
            nn.BatchNorm2d(ni),
            nn.ReLU(inplace=True),
            nn.Sequential(conv_relu_bn(ni, ni * 2), conv_relu_bn(ni * 2, ni)),
        ]
        up = ni
        for i, skip_in in enumerate(skip_ch):
            final = i == len(skip_ch) - 1
            sa = i == 1
            if variant == "deep":
                blk: nn.Module = UnetBlockDeep(up, skip_in, not final, nf_factor, sa)
            else:
                nf = int(512 * nf_factor)
                blk = UnetBlockWide(up, skip_in, nf // 2 if final else nf, sa)
            layers.append(blk)
            up = blk.out_channels
        layers += [
            ShuffleUp(up, up, weight_norm=True),
            _NoParams("concatenate the network input"),
            ResBlock(up + 3),
            nn.Sequential(SpectralNormConv(up + 3, 3, 1, bias=True)),
            SigmoidRange(-3.0, 3.0),
        ]
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected an (N, 3, H, W) tensor, got shape {tuple(x.shape)}")
        skips: dict[int, torch.Tensor] = {}
        h = x
        for i, m in enumerate(self.layers[0]):
            h = m(h)
            if i in _SKIP_INDICES:
                skips[i] = h
        h = self.layers[3](self.layers[2](self.layers[1](h)))
        for blk, idx in zip(self.layers[4:8], _SKIP_INDICES):
            h = blk(h, skips.pop(idx))
        h = self.layers[8](h)
        h = torch.cat([h, x.to(h.dtype)], dim=1)
        h = self.layers[10](h)
        h = self.layers[11](h)
        return self.layers[12](h)


def build_artistic() -> DeOldifyGenerator:
    """The artistic generator (ResNet34 body, deep decoder, nf_factor 1.5), fresh weights."""
    return DeOldifyGenerator("deep", 1.5)


def build_stable() -> DeOldifyGenerator:
    """The stable/video generator (ResNet101 body, wide decoder, nf_factor 2), fresh weights."""
    return DeOldifyGenerator("wide", 2)


# ----------------------------------------------------------------------------------------------------------------
# Folding for inference


def _plain_conv(weight: torch.Tensor, bias: Optional[torch.Tensor], stride: int = 1) -> nn.Conv2d:
    c_out, c_in, k = weight.shape[0], weight.shape[1], weight.shape[-1]
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=True, device=weight.device)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias if bias is not None else torch.zeros(c_out, device=weight.device))
    return conv.requires_grad_(False)


def _fold_bn(weight: torch.Tensor, bias: Optional[torch.Tensor], bn: nn.BatchNorm2d):
    """Weights of ``bn(conv(x))`` as one conv (eval-mode batch norm)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    b = bias if bias is not None else torch.zeros_like(bn.running_mean)
    return weight * scale.reshape(-1, 1, 1, 1), (b - bn.running_mean) * scale + bn.bias


def _fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    w, b = _fold_bn(conv.weight, conv.bias, bn)
    return _plain_conv(w, b, stride=conv.stride[0])


@torch.no_grad()
def finalize(net: nn.Module) -> nn.Module:
    """Fold a loaded generator for inference (in place; returns it).

    - spectral/weight-normalised convs become plain convs holding ``weight_orig / σ`` or ``g·v/‖v‖``;
    - batch norms that directly follow a convolution (the ResNet body, the 1×1 upsampling convs) are folded
      into it; those that follow a ReLU stay;
    - the three self-attention projections are stacked into one matrix.

    The folded net computes the same function as the original one up to float32 rounding; its
    ``state_dict`` keys are no longer the official ones (load first, then finalize).
    """
    if not isinstance(net, DeOldifyGenerator):
        return net
    body = net.layers[0]
    body[0] = _fold_conv_bn(body[0], body[1])
    body[1] = nn.Identity()
    for stage in list(body)[4:8]:
        for blk in stage:
            for conv_name, bn_name in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")):
                if hasattr(blk, conv_name):
                    setattr(blk, conv_name, _fold_conv_bn(getattr(blk, conv_name), getattr(blk, bn_name)))
                    setattr(blk, bn_name, nn.Identity())
            if blk.downsample is not None:
                blk.downsample = nn.Sequential(_fold_conv_bn(blk.downsample[0], blk.downsample[1]), nn.Identity())
    for mod in list(net.modules()):
        if isinstance(mod, ShuffleUp):
            first = mod.conv[0]
            w = first.effective_weight()
            if len(mod.conv) > 1:
                w, b = _fold_bn(w, first.bias, mod.conv[1])
                mod.conv = nn.Sequential(_plain_conv(w, b), nn.Identity())
            else:
                mod.conv = nn.Sequential(_plain_conv(w, first.bias))
        elif isinstance(mod, SelfAttention):
            mod.qkv_weight = mod.projection_weight().detach().clone()
            del mod.query, mod.key, mod.value
    for mod in list(net.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, SpectralNormConv) and child.ndim == 2:
                setattr(mod, name, _plain_conv(child.effective_weight(), child.bias))
            elif isinstance(child, nn.BatchNorm2d):  # the body's are folded already
                setattr(mod, name, ChannelAffine(child))  # BNs after a ReLU, and on the skip features
    return net


def _spec(name: str, build, weights_id: str, description: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        build=build,
        description=description,
        weights_id=weights_id,
        finalize=finalize,
        size=SizeRequirements(minimum=16, multiple_of=16, square=False),
        tiling="internal",
    )


SPECS = [
    _spec(
        "deoldify-artistic",
        build_artistic,
        "deoldify-artistic",
        "DeOldify artistic generator (ResNet34 U-Net, deep decoder): vivid colours, best for photos (MIT)",
    ),
    _spec(
        "deoldify-stable",
        build_stable,
        "deoldify-stable",
        "DeOldify stable generator (ResNet101 U-Net, wide decoder): fewer artefacts on portraits/landscapes (MIT)",
    ),
    _spec(
        "deoldify-video",
        build_stable,
        "deoldify-video",
        "DeOldify video generator (stable architecture, trained for temporal consistency) (MIT)",
    ),
]
