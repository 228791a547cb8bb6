"""The Ray engine on this machine: photos/min and film frames/min with 1 and 2 workers, and Ray's overhead against
the single-machine run.

    PYTHONPATH=. python benchmarks/ray.py                     # both parts
    PYTHONPATH=. python benchmarks/ray.py --photos 8 --film-seconds 2

Stages (no downloads, so they run anywhere): photos get the classical repair (denoise, scratch inpainting; no
colorization, which needs DeOldify's published weights); films get the classical repair, chroma stabilisation and
×2 interpolation with the optical-flow model, encoded with the deterministic H.264 settings.
Inputs: ``../shared/data/old/*/*.png`` (photos, repeated to the asked count) and ``../shared/data/video/bikes.mp4``.

Each Ray configuration runs twice in one local Ray runtime (``ray.init(num_cpus=2)``): the first ("cold") run
includes starting worker processes and importing torch in them; the second ("warm") is the steady state that a
long job sees. Overhead = warm Ray time with 1 worker / single-machine time − 1. Every Ray output is checked to be
identical (bytes) to the single-machine one. On a machine with 2 cores shared with other work, 2 workers can
not double the rate; the point is the overhead and that the numbers scale with free cores.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import matmul_rate, print_table  # noqa: E402

# this file is named ray.py: take its folder off the path so that ``import ray`` finds Ray itself
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

SHARED = Path(os.environ.get("RESTORATION_SHARED", ROOT.parent / "shared"))
REPAIR = {"mode": "classical", "faces": False}


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _outputs(folder: Path) -> dict:
    return {p.name: _sha(p) for p in sorted(folder.glob("*.png"))}


def _photos(dst: Path, n: int) -> None:
    from restoration_lib.io import read_image, write_image

    srcs = sorted((SHARED / "data" / "old").glob("*/*.png"))
    if not srcs:
        raise SystemExit(f"no photos under {SHARED / 'data' / 'old'}")
    dst.mkdir(parents=True)
    for i in range(n):
        img = read_image(srcs[i % len(srcs)])
        write_image(dst / f"{i:03d}.png", img.rgb)


def _rows(n: int, local: float, run, fixed=None) -> list[list]:
    """Table rows: the single-machine rate, then Ray with 1 and 2 workers (cold and warm runs, overhead).

    ``fixed(workers)``, when given, times a run of one item: the per-run start (actors) that a long job pays once.
    The "steady" overhead compares the time per item after that start, (T_n - T_1) / (n - 1), with the local one.
    """
    rows = [["single machine", "-", n / local * 60, "", "", ""]]
    for workers in (1, 2):
        times = []
        for phase in ("cold", "warm"):
            t = time.perf_counter()
            same = run(workers, f"ray{workers}{phase}")
            times.append(time.perf_counter() - t)
            if not same:
                raise AssertionError("the Ray output differs from the single-machine run")
        steady = ""
        if fixed is not None and n > 1:
            one = fixed(workers)
            steady = f"{((times[1] - one) / (n - 1) / (local / n) - 1) * 100:+.1f} % (start {one:.1f} s)"
        rows.append([f"ray, {workers} worker{'s' * (workers > 1)}", f"{n / times[0] * 60:.3g}", n / times[1] * 60,
                     f"{(times[1] / local - 1) * 100:+.1f} %", steady, "identical"])
    return rows


def bench_photos(ray, n: int, tmp: Path) -> list[list]:
    from restoration_lib.distributed import restore_folder_ray
    from restoration_lib.pipeline import restore_folder

    src = tmp / "photos"
    _photos(src, n)
    kw = dict(repair=REPAIR, colorize=False, contact_sheet=False, progress=False)
    restore_folder(src, tmp / "warmup", **kw)  # imports and first-call costs out of the measurement
    t = time.perf_counter()
    restore_folder(src, tmp / "local", **kw)
    local = time.perf_counter() - t
    ref = _outputs(tmp / "local")

    def run(workers: int, name: str) -> bool:
        restore_folder_ray(src, tmp / name, workers=workers, **kw)
        return _outputs(tmp / name) == ref

    one = tmp / "one"
    one.mkdir()
    shutil.copy2(next(iter(sorted(src.glob("*.png")))), one)

    def fixed(workers: int) -> float:
        t = time.perf_counter()
        restore_folder_ray(one, tmp / f"one{workers}", workers=workers, **kw)
        return time.perf_counter() - t

    return _rows(n, local, run, fixed)


def bench_film(ray, seconds: float, tmp: Path) -> list[list]:
    from restoration_lib.distributed import restore_film_ray
    from restoration_lib.pipeline import restore_film

    src = SHARED / "data" / "video" / "bikes.mp4"
    kw = dict(repair=REPAIR, colorize=False, interpolate={"model": "flow"}, chunk_seconds=0.5, duration=seconds,
              progress=False)
    restore_film(src, tmp / "warmup.mp4", **kw)
    t = time.perf_counter()
    rep = restore_film(src, tmp / "local.mp4", **kw)
    local = time.perf_counter() - t
    ref = _sha(tmp / "local.mp4")

    def run(workers: int, name: str) -> bool:
        restore_film_ray(src, tmp / f"{name}.mp4", workers=workers, **kw)
        return _sha(tmp / f"{name}.mp4") == ref

    return _rows(rep.frames_in, local, run)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--film-seconds", type=float, default=2.0)
    ap.add_argument("--part", choices=("photos", "film", "both"), default="both")
    args = ap.parse_args()
    try:
        import ray
    except ImportError:
        print('Ray is not installed: pip install "restoration-lib[ray]"; skipped')
        return
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([os.environ["PYTHONPATH"]]
                                                               if os.environ.get("PYTHONPATH") else []))
    print(f"fp32 matmul rate of this CPU: {matmul_rate() / 1e9:.1f} GFLOP/s; {os.cpu_count()} cores")
    t = time.perf_counter()
    for attempt in range(3):  # on a busy machine a raylet can miss Ray's fixed start-up deadlines
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            break
        except Exception:  # noqa: BLE001
            ray.shutdown()
            if attempt == 2:
                raise
    print(f"local Ray runtime started in {time.perf_counter() - t:.1f} s (not counted below)\n")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    heads = ["engine", "cold /min", "warm /min", "overhead (warm)", "overhead per photo after start", "output"]
    try:
        if args.part in ("photos", "both"):
            print(f"### photos per minute ({args.photos} photos, classical repair)\n")
            print_table(heads, bench_photos(ray, args.photos, tmp))
            print()
        if args.part in ("film", "both"):
            print(f"### film frames per minute (bikes.mp4, {args.film_seconds} s, repair + stabilise + flow ×2)\n")
            print_table([h for h in heads if "per photo" not in h], [r[:4] + r[5:] for r in bench_film(ray, args.film_seconds, tmp)])
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
