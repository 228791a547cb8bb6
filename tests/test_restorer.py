"""The Restorer chain, its checkpoint layouts and errors, the repair CLI, and the published weights when present.

Wiring is checked with stand-in checkpoints (../shared/reference/make_checkpoint.py with the seeds of
checkpoints.json) written in the layout of the published ``global_checkpoints.zip`` (the zip itself and the
unpacked folder). With stand-in weights the restored image is noise, so the face stages are checked on a photo
whose stage 1 is replaced by the identity: that chain is exactly the fixture's stage 5 → 7 chain, whose final
image is compared with the official one.
"""
from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restoration_lib.cli import main as cli_main
from restoration_lib.errors import ImageReadError, ImageWriteError, MissingWeightsError, RestorationError
from restoration_lib.repair import GlobalRestorer, Restorer
from restoration_lib.repair.global_restore import MEMBERS, GlobalResult, ScratchDetection, _resize_rule, as_rgb_uint8

from _bopbtl_global import bop, make_standin, png, standins, write_global_zip  # noqa: F401 (bop is a fixture)

SCRATCH_KEYS = ("detection", "vae_a", "vae_b_scratch", "mapping_scratch")
QUALITY_KEYS = ("vae_a", "vae_b_quality", "mapping_quality")


@pytest.fixture(scope="module")
def ckpts(bop) -> dict:
    return standins(str(bop))


@pytest.fixture(scope="module")
def global_zip(bop, tmp_path_factory) -> Path:
    """Stand-in global_checkpoints.zip (without the HR mapping, to save time and disk; HR uses a mapping)."""
    return write_global_zip(str(bop), tmp_path_factory.mktemp("bop") / "global_checkpoints.zip",
                            keys=tuple(dict.fromkeys(QUALITY_KEYS + SCRATCH_KEYS)))  # fmt: skip


@pytest.fixture(scope="module")
def photo(bop) -> np.ndarray:
    """A small real scratched photo (not a multiple of 4 or 16 on either side)."""
    return png(bop / "stages" / "inputs" / "scr_d2.png")[:74, :90]


def _same_weights(net, sd) -> bool:
    got = net.state_dict()
    return set(got) == set(sd) and all(torch.equal(got[k], sd[k]) for k in sd)


def test_quality_from_zip(global_zip, ckpts, photo):
    r = Restorer(faces=False, checkpoints=global_zip, device="cpu", progress=False)
    g = r.global_restorer
    assert _same_weights(g.vae_a, ckpts["vae_a"]) and _same_weights(g.vae_b, ckpts["vae_b_quality"])
    assert _same_weights(g.mapping, ckpts["mapping_quality"]) and r.detector is None
    res = r(photo)
    assert np.array_equal(res.stage1, g(photo).image) and res.stage1.shape == (72, 88, 3)  # multiples of 4
    assert res.image.shape == photo.shape and res.image.dtype == np.uint8  # keep_size: back to 74x90
    assert res.scratch_mask is None and res.faces == [] and (res.mode, res.restore_mode) == ("model", "quality")
    assert res.input_size == (74, 90)


def test_scratch_from_unpacked_folder(global_zip, ckpts, photo, tmp_path, monkeypatch):
    with zipfile.ZipFile(global_zip) as zf:  # the official layout: Global/checkpoints/...
        zf.extractall(tmp_path / "Global", [MEMBERS[k][0] for k in SCRATCH_KEYS])
    r = Restorer(with_scratch=True, faces=False, checkpoints=tmp_path, device="cpu", progress=False, keep_size=False)
    assert _same_weights(r.detector.net, ckpts["detection"])  # unwrapped from {'model_state': ...}
    assert _same_weights(r.global_restorer.mapping, ckpts["mapping_scratch"])
    assert _same_weights(r.global_restorer.vae_b, ckpts["vae_b_scratch"])
    det = r.detector(photo)
    monkeypatch.setattr(r, "detector", lambda image, **kw: det if image is photo else pytest.fail("wrong input"))
    res = r(photo)
    assert np.array_equal(res.scratch_mask, det.mask) and res.scratch_mask.shape == (80, 96)  # multiples of 16
    assert np.array_equal(res.stage1, r.global_restorer(det.image, det.mask).image)
    assert np.array_equal(res.image, res.stage1) and res.restore_mode == "scratch"


def test_hr_wiring(ckpts, photo, monkeypatch):
    r = Restorer(with_scratch=True, hr=True, faces=False, checkpoints=ckpts, device="cpu", progress=False)
    det = r.detector(photo)
    monkeypatch.setattr(r, "detector", lambda image, **kw: det)  # detect once (the test machine is slow)
    res = r(photo)
    assert np.array_equal(res.stage1, r.global_restorer(det.image, det.mask).image)
    assert res.restore_mode == "hr" and r.global_restorer.mode == "hr" and r.face_size == 512


def test_missing_checkpoints_are_clear_errors(global_zip, tmp_path, ckpts):
    with pytest.raises(MissingWeightsError, match=r"(?s)FT_Epoch_latest.pt.*weights fetch bopbtl-global"):
        Restorer(with_scratch=True, faces=False, checkpoints=tmp_path, device="cpu")  # empty folder
    partial = tmp_path / "partial.zip"
    with zipfile.ZipFile(global_zip) as src, zipfile.ZipFile(partial, "w") as dst:
        for name in src.namelist():
            if "mapping_quality" not in name:
                dst.writestr(name, src.read(name))
    with pytest.raises(MissingWeightsError, match="checkpoints/restoration/mapping_quality/latest_net_mapping_net.pth"):
        Restorer(faces=False, checkpoints=partial, device="cpu")
    with pytest.raises(MissingWeightsError, match="bopbtl-global"):
        Restorer(faces=False, weights_dir=tmp_path / "empty", device="cpu")  # nothing in the weights folder
    with pytest.raises(MissingWeightsError, match="mapping_hr"):
        GlobalRestorer("hr", {k: v for k, v in ckpts.items() if k != "mapping_hr"}, device="cpu")


def test_all_scratch_detection_follows_the_official_chain(ckpts, photo, monkeypatch):
    """detection.py saves an all-scratch mask black, so the official chain restores without scratches."""
    r = Restorer(with_scratch=True, faces=False, checkpoints=ckpts, device="cpu", progress=False)
    image = _resize_rule(photo, 16, "full", Image.BICUBIC)
    full = np.full(image.shape[:2], 255, np.uint8)
    monkeypatch.setattr(r, "detector", lambda img, **kw: ScratchDetection(full.copy(), image, full * 0.0, full))
    with pytest.warns(UserWarning, match="every pixel"):
        res = r(photo)
    assert res.scratch_mask.min() == 255
    assert np.array_equal(res.stage1, r.global_restorer(image, np.zeros_like(full)).image)


def test_hr_mask_covering_everything_is_a_clear_error(ckpts):
    g = GlobalRestorer("hr", ckpts, device="cpu", progress=False)
    with pytest.raises(RestorationError, match="no clean patch"):
        g(np.full((64, 64, 3), 128, np.uint8), np.full((64, 64), 255, np.uint8))


@pytest.fixture(scope="module")
def face_ckpt(bop) -> dict:
    entry = json.loads((bop / "checkpoints.json").read_text())["checkpoints"]["Setting_9_epoch_100"]
    return make_standin(str(bop / entry["manifest"]), int(entry["seed"]))


def _landmarks_or_skip():
    pytest.importorskip("dlib", reason="dlib is not installed (pip install dlib-bin)")
    from restoration_lib.repair import faces

    try:
        faces.landmarks_path()
    except MissingWeightsError as e:
        pytest.skip(f"the 68-landmark model is not available: {str(e)[:160]}")


def test_face_chain_matches_official_blend(bop, ckpts, face_ckpt, monkeypatch):
    """Stage 1 replaced by the identity, the Restorer's face chain reproduces the official stages 5-7."""
    _landmarks_or_skip()
    origin = png(bop / "stages" / "s2_full" / "origin" / "old_h.png")
    r = Restorer(faces=True, checkpoints=ckpts, face_checkpoints=face_ckpt, device="cpu", progress=False)
    monkeypatch.setattr(r, "global_restorer", lambda img: GlobalResult(img, None, img, None, None, "quality"))
    res = r(origin)
    want_crop = png(bop / "stages" / "s5_face_detect" / "old_h_1.png")
    assert len(res.faces) == 1 and np.array_equal(res.faces[0].crop_before, want_crop)
    assert res.faces[0].crop_after.shape == (256, 256, 3) and res.faces[0].affine.shape == (2, 3)
    d = np.abs(res.image.astype(int) - png(bop / "stages" / "s7_blend" / "old_h.png").astype(int))
    assert d.max() <= 3, f"blended image differs by up to {d.max()} levels"


def test_classical_mode_finds_faces_without_changing_them(bop):
    _landmarks_or_skip()
    from restoration_lib.repair.classical import classical_repair

    origin = png(bop / "stages" / "s2_full" / "origin" / "old_h.png")
    res = Restorer(with_scratch=True, mode="classical", progress=False)(origin)
    out, mask = classical_repair(origin, with_scratch=True)
    assert np.array_equal(res.stage1, out) and np.array_equal(res.scratch_mask, mask)
    assert np.array_equal(res.image, out) and (res.mode, res.restore_mode) == ("classical", "classical")
    assert len(res.faces) == 1 and res.faces[0].crop_after is None and res.faces[0].crop_before.shape == (256, 256, 3)


def test_classical_mode_without_face_models_skips_faces(monkeypatch, photo, ckpts):
    from restoration_lib.repair import faces

    def missing(*a, **k):
        raise MissingWeightsError("shape_predictor_68_face_landmarks.dat is not on disk")

    monkeypatch.setattr(faces, "landmarks_path", missing)
    with pytest.warns(UserWarning, match="faces are not searched"):
        r = Restorer(with_scratch=True, mode="classical", progress=False)
    assert r(photo).faces == [] and not r.faces
    with pytest.raises(MissingWeightsError, match="shape_predictor"):  # model mode stays strict
        Restorer(faces=True, checkpoints=ckpts, device="cpu", progress=False)


def test_cli_repair(global_zip, photo, tmp_path):
    from PIL import Image

    src = tmp_path / "in.png"
    Image.fromarray(photo).save(src)
    out, stages = tmp_path / "out" / "fixed.png", tmp_path / "stages"
    rc = cli_main(["repair", str(src), str(out), "--checkpoints", str(global_zip), "--no-faces", "--with-scratch",
                   "--device", "cpu", "--no-progress", "--save-stages", str(stages)])  # fmt: skip
    assert rc == 0 and png(out).shape == photo.shape
    assert png(stages / "in_stage1.png").shape == (80, 96, 3) and (stages / "in_mask.png").is_file()
    assert cli_main(["repair", str(src), str(src), "--classical", "--no-faces", "--no-progress"]) == 1  # refused
    assert png(src).shape == photo.shape  # the input is untouched
    with pytest.raises(ImageWriteError):
        from restoration_lib.cli import build_parser

        args = build_parser().parse_args(["repair", str(src), str(src), "--classical", "--no-faces"])
        args.func(args)
    assert cli_main(["repair", str(tmp_path / "missing.png"), str(out), "--classical"]) == 1
    folder = tmp_path / "scans"
    folder.mkdir()
    Image.fromarray(photo).save(folder / "a.jpg")
    (folder / "notes.txt").write_text("not an image")
    assert cli_main(["repair", str(folder), str(tmp_path / "fixed"), "--classical", "--no-faces", "--no-progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "fixed").iterdir()) == ["a.png"]


def test_input_checks(ckpts):
    g = GlobalRestorer("scratch", ckpts, device="cpu", progress=False)
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="needs the scratch mask"):
        g(img)
    with pytest.raises(ValueError, match="mask is 16x32"):
        g(img, np.zeros((32, 16), np.uint8))
    with pytest.raises(ValueError, match="takes no mask"):
        GlobalRestorer("quality", ckpts, device="cpu")(img, np.zeros((32, 32), bool))
    with pytest.raises(ValueError, match="mode must be"):
        GlobalRestorer("bad", ckpts)
    with pytest.raises(ImageReadError, match="too small"):
        GlobalRestorer("quality", ckpts, device="cpu")(np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(ImageReadError, match="shape"):
        as_rgb_uint8(np.zeros((4, 4, 5), np.uint8))
    assert as_rgb_uint8(np.full((2, 3), 0.5)).tolist() == [[[128] * 3] * 3] * 2
    with pytest.raises(ValueError, match="mode must be 'model' or 'classical'"):
        Restorer(mode="fast")


def test_fast_precision_runs(ckpts, photo):
    res = GlobalRestorer("quality", ckpts, device="cpu", precision="bf16", progress=False)(photo)
    exact = GlobalRestorer("quality", ckpts, device="cpu", progress=False)(photo)
    assert res.image.shape == exact.image.shape and res.raw.dtype == np.float32
    # bfloat16 differs from float32, but the images are the same picture
    assert np.corrcoef(res.raw.ravel(), exact.raw.ravel())[0, 1] > 0.9


# ------------------------------------------------------------------------------------------ published weights

DETECTION_SIZE = 451_663_663
DETECTION_SHA256 = "b2d7ab04e9b3885c6b1991bb7a0b823129dd6e3ac078a9fd059ebd2a7ba59a95"


@pytest.mark.real_weights
def test_published_checkpoints_repair_a_scratched_photo(data_dir):
    from weights_fixtures import real_checkpoint

    from restoration_lib import weights

    real_checkpoint("bopbtl-global")  # skips when the archive is absent; checks it against its recorded hash
    member = weights.find_member("bopbtl-global", MEMBERS["detection"][0])  # unpacked on first use
    h = hashlib.sha256()
    with open(member, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    assert (member.stat().st_size, h.hexdigest()) == (DETECTION_SIZE, DETECTION_SHA256), "not the published file"
    photo = as_rgb_uint8(data_dir / "old" / "scratched" / "b.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the real detector must not flag every pixel
        res = Restorer(with_scratch=True, faces=False, device="cpu", progress=False)(photo)
    cover = (res.scratch_mask > 0).mean()
    assert 0.001 < cover < 0.3, f"scratch mask covers {cover:.1%} of the photo"
    diff = np.abs(res.image.astype(float) - photo.astype(float)).mean()
    assert 2 < diff < 60 and res.stage1.std() > 20  # a changed but recognisable photo, not noise or a flat image
