"""DeOldify's device-specific rewrites: Winograd and matrix-product 3×3 convolutions (module surgery, in place).

The network (:mod:`restoration_lib.archs.deoldify`) has one forward; these functions swap some of its modules for
faster ones with the same arithmetic up to rounding. :func:`restoration_lib.accel.prepare` decides when.
"""
from __future__ import annotations

from torch import nn

from ..archs.deoldify import DeOldifyGenerator
from .winograd import Im2colConv3x3, WinogradConv3x3

__all__ = ["use_winograd", "use_matmul_low_res", "uses_winograd"]


def _replace_conv_relu(net: "DeOldifyGenerator", blocks, make, wanted=lambda conv: True) -> int:
    """Replace each 3×3 ``Conv2d`` + ``ReLU`` pair inside ``net.layers[i]`` (``i`` in ``blocks``) for which
    ``wanted(conv)`` holds by ``make(conv)`` (a module that applies the ReLU itself) + ``Identity``."""
    replaced = 0
    for idx in blocks:
        for seq in net.layers[idx].modules():
            if (
                isinstance(seq, nn.Sequential)
                and len(seq) >= 2
                and type(seq[0]) is nn.Conv2d
                and seq[0].kernel_size == (3, 3)
                and isinstance(seq[1], nn.ReLU)
                and wanted(seq[0])
            ):
                seq[0] = make(seq[0])
                seq[1] = nn.Identity()
                replaced += 1
    return replaced

def use_winograd(net: nn.Module) -> int:
    """Replace the decoder's large 3×3 conv + ReLU pairs by Winograd F(4×4, 3×3) convolutions (in place).

    For low-precision CPU inference (``precision="fast"``): about 4× fewer multiplications in the layers that
    dominate the cost (the full-resolution residual block and the upper decoder blocks), at a larger rounding
    error than direct convolutions (see :mod:`restoration_lib.accel.winograd`). The wide bridge convolutions
    (stable/video: 2048→4096→2048 channels at 1/32 resolution) become single matrix products
    (:class:`~restoration_lib.accel.winograd.Im2colConv3x3`, same arithmetic). Only folded networks (after
    :func:`finalize`) are changed. Returns the number of convolutions replaced.
    """

    if not isinstance(net, DeOldifyGenerator):
        return 0
    wide = lambda conv: conv.in_channels * conv.out_channels >= 2048 * 2048  # noqa: E731
    replaced = _replace_conv_relu(net, (3,), lambda conv: Im2colConv3x3(conv, relu=True), wide)
    # decoder blocks at 1/8, 1/4, 1/2 and full resolution
    return replaced + _replace_conv_relu(net, (5, 6, 7, 10), lambda conv: WinogradConv3x3(conv, relu=True))

def use_matmul_low_res(net: nn.Module, max_pixels: int = 96 * 96) -> int:
    """Run the 3×3 convolutions of the bridge and the first decoder block (1/32 and 1/16 resolution) as single
    float32 matrix products over gathered patches (in place; for exact mode on CUDA).

    On an H100, cuDNN's heuristics pick plans for artistic's 512/768-channel convolutions on 35×35 maps that
    ask for 12–19 GiB of workspace (peak 18.9 GiB for one 560² image) and are slower than the plans chosen under
    a 4 GiB cap (114 vs 79 ms per forward, measured). A matrix product needs no workspace. Same arithmetic, up to
    the summation order. Returns the number of convolutions replaced.
    """

    if not isinstance(net, DeOldifyGenerator):
        return 0
    return _replace_conv_relu(net, (3, 4), lambda conv: Im2colConv3x3(conv, relu=True, max_pixels=max_pixels))


def uses_winograd(net: nn.Module) -> bool:
    """Whether :func:`use_winograd` rewrote ``net``."""
    return any(isinstance(m, WinogradConv3x3) for m in net.modules())
