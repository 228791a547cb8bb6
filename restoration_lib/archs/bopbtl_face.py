"""Face-enhancement generator of "Bringing Old Photos Back to Life" (SPADE generator), in plain PyTorch.

The network is the SPADE generator as configured for the published face checkpoints
(``Face_Enhancement/checkpoints/Setting_9_epoch_100`` at 256 px and ``FaceSR_512`` at 512 px):
``ngf=64``, ``norm_G="spectralspadesyncbatch3x3"``, ``num_upsampling_layers="normal"``,
``no_parsing_map=True`` (the SPADE branches are conditioned on the degraded face itself, 3 channels),
``injection_layer="all"``, no VAE. Attribute names reproduce the official state_dict keys, so the
published ``latest_net_G.pth`` files load unchanged (``weight_orig``/``weight_u``/``weight_v`` of the
spectral-normalised convolutions, the running statistics of the parameter-free batch norms).

What the official code computes at inference, and this module reproduces:

- spectral norm in eval mode: no power iteration, ``weight = weight_orig / (u · (W v))`` with the stored
  ``u`` and ``v`` (W = ``weight_orig`` reshaped to ``(out, -1)``);
- the synchronised batch norm in eval mode: plain batch norm on the running statistics (eps 1e-5), so the
  items of a batch are independent;
- SPADE: ``bn(x) * (1 + gamma) + beta`` with ``gamma``/``beta`` computed from the degraded face resized
  bilinearly (``align_corners=False``) to the feature size; the 18-channel label map of the official call is
  all zeros and unused with ``no_parsing_map``, so it is not an input here;
- the head: the degraded face resized bilinearly to ``size/32`` (8×8 or 16×16), a 3×3 conv to 1024 channels,
  then 7 SPADE residual blocks with 5 nearest ×2 upsamplings, leaky ReLU(0.2), a 3×3 conv to RGB and tanh.

Input and output are the official tensors: ``(N, 3, S, S)`` float in ``[-1, 1]`` (``(u8/255 - 0.5)/0.5``),
S = 256 or 512. Pre- and post-processing (8-bit conversion, resizing of other crop sizes) live in
:mod:`restoration_lib.repair.faces`.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..models import ModelSpec, SizeRequirements

__all__ = ["SpectralConv2d", "SPADE", "SPADEResnetBlock", "SPADEGenerator", "SPECS", "fill_batchnorm_counters"]


class SpectralConv2d(nn.Module):
    """A conv layer stored the way ``torch.nn.utils.spectral_norm`` stores it, evaluated in eval mode.

    State: ``weight_orig`` (parameter), ``weight_u`` (out,) and ``weight_v`` (in*k*k,) buffers, ``bias``.
    The effective weight ``weight_orig / sigma`` (``sigma = u · (W v)``) is computed at each call, or once by
    :meth:`fold` (then kept in a non-persistent buffer, so the state_dict keeps the official keys).
    """

    def __init__(self, fin: int, fout: int, kernel_size: int, padding: int = 0, bias: bool = True):
        super().__init__()
        self.padding = padding
        self.weight_orig = nn.Parameter(torch.empty(fout, fin, kernel_size, kernel_size))
        if bias:
            self.bias = nn.Parameter(torch.zeros(fout))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("weight_u", torch.empty(fout))
        self.register_buffer("weight_v", torch.empty(fin * kernel_size * kernel_size))
        self.folded: Optional[torch.Tensor]
        self.register_buffer("folded", None, persistent=False)
        nn.init.kaiming_uniform_(self.weight_orig, a=5**0.5)
        nn.init.normal_(self.weight_u)
        nn.init.normal_(self.weight_v)

    def effective_weight(self) -> torch.Tensor:
        w = self.weight_orig
        sigma = torch.dot(self.weight_u, torch.mv(w.reshape(w.shape[0], -1), self.weight_v))
        return w / sigma

    @torch.no_grad()
    def fold(self) -> None:
        """Compute ``weight_orig / sigma`` once (float32) and use it for every later call."""
        self.folded = self.effective_weight().detach().clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.folded if self.folded is not None else self.effective_weight()
        return F.conv2d(x, w, self.bias, padding=self.padding)


class SPADE(nn.Module):
    """Spatially-adaptive normalisation conditioned on the degraded face (``no_parsing_map`` variant)."""

    def __init__(self, norm_nc: int, nhidden: int = 128, ks: int = 3):
        super().__init__()
        pw = ks // 2
        self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(3, nhidden, kernel_size=ks, padding=pw), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(nhidden, norm_nc, kernel_size=ks, padding=pw)
        self.mlp_beta = nn.Conv2d(nhidden, norm_nc, kernel_size=ks, padding=pw)

    def forward(self, x: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        """``x``: features (N,C,h,w); ``face``: the degraded face already resized to (h, w)."""
        normalized = self.param_free_norm(x)
        actv = self.mlp_shared(face)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    """Residual block: two SPADE → leaky ReLU → spectral conv stages; a learned 1×1 shortcut when fin != fout."""

    def __init__(self, fin: int, fout: int, nhidden: int = 128):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = SpectralConv2d(fin, fmiddle, 3, padding=1)
        self.conv_1 = SpectralConv2d(fmiddle, fout, 3, padding=1)
        if self.learned_shortcut:
            self.conv_s = SpectralConv2d(fin, fout, 1, bias=False)
        self.norm_0 = SPADE(fin, nhidden)
        self.norm_1 = SPADE(fmiddle, nhidden)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, nhidden)

    def forward(self, x: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, face)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, face), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, face), 0.2))
        return x_s + dx


class SPADEGenerator(nn.Module):
    """The BOPBTL face generator.

    Args:
        size: the crop size the checkpoint was trained for (``load_size``): 256 (``Setting_9_epoch_100``) or
            512 (``FaceSR_512``). The head starts from the face resized to ``size/32`` a side.
        ngf: base width (64 in both published checkpoints).
        nhidden: width of the SPADE conditioning branches (128 in both; smaller values are for tests).

    Shape:
        - Input: ``(N, 3, H, W)`` degraded faces in ``[-1, 1]``; H = W = ``size`` is what the network was
          trained on (other sizes are resized internally, as the official code would).
        - Output: ``(N, 3, size, size)`` in ``[-1, 1]`` (tanh).
    """

    def __init__(self, size: int = 256, ngf: int = 64, nhidden: int = 128):
        super().__init__()
        if size % 32 != 0 or size < 32:
            raise ValueError(f"size must be a positive multiple of 32 (256 or 512 for the published nets); got {size}")
        self.size = size
        self.sw = self.sh = size // 32
        nf = ngf
        self.fc = nn.Conv2d(3, 16 * nf, 3, padding=1)
        self.head_0 = SPADEResnetBlock(16 * nf, 16 * nf, nhidden)
        self.G_middle_0 = SPADEResnetBlock(16 * nf, 16 * nf, nhidden)
        self.G_middle_1 = SPADEResnetBlock(16 * nf, 16 * nf, nhidden)
        self.up_0 = SPADEResnetBlock(16 * nf, 8 * nf, nhidden)
        self.up_1 = SPADEResnetBlock(8 * nf, 4 * nf, nhidden)
        self.up_2 = SPADEResnetBlock(4 * nf, 2 * nf, nhidden)
        self.up_3 = SPADEResnetBlock(2 * nf, 1 * nf, nhidden)
        self.conv_img = nn.Conv2d(nf, 3, 3, padding=1)

    def forward(self, face: torch.Tensor) -> torch.Tensor:
        if face.ndim != 4 or face.shape[1] != 3:
            raise ValueError(f"expected a (N, 3, H, W) face tensor in [-1, 1]; got shape {tuple(face.shape)}")
        # channels-last activations run the convolutions about twice as fast on CPU (oneDNN) and on GPUs;
        # the results differ from the default layout by float rounding only (~1e-5 here).
        face = face.contiguous(memory_format=torch.channels_last)
        resized: dict[tuple[int, int], torch.Tensor] = {}

        def at(x: torch.Tensor) -> torch.Tensor:
            # The degraded face at the feature size; the official code resizes it anew in every SPADE layer,
            # with the same (deterministic) bilinear interpolation, so computing it once per size is identical.
            hw = (int(x.shape[2]), int(x.shape[3]))
            if hw not in resized:
                resized[hw] = F.interpolate(face, size=hw, mode="bilinear", align_corners=False)
            return resized[hw]

        x = self.fc(F.interpolate(face, size=(self.sh, self.sw), mode="bilinear", align_corners=False))
        x = self.head_0(x, at(x))
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.G_middle_0(x, at(x))
        x = self.G_middle_1(x, at(x))
        for block in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = block(x, at(x))
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2))).contiguous()


def fill_batchnorm_counters(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Add ``num_batches_tracked`` counters (zero) that files saved by old PyTorch versions lack.

    The counter does not take part in eval-mode batch norm; everything else is left as it is.
    """
    out = dict(sd)
    for k in sd:
        if k.endswith(".running_mean"):
            counter = k[: -len("running_mean")] + "num_batches_tracked"
            out.setdefault(counter, torch.zeros((), dtype=torch.long))
    return out


def _fold_spectral(net: nn.Module) -> nn.Module:
    """Fold the spectral norms into effective weights once, and store 4-D weights channels-last."""
    for m in net.modules():
        if isinstance(m, SpectralConv2d):
            m.fold()
    return net.to(memory_format=torch.channels_last)


def _spec(size: int, checkpoint: str, params: str) -> ModelSpec:
    return ModelSpec(
        name=f"bopbtl-face-{size}",
        build=lambda: SPADEGenerator(size),
        description=f"BOPBTL face enhancement, SPADE generator for {size}×{size} aligned faces ({checkpoint}; {params})",
        weights_id="bopbtl-face",
        prepare=fill_batchnorm_counters,
        finalize=_fold_spectral,
        size=SizeRequirements(minimum=size, multiple_of=size, square=True),
        tiling="internal",
    )


SPECS = [_spec(256, "256-px faces", "92 M params"), _spec(512, "512-px faces, HR mode", "92 M params")]
