"""Super SloMo: equivalence with the official code on ../shared/reference/superslomo (model and whole-run cases)."""
from __future__ import annotations

import collections
import datetime
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restoration_lib import models
from restoration_lib.archs.superslomo import SuperSloMo, UNet, backwarp
from restoration_lib.errors import CheckpointError, MissingWeightsError
from restoration_lib.interpolate import Interpolator, available_models, interpolate_video
from restoration_lib.interpolate.slomo import frame_to_network, model_size, network_to_frame, slomo_frames

_REF = Path(os.environ.get("RESTORATION_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "reference"
_SS = _REF / "superslomo"


def _names(pattern: str) -> list[str]:
    found = [str(p.relative_to(_SS)) for p in sorted(_SS.glob(pattern))]
    return found or ["(no cases: ../shared/reference absent)"]


def _need(reference_dir: Path, rel: str) -> Path:
    p = reference_dir / "superslomo" / rel
    if not p.exists():
        pytest.skip(f"fixture {rel} absent")
    return p


def _sd(make_checkpoint, reference_dir: Path, net: str, seed: int) -> dict[str, torch.Tensor]:
    return make_checkpoint.make_state_dict(make_checkpoint.load_manifest(reference_dir / "superslomo" / f"{net}.manifest.json"), seed)


def _container(make_checkpoint, reference_dir: Path, seed_fc: int, seed_at: int) -> dict:
    """A checkpoint in the layout of the published SuperSloMo.ckpt (see container.json)."""
    return {
        "Detail": "End to end Super SloMo.", "epoch": 199, "timestamp": datetime.datetime(2018, 11, 2, 12, 0),
        "trainBatchSz": 6, "validationBatchSz": 10, "learningRate": 1e-5,
        "loss": [[0.1, 0.09]], "valLoss": [[0.2]], "valPSNR": [[30.1]],
        "state_dictFC": collections.OrderedDict(_sd(make_checkpoint, reference_dir, "flowcomp", seed_fc)),
        "state_dictAT": collections.OrderedDict(_sd(make_checkpoint, reference_dir, "arbtime", seed_at)),
    }


@pytest.mark.parametrize("case", _names("model/*.json"))
def test_model_case(case, reference_dir, make_checkpoint):
    meta = json.loads(_need(reference_dir, case).read_text())
    z = np.load(_need(reference_dir, case[:-5] + ".npz"))
    kind = meta["kind"]
    with torch.no_grad():
        if kind == "superslomo_backwarp":
            out = backwarp(torch.from_numpy(z["img"]), torch.from_numpy(z["flow"]))
            tol = 1e-5
        else:
            cin, cout, man, seed = {"superslomo_flowcomp": (6, 4, "flowcomp", "seed_fc"),
                                    "superslomo_arbtime": (20, 5, "arbtime", "seed_at")}[kind]
            net = UNet(cin, cout)
            net.load_state_dict(_sd(make_checkpoint, reference_dir, man, meta[seed]), strict=True)
            out = net(torch.from_numpy(z["input"]))
            tol = 1e-4
    assert np.abs(out.numpy() - z["output"]).max() <= tol


@pytest.mark.parametrize("case", _names("video/*/meta.json"))
def test_whole_run(case, reference_dir, make_checkpoint, tmp_path):
    d = _need(reference_dir, case).parent
    meta = json.loads((d / "meta.json").read_text())
    ckpt = tmp_path / "SuperSloMo.ckpt"
    torch.save(_container(make_checkpoint, reference_dir, meta["seed_fc"], meta["seed_at"]), ckpt)
    net = models.load("superslomo", ckpt)  # the published layout goes through the generic loader

    f0, f1 = Image.open(d / "frame0.png"), Image.open(d / "frame1.png")
    size = model_size(*f0.size)
    assert list(size) == meta["model_size_wh"]
    io = np.load(d / "model_io.npz")
    i0, i1 = frame_to_network(f0, size), frame_to_network(f1, size)
    assert np.array_equal(i0.numpy(), io["I0"]) and np.array_equal(i1.numpy(), io["I1"])
    with torch.no_grad():
        step = net.run(i0, i1, meta["recorded_t"])
    for key, got in (("flow_out", step.flow_out), ("at_out", step.at_out), ("ft_p", step.frame)):
        assert np.abs(got.numpy() - io[key]).max() <= 1e-4, key

    sf = meta["sf"]
    frames = [network_to_frame(i0, f0.size)] + slomo_frames(net, f0, f1, [k / sf for k in range(1, sf)])
    for k, got in enumerate(frames, start=1):
        ref = np.asarray(Image.open(d / f"output_{k}.png").convert("RGB"))
        assert got.shape == ref.shape and got.dtype == np.uint8
        diff = np.abs(got.astype(int) - ref)
        assert diff.max() <= 1 and (diff == 0).mean() >= 0.999, f"output_{k}.png"

    # the Interpolator (8-bit RGB frames in and out) gives the same intermediate frames
    rgb = [np.array(f.convert("RGB")) for f in (f0, f1)]
    for k, got in enumerate(Interpolator(net, device="cpu").many(*rgb, [k / sf for k in range(1, sf)]), start=2):
        diff = np.abs(got.astype(int) - np.asarray(Image.open(d / f"output_{k}.png").convert("RGB")))
        assert diff.max() <= 1 and (diff == 0).mean() >= 0.999, f"Interpolator, output_{k}.png"


def test_container_loads_and_checks(reference_dir, make_checkpoint, tmp_path):
    c = _container(make_checkpoint, reference_dir, 0, 1)
    net = models.load("superslomo", c)
    assert torch.equal(net.flowComp.conv1.weight, c["state_dictFC"]["conv1.weight"])
    assert torch.equal(net.ArbTimeFlowIntrp.conv3.bias, c["state_dictAT"]["conv3.bias"])
    swapped = dict(c, state_dictFC=c["state_dictAT"], state_dictAT=c["state_dictFC"])
    with pytest.raises(CheckpointError, match="misshaped"):
        models.load("superslomo", swapped)
    missing = {k: v for k, v in c.items() if k != "state_dictAT"}
    with pytest.raises(CheckpointError, match="ArbTimeFlowIntrp"):
        models.load("superslomo", missing)
    bare = tmp_path / "flowcomp_only.pth"
    torch.save(c["state_dictFC"], bare)
    with pytest.raises(CheckpointError, match="missing"):
        models.load("superslomo", bare)


def test_keys_and_shapes_are_official(reference_dir, make_checkpoint):
    shapes = models.expected_shapes("superslomo")
    for net, prefix in (("flowcomp", "flowComp."), ("arbtime", "ArbTimeFlowIntrp.")):
        man = make_checkpoint.load_manifest(reference_dir / "superslomo" / f"{net}.manifest.json")
        assert {k[len(prefix):]: v for k, v in shapes.items() if k.startswith(prefix)} == {k: tuple(v) for k, v in man.items()}
    assert len(shapes) == 92


def test_sizes_and_inputs():
    assert model_size(200, 120) == (192, 96) and model_size(64, 32) == (64, 32)
    with pytest.raises(ValueError, match="at least 32x32"):
        model_size(200, 31)
    net = SuperSloMo().eval()
    with pytest.raises(ValueError, match="multiples of 32"):
        net(torch.zeros(1, 3, 48, 64), torch.zeros(1, 3, 48, 64))
    with pytest.raises(ValueError, match="t must lie"):
        net(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32), 1.5)
    with pytest.raises(ValueError, match="differ in size"):
        slomo_frames(net, np.zeros((40, 40, 3), np.uint8), np.zeros((40, 48, 3), np.uint8), [0.5])


def test_gray_frames_resize_as_gray():
    g = np.random.default_rng(0).integers(0, 256, (50, 70), dtype=np.uint8)
    x = frame_to_network(g, (64, 32))
    assert x.shape == (1, 3, 32, 64)
    # the same gray values in each channel before the mean is taken off
    y = x + torch.tensor([0.429, 0.431, 0.397]).view(1, 3, 1, 1)
    assert torch.allclose(y[:, 0], y[:, 1], atol=1e-6) and torch.allclose(y[:, 0], y[:, 2], atol=1e-6)
    assert torch.equal(frame_to_network(g, (64, 32)), frame_to_network(Image.fromarray(g), (64, 32)))


def test_zero_flow_warp_conventions():
    img = torch.rand(1, 3, 32, 32)
    zero = torch.zeros(1, 2, 32, 32)
    shifted = backwarp(img, zero)  # official on torch >= 1.3: half a pixel right/down, zero border
    assert torch.allclose(shifted[..., 1:, 1:], (img[..., :-1, :-1] + img[..., 1:, :-1] + img[..., :-1, 1:] + img[..., 1:, 1:]) / 4, atol=1e-6)


def test_interpolator_and_video(reference_dir, make_checkpoint, tmp_path):
    import av

    assert "superslomo" in available_models()
    with pytest.raises(MissingWeightsError, match="weights fetch superslomo"):
        Interpolator("superslomo", device="cpu", weights_dir=tmp_path)
    net = models.load("superslomo", _container(make_checkpoint, reference_dir, 0, 1))
    interp = Interpolator(net, device="cpu")
    a, b = (np.random.default_rng(i).integers(0, 256, (70, 100, 3), dtype=np.uint8) for i in (0, 1))
    mid = interp(a, b, 0.5)
    assert mid.shape == (70, 100, 3) and mid.dtype == np.uint8
    assert torch.equal(interp(torch.from_numpy(a).permute(2, 0, 1)[None] / 255.0, torch.from_numpy(b).permute(2, 0, 1)[None] / 255.0, 0.5),
                       torch.from_numpy(mid).permute(2, 0, 1)[None] / 255.0)
    assert interp.many(a, b, [0.0, 1.0])[0].tobytes() == a.tobytes()

    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    with av.open(str(src), "w") as out:
        s = out.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        for i in range(4):
            img = np.zeros((64, 96, 3), np.uint8)
            img[16:48, 10 + 8 * i: 40 + 8 * i] = 220
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    res = interpolate_video(src, dst, factor=2, model=interp, progress=False, codec="mpeg4")
    with av.open(str(dst)) as inp:
        n = sum(1 for _ in inp.decode(video=0))
    assert res.frames == 4 and n >= 7


@pytest.mark.real_weights
def test_published_weights(data_dir):
    from _real_weights import psnr, verified_checkpoint

    net = models.load("superslomo", verified_checkpoint("superslomo"))
    for clip in ("bbb_010", "bikes_040"):
        f = [np.array(Image.open(data_dir / "frames" / clip / f"{i}.png").convert("RGB")) for i in range(3)]
        (pred,) = slomo_frames(net, f[0], f[2], [0.5])
        blend = ((f[0].astype(np.float64) + f[2]) / 2).round().astype(np.uint8)
        assert psnr(pred, f[1]) > psnr(blend, f[1]), clip
