"""Panels: controls re-run their callback and redraw; missing weights give one line and a weight-free view."""
from __future__ import annotations

import datetime
import functools
import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from restoration_lib import widgets
from restoration_lib.errors import MissingWeightsError

MISSING = MissingWeightsError(
    "ColorizeArtistic_gen.pth not found in /tmp/w/deoldify.\n"
    "Fetch it with: python -m restoration_lib weights fetch deoldify-artistic\n(or put a copy there)"
)


def _img(h=30, w=40, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


class Recorder:
    """A stand-in callback that records its calls and returns ``fn(*args, **kwargs)``."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, *args, **kwargs):
        self.calls.append(kwargs)
        return self.fn(*args, **kwargs)


def fake_colorize(image, render_factor, model):
    tint = {"artistic": (1.0, 0.8, 0.6), "stable": (0.6, 0.8, 1.0), "video": (0.8, 1.0, 0.8)}[model]
    return (image * np.array(tint) * render_factor / 45).astype(np.uint8)


def missing(*args, **kwargs):
    raise MISSING


# -- colorize ------------------------------------------------------------------------------------------


def test_colorize_panel_controls_and_initial_plot():
    cb = Recorder(fake_colorize)
    p = widgets.ColorizePanel(_img(), callback=cb)
    s = p.render_factor
    assert (s.min, s.max, s.value, s.description) == (7, 45, 35, "render_factor")
    assert list(p.model.options) == ["artistic", "stable", "video"]
    assert cb.calls == [{"render_factor": 35, "model": "artistic"}]
    assert p.calls == 1 and p.png and p.notice == "" and p.status.value == ""
    out = p.output.outputs
    assert len(out) == 1 and out[0]["data"]["image/png"]  # the plot sits in the Output widget
    bundle = p._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["image/png"]


def test_moving_the_slider_reruns_the_callback_and_changes_the_plot():
    cb = Recorder(fake_colorize)
    p = widgets.ColorizePanel(_img(), callback=cb)
    before, output_before = p.png, p.output.outputs
    p.render_factor.value = 20
    assert cb.calls[-1] == {"render_factor": 20, "model": "artistic"} and p.calls == 2
    assert p.png != before and p.output.outputs != output_before
    np.testing.assert_array_equal(p.result, fake_colorize(_img(), 20, "artistic"))
    p.model.value = "stable"
    assert cb.calls[-1] == {"render_factor": 20, "model": "stable"} and p.calls == 3


def test_colorize_without_weights_says_so_in_one_line_and_shows_the_generator_input():
    p = widgets.ColorizePanel(_img(), callback=missing)
    assert "\n" not in p.notice
    assert "ColorizeArtistic_gen.pth" in p.notice
    assert "python -m restoration_lib weights fetch deoldify-artistic" in p.notice
    assert widgets.WITHOUT_WEIGHTS in p.notice and "ColorizeArtistic_gen.pth" in p.status.value
    assert p.result.shape == (16 * 35, 16 * 35)  # what the generator sees
    first = p.png
    p.render_factor.value = 20
    assert p.result.shape == (320, 320) and p.png != first and p.calls == 2
    assert p.figure._suptitle.get_text() == "not colorized: artistic weights missing"


def test_colorize_strip_adds_the_slider_value_and_shows_progress():
    cb = Recorder(fake_colorize)
    p = widgets.ColorizePanel(_img(), callback=cb, strip=(12, 24))
    assert sorted(p.result) == [12, 24, 35]
    assert [c["render_factor"] for c in cb.calls] == [12, 24, 35]
    p.render_factor.value = 18
    assert sorted(p.result) == [12, 18, 24]
    assert [ax.get_title() for ax in p.figure.axes] == [
        "original", "render_factor 12", "render_factor 18", "render_factor 24"]
    p = widgets.ColorizePanel(_img(), callback=missing, strip=(12, 24))
    assert {k: v.shape for k, v in p.result.items()} == {12: (192, 192), 24: (384, 384), 35: (560, 560)}


def test_colorizer_view_is_a_gray_square_of_16_render_factor():
    v = widgets.colorizer_view(_img(30, 50), 7)
    assert v.shape == (112, 112) and v.dtype == np.uint8
    flat = np.full((30, 50, 3), (200, 100, 50), np.uint8)
    assert np.all(widgets.colorizer_view(flat, 7) == round(0.299 * 200 + 0.587 * 100 + 0.114 * 50))


def test_render_factor_sweep_calls_each_factor_once():
    cb = Recorder(fake_colorize)
    out = widgets.render_factor_sweep(_img(), 20, "video", factors=(30, 10, 20), colorize=cb, progress=False)
    assert list(out) == [10, 20, 30] and [c["render_factor"] for c in cb.calls] == [10, 20, 30]
    assert all(c["model"] == "video" for c in cb.calls)


# -- repair --------------------------------------------------------------------------------------------


def fake_repair(image, with_scratch, hr, faces, mode, denoise=0.5, contrast=0.5):
    mask = (image[..., 0] > 128).astype(np.uint8) * 255 if with_scratch else None
    found = [SimpleNamespace(box=(2, 2, 12, 14))] if faces else []
    return SimpleNamespace(image=255 - image, stage1=image // 2, scratch_mask=mask, faces=found, mode=mode)


def test_repair_panel_toggles_rerun_with_new_values():
    cb = Recorder(fake_repair)
    p = widgets.RepairPanel(_img(), callback=cb)
    assert cb.calls[-1] == {"with_scratch": True, "hr": False, "faces": True, "mode": "model", "denoise": 0.5,
                            "contrast": 0.5}
    titles = [ax.get_title() for ax in p.figure.axes]
    assert titles == ["input", "scratch mask", "stage 1 (model)", "faces: 1 found", "final"]
    first = p.png
    p.with_scratch.value = False
    assert cb.calls[-1]["with_scratch"] is False and p.png != first
    p.hr.value, p.faces.value = True, False
    assert cb.calls[-1] == {"with_scratch": False, "hr": True, "faces": False, "mode": "model", "denoise": 0.5,
                            "contrast": 0.5}
    p.denoise.value, p.contrast.value = 0.0, 0.0  # the classical mode's separate steps, each its own slider
    assert cb.calls[-1]["denoise"] == 0.0 and cb.calls[-1]["contrast"] == 0.0
    assert p.calls == 6


def test_repair_without_weights_runs_the_classical_repair_and_says_so():
    def cb(image, mode, **kw):
        if mode == "model":
            raise MissingWeightsError("global_checkpoints.zip is missing; python -m restoration_lib weights fetch bopbtl-global")
        return fake_repair(image, mode=mode, **kw)

    p = widgets.RepairPanel(_img(), callback=cb)
    assert p.result.mode == "classical" and "weights fetch bopbtl-global" in p.notice
    assert p.figure._suptitle.get_text() == "repair (classical)"
    p.mode.value = "classical"
    assert p.notice == "" and p.result.mode == "classical"


def test_repair_fallback_drops_faces_when_the_landmarks_are_missing_too():
    tried = []

    def cb(image, mode, faces, **kw):
        tried.append((mode, faces))
        if mode == "model" or faces:
            raise MissingWeightsError("shape_predictor_68_face_landmarks.dat missing; "
                                      "python -m restoration_lib weights fetch dlib-landmarks-68")
        return fake_repair(image, mode=mode, faces=faces, **kw)

    p = widgets.RepairPanel(_img(), callback=cb)
    assert tried == [("model", True), ("classical", True), ("classical", False)]
    assert p.figure._suptitle.get_text() == "repair (classical, faces off)"
    assert p.notice.startswith("shape_predictor_68_face_landmarks.dat missing")

    def nothing_works(image, **kw):
        raise MissingWeightsError("x missing; python -m restoration_lib weights fetch x")

    p = widgets.RepairPanel(_img(), callback=nothing_works)
    assert p.result is None and p.png is None and "weights fetch x" in p.notice


# -- interpolate ---------------------------------------------------------------------------------------


def fake_interpolate(f0, f1, factor, model):
    return [((1 - k / factor) * f0 + k / factor * f1).astype(np.uint8) for k in range(1, factor)]


def test_interpolate_panel_factor_and_model(monkeypatch):
    monkeypatch.setattr(widgets, "interpolation_models", lambda: [("rife-4.0", "RIFE"), ("flow", "flow")])
    cb = Recorder(fake_interpolate)
    f0, f1 = _img(seed=1), _img(seed=2)
    p = widgets.InterpolatePanel(f0, f1, callback=cb, truth=f0)
    assert cb.calls[-1] == {"factor": 2, "model": "rife-4.0"} and len(p.result) == 1
    assert [ax.get_title() for ax in p.figure.axes][1] == "middle (rife-4.0, t = 0.5)"
    assert p.figure.axes[3].get_title().startswith("|middle − truth|")
    first = p.png
    p.factor.value = 4
    assert len(p.result) == 3 and p.png != first
    assert p.figure.axes[3].get_title().startswith("|frame 1 − frame 0|")  # no truth at t = 0.5 of 4
    assert [label for label, _ in p.model.options] == ["rife-4.0: RIFE", "flow: flow"]


def test_interpolate_without_weights_uses_flow(monkeypatch):
    monkeypatch.setattr(widgets, "interpolation_models", lambda: [("rife-4.6", "RIFE 4.6"), ("flow", "flow")])

    def cb(f0, f1, factor, model):
        if model != "flow":
            raise MissingWeightsError("flownet.pkl missing: python -m restoration_lib weights fetch rife-4.6")
        return fake_interpolate(f0, f1, factor, model)

    p = widgets.InterpolatePanel(_img(seed=1), _img(seed=2), model="rife-4.6", callback=cb)
    assert "weights fetch rife-4.6" in p.notice
    assert p.figure.axes[1].get_title() == "middle (flow, t = 0.5)"


# -- errors, picker ------------------------------------------------------------------------------------


def test_errors_raise_at_construction_and_show_in_the_panel_later():
    def cb(image, render_factor, model):
        if render_factor < 10:
            raise ValueError("render_factor too small for this stand-in")
        return fake_colorize(image, render_factor, model)

    with pytest.raises(ValueError, match="too small"):
        widgets.ColorizePanel(_img(), render_factor=8, callback=cb)
    p = widgets.ColorizePanel(_img(), callback=cb)
    p.render_factor.value = 7
    assert p.notice == "ValueError: render_factor too small for this stand-in"
    assert p.result is None and p.png is None and p.output.outputs == ()
    p.render_factor.value = 30
    assert p.notice == "" and p.png


def test_missing_weights_line_is_one_line_with_the_command():
    line = widgets.missing_weights_line(MISSING)
    assert line == ("ColorizeArtistic_gen.pth not found in /tmp/w/deoldify; fetch it with: "
                    "python -m restoration_lib weights fetch deoldify-artistic")
    one = MissingWeightsError("x.pth missing; run python -m restoration_lib weights fetch x")
    assert widgets.missing_weights_line(one) == str(one)


def test_picker_over_samples_and_upload():
    a, b = _img(seed=5), _img(20, 20, seed=6)
    cb = Recorder(fake_colorize)
    picker = widgets.ImagePicker({"a": lambda: a, "b": lambda: b})
    p = widgets.ColorizePanel(callback=cb, picker=picker)
    np.testing.assert_array_equal(p.result, fake_colorize(a, 35, "artistic"))
    picker.dropdown.value = "b"
    assert p.calls == 2 and p.result.shape == (20, 20, 3)
    pytest.importorskip("restoration_lib.io", reason="restoration_lib.io (lead) is not merged yet")
    up = _img(12, 16, seed=7)
    buf = io.BytesIO()
    Image.fromarray(up).save(buf, format="PNG")
    picker.upload.value = ({"name": "mine.png", "type": "image/png", "size": len(buf.getvalue()),
                            "content": memoryview(buf.getvalue()), "last_modified": datetime.datetime.now()},)
    assert picker.dropdown.value == "upload: mine.png"
    np.testing.assert_array_equal(p.result, fake_colorize(up, 35, "artistic"))
    calls = p.calls
    picker.upload.value = ({"name": "notes.png", "type": "image/png", "size": 5, "content": memoryview(b"hello"),
                            "last_modified": datetime.datetime.now()},)
    assert picker.dropdown.value == "upload: mine.png" and p.calls == calls  # refused, nothing re-ran
    assert "notes.png" in picker.status.value and "upload: notes.png" not in picker.dropdown.options


def test_fetch_button_calls_fetch_and_reports():
    got = []

    def fetch(ids, weights_dir=None, progress=True):
        got.append((list(ids), weights_dir))
        if weights_dir == "offline":
            raise OSError("no network")
        return [f"/w/{ids[0]}.pkl"]

    b = widgets.FetchButton("rife-4.0", weights_dir="/w", fetch=fetch)
    assert b.button.description == "fetch rife-4.0" and got == []
    b.button.click()
    assert got == [(["rife-4.0"], "/w")] and b.paths == ["/w/rife-4.0.pkl"] and "/w/rife-4.0.pkl" in b.status.value
    b = widgets.FetchButton("rife-4.0", weights_dir="offline", fetch=fetch)
    b.button.click()
    assert "OSError: no network" in b.status.value and not b.button.disabled


# -- the real library behind the callbacks (stand-in weights; no published checkpoint needed) ------------


def test_colorize_image_missing_weights_names_file_and_command(tmp_path):
    pytest.importorskip("restoration_lib.colorize", reason="restoration_lib.colorize is not merged yet")
    with pytest.raises(MissingWeightsError) as err:
        widgets.colorize_image(_img(), 7, "stable", weights_dir=str(tmp_path))
    line = widgets.missing_weights_line(err.value)
    assert "\n" not in line and "ColorizeStable_gen.pth" in line
    assert line.endswith(f"python -m restoration_lib weights fetch deoldify-stable --dir {tmp_path}")
    p = widgets.ColorizePanel(_img(), callback=functools.partial(widgets.colorize_image, weights_dir=str(tmp_path)))
    assert "deoldify-artistic" in p.notice and p.result.shape == (560, 560)


def test_colorize_panel_with_a_stand_in_generator(make_checkpoint, reference_dir):
    pytest.importorskip("restoration_lib.colorize", reason="restoration_lib.colorize is not merged yet")
    from restoration_lib import models

    keys = make_checkpoint.load_manifest(str(reference_dir / "deoldify" / "artistic.manifest.json"))
    net = models.load("deoldify-artistic", make_checkpoint.make_state_dict(keys, seed=0))
    photo = np.repeat(_img(48, 64)[..., :1], 3, axis=2)  # a gray photo
    p = widgets.ColorizePanel(photo, render_factor=7, callback=lambda image, render_factor, model: (
        widgets.colorize_image(image, render_factor, model=net)))
    assert p.notice == "" and p.result.shape == photo.shape and p.result.dtype == np.uint8
    assert np.abs(p.result.astype(int) - photo).max() > 0  # the stand-in network adds (meaningless) colour
    first, colour = p.png, p.result
    p.render_factor.value = 8
    assert p.notice == "" and p.png != first and not np.array_equal(p.result, colour)


# -- pipeline ------------------------------------------------------------------------------------------


def fake_pipeline(image, with_scratch, hr, faces, mode, colorize, render_factor, model):
    rep = fake_repair(image, with_scratch, hr, faces, mode)
    col = fake_colorize(rep.image, render_factor, model) if colorize else None

    def stages():
        out = [("input", image), ("repaired", rep.image)]
        if rep.scratch_mask is not None:
            out.append(("scratch mask", rep.scratch_mask))
        return out + ([("colorized", col)] if col is not None else [])

    return SimpleNamespace(input=image, repaired=rep.image, colorized=col, final=rep.image if col is None else col,
                           stages=stages)


def test_pipeline_panel_controls_and_stages():
    cb = Recorder(fake_pipeline)
    p = widgets.PipelinePanel(_img(), callback=cb)
    assert cb.calls[-1] == {"with_scratch": True, "hr": False, "faces": True, "mode": "model", "colorize": True,
                            "render_factor": 35, "model": "artistic"}
    assert [ax.get_title() for ax in p.figure.axes] == [
        "input", "repaired (model)", "scratch mask", "colorized (artistic, render_factor 35)"]
    first = p.png
    p.render_factor.value = 20
    assert cb.calls[-1]["render_factor"] == 20 and p.png != first
    p.colorize.value = False
    assert p.result.colorized is None and p.figure._suptitle.get_text() == "repair (model) → not colorized"


def test_pipeline_panel_without_any_weights_names_every_missing_checkpoint():
    def cb(image, mode, colorize, **kw):
        if mode == "model":
            raise MissingWeightsError("global_checkpoints.zip missing\nGet it with:  python -m restoration_lib weights fetch bopbtl-global")
        if colorize:
            raise MissingWeightsError("ColorizeArtistic_gen.pth missing\nGet it with:  python -m restoration_lib weights fetch deoldify-artistic")
        return fake_pipeline(image, mode=mode, colorize=colorize, **kw)

    p = widgets.PipelinePanel(_img(), callback=cb)
    assert p.figure._suptitle.get_text() == "repair (classical) → not colorized"
    assert "\n" not in p.notice
    assert p.notice.startswith("global_checkpoints.zip missing; fetch it with: python -m restoration_lib weights fetch bopbtl-global")
    assert "also missing: deoldify-artistic (python -m restoration_lib weights fetch deoldify-artistic)" in p.notice


def test_weights_table_lists_a_tasks_checkpoints_and_what_is_on_disk(tmp_path):
    weights = pytest.importorskip("restoration_lib.weights")
    entry = weights.registry()["rife-4.0"]
    target = tmp_path / entry.relpath
    target.parent.mkdir(parents=True)
    with open(target, "wb") as f:  # a file of the right size counts as on disk (find() does not hash)
        f.truncate(entry.size)
    page = widgets.weights_table("interpolate", weights_dir=str(tmp_path))._repr_html_()
    rows = page.split("<tr>")[2:]
    ids = [r.split("<code>")[1].split("</code>")[0] for r in rows]
    assert "rife-4.0" in ids and "rife-4.6" in ids and not any(i.startswith(("deoldify", "bopbtl")) for i in ids)
    by_id = dict(zip(ids, rows))
    assert f"✓ {target}" in by_id["rife-4.0"]
    assert "missing: <code>python -m restoration_lib weights fetch rife-4.6</code>" in by_id["rife-4.6"]
    with pytest.raises(ValueError, match="task must be one of"):
        widgets.weights_table("denoise")


def test_interpolate_panel_through_the_library_falls_back_to_flow(tmp_path):
    pytest.importorskip("restoration_lib.interpolate", reason="restoration_lib.interpolate is not merged yet")
    from restoration_lib import samples, viz

    clip = samples.sample_clip("chelsea", frames=12, size=(128, 80))
    cb = functools.partial(widgets.interpolate_frames, weights_dir=str(tmp_path))  # an empty weights folder
    p = widgets.InterpolatePanel(clip[0], clip[2], truth=clip[1], callback=cb)
    assert "rife-4.0" in dict(widgets.interpolation_models()) and p.model.value == "rife-4.0"
    assert p.notice.startswith("checkpoint 'rife-4.0' (flownet.pkl) is not on disk")
    assert f"python -m restoration_lib weights fetch rife-4.0 --dir {tmp_path}" in p.notice
    assert p.figure.axes[1].get_title() == "middle (flow, t = 0.5)"
    blend = ((clip[0].astype(np.float32) + clip[2]) / 2).round().astype(np.uint8)
    assert viz.difference(p.result[0], clip[1]).mean() < 0.7 * viz.difference(blend, clip[1]).mean()
    p.factor.value = 4
    assert len(p.result) == 3 and p.result[0].shape == clip[0].shape


def test_repair_and_pipeline_panels_through_the_library_without_weights(tmp_path):
    pytest.importorskip("restoration_lib.pipeline", reason="restoration_lib.pipeline is not merged yet")
    from restoration_lib import samples

    photo = samples.sample_image("astronaut", max_side=160)
    repair = functools.partial(widgets.repair_image, weights_dir=str(tmp_path))  # an empty weights folder
    p = widgets.RepairPanel(photo, faces=False, callback=repair)
    assert "weights fetch bopbtl-global" in p.notice and "\n" not in p.notice
    assert p.result.mode == "classical" and p.result.scratch_mask is not None
    assert p.figure._suptitle.get_text() == "repair (classical, faces off)"
    assert p.result.image.shape == photo.shape and not np.array_equal(p.result.image, photo)

    chain = functools.partial(widgets.restore_photo_stages, weights_dir=str(tmp_path))
    q = widgets.PipelinePanel(photo, faces=False, callback=chain)
    assert q.result.colorized is None and q.result.repaired is not None
    assert "also missing: deoldify-artistic" in q.notice
    assert q.figure._suptitle.get_text() == "repair (classical, faces off) → not colorized"
    first = q.png
    q.with_scratch.value = False
    assert q.result.scratch_mask is None and q.png != first


def test_ddcolor_panel_runs_its_callback_and_falls_back_without_weights(tmp_path):
    from restoration_lib.widgets import ColorizerComparePanel, DDColorPanel

    photo = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    calls = []

    def fake(image, input_size=512, model="ddcolor"):
        calls.append((input_size, model))
        return image[..., ::-1].copy()

    p = DDColorPanel(photo, input_size=256, callback=fake)
    assert calls == [(256, "ddcolor")] and p.notice == "" and p.png
    p.input_size.value = 512
    assert calls[-1] == (512, "ddcolor")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RESTORATION_WEIGHTS_DIR", str(tmp_path))
        missing = DDColorPanel(photo, input_size=256)
        assert "ddcolor-modelscope" in missing.notice and missing.result.shape == (256, 256)
        both = ColorizerComparePanel(photo, render_factor=8, input_size=256)
        assert "deoldify-artistic" in both.notice and both.png
