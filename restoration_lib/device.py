"""Device and precision policy shared by every task.

The device is chosen once (:func:`pick_device`: CUDA, then MPS, then CPU) and passed explicitly; nothing
here reads or sets environment variables. Precision is one of:

- ``"exact"``: float32 everywhere (the default; reproduces the official numbers);
- ``"fast"``: bfloat16 on CPUs with native bf16 support (AMX / AVX-512-BF16), float32 with a warning on other
  CPUs (emulated bfloat16 is about 100x slower than float32 there), float16 on CUDA and MPS;
- ``"fp32"``, ``"bf16"``, ``"fp16"``: an explicit dtype. ``"fp16"`` on CPU is refused.
"""
from __future__ import annotations

import contextlib
import functools
import warnings
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


def resolve_dtype(precision: Union[str, torch.dtype], device: torch.device) -> torch.dtype:
    """Map a precision name to the compute dtype used on ``device`` (a dtype, resolved before, passes through).

    Tasks resolve once and hand the dtype to their parts, so the name is interpreted in one place.

    Raises:
        PrecisionError: unknown name, or fp16 on CPU.
    """
    if isinstance(precision, torch.dtype):
        if precision not in (torch.float32, torch.bfloat16, torch.float16):
            raise PrecisionError(f"compute dtype must be float32, bfloat16 or float16; got {precision}")
        if precision == torch.float16 and device.type == "cpu":
            raise PrecisionError("float16 is not supported on CPU; use bfloat16 or float32")
        return precision
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
                "use precision='bf16' or 'exact'"
            )
        return torch.float16
    # fast
    if device.type in ("cuda", "mps"):
        return torch.float16
    if cpu_has_native_bf16():
        return torch.bfloat16
    _warn_fast_is_fp32()
    return torch.float32


@functools.lru_cache(maxsize=1)
def _warn_fast_is_fp32() -> None:
    warnings.warn(
        "precision='fast' runs float32 on this CPU: it has no native bfloat16 (AVX-512-BF16 or AMX), and emulated "
        "bfloat16 is about 100x slower than float32 here; precision='bf16' forces bfloat16",
        RuntimeWarning,
        stacklevel=3,
    )


@contextlib.contextmanager
def full_fp32(device: torch.device, dtype: torch.dtype):
    """Inside: float32 convolutions and matmuls on CUDA really run in float32 (no TF32).

    cuDNN allows TF32 convolutions by default, which round their inputs to 10 mantissa bits (errors near 1e-3);
    exact mode must give the official float32 numbers. Elsewhere, and for other dtypes, this does nothing. The
    previous settings are restored on exit.
    """
    if device.type != "cuda" or dtype != torch.float32:
        yield
        return
    matmul = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul


def full_fp32_method(method):
    """Decorator: run a method under :func:`full_fp32` with its object's ``device`` and ``dtype``."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with full_fp32(self.device, self.dtype):
            return method(self, *args, **kwargs)

    return wrapper


class CudaGraphForward:
    """A module's forward replayed as a CUDA graph, one capture per input shape (the last ``keep`` shapes).

    Small-batch inference on a fast GPU is often bound by the CPU launching hundreds of kernels one by one; a
    replayed graph launches them all at once. The output is the same computation (the same kernels on the same
    memory). Call it inside ``torch.inference_mode()``; the module's parameters must not be replaced afterwards
    (make a new one instead). Each capture runs the module three times (two warm-ups, one capture).

    Args:
        module: a CUDA module whose forward takes one tensor and returns one tensor, with no host synchronisation.
        keep: how many captured shapes to keep (each holds its own activation memory).
    """

    def __init__(self, module: torch.nn.Module, keep: int = 2):
        self.module = module
        self.keep = keep
        self._graphs: dict = {}

    def _capture(self, x: torch.Tensor):
        static_in = x.clone()
        side = torch.cuda.Stream(x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            for _ in range(2):  # cuDNN's plans and the allocator settle before the capture
                self.module(static_in)
        torch.cuda.current_stream(x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.module(static_in)
        return graph, static_in, static_out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape), x.dtype, x.stride(), x.device)
        entry = self._graphs.pop(key, None)
        if entry is None:
            while len(self._graphs) >= self.keep:
                self._graphs.pop(next(iter(self._graphs)))
            entry = self._capture(x)
        self._graphs[key] = entry  # most recently used last
        graph, static_in, static_out = entry
        static_in.copy_(x)
        graph.replay()
        return static_out.clone()

    def clear(self) -> None:
        """Drop every captured graph (and with them their memory)."""
        self._graphs.clear()
