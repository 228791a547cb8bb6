"""Film pipeline throughput per stage, and peak memory at 100 and 1,000 frames (each run in its own process).

    PYTHONPATH=. python benchmarks/pipeline.py                  # both parts
    PYTHONPATH=. python benchmarks/pipeline.py --part speed --frames 12
    PYTHONPATH=. python benchmarks/pipeline.py --part memory --memory-frames 100 1000

Input: ../shared/data/video/chaplin.mp4 (640×360, 25 fps; looped for runs longer than its 241 frames).

Stages (the published weights are not downloadable here, so DeOldify runs with deterministic stand-in weights of
the real architecture: the cost is real, the colours are not):

- repair: the classical no-download mode (when ``restoration_lib.repair`` is present);
- colorize: DeOldify ``video`` generator at render factor 21 (the film default) for the speed part;
- stabilize: chroma stabilisation (DIS flow, forward-backward check);
- interpolate: RIFE 4.0 with its real weights when on disk or fetchable (else the optical-flow model), ×2;
- encode: libx264 CRF 18 preset medium, one thread (deterministic); mux: remux of the chunks + audio.

The memory part uses a lighter configuration so that 1,000 frames finish in reasonable time on a small CPU
(artistic generator at render factor 2, interpolation off unless ``--memory-interpolate``); what it measures is
whether memory grows with the length of the film, which depends on the streaming, not on the per-frame cost.
Figures are wall-clock on this machine; the fp32 matmul rate measured in the same run is printed for scale, and
each stage's cost per frame is also given in "matmul-GFLOP" (seconds per frame × that rate).
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
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import matmul_rate, peak_rss_bytes, print_table  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
REFERENCE = ROOT.parent / "shared" / "reference"


def _standin_colorizer(variant: str):
    sys.path.insert(0, str(REFERENCE))
    import make_checkpoint as mc  # type: ignore

    from restoration_lib import models
    from restoration_lib.colorize import Colorizer

    manifest = REFERENCE / "deoldify" / ("artistic.manifest.json" if variant == "artistic" else "stable.manifest.json")
    net = models.load(f"deoldify-{variant}", mc.make_state_dict(mc.load_manifest(str(manifest)), seed=0))
    return Colorizer(net, device="cpu", progress=False)


def _repair_stage():
    try:
        from restoration_lib.repair import Restorer  # noqa: F401
    except ImportError:
        return False, "off (restoration_lib.repair not present)"
    return {"mode": "classical", "faces": False}, "classical"


def _interpolator(kind: str):
    if kind == "off":
        return False, "off"
    from restoration_lib.interpolate import FlowInterpolator, Interpolator
    from restoration_lib.pipeline import InterpolateOptions, InterpolateStage

    if kind == "rife-4.0":
        from restoration_lib import weights
        from restoration_lib.errors import MissingWeightsError, WeightsDownloadError

        try:
            weights.find("rife-4.0")
        except MissingWeightsError:
            try:
                weights.fetch(["rife-4.0"], progress=False)
            except WeightsDownloadError:
                kind = "flow"
        if kind == "rife-4.0":
            stage = InterpolateStage(Interpolator("rife-4.0", device="cpu"), InterpolateOptions(factor=2))
            return stage, "RIFE 4.0 ×2"
    if kind == "flow-fast":
        fast = FlowInterpolator(preset="ultrafast", max_flow_side=320)
        return InterpolateStage(Interpolator(fast, device="cpu"), InterpolateOptions(model="flow", factor=2)), \
            "optical flow (ultrafast, 320 px) ×2"
    return InterpolateStage(Interpolator("flow", device="cpu"), InterpolateOptions(model="flow", factor=2)), \
        "optical flow ×2"


def _make_input(frames: int, folder: Path) -> Path:
    """chaplin.mp4 looped to ``frames`` frames (no audio), encoded once."""
    from restoration_lib.pipeline.video import ChunkWriter, EncoderSettings, probe, read_frames

    src = DATA / "video" / "chaplin.mp4"
    if frames <= (probe(src).frames or 0):
        return src
    out = folder / f"chaplin_x{frames}.mp4"
    if out.exists():
        return out
    clip = list(read_frames(src))
    w = ChunkWriter(out, clip[0].shape[1], clip[0].shape[0], probe(src).fps, EncoderSettings(preset="veryfast"))
    for i in range(frames):
        w.write(clip[i % len(clip)])
    w.close()
    return out


def child(cfg: dict) -> dict:
    """One pipeline run in this process; returns its report and peak memory."""
    from restoration_lib.pipeline import ColorizeOptions, ColorizeStage, restore_film

    repair, repair_name = _repair_stage()
    colorize = ColorizeStage(_standin_colorizer(cfg["colorizer"]),
                             ColorizeOptions(model=cfg["colorizer"], render_factor=cfg["render_factor"]))
    interpolate, interp_name = _interpolator(cfg["interpolate"])
    src = Path(cfg["src"])
    dst = Path(cfg["dst"])
    fps = 25.0
    gc.collect()
    base = _rss_now()
    _reset_peak()  # measure the run, not the building of the stand-in checkpoint before it
    t0 = time.perf_counter()
    rep = restore_film(src, dst, repair=repair, colorize=colorize, interpolate=interpolate, stabilize=True,
                       duration=cfg["frames"] / fps, chunk_seconds=10.0, overwrite=True, progress=False)
    wall = time.perf_counter() - t0
    dst.unlink()
    return {"frames_in": rep.frames_in, "frames_out": rep.frames_out, "seconds": rep.seconds, "wall": wall,
            "peak_rss": _peak_since_reset(), "base_rss": base, "repair": repair_name, "interpolate": interp_name}


def _status_kb(field: str) -> Optional[int]:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _rss_now() -> int:
    return _status_kb("VmRSS") or peak_rss_bytes()


def _reset_peak() -> None:
    """Reset the kernel's high-water mark of this process's memory (Linux); elsewhere the peak includes setup."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_since_reset() -> int:
    return _status_kb("VmHWM") or peak_rss_bytes()


def _spawn(cfg: dict) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(cfg, f)
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        r = subprocess.run([sys.executable, __file__, "--child", f.name], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"benchmark child failed:\n{r.stderr[-3000:]}")
        return json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        os.unlink(f.name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["speed", "memory", "both"], default="both")
    ap.add_argument("--frames", type=int, default=12, help="input frames for the speed part")
    ap.add_argument("--render-factor", type=int, default=21)
    ap.add_argument("--interpolate", default="rife-4.0", choices=["rife-4.0", "flow", "flow-fast"])
    ap.add_argument("--memory-frames", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--memory-interpolate", default="off", choices=["off", "rife-4.0", "flow", "flow-fast"],
                    help="interpolation in the memory runs (off by default: on this 2-core CPU the interpolators "
                         "take seconds per frame and 1,000 frames would take hours)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(Path(args.child).read_text()))))
        return
    if not (DATA / "video" / "chaplin.mp4").is_file():
        sys.exit(f"{DATA} is absent: the shared clips are needed")
    import torch

    rate = matmul_rate(torch.float32)
    print(f"machine: fp32 matmul {rate / 1e9:.0f} GFLOP/s, {torch.get_num_threads()} torch threads\n")
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        tmp = Path(tmp)
        if args.part in ("speed", "both"):
            r = _spawn({"src": str(_make_input(args.frames, tmp)), "dst": str(tmp / "speed.mp4"),
                        "frames": args.frames, "colorizer": "video", "render_factor": args.render_factor,
                        "interpolate": args.interpolate})
            n = r["frames_in"]
            rows = []
            for stage, sec in r["seconds"].items():
                if sec <= 0:
                    continue
                per = sec / n
                rows.append([stage, f"{n / sec:.2f}" if stage != "mux" else "-", f"{per * 1000:.0f}",
                             f"{per * rate / 1e9:.0f}" if stage != "mux" else "-"])
            rows.append(["overall (wall)", f"{n / r['wall']:.3f}", f"{r['wall'] / n * 1000:.0f}",
                         f"{r['wall'] / n * rate / 1e9:.0f}"])
            print(f"Film 640×360, {n} input → {r['frames_out']} output frames; repair: {r['repair']}; colorize: "
                  f"DeOldify video generator (stand-in weights) rf {args.render_factor}; stabilise on; "
                  f"interpolate: {r['interpolate']}\n")
            print_table(["stage", "input frames/s", "ms per input frame", "matmul-GFLOP per frame"], rows)
            print()
        if args.part in ("memory", "both"):
            rows = []
            peaks = []
            for frames in args.memory_frames:
                r = _spawn({"src": str(_make_input(frames, tmp)), "dst": str(tmp / f"mem{frames}.mp4"),
                            "frames": frames, "colorizer": "artistic", "render_factor": 2,
                            "interpolate": args.memory_interpolate})
                peaks.append(r["peak_rss"])
                per = {k: v / r["frames_in"] for k, v in r["seconds"].items()}
                rows.append([frames, r["frames_out"], f"{r['base_rss'] / 2**20:.0f}", f"{r['peak_rss'] / 2**20:.0f}",
                             f"{r['peak_rss'] / peaks[0]:.3f}", f"{r['wall']:.0f}",
                             " ".join(f"{k} {v:.2f}" for k, v in per.items() if v > 0.005)])
            print("Peak memory of the run (VmHWM reset after the stages were built, fresh process each), "
                  f"repair: {r['repair']}; colorize: DeOldify artistic "
                  f"(stand-in weights) rf 2; stabilise on; interpolate: {r['interpolate']}; chunks of 10 s\n")
            print_table(["input frames", "output frames", "RSS before MiB", "peak RSS during run MiB",
                         f"peak / peak at {args.memory_frames[0]}", "wall s", "s per input frame by stage"], rows)


if __name__ == "__main__":
    main()
