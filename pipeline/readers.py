"""Parse source files of each format into flat records, one at a time.

A reader never drops a record silently: what it cannot parse, or what breaks
one of the input limits (`ingest.limits`), comes back as a `RawRecord` with a
`reason` and a `detail` (positions and counts only, never the record's
values), so the ingest stage can quarantine it.

Hostile input is bounded before it is parsed:

- a cell longer than `max_cell_chars` (any format) quarantines its record;
- a CSV record or JSON Lines line longer than `max_record_bytes` is read past
  in chunks, never held whole nor parsed, and quarantined;
- JSON nested deeper than `max_json_depth` is found by a scan that neither
  parses nor recurses: a JSON Lines line is quarantined, a `.json` file is an
  InputError (it is parsed whole);
- a JSON object that repeats a key is quarantined (json keeps the last value
  and would hide the first);
- a file that is not text (binary, or UTF-16 without its byte-order mark) is
  an InputError before any of it is parsed, so none of its bytes reach a
  message;
- a column name the header repeats gets `.1`, `.2` (as pandas does) and is
  listed in `ReadStats.duplicate_columns`, unless the config names it: then
  which of the two is meant cannot be told, and the file is an InputError.

NUL and the other C0 control characters but tab, line feed and carriage
return are stripped from every value, of every format, and counted per file
(`ReadStats.control_characters_stripped`, of which `nul_bytes_stripped` were
NUL). Stripped rather than quarantined: they are exporters' artefacts (C
string terminators, fixed-width padding, terminal colours), they carry no
meaning in text, and left in they split label classes (`shipping\\x00`) and
reach tokenizers and terminals; stripping keeps the row, and the counts keep
the repair visible in ingest/schema.json.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any, AnyStr, BinaryIO

from pipeline.config import FORMAT_BY_SUFFIX, InputLimits, Source
from pipeline.errors import InputError
from pipeline.executors import open_parquet
from pipeline.logs import printable

UNPARSEABLE_CSV = "unparseable_csv"
TOO_MANY_FIELDS = "too_many_fields"
TOO_FEW_FIELDS = "too_few_fields"
UNPARSEABLE_JSON = "unparseable_json"
NOT_AN_OBJECT = "not_an_object"
CELL_TOO_LARGE = "cell_too_large"
RECORD_TOO_LARGE = "record_too_large"
TOO_DEEPLY_NESTED = "too_deeply_nested"
DUPLICATE_KEY = "duplicate_key"

CSV_DELIMITERS = ",;\t|"
FALLBACK_ENCODING = "cp1252"
PEEK_JSONL_RECORDS = 1000
DEFAULT_LIMITS = InputLimits()
FORMAT_NAMES = {"csv": "CSV", "json": "JSON", "jsonl": "JSON Lines"}
HEAD_BYTES = 4096  # what is inspected to tell text from binary
SKIP_CHUNK = 1024 * 1024  # an over-long line is read past in pieces of this size
BINARY_CONTROL_SHARE = 0.05  # of the head, in control bytes, above which a file is not text
UTF16_NUL_SHARE = 0.75  # of every other byte of the head, in NULs: ASCII text in UTF-16
CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
JSON_BRACKETS = re.compile(r"[\[\]{}]")
LISTED_COLUMNS = 20
LISTED_NAME_CHARS = 60


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
    control_characters_stripped: int = 0
    nul_bytes_stripped: int = 0
    duplicate_columns: list[dict[str, Any]] = field(default_factory=list)


def detect_format(path: Path, source: Source) -> str:
    if source.format:
        return source.format
    fmt = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"cannot tell the format of '{path.name}' from its extension; set 'format' to one of csv, json, jsonl, parquet"
        )
    return fmt


def read_records(
    path: Path, source: Source, stats: ReadStats, limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[RawRecord]:
    """Every record of one file, in file order. Raises InputError for an unusable file."""
    _check_not_empty(path)
    fmt = detect_format(path, source)
    if fmt == "csv":
        yield from _read_csv(path, source, stats, limits)
    elif fmt == "jsonl":
        yield from _read_jsonl(path, source, stats, limits)
    elif fmt == "json":
        yield from _read_json(path, source, stats, limits)
    else:
        yield from _read_parquet(path, source, stats, limits)


def peek_columns(path: Path, source: Source, limits: InputLimits = DEFAULT_LIMITS) -> list[str]:
    """The column names a file offers, read from its head only. Raises InputError."""
    _check_not_empty(path)
    fmt = detect_format(path, source)
    if fmt == "csv":
        stats = ReadStats()
        with closing(_lines(path, source.encoding, stats, limits.max_record_bytes, fmt)) as lines:
            return _csv_header(_LineCounter(lines, limits.max_record_bytes), source, path, stats)
    if fmt == "parquet":
        return _flat_parquet_columns(path, source)
    columns: dict[str, None] = {}
    with closing(read_records(path, source, ReadStats(), limits)) as records:
        for record in islice(records, PEEK_JSONL_RECORDS):
            columns.update(dict.fromkeys(record.values or {}))
    return list(columns)


def column_listing(names: list[str]) -> str:
    """Column names for a message: quoted, escaped, each cut short, and only the first few."""
    shown = [f"'{_escaped(name)}'" for name in names[:LISTED_COLUMNS]]
    more = [f"and {len(names) - LISTED_COLUMNS} more"] if len(names) > LISTED_COLUMNS else []
    return ", ".join(shown + more)


def _escaped(name: str) -> str:
    text = printable(name[: LISTED_NAME_CHARS + 1]).replace("\n", "\\n").replace("\t", "\\t")
    return text if len(text) <= LISTED_NAME_CHARS else text[: LISTED_NAME_CHARS - 3] + "..."


def _check_not_empty(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"file '{path.name}' is empty; export the data again or remove it from 'sources'")


# --- text decoding -------------------------------------------------------------


def _lines(path: Path, encoding: str | None, stats: ReadStats, max_bytes: int, fmt: str) -> Iterator[tuple[str, int]]:
    """Each line of a text file, decoded, with its size; a line over `max_bytes` comes back as a stand-in (see _bounded_lines).

    With no encoding given: UTF-16 or UTF-32 when the file starts with its
    byte-order mark; otherwise UTF-8 (a leading BOM dropped), and any line that is not
    valid UTF-8 is decoded as cp1252 (then latin-1), so one re-saved row
    does not garble the whole file. Exports stitched from several systems
    mix encodings like this. Sizes are in bytes, but in characters for an
    encoding that does not write ASCII as ASCII (UTF-16, UTF-32).

    The file stays open while the generator is suspended: close it
    (contextlib.closing) when stopping early.
    """
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
        handle.seek(0)
        encoding = encoding or _bom_encoding(head)
        if encoding is None:
            _check_text(path, head, fmt)
            yield from _detected_lines(handle, stats, max_bytes)
        elif _ascii_compatible(encoding, path):
            stats.encoding = encoding
            _check_text(path, head, fmt)
            yield from _declared_lines(handle, encoding, path, max_bytes)
        else:
            stats.encoding = encoding
            yield from _wide_lines(handle, encoding, path, max_bytes)


def _bom_encoding(head: bytes) -> str | None:
    if head[:4] in (
        codecs.BOM_UTF32_LE,
        codecs.BOM_UTF32_BE,
    ):  # before UTF-16: UTF-32 LE's mark starts with UTF-16 LE's
        return "utf-32"
    return "utf-16" if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else None


def _ascii_compatible(encoding: str, path: Path) -> bool:
    """Whether the codec writes ASCII as ASCII, so a line ends at b"\\n". Raises InputError for an unknown codec."""
    try:
        return "a\n".encode(encoding).endswith(b"a\n")
    except LookupError:
        raise InputError(
            f"unknown encoding '{encoding}' for '{path.name}'; use a Python codec name such as utf-8 or cp1252"
        ) from None


def _check_text(path: Path, head: bytes, fmt: str) -> None:
    """Raise InputError when the head of a file is UTF-16 without a byte-order mark, or not text at all."""
    for order, nuls, others in (("le", head[1::2], head[0::2]), ("be", head[0::2], head[1::2])):
        if (
            len(nuls) >= 4
            and nuls.count(0) >= UTF16_NUL_SHARE * len(nuls)
            and others.count(0) < (1 - UTF16_NUL_SHARE) * len(others)
        ):
            raise InputError(
                f"'{path.name}' looks like UTF-16 without a byte-order mark; set encoding: utf-16-{order}"
            )
    controls = len(head) - len(head.translate(None, CONTROL_BYTES))
    if controls > max(8, BINARY_CONTROL_SHARE * len(head)):
        raise InputError(
            f"'{path.name}' looks like binary, not {FORMAT_NAMES[fmt]} text ({controls} control bytes in its first {len(head)}); "
            "check 'path', or export the data again as text"
        )


def _bounded_lines(
    readline: Callable[[int], AnyStr], limit: int, endings: AnyStr | tuple[AnyStr, ...], quote: AnyStr
) -> Iterator[tuple[AnyStr, int]]:
    """Lines from `readline` with their sizes.

    A line longer than `limit` is read past in chunks, never held whole, and
    comes back as a stand-in: a quote when it held an odd number of them, so
    a CSV parser stays in step with the quoting; else empty.
    """
    while line := readline(limit + 1):
        size = len(line)
        if size > limit:
            quotes = line.count(quote)
            while not line.endswith(endings) and (line := readline(SKIP_CHUNK)):
                size += len(line)
                quotes += line.count(quote)
            line = quote * (quotes % 2)
        yield line, size


def _detected_lines(handle: BinaryIO, stats: ReadStats, max_bytes: int) -> Iterator[tuple[str, int]]:
    if handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8:
        stats.encoding = "utf-8-sig"
    else:
        handle.seek(0)
    for raw, size in _bounded_lines(handle.readline, max_bytes, b"\n", b'"'):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            line = _fallback_decoded(raw, stats)
        yield line, size


def _fallback_decoded(raw: bytes, stats: ReadStats) -> str:
    stats.fallback_lines += 1
    try:
        return raw.decode(FALLBACK_ENCODING)
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _declared_lines(handle: BinaryIO, encoding: str, path: Path, max_bytes: int) -> Iterator[tuple[str, int]]:
    for number, (raw, size) in enumerate(_bounded_lines(handle.readline, max_bytes, b"\n", b'"'), start=1):
        try:
            line = raw.decode(encoding)
        except UnicodeError as error:
            reason = error.reason if isinstance(error, UnicodeDecodeError) else error
            raise InputError(
                f"'{path.name}' is not valid {encoding} at line {number} ({reason}); fix 'encoding' or leave it out to detect it"
            ) from None
        yield line, size


def _wide_lines(handle: BinaryIO, encoding: str, path: Path, max_bytes: int) -> Iterator[tuple[str, int]]:
    # closing the wrapper closes the handle; no detach, which would flush a handle that may be closed by then
    with io.TextIOWrapper(handle, encoding=encoding, newline="") as text:
        try:
            yield from _bounded_lines(text.readline, max_bytes, ("\n", "\r"), '"')
        except UnicodeError as error:  # a UnicodeDecodeError, or UTF-16's missing byte-order mark
            reason = error.reason if isinstance(error, UnicodeDecodeError) else error
            raise InputError(
                f"'{path.name}' is not valid {encoding} ({reason}); fix 'encoding' or leave it out to detect it"
            ) from None


# --- values and column names ---------------------------------------------------------


def _record(
    position: int, where: str, values: dict[str, str | None], stats: ReadStats, limits: InputLimits
) -> RawRecord:
    """The parsed record with control characters stripped from its values, or quarantined for a value over the limit."""
    text = "".join(filter(None, values.values()))
    if len(text) > limits.max_cell_chars:
        for column, value in enumerate(values.values(), start=1):
            if value is not None and len(value) > limits.max_cell_chars:
                detail = f"{where}, column {column}: {len(value)} characters, more than {limits.max_cell_chars} (ingest.limits.max_cell_chars)"
                return RawRecord(position, reason=CELL_TOO_LARGE, detail=detail)
    if CONTROL_CHARACTERS.search(text):
        values = {name: _without_controls(value, stats) for name, value in values.items()}
    return RawRecord(position, values=values)


def _without_controls(value: str | None, stats: ReadStats) -> str | None:
    if value is None or not CONTROL_CHARACTERS.search(value):
        return value
    cleaned = CONTROL_CHARACTERS.sub("", value)
    stats.control_characters_stripped += len(value) - len(cleaned)
    stats.nul_bytes_stripped += value.count("\x00")
    return cleaned


def _column_names(names: list[str], path: Path, source: Source, stats: ReadStats) -> list[str]:
    """Name blank columns `column_N` and suffix repeats `.1`, `.2` (as pandas does), noting each repeat in `stats`.

    A repeat of a column the config names is an InputError: which of the two it means cannot be told.
    """
    wanted = set(source.columns.names()) | set(source.rename)
    first_position: dict[str, int] = {}
    repeats: dict[str, int] = {}
    unique = []
    for position, name in enumerate(names, start=1):
        name = name or f"column_{position}"
        if name not in first_position:
            first_position[name] = position
            unique.append(name)
            continue
        if name in wanted:
            raise InputError(
                f"'{path.name}' has the column '{name}' twice (columns {first_position[name]} and {position}); "
                "rename one of them in the file so the config names one column"
            )
        repeats[name] = repeats.get(name, 0) + 1
        renamed = f"{name}.{repeats[name]}"
        stats.duplicate_columns.append(
            {"column": name, "positions": [first_position[name], position], "read_as": renamed}
        )
        unique.append(renamed)
    return unique


# --- CSV -------------------------------------------------------------------------


class _LineCounter:
    """Hands a file's lines to csv.reader, counting them and the bytes of the record being read.

    So each record knows its first line; and once a record is past the byte
    limit (it will be quarantined), the rest of its lines are handed on cut to
    what decides where the record ends, so it is found without gathering it.
    """

    def __init__(self, lines: Iterator[tuple[str, int]], max_bytes: int) -> None:
        self._lines = lines
        self.max_bytes = max_bytes
        self.count = 0
        self.record_bytes = 0
        self.set_delimiter(",")

    @property
    def too_large(self) -> bool:
        return self.record_bytes > self.max_bytes

    def set_delimiter(self, delimiter: str) -> None:
        self._text = re.compile(f'[^"\\r\\n{re.escape(delimiter)}]+')

    def next_record(self) -> int:
        """Start a new record; the line it starts on."""
        self.record_bytes = 0
        return self.count + 1

    def __iter__(self) -> _LineCounter:
        return self

    def __next__(self) -> str:
        line, size = next(self._lines)
        self.count += 1
        self.record_bytes += size
        return self._skeleton(line) if self.too_large else line

    def _skeleton(self, line: str) -> str:
        """The line as csv.reader's states see it: quotes and delimiters, and a stand-in for text next to a quote.

        csv.reader ends a line at the end of each string, so the line break can go too.
        """
        line = line.rstrip("\r\n")
        return self._text.sub(lambda run: "x" if '"' in line[max(run.start() - 1, 0) : run.end() + 1] else "", line)


def _csv_header(lines: _LineCounter, source: Source, path: Path, stats: ReadStats) -> list[str]:
    # a field's text is at most a record's bytes; past them only the record's skeleton (see _LineCounter) grows it
    csv.field_size_limit(2 * lines.max_bytes + 1)
    while True:
        lines.next_record()
        first = next(lines, None)
        if first is None:
            raise InputError(f"file '{path.name}' has no header line; the first non-blank line must name the columns")
        if lines.too_large:
            raise InputError(
                f"the header line of '{path.name}' (line {lines.count}) is longer than {lines.max_bytes} bytes (ingest.limits.max_record_bytes)"
            )
        if first.strip():
            break
        stats.blank_lines += 1
    stats.delimiter = source.delimiter or _guess_delimiter(first)
    lines.set_delimiter(stats.delimiter)
    header = next(csv.reader([first], delimiter=stats.delimiter))
    return _column_names([name.strip() for name in header], path, source, stats)


def _guess_delimiter(header_line: str) -> str:
    """The candidate delimiter that splits the header line most often (',' on a tie)."""
    return max(CSV_DELIMITERS, key=lambda d: (header_line.count(d), d == ","))


def _read_csv(path: Path, source: Source, stats: ReadStats, limits: InputLimits) -> Iterator[RawRecord]:
    with closing(_lines(path, source.encoding, stats, limits.max_record_bytes, "csv")) as text_lines:
        lines = _LineCounter(text_lines, limits.max_record_bytes)
        header = _csv_header(lines, source, path, stats)
        # strict: a stray quote fails its record instead of silently merging it with the next ones
        reader = csv.reader(lines, delimiter=stats.delimiter, strict=True)
        while True:
            start = lines.next_record()
            error = None
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as caught:
                row, error = [], caught
            if lines.too_large:
                detail = f"lines {start}-{lines.count}: longer than {limits.max_record_bytes} bytes (ingest.limits.max_record_bytes)"
                yield RawRecord(start, reason=RECORD_TOO_LARGE, detail=detail)
            elif error is not None:
                yield RawRecord(start, reason=UNPARSEABLE_CSV, detail=f"lines {start}-{lines.count}: {error}")
            elif not row or (len(row) == 1 and not row[0].strip()):
                stats.blank_lines += 1
            else:
                yield _csv_record(start, header, row, stats, limits)


def _csv_record(position: int, header: list[str], row: list[str], stats: ReadStats, limits: InputLimits) -> RawRecord:
    if len(row) > len(header) and not any(field.strip() for field in row[len(header) :]):
        row = row[: len(header)]  # trailing delimiters, as spreadsheets write them
    if len(row) != len(header):
        reason = TOO_MANY_FIELDS if len(row) > len(header) else TOO_FEW_FIELDS
        return RawRecord(
            position, reason=reason, detail=f"line {position}: expected {len(header)} fields, found {len(row)}"
        )
    return _record(position, f"line {position}", dict(zip(header, row, strict=True)), stats, limits)


# --- JSON and JSON Lines -----------------------------------------------------------


def _read_jsonl(path: Path, source: Source, stats: ReadStats, limits: InputLimits) -> Iterator[RawRecord]:
    decoder = _JsonDecoder()
    with closing(_lines(path, source.encoding, stats, limits.max_record_bytes, "jsonl")) as lines:
        for number, (line, size) in enumerate(lines, start=1):
            if size > limits.max_record_bytes:
                detail = f"line {number}: longer than {limits.max_record_bytes} bytes (ingest.limits.max_record_bytes)"
                yield RawRecord(number, reason=RECORD_TOO_LARGE, detail=detail)
            elif not line.strip():
                stats.blank_lines += 1
            else:
                yield _jsonl_record(number, line, decoder, stats, limits)


def _jsonl_record(number: int, line: str, decoder: _JsonDecoder, stats: ReadStats, limits: InputLimits) -> RawRecord:
    where = f"line {number}"
    if _nested_deeper_than(line, limits.max_json_depth):
        return _too_deep(number, where, limits)
    repeated_before = decoder.repeated_keys
    try:
        value = decoder.decode(line)
    except json.JSONDecodeError as error:
        return RawRecord(number, reason=UNPARSEABLE_JSON, detail=f"line {number}, column {error.colno}: {error.msg}")
    except RecursionError:
        return _too_deep(number, where, limits)
    return _json_record(number, value, where, decoder.repeated_keys > repeated_before, stats, limits)


def _too_deep(position: int, where: str, limits: InputLimits) -> RawRecord:
    detail = (
        f"{where}: objects and arrays nested more than {limits.max_json_depth} deep (ingest.limits.max_json_depth)"
    )
    return RawRecord(position, reason=TOO_DEEPLY_NESTED, detail=detail)


def _read_json(path: Path, source: Source, stats: ReadStats, limits: InputLimits) -> Iterator[RawRecord]:
    data = path.read_bytes()
    encoding = source.encoding or _bom_encoding(data) or "utf-8-sig"
    stats.encoding = encoding
    if _ascii_compatible(encoding, path):
        _check_text(path, data[:HEAD_BYTES], "json")
    try:
        text = data.decode(encoding)
    except UnicodeError as error:
        reason = error.reason if isinstance(error, UnicodeDecodeError) else error
        raise InputError(f"'{path.name}' is not valid {encoding} ({reason}); set 'encoding' for this source") from None
    too_deep = InputError(
        f"'{path.name}' nests objects and arrays more than {limits.max_json_depth} deep in a record "
        "(ingest.limits.max_json_depth); flatten the export or raise the limit"
    )
    if _nested_deeper_than(text, limits.max_json_depth + 1):  # + 1: the array around the records
        raise too_deep
    decoder = _JsonDecoder()
    try:
        document = decoder.decode(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"'{path.name}' is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            "if it holds one object per line, set format: jsonl"
        ) from None
    except RecursionError:
        raise too_deep from None
    if not isinstance(document, list):
        raise InputError(
            f"'{path.name}' must hold a JSON array of objects at the top level, found {type(document).__name__}; for one object per line set format: jsonl"
        )
    for index, value in enumerate(document, start=1):
        yield _json_record(
            index, value, f"record {index}", decoder.repeated_keys > 0 and _repeats_a_key(value), stats, limits
        )


def _nested_deeper_than(text: str, limit: int) -> bool:
    """Whether JSON text nests objects and arrays more than `limit` deep: a scan of its brackets outside strings, no parsing, no recursion."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in JSON_BRACKETS.findall(JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


class _RepeatedKeys(dict):
    """A JSON object that gave a key more than once (json keeps only the last value)."""


class _JsonDecoder:
    """Decodes JSON text (control characters allowed in strings), counting the objects that repeat a key."""

    def __init__(self) -> None:
        self.repeated_keys = 0
        self._decoder = json.JSONDecoder(object_pairs_hook=self._object, strict=False)

    def decode(self, text: str) -> Any:
        return self._decoder.decode(text)

    def _object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(pairs)
        if len(value) == len(pairs):
            return value
        self.repeated_keys += 1
        return _RepeatedKeys(value)


def _repeats_a_key(value: Any) -> bool:
    """Whether a parsed JSON value holds an object that repeated a key, anywhere in it."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, _RepeatedKeys):
            return True
        if isinstance(item, dict):
            pending.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            pending.extend(v for v in item if isinstance(v, (dict, list)))
    return False


def _json_record(
    position: int, value: Any, where: str, repeats_a_key: bool, stats: ReadStats, limits: InputLimits
) -> RawRecord:
    if not isinstance(value, dict):
        return RawRecord(
            position, reason=NOT_AN_OBJECT, detail=f"{where}: expected an object, found {type(value).__name__}"
        )
    if repeats_a_key:
        return RawRecord(
            position, reason=DUPLICATE_KEY, detail=f"{where}: an object gives the same key more than once"
        )
    return _record(position, where, flatten(value), stats, limits)


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


def _parquet_schema(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path)
    except Exception as error:  # noqa: BLE001 -- pyarrow raises several types for a damaged file
        raise InputError(
            f"'{path.name}' is not a readable Parquet file ({type(error).__name__}); export it again"
        ) from None


def _flat_parquet_columns(path: Path, source: Source) -> list[str]:
    schema = _parquet_schema(path)
    names = _column_names([field.name for field in schema], path, source, ReadStats())
    return list(flatten({name: _schema_stub(field.type) for name, field in zip(names, schema, strict=True)}))


def _schema_stub(arrow_type: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_struct(arrow_type):
        return {field.name: _schema_stub(field.type) for field in arrow_type}
    return None


def _read_parquet(path: Path, source: Source, stats: ReadStats, limits: InputLimits) -> Iterator[RawRecord]:

    names = _column_names([field.name for field in _parquet_schema(path)], path, source, stats)
    position = 0
    for batch in open_parquet(path).iter_batches(batch_size=10_000):
        for row in batch.rename_columns(names).to_pylist():
            position += 1
            yield _record(position, f"record {position}", flatten(row), stats, limits)
