"""Look at a catalog photo safely before anything trusts it.

A retailer's image folder holds whatever years of uploads left there: missing
files, half-copied JPEGs, HTML error pages saved as .png, and the odd
decompression bomb. `inspect_image` decodes each file once, in a fixed order of
checks, and says either what the image is or, in one word, why it can't be used:

    image_missing      no such path, not a regular file, or unreadable
    image_corrupt      Pillow cannot identify or decode it
    image_unsupported  decodable, but not one of ALLOWED_FORMATS
    image_too_large    width*height above max_pixels (read from the header, before
                       decoding) or Pillow's own decompression-bomb guard fired
    image_truncated    the data ends before the image does

Truncation is only detectable because Pillow's `ImageFile.LOAD_TRUNCATED_IMAGES`
stays False; nothing in fauxshop may set it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from fauxshop.digest import file_sha256

DEFAULT_MAX_PIXELS = 40_000_000

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


def inspect_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Hash and fully decode `path`; raise ImageProblem if it is not a usable photo."""
    data = _read(path)
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
    except UnidentifiedImageError:
        raise ImageProblem("image_corrupt", f"{path}: not an image Pillow can identify") from None
    except Exception as e:  # any plugin may fail its own way on hostile bytes
        reason = "image_truncated" if "truncated" in str(e) else "image_corrupt"
        raise ImageProblem(reason, f"{path}: {type(e).__name__}: {e}") from None
    return ImageInfo(file_sha256(data), width, height, fmt)


def _read(path: Path) -> bytes:
    try:
        if not path.exists():
            raise ImageProblem("image_missing", f"{path}: no such file")
        if not path.is_file():
            raise ImageProblem("image_missing", f"{path}: not a regular file")
        return path.read_bytes()
    except (OSError, ValueError) as e:  # permission, I/O error, NUL byte in the name
        raise ImageProblem("image_missing", f"{path}: cannot read: {e}") from None
