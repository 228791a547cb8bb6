"""A notebook panel for colour from hints: click on the photo to place a hint with the chosen colour.

>>> from restoration_lib.widgets_hints import HintsPanel
>>> panel = HintsPanel(photo)        # last expression of a cell shows it          # doctest: +SKIP
>>> panel.add_hint(120, 80)          # what a click at row 120, column 80 does     # doctest: +SKIP
>>> panel.undo(); panel.clear()                                                     # doctest: +SKIP

The photo is an ``ipywidgets.Image`` whose mouse clicks come from `ipyevents <https://github.com/mwcraig/ipyevents>`_
(``pip install restoration-lib[notebooks]``); every change calls the plain callback :func:`colorize_hints_image`
(one library call) and redraws the compare plot (original | colour from hints) below. Without a kernel or a
browser the same methods work: the tests call :meth:`HintsPanel.click` with the event dict ipyevents sends.
"""
from __future__ import annotations

import base64
import html
from typing import Any, Callable, Optional, Sequence

import ipywidgets as W
import numpy as np
from PIL import Image, ImageDraw

from . import viz

__all__ = ["colorize_hints_image", "draw_hints", "HintsPanel"]

DEFAULT_COLOUR = "#3c78d8"


def colorize_hints_image(image: np.ndarray, hints: Sequence[Any], base: Optional[np.ndarray] = None) -> np.ndarray:
    """Colour from hints (:func:`restoration_lib.colorize.hints.colorize_with_hints`); returns (H, W, 3) uint8."""
    from .colorize.hints import colorize_with_hints

    return colorize_with_hints(image, hints, base=base, progress=False).image


def _rgb(colour: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` (what ``ColorPicker`` gives) or a CSS name Pillow knows → (r, g, b)."""
    from PIL import ImageColor

    return tuple(ImageColor.getrgb(colour)[:3])


def draw_hints(image: np.ndarray, hints: Sequence[Any], radius: Optional[int] = None) -> np.ndarray:
    """The photo (H, W, 3 uint8) with each hint drawn as a dot of its colour ringed in black and white."""
    im = Image.fromarray(viz.as_rgb8(image))
    r = radius or max(3, round(max(im.size) / 120))
    d = ImageDraw.Draw(im)
    for y, x, c in hints:
        d.ellipse((x - r - 2, y - r - 2, x + r + 2, y + r + 2), fill=(255, 255, 255))
        d.ellipse((x - r - 1, y - r - 1, x + r + 1, y + r + 1), fill=(0, 0, 0))
        d.ellipse((x - r, y - r, x + r, y + r), fill=tuple(c))
    return np.asarray(im)


def _png(rgb: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


class HintsPanel:
    """Click to place colour hints on a photo; the photo colorized from them re-renders beside the original.

    Args:
        image: the photo, (H, W) or (H, W, 3) uint8 (or anything :func:`restoration_lib.viz.as_rgb8` takes).
        hints: hints to start with, ``[(y, x, (r, g, b)), ...]`` (e.g. :func:`restoration_lib.samples.sample_hints`).
        colour: the colour a click places (``"#rrggbb"``).
        base: a network's colour output to correct instead of starting from gray (same size).
        callback: the plain function called as ``callback(image, hints, base=base)``; returns (H, W, 3) uint8.

    Attributes:
        hints: the current hints (list of ``(y, x, (r, g, b))``); ``result``: the last colorized photo.
        colour: the ``ColorPicker``; ``undo_button``, ``clear_button``: the buttons; ``photo``: the clickable
            ``Image``; ``events``: the ipyevents ``Event`` on it (None when ipyevents is missing);
        status: an ``HTML`` line; ``output``: the ``Output`` holding the compare plot; ``png``: that plot as
            PNG bytes; ``figure``: its matplotlib Figure; ``calls``: how many times the callback ran;
        widget: the whole panel.
    """

    def __init__(self, image: Any, *, hints: Sequence[Any] = (), colour: str = DEFAULT_COLOUR,
                 base: Optional[np.ndarray] = None, callback: Callable[..., np.ndarray] = colorize_hints_image):
        from .colorize.hints import parse_hints

        self.image = viz.as_rgb8(image)
        if self.image.ndim == 2:
            self.image = np.repeat(self.image[..., None], 3, axis=2)
        self.base, self.callback = base, callback
        self.hints: list = parse_hints(hints, self.image.shape[:2])
        self.result: Optional[np.ndarray] = None
        self.figure = None
        self.png: Optional[bytes] = None
        self.calls = 0
        self.colour = W.ColorPicker(value=colour, description="hint colour", concise=False)
        self.colour.style.description_width = "initial"
        self.undo_button = W.Button(description="undo", icon="undo")
        self.clear_button = W.Button(description="clear", icon="trash")
        self.undo_button.on_click(lambda _b: self.undo())
        self.clear_button.on_click(lambda _b: self.clear())
        self.status = W.HTML()
        self.photo = W.Image(format="png", layout=W.Layout(max_width="100%", width=f"{min(self.image.shape[1], 640)}px"))
        self.events = self._attach_events()
        self.output = W.Output()
        hint = W.HTML("<i>click on the photo to place a hint with the chosen colour</i>")
        self.widget = W.VBox([W.HBox([self.colour, self.undo_button, self.clear_button]), hint, self.photo,
                              self.status, self.output])
        self.refresh()

    def _attach_events(self):
        try:
            from ipyevents import Event
        except ImportError:
            self.status.value = ("<span style='color:#a33'>ipyevents is not installed (pip install ipyevents): "
                                 "clicks do nothing; use add_hint(y, x)</span>")
            return None
        ev = Event(source=self.photo, watched_events=["click"])
        ev.on_dom_event(self.click)
        return ev

    # -- what the controls do (plain methods, callable without a browser)
    def click(self, event: dict) -> None:
        """Handle an ipyevents click: ``dataX``/``dataY`` are the clicked pixel's column/row in the photo."""
        if event.get("type", "click") != "click" or "dataX" not in event:
            return
        self.add_hint(int(round(event["dataY"])), int(round(event["dataX"])))

    def add_hint(self, y: int, x: int, colour: Optional[Any] = None) -> None:
        """Place a hint at row ``y``, column ``x`` with ``colour`` (default: the picker's) and re-render."""
        h, w = self.image.shape[:2]
        if not (0 <= y < h and 0 <= x < w):
            self.status.value = html.escape(f"({y}, {x}) is outside the photo ({h}×{w}): no hint placed")
            return
        rgb = _rgb(self.colour.value) if colour is None else tuple(int(c) for c in colour)
        self.hints.append((int(y), int(x), rgb))
        self.refresh()

    def undo(self) -> None:
        """Remove the last hint and re-render."""
        if self.hints:
            self.hints.pop()
            self.refresh()

    def clear(self) -> None:
        """Remove every hint and re-render (the gray photo, or ``base``)."""
        self.hints.clear()
        self.refresh()

    def refresh(self) -> None:
        """Run the callback with the current hints and redraw the photo with its dots and the compare plot."""
        import warnings

        self.calls += 1
        self.photo.value = _png(draw_hints(self.image, self.hints))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "no hints" is said in the title instead
                self.result = self.callback(self.image, list(self.hints), base=self.base)
        except Exception as e:  # noqa: BLE001 - shown to the user in the panel
            self.result, self.png, self.figure = None, None, None
            self.status.value = f"<span style='color:#a33'>{html.escape(f'{type(e).__name__}: {e}')}</span>"
            self.output.outputs = ()
            return
        n = len(self.hints)
        right = f"colour from {n} hint{'s' if n != 1 else ''}" if n else "no hints yet: the photo in gray"
        self.figure = viz.compare(draw_hints(self.image, self.hints), self.result, titles=("hints", right))
        self.png = viz.to_png(self.figure)
        self.output.outputs = ({
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": "<compare plot>"},
            "metadata": {},
        },)
        if not self.status.value.startswith("<span style='color:#a33'>ipyevents"):
            self.status.value = ""

    def _repr_mimebundle_(self, **kwargs) -> dict:
        data = self.widget._repr_mimebundle_(**kwargs)
        if self.png is not None:
            data["image/png"] = base64.b64encode(self.png).decode("ascii")
        return data
