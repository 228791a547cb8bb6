"""``restoration-lib repair IN OUT``: repair one photo, or every photo of a folder.

The original project's spellings work too: ``--input_folder IN --output_folder OUT``, ``--with_scratch``,
``--HR`` and ``--GPU 0`` / ``--GPU -1``.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import ImageReadError, ImageWriteError
from ._common import (IMAGE_SUFFIXES, check_range, UsageError, add_device_args, check_min_side, check_output_file,
                      check_output_folder, device_from)

__all__ = ["add_cli", "run"]


def add_cli(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "repair",
        help="repair old photos (Bringing Old Photos Back to Life, or a classical no-download mode)",
        description="Repair an old photo: global restoration (optionally removing scratches), then face "
        "enhancement. IN and OUT are image files, or folders (every image of IN is repaired into OUT).",
    )
    p.add_argument("input", metavar="IN", nargs="?", default=None, help="photo or folder of photos")
    p.add_argument("output", metavar="OUT", nargs="?", default=None, help="output photo (PNG recommended) or folder")
    p.add_argument("--input_folder", "--input-folder", dest="input_folder", default=None,
                   help="the original project's spelling of IN (a folder of photos)")
    p.add_argument("--output_folder", "--output-folder", dest="output_folder", default=None,
                   help="the original project's spelling of OUT (a folder)")
    p.add_argument("--with-scratch", "--with_scratch", dest="with_scratch", action="store_true",
                   help="detect and remove scratches")
    p.add_argument("--hr", "--HR", dest="hr", action="store_true",
                   help="high-resolution mode (patch attention, 512-px faces)")
    p.add_argument("--no-faces", action="store_true", help="skip face enhancement")
    p.add_argument("--classical", action="store_true", help="no-download mode: classical scratch removal")
    p.add_argument("--denoise", type=float, default=0.5,
                   help="classical mode: denoising strength, 0 (off) to 3 (default 0.5)")
    p.add_argument("--contrast", type=float, default=0.5,
                   help="classical mode: contrast restoration, 0 (off) to 1 (default 0.5)")
    add_device_args(p)
    p.add_argument("--precision", default="exact", choices=["exact", "fast"], help="exact (fp32) or fast")
    p.add_argument("--weights-dir", "--weights_dir", dest="weights_dir", default=None,
                   help="folder with the downloaded checkpoints")
    p.add_argument("--checkpoints", default=None, help="global_checkpoints.zip or the folder it was unzipped into")
    p.add_argument("--face-checkpoints", default=None, help="face_checkpoints.zip or its folder")
    p.add_argument("--save-stages", metavar="DIR", default=None, help="also write stage-1 image, mask, face crops")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    src = args.input if args.input_folder is None else args.input_folder
    dst = args.output if args.output_folder is None else args.output_folder
    if args.input is not None and args.input_folder is not None:
        raise UsageError("give IN or --input_folder, not both")
    if args.output is not None and args.output_folder is not None:
        raise UsageError("give OUT or --output_folder, not both")
    if src is None or dst is None:
        raise UsageError("repair needs IN and OUT (or --input_folder and --output_folder)")
    return Path(src), Path(dst)


def run(args: argparse.Namespace) -> int:
    from ..repair.restorer import Restorer

    check_range("--denoise", args.denoise, 0, 3)
    check_range("--contrast", args.contrast, 0, 1)
    src, dst = _paths(args)
    if not src.exists():
        raise ImageReadError(f"{src}: no such file or folder")
    if src.is_dir():
        jobs = [(f, dst / (f.stem + ".png")) for f in sorted(src.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
        if not jobs:
            raise ImageReadError(f"{src}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
        if dst.exists() and not dst.is_dir():
            raise ImageWriteError(f"{dst}: is a file; repairing a folder needs an output folder")
        check_output_folder(dst)
    else:
        jobs = [(src, dst)]
        check_output_file(dst, IMAGE_SUFFIXES)
    inputs = {f.resolve() for f, _ in jobs}
    for _, out in jobs:
        if out.resolve() in inputs:
            raise ImageWriteError(f"{out}: refusing to overwrite an input; choose another output path")
    if args.save_stages:
        check_output_folder(args.save_stages)
    restorer = Restorer(
        with_scratch=args.with_scratch,
        hr=args.hr,
        faces=not args.no_faces,
        mode="classical" if args.classical else "model",
        denoise=args.denoise,
        contrast=args.contrast,
        device=device_from(args),
        precision=args.precision,
        weights_dir=args.weights_dir,
        checkpoints=args.checkpoints,
        face_checkpoints=args.face_checkpoints,
        progress=not args.no_progress,
    )
    from ..io import read_image

    stages = Path(args.save_stages) if args.save_stages else None
    for f, out in jobs:
        img = read_image(f)
        check_min_side(img, f)
        rgb, alpha = img.rgb, img.alpha
        res = restorer(rgb)
        _write(out, res.image, alpha if alpha is not None and alpha.shape == res.image.shape[:2] else None, inputs)
        if stages is not None:
            _write(stages / f"{f.stem}_stage1.png", res.stage1, None, inputs)
            if res.scratch_mask is not None:
                _write(stages / f"{f.stem}_mask.png", res.scratch_mask, None, inputs)
            for k, face in enumerate(res.faces, 1):
                _write(stages / f"{f.stem}_face{k}_before.png", face.crop_before, None, inputs)
                if face.crop_after is not None:
                    _write(stages / f"{f.stem}_face{k}_after.png", face.crop_after, None, inputs)
        print(f"{f} -> {out} ({len(res.faces)} face(s), {res.restore_mode})")
    return 0


def _write(path: Path, rgb: np.ndarray, alpha: Optional[np.ndarray], protect: set) -> None:
    from ..io import write_image

    write_image(path, rgb, alpha=alpha, protect=tuple(protect))
