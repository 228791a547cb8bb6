"""The ``photo``, ``folder`` and ``film`` commands of ``restoration-lib``."""
from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_cli"]


def _stage_args(p: argparse.ArgumentParser, film: bool) -> None:
    g = p.add_argument_group("repair (Bringing Old Photos Back to Life)")
    g.add_argument("--no-repair", action="store_true", help="skip the repair stage")
    g.add_argument("--repair-mode", choices=["model", "classical"], default="model",
                   help="published networks (default) or the classical no-download repair")
    g.add_argument("--scratch", action="store_true", help="detect and repair scratches, cracks and folds")
    g.add_argument("--hr", action="store_true", help="high-resolution mode for large scans")
    g.add_argument("--no-faces", action="store_true", help="do not enhance faces")
    g = p.add_argument_group("colorize (DeOldify)")
    g.add_argument("--no-colorize", action="store_true", help="skip colorization")
    g.add_argument("--model", choices=["artistic", "stable", "video"], default="video" if film else "artistic",
                   help=f"DeOldify generator (default: {'video' if film else 'artistic'})")
    g.add_argument("--render-factor", type=int, default=21 if film else 35,
                   help=f"the model sees a 16×N square (default {21 if film else 35}; higher = more detail, slower)")
    g.add_argument("--no-post-process", action="store_true", help="use the model's colours at its resolution "
                   "instead of keeping the input's luminance")
    g.add_argument("--watermark", action="store_true", help="add DeOldify's small watermark")
    g = p.add_argument_group("compute")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)")
    g.add_argument("--precision", choices=["exact", "fast"], default="exact",
                   help="exact = fp32 (default); fast = bf16 on CPU, fp16 on GPU")
    g.add_argument("--weights-dir", default=None, help="folder of the downloaded checkpoints")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def _stages(args) -> dict:
    from .options import ColorizeOptions, RepairOptions

    repair = False if args.no_repair else RepairOptions(
        mode=args.repair_mode, with_scratch=args.scratch, hr=args.hr, faces=not args.no_faces)
    colorize = False if args.no_colorize else ColorizeOptions(
        model=args.model, render_factor=args.render_factor, post_process=not args.no_post_process,
        watermark=args.watermark)
    return dict(repair=repair, colorize=colorize, device=args.device, precision=args.precision,
                weights_dir=args.weights_dir)


def _photo(args) -> int:
    from ..errors import ImageWriteError
    from ..io import write_image
    from .photo import restore_photo

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise ImageWriteError(f"{out} already exists; add --overwrite to replace it")
    r = restore_photo(args.input, **_stages(args))
    write_image(out, r.final, alpha=r.alpha, protect=[args.input])
    written = [out]
    if args.save_stages:
        stem = out.with_suffix("")
        for name, img in r.stages()[1:]:
            p = Path(f"{stem}.{name.replace(' ', '_')}.png")
            write_image(p, img, protect=[args.input])
            written.append(p)
    times = ", ".join(f"{k} {v:.1f} s" for k, v in r.seconds.items())
    print(f"wrote {', '.join(map(str, written))}" + (f" ({times})" if times else ""))
    return 0


def _folder(args) -> int:
    from .folder import restore_folder

    rep = restore_folder(args.src, args.dst, recursive=args.recursive, contact_sheet=not args.no_contact_sheet,
                         progress=not args.no_progress, **_stages(args))
    print(f"{len(rep.done)} restored, {len(rep.skipped)} already done, {len(rep.failed)} failed "
          f"in {rep.seconds:.1f} s" + (f"; contact sheet: {rep.contact_sheet}" if rep.contact_sheet else ""))
    for p, msg in rep.failed:
        print(f"failed: {p}: {msg.splitlines()[0]}")
    return 1 if rep.failed else 0


def _film(args) -> int:
    from .film import restore_film
    from .options import InterpolateOptions
    from .video import EncoderSettings

    interpolate = False
    if not args.no_interpolate and (args.fps is not None or args.factor != 1):
        interpolate = InterpolateOptions(model=args.interp_model, factor=args.factor, fps=args.fps)
    stabilize = False if args.no_stabilize else args.stabilize_strength
    rep = restore_film(
        args.input, args.output, interpolate=interpolate, stabilize=stabilize, chunk_seconds=args.chunk_seconds,
        duration=args.duration, keep_audio=not args.no_audio,
        encoder=EncoderSettings(crf=args.crf, preset=args.preset), overwrite=args.overwrite,
        keep_parts=args.keep_parts, progress=not args.no_progress, **_stages(args))
    resumed = f", {rep.resumed_chunks} of {rep.chunks} chunks from an earlier run" if rep.resumed_chunks else ""
    print(f"wrote {rep.output}: {rep.frames_out} frames at {float(rep.fps_out):g} fps from {rep.frames_in} "
          f"input frames{resumed}; {len(rep.scene_cuts)} scene cuts; audio streams: {rep.audio_streams}")
    return 0


def add_cli(subparsers) -> None:
    """Add the ``photo``, ``folder`` and ``film`` sub-commands."""
    p = subparsers.add_parser("photo", help="repair and colorize one photo",
                              description="Repair and colorize one photo (PNG/JPEG/TIFF/WebP out by suffix).")
    p.add_argument("input", help="input photo")
    p.add_argument("output", help="output image (.png, .jpg, .tif, .webp)")
    p.add_argument("--save-stages", action="store_true",
                   help="also write OUTPUT.repaired.png, OUTPUT.scratch_mask.png, OUTPUT.colorized.png")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    _stage_args(p, film=False)
    p.set_defaults(func=_photo)

    p = subparsers.add_parser("folder", help="repair and colorize every photo in a folder",
                              description="Restore every photo of SRC into DST (PNG), skipping photos an earlier "
                              "run finished, reporting failures, and writing DST/index.html (before/after).")
    p.add_argument("src", help="folder of photos")
    p.add_argument("dst", help="output folder")
    p.add_argument("--recursive", action="store_true", help="include sub-folders")
    p.add_argument("--no-contact-sheet", action="store_true", help="do not write index.html and thumbnails")
    _stage_args(p, film=False)
    p.set_defaults(func=_folder)

    p = subparsers.add_parser("film", help="repair, colorize, stabilise and interpolate a film",
                              description="Restore a film in one resumable streaming pass; run the same command "
                              "again after an interruption to continue where it stopped.")
    p.add_argument("input", help="input video")
    p.add_argument("output", help="output video (.mp4, .mov, .mkv)")
    g = p.add_argument_group("interpolation and colour stability")
    g.add_argument("--factor", type=int, default=2, help="frame-rate multiplier (default 2; 1 = no interpolation)")
    g.add_argument("--fps", type=float, default=None, help="target frame rate instead of --factor (e.g. 50, 59.94)")
    g.add_argument("--interp-model", default="rife-4.0",
                   help="rife-4.0 (default), rife-4.6, rife-4.25, rife-4.26, superslomo, or flow (no weights)")
    g.add_argument("--no-interpolate", action="store_true", help="keep the frame rate")
    g.add_argument("--no-stabilize", action="store_true", help="no temporal colour stabilisation")
    g.add_argument("--stabilize-strength", type=float, default=0.85,
                   help="weight of colours carried along motion, 0–0.99 (default 0.85)")
    g = p.add_argument_group("output")
    g.add_argument("--chunk-seconds", type=float, default=10.0, help="seconds per resumable chunk (default 10)")
    g.add_argument("--duration", type=float, default=None, help="process only the first N seconds")
    g.add_argument("--crf", type=int, default=18, help="H.264 quality (lower = better; default 18)")
    g.add_argument("--preset", default="medium", help="x264 preset (default medium)")
    g.add_argument("--no-audio", action="store_true", help="do not copy the audio")
    g.add_argument("--keep-parts", action="store_true", help="keep the OUTPUT.parts work folder")
    g.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    _stage_args(p, film=True)
    p.set_defaults(func=_film)
