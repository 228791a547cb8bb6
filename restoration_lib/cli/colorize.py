"""``restoration-lib colorize``: DeOldify on one photo."""
from __future__ import annotations

import argparse
import warnings
from typing import Any

from ._common import IMAGE_SUFFIXES, UsageError, add_device_args, check_input, check_output_file, check_range, device_from


def _run(args: argparse.Namespace) -> int:
    from ..colorize import Colorizer
    from ..io import read_image, write_image

    check_range("--render-factor", args.render_factor, 1, 200)
    src = check_input(args.input)
    dst = check_output_file(args.output, IMAGE_SUFFIXES, inputs=[src])
    device = device_from(args)
    img = read_image(src, **({} if args.max_pixels is None else {"max_pixels": int(args.max_pixels * 1e6)}))
    if args.model == "hints" and args.hints is None:
        raise UsageError("--model hints needs --hints FILE (a JSON list of [y, x, [r, g, b]] points)")
    if args.hints is not None and args.model == "hints":  # colour from hints alone: no network, no download
        from ..colorize import colorize_with_hints, load_hints

        result = colorize_with_hints(img.rgb, load_hints(args.hints), progress=not args.quiet)
        write_image(dst, result.image, alpha=img.alpha, protect=(src,))
        if not args.quiet:
            print(f"{dst} (colour from {len(result.hints)} hints in {args.hints})")
        return 0
    if args.model.startswith("ddcolor"):
        check_range("--input-size", args.input_size, 32, 4096)
        ddc = Colorizer(args.model, device=device, precision=args.precision, weights_dir=args.weights_dir,
                        progress=not args.quiet, input_size=args.input_size)
        res = ddc(img)
        image = res.image
        if args.hints is not None:
            from ..colorize import colorize_with_hints, load_hints

            image = colorize_with_hints(img.rgb, load_hints(args.hints), base=image, progress=not args.quiet).image
        write_image(dst, image, alpha=res.alpha, protect=(src,))
        if not args.quiet:
            print(f"{dst} ({res.model_name}, input_size {res.input_size}, {args.precision})")
        return 0
    colorizer = Colorizer(args.model, device=device, precision=args.precision, weights_dir=args.weights_dir,
                          progress=not args.quiet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        result = colorizer.colorize(img, args.render_factor, post_process=not args.no_post_process,
                                    watermark=args.watermark)
    for w in caught:
        print(f"warning: {w.message}")
    image = result.image
    if args.hints is not None:  # the network's colours, corrected where the hints say otherwise
        from ..colorize import colorize_with_hints, load_hints

        image = colorize_with_hints(img.rgb, load_hints(args.hints), base=image, progress=not args.quiet).image
    write_image(dst, image, alpha=result.alpha, protect=(src,))
    if not args.quiet:
        print(f"{dst} ({colorizer.model_name}, render_factor {result.render_factor}, {args.precision})")
    return 0


def add_cli(subparsers: Any) -> None:
    """Add the ``colorize`` sub-command."""
    from ..colorize import MODELS

    p = subparsers.add_parser("colorize", help="colorize a black-and-white photo with DeOldify",
                              description="Colorize a black-and-white photo with DeOldify.")
    p.add_argument("input", help="input image")
    p.add_argument("output", help="output image (.png, .jpg, ...); never the input")
    p.add_argument("--hints", default=None, metavar="JSON",
                   help='colour hints {"hints": [[y, x, [r, g, b]], ...]}: with --model hints, colour from the hints '
                        "alone (no download); otherwise they correct the network's colours")
    p.add_argument("--input-size", "--input_size", dest="input_size", type=int, default=512,
                   help="DDColor models: the network sees an N×N square (default 512)")
    p.add_argument("--model", choices=sorted(MODELS) + ["ddcolor", "ddcolor-artistic", "ddcolor-paper", "ddcolor-tiny",
                                                         "hints"], default="artistic",
                   help="artistic (vivid, default), stable (fewer artefacts) or video")
    p.add_argument("--render-factor", "--render_factor", dest="render_factor", type=int, default=35,
                   help="the model sees a 16·N square; higher is sharper colour but slower (default 35)")
    p.add_argument("--no-post-process", action="store_true",
                   help="return the model's colours resized back instead of keeping the input's luminance")
    p.add_argument("--watermark", action="store_true", help="add a small 'DeOldify' mark at the bottom left")
    add_device_args(p)
    p.add_argument("--precision", choices=("exact", "fast"), default="exact",
                   help="exact (float32, the official numbers) or fast (bfloat16 on CPUs with native bf16, else float32; float16 on GPU)")
    p.add_argument("--weights-dir", "--weights_dir", dest="weights_dir", default=None,
                   help="folder holding the downloaded checkpoints")
    p.add_argument("--max-pixels", type=float, default=None, metavar="MP",
                   help="largest photo accepted, in megapixels (default 50; checked before decoding)")
    p.add_argument("--quiet", action="store_true", help="no progress or summary output")
    p.set_defaults(func=_run)
