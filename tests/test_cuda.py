"""The CUDA paths: exact mode gives the official numbers on a GPU, fast mode (float16) stays close to it.

Skipped where PyTorch sees no CUDA device (this project's CI has none); DEVELOPERS.md says how they were run on a
lent GPU. The same reference cases as the CPU tests (../shared/reference), the same stand-in checkpoints.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from restoration_lib import models
from restoration_lib.colorize import Colorizer
from restoration_lib.device import full_fp32

from _bopbtl_global import bop  # noqa: F401 (a fixture)
from _deoldify_nets import standin_state_dict

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (see DEVELOPERS.md, 'GPU checks')"),
]

CUDA = torch.device("cuda")
MODEL_TOL = {"artistic": 1e-4, "stable": 2e-3}  # as on the CPU (README.fixtures.md §6)
PHOTOS = ("bw/Dancing.png", "bw/Samurais.png", "faded/a.png")
# The scratch mapping's non-local attention amplifies float32 rounding: on the CPU a relative 1e-7 change of its
# input moves its output by 6.5e-5 (measured), and the CPU result differs from the fixture by 2.9e-5. CUDA sums in
# another order: 2.1e-4 measured on an H100. Every other network stays within the fixtures' 1e-4.
BOPBTL_CUDA_TOL = {"mapping_scratch": 5e-4}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _cuda_net(make_checkpoint, reference_dir, variant: str, seed: int):
    return models.load(f"deoldify-{variant}", standin_state_dict(make_checkpoint, reference_dir, variant, seed),
                       device=CUDA)


def test_full_fp32_turns_tf32_off_and_restores_it():
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    with full_fp32(CUDA, torch.float32):
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        a = torch.randn(512, 512, device=CUDA, dtype=torch.float64)
        b = torch.randn(512, 512, device=CUDA, dtype=torch.float64)
        err = (torch.mm(a.float(), b.float()).double() - a @ b).abs().max().item()
        assert err < 1e-3  # float32 accumulation; TF32 would be near 1e-1 here
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before


@pytest.mark.parametrize("sub", ["model"])
def test_generator_exact_on_cuda_matches_official(reference_dir, make_checkpoint, sub):
    cases = sorted((reference_dir / "deoldify" / sub).glob("*.npz"))
    assert cases, f"no cases under {reference_dir / 'deoldify' / sub}"
    for npz in cases:
        meta = json.loads(npz.with_suffix(".json").read_text())
        net = _cuda_net(make_checkpoint, reference_dir, meta["variant"], meta["seed"])
        col = Colorizer(net, device=CUDA, precision="exact", progress=False)
        z = np.load(npz)
        y = col._forward(torch.from_numpy(z["input"])).cpu().numpy()
        err = np.abs(y - z["output"]).max()
        assert err <= MODEL_TOL[meta["variant"]], f"{npz.name}: max abs error {err:.3g} on CUDA"


def _diff(ours: np.ndarray, ref: np.ndarray) -> tuple[int, float]:
    assert ours.shape == ref.shape
    d = np.abs(ours.astype(int) - ref.astype(int))
    return int(d.max()), float((d == 0).mean())


def test_pipeline_exact_on_cuda_matches_official(reference_dir, make_checkpoint):
    """The official model input gives the official model output on CUDA; the whole call on CUDA gives what it
    gives on the CPU in the same environment (the pre/post-processing is PIL and OpenCV on the CPU, whose
    versions on a GPU machine may differ from those that made the fixtures)."""
    cases = sorted(p for p in (reference_dir / "deoldify" / "pipeline").iterdir() if p.is_dir())
    assert cases
    rows = []
    for case in cases:
        meta = json.loads((case / "meta.json").read_text())
        io = np.load(case / "model_io.npz")
        sd = standin_state_dict(make_checkpoint, reference_dir, meta["variant"], meta["seed"])
        cpu = Colorizer(models.load(f"deoldify-{meta['variant']}", sd), device="cpu", progress=False)
        gpu = Colorizer(models.load(f"deoldify-{meta['variant']}", sd, device=CUDA), device=CUDA, progress=False)
        err = float(np.abs(gpu._forward(torch.from_numpy(io["model_input"])).cpu().numpy()
                           - io["model_output"]).max())
        a, b = (c.colorize(case / "input.png", meta["render_factor"]) for c in (cpu, gpu))
        rows.append((case.name, meta["variant"], err, {k: _diff(getattr(b, k), getattr(a, k))
                                                        for k in ("model_square", "raw_color", "image")}))
    report = "\n".join(f"{n}: model err {e:.2g}; CUDA vs CPU " + ", ".join(
        f"{k} max {m} equal {q:.4%}" for k, (m, q) in st.items()) for n, _, e, st in rows)
    print(report)
    for name, variant, err, stages in rows:
        assert err <= MODEL_TOL[variant], report
        for m, q in stages.values():
            assert m <= 2 and q >= 0.999, report


@pytest.mark.parametrize("variant", ["artistic", "stable"])
def test_fast_mode_on_cuda_stays_close_to_exact_on_real_photos(reference_dir, data_dir, make_checkpoint, variant):
    photos = [np.asarray(Image.open(data_dir / "old" / p).convert("RGB")) for p in PHOTOS]
    exact = Colorizer(_cuda_net(make_checkpoint, reference_dir, variant, 0), device=CUDA, progress=False)
    fast = Colorizer(_cuda_net(make_checkpoint, reference_dir, variant, 0), device=CUDA, precision="fast",
                     progress=False)
    assert fast.dtype == torch.float16
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = [fast(p, 35) for p in photos]
    overflow = [w for w in seen if "overflowed" in str(w.message)]
    # the stand-in stable network's activations reach ~4e5 (README.fixtures.md): float16 must give way to bfloat16
    if overflow:
        assert fast.dtype == torch.bfloat16, "after a float16 overflow the Colorizer must run in bfloat16"
    psnr = [_psnr(g, exact(p, 35)) for g, p in zip(got, photos)]
    assert min(psnr) >= 40.0, f"fast vs exact PSNR {psnr}"


@pytest.fixture(scope="module")
def rife_cases(reference_dir, rife40_checkpoint):
    out = []
    for npz in sorted((reference_dir / "rife_v40").glob("*.npz")):
        z = np.load(npz)
        out.append((json.loads(npz.with_suffix(".json").read_text()), z["img0"], z["img1"], z["output"]))
    return out


def test_rife_exact_on_cuda_matches_official(rife40_checkpoint, rife_cases):
    net = models.load("rife-4.0", rife40_checkpoint, device=CUDA)
    for meta, a, b, ref in rife_cases:
        with torch.inference_mode(), full_fp32(CUDA, torch.float32):
            out, det = net(torch.from_numpy(a).to(CUDA), torch.from_numpy(b).to(CUDA), meta["timestep"],
                           meta["scale"], return_details=True)
        assert np.abs(out.cpu().numpy() - ref).max() <= 1e-4
        assert det.large_motion == meta["large_motion_rescale_path_taken"]


def test_rife_fast_on_cuda_stays_close_to_exact(rife40_checkpoint, rife_cases):
    from restoration_lib.interpolate import Interpolator

    wdir = rife40_checkpoint.parents[2]
    exact = Interpolator("rife-4.0", device=CUDA, weights_dir=wdir)
    fast = Interpolator("rife-4.0", device=CUDA, precision="fast", weights_dir=wdir)
    assert fast.dtype == torch.float16
    for meta, a, b, _ in rife_cases:
        h, w = meta["unpadded_hw"]
        x0, x1 = (torch.from_numpy(v[..., :h, :w]).to(CUDA) for v in (a, b))
        e = exact.predict(x0, x1, [meta["timestep"]])[0].float()
        f = fast.predict(x0, x1, [meta["timestep"]])[0].float()
        psnr = 10 * np.log10(1.0 / float(((f - e) ** 2).mean()))
        assert psnr >= 45.0, f"{meta}: {psnr:.1f} dB"


def test_cuda_graph_replay_gives_the_eager_numbers(reference_dir, make_checkpoint):
    sd = standin_state_dict(make_checkpoint, reference_dir, "artistic", 0)
    graphed = Colorizer(models.load("deoldify-artistic", sd, device=CUDA), device=CUDA, precision="fast",
                        progress=False)
    eager = Colorizer(models.load("deoldify-artistic", sd, device=CUDA), device=CUDA, precision="fast",
                      progress=False, cuda_graphs=False)
    gen = torch.Generator().manual_seed(0)
    for size in (128, 192, 128, 256):  # a new size captures; a size seen before replays
        x = torch.randn(1, 3, size, size, generator=gen)
        a, b = graphed._forward(x), eager._forward(x)
        assert a.shape == b.shape == (1, 3, size, size)
        assert (a.float() - b.float()).abs().max().item() <= 2e-3
    assert graphed._graphed is not None and len(graphed._graphed._graphs) == 2  # the last two sizes kept
    assert eager._graphed is None


def test_bopbtl_models_exact_on_cuda(bop):
    """The repair networks (scratch detector, VAEs, the three mappings) on CUDA give the official outputs."""
    from _bopbtl_global import make_standin
    from test_repair_global_models import NETWORK_OF_MANIFEST, _cases, _outputs

    def run(module, x, mask):
        with torch.inference_mode(), full_fp32(CUDA, torch.float32):
            y = module(x.to(CUDA)) if mask is None else module(x.to(CUDA), mask.to(CUDA))
        return y.cpu()

    cases = _cases(bop)
    assert cases
    for case, meta in cases.items():
        sd = make_standin(str(bop / meta["manifest"]), int(meta["checkpoint_seed"]))
        net = models.load(NETWORK_OF_MANIFEST[meta["manifest"]], sd, device=CUDA)
        for expected, got in _outputs(case, net, np.load(bop / "models" / f"{case}.npz"), run):
            err = (got - expected).abs().max().item()
            assert err <= BOPBTL_CUDA_TOL.get(case, 1e-4), f"{case}: max abs error {err:.3g} on CUDA"
