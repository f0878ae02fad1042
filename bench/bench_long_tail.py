"""Does class-balanced sampling teach a conditional generator its rare class? Measured.

Trains one conditional generator per `--class-balance` value (default 0: classes as often as
in the data; 1: every class equally often) on a long-tailed archive (one class cut to a few
images by `fauxshop.catalog.subset.cut_class`), each for the same CPU-minutes of its own, with
`--preset small`. Then, for each:

- FID@10k overall and FID per class (`--per-class-num` images of each label against that
  label's real images among the first `--max-real` of the *full* archive, cached features, bf16);
- label precision: a category classifier (the tagger's CNN) trained on the full archive's real
  training split labels the images generated with each label; the share it gives that label.
  For the rare class, this is whether the generator draws the class at all.

    nice -n 5 .venv/bin/python bench/bench_long_tail.py \\
        --cut /work/fm/archives/fmnist-32-dress60.zip --full /work/fm/archives/fmnist-32.zip \\
        --rare dress --out /work/fm/longtail --workdir /work/fm --minutes 50

Runs that already hold a snapshot are not retrained. Output: OUT/long-tail.json, OUT/table.md
and OUT/rare-samples.png (rows: real images of the rare class, then each generator's).
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _runs import run_metrics, train_once


def _generated(G, label: int, num: int, seed: int):
    """`num` uint8 N x C x H x W images of one label."""
    import torch

    from fauxshop.latent.generate import generate

    images = generate(G, range(seed, seed + num), 1.0, label)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def _label_precision(classifier, G, classes: tuple[str, ...], num: int) -> dict[str, float]:
    """Per label: the share of G's images of it that the classifier gives that label."""
    import numpy as np
    import torch

    from fauxshop.tagger.data import TaggerData
    from fauxshop.tagger.train import evaluate

    shares = {}
    for c, name in enumerate(classes):
        images = _generated(G, c, num, seed=c * num)
        labels = {"category": torch.full((num,), c, dtype=torch.long)}
        data = TaggerData(images, labels, {"category": classes}, np.array(["test"] * num))
        confusion = evaluate(classifier, data)["heads"]["category"]["confusion"]["matrix"]
        shares[name] = confusion[c][c] / num
    return shares


def _classifier(data, full: str, seed: int):
    """The judge: category classifier on the full archive's real training split (`data`, its
    category head), and its recall per class on the real test split."""
    import numpy as np

    from fauxshop.study.config import StudyConfig
    from fauxshop.tagger.train import evaluate, fit_tagger

    config = StudyConfig(archive=full, generator="", category="", epochs=2).classifier(seed)
    classifier, _ = fit_tagger(data.select("train"), config)
    confusion = np.array(
        evaluate(classifier, data.select("test"))["heads"]["category"]["confusion"]["matrix"]
    )
    recall = confusion.diagonal() / confusion.sum(axis=1)
    return classifier, dict(zip(data.heads["category"], recall.tolist(), strict=True))


def _count(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def _samples_png(rows: list, path: Path) -> None:
    import numpy as np

    from fauxshop.pixels import save_grid

    images = np.concatenate([r.permute(0, 2, 3, 1).numpy() for r in rows])
    save_grid(images, path, cols=len(rows[0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cut", required=True, help="the long-tailed archive the generators see")
    ap.add_argument("--full", required=True, help="the archive before the cut (measuring)")
    ap.add_argument("--rare", required=True, help="the class that was cut")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workdir", required=True, help="workspace (its metric-cache is reused)")
    ap.add_argument("--minutes", type=float, default=50, help="CPU-minutes per generator")
    ap.add_argument("--balance", default="0,1", help="--class-balance values, one run each")
    ap.add_argument("--fid-num", type=int, default=10000)
    ap.add_argument("--max-real", type=int, default=10000, help="real images, cached features")
    ap.add_argument("--per-class-num", type=int, default=1000)
    ap.add_argument("--label-num", type=int, default=1000, help="images per label judged")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    balances = [b.strip() for b in args.balance.split(",")]
    runs = {b: args.out / f"balance-{b}" for b in balances}
    flags = ["--preset", "small", "--cond"]
    with ThreadPoolExecutor(len(runs)) as pool:  # one thread each: the processes share 2 cores
        list(pool.map(lambda b: train_once(args.cut, runs[b], [*flags, "--class-balance", b],
                                           args.minutes, args.seed), balances))  # fmt: skip

    import torch

    from fauxshop.image.checkpoint import latest_snapshot, load_generator, read_snapshot
    from fauxshop.markdown import markdown_table
    from fauxshop.study.augmentation import category_only
    from fauxshop.tagger.data import read_archive

    torch.set_num_threads(2)
    data = category_only(read_archive(args.full))  # 60k images: read once
    classifier, real_recall = _classifier(data, args.full, args.seed)
    classes = tuple(classifier.heads["category"])
    rare = classes.index(args.rare)
    real = data.select("test")
    samples = [real.images[real.labels["category"] == rare][:16]]
    rows, results = [], {"judge_real_test_recall": real_recall}
    for b, run in runs.items():
        meta = read_snapshot(latest_snapshot(run)).meta
        fid = run_metrics(run, args.workdir, [
            "--data", args.full, "--metrics", "fid", "--num", str(args.fid_num),
            "--max-real", str(args.max_real), "--per-class", str(args.per_class_num),
        ])  # fmt: skip
        G = load_generator(run)
        precision = _label_precision(classifier, G, classes, args.label_num)
        samples.append(_generated(G, rare, 16, seed=10**6))
        common = [c for c in classes if c != args.rare]
        results[f"balance {b}"] = {"meta_kimg": meta["kimg"], "fid": fid,
                                   "label_precision": precision}  # fmt: skip
        rows.append({
            "class_balance": b, "kimg": f"{meta['kimg']:.0f}",
            "cpu_min": f"{meta['own_cpu_s'] / 60:.0f}",
            f"fid@{_count(args.fid_num)}": f"{fid['fid']:.1f}",
            f"{args.rare} fid@{_count(args.per_class_num)}":
                f"{fid['per_class'][args.rare]['fid']:.1f}",
            "other classes' fid (mean)":
                f"{sum(fid['per_class'][c]['fid'] for c in common) / len(common):.1f}",
            f"{args.rare} label precision": f"{precision[args.rare]:.3f}",
            "other classes' label precision (mean)":
                f"{sum(precision[c] for c in common) / len(common):.3f}",
        })  # fmt: skip
    (args.out / "long-tail.json").write_text(json.dumps(results, indent=1))
    table = markdown_table(rows)
    (args.out / "table.md").write_text(table + "\n")
    _samples_png(samples, args.out / "rare-samples.png")
    print(table)
    print(f"judge's recall on real test images: {json.dumps(real_recall)}")


if __name__ == "__main__":
    main()
