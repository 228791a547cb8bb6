"""What every command shares: the anchors' flag spellings, checks done before any work, and the one summary
line listing the steps that fell back or were skipped with the single command that fetches what is missing."""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import ImageWriteError, RestorationError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


class UsageError(RestorationError, ValueError):
    """A flag's value is out of range or inconsistent with another (named in the message)."""


# ------------------------------------------------------------------------------------------- device


def add_device_args(p: Any, help_: str = "cpu, cuda, cuda:1, mps (default: best available)") -> None:
    """``--device`` and the anchors' ``--GPU N`` (N ≥ 0: that CUDA device; -1: the CPU)."""
    p.add_argument("--device", default=None, help=help_)
    p.add_argument("--GPU", "--gpu", dest="gpu", type=int, default=None, metavar="N",
                   help="the original projects' spelling: --GPU 0 = --device cuda:0, --GPU -1 = --device cpu")


def device_from(args: argparse.Namespace) -> Optional[str]:
    """The device the flags ask for, checked now (before any work): a CUDA device that is absent is an error."""
    dev = getattr(args, "device", None)
    gpu = getattr(args, "gpu", None)
    if gpu is not None:
        if dev is not None:
            raise UsageError(f"--GPU {gpu} and --device {dev} both name a device; give one")
        dev = "cpu" if gpu < 0 else f"cuda:{gpu}"
    if dev is None or dev == "auto":
        return None
    import torch

    try:
        d = torch.device(dev)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {dev}: not a device name; use cpu, cuda, cuda:N or mps") from None
    if d.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise UsageError(f"--device {dev}: this machine (or this PyTorch build) has no CUDA device; "
                             "use --device cpu")
        if d.index is not None and d.index >= n:
            raise UsageError(f"--device {dev}: there are {n} CUDA device(s) (cuda:0 to cuda:{n - 1})")
    elif d.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UsageError(f"--device {dev}: MPS is not available on this machine; use --device cpu")
    elif d.type != "cpu":
        raise UsageError(f"--device {dev}: use cpu, cuda, cuda:N or mps")
    return dev


# ------------------------------------------------------------------------------------------- checks


def check_range(flag: str, value: Any, lo: Optional[float] = None, hi: Optional[float] = None,
                lo_open: bool = False, hi_open: bool = False) -> None:
    """Refuse a flag value outside [lo, hi] (open ends when asked), naming the flag."""
    if value is None:
        return
    bad = (lo is not None and (value <= lo if lo_open else value < lo)) or \
          (hi is not None and (value >= hi if hi_open else value > hi))
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        rng = f"{left}{'' if lo is None else f'{lo:g}'}, {'' if hi is None else f'{hi:g}'}{right}"
        raise UsageError(f"{flag} {value}: must lie in {rng}")


def check_input(path: Any, what: str = "input") -> Path:
    """An input that must exist."""
    p = Path(path)
    if not p.exists():
        raise RestorationError(f"{p}: no such file or folder ({what})")
    return p


def check_output_file(path: Any, suffixes: Sequence[str], overwrite: bool = True,
                      inputs: Sequence[Any] = ()) -> Path:
    """Every check of an output file that can be made before the work: known suffix, not a folder, not an
    input, its folder exists (or can be made) and is writable, and (unless ``overwrite``) it does not exist."""
    p = Path(path)
    if p.is_dir():
        raise ImageWriteError(f"{p}: is a folder; give an output file name (e.g. {p / ('out' + suffixes[0])})")
    if p.suffix.lower() not in suffixes:
        raise ImageWriteError(f"{p}: unknown output suffix {p.suffix or '(none)'!r}; use one of "
                              f"{', '.join(suffixes)}")
    for i in inputs:
        try:
            same = p.resolve() == Path(i).resolve() or (p.exists() and os.path.samefile(p, i))
        except OSError:
            same = False
        if same:
            raise ImageWriteError(f"{p}: refusing to overwrite an input; choose another output path")
    if p.exists() and not overwrite:
        raise ImageWriteError(f"{p} already exists; add --overwrite to replace it")
    check_output_folder(p.parent)
    return p


def check_output_folder(folder: Any) -> Path:
    """A folder that outputs go into: it is a folder (or can be created) and it is writable."""
    d = Path(folder) if str(folder) else Path(".")
    probe = d
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ImageWriteError(f"{d}: cannot be an output folder: {probe} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ImageWriteError(f"{d}: output folder is not writable ({probe} does not allow writing)")
    return d


def check_min_side(img: Any, path: Any, minimum: int = 8) -> None:
    """Refuse an image (a LoadedImage or an (H, W, ...) array) smaller than ``minimum`` pixels a side."""
    h, w = (img.rgb if hasattr(img, "rgb") else img).shape[:2]
    if min(h, w) < minimum:
        raise RestorationError(f"{path}: {w}×{h} pixels is too small to restore (at least {minimum} pixels a side)")


# ------------------------------------------------------------------------------------------- summary


def fetch_command(ids: Sequence[str], weights_dir: Optional[str] = None) -> str:
    """The single command (this interpreter's own, so it works outside an activated venv) that fetches ``ids``."""
    cmd = [sys.executable, "-m", "restoration_lib", "weights", "fetch", *ids]
    if weights_dir:
        cmd += ["--dir", str(weights_dir)]
    return " ".join(shlex.quote(c) for c in cmd)


@dataclass
class Summary:
    """Steps that fell back or were skipped, and the weights that would have let them run."""

    weights_dir: Optional[str] = None
    steps: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def add(self, step: str, ids: Sequence[str] = ()) -> None:
        self.steps.append(step)
        self.missing += [i for i in ids if i not in self.missing]

    def line(self) -> Optional[str]:
        """The one summary line, or None when every step ran as asked."""
        if not self.steps:
            return None
        text = "summary: " + "; ".join(self.steps) + "."
        if self.missing:
            text += f" Fetch everything missing with: {fetch_command(self.missing, self.weights_dir)}"
        return text

    def print(self) -> None:
        line = self.line()
        if line:
            print(line)


def add_strict_arg(p: Any) -> None:
    p.add_argument("--strict", action="store_true",
                   help="a missing checkpoint is an error (default: fall back or skip that step, and say so)")
