"""One progress bar style for every long step: items/s and ETA on stderr."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(
    items: Iterable[T], desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """Wrap `items` in a bar; silent when FAUXSHOP_QUIET is set (tests, scripts)."""
    disable = bool(os.environ.get("FAUXSHOP_QUIET"))
    return iter(
        tqdm(
            items,
            desc=desc,
            total=total,
            unit=unit,
            file=sys.stderr,
            disable=disable,
            dynamic_ncols=True,
            mininterval=0.5,
        )
    )
