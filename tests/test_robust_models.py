"""Hostile or damaged model files are refused in one line naming the file, and never run code;
snapshots get unique names and killed saves leave no temp files behind."""

from __future__ import annotations

import json
import os
import pickle
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch

from fauxshop.digest import file_sha256
from fauxshop.errors import FauxshopError
from fauxshop.image.checkpoint import (
    export_generator,
    latest_snapshot,
    load_generator,
    read_snapshot,
    save_checkpoint,
)
from fauxshop.image.importers import load_external
from fauxshop.image.networks import Generator
from fauxshop.tagger.config import TaggerConfig
from fauxshop.tagger.model import Tagger, load_tagger, save_tagger
from fauxshop.tagger.text import TfidfEncoder, fit_text_tagger, load_text_tagger, save_text_tagger

ROOT = Path(__file__).resolve().parents[1]
# the tiny generator's shape, the one bench/probe_models.py builds its hostile files around
G_KWARGS = runpy.run_path(str(ROOT / "bench" / "probe_models.py"))["G_KWARGS"]


class Evil:
    """Unpickled with code execution allowed, this would create `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def one_line_error(match: str):
    """pytest.raises for a FauxshopError of one line matching `match`."""
    return pytest.raises(FauxshopError, match=match)


def assert_one_line(error: pytest.ExceptionInfo) -> None:
    message = str(error.value)
    assert "\n" not in message and "weights_only" not in message, message


def snapshot(run: Path, G: Generator | None = None, cur_nimg: int = 1000, keep: int = 3) -> Path:
    torch.manual_seed(0)
    G = G or Generator(**G_KWARGS)
    state = {"cur_nimg": cur_nimg, "G_kwargs": G.config, "G": G, "G_ema": G}
    return save_checkpoint(run, state, keep=keep)


def rewrite(path: Path, change) -> None:
    """Change a snapshot's tensors and, as a hostile writer would, the sidecar's sha256."""
    tensors = safetensors.torch.load_file(path)
    change(tensors)
    safetensors.torch.save_file(tensors, path)
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["safetensors_sha256"] = file_sha256(path)
    sidecar.write_text(json.dumps(meta))


def edit_json(path: Path, change) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


# ----------------------------------------------------------------------------------------------
# Generator snapshots and exports


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_generator_with_non_finite_weights_is_refused_at_load(tmp_path, value):
    G = Generator(**G_KWARGS)
    with torch.no_grad():
        G.synthesis.b8.conv1.weight[0, 0, 0, 0] = value
    path = snapshot(tmp_path / "run", G)
    with one_line_error(r"snapshot-000001\.safetensors: weight synthesis\.b8\.conv1\.weight holds"):
        load_generator(path)
    export = tmp_path / "G.safetensors"
    export_generator(path, export)
    with one_line_error(r"G\.safetensors: weight .* holds NaN or inf"):
        load_generator(export)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: {**m, "safetensors": "../../../../etc/passwd"}, "'safetensors' is '../"),
        (lambda m: {**m, "safetensors": "/etc/passwd"}, "not a file beside it"),
        (lambda m: {k: v for k, v in m.items() if k != "safetensors"}, "'safetensors' is missing"),
        (lambda m: {**m, "safetensors_sha256": 5}, "'safetensors_sha256' is missing or not"),
        (lambda m: {**m, "G_kwargs": "x"}, "'G_kwargs' is not a dict"),
        (lambda m: {**m, "cur_nimg": "x"}, "'cur_nimg' is missing or not a int"),
        (lambda m: [m], "not a fauxshop image snapshot"),
    ],
)
def test_a_hostile_snapshot_sidecar_is_one_line_naming_it(tmp_path, change, message):
    path = snapshot(tmp_path / "run")
    edit_json(path.with_suffix(".json"), change)
    with one_line_error(rf"snapshot-000001\.json: .*{message}") as error:
        load_generator(path)
    assert_one_line(error)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {**G_KWARGS, "z_dim": 9},
            r"mapping\.fc0\.weight is torch\.float32 \[8, 8\], not .*\[8, 9\]",
        ),
        ({**G_KWARGS, "img_resolution": [2**16, 2**16]}, "do not build|do not fit"),
        ({**G_KWARGS, "x": 1}, "unexpected keyword argument 'x'"),
        ({}, "do not build|do not fit"),
    ],
)
def test_generator_settings_that_do_not_fit_its_weights_are_refused(tmp_path, kwargs, message):
    path = snapshot(tmp_path / "run")
    edit_json(path.with_suffix(".json"), lambda m: {**m, "G_kwargs": kwargs})
    with one_line_error(rf"snapshot-000001\.safetensors: .*({message})") as error:
        load_generator(path)
    assert_one_line(error)


@pytest.mark.parametrize(
    "change",
    [
        lambda ts: ts.update({k: ts[k].to(torch.int32) for k in ts if k.endswith("fc0.weight")}),
        lambda ts: ts.update({k: ts[k][:-1].clone() for k in ts if k.endswith("fc0.weight")}),
        lambda ts: ts.pop("G_ema.mapping.fc0.weight"),
    ],
)
def test_tensors_of_the_wrong_dtype_shape_or_missing_are_refused(tmp_path, change):
    path = snapshot(tmp_path / "run")
    rewrite(path, change)
    with one_line_error(r"snapshot-000001\.safetensors: weights do not fit the network"):
        load_generator(path)


def test_a_truncated_tensors_file_whose_hash_was_rewritten_is_refused(tmp_path):
    path = snapshot(tmp_path / "run")
    path.write_bytes(path.read_bytes()[:-100])
    edit_json(path.with_suffix(".json"), lambda m: {**m, "safetensors_sha256": file_sha256(path)})
    with one_line_error(r"snapshot-000001\.safetensors: not a readable safetensors file"):
        read_snapshot(path)


def test_non_finite_or_integer_weights_are_refused_by_the_importer(tmp_path):
    path = snapshot(tmp_path / "run")
    rewrite(path, lambda ts: ts["G.mapping.fc0.weight"].view(-1).__setitem__(0, float("nan")))
    with one_line_error(r"snapshot-000001\.safetensors: weight mapping\.fc0\.weight holds NaN"):
        load_external(path)
    rewrite(path, lambda ts: ts.update({"G.mapping.fc0.bias": ts["G.mapping.fc0.bias"].long()}))
    with one_line_error(r"G\.mapping\.fc0\.bias is torch\.int64, not a floating-point weight"):
        load_external(path)


def test_a_network_pickle_with_foreign_structure_is_one_line(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {"style.1.weight": "x"}}, path)
    with one_line_error(r"evil\.pt: g_ema\.style\.1\.weight is str, not a floating-point weight"):
        load_external(path)


# ----------------------------------------------------------------------------------------------
# Snapshot names and temp files


def test_snapshot_names_stay_unique_below_one_kimg(tmp_path):
    """--snap-kimg 0.4 with keep=1: pruning the first snapshot of a kimg must not free its name
    for a later one (`snapshot-000001` held image 1200, then 1968)."""
    names = {}
    for nimg in (400, 800, 1200, 1600, 1968, 2400, 2800):
        path = snapshot(tmp_path, cur_nimg=nimg, keep=1)
        assert path.name not in names, f"{path.name} held {names.get(path.name)}, then {nimg}"
        names[path.name] = nimg
        assert read_snapshot(path).meta["cur_nimg"] == nimg
    assert names["snapshot-000001.safetensors"] == 1200
    assert names["snapshot-000001-000001968.safetensors"] == 1968
    assert latest_snapshot(tmp_path).name == "snapshot-000002-000002800.safetensors"


def test_saving_the_same_image_count_again_replaces_its_snapshot(tmp_path):
    first = snapshot(tmp_path, cur_nimg=1200)
    snapshot(tmp_path, cur_nimg=1600)
    assert snapshot(tmp_path, cur_nimg=1200) == first  # a resume re-saving the same point
    assert snapshot(tmp_path, cur_nimg=1600).name == "snapshot-000001-000001600.safetensors"


def test_a_save_removes_the_temp_files_a_kill_left_and_nothing_else(tmp_path):
    left = [
        ".snapshot-000001.safetensors.k2j4_x9a.tmp",
        ".snapshot-000001-000001968.json.abcdefgh.tmp",
    ]
    kept = [".snapshot-notes.tmp", "snapshot-000001.safetensors.tmp", ".other.json.abc.tmp"]
    for name in left + kept:
        (tmp_path / name).write_bytes(b"x" * 10)
    snapshot(tmp_path, cur_nimg=2000)
    remaining = {p.name for p in tmp_path.iterdir()}
    assert not remaining & set(left) and set(kept) <= remaining


# ----------------------------------------------------------------------------------------------
# The tagger and its text branch


def tagger(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    config = TaggerConfig(widths="4,8", epochs=1, batch=4, device="cpu")
    path = tmp_path / "tagger.safetensors"
    save_tagger(Tagger(config, {"colour": ("red", "blue")}, (16, 16)), path)
    return path


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (lambda m: {**m, "heads": {"colour": ["red", "blue", "green"]}}, "safetensors", "fit"),
        (lambda m: {**m, "heads": ["colour"]}, "json", "heads is not"),
        (lambda m: {**m, "input_size": [10**5, 10**5]}, "json", "input_size"),
        (lambda m: {**m, "config": {**m["config"], "x": 1}}, "safetensors", "do not build"),
        (lambda m: {**m, "config": "x"}, "json", "config or report"),
        (lambda m: [m], "json", "not a fauxshop tagger"),
    ],
)
def test_a_tagger_sidecar_that_does_not_match_is_one_line(tmp_path, change, where, message):
    path = tagger(tmp_path)
    edit_json(path.with_suffix(".json"), change)
    with one_line_error(rf"tagger\.{where}: .*{message}") as error:
        load_tagger(path)
    assert_one_line(error)


def test_a_tagger_with_nan_weights_is_refused(tmp_path):
    path = tagger(tmp_path)
    tensors = safetensors.torch.load_file(path)
    tensors["classifiers.colour.weight"][0, 0] = float("nan")
    safetensors.torch.save_file(tensors, path)
    edit_json(path.with_suffix(".json"), lambda m: {**m, "weights_sha256": file_sha256(path)})
    with one_line_error(r"tagger\.safetensors: weight classifiers\.colour\.weight holds NaN"):
        load_tagger(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: {**m, "vocabulary": m["vocabulary"][1:]}, "idf tensor does not match"),
        (lambda m: {**m, "vocabulary": 5}, "vocabulary is not a list"),
        (lambda m: {**m, "heads": {"colour": ["red", "blue", "green"]}}, "do not fit"),
        (lambda m: {**m, "heads": ["colour"]}, "heads is not"),
        (lambda m: {**m, "encoder": "bogus"}, "encoder 'bogus'"),
        (lambda m: {k: v for k, v in m.items() if k != "weights_sha256"}, "weights_sha256"),
    ],
)
def test_a_text_tagger_sidecar_that_does_not_match_is_one_line(tmp_path, change, message):
    texts = [f"a {c} dress {i}" for c in ("red", "blue") for i in range(4)]
    labels = {"colour": torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])}
    encoder = TfidfEncoder.fit(texts)
    path = save_text_tagger(
        fit_text_tagger(encoder, texts, labels, {"colour": ("red", "blue")}),
        tmp_path / "t.safetensors",
    )
    edit_json(path.with_suffix(".json"), change)
    with one_line_error(rf"t-text\.(json|safetensors): .*{message}") as error:
        load_text_tagger(tmp_path / "t.safetensors")
    assert_one_line(error)


# ----------------------------------------------------------------------------------------------
# The writer, its tokenizer and its trainer state


@pytest.fixture(scope="module")
def writer(tmp_path_factory) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel

    from fauxshop.text.models import save_model
    from fauxshop.text.tokenizer import prepare, train_bpe

    tokenizer = prepare(train_bpe([f"a red dress number {i}" for i in range(50)], 300))
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=16, n_embd=8, n_layer=1, n_head=2)
    folder = tmp_path_factory.mktemp("writer") / "model"
    state = {"step": 1, "best_val": 1.0, "evals_since_best": 0, "tokens_seen": 8}
    state |= {"optimizer": {}, "scaler": None, "rng_tensors": {"torch": torch.get_rng_state()}}
    state["rng_state"] = "{}"
    save_model(GPT2LMHeadModel(config), tokenizer, folder, {}, state)
    return folder


@pytest.fixture
def copy(writer, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(writer, tmp_path / "model"))


@pytest.mark.parametrize("zipped", [False, True])
def test_a_writer_with_a_malicious_pytorch_model_bin_is_refused_and_runs_nothing(copy, zipped):
    from fauxshop.text.models import load_trained

    marker = copy.parent / "pwned"
    (copy / "model.safetensors").unlink()
    if zipped:
        torch.save({"w": Evil(marker)}, copy / "pytorch_model.bin")
    else:
        (copy / "pytorch_model.bin").write_bytes(pickle.dumps(Evil(marker)))
    with one_line_error(r"model: cannot load the model \(") as error:
        load_trained(copy)
    assert_one_line(error)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda f: f.joinpath("config.json").write_text('{"model_type": "gpt2", "n_layer": 2}'),
            "missing",
        ),
        (lambda f: f.joinpath("tokenizer.json").write_text("[1]"), "tokenizer or config"),
        (lambda f: f.joinpath("fauxshop-text.json").write_text("{"), "not readable JSON"),
        (
            lambda f: f.joinpath("model.safetensors").write_bytes(b"\x10" * 20),
            "not a readable safetensors",
        ),
    ],
)
def test_a_damaged_writer_is_one_line_naming_it(copy, damage, message):
    from fauxshop.text.models import load_trained

    damage(copy)
    with one_line_error(rf"model.*: .*{message}") as error:
        load_trained(copy)
    assert_one_line(error)


def test_a_writer_with_nan_weights_is_refused(copy):
    from fauxshop.text.models import load_trained

    tensors = safetensors.torch.load_file(copy / "model.safetensors")
    tensors["transformer.wte.weight"][0, 0] = float("nan")
    safetensors.torch.save_file(tensors, copy / "model.safetensors", metadata={"format": "pt"})
    with one_line_error(r"model: weight transformer\.wte\.weight holds NaN or inf"):
        load_trained(copy)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (lambda m: Evil(m), "not loadable as tensors and plain data: .*system"),
        (lambda m: [1, 2], "not a trainer state"),
        (lambda m: {"step": "x"}, "field 'step'"),
    ],
)
def test_a_hostile_trainer_state_is_refused_and_runs_nothing(writer, tmp_path, state, message):
    from fauxshop.text.models import STATE_FILE, load_trainer_state

    marker = tmp_path / "pwned"
    path = tmp_path / STATE_FILE
    torch.save(state(marker), path)
    with one_line_error(rf"trainer_state\.pt: {message}") as error:
        load_trainer_state(path)
    assert_one_line(error)
    assert not marker.exists()
    assert load_trainer_state(writer / STATE_FILE)["step"] == 1


# ----------------------------------------------------------------------------------------------
# The probe


def test_the_model_probe_finds_nothing_in_quick_mode():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "probe_models.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    total = next(line for line in result.stdout.splitlines() if line.startswith("| total"))
    files, *counts = (int(cell) for cell in total.strip("|").split("|")[1:])
    assert files >= 10 and counts == [0] * len(counts), result.stdout
