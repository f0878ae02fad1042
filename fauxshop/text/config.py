"""The text half's settings: the trainer's (`train-text`, saved in each run) and the
sampler's (`write`, `eval-text`, and the products' writer stage).

Light on purpose (no torch), so the CLI builds `--help` without importing the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class TextTrainConfig:
    out: str = field(metadata=_help("run folder (config, logs, best/, checkpoint/)"))
    corpus: str = field(metadata=_help("corpus JSONL as `fauxshop pack` writes it"))
    base: str = field(
        default="",
        metadata=_help("model to fine-tune: hub id (gpt2), local folder, .gguf file or smollm2"),
    )
    from_scratch: str = field(default="", metadata=_help("train a fresh GPT-2: tiny or small"))
    tokenizer: str = field(
        default="bpe", metadata=_help("with --from-scratch: bpe (learned here) or gpt2")
    )
    bpe_vocab: int = field(default=4096, metadata=_help("vocabulary size of a learned BPE"))
    format: str = field(
        default="context", metadata=_help("context (tags then description) or plain")
    )
    context_dropout: float = field(
        default=0.3, metadata=_help("chance of leaving each tag out of a record's context")
    )
    block_size: int = field(default=256, metadata=_help("tokens per training window"))
    batch: int = field(default=16, metadata=_help("windows per optimizer step, all ranks"))
    grad_accum: int = field(default=1, metadata=_help("micro-batches per optimizer step"))
    max_steps: int = field(default=2000, metadata=_help("optimizer steps in all"))
    max_minutes: float | None = field(
        default=None,
        metadata=_help("also stop (evaluated, checkpointed) after this much wall-clock time"),
    )
    lr: float | None = field(
        default=None, metadata=_help("peak learning rate (none: 6e-4 from scratch, 1e-4 base)")
    )
    min_lr_ratio: float = field(default=0.1, metadata=_help("cosine floor as a share of lr"))
    warmup_steps: int = field(default=50, metadata=_help("linear warmup steps"))
    weight_decay: float = field(default=0.1, metadata=_help("AdamW decay (not biases/norms)"))
    grad_clip: float = field(default=1.0, metadata=_help("max gradient norm (0 = off)"))
    dropout: float = field(default=0.1, metadata=_help("dropout of a from-scratch model"))
    amp: str = field(
        default="auto", metadata=_help("mixed precision: auto (bf16 on GPU), off, bf16, fp16")
    )
    eval_every: int = field(default=100, metadata=_help("steps between val evaluations"))
    eval_windows: int = field(default=64, metadata=_help("val windows per evaluation"))
    sample_every: int = field(default=500, metadata=_help("steps between samples (0 = off)"))
    sample_contexts: str = field(
        default="sleeveless red midi dress; long-sleeved black maxi dress; striped top",
        metadata=_help("contexts sampled during training, separated by ;"),
    )
    checkpoint_every: int = field(default=500, metadata=_help("steps between checkpoints"))
    patience: int = field(
        default=0, metadata=_help("stop after this many evals without a better val (0 = off)")
    )
    seed: int = field(default=0, metadata=_help("same seed, same run (same device)"))
    device: str = field(default="auto", metadata=_help("auto, cpu, cuda or cuda:N"))

    def peak_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        return 6e-4 if self.from_scratch else 1e-4


@dataclass(frozen=True)
class SamplingConfig:
    """How `write` samples; every field a `write`/`eval-text` flag."""

    n: int = field(default=1, metadata={"help": "descriptions per context"})
    temperature: float = field(default=0.8, metadata={"help": "0 = greedy"})
    top_k: int = field(default=0, metadata={"help": "keep the k likeliest tokens (0 = all)"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling mass"})
    repetition_penalty: float = field(default=1.0, metadata={"help": "1.0 = none"})
    max_new_tokens: int | None = field(
        default=None,
        metadata={"help": "stop after this many tokens (none: all the model's window leaves)"},
    )
    seed: int = field(default=0, metadata={"help": "same seed, same text (same device)"})
    batch_size: int = field(default=16, metadata={"help": "sequences generated together"})
