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

from ..archs.rife import pad_multiple
from .slomo import slomo_batch

__all__ = ["NetAdapter", "ADAPTERS", "register_adapter", "adapter_for", "GENERIC_ADAPTER"]


def _first_param_dtype(net: nn.Module) -> torch.dtype:
    p = next(net.parameters(), None)
    return p.dtype if p is not None else torch.float32


def _call_rife_style(net: nn.Module, img0: torch.Tensor, img1: torch.Tensor, t: float, scale: float) -> torch.Tensor:
    """``net(img0, img1, t, scale)`` with the inputs in the network's parameter dtype, result in float32."""
    dt = _first_param_dtype(net)
    return net(img0.to(dt), img1.to(dt), t, scale).float()


def _call_mixed(net: nn.Module, img0: torch.Tensor, img1: torch.Tensor, t: float, scale: float) -> torch.Tensor:
    """Networks whose flow blocks cast to their own dtype internally: call with float32 frames."""
    return net(img0.float(), img1.float(), t, scale).float()


@dataclass(frozen=True)
class NetAdapter:
    """The per-network part of frame interpolation.

    Attributes:
        pad_multiple: ``scale -> m``; frames are zero-padded at the bottom/right to multiples of ``m``
            (the padding is part of the computation: it must be the one the authors used).
        infer: ``(net, img0, img1, t, scale) -> frame``; padded float32 (N, 3, Hp, Wp) frames in [0, 1]
            in, the (N, 3, Hp, Wp) float32 frame at time ``t`` out.
        cast: optional ``(net, dtype) -> net`` preparing a loaded network for ``dtype``; by default
            :func:`restoration_lib.accel.prepare` applies the device- and dtype-specific rewrites.
        many: optional ``(net, img0, img1, ts, scale) -> [frame per t]`` for networks that share work
            between the times of one pair (Super SloMo's flow net); used instead of ``infer`` when given.
    """

    pad_multiple: Callable[[float], int]
    infer: Optional[Callable[[nn.Module, torch.Tensor, torch.Tensor, float, float], torch.Tensor]] = None
    cast: Optional[Callable[[nn.Module, torch.dtype], nn.Module]] = None
    many: Optional[Callable[[nn.Module, torch.Tensor, torch.Tensor, Sequence[float], float], list]] = None


#: Used for networks passed as modules without a registered adapter: RIFE's calling convention
#: ``net(img0, img1, timestep, scale)`` and padding rule, whole network in the reduced dtype.
GENERIC_ADAPTER = NetAdapter(pad_multiple=pad_multiple, infer=_call_rife_style)

#: Registered network name → adapter.
ADAPTERS: dict[str, NetAdapter] = {
    "rife-4.0": NetAdapter(pad_multiple=pad_multiple, infer=_call_mixed),
    # RIFE 4.6 / 4.25 / 4.26: same calling convention and padding rule (Practical-RIFE inference_video.py)
    "rife-4.6": NetAdapter(pad_multiple=pad_multiple, infer=_call_mixed),
    "rife-4.25": NetAdapter(pad_multiple=pad_multiple, infer=_call_mixed),
    "rife-4.26": NetAdapter(pad_multiple=pad_multiple, infer=_call_mixed),
    # Super SloMo: no padding; the official path resizes to multiples of 32 and back (interpolate.slomo)
    "superslomo": NetAdapter(pad_multiple=lambda scale: 1, many=slomo_batch),
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
