"""Speed and memory of the repair stages ("Bringing Old Photos Back to Life" and the classical mode).

    python benchmarks/repair.py                # every configuration, one subprocess each (takes a while)
    python benchmarks/repair.py --quick        # without the 3000x2000 scratch-mode run
    python benchmarks/repair.py --only scratch-6mp
    python benchmarks/repair.py --fidelity     # memory-bounded / windowed evaluation vs the official one

Prints Markdown tables. Each configuration runs in its own process so that its peak resident memory is its own.
Weights are stand-ins (../shared/reference/make_checkpoint.py with the fixture seeds; random initialisation when
../shared is absent): speed and memory do not depend on the weight values. Photos are real old photos from
../shared/data/old resized to each size (a smooth synthetic picture when ../shared is absent), with synthetic
scratches drawn for the scratch modes. Seconds per megapixel are also given as "matmul GFLOP per MP"
(seconds x this machine's fp32 matmul rate, measured in the same run), to compare machines.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import matmul_rate, peak_rss_bytes, print_table  # noqa: E402

SHARED = ROOT.parent / "shared"
BOP = SHARED / "reference" / "bopbtl"

# name: (what it runs, width, height)
CONFIGS = {
    "detect": ("scratch detection", 1024, 768),
    "quality": ("global restoration, quality mode", 1024, 768),
    "scratch": ("global restoration, scratch mode (exact attention)", 1024, 768),
    "hr": ("global restoration, HR mode (patch attention)", 1024, 768),
    "scratch-official-512": ("scratch mode, official one-piece evaluation", 512, 384),
    "scratch-bounded-512": ("scratch mode, memory-bounded evaluation", 512, 384),
    "faces-256": ("face detection + alignment + enhancement + blending, 256 px", 0, 0),
    "faces-512": ("face detection + alignment + enhancement + blending, 512 px (HR)", 0, 0),
    "classical": ("classical mode (no download): scratches + inpainting + denoise + contrast", 1024, 768),
    "restorer-quality": ("Restorer, quality mode, faces", 1024, 768),
    "scratch-6mp": ("global restoration, scratch mode (auto: windowed attention)", 3000, 2000),
}
QUICK_SKIP = {"scratch-6mp"}


# ------------------------------------------------------------------------------------------ in the subprocess


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _photo(w: int, h: int):
    import numpy as np
    from PIL import Image

    src = SHARED / "data" / "old" / "bw" / "Scotland1919.png"
    if src.is_file():
        with Image.open(src) as im:
            return np.asarray(im.convert("RGB").resize((w, h), Image.BICUBIC))
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
    return np.repeat(base[:, :, None], 3, axis=2).astype(np.uint8)


def _scratches(w: int, h: int, n: int = 12, seed: int = 0):
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    for _ in range(n):
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(m, p0, p1, 255, int(rng.integers(1, 4)))
    return m


def _checkpoints(keys):
    """Stand-in state_dicts of the global checkpoints (fixture seeds), or random initialisation."""
    from restoration_lib import models
    from restoration_lib.repair.global_restore import MEMBERS

    sys.path.insert(0, str(ROOT / "tests"))
    out = {}
    for k in keys:
        if (BOP / "checkpoints.json").is_file():
            from _bopbtl_global import FIXTURE_ENTRY, make_standin

            entry = json.loads((BOP / "checkpoints.json").read_text())["checkpoints"][FIXTURE_ENTRY[k]]
            # uncached: the benchmark should not keep a second copy of the weights alive
            out[k] = make_standin.__wrapped__(str(BOP / entry["manifest"]), int(entry["seed"]))
        else:
            out[k] = models.build(MEMBERS[k][1]).state_dict()
    return out


def _face_checkpoint(size: int):
    from restoration_lib import models

    if (BOP / "checkpoints.json").is_file():
        sys.path.insert(0, str(ROOT / "tests"))
        from _bopbtl_global import make_standin

        name = {256: "Setting_9_epoch_100", 512: "FaceSR_512"}[size]
        entry = json.loads((BOP / "checkpoints.json").read_text())["checkpoints"][name]
        return make_standin.__wrapped__(str(BOP / entry["manifest"]), int(entry["seed"]))
    return models.build(f"bopbtl-face-{size}").state_dict()


def _face_photo():
    import numpy as np

    from restoration_lib.repair.global_restore import as_rgb_uint8

    src = BOP / "stages" / "s2_full" / "origin" / "old_h.png"  # one face dlib finds
    if not src.is_file():
        raise SystemExit("the face benchmark needs ../shared/reference/bopbtl")
    img = as_rgb_uint8(src)
    return np.asarray(img)


def run_one(name: str) -> dict:
    import numpy as np
    import torch

    from restoration_lib.repair import GlobalRestorer, Restorer, ScratchDetector, lowmem

    torch.set_grad_enabled(False)
    what, w, h = CONFIGS[name]
    info: dict = {"name": name, "what": what}
    if name == "detect":
        det = ScratchDetector(_checkpoints(["detection"]), device="cpu")
        img = _photo(w, h)
        info["rss_loaded"] = _rss_now()
        fn = lambda: det(img)  # noqa: E731
    elif name in ("quality", "scratch", "hr", "scratch-6mp", "scratch-official-512", "scratch-bounded-512"):
        mode = {"quality": "quality", "hr": "hr"}.get(name, "scratch")
        keys = {"quality": ("vae_a", "mapping_quality", "vae_b_quality"),
                "scratch": ("vae_a", "mapping_scratch", "vae_b_scratch"),
                "hr": ("vae_a", "mapping_hr", "vae_b_scratch")}[mode]  # fmt: skip
        plan = lowmem.MemoryPlan.unbounded() if name == "scratch-official-512" else None
        g = GlobalRestorer(mode, _checkpoints(keys), device="cpu", progress=False, memory=plan)
        img = _photo(w, h)
        mask = None if mode == "quality" else _scratches(w, h)
        info["rss_loaded"] = _rss_now()
        info["mask_cover"] = None if mask is None else float((mask > 0).mean())
        fn = lambda: g(img, mask)  # noqa: E731
    elif name.startswith("faces-"):
        from restoration_lib.repair import faces as F

        size = int(name.split("-")[1])
        enh = F.FaceEnhancer(size, _face_checkpoint(size), device="cpu")
        img = _face_photo()
        h, w = img.shape[:2]
        info["rss_loaded"] = _rss_now()

        def fn():
            found = F.detect_and_align(img, size=size)
            return F.blend_faces(img, found, enh.enhance([f.crop for f in found]))

        info["per"] = "face"
    elif name == "classical":
        from restoration_lib.repair.classical import classical_repair

        img = _photo(w, h)
        info["rss_loaded"] = _rss_now()
        fn = lambda: classical_repair(img, with_scratch=True)  # noqa: E731
    elif name == "restorer-quality":
        r = Restorer(faces=True, checkpoints=_checkpoints(("vae_a", "mapping_quality", "vae_b_quality")),
                     face_checkpoints=_face_checkpoint(256), device="cpu", progress=False)  # fmt: skip
        img = _photo(w, h)
        info["rss_loaded"] = _rss_now()
        fn = lambda: r(img)  # noqa: E731
    else:
        raise SystemExit(f"unknown configuration {name!r}")
    t = time.perf_counter()
    fn()
    info["seconds"] = time.perf_counter() - t
    info["megapixels"] = w * h / 1e6
    info["peak_rss"] = peak_rss_bytes()
    return info


def fidelity() -> None:
    """The memory-bounded evaluation against the official one-piece evaluation, and windowed vs exact attention."""
    import numpy as np
    import torch

    from restoration_lib.repair import GlobalRestorer, lowmem

    torch.set_grad_enabled(False)
    ck = _checkpoints(("vae_a", "mapping_scratch", "vae_b_scratch"))
    rows = []

    def compare(label, a, b, mask):
        d = np.abs(a.image.astype(np.float64) - b.image.astype(np.float64))
        inside = np.repeat(mask[:, :, None] > 0, 3, axis=2)
        mse = float((d**2).mean())
        psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
        rows.append([label, f"{d.max():.0f}", f"{d.mean():.3f}", f"{d[inside].mean():.3f}", f"{(d > 2).mean():.2%}",
                     f"{psnr:.1f}", f"{np.abs(a.raw - b.raw).max():.2e}"])  # fmt: skip

    w, h = 384, 384  # the official evaluation fits: a 9,216² attention matrix
    img, mask = _photo(w, h), _scratches(w, h)
    official = GlobalRestorer("scratch", ck, device="cpu", progress=False, memory=lowmem.MemoryPlan.unbounded())(img, mask)
    small = lowmem.MemoryPlan(stripe_bytes=4 << 20, attention_bytes=16 << 20, spill_bytes=8 << 20, attention="exact")
    bounded = GlobalRestorer("scratch", ck, device="cpu", progress=False, memory=small)(img, mask)
    compare(f"{w}x{h}: memory-bounded exact vs official one-piece", bounded, official, mask)
    w, h = 768, 768  # 36,864 latent positions: exact attention still affordable
    img, mask = _photo(w, h), _scratches(w, h, n=20)
    exact = GlobalRestorer("scratch", ck, device="cpu", progress=False,
                           memory=lowmem.MemoryPlan(attention="exact"))(img, mask)  # fmt: skip
    for win in (128, 64):
        plan = lowmem.MemoryPlan(attention="windowed", window=win)
        windowed = GlobalRestorer("scratch", ck, device="cpu", progress=False, memory=plan)(img, mask)
        compare(f"{w}x{h}: windowed (window {win} = {4 * win} px) vs exact", windowed, exact, mask)
    print_table(["comparison (stand-in weights)", "max diff", "mean diff", "mean diff in scratches", "> 2 levels",
                 "PSNR dB", "max raw diff"], rows)  # fmt: skip


# ------------------------------------------------------------------------------------------ the driver


def _row(r: dict, rate: float) -> list:
    name = r["name"]
    per_face = r.get("per") == "face"
    s = r["seconds"] if per_face else r["seconds"] / r["megapixels"]
    return [
        name, r["what"], "1 face (144x200 photo)" if per_face else f"{CONFIGS[name][1]}x{CONFIGS[name][2]}",
        f"{s:.2f} s/{'face' if per_face else 'MP'}", f"{s * rate / 1e9:.0f}", f"{r['seconds']:.1f}",
        f"{r['rss_loaded'] / 2**30:.2f}", f"{r['peak_rss'] / 2**30:.2f}",
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--only", nargs="*", help="configurations to run (default: all)")
    ap.add_argument("--quick", action="store_true", help="skip the 3000x2000 scratch-mode run")
    ap.add_argument("--fidelity", action="store_true", help="compare the memory-bounded and windowed evaluations")
    ap.add_argument("--save", help="also append each configuration's raw result (JSON lines) to this file")
    ap.add_argument("--table", help="only print the table of a file written by --save")
    a = ap.parse_args()
    if a.one:
        print("RESULT " + json.dumps(run_one(a.one)))
        return
    if a.fidelity:
        fidelity()
        return
    import torch

    rate = matmul_rate()
    results = []
    if a.table:
        results = [json.loads(ln) for ln in Path(a.table).read_text().splitlines() if ln.strip()]
    else:
        for name in a.only or [n for n in CONFIGS if not (a.quick and n in QUICK_SKIP)]:
            proc = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                err = (proc.stderr.strip().splitlines() or ["?"])[-1][:100]
                print(f"{name}: failed ({err})", file=sys.stderr)
                continue
            results.append(json.loads(line[len("RESULT "):]))
            if a.save:
                with open(a.save, "a") as f:
                    f.write(json.dumps(results[-1]) + "\n")
    print(f"fp32 matmul rate of this machine: {rate / 1e9:.0f} GFLOP/s; torch threads: {torch.get_num_threads()}\n")
    print_table(["config", "what", "size", "time", "matmul GFLOP per unit", "seconds", "RSS after loading (GB)",
                 "peak RSS (GB)"], [_row(r, rate) for r in results])  # fmt: skip


if __name__ == "__main__":
    main()
