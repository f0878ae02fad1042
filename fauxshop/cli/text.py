"""Text verbs: train-text, write, eval-text."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fauxshop.cli.common import field_help, resumed_config, trainer_verb, verb
from fauxshop.config_args import add_dataclass_args, dataclass_from_args
from fauxshop.errors import FauxshopError
from fauxshop.text.config import SamplingConfig, TextTrainConfig
from fauxshop.workspace import Workspace


def _default_corpus(args) -> Path:
    """The corpus of the newest archive in the workspace (pack writes one beside each)."""
    ws = Workspace.open(args.workdir)
    corpus = ws.newest_archive("*.corpus.jsonl")
    if corpus is None:
        raise FauxshopError(
            f"{ws.archives_dir}: no corpus; run `fauxshop pack` first or pass --corpus"
        )
    return corpus


def cmd_train_text(args) -> int:
    """fine-tune a causal LM (or train a GPT-2 from zero) on the catalog's descriptions

    fauxshop train-text --from-scratch tiny --max-steps 2000 --out runs/text
    """
    from fauxshop.text.train import train_text

    if args.resume:
        config = resumed_config(args, TextTrainConfig)
    else:
        if args.cfg_out is None:
            raise FauxshopError("train-text: --out RUN_DIR required (or --resume RUN)")
        corpus = args.cfg_corpus or _default_corpus(args)
        overrides = {"corpus": str(corpus)}
        if args.cfg_max_steps is None:
            overrides["max_steps"] = TextTrainConfig.max_steps
        config = dataclass_from_args(TextTrainConfig, args, **overrides)
        print(f"corpus: {config.corpus}")
    result = train_text(config, resume=bool(args.resume))
    print(json.dumps(result, indent=2))
    return 0


def cmd_write(args) -> int:
    """write product descriptions from contexts (or freely) with a trained text model

    fauxshop write --context "sleeveless red asymmetric dress" --n 5
    """
    from fauxshop.products.models import DEMO_WRITER
    from fauxshop.text.corpus import context_note
    from fauxshop.text.models import load_trained
    from fauxshop.text.sample import write

    model, tokenizer, meta = load_trained(args.run or DEMO_WRITER, args.device)
    contexts = args.context or [None]
    fmt = meta.get("format", "context")
    note = context_note(contexts, fmt)
    if note:
        print(note, file=sys.stderr)
    sampling = dataclass_from_args(SamplingConfig, args)
    records = write(model, tokenizer, contexts, sampling, fmt, show_progress=True)
    for record in records:
        if args.jsonl:
            print(json.dumps(record, ensure_ascii=False))
        else:
            print(f"== {record['context'] or '(free)'}\n{record['description']}\n")
    return 0


def cmd_eval_text(args) -> int:
    """val perplexity and text metrics (coverage, contradictions, distinct-n, memorisation)

    fauxshop eval-text runs/text runs/text-smollm2 --contexts 100
    """
    from fauxshop.metrics.text import format_table
    from fauxshop.text.evaluate import evaluate_run

    rows = {}
    for run in args.runs:
        result = evaluate_run(
            run, args.corpus, args.contexts, dataclass_from_args(SamplingConfig, args)
        )
        rows[str(run)] = {k: v for k, v in result.items() if k not in ("run", "examples")}
        print(f"{run}: wrote {run}/eval.json", file=sys.stderr)
    print(format_table(rows))
    return 0


def register(sub, common) -> None:
    steps = f"optimizer steps in all (default: {TextTrainConfig.max_steps}; "
    trainer_verb(sub, cmd_train_text, common, TextTrainConfig, {
        "out": (None, "RUN_DIR", field_help(TextTrainConfig, "out")),
        "corpus": (None, "JSONL", "corpus JSONL (default: the newest in WORKDIR/archives, "
                   "written by pack)"),
        "max_steps": (int, "N", steps + "with --resume: the new total)"),
    })  # fmt: skip

    p = verb(sub, cmd_write, common)
    p.add_argument(
        "run",
        type=Path,
        nargs="?",
        help="text run folder or any saved model folder (default: the shipped demo writer, "
        "fauxshop/assets/demo-writer)",
    )
    p.add_argument(
        "--context",
        action="append",
        help="tags to write from, e.g. 'sleeveless red midi dress' (repeatable; none: free)",
    )
    p.add_argument("--jsonl", action="store_true", help="one JSON record per line")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    add_dataclass_args(p, SamplingConfig, "sampling")

    p = verb(sub, cmd_eval_text, common)
    p.add_argument("runs", type=Path, nargs="+", help="text run folders, one table row each")
    p.add_argument("--corpus", type=Path, help="corpus JSONL (default: the one the run used)")
    p.add_argument("--contexts", type=int, default=100, help="held-out contexts to write from")
    add_dataclass_args(p, SamplingConfig, "sampling")
