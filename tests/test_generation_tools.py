from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from PIL import Image
from tiny_models import tiny_generator

from fauxshop.errors import FauxshopError
from fauxshop.image.networks import Generator
from fauxshop.latent import walk
from fauxshop.latent.generate import _centres, class_centre, generate, seeds_to_ws
from fauxshop.latent.mixing import mix_ws, parse_styles, style_mix_grid
from fauxshop.latent.sampling import class_vector, parse_seeds, z_from_seed
from fauxshop.latent.walk import latent_walk, loop_ws, write_video
from fauxshop.pixels import save_grid, save_images, to_hwc_uint8

H, W = 32, 16  # portrait: shorter side 16, so num_ws = 6 (coarse 0-3, middle 4-5)
LABELS = ["Dress", "Top", "Shoe"]


def make_g(c_dim: int = 0) -> Generator:
    """Noise that matters, and a w_avg off the origin as a trained G's is."""
    g = tiny_generator((H, W), c_dim=c_dim, noise_strength=0.5)
    g.mapping.w_avg.normal_()
    return g


@pytest.fixture(scope="module")
def G() -> Generator:
    return make_g()


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seeds"),
    [("0-3", [0, 1, 2, 3]), ("1,2,5-7", [1, 2, 5, 6, 7]), (" 9 ", [9]), ("4-4", [4])],
)
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "a", "5-2", "-1", "1,,2", "1.5", "4294967296"])
def test_parse_seeds_rejects_bad_text(text):
    with pytest.raises(FauxshopError, match="seeds"):
        parse_seeds(text)


def test_parse_styles_follows_the_papers_bands():
    assert parse_styles("coarse", 18, 1024) == [0, 1, 2, 3]
    assert parse_styles("middle", 18, 1024) == [4, 5, 6, 7]
    assert parse_styles("fine", 18, 1024) == list(range(8, 18))
    assert parse_styles("Middle", 6, (H, W)) == [4, 5]
    assert parse_styles("0-3", 6, 16) == [0, 1, 2, 3]
    assert parse_styles("4,0,1", 6, 16) == [0, 1, 4]
    assert parse_styles("coarse,5", 6, 16) == [0, 1, 2, 3, 5]


@pytest.mark.parametrize(
    ("text", "message"),
    [("fine", "32x16 generator has no fine.*64².*coarse 0-3, middle 4-5"), ("6", "6 >= num_ws 6")],
)
def test_parse_styles_errors(text, message):
    with pytest.raises(FauxshopError, match=message):
        parse_styles(text, 6, (H, W))


def test_z_from_seed_matches_numpy_randomstate():
    z = z_from_seed(42, 32)
    assert z.dtype == torch.float32 and z.shape == (32,)
    np.testing.assert_allclose(z.numpy(), np.random.RandomState(42).randn(32), rtol=1e-6)


# --- generate --------------------------------------------------------------------------------


def test_same_seed_same_image_whatever_the_batch(G):
    alone = generate(G, [7], batch=4)
    assert alone.shape == (1, H, W, 3) and alone.dtype == np.uint8
    crowded = generate(G, [3, 1, 4, 1, 5, 9, 7], batch=4)  # seed 7 last, in a short batch
    np.testing.assert_array_equal(crowded[6], alone[0])
    np.testing.assert_array_equal(crowded[1], crowded[3])
    assert max_diff(generate(G, [7], batch=3)[0], alone[0]) <= 1  # other batch: float rounding
    assert max_diff(crowded[0], crowded[2]) > 10


def test_psi_zero_gives_w_avg_for_every_seed(G):
    images = generate(G, [0, 1, 2], psi=0.0)
    ws = G.mapping.w_avg.expand(1, G.num_ws, -1)
    expected = to_hwc_uint8(G.synthesis(ws))[0]
    assert len(images) == 3
    for img in images:
        assert max_diff(img, expected) <= 1


def test_class_picks_the_label_and_unknown_names_list_the_valid_ones():
    g = make_g(c_dim=3)
    np.testing.assert_array_equal(class_vector(g, "dress", LABELS).numpy(), [1, 0, 0])
    np.testing.assert_array_equal(class_vector(g, "2", LABELS).numpy(), [0, 0, 1])
    np.testing.assert_array_equal(class_vector(g, 1).numpy(), [0, 1, 0])
    with pytest.raises(FauxshopError, match="'Hat'; valid classes: 0=Dress, 1=Top, 2=Shoe"):
        class_vector(g, "Hat", LABELS)
    with pytest.raises(FauxshopError, match="unknown class '²'"):  # a digit only to isdigit
        class_vector(g, "²", LABELS)
    with pytest.raises(FauxshopError, match="conditional"):
        generate(g, [0])
    with pytest.raises(FauxshopError, match="unconditional"):
        class_vector(make_g(), "Dress", LABELS)
    dress, top = generate(g, [5], class_index=0), generate(g, [5], class_index=1)
    assert max_diff(dress, top) > 10


def test_class_truncation_pulls_towards_the_class_mean_not_every_class():
    g = make_g(c_dim=3)
    seeds = [0, 1, 2]
    z = torch.randn(4096, g.z_dim, generator=torch.Generator().manual_seed(0))
    for c in range(3):  # psi 0: every seed lands on its class's mean w
        with torch.no_grad():
            mean = g.mapping(z, class_vector(g, c).expand(len(z), -1))[:, 0].mean(0)
        torch.testing.assert_close(class_centre(g, c), mean, rtol=0, atol=1e-5)
        ws = seeds_to_ws(g, seeds, 0.0, c, truncate_to="class")
        torch.testing.assert_close(ws, class_centre(g, c).expand_as(ws), rtol=0, atol=1e-6)
        assert (ws - g.mapping.w_avg).abs().max() > 0.1  # not the global centre
    free = seeds_to_ws(g, seeds, 1.0, 1)
    half = seeds_to_ws(g, seeds, 0.5, 1, truncate_to="class")
    centre = seeds_to_ws(g, seeds, 0.0, 1, truncate_to="class")
    torch.testing.assert_close(half, (free + centre) / 2, rtol=0, atol=1e-6)
    # psi 1 truncates nothing, and global stays NVIDIA's: w_avg.lerp(w, psi)
    torch.testing.assert_close(seeds_to_ws(g, seeds, 1.0, 1, truncate_to="class"), free)
    torch.testing.assert_close(
        seeds_to_ws(g, seeds, 0.5, 1), g.mapping.w_avg.lerp(free, 0.5), rtol=0, atol=1e-6
    )
    # a seed's image does not depend on its neighbours, nor on a centre computed before
    alone = generate(g, [7], 0.7, 2, truncate_to="class")
    _centres.clear()
    crowded = generate(g, [3, 7, 4], 0.7, 2, truncate_to="class")
    np.testing.assert_array_equal(crowded[1], alone[0])
    with pytest.raises(ValueError, match="choose from global, class"):
        seeds_to_ws(g, seeds, 0.5, 1, truncate_to="nearest")


# --- mixing ----------------------------------------------------------------------------------


def test_style_mix_grid_is_the_papers_figure(G):
    rows, cols, styles = [1, 2, 3], [10, 11], [0, 1, 2, 3]
    grid = style_mix_grid(G, rows, cols, styles, psi=0.7, fill=255)
    assert grid.shape == ((len(rows) + 1) * H, (len(cols) + 1) * W, 3)

    def cell(r: int, c: int) -> np.ndarray:
        return grid[r * H : (r + 1) * H, c * W : (c + 1) * W]

    assert (cell(0, 0) == 255).all()
    col_imgs, row_imgs = generate(G, cols, psi=0.7), generate(G, rows, psi=0.7)
    for c in range(len(cols)):
        np.testing.assert_array_equal(cell(0, c + 1), col_imgs[c])
    for r in range(len(rows)):
        np.testing.assert_array_equal(cell(r + 1, 0), row_imgs[r])

    row_ws, col_ws = seeds_to_ws(G, [rows[2]], 0.7), seeds_to_ws(G, [cols[1]], 0.7)
    by_hand = row_ws.clone()
    by_hand[:, :4] = col_ws[:, :4]
    assert torch.equal(mix_ws(row_ws, col_ws, styles)[0, 0], by_hand[0])
    expected = to_hwc_uint8(G.synthesis(by_hand))[0]
    assert max_diff(cell(3, 2), expected) <= 1
    assert max_diff(cell(3, 2), row_imgs[2]) > 10


# --- walk ------------------------------------------------------------------------------------


@pytest.mark.parametrize("interpolation", ["linear", "cubic"])
def test_loop_ws_passes_through_every_key_and_closes(interpolation):
    keys = torch.tensor([0.0, 1.0, 2.0])
    path = loop_ws(keys, 6, interpolation)
    assert path[::2].tolist() == [0.0, 1.0, 2.0]
    assert 0.0 < path[5] < 2.0  # after the last key the path heads back to the first
    if interpolation == "linear":
        assert path.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 1.0]


def test_latent_walk_loops_through_the_seeds(G):
    seeds = [1, 2, 3]
    frames = latent_walk(G, seeds, frames=12, psi=0.8, interpolation="linear")
    assert frames.shape == (12, H, W, 3)
    np.testing.assert_array_equal(frames[0], generate(G, [1], psi=0.8)[0])
    assert max_diff(frames[8], generate(G, [3], psi=0.8)[0]) <= 1
    to_first = [np.abs(frames[i].astype(int) - frames[0]).mean() for i in (8, 10, 11)]
    assert to_first[0] > to_first[1] > to_first[2] > 0
    with pytest.raises(FauxshopError, match="at least 2 seeds"):
        latent_walk(G, [1], frames=4)


# --- files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [3, 1])
def test_write_video_mp4_pads_to_even_sizes(tmp_path, channels):
    frames = np.random.RandomState(0).randint(0, 256, (5, 15, 16, channels), dtype=np.uint8)
    path = write_video(frames, tmp_path / "walk.mp4", fps=10)
    assert path == tmp_path / "walk.mp4"
    with imageio.get_reader(path, format="FFMPEG") as reader:
        read = list(reader.iter_data())
    assert len(read) == 5 and read[0].shape == (16, 16, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.mp4"]


def test_write_video_gif_and_fallback_without_ffmpeg(tmp_path, monkeypatch):
    frames = np.random.RandomState(0).randint(0, 256, (4, 15, 16, 3), dtype=np.uint8)
    assert write_video(frames, tmp_path / "a.gif") == tmp_path / "a.gif"
    monkeypatch.setattr(walk, "ffmpeg_available", lambda: False)
    assert write_video(frames, tmp_path / "b.mp4") == tmp_path / "b.gif"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "b.gif"]
    with Image.open(tmp_path / "b.gif") as gif:
        assert gif.n_frames == 4 and gif.size == (16, 15)


def test_save_grid_and_images(tmp_path):
    images = np.random.RandomState(0).randint(0, 256, (5, H, W, 1), dtype=np.uint8)
    save_grid(images, tmp_path / "grid.png", cols=3)
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (2 * H, 3 * W)
    np.testing.assert_array_equal(grid[H:, W : 2 * W], images[4, ..., 0])
    assert (grid[H:, 2 * W :] == 255).all()
    paths = save_images(images[:2], tmp_path / "out", ["seed0000.png", "seed0001.png"])
    np.testing.assert_array_equal(np.asarray(Image.open(paths[1])), images[1, ..., 0])
