"""Incremental runs through the command line: "month 1", then "month 1 + month 2" naming month 1 as its previous run.

Month 2 is month 1 with three rows edited and twenty rows added. The second run must count the rows
exactly (new, changed, seen), take the seen rows' redaction from month 1 as it was written without
analysing them, and end where a run over month 2 from scratch ends.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from pipeline.__main__ import main
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.pii.engine import PiiDetector
from tests.integration.runs import SAMPLE_COLUMNS, sample_tickets

MONTH_1_ROWS, NEW_ROWS = 60, 20
EDITED = (5, 17, 42)  # positions in month 1 whose description month 2 changes
LINEAGE = ["source_file", "source_row"]  # where a row was read: its file's name and line differ between the months
COLUMNS = {**SAMPLE_COLUMNS, "passthrough": ["Created At", "Channel", "Priority"]}


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_config(folder: Path, name: str, data: str, previous_run: str | None = None) -> Path:
    source: dict[str, Any] = {"name": "tickets", "path": data, "columns": COLUMNS}
    if previous_run is not None:
        source["previous_run"] = previous_run
    config = {
        "run_name": name,
        "sources": [source],
        # small shards, so the seen rows of one shard lie in several row groups of month 1's files
        "redact": {"workers": 1, "demo_key_if_unset": True, "shard_rows": 16},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_to_redact(config: Path, run_dir: Path) -> dict[str, Any]:
    assert main(["run", "--config", str(config), "--run-dir", str(run_dir), "--to", "redact"]) == 0
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def months(tmp_path_factory) -> dict[str, Any]:
    """Month 1, month 2 from month 1 (incremental) and month 2 from scratch, each run to redact."""
    folder = tmp_path_factory.mktemp("incremental")
    rows = sample_tickets(MONTH_1_ROWS + NEW_ROWS)
    month_1 = rows[:MONTH_1_ROWS]
    month_2 = [dict(row) for row in month_1] + rows[MONTH_1_ROWS:]
    for position in EDITED:
        month_2[position]["Description"] += " Update: I was charged twice, please call Maria Lopez back."
    write_csv(folder / "month-1.csv", month_1)
    write_csv(folder / "month-2.csv", month_2)
    first = run_to_redact(write_config(folder, "month-1", "month-1.csv"), folder / "runs" / "month-1")
    analysed: list[str] = []
    analyze = PiiDetector.analyze

    def recording(self: PiiDetector, texts: list[str], *args: Any, **kwargs: Any) -> Any:
        analysed.extend(texts)
        return analyze(self, texts, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PiiDetector, "analyze", recording)
        second = run_to_redact(
            write_config(folder, "month-2", "month-2.csv", previous_run="runs/month-1"), folder / "runs" / "month-2"
        )
    scratch = run_to_redact(write_config(folder, "scratch", "month-2.csv"), folder / "runs" / "scratch")
    return {
        "folder": folder,
        "manifests": {"month-1": first, "month-2": second, "scratch": scratch},
        "analysed": analysed,
    }


def read(months: dict[str, Any], run: str, relative: str) -> pd.DataFrame:
    return pd.read_parquet(months["folder"] / "runs" / run / relative).set_index("row_id", drop=False)


def ids(positions) -> list[str]:
    return [f"tickets:TCK-{100001 + position}" for position in positions]


def test_the_second_run_counts_new_changed_and_seen_rows_exactly(months):
    stats = months["manifests"]["month-2"]["stages"]["ingest"]["stats"]
    expected = {"new": NEW_ROWS, "changed": len(EDITED), "seen": MONTH_1_ROWS - len(EDITED)}
    assert stats["row_status"] == expected and stats["per_source"]["tickets"]["row_status"] == expected
    records = read(months, "month-2", "ingest/records.parquet")
    assert records.loc[ids(EDITED), "row_status"].eq("changed").all()
    assert records.loc[ids(range(MONTH_1_ROWS, MONTH_1_ROWS + NEW_ROWS)), "row_status"].eq("new").all()
    assert records["content_hash"].str.fullmatch(r"[0-9a-f]{16}").all()


def test_a_run_without_a_previous_run_has_no_row_status(months):
    records = read(months, "month-1", "ingest/records.parquet")
    assert "row_status" not in records and "content_hash" not in records
    assert "row_status" not in months["manifests"]["month-1"]["stages"]["ingest"]["stats"]


def test_the_seen_rows_take_month_1s_redaction_without_being_analysed(months):
    stats = months["manifests"]["month-2"]["stages"]["redact"]["stats"]
    seen = MONTH_1_ROWS - len(EDITED)
    assert stats["reused_from_previous_run"] == seen and stats["analysed"] == NEW_ROWS + len(EDITED)
    assert stats["reuse_refused"] == {}
    records = read(months, "month-2", "ingest/records.parquet")
    analysed = records[records["row_status"] != "seen"]
    assert len(months["analysed"]) == 2 * len(analysed)  # the subject and the description of each, no other text
    assert set(analysed["Description"]) <= set(months["analysed"])


def test_the_seen_rows_redacted_values_are_those_month_1_wrote(months):
    before = read(months, "month-1", "redact/records.parquet")
    after = read(months, "month-2", "redact/records.parquet")
    seen = after.index[after["row_status"] == "seen"]
    assert len(seen) == MONTH_1_ROWS - len(EDITED)
    columns = [c for c in before.columns if c not in LINEAGE]
    assert after.loc[seen, columns].equals(before.loc[seen, columns])
    findings_before = read(months, "month-1", "redact/row_findings.parquet")
    findings_after = read(months, "month-2", "redact/row_findings.parquet")
    assert findings_after.loc[seen].equals(findings_before.loc[seen])


def test_reusing_ends_where_a_run_from_scratch_ends(months):
    incremental = read(months, "month-2", "redact/records.parquet").drop(columns=["content_hash", "row_status"])
    assert incremental.equals(read(months, "scratch", "redact/records.parquet"))
    ledgers = [
        json.loads((months["folder"] / "runs" / run / "redact" / "pii_ledger.json").read_text(encoding="utf-8"))
        for run in ("month-2", "scratch")
    ]
    assert ledgers[0].pop("reused_from_previous_run") == MONTH_1_ROWS - len(EDITED)
    assert ledgers[0].pop("reuse_refused") == {}
    assert ledgers[0] == ledgers[1]


def test_a_previous_run_of_another_source_is_a_config_error(months):
    folder = months["folder"]
    config = yaml.safe_load((folder / "month-2.yaml").read_text(encoding="utf-8"))
    config["sources"][0]["name"] = "helpdesk"
    path = folder / "renamed.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.previous_run: the run at .* has no source named 'helpdesk'"):
        load_config(path)
