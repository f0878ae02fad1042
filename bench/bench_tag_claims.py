"""Do products claim only what their photos show? An independent judge reads the same photos.

The shipped demo tagger is calibrated on the held-out real photos of the 3,000-product demo
catalog it learned from, coarsened x`--coarsen` (per class: the lowest confidence at which its
claims are right `--precision` of the time). A judge tagger of another architecture and seed
is trained on the same catalog's training split (image branch only). The demo generator's
products are composed four times from the same seeds (from `--seed-start`, away from the
seeds the settings were chosen on): with a single 0.5 confidence floor only and NVIDIA's
global centre (before); with the calibrated thresholds, truncation towards the asked class's
mean w and the 0.5 floor; and with the calibrated thresholds under `products`' default floor,
`min_confidence`, towards the global centre and towards the class (after: `products`'
defaults). A product passes when the judge's top class agrees with every attribute tag its
title claims; the judge is also asked whether it sees the class asked for.
The same is counted for the attribute values its text names: as written, and as kept (only
sentences the tags support). Every candidate counts, accepted or not: each one's title and
text were written from its claims.

    .venv/bin/python bench/bench_tag_claims.py                      # 200 products
    .venv/bin/python bench/bench_tag_claims.py --archive A.zip --judge J.safetensors
    .venv/bin/python bench/bench_tag_claims.py ... --generator G.safetensors  # a candidate G
    .venv/bin/python bench/bench_tag_claims.py --quick              # smoke: 300 real, 8
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench_products import demo_archive

JUDGE = {"widths": "16,32,64,128", "seed": 1, "text": "none", "epochs": 10}


def add_judge_args(parser: argparse.ArgumentParser) -> None:
    """The flags that reuse a demo archive and a judge instead of building them."""
    parser.add_argument("--catalog", type=int, default=3000, help="real demo products")
    parser.add_argument("--archive", type=Path, help="reuse this packed demo archive")
    parser.add_argument("--judge", type=Path, help="reuse this judge tagger")


def archive_and_judge(args: argparse.Namespace, tmp: Path) -> tuple[Path, Path]:
    """The demo archive and the judge's weights: the ones given, else built in `tmp` (the judge
    trained on the archive's training split with JUDGE's settings)."""
    from fauxshop.tagger.config import TaggerConfig
    from fauxshop.tagger.train import train_tagger

    archive = args.archive or demo_archive(tmp, args.catalog)
    if args.judge:
        return archive, args.judge
    start = time.perf_counter()
    train_tagger(archive, tmp / "judge", TaggerConfig(**JUDGE))
    print(f"judge {JUDGE} trained in {time.perf_counter() - start:.0f} s")
    return archive, tmp / "judge" / "tagger.safetensors"


def named_agrees(text: str, judged: dict[str, str]) -> list[bool]:
    """Per attribute value the text names: does the judge see that value on the photo?"""
    from fauxshop.catalog.taxonomy import find_mentions

    named = find_mentions(text).items()
    return [judged.get(head) == v for head, values in named for v in values]


def judge_agreement(models, judge, config) -> tuple[list[dict], dict]:
    """Compose, then per product: its claimed attributes and which ones the judge agrees with."""
    from fauxshop.products.compose import compose
    from fauxshop.tagger.scoring import score_images

    result = compose(models, config)
    rows = []
    for candidate in result.candidates:
        probs = score_images(judge, candidate.image[None])
        judged = {h: judge.heads[h][int(p[0].argmax())] for h, p in probs.items()}
        record = candidate.record
        written = " ".join([record["description"], *record["checks"]["grounded_text"]
                            ["dropped_sentences"]])  # fmt: skip
        asked = record["checks"]["on_category"]["expected"]
        rows.append({
            "title": record["title"],
            "asked class seen": asked is None or judged["category"] == asked,
            "agrees": {h: judged[h] == v for h, v in record["attributes"].items()},
            "text as written": named_agrees(written, judged),
            "text as kept": named_agrees(record["description"], judged),
        })  # fmt: skip
    assert rows, "no products composed"
    return rows, result.report()


def summary(rows: list[dict]) -> dict:
    claims = [v for row in rows for v in row["agrees"].values()]
    out = {
        "products": len(rows),
        "every claim agreed": sum(all(r["agrees"].values()) for r in rows) / len(rows),
        "claims agreed": sum(claims) / len(claims) if claims else None,
        "attributes per product": len(claims) / len(rows),
        "products with no attribute": sum(not r["agrees"] for r in rows) / len(rows),
        "judge sees the asked class": sum(r["asked class seen"] for r in rows) / len(rows),
    }
    for text in ("text as written", "text as kept"):
        out[f"{text}: every value agreed"] = sum(all(r[text]) for r in rows) / len(rows)
    return out


def per_head(rows: list[dict], heads) -> list[dict]:
    out = []
    for head in heads:
        verdicts = [r["agrees"][head] for r in rows if head in r["agrees"]]
        agreed = sum(verdicts) / len(verdicts) if verdicts else None
        out.append({"claims": len(verdicts), "judge agrees": agreed})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="products composed (every class)")
    add_judge_args(parser)
    parser.add_argument("--generator", type=Path, help="another generator (default: the demo's)")
    parser.add_argument("--precision", type=float, default=0.95, help="calibration target")
    parser.add_argument("--coarsen", type=float, default=3, help="calibration photos' coarsening")
    parser.add_argument("--seed-start", type=int, default=1000, help="first product seed")
    parser.add_argument("--quick", action="store_true", help="300 real, 8 products, 2 epochs")
    args = parser.parse_args()
    if args.quick:
        args.n, args.catalog, JUDGE["epochs"] = 8, 300, 2
    os.environ.setdefault("FAUXSHOP_QUIET", "1")

    from fauxshop.markdown import markdown_table
    from fauxshop.products.config import ComposeConfig
    from fauxshop.products.models import DEMO_TAGGER, product_models
    from fauxshop.tagger.calibration import Calibration, format_calibration, measure_calibration
    from fauxshop.tagger.model import load_tagger
    from fauxshop.tagger.train import evaluate_tagger

    with tempfile.TemporaryDirectory(prefix="fauxshop-bench-") as tmp:
        archive, judge_path = archive_and_judge(args, Path(tmp))
        measured = measure_calibration(
            load_tagger(DEMO_TAGGER), archive, args.precision, coarsen=args.coarsen
        )
        print("the demo tagger's thresholds\n" + format_calibration(measured), end="\n\n")
        judge = load_tagger(judge_path)
        held_out = evaluate_tagger(judge, archive)["heads"]
        print(markdown_table([{"judge on held-out real photos": h, "accuracy": m["accuracy"]}
                              for h, m in held_out.items()]), end="\n\n")  # fmt: skip

        models = product_models(archive, args.generator)
        calibrated = Calibration("", args.precision, measured["heads"])
        config = ComposeConfig(n=args.n, max_candidates=args.n, seed_start=args.seed_start)
        floor = config.min_confidence
        runs = {}
        for name, calibration, centre, min_confidence in (
            ("before", None, "global", 0.5),
            ("calibrated, floor 0.5, class centre", calibrated, "class", 0.5),
            (f"after, floor {floor:g}, global centre", calibrated, "global", floor),
            ("after", calibrated, "class", floor),  # products' defaults
        ):
            runs[name] = judge_agreement(
                replace(models, calibration=calibration), judge,
                replace(config, truncate_to=centre, min_confidence=min_confidence),
            )  # fmt: skip
    print(markdown_table([{"tags": name, **summary(rows)} for name, (rows, _) in runs.items()]))
    heads = [h for h in judge.heads if h != "category"]
    before, after = (per_head(runs[name][0], heads) for name in ("before", "after"))
    print("\n" + markdown_table([
        {"head": h, "claims before": b["claims"], "judge agrees before": b["judge agrees"],
         "claims after": a["claims"], "judge agrees after": a["judge agrees"]}
        for h, b, a in zip(heads, before, after, strict=True)
    ]))  # fmt: skip
    for name, (rows, report) in runs.items():
        print(f"\n{name}: {report['accepted']} of {report['candidates']} accepted; e.g.")
        for row in rows[:4]:
            print(f"  {row['title']}  (judge agrees: {row['agrees']})")


if __name__ == "__main__":
    main()
