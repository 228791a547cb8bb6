"""Every ``restoration-lib ...`` line of README.md's code blocks runs as written with an empty weights folder:
exit 0, an output, and (where a step lacked its weights) one summary line with the command that fetches them."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from restoration_lib.io import write_image

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = []
    for lang, block in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S):
        if lang not in ("bash", "sh", "console", "shell", ""):
            continue
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("restoration-lib"):
                lines.append(line)
    return lines


def _photo(h: int = 40, w: int = 56, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    g = 60 + 120 * (x / w) + 30 * np.sin(y / 5.0) + rng.normal(0, 6, (h, w))
    g[h // 2, :] = 250  # a scratch
    return np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, 2)


def _video(path: Path, frames: int = 4, size: tuple[int, int] = (48, 32), fps: int = 10) -> None:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            img = np.roll(_photo(size[1], size[0], seed=i), 2 * i, axis=1)
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def _make_inputs(words: list[str], cwd: Path) -> list[Path]:
    """Create every input the command names (by its suffix; a name ending in / is a folder of photos), return
    the paths it should write."""
    cmd = words[1] if len(words) > 1 else ""
    # file names: the words that are not flags or flag values (numbers such as 30 or 59.94)
    paths = [w for w in words[2:] if not w.startswith("-") and not re.fullmatch(r"[\d.:/]+", w)]
    outputs = []
    for k, name in enumerate(paths):
        p = cwd / name
        is_input = k == 0
        if not is_input:
            outputs.append(p)
            continue
        if name.endswith("/") or cmd == "folder":
            p.mkdir(parents=True, exist_ok=True)
            for i in range(2):
                write_image(p / f"scan{i}.png", _photo(seed=i))
        elif p.suffix.lower() in (".mp4", ".mkv", ".mov"):
            _video(p)
        else:
            write_image(p, _photo())
    return outputs


COMMANDS = readme_commands()


def test_readme_has_cli_examples():
    assert any(c.split()[1:2] == ["photo"] for c in COMMANDS), COMMANDS
    assert len(COMMANDS) >= 4


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_runs_without_weights(line, tmp_path):
    words = shlex.split(line)
    outputs = _make_inputs(words, tmp_path)
    empty = tmp_path / "empty-weights"
    empty.mkdir()
    env = {**os.environ, "RESTORATION_WEIGHTS_DIR": str(empty), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "restoration_lib", *words[1:]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    if not outputs:
        assert proc.stdout.strip()
        return
    for out in outputs:
        assert out.exists() and (out.is_dir() or out.stat().st_size > 0), out
        if out.is_dir():
            assert any(f.suffix == ".png" for f in out.iterdir())
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith("summary:")]
    assert len(summary) == 1, proc.stdout
    assert f"{sys.executable} -m restoration_lib weights fetch" in summary[0]
    assert "deoldify" in summary[0] and "bopbtl-global" in summary[0]
    assert proc.stdout.strip().splitlines()[-1] == summary[0]  # the last line of the run


def test_colour_from_hints_when_deoldify_is_missing(tmp_path, monkeypatch, capsys):
    """Without DeOldify's weights a photo that has hints (PHOTO.hints.json) is coloured from them
    (``restoration_lib.colorize.hints``), and the summary says so; --strict refuses."""
    import json

    from restoration_lib.cli import main
    from restoration_lib.io import read_image

    src = write_image(tmp_path / "old.png", _photo())
    (tmp_path / "old.hints.json").write_text(json.dumps({"hints": [[3, 4, [200, 40, 40]]]}))
    empty = tmp_path / "w"
    empty.mkdir()
    out = tmp_path / "out.png"
    args = ["photo", str(src), str(out), "--no-repair", "--weights-dir", str(empty), "--no-progress"]
    assert main(args) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "colour from hints" in summary and "deoldify-artistic" in summary
    rgb = read_image(out).rgb
    assert (rgb[..., 0].astype(int) - rgb[..., 2]).mean() > 20
    assert main(args + ["--overwrite", "--strict"]) == 1
    assert "no classical fallback" in capsys.readouterr().err


def test_the_anchors_spellings_are_aliases(tmp_path, capsys):
    from restoration_lib.cli import build_parser, main
    from restoration_lib.cli._common import device_from

    p = build_parser()
    for flag in ("--with-scratch", "--with_scratch", "--scratch"):
        assert p.parse_args(["photo", "a.png", "b.png", flag]).scratch
    a = p.parse_args(["photo", "a.png", "b.png", "--render_factor", "12", "--HR", "--GPU", "-1"])
    assert (a.render_factor, a.hr, device_from(a)) == (12, True, "cpu")
    a = p.parse_args(["repair", "--input_folder", "in", "--output_folder", "out", "--with_scratch", "--GPU", "-1"])
    assert (a.input_folder, a.output_folder, a.with_scratch, device_from(a)) == ("in", "out", True, "cpu")
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "a.png", _photo())
    assert main(["repair", "--input_folder", str(src), "--output_folder", str(tmp_path / "out"), "--classical",
                 "--no-faces", "--GPU", "-1", "--no-progress"]) == 0
    assert (tmp_path / "out" / "a.png").is_file()
