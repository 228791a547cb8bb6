"""Reduced-precision variants of the interpolation networks (RIFE family, Super SloMo), in place.

The networks (:mod:`restoration_lib.archs.rife`, :mod:`~restoration_lib.archs.rife4x`,
:mod:`~restoration_lib.archs.superslomo`) keep one forward each; these functions move the heavy parts to a
reduced dtype and channels-last memory, and pick the block's input order. :func:`restoration_lib.accel.prepare`
applies them.
"""
from __future__ import annotations

import torch
from torch import nn

from ..archs.rife import IFBlock

__all__ = ["cast_flow_blocks", "cast_unets", "cast_dain"]


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


def cast_dain(net: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Fast mode in place: every sub-network except PWC-Net in ``dtype`` (float32: unchanged)."""
    if dtype == torch.float32:
        return net
    for name in ("depthNet", "initScaleNets_filter", "initScaleNets_filter1", "initScaleNets_filter2",
                 "ctxNet", "rectifyNet"):
        getattr(net, name).to(dtype=dtype)
    return net
