"""Compare plots for the notebooks and reports.

Every function returns a :class:`matplotlib.figure.Figure` built without :mod:`matplotlib.pyplot`, so it
works under the Agg backend, in threads and in headless runs, and leaves no global figure behind. Show one
in a notebook as the last expression of a cell (after ``%matplotlib inline``) or turn it into PNG bytes with
:func:`to_png`.

Images may be given as H,W,3 or H,W arrays (uint8, or float in [0, 1]), as (1,3,H,W) / (3,H,W) tensors in
[0, 1], as PIL images, or as anything with an ``rgb`` array (a :class:`restoration_lib.io.LoadedImage`).

>>> import numpy as np
>>> fig = compare(np.zeros((32, 48, 3), np.uint8), np.full((32, 48, 3), 255, np.uint8), diff=True)
>>> len(fig.axes)
3
"""
from __future__ import annotations

import io as _io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np
from matplotlib.figure import Figure
from PIL import Image
from matplotlib.patches import Rectangle

__all__ = [
    "Heatmap",
    "as_rgb8",
    "difference",
    "compare",
    "strip",
    "render_factor_strip",
    "repair_stages",
    "interpolation_strip",
    "contact_sheet",
    "to_png",
]

# A panel: an image, a Heatmap, or None for "nothing to show here" (drawn as an empty frame with its title).
Panel = Optional[Any]


@dataclass(frozen=True)
class Heatmap:
    """An H,W array of non-negative values (e.g. from :func:`difference`) drawn as a heat map scaled to its max."""

    values: np.ndarray

_PANEL_INCHES = 3.2  # width of one panel
_TITLE_INCHES = 0.45  # height reserved for a panel title


def as_rgb8(image: Any) -> np.ndarray:
    """Return ``image`` as a uint8 array, H,W,3 for colour or H,W for one channel.

    Args:
        image: H,W / H,W,1 / H,W,3 / H,W,4 array (uint8, bool, or float in [0, 1]); a (1,3,H,W), (3,H,W)
            or (1,1,H,W) tensor in [0, 1]; a PIL image; or an object with an ``rgb`` attribute.

    Raises:
        ValueError: an array whose shape is not one of the above (the message gives the shape).
    """
    if hasattr(image, "rgb"):
        image = image.rgb
    if hasattr(image, "detach"):  # torch tensor, N,C,H,W or C,H,W
        t = image.detach().float().cpu()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError(f"expected a batch of one image (1,C,H,W); got shape {tuple(t.shape)}")
            t = t[0]
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise ValueError(f"expected a tensor of shape (1,C,H,W) or (C,H,W) with C in (1, 3); got {tuple(t.shape)}")
        image = t.permute(1, 2, 0).numpy()
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(f"expected an image of shape (H,W) or (H,W,3); got {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):  # e.g. 16-bit
        return (arr.astype(np.float64) * (255.0 / max(int(arr.max()), 255))).round().astype(np.uint8)
    return (np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0).round().astype(np.uint8)


def difference(a: Any, b: Any) -> np.ndarray:
    """Per-pixel mean absolute difference of two images of the same size, H,W float32 in [0, 1].

    Raises:
        ValueError: the images differ in height or width.
    """
    a8, b8 = as_rgb8(a), as_rgb8(b)
    if a8.shape[:2] != b8.shape[:2]:
        raise ValueError(f"images differ in size: {a8.shape[:2]} vs {b8.shape[:2]} (H, W)")
    fa, fb = a8.astype(np.float32) / 255.0, b8.astype(np.float32) / 255.0
    if fa.ndim == 2:
        fa = fa[..., None]
    if fb.ndim == 2:
        fb = fb[..., None]
    return np.abs(fa - fb).mean(axis=2)


def _draw(ax, panel: Panel, title: str, boxes: Sequence[Sequence[float]] = ()) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    if panel is None:
        ax.text(0.5, 0.5, "—", ha="center", va="center", fontsize=18, color="0.5", transform=ax.transAxes)
        for side in ax.spines.values():
            side.set_color("0.8")
        return
    if isinstance(panel, Heatmap):
        # scaled to its own maximum so that small changes show
        hi = float(panel.values.max()) or 1.0
        ax.imshow(panel.values, cmap="magma", vmin=0.0, vmax=hi, interpolation="nearest")
    else:
        img = as_rgb8(panel)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255, interpolation="lanczos")
    for x0, y0, x1, y1 in boxes:
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="#00e5ff", linewidth=1.5))
    for side in ax.spines.values():
        side.set_visible(False)


def _aspect(panels: Sequence[Panel]) -> float:
    """Height / width of the first real panel (panels of a strip are drawn at one aspect)."""
    for p in panels:
        if p is not None:
            a = p.values if isinstance(p, Heatmap) else as_rgb8(p)
            return a.shape[0] / a.shape[1]
    return 1.0


def strip(
    panels: Sequence[Panel],
    titles: Sequence[str],
    *,
    suptitle: Optional[str] = None,
    boxes: Optional[Mapping[int, Sequence[Sequence[float]]]] = None,
    cols: Optional[int] = None,
) -> Figure:
    """Panels side by side (wrapping after ``cols``), each with its title.

    Args:
        panels: images (see the module docstring), :class:`Heatmap` values (e.g. a :func:`difference`),
            or ``None`` for an empty panel.
        titles: one title per panel.
        suptitle: a title over the whole figure.
        boxes: panel index → (x0, y0, x1, y1) boxes in pixels to outline (e.g. detected faces).
        cols: panels per row; all in one row by default.

    Raises:
        ValueError: no panels, or a different number of titles than panels.
    """
    if not panels:
        raise ValueError("strip needs at least one panel")
    if len(titles) != len(panels):
        raise ValueError(f"got {len(panels)} panels but {len(titles)} titles")
    n = len(panels)
    cols = n if cols is None else max(1, min(cols, n))
    rows = -(-n // cols)
    aspect = _aspect(panels)
    head = _TITLE_INCHES if suptitle else 0.0
    fig = Figure(figsize=(_PANEL_INCHES * cols, rows * (_PANEL_INCHES * aspect + _TITLE_INCHES) + head), dpi=100)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < n:
            _draw(ax, panels[i], titles[i], (boxes or {}).get(i, ()))
        else:
            ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle, fontsize=12)
    fig.tight_layout()
    return fig


def compare(
    before: Any,
    after: Any,
    *,
    titles: Sequence[str] = ("before", "after"),
    diff: bool = False,
    suptitle: Optional[str] = None,
) -> Figure:
    """Side-by-side before/after, optionally with their difference as a third panel.

    When the sizes differ (e.g. a repair at higher resolution), the difference is taken after resizing
    ``after`` to the size of ``before``, and its title says so.
    """
    panels, names = [before, after], list(titles)
    if diff:
        b8, a8 = as_rgb8(before), as_rgb8(after)
        resized = a8.shape[:2] != b8.shape[:2]
        if resized:
            a8 = np.asarray(Image.fromarray(a8).resize((b8.shape[1], b8.shape[0]), Image.BILINEAR))
        d = difference(b8, a8)
        panels.append(Heatmap(d))
        names.append(f"|after − before|{' (resized)' if resized else ''} (mean {d.mean():.3f})")
    return strip(panels, names, suptitle=suptitle)


def render_factor_strip(results: Mapping[int, Any], original: Panel = None, *, suptitle: Optional[str] = None) -> Figure:
    """One photo colorized at several render factors (``{render_factor: image}``), after the original."""
    panels: list[Panel] = [] if original is None else [original]
    titles = [] if original is None else ["original"]
    for rf in sorted(results):
        panels.append(results[rf])
        titles.append(f"render_factor {rf}")
    return strip(panels, titles, suptitle=suptitle)


def repair_stages(image: Any, result: Any, *, suptitle: Optional[str] = None) -> Figure:
    """The stages of a repair: input / scratch mask / stage 1 / faces / final.

    Args:
        image: the input photo.
        result: a :class:`restoration_lib.repair.RepairResult` (``scratch_mask``, ``stage1``, ``faces``,
            ``image``, ``mode``). The scratch mask panel is empty when scratch detection was off; the
            faces panel shows stage 1 with the detected faces outlined (empty when face enhancement was
            off).
    """
    faces = list(getattr(result, "faces", None) or [])
    stage1 = getattr(result, "stage1", None)
    boxes = [tuple(f.box) for f in faces]
    mask = getattr(result, "scratch_mask", None)
    panels = [image, mask, stage1, stage1 if faces else None, result.image]
    mode = getattr(result, "mode", "")
    titles = [
        "input",
        "scratch mask" if mask is not None else "scratch mask (off)",
        f"stage 1 ({mode})" if mode else "stage 1",
        f"faces: {len(faces)} found" if faces else "faces (none)",
        "final",
    ]
    return strip(panels, titles, suptitle=suptitle, boxes={3: boxes} if boxes else None)


def interpolation_strip(
    frame0: Any,
    middle: Any,
    frame1: Any,
    *,
    truth: Panel = None,
    label: str = "t = 0.5",
    suptitle: Optional[str] = None,
) -> Figure:
    """frame 0 / interpolated middle / frame 1 / difference.

    The difference panel is |middle − truth| when the true middle frame is given, else |frame 1 − frame 0|
    (what moved between the two frames).
    """
    if truth is not None:
        # the inputs are then two frames around a known one (e.g. frames 0 and 2 of a clip): name them as inputs
        d = difference(middle, truth)
        name = f"|middle − truth| (mean {d.mean():.3f})"
        firsts = ("first input", "second input")
    else:
        d = difference(frame1, frame0)
        name = f"|frame 1 − frame 0| (mean {d.mean():.3f})"
        firsts = ("frame 0", "frame 1")
    return strip([frame0, middle, frame1, Heatmap(d)], [firsts[0], f"middle ({label})", firsts[1], name],
                 suptitle=suptitle)


def contact_sheet(
    pairs: Sequence[tuple[Any, Any]],
    labels: Optional[Sequence[str]] = None,
    *,
    suptitle: Optional[str] = None,
) -> Figure:
    """A grid of before/after pairs, one pair per row."""
    if not pairs:
        raise ValueError("contact_sheet needs at least one (before, after) pair")
    labels = list(labels) if labels is not None else [str(i + 1) for i in range(len(pairs))]
    if len(labels) != len(pairs):
        raise ValueError(f"got {len(pairs)} pairs but {len(labels)} labels")
    panels: list[Panel] = []
    titles: list[str] = []
    for (before, after), name in zip(pairs, labels):
        panels += [before, after]
        titles += [f"{name}: before", f"{name}: after"]
    return strip(panels, titles, cols=2, suptitle=suptitle)


def to_png(fig: Figure, dpi: Union[int, float, None] = None) -> bytes:
    """Render ``fig`` to PNG bytes (Agg)."""
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
    return buf.getvalue()
