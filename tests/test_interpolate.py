"""Interpolator (inputs, padding, cropping, adapters) and the optical-flow fallback."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from restoration_lib import cli
from restoration_lib.archs.rife import IFNet
from restoration_lib.errors import PrecisionError
from restoration_lib.interpolate import ADAPTERS, FlowInterpolator, Interpolator, NetAdapter, available_models
from restoration_lib.interpolate.baselines import blend, minterpolate
from restoration_lib.interpolate.flow import forward_splat


class Blend(nn.Module):
    """Cross-fade following RIFE's calling convention; records the padded input size."""

    def forward(self, img0, img1, timestep=0.5, scale=1.0):
        self.seen = tuple(img0.shape)
        return img0 * (1 - timestep) + img1 * timestep


class Marker(nn.Module):
    """Output = position-dependent pattern, to check that cropping keeps the top-left corner."""

    def forward(self, img0, img1, timestep=0.5, scale=1.0):
        n, _, h, w = img0.shape
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        return ((yy * 7 + xx * 3) % 256).float().div(255).expand(n, 3, h, w)


def _psnr(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return 10 * np.log10(255.0**2 / np.mean((a - b) ** 2))


def _rd(path):
    return cv2.imread(str(path))[:, :, ::-1].copy()


# ------------------------------------------------------------------------------------------ Interpolator


@pytest.mark.parametrize("hw", [(1, 1), (17, 33), (128, 128), (129, 250), (300, 130)])
def test_pads_to_128_and_crops_back(hw):
    h, w = hw
    net = Blend()
    interp = Interpolator(net, device="cpu")
    a = np.random.randint(0, 256, (h, w, 3), np.uint8)
    b = np.random.randint(0, 256, (h, w, 3), np.uint8)
    out = interp(a, b, 0.25)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    assert net.seen == (1, 3, -(-h // 128) * 128, -(-w // 128) * 128)
    expect = np.rint(a * 0.75 + b * 0.25)
    assert np.abs(out.astype(int) - expect).max() <= 1
    # tensors in, tensors out (same dtype, device, rank), cropped from the top-left corner
    m = Interpolator(Marker(), device="cpu")
    t = m(torch.rand(2, 3, h, w, dtype=torch.float64), torch.rand(2, 3, h, w, dtype=torch.float64))
    assert t.shape == (2, 3, h, w) and t.dtype == torch.float64
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    assert np.allclose(t[1, 0].numpy(), ((yy * 7 + xx * 3) % 256) / 255, atol=1e-6)


def test_scale_changes_the_padding():
    net = Blend()
    Interpolator(net, device="cpu", scale=0.5)(np.zeros((10, 300, 3), np.uint8), np.zeros((10, 300, 3), np.uint8))
    assert net.seen == (1, 3, 256, 512)


def test_rife_arch_through_the_interpolator():
    net = IFNet()  # random weights: shapes and plumbing only
    interp = Interpolator(net, device="cpu")
    out = interp(torch.rand(3, 70, 90), torch.rand(3, 70, 90), 0.3)
    assert out.shape == (3, 70, 90) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_float_arrays_and_endpoints():
    interp = Interpolator(Blend(), device="cpu")
    a = np.random.rand(20, 30, 3).astype(np.float32)
    b = np.random.rand(20, 30, 3).astype(np.float32)
    mid, t0, t1 = interp.many(a, b, [0.5, 0.0, 1.0])
    assert mid.dtype == np.float32 and np.allclose(mid, (a + b) / 2, atol=1e-6)
    assert np.array_equal(t0, a) and np.array_equal(t1, b)


def test_input_errors():
    interp = Interpolator(Blend(), device="cpu")
    a = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="same size"):
        interp(a, np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(ValueError, match=r"t must be in \[0, 1\]"):
        interp(a, a, 1.5)
    with pytest.raises(ValueError, match="H,W,3"):
        interp(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="dtype int32"):
        interp(a.astype(np.int32), a.astype(np.int32))
    with pytest.raises(ValueError, match="unknown interpolation model 'rife-9'.*flow"):
        Interpolator("rife-9", device="cpu")
    with pytest.raises(PrecisionError):
        Interpolator(Blend(), device="cpu", precision="fp16")


def test_adapters_are_a_table():
    assert "rife-4.0" in ADAPTERS and {"flow", "rife-4.0"} <= set(available_models())
    assert all(isinstance(a, NetAdapter) for a in ADAPTERS.values())


def test_fast_precision_keeps_the_flow_input_and_output_layers_in_fp32():
    mine = IFNet()
    interp = Interpolator(mine, device="cpu", precision="bf16")
    net = interp.net
    assert mine.block1.convblock[0][0].weight.dtype == torch.float32  # the caller's module is left alone
    assert net.block1.convblock[0][0].weight.dtype == torch.bfloat16
    assert net.block1.conv0[1][0].weight.dtype == torch.bfloat16
    assert net.block1.conv0[0][0].weight.dtype == torch.float32
    assert net.block1.lastconv.weight.dtype == torch.float32
    out = interp(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
    assert out.dtype == torch.float32 and out.shape == (1, 3, 64, 64)


# ------------------------------------------------------------------------------------------ flow fallback


def test_forward_splat_moves_and_conserves_mass():
    v = torch.rand(2, 3, 12, 16)
    flow = torch.zeros(2, 2, 12, 16)
    flow[:, 0] = 2.0
    flow[:, 1] = -1.0
    out = forward_splat(v, flow)
    assert torch.allclose(out[..., :-1, 2:], v[..., 1:, :-2], atol=1e-6)
    inner = torch.zeros_like(v)
    inner[..., 2:-2, 2:-2] = v[..., 2:-2, 2:-2]
    half = forward_splat(inner, torch.full((2, 2, 12, 16), 0.5))  # sub-pixel moves, nothing leaves the frame
    assert torch.allclose(half.sum(dim=(2, 3)), inner.sum(dim=(2, 3)), atol=1e-4)
    assert torch.allclose(half[..., 3, 3], 0.25 * (v[..., 2, 2] + v[..., 2, 3] + v[..., 3, 2] + v[..., 3, 3]))


def _texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(img, (0, 0), 1.0)


def test_flow_recovers_a_translation():
    big = _texture(140, 200)
    f0, mid, f1 = big[10:106, 10:170], big[12:108, 14:174], big[14:110, 18:178]  # shifts of (2, 4) px per step
    interp = Interpolator("flow", device="cpu")
    out = interp(f0, f1)
    inner = (slice(8, -8), slice(8, -8))
    assert _psnr(out[inner], mid[inner]) > 35
    assert _psnr(out[inner], mid[inner]) > _psnr(((f0.astype(float) + f1) / 2)[inner], mid[inner]) + 10
    still = interp(f0, f0, 0.3)
    assert np.abs(still.astype(int) - f0).max() <= 1


@pytest.fixture(scope="module")
def triplets(data_dir):
    dirs = sorted((data_dir / "frames").iterdir())
    if not dirs:
        pytest.skip("no frame triplets in ../shared/data/frames")
    return [[_rd(d / f"{i}.png") for i in range(3)] for d in dirs]


def test_flow_beats_minterpolate_and_blending(triplets):
    flow = FlowInterpolator()
    interp = Interpolator(flow, device="cpu")
    ours, theirs, fade = [], [], []
    for f0, gt, f1 in triplets:
        ours.append(_psnr(interp(f0, f1), gt))
        theirs.append(_psnr(minterpolate(f0, f1), gt))
        fade.append(_psnr(blend(f0, f1), gt))
    assert np.mean(ours) > np.mean(theirs) + 0.5, (ours, theirs)
    assert sum(o > t for o, t in zip(ours, theirs)) == len(ours), (ours, theirs)
    assert np.mean(ours) > np.mean(fade) + 3


# ------------------------------------------------------------------------------------------ CLI


def test_cli_two_images(tmp_path, triplets):
    f0, _, f1 = triplets[-1]
    a, b, out = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "mid.png"
    cv2.imwrite(str(a), f0[:, :, ::-1])
    cv2.imwrite(str(b), f1[:, :, ::-1])
    assert cli.main(["interpolate", str(a), str(b), str(out), "--model", "flow", "--t", "0.5"]) == 0
    mid = _rd(out)
    assert mid.shape == f0.shape
    assert cli.main(["interpolate", str(a), str(b), str(a), "--model", "flow"]) == 1  # never over an input
    assert np.array_equal(_rd(a), f0)
