"""DeOldify equivalence with the official code: generator outputs and the whole single-image path.

Every case under ../shared/reference/deoldify/{model,pipeline} is run (hold-out cases in the same layout are picked
up the same way). Checkpoints are the deterministic stand-ins of make_checkpoint.py, built once per session.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restoration_lib import models
from restoration_lib.archs import deoldify as arch
from restoration_lib.colorize import Colorizer, output_to_uint8

from _deoldify_nets import standin_net, standin_state_dict

_SHARED = Path(os.environ.get("RESTORATION_SHARED", Path(__file__).resolve().parents[2] / "shared"))
_CASES = _SHARED / "reference" / "deoldify"

# Tolerances (README.fixtures.md §6-7): generator max abs error; whole images within 2 levels, ≥ 99.9 % equal.
MODEL_TOL = {"artistic": 1e-4, "stable": 2e-3}


def _cases(sub: str) -> list:
    found = sorted(p for p in (_CASES / sub).glob("*") if p.suffix == ".npz" or p.is_dir())
    if not found:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no cases under {_CASES / sub}"))]
    return [pytest.param(p, id=p.stem if p.suffix else p.name) for p in found]


@pytest.fixture(scope="session")
def deoldify_net(reference_dir, make_checkpoint):
    """(variant, seed) → the finalized network loaded with the stand-in checkpoint (cached for the session)."""
    return lambda variant, seed: standin_net(make_checkpoint, reference_dir, variant, seed)


def test_manifest_keys_and_shapes(reference_dir, make_checkpoint):
    pairs = (("artistic", "deoldify-artistic"), ("stable", "deoldify-stable"), ("stable", "deoldify-video"))
    for variant, name in pairs:
        want = make_checkpoint.load_manifest(reference_dir / "deoldify" / f"{variant}.manifest.json")
        got = models.expected_shapes(name)
        assert {k: list(v) for k, v in got.items()} == want


@pytest.mark.parametrize("npz", _cases("model"))
def test_generator_matches_official(npz, deoldify_net):
    meta = json.loads(npz.with_suffix(".json").read_text())
    z = np.load(npz)
    net = deoldify_net(meta["variant"], meta["seed"])
    with torch.inference_mode():
        y = net(torch.from_numpy(z["input"])).numpy()
    assert y.shape == z["output"].shape
    err = np.abs(y - z["output"]).max()
    assert err <= MODEL_TOL[meta["variant"]], f"max abs error {err:.3g}"


@pytest.mark.parametrize("npz", _cases("model")[:1])
def test_unfolded_generator_matches_official(npz, reference_dir, make_checkpoint):
    """The module tree as built (spectral norm computed in the forward pass, BN separate) gives the same numbers."""
    meta = json.loads(npz.with_suffix(".json").read_text())
    if meta["variant"] != "artistic":
        pytest.skip("checked on an artistic case (cheap)")
    sd = standin_state_dict(make_checkpoint, reference_dir, "artistic", meta["seed"])
    net = arch.build_artistic().eval()
    net.load_state_dict(sd, strict=True)
    z = np.load(npz)
    with torch.inference_mode():
        y = net(torch.from_numpy(z["input"])).numpy()
    assert np.abs(y - z["output"]).max() <= MODEL_TOL["artistic"]


def _compare_images(ours: np.ndarray, ref_path: Path) -> None:
    ref = np.asarray(Image.open(ref_path).convert("RGB")).astype(int)
    assert ours.shape == ref.shape, f"{ref_path.name}: shape {ours.shape} vs official {ref.shape}"
    diff = np.abs(ours.astype(int) - ref)
    equal = (diff == 0).mean()
    assert diff.max() <= 2 and equal >= 0.999, f"{ref_path.name}: max diff {diff.max()}, {equal:.5%} equal"


@pytest.mark.parametrize("case", _cases("pipeline"))
def test_pipeline_matches_official(case, deoldify_net):
    meta = json.loads((case / "meta.json").read_text())
    rf = meta["render_factor"]
    colorizer = Colorizer(deoldify_net(meta["variant"], meta["seed"]), device="cpu", progress=False)
    io = np.load(case / "model_io.npz")
    seen = {}
    hook = colorizer.net.register_forward_hook(lambda m, args, out: seen.update(x=args[0].clone(), y=out.clone()))
    try:
        result = colorizer.colorize(case / "input.png", rf)  # the public call, from the file
    finally:
        hook.remove()
    assert result.render_factor == rf
    # stage by stage, so that a failure says where
    np.testing.assert_array_equal(seen["x"].numpy(), io["model_input"])
    err = np.abs(seen["y"].numpy() - io["model_output"]).max()
    assert err <= MODEL_TOL[meta["variant"]], f"model_output: max abs error {err:.3g}"
    _compare_images(output_to_uint8(torch.from_numpy(io["model_output"]))[0], case / "model_out_square.png")
    _compare_images(result.model_square, case / "model_out_square.png")
    _compare_images(result.raw_color, case / "raw_color.png")
    _compare_images(result.image, case / "output.png")
