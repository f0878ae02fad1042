from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import CATEGORIES, calibrated_scorer, directions_generator

from fauxshop.errors import FauxshopError
from fauxshop.latent.config import RareConfig
from fauxshop.latent.generate import generate, seeds_to_ws
from fauxshop.latent.rare import mix_class_ws, rare_samples
from fauxshop.tagger.scoring import image_features, score_images


@pytest.fixture(scope="module")
def G():
    return directions_generator()


@pytest.fixture(scope="module")
def scorer(G):
    return calibrated_scorer(G)


def jumpsuits(scorer, images: np.ndarray) -> np.ndarray:
    return (score_images(scorer, images)["category"].argmax(dim=1) == 2).numpy()


def test_filter_keeps_the_first_hits_and_its_yield_is_exact(G, scorer):
    result = rare_samples(G, scorer, RareConfig("jumpsuit", n=5, seed_start=200))
    hits = np.flatnonzero(jumpsuits(scorer, generate(G, range(200, 400))))
    assert len(hits) >= 5
    assert result.seeds == [200 + int(i) for i in hits[:5]]
    assert np.array_equal(result.images, generate(G, result.seeds))
    torch.testing.assert_close(result.ws, seeds_to_ws(G, result.seeds))
    report = result.report
    assert report["sampled"] == hits[4] + 1 and report["setup_samples"] == 0
    assert report["yield_per_1000"] == pytest.approx(5000 / (hits[4] + 1))
    assert report["precision"] == 1.0 and "by construction" in report["precision_note"]
    features = image_features(scorer, result.images)
    assert report["diversity"] == pytest.approx(float(torch.pdist(features).mean()))
    assert report["novelty"] is None and report["samples_per_s"] > 0


def test_filter_bar_counts_hits_wanted_and_shows_max_samples_as_a_bound(
    G, scorer, capsys, monkeypatch
):
    monkeypatch.delenv("FAUXSHOP_QUIET")
    rare_samples(G, scorer, RareConfig("jumpsuit", n=5, max_samples=100_000))
    err = capsys.readouterr().err
    assert "5/5" in err and "hit" in err and "/100000" not in err
    assert "looked at 256 of at most 100000" in err
    rare_samples(G, scorer, RareConfig("jumpsuit", n=1000, max_samples=150))
    assert "looked at 150 of at most 150" in capsys.readouterr().err


def test_filter_stops_at_max_samples(G, scorer):
    result = rare_samples(G, scorer, RareConfig("jumpsuit", n=1000, max_samples=150))
    hits = jumpsuits(scorer, generate(G, range(150)))
    assert result.report["kept"] == hits.sum() < 1000
    assert result.report["sampled"] == 150
    assert result.report["yield_per_1000"] == pytest.approx(1000 * hits.mean())


def test_filter_accepts_any_head_and_reports_novelty(G, scorer):
    result = rare_samples(G, scorer, RareConfig("brightness:bright", n=4))
    assert result.report["target"] == "brightness:bright"
    own = image_features(scorer, result.images)
    again = rare_samples(G, scorer, RareConfig("brightness:bright", n=4), real_features=own)
    assert again.report["novelty"] == pytest.approx(0.0, abs=1e-6)


def test_centroid_samples_lie_near_the_class_centroid(G, scorer):
    config = RareConfig("jumpsuit", n=16, method="centroid", class_n=6, mix=0.25, seed_start=300)
    result = rare_samples(G, scorer, config)
    assert result.images.shape == (16, 16, 16, 3)
    assert result.seeds[:12] == list(range(300, 312)) and result.seeds[12:] == [None] * 4
    report = result.report
    assert report["setup_samples"] > 0 and report["sampled"] == 16
    class_ws = rare_samples(G, scorer, RareConfig("jumpsuit", n=6, seed_start=300)).ws
    centroid = class_ws.mean(dim=0)
    near = (result.ws[:12] - centroid).flatten(1).norm(dim=1).mean()
    far = (seeds_to_ws(G, range(300, 312)) - centroid).flatten(1).norm(dim=1).mean()
    assert near < 0.7 * far
    assert report["precision"] == pytest.approx(jumpsuits(scorer, result.images).mean())
    hits = jumpsuits(scorer, result.images).sum()
    total = report["sampled"] + report["setup_samples"]
    assert report["yield_per_1000"] == pytest.approx(1000 * hits / total)


def test_centroid_uses_given_class_ws(G, scorer):
    given = seeds_to_ws(G, [7, 8, 9])[:, 0]  # e.g. projected photos, one w each
    config = RareConfig("dress", n=4, method="centroid", sigma=0.0, mix=0.0)
    result = rare_samples(G, scorer, config, class_ws=given)
    assert result.report["setup_samples"] == 0
    torch.testing.assert_close(result.ws, given.mean(dim=0).expand(4, G.num_ws, -1))
    costed = rare_samples(G, scorer, config, class_ws=given, class_ws_cost=996)
    assert costed.report["setup_samples"] == 996
    hits = int(costed.hits.sum())
    assert costed.report["yield_per_1000"] == pytest.approx(1000 * hits / 1000)


def test_realism_is_the_share_of_samples_on_the_real_manifold(G, scorer):
    result = rare_samples(G, scorer, RareConfig("brightness:bright", n=8))
    own = image_features(scorer, result.images)
    assert rare_samples(G, scorer, RareConfig("brightness:bright", n=8), real_features=own).report[
        "realism"
    ] == pytest.approx(1.0)
    far = rare_samples(
        G, scorer, RareConfig("brightness:bright", n=8), real_features=own[:5] + 100.0
    ).report
    assert far["realism"] == 0.0 and far["novelty"] > 50
    assert result.report["realism"] is None  # no real photos given


def test_style_mixes_take_coarse_rows_from_one_class_w_and_the_rest_from_another():
    class_ws = torch.arange(3.0).reshape(3, 1, 1).expand(3, 6, 2)
    mixed = mix_class_ws(class_ws, 10, seed=0)
    coarse, rest = mixed[:, :4, 0], mixed[:, 4:, 0]
    assert (coarse == coarse[:, :1]).all() and (rest == rest[:, :1]).all()
    assert (coarse[:, 0] != rest[:, 0]).all()
    assert mix_class_ws(class_ws[:1], 10, seed=0).shape == (0, 6, 2)


def test_conditional_needs_a_conditional_generator(G, scorer):
    with pytest.raises(FauxshopError, match="unconditional"):
        rare_samples(G, scorer, RareConfig("jumpsuit", method="conditional"))


def test_conditional_samples_with_the_class_label(scorer):
    Gc = directions_generator(c_dim=3)
    config = RareConfig("jumpsuit", n=6, method="conditional", seed_start=40)
    result = rare_samples(Gc, scorer, config, label_names=CATEGORIES)
    assert result.seeds == list(range(40, 46))
    assert np.array_equal(result.images, generate(Gc, result.seeds, class_index=2))
    assert result.report["precision"] == pytest.approx(jumpsuits(scorer, result.images).mean())
    with pytest.raises(FauxshopError, match="unknown class"):
        rare_samples(Gc, scorer, config, label_names=["a", "b", "c"])


def test_config_rejects_bad_values():
    with pytest.raises(FauxshopError, match="method"):
        RareConfig("jumpsuit", method="magic")
    with pytest.raises(FauxshopError, match="n and max_samples"):
        RareConfig("jumpsuit", n=0)
