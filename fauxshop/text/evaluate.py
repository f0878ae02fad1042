"""Score a text model: val perplexity, then descriptions for held-out contexts, graded.

The contexts come from the val records (their full tag lists), so coverage and
contradictions are measured on products the model never trained on; memorisation is
measured against every training description.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any

import torch

from fauxshop.atomic import atomic_open
from fauxshop.errors import FauxshopError
from fauxshop.metrics.text import TrainingIndex, text_metrics
from fauxshop.text.config import SamplingConfig
from fauxshop.text.corpus import eval_windows, read_corpus, token_corpus
from fauxshop.text.models import load_trained, window
from fauxshop.text.sample import write

EVAL_FILE = "eval.json"


@torch.no_grad()
def val_loss(model, tokens, block: int, limit: int, amp: torch.dtype | None = None) -> float:
    """Mean next-token loss over the first `limit` val windows."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    losses = []
    for ids in eval_windows(tokens, block, limit):
        ids = ids.unsqueeze(0).to(device)
        with torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext():
            losses.append(model(input_ids=ids, labels=ids).loss.float().item())
    model.train(was_training)
    if not losses:
        raise FauxshopError("the val split has fewer than 2 tokens; nothing to evaluate")
    return sum(losses) / len(losses)


def _corpus_path(run: Path, meta: dict[str, Any], corpus: str | Path | None) -> Path:
    path = corpus or meta.get("corpus")
    if not path:
        raise FauxshopError(f"{run}: the model does not name its corpus; pass --corpus")
    return Path(path)


def evaluate_run(
    run: str | Path,
    corpus: str | Path | None = None,
    contexts: int = 100,
    sampling: SamplingConfig | None = None,
    windows: int = 64,
) -> dict[str, Any]:
    """Perplexity and text metrics of one run; also written to RUN/eval.json."""
    run = Path(run)
    model, tokenizer, meta = load_trained(run)
    fmt = meta.get("format", "context")
    block = int(meta.get("block_size", 256))
    path = _corpus_path(run, meta, corpus)
    records = read_corpus(path)  # full tag contexts: no dropout when grading
    cache = path.resolve().parent / "text-cache"
    data = token_corpus(records, tokenizer, fmt, window(model), cache)
    loss = val_loss(model, data.val, block, windows)

    if fmt == "context":  # distinct val contexts, in corpus order
        held_out: list[str | None] = list(dict.fromkeys(r.context for r in records.val))[:contexts]
    else:  # no contexts to give: free samples
        held_out = [None] * contexts
    samples = write(
        model, tokenizer, held_out, sampling or SamplingConfig(), fmt, show_progress=True
    )
    index = TrainingIndex(r.description for r in records.train)
    graded = [(s["context"] or "", s["description"]) for s in samples]
    result = {
        "run": str(run),
        "val_loss": round(loss, 4),
        "val_ppl": round(math.exp(min(loss, 50.0)), 3),
        **text_metrics(graded, index),
        "unfinished": sum(not s["finished"] for s in samples),
        "examples": samples[:5],
    }
    with atomic_open(run / EVAL_FILE if run.is_dir() else run.with_suffix(".eval.json")) as f:
        json.dump(result, f, indent=2)
    return result
