"""Pack kept products into a training archive and a text corpus.

The archive (its format is `catalog/archive.py`'s) holds each kept photo letterboxed to
one size, with its label and fauxshop's extras (label names, skus, attributes, splits).
The corpus beside it holds one JSON record per kept product for the text model.

The two are one result written as two files: the corpus lands first, then the archive, which
records the corpus's sha256, so a pack killed between the two renames leaves a pair that
`corpus_path` refuses rather than one that silently disagrees. A lock beside the archive keeps
two packs from writing it at once, and lets the next pack remove a killed one's temp files.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageColor

from fauxshop.atomic import atomic_write_bytes
from fauxshop.catalog.archive import (
    corpus_sha256,
    member_name,
    metadata,
    open_archive,
    write_archive,
)
from fauxshop.catalog.store import Store
from fauxshop.digest import file_sha256
from fauxshop.errors import FauxshopError
from fauxshop.pixels import letterbox, png_bytes
from fauxshop.progress import progress


@dataclass(frozen=True)
class PackConfig:
    height: int
    width: int
    background: tuple[int, int, int] = (255, 255, 255)
    split: str | None = None  # pack one split only (None: all)

    def __post_init__(self):
        for side in (self.height, self.width):
            if side < 4 or side & (side - 1):
                raise FauxshopError(
                    f"pack: size {self.height}x{self.width}: sides must be powers of two >= 4"
                )


def parse_size(text: str) -> tuple[int, int]:
    """'64' → (64, 64); '128x64' → (128, 64) as height x width."""
    parts = text.lower().split("x")
    try:
        sides = [int(p) for p in parts]
    except ValueError:
        sides = []
    if len(sides) == 1:
        sides = sides * 2
    if len(sides) != 2:
        raise FauxshopError(f"size {text!r}: expected N or HxW, e.g. 64 or 128x64")
    return sides[0], sides[1]


def parse_colour(text: str) -> tuple[int, int, int]:
    """A colour name or #rrggbb, as Pillow understands it."""
    try:
        return ImageColor.getrgb(text)[:3]
    except ValueError as e:
        raise FauxshopError(f"background {text!r}: not a colour name or #rrggbb") from e


def _corpus_beside(archive: Path) -> Path:
    return archive.with_name(archive.stem + ".corpus.jsonl")


def corpus_path(archive: Path) -> Path:
    """Where the text corpus of an archive lives: `NAME.corpus.jsonl` beside `NAME.zip`.

    Readers of the pair find the corpus here, so here one that is not the corpus packed with
    the archive (the archive recorded another sha256) is refused.
    """
    archive = Path(archive)
    path = _corpus_beside(archive)
    if path.is_file() and archive.is_file():
        with open_archive(archive) as zf:
            recorded = corpus_sha256(metadata(zf) or {})
        if recorded is not None and recorded != file_sha256(path):
            raise FauxshopError(
                f"{path}: not the corpus packed with {archive.name} (a pack stopped between "
                "writing the two); run pack again"
            )
    return path


@contextlib.contextmanager
def _packing(out: Path) -> Iterator[None]:
    """Hold `out`'s pack lock, after removing the temp files a killed pack left beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_name(f".{out.name}.lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FauxshopError(f"{out}: another pack is writing it; wait for it to end") from None
        for name in (out.name, _corpus_beside(out).name):  # atomic_path's `.NAME.*.tmp`
            for stale in out.parent.glob(f".{glob.escape(name)}.*.tmp"):
                stale.unlink(missing_ok=True)
        yield


def pack(store: Store, out: Path, config: PackConfig) -> dict:
    """Write the archive and its corpus; returns counts (packed, skipped, per label)."""
    out = Path(out)
    rows = list(store.products(status="kept", split=config.split))
    if not rows:
        raise FauxshopError(f"{store.path}: no kept products to pack (run ingest and prune first)")
    label_names = sorted({row["category"] for row in rows})
    label_of = {name: i for i, name in enumerate(label_names)}

    labels, extras, corpus, skipped = [], {}, [], Counter()
    config_record = {"out": str(out), **asdict(config)}
    with (
        _packing(out),
        store.recorded_run("pack", config_record, lambda: {"packed": len(labels), **skipped}),
        write_archive(out) as archive,
    ):
        for row in progress(rows, "pack", unit="img"):
            try:
                with Image.open(row["image_path"]) as img:
                    framed = letterbox(img, config.height, config.width, config.background)
            except (OSError, ValueError) as e:
                skipped[f"unreadable: {type(e).__name__}"] += 1
                continue
            index = len(labels)
            name = member_name(index)
            archive.add(name, png_bytes(framed))
            labels.append([name, label_of[row["category"]]])
            attributes = json.loads(row["attributes"])
            extras[name] = {"sku": row["sku"], "split": row["split"], "attributes": attributes}
            corpus.append(
                {
                    "sku": row["sku"],
                    "title": row["title"],
                    "category": row["category"],
                    "attributes": attributes,
                    "description": row["description"],
                    "split": row["split"],
                }
            )
        text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in corpus)
        corpus_bytes = text.encode("utf-8")
        dataset = {
            "labels": labels,
            "fauxshop": {
                "label_names": label_names,
                "resolution": [config.height, config.width],
                "background": list(config.background),
                "products": extras,
                "corpus_sha256": file_sha256(corpus_bytes),
            },
        }
        archive.add_metadata(dataset)
        atomic_write_bytes(_corpus_beside(out), corpus_bytes)  # then the archive, as it closes

    per_label = Counter(label_names[label] for _, label in labels)
    return {
        "archive": str(out),
        "corpus": str(_corpus_beside(out)),
        "packed": len(labels),
        "skipped": dict(skipped),
        "per_label": dict(sorted(per_label.items())),
        "splits": dict(Counter(r["split"] for r in corpus)),
    }
