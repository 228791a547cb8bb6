"""Benchmark on a CUDA GPU: DeOldify and RIFE 4.0 speed, memory and fast-mode (float16) accuracy.

    PYTHONPATH=. python benchmarks/cuda.py [--render-factor 35] [--repeats 10] [--part colorize rife]

Needs a CUDA device (this project's development machine has none; DEVELOPERS.md says how it was run on a lent
GPU). Prints Markdown tables:

- the GPU's own matmul rates measured in the same run: float32 with TF32 off (what exact mode computes), float16;
- colorize (render factor 35 by default): milliseconds per network forward (CUDA events, median of --repeats) and
  seconds per whole ``Colorizer`` call on a real photo (the CPU pre/post-processing included), the achieved
  fraction of the matmul rate, peak GPU memory, and PSNR of fast mode against exact mode on real photos from
  ../shared/data/old; "baseline" is the official computation (the unfolded modules, float32 NCHW, TF32 off),
  "fast-eager" is fast mode without CUDA graphs and "bf16" precision="bf16", for comparison;
- RIFE 4.0 (the published weights, when ``restoration_lib.weights`` finds them): milliseconds per 720p and 1080p
  frame and PSNR of fast against exact on the same frames.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_table  # noqa: E402
from colorize import SHARED, _baseline_network, _network, _photos, _psnr, official_flops  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def cuda_ms(fn, repeats: int, warmup: int = 2) -> float:
    """Median milliseconds of ``fn()`` on the current CUDA stream (events), after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def gpu_matmul_rate(dtype: torch.dtype, n: int = 8192, repeats: int = 10) -> float:
    """FLOP/s of an n³ matmul on the GPU (float32 with TF32 off), from random operands."""
    from restoration_lib.device import full_fp32

    a = torch.randn(n, n, device="cuda").to(dtype)
    b = torch.randn(n, n, device="cuda").to(dtype)
    with full_fp32(torch.device("cuda"), dtype):
        ms = cuda_ms(lambda: torch.mm(a, b), repeats)
    return 2 * n**3 / (ms / 1e3)


def colorize_part(models: list[str], rf: int, repeats: int) -> tuple[list, dict]:
    from restoration_lib.colorize import Colorizer, model_input

    dev = torch.device("cuda")
    rate32, rate16 = gpu_matmul_rate(torch.float32), gpu_matmul_rate(torch.float16)
    photos = _photos()
    rows, raw = [], {"fp32_tflops": rate32 / 1e12, "fp16_tflops": rate16 / 1e12}
    for model in models:
        flops = official_flops(model, 16 * rf)
        images, runs = {}, {}
        for config in ("baseline", "exact", "fast", "fast-eager", "bf16"):
            torch.cuda.empty_cache()
            if config == "baseline":
                net, kind = _baseline_network(model)
                col = Colorizer(net.to(dev), device=dev, precision="exact", progress=False)
            else:
                net, kind = _network(model)
                precision = {"exact": "exact", "bf16": "bf16"}.get(config, "fast")
                col = Colorizer(net, device=dev, precision=precision, progress=False,
                                cuda_graphs=config != "fast-eager")
            x = model_input(photos[0], 16 * rf)
            torch.cuda.reset_peak_memory_stats()  # the peak includes the warm-up (and a CUDA graph's capture)
            col._forward(x)  # warm-up (cuDNN picks its algorithms; fast mode captures its graph)
            ms = cuda_ms(lambda: col._forward(x), repeats)
            peak = torch.cuda.max_memory_allocated()
            col(photos[0], rf)
            t = time.perf_counter()
            for _ in range(3):
                col(photos[0], rf)
            whole = (time.perf_counter() - t) / 3
            images[config] = [col(p, rf) for p in photos]
            runs[config] = {"ms_forward": ms, "s_call": whole, "peak_gib": peak / 2**30, "weights": kind,
                            "dtype": str(col.dtype)}
            del col, net
        exact = images["exact"]
        for config, r in runs.items():
            rate = rate32 if runs[config]["dtype"] == "torch.float32" else rate16
            ps = [_psnr(a, b) for a, b in zip(images[config], exact)] if config != "exact" else None
            r["psnr_vs_exact"] = ps
            rows.append([
                model, config, r["dtype"].replace("torch.", ""), f"{r['ms_forward']:.1f}",
                f"{runs['baseline']['ms_forward'] / r['ms_forward']:.1f}×", f"{flops / (r['ms_forward'] / 1e3) / rate:.0%}",
                f"{r['s_call']:.3f}", f"{r['peak_gib']:.2f}",
                "—" if ps is None else f"{min(ps):.1f} / {np.mean(ps):.1f}",
            ])
        raw[model] = runs
    return rows, raw


def _frames_720p() -> list[np.ndarray]:
    import cv2
    from PIL import Image

    found = sorted((SHARED / "data" / "frames").glob("*/0.png"))[:3]
    pairs = []
    for p in found:
        a = np.asarray(Image.open(p).convert("RGB"))
        b = np.asarray(Image.open(p.with_name("2.png")).convert("RGB"))
        pairs.append([cv2.resize(f, (1280, 720), interpolation=cv2.INTER_AREA) for f in (a, b)])
    return pairs


def rife_part(repeats: int) -> tuple[list, dict]:
    import cv2

    from restoration_lib.interpolate import Interpolator

    pairs = _frames_720p()
    rows, raw = [], {}
    for size, (w, h) in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
        outs = {}
        for precision in ("exact", "fast"):
            it = Interpolator("rife-4.0", device="cuda", precision=precision)
            ts = []
            for a, b in pairs:
                a, b = (cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC) if f.shape[1] != w else f for f in (a, b))
                x0 = torch.from_numpy(a).permute(2, 0, 1)[None].float().div(255).cuda()
                x1 = torch.from_numpy(b).permute(2, 0, 1)[None].float().div(255).cuda()
                ts.append((x0, x1))
            torch.cuda.reset_peak_memory_stats()
            ms = cuda_ms(lambda: it.predict(*ts[0], [0.5]), repeats)
            peak = torch.cuda.max_memory_allocated()
            outs[precision] = [it.predict(x0, x1, [0.5])[0].clamp(0, 1).mul(255).round().byte().cpu().numpy()
                               for x0, x1 in ts]
            raw[f"{size}-{precision}"] = {"ms": ms, "peak_gib": peak / 2**30}
        ps = [_psnr(f, e) for f, e in zip(outs["fast"], outs["exact"])]
        for precision in ("exact", "fast"):
            r = raw[f"{size}-{precision}"]
            rows.append([size, precision, f"{r['ms']:.1f}", f"{raw[f'{size}-exact']['ms'] / r['ms']:.1f}×",
                         f"{r['peak_gib']:.2f}", f"{min(ps):.1f} / {np.mean(ps):.1f}" if precision == "fast" else "—"])
    return rows, raw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--render-factor", type=int, default=35)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--models", nargs="+", default=["artistic", "stable"], choices=["artistic", "stable", "video"])
    ap.add_argument("--part", nargs="+", default=["colorize", "rife"], choices=["colorize", "rife"])
    ap.add_argument("--json", help="also write the raw numbers to this file")
    ap.add_argument("--cudnn-benchmark", action="store_true",
                    help="let cuDNN time its algorithms (torch.backends.cudnn.benchmark; the library leaves it off)")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("benchmarks/cuda.py: skipped, PyTorch sees no CUDA device on this machine", file=sys.stderr)
        return
    torch.backends.cudnn.benchmark = a.cudnn_benchmark
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
          f"cudnn.benchmark {a.cudnn_benchmark}\n")
    raw = {}
    if "colorize" in a.part:
        rows, raw["colorize"] = colorize_part(a.models, a.render_factor, a.repeats)
        c = raw["colorize"]
        print(f"DeOldify, render_factor {a.render_factor} ({16 * a.render_factor}² model input). Matmul rates measured "
              f"now: fp32 (TF32 off) {c['fp32_tflops']:.1f} TFLOP/s, fp16 {c['fp16_tflops']:.0f} TFLOP/s\n")
        print_table(["model", "config", "dtype", "ms / forward", "× baseline", "achieved (direct FLOPs)",
                     "s / whole call", "peak GPU GiB", "PSNR dB min / mean vs exact"], rows)
        print()
    if "rife" in a.part:
        rows, raw["rife"] = rife_part(a.repeats)
        print("RIFE 4.0 (published weights), one middle frame per pair\n")
        print_table(["size", "precision", "ms / frame", "× exact", "peak GPU GiB", "PSNR dB min / mean vs exact"],
                    rows)
    if a.json:
        Path(a.json).write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
