"""The :class:`Interpolator` task: a frame at any time between two frames, from any frame size."""
from __future__ import annotations

import copy
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from .. import models
from ..device import DeviceLike, full_fp32, pick_device, resolve_dtype
from .. import accel
from ..models.sizes import pad_to_multiple
from ..io import to_tensor, to_uint8
from .adapters import ADAPTERS, GENERIC_ADAPTER, NetAdapter, adapter_for
from .flow import FlowInterpolator

__all__ = ["Interpolator", "available_models"]

ModelLike = Union[str, nn.Module, FlowInterpolator]


def available_models() -> list[str]:
    """Names accepted by ``Interpolator(model=...)``: ``"flow"`` and every network with an adapter."""
    return ["flow"] + sorted(ADAPTERS)


def _as_batch(frame: Any, which: str) -> tuple[torch.Tensor, dict]:
    """A frame as a (N, 3, H, W) float32 tensor in [0, 1], plus how to give the result back."""
    if isinstance(frame, torch.Tensor):
        if frame.dim() not in (3, 4) or frame.shape[-3] != 3:
            raise ValueError(f"{which}: expected a tensor (N, 3, H, W) or (3, H, W) in [0, 1], got shape {tuple(frame.shape)}")
        if not frame.is_floating_point():
            raise ValueError(f"{which}: expected a float tensor in [0, 1], got dtype {frame.dtype}")
        kind = {"kind": "tensor", "dtype": frame.dtype, "device": frame.device, "dim": frame.dim()}
        x = frame if frame.dim() == 4 else frame.unsqueeze(0)
        return x.float(), kind
    if hasattr(frame, "mode") and hasattr(frame, "size") and not isinstance(frame, np.ndarray):  # PIL image
        frame = np.asarray(frame.convert("RGB"))
    if isinstance(frame, np.ndarray):
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"{which}: expected an H,W,3 RGB array, got shape {frame.shape}")
        if frame.dtype == np.uint8:
            return to_tensor(frame), {"kind": "uint8"}
        if np.issubdtype(frame.dtype, np.floating):
            return to_tensor(frame.astype(np.float32, copy=False)), {"kind": "float", "dtype": frame.dtype}
        raise ValueError(f"{which}: expected uint8 (0-255) or float (0-1) pixels, got dtype {frame.dtype}")
    raise TypeError(f"{which}: expected a numpy H,W,3 array, a PIL image or a (N, 3, H, W) tensor, got {type(frame).__name__}")


def _give_back(x: torch.Tensor, kind: dict):
    x = x.clamp(0, 1)
    if kind["kind"] == "tensor":
        x = x.to(device=kind["device"], dtype=kind["dtype"])
        return x if kind["dim"] == 4 else x[0]
    if kind["kind"] == "uint8":
        return to_uint8(x[:1])
    return x[0].permute(1, 2, 0).float().cpu().numpy().astype(kind["dtype"], copy=False)


class Interpolator:
    """Synthesize in-between frames with RIFE (published weights) or the no-weights optical-flow model.

    Args:
        model: ``"rife-4.0"`` (default; see :func:`available_models` for the others), ``"flow"`` (dense
            optical flow, needs no weights), a network loaded with :func:`restoration_lib.models.load`,
            any ``nn.Module`` following RIFE's calling convention ``net(img0, img1, timestep, scale)``, or
            a :class:`~restoration_lib.interpolate.flow.FlowInterpolator`.
        device: ``None`` picks CUDA, then MPS, then CPU.
        precision: ``"exact"`` (float32, reproduces the official numbers) or ``"fast"`` (bfloat16 on CPUs with native bf16,
            float16 on CUDA, for the convolutions only; flows and warping stay float32).
        weights_dir: folder holding the checkpoints (default: see :func:`restoration_lib.weights.weights_dir`).
        scale: RIFE's flow resolution factor: 1.0 up to 1080p, 0.5 for 4K (changes the padding too).

    Raises:
        MissingWeightsError: the checkpoint is not on disk (the message says how to fetch it).
        ValueError: unknown model name.
        PrecisionError: a precision the device cannot run.

    Example:
        >>> interp = Interpolator("rife-4.0")                              # doctest: +SKIP
        >>> middle = interp(frame0, frame1, t=0.5)     # H,W,3 uint8 in, H,W,3 uint8 out   # doctest: +SKIP
    """

    def __init__(
        self,
        model: ModelLike = "rife-4.0",
        device: DeviceLike = None,
        precision: str = "exact",
        weights_dir: Optional[str] = None,
        *,
        scale: float = 1.0,
    ):
        self.device = pick_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.precision = precision
        if not scale > 0:
            raise ValueError(f"scale must be positive (1.0, or 0.5 for 4K); got {scale}")
        self.scale = float(scale)
        self.net: Optional[nn.Module] = None
        self.flow: Optional[FlowInterpolator] = None
        self.adapter: Optional[NetAdapter] = None
        if isinstance(model, FlowInterpolator) or model == "flow":
            self.flow = model if isinstance(model, FlowInterpolator) else FlowInterpolator()
            self.name = "flow"
            return
        if isinstance(model, str):
            self.adapter = adapter_for(model)
            if self.adapter is None:
                raise ValueError(f"unknown interpolation model {model!r}; available: {', '.join(available_models())}")
            net = models.load(model, device=self.device, weights_dir=weights_dir)
            self.name = model
        elif isinstance(model, nn.Module):
            self.adapter = adapter_for(model) or GENERIC_ADAPTER
            if self.dtype != torch.float32:  # the reduced-precision variant must not change the caller's module
                model = copy.deepcopy(model)
            net = model
            spec = getattr(model, "spec", None)
            self.name = getattr(spec, "name", type(model).__name__)
        else:
            raise TypeError(f"model must be a name, an nn.Module or a FlowInterpolator; got {type(model).__name__}")
        if self.adapter.cast is not None:
            self.net = self.adapter.cast(net.eval().requires_grad_(False).to(self.device), self.dtype)
        else:
            self.net = accel.prepare(net, self.device, self.dtype)  # device- and dtype-specific rewrites

    def __repr__(self) -> str:
        return f"Interpolator(model={self.name!r}, device={str(self.device)!r}, precision={self.precision!r})"

    @torch.inference_mode()
    def predict(self, img0: torch.Tensor, img1: torch.Tensor, ts: Sequence[float]) -> list[torch.Tensor]:
        """Frames at times ``ts`` for (N, 3, H, W) float32 frames on ``self.device``; no conversions.

        Any H and W: the frames are padded as the network needs and the results cropped back.
        Returns (N, 3, H, W) float32 frames, not clamped.
        """
        if self.flow is not None:
            return self.flow.many(img0, img1, ts)
        assert self.net is not None and self.adapter is not None
        m = self.adapter.pad_multiple(self.scale)
        a, (h, w) = pad_to_multiple(img0, m)
        b, _ = pad_to_multiple(img1, m)
        with full_fp32(self.device, self.dtype):
            if self.adapter.many is not None:
                ys = self.adapter.many(self.net, a, b, [float(t) for t in ts], self.scale)
                return [y[..., :h, :w] for y in ys]
            return [self.adapter.infer(self.net, a, b, float(t), self.scale)[..., :h, :w] for t in ts]

    def many(self, frame0: Any, frame1: Any, ts: Sequence[float]) -> list:
        """Frames at several times between one pair (the flow model estimates its flow once).

        Args and return values as for :meth:`__call__`, with a list of times and a list of frames.
        """
        x0, kind = _as_batch(frame0, "frame0")
        x1, _ = _as_batch(frame1, "frame1")
        if x0.shape != x1.shape:
            raise ValueError(f"frame0 and frame1 must have the same size; got {tuple(x0.shape)} and {tuple(x1.shape)}")
        ts = [float(t) for t in ts]
        for t in ts:
            if not 0.0 <= t <= 1.0:
                raise ValueError(f"t must be in [0, 1]; got {t}")
        inner = [t for t in ts if 0.0 < t < 1.0]
        x0d = x0.to(self.device)
        x1d = x1.to(self.device)
        got = dict(zip(inner, self.predict(x0d, x1d, inner))) if inner else {}
        got[0.0] = x0d
        got[1.0] = x1d
        return [_give_back(got[t], kind) for t in ts]

    def __call__(self, frame0: Any, frame1: Any, t: float = 0.5):
        """The frame at time ``t`` between ``frame0`` (t = 0) and ``frame1`` (t = 1).

        Args:
            frame0: H,W,3 uint8 RGB array (or float in [0, 1], or a PIL image), or a (N, 3, H, W) float
                tensor in [0, 1]. Any size.
            frame1: the same kind and size as ``frame0``.
            t: time in [0, 1] (0 and 1 return the inputs).

        Returns:
            The same kind as ``frame0``: H,W,3 uint8 (rounded), H,W,3 float, or a tensor of the same
            shape, dtype and device, with values clamped to [0, 1].
        """
        return self.many(frame0, frame1, [t])[0]
