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
from collections.abc import Callable
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
# the temp names `atomic_path` gives a snapshot's two files while they are written
TEMP_RE = re.compile(r"^\.snapshot-\d{6,}(-\d{9,})?\.(json|safetensors)\.\w+\.tmp$")


def snapshot_name(run_dir: Path, cur_nimg: int) -> str:
    """`snapshot-{kimg:06d}` for a run's first snapshot in a kimg; later ones in the same kimg
    (--snap-kimg < 1) get the image count appended, `snapshot-{kimg:06d}-{cur_nimg:09d}`.

    So a name never holds two points of a run: pruning the first one of a kimg does not free
    its name, since the snapshots that pushed it out are still there, in the same kimg.
    """
    kimg = cur_nimg // 1000
    plain = f"snapshot-{kimg:06d}"
    for nimg, path in _committed(run_dir):
        if kimg * 1000 <= nimg < cur_nimg or (path.stem == plain and nimg != cur_nimg):
            return f"{plain}-{cur_nimg:09d}"
    return plain


def remove_temp_files(run_dir: str | Path) -> None:
    """Delete the temp files a kill left mid-save (some are whole snapshots): only our own
    `.snapshot-*.tmp` names. Only the run's one writer may call it: a reader would delete a
    live save's file."""
    for path in Path(run_dir).glob(".snapshot-*.tmp"):
        if TEMP_RE.match(path.name):
            path.unlink(missing_ok=True)


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
    remove_temp_files(run_dir)
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


def check_finite(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Refuse NaN or inf weights: a network holding them renders garbage without complaint.
    One pass over the float tensors at load (t * 0 is NaN exactly where t is NaN or inf; it
    sums twice as fast as isfinite reduces)."""
    bad = [k for k, t in tensors.items() if t.is_floating_point() and (t * 0).sum() != 0]
    if bad:
        more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
        raise FauxshopError(f"{path}: weight {bad[0]} holds NaN or inf{more}")


def check_fits(path: Path, module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Every tensor of `module` present in `tensors` with its name, shape and dtype, no other
    tensor there, and all finite; else a one-line error naming the first problems."""
    want = module.state_dict()
    problems = [f"missing {k}" for k in want if k not in tensors]
    problems += [f"unexpected {k}" for k in tensors if k not in want]
    problems += [
        f"{k} is {t.dtype} {list(t.shape)}, not {want[k].dtype} {list(want[k].shape)}"
        for k, t in tensors.items()
        if k in want and (t.shape != want[k].shape or t.dtype != want[k].dtype)
    ]
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise FauxshopError(
            f"{path}: weights do not fit the network: {'; '.join(problems[:3])}{more}"
        )
    check_finite(path, tensors)


def build_network(
    path: Path, build: Callable[[], nn.Module], tensors: dict[str, torch.Tensor]
) -> nn.Module:
    """The network `build` makes from a sidecar's settings, holding `tensors`: settings that
    do not build, or build a network these tensors do not fit, fail in one line."""
    try:
        module = build()
    except Exception as e:  # a sidecar's settings of a wrong type or value fail in many ways
        raise FauxshopError(f"{path}: its recorded settings do not build the network: {e}") from e
    check_fits(path, module, tensors)
    module.load_state_dict(tensors)
    return module


@dataclass
class Snapshot:
    """A verified snapshot: its JSON sidecar and a lazy view of its tensors. An imported
    NVIDIA or rosinality checkpoint is one too, its tensors `held` in memory (path: the file
    it came from; meta: G_kwargs and the source's name, kind and sha256)."""

    path: Path  # the .safetensors file (or the imported checkpoint)
    meta: dict[str, Any]
    held: dict[str, torch.Tensor] | None = None

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Tensors whose names start with `prefix`, with the prefix removed."""
        if self.held is not None:
            return {k[len(prefix) :]: v for k, v in self.held.items() if k.startswith(prefix)}
        out = {}
        try:
            with safetensors.safe_open(self.path, framework="pt") as f:
                for key in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                    if key.startswith(prefix):
                        out[key[len(prefix) :]] = f.get_tensor(key)
        except (OSError, safetensors.SafetensorError) as e:
            raise FauxshopError(f"{self.path}: not a readable safetensors file ({e})") from e
        return out

    def load_module(self, name: str, module: nn.Module) -> None:
        tensors = self.tensors(f"{name}.")
        check_fits(self.path, module, tensors)
        module.load_state_dict(tensors)

    def load_optimizer(self, name: str, opt: torch.optim.Optimizer) -> None:
        try:
            meta = self.meta["optimizers"][name]
            state: dict[int, dict] = {}
            for key, value in self.tensors(f"{name}.state.").items():
                index, field = key.split(".", 1)
                state.setdefault(int(index), {})[field] = value
            for index, extra in meta["state_extra"].items():
                state.setdefault(int(index), {}).update(extra)
            opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise FauxshopError(f"{self.path}: optimiser state {name} does not load ({e!r})") from e

    def restore_rng(self) -> None:
        try:
            restore_rng(self.tensors("rng."), self.meta["rng"])
        except (KeyError, RuntimeError, TypeError, ValueError) as e:
            raise FauxshopError(f"{self.path}: its RNG state does not load ({e!r})") from e


# Sidecar fields of a generator imported from another format: its file name, kind, sha256.
SOURCE_FIELDS = ("source", "source_kind", "source_sha256")
# Sidecar fields every snapshot has, and the types of those only some have.
_REQUIRED = {"safetensors": str, "safetensors_sha256": str, "cur_nimg": int}
_OPTIONAL = {"G_kwargs": dict, "D_kwargs": dict, "config": dict, "label_names": list}


def _check_meta(json_path: Path, meta: Any) -> None:
    """The sidecar's fields have the types the loaders rely on, and its tensors file is a
    plain name beside it (never a path elsewhere)."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise FauxshopError(f"{json_path}: not a fauxshop image snapshot")
    for key, kind in _REQUIRED.items():
        if not isinstance(meta.get(key), kind):
            raise FauxshopError(f"{json_path}: field {key!r} is missing or not a {kind.__name__}")
    for key, kind in _OPTIONAL.items():
        if key in meta and not isinstance(meta[key], kind):
            raise FauxshopError(f"{json_path}: field {key!r} is not a {kind.__name__}")
    if not all(isinstance(name, str) for name in meta.get("label_names", [])):
        raise FauxshopError(f"{json_path}: field 'label_names' holds a non-string")
    name = meta["safetensors"]
    if Path(name).name != name or name.startswith(".") or not name.endswith(".safetensors"):
        raise FauxshopError(f"{json_path}: field 'safetensors' is {name!r}, not a file beside it")


def read_snapshot(path: str | Path) -> Snapshot:
    """Open a snapshot by either of its files, checking the JSON and the safetensors hash."""
    path = Path(path)
    json_path = path.with_suffix(".json")
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FauxshopError(f"{json_path}: not a readable snapshot sidecar ({e})") from e
    _check_meta(json_path, meta)
    tensors = json_path.with_name(meta["safetensors"])
    if not tensors.is_file():
        raise FauxshopError(f"{json_path}: its tensors file {tensors.name} is missing")
    if file_sha256(tensors) != meta["safetensors_sha256"]:
        raise FauxshopError(f"{tensors}: sha256 differs from the one its sidecar recorded")
    try:  # the header lists every tensor: a truncated or foreign file fails here, not later
        safetensors.safe_open(tensors, framework="pt").keys()
    except (OSError, safetensors.SafetensorError) as e:
        raise FauxshopError(f"{tensors}: not a readable safetensors file ({e})") from e
    return Snapshot(tensors, meta)


def latest_snapshot(run_dir: str | Path) -> Path | None:
    """The newest complete snapshot's .safetensors path (None if there is none)."""
    for _, json_path in reversed(_committed(Path(run_dir))):
        with contextlib.suppress(FauxshopError, KeyError):
            return read_snapshot(json_path).path
    return None


def resolve_snapshot(path_or_run_dir: str | Path) -> Snapshot:
    """A run folder means its newest snapshot; a file means that snapshot, or, for an NVIDIA
    `.pkl`, a rosinality `.pt` or a bare safetensors file without a sidecar, its generators
    imported (without running any code inside it), so every verb takes those as they are."""
    path = Path(path_or_run_dir)
    if path.is_dir():
        latest = latest_snapshot(path)
        if latest is None:
            raise FauxshopError(f"{path}: no complete snapshot in this run folder")
        path = latest
    elif path.suffix != ".json" and not path.with_suffix(".json").is_file():
        from fauxshop.image.importers import imported_snapshot  # it imports this module

        return imported_snapshot(path)
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
    kwargs = snapshot.meta.get("G_kwargs")
    if kwargs is None:
        raise FauxshopError(f"{snapshot.path}: holds no generator (its sidecar has no G_kwargs)")
    tensors = snapshot.tensors("G_ema." if ema else "G.")
    G = build_network(snapshot.path, lambda: Generator(**kwargs), tensors)
    return G.to(device).eval().requires_grad_(False)


def export_generator(path_or_run_dir: str | Path, out: str | Path) -> Path:
    """Write only G_ema of a snapshot as a small snapshot of its own, for shipping and serving.

    From an NVIDIA or rosinality checkpoint this is `fauxshop convert`: the sidecar keeps the
    source's name, kind and sha256. The result loads with `load_generator` like any snapshot,
    but holds no D, optimiser or RNG state, so it cannot be resumed.
    """
    snapshot = resolve_snapshot(path_or_run_dir)
    out = Path(out).with_suffix(".safetensors")
    tensors = {f"G_ema.{k}": v.contiguous() for k, v in snapshot.tensors("G_ema.").items()}
    data = safetensors.torch.save(tensors, metadata={"format": FORMAT})
    kept = ("G_kwargs", "label_names", "cur_nimg", "kimg", "config", "dataset_fingerprint")
    kept += SOURCE_FIELDS
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
