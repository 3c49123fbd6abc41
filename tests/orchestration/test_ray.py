"""The Ray executor, in an environment with the `[ray]` extra (.ci/run makes one): on a local Ray
cluster the sharded stages' shards (redact, check) run on Ray actors and give the same outputs as the
local executor."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.runs import SAMPLE_COLUMNS, sample_tickets, write_run
from tests.orchestration.tiny import tiny_config

if importlib.util.find_spec("ray") is None:
    pytest.skip(
        "needs the [ray] extra (pip install -e '.[ray]'; .ci/run makes an environment with it)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.slow


def run_with(executor: str, config: Path, run_dir: Path, last: str = "redact") -> dict:
    """Run the stages up to `last` on `executor`; the manifest's stages."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--to",
            last,
            "--executor",
            executor,
            "--config",
            str(config),
            "--run-dir",
            str(run_dir),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((run_dir / "manifest.json").read_text())["stages"]


def test_the_ray_executor_gives_the_local_executors_outputs(tmp_path):
    config = tiny_config(tmp_path)
    settings = yaml.safe_load(config.read_text())
    settings["redact"]["workers"] = 2  # two Ray actors, two pool processes
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    on_ray = run_with("ray", config, tmp_path / "ray" / "run")["redact"]
    local = run_with("local", config, tmp_path / "local" / "run")["redact"]
    assert on_ray["outputs"] == local["outputs"]
    assert on_ray["stats"]["total"] == 240 and on_ray["stats"] == local["stats"]
    assert not (tmp_path / "ray" / "run" / "redact" / "shards").exists()


DATA_STAGES = ("ingest", "redact", "check", "curate", "split")


def test_the_data_stages_on_two_ray_workers_give_the_local_outputs(tmp_path):
    """Ingest to split on 2,000 sample tickets, redact and check in several shards on two workers each."""
    settings = {
        "redact": {"workers": 2, "demo_key_if_unset": True, "shard_rows": 250},
        "check": {"workers": 2, "shard_rows": 400},
    }
    tickets = [row for row in sample_tickets(2100) if None not in row][:2000]  # the planted malformed rows left out
    config = write_run(tmp_path, tickets, SAMPLE_COLUMNS, settings)
    on_ray = run_with("ray", config, tmp_path / "ray" / "run", last="split")
    local = run_with("local", config, tmp_path / "local" / "run", last="split")
    for stage in DATA_STAGES:
        assert on_ray[stage]["outputs"] == local[stage]["outputs"], stage
        assert on_ray[stage]["stats"] == local[stage]["stats"], stage
    assert on_ray["ingest"]["stats"]["total"] == 2000
    assert on_ray["check"]["stats"]["duplicate_rows"] > 0  # the near-duplicate clusters crossed shards
    assert not (tmp_path / "ray" / "run" / "check" / "work").exists()
