"""`products --seeds`: a seed range split over torchrun's ranks in shards, resumed, merged.

Two gloo processes compose what a stopped job left undone; the merged products must be the
ones a single process makes from the same seeds, and a second merge adds no duplicates.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from test_products import demo_models

from fauxshop.catalog.store import Store
from fauxshop.cli import main
from fauxshop.errors import FauxshopError
from fauxshop.products.config import ComposeConfig
from fauxshop.products.export import save_products
from fauxshop.products.models import ProductModels
from fauxshop.products.shards import (
    chunks,
    compose_seeds,
    compose_shards,
    manifest,
    merge_shards,
    parse_seeds,
    seed_class,
    start_shards,
)

ROOT = Path(__file__).resolve().parents[1]
# Short texts that may pass, so some photos reach the gallery; seeds 0-3, one per shard.
CONFIG = ComposeConfig(max_new_tokens=16, min_words=1)
FIRST, LAST, SIZE = 0, 3, 1


@pytest.fixture(scope="module")
def models() -> ProductModels:
    return demo_models()


def test_seed_ranges_chunks_and_classes_do_not_depend_on_the_ranks(models):
    assert parse_seeds("3-10") == (3, 10) and parse_seeds("7-7") == (7, 7)
    for bad in ("10-3", "3", "-3-4", "a-b", "1-²"):
        with pytest.raises(FauxshopError, match="--seeds"):
            parse_seeds(bad)
    assert chunks(3, 10, 3) == [(3, 5), (6, 8), (9, 10)]
    assert [seed_class(models, None, s) for s in range(6)] == [0, 1, 2, 3, 0, 1]
    assert seed_class(models, "skirt", 5) == models.label_names.index("skirt")


def test_flags_the_seed_range_replaces_are_refused_before_models_load(tmp_path, capsys):
    assert main(["products", "--workdir", str(tmp_path), "--seeds", "0-9", "--n", "5"]) == 2
    assert "--seeds tries each seed once; drop --n" in capsys.readouterr().err
    assert main(["products", "--workdir", str(tmp_path), "--seeds", "9-0"]) == 2
    assert "the first seed is after the last" in capsys.readouterr().err


def test_a_resume_with_other_settings_or_an_unfinished_merge_is_refused(models, tmp_path):
    folder = tmp_path / "shards"
    start_shards(folder, manifest(models, CONFIG, FIRST, LAST, SIZE))
    start_shards(folder, manifest(models, CONFIG, FIRST, LAST, SIZE))  # the same: fine
    with pytest.raises(FauxshopError, match=r"run.json: .* other --psi; pass the same"):
        start_shards(folder, manifest(models, replace(CONFIG, psi=0.5), FIRST, LAST, SIZE))
    with pytest.raises(FauxshopError, match="other shard_size"):
        start_shards(folder, manifest(models, CONFIG, FIRST, LAST, 2))
    with pytest.raises(FauxshopError, match="4 of 4 shards not composed yet"):
        merge_shards(models, folder)
    other = replace(models, hashes={**models.hashes, "writer": "x"})
    with pytest.raises(FauxshopError, match="made with other models"):
        merge_shards(other, folder)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _plain(record: dict) -> dict:
    """A record less where its photo was written."""
    return {k: v for k, v in record.items() if k != "image_path"}


def _products(out: Path) -> tuple[list[dict], dict[str, bytes]]:
    """A gallery's records and its photos' bytes."""
    lines = (out / "products.jsonl").read_text(encoding="utf-8").splitlines()
    records = [_plain(json.loads(line)) for line in lines]
    return records, {p.name: p.read_bytes() for p in sorted((out / "images").iterdir())}


def test_two_ranks_resume_a_stopped_job_and_match_one_process(models, tmp_path):
    one = compose_seeds(models, CONFIG, FIRST, LAST, tmp_path / "one")
    save_products(one, models.real, tmp_path / "gallery-one")
    assert [c.record["provenance"]["seed"] for c in one.candidates] == [0, 1, 2, 3]
    assert one.accepted, "nothing accepted: the photos are not compared"

    # A job stopped after one shard (seed 1), a second one's temp folder left half written.
    folder = tmp_path / "two"
    start_shards(folder, manifest(models, CONFIG, FIRST, LAST, SIZE))
    assert compose_shards(models, CONFIG, folder, rank=1, world_size=4) == ["seeds-1-1"]
    (folder / ".seeds-2-2.abc.tmp").mkdir()
    (folder / ".seeds-2-2.abc.tmp" / "chunk.json").write_text("{half")
    done_before = (folder / "seeds-1-1" / "chunk.json").stat().st_mtime_ns

    script = tmp_path / "shards.py"
    script.write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "from pathlib import Path\n"
        "from test_products import demo_models\n"
        "from test_products_shards import CONFIG, FIRST, LAST, SIZE\n"
        "from fauxshop.products.export import save_products\n"
        "from fauxshop.products.shards import compose_seeds\n"
        "models = demo_models()\n"
        "out = Path(sys.argv[1])\n"
        "result = compose_seeds(models, CONFIG, FIRST, LAST, out / 'two', SIZE)\n"
        "if result is not None:\n"
        "    save_products(result, models.real, out / 'gallery-two', out / 'catalog.db')\n"
    )
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["--master_port", str(_free_port()), str(script), str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FAUXSHOP_QUIET": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    assert (folder / "seeds-1-1" / "chunk.json").stat().st_mtime_ns == done_before  # skipped
    assert sorted(p.name for p in folder.iterdir()) == [
        "run.json", "seeds-0-0", "seeds-1-1", "seeds-2-2", "seeds-3-3",
    ]  # fmt: skip
    assert _products(tmp_path / "gallery-two") == _products(tmp_path / "gallery-one")
    skus = [c.record["sku"] for c in one.candidates]
    with Store(tmp_path / "catalog.db") as store:
        assert sorted(r["sku"] for r in store.generated()) == sorted(skus)

    again = compose_seeds(models, CONFIG, FIRST, LAST, folder, SIZE)  # all done: merge only
    assert [_plain(c.record) for c in again.candidates] == [
        _plain(c.record) for c in one.candidates
    ]
    save_products(again, models.real, tmp_path / "gallery-two", tmp_path / "catalog.db")
    with Store(tmp_path / "catalog.db") as store:
        assert sorted(r["sku"] for r in store.generated()) == sorted(skus)  # no duplicates
