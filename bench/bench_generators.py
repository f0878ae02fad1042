"""Is a new generator better than the shipped one? FID, per-class FID and a sheet to look at.

Each generator (a snapshot, a run folder or an imported checkpoint) is measured on the same
archive by `fauxshop metrics` in its own process: FID@`--num` over the archive's label mix and
FID per class (`--per-class` images of each label against that label's real images); with
`--tagger`, the share of each label's images the tagger calls that label (at psi 1 and
`--psi`), OUT/asked-class.md. The sheet, OUT/real-vs-generated.png, has one block per class:
a row of the archive's real images of that class, then a row per generator (the same seeds,
at `--psi`, as products use them; a row per truncation centre with `--truncate-to
global,class`), each labelled and enlarged `--zoom` times without smoothing, so the pixels
are the model's.

    .venv/bin/python bench/bench_generators.py --data fm/demo-train/archives/catalog-64x32.zip \\
        --out fm/demo-compare --workdir fm \\
        shipped=fauxshop/assets/demo-generator.safetensors retrained=fm/demo-retrain
    .venv/bin/python bench/bench_generators.py ... --num 2000 --per-class 500 --precision bf16
    .venv/bin/python bench/bench_generators.py ... --num 0 --truncate-to global,class \\
        --tagger fauxshop/assets/demo-tagger.safetensors

FID@10k with fp32 Inception is the number the docs report; bf16 is ~2x faster and ~1 % low,
fine for comparing generators with each other.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _runs import run_metrics


def _measure(pairs: list[list[str]], args) -> None:
    """OUT/results.json and OUT/table.md: FID and FID per class of each generator, each
    measured by `fauxshop metrics` in its own process (one model in memory at a time)."""
    from fauxshop.atomic import atomic_open
    from fauxshop.markdown import markdown_table

    flags = ["--data", args.data, "--num", str(args.num)]
    flags += ["--per-class", str(args.per_class)] if args.per_class else []
    results = {name: run_metrics(path, args.workdir, flags, args.precision) for name, path in pairs}
    fid = f"FID@{args.num / 1000:g}k"
    table = [{"generator": name, fid: r["fid"]} for name, r in results.items()]
    for row, r in zip(table, results.values(), strict=True):
        row.update({k: v["fid"] for k, v in r.get("per_class", {}).items()})
    with atomic_open(args.out / "results.json", "w", encoding="utf-8") as f:
        json.dump({"precision": args.precision, "num": args.num, "results": results}, f, indent=1)
    with atomic_open(args.out / "table.md", "w", encoding="utf-8") as f:
        f.write(markdown_table(table) + "\n")
    print(markdown_table(table))


def _real_rows(archive: str, per_row: int) -> tuple[dict[int, np.ndarray], list[str]]:
    """The first `per_row` real images of each label (H x W x C uint8), and the label names."""
    from fauxshop.catalog.archive import decode_image, image_names, open_archive
    from fauxshop.metrics.fid import archive_labels

    labels, names = archive_labels(archive)
    rows: dict[int, list[np.ndarray]] = {c: [] for c in range(len(names))}
    with open_archive(archive) as zf:
        for name, label in zip(image_names(zf), labels, strict=True):
            if len(rows[label]) < per_row:
                rows[label].append(decode_image(zf, name))
    return {c: np.stack(images) for c, images in rows.items() if images}, names


def _fake_row(G, cls: int, per_row: int, psi: float, centre: str) -> np.ndarray:
    from fauxshop.latent.generate import render_ws, seeds_to_ws

    return render_ws(G, seeds_to_ws(G, list(range(per_row)), psi, cls, truncate_to=centre))


def _asked_class_seen(generators, tagger_path: str, classes: list[str], args) -> None:
    """OUT/asked-class.md: per generator, truncation and label, the share of `--tagged`
    images made with that label (seeds 0..N-1) whose top category by the tagger is it. What
    products need: a photo counts for its class only when the tagger sees the class."""
    from fauxshop.atomic import atomic_open
    from fauxshop.markdown import markdown_table
    from fauxshop.tagger.model import load_tagger
    from fauxshop.tagger.scoring import score_images

    tagger = load_tagger(tagger_path)
    known = tagger.heads["category"]
    settings = [(1.0, "global")] + [(args.psi, centre) for centre in args.truncate_to.split(",")]
    table = []
    for name, G in generators:
        for psi, centre in settings:
            row = {"generator": name, "psi": psi, "centre": centre}
            for c, label in enumerate(classes):
                if label not in known:
                    continue
                images = _fake_row(G, c, args.tagged, psi, centre)
                top = score_images(tagger, images)["category"].argmax(1)
                row[label] = round(float((top == known.index(label)).float().mean()), 3)
            table.append(row)
    with atomic_open(args.out / "asked-class.md", "w", encoding="utf-8") as f:
        f.write(markdown_table(table) + "\n")
    print(markdown_table(table))


def _sheet(rows: list[tuple[str, np.ndarray]], zoom: int):
    """Labelled rows of images on white, enlarged `zoom` times (nearest neighbour)."""
    from PIL import Image, ImageDraw

    h, w = rows[0][1].shape[1:3]
    label_w, gap = 120, 4
    width = label_w + max(len(images) for _, images in rows) * (w * zoom + gap)
    sheet = Image.new("RGB", (width, len(rows) * (h * zoom + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (label, images) in enumerate(rows):
        top = r * (h * zoom + gap)
        draw.text((4, top + h * zoom // 2 - 6), label, fill="black")
        for i, image in enumerate(images):
            tile = Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image)
            tile = tile.resize((w * zoom, h * zoom), Image.Resampling.NEAREST)
            sheet.paste(tile, (label_w + i * (w * zoom + gap), top))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("generators", nargs="+", help="NAME=PATH, in the order to show")
    parser.add_argument("--data", required=True, help="the archive they are measured on")
    parser.add_argument("--out", required=True, type=Path, help="folder for table, json, sheet")
    parser.add_argument("--workdir", default="fauxshop-work", help="holds metric-cache/")
    parser.add_argument("--num", type=int, default=10000, help="generated images (0: no FID)")
    parser.add_argument("--per-class", type=int, default=1000, help="images per class (0: none)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--psi", type=float, default=0.7, help="truncation on the sheet")
    parser.add_argument(
        "--truncate-to",
        default="global",
        help="centres on the sheet: global, class or both (a row each)",
    )
    parser.add_argument(
        "--tagger", help="also the share of each label's images this tagger calls that label"
    )
    parser.add_argument("--tagged", type=int, default=128, help="images per label for --tagger")
    parser.add_argument("--per-row", type=int, default=12, help="images per row on the sheet")
    parser.add_argument("--zoom", type=int, default=2)
    args = parser.parse_args()
    pairs = [g.split("=", 1) for g in args.generators]
    if any(len(p) != 2 or not all(p) for p in pairs):
        parser.error("each generator is NAME=PATH")
    from fauxshop.atomic import atomic_open
    from fauxshop.image.checkpoint import load_generator

    args.out.mkdir(parents=True, exist_ok=True)
    if args.num:
        _measure(pairs, args)
    centres = args.truncate_to.split(",")
    real, classes = _real_rows(args.data, args.per_row)
    generators = [(name, load_generator(path)) for name, path in pairs]
    if args.tagger:
        _asked_class_seen(generators, args.tagger, classes, args)
    rows = []
    for c, images in real.items():
        rows.append((f"{classes[c]}: real", images))
        for name, G in generators:
            for centre in centres:
                label = name if len(centres) == 1 else f"{name} ({centre})"
                rows.append((label, _fake_row(G, c, args.per_row, args.psi, centre)))
    with atomic_open(args.out / "real-vs-generated.png", "wb") as f:
        _sheet(rows, args.zoom).save(f, format="PNG", optimize=True)
    print("sheet:", args.out / "real-vs-generated.png")


if __name__ == "__main__":
    main()
