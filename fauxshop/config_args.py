"""Map config dataclasses onto command-line flags, so every field is settable and saved."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, help_prefix: str = "") -> None:
    """One `--field-name` flag per dataclass field, typed and defaulted from the field."""
    group = parser.add_argument_group(f"{help_prefix or cls.__name__} settings")
    for f in dataclasses.fields(cls):
        if not f.init or f.default is dataclasses.MISSING:
            continue
        kind = type(f.default)
        if kind not in (int, float, str):
            continue
        doc = f.metadata.get("help", "")
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f"cfg_{f.name}",
            type=kind,
            default=f.default,
            metavar=kind.__name__.upper(),
            help=f"{doc} (default: {f.default})".strip(),
        )


def dataclass_from_args(cls: type, args: argparse.Namespace, **overrides: Any):
    """Build `cls` from the flags `add_dataclass_args` added, plus explicit overrides."""
    values = {
        f.name: getattr(args, f"cfg_{f.name}")
        for f in dataclasses.fields(cls)
        if hasattr(args, f"cfg_{f.name}")
    }
    values.update(overrides)
    return cls(**values)
