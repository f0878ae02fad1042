"""A range of seeds composed in shards that the ranks of a torchrun job share, then merged.

Seeds FIRST..LAST are cut into fixed chunks of `shard_size` seeds; chunk k goes to rank
k % world size. Each chunk is written whole as its own folder (chunk.json with every candidate,
images/SKU.png for the accepted) by one rename, so a folder that exists is a finished chunk: a
killed job run again skips those and redoes only the rest, with any number of ranks. A seed's
class depends on the seed alone (the category asked for, else seed % classes), and its photo
and text on (models, seed, class) alone, so the products are the ones one process makes from
the same seeds. run.json holds what the shards were made with; a resume with other models or
settings is refused rather than mixed in. Rank 0 merges once every rank is done.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image

from fauxshop.atomic import atomic_dir, atomic_open
from fauxshop.errors import FauxshopError
from fauxshop.latent.sampling import class_index
from fauxshop.pixels import save_png
from fauxshop.products.compose import STAGES, Candidate, ComposeResult, class_asked, compose_batch
from fauxshop.products.config import ComposeConfig
from fauxshop.products.models import ProductModels
from fauxshop.progress import progress
from fauxshop.runtime import process_group

MANIFEST = "run.json"
CHUNK_FILE = "chunk.json"
# ComposeConfig fields a seed range replaces: every seed in it is tried exactly once.
UNUSED = ("n", "seed_start", "max_candidates")


def parse_seeds(text: str) -> tuple[int, int]:
    """'FIRST-LAST' (both included) as two ints."""
    first, _, last = text.partition("-")
    if not (first.isascii() and first.isdigit() and last.isascii() and last.isdigit()):
        raise FauxshopError(f"--seeds: want FIRST-LAST such as 0-999, got {text!r}")
    if int(first) > int(last):
        raise FauxshopError(f"--seeds: {text}: the first seed is after the last")
    return int(first), int(last)


def shard_folder(root: Path, first: int, last: int, category: str | None = None) -> Path:
    """Where the shards of seeds FIRST..LAST (and the category asked for) are kept."""
    return Path(root) / "shards" / f"seeds-{first}-{last}{f'-{category}' if category else ''}"


def chunks(first: int, last: int, size: int) -> list[tuple[int, int]]:
    """(first, last) seed of each chunk: fixed by the range and size, never by the ranks."""
    return [(a, min(a + size - 1, last)) for a in range(first, last + 1, size)]


def seed_class(models: ProductModels, category: str | None, seed: int) -> int | None:
    """The class a seed's photo is made for: the category asked for, else seed % classes
    (None: an unconditional generator)."""
    if not models.G.c_dim:
        return None
    if category:
        return class_index(models.G, category, models.label_names)
    return seed % models.G.c_dim


def manifest(models: ProductModels, config: ComposeConfig, first: int, last: int,
             shard_size: int) -> dict:  # fmt: skip
    """What the shards are made with: a resume must use the same."""
    settings = {k: v for k, v in asdict(config).items() if k not in UNUSED}
    return {"models": models.hashes, "config": settings, "seeds": [first, last],
            "shard_size": shard_size}  # fmt: skip


def start_shards(folder: Path, wanted: dict) -> None:
    """Write run.json, or check that the one there asks for the same shards."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        with atomic_open(path, encoding="utf-8") as f:  # every rank writes the same bytes
            json.dump(wanted, f, sort_keys=True, indent=1)
        return
    saved = json.loads(path.read_text(encoding="utf-8"))
    changed = [k for k in wanted if k != "config" and saved.get(k) != wanted[k]]
    changed += [f"--{k.replace('_', '-')}" for k, v in wanted["config"].items()
                if saved.get("config", {}).get(k) != v]  # fmt: skip
    if changed:
        raise FauxshopError(f"{path}: these shards were made with other {', '.join(changed)}; "
                            "pass the same, or remove the folder to start again")  # fmt: skip


def compose_shards(models: ProductModels, config: ComposeConfig, folder: Path,
                   rank: int = 0, world_size: int = 1) -> list[str]:  # fmt: skip
    """Compose this rank's chunks not already on disk; returns the chunk folders written."""
    folder = Path(folder)
    saved = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    todo = [
        (a, b)
        for k, (a, b) in enumerate(chunks(*saved["seeds"], saved["shard_size"]))
        if k % world_size == rank and not (folder / f"seeds-{a}-{b}").is_dir()
    ]
    written = []
    for a, b in progress(todo, f"compose shards (rank {rank})", unit="shard"):
        name = f"seeds-{a}-{b}"
        for stale in folder.glob(f".{name}.*.tmp"):  # a killed run's half chunk
            shutil.rmtree(stale)
        seconds = dict.fromkeys(STAGES, 0.0)
        jobs = [(seed, seed_class(models, config.category, seed)) for seed in range(a, b + 1)]
        made = compose_batch(models, config, jobs, seconds)  # a shard is a batch or a few
        with atomic_dir(folder / name) as tmp:
            for c in made:
                if c.record["status"] == "accepted":
                    save_png(c.image, tmp / "images" / f"{c.record['sku']}.png")
            rows = [{"nearest": c.nearest, "record": c.record} for c in made]
            with atomic_open(tmp / CHUNK_FILE, encoding="utf-8") as f:
                json.dump({"seconds": seconds, "candidates": rows}, f, ensure_ascii=False)
        written.append(name)
    return written


def merge_shards(models: ProductModels, folder: Path) -> ComposeResult:
    """Every chunk's candidates in seed order, as one result for `save_products`; refused while
    a chunk is missing or when the shards were made with other models."""
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise FauxshopError(f"{folder}: no {MANIFEST}; not a folder of product shards")
    saved = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    if saved["models"] != models.hashes:
        raise FauxshopError(f"{folder / MANIFEST}: made with other models; load those")
    names = [f"seeds-{a}-{b}" for a, b in chunks(*saved["seeds"], saved["shard_size"])]
    missing = [n for n in names if not (folder / n / CHUNK_FILE).is_file()]
    if missing:
        raise FauxshopError(
            f"{folder}: {len(missing)} of {len(names)} shards not composed yet ({missing[0]}...);"
            " run the same command again to finish them"
        )
    seconds = dict.fromkeys(STAGES, 0.0)
    candidates = []
    for name in names:
        chunk = json.loads((folder / name / CHUNK_FILE).read_text(encoding="utf-8"))
        for stage, s in chunk["seconds"].items():
            seconds[stage] += s
        for row in chunk["candidates"]:
            record = row["record"]
            image = np.zeros((0,), np.uint8)  # a rejected candidate's photo is not kept
            if record["status"] == "accepted":
                with Image.open(folder / name / "images" / f"{record['sku']}.png") as photo:
                    image = np.asarray(photo)
            candidates.append(Candidate(record, image, row["nearest"]))
    tried: dict[str, int] = {}
    for c in candidates:
        tried[class_asked(c)] = tried.get(class_asked(c), 0) + 1
    return ComposeResult(candidates, seconds, tried, models.real_archive)


def compose_seeds(models: ProductModels, config: ComposeConfig, first: int, last: int,
                  folder: Path, shard_size: int = 16) -> ComposeResult | None:  # fmt: skip
    """Seeds FIRST..LAST composed by every rank of this torchrun job (or this one process), each
    exactly once, in shards under `folder`; rank 0 returns them merged, the others None."""
    if shard_size < 1:
        raise FauxshopError("--shard-size must be >= 1")
    unknown = {config.category} if config.category else set(models.label_names or ())
    unknown -= set(models.tagger.heads["category"])
    if unknown:
        raise FauxshopError(f"products: the tagger has no category {', '.join(sorted(unknown))}")
    with process_group("cpu") as env:
        start_shards(folder, manifest(models, config, first, last, shard_size))
        compose_shards(models, config, folder, env.rank, env.world_size)
    return merge_shards(models, folder) if env.is_main else None
