"""StyleGAN2 training on a tiny synthetic archive: data, loss, snapshots, exact resume, DDP."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors
import torch
from PIL import Image
from torch import nn

from fauxshop.catalog.archive import write_archive
from fauxshop.errors import FauxshopError
from fauxshop.image import train as train_module
from fauxshop.image.checkpoint import (
    latest_snapshot,
    load_generator,
    read_snapshot,
    save_checkpoint,
)
from fauxshop.image.config import TrainConfig
from fauxshop.image.dataset import ImageArchive, InfiniteSampler
from fauxshop.image.loss import StyleGAN2Loss, r1_gamma_heuristic
from fauxshop.image.networks import Discriminator, Generator
from fauxshop.image.train import (
    class_weights,
    ema_beta,
    image_weights,
    lazy_adam_hparams,
    train,
)
from fauxshop.pixels import png_bytes
from fauxshop.runtime import Dist

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "batch": 4,
    "z_dim": 32,
    "w_dim": 32,
    "mapping_layers": 2,
    "channel_base": 512,
    "channel_max": 32,
    "tick_kimg": 0.1,
    "snap_kimg": 0.2,
}
SMALL = {"channel_base": 512, "channel_max": 32}  # the networks' widths in TINY


def make_archive(path: Path, n: int = 32, size: int = 16, seed: int = 0, sizes=None) -> Path:
    """Boxes (label 0) and discs (label 1) in random colours, in pack's zip layout."""
    rng = np.random.default_rng(seed)
    labels = []
    with write_archive(path) as zf:
        for i in range(n):
            side = sizes[i] if sizes else size
            img = np.full((side, side, 3), 255, np.uint8)
            margin, colour = int(rng.integers(2, 5)), rng.integers(0, 200, 3)
            if i % 2 == 0:
                img[margin : side - margin, margin : side - margin] = colour
            else:
                yy, xx = np.mgrid[:side, :side] + 0.5 - side / 2
                img[yy**2 + xx**2 < (side / 2 - margin) ** 2] = colour
            name = f"00000/img{i:08d}.png"
            zf.add(name, png_bytes(img))
            labels.append([name, i % 2])
        zf.add_metadata({"labels": labels, "fauxshop": {"label_names": ["box", "disc"]}})
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return make_archive(tmp_path_factory.mktemp("data") / "shapes.zip")


@pytest.fixture(scope="module")
def short_run(archive, tmp_path_factory) -> tuple[TrainConfig, dict]:
    config = _tiny(archive, tmp_path_factory.mktemp("run"), 0.2, tick_kimg=0.05)
    with pytest.MonkeyPatch.context() as mp:  # module scope: set up before the autouse _quiet
        mp.setenv("FAUXSHOP_QUIET", "1")
        return config, train(config)


def _tiny(archive: Path, out: Path, kimg: float, **overrides) -> TrainConfig:
    return TrainConfig(data=str(archive), out=str(out), kimg=kimg, **{**TINY, **overrides})


# ----------------------------------------------------------------------------------------------
# Data


def test_archive_reads_images_labels_and_fingerprint(archive):
    data = ImageArchive(archive, use_labels=True, xflip=True)
    assert (len(data), data.num_images, data.c_dim) == (64, 32, 2)
    assert data.resolution == (16, 16) and data.channels == 3
    assert data.label_names == ["box", "disc"]
    image, label = data[1]
    assert image.dtype == torch.uint8 and image.shape == (3, 16, 16)
    assert label.tolist() == [0.0, 1.0]
    assert torch.equal(data[32 + 1][0], image.flip(2))  # the mirrored copy
    assert len(data.fingerprint) == 64
    assert ImageArchive(archive).c_dim == 0  # labels only when asked for


def test_archive_errors_name_the_file(tmp_path):
    with pytest.raises(FauxshopError, match="missing.zip: no such"):
        ImageArchive(tmp_path / "missing.zip")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(FauxshopError, match="bad.zip: not a readable zip"):
        ImageArchive(tmp_path / "bad.zip")
    mixed = make_archive(tmp_path / "mixed.zip", n=3, sizes=[16, 16, 32])
    with pytest.raises(FauxshopError, match=r"img00000002.png is 32x32"):
        ImageArchive(mixed)


def test_sampler_resumes_at_a_position_and_shards():
    def take(sampler, n):
        it = iter(sampler)
        return [next(it) for _ in range(n)]

    full = take(InfiniteSampler(10, seed=3), 30)
    assert sorted(full[:10]) == list(range(10)) and full[:10] != full[10:20]  # new epoch order
    assert take(InfiniteSampler(10, seed=3, position=13), 17) == full[13:]
    shards = [take(InfiniteSampler(10, seed=3, rank=r, world_size=2), 15) for r in (0, 1)]
    assert shards[0] == full[0::2] and shards[1] == full[1::2]


def test_class_balance_shares_and_a_resumable_weighted_sampler():
    labels = np.array([0] * 90 + [1] * 10)
    np.testing.assert_allclose(class_weights(labels, 2, 0.0), [0.9, 0.1])
    np.testing.assert_allclose(class_weights(labels, 2, 1.0), [0.5, 0.5])
    np.testing.assert_allclose(class_weights(labels, 2, 0.5), [0.75, 0.25])  # sqrt(9) : 1
    assert class_weights(np.array([0, 0]), 3, 1.0)[1:].tolist() == [0, 0]  # absent classes
    assert class_weights(None, 0, 1.0) is None
    weights = image_weights(labels, class_weights(labels, 2, 1.0))
    assert weights.sum() == pytest.approx(1) and weights[labels == 1].sum() == pytest.approx(0.5)

    def take(sampler, n):
        it = iter(sampler)
        return [next(it) for _ in range(n)]

    drawn = np.array(take(InfiniteSampler(100, seed=1, weights=weights), 4000))
    assert 0.45 < (labels[drawn] == 1).mean() < 0.55  # the rare class, 10% of the data
    assert take(InfiniteSampler(100, seed=1, weights=weights, position=150), 50) == list(
        drawn[150:200]
    )
    with pytest.raises(ValueError, match="summing to 1"):
        InfiniteSampler(100, weights=weights[:50])


def test_schedule_helpers():
    assert r1_gamma_heuristic((256, 256), 64) == pytest.approx(0.2048)
    lr, betas = lazy_adam_hparams(0.0025, (0.0, 0.99), 16)
    assert lr == pytest.approx(0.0025 * 16 / 17) and betas[1] == pytest.approx(0.99 ** (16 / 17))
    assert ema_beta(32, 10, 0.05, 10**7) == pytest.approx(0.5 ** (32 / 10000))
    assert ema_beta(32, 10, 0.05, 1000) < ema_beta(32, 10, 0.05, 10**7)  # ramp-up: faster early


# ----------------------------------------------------------------------------------------------
# Training and snapshots


def test_short_run_learns(short_run):
    config, result = short_run
    assert result["kimg"] == pytest.approx(0.2) and result["step"] == 50
    assert result["real_logit"] > result["fake_logit_D"]  # D tells reals from fakes
    with open(Path(config.out) / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["tick"]) for r in rows] == [1, 2, 3, 4]
    losses = [float(r["loss_G"]) for r in rows]
    assert max(losses) - min(losses) > 1e-3  # G's loss moves
    assert json.loads((Path(config.out) / "config.json").read_text())["kimg"] == 0.2
    with Image.open(Path(config.out) / "fakes-000000.png") as grid:
        assert grid.size == (8 * 16, 4 * 16)


def test_checkpoint_round_trips(short_run, archive):
    config, result = short_run
    snapshot = read_snapshot(latest_snapshot(config.out))
    assert Path(result["snapshot"]) == snapshot.path
    meta = snapshot.meta
    assert meta["cur_nimg"] == 200 and meta["sampler_position"] == 200 and meta["tick"] == 4
    assert meta["dataset_fingerprint"] == ImageArchive(archive).fingerprint
    assert meta["config"]["batch"] == 4 and meta["optimizers"]["opt_D"]["step"] > 0
    G = load_generator(config.out)
    for name, tensor in G.state_dict().items():
        assert torch.equal(tensor, snapshot.tensors("G_ema.")[name])
    assert G(torch.randn(2, 32)).shape == (2, 3, 16, 16)
    # An optimiser loaded from the snapshot saves the same tensors again.
    G_train = load_generator(snapshot.path, ema=False)
    opt = torch.optim.Adam(G_train.parameters())
    snapshot.load_optimizer("opt_G", opt)
    state = opt.state_dict()["state"]
    assert torch.equal(state[0]["exp_avg"], snapshot.tensors("opt_G.state.0.")["exp_avg"])


def test_snapshots_commit_with_json_and_keep_the_newest(tmp_path):
    net = nn.Linear(3, 2)
    for nimg in (1000, 2000, 3000):
        save_checkpoint(tmp_path, {"cur_nimg": nimg, "G": net, "x": torch.ones(2)}, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "snapshot-000002.json",
        "snapshot-000002.safetensors",
        "snapshot-000003.json",
        "snapshot-000003.safetensors",
    ]
    (tmp_path / ".snapshot-000004.json.abc.tmp").write_text("{")  # a killed writer's temp file
    newest = tmp_path / "snapshot-000003.safetensors"
    assert latest_snapshot(tmp_path) == newest
    data = bytearray(newest.read_bytes())
    data[-1] ^= 0xFF
    newest.write_bytes(bytes(data))  # its sha256 no longer matches the sidecar's
    assert latest_snapshot(tmp_path) == tmp_path / "snapshot-000002.safetensors"
    with pytest.raises(FauxshopError, match="sha256"):
        read_snapshot(newest)


def test_resume_is_bit_exact(archive, tmp_path):
    """Two snapshots in one go == one snapshot, stop, resume; ADA and path-length reg on."""
    extra = {"aug_p": 0.2, "pl_weight": 2.0, "tick_kimg": 0.05, "snap_kimg": 0.1}
    train(_tiny(archive, tmp_path / "once", 0.2, **extra))
    train(_tiny(archive, tmp_path / "twice", 0.1, **extra))
    train(_tiny(archive, tmp_path / "twice", 0.2, **extra), resume=True)
    once = read_snapshot(latest_snapshot(tmp_path / "once"))
    twice = read_snapshot(latest_snapshot(tmp_path / "twice"))
    a, b = once.tensors(), twice.tensors()
    assert a.keys() == b.keys()
    assert any(k.startswith(("G.", "G_ema.", "D.", "opt_G.", "opt_D.")) for k in a)
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    for key in ("cur_nimg", "tick", "step", "sampler_position", "ada", "optimizers", "rng"):
        assert once.meta[key] == twice.meta[key], key
    assert once.meta["ada"]["p"] != 0.2  # ADA moved p, identically in both runs
    with open(tmp_path / "twice" / "log.csv") as f:
        assert [int(r["tick"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]


def test_a_cpu_minute_budget_stops_the_run_and_a_resume_continues_it(archive, tmp_path):
    out = tmp_path / "budget"
    first = train(_tiny(archive, out, 10.0, budget_minutes=0.001, tick_kimg=1.0))
    meta = read_snapshot(latest_snapshot(out)).meta
    assert meta["own_cpu_s"] >= 0.06 and first["kimg"] < 1.0  # checked every step, not per tick
    train(_tiny(archive, out, 10.0, budget_minutes=0.002, tick_kimg=1.0), resume=True)
    again = read_snapshot(latest_snapshot(out)).meta
    assert again["cur_nimg"] > meta["cur_nimg"] and again["own_cpu_s"] >= 0.12
    assert again["cur_nimg"] < 10_000
    with open(out / "log.csv") as f:
        minutes = [float(r["cpu_min"]) for r in csv.DictReader(f)]
    assert minutes == sorted(minutes) and minutes[-1] == pytest.approx(again["own_cpu_s"] / 60)


def test_ada_kimg_sets_how_far_p_steps_per_update(archive, tmp_path):
    # 4 minibatches of 4 per update: 16 images move p by 16 / 64 = 0.25 at --ada-kimg 0.064
    # (by 0.00003 at the paper's 500), so every logged p sits on a quarter, and p moves
    out = tmp_path / "ada"
    train(_tiny(archive, out, 0.128, aug_p=0.5, ada_kimg=0.064, tick_kimg=0.016))
    with open(out / "log.csv") as f:
        ps = [float(r["ada_p"]) for r in csv.DictReader(f)]
    assert len(ps) == 8
    assert all(abs(p * 4 - round(p * 4)) < 1e-9 and 0 <= p <= 1 for p in ps)
    assert any(p != 0.5 for p in ps)
    with pytest.raises(FauxshopError, match="ada_kimg"):
        _tiny(archive, out, 1.0, ada_kimg=0)


def test_bf16_autocast_on_cpu_runs_the_game_in_bf16_and_r1_in_fp32():
    torch.manual_seed(0)
    G = Generator(z_dim=8, w_dim=8, img_resolution=8, mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 64, "channel_max": 8})  # fmt: skip
    D = Discriminator(img_resolution=8, channel_base=64, channel_max=8)
    seen = []
    D.register_forward_pre_hook(lambda m, a: seen.append(torch.is_autocast_enabled("cpu")))
    loss = StyleGAN2Loss(G, D, r1_gamma=1.0, amp_dtype=torch.bfloat16)
    z, c, real = torch.randn(4, 8), torch.zeros(4, 0), torch.randn(4, 3, 8, 8)
    stats = loss.d_main(real, c, z, c)
    assert seen == [True, True] and stats["loss_D"].dtype == torch.float32
    assert torch.isfinite(loss.d_r1(real, c, gain=1)["r1_penalty"])
    assert seen[2:] == [False]  # the regulariser differentiates a gradient: kept in fp32
    assert all(p.dtype == torch.float32 for p in D.parameters())  # fp32 master weights
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in D.parameters())


def test_bf16_training_with_class_balance_runs(archive, tmp_path):
    result = train(_tiny(archive, tmp_path / "bf16", 0.02, amp="bf16", cond=True,
                         class_balance=1.0, tick_kimg=0.01))  # fmt: skip
    assert result["kimg"] == pytest.approx(0.02) and np.isfinite(result["loss_G"])
    G = load_generator(tmp_path / "bf16")
    assert next(G.parameters()).dtype == torch.float32
    with pytest.raises(FauxshopError, match="amp fp16 needs CUDA"):
        train(_tiny(archive, tmp_path / "fp16", 0.02, amp="fp16", device="cpu"))


@pytest.mark.parametrize("native", [True, False])
def test_amp_auto_picks_bf16_only_where_the_hardware_runs_it(native, monkeypatch, capsys):
    monkeypatch.setattr(train_module, "native_bf16", lambda device: native)
    env = Dist(rank=0, world_size=1, device=torch.device("cpu"), owns_group=False)
    assert train_module._amp_dtype("auto", env) is (torch.bfloat16 if native else None)
    assert f"amp auto: {'bf16' if native else 'off'}" in capsys.readouterr().err
    assert train_module._amp_dtype("bf16", env) is torch.bfloat16  # asked for: given
    assert ("slower" in capsys.readouterr().err) is not native  # but warned where emulated
    assert train_module._amp_dtype("off", env) is None
    with pytest.raises(FauxshopError, match="--amp 'fp8': choose from auto, off, bf16, fp16"):
        TrainConfig(data="a.zip", out="run", kimg=1, amp="fp8")


def test_resume_from_a_snapshot_with_damaged_ada_state_is_one_line(short_run, tmp_path):
    config, _ = short_run
    run = shutil.copytree(config.out, tmp_path / "run")
    sidecar = latest_snapshot(run).with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["ada"] = ["not", "a", "state"]  # the tensors' hash still matches: only the JSON lies
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(FauxshopError, match=r"snapshot-\d+.*: its ADA or loss state is damaged"):
        train(_tiny(Path(config.data), run, 0.4), resume=True)


def test_resume_refuses_another_archive_or_config(short_run, tmp_path):
    config, _ = short_run
    other = make_archive(tmp_path / "other.zip", seed=1)
    with pytest.raises(FauxshopError, match="not the archive this run was trained on"):
        train(_tiny(other, config.out, 0.6), resume=True)
    with pytest.raises(FauxshopError, match="changed batch 4 -> 8"):
        train(_tiny(Path(config.data), config.out, 0.6, batch=8), resume=True)
    with pytest.raises(FauxshopError, match="already holds snapshots"):
        train(_tiny(Path(config.data), config.out, 0.6))


def test_sigkill_leaves_valid_snapshots_and_resumes(archive, tmp_path):
    out = tmp_path / "killed"
    code = textwrap.dedent(
        f"""
        from fauxshop.image.config import TrainConfig
        from fauxshop.image.train import train
        train(TrainConfig(data={str(archive)!r}, out={str(out)!r}, kimg=1000.0,
                          **{{**{TINY!r}, "tick_kimg": 0.02, "snap_kimg": 0.02}}))
        """
    )
    env = {**os.environ, "FAUXSHOP_QUIET": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 90
        while latest_snapshot(out) is None and time.monotonic() < deadline:
            assert proc.poll() is None, "training exited early"
            time.sleep(0.2)
        time.sleep(0.7)  # let it get into the middle of later steps or snapshots
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert latest_snapshot(out) is not None
    for path in out.iterdir():
        if path.name.startswith("."):
            continue  # temp files: never read by anyone
        if path.suffix == ".json" and path.name.startswith("snapshot-"):
            read_snapshot(path)  # parses, and the hash of its tensors matches
        elif path.suffix == ".safetensors":
            with safetensors.safe_open(path, framework="pt") as f:
                assert len(list(f.keys())) > 0
        elif path.suffix == ".png":
            Image.open(path).verify()
    reached = read_snapshot(latest_snapshot(out)).meta["cur_nimg"] / 1000
    result = train(_tiny(archive, out, reached + 0.02, tick_kimg=0.02, snap_kimg=0.02), resume=True)
    assert result["kimg"] == pytest.approx(reached + 0.02)
    assert read_snapshot(latest_snapshot(out)).meta["cur_nimg"] == round((reached + 0.02) * 1000)


def test_a_restart_after_a_kill_before_the_first_snapshot_logs_each_tick_once(archive, tmp_path):
    out = tmp_path / "restarted"
    config = _tiny(archive, out, 0.012, tick_kimg=0.004, snap_kimg=1.0)
    train(config)
    for path in out.glob("snapshot-*"):  # as if killed just before its first snapshot
        path.unlink()
    with open(out / "metrics.jsonl", "w") as f:
        f.write('{"tick": 1, "fid": 9.0}\n{"tick": 2, "fi')  # the kill cut its last row short
    train(config)
    with open(out / "log.csv") as f:
        assert [int(r["tick"]) for r in csv.DictReader(f)] == [1, 2, 3]
    assert not (out / "metrics.jsonl").exists()  # this run asked for no metrics


def test_conditional_generator_trains_one_step(archive, tmp_path):
    result = train(_tiny(archive, tmp_path / "cond", 0.004, cond=True))
    assert result["step"] == 1
    G = load_generator(tmp_path / "cond")
    assert G.c_dim == 2
    assert G(torch.randn(2, 32), torch.eye(2)).shape == (2, 3, 16, 16)


def test_init_from_a_snapshot_with_frozen_d_blocks(short_run, archive, tmp_path):
    config, result = short_run
    source = read_snapshot(result["snapshot"])
    train(_tiny(archive, tmp_path / "tl", 0.008, init_from=result["snapshot"], freeze_d=1))
    D = read_snapshot(latest_snapshot(tmp_path / "tl")).tensors("D.")
    before = source.tensors("D.")
    assert torch.equal(D["b16.conv0.weight"], before["b16.conv0.weight"])  # frozen block
    assert not torch.equal(D["b8.conv0.weight"], before["b8.conv0.weight"])  # trained


def test_metrics_at_snapshots_leave_training_rng_alone(archive, tmp_path, monkeypatch):
    calls = []

    def fake_metrics(names, G, archive_path, num, cache_dir, device):
        calls.append((names, num, Path(archive_path)))
        torch.randn(100)  # metrics may draw random numbers; training must not notice
        return {"fid": 12.5}

    train(_tiny(archive, tmp_path / "plain", 0.016, snap_kimg=0.008, tick_kimg=0.008))
    monkeypatch.setattr("fauxshop.image.train.compute_metrics", fake_metrics)
    config = _tiny(
        archive, tmp_path / "metrics", 0.016, snap_kimg=0.008, tick_kimg=0.008, metrics="fid"
    )
    train(dataclasses.replace(config, metrics_num=64))
    assert calls == [(["fid"], 64, archive)] * 2
    lines = (tmp_path / "metrics" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["fid"] for line in lines] == [12.5, 12.5]
    a = read_snapshot(latest_snapshot(tmp_path / "plain")).tensors("G_ema.")
    b = read_snapshot(latest_snapshot(tmp_path / "metrics")).tensors("G_ema.")
    assert all(torch.equal(a[k], b[k]) for k in a)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_complete(archive, tmp_path):
    out = tmp_path / "ddp"
    script = tmp_path / "ddp_train.py"
    script.write_text(
        "from fauxshop.image.config import TrainConfig\n"
        "from fauxshop.image.train import train\n"
        f"train(TrainConfig(data={str(archive)!r}, out={str(out)!r}, kimg=0.04,"
        f" **{{**{TINY!r}, 'batch': 8}}))\n"
    )
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["--master_port", str(_free_port()), str(script)]
    env = {**os.environ, "FAUXSHOP_QUIET": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    snapshot = read_snapshot(latest_snapshot(out))
    assert snapshot.meta["cur_nimg"] == 40 and snapshot.meta["step"] == 5
    assert snapshot.meta["sampler_position"] == 20  # each rank read half of the images


# ----------------------------------------------------------------------------------------------
# Fine-tuning an NVIDIA pickle through the CLI


def fauxshop_cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, FAUXSHOP_QUIET="1")
    return subprocess.run(
        [sys.executable, "-m", "fauxshop", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


@pytest.fixture
def nvidia_pickle(tmp_path, monkeypatch) -> Path:
    """A 16x16 NVIDIA snapshot: z = w = 32, 2 mapping layers, channels 512 / res up to 32."""
    from test_importers import make_d, make_g, write_nvidia_snapshot

    path = tmp_path / "network-snapshot-000100.pkl"
    write_nvidia_snapshot(path, make_g(seed=0), make_d(), make_g(seed=2), monkeypatch)
    return path


def test_a_0_kimg_continuation_of_a_pickle_renders_it_exactly(archive, nvidia_pickle, tmp_path):
    # no architecture flags: the defaults (z 512, 8 mapping layers, ...) yield to the pickle's
    done = fauxshop_cli("train-image", "--data", archive, "--out", "run", "--kimg", 0,
                        "--init-from", nvidia_pickle, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    arch = {k: config[k] for k in ("z_dim", "w_dim", "mapping_layers", "channel_base")}
    assert arch == {"z_dim": 32, "w_dim": 32, "mapping_layers": 2, "channel_base": 512}
    report = config["init_from_report"]
    assert report["fresh"] == 0 and report["unused"] == 0 and report["copied"] > 100
    assert read_snapshot(latest_snapshot(tmp_path / "run")).meta["init_from_report"] == report
    for psi in (0.7, 1.0):
        for source, folder in ((nvidia_pickle, "pkl"), ("run", "run-png")):
            done = fauxshop_cli("generate", source, "--seeds", "0-3", "--psi", psi,
                                "--outdir", f"{folder}{psi}", cwd=tmp_path)  # fmt: skip
            assert done.returncode == 0, done.stderr
        for seed in range(4):
            name = f"seed{seed:06d}.png"
            pkl = np.asarray(Image.open(tmp_path / f"pkl{psi}" / name))
            assert np.array_equal(np.asarray(Image.open(tmp_path / f"run-png{psi}" / name)), pkl)


def test_init_from_refuses_a_partial_generator_unless_allowed(archive, nvidia_pickle, tmp_path):
    flags = ["train-image", "--data", archive, "--kimg", 0, "--init-from", nvidia_pickle]
    done = fauxshop_cli(*flags, "--out", "a", "--z-dim", 64, cwd=tmp_path)
    assert done.returncode != 0
    error = done.stderr.strip().splitlines()[-1]
    assert "G.mapping.fc0.weight" in error and "--allow-partial" in error
    assert "would copy only" in error and not (tmp_path / "a" / "config.json").exists()

    done = fauxshop_cli(*flags, "--out", "b", "--z-dim", 64, "--allow-partial", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "b" / "config.json").read_text())["init_from_report"]
    assert report["fresh"] == 2 and report["copied"] > 100  # G's and G_ema's fc0.weight
    assert "kept fresh" in done.stderr


def test_w_avg_moves_whenever_the_mapping_runs_for_training():
    torch.manual_seed(0)
    G = Generator(32, 0, 32, 16, mapping_kwargs={"num_layers": 2}, synthesis_kwargs=SMALL)
    D = Discriminator(img_resolution=16, **SMALL)
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0.0, pl_weight=1.0)
    z, c, real = torch.randn(4, 32), torch.zeros(4, 0), torch.rand(4, 3, 16, 16) * 2 - 1

    def expected(rows: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            ws = G.mapping(rows, c[: len(rows)])[:, 0]
        return ws.mean(dim=0).lerp(G.mapping.w_avg, G.mapping.w_avg_beta)

    for phase, rows in (("g_main", z), ("d_main", z), ("g_pl", z[:2])):
        want = expected(rows)
        if phase == "d_main":
            loss.d_main(real, c, z, c)
        elif phase == "g_pl":
            loss.g_pl(z, c, gain=4)
        else:
            loss.g_main(z, c)
        torch.testing.assert_close(G.mapping.w_avg, want, msg=phase)


def test_a_run_from_before_a_setting_existed_resumes_as_it_trained(archive, tmp_path):
    # runs saved before --augment-resample existed resampled bilinear, today's default or not
    config = _tiny(archive, tmp_path / "old", 0.004, augment_resample="bilinear")
    train(config)
    sidecar = latest_snapshot(tmp_path / "old").with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    for added in ("augment_resample", "allow_partial"):  # fields newer than the run
        del meta["config"][added]
    sidecar.write_text(json.dumps(meta))
    longer = dataclasses.replace(config, kimg=0.008)
    with pytest.raises(FauxshopError, match="augment_resample 'bilinear' -> 'upsampled'"):
        train(dataclasses.replace(longer, augment_resample="upsampled"), resume=True)
    assert train(longer, resume=True)["step"] == 2


def test_kimg_0_needs_init_from(archive, tmp_path):
    with pytest.raises(FauxshopError, match="kimg 0 only with init_from"):
        _tiny(archive, tmp_path, 0)
