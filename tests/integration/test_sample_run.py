"""`python -m pipeline run` with no arguments, on the bundled sample, checked against what was planted."""

import json
import re
import subprocess
import sys
from pathlib import Path

import ahocorasick
import pandas as pd
import phonenumbers
import pytest

from pipeline.config import default_config_path

SAMPLE = default_config_path().parent / "sample_data"
PLANTED = json.loads((SAMPLE / "planted.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    cwd = tmp_path_factory.mktemp("default-run")
    result = subprocess.run([sys.executable, "-m", "pipeline", "run"], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return cwd / "runs" / "sample", result


@pytest.fixture(scope="module")
def quarantine(sample_run) -> pd.DataFrame:
    run_dir, _ = sample_run
    return pd.read_json(run_dir / "quarantine" / "ingest.jsonl", lines=True)


@pytest.fixture(scope="module")
def records(sample_run) -> pd.DataFrame:
    run_dir, _ = sample_run
    return pd.read_parquet(run_dir / "ingest" / "records.parquet")


def quarantined_rows(quarantine: pd.DataFrame, source: str, reason: str) -> pd.DataFrame:
    return quarantine[(quarantine["source"] == source) & (quarantine["reason"] == reason)]


pytestmark = pytest.mark.slow


def test_every_data_row_of_the_sample_is_accounted_for(sample_run):
    run_dir, _ = sample_run
    stats = json.loads((run_dir / "manifest.json").read_text())["stages"]["ingest"]["stats"]
    assert stats["per_source"]["helpdesk"]["total"] == PLANTED["tickets_csv"]["data_records"]
    assert stats["per_source"]["chat"]["total"] == PLANTED["chat_export_jsonl"]["lines"]
    assert stats["total"] == stats["kept"] + stats["quarantined"]


def test_broken_csv_rows_are_quarantined_at_their_planted_lines(quarantine):
    csv_truth = PLANTED["tickets_csv"]
    assert sorted(quarantined_rows(quarantine, "helpdesk", "too_many_fields")["source_row"]) == csv_truth["too_many_fields"]
    assert sorted(quarantined_rows(quarantine, "helpdesk", "too_few_fields")["source_row"]) == csv_truth["too_few_fields"]
    missing_text = quarantined_rows(quarantine, "helpdesk", "missing_text")
    all_empty = missing_text["source_row"].isin(csv_truth["all_fields_empty"])
    assert sorted(missing_text[all_empty]["source_row"]) == csv_truth["all_fields_empty"]
    assert set(missing_text[~all_empty]["row_id"]) == {f"helpdesk:{i}" for i in csv_truth["missing_text"]}
    assert set(quarantined_rows(quarantine, "helpdesk", "missing_label")["row_id"]) == {f"helpdesk:{i}" for i in csv_truth["missing_label"]}


def test_broken_jsonl_lines_are_quarantined_at_their_planted_lines(quarantine):
    chat_truth = PLANTED["chat_export_jsonl"]
    assert sorted(quarantined_rows(quarantine, "chat", "unparseable_json")["source_row"]) == chat_truth["invalid_json"]
    assert sorted(quarantined_rows(quarantine, "chat", "not_an_object")["source_row"]) == chat_truth["not_an_object"]
    assert set(quarantined_rows(quarantine, "chat", "missing_text")["row_id"]) == {f"chat:{i}" for i in chat_truth["missing_text"]}
    assert set(quarantined_rows(quarantine, "chat", "missing_label")["row_id"]) == {f"chat:{i}" for i in chat_truth["missing_label"]}


def test_nothing_else_is_quarantined(quarantine):
    csv_truth, chat_truth = PLANTED["tickets_csv"], PLANTED["chat_export_jsonl"]
    planted = (
        len(csv_truth["too_many_fields"]) + len(csv_truth["too_few_fields"]) + len(csv_truth["all_fields_empty"])
        + len(csv_truth["missing_text"]) + len(csv_truth["missing_label"])
        + len(chat_truth["invalid_json"]) + len(chat_truth["not_an_object"]) + len(chat_truth["missing_text"]) + len(chat_truth["missing_label"])
    )
    assert len(quarantine) == planted


def test_cp1252_rows_are_decoded_without_mojibake(records):
    rows = records[records["ticket_id"].isin(PLANTED["tickets_csv"]["cp1252_rows"])]
    assert len(rows) == len(PLANTED["tickets_csv"]["cp1252_rows"])
    text = " ".join(rows[["customer_name", "subject", "body"]].fillna("").agg(" ".join, axis=1))
    assert any(ch in text for ch in "éüïñ") and "Ã" not in text and "\ufffd" not in text


def test_reexported_tickets_keep_distinct_row_ids(records):
    for ticket_id, _, _ in PLANTED["tickets_csv"]["exact_reexports"]:
        assert {f"helpdesk:{ticket_id}", f"helpdesk:{ticket_id}#2"} <= set(records["row_id"])
    assert records["row_id"].is_unique


def test_values_are_normalised(records):
    for spelling in PLANTED["missing_value_spellings"]:
        for column in ("customer_phone", "gender", "age_band", "customer_email", "priority"):
            assert not (records[column] == spelling).any(), (column, spelling)
    assert records["body"].str.contains("\n").sum() > 100
    assert not records["body"].str.contains("\r").any()
    assert set(records["source"]) == {"helpdesk", "chat"}
    assert records["category"].notna().all() and (records["subject"].notna() | records["body"].notna()).all()


def test_no_personal_data_in_manifest_schema_quarantine_or_log(sample_run):
    run_dir, result = sample_run
    raw = pd.read_csv(SAMPLE / "tickets.csv", dtype=str, keep_default_na=False, on_bad_lines="skip", encoding="utf-8", encoding_errors="replace")
    personal = {v for column in ("Customer Name", "Customer Email", "Customer Phone") for v in raw[column] if len(v) > 5 and v not in PLANTED["missing_value_spellings"]}
    assert len(personal) > 1000
    texts = {
        "manifest": (run_dir / "manifest.json").read_text(),
        "schema": (run_dir / "ingest" / "schema.json").read_text(),
        "quarantine": (run_dir / "quarantine" / "ingest.jsonl").read_text(),
        "log": result.stderr + result.stdout,
    }
    for name, text in texts.items():
        leaked = [value for value in personal if value in text]
        assert not leaked, f"{name} contains {len(leaked)} personal value(s)"


def test_second_run_skips_and_force_reruns(sample_run):
    run_dir, _ = sample_run
    cwd = run_dir.parent.parent
    again = subprocess.run([sys.executable, "-m", "pipeline", "run"], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "ingest: up to date, skipped" in again.stderr
    forced = subprocess.run([sys.executable, "-m", "pipeline", "run", "--force"], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert forced.returncode == 0 and "ingest: finished" in forced.stderr


def test_generator_reproduces_the_shipped_files_byte_for_byte(tmp_path):
    pytest.importorskip("faker", reason="the generator needs the dev extra")
    subprocess.run([sys.executable, "-m", "pipeline.sample_data.generate", "--out", str(tmp_path)], check=True, timeout=300)
    for name in ("tickets.csv", "chat_export.jsonl", "planted.json"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name


EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
DIGIT_RUN = re.compile(r"\+?\d[\d \-().]{8,}\d")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def test_no_personal_data_survives_redaction(sample_run, records):
    """No identifier value of any row, and no email, phone or card number, in any output after redact."""
    run_dir, result = sample_run
    redacted = pd.read_parquet(run_dir / "redact" / "records.parquet")
    texts = {
        "redacted records": "\n".join(redacted[["subject", "body"]].fillna("").agg("\n".join, axis=1)),
        "redact quarantine": (run_dir / "quarantine" / "redact.jsonl").read_text(),
        "ledger": (run_dir / "redact" / "pii_ledger.json").read_text(),
        "manifest": (run_dir / "manifest.json").read_text(),
        "log": result.stderr + result.stdout,
    }
    assert not {"customer_name", "customer_email", "customer_phone"} & set(redacted.columns)
    assert redacted["customer_id"].dropna().str.match(r"^grp_[0-9a-f]{16}$").all()
    identifiers = ahocorasick.Automaton()
    for column in ("customer_name", "customer_email", "customer_phone", "customer_id"):
        for value in records[column].dropna().unique():
            identifiers.add_word(value.lower(), (column, value))
    identifiers.make_automaton()
    for name, text in texts.items():
        found = {column for _, (column, _) in identifiers.iter(text.lower())}
        assert not found, f"{name} contains values of {sorted(found)}"
        assert not EMAIL.findall(text), f"{name} contains an email address"
        cards = [run for run in DIGIT_RUN.findall(text) if 12 <= len(re.sub(r"\D", "", run)) <= 19 and luhn_valid(re.sub(r"\D", "", run))]
        assert not cards, f"{name} contains {len(cards)} card number(s)"
        phones = [
            m for region in ("US", "GB", "DE", "FR", "IN") for m in phonenumbers.PhoneNumberMatcher(text, region)
            if len(phonenumbers.national_significant_number(m.number)) >= 7 and text[m.start - 1] not in "-#"  # ORD-3108912, #1682866: order numbers
        ]
        assert not phones, f"{name} contains {len(phones)} phone number(s)"


def test_redact_keeps_every_row_accounted_for(sample_run):
    run_dir, _ = sample_run
    stages = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert stages["redact"]["stats"]["total"] == stages["ingest"]["stats"]["kept"]
    assert stages["redact"]["stats"]["total"] == stages["redact"]["stats"]["kept"] + stages["redact"]["stats"]["quarantined"]
