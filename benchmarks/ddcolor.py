"""Benchmark: DDColor (large, tiny; exact, fast) beside DeOldify artistic at render factor 35, in one run.

    PYTHONPATH=. python benchmarks/ddcolor.py [--size 512] [--fast-size N] [--repeats 2] [--threads N]

Prints a Markdown table: seconds per image (the whole task call on a real photo from ../shared/data/old), the
network's FLOPs (counted on the meta device), the achieved rate as a fraction of this machine's fp32 / bf16 matmul
rate measured in the same process just before the timing (wall time / CPU time; on a machine shared with other
work the CPU-time figure is the steadier one), the speed against DDColor exact at the same size, the peak
resident memory (each configuration in its own process), and the PSNR of the 8-bit result against exact mode.

``--fast-size`` defaults to ``--size`` on CPUs with native bfloat16 (AMX / AVX-512-BF16) and to 64 elsewhere:
without native support PyTorch's bfloat16 convolutions and matmuls are emulated, 15–80× slower than float32, and a
512 run of DDColor-L would take tens of minutes. Exact mode is then timed at that size too, for the ratio and PSNR.

Weights: the published checkpoints when ``restoration_lib.weights`` finds them, otherwise make_checkpoint.py's
stand-ins (same architecture and cost; DDColor's fusion conv gets the fixtures' ×40 gain so that the colours, and
with them the PSNR, are not near-gray).
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
from _common import peak_rss_bytes, print_table  # noqa: E402
from colorize import _network as deoldify_network  # noqa: E402
from colorize import _photos, _psnr, matmul_rates  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RESTORATION_SHARED", ROOT.parent / "shared"))
DDCOLOR = {"ddcolor-large": ("ddcolor", "large"), "ddcolor-tiny": ("ddcolor-tiny", "tiny")}
DEOLDIFY_RF = 35


def ddcolor_network(network: str):
    """The network as the library loads it, and which weights it has."""
    from restoration_lib import models, weights
    from restoration_lib.colorize.ddcolor import MODELS
    from restoration_lib.errors import MissingWeightsError

    name, variant = DDCOLOR[network]
    try:
        return models.load(network, weights.find(MODELS[name][1])), "published"
    except MissingWeightsError:
        pass
    sys.path.insert(0, str(SHARED / "reference"))
    import make_checkpoint  # type: ignore

    sd = make_checkpoint.make_state_dict(
        make_checkpoint.load_manifest(SHARED / "reference" / "ddcolor" / f"ddcolor_{variant}.manifest.json"), 0)
    sd["refine_net.0.0.weight_u"] = sd["refine_net.0.0.weight_u"] / 40.0
    net = models.load(network, sd)
    del sd
    gc.collect()
    return net, "stand-in"


def flops(network: str, size: int) -> float:
    """FLOPs of one forward pass at ``size`` (DDColor) or ``16·rf`` (DeOldify), counted on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    from restoration_lib import models

    with torch.device("meta"):
        net = models.get_spec(network).build()
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        net.eval()(torch.empty(1, 3, size, size, device="meta"))
    return float(counter.get_total_flops())


def child(network: str, precision: str, size: int, repeats: int, out: str) -> None:
    from restoration_lib.device import cpu_has_native_bf16

    photo = _photos()[0]
    if network == "deoldify-artistic":
        from restoration_lib.colorize import Colorizer

        net, kind = deoldify_network("artistic")
        col = Colorizer(net, device="cpu", precision=precision, progress=False)
        run = lambda: col(photo, DEOLDIFY_RF)  # noqa: E731
    else:
        from restoration_lib.colorize.ddcolor import DDColorizer

        net, kind = ddcolor_network(network)
        col = DDColorizer(net, device="cpu", precision=precision, input_size=size, progress=False)
        run = lambda: col(photo).image  # noqa: E731
    run()  # warm-up
    # the matmul rate of the dtype this row computes in, measured here (emulated bf16 matmuls are slow: smaller n)
    dt = torch.bfloat16 if precision == "fast" else torch.float32
    rate, cpu_rate = matmul_rates(dt, n=2048 if dt == torch.float32 or cpu_has_native_bf16() else 512)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        image = run()
        best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
    np.save(out, image)
    print(json.dumps({"seconds": best, "cpu_seconds": best_cpu, "peak_rss": peak_rss_bytes(), "weights": kind,
                      "rate": rate, "cpu_rate": cpu_rate}))


def main() -> None:
    from restoration_lib.device import cpu_has_native_bf16

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="DDColor input_size (default 512, the authors')")
    ap.add_argument("--fast-size", type=int, default=None,
                    help="input_size of the fast (bfloat16) rows (default: --size with native bf16, else 64)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--deoldify-fast", action=argparse.BooleanOptionalAction, default=None,
                    help="also time DeOldify in fast mode (default: only with native bf16; without it, ~4 min)")
    ap.add_argument("--one", nargs=3, metavar=("NETWORK", "PRECISION", "SIZE"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.one:
        child(a.one[0], a.one[1], int(a.one[2]), a.repeats, a.out)
        return
    fast_size = a.fast_size or (a.size if cpu_has_native_bf16() else 64)
    configs = []
    for network in DDCOLOR:
        configs += [(network, "exact", a.size)]
        if fast_size != a.size:
            configs += [(network, "exact", fast_size)]
        configs += [(network, "fast", fast_size)]
    configs += [("deoldify-artistic", "exact", 16 * DEOLDIFY_RF)]
    if a.deoldify_fast or (a.deoldify_fast is None and cpu_has_native_bf16()):
        configs += [("deoldify-artistic", "fast", 16 * DEOLDIFY_RF)]
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for network, precision, size in configs:
            out = os.path.join(tmp, f"{network}-{precision}-{size}.npy")
            cmd = [sys.executable, __file__, "--one", network, precision, str(size), "--out", out,
                   "--repeats", str(a.repeats)] + (["--threads", str(a.threads)] if a.threads else [])
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
            if res.returncode != 0:
                raise SystemExit(f"{network} {precision} {size} failed:\n{res.stderr[-3000:]}")
            runs[network, precision, size] = json.loads(res.stdout.strip().splitlines()[-1])
            runs[network, precision, size]["image"] = np.load(out)
            print(f"  {network} {precision} {size}: {runs[network, precision, size]['seconds']:.2f} s", flush=True)
    rows = []
    for (network, precision, size), r in runs.items():
        f = flops(network, size)
        rate, cpu_rate, dt = r["rate"], r["cpu_rate"], "bf16" if precision == "fast" else "fp32"
        exact = runs.get((network, "exact", size))
        label = f"{network} rf{DEOLDIFY_RF}" if network.startswith("deoldify") else network
        rows.append([
            label, precision, size, r["weights"], f"{r['seconds']:.2f}", f"{r['cpu_seconds']:.2f}", f"{f / 1e9:.0f}",
            f"{f / r['seconds'] / rate:.0%} / {f / r['cpu_seconds'] / cpu_rate:.0%} of {dt} "
            f"({rate / 1e9:.0f} / {cpu_rate / 1e9:.0f} GFLOP/s)",
            f"{runs['ddcolor-large', 'exact', a.size]['seconds'] / r['seconds']:.2f}×",
            f"{r['peak_rss'] / 2**30:.2f}",
            "—" if precision == "exact" or exact is None else f"{_psnr(r['image'], exact['image']):.1f}",
        ])
    print(f"\nnative bf16: {cpu_has_native_bf16()}; threads {torch.get_num_threads()}\n")
    print_table(["model", "precision", "size", "weights", "s / image", "CPU s", "GFLOP", "% of matmul (wall / CPU)",
                 "speed vs DDColor-L exact", "peak RSS GiB", "PSNR vs exact dB"], rows)


if __name__ == "__main__":
    main()
