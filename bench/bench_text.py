"""Training and sampling tokens/s of fauxshop's text loop against Hugging Face's own tools.

Same run, same model (a fresh GPT-2 "tiny", 4 layers x 256 wide, seed 0), same learned BPE,
same data (a demo corpus, packed and cut into windows by one `WindowSampler`):

- train: fauxshop's step (`fauxshop.text.train._build_run` + `_train_step`: fused AdamW betas
  0.9/0.95, weight decay 0.1 on matrices, grad clip 1.0, warmup + cosine) against the
  Hugging Face `Trainer` (run_clm style: a Dataset of {"input_ids", "labels"} windows, the
  same batch, lr, betas, decay, clip and schedule; the Trainer's default optimizer, also
  fused AdamW). Both time the same optimizer steps after the same warm-up steps; float32.
- sample: `fauxshop.text.sample.write` (batched, left-padded) against plain `generate()`
  called once per context with num_return_sequences=n: same prompts, temperature 0.8,
  top-p 0.95, no top-k. min_new_tokens = max_new_tokens on both sides, so both generate
  exactly contexts x n x max_new_tokens tokens.

The ratio (fauxshop / peer) is the point: it must be >= 1.0, our loop no slower. Each of the
four measurements runs in its own child process, so its peak RSS is its own; all use the same
torch threads and fauxshop's CPU settings (flushed denormals). Run it on an idle machine:

    .venv/bin/python bench/bench_text.py            # 30 timed steps, 16 x 4 samples
    .venv/bin/python bench/bench_text.py --quick    # tiny everything: smoke check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from _child import run_child

QUICK = {"steps": 3, "warmup": 1, "block_size": 128, "batch": 4, "vocab": 512, "records": 200,
         "contexts": 2, "n": 2, "max_new_tokens": 16}  # fmt: skip


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _run(args):
    """fauxshop's training run (fresh tiny GPT-2, learned BPE, packed windows) on the CPU."""
    import torch

    from fauxshop.runtime import Dist, configure_torch
    from fauxshop.text.config import TextTrainConfig
    from fauxshop.text.train import _build_run

    total = args.warmup + args.steps
    config = TextTrainConfig(
        out=str(args.data / f"run-{args.task}"), corpus=str(args.data / "corpus.jsonl"),
        from_scratch="tiny", bpe_vocab=args.vocab, block_size=args.block_size, batch=args.batch,
        max_steps=total, eval_every=total, checkpoint_every=total, sample_every=0, amp="off",
    )  # fmt: skip
    configure_torch(torch.device("cpu"))
    return _build_run(config, False, Dist(0, 1, torch.device("cpu"), False))


def _tok_s(marks: list[float], args, tokens_per_step: int) -> float:
    """Tokens/s over the steps after warm-up, from the time each step ended."""
    timed = marks[args.warmup :]
    return tokens_per_step * (len(timed) - 1) / (timed[-1] - timed[0])


def train_ours(args) -> float:
    from fauxshop.text.train import _train_step

    run = _run(args)
    marks = []
    while run.step < run.config.max_steps:
        _train_step(run)
        marks.append(time.perf_counter())
    return _tok_s(marks, args, args.batch * args.block_size)


def train_peer(args) -> float:
    import numpy as np
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    run = _run(args)  # only its model and windows: its optimizer holds no state yet
    config, model, sampler = run.config, run.model, run.sampler
    del run

    class Windows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return sampler.per_epoch

        def __getitem__(self, k: int) -> dict:
            ids = torch.from_numpy(sampler.window(k).astype(np.int64))
            return {"input_ids": ids, "labels": ids}

    marks: list[float] = []

    class Marks(TrainerCallback):
        def on_step_end(self, *_, **__) -> None:
            marks.append(time.perf_counter())

    training = TrainingArguments(
        output_dir=config.out, per_device_train_batch_size=config.batch,
        learning_rate=config.peak_lr(), adam_beta1=0.9, adam_beta2=0.95,
        weight_decay=config.weight_decay, max_grad_norm=config.grad_clip,
        max_steps=config.max_steps, warmup_steps=config.warmup_steps,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": config.min_lr_ratio}, seed=config.seed,
        save_strategy="no", eval_strategy="no", logging_strategy="no", report_to=[],
        disable_tqdm=True, dataloader_num_workers=0, use_cpu=True,
    )  # fmt: skip
    Trainer(model=model, args=training, train_dataset=Windows(), callbacks=[Marks()]).train()
    return _tok_s(marks, args, args.batch * args.block_size)


def _sampling_setup(args):
    """A fresh model in eval mode, its tokenizer, the contexts and a generate() warm-up."""
    from fauxshop.text.corpus import read_corpus

    run = _run(args)
    model, tokenizer = run.model.eval(), run.tokenizer
    corpus = read_corpus(args.data / "corpus.jsonl")
    contexts = list(dict.fromkeys(r.context for r in corpus.val))[: args.contexts]
    eos = tokenizer.eos_token_id
    model.generate(input_ids=run.sampler.batch(0, 1)[:, :8], max_new_tokens=4, pad_token_id=eos)
    return model, tokenizer, contexts


def sample_ours(args) -> float:
    from fauxshop.text.config import SamplingConfig
    from fauxshop.text.sample import write

    model, tokenizer, contexts = _sampling_setup(args)
    model.generation_config.min_new_tokens = args.max_new_tokens  # write() leaves it unset
    settings = SamplingConfig(n=args.n, max_new_tokens=args.max_new_tokens)
    start = time.perf_counter()
    records = write(model, tokenizer, contexts, settings)
    seconds = time.perf_counter() - start
    return sum(r["tokens"] + r["finished"] for r in records) / seconds  # EOS counts as one


def sample_peer(args) -> float:
    import torch

    from fauxshop.text.sample import _prompt_ids

    model, tokenizer, contexts = _sampling_setup(args)
    eos, generated = tokenizer.eos_token_id, 0
    torch.manual_seed(0)
    start = time.perf_counter()
    with torch.no_grad():
        for context in contexts:
            ids = torch.tensor([_prompt_ids(tokenizer, context, "context", args.block_size)])
            out = model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                temperature=0.8, top_p=0.95, top_k=0, max_new_tokens=args.max_new_tokens,
                min_new_tokens=args.max_new_tokens, num_return_sequences=args.n,
                eos_token_id=eos, pad_token_id=eos,
            )  # fmt: skip
            for row in out[:, ids.shape[1] :].tolist():
                generated += row.index(eos) + 1 if eos in row else len(row)
            tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
    return generated / (time.perf_counter() - start)


TASKS = {"ours-train": train_ours, "peer-train": train_peer,
         "ours-sample": sample_ours, "peer-sample": sample_peer}  # fmt: skip


def child(task: str, data: Path, threads: int) -> dict:
    """One measurement in a fresh interpreter (see _child)."""
    args = [*sys.argv[1:], "--task", task, "--data", str(data), "--threads", str(threads)]
    return run_child(__file__, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (>= 1)")
    parser.add_argument("--block-size", type=int, default=256, help="tokens per window")
    parser.add_argument("--batch", type=int, default=16, help="windows per step")
    parser.add_argument("--vocab", type=int, default=2048, help="learned BPE vocabulary")
    parser.add_argument("--records", type=int, default=2000, help="demo corpus records")
    parser.add_argument("--contexts", type=int, default=16, help="contexts sampled")
    parser.add_argument("--n", type=int, default=4, help="samples per context")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="tokens per sample")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    parser.add_argument("--quick", action="store_true", help="tiny everything: smoke check")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--task", choices=TASKS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    if args.task:
        tok_s = TASKS[args.task](args)
        print(json.dumps({"tok_s": tok_s, "peak_mb": _peak_mb()}))
        return

    from fauxshop.catalog.demo_catalog import demo_corpus
    from fauxshop.text.config import SamplingConfig

    with tempfile.TemporaryDirectory(prefix="fauxshop-bench-") as tmp:
        rows = demo_corpus(args.records, seed=0)
        (Path(tmp) / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        results = {task: child(task, Path(tmp), threads) for task in TASKS}

    settings = {k: getattr(args, k) for k in ("steps", "warmup", "block_size", "batch", "vocab",
                "records", "contexts", "n", "max_new_tokens")}  # fmt: skip
    settings["threads"] = threads
    print(f"GPT-2 tiny on CPU: {os.cpu_count()} cores, {threads} torch threads, float32")
    print(", ".join(f"{k}={v}" for k, v in settings.items()))
    print("train: same optimizer steps after warm-up; fused AdamW on both sides")
    print("sample: min_new_tokens = max_new_tokens on both sides (same token count);")
    batch = SamplingConfig().batch_size
    print(f"write() batches {batch} sequences, generate() one context's n at a time\n")
    head = ("measurement", "fauxshop tok/s", "peer tok/s", "ratio (fauxshop/peer)",
            "fauxshop peak RSS MB", "peer peak RSS MB")  # fmt: skip
    table, numbers = [], {"settings": settings}
    for kind, peer in (("train", "HF Trainer"), ("sample", "generate() per context")):
        ours, theirs = results[f"ours-{kind}"], results[f"peer-{kind}"]
        ratio = ours["tok_s"] / theirs["tok_s"]
        numbers[kind] = {"fauxshop": ours, "peer": theirs, "peer_name": peer, "ratio": ratio}
        table.append((
            f"{kind} (vs {peer})", f"{ours['tok_s']:.0f}", f"{theirs['tok_s']:.0f}", f"{ratio:.2f}",
            f"{ours['peak_mb']:.0f}", f"{theirs['peak_mb']:.0f}",
        ))  # fmt: skip
    widths = [max(len(c) for c in col) for col in zip(head, *table, strict=True)]
    print("| " + " | ".join(c.ljust(n) for c, n in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (n + 2) for n in widths) + "|")
    for cells in table:
        right = [c.rjust(n) for c, n in zip(cells[1:], widths[1:], strict=True)]
        print("| " + " | ".join([cells[0].ljust(widths[0]), *right]) + " |")
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")


if __name__ == "__main__":
    main()
