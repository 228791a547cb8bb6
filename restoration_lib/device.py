"""Device and precision policy shared by every task.

The device is chosen once (:func:`pick_device`: CUDA, then MPS, then CPU) and passed explicitly; nothing
here reads or sets environment variables. Precision is one of:

- ``"exact"``: float32 everywhere (the default; reproduces the official numbers);
- ``"fast"``: bfloat16 on CPUs with native bf16 support (AMX / AVX-512-BF16) and on MPS-less fallbacks,
  float16 on CUDA;
- ``"fp32"``, ``"bf16"``, ``"fp16"``: an explicit dtype. ``"fp16"`` on CPU is refused.
"""
from __future__ import annotations

import contextlib
from typing import Literal, Union

import torch

from .errors import PrecisionError

Precision = Literal["exact", "fast", "fp32", "bf16", "fp16"]
DeviceLike = Union[str, torch.device, None]

_PRECISIONS = ("exact", "fast", "fp32", "bf16", "fp16")


def pick_device(device: DeviceLike = None) -> torch.device:
    """Return ``device`` as a :class:`torch.device`, or the best available one when ``None``.

    Args:
        device: ``None`` or ``"auto"`` picks CUDA, then MPS, then CPU; anything else is passed to
            :class:`torch.device` (``"cpu"``, ``"cuda:1"``...).

    Raises:
        ValueError: a device that this build of PyTorch cannot use.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was asked for, but this PyTorch build sees no CUDA device")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device {str(device)!r} was asked for, but MPS is not available")
    return dev


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 matmuls natively (AMX tiles or AVX-512-BF16)."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    for name in probes:
        fn = getattr(torch.cpu, name, None)
        if fn is not None and fn():
            return True
    return False


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """Map a precision name to the compute dtype used on ``device``.

    Raises:
        PrecisionError: unknown name, or fp16 on CPU.
    """
    if precision not in _PRECISIONS:
        raise PrecisionError(f"precision must be one of {', '.join(_PRECISIONS)}; got {precision!r}")
    if precision in ("exact", "fp32"):
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type == "cpu":
            raise PrecisionError(
                "precision 'fp16' is not supported on CPU (half-precision CPU kernels are slow and lossy); "
                "use precision='fast' (bfloat16 on CPU) or 'exact'"
            )
        return torch.float16
    # fast
    if device.type in ("cuda", "mps"):
        return torch.float16
    return torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype):
    """A context that runs matmuls/convolutions in ``dtype`` (no-op for float32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
