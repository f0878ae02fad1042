"""sha256 of a file's bytes: the one hash that says a file is the one recorded.

Weights sidecars, archive fingerprints, image records and stats caches all check files by
this digest, so it is computed one way everywhere: from the bytes in hand, or streamed from
disk in blocks so a large archive is never held in memory.
"""

from __future__ import annotations

import hashlib
import os


def file_sha256(file: bytes | str | os.PathLike) -> str:
    """Hex sha256 of a file, given as its bytes or as its path."""
    if isinstance(file, bytes | bytearray | memoryview):
        return hashlib.sha256(file).hexdigest()
    with open(file, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
