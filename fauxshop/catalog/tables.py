"""Read a catalog table (JSONL, CSV, TSV or Parquet) row by row, never giving up on a file for
one row. (Retailers' feeds are read by `feeds.py`, on top of these readers.)

`read_rows` yields, per row, either a `Row` (column → value) or a `BadRow` saying why the row
can't be read: `not_utf8`, `malformed_row` or `over_limit`. `to_catalog_row` then applies the
user's `ColumnMapping` and yields a `CatalogRow`, or a `BadRow` for `missing_field` (no sku or
image), `bad_split`, `malformed_row`, `over_limit` or `not_utf8` (a JSON escape of a lone
surrogate, which is no character). Only a table that can't be read at all (missing, not a file,
corrupt Parquet, a mapped column absent from the header) raises `TableError`.

The limits below hold for every format alike, so a row is judged the same whichever file it
comes in, and no value can exhaust memory, the stack or Python's int-to-text conversion.
A line of JSONL or CSV ends at \n, \r\n or a lone \r (old spreadsheet exports).

Row numbers are what a person opening the file sees: the line number for JSONL and CSV (a CSV
header is line 1, a quoted field may span lines: the record's first line), the 1-based record
number for Parquet. Values keep the type the file gives them: text from CSV, JSON types from
JSONL and Parquet (null → None); the product fields (sku, title, ...) are always text.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from fauxshop.catalog.store import SPLITS
from fauxshop.errors import FauxshopError

REQUIRED_FIELDS = ("sku", "image")
SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
ATTRIBUTES_COLUMN = "attributes"  # a JSON object column merged into the other attribute columns

MAX_FIELD_CHARS = 1 << 20  # characters in one text value
MAX_DEPTH = 32  # JSON objects and lists nested in one value
MAX_DIGITS = 100  # digits of one integer (Python won't even print one above 4300)
MAX_LINE_CHARS = 16 << 20  # characters in one line of a JSONL or CSV file; the rest is skipped
MAX_RAW_CHARS = 1 << 16  # of a bad row's text kept: enough to find and fix the row


class TableError(FauxshopError):
    """The whole table can't be read; the message is one line naming the file."""


class MappingError(FauxshopError, ValueError):
    """A column mapping the user wrote can't be understood."""


@dataclass(frozen=True)
class ColumnMapping:
    """Which column of the table holds each product field (defaults: the field's own name)."""

    sku: str = "sku"
    title: str = "title"
    description: str = "description"
    category: str = "category"
    image: str = "image"
    split: str = "split"

    def __post_init__(self) -> None:
        columns = Counter(self.columns().values())
        shared = sorted(column for column, n in columns.items() if n > 1)
        if shared:
            raise MappingError(f"column mapping: column(s) {', '.join(shared)} used for two fields")

    def columns(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def overrides(self) -> dict[str, str]:
        """Field → column for the fields mapped to a column other than their own name."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) != f.default
        }

    def needed(self) -> dict[str, str]:
        """Field → column a header must have: sku and image, and whatever was mapped by hand."""
        return {**{f: getattr(self, f) for f in REQUIRED_FIELDS}, **self.overrides()}


def parse_mapping(text: str) -> ColumnMapping:
    """`"sku=product_id,image=img"` → ColumnMapping; unnamed fields keep their default column."""
    names = {f.name for f in fields(ColumnMapping)}
    pairs: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        field, sep, column = (s.strip() for s in part.partition("="))
        if not (sep and field and column):
            raise MappingError(f"column mapping {part!r}: expected field=column")
        if field not in names:
            raise MappingError(
                f"column mapping {part!r}: unknown field {field!r} (fields: {', '.join(names)})"
            )
        if field in pairs:
            raise MappingError(f"column mapping: field {field!r} given twice")
        pairs[field] = column
    return ColumnMapping(**pairs)


@dataclass(frozen=True)
class Row:
    number: int
    values: dict[str, Any]
    raw: str


@dataclass(frozen=True)
class BadRow:
    """A row that can't become a product, with the text the user gave, for `ingest_rejects`."""

    number: int
    reason: str
    detail: str
    raw: str
    sku: str | None = None

    def __post_init__(self) -> None:
        # Bad rows are kept until the ingest ends: rows of huge fields must not pile up.
        object.__setattr__(self, "raw", self.raw[:MAX_RAW_CHARS])

    def as_reject(self) -> dict:
        return {
            "row": self.number,
            "sku": self.sku,
            "reason": self.reason,
            "detail": self.detail,
            "raw": self.raw,
        }


@dataclass(frozen=True)
class CatalogRow:
    number: int
    sku: str
    image: str
    title: str
    description: str
    category: str
    split: str
    attributes: dict[str, Any]
    raw: str


def read_rows(path: Path, mapping: ColumnMapping | None = None) -> Iterator[Row | BadRow]:
    """Rows of a .jsonl/.ndjson, .csv or .parquet/.pq table; the header is checked against
    `mapping` (JSONL has none: a row lacking a field is a bad row later)."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise TableError(
            f"{path}: unknown table type {path.suffix!r}"
            " (use .jsonl, .ndjson, .csv, .tsv, .parquet, .pq)"
        )
    mapping = mapping or ColumnMapping()
    if kind == "parquet":
        check_file(path)
        return _parquet_rows(path, mapping)
    if kind == "jsonl":
        return _jsonl_rows(open_table(path))
    check_file(path)
    return _checked_rows(path, "\t" if kind == "tsv" else ",", mapping)


def _checked_rows(path: Path, delimiter: str, mapping: ColumnMapping) -> Iterator[Row | BadRow]:
    """A delimited file's rows, its header checked against `mapping` once reading starts."""
    header, rows = delimited_rows(path, delimiter)
    _check_header(path, header, mapping)
    yield from rows


def check_file(path: Path) -> None:
    """Raise TableError unless `path` is a regular file."""
    if not path.exists():
        raise TableError(f"{path}: no such file")
    if not path.is_file():
        raise TableError(f"{path}: not a regular file")


def open_table(path: Path) -> IO[bytes]:
    """`path` opened for reading in binary, or TableError naming it."""
    check_file(path)
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller's generator owns and closes it
    except OSError as e:
        raise TableError(f"{path}: cannot read: {e.strerror}") from None


def to_catalog_row(row: Row, mapping: ColumnMapping) -> CatalogRow | BadRow:
    """Pick the product fields out of `row`; every other column becomes an attribute."""
    problem = value_problem(row.values)
    if problem:
        sku = row.values.get(mapping.sku)
        clean = isinstance(sku, str) and not value_problem({mapping.sku: sku})
        return BadRow(row.number, *problem, row.raw, (sku.strip() or None) if clean else None)
    values = dict(row.values)
    text: dict[str, str] = {}
    for field, column in mapping.columns().items():
        value = values.pop(column, None)
        if isinstance(value, dict | list):
            detail = f"column {column!r} holds a JSON {type(value).__name__}, expected text"
            return BadRow(row.number, "malformed_row", detail, row.raw)
        text[field] = "" if value is None else str(value).strip()
    sku = text["sku"] or None
    for field in REQUIRED_FIELDS:
        if not text[field]:
            column = getattr(mapping, field)
            detail = f"no {field} (column {column!r} is missing or empty)"
            return BadRow(row.number, "missing_field", detail, row.raw, sku)
    split = text["split"].lower() or "train"
    if split not in SPLITS:
        detail = f"split {text['split']!r} is not one of {', '.join(SPLITS)}"
        return BadRow(row.number, "bad_split", detail, row.raw, sku)
    try:
        attributes = _attributes(values)
    except RowProblem as e:
        return BadRow(row.number, e.reason, str(e), row.raw, sku)
    return CatalogRow(
        row.number,
        text["sku"],
        text["image"],
        text["title"],
        text["description"],
        text["category"],
        split,
        attributes,
        row.raw,
    )


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    """Non-empty leftover columns, on top of the keys of an `attributes` JSON object column."""
    nested = values.pop(ATTRIBUTES_COLUMN, None)
    if isinstance(nested, str) and nested.strip():
        try:
            nested = _loads(nested)
        except json.JSONDecodeError as e:
            detail = f"column {ATTRIBUTES_COLUMN!r} is not valid JSON: {e.msg}"
            raise RowProblem("malformed_row", detail) from None
        problem = value_problem({ATTRIBUTES_COLUMN: nested})
        if problem:
            raise RowProblem(*problem)
    if nested in (None, ""):
        nested = {}
    if not isinstance(nested, dict):
        raise RowProblem("malformed_row", f"column {ATTRIBUTES_COLUMN!r} is not a JSON object")
    # An empty cell is no value: it neither becomes an attribute nor hides a nested one.
    return {**_present(nested), **_present(values)}


class RowProblem(ValueError):
    """Why a row can't be a product: `reason` is a fixed word, the message is for people."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def _loads(text: str) -> Any:
    """`json.loads` within the limits: a huge integer or deep nesting is a RowProblem, not a
    crash (Python refuses integers over 4300 digits; the parser recurses once per level)."""
    try:
        return json.loads(text, parse_int=_bounded_int)
    except RecursionError:
        raise RowProblem("over_limit", f"JSON nested deeper than {MAX_DEPTH} levels") from None


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        detail = f"a number of {len(digits.lstrip('-')):,} digits, above the limit of {MAX_DIGITS}"
        raise RowProblem("over_limit", detail)
    return int(digits)


def value_problem(values: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, detail) if a value breaks a limit or holds a lone surrogate, else None.

    Walks without recursion, so nesting of any depth is measured, not a RecursionError.
    """
    too_big = 10**MAX_DIGITS
    stack = [(str(column), value, 1) for column, value in values.items()]
    while stack:
        column, value, depth = stack.pop()
        if isinstance(value, str):
            if len(value) > MAX_FIELD_CHARS:
                detail = f"{len(value):,} characters, above the limit of {MAX_FIELD_CHARS:,}"
                return "over_limit", f"column {column!r} holds {detail}"
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as e:
                    surrogate = f"\\u{ord(value[e.start]):04x}"
                    detail = f"the lone surrogate {surrogate}, which is no character"
                    return "not_utf8", f"column {column!r} holds {detail}"
        elif isinstance(value, int) and abs(value) >= too_big:
            return "over_limit", f"column {column!r} holds a number above {MAX_DIGITS} digits"
        elif isinstance(value, dict | list | tuple):
            if depth > MAX_DEPTH:
                return "over_limit", f"column {column!r} is nested over {MAX_DEPTH} levels deep"
            items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
            for key, item in items:
                stack.append((column, item, depth + 1))
                if key is not None:
                    stack.append((column, key, depth))
    return None


def _present(values: dict) -> dict[str, Any]:
    return {str(k): p for k, v in values.items() if (p := _plain(v)) not in (None, "")}


def _plain(value: Any) -> Any:
    """A value the store can write as JSON: NaN → None, dates and decimals → text."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _not_utf8(
    number: int, data: bytes, offset: int, error: UnicodeDecodeError, where: str
) -> BadRow:
    detail = (
        f"invalid UTF-8 byte 0x{data[error.start]:02x} at byte {offset + error.start}"
        f" of the file ({where})"
    )
    return BadRow(number, "not_utf8", detail, _loose(data))


def _loose(data: bytes) -> str:
    """Bytes as storable text, bad bytes shown as \\xNN, line ending dropped."""
    return data.decode("utf-8", "backslashreplace").rstrip("\r\n")


class Line(NamedTuple):
    number: int
    offset: int  # of `data` in the file, in bytes
    data: bytes  # the line and its ending, or only its first MAX_LINE_CHARS characters if cut
    cut: bool


def _lines(f: IO[bytes]) -> Iterator[Line]:
    """The lines of a binary file, a leading UTF-8 BOM skipped.

    Read through a text layer for its universal newlines (\\n, \\r\\n and a lone \\r all end a
    line) and its bounded readline; surrogateescape gives back the file's exact bytes.
    """
    text = io.TextIOWrapper(f, encoding="utf-8", errors="surrogateescape", newline="")
    offset = 0
    for number in itertools.count(1):
        line = text.readline(MAX_LINE_CHARS + 2)  # room for a \r\n
        if not line:
            return
        data = line.encode("utf-8", "surrogateescape")
        size = len(data)
        cut = len(line.rstrip("\r\n")) > MAX_LINE_CHARS
        while cut and not line.endswith(("\n", "\r")) and (line := text.readline(1 << 20)):
            size += len(line.encode("utf-8", "surrogateescape"))  # skipped, only counted
        if number == 1 and data.startswith(codecs.BOM_UTF8):
            data, offset = data[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
            size -= offset
        yield Line(number, offset, data, cut)
        offset += size


def _too_long(number: int, line: Line, data: bytes) -> BadRow:
    detail = f"line {line.number} holds over {MAX_LINE_CHARS:,} characters, the limit"
    return BadRow(number, "over_limit", detail, _loose(data))


def _jsonl_rows(f: IO[bytes]) -> Iterator[Row | BadRow]:
    with f:
        for line in _lines(f):
            number = line.number
            if line.cut:
                yield _too_long(number, line, line.data)
                continue
            try:
                text = line.data.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                where = f"line {number}, column {e.start + 1}"
                yield _not_utf8(number, line.data, line.offset, e, where)
                continue
            if not text.strip():
                continue
            try:
                value = _loads(text)
            except json.JSONDecodeError as e:
                detail = f"invalid JSON: {e.msg} (column {e.colno})"
                yield BadRow(number, "malformed_row", detail, text)
                continue
            except RowProblem as e:
                yield BadRow(number, e.reason, str(e), text)
                continue
            if not isinstance(value, dict):
                detail = f"expected a JSON object, found {type(value).__name__}"
                yield BadRow(number, "malformed_row", detail, text)
                continue
            yield Row(number, value, text)


class _RecordLines:
    """Feeds csv.reader decoded lines and remembers which lines made up the current record.

    Undecodable bytes pass through as surrogates (so the reader keeps its place in the file)
    and are reported per record. A line over the limit reaches the reader as an empty line.
    """

    def __init__(self, f: IO[bytes]):
        self._lines = _lines(f)
        self.taken: list[Line] = []

    def __iter__(self) -> _RecordLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        return "\n" if line.cut else line.data.decode("utf-8", "surrogateescape")

    def start_record(self) -> None:
        self.taken = []

    @property
    def number(self) -> int:
        return self.taken[0].number if self.taken else 0

    @property
    def data(self) -> bytes:
        return b"".join(line.data for line in self.taken)

    def too_long(self) -> BadRow | None:
        cut = next((line for line in self.taken if line.cut), None)
        return None if cut is None else _too_long(self.number, cut, self.data)

    def utf8_error(self) -> BadRow | None:
        try:
            self.data.decode("utf-8")
        except UnicodeDecodeError as e:
            return _not_utf8(self.number, self.data, self.taken[0].offset, e, f"line {self.number}")
        return None


def delimited_rows(path: Path, delimiter: str = ",") -> tuple[list[str], Iterator[Row | BadRow]]:
    """The header and the rows of a CSV (or, with a tab, TSV) file; the header is read now, so
    a file without a usable one fails here, with duplicate column names."""
    # csv's own cap (process-wide) only stops a quoted field running on over many lines; the
    # limit on one value is MAX_FIELD_CHARS, checked like every other format's values.
    csv.field_size_limit(MAX_LINE_CHARS)
    f = open_table(path)
    lines = _RecordLines(f)
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader)
        if lines.too_long():
            raise TableError(f"{path}: header row holds over {MAX_LINE_CHARS:,} characters")
        if lines.utf8_error():
            raise TableError(f"{path}: header row is not valid UTF-8")
        _check_header(path, header)
    except StopIteration:
        f.close()
        raise TableError(f"{path}: empty file, expected a header row") from None
    except csv.Error as e:
        f.close()
        raise TableError(f"{path}: unreadable header row: {e}") from None
    except TableError:
        f.close()
        raise
    return header, _delimited_records(f, lines, reader, header)


def _delimited_records(
    f: IO[bytes], lines: _RecordLines, reader: Iterator[list[str]], header: list[str]
) -> Iterator[Row | BadRow]:
    with f:
        while True:
            lines.start_record()
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                reason = "over_limit" if "field limit" in str(e) else "malformed_row"
                yield BadRow(lines.number, reason, f"CSV: {e}", _loose(lines.data))
                continue
            too_long = lines.too_long()
            if too_long:
                yield too_long
                continue
            if not record:  # a blank line
                continue
            bad = lines.utf8_error()
            if bad:
                column = next((c for c, v in zip(header, record, strict=False) if _escaped(v)), "")
                yield BadRow(bad.number, bad.reason, f"{bad.detail}, column {column!r}", bad.raw)
            elif len(record) != len(header):
                span = lines.taken[-1].number - lines.number
                detail = f"expected {len(header)} fields, found {len(record)}"
                if span:  # an unclosed quote swallows the lines after it
                    detail += f" (record spans lines {lines.number}-{lines.number + span})"
                yield BadRow(lines.number, "malformed_row", detail, _loose(lines.data))
            else:
                yield Row(lines.number, dict(zip(header, record, strict=True)), _loose(lines.data))


def _escaped(value: str) -> bool:
    """Whether `value` holds a byte that surrogateescape let through."""
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _check_header(path: Path, names: Iterable[str], mapping: ColumnMapping | None = None) -> None:
    """No column twice, and (given a mapping) every column it needs."""
    names = list(names)
    duplicates = sorted(name for name, n in Counter(names).items() if n > 1)
    if duplicates:
        raise TableError(f"{path}: duplicate column(s) {', '.join(map(repr, duplicates))}")
    if mapping is None:
        return
    missing = {field: col for field, col in mapping.needed().items() if col not in names}
    if missing:
        wanted = ", ".join(f"{col!r} (for {field})" for field, col in missing.items())
        raise TableError(f"{path}: missing column(s) {wanted}; columns are {', '.join(names)}")


def _parquet_rows(path: Path, mapping: ColumnMapping) -> Iterator[Row | BadRow]:
    try:
        table = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise TableError(f"{path}: not a readable Parquet file: {_first_line(e)}") from None
    _check_header(path, table.schema_arrow.names, mapping)
    number = 0
    batches = table.iter_batches(batch_size=1024)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError) as e:
            raise TableError(f"{path}: unreadable after row {number}: {_first_line(e)}") from None
        if batch is None:
            return
        for values in _pylist(batch):
            number += 1
            yield _parquet_row(number, values)


def _pylist(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    try:
        return batch.to_pylist()
    except UnicodeDecodeError:  # a text column holds bad bytes: read it as bytes, judge per row
        columns = [
            column.cast(pa.large_binary() if pa.types.is_large_string(column.type) else pa.binary())
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
            else column
            for column in batch.columns
        ]
        return pa.RecordBatch.from_arrays(columns, names=batch.schema.names).to_pylist()


def _parquet_row(number: int, values: dict[str, Any]) -> Row | BadRow:
    """Binary columns holding text are decoded here, so bad bytes are a bad row, not a crash."""
    for column, value in values.items():
        if isinstance(value, bytes):
            try:
                values[column] = value.decode("utf-8")
            except UnicodeDecodeError as e:
                detail = f"invalid UTF-8 byte 0x{value[e.start]:02x} at byte {e.start}"
                return BadRow(number, "not_utf8", f"{detail} of column {column!r}", _json(values))
    return Row(number, values, _json(values))


def _json(values: dict[str, Any]) -> str:
    return json.dumps(
        values, ensure_ascii=False, default=lambda v: _loose(v) if isinstance(v, bytes) else str(v)
    )


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
