"""GPT-2 run row by row in one batch: a static KV cache, and no row's bits depending on another.

A BLAS matrix product's rounding depends on how many rows it is given (MKL takes other
kernels and blockings for 1 row, for 10, for 500), so a text sampled in a batch drifts from
the same text sampled alone. Here every matrix product has exactly `BLOCK` rows per token
position (the rows beyond the batch zeros), where a row's result does not depend on its place
or its neighbours; attention and the normalisations work within a row; and the prompt is
left-padded to a fixed width. So a row's logits are the same bits whatever rows run beside it,
or how many. (One product per row, `torch.bmm`, is exact by construction too but costs 3x
here: 16 matrix-vector products per layer instead of one matrix product.) Only GPT-2 (the
shipped writer and `--from-scratch` models) runs here; `sample.write_rows` runs other models
one row at a time.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F


def supports(model) -> bool:
    """Whether `model` is a GPT-2 this module runs as transformers would."""
    config = model.config
    return (
        config.model_type == "gpt2"
        and hasattr(model, "transformer")
        and not config.scale_attn_by_inverse_layer_idx
        and not config.reorder_and_upcast_attn
        and config.scale_attn_weights
        and not config.add_cross_attention
    )


BLOCK = 16  # rows per matrix product
# GPT-2's tanh GELU as one operation (transformers' spells it out in six)
_ACTIVATIONS = dict.fromkeys(
    ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"), partial(F.gelu, approximate="tanh")
)


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x (rows, T, in) @ weight (in, out) + bias, in products of exactly `BLOCK` rows (the
    last one filled with zeros), each written straight into the result."""
    rows, width, _ = x.shape
    flat, step = x.reshape(rows * width, -1), BLOCK * width
    out = flat.new_empty(-(-rows // BLOCK) * step, weight.shape[1])
    for start in range(0, rows * width, step):
        block = flat[start : start + step]
        if len(block) < step:
            block = torch.cat([block, block.new_zeros(step - len(block), block.shape[1])])
        if bias is None:
            torch.mm(block, weight, out=out[start : start + step])
        else:
            torch.addmm(bias, block, weight, out=out[start : start + step])
    return out[: rows * width].view(rows, width, -1)


class GPT2Rows:
    """A batch of left-padded prompts, then one token per row per step, with a cache of every
    layer's keys and values sized for the whole text. Rows may stop writing between steps
    (`keep`): the others' bits do not change."""

    def __init__(self, model, prompts: torch.Tensor, pads: torch.Tensor, length: int):
        """`prompts` (rows, width) left-padded with `pads` (rows,) pads each; `length`: the
        most positions a row will hold (width + new tokens)."""
        from transformers.activations import ACT2FN

        t = model.transformer
        config = model.config
        self.heads, self.eps = config.n_head, config.layer_norm_epsilon
        self.act = (
            _ACTIVATIONS.get(config.activation_function) or ACT2FN[config.activation_function]
        )
        self.wte, self.wpe = t.wte.weight, t.wpe.weight
        self.head = model.lm_head.weight.t().contiguous()  # (embd, vocab): products run faster
        self.layers = t.h
        self.final = t.ln_f
        rows, width = prompts.shape
        dim = self.wte.shape[1] // self.heads
        self.cache = [
            torch.zeros(
                2, rows, self.heads, length, dim, dtype=self.wte.dtype, device=prompts.device
            )
            for _ in self.layers
        ]
        self.pads = pads
        self.writing = torch.arange(rows, device=prompts.device)  # the cache rows still writing
        columns = torch.arange(length, device=prompts.device)
        # a pad's key is never attended to; a pad's query attends to itself alone (any finite
        # value: no real position reads it)
        self.attend = (columns[None] >= pads[:, None])[:, None, None]  # (rows, 1, 1, length)
        self.position = width
        causal = columns[:width, None] >= columns[None, :width]
        prompt_mask = (self.attend[..., :width] & causal) | torch.eye(
            width, dtype=torch.bool, device=prompts.device
        )
        positions = (columns[None, :width] - pads[:, None]).clamp(min=0)
        self.logits = self._forward(prompts, positions, prompt_mask, 0)

    def step(self, tokens: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """The next logits (rows kept, vocab) after each kept row's `tokens` (rows kept,);
        `keep`: the indices, among the rows kept so far, of those still writing (None: all).

        A row that stops writing stays in the cache, fed token 0 (its logits unread), until
        the rows left fit in fewer `BLOCK`s or half of the cache's rows are idle: then the
        cache is cut to the writing rows. (Cutting at every stop copied the whole cache up to
        `BLOCK` times a batch, more than the idle rows cost.)"""
        if keep is not None:
            self.writing = self.writing[keep]
            held, left = len(self.pads), len(self.writing)
            if -(-left // BLOCK) < -(-held // BLOCK) or 2 * left <= held:
                self.cache = [c[:, self.writing] for c in self.cache]
                self.pads, self.attend = self.pads[self.writing], self.attend[self.writing]
                self.writing = torch.arange(left, device=self.writing.device)
        at = self.position
        self.position += 1
        fed = tokens.new_zeros(len(self.pads)).index_copy_(0, self.writing, tokens)
        positions = (at - self.pads)[:, None]
        logits = self._forward(fed[:, None], positions, self.attend[..., : at + 1], at)
        return logits if len(self.writing) == len(logits) else logits[self.writing]

    @torch.no_grad()  # writing only (`_linear`'s out= products refuse autograd)
    def _forward(self, ids, positions, mask, at: int) -> torch.Tensor:
        """Run `ids` (rows, T) at cache columns at..at+T; the last position's logits."""
        x = F.embedding(ids, self.wte) + F.embedding(positions, self.wpe)
        end = at + ids.shape[1]
        for layer, cache in zip(self.layers, self.cache, strict=True):
            h = F.layer_norm(x, x.shape[-1:], layer.ln_1.weight, layer.ln_1.bias, self.eps)
            qkv = _linear(h, layer.attn.c_attn.weight, layer.attn.c_attn.bias)
            q, k, v = (
                part.unflatten(-1, (self.heads, -1)).transpose(1, 2) for part in qkv.chunk(3, -1)
            )
            cache[0, :, :, at:end] = k
            cache[1, :, :, at:end] = v
            attended = (
                F.scaled_dot_product_attention(
                    q, cache[0, :, :, :end], cache[1, :, :, :end], attn_mask=mask
                )
                .transpose(1, 2)
                .flatten(2)
            )
            x = x + _linear(attended, layer.attn.c_proj.weight, layer.attn.c_proj.bias)
            h = F.layer_norm(x, x.shape[-1:], layer.ln_2.weight, layer.ln_2.bias, self.eps)
            h = self.act(_linear(h, layer.mlp.c_fc.weight, layer.mlp.c_fc.bias))
            x = x + _linear(h, layer.mlp.c_proj.weight, layer.mlp.c_proj.bias)
        last = F.layer_norm(x[:, -1:], x.shape[-1:], self.final.weight, self.final.bias, self.eps)
        return _linear(last, self.head, None)[:, 0]
