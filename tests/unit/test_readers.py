"""Each input format, read from small real files, including what exporters get wrong."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import Columns, Source
from pipeline.errors import InputError
from pipeline.readers import (
    NOT_AN_OBJECT, TOO_FEW_FIELDS, TOO_MANY_FIELDS, UNPARSEABLE_CSV, UNPARSEABLE_JSON, ReadStats, peek_columns, read_records,
)


def source_for(path: Path, **options) -> Source:
    return Source(path=str(path), columns=Columns(text=["text"]), **options)


def read(path: Path, **options) -> tuple[list, ReadStats]:
    stats = ReadStats()
    return list(read_records(path, source_for(path, **options), stats)), stats


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("content", "expected_delimiter"),
    [
        (b"id,text\n1,a\n", ","),
        (b"id;text\n1;a\n", ";"),
        (b"id\ttext\n1\ta\n", "\t"),
        (b"id|text\n1|a\n", "|"),
    ],
)
def test_csv_delimiter_is_taken_from_the_header(tmp_path, content, expected_delimiter):
    records, stats = read(write(tmp_path, "d.csv", content))
    assert stats.delimiter == expected_delimiter
    assert records[0].values == {"id": "1", "text": "a"}


@pytest.mark.parametrize(
    ("content", "expected_text", "encoding", "fallback_lines"),
    [
        ("id,text\n1,café\n".encode("utf-8"), "café", "utf-8", 0),
        (b"\xef\xbb\xbfid,text\n1,caf\xc3\xa9\n", "café", "utf-8-sig", 0),
        ("id,text\n1,café\n".encode("cp1252"), "café", "utf-8", 1),
        ("id,text\r\n1,naïve €5\r\n".encode("utf-16"), "naïve €5", "utf-16", 0),
    ],
    ids=["utf8", "utf8-bom", "cp1252-line", "utf16-bom"],
)
def test_csv_encodings_are_detected(tmp_path, content, expected_text, encoding, fallback_lines):
    records, stats = read(write(tmp_path, "e.csv", content))
    assert records[0].values["text"] == expected_text
    assert records[0].values["id"] == "1"
    assert (stats.encoding, stats.fallback_lines) == (encoding, fallback_lines)


def test_a_cp1252_line_does_not_garble_the_utf8_lines_around_it(tmp_path):
    content = "id,text\n1,Müller\n".encode() + "2,José\n".encode("cp1252") + "3,Łódź\n".encode()
    records, _ = read(write(tmp_path, "mixed.csv", content))
    assert [r.values["text"] for r in records] == ["Müller", "José", "Łódź"]


def test_csv_multiline_quoted_fields_keep_their_text_and_starting_line(tmp_path):
    content = b'id,text\r\n1,"first line\r\nsecond, with comma\r\nsaid ""hi"""\r\n2,plain\r\n'
    records, _ = read(write(tmp_path, "m.csv", content))
    assert [r.position for r in records] == [2, 5]
    assert records[0].values["text"] == 'first line\r\nsecond, with comma\r\nsaid "hi"'


@pytest.mark.parametrize(
    ("line", "reason", "detail"),
    [
        (b"3,too,many,fields", TOO_MANY_FIELDS, "line 3: expected 3 fields, found 4"),
        (b"3,short", TOO_FEW_FIELDS, "line 3: expected 3 fields, found 2"),
    ],
)
def test_csv_rows_with_the_wrong_field_count_come_back_with_a_reason(tmp_path, line, reason, detail):
    content = b"id,text,label\n1,ok,a\n" + line + b"\n4,fine,b\n"
    records, _ = read(write(tmp_path, "b.csv", content))
    assert [r.reason for r in records] == [None, reason, None]
    assert records[1].detail == detail and records[1].values is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'id,text\n1,"unterminated\n2,swallowed\n', [(2, UNPARSEABLE_CSV, "lines 2-3: unexpected end of data")]),
        (b'id,text\n1,"closed"garbage\n2,ok\n', [(2, UNPARSEABLE_CSV, "lines 2-2: ',' expected after '\"'"), (3, None, None)]),
        (b'id,text\n1,a 5" screen\n2,ok\n', [(2, None, None), (3, None, None)]),
    ],
    ids=["quote-open-at-eof", "text-after-closing-quote", "inch-mark-in-unquoted-field"],
)
def test_csv_stray_quotes_fail_their_record_instead_of_merging_rows(tmp_path, content, expected):
    records, _ = read(write(tmp_path, "q.csv", content))
    assert [(r.position, r.reason, r.detail) for r in records] == expected


def test_csv_trailing_empty_fields_and_blank_lines_are_tolerated(tmp_path):
    content = b"id,text\n1,a,,\n\n2,b\n   \n"
    records, stats = read(write(tmp_path, "t.csv", content))
    assert [r.values for r in records] == [{"id": "1", "text": "a"}, {"id": "2", "text": "b"}]
    assert stats.blank_lines == 2


def test_csv_blank_and_repeated_header_names_are_made_unique(tmp_path):
    path = write(tmp_path, "h.csv", b"text,,text\na,b,c\n")
    assert peek_columns(path, source_for(path)) == ["text", "column_2", "text.1"]


def test_explicit_encoding_that_does_not_fit_is_a_clear_error(tmp_path):
    path = write(tmp_path, "x.csv", "id,text\n1,café\n".encode("cp1252"))
    with pytest.raises(InputError, match="not valid utf-8"):
        read(path, encoding="utf-8")


def test_jsonl_broken_lines_come_back_with_reasons_and_blank_lines_are_counted(tmp_path):
    content = b'{"id": 1, "text": "a"}\n{"id": 2, "text": \n\n[1, 2]\n{"id": 3, "text": "c", "n": 4.5, "ok": true}\n'
    records, stats = read(write(tmp_path, "x.jsonl", content))
    assert [(r.position, r.reason) for r in records] == [(1, None), (2, UNPARSEABLE_JSON), (4, NOT_AN_OBJECT), (5, None)]
    assert records[1].detail.startswith("line 2, column")
    assert records[3].values == {"id": "3", "text": "c", "n": "4.5", "ok": "true"}
    assert stats.blank_lines == 1


def test_json_nested_objects_are_flattened_with_dotted_names(tmp_path):
    document = [{"id": 1, "customer": {"name": "A", "address": {"city": "B"}}, "tags": ["x", "y"], "note": None}, "oops"]
    records, _ = read(write(tmp_path, "x.json", json.dumps(document).encode()))
    assert records[0].values == {"id": "1", "customer.name": "A", "customer.address.city": "B", "tags": '["x", "y"]', "note": None}
    assert (records[1].position, records[1].reason) == (2, NOT_AN_OBJECT)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"id": 1}', "must hold a JSON array of objects"),
        (b'[{"id": 1},', r"is not valid JSON \(line 1"),
    ],
)
def test_json_that_is_not_an_array_is_a_clear_error(tmp_path, content, message):
    with pytest.raises(InputError, match=message):
        read(write(tmp_path, "x.json", content))


def test_parquet_rows_and_nested_columns_are_read(tmp_path):
    table = pa.table({"id": [1, 2], "text": ["a", None], "meta": [{"gender": "f"}, {"gender": None}]})
    path = tmp_path / "x.parquet"
    pq.write_table(table, path)
    records, _ = read(path)
    assert [r.values for r in records] == [{"id": "1", "text": "a", "meta.gender": "f"}, {"id": "2", "text": None, "meta.gender": None}]
    assert peek_columns(path, source_for(path)) == ["id", "text", "meta.gender"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"\n\n", "has no header line"),
        ("x.xlsx", b"PK", "cannot tell the format"),
        ("bad.parquet", b"not parquet at all", "is not a readable Parquet file"),
    ],
)
def test_unusable_files_are_clear_errors(tmp_path, name, content, message):
    path = write(tmp_path, name, content)
    with pytest.raises(InputError, match=message):
        peek_columns(path, source_for(path))
