"""The tagger's text branch: encoders, heads, fusion with the image branch, files."""

from __future__ import annotations

import pytest
import torch

from fauxshop.errors import FauxshopError
from fauxshop.tagger.data import MISSING
from fauxshop.tagger.text import (
    MiniLMEncoder,
    TfidfEncoder,
    fit_text_tagger,
    fuse,
    head_accuracy,
    load_text_tagger,
    minilm_source,
    save_text_tagger,
    text_tagger_path,
)

HEADS = {"colour": ("red", "blue"), "sleeve": ("sleeveless", "long")}
COLOURS = {"red": ("red", "crimson red"), "blue": ("blue", "navy blue")}


def corpus(n: int = 40) -> tuple[list[str], dict[str, torch.Tensor]]:
    """Short product texts naming a colour and (for even items) a sleeve; odd items lack the
    sleeve label, as a skirt would."""
    texts, colour, sleeve = [], [], []
    for i in range(n):
        c, s = i % 2, (i // 2) % 2
        words = COLOURS[HEADS["colour"][c]][i % 4 // 2]
        sleeves = f" with {HEADS['sleeve'][s]} sleeves" if i % 2 == 0 else " skirt"
        texts.append(f"A {words} summer piece{sleeves}. Item {i}.")
        colour.append(c)
        sleeve.append(s if i % 2 == 0 else MISSING)
    return texts, {"colour": torch.tensor(colour), "sleeve": torch.tensor(sleeve)}


def test_tfidf_terms_keep_hyphenated_words_and_add_bigrams():
    encoder = TfidfEncoder.fit(["a v-neck red dress", "a v-neck blue dress"], min_df=1)
    assert {"v-neck", "red dress", "a v-neck"} <= set(encoder.vocabulary)
    vectors = encoder.encode(["v-neck red dress", "nothing known here", ""])
    torch.testing.assert_close(vectors[0].norm(), torch.tensor(1.0))
    assert vectors[1].abs().sum() == 0 and vectors[2].abs().sum() == 0
    # a term in every document carries the least weight (smoothed idf)
    assert encoder.idf[encoder.index["dress"]] < encoder.idf[encoder.index["red"]]
    with pytest.raises(FauxshopError, match="no term occurs"):
        TfidfEncoder.fit(["one", "two"], min_df=2)


def test_text_heads_learn_the_words_and_ignore_missing_labels():
    texts, labels = corpus()
    tagger = fit_text_tagger(TfidfEncoder.fit(texts), texts, labels, HEADS)
    held_out = ["a crimson red top with long sleeves", "navy blue, sleeveless"]
    probs = tagger.predict(held_out)
    assert probs["colour"].argmax(dim=1).tolist() == [0, 1]
    assert probs["sleeve"].argmax(dim=1).tolist() == [1, 0]
    torch.testing.assert_close(probs["colour"].sum(dim=1), torch.ones(2))
    assert head_accuracy(tagger.predict(texts), labels) == {"colour": 1.0, "sleeve": 1.0}


def test_fusion_is_a_product_of_experts():
    image = {"colour": torch.tensor([[0.9, 0.1], [0.5, 0.5]]), "pattern": torch.tensor([[1.0]])}
    text = {"colour": torch.tensor([[0.5, 0.5], [0.2, 0.8]]), "sleeve": torch.tensor([[0.3, 0.7]])}
    fused = fuse(image, text)
    # an unsure side leaves the confident one's choice; sqrt(0.9*0.5) : sqrt(0.1*0.5) = 3 : 1
    torch.testing.assert_close(fused["colour"][0], torch.tensor([0.75, 0.25]))
    assert fused["colour"][1].argmax() == 1
    assert torch.equal(fused["pattern"], image["pattern"])
    assert torch.equal(fused["sleeve"], text["sleeve"])
    torch.testing.assert_close(fuse(image, text, weight=1.0)["colour"], image["colour"])


def test_saved_text_tagger_predicts_the_same_and_refuses_tampering(tmp_path):
    texts, labels = corpus()
    tagger = fit_text_tagger(TfidfEncoder.fit(texts), texts, labels, HEADS)
    path = save_text_tagger(tagger, tmp_path / "tagger.safetensors")
    assert path == text_tagger_path(tmp_path / "tagger.safetensors")
    assert path.name == "tagger-text.safetensors"
    back = load_text_tagger(tmp_path / "tagger.safetensors")
    for head, probs in tagger.predict(texts).items():
        torch.testing.assert_close(back.predict(texts)[head], probs)
    path.write_bytes(path.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(FauxshopError, match=r"tagger-text\.safetensors: corrupt weights"):
        load_text_tagger(tmp_path / "tagger.safetensors")
    assert load_text_tagger(tmp_path / "other.safetensors") is None


def test_minilm_loads_offline_from_its_package_and_embeds_by_meaning():
    assert minilm_source().endswith("model")  # the package's folder, not the hub id
    encoder = MiniLMEncoder()
    v = encoder.encode(["a long red evening dress", "a crimson maxi gown", "a steel bolt"])
    assert v.shape == (3, 384)
    torch.testing.assert_close(v.norm(dim=1), torch.ones(3))
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
