"""A shopper's words -> a category and one value per attribute, and the words left over.

Values come from the taxonomy's phrase table (`find_mentions`: "long-sleeved" is sleeve: long),
categories from their names (plurals too). What the table cannot place is reported back, so
"asymmetric" is not silently dropped; a few function words ("a", "with") are not counted.
A request naming no category gets one from the text tagger (the one its words read as most,
among the categories that have every attribute asked), or else the first such category.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fauxshop.catalog.taxonomy import (
    CATEGORIES,
    CATEGORY_ATTRIBUTES,
    find_mentions,
    unknown_words,
)
from fauxshop.errors import FauxshopError

MAX_CHARS = 200
FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "with",
        "and",
        "in",
        "of",
        "for",
        "or",
        "some",
        "me",
        "show",
        "i",
        "need",
        "want",
        "please",
        "one",
    ]
)
_CATEGORY_RE = re.compile(
    r"(?<!\w)(" + "|".join(f"{c}(?:es|s)?" for c in CATEGORIES) + r")(?!\w)", re.IGNORECASE
)


@dataclass
class Request:
    """What a shopper asked for: the category, head -> value, and what was not understood."""

    text: str
    category: str
    attributes: dict[str, str]
    unknown: list[str] = field(default_factory=list)
    category_source: str = "named"  # named | text tagger | default

    @property
    def targets(self) -> dict[str, str]:
        """Every tagger head the request asks a value of, category included."""
        return {"category": self.category, **self.attributes}


def _category_names(text: str) -> list[str]:
    found = []
    for match in _CATEGORY_RE.finditer(text):
        word = match.group(1).lower()
        found.append(next(c for c in CATEGORIES if word in (c, c + "s", c + "es")))
    return list(dict.fromkeys(found))


def parse_request(text: str, text_tagger=None) -> Request:
    """The request in `text` (see the module); FauxshopError with one line saying why not."""
    text = " ".join(str(text).split())
    if not text:
        raise FauxshopError("design: the request is empty; e.g. 'red long-sleeved striped dress'")
    if len(text) > MAX_CHARS:
        raise FauxshopError(f"design: the request is longer than {MAX_CHARS} characters")
    categories = _category_names(text)
    mentions = find_mentions(text)
    unknown = [w for w in unknown_words(_CATEGORY_RE.sub(" ", text)) if w not in FUNCTION_WORDS]
    if not categories and not mentions:
        words = ", ".join(repr(w) for w in unknown) or "nothing"
        raise FauxshopError(
            f"design: {text!r} names no category ({', '.join(CATEGORIES)}) and no colour, "
            f"pattern, sleeve, length or neckline (not understood: {words})"
        )
    if len(categories) > 1:
        raise FauxshopError(f"design: {text!r} names {' and '.join(categories)}: ask for one")
    clashes = [f"{h}: {' or '.join(sorted(v))}" for h, v in mentions.items() if len(v) > 1]
    if clashes:
        raise FauxshopError(f"design: {text!r} asks for two values of one attribute ({clashes[0]})")
    attributes = {head: next(iter(values)) for head, values in mentions.items()}
    source = "named"
    if categories:
        category = categories[0]
    else:
        category, source = _guess_category(text, attributes, text_tagger)
    missing = [h for h in attributes if h not in CATEGORY_ATTRIBUTES[category]]
    if missing:
        raise FauxshopError(f"design: a {category} has no {' or '.join(missing)}; drop it")
    return Request(text, category, attributes, unknown, source)


def _guess_category(text: str, attributes: Mapping[str, str], text_tagger) -> tuple[str, str]:
    """The category a request without one most likely means, and how it was chosen."""
    fits = [c for c in CATEGORIES if set(attributes) <= set(CATEGORY_ATTRIBUTES[c])]
    if not fits:
        raise FauxshopError(f"design: no category has all of {', '.join(attributes)}")
    if text_tagger is None:
        return fits[0], "default"
    names: Sequence[str] = text_tagger.heads["category"]
    probs = text_tagger.predict([text])["category"][0]
    best = max(fits, key=lambda c: float(probs[names.index(c)]) if c in names else -1.0)
    return best, "text tagger"
