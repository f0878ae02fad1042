"""The garment vocabulary shared by the demo catalog, the tagger and the text checks.

One place names every category and attribute value, so a description that says
"long sleeves" can be checked against a photo tagged "sleeveless".
"""

from __future__ import annotations

import re

# Long-tailed like a dress retailer's catalog: dresses dominate, jumpsuits are rare.
CATEGORY_SHARES: dict[str, float] = {
    "dress": 0.72,
    "skirt": 0.13,
    "top": 0.12,
    "jumpsuit": 0.03,
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_SHARES)

# Named colours with the RGB used to render them.
COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (28, 28, 32),
    "white": (236, 234, 228),
    "red": (196, 30, 44),
    "navy": (30, 42, 96),
    "blue": (52, 110, 196),
    "green": (46, 128, 70),
    "yellow": (232, 196, 48),
    "pink": (232, 140, 170),
    "purple": (118, 62, 150),
    "orange": (226, 112, 36),
    "brown": (120, 76, 44),
    "grey": (128, 128, 132),
    "beige": (212, 190, 150),
}

PATTERNS: tuple[str, ...] = ("solid", "stripes", "dots", "floral", "plaid")
SLEEVES: tuple[str, ...] = ("sleeveless", "short", "long")
LENGTHS: tuple[str, ...] = ("mini", "knee", "midi", "maxi")
NECKLINES: tuple[str, ...] = ("crew", "v-neck", "square", "boat")

# Which attributes a category has: a top has no length, a skirt no sleeve or neckline.
CATEGORY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "dress": ("colour", "pattern", "sleeve", "length", "neckline"),
    "jumpsuit": ("colour", "pattern", "sleeve", "length", "neckline"),
    "top": ("colour", "pattern", "sleeve", "neckline"),
    "skirt": ("colour", "pattern", "length"),
}

# Each category's place in Google's product taxonomy (taxonomy-with-ids.en-US.txt): its numeric
# id and its full path, either of which Merchant Center and Shopify accept. Feeds are read
# through it (`feeds.taxonomy_category`) and exports written with it (`shop_export`).
GOOGLE_CATEGORIES: dict[str, tuple[str, str]] = {
    "dress": ("2271", "Apparel & Accessories > Clothing > Dresses"),
    "skirt": ("1581", "Apparel & Accessories > Clothing > Skirts"),
    "top": ("212", "Apparel & Accessories > Clothing > Shirts & Tops"),
    "jumpsuit": ("5250", "Apparel & Accessories > Clothing > One-Pieces > Jumpsuits & Rompers"),
}

ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "colour": tuple(COLOURS),
    "pattern": PATTERNS,
    "sleeve": SLEEVES,
    "length": LENGTHS,
    "neckline": NECKLINES,
}

# Every surface phrase for an attribute value (plus common spelling variants): the demo copy
# writes values only through these, and the text checks read them back with find_mentions.
ATTRIBUTE_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "colour": {
        "black": ("black",),
        "white": ("white",),
        "red": ("red",),
        "navy": ("navy", "navy blue"),
        "blue": ("blue",),
        "green": ("green",),
        "yellow": ("yellow",),
        "pink": ("pink",),
        "purple": ("purple",),
        "orange": ("orange",),
        "brown": ("brown",),
        "grey": ("grey", "gray"),
        "beige": ("beige",),
    },
    "pattern": {
        "solid": ("solid", "solid colour", "solid-colour"),
        "stripes": ("stripes", "striped", "stripe"),
        "dots": ("dots", "dot print", "polka dots", "polka-dot", "polka dot", "dotted"),
        "floral": ("floral", "florals", "flower print", "flower-print", "flowers"),
        "plaid": ("plaid", "tartan"),
    },
    "sleeve": {
        "sleeveless": ("sleeveless",),
        "short": ("short sleeves", "short sleeve", "short-sleeved", "short-sleeve"),
        "long": ("long sleeves", "long sleeve", "long-sleeved", "long-sleeve"),
    },
    "length": {
        "mini": ("mini", "mini-length"),
        "knee": ("knee", "knee-length", "knee length"),
        "midi": ("midi", "midi-length", "mid-calf"),
        "maxi": ("maxi", "maxi-length", "floor-length", "ankle-length"),
    },
    "neckline": {
        "crew": ("crew neck", "crew-neck", "crewneck", "crew neckline", "round neck"),
        "v-neck": ("v-neck", "v neck", "v-neckline", "v neckline"),
        "square": ("square neck", "square-neck", "square neckline"),
        "boat": ("boat neck", "boat-neck", "boat neckline", "bateau neckline", "bateau"),
    },
}

_PHRASE_VALUE: dict[str, tuple[str, str]] = {
    phrase.lower(): (attribute, value)
    for attribute, values in ATTRIBUTE_PHRASES.items()
    for value, phrases in values.items()
    for phrase in phrases
}
# Longest alternative first, so "knee-length" is one mention and "polka dots" is not also "dots".
_MENTION_RE = re.compile(
    r"(?<!\w)("
    + "|".join(
        re.escape(p).replace(r"\ ", r"\s+") for p in sorted(_PHRASE_VALUE, key=len, reverse=True)
    )
    + r")(?!\w)",
    re.IGNORECASE,
)


def find_mentions(text: str) -> dict[str, set[str]]:
    """Which attribute values `text` names; only attributes with a mention are keys."""
    mentions: dict[str, set[str]] = {}
    for match in _MENTION_RE.finditer(text):
        attribute, value = _PHRASE_VALUE[re.sub(r"\s+", " ", match.group(1).lower())]
        mentions.setdefault(attribute, set()).add(value)
    return mentions


def unknown_words(text: str) -> list[str]:
    """The words of `text` that name no category and no attribute value, each once in order:
    what a writer whose contexts are made of tags (e.g. "asymmetric") never learned."""
    rest = _MENTION_RE.sub(" ", text)
    words = re.findall(r"\w[\w'-]*", rest.lower())
    return list(dict.fromkeys(w for w in words if w not in CATEGORIES))
