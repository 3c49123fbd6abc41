"""Check and curate on inputs a new user brings: two overlapping public exports, and bad tiny inputs.

Every case runs the real stages (ingest -> redact -> check -> curate) once, in
a module-scoped fixture; the tests read what the run left in its run
directory. A run that raises is kept as an outcome, so each test shows the
exception and its traceback instead of a fixture error.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.artifacts import RunDir
from pipeline.errors import InputError
from tests.conftest import csv_source
from tests.integration.runs import REDACT, Outcome, run_stages, write_csv

STAGES = ["ingest", "redact", "check", "curate"]
DUPLICATE_REASONS = ("exact_duplicate", "near_duplicate")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "public"
CFPB = FIXTURES / "cfpb_complaints.csv"
NARRATIVE = "Consumer complaint narrative"


def run_all(folder: Path, config: dict[str, Any]) -> Outcome:
    """Write the config into `folder`, run ingest..curate, and keep what happened."""
    return run_stages(
        folder / "config.yaml", {"run_name": folder.name, **config, "redact": REDACT}, RunDir(folder / "run"), STAGES
    )


# --- 1. two overlapping public exports of the same complaints ---------------------------

FIRST_EXPORT_ROWS = slice(0, 110)  # complaints 0..109 of the fixture
SECOND_EXPORT_ROWS = slice(59, 169)  # complaints 59..168: 51 of them are in both exports
# How the second export (an API / JSON Lines dump) names the fixture's columns, in its own field order.
SECOND_EXPORT_FIELDS = {
    "Complaint ID": "complaint_id",
    "Date received": "received_on",
    "Issue": "issue",
    NARRATIVE: "consumer_narrative",
    "Company": "company",
    "Product": "product",
    "State": "state",
    "Tags": "tags",
}


def cfpb_rows() -> list[dict[str, str]]:
    with CFPB.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_second_export(path: Path, rows: list[dict[str, str]]) -> None:
    """As an export tool writes it: other field names and order, numeric ids, `Not Provided` for blanks, CRLF in text."""
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            record: dict[str, Any] = {}
            for column, field in SECOND_EXPORT_FIELDS.items():
                value = row[column].strip()
                if column == "Complaint ID":
                    record[field] = int(value)
                else:
                    record[field] = value.replace("\n", "\r\n") if value else "Not Provided"
            handle.write(json.dumps(record) + "\n")


@pytest.fixture(scope="module")
def cfpb(tmp_path_factory) -> Outcome:
    folder = tmp_path_factory.mktemp("cfpb-overlap")
    rows = cfpb_rows()
    with (folder / "complaints_2023q3.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[FIRST_EXPORT_ROWS])
    write_second_export(folder / "complaints_api.jsonl", rows[SECOND_EXPORT_ROWS])
    # what a new user writes: the short Issue line and the narrative as text, the product as label
    roles = {
        "id": "Complaint ID",
        "text": ["Issue", NARRATIVE],
        "label": "Product",
        "protected": ["Tags"],
        "passthrough": ["State"],
    }
    field = SECOND_EXPORT_FIELDS
    config = {
        "sources": [
            {"name": "portal", "path": "complaints_2023q3.csv", "columns": roles},
            {
                "name": "api",
                "path": "complaints_api.jsonl",
                "columns": {
                    "id": field["Complaint ID"],
                    "text": [field["Issue"], field[NARRATIVE]],
                    "label": field["Product"],
                    "protected": [field["Tags"]],
                    "passthrough": [field["State"]],
                },
                "rename": {field[c]: c for c in ("Complaint ID", "Issue", NARRATIVE, "Product", "Tags", "State")},
            },
        ],
    }
    return run_all(folder, config)


def overlap_ids() -> list[str]:
    rows = cfpb_rows()
    first = {row["Complaint ID"] for row in rows[FIRST_EXPORT_ROWS]}
    return [row["Complaint ID"] for row in rows[SECOND_EXPORT_ROWS] if row["Complaint ID"] in first]


def test_the_exports_overlap_as_intended():
    assert len(overlap_ids()) == 51


def test_both_exports_ingest_to_the_same_values(cfpb):
    stats = cfpb.stats("ingest")
    assert stats["per_source"] == {
        "portal": {"total": 110, "kept": 110, "quarantined": 0},
        "api": {"total": 110, "kept": 110, "quarantined": 0},
    }
    records = cfpb.records("ingest").set_index("row_id")
    columns = ["Complaint ID", "Issue", NARRATIVE, "Product", "Tags", "State"]
    for complaint in overlap_ids():
        first, later = records.loc[f"portal:{complaint}", columns], records.loc[f"api:{complaint}", columns]
        assert (
            first.fillna("<null>").to_dict() == later.fillna("<null>").to_dict()
        )  # `Not Provided` read as missing, CRLF as LF


def test_every_overlapping_complaint_ends_in_one_cluster(cfpb):
    checked = cfpb.records("check").set_index("row_id")
    split = [
        c for c in overlap_ids() if checked.loc[f"portal:{c}", "cluster_id"] != checked.loc[f"api:{c}", "cluster_id"]
    ]
    assert split == [], f"{len(split)} of {len(overlap_ids())} complaints in both exports are in different clusters"
    # the cluster is headed by a row of the first export (ingest order), never by the later copy
    assert all(checked.loc[f"api:{c}", "cluster_id"].startswith("portal:") for c in overlap_ids())
    assert cfpb.json("check/findings.json")["duplicates"]["cross_source_clusters"] >= 1


def test_curate_quarantines_every_later_copy_as_a_duplicate_of_the_first_export(cfpb):
    checked = cfpb.records("check").set_index("row_id")
    entries = {entry["row_id"]: entry for entry in cfpb.quarantine("curate")}
    kept = set(cfpb.records("curate")["row_id"])
    for complaint in overlap_ids():
        entry = entries.get(f"api:{complaint}")
        assert entry is not None, f"api:{complaint} is in both exports but was kept"
        assert entry["stage"] == "curate" and entry["source"] == "api"
        if (
            entry["reason"] not in DUPLICATE_REASONS
        ):  # a text too poor to keep: the first copy went for the same reason
            assert entries[f"portal:{complaint}"]["reason"] == entry["reason"]
            continue
        assert checked.loc[entry["kept_row_id"], "cluster_id"] == checked.loc[f"portal:{complaint}", "cluster_id"]
        assert entry["kept_row_id"] in kept and entry["kept_row_id"].startswith("portal:")


def test_a_complaint_with_its_own_text_keeps_exactly_its_first_copy(cfpb):
    """Complaints with a narrative have a text no other complaint shares: there the rule holds to the letter."""
    checked = cfpb.records("check")
    with_text = set(checked.loc[checked[NARRATIVE].notna(), "row_id"])
    overlap_with_text = [c for c in overlap_ids() if f"portal:{c}" in with_text]
    assert len(overlap_with_text) == 5
    entries = {entry["row_id"]: entry for entry in cfpb.quarantine("curate")}
    duplicates_with_text = {
        row_id for row_id, entry in entries.items() if entry["reason"] in DUPLICATE_REASONS and row_id in with_text
    }
    assert duplicates_with_text == {f"api:{c}" for c in overlap_with_text}
    kept = set(cfpb.records("curate")["row_id"])
    for complaint in overlap_with_text:
        assert entries[f"api:{complaint}"]["kept_row_id"] == f"portal:{complaint}"
        assert f"portal:{complaint}" in kept


# Duplicates are about text, not about which complaint a row is: 148 of the 169 complaints have no
# narrative, so their text is only the short Issue line, shared by many different complaints. Training
# on 55 copies of one line is what deduplication prevents, so these collapse on purpose; what a reviewer
# needs is that every quarantine names a row that was kept, and that label conflicts are reported.
def test_identical_texts_of_different_complaints_collapse_onto_a_kept_row_and_label_conflicts_are_reported(cfpb):
    checked = cfpb.records("check").set_index("row_id")
    kept = set(cfpb.records("curate")["row_id"])
    entries = [e for e in cfpb.quarantine("curate") if e["reason"] in DUPLICATE_REASONS]
    assert entries and all(e["kept_row_id"] in kept for e in entries)
    for entry in entries:
        if entry["reason"] == "exact_duplicate":
            assert checked.loc[entry["row_id"], "text_key"] == checked.loc[entry["kept_row_id"], "text_key"]
    members = checked[checked["cluster_id"].duplicated(keep=False)]
    conflicting = int((members.groupby("cluster_id")["Product"].nunique() > 1).sum())
    assert conflicting > 0
    assert cfpb.json("check/findings.json")["duplicates"]["clusters_with_conflicting_labels"] == conflicting


def test_contract_results_and_findings_quote_no_text(cfpb):
    """Privacy: the check stage's reports hold counts and scores, never a snippet of a complaint."""
    rows = cfpb_rows()
    texts = [row[NARRATIVE] for row in rows if row[NARRATIVE].strip()] + [row["Issue"] for row in rows]
    assert_quotes_no_text(cfpb, texts, labels={row["Product"] for row in rows})


def assert_quotes_no_text(outcome: Outcome, texts: list[str], labels: set[str], size: int = 30) -> None:
    """No `size`-character piece of any text is in check/gx_results.json, check/findings.json or the suite,
    nor in what the run logged. Labels are reported by name, on purpose, so pieces of them do not count."""
    snippets = {text[i : i + size] for text in texts for i in range(len(text) - size + 1)}
    snippets = {s for s in snippets if not any(s in label for label in labels)}
    assert snippets
    reports = {
        name: list(_strings(outcome.json(name)))
        for name in ("check/gx_results.json", "check/findings.json", "check/expectation_suite.json")
    }
    reports["the log"] = outcome.warnings
    for name, strings in reports.items():
        windows = {s[i : i + size] for s in strings for i in range(len(s) - size + 1)}
        assert not windows & snippets, f"{name} quotes record text: {sorted(windows & snippets)[:3]}"


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# --- 2. bad inputs: a clear message or a quarantine reason, never a crash ---------------

TICKETS = [
    ("My invoice shows the same subscription charge twice this month.", "billing"),
    ("Please refund the late fee that was added after I paid on time.", "billing"),
    ("The annual plan price went up without any notice to me.", "billing"),
    ("I was billed for a premium tier that I never ordered.", "billing"),
    ("Your payment page rejects my card although it has funds.", "billing"),
    ("Can I get a receipt with the tax amount shown separately?", "billing"),
    ("The parcel has been stuck at the sorting centre for a week.", "shipping"),
    ("The courier left the package outside in heavy rain and it got soaked.", "shipping"),
    ("Tracking says delivered but nothing arrived at my door.", "shipping"),
    ("Two items from my order were missing from the box.", "shipping"),
    ("The delivery window keeps moving to a later day every morning.", "shipping"),
    ("The box came crushed and the lamp inside is broken.", "shipping"),
]
TICKET_HEADER = ["id", "text", "label", "gender"]


def tickets_config(*sources: dict[str, Any]) -> dict[str, Any]:
    return {"sources": list(sources)}


@pytest.fixture(scope="module")
def all_null_protected(tmp_path_factory) -> Outcome:
    folder = tmp_path_factory.mktemp("all-null-protected")
    write_csv(
        folder / "tickets.csv", TICKET_HEADER, [[i, text, label, ""] for i, (text, label) in enumerate(TICKETS, 1)]
    )
    return run_all(folder, tickets_config(csv_source("tickets.csv")))


@pytest.fixture(scope="module")
def single_row(tmp_path_factory) -> Outcome:
    folder = tmp_path_factory.mktemp("single-row")
    write_csv(folder / "tickets.csv", TICKET_HEADER, [[1, TICKETS[0][0], TICKETS[0][1], "f"]])
    return run_all(folder, tickets_config(csv_source("tickets.csv")))


@pytest.fixture(scope="module")
def identical_rows(tmp_path_factory) -> Outcome:
    folder = tmp_path_factory.mktemp("identical-rows")
    write_csv(folder / "tickets.csv", TICKET_HEADER, [[7, TICKETS[0][0], "billing", "f"]] * 10)
    return run_all(folder, tickets_config(csv_source("tickets.csv")))


@pytest.fixture(scope="module")
def one_class(tmp_path_factory) -> Outcome:
    folder = tmp_path_factory.mktemp("one-class")
    write_csv(
        folder / "tickets.csv",
        TICKET_HEADER,
        [[i, text, "billing", "fm"[i % 2]] for i, (text, _) in enumerate(TICKETS, 1)],
    )
    return run_all(folder, tickets_config(csv_source("tickets.csv")))


NUMBERS = [
    "12345",
    "3.14",
    "-42",
    "1,000.50",
    "2024",
    "0.001",
    "7",
    "98.6",
    "3.14159265358979323846",
    "271828182845904523536",
    "100",
    "55.5",
]


@pytest.fixture(scope="module")
def numeric_text(tmp_path_factory) -> Outcome:
    """Numbers in the text column: as strings in a CSV, and as JSON numbers in a JSON Lines export."""
    folder = tmp_path_factory.mktemp("numeric-text")
    write_csv(
        folder / "numbers.csv", TICKET_HEADER, [[i, number, "ab"[i % 2], "f"] for i, number in enumerate(NUMBERS, 1)]
    )
    with (folder / "numbers.jsonl").open("w", encoding="utf-8") as handle:
        for i, number in enumerate([12345, 3.14, -42, 2024, 0.001, 98.6, 314159265358979323846, 100], 1):
            handle.write(json.dumps({"id": i, "text": number, "label": "ab"[i % 2], "gender": "m"}) + "\n")
    return run_all(
        folder, tickets_config(csv_source("numbers.csv", name="csv"), csv_source("numbers.jsonl", name="jsonl"))
    )


BAD_INPUTS = ["all_null_protected", "single_row", "identical_rows", "one_class", "numeric_text"]


@pytest.mark.parametrize("case", [*BAD_INPUTS, "cfpb"])
def test_every_row_is_accounted_for_in_every_stage(case, request):
    outcome: Outcome = request.getfixturevalue(case).finished()
    previous_kept = None
    for stage in STAGES:
        stats = outcome.stats(stage)
        assert stats["total"] == stats["kept"] + stats["quarantined"], stage
        assert previous_kept is None or stats["total"] == previous_kept, (
            f"{stage} did not receive the rows the stage before kept"
        )
        previous_kept = stats["kept"]
        assert len(outcome.quarantine(stage)) == stats["quarantined"], stage
    assert outcome.manifest["stages"]["curate"]["status"] == "finished"


def _result(outcome: Outcome, expectation: str, column: str) -> dict[str, Any]:
    results = [
        r
        for r in outcome.json("check/gx_results.json")["results"]
        if r["expectation"] == expectation and r["kwargs"].get("column") == column
    ]
    assert len(results) == 1, f"no single {expectation} on '{column}' in check/gx_results.json"
    return results[0]


def test_an_all_null_protected_column_is_a_contract_warning(all_null_protected):
    result = _result(all_null_protected, "expect_column_values_to_not_be_null", "gender")
    assert result["severity"] == "warning" and result["success"] is False
    assert result["element_count"] == len(TICKETS) and result["unexpected_count"] == len(TICKETS)
    assert "error" not in result, f"GX could not evaluate the expectation: {result.get('error')}"
    summary = all_null_protected.json("check/gx_results.json")["summary"]
    assert summary["failed"] == {"critical": 0, "warning": 1, "info": 0}
    assert all_null_protected.stats("check")["contract_failed"]["warning"] == 1
    assert all_null_protected.stats("curate")["kept"] == len(TICKETS)  # a contract warning takes no rows away
    said = [m for m in all_null_protected.warnings if "expect_column_values_to_not_be_null on 'gender'" in m]
    assert len(said) == 1 and f"{len(TICKETS)} of {len(TICKETS)} rows unexpected (100.00%)" in said[0]


def test_tiny_runs_quote_no_ticket_text(all_null_protected, identical_rows, one_class):
    texts = [text for text, _ in TICKETS]
    for outcome in (all_null_protected, identical_rows, one_class):
        assert_quotes_no_text(outcome, texts, labels={"billing", "shipping"}, size=20)


def test_a_single_row_skips_the_label_check_with_a_reason(single_row):
    labels = single_row.json("check/findings.json")["labels"]
    assert labels["skipped"] and "at least two classes" in labels["skipped"]
    assert labels["class_counts"] == {"billing": 1}
    checked = single_row.records("check")
    assert checked["cluster_id"].tolist() == checked["row_id"].tolist() == ["tickets:1"]
    assert checked["qc_label_quality"].isna().all()
    assert single_row.stats("curate")["kept"] == 1


def test_identical_rows_keep_one_and_quarantine_the_rest_as_exact_duplicates(identical_rows):
    ingested = identical_rows.stats("ingest")
    assert ingested["kept"] == 10 and ingested["duplicate_ids"] == 9
    entries = identical_rows.quarantine("curate")
    assert [e["reason"] for e in entries] == ["exact_duplicate"] * 9
    assert {e["kept_row_id"] for e in entries} == {"tickets:7"}
    assert sorted(e["row_id"] for e in entries) == sorted(f"tickets:7#{n}" for n in range(2, 11))
    assert identical_rows.records("curate")["row_id"].tolist() == ["tickets:7"]
    findings = identical_rows.json("check/findings.json")
    assert findings["duplicates"]["exact_duplicate_rows"] == 9 and findings["duplicates"]["largest_cluster"] == 10
    assert findings["labels"]["skipped"] and "at least two classes" in findings["labels"]["skipped"]
    id_unique = _result(identical_rows, "expect_column_values_to_be_unique", "id")
    assert id_unique["severity"] == "warning" and id_unique["success"] is False


def test_one_label_class_skips_the_label_check_with_a_reason(one_class):
    labels = one_class.json("check/findings.json")["labels"]
    assert (
        labels["skipped"]
        and "at least two classes" in labels["skipped"]
        and "1 of the 1 class(es)" in labels["skipped"]
    )
    assert any(m.startswith("label check skipped: needs at least two classes") for m in one_class.warnings)
    assert labels["class_counts"] == {"billing": len(TICKETS)}
    assert labels["likely_mislabelled"] == 0
    stats = one_class.stats("curate")
    assert stats["kept"] == len(TICKETS) and stats["flagged_kept"] == {"rare_class": len(TICKETS)}


def test_numeric_texts_are_quarantined_for_their_letters(numeric_text):
    entries = numeric_text.quarantine("curate")
    total = numeric_text.stats("check")["total"]
    assert len(entries) == total, "every numeric text should leave the main path"
    for entry in entries:
        assert entry["reason"] in ("too_short", "low_alpha_share", *DUPLICATE_REASONS), entry
        if entry["reason"] not in DUPLICATE_REASONS:
            assert "letters 0.0 < curate.min_alpha_share" in entry["detail"], entry
    long_numbers = {e["row_id"] for e in entries if e["reason"] == "low_alpha_share"}
    assert {"csv:9", "csv:10", "jsonl:7"} <= long_numbers  # 20+ characters: not too short, but no letters
    labels = numeric_text.json("check/findings.json")["labels"]
    assert labels["skipped"] is None or "nothing to learn" in labels["skipped"], labels["skipped"]


def test_a_failed_critical_expectation_stops_the_run_and_a_warning_does_not(tmp_path):
    write_csv(
        tmp_path / "tickets.csv", TICKET_HEADER, [[i, text, label, "f"] for i, (text, label) in enumerate(TICKETS, 1)]
    )
    labels = sorted({label for _, label in TICKETS})
    contract = {
        "labels": labels[1:],
        "extra_expectations": [
            {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "id", "regex": "^x"}}
        ],
    }
    outcome = run_all(tmp_path, {**tickets_config(csv_source("tickets.csv")), "check": {"contract": contract}})
    assert isinstance(outcome.error, InputError)
    message = str(outcome.error)
    assert (
        "1 critical expectation(s)" in message
        and "expect_column_values_to_be_in_set on 'label'" in message
        and "check.contract" in message
    )
    assert not any(text in message for text, _ in TICKETS)
    results = json.loads(outcome.run_dir.path("check/gx_results.json").read_text(encoding="utf-8"))
    assert results["summary"]["failed"] == {"critical": 1, "warning": 1, "info": 0}
    manifest = json.loads(outcome.run_dir.path("manifest.json").read_text(encoding="utf-8"))
    assert manifest["stages"]["check"]["status"] == "failed" and "curate" not in manifest["stages"]
    assert any("expect_column_values_to_match_regex on 'id'" in warning for warning in outcome.warnings)
