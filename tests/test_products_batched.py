"""Products composed in batches: the same bits as one at a time, one tagger pass, the surplus
rule, and regeneration whatever batch a product was made in."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_products import fast, models  # noqa: F401  (the demo models fixture)

from fauxshop.errors import FauxshopError
from fauxshop.latent.generate import generate
from fauxshop.products import compose as compose_module
from fauxshop.products.checks import grounded_text
from fauxshop.products.compose import (
    BATCH,
    STAGES,
    SURPLUS,
    compose,
    compose_batch,
    compose_one,
    regenerate,
)
from fauxshop.products.config import CHUNK
from fauxshop.tagger.scoring import image_features, score_images, scores_and_features
from fauxshop.text.config import SamplingConfig
from fauxshop.text.sample import write


def _seconds() -> dict[str, float]:
    return dict.fromkeys(STAGES, 0.0)


def test_a_product_is_the_same_alone_and_in_a_batch(models):  # noqa: F811
    """40 candidates of every class in one chunk: three generate batches and three blocks of
    writer rows, each candidate the same bits alone, in reverse order and regenerated."""
    config = fast(max_new_tokens=40)
    jobs = [(seed, seed % 4) for seed in range(20, 60)]
    batch = compose_batch(models, config, jobs, _seconds())
    assert len({c.record["description"] for c in batch}) == len(jobs)  # each its seed's text
    backwards = compose_batch(models, config, jobs[::-1], _seconds())[::-1]
    for together, other in zip(batch, backwards, strict=True):  # other neighbours, same bits
        assert together.image.tobytes() == other.image.tobytes()
        assert together.record == other.record
    for i in (1, 37):
        alone = compose_one(models, config, *jobs[i], _seconds())
        assert alone.image.tobytes() == batch[i].image.tobytes()
        assert alone.record == batch[i].record  # title, description, checks, provenance
        image, description = regenerate(models, json.loads(json.dumps(alone.record["provenance"])))
        assert image.tobytes() == batch[i].image.tobytes()
        assert description == batch[i].record["description"]


def test_the_tagger_runs_once_per_batch_for_tags_and_novelty(models):  # noqa: F811
    images = generate(models.G, range(5), psi=0.7, class_index=1)
    probs, features = scores_and_features(models.tagger, images)
    assert torch.equal(features, image_features(models.tagger, images))
    assert probs.keys() == models.tagger.heads.keys()
    assert all(torch.equal(probs[k], v) for k, v in score_images(models.tagger, images).items())
    passes = []
    hook = models.tagger.blocks.register_forward_hook(lambda *args: passes.append(1))
    try:
        compose_batch(models, fast(), [(seed, 0) for seed in range(8)], _seconds())
    finally:
        hook.remove()
    assert len(passes) == 1


def test_a_batch_passing_more_than_wanted_keeps_the_first_in_seed_order(models):  # noqa: F811
    wanted = 2  # of each class; on these seeds the first batch leaves tops short
    result = compose(models, fast(n=4 * wanted, max_candidates=BATCH + 4, seed_start=0))
    candidates = result.candidates
    seeds = [c.record["provenance"]["seed"] for c in candidates]
    classes = [c.record["provenance"]["class_index"] for c in candidates]
    assert seeds == list(range(len(candidates))) and len(candidates) > BATCH
    assert classes[:BATCH] == [0, 1, 2, 3] * (BATCH // 4)  # every class in turn
    passed = [all(check["passed"] for check in c.record["checks"].values()) for c in candidates]
    for k in range(4):  # a class's first passes are accepted, later ones surplus
        mine = [i for i, cls in enumerate(classes) if cls == k]
        passes = [i for i in mine if passed[i]]
        statuses = [candidates[i].record["status"] for i in passes]
        assert statuses == (["accepted"] * wanted + [SURPLUS] * len(passes))[: len(passes)]
        if sum(i < BATCH for i in passes) >= wanted:  # its share in the first batch: no more turns
            assert max(mine) < BATCH
    assert result.report()["surplus"] >= 1  # several pass at once
    assert classes[BATCH:] and 0 not in classes[BATCH:]  # the last 4 seeds: only classes short
    per_class = result.report()["per_class"].values()
    assert len(result.accepted) == sum(counts["accepted"] for counts in per_class)


def test_chunks_hold_about_twice_what_is_still_wanted(models, monkeypatch):  # noqa: F811
    """A few wanted: one batch; many: chunks of CHUNK, so the writer shares its steps."""
    sizes = []
    real = compose_module.compose_batch

    def counting(models, config, jobs, seconds):
        sizes.append(len(jobs))
        return real(models, config, jobs, seconds)

    monkeypatch.setattr(compose_module, "compose_batch", counting)
    compose(models, fast(n=3, category="dress", max_candidates=4 * BATCH))
    assert sizes[0] == BATCH  # 6 rounded up to a whole batch
    sizes.clear()
    result = compose(models, fast(n=40, category="dress", max_candidates=CHUNK + BATCH))
    assert sizes[0] == CHUNK  # 80 wanted, capped
    assert sum(sizes) == len(result.candidates) and len(sizes) <= 2


def test_a_product_written_one_at_a_time_still_regenerates(models):  # noqa: F811
    """Products stored before batched writing record no writer batch: their text came from
    one-context `write` seeded per product, and regenerates from it."""
    candidate = compose_one(models, fast(max_new_tokens=40), 3, 0, _seconds())
    older = dict(candidate.record["provenance"])
    del older["prompt_width"]
    sampling = SamplingConfig(**older["sampling"])
    fmt = models.writer_format
    [written] = write(models.writer, models.tokenizer, [older["context"]], sampling, fmt)
    image, description = regenerate(models, older)
    assert np.array_equal(image, candidate.image)
    assert description == grounded_text(written["description"], older["context"])[0]


def test_a_product_of_the_earlier_batch_writer_is_refused_with_the_reason(models):  # noqa: F811
    """Records made between batching and row-independent writing name `writer_rows`: their
    text came from a writer this version no longer has, so regenerating says so."""
    candidate = compose_one(models, fast(max_new_tokens=40), 3, 0, _seconds())
    earlier = {**candidate.record["provenance"], "writer_rows": 16}
    with pytest.raises(FauxshopError, match="earlier fauxshop"):
        regenerate(models, earlier)


def test_class_truncated_products_record_it_and_regenerate(models):  # noqa: F811
    jobs = [(30, 2), (31, 2)]  # skirts: the demo's global centre is a dress
    assert fast().truncate_to == "class"  # the default: the judge agrees more often
    plain = compose_batch(models, fast(max_new_tokens=40, truncate_to="global"), jobs, _seconds())
    mine = compose_batch(models, fast(max_new_tokens=40), jobs, _seconds())
    assert "truncate_to" not in plain[0].record["provenance"]  # older records read the same
    for a, b in zip(plain, mine, strict=True):
        assert b.record["provenance"]["truncate_to"] == "class"
        assert a.record["sku"] != b.record["sku"] and a.image.tobytes() != b.image.tobytes()
    image, description = regenerate(models, json.loads(json.dumps(mine[1].record["provenance"])))
    assert image.tobytes() == mine[1].image.tobytes()
    assert description == mine[1].record["description"]
    with pytest.raises(FauxshopError, match="truncate_to 'middle'"):
        fast(truncate_to="middle")
