"""bench/scale.py's data-stages mode: the generated redacted tickets, the placed redact stage, the row accounting
and the targets."""

import csv

import pyarrow.parquet as pq
import pytest

from bench import scale
from pipeline import layout
from pipeline.stage import _require_upstream, input_hashes, load_run, run_pipeline
from pipeline.stages.redact import HASHED_GROUP


def test_redacted_tickets_are_seeded_with_unique_ids_hashed_customers_and_some_copies():
    stream = scale.RedactedTickets(3)
    rows = [stream.row(i) for i in range(3000)]
    again = scale.RedactedTickets(3)
    assert [again.row(i) for i in range(500)] == rows[:500]
    assert all(len(row) == len(scale.DATA_HEADER) for row in rows)
    assert len({row[0] for row in rows}) == len(rows)
    assert all(HASHED_GROUP.match(row[1]) for row in rows)
    assert 2.4 < len(rows) / len({row[1] for row in rows}) < 3.6
    assert {row[6] for row in rows} == set(scale.TOPICS)
    copies = len(rows) - len({(row[4], row[5]) for row in rows})
    assert 0.003 * len(rows) < copies < 0.02 * len(rows)
    assert "<PERSON>" in "".join(row[5] for row in rows)


def test_each_size_is_a_prefix_of_the_largest(tmp_path):
    paths = scale.write_redacted_datasets([20, 50], seed=1, folder=tmp_path)
    small, large = ([*csv.reader(paths[size].open(encoding="utf-8"))] for size in (20, 50))
    assert small[0] == scale.DATA_HEADER and len(small) == 21 and len(large) == 51
    assert small == large[:21]


def test_placed_redact_stage_is_current_and_lets_check_start(tmp_path):
    data = scale.write_redacted_datasets([60], seed=1, folder=tmp_path)[60]
    config_path = scale.write_data_config(data, shard_rows=25, workers=None)
    config, run_dir = load_run(config_path, tmp_path / "run")
    run_pipeline(config, run_dir, ["ingest"])
    placed = scale.place_redacted(config_path, run_dir.root)
    assert placed["current"]
    assert placed["entry"]["stats"] | {"total": 60, "kept": 60, "quarantined": 0} == placed["entry"]["stats"]
    assert set(placed["entry"]["outputs"]) == {
        layout.REDACTED_RECORDS,
        layout.PII_LEDGER,
        layout.ROW_FINDINGS,
        layout.quarantine("redact"),
    }
    records = pq.ParquetFile(run_dir.path(layout.REDACTED_RECORDS))
    ingested = pq.read_table(run_dir.path(layout.INGESTED_RECORDS))
    assert records.read().equals(ingested) and records.metadata.row_group(0).num_rows == 25
    _require_upstream(run_dir.read_manifest(), "check", config, input_hashes(config), run_dir)  # raises if not


@pytest.mark.parametrize(
    ("stats", "given", "problem"),
    [
        ({"total": 10, "kept": 7, "quarantined": 3}, 10, None),
        ({"total": 10, "kept": 7, "quarantined": 2}, 10, "rows lost: total 10 != kept 7 + quarantined 2"),
        ({"total": 9, "kept": 7, "quarantined": 2}, 10, "total 9 != 10 rows curate kept"),
        ({"total": 10, "kept": 10}, 10, "the stage's stats lack quarantined"),
    ],
)
def test_accounting_problem(stats, given, problem):
    assert scale.accounting_problem(stats, given, "rows curate kept") == problem


def _measured(rows, parent, worker, ms_per_row, stage="check"):
    return {
        "rows": rows,
        "stage": stage,
        "parent_peak_rss_mb": parent,
        "worker_peak_rss_mb": worker,
        "ms_per_row": ms_per_row,
    }


def test_targets_compare_the_largest_size_with_the_smallest():
    targets = scale.stage_targets(
        [
            _measured(100_000, 1000.0, None, 2.0),
            _measured(300_000, 1200.0, None, 2.2),
            _measured(1_000_000, 1600.0, None, 2.9),
            {"rows": 1_000_000, "stage": "split", "failed": "split: total 1 != 2 rows curate kept"},
        ]
    )
    assert set(targets) == {"check"}
    check = targets["check"]
    assert (check["small_rows"], check["large_rows"]) == (100_000, 1_000_000)
    assert check["parent_rss_ratio"] == pytest.approx(1.6) and check["cost_ratio"] == pytest.approx(1.45)
    assert check["passed"] == {
        "parent_rss_ratio": False,
        "worker_rss_ratio": None,
        "peak_rss_mb": True,
        "cost_ratio": True,
    }


def test_peak_rss_over_6_gb_fails_even_at_one_size():
    check = scale.stage_targets([_measured(1_000_000, 800.0, 6000.0, 1.0)])["check"]
    assert check["parent_rss_ratio"] is None and check["passed"]["peak_rss_mb"] is False
