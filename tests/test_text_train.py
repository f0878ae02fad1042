"""Text training: loss goes down, resume is exact, bases load, bad set-ups fail clearly."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_TEXT

from fauxshop.errors import FauxshopError
from fauxshop.text import train as text_train
from fauxshop.text.config import TextTrainConfig
from fauxshop.text.models import (
    META_FILE,
    from_scratch,
    load_base,
    load_trained,
    save_model,
    shipped_smollm2,
)
from fauxshop.text.tokenizer import prepare, train_bpe
from fauxshop.text.train import lr_at, train_text

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, corpus: Path, **changes) -> TextTrainConfig:
    settings = {**TINY_TEXT, "max_steps": 6, "eval_every": 3, "checkpoint_every": 3, **changes}
    return TextTrainConfig(out=str(tmp_path / "run"), corpus=str(corpus), **settings)


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_schedule_warms_up_then_decays_to_the_floor():
    config = TextTrainConfig(out="o", corpus="c", base="b", lr=1.0, warmup_steps=10, max_steps=110)
    assert lr_at(0, config) == pytest.approx(0.1)
    assert lr_at(9, config) == pytest.approx(1.0)
    assert lr_at(60, config) == pytest.approx(0.1 + 0.45)  # half-way down the cosine
    assert lr_at(110, config) == pytest.approx(0.1)
    assert lr_at(500, config) == pytest.approx(0.1)


def test_a_short_run_lowers_val_loss(tiny_text_run):
    log = _log(tiny_text_run)
    assert [row["step"] for row in log] == [20, 40, 60]
    assert log[-1]["val_loss"] < log[0]["val_loss"] - 0.3
    assert log[-1]["val_loss"] < math.log(400) - 1.5  # far below a uniform guess over the vocab
    assert log[-1]["val_ppl"] == pytest.approx(math.exp(log[-1]["val_loss"]), rel=1e-3)
    assert log[-1]["tokens"] == 60 * 8 * 64
    meta = json.loads((tiny_text_run / "best" / META_FILE).read_text())
    assert meta["format"] == "context" and meta["block_size"] == 64


def test_saved_model_loads_with_plain_transformers(tiny_text_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_text_run / "best")
    model = AutoModelForCausalLM.from_pretrained(tiny_text_run / "best").eval()
    ours, our_tokenizer, _ = load_trained(tiny_text_run)
    ids = tokenizer("Context: red dress\nDescription:", return_tensors="pt").input_ids
    assert ids[0].tolist() == our_tokenizer("Context: red dress\nDescription:").input_ids
    with torch.no_grad():
        assert torch.equal(model(ids).logits, ours(ids).logits)
    assert (tiny_text_run / "best" / "model.safetensors").is_file()


def test_resume_continues_exactly(text_corpus, tmp_path, monkeypatch):
    straight = _config(tmp_path / "a", text_corpus)
    train_text(straight)

    interrupted = _config(tmp_path / "b", text_corpus)
    real_step = text_train._train_step

    def crash_after_the_checkpoint(run):
        if run.step == 4:  # checkpoint at 3, one more step done, then the machine goes down
            raise KeyboardInterrupt
        return real_step(run)

    monkeypatch.setattr(text_train, "_train_step", crash_after_the_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train_text(interrupted)
    monkeypatch.setattr(text_train, "_train_step", real_step)
    train_text(interrupted, resume=True)

    a, _, _ = load_trained(Path(straight.out) / "checkpoint")
    b, _, _ = load_trained(Path(interrupted.out) / "checkpoint")
    assert a.state_dict()
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    strip = ("seconds", "tokens_per_s")
    rows_a = [{k: v for k, v in r.items() if k not in strip} for r in _log(Path(straight.out))]
    rows_b = [{k: v for k, v in r.items() if k not in strip} for r in _log(Path(interrupted.out))]
    assert rows_a == rows_b


def test_resume_refuses_changes_that_break_exactness(text_corpus, tmp_path):
    config = _config(tmp_path, text_corpus, max_steps=3)
    train_text(config)
    with pytest.raises(FauxshopError, match="cannot resume with changed lr"):
        train_text(dataclasses.replace(config, lr=1e-4, max_steps=6), resume=True)
    longer = train_text(dataclasses.replace(config, max_steps=6), resume=True)
    assert longer["step"] == 6
    with pytest.raises(FauxshopError, match="already holds a run"):
        train_text(config)
    with pytest.raises(FauxshopError, match="nothing to resume"):
        train_text(dataclasses.replace(config, out=str(tmp_path / "new")), resume=True)


def test_resume_from_a_damaged_or_foreign_trainer_state_is_one_line(text_corpus, tmp_path):
    config = _config(tmp_path, text_corpus, max_steps=3)
    train_text(config)
    state_path = Path(config.out) / "checkpoint" / text_train.STATE_FILE
    state = torch.load(state_path, weights_only=True)
    state["optimizer"] = {"state": {}, "param_groups": []}  # another model's optimiser
    torch.save(state, state_path)
    longer = dataclasses.replace(config, max_steps=6)
    with pytest.raises(FauxshopError, match=r"trainer_state\.pt: does not fit this run's"):
        train_text(longer, resume=True)
    state_path.write_bytes(b"not a checkpoint")
    with pytest.raises(FauxshopError, match=r"trainer_state\.pt: "):
        train_text(longer, resume=True)


def test_early_stopping_ends_a_run_that_stopped_improving(text_corpus, tmp_path):
    config = _config(tmp_path, text_corpus, lr=0.0, warmup_steps=1, eval_every=1, patience=2)
    config = dataclasses.replace(config, max_steps=50)
    result = train_text(config)  # lr 0: val never improves after the first evaluation
    assert result["stopped_early"]
    assert result["step"] == 3
    assert (Path(config.out) / "checkpoint" / text_train.STATE_FILE).is_file()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"from_scratch": ""}, "exactly one of --base NAME or --from-scratch"),
        ({"base": "gpt2"}, "exactly one of --base NAME or --from-scratch"),
        ({"from_scratch": "huge"}, "--from-scratch 'huge': choose one of tiny, small"),
        ({"tokenizer": "words"}, "--tokenizer 'words'"),
        ({"batch": 6, "grad_accum": 4}, "--batch 6 must divide"),
        ({"block_size": 100000}, "fewer than one window of 100000"),
        ({"amp": "fp16"}, "--amp fp16 needs a GPU"),
        ({"amp": "fp8"}, "--amp 'fp8': choose from auto, off, bf16, fp16"),
    ],
)
def test_bad_settings_fail_with_one_clear_line(text_corpus, tmp_path, changes, message):
    with pytest.raises(FauxshopError, match=message.replace("(", r"\(").replace("+", r"\+")):
        train_text(_config(tmp_path, text_corpus, **changes))


def test_fine_tunes_a_local_base_and_keeps_its_tokenizer(text_corpus, tmp_path):
    tokenizer = prepare(train_bpe(["a red dress", "a blue top"] * 50, 300))
    base = from_scratch("tiny", tokenizer, window=32, dropout=0.0)
    save_model(base, tokenizer, tmp_path / "base", {"format": "plain"})
    with pytest.raises(FauxshopError, match="--block-size 64 exceeds the model's window of 32"):
        train_text(_config(tmp_path, text_corpus, from_scratch="", base=str(tmp_path / "base")))
    config = _config(
        tmp_path / "ok", text_corpus, from_scratch="", base=str(tmp_path / "base"), block_size=32
    )
    result = train_text(dataclasses.replace(config, max_steps=2, eval_every=2))
    assert result["step"] == 2
    _, tuned_tokenizer, meta = load_trained(config.out)
    assert tuned_tokenizer.get_vocab() == tokenizer.get_vocab()
    assert meta["base"] == str(tmp_path / "base")


@pytest.mark.parametrize("name", ["/no/such/model-folder", "missing.gguf"])
def test_a_missing_base_is_one_clear_error(name):
    with pytest.raises(FauxshopError, match=f"cannot load base model '{name}'"):
        load_base(name)


def test_tokenizer_larger_than_the_model_is_refused(tmp_path):
    small = prepare(train_bpe(["a red dress"] * 20, 300))
    big = prepare(train_bpe(["a red dress, a blue top, a green skirt"] * 50, 400))
    model = from_scratch("tiny", small, window=32, dropout=0.0)
    save_model(model, big, tmp_path / "mixed", {})
    with pytest.raises(FauxshopError, match=r"tokenizer has \d+ tokens but the model embeds only"):
        load_trained(tmp_path / "mixed")


def test_shipped_smollm2_loads_offline_and_saves_as_a_plain_model(tmp_path):
    from transformers import AutoModelForCausalLM

    assert shipped_smollm2().suffix == ".gguf"
    model, tokenizer = load_base("smollm2")
    assert type(model).__name__ == "LlamaForCausalLM"
    assert tokenizer.eos_token_id is not None and tokenizer.pad_token_id is not None
    save_model(model, tokenizer, tmp_path / "smol", {"format": "context"})
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "smol").eval()  # no GGUF needed
    ids = tokenizer("A sleeveless red dress", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(model.eval()(ids).logits, reloaded(ids).logits, atol=1e-5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_under_torchrun_match_one(text_corpus, tmp_path):
    """Rank r takes the windows one process would have put in the same micro-batch."""
    single = _config(tmp_path / "one", text_corpus, max_steps=2, eval_every=2, dropout=0.0)
    train_text(single)
    double = dataclasses.replace(single, out=str(tmp_path / "two" / "run"))
    script = tmp_path / "run_text.py"
    script.write_text(
        "import json, sys\nfrom fauxshop.text.config import TextTrainConfig\n"
        "from fauxshop.text.train import train_text\n"
        "train_text(TextTrainConfig(**json.loads(sys.argv[1])))\n"
    )
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["--master_port", str(_free_port()), str(script), json.dumps(dataclasses.asdict(double))]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FAUXSHOP_QUIET": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    a, _, _ = load_trained(Path(single.out) / "checkpoint")
    b, _, _ = load_trained(Path(double.out) / "checkpoint")
    assert a.state_dict()
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-5), name


def test_a_time_budget_ends_the_run_evaluated_and_checkpointed(text_corpus, tmp_path):
    config = _config(tmp_path, text_corpus, max_steps=1000, max_minutes=0.0)
    result = train_text(config)
    assert result["step"] == 1 and "val_loss" in result
    assert (Path(config.out) / "checkpoint" / text_train.STATE_FILE).is_file()
    assert (Path(config.out) / "best" / "config.json").is_file()
