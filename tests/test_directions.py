from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from tiny_models import RES, W_DIM, FakeScorer, calibrated_scorer, directions_generator

from fauxshop.errors import FauxshopError
from fauxshop.image.checkpoint import generator_fingerprint
from fauxshop.image.networks import Generator
from fauxshop.latent.directions import (
    Direction,
    find_direction,
    ganspace,
    interfacegan,
    load_directions,
    parse_target,
    save_directions,
    score_images,
    sefa,
    style_affines,
)
from fauxshop.latent.edit import (
    disentanglement,
    disentanglement_summary,
    edit_grid,
    edit_ws,
    match_names,
    parse_strengths,
)
from fauxshop.latent.generate import generate, render_ws, seeds_to_ws
from fauxshop.latent.projection import noise_names, render_projection
from fauxshop.markdown import markdown_table


@pytest.fixture(scope="module")
def G() -> Generator:
    return directions_generator()


@pytest.fixture(scope="module")
def scorer(G) -> FakeScorer:
    return calibrated_scorer(G)


@pytest.fixture(scope="module")
def bright(G, scorer) -> Direction:
    return interfacegan(G, scorer, "brightness:bright", n=300, seed_start=100)


def brightness(G, ws, scorer) -> float:
    return float(score_images(scorer, render_ws(G, ws))["brightness"][:, 1].mean())


def assert_orthonormal(directions, k):
    assert len(directions) == k
    v = torch.stack([d.vector for d in directions])
    assert v.shape == (k, W_DIM)
    torch.testing.assert_close(v @ v.T, torch.eye(k), atol=1e-5, rtol=0)


# --- InterFaceGAN -----------------------------------------------------------------------------


def test_interfacegan_direction_raises_the_planted_attribute(G, scorer, bright):
    assert bright.vector.shape == (W_DIM,)
    assert float(bright.vector.norm()) == pytest.approx(1, abs=1e-5)
    assert (bright.name, bright.method, bright.layers) == (
        "brightness:bright",
        "interfacegan",
        None,
    )
    assert bright.meta["val_accuracy"] > 0.8
    ws = seeds_to_ws(G, range(1000, 1032))
    up, down = edit_ws(ws, bright, [3.0, -3.0]).unbind(dim=1)
    base = brightness(G, ws, scorer)
    assert brightness(G, up, scorer) > base + 0.05
    assert brightness(G, down, scorer) < base - 0.05


def test_interfacegan_is_deterministic(G, scorer, bright):
    again = interfacegan(G, scorer, "brightness:bright", n=300, seed_start=100)
    assert torch.equal(again.vector, bright.vector)


def test_interfacegan_fits_the_class_against_its_lowest_scorers(G, scorer):
    d = interfacegan(G, scorer, "category:jumpsuit", n=300, seed_start=100, share=0.25)
    # about a tenth of samples are jumpsuits: all of them, not a quarter of all samples
    assert 5 <= d.meta["per_side"] < 0.25 * 300
    assert d.meta["score_high"] > 0.5 > d.meta["score_low"]
    with pytest.raises(FauxshopError, match="calls only"):
        interfacegan(G, FakeScorer(high=1e9), "category:jumpsuit", n=100)


@pytest.mark.parametrize("spec", ["colour:red", "brightness:shiny", "brightness:"])
def test_bad_targets_name_what_exists(scorer, spec):
    with pytest.raises(FauxshopError, match="bad target"):
        parse_target(spec, scorer.heads)


def test_targets_accept_several_classes_and_a_default_head(scorer):
    t = parse_target("category:Top,jumpsuit", scorer.heads)
    assert (t.head, t.classes, t.indices) == ("category", ("top", "jumpsuit"), (1, 2))
    probs = {"category": torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])}
    torch.testing.assert_close(t.score(probs), torch.tensor([0.5, 0.9]))
    assert t.hit(probs).tolist() == [False, True]
    assert parse_target("jumpsuit", scorer.heads, default_head="category").indices == (2,)


# --- GANSpace and SeFa ------------------------------------------------------------------------


def test_ganspace_components_are_orthonormal_sorted_and_deterministic(G):
    pcs = ganspace(G, k=4, n=500)
    assert_orthonormal(pcs, 4)
    assert [d.name for d in pcs] == ["pc0", "pc1", "pc2", "pc3"]
    ratios = [d.meta["explained_variance"] for d in pcs]
    assert ratios == sorted(ratios, reverse=True) and 0 < sum(ratios) <= 1
    again = ganspace(G, k=4, n=500)
    assert all(torch.equal(a.vector, b.vector) for a, b in zip(pcs, again, strict=True))


def test_ganspace_pc0_is_the_direction_of_most_spread(G):
    pc0 = ganspace(G, k=1, n=500)[0]
    w = seeds_to_ws(G, range(500))[:, 0]
    along = (w @ pc0.vector).std()
    randoms = torch.nn.functional.normalize(torch.randn(20, W_DIM), dim=1)
    assert float(along) > float((w @ randoms.T).std(dim=0).max())


def test_sefa_vectors_are_orthonormal_and_deterministic(G):
    found = sefa(G, k=5)
    assert_orthonormal(found, 5)
    assert [d.layers for d in found] == [None] * 5
    assert all(torch.equal(a.vector, b.vector) for a, b in zip(found, sefa(G, k=5), strict=True))
    assert sefa(G, k=2, layers=[0, 1])[0].layers == [0, 1]


def test_style_affines_cover_every_row_once_per_layer(G):
    rows = style_affines(G)
    assert len(rows) == G.num_ws
    # b4.conv1 | b4.torgb, b8.conv0 | b8.conv1 | b8.torgb, b16.conv0 | b16.conv1 | b16.torgb
    assert [len(r) for r in rows] == [1, 2, 1, 2, 1, 1]
    assert rows[0][0][0] is G.synthesis.b4.conv1.affine
    assert rows[-1][0][0] is G.synthesis.b16.torgb.affine


def test_sefa_finds_the_known_top_eigenvector_with_the_weight_gains(G):
    """Every conv affine reads e0 with stored weight 1, every toRGB affine e1 with 2. ToRGB
    styles are scaled by 1/sqrt(16) = 1/4, so e0 changes styles most (5 x 1² against
    3 x 0.5²); ignoring the gains would pick e1 (5 against 3 x 4)."""
    g = copy.deepcopy(G)
    for row in style_affines(g):
        for affine, gain in row:
            affine.weight.zero_()
            affine.weight[0, 0 if gain == 1 else 1] = 1.0 if gain == 1 else 2.0
    top, second = sefa(g, k=2)
    e0, e1 = torch.eye(W_DIM)[:2]
    torch.testing.assert_close(top.vector, e0)
    torch.testing.assert_close(second.vector, e1)
    assert top.meta["eigenvalue"] == pytest.approx(5 / W_DIM)  # affine gain 1/sqrt(w_dim)
    assert second.meta["eigenvalue"] == pytest.approx(3 * 0.25 / W_DIM)


def test_sefa_rejects_bad_layers(G):
    with pytest.raises(FauxshopError, match="layers"):
        sefa(G, layers=[6])


# --- files ------------------------------------------------------------------------------------


def test_directions_round_trip_and_refuse_another_generator(G, tmp_path):
    fp = generator_fingerprint(G)
    assert fp == generator_fingerprint(copy.deepcopy(G))
    saved = [
        *sefa(G, k=2, layers=[0, 1, 2]),
        Direction("x", "ganspace", torch.ones(W_DIM) / 32**0.5),
    ]
    path = save_directions(tmp_path / "dirs", saved, fp)
    assert path.suffix == ".safetensors" and path.with_suffix(".json").is_file()
    loaded = load_directions(path, fp)
    for a, b in zip(saved, loaded, strict=True):
        assert (a.name, a.method, a.layers, a.meta) == (b.name, b.method, b.layers, b.meta)
        assert torch.equal(a.vector, b.vector)
    assert find_direction(loaded, "x").method == "ganspace"
    with pytest.raises(FauxshopError, match="sefa0, sefa1, x"):
        find_direction(loaded, "y")
    with pytest.raises(FauxshopError, match="another generator"):
        load_directions(path, generator_fingerprint(directions_generator(seed=1)))


def test_save_refuses_duplicate_names(G, tmp_path):
    d = Direction("a", "sefa", torch.eye(W_DIM)[0])
    with pytest.raises(FauxshopError, match="unique"):
        save_directions(tmp_path / "dirs", [d, d], "fp")


# --- editing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values"),
    [("-3:3:7", [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]), ("1.5", [1.5]), ("-2,0,2", [-2, 0, 2])],
)
def test_parse_strengths(text, values):
    assert parse_strengths(text) == pytest.approx(values)


@pytest.mark.parametrize("text", ["a", "1:2", "0:1:1", "1,,2"])
def test_parse_strengths_rejects_bad_text(text):
    with pytest.raises(FauxshopError, match="strengths"):
        parse_strengths(text)


def test_edit_grid_tiles_seeds_by_strengths_and_strength_zero_is_the_seed(G, bright):
    grid = edit_grid(G, seeds_to_ws(G, [3, 4], psi=0.7), bright, [-2.0, 0.0, 2.0])
    assert grid.shape == (2 * RES, 3 * RES, 3) and grid.dtype == np.uint8
    plain = generate(G, [3, 4], psi=0.7)
    for row in range(2):
        assert np.array_equal(grid[row * RES : (row + 1) * RES, RES : 2 * RES], plain[row])
        assert not np.array_equal(grid[row * RES : (row + 1) * RES, :RES], plain[row])


def test_edit_grid_of_a_projection_renders_with_its_own_noise(G, bright):
    G = copy.deepcopy(G)
    for name, p in G.synthesis.named_parameters():
        if name.endswith("noise_strength"):
            p.fill_(0.5)  # noise matters (a new G's strengths start at 0)
    ws = seeds_to_ws(G, [5], psi=0.7)[0]
    noise = {name: torch.randn_like(G.synthesis.get_buffer(name)) for name in noise_names(G)}
    grid = edit_grid(G, ws[None], bright, [0.0, 1.0], noises=[noise])
    assert np.array_equal(grid[:, :RES], render_projection(G, ws, noise))
    assert not np.array_equal(grid[:, :RES], generate(G, [5], psi=0.7)[0])
    with pytest.raises(FauxshopError, match="noise sets"):
        edit_grid(G, ws[None], bright, [0.0], noises=[])


def test_edits_touch_only_the_chosen_layers(G):
    ws = seeds_to_ws(G, [1, 2])
    v = torch.eye(W_DIM)[3]
    edited = edit_ws(ws, v, [0.0, 2.0], layers=[0, 1])
    assert edited.shape == (2, 2, G.num_ws, W_DIM)
    assert torch.equal(edited[:, 0], ws)
    assert torch.equal(edited[:, 1, 2:], ws[:, 2:])
    torch.testing.assert_close(edited[:, 1, :2] - ws[:, :2], 2 * v.expand(2, 2, -1))
    own = edit_ws(ws, Direction("d", "sefa", v, layers=[5]), [1.0])[:, 0]
    assert torch.equal(own[:, :5], ws[:, :5]) and not torch.equal(own[:, 5], ws[:, 5])


def test_disentanglement_measures_what_a_direction_changes(G, scorer, bright):
    other = Direction("rand", "ganspace", torch.nn.functional.normalize(torch.randn(W_DIM), dim=0))
    rows = disentanglement(G, scorer, [bright, other], range(20), strength=2.0)
    assert [(r["direction"], r["target"]) for r in rows] == [
        ("brightness:bright", "brightness:bright"),
        ("rand", ""),
    ]
    assert rows[0]["brightness Δ/step"] > 0.02
    assert all(0 <= r[f"{h} same top"] <= 1 for r in rows for h in scorer.heads)
    summary = disentanglement_summary(rows)
    assert summary[0]["target Δ/step"] == rows[0]["brightness Δ/step"]
    assert summary[0]["most-moved other"] == "category"
    assert summary[0]["other moved/step"] == rows[0]["category moved/step"]
    assert summary[0]["category kept"] == rows[0]["category same top"]
    assert summary[1]["target Δ/step"] is None and summary[1]["target"] == "-"
    table = markdown_table(summary).splitlines()
    assert table[0].startswith("| direction | method | target | target Δ/step")
    assert len(table) == 4 and table[2].startswith("| brightness:bright | interfacegan |")


def test_match_names_names_components_by_their_strongest_effect(G, scorer):
    named = match_names(G, scorer, ganspace(G, k=2, n=500), range(12), strength=2.0)
    assert [d.name.split("-")[0] for d in named] == ["pc0", "pc1"]
    for d in named:
        head, rises = d.meta["matched"]["head"], d.meta["matched"]["class"]
        assert d.name.endswith(f"-{head}:{rises}") and rises in scorer.heads[head]
        row = disentanglement(G, scorer, [d], range(12), strength=2.0)[0]
        assert row[f"{head} moved/step"] == pytest.approx(d.meta["matched"]["moved_per_step"])
        assert row[f"{head} moved/step"] == max(row[f"{h} moved/step"] for h in scorer.heads)
        assert row[f"{head} rises"] == rises


def test_moves_of_an_unordered_head_do_not_cancel(G, scorer, bright):
    row = disentanglement(G, scorer, [bright], range(20), strength=2.0)[0]
    assert scorer.heads
    for head in scorer.heads:
        assert 0 <= row[f"{head} moved/step"] <= 0.5 / 2.0  # total variation per unit step
    assert row["brightness moved/step"] > 0.01
    assert row["brightness rises"] == "bright"


def test_a_damaged_directions_sidecar_is_one_clear_error(tmp_path):
    G = directions_generator()
    fp = generator_fingerprint(G)
    path = save_directions(tmp_path / "d.safetensors", sefa(G, k=2), fp)
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    del meta["safetensors_sha256"]
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(FauxshopError, match=r"d\.json: not a fauxshop directions file"):
        load_directions(path, fp)
