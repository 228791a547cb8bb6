"""Reading checkpoint files safely and bringing state_dicts into the official key layout."""
from __future__ import annotations

import datetime
import io
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional, Union

import torch

from ..errors import CheckpointError

# Containers under which authors nest their state_dicts, tried in this order.
_NEST_KEYS = ("state_dict", "model_state", "params_ema", "params", "model", "net", "generator")


def load_checkpoint_file(path: Union[str, Path], data: Optional[bytes] = None) -> Any:
    """``torch.load`` a checkpoint with ``weights_only=True`` and turn every failure into a clear error.

    The library's only call of ``torch.load``. DeOldify's files pickle ``slice`` objects and Super SloMo's
    container a ``datetime`` timestamp; both are allowed through ``safe_globals``.

    Args:
        path: the file; with ``data``, only the name used in messages (e.g. ``archive.zip!member``).
        data: the file's bytes when it was read from an archive.

    Raises:
        CheckpointError: missing, empty, HTML page, truncated or otherwise unreadable file.
    """
    p = Path(path)
    if data is None:
        if not p.is_file():
            raise CheckpointError(f"{p}: no such checkpoint file")
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(512)
    else:
        size, head = len(data), data[:512]
    if size == 0:
        raise CheckpointError(f"{p}: the checkpoint file is empty (0 bytes); delete it and download it again")
    if head.lstrip()[:1] == b"<" or b"<html" in head.lower() or b"<!doctype" in head.lower():
        raise CheckpointError(
            f"{p}: this is an HTML page ({size} bytes), not a PyTorch checkpoint; the download link returned "
            "a web page (login, quota or 'file not found'). Delete it and fetch the file again "
            "(python -m restoration_lib weights fetch ...)"
        )
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(p if data is None else io.BytesIO(data)) as z:
                bad = z.testzip()
        except zipfile.BadZipFile as e:
            raise CheckpointError(f"{p}: the checkpoint is truncated or corrupt ({size} bytes; {e})") from e
        if bad is not None:
            raise CheckpointError(f"{p}: the checkpoint is corrupt (member {bad} fails its CRC check)")
    source = p if data is None else io.BytesIO(data)
    try:
        with torch.serialization.safe_globals([slice, datetime.datetime]):
            return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError/UnpicklingError/EOFError/... for bad files
        text = str(e)
        if "Weights only load failed" in text or "Unsupported global" in text:
            # The file pickles objects beyond tensors (code that would run on loading). torch's own message
            # suggests weights_only=False: exactly the wrong advice for a file of unknown origin.
            glob = re.search(r"GLOBAL ([\w.]+)", text)
            raise CheckpointError(
                f"{p}: not a loadable checkpoint, refused ({size} bytes): it is not a plain checkpoint: besides "
                "tensors it carries pickled Python objects"
                + (f" ({glob.group(1)})" if glob else "") + " that would run code when loaded, so it was refused. "
                "Do not load it with weights_only=False unless you trust its source; get the file from the "
                "source listed in the registry instead."
            ) from None
        msg = text.strip().splitlines()[0] if text.strip() else type(e).__name__
        hint = "truncated or corrupt" if isinstance(e, (EOFError, RuntimeError)) else "not a loadable checkpoint"
        raise CheckpointError(f"{p}: the file is {hint} ({size} bytes; torch.load said: {msg[:300]})") from e


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
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names) and not any(
        n.endswith(".pth") or n.endswith(".pt") for n in names
    ):
        return None
    return names


def has_member(path: Union[str, Path], member: str) -> bool:
    """Whether ``path`` (a published archive, or a folder it was unpacked into) holds ``member``."""
    p = Path(path).expanduser()
    if p.is_dir():
        return any(_matches(q.as_posix(), member) for q in p.rglob(Path(member).name))
    if not p.is_file():
        return False
    members = _archive_members(p)
    return members is not None and any(_matches(n, member) for n in members)


def read_member(source: Union[str, Path, Mapping[str, Any]], member: str) -> Any:
    """Read checkpoint ``member`` from a published archive, the folder it was unpacked into, or the file itself.

    Args:
        source: the checkpoint file itself, the published zip archive, a folder the archive was unpacked
            into (searched at any depth), or a state_dict (returned as it is).
        member: the member's path (or a path suffix) inside the archive, e.g.
            ``"checkpoints/FaceSR_512/latest_net_G.pth"``; a member's own folder layout below the archive's top
            folder is matched too (``"FaceSR_512/latest_net_G.pth"``).

    Returns:
        What :func:`load_checkpoint_file` returns.

    Raises:
        CheckpointError: the archive or folder does not contain ``member``, or the file is unreadable.
    """
    if isinstance(source, Mapping):
        return source
    path = Path(source).expanduser()
    tail = member.split("/", 1)[1] if member.startswith("checkpoints/") else member
    if path.is_dir():
        for cand in (path / member, path / tail, path / "checkpoints" / tail):
            if cand.is_file():
                return load_checkpoint_file(cand)
        found = sorted(q for q in path.rglob(Path(member).name) if _matches(q.as_posix(), tail) and q.is_file())
        if not found:
            raise CheckpointError(f"{path}: no {member} in this folder (searched at any depth)")
        return load_checkpoint_file(found[0])
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file or folder")
    members = _archive_members(path)
    if members is None:
        return load_checkpoint_file(path)
    hits = sorted(n for n in members if _matches(n, member)) or sorted(n for n in members if _matches(n, tail))
    if not hits:
        sample = ", ".join(n for n in members if not n.endswith("/"))[:300]
        raise CheckpointError(f"{path}: the archive has no member {member} (it holds: {sample})")
    try:
        with zipfile.ZipFile(path) as z:
            data = z.read(hits[0])
    except (zipfile.BadZipFile, OSError, EOFError) as e:  # zlib errors derive from zlib.error
        raise CheckpointError(f"{path}: cannot read member {hits[0]} ({e}); the archive is truncated or corrupt") from e
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read member {hits[0]} ({type(e).__name__}: {e})") from e
    return load_checkpoint_file(f"{path}!{hits[0]}", data=data)


def canonicalize_state_dict(obj: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Unwrap nested containers and strip ``module.`` prefixes, keeping tensors only.

    Args:
        obj: what ``torch.load`` returned, or a state_dict.
        source: how to name the origin in error messages.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: expected a state_dict (a mapping of names to tensors), got {type(obj).__name__}")
    cur: Mapping[str, Any] = obj
    for _ in range(4):
        if any(isinstance(v, torch.Tensor) for v in cur.values()):
            break
        for k in _NEST_KEYS:
            if isinstance(cur.get(k), Mapping):
                cur = cur[k]
                break
        else:
            break
    sd = {str(k): v for k, v in cur.items() if isinstance(v, torch.Tensor)}
    if not sd:
        # A container of several state_dicts (e.g. Super SloMo's {"state_dictFC": ..., "state_dictAT": ...}):
        # flatten to "<entry>.<key>"; the network's ``prepare`` hook maps these to its own keys.
        sd = {
            f"{k}.{sk}": sv
            for k, v in cur.items()
            if isinstance(v, Mapping)
            for sk, sv in v.items()
            if isinstance(sv, torch.Tensor)
        }
    if not sd:
        raise CheckpointError(
            f"{source}: holds no tensors at its top level or under {', '.join(_NEST_KEYS)}; "
            f"top-level keys: {sorted(map(str, obj))[:10]}"
        )
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def describe_mismatch(
    source: str,
    name: str,
    want: Mapping[str, tuple[int, ...]],
    got: Mapping[str, tuple[int, ...]],
    guess: Optional[str] = None,
    limit: int = 8,
) -> str:
    """A readable account of how a state_dict differs from what network ``name`` expects."""
    missing = sorted(set(want) - set(got))
    unexpected = sorted(set(got) - set(want))
    misshaped = sorted(k for k in set(want) & set(got) if tuple(want[k]) != tuple(got[k]))

    def show(keys: list[str], fmt=str) -> str:
        more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
        return ", ".join(fmt(k) for k in keys[:limit]) + more

    lines = [f"{source} does not fit network {name!r}:"]
    if missing:
        lines.append(f"  {len(missing)} missing keys: {show(missing)}")
    if unexpected:
        lines.append(f"  {len(unexpected)} unexpected keys: {show(unexpected)}")
    if misshaped:
        lines.append(
            f"  {len(misshaped)} misshaped keys: "
            + show(misshaped, lambda k: f"{k} (expected {list(want[k])}, got {list(got[k])})")
        )
    if guess:
        lines.append(f"  It looks like a checkpoint of {guess!r}: load it with models.load({guess!r}, ...).")
    return "\n".join(lines)
