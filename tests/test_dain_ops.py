"""DAIN's custom operators (restoration_lib.ops.dain) and the generic tiler (restoration_lib.tiling)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from restoration_lib.ops.dain import backward_warp, correlation, depth_flow_projection, filter_interpolation
from restoration_lib.tiling import ramp, run_tiled, tile_starts

_REF = Path(os.environ.get("RESTORATION_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "reference"
_DAIN = _REF / "dain"


def _cases(prefix: str) -> list[str]:
    found = [p.stem for p in sorted(_DAIN.glob(f"{prefix}*.json"))]
    return found or ["(no cases: ../shared/reference absent)"]


def _load(reference_dir: Path, case: str) -> tuple[dict, dict[str, torch.Tensor]]:
    p = reference_dir / "dain" / f"{case}.json"
    if not p.exists():
        pytest.skip(f"fixture {case} absent")
    z = np.load(p.with_suffix(".npz"))
    return json.loads(p.read_text()), {k: torch.from_numpy(z[k]) for k in z.files}


def _tol(ref: torch.Tensor) -> float:
    return 1e-5 * max(1.0, ref.abs().max().item())


@pytest.mark.parametrize("case", _cases("op_"))
def test_op_case(case, reference_dir):
    meta, t = _load(reference_dir, case)
    op = meta["op"]
    if op == "correlation":
        assert meta["params"]["max_displacement"] == 4 and meta["params"]["kernel_size"] == 1
        out = correlation(t["input1"], t["input2"], meta["params"]["max_displacement"])
    elif op == "depth_flow_projection":
        out, count = depth_flow_projection(t["input1"], t["input2"], bool(meta["params"]["fillhole"]))
        assert torch.equal(count <= 0, t["count"] <= 0), "the hole pattern (count <= 0) differs"
        assert (count - t["count"]).abs().max().item() <= _tol(t["count"])
    elif op == "filter_interpolation":
        out = filter_interpolation(t["input1"], t["input2"], t["input3"])
    else:
        pytest.fail(f"unknown op {op!r} in {case}")
    assert out.shape == t["output"].shape
    err = (out - t["output"]).abs().max().item()
    assert err <= _tol(t["output"]), f"{case}: max abs error {err:.3g}"


def test_correlation_definition():
    g = torch.Generator().manual_seed(0)
    f1, f2 = torch.randn(1, 5, 6, 7, generator=g), torch.randn(1, 5, 6, 7, generator=g)
    out = correlation(f1, f2)
    assert out.shape == (1, 81, 6, 7)
    # channel (dy+4)*9 + (dx+4) at (y, x) = mean_c f1[c,y,x] f2[c,y+dy,x+dx]; dy=1, dx=-2 at (2, 3)
    assert torch.allclose(out[0, 5 * 9 + 2, 2, 3], (f1[0, :, 2, 3] * f2[0, :, 3, 1]).mean(), atol=1e-6)
    assert out[0, 0, 0, 0] == 0  # f2 is zero outside


def test_backward_warp_zero_flow_and_outside():
    x = torch.rand(1, 3, 8, 9)
    assert torch.allclose(backward_warp(x, torch.zeros(1, 2, 8, 9)), x, atol=1e-6)
    out = backward_warp(x, torch.full((1, 2, 8, 9), 100.0))
    assert torch.all(out == 0)
    half = torch.zeros(1, 2, 8, 9)
    half[:, 0] = 0.5  # align_corners=True: x + 0.5 samples between pixel centres; the last column leaves
    out = backward_warp(x, half)
    assert torch.allclose(out[..., :-1], (x[..., :-1] + x[..., 1:]) / 2, atol=1e-6)
    assert torch.all(out[..., -1] == 0)


def test_projection_fills_holes_and_counts_edges_twice():
    flow = torch.zeros(1, 2, 4, 5)
    flow[0, 0, 1, 1] = 3.0  # (1, 1) lands on (1, 4), the last column: R == L, each corner counted twice
    weight = torch.zeros(1, 1, 4, 5)
    weight[0, 0, 1, 1] = 2.0
    out, count = depth_flow_projection(flow, weight)
    expected = torch.zeros(4, 5)
    expected[1, 4] = expected[2, 4] = 4.0
    assert torch.equal(count[0, 0], expected)
    assert torch.all(out[0, 0, 1:3, 4] == -3.0) and torch.all(out[0, 1, 1:3, 4] == 0)
    # holes take the mean of the nearest non-empty pixels left/right/up/down: rows 1-2 see (r, 4) to their
    # right, rows 0 and 3 see (1, 4) / (2, 4) above or below only in column 4
    assert torch.all(out[0, 0, 1:3] == -3.0)
    assert out[0, 0, 0, 4] == -3.0 and out[0, 0, 3, 4] == -3.0
    assert torch.all(out[0, :, 0, :4] == 0)  # no non-empty neighbour in any direction: stays 0
    unfilled, _ = depth_flow_projection(flow, weight, fill_holes=False)
    assert torch.all(unfilled[0, 0, 1:3, :4] == 0)
    filled, c0 = depth_flow_projection(torch.full((1, 2, 4, 5), 50.0), torch.ones(1, 1, 4, 5))
    assert torch.all(c0 == 0) and torch.all(filled == 0)  # every target outside


def test_ops_nan_free_on_black_and_outside_flow():
    img = torch.zeros(1, 3, 16, 16)
    flow = torch.full((1, 2, 16, 16), -1e4)
    filt = torch.full((1, 16, 16, 16), 0.25)
    out = filter_interpolation(img, flow, filt)
    assert torch.isfinite(out).all() and torch.equal(out, img)  # copy-through
    p, c = depth_flow_projection(flow, torch.full((1, 1, 16, 16), 1e-6))
    assert torch.isfinite(p).all() and torch.all(p == 0)
    nan_flow = torch.full((1, 2, 16, 16), float("nan"))
    assert torch.isfinite(depth_flow_projection(nan_flow, torch.ones(1, 1, 16, 16))[0]).all()
    assert torch.equal(filter_interpolation(img + 0.5, nan_flow, filt), img + 0.5)


def test_filter_interpolation_quarter_filter_is_box_then_bilinear():
    g = torch.Generator().manual_seed(1)
    img = torch.rand(1, 2, 10, 12, generator=g)
    flow = torch.zeros(1, 2, 10, 12)
    filt = torch.zeros(1, 16, 10, 12)
    filt[:, 5] = 1.0  # tap (1, 1) = the source pixel itself, in quadrant TL
    out = filter_interpolation(img, flow, filt)
    assert torch.allclose(out, img, atol=1e-6)


def test_op_input_checks():
    with pytest.raises(ValueError, match=r"\(B, 16, H, W\)"):
        filter_interpolation(torch.rand(1, 3, 4, 4), torch.rand(1, 2, 4, 4), torch.rand(1, 9, 4, 4))
    with pytest.raises(ValueError, match="same shape"):
        correlation(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5))
    with pytest.raises(ValueError, match="does not match"):
        depth_flow_projection(torch.rand(1, 2, 4, 4), torch.rand(1, 1, 4, 5))


# ------------------------------------------------------------------------------------------------ tiling

def test_tile_starts_cover_and_overlap():
    assert tile_starts(100, 128, 16) == [0]
    s = tile_starts(1000, 300, 50)
    assert s[0] == 0 and s[-1] == 700
    assert all(b - a <= 250 for a, b in zip(s, s[1:]))
    with pytest.raises(ValueError):
        tile_starts(100, 16, 16)


def test_ramps_sum_to_one_in_overlaps():
    a = ramp(10, 0, 4)
    b = ramp(10, 4, 0)
    assert torch.allclose(a[6:] + b[:4], torch.ones(4))
    assert a[0] == 1 and b[-1] == 1 and (a > 0).all()


def test_run_tiled_pointwise_equals_whole():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 70, 95, generator=g)
    y = torch.rand(2, 1, 70, 95, generator=g)
    fn = lambda a, b: a * b + 1  # noqa: E731
    out = run_tiled(fn, [x, y], tile=32, overlap=8)
    assert torch.allclose(out, fn(x, y), atol=1e-6)
    assert torch.equal(x, x.clone())  # pure


def test_run_tiled_with_padding_rule():
    x = torch.rand(1, 3, 50, 61)

    def pad(tiles):
        t = tiles[0]
        return [torch.nn.functional.pad(t, (3, 5, 2, 4), mode="replicate")], (2, 3, t.shape[-2], t.shape[-1])

    out = run_tiled(lambda a: a * 2, [x], tile=24, overlap=6, pad=pad)
    assert torch.allclose(out, x * 2, atol=1e-6)


def test_run_tiled_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="share"):
        run_tiled(lambda a, b: a, [torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9)], tile=4, overlap=1)


@pytest.mark.cuda
def test_ops_cuda_match_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    g = torch.Generator().manual_seed(5)
    img = torch.rand(2, 7, 40, 48, generator=g)
    flow = torch.randn(2, 2, 40, 48, generator=g) * 6
    filt = torch.rand(2, 16, 40, 48, generator=g) * 0.5
    wgt = torch.rand(2, 1, 40, 48, generator=g)
    d = "cuda"
    assert torch.allclose(filter_interpolation(img.to(d), flow.to(d), filt.to(d)).cpu(),
                          filter_interpolation(img, flow, filt), atol=1e-5)
    p_gpu, c_gpu = depth_flow_projection(flow.to(d), wgt.to(d))
    p, c = depth_flow_projection(flow, wgt)
    assert torch.equal(c_gpu.cpu() <= 0, c <= 0)
    assert torch.allclose(p_gpu.cpu(), p, atol=1e-4)
    f1, f2 = torch.randn(1, 32, 20, 24, generator=g), torch.randn(1, 32, 20, 24, generator=g)
    assert torch.allclose(correlation(f1.to(d), f2.to(d)).cpu(), correlation(f1, f2), atol=1e-5)
    assert torch.allclose(backward_warp(f1.to(d), flow[:1, :, :20, :24].to(d)).cpu(),
                          backward_warp(f1, flow[:1, :, :20, :24]), atol=1e-5)
