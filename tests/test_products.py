"""Composed products: each check on constructed cases, regeneration from provenance, exports.

The shipped demo models (generator, tagger with its text branch, writer) are small enough to
compose a few products in seconds, so these tests run the real pipeline.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from tiny_models import demo_generator_trained_on

from fauxshop.catalog.store import Store
from fauxshop.errors import FauxshopError
from fauxshop.image.checkpoint import generator_fingerprint, load_generator, read_snapshot
from fauxshop.metrics.text import TrainingIndex
from fauxshop.products import compose as compose_module
from fauxshop.products.checks import (
    RealCatalog,
    grounded_text,
    tags_from_probs,
    text_novelty,
    title_from_tags,
)
from fauxshop.products.compose import SURPLUS, compose, format_report, regenerate
from fauxshop.products.config import ComposeConfig
from fauxshop.products.export import first_new_seed, gallery_html, run_folder, save_products
from fauxshop.products.models import (
    DEMO_GENERATOR,
    DEMO_TAGGER,
    DEMO_WRITER,
    ProductModels,
    choose_real_archive,
    open_generator,
)
from fauxshop.tagger.calibration import Calibration
from fauxshop.tagger.model import load_tagger
from fauxshop.tagger.scoring import image_features
from fauxshop.tagger.text import load_text_tagger
from fauxshop.text.models import load_trained
from fauxshop.workspace import Workspace

HEADS = {
    "category": ("dress", "skirt"),
    "sleeve": ("sleeveless", "long"),
    "colour": ("red", "blue"),
}
FAST = {"max_new_tokens": 60, "n": 2, "max_candidates": 4}


def fast(**changes) -> ComposeConfig:
    """Short descriptions and few candidates: seconds, not minutes."""
    return ComposeConfig(**{**FAST, **changes})


def test_tags_keep_confident_attributes_the_category_has():
    probs = {
        "category": torch.tensor([0.1, 0.9]),  # a skirt: it has no sleeve
        "sleeve": torch.tensor([0.0, 1.0]),
        "colour": torch.tensor([0.55, 0.45]),
    }
    assert tags_from_probs(probs, HEADS, 0.5) == (
        "skirt",
        {"colour": "red"},
        {"category": pytest.approx(0.9), "colour": pytest.approx(0.55)},
    )
    assert tags_from_probs(probs, HEADS, 0.6)[1] == {}  # not sure enough of the colour
    probs["category"] = torch.tensor([0.8, 0.2])
    assert tags_from_probs(probs, HEADS, 0.5)[1] == {"sleeve": "long", "colour": "red"}
    assert title_from_tags("dress", {"sleeve": "long", "colour": "red"}) == "Long-sleeved red dress"


def test_the_text_keeps_only_sentences_the_photos_tags_support():
    context = "sleeveless red knee-length dress"
    text = "A red dress, sleeveless, to the knee. Fully lined!\nDetails:\n- In red\n- Pockets"
    assert grounded_text(text, context) == (text, [])
    written = (
        "A blue dress with long sleeves. It has pockets. A floral print for spring.\n"
        "Details:\n- Floral print\n- In blue\nCare:\n- Dry clean only"
    )
    kept, dropped = grounded_text(written, context)
    # another value of a tag (blue, long) and a print the photo's tags never claimed both go
    assert dropped == ["A blue dress with long sleeves.", "A floral print for spring.",
                       "- Floral print", "- In blue"]  # fmt: skip
    assert kept == "It has pockets.\nCare:\n- Dry clean only"  # the emptied list's heading too
    codes = ["SKU: FX-004211", "Product code: FX-000017", "Style no. 8812", "- Ref. AB-77",
             "Item number 12345", "Model #X200"]  # fmt: skip
    kept_lines = "Style it with boots.\nModel is 5'9\" and wears UK 8."
    coded = "A red dress.\n" + "\n".join(codes) + "\n" + kept_lines
    assert grounded_text(coded, context) == ("A red dress.\n" + kept_lines, codes)


def test_novelty_is_measured_in_the_catalogs_own_units():
    features = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    real = RealCatalog(["a", "b", "c", "d"], features, TrainingIndex(["one two three"]))
    assert real.typical_distance == pytest.approx(1.5)  # median of NN gaps 1, 1, 2, sqrt(10)
    [(index, distance)] = real.nearest(torch.tensor([1.0, 0.5]))
    assert (index, distance) == (1, pytest.approx(0.5 / 1.5))
    assert real.nearest(features[3])[0][1] == 0.0  # a copy of a real photo
    assert [i for i, _ in real.nearest(torch.tensor([1.0, 0.5]), k=3)] == [1, 0, 2]
    copies = TrainingIndex(["a red dress with long sleeves and a tie waist"])
    assert text_novelty("A red  dress with long sleeves and a tie waist", copies) == (True, 1.0)
    copy, share = text_novelty("a red dress with pockets and a belt", copies)
    assert not copy and share == pytest.approx(4 / 8)  # "a red dress with"


@pytest.fixture(scope="module")
def models() -> ProductModels:
    return demo_models()


def demo_models() -> ProductModels:
    """The demo models, with a real catalog made of a few generated photos (their features)
    and two unrelated descriptions: nothing composed below copies it unless a test says so."""
    G = load_generator(DEMO_GENERATOR)
    tagger = load_tagger(DEMO_TAGGER)
    writer, tokenizer, meta = load_trained(DEMO_WRITER)
    from fauxshop.latent.generate import generate

    photos = generate(G, range(1000, 1008), psi=0.7, class_index=0)
    real = RealCatalog(
        [f"real-{i}" for i in range(8)],
        image_features(tagger, photos),
        TrainingIndex(["an unrelated text about shoes", "another one about hats"]),
        photos,
    )
    hashes = {"generator": generator_fingerprint(G), "tagger": "t", "writer": "w"}
    return ProductModels(
        G, read_snapshot(DEMO_GENERATOR).meta["label_names"], tagger,
        load_text_tagger(DEMO_TAGGER), writer, tokenizer, meta["format"], real, hashes,
    )  # fmt: skip


def test_compose_records_every_check_and_accepts_clean_products(models):
    result = compose(models, fast(category="dress"))
    report = result.report()
    assert report["accepted"] == len(result.accepted) <= 2 and report["candidates"] >= 2
    assert set(report["seconds"]) == {"generate", "tag", "write", "verify", "novelty"}
    for c in result.candidates:
        checks = c.record["checks"]
        assert set(checks) == {"on_category", "category_agrees", "grounded_text",
                               "image_novel", "text_novel"}  # fmt: skip
        accepted = all(check["passed"] for check in checks.values())
        assert c.record["status"] in (("accepted", SURPLUS) if accepted else ("rejected",))
        assert c.record["title"].lower() == c.record["provenance"]["context"]
        assert c.record["category"] == "dress" or not checks["on_category"]["passed"]
        assert len(c.record["provenance"]["w"]) == models.G.w_dim
    assert report["accepted"] >= 1


def test_a_copy_of_the_catalog_is_rejected(models):
    first = compose(models, fast(n=1)).candidates[0]
    photo = image_features(models.tagger, first.image[None])
    copied = RealCatalog(
        ["copied", *models.real.skus], torch.cat([photo, models.real.features]),
        TrainingIndex([first.record["description"], "an unrelated text about shoes"]),
    )  # fmt: skip
    again = compose(replace(models, real=copied), fast(n=1, max_candidates=1))
    checks = again.candidates[0].record["checks"]
    assert again.candidates[0].record["status"] == "rejected"
    assert not checks["image_novel"]["passed"] and checks["image_novel"]["distance"] == 0.0
    assert checks["image_novel"]["nearest_sku"] == "copied"
    assert not checks["text_novel"]["passed"] and checks["text_novel"]["exact_copy"]


class SaysSkirt:
    """A text tagger sure that every text is a skirt."""

    heads = {"category": ("dress", "jumpsuit", "skirt", "top")}

    def predict(self, texts):
        return {"category": torch.tensor([[0.0, 0.0, 1.0, 0.0]]).expand(len(texts), -1)}


def test_a_contradicting_or_off_category_description_is_rejected(models, monkeypatch):
    def long_sleeved_skirt(models, contexts, seeds, sampling, width):
        return ["A blue skirt with long sleeves."] * len(contexts)

    monkeypatch.setattr(compose_module, "_write", long_sleeved_skirt)
    strict = replace(models, text_tagger=SaysSkirt())
    candidate = compose(strict, fast(n=1, max_candidates=1)).candidates[0]
    checks = candidate.record["checks"]
    assert candidate.record["category"] == "dress"
    assert checks["category_agrees"] == {"passed": False, "fused": "skirt"}
    assert checks["grounded_text"] == {
        "passed": False, "words": 0, "dropped_sentences": ["A blue skirt with long sleeves."],
    }  # fmt: skip
    assert candidate.record["status"] == "rejected"


def test_a_tag_below_its_calibrated_threshold_is_left_out_of_title_and_context(models):
    plain = compose(models, fast(n=1, max_candidates=1)).candidates[0].record
    assert plain["attributes"], plain["title"]  # something to withhold
    head, value = next(iter(plain["attributes"].items()))
    p = plain["provenance"]["tag_confidence"][head]  # rounded to 4 places: either side of it
    for threshold, kept in ((p - 1e-4, True), (p + 1e-3, False)):
        heads = {head: {"threshold": 0.0, "classes": {value: {"threshold": threshold}}}}
        calibrated = replace(models, calibration=Calibration("", 0.9, heads))
        record = compose(calibrated, fast(n=1, max_candidates=1)).candidates[0].record
        others = {k: v for k, v in plain["attributes"].items() if k != head}
        assert record["attributes"] == (plain["attributes"] if kept else others)
        assert record["title"] == title_from_tags(record["category"], record["attributes"])
        assert record["provenance"]["context"] == record["title"].lower()
        assert record["provenance"]["calibrated_precision"] == 0.9
    assert record["title"] != plain["title"]


def test_provenance_regenerates_the_same_photo_and_text(models):
    product = compose(models, fast(n=1)).candidates[0].record
    image, description = regenerate(models, json.loads(json.dumps(product["provenance"])))
    first = compose(models, fast(n=1)).candidates[0]
    assert np.array_equal(image, first.image) and description == product["description"]
    other = dict(product["provenance"], models={**product["provenance"]["models"], "writer": "x"})
    with pytest.raises(FauxshopError, match="writer differ"):
        regenerate(models, other)


def test_without_a_category_each_class_gets_its_share_judged_by_its_own_label(models):
    result = compose(models, fast(n=4, max_candidates=12, seed_start=7))
    names = models.label_names
    report = result.report()
    assert report["seeds"] == [7, 6 + len(result.candidates)]
    assert [c.record["provenance"]["class_index"] for c in result.candidates[:4]] == [0, 1, 2, 3]
    off_label = 0
    for c in result.candidates:
        check, made_for = (
            c.record["checks"]["on_category"],
            names[c.record["provenance"]["class_index"]],
        )
        assert check["expected"] == made_for and check["passed"] == (
            c.record["category"] == made_for
        )
        off_label += c.record["category"] != made_for
    assert off_label >= 1  # the demo generator draws dress-like photos for other labels too
    assert all(
        c.record["category"] == names[c.record["provenance"]["class_index"]]
        for c in result.accepted
    )
    assert set(report["per_class"]) == set(names)
    for name, counts in report["per_class"].items():
        assert (
            counts["wanted"] == 1
            and counts["accepted"]
            == sum(c.record["category"] == name for c in result.accepted)
            <= 1
        )
        assert counts["candidates"] == sum(
            names[c.record["provenance"]["class_index"]] == name for c in result.candidates
        )
    first_accepted = {}  # one batch (12 seeds): past its share a class's passes are surplus
    for c in result.candidates:
        k = c.record["provenance"]["class_index"]
        passed = all(check["passed"] for check in c.record["checks"].values())
        if passed:
            first_accepted.setdefault(k, c)
        assert c.record["status"] == (
            ("accepted" if first_accepted[k] is c else SURPLUS) if passed else "rejected"
        )
    assert report["surplus"] == sum(c.record["status"] == SURPLUS for c in result.candidates)
    assert "| dress | 1 |" in format_report(report) and "seeds 7-" in format_report(report)


def test_exports_and_the_store_hold_the_accepted_products(models, tmp_path):
    result = compose(models, fast(n=2))
    paths = save_products(result, models.real, tmp_path / "out")
    accepted = result.accepted
    lines = paths["jsonl"].read_text().splitlines()
    assert [json.loads(line)["sku"] for line in lines] == [c.record["sku"] for c in accepted]
    with open(paths["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["title"] for r in rows] == [c.record["title"] for c in accepted]
    page = paths["html"].read_text()
    for c in accepted:
        assert (tmp_path / "out" / "images" / f"{c.record['sku']}.png").is_file()
        assert (tmp_path / "out" / "real" / f"{c.record['nearest_sku']}.png").is_file()
        assert c.record["title"] in page
    with Store(tmp_path / "catalog.db") as store:
        assert store.save_generated(c.record for c in result.candidates) == len(result.candidates)
        stored = store.generated(status="accepted")
        assert [r["sku"] for r in stored] == [c.record["sku"] for c in accepted]
        assert stored[0]["nearest_product_id"] is None  # the real catalog here is not in it
        assert (
            json.loads(stored[0]["provenance"])["seed"] == accepted[0].record["provenance"]["seed"]
        )


def test_a_gallery_card_lists_the_tags_a_product_claims_and_nothing_more():
    """A skirt that claims no attribute shows "skirt", not "skirt ·" with nothing after."""
    from fauxshop.products.compose import Candidate

    def card(category: str, attributes: dict) -> Candidate:
        record = {"sku": f"fake-{category}", "title": category.title(), "category": category,
                  "attributes": attributes, "description": "A new one.",
                  "nearest_sku": "FX-1", "checks": {"image_novel": {"distance": 1.0}}}  # fmt: skip
        return Candidate(record, np.zeros((4, 2, 3), np.uint8), 0)

    report = {"seeds": [0, 1], "accepted": 2, "candidates": 2, "acceptance_rate": 1.0,
              "per_class": {}, "pass_rate": {}, "real_archive": "real.zip"}  # fmt: skip
    page = gallery_html([card("skirt", {}), card("top", {"sleeve": "long", "colour": "red"})],
                        report, show_real=True)  # fmt: skip
    assert '<div class="tags">skirt</div>' in page
    assert '<div class="tags">top · colour: red, sleeve: long</div>' in page


def test_a_new_run_continues_the_seeds_in_its_own_gallery_folder(models, tmp_path):
    db = tmp_path / "catalog.db"
    assert first_new_seed(db, models.hashes) == 0
    first = compose(models, fast(n=1, max_candidates=2))
    out = run_folder(tmp_path / "products", first)
    save_products(first, models.real, out, db)
    assert out.name == f"seeds-0-{first.seeds[1]}"
    start = first_new_seed(db, models.hashes)
    assert start == first.seeds[1] + 1 and first_new_seed(db, {"generator": "other"}) == 0
    second = compose(models, fast(n=1, max_candidates=2, seed_start=start))
    skus = {c.record["sku"] for c in first.candidates}
    assert skus and not skus & {c.record["sku"] for c in second.candidates}
    again = run_folder(tmp_path / "products", second)
    save_products(second, models.real, again, db)
    assert again != out and (out / "index.html").is_file() and (again / "index.html").is_file()
    (out / "images" / "stale.png").write_bytes(b"from an older run")
    save_products(first, models.real, out)  # the same seeds again: replaces that gallery whole
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(
        f"{c.record['sku']}.png" for c in first.accepted
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.db", "products"]  # no temp
    assert sorted(p.name for p in (tmp_path / "products").iterdir()) == [out.name, again.name]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep")
    with pytest.raises(FauxshopError, match="not a products gallery"):
        save_products(first, models.real, tmp_path / "notes")
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep"


def test_novelty_is_judged_against_the_generators_own_training_archive(tmp_path):
    ws = Workspace.open(tmp_path / "work")
    recorded = tmp_path / "elsewhere" / "demo-64x32.zip"  # not here yet
    snapshot = demo_generator_trained_on(tmp_path, recorded)
    with pytest.raises(FauxshopError, match="no real catalog"):
        choose_real_archive(ws, generator=snapshot)
    ws.archives_dir.mkdir()
    trained_on = ws.archives_dir / recorded.name
    trained_on.write_bytes(b"zip")
    newest = ws.archives_dir / "demo-128x64.zip"
    newest.write_bytes(b"zip")
    assert ws.newest_archive() == newest
    named = (trained_on, "named as the generator's training archive")
    assert choose_real_archive(ws, generator=snapshot) == named
    assert choose_real_archive(ws, newest, generator=snapshot) == (newest, "--real")
    trained_on.unlink()
    path, why = choose_real_archive(ws, generator=snapshot)
    assert path == newest and why.startswith("newest in the workspace; the generator's")
    recorded.parent.mkdir()  # now the recorded archive is here
    recorded.write_bytes(b"zip")
    expected = (recorded, "the generator's training archive")
    assert choose_real_archive(ws, generator=snapshot) == expected
    opened = open_generator(snapshot)  # what the verbs pass on, so a .pkl is imported once
    assert open_generator(opened) is opened
    assert choose_real_archive(ws, generator=opened) == expected
