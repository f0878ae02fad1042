"""Fine-tune (or train from zero) a causal LM on the catalog's descriptions.

Read top to bottom (the settings, `TextTrainConfig`, are in config.py): set-up (corpus,
tokenizer, model, optimiser); one loop of optimizer steps, each `grad_accum` micro-batches
of windows, clipped, on a warmup + cosine learning rate. Every `eval_every` steps: val loss
and perplexity to `log.jsonl`, and the model to `best/` when val improves; every
`sample_every`: descriptions for fixed contexts to `samples.jsonl`; every
`checkpoint_every`: `checkpoint/` (model, tokenizer and `trainer_state.pt`: optimiser, step,
RNG). The data order is a pure function of the step, so `train_text(config, resume=True)`
continues exactly as if the run had never stopped.

Under torchrun each rank takes its own windows and gradients are averaged; rank 0 writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from fauxshop.atomic import recover_dir
from fauxshop.errors import FauxshopError
from fauxshop.progress import bar as progress_bar
from fauxshop.runtime import (
    AMP_DTYPES,
    Dist,
    average_grads,
    broadcast,
    capture_rng,
    configure_torch,
    native_bf16,
    process_group,
    restore_rng,
    rng_preserved,
    seed_everything,
)
from fauxshop.text.config import SamplingConfig, TextTrainConfig
from fauxshop.text.corpus import (
    Corpus,
    TokenCorpus,
    WindowSampler,
    read_corpus,
    record_text,
    token_corpus,
)
from fauxshop.text.evaluate import val_loss
from fauxshop.text.models import (
    STATE_FILE,
    from_scratch,
    load_base,
    load_trained,
    load_trainer_state,
    save_model,
    window,
)
from fauxshop.text.sample import write
from fauxshop.text.tokenizer import gpt2_tokenizer, prepare, train_bpe
from fauxshop.training_run import append_jsonl, changed_settings, check_amp, start_run_folder

# Fields a resumed run may change without breaking "as if it had never stopped".
RESUMABLE_CHANGES = frozenset(
    {
        "max_steps",
        "max_minutes",
        "eval_every",
        "eval_windows",
        "sample_every",
        "sample_contexts",
        "checkpoint_every",
        "patience",
        "device",
        "out",
    }
)


def lr_at(step: int, config: TextTrainConfig) -> float:
    """Linear warmup to the peak, then cosine down to min_lr_ratio * peak at max_steps."""
    peak = config.peak_lr()
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    span = max(1, config.max_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    floor = peak * config.min_lr_ratio
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def _check_config(config: TextTrainConfig) -> None:
    if bool(config.base) == bool(config.from_scratch):
        raise FauxshopError("train-text: give exactly one of --base NAME or --from-scratch SIZE")
    if config.tokenizer not in ("bpe", "gpt2"):
        raise FauxshopError(f"--tokenizer {config.tokenizer!r}: choose bpe or gpt2")
    check_amp(config.amp)
    for name in ("block_size", "batch", "grad_accum", "max_steps", "eval_every"):
        if getattr(config, name) < 1:
            raise FauxshopError(f"--{name.replace('_', '-')} must be at least 1")


def _amp_dtype(config: TextTrainConfig, device: torch.device) -> torch.dtype | None:
    if config.amp == "auto":
        gpu_bf16 = device.type == "cuda" and native_bf16(device)
        return torch.bfloat16 if gpu_bf16 else None
    if config.amp == "fp16" and device.type != "cuda":
        raise FauxshopError("--amp fp16 needs a GPU; use bf16 or off on CPU")
    return AMP_DTYPES[config.amp]


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay matrices (weights, embeddings); never biases or norm gains."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


# ----------------------------------------------------------------------------------------------
# Set-up


@dataclass
class Run:
    config: TextTrainConfig
    env: Dist
    model: torch.nn.Module
    tokenizer: Any
    data: TokenCorpus
    sampler: WindowSampler
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    amp: torch.dtype | None
    step: int = 0
    best_val: float = math.inf
    evals_since_best: int = 0
    tokens_seen: int = 0

    @property
    def run_dir(self) -> Path:
        return Path(self.config.out)

    @property
    def micro(self) -> int:
        return self.config.batch // (self.config.grad_accum * self.env.world_size)

    def meta(self) -> dict[str, Any]:
        """What `fauxshop write` needs to know to prompt a saved model."""
        return {
            "format": self.config.format,
            "block_size": self.config.block_size,
            "base": self.config.base or f"scratch:{self.config.from_scratch}",
            "corpus": self.config.corpus,
            "step": self.step,
        }


def _fresh_model(config: TextTrainConfig, corpus: Corpus) -> tuple[Any, Any]:
    if config.base:
        return load_base(config.base)
    if config.tokenizer == "gpt2":
        tokenizer = prepare(gpt2_tokenizer())
    else:
        texts = (record_text(r.context, r.description, config.format) for r in corpus.train)
        tokenizer = prepare(train_bpe(texts, config.bpe_vocab))
    model = from_scratch(config.from_scratch, tokenizer, config.block_size, config.dropout)
    return model, tokenizer


def _check_resume(config: TextTrainConfig, run_dir: Path) -> None:
    saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    changed = changed_settings(saved, dataclasses.asdict(config), RESUMABLE_CHANGES)
    if changed:
        raise FauxshopError(
            f"{run_dir}: cannot resume with changed {', '.join(changed)} "
            "(the run would no longer continue exactly); start a new run"
        )


def _build_run(config: TextTrainConfig, resume: bool, env: Dist) -> Run:
    _check_config(config)
    run_dir = Path(config.out)
    checkpoint = recover_dir(run_dir / "checkpoint")
    if resume:
        if not (checkpoint / STATE_FILE).is_file():
            raise FauxshopError(f"{run_dir}: nothing to resume, no complete checkpoint/")
        _check_resume(config, run_dir)
    elif checkpoint.exists() or (run_dir / "best").exists():
        raise FauxshopError(f"{run_dir}: already holds a run; resume it or use a new folder")

    seed_everything(config.seed)
    corpus = read_corpus(config.corpus, config.context_dropout, config.seed)
    if resume:
        model, tokenizer, _ = load_trained(checkpoint)
    else:
        model, tokenizer = _fresh_model(config, corpus)
    if config.block_size > window(model):
        raise FauxshopError(
            f"--block-size {config.block_size} exceeds the model's window of {window(model)}"
        )
    model.to(env.device).train()
    if env.world_size > 1:
        broadcast([model])

    # Records longer than the model can attend to are cut (and counted); shorter ones may
    # still span two training windows, as in any packed corpus.
    cache = Path(config.corpus).resolve().parent / "text-cache"
    if env.is_main:  # one rank tokenises; the others read its cache
        data = token_corpus(corpus, tokenizer, config.format, window(model), cache)
    if env.world_size > 1:
        dist.barrier()
    if not env.is_main:
        data = token_corpus(corpus, tokenizer, config.format, window(model), cache)

    if config.batch % (config.grad_accum * env.world_size):
        raise FauxshopError(
            f"--batch {config.batch} must divide into --grad-accum {config.grad_accum} x "
            f"{env.world_size} process(es)"
        )
    amp = _amp_dtype(config, env.device)
    optimizer = torch.optim.AdamW(  # fused: one kernel for all parameters, CPU and GPU
        _param_groups(model, config.weight_decay),
        lr=config.peak_lr(),
        betas=(0.9, 0.95),
        fused=True,
    )
    scaler = torch.amp.GradScaler("cuda") if amp is torch.float16 else None
    run = Run(
        config,
        env,
        model,
        tokenizer,
        data,
        WindowSampler(data.train, config.block_size, config.seed, tokenizer.eos_token_id),
        optimizer,
        scaler,
        amp,
    )
    if resume:
        _restore_state(run, checkpoint / STATE_FILE)
    return run


# ----------------------------------------------------------------------------------------------
# Checkpoints


def _save_checkpoint(run: Run) -> None:
    """Model + tokenizer + trainer state in checkpoint/, swapped in whole."""
    rng_tensors, rng_state = capture_rng()
    state = {
        "step": run.step,
        "best_val": run.best_val,
        "evals_since_best": run.evals_since_best,
        "tokens_seen": run.tokens_seen,
        "optimizer": run.optimizer.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler else None,
        "rng_tensors": rng_tensors,
        "rng_state": json.dumps(rng_state),
    }
    save_model(run.model, run.tokenizer, run.run_dir / "checkpoint", run.meta(), state)


def _restore_state(run: Run, path: Path) -> None:
    """The trainer's state from a checkpoint; one that does not fit this run is one line."""
    state = load_trainer_state(path)  # tensors and plain data only, each field's type checked
    run.step = state["step"]
    run.best_val = state["best_val"]
    run.evals_since_best = state["evals_since_best"]
    run.tokens_seen = state["tokens_seen"]
    try:
        run.optimizer.load_state_dict(state["optimizer"])
        if run.scaler and state["scaler"]:
            run.scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng_tensors"], json.loads(state["rng_state"]))
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise FauxshopError(f"{path}: does not fit this run's optimiser or RNG ({e})") from e


# ----------------------------------------------------------------------------------------------
# Loop


def _autocast(run: Run):
    if run.amp is None:
        return contextlib.nullcontext()
    return torch.autocast(run.env.device.type, dtype=run.amp)


def _train_step(run: Run) -> float:
    """One optimizer step over grad_accum micro-batches; returns the mean train loss."""
    config, env = run.config, run.env
    lr = lr_at(run.step, config)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    total = 0.0
    for a in range(config.grad_accum):
        first = ((run.step * config.grad_accum + a) * env.world_size + env.rank) * run.micro
        ids = run.sampler.batch(first, run.micro).to(env.device)
        with _autocast(run):
            loss = run.model(input_ids=ids, labels=ids).loss / config.grad_accum
        (run.scaler.scale(loss) if run.scaler else loss).backward()
        total += loss.item()
    params = [p for p in run.model.parameters() if p.requires_grad]
    average_grads(params, env.world_size)
    if run.scaler:
        run.scaler.unscale_(run.optimizer)
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
    if run.scaler:
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    run.tokens_seen += config.batch * config.block_size
    return total


def _sample(run: Run) -> None:
    contexts = [c.strip() for c in run.config.sample_contexts.split(";") if c.strip()]
    if not contexts:
        return
    run.model.eval()
    with rng_preserved():
        settings = SamplingConfig(seed=run.config.seed, max_new_tokens=160)
        records = write(run.model, run.tokenizer, contexts, settings, run.config.format)
    run.model.train()
    for record in records:
        append_jsonl(run.run_dir / "samples.jsonl", {"step": run.step, **record})


def _eval_and_save(run: Run, train_loss: float, started: float, tokens_at_start: int) -> dict:
    val = val_loss(run.model, run.data.val, run.config.block_size, run.config.eval_windows, run.amp)
    elapsed = time.perf_counter() - started
    row = {
        "step": run.step,
        "train_loss": round(train_loss, 5),
        "val_loss": round(val, 5),
        "val_ppl": round(math.exp(min(val, 50.0)), 3),
        "lr": lr_at(max(run.step - 1, 0), run.config),
        "tokens": run.tokens_seen,
        "tokens_per_s": round((run.tokens_seen - tokens_at_start) / max(elapsed, 1e-9), 1),
        "seconds": round(elapsed, 2),
    }
    if val < run.best_val:
        run.best_val, run.evals_since_best = val, 0
        if run.env.is_main:
            save_model(run.model, run.tokenizer, run.run_dir / "best", run.meta())
    else:
        run.evals_since_best += 1
    if run.env.is_main:
        append_jsonl(run.run_dir / "log.jsonl", row)
    return row


def _out_of_time(run: Run, started: float) -> bool:
    """Whether --max-minutes is spent; rank 0's clock decides for every rank."""
    if run.config.max_minutes is None:
        return False
    spent = torch.tensor(float(time.perf_counter() - started >= run.config.max_minutes * 60))
    if run.env.world_size > 1:
        dist.broadcast(spent, src=0)
    return bool(spent.item())


def train_text(config: TextTrainConfig, resume: bool = False) -> dict[str, Any]:
    """Train (or resume) a text run in config.out; returns the last evaluation's row."""
    with process_group(config.device) as env:
        return _train(config, resume, env)


def _train(config: TextTrainConfig, resume: bool, env: Dist) -> dict[str, Any]:
    configure_torch(env.device)
    run = _build_run(config, resume, env)
    run.run_dir.mkdir(parents=True, exist_ok=True)
    if env.is_main:
        # Rows past the checkpoint (or, fresh, any rows at all) are the ones this run writes.
        start_run_folder(
            run.run_dir,
            dataclasses.asdict(config),
            indent=2,
            logs=("log.jsonl", "samples.jsonl"),
            counter="step",
            resumed_at=run.step,
        )
        _report_corpus(run)

    started, tokens_at_start = time.perf_counter(), run.tokens_seen
    row: dict[str, Any] = {}
    stopped_early = False
    losses: list[float] = []
    with progress_bar(config.max_steps, "train-text", "step", run.step, env.is_main) as bar:
        while run.step < config.max_steps:
            losses.append(_train_step(run))
            bar.update(1)
            rate = (run.tokens_seen - tokens_at_start) / max(time.perf_counter() - started, 1e-9)
            bar.set_postfix(loss=f"{losses[-1]:.3f}", tok_s=f"{rate:.0f}")
            last = run.step == config.max_steps or _out_of_time(run, started)
            if run.step % config.eval_every == 0 or last:
                row = _eval_and_save(run, sum(losses) / len(losses), started, tokens_at_start)
                losses.clear()
                stopped_early = 0 < config.patience <= run.evals_since_best
            if env.is_main and config.sample_every and (run.step % config.sample_every == 0):
                _sample(run)
            due = run.step % config.checkpoint_every == 0 or last or stopped_early
            if env.is_main and due:
                _save_checkpoint(run)
            if stopped_early or last:
                break
    if not row:  # resumed at max_steps: nothing ran, report the saved best
        row = {"step": run.step, "val_loss": run.best_val}
    return {**row, "best_val_loss": round(run.best_val, 5), "stopped_early": stopped_early}


def _report_corpus(run: Run) -> None:
    meta = run.data.meta
    train, val = meta["train"], meta["val"]
    print(
        f"corpus: {train['records']} train / {val['records']} val records, "
        f"{train['tokens']:,} / {val['tokens']:,} tokens (cache {meta['cache']})"
    )
    truncated = train["truncated"] + val["truncated"]
    if truncated:
        print(
            f"warning: {truncated} record(s) longer than the model's window of "
            f"{window(run.model)} tokens were cut to fit"
        )
