"""A tiny whole-pipeline config for the orchestrator tests, and the CLI run their results are compared with."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from tests.integration.runs import SAMPLE_COLUMNS, sample_tickets, write_run

DAGS = Path(__file__).resolve().parents[2] / "dags"
COLUMNS = SAMPLE_COLUMNS
SETTINGS = {
    "redact": {"workers": 1, "demo_key_if_unset": True, "shard_rows": 50},  # 5 shards, for the mapped tasks
    "train": {
        "max_length": 32,
        "epochs": 1,
        "batch_size": 32,
        "physical_batch_size": 16,
        "target_epsilon": 8.0,
        "canaries": 0,
    },
    "evaluate": {"min_group_rows": 10, "membership_rows": 200},
    # a model trained for one epoch on 240 rows: the policy gates only what holds for any DP run
    "report": {"policy": {"max_membership_auc": None, "max_accuracy_gap": None, "max_contaminated_test_rows": None}},
}


def tiny_config(folder: Path) -> Path:
    """240 sample tickets through every stage, with a one-epoch DP training; the config's path."""
    return write_run(folder, sample_tickets(240), COLUMNS, SETTINGS)


def write_export(path: Path, rows: list[dict[str, str]]) -> None:
    """A month's export, replacing last month's in place (the config names the same file every month)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def cli_run(config: Path, run_dir: Path) -> Path:
    """`python -m pipeline run` on the config; the run directory."""
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--config", str(config), "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir


WHEN = {"started", "finished", "duration_s", "evaluated_at"}


def same_results(run_dir: Path) -> dict:
    """What two runs of the same config must share: every output's hash, except the report's,
    which records when each stage ran; for the report, its JSON without those times."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    hashes = {name: entry["outputs"] for name, entry in manifest["stages"].items() if name != "report"}
    return {"hashes": hashes, "report": _without_times(json.loads((run_dir / "report" / "report.json").read_text()))}


def _without_times(value):
    if isinstance(value, dict):
        return {key: _without_times(item) for key, item in value.items() if key not in WHEN}
    if isinstance(value, list):
        return [_without_times(item) for item in value]
    return value
