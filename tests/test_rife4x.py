"""RIFE 4.6 / 4.25 / 4.26: equivalence with the official code on ../shared/reference/rife_v46 and rife_v425."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from restoration_lib import models
from restoration_lib.archs.rife import pad_multiple, pad_to_multiple
from restoration_lib.archs.rife4x import MIN_MULTIPLE, IFNet4x
from restoration_lib.errors import CheckpointError, MissingWeightsError
from restoration_lib.interpolate import Interpolator, available_models

_REF = Path(os.environ.get("RESTORATION_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "reference"
_DIRS = {"v46": ("rife_v46", "4.6"), "v425": ("rife_v425", "4.25")}


def _cases() -> list[str]:
    found = [f"{d}/{p.stem}" for d, _ in _DIRS.values() for p in sorted((_REF / d).glob("*.json"))
             if not p.name.endswith(".manifest.json")]
    return found or ["(no cases: ../shared/reference absent)"]


def _stand_in(make_checkpoint, reference_dir: Path, folder: str, seed: int) -> dict[str, torch.Tensor]:
    return make_checkpoint.make_state_dict(make_checkpoint.load_manifest(reference_dir / folder / f"{folder}.manifest.json"), seed)


def _as_published(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A flownet.pkl as published: 'module.' prefixes, plus training-only modules the official loader ignores."""
    out = {f"module.{k}": v for k, v in sd.items()}
    out["module.teacher.conv0.0.0.weight"] = torch.zeros(8, 3, 3, 3)
    out["module.caltime.0.weight"] = torch.zeros(8, 25, 3, 3)
    return out


def _assert_close(got: np.ndarray, want: np.ndarray) -> None:
    """Max abs error <= 1e-4, or the fixture notes' fallback for flows of tens of pixels: <= 5e-3 with at most
    0.5 % of the values off by more than 1e-4."""
    diff = np.abs(got - want)
    if diff.max() > 1e-4:
        assert diff.max() <= 5e-3 and (diff > 1e-4).mean() <= 0.005, f"max abs {diff.max():.3g}"


@pytest.mark.parametrize("case", _cases())
def test_matches_official(case, reference_dir, make_checkpoint):
    folder, stem = case.split("/")
    if not (reference_dir / folder / f"{stem}.json").exists():
        pytest.skip(f"fixture {case} absent")
    meta = json.loads((reference_dir / folder / f"{stem}.json").read_text())
    z = np.load(reference_dir / folder / f"{stem}.npz")
    version = next(v for k, (d, v) in _DIRS.items() if d == folder)
    net = models.load(f"rife-{version}", _as_published(_stand_in(make_checkpoint, reference_dir, folder, meta["seed"])))

    # padding: the unpadded frames padded by the case's rule give the official network input
    h, w = meta["unpadded_hw"]
    m = {"video": pad_multiple(meta["scale"]), "img64": 64}[meta["preprocessing"]["pad_rule_name"]]
    img0, img1 = torch.from_numpy(z["img0"]), torch.from_numpy(z["img1"])
    padded, hw = pad_to_multiple(img0[..., :h, :w], m)
    assert hw == (h, w) and list(padded.shape[-2:]) == meta["padded_hw"] and torch.equal(padded, img0)

    calls = [0] * net.n_blocks
    hooks = [b.register_forward_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1)) for i, b in enumerate(net.blocks)]
    with torch.inference_mode():
        frame, details = net(img0, img1, meta["timestep"], meta["scale"], ensemble=meta["ensemble"], return_details=True)
    for hk in hooks:
        hk.remove()
    assert calls == meta["block_calls"], "a version-specific path (block re-runs / ensemble) differs"

    _assert_close(frame.numpy(), z["output"])
    assert not details.large_motion
    if "flow" in z:
        assert np.abs(details.flow.numpy() - z["flow"]).max() <= 1e-3
        assert np.abs(details.mask.numpy() - z["mask"]).max() <= 1e-4

    # the Interpolator pads as the official video script, then crops and clamps
    if meta["preprocessing"]["pad_rule_name"] == "video" and not meta["ensemble"]:
        got = Interpolator(net, device="cpu", scale=meta["scale"])(img0[..., :h, :w], img1[..., :h, :w], meta["timestep"])
        _assert_close(got.numpy(), np.clip(z["output"][..., :h, :w], 0, 1))


@pytest.mark.parametrize("name,folder", [("rife-4.6", "rife_v46"), ("rife-4.25", "rife_v425"), ("rife-4.26", "rife_v425")])
def test_keys_and_shapes_are_official(name, folder, reference_dir, make_checkpoint):
    manifest = make_checkpoint.load_manifest(reference_dir / folder / f"{folder}.manifest.json")
    assert models.expected_shapes(name) == {k: tuple(v) for k, v in manifest.items()}


def test_wrong_version_is_named(reference_dir, make_checkpoint):
    sd = _as_published(_stand_in(make_checkpoint, reference_dir, "rife_v425", 0))
    with pytest.raises(CheckpointError, match=r"rife-4\.2[56]"):
        models.load("rife-4.6", sd)
    sd46 = _stand_in(make_checkpoint, reference_dir, "rife_v46", 0)
    del sd46["block3.lastconv.0.bias"]
    with pytest.raises(CheckpointError, match="block3.lastconv.0.bias"):
        models.load("rife-4.6", sd46)


def _tiny_pair(h=64, w=128, n=1):
    g = torch.Generator().manual_seed(3)
    return torch.rand(n, 3, h, w, generator=g), torch.rand(n, 3, h, w, generator=g)


@pytest.mark.parametrize("version", ["4.6", "4.25"])
def test_tensor_timestep_equals_float(version):
    net = IFNet4x(version).eval()
    a, b = _tiny_pair(n=2)
    with torch.inference_mode():
        ref = net(a, b, 0.3)
        assert torch.equal(net(a, b, torch.tensor([0.3, 0.3])), ref)
        assert torch.equal(net(a, b, torch.full((2, 1, 1, 1), 0.3)), ref)
        mixed = net(a, b, torch.tensor([0.3, 0.8]))
    assert torch.equal(mixed[0], ref[0]) and not torch.equal(mixed[1], ref[1])


def test_input_checks():
    a, b = _tiny_pair(h=96, w=96)
    with pytest.raises(ValueError, match="multiples of 64"):
        IFNet4x("4.25")(a, b)
    with pytest.raises(ValueError, match="multiples of 64"):
        IFNet4x("4.6")(a, b, scale=0.5)
    with pytest.raises(ValueError, match="ensemble"):
        IFNet4x("4.25")(*_tiny_pair(), ensemble=True)
    with pytest.raises(ValueError, match="same shape"):
        IFNet4x("4.6")(a, b[..., :64])
    with pytest.raises(ValueError, match="unknown RIFE version"):
        IFNet4x("4.7")
    assert pad_multiple(1.0) == 128 and pad_multiple(0.5) == 256
    assert pad_multiple(1.0, MIN_MULTIPLE["4.6"]) == 32 and pad_multiple(0.5, MIN_MULTIPLE["4.26"]) == 128


def test_ensemble_runs_every_block_twice():
    net = IFNet4x("4.6").eval()
    calls = []
    for b in net.blocks:
        b.register_forward_hook(lambda *_: calls.append(1))
    with torch.inference_mode():
        plain = net(*_tiny_pair())
        n_plain = len(calls)
        ens = net(*_tiny_pair(), ensemble=True)
    assert n_plain == 4 and len(calls) == 4 + 8
    assert not torch.equal(plain, ens)


def test_interpolator_names(tmp_path):
    for name in ("rife-4.6", "rife-4.25", "rife-4.26"):
        assert name in available_models() and models.get_spec(name).description
        with pytest.raises(MissingWeightsError, match=f"weights fetch {name}"):
            Interpolator(name, device="cpu", weights_dir=tmp_path)


def test_fast_precision_stays_close(reference_dir, make_checkpoint):
    meta = json.loads((reference_dir / "rife_v425" / "bikes040_crop_t0.3_s1.json").read_text())
    z = np.load(reference_dir / "rife_v425" / "bikes040_crop_t0.3_s1.npz")
    sd = _stand_in(make_checkpoint, reference_dir, "rife_v425", meta["seed"])
    frames = [torch.from_numpy(z[k]) for k in ("img0", "img1")]
    exact = Interpolator(models.load("rife-4.25", sd), device="cpu")(*frames, 0.3)
    interp = Interpolator(models.load("rife-4.25", sd), device="cpu", precision="bf16")
    fast = interp(*frames, 0.3)
    net = interp.net
    assert net.block0.convblock[0].conv.weight.dtype == torch.bfloat16 and net.block0.conv0[1][0].weight.dtype == torch.bfloat16
    assert net.block0.conv0[0][0].weight.dtype == torch.float32 and fast.dtype == torch.float32
    mse = torch.mean((fast - exact) ** 2).item()
    assert 0 < mse and 10 * np.log10(1 / mse) > 30  # bf16 residual blocks; the flows and warps stay float32


@pytest.mark.real_weights
@pytest.mark.parametrize("weight_id", ["rife-4.6", "rife-4.25", "rife-4.26"])
def test_published_weights(weight_id, data_dir):
    from PIL import Image

    from _real_weights import psnr, verified_checkpoint

    net = models.load(weight_id, verified_checkpoint(weight_id))
    for clip in ("bbb_010", "bikes_040"):
        f = [np.array(Image.open(data_dir / "frames" / clip / f"{i}.png").convert("RGB")) for i in range(3)]
        t0, t1 = (torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255 for a in (f[0], f[2]))
        (p0, hw), (p1, _) = pad_to_multiple(t0, pad_multiple(1.0)), pad_to_multiple(t1, pad_multiple(1.0))
        with torch.inference_mode():
            mid = net(p0, p1, 0.5)[..., : hw[0], : hw[1]].clamp(0, 1)
        pred = (mid[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        blend = ((f[0].astype(np.float64) + f[2]) / 2).round().astype(np.uint8)
        assert psnr(pred, f[1]) > psnr(blend, f[1]) + 1.0, clip
