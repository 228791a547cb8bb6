"""The pipeline with the real task modules: DeOldify with a stand-in checkpoint (real architecture and cost),
classical repair, the optical-flow and RIFE 4.0 interpolators, missing-weights errors, and the CLI."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from restoration_lib import models
from restoration_lib.cli import main
from restoration_lib.colorize import Colorizer
from restoration_lib.errors import MissingWeightsError
from restoration_lib.io import read_image
from restoration_lib.pipeline import (
    ColorizeOptions,
    ColorizeStage,
    restore_film,
    restore_photo,
    work_dir_for,
)
from restoration_lib.pipeline.video import probe, read_frames


def _restorer_available() -> bool:
    try:
        from restoration_lib.repair import Restorer  # noqa: F401
    except ImportError:
        return False
    return True


needs_repair = pytest.mark.skipif(not _restorer_available(), reason="restoration_lib.repair.Restorer is not merged yet")


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)[..., 0].astype(np.float32)


@pytest.fixture(scope="module")
def standin_colorizer(make_checkpoint, reference_dir) -> Colorizer:
    """DeOldify's artistic generator with deterministic stand-in weights (the published file is not on disk)."""
    keys = make_checkpoint.load_manifest(str(reference_dir / "deoldify" / "artistic.manifest.json"))
    net = models.load("deoldify-artistic", make_checkpoint.make_state_dict(keys, seed=1))
    return Colorizer(net, device="cpu", progress=False)


@needs_repair
def test_photo_classical_repair_then_standin_colorizer(data_dir, standin_colorizer):
    path = data_dir / "old" / "scratched" / "d.png"  # c.png's cracks are too faint for the classical detector
    r = restore_photo(path, repair={"mode": "classical", "with_scratch": True, "faces": False},
                      colorize=ColorizeStage(standin_colorizer, ColorizeOptions(render_factor=6)))
    src = read_image(path).rgb
    assert r.input.shape == r.repaired.shape == r.colorized.shape == src.shape
    assert r.scratch_mask is not None and r.scratch_mask.shape == src.shape[:2] and r.scratch_mask.any()
    assert not np.array_equal(r.repaired, src)
    # DeOldify's post-processing keeps the (repaired) luminance and takes colour from the network
    assert np.abs(_luma(r.colorized) - _luma(r.repaired)).mean() < 2.0
    assert r.repair is not None and r.repair.mode == "classical"


def test_missing_weights_are_clear_errors_and_nothing_is_written(data_dir, tmp_path, capsys):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    photo = data_dir / "old" / "bw" / "camera.png"
    with pytest.raises(MissingWeightsError, match="no classical fallback"):
        restore_photo(photo, repair=False, colorize=True, weights_dir=empty)
    chaplin = data_dir / "video" / "chaplin.mp4"
    dst = tmp_path / "film.mp4"
    with pytest.raises(MissingWeightsError, match="needs no weights"):
        restore_film(chaplin, dst, repair=False, colorize=False, interpolate={"model": "rife-4.0"},
                     weights_dir=empty, progress=False)
    with pytest.raises(MissingWeightsError, match="no classical fallback"):
        restore_film(chaplin, dst, repair=False, weights_dir=empty, progress=False)
    assert not dst.exists() and not work_dir_for(dst).exists()
    out = tmp_path / "photo.png"
    assert main(["photo", str(photo), str(out), "--no-repair", "--weights-dir", str(empty), "--strict"]) == 1
    err = capsys.readouterr().err
    assert "weights fetch deoldify-artistic" in err and "no classical fallback" in err and not out.exists()


@needs_repair
def test_missing_repair_weights_point_to_the_classical_mode(data_dir, tmp_path):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    with pytest.raises(MissingWeightsError, match="classical"):
        restore_photo(data_dir / "old" / "bw" / "camera.png", repair=True, colorize=False, weights_dir=empty)


def test_film_with_standin_colorizer_and_flow_interpolation(data_dir, standin_colorizer, tmp_path):
    chaplin = data_dir / "video" / "chaplin.mp4"
    dst = tmp_path / "colour.mp4"
    repair = {"mode": "classical", "faces": False} if _restorer_available() else False
    rep = restore_film(chaplin, dst, repair=repair,
                       colorize=ColorizeStage(standin_colorizer, ColorizeOptions(model="artistic", render_factor=4)),
                       interpolate={"model": "flow"}, chunk_seconds=0.08, duration=0.12, progress=False)
    assert (rep.frames_in, rep.frames_out, rep.chunks, rep.audio_streams) == (3, 6, 2, 1)
    assert rep.seconds["colorize"] > 0 and rep.seconds["interpolate"] > 0 and rep.seconds["stabilize"] > 0
    out = list(read_frames(dst))
    src = list(read_frames(chaplin, 0, 3))
    if repair:
        from restoration_lib.repair import Restorer

        restorer = Restorer(mode="classical", faces=False, progress=False)
        src = [restorer(f).image for f in src]
        assert np.abs(_luma(src[1]) - _luma(list(read_frames(chaplin, 1, 2))[0])).mean() > 1  # repair changed it
    for i in range(3):
        mid = (_luma(src[i]) > 40) & (_luma(src[i]) < 215)
        # the colorizer keeps the (repaired) luminance; the rest is the codec
        assert np.abs(_luma(out[2 * i]) - _luma(src[i]))[mid].mean() < 2.5
        assert np.abs(out[2 * i].astype(int)[..., 0] - out[2 * i][..., 2]).mean() > 1  # in colour


def test_cli_film_and_photo(data_dir, tmp_path):
    chaplin = data_dir / "video" / "chaplin.mp4"
    out = tmp_path / "film.mkv"
    assert main(["film", str(chaplin), str(out), "--no-repair", "--no-colorize", "--interp-model", "flow",
                 "--duration", "0.12", "--chunk-seconds", "0.08", "--no-progress"]) == 0
    info = probe(out)
    assert len(list(read_frames(out))) == 6 and info.fps == 50 and info.audio_streams == 1
    assert main(["film", str(chaplin), str(out), "--no-repair", "--no-colorize", "--no-progress"]) == 1  # exists
    if _restorer_available():
        photo = tmp_path / "p.png"
        assert main(["photo", str(data_dir / "old" / "scratched" / "a.png"), str(photo), "--repair-mode",
                     "classical", "--scratch", "--no-faces", "--no-colorize", "--save-stages", "--no-progress"]) == 0
        assert photo.exists() and (tmp_path / "p.repaired.png").exists() and (tmp_path / "p.scratch_mask.png").exists()


@pytest.mark.real_weights
def test_film_with_real_rife40(data_dir, rife40_checkpoint, tmp_path):
    from restoration_lib.interpolate import Interpolator
    from restoration_lib.pipeline import EncoderSettings

    bikes = data_dir / "video" / "bikes.mp4"  # real camera motion
    dst = tmp_path / "rife.mp4"
    rep = restore_film(bikes, dst, repair=False, colorize=False, stabilize=False,
                       interpolate={"model": "rife-4.0", "factor": 2}, duration=0.16,
                       encoder=EncoderSettings(crf=0), progress=False)  # lossless luma: compare closely
    assert rep.frames_out == 8 and rep.scene_cuts == []
    out = list(read_frames(dst))
    src = list(read_frames(bikes, 0, 4))
    rife = Interpolator("rife-4.0", device="cpu")
    for i in range(1, 4):
        a, b = _luma(src[i - 1]), _luma(src[i])
        direct = rife(src[i - 1], src[i], t=0.5)
        assert np.abs(_luma(out[2 * i - 1]) - _luma(direct)).mean() < 1.0  # the film's in-between is RIFE's
        assert np.abs(_luma(out[2 * i]) - b).mean() < 1.0  # and the originals are kept
        gap = np.abs(b - a).mean()
        assert np.abs(_luma(direct) - a).mean() < gap and np.abs(_luma(direct) - b).mean() < gap


@needs_repair
def test_cli_folder_with_classical_repair_and_a_corrupt_photo(data_dir, tmp_path, capsys):
    import shutil

    src = tmp_path / "scans"
    src.mkdir()
    shutil.copy(data_dir / "old" / "scratched" / "d.png", src / "d.png")
    shutil.copy(data_dir / "old" / "faded" / "b.png", src / "b.png")
    (src / "zz_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    dst = tmp_path / "restored"
    args = ["folder", str(src), str(dst), "--repair-mode", "classical", "--scratch", "--no-faces", "--no-colorize",
            "--no-progress"]
    assert main(args) == 1  # one photo failed
    out = capsys.readouterr().out
    assert "2 restored, 0 already done, 1 failed" in out and "zz_corrupt.png" in out
    for name in ("d.png", "b.png"):
        assert read_image(dst / name).rgb.shape == read_image(src / name).rgb.shape
    assert (dst / "index.html").is_file()
    assert main(args) == 1
    assert "0 restored, 2 already done, 1 failed" in capsys.readouterr().out
