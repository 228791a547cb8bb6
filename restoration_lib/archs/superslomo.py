"""Super SloMo (Jiang et al., CVPR 2018) as published in avinashpaliwal/Super-SloMo, in plain PyTorch.

Two U-Nets: the flow-computation net ``UNet(6, 4)`` estimates the flows F_0->1 and F_1->0 between two
frames; the arbitrary-time flow-interpolation net ``UNet(20, 5)`` refines the flows from time t and predicts
a visibility map. :class:`SuperSloMo` holds both, under the names the official script gives them
(``flowComp``, ``ArbTimeFlowIntrp``); the published ``SuperSloMo.ckpt`` (a dict with ``state_dictFC`` and
``state_dictAT``) is mapped into those keys by :func:`prepare_container`.

Conventions of the official code (kept, because the published weights and the reference outputs rely on them):

- frames enter *normalised*: RGB in [0, 1] minus the per-channel mean :data:`MEAN` (std 1);
- every conv, the last included, is followed by LeakyReLU(0.1), so negative flows come out 10x smaller;
- :func:`backwarp` samples at ``(j + u, i + v)`` normalised by W and H with ``grid_sample``'s current default
  ``align_corners=False`` and zero padding: even a zero flow shifts the image by half a pixel, and the zero
  (mean colour) border bleeds in at the top and left edges;
- sizes must be multiples of 32 (the official script resizes frames *down* to multiples of 32).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..models import ModelSpec, SizeRequirements

__all__ = [
    "MEAN", "UNet", "SuperSloMo", "SloMoOutput", "backwarp", "flow_coefficients", "normalize", "denormalize",
    "prepare_container", "SPECS",
]

MEAN = (0.429, 0.431, 0.397)  # per-channel mean the official script subtracts (std is 1)
MULTIPLE = 32


def normalize(x: torch.Tensor) -> torch.Tensor:
    """RGB (N, 3, H, W) in [0, 1] -> the network's input space (mean subtracted, as torchvision Normalize)."""
    return x - torch.tensor(MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)


def denormalize(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalize` (adds the mean back; no clamping)."""
    return x - torch.tensor([-m for m in MEAN], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, negative_slope=0.1)


class _Down(nn.Module):
    """2x2 average pool, then two convs (``k``x``k``) with LeakyReLU(0.1)."""

    def __init__(self, cin: int, cout: int, k: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, k, 1, (k - 1) // 2)
        self.conv2 = nn.Conv2d(cout, cout, k, 1, (k - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, 2)
        return _lrelu(self.conv2(_lrelu(self.conv1(x))))


class _Up(nn.Module):
    """Bilinear x2, a 3x3 conv, concatenation with the skip, another 3x3 conv; LeakyReLU(0.1) after each."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(2 * cout, cout, 3, 1, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = _lrelu(self.conv1(x))
        return _lrelu(self.conv2(torch.cat((x, skip), 1)))


class UNet(nn.Module):
    """Super SloMo's U-Net: (N, cin, H, W) -> (N, cout, H, W); H and W multiples of 32.

    Args:
        cin: input channels (6 for the flow net, 20 for the interpolation net).
        cout: output channels (4 and 5).
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, 32, 7, 1, 3)
        self.conv2 = nn.Conv2d(32, 32, 7, 1, 3)
        self.down1 = _Down(32, 64, 5)
        self.down2 = _Down(64, 128, 3)
        self.down3 = _Down(128, 256, 3)
        self.down4 = _Down(256, 512, 3)
        self.down5 = _Down(512, 512, 3)
        self.up1 = _Up(512, 512)
        self.up2 = _Up(512, 256)
        self.up3 = _Up(256, 128)
        self.up4 = _Up(128, 64)
        self.up5 = _Up(64, 32)
        self.conv3 = nn.Conv2d(32, cout, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % MULTIPLE or x.shape[-2] % MULTIPLE:
            raise ValueError(f"Super SloMo needs H and W multiples of {MULTIPLE}; got {x.shape[-2]}x{x.shape[-1]}")
        io_dtype = x.dtype  # convs run in the parameters' dtype (bf16 for "fast"); the result in the input's
        s1 = _lrelu(self.conv2(_lrelu(self.conv1(x.to(self.conv1.weight.dtype)))))
        s2 = self.down1(s1)
        s3 = self.down2(s2)
        s4 = self.down3(s3)
        s5 = self.down4(s4)
        x = self.down5(s5)
        for up, skip in ((self.up1, s5), (self.up2, s4), (self.up3, s3), (self.up4, s2), (self.up5, s1)):
            x = up(x, skip)
        return _lrelu(self.conv3(x)).to(io_dtype)


def backwarp(img: torch.Tensor, flow: torch.Tensor, *, align_corners: bool = False) -> torch.Tensor:
    """Super SloMo's backward warp: sample ``img`` at ``(j + u, i + v)`` normalised by (W, H).

    Args:
        img: (N, C, H, W).
        flow: (N, 2, H, W) in pixels (u then v).
        align_corners: ``False`` reproduces the official code on torch >= 1.3 (half-pixel shift, zero border),
            which the reference outputs use; ``True`` is how ``grid_sample`` behaved on the torch the
            published weights were trained with (0.4.1).

    Returns:
        (N, C, H, W); samples outside the frame read zeros (the mean colour in normalised space).
    """
    n, _, h, w = img.shape
    gx = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, 1, w).expand(n, h, w)
    gy = torch.arange(h, device=flow.device, dtype=flow.dtype).view(1, h, 1).expand(n, h, w)
    x = 2 * ((gx + flow[:, 0]) / w - 0.5)
    y = 2 * ((gy + flow[:, 1]) / h - 0.5)
    grid = torch.stack((x, y), dim=3)
    return F.grid_sample(img, grid.to(img.dtype), mode="bilinear", padding_mode="zeros", align_corners=align_corners)


def flow_coefficients(t: float) -> tuple[float, float, float, float]:
    """(C00, C01, C10, C11) with F_t_0 = C00 F_0_1 + C01 F_1_0 and F_t_1 = C10 F_0_1 + C11 F_1_0."""
    c = -t * (1 - t)
    return c, t * t, (1 - t) * (1 - t), c


@dataclass
class SloMoOutput:
    """One Super SloMo step, in the network's normalised space.

    Attributes:
        frame: (N, 3, H, W) the frame at time t (``Ft_p``), normalised and unclamped.
        flow_out: (N, 4, H, W) flow-net output: F_0_1 (0-1), F_1_0 (2-3), pixels.
        at_out: (N, 5, H, W) interpolation-net output: dF_t_0 (0-1), dF_t_1 (2-3), visibility logit (4).
    """

    frame: torch.Tensor
    flow_out: torch.Tensor
    at_out: torch.Tensor


class SuperSloMo(nn.Module):
    """Both Super SloMo networks and the official arithmetic for one intermediate time t.

    Args:
        warp_align_corners: see :func:`backwarp` (default ``False`` = the official code as it runs today).

    Call ``net(I0, I1, t)`` with normalised (N, 3, H, W) frames (:func:`normalize`), H and W multiples of 32;
    it returns the normalised frame at time t.
    """

    def __init__(self, warp_align_corners: bool = False):
        super().__init__()
        self.flowComp = UNet(6, 4)
        self.ArbTimeFlowIntrp = UNet(20, 5)
        self.warp_align_corners = warp_align_corners

    def flows(self, i0: torch.Tensor, i1: torch.Tensor) -> torch.Tensor:
        """Flow-net output (N, 4, H, W): F_0_1 then F_1_0. Compute once per frame pair, reuse for every t."""
        return self.flowComp(torch.cat((i0, i1), 1))

    def run(self, i0: torch.Tensor, i1: torch.Tensor, t: float = 0.5, flow_out: Optional[torch.Tensor] = None) -> SloMoOutput:
        """The frame at time ``t`` in (0, 1) plus the networks' outputs (see :class:`SloMoOutput`).

        Args:
            i0, i1: (N, 3, H, W) normalised frames.
            t: intermediate time.
            flow_out: the result of :meth:`flows` for this pair, if already computed.
        """
        if i0.ndim != 4 or i0.shape[1] != 3 or i0.shape != i1.shape:
            raise ValueError(
                f"expected two (N, 3, H, W) tensors of the same shape; got {tuple(i0.shape)} and {tuple(i1.shape)}"
            )
        t = float(t)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must lie in [0, 1]; got {t}")
        if flow_out is None:
            flow_out = self.flows(i0, i1)
        ac = self.warp_align_corners
        f01, f10 = flow_out[:, :2], flow_out[:, 2:]
        c00, c01, c10, c11 = flow_coefficients(t)
        ft0 = c00 * f01 + c01 * f10
        ft1 = c10 * f01 + c11 * f10
        g0 = backwarp(i0, ft0, align_corners=ac)
        g1 = backwarp(i1, ft1, align_corners=ac)
        at_out = self.ArbTimeFlowIntrp(torch.cat((i0, i1, f01, f10, ft1, ft0, g1, g0), 1))
        ft0f = at_out[:, :2] + ft0
        ft1f = at_out[:, 2:4] + ft1
        v0 = torch.sigmoid(at_out[:, 4:5])
        v1 = 1 - v0
        w0, w1 = 1 - t, t
        num = w0 * v0 * backwarp(i0, ft0f, align_corners=ac) + w1 * v1 * backwarp(i1, ft1f, align_corners=ac)
        frame = num / (w0 * v0 + w1 * v1)
        return SloMoOutput(frame=frame, flow_out=flow_out, at_out=at_out)

    def forward(self, i0: torch.Tensor, i1: torch.Tensor, t: float = 0.5) -> torch.Tensor:
        return self.run(i0, i1, t).frame


_FC, _AT = "state_dictFC", "state_dictAT"


def prepare_container(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the published ``SuperSloMo.ckpt`` into :class:`SuperSloMo`'s keys.

    The loader flattens the container's two dicts into ``state_dictFC.<key>`` and ``state_dictAT.<key>``;
    these become ``flowComp.<key>`` and ``ArbTimeFlowIntrp.<key>``. Other entries (epoch, losses, ...) hold
    no tensors and are already gone. A state_dict already in :class:`SuperSloMo`'s keys passes unchanged.
    """
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        if k.startswith(_FC + "."):
            out["flowComp." + k[len(_FC) + 1:]] = v
        elif k.startswith(_AT + "."):
            out["ArbTimeFlowIntrp." + k[len(_AT) + 1:]] = v
        else:
            out[k] = v
    return out


SPECS = [
    ModelSpec(
        name="superslomo",
        build=SuperSloMo,
        description="Super SloMo (2018, Adobe240fps weights): the slowest, about 6-10x RIFE 4.0's CPU time "
                    "(1.2 TFLOP per 720p frame), softer than RIFE; code MIT, weights' licence not stated",
        weights_id="superslomo",
        prepare=prepare_container,
        size=SizeRequirements(minimum=MULTIPLE, multiple_of=MULTIPLE),
        tiling="internal",
    )
]
