import json
import math

import pytest
import torch

from fauxshop.image.augment import AdaController, AugmentPipe
from fauxshop.image.augment_spec import PRESETS, TRANSFORMS, parse_augment_spec


def only(name: str, p: float = 1.0) -> AugmentPipe:
    """A pipe with a single transform enabled."""
    return AugmentPipe(**{t: float(t == name) for t in TRANSFORMS}, p=p)


def images(n: int = 8, c: int = 3, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    """Asymmetric content in [-1, 1]: a gradient plus noise, so every transform shows."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(-0.6, 0.6, w)[None, None, None, :] + torch.linspace(0, 0.3, h)[:, None]
    return (ramp + 0.3 * torch.rand(n, c, h, w, generator=g) - 0.15).clamp(-1, 1)


def changed(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per image: does y differ from x?"""
    return (x - y).flatten(1).abs().amax(dim=1) > 1e-4


# ---------------------------------------------------------------------------------------------
# AugmentPipe


@pytest.mark.parametrize("shape", [(4, 3, 16, 16), (4, 3, 32, 16), (4, 1, 16, 32)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_and_dtype_preserved(shape, dtype):
    torch.manual_seed(0)
    x = images(*shape).to(dtype)
    y = AugmentPipe(**parse_augment_spec("bgcc"), p=1.0)(x)
    assert y.shape == x.shape and y.dtype == dtype and torch.isfinite(y).all()


def test_p_zero_is_identity():
    x = images()
    assert AugmentPipe(**parse_augment_spec("bgcc"))(x) is x


@pytest.mark.parametrize("hw", [(16, 16), (32, 16)])
def test_xflip_at_p1_flips_or_keeps_each_image_exactly(hw):
    # As in the paper, an applied flip picks uniformly from {identity, flip}.
    torch.manual_seed(0)
    x = images(32, 3, *hw)
    y = only("xflip")(x)
    flipped = (y == x.flip(3)).flatten(1).all(dim=1)
    kept = (y == x).flatten(1).all(dim=1)
    assert (flipped | kept).all() and flipped.any() and kept.any()


def test_rotate90_moves_pixels_exactly():
    torch.manual_seed(0)
    x = images(32)
    y = only("rotate90")(x)
    hits = torch.stack([(y == x.rot90(k, (2, 3))).flatten(1).all(dim=1) for k in range(4)])
    assert hits.any(dim=0).all() and hits.any(dim=1).all()


@pytest.mark.parametrize("hw", [(16, 16), (32, 16)])
def test_integer_translation_moves_by_whole_pixels(hw):
    torch.manual_seed(1)
    h, w = hw
    x = images(16, 3, h, w)
    y = only("xint")(x)
    shifts = []
    for xi, yi in zip(x, y, strict=True):
        match = [
            (dy, dx)
            for dy in range(-h // 8, h // 8 + 1)
            for dx in range(-w // 8, w // 8 + 1)
            if torch.equal(
                yi[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)],
                xi[:, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)],
            )
        ]
        assert match, "no whole-pixel shift explains the output"
        shifts.append(match[0])
    assert len(set(shifts)) > 3


def test_differentiable_including_r1_double_backward():
    torch.manual_seed(0)
    x = images(4).requires_grad_(True)
    pipe = AugmentPipe(**parse_augment_spec("bgcc"), p=1.0)
    weight = torch.randn(2, 3, 3, 3, requires_grad=True)
    score = torch.nn.functional.conv2d(pipe(x), weight).relu().sum()
    (grad,) = torch.autograd.grad(score, x, create_graph=True)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    grad.square().sum().backward()  # R1 on augmented reals differentiates the gradient again
    assert torch.isfinite(weight.grad).all() and weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", TRANSFORMS)
def test_every_transform_changes_images_within_sane_range(name):
    torch.manual_seed(0)
    x = images(32)
    y = only(name)(x)
    assert changed(x, y).any()
    assert torch.isfinite(y).all()
    bound = 1.0 + 1e-5 if name not in PRESETS["c"] else 16.0
    assert y.abs().max() <= bound


@pytest.mark.parametrize(
    "name, expected",
    [
        ("xflip", 0.25),  # applied to half, and an applied flip is a flip half the time
        ("rotate", 0.5),  # pre- or post-rotation: P(either) is p, not 2p
        ("scale", 0.5),
        ("cutout", 0.5),
    ],
)
def test_transforms_applied_with_probability_p(name, expected):
    torch.manual_seed(0)
    x = images(2000, 1, 16, 16)
    rate = changed(x, only(name, p=0.5)(x)).float().mean().item()
    assert rate == pytest.approx(expected, abs=0.04)


def test_multiplier_scales_probability():
    torch.manual_seed(0)
    x = images(2000, 1, 16, 16)
    pipe = AugmentPipe(**{t: 0.5 * (t == "cutout") for t in TRANSFORMS}, p=0.8)
    rate = changed(x, pipe(x)).float().mean().item()
    assert rate == pytest.approx(0.4, abs=0.04)


def test_same_seed_same_output():
    x = images()
    pipe = AugmentPipe(**parse_augment_spec("bgcc"), p=0.7)
    torch.manual_seed(5)
    a = pipe(x)
    torch.manual_seed(5)
    b = pipe(x)
    assert torch.equal(a, b) and not torch.equal(a, pipe(x))


def test_colour_needs_one_or_three_channels():
    with pytest.raises(ValueError, match="1 or 3"):
        only("brightness")(torch.zeros(2, 4, 16, 16))
    assert only("xflip")(torch.zeros(2, 4, 16, 16)).shape == (2, 4, 16, 16)


def test_parse_augment_spec():
    assert parse_augment_spec("bgc") == AugmentPipe().multipliers
    assert parse_augment_spec("bgcc")["cutout"] == 1.0
    assert parse_augment_spec("bg")["hue"] == 0.0 and parse_augment_spec("bg")["xfrac"] == 1.0
    assert parse_augment_spec("c")["xflip"] == 0.0 and parse_augment_spec("c")["hue"] == 1.0
    spec = parse_augment_spec("bgc, cutout=0.5, rotate=0")
    assert spec["cutout"] == 0.5 and spec["rotate"] == 0.0 and spec["xflip"] == 1.0
    for bad in ["xyz", "bgc,wobble=1", "bgc,cutout", "bgc,cutout=x", "bgc,cutout=-1"]:
        with pytest.raises(ValueError):
            parse_augment_spec(bad)


# ---------------------------------------------------------------------------------------------
# AdaController


def fed(ctrl: AdaController, logits: list[float]) -> AdaController:
    ctrl.accumulate(torch.tensor(logits))
    return ctrl


def test_ada_overfitting_raises_p_and_underfitting_lowers_it():
    pipe = AugmentPipe()
    ctrl = fed(AdaController(batch_size=4, p=0.5, pipe=pipe), [1.0, 2.0, 3.0, -1.0])
    assert ctrl.update(5000) == 0.5  # below the 0.6 target
    assert ctrl.p == pytest.approx(0.5 - 5000 / 500_000)
    assert float(pipe.p) == pytest.approx(ctrl.p)
    fed(ctrl, [1.0, 2.0, 3.0, 4.0])
    assert ctrl.update(5000) == 1.0
    assert ctrl.p == pytest.approx(0.5)


def test_ada_clamps_p_to_unit_interval():
    ctrl = fed(AdaController(batch_size=4, p=0.99), [1.0])
    ctrl.update(500_000)
    assert ctrl.p == 1.0
    fed(ctrl, [-1.0])
    ctrl.update(2_000_000)
    assert ctrl.p == 0.0


def test_ada_fixed_and_off_never_change_p_but_report_r_t():
    for mode, p in [("fixed", 0.3), ("off", 0.0)]:
        ctrl = fed(AdaController(batch_size=4, mode=mode, p=p), [1.0, 1.0])
        assert ctrl.update(100_000) == 1.0 and ctrl.p == p
    with pytest.raises(ValueError):
        AdaController(batch_size=4, mode="off", p=0.2)


def test_ada_without_data_reports_nan_and_keeps_p():
    ctrl = AdaController(batch_size=4, p=0.2)
    assert math.isnan(ctrl.update(16)) and ctrl.p == 0.2
    assert ctrl.interval_images == 16


def test_ada_stats_are_raw_sums_for_all_reduce():
    ctrl = fed(AdaController(batch_size=2), [1.0, -1.0, 2.0])
    assert ctrl.stats.tolist() == [1.0, 3.0]
    ctrl.stats += torch.tensor([3.0, 3.0])  # what all_reduce(SUM) over a second rank does
    assert ctrl.update(6) == pytest.approx(4 / 6)


def test_ada_state_dict_round_trip_resumes_identically():
    a = fed(AdaController(batch_size=4, p=0.1), [1.0, 1.0, -1.0])
    a.update(64)
    fed(a, [1.0, 0.5])
    state = json.loads(json.dumps(a.state_dict()))
    pipe = AugmentPipe()
    b = AdaController(batch_size=4, pipe=pipe)
    b.load_state_dict(state)
    assert float(pipe.p) == pytest.approx(a.p)
    for ctrl in (a, b):
        fed(ctrl, [-1.0, 3.0])
    assert a.update(64) == b.update(64) and a.p == b.p


# ---------------------------------------------------------------------------------------------
# The upsampled (NVIDIA-style) geometric path


@pytest.mark.parametrize("shape", [(4, 3, 16, 16), (4, 1, 32, 16)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_upsampled_path_keeps_shape_and_dtype(shape, dtype):
    torch.manual_seed(0)
    x = images(*shape).to(dtype)
    y = AugmentPipe(**parse_augment_spec("bg"), p=1.0, resample="upsampled")(x)
    assert y.shape == x.shape and y.dtype == dtype and torch.isfinite(y).all()


def test_upsampled_path_filter_keeps_flat_and_ramps():
    from fauxshop.image.augment import downsample_matrix, halfband_filter, upsample_matrix

    f = halfband_filter()
    assert torch.allclose(f, f.flip(0)) and abs(float(f.sum()) - 1) < 1e-6
    up = upsample_matrix(16, 0, f)
    assert up.shape == (32, 16)
    flat = torch.full((16,), 0.3)
    assert torch.allclose((up @ flat)[6:-6], torch.tensor(0.3), atol=1e-6)
    ramp = torch.linspace(-1, 1, 16)
    steps = (up @ ramp)[6:-6].diff()  # evenly spaced: no half-pixel shift
    torch.testing.assert_close(steps, torch.full_like(steps, 1 / 15), atol=3e-4, rtol=0)
    # the down matrix reads a fine window from 5 fine pixels before output 0's: outputs 3..12
    back = downsample_matrix(10, f) @ (up @ ramp)[1:31]
    torch.testing.assert_close(back, ramp[3:13], atol=2e-3, rtol=0)


def test_upsample_matrix_reflects_at_the_borders_like_pad():
    from fauxshop.image.augment import halfband_filter, upsample_matrix

    f, x = halfband_filter(torch.float64), torch.randn(2, 3, 7, dtype=torch.float64)
    padded = torch.nn.functional.pad(x, [4, 4], mode="reflect")
    torch.testing.assert_close(x @ upsample_matrix(7, 4, f).T, padded @ upsample_matrix(15, 0, f).T)


def test_upsampled_path_blurs_less_than_one_bilinear_pass():
    from fauxshop.image.augment import _rotate2d, _sample_affine, _sample_affine_upsampled

    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(4, 1, 8, 8, generator=g) * 2 - 1
    x = torch.nn.functional.interpolate(coarse, size=32, mode="bicubic", align_corners=False)
    theta = torch.full((4,), math.radians(20))
    there, back = _rotate2d(theta.cos(), theta.sin()), _rotate2d(theta.cos(), -theta.sin())
    errors = {}
    for name, resample in (("bilinear", _sample_affine), ("upsampled", _sample_affine_upsampled)):
        y = resample(resample(x, there), back)
        errors[name] = float((y - x)[..., 8:24, 8:24].abs().mean())
    assert errors["upsampled"] < errors["bilinear"] / 2, errors


def test_unknown_resample_mode_is_refused():
    with pytest.raises(ValueError, match="resample 'nearest'"):
        AugmentPipe(resample="nearest")
