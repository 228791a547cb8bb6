"""Stages 2–4 of "Bringing Old Photos Back to Life": find and align faces, enhance them, blend them back.

>>> faces = detect_and_align(image)                     # doctest: +SKIP
>>> enhancer = FaceEnhancer(size=256)                   # doctest: +SKIP
>>> better = [enhancer(f.crop) for f in faces]          # doctest: +SKIP
>>> out = blend_faces(image, faces, better)             # doctest: +SKIP

Each function reproduces what the corresponding official script computes (microsoft/Bringing-Old-Photos-
Back-to-Life, ``Face_Detection/detect_all_dlib.py`` and ``_HR``, ``Face_Enhancement/test_face.py``,
``Face_Detection/align_warp_back_multiple_dlib.py`` and ``_HR``), in process and on arrays:

- :func:`detect_and_align`: dlib's HOG frontal face detector (no upsampling) and the 68-landmark predictor;
  five points (eye centres truncated to integers, nose tip, mouth corners); the official template scaled by
  1.3 into an S×S crop (S = 256, or 512 in HR mode); scikit-image's least-squares similarity transform and
  its bilinear warp, quantised with ``img_as_ubyte``.
- :class:`FaceEnhancer`: the SPADE face generator (:mod:`restoration_lib.archs.bopbtl_face`) on the crop,
  resized to S×S with PIL bicubic when it is not already that size, normalised to ``[-1, 1]``, quantised
  back as ``torchvision.utils.save_image`` does (``uint8(clamp(x*255 + 0.5, 0, 255))``).
- :func:`blend_faces`: per face, in detection order: histogram-match the enhanced face to the truncated
  uint8 bilinear crop of the current image, warp it back with a bicubic inverse warp, warp an all-ones mask
  there and back with nearest sampling, erode it (9×9, 3 iterations), blur it (Gaussian 25×25, sigma from
  the size), and alpha-blend. Like the fixture run, the warped-back mask is cast to float64 (the unpatched
  official script crashes on it with scikit-image >= 0.19, upstream issue #266).

The crops, matrices and blended images match the official outputs bit for bit on the reference fixtures
(``shared/reference/bopbtl``). For speed and memory, :func:`blend_faces` does the full-image warps only over
a window around each face (everything outside it is provably untouched by that face); this is the one
departure from the official code's order of operations, and it changes no output value on the fixtures.

dlib is imported lazily (install the ``dlib-bin`` wheel). The 68-landmark model
``shape_predictor_68_face_landmarks.dat`` comes from the weights manager (``dlib-landmarks-68``) or from the
PyPI package ``face_recognition_models==0.3.0``.
"""
from __future__ import annotations

import functools
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import nn

from ..device import DeviceLike, full_fp32_method, pick_device, resolve_dtype
from ..errors import MissingWeightsError
from ._arrays import as_rgb_uint8

__all__ = [
    "AlignedFace",
    "detect_and_align",
    "detect_faces",
    "align_face",
    "face_transform",
    "locate_landmarks_model",
    "landmarks_path",
    "FaceEnhancer",
    "blend_faces",
    "match_histograms_official",
]

LANDMARKS_FILE = "shape_predictor_68_face_landmarks.dat"
LANDMARKS_ID = "dlib-landmarks-68"
FACE_WEIGHTS_ID = "bopbtl-face"

# The official 5-point template on a 512 grid: left eye, right eye, nose tip, left and right mouth corners.
_TEMPLATE = np.array([196.0, 226.0, 316.0, 226.0, 256.0, 286.0, 220.0, 360.4, 292.0, 360.4], np.float32)
_FACE_SCALE = 1.3


def _check_sizes(size: int) -> int:
    if size not in (256, 512):
        raise ValueError(f"size must be 256 (standard) or 512 (HR mode); got {size!r}")
    return int(size)


# --------------------------------------------------------------------------------------------------------
# Stage 2: detection and alignment
# --------------------------------------------------------------------------------------------------------


@dataclass
class AlignedFace:
    """One detected face and its aligned crop.

    Attributes:
        box: dlib's detection rectangle ``(left, top, right, bottom)`` in image pixels.
        landmarks: ``(68, 2)`` int64 landmark positions ``(x, y)`` (x = column, y = row).
        points5: ``(5, 2)`` int64 alignment points: left eye, right eye, nose tip, mouth corners.
        affine: ``(2, 3)`` float64 matrix mapping homogeneous image pixels ``(x, y, 1)`` to crop pixels.
        crop: ``(size, size, 3)`` uint8 RGB aligned face.
        crop_to_image: ``(3, 3)`` float64 matrix mapping crop pixels to image pixels, exactly as
            scikit-image estimated it (the warps use this one; ``affine`` is its inverse).
        size: crop size, 256 or 512.
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    points5: np.ndarray
    affine: np.ndarray
    crop: np.ndarray
    crop_to_image: np.ndarray = field(repr=False)
    size: int = 256


def _import_dlib():
    try:
        import dlib  # noqa: PLC0415
    except ImportError as e:
        raise ImportError(
            "face detection needs dlib; install the prebuilt wheel with `pip install dlib-bin` "
            "(or `pip install restoration-lib[faces]`)"
        ) from e
    return dlib


def locate_landmarks_model(path: Union[str, Path, None] = None, weights_dir: Union[str, Path, None] = None) -> Path:
    """Locate ``shape_predictor_68_face_landmarks.dat``.

    Looks at ``path`` if given, then asks the weights manager (id ``dlib-landmarks-68``), then the installed
    PyPI package ``face_recognition_models``.

    Raises:
        MissingWeightsError: not found anywhere; the message lists where it looked and how to get it.
    """
    if path is not None:
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / LANDMARKS_FILE
        if not p.is_file():
            raise MissingWeightsError(
                f"{LANDMARKS_FILE}: no such file at {p}; get it with: python -m restoration_lib weights fetch "
                f"{LANDMARKS_ID}  (or pip install face_recognition_models==0.3.0)"
            )
        return p
    from .. import weights  # noqa: PLC0415

    looked: list[str] = []
    try:
        return weights.find(LANDMARKS_ID, weights_dir)
    except MissingWeightsError as e:
        looked.append(str(e).splitlines()[0])
    spec = importlib.util.find_spec("face_recognition_models")  # finding it does not import it
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            cand = Path(loc) / "models" / LANDMARKS_FILE
            if cand.is_file():
                return cand
            looked.append(str(cand))
    else:
        looked.append("the Python package face_recognition_models (not installed)")
    raise MissingWeightsError(
        f"{LANDMARKS_FILE} (dlib's 68-point face landmark model) was not found. Looked in: "
        + "; ".join(looked)
        + f". Get it with: python -m restoration_lib weights fetch {LANDMARKS_ID}  "
        "(or: pip install face_recognition_models==0.3.0)"
    )


#: The name the Restorer uses for :func:`locate_landmarks_model`.
landmarks_path = locate_landmarks_model


@functools.lru_cache(maxsize=2)
def _predictor(path: str):
    return _import_dlib().shape_predictor(path)


@functools.lru_cache(maxsize=1)
def _detector():
    return _import_dlib().get_frontal_face_detector()


def _target_points(size: int) -> np.ndarray:
    """The template in crop pixels, computed in float32 exactly as the official scripts do."""
    std = np.reshape(_TEMPLATE / 256.0 - 1.0, (5, 2))
    return (std * _FACE_SCALE + 1) / 2 * float(size)


def _five_points(landmarks: np.ndarray) -> np.ndarray:
    p = [(int(x), int(y)) for x, y in landmarks]
    eye_l = (int((p[36][0] + p[39][0]) / 2), int((p[36][1] + p[39][1]) / 2))  # int(): truncation toward zero
    eye_r = (int((p[42][0] + p[45][0]) / 2), int((p[42][1] + p[45][1]) / 2))
    return np.array([eye_l, eye_r, p[30], p[48], p[54]])


def face_transform(points5: np.ndarray, size: int = 256):
    """scikit-image ``SimilarityTransform`` mapping crop pixels to image pixels (least squares, 5 points).

    Returns None when the estimate is degenerate (NaN), e.g. all five points at one place.
    """
    from skimage.transform import SimilarityTransform  # noqa: PLC0415

    src = _target_points(_check_sizes(size))
    dst = np.asarray(points5)
    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
        tform = SimilarityTransform.from_estimate(src, dst)
        if not tform:
            return None
    else:  # older scikit-image
        tform = SimilarityTransform()
        if not tform.estimate(src, dst):
            return None
    if not np.all(np.isfinite(tform.params)):
        return None
    return tform


def detect_faces(image_rgb_uint8: np.ndarray, landmarks_path: Union[str, Path, None] = None,
                 weights_dir: Union[str, Path, None] = None) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """dlib HOG detection (no upsampling) and 68 landmarks per face, in detector order.

    Returns:
        ``[(box (l, t, r, b), landmarks (68, 2) int64), ...]``.
    """
    image = as_rgb_uint8(image_rgb_uint8)
    predictor = _predictor(str(locate_landmarks_model(landmarks_path, weights_dir)))
    out = []
    for rect in _detector()(image):
        shape = predictor(image, rect)
        lm = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=np.int64)
        out.append(((int(rect.left()), int(rect.top()), int(rect.right()), int(rect.bottom())), lm))
    return out


def align_face(image_rgb_uint8: np.ndarray, landmarks: np.ndarray, size: int = 256,
               box: tuple[int, int, int, int] = (0, 0, 0, 0)) -> Optional[AlignedFace]:
    """Align one face from its 68 landmarks (the official 5-point similarity alignment).

    Returns None when the landmarks give a degenerate transform.
    """
    from skimage import img_as_ubyte  # noqa: PLC0415
    from skimage.transform import warp  # noqa: PLC0415

    image = as_rgb_uint8(image_rgb_uint8)
    size = _check_sizes(size)
    landmarks = np.asarray(landmarks, dtype=np.int64)
    if landmarks.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2); got {landmarks.shape}")
    pts = _five_points(landmarks)
    tform = face_transform(pts, size)
    if tform is None:
        return None
    m = np.array(tform.params, dtype=np.float64)
    crop = img_as_ubyte(warp(image, m, output_shape=(size, size, 3)))
    return AlignedFace(box=tuple(int(v) for v in box), landmarks=landmarks, points5=pts,
                       affine=np.linalg.inv(m)[:2].copy(), crop=crop, crop_to_image=m, size=size)


def detect_and_align(image_rgb_uint8: np.ndarray, size: int = 256, landmarks_path: Union[str, Path, None] = None,
                     weights_dir: Union[str, Path, None] = None) -> list[AlignedFace]:
    """Find every frontal face and cut out its aligned crop (stage 2 of the official pipeline).

    Args:
        image_rgb_uint8: ``(H, W, 3)`` uint8 RGB image (``(H, W)`` gray is accepted).
        size: crop size, 256 (standard) or 512 (HR mode).
        landmarks_path: ``shape_predictor_68_face_landmarks.dat`` (default: weights manager, then the
            ``face_recognition_models`` package).
        weights_dir: folder the weights manager searches.

    Returns:
        One :class:`AlignedFace` per face, in dlib's detection order (crop k is the official ``<name>_k``).
        Faces smaller than about 80 px are not detected (dlib's HOG detector without upsampling).

    Raises:
        ImportError: dlib is not installed (``pip install dlib-bin``).
        MissingWeightsError: the landmark model is not found.
    """
    size = _check_sizes(size)
    image = as_rgb_uint8(image_rgb_uint8)
    faces = []
    for box, lm in detect_faces(image, landmarks_path, weights_dir):
        face = align_face(image, lm, size, box)
        if face is not None:
            faces.append(face)
    return faces


# --------------------------------------------------------------------------------------------------------
# Stage 3: face enhancement
# --------------------------------------------------------------------------------------------------------


class FaceEnhancer:
    """The official face-enhancement test path (``Face_Enhancement/test_face.py``) on aligned crops.

    Args:
        size: 256 (checkpoint ``Setting_9_epoch_100``) or 512 (``FaceSR_512``, HR mode).
        checkpoint: the published ``face_checkpoints.zip``, the folder it was unpacked into, the
            ``latest_net_G.pth`` file itself, an in-memory state_dict, or a ready
            :class:`~restoration_lib.archs.bopbtl_face.SPADEGenerator` (moved to ``device``/``dtype`` in
            place). ``None``: the weights manager's ``bopbtl-face`` archive (its member is unpacked once).
        device: where to run (default: CUDA → MPS → CPU).
        precision: ``"exact"`` (float32, reproduces the official numbers) or ``"fast"``.
        dtype: explicit compute dtype, overriding ``precision``.
        weights_dir: folder the weights manager searches.

    Raises:
        MissingWeightsError: no checkpoint given and none found (never falls back to random weights).
        CheckpointError: the file does not hold this network.
    """

    def __init__(self, size: int = 256, checkpoint: Union[str, Path, Mapping[str, Any], nn.Module, None] = None,
                 device: DeviceLike = None, dtype: Optional[torch.dtype] = None, precision: str = "exact",
                 weights_dir: Union[str, Path, None] = None):
        from .. import models  # noqa: PLC0415

        self.size = _check_sizes(size)
        self.device = pick_device(device)
        self.dtype = dtype if dtype is not None else resolve_dtype(precision, self.device)
        name = f"bopbtl-face-{self.size}"
        if isinstance(checkpoint, nn.Module):
            net = checkpoint.eval().requires_grad_(False).to(device=self.device, dtype=self.dtype)
            if getattr(net, "size", self.size) != self.size:
                raise ValueError(f"the given network is built for {net.size}-px faces, not {self.size}")
        else:  # the published zip (or its folder, the file, a state_dict); None: the registry's, unpacked once
            net = models.load(name, checkpoint, self.device, dtype=self.dtype, weights_dir=weights_dir)
        self.net = net

    def _to_tensor(self, crop: np.ndarray) -> torch.Tensor:
        from PIL import Image  # noqa: PLC0415

        crop = as_rgb_uint8(crop, "crop")
        if crop.shape[:2] != (self.size, self.size):
            crop = np.asarray(Image.fromarray(crop).resize((self.size, self.size), Image.BICUBIC))
        t = torch.from_numpy(np.array(crop, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
        return t.sub(0.5).div(0.5)

    @torch.no_grad()
    @full_fp32_method
    def enhance(self, crops: Sequence[np.ndarray], batch_size: int = 1, progress: bool = True,
                raw: bool = False) -> list[np.ndarray]:
        """Enhance several crops, ``batch_size`` at a time (batch items are independent: eval batch norm).

        Args:
            crops: ``(H, W, 3)`` uint8 RGB aligned faces.
            batch_size: faces per forward pass.
            progress: show a progress bar.
            raw: return the float tensors the official script hands to ``save_image`` instead of 8-bit
                crops: ``(3, size, size)`` float32 ``(g + 1) / 2`` (about [0, 1]), unclamped.

        Returns:
            ``(size, size, 3)`` uint8 RGB crops (or the raw float arrays), in order.
        """
        from tqdm.auto import tqdm  # noqa: PLC0415

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        out: list[np.ndarray] = []
        starts = range(0, len(crops), batch_size)
        for i in tqdm(starts, desc="faces", disable=not progress or len(crops) <= 1):
            x = torch.stack([self._to_tensor(c) for c in crops[i:i + batch_size]])
            g = (self.net(x.to(device=self.device, dtype=self.dtype)).float().cpu() + 1) / 2
            if raw:
                out.extend(g.numpy())
                continue
            # torchvision.utils.save_image: x*255 + 0.5, clamp to [0, 255], truncate to uint8.
            u8 = g.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
            out.extend(u8.permute(0, 2, 3, 1).contiguous().numpy())
        return out

    def __call__(self, crop: np.ndarray) -> np.ndarray:
        """Enhance one aligned face.

        Args:
            crop: ``(H, W, 3)`` uint8 RGB aligned face (``size`` × ``size``; other sizes are resized with PIL
                bicubic first, as the official data loader does).

        Returns:
            ``(size, size, 3)`` uint8 RGB enhanced face.
        """
        return self.enhance([crop], batch_size=1, progress=False)[0]


# --------------------------------------------------------------------------------------------------------
# Stage 4: blending back
# --------------------------------------------------------------------------------------------------------


def match_histograms_official(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-channel histogram matching of uint8 ``source`` to uint8 ``reference`` (the official rule).

    256-bin histograms; each CDF is divided by its last value; each source level maps to the first
    reference level whose CDF is >= the source CDF.
    """
    out = np.empty_like(source)
    for c in range(source.shape[2]):
        src_cdf = np.bincount(source[..., c].ravel(), minlength=256).cumsum()
        ref_cdf = np.bincount(reference[..., c].ravel(), minlength=256).cumsum()
        src_cdf = src_cdf / float(src_cdf.max())
        ref_cdf = ref_cdf / float(ref_cdf.max())
        lut = np.searchsorted(ref_cdf, src_cdf, side="left").clip(0, 255).astype(np.uint8)
        out[..., c] = lut[source[..., c]]
    return out


def _face_window(m: np.ndarray, size: int, shape: tuple[int, int], margin: int = 32) -> tuple[int, int, int, int]:
    """Image rows/cols (r0, r1, c0, c1) outside which a face's mask, blur and warps are exactly zero."""
    s = float(size)
    corners = np.array([[-1.0, -1.0, 1.0], [s, -1.0, 1.0], [-1.0, s, 1.0], [s, s, 1.0]]) @ m.T
    xs, ys = corners[:, 0], corners[:, 1]
    h, w = shape
    c0 = int(np.clip(np.floor(xs.min()) - margin, 0, w))
    c1 = int(np.clip(np.ceil(xs.max()) + margin + 1, 0, w))
    r0 = int(np.clip(np.floor(ys.min()) - margin, 0, h))
    r1 = int(np.clip(np.ceil(ys.max()) + margin + 1, 0, h))
    return r0, r1, c0, c1


def blend_faces(image_rgb_uint8: np.ndarray, faces: Sequence[AlignedFace], enhanced_crops: Sequence[np.ndarray]) -> np.ndarray:
    """Paste enhanced faces back into the image (the official ``align_warp_back_multiple_dlib`` computation).

    Args:
        image_rgb_uint8: ``(H, W, 3)`` uint8 RGB image the faces were detected in.
        faces: the :class:`AlignedFace` list from :func:`detect_and_align` on this image.
        enhanced_crops: one ``(S, S, 3)`` uint8 RGB enhanced crop per face (S = the face's ``size``).

    Returns:
        ``(H, W, 3)`` uint8 RGB image with the faces blended in (the input is not modified). With no faces
        the image is returned unchanged (as a copy).
    """
    import cv2  # noqa: PLC0415
    from skimage.transform import warp  # noqa: PLC0415

    image = as_rgb_uint8(image_rgb_uint8)
    if len(faces) != len(enhanced_crops):
        raise ValueError(f"got {len(faces)} faces but {len(enhanced_crops)} enhanced crops")
    if not faces:
        return image.copy()
    h, w = image.shape[:2]
    blended = image.astype(np.float64)
    ones = np.ones((h, w, 3), dtype=np.uint8)
    for k, (face, crop) in enumerate(zip(faces, enhanced_crops)):
        s = int(face.size)
        crop = as_rgb_uint8(crop, f"enhanced_crops[{k}]")
        if crop.shape[:2] != (s, s):
            raise ValueError(f"enhanced_crops[{k}] must be {s}x{s}x3; got {crop.shape}")
        m = np.asarray(face.crop_to_image, dtype=np.float64)
        # Forward: the current image's crop (bilinear, 0..255 float) and where the crop sees the image.
        aligned = warp(image, m, output_shape=(s, s, 3), preserve_range=True)
        fmask = warp(ones, m, output_shape=(s, s, 3), order=0, preserve_range=True)
        matched = match_histograms_official(crop, aligned.astype(np.uint8))
        # Backward, restricted to the window that can receive this face (see _face_window).
        r0, r1, c0, c1 = _face_window(m, s, (h, w))
        if r1 <= r0 or c1 <= c0:
            continue
        inv = np.linalg.inv(m) @ np.array([[1.0, 0.0, c0], [0.0, 1.0, r0], [0.0, 0.0, 1.0]])
        back = warp(matched, inv, output_shape=(r1 - r0, c1 - c0, 3), order=3, preserve_range=True)
        bmask = warp(fmask, inv, output_shape=(r1 - r0, c1 - c0, 3), order=0, preserve_range=True)
        bmask = bmask.astype(np.float64) * 255.0  # the float64 cast of the fixture run (upstream #266)
        bmask = cv2.erode(bmask, np.ones((9, 9), np.uint8), iterations=3)
        bmask = cv2.GaussianBlur(bmask, (25, 25), 0) / 255.0
        win = blended[r0:r1, c0:c1]
        win[...] = back * bmask + (1 - bmask) * win
        blended /= 255.0
        np.clip(blended, 0.0, 1.0, out=blended)
        blended *= 255.0
    # img_as_ubyte(blended / 255): rint (half to even), clip.
    return np.clip(np.rint((blended / 255.0) * 255), 0, 255).astype(np.uint8)
