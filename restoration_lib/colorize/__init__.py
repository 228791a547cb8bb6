"""Colorize black-and-white photos and film frames with DeOldify.

>>> from restoration_lib.colorize import Colorizer
>>> colorize = Colorizer("artistic")                       # doctest: +SKIP
>>> rgb = colorize("old_photo.jpg", render_factor=35)      # doctest: +SKIP  (H, W, 3) uint8

The single-image path is the official one, step by step (see ``docs/colorize.md``):

1. the image as RGB (gray files copied to 3 channels; an alpha channel is set aside, not composited);
2. stretched to a ``16·render_factor`` square with PIL bilinear resampling (aspect ratio not kept);
3. made gray with PIL's RGB→L conversion and copied back to 3 channels (the network never sees colour);
4. divided by 255 and ImageNet-normalised;
5. the generator;
6. de-normalised, clamped to [0, 1], ×255 and **truncated** to uint8;
7. resized back to the input's size with PIL bilinear (``post_process=False`` stops here);
8. the original's luma (OpenCV ``RGB2YUV`` Y plane) with the model's U and V, back to RGB.

Differences from the original: the alpha channel is carried through (the original drops it), no watermark unless
asked for, and a ``render_factor`` that does not fit in memory is lowered with a warning instead of silently
returning the gray input.
"""
from __future__ import annotations

import gc
import math
import os
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from .. import models
from ..archs.deoldify import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DeOldifyGenerator,
    finalize,
)
from .. import accel
from .ddcolor import DDColorizer, is_ddcolor
from .hints import colorize_with_hints, load_hints
from .reference import colorize_from_reference
from ..accel.deoldify import use_winograd, uses_winograd
from ..device import CudaGraphForward, DeviceLike, full_fp32, pick_device, resolve_dtype
from ..errors import RestorationError, VideoError
from ..io import LoadedImage, atomic_path, read_image, write_image

__all__ = [
    "Colorizer",
    "DDColorizer",
    "colorize_with_hints",
    "load_hints",
    "colorize_from_reference",
    "ColorizeResult",
    "MODELS",
    "estimate_activation_bytes",
    "get_image_colorizer",
    "get_video_colorizer",
    "ImageColorizer",
    "VideoColorizer",
]

#: short model names → registry names
MODELS = {"artistic": "deoldify-artistic", "stable": "deoldify-stable", "video": "deoldify-video"}
RENDER_BASE = 16
# Margin on the estimated activation memory for allocator slack, convolution workspaces and the pre/post steps.
_MEMORY_MARGIN = 1.3

ImageLike = Union[str, os.PathLike, bytes, Image.Image, np.ndarray, LoadedImage]


# ----------------------------------------------------------------------------------------------------------------
# Input conversion


def _read_rgb_alpha(image: ImageLike) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """(H, W, 3) uint8 RGB and the (H, W) uint8 alpha channel or None, from any accepted input.

    Through :func:`restoration_lib.io.read_image`: a gray file becomes 3 equal channels (as PIL's ``convert("RGB")``
    in the original), EXIF orientation is applied, 16-bit sources are rounded to 8 bits, and a fully opaque alpha
    channel counts as none.
    """
    loaded = read_image(image)
    return loaded.rgb, loaded.alpha


# ----------------------------------------------------------------------------------------------------------------
# The steps of the official path


def model_input(rgb: np.ndarray, size: int) -> torch.Tensor:
    """Steps 2–4: stretch to ``size``², PIL gray, 3 channels, /255, ImageNet normalisation.

    Args:
        rgb: (H, W, 3) uint8.
        size: side of the square, ``16·render_factor``.

    Returns:
        (1, 3, size, size) float32 in the generator's normalised input space.
    """
    square = Image.fromarray(rgb, "RGB").resize((size, size), resample=Image.BILINEAR)
    gray = np.array(square.convert("L"))
    x = torch.from_numpy(gray).to(torch.float32).div_(255).expand(3, size, size)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]
    return ((x - mean) / std).unsqueeze(0)


def output_to_uint8(y: torch.Tensor) -> np.ndarray:
    """Step 6: de-normalise, clamp to [0, 1], ×255, truncate. (N, 3, S, S) → (N, S, S, 3) uint8."""
    y = y.float()
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=y.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=y.device)[:, None, None]
    out = (y * std + mean).clamp_(0.0, 1.0).mul_(255).to(torch.uint8)  # float → uint8 truncates
    return out.permute(0, 2, 3, 1).cpu().numpy()


def resize_back(square: np.ndarray, width: int, height: int) -> np.ndarray:
    """Step 7: PIL bilinear resize of the (S, S, 3) uint8 model colours to the input's size."""
    return np.asarray(Image.fromarray(square, "RGB").resize((width, height), resample=Image.BILINEAR))


def merge_luma(original: np.ndarray, raw_color: np.ndarray) -> np.ndarray:
    """Step 8: the original's Y plane with the model's U, V (OpenCV YUV, uint8)."""
    yuv = cv2.cvtColor(original, cv2.COLOR_RGB2YUV)
    yuv[..., 1:] = cv2.cvtColor(raw_color, cv2.COLOR_RGB2YUV)[..., 1:]
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB)


def add_watermark(rgb: np.ndarray, text: str = "DeOldify") -> np.ndarray:
    """A small half-transparent text mark near the bottom-left corner (as the original places its logo).

    The original blends a logo image 5 % of the image height tall at half strength; the logo file is not
    redistributed here, so the mark is the word ``text`` in the same place, at the same size and strength.
    """
    from PIL import ImageDraw, ImageFont

    h, w = rgb.shape[:2]
    size = max(8, int(0.05 * h))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    mark = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mark).text((10, h - 10), text, fill=255, font=font, anchor="ld")
    m = np.asarray(mark, dtype=np.float32)[..., None] / 255.0 * 0.5
    return (rgb.astype(np.float32) * (1 - m) + 255.0 * m + 0.5).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------------
# Memory


class _LiveBytes(TorchDispatchMode):
    """Tracks the bytes of the storages that ops allocate during a (meta-device) forward pass, and their peak.

    A storage counts from the op that allocates it until the last tensor using it (views included) is freed.
    Outputs of view ops and in-place/``out=`` ops alias an existing storage and allocate nothing.
    """

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self._storages: dict[int, list[int]] = {}  # storage id → [bytes, tensors alive]

    def _release(self, key: int) -> None:
        entry = self._storages[key]
        entry[1] -= 1
        if entry[1] == 0:
            self.live -= entry[0]
            del self._storages[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if not isinstance(t, torch.Tensor) or getattr(t, "_tracked", False):
                continue
            key = t.untyped_storage()._cdata
            if key not in self._storages:
                if func.is_view:
                    continue  # a view of a parameter or of the input: not an activation
                self._storages[key] = [t.untyped_storage().nbytes(), 0]
                self.live += self._storages[key][0]
                self.peak = max(self.peak, self.live)
            self._storages[key][1] += 1
            t._tracked = True
            weakref.finalize(t, self._release, key)
        return out


_META_NETS: dict[tuple, nn.Module] = {}
_ESTIMATES: dict[tuple, int] = {}


def estimate_activation_bytes(
    variant: str,
    nf_factor: float,
    size: int,
    batch: int = 1,
    dtype: torch.dtype = torch.float32,
    winograd: bool = False,
) -> int:
    """Peak bytes of the activations of one forward pass, measured on the meta device (no compute, no memory).

    Args:
        variant: ``"deep"`` (artistic) or ``"wide"`` (stable/video).
        nf_factor: the generator's decoder width factor.
        size: side of the square input.
        batch: images per forward pass.
        dtype: activation dtype.
        winograd: the decoder uses Winograd convolutions (fast mode on CPU), with their temporary buffers.
    """
    key = (variant, float(nf_factor), int(size), int(batch), dtype, winograd)
    if key not in _ESTIMATES:
        net_key = (variant, float(nf_factor), dtype, winograd)
        if net_key not in _META_NETS:
            with torch.device("meta"):
                net = finalize(DeOldifyGenerator(variant, nf_factor))
                if winograd:
                    use_winograd(net)
            _META_NETS[net_key] = net.eval().to(dtype)
        x = torch.empty(batch, 3, size, size, device="meta", dtype=dtype)
        counter = _LiveBytes()
        with torch.inference_mode(), counter:
            _META_NETS[net_key](x)
        _ESTIMATES[key] = counter.peak
    return _ESTIMATES[key]


def _available_memory(device: torch.device) -> Optional[int]:
    """Bytes that a forward pass may use now on ``device`` (None when unknown)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return None


def _is_oom(e: BaseException) -> bool:
    if isinstance(e, getattr(torch, "OutOfMemoryError", ())) or isinstance(e, MemoryError):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in msg or "not enough memory" in msg)


# ----------------------------------------------------------------------------------------------------------------
# Weights


def _load_named(name: str, device: torch.device, weights_dir: Optional[Union[str, os.PathLike]]) -> nn.Module:
    """Find the published checkpoint of registry network ``name`` and load it (MissingWeightsError if absent)."""
    return models.load(name, device=device, weights_dir=weights_dir)


# ----------------------------------------------------------------------------------------------------------------
# The task


@dataclass
class ColorizeResult:
    """Everything one colorization produced.

    Attributes:
        image: (H, W, 3) uint8 RGB, the final result (post-processed unless ``post_process=False``).
        alpha: (H, W) uint8 alpha of the input, or None.
        raw_color: (H, W, 3) uint8, the model's colours resized back (the ``post_process=False`` result).
        model_square: (S, S, 3) uint8, the model's output square before resizing back.
        render_factor: the render factor used (lower than asked for when it did not fit in memory).
        requested_render_factor: the render factor asked for.
    """

    image: np.ndarray
    alpha: Optional[np.ndarray]
    raw_color: np.ndarray
    model_square: np.ndarray
    render_factor: int
    requested_render_factor: int

    @property
    def output(self) -> np.ndarray:
        """``image`` with ``alpha`` appended as a 4th channel when the input had one (what ``Colorizer()`` returns)."""
        if self.alpha is None:
            return self.image
        return np.dstack([self.image, self.alpha])


class Colorizer:
    """Colorize images with one of DeOldify's generators.

    Args:
        model: ``"artistic"`` (vivid, best for most photos), ``"stable"`` (fewer artefacts on portraits and
            landscapes), ``"video"`` (stable architecture trained for flicker-free film), or a network returned
            by :func:`restoration_lib.models.load` (moved to ``device``/precision in place).
        device: ``None`` picks CUDA, then MPS, then CPU.
        precision: ``"exact"`` (float32; the official numbers) or ``"fast"`` (bfloat16 on CPUs with native bf16, float16 on GPU).
        weights_dir: folder of the downloaded checkpoints (default: the library's weights folder).
        progress: show progress bars for batches and videos.
        memory_budget: bytes a forward pass may use; ``None`` uses what the device has free at call time.
        cuda_graphs: on CUDA in fast mode, replay the network as a CUDA graph per input size (captured at the
            first call of each size; removes the CPU's kernel-launch overhead, which bounds small batches on fast
            GPUs). Exact mode and other devices run eagerly.

    Raises:
        MissingWeightsError: the checkpoint is not downloaded (the message says how to get it).
        CheckpointError: the file is not the expected DeOldify generator.
        PrecisionError: an unknown precision, or fp16 on CPU.
    """

    def __new__(cls, model: Union[str, nn.Module] = "artistic", *args, input_size: Optional[int] = None, **kwargs):
        """``Colorizer("ddcolor" | "ddcolor-tiny" | ...)`` or a DDColor network gives a :class:`DDColorizer`
        (DDColor's own path, ``input_size`` its control); everything else is DeOldify."""
        if cls is Colorizer and is_ddcolor(model):
            from .ddcolor import DEFAULT_INPUT_SIZE  # noqa: PLC0415

            kwargs = {k: v for k, v in kwargs.items() if k in ("device", "precision", "weights_dir", "progress")}
            return DDColorizer(model, *args[:3], input_size=input_size or DEFAULT_INPUT_SIZE, **kwargs)
        if input_size is not None:
            raise ValueError("input_size is DDColor's control; DeOldify's is render_factor")
        return super().__new__(cls)

    def __init__(
        self,
        model: Union[str, nn.Module] = "artistic",
        device: DeviceLike = None,
        precision: str = "exact",
        weights_dir: Optional[Union[str, os.PathLike]] = None,
        progress: bool = True,
        memory_budget: Optional[int] = None,
        cuda_graphs: bool = True,
        input_size: Optional[int] = None,
    ):
        self.device = pick_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.precision = precision
        self.progress = progress
        self.memory_budget = memory_budget
        if isinstance(model, nn.Module):
            net, self.model_name = model, getattr(getattr(model, "spec", None), "name", type(model).__name__)
        elif isinstance(model, str):
            name = MODELS.get(model, model)
            if name not in MODELS.values():
                raise ValueError(f"model must be one of {', '.join(MODELS)} or a loaded network; got {model!r}")
            net, self.model_name = _load_named(name, self.device, weights_dir), name
        else:
            raise TypeError(f"model must be a name ({', '.join(MODELS)}) or an nn.Module, got {type(model).__name__}")
        self.net = accel.prepare(net, self.device, self.dtype)  # device- and dtype-specific rewrites
        self.cuda_graphs = cuda_graphs
        self._graphed: Optional[CudaGraphForward] = None

    @property
    def _channels_last(self) -> bool:
        """Inputs channels-last where the prepared network's activations are (see :mod:`restoration_lib.accel`)."""
        return accel.channels_last(self.net, self.device, self.dtype)

    # -- memory ---------------------------------------------------------------------------------------------

    def _budget(self) -> Optional[int]:
        if self.memory_budget is not None:
            return int(self.memory_budget)
        return _available_memory(self.device)

    def estimate_memory(self, render_factor: int, batch: int = 1) -> Optional[int]:
        """Estimated bytes one forward pass needs at ``render_factor`` (None for networks of unknown layout)."""
        net = self.net
        if not isinstance(net, DeOldifyGenerator):
            return None
        winograd = uses_winograd(net)
        act = estimate_activation_bytes(
            net.variant, net.nf_factor, RENDER_BASE * render_factor, batch, self.dtype, winograd=winograd
        )
        return int(act * _MEMORY_MARGIN)

    def fit_render_factor(self, render_factor: int, batch: int = 1) -> int:
        """The largest render factor ≤ ``render_factor`` whose estimated memory fits the budget (warns if lower).

        Raises:
            RestorationError: not even render factor 1 fits.
        """
        budget = self._budget()
        need = self.estimate_memory(render_factor, batch)
        if budget is None or need is None or need <= budget:
            return render_factor
        rf = max(1, min(render_factor - 1, int(render_factor * math.sqrt(budget / need))))
        while rf > 1 and self.estimate_memory(rf, batch) > budget:
            rf -= 1
        if self.estimate_memory(rf, batch) > budget:
            raise RestorationError(
                f"not enough memory to colorize even at render_factor 1 on {self.device} "
                f"(needs about {self.estimate_memory(1, batch) / 2**20:.0f} MiB, {budget / 2**20:.0f} MiB available)"
            )
        warnings.warn(
            f"render_factor {render_factor} needs about {need / 2**30:.2f} GiB but only {budget / 2**30:.2f} GiB "
            f"is available on {self.device}; using render_factor {rf} instead",
            RuntimeWarning,
            stacklevel=3,
        )
        return rf

    # -- the model step -------------------------------------------------------------------------------------

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        xd = x.to(self.device, self.dtype)
        if self._channels_last:
            xd = xd.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), full_fp32(self.device, self.dtype):
            if self.cuda_graphs and self.device.type == "cuda" and self.dtype != torch.float32:
                # exact mode stays eager: a graph would keep cuDNN's large float32 workspaces reserved
                if self._graphed is None or self._graphed.module is not self.net:
                    self._graphed = CudaGraphForward(self.net)
                return self._graphed(xd)
            return self.net(xd)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._run(x)
        if self.dtype == torch.float16 and not bool(torch.isfinite(y).all()):
            # float16 tops out at 65504; bfloat16 has float32's range at float16's speed on recent GPUs
            cuda_bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
            wider = torch.bfloat16 if cuda_bf16 else torch.float32
            warnings.warn(
                f"float16 overflowed in this network (non-finite outputs); this Colorizer now runs in "
                f"{str(wider).replace('torch.', '')}",
                RuntimeWarning,
                stacklevel=4,
            )
            self._graphed = None  # captured with the float16 weights
            self.net, self.dtype = self.net.to(wider), wider
            y = self._run(x)
        return y

    def model_squares(self, rgbs: Sequence[np.ndarray], render_factor: int) -> tuple[np.ndarray, int]:
        """Steps 2–6 for a batch of images: (N, S, S, 3) uint8 model colours and the render factor used.

        A render factor that does not fit in memory (by estimate, or by an out-of-memory error during the
        forward pass) is lowered, with a :class:`RuntimeWarning`.
        """
        rf = self.fit_render_factor(render_factor, len(rgbs))
        while True:
            size = RENDER_BASE * rf
            x = torch.cat([model_input(rgb, size) for rgb in rgbs])
            try:
                y = self._forward(x)
                return output_to_uint8(y), rf
            except (RuntimeError, MemoryError) as e:
                if not _is_oom(e) or rf <= 1:
                    raise
                del x
                gc.collect()
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                lower = max(1, min(rf - 1, int(rf * 0.8)))
                warnings.warn(
                    f"render_factor {rf} ran out of memory on {self.device} ({str(e).splitlines()[0][:120]}); "
                    f"retrying with render_factor {lower}",
                    RuntimeWarning,
                    stacklevel=3,
                )
                rf = lower

    # -- public API -----------------------------------------------------------------------------------------

    def colorize(
        self, image: ImageLike, render_factor: int = 35, post_process: bool = True, watermark: bool = False
    ) -> ColorizeResult:
        """Colorize one image and return every intermediate (see :class:`ColorizeResult`)."""
        return self._colorize_many([image], render_factor, post_process, watermark)[0]

    def __call__(
        self, image: ImageLike, render_factor: int = 35, post_process: bool = True, watermark: bool = False
    ) -> np.ndarray:
        """Colorize one image.

        Args:
            image: a path, bytes, PIL image, numpy array ((H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA; uint8,
                uint16 or float in [0, 1]) or a ``restoration_lib.io.LoadedImage``.
            render_factor: the model sees a ``16·render_factor`` square (1–~60; higher needs more memory and
                time; 35 for photos, ~21 for video frames).
            post_process: keep the input's luminance at full resolution and take only the colour from the model
                (the original's default); ``False`` returns the model's colours resized back.
            watermark: add a small half-transparent "DeOldify" mark near the bottom-left corner.

        Returns:
            (H, W, 3) uint8 RGB at the input's resolution, or (H, W, 4) RGBA when the input had an alpha channel
            (the alpha is passed through unchanged).
        """
        return self.colorize(image, render_factor, post_process, watermark).output

    def colorize_batch(
        self,
        frames: Iterable[ImageLike],
        render_factor: int = 35,
        post_process: bool = True,
        watermark: bool = False,
        batch_size: int = 1,
    ) -> list[np.ndarray]:
        """Colorize many images (e.g. the frames of a film); each is treated exactly as by ``__call__``.

        ``batch_size`` images go through the network together (useful on GPUs; on CPUs 1 is as fast).
        """
        from tqdm.auto import tqdm

        frames = list(frames)
        out: list[np.ndarray] = []
        with tqdm(total=len(frames), desc="colorize", unit="frame", disable=not self.progress) as bar:
            for i in range(0, len(frames), max(1, int(batch_size))):
                chunk = frames[i : i + max(1, int(batch_size))]
                out += [r.output for r in self._colorize_many(chunk, render_factor, post_process, watermark)]
                bar.update(len(chunk))
        return out

    def _colorize_many(
        self, images: Sequence[ImageLike], render_factor: int, post_process: bool, watermark: bool
    ) -> list[ColorizeResult]:
        if isinstance(render_factor, bool) or not isinstance(render_factor, (int, np.integer)) or render_factor < 1:
            raise ValueError(f"render_factor must be an integer ≥ 1, got {render_factor!r}")
        decoded = [_read_rgb_alpha(im) for im in images]
        squares, rf = self.model_squares([rgb for rgb, _ in decoded], int(render_factor))
        results = []
        for (rgb, alpha), square in zip(decoded, squares):
            raw = resize_back(square, rgb.shape[1], rgb.shape[0])
            final = merge_luma(rgb, raw) if post_process else raw
            if watermark:
                final = add_watermark(final)
            results.append(ColorizeResult(final, alpha, raw, square, rf, int(render_factor)))
        return results


# ----------------------------------------------------------------------------------------------------------------
# Compatibility with the original's entry points


class ImageColorizer:
    """What the original's ``get_image_colorizer()`` returned (``ModelImageVisualizer``), on this library.

    Differences: results are not watermarked unless asked for, and nothing is read from or written to the
    working directory except ``results_dir``.
    """

    def __init__(
        self, colorizer: Colorizer, render_factor: int = 35, results_dir: Union[str, os.PathLike] = "result_images"
    ):
        self.colorizer = colorizer
        self.render_factor = render_factor
        self.results_dir = Path(results_dir)

    def get_transformed_image(
        self,
        path: Union[str, os.PathLike],
        render_factor: Optional[int] = None,
        post_process: bool = True,
        watermarked: bool = False,
    ) -> Image.Image:
        """The colorized image as a PIL RGB (or RGBA, for inputs with alpha) image."""
        rf = self.render_factor if render_factor is None else render_factor
        return Image.fromarray(self.colorizer(path, rf, post_process=post_process, watermark=watermarked))

    def plot_transformed_image(
        self,
        path: Union[str, os.PathLike],
        results_dir: Optional[Union[str, os.PathLike]] = None,
        figsize: tuple[float, float] = (20, 20),
        render_factor: Optional[int] = None,
        display_render_factor: bool = False,
        compare: bool = False,
        post_process: bool = True,
        watermarked: bool = False,
    ) -> Path:
        """Colorize ``path``, draw it (beside the original with ``compare=True``), save it, return the saved path.

        The result is saved as ``results_dir/<input file name>``; the figure is shown in notebooks and closed.
        """
        import matplotlib.pyplot as plt

        path = Path(path)
        out_dir = Path(results_dir) if results_dir is not None else self.results_dir
        rf = self.render_factor if render_factor is None else render_factor
        result = self.get_transformed_image(path, rf, post_process=post_process, watermarked=watermarked)
        panels = [("colorized", np.asarray(result))]
        if compare:
            panels.insert(0, ("original", np.asarray(_open_for_display(path))))
        fig, axes = plt.subplots(1, len(panels), figsize=figsize, squeeze=False)
        try:
            for ax, (title, img) in zip(axes[0], panels):
                ax.imshow(img)
                ax.axis("off")
                if display_render_factor and title == "colorized":
                    ax.text(10, 10, f"render_factor: {rf}", color="white", backgroundcolor="black", va="top")
            _show_in_notebook(fig)
        finally:
            plt.close(fig)
        out = out_dir / path.name
        if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"):
            out = out.with_suffix(".png")
        if out.resolve() == path.resolve():  # results_dir is the input's folder: never replace the input
            out = out.with_name(f"{out.stem}_colorized{out.suffix}")
        arr = np.asarray(result)
        write_image(out, arr[..., :3], alpha=arr[..., 3] if arr.shape[2] == 4 else None, protect=(path,))
        return out


def _open_for_display(path: Path) -> Image.Image:
    rgb, _ = _read_rgb_alpha(path)
    return Image.fromarray(rgb)


def _show_in_notebook(fig) -> None:
    """Display ``fig`` when running in a Jupyter kernel (the caller closes it afterwards)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        display(fig)


def get_image_colorizer(
    root_folder: Union[str, os.PathLike, None] = None,
    render_factor: int = 35,
    artistic: bool = True,
    *,
    results_dir: Union[str, os.PathLike] = "result_images",
    weights_dir: Optional[Union[str, os.PathLike]] = None,
    device: DeviceLike = None,
    precision: str = "exact",
) -> ImageColorizer:
    """The original's ``get_image_colorizer``: the artistic (default) or stable model with ``render_factor``.

    With ``root_folder``, a checkpoint where the original kept it (``root_folder/models/ColorizeArtistic_gen.pth``)
    is used when present; otherwise the library's weights folder (``weights_dir``).
    """
    model = "artistic" if artistic else "stable"
    colorizer = Colorizer(_compat_network(model, root_folder, device, weights_dir), device=device, precision=precision)
    return ImageColorizer(colorizer, render_factor=render_factor, results_dir=results_dir)


def _compat_network(model: str, root_folder, device: DeviceLike, weights_dir) -> Union[str, nn.Module]:
    """The network from the original's ``<root_folder>/models/<file>`` when it is there, else the model name."""
    if root_folder is not None:
        from .. import weights as _weights

        name = MODELS[model]
        legacy = Path(root_folder) / "models" / _weights.registry()[models.get_spec(name).weights_id].file
        if legacy.is_file():
            return models.load(name, legacy, device=pick_device(device))
    if weights_dir is None:
        return model
    return _load_named(MODELS[model], pick_device(device), weights_dir)


class VideoColorizer:
    """Colorize a film frame by frame (PyAV decode → colorize → H.264 encode, audio copied when possible).

    The original's folder layout is kept for ``colorize_from_file_name``: it reads ``video/source/<name>`` and
    writes ``video/result/<name>``.
    """

    def __init__(self, colorizer: Colorizer, render_factor: int = 21, workfolder: Union[str, os.PathLike] = "video"):
        self.colorizer = colorizer
        self.render_factor = render_factor
        self.workfolder = Path(workfolder)

    def colorize_from_file_name(
        self, file_name: str, render_factor: Optional[int] = None, watermarked: bool = False, post_process: bool = True
    ) -> Path:
        src = self.workfolder / "source" / file_name
        return self.colorize_from_path(src, self.workfolder / "result" / Path(file_name).name, render_factor,
                                       watermarked=watermarked, post_process=post_process)

    def colorize_from_path(
        self,
        source_path: Union[str, os.PathLike],
        result_path: Optional[Union[str, os.PathLike]] = None,
        render_factor: Optional[int] = None,
        watermarked: bool = False,
        post_process: bool = True,
        max_frames: Optional[int] = None,
        crf: int = 17,
    ) -> Path:
        """Colorize the video at ``source_path`` into ``result_path`` (default ``<stem>_color.mp4`` beside it).

        Raises:
            VideoError: no such file, no video stream, or an undecodable container.
        """
        from ..video.io import EncoderSettings, transcode

        src = Path(source_path)
        if not src.is_file():
            raise VideoError(f"{src}: no such video file")
        dst = Path(result_path) if result_path is not None else src.with_name(src.stem + "_color.mp4")
        if dst.exists() and os.path.samefile(dst, src):
            raise VideoError(f"{dst}: refusing to overwrite the input video")
        rf = self.render_factor if render_factor is None else render_factor

        def colorize(rgb: np.ndarray) -> np.ndarray:
            return self.colorizer(rgb, rf, post_process=post_process, watermark=watermarked)

        transcode(src, dst, colorize, settings=EncoderSettings(crf=crf, threads=0), max_frames=max_frames,
                  progress=self.colorizer.progress, desc="colorize video")
        return dst


def get_video_colorizer(
    render_factor: int = 21,
    *,
    workfolder: Union[str, os.PathLike] = "video",
    weights_dir: Optional[Union[str, os.PathLike]] = None,
    device: DeviceLike = None,
    precision: str = "exact",
    model: str = "video",
) -> VideoColorizer:
    """The original's ``get_video_colorizer``: the video model at render_factor 21."""
    return VideoColorizer(
        Colorizer(model, device=device, precision=precision, weights_dir=weights_dir),
        render_factor=render_factor,
        workfolder=workfolder,
    )
