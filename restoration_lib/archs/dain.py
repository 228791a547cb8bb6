"""DAIN (Bao et al., "Depth-Aware Video Frame Interpolation", CVPR 2019) in plain PyTorch.

The networks of baowenbo/DAIN under the attribute names that reproduce the published ``best.pth`` keys
(954 keys, 24.0 M parameters):

- ``flownets``: PWC-DC-Net (optical flow at 1/4 resolution; its correlation layer and warp are
  :func:`restoration_lib.ops.dain.correlation` / :func:`~restoration_lib.ops.dain.backward_warp`);
- ``depthNet``: the MegaDepth hourglass (log-depth; 155 BatchNorm layers, 154 without affine parameters);
- ``ctxNet``: the context extractor (the frame, a 7x7 conv and two dilated residual blocks: 195 channels);
- ``initScaleNets_filter`` + ``initScaleNets_filter1``/``initScaleNets_filter2``: the kernel-estimation U-Net
  and its two heads (a 4x4 filter per pixel for each frame);
- ``rectifyNet``: the residual refinement network (437 input channels).

The test-time forward (``DAIN`` / ``DAIN_slowmotion`` of the official code, which share the keys) for time t:
flows from PWC-Net scaled by ``20 t`` (forward) and ``20 (1 - t)`` (backward) and upsampled x4; projected
to time t by :func:`~restoration_lib.ops.dain.depth_flow_projection` with inverse-depth weights; each frame
and its context warped by :func:`~restoration_lib.ops.dain.filter_interpolation`; blended with weights
``1 - t`` and ``t``; refined by ``rectifyNet``. Frame sizes must be multiples of 64 (the official demo pads
to 128k or 128k + 64, see :mod:`restoration_lib.interpolate.dain`).

Licence: DAIN's code is MIT; the PWC-Net part comes from NVlabs' PWC-Net code (CC BY-NC-SA 4.0).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..models import ModelSpec, SizeRequirements
from ..ops.dain import backward_warp, correlation, depth_flow_projection, filter_interpolation

__all__ = ["DAIN", "DainOutput", "PWCDCNet", "build_hourglass", "ContextNet", "RectifyNet", "SPECS", "MULTIPLE"]

MULTIPLE = 64  # frame sizes the network accepts (PWC-Net halves 6 times; the official demo pads to 128k or 128k + 64)
DIV_FLOW = 20.0  # PWC-Net's flow unit


# ------------------------------------------------------------------------------------------------ PWC-DC-Net

def _conv_lrelu(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, dilation, dilation=dilation), nn.LeakyReLU(0.1))


class PWCDCNet(nn.Module):
    """PWC-DC-Net as DAIN ships it (md = 4). ``forward(x)`` on ``cat(im1, im2)`` (B, 6, H, W), H and W
    multiples of 64, returns the raw flow (B, 2, H/4, W/4) from im1 to im2 in units of 20 px."""

    def __init__(self, md: int = 4):
        super().__init__()
        self.md = md
        chans = [(3, 16), (16, 32), (32, 64), (64, 96), (96, 128)]
        for lvl, (cin, cout) in enumerate(chans, start=1):
            setattr(self, f"conv{lvl}a", _conv_lrelu(cin, cout, 2))
            setattr(self, f"conv{lvl}aa", _conv_lrelu(cout, cout))
            setattr(self, f"conv{lvl}b", _conv_lrelu(cout, cout))
        self.conv6aa = _conv_lrelu(128, 196, 2)
        self.conv6a = _conv_lrelu(196, 196)
        self.conv6b = _conv_lrelu(196, 196)
        nd = (2 * md + 1) ** 2
        growth = (128, 128, 96, 64, 32)
        dd = [sum(growth[: i + 1]) for i in range(5)]
        for lvl, od in ((6, nd), (5, nd + 128 + 4), (4, nd + 96 + 4), (3, nd + 64 + 4), (2, nd + 32 + 4)):
            for i, g in enumerate(growth):
                setattr(self, f"conv{lvl}_{i}", _conv_lrelu(od + (dd[i - 1] if i else 0), g))
            setattr(self, f"predict_flow{lvl}", nn.Conv2d(od + dd[4], 2, 3, 1, 1))
            setattr(self, f"deconv{lvl}", nn.ConvTranspose2d(2, 2, 4, 2, 1))
            if lvl > 2:
                setattr(self, f"upfeat{lvl}", nn.ConvTranspose2d(od + dd[4], 2, 4, 2, 1))
        od = nd + 32 + 4 + dd[4]
        self.dc_conv1 = _conv_lrelu(od, 128, dilation=1)
        self.dc_conv2 = _conv_lrelu(128, 128, dilation=2)
        self.dc_conv3 = _conv_lrelu(128, 128, dilation=4)
        self.dc_conv4 = _conv_lrelu(128, 96, dilation=8)
        self.dc_conv5 = _conv_lrelu(96, 64, dilation=16)
        self.dc_conv6 = _conv_lrelu(64, 32, dilation=1)
        self.dc_conv7 = nn.Conv2d(32, 2, 3, 1, 1)

    def pyramid(self, im: torch.Tensor) -> list[torch.Tensor]:
        """Features of one image at 1/2 ... 1/64 resolution (6 levels)."""
        feats = []
        x = im
        for lvl in range(1, 7):
            if lvl < 6:
                x = getattr(self, f"conv{lvl}b")(getattr(self, f"conv{lvl}aa")(getattr(self, f"conv{lvl}a")(x)))
            else:
                x = self.conv6b(self.conv6a(self.conv6aa(x)))
            feats.append(x)
        return feats

    def _corr(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(correlation(a, b, self.md).to(a.dtype), 0.1)

    def _dense(self, lvl: int, x: torch.Tensor) -> torch.Tensor:
        for i in range(5):
            x = torch.cat((getattr(self, f"conv{lvl}_{i}")(x), x), 1)
        return x

    def decode(self, f1: list[torch.Tensor], f2: list[torch.Tensor]) -> torch.Tensor:
        """Flow from the pyramids of im1 and im2 (as from :meth:`pyramid`)."""
        x = self._dense(6, self._corr(f1[5], f2[5]))
        flow = self.predict_flow6(x)
        up_flow = self.deconv6(flow)
        up_feat = self.upfeat6(x)
        for lvl, scale in ((5, 0.625), (4, 1.25), (3, 2.5), (2, 5.0)):
            c1, c2 = f1[lvl - 1], f2[lvl - 1]
            warped = backward_warp(c2, (up_flow * scale).float()).to(c2.dtype)
            x = torch.cat((self._corr(c1, warped), c1, up_flow, up_feat), 1)
            x = self._dense(lvl, x)
            flow = getattr(self, f"predict_flow{lvl}")(x)
            if lvl > 2:
                up_flow = getattr(self, f"deconv{lvl}")(flow)
                up_feat = getattr(self, f"upfeat{lvl}")(x)
        x = self.dc_conv4(self.dc_conv3(self.dc_conv2(self.dc_conv1(x))))
        return flow + self.dc_conv7(self.dc_conv6(self.dc_conv5(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.pyramid(x[:, :3]), self.pyramid(x[:, 3:]))


# ------------------------------------------------------------------------------------- MegaDepth hourglass

class _Concat(nn.Sequential):
    """Children applied to the same input, outputs concatenated along channels (torch7 ``Concat``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.cat([m(x) for m in self], 1)


class _SumBranches(nn.Module):
    """``nn.Sequential(ConcatTable(a, b), CAddTable)`` of the torch7 export: ``a(x) + b(x)``; the
    ConcatTable is child ``0`` and holds the branches, so the keys are ``<prefix>.0.<i>....``."""

    def __init__(self, a: nn.Module, b: nn.Module):
        super().__init__()
        self.add_module("0", nn.Sequential(a, b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = getattr(self, "0")
        out = a(x)
        return out.add_(b(x))


def _inception(cin: int, first: int, rest: Sequence[tuple[int, int, int]]) -> _Concat:
    """MegaDepth's inception module: a 1x1 branch of ``first`` channels, then (reduce, out, kernel) branches
    of 1x1 -> kxk, each conv followed by affine-free BatchNorm and ReLU."""
    branches = [nn.Sequential(nn.Conv2d(cin, first, 1), nn.BatchNorm2d(first, affine=False), nn.ReLU(True))]
    for red, out, k in rest:
        branches.append(nn.Sequential(
            nn.Conv2d(cin, red, 1), nn.BatchNorm2d(red, affine=False), nn.ReLU(True),
            nn.Conv2d(red, out, k, 1, (k - 1) // 2), nn.BatchNorm2d(out, affine=False), nn.ReLU(True),
        ))
    return _Concat(*branches)


def _a(): return _inception(128, 32, [(32, 32, 3), (32, 32, 5), (32, 32, 7)])  # noqa: E704
def _b(): return _inception(128, 64, [(32, 64, 3), (32, 64, 5), (32, 64, 7)])  # noqa: E704
def _c(): return _inception(256, 64, [(32, 64, 3), (32, 64, 5), (32, 64, 7)])  # noqa: E704
def _d(): return _inception(256, 64, [(64, 64, 3), (64, 64, 7), (64, 64, 11)])  # noqa: E704
def _e(): return _inception(256, 32, [(32, 32, 3), (32, 32, 5), (32, 32, 7)])  # noqa: E704
def _f(): return _inception(128, 32, [(64, 32, 3), (64, 32, 5), (64, 32, 7)])  # noqa: E704
def _g(): return _inception(128, 32, [(64, 32, 3), (64, 32, 7), (64, 32, 11)])  # noqa: E704
def _h(): return _inception(128, 16, [(32, 16, 3), (32, 16, 7), (32, 16, 11)])  # noqa: E704
def _i(): return _inception(128, 16, [(64, 16, 3), (64, 16, 7), (64, 16, 11)])  # noqa: E704


def build_hourglass() -> nn.Sequential:
    """The MegaDepth hourglass (``HourGlass()`` of DAIN): (B, 3, H, W) in [0, 1] -> (B, 1, H, W) log-depth;
    H and W multiples of 16. Nearest x2 upsampling, eval-mode BatchNorm."""
    up = lambda: nn.UpsamplingNearest2d(scale_factor=2)  # noqa: E731
    level4 = _SumBranches(nn.Sequential(_c(), _c()),
                          nn.Sequential(nn.AvgPool2d(2, 2), _c(), _c(), _c(), up()))
    level3 = _SumBranches(nn.Sequential(_c(), _d()),
                          nn.Sequential(nn.AvgPool2d(2, 2), _c(), _c(), level4, _c(), _d(), up()))
    level2 = _SumBranches(nn.Sequential(nn.MaxPool2d(2, 2), _a(), _b(), level3, _c(), _e(), up()),
                          nn.Sequential(_a(), _g()))
    level1 = _SumBranches(nn.Sequential(nn.MaxPool2d(2, 2), _a(), _a(), level2, _f(), _h(), up()),
                          nn.Sequential(_i()))
    return nn.Sequential(
        nn.Conv2d(3, 128, 7, 1, 3), nn.BatchNorm2d(128), nn.ReLU(True), level1, nn.Conv2d(64, 1, 3, 1, 1),
    )


# ------------------------------------------------------------------------------- context and refinement nets

class _BasicBlock(nn.Module):
    """``relu(x + conv2(relu(conv1(x))))``, 3x3 convolutions without bias, ``conv1`` dilated."""

    def __init__(self, ch: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, 1, dilation, dilation=dilation, bias=False)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(F.relu(self.conv1(x))).add_(x))


class ContextNet(nn.Module):
    """S2DF_3dense: ``cat(x, a1, a2, a3)`` (195 channels) with a1 = relu(7x7 conv), a2/a3 dilated blocks."""

    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(3, 64, 7, 1, 3, bias=False), nn.ReLU(True))
        self.block2 = _BasicBlock(64, 4)
        self.block3 = _BasicBlock(64, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a1 = self.block1(x)
        a2 = self.block2(a1)
        return torch.cat((x, a1, a2, self.block3(a2)), 1)


class RectifyNet(nn.Module):
    """MultipleBasicBlock_4: 7x7 conv (437 -> 128) + ReLU, three residual blocks, 3x3 conv to 3 channels."""

    def __init__(self, cin: int = 437, ch: int = 128):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(cin, ch, 7, 1, 3), nn.ReLU(True))
        self.block2 = _BasicBlock(ch)
        self.block3 = _BasicBlock(ch)
        self.block4 = _BasicBlock(ch)
        self.block5 = nn.Sequential(nn.Conv2d(ch, 3, 3, 1, 1))

    def tail(self, x: torch.Tensor) -> torch.Tensor:
        """Everything after the first convolution's output (before its ReLU)."""
        return self.block5(self.block4(self.block3(self.block2(F.relu(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.block1[0](x))


# ------------------------------------------------------------------------------------------------ DAIN

def _kernel_unet() -> tuple[nn.ModuleList, nn.ModuleList, nn.ModuleList]:
    """The flat layer list of the kernel-estimation U-Net (official ``get_MonoNet5``) and its two heads."""
    layers: list[nn.Module] = [nn.Conv2d(6, 16, 3, 1, 1), nn.ReLU()]
    for cin, cout in ((16, 32), (32, 64), (64, 128), (128, 256), (256, 512)):
        layers += [nn.Conv2d(cin, cout, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2)]
    layers += [nn.Conv2d(512, 512, 3, 1, 1), nn.ReLU()]
    for cin, cout in ((512, 256), (256, 128), (128, 64), (64, 32), (32, 16)):
        layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                   nn.Conv2d(cin, cout, 3, 1, 1), nn.ReLU()]

    def head() -> nn.ModuleList:
        return nn.ModuleList([nn.Conv2d(16, 16, 3, 1, 1), nn.ReLU(), nn.Conv2d(16, 16, 3, 1, 1)])

    return nn.ModuleList(layers), head(), head()


@dataclass
class DainOutput:
    """Everything :meth:`DAIN.run` computes, per time step where it depends on t.

    Attributes:
        rectified: per t, (N, 3, H, W) the output frame (not clamped).
        blend: per t, (N, 3, H, W) ``(1-t) warped0 + t warped1`` before refinement.
        projected_flow0, projected_flow1: per t, (N, 2, H, W) flows from time t to frame 0 / frame 1.
        warped0, warped1: per t, (N, 3, H, W) the frames warped to time t (``keep`` only).
        log_depth: (2N, 1, H, W) log-depth of frame 0 then frame 1.
        pwc_flow_fwd, pwc_flow_bwd: (N, 2, H/4, W/4) raw PWC-Net flows 0->1 and 1->0.
        filter0, filter1: (N, 16, H, W) per-pixel filters.
    """

    rectified: list[torch.Tensor] = field(default_factory=list)
    blend: list[torch.Tensor] = field(default_factory=list)
    projected_flow0: list[torch.Tensor] = field(default_factory=list)
    projected_flow1: list[torch.Tensor] = field(default_factory=list)
    warped0: list[torch.Tensor] = field(default_factory=list)
    warped1: list[torch.Tensor] = field(default_factory=list)
    log_depth: Optional[torch.Tensor] = None
    pwc_flow_fwd: Optional[torch.Tensor] = None
    pwc_flow_bwd: Optional[torch.Tensor] = None
    filter0: Optional[torch.Tensor] = None
    filter1: Optional[torch.Tensor] = None

    @property
    def frame(self) -> torch.Tensor:
        """The rectified frame of the first time step."""
        return self.rectified[0]


class DAIN(nn.Module):
    """The DAIN test-time model. ``net(frame0, frame1, t=0.5)`` -> the rectified frame at time t.

    Frames are (N, 3, H, W) float in [0, 1], H and W multiples of 128, already padded as the official demo
    pads them (:func:`restoration_lib.interpolate.dain.pad_frames`). The networks run in the parameters'
    dtype (bfloat16/float16 in fast mode: see :func:`restoration_lib.accel.interp.cast_dain`); the custom
    operators, the flow scaling and the blend always run in float32.

    Attributes:
        split_rectify_above: above this many pixels per frame, the refinement network's first convolution is
            computed as a sum over its input groups (frames, flows, filters, each context in channel chunks)
            instead of on the 437-channel concatenation, so that the concatenation and the full warped
            contexts never exist at once (a 1080p frame needs ~4 GB less); the sum is the same up to float32
            rounding of a different summation order.
    """

    def __init__(self):
        super().__init__()
        self.initScaleNets_filter, self.initScaleNets_filter1, self.initScaleNets_filter2 = _kernel_unet()
        self.ctxNet = ContextNet()
        self.rectifyNet = RectifyNet(3 + 3 + 3 + 2 + 2 + 16 * 2 + 2 * (3 * 64 + 3 + 1), 128)
        self.flownets = PWCDCNet()
        self.depthNet = build_hourglass()
        self.split_rectify_above = 1 << 18
        self.ctx_chunk = 64

    # -- parts -------------------------------------------------------------------------------------------
    def _dtype(self) -> torch.dtype:
        return self.rectifyNet.block5[0].weight.dtype

    @staticmethod
    def _as(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the dtype of ``module``'s parameters (fast mode keeps some sub-networks in float32)."""
        return x.to(next(module.parameters()).dtype)

    def _unet(self, x: torch.Tensor) -> torch.Tensor:
        stack = []
        for k, layer in enumerate(self.initScaleNets_filter):
            if isinstance(layer, nn.MaxPool2d):
                stack.append(x)
            x = layer(x)
            if isinstance(layer, nn.Upsample):
                x = x + stack.pop()
        return x

    @staticmethod
    def _head(layers: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        for layer in layers:
            x = layer(x)
        return x

    def kernels(self, i0: torch.Tensor, i1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two (N, 16, H, W) filter maps."""
        feat = self._unet(self._as(self.initScaleNets_filter, torch.cat((i0, i1), 1)))
        return self._head(self.initScaleNets_filter1, feat), self._head(self.initScaleNets_filter2, feat)

    def depth(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) log-depth, one frame at a time (the hourglass' activations are large)."""
        frames = self._as(self.depthNet, frames)
        return torch.cat([self.depthNet(frames[i:i + 1]) for i in range(frames.shape[0])], 0)

    def flows(self, i0: torch.Tensor, i1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw PWC-Net flows 0->1 and 1->0 (N, 2, H/4, W/4); each image's pyramid is computed once."""
        p0 = self.flownets.pyramid(self._as(self.flownets, i0))
        p1 = self.flownets.pyramid(self._as(self.flownets, i1))
        return self.flownets.decode(p0, p1), self.flownets.decode(p1, p0)

    # -- forward -----------------------------------------------------------------------------------------
    def run(self, frame0: torch.Tensor, frame1: torch.Tensor, ts: Sequence[float] = (0.5,), keep: bool = False) -> DainOutput:
        """All time steps ``ts`` between one pair; the networks that do not depend on t run once.

        Args:
            frame0, frame1: (N, 3, H, W) padded frames in [0, 1], H and W multiples of 64.
            ts: times in (0, 1).
            keep: also return the warped frames.
        """
        if frame0.dim() != 4 or frame0.shape[1] != 3 or frame0.shape != frame1.shape:
            raise ValueError(
                f"DAIN expects two (N, 3, H, W) frames of the same shape; got {tuple(frame0.shape)} and {tuple(frame1.shape)}"
            )
        h, w = frame0.shape[-2:]
        if h % MULTIPLE or w % MULTIPLE:
            raise ValueError(f"DAIN expects H and W multiples of {MULTIPLE} (pad the frames first); got {h}x{w}")
        dt = self._dtype()
        n = frame0.shape[0]
        i0f, i1f = frame0.float(), frame1.float()
        i0, i1 = i0f, i1f
        out = DainOutput()
        log_depth = self.depth(torch.cat((i0, i1), 0)).float()
        depth_inv = 1e-6 + 1 / torch.exp(log_depth)
        f0, f1 = self.kernels(i0, i1)
        f0, f1 = f0.float(), f1.float()
        fwd, bwd = self.flows(i0, i1)
        fwd, bwd = fwd.float(), bwd.float()
        out.log_depth, out.pwc_flow_fwd, out.pwc_flow_bwd, out.filter0, out.filter1 = log_depth, fwd, bwd, f0, f1
        big = h * w > self.split_rectify_above
        ctx = None if big else [self._context(i0, log_depth[:n]), self._context(i1, log_depth[n:])]
        for t in ts:
            t = float(t)
            flow0 = F.interpolate(DIV_FLOW * fwd * t, scale_factor=4, mode="bilinear", align_corners=False)
            flow1 = F.interpolate(DIV_FLOW * bwd * (1 - t), scale_factor=4, mode="bilinear", align_corners=False)
            p0, _ = depth_flow_projection(flow0, depth_inv[:n])
            p1, _ = depth_flow_projection(flow1, depth_inv[n:])
            w0 = filter_interpolation(i0f, p0, f0)
            w1 = filter_interpolation(i1f, p1, f1)
            blend = w0 * (1.0 - t) + w1 * t
            if big:
                pre = self._rectify_first_split(i0, i1, log_depth, (blend, w0, w1, p0, p1, f0, f1), (p0, p1), (f0, f1))
            else:
                c0 = filter_interpolation(ctx[0], p0, f0)
                c1 = filter_interpolation(ctx[1], p1, f1)
                x = torch.cat((blend, w0, w1, p0, p1, f0, f1, c0, c1), 1).to(dt)
                pre = self.rectifyNet.block1[0](x)
            rect = self.rectifyNet.tail(pre.to(dt)).float() + blend
            out.rectified.append(rect)
            out.blend.append(blend)
            out.projected_flow0.append(p0)
            out.projected_flow1.append(p1)
            if keep:
                out.warped0.append(w0)
                out.warped1.append(w1)
        return out

    def _context(self, frame: torch.Tensor, log_depth: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.ctxNet(self._as(self.ctxNet, frame)).float(), log_depth), 1)

    def _rectify_first_split(self, i0, i1, log_depth, small, flows, filters) -> torch.Tensor:
        """``rectifyNet``'s first convolution (before ReLU) as a sum over input-channel groups."""
        conv = self.rectifyNet.block1[0]
        dt = conv.weight.dtype
        n = i0.shape[0]

        def part(x: torch.Tensor, c0: int, bias: bool = False) -> torch.Tensor:
            wgt = conv.weight[:, c0:c0 + x.shape[1]]
            return F.conv2d(x.to(dt), wgt, conv.bias if bias else None, 1, 3)

        head = torch.cat(small, 1)  # 3+3+3+2+2+16+16 = 45 channels
        acc = part(head, 0, bias=True)
        c = head.shape[1]
        del head
        for k, frame in enumerate((i0, i1)):
            ctx = self._context(frame, log_depth[k * n:(k + 1) * n])
            for s in range(0, ctx.shape[1], self.ctx_chunk):
                warped = filter_interpolation(ctx[:, s:s + self.ctx_chunk], flows[k], filters[k])
                acc.add_(part(warped, c + s))
                del warped
            c += ctx.shape[1]
            del ctx
        return acc

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor, t: float = 0.5) -> torch.Tensor:
        """The rectified frame (N, 3, H, W) float32 at time ``t`` (not clamped)."""
        return self.run(frame0, frame1, (t,)).rectified[0]


SPECS = [
    ModelSpec(
        name="dain",
        build=DAIN,
        description="DAIN (2019, depth-aware, Vimeo-90K weights): the heaviest, over 5 TFLOP per 720p frame "
                    "(refinement net alone); code MIT, PWC-Net part CC BY-NC-SA 4.0 (non-commercial)",
        weights_id="dain",
        size=SizeRequirements(minimum=MULTIPLE, multiple_of=MULTIPLE),
        tiling="supported",
    )
]
