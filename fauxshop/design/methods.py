"""Three ways to photos matching a request's tag values, on any generator and tagger.

- reject: sample the category's class from `seed_start` on (psi truncating towards the
  class's own mean w, as `products` does: towards the global mean a rare class drifts to the
  common one), score each photo, keep those whose top class on every requested head is the
  value asked with at least `match_confidence` (in seed order), looking at `max_samples` at
  most; short of `n`, the best of the rest by the request's log-probability. (On generated
  photos the tagger's unsure readings are the ones an independent judge reads otherwise.)
- steer: a `Bank` of sampled ws (across G's classes) scored once by the tagger gives each
  class its centroid in W and each value a linear boundary in W (one-vs-rest logistic
  regression on the tagger's top class: InterFaceGAN's boundary, fitted on shared samples so
  every value costs one fit, not one sampling). Samples around the centroid (rare.py's
  `around_centroid`) move along each value's unit normal until they lie at least as far
  along it as the value's samples do on average plus `margin` of their std (the normal's
  own scale, so the move means the same for a well and a badly separated value), a few
  rounds, as the moves for one value shift the others.
- optimise: from steer's ws (or reject's, `start`), Adam on W+ raises the tagger's
  log-probability of every value asked, photos scored as rendered (differentiably), plus a
  realism term: the squared distance of each row from the class centroid beyond the class's
  typical spread, and of the rows from their mean (W+ rows drifting apart draw what no w
  draws).

Every method is deterministic for a seed: the same request and config give the same bits.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from fauxshop.design.config import DesignConfig
from fauxshop.errors import FauxshopError
from fauxshop.image.networks import Generator
from fauxshop.latent.directions import fit_logistic
from fauxshop.latent.generate import render_ws, seeds_to_ws
from fauxshop.latent.rare import around_centroid
from fauxshop.latent.sampling import class_index
from fauxshop.progress import progress
from fauxshop.tagger import ImageScorer
from fauxshop.tagger.scoring import score_images

BANK_SEED = 10_000_000  # the bank's seeds, away from the ones requests are drawn with
STEER_ROUNDS = 4
MIN_POSITIVES = 5  # fewer bank samples of a value than this: no boundary to steer by


@dataclass
class Designed:
    """The photos found for a request, with their ws and what the tagger makes of them."""

    images: np.ndarray  # N x H x W x C uint8
    ws: torch.Tensor  # N x num_ws x w_dim
    seeds: list[int]
    log_prob: torch.Tensor  # N: the request's summed log-probability under the tagger
    matched: torch.Tensor  # N bools: the tagger sees every value asked (match_confidence sure)
    seconds: float
    notes: list[str] = field(default_factory=list)


def value_columns(scorer: ImageScorer, targets: Mapping[str, str]) -> dict[str, int]:
    """The tagger's column of each value asked; FauxshopError for one it cannot score."""
    out = {}
    for head, value in targets.items():
        classes = scorer.heads.get(head)
        if classes is None or value not in classes:
            raise FauxshopError(f"design: the tagger cannot score {head} {value!r}")
        out[head] = list(classes).index(value)
    return out


def sure_of(probs: torch.Tensor, column: int, floor: float) -> torch.Tensor:
    """Per image (probs [..., classes]): is `column` the top class, at least `floor` sure?"""
    return (probs.argmax(dim=-1) == column) & (probs[..., column] >= floor)


def judge(probs: Mapping[str, torch.Tensor], columns: Mapping[str, int], floor: float = 0.0):
    """(summed log-probability of the values, whether each is the top class with at least
    `floor` probability) per image."""
    log_prob = sum(probs[h][:, i].clamp_min(1e-12).log() for h, i in columns.items())
    matched = torch.stack([sure_of(probs[h], i, floor) for h, i in columns.items()]).all(dim=0)
    return log_prob, matched


def generator_class(G: Generator, category: str, label_names: Sequence[str] | None) -> int | None:
    """G's class for the category: its label when G has one, else any (unconditional G)."""
    if not G.c_dim:
        return None
    if label_names and category in label_names:
        return class_index(G, category, label_names)
    raise FauxshopError(f"design: the generator has no class {category!r}")


def reject(G, scorer, targets, config: DesignConfig, cls: int | None) -> Designed:
    """See the module: the first `n` matches from seed_start, else the best of the rest."""
    start, columns = time.perf_counter(), value_columns(scorer, targets)
    seeds, ws, images, log_prob, matched = [], [], [], [], []
    end = config.seed_start + config.max_samples
    for first in range(config.seed_start, end, 64):
        batch_seeds = list(range(first, min(first + 64, end)))
        batch_ws = seeds_to_ws(G, batch_seeds, config.psi, cls, truncate_to="class")
        batch_images = render_ws(G, batch_ws)
        lp, hit = judge(score_images(scorer, batch_images), columns, config.match_confidence)
        seeds += batch_seeds
        ws.append(batch_ws)
        images.append(batch_images)
        log_prob.append(lp)
        matched.append(hit)
        if int(torch.cat(matched).sum()) >= config.n:
            break
    log_prob, matched, ws = torch.cat(log_prob), torch.cat(matched), torch.cat(ws)
    hits = matched.nonzero().flatten()[: config.n]
    rest = (~matched).nonzero().flatten()
    rest = rest[log_prob[rest].argsort(descending=True, stable=True)][: config.n - len(hits)]
    keep = torch.cat([hits, rest])
    notes = [f"looked at {len(seeds)} samples, {int(matched.sum())} matched"]
    images = np.concatenate(images)[keep.numpy()]
    return Designed(images, ws[keep], [seeds[i] for i in keep.tolist()], log_prob[keep],
                    matched[keep], time.perf_counter() - start, notes)  # fmt: skip


class Bank:
    """Sampled ws across G's classes, scored once: class centroids and value boundaries."""

    def __init__(self, G: Generator, scorer: ImageScorer, samples: int, psi: float = 1.0) -> None:
        classes = list(range(G.c_dim)) or [None]
        self.cls = torch.tensor([-1 if c is None else c for c in classes])[
            torch.arange(samples) % len(classes)
        ]  # sample i is drawn with class i % classes
        self.w = torch.zeros(samples, G.w_dim)
        for k, c in enumerate(classes):
            rows = list(range(k, samples, len(classes)))
            self.w[rows] = seeds_to_ws(G, [BANK_SEED + i for i in rows], psi, c)[:, 0].cpu()
        chunks = [
            score_images(scorer, render_ws(G, self.w[i : i + 256, None].repeat(1, G.num_ws, 1)))
            for i in progress(range(0, samples, 256), "design bank", unit="chunk")
        ]
        self.probs = {h: torch.cat([c[h] for c in chunks]) for h in scorer.heads}
        self._boundaries: dict[tuple[str, int], tuple[torch.Tensor, float, float] | None] = {}

    def centroid(self, cls: int | None, category_column: int) -> tuple[torch.Tensor, float]:
        """The mean w of the class's samples the tagger puts in the category (all the class's
        when none), and their mean squared distance from it (the class's typical spread)."""
        mine = self.cls == (-1 if cls is None else cls)
        called = mine & (self.probs["category"].argmax(dim=1) == category_column)
        mine = called if int(called.sum()) >= 2 else mine
        w = self.w[mine]
        centre = w.mean(dim=0)
        return centre, float((w - centre).square().sum(dim=1).mean())

    def boundary(self, head: str, column: int) -> tuple[torch.Tensor, float, float] | None:
        """(unit normal of the boundary in W between samples the tagger puts in the value and
        the rest, and the mean and std of the positives' positions along it); None when the
        bank holds too few of either side."""
        key = (head, column)
        if key not in self._boundaries:
            hits = self.probs[head].argmax(dim=1) == column
            if min(int(hits.sum()), int((~hits).sum())) < MIN_POSITIVES:
                self._boundaries[key] = None
            else:
                v, _ = fit_logistic(self.w.double().numpy(), hits.double().numpy())
                normal = torch.from_numpy(v / np.linalg.norm(v)).float()
                along = self.w[hits] @ normal
                self._boundaries[key] = (normal, float(along.mean()), float(along.std()))
        return self._boundaries[key]


def _start(G, bank: Bank, scorer, targets, config: DesignConfig, cls):
    """ws around the class centroid, with the centroid and spread."""
    column = value_columns(scorer, {"category": targets["category"]})["category"]
    centre, spread = bank.centroid(cls, column)
    seeds = list(range(config.seed_start, config.seed_start + config.n))
    ws = around_centroid(G, centre.repeat(G.num_ws, 1), seeds, config.sigma, cls)
    return ws, seeds, centre, spread


def steer_ws(ws: torch.Tensor, bank: Bank, columns: Mapping[str, int], margin: float):
    """ws moved along each value's boundary normal until at least as far along it as the
    value's typical sample, plus `margin` of their std (module)."""
    ws, notes = ws.clone(), []
    for _ in range(STEER_ROUNDS):
        for head, column in columns.items():
            found = bank.boundary(head, column)
            if found is None:
                notes.append(f"no boundary for {head} (too few samples of it): not steered")
                continue
            normal, mean, std = found
            step = (mean + margin * std - ws.mean(dim=1) @ normal).clamp_min(0)
            ws += (step[:, None] * normal)[:, None, :]
    return ws, list(dict.fromkeys(notes))


def steer(G, scorer, targets, config: DesignConfig, cls, bank: Bank) -> Designed:
    start, columns = time.perf_counter(), value_columns(scorer, targets)
    ws, seeds, _, _ = _start(G, bank, scorer, targets, config, cls)
    ws, notes = steer_ws(ws, bank, columns, config.margin)
    images = render_ws(G, ws)
    log_prob, matched = judge(score_images(scorer, images), columns, config.match_confidence)
    return Designed(images, ws, seeds, log_prob, matched, time.perf_counter() - start, notes)


def optimise(G, scorer, targets, config: DesignConfig, cls, bank: Bank) -> Designed:
    start, columns = time.perf_counter(), value_columns(scorer, targets)
    ws, seeds, centre, spread = _start(G, bank, scorer, targets, config, cls)
    if config.start == "reject":
        picked = reject(G, scorer, targets, config, cls)
        ws, seeds, notes = picked.ws, picked.seeds, picked.notes
    else:
        ws, notes = steer_ws(ws, bank, columns, config.margin)
    param = ws.clone().requires_grad_(True)
    opt = torch.optim.Adam([param], lr=config.lr)
    for _ in range(config.steps):
        with torch.enable_grad():
            probs = scorer.predict(G.synthesis(param, noise_mode="const"))
            fit = -judge(probs, columns)[0]
            far = (param - centre).square().sum(dim=2).mean(dim=1) / spread
            apart = (param - param.mean(dim=1, keepdim=True)).square().sum(dim=2).mean(dim=1)
            loss = fit + config.realism * ((far - 1).clamp_min(0) + apart / spread)
            opt.zero_grad()
            loss.sum().backward()
        opt.step()
    ws = param.detach()
    images = render_ws(G, ws)
    log_prob, matched = judge(score_images(scorer, images), columns, config.match_confidence)
    return Designed(images, ws, seeds, log_prob, matched, time.perf_counter() - start, notes)


def design_images(
    G: Generator, scorer: ImageScorer, targets: Mapping[str, str], config: DesignConfig,
    label_names: Sequence[str] | None = None, bank: Bank | None = None,
) -> Designed:  # fmt: skip
    """`config.n` photos for the tag values `targets` (head -> value, "category" among them)
    by `config.method`; steer and optimise need a `bank` (made here when none is given)."""
    cls = generator_class(G, targets["category"], label_names)
    if config.method == "reject":
        return reject(G, scorer, targets, config, cls)
    bank = bank or Bank(G, scorer, config.bank_samples)
    method = steer if config.method == "steer" else optimise
    return method(G, scorer, targets, config, cls, bank)
