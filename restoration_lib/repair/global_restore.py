"""Stage 1 of "Bringing Old Photos Back to Life": scratch detection and global restoration, on arrays.

Two stages, each usable on its own:

- :class:`ScratchDetector` / :func:`detect_scratches`: the scratch mask of a photo (``Global/detection.py``).
- :class:`GlobalRestorer` / :func:`restore_global`: the restored photo (``Global/test.py``) in one of three modes:
  ``"quality"`` (VAE A → ``mapping_quality`` → VAE B quality; no mask), ``"scratch"`` (VAE A → masked non-local
  ``mapping_scratch`` → VAE B scratch) and ``"hr"`` (VAE A → multi-scale patch attention → VAE B scratch, the
  official ``--HR`` option for large scratched photos).

Both follow the official scripts' conventions exactly (each one is commented where it is applied): PIL resizes
with Python's round-half-to-even size rules, 8-bit conversions as torchvision's ``ToTensor``/``Normalize``/
``save_image`` do them, the per-image min-max stretch of the saved outputs, the mask dilation of HR mode and the
"holed" input of the scratch modes. Large photos are evaluated with bounded memory
(:mod:`restoration_lib.repair.lowmem`), computing the same result.

Weights come from the published ``global_checkpoints.zip`` (the zip itself, the folder it was unzipped into, or
the weights registry id ``bopbtl-global``). A missing checkpoint raises :class:`MissingWeightsError`; random
weights are never used.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .. import models
from ..models.sizes import round_to_multiple
from ..device import DeviceLike, full_fp32_method, pick_device, resolve_dtype
from ..errors import ImageReadError, MissingWeightsError, RestorationError
from ..io import read_image
from ..archs.bopbtl import masked_patch_flags, patch_attention_mask
from . import lowmem
from ..models.loading import has_member

__all__ = [
    "GlobalCheckpoints",
    "ScratchDetector",
    "ScratchDetection",
    "GlobalRestorer",
    "GlobalResult",
    "detect_scratches",
    "restore_global",
    "official_mask_png",
    "as_rgb_uint8",
    "MEMBERS",
]

WEIGHTS_ID = "bopbtl-global"
_FETCH = f"python -m restoration_lib weights fetch {WEIGHTS_ID}"

#: key -> (member path inside ``global_checkpoints.zip``, network name), read from the weights registry
#: (registry.toml's ``[[bopbtl-global.members]]``, the only place the paths are written)
MEMBERS: dict[str, tuple[str, str]] = models.members(WEIGHTS_ID)

Mode = Literal["quality", "scratch", "hr"]
SizeMode = Literal["full", "scale_256"]
CheckpointSource = Union[str, Path, Mapping[str, Any], None]


# ---------------------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------------------


class GlobalCheckpoints:
    """Where the members of ``global_checkpoints.zip`` are, and how to load them into networks.

    Args:
        source: the zip itself; a folder holding its unpacked ``checkpoints/`` tree (the official ``Global/``
            folder, the folder above it, or ``checkpoints/`` itself); a mapping from the keys of :data:`MEMBERS`
            to state_dicts, file paths or ready modules (tests, custom files); or ``None`` to use the weights
            registry (``restoration_lib.weights``, id ``bopbtl-global``).
        weights_dir: the weights folder used when ``source`` is ``None``.

    Raises:
        MissingWeightsError: (when a member is loaded) the file is not there; the message names the member,
            the places searched and the command that downloads it.
    """

    def __init__(self, source: CheckpointSource = None, weights_dir: Union[str, Path, None] = None):
        self.source = source
        self.weights_dir = weights_dir

    def load(self, key: str, device: DeviceLike = "cpu", dtype: torch.dtype = torch.float32) -> nn.Module:
        """Build and load network ``key`` (a key of :data:`MEMBERS`) in eval mode."""
        if key not in MEMBERS:
            raise ValueError(f"unknown BOPBTL global checkpoint {key!r}; known: {', '.join(MEMBERS)}")
        member, name = MEMBERS[key]
        src = self.source
        if isinstance(src, Mapping):
            if key not in src:
                raise MissingWeightsError(
                    f"no checkpoint for {key!r} ({member}) among the given ones ({', '.join(map(str, src))})"
                )
            item = src[key]
            if isinstance(item, nn.Module):
                return item.to(device=pick_device(device), dtype=dtype).eval().requires_grad_(False)
            return models.load(name, item, device, dtype=dtype)
        if src is not None:
            path = Path(src).expanduser()
            if not has_member(path, member):
                raise MissingWeightsError(
                    f"{member} (needed by {name}) is not in {path}: expected the published global_checkpoints.zip, "
                    f"or the folder it was unzipped into (holding checkpoints/...).\nGet the archive with:  {_FETCH}"
                )
        return models.load(name, src, device, dtype=dtype, weights_dir=self.weights_dir, member=key)


# ---------------------------------------------------------------------------------------------------------------
# Image conventions of the official scripts
# ---------------------------------------------------------------------------------------------------------------


def as_rgb_uint8(image: Any) -> np.ndarray:
    """Any supported image → ``(H, W, 3)`` uint8 RGB.

    Accepts what :func:`restoration_lib.io.read_image` reads (a path, bytes, a PIL image, an ``(H, W)``,
    ``(H, W, 3)`` or ``(H, W, 4)`` uint8/uint16/float array, a ``LoadedImage``) and ``(1, 3, H, W)`` /
    ``(3, H, W)`` float tensors in [0, 1]. Alpha is dropped.

    Raises:
        ImageReadError: unreadable file or unsupported array.
    """
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return image
    if isinstance(image, torch.Tensor):
        t = image.detach().float().cpu()
        t = t[0] if t.ndim == 4 and t.shape[0] == 1 else t
        image = (t.permute(1, 2, 0) if t.ndim == 3 and t.shape[0] in (1, 3) else t).numpy()
    return read_image(image).rgb


def _target_size(w: int, h: int, multiple: int, size_mode: SizeMode) -> tuple[int, int]:
    if size_mode == "full":
        return round_to_multiple(w, multiple), round_to_multiple(h, multiple)
    if size_mode != "scale_256":
        raise ValueError(f"size_mode must be 'full' or 'scale_256', got {size_mode!r}")
    # official "scale" rule: the short side becomes 256 and the long side keeps the aspect ratio, both then rounded
    if w < h:
        return round_to_multiple(256, multiple), round_to_multiple(h / w * 256, multiple)
    return round_to_multiple(w / h * 256, multiple), round_to_multiple(256, multiple)


def _resize_rule(rgb: np.ndarray, multiple: int, size_mode: SizeMode, resample: int) -> np.ndarray:
    """The official ``data_transforms``: PIL resize to the rounded size, only when the size changes."""
    h, w = rgb.shape[:2]
    tw, th = _target_size(w, h, multiple, size_mode)
    if tw < multiple or th < multiple:
        raise ImageReadError(f"image of {w}x{h} pixels is too small (at least {multiple} pixels a side after rounding)")
    if (tw, th) == (w, h):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((tw, th), resample))


def _to_tensor(u8: np.ndarray) -> torch.Tensor:
    """torchvision ``ToTensor`` + ``Normalize(0.5, 0.5)``: ``(u8/255 - 0.5)/0.5`` in float32, ``(1, C, H, W)``."""
    t = torch.from_numpy(np.array(u8))  # a writable copy
    t = (t[:, :, None] if t.ndim == 2 else t).permute(2, 0, 1).float().div(255)
    return t.sub_(0.5).div_(0.5)[None]


def save_image_uint8(t: torch.Tensor, normalize: bool) -> np.ndarray:
    """What torchvision's ``save_image(t, nrow=1, padding=0, normalize=...)`` writes, as ``(H, W, 3)`` uint8.

    With ``normalize`` the whole tensor is min-max stretched, ``(x - min)/max(max - min, 1e-5)`` (official quirk:
    a constant tensor, e.g. an all-ones mask, becomes black); then ``uint8(clamp(x*255 + 0.5, 0, 255))``.
    """
    t = t.detach().to("cpu", torch.float32)
    if t.ndim == 4:
        t = t[0]
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    t = t.clone()
    if normalize:
        low, high = float(t.min()), float(t.max())
        t.clamp_(min=low, max=high)
        t.sub_(low).div_(max(high - low, 1e-5))
    return t.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()


def official_mask_png(mask: np.ndarray) -> np.ndarray:
    """The mask as ``detection.py`` saves it: ``(H, W, 3)`` 0/255, min-max stretched.

    Official quirk kept here on purpose: a mask that marks *every* pixel is saved black, i.e. as "no scratch".
    """
    m = torch.from_numpy((_mask01(mask) > 0).astype(np.float32))[None]
    return save_image_uint8(m, normalize=True)


def _mask01(mask: Any) -> np.ndarray:
    """A mask as float32 ``(H, W)`` in [0, 1] (1 = scratch); bool, 0/1 or 0..255 uint8, float, or 3 channels."""
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[:, :, 0]
    if m.ndim != 2:
        raise ValueError(f"expected an (H, W) or (H, W, 3) scratch mask, got shape {m.shape}")
    if m.dtype == bool:
        return m.astype(np.float32)
    if m.dtype == np.uint8:
        return m.astype(np.float32) / (1.0 if m.max() <= 1 else 255.0)
    m = m.astype(np.float32)
    if m.min() < 0 or m.max() > 1:
        raise ValueError(f"a float scratch mask must lie in [0, 1], got [{m.min()}, {m.max()}]")
    return m


def _progress(enabled: bool, desc: str):
    if not enabled:
        return None, lambda: None
    from tqdm.auto import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "b" not in bar:
            bar["b"] = tqdm(total=total, desc=desc, leave=False)
        bar["b"].n = done
        bar["b"].refresh()

    def close() -> None:
        if "b" in bar:
            bar["b"].close()

    return update, close


# ---------------------------------------------------------------------------------------------------------------
# Scratch detection
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class ScratchDetection:
    """Result of :class:`ScratchDetector`.

    Attributes:
        mask: ``(H, W)`` uint8, 255 on scratches, at the detector's working size (see ``image``).
        image: ``(H, W, 3)`` uint8, the input resized as ``detection.py`` does (sides multiples of 16); the
            scratch-mode restoration works on this image.
        probability: ``(H, W)`` float32 sigmoid of the logits (nearest-resized to ``image``'s size).
        logits: ``(1, 1, h, w)`` float32 network output at the network's input size.
    """

    mask: np.ndarray
    image: np.ndarray
    probability: np.ndarray
    logits: np.ndarray

    @property
    def official_png(self) -> np.ndarray:
        """The mask as the official script writes it (``(H, W, 3)``; an all-scratch mask is written black)."""
        return official_mask_png(self.mask)


class ScratchDetector:
    """The scratch detector of ``Global/detection.py``.

    Args:
        checkpoints: where ``global_checkpoints.zip`` is (see :class:`GlobalCheckpoints`), or ``None``.
        weights_dir: the weights folder (when ``checkpoints`` is ``None``).
        device: ``None`` picks CUDA, then MPS, then CPU.
        precision: ``"exact"`` (float32) or ``"fast"`` (bfloat16 on CPUs with native bf16, float16 on GPUs).
        threshold: sigmoid threshold (official 0.4, ``>=``).

    Example:
        >>> det = ScratchDetector("weights/bopbtl/global_checkpoints.zip")  # doctest: +SKIP
        >>> mask = det(photo).mask  # doctest: +SKIP
    """

    def __init__(
        self,
        checkpoints: CheckpointSource = None,
        *,
        weights_dir: Union[str, Path, None] = None,
        device: DeviceLike = None,
        precision: str = "exact",
        threshold: float = 0.4,
    ):
        self.device = pick_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.threshold = threshold
        self.net = GlobalCheckpoints(checkpoints, weights_dir).load("detection", self.device, self.dtype)

    @torch.inference_mode()
    @full_fp32_method
    def __call__(self, image: Any, *, size_mode: SizeMode = "full") -> ScratchDetection:
        """Detect scratches.

        Args:
            image: ``(H, W, 3)`` uint8 RGB (or anything :func:`as_rgb_uint8` accepts).
            size_mode: ``"full"`` (run.py's ``--input_size full_size``: each side rounded to a multiple of 16) or
                ``"scale_256"`` (detection.py's default: short side 256).
        """
        rgb = as_rgb_uint8(image)
        # official data_transforms: PIL BICUBIC to multiples of 16, only when that changes the size
        rgb = _resize_rule(rgb, 16, size_mode, Image.BICUBIC)
        gray = np.asarray(Image.fromarray(rgb).convert("L"))  # PIL's integer luma, as detection.py converts
        x = _to_tensor(gray)
        h, w = x.shape[2:]
        # official scale_tensor: short side 256, long side round(long/short*256/16)*16, bilinear (no antialias)
        if h < w:
            size = (256, round_to_multiple(w / h * 256, 16))
        else:
            size = (round_to_multiple(h / w * 256, 16), 256)
        xs = F.interpolate(x, list(size), mode="bilinear", align_corners=False)
        logits = self.net(xs.to(self.device, self.dtype)).float().cpu()
        prob = F.interpolate(torch.sigmoid(logits), [h, w], mode="nearest")
        mask = (prob >= self.threshold)[0, 0].numpy().astype(np.uint8) * 255
        return ScratchDetection(mask=mask, image=rgb, probability=prob[0, 0].numpy(), logits=logits.numpy())


# ---------------------------------------------------------------------------------------------------------------
# Global restoration
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class GlobalResult:
    """Result of :class:`GlobalRestorer`.

    Attributes:
        image: ``(H, W, 3)`` uint8, the restored photo as the official script saves it (min-max stretched).
        raw: ``(3, H, W)`` float32, ``(decoder output + 1)/2`` before the stretch.
        input: ``(H, W, 3)`` uint8, the photo the networks saw (resized for ``"quality"``; the official
            ``origin/`` output).
        holed: ``(H, W, 3)`` uint8 or None, the scratch modes' input with mask pixels set to white.
        model_mask: ``(H, W)`` uint8 (0/1) or None, the mask as it reached the network (after HR dilation).
        mode: the restoration mode.
    """

    image: np.ndarray
    raw: np.ndarray
    input: np.ndarray
    holed: Optional[np.ndarray]
    model_mask: Optional[np.ndarray]
    mode: str


class GlobalRestorer:
    """Global restoration of ``Global/test.py``, with memory bounded for large photos.

    Args:
        mode: ``"quality"`` (no scratches), ``"scratch"`` (masked non-local mapping) or ``"hr"`` (patch
            attention, the official ``--HR``).
        checkpoints: where ``global_checkpoints.zip`` is (see :class:`GlobalCheckpoints`), or ``None``.
        weights_dir: the weights folder (when ``checkpoints`` is ``None``).
        device: ``None`` picks CUDA, then MPS, then CPU.
        precision: ``"exact"`` (float32, the official numbers) or ``"fast"``.
        memory: a :class:`~restoration_lib.repair.lowmem.MemoryPlan`; the default keeps a 3000×2000 scratched
            photo under about 4 GB.
        progress: show a progress bar for the non-local attention of large photos.
    """

    def __init__(
        self,
        mode: Mode = "quality",
        checkpoints: CheckpointSource = None,
        *,
        weights_dir: Union[str, Path, None] = None,
        device: DeviceLike = None,
        precision: str = "exact",
        memory: Optional[lowmem.MemoryPlan] = None,
        progress: bool = True,
    ):
        if mode not in ("quality", "scratch", "hr"):
            raise ValueError(f"mode must be 'quality', 'scratch' or 'hr', got {mode!r}")
        self.mode = mode
        self.device = pick_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.memory = memory or lowmem.MemoryPlan()
        self.progress = progress
        ck = GlobalCheckpoints(checkpoints, weights_dir)
        keys = {
            "quality": ("vae_a", "mapping_quality", "vae_b_quality"),
            "scratch": ("vae_a", "mapping_scratch", "vae_b_scratch"),
            "hr": ("vae_a", "mapping_hr", "vae_b_scratch"),
        }[mode]
        self.vae_a, self.mapping, self.vae_b = (ck.load(k, self.device, self.dtype) for k in keys)

    @torch.inference_mode()
    @full_fp32_method
    def __call__(self, image: Any, mask: Any = None, *, size_mode: SizeMode = "full") -> GlobalResult:
        """Restore a photo.

        Args:
            image: ``(H, W, 3)`` uint8 RGB (or anything :func:`as_rgb_uint8` accepts).
            mask: scratch modes only: ``(H, W)`` or ``(H, W, 3)``; bool, uint8 0/255 (or 0/1) or float in [0, 1];
                1/255 = scratch. Usually :attr:`ScratchDetection.mask`, with ``image`` = :attr:`ScratchDetection.image`.
            size_mode: quality mode only: ``"full"`` (run.py's ``--test_mode Full``: sides rounded to multiples of
                4, PIL BILINEAR) or ``"scale_256"`` (``--test_mode Scale``).

        Returns:
            :class:`GlobalResult`.
        """
        rgb = as_rgb_uint8(image)
        holed = model_mask = None
        if self.mode == "quality":
            if mask is not None:
                raise ValueError("mode 'quality' takes no mask; use mode='scratch' or 'hr' for scratched photos")
            rgb = _resize_rule(rgb, 4, size_mode, Image.BILINEAR)
            x = _to_tensor(rgb)
            m = None
        else:
            if mask is None:
                raise ValueError(f"mode {self.mode!r} needs the scratch mask (e.g. ScratchDetector(...)(image).mask)")
            m01 = _mask01(mask)
            if m01.shape != rgb.shape[:2]:
                raise ValueError(f"mask is {m01.shape[1]}x{m01.shape[0]}, image is {rgb.shape[1]}x{rgb.shape[0]}")
            rgb, m01 = _scratch_size(rgb, m01)
            # official test.py reads the mask PNG as 8-bit RGB
            m8 = np.repeat(np.rint(m01 * 255).astype(np.uint8)[:, :, None], 3, axis=2)
            if self.mode == "hr":
                import cv2

                # official --HR: 3x3 dilation, 3 iterations, before holing the image
                m8 = cv2.dilate(m8, np.ones((3, 3), np.uint8), iterations=3)
            holed = _hole(rgb, m8)
            x = _to_tensor(holed)
            m = torch.from_numpy(m8[:, :, 0]).float().div(255)[None, None]  # ToTensor(mask)[:1]
            model_mask = (m8[:, :, 0] > 0).astype(np.uint8)
            if self.mode == "hr":
                _check_hr_mask(m)
        box = [x.to(self.device, self.dtype)]
        del x  # only the box holds the input tensor, so it is freed as soon as the encoder has read it
        g = self._run(box, None if m is None else m.to(self.device, self.dtype))
        raw = (g.float().cpu() + 1.0) / 2.0  # official: save_image((generated + 1) / 2, normalize=True)
        return GlobalResult(
            image=save_image_uint8(raw, normalize=True),
            raw=raw[0].numpy(),
            input=rgb,
            holed=holed,
            model_mask=model_mask,
            mode=self.mode,
        )

    def _run(self, box: list, m: Optional[torch.Tensor]) -> torch.Tensor:
        plan = self.memory
        update, close = _progress(self.progress, "BOPBTL non-local attention")
        if update is not None:
            plan = replace(plan, progress=update)
        try:
            z = lowmem.run(self.vae_a.encoder, box.pop(), plan)
            z = lowmem.run(self.mapping, z, plan, m)
            return lowmem.run(self.vae_b.decoder, z, plan)
        finally:
            close()


def _hole(rgb: np.ndarray, m8: np.ndarray, rows: int = 256) -> np.ndarray:
    """The official ``irregular_hole_synthesize``: ``uint8(img * (1 - m/255) + m/255 * 255)`` in float64.

    Masked pixels become white. Computed in bands of rows so that large photos need no full float64 copies.
    """
    out = np.empty_like(rgb)
    for r0 in range(0, rgb.shape[0], rows):
        mf = m8[r0 : r0 + rows].astype(np.float64) / 255
        out[r0 : r0 + rows] = (rgb[r0 : r0 + rows].astype(np.float64) * (1 - mf) + mf * 255).astype(np.uint8)
    return out


def _check_hr_mask(m: torch.Tensor) -> None:
    """HR patch attention needs at least one clean patch at every scale (the official code fails otherwise)."""
    size = (m.shape[2] // 4, m.shape[3] // 4)
    lat = patch_attention_mask(m.float(), size)[0, 0]
    for p in (8, 4, 2):
        flags = masked_patch_flags(lat, p)
        if flags.numel() and bool(flags.all()):
            raise RestorationError(
                f"the scratch mask covers every {4 * p}x{4 * p}-pixel block (more than 60% of each), so HR patch "
                "attention has no clean patch to copy from (the official code skips such a photo); use "
                "mode='scratch' or a smaller mask"
            )


def _scratch_size(rgb: np.ndarray, m01: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scratch modes work on the detector's image (sides multiples of 16), which test.py does not resize.

    Other sizes are brought to that size the way the official chain does (detection.py's full_size rule, PIL
    BICUBIC); the mask follows with nearest-neighbour sampling.
    """
    h, w = rgb.shape[:2]
    if h % 4 == 0 and w % 4 == 0:
        return rgb, m01
    rgb2 = _resize_rule(rgb, 16, "full", Image.BICUBIC)
    m2 = np.asarray(Image.fromarray(m01).resize((rgb2.shape[1], rgb2.shape[0]), Image.NEAREST))
    return rgb2, m2


# ---------------------------------------------------------------------------------------------------------------
# One-call functions
# ---------------------------------------------------------------------------------------------------------------

_CACHE: dict[tuple, Any] = {}


def _cached(kind: type, key: tuple, *args, **kwargs):
    k = (kind.__name__,) + key
    if k not in _CACHE:
        if len(_CACHE) >= 2:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[k] = kind(*args, **kwargs)
    return _CACHE[k]


def _source_key(checkpoints: CheckpointSource) -> Any:
    return id(checkpoints) if isinstance(checkpoints, Mapping) else str(checkpoints)


def detect_scratches(
    image: Any,
    *,
    checkpoints: CheckpointSource = None,
    weights_dir: Union[str, Path, None] = None,
    device: DeviceLike = None,
    precision: str = "exact",
    size_mode: SizeMode = "full",
) -> np.ndarray:
    """The scratch mask of a photo: ``(H', W')`` uint8, 255 on scratches (sides rounded to multiples of 16).

    One-call form of :class:`ScratchDetector` (the loaded network is cached for the next call). Unlike the saved
    PNG of the official script, an all-scratch mask is returned as it is (see :func:`official_mask_png`).
    """
    det = _cached(
        ScratchDetector, (_source_key(checkpoints), str(weights_dir), str(device), precision),
        checkpoints, weights_dir=weights_dir, device=device, precision=precision,
    )  # fmt: skip
    return det(image, size_mode=size_mode).mask


def restore_global(
    image: Any,
    mask: Any = None,
    mode: Mode = "quality",
    *,
    checkpoints: CheckpointSource = None,
    weights_dir: Union[str, Path, None] = None,
    device: DeviceLike = None,
    precision: str = "exact",
    size_mode: SizeMode = "full",
    progress: bool = True,
) -> np.ndarray:
    """The globally restored photo, ``(H', W', 3)`` uint8, as the official script saves it.

    One-call form of :class:`GlobalRestorer` (the loaded networks are cached for the next call). ``mask`` is
    needed by modes ``"scratch"`` and ``"hr"`` and must match ``image``'s size.
    """
    gr = _cached(
        GlobalRestorer, (mode, _source_key(checkpoints), str(weights_dir), str(device), precision, progress),
        mode, checkpoints, weights_dir=weights_dir, device=device, precision=precision, progress=progress,
    )  # fmt: skip
    return gr(image, mask, size_mode=size_mode).image
