"""RIFE IFNet of the current Practical-RIFE generations (v4.6, v4.25, v4.26) in plain PyTorch.

The attribute names reproduce the official ``IFNet().state_dict()`` keys, so the published ``flownet.pkl``
files load unchanged (their ``module.`` prefix is stripped by the generic loader; training-only keys are
dropped by :func:`prepare_flownet`).

Versions:

- **v4.6** (2022): four flow blocks (widths 192, 128, 96, 64) with residual conv blocks; the blend-mask
  logits of the blocks are *summed*. Optional ``ensemble`` mode also runs every block on the time-reversed
  problem and averages both answers.
- **v4.25 / v4.26** (2024, same architecture, different weights): a small encoder head computes a 4-channel
  feature map of each frame, warped along with the frames; five flow blocks (192, 128, 96, 64, 32) that also
  pass an 8-channel feature map to the next block; each block's mask *replaces* the previous one.

Neither version has v4.0's large-motion re-run path: every block runs exactly once per call (twice with
v4.6's ensemble).

Input sizes: the official video script pads (zeros, bottom/right) to multiples of
:func:`~restoration_lib.archs.rife.pad_multiple` ``(scale)`` = ``max(128, int(128/scale))``, as for v4.0; the
network itself needs multiples of :data:`MIN_MULTIPLE` (32 for v4.6, 64 for v4.25/4.26) divided by ``scale``.
Padding changes the result inside the frame, so the task module pads as the official script.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import nn

from ..models import ModelSpec, SizeRequirements
from .rife import backward_warp as warp
from .rife import RifeDetails, pad_multiple
from .rife import resize_or_keep as _resize

__all__ = ["IFNet4x", "FlowBlock4x", "VERSIONS", "MIN_MULTIPLE", "prepare_flownet", "SPECS"]

# version -> block widths, feature channels passed between blocks, encoder head or not, mask logits summed
# (True) or replaced, base block scales (divided by the user's scale)
VERSIONS: dict[str, dict] = {
    "4.6": {"widths": (192, 128, 96, 64), "feat": 0, "head": False, "mask_sum": True, "base": (8, 4, 2, 1)},
    "4.25": {"widths": (192, 128, 96, 64, 32), "feat": 8, "head": True, "mask_sum": False, "base": (16, 8, 4, 2, 1)},
}
VERSIONS["4.26"] = VERSIONS["4.25"]

# Smallest multiple the network accepts at scale 1 (measured on the official code; vs-rife pads to
# ``pad_multiple(scale, MIN_MULTIPLE[v])``). The official video script pads to ``pad_multiple(scale)`` = 128.
MIN_MULTIPLE = {"4.6": 32, "4.25": 64, "4.26": 64}


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, True))


class _ResConv(nn.Module):
    """y = LeakyReLU(conv(x) * beta + x) with a learnt per-channel beta."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, c, 1, 1))
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) * self.beta + x)


class FlowBlock4x(nn.Module):
    """One coarse-to-fine step: predicts a flow update (4 ch), a mask logit (1 ch) and ``out - 5`` extra ch."""

    def __init__(self, cin: int, c: int, out: int):
        super().__init__()
        self.conv0 = nn.Sequential(_conv(cin, c // 2, 2), _conv(c // 2, c, 2))
        self.convblock = nn.Sequential(*[_ResConv(c) for _ in range(8)])
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * out, 4, 2, 1), nn.PixelShuffle(2))

    def forward(
        self, parts: Sequence[torch.Tensor], flow: Optional[torch.Tensor], s: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run on ``cat(parts + [flow / s])`` resized by 1/s; returns (flow update, mask logit, extra channels).

        The parts are resized one by one and concatenated at the block's resolution: bilinear resizing works
        per channel, so this equals resizing their full-resolution concatenation, without building it.
        """
        # each conv of conv0, the residual convblock and lastconv run in their own parameters' dtype, so "fast"
        # precision can be limited to the inner layers; flows and masks come back in the input's dtype
        io_dtype = parts[0].dtype
        x = [_resize(p, 1.0 / s) for p in parts]
        if flow is not None:
            x.append(_resize(flow, 1.0 / s) / s)
        y = torch.cat(x, 1)
        for layer in self.conv0:
            y = layer(y.to(layer[0].weight.dtype))
        y = self.convblock(y.to(self.convblock[0].conv.weight.dtype))
        # plain NCHW for the flow arithmetic, resizes and warps (fastest there); cheap at the block's resolution
        y = self.lastconv(y.to(self.lastconv[0].weight.dtype)).to(io_dtype).contiguous()
        y = _resize(y, s)
        return y[:, :4] * s, y[:, 4:5], y[:, 5:]


class _Head(nn.Module):
    """v4.25's per-frame encoder: 3 -> 16 (stride 2) -> 16 -> 16 -> 4 channels at full resolution."""

    def __init__(self):
        super().__init__()
        self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
        self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(16, 4, 4, 2, 1)
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        io_dtype = x.dtype
        x = self.relu(self.cnn0(x.to(self.cnn0.weight.dtype)))
        x = self.relu(self.cnn1(x))
        x = self.relu(self.cnn2(x))
        return self.cnn3(x).to(io_dtype)


def _time_plane(img0: torch.Tensor, timestep: Union[float, torch.Tensor]) -> torch.Tensor:
    """The timestep as a constant (N, 1, H, W) plane (a float, or one value per sample)."""
    n, _, h, w = img0.shape
    if torch.is_tensor(timestep):
        ts = timestep.to(img0.dtype).reshape(-1, 1, 1, 1)
        if ts.shape[0] != n:
            raise ValueError(f"timestep holds {ts.shape[0]} values for a batch of {n} frame pairs")
        return ts.expand(n, 1, h, w).contiguous()
    return img0.new_full((n, 1, h, w), float(timestep))


def _swap(flow: torch.Tensor) -> torch.Tensor:
    return torch.cat((flow[:, 2:4], flow[:, :2]), 1)


class IFNet4x(nn.Module):
    """Practical-RIFE IFNet, versions 4.6 and 4.25/4.26.

    Args:
        version: ``"4.6"``, ``"4.25"`` or ``"4.26"``.

    Call ``net(img0, img1, timestep=0.5, scale=1.0)`` as the official ``Model.inference`` does.
    """

    def __init__(self, version: str = "4.25"):
        super().__init__()
        if version not in VERSIONS:
            raise ValueError(f"unknown RIFE version {version!r}; expected one of {', '.join(VERSIONS)}")
        cfg = VERSIONS[version]
        self.version = version
        self.base_scales: tuple[int, ...] = cfg["base"]
        self.mask_sum: bool = cfg["mask_sum"]
        self.feat_channels: int = cfg["feat"]
        head = 4 if cfg["head"] else 0
        out = 5 + max(cfg["feat"], 1)  # v4.6's last deconv has one spare channel (4*6)
        first = 7 + 2 * head
        rest = 8 + 4 + 2 * head + cfg["feat"]
        for i, c in enumerate(cfg["widths"]):
            self.add_module(f"block{i}", FlowBlock4x(first if i == 0 else rest, c, out))
        if cfg["head"]:
            self.encode = _Head()
        self.n_blocks = len(cfg["widths"])

    @property
    def blocks(self) -> list[FlowBlock4x]:
        return [getattr(self, f"block{i}") for i in range(self.n_blocks)]

    def forward(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        timestep: Union[float, torch.Tensor] = 0.5,
        scale: float = 1.0,
        *,
        ensemble: bool = False,
        return_details: bool = False,
    ):
        """The frame at time ``timestep`` between ``img0`` (t=0) and ``img1`` (t=1), unclamped.

        Args:
            img0, img1: (N, 3, Hp, Wp) RGB in [0, 1], already padded (see :data:`MIN_MULTIPLE`).
            timestep: a float in [0, 1], or a tensor of N values ((N,) or (N, 1, 1, 1)).
            scale: flow scale; 1.0 for normal footage, 0.5 for 4K (the blocks work at base/scale).
            ensemble: v4.6 only: also solve the time-reversed problem and average (twice the cost).
            return_details: return ``(frame, RifeDetails)`` (final flow and mask; ``large_motion`` is always
                False: these versions have no such path) instead of the frame alone.

        Returns:
            (N, 3, Hp, Wp); crop to the unpadded size and clamp to [0, 1] for display.
        """
        if img0.ndim != 4 or img0.shape[1] != 3 or img0.shape != img1.shape:
            raise ValueError(
                f"expected two (N, 3, H, W) tensors of the same shape; got {tuple(img0.shape)} and {tuple(img1.shape)}"
            )
        mult = pad_multiple(scale, MIN_MULTIPLE[self.version])
        if img0.shape[2] % mult or img0.shape[3] % mult:
            raise ValueError(
                f"RIFE {self.version} at scale {scale} needs H and W padded to multiples of {mult}; got "
                f"{img0.shape[2]}x{img0.shape[3]}. Pad with pad_to_multiple(x, pad_multiple(scale)) (the official "
                f"rule: {pad_multiple(scale)})"
            )
        if ensemble and not self.mask_sum:
            raise ValueError(f"ensemble is not supported by RIFE {self.version} (only 4.6)")
        t = _time_plane(img0, timestep)
        scales = [b / scale for b in self.base_scales]
        # v4.25 warps each frame's features with the same flow as the frame: warp both in one call
        # (grid_sample works channel by channel, so the values are those of two separate warps)
        src0, src1 = img0, img1
        if self.feat_channels:
            src0, src1 = torch.cat((img0, self.encode(img0)), 1), torch.cat((img1, self.encode(img1)), 1)
        flow = mask = feat = None
        w0, w1 = img0, img1
        wf0 = wf1 = None
        for i, block in enumerate(self.blocks):
            s = scales[i]
            if flow is None:
                feats = [src0[:, 3:], src1[:, 3:]] if self.feat_channels else []
                flow, mask, feat = block([img0, img1, *feats, t], None, s)
                if ensemble:
                    f_, m_, _ = block([img1, img0, 1 - t], None, s)
                    flow = (flow + _swap(f_)) / 2
                    mask = (mask + (-m_)) / 2
            else:
                if self.feat_channels:
                    parts = [w0, w1, wf0, wf1, t, mask, feat]
                else:
                    parts = [w0, w1, t, mask]
                d_flow, d_mask, feat = block(parts, flow, s)
                if ensemble:
                    f_, m_, _ = block([w1, w0, 1 - t, -mask], _swap(flow), s)
                    d_flow = (d_flow + _swap(f_)) / 2
                    d_mask = (d_mask + (-m_)) / 2
                mask = mask + d_mask if self.mask_sum else d_mask
                flow = flow + d_flow
            g0, g1 = warp(src0, flow[:, :2]), warp(src1, flow[:, 2:4])
            w0, w1, wf0, wf1 = g0[:, :3], g1[:, :3], g0[:, 3:], g1[:, 3:]
        m = torch.sigmoid(mask)
        frame = w0 * m + w1 * (1 - m)
        if return_details:
            return frame, RifeDetails(large_motion=False, scales=scales, flow=flow, mask=m)
        return frame


def prepare_flownet(version: str):
    """A ``prepare`` hook: drop keys the IFNet does not have (training-only modules such as ``teacher``,
    ``caltime``, ``block_tea``), as the official loader does with ``strict=False``.

    Unknown keys are only dropped when every key the network needs is present with the right shape;
    otherwise the state_dict is returned unchanged so that the loader's error lists the real mismatch.
    """

    def prepare(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if any(k.startswith("module.") for k in sd):  # mixed prefixes: the official loader keeps module.* only
            sd = {k[len("module."):]: v for k, v in sd.items() if k.startswith("module.")}
        want = _expected_shapes(version)
        if all(k in sd and tuple(sd[k].shape) == shape for k, shape in want.items()):
            return {k: sd[k] for k in want}
        return sd

    return prepare


_SHAPES: dict[str, dict[str, tuple[int, ...]]] = {}


def _expected_shapes(version: str) -> dict[str, tuple[int, ...]]:
    if version not in _SHAPES:
        with torch.device("meta"):
            net = IFNet4x(version)
        _SHAPES[version] = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    return _SHAPES[version]


def _spec(version: str, description: str) -> ModelSpec:
    return ModelSpec(
        name=f"rife-{version}",
        build=lambda: IFNet4x(version),
        description=description,
        weights_id=f"rife-{version}",
        prepare=prepare_flownet(version),
        size=SizeRequirements(minimum=MIN_MULTIPLE[version], multiple_of=MIN_MULTIPLE[version]),
        tiling="internal",
    )


SPECS = [
    _spec("4.6", "RIFE 4.6 (2022): about RIFE 4.0's CPU time; handles larger motion than 4.0 per its authors; MIT"),
    _spec("4.25", "RIFE 4.25 (2024, Practical-RIFE's recommended default): finest detail and large motion per its "
                  "authors; about 1.3-1.5x RIFE 4.0's CPU time; MIT"),
    _spec("4.26", "RIFE 4.26 (2024): 4.25's network with later weights, same speed as 4.25; MIT"),
]
