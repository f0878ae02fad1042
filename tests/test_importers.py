"""Importing NVIDIA and rosinality StyleGAN2 weights, built here in their formats (no downloads).

The rosinality checks run an independent re-statement of its model's maths (`ros_generator`,
`ros_discriminator`) on its own state dict, so a renaming that is wrong both ways still fails.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import sys
import types
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from fauxshop.errors import FauxshopError
from fauxshop.image.importers import frozen_d_params, init_from, load_external
from fauxshop.image.networks import Discriminator, Generator, fir_kernel
from fauxshop.image.unpickle import load_network_pickle

TINY = {"channel_base": 512, "channel_max": 32}
SQRT2 = math.sqrt(2)


def randomise(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Move every tensor off its init (biases, noise strengths, w_avg) so each one matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in net.state_dict().values():
            t.add_(torch.randn(t.shape, generator=gen) * 0.3)
    return net


def make_g(res=(16, 16), seed=0) -> Generator:
    torch.manual_seed(seed)
    g = Generator(32, 0, 32, res, mapping_kwargs={"num_layers": 2}, synthesis_kwargs=TINY)
    return randomise(g, seed)


def make_d(res=(16, 16), seed=1) -> Discriminator:
    torch.manual_seed(seed)
    return randomise(Discriminator(img_resolution=res, **TINY), seed)


def rebuilt(kwargs: dict, state: dict, cls=Generator) -> torch.nn.Module:
    net = cls(**kwargs)
    net.load_state_dict(state)
    return net


# ----------------------------------------------------------------------------------------------
# NVIDIA's format: persistent objects reduce to _reconstruct_persistent_obj(meta).


def _reconstruct_persistent_obj(meta):  # pickled by reference only; the importer must not call it
    raise AssertionError("NVIDIA's reconstructor was called")


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"


class EasyDict(dict):
    pass


EasyDict.__module__ = "dnnlib.util"
NV_CLASS = {
    "EqualLinear": "FullyConnectedLayer",
    "EqualConv2d": "Conv2dLayer",
    "ToRGB": "ToRGBLayer",
}
NV_FILTERED = {"Conv2dLayer", "SynthesisLayer", "SynthesisBlock", "DiscriminatorBlock"}


class Persistent:
    """Pickles like an instance of a class decorated by NVIDIA's persistent_class."""

    def __init__(self, class_name: str, state: dict, module_src: str) -> None:
        self.class_name, self.state, self.module_src = class_name, state, module_src

    def __reduce__(self):
        meta = {
            "type": "class",
            "version": 6,
            "module_src": self.module_src,
            "class_name": self.class_name,
            "state": self.state,
        }
        return _reconstruct_persistent_obj, (meta,), None


def nvidia_record(module: torch.nn.Module, module_src: str, init_kwargs=None) -> Persistent:
    """A fauxshop module as NVIDIA's would pickle: same tree, plus its resample_filter buffers."""
    cls = NV_CLASS.get(type(module).__name__, type(module).__name__)
    buffers = OrderedDict(
        (k, v)
        for k, v in module._buffers.items()
        if v is not None and k not in module._non_persistent_buffers_set
    )
    if cls in NV_FILTERED:
        buffers["resample_filter"] = fir_kernel()
    children = OrderedDict((k, nvidia_record(m, module_src)) for k, m in module._modules.items())
    state = {
        "training": False,
        "_parameters": OrderedDict(module._parameters),
        "_buffers": buffers,
        "_non_persistent_buffers_set": set(),
        "_modules": children,
        "_init_args": (),
        "_init_kwargs": init_kwargs or {},
    }
    return Persistent(cls, state, module_src)


def dump_with_fake_modules(obj, path, monkeypatch) -> None:
    """pickle resolves globals through sys.modules: give it NVIDIA's module names while dumping."""
    with monkeypatch.context() as m:
        for name in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"):
            m.setitem(sys.modules, name, types.ModuleType(name))
        sys.modules[
            "torch_utils.persistence"
        ]._reconstruct_persistent_obj = _reconstruct_persistent_obj
        sys.modules["dnnlib.util"].EasyDict = EasyDict
        with open(path, "wb") as f:
            pickle.dump(obj, f)


def write_nvidia_snapshot(path, g, d, g_ema, monkeypatch, module_src="") -> None:
    g_kwargs = {
        "z_dim": 32,
        "c_dim": 0,
        "w_dim": 32,
        "img_resolution": 16,
        "img_channels": 3,
        "mapping_kwargs": EasyDict(num_layers=2),
        "synthesis_kwargs": EasyDict(**TINY, num_fp16_res=0, conv_clamp=None),
    }
    d_kwargs = {"c_dim": 0, "img_resolution": 16, "img_channels": 3, **TINY}
    d_kwargs["epilogue_kwargs"] = EasyDict(mbstd_group_size=2)
    augment = torch.nn.Module()
    augment.register_buffer("p", torch.tensor(0.2))
    augment_record = nvidia_record(augment, module_src)
    augment_record.state["_modules"]["plain"] = torch.nn.Linear(2, 2)  # not persistent_class
    snapshot = {
        "training_set_kwargs": {"class_name": "training.dataset.ImageFolderDataset", "xflip": True},
        "G": nvidia_record(g, module_src, g_kwargs),
        "D": nvidia_record(d, module_src, d_kwargs),
        "G_ema": nvidia_record(g_ema, module_src, g_kwargs),
        "augment_pipe": augment_record,
    }
    dump_with_fake_modules(snapshot, path, monkeypatch)


def test_nvidia_snapshot_imports_and_reproduces_images(tmp_path, monkeypatch):
    g, g_ema, d = make_g(seed=0), make_g(seed=2), make_d()
    marker = tmp_path / "module_src_ran"
    path = tmp_path / "network-snapshot-000100.pkl"
    write_nvidia_snapshot(path, g, d, g_ema, monkeypatch, f"open({str(marker)!r}, 'w')")

    ckpt = load_external(path)

    assert not marker.exists()  # the stored module source is never executed
    assert ckpt.kind == "nvidia"
    augment = load_network_pickle(path)["augment_pipe"]
    assert augment.class_name == "Module" and augment.module_src.startswith("open(")
    assert augment.tensors().keys() == {"p", "plain.weight", "plain.bias"}
    assert ckpt.G_kwargs == {**g_ema.config, "img_resolution": [16, 16]}
    assert ckpt.D_kwargs["mbstd_group_size"] == 2
    for want, got in [(g, ckpt.G), (g_ema, ckpt.G_ema), (d, ckpt.D)]:
        assert got.keys() == want.state_dict().keys()  # resample_filter buffers dropped
        for name, t in want.state_dict().items():
            assert torch.equal(got[name], t), name
    imported = rebuilt(ckpt.G_kwargs, ckpt.G_ema)
    z = torch.randn(2, 32)
    for mode in ("const", "none"):
        assert torch.equal(imported(z, noise_mode=mode), g_ema(z, noise_mode=mode))
    img = g_ema(z)
    d_imported = rebuilt(ckpt.D_kwargs, ckpt.D, Discriminator)
    assert torch.equal(d_imported(img), d(img))


class Payload:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("global_name", ["os.system", "builtins.eval"])
def test_pickle_asking_for_another_global_is_refused_and_not_run(tmp_path, global_name):
    marker = tmp_path / "pwned"
    if global_name == "os.system":
        payload = Payload(os.system, f"touch {marker}")
    else:
        payload = Payload(eval, f"open({str(marker)!r}, 'w')")
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": payload}))
    if global_name == "os.system":  # pickle names it by its real module
        global_name = f"{os.system.__module__}.system"

    with pytest.raises(FauxshopError, match=rf"evil\.pkl: refused .*{global_name}"):
        load_external(path)
    assert not marker.exists()


def test_tensorflow_pickle_and_garbage_get_clear_errors(tmp_path):
    tf = tmp_path / "stylegan2-ffhq-config-f.pkl"
    tf.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\n.")
    with pytest.raises(FauxshopError, match="TensorFlow .*legacy.py"):
        load_external(tf)
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(FauxshopError, match=r"junk\.pkl: not a readable network pickle"):
        load_external(junk)


# ----------------------------------------------------------------------------------------------
# rosinality's format, written by hand from its model.py layout.


def to_rosinality_g(g: Generator) -> dict:
    s, out = g.state_dict(), {}
    for i in range(g.mapping.num_layers):
        out[f"style.{i + 1}.weight"] = s[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = s[f"mapping.fc{i}.bias"]
    out["input.input"] = s["synthesis.b4.const"][None]
    up_res = g.synthesis.block_resolutions[1:]
    convs = [("conv1", "b4.conv1")]
    convs += [
        (f"convs.{2 * k + j}", f"b{res}.conv{j}") for k, res in enumerate(up_res) for j in (0, 1)
    ]
    for i, (ros, ours) in enumerate(convs):
        ours = f"synthesis.{ours}"
        out[f"{ros}.conv.weight"] = s[f"{ours}.weight"][None]
        out[f"{ros}.conv.modulation.weight"] = s[f"{ours}.affine.weight"]
        out[f"{ros}.conv.modulation.bias"] = s[f"{ours}.affine.bias"]
        out[f"{ros}.noise.weight"] = s[f"{ours}.noise_strength"].reshape(1)
        out[f"{ros}.activate.bias"] = s[f"{ours}.bias"]
        out[f"noises.noise_{i}"] = s[f"{ours}.noise_const"][None, None]
        if ours.endswith("conv0"):
            out[f"{ros}.conv.blur.kernel"] = fir_kernel() * 4
    rgbs = [("to_rgb1", "b4")] + [(f"to_rgbs.{k}", f"b{res}") for k, res in enumerate(up_res)]
    for ros, ours in rgbs:
        ours = f"synthesis.{ours}.torgb"
        out[f"{ros}.conv.weight"] = s[f"{ours}.weight"][None]
        out[f"{ros}.conv.modulation.weight"] = s[f"{ours}.affine.weight"]
        out[f"{ros}.conv.modulation.bias"] = s[f"{ours}.affine.bias"]
        out[f"{ros}.bias"] = s[f"{ours}.bias"].reshape(1, 3, 1, 1)
        if ros != "to_rgb1":
            out[f"{ros}.upsample.kernel"] = fir_kernel() * 4
    return {k: v.clone() for k, v in out.items()}


def to_rosinality_d(d: Discriminator) -> dict:
    s, top = d.state_dict(), d.block_resolutions[0]
    out = {
        "convs.0.0.weight": s[f"b{top}.fromrgb.weight"],
        "convs.0.1.bias": s[f"b{top}.fromrgb.bias"],
    }
    for k, res in enumerate(d.block_resolutions, 1):
        b = f"convs.{k}"
        out[f"{b}.conv1.0.weight"] = s[f"b{res}.conv0.weight"]
        out[f"{b}.conv1.1.bias"] = s[f"b{res}.conv0.bias"]
        out[f"{b}.conv2.0.kernel"] = fir_kernel()
        out[f"{b}.conv2.1.weight"] = s[f"b{res}.conv1.weight"]
        out[f"{b}.conv2.2.bias"] = s[f"b{res}.conv1.bias"]
        out[f"{b}.skip.0.kernel"] = fir_kernel()
        out[f"{b}.skip.1.weight"] = s[f"b{res}.skip.weight"]
    for ros, ours in [
        ("final_conv.0", "conv"),
        ("final_linear.0", "fc"),
        ("final_linear.1", "out"),
    ]:
        if ros != "final_conv.0":
            out[f"{ros}.bias"] = s[f"b4.{ours}.bias"]
        out[f"{ros}.weight"] = s[f"b4.{ours}.weight"]
    out["final_conv.1.bias"] = s["b4.conv.bias"]
    return {k: v.clone() for k, v in out.items()}


def lrelu(x, bias):
    return F.leaky_relu(x + bias.reshape(1, -1, *[1] * (x.ndim - 2)), 0.2) * SQRT2


def upfirdn(x, kernel, up=1, pad=(0, 0), down=1):
    """Zero-insert, pad, convolve with the (flipped) kernel, subsample: rosinality's upfirdn2d."""
    if up > 1:
        y = x.new_zeros(*x.shape[:2], x.shape[2] * up, x.shape[3] * up)
        y[..., ::up, ::up] = x
        x = y
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    k = kernel.flip([0, 1]).expand(x.shape[1], 1, *kernel.shape)
    return F.conv2d(x, k, groups=x.shape[1])[..., ::down, ::down]


def equal_linear(x, sd, prefix, lr_mul=1.0):
    w = sd[f"{prefix}.weight"]
    return F.linear(x, w * lr_mul / math.sqrt(w.shape[1])), sd[f"{prefix}.bias"] * lr_mul


def ros_modconv(sd, prefix, x, w, demodulate=True, up=False):
    weight = sd[f"{prefix}.conv.weight"][0]
    out_ch, in_ch, k, _ = weight.shape
    style = sum(equal_linear(w, sd, f"{prefix}.conv.modulation"))
    weight = weight[None] * style[:, None, :, None, None] / math.sqrt(in_ch * k * k)
    if demodulate:
        weight = weight * (weight.square().sum([2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    outs = []
    for i in range(x.shape[0]):  # one sample at a time: no grouped-conv tricks to get wrong
        if up:
            y = F.conv_transpose2d(x[i : i + 1], weight[i].transpose(0, 1), stride=2)
            outs.append(upfirdn(y, fir_kernel() * 4, pad=(1, 1)))
        else:
            outs.append(F.conv2d(x[i : i + 1], weight[i], padding=k // 2))
    return torch.cat(outs)


def ros_generator(sd, z, use_noise=True):
    """rosinality Generator.forward(randomize_noise=False) for a single style, restated."""
    x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
    n_mlp = sum(1 for k in sd if k.startswith("style.") and k.endswith(".weight"))
    for i in range(1, n_mlp + 1):
        x = lrelu(*equal_linear(x, sd, f"style.{i}", lr_mul=0.01))

    def styled(prefix, h, noise_index, up=False):
        h = ros_modconv(sd, prefix, h, x, up=up)
        if use_noise:
            h = h + sd[f"{prefix}.noise.weight"] * sd[f"noises.noise_{noise_index}"]
        return lrelu(h, sd[f"{prefix}.activate.bias"])

    def to_rgb(prefix, h, skip):
        y = ros_modconv(sd, prefix, h, x, demodulate=False) + sd[f"{prefix}.bias"]
        return y if skip is None else y + upfirdn(skip, fir_kernel() * 4, up=2, pad=(2, 1))

    h = styled("conv1", sd["input.input"].repeat(z.shape[0], 1, 1, 1), 0)
    img = to_rgb("to_rgb1", h, None)
    for k in range(sum(1 for key in sd if key.endswith(".upsample.kernel"))):
        h = styled(f"convs.{2 * k}", h, 2 * k + 1, up=True)
        h = styled(f"convs.{2 * k + 1}", h, 2 * k + 2)
        img = to_rgb(f"to_rgbs.{k}", h, img)
    return img


def ros_discriminator(sd, img):
    """rosinality Discriminator.forward, restated."""

    def conv(x, prefix, stride=1, padding=0):
        w = sd[f"{prefix}.weight"]
        return F.conv2d(x, w / math.sqrt(w[0].numel()), stride=stride, padding=padding)

    x = lrelu(conv(img, "convs.0.0"), sd["convs.0.1.bias"])
    for k in range(1, len({key.split(".")[1] for key in sd if key.startswith("convs.")})):
        b = f"convs.{k}"
        y = lrelu(conv(x, f"{b}.conv1.0", padding=1), sd[f"{b}.conv1.1.bias"])
        y = lrelu(
            conv(upfirdn(y, fir_kernel(), pad=(2, 2)), f"{b}.conv2.1", 2), sd[f"{b}.conv2.2.bias"]
        )
        x = (y + conv(upfirdn(x, fir_kernel(), pad=(1, 1)), f"{b}.skip.1", 2)) / SQRT2
    n, c, h, w = x.shape
    g = min(n, 4)
    std = (x.reshape(g, -1, 1, c, h, w).var(0, unbiased=False) + 1e-8).sqrt().mean([2, 3, 4])
    x = torch.cat([x, std.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)], dim=1)
    x = lrelu(conv(x, "final_conv.0", padding=1), sd["final_conv.1.bias"]).reshape(n, -1)
    x = lrelu(*equal_linear(x, sd, "final_linear.0"))
    return sum(equal_linear(x, sd, "final_linear.1"))


def test_rosinality_checkpoint_reproduces_its_generator_and_discriminator(tmp_path):
    g_ema, g, d = make_g(seed=0), make_g(seed=2), make_d()
    sd_g_ema, sd_d = to_rosinality_g(g_ema), to_rosinality_d(d)
    latent_avg = torch.randn(32)
    path = tmp_path / "050000.pt"
    args = argparse.Namespace(size=16, latent=32, n_mlp=2, channel_multiplier=2)
    torch.save(
        {
            "g": to_rosinality_g(g),
            "d": sd_d,
            "g_ema": sd_g_ema,
            "latent_avg": latent_avg,
            "args": args,
        },
        path,
    )

    ckpt = load_external(path)

    assert ckpt.kind == "rosinality"
    assert ckpt.G_kwargs == {**g_ema.config, "img_resolution": [16, 16]}
    assert torch.equal(ckpt.G_ema["mapping.w_avg"], latent_avg)
    imported = rebuilt(ckpt.G_kwargs, ckpt.G_ema)
    z = torch.randn(3, 32)
    want_const, want_none = ros_generator(sd_g_ema, z), ros_generator(sd_g_ema, z, use_noise=False)
    torch.testing.assert_close(imported(z, noise_mode="const"), want_const, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(imported(z, noise_mode="none"), want_none, atol=1e-4, rtol=1e-4)
    state = g.state_dict()
    assert len(state) > 1
    for name, t in state.items():  # the raw generator keeps its own values
        if name != "mapping.w_avg":
            assert torch.equal(ckpt.G[name], t), name

    img = torch.randn(4, 3, 16, 16)
    d_imported = rebuilt(ckpt.D_kwargs, ckpt.D, Discriminator)
    torch.testing.assert_close(d_imported(img), ros_discriminator(sd_d, img), atol=1e-4, rtol=1e-4)


def test_rosinality_without_latent_avg_estimates_w_avg(tmp_path):
    g = make_g()
    path = tmp_path / "converted.pt"
    torch.save({"g_ema": to_rosinality_g(g)}, path)
    ckpt = load_external(path)
    assert ckpt.D is None and ckpt.G.keys() == ckpt.G_ema.keys()
    ws = g.mapping(torch.randn(4096, 32), None)[:, 0]
    bound = 5 * ws.std(dim=0) / math.sqrt(4096)
    assert ((ckpt.G_ema["mapping.w_avg"] - ws.mean(dim=0)).abs() < bound).all()


def test_unknown_rosinality_tensor_is_named(tmp_path):
    sd = to_rosinality_g(make_g())
    sd["to_rgbs.0.iwt.ll"] = torch.zeros(1)  # e.g. a SWAGAN checkpoint
    path = tmp_path / "swagan.pt"
    torch.save({"g_ema": sd}, path)
    with pytest.raises(
        FauxshopError, match=r"swagan\.pt: unexpected tensor g_ema\.to_rgbs\.0\.iwt"
    ):
        load_external(path)


def test_torch_checkpoint_with_code_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": Payload(os.system, f"touch {marker}")}, path)
    with pytest.raises(FauxshopError, match=r"evil\.pt: not loadable .*system") as e:
        load_external(path)
    assert not marker.exists()
    assert "weights_only" not in str(e.value) and "\n" not in str(e.value)  # never advise it


# ----------------------------------------------------------------------------------------------
# Transfer and Freeze-D


def test_init_from_another_resolution_copies_what_fits(tmp_path, monkeypatch):
    g_src, d_src = make_g(seed=2), make_d()  # G and G_ema both start from the source's G_ema
    path = tmp_path / "network-snapshot.pkl"
    write_nvidia_snapshot(path, make_g(seed=0), d_src, g_src, monkeypatch)
    torch.manual_seed(5)
    g = Generator(32, 0, 32, (64, 32), mapping_kwargs={"num_layers": 2}, synthesis_kwargs=TINY)
    d = Discriminator(img_resolution=(64, 32), **TINY)
    g_ema = Generator(**g.config)

    report = init_from(g, d, path, freeze_d=1, G_ema=g_ema)

    src = g_src.state_dict()
    for name, t in g.state_dict().items():
        if f"G.{name}" in report.copied:
            assert torch.equal(t, src[name]), name
            assert torch.equal(g_ema.state_dict()[name], src[name]), name
    assert "G.mapping.fc1.weight" in report.copied
    assert "G.synthesis.b16.conv1.weight" in report.copied
    assert "G.synthesis.b4.const" in report.skipped_shape  # 8x4 portrait vs 4x4
    assert "G.synthesis.b16.conv1.noise_const" in report.skipped_shape
    assert "G.synthesis.b32.conv0.weight" in report.initialised
    assert "G_ema.mapping.fc0.weight" in report.copied
    assert "D.b16.conv0.weight" in report.copied
    assert "D.b4.fc.weight" in report.skipped_shape
    assert "D.b32.fromrgb.weight" in report.initialised
    assert "D.b16.fromrgb.weight" in report.unused
    listed = report.copied + report.initialised + report.skipped_shape
    assert sorted(listed) == sorted(
        [f"{p}.{n}" for p, net in [("G", g), ("G_ema", g_ema), ("D", d)] for n in net.state_dict()]
    )
    assert report.frozen == frozen_d_params(d, 1)


def test_init_from_fauxshop_safetensors_and_a_custom_loader(tmp_path):
    g_src, d_src = make_g(), make_d()
    tensors = {f"G.{k}": v for k, v in g_src.state_dict().items()}
    tensors |= {f"G_ema.{k}": v for k, v in g_src.state_dict().items()}
    tensors |= {f"D.{k}": v for k, v in d_src.state_dict().items()}
    path = tmp_path / "ckpt-000100.safetensors"
    save_file({k: v.clone() for k, v in tensors.items()}, path)
    g, d = Generator(**g_src.config), Discriminator(**d_src.config)

    report = init_from(g, d, path)

    assert not report.initialised and not report.skipped_shape and not report.unused
    z = torch.randn(2, 32)
    assert torch.equal(g(z), g_src(z))
    seen = []
    init_from(g, d, path, loader=lambda p: seen.append(p) or load_external(p))
    assert seen == [path]


def test_frozen_d_params_counts_blocks_from_the_top():
    d = Discriminator(img_resolution=32, **TINY)  # blocks b32, b16, b8, then the b4 epilogue
    assert frozen_d_params(d, 0) == []
    names = frozen_d_params(d, 2)
    assert names and all(n.startswith(("b32.", "b16.")) for n in names)
    assert "b32.fromrgb.weight" in names and "b16.skip.weight" in names
    assert not any(n.startswith(("b8.", "b4.")) for n in names)
    with pytest.raises(FauxshopError, match="freeze_d=4: .* 3 blocks"):
        frozen_d_params(d, 4)


def test_architecture_of_an_nvidia_pickle_and_a_rosinality_checkpoint(tmp_path, monkeypatch):
    from fauxshop.image.importers import architecture_of

    want = {"z_dim": 32, "w_dim": 32, "mapping_layers": 2, **TINY}
    ros = tmp_path / "g.pt"
    torch.save({"g_ema": to_rosinality_g(make_g())}, ros)
    assert architecture_of(ros) == want
    torch.manual_seed(0)
    cond = Generator(32, 5, 32, 16, mapping_kwargs={"num_layers": 2}, synthesis_kwargs=TINY)
    path = tmp_path / "cond.pkl"
    write_nvidia_snapshot(path, cond, make_d(), cond, monkeypatch)
    assert architecture_of(path) == {**want, "cond": True}
