"""Running real stages on small inputs in tests, keeping what happened: the manifest or the exception, and the warnings."""

from __future__ import annotations

import csv
import json
import logging
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from pipeline.artifacts import RunDir
from pipeline.config import default_config_path, load_config
from pipeline.stage import run_pipeline

REDACT = {"workers": 1, "demo_key_if_unset": True}
SAMPLE = default_config_path().parent / "sample_data" / "tickets.csv"
DATA_STAGES = ["ingest", "redact", "check", "curate", "split"]
SAMPLE_COLUMNS = {  # the column roles of the bundled sample's tickets.csv, by its header names
    "id": "Ticket ID",
    "text": ["Subject", "Description"],
    "label": "Category",
    "protected": ["Gender", "Age Band"],
    "identifier": ["Customer Name", "Customer Email", "Customer Phone"],
    "group": "Customer ID",
}
SMALL_TRAIN = {
    "max_length": 64,
    "epochs": 3,
    "batch_size": 32,
    "physical_batch_size": 16,
    "learning_rate": 0.01,
    "target_epsilon": 8.0,
    "canaries": 0,  # the audit has tests of its own (test_evaluate_report, test_sample_run)
}


def sample_tickets(count: int) -> list[dict[str, str]]:
    """The first `count` tickets of the bundled sample CSV (its header names)."""
    with SAMPLE.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        return [row for _, row in zip(range(count), csv.DictReader(handle), strict=False)]


def write_run(folder: Path, rows: list[dict[str, str]], columns: dict[str, Any], extra: dict[str, Any]) -> Path:
    with (folder / "data.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    config = {
        "run_name": folder.name,
        "sources": [{"path": "data.csv", "columns": columns}],
        "redact": {"workers": 1, "demo_key_if_unset": True},
        "curate": {"languages": []},
        **extra,
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def with_train(path: Path, name: str, *, policy: dict[str, Any] | None = None, **train: Any) -> Path:
    """A copy of the config beside it (so its sources resolve to the same files) with other train (and policy) settings."""
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["train"] = {**config.get("train", {}), **train}
    if policy:
        report = config.setdefault("report", {})
        report["policy"] = {**report.get("policy", {}), **policy}
    target = path.with_name(f"config-{name}.yaml")
    target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return target


@dataclass
class Outcome:
    """What one pipeline run left behind: its run directory, and the manifest or the exception it raised."""

    run_dir: RunDir
    manifest: dict[str, Any] | None
    warnings: list[str]  # what the run logged at WARNING and above: what a user sees on the console
    error: BaseException | None = None
    trace: str = ""

    def finished(self) -> Outcome:
        """This outcome, or a test failure quoting the exception and its traceback."""
        if self.error is not None:
            pytest.fail(
                f"the pipeline raised {type(self.error).__name__} instead of finishing:\n{self.trace}", pytrace=False
            )
        return self

    def stats(self, stage: str) -> dict[str, Any]:
        return self.finished().manifest["stages"][stage]["stats"]

    def json(self, relative: str) -> Any:
        return json.loads(self.finished().run_dir.path(relative).read_text(encoding="utf-8"))

    def records(self, stage: str) -> pd.DataFrame:
        return pd.read_parquet(self.finished().run_dir.path(f"{stage}/records.parquet"))

    def quarantine(self, stage: str) -> list[dict[str, Any]]:
        """The stage's quarantine entries; [] for a stage that has no quarantine file (check)."""
        relative = f"quarantine/{stage}.jsonl"
        if relative not in self.finished().manifest["stages"][stage]["outputs"]:
            return []
        text = self.run_dir.path(relative).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_stages(path: Path, config: dict[str, Any], run_dir: RunDir, stages: list[str]) -> Outcome:
    """Write `config` to `path`, run `stages` into `run_dir`, and keep what happened."""
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    handler = Collect()
    logging.getLogger("pipeline").addHandler(handler)
    try:
        manifest = run_pipeline(load_config(path), run_dir, stages)
    except Exception as error:  # kept, so every test on this run shows it
        return Outcome(run_dir, None, handler.messages, error, traceback.format_exc())
    finally:
        logging.getLogger("pipeline").removeHandler(handler)
    return Outcome(run_dir, manifest, handler.messages)


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
