"""DAIN benchmark: time per frame, share of the custom operators, peak memory; RIFE 4.0 and Super SloMo beside it.

    PYTHONPATH=. python benchmarks/dain.py [--size 720p] [--memory]

Every configuration runs in its own child process (so its peak RSS is its own) with stand-in weights
(random values, the published architecture: the speed does not depend on the values; say so when quoting).
Speed is reported against the machine's own matmul rate measured in the same child (fp32 for exact, bf16
for fast), as "% of matmul rate" = convolution FLOPs / time / matmul rate. The operators' share is measured
with ``torch.profiler`` (time in restoration_lib.ops.dain functions over the whole forward).

``--memory`` adds the 4K tiled run (budget: 8 GB RSS) and the 1080p untiled run (budget: 6 GB RSS).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import matmul_rate, peak_rss_bytes, print_table  # noqa: E402

SIZES = {"720p": (720, 1280), "1080p": (1080, 1920), "4K": (2160, 3840), "small": (256, 448)}


def _net(model: str, precision: str):
    import torch

    from restoration_lib import models
    from restoration_lib.interpolate.adapters import adapter_for

    torch.manual_seed(0)
    net = models.build(model).eval().requires_grad_(False)
    dtype = torch.bfloat16 if precision == "fast" else torch.float32
    net = adapter_for(model).cast(net, dtype) if dtype != torch.float32 else net
    net.spec = models.get_spec(model)  # type: ignore[assignment]
    return net, dtype


def child(model: str, size: str, precision: str, profile: bool) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from restoration_lib.interpolate.adapters import adapter_for
    from restoration_lib.ops import dain as ops

    net, dtype = _net(model, precision)
    adapter = adapter_for(model)
    h, w = SIZES[size]
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, h, w, generator=g)
    b = torch.roll(a, shifts=(3, 5), dims=(2, 3))

    def call():
        if adapter.many is not None:
            return adapter.many(net, a, b, [0.5], 1.0)[0]
        from restoration_lib.archs.rife import pad_to_multiple

        m = adapter.pad_multiple(1.0)
        pa, (hh, ww) = pad_to_multiple(a, m)
        pb, _ = pad_to_multiple(b, m)
        return adapter.infer(net, pa, pb, 0.5, 1.0)[..., :hh, :ww]

    with torch.inference_mode():
        t = time.perf_counter()
        call()
        first = time.perf_counter() - t
        with FlopCounterMode(display=False) as fc:
            t = time.perf_counter()
            call()
            counted = time.perf_counter() - t
        seconds = min(first, counted)
        op_share = None
        if profile and model == "dain":
            spent = {"t": 0.0}
            originals = {}
            for name in ("correlation", "backward_warp", "depth_flow_projection", "filter_interpolation"):
                fn = getattr(ops, name)
                originals[name] = fn

                def timed(*args, _fn=fn, **kw):
                    s = time.perf_counter()
                    try:
                        return _fn(*args, **kw)
                    finally:
                        spent["t"] += time.perf_counter() - s

                for mod in (sys.modules["restoration_lib.archs.dain"],):
                    setattr(mod, name, timed)
            t = time.perf_counter()
            call()
            op_share = spent["t"] / (time.perf_counter() - t)
    rate = matmul_rate(dtype)
    flops = fc.get_total_flops()
    return {"model": model, "size": size, "precision": precision, "seconds": seconds,
            "pct_matmul": 100 * flops / seconds / rate, "tflop": flops / 1e12, "op_share": op_share,
            "peak_rss_gb": peak_rss_bytes() / 1e9}


def memory_child(size: str, tiled: bool) -> dict:
    import torch

    from restoration_lib.interpolate.dain import run_dain

    net, _ = _net("dain", "exact")
    h, w = SIZES[size]
    a = torch.rand(1, 3, h, w)
    b = torch.roll(a, shifts=(3, 5), dims=(2, 3))
    t = time.perf_counter()
    with torch.inference_mode():
        run_dain(net, a, b, [0.5], max_pixels=1 if tiled else 1 << 40)
    return {"size": size, "tiled": tiled, "seconds": time.perf_counter() - t, "peak_rss_gb": peak_rss_bytes() / 1e9}


def _spawn(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="720p", choices=sorted(SIZES))
    p.add_argument("--memory", action="store_true")
    p.add_argument("--child", nargs=4, metavar=("MODEL", "SIZE", "PRECISION", "PROFILE"))
    p.add_argument("--memory-child", nargs=2, metavar=("SIZE", "TILED"))
    args = p.parse_args()
    if args.child:
        m, s, prec, prof = args.child
        print(json.dumps(child(m, s, prec, prof == "1")))
        return
    if args.memory_child:
        s, tiled = args.memory_child
        print(json.dumps(memory_child(s, tiled == "1")))
        return
    rows = []
    for model, precs in (("dain", ["exact", "fast"]), ("rife-4.0", ["exact", "fast"]), ("superslomo", ["exact", "fast"])):
        for prec in precs:
            r = _spawn(["--child", model, args.size, prec, "1"])
            rows.append([model, prec, f"{r['seconds']:.2f}", f"{r['tflop']:.2f}", f"{r['pct_matmul']:.0f} %",
                         "" if r["op_share"] is None else f"{100 * r['op_share']:.0f} %", f"{r['peak_rss_gb']:.2f}"])
    print(f"per {args.size} frame, stand-in weights, one process per row")
    print_table(["model", "precision", "s / frame", "conv TFLOP", "% of matmul rate", "custom ops", "peak RSS GB"], rows)
    if args.memory:
        mem = [_spawn(["--memory-child", "1080p", "0"]), _spawn(["--memory-child", "4K", "1"])]
        print_table(["size", "tiled", "s", "peak RSS GB"],
                    [[m["size"], m["tiled"], f"{m['seconds']:.0f}", f"{m['peak_rss_gb']:.2f}"] for m in mem])


if __name__ == "__main__":
    main()
