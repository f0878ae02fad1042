"""Map config dataclasses onto command-line flags, so every field is settable and saved."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any


def _scalar_type(hint: Any) -> tuple[type, bool]:
    """(int | float | str | bool, optional?) for a field's type hint such as `float | None`."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return inner, True
    return hint, False


def _optional(kind: type):
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def help_field(text: str, default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with the one-line help the CLI shows for its flag."""
    return dataclasses.field(default=default, metadata={"help": text})


class StoreGiven(argparse.Action):
    """Store the value and remember that the user gave this flag (so a preset yields to it)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        _mark_given(namespace, self.dest)


class _Bool(argparse.BooleanOptionalAction):
    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, option_string)
        _mark_given(namespace, self.dest)


def _mark_given(namespace: argparse.Namespace, dest: str) -> None:
    given = getattr(namespace, "given_flags", set())
    namespace.given_flags = given | {dest}


def add_dataclass_args(
    parser: argparse.ArgumentParser, cls: type, title: str = "", skip: tuple[str, ...] = ()
) -> None:
    """One `--field-name` flag per dataclass field, typed, defaulted and helped from the field.

    Fields without a default become required flags; `bool` fields get --x / --no-x; a field
    typed `T | None` accepts the word `none`.
    """
    group = parser.add_argument_group(f"{title or cls.__name__} settings")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip:
            continue
        kind, optional = _scalar_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        required = f.default is dataclasses.MISSING
        doc = f.metadata.get("help", "")
        options: dict[str, Any] = {"dest": f"cfg_{f.name}", "required": required}
        if kind is bool:
            options["action"] = _Bool
        else:
            options["action"] = StoreGiven
            options["type"] = _optional(kind) if optional else kind
            options["metavar"] = kind.__name__.upper()
        if not required:
            options["default"] = f.default
            doc = f"{doc} (default: {f.default})".strip()
        group.add_argument(flag, help=doc.replace("%", "%%"), **options)


def dataclass_from_args(
    cls: type, args: argparse.Namespace, preset: dict[str, Any] | None = None, **overrides: Any
):
    """Build `cls` from the flags `add_dataclass_args` added, plus explicit overrides.

    `preset` values replace the defaults of flags the user did not give.
    """
    values = {
        f.name: getattr(args, f"cfg_{f.name}")
        for f in dataclasses.fields(cls)
        if hasattr(args, f"cfg_{f.name}")
    }
    given = getattr(args, "given_flags", set())
    values.update({k: v for k, v in (preset or {}).items() if f"cfg_{k}" not in given})
    values.update(overrides)
    return cls(**values)
