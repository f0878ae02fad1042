import json

import pytest
import torch
import torch.nn.functional as F

from fauxshop.image.networks import (
    Discriminator,
    Generator,
    assert_shape,
    fir_kernel,
    modulated_conv2d,
    upsample2d,
)

TINY_MAPPING = {"num_layers": 2}
TINY_CHANNELS = {"channel_base": 512, "channel_max": 32}


def make_g(res=(16, 16), c_dim=0, seed=0, **synthesis) -> Generator:
    torch.manual_seed(seed)
    return Generator(
        z_dim=32,
        c_dim=c_dim,
        w_dim=32,
        img_resolution=res,
        mapping_kwargs=TINY_MAPPING,
        synthesis_kwargs={**TINY_CHANNELS, **synthesis},
    )


def make_d(res=(16, 16), c_dim=0) -> Discriminator:
    torch.manual_seed(1)
    kwargs = {"mapping_kwargs": TINY_MAPPING, **TINY_CHANNELS}
    return Discriminator(c_dim=c_dim, img_resolution=res, **kwargs)


def with_noise(g: Generator) -> Generator:
    """Noise strengths start at 0; make them matter so noise modes can be told apart."""
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)
    return g


def one_hot(labels: list[int], c_dim: int) -> torch.Tensor:
    return F.one_hot(torch.tensor(labels), c_dim).float()


@pytest.mark.parametrize("res", [(16, 16), (32, 16), (16, 32)])
def test_generator_and_discriminator_shapes(res):
    g, d = make_g(res), make_d(res)
    img = g(torch.randn(4, 32))
    assert img.shape == (4, 3, *res)
    assert torch.isfinite(img).all()
    assert d(img).shape == (4, 1)


def test_portrait_keeps_its_aspect_ratio_from_the_first_block():
    g = make_g((32, 16))
    assert g.synthesis.b4.const.shape[1:] == (8, 4)
    assert g.synthesis.b16.conv1.noise_const.shape == (32, 16)


def test_mapping_and_synthesis_run_separately():
    g = make_g()
    z = torch.randn(3, 32)
    ws = g.mapping(z, None)
    assert g.num_ws == g.synthesis.num_ws == 6  # 2 per block, blocks 4, 8, 16
    assert ws.shape == (3, g.num_ws, 32)
    assert torch.equal(ws[:, 0], ws[:, -1])  # broadcast: one w per sample
    torch.testing.assert_close(g.synthesis(ws), g(z))


def test_wrong_ws_shape_is_a_clear_error():
    g = make_g()
    with pytest.raises(ValueError, match=r"ws must have shape \[N, 6, 32\], got \[2, 5, 32\]"):
        g.synthesis(torch.randn(2, 5, 32))
    with pytest.raises(ValueError, match="noise_mode"):
        g.synthesis(torch.randn(2, 6, 32), noise_mode="loud")


def test_assert_shape():
    assert_shape(torch.zeros(2, 3), [None, 3])
    with pytest.raises(ValueError, match=r"x must have shape \[N, 4\], got \[2, 3\]"):
        assert_shape(torch.zeros(2, 3), [None, 4], "x")


def test_noise_modes_const_and_none_are_deterministic_random_is_not():
    z = torch.randn(2, 32)
    g1, g2 = with_noise(make_g(seed=7)), with_noise(make_g(seed=7))
    assert torch.equal(g1(z, noise_mode="const"), g2(z, noise_mode="const"))
    assert torch.equal(g1(z, noise_mode="none"), g2(z, noise_mode="none"))
    assert not torch.allclose(g1(z, noise_mode="const"), g1(z, noise_mode="none"))
    assert not torch.allclose(g1(z, noise_mode="random"), g1(z, noise_mode="random"))


def test_update_emas_tracks_w_avg_and_truncation_pulls_towards_it():
    g = make_g()
    z = torch.randn(8, 32)
    assert torch.equal(g.mapping.w_avg, torch.zeros(32))
    g.mapping(z, None, update_emas=True)
    w_avg = g.mapping.w_avg.clone()
    assert w_avg.abs().sum() > 0
    ws = g.mapping(z, None, truncation_psi=0)
    assert torch.equal(g.mapping.w_avg, w_avg)  # no update unless asked
    torch.testing.assert_close(ws, w_avg.expand_as(ws))
    cut = g.mapping(z, None, truncation_psi=0, truncation_cutoff=2)
    full = g.mapping(z, None)
    torch.testing.assert_close(cut[:, :2], w_avg.expand(8, 2, 32))
    torch.testing.assert_close(cut[:, 2:], full[:, 2:])


@pytest.mark.parametrize("res", [(16, 16), (32, 16)])
def test_fused_and_nonfused_modulated_convs_agree(res):
    g = with_noise(make_g(res))
    ws = g.mapping(torch.randn(3, 32), None)
    fused = g.synthesis(ws, modconv="fused")
    nonfused = g.synthesis(ws, modconv="nonfused")
    torch.testing.assert_close(fused, nonfused, atol=1e-5, rtol=1e-5)
    assert torch.equal(g.synthesis(ws, modconv="auto"), nonfused)  # CPU picks non-fused


@pytest.mark.parametrize("fused", [False, True])
def test_upsampling_conv_is_fir_upsample_then_convolution(fused):
    torch.manual_seed(0)
    x, weight, styles = torch.randn(2, 4, 5, 6), torch.randn(3, 4, 3, 3), torch.rand(2, 4) + 0.5
    f = fir_kernel()
    out = modulated_conv2d(x, weight, styles, False, up=True, resample_filter=f, fused=fused)
    # Reference: zero-insert, FIR over the full extent (gain 4), then a valid true convolution.
    kernel = (f * 4).expand(4, 1, 4, 4)
    up = F.conv_transpose2d(x * styles[:, :, None, None], kernel, stride=2, groups=4)
    expected = F.conv2d(up, weight.flip([2, 3]))
    assert out.shape == (2, 3, 10, 12)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_fir_upsample_of_a_constant_stays_constant_inside():
    up = upsample2d(torch.full((1, 2, 6, 8), 3.0), fir_kernel())
    assert up.shape == (1, 2, 12, 16)
    torch.testing.assert_close(up[..., 1:-1, 1:-1], torch.full((1, 2, 10, 14), 3.0))


def test_conditional_generator_uses_the_label():
    g = make_g(c_dim=3)
    z = torch.randn(1, 32).repeat(2, 1)
    img = g(z, one_hot([0, 2], 3))
    assert not torch.allclose(img[0], img[1])
    with pytest.raises(ValueError, match=r"c must have shape \[N, 3\]"):
        g(z, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="conditional"):
        g(z)
    with pytest.raises(ValueError, match="unconditional"):
        make_g()(z, one_hot([0, 1], 3))


@pytest.mark.parametrize("c_dim", [0, 3])
def test_discriminator_scores_one_per_image(c_dim):
    d = make_d((32, 16), c_dim=c_dim)
    c = one_hot([0, 1, 2, 0], 3) if c_dim else None
    assert d(torch.randn(4, 3, 32, 16), c).shape == (4, 1)
    with pytest.raises(ValueError, match="img must have shape"):
        d(torch.randn(4, 3, 16, 16), c)


def test_minibatch_std_needs_a_divisible_batch():
    with pytest.raises(ValueError, match="divisible"):
        make_d()(torch.randn(6, 3, 16, 16))


def test_gradients_reach_every_parameter():
    g, d = with_noise(make_g((32, 16), c_dim=3)), make_d((32, 16), c_dim=3)
    c = one_hot([0, 1, 2, 1], 3)
    d(g(torch.randn(4, 32), c, noise_mode="random"), c).sum().backward()
    params = [*g.named_parameters(), *d.named_parameters()]
    assert params
    for name, p in params:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_style_mixing_by_rows_of_ws():
    g = make_g()
    ws_a, ws_b = g.mapping(torch.randn(2, 32), None), g.mapping(torch.randn(2, 32), None)
    mixed = torch.cat([ws_a[:, :3], ws_b[:, 3:]], dim=1)
    img_a, img_b, img_mixed = g.synthesis(ws_a), g.synthesis(ws_b), g.synthesis(mixed)
    assert not torch.allclose(img_mixed, img_a) and not torch.allclose(img_mixed, img_b)


def test_config_rebuilds_the_same_modules():
    g, d = make_g((32, 16), c_dim=3), make_d((32, 16), c_dim=3)
    g2 = Generator(**json.loads(json.dumps(g.config)))
    d2 = Discriminator(**json.loads(json.dumps(d.config)))
    g2.load_state_dict(g.state_dict())
    d2.load_state_dict(d.state_dict())
    z, c = torch.randn(2, 32), one_hot([0, 1], 3)
    assert torch.equal(g2(z, c), g(z, c))


def test_parameter_names_mirror_the_published_layout():
    names = set(make_g().state_dict()) | {f"D.{n}" for n in make_d(c_dim=3).state_dict()}
    for name in [
        "mapping.fc1.weight",
        "mapping.w_avg",
        "synthesis.b4.const",
        "synthesis.b4.conv1.affine.bias",
        "synthesis.b8.conv0.noise_const",
        "synthesis.b16.torgb.weight",
        "D.b16.fromrgb.weight",
        "D.b8.skip.weight",
        "D.b4.fc.weight",
        "D.mapping.embed.weight",
    ]:
        assert name in names


def test_bad_resolution_is_refused():
    with pytest.raises(ValueError, match="powers of two"):
        make_g((24, 16))
