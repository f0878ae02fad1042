"""Start from other models' weights: NVIDIA and rosinality StyleGAN2 checkpoints, or fauxshop's.

Transfer learning is how "This Dress Doesn't Exist" got good images from a small catalog, so
fauxshop reads the two common PyTorch StyleGAN2 formats and renames their tensors onto
`fauxshop.image.networks`:

- NVIDIA stylegan2-ada-pytorch / stylegan3 (`--cfg=stylegan2`) `network-snapshot-*.pkl`: read by
  `unpickle.load_network_pickle`, which never runs the code inside. Names already match; the
  persistent `resample_filter` buffers are checked to be the standard [1, 3, 3, 1] filter and
  dropped. Both releases upsample with a true convolution, as fauxshop does, so no weight is
  flipped. NVIDIA's fp16 `conv_clamp` (activations clipped at +-256) is not reproduced.
- rosinality stylegan2-pytorch `.pt` (`g`, `g_ema`, `d` state dicts): the same equalised-lr
  storage (unit-variance weights, runtime gains, mapping weights divided by lr_mul=0.01), so
  values copy unchanged and only names and shapes change (see `_ros_g_name`, `_ros_d_name`).
  It keeps no running mean of w: `latent_avg` (written by its convert_weight.py) is used when
  present, else w_avg is the mean of 4096 mapped z, as its generate.py computes it.
- fauxshop `.safetensors` checkpoints whose keys are prefixed `G.`, `G_ema.` and `D.`.

`init_from` then copies whatever fits a freshly built network, so a 256px model can seed a
512px one (mapping and low-resolution blocks) and the report says what was left fresh.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from fauxshop.digest import file_sha256
from fauxshop.errors import FauxshopError
from fauxshop.image.checkpoint import FORMAT, Snapshot, check_finite
from fauxshop.image.networks import (
    Discriminator,
    Generator,
    MappingNetwork,
    channels_at,
    fir_kernel,
)
from fauxshop.image.unpickle import ModuleRecord, load_network_pickle, load_reason, torch_load

StateDict = dict[str, torch.Tensor]
_STRUCTURE_ERRORS = (
    AttributeError,
    IndexError,
    KeyError,
    OSError,
    RuntimeError,
    TypeError,
    ValueError,
)
W_AVG_SAMPLES = 4096


@dataclass
class ExternalCheckpoint:
    """Tensors of another model under fauxshop's names; `Generator(**G_kwargs)` accepts them."""

    kind: str  # 'nvidia' | 'rosinality' | 'fauxshop'
    G_kwargs: dict
    G: StateDict
    G_ema: StateDict
    D: StateDict | None
    D_kwargs: dict | None = None


@dataclass
class TransferReport:
    """What `init_from` did, by prefixed name (`G.mapping.fc0.weight`, `D.b4.fc.bias`, ...)."""

    copied: list[str] = field(default_factory=list)
    initialised: list[str] = field(default_factory=list)  # absent from the source: kept fresh
    skipped_shape: list[str] = field(default_factory=list)  # present, other shape: kept fresh
    unused: list[str] = field(default_factory=list)  # in the source, not in the network
    frozen: list[str] = field(default_factory=list)  # D parameters Freeze-D keeps fixed


# ----------------------------------------------------------------------------------------------
# Loading


def load_external(path: str | Path) -> ExternalCheckpoint:
    """Read an NVIDIA `.pkl`, a rosinality `.pt` or a fauxshop `.safetensors` checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FauxshopError(f"{path}: no such file")
    try:
        if path.suffix == ".safetensors":
            ckpt = _load_fauxshop(path)
        elif path.suffix in (".pt", ".pth") or _is_zip(path):
            ckpt = _load_rosinality(path)
        else:
            ckpt = _load_nvidia(path)
        _check_fits(path, ckpt)
    except _STRUCTURE_ERRORS as e:
        # a damaged or foreign file's structure fails in ways no check above names
        raise FauxshopError(f"{path}: not a usable StyleGAN2 checkpoint ({load_reason(e)})") from e
    for state in (ckpt.G, ckpt.G_ema, ckpt.D or {}):
        check_finite(path, state)
    return ckpt


def imported_snapshot(path: str | Path) -> Snapshot:
    """A checkpoint of another format as a snapshot holding its two generators in memory, so
    every verb that takes a snapshot takes it (`resolve_snapshot` sends such files here)."""
    path = Path(path)
    ckpt = load_external(path)
    held = {f"G_ema.{k}": v for k, v in ckpt.G_ema.items()}
    held |= {f"G.{k}": v for k, v in ckpt.G.items()}
    meta = {
        "format": FORMAT,
        "G_kwargs": ckpt.G_kwargs,
        "cur_nimg": 0,
        "source": path.name,
        "source_kind": ckpt.kind,
        "source_sha256": file_sha256(path),
    }
    return Snapshot(path, meta, held)


def _is_zip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _load_nvidia(path: Path) -> ExternalCheckpoint:
    data = load_network_pickle(path)
    if not isinstance(data, dict) or not isinstance(data.get("G_ema"), ModuleRecord):
        raise FauxshopError(f"{path}: not an NVIDIA network snapshot (it holds no G_ema network)")
    g_ema, g, d = data["G_ema"], data.get("G"), data.get("D")
    _check_nvidia_architecture(path, g_ema, d)
    G_ema = _from_nvidia(path, g_ema.tensors())
    G = _from_nvidia(path, g.tensors()) if isinstance(g, ModuleRecord) else dict(G_ema)
    G_kwargs = _nvidia_overrides(_infer_g_kwargs(path, G_ema), g_ema.init_kwargs)
    if not isinstance(d, ModuleRecord):
        return ExternalCheckpoint("nvidia", G_kwargs, G, G_ema, None)
    D = _from_nvidia(path, d.tensors())
    D_kwargs = _nvidia_overrides(_infer_d_kwargs(path, D, G_kwargs), d.init_kwargs)
    return ExternalCheckpoint("nvidia", G_kwargs, G, G_ema, D, D_kwargs)


def _check_nvidia_architecture(path: Path, g: ModuleRecord, d: object) -> None:
    """Only StyleGAN2's skip generator and residual discriminator have fauxshop counterparts."""
    if any(name.startswith("synthesis.input.") for name in g.tensors()):
        raise FauxshopError(f"{path}: a StyleGAN3 (alias-free) generator; only StyleGAN2 imports")
    g_kwargs = g.init_kwargs
    g_arch = g_kwargs.get("synthesis_kwargs", g_kwargs).get("architecture", "skip")
    d_arch = d.init_kwargs.get("architecture", "resnet") if isinstance(d, ModuleRecord) else None
    if g_arch != "skip" or d_arch not in (None, "resnet"):
        raise FauxshopError(
            f"{path}: G architecture {g_arch!r}, D {d_arch!r}; fauxshop has 'skip' and 'resnet'"
        )


def _from_nvidia(path: Path, tensors: StateDict) -> StateDict:
    """NVIDIA names are fauxshop's; its resample_filter buffers are constants fauxshop rebuilds."""
    out = {}
    for name, t in tensors.items():
        if name.rsplit(".", 1)[-1] == "resample_filter":
            _check_filter(path, name, t, fir_kernel())
        else:
            out[name] = _as_float(path, name, t)
    return out


def _as_float(path: Path, name: str, t: object) -> torch.Tensor:
    """A weight as float32; an integer, boolean or non-tensor value is no network weight."""
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        kind = t.dtype if isinstance(t, torch.Tensor) else type(t).__name__
        raise FauxshopError(f"{path}: {name} is {kind}, not a floating-point weight")
    return t.float().contiguous()


def _nvidia_overrides(kwargs: dict, init_kwargs: dict) -> dict:
    """Settings shapes cannot tell: NVIDIA's own channel_base/max, lr multiplier, mbstd group."""
    synthesis = init_kwargs.get("synthesis_kwargs", init_kwargs)  # stylegan3 flattens them
    target = kwargs.get("synthesis_kwargs", kwargs)
    for key in ("channel_base", "channel_max"):
        if isinstance(synthesis.get(key), int):
            target[key] = synthesis[key]
    lr = (init_kwargs.get("mapping_kwargs") or {}).get("lr_multiplier")
    if isinstance(lr, int | float) and "mapping_kwargs" in kwargs:
        kwargs["mapping_kwargs"]["lr_multiplier"] = float(lr)
    group = (init_kwargs.get("epilogue_kwargs") or {}).get("mbstd_group_size")
    if isinstance(group, int) and "mbstd_num_channels" in kwargs:
        kwargs["mbstd_group_size"] = group
    return kwargs


def _load_rosinality(path: Path) -> ExternalCheckpoint:
    # train.py also saves its argparse Namespace; nothing else beyond tensors is allowed
    data = torch_load(path, [argparse.Namespace])
    if not isinstance(data, dict) or not isinstance(data.get("g_ema"), dict):
        raise FauxshopError(f"{path}: not a rosinality stylegan2-pytorch checkpoint (no 'g_ema')")
    G_ema = _from_rosinality(path, data["g_ema"], _ros_g_name, "g_ema")
    G = _from_rosinality(path, data["g"], _ros_g_name, "g") if "g" in data else dict(G_ema)
    G_kwargs = _infer_g_kwargs(path, G_ema)
    latent_avg = data.get("latent_avg")  # from convert_weight.py: TF's dlatent_avg
    G["mapping.w_avg"] = _mean_w(G, G_kwargs)
    if isinstance(latent_avg, torch.Tensor):
        G_ema["mapping.w_avg"] = latent_avg.float().reshape(-1)
    else:
        G_ema["mapping.w_avg"] = _mean_w(G_ema, G_kwargs)
    if "d" not in data:
        return ExternalCheckpoint("rosinality", G_kwargs, G, G_ema, None)
    D = _from_rosinality(path, data["d"], _ros_d_name, "d")
    D_kwargs = _infer_d_kwargs(path, D, G_kwargs)
    return ExternalCheckpoint("rosinality", G_kwargs, G, G_ema, D, D_kwargs)


Renamer = Callable[[str, dict], tuple[str, torch.Tensor] | None]


def _from_rosinality(path: Path, state: dict, rename: Renamer, what: str) -> StateDict:
    """Rename every tensor of one rosinality network; an unknown name means another model."""
    out = {}
    for key, t in state.items():
        try:
            renamed = rename(key, state)
        except (KeyError, ValueError, IndexError) as e:
            raise FauxshopError(
                f"{path}: unexpected tensor {what}.{key}; not a rosinality StyleGAN2 network"
                " (SWAGAN and other variants are not supported)"
            ) from e
        if renamed is None:  # a blur kernel: check it is the filter fauxshop builds itself
            gain = 4.0 if what.startswith("g") else 1.0  # G's blurs follow 2x upsampling
            _check_filter(path, f"{what}.{key}", t, fir_kernel() * gain)
        else:
            name, value = renamed
            out[name] = _as_float(path, f"{what}.{key}", value)
    return out


def _groups(pattern: str, key: str) -> tuple[str, ...]:
    """The groups of a full match; KeyError (an unknown tensor) when the name does not fit."""
    m = re.fullmatch(pattern, key)
    if m is None:
        raise KeyError(key)
    return m.groups()


def _ros_g_layer(head: str) -> str:
    """rosinality layer -> fauxshop layer: convs.{2k, 2k+1} and to_rgbs.k are block 8 * 2^k."""
    if head in ("conv1", "to_rgb1"):
        return "synthesis.b4." + ("conv1" if head == "conv1" else "torgb")
    kind, index = head.split(".")
    i = int(index)
    if kind == "convs":
        return f"synthesis.b{2 ** (i // 2 + 3)}.conv{i % 2}"
    if kind == "to_rgbs":
        return f"synthesis.b{2 ** (i + 3)}.torgb"
    raise KeyError(head)


# rosinality name inside a styled conv / toRGB layer -> fauxshop name, reshape to fauxshop's shape
_ROS_G_PARTS: dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = {
    "conv.weight": ("weight", lambda t: t.squeeze(0)),  # [1, O, I, k, k]
    "conv.modulation.weight": ("affine.weight", lambda t: t),
    "conv.modulation.bias": ("affine.bias", lambda t: t),
    "noise.weight": ("noise_strength", lambda t: t.reshape([])),  # [1]
    "activate.bias": ("bias", lambda t: t),  # FusedLeakyReLU's bias
    "bias": ("bias", lambda t: t.reshape(-1)),  # toRGB's [1, 3, 1, 1]
}


def _ros_g_name(key: str, state: dict) -> tuple[str, torch.Tensor] | None:
    t = state[key]
    if m := re.fullmatch(r"style\.(\d+)\.(weight|bias)", key):  # style.0 is the PixelNorm
        return f"mapping.fc{int(m[1]) - 1}.{m[2]}", t
    if key == "input.input":
        return "synthesis.b4.const", t.squeeze(0)
    if m := re.fullmatch(r"noises\.noise_(\d+)", key):  # one per styled conv, in order
        i = int(m[1])
        return _ros_g_layer("conv1" if i == 0 else f"convs.{i - 1}") + ".noise_const", t[0, 0]
    head, part = _groups(r"(conv1|to_rgb1|convs\.\d+|to_rgbs\.\d+)\.(.+)", key)
    if part in ("conv.blur.kernel", "upsample.kernel"):
        return None
    name, reshape = _ROS_G_PARTS[part]
    return f"{_ros_g_layer(head)}.{name}", reshape(t)


# rosinality ResBlock part (Sequential of [Blur,] EqualConv2d, FusedLeakyReLU) -> fauxshop part
_ROS_D_BLOCK = {
    "conv1.0.weight": "conv0.weight",
    "conv1.1.bias": "conv0.bias",
    "conv2.1.weight": "conv1.weight",
    "conv2.2.bias": "conv1.bias",
    "skip.1.weight": "skip.weight",
}
_ROS_D_FIXED = {
    "final_conv.0.weight": "b4.conv.weight",
    "final_conv.1.bias": "b4.conv.bias",
    "final_linear.0.weight": "b4.fc.weight",
    "final_linear.0.bias": "b4.fc.bias",
    "final_linear.1.weight": "b4.out.weight",
    "final_linear.1.bias": "b4.out.bias",
}


def _ros_d_name(key: str, state: dict) -> tuple[str, torch.Tensor] | None:
    """convs.0 is fromRGB at the top resolution, convs.k the k-th residual block below it."""
    t = state[key]
    if key in _ROS_D_FIXED:
        return _ROS_D_FIXED[key], t
    num_blocks = len({k.split(".")[1] for k in state if k.startswith("convs.")}) - 1
    top = 4 * 2**num_blocks
    if m := re.fullmatch(r"convs\.0\.([01])\.(weight|bias)", key):
        return f"b{top}.fromrgb.{'weight' if m[1] == '0' else 'bias'}", t
    index, part = _groups(r"convs\.(\d+)\.(.+)", key)
    if part in ("conv2.0.kernel", "skip.0.kernel"):
        return None
    return f"b{top >> (int(index) - 1)}.{_ROS_D_BLOCK[part]}", t


def _mean_w(state: StateDict, G_kwargs: dict) -> torch.Tensor:
    """The average w that truncation pulls towards, from the imported mapping network."""
    mapping = MappingNetwork(
        G_kwargs["z_dim"], 0, G_kwargs["w_dim"], None, **G_kwargs["mapping_kwargs"]
    )
    prefix = "mapping."
    weights = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    mapping.load_state_dict(weights, strict=False)  # its own w_avg is what we compute here
    z = torch.randn(W_AVG_SAMPLES, G_kwargs["z_dim"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return mapping(z).mean(dim=0)


def _load_fauxshop(path: Path) -> ExternalCheckpoint:
    try:
        tensors = load_file(path)
    except Exception as e:  # safetensors raises its own error types for bad headers
        raise FauxshopError(f"{path}: not a readable safetensors file: {e}") from e
    groups: dict[str, StateDict] = {"G": {}, "G_ema": {}, "D": {}}
    for key, t in tensors.items():
        prefix, _, name = key.partition(".")
        if prefix in groups:
            groups[prefix][name] = _as_float(path, key, t)
    G_ema = groups["G_ema"] or groups["G"]
    if not G_ema:
        raise FauxshopError(f"{path}: no tensors named G.* or G_ema.*; not a fauxshop checkpoint")
    G = groups["G"] or dict(G_ema)
    G_kwargs = _infer_g_kwargs(path, G_ema)
    if not groups["D"]:
        return ExternalCheckpoint("fauxshop", G_kwargs, G, G_ema, None)
    D_kwargs = _infer_d_kwargs(path, groups["D"], G_kwargs)
    return ExternalCheckpoint("fauxshop", G_kwargs, G, G_ema, groups["D"], D_kwargs)


# ----------------------------------------------------------------------------------------------
# Network settings from tensor shapes


def _indices(state: StateDict, pattern: str) -> list[int]:
    return sorted({int(m[1]) for k in state if (m := re.match(pattern, k))})


def _infer_g_kwargs(path: Path, G: StateDict) -> dict:
    """`Generator` arguments that rebuild a network with exactly these tensor shapes."""
    try:
        num_layers = len(_indices(G, r"mapping\.fc(\d+)\.weight"))
        w_dim = G[f"mapping.fc{num_layers - 1}.weight"].shape[0]
        c_dim = G["mapping.embed.weight"].shape[1] if "mapping.embed.weight" in G else 0
        _, h4, w4 = G["synthesis.b4.const"].shape
        resolutions = _indices(G, r"synthesis\.b(\d+)\.")
        top = resolutions[-1]
        channels = {res: G[f"synthesis.b{res}.conv1.weight"].shape[0] for res in resolutions}
        img_channels = G[f"synthesis.b{top}.torgb.weight"].shape[0]
        z_dim = G["mapping.fc0.weight"].shape[1] - (w_dim if c_dim else 0)
    except (KeyError, IndexError, ValueError) as e:
        raise _not_stylegan2(path, "generator", e) from e
    channel_base, channel_max = _fit_channels(path, channels)
    return {
        "z_dim": z_dim,
        "c_dim": c_dim,
        "w_dim": w_dim,
        "img_resolution": [h4 * top // 4, w4 * top // 4],
        "img_channels": img_channels,
        "mapping_kwargs": {"num_layers": num_layers},
        "synthesis_kwargs": {"channel_base": channel_base, "channel_max": channel_max},
    }


def _infer_d_kwargs(path: Path, D: StateDict, G_kwargs: dict) -> dict:
    """`Discriminator` arguments for these shapes; the aspect ratio is the generator's."""
    try:
        resolutions = _indices(D, r"b(\d+)\.conv0\.weight")
        top = resolutions[-1]
        ch4, conv_in = D["b4.conv.weight"].shape[:2]
        channels = {4: ch4, **{res: D[f"b{res}.conv0.weight"].shape[0] for res in resolutions}}
        img_channels = D[f"b{top}.fromrgb.weight"].shape[1]
    except (KeyError, IndexError, ValueError) as e:
        raise _not_stylegan2(path, "discriminator", e) from e
    channel_base, channel_max = _fit_channels(path, channels)
    h, w = G_kwargs["img_resolution"]
    kwargs = {
        "c_dim": D["mapping.embed.weight"].shape[1] if "mapping.embed.weight" in D else 0,
        "img_resolution": [h * top // min(h, w), w * top // min(h, w)],
        "img_channels": img_channels,
        "channel_base": channel_base,
        "channel_max": channel_max,
        "mbstd_num_channels": conv_in - ch4,
    }
    if kwargs["c_dim"]:
        kwargs["mapping_kwargs"] = {"num_layers": len(_indices(D, r"mapping\.fc(\d+)\.weight"))}
    return kwargs


def _not_stylegan2(path: Path, what: str, e: Exception) -> FauxshopError:
    reason = f"no tensor {e}" if isinstance(e, KeyError) else "unexpected tensor layout"
    return FauxshopError(f"{path}: not a StyleGAN2 {what} ({reason})")


def _fit_channels(path: Path, channels: dict[int, int]) -> tuple[int, int]:
    """(channel_base, channel_max) giving these widths as min(channel_base // res, channel_max)."""
    channel_max = max(channels.values())
    narrower = [res * ch for res, ch in channels.items() if ch < channel_max]
    channel_base = max(narrower) if narrower else channel_max * max(channels)
    if any(channels_at(res, channel_base, channel_max) != ch for res, ch in channels.items()):
        widths = ", ".join(f"{res}: {ch}" for res, ch in sorted(channels.items()))
        raise FauxshopError(
            f"{path}: channel widths ({widths}) do not follow min(channel_base // res,"
            " channel_max), so fauxshop's networks cannot hold them"
        )
    return channel_base, channel_max


def _check_filter(path: Path, name: str, t: torch.Tensor, want: torch.Tensor) -> None:
    if t.shape != want.shape or not torch.allclose(t.float(), want, atol=1e-6):
        raise FauxshopError(f"{path}: {name} is not the [1, 3, 3, 1] filter fauxshop uses")


def _check_fits(path: Path, ckpt: ExternalCheckpoint) -> None:
    """Every translated tensor must land on a fauxshop parameter of the same shape."""
    nets = [("G", Generator, ckpt.G_kwargs, ckpt.G)]
    nets.append(("G_ema", Generator, ckpt.G_kwargs, ckpt.G_ema))
    if ckpt.D is not None:
        nets.append(("D", Discriminator, ckpt.D_kwargs, ckpt.D))
    for what, cls, kwargs, state in nets:
        try:
            with torch.device("meta"):
                want = {k: tuple(v.shape) for k, v in cls(**kwargs).state_dict().items()}
        except (TypeError, ValueError) as e:
            raise FauxshopError(f"{path}: {what} settings {kwargs} do not build: {e}") from e
        got = {k: tuple(v.shape) for k, v in state.items()}
        problems = [f"missing {k}" for k in want if k not in got]
        problems += [f"unexpected {k}" for k in got if k not in want]
        problems += [f"{k} is {got[k]}, not {v}" for k, v in want.items() if got.get(k, v) != v]
        if problems:
            more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
            raise FauxshopError(
                f"{path}: {what} does not fit fauxshop's network: {'; '.join(problems[:3])}{more}"
            )


# ----------------------------------------------------------------------------------------------
# Transfer


def init_from(
    G: nn.Module,
    D: Discriminator,
    path: str | Path,
    freeze_d: int = 0,
    *,
    G_ema: nn.Module | None = None,
    loader: Callable[[Path], ExternalCheckpoint] = load_external,
) -> TransferReport:
    """Copy every tensor whose name and shape fit; the rest keep their fresh initialisation.

    G and `G_ema`, if given, both take the source's averaged generator: fine-tuning starts
    from the model its images come from, so the first EMA steps (whose ramp-up sets G_ema to
    G) do not jump to the raw training G, and a run of 0 kimg renders exactly the source.
    `loader` reads the file (default: `load_external`). The parameters Freeze-D should hold
    fixed are listed in `frozen`; requires_grad is left to the training loop.
    """
    path = Path(path)
    ckpt = loader(path)
    report = TransferReport()
    _transfer("G", G, ckpt.G_ema, report)
    if G_ema is not None:
        _transfer("G_ema", G_ema, ckpt.G_ema, report)
    _transfer("D", D, ckpt.D or {}, report)
    report.frozen = frozen_d_params(D, freeze_d)
    return report


def transfer_counts(report: TransferReport) -> dict[str, int]:
    """The report as counts, for the run's config.json and snapshots."""
    return {
        "copied": len(report.copied),
        "fresh": len(report.initialised) + len(report.skipped_shape),
        "other_shape": len(report.skipped_shape),
        "unused": len(report.unused),
        "frozen": len(report.frozen),
    }


def check_whole_generator(path: str | Path, report: TransferReport) -> None:
    """Refuse (one line naming the tensors) a transfer that leaves any generator tensor fresh
    or any of the source's generator tensors unused: training on from half a model wastes
    the run. `--allow-partial` skips this check."""
    ours = ("G.", "G_ema.")
    fresh = [n for n in report.initialised + report.skipped_shape if n.startswith(ours)]
    unused = [n for n in report.unused if n.startswith(ours)]
    if not fresh and not unused:
        return
    copied = sum(n.startswith(ours) for n in report.copied)
    names = ", ".join((fresh + unused)[:4])
    more = f" (+{len(fresh) + len(unused) - 4} more)" if len(fresh) + len(unused) > 4 else ""
    raise FauxshopError(
        f"{path}: would copy only {copied} of {copied + len(fresh)} generator tensors "
        f"({len(fresh)} kept fresh, {len(unused)} of the source unused: {names}{more}); "
        "match the architecture (or drop the flags that change it) or pass --allow-partial"
    )


def architecture_of(path: str | Path) -> dict[str, Any]:
    """The train-image settings that rebuild a checkpoint's generator: z and w sizes, mapping
    depth, channel base and cap, and `cond` for a conditional one (NVIDIA's constructor
    arguments where the pickle has them, else inferred from the tensors' shapes)."""
    kwargs = load_external(Path(path)).G_kwargs
    arch = {
        "z_dim": kwargs["z_dim"],
        "w_dim": kwargs["w_dim"],
        "mapping_layers": kwargs["mapping_kwargs"]["num_layers"],
        "channel_base": kwargs["synthesis_kwargs"]["channel_base"],
        "channel_max": kwargs["synthesis_kwargs"]["channel_max"],
    }
    if kwargs["c_dim"]:
        arch["cond"] = True
    return arch


def _transfer(prefix: str, net: nn.Module, source: StateDict, report: TransferReport) -> None:
    target = net.state_dict()  # detached views: copying into them fills the parameters
    with torch.no_grad():
        for name, t in target.items():
            src = source.get(name)
            full = f"{prefix}.{name}"
            if src is None:
                report.initialised.append(full)
            elif src.shape != t.shape:
                report.skipped_shape.append(full)
            else:
                t.copy_(src)
                report.copied.append(full)
    report.unused += [f"{prefix}.{name}" for name in source if name not in target]


def frozen_d_params(D: Discriminator, freeze_d: int) -> list[str]:
    """D parameters in the `freeze_d` highest-resolution blocks (Freeze-D, Mo et al. 2020).

    Blocks, not layers: NVIDIA's `--freezed` counts layers (four in a residual block).
    """
    blocks = D.block_resolutions
    if not 0 <= freeze_d <= len(blocks):
        raise FauxshopError(
            f"freeze_d={freeze_d}: this discriminator has {len(blocks)} blocks"
            f" ({', '.join(f'b{r}' for r in blocks)}), so use 0 to {len(blocks)}"
        )
    prefixes = tuple(f"b{res}." for res in blocks[:freeze_d])
    return [name for name, _ in D.named_parameters() if name.startswith(prefixes)]
