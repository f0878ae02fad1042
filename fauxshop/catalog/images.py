"""Look at a catalog photo safely before anything trusts it.

A retailer's image folder holds whatever years of uploads left there: missing
files, half-copied JPEGs, HTML error pages saved as .png, and the odd
decompression bomb. `inspect_image` decodes each file once, in a fixed order of
checks, and says either what the image is or, in one word, why it can't be used:

    image_missing      no such path, not a regular file, or unreadable
    image_corrupt      Pillow cannot identify or decode it
    image_unsupported  decodable, but not one of ALLOWED_FORMATS
    image_too_large    the file is over max_bytes (checked before reading it), width*height
                       is above max_pixels (read from the header, before decoding) or
                       Pillow's own decompression-bomb guard fired
    image_truncated    the data ends before the image does: Pillow says so, or a file
                       that fails to decode lacks its format's end (see `_ends_early`)

Truncation is only detectable because Pillow's `ImageFile.LOAD_TRUNCATED_IMAGES`
stays False; nothing in fauxshop may set it.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from fauxshop.digest import file_sha256

DEFAULT_MAX_PIXELS = 40_000_000
# An 8-bit RGB photo at the pixel cap, stored uncompressed: any real photo under the cap fits.
DEFAULT_MAX_BYTES = 128 << 20

# The formats a camera, a CMS or an export tool produces. GIF is in because old catalogs
# have it (only the first frame is used); ICO, PPM, TGA, EPS and friends are not photos.
ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"})

IMAGE_REASONS = (
    "image_missing",
    "image_corrupt",
    "image_unsupported",
    "image_too_large",
    "image_truncated",
)


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    width: int
    height: int
    format: str


class ImageProblem(Exception):
    """Why an image can't be used: `reason` is a fixed word, `detail` is for people."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def inspect_image(
    path: Path, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES
) -> ImageInfo:
    """Hash and fully decode `path`; raise ImageProblem if it is not a usable photo."""
    data = _read(path, max_bytes)
    try:
        # Pillow warns between MAX_IMAGE_PIXELS and twice that; here a warning is a verdict.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format or "", img.size
                if fmt not in ALLOWED_FORMATS:
                    raise ImageProblem("image_unsupported", f"{path}: format {fmt}")
                if width * height > max_pixels:
                    raise ImageProblem(
                        "image_too_large",
                        f"{path}: {width}x{height} is above the cap of {max_pixels} pixels",
                    )
                img.load()
    except ImageProblem:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageProblem("image_too_large", f"{path}: {e}") from None
    except Exception as e:  # any plugin may fail its own way on hostile bytes
        if isinstance(e, UnidentifiedImageError):
            detail = f"{path}: not an image Pillow can identify"
        else:
            detail = f"{path}: {type(e).__name__}: {e}"
        truncated = "truncated" in str(e).lower() or _ends_early(data)
        raise ImageProblem("image_truncated" if truncated else "image_corrupt", detail) from None
    return ImageInfo(file_sha256(data), width, height, fmt)


def _ends_early(data: bytes) -> bool:
    """Whether undecodable `data` starts like a photo format but lacks that format's end.

    Pillow words a cut-off file many ways (JPEG "Truncated File Read" in the header, WebP
    "could not create decoder object"), so the file's own structure decides instead.
    """
    if data.startswith(b"\xff\xd8"):  # JPEG: ends with the EOI marker
        return not data.rstrip(b"\0").endswith(b"\xff\xd9")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):  # PNG: ends with the IEND chunk
        return b"IEND" not in data[-12:]
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":  # RIFF: header states the size
        return int.from_bytes(data[4:8], "little") + 8 > len(data)
    if data.startswith((b"GIF87a", b"GIF89a")):  # GIF: ends with the ';' trailer
        return not data.endswith(b";")
    return False


def _read(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; its size is checked on the open file before anything is read."""
    try:
        if not path.exists():
            raise ImageProblem("image_missing", f"{path}: no such file")
        if not path.is_file():
            raise ImageProblem("image_missing", f"{path}: not a regular file")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(max_bytes + 1) if size <= max_bytes else b""
    except (OSError, ValueError) as e:  # permission, I/O error, NUL byte in the name
        raise ImageProblem("image_missing", f"{path}: cannot read: {e}") from None
    if size > max_bytes or len(data) > max_bytes:  # the second: it grew while being read
        detail = f"{path}: {max(size, len(data)):,} bytes, above the cap of {max_bytes:,} bytes"
        raise ImageProblem("image_too_large", detail)
    return data
