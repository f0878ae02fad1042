"""`fauxshop status`: the store, the composed products per products run, and every training
run in WORKDIR/runs with how far it got, read from the runs' own files."""

from __future__ import annotations

import dataclasses
import re
import time

from conftest import TINY_TEXT
from test_train_image import TINY, make_archive

from fauxshop.catalog.store import Store
from fauxshop.cli import main
from fauxshop.image.config import TrainConfig
from fauxshop.image.train import train
from fauxshop.tagger.config import TaggerConfig
from fauxshop.tagger.train import train_tagger
from fauxshop.text.config import TextTrainConfig
from fauxshop.text.train import train_text
from fauxshop.training_run import last_row, run_progress
from fauxshop.workspace import Workspace


def _product(sku: str, status: str, gallery) -> dict:
    image = str(gallery / "images" / f"{sku}.png") if status == "accepted" else None
    return {
        "sku": sku, "title": sku, "description": "a red dress", "category": "dress",
        "attributes": {}, "image_path": image, "status": status, "checks": {},
        "provenance": {"seed": 0},
    }  # fmt: skip


def test_status_lists_training_runs_and_composed_products(tmp_path, text_corpus, capsys):
    ws = Workspace.open(tmp_path / "work")
    archive = make_archive(tmp_path / "shapes.zip")
    # An image run its CPU budget stopped short of its kimg; a finished tagger; a text run.
    image = TrainConfig(data=str(archive), out=str(ws.runs_dir / "image"), kimg=0.4, **TINY)
    train(dataclasses.replace(image, budget_minutes=1e-4))
    tagger = TaggerConfig(widths="8,16", epochs=1, batch=8, device="cpu", text="none")
    train_tagger(archive, ws.runs_dir / "tagger", tagger)
    text = TextTrainConfig(str(ws.runs_dir / "text"), str(text_corpus), max_steps=4, **TINY_TEXT)
    train_text(dataclasses.replace(text, eval_every=2))
    (ws.runs_dir / "projections").mkdir()  # not a run: no config.json
    (ws.runs_dir / "studio-directions.safetensors").write_bytes(b"")

    with Store(ws.db_path) as store:
        store.save_generated(
            [_product("A", "accepted", tmp_path / "g1"), _product("B", "rejected", None)]
        )
        time.sleep(1.1)  # a products run's rows share their save time, to the second
        store.save_generated([_product("C", "accepted", tmp_path / "g2")])
    assert main(["status", "--workdir", str(ws.root)]) == 0
    out = capsys.readouterr().out

    runs = {line.split()[0]: line for line in out.splitlines() if str(ws.runs_dir) + "/" in line}
    assert sorted(runs) == ["image", "tagger", "text"]
    done, total = map(float, re.search(r"([\d.]+)/([\d.]+) kimg", runs["image"]).groups())
    assert 0 < done < total == 0.4
    assert "1/1 epoch (100%)" in runs["tagger"] and runs["tagger"].endswith("runs/tagger")
    assert "4/4 step (100%)" in runs["text"] and "val_ppl" in runs["text"]
    assert all(re.search(r" log (just now|\d+ min ago) ", line) for line in runs.values())

    lines = out.splitlines()
    start = lines.index("generated products: 3 (accepted 2, rejected 1), per products run:")
    newest, older = lines[start + 1 : start + 3]
    assert "accepted 1" in newest and newest.endswith(str(tmp_path / "g2"))
    assert "accepted 1, rejected 1" in older and older.endswith(str(tmp_path / "g1"))


def test_run_progress_reads_the_newest_whole_log_row(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"max_steps": 300}')
    assert run_progress(run).done == 0 and run_progress(run).updated is None
    rows = "".join(f'{{"step": {s}, "val_ppl": {s / 10}}}\n' for s in range(1, 20001))
    (run / "log.jsonl").write_text(rows + '{"step": 20001, "val')  # a row being written
    progress = run_progress(run)
    assert (progress.kind, progress.done, progress.total) == ("text", 20000, 300)
    assert progress.last["val_ppl"] == 2000.0
    log = tmp_path / "log.csv"
    log.write_text("tick,kimg\n" + "".join(f"{t},{t * 4}\n" for t in range(1, 9000)) + "9000,")
    assert last_row(log) == {"tick": "8999", "kimg": "35996"}
    (run / "config.json").write_text("[1, 2]")
    assert run_progress(run) is None
