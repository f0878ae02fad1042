"""Tagger verbs: train-tagger, calibrate-tagger."""

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


def cmd_calibrate_tagger(args) -> int:
    """measure the confidence per tag at which the tagger is right often enough on held-out
    real photos, and save it beside the tagger: products name only tags that clear it

    fauxshop calibrate-tagger runs/tagger-demo-64x32/tagger.safetensors archives/demo-64x32.zip \
        --precision 0.95 --coarsen 3
    """
    from fauxshop.tagger.calibration import calibrate_tagger, calibration_path, format_calibration

    saved = calibrate_tagger(args.tagger, args.archive, args.precision, args.split, args.coarsen)
    print(format_calibration(saved))
    print(f"calibration: {calibration_path(args.tagger)}")
    return 0


def register(sub, common) -> None:
    p = verb(sub, cmd_train_tagger, common)
    p.add_argument("archive", type=Path, help="image archive from `fauxshop pack`")
    p.add_argument("--out", type=Path, help="run folder (default: WORKDIR/runs/tagger-ARCHIVE)")
    add_dataclass_args(p, TaggerConfig, "tagger")
    p = verb(sub, cmd_calibrate_tagger, common)
    p.add_argument("tagger", type=Path, help="tagger .safetensors from `train-tagger`")
    p.add_argument("archive", type=Path, help="the archive it was trained on (`fauxshop pack`)")
    p.add_argument("--precision", type=float, default=0.9, help="target precision (default 0.9)")
    p.add_argument("--split", default="test", help="held-out split to measure on (default test)")
    p.add_argument(
        "--coarsen", type=float, default=1.0,
        help="score the photos area-downscaled by this factor and back, so only claims that "
        "survive without fine detail are kept (default 1: as they are; the demo tagger: 3)",
    )  # fmt: skip
