"""Titles and descriptions for the procedural demo catalog.

The copy has to be varied enough to be worth learning for a small GPT-2 (many
sentence patterns, bullets, fabric, care, fit, codes) and truthful enough to grade
it by: attribute values appear only through ATTRIBUTE_PHRASES, and no other text
uses those words, so `taxonomy.find_mentions` can check any description against its tags.
"""

from __future__ import annotations

import random
import re
from string import Formatter

from fauxshop.catalog.taxonomy import CATEGORY_ATTRIBUTES, find_mentions

# --- Surface forms of each attribute value, by grammatical slot -------------------------------

_PATTERN_ADJ = {
    "stripes": ("striped",),
    "dots": ("polka-dot", "dotted"),
    "floral": ("floral", "flower-print"),
    "plaid": ("plaid", "tartan"),
}
_PATTERN_NOUN = {
    "stripes": ("{c} stripes",),
    "dots": ("{c} polka dots", "a {c} dot print"),
    "floral": ("a {c} floral print", "{c} florals"),
    "plaid": ("{c} plaid", "{c} tartan"),
}
_SLEEVE_ADJ = {
    "sleeveless": ("sleeveless",),
    "short": ("short-sleeved", "short-sleeve"),
    "long": ("long-sleeved", "long-sleeve"),
}
_SLEEVE_NP = {
    "sleeveless": ("a sleeveless cut", "a sleeveless bodice"),
    "short": ("short sleeves",),
    "long": ("long sleeves",),
}
_LENGTH_ADJ = {
    "mini": ("mini",),
    "knee": ("knee-length",),
    "midi": ("midi",),
    "maxi": ("maxi", "floor-length"),
}
_LENGTH_NP = {
    "mini": ("a mini length", "a mini hem"),
    "knee": ("a knee-length hem", "a hem that stops at the knee"),
    "midi": ("a midi length", "a hem that falls to mid-calf"),
    "maxi": ("a maxi length", "a floor-length hem"),
}
_NECK_ADJ = {
    "crew": ("crew-neck",),
    "v-neck": ("V-neck",),
    "square": ("square-neck",),
    "boat": ("boat-neck",),
}
_NECK_NP = {
    "crew": ("a crew neck", "a crew neckline", "a round neck"),
    "v-neck": ("a V-neck", "a V-neckline"),
    "square": ("a square neckline", "a square neck"),
    "boat": ("a boat neckline", "a bateau neckline"),
}
_CATEGORY_NOUNS = {
    "dress": ("dress",),
    "skirt": ("skirt",),
    "top": ("top", "blouse"),
    "jumpsuit": ("jumpsuit",),
}

# --- Vocabulary free of attribute words --------------------------------------------------------

_NAMES = (
    "Amara", "Bea", "Cleo", "Delphine", "Edie", "Freya", "Greta", "Hattie", "Iris", "Juno",
    "Kit", "Lena", "Maren", "Nell", "Orla", "Pia", "Quinn", "Romy", "Sadie", "Tess", "Uma",
    "Vera", "Wren", "Xanthe", "Yara", "Zadie", "Ada", "Billie", "Coco", "Dora", "Elsie",
    "Faye", "Ines", "Kira", "Lola", "Mabel", "Nina", "Rae", "Stella", "Thea", "Willa", "Esme",
)  # fmt: skip
_OCCASIONS = (
    "weekend brunch", "the office", "summer weddings", "city breaks", "garden parties",
    "date night", "holiday evenings", "dinner with friends", "festival season",
    "everyday errands", "work drinks", "lazy Sundays", "gallery openings", "rooftop parties",
    "family lunches", "travel days", "the school run", "birthday dinners",
)  # fmt: skip
_COLLECTIONS = ("Riviera", "Weekend", "Atelier", "Essentials", "Holiday", "City", "Studio")
_MOODS = ("polish", "ease", "personality", "energy", "charm")
# (fabric noun, adjectives, fibre blends: the first fibre takes the largest share)
_FABRICS: tuple[tuple[str, tuple[str, ...], tuple[tuple[str, ...], ...]], ...] = (
    ("crepe", ("fluid", "lightweight"), (("viscose", "elastane"), ("polyester", "elastane"))),
    ("jersey", ("soft", "stretch"), (("cotton", "elastane"), ("modal", "elastane"))),
    ("poplin", ("crisp", "cool"), (("cotton",), ("organic cotton",), ("cotton", "polyester"))),
    ("linen blend", ("breathable", "textured"), (("linen", "viscose"), ("linen", "cotton"))),
    ("satin", ("glossy", "fluid"), (("polyester",), ("viscose", "silk"))),
    ("chiffon", ("floaty", "airy"), (("polyester",), ("recycled polyester",))),
    ("cotton twill", ("sturdy", "structured"), (("cotton", "elastane"),)),
    ("ponte", ("thick", "structured"), (("viscose", "nylon", "elastane"),)),
    ("seersucker", ("textured", "breathable"), (("cotton",),)),
    ("lyocell twill", ("silky", "fluid"), (("lyocell",), ("lyocell", "linen"))),
)


def _fabric(rng: random.Random) -> tuple[str, str]:
    """A fabric phrase and its composition (percentages sum to 100)."""
    noun, adjectives, blends = rng.choice(_FABRICS)
    fibres = rng.choice(blends)
    minor = [rng.choice((2, 3, 4, 5) if f == "elastane" else (15, 20, 30, 40)) for f in fibres[1:]]
    shares = [100 - sum(minor), *minor]
    composition = ", ".join(
        f"{share}% {fibre}" for share, fibre in zip(shares, fibres, strict=True)
    )
    return f"a {rng.choice(adjectives)} {noun}", composition


def _slots(product: dict, rng: random.Random) -> dict[str, str]:
    """Surface forms for this product; a template can be used only if all its slots exist."""
    colour = product["colour"]
    if colour == "navy" and rng.random() < 0.3:
        colour = "navy blue"
    pattern = product["pattern"]
    if pattern == "solid":
        cp, in_cp = f"solid {colour}", rng.choice((f"in solid {colour}", f"in a solid {colour}"))
    else:
        cp = f"{colour} {rng.choice(_PATTERN_ADJ[pattern])}"
        in_cp = "in " + rng.choice(_PATTERN_NOUN[pattern]).format(c=colour)
    fabric, composition = _fabric(rng)
    occasion, occasion2 = rng.sample(_OCCASIONS, 2)
    slots = {
        "cat": rng.choice(_CATEGORY_NOUNS[product["category"]]),
        "colour": colour,
        "cp": cp,
        "in_cp": in_cp,
        "name": rng.choice(_NAMES),
        "occasion": occasion,
        "occasion2": occasion2,
        "collection": rng.choice(_COLLECTIONS),
        "mood": rng.choice(_MOODS),
        "fabric": fabric,
        "composition": composition,
    }
    forms = {
        "sleeve": (("sleeve_adj", _SLEEVE_ADJ), ("sleeve_np", _SLEEVE_NP)),
        "length": (("length_adj", _LENGTH_ADJ), ("length_np", _LENGTH_NP)),
        "neckline": (("neck_adj", _NECK_ADJ), ("neck_np", _NECK_NP)),
    }
    for attribute, table in forms.items():
        if attribute in product:
            for slot, options in table:
                slots[slot] = rng.choice(options[product[attribute]])
    return slots


# --- Templates ---------------------------------------------------------------------------------

_TITLES = (
    "{sleeve_adj} {cp} {length_adj} {cat}",
    "{cp} {neck_adj} {cat}",
    "The {name} {length_adj} {cat}",
    "The {name} {cat} in {colour}",
    "{name} {sleeve_adj} {cat} - {colour}",
    "{sleeve_adj} {neck_adj} {cat} {in_cp}",
    "{length_adj} {cat} {in_cp}",
    "{name} {cp} {cat}",
    "{cp} {length_adj} {cat} with {sleeve_np}",
    "{cp} {cat}",
    "{neck_adj} {sleeve_adj} {cat} | {colour}",
    "The {name}: {cp} {length_adj} {cat}",
    "{name} {length_adj} {cat} - {cp}",
    "{cp} {sleeve_adj} {neck_adj} {cat}",
    "{collection} {neck_adj} {cat} {in_cp}",
    "The {name} {sleeve_adj} {cat}",
)
_OPENINGS = (
    "Meet the {name}: a {sleeve_adj} {length_adj} {cat} {in_cp}, made for {occasion}.",
    "A {cp} {cat} with {sleeve_np} and {neck_np} - an easy choice for {occasion}.",
    "Our {name} {cat} comes {in_cp}, with {neck_np} and {length_np}.",
    "{cp} and effortless, this {length_adj} {cat} is cut from {fabric}.",
    "Dress it up or down: this {sleeve_adj} {cp} {cat} works from {occasion} to {occasion2}.",
    "Say hello to your new favourite {cat}.",
    "The {name} is a {cp} {length_adj} {cat} with {neck_np}.",
    "Made for {occasion}, this {cp} {cat} has {sleeve_np} and {length_np}.",
    "Light, easy and {in_cp}: the {name} {cat} is everything you want for {occasion}.",
    "Looking for a {cat} for {occasion}? The {name} comes {in_cp}.",
    "Cut from {fabric}, our {sleeve_adj} {cat} is finished with {neck_np}.",
    "There's a reason the {cp} {cat} never goes out of style.",
    "Your {occasion} wardrobe just got an upgrade with this {sleeve_adj} {cp} {cat}.",
    "Crafted in {fabric}, the {name} {length_adj} {cat} comes {in_cp}.",
    "Introducing the {name}, a {length_adj} {cat} {in_cp} with {sleeve_np}.",
    "Simple, flattering and easy to wear, this {cp} {cat} features {neck_np}.",
    "New season, new favourite: a {sleeve_adj} {cat} {in_cp}.",
    "We've taken our best-selling {length_adj} {cat} and given it {neck_np} and {sleeve_np}.",
    "Effortless {occasion} dressing starts with this {cp} {cat}.",
    "Part of our {collection} collection, the {name} is a {sleeve_adj} {cat} {in_cp}.",
    "Whether it's {occasion} or {occasion2}, this {length_adj} {cat} in {colour} has you covered.",
    "The {cat} you'll reach for all season: {cp}, {length_adj}, with {neck_np}.",
    "Style meets comfort in this {cp} {cat} with {sleeve_np}.",
    "Bring some {mood} to {occasion} with the {name}, a {cp} {cat}.",
    "Designed in-house, this {neck_adj} {cat} comes {in_cp}.",
    "An update on a classic: the {name} {cat}, now {in_cp}.",
    "Our {neck_adj} {cat} is back - this time {in_cp}.",
    "Here's the {cat} for {occasion}: {sleeve_adj}, {cp} and cut from {fabric}.",
    "From {occasion} to {occasion2}, the {name} {cat} is a {colour} favourite.",
    "Everything we love about a {length_adj} {cat}, now {in_cp}.",
    "Add some {mood} to your week with a {neck_adj} {cat} in {fabric}.",
    "The {collection} edit's star piece: a {sleeve_adj} {length_adj} {cat}.",
    "Ready for {occasion}? So is this {cp} {cat}.",
    "Some pieces just work, and the {name} is one of them: a {length_adj} {cat} {in_cp}.",
    "Meet your new go-to for {occasion}: the {sleeve_adj} {neck_adj} {name} {cat}.",
    "A {neck_adj} {cat} that feels as good as it looks, {in_cp}.",
    "Ease, comfort and a little {mood}: that's the {cp} {name} {cat}.",
    "Cut for movement and made for {occasion}, the {name} is a {length_adj} {cat} in {colour}.",
    "Few things beat a {sleeve_adj} {cat} {in_cp} on a warm afternoon.",
    "Our designers set out to make the perfect {length_adj} {cat}. Here it is, {in_cp}.",
    "Fresh from the {collection} collection: the {name}, a {cp} {cat} with {neck_np}.",
    "This is the {cat} we keep coming back to: {sleeve_adj}, {length_adj} and {in_cp}.",
    "With {neck_np} and {sleeve_np}, the {name} {cat} is quietly confident.",
    "If you only buy one {cat} this season, make it this {cp} one.",
    "The {name} {cat} pairs {neck_np} with {length_np}, all {in_cp}.",
    "Polished enough for {occasion}, relaxed enough for {occasion2}: the {cp} {name}.",
)
_FOLLOW_UPS = (
    "It's the kind of piece you'll wear on repeat.",
    "Easy to pack, easier to wear.",
    "One of our most-loved shapes, now in a new season's shade.",
    "Made in small runs in a family-owned factory.",
    "You'll want one for every week of the year.",
    "Designed in our London studio.",
    "Wear it now and for seasons to come.",
    "It pairs back to almost anything in your wardrobe.",
    "Our customers rate it five stars for comfort.",
    "Limited stock: when it's gone, it's gone.",
)
# Detail sentences and bullets per attribute value; {colour} is the only slot they use.
_DETAILS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "colour": {
        "*": (
            (
                "The {colour} shade is easy to dress up or down.",
                "A rich {colour} that works all year round.",
                "We love this {colour} with simple jewellery and your favourite sandals.",
                "The {colour} is garment-dyed for a soft, lived-in depth.",
                "This {colour} was chosen to suit every skin tone.",
            ),
            ("Colour: {colour}", "Shade: {colour}", "In {colour}"),
        ),
    },
    "pattern": {
        "solid": (
            (
                "A solid colour keeps it simple and easy to style.",
                "Solid and understated, it's a wardrobe workhorse.",
                "In a solid colour, it's a blank canvas for your accessories.",
            ),
            ("Solid colour", "Solid-colour fabric", "Pattern: solid"),
        ),
        "stripes": (
            (
                "The stripes are woven in, not printed, so they won't fade.",
                "Bold stripes run across the whole piece and are matched at the seams.",
                "Stripes never date, and these are our favourite yet.",
            ),
            ("Striped", "Yarn-dyed stripes", "Pattern: stripes"),
        ),
        "dots": (
            (
                "Playful polka dots are scattered across the fabric.",
                "The dot print is screen-printed in our own studio.",
                "A polka-dot print is our idea of a happy wardrobe.",
            ),
            ("Polka-dot print", "Dotted print", "Pattern: polka dots"),
        ),
        "floral": (
            (
                "The floral print was painted by hand in our studio.",
                "A delicate floral print blooms across the fabric.",
                "Florals for spring? Always, and for every other season too.",
            ),
            ("Floral print", "Hand-painted floral print", "Print: floral"),
        ),
        "plaid": (
            (
                "A classic plaid with a nod to heritage tailoring.",
                "The plaid is carefully matched at every seam.",
                "A woven tartan gives it a cosy, collegiate feel.",
            ),
            ("Plaid weave", "Tartan pattern", "Pattern: plaid"),
        ),
    },
    "sleeve": {
        "sleeveless": (
            (
                "Sleeveless, with cut-in armholes for ease of movement.",
                "It's sleeveless, so it layers easily under a jacket.",
                "Sleeveless and breezy for the warmest days.",
            ),
            ("Sleeveless", "Sleeveless with wide straps"),
        ),
        "short": (
            (
                "Short sleeves keep it cool on warmer days.",
                "The short sleeves are softly gathered at the shoulder.",
                "Fluttery short sleeves add movement.",
            ),
            ("Short sleeves", "Short-sleeved"),
        ),
        "long": (
            (
                "Long sleeves finish in buttoned cuffs.",
                "The long sleeves are gently full and gathered at the wrist.",
                "Long sleeves make it a year-round staple.",
            ),
            ("Long sleeves with buttoned cuffs", "Long-sleeved"),
        ),
    },
    "length": {
        "mini": (
            (
                "The mini length keeps it playful.",
                "A mini length shows off your favourite boots.",
                "Cut to a flirty mini length.",
            ),
            ("Mini length", "Mini hem", "Length: mini"),
        ),
        "knee": (
            (
                "It stops just at the knee, so it works for the office too.",
                "The knee-length hem is easy to wear all day.",
                "A knee-length cut that never feels fussy.",
            ),
            ("Knee length", "Knee-length hem", "Length: knee"),
        ),
        "midi": (
            (
                "The midi length falls to mid-calf.",
                "A midi length that moves as you walk.",
                "The midi cut works with everything from trainers to heels.",
            ),
            ("Midi length", "Falls to mid-calf", "Length: midi"),
        ),
        "maxi": (
            (
                "The maxi length skims the floor, so wear it with heels or flats.",
                "A floor-length cut that makes an entrance.",
                "The sweeping maxi length is pure holiday.",
            ),
            ("Maxi length", "Floor-length", "Length: maxi"),
        ),
    },
    "neckline": {
        "crew": (
            (
                "The crew neck is finished with a neat binding.",
                "A classic crew neckline.",
                "The round neck sits close for a clean line.",
            ),
            ("Crew neck", "Round neck", "Neckline: crew neck"),
        ),
        "v-neck": (
            (
                "The V-neck is cut just deep enough.",
                "A wrap-style V-neckline flatters.",
                "A softly plunging V-neck opens up the shoulders.",
            ),
            ("V-neck", "V-neckline", "Neckline: V-neck"),
        ),
        "square": (
            (
                "The square neckline frames the collarbones.",
                "A square neck gives it a vintage feel.",
                "We love how the square neckline shows off a delicate necklace.",
            ),
            ("Square neckline", "Square neck", "Neckline: square neck"),
        ),
        "boat": (
            (
                "A wide boat neckline sits just on the collarbones.",
                "The bateau neckline is a nod to the fifties.",
                "The boat neck skims the shoulders for an elegant line.",
            ),
            ("Boat neckline", "Bateau neckline", "Neckline: boat neck"),
        ),
    },
}
# (sentence, bullet) pairs about construction, by category: at most one closure, any features.
_CLOSURES: dict[str, tuple[tuple[str, str], ...]] = {
    "dress": (
        ("It fastens with a concealed zip at the back.", "Concealed back zip"),
        ("Buttons run all the way down the front.", "Button-through front"),
        ("It slips on with no fastenings at all.", "Pull-on style"),
    ),
    "skirt": (
        ("The elasticated waistband makes it easy to wear.", "Elasticated waistband"),
        ("It fastens with a concealed side zip.", "Concealed side zip"),
        ("Buttons run all the way down the front.", "Button-through front"),
    ),
    "top": (
        ("Buttons run all the way down the front.", "Button-through front"),
        ("A keyhole button fastens at the back.", "Keyhole back with button"),
    ),
    "jumpsuit": (
        ("It fastens with a concealed zip at the back.", "Concealed back zip"),
        ("Buttons run down the front to the waist.", "Half-button front"),
    ),
}
_FEATURES: dict[str, tuple[tuple[str, str], ...]] = {
    "dress": (
        ("Fully lined, so there's no need for a slip.", "Fully lined"),
        ("And yes, it has pockets.", "Side pockets"),
        ("A tie at the waist lets you adjust the fit.", "Tie waist"),
        ("The smocked back stretches for comfort.", "Smocked back"),
        ("Soft pleats release from the waist.", "Pleats from the waist"),
    ),
    "skirt": (
        ("And yes, it has pockets.", "Side pockets"),
        ("Fully lined, so there's no need for a slip.", "Fully lined"),
        ("A front split adds ease of movement.", "Front split"),
        ("Soft pleats release from the waistband.", "Pleated"),
    ),
    "top": (
        ("A curved hem looks good tucked or untucked.", "Curved hem"),
        ("The relaxed shape skims rather than clings.", "Relaxed shape"),
        ("Tiny pintucks add texture at the front.", "Pintuck detail"),
    ),
    "jumpsuit": (
        ("And yes, it has pockets.", "Side pockets"),
        ("A tie at the waist lets you adjust the fit.", "Tie waist"),
        ("The legs are wide and swishy.", "Wide leg"),
        ("Fully lined through the body.", "Lined bodice"),
    ),
}
_STYLING = {
    "dress": (
        "Wear it with trainers by day and heels by night.",
        "Add a denim jacket when the evening cools.",
        "Layer it over a fine knit when the weather turns.",
    ),
    "skirt": (
        "Team it with a tucked-in tee and loafers.",
        "Try it with a chunky knit and boots.",
        "Pair it with a fitted bodysuit for evening.",
    ),
    "top": (
        "Tuck it into high-waisted jeans.",
        "Wear it loose over tailored trousers.",
        "Try it with a pleated skirt and sandals.",
    ),
    "jumpsuit": (
        "Finish with a belt and block heels.",
        "Throw a blazer over it for work.",
        "Add trainers and a cross-body bag for the weekend.",
    ),
}
_WASH = (
    "Machine wash cold", "Machine wash at 30°C", "Gentle machine wash at 30°C",
    "Hand wash only", "Dry clean only",
)  # fmt: skip
_WASH_EXTRAS = ("Do not tumble dry", "Line dry", "Wash with similar colours", "Reshape while damp")
_ANY_EXTRAS = ("Cool iron", "Iron on reverse", "Steam to remove creases", "Do not bleach")
_HEIGHTS = (("5'7\"", 170), ("5'8\"", 173), ("5'9\"", 175), ("5'10\"", 178), ("5'11\"", 180))
_SIZES = (("UK 6", "EU 34", "US 2", "XS"), ("UK 8", "EU 36", "US 4", "S"),
          ("UK 10", "EU 38", "US 6", "M"), ("UK 12", "EU 40", "US 8", "M"))  # fmt: skip
# Centimetres measured on a UK 10 for each length; tops have no length attribute.
_MEASURE_CM = {
    "dress": ("Length from shoulder", {"mini": 84, "knee": 98, "midi": 116, "maxi": 142}),
    "skirt": ("Length from waist", {"mini": 42, "knee": 58, "midi": 76, "maxi": 96}),
    "jumpsuit": ("Inside leg", {"mini": 8, "knee": 38, "midi": 58, "maxi": 78}),
}
_CODE_LABELS = ("Product code: {}", "SKU: {}", "Style no. {}", "Item no. {}", "Ref. {}")
_SMALL_WORDS = {"in", "with", "the", "a", "and", "of"}


def _fill(template: str, slots: dict[str, str]) -> str:
    """Format a template; slots change the next word, so fix "a"/"an" and the capital after."""
    text = template.format(**slots)
    text = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)
    return text[0].upper() + text[1:]


def _usable(templates: tuple[str, ...], slots: dict[str, str]) -> list[str]:
    """Templates whose slots all exist, so a skirt never gets a sleeve sentence."""
    return [t for t in templates if {f for _, f, _, _ in Formatter().parse(t) if f} <= slots.keys()]


def _title_case(text: str) -> str:
    words = text.split(" ")
    return " ".join(
        w if i and w in _SMALL_WORDS else re.sub(r"(^|-)([a-z])", lambda m: m[1] + m[2].upper(), w)
        for i, w in enumerate(words)
    )


def _attribute_line(
    product: dict, attribute: str, bullet: bool, rng: random.Random, slots: dict[str, str]
) -> str:
    """A detail sentence (or a bullet) that names this product's value of `attribute`."""
    table = _DETAILS[attribute]
    sentences, bullets = table.get(product[attribute], table.get("*"))
    return _fill(rng.choice(bullets if bullet else sentences), slots)


def _fabric_part(product: dict, slots: dict[str, str], rng: random.Random) -> str:
    lines = [rng.choice(("Shell", "Main", "Composition", "Fabric")) + ": " + slots["composition"]]
    if product["category"] != "top" and rng.random() < 0.5:
        lines.append("Lining: 100% " + rng.choice(("polyester", "viscose", "cotton")))
    return ". ".join(lines) + "."


def _care_part(rng: random.Random) -> str:
    wash = rng.choice(_WASH)
    extras = _ANY_EXTRAS if wash == "Dry clean only" else _WASH_EXTRAS + _ANY_EXTRAS
    steps = [wash, *rng.sample(extras, rng.randint(1, 3))]
    style = rng.randrange(3)
    if style == 0:
        return "Care: " + "; ".join(s[0].lower() + s[1:] for s in steps) + "."
    if style == 1:
        return " ".join(s + "." for s in steps)
    return "Care:\n" + "\n".join("- " + s for s in steps)


def _fit_part(product: dict, rng: random.Random) -> str:
    notes = [
        rng.choice(
            (
                "True to size.",
                "Fits true to size.",
                "Runs small, so we recommend sizing up.",
                "Relaxed fit; size down for a closer fit.",
                "Regular fit.",
            )
        )
    ]
    (feet, cm), (uk, eu, us, letter) = rng.choice(_HEIGHTS), rng.choice(_SIZES)
    notes.append(
        rng.choice(
            (
                f"Model is {feet} / {cm} cm and wears a {uk} / {eu}.",
                f"Our model is {cm} cm tall and wears a size {uk} ({us}).",
                f"Model wears a size {letter} and is {feet}.",
                f"The model is {feet} and wears {eu}.",
            )
        )
    )
    if product["category"] in _MEASURE_CM and rng.random() < 0.5:
        label, by_length = _MEASURE_CM[product["category"]]
        notes.append(f"{label}: {by_length[product['length']] + rng.randint(-2, 2)} cm (UK 10).")
    return " ".join(notes)


def _details_part(
    product: dict,
    topics: list[str],
    construction: list[tuple[str, str]],
    rng: random.Random,
    slots: dict[str, str],
) -> str:
    sentences = [_attribute_line(product, a, False, rng, slots) for a in topics]
    sentences += [sentence for sentence, _ in construction]
    if not sentences or rng.random() < 0.4:
        sentences.append(rng.choice(_STYLING[product["category"]]))
    rng.shuffle(sentences)
    return " ".join(sentences)


def _bullets_part(
    product: dict,
    topics: list[str],
    construction: list[tuple[str, str]],
    with_composition: bool,
    rng: random.Random,
    slots: dict[str, str],
) -> str:
    bullets = [_attribute_line(product, a, True, rng, slots) for a in topics]
    bullets += [bullet for _, bullet in construction]
    if with_composition:
        bullets.append(slots["composition"].capitalize())
    heading = rng.choice(("", "Details:\n", "Features:\n", "Key features:\n"))
    return heading + "\n".join("- " + b for b in bullets)


def _extra_part(kind: str, product: dict, slots: dict[str, str], rng: random.Random) -> str:
    if kind == "fabric":
        return _fabric_part(product, slots, rng)
    if kind == "care":
        return _care_part(rng)
    if kind == "fit":
        return _fit_part(product, rng)
    return rng.choice(_CODE_LABELS).format(product["sku"])


def write_copy(product: dict, rng: random.Random) -> tuple[str, str]:
    """(title, description) for a demo product; names every attribute, never a wrong one.

    The description alone covers every attribute: whatever the opening sentence leaves
    out goes into the detail sentences or the bullet list.
    """
    category = product["category"]
    attributes = CATEGORY_ATTRIBUTES[category]
    slots = _slots(product, rng)
    title = _title_case(_fill(rng.choice(_usable(_TITLES, slots)), slots))

    opening = _fill(rng.choice(_usable(_OPENINGS, slots)), slots)
    if rng.random() < 0.25:
        opening += " " + rng.choice(_FOLLOW_UPS)
    missing = [a for a in attributes if a not in find_mentions(opening)]
    covered = [a for a in attributes if a not in missing]
    parts = [opening]

    body = rng.choice(("details", "bullets", "both"))
    construction = rng.sample(_CLOSURES[category], rng.randint(0, 1))
    construction += rng.sample(_FEATURES[category], rng.randint(1, 3))
    rng.shuffle(construction)
    if body != "bullets":
        topics = missing + rng.sample(covered, min(len(covered), rng.randint(0, 1)))
        split = len(construction) // 2 if body == "both" else len(construction)
        parts.append(_details_part(product, topics, construction[:split], rng, slots))
        construction = construction[split:]
    extras = ["fabric", "care", "fit", "code"]
    if body != "details":
        must = missing if body == "bullets" else []
        topics = [a for a in attributes if a in must or rng.random() < 0.5]
        with_composition = rng.random() < 0.3
        if with_composition:
            extras.remove("fabric")
        parts.append(_bullets_part(product, topics, construction, with_composition, rng, slots))

    # Extras in a random order; more are added while the copy is still thin.
    rng.shuffle(extras)
    wanted = rng.randint(0, 6 - len(parts))
    for count, kind in enumerate(extras):
        if count >= wanted and (len(" ".join(parts).split()) >= 40 or len(parts) == 6):
            break
        parts.append(_extra_part(kind, product, slots, rng))
    return title, "\n".join(parts)
