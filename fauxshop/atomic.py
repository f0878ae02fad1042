"""Write files so a reader never sees half of one: write a temp file, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_read_umask()  # what open() would give a new file here


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, keep_suffix: bool = False, fsync: bool = True
) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it replaces `path` in one rename.

    keep_suffix: the temp name ends in `path`'s extension, for writers that pick the format
    from it. fsync=False: the caller syncs a whole batch itself (one fsync per file is slow).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if keep_suffix else ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(_FILE_MODE)  # mkstemp makes 0600; outputs get the usual mode
    try:
        yield tmp_path
        if fsync:
            with open(tmp_path, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temp file for writing; it becomes `path` only if the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp folder beside `path`; on success it takes `path`'s place.

    A folder cannot be renamed over a non-empty one, so the old folder is first renamed
    aside (`NAME.old`) and removed after the swap; `recover_dir` finds it again if a crash
    fell between the two renames.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp.chmod(0o777 & ~_read_umask())
    old = path.with_name(path.name + ".old")
    try:
        yield tmp
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def recover_dir(path: str | os.PathLike) -> Path:
    """`path`, or its `.old` copy when a crash in `atomic_dir` left only that."""
    path = Path(path)
    old = path.with_name(path.name + ".old")
    if not path.exists() and old.exists():
        os.replace(old, path)
    return path
