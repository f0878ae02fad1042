"""A request through to products: photos by a method, then the composer's checks and records.

The description is written from the request's tags (the title a shopper would type), not the
ones the tagger finds, and `checks.grounded_text` keeps only sentences those tags support.
Then the checks `products` runs (the fused tagger agrees on the category, enough grounded
words, a novel photo and text), plus one of its own: `matches_request`, the image tagger's top
class is every value asked. Records carry `products`' provenance (model hashes, seed, class,
the W+ latent, writer shapes and sampling) and the request, method and settings, and are
saved by `products/export.py` into the store and a gallery.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict

import torch

import fauxshop
from fauxshop.design.config import DesignConfig
from fauxshop.design.methods import Bank, Designed, design_images, sure_of, value_columns
from fauxshop.design.request import Request
from fauxshop.markdown import markdown_table
from fauxshop.products.checks import grounded_text, tags_from_probs, title_from_tags
from fauxshop.products.compose import (
    NOISE_MODE,
    PROMPT_WIDTH,
    Candidate,
    ComposeResult,
    check_candidate,
)
from fauxshop.products.config import ComposeConfig
from fauxshop.products.models import ProductModels
from fauxshop.tagger.scoring import scores_and_features
from fauxshop.text.sample import write_rows


def design_products(
    models: ProductModels, request: Request, config: DesignConfig,
    checks: ComposeConfig | None = None, bank: Bank | None = None,
) -> tuple[ComposeResult, Designed]:  # fmt: skip
    """`config.n` candidates for the request, each checked and recorded (see the module);
    `checks` holds the thresholds and writer sampling (ComposeConfig's defaults if None)."""
    checks = checks or ComposeConfig()
    designed = design_images(
        models.G, models.tagger, request.targets, config, models.label_names, bank
    )
    probs, features = scores_and_features(models.tagger, designed.images)
    title = title_from_tags(request.category, request.attributes)
    context = title.lower()
    sampling = checks.sampling(designed.seeds[0])
    contexts = [context] * len(designed.seeds)
    texts = write_rows(
        models.writer, models.tokenizer, contexts, designed.seeds, sampling,
        models.writer_format, PROMPT_WIDTH,
    )  # fmt: skip
    columns = value_columns(models.tagger, request.targets)
    candidates, seconds = [], {"design": designed.seconds}
    for i, seed in enumerate(designed.seeds):
        row = {k: v[i] for k, v in probs.items()}
        category, detected, _ = tags_from_probs(
            row, models.tagger.heads, checks.min_confidence, models.calibration
        )
        grounded = grounded_text(texts[i]["description"], context)
        record_checks, nearest = check_candidate(
            models, checks, row, features[i], title, category, request.category, grounded,
            seconds,
        )  # fmt: skip
        missed = [h for h, column in columns.items()  # the search's own rule for a match
                  if not sure_of(row[h], column, config.match_confidence)]  # fmt: skip
        record_checks["matches_request"] = {"passed": not missed, "missed": missed}
        identity = {"request": request.text.lower(), "method": config.method, "seed": seed,
                    "design": asdict(config)}  # fmt: skip
        provenance = {
            "models": models.hashes, "seed": seed, "psi": config.psi,
            "class_index": _class_index(models, request), "request": request.text,
            "targets": request.targets, "method": config.method, "design": asdict(config),
            "ws": designed.ws[i].cpu().tolist(), "noise_mode": NOISE_MODE,
            "prompt_width": PROMPT_WIDTH, "context": context,
            "sampling": asdict(checks.sampling(seed)), "writer_format": models.writer_format,
            "detected": {"category": category, **detected},
            "device": str(next(models.G.parameters()).device), "torch": torch.__version__,
            "fauxshop": fauxshop.__version__,
        }  # fmt: skip
        key = json.dumps({"models": models.hashes, **identity}, sort_keys=True)
        passed = all(c["passed"] for c in record_checks.values())
        record = {
            "sku": "design-" + hashlib.sha256(key.encode()).hexdigest()[:12],
            "title": title, "description": grounded[0], "category": request.category,
            "attributes": dict(request.attributes),
            "status": "accepted" if passed else "rejected", "checks": record_checks,
            "provenance": provenance, "nearest_sku": models.real.skus[nearest],
        }  # fmt: skip
        candidates.append(Candidate(record, designed.images[i], nearest))
    result = ComposeResult(candidates, seconds, {request.category: config.n}, models.real_archive)
    return result, designed


def _class_index(models: ProductModels, request: Request) -> int | None:
    names = models.label_names or []
    return names.index(request.category) if models.G.c_dim and request.category in names else None


def slug(text: str) -> str:
    """A folder name for a request: its words joined by dashes."""
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:60] or "request"


def format_summary(request: Request, result: ComposeResult, designed: Designed) -> str:
    """What was understood, what was made, and what each candidate's checks said."""
    asked = ", ".join(f"{h}: {v}" for h, v in request.targets.items())
    lines = [
        f"request: {asked} (category {request.category_source})",
        f"not understood: {', '.join(request.unknown) or 'nothing'}",
    ]
    rows = []
    for c in result.candidates:
        r = c.record
        rows.append({
            "sku": r["sku"], "seed": r["provenance"]["seed"],
            "tagged": ", ".join(f"{k}: {v}" for k, v in r["provenance"]["detected"].items()),
            "matches": r["checks"]["matches_request"]["passed"], "status": r["status"],
            "failed": ", ".join(k for k, v in r["checks"].items() if not v["passed"]),
        })  # fmt: skip
    n = len(result.candidates)
    matched = int(designed.matched.sum())
    lines += [
        markdown_table(rows), *designed.notes,
        f"{matched} of {n} match every value asked (the tagger); {len(result.accepted)} "
        f"accepted; {designed.seconds / n:.2f} s per image",
    ]  # fmt: skip
    return "\n".join(lines)
