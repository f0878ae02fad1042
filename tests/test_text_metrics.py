from __future__ import annotations

import numpy as np
import pytest

from fauxshop.metrics.text import (
    TrainingIndex,
    attribute_coverage,
    contradictions,
    distinct_n,
    format_table,
    text_metrics,
    words,
)


def test_words_lowercases_keeps_inner_hyphens_and_apostrophes_and_drops_punctuation():
    text = "A Sleeveless, knee-length dress — women\u2019s 100% cotton! '90s V-neck (3.5 cm)"
    assert words(text) == [
        "a",
        "sleeveless",
        "knee-length",
        "dress",
        "women's",
        "100",
        "cotton",
        "90s",
        "v-neck",
        "3",
        "5",
        "cm",
    ]
    assert words(" -- ... ") == []


def test_distinct_n_counts_over_all_texts_together():
    assert distinct_n(["a a b"], 1) == pytest.approx(2 / 3)
    assert distinct_n(["a a b"], 2) == 1.0
    assert distinct_n(["a b", "A b."], 2) == 0.5
    # n-grams never span two texts: "b c" is not counted
    assert distinct_n(["a b", "c d"], 2) == 1.0
    assert distinct_n(["a", "b"], 2) == 0.0
    assert distinct_n([], 1) == 0.0
    with pytest.raises(ValueError):
        distinct_n(["a"], 0)


def test_attribute_coverage():
    assert attribute_coverage("sleeveless red dress", "A lovely red dress.") == 0.5
    assert attribute_coverage("grey knee-length dress", "Gray dress, knee length.") == 1.0
    assert attribute_coverage("sleeveless red dress", "A lovely dress.") == 0.0
    assert attribute_coverage("asymmetric dress", "A red dress.") is None


def test_contradictions():
    context = "sleeveless dress"
    assert contradictions(context, "A dress with long sleeves and a bow.") == {"sleeve": {"long"}}
    assert contradictions(context, "A sleeveless dress in red.") == {}
    # only attributes the context names can be contradicted
    assert contradictions("red dress", "Blue, with long sleeves.") == {"colour": {"blue"}}
    assert contradictions("asymmetric dress", "Blue, with long sleeves.") == {}


TRAINING = [
    "The red dress has long sleeves and a bow.",
    "A navy skirt with pockets",
    "red dress",
    "with pockets",
    "a a a a a b",
]


@pytest.mark.parametrize("n", [1, 2, 4, 6])
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("She loved THE red dress, has long sleeves today", 6),  # longer than n = 4
        ("dress has long sleeves and a bow a navy skirt", 7),  # runs stop at a text's end
        ("a navy skirt with", 4),
        ("red dress with pockets", 2),  # shorter than n = 4; no run crosses two texts
        ("one pockets", 1),
        ("a a a b", 4),
        ("a a a a a a a", 5),
        ("nothing shared here", 0),
        ("", 0),
    ],
)
def test_longest_shared_ngram_is_exact(n, query, expected):
    assert TrainingIndex(TRAINING, n=n).longest_shared_ngram(query) == expected


def test_training_index_edge_cases():
    assert TrainingIndex([]).longest_shared_ngram("a red dress") == 0
    assert len(TrainingIndex(TRAINING)) == len(TRAINING)
    with pytest.raises(ValueError):
        TrainingIndex(TRAINING, n=0)


def test_is_copy_ignores_case_and_whitespace_only():
    index = TrainingIndex(TRAINING)
    assert index.is_copy("  the RED dress\n has long  sleeves and a bow. ")
    assert not index.is_copy("The red dress has short sleeves and a bow.")
    assert not index.is_copy("The red dress has long sleeves and a bow")


def test_text_metrics_on_a_tiny_list():
    index = TrainingIndex(["a red dress with long sleeves", "a navy skirt with pockets"], n=2)
    samples = [
        ("sleeveless red dress", "A red dress with long sleeves"),  # copy; contradicts
        ("navy skirt", "a navy skirt with big pockets"),
        ("asymmetric dress", "an asymmetric dress"),  # no attribute in the context
    ]
    assert text_metrics(samples, index) == {
        "samples": 3,
        "distinct_1": pytest.approx(12 / 15),
        "distinct_2": 1.0,
        "attribute_coverage": pytest.approx(0.75),
        "coverage_samples": 2,
        "contradiction_rate": 0.5,
        "longest_shared_ngram_mean": pytest.approx(11 / 3),
        "longest_shared_ngram_max": 6,
        "copy_rate": pytest.approx(1 / 3),
    }
    empty = text_metrics([], index)
    assert empty["samples"] == 0 and empty["coverage_samples"] == 0
    assert empty["attribute_coverage"] is None and empty["copy_rate"] is None


def test_format_table_has_a_header_and_one_row_per_run():
    table = format_table(
        {
            "gpt2-small": {"samples": 3, "distinct_1": 0.8, "attribute_coverage": 0.75},
            "gpt2-tiny": {"samples": 3, "distinct_1": 2 / 3, "attribute_coverage": None},
        }
    )
    assert table.splitlines() == [
        "| run | samples | distinct_1 | attribute_coverage |",
        "|---|---:|---:|---:|",
        "| gpt2-small | 3 | 0.800 | 0.750 |",
        "| gpt2-tiny | 3 | 0.667 | - |",
    ]


def _brute_longest(query: list[str], training: list[list[str]]) -> int:
    """Longest common word run of `query` with the training texts joined by separators.

    Each text ends in its own negative separator, which no query word equals, so a run never
    crosses two texts. A plain DP over one long row per query word: slow but obviously right.
    """
    ids: dict[str, int] = {}
    flat: list[int] = []
    for doc, text in enumerate(training):
        flat.extend(ids.setdefault(w, len(ids)) for w in text)
        flat.append(-1 - doc)
    row = np.array(flat)
    run = np.zeros(len(row) + 1, dtype=np.int64)
    best = 0
    for word in query:
        run[1:] = (row == ids.get(word, -(10**9))) * (run[:-1] + 1)
        best = max(best, int(run.max()))
    return best


def test_training_index_matches_brute_force_on_synthetic_texts():
    rng = np.random.default_rng(0)
    vocab = np.array([f"w{i}" for i in range(400)])
    zipf = 1.0 / np.arange(1, len(vocab) + 1)
    zipf /= zipf.sum()
    boilerplate = ["perfect", "for", "a", "summer", "evening", "out", "with", "friends"]
    training: list[list[str]] = []
    for _ in range(3000):
        text = list(rng.choice(vocab, size=int(rng.integers(20, 60)), p=zipf))
        if rng.random() < 0.3:  # a phrase many texts share, as catalog copy does
            at = int(rng.integers(0, len(text)))
            text[at:at] = boilerplate[: int(rng.integers(3, len(boilerplate) + 1))]
        training.append(text)
    queries: list[list[str]] = []
    for q in range(100):
        query: list[str] = []
        while len(query) < 40:
            if q % 4 == 0:  # mostly unseen words: answers below n
                query += ["new"] * int(rng.integers(1, 4)) + [str(rng.choice(vocab[:50]))]
            elif rng.random() < 0.5:
                source = training[int(rng.integers(len(training)))]
                start = int(rng.integers(len(source)))
                query += source[start : start + int(rng.integers(1, 16))]
            else:
                query += list(rng.choice(vocab, size=int(rng.integers(1, 5)), p=zipf))
        queries.append(query)

    index = TrainingIndex((" ".join(text) for text in training), n=4)
    found = [index.longest_shared_ngram(" ".join(query)) for query in queries]
    assert min(found) < 4 < max(found)
    for q in rng.choice(len(queries), size=25, replace=False):
        assert found[q] == _brute_longest(queries[q], training), q
