"""Write descriptions: batched, left-padded, KV-cached, stopping at EOS.

Every prompt starts with the EOS id, as every record but the first does in the packed
training stream, then the context line. The same seed, contexts and settings give the same
text on the same device, whatever else runs beside it: tokens are drawn from the call's own
torch.Generator, never torch's global RNG (the studio writes for concurrent requests).

`write` runs transformers' `generate` and draws a call's texts from one generator, so a text
depends on the others written with it. `write_rows` runs its own sampling loop, each text with
its own seed's generator and computed within its row, so a text is the same bits whether
written alone or beside any others, however many (products).
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import torch

from fauxshop.errors import FauxshopError
from fauxshop.progress import bar
from fauxshop.text import gpt2_rows
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
    call's own generator and leaves only that token finite, so `generate`'s greedy pick takes
    it. (`generate` samples from the global RNG, which concurrent callers share.)"""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(scores, dim=-1)
        drawn = torch.multinomial(probs, num_samples=1, generator=self.generator)
        return torch.full_like(scores, -float("inf")).scatter_(1, drawn, 0.0)


def _generators(seeds: list[int], device: torch.device) -> list[torch.Generator]:
    return [torch.Generator(device).manual_seed(seed) for seed in seeds]


def _processors(config: SamplingConfig, generator: torch.Generator) -> list:
    """Temperature, top-k and top-p as `generate` would apply them when sampling, then `_Draw`
    with `generator`; none for greedy writing."""
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
    return [*warpers, _Draw(generator)]


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
    processors = _processors(config, _generators([config.seed], device)[0])
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
    width: int,
) -> list[dict[str, Any]]:
    """One record per (context, seed), each drawn with its own seed's generator from its
    prompt left-padded to exactly `width` tokens (at least one pad), so a text is the same
    bits whether it is written alone or beside any others, however many: GPT-2 writes the rows
    together (`gpt2_rows`: every product and attention within a row), any other model one row
    at a time. `config.seed`, `n` and `batch_size` are not used."""
    limit = window(model)
    prompts = [_prompt_ids(tokenizer, context, fmt, limit) for context in contexts]
    for context, ids in zip(contexts, prompts, strict=True):
        if len(ids) >= width:
            raise FauxshopError(
                f"context {context!r} is {len(ids)} tokens; a prompt here holds {width - 1}"
            )
    max_new = _new_tokens(config, limit - width, limit)
    device = next(model.parameters()).device
    generators = _generators(seeds, device)
    eos = tokenizer.eos_token_id
    if gpt2_rows.supports(model):
        ids, mask = _left_pad(prompts, tokenizer.pad_token_id, width)
        runner = gpt2_rows.GPT2Rows(model, ids.to(device), (mask == 0).sum(1).to(device),
                                    width + max_new)  # fmt: skip
        rows = _sample(runner, prompts, generators, config, eos, max_new)
    else:
        rows = [
            _sample(_OneRow(model, ids, device), [ids], [generator], config, eos, max_new)[0]
            for ids, generator in zip(prompts, generators, strict=True)
        ]
    return [_record(tokenizer, c, row, fmt) for c, row in zip(contexts, rows, strict=True)]


class _OneRow:
    """Any causal LM writing one row with a transformers KV cache, for `_sample`."""

    def __init__(self, model, prompt: list[int], device: torch.device):
        from transformers import DynamicCache

        # the cache's argument is `past_key_values` before transformers 5.2x, then `cache`
        name = "cache" if "cache" in inspect.signature(model.forward).parameters else None
        self.model, self.kwargs = model, {name or "past_key_values": DynamicCache()}
        self.logits = self.step(torch.tensor(prompt, device=device))

    def step(self, tokens: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """The next logits after `tokens`, which the cache keeps (it is updated in place)."""
        return self.model(input_ids=tokens[None], use_cache=True, **self.kwargs).logits[:, -1]


def _sample(
    runner, prompts: list[list[int]], generators: list[torch.Generator],
    config: SamplingConfig, eos: int, max_new: int,
) -> list[list[int]]:  # fmt: skip
    """Each row's new ids (ending with EOS if it finished) from `runner`'s logits, a step at a
    time; a row that reached EOS leaves the batch."""
    logits = runner.logits
    going = list(range(len(prompts)))
    seen = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
    for row, ids in enumerate(prompts):
        seen[row, ids] = True
    written: list[list[int]] = [[] for _ in prompts]
    for step in range(max_new):
        tokens = _next_tokens(logits, seen, config, [generators[i] for i in going])
        drawn = tokens.tolist()
        for row, token in zip(going, drawn, strict=True):
            written[row].append(token)
        left = [j for j, token in enumerate(drawn) if token != eos]
        if not left or step == max_new - 1:
            break
        keep = None
        if len(left) < len(going):
            keep = torch.tensor(left, device=tokens.device)
            tokens, seen, going = tokens[keep], seen[keep], [going[j] for j in left]
        seen[torch.arange(len(going), device=tokens.device), tokens] = True
        logits = runner.step(tokens, keep)
    return written


NUCLEUS_FIRST = 64  # the likeliest tokens looked at first; a row whose nucleus is wider sorts all


def _next_tokens(
    logits: torch.Tensor, seen: torch.Tensor, config: SamplingConfig,
    generators: list[torch.Generator],
) -> torch.Tensor:  # fmt: skip
    """Each row's next token: repetition penalty, temperature, top-k and top-p as `generate`
    applies them, then one uniform draw from the row's generator picks from what is left
    (greedy: the likeliest). Every operation works within a row."""
    scores = logits
    if config.repetition_penalty != 1.0:
        penalty = config.repetition_penalty
        penalised = torch.where(scores < 0, scores * penalty, scores / penalty)
        scores = torch.where(seen, penalised, scores)
    if config.temperature <= 0:
        return scores.argmax(-1)
    scores = scores / config.temperature
    if config.top_k:
        kth = scores.topk(min(config.top_k, scores.shape[-1])).values[:, -1:]
        scores = scores.masked_fill(scores < kth, -torch.inf)
    probs = scores.softmax(-1)
    draws = torch.cat([
        torch.rand(1, generator=g, device=g.device) for g in generators
    ]).to(probs.device)  # fmt: skip
    if config.top_p >= 1.0:
        order = torch.arange(probs.shape[-1], device=probs.device).expand_as(probs)
        return _pick(probs, order, 2.0, draws)
    values, order = probs.topk(min(NUCLEUS_FIRST, probs.shape[-1]))
    tokens = _pick(values, order, config.top_p, draws)
    for row in (values.sum(-1) < config.top_p).nonzero().flatten().tolist():
        values, order = probs[row : row + 1].sort(descending=True)
        tokens[row] = _pick(values, order, config.top_p, draws[row : row + 1])[0]
    return tokens


def _pick(
    values: torch.Tensor, order: torch.Tensor, top_p: float, draws: torch.Tensor
) -> torch.Tensor:
    """Per row, the token at `draws` (rows,) of the way through the mass of the first tokens
    of `values` (with their ids in `order`) whose mass before them is under `top_p`."""
    cum = values.cumsum(-1)
    kept = ((cum - values) < top_p).sum(-1, keepdim=True).clamp(min=1)
    total = cum.gather(-1, kept - 1)
    at = torch.searchsorted(cum, draws[:, None] * total, right=True)
    return order.gather(-1, torch.minimum(at, kept - 1))[:, 0]


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
