"""Seeds and classes to latents: the parts every latent tool shares (pixels are `pixels.py`'s)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

from fauxshop.errors import FauxshopError
from fauxshop.image.networks import Generator

MAX_SEED = 2**32 - 1  # numpy RandomState's limit
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_int_ranges(text: str, what: str) -> list[int]:
    """'1,2,5-7' -> [1, 2, 5, 6, 7], in the order written; `what` names the list in errors."""
    values: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        match = _RANGE.match(part)
        if not match:
            raise FauxshopError(f"bad {what} {text!r}: {part!r} is not N or A-B (e.g. '0-63,70')")
        start = int(match[1])
        stop = int(match[2]) if match[2] is not None else start
        if stop < start:
            raise FauxshopError(f"bad {what} {text!r}: range {part!r} runs backwards")
        values.extend(range(start, stop + 1))
    return values


def parse_seeds(text: str) -> list[int]:
    """'0-63' or '1,2,5-7' -> seeds, each in numpy's range 0..2**32-1."""
    seeds = parse_int_ranges(text, "seeds")
    too_big = [s for s in seeds if s > MAX_SEED]
    if too_big:
        raise FauxshopError(
            f"bad seeds {text!r}: {too_big[0]} is above the largest seed {MAX_SEED}"
        )
    return seeds


def z_from_seed(seed: int, z_dim: int) -> torch.Tensor:
    """The z for `seed`: numpy RandomState(seed).randn(z_dim) as float32, shape [z_dim].

    NVIDIA's gen_images.py and style_mixing.py draw z the same way, so a seed names the same
    latent here, there, and on every device (torch's CPU and CUDA generators differ).
    """
    z = np.random.RandomState(seed).randn(z_dim)
    return torch.from_numpy(z).float()


def _class_list(label_names: Sequence[str] | None, c_dim: int) -> str:
    if label_names:
        return ", ".join(f"{i}={name}" for i, name in enumerate(label_names))
    return f"0-{c_dim - 1}"


def class_index(
    G: Generator, name_or_index: str | int | None, label_names: Sequence[str] | None = None
) -> int | None:
    """Resolve a class name (any case) or index for G; None only for unconditional G."""
    if G.c_dim == 0:
        if name_or_index is not None:
            raise FauxshopError("this generator is unconditional: it has no classes to pick")
        return None
    valid = _class_list(label_names, G.c_dim)
    if name_or_index is None:
        raise FauxshopError(f"this generator is conditional: pick a class ({valid})")
    names = [str(n).lower() for n in label_names or []]
    key = str(name_or_index).strip()
    if key.lower() in names:
        return names.index(key.lower())
    if key.isascii() and key.isdigit() and int(key) < G.c_dim:  # '²' is a digit to isdigit
        return int(key)
    raise FauxshopError(f"unknown class {name_or_index!r}; valid classes: {valid}")


def class_vector(
    G: Generator, name_or_index: str | int | None, label_names: Sequence[str] | None = None
) -> torch.Tensor:
    """The one-hot label G.mapping expects, shape [c_dim] ([0] for an unconditional G)."""
    index = class_index(G, name_or_index, label_names)
    c = torch.zeros(G.c_dim)
    if index is not None:
        c[index] = 1
    return c
