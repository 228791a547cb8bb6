"""Device- and precision-specific rewrites of loaded networks, in one place.

:mod:`restoration_lib.archs` holds networks only (one forward each). What makes them fast on a given device and
dtype lives here and is applied by :func:`prepare`, which :func:`restoration_lib.models.open` calls:

| network | device, dtype | rewrite |
|---|---|---|
| DeOldify | CPU, bfloat16 | Winograd F(4×4, 3×3) decoder convolutions, matrix-product bridge (:mod:`.deoldify`) |
| DeOldify | CUDA, float32 | low-resolution 3×3 convolutions as matrix products (no cuDNN workspace) |
| DeOldify | CPU any, or reduced precision | channels-last memory |
| RIFE 4.x | reduced precision | flow blocks in the reduced dtype, channels-last, resize-then-concatenate (:mod:`.interp`) |
| Super SloMo | reduced precision | both U-Nets in the reduced dtype, channels-last |
| DAIN | reduced precision | depth, kernel, context and refinement nets in the reduced dtype; PWC-Net and the operators float32 |
| anything else | any | the whole network in the dtype |

Exact mode (float32) leaves every network as the authors' arithmetic needs it, except DeOldify on CUDA (same
products, another summation order).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["prepare", "channels_last"]


def channels_last(net: nn.Module, device: torch.device, dtype: torch.dtype) -> bool:
    """Whether :func:`prepare` keeps ``net``'s activations channels-last (callers lay their inputs out the same)."""
    from ..archs.deoldify import DeOldifyGenerator  # noqa: PLC0415

    if isinstance(net, DeOldifyGenerator):
        # oneDNN on the CPU; tensor-core layout for the reduced precisions on GPUs; exact mode on a GPU keeps
        # cuDNN's NCHW float32 kernels
        return device.type == "cpu" or dtype != torch.float32
    return False


def prepare(net: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """Move a loaded network to ``device`` and make it run in ``dtype`` as fast as its arithmetic allows.

    Args:
        net: a network built by :mod:`restoration_lib.archs` (or any module: moved and cast whole).
        device: where it runs.
        dtype: float32 (exact) or the reduced precision of fast mode.

    Returns:
        The network, changed in place where a rewrite applies.
    """
    from ..archs.deoldify import DeOldifyGenerator  # noqa: PLC0415
    from ..archs.rife import IFBlock  # noqa: PLC0415
    from ..archs.dain import DAIN  # noqa: PLC0415
    from .interp import cast_dain, cast_flow_blocks, cast_unets  # noqa: PLC0415

    net = net.eval().requires_grad_(False)
    if isinstance(net, DeOldifyGenerator):
        from .deoldify import use_matmul_low_res, use_winograd  # noqa: PLC0415

        if device.type == "cpu" and dtype != torch.float32:
            use_winograd(net)  # ~4x fewer multiplications in the big decoder convs; within the fast-mode error
        if device.type == "cuda" and dtype == torch.float32:
            use_matmul_low_res(net)  # cuDNN would reserve up to 19 GiB of workspace for these
        net = net.to(device=device, dtype=dtype)
        if channels_last(net, device, dtype):
            net = net.to(memory_format=torch.channels_last)
        return net
    net = net.to(device)
    if isinstance(net, DAIN):
        return cast_dain(net, dtype)
    if any(isinstance(m, IFBlock) or (hasattr(m, "conv0") and hasattr(m, "convblock")) for m in net.modules()):
        return cast_flow_blocks(net, dtype)
    if hasattr(net, "flowComp") and hasattr(net, "ArbTimeFlowIntrp"):
        return cast_unets(net, dtype)
    return net if dtype == torch.float32 else net.to(dtype)
