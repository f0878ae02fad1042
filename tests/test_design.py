"""Design: a shopper's words -> tag values; the three methods on a tiny generator with a
scorer of known behaviour; the verb on the demo models, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tiny_models import CATEGORIES, FakeScorer, calibrated_scorer, directions_generator

from fauxshop.cli import main
from fauxshop.design.config import DesignConfig
from fauxshop.design.methods import Bank, design_images
from fauxshop.design.request import parse_request
from fauxshop.errors import FauxshopError
from fauxshop.latent.generate import seeds_to_ws

# ---------------------------------------------------------------------------------- parsing


def test_a_request_becomes_a_category_and_one_value_per_attribute():
    r = parse_request("Red long-sleeved  striped JUMPSUIT")
    assert r.category == "jumpsuit" and r.category_source == "named"
    assert r.attributes == {"colour": "red", "sleeve": "long", "pattern": "stripes"}
    assert r.targets == {"category": "jumpsuit", **r.attributes} and r.unknown == []
    r = parse_request("navy blue skirts with polka dots in a midi length")
    assert (r.category, r.attributes) == ("skirt", {"colour": "navy", "pattern": "dots",
                                                    "length": "midi"})  # fmt: skip


def test_words_it_cannot_place_are_reported_back():
    r = parse_request("an asymmetric red dress with pockets")
    assert r.category == "dress" and r.attributes == {"colour": "red"}
    assert r.unknown == ["asymmetric", "pockets"]  # "an", "with" are function words


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("something nice", "names no category .* \\(not understood: 'something', 'nice'\\)"),
        ("", "empty"),
        ("red blue dress", "two values of one attribute \\(colour: blue or red\\)"),
        ("long-sleeved skirt", "a skirt has no sleeve"),
        ("a dress and a top", "names dress and top"),
        ("x" * 201, "longer than 200"),
    ],
)
def test_a_request_it_cannot_use_is_a_clear_error(text, reason):
    with pytest.raises(FauxshopError, match=reason):
        parse_request(text)


class WordTagger:
    """A text tagger that reads 'overall' as a jumpsuit."""

    heads = {"category": ("dress", "jumpsuit", "skirt", "top")}

    def predict(self, texts):
        hit = float("overall" in texts[0])
        return {"category": torch.tensor([[1 - hit, hit, 0.0, 0.0]])}


def test_a_request_without_a_category_takes_the_text_taggers_or_the_first_that_fits():
    r = parse_request("red striped overall", WordTagger())
    assert (r.category, r.category_source, r.unknown) == ("jumpsuit", "text tagger", ["overall"])
    assert parse_request("maxi plaid").category == "dress"  # a top has no length
    assert parse_request("maxi plaid").category_source == "default"


# ---------------------------------------------------------------------------------- methods

TARGETS = {"category": "jumpsuit", "brightness": "bright"}  # the scorer's rarest class


@pytest.fixture(scope="module")
def tiny():
    G = directions_generator()
    scorer = calibrated_scorer(G)
    return G, scorer, Bank(G, scorer, 400)


def run(tiny, **kw):
    G, scorer, bank = tiny
    return design_images(G, scorer, TARGETS, DesignConfig(n=4, bank_samples=400, **kw), None, bank)


def test_reject_keeps_the_matches_first_and_is_the_same_for_a_seed(tiny):
    found = run(tiny, method="reject", max_samples=128, seed_start=3, match_confidence=0.5)
    assert found.images.shape == (4, 16, 16, 3) and found.images.dtype == np.uint8
    assert found.ws.shape == (4, 6, 32) and len(found.seeds) == 4
    assert found.matched.any(), "a tenth of samples are jumpsuits: 128 hold some bright ones"
    order = found.matched.int().tolist()
    assert order == sorted(order, reverse=True)  # matches first, then the best of the rest
    again = run(tiny, method="reject", max_samples=128, seed_start=3, match_confidence=0.5)
    assert np.array_equal(again.images, found.images) and again.seeds == found.seeds


def test_a_match_needs_the_tagger_sure_of_every_value_asked():
    from fauxshop.design.methods import judge

    probs = {"category": torch.tensor([[0.1, 0.9], [0.4, 0.6], [0.6, 0.4]]),
             "colour": torch.tensor([[0.2, 0.8], [0.05, 0.95], [0.1, 0.9]])}  # fmt: skip
    columns = {"category": 1, "colour": 1}
    assert judge(probs, columns)[1].tolist() == [True, True, False]  # top class is enough
    assert judge(probs, columns, 0.75)[1].tolist() == [True, False, False]
    assert judge(probs, columns, 0.85)[1].tolist() == [False, False, False]


def test_reject_counts_only_confident_photos_as_matches(tiny):
    from fauxshop.design.methods import judge, value_columns
    from fauxshop.tagger.scoring import score_images

    _, scorer, _ = tiny
    loose = run(tiny, method="reject", max_samples=128, seed_start=3, match_confidence=0.0)
    strict = run(tiny, method="reject", max_samples=128, seed_start=3, match_confidence=0.83)
    assert int(loose.matched.sum()) == 1  # its one bright jumpsuit: 0.82 sure of both values
    assert not strict.matched.any() and strict.seeds[0] == loose.seeds[0]  # best of the rest
    columns = value_columns(scorer, TARGETS)
    assert judge(score_images(scorer, loose.images[:1]), columns, 0.8)[1].item()


def test_reject_truncates_towards_the_asked_class():
    """As `products` does: towards the global mean a rare class drifts to the common one."""
    G = directions_generator(c_dim=3)
    config = DesignConfig(n=4, max_samples=64, seed_start=5)
    found = design_images(G, FakeScorer(), TARGETS, config, CATEGORIES)
    jumpsuit = CATEGORIES.index("jumpsuit")
    towards = seeds_to_ws(G, found.seeds, config.psi, jumpsuit, truncate_to="class")
    assert torch.equal(found.ws, towards)
    assert not torch.equal(found.ws, seeds_to_ws(G, found.seeds, config.psi, jumpsuit))


def test_steer_moves_past_the_learned_boundaries(tiny):
    start = run(tiny, method="steer", margin=-1e9)  # never moves: the samples around the centroid
    steered = run(tiny, method="steer", margin=4.0)
    assert steered.log_prob.mean() > start.log_prob.mean() + 1
    assert steered.matched.sum() > start.matched.sum()
    assert np.array_equal(run(tiny, method="steer", margin=4.0).images, steered.images)


def test_optimise_raises_the_requests_log_probability_and_stays_deterministic(tiny):
    steered = run(tiny, method="optimise", steps=0, margin=0.0)
    optimised = run(tiny, method="optimise", steps=15, lr=0.05, margin=0.0)
    assert optimised.images.shape == (4, 16, 16, 3)
    assert optimised.log_prob.mean() > steered.log_prob.mean()
    assert not torch.equal(optimised.ws[:, 0], optimised.ws[:, -1])  # W+: rows move apart
    again = run(tiny, method="optimise", steps=15, lr=0.05, margin=0.0)
    assert torch.equal(again.ws, optimised.ws)


def test_optimise_can_start_from_rejects_samples(tiny):
    picked = run(tiny, method="reject", max_samples=64)
    optimised = run(tiny, method="optimise", start="reject", max_samples=64, steps=10, lr=0.05)
    assert optimised.seeds == picked.seeds  # the same samples, then optimised
    assert optimised.log_prob.mean() > picked.log_prob.mean()
    with pytest.raises(FauxshopError, match="start must be steer or reject"):
        DesignConfig(start="nowhere")


def test_a_value_the_tagger_cannot_score_is_refused(tiny):
    G, scorer, bank = tiny
    with pytest.raises(FauxshopError, match="cannot score colour 'red'"):
        design_images(G, scorer, {"category": "dress", "colour": "red"},
                      DesignConfig(method="steer"), None, bank)  # fmt: skip


@pytest.fixture(scope="module")
def models():
    from test_products import demo_models

    return demo_models()


@pytest.mark.parametrize("method", ["reject", "optimise"])
def test_a_design_record_regenerates_to_the_same_photo_and_text(models, method, tmp_path):
    import hashlib

    from test_products import fast

    from fauxshop.design.run import design_products
    from fauxshop.pixels import save_png
    from fauxshop.products.compose import check_regenerated, regenerate

    config = DesignConfig(n=2, method=method, max_samples=20, steps=2, bank_samples=100)
    result, designed = design_products(models, parse_request("black mini skirt"), config, fast())
    for c, matched in zip(result.candidates, designed.matched.tolist(), strict=True):
        assert c.record["checks"]["matches_request"]["passed"] == matched  # one rule, one sureness
        provenance = json.loads(json.dumps(c.record["provenance"]))  # as the store keeps it
        image, description = regenerate(models, provenance)
        sha = hashlib.sha256(image.tobytes()).hexdigest()
        assert sha == hashlib.sha256(c.image.tobytes()).hexdigest()
        assert description == c.record["description"]
        save_png(c.image, tmp_path / "photo.png")
        row = {"provenance": json.dumps(provenance), "image_path": str(tmp_path / "photo.png"),
               "description": c.record["description"]}  # fmt: skip
        assert check_regenerated(models, row) == (description, True, True)


# ---------------------------------------------------------------------------------- the verb


@pytest.fixture(scope="module")
def real_archive(tmp_path_factory):
    """40 demo products packed at the demo generator's 64x32."""
    from fauxshop.catalog.demo_catalog import write_demo_catalog

    root = tmp_path_factory.mktemp("design-real")
    write_demo_catalog(root / "catalog", n=40, seed=0)
    assert main(["ingest", str(root / "catalog" / "products.jsonl"), "--workdir", str(root)]) == 0
    assert main(["prune", "--workdir", str(root)]) == 0
    out = root / "real.zip"
    assert main(["pack", "--size", "64x32", "--out", str(out), "--workdir", str(root)]) == 0
    return out


def test_the_design_verb_prints_a_summary_and_saves_records_and_a_gallery(
    real_archive, tmp_path, capsys
):
    argv = ["design", "an asymmetric black mini skirt", "--n", "3", "--method", "steer",
            "--bank-samples", "200", "--real", str(real_archive), "--workdir", str(tmp_path),
            "--max-new-tokens", "60", "--min-words", "3"]  # fmt: skip
    code = main(argv)
    out = capsys.readouterr().out
    assert "request: category: skirt, colour: black, length: mini" in out
    assert "not understood: asymmetric" in out and "s per image" in out
    [folder] = (tmp_path / "exports" / "design").iterdir()
    assert folder.name == "an-asymmetric-black-mini-skirt-steer-seeds-0-2"
    records = [json.loads(line) for line in (folder / "products.jsonl").read_text().splitlines()]
    assert code == (0 if records else 1)
    assert (folder / "index.html").read_text().count('class="card"') == len(records)
    from fauxshop.catalog.store import Store

    with Store(tmp_path / "catalog.db") as store:
        stored = [dict(r) for r in store.generated()]
    assert len(stored) == 3  # every candidate, accepted or not
    for row in stored:
        checks, provenance = json.loads(row["checks"]), json.loads(row["provenance"])
        assert row["title"] == "Black mini skirt" and row["category"] == "skirt"
        assert set(checks) == {"on_category", "matches_request", "category_agrees",
                               "grounded_text", "image_novel", "text_novel"}  # fmt: skip
        assert provenance["method"] == "steer" and provenance["request"].startswith("an asym")
        assert len(provenance["ws"]) == 8 and provenance["context"] == "black mini skirt"
        assert (row["status"] == "accepted") == all(c["passed"] for c in checks.values())
    again = ["products", "--regenerate", stored[-1]["sku"], "--real", str(real_archive),
             "--workdir", str(tmp_path)]  # fmt: skip
    assert main(again) == 0, "rebuilt from its W+ latent and prompt width"
    assert "text identical" in capsys.readouterr().out


# ---------------------------------------------------------------------------------- the API


def test_the_design_endpoint_answers_photos_with_tags_and_says_why_it_refuses(tmp_path):
    from fastapi.testclient import TestClient
    from studio_fixture import demo_studio

    from fauxshop.web.app import MAX_JSON_BYTES, create_app

    studio = demo_studio(tmp_path)
    studio.design_bank_samples = 200
    client = TestClient(create_app(studio))
    answer = client.post("/api/design", json={"request": "red skirt, asymmetric", "n": 2,
                                               "method": "steer"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["request"]["targets"] == {"category": "skirt", "colour": "red"}
    assert body["request"]["unknown"] == ["asymmetric"] and len(body["products"]) == 2
    for product in body["products"]:
        assert product["image"].startswith("data:image/png;base64,")
        assert product["title"] == "Red skirt" and "category" in product["tags"]
        shown = product["tags"].get("category"), product["tags"].get("colour")
        if shown == ("skirt", "red"):  # a tag is shown only when sure; a match needs top class
            assert product["matches"]
    refusals = {
        "something nice": "names no category",
        "red blue dress": "two values of one attribute",
    }
    for text, reason in refusals.items():
        answer = client.post("/api/design", json={"request": text})
        assert answer.status_code == 422 and reason in answer.json()["detail"]
    answer = client.post("/api/design", json={"request": "dress", "method": "magic"})
    assert answer.status_code == 422 and answer.json()["detail"].startswith("body.method")
    answer = client.post("/api/design", json={"request": "dress", "n": 9})
    assert answer.status_code == 422 and "body.n" in answer.json()["detail"]
    big = {"request": "dress", "pad": "x" * MAX_JSON_BYTES}
    assert client.post("/api/design", json=big).status_code == 413
