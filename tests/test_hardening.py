"""A user's mistakes and hostile inputs: a clear one-line error before any work, no traceback, no lost output."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from restoration_lib.cli import main
from restoration_lib.errors import CheckpointError
from restoration_lib.io import ImageTooLargeError, OutputExistsError, read_image, write_image

ROOT = Path(__file__).resolve().parents[1]


def _png_header_only(path: Path, w: int, h: int) -> Path:
    """A tiny PNG whose header declares w×h (8-bit gray) with a few bytes of image data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    body = zlib.compress(b"\0" * (w + 1) * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def _run_cli(args, capsys):
    rc = main([str(a) for a in args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _one_line_error(err: str, *names: str) -> None:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in names:
        assert n in lines[0], (n, lines[0])


# ----------------------------------------------------------------------------------------------- decode budget


def test_declared_size_over_the_budget_is_refused_before_decoding(tmp_path, capsys):
    bomb = _png_header_only(tmp_path / "bomb.png", 12000, 12000)
    assert bomb.stat().st_size < 10_000
    with pytest.raises(ImageTooLargeError, match=r"12000×12000.*144.0 megapixels.*max_pixels="):
        read_image(bomb)
    rc, _, err = _run_cli(["photo", bomb, tmp_path / "out.png", "--no-colorize", "--repair-mode", "classical"],
                          capsys)
    assert rc == 1
    _one_line_error(err, str(bomb), "12000×12000", "--max-pixels 144")
    assert not (tmp_path / "out.png").exists()


def test_max_pixels_lowers_and_raises_the_budget(tmp_path):
    p = write_image(tmp_path / "a.png", np.zeros((40, 50, 3), np.uint8))
    with pytest.raises(ImageTooLargeError):
        read_image(p, max_pixels=1000)
    assert read_image(p, max_pixels=2000).size == (50, 40)


# ----------------------------------------------------------------------------------------------- races


_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import numpy as np
    from restoration_lib.io import OutputExistsError, atomic_path, write_image
    dst, go, value = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    try:
        with atomic_path(dst, overwrite=False) as tmp:   # both pass the "exists?" check here
            Path(str(go) + f".ready{value}").touch()
            while not go.exists():
                time.sleep(0.01)
            write_image(tmp.with_suffix(".png"), np.full((8, 8, 3), value, np.uint8))
            tmp.with_suffix(".png").replace(tmp)
    except OutputExistsError as e:
        print(e)
        sys.exit(3)
""")


def test_two_processes_writing_one_output_cannot_both_win(tmp_path):
    dst, go = tmp_path / "out.png", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(dst), str(go), str(v)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for v in (10, 200)]
    for v in (10, 200):
        for _ in range(3000):
            if Path(f"{go}.ready{v}").exists() or any(p.poll() is not None for p in procs):
                break
            import time

            time.sleep(0.01)
    go.touch()
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 3], results
    loser = next(r for r in results if r[0] == 3)
    assert "appeared while this run worked" in loser[1] and "kept as" in loser[1]
    kept = [f for f in tmp_path.iterdir() if ".conflict-" in f.name]
    assert len(kept) == 1
    winner_value = int(read_image(dst).rgb[0, 0, 0])
    assert {winner_value, int(read_image(kept[0]).rgb[0, 0, 0])} == {10, 200}  # no work lost
    assert not [f for f in tmp_path.iterdir() if ".tmp" in f.name]


def test_write_image_without_overwrite_refuses_an_existing_file(tmp_path):
    p = write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(OutputExistsError):
        write_image(p, np.ones((8, 8, 3), np.uint8), overwrite=False)
    assert read_image(p).rgb.max() == 0


# ----------------------------------------------------------------------------------------------- checks first


@pytest.fixture()
def photo(tmp_path):
    return write_image(tmp_path / "in.png", np.full((32, 32, 3), 90, np.uint8))


def test_output_folder_not_writable(photo, tmp_path, capsys):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        rc, _, err = _run_cli(["photo", photo, ro / "out.png", "--repair-mode", "classical"], capsys)
    finally:
        ro.chmod(0o700)
    assert rc == 1
    _one_line_error(err, str(ro), "not writable")


@pytest.mark.parametrize("case", ["parent_is_file", "output_is_folder", "unknown_suffix", "render_factor",
                                  "device_cuda", "gpu_0", "device_name"])
def test_user_mistakes_are_one_line_naming_the_file_or_flag(case, photo, tmp_path, capsys):
    base = ["photo", photo]
    if case == "parent_is_file":
        (tmp_path / "file").write_text("x")
        args, names = base + [tmp_path / "file" / "out.png"], [str(tmp_path / "file"), "is a file"]
    elif case == "output_is_folder":
        (tmp_path / "dir").mkdir()
        args, names = base + [tmp_path / "dir"], [str(tmp_path / "dir"), "is a folder"]
    elif case == "unknown_suffix":
        args, names = base + [tmp_path / "out.xyz"], ["out.xyz", ".xyz"]
    elif case == "render_factor":
        args, names = base + [tmp_path / "o.png", "--render-factor", "-5"], ["--render-factor -5"]
    elif case in ("device_cuda", "gpu_0"):
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        extra = ["--device", "cuda"] if case == "device_cuda" else ["--GPU", "0"]
        args, names = base + [tmp_path / "o.png", *extra], ["--device", "no CUDA device"]
    else:
        args, names = base + [tmp_path / "o.png", "--device", "banana"], ["--device banana"]
    rc, out, err = _run_cli(args + ["--repair-mode", "classical", "--no-colorize"], capsys)
    assert rc == 1
    _one_line_error(err, *names)
    assert "wrote" not in out


def test_debug_shows_the_traceback(photo, tmp_path, capsys):
    rc, _, err = _run_cli(["photo", photo, tmp_path / "o.png", "--render-factor", "-5", "--debug"], capsys)
    assert rc == 1  # a RestorationError: still one line; --debug adds the traceback
    (tmp_path / "f").write_text("x")
    rc, _, err = _run_cli(["--debug", "repair", photo, tmp_path / "f" / "o.png", "--classical"], capsys)
    assert rc == 1 and "Traceback" in err


@pytest.mark.parametrize("shape", [(1, 1), (1, 10000), (10000, 1)])
def test_tiny_images_name_the_file(shape, tmp_path, capsys):
    p = write_image(tmp_path / f"tiny{shape[0]}x{shape[1]}.png", np.full((*shape, 3), 128, np.uint8))
    rc, _, err = _run_cli(["photo", p, tmp_path / "o.png", "--repair-mode", "classical", "--no-colorize",
                           "--no-progress"], capsys)
    assert rc == 1
    _one_line_error(err, str(p), "too small")


def test_existing_output_refused_before_work_and_overwrite_replaces(photo, tmp_path, capsys):
    out = write_image(tmp_path / "o.png", np.zeros((4, 4, 3), np.uint8))
    rc, _, err = _run_cli(["photo", photo, out, "--repair-mode", "classical", "--no-colorize"], capsys)
    assert rc == 1
    _one_line_error(err, str(out), "--overwrite")


# ----------------------------------------------------------------------------------------------- checkpoints


class _Payload:
    def __reduce__(self):
        return (print, ("payload ran",))


def test_a_checkpoint_with_a_payload_is_refused_without_torchs_hint(tmp_path, capfd):
    from restoration_lib.models.loading import load_checkpoint_file

    p = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(2), "x": _Payload()}, p)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint_file(p)
    msg = str(e.value)
    assert "not a plain checkpoint" in msg and "unless you trust its source" in msg
    assert "will likely succeed" not in msg and "Re-running" not in msg
    assert "payload ran" not in capfd.readouterr().out


# ----------------------------------------------------------------------------------------------- folder


def test_folder_says_once_which_files_it_skipped_and_why(tmp_path, capsys):
    src = tmp_path / "scans"
    src.mkdir()
    write_image(src / "good.png", np.full((24, 24, 3), 100, np.uint8))
    (src / "anim.gif").write_bytes(b"GIF89a" + b"\0" * 20)
    (src / "notes.txt").write_text("hello")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    rc, out, err = _run_cli(["folder", src, tmp_path / "out", "--repair-mode", "classical", "--no-colorize",
                             "--no-faces", "--no-progress"], capsys)
    both = out + err
    assert rc == 1  # one photo failed
    assert both.count("anim.gif") == 1 and both.count("notes.txt") == 1
    assert both.count("broken.png") == 1, both
    assert "1 restored" in out and "2 not photos" in out
    assert "Traceback" not in both


# ----------------------------------------------------------------------------------------------- fetch, demo


def test_a_failed_fetch_leaves_no_empty_folder_or_lock(tmp_path):
    import socket

    from restoration_lib import weights
    from restoration_lib.errors import WeightsDownloadError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connection refused
    reg = tmp_path / "registry.toml"
    reg.write_text(f'["test-model"]\nfile = "model.pth"\nsubdir = "deep/test"\nnetworks = ["n"]\nlicence = "MIT"\n'
                   f'[["test-model".sources]]\nurl = "http://127.0.0.1:{port}/model.pth"\nkind = "mirror"\n')
    wdir = tmp_path / "weights"
    with pytest.raises(WeightsDownloadError):
        weights.fetch("test-model", weights_dir=wdir, progress=False, entries=reg)
    assert not wdir.exists()  # nothing left: no deep/test/, no .fetch.lock, no weights folder made for nothing
    wdir.mkdir()
    with pytest.raises(WeightsDownloadError):
        weights.fetch("test-model", weights_dir=wdir, progress=False, entries=reg)
    assert wdir.is_dir() and list(wdir.iterdir()) == []


def test_demo_compare_sheet_fills_its_width():
    from restoration_lib.demo import compare_sheet

    photo, clip = np.zeros((100, 100, 3), np.uint8), np.zeros((60, 100, 3), np.uint8)
    sheet = compare_sheet([[("before", photo), ("classical repair", photo)],
                           [("frame 0", clip)] * 4], height=64, fill_width=True)
    assert (sheet[:, -1] == 255).mean() < 0.2  # the right edge is picture, not padding
    assert sheet.shape[1] == 4 * round(100 * 64 / 60) and sheet.shape[0] > 2 * (64 + 4)  # row 1 grew


def test_repair_of_a_tiny_image_names_the_file(tmp_path, capsys):
    p = write_image(tmp_path / "tiny.png", np.full((1, 300, 3), 128, np.uint8))
    rc, _, err = _run_cli(["repair", p, tmp_path / "o.png", "--classical", "--no-faces", "--no-progress"], capsys)
    assert rc == 1
    _one_line_error(err, str(p), "too small")
