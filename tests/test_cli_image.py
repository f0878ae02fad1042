"""The image verbs end to end through the CLI: train, resume, generate, mix, walk, export."""

import json
import shutil

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from fauxshop.cli import main
from fauxshop.image.checkpoint import latest_snapshot, load_generator, read_snapshot

TINY = [
    "--batch", "4", "--z-dim", "16", "--w-dim", "16", "--mapping-layers", "2",
    "--channel-base", "256", "--channel-max", "16", "--tick-kimg", "0.016",
    "--snap-kimg", "0.032", "--cond",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny conditional run trained on a packed 16x16 demo catalog."""
    root = tmp_path_factory.mktemp("image-cli")
    catalog, work = root / "catalog", root / "work"
    assert main(["demo-catalog", str(catalog), "--n", "40", "--seed", "1"]) == 0
    assert main(["ingest", str(catalog / "products.jsonl"), "--workdir", str(work)]) == 0
    assert main(["prune", "--workdir", str(work), "--no-contact-sheets"]) == 0
    archive = root / "a.zip"
    assert main(["pack", "--size", "16", "--out", str(archive), "--workdir", str(work)]) == 0
    out = root / "run"
    args = ["train-image", "--data", str(archive), "--out", str(out), "--kimg", "0.032"]
    assert main(args + TINY) == 0
    return out


def test_train_writes_config_snapshot_and_label_names(run):
    config = json.loads((run / "config.json").read_text())
    assert config["cond"] is True and config["channel_max"] == 16
    meta = read_snapshot(latest_snapshot(run)).meta
    assert meta["cur_nimg"] >= 32 and "dress" in meta["label_names"]


def test_resume_with_a_new_kimg_total_continues_the_run(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = read_snapshot(latest_snapshot(copy)).meta["cur_nimg"]
    assert main(["train-image", "--resume", str(copy), "--kimg", "0.064"]) == 0
    after = read_snapshot(latest_snapshot(copy)).meta["cur_nimg"]
    assert before < after >= 64


def test_resume_takes_a_moved_archive_and_refuses_what_a_resume_cannot_change(run, tmp_path):
    copy, moved = tmp_path / "run", tmp_path / "moved.zip"
    shutil.copytree(run, copy)
    shutil.copy(json.loads((run / "config.json").read_text())["data"], moved)
    assert main(["train-image", "--resume", str(copy), "--batch", "8", "--data", str(moved)]) != 0
    resumed = ["train-image", "--resume", str(copy), "--kimg", "0.064", "--data", str(moved)]
    assert main([*resumed, "--keep-snapshots", "1"]) == 0
    assert len(list(copy.glob("snapshot-*.safetensors"))) == 1
    assert read_snapshot(latest_snapshot(copy)).meta["config"]["data"] == str(moved)


def test_a_preset_fills_only_the_flags_not_given(run, tmp_path):
    out = tmp_path / "preset"
    args = ["train-image", "--data", json.loads((run / "config.json").read_text())["data"]]
    assert main([*args, "--out", str(out), "--kimg", "0.008", "--preset", "small", *TINY]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["preset"] == "small" and config["amp"] == "auto"  # from the preset
    assert config["batch"] == 4 and config["z_dim"] == 16  # given flags win


def test_train_without_data_is_a_clear_error(tmp_path, capsys):
    assert main(["train-image", "--out", str(tmp_path / "r"), "--kimg", "1"]) == 2
    assert "--data" in capsys.readouterr().err


def test_generate_grid_and_per_seed_images_are_deterministic(run, tmp_path):
    args = ["generate", str(run), "--seeds", "0-3", "--class", "dress"]
    assert main(args + ["--grid", str(tmp_path / "a.png"), "--outdir", str(tmp_path / "a")]) == 0
    assert main(args + ["--grid", str(tmp_path / "b.png")]) == 0
    a, b = Image.open(tmp_path / "a.png"), Image.open(tmp_path / "b.png")
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        f"seed{s:06d}.png" for s in range(4)
    ]
    assert main(args + ["--truncate-to", "class", "--grid", str(tmp_path / "c.png")]) == 0
    c = np.asarray(Image.open(tmp_path / "c.png"))
    assert c.shape == np.asarray(a).shape and not np.array_equal(c, np.asarray(a))


def test_unknown_class_lists_the_valid_ones(run, tmp_path, capsys):
    assert main(["generate", str(run), "--class", "sock", "--grid", str(tmp_path / "g.png")]) == 2
    assert "dress" in capsys.readouterr().err


def test_mix_grid_has_a_cell_per_row_and_column_source(run, tmp_path):
    out = tmp_path / "mix.png"
    args = ["mix", str(run), "--rows", "1,2,3", "--cols", "10,11", "--class", "dress"]
    assert main([*args, "--out", str(out)]) == 0
    assert Image.open(out).size == (3 * 16, 4 * 16)  # (cols + 1) x (rows + 1) cells


def test_walk_writes_a_readable_video(run, tmp_path):
    out = tmp_path / "walk.mp4"
    args = ["walk", str(run), "--seeds", "1,2", "--frames", "6", "--class", "0"]
    assert main([*args, "--out", str(out)]) == 0
    frames = iio.imread(out)
    assert frames.shape[0] == 6 and frames.shape[1:3] == (16, 16)


def test_exported_generator_is_small_and_gives_the_same_images(run, tmp_path):
    out = tmp_path / "g.safetensors"
    assert main(["export-generator", str(run), "--out", str(out)]) == 0
    assert out.stat().st_size < latest_snapshot(run).stat().st_size / 2
    z = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    import torch

    c = torch.zeros(2, load_generator(run).c_dim)
    c[:, 0] = 1
    a = load_generator(run)(torch.from_numpy(z), c)
    b = load_generator(out)(torch.from_numpy(z), c)
    assert torch.equal(a, b)
    assert (
        read_snapshot(out).meta["label_names"]
        == read_snapshot(latest_snapshot(run)).meta["label_names"]
    )


def test_metrics_reads_the_runs_archive_and_reports_each_metric(run, tmp_path, capsys):
    args = ["metrics", str(run), "--metrics", "fid,kid", "--num", "8", "--max-real", "8"]
    assert main([*args, "--workdir", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["fid"] > 0 and np.isfinite(result["kid"])
    assert result["archive"].endswith("a.zip") and result["num"] == 8
    assert any((tmp_path / "metric-cache").iterdir())  # real statistics cached


def test_metrics_per_class_measures_the_named_classes_and_refuses_others_first(
    run, tmp_path, capsys
):
    args = ["metrics", str(run), "--num", "8", "--workdir", str(tmp_path), "--per-class", "4"]
    assert main([*args, "--classes", "dress"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["per_class"]) == ["dress"] and result["per_class"]["dress"]["real"] >= 2
    assert main([*args, "--classes", "gown"]) != 0
    captured = capsys.readouterr()
    assert "no class gown" in captured.err and captured.out == ""  # before any FID was printed
    assert main(["metrics", str(run), "--classes", "dress", "--workdir", str(tmp_path)]) != 0
    assert "pass both" in capsys.readouterr().err


def test_resume_of_a_run_older_than_augment_resample_keeps_bilinear(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert json.loads((run / "config.json").read_text())["augment_resample"] == "upsampled"
    for path in [copy / "config.json", latest_snapshot(copy).with_suffix(".json")]:
        saved = json.loads(path.read_text())
        config = saved.get("config", saved)
        del config["augment_resample"]  # as saved before the setting existed (bilinear)
        path.write_text(json.dumps(saved))
    assert main(["train-image", "--resume", str(copy), "--kimg", "0.064"]) == 0
    assert read_snapshot(latest_snapshot(copy)).meta["config"]["augment_resample"] == "bilinear"
