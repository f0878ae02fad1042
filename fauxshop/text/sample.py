"""Write descriptions with transformers' `generate`: batched, left-padded, KV-cached, stops at EOS.

Every prompt starts with the EOS id, as every record but the first does in the packed
training stream, then the context line. The same seed, contexts and settings give the same
text on the same device.
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from fauxshop.errors import FauxshopError
from fauxshop.text.config import SamplingConfig
from fauxshop.text.corpus import prompt_text, split_record
from fauxshop.text.models import window


def _prompt_ids(tokenizer, context: str | None, fmt: str, limit: int) -> list[int]:
    text = prompt_text(context, fmt)
    ids = [tokenizer.eos_token_id]
    if text:
        ids += tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    if len(ids) >= limit:
        raise FauxshopError(
            f"context {context!r} is {len(ids)} tokens; the model's window is {limit}"
        )
    return ids


def _left_pad(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


@torch.no_grad()
def write(
    model, tokenizer, contexts: list[str | None], config: SamplingConfig, fmt: str = "context"
) -> list[dict[str, Any]]:
    """`config.n` records per context (None = free sampling, the model writes a context too).

    Returns dicts: context, description, tokens, finished (ended at EOS, not at the limit).
    """
    from transformers import GenerationConfig

    limit = window(model)
    prompts = [
        (context, _prompt_ids(tokenizer, context, fmt, limit))
        for context in contexts
        for _ in range(config.n)
    ]
    longest = max(len(ids) for _, ids in prompts)
    max_new = min(config.max_new_tokens, limit - longest)
    if max_new < config.max_new_tokens:
        print(
            f"warning: --max-new-tokens {config.max_new_tokens} cut to {max_new} "
            f"to fit the model's window of {limit}",
            file=sys.stderr,
        )
    greedy = config.temperature <= 0
    generation = GenerationConfig(
        do_sample=not greedy,
        temperature=None if greedy else config.temperature,
        top_k=config.top_k,
        top_p=None if greedy else config.top_p,
        repetition_penalty=config.repetition_penalty,
        max_new_tokens=max_new,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    device = next(model.parameters()).device
    torch.manual_seed(config.seed)
    results = []
    for start in range(0, len(prompts), config.batch_size):
        chunk = prompts[start : start + config.batch_size]
        ids, mask = _left_pad([p for _, p in chunk], tokenizer.pad_token_id)
        out = model.generate(
            input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=generation
        )
        for (context, _), row in zip(chunk, out[:, ids.shape[1] :].tolist(), strict=True):
            finished = tokenizer.eos_token_id in row
            new = row[: row.index(tokenizer.eos_token_id)] if finished else row
            text = tokenizer.decode(new, skip_special_tokens=True)
            if context is None:
                sampled_context, description = split_record(prompt_text(None, fmt) + text, fmt)
            else:
                sampled_context, description = context, text.strip()
            results.append(
                {
                    "context": sampled_context,
                    "description": description,
                    "tokens": len(new),
                    "finished": finished,
                }
            )
    return results
