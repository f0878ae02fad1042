"""Compose products that don't exist: photo → tags → title → description → checks → record.

Candidates go through five timed stages together, up to `CHUNK` at a time:
1. generate: the photos from (seed, psi, class) with G's constant noise;
2. tag: one tagger pass for the top class per head (`checks.tags_from_probs`), the title,
   and the features novelty compares;
3. write: the descriptions with the titles as context, each sampled with its own seed,
   keeping only sentences that name no attribute value the tags do not claim
   (`checks.grounded_text`);
4. verify: category agreement (fused tagger) and the text grounded in the tags (`checks`);
5. novelty: nearest real photo and longest shared word run (`checks`).
A candidate passing every check is accepted. Every candidate, accepted or not, is recorded
with its check results and provenance: the hashes of the four models, the seed, class, psi,
w, noise mode, the batch shapes, the context and the sampling parameters. `regenerate`
rebuilds the photo and text from a provenance record and refuses one made with other models.
Photos and tags run in batches of one fixed shape (`BATCH` photos, 64 tags, the short ones
filled with copies); each text is written within its own row, from a prompt of
`PROMPT_WIDTH` tokens, with its own seed's generator (`write_rows`), so a text costs the same
alone as in a batch. No product depends on its neighbours: the same record gives the same
bits on the same device, whether the product was made alone or in a batch.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import fauxshop
from fauxshop.errors import FauxshopError
from fauxshop.latent.generate import render_ws, seeds_to_ws
from fauxshop.latent.sampling import class_index
from fauxshop.markdown import markdown_table
from fauxshop.metrics.text import words
from fauxshop.products.checks import (
    CHECKS,
    grounded_text,
    tags_from_probs,
    text_novelty,
    title_from_tags,
)
from fauxshop.products.config import CHUNK, ComposeConfig
from fauxshop.products.models import ProductModels
from fauxshop.progress import bar
from fauxshop.tagger.data import product_text
from fauxshop.tagger.scoring import scores_and_features
from fauxshop.tagger.text import fuse
from fauxshop.text.config import SamplingConfig
from fauxshop.text.sample import write, write_rows

STAGES = ("generate", "tag", "write", "verify", "novelty")
NOISE_MODE = "const"
# generate()'s fixed batch: part of what makes a product reproducible, so recorded in its
# provenance.
BATCH = 16
# The writer's prompts are left-padded to this many tokens (the demo writer's longest title
# takes 20), recorded like BATCH.
PROMPT_WIDTH = 32
# The status of a candidate that passed every check after its class had its share of
# accepted products (a batch can pass more than are still wanted): recorded, not exported.
SURPLUS = "surplus"


@dataclass
class Candidate:
    record: dict  # sku, title, description, category, attributes, status, checks, provenance
    image: np.ndarray
    nearest: int  # index into the real catalog


@dataclass
class ComposeResult:
    candidates: list[Candidate]
    seconds: dict[str, float]  # per stage
    shares: dict[str, int]  # accepted products wanted per class ("any": no class asked)
    real_archive: str = ""  # what novelty was judged against

    @property
    def seeds(self) -> tuple[int, int]:
        """The first and last seed tried."""
        seeds = [c.record["provenance"]["seed"] for c in self.candidates]
        return min(seeds), max(seeds)

    @property
    def accepted(self) -> list[Candidate]:
        return [c for c in self.candidates if c.record["status"] == "accepted"]

    def report(self) -> dict[str, Any]:
        """Candidates, pass rate per check, acceptance rate, surplus, products/s, seconds per
        stage."""
        n = len(self.candidates)
        rates = {
            check: sum(bool(c.record["checks"][check]["passed"]) for c in self.candidates) / n
            for check in ("on_category", *CHECKS)
        }
        total = sum(self.seconds.values())
        return {
            "candidates": n,
            "accepted": len(self.accepted),
            "pass_rate": rates,
            "acceptance_rate": len(self.accepted) / n,
            "surplus": sum(c.record["status"] == SURPLUS for c in self.candidates),
            "products_per_s": len(self.accepted) / total if total else None,
            "seconds": self.seconds,
            "per_class": {
                name: {
                    "wanted": share,
                    "candidates": sum(class_asked(c) == name for c in self.candidates),
                    "accepted": sum(class_asked(c) == name for c in self.accepted),
                }
                for name, share in self.shares.items()
            },
            "seeds": list(self.seeds),
            "real_archive": self.real_archive,
        }


def _class_name(expected: str | None, cls: int | None) -> str:
    """How the report names the class a candidate was made for."""
    return expected or ("any" if cls is None else f"class {cls}")


def class_asked(candidate: Candidate) -> str:
    """The class a candidate was made for, as the report names it."""
    expected = candidate.record["checks"]["on_category"]["expected"]
    return _class_name(expected, candidate.record["provenance"]["class_index"])


def format_report(report: dict[str, Any]) -> str:
    """Pass rate per check, seconds per stage, accepted per class, the seeds, the real
    archive novelty was judged against, and the acceptance rate, surplus and speed."""
    checks = [{"check": k, "pass rate": v} for k, v in report["pass_rate"].items()]
    stages = [{"stage": k, "seconds": v} for k, v in report["seconds"].items()]
    classes = [{"class": k, **v} for k, v in report["per_class"].items()]
    first, last = report["seeds"]
    return "\n".join([
        markdown_table(checks), markdown_table(stages), markdown_table(classes),
        f"seeds {first}-{last}; novelty against {report['real_archive'] or 'the given catalog'}",
        f"{report['accepted']} accepted of {report['candidates']} candidates "
        f"({report['acceptance_rate']:.0%}; {report['surplus']} more passed past their class's "
        f"share), {report['products_per_s']:.2f} products/s",
    ])  # fmt: skip


def _render(
    models: ProductModels, identities: Sequence[dict], batch: int
) -> tuple[np.ndarray, torch.Tensor]:
    """The photos and their ws as `generate` makes them (each psi and class's seeds mapped in
    fixed batches, rendered in fixed batches with constant noise), in the order given."""
    groups: dict[tuple, list[int]] = {}
    for i, identity in enumerate(identities):
        key = (identity["psi"], identity["class_index"], identity.get("truncate_to", "global"))
        groups.setdefault(key, []).append(i)
    mapped = torch.cat([
        seeds_to_ws(models.G, [identities[i]["seed"] for i in rows], psi, cls, batch,
                    truncate_to=centre)
        for (psi, cls, centre), rows in groups.items()
    ])  # fmt: skip
    order = torch.tensor([i for rows in groups.values() for i in rows])
    ws = mapped[order.argsort().to(mapped.device)]
    return render_ws(models.G, ws, NOISE_MODE, batch), ws[:, 0]


def _identity(config: ComposeConfig, seed: int, cls: int | None) -> dict:
    """What a photo is drawn from; `truncate_to` only when it is not the global centre, so
    records made before it existed (and their SKUs) read the same."""
    identity = {"seed": seed, "psi": config.psi, "class_index": cls}
    if config.truncate_to != "global":
        identity["truncate_to"] = config.truncate_to
    return identity


def _write(
    models: ProductModels, contexts: list[str], seeds: list[int], sampling: SamplingConfig,
    width: int,
) -> list[str]:  # fmt: skip
    records = write_rows(
        models.writer, models.tokenizer, contexts, seeds, sampling, models.writer_format, width
    )
    return [r["description"] for r in records]


def _sku(hashes: dict[str, str], identity: dict) -> str:
    key = json.dumps({"models": hashes, **identity}, sort_keys=True)
    return "fake-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def compose_one(models: ProductModels, config: ComposeConfig, seed: int, cls: int | None,
                seconds: dict[str, float]) -> Candidate:  # fmt: skip
    """One candidate through the five stages, timed into `seconds`: the same bits as when it
    is composed in a batch, its text written alone."""
    return compose_batch(models, config, [(seed, cls)], seconds)[0]


def compose_batch(models: ProductModels, config: ComposeConfig,
                  jobs: Sequence[tuple[int, int | None]],
                  seconds: dict[str, float]) -> list[Candidate]:  # fmt: skip
    """Candidates for (seed, class) pairs through the five stages together, timed into
    `seconds`; each stage on fixed-shape batches, row by row or one candidate at a time, so a
    candidate does not depend on the others."""
    t = time.perf_counter()
    identities = [_identity(config, seed, cls) for seed, cls in jobs]
    images, ws = _render(models, identities, BATCH)
    seconds["generate"] += time.perf_counter() - t

    t = time.perf_counter()
    probs, features = scores_and_features(models.tagger, images)
    rows = [{k: v[i] for k, v in probs.items()} for i in range(len(jobs))]
    tags = [
        tags_from_probs(row, models.tagger.heads, config.min_confidence, models.calibration)
        for row in rows
    ]
    titles = [title_from_tags(category, attributes) for category, attributes, _ in tags]
    contexts = [title.lower() for title in titles]
    seconds["tag"] += time.perf_counter() - t

    t = time.perf_counter()
    seeds = [seed for seed, _ in jobs]  # each text drawn with its own seed
    texts = _write(models, contexts, seeds, config.sampling(seeds[0]), PROMPT_WIDTH)
    grounded = [grounded_text(text, context) for text, context in zip(texts, contexts, strict=True)]
    seconds["write"] += time.perf_counter() - t

    candidates = []
    for i, (seed, cls) in enumerate(jobs):
        (category, attributes, confidence), (description, dropped) = tags[i], grounded[i]
        expected = _expected(models, config, cls)
        checks, nearest = check_candidate(
            models, config, rows[i], features[i], titles[i], category, expected,
            (description, dropped), seconds,
        )  # fmt: skip
        provenance = {
            "models": models.hashes,
            **identities[i],
            "w": ws[i].cpu().tolist(),
            "noise_mode": NOISE_MODE,
            "batch": BATCH,
            "prompt_width": PROMPT_WIDTH,
            "context": contexts[i],
            "sampling": asdict(config.sampling(seed)),
            "writer_format": models.writer_format,
            "min_confidence": config.min_confidence,
            "calibrated_precision": getattr(models.calibration, "target_precision", None),
            "tag_confidence": {k: round(v, 4) for k, v in confidence.items()},
            "device": str(next(models.G.parameters()).device),
            "torch": torch.__version__,
            "fauxshop": fauxshop.__version__,
        }
        passed = all(c["passed"] for c in checks.values())
        record = {
            "sku": _sku(models.hashes, identities[i]),
            "title": titles[i],
            "description": description,
            "category": category,
            "attributes": attributes,
            "status": "accepted" if passed else "rejected",
            "checks": checks,
            "provenance": provenance,
            "nearest_sku": models.real.skus[nearest],
        }
        candidates.append(Candidate(record, images[i], nearest))
    return candidates


def check_candidate(
    models: ProductModels, config: ComposeConfig, row: dict[str, torch.Tensor],
    feature: torch.Tensor, title: str, category: str, expected: str | None,
    grounded: tuple[str, list[str]], seconds: dict[str, float],
) -> tuple[dict[str, dict], int]:  # fmt: skip
    """A photo's checks (on_category, category_agrees, grounded_text, image_novel,
    text_novel) and its nearest real product, as `products` and `design` both run them:
    `row` is its tagger scores, `feature` its tagger features, `category` the category they
    give, `expected` the one asked (None: any), `grounded` the description and the sentences
    dropped from it. The checks are timed into `seconds`' "verify" and "novelty"."""
    description, dropped = grounded
    t = time.perf_counter()
    on_category = {"passed": expected in (None, category), "category": category}
    checks: dict[str, dict] = {"on_category": {**on_category, "expected": expected}}
    if models.text_tagger is None:
        checks["category_agrees"] = {"passed": True, "note": "no text tagger: not checked"}
    else:  # one text at a time: a batched text encoder may pad to the longest text
        text_probs = models.text_tagger.predict([product_text(title, description)])
        fused = fuse({k: v[None] for k, v in row.items()}, text_probs)["category"][0]
        fused_category = models.tagger.heads["category"][int(fused.argmax())]
        checks["category_agrees"] = {"passed": fused_category == category, "fused": fused_category}
    kept = len(words(description))
    checks["grounded_text"] = {
        "passed": kept >= config.min_words, "words": kept, "dropped_sentences": dropped,
    }  # fmt: skip
    seconds["verify"] = seconds.get("verify", 0.0) + time.perf_counter() - t

    t = time.perf_counter()
    [(nearest, distance)] = models.real.nearest(feature)
    checks["image_novel"] = {
        "passed": distance >= config.min_image_distance,
        "nearest_sku": models.real.skus[nearest], "distance": round(distance, 4),
    }  # fmt: skip
    copy, share = text_novelty(description, models.real.descriptions)
    checks["text_novel"] = {
        "passed": not copy and share < config.max_shared_share,
        "exact_copy": copy, "longest_shared_share": round(share, 4),
    }  # fmt: skip
    seconds["novelty"] = seconds.get("novelty", 0.0) + time.perf_counter() - t
    return checks, nearest


def _expected(models: ProductModels, config: ComposeConfig, cls: int | None) -> str | None:
    """The category a photo made with class `cls` must be tagged: the one asked for, else the
    generator's label for `cls` (None: nothing to compare with)."""
    if config.category:
        return config.category
    return models.label_names[cls] if cls is not None and models.label_names else None


def _shares(models: ProductModels, config: ComposeConfig) -> dict[int | None, int]:
    """Accepted products wanted per class: all `n` of the asked or only class, else `n` split
    evenly over the generator's classes (the first `n % classes` one more)."""
    if models.G.c_dim and config.category:
        classes = [class_index(models.G, config.category, models.label_names)]
    else:
        classes = list(range(models.G.c_dim)) or [None]
    each, extra = divmod(config.n, len(classes))
    shares = {k: each + (i < extra) for i, k in enumerate(classes) if each + (i < extra)}
    expected = {_expected(models, config, k) for k in shares} - {None}
    unknown = sorted(expected - set(models.tagger.heads["category"]))
    if unknown:
        raise FauxshopError(f"products: the tagger has no category {', '.join(unknown)}")
    return shares


def compose(models: ProductModels, config: ComposeConfig) -> ComposeResult:
    """Candidates from seed_start (None: 0) on until each class has its share of `n` accepted,
    or max_candidates are tried.

    A conditional G is sampled with the category's label, or without a category with each
    label in turn, a class keeping its turns until it has its share. A photo counts for the
    class it was made for only if the tagger sees that class in it (on_category): the demo
    generator draws mostly dress-like photos whatever the label, and when nothing was
    compared every card in its gallery was a dress.

    Candidates are composed in chunks of about twice what is still wanted (whole `BATCH`es,
    at most `CHUNK`), the turns going on from one chunk to the next. A chunk may pass more
    than a class still wants: in seed order the first ones are accepted, the rest marked
    `SURPLUS` (recorded with their checks, not exported), and a class with its share gets no
    turns in later chunks."""
    shares = _shares(models, config)
    start = config.seed_start or 0
    end = start + config.max_candidates
    seconds = dict.fromkeys(STAGES, 0.0)
    candidates: list[Candidate] = []
    got = dict.fromkeys(shares, 0)
    turns = deque(shares)
    first = start
    with bar(config.n, "compose products", unit="product") as progress:
        while turns and first < end:
            wanted = sum(shares[k] - got[k] for k in turns)
            size = min(CHUNK, -(-2 * wanted // BATCH) * BATCH, end - first)
            jobs = []
            for seed in range(first, first + size):
                jobs.append((seed, turns[0]))
                turns.rotate(-1)
            first += size
            for candidate, (_, cls) in zip(
                compose_batch(models, config, jobs, seconds), jobs, strict=True
            ):
                if candidate.record["status"] == "accepted":
                    if got[cls] < shares[cls]:
                        got[cls] += 1
                        progress.update(1)
                    else:
                        candidate.record["status"] = SURPLUS
                candidates.append(candidate)
            turns = deque(k for k in turns if got[k] < shares[k])
            progress.set_postfix(tried=len(candidates))
    names = {_class_name(_expected(models, config, k), k): share for k, share in shares.items()}
    return ComposeResult(candidates, seconds, names, models.real_archive)


def regenerate(models: ProductModels, provenance: dict) -> tuple[np.ndarray, str]:
    """The photo and description a provenance record describes, from the same models, with
    the batch shapes it records: a `products` record from its seed, a `design` record from
    its W+ latent ("ws")."""
    changed = [k for k, v in provenance["models"].items() if models.hashes.get(k) != v]
    if changed:
        raise FauxshopError(
            f"regenerate: made with other models ({', '.join(changed)} differ); load those"
        )
    if "writer_rows" in provenance:
        raise FauxshopError(
            "regenerate: the text was written by the batch writer of an earlier fauxshop "
            f"({provenance['writer_rows']} rows through transformers' generate), which this "
            "version replaced by one whose rows do not depend on their batch; its words cannot "
            "be rebuilt bit for bit"
        )
    if "ws" in provenance:  # a design record: its W+ latent, rendered as design renders it
        device = next(models.G.parameters()).device
        ws = torch.tensor([provenance["ws"]], dtype=torch.float32, device=device)
        images = render_ws(models.G, ws, provenance["noise_mode"])
    else:
        keys = ("seed", "psi", "class_index", "truncate_to")
        identity = {k: provenance[k] for k in keys if k in provenance}
        images, _ = _render(models, [identity], provenance["batch"])
    sampling = SamplingConfig(**provenance["sampling"])
    context = provenance["context"]
    if "prompt_width" in provenance:
        text = _write(models, [context], [sampling.seed], sampling, provenance["prompt_width"])[0]
    else:  # written one at a time, before products were written in batches
        fmt = models.writer_format
        text = write(models.writer, models.tokenizer, [context], sampling, fmt)[0]["description"]
    return images[0], grounded_text(text, context)[0]


def check_regenerated(models: ProductModels, row: dict) -> tuple[str, bool | None, bool]:
    """Rebuild a stored product (a row of `Store.generated()`) from its provenance: the new
    description, whether the photo equals the saved one (None: no saved photo) and the text."""
    image, description = regenerate(models, json.loads(row["provenance"]))
    same_photo = None
    if row["image_path"] and Path(row["image_path"]).is_file():
        with Image.open(row["image_path"]) as saved:
            same_photo = bool(np.array_equal(np.asarray(saved), image.squeeze()))
    return description, same_photo, description == row["description"]
