"""Incremental runs, stage by stage: the ingest stage's row status against a previous run, the checks on
`previous_run`, and when and how the redact stage reuses the previous run's redaction of a seen row."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline import executors
from pipeline.artifacts import RunDir
from pipeline.config import load_config
from pipeline.errors import ConfigError, InputError
from pipeline.stage import run_pipeline
from pipeline.stages import redact as redact_stage
from pipeline.stages.ingest import CHANGED, NEW, SEEN, row_status
from tests.conftest import csv_source

NO_ID = {"text": ["text"], "label": "label", "protected": ["gender"]}


def write_csv(path: Path, rows: list[tuple[str, ...]], header: tuple[str, ...] = ("id", "text", "label")) -> None:
    """Rows of (id, text, label[, extra]) with gender f, or of `header`'s columns."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, "gender"])
        writer.writerows([*row, "f"] for row in rows)


def ingest(make_config, folder: Path, run: str, rows, previous: str | None = None, **source: Any) -> RunDir:
    header = ("id", "text", "label", "extra") if len(rows[0]) == 4 else ("id", "text", "label")
    write_csv(folder / "t.csv", rows, header)
    entry = csv_source("t.csv", **source) | ({"previous_run": previous} if previous else {})
    run_dir = RunDir(folder / run)
    run_pipeline(make_config({"sources": [entry]}), run_dir, ["ingest"])
    return run_dir


def statuses(run_dir: RunDir) -> list[tuple[str, str]]:
    records = pd.read_parquet(run_dir.path("ingest/records.parquet"))
    return list(zip(records["row_id"], records["row_status"], strict=True))


@pytest.mark.parametrize(
    ("row_id", "content_hash", "expected"),
    [
        ("t:1", "aaaa", SEEN),  # same id, same values
        ("t:1", "bbbb", CHANGED),  # same id, other values
        ("t:9", "aaaa", NEW),  # an id the previous run has not got
        ("t:1#2", "aaaa", SEEN),  # the second row with id 1, and the previous run had two
        ("t:1#3", "aaaa", NEW),  # a third, where it had two
        ("t:cccc", "cccc", SEEN),  # no id column: the row id is the hash
        ("t:dddd", "dddd", NEW),  # no id column: an edited row is a new one
    ],
)
def test_row_status_against_the_previous_runs_rows(row_id, content_hash, expected):
    previous = {"t:1": "aaaa", "t:1#2": "aaaa", "t:cccc": "cccc"}
    assert row_status(row_id, content_hash, previous) == expected


@pytest.mark.parametrize(
    ("before", "after", "columns", "expected"),
    [
        pytest.param(
            [("1", "a", "x"), ("2", "b", "x"), ("3", "c", "x")],
            [("1", "a", "x"), ("2", "B", "x"), ("4", "d", "x")],
            None,
            [("t:1", SEEN), ("t:2", CHANGED), ("t:4", NEW)],
            id="id column: seen, changed, new; a row gone is not counted",
        ),
        pytest.param(
            [("1", "a", "x"), ("1", "a", "x")],
            [("1", "a", "x"), ("1", "a", "x"), ("1", "a", "x")],
            None,
            [("t:1", SEEN), ("t:1#2", SEEN), ("t:1#3", NEW)],
            id="repeated id: the n-th repeat against the previous run's n-th",
        ),
        pytest.param(
            [("1", "a", "x"), ("1", "b", "x")],
            [("1", "a", "x"), ("1", "c", "x")],
            None,
            [("t:1", SEEN), ("t:1#2", CHANGED)],
            id="repeated id: a changed repeat",
        ),
        pytest.param(
            [("1", "a", "x")],
            [("1", "a", "y")],
            None,
            [("t:1", CHANGED)],
            id="a changed label is a change: the hash covers every kept column",
        ),
        pytest.param(
            [("1", "a", "x", "unmapped")],
            [("1", "a", "x", "other")],
            None,
            [("t:1", SEEN)],
            id="a column without a role is not kept, nor hashed",
        ),
        pytest.param(
            [("N/A", "a", "x")],
            [("N/A", "a", "x"), ("N/A", "b", "x")],
            None,
            [(None, SEEN), (None, NEW)],
            id="a missing id: the row id is the content hash",
        ),
        pytest.param(
            [("", "a", "x"), ("", "b", "x")],
            [("", "a", "x"), ("", "B", "x")],
            NO_ID,
            [(None, SEEN), (None, NEW)],
            id="no id column: an edited row is new",
        ),
        pytest.param(
            [("", "a", "x"), ("", "a", "x")],
            [("", "a", "x"), ("", "a", "x"), ("", "a", "x")],
            NO_ID,
            [(None, SEEN), (None, SEEN), (None, NEW)],
            id="no id column: repeats of a row",
        ),
    ],
)
def test_rows_are_new_changed_or_seen(make_config, tmp_path, before, after, columns, expected):
    source = {"columns": columns} if columns else {}
    ingest(make_config, tmp_path, "before", before, **source)
    got = statuses(ingest(make_config, tmp_path, "after", after, previous="before", **source))
    assert [status for _, status in got] == [status for _, status in expected]
    assert all(row_id == given for (row_id, _), (given, _) in zip(got, expected, strict=True) if given is not None)


def test_counts_per_source_and_a_source_without_a_previous_run(make_config, tmp_path):
    ingest(make_config, tmp_path, "before", [("1", "a", "x"), ("2", "b", "x")])
    write_csv(tmp_path / "t.csv", [("1", "a", "x"), ("2", "B", "x"), ("3", "c", "x")])
    write_csv(tmp_path / "u.csv", [("1", "a", "x")])
    config = {"sources": [csv_source("t.csv", previous_run="before"), csv_source("u.csv")]}
    manifest = run_pipeline(make_config(config), RunDir(tmp_path / "after"), ["ingest"])
    stats = manifest["stages"]["ingest"]["stats"]
    assert stats["per_source"]["t"]["row_status"] == {NEW: 1, CHANGED: 1, SEEN: 1}
    assert stats["per_source"]["u"]["row_status"] == {NEW: 1, CHANGED: 0, SEEN: 0}
    assert stats["row_status"] == {NEW: 2, CHANGED: 1, SEEN: 1}


def test_a_run_after_an_incremental_one_reads_its_stored_hashes(make_config, tmp_path, monkeypatch):
    rows = [("1", "a", "x"), ("", "b", "x")]
    ingest(make_config, tmp_path, "first", rows)
    second = ingest(make_config, tmp_path, "second", rows, previous="first")
    assert [status for _, status in statuses(second)] == [SEEN, SEEN]
    read = []
    iter_batches = pq.ParquetFile.iter_batches

    def recording(self, *args, columns=None, **kwargs):
        read.append(columns)
        return iter_batches(self, *args, columns=columns, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", recording)
    third = ingest(make_config, tmp_path, "third", rows, previous="second")
    assert [status for _, status in statuses(third)] == [SEEN, SEEN]
    assert ["row_id", "source", "content_hash"] in read  # only the row ids and the hashes of the previous run


@pytest.mark.parametrize(
    ("previous", "prepare", "expected"),
    [
        ("nowhere", None, "nowhere is not a run whose ingest stage finished"),
        ("empty", "folder", "empty is not a run whose ingest stage finished"),
        ("other", "other source", "the run at .*other has no source named 't' \\(its sources: u\\)"),
    ],
)
def test_a_previous_run_that_cannot_be_one_is_a_config_error(make_config, tmp_path, previous, prepare, expected):
    write_csv(tmp_path / "u.csv", [("1", "a", "x")])
    if prepare == "folder":
        (tmp_path / previous).mkdir()
    elif prepare == "other source":
        run_pipeline(make_config({"sources": [csv_source("u.csv")]}), RunDir(tmp_path / previous), ["ingest"])
    write_csv(tmp_path / "t.csv", [("1", "a", "x")])
    with pytest.raises(ConfigError, match=f"sources\\[0\\]\\.previous_run: .*{expected}"):
        make_config({"sources": [csv_source("t.csv", previous_run=previous)]})


def test_a_run_cannot_be_its_own_previous_run(make_config, tmp_path):
    ingest(make_config, tmp_path, "run", [("1", "a", "x")])
    with pytest.raises(InputError, match="is this run's own directory"):
        ingest(make_config, tmp_path, "run", [("1", "a", "x")], previous="run")


def test_previous_records_changed_after_their_run_are_refused(make_config, tmp_path):
    before = ingest(make_config, tmp_path, "before", [("1", "a", "x")])
    records = pq.read_table(before.path("ingest/records.parquet"))
    pq.write_table(records.slice(0, 0), before.path("ingest/records.parquet"))
    with pytest.raises(InputError, match="is not the file that run's manifest recorded"):
        ingest(make_config, tmp_path, "after", [("1", "a", "x")], previous="before")


@pytest.mark.parametrize("column", ["row_status", "content_hash"])
def test_the_row_status_columns_are_reserved(write_config, tmp_path, column):
    write_csv(tmp_path / "t.csv", [("1", "a", "x")])
    path = write_config({"sources": [csv_source("t.csv", rename={"gender": column})]})
    with pytest.raises(ConfigError, match=f"'{column}' is reserved for the row status of incremental runs"):
        load_config(path)


# --- the redact stage: reuse, with the real spaCy model and Presidio ---

TICKETS = [
    ("1", "Hi, I am Maria Lopez, call me at (415) 555-0134 about the double charge.", "billing", "Maria Lopez", "C1"),
    ("2", "My parcel never came. Write to priya.n@example.com please.", "shipping", "Priya Natarajan", "C2"),
    ("3", "The app crashes when Tom Baker opens the settings page.", "technical", "Tom Baker", "C3"),
    ("4", "Refund the order, my name is Ann Lee and I live in Boston.", "billing", "Ann Lee", "C4"),
]
REDACT = {"workers": 1, "demo_key_if_unset": True, "shard_rows": 2, "operators": {"EMAIL_ADDRESS": "drop_row"}}


def ticket_config(previous: str | None = None, **redact: Any) -> dict[str, Any]:
    columns = {"id": "id", "text": ["text"], "label": "label", "identifier": ["name"], "group": "customer"}
    source = {"path": "tickets.csv", "columns": columns} | ({"previous_run": previous} if previous else {})
    return {"sources": [source], "redact": REDACT | redact}


def write_tickets(folder: Path, rows) -> None:
    pd.DataFrame(rows, columns=["id", "text", "label", "name", "customer"]).to_csv(folder / "tickets.csv", index=False)


def redact_run(make_config, folder: Path, run: str, rows, previous: str | None = None, **redact: Any) -> RunDir:
    write_tickets(folder, rows)
    run_dir = RunDir(folder / run)
    run_pipeline(make_config(ticket_config(previous, **redact)), run_dir, ["ingest", "redact"])
    return run_dir


@pytest.fixture
def month_1(make_config, tmp_path) -> RunDir:
    return redact_run(make_config, tmp_path, "month-1", TICKETS)


def month_2_rows() -> list[tuple[str, ...]]:
    edited = ("3", "The app crashes when Tom Baker opens the billing page.", "technical", "Tom Baker", "C3")
    added = ("5", "Please close my account, Rosa Diaz.", "account", "Rosa Diaz", "C5")
    return [*TICKETS[:2], edited, TICKETS[3], added]


def test_seen_rows_reuse_and_rows_the_previous_run_quarantined_are_redacted_again(make_config, tmp_path, month_1):
    assert [entry["row_id"] for entry in _quarantine(month_1)] == ["tickets:2"]  # an email: drop_row
    month_2 = redact_run(make_config, tmp_path, "month-2", month_2_rows(), previous="month-1")
    stats = month_2.read_manifest()["stages"]["redact"]["stats"]
    assert stats["reused_from_previous_run"] == 2 and stats["analysed"] == 3  # rows 1 and 4; 2 (quarantined), 3, 5
    assert [entry["row_id"] for entry in _quarantine(month_2)] == ["tickets:2"]
    before, after = (
        pd.read_parquet(run.path("redact/records.parquet")).set_index("row_id") for run in (month_1, month_2)
    )
    assert after.loc[["tickets:1", "tickets:4"], ["text", "customer"]].equals(
        before.loc[["tickets:1", "tickets:4"], ["text", "customer"]]
    )
    assert "Rosa" not in after.loc["tickets:5", "text"] and "name" not in after


def test_shards_done_by_mapped_tasks_carry_the_reuse(make_config, tmp_path, month_1, monkeypatch):
    direct = redact_run(make_config, tmp_path, "direct", month_2_rows(), previous="month-1")
    config_path = str(tmp_path / "config.yaml")
    mapped = RunDir(tmp_path / "mapped")
    run_pipeline(load_config(Path(config_path)), mapped, ["ingest"])
    for part in executors.plan_parts("redact", config_path, str(mapped.root), 2):
        executors.process_part("redact", config_path, str(mapped.root), part)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the stage processed a shard a mapped task had done")
        yield

    monkeypatch.setattr(executors, "map_shards", must_not_run)
    manifest = run_pipeline(load_config(Path(config_path)), mapped, ["redact"])
    assert manifest["stages"]["redact"]["stats"]["reused_from_previous_run"] == 2
    outputs = [run.read_manifest()["stages"]["redact"]["outputs"] for run in (direct, mapped)]
    assert {k: v["sha256"] for k, v in outputs[0].items()} == {k: v["sha256"] for k, v in outputs[1].items()}


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({}, None),
        ({"redact": {"workers": 2, "shard_rows": 50, "batch_size": 8}}, None),  # how the work is spread
        ({"redact": {"default_operator": "pseudonymize"}}, "other settings: redact.default_operator"),
        ({"redact": {"thresholds": {"PERSON": 0.9}}}, "other settings: redact.thresholds"),
        ({"redact": {"propagate": "dataset"}}, "redact.propagate is dataset"),
        ({"redact": {"known_values_scope": "all_rows"}}, "redact.known_values_scope is all_rows"),
        ({"identifier": []}, r"other settings: columns \(identifier\), columns \(identifier_entities\)"),
        ({"key": "another-key-of-enough-length"}, "redacted with another key"),
        ({"packages": {"spacy": "0.0.1"}}, "ran with other versions of spacy"),
        ({"tamper": True}, "changed after that run"),
        ({"no_redact": True}, "has no finished redact stage"),
        ({"stale": True}, "redact stage is older than its ingest stage"),
    ],
)
def test_reuse_is_refused_when_a_seen_rows_redaction_could_differ(
    make_config, tmp_path, month_1, monkeypatch, change, refusal
):
    config = ticket_config("month-1", **change.get("redact", {}))
    if "identifier" in change:
        config["sources"][0]["columns"]["identifier"] = change["identifier"]
    if "key" in change:
        monkeypatch.setenv("PIPELINE_PSEUDONYM_KEY", change["key"])
    if "packages" in change:
        versions = redact_stage.package_versions() | change["packages"]
        monkeypatch.setattr(redact_stage, "package_versions", lambda: versions)
    if "tamper" in change:
        findings = month_1.path("redact/row_findings.parquet")
        pq.write_table(pq.read_table(findings).slice(0, 1), findings)
    if "stale" in change:  # its ingest stage ran again after its redact stage
        manifest = month_1.read_manifest()
        manifest["stages"]["ingest"]["finished"] = "9999-01-01T00:00:00+00:00"
        month_1.write_manifest(manifest)
    if "no_redact" in change:
        manifest = month_1.read_manifest()
        del manifest["stages"]["redact"]
        month_1.write_manifest(manifest)
    reason = redact_stage.reuse_refusal(make_config(config), month_1)
    if refusal is None:
        assert reason is None
    else:
        assert reason is not None and re.search(refusal, reason), reason


def test_a_refused_reuse_analyses_every_row_and_says_why(make_config, tmp_path, month_1):
    month_2 = redact_run(
        make_config, tmp_path, "month-2", month_2_rows(), previous="month-1", thresholds={"PERSON": 0.9}
    )
    stats = month_2.read_manifest()["stages"]["redact"]["stats"]
    assert stats["reused_from_previous_run"] == 0 and stats["analysed"] == 5
    assert "redact.thresholds" in stats["reuse_refused"]["tickets"]
    ledger = month_2.path("redact/pii_ledger.json").read_text(encoding="utf-8")
    assert '"reused_from_previous_run": 0' in ledger and "redact.thresholds" in ledger


def test_a_run_without_a_previous_run_writes_the_ledger_as_before(month_1):
    ledger = month_1.path("redact/pii_ledger.json").read_text(encoding="utf-8")
    assert "reused_from_previous_run" not in ledger and "reuse_refused" not in ledger
    findings = pd.read_parquet(month_1.path("redact/row_findings.parquet"))
    records = pd.read_parquet(month_1.path("redact/records.parquet"))
    assert findings["row_id"].tolist() == records["row_id"].tolist()  # the kept rows, in the same order


def _quarantine(run_dir: RunDir) -> list[dict[str, Any]]:
    lines = run_dir.path("quarantine/redact.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
