"""restoration_lib.io: a bad-input corpus generated here, each case loads correctly or raises ImageReadError."""
from __future__ import annotations

import io as pyio
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restoration_lib import ImageReadError, ImageWriteError
from restoration_lib.io import LoadedImage, atomic_path, read_image, to_tensor, to_uint8, write_image


def _gradient(w=48, h=32):
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)]).astype(np.uint8)


def _png_header_only(path: Path, w: int, h: int):
    """A PNG whose IHDR claims w×h but carries almost no data (a decompression-bomb header)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
                     + chunk(b"IEND", b""))


@pytest.fixture
def corpus(tmp_path):
    rgb = _gradient()
    files = {}
    p = tmp_path / "ok.jpg"; Image.fromarray(rgb).save(p, quality=95); files["jpeg"] = p
    data = p.read_bytes()
    p = tmp_path / "truncated.jpg"; p.write_bytes(data[: len(data) // 2]); files["truncated"] = p
    p = tmp_path / "empty.png"; p.write_bytes(b""); files["empty"] = p
    p = tmp_path / "text.png"; p.write_text("this is not an image\n" * 10); files["text"] = p
    p = tmp_path / "gray16.png"
    Image.fromarray((np.linspace(0, 65535, 48 * 32).reshape(32, 48)).astype(np.uint16)).save(p); files["gray16"] = p
    p = tmp_path / "cmyk.jpg"; Image.fromarray(rgb).convert("CMYK").save(p, quality=95); files["cmyk"] = p
    pal = Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    p = tmp_path / "palette.png"; pal.save(p, transparency=0); files["palette_transparent"] = p
    im = Image.fromarray(rgb)
    exif = im.getexif(); exif[0x0112] = 6  # rotate 90° clockwise on display
    p = tmp_path / "rotated.jpg"; im.save(p, exif=exif, quality=95); files["exif_rotated"] = p
    p = tmp_path / "one.png"; Image.fromarray(np.array([[[10, 20, 30]]], np.uint8)).save(p); files["1x1"] = p
    p = tmp_path / "bomb.png"; _png_header_only(p, 100_000, 100_000); files["huge_header"] = p
    p = tmp_path / "la.png"; Image.fromarray(rgb[..., 0]).convert("LA").save(p); files["la"] = p
    for ext in ("bmp", "tiff", "webp"):
        p = tmp_path / f"ok.{ext}"; Image.fromarray(rgb).save(p); files[ext] = p
    return files


EXPECT_ERROR = {"truncated", "empty", "text", "huge_header"}


@pytest.mark.timeout(60)
def test_every_corpus_case_loads_or_raises_the_library_error(corpus):
    for name, path in corpus.items():
        if name in EXPECT_ERROR:
            with pytest.raises(ImageReadError) as e:
                read_image(path)
            assert str(path) in str(e.value), f"{name}: the error must name the file: {e.value}"
        else:
            img = read_image(path)
            assert img.rgb.dtype == np.uint8 and img.rgb.ndim == 3 and img.rgb.shape[2] == 3, name


def test_reasons_are_specific(corpus):
    for name, word in [("truncated", "truncated"), ("empty", "empty"), ("text", "not an image"),
                       ("huge_header", "megapixels")]:
        with pytest.raises(ImageReadError, match=word):
            read_image(corpus[name])


def test_modes(corpus):
    g16 = read_image(corpus["gray16"], as_float=True)
    assert g16.was_gray and g16.bit_depth == 16 and g16.rgb.dtype == np.float32
    assert g16.rgb.max() == pytest.approx(1.0) and g16.rgb.min() == 0.0
    assert len(np.unique(g16.rgb)) > 256  # 16-bit precision kept in float mode
    cmyk = read_image(corpus["cmyk"])
    assert not cmyk.was_gray and np.abs(cmyk.rgb.astype(int) - _gradient()).mean() < 8
    pal = read_image(corpus["palette_transparent"])
    assert pal.alpha is not None and pal.alpha.shape == pal.rgb.shape[:2] and (pal.alpha == 0).any()
    la = read_image(corpus["la"])
    assert la.was_gray
    one = read_image(corpus["1x1"])
    assert one.rgb.shape == (1, 1, 3) and one.rgb[0, 0].tolist() == [10, 20, 30]


def test_exif_orientation_applied(corpus):
    img = read_image(corpus["exif_rotated"])
    assert img.rgb.shape[:2] == (48, 32)  # 48 wide × 32 high, turned upright


def test_16bit_rgb_png_keeps_precision(tmp_path):
    import cv2
    a = (np.random.default_rng(0).integers(0, 65535, (8, 9, 3))).astype(np.uint16)
    p = tmp_path / "rgb16.png"
    cv2.imwrite(str(p), a[..., ::-1])
    img = read_image(p, as_float=True)
    assert img.bit_depth == 16
    np.testing.assert_allclose(img.rgb, a / 65535.0, atol=1e-6)


def test_gray_rgb_detected_and_arrays_accepted():
    g = np.repeat(np.arange(12, dtype=np.uint8).reshape(3, 4, 1), 3, axis=2)
    assert read_image(g).was_gray
    assert not read_image(_gradient()).was_gray
    f = read_image(np.full((2, 2, 4), 0.5, np.float32))
    assert f.alpha is not None and f.rgb.dtype == np.uint8 and f.rgb[0, 0, 0] == 128
    with pytest.raises(ImageReadError, match="expected shape"):
        read_image(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ImageReadError, match=r"\[0, 1\]"):
        read_image(np.full((2, 2, 3), 3.0))


def test_bytes_and_pil(corpus):
    b = corpus["jpeg"].read_bytes()
    assert read_image(b).rgb.shape == (32, 48, 3)
    assert read_image(Image.open(corpus["jpeg"])).rgb.shape == (32, 48, 3)
    with pytest.raises(ImageReadError):
        read_image(b"")


def test_write_is_atomic_and_never_over_an_input(tmp_path, corpus):
    src = corpus["jpeg"]
    before = src.read_bytes()
    with pytest.raises(ImageWriteError, match="overwrite an input"):
        write_image(src, _gradient(), protect=[src])
    assert src.read_bytes() == before
    out = write_image(tmp_path / "sub" / "out.png", _gradient(), alpha=np.full((32, 48), 200, np.uint8))
    assert out.stat().st_mode & 0o044  # readable by others, not mkstemp's 0600
    back = read_image(out)
    assert np.array_equal(back.rgb, _gradient()) and back.alpha is not None and back.alpha[0, 0] == 200
    # a failure while writing leaves neither a partial file nor a temporary one
    d = tmp_path / "fresh"
    d.mkdir()
    with pytest.raises(RuntimeError):
        with atomic_path(d / "x.png") as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert list(d.iterdir()) == []  # no x.png, no leftover temporary file
    with pytest.raises(ImageWriteError, match="unknown image format"):
        write_image(tmp_path / "out.xyz", _gradient())


def test_tensor_round_trip():
    a = _gradient()
    t = to_tensor(a)
    assert t.shape == (1, 3, 32, 48) and t.dtype == torch.float32 and 0 <= t.min() and t.max() <= 1
    assert np.array_equal(to_uint8(t), a)
    assert isinstance(read_image(a), LoadedImage)
