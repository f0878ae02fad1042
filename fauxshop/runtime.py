"""Processes, devices and RNG state shared by the training loops (image, text, tagger).

Under torchrun (RANK / WORLD_SIZE set) `process_group` joins the group, picks this rank's
device and tears the group down cleanly; without it everything is one process.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from fauxshop.progress import progress
from fauxshop.training_run import AMP_MODES

# The autocast dtype of each --amp mode; None: full precision.
AMP_DTYPES = dict(zip(AMP_MODES, (None, torch.bfloat16, torch.float16), strict=True))


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 runs in hardware here: a GPU that supports it, or a CPU with AVX-512 BF16 or
    AMX. Elsewhere (AVX2-only CPUs) oneDNN emulates it and image training runs ~11x slower than
    fp32 (bench/bench_image.py, docs/image.md), so `--amp auto` must not pick it."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


@dataclass
class Dist:
    rank: int
    world_size: int
    device: torch.device
    owns_group: bool  # we initialised the process group, so we tear it down

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_dist(device_name: str) -> Dist:
    """Read torchrun's environment, pick this process's device, join the process group."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if device_name == "auto":
        device_name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device_name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    owns = world_size > 1 and not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, world_size, device, owns)


@contextlib.contextmanager
def process_group(device_name: str) -> Iterator[Dist]:
    """`setup_dist` for the length of a training run, then leave the group cleanly."""
    env = setup_dist(device_name)
    try:
        yield env
    except BaseException:
        if env.owns_group:
            dist.destroy_process_group()
        raise
    if env.owns_group:
        dist.barrier()  # without it rank 1 may abort while rank 0 tears down the group
        dist.destroy_process_group()


def configure_torch(device: torch.device) -> None:
    """CPU: flush denormals (20-30x faster convolutions on this CPU) and deterministic kernels."""
    if device.type == "cpu":
        torch.set_flush_denormal(True)
        torch.use_deterministic_algorithms(True, warn_only=True)


def average_grads(params: list[torch.nn.Parameter], world_size: int) -> None:
    """One all_reduce for all gradients of a phase: DDP's effect without its wrapper."""
    grads = [p.grad for p in params if p.grad is not None]
    if world_size == 1 or not grads:
        return
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    for g, chunk in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        g.copy_(chunk.view_as(g))


def broadcast(modules: list[torch.nn.Module]) -> None:
    """Start every rank from rank 0's weights and buffers."""
    for module in modules:
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# RNG state: every generator a training step draws from, so a resumed run draws the same numbers.


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, JSON) holding the torch, CUDA, numpy and python RNG states."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    version, words, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(words), gauss],
        "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
    }
    return tensors, state


def restore_rng(tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(tensors["cuda"]))
    version, words, gauss = state["python"]
    random.setstate((version, tuple(words), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


@contextlib.contextmanager
def rng_preserved() -> Iterator[None]:
    """Run side work (sample grids, metrics) without moving any RNG the training draws from."""
    tensors, state = capture_rng()
    try:
        yield
    finally:
        restore_rng(tensors, state)


def in_fixed_batches(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch: int, desc: str = ""
) -> torch.Tensor:
    """fn over `x` in chunks of exactly `batch` rows (the last padded with its own last row)."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    starts: Iterable[int] = range(0, len(x), batch)
    if desc:
        starts = progress(starts, desc, total=math.ceil(len(x) / batch), unit="batch")
    outs = []
    for start in starts:
        chunk = x[start : start + batch]
        pad = batch - len(chunk)
        padded = torch.cat([chunk, chunk[-1:].expand(pad, *chunk.shape[1:])]) if pad else chunk
        outs.append(fn(padded)[: len(chunk)])
    return torch.cat(outs)
