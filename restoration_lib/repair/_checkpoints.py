"""Finding one checkpoint inside the layout of a published archive (BOPBTL's ``*_checkpoints.zip``).

The authors publish their weights as zip archives meant to be unpacked into the source tree, e.g.
``face_checkpoints.zip`` → ``checkpoints/Setting_9_epoch_100/latest_net_G.pth`` and
``checkpoints/FaceSR_512/latest_net_G.pth`` (unpacked in ``Face_Enhancement/``). A user may hand over the
zip itself, the folder it was unpacked into (at any depth), or the member file itself; this module finds the
member in each case and reads it safely (``weights_only=True``).
"""
from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional, Union

import torch

from ..errors import CheckpointError
from ..models.loading import load_checkpoint_file

__all__ = ["read_published_checkpoint", "find_weights"]

CheckpointSource = Union[str, Path, Mapping[str, Any]]


def _matches(name: str, suffix: str) -> bool:
    name = name.replace("\\", "/")
    return name == suffix or name.endswith("/" + suffix)


def _archive_members(path: Path) -> Optional[list[str]]:
    """Member names if ``path`` is a plain zip archive (not a torch zip-format checkpoint), else None."""
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except zipfile.BadZipFile:
        return None
    # A torch.save file is a zip too: one top folder holding data.pkl (and data/, version, ...).
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names) and not any(n.endswith(".pth") or n.endswith(".pt") for n in names):
        return None
    return names


def _read_zip_member(path: Path, member: str) -> Any:
    try:
        with zipfile.ZipFile(path) as z:
            data = z.read(member)
    except (zipfile.BadZipFile, OSError, EOFError) as e:  # zlib errors derive from zlib.error
        raise CheckpointError(f"{path}: cannot read member {member} ({e}); the archive is truncated or corrupt") from e
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read member {member} ({type(e).__name__}: {e})") from e
    try:
        with torch.serialization.safe_globals([slice]):
            buffer = io.BytesIO(data)
            return torch.load(buffer, map_location="cpu", weights_only=True)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}!{member}: not a loadable checkpoint (torch.load said: {msg[:300]})") from e


def read_published_checkpoint(source: CheckpointSource, member: str) -> Any:
    """Read the checkpoint ``member`` from a published archive, an unpacked folder, or a file.

    Args:
        source: a state_dict (returned as is), the checkpoint file itself, the published zip archive, or a
            folder the archive was unpacked into (searched at any depth).
        member: the member's path suffix inside the archive, e.g. ``"Setting_9_epoch_100/latest_net_G.pth"``.

    Returns:
        What ``torch.load(..., weights_only=True)`` returns (a state_dict or a container of one).

    Raises:
        CheckpointError: the archive or folder does not contain ``member``, or the file is unreadable.
    """
    if isinstance(source, Mapping):
        return source
    path = Path(source).expanduser()
    if path.is_dir():
        direct = [path / member, path / "checkpoints" / member]
        for cand in direct:
            if cand.is_file():
                return load_checkpoint_file(cand)
        found = sorted(p for p in path.rglob(Path(member).name) if _matches(p.as_posix(), member) and p.is_file())
        if not found:
            raise CheckpointError(f"{path}: no {member} in this folder (searched at any depth)")
        return load_checkpoint_file(found[0])
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file or folder")
    members = _archive_members(path)
    if members is None:
        return load_checkpoint_file(path)
    hits = sorted(n for n in members if _matches(n, member))
    if not hits:
        sample = ", ".join(n for n in members if not n.endswith("/"))[:300]
        raise CheckpointError(f"{path}: the archive has no member {member} (it holds: {sample})")
    return _read_zip_member(path, hits[0])


def find_weights(weight_id: str, weights_dir: Union[str, Path, None] = None) -> Path:
    """``restoration_lib.weights.find``: the published file of ``weight_id`` (raises ``MissingWeightsError``)."""
    from .. import weights  # noqa: PLC0415

    return Path(weights.find(weight_id, weights_dir))
