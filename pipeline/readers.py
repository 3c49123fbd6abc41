"""Parse source files of each format into flat records, one at a time.

A reader never drops a record silently: what it cannot parse comes back as a
`RawRecord` with a `reason` and a `detail` (positions and counts only, never
the record's values), so the ingest stage can quarantine it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.config import FORMAT_BY_SUFFIX, Source
from pipeline.errors import InputError

UNPARSEABLE_CSV = "unparseable_csv"
TOO_MANY_FIELDS = "too_many_fields"
TOO_FEW_FIELDS = "too_few_fields"
UNPARSEABLE_JSON = "unparseable_json"
NOT_AN_OBJECT = "not_an_object"

CSV_DELIMITERS = ",;\t|"
FALLBACK_ENCODING = "cp1252"
PEEK_JSONL_RECORDS = 1000
MAX_CSV_FIELD_CHARS = 16 * 1024 * 1024


@dataclass(frozen=True)
class RawRecord:
    """One record as read: `values` when it parsed, else `reason` and `detail`.

    `position` is the 1-based line where the record starts (CSV, JSONL) or its
    1-based index in the file (JSON, Parquet).
    """

    position: int
    values: dict[str, str | None] | None = None
    reason: str | None = None
    detail: str | None = None


@dataclass
class ReadStats:
    """What a reader noticed while reading one file."""

    encoding: str = "utf-8"
    fallback_lines: int = 0
    blank_lines: int = 0
    delimiter: str | None = None


def detect_format(path: Path, source: Source) -> str:
    if source.format:
        return source.format
    fmt = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot tell the format of '{path.name}' from its extension; set 'format' to one of csv, json, jsonl, parquet")
    return fmt


def read_records(path: Path, source: Source, stats: ReadStats) -> Iterator[RawRecord]:
    """Every record of one file, in file order. Raises InputError for an unusable file."""
    _check_not_empty(path)
    fmt = detect_format(path, source)
    if fmt == "csv":
        yield from _read_csv(path, source, stats)
    elif fmt == "jsonl":
        yield from _read_jsonl(path, source, stats)
    elif fmt == "json":
        yield from _read_json(path, source, stats)
    else:
        yield from _read_parquet(path)


def peek_columns(path: Path, source: Source) -> list[str]:
    """The column names a file offers, read from its head only. Raises InputError."""
    _check_not_empty(path)
    fmt = detect_format(path, source)
    if fmt == "csv":
        with path.open("rb") as handle:
            lines = _decoded_lines(handle, source.encoding, ReadStats(), path)
            header = _csv_header(lines, source.delimiter, path, ReadStats())
        return header
    if fmt == "parquet":
        return _parquet_columns(path)
    columns: dict[str, None] = {}
    records = _read_jsonl(path, source, ReadStats()) if fmt == "jsonl" else _read_json(path, source, ReadStats())
    for count, record in enumerate(records):
        if count >= PEEK_JSONL_RECORDS:
            break
        columns.update(dict.fromkeys(record.values or {}))
    return list(columns)


def _check_not_empty(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"file '{path.name}' is empty; export the data again or remove it from 'sources'")


# --- text decoding -------------------------------------------------------------


def _decoded_lines(handle: BinaryIO, encoding: str | None, stats: ReadStats, path: Path) -> Iterator[str]:
    """Decode a file line by line.

    With no encoding given: UTF-16 when the file starts with its byte-order
    mark; otherwise UTF-8 (a leading BOM dropped), and any line that is not
    valid UTF-8 is decoded as cp1252 (then latin-1), so one re-saved row
    does not garble the whole file. Exports stitched from several systems
    mix encodings like this.
    """
    head = handle.read(4)
    handle.seek(0)
    if encoding is None and head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    if encoding is not None:
        stats.encoding = encoding
        yield from _decode_strict(handle, encoding, path)
        return
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
            stats.encoding = "utf-8-sig"
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            stats.fallback_lines += 1
            try:
                yield raw.decode(FALLBACK_ENCODING)
            except UnicodeDecodeError:
                yield raw.decode("latin-1")


def _decode_strict(handle: BinaryIO, encoding: str, path: Path) -> Iterator[str]:
    text = io.TextIOWrapper(handle, encoding=encoding, newline="")
    try:
        yield from text
    except UnicodeDecodeError as error:
        raise InputError(f"'{path.name}' is not valid {encoding} ({error.reason}); fix 'encoding' or leave it out to detect it") from None
    except LookupError:
        raise InputError(f"unknown encoding '{encoding}' for '{path.name}'; use a Python codec name such as utf-8 or cp1252") from None
    finally:
        text.detach()


# --- CSV -------------------------------------------------------------------------


def _csv_header(lines: Iterator[str], delimiter: str | None, path: Path, stats: ReadStats) -> list[str]:
    first = next(lines, None)
    while first is not None and not first.strip():
        stats.blank_lines += 1
        first = next(lines, None)
    if first is None:
        raise InputError(f"file '{path.name}' has no header line; the first non-blank line must name the columns")
    stats.delimiter = delimiter or _guess_delimiter(first)
    header = next(csv.reader([first], delimiter=stats.delimiter))
    return _unique_names([name.strip() for name in header])


def _guess_delimiter(header_line: str) -> str:
    """The candidate delimiter that splits the header line most often (',' on a tie)."""
    return max(CSV_DELIMITERS, key=lambda d: (header_line.count(d), d == ","))


def _unique_names(names: list[str]) -> list[str]:
    """Name blank columns `column_N` and suffix repeats `.1`, `.2` (as pandas does)."""
    seen: dict[str, int] = {}
    unique = []
    for position, name in enumerate(names, start=1):
        name = name or f"column_{position}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        unique.append(name)
    return unique


def _read_csv(path: Path, source: Source, stats: ReadStats) -> Iterator[RawRecord]:
    csv.field_size_limit(MAX_CSV_FIELD_CHARS)
    with path.open("rb") as handle:
        lines = _LineCounter(_decoded_lines(handle, source.encoding, stats, path))
        header = _csv_header(lines, source.delimiter, path, stats)
        # strict: a stray quote fails its record instead of silently merging it with the next ones
        reader = csv.reader(lines, delimiter=stats.delimiter, strict=True)
        while True:
            start = lines.count + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield RawRecord(start, reason=UNPARSEABLE_CSV, detail=f"lines {start}-{lines.count}: {error}")
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                stats.blank_lines += 1
                continue
            yield _csv_record(start, header, row)


def _csv_record(position: int, header: list[str], row: list[str]) -> RawRecord:
    if len(row) > len(header) and not any(field.strip() for field in row[len(header):]):
        row = row[: len(header)]  # trailing delimiters, as spreadsheets write them
    if len(row) != len(header):
        reason = TOO_MANY_FIELDS if len(row) > len(header) else TOO_FEW_FIELDS
        return RawRecord(position, reason=reason, detail=f"line {position}: expected {len(header)} fields, found {len(row)}")
    return RawRecord(position, values=dict(zip(header, row)))


class _LineCounter:
    """Wraps a line iterator and counts the lines handed out, so each CSV record knows its first line."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.count = 0

    def __iter__(self) -> _LineCounter:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.count += 1
        return line


# --- JSON and JSON Lines -----------------------------------------------------------


def _read_jsonl(path: Path, source: Source, stats: ReadStats) -> Iterator[RawRecord]:
    with path.open("rb") as handle:
        for number, line in enumerate(_decoded_lines(handle, source.encoding, stats, path), start=1):
            if not line.strip():
                stats.blank_lines += 1
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                yield RawRecord(number, reason=UNPARSEABLE_JSON, detail=f"line {number}, column {error.colno}: {error.msg}")
                continue
            yield _json_record(number, value, f"line {number}")


def _read_json(path: Path, source: Source, stats: ReadStats) -> Iterator[RawRecord]:
    encoding = source.encoding or "utf-8-sig"
    stats.encoding = encoding
    try:
        document = json.loads(path.read_bytes().decode(encoding))
    except UnicodeDecodeError as error:
        raise InputError(f"'{path.name}' is not valid {encoding} ({error.reason}); set 'encoding' for this source") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"'{path.name}' is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            "if it holds one object per line, set format: jsonl"
        ) from None
    if not isinstance(document, list):
        raise InputError(f"'{path.name}' must hold a JSON array of objects at the top level, found {type(document).__name__}; for one object per line set format: jsonl")
    for index, value in enumerate(document, start=1):
        yield _json_record(index, value, f"record {index}")


def _json_record(position: int, value: Any, where: str) -> RawRecord:
    if not isinstance(value, dict):
        return RawRecord(position, reason=NOT_AN_OBJECT, detail=f"{where}: expected an object, found {type(value).__name__}")
    return RawRecord(position, values=flatten(value))


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, str | None]:
    """Nested objects become dotted keys (`customer.email`); every value becomes text or None."""
    flat: dict[str, str | None] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            flat.update(flatten(item, prefix=f"{name}."))
        else:
            flat[name] = as_text(item)
    return flat


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return json.dumps(value, ensure_ascii=False, default=str)


# --- Parquet -------------------------------------------------------------------------


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise InputError(f"'{path.name}' is not a readable Parquet file ({type(error).__name__}); export it again") from None
    return list(flatten({field.name: _schema_stub(field.type) for field in schema}))


def _schema_stub(arrow_type: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_struct(arrow_type):
        return {field.name: _schema_stub(field.type) for field in arrow_type}
    return None


def _read_parquet(path: Path) -> Iterator[RawRecord]:
    import pyarrow.parquet as pq

    _parquet_columns(path)
    position = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            position += 1
            yield RawRecord(position, values=flatten(row))
