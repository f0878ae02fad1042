"""Procedural product photos for the demo catalog: one garment on a plain backdrop.

Every photo is drawn from its attributes (category silhouette, sleeves, length,
neckline, colour, pattern), so the tagger and the image model get exact ground
truth, and a chosen few carry one of the flaws prune has to catch (FLAWS).
Silhouettes are drawn in "garment units" (shoulder line at y=0, maxi hem near
y=0.92), then posed into the frame; patterns are computed in the same units so
they rotate and scale with the garment.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fauxshop.catalog.taxonomy import COLOURS

FLAWS: tuple[str, ...] = (
    "too_small",
    "off_centre",
    "busy_background",
    "blank_placeholder",
    "fabric_closeup",
)

WORK_HEIGHT = 320  # render at most this tall, then resize: fast, and the resize smooths edges
SUPERSAMPLE = 2  # silhouettes are drawn this much finer and box-filtered down (anti-aliasing)
MAX_SHADE = 0.96  # garments never get brighter than this share of their colour: white ≠ backdrop

Polygon = list[tuple[float, float]]

HEM_Y = {"mini": 0.50, "knee": 0.62, "midi": 0.76, "maxi": 0.92}
HEM_HALF_WIDTH = {"mini": 0.16, "knee": 0.18, "midi": 0.20, "maxi": 0.22}
LEG_Y = {"mini": 0.60, "knee": 0.70, "midi": 0.81, "maxi": 0.92}  # jumpsuit legs: shorts → full
WAIST_Y = 0.30
# Base size of each category in the frame (frame heights per garment unit): short garments
# are photographed closer, so tops and skirts fill about as much of the frame as dresses.
CATEGORY_SCALE = {"dress": 0.86, "jumpsuit": 0.86, "top": 1.15, "skirt": 1.15}

_SLEEVES: dict[str, Polygon] = {
    "short": [(0.115, 0.015), (0.135, 0.012), (0.205, 0.075), (0.17, 0.15), (0.12, 0.125)],
    "long": [
        (0.115, 0.015),
        (0.135, 0.012),
        (0.19, 0.07),
        (0.265, 0.45),
        (0.215, 0.465),
        (0.15, 0.2),
        (0.12, 0.13),
    ],
}


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 24) -> Polygon:
    return [
        (cx + rx * math.cos(2 * math.pi * k / n), cy + ry * math.sin(2 * math.pi * k / n))
        for k in range(n)
    ]


_NECKLINES: dict[str, Polygon] = {
    "crew": _ellipse(0.0, -0.01, 0.05, 0.055),
    "v-neck": [(-0.06, -0.03), (0.06, -0.03), (0.0, 0.15)],
    "square": [(-0.06, -0.03), (0.06, -0.03), (0.06, 0.075), (-0.06, 0.075)],
    "boat": _ellipse(0.0, -0.02, 0.095, 0.045),
}


def _mirror(right: Polygon) -> Polygon:
    """A symmetric outline from its right half, listed top centre → bottom centre."""
    return right + [(-x, y) for x, y in reversed(right) if x != 0.0]


def _bodice(sleeve: str) -> Polygon:
    if sleeve == "sleeveless":
        return [(0.0, -0.005), (0.11, 0.0), (0.1, 0.06), (0.105, 0.1), (0.12, 0.14)]
    return [(0.0, -0.005), (0.125, 0.02), (0.12, 0.13)]


def garment_outline(attrs: dict) -> tuple[Polygon, list[Polygon], Polygon | None]:
    """Body outline, sleeve outlines and the neckline cut-out of a garment, in garment units."""
    category = attrs["category"]
    length = attrs.get("length", "knee")
    hem_y, hem_w = HEM_Y[length], HEM_HALF_WIDTH[length]
    if category == "skirt":
        w = hem_w + 0.01
        right = [(0.0, 0.28), (0.1, 0.28), (0.125, 0.38), (w, hem_y), (w * 0.5, hem_y + 0.012)]
        return _mirror([*right, (0.0, hem_y + 0.015)]), [], None
    upper = [*_bodice(attrs["sleeve"]), (0.095, WAIST_Y)]
    if category == "top":
        right = [*upper, (0.13, 0.47), (0.065, 0.478), (0.0, 0.48)]
    elif category == "jumpsuit":
        leg_y = LEG_Y[length]
        out_w = 0.15 if length in ("mini", "knee") else 0.16
        right = [*upper, (0.13, 0.42), (out_w, leg_y), (out_w - 0.085, leg_y), (0.0, 0.5)]
    else:
        hip = (0.095 + (hem_w - 0.095) * 0.35, 0.38)
        right = [*upper, hip, (hem_w, hem_y), (hem_w * 0.5, hem_y + 0.011), (0.0, hem_y + 0.015)]
    sleeves = []
    if attrs["sleeve"] in _SLEEVES:
        sleeve = _SLEEVES[attrs["sleeve"]]
        sleeves = [sleeve, [(-x, y) for x, y in sleeve]]
    return _mirror(right), sleeves, _NECKLINES[attrs["neckline"]]


# -- pose: garment units → work pixels --------------------------------------------------------
class _Pose:
    """Rotation, scale and placement of the garment; maps points both ways."""

    def __init__(self, centre_px: tuple[float, float], px_per_unit: float, angle: float, anchor):
        self.cx, self.cy = centre_px
        self.s = px_per_unit
        self.cos, self.sin = math.cos(angle), math.sin(angle)
        self.ax, self.ay = anchor  # the garment point placed at centre_px

    def to_pixels(self, poly: Polygon, factor: float = 1.0) -> list[tuple[float, float]]:
        out = []
        for x, y in poly:
            dx, dy = (x - self.ax) * self.s, (y - self.ay) * self.s
            out.append(
                (
                    (self.cx + self.cos * dx - self.sin * dy) * factor,
                    (self.cy + self.sin * dx + self.cos * dy) * factor,
                )
            )
        return out

    def to_units(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Garment coordinates of every work-pixel centre."""
        px = np.arange(width, dtype=np.float32)[None, :] + 0.5 - self.cx
        py = np.arange(height, dtype=np.float32)[:, None] + 0.5 - self.cy
        gx = (self.cos * px + self.sin * py) / self.s + self.ax
        gy = (-self.sin * px + self.cos * py) / self.s + self.ay
        return gx, gy


def _pose(attrs: dict, body: Polygon, rng: np.random.Generator, size, flaw) -> _Pose:
    width, height = size
    ys = [y for _, y in body]
    anchor = (0.0, (min(ys) + max(ys)) / 2)  # centre the garment's box, as a photographer would
    scale = CATEGORY_SCALE[attrs["category"]] * rng.uniform(0.9, 1.1)
    offset = rng.uniform(-0.03, 0.03, size=2)
    if flaw == "off_centre":
        direction = [(1, 0), (0, 1), (1, 1)][rng.integers(3)]
        offset = np.array(direction) * rng.uniform(0.2, 0.35, size=2) * rng.choice([-1, 1], 2)
    centre = (width * (0.5 + offset[0]), height * (0.5 + offset[1]))
    angle = math.radians(rng.uniform(-3.0, 3.0))
    return _Pose(centre, scale * height, angle, anchor)


def _draw_mask(polys: list[Polygon], pose: _Pose, size, cut: Polygon | None = None) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of the union of `polys` minus `cut`."""
    big = (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE)
    img = Image.new("L", big, 0)
    draw = ImageDraw.Draw(img)
    for poly in polys:
        draw.polygon(pose.to_pixels(poly, SUPERSAMPLE), fill=255)
    if cut is not None:
        draw.polygon(pose.to_pixels(cut, SUPERSAMPLE), fill=0)
    return np.asarray(img.reduce(SUPERSAMPLE), dtype=np.float32) / 255.0


# -- fabric -----------------------------------------------------------------------------------
def _rgb(name: str) -> np.ndarray:
    return np.array(COLOURS[name], dtype=np.float32)


def _luma(rgb) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _contrasting(colour: str, rng: np.random.Generator, exclude: tuple[str, ...] = ()) -> str:
    """A second colour that reads clearly against `colour` once downscaled."""
    base = _luma(COLOURS[colour])
    names = [
        n for n in COLOURS if n not in (colour, *exclude) and abs(_luma(COLOURS[n]) - base) > 70
    ]
    return names[rng.integers(len(names))]


def _cover(distance_inside: np.ndarray, px: float) -> np.ndarray:
    """Anti-aliased coverage from a signed distance (positive inside), `px` units per pixel."""
    return np.clip(distance_inside / px + 0.5, 0.0, 1.0)


def _stripes(u: np.ndarray, period: float, width: float, px: float) -> np.ndarray:
    d = np.abs((u / period) % 1.0 - 0.5) * period  # distance to the stripe's centre line
    return _cover(width / 2 - d, px)


def _cell_noise(ci: np.ndarray, cj: np.ndarray, salt: int) -> np.ndarray:
    """A repeatable pseudo-random number in [0, 1) per pattern cell (for jittered motifs)."""
    i, j = ci.astype(np.int64).astype(np.uint32), cj.astype(np.int64).astype(np.uint32)
    h = i * np.uint32(73856093) ^ j * np.uint32(19349663)
    h = (h ^ np.uint32(salt)) * np.uint32(2654435761)
    h ^= h >> np.uint32(15)
    return (h & np.uint32(0xFFFF)).astype(np.float32) / 65536.0


def _motif_grid(gx, gy, spacing: float, rng: np.random.Generator, jitter: float):
    """Position relative to the nearest motif centre on a staggered, jittered grid."""
    row = np.floor(gy / spacing)
    shift = (row % 2) * 0.5 * spacing
    col = np.floor((gx - shift) / spacing)
    salt = int(rng.integers(1 << 31))
    jx = (_cell_noise(col, row, salt) - 0.5) * jitter * spacing
    jy = (_cell_noise(col, row, salt + 1) - 0.5) * jitter * spacing
    dx = gx - shift - (col + 0.5) * spacing - jx
    dy = gy - (row + 0.5) * spacing - jy
    return dx, dy, _cell_noise(col, row, salt + 2)


def render_fabric(attrs: dict, rng: np.random.Generator, gx, gy, px: float) -> np.ndarray:
    """RGB (float, 0-255) of the garment's fabric at garment coordinates gx, gy."""
    pattern = attrs["pattern"]
    base = _rgb(attrs["colour"])
    if pattern == "solid":
        return np.broadcast_to(base, (*gx.shape, 3)).copy()
    second = _rgb(_contrasting(attrs["colour"], rng))
    if pattern == "stripes":
        angle = [0.0, math.pi / 2, math.pi / 4][rng.integers(3)]
        u = gx * math.sin(angle) + gy * math.cos(angle)
        period = rng.uniform(0.035, 0.06)
        amount = _stripes(u, period, period * rng.uniform(0.35, 0.5), px)
    elif pattern == "dots":
        spacing = rng.uniform(0.04, 0.06)
        dx, dy, _ = _motif_grid(gx, gy, spacing, rng, jitter=0.0)
        amount = _cover(spacing * rng.uniform(0.2, 0.28) - np.hypot(dx, dy), px)
    elif pattern == "floral":
        spacing = rng.uniform(0.07, 0.1)
        dx, dy, phase = _motif_grid(gx, gy, spacing, rng, jitter=0.3)
        r, theta = np.hypot(dx, dy), np.arctan2(dy, dx)
        radius = spacing * 0.32 * (0.5 + 0.5 * np.abs(np.cos(2.5 * theta + phase * 6.28)))
        amount = _cover(radius - r, px)
        heart = _cover(spacing * 0.08 - r, px)[..., None]
        accent = _rgb(_contrasting(attrs["colour"], rng, exclude=(attrs["colour"],)))
        fabric = base + (second - base) * amount[..., None]
        return fabric + (accent - fabric) * heart
    else:  # plaid: two crossing bands at half strength, full where they cross, plus thin lines
        period = rng.uniform(0.08, 0.12)
        bands = 0.5 * _stripes(gx, period, period * 0.32, px) + 0.5 * _stripes(
            gy, period, period * 0.32, px
        )
        lines = np.maximum(
            _stripes(gx + period / 2, period, period * 0.06, px),
            _stripes(gy + period / 2, period, period * 0.06, px),
        )
        amount = np.maximum(bands, 0.8 * lines)
    return base + (second - base) * amount[..., None]


# -- shading ----------------------------------------------------------------------------------
def _edge_shade(mask: np.ndarray, blur_px: float) -> np.ndarray:
    """Darker towards the silhouette's edge, like cloth turning away from the light."""
    img = Image.fromarray((mask * 255).astype(np.uint8))
    inside = np.asarray(img.filter(ImageFilter.GaussianBlur(blur_px)), dtype=np.float32) / 255
    return 0.7 + 0.3 * np.sqrt(np.clip((inside - 0.5) * 2.0, 0.0, 1.0))


def _light(gx, gy, anchor_y: float) -> np.ndarray:
    """Soft key light from the upper left."""
    return np.clip(0.91 - 0.2 * gx - 0.06 * (gy - anchor_y), 0.82, MAX_SHADE)


def _folds(gx, gy, rng: np.random.Generator, start_y: float, strength: float) -> np.ndarray:
    """Vertical folds fanning out below `start_y` (a skirt falling from the waist)."""
    fan = gx / np.maximum(gy - start_y + 0.12, 0.05)
    wave = 0.5 + 0.5 * np.sin(fan * rng.uniform(14, 22) + rng.uniform(0, 2 * math.pi))
    depth = strength * np.clip((gy - start_y) / 0.3, 0.0, 1.0)
    return 1.0 - depth * wave**2


def _backdrop(rng: np.random.Generator, size) -> np.ndarray:
    """Near-white studio backdrop with a faint top-to-bottom falloff."""
    width, height = size
    level = rng.uniform(243, 253)
    fall = rng.uniform(1, 5) * np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    tint = np.array([0.0, 0.0, rng.uniform(-1.5, 1.5)], dtype=np.float32)
    return np.broadcast_to(level - fall + tint, (height, width, 3)).copy()


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """Saturated or dark: clutter must never look like a studio backdrop."""
    hue, sat, val = rng.uniform(0, 1), rng.uniform(0.55, 1.0), rng.uniform(0.15, 0.85)
    i, f = int(hue * 6) % 6, hue * 6 - int(hue * 6)
    p, q, t = val * (1 - sat), val * (1 - sat * f), val * (1 - sat * (1 - f))
    r, g, b = [(val, t, p), (q, val, p), (p, val, t), (p, q, val), (t, p, val), (val, p, q)][i]
    return int(r * 255), int(g * 255), int(b * 255)


def _clutter(rng: np.random.Generator, size) -> np.ndarray:
    """A busy scene behind the product: overlapping shapes, bands and stripes in loud colours."""
    width, height = size
    ramp = np.linspace(0.0, 1.0, height if rng.random() < 0.5 else width, dtype=np.float32)
    ramp = ramp[:, None, None] if len(ramp) == height else ramp[None, :, None]
    start, end = np.array(_random_colour(rng)), np.array(_random_colour(rng))
    base = np.broadcast_to(start + (end - start) * ramp, (height, width, 3))
    img = Image.fromarray(base.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(40, 60))):
        w, h = rng.uniform(0.08, 0.45, size=2) * (width, height)
        x, y = rng.uniform(-0.1, 1.0) * width, rng.uniform(-0.1, 1.0) * height
        box = (x, y, x + w, y + h)
        kind = rng.integers(4)
        colour = _random_colour(rng)
        if kind == 0:
            draw.rectangle(box, fill=colour)
        elif kind == 1:
            draw.ellipse(box, fill=colour)
        elif kind == 2:
            points = rng.uniform(0, 1, size=(int(rng.integers(3, 6)), 2)) * (w, h) + (x, y)
            draw.polygon([tuple(p) for p in points], fill=colour)
        else:
            step = max(3, int(rng.uniform(0.015, 0.04) * width))
            for k in range(int(x), int(x + w), 2 * step):
                draw.rectangle((k, y, k + step, y + h), fill=colour)
    return np.asarray(img, dtype=np.float32)


# -- the three kinds of photo -----------------------------------------------------------------
def _garment_photo(attrs: dict, rng: np.random.Generator, size, flaw: str | None) -> np.ndarray:
    body, sleeves, neckline = garment_outline(attrs)
    pose = _pose(attrs, body, rng, size, flaw)
    body_m = _draw_mask([body], pose, size, neckline)
    sleeve_m = _draw_mask(sleeves, pose, size) if sleeves else np.zeros_like(body_m)
    alpha = body_m + (1.0 - body_m) * sleeve_m
    gx, gy = pose.to_units(*size)
    px = 1.0 / pose.s
    fabric = render_fabric(attrs, rng, gx, gy, px)
    blur = 0.012 * pose.s
    body_shade = _edge_shade(body_m, blur)
    if attrs["category"] == "skirt":
        body_shade *= np.where(gy < 0.31, 0.85, 1.0)  # waistband
    sleeve_shade = 0.9 * _edge_shade(sleeve_m, blur)
    share = np.divide(body_m, alpha, out=np.zeros_like(alpha), where=alpha > 0)
    shade = share * body_shade + (1.0 - share) * sleeve_shade
    fold_start = 0.34 if attrs["category"] == "skirt" else WAIST_Y
    strength = 0.08 if attrs["category"] == "top" else 0.16
    shade *= _light(gx, gy, pose.ay) * _folds(gx, gy, rng, fold_start, strength)
    garment = fabric * shade[..., None]
    backdrop = _clutter(rng, size) if flaw == "busy_background" else _backdrop(rng, size)
    return backdrop + (garment - backdrop) * alpha[..., None]


def _fabric_closeup(attrs: dict, rng: np.random.Generator, size) -> np.ndarray:
    """The cloth alone filling the frame: a swatch shot, folds and weave, no backdrop."""
    width, height = size
    span = rng.uniform(0.3, 0.45)  # garment units across the frame
    pose = _Pose((width / 2, height / 2), width / span, rng.uniform(-0.5, 0.5), (0.0, 0.4))
    gx, gy = pose.to_units(width, height)
    fabric = render_fabric(attrs, rng, gx, gy, 1.0 / pose.s)
    angle = rng.uniform(0, math.pi)
    u = (gx * math.cos(angle) + gy * math.sin(angle)) / span
    folds = 1.0 - rng.uniform(0.15, 0.3) * (0.5 + 0.5 * np.sin(u * rng.uniform(18, 30)))
    coarse = rng.normal(0.0, 1.0, size=(max(2, height // 8), max(2, width // 8)))
    weave = Image.fromarray(((coarse * 0.25 + 0.5).clip(0, 1) * 255).astype(np.uint8))
    weave = np.asarray(weave.resize(size, Image.Resampling.BICUBIC), dtype=np.float32) / 255
    shade = folds * (0.9 + 0.12 * (weave - 0.5)) * _light(gx - gx.mean(), gy, gy.mean())
    return fabric * shade[..., None]


def _placeholder(rng: np.random.Generator, size) -> Image.Image:
    """What a CMS shows when the photo is missing: flat grey, maybe a thin icon or a caption."""
    width, height = size
    level = rng.uniform(200, 250)
    ramp = rng.uniform(-3, 3) * np.linspace(-1, 1, height, dtype=np.float32)[:, None, None]
    img = Image.fromarray(np.broadcast_to(level + ramp, (height, width, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    ink = (int(level - rng.uniform(25, 60)),) * 3
    line = max(1, round(min(size) / 300))
    if rng.random() < 0.7:  # the usual "picture" icon: a frame, two hills and a sun
        w, h = width * rng.uniform(0.16, 0.3), width * rng.uniform(0.12, 0.22)

        def at(u: float, v: float) -> tuple[float, float]:
            return (width - w) / 2 + u * w, (height - h) / 2 + v * h

        draw.rectangle((*at(0, 0), *at(1, 1)), outline=ink, width=line)
        hills = [at(0, 1), at(0.35, 0.5), at(0.55, 0.7), at(0.75, 0.4), at(1, 1)]
        draw.line(hills, fill=ink, width=line)
        draw.ellipse((*at(0.17, 0.17), *at(0.33, 0.38)), outline=ink, width=line)
    if rng.random() < 0.6:
        caption = ["no image", "NO IMAGE AVAILABLE", "image coming soon", "photo unavailable"]
        text = caption[rng.integers(len(caption))]
        draw.text((width / 2, height * 0.68), text, fill=ink, anchor="mm", font_size=width // 24)
    return img


def render_product(
    attrs: dict, rng: np.random.Generator, size: tuple[int, int], flaw: str | None = None
) -> Image.Image:
    """One RGB product photo of `size` (width, height), optionally with one of FLAWS."""
    if flaw is not None and flaw not in FLAWS:
        raise ValueError(f"unknown flaw {flaw!r}; expected one of {', '.join(FLAWS)}")
    if flaw == "blank_placeholder":
        return _placeholder(rng, size)
    width, height = size
    work_h = min(height, WORK_HEIGHT)
    work = (max(1, round(width * work_h / height)), work_h)
    if flaw == "fabric_closeup":
        pixels = _fabric_closeup(attrs, rng, work)
    else:
        pixels = _garment_photo(attrs, rng, work, flaw)
    img = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")
    return img if work == tuple(size) else img.resize(size, Image.Resampling.BICUBIC)
