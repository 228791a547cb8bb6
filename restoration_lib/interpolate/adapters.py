"""How :class:`~restoration_lib.interpolate.Interpolator` drives each interpolation network.

An :class:`NetAdapter` says, for one registered network, how much to pad the frames, how to call the
network for one time step, and how to make its reduced-precision variant. Supporting a new network means
adding one entry to :data:`ADAPTERS` (or calling :func:`register_adapter`); the Interpolator's logic
(input checks, padding, cropping, output conversion) does not change.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
from torch import nn

from ..archs.rife import IFBlock, pad_multiple
from .slomo import slomo_batch

__all__ = ["NetAdapter", "ADAPTERS", "register_adapter", "adapter_for", "GENERIC_ADAPTER"]


def _first_param_dtype(net: nn.Module) -> torch.dtype:
    p = next(net.parameters(), None)
    return p.dtype if p is not None else torch.float32


def _call_rife_style(net: nn.Module, img0: torch.Tensor, img1: torch.Tensor, t: float, scale: float) -> torch.Tensor:
    """``net(img0, img1, t, scale)`` with the inputs in the network's parameter dtype, result in float32."""
    dt = _first_param_dtype(net)
    return net(img0.to(dt), img1.to(dt), t, scale).float()


def _cast_whole(net: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Reduced precision for a generic network: every parameter in ``dtype`` (float32: left as it is)."""
    return net if dtype == torch.float32 else net.to(dtype)


def _call_mixed(net: nn.Module, img0: torch.Tensor, img1: torch.Tensor, t: float, scale: float) -> torch.Tensor:
    """Networks whose flow blocks cast to their own dtype internally: call with float32 frames."""
    return net(img0.float(), img1.float(), t, scale).float()


def cast_flow_blocks(net: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Reduced precision for RIFE-style networks (blocks with ``conv0``, ``convblock``, ``lastconv``, such as
    :class:`IFBlock`; the block's forward must cast its input to each part's dtype, as IFBlock does), in place.

    The residual ``convblock`` and every ``conv0`` layer after the first (over 90 % of the arithmetic) run in
    ``dtype``. The first convolution, which sees the frames, flows and time map, and ``lastconv``, which
    writes the flow update, stay float32, and so do the warps and the blend. Every block moves to
    channels-last memory, which oneDNN convolves faster. Measured against float32: 54-77 dB on the
    reference crops and 720p frames, where letting the first convolution run in bfloat16 too would give
    about 45 dB on small crops for ~10 % more speed.

    float32 (exact mode) leaves the network as it is: in plain NCHW memory, concatenating before resizing,
    its operations round as the official code's do on the same machine, and the frames match it bit for bit
    (channels-last would be about 7 % faster but differs by ~2e-5).
    """
    if dtype == torch.float32:
        return net
    for m in net.modules():
        if isinstance(m, IFBlock) or (hasattr(m, "conv0") and hasattr(m, "convblock")):
            m.to(memory_format=torch.channels_last)
            if isinstance(m, IFBlock):
                m.concat_first = False  # resize the input groups before concatenating them: less memory traffic
            m.convblock.to(dtype=dtype)
            for layer in list(m.conv0)[1:]:
                layer.to(dtype=dtype)
    return net


def cast_unets(net: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Reduced precision for Super SloMo: both U-Nets in ``dtype`` (channels-last); the flow arithmetic,
    warps and blend stay float32."""
    if dtype == torch.float32:
        return net
    for unet in (net.flowComp, net.ArbTimeFlowIntrp):
        unet.to(dtype=dtype, memory_format=torch.channels_last)
    return net


@dataclass(frozen=True)
class NetAdapter:
    """The per-network part of frame interpolation.

    Attributes:
        pad_multiple: ``scale -> m``; frames are zero-padded at the bottom/right to multiples of ``m``
            (the padding is part of the computation: it must be the one the authors used).
        infer: ``(net, img0, img1, t, scale) -> frame``; padded float32 (N, 3, Hp, Wp) frames in [0, 1]
            in, the (N, 3, Hp, Wp) float32 frame at time ``t`` out.
        cast: ``(net, dtype) -> net`` prepares a loaded network for ``dtype`` (float32 for exact mode, or
            the reduced-precision "fast" variant); it may change the module in place.
        many: optional ``(net, img0, img1, ts, scale) -> [frame per t]`` for networks that share work
            between the times of one pair (Super SloMo's flow net); used instead of ``infer`` when given.
    """

    pad_multiple: Callable[[float], int]
    infer: Optional[Callable[[nn.Module, torch.Tensor, torch.Tensor, float, float], torch.Tensor]] = None
    cast: Callable[[nn.Module, torch.dtype], nn.Module] = _cast_whole
    many: Optional[Callable[[nn.Module, torch.Tensor, torch.Tensor, Sequence[float], float], list]] = None


#: Used for networks passed as modules without a registered adapter: RIFE's calling convention
#: ``net(img0, img1, timestep, scale)`` and padding rule, whole network in the reduced dtype.
GENERIC_ADAPTER = NetAdapter(pad_multiple=pad_multiple, infer=_call_rife_style)

#: Registered network name → adapter.
ADAPTERS: dict[str, NetAdapter] = {
    "rife-4.0": NetAdapter(pad_multiple=pad_multiple, infer=_call_mixed, cast=cast_flow_blocks),
    # RIFE 4.6 / 4.25 / 4.26: same calling convention and padding rule (Practical-RIFE inference_video.py)
    "rife-4.6": NetAdapter(pad_multiple=pad_multiple, infer=_call_mixed, cast=cast_flow_blocks),
    "rife-4.25": NetAdapter(pad_multiple=pad_multiple, infer=_call_mixed, cast=cast_flow_blocks),
    "rife-4.26": NetAdapter(pad_multiple=pad_multiple, infer=_call_mixed, cast=cast_flow_blocks),
    # Super SloMo: no padding; the official path resizes to multiples of 32 and back (interpolate.slomo)
    "superslomo": NetAdapter(pad_multiple=lambda scale: 1, many=slomo_batch, cast=cast_unets),
}


def register_adapter(name: str, adapter: NetAdapter) -> None:
    """Declare how the Interpolator drives the registered network ``name``."""
    ADAPTERS[name] = adapter


def adapter_for(net_or_name) -> Optional[NetAdapter]:
    """The adapter of a network name, or of a module: by its ``spec`` (set by
    :func:`restoration_lib.models.load`), else by its class when a registered network is built from that
    class. ``None`` when there is none."""
    if isinstance(net_or_name, str):
        return ADAPTERS.get(net_or_name)
    name = getattr(getattr(net_or_name, "spec", None), "name", None)
    if name in ADAPTERS:
        return ADAPTERS[name]
    from .. import models

    for name, adapter in ADAPTERS.items():
        try:
            build = models.get_spec(name).build
        except ValueError:
            continue
        if isinstance(build, type) and type(net_or_name) is build:
            return adapter
    return None
