"""The tagger's training loss, shared by its image and text branches: cross-entropy per head
over the labelled items only, so an item missing a field teaches nothing about it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fauxshop.tagger.data import MISSING


def masked_cross_entropy(
    logits: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Sum over heads of the mean cross-entropy over labelled images; a head with no label
    in the batch adds exactly zero (and no gradient)."""
    total = next(iter(logits.values())).new_zeros(())
    for name, head_logits in logits.items():
        target = labels[name]
        loss = F.cross_entropy(head_logits, target, ignore_index=MISSING, reduction="sum")
        total = total + loss / (target != MISSING).sum().clamp(min=1)
    return total
