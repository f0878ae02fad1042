"""Probe every model-loading path with hostile or damaged model files.

Builds tiny real models with fauxshop's own code in a temp folder (a generator snapshot and
its export, an NVIDIA-style network pickle, a tagger with its text branch, a writer with its
tokenizer and trainer state), then damages copies of them: truncated, bit-flipped, tensors
of the wrong dtype or shape, NaN or inf weights, malicious pickles (whose `__reduce__` would
write a marker file), and JSON sidecars with a path-traversal file name, fields of the wrong
type or missing. Damage a hostile writer would hide (a rewritten sha256) is hidden. Each file
goes through the loader that would read it; every one must be refused with a one-line
FauxshopError naming the file, and the untouched models must still load.

    .venv/bin/python bench/probe_models.py           # every variant (over 200 files)
    .venv/bin/python bench/probe_models.py --quick   # a handful, a few seconds
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pickle
import shutil
import sys
import tempfile
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch

from fauxshop.digest import file_sha256
from fauxshop.errors import FauxshopError
from fauxshop.image.checkpoint import (
    export_generator,
    load_generator,
    read_snapshot,
    save_checkpoint,
)
from fauxshop.image.importers import load_external
from fauxshop.image.networks import Discriminator, Generator
from fauxshop.markdown import markdown_table
from fauxshop.tagger.config import TaggerConfig
from fauxshop.tagger.model import Tagger, load_tagger, save_tagger
from fauxshop.tagger.text import TfidfEncoder, fit_text_tagger, load_text_tagger, save_text_tagger

G_KWARGS = {
    "z_dim": 8,
    "c_dim": 0,
    "w_dim": 8,
    "img_resolution": [8, 8],
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 1},
    "synthesis_kwargs": {"channel_base": 64, "channel_max": 8},
}
D_KWARGS = {"img_resolution": [8, 8], "channel_base": 64, "channel_max": 8}
TEXTS = [f"a {c} {k} dress with {s} sleeves" for c in ("red", "blue") for k in "ab" for s in "xy"]
MARKER = "pwned"  # what a malicious pickle tries to create, in the probe's folder


class Evil:
    """Unpickling this with code execution allowed would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


# ----------------------------------------------------------------------------------------------
# Tiny real models


def _generator_run(root: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    G, D = Generator(**G_KWARGS), Discriminator(**D_KWARGS)
    run = root / "run"
    run.mkdir()
    state = {"cur_nimg": 1000, "kimg": 1.0, "G_kwargs": G.config, "D_kwargs": D.config}
    state |= {"label_names": [], "config": {}, "G": G, "G_ema": G, "D": D}
    state["opt_G"] = torch.optim.Adam(G.parameters())
    snapshot = save_checkpoint(run, state)
    export = export_generator(snapshot, root / "export.safetensors")
    return {"snapshot": snapshot, "export": export}


class _Reduced:
    """Pickles as `fn(*args)`: how NVIDIA's persistent objects reference their rebuilder."""

    def __init__(self, fn: Callable, args: tuple) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _nvidia_record(module: torch.nn.Module, rebuild: Callable) -> _Reduced:
    """A fauxshop module as NVIDIA's persistence pickles one: its state, by reference to the
    rebuilder (NVIDIA's names match fauxshop's)."""
    state = {
        "_parameters": collections.OrderedDict(module._parameters),
        "_buffers": collections.OrderedDict(module._buffers),
        "_non_persistent_buffers_set": set(),
        "_modules": {k: _nvidia_record(m, rebuild) for k, m in module._modules.items()},
        "_init_kwargs": {},
    }
    return _Reduced(rebuild, ({"type": "class", "class_name": "X", "state": state},))


def _nvidia_pickle(G: torch.nn.Module, path: Path) -> None:
    """Write {'G_ema': record} under NVIDIA's module names, without any NVIDIA code."""
    module = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # resolved by name only; fauxshop never calls it
        raise AssertionError("called")

    _reconstruct_persistent_obj.__module__ = module.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    added = {"torch_utils": types.ModuleType("torch_utils"), module.__name__: module}
    saved = {name: sys.modules.get(name) for name in added}
    sys.modules.update(added)
    try:
        record = _nvidia_record(G, _reconstruct_persistent_obj)
        path.write_bytes(pickle.dumps({"G_ema": record}))
    finally:
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod


def _tagger(root: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    config = TaggerConfig(widths="4,8", epochs=1, batch=4, device="cpu")
    heads = {"colour": ("red", "blue")}
    path = root / "tagger.safetensors"
    save_tagger(Tagger(config, heads, (16, 16)), path)
    labels = {"colour": torch.tensor([i % 8 // 4 for i in range(len(TEXTS))])}
    text = fit_text_tagger(TfidfEncoder.fit(TEXTS), TEXTS, labels, heads)
    return {"tagger": path, "text": save_text_tagger(text, path)}


def _writer(root: Path) -> dict[str, Path]:
    from transformers import GPT2Config, GPT2LMHeadModel

    from fauxshop.runtime import capture_rng
    from fauxshop.text.models import STATE_FILE, save_model
    from fauxshop.text.tokenizer import prepare, train_bpe

    tokenizer = prepare(train_bpe(TEXTS * 4, 300))
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=16, n_embd=8, n_layer=1, n_head=2)
    model = GPT2LMHeadModel(config)
    rng_tensors, rng_state = capture_rng()
    state = {"step": 3, "best_val": 1.5, "evals_since_best": 0, "tokens_seen": 96}
    state |= {"optimizer": torch.optim.AdamW(model.parameters()).state_dict(), "scaler": None}
    state |= {"rng_tensors": rng_tensors, "rng_state": json.dumps(rng_state)}
    folder = root / "writer"
    save_model(model, tokenizer, folder, {"format": "plain"}, state)
    return {"writer": folder, "state": folder / STATE_FILE}


# ----------------------------------------------------------------------------------------------
# Damage: each takes the copied file and changes it in place


def _truncate(fraction: float) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    return damage


def _flip(fraction: float) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[min(int(len(data) * fraction), len(data) - 1)] ^= 0x5A
        path.write_bytes(bytes(data))

    return damage


def _tensors(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """Rewrite a safetensors file with `change` applied to its tensors."""

    def damage(path: Path) -> None:
        tensors = safetensors.torch.load_file(path)
        change(tensors)
        safetensors.torch.save_file(tensors, path)

    return damage


def _first_weight(tensors: dict) -> str:
    """A generator weight (what every loader reads), else the first matrix of the file."""
    names = [k for k, t in sorted(tensors.items()) if t.ndim >= 2 and "rng" not in k]
    return next((k for k in names if k.startswith("G_ema.")), names[0])


TENSOR_DAMAGE = {
    "NaN weight": lambda ts: ts[_first_weight(ts)].view(-1).__setitem__(0, float("nan")),
    "inf weight": lambda ts: ts[_first_weight(ts)].view(-1).__setitem__(-1, float("inf")),
    "int32 weight": lambda ts: ts.update({(k := _first_weight(ts)): ts[k].to(torch.int32)}),
    "bool weight": lambda ts: ts.update({(k := _first_weight(ts)): ts[k] > 0}),
    "wrong shape": lambda ts: ts.update({(k := _first_weight(ts)): ts[k][:-1].clone()}),
    "tensor missing": lambda ts: ts.pop(_first_weight(ts)),
}
TENSOR_ITEMS = list(TENSOR_DAMAGE.items())[:4]  # NaN, inf, int32, bool: an import casts the rest


def _malicious(marker: Path, zipped: bool) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        if zipped:
            torch.save({"g_ema": Evil(marker), "x": torch.ones(1)}, path)
        else:
            path.write_bytes(pickle.dumps(Evil(marker), protocol=2))

    return damage


def _json(change: Callable[[object], object]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        path.write_text(json.dumps(change(json.loads(path.read_text()))))

    return damage


def _set(key: str, value: object) -> Callable[[Path], None]:
    return _json(lambda meta: {**meta, key: value})


def _drop(key: str) -> Callable[[Path], None]:
    return _json(lambda meta: {k: v for k, v in meta.items() if k != key})


def _field_damage(fields: dict[str, type]) -> dict[str, Callable[[Path], None]]:
    """Each required field missing, and set to each JSON value of another type."""
    out = {f"no {key}": _drop(key) for key in fields}
    for key, kind in fields.items():
        for value in (None, 5, "x", [], {}):
            if not isinstance(value, kind):
                out[f"{key}={json.dumps(value)}"] = _set(key, value)
    return out


JSON_DAMAGE = {
    "sidecar truncated": _truncate(0.5),
    "sidecar empty": _truncate(0.0),
    "sidecar a list": _json(lambda meta: [meta]),
}


def _rehash(field: str) -> Callable[[Path, Path], None]:
    """A hostile writer rewrites the sidecar's sha256 to match its damaged file."""

    def fix(data: Path, sidecar: Path) -> None:
        meta = json.loads(sidecar.read_text())
        meta[field] = file_sha256(data)
        sidecar.write_text(json.dumps(meta))

    return fix


# ----------------------------------------------------------------------------------------------
# Cases


@dataclass
class Case:
    loader: str  # the row of the table
    name: str  # what was done to the file
    target: str  # the file damaged, relative to the bundle's copy
    damage: Callable[[Path], None] | None  # None: the untouched model, which must load
    fix: Callable[[Path, Path], None] | None = None  # (damaged file, sidecar): hide the damage
    sidecar: str = ""


def _binary_cases(loader: str, target: str, sidecar: str = "", field: str = "") -> list[Case]:
    cases = [Case(loader, "untouched", target, None)]
    for f in (0.0, 0.001, 0.5, 0.999):
        cases.append(Case(loader, f"truncated to {f:.1%}", target, _truncate(f)))
    for f in (0.0, 0.0005, 0.002):
        cases.append(Case(loader, f"byte flipped at {f:.2%}", target, _flip(f)))
    if sidecar:  # the same damage with the sidecar's hash rewritten to match
        for f in (0.001, 0.5, 0.999):
            fix = _rehash(field)
            cases.append(
                Case(loader, f"truncated {f:.1%}, rehashed", target, _truncate(f), fix, sidecar)
            )
        for name, change in TENSOR_DAMAGE.items():
            cases.append(
                Case(loader, f"{name}, rehashed", target, _tensors(change), _rehash(field), sidecar)
            )
    return cases


def _sidecar_cases(loader: str, sidecar: str, fields: dict[str, type], extra: dict) -> list[Case]:
    damage = {**JSON_DAMAGE, **_field_damage(fields), **extra}
    return [Case(loader, name, sidecar, fn) for name, fn in damage.items()]


def cases(marker: Path, writer: bool) -> list[Case]:
    out = []
    snap = "run/snapshot-000001.safetensors"
    for loader, target in (
        ("generator snapshot", snap),
        ("exported generator", "export.safetensors"),
    ):
        sidecar = str(Path(target).with_suffix(".json"))
        out += _binary_cases(loader, target, sidecar, "safetensors_sha256")
        fields = {"format": str, "safetensors": str, "safetensors_sha256": str, "G_kwargs": dict}
        extra = {
            "file name ../../../../etc/passwd": _set("safetensors", "../../../../etc/passwd"),
            "file name /etc/passwd": _set("safetensors", "/etc/passwd"),
            "file name of its sidecar": _set("safetensors", Path(sidecar).name),
            "G_kwargs empty": _set("G_kwargs", {}),
            "G_kwargs z_dim 9": _json(lambda m: {**m, "G_kwargs": {**m["G_kwargs"], "z_dim": 9}}),
            "G_kwargs huge": _json(
                lambda m: {**m, "G_kwargs": {**m["G_kwargs"], "img_resolution": [2**16, 2**16]}}
            ),
            "G_kwargs unknown key": _json(lambda m: {**m, "G_kwargs": {**m["G_kwargs"], "x": 1}}),
            "label_names not strings": _set("label_names", [1, 2]),
        }
        out += _sidecar_cases(loader, sidecar, fields, extra)
    out += _binary_cases("resume snapshot", snap)
    out += _sidecar_cases(
        "resume snapshot",
        "run/snapshot-000001.json",
        {"optimizers": dict, "rng": dict},
        {"rng python junk": _json(lambda m: {**m, "rng": {**m["rng"], "python": [1]}})},
    )
    out.append(Case("import fauxshop", "untouched", snap, None))
    out += [Case("import fauxshop", n, snap, _tensors(c)) for n, c in TENSOR_ITEMS]
    out += _binary_cases("import NVIDIA", "G.pkl")
    out += [
        Case("import NVIDIA", "malicious pickle", "G.pkl", _malicious(marker, False)),
        Case("import NVIDIA", "G_ema not a network", "G.pkl", _pickled({"G_ema": {"a": 1}})),
        Case("import NVIDIA", "a list", "G.pkl", _pickled([1, 2])),
    ]
    out += [
        Case("import rosinality", "malicious pickle", "g.pt", _malicious(marker, False)),
        Case("import rosinality", "malicious torch zip", "g.pt", _malicious(marker, True)),
        Case(
            "import rosinality",
            "g_ema of strings",
            "g.pt",
            _saved({"g_ema": {"style.1.weight": "x"}}),
        ),
        Case("import rosinality", "g_ema empty", "g.pt", _saved({"g_ema": {}})),
        Case("import rosinality", "no g_ema", "g.pt", _saved({"g": {}})),
        Case(
            "import rosinality", "truncated", "g.pt", _then(_saved({"g_ema": {}}), _truncate(0.5))
        ),
    ]
    tag_fields = {"format": str, "config": dict, "heads": dict, "input_size": list}
    out += _binary_cases("tagger", "tagger.safetensors", "tagger.json", "weights_sha256")
    out += _sidecar_cases(
        "tagger",
        "tagger.json",
        tag_fields,
        {
            "input_size huge": _set("input_size", [100000, 100000]),
            "input_size of strings": _set("input_size", ["a", "b"]),
            "config unknown key": _json(lambda m: {**m, "config": {**m["config"], "x": 1}}),
            "config widths 4,16": _json(
                lambda m: {**m, "config": {**m["config"], "widths": "4,16"}}
            ),
            "config epochs 0": _json(lambda m: {**m, "config": {**m["config"], "epochs": 0}}),
            "heads a list": _set("heads", ["colour"]),
            "heads classes of ints": _set("heads", {"colour": [1, 2]}),
            "heads with a dotted name": _set("heads", {"a.b": ["red", "blue"]}),
            "heads one class more": _set("heads", {"colour": ["red", "blue", "green"]}),
        },
    )
    text_fields = {"format": str, "encoder": str, "heads": dict, "vocabulary": list}
    out += _binary_cases(
        "text tagger", "tagger-text.safetensors", "tagger-text.json", "weights_sha256"
    )
    out += _sidecar_cases(
        "text tagger",
        "tagger-text.json",
        {**text_fields, "weights_sha256": str},
        {
            "vocabulary one term short": _json(lambda m: {**m, "vocabulary": m["vocabulary"][1:]}),
            "vocabulary of ints": _json(
                lambda m: {**m, "vocabulary": list(range(len(m["vocabulary"])))}
            ),
            "heads one class more": _set("heads", {"colour": ["red", "blue", "green"]}),
            "encoder unknown": _set("encoder", "bogus"),
        },
    )
    if writer:
        out += _writer_cases(marker)
    return out


def _pickled(obj: object) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(pickle.dumps(obj, protocol=2))


def _saved(obj: object) -> Callable[[Path], None]:
    return lambda path: torch.save(obj, path)


def _then(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        for step in steps:
            step(path)

    return damage


def _writer_cases(marker: Path) -> list[Case]:
    w, state = "writer", "writer/trainer_state.pt"
    weights = "writer/model.safetensors"

    def bin_instead(zipped: bool) -> Callable[[Path], None]:
        def damage(path: Path) -> None:  # path: model.safetensors, replaced by a pickle
            path.unlink()
            _malicious(marker, zipped)(path.with_name("pytorch_model.bin"))

        return damage

    out = [Case("writer", "untouched", w, None)]
    for f in (0.0, 0.001, 0.5, 0.999):
        out.append(Case("writer", f"weights truncated to {f:.1%}", weights, _truncate(f)))
    out += [Case("writer", f"weights {n}", weights, _tensors(c)) for n, c in TENSOR_DAMAGE.items()]
    out += [
        Case("writer", "malicious pytorch_model.bin", weights, bin_instead(False)),
        Case("writer", "malicious zipped pytorch_model.bin", weights, bin_instead(True)),
        Case("writer", "tokenizer truncated", "writer/tokenizer.json", _truncate(0.5)),
        Case("writer", "tokenizer a list", "writer/tokenizer.json", _json(lambda m: [m])),
        Case("writer", "config truncated", "writer/config.json", _truncate(0.5)),
        Case("writer", "config n_embd a string", "writer/config.json", _set("n_embd", "x")),
        Case("writer", "config n_layer 2", "writer/config.json", _set("n_layer", 2)),
        Case("writer", "config vocab_size 999", "writer/config.json", _set("vocab_size", 999)),
        Case(
            "writer", "config model_type bogus", "writer/config.json", _set("model_type", "bogus")
        ),
        Case("writer", "meta truncated", "writer/fauxshop-text.json", _truncate(0.5)),
        Case("writer", "meta a list", "writer/fauxshop-text.json", _json(lambda m: [m])),
    ]
    out.append(Case("trainer state", "untouched", state, None))
    for f in (0.0, 0.01, 0.5, 0.99):
        out.append(Case("trainer state", f"truncated to {f:.0%}", state, _truncate(f)))
    out += [
        Case("trainer state", "malicious pickle", state, _malicious(marker, False)),
        Case("trainer state", "malicious torch zip", state, _malicious(marker, True)),
        Case("trainer state", "a list", state, _saved([1, 2])),
    ]
    fields = {"step": 1, "best_val": 1.0, "evals_since_best": 0, "tokens_seen": 1}
    fields |= {"optimizer": {}, "rng_tensors": {}, "rng_state": "{}"}
    for key, good in fields.items():
        out.append(Case("trainer state", f"no {key}", state, _state(lambda s, k=key: s.pop(k))))
        bad = "x" if not isinstance(good, str) else 5
        out.append(
            Case(
                "trainer state",
                f"{key}={bad!r}",
                state,
                _state(lambda s, k=key, b=bad: s.update({k: b})),
            )
        )
    out.append(
        Case(
            "trainer state", "rng_state not JSON", state, _state(lambda s: s.update(rng_state="{"))
        )
    )
    return out


def _state(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        state = torch.load(path, weights_only=True)
        change(state)
        torch.save(state, path)

    return damage


# ----------------------------------------------------------------------------------------------
# Loaders


def _resume(path: Path) -> None:
    """What a resumed image training run reads of its snapshot."""
    snapshot = read_snapshot(path)
    G, D = Generator(**G_KWARGS), Discriminator(**D_KWARGS)
    for name, module in (("G", G), ("G_ema", G), ("D", D)):
        snapshot.load_module(name, module)
    snapshot.load_optimizer("opt_G", torch.optim.Adam(G.parameters()))
    with torch.random.fork_rng():
        snapshot.restore_rng()


def _loaders() -> dict[str, Callable[[Path], object]]:
    def writer(path: Path) -> object:
        from fauxshop.text.models import load_trained

        return load_trained(path)

    def state(path: Path) -> object:
        from fauxshop.text.models import load_trainer_state

        return load_trainer_state(path)

    def text(path: Path) -> object:
        tagger = load_text_tagger(path.with_name("tagger.safetensors"))
        if tagger is None:
            raise FauxshopError(f"{path}: probe: no text tagger found")  # the sidecar was removed
        return tagger

    return {
        "generator snapshot": load_generator,
        "exported generator": load_generator,
        "resume snapshot": _resume,
        "import fauxshop": load_external,
        "import NVIDIA": load_external,
        "import rosinality": load_external,
        "tagger": load_tagger,
        "text tagger": text,
        "writer": writer,
        "trainer state": state,
    }


# the file each loader is given, in a bundle's copy
LOAD_PATH = {
    "generator snapshot": "run/snapshot-000001.safetensors",
    "exported generator": "export.safetensors",
    "resume snapshot": "run/snapshot-000001.safetensors",
    "import fauxshop": "run/snapshot-000001.safetensors",
    "import NVIDIA": "G.pkl",
    "import rosinality": "g.pt",
    "tagger": "tagger.safetensors",
    "text tagger": "tagger-text.safetensors",
    "writer": "writer",
    "trainer state": "writer/trainer_state.pt",
}


def build(root: Path, writer: bool) -> Path:
    """The untouched bundle every case copies."""
    bundle = root / "bundle"
    bundle.mkdir()
    _generator_run(bundle)
    torch.manual_seed(0)
    _nvidia_pickle(Generator(**G_KWARGS), bundle / "G.pkl")
    (bundle / "g.pt").write_bytes(b"")
    _tagger(bundle)
    if writer:
        _writer(bundle)
    return bundle


def run_case(case: Case, bundle: Path, work: Path, loaders: dict, verbose: bool = False) -> str:
    """'ok' (untouched and loaded, or damaged and refused in one line naming the file), or
    'loaded', 'traceback', 'unnamed' (a one-line refusal not naming the file), 'refused'."""
    copy = work / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(bundle, copy)
    if case.damage is not None:
        case.damage(copy / case.target)
        if case.fix is not None:
            case.fix(copy / case.target, copy / case.sidecar)
    path = copy / LOAD_PATH[case.loader]
    try:
        loaders[case.loader](path)
    except FauxshopError as e:
        message = str(e)
        if verbose:
            print(f"{case.loader} / {case.name}: {message}", file=sys.stderr)
        if case.damage is None:
            return f"refused: {message}"
        if "\n" in message or "weights_only" in message:
            return f"traceback: {message!r}"
        named = (copy / case.target).name in message or path.name in message
        return "ok" if named else f"unnamed: {message}"
    except Exception as e:  # noqa: BLE001 (what the probe counts)
        return f"traceback: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return "ok" if case.damage is None else "loaded"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a handful of files, a few seconds")
    parser.add_argument("--verbose", action="store_true", help="print every refusal message")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="probe-models-") as tmp:
        root = Path(tmp)
        marker = root / MARKER
        bundle = build(root, writer=not args.quick)
        all_cases = cases(marker, writer=not args.quick)
        if args.quick:
            all_cases = [c for i, c in enumerate(all_cases) if i % 12 == 0 or c.damage is None]
        loaders = _loaders()
        rows: dict[str, dict] = {}
        for case in all_cases:
            outcome = run_case(case, bundle, root, loaders, args.verbose)
            row = rows.setdefault(
                case.loader,
                {
                    "loading path": case.loader,
                    "files": 0,
                    "hostile loaded": 0,
                    "tracebacks": 0,
                    "refusals not naming the file": 0,
                    "good files refused": 0,
                    "marker files": 0,
                },
            )
            row["files"] += 1
            kind = outcome.split(":")[0]
            column = {
                "loaded": "hostile loaded",
                "traceback": "tracebacks",
                "unnamed": "refusals not naming the file",
                "refused": "good files refused",
            }.get(kind)
            if column:
                row[column] += 1
                print(f"{case.loader} / {case.name}: {outcome}", file=sys.stderr)
            if marker.exists():
                row["marker files"] += 1
                marker.unlink()
        total = {"loading path": "total"}
        for row in rows.values():
            for key, value in row.items():
                if key != "loading path":
                    total[key] = total.get(key, 0) + value
        print(markdown_table([*rows.values(), total]))


if __name__ == "__main__":
    main()
