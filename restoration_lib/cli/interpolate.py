"""``restoration-lib interpolate``: frame-rate conversion of a video, or one in-between image."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import RestorationError
from ._common import (IMAGE_SUFFIXES, add_device_args, check_input, check_output_file, check_range,
                      device_from)


def add_cli(subparsers: Any) -> None:
    """Add the ``interpolate`` sub-command."""
    from ..interpolate.interpolator import available_models
    from ..interpolate.video import DEFAULT_REPEAT_THRESHOLD, DEFAULT_SCENE_THRESHOLD

    p = subparsers.add_parser(
        "interpolate",
        help="raise a video's frame rate (RIFE or optical flow), or make an in-between image",
        description="Video: interpolate IN OUT [--factor N | --fps F]. Images: interpolate A B OUT [--t T].",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="IN OUT (video) or IMG0 IMG1 OUT (images)")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--factor", type=int, default=None, help="multiply the frame rate by N (default 2)")
    rate.add_argument("--fps", default=None, help="output frame rate, e.g. 50, 59.94 or 60000/1001")
    p.add_argument("--t", type=float, default=0.5, help="time of the in-between image, 0 < t < 1 (images only)")
    p.add_argument("--model", default="rife-4.0", help=f"one of: {', '.join(available_models())} (default rife-4.0)")
    add_device_args(p, "cpu, cuda, mps (default: best available)")
    p.add_argument("--precision", default="exact", choices=["exact", "fast"], help="fast: bf16 on CPUs with native bf16 (else fp32), fp16 on CUDA")
    p.add_argument("--weights-dir", "--weights_dir", dest="weights_dir", default=None,
                   help="folder holding the checkpoints")
    p.add_argument("--scene-threshold", type=float, default=DEFAULT_SCENE_THRESHOLD,
                   help=f"cut detection threshold (default {DEFAULT_SCENE_THRESHOLD}); 0 disables")
    p.add_argument("--repeat-threshold", type=float, default=DEFAULT_REPEAT_THRESHOLD,
                   help=f"repeated-frame threshold (default {DEFAULT_REPEAT_THRESHOLD})")
    p.add_argument("--no-repeats", action="store_true", help="do not detect and re-time repeated frames")
    p.add_argument("--crf", type=int, default=18, help="x264 quality, lower is better (default 18)")
    p.add_argument("--max-frames", type=int, default=None, help="convert only the first N frames (a preview)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    check_range("--factor", args.factor, 1, 64)
    check_range("--crf", args.crf, 0, 51)
    check_range("--max-frames", args.max_frames, 1, None)
    check_range("--scene-threshold", args.scene_threshold, 0, None)
    check_range("--repeat-threshold", args.repeat_threshold, 0, None)
    if len(args.paths) == 3 and Path(args.paths[2]).suffix.lower() in IMAGE_SUFFIXES:
        return _run_images(args)
    if len(args.paths) != 2:
        raise RestorationError(
            f"interpolate takes IN OUT (a video) or IMG0 IMG1 OUT (images); got {len(args.paths)} paths"
        )
    from ..interpolate.video import interpolate_video

    src, dst = args.paths
    check_input(src)
    res = interpolate_video(
        src, dst, factor=args.factor or 2, fps=args.fps, model=args.model, device=device_from(args),
        precision=args.precision, weights_dir=args.weights_dir, progress=not args.no_progress,
        scene_threshold=args.scene_threshold or None, detect_repeats=not args.no_repeats,
        repeat_threshold=args.repeat_threshold, crf=args.crf, max_frames=args.max_frames,
    )
    print(f"{dst}: {res.frames_out} frames at {float(res.rate_out):.3f} fps ({res.interpolated} interpolated) "
          f"from {res.frames} at {float(res.rate):.3f} fps; {len(res.cuts)} cuts, {len(res.repeats)} repeated "
          f"frames, {res.audio_streams} audio stream(s) copied")
    return 0


def _run_images(args: argparse.Namespace) -> int:
    from ..interpolate.interpolator import Interpolator
    from ..io import read_image, write_image

    a, b, out = args.paths
    check_range("--t", args.t, 0, 1, lo_open=True, hi_open=True)
    check_output_file(out, IMAGE_SUFFIXES, inputs=[a, b])
    img0 = read_image(a).rgb
    img1 = read_image(b).rgb
    if img0.shape != img1.shape:
        raise RestorationError(f"{a} is {img0.shape[1]}x{img0.shape[0]} but {b} is {img1.shape[1]}x{img1.shape[0]}")
    interp = Interpolator(args.model, device_from(args), args.precision, args.weights_dir)
    write_image(out, interp(img0, img1, args.t), protect=[a, b])
    print(f"{out}: frame at t={args.t} between {a} and {b} ({interp.name})")
    return 0
