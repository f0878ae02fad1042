"""Augmentation specs: which of ADA's transforms a pipe applies, and how strongly.

A spec is a preset (the paper's names) and optional `name=multiplier` overrides after a
comma, e.g. "bgc,cutout=1,rotate=0.5":

    b      pixel blitting: xflip, rotate90, xint
    g      general geometric: scale, rotate, aniso, xfrac
    c      colour: brightness, contrast, lumaflip, hue, saturation
    bg     b + g
    bgc    b + g + c (the paper's default, and `AugmentPipe()`'s)
    bgcc   bgc + cutout

Light on purpose (no torch): the training config checks its spec when it is made.
"""

from __future__ import annotations

BLIT = ("xflip", "rotate90", "xint")
GEOMETRIC = ("scale", "rotate", "aniso", "xfrac")
COLOUR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
TRANSFORMS = (*BLIT, *GEOMETRIC, *COLOUR, "cutout")

PRESETS: dict[str, tuple[str, ...]] = {
    "b": BLIT,
    "g": GEOMETRIC,
    "c": COLOUR,
    "bg": BLIT + GEOMETRIC,
    "bgc": BLIT + GEOMETRIC + COLOUR,
    "bgcc": BLIT + GEOMETRIC + COLOUR + ("cutout",),
}


def parse_augment_spec(text: str) -> dict[str, float]:
    """'preset[,name=value...]' -> a multiplier for every transform, ready for `AugmentPipe`."""
    preset, *overrides = (part.strip() for part in text.split(","))
    if preset not in PRESETS:
        raise ValueError(f"unknown augment preset {preset!r}; choose from {', '.join(PRESETS)}")
    multipliers = {name: float(name in PRESETS[preset]) for name in TRANSFORMS}
    for item in overrides:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in TRANSFORMS:
            raise ValueError(
                f"bad augment override {item!r}: expected name=value, name one of "
                f"{', '.join(TRANSFORMS)}"
            )
        try:
            multipliers[name] = float(value)
        except ValueError:
            raise ValueError(f"bad augment override {item!r}: {value!r} is not a number") from None
        if multipliers[name] < 0:
            raise ValueError(f"bad augment override {item!r}: multipliers must be >= 0")
    return multipliers
