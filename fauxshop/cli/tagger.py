"""Tagger verb: train-tagger."""

from __future__ import annotations

from pathlib import Path

from fauxshop.cli.common import verb
from fauxshop.config_args import add_dataclass_args, dataclass_from_args
from fauxshop.tagger.config import TaggerConfig
from fauxshop.workspace import Workspace


def cmd_train_tagger(args) -> int:
    """train the category + attribute tagger (image branch) on a packed archive

    fauxshop train-tagger archives/demo-64x32.zip --epochs 60
    """
    from fauxshop.tagger.train import format_report, train_tagger

    config = dataclass_from_args(TaggerConfig, args)
    out = args.out or Workspace.open(args.workdir).runs_dir / f"tagger-{args.archive.stem}"
    report = train_tagger(args.archive, out, config)
    print(format_report(report))
    print(f"tagger: {out}/tagger.safetensors (report: {out}/report.json)")
    return 0


def register(sub, common) -> None:
    p = verb(sub, cmd_train_tagger, common)
    p.add_argument("archive", type=Path, help="image archive from `fauxshop pack`")
    p.add_argument("--out", type=Path, help="run folder (default: WORKDIR/runs/tagger-ARCHIVE)")
    add_dataclass_args(p, TaggerConfig, "tagger")
