"""Pack kept products into a training archive and a text corpus.

The archive is a zip of PNGs plus `dataset.json` in the layout of NVIDIA's
dataset_tool (`{"labels": [[name, int], ...]}`), so it moves both ways between
the two tools; fauxshop's own extras (label names, skus, attributes, splits)
live under a separate key that dataset_tool ignores. The corpus beside it holds
one JSON record per kept product for the text model.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageColor

from fauxshop.atomic import atomic_open, atomic_path
from fauxshop.catalog.store import Store
from fauxshop.errors import FauxshopError
from fauxshop.progress import progress

# A fixed timestamp in every zip entry, so the same products give the same bytes.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


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


def letterbox(image: Image.Image, height: int, width: int, background) -> Image.Image:
    """Fit the whole image inside height x width, centred, padding with the background."""
    image = image.convert("RGB")
    scale = min(width / image.width, height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resized = image.resize(size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (width, height), background)
    canvas.paste(resized, ((width - size[0]) // 2, (height - size[1]) // 2))
    return canvas


def corpus_path(archive: Path) -> Path:
    """Where the text corpus of an archive lives: `NAME.corpus.jsonl` beside `NAME.zip`."""
    return archive.with_name(archive.stem + ".corpus.jsonl")


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
        store.recorded_run("pack", config_record, lambda: {"packed": len(labels), **skipped}),
        atomic_path(out) as tmp,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf,
    ):
        for row in progress(rows, "pack", unit="img"):
            try:
                with Image.open(row["image_path"]) as img:
                    framed = letterbox(img, config.height, config.width, config.background)
            except (OSError, ValueError) as e:
                skipped[f"unreadable: {type(e).__name__}"] += 1
                continue
            index = len(labels)
            name = f"{index // 1000:05d}/img{index:08d}.png"
            buf = io.BytesIO()
            framed.save(buf, format="PNG", optimize=False)
            zf.writestr(zipfile.ZipInfo(name, ZIP_DATE), buf.getvalue())
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
        dataset = {
            "labels": labels,
            "fauxshop": {
                "label_names": label_names,
                "resolution": [config.height, config.width],
                "background": list(config.background),
                "products": extras,
            },
        }
        info = zipfile.ZipInfo("dataset.json", ZIP_DATE)
        zf.writestr(info, json.dumps(dataset, sort_keys=True, ensure_ascii=False))

    with atomic_open(corpus_path(out), "w", encoding="utf-8") as f:
        for record in corpus:
            f.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")

    per_label = Counter(label_names[label] for _, label in labels)
    return {
        "archive": str(out),
        "corpus": str(corpus_path(out)),
        "packed": len(labels),
        "skipped": dict(skipped),
        "per_label": dict(sorted(per_label.items())),
        "splits": dict(Counter(r["split"] for r in corpus)),
    }


def read_metadata(path: Path) -> dict:
    """An archive's dataset.json (labels, and fauxshop's per-image metadata)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read("dataset.json"))
    except KeyError as e:
        raise FauxshopError(f"{path}: no dataset.json in the archive (labels needed)") from e
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise FauxshopError(f"{path}: cannot read dataset.json ({e})") from e
