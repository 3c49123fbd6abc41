"""The pipeline as an Airflow 3 DAG: one task per stage, in the CLI's order.

Each task runs one stage with `pipeline.stage.run_named_stage`, the function
behind `python -m pipeline stage NAME`, into the run directory given as a DAG
param. Before the `redact` task, `redact_plan` splits the ingested rows into
groups of shards and `redact_shards` is mapped over them (dynamic task
mapping), so the slow part of the stage spreads over the workers; `redact`
then merges the shards in order (the outputs equal the CLI's). A stage that is already up to date is skipped, so a retry or a second
trigger with the same params resumes where the run stopped. Failures the user
must fix (a bad config, unusable input, a policy verdict of FAIL) fail the
task at once; anything else is retried with exponential backoff.

The pipeline is imported inside the tasks, so the scheduler parses this file
without loading torch or spaCy.

Trigger with params, for example:
`{"config": "/srv/pipeline/config.yaml", "run_dir": "/shared/runs/tickets-2026-11", "redact_parts": 8}`.
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
    @task(task_id=name, **RETRIES)
    def run_stage() -> dict[str, Any]:
        from pipeline.stage import run_named_stage

        return _fail_fast_on_user_errors(lambda config, run_dir: run_named_stage(name, config, run_dir))

    return run_stage()


@task(task_id="redact_plan", **RETRIES)
def redact_plan() -> list[list[int]]:
    """The redact stage's shards in groups, one per mapped `redact_shards` task."""
    from pipeline.stage import stage_context
    from pipeline.stages.redact import plan_parts

    parts = get_current_context()["params"]["redact_parts"]
    return _fail_fast_on_user_errors(
        lambda config, run_dir: plan_parts(stage_context("redact", config, run_dir), parts)
    )


@task(task_id="redact_shards", **RETRIES)
def redact_shards(shards: list[int]) -> dict[str, int]:
    """Redact one group of shards; the `redact` task merges them in order (counts only in XCom)."""
    from pipeline.stage import stage_context
    from pipeline.stages.redact import redact_part

    return _fail_fast_on_user_errors(
        lambda config, run_dir: redact_part(stage_context("redact", config, run_dir), shards)
    )


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
        "redact_parts": Param(
            0,
            type="integer",
            minimum=0,
            description="mapped redact_shards tasks (0: redact.workers, else the worker's cores)",
        ),
    },
    tags=["data-curation", "privacy"],
    doc_md=__doc__,
)
def curation_pipeline() -> None:
    stages = [stage_task(name) for name in STAGES]
    plan = redact_plan()
    chain(stages[0], plan)
    chain(redact_shards.expand(shards=plan), *stages[1:])


curation_pipeline()
