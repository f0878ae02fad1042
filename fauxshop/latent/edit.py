"""Editing along a direction: add strength x direction to chosen W+ rows, show it as a grid, and
measure what each direction changes besides the one thing it should.

Layers are ws rows, parsed by `mixing.parse_styles` ('coarse', '0-6', ...): an edit confined
to the coarse rows moves the silhouette (dress length) and leaves colour alone; one confined to
the fine rows does the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from fauxshop.errors import FauxshopError
from fauxshop.image.networks import Generator
from fauxshop.latent.directions import (
    Direction,
    Target,
    head_score,
    parse_target,
    score_ws,
)
from fauxshop.latent.generate import render_ws, seeds_to_ws
from fauxshop.latent.projection import render_projection
from fauxshop.pixels import tile_grid
from fauxshop.tagger import ImageScorer


def parse_strengths(text: str) -> list[float]:
    """'-3:3:7' (start:stop:count, evenly spaced, both ends included), '-2,0,2' or '1.5'."""
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            if int(count) < 2:
                raise ValueError("count must be >= 2")
            return [float(s) for s in np.linspace(float(start), float(stop), int(count))]
        return [float(s) for s in text.split(",")]
    except ValueError as e:
        raise FauxshopError(f"bad strengths {text!r}: use START:STOP:COUNT or A,B,C ({e})") from e


def edit_ws(
    ws: torch.Tensor,
    direction: Direction | torch.Tensor,
    strengths: Sequence[float],
    layers: Sequence[int] | None = None,
) -> torch.Tensor:
    """N x S x num_ws x w_dim: each ws moved by each strength along the direction, on the
    `layers` rows only (default: the direction's own layers, else every row)."""
    vector = direction.vector if isinstance(direction, Direction) else direction
    if layers is None and isinstance(direction, Direction):
        layers = direction.layers
    rows = torch.zeros(ws.shape[1], dtype=ws.dtype, device=ws.device)
    rows[list(range(ws.shape[1])) if layers is None else list(layers)] = 1
    s = torch.tensor(list(strengths), dtype=ws.dtype, device=ws.device)
    step = rows[:, None] * vector.to(ws)[None, :]  # num_ws x w_dim
    return ws.unsqueeze(1) + s[None, :, None, None] * step


def edit_grid(
    G: Generator,
    ws: torch.Tensor,
    direction: Direction | torch.Tensor,
    strengths: Sequence[float],
    layers: Sequence[int] | None = None,
    noises: Sequence[dict[str, torch.Tensor]] | None = None,
    batch: int = 16,
    fill: int = 255,
) -> np.ndarray:
    """One uint8 image: a row per latent, a column per strength (strength 0 is the latent
    itself). ws: N x num_ws x w_dim, from seeds (`seeds_to_ws`) or projected photos; noises:
    each projection's own noise maps (default: G's constant noise)."""
    if not strengths:
        raise FauxshopError("edit: no strengths given")
    if noises is not None and len(noises) != len(ws):
        raise FauxshopError(f"edit: {len(ws)} latents but {len(noises)} noise sets")
    edited = edit_ws(ws, direction, strengths, layers)
    if noises is None:
        images = render_ws(G, edited.flatten(0, 1), batch=batch, desc="edit")
    else:
        images = np.concatenate(
            [render_projection(G, row, noise) for row, noise in zip(edited, noises, strict=True)]
        )
    return tile_grid(images, len(strengths), fill)


def _delta_key(head: str) -> str:
    return f"{head} Δ/step"


def _same_key(head: str) -> str:
    return f"{head} same top"


def _moved_key(head: str) -> str:
    return f"{head} moved/step"


def _rises_key(head: str) -> str:
    return f"{head} rises"


def disentanglement(
    G: Generator,
    scorer: ImageScorer,
    directions: Sequence[Direction],
    seeds: Sequence[int],
    strength: float = 1.0,
    targets: Sequence[str] = (),
    psi: float = 1.0,
    class_index: int | None = None,
    batch: int = 16,
) -> list[dict[str, Any]]:
    """Per direction: how much each head's score moves per unit step (central difference over
    ±`strength`, averaged over the seeds), and the share of those edits that keep each head's
    top class. A clean direction moves one head and keeps the others' top classes.

    A head's score is P(target classes) for heads named in `targets` ('colour:red'), else its
    expected class index in [0, 1] (see `head_score`), which only means something for ordered
    heads (length). For every head, also: how far its class distribution moves per unit step
    (total variation, blind to class order, so right for colour or category) and the class
    whose probability rises most.
    """
    if strength <= 0:
        raise FauxshopError(f"strength must be > 0, got {strength}")
    given = {t.head: t for t in (parse_target(spec, scorer.heads) for spec in targets)}
    ws = seeds_to_ws(G, seeds, psi, class_index, batch)
    base = score_ws(G, scorer, ws, batch, desc="unedited")
    rows = []
    for d in directions:
        edited = edit_ws(ws, d, [-strength, strength]).flatten(0, 1)
        probs = score_ws(G, scorer, edited, batch, desc=d.name)
        own = _own_target(d, scorer)
        target_of = {**given, own.head: own} if own is not None else given
        row: dict[str, Any] = {"direction": d.name, "method": d.method}
        row["target"] = str(own) if own is not None else ""
        for head in scorer.heads:
            s = head_score(probs[head], target_of.get(head)).reshape(-1, 2)
            row[_delta_key(head)] = float((s[:, 1] - s[:, 0]).mean() / (2 * strength))
        for head in scorer.heads:
            p = probs[head].reshape(-1, 2, probs[head].shape[1])
            rise = p[:, 1] - p[:, 0]
            row[_moved_key(head)] = float(0.5 * rise.abs().sum(dim=1).mean() / (2 * strength))
            row[_rises_key(head)] = scorer.heads[head][int(rise.mean(dim=0).argmax())]
        for head in scorer.heads:
            top = probs[head].argmax(dim=1).reshape(-1, 2)
            row[_same_key(head)] = float((top == base[head].argmax(dim=1)[:, None]).float().mean())
        rows.append(row)
    return rows


def _own_target(d: Direction, scorer: ImageScorer) -> Target | None:
    """What a direction is meant to raise: its InterFaceGAN target, or the class a matched
    component was named by; None for an unnamed one."""
    spec = d.meta.get("target")
    if spec is None and "matched" in d.meta:
        spec = f"{d.meta['matched']['head']}:{d.meta['matched']['class']}"
    try:
        return None if spec is None else parse_target(spec, scorer.heads)
    except FauxshopError:
        return None  # named by another tagger: measured without a target


def disentanglement_summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One short row per direction from `disentanglement` rows: the target's score change per
    step, how far the target head and the most-moved other head shift (total variation per
    step), and the share of edits that keep the category. Clean: a large first shift, a small
    second, category kept near 1."""
    summary = []
    for row in rows:
        heads = [k.removesuffix(" moved/step") for k in row if k.endswith(" moved/step")]
        head = row["target"].partition(":")[0]
        others = [h for h in heads if h != head]
        worst = max(others, key=lambda h: row[_moved_key(h)]) if others else None
        summary.append(
            {
                "direction": row["direction"],
                "method": row["method"],
                "target": row["target"] or "-",
                "target Δ/step": row[_delta_key(head)] if head else None,
                "target moved/step": row[_moved_key(head)] if head else None,
                "most-moved other": worst,
                "other moved/step": row[_moved_key(worst)] if worst else None,
                "category kept": row.get(_same_key("category")),
            }
        )
    return summary


def match_names(
    G: Generator,
    scorer: ImageScorer,
    directions: Sequence[Direction],
    seeds: Sequence[int],
    strength: float = 1.0,
    class_index: int | None = None,
) -> list[Direction]:
    """Name unsupervised directions ('pc3', 'sefa0') by the head whose class distribution each
    moves most, and the class a positive step makes likelier: 'pc3-colour:red'. Class order
    plays no part, so unordered heads (colour, category) are named as well as ordered ones."""
    rows = disentanglement(G, scorer, directions, seeds, strength, class_index=class_index)
    named = []
    for d, row in zip(directions, rows, strict=True):
        head = max(scorer.heads, key=lambda h: row[_moved_key(h)])
        rises = row[_rises_key(head)]
        matched = {"head": head, "class": rises, "moved_per_step": row[_moved_key(head)]}
        named.append(
            replace(d, name=f"{d.name}-{head}:{rises}", meta={**d.meta, "matched": matched})
        )
    return named
