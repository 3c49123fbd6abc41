"""A run killed with SIGKILL in the middle of a stage resumes and ends with the same outputs."""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import csv_source

ROWS = 400_000


def write_big_csv(path: Path) -> None:
    rng = random.Random(3)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label", "gender"])
        for i in range(ROWS):
            writer.writerow(
                [
                    i,
                    f"ticket {i}\nabout {rng.choice(['billing', 'login', 'refund'])}",
                    rng.choice("abc"),
                    rng.choice(["f", "m", "N/A"]),
                ]
            )


def run_cli(config: Path, run_dir: Path) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "--to",
        "ingest",
        "--config",
        str(config),
        "--run-dir",
        str(run_dir),
    ]
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True)


def stage_status(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "manifest.json").read_text())["stages"]["ingest"]["status"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return None


@pytest.mark.slow
def test_sigkill_mid_stage_then_resume_gives_the_same_output_hashes(write_config, tmp_path):
    write_big_csv(tmp_path / "t.csv")
    config = write_config({"sources": [csv_source("t.csv")]})

    reference = tmp_path / "reference"
    assert run_cli(config, reference).wait() == 0

    killed = tmp_path / "killed"
    process = run_cli(config, killed)
    deadline = time.monotonic() + 60
    while stage_status(killed) != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert stage_status(killed) == "running", "the kill landed after the stage finished; make the input bigger"
    assert not (killed / "ingest" / "records.parquet").exists()

    resumed = run_cli(config, killed)
    assert resumed.wait() == 0, resumed.stderr.read()
    assert stage_status(killed) == "finished"
    assert not list(killed.rglob("*.partial"))
    outputs = lambda run_dir: json.loads((run_dir / "manifest.json").read_text())["stages"]["ingest"]["outputs"]  # noqa: E731
    assert outputs(killed) == outputs(reference)
