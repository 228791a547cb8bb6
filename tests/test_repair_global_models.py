"""BOPBTL global networks: equivalence with the official models, and the memory-bounded evaluation.

Model-level cases of ../shared/reference/bopbtl/models (stand-in weights; max abs error <= 1e-4): every case of
index.json for the scratch detector, VAE A/B and the three mapping networks. The memory-bounded evaluation
(:mod:`restoration_lib.repair.lowmem`) is checked against the plain forward with budgets small enough to force
stripes, chunked attention and spilling.
"""
from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from restoration_lib import models
from restoration_lib.archs import bopbtl as A
from restoration_lib.errors import CheckpointError
from restoration_lib.repair import lowmem

from _bopbtl_global import bop, make_standin  # noqa: F401 (bop is a fixture)

NETWORK_OF_MANIFEST = {
    "scratch_detection_unet.manifest.json": "bopbtl-scratch-detector",
    "vae_A.manifest.json": "bopbtl-vae-a",
    "vae_B.manifest.json": "bopbtl-vae-b",
    "mapping_quality.manifest.json": "bopbtl-mapping-quality",
    "mapping_scratch_nonlocal.manifest.json": "bopbtl-mapping-scratch",
    "mapping_scratch_HR_patch_attention.manifest.json": "bopbtl-mapping-hr",
}
TINY = lowmem.MemoryPlan(stripe_bytes=600_000, attention_bytes=1_000_000, spill_bytes=500_000)


def _cases(bop: Path):
    if not (bop / "models" / "index.json").is_file():
        pytest.skip(f"{bop}/models is absent")
    index = json.loads((bop / "models" / "index.json").read_text())["cases"]
    return {k: v for k, v in index.items() if v["manifest"] in NETWORK_OF_MANIFEST}


@pytest.fixture(scope="module")
def nets(bop):
    out = {}
    for case, meta in _cases(bop).items():
        sd = make_standin(str(bop / meta["manifest"]), int(meta["checkpoint_seed"]))
        out[case] = models.load(NETWORK_OF_MANIFEST[meta["manifest"]], sd)
    return out


def _outputs(case: str, net, arrays, run):
    """(expected, computed) pairs of one model-level case; ``run(net_part, x, mask)`` evaluates a module."""
    t = {k: torch.from_numpy(arrays[k]) for k in arrays.files}
    if case.startswith("detection"):
        return [(t["logits"], run(net, t["x"], None))]
    if case.startswith("vae"):
        latent = run(net.encoder, t["x"], None)
        pairs = [(t["latent"], latent), (t["recon"], run(net.decoder, latent, None))]
        if "z" in t:
            pairs.append((t["dec_z"], run(net.decoder, t["z"], None)))
        return pairs
    if isinstance(net, A.MappingQuality):
        return [(t["out"], run(net, t["z"], None))]
    tags = [k[2:] for k in t if k.startswith("z_")] or [None]
    pairs = []
    for tag in tags:
        sfx = f"_{tag}" if tag else ""
        pairs.append((t["out" + sfx], run(net, t["z" + sfx], t["mask" + sfx])))
    return pairs


def _plain(module, x, mask):
    return module(x) if mask is None else module(x, mask)


@torch.inference_mode()
def test_model_cases(bop, nets):
    assert set(nets) >= {"detection_unet", "vae_A", "vae_B", "mapping_quality", "mapping_scratch", "mapping_HR"}
    for case, net in nets.items():
        arrays = np.load(bop / "models" / f"{case}.npz")
        # the non-local block amplifies float32 rounding about a hundredfold (its logits reach ±100): the official
        # numbers are 5.8e-5 from float64 there, ours 1.6e-4 on AVX2; the reference's suggested bound is 2e-4
        tol = 2e-4 if isinstance(net, A.MappingScratch) else 1e-4
        for expected, got in _outputs(case, net, arrays, _plain):
            assert got.shape == expected.shape, case
            err = (got - expected).abs().max().item()
            assert err <= tol, f"{case}: max abs error {err:.3g}"


@torch.inference_mode()
def test_nonlocal_mapping_in_float64_matches_the_official_numbers(bop, nets):
    """Evaluated in float64 the masked non-local mapping lands within 1e-4 of the official float32 output.

    This checks the arithmetic itself, free of the float32 rounding that the attention amplifies.
    """
    arrays = np.load(bop / "models" / "mapping_scratch.npz")
    net = copy.deepcopy(nets["mapping_scratch"]).double()
    for expected, got in _outputs("mapping_scratch", net, arrays, lambda m, x, k: m(x.double(), k.double())):
        err = (got - expected.double()).abs().max().item()
        assert err <= 1e-4, f"mapping_scratch in float64: max abs error {err:.3g}"


@torch.inference_mode()
def test_lowmem_matches_plain_forward(bop, nets):
    """Stripes, in-place norms, chunked attention and a spilled stash give the official result (float rounding)."""
    calls = []
    plan = replace(TINY, attention="exact", progress=lambda d, t: calls.append((d, t)))

    def lean(module, x, mask):
        return lowmem.run(module, x.clone(), plan, mask)

    # VAE B covers both VAE halves, mapping_quality's layers are all in the other two mappings; the detector runs
    # at <= 256 px on the short side and has no memory-bounded path.
    for case in ("vae_B", "mapping_scratch", "mapping_HR"):
        net = nets[case]
        arrays = np.load(bop / "models" / f"{case}.npz")
        for expected, got in _outputs(case, net, arrays, lean):
            err = (got - expected).abs().max().item()
            assert err <= 2e-4, f"{case} (memory-bounded): max abs error {err:.3g}"
    assert calls and calls[-1][0] == calls[-1][1] > 1  # the non-local attention really ran in several blocks


@pytest.mark.parametrize("k,stride,pad,mode", [(3, 1, 1, "reflect"), (7, 1, 3, "reflect"), (4, 2, 1, "zeros"),
                                               (3, 1, 1, "zeros"), (3, 1, 2, "reflect")])
@pytest.mark.parametrize("hw", [(13, 10), (16, 24), (5, 7)])
def test_conv_stripes_equal_full_convolution(k, stride, pad, mode, hw):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 6 if stride == 1 else 5, k, stride=stride, dilation=2 if (pad == 2 and k == 3) else 1)
    x = torch.randn(1, 6, *hw)
    if pad >= min(hw) and mode == "reflect":
        pytest.skip("reflection padding needs pad < size")
    full = conv(F.pad(x, (pad,) * 4, mode="reflect" if mode == "reflect" else "constant"))
    two = torch.randn(1, 2, *hw)
    for budget in (1, 3_000, 1 << 30):
        got = lowmem.conv_stripes([x], conv, pad, mode, budget)
        torch.testing.assert_close(got, full, atol=2e-6, rtol=1e-5)
        if got.shape == x.shape[:1] + got.shape[1:2] + x.shape[2:] and conv.in_channels == conv.out_channels:
            y = x.clone()
            assert lowmem.conv_stripes([y], conv, pad, mode, budget, inplace=True) is y  # written into its input
            torch.testing.assert_close(y, full, atol=2e-6, rtol=1e-5)
    # several inputs are concatenated along channels, stripe by stripe
    conv2 = torch.nn.Conv2d(8, 3, k, stride=stride)
    full2 = conv2(F.pad(torch.cat([x, two], 1), (pad,) * 4, mode="reflect" if mode == "reflect" else "constant"))
    torch.testing.assert_close(lowmem.conv_stripes([x, two], conv2, pad, mode, 2_000), full2, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("h", [1, 2, 7, 12])
def test_conv_transpose_stripes(h):
    torch.manual_seed(1)
    ct = torch.nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1)
    x = torch.randn(1, 4, h, 9)
    for budget in (1, 2_000, 1 << 30):
        torch.testing.assert_close(lowmem.conv_transpose_stripes(x, ct, budget), ct(x), atol=2e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="output_padding"):
        lowmem.conv_transpose_stripes(x, torch.nn.ConvTranspose2d(4, 3, 3, 2, 1, output_padding=1), 1)


def test_instance_norm_in_place_and_stash_spill(tmp_path):
    torch.manual_seed(2)
    x = torch.randn(1, 8, 30, 20) * 3 + 1
    norm = torch.nn.InstanceNorm2d(8)
    ref = norm(x)
    got = lowmem._instance_norm_(x.clone(), norm, 100)
    torch.testing.assert_close(got, ref, atol=2e-6, rtol=1e-5)
    plan = lowmem.MemoryPlan(spill_bytes=10, spill_dir=str(tmp_path))
    for dtype in (torch.float32, torch.bfloat16):
        y = x.to(dtype)
        store = lowmem._RowStore.of(y, plan, band=7)
        assert store.path is not None and Path(store.path).is_file()
        assert torch.equal(store.read(3, 12), y[0, :, 3:12]) and torch.equal(store.read(0, 30), y[0])
        store.close()
    assert not list(tmp_path.iterdir())  # the spill file is gone


def _small_nl(seed: int) -> A.NonLocalMasked:
    torch.manual_seed(seed)
    nl = A.NonLocalMasked(16).eval()
    for p in nl.parameters():
        p.data.normal_(0, 0.2)
    return nl


def _chunked(nl, x, mask, plan):
    runner = lowmem._Runner(plan, mask)
    res = lowmem._children(nl.res_block)
    return lowmem.nonlocal_chunked(nl, [x.clone()], mask, plan, lambda b: runner.seq(res, b, owned=True))


@torch.inference_mode()
def test_nonlocal_soft_mask_and_empty_mask():
    """Chunked attention equals the plain block for a fractional mask; an empty mask returns the input."""
    nl = _small_nl(3)
    x = torch.randn(1, 16, 6, 10)
    mask = (torch.rand(1, 1, 24, 40) > 0.8).float() * torch.rand(1, 1, 24, 40)
    got = _chunked(nl, x, mask, lowmem.MemoryPlan(attention_bytes=1000, spill_bytes=1, attention="exact"))
    torch.testing.assert_close(got, nl(x, mask), atol=1e-5, rtol=1e-5)
    empty = torch.zeros(1, 1, 24, 40)
    torch.testing.assert_close(nl(x, empty), x)  # official: attention computed and discarded


@torch.inference_mode()
def test_windowed_attention_is_attention_restricted_to_the_window():
    nl = _small_nl(4)
    h, w, win = 13, 17, 8  # blocks of 2x2 queries, keys within 3 positions of the block
    x = torch.randn(1, 16, h, w)
    mask = (torch.rand(1, 1, 4 * h, 4 * w) > 0.9).float()
    # reference: the official block with the logits outside each query's window set to -inf
    b, m = win // 4, (win - win // 4) // 2
    rows, cols = torch.arange(h).repeat_interleave(w), torch.arange(w).repeat(h)
    qr0, qc0 = rows // b * b, cols // b * b
    inside = ((rows[None] >= (qr0 - m)[:, None]) & (rows[None] < (qr0 + b + m)[:, None])
              & (cols[None] >= (qc0 - m)[:, None]) & (cols[None] < (qc0 + b + m)[:, None]))  # fmt: skip
    xv = x.view(16, -1)
    theta = (nl.theta.weight.view(16, 16) @ xv + nl.theta.bias[:, None]).t()
    phi = nl.phi.weight.view(16, 16) @ xv + nl.phi.bias[:, None]
    g = (nl.g.weight.view(16, 16) @ xv + nl.g.bias[:, None]).t()
    valid = A.nonlocal_valid_mask(mask, (h, w))
    attn = F.softmax((theta @ phi).masked_fill(~inside, float("-inf")), dim=1)
    attn = F.normalize(attn * valid.view(1, -1), p=1, dim=1)
    wy = nl.W(( attn @ g).t().reshape(1, 16, h, w))
    ref = valid * x + (1 - valid) * nl.res_block(wy)
    plan = lowmem.MemoryPlan(attention_bytes=700, spill_bytes=1, attention="windowed", window=win)
    torch.testing.assert_close(_chunked(nl, x, mask, plan), ref, atol=1e-5, rtol=1e-5)
    # a window covering the whole latent is the exact block; "auto" switches at max_exact_positions
    whole = lowmem.MemoryPlan(attention="windowed", window=4 * max(h, w))
    torch.testing.assert_close(_chunked(nl, x, mask, whole), nl(x, mask), atol=1e-5, rtol=1e-5)
    assert lowmem.MemoryPlan(max_exact_positions=h * w).windowed(h * w + 1)
    assert not lowmem.MemoryPlan(max_exact_positions=h * w).windowed(h * w)
    with pytest.raises(ValueError, match="attention must be"):
        lowmem.MemoryPlan(attention="tiled")


def test_patch_attention_all_masked_is_a_clear_error():
    pa = A.PatchAttention(8, 2).eval()
    with pytest.raises(ValueError, match="no clean patch"):
        pa.compose(torch.randn(1, 8, 4, 4), torch.ones(1, 1, 4, 4))
    x = torch.randn(1, 8, 4, 4)
    assert torch.equal(pa.compose(x.clone(), torch.zeros(1, 1, 4, 4)), x)  # nothing masked: unchanged


def test_registry_specs_and_keys(bop):
    """Every network builds with exactly the official keys and shapes of its manifest."""
    for manifest, name in NETWORK_OF_MANIFEST.items():
        m = json.loads((bop / manifest).read_text())["state_dict"]
        want = {k: tuple(v["shape"] if isinstance(v, dict) else v) for k, v in m.items()}
        assert models.expected_shapes(name) == want, name
        assert models.get_spec(name).weights_id == "bopbtl-global"


def test_wrong_checkpoint_names_the_network(bop):
    sd = make_standin(str(bop / "vae_A.manifest.json"), 1002)
    with pytest.raises(CheckpointError, match="bopbtl-vae"):
        models.load("bopbtl-mapping-quality", sd)
