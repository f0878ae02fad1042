"""The text corpus: records, contexts, one EOS id per record, truncation, cache, windows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_jsonl

from fauxshop.catalog.taxonomy import ATTRIBUTE_VALUES, find_mentions
from fauxshop.errors import FauxshopError
from fauxshop.text.corpus import (
    HOLDOUT_EVERY,
    TAG_WORDS,
    WindowSampler,
    context_from_tags,
    context_note,
    eval_windows,
    read_corpus,
    record_text,
    split_record,
    token_corpus,
)
from fauxshop.text.tokenizer import EOS, fingerprint, gpt2_tokenizer, prepare, train_bpe


@pytest.fixture(scope="module")
def gpt2():
    return prepare(gpt2_tokenizer())


@pytest.fixture(scope="module")
def corpus(text_corpus):
    return read_corpus(text_corpus, context_dropout=0.3, seed=0)


def test_gpt2_tokenizer_is_the_real_one(gpt2):
    assert len(gpt2) == 50257
    assert gpt2.eos_token_id == 50256
    assert gpt2.decode(gpt2("A sleeveless red dress").input_ids) == "A sleeveless red dress"


def test_every_tag_value_reads_back_as_itself():
    assert TAG_WORDS
    for attribute, words in TAG_WORDS.items():
        assert words and set(words) == set(ATTRIBUTE_VALUES[attribute])
        for value in words:
            context = context_from_tags("dress", {attribute: value})
            assert find_mentions(context) == {attribute: {value}}, context
    full = {"sleeve": "short", "colour": "navy", "pattern": "dots", "length": "knee"}
    assert context_from_tags("dress", full) == "short-sleeved navy polka-dot knee-length dress"


def test_context_note_names_only_what_the_writer_never_saw(text_corpus):
    every_context = [r.context for r in read_corpus(text_corpus).train]
    assert every_context and context_note(every_context, "context") is None
    note = context_note(["Asymmetric red dress", None, "red one-shoulder dress"], "context")
    assert note.endswith("so it may ignore: asymmetric, one-shoulder")
    assert "ignores them" in context_note(["red dress"], "plain")
    assert context_note([None], "plain") is None


def test_contexts_drop_tags_reproducibly(text_corpus):
    full = read_corpus(text_corpus, context_dropout=0.0)
    a = read_corpus(text_corpus, context_dropout=0.5, seed=1)
    b = read_corpus(text_corpus, context_dropout=0.5, seed=1)
    assert [r.context for r in a.train] == [r.context for r in b.train]
    shorter = sum(len(x.context) < len(y.context) for x, y in zip(a.train, full.train, strict=True))
    assert shorter > len(full.train) // 2
    for short, whole in zip(a.train, full.train, strict=True):  # a subset, never a new tag
        for attribute, values in find_mentions(short.context).items():
            assert values <= find_mentions(whole.context)[attribute]


def test_record_format_round_trips():
    text = record_text("red midi dress", "A red midi dress.\nDetails: lined", "context")
    assert text == "Context: red midi dress\nDescription: A red midi dress.\nDetails: lined"
    assert split_record(text, "context") == ("red midi dress", "A red midi dress.\nDetails: lined")
    assert record_text("ignored", "Just copy.", "plain") == "Just copy."


def test_exactly_one_eos_id_per_record(corpus, gpt2, tmp_path):
    data = token_corpus(corpus, gpt2, "context", 512, tmp_path)
    for split, records in (("train", corpus.train), ("val", corpus.val)):
        tokens = np.asarray(getattr(data, split))
        assert int((tokens == gpt2.eos_token_id).sum()) == len(records)
        assert tokens[-1] == gpt2.eos_token_id
        pieces = np.split(tokens, np.flatnonzero(tokens == gpt2.eos_token_id)[:-1] + 1)
        for piece, record in zip(pieces, records, strict=True):
            expected = record_text(record.context, record.description, "context")
            assert gpt2.decode(piece[:-1].tolist()) == expected
    assert data.meta["train"]["truncated"] == 0


def test_a_literal_end_of_text_string_cannot_end_a_record(gpt2, tmp_path):
    path = tmp_path / "c.jsonl"
    rows = [{"sku": str(i), "description": f"Red dress {EOS} with pockets."} for i in range(3)]
    write_jsonl(path, rows + [{"sku": "v", "description": "Blue top.", "split": "test"}])
    data = token_corpus(read_corpus(path), gpt2, "plain", 256, tmp_path / "cache")
    assert int((np.asarray(data.train) == gpt2.eos_token_id).sum()) == 3
    text = gpt2.decode(np.asarray(data.train).tolist(), skip_special_tokens=True)
    assert text.count(EOS) == 3  # the literal strings survive as ordinary text


def test_long_records_are_cut_and_counted(corpus, gpt2, tmp_path):
    data = token_corpus(corpus, gpt2, "context", 24, tmp_path)
    assert data.meta["train"]["truncated"] == len(corpus.train)  # every record exceeds 24
    tokens = np.asarray(data.train)
    assert len(tokens) == 24 * len(corpus.train)
    assert (tokens[23::24] == gpt2.eos_token_id).all()


def test_cache_is_reused_and_keyed_by_tokenizer(corpus, gpt2, tmp_path):
    first = token_corpus(corpus, gpt2, "context", 256, tmp_path)
    stamp = (tmp_path / first.meta["cache"].split("/")[-1] / "train.bin").stat().st_mtime_ns
    again = token_corpus(corpus, gpt2, "context", 256, tmp_path)
    assert again.meta["cache"] == first.meta["cache"]
    assert (tmp_path / again.meta["cache"].split("/")[-1] / "train.bin").stat().st_mtime_ns == stamp
    bpe = prepare(train_bpe((r.description for r in corpus.train), 400))
    assert fingerprint(bpe) != fingerprint(gpt2)
    other = token_corpus(corpus, bpe, "context", 256, tmp_path)
    assert other.meta["cache"] != first.meta["cache"]
    assert np.asarray(other.train).dtype == np.uint16
    assert int((np.asarray(other.train) == bpe.eos_token_id).sum()) == len(corpus.train)


def test_bad_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "c.jsonl"
    good = [{"sku": str(i), "description": f"Dress {i}.", "split": "train"} for i in range(3)]
    lines = [json.dumps(r) for r in good] + ["{not json", json.dumps({"sku": "x"}), ""]
    lines.append(json.dumps({"sku": "y", "description": "   "}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus = read_corpus(path)
    assert corpus.skipped == {"malformed_json": 1, "no_description": 2}
    assert len(corpus.train) + len(corpus.val) == 3


@pytest.mark.parametrize("rows", [[], [{"sku": "a", "description": "One dress."}]])
def test_too_small_a_corpus_is_refused(tmp_path, rows):
    path = tmp_path / "c.jsonl"
    write_jsonl(path, rows)
    with pytest.raises(FauxshopError, match=r"c\.jsonl: .* usable records"):
        read_corpus(path)


def test_an_unreadable_corpus_names_the_file(tmp_path):
    with pytest.raises(FauxshopError, match="missing.jsonl: cannot read"):
        read_corpus(tmp_path / "missing.jsonl")


def test_without_a_val_split_every_twentieth_record_is_held_out(tmp_path):
    path = tmp_path / "c.jsonl"
    write_jsonl(path, [{"sku": str(i), "description": f"Dress {i}."} for i in range(45)])
    corpus = read_corpus(path)
    assert corpus.held_out
    assert [r.sku for r in corpus.val] == [str(i) for i in range(0, 45, HOLDOUT_EVERY)]
    assert len(corpus.train) == 45 - len(corpus.val)


def test_windows_start_at_records_in_an_order_set_by_index_alone():
    eos = 9999
    records = [np.arange(1, 1 + n) for n in (30, 50, 20, 70, 40, 60)]
    tokens = np.concatenate([np.append(r, eos) for r in records]).astype(np.uint16)
    a, b = WindowSampler(tokens, 64, seed=1, eos_id=eos), WindowSampler(tokens, 64, 1, eos)
    # every record that has 64 tokens after its start opens a window; the tail shares the last
    assert a.starts.tolist() == [0, 31, 82, 103, 174, len(tokens) - 64]
    epoch = sorted(int(a.window(k)[0]) for k in range(a.per_epoch))
    assert epoch == sorted([1, 1, 1, 1, 1, int(tokens[-64])])  # each window opens a record
    assert all(len(a.window(k)) == 64 for k in range(40))
    assert np.array_equal(b.batch(17, 4).numpy(), a.batch(17, 4).numpy())  # any order
    orders = {tuple(WindowSampler(tokens, 64, s, eos)._epoch_order(0)) for s in range(5)}
    assert len(orders) > 1  # the seed shuffles
    with pytest.raises(FauxshopError, match="fewer than one window"):
        WindowSampler(tokens[:10], 64, seed=0, eos_id=eos)


def test_eval_windows_cover_the_start_without_overlap():
    tokens = np.arange(100, dtype=np.uint16)
    windows = eval_windows(tokens, 30, limit=10)
    assert [int(w[0]) for w in windows] == [0, 30, 60]
    assert len(eval_windows(tokens[:20], 30, limit=10)[0]) == 20  # shorter than a window
