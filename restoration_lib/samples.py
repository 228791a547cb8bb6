"""Sample inputs that need no download: scikit-image's bundled photos, aged on purpose.

The photos (astronaut, camera, chelsea, coffee, rocket) ship inside the scikit-image wheel. :func:`make_old`
turns a colour photo into an "old" one: gray or sepia, faded contrast, film grain, dust, scratches and a
vignette, with a fixed seed, and also returns the mask of the scratches and dust it drew (for measuring
detectors). :func:`sample_clip` makes a short clip by panning and zooming over a photo, with a few repeated
frames as old films have, for the interpolation demos.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import cv2
import numpy as np

from .io import write_image

__all__ = ["SAMPLE_NAMES", "ASTRONAUT_HINTS", "sample_hints", "sample_source", "make_old", "sample_image", "list_samples", "samples_dir", "sample_clip"]

#: Photos bundled with scikit-image, in the order the demos use them. "astronaut" has a face.
SAMPLE_NAMES = ("astronaut", "camera", "chelsea", "coffee", "rocket")


def sample_source(name: str) -> np.ndarray:
    """The original scikit-image photo ``name`` as (H, W, 3) uint8 RGB."""
    if name not in SAMPLE_NAMES:
        raise ValueError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLE_NAMES)}")
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def make_old(
    rgb: np.ndarray,
    seed: int = 0,
    *,
    sepia: bool = False,
    fade: float = 0.35,
    grain: float = 0.04,
    scratches: int = 6,
    dust: int = 40,
) -> tuple[np.ndarray, np.ndarray]:
    """Age a photo: gray (or sepia), faded, grainy, with scratches, dust and a vignette.

    Args:
        rgb: (H, W, 3) uint8 RGB.
        seed: random seed; the same seed gives the same damage.
        sepia: tint brown instead of neutral gray.
        fade: 0 keeps the contrast, 1 flattens it to mid-gray.
        grain: standard deviation of the film grain (in [0, 1] units).
        scratches: number of long thin scratches.
        dust: number of dust specks.

    Returns:
        ``(old, mask)``: the aged (H, W, 3) uint8 image and the (H, W) uint8 mask (255 where damage was drawn).
    """
    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    gray = 0.5 + (gray - 0.5) * (1.0 - fade) + 0.06 * fade  # lifted blacks, dimmed whites
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2)
    gray *= 1.0 - 0.25 * np.clip(r - 0.6, 0, None)  # vignette
    gray += rng.normal(0.0, grain, (h, w)).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (0, 0), 0.6)
    mask = np.zeros((h, w), np.uint8)
    lines = np.zeros((h, w), np.float32)
    for _ in range(scratches):
        x0 = rng.uniform(0, w)
        pts = []
        for y in np.linspace(-5, h + 5, 12):
            x0 += rng.normal(0, w * 0.01)
            pts.append((x0, y))
        pts_i = np.round(np.array(pts)).astype(np.int32).reshape(-1, 1, 2)
        thick = int(rng.integers(1, 3))
        val = 1.0 if rng.random() < 0.7 else -1.0
        cv2.polylines(lines, [pts_i], False, val, thick, lineType=cv2.LINE_AA)
        cv2.polylines(mask, [pts_i], False, 255, thick + 1)
    for _ in range(dust):
        c = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        rad = int(rng.integers(1, 4))
        val = 1.0 if rng.random() < 0.5 else -1.0
        cv2.circle(lines, c, rad, val, -1, lineType=cv2.LINE_AA)
        cv2.circle(mask, c, rad + 1, 255, -1)
    gray = np.where(lines > 0, np.maximum(gray, 0.55 + 0.4 * lines), gray)
    gray = np.where(lines < 0, gray * (1 + 0.85 * lines), gray)
    gray = np.clip(gray, 0, 1)
    if sepia:
        tint = np.array([1.07, 0.96, 0.78], np.float32)
        out = np.clip(gray[..., None] * tint, 0, 1)
    else:
        out = np.repeat(gray[..., None], 3, axis=2)
    return np.rint(out * 255).astype(np.uint8), mask


def sample_image(name: str = "astronaut", seed: int = 0, max_side: Optional[int] = 512) -> np.ndarray:
    """An aged scikit-image photo as (H, W, 3) uint8 RGB (gray for most, sepia for "coffee")."""
    src = sample_source(name)
    if max_side is not None and max(src.shape[:2]) > max_side:
        s = max_side / max(src.shape[:2])
        src = cv2.resize(src, (round(src.shape[1] * s), round(src.shape[0] * s)), interpolation=cv2.INTER_AREA)
    return make_old(src, seed=seed, sepia=(name == "coffee"))[0]


def samples_dir(override: Union[str, os.PathLike, None] = None) -> Path:
    """Where the sample PNGs are written: ``override``, else ``results/samples`` of a source checkout, else a
    user cache folder."""
    if override is not None:
        return Path(override)
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").is_file():
        return repo / "results" / "samples"
    return Path.home() / ".cache" / "restoration-workbench" / "samples"


def list_samples(folder: Union[str, os.PathLike, None] = None) -> list[Path]:
    """Paths of the aged sample photos, written on first use (PNG, one per name in :data:`SAMPLE_NAMES`)."""
    d = samples_dir(folder)
    paths = []
    for name in SAMPLE_NAMES:
        p = d / f"old_{name}.png"
        if not p.is_file():
            write_image(p, sample_image(name))
        paths.append(p)
    return paths


def sample_clip(
    name: str = "chelsea",
    frames: int = 12,
    size: tuple[int, int] = (256, 160),
    repeat_every: int = 0,
) -> list[np.ndarray]:
    """A short synthetic clip: a slow pan and zoom over photo ``name``.

    Args:
        name: one of :data:`SAMPLE_NAMES`.
        frames: number of distinct frames.
        size: (width, height) of each frame.
        repeat_every: if > 0, every ``repeat_every``-th frame is shown twice, as old films padded to 24 fps are.

    Returns:
        A list of (H, W, 3) uint8 RGB frames.
    """
    src = sample_source(name)
    h, w = src.shape[:2]
    out_w, out_h = size
    clip = []
    for i in range(frames):
        a = i / max(frames - 1, 1)
        zoom = 1.0 + 0.15 * a
        cw, ch = w / zoom * 0.8, h / zoom * 0.8
        cx = w * (0.42 + 0.16 * a)
        cy = h * (0.5 + 0.04 * np.sin(2 * np.pi * a))
        m = np.array([[out_w / cw, 0, -(cx - cw / 2) * out_w / cw], [0, out_h / ch, -(cy - ch / 2) * out_h / ch]])
        frame = cv2.warpAffine(src, m, (out_w, out_h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
        clip.append(frame)
        if repeat_every and (i + 1) % repeat_every == 0 and i < frames - 1:
            clip.append(frame.copy())
    return clip


#: Colour hints shipped with the "astronaut" sample at 512×512 (``sample_image("astronaut")``), chosen by looking
#: at the photo: ``(y, x, (r, g, b))``, row and column in pixels.
ASTRONAUT_HINTS = (
    (330, 100, (230, 90, 40)),    # orange suit, left
    (450, 80, (225, 85, 35)),     # orange suit, lower left
    (300, 330, (230, 95, 45)),    # orange suit, right
    (260, 100, (230, 90, 40)),    # orange suit, shoulder
    (440, 205, (225, 85, 35)),    # orange suit, lower middle
    (140, 200, (225, 170, 140)),  # face
    (40, 220, (170, 130, 70)),    # hair
    (30, 120, (205, 200, 195)),   # wall behind
    (200, 330, (205, 200, 195)),  # wall behind
    (250, 40, (190, 30, 40)),     # flag, red stripe
    (40, 20, (40, 50, 120)),      # flag, blue canton
    (30, 410, (170, 90, 30)),     # shuttle's tank
)


def sample_hints(name: str = "astronaut", size: Optional[int] = 512) -> list[tuple[int, int, tuple[int, int, int]]]:
    """The colour hints shipped with sample ``name`` (only "astronaut" has some), for the photo
    ``sample_image(name, max_side=size)``: a list of ``(y, x, (r, g, b))``, scaled from 512×512 to ``size``."""
    if name != "astronaut":
        raise ValueError(f"only the 'astronaut' sample ships with colour hints; got {name!r}")
    side = sample_source(name).shape[0] if size is None else min(size, sample_source(name).shape[0])
    s = side / 512
    return [(min(side - 1, round(y * s)), min(side - 1, round(x * s)), c) for y, x, c in ASTRONAUT_HINTS]
