"""The ingest stage on small real files: normalisation, row ids, quarantine and row accounting."""

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.artifacts import RunDir
from pipeline.stage import run_pipeline
from tests.conftest import csv_source


def ingest(make_config, tmp_path: Path, config: dict) -> tuple[pd.DataFrame, list[dict], dict]:
    run_dir = RunDir(tmp_path / "run")
    manifest = run_pipeline(make_config(config), run_dir, ["ingest"])
    records = pd.read_parquet(run_dir.path("ingest/records.parquet"))
    quarantine = [json.loads(line) for line in run_dir.path("quarantine/ingest.jsonl").read_text().splitlines()]
    return records, quarantine, manifest["stages"]["ingest"]["stats"]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("N/A", None),
        ("n/a", None),
        ("Not Provided", None),
        ("not provided", None),
        ("null", None),
        ("NULL", None),
        ("None", None),
        ("-", None),
        ("", None),
        ("   ", None),
        ("  N/A  ", None),
        ("NA values", "NA values"),
        ("none of these", "none of these"),
        ("  padded  ", "padded"),
        ("0", "0"),
    ],
)
def test_missing_value_tokens_become_null_and_only_whole_cells_match(make_config, tmp_path, cell, expected):
    (tmp_path / "t.csv").write_text(f'id,text,label,gender\n1,some text,a,"{cell}"\n', encoding="utf-8")
    records, _, _ = ingest(make_config, tmp_path, {"sources": [csv_source("t.csv")]})
    value = records.loc[0, "gender"]
    assert (None if pd.isna(value) else value) == expected


def test_missing_value_tokens_are_configurable(make_config, tmp_path):
    (tmp_path / "t.csv").write_text("id,text,label,gender\n1,txt,a,unknown\n2,txt,a,N/A\n", encoding="utf-8")
    config = {
        "sources": [csv_source("t.csv")],
        "ingest": {"missing_values": ["unknown"], "missing_values_ignore_case": False},
    }
    records, _, _ = ingest(make_config, tmp_path, config)
    assert records["gender"].tolist()[1] == "N/A" and pd.isna(records["gender"].tolist()[0])


def test_every_row_is_accounted_for_and_broken_rows_are_quarantined_with_reasons(make_config, tmp_path):
    content = (
        "id,text,label,gender\r\n"
        '1,"multi\r\nline, ""quoted""",a,f\r\n'  # kept
        "2,N/A,a,f\r\n"  # missing text
        "3,has text,Not Provided,m\r\n"  # missing label
        "4,unquoted, comma,a,f\r\n"  # too many fields
        "5,truncated\r\n"  # too few fields
        "\r\n"  # blank line: not a row
        ",,,\r\n"  # every field empty
        "6,fine,b,\r\n"  # kept
    )
    (tmp_path / "t.csv").write_text(content, encoding="utf-8")
    records, quarantine, stats = ingest(make_config, tmp_path, {"sources": [csv_source("t.csv")]})
    assert stats["total"] == 7 == stats["kept"] + stats["quarantined"]
    assert records["row_id"].tolist() == ["t:1", "t:6"]
    assert records.loc[0, "text"] == 'multi\nline, "quoted"'
    assert [(q["row_id"], q["reason"], q["source_row"]) for q in quarantine] == [
        ("t:2", "missing_text", 4),
        ("t:3", "missing_label", 5),
        ("t:t.csv:6", "too_many_fields", 6),
        ("t:t.csv:7", "too_few_fields", 7),
        (quarantine[4]["row_id"], "missing_text", 9),
    ]
    assert stats["quarantined_by_reason"] == {
        "missing_label": 1,
        "missing_text": 2,
        "too_few_fields": 1,
        "too_many_fields": 1,
    }


def test_quarantine_details_never_quote_row_values(make_config, tmp_path):
    secret = "Jane Roe jane.roe@example.com"
    (tmp_path / "t.csv").write_text(
        f"id,text,label,gender\n1,{secret},N/A,f\n2,{secret},x,y,z\n3,{secret}\n", encoding="utf-8"
    )
    _, quarantine, _ = ingest(make_config, tmp_path, {"sources": [csv_source("t.csv")]})
    assert len(quarantine) == 3
    dumped = json.dumps(quarantine)
    assert "Jane" not in dumped and "example.com" not in dumped


def test_row_ids_come_from_the_id_column_else_a_content_hash_and_repeats_are_numbered(make_config, tmp_path):
    (tmp_path / "t.csv").write_text(
        "id,text,label,gender\n7,a,x,f\n7,b,x,f\n,same,x,f\n,same,x,f\n,other,x,f\n", encoding="utf-8"
    )
    records, _, stats = ingest(make_config, tmp_path, {"sources": [csv_source("t.csv")]})
    ids = records["row_id"].tolist()
    assert ids[:2] == ["t:7", "t:7#2"]
    assert ids[2].startswith("t:") and len(ids[2]) == len("t:") + 16
    assert ids[3] == ids[2] + "#2" and ids[4] not in ids[:4]
    assert records["row_id"].is_unique and stats["duplicate_ids"] == 2


def test_rows_are_tagged_with_their_source_and_sources_share_record_columns(make_config, tmp_path):
    (tmp_path / "a.csv").write_text("id,subject,body,label\n1,Subj,Body text,x\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(
        '{"id": 1, "transcript": "chat text", "topic": "y", "extra": 5}\n', encoding="utf-8"
    )
    records, _, stats = ingest(
        make_config,
        tmp_path,
        {
            "sources": [
                {"path": "a.csv", "columns": {"id": "id", "text": ["subject", "body"], "label": "label"}},
                {
                    "path": "b.jsonl",
                    "columns": {"id": "id", "text": ["transcript"], "label": "topic"},
                    "rename": {"transcript": "body", "topic": "label"},
                },
            ]
        },
    )
    assert records.astype(object).where(records.notna(), None).to_dict("records") == [
        {
            "row_id": "a:1",
            "source": "a",
            "source_file": "a.csv",
            "source_row": 2,
            "id": "1",
            "subject": "Subj",
            "body": "Body text",
            "label": "x",
        },
        {
            "row_id": "b:1",
            "source": "b",
            "source_file": "b.jsonl",
            "source_row": 1,
            "id": "1",
            "subject": None,
            "body": "chat text",
            "label": "y",
        },
    ]
    assert stats["per_source"] == {
        "a": {"total": 1, "kept": 1, "quarantined": 0},
        "b": {"total": 1, "kept": 1, "quarantined": 0},
    }


def test_label_is_not_required_for_causal_lm(make_config, tmp_path):
    (tmp_path / "t.csv").write_text("id,text\n1,prompt and response\n", encoding="utf-8")
    records, quarantine, _ = ingest(
        make_config,
        tmp_path,
        {"task": "causal_lm", "sources": [{"path": "t.csv", "columns": {"id": "id", "text": ["text"]}}]},
    )
    assert len(records) == 1 and quarantine == []


def test_schema_report_lists_roles_and_unmapped_columns(make_config, tmp_path):
    (tmp_path / "t.csv").write_text("id,text,label,gender,internal_note\n1,a,x,f,n\n", encoding="utf-8")
    run_dir = RunDir(tmp_path / "run")
    run_pipeline(make_config({"sources": [csv_source("t.csv")]}), run_dir, ["ingest"])
    schema = json.loads(run_dir.path("ingest/schema.json").read_text())
    assert schema["roles"]["protected"] == ["gender"]
    assert schema["sources"]["t"]["files"][0]["unmapped_columns"] == ["internal_note"]
    assert {c["name"]: c["role"] for c in schema["columns"]}["text"] == "text"


def test_spreadsheet_style_export_keeps_every_row_unmangled(make_config, tmp_path):
    """The quirks of re-saved ticket and HR exports: CRLF records with LF inside quoted
    fields, `Not Provided` fill-ins, blank ids, padded cells, and one ragged row."""
    content = (
        "EmpID,Name,Notes,Status,Sex\r\n"
        ',"Alagbe,Trina","line one\nline two\n\nafter a blank line",Active,F\r\n'
        ',"Roup,Simon",Not Provided,Active,M \r\n'
        '10003,"Crimmings,   Jean","said ""no"" twice",Terminated,F\r\n'
        '10004,"Bachiochi, Linda",Active,F\r\n'
        '10005,"Webster, Butler","it\'s — fine",Active,M\r\n'
    )
    (tmp_path / "hr.csv").write_bytes(content.encode("utf-8"))
    source = {
        "path": "hr.csv",
        "columns": {"id": "EmpID", "text": ["Notes", "Name"], "label": "Status", "protected": ["Sex"]},
    }
    records, quarantine, stats = ingest(make_config, tmp_path, {"sources": [source]})
    assert stats["total"] == 5 and stats["kept"] == 4
    assert [(q["reason"], q["source_row"]) for q in quarantine] == [("too_few_fields", 8)]
    assert records["Notes"].tolist()[0] == "line one\nline two\n\nafter a blank line"
    assert pd.isna(records["Notes"].tolist()[1]) and records["Sex"].tolist()[1] == "M"
    assert records["Name"].tolist()[2] == "Crimmings,   Jean" and records["Notes"].tolist()[2] == 'said "no" twice'
    assert records["Notes"].tolist()[3] == "it's — fine"
    assert records["row_id"].tolist()[2:] == ["hr:10003", "hr:10005"] and records["row_id"].is_unique


def test_hostile_csv_rows_are_quarantined_or_repaired_and_every_row_is_accounted_for(make_config, tmp_path):
    content = (
        b"id,text,label,gender\n"
        b"1,fine,shipping,f\n"
        b"2,a parcel,shipping\x00,m\n"  # NUL stripped: the label stays one class
        b"3," + b"x" * 60 + b",billing,f\n"  # a cell over max_cell_chars
        b'4,"' + b"y\n" * 150 + b'",billing,f\n'  # a record over max_record_bytes, across lines
        b"5,also \x1b[1mfine,billing,m\n"
    )
    (tmp_path / "t.csv").write_bytes(content)
    config = {"sources": [csv_source("t.csv")], "ingest": {"limits": {"max_cell_chars": 50, "max_record_bytes": 200}}}
    records, quarantine, stats = ingest(make_config, tmp_path, config)
    assert stats["total"] == 5 == stats["kept"] + stats["quarantined"]
    assert records["row_id"].tolist() == ["t:1", "t:2", "t:5"]
    assert (
        records["label"].tolist() == ["shipping", "shipping", "billing"]
        and records["text"].tolist()[2] == "also [1mfine"
    )
    assert [(q["reason"], q["source_row"], q["detail"]) for q in quarantine] == [
        ("cell_too_large", 4, "line 4, column 2: 60 characters, more than 50 (ingest.limits.max_cell_chars)"),
        ("record_too_large", 5, "lines 5-155: longer than 200 bytes (ingest.limits.max_record_bytes)"),
    ]
    schema = json.loads((tmp_path / "run" / "ingest" / "schema.json").read_text())
    report = schema["sources"]["t"]["files"][0]
    assert (report["control_characters_stripped"], report["nul_bytes_stripped"], report["duplicate_columns"]) == (
        2,
        1,
        [],
    )


def test_hostile_json_lines_are_quarantined_and_every_line_is_accounted_for(make_config, tmp_path):
    lines = [
        b'{"id": 1, "text": "fine", "label": "a"}',
        b'{"id": 2, "text": "deep", "label": "a", "x": ' + b"[" * 100 + b"]" * 100 + b"}",
        b'{"id": 3, "text": "' + b"z" * 500 + b'", "label": "a"}',
        b'{"id": 4, "text": "twice", "label": "a", "label": "b"}',
        b'{"id": 5, "text": "nul\\u0000", "label": "b"}',
    ]
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    source = {"path": "t.jsonl", "columns": {"id": "id", "text": ["text"], "label": "label"}}
    records, _, stats = ingest(
        make_config, tmp_path, {"sources": [source], "ingest": {"limits": {"max_record_bytes": 400}}}
    )
    assert stats["total"] == 5 == stats["kept"] + stats["quarantined"]
    assert records["text"].tolist() == ["fine", "nul"]
    assert stats["quarantined_by_reason"] == {"duplicate_key": 1, "record_too_large": 1, "too_deeply_nested": 1}


def test_repeated_column_names_are_reported_in_the_schema(make_config, tmp_path):
    (tmp_path / "t.csv").write_text("id,text,label,gender,note,note\n1,a,x,f,n1,n2\n", encoding="utf-8")
    run_dir = RunDir(tmp_path / "run")
    run_pipeline(make_config({"sources": [csv_source("t.csv")]}), run_dir, ["ingest"])
    report = json.loads(run_dir.path("ingest/schema.json").read_text())["sources"]["t"]["files"][0]
    assert report["duplicate_columns"] == [{"column": "note", "positions": [5, 6], "read_as": "note.1"}]
    assert report["unmapped_columns"] == ["note", "note.1"]


def test_a_file_name_with_terminal_escapes_reaches_the_progress_bar_escaped(make_config, tmp_path, monkeypatch):
    from pipeline.stages import ingest as stage

    (tmp_path / "t\x1b[2J\x07.csv").write_text("id,text,label,gender\n1,some text,a,f\n", encoding="utf-8")
    shown: list[str] = []

    def progress(iterable, desc: str = "", **_):
        shown.append(desc)
        return iterable

    monkeypatch.setattr(stage, "tqdm", progress)
    records, _, _ = ingest(make_config, tmp_path, {"sources": [csv_source("t*.csv", name="tickets")]})
    assert len(records) == 1 and len(shown) == 1
    assert shown[0].startswith("ingest t") and not any(ord(char) < 32 for char in shown[0])


CHATS = [
    {
        "id": "c1",
        "topic": "billing",
        "messages": [
            {"content": "I was charged twice,\r\nplease help. I'm Jane Roe.", "role": "user", "ts": 1},
            {"role": "assistant", "content": "  Sorry, Jane: refund on its way.  "},
        ],
    },
    {"id": "c2", "topic": "billing", "messages": [{"role": "robot", "content": "Jane Roe beep"}]},
    {"id": "c3", "topic": "shipping", "messages": [{"role": "user", "content": "Where is my parcel?"}]},
    {"id": "c4", "topic": "shipping", "messages": [{"role": "user", "content": ["Jane", "Roe"]}]},
    {"id": "c5", "topic": "shipping", "messages": "N/A"},
]
CANONICAL = [
    '[{"role": "user", "content": "I was charged twice,\\nplease help. I\'m Jane Roe."}, '
    '{"role": "assistant", "content": "Sorry, Jane: refund on its way."}]',
    '[{"role": "user", "content": "Where is my parcel?"}]',
]
CHAT_COLUMNS = {"id": "id", "messages": "messages", "label": "topic"}


def test_chats_in_json_lines_are_written_canonically_and_malformed_ones_quarantined(make_config, tmp_path):
    (tmp_path / "chats.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CHATS), encoding="utf-8")
    config = {"sources": [{"path": "chats.jsonl", "columns": CHAT_COLUMNS}]}
    records, quarantine, stats = ingest(make_config, tmp_path, config)
    assert records["row_id"].tolist() == ["chats:c1", "chats:c3"]
    assert records["messages"].tolist() == CANONICAL
    assert [(q["row_id"], q["reason"], q["detail"]) for q in quarantine] == [
        ("chats:c2", "malformed_messages", "messages[0].role: not one of 'system', 'user', 'assistant'"),
        ("chats:c4", "malformed_messages", "messages[0].content: a list, not a string"),
        ("chats:c5", "missing_text", "every text column is empty or a missing-value token: messages"),
    ]
    assert stats["total"] == 5 == stats["kept"] + stats["quarantined"]
    assert stats["quarantined_by_reason"] == {"malformed_messages": 2, "missing_text": 1}
    assert "Jane" not in json.dumps(quarantine)


def test_chats_in_csv_cells_are_read_as_json_text_beside_text_columns(make_config, tmp_path):
    rows = [[c["id"], c["topic"], f"note {c['id']}", json.dumps(c["messages"])] for c in CHATS[:3]]
    rows.append(["c9", "billing", "a note", "not json at all, Jane"])
    pd.DataFrame(rows, columns=["id", "topic", "note", "chat"]).to_csv(tmp_path / "chats.csv", index=False)
    columns = {"id": "id", "text": ["note"], "messages": "chat", "label": "topic"}
    records, quarantine, stats = ingest(
        make_config, tmp_path, {"sources": [{"path": "chats.csv", "columns": columns}]}
    )
    assert records.columns.tolist() == ["row_id", "source", "source_file", "source_row", "id", "note", "chat", "topic"]
    assert records["chat"].tolist() == CANONICAL and records["note"].tolist() == ["note c1", "note c3"]
    assert [(q["row_id"], q["detail"]) for q in quarantine] == [
        ("chats:c2", "chat[0].role: not one of 'system', 'user', 'assistant'"),
        ("chats:c9", "chat: not JSON (Expecting value at character 0)"),
    ]
    assert stats["total"] == 4 == stats["kept"] + stats["quarantined"]
    schema = json.loads((tmp_path / "run" / "ingest" / "schema.json").read_text())
    assert {c["name"]: c["role"] for c in schema["columns"]}["chat"] == "messages"
    assert schema["roles"]["text"] == ["note", "chat"] and schema["roles"]["messages"] == ["chat"]
