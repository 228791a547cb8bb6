"""``python -m restoration_lib repair IN OUT``: repair one photo, or every photo of a folder."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import ImageReadError, ImageWriteError
from ..io import read_image, write_image

_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


def add_cli(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "repair",
        help="repair old photos (Bringing Old Photos Back to Life, or a classical no-download mode)",
        description="Repair an old photo: global restoration (optionally removing scratches), then face "
        "enhancement. IN and OUT are image files, or folders (every image of IN is repaired into OUT).",
    )
    p.add_argument("input", metavar="IN", help="photo or folder of photos")
    p.add_argument("output", metavar="OUT", help="output photo (PNG recommended) or folder")
    p.add_argument("--with-scratch", action="store_true", help="detect and remove scratches")
    p.add_argument("--hr", action="store_true", help="high-resolution mode (patch attention, 512-px faces)")
    p.add_argument("--no-faces", action="store_true", help="skip face enhancement")
    p.add_argument("--classical", action="store_true", help="no-download mode: classical scratch removal")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)")
    p.add_argument("--precision", default="exact", choices=["exact", "fast"], help="exact (fp32) or fast")
    p.add_argument("--weights-dir", default=None, help="folder with the downloaded checkpoints")
    p.add_argument("--checkpoints", default=None, help="global_checkpoints.zip or the folder it was unzipped into")
    p.add_argument("--face-checkpoints", default=None, help="face_checkpoints.zip or its folder")
    p.add_argument("--save-stages", metavar="DIR", default=None, help="also write stage-1 image, mask, face crops")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .restorer import Restorer

    src, dst = Path(args.input), Path(args.output)
    if not src.exists():
        raise ImageReadError(f"{src}: no such file or folder")
    if src.is_dir():
        jobs = [(f, dst / (f.stem + ".png")) for f in sorted(src.iterdir()) if f.suffix.lower() in _SUFFIXES]
        if not jobs:
            raise ImageReadError(f"{src}: no images ({', '.join(sorted(_SUFFIXES))}) in this folder")
    else:
        jobs = [(src, dst)]
    inputs = {f.resolve() for f, _ in jobs}
    for _, out in jobs:
        if out.resolve() in inputs:
            raise ImageWriteError(f"{out}: refusing to overwrite an input; choose another output path")
    restorer = Restorer(
        with_scratch=args.with_scratch,
        hr=args.hr,
        faces=not args.no_faces,
        mode="classical" if args.classical else "model",
        device=args.device,
        precision=args.precision,
        weights_dir=args.weights_dir,
        checkpoints=args.checkpoints,
        face_checkpoints=args.face_checkpoints,
        progress=not args.no_progress,
    )
    stages = Path(args.save_stages) if args.save_stages else None
    for f, out in jobs:
        img = read_image(f)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, rgb, alpha=alpha, protect=tuple(protect))
