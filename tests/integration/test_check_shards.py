"""The check stage shard by shard: any shard size and worker count gives the outputs of one shard.

One ingest and redact of 600 sample tickets; the check stage then runs on copies of that run
directory with other `check` settings (the redacted records are reused, not redacted again).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from pipeline.artifacts import RunDir
from tests.integration.runs import REDACT, SAMPLE_COLUMNS, Outcome, run_stages, sample_tickets, write_csv

pytestmark = pytest.mark.slow

ROWS = 600
OUTPUTS = ("check/findings.json", "check/gx_results.json", "check/expectation_suite.json")


@pytest.fixture(scope="module")
def redacted(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("check-shards")
    tickets = sample_tickets(ROWS)
    write_csv(folder / "data.csv", list(tickets[0]), [list(row.values()) for row in tickets])
    run_stages(folder / "config.yaml", config(), RunDir(folder / "base"), ["ingest", "redact"]).finished()
    return folder


def config(**check: Any) -> dict[str, Any]:
    return {
        "sources": [{"path": "data.csv", "columns": SAMPLE_COLUMNS}],
        "redact": REDACT,
        "curate": {"languages": []},
        "check": check,
    }


def checked(folder: Path, name: str, **check: Any) -> Outcome:
    run_dir = folder / name
    shutil.copytree(folder / "base", run_dir)
    return run_stages(folder / f"{name}.yaml", config(**check), RunDir(run_dir), ["check"]).finished()


def outputs(outcome: Outcome) -> tuple[pd.DataFrame, dict[str, Any]]:
    files = {name: json.loads(outcome.run_dir.path(name).read_text(encoding="utf-8")) for name in OUTPUTS}
    return outcome.records("check"), files


def test_shards_on_two_workers_give_the_outputs_of_one_shard(redacted):
    whole = checked(redacted, "whole")
    sharded = checked(redacted, "sharded", shard_rows=130, workers=2)
    records, files = outputs(whole)
    sharded_records, sharded_files = outputs(sharded)
    pd.testing.assert_frame_equal(records, sharded_records)
    assert files == sharded_files
    assert whole.stats("check") == sharded.stats("check") and whole.stats("check")["total"] == ROWS
    findings = files["check/findings.json"]
    assert findings["duplicates"]["near_duplicate_rows"] > 0 and findings["labels"]["likely_mislabelled"] > 0
    assert not sharded.run_dir.path("check/work").exists() and not sharded.run_dir.path("check/shards").exists()


def test_above_max_rows_a_seeded_sample_is_label_checked_whatever_the_shards(redacted):
    one_shard = checked(redacted, "sampled", labels={"max_rows": 300})
    sharded = checked(redacted, "sampled-sharded", shard_rows=130, workers=2, labels={"max_rows": 300})
    records, files = outputs(one_shard)
    pd.testing.assert_frame_equal(records, outputs(sharded)[0])
    sample = files["check/findings.json"]["labels"]["sample"]
    scored = records["qc_label_quality"].notna()
    assert sample["of"] == ROWS and 240 <= sample["rows"] <= 360 and scored.sum() == sample["rows"]
    labels = files["check/findings.json"]["labels"]
    assert labels["class_counts"] == records[labels["column"]].value_counts().to_dict()  # of every row, not the sample


def test_shards_checked_by_mapped_tasks_are_merged_by_the_stage(redacted, monkeypatch):
    from pipeline import executors

    whole = checked(redacted, "whole-again")
    run_dir = redacted / "mapped"
    shutil.copytree(redacted / "base", run_dir)
    config_path = redacted / "mapped.yaml"
    config_path.write_text(yaml.safe_dump(config(shard_rows=130)), encoding="utf-8")
    parts = executors.plan_parts("check", str(config_path), str(run_dir), 2)
    assert parts == [[0, 1], [2, 3, 4]]
    counts = [executors.process_part("check", str(config_path), str(run_dir), part) for part in parts]
    assert sum(count["rows"] for count in counts) == ROWS

    def must_not_run(*args, **kwargs):
        raise AssertionError("the stage checked a shard a mapped task had done")
        yield

    monkeypatch.setattr(executors, "map_shards", must_not_run)
    mapped = run_stages(config_path, config(shard_rows=130), RunDir(run_dir), ["check"]).finished()
    pd.testing.assert_frame_equal(outputs(mapped)[0], outputs(whole)[0])
    assert outputs(mapped)[1] == outputs(whole)[1]
    assert not run_dir.joinpath("check", "shards").exists()
