"""``restoration-lib demo``: sample photos repaired and colorized, a clip interpolated, and a compare sheet."""
from __future__ import annotations

import argparse
from typing import Any

from ._common import Summary, add_device_args, check_output_folder, check_range, device_from


def _run(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    check_range("--render-factor", args.render_factor, 1, 200)
    check_output_folder(args.out)
    report = run_demo(args.out, device=device_from(args), precision=args.precision, weights_dir=args.weights_dir,
                      render_factor=args.render_factor, progress=not args.no_progress)
    for note in report.notes:
        print(note)
    print(f"wrote {len(report.written)} files to {report.out_dir}/ in {report.seconds:.1f} s "
          f"(compare sheet: {report.out_dir / 'compare.png'})")
    summary = Summary(weights_dir=args.weights_dir)
    for step, ids in report.fallbacks:
        summary.add(step, ids)
    summary.print()
    return 0


def add_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("demo", help="repair, colorize and interpolate sample inputs into results/")
    p.add_argument("--out", default="results", help="output folder (default: results)")
    add_device_args(p)
    p.add_argument("--precision", default="exact", choices=["exact", "fast"])
    p.add_argument("--render-factor", "--render_factor", dest="render_factor", type=int, default=35)
    p.add_argument("--weights-dir", "--weights_dir", dest="weights_dir", default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run)
