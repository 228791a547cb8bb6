"""Colorize photos and film frames with DDColor (piddnad/DDColor, ICCV 2023, Apache-2.0).

>>> from restoration_lib.colorize.ddcolor import DDColorizer
>>> colorize = DDColorizer("ddcolor")                      # doctest: +SKIP
>>> rgb = colorize("old_photo.jpg", input_size=512).image  # doctest: +SKIP  (H, W, 3) uint8

The path is the official one (``ColorizationPipeline.process`` of the authors' code), step by step; the colour
conversions are OpenCV's, as there:

1. the image as float32 BGR in [0, 1] (an 8-bit file: value / 255);
2. its L channel (OpenCV float Lab, L in [0, 100]) at full resolution is kept for the end;
3. the image stretched to an ``input_size`` square with OpenCV's default bilinear resize (aspect ratio not kept);
4. the L of that square with a = b = 0, converted back to RGB: a gray RGB image, (1, 3, S, S);
5. the network (ImageNet normalisation inside) predicts a and b, (1, 2, S, S);
6. a and b resized back to the image's size with **nearest** neighbour (PyTorch's default), joined to the
   original L, converted Lab → BGR (OpenCV clips to [0, 1]);
7. ×255, rounded half to even, uint8.

Like the rest of the library, and unlike the authors' script: the input may be any image :func:`read_image` reads
(gray, palette, RGBA, 16-bit, arrays); an alpha channel is set aside and returned with the result (the original
drops it); 16-bit sources keep their precision through step 1 (the original reads them truncated to 8 bits); the
output is RGB.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import models
from ..archs.ddcolor import MULTIPLE_OF, DDColor
from ..device import DeviceLike, full_fp32, pick_device, resolve_dtype
from ..io import LoadedImage, read_image

__all__ = [
    "DDColorizer",
    "DDColorResult",
    "MODELS",
    "DEFAULT_INPUT_SIZE",
    "check_input_size",
    "is_ddcolor",
    "model_input",
    "merge_ab",
]

#: names a user can pass → (network in the model registry, checkpoint id in registry.toml)
MODELS = {
    "ddcolor": ("ddcolor-large", "ddcolor-modelscope"),
    "ddcolor-artistic": ("ddcolor-large", "ddcolor-artistic"),
    "ddcolor-paper": ("ddcolor-large", "ddcolor-paper"),
    "ddcolor-tiny": ("ddcolor-tiny", "ddcolor-paper-tiny"),
}
DEFAULT_INPUT_SIZE = 512

ImageLike = Union[str, os.PathLike, bytes, np.ndarray, LoadedImage, Any]


def is_ddcolor(model: Any) -> bool:
    """Whether ``model`` (a name or a network) is for :class:`DDColorizer` rather than DeOldify's Colorizer."""
    if isinstance(model, str):
        return model in MODELS
    if isinstance(model, DDColor):
        return True
    return str(getattr(getattr(model, "spec", None), "name", "")).startswith("ddcolor")


def check_input_size(input_size: Any, *, stacklevel: int = 2) -> int:
    """``input_size`` as the network accepts it: a multiple of 32, at least 32.

    Other positive integers are rounded to the nearest multiple of 32 with a :class:`RuntimeWarning` that says so.

    Raises:
        ValueError: not an integer, or < 1.
    """
    if isinstance(input_size, bool) or not isinstance(input_size, (int, np.integer)) or input_size < 1:
        raise ValueError(f"input_size must be a positive integer (a multiple of {MULTIPLE_OF}); got {input_size!r}")
    size = int(input_size)
    if size % MULTIPLE_OF:
        rounded = max(MULTIPLE_OF, int(round(size / MULTIPLE_OF)) * MULTIPLE_OF)
        warnings.warn(
            f"DDColor needs an input_size that is a multiple of {MULTIPLE_OF}; {size} was rounded to {rounded}",
            RuntimeWarning,
            stacklevel=stacklevel + 1,
        )
        size = rounded
    return size


# ----------------------------------------------------------------------------------------------------------------
# The steps of the official path


def _bgr_float(image: ImageLike) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Step 1: (H, W, 3) float32 BGR in [0, 1] and the (H, W) uint8 alpha (or None) of any accepted input."""
    loaded = read_image(image, as_float=True)
    alpha = None if loaded.alpha is None else np.clip(np.rint(loaded.alpha * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(loaded.rgb[..., ::-1], dtype=np.float32), alpha


def model_input(bgr: np.ndarray, size: int) -> tuple[torch.Tensor, np.ndarray]:
    """Steps 2–4.

    Args:
        bgr: (H, W, 3) float32 BGR in [0, 1].
        size: side of the network's square input (a multiple of 32).

    Returns:
        The network input, (1, 3, size, size) float32 gray RGB in [0, 1], and the original's L, (H, W, 1) float32
        in [0, 100].
    """
    orig_l = cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab)[:, :, :1]
    square = cv2.resize(bgr, (size, size))  # INTER_LINEAR, half-pixel centres
    l_sq = cv2.cvtColor(square, cv2.COLOR_BGR2Lab)[:, :, :1]
    gray = cv2.cvtColor(np.concatenate([l_sq, np.zeros_like(l_sq), np.zeros_like(l_sq)], axis=-1), cv2.COLOR_LAB2RGB)
    return torch.from_numpy(np.ascontiguousarray(gray.transpose(2, 0, 1))).float().unsqueeze(0), orig_l


def merge_ab(ab: torch.Tensor, orig_l: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps 6–7: nearest-resize the (1, 2, S, S) ab prediction to L's (H, W), join, Lab → BGR, round.

    Returns:
        (H, W, 3) float32 BGR in [0, 1] (before rounding) and the (H, W, 3) uint8 **RGB** result.
    """
    h, w = orig_l.shape[:2]
    ab_full = F.interpolate(ab.float().cpu(), size=(h, w))[0].numpy().transpose(1, 2, 0)
    bgr = cv2.cvtColor(np.concatenate([orig_l, ab_full], axis=-1), cv2.COLOR_LAB2BGR)
    out = (bgr * 255.0).round().astype(np.uint8)
    return bgr, np.ascontiguousarray(out[..., ::-1])


# ----------------------------------------------------------------------------------------------------------------
# The task


@dataclass
class DDColorResult:
    """Everything one DDColor colorization produced.

    Attributes:
        image: (H, W, 3) uint8 RGB at the input's size: the input's L with the predicted a, b.
        alpha: (H, W) uint8 alpha of the input, or None.
        ab: (S, S, 2) float32, the network's a and b prediction at ``input_size`` (Lab units).
        input_size: the square side the network saw.
        requested_input_size: the side asked for (before rounding to a multiple of 32).
        model_name: e.g. ``"ddcolor"`` or the network's registry name.
        precision: ``"exact"`` or ``"fast"`` (or an explicit dtype name).
    """

    image: np.ndarray
    alpha: Optional[np.ndarray]
    ab: np.ndarray
    input_size: int
    requested_input_size: int
    model_name: str
    precision: str

    @property
    def output(self) -> np.ndarray:
        """``image`` with ``alpha`` as a 4th channel when the input had one."""
        if self.alpha is None:
            return self.image
        return np.dstack([self.image, self.alpha])


class DDColorizer:
    """Colorize images with DDColor.

    Args:
        model: ``"ddcolor"`` (the ModelScope ConvNeXt-L weights, the authors' default), ``"ddcolor-artistic"``
            (more vivid), ``"ddcolor-paper"`` (the paper's ConvNeXt-L), ``"ddcolor-tiny"`` (the paper's
            ConvNeXt-T, about 4× faster), or a network from ``models.load("ddcolor-large" | "ddcolor-tiny", ...)``
            (or any module mapping (1, 3, S, S) in [0, 1] to (1, 2, S, S) ab), moved to ``device`` in place.
        device: ``None`` picks CUDA, then MPS, then CPU.
        precision: ``"exact"`` (float32, the official numbers) or ``"fast"`` (bfloat16 on CPUs with native bf16, float16 on GPU).
        weights_dir: folder of the downloaded checkpoints (default: the library's weights folder).
        input_size: side of the square the network sees (default 512, the authors'; a multiple of 32, others are
            rounded with a warning). Larger keeps finer colour detail and costs time ∝ size².
        progress: show a progress bar in :meth:`colorize_batch`.

    Raises:
        MissingWeightsError: the checkpoint is not downloaded (the message says how to get it).
        CheckpointError: the file is not the DDColor variant the name asks for.
        PrecisionError: an unknown precision, or fp16 on CPU.
    """

    def __init__(
        self,
        model: Union[str, nn.Module] = "ddcolor",
        device: DeviceLike = None,
        precision: str = "exact",
        weights_dir: Optional[Union[str, os.PathLike]] = None,
        input_size: int = DEFAULT_INPUT_SIZE,
        progress: bool = True,
    ):
        self.device = pick_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.precision = precision
        self.progress = progress
        self.requested_input_size = input_size
        self.input_size = check_input_size(input_size)
        if isinstance(model, nn.Module):
            net = model
            self.model_name = str(getattr(getattr(model, "spec", None), "name", type(model).__name__))
        elif isinstance(model, str):
            if model not in MODELS:
                raise ValueError(f"model must be one of {', '.join(MODELS)} or a loaded network; got {model!r}")
            from .. import weights as _weights

            network, weights_id = MODELS[model]
            net = models.load(network, _weights.find(weights_id, weights_dir), device="cpu")
            self.model_name = model
        else:
            raise TypeError(f"model must be a name ({', '.join(MODELS)}) or an nn.Module, got {type(model).__name__}")
        self.net = net.eval().requires_grad_(False).to(device=self.device, dtype=self.dtype)

    def __repr__(self) -> str:
        return (f"DDColorizer({self.model_name!r}, device={str(self.device)!r}, precision={self.precision!r}, "
                f"input_size={self.input_size})")

    # -- the model step -------------------------------------------------------------------------------------

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        xd = x.to(self.device, self.dtype)
        with torch.inference_mode(), full_fp32(self.device, self.dtype):
            y = self.net(xd)
        y = getattr(y, "ab", y)
        if not isinstance(y, torch.Tensor) or y.ndim != 4 or y.shape[1] != 2 or y.shape[-2:] != x.shape[-2:]:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"the network must return ab of shape (N, 2, {x.shape[-2]}, {x.shape[-1]}); got {got}")
        return y

    def predict_ab(self, x: torch.Tensor) -> torch.Tensor:
        """Step 5: (N, 3, S, S) float32 gray RGB in [0, 1] → (N, 2, S, S) float32 ab on the CPU.

        In float16, a non-finite output (overflow) switches this colorizer to bfloat16 (or float32) with a warning.
        """
        y = self._run(x)
        if self.dtype == torch.float16 and not bool(torch.isfinite(y).all()):
            wider = torch.bfloat16 if self.device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
            warnings.warn(f"float16 overflowed in DDColor; this colorizer now runs in {str(wider)[6:]}",
                          RuntimeWarning, stacklevel=3)
            self.net, self.dtype = self.net.to(wider), wider
            y = self._run(x)
        return y.float().cpu()

    # -- public API -----------------------------------------------------------------------------------------

    def __call__(self, image: ImageLike, *, input_size: Optional[int] = None) -> DDColorResult:
        """Colorize one image.

        Args:
            image: a path, bytes, PIL image, numpy array ((H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA; uint8,
                uint16 or float in [0, 1]) or a :class:`~restoration_lib.io.LoadedImage`. Colour inputs are
                made gray first: only their L is kept.
            input_size: override the colorizer's ``input_size`` for this call.

        Returns:
            A :class:`DDColorResult`; ``.image`` is (H, W, 3) uint8 RGB, ``.output`` adds the input's alpha.
        """
        return self._colorize_many([image], input_size)[0]

    def colorize_batch(
        self, frames: Iterable[ImageLike], *, input_size: Optional[int] = None, batch_size: int = 1
    ) -> list[DDColorResult]:
        """Colorize many images (e.g. a film's frames), each exactly as :meth:`__call__` does; ``batch_size``
        of them go through the network together (useful on GPUs)."""
        from tqdm.auto import tqdm

        frames = list(frames)
        bs = max(1, int(batch_size))
        out: list[DDColorResult] = []
        with tqdm(total=len(frames), desc="colorize (DDColor)", unit="frame", disable=not self.progress) as bar:
            for i in range(0, len(frames), bs):
                chunk = frames[i: i + bs]
                out += self._colorize_many(chunk, input_size)
                bar.update(len(chunk))
        return out

    def _colorize_many(self, images: Sequence[ImageLike], input_size: Optional[int]) -> list[DDColorResult]:
        if input_size is None:
            requested, size = self.requested_input_size, self.input_size
        else:
            requested, size = input_size, check_input_size(input_size, stacklevel=3)
        decoded = [_bgr_float(im) for im in images]
        prepared = [model_input(bgr, size) for bgr, _ in decoded]
        ab = self.predict_ab(torch.cat([x for x, _ in prepared]))
        results = []
        for i, ((_, alpha), (_, orig_l)) in enumerate(zip(decoded, prepared)):
            _, rgb = merge_ab(ab[i: i + 1], orig_l)
            results.append(DDColorResult(rgb, alpha, ab[i].permute(1, 2, 0).numpy(), size, int(requested),
                                         self.model_name, self.precision))
        return results
