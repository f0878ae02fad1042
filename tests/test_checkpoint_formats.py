"""Verbs take NVIDIA .pkl and rosinality .pt generators as they are, and `convert` writes them once.

The checkpoints are built in their own formats by test_importers' writers (never by running
their code). NVIDIA's reference rendering is its gen_images.py restated: z from
RandomState(seed), `G(z, c, truncation_psi, noise_mode='const')`, then `x * 127.5 + 128`,
clamped, to uint8, done here in a batch of 16 rows, as `generate` does, since CPU kernels
round a batch of 1 differently (by ~6e-6, enough to move a pixel at a rounding edge).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image
from test_importers import (
    TINY,
    make_d,
    make_g,
    randomise,
    ros_generator,
    to_rosinality_g,
    write_nvidia_snapshot,
)

from fauxshop.digest import file_sha256
from fauxshop.image.networks import Generator

SEEDS = (0, 1, 5)


def fauxshop(*args, cwd) -> str:
    """Run a verb in a fresh interpreter; its stdout."""
    env = dict(os.environ, FAUXSHOP_QUIET="1")
    done = subprocess.run(
        [sys.executable, "-m", "fauxshop", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def pngs(folder) -> np.ndarray:
    return np.stack([np.asarray(Image.open(folder / f"seed{s:06d}.png")) for s in SEEDS])


def nvidia_reference(G: Generator, psi: float, class_index: int | None = None) -> np.ndarray:
    z = torch.stack([torch.from_numpy(np.random.RandomState(s).randn(G.z_dim)) for s in SEEDS])
    z = torch.cat([z, z[-1:].expand(16 - len(SEEDS), -1)]).float()
    c = torch.zeros(16, G.c_dim)
    if class_index is not None:
        c[:, class_index] = 1
    with torch.no_grad():
        img = G(z, c, truncation_psi=psi, noise_mode="const")[: len(SEEDS)]
    img = (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return img.numpy()


def test_generate_from_an_nvidia_pickle_and_its_conversion(tmp_path, monkeypatch):
    g_ema = make_g(seed=2).eval()
    path = tmp_path / "network-snapshot-000100.pkl"
    write_nvidia_snapshot(path, make_g(seed=0), make_d(), g_ema, monkeypatch)

    fauxshop("generate", path, "--seeds", "0,1,5", "--psi", 0.7, "--outdir", "pkl", cwd=tmp_path)
    assert np.array_equal(pngs(tmp_path / "pkl"), nvidia_reference(g_ema, 0.7))

    fauxshop("convert", path, "--out", "G.safetensors", cwd=tmp_path)
    sidecar = json.loads((tmp_path / "G.json").read_text())
    assert sidecar["source_sha256"] == file_sha256(path)
    assert sidecar["source"] == path.name and sidecar["source_kind"] == "nvidia"
    fauxshop("generate", "G.safetensors", "--seeds", "0,1,5", "--psi", 0.7, "--outdir", "st",
             cwd=tmp_path)  # fmt: skip
    for seed in SEEDS:
        name = f"seed{seed:06d}.png"
        assert (tmp_path / "st" / name).read_bytes() == (tmp_path / "pkl" / name).read_bytes()

    fauxshop("mix", path, "--rows", "1,2", "--cols", "3", "--out", "mix.png", cwd=tmp_path)
    assert np.asarray(Image.open(tmp_path / "mix.png")).shape == (48, 32, 3)


def test_generate_a_class_from_a_conditional_nvidia_pickle(tmp_path, monkeypatch):
    torch.manual_seed(3)
    g_ema = Generator(32, 3, 32, 16, mapping_kwargs={"num_layers": 2}, synthesis_kwargs=TINY)
    g_ema = randomise(g_ema, 3).eval()
    path = tmp_path / "cond.pkl"
    write_nvidia_snapshot(path, g_ema, make_d(), g_ema, monkeypatch)
    fauxshop("generate", path, "--seeds", "0,1,5", "--class", 2, "--psi", 1, "--outdir", "c",
             cwd=tmp_path)  # fmt: skip
    assert np.array_equal(pngs(tmp_path / "c"), nvidia_reference(g_ema, 1.0, class_index=2))


def test_generate_from_a_rosinality_checkpoint(tmp_path):
    g_ema = make_g(seed=4)
    sd = to_rosinality_g(g_ema)
    path = tmp_path / "050000.pt"
    args = argparse.Namespace(size=16, latent=32, n_mlp=2, channel_multiplier=2)
    torch.save({"g_ema": sd, "latent_avg": torch.randn(32), "args": args}, path)

    fauxshop("generate", path, "--seeds", "0,1,5", "--psi", 1, "--outdir", "ros", cwd=tmp_path)

    z = torch.stack([torch.from_numpy(np.random.RandomState(s).randn(32)) for s in SEEDS]).float()
    with torch.no_grad():  # rosinality's own maths, restated: float rounding apart, the same
        want = (ros_generator(sd, z).permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255)
    diff = np.abs(pngs(tmp_path / "ros").astype(int) - want.to(torch.uint8).numpy().astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99
    out = fauxshop("convert", path, "--out", "ros.safetensors", cwd=tmp_path)
    assert "rosinality" in out
    sidecar = json.loads((tmp_path / "ros.json").read_text())
    assert sidecar["source_sha256"] == file_sha256(path)
