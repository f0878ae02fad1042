import pytest


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    """No progress bars in test output."""
    monkeypatch.setenv("FAUXSHOP_QUIET", "1")
