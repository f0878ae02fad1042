from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from fauxshop.catalog.images import DEFAULT_MAX_PIXELS, ImageProblem, inspect_image


def image_bytes(fmt: str, size: tuple[int, int] = (48, 32)) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming width x height, with almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def reason_for(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    with pytest.raises(ImageProblem) as caught:
        inspect_image(path, max_pixels)
    assert str(path) in caught.value.detail
    return caught.value.reason


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"])
def test_allowed_formats_give_hash_size_and_format(tmp_path, fmt):
    path = write(tmp_path, f"photo.{fmt.lower()}", image_bytes(fmt))
    info = inspect_image(path, DEFAULT_MAX_PIXELS)
    assert (info.width, info.height, info.format) == (48, 32, fmt)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_file(tmp_path):
    assert reason_for(tmp_path / "nope.png") == "image_missing"


def test_directory_is_not_an_image(tmp_path):
    (tmp_path / "folder.png").mkdir()
    assert reason_for(tmp_path / "folder.png") == "image_missing"


def test_garbage_bytes_are_corrupt(tmp_path):
    assert reason_for(write(tmp_path, "a.png", b"<html>404 not found</html>")) == "image_corrupt"


def test_empty_file_is_corrupt(tmp_path):
    assert reason_for(write(tmp_path, "a.jpg", b"")) == "image_corrupt"


def test_damaged_png_data_is_corrupt(tmp_path):
    data = bytearray(image_bytes("PNG"))
    data[200:260] = b"\0" * 60  # inside the IDAT stream
    assert reason_for(write(tmp_path, "a.png", bytes(data))) == "image_corrupt"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image(tmp_path, fmt):
    data = image_bytes(fmt)
    path = write(tmp_path, f"cut.{fmt.lower()}", data[: len(data) * 2 // 3])
    assert reason_for(path) == "image_truncated"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("fmt", ["PPM", "ICO", "TGA"])
def test_decodable_but_unsupported_format(tmp_path, fmt):
    assert reason_for(write(tmp_path, "a.img", image_bytes(fmt))) == "image_unsupported"


def test_too_many_pixels_for_the_cap(tmp_path):
    path = write(tmp_path, "a.png", image_bytes("PNG", (48, 32)))
    assert reason_for(path, max_pixels=48 * 32 - 1) == "image_too_large"
    assert inspect_image(path, max_pixels=48 * 32).width == 48


def test_crafted_header_is_refused_before_decoding(tmp_path):
    # 8000x8000 = 64M pixels: above our cap, below Pillow's own guard. Decoding the few bytes
    # of data would say "truncated"; the cap must answer first, from the header.
    assert DEFAULT_MAX_PIXELS < 8000 * 8000
    assert reason_for(write(tmp_path, "bomb.png", png_header_only(8000, 8000))) == "image_too_large"


def test_pillow_decompression_bomb_guard_counts_as_too_large(tmp_path):
    path = write(tmp_path, "bomb.png", png_header_only(100_000, 100_000))
    assert reason_for(path, max_pixels=10**12) == "image_too_large"
