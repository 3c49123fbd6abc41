"""Ingest of a real public export (CFPB complaints): every row kept or quarantined, no value mangled.

The reference is Python's csv module, an independent parse of the same bytes.
"""

import csv
import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.artifacts import RunDir
from pipeline.config import load_config
from pipeline.stage import run_pipeline

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "public"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))["cfpb_complaints.csv"]
NARRATIVE = "Consumer complaint narrative"


def write_cfpb_config(folder: Path, columns: dict) -> Path:
    path = folder / "config.yaml"
    path.write_text(
        yaml.safe_dump({"sources": [{"path": str(FIXTURES / "cfpb_complaints.csv"), "columns": columns}]}),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def cfpb_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cfpb")
    columns = {
        "id": "Complaint ID",
        "text": ["Issue", NARRATIVE],
        "label": "Product",
        "protected": ["Tags"],
        "passthrough": ["State", "ZIP code", "Consumer disputed?"],
    }
    run_dir = RunDir(folder / "run")
    manifest = run_pipeline(load_config(write_cfpb_config(folder, columns)), run_dir, ["ingest"])
    records = pq.read_table(run_dir.path("ingest/records.parquet")).to_pylist()
    return manifest["stages"]["ingest"]["stats"], records


def reference_rows() -> list[dict[str, str]]:
    with (FIXTURES / "cfpb_complaints.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_fixture_is_the_recorded_file():
    assert hashlib.sha256((FIXTURES / "cfpb_complaints.csv").read_bytes()).hexdigest() == EXPECTED["sha256"]


def test_every_complaint_is_kept(cfpb_run):
    stats, records = cfpb_run
    assert stats["total"] == EXPECTED["records"] == stats["kept"] and stats["quarantined"] == 0
    assert [r["Complaint ID"] for r in records] == [row["Complaint ID"] for row in reference_rows()]


def test_values_match_an_independent_parse(cfpb_run):
    _, records = cfpb_run
    for record, row in zip(records, reference_rows(), strict=True):
        assert record[NARRATIVE] == (row[NARRATIVE].strip() or None)
        assert record["ZIP code"] == (row["ZIP code"] or None)  # leading zeros and 958XX masks survive as text
        assert record["Consumer disputed?"] is None  # N/A in every record
    multi_line = [r for r in records if r[NARRATIVE] and "\n" in r[NARRATIVE]]
    assert len(multi_line) == EXPECTED["records_with_newline_in_text"]


def test_sample_narratives_are_unchanged(cfpb_run):
    _, records = cfpb_run
    for sample in EXPECTED["samples"]:
        assert records[sample["index"]][NARRATIVE] == sample["value"].strip()


def test_narrative_only_text_quarantines_rows_without_one(tmp_path):
    config_path = write_cfpb_config(tmp_path, {"id": "Complaint ID", "text": [NARRATIVE], "label": "Product"})
    stats = run_pipeline(load_config(config_path), RunDir(tmp_path / "run"), ["ingest"])["stages"]["ingest"]["stats"]
    assert stats["kept"] == EXPECTED["records_with_nonempty_text"]
    assert stats["quarantined_by_reason"] == {
        "missing_text": EXPECTED["records"] - EXPECTED["records_with_nonempty_text"]
    }
