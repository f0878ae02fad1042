import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from tiny_models import demo_generator_trained_on

from fauxshop.catalog.archive import read_metadata
from fauxshop.cli import build_parser, main

VERBS = [
    "demo", "demo-catalog", "ingest", "prune", "pack", "status",
    "train-image", "generate", "mix", "walk", "metrics", "export-generator", "convert",
    "train-text", "write", "eval-text",
    "train-tagger", "calibrate-tagger", "project", "directions", "edit", "rare", "products",
    "augment-study", "serve", "design", "export-products",
]  # fmt: skip


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help_with_an_example(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([verb, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and f"fauxshop {verb}" in out and "--workdir" in out


def test_parser_knows_every_verb():
    sub = next(a for a in build_parser()._actions if a.dest == "verb")
    assert sorted(sub.choices) == sorted(VERBS)


def test_help_loads_no_heavy_library():
    """`fauxshop --help` and every `fauxshop VERB --help` answer without importing torch,
    numpy or scipy: the parser is built from light config modules only."""
    code = (
        "import contextlib, io, sys\n"
        "from fauxshop.cli import main\n"
        f"for argv in [['--help']] + [[v, '--help'] for v in {VERBS!r}]:\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        main(argv)\n"
        "print(sorted(m for m in ('torch', 'numpy', 'scipy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_user_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    code = main(["ingest", str(tmp_path / "missing.csv"), "--workdir", str(tmp_path / "w")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "missing.csv" in err


def test_ingest_needs_a_table_or_fashion_mnist(tmp_path, capsys):
    assert main(["ingest", "--workdir", str(tmp_path)]) == 2
    assert "--fashion-mnist" in capsys.readouterr().err


def test_pack_with_nothing_kept_is_a_clear_error(tmp_path, capsys):
    assert main(["pack", "--workdir", str(tmp_path)]) == 2
    assert "no kept products" in capsys.readouterr().err


def test_pipeline_verbs_end_to_end(tmp_path, capsys):
    work, catalog = tmp_path / "work", tmp_path / "catalog"
    assert main(["demo-catalog", str(catalog), "--n", "40", "--seed", "3"]) == 0
    assert main(["ingest", str(catalog / "products.jsonl"), "--workdir", str(work)]) == 0
    assert main(["prune", "--workdir", str(work)]) == 0
    out = capsys.readouterr().out
    assert "precision" in out  # ground truth found beside the table
    archive = tmp_path / "a.zip"
    assert main(["pack", "--size", "32x16", "--out", str(archive), "--workdir", str(work)]) == 0
    summary = json.loads(capsys.readouterr().out)
    labels = read_metadata(archive)["labels"]
    assert summary["packed"] == len(labels) > 0
    assert main(["status", "--workdir", str(work)]) == 0
    status = capsys.readouterr().out
    assert "kept" in status and "latest runs" in status


def test_demo_runs_every_stage(tmp_path, capsys):
    assert main(["demo", "--n", "48", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    stages = ("demo-catalog", "ingest", "prune", "pack", "train-text", "train-tagger", "write")
    for stage in (*stages, "directions + edit", "rare", "products"):
        assert f"== {stage}" in out
    assert f"fauxshop serve --workdir {tmp_path}" in out and "http://127.0.0.1:8000/" in out
    [gallery] = (tmp_path / "exports" / "products").glob("seeds-0-*/index.html")
    assert gallery.read_text().count('class="card"') >= 1 and "products/s" in out
    demo = tmp_path / "exports" / "demo"
    for name in ("edit-length", "edit-colour", "rare-filter", "rare-centroid", "rare-conditional"):
        assert (demo / f"{name}.png").is_file()
    from fauxshop.image.checkpoint import load_generator
    from fauxshop.latent.generate import generate
    from fauxshop.products.models import DEMO_GENERATOR

    tops = generate(load_generator(DEMO_GENERATOR), range(8), 0.7, 3, truncate_to="class")
    with Image.open(demo / "grid.png") as grid:  # a row per class, as products truncate
        assert np.array_equal(np.asarray(grid)[3 * 64 : 4 * 64], np.concatenate(tops, axis=1))
    assert "| length:midi,maxi | interfacegan | length:midi,maxi |" in out
    assert "strength -0.5..1: " in out and "strength -3..3: " in out  # the sliders' ranges
    assert "| filter | category:jumpsuit | 16 |" in out
    assert (tmp_path / "archives" / "demo-64x32.zip").exists()
    assert (tmp_path / "archives" / "demo-128x64.corpus.jsonl").exists()
    descriptions = (tmp_path / "exports" / "demo" / "descriptions.jsonl").read_text()
    assert all(json.loads(line)["description"] for line in descriptions.splitlines())
    assert "attribute_coverage" in out


def test_sefa_directions_then_an_edit_grid_from_the_demo_generator(tmp_path, capsys):
    from fauxshop.products.models import DEMO_GENERATOR

    files = ["--directions", str(tmp_path / "d.safetensors")]
    assert main(["directions", str(DEMO_GENERATOR), "--method", "sefa", "--k", "3", *files]) == 0
    assert "3 direction(s)" in capsys.readouterr().out
    argv = ["edit", str(DEMO_GENERATOR), "--direction", "sefa0", "--strength=-2:2:3", *files]
    assert (
        main([*argv, "--seeds", "1,2", "--class", "dress", "--out", str(tmp_path / "e.png")]) == 0
    )
    with Image.open(tmp_path / "e.png") as grid:
        assert grid.size == (3 * 32, 2 * 64)  # 3 strengths x 2 seeds of 64x32 tiles


def test_interfacegan_directions_and_rare_jumpsuits_with_the_demo_tagger(tmp_path, capsys):
    from fauxshop.image.checkpoint import generator_fingerprint, load_generator
    from fauxshop.latent.directions import load_directions
    from fauxshop.products.models import DEMO_GENERATOR, DEMO_TAGGER

    files = ["--directions", str(tmp_path / "d.safetensors"), "--tagger", str(DEMO_TAGGER)]
    argv = ["directions", str(DEMO_GENERATOR), "--method", "interfacegan", "--class", "dress"]
    argv += ["--target", "length:midi,maxi", "colour:red", "--layers", "coarse", "--num", "300"]
    assert main([*argv, "--seeds", "0-3", *files]) == 0
    out = capsys.readouterr().out
    assert "| length:midi,maxi@coarse | interfacegan | length:midi,maxi |" in out
    fingerprint = generator_fingerprint(load_generator(DEMO_GENERATOR))
    found = load_directions(tmp_path / "d.safetensors", fingerprint)
    assert [(d.name, d.layers) for d in found] == [
        ("length:midi,maxi@coarse", [0, 1, 2, 3]),
        ("colour:red@coarse", [0, 1, 2, 3]),
    ]

    real = str(tmp_path / "real.zip")
    from fauxshop.catalog.demo_catalog import write_demo_catalog

    catalog = tmp_path / "catalog"
    write_demo_catalog(catalog, n=40, seed=0)
    assert main(["ingest", str(catalog / "products.jsonl"), "--workdir", str(tmp_path)]) == 0
    assert main(["prune", "--workdir", str(tmp_path)]) == 0
    assert main(["pack", "--size", "64x32", "--out", real, "--workdir", str(tmp_path)]) == 0
    argv = ["rare", str(DEMO_GENERATOR), "--tagger", str(DEMO_TAGGER), "--category", "dress"]
    argv += ["--method", "conditional", "--n", "8", "--real", real, "--out", str(tmp_path / "r")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "real category:dress photos" in out and "| conditional | category:dress | 8 |" in out
    assert (tmp_path / "r" / "conditional.png").is_file()


def test_project_verb_reports_psnr_and_skips_a_missing_photo(tmp_path, capsys):
    from fauxshop.catalog.demo_catalog import demo_product
    from fauxshop.products.models import DEMO_GENERATOR

    demo_product(0, 0, 0.0).image.save(tmp_path / "dress.png")
    argv = ["project", str(DEMO_GENERATOR), str(tmp_path / "dress.png"), str(tmp_path / "no.png")]
    argv += ["--class", "dress", "--steps", "20", "--features", "none", "--w-avg-samples", "500"]
    assert main([*argv, "--out", str(tmp_path / "proj")]) == 0
    out = capsys.readouterr().out
    assert "dress: PSNR" in out and "skipped no" in out
    assert (tmp_path / "proj" / "dress.npz").is_file()

    files = ["--directions", str(tmp_path / "d.safetensors")]
    assert main(["directions", str(DEMO_GENERATOR), "--method", "sefa", "--k", "1", *files]) == 0
    argv = ["edit", str(DEMO_GENERATOR), "--direction", "sefa0", "--strength=-2,0,2", *files]
    latent = ["--latent", str(tmp_path / "proj" / "dress.npz")]
    assert main([*argv, *latent, "--out", str(tmp_path / "e.png")]) == 0
    with Image.open(tmp_path / "e.png") as grid, Image.open(tmp_path / "proj/dress.png") as rec:
        assert grid.size == (3 * 32, 64)
        assert np.array_equal(np.asarray(grid)[:, 32:64], np.asarray(rec))  # strength 0


def test_products_verb_composes_stores_and_regenerates(tmp_path, capsys):
    from fauxshop.catalog.demo_catalog import write_demo_catalog

    work = ["--workdir", str(tmp_path)]
    write_demo_catalog(tmp_path / "catalog", n=30, seed=0)
    assert main(["ingest", str(tmp_path / "catalog" / "products.jsonl"), *work]) == 0
    assert main(["prune", *work]) == 0 and main(["pack", "--size", "64x32", *work]) == 0
    # the verb's plumbing, not the checks' strictness: a short grounded text is often mostly a
    # run of the writer's training texts, so novelty and grounding are loosened
    loose = ["--max-shared-share", "1", "--min-words", "3", "--max-new-tokens", "50"]
    gone = tmp_path / "elsewhere" / "demo-64x32.zip"  # the archive the generator was trained on
    generator = ["--generator", str(demo_generator_trained_on(tmp_path, gone))]
    argv = ["products", "--n", "2", "--max-candidates", "8", *loose, *generator, *work]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| image_novel |" in out and "products/s" in out and "| dress | 1 |" in out
    assert f"(newest in the workspace; the generator's {gone} is not here)" in out
    [first] = (tmp_path / "exports" / "products").glob("seeds-0-*")
    records = (first / "products.jsonl").read_text().splitlines()
    sku = json.loads(records[0])["sku"]
    assert (first / "index.html").is_file()
    last = int(first.name.rpartition("-")[2])
    assert main(argv) == 0  # a second run continues the seeds into its own folder
    assert f"seeds {last + 1}-" in capsys.readouterr().out
    [second] = (tmp_path / "exports" / "products").glob(f"seeds-{last + 1}-*")
    again = [json.loads(r)["sku"] for r in (second / "products.jsonl").read_text().splitlines()]
    assert again and sku not in again and (first / "index.html").is_file()
    assert main(["products", "--regenerate", sku, *work]) == 0
    assert f"{sku}: photo identical, text identical" in capsys.readouterr().out


def test_serve_with_workers_runs_them_over_the_workspace(tmp_path, monkeypatch):
    import fauxshop.web.serve as serve_module

    called = {}

    def fake_serve_workers(workdir, host, port, workers, *models, say):
        called.update(workdir=workdir, port=port, workers=workers, models=models)

    monkeypatch.setattr(serve_module, "serve_workers", fake_serve_workers)
    argv = ["serve", "--workers", "3", "--port", "8123", "--workdir", str(tmp_path)]
    assert main(argv) == 0
    assert called == {"workdir": tmp_path, "port": 8123, "workers": 3,
                      "models": (None, None, None, None)}  # fmt: skip
