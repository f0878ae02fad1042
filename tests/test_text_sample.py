"""Writing descriptions: EOS stops, seeds repeat, left padding is invisible; eval and CLI verbs."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from conftest import write_jsonl

from fauxshop.cli import main
from fauxshop.errors import FauxshopError
from fauxshop.text.config import SamplingConfig
from fauxshop.text.corpus import prompt_text
from fauxshop.text.evaluate import evaluate_run
from fauxshop.text.gpt2_rows import GPT2Rows
from fauxshop.text.models import load_trained, window
from fauxshop.text.sample import _left_pad, write, write_rows


@pytest.fixture(scope="module")
def trained(tiny_text_run):
    return load_trained(tiny_text_run)


def test_same_seed_same_text_other_seed_other_text(trained):
    model, tokenizer, _ = trained
    contexts = ["sleeveless red midi dress", "striped top"]
    settings = SamplingConfig(n=2, seed=7, max_new_tokens=40)
    first = write(model, tokenizer, contexts, settings)
    assert write(model, tokenizer, contexts, settings) == first
    other = write(model, tokenizer, contexts, SamplingConfig(n=2, seed=8, max_new_tokens=40))
    assert [r["description"] for r in other] != [r["description"] for r in first]
    assert [r["context"] for r in first] == [contexts[0]] * 2 + [contexts[1]] * 2


def test_a_seed_gives_its_text_whatever_else_draws_from_the_global_rng(trained):
    """The studio writes for concurrent requests: another caller drawing from torch's global RNG
    between tokens must not change a seed's text, and writing must not reseed that RNG."""
    model, tokenizer, _ = trained
    settings = SamplingConfig(n=2, seed=7, max_new_tokens=30)
    state = torch.get_rng_state()
    alone = write(model, tokenizer, ["red dress"], settings)
    assert torch.equal(torch.get_rng_state(), state)

    def other_caller_draws(module, args) -> None:
        torch.rand(1)

    hook = model.register_forward_pre_hook(other_caller_draws)
    try:
        assert write(model, tokenizer, ["red dress"], settings) == alone
    finally:
        hook.remove()


def test_concurrent_writers_each_get_their_seeds_text(trained):
    model, tokenizer, _ = trained
    settings = [SamplingConfig(seed=seed, max_new_tokens=30) for seed in range(4)]
    serial = [write(model, tokenizer, ["red dress"], s) for s in settings]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(lambda s: write(model, tokenizer, ["red dress"], s), settings))
    assert concurrent == serial


def test_left_padding_does_not_change_a_greedy_text(trained):
    model, tokenizer, _ = trained
    greedy = SamplingConfig(temperature=0, max_new_tokens=30)
    alone = write(model, tokenizer, ["red dress"], greedy)
    longer = "long-sleeved black polka-dot maxi v-neck dress"
    padded = write(model, tokenizer, [longer, "red dress"], greedy)
    assert padded[1] == alone[0]


def test_write_rows_gives_each_text_alone_what_it_gets_among_others(trained):
    """Products: a text must not depend on what it is written beside, or how many."""
    model, tokenizer, _ = trained
    contexts = ["red dress", "long-sleeved black polka-dot maxi v-neck dress", "striped top",
                "red dress", "white skirt"] * 4  # fmt: skip
    seeds = list(range(20))
    for settings in (  # the nucleus within the likeliest 64, and wider; top-k; the penalty
        SamplingConfig(max_new_tokens=30),
        SamplingConfig(max_new_tokens=30, temperature=3.0, top_p=0.99),
        SamplingConfig(max_new_tokens=30, top_k=5, top_p=1.0, repetition_penalty=1.3),
    ):
        together = write_rows(model, tokenizer, contexts, seeds, settings, "context", 32)
        assert [r["context"] for r in together] == contexts
        assert len({r["description"] for r in together}) > 10  # each row its own seed's text
        alone = [
            write_rows(model, tokenizer, [contexts[i]], [seeds[i]], settings, "context", 32)[0]
            for i in (0, 7, 19)
        ]
        assert alone == [together[i] for i in (0, 7, 19)]
        some = write_rows(model, tokenizer, contexts[3:8], seeds[3:8], settings, "context", 32)
        assert some == together[3:8]
    with pytest.raises(FauxshopError, match="'red dress' is .* tokens; a prompt here holds 3"):
        write_rows(model, tokenizer, ["red dress"], [0], settings, "context", 4)


def test_gpt2_rows_computes_what_transformers_computes(trained):
    """The row-by-row GPT-2 is GPT-2: its logits are transformers' (to rounding), after the
    padded prompts and after each step, also once rows stopped writing: while a stopped row
    still rides in the cache (2 of 3 writing) and once the cache is cut (1 of 3)."""
    model, tokenizer, _ = trained
    prompts = [tokenizer(text)["input_ids"] for text in ("red dress", "a striped top with", "a")]
    ids, mask = _left_pad(prompts, tokenizer.pad_token_id, 12)
    rows = GPT2Rows(model, ids, (mask == 0).sum(1), 20)
    held = []
    for step in range(5):
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        with torch.no_grad():
            expected = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        assert torch.allclose(rows.logits, expected[:, -1], atol=1e-4)
        tokens = torch.tensor([5 + step] * len(ids))
        keep = {1: torch.tensor([0, 2]), 3: torch.tensor([1])}.get(step)
        if keep is not None:
            ids, mask, tokens = ids[keep], mask[keep], tokens[keep]
        rows.logits = rows.step(tokens, keep)
        held.append(rows.cache[0].shape[1])
        ids = torch.cat([ids, tokens[:, None]], 1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
    assert held == [3, 3, 3, 1, 1]  # the stopped row rode along until one row was left


def test_write_rows_writes_other_models_one_row_at_a_time(trained):
    """A model GPT2Rows does not run (here a tiny Llama) is written a row at a time."""
    from transformers import LlamaConfig, LlamaForCausalLM

    _, tokenizer, _ = trained
    torch.manual_seed(0)
    llama = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
    )).eval()  # fmt: skip
    settings = SamplingConfig(max_new_tokens=12, temperature=2.0)
    contexts, seeds = ["red dress", "striped top", "red dress"], [1, 2, 3]
    together = write_rows(llama, tokenizer, contexts, seeds, settings, "context", 16)
    assert [r["tokens"] for r in together] == [12, 12, 12]  # random weights: no EOS
    assert together[0]["description"] != together[2]["description"]
    alone = write_rows(llama, tokenizer, contexts[1:2], seeds[1:2], settings, "context", 16)
    assert alone == together[1:2]


def _make_eos_certain(model, tokenizer) -> None:
    """Pin the last hidden state to EOS's (enlarged, tied) embedding: EOS always wins."""
    with torch.no_grad():
        eos = model.get_input_embeddings().weight[tokenizer.eos_token_id]
        eos *= 100
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.copy_(eos / eos.norm())


def test_writing_stops_at_eos_and_reports_the_limit_otherwise(tiny_text_run):
    model, tokenizer, _ = load_trained(tiny_text_run)
    limited = write(model, tokenizer, ["red dress"], SamplingConfig(n=3, max_new_tokens=5))
    assert all(r["tokens"] <= 5 for r in limited)
    _make_eos_certain(model, tokenizer)
    stopped = write(model, tokenizer, ["red dress", None], SamplingConfig(max_new_tokens=50))
    assert [(r["tokens"], r["finished"], r["description"]) for r in stopped] == [
        (0, True, ""),
        (0, True, ""),
    ]


def test_a_context_longer_than_the_window_is_refused(trained):
    model, tokenizer, _ = trained
    with pytest.raises(FauxshopError, match="the model's window is 64"):
        write(model, tokenizer, ["red " * 100], SamplingConfig())


def test_max_new_tokens_is_cut_to_the_window_with_a_warning(trained, capsys):
    model, tokenizer, _ = trained
    records = write(model, tokenizer, ["red dress"], SamplingConfig(max_new_tokens=500))
    assert "--max-new-tokens 500 cut to" in capsys.readouterr().err
    assert records[0]["tokens"] < 64


def test_max_new_tokens_unset_fills_the_window_without_a_warning(tiny_text_run, capsys):
    model, tokenizer, _ = load_trained(tiny_text_run)
    _make_eos_certain(model, tokenizer)
    with torch.no_grad():  # flip the pinned state: EOS now scores lowest, texts run to the limit
        model.transformer.ln_f.bias.neg_()
    context = "red dress"
    prompt = 1 + len(tokenizer(prompt_text(context, "context"), add_special_tokens=False).input_ids)
    records = write(model, tokenizer, [context], SamplingConfig(n=2))
    assert [(r["tokens"], r["finished"]) for r in records] == [(window(model) - prompt, False)] * 2
    assert "warning" not in capsys.readouterr().err
    write(model, tokenizer, [context], SamplingConfig(max_new_tokens=window(model) - prompt))
    assert "warning" not in capsys.readouterr().err


def test_the_write_bar_counts_every_text_once(trained, capsys, monkeypatch):
    model, tokenizer, _ = trained
    monkeypatch.delenv("FAUXSHOP_QUIET")
    settings = SamplingConfig(n=3, batch_size=2, max_new_tokens=8)
    records = write(model, tokenizer, ["red dress"], settings, show_progress=True)
    err = capsys.readouterr().err
    assert len(records) == 3
    assert "write: 100%" in err and "3/3" in err and "4/3" not in err
    assert "token 8 of at most 8" in err
    write(model, tokenizer, ["red dress"], settings)
    assert capsys.readouterr().err == ""


def test_eval_reports_perplexity_and_text_metrics(tiny_text_run):
    result = evaluate_run(tiny_text_run, contexts=4, sampling=SamplingConfig(max_new_tokens=40))
    assert result["samples"] == 4
    assert result["val_ppl"] == pytest.approx(2.718281828 ** result["val_loss"], rel=1e-3)
    assert 0.0 <= result["attribute_coverage"] <= 1.0
    assert 0.0 <= result["contradiction_rate"] <= 1.0
    assert result["copy_rate"] == 0.0
    saved = json.loads((tiny_text_run / "eval.json").read_text())
    assert saved["val_loss"] == result["val_loss"]


def test_write_verb_prints_jsonl_records(tiny_text_run, capsys):
    argv = ["write", str(tiny_text_run), "--context", "red midi dress", "--n", "2"]
    assert main([*argv, "--jsonl", "--max-new-tokens", "20"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 2
    assert {r["context"] for r in records} == {"red midi dress"}
    assert all(set(r) == {"context", "description", "tokens", "finished"} for r in records)


def test_eval_text_verb_prints_one_row_per_run(tiny_text_run, capsys):
    argv = ["eval-text", str(tiny_text_run), "--contexts", "2", "--max-new-tokens", "20"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "val_ppl" in lines[0] and "attribute_coverage" in lines[0]
    assert len(lines) == 3 and str(tiny_text_run) in lines[2]


def test_train_text_verb_finds_the_workspace_corpus(text_corpus, tmp_path, capsys):
    archives = tmp_path / "work" / "archives"
    archives.mkdir(parents=True)
    rows = [json.loads(line) for line in text_corpus.read_text().splitlines()]
    write_jsonl(archives / "demo-64x32.corpus.jsonl", rows[:40])
    argv = ["train-text", "--workdir", str(tmp_path / "work"), "--out", str(tmp_path / "run")]
    argv += ["--from-scratch", "tiny", "--bpe-vocab", "300", "--block-size", "32", "--batch", "4"]
    assert main([*argv, "--max-steps", "2", "--eval-every", "2", "--sample-every", "0"]) == 0
    out = capsys.readouterr().out
    assert "demo-64x32.corpus.jsonl" in out
    assert json.loads(out[out.index("{") :])["step"] == 2
    assert main(["train-text", "--resume", str(tmp_path / "run"), "--max-steps", "3"]) == 0
    assert (tmp_path / "run" / "best" / "config.json").is_file()


def test_train_text_verb_without_a_corpus_says_what_to_do(tmp_path, capsys):
    argv = ["train-text", "--workdir", str(tmp_path), "--from-scratch", "tiny"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    assert "no corpus; run `fauxshop pack` first or pass --corpus" in capsys.readouterr().err


def test_write_verb_notes_context_words_outside_the_tags(tiny_text_run, capsys):
    argv = ["write", str(tiny_text_run), "--context", "sleeveless red asymmetric dress"]
    assert main([*argv, "--context", "plaid ruffled top", "--max-new-tokens", "5"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and notes[0].endswith("so it may ignore: asymmetric, ruffled")


def test_write_verb_defaults_to_the_demo_writer(capsys):
    assert main(["write", "--context", "red midi dress", "--jsonl", "--max-new-tokens", "8"]) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["context"] == "red midi dress" and 0 < record["tokens"] <= 8


def test_write_verb_on_a_folder_without_a_model(tmp_path, capsys):
    assert main(["write", str(tmp_path)]) == 2
    assert "no text model here" in capsys.readouterr().err


def test_demo_catalog_can_write_the_corpus_alone(tmp_path, capsys):
    assert main(["demo-catalog", str(tmp_path), "--n", "30", "--corpus-only"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "corpus.jsonl").read_text().splitlines()]
    assert len(rows) == 30 and not (tmp_path / "images").exists()
    assert set(rows[0]) == {"sku", "title", "category", "attributes", "description", "split"}
