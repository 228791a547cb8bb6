"""Benchmark: DeOldify colorization speed, memory and fast-mode accuracy.

    PYTHONPATH=. python benchmarks/colorize.py [--render-factor 35] [--repeats 3] [--models artistic stable]
                                               [--threads N]

Prints a Markdown table: seconds per image (the whole ``Colorizer`` call on a real photo), the network's FLOPs
(counted on the meta device, direct convolutions: what the official code computes), the achieved rate as a
fraction of this machine's own fp32 / bf16 matmul rate measured in the same run, and three speed ratios:

- × baseline (measured): against the official computation timed in the same run: the same weights in the
  unfolded modules (spectral/weight norm evaluated at every forward, separate batch norms and attention
  projections), float32, NCHW, with the library's pre/post-processing. The official code itself needs fastai v1
  and torchvision, which do not run here.
- × official (fraction): against the official code's time estimated from its measured fraction of the fp32
  matmul rate (58 % artistic, 46 % stable, the figures of the issue) and this run's CPU-time matmul rate.
- × official (quoted s): against the 8.2 s / 7.4 s quoted for the official code.

Also peak resident memory (each configuration in its own process), the PSNR of fast mode against exact mode and
of exact mode against the baseline on real photos from ../shared/data/old.

The published checkpoints are used when ``restoration_lib.weights`` finds them; otherwise make_checkpoint.py's
stand-ins (same architecture, same arithmetic cost; the PSNR then measures meaningless colours, but the same
arithmetic).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import matmul_rate, peak_rss_bytes, print_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RESTORATION_SHARED", ROOT.parent / "shared"))
PHOTOS = ("bw/Dancing.png", "bw/Poverty.png", "bw/Samurais.png", "faded/a.png")
OFFICIAL = {  # measured with the official code on this machine, nothing else running (issue 3)
    "artistic": {"seconds": 8.2, "fraction_fp32": 0.58, "peak_gb": 2.7},
    "stable": {"seconds": 7.4, "fraction_fp32": 0.46, "peak_gb": 3.7},
}


def _state_dict(model: str) -> tuple[dict, str]:
    """The published checkpoint's state_dict when ``restoration_lib.weights`` finds it, else the stand-in's."""
    from restoration_lib import colorize, models, weights
    from restoration_lib.errors import MissingWeightsError
    from restoration_lib.models.loading import canonicalize_state_dict, load_checkpoint_file

    name = colorize.MODELS[model]
    try:
        path = weights.find(models.get_spec(name).weights_id, None)
        sd = canonicalize_state_dict(load_checkpoint_file(path))
        prepare = models.get_spec(name).prepare
        return (prepare(sd) if prepare else sd), "published"
    except (ImportError, MissingWeightsError):
        pass
    sys.path.insert(0, str(SHARED / "reference"))
    import make_checkpoint  # type: ignore

    variant = "artistic" if model == "artistic" else "stable"
    manifest = make_checkpoint.load_manifest(SHARED / "reference" / "deoldify" / f"{variant}.manifest.json")
    return make_checkpoint.make_state_dict(manifest, 0), "stand-in"


def _network(model: str):
    """The network as the library loads it (folded), and which weights it has."""
    from restoration_lib import colorize, models

    sd, kind = _state_dict(model)
    net = models.load(colorize.MODELS[model], sd)
    del sd
    gc.collect()
    return net, kind


def _baseline_network(model: str):
    """The official computation: the same state_dict in the unfolded modules (spectral and weight norm evaluated
    from the stored vectors at every forward, batch norms and attention projections separate), float32, NCHW,
    as the official fastai model runs; a measured baseline in the same run."""
    from restoration_lib.archs import deoldify

    sd, kind = _state_dict(model)
    net = deoldify.build_artistic() if model == "artistic" else deoldify.build_stable()
    net.load_state_dict(sd, strict=True)
    return net.eval().requires_grad_(False), kind


def official_flops(model: str, size: int) -> float:
    """FLOPs of one forward pass with direct convolutions (the official computation), counted on meta."""
    from torch.utils.flop_counter import FlopCounterMode

    from restoration_lib.archs import deoldify

    with torch.device("meta"):
        net = deoldify.build_artistic() if model == "artistic" else deoldify.build_stable()
    deoldify.finalize(net).eval()
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        net(torch.empty(1, 3, size, size, device="meta"))
    return float(counter.get_total_flops())


def _photos() -> list[np.ndarray]:
    from PIL import Image

    found = [SHARED / "data" / "old" / p for p in PHOTOS if (SHARED / "data" / "old" / p).is_file()]
    if found:
        return [np.asarray(Image.open(p).convert("RGB")) for p in found]
    rng = np.random.default_rng(0)  # no shared data: a smooth synthetic gray image
    g = np.clip(np.add.outer(np.linspace(0, 200, 400), np.linspace(0, 50, 600)) + rng.normal(0, 5, (400, 600)), 0, 255)
    return [np.repeat(g.astype(np.uint8)[..., None], 3, axis=2)]


def matmul_rates(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> tuple[float, float]:
    """(FLOP per wall second, FLOP per CPU-second) of n³ matmuls; the CPU-time rate is robust to other load.

    The CPU rate is the mean over the warm-up and the repeats that ``_common.matmul_rate`` runs.
    """
    cpu = time.process_time()
    wall_rate = matmul_rate(dtype, n=n, repeats=repeats)
    return wall_rate, (repeats + 1) * 2 * n**3 / (time.process_time() - cpu)


def child(model: str, precision: str, rf: int, repeats: int, out: str) -> None:
    from restoration_lib.colorize import Colorizer

    if precision == "baseline":

        class _Unfolded(Colorizer):
            """The library's pre/post-processing around the unfolded float32 NCHW network."""

            def _forward(self, x: torch.Tensor) -> torch.Tensor:
                with torch.inference_mode():
                    return self.net(x.float().contiguous())

        net, weights = _baseline_network(model)
        col = _Unfolded(net, device="cpu", precision="exact", progress=False)
        col.net = net.to(memory_format=torch.contiguous_format)
    else:
        net, weights = _network(model)
        col = Colorizer(net, device="cpu", precision=precision, progress=False)
    photos = _photos()
    col(photos[0], rf)  # warm-up
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        col(photos[0], rf)
        best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
    peak = peak_rss_bytes()
    np.savez(out, *[col(p, rf) for p in photos])
    print(json.dumps({"seconds": best, "cpu_seconds": best_cpu, "peak_rss": peak, "weights": weights,
                      "threads": torch.get_num_threads()}))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--render-factor", type=int, default=35)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=["artistic", "stable"], choices=["artistic", "stable", "video"])
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's choice); --threads 1 gives CPU times free of "
                         "thread-synchronisation waits on a loaded machine")
    ap.add_argument("--one", nargs=2, metavar=("MODEL", "PRECISION"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.one:
        child(a.one[0], a.one[1], a.render_factor, a.repeats, a.out)
        return

    (rate32, cpu32), (rate16, cpu16) = matmul_rates(torch.float32), matmul_rates(torch.bfloat16)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models:
            flops = official_flops(model, 16 * a.render_factor)
            runs = {}
            for precision in ("baseline", "exact", "fast"):
                out = os.path.join(tmp, f"{model}-{precision}.npz")
                cmd = [sys.executable, __file__, "--one", model, precision, "--out", out,
                       "--render-factor", str(a.render_factor), "--repeats", str(a.repeats)]
                if a.threads:
                    cmd += ["--threads", str(a.threads)]
                res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
                if res.returncode != 0:
                    raise SystemExit(f"{model} {precision} failed:\n{res.stderr[-3000:]}")
                runs[precision] = json.loads(res.stdout.strip().splitlines()[-1])
                runs[precision]["images"] = list(np.load(out).values())
            psnrs = [_psnr(f, e) for f, e in zip(runs["fast"]["images"], runs["exact"]["images"])]
            psnrs_exact = [_psnr(e, b) for e, b in zip(runs["exact"]["images"], runs["baseline"]["images"])]
            off = OFFICIAL["stable" if model != "artistic" else "artistic"]
            official_cpu = flops / (off["fraction_fp32"] * cpu32)  # the official code's CPU-seconds at its fraction
            base = runs["baseline"]
            for precision in ("baseline", "exact", "fast"):
                r = runs[precision]
                rate, cpu_rate, name = (rate16, cpu16, "bf16") if precision == "fast" else (rate32, cpu32, "fp32")
                rows.append([
                    model, precision, r["weights"], f"{r['seconds']:.2f}", f"{r['cpu_seconds']:.2f}",
                    f"{flops / 1e12:.2f}",
                    f"{flops / r['seconds'] / rate:.0%} / {flops / r['cpu_seconds'] / cpu_rate:.0%} of {name}",
                    f"{base['seconds'] / r['seconds']:.1f}×",
                    f"{official_cpu / r['cpu_seconds']:.1f}×", f"{off['seconds'] / r['seconds']:.1f}×",
                    f"{r['peak_rss'] / 2**30:.2f}",
                    {"fast": f"{min(psnrs):.1f} / {np.mean(psnrs):.1f}",
                     "exact": f"{min(psnrs_exact):.1f} / {np.mean(psnrs_exact):.1f}"}.get(precision, "—"),
                ])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"render_factor {a.render_factor} ({16 * a.render_factor}² model input), {torch.get_num_threads()} threads, "
          f"load average {load:.1f} on {os.cpu_count()} CPUs. Matmul rates measured now: fp32 {rate32 / 1e9:.0f} "
          f"GFLOP/s wall ({cpu32 / 1e9:.0f} per CPU-s), bf16 {rate16 / 1e9:.0f} GFLOP/s wall "
          f"({cpu16 / 1e9:.0f} per CPU-s)\n")
    print_table(
        ["model", "precision", "weights", "s / image", "CPU-s / image", "TFLOP (direct)",
         "achieved (wall / CPU)", "× baseline (measured)", "× official (fraction)", "× official (quoted s)",
         "peak RSS GiB",
         "PSNR dB min / mean (fast vs exact, exact vs baseline)"],
        rows,
    )
    print("\nbaseline: the official computation measured in this run (the same weights in the unfolded modules, "
          "spectral norm evaluated at every forward, float32, NCHW, as the official fastai model runs; the official "
          "code itself needs fastai v1 and torchvision, which do not run here). "
          "achieved: the official (direct-convolution) FLOPs per second over the matmul rate of the compute dtype; "
          "fast mode does fewer multiplications (Winograd), so it can exceed 100 %. × official (fraction): against the "
          "official code's CPU time estimated from its measured fraction of the fp32 matmul rate (58 % artistic, "
          "46 % stable) and this run's CPU-time matmul rate, which is robust to other processes' load. "
          "× official (quoted s): against 8.2 s / 7.4 s measured with nothing else running. Peak RSS includes "
          "building/loading the weights (official: 2.7 / 3.7 GB). Timings are the best of --repeats runs.")


if __name__ == "__main__":
    main()
