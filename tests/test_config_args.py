import argparse
from dataclasses import dataclass, field

import pytest

from fauxshop.config_args import add_dataclass_args, dataclass_from_args


@dataclass
class Example:
    data: str = field(metadata={"help": "input archive"})
    steps: int = field(default=10, metadata={"help": "how many"})
    rate: float = 0.5
    gamma: float | None = None
    mirror: bool = False
    name: str = "run"


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, Example)
    return dataclass_from_args(Example, parser.parse_args(argv))


def test_defaults_come_from_the_dataclass():
    assert _parse(["--data", "a.zip"]) == Example(data="a.zip")


def test_every_kind_of_field_maps_to_a_typed_flag():
    cfg = _parse(["--data", "a", "--steps", "3", "--rate", "0.1", "--gamma", "2", "--mirror"])
    assert cfg == Example(data="a", steps=3, rate=0.1, gamma=2.0, mirror=True)
    assert _parse(["--data", "a", "--gamma", "none", "--no-mirror"]).gamma is None


def test_field_without_default_is_required(capsys):
    with pytest.raises(SystemExit):
        _parse([])
    assert "--data" in capsys.readouterr().err


def test_help_shows_field_help_and_default(capsys):
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, Example)
    text = parser.format_help()
    assert "how many (default: 10)" in text and "input archive" in text
