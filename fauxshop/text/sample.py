"""Write descriptions with transformers' `generate`: batched, left-padded, KV-cached, stops at EOS.

Every prompt starts with the EOS id, as every record but the first does in the packed
training stream, then the context line. The same seed, contexts and settings give the same
text on the same device, whatever else runs beside it: tokens are drawn from the call's own
torch.Generator, never torch's global RNG (the studio writes for concurrent requests).

`write` draws a call's texts from one generator, so a text depends on the others written with
it. `write_rows` gives each text its own seed and generator and runs batches of one fixed
shape, so a text is the same whether written alone or beside any others (products).
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from fauxshop.errors import FauxshopError
from fauxshop.progress import bar
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


def _left_pad(
    rows: list[list[int]], pad: int, width: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows left-padded to `width` (None: the longest row's)."""
    width = width or max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


def _new_tokens(config: SamplingConfig, room: int, limit: int) -> int:
    """The user's --max-new-tokens, cut (with a warning) to the `room` the window leaves after
    the longest prompt; unset, all of that room, silently."""
    if config.max_new_tokens is None:
        return room
    if config.max_new_tokens < 1:
        raise FauxshopError(f"--max-new-tokens {config.max_new_tokens}: must be at least 1")
    if config.max_new_tokens > room:
        print(
            f"warning: --max-new-tokens {config.max_new_tokens} cut to {room} "
            f"to fit the model's window of {limit}",
            file=sys.stderr,
        )
    return min(config.max_new_tokens, room)


class _Draw:
    """The last logits processor: draws each row's next token from the warped scores with the
    call's own generators and leaves only that token finite, so `generate`'s greedy pick takes
    it. (`generate` samples from the global RNG, which concurrent callers share.) One generator
    draws for every row; several, one per row, make each row's draws its own."""

    def __init__(self, generators: list[torch.Generator]):
        self.generators = generators

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(scores, dim=-1)
        if len(self.generators) == 1:
            drawn = torch.multinomial(probs, num_samples=1, generator=self.generators[0])
        else:
            drawn = torch.cat([
                torch.multinomial(row[None], num_samples=1, generator=generator)
                for row, generator in zip(probs, self.generators, strict=True)
            ])  # fmt: skip
        return torch.full_like(scores, -float("inf")).scatter_(1, drawn, 0.0)


def _generators(seeds: list[int], device: torch.device) -> list[torch.Generator]:
    return [torch.Generator(device).manual_seed(seed) for seed in seeds]


def _processors(config: SamplingConfig, generators: list[torch.Generator]) -> list:
    """Temperature, top-k and top-p as `generate` would apply them when sampling, then `_Draw`
    with `generators`; none for greedy writing."""
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    if config.temperature <= 0:
        return []
    warpers = []
    if config.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(config.temperature))
    if config.top_k:
        warpers.append(TopKLogitsWarper(config.top_k))
    if config.top_p < 1.0:
        warpers.append(TopPLogitsWarper(config.top_p))
    return [*warpers, _Draw(generators)]


class _CountFinished:
    """A stopping criterion that never stops: it advances `progress` as each text in the batch
    reaches EOS and shows the batch's token count against its limit, so a long batch shows
    headway, not one jump at its end."""

    def __init__(self, progress, prompt_width: int, eos: int, max_new: int):
        self.progress, self.width, self.eos, self.max_new = progress, prompt_width, eos, max_new
        self.counted = 0

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        new = input_ids[:, self.width :]
        done = int((new == self.eos).any(dim=1).sum())
        self.progress.set_postfix_str(f"token {new.shape[1]} of at most {self.max_new}", False)
        self.progress.update(done - self.counted)
        self.counted = done
        return torch.zeros(len(input_ids), dtype=torch.bool, device=input_ids.device)


def _generation(config: SamplingConfig, tokenizer, max_new: int):
    from transformers import GenerationConfig

    return GenerationConfig(
        do_sample=False,  # sampling is `_processors`' draw; generate keeps the one finite token
        repetition_penalty=config.repetition_penalty,
        max_new_tokens=max_new,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


@torch.no_grad()
def write(
    model,
    tokenizer,
    contexts: list[str | None],
    config: SamplingConfig,
    fmt: str = "context",
    show_progress: bool = False,
) -> list[dict[str, Any]]:
    """`config.n` records per context (None = free sampling, the model writes a context too),
    with a bar over the texts when `show_progress` (a verb writing many; off inside products).

    Returns dicts: context, description, tokens, finished (ended at EOS, not at the limit).
    """
    limit = window(model)
    prompts = [
        (context, _prompt_ids(tokenizer, context, fmt, limit))
        for context in contexts
        for _ in range(config.n)
    ]
    max_new = _new_tokens(config, limit - max(len(ids) for _, ids in prompts), limit)
    generation = _generation(config, tokenizer, max_new)
    device = next(model.parameters()).device
    processors = _processors(config, _generators([config.seed], device))
    results = []
    with bar(len(prompts), "write", unit="text", enabled=show_progress) as progress:
        for start in range(0, len(prompts), config.batch_size):
            chunk = prompts[start : start + config.batch_size]
            ids, mask = _left_pad([p for _, p in chunk], tokenizer.pad_token_id)
            finished = _CountFinished(progress, ids.shape[1], tokenizer.eos_token_id, max_new)
            out = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                generation_config=generation,
                logits_processor=processors,
                stopping_criteria=[finished],
            )
            progress.update(len(chunk) - finished.counted)  # the texts cut at the limit
            results += [
                _record(tokenizer, context, row, fmt)
                for (context, _), row in zip(chunk, out[:, ids.shape[1] :].tolist(), strict=True)
            ]
    return results


@torch.no_grad()
def write_rows(
    model,
    tokenizer,
    contexts: list[str],
    seeds: list[int],
    config: SamplingConfig,
    fmt: str,
    rows: int,
    width: int,
) -> list[dict[str, Any]]:
    """One record per (context, seed), each drawn with its own seed, in batches of exactly
    `rows` prompts (the last filled with copies of its last) left-padded to exactly `width`
    tokens: every batch has the same shape and every row at least one pad (so `generate`
    always takes the masked attention path), and a row's tokens come from its own generator,
    so a text does not depend on what it is written beside, or with how many.
    `config.seed`, `n` and `batch_size` are not used."""
    limit = window(model)
    prompts = [_prompt_ids(tokenizer, context, fmt, limit) for context in contexts]
    for context, ids in zip(contexts, prompts, strict=True):
        if len(ids) >= width:
            raise FauxshopError(
                f"context {context!r} is {len(ids)} tokens; a prompt here holds {width - 1}"
            )
    generation = _generation(config, tokenizer, _new_tokens(config, limit - width, limit))
    device = next(model.parameters()).device
    results = []
    for start in range(0, len(prompts), rows):
        given = list(range(start, min(start + rows, len(prompts))))
        chunk = given + given[-1:] * (rows - len(given))
        ids, mask = _left_pad([prompts[i] for i in chunk], tokenizer.pad_token_id, width)
        out = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            generation_config=generation,
            logits_processor=_processors(config, _generators([seeds[i] for i in chunk], device)),
        )
        news = out[: len(given), width:].tolist()
        results += [
            _record(tokenizer, contexts[i], row, fmt) for i, row in zip(given, news, strict=True)
        ]
    return results


def _record(tokenizer, context: str | None, row: list[int], fmt: str) -> dict[str, Any]:
    """One generated row of ids (after the prompt) as a record."""
    finished = tokenizer.eos_token_id in row
    new = row[: row.index(tokenizer.eos_token_id)] if finished else row
    text = tokenizer.decode(new, skip_special_tokens=True)
    if context is None:
        context, description = split_record(prompt_text(None, fmt) + text, fmt)
    else:
        description = text.strip()
    return {
        "context": context,
        "description": description,
        "tokens": len(new),
        "finished": finished,
    }
