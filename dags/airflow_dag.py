"""The pipeline as an Airflow 3 DAG: one task per stage, in the CLI's order.

Each task runs one stage with `pipeline.stage.run_named_stage`, the function
behind `python -m pipeline stage NAME`, into the run directory given as a DAG
param. Before each stage's task, `<stage>_plan` splits a sharded stage's
input into groups of shards (`pipeline.executors.plan_parts`) and
`<stage>_shards` is mapped over them (dynamic task mapping,
`pipeline.executors.process_part`), so the slow part of the stage spreads
over the workers; the stage's task then merges the shards in order (the
outputs equal the CLI's). A stage that is not sharded (today all but
`redact`) plans no group: its `<stage>_shards` is skipped and the stage runs
as a whole. Which stages are sharded is the pipeline's to say, not this
file's. A stage that is already up to date is skipped, so a retry or a second
trigger with the same params resumes where the run stopped. Failures the user
must fix (a bad config, unusable input, a policy verdict of FAIL) fail the
task at once; anything else is retried with exponential backoff.

The pipeline is imported inside the tasks, so the scheduler parses this file
without loading torch or spaCy.

Trigger with params, for example:
`{"config": "/srv/pipeline/config.yaml", "run_dir": "/shared/runs/tickets-2026-11", "shard_parts": 8}`.
Empty strings mean the bundled sample config and `runs/<run_name>` under the
worker's working directory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, chain, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

# pipeline.config.STAGE_NAMES, repeated so that parsing imports nothing of the pipeline (a test keeps them equal)
STAGES = ("ingest", "redact", "check", "curate", "split", "train", "evaluate", "report")
RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
}


def stage_task(name: str):
    # none_failed: a stage that is not sharded runs after its skipped (never expanded) `<stage>_shards`
    @task(task_id=name, trigger_rule="none_failed", **RETRIES)
    def run_stage() -> dict[str, Any]:
        from pipeline.stage import run_named_stage

        return _fail_fast_on_user_errors(lambda config, run_dir: run_named_stage(name, config, run_dir))

    return run_stage()


def shard_tasks(name: str):
    """`<name>_plan`, then `<name>_shards` mapped over its groups of shards: what runs before the stage's task."""

    @task(task_id=f"{name}_plan", **RETRIES)
    def plan() -> list[list[int]]:
        """The stage's shards in groups, one per mapped `<name>_shards` task; none if it is not sharded."""
        from pipeline.executors import plan_parts

        parts = get_current_context()["params"]["shard_parts"]
        return _fail_fast_on_user_errors(lambda config, run_dir: plan_parts(name, config, run_dir, parts))

    @task(task_id=f"{name}_shards", **RETRIES)
    def process(shards: list[int]) -> dict[str, int]:
        """Process one group of shards; the stage's task merges them in order (counts only in XCom)."""
        from pipeline.executors import process_part

        return _fail_fast_on_user_errors(lambda config, run_dir: process_part(name, config, run_dir, shards))

    groups = plan()
    return groups, process.expand(shards=groups)


def _fail_fast_on_user_errors(work: Callable[[str | None, str | None], Any]) -> Any:
    """Run `work(config, run_dir)` with the DAG params; what the user must fix fails the task without retries."""
    from pipeline.errors import ConfigError, InputError, PolicyFailed

    logging.getLogger("pipeline").setLevel(logging.INFO)
    params = get_current_context()["params"]
    try:
        return work(params["config"] or None, params["run_dir"] or None)
    except (ConfigError, InputError, PolicyFailed) as error:
        raise AirflowFailException(str(error)) from error


@dag(
    dag_id="curation_pipeline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "config": Param("", type="string", description="config YAML path (empty: the bundled sample config)"),
        "run_dir": Param(
            "", type="string", description="run directory, on storage every worker sees (empty: runs/<run_name>)"
        ),
        "shard_parts": Param(
            0,
            type="integer",
            minimum=0,
            description="mapped <stage>_shards tasks per sharded stage (0: its workers setting, e.g. redact.workers, "
            "else the worker's cores)",
        ),
    },
    tags=["data-curation", "privacy"],
    doc_md=__doc__,
)
def curation_pipeline() -> None:
    before = None
    for name in STAGES:
        plan, shards = shard_tasks(name)
        stage = stage_task(name)
        chain(*([before] if before is not None else []), plan, shards, stage)
        before = stage


curation_pipeline()
