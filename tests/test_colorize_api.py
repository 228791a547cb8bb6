"""Colorizer behaviour beyond the official numbers: inputs, alpha, precision, memory, loading errors, compat API."""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from restoration_lib import colorize as C
from restoration_lib import models
from restoration_lib.errors import CheckpointError, ImageReadError, MissingWeightsError, RestorationError

from _deoldify_nets import standin_net, standin_state_dict

RF = 4  # 64×64 model input: enough to exercise every step, cheap on 2 cores


@pytest.fixture(scope="module")
def artistic(make_checkpoint, reference_dir):
    return standin_net(make_checkpoint, reference_dir, "artistic", 0)


@pytest.fixture
def colorizer(artistic):
    return C.Colorizer(artistic, device="cpu", progress=False)


@pytest.fixture(scope="module")
def photo(data_dir) -> np.ndarray:
    """A real old photo, downsized to keep the tests fast."""
    im = Image.open(data_dir / "old" / "bw" / "Olds1875.png").convert("RGB")
    im.thumbnail((96, 96), Image.LANCZOS)
    return np.asarray(im)


@pytest.fixture(scope="module")
def colour_photo(data_dir) -> np.ndarray:
    im = Image.open(data_dir / "color" / "kodak" / "kodim23.png").convert("RGB")
    im.thumbnail((96, 96), Image.LANCZOS)
    return np.asarray(im)


def _tiny_checkpoint(path: Path, shapes: dict) -> Path:
    """A file with the key layout and shapes of a real checkpoint but almost no bytes (stride-0 tensors)."""
    torch.save({k: torch.zeros(1).expand(*v) if len(v) else torch.zeros(()) for k, v in shapes.items()}, path)
    return path


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


# -- loading errors ---------------------------------------------------------------------------------------------


def test_stable_checkpoint_given_as_artistic(tmp_path, monkeypatch):
    path = _tiny_checkpoint(tmp_path / "ColorizeStable_gen.pth", models.expected_shapes("deoldify-stable"))
    with pytest.raises(CheckpointError) as e:
        models.load("deoldify-artistic", path)
    msg = str(e.value)
    assert str(path) in msg and "deoldify-stable" in msg and "layers.4.conv1.0.weight_orig" in msg
    # the same through the task class, as a user would meet it
    monkeypatch.setattr(C, "_load_named", lambda name, device, wd: models.load(name, path, device=device))
    with pytest.raises(CheckpointError, match="deoldify-stable"):
        C.Colorizer("artistic", device="cpu")


def test_official_file_layout_loads(tmp_path):
    """The published files are fastai ``Learner.save`` outputs: {'model': state_dict, 'opt': ...} with pickled
    ``slice`` objects, in torch's legacy (non-zip) format."""
    shapes = models.expected_shapes("deoldify-artistic")
    sd = {k: torch.zeros(1).expand(*v) if len(v) else torch.zeros((), dtype=torch.long) for k, v in shapes.items()}
    path = tmp_path / "ColorizeArtistic_gen.pth"
    torch.save({"model": sd, "opt": {"lr": slice(1e-5, 1e-3), "wd": 1e-3}}, path, _use_new_zipfile_serialization=False)
    net = models.load("deoldify-artistic", path)
    assert net.spec.name == "deoldify-artistic" and not net.training


def test_html_page_saved_as_checkpoint(tmp_path):
    path = tmp_path / "ColorizeArtistic_gen.pth"
    path.write_text("<!DOCTYPE html><html><head><title>Dropbox - Error</title></head><body>not found</body></html>")
    with pytest.raises(CheckpointError, match="HTML") as e:
        models.load("deoldify-artistic", path)
    assert str(path) in str(e.value)


def test_truncated_checkpoint(tmp_path):
    path = _tiny_checkpoint(tmp_path / "ColorizeArtistic_gen.pth", models.expected_shapes("deoldify-artistic"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated|corrupt") as e:
        models.load("deoldify-artistic", path)
    assert str(path) in str(e.value)


def test_missing_weights_names_the_file(tmp_path):
    with pytest.raises(MissingWeightsError) as e:
        C.Colorizer("artistic", device="cpu", weights_dir=tmp_path)
    assert "ColorizeArtistic_gen.pth" in str(e.value) and "weights fetch" in str(e.value)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="artistic"):
        C.Colorizer("sepia", device="cpu")


# -- inputs and outputs -----------------------------------------------------------------------------------------


def test_accepts_every_input_kind(colorizer, photo, tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(photo).save(path)
    ref = colorizer(path, RF)
    assert ref.shape == photo.shape and ref.dtype == np.uint8
    np.testing.assert_array_equal(colorizer(str(path), RF), ref)
    np.testing.assert_array_equal(colorizer(path.read_bytes(), RF), ref)
    np.testing.assert_array_equal(colorizer(Image.open(path), RF), ref)
    np.testing.assert_array_equal(colorizer(photo, RF), ref)
    np.testing.assert_array_equal(colorizer(photo.astype(np.float32) / 255, RF), ref)
    gray = photo[..., 0]
    np.testing.assert_array_equal(colorizer(gray, RF), colorizer(np.dstack([gray] * 3), RF))


def test_bad_inputs(colorizer, photo, tmp_path):
    with pytest.raises(ImageReadError, match="shape"):
        colorizer(np.zeros((8, 8, 2), np.uint8), RF)
    with pytest.raises(ImageReadError):
        colorizer(tmp_path / "nope.png", RF)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match="bad.png"):
        colorizer(bad, RF)
    for rf in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="render_factor"):
            colorizer(photo, rf)


def test_colour_input_keeps_its_luminance(colorizer, colour_photo):
    out = colorizer(colour_photo, RF)
    y_in = cv2.cvtColor(colour_photo, cv2.COLOR_RGB2YUV)[..., 0].astype(int)
    y_out = cv2.cvtColor(out, cv2.COLOR_RGB2YUV)[..., 0].astype(int)
    # exact except where the new chroma pushes RGB out of gamut and YUV→RGB clips
    assert np.abs(y_out - y_in).mean() < 1.0 and (np.abs(y_out - y_in) <= 2).mean() > 0.97
    # the model sees only gray: its de-normalised input has three equal channels
    x = C.model_input(colour_photo, 16 * RF)[0]
    u = x * torch.tensor(C.IMAGENET_STD)[:, None, None] + torch.tensor(C.IMAGENET_MEAN)[:, None, None]
    assert torch.allclose(u[0], u[1], atol=1e-6) and torch.allclose(u[0], u[2], atol=1e-6)


def test_post_process_off_returns_model_colours(colorizer, photo):
    res = colorizer.colorize(photo, RF)
    raw = colorizer(photo, RF, post_process=False)
    np.testing.assert_array_equal(raw, res.raw_color)
    assert res.model_square.shape == (16 * RF, 16 * RF, 3)
    assert not np.array_equal(raw, res.image)


def test_alpha_is_carried_through(colorizer, photo):
    h, w = photo.shape[:2]
    alpha = np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))
    out = colorizer(np.dstack([photo, alpha]), RF)
    assert out.shape == (h, w, 4)
    np.testing.assert_array_equal(out[..., 3], alpha)
    # colour from the pixels as they are, not composited over anything (as the original does)
    np.testing.assert_array_equal(out[..., :3], colorizer(photo, RF))
    pil_out = colorizer(Image.fromarray(np.dstack([photo, alpha]), "RGBA"), RF)
    np.testing.assert_array_equal(pil_out, out)


def test_batch_matches_single_calls(colorizer, photo, colour_photo):
    frames = [photo, colour_photo[: photo.shape[0], : photo.shape[1]]]
    singles = [colorizer(f, RF) for f in frames]
    x = torch.cat([C.model_input(f, 16 * RF) for f in frames])
    with torch.inference_mode():
        together = colorizer.net(x)
        apart = torch.cat([colorizer.net(x[i : i + 1]) for i in range(len(frames))])
    # a batch may take other convolution kernels: the model's output moves by float32 rounding only ...
    assert (together - apart).abs().max().item() <= 1e-5
    for bs in (1, 2):
        batch = colorizer.colorize_batch(frames, RF, batch_size=bs)
        for a, b in zip(batch, singles):
            d = np.abs(a.astype(int) - b.astype(int))
            # ... which can flip a chroma value by one level; B = Y + 1.772·Cb turns that into up to 2 RGB levels
            assert d.max() <= 2 and (d > 0).mean() <= 0.001, (d.max(), (d > 0).mean())


def test_watermark_marks_the_bottom_left_only(colorizer, photo):
    plain = colorizer(photo, RF)
    marked = colorizer(photo, RF, watermark=True)
    changed = np.argwhere(np.any(marked != plain, axis=2))
    assert len(changed) > 0
    h, w = photo.shape[:2]
    assert changed[:, 0].min() >= h // 2 and changed[:, 1].max() < w * 3 // 4


# -- precision --------------------------------------------------------------------------------------------------


def test_fast_precision_close_to_exact(artistic, data_dir):
    im = Image.open(data_dir / "old" / "bw" / "Dancing.png").convert("RGB")
    im.thumbnail((160, 160), Image.LANCZOS)
    rgb = np.asarray(im)
    exact = C.Colorizer(artistic, device="cpu", progress=False)(rgb, 8)
    fast_c = C.Colorizer(copy.deepcopy(artistic), device="cpu", precision="bf16", progress=False)
    assert next(fast_c.net.parameters()).dtype == torch.bfloat16
    fast = fast_c(rgb, 8)
    assert _psnr(fast, exact) >= 40.0


def test_fast_precision_stable_uses_the_bridge_matrix_products(make_checkpoint, reference_dir, data_dir):
    from restoration_lib.accel.winograd import Im2colConv3x3

    im = Image.open(data_dir / "old" / "faded" / "a.png").convert("RGB")
    im.thumbnail((160, 160), Image.LANCZOS)
    rgb = np.asarray(im)
    sd = standin_state_dict(make_checkpoint, reference_dir, "stable", 0)
    exact = C.Colorizer(models.load("deoldify-stable", sd), device="cpu", progress=False)(rgb, 12)
    fast_c = C.Colorizer(models.load("deoldify-stable", sd), device="cpu", precision="bf16", progress=False)
    assert sum(isinstance(m, Im2colConv3x3) for m in fast_c.net.modules()) == 2  # 2048→4096→2048
    assert _psnr(fast_c(rgb, 12), exact) >= 40.0


# -- memory -----------------------------------------------------------------------------------------------------


def test_estimate_grows_with_render_factor():
    small = C.estimate_activation_bytes("deep", 1.5, 64)
    big = C.estimate_activation_bytes("deep", 1.5, 128)
    assert 3.5 < big / small < 4.5
    assert C.estimate_activation_bytes("deep", 1.5, 128, dtype=torch.bfloat16) * 2 == pytest.approx(big, rel=0.01)
    # the full-resolution tail alone holds several 303-channel float32 maps
    assert small > 3 * 303 * 64 * 64 * 4


def test_render_factor_degrades_to_what_fits(artistic, photo):
    probe = C.Colorizer(artistic, device="cpu", progress=False)
    budget = (probe.estimate_memory(6) + probe.estimate_memory(7)) // 2
    col = C.Colorizer(artistic, device="cpu", progress=False, memory_budget=budget)
    with pytest.warns(RuntimeWarning, match="render_factor 12 .* using render_factor 6"):
        res = col.colorize(photo, 12)
    assert res.render_factor == 6 and res.requested_render_factor == 12
    assert res.model_square.shape == (96, 96, 3) and res.image.shape == photo.shape
    np.testing.assert_array_equal(res.image, probe(photo, 6))  # a real colorization at the lower factor
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert col.colorize(photo, 5).render_factor == 5  # fits: no warning


def test_nothing_fits_is_a_clear_error(artistic, photo):
    col = C.Colorizer(artistic, device="cpu", progress=False, memory_budget=1000)
    with pytest.raises(RestorationError, match="not enough memory"):
        col(photo, 4)


def test_out_of_memory_during_forward_retries_lower(colorizer, photo, monkeypatch):
    real = colorizer._forward
    sizes = []

    def forward(x):
        sizes.append(x.shape[-1])
        if x.shape[-1] > 16 * 5:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory: "
                               "you tried to allocate 123456789 bytes.")
        return real(x)

    monkeypatch.setattr(colorizer, "_forward", forward)
    with pytest.warns(RuntimeWarning, match="ran out of memory"):
        res = colorizer.colorize(photo, 8)
    assert res.render_factor <= 5 and sizes[0] == 128 and sizes[-1] == 16 * res.render_factor
    monkeypatch.setattr(colorizer, "_forward", lambda x: (_ for _ in ()).throw(RuntimeError("shape mismatch")))
    with pytest.raises(RuntimeError, match="shape mismatch"):  # other errors are not swallowed
        colorizer(photo, 4)


# -- compatibility with the original's API and the CLI ---------------------------------------------------------


@pytest.fixture
def fake_weights(artistic, monkeypatch):
    """Name-based construction without real weights: the stand-in network stands for every published file."""
    asked = []

    def load(name, device, weights_dir):
        asked.append(name)
        return artistic

    monkeypatch.setattr(C, "_load_named", load)
    return asked


def test_image_colorizer_compat(fake_weights, photo, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    src = tmp_path / "photo.png"
    Image.fromarray(photo).save(src)
    vis = C.get_image_colorizer(artistic=True, results_dir=tmp_path / "results")
    assert fake_weights == ["deoldify-artistic"]
    before = plt.get_fignums()
    out = vis.plot_transformed_image(src, render_factor=RF, compare=True)
    assert plt.get_fignums() == before  # its figure is closed
    assert out == tmp_path / "results" / "photo.png"
    expected = vis.colorizer(src, RF)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), expected)
    img = vis.get_transformed_image(src, RF, post_process=True, watermarked=False)
    assert isinstance(img, Image.Image) and img.size == (photo.shape[1], photo.shape[0])
    np.testing.assert_array_equal(np.asarray(img), expected)
    C.get_image_colorizer(artistic=False)
    assert fake_weights[-1] == "deoldify-stable"


def test_image_colorizer_finds_the_original_models_folder(tmp_path):
    """get_image_colorizer(root_folder) uses <root>/models/ColorizeArtistic_gen.pth, where the original kept it."""
    (tmp_path / "models").mkdir()
    shapes = models.expected_shapes("deoldify-artistic")
    path = _tiny_checkpoint(tmp_path / "models" / "ColorizeArtistic_gen.pth", shapes)
    vis = C.get_image_colorizer(root_folder=tmp_path, artistic=True, results_dir=tmp_path / "out")
    assert vis.colorizer.model_name == "deoldify-artistic"
    path.unlink()
    with pytest.raises(MissingWeightsError):  # absent there: the library's weights folder, which lacks it too
        C.get_image_colorizer(root_folder=tmp_path, weights_dir=tmp_path / "w")


def test_video_colorizer_compat(fake_weights, data_dir, tmp_path):
    av = pytest.importorskip("av")
    vc = C.get_video_colorizer()
    assert vc.render_factor == 21 and fake_weights == ["deoldify-video"]
    vc.render_factor = 2  # keep the test quick
    out = vc.colorize_from_path(data_dir / "video" / "chaplin.mp4", tmp_path / "chaplin_color.mp4", max_frames=3)
    with av.open(str(out)) as f:
        frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (360, 640, 3)
    with pytest.raises(Exception, match="no such video"):
        vc.colorize_from_path(tmp_path / "missing.mp4")


def test_cli_colorize(fake_weights, photo, tmp_path, capsys):
    from restoration_lib.cli import main

    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(photo).save(src)
    before = src.read_bytes()
    assert main(["colorize", str(src), str(dst), "--render-factor", str(RF), "--model", "stable", "--quiet"]) == 0
    assert fake_weights == ["deoldify-stable"]
    assert np.asarray(Image.open(dst)).shape == photo.shape
    assert main(["colorize", str(src), str(src), "--render-factor", str(RF), "--quiet"]) == 1  # never the input
    assert src.read_bytes() == before
    assert "input" in capsys.readouterr().err


# -- the published weights --------------------------------------------------------------------------------------

@pytest.mark.real_weights
@pytest.mark.parametrize("model", ["artistic", "stable", "video"])
def test_published_weights_colorize(model, data_dir):
    from weights_fixtures import real_checkpoint

    name = C.MODELS[model]
    path = real_checkpoint(name)  # skips when absent; checks size and sha256 against the registry first
    assert path.stat().st_size == {"artistic": 255_144_681}.get(model, 874_066_230)
    rgb = np.asarray(Image.open(data_dir / "old" / "bw" / "Dancing.png").convert("RGB"))
    col = C.Colorizer(model, device="cpu", progress=False)
    out = col(rgb, 21)
    assert out.shape == rgb.shape
    yuv = cv2.cvtColor(out, cv2.COLOR_RGB2YUV).astype(int)
    assert np.abs(yuv[..., 0] - cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)[..., 0]).mean() < 1.0
    # trained weights give real colour (a gray image has U = V = 128 everywhere)
    assert np.abs(yuv[..., 1:] - 128).mean() > 2.0
    fast = C.Colorizer(model, device="cpu", precision="bf16", progress=False)(rgb, 21)
    assert _psnr(fast, out) >= 40.0
