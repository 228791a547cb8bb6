"""DAIN: the model cases of ../shared/reference/dain (stage by stage and end to end), loading, padding,
the Interpolator adapter, tiles and bad input."""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

from restoration_lib import models
from restoration_lib.archs.dain import DAIN
from restoration_lib.errors import CheckpointError
from restoration_lib.interpolate import Interpolator, available_models
from restoration_lib.interpolate.dain import demo_padding, pad_frames, run_dain
from restoration_lib.ops.dain import depth_flow_projection, filter_interpolation

import torch.nn.functional as F

_REF = Path(os.environ.get("RESTORATION_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "reference"
_DAIN = _REF / "dain"


def _cases() -> list[str]:
    found = [p.stem for p in sorted(_DAIN.glob("dain*.json")) if "manifest" not in p.name]
    return found or ["(no cases: ../shared/reference absent)"]


def _state_dict(make_checkpoint, reference_dir: Path, seed: int, calibration: dict | None) -> dict:
    sd = make_checkpoint.make_state_dict(make_checkpoint.load_manifest(reference_dir / "dain" / "dain.manifest.json"), seed)
    for key, (op, v) in (calibration or {}).items():
        sd[key] = sd[key] * v if op == "mul" else torch.full_like(sd[key], v)
    return sd


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item() / max(b.abs().max().item(), 1e-12)


@lru_cache(maxsize=1)
def _blank_net() -> DAIN:
    return DAIN().eval().requires_grad_(False)


def _net(make_checkpoint, reference_dir, seed, calibration) -> DAIN:
    net = _blank_net()
    net.load_state_dict(_state_dict(make_checkpoint, reference_dir, seed, calibration), strict=True)
    return net


@pytest.mark.parametrize("case", _cases())
def test_model_case(case, reference_dir, make_checkpoint):
    p = reference_dir / "dain" / f"{case}.json"
    if not p.exists():
        pytest.skip(f"fixture {case} absent")
    meta = json.loads(p.read_text())
    z = np.load(p.with_suffix(".npz"))
    r = {k: torch.from_numpy(z[k]) for k in z.files}
    ts = [float(t) for t in meta["time_offsets"]]
    nt = len(ts)
    calibrated = bool(meta.get("calibration"))
    net = _net(make_checkpoint, reference_dir, meta["seed"], meta.get("calibration"))

    # the demo's padding reproduces the stored network inputs from their unpadded centre
    left, top, right, bottom = meta["preprocessing"]["padding_ltrb"]
    h, w = meta["preprocessing"]["unpadded_hw"]
    assert (top, bottom) == demo_padding(h) and (left, right) == demo_padding(w)
    (pad0,), _ = pad_frames([r["frame0"][..., top:top + h, left:left + w]])
    assert torch.equal(pad0, r["frame0"])

    with torch.no_grad():
        out = net.run(r["frame0"], r["frame1"], ts, keep=True)

    # stages before the operators
    for ours, key in ((out.pwc_flow_fwd, "pwc_flow_fwd"), (out.pwc_flow_bwd, "pwc_flow_bwd"),
                      (out.log_depth, "log_depth"), (out.filter0, "filter0"), (out.filter1, "filter1")):
        if key in r:
            assert _rel(ours, r[key]) <= 1e-4, f"{key}: {_rel(ours, r[key]):.3g}"

    # projection, fed with the reference's own flows and depth (flows cross truncation boundaries otherwise)
    n = r["frame0"].shape[0]
    dinv = 1e-6 + 1 / torch.exp(r["log_depth"])
    refp0 = r.get("projected_flow0_all", r["projected_flow0"]).reshape(nt, n, 2, *r["frame0"].shape[-2:])
    refp1 = r.get("projected_flow1_all", r["projected_flow1"]).reshape(nt, n, 2, *r["frame0"].shape[-2:])
    for i, t in enumerate(ts):
        f0 = F.interpolate(20.0 * r["pwc_flow_fwd"] * t, scale_factor=4, mode="bilinear", align_corners=False)
        f1 = F.interpolate(20.0 * r["pwc_flow_bwd"] * (1 - t), scale_factor=4, mode="bilinear", align_corners=False)
        p0, _ = depth_flow_projection(f0, dinv[:n])
        p1, _ = depth_flow_projection(f1, dinv[n:])
        assert _rel(p0, refp0[i]) <= 1e-4 and _rel(p1, refp1[i]) <= 1e-4
        if "warped0" in r and i == 0:  # the warp, fed with the reference's projected flows
            w0 = filter_interpolation(r["frame0"], refp0[i], r.get("filter0", out.filter0))
            w1 = filter_interpolation(r["frame1"], refp1[i], r.get("filter1", out.filter1))
            assert _rel(w0, r["warped0"][:n]) <= 1e-4 and _rel(w1, r["warped1"][:n]) <= 1e-4
    if "ctx0_warped_sel" in r:
        sel = [3, 131, 195]
        for k, frame in enumerate((r["frame0"], r["frame1"])):
            ctx = net._context(frame, out.log_depth[k * n:(k + 1) * n])[:, sel]
            warped = filter_interpolation(ctx, (refp0, refp1)[k][0], r[f"filter{k}"])
            assert _rel(warped, r[f"ctx{k}_warped_sel"]) <= 1e-4

    # end to end
    blend = torch.stack(out.blend).reshape(r["output_blend"].shape)
    rect = torch.stack(out.rectified).reshape(r["output_rectified"].shape)
    assert torch.isfinite(rect).all()
    close = ((blend - r["output_blend"]).abs() <= 1e-3 * r["output_blend"].abs().max()).float().mean().item()
    assert close >= 0.99, f"output_blend: {close:.4f} of values within 1e-3 x max"
    if calibrated:
        for ours, key in ((blend, "output_blend"), (rect, "output_rectified")):
            d = (ours - r[key]).abs()
            assert (d <= 1e-4).float().mean().item() >= 0.999, f"{key}: max {d.max():.3g}"
            assert (d <= 1e-3 * r[key].abs().max()).float().mean().item() >= 0.995
        # the network's own contract: net(frame0, frame1, t)
        with torch.no_grad():
            single = net(r["frame0"], r["frame1"], ts[0])
        assert torch.allclose(single, out.rectified[0], atol=1e-6)


def test_loads_strictly_with_clear_errors(tmp_path, reference_dir, make_checkpoint):
    sd = _state_dict(make_checkpoint, reference_dir, 0, None)
    net = models.load("dain", sd)
    assert isinstance(net, DAIN) and net.spec.name == "dain"
    bad = dict(sd)
    bad.pop("flownets.conv1a.0.weight")
    with pytest.raises(CheckpointError, match=r"flownets\.conv1a\.0\.weight"):
        models.load("dain", bad)
    renamed = {("module.x." + k): v for k, v in sd.items()}
    with pytest.raises(CheckpointError, match="unexpected"):
        models.load("dain", renamed)
    path = tmp_path / "best.pth"
    torch.save(sd, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="best.pth"):
        models.load("dain", path)
    wrong = tmp_path / "wrong.pth"
    torch.save({k: v for k, v in sd.items() if not k.startswith("rectifyNet")}, wrong)
    with pytest.raises(CheckpointError, match=r"wrong\.pth.*\n.*missing keys: rectifyNet\.block1\.0\.bias"):
        models.load("dain", wrong)


def test_demo_padding_rule():
    assert demo_padding(101) == (13, 14)
    assert demo_padding(128) == (32, 32)
    assert demo_padding(256) == (32, 32)
    assert demo_padding(1080) == (36, 36)
    assert demo_padding(1) == (63, 64)
    with pytest.raises(ValueError):
        demo_padding(0)


def _small_net(seed: int = 0) -> DAIN:
    """A DAIN with small random weights (calibrated like the fixtures so its flows stay plausible)."""
    torch.manual_seed(seed)
    net = DAIN().eval().requires_grad_(False)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.5)
        net.flownets.dc_conv7.weight.mul_(0.1)
        net.flownets.predict_flow2.weight.mul_(0.1)
        for head in (net.initScaleNets_filter1, net.initScaleNets_filter2):
            head[2].weight.mul_(0.01)
            head[2].bias.fill_(0.25)
        net.rectifyNet.block5[0].weight.mul_(0.01)
    return net


def test_interpolator_and_bad_input():
    assert "dain" in available_models()
    net = _small_net()
    interp = Interpolator(net, device="cpu")
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(40, 50, 3, generator=g) * 255).to(torch.uint8).numpy()
    b = (torch.rand(40, 50, 3, generator=g) * 255).to(torch.uint8).numpy()
    out = interp(a, b)
    assert out.shape == (40, 50, 3) and out.dtype == np.uint8
    black = np.zeros((20, 1, 3), np.uint8)  # 1 pixel wide, black
    thin = interp.many(black, black, [0.25, 0.5])
    assert all(x.shape == (20, 1, 3) for x in thin)
    with pytest.raises(ValueError, match="same size"):
        interp(a, b[:, :40])
    with torch.no_grad():
        y = run_dain(net, torch.zeros(1, 3, 30, 30), torch.zeros(1, 3, 30, 30), [0.5])[0]
    assert torch.isfinite(y).all()
    with pytest.raises(ValueError, match="multiples of 64"):
        net(torch.zeros(1, 3, 100, 128), torch.zeros(1, 3, 100, 128))


def test_split_rectify_equals_concatenation():
    net = _small_net(1)
    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(1, 3, 128, 128, generator=g), torch.rand(1, 3, 128, 128, generator=g)
    with torch.no_grad():
        whole = net(a, b)
        net.split_rectify_above = 0
        split = net(a, b)
    assert (whole - split).abs().max().item() <= 1e-4


def test_tiled_matches_untiled(data_dir):
    from PIL import Image

    net = _small_net(2)
    frames = [torch.from_numpy(np.asarray(Image.open(data_dir / "frames" / "bikes_040" / f"{i}.png").convert("RGB"))
                               [60:124, 180:340].copy()).permute(2, 0, 1)[None].float() / 255 for i in (0, 2)]
    with torch.no_grad():
        whole = run_dain(net, *frames, [0.5])[0]
        tiled = run_dain(net, *frames, [0.5], max_pixels=1, tile=96, overlap=32)[0]
    assert tiled.shape == whole.shape == (1, 3, 64, 160)
    err = (tiled - whole).abs()
    mse = err.pow(2).mean().item()
    psnr = 10 * np.log10(1 / max(mse, 1e-12))
    print(f"tiled vs untiled: max {err.max():.3g}, PSNR {psnr:.1f} dB")
    assert psnr >= 30


def _calibrated_case(reference_dir, make_checkpoint, case: str = "dain_calib_bikes040_crop112x96_seed3"):
    """A calibrated fixture case: its arrays and its stand-in state_dict (skips when the fixture is absent)."""
    p = reference_dir / "dain" / f"{case}.json"
    if not p.exists():
        pytest.skip(f"fixture {case} absent")
    meta = json.loads(p.read_text())
    return np.load(p.with_suffix(".npz")), _state_dict(make_checkpoint, reference_dir, meta["seed"], meta["calibration"])


@pytest.mark.cuda
def test_cuda_matches_cpu(reference_dir, make_checkpoint):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from restoration_lib.device import full_fp32

    z, sd = _calibrated_case(reference_dir, make_checkpoint)
    net = models.load("dain", sd, device="cuda")
    dev = torch.device("cuda")
    with torch.no_grad(), full_fp32(dev, torch.float32):
        out = net(torch.from_numpy(z["frame0"]).cuda(), torch.from_numpy(z["frame1"]).cuda()).cpu()
    d = (out - torch.from_numpy(z["output_rectified"])).abs()
    assert (d <= 1e-4).float().mean().item() >= 0.999


@pytest.mark.cuda
def test_fast_mode_on_cuda_keeps_45_db(reference_dir, make_checkpoint, data_dir):
    """float16 fast mode against exact mode on a real frame pair (calibrated stand-in weights, plausible frames)."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from PIL import Image

    _, sd = _calibrated_case(reference_dir, make_checkpoint)
    a, b = (np.asarray(Image.open(data_dir / "frames" / "bikes_040" / f"{i}.png").convert("RGB"))[:256, :448].copy()
            for i in (0, 2))
    exact = Interpolator(models.load("dain", sd), device="cuda")(a, b).astype(np.float64)
    fast = Interpolator(models.load("dain", sd), device="cuda", precision="fast")(a, b).astype(np.float64)
    mse = ((fast - exact) ** 2).mean()
    assert 10 * np.log10(255.0**2 / max(mse, 1e-12)) >= 45.0
