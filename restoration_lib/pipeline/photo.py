"""Photos: repair → colorize, every stage's image kept."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import cv2
import numpy as np

from .. import __version__
from ..device import pick_device, resolve_dtype
from ..errors import ImageReadError
from ..io import LoadedImage, read_image
from .options import ColorizeOptions, RepairOptions, build_colorize, build_repair, describe

__all__ = ["PhotoResult", "PhotoPipeline", "restore_photo"]

PathLike = Union[str, os.PathLike]

#: Smallest photo side the pipeline accepts (pixels); the networks need at least this much.
MIN_SIDE = 8


@dataclass
class PhotoResult:
    """Every stage of one restored photo (all H,W,3 uint8 RGB unless noted).

    Attributes:
        input: the photo as read (gray sources as three equal channels).
        repaired: after the repair stage (None when repair was off).
        scratch_mask: H,W uint8 (255 = scratch) when scratch detection ran, else None.
        colorized: after colorization (None when colorize was off).
        final: the result.
        alpha: H,W uint8 alpha of the input (resized to ``final`` if a stage changed the size), or None.
        was_gray: the input was grayscale.
        repair: the repair task's full result (faces, stage images), or None.
        seconds: wall time per stage.
    """

    input: np.ndarray
    repaired: Optional[np.ndarray]
    scratch_mask: Optional[np.ndarray]
    colorized: Optional[np.ndarray]
    final: np.ndarray
    alpha: Optional[np.ndarray] = None
    was_gray: bool = False
    repair: Any = None
    seconds: dict[str, float] = field(default_factory=dict)

    def stages(self) -> list[tuple[str, np.ndarray]]:
        """(name, image) of the stages that ran, in order, for display."""
        out = [("input", self.input)]
        if self.repaired is not None:
            out.append(("repaired", self.repaired))
        if self.scratch_mask is not None:
            out.append(("scratch mask", np.repeat(self.scratch_mask[..., None], 3, axis=2)))
        if self.colorized is not None:
            out.append(("colorized", self.colorized))
        return out


class PhotoPipeline:
    """Repair then colorize photos with stages built once (reuse it for many photos).

    Args:
        repair: repair stage: :class:`RepairOptions`, a dict of its fields, True (defaults), False (skip), or a
            ``Restorer`` (any callable returning an object with ``image`` and ``scratch_mask``, or an array).
        colorize: colorize stage: :class:`ColorizeOptions`, dict, True, False, or a ``Colorizer``-like callable
            (wrap it in :class:`ColorizeStage` to give it options).
        device: ``None`` picks CUDA → MPS → CPU.
        precision: ``"exact"`` (fp32) or ``"fast"`` (bf16 on CPUs with native bf16, fp16 on CUDA).
        weights_dir: folder of the checkpoints.

    Raises:
        MissingWeightsError: a stage's checkpoint is missing (colorization has no classical fallback;
            ``repair={"mode": "classical"}`` repairs without downloads).
        PrecisionError: unknown precision, or fp16 on CPU.
    """

    def __init__(
        self,
        repair: Any = RepairOptions(),
        colorize: Any = ColorizeOptions(),
        device=None,
        precision: str = "exact",
        weights_dir: Optional[PathLike] = None,
    ):
        self.device = pick_device(device)
        resolve_dtype(precision, self.device)
        self.precision = precision
        kw = dict(device=self.device, precision=precision, weights_dir=weights_dir)
        self.repair = build_repair(repair, **kw)
        self.colorize = build_colorize(colorize, **kw)

    def describe(self) -> dict:
        """JSON-able settings (what :func:`restore_folder` records to know a photo is already done)."""
        return {"library": __version__, "repair": describe(self.repair), "colorize": describe(self.colorize),
                "device": self.device.type, "precision": self.precision}

    def __call__(self, image: Union[PathLike, bytes, np.ndarray, LoadedImage, Any]) -> PhotoResult:
        """Restore one photo.

        Args:
            image: a path, bytes, PIL image, numpy array (H,W gray, H,W,3 RGB, H,W,4 RGBA; uint8/uint16/float in
                [0,1]) or a :class:`~restoration_lib.io.LoadedImage`.

        Returns:
            A :class:`PhotoResult`.

        Raises:
            ImageReadError: the input is not a readable image, or is smaller than :data:`MIN_SIDE` a side.
        """
        img = image if isinstance(image, LoadedImage) else read_image(image)
        rgb = np.asarray(img.rgb)
        if min(rgb.shape[:2]) < MIN_SIDE:
            name = img.path if img.path is not None else "the image"
            raise ImageReadError(f"{name}: {rgb.shape[1]}×{rgb.shape[0]} pixels is too small to restore "
                                 f"(at least {MIN_SIDE} pixels a side)")
        if rgb.dtype != np.uint8:
            from ..io import to_uint8

            rgb = to_uint8(rgb)
        alpha = img.alpha
        if alpha is not None and alpha.dtype != np.uint8:
            from ..io import to_uint8

            alpha = to_uint8(alpha)
        seconds: dict[str, float] = {}
        x = rgb
        repaired = mask = rep_result = colorized = None
        if self.repair is not None:
            t = time.perf_counter()
            repaired, mask, rep_result = self.repair(x)
            seconds["repair"] = time.perf_counter() - t
            x = repaired
        if self.colorize is not None:
            t = time.perf_counter()
            colorized = self.colorize(x)
            seconds["colorize"] = time.perf_counter() - t
            x = colorized
        if alpha is not None and alpha.shape != x.shape[:2]:
            alpha = cv2.resize(alpha, (x.shape[1], x.shape[0]), interpolation=cv2.INTER_LINEAR)
        return PhotoResult(
            input=rgb,
            repaired=repaired,
            scratch_mask=mask,
            colorized=colorized,
            final=x,
            alpha=alpha,
            was_gray=bool(img.was_gray),
            repair=rep_result,
            seconds=seconds,
        )


def restore_photo(
    image: Union[PathLike, bytes, np.ndarray, LoadedImage, Any],
    repair: Any = RepairOptions(),
    colorize: Any = ColorizeOptions(),
    device=None,
    precision: str = "exact",
    weights_dir: Optional[PathLike] = None,
) -> PhotoResult:
    """Repair and colorize one photo (see :class:`PhotoPipeline`; build one to restore many photos).

    Example:
        >>> r = restore_photo("old.jpg", repair={"with_scratch": True},
        ...                   colorize={"render_factor": 30})  # doctest: +SKIP
        >>> write_image("restored.png", r.final, alpha=r.alpha)  # doctest: +SKIP
    """
    return PhotoPipeline(repair, colorize, device=device, precision=precision, weights_dir=weights_dir)(image)
