"""The text corpus: catalog records → prompts → token ids, packed, cached and cut into windows.

A record is a description alone (`plain`) or `Context: <tags>\\nDescription: <text>`
(`context`), so the model can later be prompted with a context such as "sleeveless red
midi dress" and write the rest. Every record ends with the tokenizer's EOS *id*, appended
after encoding; text is encoded with special tokens split, so a literal "<|endoftext|>"
inside a description stays ordinary text and cannot end a record early.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fauxshop.atomic import atomic_dir, atomic_path
from fauxshop.catalog.taxonomy import ATTRIBUTE_VALUES, unknown_words
from fauxshop.errors import FauxshopError
from fauxshop.text.tokenizer import fingerprint

FORMATS = ("context", "plain")
VAL_SPLITS = ("val", "validation", "test")
HOLDOUT_EVERY = 20  # with no val records in the corpus, every 20th train record validates
MIN_RECORDS = 2

# Tag values as the adjectives a shopper would type; every one is a phrase find_mentions reads.
TAG_WORDS: dict[str, dict[str, str]] = {
    "sleeve": {"sleeveless": "sleeveless", "short": "short-sleeved", "long": "long-sleeved"},
    "colour": {colour: colour for colour in ATTRIBUTE_VALUES["colour"]},
    "pattern": {
        "solid": "solid",
        "stripes": "striped",
        "dots": "polka-dot",
        "floral": "floral",
        "plaid": "plaid",
    },
    "length": {"mini": "mini", "knee": "knee-length", "midi": "midi", "maxi": "maxi"},
    "neckline": {
        "crew": "crew-neck",
        "v-neck": "v-neck",
        "square": "square-neck",
        "boat": "boat-neck",
    },
}


def context_from_tags(category: str, attributes: dict[str, Any]) -> str:
    """ "sleeveless red floral midi v-neck dress": known tag values in a fixed order + category."""
    words = [
        TAG_WORDS[name][attributes[name]]
        for name in TAG_WORDS
        if attributes.get(name) in TAG_WORDS[name]
    ]
    return " ".join([*words, category]).strip()


def prompt_text(context: str | None, fmt: str) -> str:
    """What precedes the description: the context line (free sampling: just the label)."""
    if fmt == "plain":
        return ""
    if context is None:
        return "Context:"
    return f"Context: {context}\nDescription:"


def context_note(contexts: list[str | None], fmt: str) -> str | None:
    """A one-line note on what of `contexts` the writer never saw in training (None: all of it
    is known): everything under the plain format, else words outside the tag vocabulary."""
    given = [c for c in contexts if c]
    if not given:
        return None
    if fmt == "plain":
        return "note: this writer learned plain descriptions, without contexts; it ignores them"
    unknown = dict.fromkeys(w for c in given for w in unknown_words(c))
    if not unknown:
        return None
    return (
        "note: not in the tag vocabulary the writer's contexts are made of, "
        f"so it may ignore: {', '.join(unknown)}"
    )


def record_text(context: str, description: str, fmt: str) -> str:
    return description if fmt == "plain" else f"{prompt_text(context, fmt)} {description}"


def split_record(text: str, fmt: str) -> tuple[str | None, str]:
    """(context, description) of a generated record; context None when the format has none."""
    if fmt == "plain":
        return None, text.strip()
    head, sep, description = text.partition("\nDescription:")
    if not sep:
        return head.removeprefix("Context:").strip(), ""
    return head.removeprefix("Context:").strip(), description.strip()


@dataclass
class Record:
    sku: str
    context: str
    description: str
    split: str


@dataclass
class Corpus:
    """The usable records by split, and what was skipped on the way (counted, never silent)."""

    train: list[Record]
    val: list[Record]
    skipped: Counter = field(default_factory=Counter)
    held_out: bool = False  # val taken from train because the corpus had no val split


def _context_of(row: dict[str, Any], dropout: float, seed: int) -> str:
    """Tags with each dropped at random (fixed per sku and seed), so short contexts work too;
    the title when the row has no known tags."""
    attributes = row.get("attributes") or {}
    rng = random.Random(f"{seed}:{row.get('sku')}")
    kept = {k: v for k, v in attributes.items() if k in TAG_WORDS and rng.random() >= dropout}
    if not any(attributes.get(k) in TAG_WORDS[k] for k in TAG_WORDS):
        return str(row.get("title") or row.get("category") or "").strip().lower()
    return context_from_tags(str(row.get("category") or ""), kept)


def read_corpus(path: str | Path, context_dropout: float = 0.0, seed: int = 0) -> Corpus:
    """Records from a corpus JSONL (as `fauxshop pack` writes); bad lines skipped and counted."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FauxshopError(f"{path}: cannot read the corpus ({e})") from e
    train, val, skipped = [], [], Counter()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            skipped["malformed_json"] += 1
            continue
        description = row.get("description") if isinstance(row, dict) else None
        if not isinstance(description, str) or not description.strip():
            skipped["no_description"] += 1
            continue
        split = str(row.get("split") or "train")
        record = Record(
            str(row.get("sku", f"line{number}")),
            _context_of(row, context_dropout, seed),
            description.strip(),
            split,
        )
        (val if split in VAL_SPLITS else train).append(record)
    if len(train) + len(val) < MIN_RECORDS:
        raise FauxshopError(
            f"{path}: {len(train) + len(val)} usable records (skipped: {dict(skipped) or 0}); "
            f"a text model needs at least {MIN_RECORDS}"
        )
    corpus = Corpus(train, val, skipped)
    if not val:
        corpus.val = train[::HOLDOUT_EVERY]
        corpus.train = [r for i, r in enumerate(train) if i % HOLDOUT_EVERY]
        corpus.held_out = True
    if not corpus.train:
        corpus.train, corpus.val = corpus.val, corpus.val[:1]
    return corpus


# ----------------------------------------------------------------------------------------------
# Token ids, packed and cached


@dataclass
class TokenCorpus:
    train: np.ndarray  # all train records' ids end to end, each record ended by EOS
    val: np.ndarray
    meta: dict[str, Any]


def encode_records(tokenizer, texts: list[str], max_tokens: int) -> tuple[list[list[int]], int]:
    """Ids per record, cut to `max_tokens` including the EOS id appended to each; also how
    many records were cut."""
    eos = tokenizer.eos_token_id
    ids = tokenizer(texts, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    truncated = sum(len(r) > max_tokens - 1 for r in ids)
    return [r[: max_tokens - 1] + [eos] for r in ids], truncated


def _pack(records: list[list[int]], dtype: np.dtype) -> np.ndarray:
    return np.fromiter((t for r in records for t in r), dtype=dtype)


def token_corpus(
    corpus: Corpus, tokenizer, fmt: str, max_tokens: int, cache_root: Path
) -> TokenCorpus:
    """Both splits tokenised and packed; cached under `cache_root` by content and tokenizer."""
    if fmt not in FORMATS:
        raise FauxshopError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    texts = {
        name: [record_text(r.context, r.description, fmt) for r in records]
        for name, records in (("train", corpus.train), ("val", corpus.val))
    }
    digest = hashlib.sha256(json.dumps([texts, max_tokens, fingerprint(tokenizer)]).encode())
    folder = Path(cache_root) / digest.hexdigest()[:16]
    dtype = np.dtype(np.uint16 if len(tokenizer) <= 2**16 else np.uint32)
    if not (folder / "meta.json").is_file():
        with atomic_dir(folder) as tmp:
            meta: dict[str, Any] = {"dtype": dtype.name, "format": fmt, "max_tokens": max_tokens}
            for name, split_texts in texts.items():
                records, truncated = encode_records(tokenizer, split_texts, max_tokens)
                packed = _pack(records, dtype)
                with atomic_path(tmp / f"{name}.bin", fsync=False) as out:
                    packed.tofile(out)
                meta[name] = {
                    "records": len(records),
                    "tokens": len(packed),
                    "truncated": truncated,
                }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    meta["cache"] = str(folder)
    train, val = (_read_tokens(folder / f"{name}.bin", meta["dtype"]) for name in ("train", "val"))
    return TokenCorpus(train, val, meta)


def _read_tokens(path: Path, dtype: str) -> np.ndarray:
    """A read-only memmap (an empty split is an empty array: numpy cannot map 0 bytes)."""
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")


# ----------------------------------------------------------------------------------------------
# Windows


class WindowSampler:
    """Training windows in a fixed order that depends only on (seed, index).

    Every window starts where a record starts, so each record is seen once per epoch from
    its first token: its description always has its context in view (a window cut at a
    random offset would train many descriptions with the context cut off). The window
    runs on into the following records, as in any packed corpus. Window k of the
    infinite sequence is a pure function of k, so a resumed run (or rank r of a torchrun
    job) asks for exactly the windows it would have seen.
    """

    def __init__(self, tokens: np.ndarray, block: int, seed: int, eos_id: int):
        if len(tokens) < block:
            raise FauxshopError(
                f"the training corpus has {len(tokens)} tokens, fewer than one window of "
                f"{block}; lower --block-size or add records"
            )
        self.tokens, self.block, self.seed = tokens, block, seed
        starts = np.concatenate([[0], np.flatnonzero(np.asarray(tokens) == eos_id) + 1])
        fits = starts[starts + block <= len(tokens)]
        # Records too near the end for a full window share the last full window.
        self.starts = (
            fits if fits[-1] == len(tokens) - block else np.append(fits, len(tokens) - block)
        )
        self.per_epoch = len(self.starts)
        self._order: tuple[int, np.ndarray] | None = None

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._order = (epoch, rng.permutation(self.per_epoch))
        return self._order[1]

    def window(self, k: int) -> np.ndarray:
        epoch, i = divmod(k, self.per_epoch)
        start = int(self.starts[self._epoch_order(epoch)[i]])
        return self.tokens[start : start + self.block]

    def batch(self, first: int, size: int) -> torch.Tensor:
        """Windows first .. first+size-1 as a (size, block) tensor of ids."""
        rows = [self.window(k).astype(np.int64) for k in range(first, first + size)]
        return torch.from_numpy(np.stack(rows))


def eval_windows(tokens: np.ndarray, block: int, limit: int) -> list[torch.Tensor]:
    """Non-overlapping windows from the start of `tokens` (at most `limit`), for val loss."""
    block = min(block, len(tokens))
    count = min(limit, len(tokens) // block) if block >= 2 else 0
    return [
        torch.from_numpy(tokens[i * block : (i + 1) * block].astype(np.int64)) for i in range(count)
    ]
