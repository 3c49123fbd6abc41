"""The Airflow DAG, in an environment with the `[airflow]` extra (.ci/run makes one): it parses, its
tasks follow the stage order, and `dag.test()` runs the whole pipeline to the CLI's output hashes."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pipeline.config import STAGE_NAMES
from tests.orchestration.tiny import DAGS, cli_run, same_results, tiny_config

if importlib.util.find_spec("airflow") is None:
    pytest.skip(
        "needs the [airflow] extra in its own environment (pip install -e '.[airflow]'; .ci/run makes one)",
        allow_module_level=True,
    )
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
# Airflow reads its settings once, when first imported
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
)
from airflow.dag_processing.dagbag import DagBag  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=DAGS)


@pytest.fixture(scope="module")
def airflow_db():
    """The metadata database `dag.test()` needs, in a temporary AIRFLOW_HOME."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    yield
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


def test_the_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert list(dagbag.dags) == ["curation_pipeline"]  # prefect_flow.py is in .airflowignore


def test_the_tasks_are_the_stages_in_order_each_after_the_one_before(dagbag):
    dag = dagbag.dags["curation_pipeline"]
    order = [task.task_id for task in dag.topological_sort()]
    assert [name for name in order if name in STAGE_NAMES] == list(STAGE_NAMES)
    upstream = {}
    for before, name in zip((None, *STAGE_NAMES), STAGE_NAMES, strict=False):
        # every stage's plan and mapped shards: a stage that is not sharded plans none, and its shards are skipped
        upstream.update(
            {f"{name}_plan": {before} - {None}, f"{name}_shards": {f"{name}_plan"}, name: {f"{name}_shards"}}
        )
    assert {task.task_id: task.upstream_task_ids for task in dag.tasks} == upstream
    assert all(task.retries == 2 and task.retry_exponential_backoff for task in dag.tasks)
    assert all(dag.get_task(name).trigger_rule == "none_failed" for name in STAGE_NAMES)


def test_dag_test_runs_the_pipeline_to_the_same_hashes_as_the_cli(dagbag, airflow_db, tmp_path):
    config = tiny_config(tmp_path)
    run_dir = tmp_path / "airflow" / "run"  # the same folder name as the CLI's: it is the run id
    dag_run = dagbag.dags["curation_pipeline"].test(
        run_conf={"config": str(config), "run_dir": str(run_dir), "shard_parts": 3}
    )
    assert dag_run.state == "success"
    instances = dag_run.get_task_instances()
    sharded = {"redact_shards": [0, 1, 2], "check_shards": [0]}  # check's 240 rows are one shard: one part
    for task_id, indexes in sharded.items():
        mapped = [ti for ti in instances if ti.task_id == task_id]
        assert sorted(ti.map_index for ti in mapped) == indexes and all(ti.state == "success" for ti in mapped)
    unsharded = [ti for ti in instances if ti.task_id.endswith("_shards") and ti.task_id not in sharded]
    assert len(unsharded) == len(STAGE_NAMES) - len(sharded) and all(ti.state == "skipped" for ti in unsharded)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [name for name, entry in manifest["stages"].items() if entry["status"] == "finished"] == list(STAGE_NAMES)
    assert same_results(run_dir) == same_results(cli_run(config, tmp_path / "cli" / "run"))


def test_a_config_error_fails_the_run_without_retries(dagbag, airflow_db, tmp_path):
    dag_run = dagbag.dags["curation_pipeline"].test(
        run_conf={"config": str(tmp_path / "missing.yaml"), "run_dir": str(tmp_path / "run")}
    )
    assert dag_run.state == "failed"
    ingest = dag_run.get_task_instance("ingest")
    assert ingest.state == "failed" and ingest.try_number == 1
