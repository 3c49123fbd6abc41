"""The Ray executor, in an environment with the `[ray]` extra (.ci/run makes one): on a local Ray
cluster the redact stage's shards run on Ray actors and give the same outputs as the local executor."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.orchestration.tiny import tiny_config

if importlib.util.find_spec("ray") is None:
    pytest.skip(
        "needs the [ray] extra (pip install -e '.[ray]'; .ci/run makes an environment with it)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.slow


def redact_with(executor: str, config: Path, run_dir: Path) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--to",
            "redact",
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
    return json.loads((run_dir / "manifest.json").read_text())["stages"]["redact"]


def test_the_ray_executor_gives_the_local_executors_outputs(tmp_path):
    config = tiny_config(tmp_path)
    settings = yaml.safe_load(config.read_text())
    settings["redact"]["workers"] = 2  # two Ray actors, two pool processes
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    on_ray = redact_with("ray", config, tmp_path / "ray" / "run")
    local = redact_with("local", config, tmp_path / "local" / "run")
    assert on_ray["outputs"] == local["outputs"]
    assert on_ray["stats"]["total"] == 240 and on_ray["stats"] == local["stats"]
    assert not (tmp_path / "ray" / "run" / "redact" / "shards").exists()
