"""DAIN benchmark: time per frame, share of the custom operators, peak memory; RIFE 4.0 and Super SloMo beside it.

    PYTHONPATH=. python benchmarks/dain.py [--size 720p] [--memory]

Every configuration runs in its own child process (so its peak RSS is its own) with stand-in weights
(random values, the published architecture: the speed does not depend on the values; say so when quoting).
Speed is reported against the machine's own matmul rate measured in the same child (fp32 for exact, bf16
for fast), as "% of matmul rate" = convolution FLOPs / time / matmul rate. The operators' share is measured
with ``torch.profiler`` (time in restoration_lib.ops.dain functions over the whole forward).

``--memory`` adds the 1080p untiled run (budget: 6 GB RSS) and one 1408-px tile run whole (a tiled 4K frame runs
6 of these one after another, so its peak is this one's plus the 4K output accumulators, about 0.3 GB; budget
8 GB); ``--memory-4k`` also runs the whole tiled 4K frame (about 6x the tile's time).
``--tiles 4K`` compares a tiled with an untiled run of a real frame pair resized to 4K (calibrated stand-in
weights, so the flows and frames are plausible): the error away from the tile seams and at them.
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

SIZES = {"720p": (720, 1280), "1080p": (1080, 1920), "4K": (2160, 3840), "small": (256, 448),
         "tile": (1408, 1408)}  # "tile": one tile of a tiled run (the largest unit a 4K frame is cut into)


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
        with FlopCounterMode(display=False) as fc:  # also the warm-up run
            call()
        spent = {"t": 0.0}
        if profile and model == "dain":
            for name in ("correlation", "backward_warp", "depth_flow_projection", "filter_interpolation"):
                fn = getattr(ops, name)

                def timed(*args, _fn=fn, **kw):
                    s = time.perf_counter()
                    try:
                        return _fn(*args, **kw)
                    finally:
                        spent["t"] += time.perf_counter() - s

                setattr(sys.modules["restoration_lib.archs.dain"], name, timed)
        t = time.perf_counter()
        call()
        seconds = time.perf_counter() - t
        op_share = spent["t"] / seconds if profile and model == "dain" else None
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


SHARED = Path(__file__).resolve().parents[2] / "shared"
CALIB_CASE = "dain_calib_bikes040_crop112x96_seed3"  # its calibration keeps stand-in flows plausible


def _calibrated_net():
    """DAIN with the fixtures' calibrated stand-in weights (plausible flows and frames; not the published ones)."""
    import importlib.util

    from restoration_lib import models

    spec = importlib.util.spec_from_file_location("make_checkpoint", SHARED / "reference" / "make_checkpoint.py")
    mc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mc)  # type: ignore[union-attr]
    meta = json.loads((SHARED / "reference" / "dain" / f"{CALIB_CASE}.json").read_text())
    sd = mc.make_state_dict(mc.load_manifest(SHARED / "reference" / "dain" / "dain.manifest.json"), meta["seed"])
    for key, (op, v) in (meta.get("calibration") or {}).items():
        sd[key] = sd[key] * v if op == "mul" else sd[key].new_full(sd[key].shape, v)
    return models.load("dain", sd)


def _real_pair(size: str):
    """Frames 0 and 2 of ../shared/data/frames/bikes_040, resized (bicubic) to ``size``: (1, 3, H, W) in [0, 1]."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image

    h, w = SIZES[size]
    out = []
    for i in (0, 2):
        rgb = np.asarray(Image.open(SHARED / "data" / "frames" / "bikes_040" / f"{i}.png").convert("RGB"))
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255
        out.append(F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1))
    return out


def tiles_child(size: str, tiled: bool, out_path: str) -> dict:
    """One DAIN run of the real pair at ``size`` (calibrated stand-in weights), tiled or whole; saves the frame."""
    import numpy as np
    import torch

    from restoration_lib.interpolate.dain import run_dain

    net = _calibrated_net()
    a, b = _real_pair(size)
    t = time.perf_counter()
    with torch.inference_mode():
        y = run_dain(net, a, b, [0.5], max_pixels=1 if tiled else 1 << 40)[0]
    seconds = time.perf_counter() - t
    np.save(out_path, y[0].numpy())
    return {"size": size, "tiled": tiled, "seconds": seconds, "peak_rss_gb": peak_rss_bytes() / 1e9}


def compare_tiles(size: str) -> None:
    """Tiled vs untiled DAIN at ``size``: error away from the seams, at the seams, PSNR; time and peak RSS."""
    import tempfile

    import numpy as np

    from restoration_lib.interpolate.dain import OVERLAP, TILE
    from restoration_lib.tiling import tile_starts

    h, w = SIZES[size]
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for tiled in (True, False):
            path = str(Path(tmp) / f"{int(tiled)}.npy")
            runs[tiled] = (_spawn(["--tiles-child", size, str(int(tiled)), path]), np.load(path))
    err = np.abs(runs[True][1] - runs[False][1]).max(axis=0)
    seam = np.zeros((h, w), bool)
    margin = 64  # pixels either side of an overlap band counted as "at the seam"
    for axis, n in ((0, h), (1, w)):
        starts = tile_starts(n, TILE, OVERLAP)
        for s in starts[1:]:  # a band from the next tile's start to the previous tile's end
            prev_end = max(e + TILE for e in starts if e < s)
            lo, hi = max(s - margin, 0), min(prev_end + margin, n)
            if axis == 0:
                seam[lo:hi] = True
            else:
                seam[:, lo:hi] = True
    mse = float((np.square(runs[True][1] - runs[False][1])).mean())
    print(f"\nDAIN {size} ({w}x{h}), real frames (bikes_040 0/2 resized), calibrated stand-in weights; tiles of {TILE} px "
          f"overlapping by {OVERLAP}; 'seams' = the overlap bands and {margin} px either side ({seam.mean():.0%} of the frame)")
    print_table(["run", "s", "peak RSS GB"], [["tiled" if k else "untiled", f"{v[0]['seconds']:.0f}",
                                               f"{v[0]['peak_rss_gb']:.2f}"] for k, v in runs.items()])
    print_table(["max abs, away from seams", "max abs, at seams", "share of values > 1e-3", "PSNR (dB)"],
                [[f"{err[~seam].max():.2e}" if (~seam).any() else "-", f"{err[seam].max():.2e}" if seam.any() else "-", f"{(err > 1e-3).mean():.2%}",
                  f"{10 * np.log10(1 / max(mse, 1e-20)):.1f}"]])


def _spawn(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="720p", choices=sorted(SIZES))
    p.add_argument("--memory", action="store_true", help="peak RSS: 1080p untiled, and one tile of a tiled run")
    p.add_argument("--memory-4k", action="store_true", help="with --memory: also a whole tiled 4K frame (long)")
    p.add_argument("--child", nargs=4, metavar=("MODEL", "SIZE", "PRECISION", "PROFILE"))
    p.add_argument("--memory-child", nargs=2, metavar=("SIZE", "TILED"))
    p.add_argument("--tiles", metavar="SIZE", choices=sorted(SIZES),
                   help="only compare a tiled with an untiled run at SIZE (e.g. 4K), real frames, calibrated weights")
    p.add_argument("--tiles-child", nargs=3, metavar=("SIZE", "TILED", "OUT"))
    args = p.parse_args()
    if args.tiles_child:
        s, tiled, out = args.tiles_child
        print(json.dumps(tiles_child(s, tiled == "1", out)))
        return
    if args.tiles:
        compare_tiles(args.tiles)
        return
    if args.child:
        m, s, prec, prof = args.child
        print(json.dumps(child(m, s, prec, prof == "1")))
        return
    if args.memory_child:
        s, tiled = args.memory_child
        print(json.dumps(memory_child(s, tiled == "1")))
        return
    from restoration_lib.device import cpu_has_native_bf16

    rows = []
    # without native bfloat16 (AVX2-only CPUs) bf16 is emulated, ~100x slower than float32; precision="fast"
    # runs float32 there, so the fast rows would only measure the emulation
    precs = ["exact", "fast"] if cpu_has_native_bf16() else ["exact"]
    if precs == ["exact"]:
        print("this CPU has no native bfloat16: fast mode runs float32 here, so only exact rows are measured\n")
    for model in ("dain", "rife-4.0", "superslomo"):
        for prec in precs:
            r = _spawn(["--child", model, args.size, prec, "1"])
            rows.append([model, prec, f"{r['seconds']:.2f}", f"{r['tflop']:.2f}", f"{r['pct_matmul']:.0f} %",
                         "" if r["op_share"] is None else f"{100 * r['op_share']:.0f} %", f"{r['peak_rss_gb']:.2f}"])
    print(f"per {args.size} frame, stand-in weights, one process per row")
    print_table(["model", "precision", "s / frame", "conv TFLOP", "% of matmul rate", "custom ops", "peak RSS GB"], rows)
    if args.memory:
        mem = [_spawn(["--memory-child", "1080p", "0"]), _spawn(["--memory-child", "tile", "0"])]
        if args.memory_4k:
            mem.append(_spawn(["--memory-child", "4K", "1"]))
        print_table(["size", "tiled", "s", "peak RSS GB"],
                    [[m["size"], m["tiled"], f"{m['seconds']:.0f}", f"{m['peak_rss_gb']:.2f}"] for m in mem])


if __name__ == "__main__":
    main()
