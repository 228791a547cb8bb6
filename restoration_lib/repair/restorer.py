"""The whole "Bringing Old Photos Back to Life" chain in one call: :class:`Restorer`.

Model mode follows ``run.py``:

1. stage 1, global restoration: without scratches ``test.py --test_mode Full --Quality_restore``; with
   scratches ``detection.py --input_size full_size`` then ``test.py --Scratch_and_Quality_restore``
   (``--HR`` adds the patch-attention mapping and the mask dilation);
2. faces are detected and aligned on the stage-1 image (256 px crops; 512 with ``hr``);
3. each face is enhanced by the SPADE face generator (``Setting_9_epoch_100``; ``FaceSR_512`` with ``hr``);
4. the enhanced faces are blended back into the stage-1 image.

Classical mode (no downloaded model) replaces stages 1, 3 and 4 by a classical scratch/dust detector with
inpainting, then gentle denoising (``denoise``) and contrast (``contrast``), three separate steps
(:func:`restoration_lib.repair.classical.classical_repair`); faces are still found and aligned with the real dlib
models and reported, but not changed, and the scratch detector gives them a conservative mask.
"""
from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import numpy as np
from PIL import Image

from ..device import pick_device, resolve_dtype
from ..errors import MissingWeightsError
from . import lowmem
from .global_restore import CheckpointSource, GlobalRestorer, ScratchDetector, as_rgb_uint8

__all__ = ["Restorer", "RepairResult", "FaceResult"]


@dataclass
class FaceResult:
    """One face found in the stage-1 image.

    Attributes:
        box: dlib's rectangle ``(left, top, right, bottom)`` in stage-1 pixels.
        landmarks: ``(68, 2)`` landmark positions ``(x, y)``.
        affine: ``(2, 3)`` matrix mapping stage-1 pixels ``(x, y, 1)`` to crop pixels.
        crop_before: ``(S, S, 3)`` uint8 aligned crop (S = 256, or 512 in HR mode).
        crop_after: ``(S, S, 3)`` uint8 enhanced crop; None in classical mode (faces are not changed there).
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    affine: np.ndarray
    crop_before: np.ndarray
    crop_after: Optional[np.ndarray] = None


@dataclass
class RepairResult:
    """Everything :class:`Restorer` produced for one photo.

    Attributes:
        image: ``(H, W, 3)`` uint8, the final photo; at the input's size when ``keep_size`` (default), else at
            the processing size.
        scratch_mask: ``(h, w)`` uint8, 255 on detected scratches, at the processing size; None without
            ``with_scratch``.
        stage1: ``(h, w, 3)`` uint8, the globally restored photo before face enhancement, at the processing
            size (the official stage-1 output: sides rounded to multiples of 4, or of 16 with scratches).
        faces: the faces found in ``stage1``, in detection order.
        mode: ``"model"`` or ``"classical"``.
        restore_mode: ``"quality"``, ``"scratch"``, ``"hr"`` (model mode) or ``"classical"``.
        input_size: ``(H, W)`` of the input.
    """

    image: np.ndarray
    scratch_mask: Optional[np.ndarray]
    stage1: np.ndarray
    faces: list[FaceResult] = field(default_factory=list)
    mode: str = "model"
    restore_mode: str = "quality"
    input_size: tuple[int, int] = (0, 0)


class Restorer:
    """Repair an old photo: global restoration (optionally with scratch removal), then face enhancement.

    Args:
        with_scratch: detect and remove scratches (the official ``--with_scratch``).
        hr: high-resolution mode (the official ``--HR``): patch-attention scratch removal and 512-px faces.
        faces: find, enhance and blend faces.
        mode: ``"model"`` (the published networks; needs ``global_checkpoints.zip`` and, with ``faces``,
            ``face_checkpoints.zip``) or ``"classical"`` (no download; see the module docstring).
        device: ``None`` picks CUDA, then MPS, then CPU.
        precision: ``"exact"`` (float32, the official numbers) or ``"fast"`` (bfloat16 on CPUs with native bf16, float16 on GPU).
        weights_dir: the weights folder (default: see ``restoration_lib.weights``).
        checkpoints: ``global_checkpoints.zip`` or the folder it was unzipped into (default: weights registry).
        face_checkpoints: ``face_checkpoints.zip`` or its folder (default: weights registry).
        progress: show progress bars.
        keep_size: return the final image at the input's size (the official chain returns it at the processing
            size, rounded to multiples of 4 or 16; ``False`` keeps that).
        memory: memory plan for large photos (see :class:`~restoration_lib.repair.lowmem.MemoryPlan`).
        denoise: classical mode only: denoising strength in [0, 3] (0 = off), a step separate from the
            scratch repair.
        contrast: classical mode only: contrast (CLAHE mix) in [0, 1] (0 = off), a separate step too.

    Raises:
        MissingWeightsError: a checkpoint of model mode is not on disk (raised here, before any photo). In
            classical mode a missing dlib or landmark model only skips the faces, with a warning.

    Example:
        >>> restorer = Restorer(with_scratch=True)  # doctest: +SKIP
        >>> result = restorer("old_photo.png")  # doctest: +SKIP
        >>> result.image.shape, len(result.faces)  # doctest: +SKIP
    """

    def __init__(
        self,
        with_scratch: bool = False,
        hr: bool = False,
        faces: bool = True,
        mode: Literal["model", "classical"] = "model",
        device: Any = None,
        precision: str = "exact",
        weights_dir: Union[str, Path, None] = None,
        checkpoints: CheckpointSource = None,
        face_checkpoints: Any = None,
        progress: bool = True,
        keep_size: bool = True,
        memory: Optional[lowmem.MemoryPlan] = None,
        denoise: float = 0.5,
        contrast: float = 0.5,
    ):
        if mode not in ("model", "classical"):
            raise ValueError(f"mode must be 'model' or 'classical', got {mode!r}")
        if not 0 <= denoise <= 3:
            raise ValueError(f"denoise must be in [0, 3]; got {denoise}")
        if not 0 <= contrast <= 1:
            raise ValueError(f"contrast must be in [0, 1]; got {contrast}")
        self.denoise, self.contrast = float(denoise), float(contrast)
        self.with_scratch, self.hr, self.faces, self.mode = bool(with_scratch), bool(hr), bool(faces), mode
        self.device = pick_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.weights_dir = weights_dir
        self.progress = progress
        self.keep_size = keep_size
        self.face_size = 512 if hr else 256
        self.detector: Optional[ScratchDetector] = None
        self.global_restorer: Optional[GlobalRestorer] = None
        self.enhancer = None
        self.landmarks = None
        if mode == "model":
            if with_scratch:
                self.detector = ScratchDetector(
                    checkpoints, weights_dir=weights_dir, device=self.device, precision=self.dtype
                )
            restore_mode = ("hr" if hr else "scratch") if with_scratch else "quality"
            self.global_restorer = GlobalRestorer(
                restore_mode, checkpoints, weights_dir=weights_dir, device=self.device, precision=self.dtype,
                memory=memory, progress=progress,
            )  # fmt: skip
        if faces:
            from . import faces as face_stage

            self._face_stage = face_stage
            try:
                if importlib.util.find_spec("dlib") is None:
                    raise ImportError("face detection needs dlib: pip install dlib-bin (or restoration-lib[faces])")
                self.landmarks = face_stage.landmarks_path(None, weights_dir)
            except (ImportError, MissingWeightsError) as e:
                if mode == "model":
                    raise
                # the classical mode must work without downloads: it then skips faces, and says so
                warnings.warn(f"classical mode: faces are not searched ({str(e).splitlines()[0]})", stacklevel=2)
                self.faces = False
            if mode == "model":
                self.enhancer = face_stage.FaceEnhancer(
                    self.face_size, face_checkpoints, device=self.device, dtype=self.dtype, weights_dir=weights_dir
                )

    def __call__(self, image: Any) -> RepairResult:
        """Repair one photo.

        Args:
            image: ``(H, W, 3)`` uint8 RGB array, a float array in [0, 1], a PIL image, a path or a
                ``restoration_lib.io.LoadedImage``.

        Returns:
            :class:`RepairResult`.
        """
        rgb = as_rgb_uint8(image)
        steps = ["stage 1", "faces"] if self.faces else ["stage 1"]
        from tqdm.auto import tqdm

        bar = tqdm(total=len(steps), desc="repair", disable=not self.progress, leave=False)
        try:
            bar.set_postfix_str("stage 1")
            if self.mode == "classical":
                stage1, mask, restore_mode = self._classical(rgb)
            else:
                stage1, mask, restore_mode = self._model_stage1(rgb)
            bar.update(1)
            final, faces = stage1, []
            if self.faces:
                bar.set_postfix_str("faces")
                final, faces = self._faces(stage1)
                bar.update(1)
        finally:
            bar.close()
        if self.keep_size and final.shape[:2] != rgb.shape[:2]:
            final = np.asarray(Image.fromarray(final).resize((rgb.shape[1], rgb.shape[0]), Image.BICUBIC))
        return RepairResult(
            image=final,
            scratch_mask=mask,
            stage1=stage1,
            faces=faces,
            mode=self.mode,
            restore_mode=restore_mode,
            input_size=(rgb.shape[0], rgb.shape[1]),
        )

    def _model_stage1(self, rgb: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray], str]:
        assert self.global_restorer is not None
        if self.detector is None:
            return self.global_restorer(rgb).image, None, "quality"
        det = self.detector(rgb)
        model_mask = det.mask
        if det.mask.size and det.mask.min() == 255:
            # Official quirk, kept: detection.py saves an all-scratch mask min-max stretched, i.e. black, so the
            # official chain restores such a photo as if it had no scratch (and HR mode could not run at all).
            warnings.warn(
                "the scratch detector marked every pixel; as in the official chain (which saves such a mask black),"
                " the photo is restored as if it had no scratch",
                stacklevel=3,
            )
            model_mask = np.zeros_like(det.mask)
        res = self.global_restorer(det.image, model_mask)
        return res.image, det.mask, self.global_restorer.mode

    def _classical(self, rgb: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray], str]:
        from .classical import classical_repair

        out, mask = classical_repair(rgb, with_scratch=self.with_scratch, denoise=self.denoise,
                                     contrast=self.contrast, faces=self.faces)
        return out, (mask if self.with_scratch else None), "classical"

    def _faces(self, stage1: np.ndarray) -> tuple[np.ndarray, list[FaceResult]]:
        fs = self._face_stage
        found = fs.detect_and_align(stage1, size=self.face_size, landmarks_path=self.landmarks)
        if not found:
            return stage1, []
        if self.enhancer is None:  # classical mode: faces are reported, not changed
            return stage1, [FaceResult(f.box, f.landmarks, f.affine, f.crop) for f in found]
        enhanced = self.enhancer.enhance([f.crop for f in found], batch_size=1, progress=self.progress)
        final = fs.blend_faces(stage1, found, enhanced)
        return final, [FaceResult(f.box, f.landmarks, f.affine, f.crop, e) for f, e in zip(found, enhanced)]
