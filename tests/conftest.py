import pytest


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    """No progress bars in test output."""
    monkeypatch.setenv("FAUXSHOP_QUIET", "1")


@pytest.fixture
def store(tmp_path):
    """An empty catalog store in the test's folder."""
    from fauxshop.catalog.store import Store

    with Store(tmp_path / "catalog.db") as s:
        yield s


def write_jsonl(path, rows) -> None:
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="session")
def text_corpus(tmp_path_factory):
    """A 160-record corpus of demo catalog copy, as `fauxshop pack` writes it."""
    from fauxshop.catalog.demo_catalog import demo_corpus

    path = tmp_path_factory.mktemp("text") / "demo.corpus.jsonl"
    write_jsonl(path, demo_corpus(160, seed=3))
    return path


# A GPT-2 small enough to train for a few dozen steps in seconds.
TINY_TEXT = {
    "from_scratch": "tiny",
    "bpe_vocab": 400,
    "block_size": 64,
    "batch": 8,
    "lr": 3e-3,
    "warmup_steps": 5,
    "eval_windows": 8,
    "sample_every": 0,
}


@pytest.fixture(scope="session")
def tiny_text_run(text_corpus, tmp_path_factory):
    """A tiny run trained for 60 steps on `text_corpus` (shared: training is the slow part)."""
    from fauxshop.text.config import TextTrainConfig
    from fauxshop.text.train import train_text

    out = tmp_path_factory.mktemp("text-run") / "run"
    config = TextTrainConfig(
        out=str(out), corpus=str(text_corpus), max_steps=60, eval_every=20, **TINY_TEXT
    )
    with pytest.MonkeyPatch.context() as mp:  # session scope: the `monkeypatch` fixture can't
        mp.setenv("FAUXSHOP_QUIET", "1")
        train_text(config)
    return out
