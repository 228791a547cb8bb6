"""Reading every image a user may bring into one convention, and writing outputs safely.

The convention: RGB, ``uint8`` (H, W, 3) or ``float32`` in [0, 1]; the alpha channel, if any, apart; and whether
the source was grayscale. Every failure to read raises :class:`~restoration_lib.errors.ImageReadError` naming the
file and the reason. Writes go to a temporary file in the destination folder and are renamed into place, so a
reader never sees a half-written output, and they refuse to replace an input.
"""
from __future__ import annotations

import contextlib
import io as _io
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageReadError, ImageWriteError

__all__ = [
    "LoadedImage",
    "read_image",
    "write_image",
    "atomic_path",
    "to_tensor",
    "to_uint8",
    "MAX_PIXELS",
    "ImageTooLargeError",
    "OutputExistsError",
]

#: Default decode budget (pixels): 50 megapixels. The declared size in the file's header is checked against it
#: before any pixel is decoded, so a small file that claims a huge size is refused at once. A 50 MP photo takes
#: about 150 MB as uint8 RGB and 600 MB as float32, and the models' working memory is a few times that;
#: raise it with ``max_pixels=`` (CLI: ``--max-pixels MP``) for bigger scans.
MAX_PIXELS = 50_000_000


class ImageTooLargeError(ImageReadError):
    """The header declares more pixels than the decode budget (nothing was decoded)."""


class OutputExistsError(ImageWriteError, FileExistsError):
    """The output appeared while the work ran (another writer) and overwriting was not allowed."""

ImageSource = Union[str, os.PathLike, bytes, Image.Image, np.ndarray, "LoadedImage"]

_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}


@dataclass
class LoadedImage:
    """An image in the library's convention.

    Attributes:
        rgb: (H, W, 3) ``uint8``, or ``float32`` in [0, 1] when read with ``as_float=True``.
        alpha: (H, W) of the same dtype, or ``None`` when the source had no transparency.
        was_gray: the source was grayscale (a gray mode, or three identical channels).
        path: the file it came from, if any.
        bit_depth: bits per channel of the source (8 or 16; 32 for float TIFFs).
        mode: the PIL mode of the source (``"L"``, ``"RGB"``, ``"CMYK"``, ``"P"``...).
    """

    rgb: np.ndarray
    alpha: Optional[np.ndarray] = None
    was_gray: bool = False
    path: Optional[Path] = None
    bit_depth: int = 8
    mode: str = "RGB"

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.rgb.shape[1], self.rgb.shape[0]

    def to_pil(self) -> Image.Image:
        """The image as a PIL ``RGB`` (or ``RGBA`` with alpha) image, 8 bits per channel."""
        rgb = to_uint8(self.rgb)
        if self.alpha is not None:
            return Image.fromarray(np.dstack([rgb, to_uint8(self.alpha)]), "RGBA")
        return Image.fromarray(rgb, "RGB")


def _name(src: object) -> str:
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    if isinstance(src, bytes):
        return f"<{len(src)} bytes>"
    return f"<{type(src).__name__}>"


def _open(src: Union[str, os.PathLike, bytes], max_pixels: int) -> Image.Image:
    name = _name(src)
    if isinstance(src, bytes):
        if not src:
            raise ImageReadError(f"{name}: empty data, not an image")
        fp: object = _io.BytesIO(src)
    else:
        p = Path(src)
        if not p.exists():
            raise ImageReadError(f"{p}: no such file")
        if p.is_dir():
            raise ImageReadError(f"{p}: is a folder, not an image file")
        if p.stat().st_size == 0:
            raise ImageReadError(f"{p}: the file is empty (0 bytes)")
        fp = p
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies below
            im = Image.open(fp)  # type: ignore[arg-type]
            w, h = im.size
            if w * h > max_pixels:
                err = ImageTooLargeError(
                    f"{name}: the header declares {w}×{h} = {w * h / 1e6:.1f} megapixels, over the decode limit "
                    f"of {max_pixels / 1e6:g} megapixels (nothing was decoded); pass max_pixels={w * h} to "
                    "read it anyway"
                )
                err.cli_message = (  # type: ignore[attr-defined]
                    f"{name}: the header declares {w}×{h} = {w * h / 1e6:.1f} megapixels, over the limit of "
                    f"{max_pixels / 1e6:g} (nothing was decoded); add --max-pixels {math.ceil(w * h / 1e6)} "
                    "to read it anyway"
                )
                raise err
            if w < 1 or h < 1:
                raise ImageReadError(f"{name}: the image has no pixels ({w}×{h})")
            im.load()
    except ImageReadError:
        raise
    except UnidentifiedImageError as e:
        raise ImageReadError(f"{name}: not an image file that can be read (PNG, JPEG, TIFF, BMP, WebP...)") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLargeError(
            f"{name}: refused as a decompression bomb: the header claims more than {max_pixels / 1e6:g} megapixels"
        ) from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = str(e) or type(e).__name__
        if "truncated" in msg.lower() or isinstance(e, EOFError):
            raise ImageReadError(f"{name}: the file is truncated ({msg})") from e
        raise ImageReadError(f"{name}: the image data is corrupt or unsupported ({msg})") from e
    return im


def _pil_to_arrays(im: Image.Image) -> tuple[np.ndarray, Optional[np.ndarray], bool, int]:
    """Float32 RGB in [0,1], float alpha or None, gray flag, bit depth."""
    mode = im.mode
    gray = mode in _GRAY_MODES
    alpha: Optional[np.ndarray] = None
    bit_depth = 8
    if mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
        mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(im).astype(np.float32)
        bit_depth = 16
        scale = 65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        if mode == "I" and arr.max(initial=0) <= 255:
            bit_depth = 8
        g = np.clip(arr / scale, 0.0, 1.0)
        return np.repeat(g[..., None], 3, axis=2), None, True, bit_depth
    if mode == "F":
        g = np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)
        return np.repeat(g[..., None], 3, axis=2), None, True, 32
    if mode in ("LA", "La", "PA"):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        return rgba[..., :3], rgba[..., 3], True, 8
    if mode in ("RGBA", "RGBa"):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        rgb, alpha = rgba[..., :3], rgba[..., 3]
    elif mode == "RGB":
        rgb = np.asarray(im, dtype=np.float32) / 255.0
    else:  # 1, L, CMYK, YCbCr, LAB, HSV...
        rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    if alpha is not None and float(alpha.min()) >= 1.0:
        alpha = None  # fully opaque: nothing to carry
    if not gray:
        gray = bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))
    return rgb, alpha, gray, bit_depth


def _read_16bit_rgb(path: Path) -> Optional[np.ndarray]:
    """PIL reduces 48/64-bit PNG and TIFF to 8 bits; OpenCV keeps 16. Returns float RGB(A) in [0,1] or None."""
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        return None
    arr = arr.astype(np.float32) / 65535.0
    order = [2, 1, 0, 3][: arr.shape[2]]
    return arr[..., order]


def read_image(src: ImageSource, *, as_float: bool = False, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Read an image file (or bytes, PIL image, array) into the library's convention.

    PNG, JPEG, TIFF, BMP, WebP and anything else Pillow reads; 8- and 16-bit; modes L, LA, P (with transparency),
    RGB, RGBA, CMYK, I;16. EXIF orientation is applied.

    Args:
        src: a path, the file's bytes, a PIL image, an (H, W), (H, W, 3) or (H, W, 4) array (``uint8``, ``uint16``
            or float in [0, 1]), or a :class:`LoadedImage` (returned converted to the asked dtype).
        as_float: return ``float32`` in [0, 1] instead of ``uint8`` (keeps 16-bit precision).
        max_pixels: decode budget: an image whose header declares more pixels is refused before any decode
            (default :data:`MAX_PIXELS`, 50 megapixels).

    Returns:
        A :class:`LoadedImage`.

    Raises:
        ImageReadError: missing, empty, truncated, not an image, too large, or an array of the wrong shape.
    """
    path: Optional[Path] = None
    mode = "RGB"
    if isinstance(src, LoadedImage):
        rgb = src.rgb.astype(np.float32) / 255.0 if src.rgb.dtype == np.uint8 else src.rgb.astype(np.float32)
        alpha = None
        if src.alpha is not None:
            alpha = src.alpha.astype(np.float32) / 255.0 if src.alpha.dtype == np.uint8 else src.alpha
        gray, bits, path, mode = src.was_gray, src.bit_depth, src.path, src.mode
    elif isinstance(src, np.ndarray):
        rgb, alpha, gray, bits = _array_to_float(src)
    elif isinstance(src, Image.Image):
        mode = src.mode
        rgb, alpha, gray, bits = _pil_to_arrays(ImageOps.exif_transpose(src) or src)
    elif isinstance(src, (str, os.PathLike, bytes)):
        im = _open(src, max_pixels)
        mode, fmt = im.mode, im.format
        try:
            im = ImageOps.exif_transpose(im) or im
        except Exception:  # a broken EXIF block must not make a readable image unreadable
            pass
        rgb, alpha, gray, bits = _pil_to_arrays(im)
        if not isinstance(src, bytes):
            path = Path(src)
            if mode in ("RGB", "RGBA") and fmt in ("PNG", "TIFF"):
                hi = _read_16bit_rgb(path)
                if hi is not None and hi.shape[:2] == rgb.shape[:2]:
                    rgb, bits = hi[..., :3], 16
                    if hi.shape[2] == 4 and float(hi[..., 3].min()) < 1.0:
                        alpha = hi[..., 3]
    else:
        raise ImageReadError(f"{_name(src)}: expected a path, bytes, PIL image or numpy array")
    if not as_float:
        rgb = to_uint8(rgb)
        alpha = None if alpha is None else to_uint8(alpha)
    else:
        rgb = np.ascontiguousarray(rgb, dtype=np.float32)
    return LoadedImage(rgb=rgb, alpha=alpha, was_gray=gray, path=path, bit_depth=bits, mode=mode)


def _array_to_float(a: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray], bool, int]:
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageReadError(f"<array>: expected shape (H, W), (H, W, 3) or (H, W, 4); got {tuple(a.shape)}")
    bits = 8
    if a.dtype == np.uint8:
        f = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        f, bits = a.astype(np.float32) / 65535.0, 16
    elif np.issubdtype(a.dtype, np.floating):
        if a.size and (float(np.nanmin(a)) < -1e-3 or float(np.nanmax(a)) > 1 + 1e-3):
            raise ImageReadError(
                f"<array>: float images must lie in [0, 1]; got values in [{float(a.min()):.3g}, {float(a.max()):.3g}]"
            )
        f = np.clip(a.astype(np.float32), 0.0, 1.0)
    else:
        raise ImageReadError(f"<array>: expected dtype uint8, uint16 or float; got {a.dtype}")
    alpha = f[..., 3] if f.shape[2] == 4 else None
    if f.shape[2] == 1:
        return np.repeat(f, 3, axis=2), None, True, bits
    rgb = f[..., :3]
    gray = bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))
    return rgb, alpha, gray, bits


def to_uint8(x: Union[np.ndarray, torch.Tensor]) -> np.ndarray:
    """Float in [0, 1] (array (H,W[,C]) or tensor (1,C,H,W)/(C,H,W)) → uint8 (H, W[, C]), rounded and clamped.

    ``uint8`` input is returned as is; ``uint16`` is scaled down.
    """
    if isinstance(x, torch.Tensor):
        t = x.detach().float().cpu()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError(f"to_uint8 takes one image; got a batch of shape {tuple(t.shape)}")
            t = t[0]
        if t.ndim == 3:
            t = t.permute(1, 2, 0)
        x = t.numpy()
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.uint16:
        return ((x.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return np.clip(np.rint(np.asarray(x, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def to_tensor(rgb: Union[np.ndarray, LoadedImage], device: Union[str, torch.device] = "cpu") -> torch.Tensor:
    """(H, W, 3) ``uint8``/``uint16``/float image → (1, 3, H, W) ``float32`` tensor in [0, 1]."""
    if isinstance(rgb, LoadedImage):
        rgb = rgb.rgb
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"to_tensor expects an (H, W, 3) image; got shape {tuple(a.shape)}")
    if a.dtype == np.uint8:
        f = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        f = a.astype(np.float32) / 65535.0
    else:
        f = a.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1)[None].to(device)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


@contextlib.contextmanager
def atomic_path(dst: Union[str, os.PathLike], protect: Iterable[Union[str, os.PathLike]] = (),
                overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``dst``; on success it is renamed to ``dst``, on error removed.

    Args:
        dst: the final output path (its folder is created).
        protect: input paths that must never be replaced; naming one as ``dst`` raises ``ImageWriteError``.
        overwrite: replace ``dst`` if it exists when the work is done. With ``False`` the final step is a hard
            link that fails if ``dst`` exists, so of two writers only one wins; the other gets an
            :class:`OutputExistsError` naming where its own result was kept.
    """
    dst = Path(dst)
    for p in protect:
        p = Path(p)
        if dst.resolve() == p.resolve() or _same_file(dst, p):
            raise ImageWriteError(f"{dst}: refusing to overwrite an input file; choose another output path")
    if dst.is_dir():
        raise ImageWriteError(f"{dst}: is a folder; give an output file name")
    if not overwrite and dst.exists():
        raise OutputExistsError(f"{dst} already exists; pass overwrite=True to replace it")
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dst.stem}.", suffix=f".tmp{dst.suffix}", dir=dst.parent)
    except FileExistsError as e:
        raise ImageWriteError(f"{dst}: cannot create the output folder: {e.filename} is a file") from e
    except NotADirectoryError as e:
        raise ImageWriteError(f"{dst}: cannot write there: a part of {dst.parent} is a file") from e
    except PermissionError as e:
        raise ImageWriteError(f"{dst}: the folder {dst.parent} is not writable") from e
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; outputs get the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
    if overwrite:
        os.replace(tmp_path, dst)
        return
    _link_no_replace(tmp_path, dst)


def _link_no_replace(tmp: Path, dst: Path) -> None:
    """Move ``tmp`` to ``dst`` unless ``dst`` exists (atomically where hard links work)."""
    try:
        os.link(tmp, dst)
    except FileExistsError:
        kept = dst.with_name(f"{dst.stem}.conflict-{os.getpid()}{dst.suffix}")
        os.replace(tmp, kept)
        err = OutputExistsError(
            f"{dst} appeared while this run worked (another process wrote it) and was not replaced; this run's "
            f"result is kept as {kept}; pass overwrite=True to replace the output"
        )
        err.cli_message = (  # type: ignore[attr-defined]
            f"{dst} appeared while this run worked (another process wrote it) and was not replaced; this run's "
            f"result is kept as {kept}; add --overwrite to replace the output"
        )
        raise err from None
    except OSError:  # a file system without hard links: the check and the rename are then two steps
        if dst.exists():
            os.replace(tmp, dst.with_name(f"{dst.stem}.conflict-{os.getpid()}{dst.suffix}"))
            raise OutputExistsError(f"{dst} appeared while this run worked and was not replaced") from None
        os.replace(tmp, dst)
        return
    tmp.unlink()


_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP",
            ".webp": "WEBP"}


def write_image(
    path: Union[str, os.PathLike],
    image: Union[np.ndarray, torch.Tensor, Image.Image, LoadedImage],
    *,
    alpha: Optional[np.ndarray] = None,
    protect: Iterable[Union[str, os.PathLike]] = (),
    quality: int = 95,
    overwrite: bool = True,
) -> Path:
    """Write an image atomically (temporary file, then rename), never over an input.

    Args:
        path: output file; the format follows the suffix (.png, .jpg, .tif, .bmp, .webp).
        image: (H, W, 3) or (H, W) uint8/float array, a (1,3,H,W) tensor, a PIL image or a LoadedImage.
        alpha: (H, W) alpha to attach (formats without alpha drop it: JPEG, BMP).
        protect: paths of inputs that must not be overwritten.
        quality: JPEG/WebP quality.
        overwrite: replace an existing file (``False``: a file that exists, or appears while encoding, is kept
            and :class:`OutputExistsError` raised; see :func:`atomic_path`).

    Returns:
        The written path.
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageWriteError(f"{path}: unknown image format {path.suffix!r}; use one of {', '.join(_FORMATS)}")
    if isinstance(image, LoadedImage):
        alpha = image.alpha if alpha is None else alpha
        image = image.rgb
    if isinstance(image, Image.Image):
        pil = image
    else:
        arr = to_uint8(image)
        if alpha is not None and fmt in ("PNG", "TIFF", "WEBP"):
            arr = np.dstack([arr if arr.ndim == 3 else np.repeat(arr[..., None], 3, 2), to_uint8(alpha)])
        pil = Image.fromarray(arr)
    if fmt in ("JPEG", "BMP") and pil.mode not in ("RGB", "L"):
        pil = pil.convert("RGB")
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    with atomic_path(path, protect, overwrite=overwrite) as tmp:
        pil.save(tmp, format=fmt, **kwargs)
    return path
