"""The ``photo``, ``folder`` and ``film`` commands.

With weights missing, each step does the best it can (unless ``--strict``): repair falls back to the classical
no-download mode, colorization uses colour hints when the photo has them (``--hints FILE`` or ``PHOTO.hints.json``)
and is skipped otherwise, RIFE falls back to optical-flow interpolation. One summary line at the end lists each
step that fell back or was skipped and the single command that fetches everything missing.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Optional

from ..errors import MissingWeightsError
from ._common import (IMAGE_SUFFIXES, Summary, add_device_args, add_strict_arg, check_input,
                      check_output_file, check_output_folder, check_range, device_from)

__all__ = ["add_cli"]

_FILM_SUFFIXES = (".mp4", ".mov", ".mkv")


def _stage_args(p: argparse.ArgumentParser, film: bool) -> None:
    g = p.add_argument_group("repair (Bringing Old Photos Back to Life)")
    g.add_argument("--no-repair", action="store_true", help="skip the repair stage")
    g.add_argument("--repair-mode", choices=["model", "classical"], default="model",
                   help="published networks (default) or the classical no-download repair")
    g.add_argument("--with-scratch", "--scratch", "--with_scratch", dest="scratch", action="store_true",
                   help="detect and repair scratches, cracks and folds")
    g.add_argument("--hr", "--HR", dest="hr", action="store_true", help="high-resolution mode for large scans")
    g.add_argument("--no-faces", action="store_true", help="do not enhance faces")
    g = p.add_argument_group("colorize (DeOldify or DDColor)")
    g.add_argument("--no-colorize", action="store_true", help="skip colorization")
    g.add_argument("--colorizer", choices=["deoldify", "ddcolor", "ddcolor-artistic", "ddcolor-paper", "ddcolor-tiny"],
                   default="deoldify", help="model family: DeOldify (default; --model picks its generator) or DDColor")
    g.add_argument("--input-size", "--input_size", dest="input_size", type=int, default=512,
                   help="DDColor: the model sees an N×N square (default 512, multiple of 32; 256-1024 sensible)")
    g.add_argument("--model", choices=["artistic", "stable", "video"], default="video" if film else "artistic",
                   help=f"DeOldify generator (default: {'video' if film else 'artistic'})")
    g.add_argument("--render-factor", "--render_factor", dest="render_factor", type=int,
                   default=21 if film else 35,
                   help=f"the model sees a 16×N square (default {21 if film else 35}; higher = more detail, slower)")
    g.add_argument("--no-post-process", action="store_true", help="use the model's colours at its resolution "
                   "instead of keeping the input's luminance")
    g.add_argument("--watermark", action="store_true", help="add DeOldify's small watermark")
    g = p.add_argument_group("compute")
    add_device_args(g)
    g.add_argument("--precision", choices=["exact", "fast"], default="exact",
                   help="exact = fp32 (default); fast = bf16 on CPUs with native bf16 (else fp32), fp16 on GPU")
    g.add_argument("--weights-dir", "--weights_dir", dest="weights_dir", default=None,
                   help="folder of the downloaded checkpoints")
    g.add_argument("--max-pixels", type=float, default=None, metavar="MP",
                   help="largest photo accepted, in megapixels (default 50; checked before decoding)")
    add_strict_arg(g)
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def _colorizer_name(args: argparse.Namespace) -> str:
    return f"DeOldify {args.model}" if args.colorizer == "deoldify" else f"DDColor ({args.colorizer})"


def _check_stage_args(args: argparse.Namespace) -> None:
    check_range("--render-factor", args.render_factor, 1, 200)
    check_range("--input-size", args.input_size, 32, 4096)
    check_range("--max-pixels", args.max_pixels, 0, None, lo_open=True)


def _cli_hint(stage: str) -> str:
    return {
        "repair": "--repair-mode classical repairs without any download; --no-repair skips the step; "
                  "without --strict the classical repair is used",
        "colorize": "colorization has no classical fallback (it needs DeOldify's published generator); "
                    "--no-colorize skips it; without --strict the step is skipped",
        "interpolate": "--interp-model flow interpolates with optical flow and needs no weights; "
                       "without --strict that is used",
    }[stage]


def _strict_error(stage: str, e: MissingWeightsError) -> MissingWeightsError:
    base = e.__cause__ if isinstance(e.__cause__, MissingWeightsError) else e
    return MissingWeightsError(f"{base}\n({_cli_hint(stage)})")


def _absent(ids, weights_dir) -> list[str]:
    """The ids among ``ids`` that are not on disk."""
    from ..weights import find, registry

    out = []
    for i in ids:
        if i in registry():
            try:
                find(i, weights_dir)
            except MissingWeightsError:
                out.append(i)
    return out


def _hints_for(args: argparse.Namespace) -> Optional[Path]:
    """The hints file of the photo: ``--hints FILE``, else ``PHOTO.hints.json`` beside it, else None."""
    given = getattr(args, "hints", None)
    if given:
        return Path(given)
    src = getattr(args, "input", None)
    if src is None:
        return None
    side = Path(src).with_suffix(".hints.json")
    return side if side.is_file() else None


def _hints_colorizer(path: Path):
    """A colorizer from hints (``restoration_lib.colorize.hints``), or None when this build lacks it."""
    try:
        from ..colorize import hints as hints_mod  # type: ignore[attr-defined]
    except ImportError:
        return None
    marks = hints_mod.load_hints(path)

    def colorize(rgb, **_):
        return hints_mod.colorize_with_hints(rgb, marks).image

    return colorize


def _stages(args: argparse.Namespace, summary: Summary, film: bool, photo: bool = False) -> dict:
    """Build every stage now (before any work), falling back or skipping where weights are missing."""
    from ..device import pick_device, resolve_dtype
    from ..pipeline.options import FILM_COLORIZE, ColorizeOptions, RepairOptions, build_colorize, build_repair

    dev = pick_device(device_from(args))
    resolve_dtype(args.precision, dev)
    kw = dict(device=dev, precision=args.precision, weights_dir=args.weights_dir)
    repair: Any = False
    if not args.no_repair:
        opts = RepairOptions(mode=args.repair_mode, with_scratch=args.scratch, hr=args.hr, faces=not args.no_faces)
        try:
            repair = build_repair(opts, **kw)
        except MissingWeightsError as e:
            if args.strict:
                raise _strict_error("repair", e) from None
            repair = build_repair(RepairOptions(mode="classical", with_scratch=args.scratch, hr=args.hr,
                                                faces=not args.no_faces), **kw)
            ids = e.weight_ids
            if not args.no_faces:  # the face networks are found only after the global ones: ask for them now
                ids += _absent(("bopbtl-face", "dlib-landmarks-68"), args.weights_dir)
            summary.add("repair fell back to the classical no-download mode (published networks not downloaded)",
                        ids)
    colorize: Any = False
    if not args.no_colorize:
        model = args.model if args.colorizer == "deoldify" else args.colorizer
        copts = ColorizeOptions(model=model, render_factor=args.render_factor, input_size=args.input_size,
                                post_process=not args.no_post_process, watermark=args.watermark)
        try:
            colorize = build_colorize(copts, default=FILM_COLORIZE if film else ColorizeOptions(), **kw)
        except MissingWeightsError as e:
            if args.strict:
                raise _strict_error("colorize", e) from None
            hints = _hints_for(args) if photo else None
            fn = _hints_colorizer(hints) if hints is not None else None
            if fn is not None:
                colorize = build_colorize(fn, **kw)
                summary.add(f"colorize used colour from hints ({hints}; {_colorizer_name(args)} not downloaded)",
                            e.weight_ids)
            else:
                summary.add(f"colorize skipped ({_colorizer_name(args)} not downloaded)", e.weight_ids)
    return dict(repair=repair, colorize=colorize, device=dev, precision=args.precision,
                weights_dir=args.weights_dir)


def _photo(args: argparse.Namespace) -> int:
    from ..io import read_image, write_image
    from ..pipeline.photo import PhotoPipeline

    _check_stage_args(args)
    src = check_input(args.input)
    out = check_output_file(args.output, IMAGE_SUFFIXES, overwrite=args.overwrite, inputs=[src])
    summary = Summary(weights_dir=args.weights_dir)
    img = read_image(src, **_max_pixels(args))  # size and budget checked before the models are built
    st = _stages(args, summary, film=False, photo=True)
    r = PhotoPipeline(**st)(img)
    write_image(out, r.final, alpha=r.alpha, protect=[src], overwrite=args.overwrite)
    written = [out]
    if args.save_stages:
        stem = out.with_suffix("")
        for name, stage_img in r.stages()[1:]:
            p = Path(f"{stem}.{name.replace(' ', '_')}.png")
            write_image(p, stage_img, protect=[src])
            written.append(p)
    times = ", ".join(f"{k} {v:.1f} s" for k, v in r.seconds.items())
    print(f"wrote {', '.join(map(str, written))}" + (f" ({times})" if times else ""))
    summary.print()
    return 0


def _max_pixels(args: argparse.Namespace) -> dict:
    return {} if args.max_pixels is None else {"max_pixels": int(args.max_pixels * 1e6)}


def _engine(args: argparse.Namespace) -> dict:
    """``--ray [ADDRESS]``: the Ray engine (a local runtime, or the cluster at ADDRESS); checked before any work."""
    if args.ray is None:
        return {}
    from ..distributed.runtime import require_ray

    require_ray()  # one line saying how to install Ray when it is missing
    return {"engine": "ray", "address": args.ray or None}


def _ray_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on Ray: alone, a local Ray runtime; with ADDRESS (host:port), join that cluster "
                        '(needs pip install "restoration-lib[ray]"; docs/ray.md)')


def _folder(args: argparse.Namespace) -> int:
    from ..pipeline.folder import restore_folder
    from ..pipeline.photo import PhotoPipeline

    _check_stage_args(args)
    src = check_input(args.src)
    if not src.is_dir():
        raise NotADirectoryError(f"{src}: is not a folder (folder SRC DST restores every photo of SRC)")
    check_output_folder(args.dst)
    summary = Summary(weights_dir=args.weights_dir)
    st = _stages(args, summary, film=False)
    rep = restore_folder(src, args.dst, recursive=args.recursive, contact_sheet=not args.no_contact_sheet,
                         progress=not args.no_progress, pipeline=PhotoPipeline(**st), **_max_pixels(args),
                         **_engine(args))
    print(f"{len(rep.done)} restored, {len(rep.skipped)} already done, {len(rep.failed)} failed, "
          f"{len(rep.ignored)} not photos, in {rep.seconds:.1f} s"
          + (f"; contact sheet: {rep.contact_sheet}" if rep.contact_sheet else ""))
    for path, why in rep.ignored:
        print(f"not restored: {path} ({why})")
    summary.print()
    return 1 if rep.failed else 0


def _film(args: argparse.Namespace) -> int:
    from ..pipeline.film import restore_film
    from ..pipeline.options import InterpolateOptions, build_interpolate
    from ..pipeline.video import EncoderSettings

    _check_stage_args(args)
    check_range("--factor", args.factor, 1, 64)
    check_range("--fps", args.fps, 0, 1000, lo_open=True)
    check_range("--stabilize-strength", args.stabilize_strength, 0, 1, hi_open=True)
    check_range("--chunk-seconds", args.chunk_seconds, 0, None, lo_open=True)
    check_range("--duration", args.duration, 0, None, lo_open=True)
    check_range("--crf", args.crf, 0, 51)
    src = check_input(args.input)
    out = check_output_file(args.output, _FILM_SUFFIXES, overwrite=args.overwrite, inputs=[src])
    summary = Summary(weights_dir=args.weights_dir)
    st = _stages(args, summary, film=True)
    interpolate: Any = False
    if not args.no_interpolate and (args.fps is not None or args.factor != 1):
        iopts = InterpolateOptions(model=args.interp_model, factor=args.factor, fps=args.fps)
        kw = {k: st[k] for k in ("device", "precision", "weights_dir")}
        try:
            interpolate = build_interpolate(iopts, **kw)
        except MissingWeightsError as e:
            if args.strict:
                raise _strict_error("interpolate", e) from None
            interpolate = build_interpolate(InterpolateOptions(model="flow", factor=args.factor, fps=args.fps), **kw)
            summary.add(f"interpolate fell back to optical flow ({args.interp_model} not downloaded)",
                        e.weight_ids)
    stabilize = False if args.no_stabilize else args.stabilize_strength
    rep = restore_film(
        src, out, interpolate=interpolate, stabilize=stabilize, chunk_seconds=args.chunk_seconds,
        duration=args.duration, keep_audio=not args.no_audio,
        encoder=EncoderSettings(crf=args.crf, preset=args.preset), overwrite=args.overwrite,
        keep_parts=args.keep_parts, progress=not args.no_progress, **st, **_engine(args))
    resumed = f", {rep.resumed_chunks} of {rep.chunks} chunks from an earlier run" if rep.resumed_chunks else ""
    print(f"wrote {rep.output}: {rep.frames_out} frames at {float(rep.fps_out):g} fps from {rep.frames_in} "
          f"input frames{resumed}; {len(rep.scene_cuts)} scene cuts; audio streams: {rep.audio_streams}")
    summary.print()
    return 0


def add_cli(subparsers: Any) -> None:
    """Add the ``photo``, ``folder`` and ``film`` sub-commands."""
    p = subparsers.add_parser("photo", help="repair and colorize one photo",
                              description="Repair and colorize one photo (PNG/JPEG/TIFF/WebP out by suffix).")
    p.add_argument("input", help="input photo")
    p.add_argument("output", help="output image (.png, .jpg, .tif, .webp)")
    p.add_argument("--save-stages", action="store_true",
                   help="also write OUTPUT.repaired.png, OUTPUT.scratch_mask.png, OUTPUT.colorized.png")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--hints", default=None, metavar="JSON",
                   help="colour hints used when DeOldify's weights are missing (default: INPUT.hints.json if present)")
    _stage_args(p, film=False)
    p.set_defaults(func=_photo)

    p = subparsers.add_parser("folder", help="repair and colorize every photo in a folder",
                              description="Restore every photo of SRC into DST (PNG), skipping photos an earlier "
                              "run finished, reporting failures, and writing DST/index.html (before/after).")
    p.add_argument("src", help="folder of photos")
    p.add_argument("dst", help="output folder")
    p.add_argument("--recursive", action="store_true", help="include sub-folders")
    p.add_argument("--no-contact-sheet", action="store_true", help="do not write index.html and thumbnails")
    _ray_arg(p)
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
                   help="rife-4.0 (default), rife-4.6, rife-4.25, rife-4.26, superslomo, dain, or flow (no weights)")
    _ray_arg(p)
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
