"""Each input format, read from small real files, including what exporters get wrong and what an attacker would send."""

import gc
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.config import Columns, InputLimits, Source, load_config
from pipeline.errors import ConfigError, InputError
from pipeline.readers import (
    CELL_TOO_LARGE,
    DEFAULT_LIMITS,
    DUPLICATE_KEY,
    NOT_AN_OBJECT,
    RECORD_TOO_LARGE,
    TOO_DEEPLY_NESTED,
    TOO_FEW_FIELDS,
    TOO_MANY_FIELDS,
    UNPARSEABLE_CSV,
    UNPARSEABLE_JSON,
    ReadStats,
    peek_columns,
    read_records,
)
from tests.conftest import csv_source


def source_for(path: Path, **options) -> Source:
    return Source(path=str(path), columns=Columns(text=["text"]), **options)


def read(path: Path, limits: InputLimits = DEFAULT_LIMITS, **options) -> tuple[list, ReadStats]:
    stats = ReadStats()
    return list(read_records(path, source_for(path, **options), stats, limits)), stats


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
        ("id,text\n1,café\n".encode(), "café", "utf-8", 0),
        (b"\xef\xbb\xbfid,text\n1,caf\xc3\xa9\n", "café", "utf-8-sig", 0),
        ("id,text\n1,café\n".encode("cp1252"), "café", "utf-8", 1),
        ("id,text\r\n1,naïve €5\r\n".encode("utf-16"), "naïve €5", "utf-16", 0),
        ("id,text\r\n1,naïve €5\r\n".encode("utf-32"), "naïve €5", "utf-32", 0),
    ],
    ids=["utf8", "utf8-bom", "cp1252-line", "utf16-bom", "utf32-bom"],
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
        (
            b'id,text\n1,"closed"garbage\n2,ok\n',
            [(2, UNPARSEABLE_CSV, "lines 2-2: ',' expected after '\"'"), (3, None, None)],
        ),
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
    path = write(tmp_path, "h.csv", b"text,note,,note,note\na,b,c,d,e\n")
    assert peek_columns(path, source_for(path)) == ["text", "note", "column_3", "note.1", "note.2"]
    records, stats = read(path)
    assert records[0].values == {"text": "a", "note": "b", "column_3": "c", "note.1": "d", "note.2": "e"}
    assert stats.duplicate_columns == [
        {"column": "note", "positions": [2, 4], "read_as": "note.1"},
        {"column": "note", "positions": [2, 5], "read_as": "note.2"},
    ]


@pytest.mark.parametrize("options", [{}, {"rename": {"text": "body"}}])
def test_a_repeated_column_the_config_names_is_an_error_naming_both_positions(tmp_path, options):
    path = write(tmp_path, "h.csv", b"id,text, text,label\n1,a,b,c\n")
    with pytest.raises(InputError, match=r"'h.csv' has the column 'text' twice \(columns 2 and 3\)"):
        peek_columns(path, source_for(path, **options))


def test_parquet_repeated_column_names_are_made_unique_or_an_error_when_named(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(
        pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"]), pa.array(["c"])], names=["text", "note", "note"]), path
    )
    records, stats = read(path)
    assert records[0].values == {"text": "a", "note": "b", "note.1": "c"}
    assert stats.duplicate_columns == [{"column": "note", "positions": [2, 3], "read_as": "note.1"}]
    with pytest.raises(InputError, match="has the column 'note' twice"):
        peek_columns(path, Source(path=str(path), columns=Columns(text=["note"])))


@pytest.mark.parametrize(
    ("name", "content", "encoding", "message"),
    [
        ("x.csv", "id,text\n1,café\n".encode("cp1252"), "utf-8", "'x.csv' is not valid utf-8 at line 2 "),
        (
            "x.csv",
            b"id,text\n1,a\n",
            "utf-16",
            r"'x.csv' is not valid utf-16 \(UTF-16 stream does not start with BOM\)",
        ),
        (
            "x.jsonl",
            b'{"text": "a"}\n',
            "utf-16",
            r"'x.jsonl' is not valid utf-16 \(UTF-16 stream does not start with BOM\)",
        ),
        ("x.json", b'[{"text": "a"}]', "utf-16", r"'x.json' is not valid utf-16 \(truncated data\)"),
    ],
)
def test_explicit_encoding_that_does_not_fit_is_a_clear_error(tmp_path, name, content, encoding, message):
    path = write(tmp_path, name, content)
    with pytest.raises(InputError, match=message):
        read(path, encoding=encoding)


def test_jsonl_broken_lines_come_back_with_reasons_and_blank_lines_are_counted(tmp_path):
    content = b'{"id": 1, "text": "a"}\n{"id": 2, "text": \n\n[1, 2]\n{"id": 3, "text": "c", "n": 4.5, "ok": true}\n'
    records, stats = read(write(tmp_path, "x.jsonl", content))
    assert [(r.position, r.reason) for r in records] == [
        (1, None),
        (2, UNPARSEABLE_JSON),
        (4, NOT_AN_OBJECT),
        (5, None),
    ]
    assert records[1].detail.startswith("line 2, column")
    assert records[3].values == {"id": "3", "text": "c", "n": "4.5", "ok": "true"}
    assert stats.blank_lines == 1


def test_json_nested_objects_are_flattened_with_dotted_names(tmp_path):
    document = [
        {"id": 1, "customer": {"name": "A", "address": {"city": "B"}}, "tags": ["x", "y"], "note": None},
        "oops",
    ]
    records, _ = read(write(tmp_path, "x.json", json.dumps(document).encode()))
    assert records[0].values == {
        "id": "1",
        "customer.name": "A",
        "customer.address.city": "B",
        "tags": '["x", "y"]',
        "note": None,
    }
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
    assert [r.values for r in records] == [
        {"id": "1", "text": "a", "meta.gender": "f"},
        {"id": "2", "text": None, "meta.gender": None},
    ]
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


# --- hostile input -------------------------------------------------------------------


SMALL = InputLimits(max_cell_chars=10, max_record_bytes=100, max_json_depth=5)


def write_parquet(tmp_path: Path, name: str, columns: dict) -> Path:
    path = tmp_path / name
    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize(
    ("name", "content", "detail"),
    [
        (
            "c.csv",
            b"id,text\n1,ok\n2," + b"x" * 11 + b"\n3,fine\n",
            "line 3, column 2: 11 characters, more than 10 (ingest.limits.max_cell_chars)",
        ),
        (
            "c.jsonl",
            b'{"id": 1, "text": "ok"}\n{"id": 2, "text": "' + b"x" * 11 + b'"}\n{"id": 3, "text": "fine"}\n',
            "line 2, column 2: 11 characters, more than 10 (ingest.limits.max_cell_chars)",
        ),
        (
            "c.json",
            b'[{"id": 1, "text": "ok"}, {"id": 2, "text": "' + b"x" * 11 + b'"}, {"id": 3, "text": "fine"}]',
            "record 2, column 2: 11 characters, more than 10 (ingest.limits.max_cell_chars)",
        ),
    ],
)
def test_a_cell_over_the_limit_quarantines_its_record_in_every_text_format(tmp_path, name, content, detail):
    records, _ = read(write(tmp_path, name, content), SMALL)
    assert [r.reason for r in records] == [None, CELL_TOO_LARGE, None]
    assert records[1].detail == detail and records[1].values is None


def test_a_parquet_cell_over_the_limit_quarantines_its_record(tmp_path):
    path = write_parquet(tmp_path, "c.parquet", {"id": [1, 2, 3], "text": ["ok", "x" * 11, "fine"]})
    records, _ = read(path, SMALL)
    assert [(r.position, r.reason, r.detail) for r in records] == [
        (1, None, None),
        (2, CELL_TOO_LARGE, "record 2, column 2: 11 characters, more than 10 (ingest.limits.max_cell_chars)"),
        (3, None, None),
    ]


def test_a_json_lines_line_over_the_byte_limit_is_quarantined_without_being_parsed(tmp_path):
    # not JSON at all, and 500 kB: it must come back as too large, not as unparseable, and be read past in pieces
    content = b'{"text": "a"}\n' + b"{" * 500_000 + b"\n" + b'{"text": "b"}\n'
    records, _ = read(write(tmp_path, "big.jsonl", content), SMALL)
    assert [(r.position, r.reason, r.detail) for r in records] == [
        (1, None, None),
        (2, RECORD_TOO_LARGE, "line 2: longer than 100 bytes (ingest.limits.max_record_bytes)"),
        (3, None, None),
    ]


@pytest.mark.parametrize(
    ("record", "lines"),
    [
        (b"3," + b"y" * 200 + b"\n", "3-3"),
        (
            b'3,"' + b"y" * 200 + b'\n""quoted"" line\nlast"\n',
            "3-5",
        ),  # one line alone over the limit, odd quotes in it
        (
            b'3,"multi\n' + b'line, with ""quotes"" and, commas\n' * 8 + b'end"\n',
            "3-12",
        ),  # only the lines together over it
    ],
    ids=["one-line", "long-line-in-quoted-field", "many-lines"],
)
def test_a_csv_record_over_the_byte_limit_is_quarantined_and_the_next_records_still_parse(tmp_path, record, lines):
    content = b"id,text\n1,before\n" + record + b"4,after\n"
    records, _ = read(write(tmp_path, "big.csv", content), SMALL)
    assert [(r.reason, r.values) for r in records] == [
        (None, {"id": "1", "text": "before"}),
        (RECORD_TOO_LARGE, None),
        (None, {"id": "4", "text": "after"}),
    ]
    assert records[1].detail == f"lines {lines}: longer than 100 bytes (ingest.limits.max_record_bytes)"


def test_a_utf16_csv_record_over_the_limit_is_quarantined_too(tmp_path):
    content = ("id,text\n1,before\n3," + "y" * 200 + "\n4,after\n").encode("utf-16")
    records, _ = read(write(tmp_path, "big.csv", content), SMALL)
    assert [r.reason for r in records] == [None, RECORD_TOO_LARGE, None]


def test_a_csv_header_over_the_byte_limit_is_an_error(tmp_path):
    path = write(tmp_path, "h.csv", b"text," + b"x" * 200 + b"\n1,2\n")
    with pytest.raises(InputError, match=r"header line of 'h.csv' \(line 1\) is longer than 100 bytes"):
        peek_columns(path, source_for(path), SMALL)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("line", "limits"),
    [
        (b'{"text": "a", "x": ' + nested(5000) + b"}", DEFAULT_LIMITS),
        (b'{"text": "a", "x": {"y": [[[[{}]]]]}}', SMALL),  # depth 7
        (
            b'{"text": "a", "x": ' + nested(5000) + b"}",
            InputLimits(max_json_depth=100_000),
        ),  # past the scan: json's RecursionError
    ],
    ids=["5000-deep", "past-a-small-limit", "recursion-error-fallback"],
)
def test_a_json_lines_line_nested_too_deep_is_quarantined(tmp_path, line, limits):
    content = (
        b'{"text": "first"}\n' + line + b'\n{"text": "[[[[[[[[", "x": [[1]]}\n'
    )  # brackets in a string do not count
    records, _ = read(write(tmp_path, "deep.jsonl", content), limits)
    assert [r.reason for r in records] == [None, TOO_DEEPLY_NESTED, None]
    assert (
        records[1].detail
        == f"line 2: objects and arrays nested more than {limits.max_json_depth} deep (ingest.limits.max_json_depth)"
    )


def test_a_json_file_nested_too_deep_is_an_error_naming_the_file_and_the_limit(tmp_path):
    path = write(tmp_path, "deep.json", b'[{"text": "a"}, {"text": "b", "x": ' + nested(5000) + b"}]")
    with pytest.raises(InputError, match=r"'deep.json' nests objects and arrays more than 64 deep .*max_json_depth"):
        read(path)
    assert [r.values for r in read(write(tmp_path, "ok.json", b'[{"text": "a", "x": [[[[1]]]]}]'), SMALL)[0]] == [
        {"text": "a", "x": "[[[[1]]]]"}
    ]


def test_a_json_object_repeating_a_key_is_quarantined(tmp_path):
    content = b'{"text": "a"}\n{"text": "a", "text": "b"}\n{"text": "c", "meta": {"k": 1, "k": 2}}\n{"text": "d", "list": [{"k": 1, "k": 1}]}\n'
    records, _ = read(write(tmp_path, "dup.jsonl", content))
    assert [(r.reason, r.detail) for r in records] == [
        (None, None),
        (DUPLICATE_KEY, "line 2: an object gives the same key more than once"),
        (DUPLICATE_KEY, "line 3: an object gives the same key more than once"),
        (DUPLICATE_KEY, "line 4: an object gives the same key more than once"),
    ]
    records, _ = read(write(tmp_path, "dup.json", b'[{"text": "a", "text": "b"}, {"text": "c"}]'))
    assert [(r.position, r.reason) for r in records] == [(1, DUPLICATE_KEY), (2, None)]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("n.csv", b'id,text,label\n1,a\x00parcel,shipping\x00\n2,b\x1b[31mred\x07,ok\n3,"tab\tkept\r\n",x\n'),
        (
            "n.jsonl",
            (
                b'{"id": 1, "text": "a\\u0000parcel", "label": "shipping\\u0000"}\n{"id": 2, "text": "b\x1b[31mred\x07", "label": "ok"}\n'
                b'{"id": 3, "text": "tab\\tkept\\r\\n", "label": "x"}\n'
            ),
        ),
        (
            "n.json",
            (
                b'[{"id": 1, "text": "a\\u0000parcel", "label": "shipping\\u0000"}, {"id": 2, "text": "b\\u001b[31mred\\u0007", "label": "ok"},'
                b' {"id": 3, "text": "tab\\tkept\\r\\n", "label": "x"}]'
            ),
        ),
    ],
)
def test_nul_and_control_characters_are_stripped_from_values_and_counted(tmp_path, name, content):
    path = write(tmp_path, name, content)
    records, stats = read(path)
    assert [r.values for r in records] == [
        {"id": "1", "text": "aparcel", "label": "shipping"},
        {"id": "2", "text": "b[31mred", "label": "ok"},
        {"id": "3", "text": "tab\tkept\r\n", "label": "x"},
    ]
    assert (stats.control_characters_stripped, stats.nul_bytes_stripped) == (4, 2)


def test_control_characters_are_stripped_from_parquet_values(tmp_path):
    records, stats = read(write_parquet(tmp_path, "n.parquet", {"text": ["shipping\x00", "ok"]}))
    assert [r.values["text"] for r in records] == ["shipping", "ok"]
    assert (stats.control_characters_stripped, stats.nul_bytes_stripped) == (1, 1)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "r.csv",
            bytes(range(256)) * 8,
            r"'r.csv' looks like binary, not CSV text \(232 control bytes in its first 2048\)",
        ),
        ("r.jsonl", bytes(range(256)) * 8, "'r.jsonl' looks like binary, not JSON Lines text"),
        ("r.json", bytes(range(256)) * 8, "'r.json' looks like binary, not JSON text"),
        (
            "u.csv",
            "id,text\n1,hello\n".encode("utf-16-le"),
            "'u.csv' looks like UTF-16 without a byte-order mark; set encoding: utf-16-le",
        ),
        (
            "u.csv",
            "id,text\n1,hello\n".encode("utf-16-be"),
            "'u.csv' looks like UTF-16 without a byte-order mark; set encoding: utf-16-be",
        ),
        ("u.jsonl", '{"text": "hello"}\n'.encode("utf-16-le"), "set encoding: utf-16-le"),
    ],
)
def test_a_file_that_is_not_text_is_an_error_before_anything_is_parsed(tmp_path, name, content, message):
    path = write(tmp_path, name, content)
    with pytest.raises(InputError, match=message):
        peek_columns(path, source_for(path))
    with pytest.raises(InputError, match=message):
        read(path)


def test_utf16_without_a_byte_order_mark_reads_once_its_encoding_is_given(tmp_path):
    path = write(tmp_path, "u.csv", "id,text\n1,héllo\n".encode("utf-16-le"))
    records, stats = read(path, encoding="utf-16-le")
    assert records[0].values == {"id": "1", "text": "héllo"} and stats.encoding == "utf-16-le"


def test_a_few_nul_bytes_do_not_make_a_csv_binary(tmp_path):
    records, _ = read(
        write(tmp_path, "n.csv", b"id,text\n" + b"".join(b"%d,parcel %d\x00\x00\n" % (i, i) for i in range(3)))
    )
    assert [r.values["text"] for r in records] == ["parcel 0", "parcel 1", "parcel 2"]


def test_an_unknown_codec_is_a_config_error_naming_the_key(write_config, tmp_path):
    (tmp_path / "t.csv").write_text("id,text,label,gender\n1,a,b,f\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(write_config({"sources": [csv_source("t.csv", encoding="no-such-codec")]}))
    assert caught.value.problems == [
        "sources[0].encoding: unknown encoding 'no-such-codec'; use a Python codec name such as utf-8, cp1252 or utf-16-le"
    ]


@pytest.mark.parametrize("encoding", ["no-such-codec", "base64"])
def test_an_unknown_codec_that_reaches_a_reader_is_an_input_error(tmp_path, encoding):
    path = write(tmp_path, "t.csv", b"id,text\n1,a\n")
    source = Source.model_construct(
        path=str(path), columns=Columns(text=["text"]), encoding=encoding, format=None, delimiter=None
    )
    with pytest.raises(InputError, match=f"unknown encoding '{encoding}' for 't.csv'"):
        list(read_records(path, source, ReadStats()))


@pytest.mark.parametrize("encoding", [None, "utf-8", "cp1252", "utf-16"])
def test_a_reader_stopped_early_closes_its_file_cleanly(tmp_path, monkeypatch, encoding):
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    for name in ("t.csv", "t.jsonl"):
        content = "id,text\n1,café\n2,b\n" if name == "t.csv" else '{"text": "a"}\n' * 3
        path = write(tmp_path, name, content.encode(encoding or "utf-8"))
        source = source_for(path, encoding=encoding)
        peek_columns(path, source)
        records = read_records(path, source, ReadStats())
        next(records)
        del records
    gc.collect()
    assert [f"{u.exc_type.__name__}: {u.exc_value}" for u in unraisable] == []


def test_naming_an_encoding_leaves_no_error_on_stderr(tmp_path):
    (tmp_path / "t.csv").write_text("id,text,label,gender\n1,café,a,f\n2,b,a,m\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"sources": [csv_source("t.csv", encoding="utf-8")]}), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "describe", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_the_available_columns_listing_is_escaped_and_cut_short(write_config, tmp_path):
    names = ["\x1b[2Jwiped", "nul\x00name", "x" * 200] + [f"c{i}" for i in range(30)]
    (tmp_path / "t.csv").write_bytes((",".join(names) + "\n" + ",".join("v" * len(names)) + "\n").encode())
    with pytest.raises(ConfigError) as caught:
        load_config(write_config({"sources": [csv_source("t.csv")]}))
    listing = caught.value.problems[0].split("available: ")[1]
    assert listing.startswith("'\\x1b[2Jwiped', 'nul\\x00name', '" + "x" * 57 + "...', 'c0', ")
    assert listing.endswith("'c16', and 13 more")
    assert "\x1b" not in str(caught.value) and "\x00" not in str(caught.value)
