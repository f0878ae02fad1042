"""One progress bar style for every long step: items/s and ETA on stderr."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def bar(total: int | None, desc: str, unit: str = "it", initial: int = 0, enabled=True) -> tqdm:
    """A bar to update by hand (training loops); silent when FAUXSHOP_QUIET is set."""
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=bool(os.environ.get("FAUXSHOP_QUIET")) or not enabled,
        dynamic_ncols=True,
        mininterval=0.5,
    )


def progress(
    items: Iterable[T], desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """Wrap `items` in a bar that advances as they are consumed."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    with bar(total, desc, unit) as b:
        for item in items:
            yield item
            b.update(1)
