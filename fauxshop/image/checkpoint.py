"""Training snapshots: tensors in safetensors, everything else in a JSON sidecar.

A snapshot is two files in the run folder:

- `snapshot-{kimg:06d}.safetensors`: module weights under 'G.', 'G_ema.', 'D.' (and any other
  module's name), optimiser state under 'opt_G.state.{i}.{key}', plain tensors as named, and
  the torch (and CUDA) RNG states as uint8 tensors under 'rng.'. Loading it runs no code.
- `snapshot-{kimg:06d}.json`: the rest (config, network kwargs, counters, optimiser
  param_groups, ADA state, python/numpy RNG states, sampler position, dataset fingerprint,
  fauxshop version) and the sha256 of the safetensors file.

Both are written atomically, safetensors first: the JSON is the commit marker, so a snapshot
counts only once its JSON exists and the recorded hash matches. A run killed at any moment
leaves at worst an uncommitted safetensors file or a temp file, never a half-written snapshot.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

import fauxshop
from fauxshop.atomic import atomic_open, atomic_write_bytes
from fauxshop.digest import file_sha256
from fauxshop.errors import FauxshopError
from fauxshop.image.networks import Generator
from fauxshop.runtime import capture_rng, restore_rng

FORMAT = "fauxshop-image-snapshot/1"
SNAPSHOT_RE = re.compile(r"^snapshot-\d{6,}(-\d{9,})?\.json$")


def snapshot_name(run_dir: Path, cur_nimg: int) -> str:
    """`snapshot-{kimg:06d}`; snapshots under 1 kimg apart get the image count appended
    rather than replacing each other, so the older one stays a resume point until pruned."""
    stem = f"snapshot-{cur_nimg // 1000:06d}"
    with contextlib.suppress(OSError, ValueError, KeyError):
        if json.loads((run_dir / f"{stem}.json").read_text())["cur_nimg"] != cur_nimg:
            stem += f"-{cur_nimg:09d}"
    return stem


# ----------------------------------------------------------------------------------------------
# Saving


def _cpu(t: torch.Tensor) -> torch.Tensor:
    """A dense, contiguous CPU copy (channels_last weights are stored in standard layout)."""
    return t.detach().to("cpu", copy=True).contiguous()


def _split_optimizer(name: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Optimiser state: its tensors (moments, step) for safetensors, the rest for JSON."""
    sd = opt.state_dict()
    tensors, extra = {}, {}
    for index, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}.state.{index}.{key}"] = _cpu(value)
            else:
                extra.setdefault(str(index), {})[key] = value
    steps = [float(entry["step"]) for entry in sd["state"].values() if "step" in entry]
    meta = {
        "param_groups": sd["param_groups"],
        "state_extra": extra,
        "step": max(steps, default=0.0),
    }
    return tensors, meta


def save_checkpoint(run_dir: str | Path, state: dict[str, Any], keep: int = 3) -> Path:
    """Write `snapshot-{kimg:06d}` from `state` and prune to the newest `keep`; returns its path.

    `state` maps names to nn.Modules (state_dict under 'name.'), optimisers, tensors, or
    JSON-serialisable values; it must hold 'cur_nimg'. RNG states are captured here, so call
    it at the point a resumed run should continue from.
    """
    run_dir = Path(run_dir)
    rng_tensors, rng_state = capture_rng()
    tensors = {f"rng.{k}": v for k, v in rng_tensors.items()}
    meta = {"rng": rng_state, "optimizers": {}}
    for name, value in state.items():
        if isinstance(value, nn.Module):
            tensors.update({f"{name}.{k}": _cpu(v) for k, v in value.state_dict().items()})
        elif isinstance(value, torch.optim.Optimizer):
            opt_tensors, meta["optimizers"][name] = _split_optimizer(name, value)
            tensors.update(opt_tensors)
        elif isinstance(value, torch.Tensor):
            tensors[name] = _cpu(value)
        else:
            meta[name] = value
    stem = snapshot_name(run_dir, int(state["cur_nimg"]))
    data = safetensors.torch.save(tensors, metadata={"format": FORMAT})
    # Uncommit a snapshot of the same name first: a kill before the new JSON lands then
    # leaves no sidecar pointing at other tensors.
    (run_dir / f"{stem}.json").unlink(missing_ok=True)
    atomic_write_bytes(run_dir / f"{stem}.safetensors", data)
    meta.update(
        format=FORMAT,
        fauxshop_version=fauxshop.__version__,
        safetensors=f"{stem}.safetensors",
        safetensors_sha256=file_sha256(data),
    )
    with atomic_open(run_dir / f"{stem}.json", "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    _prune(run_dir, keep)
    return run_dir / f"{stem}.safetensors"


def _committed(run_dir: Path) -> list[tuple[int, Path]]:
    """(cur_nimg, json path) of every snapshot JSON that parses, oldest first."""
    found = []
    for path in run_dir.glob("snapshot-*.json"):
        if SNAPSHOT_RE.match(path.name):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                found.append((int(json.loads(path.read_text())["cur_nimg"]), path))
    return sorted(found)


def _prune(run_dir: Path, keep: int) -> None:
    """Drop all but the newest `keep` snapshots, uncommitting (JSON first) before deleting."""
    committed = _committed(run_dir)
    for _, path in committed[: max(0, len(committed) - keep)]:
        path.unlink(missing_ok=True)
        path.with_suffix(".safetensors").unlink(missing_ok=True)
    kept = {path.with_suffix(".safetensors") for _, path in committed}
    for orphan in run_dir.glob("snapshot-*.safetensors"):  # left by a kill between the two
        if orphan not in kept:
            orphan.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------
# Loading


@dataclass
class Snapshot:
    """A verified snapshot: its JSON sidecar and a lazy view of its tensors."""

    path: Path  # the .safetensors file
    meta: dict[str, Any]

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Tensors whose names start with `prefix`, with the prefix removed."""
        out = {}
        with safetensors.safe_open(self.path, framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                if key.startswith(prefix):
                    out[key[len(prefix) :]] = f.get_tensor(key)
        return out

    def load_module(self, name: str, module: nn.Module) -> None:
        module.load_state_dict(self.tensors(f"{name}."))

    def load_optimizer(self, name: str, opt: torch.optim.Optimizer) -> None:
        meta = self.meta["optimizers"][name]
        state: dict[int, dict] = {}
        for key, value in self.tensors(f"{name}.state.").items():
            index, field = key.split(".", 1)
            state.setdefault(int(index), {})[field] = value
        for index, extra in meta["state_extra"].items():
            state.setdefault(int(index), {}).update(extra)
        opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})

    def restore_rng(self) -> None:
        restore_rng(self.tensors("rng."), self.meta["rng"])


def read_snapshot(path: str | Path) -> Snapshot:
    """Open a snapshot by either of its files, checking the JSON and the safetensors hash."""
    path = Path(path)
    json_path = path.with_suffix(".json")
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FauxshopError(f"{json_path}: not a readable snapshot sidecar ({e})") from e
    if meta.get("format") != FORMAT:
        raise FauxshopError(f"{json_path}: not a fauxshop image snapshot")
    tensors = json_path.with_name(meta["safetensors"])
    if not tensors.is_file():
        raise FauxshopError(f"{json_path}: its tensors file {tensors.name} is missing")
    if file_sha256(tensors) != meta["safetensors_sha256"]:
        raise FauxshopError(f"{tensors}: sha256 differs from the one its sidecar recorded")
    return Snapshot(tensors, meta)


def latest_snapshot(run_dir: str | Path) -> Path | None:
    """The newest complete snapshot's .safetensors path (None if there is none)."""
    for _, json_path in reversed(_committed(Path(run_dir))):
        with contextlib.suppress(FauxshopError, KeyError):
            return read_snapshot(json_path).path
    return None


def resolve_snapshot(path_or_run_dir: str | Path) -> Snapshot:
    """A run folder means its newest snapshot; a file means that snapshot."""
    path = Path(path_or_run_dir)
    if path.is_dir():
        latest = latest_snapshot(path)
        if latest is None:
            raise FauxshopError(f"{path}: no complete snapshot in this run folder")
        path = latest
    return read_snapshot(path)


def load_generator(
    path_or_run_dir: str | Path, device: str | torch.device = "cpu", ema: bool = True
) -> Generator:
    """The (EMA, by default) generator of a snapshot or a run's newest one, in eval mode."""
    return snapshot_generator(resolve_snapshot(path_or_run_dir), device, ema)


def snapshot_generator(
    snapshot: Snapshot, device: str | torch.device = "cpu", ema: bool = True
) -> Generator:
    """The generator of an already opened (and verified) snapshot."""
    G = Generator(**snapshot.meta["G_kwargs"])
    snapshot.load_module("G_ema" if ema else "G", G)
    return G.to(device).eval().requires_grad_(False)


def export_generator(path_or_run_dir: str | Path, out: str | Path) -> Path:
    """Write only G_ema of a snapshot as a small snapshot of its own, for shipping and serving.

    The result loads with `load_generator` like any snapshot, but holds no D, optimiser or RNG
    state, so it cannot be resumed.
    """
    snapshot = resolve_snapshot(path_or_run_dir)
    out = Path(out).with_suffix(".safetensors")
    tensors = {f"G_ema.{k}": v.contiguous() for k, v in snapshot.tensors("G_ema.").items()}
    data = safetensors.torch.save(tensors, metadata={"format": FORMAT})
    kept = ("G_kwargs", "label_names", "cur_nimg", "kimg", "config", "dataset_fingerprint")
    meta = {k: snapshot.meta[k] for k in kept if k in snapshot.meta}
    meta.update(
        format=FORMAT,
        fauxshop_version=fauxshop.__version__,
        exported_from=snapshot.path.name,
        safetensors=out.name,
        safetensors_sha256=file_sha256(data),
    )
    out.with_suffix(".json").unlink(missing_ok=True)
    atomic_write_bytes(out, data)
    with atomic_open(out.with_suffix(".json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    return out


def generator_fingerprint(G: Generator) -> str:
    """sha256 of G's config and every tensor of its state: which weights a latent or a
    direction belongs to (the same on any device, and for a snapshot and its export)."""
    digest = hashlib.sha256(json.dumps(G.config, sort_keys=True).encode())
    for name, tensor in sorted(G.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{list(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
