"""What every verb module shares: the --workdir flag, verb registration, and loading the
objects verbs take by path (the store, a run's generator, a tagger, a saved run config)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from fauxshop.config_args import StoreGiven, add_dataclass_args
from fauxshop.errors import FauxshopError
from fauxshop.workspace import DEFAULT_WORKDIR, Workspace


def workdir_flag() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--workdir",
        type=Path,
        default=Path(os.environ.get("FAUXSHOP_WORKDIR", DEFAULT_WORKDIR)),
        help="workspace folder holding catalog.db, archives, runs and exports "
        "(default: $FAUXSHOP_WORKDIR or ./fauxshop-work)",
    )
    return common


def verb(sub, func, common) -> argparse.ArgumentParser:
    """Register `func` (cmd_NAME_PART) as verb NAME-PART. Its docstring is the verb's help:
    the first paragraph says what it does, the last one is an example command."""
    paragraphs = [" ".join(p.split()) for p in func.__doc__.strip().split("\n\n")]
    parser = sub.add_parser(
        func.__name__.removeprefix("cmd_").replace("_", "-"),
        help=paragraphs[0],
        description=paragraphs[0],
        epilog=f"example:\n  {paragraphs[-1]}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.set_defaults(func=func)
    return parser


def generator_verb(sub, func, common) -> argparse.ArgumentParser:
    """A verb whose first argument is a trained generator (run folder, snapshot, or an NVIDIA
    .pkl / rosinality .pt read as it is)."""
    p = verb(sub, func, common)
    p.add_argument(
        "run", type=Path,
        help="run folder (its newest snapshot), snapshot file, NVIDIA .pkl or rosinality .pt",
    )  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    return p


def trainer_verb(
    sub, func, common, config_class, run_flags: dict, skip=()
) -> argparse.ArgumentParser:
    """A training verb: --resume RUN, the flags a new run needs or a resume may raise (`run_flags`:
    field -> (type, metavar, help); stored as cfg_FIELD, None and unmarked when not given, so a
    resumed run keeps its saved value), then one flag per other field of `config_class`."""
    p = verb(sub, func, common)
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue this run exactly")
    for name, (kind, metavar, text) in run_flags.items():
        flag = "--" + name.replace("_", "-")
        p.add_argument(
            flag, dest=f"cfg_{name}", type=kind, metavar=metavar, help=text, action=StoreGiven
        )
    add_dataclass_args(p, config_class, "training", skip=(*run_flags, *skip))
    return p


def field_help(config_class, name: str) -> str:
    return config_class.__dataclass_fields__[name].metadata["help"]


def model_flags(p) -> None:
    """The four models a product comes from (the shipped demo ones by default)."""
    p.add_argument("--generator", type=Path, help="snapshot (default: the demo generator)")
    p.add_argument("--tagger", type=Path, help="tagger .safetensors (default: the demo tagger)")
    p.add_argument("--writer", type=Path, help="text run or model (default: the demo writer)")
    p.add_argument(
        "--real", type=Path,
        help="archive of the real catalog (default: the generator's training archive, else newest)",
    )  # fmt: skip


def sampling_flags(p, psi: float) -> None:
    p.add_argument("--psi", type=float, default=psi, help=f"truncation psi (default: {psi})")
    p.add_argument("--class", dest="class_name", help="class name or index (conditional G)")


def truncate_flag(p) -> None:
    from fauxshop.latent.config import TRUNCATE_TO

    p.add_argument(
        "--truncate-to", choices=TRUNCATE_TO, default="global",
        help="what psi pulls towards: the mean w of every class (global, NVIDIA's) or of the "
        "asked --class (class: a truncated skirt stays a skirt; default: global)",
    )  # fmt: skip


def open_store(args):
    from fauxshop.catalog.store import Store

    return Store(Workspace.open(args.workdir).db_path)


def run_generator(args):
    """The EMA generator named by RUN (run folder, snapshot or imported checkpoint) and its
    snapshot."""
    from fauxshop.image.checkpoint import resolve_snapshot, snapshot_generator

    snapshot = resolve_snapshot(args.run)
    return snapshot_generator(snapshot, args.device), snapshot


def class_index_of(G, snapshot, name):
    from fauxshop.latent.sampling import class_index

    return None if name is None else class_index(G, name, snapshot.meta.get("label_names"))


def tagger_of(args):
    from fauxshop.tagger.model import load_tagger

    if args.tagger is None:
        raise FauxshopError(f"{args.verb}: --tagger PATH required (train one with train-tagger)")
    return load_tagger(args.tagger, args.device)


def saved_config(run: Path) -> dict:
    """A run's config.json, pointed at where the run is now (it may have moved)."""
    config_path = run / "config.json"
    try:
        saved = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FauxshopError(f"{config_path}: cannot read the run's config ({e})") from e
    saved["out"] = str(run)
    return saved


def resumed_config(args, config_class):
    """The config a run was started with, with the flags given now (a new total length, an
    archive that moved, ...); the trainer refuses a change a resume cannot make. Keys
    config.json holds beside the config's fields (init_from_report) are left out; a setting
    newer than the run takes what such runs did (`BEFORE_SETTING_EXISTED`), else its default."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    saved = {**getattr(config_class, "BEFORE_SETTING_EXISTED", {}), **saved_config(args.resume)}
    saved = {k: v for k, v in saved.items() if k in fields}
    given = getattr(args, "given_flags", set())
    saved.update({name: getattr(args, f"cfg_{name}") for name in fields if f"cfg_{name}" in given})
    return config_class(**saved)
