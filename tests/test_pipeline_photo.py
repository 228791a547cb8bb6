"""restore_photo / restore_folder / the photo commands, with stand-in stages (plumbing) on real photos."""
from __future__ import annotations

import html.parser
import json
import shutil

import numpy as np
import pytest

from _pipeline_fakes import Invert, JitterColorizer
from restoration_lib.errors import ImageWriteError, MissingWeightsError
from restoration_lib.io import read_image, write_image
from restoration_lib.pipeline import ColorizeOptions, ColorizeStage, PhotoPipeline, restore_folder, restore_photo
from restoration_lib.pipeline.folder import CONTACT_SHEET_NAME, MANIFEST_NAME


def test_restore_photo_keeps_every_stage(data_dir):
    path = data_dir / "old" / "bw" / "Olds1875.png"
    r = restore_photo(path, repair=Invert(), colorize=JitterColorizer())
    src = read_image(path).rgb
    assert np.array_equal(r.input, src)
    assert np.array_equal(r.repaired, 255 - src)
    assert r.scratch_mask is None and r.colorized is not None and r.final is r.colorized
    assert r.colorized.shape == src.shape and r.colorized.dtype == np.uint8
    assert [name for name, _ in r.stages()] == ["input", "repaired", "colorized"]
    assert set(r.seconds) == {"repair", "colorize"}
    r2 = restore_photo(path, repair=False, colorize=False)
    assert r2.repaired is None and r2.colorized is None and np.array_equal(r2.final, src)


def test_alpha_passes_through(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., :3] = 90
    rgba[..., 3] = np.linspace(0, 255, 30, dtype=np.uint8)[None, :]
    r = restore_photo(rgba, repair=False, colorize=JitterColorizer())
    assert np.array_equal(r.alpha, rgba[..., 3])


def test_options_are_checked():
    with pytest.raises(TypeError, match="unknown option"):
        PhotoPipeline(repair=False, colorize={"render_factr": 10})
    with pytest.raises(ValueError, match="render_factor"):
        ColorizeOptions(render_factor=0)
    with pytest.raises(ValueError, match="colorize model"):
        ColorizeOptions(model="vivid")
    # a callable with options
    seen = {}

    def col(rgb, render_factor, post_process, watermark):
        seen.update(rf=render_factor, pp=post_process)
        return rgb

    stage = ColorizeStage(col, ColorizeOptions(render_factor=7))
    restore_photo(np.zeros((8, 8, 3), np.uint8), repair=False, colorize=stage)
    assert seen == {"rf": 7, "pp": True}


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src"):
                self.refs.append(v)


def test_folder_with_a_corrupt_file_reports_it_and_resumes(data_dir, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for name in ("a.png", "b.png"):
        shutil.copy(data_dir / "old" / "scratched" / name, src / name)
    shutil.copy(data_dir / "old" / "bw" / "camera.png", src / "sub" / "camera.png")
    shutil.copy(data_dir / "old" / "faded" / "h.png", src / "h.png")
    (src / "broken.jpg").write_bytes((data_dir / "old" / "faded" / "a.png").read_bytes()[:300])  # truncated
    (src / "notes.txt").write_text("not a photo")
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    dst = tmp_path / "out"
    col = JitterColorizer()
    pipe = PhotoPipeline(repair=False, colorize=col)
    rep = restore_folder(src, dst, pipeline=pipe, recursive=True, progress=False)

    assert sorted(p.name for p in rep.done) == ["a.png", "b.png", "camera.png", "h.png"]
    assert [p.name for p, _ in rep.failed] == ["broken.jpg"] and "ImageReadError" in rep.failed[0][1]
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before  # inputs untouched
    out = read_image(dst / "sub" / "camera.png")
    assert out.rgb.shape == read_image(src / "sub" / "camera.png").rgb.shape and not out.was_gray
    assert not list(dst.rglob(".*.tmp*"))  # no temp files left

    sheet = dst / CONTACT_SHEET_NAME
    page = sheet.read_text()
    assert page.count("<tr>") == 1 + 4 and "broken.jpg" in page
    parser = _Links()
    parser.feed(page)
    assert len(parser.refs) == 16
    for ref in parser.refs:
        assert not ref.startswith("/") and (dst / ref).resolve().is_file(), ref  # relative, and there

    # a re-run skips what is done (same bytes, same settings) and redoes a photo whose input changed
    calls = col.calls
    write_image(src / "h.png", 255 - read_image(src / "h.png").rgb)
    rep2 = restore_folder(src, dst, pipeline=pipe, recursive=True, progress=False)
    assert [p.name for p in rep2.done] == ["h.png"] and len(rep2.skipped) == 3 and len(rep2.failed) == 1
    assert col.calls == calls + 1
    manifest = json.loads((dst / MANIFEST_NAME).read_text())
    assert set(manifest["photos"]) == {"a.png", "b.png", "h.png", "sub/camera.png"}
    # other settings redo everything
    rep3 = restore_folder(src, dst, repair=Invert(), colorize=False, recursive=False, progress=False)
    assert len(rep3.done) == 3 and not rep3.skipped  # not recursive this time: sub/ left out


def test_folder_refusals(tmp_path):
    (tmp_path / "in").mkdir()
    with pytest.raises(ImageWriteError):
        restore_folder(tmp_path / "in", tmp_path / "in", repair=False, colorize=False, progress=False)
    with pytest.raises(NotADirectoryError):
        restore_folder(tmp_path / "nope", tmp_path / "out", repair=False, colorize=False, progress=False)


def test_missing_weights_stop_the_folder_before_any_photo(data_dir, tmp_path):
    class NeedsWeights:
        def __call__(self, rgb, **kw):
            raise MissingWeightsError("checkpoint 'x' is not on disk")

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(data_dir / "old" / "scratched" / "a.png", src / "a.png")
    shutil.copy(data_dir / "old" / "scratched" / "b.png", src / "b.png")
    with pytest.raises(MissingWeightsError):
        restore_folder(src, tmp_path / "out", repair=False, colorize=NeedsWeights(), progress=False)
