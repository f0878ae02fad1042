"""The garment vocabulary shared by the demo catalog, the tagger and the text checks.

One place names every category and attribute value, so a description that says
"long sleeves" can be checked against a photo tagged "sleeveless".
"""

from __future__ import annotations

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

ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "colour": tuple(COLOURS),
    "pattern": PATTERNS,
    "sleeve": SLEEVES,
    "length": LENGTHS,
    "neckline": NECKLINES,
}
