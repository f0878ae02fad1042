"""Demo copy: deterministic, varied enough to learn from, and truthful to its attributes."""

from __future__ import annotations

import random
import re
import statistics

import pytest

from fauxshop.catalog.demo_copy import write_copy
from fauxshop.catalog.taxonomy import (
    ATTRIBUTE_PHRASES,
    ATTRIBUTE_VALUES,
    CATEGORIES,
    CATEGORY_ATTRIBUTES,
    CATEGORY_SHARES,
    find_mentions,
)


def random_products(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    products = []
    for i in range(n):
        category = rng.choices(CATEGORIES, weights=list(CATEGORY_SHARES.values()))[0]
        product = {"sku": f"FX-{i:06d}", "category": category}
        for attribute in CATEGORY_ATTRIBUTES[category]:
            product[attribute] = rng.choice(ATTRIBUTE_VALUES[attribute])
        products.append(product)
    return products


def copies(n: int, seed: int = 0) -> list[tuple[dict, str, str]]:
    return [
        (p, *write_copy(p, random.Random(seed * 100_003 + i)))
        for i, p in enumerate(random_products(n, seed))
    ]


def opening_sentence(description: str) -> str:
    return re.split(r"(?<=[.?!])\s", description, maxsplit=1)[0]


def test_phrases_cover_every_taxonomy_value() -> None:
    assert ATTRIBUTE_VALUES and set(ATTRIBUTE_PHRASES) == set(ATTRIBUTE_VALUES)
    for attribute, values in ATTRIBUTE_VALUES.items():
        assert values and set(ATTRIBUTE_PHRASES[attribute]) == set(values)
        for value in values:
            assert ATTRIBUTE_PHRASES[attribute][value], (attribute, value)


def test_every_phrase_recognises_its_own_value() -> None:
    checked = 0
    for attribute, values in ATTRIBUTE_PHRASES.items():
        for value, phrases in values.items():
            for phrase in phrases:
                assert find_mentions(f"A {phrase} piece.") == {attribute: {value}}, phrase
                checked += 1
    assert checked >= sum(len(values) for values in ATTRIBUTE_VALUES.values()) > 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A long-sleeved navy dress", {"sleeve": {"long"}, "colour": {"navy"}}),
        ("Short sleeves and a mini hem", {"sleeve": {"short"}, "length": {"mini"}}),
        ("A knee-length skirt", {"length": {"knee"}}),
        ("in Navy Blue polka dots", {"colour": {"navy"}, "pattern": {"dots"}}),
        (
            "SLEEVELESS V-NECK MAXI",
            {"sleeve": {"sleeveless"}, "neckline": {"v-neck"}, "length": {"maxi"}},
        ),
        ("a square\nneckline and long\tsleeves", {"neckline": {"square"}, "sleeve": {"long"}}),
        ("red-and-white stripes", {"colour": {"red", "white"}, "pattern": {"stripes"}}),
        ("a short dress with a long hem", {}),
        ("tailored, credited, maximum, minimal, kneel, blues", {}),
        ("a crew of friends on a boat", {}),
    ],
)
def test_find_mentions_on_known_strings(text: str, expected: dict[str, set[str]]) -> None:
    assert find_mentions(text) == expected


def test_same_rng_seed_gives_same_copy() -> None:
    product = random_products(1)[0]
    assert write_copy(product, random.Random(7)) == write_copy(product, random.Random(7))
    first = [write_copy(p, random.Random(i)) for i, p in enumerate(random_products(50))]
    again = [write_copy(p, random.Random(i)) for i, p in enumerate(random_products(50))]
    assert first == again


def test_copy_is_varied() -> None:
    results = copies(500)
    descriptions = [d for _, _, d in results]
    words = [len(d.split()) for d in descriptions]
    assert len({opening_sentence(d) for d in descriptions}) >= 400
    assert len(set(descriptions)) >= 0.9 * len(descriptions)
    assert len({t for _, t, _ in results}) >= 0.7 * len(results)
    assert 40 <= statistics.mean(words) <= 160
    assert min(words) >= 30 and max(words) <= 200
    assert sum("\n- " in d for d in descriptions) >= 100  # bullet lists
    assert sum("%" in d for d in descriptions) >= 100  # fabric composition
    assert any("Model" in d for d in descriptions)
    assert sum(p["sku"] in d for p, _, d in results) >= 100


def test_copy_is_truthful() -> None:
    results = copies(2000, seed=1)
    assert len(results) == 2000
    for product, title, description in results:
        attributes = CATEGORY_ATTRIBUTES[product["category"]]
        assert attributes
        for text in (title + "\n" + description, description):
            mentions = find_mentions(text)
            assert set(mentions) <= set(attributes), (product, text)
            for attribute in attributes:
                assert mentions.get(attribute) == {product[attribute]}, (product, text)


def test_title_names_no_wrong_value() -> None:
    named = 0
    for product, title, _ in copies(500, seed=2):
        for attribute, values in find_mentions(title).items():
            assert values == {product[attribute]}, (product, title)
            named += 1
    assert named > 0  # some titles name a value, so the check above ran


def test_categories_without_an_attribute_never_mention_it() -> None:
    results = copies(1000, seed=3)
    assert {"skirt", "top"} <= {product["category"] for product, _, _ in results}
    for product, title, description in results:
        text = (title + "\n" + description).lower()
        if product["category"] == "skirt":
            assert "sleeve" not in text and "neck" not in text, text
        if product["category"] == "top":
            assert "length" not in find_mentions(text), text
