"""Directions in W that change one thing (sleeve length, dress length, colour), found three ways.

- InterFaceGAN (Shen et al. 2020): render many samples, score them with the tagger, fit a
  linear classifier on W between the clearest positives and negatives; the boundary's unit
  normal is the direction. Supervised: it finds what you name, and only that.
- GANSpace (Härkönen et al. 2020): PCA of sampled ws; the top components are the directions
  the mapping network spreads samples along most. Unsupervised: `edit.match_names` then names
  each by the head whose score it changes most.
- SeFa (Shen & Zhou 2021): closed form, no sampling: the eigenvectors of AᵀA, A stacking the
  style-affine weights of the chosen ws rows, are the unit moves in W that change those
  layers' styles most.

All directions are unit vectors of length w_dim, added to W+ rows with `edit.edit_ws`.

A directions file holds vectors that mean something only for the generator they were found
on, so it records that generator's fingerprint (`generator_fingerprint`: sha256 over G's
state_dict, names, dtypes, shapes and bytes, in name order) and `load_directions` refuses a
file made for other weights. Two files: `NAME.safetensors` (one vector per direction) and
`NAME.json` (names, methods, layers, meta, fingerprint, the tensors' sha256), written
atomically, tensors first: the JSON commits the pair, as with snapshots.

`Target` and `score_ws` are shared with `edit` and `rare`: generated images are scored from
their uint8 pixels (`tagger.scoring`), exactly as a saved image or a real photo would be.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import scipy.optimize
import scipy.special
import torch

from fauxshop.atomic import atomic_open, atomic_write_bytes
from fauxshop.digest import file_sha256
from fauxshop.errors import FauxshopError
from fauxshop.image.networks import EqualLinear, Generator
from fauxshop.latent.generate import render_ws, seeds_to_ws
from fauxshop.progress import progress
from fauxshop.tagger import ImageScorer
from fauxshop.tagger.scoring import score_images

FORMAT = "fauxshop-directions/1"
SCORE_CHUNK = 256  # images rendered and scored at once


@dataclass
class Direction:
    """A unit vector in W; `layers`: the ws rows it is meant for (None: all of them)."""

    name: str
    method: str
    vector: torch.Tensor  # [w_dim], unit length
    layers: list[int] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def find_direction(directions: Sequence[Direction], name: str) -> Direction:
    """The direction called `name`, or an error listing the names there are."""
    for d in directions:
        if d.name == name:
            return d
    names = ", ".join(d.name for d in directions) or "none"
    raise FauxshopError(f"no direction {name!r}; this file has: {names}")


# ----------------------------------------------------------------------------------------------
# Files


def save_directions(
    path: str | Path, directions: Sequence[Direction], generator_fingerprint: str
) -> Path:
    """Write `path` (.safetensors) and its .json sidecar; returns the .safetensors path."""
    path = Path(path).with_suffix(".safetensors")
    names = [d.name for d in directions]
    if len(set(names)) != len(names):
        raise FauxshopError(f"{path}: direction names must be unique, got {names}")
    tensors = {d.name: d.vector.detach().float().cpu().contiguous() for d in directions}
    data = safetensors.torch.save(tensors, metadata={"format": FORMAT})
    entries = [
        {"name": d.name, "method": d.method, "layers": d.layers, "meta": d.meta} for d in directions
    ]
    meta = {
        "format": FORMAT,
        "generator_fingerprint": generator_fingerprint,
        "directions": entries,
        "safetensors": path.name,
        "safetensors_sha256": file_sha256(data),
    }
    path.with_suffix(".json").unlink(missing_ok=True)  # uncommit before replacing the tensors
    atomic_write_bytes(path, data)
    with atomic_open(path.with_suffix(".json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    return path


SIDECAR_KEYS = (
    "format",
    "generator_fingerprint",
    "safetensors",
    "safetensors_sha256",
    "directions",
)


def load_directions(path: str | Path, expected_fingerprint: str) -> list[Direction]:
    """The directions of a file written by `save_directions` for the generator expected."""
    json_path = Path(path).with_suffix(".json")
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FauxshopError(f"{json_path}: not a readable directions sidecar ({e})") from e
    missing = [k for k in SIDECAR_KEYS if k not in meta] if isinstance(meta, dict) else SIDECAR_KEYS
    if missing or meta.get("format") != FORMAT:
        raise FauxshopError(f"{json_path}: not a fauxshop directions file (missing {missing})")
    if meta["generator_fingerprint"] != expected_fingerprint:
        raise FauxshopError(
            f"{json_path}: made for another generator (fingerprint "
            f"{meta['generator_fingerprint'][:12]}…, this one {expected_fingerprint[:12]}…); "
            "find directions again for this generator"
        )
    tensors_path = json_path.with_name(meta["safetensors"])
    try:
        data = tensors_path.read_bytes()
    except OSError as e:
        raise FauxshopError(f"{json_path}: cannot read its tensors file ({e})") from e
    if file_sha256(data) != meta["safetensors_sha256"]:
        raise FauxshopError(f"{tensors_path}: sha256 differs from the one its sidecar recorded")
    tensors = safetensors.torch.load(data)
    return [
        Direction(e["name"], e["method"], tensors[e["name"]], e["layers"], e["meta"])
        for e in meta["directions"]
    ]


# ----------------------------------------------------------------------------------------------
# Scoring rendered images


@dataclass(frozen=True)
class Target:
    """A tagger head and the classes counted as positive, e.g. length: midi or maxi."""

    head: str
    classes: tuple[str, ...]
    indices: tuple[int, ...]

    def score(self, probs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """P(any positive class), N."""
        return probs[self.head][:, list(self.indices)].sum(dim=1)

    def hit(self, probs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Whether each image's top class is a positive one, N bools."""
        top = probs[self.head].argmax(dim=1)
        return torch.isin(top, torch.tensor(self.indices, device=top.device))

    def __str__(self) -> str:
        return f"{self.head}:{','.join(self.classes)}"


def parse_target(
    spec: str, heads: Mapping[str, Sequence[str]], default_head: str | None = None
) -> Target:
    """'sleeve:long', 'length:midi,maxi', or 'jumpsuit' (a class of `default_head`)."""
    head, sep, names = str(spec).partition(":")
    if not sep:
        head, names = default_head, spec
    if head not in heads:
        raise FauxshopError(
            f"bad target {spec!r}: no head {head!r}; the tagger has {', '.join(heads)}"
        )
    classes = [str(c).lower() for c in heads[head]]
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n.lower() not in classes]
    if unknown or not wanted:
        raise FauxshopError(
            f"bad target {spec!r}: head {head!r} has classes {', '.join(heads[head])}"
        )
    indices = tuple(classes.index(n.lower()) for n in wanted)
    return Target(head, tuple(heads[head][i] for i in indices), indices)


def head_score(probs: torch.Tensor, target: Target | None = None) -> torch.Tensor:
    """One number per image for a head: P(target classes), or the expected class index scaled
    to [0, 1] (meaningful for ordered heads such as length: mini < midi < maxi)."""
    if target is not None:
        return target.score({target.head: probs})
    k = probs.shape[1]
    if k == 1:
        return probs[:, 0]
    return probs @ torch.arange(k, dtype=probs.dtype, device=probs.device) / (k - 1)


def score_ws(
    G: Generator, scorer: ImageScorer, ws: torch.Tensor, batch: int = 16, desc: str = ""
) -> dict[str, torch.Tensor]:
    """Every head's probabilities for the images of N ws, rendered and scored SCORE_CHUNK at a
    time, so memory stays flat however many samples a fit looks at."""
    chunks = [
        score_images(scorer, render_ws(G, ws[i : i + SCORE_CHUNK], batch=batch), device=ws.device)
        for i in progress(range(0, len(ws), SCORE_CHUNK), desc or "score", unit="chunk")
    ]
    return {head: torch.cat([c[head] for c in chunks]) for head in scorer.heads}


# ----------------------------------------------------------------------------------------------
# InterFaceGAN


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> tuple[np.ndarray, float]:
    """(weights, bias) of an L2-regularised logistic regression, labels y in {0, 1}."""
    sign = 2.0 * y - 1
    mean = x.mean(axis=0)
    xc = x - mean

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        margin = sign * (xc @ w + b)
        value = np.logaddexp(0, -margin).mean() + 0.5 * l2 * w @ w
        g = -sign * scipy.special.expit(-margin) / len(x)
        return value, np.append(xc.T @ g + l2 * w, g.sum())

    theta0 = np.zeros(x.shape[1] + 1)
    theta = scipy.optimize.minimize(loss, theta0, jac=True, method="L-BFGS-B").x
    w = theta[:-1]
    return w, float(theta[-1] - mean @ w)


def interfacegan(
    G: Generator,
    scorer: ImageScorer,
    target: str,
    n: int = 2000,
    seed_start: int = 0,
    psi: float = 1.0,
    share: float = 0.25,
    class_index: int | None = None,
    l2: float = 1e-3,
    batch: int = 16,
) -> Direction:
    """The unit normal of a linear boundary in W between samples the tagger puts in `target`
    (top class; the most confident `share` of `n` at most) and as many that score lowest for it.
    InterFaceGAN keeps only such confident samples: the middle is where the tagger is unsure,
    and a rare class's top quarter by score would be mostly samples of other classes. One in
    five of them is held out; meta['val_accuracy'] says how linearly separable it is in W.
    """
    tgt = parse_target(target, scorer.heads)
    if not 0 < share <= 0.5:
        raise FauxshopError(f"interfacegan: share must be in (0, 0.5], got {share}")
    ws = seeds_to_ws(G, range(seed_start, seed_start + n), psi, class_index, batch)
    probs = score_ws(G, scorer, ws, batch, desc=f"interfacegan {tgt}")
    score, hits = tgt.score(probs).numpy(), tgt.hit(probs).numpy()
    order = np.argsort(score, kind="stable")
    positives = order[hits[order]][::-1]  # the tagger's class, most confident first
    k = min(int(share * n), len(positives))
    if k < 5:
        raise FauxshopError(
            f"interfacegan: the tagger calls only {len(positives)} of {n} samples {tgt}; "
            "sample more (--num) or pick a class G makes more often"
        )
    picked = np.concatenate([order[:k], positives[:k]])
    if score[positives[k - 1]] <= score[order[k - 1]]:
        raise FauxshopError(f"interfacegan: {tgt} scores do not differ between samples")
    x = ws[picked, 0].double().cpu().numpy()
    y = np.repeat([0.0, 1.0], k)
    val = np.arange(2 * k) % 5 == 0
    w, b = fit_logistic(x[~val], y[~val], l2)
    accuracy = float((((x[val] @ w + b) > 0) == (y[val] > 0)).mean())
    meta = {
        "target": str(tgt),
        "n": n,
        "seed_start": seed_start,
        "psi": psi,
        "share": share,
        "val_accuracy": accuracy,
        "per_side": k,
        "score_low": float(score[order[k - 1]]),
        "score_high": float(score[positives[k - 1]]),
    }
    vector = torch.from_numpy(w / np.linalg.norm(w)).float()
    return Direction(str(tgt), "interfacegan", vector, None, meta)


# ----------------------------------------------------------------------------------------------
# GANSpace


def _canonical_sign(v: np.ndarray) -> np.ndarray:
    """Eigen- and singular vectors have no sign: make the largest entry positive, so the same
    generator always gives the same vectors."""
    return v if v[np.argmax(np.abs(v))] >= 0 else -v


def ganspace(
    G: Generator,
    k: int = 10,
    n: int = 20000,
    seed_start: int = 0,
    class_index: int | None = None,
    batch: int = 256,
) -> list[Direction]:
    """The top `k` principal components of `n` sampled ws ('pc0' ... by falling variance).

    meta holds each component's explained variance ratio and its std in W, the natural unit for
    strengths (GANSpace edits by a few std).
    """
    if not 1 <= k <= min(n - 1, G.w_dim):
        raise FauxshopError(f"ganspace: k must be 1..{min(n - 1, G.w_dim)}, got {k}")
    ws = seeds_to_ws(G, range(seed_start, seed_start + n), 1.0, class_index, batch)
    w = ws[:, 0].double().cpu().numpy()
    _, s, vt = np.linalg.svd(w - w.mean(axis=0), full_matrices=False)
    var = s**2 / (n - 1)
    ratio = var / var.sum()
    return [
        Direction(
            f"pc{i}",
            "ganspace",
            torch.from_numpy(_canonical_sign(vt[i])).float(),
            None,
            {"explained_variance": float(ratio[i]), "std": float(np.sqrt(var[i])), "n": n},
        )
        for i in range(k)
    ]


# ----------------------------------------------------------------------------------------------
# SeFa


def style_affines(G: Generator) -> list[list[tuple[EqualLinear, float]]]:
    """Per ws row: the affine layers that read it, each with the gain applied to its output
    (ToRGB scales its styles by 1/sqrt(in_channels); the convs by nothing more)."""
    rows: list[list[tuple[EqualLinear, float]]] = [[] for _ in range(G.num_ws)]
    w_idx = 0
    for res in G.synthesis.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        convs = [block.conv1] if block.is_first else [block.conv0, block.conv1]
        for i, conv in enumerate(convs):
            rows[w_idx + i].append((conv.affine, 1.0))
        rows[w_idx + len(convs)].append((block.torgb.affine, block.torgb.weight_gain))
        w_idx += block.num_conv
    return rows


def sefa_matrix(G: Generator, layers: Sequence[int]) -> np.ndarray:
    """A: the effective weights (stored weight x equalised-lr gain x output gain) of every
    style affine reading the `layers` rows, stacked: styles change by A @ dw for a move dw."""
    affines = style_affines(G)
    blocks = [
        (affine.weight.detach().double() * affine.weight_gain * gain).cpu().numpy()
        for row in layers
        for affine, gain in affines[row]
    ]
    return np.concatenate(blocks)


def sefa(G: Generator, k: int = 10, layers: Sequence[int] | None = None) -> list[Direction]:
    """The top `k` eigenvectors of AᵀA ('sefa0' ... by falling eigenvalue), as in the paper.

    (The SeFa code also scales each row of A to unit length; this follows the paper's formula.)
    """
    rows = list(range(G.num_ws)) if layers is None else sorted(layers)
    if not 1 <= k <= G.w_dim:
        raise FauxshopError(f"sefa: k must be 1..{G.w_dim}, got {k}")
    bad = [r for r in rows if not 0 <= r < G.num_ws]
    if bad or not rows:
        raise FauxshopError(f"sefa: layers must be ws rows 0..{G.num_ws - 1}, got {layers}")
    a = sefa_matrix(G, rows)
    values, vectors = np.linalg.eigh(a.T @ a)  # ascending
    order = np.argsort(values)[::-1][:k]
    return [
        Direction(
            f"sefa{i}",
            "sefa",
            torch.from_numpy(_canonical_sign(vectors[:, j])).float(),
            None if layers is None else rows,
            {"eigenvalue": float(values[j]), "share": float(values[j] / values.sum())},
        )
        for i, j in enumerate(order)
    ]
